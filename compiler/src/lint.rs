//! Warnings (W04xx) on a checked policy set: things that compile and mean
//! something, but probably not what the author intended.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use egress_table::spec::{
    Action, HeaderSpec, HostKind, HostPattern, MethodSet, Mode, PortRange, Protocol, SourceSpec,
    Target,
};

use crate::check::{CDest, CPath, CPolicy, CRule, Checked};
use crate::diag::Diagnostic;
use crate::hash::{FastMap, FastSet};
use crate::source::Span;

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

/// The rules of a destination that another makes pointless, in order:
/// each with the first earlier rule that shadows it (W0401: same action
/// and [`subsumes`] it; an `otherwise deny` is weighed after every other
/// rule, so it shadows only another `otherwise deny`), and for an allow the
/// first deny (`otherwise deny` aside) that subsumes it (W0402).
///
/// The rules of a large destination are indexed ([`RuleIndex`]) rather
/// than compared pairwise: a destination may have tens of thousands; a
/// small one is compared pairwise, which is cheaper than its indexes.
fn overlaps(rules: &[CRule]) -> Vec<(usize, Option<usize>, Option<usize>)> {
    if rules.len() <= SMALL_DEST {
        overlaps_pairwise(rules)
    } else {
        overlaps_indexed(rules)
    }
}

/// Up to this many rules in a destination, [`overlaps`] compares every pair
/// of rules: fewer comparisons than it takes to build the indexes.
const SMALL_DEST: usize = 32;

/// [`overlaps`], every pair of rules compared.
fn overlaps_pairwise(rules: &[CRule]) -> Vec<(usize, Option<usize>, Option<usize>)> {
    let mut out = Vec::new();
    for (j, later) in rules.iter().enumerate() {
        let shadowing = rules.iter().take(j).position(|earlier| {
            if earlier.fallback || later.fallback {
                earlier.fallback && later.fallback
            } else {
                earlier.action == later.action && subsumes(earlier, later)
            }
        });
        let deny = if later.action == Action::Allow {
            rules
                .iter()
                .position(|r| r.action == Action::Deny && !r.fallback && subsumes(r, later))
        } else {
            None
        };
        if shadowing.is_some() || deny.is_some() {
            out.push((j, shadowing, deny));
        }
    }
    out
}

/// [`overlaps`], the rules indexed ([`RuleIndex`]).
fn overlaps_indexed(rules: &[CRule]) -> Vec<(usize, Option<usize>, Option<usize>)> {
    let allows = RuleIndex::new(rules, |r| r.action == Action::Allow && !r.fallback);
    let denies = RuleIndex::new(rules, |r| r.action == Action::Deny && !r.fallback);
    let first_fallback = rules.iter().position(|r| r.fallback);
    let mut out = Vec::new();
    for (j, later) in rules.iter().enumerate() {
        let shadowing = if later.fallback {
            first_fallback.filter(|&i| i < j)
        } else if later.action == Action::Allow {
            allows.first(later, j)
        } else {
            denies.first(later, j)
        };
        let deny = if later.action == Action::Allow {
            denies.first(later, rules.len())
        } else {
            None
        };
        if shadowing.is_some() || deny.is_some() {
            out.push((j, shadowing, deny));
        }
    }
    out
}

/// A path condition as a hash key (`CPath` has no `Hash`): its kind and
/// text(s), equal exactly when the paths are.
type PathKey<'a> = (u8, &'a str, &'a str);

fn path_key(p: &CPath) -> PathKey<'_> {
    match p {
        CPath::Exact(t) => (0, t, ""),
        CPath::Prefix(t) => (1, t, ""),
        CPath::Template(t, re) => (2, t, re),
        CPath::Regex(t) => (3, t, ""),
        CPath::Suffix(t) => (4, t, ""),
    }
}

/// A source condition as a hash key, equal exactly when the sources are.
type SourceKey<'a> = (u8, &'a str, &'a str);

fn source_key(s: &SourceSpec) -> SourceKey<'_> {
    match s {
        SourceSpec::Principal(p) => (0, p, ""),
        SourceSpec::Namespace(n) => (1, n, ""),
        SourceSpec::ServiceAccount { namespace, name } => (2, namespace, name),
        SourceSpec::AnyPrincipal => (3, "", ""),
    }
}

/// One part of a [`RuleIndex`] key: the rule has no such condition, has
/// this one, or is listed whatever its conditions of this kind (a rule
/// with very many paths and sources is listed by one kind only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part<K> {
    None,
    Is(K),
    Any,
}

