//! Witnesses for `egressc diff`: requests whose decision differs between
//! two policy sets, found from the sets' own constants rather than by
//! random sampling.
//!
//! For each destination a change touches (both versions of it; every
//! destination of a policy whose settings changed, or that was added or
//! removed), the candidates are built (by `candidates`, at most [`CAP`]
//! per destination; every host and port is tried with every rule's own
//! shapes before the full cross product) from:
//!
//! - hosts: each exact host; for `*.x` `w.x` and `x`, for `**.x` `w.x`,
//!   `a.b.x` and `x`; every exact host of either set that such a pattern
//!   covers; for a CIDR its network address, the address after it, its
//!   last address, and the addresses just outside either end;
//! - ports: each range's ends and the ports just outside;
//! - principals: none, one no rule names, each principal named, for
//!   `namespace "ns"` `cluster.local/ns/ns/sa/witness`, for a service
//!   account its principal;
//! - (HTTP) headers: none; one header named in a `when` condition with
//!   each compared value (`present`: "x") or another value, alone and
//!   with the first value of every other named header (for `when a and b`);
//! - (HTTP) methods: GET, every method a rule names (or leaves out), one
//!   no rule names, and `PURGE` (outside the standard list) when a rule's
//!   method set is open; CONNECT's authority always names its port;
//! - (HTTP) paths: `/`, a path no rule names, each exact path, a prefix and
//!   prefix + `x`, `/x` + a suffix and each prefix, template or exact
//!   path's directory + `x` + each suffix, a template with `{*}` → `x` and
//!   `{**}` → `x/y`, and a shortest string a regex accepts (walked from
//!   its syntax tree);
//! - (HTTP, when a policy of either set has `require sni-host-match`)
//!   SNI: none, the request's host, and another host.
//!
//! The methods, paths, principals, headers and ports also come from every
//! destination, of any policy in either set, whose targets can match the
//! same requests (same protocol; the same exact host, a wildcard covering
//! the other either way, overlapping CIDRs): another policy's rule may
//! decide the request once the changed one no longer does.
//!
//! Each candidate is decided under both sets by [`Decider`]; those whose
//! enforced (or, failing that, audit) decision differs are witnesses.

use std::collections::BTreeSet;
use std::net::IpAddr;

use egress_table::record::Record;
use egress_table::spec::{Action, DestSpec, HostKind, Protocol, TableSpec, Target};

use super::{Change, Level, candidates, dest_text, pair_dests};
use crate::explain::Decider;
use crate::sim::SimRequest;

pub use super::candidates::CAP;

/// How a request's decision changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// Denied by OLD, allowed by NEW (the enforced pool).
    NewlyAllowed,
    /// Allowed by OLD, denied by NEW.
    NewlyDenied,
    /// Only the audit pool's would-be decision: deny → allow.
    AuditNewlyAllowed,
    /// Only the audit pool's would-be decision: allow → deny.
    AuditNewlyDenied,
}

impl Effect {
    /// `newly-allowed`, `newly-denied`, `audit-newly-allowed` or `audit-newly-denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewlyAllowed => "newly-allowed",
            Self::NewlyDenied => "newly-denied",
            Self::AuditNewlyAllowed => "audit-newly-allowed",
            Self::AuditNewlyDenied => "audit-newly-denied",
        }
    }
}

/// A request whose decision differs between OLD and NEW.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// The request.
    pub request: SimRequest,
    /// How its decision changed.
    pub effect: Effect,
    /// A `test` block line that holds under NEW, e.g.
    /// `GET http://a.com/x from "cluster.local/ns/a/sa/b" => allow`.
    pub case: String,
    /// OLD's enforced verdict.
    pub old: Record,
    /// NEW's enforced verdict.
    pub new: Record,
    /// OLD's audit verdict, if OLD has audit policies.
    pub old_audit: Option<Record>,
    /// NEW's audit verdict, if NEW has audit policies.
    pub new_audit: Option<Record>,
    /// The policy and destination the request was made for.
    pub origin: Option<(String, String)>,
}

