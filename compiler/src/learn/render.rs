//! The learned model as policy text: a header comment (what was read and
//! skipped), one destination per learned group with its counts and every
//! generalisation in comments, and the test blocks.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::{Case, Destination, Learned, Methods, Rule, Seen, Source, Sources};
use crate::audit_log::Protocol;
use crate::fmt::quote;
use crate::learn::paths::{PathPattern, Segment, id_like};

/// At most this many examples in a comment.
const EXAMPLES: usize = 8;

fn q(s: &str) -> String {
    quote(s.as_bytes())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn seen_text(s: &Seen) -> String {
    let n = plural(s.count, "request", "requests");
    match (&s.first, &s.last) {
        (Some(f), Some(l)) if f == l => format!("{n}, at {f}"),
        (Some(f), Some(l)) => format!("{n}, first {f}, last {l}"),
        _ => n,
    }
}

/// `a, b, c and 4 more`.
fn examples<S: AsRef<str>>(items: &[S]) -> String {
    let shown: Vec<&str> = items.iter().take(EXAMPLES).map(AsRef::as_ref).collect();
    let mut s = shown.join(", ");
    if items.len() > EXAMPLES {
        let _ = write!(s, " and {} more", items.len() - EXAMPLES);
    }
    s
}

fn header(l: &Learned, min_count: usize, k: usize, out: &mut String) {
    let s = &l.summary;
    let _ = writeln!(
        out,
        "# Learned by `egressc learn` from {} ({} read: {}, {}).",
        plural(s.learned, "request", "requests"),
        plural(s.lines, "line", "lines"),
        plural(s.audit_lines, "audit line", "audit lines"),
        plural(s.other_lines, "other line", "other lines"),
    );
    if let (Some(f), Some(t)) = (&s.seen.first, &s.seen.last) {
        let _ = writeln!(out, "# Requests seen from {f} to {t}.");
    }
    if s.malformed > 0 {
        let _ = writeln!(
            out,
            "# Not learned: {} (malformed).",
            plural(s.malformed, "audit line", "audit lines")
        );
    }
    if !s.refused.is_empty() {
        let n: usize = s.refused.values().sum();
        let why: Vec<String> = s.refused.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(
            out,
            "# Not learned: {} the filter refused before any rule ({}).",
            plural(n, "request", "requests"),
            why.join(", ")
        );
    }
    if s.truncated > 0 {
        let _ = writeln!(
            out,
            "# Not learned: {} whose host or path the filter cut short.",
            plural(s.truncated, "line", "lines")
        );
    }
    for (why, n) in &s.unusable {
        let _ = writeln!(
            out,
            "# Not learned: {} with {why}.",
            plural(*n, "request", "requests")
        );
    }
    if s.denied_then > 0 {
        let _ = writeln!(
            out,
            "# {} of the learned requests were denied when logged; this policy allows them.",
            s.denied_then
        );
    }
    if !l.dropped.is_empty() {
        let what: Vec<String> = l
            .dropped
            .iter()
            .map(|d| {
                format!(
                    "{} {}:{} ({})",
                    d.protocol.as_str(),
                    d.host,
                    d.port,
                    d.count
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "# Dropped, seen fewer than {min_count} times (--min-count): {}.",
            examples(&what)
        );
    }
    let _ = writeln!(
        out,
        "# Generalisations (wildcard hosts, {{*}} and {{**}} in paths, namespaces) need {k} distinct names, values or principals; each is commented: review them."
    );
}

fn target(d: &Destination, h: &str) -> String {
    if d.protocol != Protocol::Tcp {
        return q(h);
    }
    match h.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) => q(&format!("{a}/128")),
        _ => format!("{h}/32"),
    }
}

fn sources_text(s: &Sources) -> String {
    let Sources::Only(list) = s else {
        return String::new();
    };
    let mut out = String::from(" from");
    let mut kind = "";
    for (i, src) in list.iter().enumerate() {
        let (k, v) = match src {
            Source::Principal(p) => ("principal", p),
            Source::Namespace { namespace, .. } => ("namespace", namespace),
        };
        if i > 0 {
            out.push(',');
        }
        if k != kind {
            let _ = write!(out, " {k}");
            kind = k;
        }
        let _ = write!(out, " {}", q(v));
    }
    out
}

fn source_comments(s: &Sources, k: usize, indent: &str, out: &mut String) {
    match s {
        Sources::Any { without_principal } => {
            let _ = writeln!(
                out,
                "{indent}# no source restriction: {} had no principal",
                plural(*without_principal, "request", "requests")
            );
        }
        Sources::Only(list) => {
            for src in list {
                if let Source::Namespace {
                    namespace,
                    principals,
                } = src
                {
                    let accounts: Vec<&str> = principals
                        .iter()
                        .map(|p| p.rsplit_once("/sa/").map_or(p.as_str(), |(_, sa)| sa))
                        .collect();
                    let td = principals
                        .first()
                        .map_or("", |p| super::sources::trust_domain(p));
                    let _ = writeln!(
                        out,
                        "{indent}# namespace {}: {} of it seen in trust domain {} (threshold {k}): {}; a namespace admits it in any trust domain",
                        q(namespace),
                        plural(accounts.len(), "service account", "service accounts"),
                        q(td),
                        examples(&accounts)
                    );
                }
            }
        }
    }
}

/// What a pattern's generalised positions stand for, on one line: each
/// position with its count of distinct values and a few of them; a lone
/// identifier is "an id".
fn generalised(p: &PathPattern) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for (i, vals) in &p.values {
        let rest = matches!(p.segments.get(*i), Some(Segment::Rest));
        let vals: Vec<&str> = vals.iter().map(String::as_str).collect();
        let verb = if parts.is_empty() {
            "stands for"
        } else {
            "for"
        };
        let n = i + 1;
        parts.push(match (rest, vals.len()) {
            (false, 1) if vals.iter().all(|v| id_like(v)) => {
                format!("segment {n} is an id ({})", few(&vals))
            }
            (false, 1) => format!("segment {n} was seen as {}", few(&vals)),
            (false, c) => format!("segment {n} {verb} {c} values ({})", few(&vals)),
            (true, c) => format!(
                "segment {n} ({{**}}) {verb} {} ({})",
                plural(c, "tail", "tails"),
                few(&vals)
            ),
        });
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Up to three of `items` (a long one cut to its first 16 characters),
/// then `…` when there are more.
fn few(items: &[&str]) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(3)
        .map(|v| {
            if v.chars().count() > 24 {
                format!("{}…", v.chars().take(16).collect::<String>())
            } else {
                (*v).to_owned()
            }
        })
        .collect();
    let mut s = shown.join(", ");
    if items.len() > 3 {
        s.push_str(", …");
    }
    s
}

fn rule_text(r: &Rule, alone: bool, k: usize, out: &mut String) {
    if !alone {
        let _ = writeln!(out, "    # {}", seen_text(&r.seen));
    }
    for p in &r.paths {
        if let Some(line) = generalised(p) {
            let _ = writeln!(out, "    # {}: {line}", p.text());
        }
    }
    if let Some(Methods::AnyExcept(_)) = &r.methods {
        let _ = writeln!(
            out,
            "    # any except …: a method a rule cannot name was seen, so every method but the standard ones not seen"
        );
    }
    source_comments(&r.sources, k, "    ", out);
    let mut line = String::from("    allow");
    match &r.methods {
        Some(Methods::Named(m)) => {
            let _ = write!(line, " {}", m.join(", "));
        }
        Some(Methods::AnyExcept(m)) if m.is_empty() => line.push_str(" any"),
        Some(Methods::AnyExcept(m)) => {
            let _ = write!(line, " any except {}", m.join(", "));
        }
        None => {}
    }
    if !r.paths.is_empty() {
        let ps: Vec<String> = r.paths.iter().map(|p| q(&p.text())).collect();
        let _ = write!(line, " path {}", ps.join(", "));
    }
    line.push_str(&sources_text(&r.sources));
    let _ = writeln!(out, "{line}");
}

fn destination(d: &Destination, k: usize, out: &mut String) {
    let _ = writeln!(out, "  # {}", seen_text(&d.seen));
    for h in &d.hosts {
        if h.from.is_empty() {
            continue;
        }
        let parent = h.pattern.trim_start_matches('*').trim_start_matches('.');
        let below = |n: &String| {
            n.split('.')
                .count()
                .saturating_sub(parent.split('.').count())
        };
        let depths: std::collections::BTreeSet<usize> = h.from.iter().map(below).collect();
        let (how, also) = match (h.pattern.starts_with("**."), depths.first()) {
            (false, _) => ("one label below".to_owned(), String::new()),
            (true, Some(d)) if depths.len() == 1 => (
                format!("{d} labels below"),
                format!("; `**.` also admits other depths (a pattern cannot say {d} labels)"),
            ),
            (true, _) => ("at several depths below".to_owned(), String::new()),
        };
        let _ = writeln!(
            out,
            "  # wildcard {}: {} seen {how} {parent} (threshold {k}): {}{also}",
            q(&h.pattern),
            plural(h.from.len(), "name", "names"),
            examples(&h.from)
        );
    }
    // A tls or tcp destination open to every source has no rule block.
    let implicit = d.protocol != Protocol::Http && d.rules.iter().all(|r| !r.sources.restricted());
    if implicit {
        for r in &d.rules {
            source_comments(&r.sources, k, "  ", out);
        }
    }
    let targets: Vec<String> = d.hosts.iter().map(|h| target(d, &h.pattern)).collect();
    let cidr = if d.protocol == Protocol::Tcp {
        "cidr "
    } else {
        ""
    };
    let mut line = format!(
        "  destination {cidr}{} port {} {}",
        targets.join(", "),
        d.port,
        d.protocol.as_str()
    );
    if d.rules.is_empty() || implicit {
        let _ = writeln!(out, "{line}");
        return;
    }
    line.push_str(" {");
    let _ = writeln!(out, "{line}");
    for r in &d.rules {
        rule_text(r, d.rules.len() == 1, k, out);
    }
    let _ = writeln!(out, "  }}");
}

fn tests(d: &Destination, cases: &[Case], out: &mut String) {
    if cases.is_empty() {
        return;
    }
    let first = d.hosts.first().map_or("", |h| h.pattern.as_str());
    let name = format!(
        "{first} port {} {}: observed requests and near misses",
        d.port,
        d.protocol.as_str()
    );
    let _ = writeln!(out, "\n  test {} {{", q(&name));
    for c in cases {
        if let Some(why) = &c.near_miss {
            let _ = writeln!(out, "    # near miss: {why}");
        }
        let _ = writeln!(
            out,
            "    {} => {}",
            c.request.describe(),
            if c.allow { "allow" } else { "deny" }
        );
    }
    let _ = writeln!(out, "  }}");
}

/// The policy text, unformatted.
pub(super) fn policy(
    l: &Learned,
    name: &str,
    min_count: usize,
    k: usize,
    cases: &[Vec<Case>],
) -> String {
    let mut out = String::new();
    header(l, min_count, k, &mut out);
    let _ = writeln!(out, "policy {} {{\n  default deny\n  log denied", q(name));
    for d in &l.destinations {
        out.push('\n');
        destination(d, k, &mut out);
    }
    for (d, c) in l.destinations.iter().zip(cases) {
        tests(d, c, &mut out);
    }
    let _ = writeln!(out, "}}");
    out
}

/// A policy name the language accepts: 1–128 of `A-Za-z0-9_.-`.
pub(super) fn policy_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    if clean.is_empty() {
        "learned".to_owned()
    } else {
        clean
    }
}
