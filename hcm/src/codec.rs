//! What Envoy's HTTP/1 codec refuses while it reads a request head, before
//! the connection manager or any filter sees it: methods it does not know,
//! and heads over `max_request_headers_kb` or `max_headers_count`.
//!
//! Facts, from Envoy `source/common/http/http1/balsa_parser.cc` and
//! `codec_impl.cc` (Balsa is Envoy's HTTP/1 parser; the older http-parser
//! enforced the same method list), and QUICHE `quiche/balsa/balsa_frame.cc`:
//!
//! 1. **Methods.** By default the parser accepts exactly 34 methods, the
//!    list http-parser hard-coded ([`KNOWN_METHODS`], case-sensitive: `get`
//!    is refused), and refuses a request whose first byte cannot start one
//!    of them before reading further. Anything else is `HPE_INVALID_METHOD`:
//!    400 with details `http1.codec_error`. With `allow_custom_methods: true`
//!    in `Http1ProtocolOptions` (a BalsaParser option, envoyproxy/envoy
//!    #26448) any non-empty RFC 9110 token is accepted, lower case included.
//!    HTTP/2 has no list: nghttp2 (`nghttp2_check_method`) and oghttp2 only
//!    require `:method` to be a token (envoyproxy/envoy #18819, #19757), so an
//!    HTTP/2 client's custom method reaches the filters; the emulation is of
//!    HTTP/1.1, where `allow_custom_methods` gives the HTTP/2 behaviour.
//! 2. **Head size.** `max_request_headers_kb` (default 60, at most 8192;
//!    `HttpConnectionManager`) is handed to Balsa as `max_header_length` in
//!    bytes. Balsa counts the head as it arrives on the wire: the request
//!    line, every header line with its `: ` and CRLF, and the blank line that
//!    ends the head; one byte more than the limit is `HEADERS_TOO_LONG`, which
//!    the codec answers with 431 `http1.headers_too_large`. Exactly the limit
//!    is accepted. (The codec's own check, the request URL plus the names and
//!    values in its header map, counts a subset of the same bytes, so Balsa's
//!    is the one that fires.) A request line that alone does not fit is 431
//!    too, before its method or URL is looked at.
//! 3. **Header count.** `max_headers_count` (default 100;
//!    `HttpProtocolOptions` in `common_http_protocol_options`) is compared,
//!    as each header is completed, with the number of entries in the header
//!    map being built: 101 is 431 `http1.too_many_headers`. Pseudo-headers do
//!    not count (`:method` and `:path` are added after the last header), a
//!    `Host` header is the `:authority` entry, and a repeated inline header
//!    (`user-agent`, `content-type`, …, see [`crate::is_inline`]) is appended
//!    to its first entry, so it does not count again; every other header line
//!    is an entry.
//!
//! 4. **The target.** Balsa's URL check (`isUrlValid`) accepts only
//!    visible ASCII, tab and form feed in the path and query: a space, a
//!    control character, DEL or a non-ASCII byte is 400 `http1.codec_error`.
//!
//! The order follows the parser: the first byte of the method, the request
//! line's size, the method and the URL, the head's size, then each header
//! in turn (its name, the count, its value).

use crate::{ClientRequest, Rejection, is_inline, is_tchar};

/// The methods Envoy's HTTP/1 parser accepts without `allow_custom_methods`
/// (Balsa's list, the one http-parser hard-coded), in byte order.
pub const KNOWN_METHODS: [&str; 34] = [
    "ACL",
    "BIND",
    "CHECKOUT",
    "CONNECT",
    "COPY",
    "DELETE",
    "GET",
    "HEAD",
    "LINK",
    "LOCK",
    "MERGE",
    "MKACTIVITY",
    "MKCALENDAR",
    "MKCOL",
    "MOVE",
    "MSEARCH",
    "NOTIFY",
    "OPTIONS",
    "PATCH",
    "POST",
    "PROPFIND",
    "PROPPATCH",
    "PURGE",
    "PUT",
    "REBIND",
    "REPORT",
    "SEARCH",
    "SOURCE",
    "SUBSCRIBE",
    "TRACE",
    "UNBIND",
    "UNLINK",
    "UNLOCK",
    "UNSUBSCRIBE",
];