impl Witness {
    /// The verdicts that changed: enforced, or audit for an audit effect.
    pub fn records(&self) -> (&Record, &Record) {
        match (self.effect, &self.old_audit, &self.new_audit) {
            (Effect::AuditNewlyAllowed | Effect::AuditNewlyDenied, Some(a), Some(b)) => (a, b),
            _ => (&self.old, &self.new),
        }
    }

    /// The witness as JSON (fields in [`crate::diff`]'s documentation).
    pub fn to_json(&self) -> serde_json::Value {
        let rec = |r: &Record| serde_json::to_value(r).unwrap_or_default();
        serde_json::json!({
            "effect": self.effect.as_str(),
            "request": request_json(&self.request),
            "case": self.case,
            "old": rec(&self.old),
            "new": rec(&self.new),
            "old_audit": self.old_audit.as_ref().map(rec),
            "new_audit": self.new_audit.as_ref().map(rec),
        })
    }
}

/// A request as a line of `egressc simulate --requests`.
pub fn request_json(r: &SimRequest) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    let mut put = |k: &str, v: Option<serde_json::Value>| {
        if let Some(v) = v {
            o.insert(k.to_owned(), v);
        }
    };
    put("method", r.method.clone().map(Into::into));
    put("host", r.host.clone().map(Into::into));
    put("port", r.port.map(Into::into));
    put("path", r.path.clone().map(Into::into));
    put("scheme", r.scheme.clone().map(Into::into));
    put("principal", r.principal.clone().map(Into::into));
    put("sni", r.sni.clone().map(Into::into));
    put("destination", r.destination.map(|d| d.to_string().into()));
    if !r.headers.is_empty() {
        let h: serde_json::Map<String, serde_json::Value> = r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned().into()))
            .collect();
        o.insert("headers".to_owned(), h.into());
    }
    serde_json::Value::Object(o)
}

/// Sorts witnesses shortest first (then by text): a stable, readable order.
pub fn shortest_first(ws: &mut [Witness]) {
    ws.sort_by(|a, b| (a.effect, a.case.len(), &a.case).cmp(&(b.effect, b.case.len(), &b.case)));
}

/// Keeps `n` witnesses of each effect (newly allowed, newly denied, and
/// their audit-pool kinds), so a change that both opens and closes shows
/// both; within an effect, shortest first, preferring ones that differ in
/// more than their principal and headers (then the shortest of the rest).
pub fn pick(ws: &mut Vec<Witness>, n: usize) {
    shortest_first(ws);
    let shape = |w: &Witness| {
        let r = &w.request;
        let bare = SimRequest {
            principal: None,
            headers: Vec::new(),
            ..r.clone()
        };
        (bare.describe(), r.effective_port())
    };
    let mut kept = Vec::new();
    let mut all = std::mem::take(ws).into_iter().peekable();
    while let Some(effect) = all.peek().map(|w| w.effect) {
        let mut shapes = BTreeSet::new();
        let (mut first, mut rest): (Vec<Witness>, Vec<Witness>) = (Vec::new(), Vec::new());
        while let Some(w) = all.next_if(|w| w.effect == effect) {
            if shapes.insert(shape(&w)) {
                first.push(w);
            } else {
                rest.push(w);
            }
        }
        first.truncate(n);
        let more = n.saturating_sub(first.len());
        first.extend(rest.into_iter().take(more));
        kept.extend(first);
    }
    shortest_first(&mut kept);
    *ws = kept;
}

/// What [`find`] found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Requests decided under both sets.
    pub candidates: usize,
    /// Destinations whose candidates were cut at [`CAP`].
    pub capped: usize,
    /// Those destinations' combinations, in all (saturating).
    pub combinations: u64,
    /// How many of them were tried.
    pub tried: u64,
}

