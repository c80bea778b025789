//! `egressc learn`: a policy that allows exactly what the filter's audit
//! lines show, and says where it generalised.
//!
//! Input: the audit lines ([`crate::audit_log::parse`]) of one or more logs
//! and [`LearnOptions`]. Output: a [`Learned`] value, which holds the
//! structured model (destinations, hosts, ports, rules, and every
//! generalisation: host wildcards, `{*}`/`{**}` path segments, namespaces
//! for principals) and the policy text, formatted, with a `test` block of
//! observed requests and near misses that the compiled policy was checked
//! against. Everything is sorted: the same lines in any order give the same
//! bytes. Pure: no file-system or process I/O.
//!
//! The rules (docs: `egressc learn`):
//! - requests the filter refused before any rule, and lines whose host or
//!   path the filter cut short, are not learned (they are counted);
//! - `(protocol, host, port)` groups seen fewer than `min_count` times are
//!   dropped (listed in the header);
//! - hosts: `*.parent` / `**.parent` when at least `wildcard_threshold`
//!   distinct names under `parent` (two labels or more) were seen;
//! - paths, on a trie of segments: identifiers (numbers, UUIDs, hex, long
//!   tokens, versions) become `{*}`; top down, `wildcard_threshold`
//!   distinct values after the same prefix merge into `{*}` (their subtrees
//!   merge too); bottom up, a prefix with `wildcard_threshold` distinct
//!   tails of several depths, or with many names right after it and tails
//!   of three depths or more, becomes `prefix/{**}`; a pattern that another
//!   of the same rule covers is dropped;
//! - sources: the principals seen, `namespace "ns"` for a namespace with
//!   `wildcard_threshold` principals seen, none when a request had no
//!   principal.

mod cases;
pub mod hosts;
pub mod paths;
mod render;
mod sources;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use sources::{merge_sources, source_key, sources_of};

use crate::audit_log::{Decision, Entry, Parsed, Protocol, namespace_of};
use crate::sim::SimRequest;
pub use paths::{PathPattern, Segment};

/// The default of `--wildcard-threshold`: five distinct names (values,
/// principals) before a wildcard (`{*}`, namespace) is proposed.
pub const DEFAULT_WILDCARD_THRESHOLD: usize = 5;

/// What the caller chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnOptions {
    /// Drop `(protocol, host, port)` groups seen fewer times (default 1).
    pub min_count: usize,
    /// Distinct names, values or principals before a generalisation (at
    /// least 2; default [`DEFAULT_WILDCARD_THRESHOLD`]).
    pub wildcard_threshold: usize,
    /// The policy's name (default `learned`).
    pub policy_name: String,
    /// Observed requests per destination in the test block (default 3).
    pub allow_cases: usize,
    /// Near misses per destination in the test block, one of each kind
    /// (method, path, host, port, principal, no principal; default 5).
    pub near_misses: usize,
}

impl Default for LearnOptions {
    fn default() -> Self {
        Self {
            min_count: 1,
            wildcard_threshold: DEFAULT_WILDCARD_THRESHOLD,
            policy_name: "learned".to_owned(),
            allow_cases: 3,
            near_misses: 5,
        }
    }
}

/// How often something was seen, and when first and last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Requests.
    pub count: usize,
    /// The earliest `time`, if the lines had one.
    pub first: Option<String>,
    /// The latest `time`.
    pub last: Option<String>,
}

impl Seen {
    fn add(&mut self, time: Option<&str>) {
        self.count += 1;
        if let Some(t) = time {
            if self.first.as_deref().is_none_or(|f| t < f) {
                self.first = Some(t.to_owned());
            }
            if self.last.as_deref().is_none_or(|l| t > l) {
                self.last = Some(t.to_owned());
            }
        }
    }

    fn merge(&mut self, o: &Seen) {
        self.count += o.count;
        if let Some(f) = &o.first
            && self.first.as_ref().is_none_or(|x| f < x)
        {
            self.first = Some(f.clone());
        }
        if let Some(l) = &o.last
            && self.last.as_ref().is_none_or(|x| l > x)
        {
            self.last = Some(l.clone());
        }
    }
}

/// One host of a destination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Host {
    /// The name, address, or `*.parent` / `**.parent`.
    pub pattern: String,
    /// For a wildcard: the names seen that it stands for; empty otherwise.
    pub from: Vec<String>,
}