/// Envoy's default `max_request_headers_kb`.
pub const DEFAULT_MAX_REQUEST_HEADERS_KB: u32 = 60;
/// The largest `max_request_headers_kb` Envoy's configuration accepts
/// (`lte: 8192`; it must also be above 0).
pub const MAX_REQUEST_HEADERS_KB_LIMIT: u32 = 8192;
/// Envoy's default `max_headers_count`.
pub const DEFAULT_MAX_HEADERS_COUNT: u32 = 100;

/// 400 `http1.codec_error`: what the HTTP/1 codec answers to a request it
/// cannot parse (an unknown method, a bad header name, a bad target).
pub const CODEC_ERROR: Rejection = Rejection {
    status: 400,
    details: "http1.codec_error",
};

/// 431 `http1.headers_too_large`: the head is over `max_request_headers_kb`.
pub const HEADERS_TOO_LARGE: Rejection = Rejection {
    status: 431,
    details: "http1.headers_too_large",
};

/// 431 `http1.too_many_headers`: more headers than `max_headers_count`.
pub const TOO_MANY_HEADERS: Rejection = Rejection {
    status: 431,
    details: "http1.too_many_headers",
};

/// Whether `m` is one of [`KNOWN_METHODS`] (exactly: methods are
/// case-sensitive).
pub fn is_known_method(m: &[u8]) -> bool {
    KNOWN_METHODS.iter().any(|k| k.as_bytes() == m)
}

/// The check Balsa makes on the first byte of a request, before the rest of
/// the request line has arrived: without custom methods it must be the
/// first letter of a known method.
pub fn check_method_start(m: &[u8], allow_custom_methods: bool) -> Result<(), Rejection> {
    let starts_known = |c: &u8| {
        KNOWN_METHODS
            .iter()
            .any(|k| k.as_bytes().first() == Some(c))
    };
    match m.first() {
        Some(c) if allow_custom_methods || starts_known(c) => Ok(()),
        _ => Err(CODEC_ERROR),
    }
}

/// The HTTP/1 codec's method check: one of [`KNOWN_METHODS`], or, with
/// `allow_custom_methods`, any RFC 9110 token (upper or lower case).
pub fn check_method(m: &[u8], allow_custom_methods: bool) -> Result<(), Rejection> {
    let ok = if allow_custom_methods {
        !m.is_empty() && m.iter().all(|c| is_tchar(*c))
    } else {
        is_known_method(m)
    };
    if ok { Ok(()) } else { Err(CODEC_ERROR) }
}

/// `CRLF` and `: ` as a client writes them.
const CRLF: usize = 2;
const COLON_SP: usize = 2;
/// ` HTTP/1.1` after the target.
const VERSION: usize = " HTTP/1.1".len();

/// The request target a client writes in the request line: the path (origin
/// or absolute form), or for a CONNECT without one, the authority.
fn target<'a>(req: &ClientRequest<'a>) -> &'a [u8] {
    if req.path.is_empty() && req.method == b"CONNECT" {
        req.authority.unwrap_or_default()
    } else {
        req.path
    }
}

/// Bytes of the request line with its CRLF: `METHOD SP target SP HTTP/1.1`.
pub fn request_line_len(req: &ClientRequest<'_>) -> usize {
    req.method
        .len()
        .saturating_add(1)
        .saturating_add(target(req).len())
        .saturating_add(VERSION)
        .saturating_add(CRLF)
}

