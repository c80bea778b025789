//! The candidate requests of one changed destination, for
//! [`super::witness`]: its constants ([`Dims`]) and the requests built
//! from them ([`build`]).
//!
//! Candidates are *endpoints* (protocol, port, host or address) crossed
//! with *shapes* (principal, headers, method, path, SNI). They are laid
//! out shape by shape, every endpoint taking each shape in turn (hosts and
//! ports that differ between OLD and NEW first), and the shapes start with
//! each rule's own (its methods × paths × sources × headers) before the
//! full cross product of the constants; so when the cap cuts the list,
//! every host and port has been tried with every rule first.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use egress_table::spec::{
    DestSpec, HeaderSpec, HostKind, HostPattern, METHODS, MethodSet, PathSpec, PatternKind,
    PortRange, Protocol, RuleSpec, SourceSpec, Target,
};

use super::witness::shortest_match;
use crate::sim::SimRequest;

/// Most candidate requests tried for one destination.
pub const CAP: usize = 20_000;

/// A method Envoy accepts by default that is outside the standard list:
/// tried whenever a rule's method set is open (`any`, `any except …`, or
/// no method list).
pub const EXTENSION_METHOD: &str = "PURGE";

/// The SNI a candidate HTTP request carries (only when a policy of
/// either set has `require sni-host-match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Sni {
    None,
    /// The request's own host.
    Host,
    /// Another valid host.
    Other,
}

/// The SNI of [`Sni::Other`].
const OTHER_SNI: &str = "sni.egress-diff.example";

/// Everything of a request but where it goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Shape {
    principal: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    method: Option<&'static str>,
    path: Option<String>,
    sni: Sni,
}

/// The constants one destination's candidates are built from.
#[derive(Default)]
pub struct Dims {
    protocols: Vec<Protocol>,
    hosts: BTreeSet<String>,
    addrs: BTreeSet<IpAddr>,
    ports: BTreeSet<u16>,
    /// Hosts, addresses and ports from a target or port range only one
    /// version of the destination has: tried first.
    fresh_hosts: BTreeSet<String>,
    fresh_addrs: BTreeSet<IpAddr>,
    fresh_ports: BTreeSet<u16>,
    principals: BTreeSet<String>,
    headers: BTreeSet<(String, Vec<u8>)>,
    methods: BTreeSet<&'static str>,
    named: u16,
    open: bool,
    paths: BTreeSet<String>,
    /// Directory-like path forms a suffix is appended to.
    bases: BTreeSet<String>,
    suffixes: BTreeSet<String>,
    sni: bool,
    /// Each rule's own shapes.
    rule_shapes: Vec<Shape>,
}

/// The candidates of one destination, and how many were left out.
pub struct Built {
    /// The requests, at most [`CAP`].
    pub requests: Vec<SimRequest>,
    /// How many combinations there were in all (saturating).
    pub total: u64,
}

/// The constants of `dests` (the versions of one destination: targets,
/// ports and rules) and of `related` (destinations of either set whose
/// targets overlap theirs: ports and rules only). `exact`: every exact
/// host of either set; `sni`: whether a policy uses `require sni-host-match`.
pub fn dims(
    dests: &[&DestSpec],
    related: &[&DestSpec],
    exact: &BTreeSet<String>,
    sni: bool,
) -> Dims {
    let mut d = Dims {
        sni,
        ..Dims::default()
    };
    d.methods.insert("GET");
    d.paths.insert("/".to_owned());
    d.paths.insert("/egress-diff-unnamed".to_owned());
    d.bases.insert("/".to_owned());
    d.principals
        .insert("cluster.local/ns/egress-diff/sa/unnamed".to_owned());
    for (k, dest) in dests.iter().enumerate() {
        if !d.protocols.contains(&dest.protocol) {
            d.protocols.push(dest.protocol);
        }
        let others = || dests.iter().enumerate().filter(move |(j, _)| *j != k);
        for t in &dest.targets {
            let fresh = dests.len() > 1 && others().any(|(_, o)| !o.targets.contains(t));
            add_target(&mut d, t, exact, fresh);
        }
        for p in &dest.ports {
            let fresh = dests.len() > 1 && others().any(|(_, o)| !o.ports.contains(p));
            add_ports(&mut d, *p, fresh);
        }
    }
    for dest in dests.iter().chain(related) {
        for p in &dest.ports {
            add_ports(&mut d, *p, false);
        }
        for r in &dest.rules {
            add_rule(&mut d, r);
        }
    }
    let mut unnamed = None;
    for m in METHODS {
        let named = MethodSet::standard(m).is_some_and(|b| d.named & b.0 != 0);
        if named {
            d.methods.insert(m);
        } else if unnamed.is_none() && m != "CONNECT" && m != "GET" {
            unnamed = Some(m);
        }
    }
    d.methods.extend(unnamed);
    if d.open {
        d.methods.insert(EXTENSION_METHOD);
    }
    let combos = combine(&d.bases, &d.suffixes);
    d.paths.extend(combos);
    d
}

