//! The HTTP filter: one decision per request, in `on_http_request_headers`.

use std::rc::Rc;

use egress_table::request::{self, Reason};
use egress_table::{Decision, Kind, Request};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use crate::audit::{self, Fields};
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
            return finish(
                &loaded,
                loaded.table.reject(Reason::HeadersUnavailable),
                &Fields {
                    protocol: "http",
                    ..Fields::default()
                },
            );
        };
        let mut view = request::scan_headers(pairs.iter());
        // The authority: from the headers, else the `request.host` attribute.
        let fallback;
        if view.authority.is_none() {
            fallback = abi::property(b"request\0host").ok().flatten();
            view.authority = fallback.as_ref().map(|b| b.as_slice());
        }
        let mut fields = Fields {
            protocol: "http",
            method: view.method.unwrap_or(b""),
            path: request::strip_query(view.path.unwrap_or(b"")),
            host: view.authority.unwrap_or(b""),
            ..Fields::default()
        };
        // The port the request goes to is the connection's (see `normalize_http`).
        let connection_port =
            crate::int_property(b"destination\0port").and_then(|p| u16::try_from(p).ok());
        let n = match request::normalize_http(&view, connection_port) {
            Ok(n) => n,
            Err(reason) => {
                fields.port = view.port_hint(connection_port);
                return finish(&loaded, loaded.table.reject(reason), &fields);
            }
        };
        fields.host = n.host.as_bytes();
        fields.port = n.port;

        let principal_buf = crate::principal_for_rules(&loaded.table);
        let principal = principal_buf
            .as_ref()
            .map(|b| request::normalize_principal(b.as_slice()));
        // The SNI matters only to a pool that requires it to agree with Host;
        // whether an invalid SNI is refused is that pool's decision.
        let sni_buf = if loaded.table.uses_sni_host_match() {
            abi::property(b"connection\0requested_server_name")
                .ok()
                .flatten()
        } else {
            None
        };
        let sni = request::SniState::from_raw(sni_buf.as_ref().map(|b| b.as_slice()));
        let req = Request {
            kind: Kind::Http,
            host: n.host.as_bytes(),
            port: n.port,
            method: n.method,
            path: n.path,
            principal,
            sni: sni.as_sni(),
            dst_ip: None,
            headers: &pairs,
        };
        let d = loaded.table.decide(&req);
        fields.principal = principal;
        finish(&loaded, d, &fields)
    }
}

fn finish(loaded: &Loaded, d: Decision, fields: &Fields<'_>) -> Action {
    crate::report(loaded, &d, fields);
    if d.allowed() {
        return Action::Continue;
    }
    let (policy, rule, reason) = audit::describe(&loaded.table, &d.enforced);
    deny_response(policy, rule, reason);
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
