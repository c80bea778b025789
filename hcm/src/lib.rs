//! What Envoy's HTTP connection manager does to a client's HTTP/1.1 request
//! before any HTTP filter sees it: the header map the filter receives, or
//! the local reply Envoy sends instead.
//!
//! One emulation, used by the local proxy-wasm host (so `egressc simulate`
//! and `egressc test` run the real `.wasm` on what Envoy would hand it) and
//! by `egressc explain` (so it decides on the same request). Pure code, no
//! I/O; builds for every target.
//!
//! Sources: the HTTP/1 codec ([`codec`]: the method list, unless
//! `allow_custom_methods`; 431 past `max_request_headers_kb` or
//! `max_headers_count`; names must be tokens, values free of NUL, CR and LF,
//! else 400 `http1.codec_error`; `allow_absolute_url`), Envoy's request
//! header map (`host` is `:authority`, a second value of an inline header is
//! appended with `,`), `ConnectionManagerImpl::ActiveStream::decodeHeaders`
//! (404 `absolute_path`, 400 `missing_host_header`), then path
//! normalisation ([`normalize`]). The settings that change the outcome are
//! [`Settings`]. The rules in full: `host/README.md`, "Before the filter".

pub mod codec;
pub mod normalize;

pub use codec::{
    CODEC_ERROR, DEFAULT_MAX_HEADERS_COUNT, DEFAULT_MAX_REQUEST_HEADERS_KB, HEADERS_TOO_LARGE,
    KNOWN_METHODS, MAX_REQUEST_HEADERS_KB_LIMIT, TOO_MANY_HEADERS, check_method,
};
pub use normalize::{
    PATH_NORMALIZATION_FAILED, PathNormalization, Rejection, UnknownNormalization, is_tchar,
    normalize_path,
};

/// The Envoy settings the emulation follows, with Envoy's (and Istio's)
/// defaults. A [`PathNormalization`] converts into the defaults with that
/// normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Settings {
    /// Istio's `meshConfig.pathNormalization` (default BASE).
    pub path_normalization: PathNormalization,
    /// `Http1ProtocolOptions.allow_custom_methods` (default false: only
    /// [`KNOWN_METHODS`]; true: any token, as HTTP/2 clients get).
    pub allow_custom_methods: bool,
    /// `HttpConnectionManager.max_request_headers_kb` (default 60; 1 to
    /// 8192).
    pub max_request_headers_kb: u32,
    /// `HttpProtocolOptions.max_headers_count` (default 100; at least 1).
    pub max_headers_count: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            path_normalization: PathNormalization::Base,
            allow_custom_methods: false,
            max_request_headers_kb: DEFAULT_MAX_REQUEST_HEADERS_KB,
            max_headers_count: DEFAULT_MAX_HEADERS_COUNT,
        }
    }
}

impl From<PathNormalization> for Settings {
    fn from(path_normalization: PathNormalization) -> Self {
        Self {
            path_normalization,
            ..Self::default()
        }
    }
}

