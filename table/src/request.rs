//! Turning what the proxy hands the filter into a request the table can
//! decide on: host and port from `:authority` and the connection, the path
//! without query, the method, the principal, the SNI. Nothing here
//! allocates; malformed input becomes a [`Reason`] the filter denies with,
//! never a panic.
//!
//! This is the one place where the HTTP filter, `egressc explain` and the
//! tests turn raw request parts into a [`NormalizedHttp`]: [`scan_headers`]
//! picks the pseudo-headers out of the header map, [`normalize_http`] checks
//! and normalises them.

use core::fmt;

pub use crate::host::{
    Authority, HostBuf, TextBuf, canonical_ip, is_normalized_host, normalize_host, parse_port,
};
pub use crate::path::{PathProblem, check_path, strip_query};

/// Why a request was denied before any rule was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No `:authority` (or `host`) header.
    MissingAuthority,
    /// `:authority` could not be parsed as `host[:port]`.
    InvalidAuthority,
    /// More than one `:authority`/`host` value, and they disagree.
    DuplicateAuthority,
    /// `:authority` names a port other than the one the connection is for.
    PortMismatch,
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
        Self::PortMismatch,
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
        Self::Path(PathProblem::DoubleEncoded),
        Self::Path(PathProblem::InvalidUtf8),
        Self::Path(PathProblem::TooLong),
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
            Self::PortMismatch => "authority-port-mismatch",
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

/// A request method: a bit of [`crate::spec::MethodSet`] for the standard
/// methods, or [`Method::OTHER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method(pub u16);

impl Method {
    /// Any method outside [`crate::spec::METHODS`] (and connections, which have no method).
    pub const OTHER: Self = Self(1 << 15);
    /// `CONNECT`.
    pub const CONNECT: Self = Self(1 << 5);

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

/// The pseudo-headers of one HTTP request, as the proxy hands them to the
/// filter (after the connection manager's normalisation), picked out of the
/// header map by [`scan_headers`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpView<'a> {
    /// The first `:authority` (or `host`) value.
    pub authority: Option<&'a [u8]>,
    /// A later `:authority`/`host` value names another host, names another
    /// explicit port, or does not parse.
    pub authority_conflict: bool,
    /// An explicit port named by a later `:authority`/`host` value.
    pub extra_port: Option<u16>,
    /// `:method`.
    pub method: Option<&'a [u8]>,
    /// `:path` including the query; `None` if absent (legal only for CONNECT).
    pub path: Option<&'a [u8]>,
    /// Whether `:scheme` is `https` (the default port is then 443).
    pub https: bool,
}

/// Picks the pseudo-headers out of a request's header map. Several
/// `:authority`/`host` values (HTTP/2 maps may carry both) are harmless only
/// when they name the same host and no two different ports.
///
/// `authority_header` names the one header that carries the destination
/// when the proxy is not Envoy (see
/// [`crate::plugin_config::Options::authority_header`]); `None` reads
/// `:authority` and `host`.
pub fn scan_headers<'s>(
    headers: &'s dyn crate::Headers,
    authority_header: Option<&[u8]>,
) -> HttpView<'s> {
    let mut s = HttpView::default();
    headers.for_each(&mut |k, v| {
        if k.first() == Some(&b':') {
            match k {
                b":path" => {
                    s.path.get_or_insert(v);
                }
                b":method" => {
                    s.method.get_or_insert(v);
                }
                b":scheme" => s.https = v.eq_ignore_ascii_case(b"https"),
                _ => {}
            }
        }
        // Compare lengths first: most headers are not the authority.
        let authority = match authority_header {
            None => k == b":authority" || (k.len() == 4 && k.eq_ignore_ascii_case(b"host")),
            Some(name) => k.len() == name.len() && k.eq_ignore_ascii_case(name),
        };
        if authority {
            add_authority(&mut s, v);
        }
    });
    s
}