fn add_rule(d: &mut Dims, r: &RuleSpec) {
    if r.methods.is_open() {
        d.open = true;
    }
    if r.methods != MethodSet::ANY {
        d.named |= r.methods.0 | r.methods.excluded().0;
    }
    let mut local = Forms::default();
    r.paths.iter().for_each(|p| local.add(p, true));
    r.except_paths.iter().for_each(|p| local.add(p, false));
    let mut principals: Vec<Option<String>> = Vec::new();
    for s in r.sources.iter().chain(&r.except_sources) {
        if let Some(p) = source_form(s) {
            d.principals.insert(p.clone());
            principals.push(Some(p));
        }
    }
    if r.sources.is_empty() || principals.is_empty() {
        principals.push(None);
    }
    let mut all_headers = Vec::new();
    for h in &r.headers {
        let (name, good, other) = header_forms(h);
        d.headers.insert((name.clone(), good.clone()));
        d.headers.extend(other.map(|o| (name.clone(), o)));
        all_headers.push((name, good));
    }
    // This rule's shapes.
    let mut methods: Vec<&'static str> = METHODS
        .iter()
        .copied()
        .filter(|m| {
            MethodSet::standard(m)
                .is_some_and(|b| r.methods.contains_bits(b.0) && !r.methods.is_open())
        })
        .collect();
    if r.methods.is_open() {
        methods.extend(["GET", EXTENSION_METHOD]);
        let out = r.methods.excluded().0;
        methods.extend(
            METHODS
                .iter()
                .copied()
                .filter(|m| MethodSet::standard(m).is_some_and(|b| b.0 & out != 0)),
        );
    }
    let mut paths: BTreeSet<String> = local.paths.clone();
    paths.extend(combine(&local.bases, &local.suffixes));
    if r.paths.is_empty() {
        paths.insert("/".to_owned());
    }
    let headers: Vec<Vec<(String, Vec<u8>)>> = if all_headers.is_empty() {
        vec![Vec::new()]
    } else {
        vec![all_headers, Vec::new()]
    };
    let snis: &[Sni] = if d.sni {
        &[Sni::None, Sni::Host, Sni::Other]
    } else {
        &[Sni::None]
    };
    for m in &methods {
        for p in &paths {
            for pr in &principals {
                for h in &headers {
                    for s in snis {
                        d.rule_shapes.push(Shape {
                            principal: pr.clone(),
                            headers: h.clone(),
                            method: Some(m),
                            path: Some(p.clone()),
                            sni: *s,
                        });
                    }
                }
            }
        }
    }
    d.paths.extend(local.paths);
    d.bases.extend(local.bases);
    d.suffixes.extend(local.suffixes);
}

/// Path forms: whole paths, directory-like forms a suffix can follow, and
/// suffixes.
#[derive(Default)]
struct Forms {
    paths: BTreeSet<String>,
    bases: BTreeSet<String>,
    suffixes: BTreeSet<String>,
}

impl Forms {
    /// Adds the forms of `p`; `positive`: a path the rule matches (not an
    /// `except path`), whose forms a suffix may extend.
    fn add(&mut self, p: &PathSpec, positive: bool) {
        let mut base = |s: &str| {
            if positive {
                self.bases.insert(s.to_owned());
            }
        };
        match p {
            PathSpec::Exact(t) => {
                base(dir(t));
                self.paths.insert(t.clone());
            }
            PathSpec::Prefix(t) => {
                base(t);
                self.paths.insert(t.clone());
                self.paths.insert(format!("{t}x"));
            }
            PathSpec::Suffix(t) => {
                self.suffixes.insert(t.clone());
                self.paths.insert(format!("/x{t}"));
            }
            PathSpec::Pattern {
                kind: PatternKind::Template,
                source,
                ..
            } => {
                let t = source.replace("{**}", "x/y").replace("{*}", "x");
                base(dir(&t));
                self.paths.insert(t);
            }
            PathSpec::Pattern {
                kind: PatternKind::Regex,
                source,
                ..
            } => {
                self.paths.extend(shortest_match(source));
            }
        }
    }
}

