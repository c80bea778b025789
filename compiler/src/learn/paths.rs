//! Path templates from observed paths: which segments vary (ids, hashes,
//! versions, or many values among otherwise identical paths) become `{*}`,
//! and which prefixes have many tails of different depths become `{**}`.
//! Every replacement keeps the values it stands for, so the policy can say
//! what it generalised.

use std::collections::{BTreeMap, BTreeSet};

/// The values seen at each generalised position of a pattern.
pub type Values = BTreeMap<usize, BTreeSet<String>>;

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// The segment as seen.
    Literal(String),
    /// `{*}`: any one non-empty segment.
    One,
    /// `{**}`: anything, `/` included, possibly empty (only last).
    Rest,
}

/// A learned path pattern and what its `{*}`/`{**}` stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    /// The segments after the leading `/`.
    pub segments: Vec<Segment>,
    /// For each generalised position (index into `segments`): the distinct
    /// values seen there (for `{**}`, the tails).
    pub values: Values,
}

impl PathPattern {
    /// The pattern as the policy writes it: a template (`/v1/{*}/items`,
    /// an exact path when nothing was generalised). A literal segment's
    /// `*`, `{` and `}`, which a template cannot hold raw, are written
    /// percent-encoded (`%2A`, `%7B`, `%7D`): paths are compared with
    /// escapes decoded (docs/language.md, "Paths"), so the template matches
    /// the character sent raw or escaped, and the segment's other escapes
    /// keep their meaning (a regex would see them decoded and miss them).
    pub fn text(&self) -> String {
        let parts: Vec<String> = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l
                    .replace('*', "%2A")
                    .replace('{', "%7B")
                    .replace('}', "%7D"),
                Segment::One => "{*}".to_owned(),
                Segment::Rest => "{**}".to_owned(),
            })
            .collect();
        format!("/{}", parts.join("/"))
    }

    /// Whether nothing was generalised (an exact path).
    pub fn is_exact(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether `path` (without query) matches, as the filter's template
    /// matching does: `{*}` one non-empty segment, `{**}` anything after
    /// the prefix's `/`.
    pub fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let segs: Vec<&str> = rest.split('/').collect();
        let mut i = 0;
        for s in &self.segments {
            match s {
                Segment::Rest => return i < segs.len(),
                Segment::One => match segs.get(i) {
                    Some(v) if !v.is_empty() => i += 1,
                    _ => return false,
                },
                Segment::Literal(l) => match segs.get(i) {
                    Some(v) if v == l => i += 1,
                    _ => return false,
                },
            }
        }
        i == segs.len()
    }
}

