//! The indexed overlap lints (W0401–W0404) against the pairwise
//! comparisons they replace, on random policy sets.

use proptest::prelude::*;

use super::overlap::{overlaps_indexed, overlaps_pairwise};
use super::*;
use crate::Sources;

/// W0403, each host compared with every one before it.
fn duplicate_hosts_pairwise(p: &CPolicy, diags: &mut Vec<Diagnostic>) {
    let mut seen: Vec<(&HostPattern, Protocol, &[PortRange], Span, usize)> = Vec::new();
    for (i, d) in p.dests.iter().enumerate() {
        for t in &d.targets {
            if let Target::Host(h) = &t.value {
                if let Some((_, _, _, prev, j)) = seen.iter().find(|(h2, pr, ports, _, _)| {
                    *h2 == h && *pr == d.protocol && overlap(ports, &d.ports)
                }) {
                    diags.push(listed_twice(h, t.span, *prev, *j == i));
                } else {
                    seen.push((h, d.protocol, &d.ports, t.span, i));
                }
            }
        }
    }
}

/// W0404's groups (wildcard, file, entries), each exact host compared
/// with every wildcard.
fn wildcard_groups_pairwise(c: &Checked, broken: &[bool]) -> Vec<Diagnostic> {
    let (exact, wild) = host_targets(c, broken);
    let mut groups: Vec<WildcardGroup<'_>> = Vec::new();
    for (h, d, mode, span) in &exact {
        let Some(wi) = wild.iter().position(|(w, wd, wmode, _)| {
            wmode == mode
                && wd.protocol == d.protocol
                && overlap(&wd.ports, &d.ports)
                && crate::check::pattern_matches(w, &h.name)
        }) else {
            continue;
        };
        match groups
            .iter_mut()
            .find(|(w, f, _)| *w == wi && *f == span.file)
        {
            Some((_, _, entries)) if entries.iter().any(|(e, _)| e == h) => {}
            Some((_, _, entries)) => entries.push((h, *span)),
            None => groups.push((wi, span.file, vec![(h, *span)])),
        }
    }
    // Compared by what the warnings name: the wildcard's span, the file
    // and the entries' spans.
    groups
        .into_iter()
        .map(|(wi, _, entries)| {
            let mut d = Diagnostic::warning("W0404", wild[wi].3, "");
            for (_, s) in entries {
                d = d.with_label(s, "");
            }
            d
        })
        .collect()
}

/// The spans [`lint_wildcards`]' warnings name, as
/// [`wildcard_groups_pairwise`] gives them.
fn wildcard_spans(diags: &[Diagnostic]) -> Vec<Diagnostic> {
    diags
        .iter()
        .map(|w| {
            let mut d = Diagnostic::warning("W0404", w.labels.last().unwrap().span, "");
            d = d.with_label(w.span, "");
            for l in &w.labels[..w.labels.len() - 1] {
                d = d.with_label(l.span, "");
            }
            d
        })
        .collect()
}

const HOSTS: &[&str] = &[
    "example.com",
    "a.example.com",
    "b.example.com",
    "x.a.example.com",
    "a.example.org",
    "localhost",
    "10.0.0.1",
    "*.example.com",
    "**.example.com",
    "*.a.example.com",
    "**.a.example.com",
    "*",
    "**",
    "*.localhost",
];
const PORTS: &[&str] = &[
    "",
    "port 443",
    "port 80",
    "port 80, 443",
    "port 8000-8100",
    "port 8080",
];
const METHODS: &[&str] = &[
    "",
    "GET",
    "POST",
    "GET, POST",
    "any",
    "CONNECT",
    "any except GET",
];
const PATHS: &[&str] = &[
    "",
    "path \"/a\"",
    "path prefix \"/a\"",
    "path prefix \"/a/\"",
    "path \"/a/b\"",
    "path prefix \"/\"",
    "path \"/a/{*}\"",
    "path suffix \".json\"",
    "path \"/a\", \"/b\"",
    "path prefix \"/a/\", prefix \"/b\"",
];
const SOURCES: &[&str] = &[
    "",
    "from namespace \"n1\"",
    "from serviceaccount \"n1/s\"",
    "from principal \"cluster.local/ns/n1/sa/s\"",
    "from principal \"cluster.local/ns/n2/sa/s\"",
    "from namespace \"n1\", \"n2\"",
    "from principal \"*\"",
];
const EXCEPTS: &[&str] = &[
    "",
    "except path \"/a/x\"",
    "except path \"/a/x\", \"/a/y\"",
    "except from namespace \"n2\"",
    "except from serviceaccount \"n1/s\"",
];
const HEADERS: &[&str] = &[
    "",
    "when header \"x-a\" present",
    "when header \"x-a\" == \"1\"",
    "when header \"x-a\" present and header \"x-b\" absent",
];