/// A path up to and including its last `/`.
fn dir(p: &str) -> &str {
    p.rfind('/').and_then(|i| p.get(..=i)).unwrap_or("/")
}

/// Most suffixed paths made from one set of bases and suffixes.
const COMBOS: usize = 256;

/// Each base + `x` + each suffix.
fn combine(bases: &BTreeSet<String>, suffixes: &BTreeSet<String>) -> Vec<String> {
    suffixes
        .iter()
        .flat_map(|s| bases.iter().map(move |b| format!("{b}x{s}")))
        .take(COMBOS)
        .collect()
}

fn source_form(s: &SourceSpec) -> Option<String> {
    Some(match s {
        SourceSpec::Principal(p) => p.replace('*', "witness"),
        SourceSpec::Namespace(ns) => format!("cluster.local/ns/{ns}/sa/witness"),
        SourceSpec::ServiceAccount { namespace, name } => {
            format!("cluster.local/ns/{namespace}/sa/{name}")
        }
        SourceSpec::AnyPrincipal => return None,
    })
}

/// A header's name, a value that satisfies it, and (for a value test)
/// another value.
fn header_forms(h: &HeaderSpec) -> (String, Vec<u8>, Option<Vec<u8>>) {
    let name = h.name().to_owned();
    match h.value_test() {
        Some((_, v, _)) => (name, v.to_vec(), Some(b"egress-diff".to_vec())),
        None => (name, b"x".to_vec(), None),
    }
}

fn add_target(d: &mut Dims, t: &Target, exact: &BTreeSet<String>, fresh: bool) {
    match t {
        Target::Host(h) => {
            let mut hosts = BTreeSet::new();
            let n = &h.name;
            let dot = |pre: &str| {
                if n.is_empty() {
                    pre.to_owned()
                } else {
                    format!("{pre}.{n}")
                }
            };
            match h.kind {
                HostKind::Exact => {
                    hosts.insert(n.clone());
                }
                HostKind::OneLabel | HostKind::AnyDepth => {
                    hosts.insert(dot("w"));
                    if h.kind == HostKind::AnyDepth {
                        hosts.insert(dot("a.b"));
                    }
                    if !n.is_empty() {
                        hosts.insert(n.clone());
                    }
                    let covered = exact.iter().filter(|e| crate::check::pattern_matches(h, e));
                    hosts.extend(covered.take(16).cloned());
                }
            }
            if fresh {
                d.fresh_hosts.extend(hosts.iter().cloned());
            }
            d.hosts.extend(hosts);
        }
        Target::Cidr(c) => {
            // The network address, the one after it, the last one, and
            // the addresses just outside either end.
            let (first, last) = match c.addr {
                IpAddr::V4(a) => {
                    let n = u128::from(u32::from(a));
                    (n, n | (u128::from(u32::MAX) >> u32::from(c.prefix.min(32))))
                }
                IpAddr::V6(a) => {
                    let n = u128::from(a);
                    let host = u128::MAX.checked_shr(u32::from(c.prefix)).unwrap_or(0);
                    (n, n | host)
                }
            };
            let v4 = c.addr.is_ipv4();
            let ip = |n: u128| -> Option<IpAddr> {
                if v4 {
                    u32::try_from(n).ok().map(|n| IpAddr::from(n.to_be_bytes()))
                } else {
                    Some(IpAddr::from(n.to_be_bytes()))
                }
            };
            let picks = [
                Some(first),
                first.checked_add(1).filter(|n| *n <= last),
                Some(last),
                first.checked_sub(1),
                last.checked_add(1),
            ];
            for a in picks.into_iter().flatten().filter_map(ip) {
                d.addrs.insert(a);
                if fresh {
                    d.fresh_addrs.insert(a);
                }
            }
        }
    }
}

fn add_ports(d: &mut Dims, p: PortRange, fresh: bool) {
    let mut ports = vec![p.lo, p.hi];
    ports.extend(p.lo.checked_sub(1).filter(|x| *x > 0));
    ports.extend(p.hi.checked_add(1));
    if fresh {
        d.fresh_ports.extend(ports.iter().copied());
    }
    d.ports.extend(ports);
}

/// Every destination of both sets, indexed by host names and their
/// label suffixes, for [`Related::of`].
pub struct Related<'a> {
    all: Vec<&'a DestSpec>,
    /// A host target's name (exact or a wildcard's) → destinations.
    by_name: HashMap<&'a str, Vec<usize>>,
    /// Each label suffix of a host target's name (`a.b.c`: `a.b.c`,
    /// `b.c`, `c`, ``) → destinations.
    by_suffix: HashMap<&'a str, Vec<usize>>,
    /// Destinations with a CIDR target.
    cidrs: Vec<usize>,
}

