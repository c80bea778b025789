//! Host patterns: `example.com`, `*.example.com`, `**.example.com`.

use std::net::IpAddr;

use egress_table::spec::{HostKind, HostPattern};

use crate::diag::Diagnostic;
use crate::source::Span;

/// The ASCII (IDNA, punycode) form of a non-ASCII host pattern, mapped as
/// UTS #46 says (lower-cased, normalised, each non-ASCII label `xn--`
/// encoded): a suggestion for a diagnostic, so `None` unless the result is
/// a valid host name. A leading `*.` or `**.` is kept.
fn idna(host: &str) -> Option<String> {
    let (wildcard, name) = ["**.", "*."]
        .into_iter()
        .find_map(|w| host.strip_prefix(w).map(|rest| (w, rest)))
        .unwrap_or(("", host));
    let ascii = ::idna::domain_to_ascii(name).ok()?;
    egress_table::format::is_normalized_host(ascii.as_bytes()).then(|| format!("{wildcard}{ascii}"))
}

/// Validates and normalises a host pattern.
pub fn host_pattern(raw: &str, span: Span) -> Result<HostPattern, Diagnostic> {
    let err = |msg: String| Diagnostic::error("E0316", span, msg);
    not_a_host(raw, span)?;
    let lower = raw.to_ascii_lowercase();
    let (kind, name) = split_wildcard(&lower);
    if name.contains('*') {
        return Err(misplaced_wildcard(raw, &lower, span));
    }
    if kind == HostKind::Exact
        && let Some(h) = egress_table::request::normalize_host(name.as_bytes())
    {
        return Ok(HostPattern {
            kind,
            name: String::from_utf8_lossy(h.as_bytes()).into_owned(),
        });
    }
    if name.is_empty() {
        return Ok(HostPattern {
            kind,
            name: String::new(),
        });
    }
    let stripped = name.strip_suffix('.').unwrap_or(name);
    if egress_table::format::is_normalized_host(stripped.as_bytes()) {
        if kind != HostKind::Exact && stripped.parse::<IpAddr>().is_ok() {
            return Err(err(format!("wildcard on an IP address in \"{raw}\""))
                .label("wildcards apply to names")
                .help("list the addresses, or use a `tcp` destination with `cidr`"));
        }
        return Ok(HostPattern {
            kind,
            name: stripped.to_owned(),
        });
    }
    Err(invalid_name(raw, name, stripped, span))
}

/// Rejects what is not a host name at all: empty (E0316), non-ASCII
/// (E0315), a URL (E0318) or a host with a port (E0317).
fn not_a_host(raw: &str, span: Span) -> Result<(), Diagnostic> {
    let err = |msg: String| Diagnostic::error("E0316", span, msg);
    if raw.is_empty() {
        return Err(err("empty host name".into()).label("write a host such as \"example.com\""));
    }
    if !raw.is_ascii() {
        let help = match idna(raw) {
            Some(ascii) => format!("write \"{ascii}\", the IDNA (punycode) form: the proxy only ever sees that form"),
            None => "write the IDNA (punycode) form, e.g. \"xn--bcher-kva.example\" for \"bücher.example\"; the proxy only ever sees that form".to_owned(),
        };
        return Err(
            Diagnostic::error("E0315", span, format!("host \"{raw}\" is not ASCII"))
                .label("non-ASCII host names must be written in punycode")
                .help(help),
        );
    }
    if let Some((scheme, rest)) = raw.split_once("://") {
        let host = rest.split(['/', '?']).next().unwrap_or(rest);
        return Err(Diagnostic::error("E0318", span, format!("host \"{raw}\" includes a scheme"))
            .label("a destination names a host, not a URL")
            .help(format!("write destination \"{host}\" and pick the protocol: `http` for plain HTTP, `tls` for HTTPS passed through{}", if scheme == "https" { " (or originate TLS: see originate-tls)" } else { "" })));
    }
    if raw.contains('/') || raw.contains('?') {
        let host = raw.split(['/', '?']).next().unwrap_or(raw);
        return Err(
            Diagnostic::error("E0318", span, format!("host \"{raw}\" includes a path"))
                .label("paths go in rules")
                .help(format!(
                    "write destination \"{host}\" ... {{ allow GET path \"/{}\" }}",
                    raw.split_once('/').map_or("", |x| x.1)
                )),
        );
    }
    let bracketed = raw.starts_with('[');
    if !bracketed && raw.matches(':').count() == 1 {
        let (h, p) = raw.split_once(':').unwrap_or((raw, ""));
        return Err(
            Diagnostic::error("E0317", span, format!("host \"{raw}\" includes a port"))
                .label("ports are a separate clause")
                .help(format!("write destination \"{h}\" port {p}")),
        );
    }
    Ok(())
}

