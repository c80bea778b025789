//! Turning what the proxy hands the filter into a request the table can
//! decide on: host and port from `:authority`, the path without query, the
//! method, the principal. Nothing here allocates; malformed input becomes a
//! [`Reason`] the filter denies with, never a panic.

use core::fmt::{self, Write};
use core::net::Ipv6Addr;

use crate::format::is_normalized_host;

/// Why a request was denied before any rule was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No `:authority` (or `host`) header.
    MissingAuthority,
    /// `:authority` could not be parsed as `host[:port]`.
    InvalidAuthority,
    /// More than one `:authority`/`host` value, and they disagree.
    DuplicateAuthority,
    /// The path is not in canonical form.
    Path(PathProblem),
    /// The method is not an upper-case token.
    InvalidMethod,
    /// TLS SNI and Host name different hosts (domain fronting), and a policy
    /// asks for them to agree.
    SniHostMismatch,
    /// A connection without SNI on a port that `tls` destinations cover.
    NoSni,
    /// The SNI is not a valid host name.
    InvalidSni,
    /// A connection whose destination address is unknown.
    NoDestination,
    /// The proxy did not hand over the request headers.
    HeadersUnavailable,
    /// The filter has no valid configuration (it refuses everything).
    Unconfigured,
}

impl Reason {
    /// Every reason, for callers that define one counter per reason.
    pub const ALL: &'static [Reason] = &[
        Self::MissingAuthority,
        Self::InvalidAuthority,
        Self::DuplicateAuthority,
        Self::Path(PathProblem::NotAbsolute),
        Self::Path(PathProblem::EmptySegment),
        Self::Path(PathProblem::DotSegment),
        Self::Path(PathProblem::EncodedSlash),
        Self::Path(PathProblem::EncodedUnreserved),
        Self::Path(PathProblem::Nul),
        Self::Path(PathProblem::Backslash),
        Self::Path(PathProblem::InvalidByte),
        Self::Path(PathProblem::InvalidEscape),
        Self::Path(PathProblem::Parameter),
        Self::InvalidMethod,
        Self::SniHostMismatch,
        Self::NoSni,
        Self::InvalidSni,
        Self::NoDestination,
        Self::HeadersUnavailable,
        Self::Unconfigured,
    ];

    /// A stable, kebab-case code for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingAuthority => "missing-authority",
            Self::InvalidAuthority => "invalid-authority",
            Self::DuplicateAuthority => "duplicate-authority",
            Self::Path(p) => p.as_str(),
            Self::InvalidMethod => "invalid-method",
            Self::SniHostMismatch => "sni-host-mismatch",
            Self::NoSni => "no-sni",
            Self::InvalidSni => "invalid-sni",
            Self::NoDestination => "no-destination-address",
            Self::HeadersUnavailable => "headers-unavailable",
            Self::Unconfigured => "unconfigured",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a path is not canonical. Envoy normalises paths before filters run
/// (Istio's default: RFC 3986 dot segments, `\` to `/`, unreserved escapes
/// decoded), so a canonical request never has any of these; one that does is
/// either a normalisation setting we do not assume or an attempt to make a
/// denied path look like an allowed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathProblem {
    /// Empty, or not starting with `/`.
    NotAbsolute,
    /// `//`.
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// `%2F` or `%5C`: an encoded slash or backslash.
    EncodedSlash,
    /// `%2E`, or another escape of an unreserved character (which
    /// normalisation would have decoded).
    EncodedUnreserved,
    /// `%00` or a NUL byte.
    Nul,
    /// A raw backslash.
    Backslash,
    /// A control character, space, DEL or a byte above 0x7F.
    InvalidByte,
    /// `%` not followed by two hex digits.
    InvalidEscape,
    /// A `;` path parameter (`/admin;x/secret`), which servers such as
    /// Tomcat strip before routing: a way to make a denied path look allowed.
    /// Send `%3B` for a literal semicolon.
    Parameter,
}

impl PathProblem {
    /// A stable code for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAbsolute => "path-not-absolute",
            Self::EmptySegment => "path-empty-segment",
            Self::DotSegment => "path-dot-segment",
            Self::EncodedSlash => "path-encoded-slash",
            Self::EncodedUnreserved => "path-encoded-unreserved",
            Self::Nul => "path-nul",
            Self::Backslash => "path-backslash",
            Self::InvalidByte => "path-invalid-byte",
            Self::InvalidEscape => "path-invalid-escape",
            Self::Parameter => "path-parameter",
        }
    }
}