/// One `:authority`/`host` value: the first is the authority; a later one
/// must name the same host and no other port.
#[inline(never)]
fn add_authority<'s>(s: &mut HttpView<'s>, v: &'s [u8]) {
    let Some(first) = s.authority else {
        s.authority = Some(v);
        return;
    };
    match (
        crate::host::parse_authority(first),
        crate::host::parse_authority(v),
    ) {
        (Ok(a), Ok(b)) if a.host.as_bytes() == b.host.as_bytes() => {
            let known = a.port.or(s.extra_port);
            if let (Some(p), Some(q)) = (known, b.port)
                && p != q
            {
                s.authority_conflict = true;
            }
            s.extra_port = s.extra_port.or(b.port);
        }
        _ => s.authority_conflict = true,
    }
}

/// An HTTP request normalised for [`crate::Table::decide`].
#[derive(Debug, Clone, Copy)]
pub struct NormalizedHttp<'a> {
    /// The host, normalised.
    pub host: HostBuf,
    /// The destination port: the connection's (see [`normalize_http`]).
    pub port: u16,
    /// The method.
    pub method: Method,
    /// The checked path without query or fragment; `None` for a CONNECT
    /// without `:path`.
    pub path: Option<&'a [u8]>,
}

impl HttpView<'_> {
    /// The port a request is decided on, as far as it can be told (for log
    /// lines of refused requests).
    pub fn port_hint(&self, connection_port: Option<u16>) -> u16 {
        let explicit = self
            .authority
            .and_then(|a| crate::host::parse_authority(a).ok())
            .and_then(|a| a.port)
            .or(self.extra_port);
        connection_port
            .or(explicit)
            .unwrap_or(if self.https { 443 } else { 80 })
    }
}

/// The common `:authority`, an already normalised DNS name with an optional
/// port (`api.example.com`, `api.example.com:8080`), split without the IP
/// address parsers that [`crate::host::parse_authority`] runs: `Some` only
/// when that would return the same authority. The last label must start
/// with a letter, `-` or `_`, so the name cannot be an IPv4 address or end
/// in a number, and a host part without `:` is never IPv6. Anything else
/// (upper case, a trailing dot, brackets, a bad port) is `None`, left to
/// `parse_authority`.
fn plain_authority(raw: &[u8]) -> Option<Authority> {
    if raw.len() > crate::host::MAX_AUTHORITY_LEN {
        return None;
    }
    let (host, port) = match raw.iter().position(|&b| b == b':') {
        Some(c) => (raw.get(..c)?, raw.get(c + 1..)?),
        None => (raw, &[][..]),
    };
    if host.is_empty() || host.len() > 253 {
        return None;
    }
    let mut label = 0usize;
    let mut last_start = 0u8;
    for &b in host {
        match b {
            b'.' => {
                if label == 0 {
                    return None;
                }
                label = 0;
            }
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {
                if label == 0 {
                    last_start = b;
                }
                label += 1;
                if label > 63 {
                    return None;
                }
            }
            _ => return None,
        }
    }
    if label == 0 || last_start.is_ascii_digit() {
        return None;
    }
    let port = match port {
        [] => None,
        p => Some(parse_port(p)?),
    };
    let mut buf = HostBuf::new();
    fmt::Write::write_str(&mut buf, core::str::from_utf8(host).ok()?).ok()?;
    Some(Authority { host: buf, port })
}