/// Splits a lower-cased pattern into its wildcard kind and the name after it.
fn split_wildcard(lower: &str) -> (HostKind, &str) {
    if lower == "**" {
        (HostKind::AnyDepth, "")
    } else if lower == "*" {
        (HostKind::OneLabel, "")
    } else if let Some(rest) = lower.strip_prefix("**.") {
        (HostKind::AnyDepth, rest)
    } else if let Some(rest) = lower.strip_prefix("*.") {
        (HostKind::OneLabel, rest)
    } else {
        (HostKind::Exact, lower)
    }
}

/// E0319 for a `*` anywhere but as the whole first label.
fn misplaced_wildcard(raw: &str, lower: &str, span: Span) -> Diagnostic {
    let help = if lower.starts_with('*') && !lower.starts_with("*.") && !lower.starts_with("**") {
        format!(
            "a wildcard stands for whole labels: write \"*.{}\" (one label) or \"**.{}\" (any depth)",
            lower.trim_start_matches('*').trim_start_matches('.'),
            lower.trim_start_matches('*').trim_start_matches('.')
        )
    } else {
        // The domain after the last label with a `*`: what a leading
        // wildcard could stand in front of.
        let rest = lower
            .rsplit_once('*')
            .map_or("", |(_, r)| r)
            .trim_start_matches(|c: char| c != '.')
            .trim_start_matches('.');
        if rest.is_empty() {
            "a wildcard cannot stand for the top-level domain: list each name, e.g. \"example.com\", \"example.org\"".into()
        } else {
            format!(
                "a wildcard may only be the first label: \"*.{rest}\" (exactly one more label) or \"**.{rest}\" (one or more)"
            )
        }
    };
    Diagnostic::error(
        "E0319",
        span,
        format!("wildcard in the wrong place in \"{raw}\""),
    )
    .label("`*` and `**` only as the whole first label")
    .help(help)
}

/// E0316 for a name that is not a valid host name, saying why and, when
/// there is one, the likely fix.
fn invalid_name(raw: &str, name: &str, stripped: &str, span: Span) -> Diagnostic {
    let why = if stripped.split('.').any(str::is_empty) {
        "it has an empty label (`..` or a leading dot)"
    } else if stripped.len() > 253 {
        "it is longer than 253 characters"
    } else if stripped.split('.').any(|l| l.len() > 63) {
        "a label is longer than 63 characters"
    } else if stripped
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        "it looks like an IP address but is not one"
    } else {
        "only letters, digits, `-`, `_` and `.` may appear"
    };
    // A likely fix: the empty labels dropped, or the offending characters.
    let prefix = raw.get(..raw.len() - name.len()).unwrap_or("");
    let joined = stripped
        .split('.')
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(".");
    let fix = if stripped.split('.').any(str::is_empty)
        && egress_table::format::is_normalized_host(joined.as_bytes())
    {
        Some(format!("write \"{prefix}{joined}\""))
    } else if stripped.contains(' ') {
        Some("host names have no spaces".to_owned())
    } else {
        None
    };
    Diagnostic::error("E0316", span, format!("invalid host name \"{raw}\""))
        .label(why)
        .maybe_help(fix)
}

/// Whether host pattern `p` matches host `name` (normalised, as in
/// [`egress_table::request::normalize_host`]): the same name, or a wildcard
/// (which never matches an IP address) over it.
pub fn pattern_matches(p: &HostPattern, name: &str) -> bool {
    if p.kind == HostKind::Exact {
        return p.name == name;
    }
    if name.parse::<IpAddr>().is_ok() {
        return false;
    }
    match p.kind {
        HostKind::Exact => false,
        HostKind::OneLabel if p.name.is_empty() => !name.contains('.'),
        HostKind::AnyDepth if p.name.is_empty() => true,
        HostKind::OneLabel => name.split_once('.').is_some_and(|(_, rest)| rest == p.name),
        HostKind::AnyDepth => {
            name.len() > p.name.len()
                && name.ends_with(&p.name)
                && name.as_bytes().get(name.len() - p.name.len() - 1) == Some(&b'.')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idna_suggestions() {
        assert_eq!(
            idna("bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(idna("例え.jp").as_deref(), Some("xn--r8jz45g.jp"));
        assert_eq!(
            idna("*.Bücher.example").as_deref(),
            Some("*.xn--bcher-kva.example")
        );
        assert_eq!(
            idna("**.münchen.de").as_deref(),
            Some("**.xn--mnchen-3ya.de")
        );
        // Not a valid host name in any form: no suggestion.
        assert_eq!(idna("b\u{fc} cher.de"), None);
        assert_eq!(idna("bücher.example."), None);
    }
}