impl Settings {
    /// The head size limit in bytes (`max_request_headers_kb` × 1024).
    pub fn max_request_header_bytes(&self) -> usize {
        usize::try_from(self.max_request_headers_kb)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024)
    }

    /// Refuses what Envoy's configuration validation refuses: a
    /// `max_request_headers_kb` outside 1..=8192, a `max_headers_count` of 0.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_REQUEST_HEADERS_KB_LIMIT).contains(&self.max_request_headers_kb) {
            return Err(format!(
                "max_request_headers_kb is {}: Envoy accepts 1 to {MAX_REQUEST_HEADERS_KB_LIMIT} (KiB; default {DEFAULT_MAX_REQUEST_HEADERS_KB})",
                self.max_request_headers_kb
            ));
        }
        if self.max_headers_count == 0 {
            return Err(format!(
                "max_headers_count is 0: Envoy needs at least 1 (default {DEFAULT_MAX_HEADERS_COUNT})"
            ));
        }
        Ok(())
    }
}

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
/// reply Envoy sends instead. `settings` is a [`Settings`] or just a
/// [`PathNormalization`] (Envoy's defaults for the rest).
///
/// The checks run in the codec's order ([`codec`]): the method's first
/// byte, the request line's size (431), the method and the target (400),
/// the head's size (431), each header's name (400), the header count (431)
/// and each value (400); then the connection manager's (404
/// `absolute_path`, 400 `missing_host_header`) and path normalisation.
pub fn prepare(
    req: &ClientRequest<'_>,
    settings: impl Into<Settings>,
) -> Result<Prepared, Rejection> {
    let settings = settings.into();
    let limit = settings.max_request_header_bytes();
    let connect = req.method == b"CONNECT";
    codec::check_method_start(req.method, settings.allow_custom_methods)?;
    if codec::request_line_len(req) > limit {
        return Err(HEADERS_TOO_LARGE);
    }
    check_method(req.method, settings.allow_custom_methods)?;
    if !connect && !codec::valid_target(req.path) {
        return Err(CODEC_ERROR);
    }
    if codec::head_len(req) > limit {
        return Err(HEADERS_TOO_LARGE);
    }
    codec::check_header_lines(req, settings.max_headers_count)?;
    let mut authority: Option<Vec<u8>> = req.authority.map(|a| trim_ows(a).to_vec());
    let mut regular: Headers = Vec::with_capacity(req.headers.len());
    for (k, v) in req.headers {
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
        headers.push((
            b":path".to_vec(),
            normalize_path(&path, settings.path_normalization)?,
        ));
    }
    headers.push((b":method".to_vec(), req.method.to_vec()));
    if !connect {
        headers.push((b":scheme".to_vec(), req.scheme.to_ascii_lowercase()));
    }
    for (k, v) in regular {
        header_add(&mut headers, k, &v);
    }
    if let Some(n) = codec::implied_content_length(req) {
        headers.push((b"content-length".to_vec(), n));
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
        // The parser's URL check: visible ASCII only (and tab, form feed).
        assert_eq!(r("GET", Some("a"), "/a b", &[]), Some(400));
        assert_eq!(r("GET", Some("a"), "/caf\u{e9}", &[]), Some(400));
        assert_eq!(r("GET", Some("a"), "/a\u{7f}", &[]), Some(400));
        assert_eq!(r("GET", Some("a"), "/a\u{1}", &[]), Some(400));
        assert_eq!(r("GET", Some("a"), "/a\u{c}b", &[]), None);
        assert_eq!(r("GET", Some("a"), "/<\"{|}>^`", &[]), None);
    }

    #[test]
    fn unknown_methods_are_a_codec_error_unless_allowed() {
        let custom = Settings {
            allow_custom_methods: true,
            ..Settings::default()
        };
        for m in ["BREW", "LIST", "QUERY", "M-SEARCH", "get", "Purge"] {
            let r = req(m, Some("a"), "/", &[]);
            assert_eq!(
                prepare(&r, Settings::default()).err(),
                Some(CODEC_ERROR),
                "{m}"
            );
            let p = prepare(&r, custom).unwrap();
            assert_eq!(get(&p.headers, ":method").as_deref(), Some(m), "{m}");
        }
        for m in KNOWN_METHODS {
            let r = req(m, Some("a:443"), if m == "CONNECT" { "" } else { "/" }, &[]);
            assert!(prepare(&r, PathNormalization::Base).is_ok(), "{m}");
        }
        for m in ["", "GE T", "GET\u{0}"] {
            assert_eq!(
                prepare(&req(m, Some("a"), "/", &[]), custom).err(),
                Some(CODEC_ERROR),
                "{m:?}"
            );
        }
    }

    /// `n` headers `x-0: v` … after a Host.
    fn numbered(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n).map(|i| hdr(&format!("x-{i}"), "v")).collect()
    }

    #[test]
    fn at_most_max_headers_count_entries() {
        // Host is one entry (:authority), so 99 more make 100.
        let h = numbered(99);
        assert!(prepare(&req("GET", Some("a"), "/", &h), Settings::default()).is_ok());
        let h = numbered(100);
        assert_eq!(
            prepare(&req("GET", Some("a"), "/", &h), Settings::default()).err(),
            Some(TOO_MANY_HEADERS)
        );
        // Without Host in the count: 100 other headers and no Host is
        // refused for the count before the missing Host is noticed.
        assert_eq!(
            prepare(&req("GET", None, "/", &h), Settings::default())
                .err()
                .map(|r| r.details),
            Some("missing_host_header")
        );
        let h = numbered(101);
        assert_eq!(
            prepare(&req("GET", None, "/", &h), Settings::default()).err(),
            Some(TOO_MANY_HEADERS)
        );
        // Repeated inline headers and extra Hosts join their first entry.
        let mut h = numbered(98);
        h.extend((0..20).map(|_| hdr("User-Agent", "u")));
        h.extend((0..20).map(|_| hdr("host", "a")));
        assert!(prepare(&req("GET", Some("a"), "/", &h), Settings::default()).is_ok());
        // The setting.
        let three = Settings {
            max_headers_count: 3,
            ..Settings::default()
        };
        assert!(prepare(&req("GET", Some("a"), "/", &numbered(2)), three).is_ok());
        assert_eq!(
            prepare(&req("GET", Some("a"), "/", &numbered(3)), three).err(),
            Some(TOO_MANY_HEADERS)
        );
        // A body's implied content-length is a header the client sent.
        let two = numbered(2);
        let r = ClientRequest {
            body_len: Some(1),
            ..req("GET", Some("a"), "/", &two)
        };
        assert_eq!(prepare(&r, three).err(), Some(TOO_MANY_HEADERS));
    }

    /// A request whose head is exactly `len` bytes: one header `x: vvv…`.
    fn head_of(len: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        // "GET / HTTP/1.1\r\n" "Host: a\r\n" "x: " … "\r\n" "\r\n"
        let fixed = 16 + 9 + 3 + 2 + 2;
        vec![hdr("x", &"v".repeat(len - fixed))]
    }

    #[test]
    fn at_most_max_request_headers_kb_of_head() {
        let limit = 60 * 1024;
        let h = head_of(limit);
        let r = req("GET", Some("a"), "/", &h);
        assert_eq!(codec::head_len(&r), limit);
        assert!(prepare(&r, Settings::default()).is_ok());
        let h = head_of(limit + 1);
        let r = req("GET", Some("a"), "/", &h);
        assert_eq!(
            prepare(&r, Settings::default()).err(),
            Some(HEADERS_TOO_LARGE)
        );
        // The setting.
        let one = Settings {
            max_request_headers_kb: 1,
            ..Settings::default()
        };
        assert!(prepare(&req("GET", Some("a"), "/", &head_of(1024)), one).is_ok());
        assert_eq!(
            prepare(&req("GET", Some("a"), "/", &head_of(1025)), one).err(),
            Some(HEADERS_TOO_LARGE)
        );
        // The path counts, and a request line too long on its own is 431
        // even with a method Envoy does not know.
        let long = format!("/{}", "p".repeat(limit));
        assert_eq!(
            prepare(&req("GET", Some("a"), &long, &[]), Settings::default()).err(),
            Some(HEADERS_TOO_LARGE)
        );
        assert_eq!(
            prepare(&req("BREW", Some("a"), &long, &[]), Settings::default()).err(),
            Some(HEADERS_TOO_LARGE)
        );
        // A method that cannot start a known one is refused at its first byte.
        assert_eq!(
            prepare(&req("XYZ", Some("a"), &long, &[]), Settings::default()).err(),
            Some(CODEC_ERROR)
        );
        // The size is checked before the headers: a bad name in an oversized
        // head is still 431.
        let mut h = head_of(limit + 1);
        h.insert(0, hdr("bad name", "v"));
        assert_eq!(
            prepare(&req("GET", Some("a"), "/", &h), Settings::default()).err(),
            Some(HEADERS_TOO_LARGE)
        );
    }

    #[test]
    fn settings_are_checked_as_envoy_checks_them() {
        assert!(Settings::default().check().is_ok());
        let s = |kb, count| Settings {
            max_request_headers_kb: kb,
            max_headers_count: count,
            ..Settings::default()
        };
        assert!(s(8192, 1).check().is_ok());
        assert!(s(0, 100).check().unwrap_err().contains("1 to 8192"));
        assert!(s(8193, 100).check().is_err());
        assert!(s(60, 0).check().unwrap_err().contains("at least 1"));
        assert_eq!(
            Settings::from(PathNormalization::None),
            Settings {
                path_normalization: PathNormalization::None,
                ..Settings::default()
            }
        );
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
