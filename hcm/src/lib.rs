//! What Envoy's HTTP connection manager does to a client's HTTP/1.1 request
//! before any HTTP filter sees it: the header map the filter receives, or
//! the local reply Envoy sends instead.
//!
//! One emulation, used by the local proxy-wasm host (so `egressc simulate`
//! and `egressc test` run the real `.wasm` on what Envoy would hand it) and
//! by `egressc explain` (so it decides on the same request). Pure code, no
//! I/O; builds for every target.
//!
//! Sources: the HTTP/1 codec (names must be tokens, values free of NUL, CR
//! and LF, else 400 `http1.codec_error`; `allow_absolute_url`), Envoy's
//! request header map (`host` is `:authority`, a second value of an inline
//! header is appended with `,`), `ConnectionManagerImpl::ActiveStream::
//! decodeHeaders` (404 `absolute_path`, 400 `missing_host_header`), then
//! path normalisation ([`normalize`]). The rules in full: `host/README.md`,
//! "Before the filter".

pub mod normalize;

pub use normalize::{
    PATH_NORMALIZATION_FAILED, PathNormalization, Rejection, UnknownNormalization, check_method,
    is_tchar, normalize_path,
};

/// A header list: (name, value) pairs in order, names as given.
pub type Headers = Vec<(Vec<u8>, Vec<u8>)>;

/// What a client sends: an HTTP/1.1 request line and headers.
#[derive(Debug, Clone, Copy)]
pub struct ClientRequest<'a> {
    /// The method, exactly as sent.
    pub method: &'a [u8],
    /// `http` or `https`: what Envoy puts in `:scheme`.
    pub scheme: &'a [u8],
    /// The `Host` header value, if the client sent one (before `headers`).
    pub authority: Option<&'a [u8]>,
    /// The request target as sent (origin or absolute form; empty for CONNECT).
    pub path: &'a [u8],
    /// The other headers, in order (a `Host` among them joins the authority).
    pub headers: &'a [(Vec<u8>, Vec<u8>)],
    /// The length of the body, if the request has one (for `content-length`).
    pub body_len: Option<usize>,
}

/// The request as the filter chain receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The header map: pseudo-headers first, then the client's headers.
    pub headers: Headers,
    /// The destination port implied by the authority or the scheme.
    pub port: u16,
}

/// 400 `http1.codec_error`.
pub const CODEC_ERROR: Rejection = Rejection {
    status: 400,
    details: "http1.codec_error",
};

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

/// Splits an absolute-form target (`http://h/p`) into authority and path.
fn absolute_form(path: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    for scheme in [&b"http://"[..], b"https://"] {
        if path
            .get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        {
            let rest = path.get(scheme.len()..).unwrap_or_default();
            let slash = rest
                .iter()
                .position(|c| *c == b'/' || *c == b'?')
                .unwrap_or(rest.len());
            let (host, tail) = rest.split_at(slash);
            let mut p = Vec::with_capacity(tail.len() + 1);
            if tail.first() != Some(&b'/') {
                p.push(b'/');
            }
            p.extend_from_slice(tail);
            return Some((host.to_vec(), p));
        }
    }
    None
}