/// The part of `:path` that rules see: everything before the first `?` or `#`.
pub fn strip_query(raw: &[u8]) -> &[u8] {
    let end = raw
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(raw.len());
    raw.get(..end).unwrap_or(raw)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks that a path (query already stripped) is canonical; see [`PathProblem`].
pub fn check_path(path: &[u8]) -> Result<(), PathProblem> {
    if path.first() != Some(&b'/') {
        return Err(PathProblem::NotAbsolute);
    }
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        match b {
            0 => return Err(PathProblem::Nul),
            b'\\' => return Err(PathProblem::Backslash),
            b';' => return Err(PathProblem::Parameter),
            b'%' => {
                let h = path.get(i + 1).copied().and_then(hex);
                let l = path.get(i + 2).copied().and_then(hex);
                let (Some(h), Some(l)) = (h, l) else {
                    return Err(PathProblem::InvalidEscape);
                };
                let c = h * 16 + l;
                match c {
                    0 => return Err(PathProblem::Nul),
                    b'/' | b'\\' => return Err(PathProblem::EncodedSlash),
                    c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') => {
                        return Err(PathProblem::EncodedUnreserved);
                    }
                    _ => {}
                }
                i += 3;
                continue;
            }
            b if b <= 0x20 || b >= 0x7F => return Err(PathProblem::InvalidByte),
            _ => {}
        }
        i += 1;
    }
    for seg in path.split(|&b| b == b'/').skip(1) {
        match seg {
            b"." | b".." => return Err(PathProblem::DotSegment),
            _ => {}
        }
    }
    // An empty segment anywhere but at the very end ("/a/" is fine; "/a//b" and "//" are not).
    let inner = path.get(1..).unwrap_or(&[]);
    if inner.windows(2).any(|w| w == b"//") || path.starts_with(b"//") {
        return Err(PathProblem::EmptySegment);
    }
    Ok(())
}

/// A request method: a bit of [`crate::spec::MethodSet`] for the standard
/// methods, or [`Method::OTHER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method(pub u16);

impl Method {
    /// Any method outside [`crate::spec::METHODS`] (and connections, which have no method).
    pub const OTHER: Self = Self(1 << 15);

