//! Warnings (W04xx) on a checked policy set: things that compile and mean
//! something, but probably not what the author intended.

use std::collections::HashMap;

use egress_table::spec::{Action, HostKind, HostPattern, Mode, PortRange, Protocol, Target};

use crate::check::{CDest, CPath, CPolicy, CRule, Checked};
use crate::diag::Diagnostic;
use crate::hash::{FastMap, FastSet};
use crate::source::Span;

mod overlap;

use overlap::{names_connect, overlaps};

/// Where the errors in `diags` start, by file, sorted: for [`has_error`].
fn error_starts(diags: &[Diagnostic]) -> HashMap<crate::source::FileId, Vec<u32>> {
    let mut out: HashMap<_, Vec<u32>> = HashMap::new();
    for d in diags.iter().filter(|d| d.is_error()) {
        out.entry(d.span.file).or_default().push(d.span.start);
    }
    for starts in out.values_mut() {
        starts.sort_unstable();
    }
    out
}

/// Whether an error was reported inside `span` (`errors` from
/// [`error_starts`]).
fn has_error(errors: &HashMap<crate::source::FileId, Vec<u32>>, span: Span) -> bool {
    errors.get(&span.file).is_some_and(|starts| {
        let i = starts.partition_point(|&s| s < span.start);
        starts.get(i).is_some_and(|&s| s <= span.end)
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
    let errors = error_starts(diags);
    let broken: Vec<bool> = c
        .policies
        .iter()
        .map(|p| has_error(&errors, p.span))
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

/// W0403 at `again` for host `h`, first listed at `first` (in the same
/// destination when `same_dest`).
fn listed_twice(h: &HostPattern, again: Span, first: Span, same_dest: bool) -> Diagnostic {
    let help = if same_dest {
        "remove the second one"
    } else {
        "the rules of both destinations apply; merge them into one destination"
    };
    Diagnostic::warning("W0403", again, format!("host \"{h}\" is listed twice"))
        .label("again here")
        .with_label(first, "first here")
        .help(help)
}

/// W0403: the same host twice within a policy (same protocol, overlapping
/// ports).
fn lint_duplicate_hosts(p: &CPolicy, diags: &mut Vec<Diagnostic>) {
    // The first listing of each host and protocol, in the order seen; a
    // listing is kept only when its ports overlap none kept before it.
    type Kept<'a> = Vec<(&'a [PortRange], Span, usize)>;
    let mut seen: FastMap<(&HostPattern, Protocol), Kept<'_>> = FastMap::default();
    for (i, d) in p.dests.iter().enumerate() {
        for t in &d.targets {
            if let Target::Host(h) = &t.value {
                let kept = seen.entry((h, d.protocol)).or_default();
                let first = kept
                    .iter()
                    .find(|(ports, _, _)| overlap(ports, &d.ports))
                    .map(|&(_, prev, j)| (prev, j));
                if let Some((prev, j)) = first {
                    diags.push(listed_twice(h, t.span, prev, j == i));
                } else {
                    kept.push((&d.ports, t.span, i));
                }
            }
        }
    }
}

/// The entries of one file one wildcard swallows: the wildcard's index,
/// the file, and each entry with its span.
type WildcardGroup<'a> = (usize, crate::source::FileId, Vec<(&'a HostPattern, Span)>);

/// W0404: an exact host also matched by a wildcard (across policies of the
/// same mode; `broken` policies left out).
/// A host target with its destination, its policy's mode and its span.
type HostAt<'a> = (&'a HostPattern, &'a CDest, Mode, Span);

/// The host targets of the policies that are not `broken`, in order: the
/// exact ones and the wildcards.
fn host_targets<'a>(c: &'a Checked, broken: &[bool]) -> (Vec<HostAt<'a>>, Vec<HostAt<'a>>) {
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
    (exact, wild)
}