/// A name's label suffixes, itself first, then the empty one.
fn suffixes(name: &str) -> impl Iterator<Item = &str> {
    let inner = name
        .char_indices()
        .filter(|(_, c)| *c == '.')
        .filter_map(|(i, _)| name.get(i + 1..));
    std::iter::once(name)
        .chain(inner)
        .chain(std::iter::once(""))
}

impl<'a> Related<'a> {
    /// Indexes `all`.
    pub fn new(all: Vec<&'a DestSpec>) -> Self {
        let mut by_name: HashMap<&'a str, Vec<usize>> = HashMap::new();
        let mut by_suffix: HashMap<&'a str, Vec<usize>> = HashMap::new();
        let mut cidrs = Vec::new();
        for (i, d) in all.iter().enumerate() {
            for t in &d.targets {
                match t {
                    Target::Host(h) => {
                        by_name.entry(h.name.as_str()).or_default().push(i);
                        for s in suffixes(&h.name) {
                            by_suffix.entry(s).or_default().push(i);
                        }
                    }
                    Target::Cidr(_) => cidrs.push(i),
                }
            }
        }
        Self {
            all,
            by_name,
            by_suffix,
            cidrs,
        }
    }

    /// The destinations, other than `dests`, whose targets can match the
    /// same requests as theirs ([`overlaps`]), at most `most`.
    pub fn of(&self, dests: &[&DestSpec], most: usize) -> Vec<&'a DestSpec> {
        let mut near: BTreeSet<usize> = BTreeSet::new();
        for d in dests {
            for t in &d.targets {
                match t {
                    Target::Host(h) => {
                        // Names at or under this one, and names above it.
                        near.extend(self.by_suffix.get(h.name.as_str()).into_iter().flatten());
                        for s in suffixes(&h.name) {
                            near.extend(self.by_name.get(s).into_iter().flatten());
                        }
                    }
                    Target::Cidr(_) => near.extend(&self.cidrs),
                }
            }
        }
        near.into_iter()
            .filter_map(|i| self.all.get(i).copied())
            .filter(|e| !dests.iter().any(|d| std::ptr::eq(*d, *e)))
            .filter(|e| dests.iter().any(|d| overlaps(d, e)))
            .take(most)
            .collect()
    }
}

/// Whether two destinations' targets can match one request: the same
/// exact host, a wildcard covering the other either way (or two wildcards
/// on related names), overlapping CIDRs.
pub fn overlaps(a: &DestSpec, b: &DestSpec) -> bool {
    a.protocol == b.protocol
        && a.targets
            .iter()
            .any(|x| b.targets.iter().any(|y| target_overlap(x, y)))
}

fn target_overlap(a: &Target, b: &Target) -> bool {
    match (a, b) {
        (Target::Host(x), Target::Host(y)) => host_overlap(x, y),
        (Target::Cidr(x), Target::Cidr(y)) => x.contains(y.addr) || y.contains(x.addr),
        _ => false,
    }
}

fn host_overlap(x: &HostPattern, y: &HostPattern) -> bool {
    let under = |a: &str, b: &str| {
        b.is_empty() || a == b || a.strip_suffix(b).is_some_and(|head| head.ends_with('.'))
    };
    match (x.kind, y.kind) {
        (HostKind::Exact, HostKind::Exact) => x.name == y.name,
        (HostKind::Exact, _) => crate::check::pattern_matches(y, &x.name),
        (_, HostKind::Exact) => crate::check::pattern_matches(x, &y.name),
        _ => under(&x.name, &y.name) || under(&y.name, &x.name),
    }
}