/// Whether a segment looks like an identifier rather than a name: a number,
/// a UUID, a hex string of 8 or more characters with a digit, a token of 16
/// or more letters, digits, `-`, `_` and `=` mixing letters and digits, or a
/// version (`1.2`, `v2.0.1`, `1.4.0-rc1`).
pub fn id_like(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    if is_uuid(s) {
        return true;
    }
    if s.len() >= 8 && has_digit && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    if s.len() >= 16
        && has_digit
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
    {
        return true;
    }
    is_version(s)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn is_version(s: &str) -> bool {
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn segments_of(path: &str) -> Vec<&str> {
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

/// A node of the segment trie: the paths (indices into the input) that end
/// here, and the next segments.
#[derive(Debug, Default)]
struct Node {
    ends: Vec<usize>,
    children: BTreeMap<Segment, Node>,
    /// Whether `threshold` or more names after this prefix were merged.
    merged: bool,
}

impl Node {
    fn insert(&mut self, segs: &[&str], index: usize) {
        match segs.split_first() {
            None => self.ends.push(index),
            Some((first, rest)) => {
                let key = if id_like(first) {
                    Segment::One
                } else {
                    Segment::Literal((*first).to_owned())
                };
                self.children.entry(key).or_default().insert(rest, index);
            }
        }
    }

    /// Merges `other` into `self`, subtrees included.
    fn absorb(&mut self, other: Node) {
        self.ends.extend(other.ends);
        for (key, child) in other.children {
            self.children.entry(key).or_default().absorb(child);
        }
    }

    /// Top down: `threshold` or more non-empty literal next segments merge
    /// into one `{*}` (with the `{*}` of identifiers, if any), then each
    /// next segment's subtree is treated the same way.
    fn merge_varying(&mut self, threshold: usize) {
        let literals: Vec<Segment> = self
            .children
            .keys()
            .filter(|k| matches!(k, Segment::Literal(l) if !l.is_empty()))
            .cloned()
            .collect();
        if literals.len() >= threshold {
            let mut one = self.children.remove(&Segment::One).unwrap_or_default();
            for key in literals {
                if let Some(child) = self.children.remove(&key) {
                    one.absorb(child);
                }
            }
            self.children.insert(Segment::One, one);
            self.merged = true;
        }
        for child in self.children.values_mut() {
            child.merge_varying(threshold);
        }
    }

    /// The distinct tails below this node (its own end excluded): how many,
    /// and of how many depths (a `{**}` tail counts as a depth of its own).
    fn tails(&self, depth: usize, depths: &mut BTreeSet<usize>) -> usize {
        let mut n = 0;
        for (key, child) in &self.children {
            if *key == Segment::Rest {
                depths.insert(usize::MAX);
                n += 1;
                continue;
            }
            if !child.ends.is_empty() {
                depths.insert(depth + 1);
                n += 1;
            }
            n += child.tails(depth + 1, depths);
        }
        n
    }

    /// Every path index below this node (its own end excluded).
    fn below(&self, out: &mut Vec<usize>) {
        for child in self.children.values() {
            out.extend(&child.ends);
            child.below(out);
        }
    }

    /// Bottom up (the deepest prefix first): a prefix, not the root, keeps
    /// only `{**}` below it when its merged subtree has `threshold` or more
    /// distinct tails of more than one depth, or when the names right after
    /// it were many (merged) and the tails below are of three depths or
    /// more (a tree of files: merging leaves few shapes, of many depths).
    fn rest_where_deep(&mut self, threshold: usize, is_root: bool) {
        for child in self.children.values_mut() {
            child.rest_where_deep(threshold, false);
        }
        if is_root {
            return;
        }
        let mut depths = BTreeSet::new();
        let n = self.tails(0, &mut depths);
        if (n >= threshold && depths.len() >= 2) || (self.merged && depths.len() >= 3) {
            let mut all = Vec::new();
            self.below(&mut all);
            all.sort_unstable();
            self.children.clear();
            self.children.insert(
                Segment::Rest,
                Node {
                    ends: all,
                    children: BTreeMap::new(),
                    merged: false,
                },
            );
        }
    }

    /// The patterns: each node where paths end, with those paths.
    fn patterns(&self, prefix: &mut Vec<Segment>, out: &mut Vec<(Vec<Segment>, Vec<usize>)>) {
        if !self.ends.is_empty() {
            out.push((prefix.clone(), self.ends.clone()));
        }
        for (key, child) in &self.children {
            prefix.push(key.clone());
            child.patterns(prefix, out);
            prefix.pop();
        }
    }
}

/// Learns templates for `paths` (distinct, each starting with `/`) with
/// `threshold` distinct values as the point where a position varies, on a
/// trie of the paths' segments: identifiers become `{*}`; top down, a
/// position with `threshold` or more distinct literal values under the same
/// prefix becomes `{*}` and the subtrees below merge; bottom up, a prefix
/// with `threshold` or more distinct tails of several depths becomes
/// `prefix/{**}`. Returns the patterns (sorted by text) and, for each input
/// path in order, the index of its pattern.
pub fn generalise(paths: &[String], threshold: usize) -> (Vec<PathPattern>, Vec<usize>) {
    let threshold = threshold.max(2);
    let mut root = Node::default();
    for (i, p) in paths.iter().enumerate() {
        root.insert(&segments_of(p), i);
    }
    root.merge_varying(threshold);
    root.rest_where_deep(threshold, true);
    let mut found = Vec::new();
    root.patterns(&mut Vec::new(), &mut found);
    let mut by_pattern: BTreeMap<String, (Vec<Segment>, Values, Vec<usize>)> = BTreeMap::new();
    for (segments, ends) in found {
        let mut values = Values::new();
        for &n in &ends {
            let Some(path) = paths.get(n) else { continue };
            let raw = segments_of(path);
            for (i, s) in segments.iter().enumerate() {
                match s {
                    Segment::One => {
                        if let Some(v) = raw.get(i) {
                            values.entry(i).or_default().insert((*v).to_owned());
                        }
                    }
                    Segment::Rest => {
                        let tail = raw.get(i..).unwrap_or_default().join("/");
                        values.entry(i).or_default().insert(tail);
                    }
                    Segment::Literal(_) => {}
                }
            }
        }
        let text = PathPattern {
            segments: segments.clone(),
            values: BTreeMap::new(),
        }
        .text();
        let entry = by_pattern
            .entry(text)
            .or_insert_with(|| (segments, Values::new(), Vec::new()));
        for (i, v) in values {
            entry.1.entry(i).or_default().extend(v);
        }
        entry.2.extend(ends);
    }
    let mut of_path = vec![0; paths.len()];
    let mut patterns = Vec::with_capacity(by_pattern.len());
    for (i, (segments, values, ends)) in by_pattern.into_values().enumerate() {
        for n in ends {
            if let Some(slot) = of_path.get_mut(n) {
                *slot = i;
            }
        }
        patterns.push(PathPattern { segments, values });
    }
    (patterns, of_path)
}

/// Whether every path `b` matches, `a` matches too (structurally: `{**}`
/// covers one segment or more, `{*}` any non-empty literal or `{*}`).
pub fn subsumes(a: &PathPattern, b: &PathPattern) -> bool {
    let mut bs = b.segments.iter();
    for s in &a.segments {
        match s {
            Segment::Rest => {
                // `{**}` needs the prefix's `/`: at least one more segment.
                return bs.next().is_some();
            }
            Segment::One => match bs.next() {
                Some(Segment::One) => {}
                Some(Segment::Literal(l)) if !l.is_empty() => {}
                _ => return false,
            },
            Segment::Literal(l) => match bs.next() {
                Some(Segment::Literal(m)) if m == l => {}
                _ => return false,
            },
        }
    }
    bs.next().is_none()
}

/// Drops from `patterns` every pattern another one subsumes, folding the
/// values it stood for (and its literal segments at the other's `{*}`) into
/// the one that covers it (of equal ones the first stays). Keeps the order
/// of the rest. One pass: O(n²) in the patterns of one rule.
pub fn drop_subsumed(patterns: &mut Vec<PathPattern>) {
    let mut i = 0;
    while i < patterns.len() {
        let covering = patterns.iter().enumerate().position(|(j, a)| {
            j != i
                && patterns
                    .get(i)
                    .is_some_and(|b| subsumes(a, b) && (!subsumes(b, a) || j < i))
        });
        match covering {
            Some(j) => {
                let b = patterns.remove(i);
                let j = if j > i { j - 1 } else { j };
                if let Some(a) = patterns.get_mut(j) {
                    fold_into(a, &b);
                }
                // No restart: `subsumes` looks at segments only and is
                // transitive, so a pattern kept before `i` had no cover
                // then and has none now (the next one moved to `i`).
            }
            None => i += 1,
        }
    }
}

fn fold_into(a: &mut PathPattern, b: &PathPattern) {
    for (i, s) in a.segments.iter().enumerate() {
        match s {
            Segment::One => match b.segments.get(i) {
                Some(Segment::Literal(l)) => {
                    a.values.entry(i).or_default().insert(l.clone());
                }
                Some(Segment::One) => {
                    let v = b.values.get(&i).cloned().unwrap_or_default();
                    a.values.entry(i).or_default().extend(v);
                }
                _ => {}
            },
            Segment::Rest => {
                // The tails below `i` are not kept apart for `b`; its
                // literal tail is one when it has no generalised position.
                if b.values.is_empty() {
                    let tail: Vec<String> = b
                        .segments
                        .get(i..)
                        .unwrap_or_default()
                        .iter()
                        .map(|s| match s {
                            Segment::Literal(l) => l.clone(),
                            Segment::One => "{*}".to_owned(),
                            Segment::Rest => "{**}".to_owned(),
                        })
                        .collect();
                    a.values.entry(i).or_default().insert(tail.join("/"));
                }
            }
            Segment::Literal(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    fn texts(paths: &[&str], k: usize) -> Vec<String> {
        let owned: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
        let (pats, of) = generalise(&owned, k);
        for (p, i) in owned.iter().zip(&of) {
            assert!(pats[*i].matches(p), "{p} vs {}", pats[*i].text());
        }
        pats.iter().map(PathPattern::text).collect()
    }

    #[test]
    fn ids_versions_and_many_values_become_one_segment() {
        assert!(id_like("42") && id_like("v1.2.3") && id_like("1.4.0-rc1"));
        assert!(id_like("0b8f3c2e-1a2b-4c3d-8e9f-001122334455"));
        assert!(id_like("9f86d081884c7d65") && id_like("aGVsbG8gd29ybGQx2"));
        assert!(!id_like("v1") && !id_like("users") && !id_like("deadbeef"));
        assert_eq!(
            texts(&["/v1/users/1", "/v1/users/2/orders", "/get", "/"], 5),
            ["/", "/get", "/v1/users/{*}", "/v1/users/{*}/orders"]
        );
        let many = ["/p/a/x", "/p/b/x", "/p/c/x", "/p/d/x", "/p/e/x", "/p/f/y"];
        // Five values after `/p` merge, and so do their subtrees.
        assert_eq!(texts(&many, 5), ["/p/{*}/x", "/p/{*}/y"]);
        assert_eq!(texts(&many, 7), many);
    }

    #[test]
    fn fewer_than_threshold_values_stay_literal() {
        let few = ["/r/a/pulls", "/r/b/pulls", "/r/c/issues", "/r/d/x"];
        assert_eq!(texts(&few, 5), few);
        // An id next to names: the id is `{*}`, the names stay.
        assert_eq!(texts(&["/u/1", "/u/me"], 5), ["/u/me", "/u/{*}"]);
    }

    #[test]
    fn pythonhosted_shaped_trees_become_one_pattern() {
        let hex = "0123456789abcdef";
        let mut paths = Vec::new();
        for n in 0..60usize {
            let a = format!("{}{}", &hex[n % 16..n % 16 + 1], &hex[n / 16..n / 16 + 1]);
            let b = format!(
                "{}{}",
                &hex[(n * 7) % 16..(n * 7) % 16 + 1],
                &hex[n % 5..n % 5 + 1]
            );
            let hash = format!("{:060x}", n * 7919 + 1);
            let file = format!("pkg{}-{}.{}.0-py3-none-any.whl", n % 9, n % 4, n % 3);
            paths.push(format!("/packages/{a}/{b}/{hash}/{file}"));
        }
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        assert_eq!(texts(&refs, 5), ["/packages/{*}/{*}/{*}/{*}"]);
    }

    #[test]
    fn a_covered_pattern_is_dropped() {
        let one = |t: &str| generalise(&[t.to_owned()], 5).0.remove(0);
        let mut ps = vec![one("/u/me"), one("/u/1"), one("/v/1")];
        assert!(subsumes(&ps[1], &ps[0]) && !subsumes(&ps[0], &ps[1]));
        drop_subsumed(&mut ps);
        let t: Vec<String> = ps.iter().map(PathPattern::text).collect();
        assert_eq!(t, ["/u/{*}", "/v/{*}"]);
        assert_eq!(ps[0].values[&1].len(), 2, "{:?}", ps[0].values);
        let rest = generalise(&["/f/a".into(), "/f/b/c".into()], 2).0.remove(0);
        assert!(subsumes(&rest, &one("/f/x/y/z")) && !subsumes(&rest, &one("/f")));
        assert!(!subsumes(&one("/u/1"), &one("/u/")));
    }

    #[test]
    fn many_tails_of_several_depths_become_the_rest() {
        let deep = [
            "/f/a",
            "/f/b/c",
            "/f/d/e/f",
            "/f/g/h/i/j",
            "/f/k/l/m/n/o",
            "/g/x",
        ];
        assert_eq!(texts(&deep, 5), ["/f/{**}", "/g/x"]);
        // After merging, four shapes, but of three depths and from six paths.
        let t = texts(&["/f/a", "/f/b/c", "/f/d/e/f", "/f/g", "/f/h/i", "/g/x"], 5);
        assert_eq!(t, ["/f/{**}", "/g/x"]);
        // Many paths of two depths and few shapes: no `{**}`.
        let t = texts(
            &[
                "/f/a/1", "/f/b/2", "/f/c/3/x", "/f/d/4", "/f/e/5/x", "/f/g/6",
            ],
            5,
        );
        assert_eq!(t, ["/f/{*}/{*}", "/f/{*}/{*}/x"]);
        let p = generalise(&["/f/a".into(), "/f/b/c".into()], 2).0;
        assert_eq!(p[0].text(), "/f/{**}");
        assert!(p[0].matches("/f/") && p[0].matches("/f/z/y") && !p[0].matches("/f"));
        assert_eq!(texts(&["/a*b/1"], 5), ["/a%2Ab/{*}"]);
    }

    /// One pass drops every covered pattern, however they are ordered:
    /// a cover after the covered one, a chain, and equal patterns.
    #[test]
    fn drop_subsumed_needs_no_restart() {
        let pat = |segs: &[Segment]| PathPattern {
            segments: segs.to_vec(),
            values: BTreeMap::new(),
        };
        let lit = |l: &str| Segment::Literal(l.to_owned());
        let mut v = vec![
            pat(&[lit("a"), lit("x")]),
            pat(&[lit("b")]),
            pat(&[lit("a"), Segment::One]),
            pat(&[lit("a"), Segment::Rest]),
            pat(&[lit("a"), Segment::Rest]),
        ];
        drop_subsumed(&mut v);
        let t: Vec<String> = v.iter().map(PathPattern::text).collect();
        assert_eq!(t, ["/b", "/a/{**}"]);
    }
}
