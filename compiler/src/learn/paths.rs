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
    /// an exact path when nothing was generalised), or, when a literal
    /// segment holds a character a template cannot (`*`, `{`, `}`), a regex.
    pub fn text(&self) -> String {
        if self.needs_regex() {
            let parts: Vec<String> = self
                .segments
                .iter()
                .map(|s| match s {
                    Segment::Literal(l) => regex::escape(l),
                    Segment::One => "[^/]+".to_owned(),
                    Segment::Rest => ".*".to_owned(),
                })
                .collect();
            return format!("/{}", parts.join("/"));
        }
        let parts: Vec<&str> = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.as_str(),
                Segment::One => "{*}",
                Segment::Rest => "{**}",
            })
            .collect();
        format!("/{}", parts.join("/"))
    }

    /// Whether the pattern must be written as a regex (`~"…"`).
    pub fn needs_regex(&self) -> bool {
        self.segments.iter().any(|s| match s {
            Segment::Literal(l) => l.contains(['*', '{', '}']),
            _ => false,
        })
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

fn segments_of(path: &str) -> Vec<Segment> {
    path.strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(|s| Segment::Literal(s.to_owned()))
        .collect()
}

/// Learns templates for `paths` (distinct, each starting with `/`) with
/// `threshold` distinct values as the point where a position varies.
/// Returns the patterns (sorted by text) and, for each input path in order,
/// the index of its pattern.
pub fn generalise(paths: &[String], threshold: usize) -> (Vec<PathPattern>, Vec<usize>) {
    let threshold = threshold.max(2);
    let raw: Vec<Vec<Segment>> = paths.iter().map(|p| segments_of(p)).collect();
    // 1. Identifiers.
    let mut cur: Vec<Vec<Segment>> = raw
        .iter()
        .map(|segs| {
            segs.iter()
                .map(|s| match s {
                    Segment::Literal(l) if id_like(l) => Segment::One,
                    s => s.clone(),
                })
                .collect()
        })
        .collect();
    // 2. Positions with many values among otherwise identical paths, until
    //    nothing changes.
    loop {
        let mut changed = false;
        let mut groups: BTreeMap<(usize, Vec<Segment>), BTreeSet<String>> = BTreeMap::new();
        for segs in &cur {
            for (i, s) in segs.iter().enumerate() {
                if let Segment::Literal(l) = s
                    && !l.is_empty()
                {
                    let mut key = segs.clone();
                    if let Some(k) = key.get_mut(i) {
                        *k = Segment::One;
                    }
                    groups.entry((i, key)).or_default().insert(l.clone());
                }
            }
        }
        let mut change = Vec::new();
        for (n, segs) in cur.iter().enumerate() {
            for (i, s) in segs.iter().enumerate() {
                let Segment::Literal(l) = s else { continue };
                if l.is_empty() {
                    continue;
                }
                let mut key = segs.clone();
                if let Some(k) = key.get_mut(i) {
                    *k = Segment::One;
                }
                if groups.get(&(i, key)).is_some_and(|v| v.len() >= threshold) {
                    change.push((n, i));
                }
            }
        }
        for (n, i) in change {
            if let Some(s) = cur.get_mut(n).and_then(|segs| segs.get_mut(i)) {
                *s = Segment::One;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // 3. `{**}`: the deepest prefix first whose distinct tails are many and
    //    of more than one depth.
    let max_len = cur.iter().map(Vec::len).max().unwrap_or(0);
    for len in (1..max_len).rev() {
        let mut tails: BTreeMap<Vec<Segment>, BTreeSet<Vec<Segment>>> = BTreeMap::new();
        for segs in &cur {
            if segs.len() > len
                && let (Some(prefix), Some(tail)) = (segs.get(..len), segs.get(len..))
                && !prefix.contains(&Segment::Rest)
            {
                tails
                    .entry(prefix.to_vec())
                    .or_default()
                    .insert(tail.to_vec());
            }
        }
        for (prefix, set) in tails {
            let depths: BTreeSet<usize> = set
                .iter()
                .map(|t| {
                    if t.last() == Some(&Segment::Rest) {
                        usize::MAX
                    } else {
                        t.len()
                    }
                })
                .collect();
            if set.len() >= threshold && depths.len() >= 2 {
                for segs in &mut cur {
                    if segs.len() > len && segs.get(..len) == Some(prefix.as_slice()) {
                        segs.truncate(len);
                        segs.push(Segment::Rest);
                    }
                }
            }
        }
    }
    // 4. The patterns, with the values each generalised position stands for.
    let mut by_pattern: BTreeMap<String, (Vec<Segment>, Values)> = BTreeMap::new();
    let mut keys = Vec::with_capacity(cur.len());
    for (segs, (orig, path)) in cur.iter().zip(raw.iter().zip(paths)) {
        let text = PathPattern {
            segments: segs.clone(),
            values: BTreeMap::new(),
        }
        .text();
        let entry = by_pattern
            .entry(text.clone())
            .or_insert_with(|| (segs.clone(), BTreeMap::new()));
        for (i, s) in segs.iter().enumerate() {
            match s {
                Segment::One => {
                    if let Some(Segment::Literal(v)) = orig.get(i) {
                        entry.1.entry(i).or_default().insert(v.clone());
                    }
                }
                Segment::Rest => {
                    let tail: Vec<&str> = path
                        .strip_prefix('/')
                        .unwrap_or(path)
                        .split('/')
                        .skip(i)
                        .collect();
                    entry.1.entry(i).or_default().insert(tail.join("/"));
                }
                Segment::Literal(_) => {}
            }
        }
        keys.push(text);
    }
    let index: BTreeMap<&String, usize> =
        by_pattern.keys().enumerate().map(|(i, k)| (k, i)).collect();
    let of_path = keys
        .iter()
        .map(|k| index.get(k).copied().unwrap_or(0))
        .collect();
    let patterns = by_pattern
        .into_values()
        .map(|(segments, values)| PathPattern { segments, values })
        .collect();
    (patterns, of_path)
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
        assert_eq!(texts(&many, 5), ["/p/f/y", "/p/{*}/x"]);
        assert_eq!(texts(&many, 6), many);
    }

    #[test]
    fn many_tails_of_several_depths_become_the_rest() {
        let t = texts(&["/f/a", "/f/b/c", "/f/d/e/f", "/f/g", "/f/h/i", "/g/x"], 5);
        assert_eq!(t, ["/f/{**}", "/g/x"]);
        let p = generalise(&["/f/a".into(), "/f/b/c".into()], 2).0;
        assert_eq!(p[0].text(), "/f/{**}");
        assert!(p[0].matches("/f/") && p[0].matches("/f/z/y") && !p[0].matches("/f"));
        assert_eq!(texts(&["/a*b/1"], 5), ["/a\\*b/[^/]+"]);
    }
}