/// Applies the connection manager's checks and normalisation to a client's
/// request: the header map the first HTTP filter receives, or the local
/// reply Envoy sends instead.
pub fn prepare(req: &ClientRequest<'_>, mode: PathNormalization) -> Result<Prepared, Rejection> {
    check_method(req.method)?;
    let connect = req.method == b"CONNECT";
    let mut authority: Option<Vec<u8>> = req.authority.map(|a| trim_ows(a).to_vec());
    if authority.as_deref().is_some_and(|a| !valid_value(a)) {
        return Err(CODEC_ERROR);
    }
    let mut regular: Headers = Vec::with_capacity(req.headers.len());
    for (k, v) in req.headers {
        if k.is_empty() || !k.iter().all(|c| is_tchar(*c)) || !valid_value(v) {
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
    let mut path = req.path.to_vec();
    if !connect {
        if let Some((host, p)) = absolute_form(&path) {
            authority = Some(host);
            path = p;
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
        headers.push((b":path".to_vec(), normalize_path(&path, mode)?));
    }
    headers.push((b":method".to_vec(), req.method.to_vec()));
    if !connect {
        headers.push((b":scheme".to_vec(), req.scheme.to_ascii_lowercase()));
    }
    let has_length = regular
        .iter()
        .any(|(k, _)| k == b"content-length" || k == b"transfer-encoding");
    for (k, v) in regular {
        header_add(&mut headers, k, &v);
    }
    if let Some(n) = req.body_len
        && !has_length
    {
        headers.push((b"content-length".to_vec(), n.to_string().into_bytes()));
    }
    Ok(Prepared { headers, port })
}

/// Request and response headers Envoy keeps as "inline" (O(1)) entries: a
/// second value added for one of them is appended with "," instead of
/// becoming a new entry (`HeaderMapImpl::insertByKey`).
pub fn is_inline(key: &[u8]) -> bool {
    key.first() == Some(&b':')
        || key.starts_with(b"x-envoy-")
        || matches!(
            key,
            b"content-type"
                | b"content-length"
                | b"user-agent"
                | b"x-forwarded-for"
                | b"x-forwarded-proto"
                | b"x-forwarded-host"
                | b"x-forwarded-client-cert"
                | b"x-request-id"
                | b"x-client-trace-id"
                | b"connection"
                | b"transfer-encoding"
                | b"te"
                | b"upgrade"
                | b"via"
                | b"expect"
                | b"keep-alive"
                | b"proxy-connection"
                | b"proxy-status"
                | b"grpc-timeout"
                | b"date"
                | b"server"
                | b"location"
        )
}

/// `addCopy`: append (or coalesce into an inline header, where Envoy's
/// `appendToHeader` adds "," + value, and nothing for an empty value);
/// pseudo-headers stay in front.
pub fn header_add(h: &mut Headers, key: Vec<u8>, value: &[u8]) {
    if is_inline(&key)
        && let Some((_, v)) = h.iter_mut().find(|(k, _)| *k == key)
    {
        if !value.is_empty() {
            if !v.is_empty() {
                v.push(b',');
            }
            v.extend_from_slice(value);
        }
        return;
    }
    if key.first() == Some(&b':') {
        let at = h
            .iter()
            .position(|(k, _)| k.first() != Some(&b':'))
            .unwrap_or(h.len());
        h.insert(at, (key, value.to_vec()));
    } else {
        h.push((key, value.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        reason = "test code: a failed unwrap is a failed test"
    )]
    use super::*;

    fn req<'a>(
        method: &'a str,
        authority: Option<&'a str>,
        path: &'a str,
        headers: &'a [(Vec<u8>, Vec<u8>)],
    ) -> ClientRequest<'a> {
        ClientRequest {
            method: method.as_bytes(),
            scheme: b"http",
            authority: authority.map(str::as_bytes),
            path: path.as_bytes(),
            headers,
            body_len: None,
        }
    }

    fn get(h: &Headers, k: &str) -> Option<String> {
        h.iter()
            .find(|(n, _)| n == k.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    fn hdr(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn host_becomes_authority() {
        let h = [hdr("Host", "b.com"), hdr("X-A", " 1 ")];
        let p = prepare(
            &req("GET", Some("a.com"), "/x", &h),
            PathNormalization::Base,
        )
        .unwrap();
        assert_eq!(
            get(&p.headers, ":authority").as_deref(),
            Some("a.com,b.com")
        );
        assert_eq!(get(&p.headers, "host"), None);
        assert_eq!(get(&p.headers, "x-a").as_deref(), Some("1"));
        let h = [hdr("host", "c.com:8080")];
        let p = prepare(&req("GET", None, "/", &h), PathNormalization::Base).unwrap();
        assert_eq!(get(&p.headers, ":authority").as_deref(), Some("c.com:8080"));
        assert_eq!(p.port, 8080);
    }

    #[test]
    fn rejections() {
        let r = |m, a, p, h: &[(Vec<u8>, Vec<u8>)]| {
            prepare(&req(m, a, p, h), PathNormalization::Base)
                .err()
                .map(|r| r.status)
        };
        assert_eq!(r("get", Some("a"), "/", &[]), Some(400));
        assert_eq!(r("GET", Some("a"), "/a%00", &[]), Some(400));
        assert_eq!(r("GET", Some("a"), "x", &[]), Some(404));
        assert_eq!(r("GET", None, "/", &[]), Some(400));
        assert_eq!(r("GET", Some("a"), "/", &[hdr("x", "a\nb")]), Some(400));
        assert_eq!(r("GET", Some("a"), "/", &[hdr("bad name", "v")]), Some(400));
        assert_eq!(r("CONNECT", Some("a:443"), "", &[]), None);
    }

    #[test]
    fn absolute_form_sets_authority_and_path() {
        let p = prepare(
            &req("GET", Some("ignored"), "http://h.com:81/p?q", &[]),
            PathNormalization::Base,
        )
        .unwrap();
        assert_eq!(get(&p.headers, ":authority").as_deref(), Some("h.com:81"));
        assert_eq!(get(&p.headers, ":path").as_deref(), Some("/p?q"));
    }

    #[test]
    fn paths_are_normalised_and_connect_has_none() {
        let p = prepare(
            &req("GET", Some("a"), "/anything/../get", &[]),
            PathNormalization::Base,
        )
        .unwrap();
        assert_eq!(get(&p.headers, ":path").as_deref(), Some("/get"));
        let p = prepare(
            &req("CONNECT", Some("a:443"), "", &[]),
            PathNormalization::Base,
        )
        .unwrap();
        assert_eq!(get(&p.headers, ":path"), None);
        assert_eq!(get(&p.headers, ":scheme"), None);
    }

    #[test]
    fn inline_headers_coalesce() {
        let mut h: Headers = vec![hdr(":authority", "a"), hdr("x", "1")];
        header_add(&mut h, b"user-agent".to_vec(), b"u1");
        header_add(&mut h, b"user-agent".to_vec(), b"u2");
        header_add(&mut h, b"user-agent".to_vec(), b"");
        header_add(&mut h, b"x".to_vec(), b"2");
        header_add(&mut h, b":path".to_vec(), b"/");
        let names: Vec<&[u8]> = h.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(
            names,
            [&b":authority"[..], b":path", b"x", b"user-agent", b"x"]
        );
        assert_eq!(get(&h, "user-agent").as_deref(), Some("u1,u2"));
    }
}
