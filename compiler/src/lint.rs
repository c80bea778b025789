//! Warnings (W04xx) on a checked policy set: things that compile and mean
//! something, but probably not what the author intended.

use egress_table::spec::{
    Action, HeaderSpec, HostKind, HostPattern, MethodSet, Mode, PortRange, Protocol, SourceSpec,
    Target,
};

use crate::check::{CDest, CPath, CPolicy, CRule, Checked};
use crate::diag::Diagnostic;
use crate::source::Span;

/// Whether an error was reported inside `span`.
fn has_error(diags: &[Diagnostic], span: Span) -> bool {
    diags.iter().any(|d| {
        d.is_error()
            && d.span.file == span.file
            && span.start <= d.span.start
            && d.span.start <= span.end
    })
}

/// Adds the warnings for `c` to `diags`.
///
/// `diags` holds the errors reported so far. A policy with an error was
/// checked only in part (the parser or checker dropped what it could not
/// read), so it gets no warnings here but W0411 (which reads its settings
/// only): the others reason about what is there and would describe the
/// mistake, not the policy (an "empty" block whose rule did not parse).
pub fn lint(c: &Checked, diags: &mut Vec<Diagnostic>) {
    let broken: Vec<bool> = c
        .policies
        .iter()
        .map(|p| has_error(diags, p.span))
        .collect();
    for (p, &broken) in c.policies.iter().zip(&broken) {
        lint_policy(p, broken, diags);
    }
    lint_wildcards(c, &broken, diags);
    lint_defaults(c, &broken, diags);
}

/// The warnings on one policy: its settings (W0411; only these when it is
/// `broken`), its destinations, and hosts listed twice (W0403).
fn lint_policy(p: &CPolicy, broken: bool, diags: &mut Vec<Diagnostic>) {
    if p.mode == Mode::Audit && p.log == egress_table::spec::LogSetting::None {
        diags.push(
            Diagnostic::warning("W0411", p.log_span.unwrap_or(p.name_span), "an audit policy with `log none`")
                .label("its decisions are never enforced and never logged")
                .with_label(p.name_span, "this policy is in `mode audit`")
                .help("use `log denied` (the default) or `log all` so the dry run shows something; metrics still count"),
        );
    }
    if broken {
        return;
    }
    if p.dests.is_empty() {
        diags.push(
            Diagnostic::warning("W0406", p.name_span, format!("policy \"{}\" has no destinations", p.name))
                .label("it only contributes its default")
                .help(format!("add a destination, e.g. destination \"example.com\" port 443 tls; every request it sees gets `default {}`", p.default.as_str())),
        );
    }
    if p.mode == Mode::Enforce
        && p.default == Action::Allow
        && !p.dests.is_empty()
        && p.dests
            .iter()
            .all(|d| d.rules.iter().all(|r| r.action == Action::Allow))
    {
        diags.push(
            Diagnostic::warning(
                "W0410",
                p.default_span.unwrap_or(p.name_span),
                "`default allow` with only allow rules",
            )
            .label("the rules can only allow what the default already allows")
            .help("for an allowlist use `default deny`; for a blocklist write `deny` rules"),
        );
    }
    for d in &p.dests {
        lint_dest(d, diags);
        if p.default == Action::Deny {
            for r in d.rules.iter().filter(|r| r.fallback) {
                diags.push(
                    Diagnostic::warning("W0424", r.span, "`otherwise deny` in a `default deny` policy")
                        .label("the policy's default already denies what no rule matches")
                        .with_label(p.default_span.unwrap_or(p.name_span), if p.default_span.is_some() { "default deny" } else { "default deny (no `default` written)" })
                        .help("remove it; `otherwise deny` closes a destination in a `default allow` policy"),
                );
            }
        }
    }
    lint_duplicate_hosts(p, diags);
}

