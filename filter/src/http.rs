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

/// The pseudo-headers and host values of one request.
#[derive(Default)]
struct Scan<'a> {
    authority: Option<&'a [u8]>,
    authority_conflict: bool,
    path: Option<&'a [u8]>,
    method: Option<&'a [u8]>,
    https: bool,
}

fn same_authority(a: &[u8], b: &[u8]) -> bool {
    match (request::parse_authority(a), request::parse_authority(b)) {
        (Ok((ha, pa)), Ok((hb, pb))) => ha.as_bytes() == hb.as_bytes() && pa == pb,
        _ => false,
    }
}

fn scan<'a>(pairs: &Pairs<'a>) -> Scan<'a> {
    let mut s = Scan::default();
    for (k, v) in pairs.iter() {
        if k == b":authority" || k.eq_ignore_ascii_case(b"host") {
            match s.authority {
                None => s.authority = Some(v),
                // A second value is only harmless if it names the same host and port.
                Some(first) => s.authority_conflict |= !same_authority(first, v),
            }
        } else if k == b":path" {
            s.path.get_or_insert(v);
        } else if k == b":method" {
            s.method.get_or_insert(v);
        } else if k == b":scheme" {
            s.https = v.eq_ignore_ascii_case(b"https");
        }
    }
    s
}

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
        let s = scan(&pairs);
        let method_raw = s.method.unwrap_or(b"");
        let raw_path = s.path.unwrap_or(b"");
        let path = request::strip_query(raw_path);
        let mut fields = Fields {
            protocol: "http",
            method: method_raw,
            path,
            ..Fields::default()
        };

        // The authority: from the headers, else the `request.host` attribute.
        let fallback;
        let authority = match s.authority {
            Some(a) => a,
            None => {
                fallback = abi::property(b"request\0host").ok().flatten();
                fallback.as_ref().map_or(&[][..], |b| b.as_slice())
            }
        };
        fields.host = authority;
        if s.authority_conflict {
            return finish(
                &loaded,
                loaded.table.reject(Reason::DuplicateAuthority),
                &fields,
            );
        }
        // Ask the proxy for the connection's port only when the authority names none.
        let after_host = authority.rsplit(|&b| b == b']').next().unwrap_or(authority);
        let dest_port = if after_host.contains(&b':') {
            None
        } else {
            crate::int_property(b"destination\0port").and_then(|p| u16::try_from(p).ok())
        };
        let parts = request::HttpParts {
            authority,
            method: method_raw,
            path: s.path,
            https: s.https,
            destination_port: dest_port,
        };
        let n = match request::normalize_http(&parts) {
            Ok(n) => n,
            Err(reason) => {
                // For the log line only: the port as far as it can be told.
                let in_authority = request::parse_authority(authority)
                    .ok()
                    .and_then(|(_, p)| p);
                fields.port = in_authority
                    .or(dest_port)
                    .unwrap_or(if s.https { 443 } else { 80 });
                return finish(&loaded, loaded.table.reject(reason), &fields);
            }
        };
        fields.host = n.host.as_bytes();
        fields.port = n.port;

        let principal_buf = crate::principal_for_rules(&loaded.table);
        let principal = principal_buf
            .as_ref()
            .map(|b| request::normalize_principal(b.as_slice()));
        let sni_buf = if loaded.table.uses_sni_host_match() {
            abi::property(b"connection\0requested_server_name")
                .ok()
                .flatten()
        } else {
            None
        };
        let sni = sni_buf
            .as_ref()
            .filter(|b| !b.as_slice().is_empty())
            .map(|b| request::normalize_host(b.as_slice()));
        let sni = match sni {
            Some(None) => return finish(&loaded, loaded.table.reject(Reason::InvalidSni), &fields),
            Some(Some(h)) => Some(h),
            None => None,
        };
        let req = Request {
            kind: Kind::Http,
            host: n.host.as_bytes(),
            port: n.port,
            method: n.method,
            path: n.path,
            principal,
            sni: sni.as_ref().map(|h| h.as_bytes()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_of(list: &[(&[u8], &[u8])]) -> (bool, Option<Vec<u8>>) {
        let mut buf = Vec::new();
        pairs::serialize(list, &mut buf);
        Pairs::parse(&buf).map_or((true, None), |p| {
            let s = scan(&p);
            (s.authority_conflict, s.authority.map(<[u8]>::to_vec))
        })
    }

    #[test]
    fn several_authorities_must_agree() {
        // Proxies that hand over HTTP/2 maps may carry `:authority` and `host` both.
        let (conflict, _) = scan_of(&[
            (b":authority", b"api.example.com"),
            (b"host", b"evil.example.com"),
            (b":path", b"/x"),
        ]);
        assert!(conflict);
        let (conflict, _) = scan_of(&[
            (b":authority", b"api.example.com"),
            (b"host", b"API.example.com.:80"),
            (b":authority", b"api.example.com"),
        ]);
        assert!(conflict, "the port differs (80 vs none)");
        let (conflict, authority) = scan_of(&[
            (b":authority", b"api.example.com"),
            (b"Host", b"API.example.com."),
        ]);
        assert!(!conflict);
        assert_eq!(authority.as_deref(), Some(&b"api.example.com"[..]));
    }
}
