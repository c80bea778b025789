//! The HTTP connection manager before any filter: turns a client's
//! HTTP/1.1 request into the header map Envoy hands to its filters, or into
//! Envoy's own local reply. Sources: the HTTP/1 codec (names must be
//! tokens, values free of NUL, CR and LF, else 400 `http1.codec_error`;
//! `allow_absolute_url`), Envoy's request header map (`host` is
//! `:authority`, a second value of an inline header is appended with `,`),
//! `ConnectionManagerImpl::ActiveStream::decodeHeaders` (404
//! `absolute_path`, 400 `missing_host_header`), then [`crate::normalize`].
//! The rules in full: `host/README.md`, "Before the filter".

use crate::header_map::header_add;
use crate::normalize::{self, PathNormalization, Rejection};
use crate::types::{Headers, HttpRequest, LocalResponse};

const CODEC_ERROR: Rejection = Rejection {
    status: 400,
    details: "http1.codec_error",
};

/// The request as the filter chain receives it.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) headers: Headers,
    /// The destination port implied by the authority or the scheme.
    pub(crate) port: u16,
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|c| *c != b' ' && *c != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|c| *c != b' ' && *c != b'\t')
        .map_or(start, |e| e + 1);
    v.get(start..end.max(start)).unwrap_or_default()
}

fn valid_value(v: &[u8]) -> bool {
    !v.iter().any(|c| matches!(c, 0 | b'\r' | b'\n'))
}

fn port_of(authority: &[u8]) -> Option<u16> {
    let colon = authority.iter().rposition(|c| *c == b':')?;
    if authority.get(colon..).is_some_and(|r| r.contains(&b']')) {
        return None;
    }
    std::str::from_utf8(authority.get(colon + 1..)?)
        .ok()?
        .parse()
        .ok()
}

/// Applies the connection manager's checks and normalization.
pub(crate) fn prepare(req: &HttpRequest, mode: PathNormalization) -> Result<Prepared, Rejection> {
    normalize::check_method(&req.method)?;
    let connect = req.method == b"CONNECT";
    let mut authority: Option<Vec<u8>> = req.authority.as_deref().map(|a| trim_ows(a).to_vec());
    if authority.as_deref().is_some_and(|a| !valid_value(a)) {
        return Err(CODEC_ERROR);
    }
    let mut regular: Headers = Vec::with_capacity(req.headers.len());
    for (k, v) in &req.headers {
        if k.is_empty() || !k.iter().all(|c| normalize::is_tchar(*c)) || !valid_value(v) {
            return Err(CODEC_ERROR);
        }
        let v = trim_ows(v);
        if k.eq_ignore_ascii_case(b"host") {
            match &mut authority {
                None => authority = Some(v.to_vec()),
                Some(a) => {
                    a.push(b',');
                    a.extend_from_slice(v);
                }
            }
        } else {
            regular.push((k.to_ascii_lowercase(), v.to_vec()));
        }
    }
    let mut path = req.path.clone();
    if !connect {
        for scheme in [&b"http://"[..], b"https://"] {
            if path.len() >= scheme.len()
                && path
                    .get(..scheme.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
            {
                let rest = path.get(scheme.len()..).unwrap_or_default().to_vec();
                let slash = rest
                    .iter()
                    .position(|c| *c == b'/' || *c == b'?')
                    .unwrap_or(rest.len());
                let (host, tail) = rest.split_at(slash);
                authority = Some(host.to_vec());
                path = if tail.first() == Some(&b'/') {
                    tail.to_vec()
                } else {
                    let mut p = b"/".to_vec();
                    p.extend_from_slice(tail);
                    p
                };
                break;
            }
        }
        if path.is_empty() || !valid_value(&path) || path.contains(&b' ') {
            return Err(CODEC_ERROR);
        }
        if path.first() != Some(&b'/') {
            return Err(Rejection {
                status: 404,
                details: "absolute_path",
            });
        }
    }
    let Some(authority) = authority.filter(|a| !a.is_empty() || !connect) else {
        return Err(Rejection {
            status: 400,
            details: "missing_host_header",
        });
    };
    let default_port = if req.scheme.eq_ignore_ascii_case(b"https") {
        443
    } else {
        80
    };
    let port = port_of(&authority).unwrap_or(default_port);
    let mut headers: Headers = Vec::with_capacity(regular.len() + 5);
    headers.push((b":authority".to_vec(), authority));
    if !connect {
        headers.push((b":path".to_vec(), normalize::normalize_path(&path, mode)?));
    }
    headers.push((b":method".to_vec(), req.method.clone()));
    if !connect {
        headers.push((b":scheme".to_vec(), req.scheme.to_ascii_lowercase()));
    }
    let has_length = regular
        .iter()
        .any(|(k, _)| k == b"content-length" || k == b"transfer-encoding");
    for (k, v) in regular {
        header_add(&mut headers, k, &v);
    }
    if let Some(b) = &req.body
        && !has_length
    {
        headers.push((b"content-length".to_vec(), b.len().to_string().into_bytes()));
    }
    Ok(Prepared { headers, port })
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