/// A rule: action, methods, paths, sources, excepts, headers (indices),
/// or `otherwise deny`.
fn rule() -> impl Strategy<Value = String> {
    // Each condition left out half the time, so that rules often
    // subsume others.
    let pick = |list: &'static [&'static str]| {
        (0..2 * list.len()).prop_map(move |i| list.get(i).copied().unwrap_or(""))
    };
    (
        0..12usize,
        pick(METHODS),
        pick(PATHS),
        pick(SOURCES),
        pick(EXCEPTS),
        pick(HEADERS),
    )
        .prop_map(|(a, m, p, s, e, h)| {
            if a == 0 {
                return "otherwise deny".to_owned();
            }
            let action = if a % 2 == 0 { "allow" } else { "deny" };
            let methods = if m.is_empty() { "any" } else { m };
            format!("{action} {methods} {p} {s} {e} {h}")
        })
}

/// A destination: hosts, ports, http (with rules) or tls.
fn dest() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(0..HOSTS.len(), 1..4),
        0..PORTS.len(),
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(rule(), 0..10)),
    )
        .prop_map(|(hosts, port, http, rules)| {
            let hosts: Vec<String> = hosts.iter().map(|&h| format!("\"{}\"", HOSTS[h])).collect();
            let proto = if http { "http" } else { "tls" };
            let block = match rules {
                Some(rules) if http => format!("{{\n    {}\n  }}", rules.join("\n    ")),
                _ => String::new(),
            };
            format!(
                "  destination {} {} {proto} {block}\n",
                hosts.join(", "),
                PORTS[port]
            )
        })
}

/// A policy file: one or two policies, in either mode, named
/// `FILE-<n>` (`FILE` for the file's name).
fn file() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (any::<bool>(), proptest::collection::vec(dest(), 0..6)),
        1..3,
    )
    .prop_map(|policies| {
        let mut out = String::new();
        for (i, (audit, dests)) in policies.iter().enumerate() {
            let mode = if *audit { "audit" } else { "enforce" };
            out.push_str(&format!(
                "policy \"FILE-{i}\" {{\n  mode {mode}\n{}}}\n",
                dests.concat()
            ));
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn indexed_overlap_lints_match_pairwise(files in proptest::collection::vec(file(), 1..3)) {
        let mut sources = Sources::new();
        for (i, text) in files.iter().enumerate() {
            sources.add(format!("f{i}.egress"), text.replace("FILE", &format!("f{i}")));
        }
        let (c, diags) = crate::check(&sources);
        let errors: Vec<Diagnostic> = diags.iter().filter(|d| d.is_error()).cloned().collect();
        let errors = error_starts(&errors);
        let broken: Vec<bool> = c.policies.iter().map(|p| has_error(&errors, p.span)).collect();
        for p in &c.policies {
            for d in &p.dests {
                prop_assert_eq!(overlaps_indexed(&d.rules), overlaps_pairwise(&d.rules));
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            lint_duplicate_hosts(p, &mut a);
            duplicate_hosts_pairwise(p, &mut b);
            prop_assert_eq!(a, b);
        }
        let mut w = Vec::new();
        lint_wildcards(&c, &broken, &mut w);
        prop_assert_eq!(wildcard_spans(&w), wildcard_groups_pairwise(&c, &broken));
    }
}

/// `has_error` as it was: every diagnostic looked at.
#[test]
fn error_index_matches_scan() {
    let text = "policy \"a\" {\n  destination \"x.com\" port 99999 tls\n}\npolicy \"b\" {\n  destination \"y.com\" tls\n}\n";
    let mut sources = Sources::new();
    sources.add("f.egress", text);
    let (c, diags) = crate::check(&sources);
    let errors = error_starts(&diags);
    for p in &c.policies {
        let scan = diags.iter().any(|d| {
            d.is_error()
                && d.span.file == p.span.file
                && p.span.start <= d.span.start
                && d.span.start <= p.span.end
        });
        assert_eq!(has_error(&errors, p.span), scan);
    }
    assert_eq!(
        c.policies
            .iter()
            .filter(|p| has_error(&errors, p.span))
            .count(),
        1
    );
}