impl Host {
    /// Whether `host` is matched.
    pub fn matches(&self, host: &str) -> bool {
        hosts::matches(&self.pattern, host)
    }
}

/// The methods of an HTTP rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Methods {
    /// The methods seen (standard ones, in the canonical order).
    Named(Vec<String>),
    /// A non-standard method was seen, which a rule cannot name: every
    /// method but these standard ones that were not seen.
    AnyExcept(Vec<String>),
}

impl Methods {
    /// Whether `method` is admitted (`any except` never admits CONNECT).
    pub fn admits(&self, method: &str) -> bool {
        match self {
            Methods::Named(m) => m.iter().any(|x| x == method),
            Methods::AnyExcept(m) => method != "CONNECT" && !m.iter().any(|x| x == method),
        }
    }
}

/// A source condition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// One principal.
    Principal(String),
    /// Every principal of a namespace: a generalisation from `principals`.
    Namespace {
        /// The namespace.
        namespace: String,
        /// The principals seen in it.
        principals: Vec<String>,
    },
}

/// Who a rule admits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sources {
    /// No source condition: `without_principal` requests had no principal.
    Any {
        /// How many.
        without_principal: usize,
    },
    /// Only these.
    Only(Vec<Source>),
}

impl Sources {
    /// Whether a request from `principal` is admitted.
    pub fn admits(&self, principal: Option<&str>) -> bool {
        match self {
            Sources::Any { .. } => true,
            Sources::Only(list) => principal.is_some_and(|p| {
                let bare = p.strip_prefix("spiffe://").unwrap_or(p);
                list.iter().any(|s| match s {
                    Source::Principal(x) => x.strip_prefix("spiffe://").unwrap_or(x) == bare,
                    Source::Namespace { namespace, .. } => {
                        namespace_of(p) == Some(namespace.as_str())
                    }
                })
            }),
        }
    }

    /// Whether there is a source condition.
    pub fn restricted(&self) -> bool {
        matches!(self, Sources::Only(_))
    }
}

/// A learned `allow` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// HTTP: the methods; `None` for `tls` and `tcp`.
    pub methods: Option<Methods>,
    /// HTTP: the path patterns (none for a CONNECT rule, and for tls/tcp).
    pub paths: Vec<PathPattern>,
    /// Who.
    pub sources: Sources,
    /// The requests it was learned from.
    pub seen: Seen,
}

impl Rule {
    /// Whether the rule admits this request.
    pub fn admits(
        &self,
        method: Option<&str>,
        path: Option<&str>,
        principal: Option<&str>,
    ) -> bool {
        let method_ok = match (&self.methods, method) {
            (None, _) => true,
            (Some(m), Some(x)) => m.admits(x),
            (Some(_), None) => false,
        };
        let path_ok =
            self.paths.is_empty() || path.is_some_and(|p| self.paths.iter().any(|x| x.matches(p)));
        method_ok && path_ok && self.sources.admits(principal)
    }

    /// What the rule says, without counts (requests without a principal,
    /// principals behind a namespace): rules of the same shape admit the
    /// same requests, so destinations whose rules share shapes merge.
    fn shape(&self) -> (Option<Methods>, Vec<String>, Option<Vec<String>>) {
        (
            self.methods.clone(),
            self.paths.iter().map(PathPattern::text).collect(),
            match &self.sources {
                Sources::Any { .. } => None,
                Sources::Only(list) => Some(list.iter().map(source_key).collect()),
            },
        )
    }
}

/// A learned destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// http, tls or tcp.
    pub protocol: Protocol,
    /// The port.
    pub port: u16,
    /// The hosts (tcp: addresses).
    pub hosts: Vec<Host>,
    /// The rules; for tls/tcp at most one. Empty: everything to the
    /// destination is allowed (no rule block).
    pub rules: Vec<Rule>,
    /// The requests it was learned from.
    pub seen: Seen,
}

impl Destination {
    /// Whether the destination's rules admit the request (its host and port
    /// taken as matched).
    fn admits(&self, method: Option<&str>, path: Option<&str>, principal: Option<&str>) -> bool {
        self.rules.is_empty() || self.rules.iter().any(|r| r.admits(method, path, principal))
    }
}

/// A `(protocol, host, port)` group dropped by `min_count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// http, tls or tcp.
    pub protocol: Protocol,
    /// The host or address.
    pub host: String,
    /// The port.
    pub port: u16,
    /// How many requests.
    pub count: usize,
}