/// W0403: the same host twice within a policy (same protocol, overlapping
/// ports).
fn lint_duplicate_hosts(p: &CPolicy, diags: &mut Vec<Diagnostic>) {
    let mut seen: Vec<(&HostPattern, Protocol, &[PortRange], Span, usize)> = Vec::new();
    for (i, d) in p.dests.iter().enumerate() {
        for t in &d.targets {
            if let Target::Host(h) = &t.value {
                if let Some((_, _, _, prev, j)) = seen.iter().find(|(h2, pr, ports, _, _)| {
                    *h2 == h && *pr == d.protocol && overlap(ports, &d.ports)
                }) {
                    let help = if *j == i {
                        "remove the second one"
                    } else {
                        "the rules of both destinations apply; merge them into one destination"
                    };
                    diags.push(
                        Diagnostic::warning(
                            "W0403",
                            t.span,
                            format!("host \"{h}\" is listed twice"),
                        )
                        .label("again here")
                        .with_label(*prev, "first here")
                        .help(help),
                    );
                } else {
                    seen.push((h, d.protocol, &d.ports, t.span, i));
                }
            }
        }
    }
}

/// W0404: an exact host also matched by a wildcard (across policies of the
/// same mode; `broken` policies left out).
fn lint_wildcards(c: &Checked, broken: &[bool], diags: &mut Vec<Diagnostic>) {
    let mut exact = Vec::new();
    let mut wild = Vec::new();
    for p in c
        .policies
        .iter()
        .zip(broken)
        .filter(|(_, b)| !**b)
        .map(|(p, _)| p)
    {
        for d in &p.dests {
            for t in &d.targets {
                if let Target::Host(h) = &t.value {
                    if h.kind == HostKind::Exact {
                        exact.push((h, d, p.mode, t.span))
                    } else {
                        wild.push((h, d, p.mode, t.span))
                    }
                }
            }
        }
    }
    for (h, d, mode, span) in &exact {
        if let Some((w, _, _, wspan)) = wild.iter().find(|(w, wd, wmode, _)| {
            wmode == mode
                && wd.protocol == d.protocol
                && overlap(&wd.ports, &d.ports)
                && wildcard_matches(w, &h.name)
        }) {
            diags.push(
                Diagnostic::warning("W0404", *span, format!("\"{h}\" is also matched by \"{w}\""))
                    .label("the wildcard swallows this entry")
                    .with_label(*wspan, "wildcard here")
                    .help("both destinations' rules apply to it (a deny in either wins): remove one of them, or keep both if that is what you mean"),
            );
        }
    }
}

/// W0407: enforcing policies compiled together that disagree on the
/// default (`broken` policies left out).
fn lint_defaults(c: &Checked, broken: &[bool], diags: &mut Vec<Diagnostic>) {
    let enforce: Vec<_> = c
        .policies
        .iter()
        .zip(broken)
        .filter(|(p, broken)| p.mode == Mode::Enforce && !**broken)
        .map(|(p, _)| p)
        .collect();
    if let Some(allow) = enforce.iter().find(|p| p.default == Action::Allow)
        && let Some(deny) = enforce.iter().find(|p| p.default == Action::Deny)
    {
        diags.push(
            Diagnostic::warning(
                "W0407",
                allow.default_span.unwrap_or(allow.name_span),
                format!(
                    "policies \"{}\" and \"{}\" disagree on the default",
                    allow.name, deny.name
                ),
            )
            .label("default allow")
            .with_label(
                deny.default_span.unwrap_or(deny.name_span),
                if deny.default_span.is_some() {
                    "default deny"
                } else {
                    "default deny (no `default` written)"
                },
            )
            .help("compiled together, a request no rule matches is denied (the deny default wins)"),
        );
    }
}

fn overlap(a: &[PortRange], b: &[PortRange]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| x.lo <= y.hi && y.lo <= x.hi))
}

/// Whether wildcard pattern `w` matches host `name`.
fn wildcard_matches(w: &HostPattern, name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    match w.kind {
        HostKind::Exact => false,
        HostKind::OneLabel if w.name.is_empty() => !name.contains('.'),
        HostKind::AnyDepth if w.name.is_empty() => true,
        HostKind::OneLabel => name.split_once('.').is_some_and(|(_, rest)| rest == w.name),
        HostKind::AnyDepth => {
            name.len() > w.name.len()
                && name.ends_with(&w.name)
                && name.as_bytes().get(name.len() - w.name.len() - 1) == Some(&b'.')
        }
    }
}