/// The `content-length` the client sends for a body when it gives no
/// `content-length` or `transfer-encoding` of its own.
pub(crate) fn implied_content_length(req: &ClientRequest<'_>) -> Option<Vec<u8>> {
    let framed = req.headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case(b"content-length") || k.eq_ignore_ascii_case(b"transfer-encoding")
    });
    match req.body_len {
        Some(n) if !framed => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

/// The header lines as the client writes them, in order: `Host` (when the
/// request has an authority), its other headers, then a `Content-Length`
/// for a body it did not frame itself.
fn header_lines<'a>(
    req: &'a ClientRequest<'a>,
    content_length: Option<&'a [u8]>,
) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
    req.authority
        .map(|a| (&b"Host"[..], a))
        .into_iter()
        .chain(
            req.headers
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice())),
        )
        .chain(content_length.map(|n| (&b"Content-Length"[..], n)))
}

/// Bytes of the whole request head as Balsa counts them: the request line,
/// each header line written `Name: value` CRLF (values as given), and the
/// blank line that ends the head.
pub fn head_len(req: &ClientRequest<'_>) -> usize {
    let content_length = implied_content_length(req);
    header_lines(req, content_length.as_deref())
        .fold(request_line_len(req), |n, (k, v)| {
            n.saturating_add(k.len())
                .saturating_add(COLON_SP)
                .saturating_add(v.len())
                .saturating_add(CRLF)
        })
        .saturating_add(CRLF)
}

/// Balsa's URL check on an origin- or absolute-form target
/// (`isUrlValid`, made to match http-parser): non-empty, and every byte a
/// visible ASCII character, a tab or a form feed; a space, another control
/// character, DEL or a byte above 0x7F is `HPE_INVALID_URL` (400).
pub fn valid_target(t: &[u8]) -> bool {
    !t.is_empty()
        && t.iter()
            .all(|&c| c == b'\t' || c == 0x0c || (b'!'..=b'~').contains(&c))
}

/// No NUL, CR or LF: what the codec accepts in a header value.
pub(crate) fn valid_value(v: &[u8]) -> bool {
    !v.iter().any(|c| matches!(c, 0 | b'\r' | b'\n'))
}

/// The entries of the header map the codec builds, counted as it counts
/// them for `max_headers_count`.
#[derive(Default)]
struct EntryCount {
    entries: usize,
    inline_seen: Vec<Vec<u8>>,
}

impl EntryCount {
    /// Adds a completed header; a `Host` is the `:authority` entry, and a
    /// repeated inline header joins its first entry.
    fn add(&mut self, name: &[u8]) {
        let mut key = name.to_ascii_lowercase();
        if key == b"host" {
            key = b":authority".to_vec();
        }
        if is_inline(&key) {
            if self.inline_seen.contains(&key) {
                return;
            }
            self.inline_seen.push(key);
        }
        self.entries = self.entries.saturating_add(1);
    }
}