/// What was read and what was not learned, for the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines read in all.
    pub lines: usize,
    /// Audit lines.
    pub audit_lines: usize,
    /// Lines that were not audit lines.
    pub other_lines: usize,
    /// Malformed audit lines.
    pub malformed: usize,
    /// Requests refused before any rule, by reason.
    pub refused: BTreeMap<String, usize>,
    /// Lines with host or path cut short.
    pub truncated: usize,
    /// Lines that cannot be written as a policy, by why.
    pub unusable: BTreeMap<String, usize>,
    /// Requests learned.
    pub learned: usize,
    /// Of those, how many the policy in force then denied.
    pub denied_then: usize,
    /// The time span of the learned requests.
    pub seen: Seen,
}

/// A test case of the learned policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The request.
    pub request: SimRequest,
    /// `true`: `=> allow` (an observed request); `false`: `=> deny`.
    pub allow: bool,
    /// For a near miss: what was changed (`unseen method`, …).
    pub near_miss: Option<String>,
}

/// What [`learn`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    /// The destinations, in the policy's order.
    pub destinations: Vec<Destination>,
    /// The groups dropped by `min_count`.
    pub dropped: Vec<Dropped>,
    /// What was read and skipped.
    pub summary: Summary,
    /// The test cases written, per destination (same order).
    pub cases: Vec<Vec<Case>>,
    /// The policy text (formatted).
    pub text: String,
    /// Errors found compiling the learned text (empty unless something in
    /// the log cannot be expressed; then the text has no test block).
    pub problems: Vec<String>,
}

impl Learned {
    /// Whether the model admits a request: some destination whose host,
    /// port and protocol match has a rule that admits it. This is what the
    /// policy text says, in the model's terms.
    pub fn admits(&self, r: &Request<'_>) -> bool {
        self.destinations.iter().any(|d| {
            d.protocol == r.protocol
                && d.port == r.port
                && d.hosts.iter().any(|h| h.matches(r.host))
                && d.admits(r.method, r.path, r.principal)
        })
    }
}

/// A request in the model's terms (for [`Learned::admits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// http, tls or tcp.
    pub protocol: Protocol,
    /// Host, SNI or address (canonical).
    pub host: &'a str,
    /// Port.
    pub port: u16,
    /// HTTP method.
    pub method: Option<&'a str>,
    /// HTTP path without query.
    pub path: Option<&'a str>,
    /// Principal.
    pub principal: Option<&'a str>,
}

/// The standard methods in the order a rule lists them.
pub const STANDARD_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// A learnable request, normalised.
struct Obs<'a> {
    entry: &'a Entry,
    host: String,
    /// The protocol learned: the line's, but `tcp` for a `tls` line whose
    /// host is an address (no SNI: the filter decides such a connection
    /// on its address, as a `destination cidr … tcp` does, and refuses it
    /// at an SNI name).
    protocol: Protocol,
}

/// Why an entry cannot become part of a policy, if it cannot.
fn unusable(e: &Entry) -> Option<&'static str> {
    if e.port == 0 {
        return Some("no destination port");
    }
    if e.host.is_empty() {
        return Some("no host");
    }
    if e.protocol == Protocol::Tcp && e.host.parse::<IpAddr>().is_err() {
        return Some("a tcp destination that is not an address");
    }
    if e.principal
        .as_deref()
        .is_some_and(|p| !nameable_principal(p))
    {
        return Some("a principal a policy cannot name");
    }
    if e.protocol == Protocol::Http {
        let m = e.method.as_deref().unwrap_or("GET");
        if m.is_empty()
            || !m
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
        {
            return Some("a method a policy cannot name");
        }
        if m != "CONNECT"
            && e.path
                .as_deref()
                .is_some_and(|p| !p.starts_with('/') || p.contains(['?', '#']))
        {
            return Some("a path a policy cannot name");
        }
    }
    None
}

/// Whether `source principal "p"` names exactly `p`, by the checker's rules
/// (E0332): printable ASCII without spaces or `*` (after an optional
/// `spiffe://`, and not padded: the checker trims the value), and the
/// `TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT` shape when `/ns/` is in it.
fn nameable_principal(p: &str) -> bool {
    let bare = p.strip_prefix("spiffe://").unwrap_or(p);
    !bare.is_empty()
        && bare.bytes().all(|b| b.is_ascii_graphic())
        && !bare.contains('*')
        && (!bare.contains("/ns/")
            || egress_table::request::principal_parts(bare.as_bytes()).is_some())
}