/// The first `%XX` escape in `t` whose character may also arrive raw in a
/// request path, with that character. Match form decodes every escape but
/// `%2F`, `%5C`, `%25`; an escape of a character Envoy's URL canonicaliser
/// always escapes (controls, space, `"`, `#`, `<`, `>`, `?`, `^`, `` ` ``,
/// `{`, `|`, `}`, non-ASCII: googleurl `kPathCharLookup`) or of `;` (a raw
/// one is refused) only ever arrives escaped, so it is not reinterpreted.
fn decoded_escape(t: &str) -> Option<(&str, u8)> {
    let b = t.as_bytes();
    (0..b.len()).find_map(|i| {
        let esc = t.get(i..i + 3)?;
        let v = u8::from_str_radix(esc.strip_prefix('%')?, 16).ok()?;
        let arrives_raw = v.is_ascii_graphic() && !b"\"#%<>?\\^`{|}/;".contains(&v);
        arrives_raw.then_some((esc, v))
    })
}

/// Warnings for rules whose meaning the filter's matching rules refine:
/// escapes compared decoded (W0420), `_`/`-` in header names (W0421), and
/// CONNECT, which has no path (W0422).
fn lint_reinterpreted(r: &CRule, diags: &mut Vec<Diagnostic>) {
    for p in r.paths.iter().chain(&r.except_paths) {
        let (text, regex) = match &p.value {
            CPath::Exact(t) | CPath::Prefix(t) | CPath::Suffix(t) | CPath::Template(t, _) => {
                (t, false)
            }
            CPath::Regex(t) => (t, true),
        };
        if let Some((esc, v)) = decoded_escape(text) {
            let shown = if v.is_ascii_graphic() {
                format!("`{}`", char::from(v))
            } else {
                format!("the byte 0x{v:02X}")
            };
            let d = if regex {
                Diagnostic::warning("W0420", p.span, format!("`{esc}` in a regex never matches"))
                    .label(format!(
                        "paths are matched with escapes decoded: the regex sees {shown}"
                    ))
                    .help(format!(
                        "write {shown} (escaped for the regex if needed) in place of `{esc}`"
                    ))
            } else {
                Diagnostic::warning("W0420", p.span, format!("`{esc}` is matched as {shown}"))
                    .label("paths are compared with escapes decoded")
                    .help(format!("this pattern matches requests that send {shown} raw or as `{esc}`; write {shown} to say so"))
            };
            diags.push(d.note("upstreams decode escapes, so `/v1/a%3Ab` and `/v1/a:b` are one resource; only %2F, %5C and %25 stay escaped (docs/language.md, \"Paths\")"));
        } else if !regex && text.contains(';') {
            diags.push(
                Diagnostic::warning("W0420", p.span, "`;` in a path is a literal semicolon")
                    .label("this matches requests that send `%3B`")
                    .note("a raw `;` in a request is a path parameter, which the filter refuses (path-parameter) because servers such as Tomcat strip it before routing")
                    .help("write `%3B` to make that explicit, or drop the `;`"),
            );
        }
    }
    for h in &r.headers {
        let name = h.name();
        if name.contains('_') {
            diags.push(
                Diagnostic::warning("W0421", r.span, format!("header \"{name}\" has an underscore"))
                    .label(format!("the filter also treats \"{}\" as this header", name.replace('_', "-")))
                    .note("CGI-style upstreams read `_` and `-` alike, so a header differing only by them is a variant: it can make a deny fire or an allow fail, never the reverse")
                    .help(format!("write \"{}\" if that is the header you mean", name.replace('_', "-"))),
            );
        }
    }
    if r.action == Action::Allow
        && names_connect(r.methods)
        && (!r.paths.is_empty() || !r.except_paths.is_empty())
    {
        diags.push(
            Diagnostic::warning("W0422", r.span, "this rule never allows a CONNECT")
                .label("a CONNECT tunnel has no path, and the rule has a path condition")
                .help("allow CONNECT in a rule of its own, without `path`"),
        );
    }
}