/// Rule indices, each list in ascending order, by key.
type Lists<K> = FastMap<K, Vec<usize>>;

/// Adds `i` to the list of `k` once (a rule may name a key twice).
fn add_to<K: std::hash::Hash + Eq>(lists: &mut Lists<K>, k: K, i: usize) {
    let list = lists.entry(k).or_default();
    if list.last() != Some(&i) {
        list.push(i);
    }
}

/// More path × source pairs than this in one rule and it is listed by
/// its paths or its sources only.
const MAX_PAIRS: usize = 64;

/// Some of the rules of one destination, indexed by what [`subsumes`]
/// asks of its first argument, so that the rules that may subsume a given
/// one are found without trying them all (W0401, W0402).
///
/// A rule `a` that subsumes `b` is on one of a few lists that `b` names,
/// for each kind of condition: its path and source conditions together
/// (`a` has no path condition or one that covers `b`'s first, and no
/// source condition or one that covers `b`'s first), its method set
/// (a superset of `b`'s), its first header condition (one of `b`'s),
/// first `except path` and first `except from` (one of `b`'s; or none).
/// [`RuleIndex::first`] takes the kind whose lists are the shortest for
/// `b`, and tries their rules with [`subsumes`] in order.
#[derive(Debug)]
struct RuleIndex<'a> {
    rules: &'a [CRule],
    /// By method set.
    methods: Lists<u16>,
    /// By path and source condition.
    conditions: Lists<(Part<PathKey<'a>>, Part<SourceKey<'a>>)>,
    /// The lengths of the prefix path conditions, ascending.
    prefix_lens: Vec<usize>,
    /// By the first header condition (`None`: no header condition).
    headers: Lists<Option<&'a HeaderSpec>>,
    /// By the first `except path`.
    except_paths: Lists<Option<PathKey<'a>>>,
    /// By the first `except from`.
    except_sources: Lists<Option<SourceKey<'a>>>,
}

impl<'a> RuleIndex<'a> {
    /// Indexes the rules of `rules` that satisfy `keep`.
    fn new(rules: &'a [CRule], keep: impl Fn(&CRule) -> bool) -> Self {
        let mut x = RuleIndex {
            rules,
            methods: FastMap::default(),
            conditions: FastMap::default(),
            prefix_lens: Vec::new(),
            headers: FastMap::default(),
            except_paths: FastMap::default(),
            except_sources: FastMap::default(),
        };
        let mut lens = FastSet::default();
        for (i, r) in rules.iter().enumerate().filter(|(_, r)| keep(r)) {
            add_to(&mut x.methods, r.methods.0, i);
            let mut paths: Vec<Part<PathKey<'a>>> = r
                .paths
                .iter()
                .map(|p| Part::Is(path_key(&p.value)))
                .collect();
            let mut sources: Vec<Part<SourceKey<'a>>> =
                r.sources.iter().map(|s| Part::Is(source_key(s))).collect();
            for p in &r.paths {
                if let CPath::Prefix(t) = &p.value {
                    lens.insert(t.len());
                }
            }
            if paths.is_empty() {
                paths.push(Part::None);
            }
            if sources.is_empty() {
                sources.push(Part::None);
            }
            if paths.len() * sources.len() > MAX_PAIRS {
                if paths.len() <= sources.len() {
                    sources = vec![Part::Any];
                } else {
                    paths = vec![Part::Any];
                }
            }
            for &p in &paths {
                for &s in &sources {
                    add_to(&mut x.conditions, (p, s), i);
                }
            }
            add_to(&mut x.headers, r.headers.first(), i);
            let except_path = r.except_paths.first().map(|p| path_key(&p.value));
            add_to(&mut x.except_paths, except_path, i);
            let except_source = r.except_sources.first().map(source_key);
            add_to(&mut x.except_sources, except_source, i);
        }
        x.prefix_lens = lens.into_iter().collect();
        x.prefix_lens.sort_unstable();
        x
    }