fn canonical_host(e: &Entry) -> String {
    let h = e.host.trim_end_matches('.').to_ascii_lowercase();
    match h.parse::<IpAddr>() {
        Ok(ip) => ip.to_canonical().to_string(),
        Err(_) => h,
    }
}

/// Learns a policy from the audit lines of `logs`.
pub fn learn(logs: &[Parsed], options: &LearnOptions) -> Learned {
    let k = options.wildcard_threshold.max(2);
    let mut summary = Summary::default();
    let mut obs: Vec<Obs<'_>> = Vec::new();
    for p in logs {
        summary.audit_lines += p.entries.len();
        summary.other_lines += p.other_lines;
        summary.malformed += p.problems.len();
        summary.lines += p.entries.len() + p.other_lines + p.problems.len();
        for e in &p.entries {
            if e.truncated {
                summary.truncated += 1;
            } else if e.refused_before_rules() {
                *summary.refused.entry(e.verdict.reason.clone()).or_default() += 1;
            } else if let Some(why) = unusable(e) {
                *summary.unusable.entry(why.to_owned()).or_default() += 1;
            } else {
                let host = canonical_host(e);
                let protocol = match e.protocol {
                    Protocol::Tls if host.parse::<IpAddr>().is_ok() => Protocol::Tcp,
                    p => p,
                };
                obs.push(Obs {
                    entry: e,
                    host,
                    protocol,
                });
            }
        }
    }
    // Groups by (protocol, port, host); the rare ones dropped.
    let mut groups: BTreeMap<(Protocol, u16, String), Vec<&Obs<'_>>> = BTreeMap::new();
    for o in &obs {
        groups
            .entry((o.protocol, o.entry.port, o.host.clone()))
            .or_default()
            .push(o);
    }
    let mut dropped = Vec::new();
    groups.retain(|(protocol, port, host), v| {
        if v.len() < options.min_count {
            dropped.push(Dropped {
                protocol: *protocol,
                host: host.clone(),
                port: *port,
                count: v.len(),
            });
            false
        } else {
            true
        }
    });
    for v in groups.values() {
        for o in v {
            summary.learned += 1;
            if o.entry.verdict.decision == Decision::Deny {
                summary.denied_then += 1;
            }
            summary.seen.add(o.entry.time.as_deref());
        }
    }
    // Hosts: wildcards per (protocol, port).
    let mut names: BTreeMap<(Protocol, u16), BTreeSet<String>> = BTreeMap::new();
    for (protocol, port, host) in groups.keys() {
        if *protocol != Protocol::Tcp && host.parse::<IpAddr>().is_err() {
            names
                .entry((*protocol, *port))
                .or_default()
                .insert(host.clone());
        }
    }
    // Each name's wildcard, as an index into `wildcards` (not a copy of
    // its name list per name).
    let mut wildcards: Vec<hosts::Wildcard> = Vec::new();
    let mut wildcard_of: BTreeMap<(Protocol, u16, String), usize> = BTreeMap::new();
    for ((protocol, port), set) in &names {
        for w in hosts::generalise(set, k) {
            for n in &w.names {
                wildcard_of.insert((*protocol, *port, n.clone()), wildcards.len());
            }
            wildcards.push(w);
        }
    }
    // Units: one per (protocol, port, host or wildcard).
    let mut units: BTreeMap<(Protocol, u16, Host), Vec<&Obs<'_>>> = BTreeMap::new();
    for ((protocol, port, host), v) in &groups {
        let h = match wildcard_of
            .get(&(*protocol, *port, host.clone()))
            .and_then(|i| wildcards.get(*i))
        {
            Some(w) => Host {
                pattern: w.pattern.clone(),
                from: w.names.clone(),
            },
            None => Host {
                pattern: host.clone(),
                from: Vec::new(),
            },
        };
        units
            .entry((*protocol, *port, h))
            .or_default()
            .extend(v.iter().copied());
    }
    // Rules per unit; units with the same protocol, port and rules share a
    // destination.
    type Shape = Vec<(Option<Methods>, Vec<String>, Option<Vec<String>>)>;
    let mut merged: BTreeMap<(Protocol, u16, Shape), Destination> = BTreeMap::new();
    for ((protocol, port, host), v) in units {
        let rules = match protocol {
            Protocol::Http => http_rules(&v, k),
            Protocol::Tls | Protocol::Tcp => connection_rules(&v, k),
        };
        let mut seen = Seen::default();
        for o in &v {
            seen.add(o.entry.time.as_deref());
        }
        let mut shape: Shape = rules.iter().map(Rule::shape).collect();
        shape.sort();
        match merged.get_mut(&(protocol, port, shape.clone())) {
            Some(d) => {
                d.hosts.push(host);
                d.seen.merge(&seen);
                for b in &rules {
                    let shape = b.shape();
                    if let Some(a) = d.rules.iter_mut().find(|a| a.shape() == shape) {
                        a.seen.merge(&b.seen);
                        for (pa, pb) in a.paths.iter_mut().zip(&b.paths) {
                            for (i, vals) in &pb.values {
                                pa.values
                                    .entry(*i)
                                    .or_default()
                                    .extend(vals.iter().cloned());
                            }
                        }
                        merge_sources(&mut a.sources, &b.sources);
                    }
                }
            }
            None => {
                merged.insert(
                    (protocol, port, shape),
                    Destination {
                        protocol,
                        port,
                        hosts: vec![host],
                        rules,
                        seen,
                    },
                );
            }
        }
    }
    let mut destinations: Vec<Destination> = merged.into_values().collect();
    for d in &mut destinations {
        d.hosts.sort();
        d.rules.sort_by(|a, b| {
            b.seen
                .count
                .cmp(&a.seen.count)
                .then_with(|| a.shape().cmp(&b.shape()))
        });
    }
    destinations.sort_by(|a, b| {
        (a.protocol, &a.hosts.first().map(|h| &h.pattern), a.port).cmp(&(
            b.protocol,
            &b.hosts.first().map(|h| &h.pattern),
            b.port,
        ))
    });
    let mut learned = Learned {
        destinations,
        dropped,
        summary,
        cases: Vec::new(),
        text: String::new(),
        problems: Vec::new(),
    };
    let kept: Vec<&Obs<'_>> = groups.values().flatten().copied().collect();
    let (observed, unplaced) = observed(&learned.destinations, &kept);
    cases::finish(&mut learned, &observed, &unplaced, options);
    learned
}

