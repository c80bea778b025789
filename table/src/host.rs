//! Host names and addresses: what a valid, normalised host is, and how the
//! filter turns an `:authority` or SNI into one. Nothing here allocates.
//!
//! A normalised host is one of:
//! - a DNS name: lower-case ASCII labels of letters, digits, `-` and `_`,
//!   1–63 bytes each, at most 253 in all, no trailing dot, and **not ending
//!   in a number** (below);
//! - an IPv4 address in dotted-quad form without leading zeros
//!   (`169.254.169.254`);
//! - an IPv6 address in RFC 5952 canonical form (`2001:db8::1`), never an
//!   IPv4-mapped one (`::ffff:a.b.c.d` is written as the IPv4 address).
//!
//! **Ends in a number.** The URL Standard (WHATWG, "host parsing", the
//! *ends in a number* checker) treats a host whose last label is all digits,
//! or `0x` followed by hex digits, as an IPv4 address in one of the legacy
//! `inet_aton` forms: `0xa9fea9fe`, `0xa9.0xfe.0xa9.0xfe`, `2852039166`,
//! `0251.0376.0251.0376` and `169.254.43518` all name 169.254.169.254 to
//! browsers, to many resolvers (glibc's `getaddrinfo`) and to HTTP clients.
//! Such a host is only accepted in the canonical dotted-quad form; every
//! other numeric form is refused, so that no spelling of an address can pass
//! as a name (and match `**`) or dodge a rule written for the address.
//!
//! **IPv4-mapped IPv6** (`::ffff:169.254.169.254`, RFC 4291 §2.5.5.2) reaches
//! the IPv4 host on dual-stack sockets, so it is folded to the IPv4 address.

use core::fmt::{self, Write};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// Whether the last label of a host (without trailing dot) is a number in
/// the URL Standard's sense: all decimal digits, or `0x`/`0X` followed by
/// hex digits (possibly none).
pub fn ends_in_number(host: &[u8]) -> bool {
    let last = host.rsplit(|&b| b == b'.').next().unwrap_or(host);
    if !last.is_empty() && last.iter().all(u8::is_ascii_digit) {
        return true;
    }
    match last {
        [b'0', b'x' | b'X', rest @ ..] => rest.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    }
}

/// Folds an IPv4-mapped IPv6 address to IPv4; other addresses are unchanged.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Whether `s` is a normalised host (see the module docs). One pass over a
/// name; only a host with a colon is parsed as IPv6, and only one whose last
/// label is a number as IPv4 (the table's loader checks every host name, so
/// this is on the configure path).
pub fn is_normalized_host(s: &[u8]) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    if s.contains(&b':') {
        // Only an IPv6 address has a colon; it must be canonical.
        return core::str::from_utf8(s).is_ok_and(|text| {
            text.parse::<Ipv6Addr>()
                .is_ok_and(|v6| v6.to_ipv4_mapped().is_none() && v6.to_string() == text)
        });
    }
    let mut label = 0usize;
    for &b in s {
        if b == b'.' {
            if label == 0 {
                return false;
            }
            label = 0;
        } else if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' {
            label += 1;
            if label > 63 {
                return false;
            }
        } else {
            return false;
        }
    }
    if label == 0 {
        return false;
    }
    // A name that ends in a number is an address: only the canonical
    // dotted quad is one (`1.2.3`, `999.1.1.1`, `0x7f.1`, `0xa9fea9fe` are
    // legacy forms, refused). Its bytes are ASCII, so the text is too.
    !ends_in_number(s) || core::str::from_utf8(s).is_ok_and(|text| text.parse::<Ipv4Addr>().is_ok())
}

/// Normalises a host name: lower case, one trailing dot removed, IPv6
/// literals (with or without brackets) in canonical form and IPv4-mapped
/// ones folded to IPv4; then checks it with [`is_normalized_host`].
pub fn normalize_host(raw: &[u8]) -> Option<HostBuf> {
    // A name of 253 bytes and its trailing dot; anything longer is refused
    // unread (an IPv6 literal is shorter).
    if raw.len() > 254 {
        return None;
    }
    let mut out = HostBuf::new();
    let inner = raw.strip_prefix(b"[").and_then(|r| r.strip_suffix(b"]"));
    if let Some(v6) = inner.or_else(|| raw.contains(&b':').then_some(raw)) {
        let addr: Ipv6Addr = core::str::from_utf8(v6).ok()?.parse().ok()?;
        match addr.to_ipv4_mapped() {
            Some(v4) => write!(out, "{v4}").ok()?,
            None => write!(out, "{addr}").ok()?,
        }
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

/// The longest `:authority` that can be valid: a 253-byte name, its
/// trailing dot, `:` and five port digits (a bracketed IPv6 address is
/// shorter). Longer text is refused before it is scanned, so a 60 KiB `Host`
/// costs no more than a short bad one.
pub const MAX_AUTHORITY_LEN: usize = 253 + 1 + 1 + 5;

/// Parses a decimal port 1–65535.
pub fn parse_port(p: &[u8]) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = p.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).ok().filter(|&n| n != 0)
}

/// An `:authority` split into a normalised host and its port, if it names
/// one. An empty port (`httpbin.org:`) names none (RFC 3986 §3.2.3: "URI
/// producers and normalizers should omit the port component and its ":"
/// delimiter if port is empty").
#[derive(Debug, Clone, Copy)]
pub struct Authority {
    /// The host, normalised.
    pub host: HostBuf,
    /// The port, if the authority names one.
    pub port: Option<u16>,
}