    /// Parses a method. Methods are case-sensitive upper-case tokens; a
    /// lower-case or otherwise malformed method is refused (Envoy rejects
    /// these with 400 before filters run).
    pub fn parse(raw: &[u8]) -> Result<Self, Reason> {
        if raw.is_empty()
            || raw.len() > 32
            || !raw
                .iter()
                .all(|&b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
        {
            return Err(Reason::InvalidMethod);
        }
        Ok(crate::spec::METHODS
            .iter()
            .position(|m| m.as_bytes() == raw)
            .map_or(Self::OTHER, |i| Self(1 << i)))
    }
}

/// A normalised host name in a fixed buffer (no allocation). Also usable as
/// a small text buffer through `core::fmt::Write` ([`TextBuf`]).
#[derive(Clone, Copy)]
pub struct HostBuf {
    buf: [u8; 256],
    len: usize,
}

impl fmt::Debug for HostBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostBuf({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Up to 256 bytes of text built without allocating.
pub type TextBuf = HostBuf;

impl Default for HostBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl HostBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    /// The normalised name.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl Write for HostBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Normalises a host name: lower case, one trailing dot removed, IPv6
/// literals (with or without brackets) in canonical form; then checks it
/// with [`is_normalized_host`].
pub fn normalize_host(raw: &[u8]) -> Option<HostBuf> {
    let mut out = HostBuf {
        buf: [0; 256],
        len: 0,
    };
    let inner = raw.strip_prefix(b"[").and_then(|r| r.strip_suffix(b"]"));
    if let Some(v6) = inner.or_else(|| raw.contains(&b':').then_some(raw)) {
        let addr: Ipv6Addr = core::str::from_utf8(v6).ok()?.parse().ok()?;
        write!(out, "{addr}").ok()?;
        return Some(out);
    }
    let raw = raw.strip_suffix(b".").unwrap_or(raw);
    if raw.len() > 253 {
        return None;
    }
    for (d, s) in out.buf.iter_mut().zip(raw) {
        *d = s.to_ascii_lowercase();
    }
    out.len = raw.len();
    is_normalized_host(out.as_bytes()).then_some(out)
}

/// Splits an `:authority` value into a normalised host and an optional port.
/// `[v6]:port` is understood; userinfo (`user@host`) and anything that is not
/// a valid host are refused.
pub fn parse_authority(raw: &[u8]) -> Result<(HostBuf, Option<u16>), Reason> {
    if raw.is_empty() {
        return Err(Reason::MissingAuthority);
    }
    let (host, port) = if raw.first() == Some(&b'[') {
        let close = raw
            .iter()
            .position(|&b| b == b']')
            .ok_or(Reason::InvalidAuthority)?;
        let (h, rest) = raw.split_at(close + 1);
        let port = match rest {
            [] => None,
            [b':', p @ ..] => Some(p),
            _ => return Err(Reason::InvalidAuthority),
        };
        (h, port)
    } else {
        match raw.iter().position(|&b| b == b':') {
            Some(c) => (raw.get(..c).unwrap_or(&[]), raw.get(c + 1..)),
            None => (raw, None),
        }
    };
    let port = match port {
        None | Some(b"") => None,
        Some(p) => Some(parse_port(p).ok_or(Reason::InvalidAuthority)?),
    };
    let host = normalize_host(host).ok_or(Reason::InvalidAuthority)?;
    Ok((host, port))
}

/// Parses a decimal port 1–65535.
pub fn parse_port(p: &[u8]) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = p.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).ok().filter(|&n| n != 0)
}

/// A principal without its `spiffe://` prefix.
pub fn normalize_principal(raw: &[u8]) -> &[u8] {
    raw.strip_prefix(b"spiffe://").unwrap_or(raw)
}

/// The namespace and service account of a normalised Istio principal
/// (`trust-domain/ns/NS/sa/SA`), if it has that shape.
pub fn principal_parts(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut it = p.split(|&b| b == b'/');
    let (td, ns_kw, ns, sa_kw, sa) = (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    if it.next().is_some()
        || td.is_empty()
        || ns_kw != b"ns"
        || sa_kw != b"sa"
        || ns.is_empty()
        || sa.is_empty()
    {
        return None;
    }
    Some((ns, sa))
}

/// The parts of an HTTP request the decision needs, as the proxy hands them over.
#[derive(Debug, Clone, Copy)]
pub struct HttpParts<'a> {
    /// `:authority` (or `host`).
    pub authority: &'a [u8],
    /// `:method`.
    pub method: &'a [u8],
    /// `:path` including the query; `None` if absent (legal only for CONNECT).
    pub path: Option<&'a [u8]>,
    /// Whether `:scheme` is `https` (the default port is then 443).
    pub https: bool,
    /// The port the connection came in on (`destination.port`), if known.
    pub destination_port: Option<u16>,
}

/// An HTTP request normalised for [`crate::Table::decide`].
#[derive(Debug, Clone, Copy)]
pub struct NormalizedHttp<'a> {
    /// The host, normalised.
    pub host: HostBuf,
    /// The port: from the authority, else the connection's, else the scheme's default.
    pub port: u16,
    /// The method.
    pub method: Method,
    /// The path without query or fragment.
    pub path: &'a [u8],
}