/// Finds the witnesses of `changes` (see the module documentation) and
/// hands each to `sink`; `deciders` are OLD's and NEW's.
pub(crate) fn find(
    old: &TableSpec,
    new: &TableSpec,
    changes: &[Change],
    (old_d, new_d): (&Decider, &Decider),
    sink: &mut dyn FnMut(Witness),
) -> Found {
    let mut found = Found::default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let exact = exact_hosts(old, new);
    let sni = [old, new]
        .iter()
        .flat_map(|t| &t.policies)
        .any(|p| p.require_sni_host_match);
    let everywhere = candidates::Related::new(
        [old, new]
            .iter()
            .flat_map(|t| &t.policies)
            .flat_map(|p| &p.destinations)
            .collect(),
    );
    for (policy, dests) in dirty(old, new, changes) {
        // Destinations of any policy, either set, that can match the
        // same requests: their rules decide alongside this one's.
        let related = everywhere.of(&dests, RELATED);
        let dims = candidates::dims(&dests, &related, &exact, sni);
        let origin = (policy, dest_text(dests.first().copied().unwrap_or(&EMPTY)));
        let built = candidates::build(&dims);
        let tried = built.requests.len() as u64;
        if built.total > tried {
            found.capped += 1;
            found.combinations = found.combinations.saturating_add(built.total);
            found.tried = found.tried.saturating_add(tried);
        }
        for r in built.requests {
            let key = format!("{} {}", r.describe(), r.effective_port());
            if !seen.insert(key) {
                continue;
            }
            found.candidates += 1;
            if let Some(w) = compare(r, old_d, new_d, &origin) {
                sink(w);
            }
        }
    }
    // A host no destination lists: what the defaults decide.
    for r in unlisted() {
        found.candidates += 1;
        if let Some(w) = compare(r, old_d, new_d, &(String::new(), String::new())) {
            sink(w);
        }
    }
    found
}

/// Most overlapping destinations whose constants join a changed one's.
const RELATED: usize = 256;

static EMPTY: DestSpec = DestSpec {
    targets: Vec::new(),
    protocol: Protocol::Http,
    ports: Vec::new(),
    rules: Vec::new(),
};

fn unlisted() -> Vec<SimRequest> {
    let host = "unlisted.egress-diff.example";
    vec![
        SimRequest {
            method: Some("GET".into()),
            host: Some(host.into()),
            path: Some("/".into()),
            ..SimRequest::default()
        },
        SimRequest {
            sni: Some(host.into()),
            port: Some(443),
            ..SimRequest::default()
        },
        SimRequest {
            destination: Some(IpAddr::from([192, 0, 2, 1])),
            port: Some(443),
            ..SimRequest::default()
        },
    ]
}

/// Decides `r` under both sets; a witness when a decision differs.
fn compare(
    r: SimRequest,
    old_d: &Decider,
    new_d: &Decider,
    origin: &(String, String),
) -> Option<Witness> {
    let (old, old_audit) = old_d.decide(&r);
    let (new, new_audit) = new_d.decide(&r);
    let effect = if old.decision != new.decision {
        flip(new.decision, Effect::NewlyAllowed, Effect::NewlyDenied)
    } else {
        match (&old_audit, &new_audit) {
            (Some(a), Some(b)) if a.decision != b.decision => flip(
                b.decision,
                Effect::AuditNewlyAllowed,
                Effect::AuditNewlyDenied,
            ),
            _ => return None,
        }
    };
    let mut case = format!("{} => {}", r.describe(), new.decision.as_str());
    if let Some(a) = &new_audit {
        case.push_str(&format!(", audit {}", a.decision.as_str()));
    }
    Some(Witness {
        request: r,
        effect,
        case,
        old,
        new,
        old_audit,
        new_audit,
        origin: (!origin.0.is_empty()).then(|| origin.clone()),
    })
}

fn flip(new: Action, allowed: Effect, denied: Effect) -> Effect {
    match new {
        Action::Allow => allowed,
        Action::Deny => denied,
    }
}