/// Per destination, the distinct observed requests, most frequent first;
/// and the distinct ones no destination's hosts and port match (none,
/// unless learning went wrong: `finish` reports them).
fn observed(
    dests: &[Destination],
    obs: &[&Obs<'_>],
) -> (Vec<Vec<cases::Observed>>, Vec<cases::Observed>) {
    let mut out: Vec<BTreeMap<String, cases::Observed>> = vec![BTreeMap::new(); dests.len()];
    let mut unplaced: BTreeMap<String, cases::Observed> = BTreeMap::new();
    for o in obs {
        let e = o.entry;
        let at = dests.iter().position(|d| {
            d.protocol == o.protocol
                && d.port == e.port
                && d.hosts.iter().any(|h| h.matches(&o.host))
        });
        {
            let x = cases::Observed {
                count: 0,
                protocol: o.protocol,
                host: o.host.clone(),
                port: e.port,
                method: match e.protocol {
                    Protocol::Http => Some(e.method.clone().unwrap_or_else(|| "GET".to_owned())),
                    _ => None,
                },
                path: match (e.protocol, e.method.as_deref()) {
                    (Protocol::Http, Some("CONNECT")) => None,
                    (Protocol::Http, _) => Some(e.path.clone().unwrap_or_else(|| "/".to_owned())),
                    _ => None,
                },
                principal: e.principal.clone(),
            };
            let slot = match at.and_then(|i| out.get_mut(i)) {
                Some(slot) => slot,
                None => &mut unplaced,
            };
            slot.entry(x.request().describe()).or_insert(x).count += 1;
        }
    }
    let per_destination = out
        .into_iter()
        .map(|m| {
            let mut v: Vec<(String, cases::Observed)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
            v.into_iter().map(|(_, x)| x).collect()
        })
        .collect();
    (per_destination, unplaced.into_values().collect())
}

fn connection_rules(v: &[&Obs<'_>], k: usize) -> Vec<Rule> {
    let sources = sources_of(v.iter().map(|o| o.entry.principal.as_deref()), k);
    let mut seen = Seen::default();
    for o in v {
        seen.add(o.entry.time.as_deref());
    }
    vec![Rule {
        methods: None,
        paths: Vec::new(),
        sources,
        seen,
    }]
}

fn method_order(m: &str) -> (usize, String) {
    (
        STANDARD_METHODS
            .iter()
            .position(|x| *x == m)
            .unwrap_or(STANDARD_METHODS.len()),
        m.to_owned(),
    )
}

fn methods_of(set: &BTreeSet<&str>) -> Methods {
    let mut named: Vec<&str> = set.iter().copied().collect();
    named.sort_by_key(|m| method_order(m));
    if named.iter().all(|m| STANDARD_METHODS.contains(m)) {
        Methods::Named(named.into_iter().map(str::to_owned).collect())
    } else {
        Methods::AnyExcept(
            STANDARD_METHODS
                .iter()
                .filter(|m| **m != "CONNECT" && !set.contains(**m))
                .map(|m| (*m).to_owned())
                .collect(),
        )
    }
}

fn http_rules(v: &[&Obs<'_>], k: usize) -> Vec<Rule> {
    let (connect, rest): (Vec<&&Obs<'_>>, Vec<&&Obs<'_>>) = v
        .iter()
        .partition(|o| o.entry.method.as_deref() == Some("CONNECT"));
    let path_of = |o: &Obs<'_>| o.entry.path.clone().unwrap_or_else(|| "/".to_owned());
    let distinct: Vec<String> = rest
        .iter()
        .map(|o| path_of(o))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (patterns, of_path) = paths::generalise(&distinct, k);
    let index: BTreeMap<&String, usize> = distinct.iter().zip(of_path).collect();
    // Per pattern and principal: the methods, every request's principal
    // (for the counts) and the times.
    type PerPrincipal<'a> = (BTreeSet<&'a str>, Vec<Option<&'a str>>, Seen);
    let mut per: Vec<BTreeMap<Option<&str>, PerPrincipal<'_>>> =
        vec![BTreeMap::new(); patterns.len()];
    for o in &rest {
        let p = path_of(o);
        if let Some(slot) = index.get(&p).and_then(|i| per.get_mut(*i)) {
            let principal = o.entry.principal.as_deref();
            let e = slot
                .entry(principal)
                .or_insert_with(|| (BTreeSet::new(), Vec::new(), Seen::default()));
            e.0.insert(o.entry.method.as_deref().unwrap_or("GET"));
            e.1.push(principal);
            e.2.add(o.entry.time.as_deref());
        }
    }
    // One rule per condition: the counts `Sources` carries are not part of
    // it. Per pattern, principals share a rule only when they were seen
    // with the same methods, so a rule's methods × sources holds only
    // pairs seen (not a method of one principal for another).
    let mut rules: BTreeMap<(Methods, Option<Vec<String>>), Rule> = BTreeMap::new();
    for (pattern, by_principal) in patterns.into_iter().zip(per) {
        let mut by_methods: BTreeMap<BTreeSet<&str>, (Vec<Option<&str>>, Seen)> = BTreeMap::new();
        for (methods, principals, seen) in by_principal.into_values() {
            let g = by_methods.entry(methods).or_default();
            g.0.extend(principals);
            g.1.merge(&seen);
        }
        for (methods, (principals, seen)) in by_methods {
            let methods = methods_of(&methods);
            let sources = sources_of(principals.into_iter(), k);
            let key = match &sources {
                Sources::Any { .. } => None,
                Sources::Only(list) => Some(list.iter().map(source_key).collect()),
            };
            let r = rules.entry((methods.clone(), key)).or_insert_with(|| Rule {
                methods: Some(methods),
                paths: Vec::new(),
                sources: sources.clone(),
                seen: Seen::default(),
            });
            if !r.paths.is_empty() {
                merge_sources(&mut r.sources, &sources);
            }
            r.paths.push(pattern.clone());
            r.seen.merge(&seen);
        }
    }
    let mut out: Vec<Rule> = rules.into_values().collect();
    if !connect.is_empty() {
        let mut seen = Seen::default();
        for o in &connect {
            seen.add(o.entry.time.as_deref());
        }
        out.push(Rule {
            methods: Some(Methods::Named(vec!["CONNECT".to_owned()])),
            paths: Vec::new(),
            sources: sources_of(connect.iter().map(|o| o.entry.principal.as_deref()), k),
            seen,
        });
    }
    for r in &mut out {
        r.paths.sort_by_key(PathPattern::text);
        paths::drop_subsumed(&mut r.paths);
    }
    out.sort_by(|a, b| {
        b.seen
            .count
            .cmp(&a.seen.count)
            .then_with(|| a.shape().cmp(&b.shape()))
    });
    out
}