/// The full cross product's shapes for `proto`, after the rules' own, at
/// most [`CAP`]; and how many there are in all.
fn shapes(d: &Dims, proto: Protocol) -> (Vec<Shape>, u64) {
    let principals: Vec<Option<&String>> = std::iter::once(None)
        .chain(d.principals.iter().map(Some))
        .collect();
    let bare = |p: Option<&String>| Shape {
        principal: p.cloned(),
        headers: Vec::new(),
        method: None,
        path: None,
        sni: Sni::None,
    };
    if proto != Protocol::Http {
        let out: Vec<Shape> = principals.iter().map(|p| bare(*p)).collect();
        let n = out.len() as u64;
        return (out, n);
    }
    // No header; each header alone; and (for `when a and b`) each header
    // with the first value of every other named header.
    let mut firsts: Vec<&(String, Vec<u8>)> = Vec::new();
    for h in &d.headers {
        if !firsts.iter().any(|f| f.0 == h.0) {
            firsts.push(h);
        }
    }
    let mut headers: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new()];
    for h in &d.headers {
        headers.push(vec![h.clone()]);
        if firsts.len() > 1 {
            let others = firsts.iter().filter(|f| f.0 != h.0).map(|f| (*f).clone());
            headers.push(std::iter::once(h.clone()).chain(others).collect());
        }
    }
    let snis: &[Sni] = if d.sni {
        &[Sni::None, Sni::Host, Sni::Other]
    } else {
        &[Sni::None]
    };
    let mut seen: BTreeSet<Shape> = BTreeSet::new();
    let mut out = Vec::new();
    for s in &d.rule_shapes {
        if out.len() < CAP && seen.insert(s.clone()) {
            out.push(s.clone());
        }
    }
    let full = [
        principals.len(),
        headers.len(),
        d.methods.len(),
        d.paths.len(),
        snis.len(),
    ]
    .iter()
    .fold(1u64, |n, k| n.saturating_mul(*k as u64));
    let estimate = (seen.len() as u64).saturating_add(full);
    let mut cut = false;
    'full: for s in snis {
        for p in &principals {
            for h in &headers {
                for m in &d.methods {
                    for path in &d.paths {
                        if out.len() >= CAP {
                            cut = true;
                            break 'full;
                        }
                        let shape = Shape {
                            headers: h.clone(),
                            method: Some(m),
                            path: Some(path.clone()),
                            sni: *s,
                            ..bare(*p)
                        };
                        if seen.insert(shape.clone()) {
                            out.push(shape);
                        }
                    }
                }
            }
        }
    }
    let n = seen.len() as u64;
    (out, if cut { estimate.max(n) } else { n })
}

/// Where a candidate goes.
enum Conn<'a> {
    Host(&'a str),
    Addr(IpAddr),
}

/// The candidates of `d`: shape by shape over every endpoint (see the
/// module documentation), at most [`CAP`].
pub fn build(d: &Dims) -> Built {
    let mut requests = Vec::new();
    let mut total: u64 = 0;
    for &proto in &d.protocols {
        let mut ports: Vec<u16> = d.ports.iter().copied().collect();
        ports.sort_by_key(|p| !d.fresh_ports.contains(p));
        let conns: Vec<(bool, Conn<'_>)> = match proto {
            Protocol::Tcp => d
                .addrs
                .iter()
                .map(|a| (d.fresh_addrs.contains(a), Conn::Addr(*a)))
                .collect(),
            _ => d
                .hosts
                .iter()
                .map(|h| (d.fresh_hosts.contains(h), Conn::Host(h)))
                .collect(),
        };
        let mut ends: Vec<(bool, u16, &Conn<'_>)> = Vec::new();
        for port in &ports {
            let fresh_port = d.fresh_ports.contains(port);
            for (fresh, c) in &conns {
                ends.push((*fresh || fresh_port, *port, c));
            }
        }
        ends.sort_by_key(|e| !e.0);
        let (shapes, n) = shapes(d, proto);
        total = total.saturating_add(n.saturating_mul(ends.len() as u64));
        'all: for s in &shapes {
            for (_, port, c) in &ends {
                if requests.len() >= CAP {
                    break 'all;
                }
                requests.push(request(proto, c, *port, s));
            }
        }
    }
    Built { requests, total }
}

fn request(proto: Protocol, conn: &Conn<'_>, port: u16, s: &Shape) -> SimRequest {
    let mut r = SimRequest {
        principal: s.principal.clone(),
        port: Some(port),
        ..SimRequest::default()
    };
    match (proto, conn) {
        (Protocol::Http, Conn::Host(h)) => {
            let bracketed = if h.contains(':') {
                format!("[{h}]")
            } else {
                (*h).to_owned()
            };
            // CONNECT's authority always names its port.
            let connect = s.method == Some("CONNECT");
            r.host = Some(if port == 80 && !connect {
                bracketed
            } else {
                format!("{bracketed}:{port}")
            });
            r.port = None;
            r.method = s.method.map(str::to_owned);
            r.path = if connect { None } else { s.path.clone() };
            r.headers.clone_from(&s.headers);
            r.sni = match s.sni {
                Sni::None => None,
                Sni::Host => Some((*h).to_owned()),
                Sni::Other => Some(OTHER_SNI.to_owned()),
            };
        }
        (_, Conn::Host(h)) => r.sni = Some((*h).to_owned()),
        (_, Conn::Addr(a)) => r.destination = Some(*a),
    }
    r
}
