//! Who a learned rule admits: the principals seen, a namespace for one
//! with `wildcard_threshold` principals seen, all of one trust domain (a
//! `namespace` source admits the namespace of any trust domain, so the
//! comment says which one was seen), no condition when a request had no
//! principal; and how two rules' sources combine.

use std::collections::{BTreeMap, BTreeSet};

use super::{Source, Sources};
use crate::audit_log::namespace_of;

pub(super) fn source_key(s: &Source) -> String {
    match s {
        Source::Principal(p) => format!("principal {p}"),
        Source::Namespace { namespace, .. } => format!("namespace {namespace}"),
    }
}

pub(super) fn merge_sources(a: &mut Sources, b: &Sources) {
    match (a, b) {
        (
            Sources::Any { without_principal },
            Sources::Any {
                without_principal: n,
            },
        ) => *without_principal += n,
        (Sources::Only(x), Sources::Only(y)) => {
            for (s, t) in x.iter_mut().zip(y) {
                if let (
                    Source::Namespace { principals, .. },
                    Source::Namespace { principals: p2, .. },
                ) = (s, t)
                {
                    principals.extend(p2.iter().cloned());
                    principals.sort();
                    principals.dedup();
                }
            }
        }
        _ => {}
    }
}

/// The trust domain of a principal `[spiffe://]TD/…`.
pub(super) fn trust_domain(p: &str) -> &str {
    let bare = p.strip_prefix("spiffe://").unwrap_or(p);
    bare.split('/').next().unwrap_or(bare)
}

/// The sources for a set of requests.
pub(super) fn sources_of<'a>(
    principals: impl Iterator<Item = Option<&'a str>>,
    k: usize,
) -> Sources {
    let mut without = 0;
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for p in principals {
        match p {
            None => without += 1,
            Some(p) => {
                seen.insert(p);
            }
        }
    }
    if without > 0 {
        return Sources::Any {
            without_principal: without,
        };
    }
    let mut by_ns: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in &seen {
        if let Some(ns) = namespace_of(p) {
            by_ns.entry(ns).or_default().push((*p).to_owned());
        }
    }
    // A namespace admits it in every trust domain (docs/language.md,
    // "Sources"): it generalises only principals of one trust domain.
    by_ns.retain(|_, list| {
        let mut tds = list.iter().map(|p| trust_domain(p));
        let first = tds.next();
        tds.all(|t| Some(t) == first)
    });
    let mut out: Vec<Source> = Vec::new();
    for (ns, list) in &by_ns {
        if list.len() >= k {
            out.push(Source::Namespace {
                namespace: (*ns).to_owned(),
                principals: list.clone(),
            });
        }
    }
    for p in seen {
        let general = namespace_of(p).is_some_and(|ns| by_ns.get(ns).is_some_and(|l| l.len() >= k));
        if !general {
            out.push(Source::Principal(p.to_owned()));
        }
    }
    out.sort();
    Sources::Only(out)
}
