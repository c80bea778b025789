//! Host wildcards from observed names: `*.parent` when at least K names one
//! label below `parent` were seen, `**.parent` when the K names sit deeper
//! (at several depths, or all at one depth of two labels or more: a pattern
//! cannot say `*.*.`, and the comment says `**.` admits other depths too);
//! never for a parent of fewer than two labels.

use std::collections::{BTreeMap, BTreeSet};

/// A proposed wildcard and the names it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wildcard {
    /// `*.parent` or `**.parent`.
    pub pattern: String,
    /// The parent domain.
    pub parent: String,
    /// The names seen under it (sorted).
    pub names: Vec<String>,
}

/// Whether `host` matches `pattern` (`*.p`: one label below `p`; `**.p`:
/// one or more; else the same name).
pub fn matches(pattern: &str, host: &str) -> bool {
    if let Some(parent) = pattern.strip_prefix("**.") {
        host.strip_suffix(parent)
            .and_then(|h| h.strip_suffix('.'))
            .is_some_and(|h| !h.is_empty() && !h.starts_with('.'))
    } else if let Some(parent) = pattern.strip_prefix("*.") {
        host.strip_suffix(parent)
            .and_then(|h| h.strip_suffix('.'))
            .is_some_and(|h| !h.is_empty() && !h.contains('.'))
    } else {
        pattern == host
    }
}

fn labels(name: &str) -> usize {
    name.split('.').count()
}

/// The wildcards for `names` (DNS names, not addresses) with `threshold`
/// distinct names under a parent as the bar. The deepest qualifying parent
/// is taken first; a shallower one counts only names no deeper wildcard
/// covers, and absorbs the deeper wildcards under it when it qualifies.
pub fn generalise(names: &BTreeSet<String>, threshold: usize) -> Vec<Wildcard> {
    let threshold = threshold.max(2);
    let mut parents: BTreeSet<(std::cmp::Reverse<usize>, String)> = BTreeSet::new();
    for n in names {
        let parts: Vec<&str> = n.split('.').collect();
        for start in 1..parts.len() {
            if let Some(rest) = parts.get(start..)
                && rest.len() >= 2
            {
                parents.insert((std::cmp::Reverse(rest.len()), rest.join(".")));
            }
        }
    }
    let mut chosen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut covered: BTreeSet<&String> = BTreeSet::new();
    for (_, parent) in parents {
        let under = |n: &str| matches(&format!("**.{parent}"), n);
        let fresh: Vec<&String> = names
            .iter()
            .filter(|n| under(n) && !covered.contains(n))
            .collect();
        if fresh.len() < threshold {
            continue;
        }
        let mut all: BTreeSet<String> = fresh.iter().map(|n| (*n).clone()).collect();
        let absorbed: Vec<String> = chosen.keys().filter(|p| under(p)).cloned().collect();
        for p in absorbed {
            all.extend(chosen.remove(&p).unwrap_or_default());
        }
        covered.extend(fresh);
        chosen.insert(parent, all.into_iter().collect());
    }
    chosen
        .into_iter()
        .map(|(parent, names)| {
            let depth = labels(&parent) + 1;
            let star = if names.iter().all(|n| labels(n) == depth) {
                "*"
            } else {
                "**"
            };
            Wildcard {
                pattern: format!("{star}.{parent}"),
                parent,
                names,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn siblings_make_a_star_depths_make_two_and_short_parents_none() {
        let w = generalise(&set(&["a.x.io", "b.x.io", "c.x.io", "x.io", "d.y.io"]), 3);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].pattern, "*.x.io");
        assert_eq!(w[0].names, ["a.x.io", "b.x.io", "c.x.io"]);
        let w = generalise(&set(&["a.x.io", "b.c.x.io", "d.x.io"]), 3);
        assert_eq!(w[0].pattern, "**.x.io");
        // Never `*.io`: the parent needs two labels.
        assert!(generalise(&set(&["a.io", "b.io", "c.io"]), 2).is_empty());
        // The deeper parent first; the shallower absorbs it when it qualifies.
        let w = generalise(&set(&["a.c.x.io", "b.c.x.io", "d.x.io"]), 2);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].pattern, "*.c.x.io");
        assert!(matches("*.x.io", "a.x.io") && !matches("*.x.io", "a.b.x.io"));
        assert!(matches("**.x.io", "a.b.x.io") && !matches("**.x.io", "x.io"));
        assert!(!matches("**.x.io", "ax.io"));
    }
}
