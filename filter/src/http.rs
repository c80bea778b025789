//! The HTTP filter: one decision per request, in `on_http_request_headers`.

use std::rc::Rc;

use egress_table::request::Reason;
use egress_table::{Decision, proxy, record};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use crate::audit::Fields;
use crate::pairs::{self, Pairs};
use crate::{Loaded, abi};

pub(crate) struct HttpFilter {
    loaded: Option<Rc<Loaded>>,
}

impl HttpFilter {
    pub(crate) fn new(loaded: Option<Rc<Loaded>>) -> Self {
        Self { loaded }
    }
}

impl Context for HttpFilter {}

impl HttpContext for HttpFilter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(loaded) = self.loaded.clone() else {
            deny_response("-", "", Reason::Unconfigured.as_str());
            return Action::Pause;
        };
        let buf = abi::request_header_pairs();
        let pairs = buf.as_ref().ok().and_then(|b| Pairs::parse(b.as_slice()));
        let Some(pairs) = pairs else {
            let d = loaded.table.reject(Reason::HeadersUnavailable);
            crate::report(&loaded, &d, &Fields::refused("http"));
            return respond(&loaded, &d);
        };
        proxy::decide_http(
            &loaded.table,
            &pairs,
            &crate::Attributes,
            &loaded.options,
            &mut (),
            |d, _| {
                crate::report(&loaded, &d.decision, &Fields::of(d));
                respond(&loaded, &d.decision)
            },
        )
    }
}

/// Lets an allowed request through; answers a denied one with 403.
fn respond(loaded: &Loaded, d: &Decision) -> Action {
    if d.allowed() {
        return Action::Continue;
    }
    let (policy, rule, reason) = record::describe(&loaded.table, &d.enforced);
    let mut id = [0u8; egress_table::RULE_ID_MAX_LEN];
    deny_response(policy, rule.as_str_in(&mut id), reason);
    Action::Pause
}

/// Answers with 403 `RBAC: access denied`, response-code details naming the
/// policy and rule, and `x-egress-policy` / `x-egress-reason` headers.
fn deny_response(policy: &str, rule: &str, reason: &str) {
    let policy = if policy.is_empty() { "-" } else { policy };
    let rule = if rule.is_empty() { "-" } else { rule };
    crate::DENY_BUF.with(|cell| {
        let Ok(mut bufs) = cell.try_borrow_mut() else {
            return;
        };
        let (details, headers) = &mut *bufs;
        details.clear();
        for part in [
            "egress_access_denied[policy=",
            policy,
            ",rule=",
            rule,
            ",reason=",
            reason,
            "]",
        ] {
            details.extend_from_slice(part.as_bytes());
        }
        pairs::serialize(
            &[
                (b"x-egress-policy", policy.as_bytes()),
                (b"x-egress-reason", reason.as_bytes()),
            ],
            headers,
        );
        if let Err(s) = abi::send_local_response(403, details, b"RBAC: access denied", headers) {
            let msg = format!(
                "egress: could not send the 403 response (status {}); the request stays paused",
                s.0
            );
            abi::log(abi::LOG_ERROR, msg.as_bytes());
        }
    });
}
