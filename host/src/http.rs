//! The HTTP connection manager before any filter: turns a client's
//! HTTP/1.1 request into the header map Envoy hands to its filters (through
//! `egress_hcm`, which `egressc explain` shares), or into Envoy's own local
//! reply. Sources: the HTTP/1 codec (its method list unless
//! `allow_custom_methods`, 431 past `max_request_headers_kb` or
//! `max_headers_count`, names must be tokens, values free of NUL, CR and
//! LF, else 400 `http1.codec_error`; `allow_absolute_url`), Envoy's request header map (`host` is
//! `:authority`, a second value of an inline header is appended with `,`),
//! `ConnectionManagerImpl::ActiveStream::decodeHeaders` (404
//! `absolute_path`, 400 `missing_host_header`), then [`crate::normalize`].
//! The rules in full: `host/README.md`, "Before the filter".

use egress_hcm::{ClientRequest, Rejection, Settings};

use crate::header_map::header_add;
use crate::types::{Headers, HttpRequest, LocalResponse};

/// The request as the filter chain receives it.
pub(crate) use egress_hcm::Prepared;

/// Applies the connection manager's checks and normalisation
/// ([`egress_hcm::prepare`]) to a test's request.
pub(crate) fn prepare(
    req: &HttpRequest,
    settings: impl Into<Settings>,
) -> Result<Prepared, Rejection> {
    egress_hcm::prepare(
        &ClientRequest {
            method: &req.method,
            scheme: &req.scheme,
            authority: req.authority.as_deref(),
            path: &req.path,
            headers: &req.headers,
            body_len: req.body.as_ref().map(Vec::len),
        },
        settings,
    )
}

/// The response headers of a local reply as filters see them: `:status`,
/// the filter's extra headers, then `content-length` and (for a non-empty
/// body without one) `content-type: text/plain` (`Utility::sendLocalReply`).
pub(crate) fn local_reply_headers(status: u32, extra: &Headers, body: &[u8]) -> Headers {
    let mut h: Headers = vec![(b":status".to_vec(), status.to_string().into_bytes())];
    for (k, v) in extra {
        header_add(&mut h, k.clone(), v);
    }
    if !body.is_empty() {
        h.push((
            b"content-length".to_vec(),
            body.len().to_string().into_bytes(),
        ));
        if !h.iter().any(|(k, _)| k == b"content-type") {
            h.push((b"content-type".to_vec(), b"text/plain".to_vec()));
        }
    }
    h
}

/// A local reply the connection manager itself sends.
pub(crate) fn proxy_reply(status: u16, body: &[u8]) -> LocalResponse {
    LocalResponse {
        status: u32::from(status),
        details: Vec::new(),
        body: body.to_vec(),
        headers: Vec::new(),
        grpc_status: -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egress_hcm::PathNormalization;

    fn get(h: &Headers, k: &str) -> Option<String> {
        h.iter()
            .find(|(n, _)| n == k.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    #[test]
    fn host_becomes_authority() {
        let p = prepare(
            &HttpRequest::new("GET", "a.com", "/x")
                .header("Host", "b.com")
                .header("X-A", " 1 "),
            PathNormalization::Base,
        )
        .unwrap();
        assert_eq!(
            get(&p.headers, ":authority").as_deref(),
            Some("a.com,b.com")
        );
        assert_eq!(get(&p.headers, "host"), None);
        assert_eq!(get(&p.headers, "x-a").as_deref(), Some("1"));
        let p = prepare(
            &HttpRequest::new("GET", "", "/")
                .without_authority()
                .header("host", "c.com:8080"),
            PathNormalization::Base,
        )
        .unwrap();
        assert_eq!(get(&p.headers, ":authority").as_deref(), Some("c.com:8080"));
        assert_eq!(p.port, 8080);
    }

    #[test]
    fn rejections() {
        let r = |req: HttpRequest| {
            prepare(&req, PathNormalization::Base)
                .err()
                .map(|r| r.status)
        };
        assert_eq!(r(HttpRequest::new("get", "a", "/")), Some(400));
        assert_eq!(r(HttpRequest::new("GET", "a", "/a%00")), Some(400));
        assert_eq!(r(HttpRequest::new("GET", "a", "x")), Some(404));
        assert_eq!(
            r(HttpRequest::new("GET", "a", "/").without_authority()),
            Some(400)
        );
        assert_eq!(
            r(HttpRequest::new("GET", "a", "/").header("x", "a\nb")),
            Some(400)
        );
        assert_eq!(
            r(HttpRequest::new("GET", "a", "/").header("bad name", "v")),
            Some(400)
        );
        assert_eq!(r(HttpRequest::new("CONNECT", "a:443", "")), None);
    }

    #[test]
    fn absolute_form() {
        let p = prepare(
            &HttpRequest::new("GET", "ignored", "http://h.com:81/p?q"),
            PathNormalization::Base,
        )
        .unwrap();
        assert_eq!(get(&p.headers, ":authority").as_deref(), Some("h.com:81"));
        assert_eq!(get(&p.headers, ":path").as_deref(), Some("/p?q"));
    }
}
