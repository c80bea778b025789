//! Which change explains a witness, for [`super::diff`]: the destination
//! change whose other version the request does not reach, else the rules
//! that decided it, their destinations, their policies' settings, or the
//! destination the request was made for.

use std::collections::HashMap;

use egress_table::record::Record;
use egress_table::spec::{DestSpec, TableSpec, Target};

use super::{Change, Level, Mark, Witness, dest_text, pair_dests};

/// Where each rule id of each side lives (its destination's text), and
/// each paired destination's other version, by (policy, text) on its side.
pub(super) struct Attribution {
    old: HashMap<String, String>,
    new: HashMap<String, String>,
    /// OLD's version of each of NEW's destinations.
    old_of_new: HashMap<(String, String), DestSpec>,
    /// NEW's version of each of OLD's destinations.
    new_of_old: HashMap<(String, String), DestSpec>,
}

/// Whether a request reaches a destination: its port in the ranges, and
/// its host (HTTP), SNI (TLS) or address (TCP) matched by a target. A
/// request that lacks the field counts as reaching it.
fn reaches(d: &DestSpec, r: &crate::sim::SimRequest) -> bool {
    use egress_table::spec::{HostKind, Protocol};
    let port = r.effective_port();
    if !d.ports.iter().any(|p| p.lo <= port && port <= p.hi) {
        return false;
    }
    let name = match d.protocol {
        Protocol::Http => r.host.as_deref().map(host_name),
        Protocol::Tls => r.sni.as_deref(),
        Protocol::Tcp => {
            return r.destination.is_none_or(|a| {
                d.targets
                    .iter()
                    .any(|t| matches!(t, Target::Cidr(c) if c.contains(a)))
            });
        }
    };
    let Some(name) = name else { return true };
    d.targets.iter().any(|t| match t {
        Target::Host(h) if h.kind == HostKind::Exact => h.name.eq_ignore_ascii_case(name),
        Target::Host(h) => crate::check::pattern_matches(h, &name.to_ascii_lowercase()),
        Target::Cidr(c) => name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| c.contains(a)),
    })
}

/// An authority's host: without its port or an IPv6 literal's brackets.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

fn counterparts(from: &TableSpec, to: &TableSpec) -> HashMap<(String, String), DestSpec> {
    let mut out = HashMap::new();
    for p in &from.policies {
        let Some(q) = to.policies.iter().find(|q| q.name == p.name) else {
            continue;
        };
        for (x, y) in pair_dests(&p.destinations, &q.destinations) {
            if let (Some(x), Some(y)) = (x, y) {
                out.insert((p.name.clone(), dest_text(x)), y.clone());
            }
        }
    }
    out
}

fn rule_homes(t: &TableSpec) -> HashMap<String, String> {
    t.policies
        .iter()
        .flat_map(|p| {
            p.destinations
                .iter()
                .flat_map(move |d| d.rules.iter().map(move |r| (r.id.clone(), dest_text(d))))
        })
        .collect()
}

impl Attribution {
    pub(super) fn new(old: &TableSpec, new: &TableSpec) -> Self {
        Self {
            old: rule_homes(old),
            new: rule_homes(new),
            old_of_new: counterparts(new, old),
            new_of_old: counterparts(old, new),
        }
    }

    /// A changed destination whose rule decided `w` on one side although
    /// the request does not reach its version on the other side (a port
    /// or target widened or narrowed): that change, not the rule's, flips it.
    fn reach(
        &self,
        changes: &[Change],
        w: &Witness,
        homes: (Option<&String>, Option<&String>),
    ) -> Vec<usize> {
        let (old, new) = w.records();
        let sides = [
            (homes.1, new.policy.as_ref(), &self.old_of_new, true),
            (homes.0, old.policy.as_ref(), &self.new_of_old, false),
        ];
        for (home, policy, other, is_new) in sides {
            let (Some(home), Some(policy)) = (home, policy) else {
                continue;
            };
            let Some(version) = other.get(&(policy.clone(), home.clone())) else {
                continue;
            };
            if reaches(version, &w.request) {
                continue;
            }
            let hits: Vec<usize> = (0..changes.len())
                .filter(|i| {
                    changes.get(*i).is_some_and(|c| {
                        let text = if is_new { &c.new } else { &c.old };
                        c.level == Level::Destination
                            && c.mark == Mark::Changed
                            && &c.policy == policy
                            && text.as_ref() == Some(home)
                    })
                })
                .collect();
            if !hits.is_empty() {
                return hits;
            }
        }
        Vec::new()
    }

    /// The changes that explain `w`, most specific first: a changed
    /// destination whose other version the request does not reach (see
    /// [`Attribution::reach`]), the rules that decided it (either side), else the destinations holding them, else
    /// the deciding policies' own changes, else the changes of the
    /// destination the request was made for.
    pub(super) fn attribute(&self, changes: &[Change], w: &Witness) -> Vec<usize> {
        let (old, new) = w.records();
        let home = |homes: &HashMap<String, String>, r: &Record| {
            r.rule.as_ref().and_then(|id| homes.get(id)).cloned()
        };
        let (old_home, new_home) = (home(&self.old, old), home(&self.new, new));
        let moved = self.reach(changes, w, (old_home.as_ref(), new_home.as_ref()));
        if !moved.is_empty() {
            return moved;
        }
        let tiers: [&dyn Fn(&Change) -> bool; 4] = [
            &|c| {
                c.level == Level::Rule
                    && ((c.old_rule.is_some() && c.old_rule == old.rule)
                        || (c.new_rule.is_some() && c.new_rule == new.rule))
            },
            &|c| {
                c.level == Level::Destination
                    && ((old_home.is_some()
                        && c.old == old_home
                        && Some(&c.policy) == old.policy.as_ref())
                        || (new_home.is_some()
                            && c.new == new_home
                            && Some(&c.policy) == new.policy.as_ref()))
            },
            &|c| {
                c.level == Level::Policy
                    && (Some(&c.policy) == old.policy.as_ref()
                        || Some(&c.policy) == new.policy.as_ref())
            },
            &|c| {
                w.origin
                    .as_ref()
                    .is_some_and(|(p, d)| *p == c.policy && c.destination.as_ref() == Some(d))
                    || (c.level == Level::Policy
                        && w.origin.as_ref().is_some_and(|(p, _)| *p == c.policy))
            },
        ];
        for tier in tiers {
            let hits: Vec<usize> = (0..changes.len())
                .filter(|i| changes.get(*i).is_some_and(tier))
                .collect();
            if !hits.is_empty() {
                return hits;
            }
        }
        Vec::new()
    }
}