fn lint_wildcards(c: &Checked, broken: &[bool], diags: &mut Vec<Diagnostic>) {
    let (exact, wild) = host_targets(c, broken);
    // The wildcards by mode, protocol, kind and the name after the
    // wildcard, each list in order.
    let mut index: FastMap<(Mode, Protocol, HostKind, &str), Vec<usize>> = FastMap::default();
    for (wi, (w, wd, wmode, _)) in wild.iter().enumerate() {
        index
            .entry((*wmode, wd.protocol, w.kind, w.name.as_str()))
            .or_default()
            .push(wi);
    }
    // One warning per wildcard and file of swallowed entries, listing them.
    let mut groups: Vec<WildcardGroup<'_>> = Vec::new();
    let mut group_of: FastMap<(usize, crate::source::FileId), usize> = FastMap::default();
    let mut listed: Vec<FastSet<&HostPattern>> = Vec::new();
    for (h, d, mode, span) in &exact {
        // The first wildcard over `h`: only those whose name is what
        // follows the first label of `h` (`*.`), or any of its suffixes
        // after a dot, or empty (`**.`), can match it.
        let rest = h.name.split_once('.').map_or("", |(_, r)| r);
        let suffixes = h
            .name
            .match_indices('.')
            .filter_map(|(i, _)| h.name.get(i + 1..))
            .chain([""]);
        let keys = std::iter::once((HostKind::OneLabel, rest))
            .chain(suffixes.map(|s| (HostKind::AnyDepth, s)));
        let first = keys
            .filter_map(|(kind, name)| {
                index
                    .get(&(*mode, d.protocol, kind, name))?
                    .iter()
                    .copied()
                    .find(|&wi| {
                        wild.get(wi).is_some_and(|(w, wd, _, _)| {
                            overlap(&wd.ports, &d.ports)
                                && crate::check::pattern_matches(w, &h.name)
                        })
                    })
            })
            .min();
        let Some(wi) = first else {
            continue;
        };
        let group = group_of
            .get(&(wi, span.file))
            .and_then(|&g| Some((groups.get_mut(g)?, listed.get_mut(g)?)));
        match group {
            // The same name twice is W0403's business.
            Some((_, names)) if names.contains(h) => {}
            Some(((_, _, entries), names)) => {
                names.insert(h);
                entries.push((h, *span));
            }
            None => {
                group_of.insert((wi, span.file), groups.len());
                listed.push(FastSet::from_iter([*h]));
                groups.push((wi, span.file, vec![(h, *span)]));
            }
        }
    }
    for (wi, file, entries) in groups {
        let (Some((w, _, _, wspan)), Some(((h, span), rest))) =
            (wild.get(wi), entries.split_first())
        else {
            continue;
        };
        let elsewhere = wspan.file != file;
        let mut d = if rest.is_empty() {
            Diagnostic::warning("W0404", *span, format!("\"{h}\" is also matched by \"{w}\""))
                .help("both destinations' rules apply to it (a deny in either wins): remove one of them, or keep both if that is what you mean")
        } else {
            let names: Vec<String> = entries.iter().map(|(h, _)| format!("\"{h}\"")).collect();
            Diagnostic::warning(
                "W0404",
                *span,
                format!(
                    "{} hosts {}are also matched by \"{w}\": {}",
                    entries.len(),
                    if elsewhere { "in this file " } else { "" },
                    names.join(", ")
                ),
            )
            .help("the rules of the wildcard's destination and of each entry's apply to these hosts (a deny in either wins): remove the entries or the wildcard, or keep both if that is what you mean")
        };
        d = d.label("the wildcard swallows this entry");
        for (_, s) in rest {
            d = d.with_label(*s, "and this one");
        }
        d = d.with_label(
            *wspan,
            if elsewhere {
                "wildcard here, in another file"
            } else {
                "wildcard here"
            },
        );
        if elsewhere {
            d = d.note("files checked together (a directory, or several files) form one table, so a wildcard in one file matches the hosts of all the others; if these files are deployed as separate tables, check them one at a time");
        }
        diags.push(d);
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
    for (later, shadowing, deny) in overlaps(&d.rules) {
        let Some(later) = d.rules.get(later) else {
            continue;
        };
        if let Some(earlier) = shadowing.and_then(|i| d.rules.get(i)) {
            diags.push(
                Diagnostic::warning("W0401", later.span, "rule is shadowed by an earlier rule")
                    .label("this rule can never be the one that decides")
                    .with_label(earlier.span, "this rule matches everything it does")
                    .help("remove it, or narrow the earlier rule"),
            );
        }
        if let Some(deny) = deny.and_then(|i| d.rules.get(i)) {
            diags.push(
                Diagnostic::warning("W0402", later.span, "allow rule made dead by a deny")
                    .label("never allows anything")
                    .with_label(deny.span, "a deny wins over any allow, and this deny matches everything the allow does")
                    .help("narrow the deny, or remove the allow"),
            );
        }
    }
}

/// Notes (N0401) on what destinations say that the rule table does not
/// carry: `originate-tls`, `timeout` and `service` live in the Istio
/// resources `egressc istio` writes, so `egressc compile` (the table alone)
/// leaves them out. One note per destination that has any, at its first
/// such clause, with the others labelled; sorted by position.
pub fn outside_table(c: &Checked) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for d in c.policies.iter().flat_map(|p| &p.dests) {
        let mut items: Vec<(Span, String, &str)> = Vec::new();
        if let (Some(port), Some(span)) = (d.originate_tls, d.originate_tls_span) {
            items.push((
                span,
                format!("originate-tls {port}"),
                "a ServiceEntry targetPort and a DestinationRule (tls.mode SIMPLE)",
            ));
        }
        if let (Some(ms), Some(span)) = (d.timeout_ms, d.timeout_span) {
            items.push((
                span,
                format!("timeout {}", duration(ms)),
                "a VirtualService timeout (the gateway's route with --attach egress-gateway)",
            ));
        }
        for s in &d.services {
            items.push((
                s.span,
                format!("service \"{}/{}\"", s.namespace, s.name),
                "a Kubernetes Service",
            ));
        }
        let Some((first, _, _)) = items.first() else {
            continue;
        };
        let what: Vec<String> = items.iter().map(|(_, t, _)| format!("`{t}`")).collect();
        let (verb, them) = if items.len() == 1 {
            ("is", "it")
        } else {
            ("are", "them")
        };
        let target = d
            .targets
            .first()
            .map_or_else(String::new, |t| match &t.value {
                Target::Host(h) => format!(" \"{h}\""),
                Target::Cidr(c) => format!(" {c}"),
            });
        let mut n = Diagnostic::new_note(
            "N0401",
            *first,
            format!(
                "destination{target}: {} {verb} not in the rule table",
                and_list(&what)
            ),
        )
        .label("the filter never sees this");
        for (span, _, _) in items.iter().skip(1) {
            n = n.with_label(*span, "nor this");
        }
        let how: Vec<String> = items
            .iter()
            .map(|(_, t, how)| format!("`{t}` as {how}"))
            .collect();
        out.push(
            n.help(format!("`egressc istio` writes {them}: {}", how.join("; ")))
                .note("`egressc compile` writes only the rule table the filter reads; without the Istio resources these settings have no effect"),
        );
    }
    crate::diag::sort(&mut out);
    out
}

/// A duration as written in a policy: `3s`, `1.5s`, `250ms`.
fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", s.trim_end_matches('0'))
    }
}

/// "a", "a and b", "a, b and c".
fn and_list(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests;