fn lint_dest(d: &CDest, diags: &mut Vec<Diagnostic>) {
    if d.empty_block {
        diags.push(
            Diagnostic::warning("W0405", d.span, "destination with an empty rule block")
                .label("no rule: requests here get the policy's default")
                .help("remove the braces to allow all traffic to this destination, or add rules"),
        );
    }
    for r in &d.rules {
        lint_reinterpreted(r, diags);
        for p in r.paths.iter().chain(&r.except_paths) {
            if let CPath::Prefix(t) = &p.value
                && !t.ends_with('/')
            {
                diags.push(
                    Diagnostic::warning("W0408", p.span, format!("prefix \"{t}\" also matches \"{t}x\""))
                        .label("a prefix is raw text, not a path segment")
                        .help(format!("to match \"{t}\" and everything under it write path \"{t}\", \"{t}/{{**}}\"; for the raw prefix, add a `/` or keep it if intended")),
                );
            }
        }
    }
    for (j, later) in d.rules.iter().enumerate() {
        for earlier in d.rules.iter().take(j) {
            // An `otherwise deny` is weighed after every other rule: it
            // shadows only another `otherwise deny`.
            let shadows = if earlier.fallback || later.fallback {
                earlier.fallback && later.fallback
            } else {
                earlier.action == later.action && subsumes(earlier, later)
            };
            if shadows {
                diags.push(
                    Diagnostic::warning("W0401", later.span, "rule is shadowed by an earlier rule")
                        .label("this rule can never be the one that decides")
                        .with_label(earlier.span, "this rule matches everything it does")
                        .help("remove it, or narrow the earlier rule"),
                );
                break;
            }
        }
        if later.action == Action::Allow
            && let Some(deny) = d
                .rules
                .iter()
                .find(|r| r.action == Action::Deny && !r.fallback && subsumes(r, later))
        {
            diags.push(
                Diagnostic::warning("W0402", later.span, "allow rule made dead by a deny")
                    .label("never allows anything")
                    .with_label(deny.span, "a deny wins over any allow, and this deny matches everything the allow does")
                    .help("narrow the deny, or remove the allow"),
            );
        }
    }
}

/// Whether a method set names CONNECT (an open set, `any` or `any
/// except …`, never does: it does not admit a CONNECT to an `allow`).
fn names_connect(m: MethodSet) -> bool {
    !m.is_open() && MethodSet::standard("CONNECT").is_some_and(|c| m.0 & c.0 != 0)
}

/// Whether every request rule `b` matches is also matched by rule `a`
/// (a conservative, syntactic check: `false` when unsure).
fn subsumes(a: &CRule, b: &CRule) -> bool {
    // Open sets are bit sets like the others (the bit of methods outside
    // the standard ones included), but an `allow` with one does not admit
    // the CONNECT another rule may name.
    let connect_gap = a.action == Action::Allow && a.methods.is_open() && names_connect(b.methods);
    let methods = !connect_gap && a.methods.0 & b.methods.0 == b.methods.0;
    // `except …` lists narrow `a`: each must be one `b` has as well.
    let excepts = a
        .except_paths
        .iter()
        .all(|ap| b.except_paths.iter().any(|bp| bp.value == ap.value))
        && a.except_sources
            .iter()
            .all(|s| b.except_sources.contains(s));
    let paths = a.paths.is_empty()
        || (!b.paths.is_empty()
            && b.paths
                .iter()
                .all(|bp| a.paths.iter().any(|ap| path_covers(&ap.value, &bp.value))));
    let sources = a.sources.is_empty()
        || (!b.sources.is_empty()
            && b.sources
                .iter()
                .all(|bs| a.sources.iter().any(|s| source_covers(s, bs))));
    let headers = a.headers.iter().all(|h: &HeaderSpec| b.headers.contains(h));
    methods && excepts && paths && sources && headers
}

fn path_covers(a: &CPath, b: &CPath) -> bool {
    match (a, b) {
        _ if a == b => true,
        (CPath::Prefix(p), CPath::Exact(e) | CPath::Prefix(e)) => e.starts_with(p.as_str()),
        _ => false,
    }
}

fn source_covers(a: &SourceSpec, b: &SourceSpec) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (SourceSpec::Namespace(ns), SourceSpec::ServiceAccount { namespace, .. }) => {
            ns == namespace
        }
        (SourceSpec::Namespace(ns), SourceSpec::Principal(p)) => {
            egress_table::request::principal_parts(p.as_bytes())
                .is_some_and(|(n, _)| n == ns.as_bytes())
        }
        (SourceSpec::ServiceAccount { namespace, name }, SourceSpec::Principal(p)) => {
            egress_table::request::principal_parts(p.as_bytes())
                .is_some_and(|(n, s)| n == namespace.as_bytes() && s == name.as_bytes())
        }
        _ => false,
    }
}
