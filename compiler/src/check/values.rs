//! Destination values: ports, port ranges, CIDRs and durations.

use std::net::IpAddr;

use egress_table::spec::{Cidr, PortRange};

use crate::diag::Diagnostic;
use crate::source::{Span, Spanned};

/// Checks a port number (E0312).
pub(super) fn parse_port(s: &Spanned<String>) -> Result<u16, Diagnostic> {
    match s.value.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        Ok(p) => Err(
            Diagnostic::error("E0312", s.span, format!("port {p} is out of range"))
                .label("ports are 1–65535"),
        ),
        Err(_) => Err(
            Diagnostic::error("E0312", s.span, format!("`{}` is not a port", s.value))
                .label("expected a number from 1 to 65535, or a range such as 8000-8999"),
        ),
    }
}

/// Checks a port or a port range `LO-HI` (E0312, E0313).
pub(super) fn port_range(s: &Spanned<String>) -> Result<PortRange, Diagnostic> {
    if let Some((a, b)) = s.value.split_once('-') {
        let lo = parse_port(&Spanned::new(a.to_owned(), s.span))?;
        let hi = parse_port(&Spanned::new(b.to_owned(), s.span))?;
        if lo > hi {
            return Err(Diagnostic::error(
                "E0313",
                s.span,
                format!("port range {lo}-{hi} is backwards"),
            )
            .label("the first port must not exceed the second")
            .help(format!("write {hi}-{lo}")));
        }
        return Ok(PortRange { lo, hi });
    }
    parse_port(s).map(|p| PortRange { lo: p, hi: p })
}

/// Validates a CIDR (bare addresses are /32 or /128).
pub fn cidr(s: &Spanned<String>) -> Result<Cidr, Diagnostic> {
    let (addr, len) = match s.value.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s.value.as_str(), None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        Diagnostic::error(
            "E0321",
            s.span,
            format!("`{}` is not an address range", s.value),
        )
        .label("expected e.g. 140.82.112.0/20 or \"2001:db8::/32\"")
        .maybe_help(if addr.bytes().all(|b| b.is_ascii_digit() || b == b'.') && addr.split('.').count() < 4 {
            Some("an IPv4 address has four parts: write e.g. 10.0.0.0/24".to_owned())
        } else if addr.contains(|c: char| c.is_ascii_alphabetic() && !c.is_ascii_hexdigit()) {
            Some(format!("`cidr` takes IP addresses; host names are strings on a tls or http destination: destination \"{addr}\" port 443 tls"))
        } else {
            None
        })
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(p) if p <= max => p,
            _ => {
                return Err(Diagnostic::error(
                    "E0321",
                    s.span,
                    format!("invalid prefix length `/{l}`"),
                )
                .label(format!("expected 0–{max}")));
            }
        },
    };
    // `::ffff:a.b.c.d/n` (n ≥ 96) is the IPv4 range a.b.c.d/(n − 96): the
    // filter folds IPv4-mapped destination addresses to IPv4.
    let (ip, prefix) = match ip {
        IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => (
            IpAddr::V4(
                v6.to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ),
            prefix - 96,
        ),
        _ => (ip, prefix),
    };
    let network = mask(ip, prefix);
    if network != ip {
        return Err(Diagnostic::error(
            "E0321",
            s.span,
            format!("{} has bits set below the /{prefix} prefix", s.value),
        )
        .label("host bits must be zero")
        .help(format!("did you mean {network}/{prefix}?")));
    }
    Ok(Cidr { addr: ip, prefix })
}

/// W0423 for an IPv4-mapped IPv6 address or range written in a policy.
pub(super) fn mapped_warning(span: Span, written: &str, v4: &str) -> Diagnostic {
    let what = if v4.contains('/') { "range" } else { "address" };
    Diagnostic::warning("W0423", span, format!("`{written}` is the IPv4 {what} {v4}"))
        .label("an IPv4-mapped IPv6 address")
        .note("the filter folds IPv4-mapped addresses (::ffff:a.b.c.d, in Host, SNI or as a destination address) to IPv4, so this entry is decided as the IPv4 one")
        .help(format!("write {v4}"))
}

/// The address with the bits below `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// Parses `3s`, `500ms`, `1m`, `1.5s` to milliseconds.
pub(super) fn duration_ms(s: &Spanned<String>) -> Result<u64, Diagnostic> {
    let v = s.value.as_str();
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        Diagnostic::error("E0336", s.span, format!("`{v}` is not a duration"))
            .label("expected e.g. 3s, 500ms or 1m")
    })?;
    let factor = match unit {
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => {
            let help = match unit {
                "sec" | "secs" | "second" | "seconds" => Some(format!("write {num}s")),
                "min" | "mins" | "minute" | "minutes" => Some(format!("write {num}m")),
                "hr" | "hrs" | "hour" | "hours" => Some(format!("write {num}h")),
                "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => {
                    Some(format!("write {num}ms"))
                }
                "d" | "day" | "days" => {
                    Some("the largest unit is `h`, and a timeout is at most 24h".to_owned())
                }
                "us" | "\u{b5}s" | "ns" => Some("the smallest unit is `ms`".to_owned()),
                _ => None,
            };
            return Err(Diagnostic::error(
                "E0336",
                s.span,
                format!("unknown duration unit in `{v}`"),
            )
            .label("units are ms, s, m and h")
            .maybe_help(help));
        }
    };
    let ms = n * factor;
    if !(1.0..=86_400_000.0).contains(&ms) {
        return Err(
            Diagnostic::error("E0336", s.span, format!("timeout `{v}` is out of range"))
                .label("between 1ms and 24h"),
        );
    }
    Ok(ms as u64)
}