/// Splits an `:authority` value into a normalised host and an optional port.
/// `[v6]:port` is understood; userinfo (`user@host`) and anything that is
/// not a valid host are refused (`Err(())`; the caller knows which reason).
#[expect(
    clippy::result_unit_err,
    reason = "one failure mode; the caller turns it into its own reason"
)]
pub fn parse_authority(raw: &[u8]) -> Result<Authority, ()> {
    if raw.len() > MAX_AUTHORITY_LEN {
        return Err(());
    }
    let (host, port) = if raw.first() == Some(&b'[') {
        let close = raw.iter().position(|&b| b == b']').ok_or(())?;
        let (h, rest) = raw.split_at(close + 1);
        let port = match rest {
            [] => None,
            [b':', p @ ..] => Some(p),
            _ => return Err(()),
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
        Some(p) => Some(parse_port(p).ok_or(())?),
    };
    let host = normalize_host(host).ok_or(())?;
    Ok(Authority { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(s: &str) -> Option<(String, Option<u16>)> {
        parse_authority(s.as_bytes()).ok().map(|a| {
            (
                String::from_utf8_lossy(a.host.as_bytes()).into_owned(),
                a.port,
            )
        })
    }

    #[test]
    fn authorities() {
        let ok = |h: &str, p| Some((h.to_owned(), p));
        assert_eq!(auth("HTTPBin.org"), ok("httpbin.org", None));
        assert_eq!(auth("httpbin.org."), ok("httpbin.org", None));
        assert_eq!(auth("httpbin.org.:8080"), ok("httpbin.org", Some(8080)));
        assert_eq!(auth("httpbin.org:"), ok("httpbin.org", None));
        assert_eq!(auth("[::1]:443"), ok("::1", Some(443)));
        assert_eq!(auth("[2001:DB8:0:0::1]"), ok("2001:db8::1", None));
        assert_eq!(auth("10.1.2.3:80"), ok("10.1.2.3", Some(80)));
        assert_eq!(auth("[::ffff:a9fe:a9fe]"), ok("169.254.169.254", None));
        assert_eq!(
            auth("[::ffff:169.254.169.254]:80"),
            ok("169.254.169.254", Some(80))
        );
        for bad in [
            "",
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
        ] {
            assert_eq!(auth(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_are_addresses_or_nothing() {
        // Every legacy spelling of 169.254.169.254 (and other numeric forms) is refused.
        for bad in [
            "0xa9fea9fe",
            "0xA9FEA9FE",
            "0xa9.0xfe.0xa9.0xfe",
            "2852039166",
            "0251.0376.0251.0376",
            "169.254.43518",
            "169.254.169.254.0x0",
            "0x7f.1",
            "1.2.3",
            "999.1.1.1",
            "010.1.1.1",
            "example.0x",
            "example.123",
        ] {
            assert_eq!(auth(bad), None, "{bad}");
            assert!(!is_normalized_host(bad.as_bytes()), "{bad}");
        }
        // Names that merely contain digits or hex-looking labels stay names.
        for ok in [
            "0x.example.com",
            "123.example.com",
            "a.0xg",
            "x0a.com",
            "1a",
        ] {
            assert!(auth(ok).is_some(), "{ok}");
        }
        assert!(is_normalized_host(b"169.254.169.254"));
        assert!(!is_normalized_host(b"::ffff:169.254.169.254"));
        assert!(is_normalized_host(b"2001:db8::1"));
    }

    /// The definition in the module docs, written the plain way (each
    /// reading tried in turn): the one-pass check must agree with it.
    fn plain_definition(s: &[u8]) -> bool {
        if s.is_empty() || s.len() > 253 {
            return false;
        }
        if let Ok(text) = core::str::from_utf8(s) {
            if let Ok(v6) = text.parse::<Ipv6Addr>() {
                return v6.to_ipv4_mapped().is_none() && v6.to_string() == text;
            }
            if text.parse::<Ipv4Addr>().is_ok() {
                return true;
            }
        }
        s.split(|&b| b == b'.').all(|label| {
            (1..=63).contains(&label.len())
                && label.iter().all(|&b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                })
        }) && !ends_in_number(s)
    }

    proptest::proptest! {
        #[test]
        fn the_one_pass_check_is_the_definition(
            s in "[a-fx0-9.:_A-]{0,24}|([a-z0-9]{1,3}\\.){0,4}[0-9a-z]{0,4}|[0-9a-f:.]{2,40}",
        ) {
            proptest::prop_assert_eq!(is_normalized_host(s.as_bytes()), plain_definition(s.as_bytes()), "{}", s);
        }
    }

    #[test]
    fn the_one_pass_check_agrees_on_edges() {
        let long_label = "a".repeat(64);
        let long_name = ["a"; 127].join(".");
        for s in [
            "",
            ".",
            "a.",
            ".a",
            "a..b",
            "a",
            "1",
            "1.2.3.4",
            "01.2.3.4",
            "1.2.3.4.5",
            "256.1.1.1",
            "0x1",
            "a.0x",
            "::",
            "::1",
            "::ffff:1.2.3.4",
            "2001:DB8::1",
            "2001:db8:0::1",
            "1:2:3:4:5:6:7:8",
            "a:b",
            "[::1]",
            "a_b-c.d",
            &long_label,
            &long_name,
            "é.com",
        ] {
            assert_eq!(
                is_normalized_host(s.as_bytes()),
                plain_definition(s.as_bytes()),
                "{s:?}"
            );
        }
    }
}
