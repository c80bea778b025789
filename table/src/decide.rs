//! The decision function.
//!
//! Semantics (the language reference, `docs/language.md`, is the contract):
//!
//! 1. Policies form two pools: the **enforced** pool (policies in `mode
//!    enforce`) decides what happens to the request; the **audit** pool (the
//!    policies in `mode audit`, evaluated on their own, like Envoy RBAC's
//!    shadow rules) gives the would-be decision that is logged and counted.
//!    The audit pool is evaluated only when the table has an audit policy.
//! 2. In a pool, the candidate destinations are those whose host pattern (or
//!    CIDR), protocol and port match the request. Every rule of every
//!    candidate destination is tested; a destination with no rule block has
//!    one unconditional `allow` rule.
//! 3. A matching `deny` wins over any matching `allow`; otherwise a matching
//!    `allow` allows; otherwise the pool's default applies (deny if any
//!    policy in the pool defaults to deny). Among several matching rules of
//!    the winning action, the first in table order is reported.
//! 4. Requests that cannot be decided safely (malformed authority or path,
//!    SNI/Host disagreement where required, no SNI on a TLS port) are denied
//!    with a [`Reason`] instead.
//! 5. A pool with no policy at all allows (nothing is enforced).
//!
//! Nothing on this path allocates.

use core::net::IpAddr;

use crate::request::{Method, Reason, principal_parts};
use crate::spec::{Action, LogSetting, Protocol};
use crate::table::{Dest, Header, Path, PoolFacts, Rule, Source, Table};

/// What kind of traffic is being decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP request seen by the HTTP filter.
    Http,
    /// A TLS connection with SNI, seen by the network filter.
    Tls,
    /// A connection without SNI, seen by the network filter.
    Tcp,
}

impl Kind {
    /// `"http"`, `"tls"` or `"tcp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tls => "tls",
            Self::Tcp => "tcp",
        }
    }
}

/// Access to a request's headers (names are lower case).
pub trait Headers {
    /// Calls `f` with every value of header `name`, in order. Values are raw
    /// bytes: nothing assumes UTF-8.
    fn for_each_value(&self, name: &[u8], f: &mut dyn FnMut(&[u8]));
}

/// A request without headers (connections, or tests that need none).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn for_each_value(&self, _: &[u8], _: &mut dyn FnMut(&[u8])) {}
}

impl Headers for &[(&[u8], &[u8])] {
    fn for_each_value(&self, name: &[u8], f: &mut dyn FnMut(&[u8])) {
        for (k, v) in self.iter() {
            if k.eq_ignore_ascii_case(name) {
                f(v);
            }
        }
    }
}

/// A request or connection, already normalised (see [`crate::request`]).
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// HTTP request, TLS connection or plain TCP connection.
    pub kind: Kind,
    /// The normalised host (HTTP) or SNI (TLS); empty for TCP.
    pub host: &'a [u8],
    /// The destination port.
    pub port: u16,
    /// The method ([`Method::OTHER`] for connections).
    pub method: Method,
    /// The path without query (empty for connections).
    pub path: &'a [u8],
    /// The normalised peer principal, if known.
    pub principal: Option<&'a [u8]>,
    /// For HTTP: the SNI of the TLS connection the request came on, normalised.
    pub sni: Option<&'a [u8]>,
    /// The destination address (connections).
    pub dst_ip: Option<IpAddr>,
    /// The headers (HTTP).
    pub headers: &'a dyn Headers,
}

impl core::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Request")
            .field("kind", &self.kind)
            .field("host", &String::from_utf8_lossy(self.host))
            .field("port", &self.port)
            .field("method", &self.method)
            .field("path", &String::from_utf8_lossy(self.path))
            .field("principal", &self.principal.map(String::from_utf8_lossy))
            .field("dst_ip", &self.dst_ip)
            .finish_non_exhaustive()
    }
}

/// Why a verdict came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// This rule (an index; see [`Table::rule_id`]) matched.
    Rule(u32),
    /// No rule matched; the default of this policy applied.
    Default(u32),
    /// The request was refused for this reason before rules were looked at.
    Invalid(Reason),
    /// The pool has no policy, so nothing is enforced.
    NoPolicy,
}

/// An action and its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Allow or deny.
    pub action: Action,
    /// Why.
    pub cause: Cause,
}

/// The outcome of deciding one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What happens to the request: the enforced pool's verdict.
    pub enforced: Verdict,
    /// The would-be verdict of the audit policies; `None` when the table has
    /// no audit policy.
    pub audit: Option<Verdict>,
    /// Whether the policies' log settings ask for an audit log line.
    pub log: bool,
}

impl Decision {
    /// Whether the request may go through.
    pub fn allowed(&self) -> bool {
        self.enforced.action == Action::Allow
    }
}

/// Why a candidate rule did not match (for `egressc explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// The method is not among the rule's methods.
    Method,
    /// No path condition matched.
    Path,
    /// The request has no principal, and the rule has source conditions.
    NoPrincipal,
    /// No source condition matched the principal.
    Source,
    /// This header condition (index within the rule) failed.
    Header(u32),
}