/// Checks and normalises an HTTP request, the way the filter does:
///
/// 1. the authority must be present, agree with any repeated value, and be
///    a valid `host[:port]` (see [`crate::host`]);
/// 2. the method must be an upper-case token;
/// 3. the path (query stripped) must be at most `max_path_bytes` long
///    (read no further) and canonical ([`check_path`]); a `CONNECT` may
///    have none;
/// 4. the **port is the connection's destination port** (`destination.port`
///    in Envoy: the listener's or the original destination's), which is
///    where the request goes and what Istio's `ports` means. A port in the
///    authority must equal it ([`Reason::PortMismatch`] otherwise: a client
///    cannot pick other rules by writing another port in `Host`). Only when
///    the connection's port is unknown does the authority's port count, and
///    then the scheme's default (80, or 443 for `https`). A `CONNECT`
///    tunnels to the authority's port, which it must name (RFC 9110 §9.3.6).
pub fn normalize_http<'a>(
    view: &HttpView<'a>,
    connection_port: Option<u16>,
    max_path_bytes: u32,
) -> Result<NormalizedHttp<'a>, Reason> {
    let raw = view.authority.unwrap_or(b"");
    if raw.is_empty() {
        return Err(Reason::MissingAuthority);
    }
    if view.authority_conflict {
        return Err(Reason::DuplicateAuthority);
    }
    let authority = match plain_authority(raw) {
        Some(a) => a,
        None => crate::host::parse_authority(raw).map_err(|()| Reason::InvalidAuthority)?,
    };
    let method_raw = view.method.unwrap_or(b"");
    let method = Method::parse(method_raw)?;
    let connect = method == Method::CONNECT;
    let path = match view.path {
        None if connect => None,
        p => {
            let path = crate::path::strip_query_within(p.unwrap_or(b""), max_path_bytes)
                .map_err(Reason::Path)?;
            check_path(path).map_err(Reason::Path)?;
            Some(path)
        }
    };
    let explicit = authority.port.or(view.extra_port);
    let connection_port = connection_port.filter(|&p| p != 0);
    let port = if connect {
        explicit.ok_or(Reason::InvalidAuthority)?
    } else {
        match (connection_port, explicit) {
            (Some(c), Some(e)) if c != e => return Err(Reason::PortMismatch),
            (Some(c), _) => c,
            (None, Some(e)) => e,
            (None, None) => {
                if view.https {
                    443
                } else {
                    80
                }
            }
        }
    };
    Ok(NormalizedHttp {
        host: authority.host,
        port,
        method,
        path,
    })
}

/// The TLS SNI of the connection under an HTTP request, normalised.
#[derive(Debug, Clone, Copy, Default)]
#[expect(
    clippy::large_enum_variant,
    reason = "lives on the stack for one request; boxing would allocate on the hot path"
)]
pub enum SniState {
    /// The connection has no SNI (plain HTTP, or a client that sent none).
    #[default]
    Absent,
    /// The SNI is not a valid host name.
    Invalid,
    /// The SNI, normalised.
    Valid(HostBuf),
}

impl SniState {
    /// Normalises a raw SNI (`None` or empty: absent).
    pub fn from_raw(raw: Option<&[u8]>) -> Self {
        match raw.filter(|r| !r.is_empty()) {
            None => Self::Absent,
            Some(r) => normalize_host(r).map_or(Self::Invalid, Self::Valid),
        }
    }