/// Normalises an HTTP request the way the filter does: authority, method,
/// canonical path (not required for CONNECT without a path), port.
pub fn normalize_http<'a>(p: &HttpParts<'a>) -> Result<NormalizedHttp<'a>, Reason> {
    let (host, port) = parse_authority(p.authority)?;
    let method = Method::parse(p.method)?;
    let path = strip_query(p.path.unwrap_or(b""));
    if p.method != b"CONNECT" || p.path.is_some() {
        check_path(path).map_err(Reason::Path)?;
    }
    let port = port
        .or(p.destination_port.filter(|&p| p != 0))
        .unwrap_or(if p.https { 443 } else { 80 });
    Ok(NormalizedHttp {
        host,
        port,
        method,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(s: &str) -> Result<(String, Option<u16>), Reason> {
        parse_authority(s.as_bytes())
            .map(|(h, p)| (String::from_utf8(h.as_bytes().to_vec()).unwrap(), p))
    }

    #[test]
    fn authorities() {
        assert_eq!(auth("HTTPBin.org"), Ok(("httpbin.org".into(), None)));
        assert_eq!(auth("httpbin.org."), Ok(("httpbin.org".into(), None)));
        assert_eq!(
            auth("httpbin.org.:8080"),
            Ok(("httpbin.org".into(), Some(8080)))
        );
        assert_eq!(auth("httpbin.org:"), Ok(("httpbin.org".into(), None)));
        assert_eq!(auth("[::1]:443"), Ok(("::1".into(), Some(443))));
        assert_eq!(auth("[2001:DB8:0:0::1]"), Ok(("2001:db8::1".into(), None)));
        assert_eq!(auth("10.1.2.3:80"), Ok(("10.1.2.3".into(), Some(80))));
        assert_eq!(auth(""), Err(Reason::MissingAuthority));
        for bad in [
            "httpbin.org..",
            "user@httpbin.org",
            "httpbin.org:0",
            "httpbin.org:65536",
            "httpbin.org:8o",
            "httpbin.org:80:80",
            "[::1",
            "[::1]x",
            "[zz::1]",
            "exa mple.com",
            "ex%61mple.com",
            "exämple.com",
            "a..b",
            ".example.com",
            "1.2.3",
            "999.1.1.1",
            "0x7f.1",
        ] {
            assert_eq!(auth(bad), Err(Reason::InvalidAuthority), "{bad}");
        }
    }

    #[test]
    fn canonical_paths() {
        for ok in [
            "/",
            "/get",
            "/a/b/",
            "/a%20b",
            "/a%3Bb",
            "/%C3%A9",
            "/a.b/.c/..d",
        ] {
            assert_eq!(check_path(ok.as_bytes()), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", PathProblem::NotAbsolute),
            ("get", PathProblem::NotAbsolute),
            ("//get", PathProblem::EmptySegment),
            ("/a//b", PathProblem::EmptySegment),
            ("/a/./b", PathProblem::DotSegment),
            ("/a/../b", PathProblem::DotSegment),
            ("/a/..", PathProblem::DotSegment),
            ("/a/.", PathProblem::DotSegment),
            ("/a%2Fb", PathProblem::EncodedSlash),
            ("/a%2fb", PathProblem::EncodedSlash),
            ("/a%5Cb", PathProblem::EncodedSlash),
            ("/a%2E%2E/b", PathProblem::EncodedUnreserved),
            ("/%61dmin", PathProblem::EncodedUnreserved),
            ("/a%00", PathProblem::Nul),
            ("/a\0", PathProblem::Nul),
            ("/a\\b", PathProblem::Backslash),
            ("/a b", PathProblem::InvalidByte),
            ("/a\x7f", PathProblem::InvalidByte),
            ("/é", PathProblem::InvalidByte),
            ("/a%2", PathProblem::InvalidEscape),
            ("/a%zz", PathProblem::InvalidEscape),
            ("/admin;x/secret", PathProblem::Parameter),
        ] {
            assert_eq!(check_path(bad.as_bytes()), Err(why), "{bad:?}");
        }
        assert_eq!(strip_query(b"/a?b#c"), b"/a");
        assert_eq!(strip_query(b"/a#c?d"), b"/a");
    }

    #[test]
    fn reason_codes_are_distinct() {
        let mut codes: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }

    #[test]
    fn methods() {
        assert_eq!(Method::parse(b"GET"), Ok(Method(1)));
        assert_eq!(Method::parse(b"PURGE"), Ok(Method::OTHER));
        assert_eq!(Method::parse(b"get"), Err(Reason::InvalidMethod));
        assert_eq!(Method::parse(b""), Err(Reason::InvalidMethod));
        assert_eq!(Method::parse(b"GET "), Err(Reason::InvalidMethod));
    }

    #[test]
    fn principals() {
        assert_eq!(
            normalize_principal(b"spiffe://cluster.local/ns/a/sa/b"),
            b"cluster.local/ns/a/sa/b"
        );
        assert_eq!(
            principal_parts(b"cluster.local/ns/a/sa/b"),
            Some((&b"a"[..], &b"b"[..]))
        );
        assert_eq!(principal_parts(b"cluster.local/ns/a/sa/b/c"), None);
        assert_eq!(principal_parts(b"cluster.local/xx/a/sa/b"), None);
    }
}