    /// The first indexed rule before `limit` that subsumes `b`.
    fn first<'s>(&'s self, b: &'s CRule, limit: usize) -> Option<usize> {
        let mut best: Option<Vec<&'s [usize]>> = None;
        let mut best_len = usize::MAX;
        let mut consider = |lists: Vec<&'s [usize]>| {
            let lists: Vec<&'s [usize]> = lists
                .into_iter()
                .map(|l| l.get(..l.partition_point(|&i| i < limit)).unwrap_or(l))
                .filter(|l| !l.is_empty())
                .collect();
            let len = lists.iter().map(|l| l.len()).sum();
            if len < best_len {
                best_len = len;
                best = Some(lists);
            }
        };
        let want = b.methods.0;
        consider(
            self.methods
                .iter()
                .filter(|(m, _)| *m & want == want)
                .map(|(_, l)| l.as_slice())
                .collect(),
        );
        consider(self.condition_lists(b));
        consider(
            std::iter::once(None)
                .chain(b.headers.iter().map(Some))
                .filter_map(|h| self.headers.get(&h))
                .map(Vec::as_slice)
                .collect(),
        );
        consider(
            std::iter::once(None)
                .chain(b.except_paths.iter().map(|p| Some(path_key(&p.value))))
                .filter_map(|p| self.except_paths.get(&p))
                .map(Vec::as_slice)
                .collect(),
        );
        consider(
            std::iter::once(None)
                .chain(b.except_sources.iter().map(|s| Some(source_key(s))))
                .filter_map(|s| self.except_sources.get(&s))
                .map(Vec::as_slice)
                .collect(),
        );
        let lists = best?;
        // The lists merged in ascending order, each rule tried once.
        let mut heap: BinaryHeap<Reverse<(usize, usize, usize)>> = lists
            .iter()
            .enumerate()
            .filter_map(|(l, list)| Some(Reverse((*list.first()?, l, 0))))
            .collect();
        let mut last = None;
        while let Some(Reverse((i, l, pos))) = heap.pop() {
            if let Some(&next) = lists.get(l).and_then(|list| list.get(pos + 1)) {
                heap.push(Reverse((next, l, pos + 1)));
            }
            if last == Some(i) {
                continue;
            }
            last = Some(i);
            if self.rules.get(i).is_some_and(|a| subsumes(a, b)) {
                return Some(i);
            }
        }
        None
    }

    /// The lists of the rules whose path and source conditions may cover
    /// `b`'s: no path condition, one equal to `b`'s first, or a prefix of
    /// it (see [`path_covers`]); and no source condition, or one that
    /// covers `b`'s first (see [`source_covers`]).
    fn condition_lists<'s>(&'s self, b: &'s CRule) -> Vec<&'s [usize]> {
        let mut paths = vec![Part::None, Part::Any];
        if let Some(bp) = b.paths.first() {
            if !matches!(bp.value, CPath::Prefix(_)) {
                paths.push(Part::Is(path_key(&bp.value)));
            }
            if let CPath::Exact(t) | CPath::Prefix(t) = &bp.value {
                for &n in &self.prefix_lens {
                    if let Some(p) = t.get(..n) {
                        paths.push(Part::Is((1, p, "")));
                    }
                }
            }
        }
        let mut sources = vec![Part::None, Part::Any];
        if let Some(bs) = b.sources.first() {
            sources.push(Part::Is(source_key(bs)));
            match bs {
                SourceSpec::ServiceAccount { namespace, .. } => {
                    sources.push(Part::Is((1, namespace, "")));
                }
                SourceSpec::Principal(p) => {
                    if let Some((ns, sa)) = egress_table::request::principal_parts(p.as_bytes())
                        && let (Ok(ns), Ok(sa)) = (std::str::from_utf8(ns), std::str::from_utf8(sa))
                    {
                        sources.push(Part::Is((1, ns, "")));
                        sources.push(Part::Is((2, ns, sa)));
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        for &p in &paths {
            for &s in &sources {
                if let Some(l) = self.conditions.get(&(p, s)) {
                    out.push(l.as_slice());
                }
            }
        }
        out
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
    // Each condition is tried only while the others held (the cheap first).
    methods
        // `except …` lists narrow `a`: each must be one `b` has as well.
        && a
            .except_paths
            .iter()
            .all(|ap| b.except_paths.iter().any(|bp| bp.value == ap.value))
        && a.except_sources
            .iter()
            .all(|s| b.except_sources.contains(s))
        && (a.paths.is_empty()
            || (!b.paths.is_empty()
                && b.paths
                    .iter()
                    .all(|bp| a.paths.iter().any(|ap| path_covers(&ap.value, &bp.value)))))
        && (a.sources.is_empty()
            || (!b.sources.is_empty()
                && b.sources
                    .iter()
                    .all(|bs| a.sources.iter().any(|s| source_covers(s, bs)))))
        && a.headers.iter().all(|h: &HeaderSpec| b.headers.contains(h))
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
mod tests {
    //! The indexed overlap lints (W0401–W0404) against the pairwise
    //! comparisons they replace, on random policy sets.

    use proptest::prelude::*;

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
                let hosts: Vec<String> =
                    hosts.iter().map(|&h| format!("\"{}\"", HOSTS[h])).collect();
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
}