/// Observes a decision as it is made; `()` observes nothing and costs nothing.
pub trait Tracer {
    /// A destination was found by host or address but its protocol or port
    /// did not fit the request.
    fn dest_skipped(&mut self, _dest: u32) {}
    /// A candidate rule was tested.
    fn rule(&mut self, _rule: u32, _outcome: Result<(), Miss>) {}
}

impl Tracer for () {}

#[derive(Default, Clone, Copy)]
struct Best {
    deny: Option<u32>,
    allow: Option<u32>,
}

impl Best {
    fn record(&mut self, action: Action, rule: u32) {
        let slot = match action {
            Action::Deny => &mut self.deny,
            Action::Allow => &mut self.allow,
        };
        if slot.is_none_or(|r| rule < r) {
            *slot = Some(rule);
        }
    }
}

impl Table {
    /// Decides a request.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        self.decide_traced(req, &mut ())
    }

    /// Decides a request, reporting each step to `tracer`.
    pub fn decide_traced(&self, req: &Request<'_>, tracer: &mut impl Tracer) -> Decision {
        let mut enforced = Best::default();
        let mut audit = Best::default();
        self.for_each_candidate(req, tracer, |table, dest, tracer| {
            let Some(policy) = table.policies.get(dest.policy as usize) else {
                return;
            };
            let best = match policy.mode {
                crate::spec::Mode::Enforce => &mut enforced,
                crate::spec::Mode::Audit => &mut audit,
            };
            for (k, rule) in dest.rules.of(&table.rules).iter().enumerate() {
                let idx = dest.rules.start + k as u32;
                let outcome = table.rule_matches(rule, req);
                tracer.rule(idx, outcome);
                if outcome.is_ok() {
                    best.record(rule.action, idx);
                }
            }
        });
        let enforced = self.resolve(&self.enforce, enforced, req);
        let audit = self
            .has_audit
            .then(|| self.resolve(&self.audit, audit, req));
        self.finish(enforced, audit)
    }

    /// The decision for a request refused before it could be built (for
    /// instance a missing `:authority`).
    pub fn reject(&self, reason: Reason) -> Decision {
        let verdict = |pool: &PoolFacts| {
            if pool.any {
                Verdict {
                    action: Action::Deny,
                    cause: Cause::Invalid(reason),
                }
            } else {
                Verdict {
                    action: Action::Allow,
                    cause: Cause::NoPolicy,
                }
            }
        };
        let enforced = verdict(&self.enforce);
        let audit = self.has_audit.then(|| verdict(&self.audit));
        self.finish(enforced, audit)
    }

    fn finish(&self, enforced: Verdict, audit: Option<Verdict>) -> Decision {
        let log =
            self.logs(&self.enforce, enforced) || audit.is_some_and(|a| self.logs(&self.audit, a));
        Decision {
            enforced,
            audit,
            log,
        }
    }

    /// Whether a verdict is logged: by its rule's policy setting, or for a
    /// default or refusal by the most verbose setting in the pool.
    fn logs(&self, pool: &PoolFacts, v: Verdict) -> bool {
        let setting = match v.cause {
            Cause::Rule(r) => self
                .rules
                .get(r as usize)
                .and_then(|r| self.policies.get(r.policy as usize))
                .map_or(LogSetting::None, |p| p.log),
            Cause::Default(_) | Cause::Invalid(_) => pool.log,
            Cause::NoPolicy => LogSetting::None,
        };
        setting.logs(v.action)
    }

    fn resolve(&self, pool: &PoolFacts, best: Best, req: &Request<'_>) -> Verdict {
        let deny = |reason| Verdict {
            action: Action::Deny,
            cause: Cause::Invalid(reason),
        };
        if !pool.any {
            return Verdict {
                action: Action::Allow,
                cause: Cause::NoPolicy,
            };
        }
        if pool.sni_host_match
            && req.kind == Kind::Http
            && let Some(sni) = req.sni.filter(|s| !s.is_empty())
            && sni != req.host
        {
            return deny(Reason::SniHostMismatch);
        }
        if let Some(r) = best.deny {
            return Verdict {
                action: Action::Deny,
                cause: Cause::Rule(r),
            };
        }
        if let Some(r) = best.allow {
            return Verdict {
                action: Action::Allow,
                cause: Cause::Rule(r),
            };
        }
        if req.kind == Kind::Tcp && self.is_tls_port(req.port) {
            return deny(Reason::NoSni);
        }
        Verdict {
            action: pool.default,
            cause: Cause::Default(pool.default_policy),
        }
    }

    fn for_each_candidate<T: Tracer>(
        &self,
        req: &Request<'_>,
        tracer: &mut T,
        mut f: impl FnMut(&Self, &Dest, &mut T),
    ) {
        let wanted = match req.kind {
            Kind::Http => Protocol::Http,
            Kind::Tls => Protocol::Tls,
            Kind::Tcp => Protocol::Tcp,
        };
        let mut visit = |refs: crate::table::Span, proto: Protocol, tracer: &mut T| {
            for &d in refs.of(&self.dest_refs) {
                let Some(dest) = self.dests.get(d as usize) else {
                    continue;
                };
                let port_ok = dest
                    .ports
                    .of(&self.ports)
                    .iter()
                    .any(|r| r.lo <= req.port && req.port <= r.hi);
                if dest.protocol == proto && port_ok {
                    f(self, dest, tracer);
                } else {
                    tracer.dest_skipped(d);
                }
            }
        };
        if matches!(req.kind, Kind::Http | Kind::Tls) && !req.host.is_empty() {
            self.for_each_host(req.host, |h| visit(h, wanted, tracer));
        }
        if matches!(req.kind, Kind::Tls | Kind::Tcp)
            && let Some(ip) = req.dst_ip
        {
            for c in self.cidrs.iter().filter(|c| c.cidr.contains(ip)) {
                visit(c.dests, Protocol::Tcp, tracer);
            }
        }
    }

    /// Calls `f` with the destination list of every host pattern matching
    /// `host` (normalised): exact, then `*.` one label, then `**.` any depth.
    fn for_each_host(&self, host: &[u8], mut f: impl FnMut(crate::table::Span)) {
        let name_of = |i: u32| -> &[u8] {
            self.hosts
                .get(i as usize)
                .map_or(&[][..], |h| self.str(h.name))
        };
        let mut hit = |i: Option<u32>| {
            if let Some(h) = i.and_then(|i| self.hosts.get(i as usize)) {
                f(h.dests);
            }
        };
        hit(self.exact.get(host, name_of));
        // Wildcards never match IP literals.
        let is_ip = host.contains(&b':') || host.iter().all(|&b| b.is_ascii_digit() || b == b'.');
        if is_ip {
            return;
        }
        // `*.suffix`: drop exactly the first label. `*` alone: single-label hosts.
        if !self.one_label.is_empty() {
            match host.iter().position(|&b| b == b'.') {
                Some(dot) => hit(self
                    .one_label
                    .get(host.get(dot + 1..).unwrap_or(&[]), name_of)),
                None => hit(self.one_label.get(b"", name_of)),
            }
        }
        if self.any_depth.is_empty() {
            return;
        }
        // `**.suffix`: every proper suffix after a dot. `**` alone: any host.
        for (i, _) in host.iter().enumerate().filter(|(_, b)| **b == b'.') {
            hit(self
                .any_depth
                .get(host.get(i + 1..).unwrap_or(&[]), name_of));
        }
        hit(self.any_depth.get(b"", name_of));
    }

    fn rule_matches(&self, rule: &Rule, req: &Request<'_>) -> Result<(), Miss> {
        if rule.methods & req.method.0 == 0 {
            return Err(Miss::Method);
        }
        let paths = rule.paths.of(&self.paths);
        if !paths.is_empty() && !paths.iter().any(|p| self.path_matches(p, req.path)) {
            return Err(Miss::Path);
        }
        let sources = rule.sources.of(&self.sources);
        if !sources.is_empty() {
            let Some(principal) = req.principal else {
                return Err(Miss::NoPrincipal);
            };
            if !sources.iter().any(|s| self.source_matches(s, principal)) {
                return Err(Miss::Source);
            }
        }
        for (i, h) in rule.headers.of(&self.headers).iter().enumerate() {
            if !self.header_holds(h, rule.action, req.headers) {
                return Err(Miss::Header(i as u32));
            }
        }
        Ok(())
    }

    fn path_matches(&self, p: &Path, path: &[u8]) -> bool {
        match p {
            Path::Exact(s) => path == self.str(*s),
            Path::Prefix(s) => path.starts_with(self.str(*s)),
            Path::Dfa { dfa, .. } => self
                .dfas
                .get(*dfa as usize)
                .is_some_and(|d| d.is_full_match(path)),
        }
    }

    fn source_matches(&self, s: &Source, principal: &[u8]) -> bool {
        match s {
            Source::Principal(p) => principal == self.str(*p),
            Source::Namespace(ns) => {
                principal_parts(principal).is_some_and(|(n, _)| n == self.str(*ns))
            }
            Source::ServiceAccount(ns, sa) => principal_parts(principal)
                .is_some_and(|(n, a)| n == self.str(*ns) && a == self.str(*sa)),
        }
    }

    /// Header conditions fail closed on repeated headers: for an `allow`
    /// rule, `==` needs every occurrence to equal the value; for a `deny`
    /// rule, one equal occurrence is enough.
    fn header_holds(&self, h: &Header, action: Action, headers: &dyn Headers) -> bool {
        let (name, want) = match h {
            Header::Present(n) | Header::Absent(n) => (*n, None),
            Header::Equals(n, v) => (*n, Some(self.str(*v))),
        };
        let (mut count, mut equal) = (0u32, 0u32);
        headers.for_each_value(self.str(name), &mut |v| {
            count += 1;
            if want == Some(v) {
                equal += 1;
            }
        });
        match h {
            Header::Present(_) => count > 0,
            Header::Absent(_) => count == 0,
            Header::Equals(..) => match action {
                Action::Allow => count > 0 && equal == count,
                Action::Deny => equal > 0,
            },
        }
    }
}