    /// A borrowed view for [`crate::Request`].
    pub fn as_sni(&self) -> crate::Sni<'_> {
        match self {
            Self::Absent => crate::Sni::Absent,
            Self::Invalid => crate::Sni::Invalid,
            Self::Valid(h) => crate::Sni::Name(h.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(pairs: &'a &'a [(&'a [u8], &'a [u8])]) -> HttpView<'a> {
        scan_headers(pairs, None)
    }

    fn norm(pairs: &[(&[u8], &[u8])], conn: Option<u16>) -> Result<(String, u16), Reason> {
        let v = view(&pairs);
        normalize_http(&v, conn, 4096).map(|n| {
            (
                String::from_utf8_lossy(n.host.as_bytes()).into_owned(),
                n.port,
            )
        })
    }

    const GET: (&[u8], &[u8]) = (b":method", b"GET");
    const ROOT: (&[u8], &[u8]) = (b":path", b"/");

    #[test]
    fn the_port_is_the_connections() {
        let a = |v: &'static [u8]| (&b":authority"[..], v);
        let ok = |h: &str, p| Ok((h.to_owned(), p));
        assert_eq!(
            norm(&[a(b"a.com"), GET, ROOT], Some(8080)),
            ok("a.com", 8080)
        );
        assert_eq!(
            norm(&[a(b"a.com:8080"), GET, ROOT], Some(8080)),
            ok("a.com", 8080)
        );
        assert_eq!(
            norm(&[a(b"a.com:"), GET, ROOT], Some(8080)),
            ok("a.com", 8080)
        );
        assert_eq!(
            norm(&[a(b"a.com:80"), GET, ROOT], Some(8080)),
            Err(Reason::PortMismatch)
        );
        assert_eq!(
            norm(&[a(b"a.com:8080"), GET, ROOT], Some(80)),
            Err(Reason::PortMismatch)
        );
        // Unknown connection port: the authority's, then the scheme's.
        assert_eq!(norm(&[a(b"a.com:81"), GET, ROOT], None), ok("a.com", 81));
        assert_eq!(norm(&[a(b"a.com"), GET, ROOT], None), ok("a.com", 80));
        assert_eq!(
            norm(&[a(b"a.com"), GET, ROOT, (b":scheme", b"https")], None),
            ok("a.com", 443)
        );
    }

    #[test]
    fn repeated_authorities() {
        let p = |k: &'static [u8], v: &'static [u8]| (k, v);
        // Same host, one with the connection's port: one authority.
        assert_eq!(
            norm(
                &[
                    p(b":authority", b"a.com"),
                    p(b"host", b"A.com.:80"),
                    GET,
                    ROOT
                ],
                Some(80)
            ),
            Ok(("a.com".into(), 80))
        );
        // The later value's port still has to be the connection's.
        assert_eq!(
            norm(
                &[
                    p(b":authority", b"a.com"),
                    p(b"host", b"a.com:81"),
                    GET,
                    ROOT
                ],
                Some(80)
            ),
            Err(Reason::PortMismatch)
        );
        for second in [&b"b.com"[..], b"a.com:81", b"a..com"] {
            assert_eq!(
                norm(
                    &[p(b":authority", b"a.com:80"), (b"host", second), GET, ROOT],
                    Some(80)
                ),
                Err(Reason::DuplicateAuthority)
            );
        }
        assert_eq!(norm(&[GET, ROOT], Some(80)), Err(Reason::MissingAuthority));
        assert_eq!(
            norm(&[p(b":authority", b""), GET, ROOT], Some(80)),
            Err(Reason::MissingAuthority)
        );
    }

    #[test]
    fn connect_tunnels_to_the_authoritys_port() {
        let c = (&b":method"[..], &b"CONNECT"[..]);
        let pairs = [(&b":authority"[..], &b"a.com:443"[..]), c];
        let pairs: &[_] = &pairs;
        let v = view(&pairs);
        let n = normalize_http(&v, Some(15001), 4096).unwrap();
        assert_eq!((n.port, n.path), (443, None));
        assert_eq!(n.method, Method::CONNECT);
        let pairs = [(&b":authority"[..], &b"a.com"[..]), c];
        let pairs: &[_] = &pairs;
        let v = view(&pairs);
        assert_eq!(
            normalize_http(&v, Some(80), 4096).err(),
            Some(Reason::InvalidAuthority)
        );
        // Any other method needs a path.
        let pairs = [(&b":authority"[..], &b"a.com"[..]), GET];
        let pairs: &[_] = &pairs;
        let v = view(&pairs);
        assert_eq!(
            normalize_http(&v, Some(80), 4096).err(),
            Some(Reason::Path(PathProblem::NotAbsolute))
        );
    }

    #[test]
    fn a_named_authority_header_is_the_only_one_read() {
        // nginx with ngx_wasm_module: `:authority` is the server's name and
        // port; the client's `Host` names the destination.
        let pairs: &[(&[u8], &[u8])] = &[
            (b":authority", b"egress.local:8080"),
            (b"Host", b"httpbin.org"),
            GET,
            (b":path", b"/get"),
        ];
        let named = scan_headers(&pairs, Some(b"host"));
        assert_eq!(named.authority, Some(&b"httpbin.org"[..]));
        assert!(!named.authority_conflict);
        // Envoy's reading sees two hosts.
        assert!(scan_headers(&pairs, None).authority_conflict);
        // The named header repeated is held to the same rules.
        let pairs: &[(&[u8], &[u8])] = &[(b"host", b"a.com"), (b"HOST", b"b.com"), GET];
        assert!(scan_headers(&pairs, Some(b"host")).authority_conflict);
        // Absent: no authority (the caller does not fall back either).
        let pairs: &[(&[u8], &[u8])] = &[(b":authority", b"a.com"), GET];
        assert_eq!(scan_headers(&pairs, Some(b"host")).authority, None);
        assert_eq!(
            scan_headers(&pairs, Some(b":authority")).authority,
            Some(&b"a.com"[..])
        );
    }

    #[test]
    fn paths_over_the_limit_are_refused_unread() {
        let long = [b"/".as_slice(), &[b'a'; 99]].concat();
        let with_query = [long.as_slice(), b"?q=", &[b'x'; 500]].concat();
        for (path, limit, ok) in [
            (&long[..], 100, true),
            (&long[..], 99, false),
            // The query does not count.
            (&with_query[..], 100, true),
            (&with_query[..], 99, false),
            // Not even a bad byte past the limit is read.
            (&[long.as_slice(), b"\\"].concat()[..], 100, false),
        ] {
            let pairs: &[(&[u8], &[u8])] = &[(b":authority", b"a.com"), GET, (b":path", path)];
            let v = view(&pairs);
            let got = normalize_http(&v, Some(80), limit).map(|n| n.path.map(<[u8]>::len));
            if ok {
                assert_eq!(got, Ok(Some(100)), "{limit}");
            } else {
                assert_eq!(
                    got.err(),
                    Some(Reason::Path(PathProblem::TooLong)),
                    "{limit}"
                );
            }
        }
    }

    #[test]
    fn long_authorities_are_refused_unread() {
        // 253-byte names with a trailing dot and a port are the longest valid.
        let name = [
            [b'a'; 63].as_slice(),
            b".",
            &[b'b'; 63],
            b".",
            &[b'c'; 63],
            b".",
            &[b'd'; 61],
        ]
        .concat();
        assert_eq!(name.len(), 253);
        let longest = [name.as_slice(), b".:65535"].concat();
        assert_eq!(longest.len(), crate::host::MAX_AUTHORITY_LEN);
        assert!(crate::host::parse_authority(&longest).is_ok());
        let over = [name.as_slice(), b".:065535"].concat();
        assert!(crate::host::parse_authority(&over).is_err());
        let huge = vec![b'a'; 60 * 1024];
        let pairs: &[(&[u8], &[u8])] = &[(b":authority", &huge), GET, (b":path", b"/")];
        let v = view(&pairs);
        assert_eq!(
            normalize_http(&v, Some(80), 4096).err(),
            Some(Reason::InvalidAuthority)
        );
    }

    #[test]
    fn plain_authorities_agree_with_parse_authority() {
        let labels: &[&[u8]] = &[
            b"a", b"api", b"A", b"0", b"12", b"0x1f", b"x1", b"-a", b"_b", b"a-", b"", b"\xff",
            b"[::1]", b"::1", b"1", b"255", b"256",
        ];
        let ports: &[&[u8]] = &[
            b"", b":", b":80", b":0", b":65535", b":65536", b":8a", b":080",
        ];
        let mut n = 0;
        for a in labels {
            for b in labels {
                for sep in [&b"."[..], b"", b".."] {
                    for end in [&b""[..], b"."] {
                        for p in ports {
                            let raw = [*a, sep, *b, end, *p].concat();
                            if let Some(fast) = plain_authority(&raw) {
                                n += 1;
                                let slow = crate::host::parse_authority(&raw).unwrap();
                                assert_eq!(fast.host.as_bytes(), slow.host.as_bytes(), "{raw:?}");
                                assert_eq!(fast.port, slow.port, "{raw:?}");
                            }
                        }
                    }
                }
            }
        }
        assert!(n > 100, "{n}");
        let long = [&[b'a'; 64][..], b".com"].concat();
        assert!(plain_authority(&long).is_none());
        assert!(crate::host::parse_authority(&long).is_err());
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
        assert_eq!(Method::parse(b"CONNECT"), Ok(Method::CONNECT));
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

    #[test]
    fn sni_states() {
        assert!(matches!(SniState::from_raw(None), SniState::Absent));
        assert!(matches!(SniState::from_raw(Some(b"")), SniState::Absent));
        assert!(matches!(
            SniState::from_raw(Some(b"a..b")),
            SniState::Invalid
        ));
        assert!(matches!(
            SniState::from_raw(Some(b"0x7f.1")),
            SniState::Invalid
        ));
        assert!(matches!(
            SniState::from_raw(Some(b"A.com")),
            SniState::Valid(_)
        ));
    }
}