/// The codec's checks on the header lines, in its order: for each header,
/// its name must be a token (400), the header before it is completed and
/// counted (431 past `max_headers_count`), then its value must be free of
/// NUL, CR and LF (400); the last header is counted when the head ends.
pub fn check_header_lines(
    req: &ClientRequest<'_>,
    max_headers_count: u32,
) -> Result<(), Rejection> {
    let max = usize::try_from(max_headers_count).unwrap_or(usize::MAX);
    let content_length = implied_content_length(req);
    let mut count = EntryCount::default();
    let mut pending: Option<&[u8]> = None;
    let complete = |count: &mut EntryCount, name: Option<&[u8]>| match name {
        Some(name) => {
            count.add(name);
            if count.entries > max {
                Err(TOO_MANY_HEADERS)
            } else {
                Ok(())
            }
        }
        None => Ok(()),
    };
    for (name, value) in header_lines(req, content_length.as_deref()) {
        if name.is_empty() || !name.iter().all(|c| is_tchar(*c)) {
            return Err(CODEC_ERROR);
        }
        complete(&mut count, pending.take())?;
        if !valid_value(value) {
            return Err(CODEC_ERROR);
        }
        pending = Some(name);
    }
    complete(&mut count, pending)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        reason = "test code: a failed unwrap is a failed test"
    )]
    use super::*;

    #[test]
    fn the_list_is_sorted_and_complete() {
        let mut sorted = KNOWN_METHODS;
        sorted.sort_unstable();
        assert_eq!(sorted, KNOWN_METHODS);
        for m in ["GET", "POST", "PURGE", "PROPFIND", "MSEARCH", "SOURCE"] {
            assert!(check_method(m.as_bytes(), false).is_ok(), "{m}");
        }
    }

    #[test]
    fn unknown_methods_need_allow_custom_methods() {
        for m in [
            "BREW", "LIST", "QUERY", "M-SEARCH", "get", "Get", "GETS", "GE",
        ] {
            assert_eq!(check_method(m.as_bytes(), false), Err(CODEC_ERROR), "{m}");
            assert_eq!(check_method(m.as_bytes(), true), Ok(()), "{m}");
        }
        for m in ["", "GE T", "GET/", "G\u{e9}T", "(GET)"] {
            assert_eq!(check_method(m.as_bytes(), true), Err(CODEC_ERROR), "{m:?}");
        }
        // The first byte alone: what could start a known method.
        assert!(check_method_start(b"BREW", false).is_ok());
        assert_eq!(check_method_start(b"XYZ", false), Err(CODEC_ERROR));
        assert_eq!(check_method_start(b"get", false), Err(CODEC_ERROR));
        assert!(check_method_start(b"XYZ", true).is_ok());
        assert_eq!(check_method_start(b"", true), Err(CODEC_ERROR));
    }

    fn request<'a>(headers: &'a [(Vec<u8>, Vec<u8>)]) -> ClientRequest<'a> {
        ClientRequest {
            method: b"GET",
            scheme: b"http",
            authority: Some(b"a.com"),
            path: b"/x",
            headers,
            body_len: None,
        }
    }

    #[test]
    fn the_head_is_counted_as_written() {
        let h = vec![(b"X-A".to_vec(), b"1".to_vec())];
        let r = request(&h);
        // "GET /x HTTP/1.1\r\n" "Host: a.com\r\n" "X-A: 1\r\n" "\r\n"
        assert_eq!(request_line_len(&r), 17);
        assert_eq!(head_len(&r), 17 + 13 + 8 + 2);
        let r = ClientRequest {
            body_len: Some(12),
            ..r
        };
        // plus "Content-Length: 12\r\n"
        assert_eq!(head_len(&r), 17 + 13 + 8 + 20 + 2);
        let connect = ClientRequest {
            method: b"CONNECT",
            path: b"",
            authority: Some(b"a.com:443"),
            ..r
        };
        assert_eq!(
            request_line_len(&connect),
            "CONNECT a.com:443 HTTP/1.1\r\n".len()
        );
    }

    #[test]
    fn entries_are_counted_as_the_header_map_counts_them() {
        let hdr = |k: &str| (k.as_bytes().to_vec(), b"v".to_vec());
        // Host is :authority; a second Host and a repeated inline header
        // join their first entry; other repeats are entries.
        let h = vec![
            hdr("host"),
            hdr("user-agent"),
            hdr("User-Agent"),
            hdr("x"),
            hdr("x"),
        ];
        assert!(check_header_lines(&request(&h), 4).is_ok());
        assert_eq!(check_header_lines(&request(&h), 3), Err(TOO_MANY_HEADERS));
        // A bad name before the count is reached is a codec error, a bad
        // value after it the 431.
        let mut h: Vec<_> = (0..5).map(|i| hdr(&format!("x-{i}"))).collect();
        h.push((b"bad name".to_vec(), b"v".to_vec()));
        assert_eq!(check_header_lines(&request(&h), 3), Err(TOO_MANY_HEADERS));
        assert_eq!(check_header_lines(&request(&h), 10), Err(CODEC_ERROR));
    }
}
