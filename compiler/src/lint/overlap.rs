//! The rule-overlap lints' machinery (W0401 a rule shadowed by an earlier
//! one, W0402 an allow made dead by a deny): which rules of a destination
//! another makes pointless, pairwise for a small destination and through
//! indexes for a large one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use egress_table::spec::{Action, HeaderSpec, MethodSet, SourceSpec};

use crate::check::{CPath, CRule};
use crate::hash::{FastMap, FastSet};

/// The rules of a destination that another makes pointless, in order:
/// each with the first earlier rule that shadows it (W0401: same action
/// and [`subsumes`] it; an `otherwise deny` is weighed after every other
/// rule, so it shadows only another `otherwise deny`), and for an allow the
/// first deny (`otherwise deny` aside) that subsumes it (W0402).
///
/// The rules of a large destination are indexed ([`RuleIndex`]) rather
/// than compared pairwise: a destination may have tens of thousands; a
/// small one is compared pairwise, which is cheaper than its indexes.
pub(super) fn overlaps(rules: &[CRule]) -> Vec<(usize, Option<usize>, Option<usize>)> {
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
pub(super) fn overlaps_pairwise(rules: &[CRule]) -> Vec<(usize, Option<usize>, Option<usize>)> {
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
pub(super) fn overlaps_indexed(rules: &[CRule]) -> Vec<(usize, Option<usize>, Option<usize>)> {
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
pub(super) fn names_connect(m: MethodSet) -> bool {
    !m.is_open() && MethodSet::standard("CONNECT").is_some_and(|c| m.0 & c.0 != 0)
}

/// Whether every request rule `b` matches is also matched by rule `a`
/// (a conservative, syntactic check: `false` when unsure).
pub(super) fn subsumes(a: &CRule, b: &CRule) -> bool {
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