/// Every exact host of either set.
fn exact_hosts(old: &TableSpec, new: &TableSpec) -> BTreeSet<String> {
    [old, new]
        .iter()
        .flat_map(|t| &t.policies)
        .flat_map(|p| &p.destinations)
        .flat_map(|d| &d.targets)
        .filter_map(|t| match t {
            Target::Host(h) if h.kind == HostKind::Exact => Some(h.name.clone()),
            _ => None,
        })
        .collect()
}

/// The destinations to probe: per paired destination a change touches,
/// both versions; for a policy-level change, every destination of the
/// policy (both sides).
fn dirty<'a>(
    old: &'a TableSpec,
    new: &'a TableSpec,
    changes: &[Change],
) -> Vec<(String, Vec<&'a DestSpec>)> {
    let mut out = Vec::new();
    let policies = old.policies.iter().map(|p| &p.name);
    let names: BTreeSet<&String> = policies
        .chain(new.policies.iter().map(|p| &p.name))
        .collect();
    for name in names {
        let a = old.policies.iter().find(|p| &p.name == name);
        let b = new.policies.iter().find(|p| &p.name == name);
        let mine = changes.iter().filter(|c| &c.policy == name);
        let whole = mine.clone().any(|c| c.level == Level::Policy);
        let touched: BTreeSet<&str> = mine.filter_map(|c| c.destination.as_deref()).collect();
        let ad = a.map_or(&[][..], |p| &p.destinations);
        let bd = b.map_or(&[][..], |p| &p.destinations);
        for (x, y) in pair_dests(ad, bd) {
            let hit =
                |d: Option<&DestSpec>| d.is_some_and(|d| touched.contains(dest_text(d).as_str()));
            if whole || hit(x) || hit(y) {
                let both: Vec<_> = y.into_iter().chain(x).collect();
                out.push((name.clone(), both));
            }
        }
    }
    out
}

/// A shortest string the regex accepts (from its syntax tree), if one
/// is easy to find.
pub fn shortest_match(regex: &str) -> Option<String> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(regex)
        .ok()?;
    let bytes = shortest(&hir)?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn shortest(h: &regex_syntax::hir::Hir) -> Option<Vec<u8>> {
    use regex_syntax::hir::{Class, HirKind};
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(Vec::new()),
        HirKind::Literal(l) => Some(l.0.to_vec()),
        HirKind::Class(Class::Bytes(c)) => {
            let has = |b: u8| c.ranges().iter().any(|r| r.start() <= b && b <= r.end());
            let pick = [b'x', b'a', b'0'].into_iter().find(|b| has(*b));
            pick.or_else(|| c.ranges().first().map(|r| r.start()))
                .map(|b| vec![b])
        }
        HirKind::Class(Class::Unicode(c)) => {
            let has = |ch: char| c.ranges().iter().any(|r| r.start() <= ch && ch <= r.end());
            let pick = ['x', 'a', '0'].into_iter().find(|ch| has(*ch));
            let ch = pick.or_else(|| c.ranges().first().map(|r| r.start()))?;
            Some(ch.to_string().into_bytes())
        }
        HirKind::Repetition(r) => {
            let one = shortest(&r.sub)?;
            Some(one.repeat(usize::try_from(r.min).unwrap_or(0)))
        }
        HirKind::Capture(c) => shortest(&c.sub),
        HirKind::Concat(parts) => {
            let mut out = Vec::new();
            for p in parts {
                out.extend(shortest(p)?);
            }
            Some(out)
        }
        HirKind::Alternation(alts) => alts.iter().filter_map(shortest).min_by_key(Vec::len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_strings_of_regexes() {
        assert_eq!(
            shortest_match("/v[0-9]+/items").as_deref(),
            Some("/v0/items")
        );
        assert_eq!(shortest_match("/(a|bc)*/x?").as_deref(), Some("//"));
        assert_eq!(
            shortest_match("/api/(users|u)/[a-z]{2}").as_deref(),
            Some("/api/u/xx")
        );
    }
}
