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
//!    `allow` allows; otherwise a matching `otherwise deny` (a rule of a
//!    candidate destination) denies; otherwise the pool's default applies
//!    (deny if any policy in the pool defaults to deny). Among several
//!    matching rules of the winning kind, the first in table order is
//!    reported.
//! 4. Requests that cannot be decided safely (malformed authority or path,
//!    SNI/Host disagreement where required, no SNI on a TLS port) are denied
//!    with a [`Reason`] instead. Each pool applies only its own facts: an
//!    audit policy's `require sni-host-match` or `tls` ports never change
//!    the enforced verdict.
//! 5. A pool with no policy at all allows (nothing is enforced).
//!
//! Nothing on this path allocates.

use core::net::IpAddr;

use crate::path::Subject;
use crate::request::{Method, Reason, principal_parts};
use crate::rule_index::Candidates;
use crate::spec::{Action, LogSetting, MethodSet, Mode, Protocol, ValueOp};
use crate::table::{Body, Dest, Header, Path, PoolFacts, Source, Table};

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

/// Access to a request's header map (pseudo-headers included).
pub trait Headers {
    /// Calls `f` with every header as (name, value), in order. Names may be
    /// in any case; values are raw bytes: nothing assumes UTF-8. The slices
    /// live as long as the map is borrowed.
    fn for_each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8]));

    /// The most bytes of one header's values, all its occurrences
    /// together, that a value condition (`==`, `prefix`, `suffix` and their
    /// negations) reads; a header longer than that takes the answer that
    /// denies (see [`Table::header_holds`]). The plugin configuration's
    /// `max_header_bytes` ([`Limited`]); by default
    /// [`DEFAULT_MAX_HEADER_BYTES`](crate::plugin_config::DEFAULT_MAX_HEADER_BYTES).
    fn max_value_bytes(&self) -> usize {
        crate::plugin_config::DEFAULT_MAX_HEADER_BYTES as usize
    }
}

/// A header map with the value budget the plugin configuration sets
/// ([`Headers::max_value_bytes`]).
#[derive(Clone, Copy)]
pub struct Limited<'a> {
    /// The headers.
    pub headers: &'a dyn Headers,
    /// [`Headers::max_value_bytes`].
    pub max_value_bytes: usize,
}

impl core::fmt::Debug for Limited<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Limited")
            .field("max_value_bytes", &self.max_value_bytes)
            .finish_non_exhaustive()
    }
}

impl Headers for Limited<'_> {
    fn for_each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        self.headers.for_each(f);
    }

    fn max_value_bytes(&self) -> usize {
        self.max_value_bytes
    }
}

/// A request without headers (connections, or tests that need none).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn for_each<'s>(&'s self, _: &mut dyn FnMut(&'s [u8], &'s [u8])) {}
}

impl Headers for [(&[u8], &[u8])] {
    fn for_each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        for (k, v) in self {
            f(k, v);
        }
    }
}

impl Headers for &[(&[u8], &[u8])] {
    fn for_each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        (**self).for_each(f);
    }
}

impl Headers for Vec<(&[u8], &[u8])> {
    fn for_each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        self.as_slice().for_each(f);
    }
}

/// The TLS SNI of the connection an HTTP request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sni<'a> {
    /// None (plain HTTP), or not looked at.
    #[default]
    Absent,
    /// Present but not a valid host name.
    Invalid,
    /// The SNI, normalised.
    Name(&'a [u8]),
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
    /// The checked path without query ([`crate::request::check_path`]);
    /// `None` for connections and for a CONNECT request without `:path`.
    pub path: Option<&'a [u8]>,
    /// The normalised peer principal, if known.
    pub principal: Option<&'a [u8]>,
    /// For HTTP: the SNI of the TLS connection the request came on.
    pub sni: Sni<'a>,
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
            .field("path", &self.path.map(String::from_utf8_lossy))
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
    /// A CONNECT request, and the `allow` rule does not name CONNECT.
    ConnectNotNamed,
    /// No path condition matched.
    Path,
    /// One of the rule's `except path` patterns matched.
    ExceptPath,
    /// A CONNECT request has no path, and an `allow` rule's path condition
    /// needs one.
    NoPath,
    /// The request has no principal, and the rule has source conditions.
    NoPrincipal,
    /// No source condition matched the principal.
    Source,
    /// The principal matched one of the rule's `except from` sources.
    ExceptSource,
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
    /// Whether every candidate rule must be tested (and reported), even one
    /// that can no longer change the verdict.
    fn wants_every_rule(&self) -> bool {
        true
    }
}

/// Observes nothing: the decision skips rules that cannot change it.
impl Tracer for () {
    fn wants_every_rule(&self) -> bool {
        false
    }
}

#[derive(Default, Clone, Copy)]
struct Best {
    deny: Option<u32>,
    allow: Option<u32>,
    /// A matching `otherwise deny`: decides only without a deny or allow.
    fallback: Option<u32>,
}

impl Best {
    /// Whether rule `idx` (of `rule`'s kind) could change this pool's
    /// verdict: a deny decides over any allow, and among rules of the
    /// deciding kind the first in table order is reported.
    fn could_change(&self, rule: &Body, idx: u32) -> bool {
        let before = |slot: Option<u32>| slot.is_none_or(|r| idx < r);
        match (rule.fallback, rule.action) {
            (true, _) => self.deny.is_none() && self.allow.is_none() && before(self.fallback),
            (false, Action::Deny) => before(self.deny),
            (false, Action::Allow) => self.deny.is_none() && before(self.allow),
        }
    }

    fn record(&mut self, rule: &Body, idx: u32) {
        let slot = match (rule.fallback, rule.action) {
            (true, _) => &mut self.fallback,
            (false, Action::Deny) => &mut self.deny,
            (false, Action::Allow) => &mut self.allow,
        };
        if slot.is_none_or(|r| idx < r) {
            *slot = Some(idx);
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
        let every = tracer.wants_every_rule();
        let plain = req.path.is_some_and(|p| !p.contains(&b'%'));
        self.for_each_candidate(req, tracer, |table, di, dest, tracer| {
            let Some(policy) = table.policies.get(dest.policy as usize) else {
                return;
            };
            let best = match policy.mode {
                Mode::Enforce => &mut enforced,
                Mode::Audit => &mut audit,
            };
            let mut test = |idx: u32| {
                let Some(rule) = table.body(idx) else {
                    return;
                };
                if !every && !best.could_change(rule, idx) {
                    return;
                }
                let outcome = table.rule_matches(rule, req);
                tracer.rule(idx, outcome);
                if outcome.is_ok() {
                    best.record(rule, idx);
                }
            };
            let candidates = if every {
                Candidates::All(dest.rules)
            } else {
                table.rule_index.candidates(di, dest.rules, req.path, plain)
            };
            match candidates {
                Candidates::All(span) => (span.start..span.end).for_each(&mut test),
                Candidates::Lists(always, keyed) => {
                    always.iter().chain(keyed).for_each(|&idx| test(idx));
                }
            }
        });
        let enforced = self.resolve(Mode::Enforce, enforced, req);
        let audit = self
            .has_audit
            .then(|| self.resolve(Mode::Audit, audit, req));
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
                .policies
                .get(self.rule_policy(r) as usize)
                .map_or(LogSetting::None, |p| p.log),
            Cause::Default(_) | Cause::Invalid(_) => pool.log,
            Cause::NoPolicy => LogSetting::None,
        };
        setting.logs(v.action)
    }

    /// A pool's verdict. Every fact it uses (SNI agreement, TLS ports, the
    /// default) is the pool's own: an audit policy never changes what the
    /// enforced pool decides.
    fn resolve(&self, mode: Mode, best: Best, req: &Request<'_>) -> Verdict {
        let pool = self.pool(mode);
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
        if pool.sni_host_match && req.kind == Kind::Http {
            match req.sni {
                Sni::Invalid => return deny(Reason::InvalidSni),
                Sni::Name(sni) if sni != req.host => return deny(Reason::SniHostMismatch),
                Sni::Name(_) | Sni::Absent => {}
            }
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
        if let Some(r) = best.fallback {
            return Verdict {
                action: Action::Deny,
                cause: Cause::Rule(r),
            };
        }
        if req.kind == Kind::Tcp && self.is_tls_port(mode, req.port) {
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
        mut f: impl FnMut(&Self, u32, &Dest, &mut T),
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
                    f(self, d, dest, tracer);
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
            // `::ffff:a.b.c.d` is the IPv4 host a.b.c.d.
            let ip = crate::host::canonical_ip(ip);
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

    /// Whether a rule matches. CONNECT opens a tunnel whose requests the
    /// filter never sees, so it fails closed: only an `allow` rule that
    /// names CONNECT admits it (`any` and `any except …` do not), and a
    /// path condition (plain or `except path`), which a tunnel without
    /// `:path` cannot be held to, holds for a `deny` and fails for an
    /// `allow`. Likewise an `except from` condition on a request without a
    /// principal holds for a `deny` and fails for an `allow`; a plain
    /// source condition needs a principal. An `otherwise deny` rule always
    /// matches (it is weighed after every other rule).
    fn rule_matches(&self, rule: &Body, req: &Request<'_>) -> Result<(), Miss> {
        if rule.methods & req.method.0 == 0 {
            return Err(Miss::Method);
        }
        let connect = req.kind == Kind::Http && req.method == Method::CONNECT;
        if connect && rule.action == Action::Allow && MethodSet(rule.methods).is_open() {
            return Err(Miss::ConnectNotNamed);
        }
        let paths = rule.paths.of(&self.path_refs);
        let except_paths = rule.except_paths.of(&self.path_refs);
        if !paths.is_empty() || !except_paths.is_empty() {
            match req.path {
                Some(path) => {
                    let subject = Subject::new(path);
                    let hit = |&i: &u32| {
                        self.paths
                            .get(i as usize)
                            .is_some_and(|p| self.path_matches(p, &subject))
                    };
                    if !paths.is_empty() && !paths.iter().any(hit) {
                        return Err(Miss::Path);
                    }
                    if except_paths.iter().any(hit) {
                        return Err(Miss::ExceptPath);
                    }
                }
                None if rule.action == Action::Deny => {}
                None => return Err(Miss::NoPath),
            }
        }
        let sources = rule.sources.of(&self.source_refs);
        let except_sources = rule.except_sources.of(&self.source_refs);
        if !sources.is_empty() || !except_sources.is_empty() {
            match req.principal {
                Some(principal) => {
                    let hit = |&i: &u32| {
                        self.sources
                            .get(i as usize)
                            .is_some_and(|s| self.source_matches(s, principal))
                    };
                    if !sources.is_empty() && !sources.iter().any(hit) {
                        return Err(Miss::Source);
                    }
                    if except_sources.iter().any(hit) {
                        return Err(Miss::ExceptSource);
                    }
                }
                None if sources.is_empty() && rule.action == Action::Deny => {}
                None => return Err(Miss::NoPrincipal),
            }
        }
        for (i, h) in rule.headers.of(&self.header_refs).iter().enumerate() {
            let Some(h) = self.headers.get(*h as usize) else {
                return Err(Miss::Header(i as u32));
            };
            if !self.header_holds(h, rule.action, req.headers) {
                return Err(Miss::Header(i as u32));
            }
        }
        Ok(())
    }

    /// Paths are compared in match form (see [`crate::path`]): the table
    /// holds the patterns' match forms, the request is decoded on the fly.
    fn path_matches(&self, p: &Path, path: &Subject<'_>) -> bool {
        match p {
            Path::Exact { form, .. } => path.equals(self.form(*form)),
            Path::Prefix { form, .. } => path.starts_with(self.form(*form)),
            Path::Suffix { form, .. } => path.ends_with(self.form(*form)),
            Path::Template { pieces, .. } => crate::template::matches(
                pieces.of(&self.pieces),
                |off, len| self.form(crate::table::Str { off, len }),
                path,
            ),
            Path::Dfa { dfa, .. } => self.dfas.get(*dfa as usize).is_some_and(|d| {
                if path.is_plain() {
                    d.is_full_match_bytes(path.raw())
                } else {
                    d.is_full_match(path.bytes())
                }
            }),
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
            Source::Any => !principal.is_empty(),
        }
    }

    /// Header conditions fail closed, per action (see the language
    /// reference, "Headers"):
    ///
    /// - **Names**: `_` and `-` are the same to many upstreams (CGI-style
    ///   servers read `x_debug` as `X-Debug`), so a header whose name
    ///   differs from the condition's only by `_`/`-` is a *variant*. A
    ///   variant can make a `deny` fire and an `allow` fail, never the
    ///   reverse: `present` in a deny and `absent` in an allow count
    ///   variants; `present` in an allow and `absent` in a deny need the
    ///   exact name.
    /// - **Values** (`==`, `prefix`, `suffix`): a value is also read as a
    ///   comma-separated list (RFC 9110 §5.3: repeated field lines and one
    ///   comma-joined line are equivalent for list-based fields). A `deny`
    ///   fires when any occurrence, whole or any element of it, passes; an
    ///   `allow` needs at least one occurrence under the exact name and
    ///   every occurrence (variants included) to pass, whole or element by
    ///   element.
    /// - **Negations** (`!=`, `not prefix`, `not suffix`) are the
    ///   complement of the comparison read the other action's way: in a
    ///   `deny`, `!= v` holds unless the `allow` reading of `== v` holds (so
    ///   an absent header, or any occurrence that is not `v`, denies); in an
    ///   `allow`, it holds only if the `deny` reading of `== v` does not (no
    ///   occurrence, name or variant, whole or element, is `v`).
    /// - **Length**: a value comparison reads at most
    ///   [`Headers::max_value_bytes`] bytes of the header's occurrences
    ///   (name and variants, all together). One that would read more takes
    ///   the answer that denies, as a variant can: the `deny` reading
    ///   holds, the `allow` reading fails (and so, through the rule above,
    ///   `!=` in a `deny` holds and in an `allow` fails). The bytes of an
    ///   occurrence count when it is read; once the answer is settled (a
    ///   `deny` hit, an `allow` failure) no more are read, and the answer is
    ///   the one that denies anyway.
    fn header_holds(&self, h: &Header, action: Action, headers: &dyn Headers) -> bool {
        match *h {
            Header::Present(n) | Header::Absent(n) => {
                let (mut exact, mut variants) = (0u32, 0u32);
                headers.for_each(&mut |k, _| {
                    if let Some(is_exact) = header_name_matches(k, self.str(n)) {
                        variants += 1;
                        exact += u32::from(is_exact);
                    }
                });
                match (h, action) {
                    (Header::Present(_), Action::Allow) => exact > 0,
                    (Header::Present(_), Action::Deny) => variants > 0,
                    (_, Action::Allow) => variants == 0,
                    (_, Action::Deny) => exact == 0,
                }
            }
            Header::Value {
                name,
                op,
                value,
                negated,
            } => {
                let read_as = match (negated, action) {
                    (false, a) => a,
                    (true, Action::Allow) => Action::Deny,
                    (true, Action::Deny) => Action::Allow,
                };
                let holds = value_holds(self.str(name), op, self.str(value), read_as, headers);
                holds != negated
            }
        }
    }
}

/// Whether a value comparison holds for `action` (see
/// [`Table::header_holds`]).
fn value_holds(
    name: &[u8],
    op: ValueOp,
    want: &[u8],
    action: Action,
    headers: &dyn Headers,
) -> bool {
    let mut exact = 0u32;
    let (mut all_conform, mut any_hit) = (true, false);
    // The bytes a comparison may still read (see `Table::header_holds`).
    let mut budget = headers.max_value_bytes();
    headers.for_each(&mut |k, v| {
        let Some(is_exact) = header_name_matches(k, name) else {
            return;
        };
        exact += u32::from(is_exact);
        // Each occurrence is read once, and only while it can still change
        // the answer: a deny has its answer at the first hit, an allow at
        // the first occurrence that does not conform (the count of exact
        // names goes on).
        let settled = match action {
            Action::Allow => !all_conform,
            Action::Deny => any_hit,
        };
        if settled {
            return;
        }
        let Some(left) = budget.checked_sub(v.len()) else {
            // Too long to read: the answer that denies.
            (any_hit, all_conform) = (true, false);
            return;
        };
        budget = left;
        if op.holds(v, want) {
            any_hit = true;
            return;
        }
        // Element by element, in one pass: any element (for a deny), every
        // element and at least one (for an allow).
        let (mut any, mut every, mut some) = (false, true, false);
        each_element(v, |e| {
            let h = holds(op, e, want);
            (any, every, some) = (any || h, every && h, true);
            !((action == Action::Deny && any) || (action == Action::Allow && !every))
        });
        any_hit |= any;
        all_conform &= some && every;
    });
    match action {
        Action::Allow => exact > 0 && all_conform,
        Action::Deny => any_hit,
    }
}

/// Whether header name `k` is `name` (case-insensitively): `Some(true)`
/// for the same name, `Some(false)` for a variant that differs only by `_`
/// versus `-`, `None` otherwise.
fn header_name_matches(k: &[u8], name: &[u8]) -> Option<bool> {
    if k.len() != name.len() {
        return None;
    }
    let mut exact = true;
    for (&a, &b) in k.iter().zip(name) {
        let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
        if a == b {
            continue;
        }
        if matches!(a, b'_' | b'-') && matches!(b, b'_' | b'-') {
            exact = false;
            continue;
        }
        return None;
    }
    Some(exact)
}

/// [`ValueOp::holds`], with `==` compared byte by byte in place (an element
/// of a list is a few bytes; a call to `memcmp` for each costs more than
/// the comparison).
#[inline]
fn holds(op: ValueOp, value: &[u8], want: &[u8]) -> bool {
    match op {
        ValueOp::Equals => value.len() == want.len() && value.iter().zip(want).all(|(x, y)| x == y),
        _ => op.holds(value, want),
    }
}

/// Calls `f` on each element of a list-valued field (split on `,`,
/// optional whitespace, SP and HTAB, trimmed, empty elements ignored: RFC
/// 9110 §5.6.1) until it returns false: one pass over the
/// bytes, no iterator adaptors (a header may hold thousands of elements).
#[inline]
fn each_element(v: &[u8], mut f: impl FnMut(&[u8]) -> bool) {
    let ows = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    let mut start = 0;
    while start <= v.len() {
        let mut end = start;
        while let Some(&b) = v.get(end) {
            if b == b',' {
                break;
            }
            end += 1;
        }
        let (mut a, mut z) = (start, end);
        while a < z && ows(v.get(a)) {
            a += 1;
        }
        while z > a && ows(v.get(z - 1)) {
            z -= 1;
        }
        if a < z
            && let Some(e) = v.get(a..z)
            && !f(e)
        {
            return;
        }
        start = end + 1;
    }
}

/// [`each_element`] written with iterator adaptors: what it must agree
/// with (the tests).
#[cfg(test)]
/// The elements of a list-valued field: split on `,`, optional whitespace
/// (SP, HTAB) trimmed, empty elements ignored (RFC 9110 §5.6.1).
fn list_elements(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(|e| {
            let start = e
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(e.len());
            let end = e
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(start, |i| i + 1);
            e.get(start..end).unwrap_or(&[])
        })
        .filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_and_lists() {
        assert_eq!(header_name_matches(b"X-Debug", b"x-debug"), Some(true));
        assert_eq!(header_name_matches(b"x_debug", b"x-debug"), Some(false));
        assert_eq!(header_name_matches(b"x-debug", b"x_debug"), Some(false));
        assert_eq!(header_name_matches(b"x-debugs", b"x-debug"), None);
        assert_eq!(header_name_matches(b"x.debug", b"x-debug"), None);
        let l = |v: &[u8]| list_elements(v).map(<[u8]>::to_vec).collect::<Vec<_>>();
        assert_eq!(l(b"1, 0"), vec![b"1".to_vec(), b"0".to_vec()]);
        assert_eq!(l(b" a ,\t, b"), vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(l(b" , ").is_empty());
        // The one-pass scan the filter runs agrees with it on every value of
        // up to seven bytes over the bytes that matter, and stops when told.
        let scan = |v: &[u8]| {
            let mut out = Vec::new();
            each_element(v, |e| {
                out.push(e.to_vec());
                true
            });
            out
        };
        let bytes = b"a, \t";
        let mut v = Vec::new();
        for len in 0..=7u32 {
            for n in 0..(bytes.len() as u32).pow(len) {
                v.clear();
                let mut k = n;
                for _ in 0..len {
                    v.push(bytes[(k % bytes.len() as u32) as usize]);
                    k /= bytes.len() as u32;
                }
                assert_eq!(scan(&v), l(&v), "{:?}", String::from_utf8_lossy(&v));
            }
        }
        let mut first = Vec::new();
        each_element(b"x, y, z", |e| {
            first.push(e.to_vec());
            false
        });
        assert_eq!(first, vec![b"x".to_vec()]);
        for op in [ValueOp::Equals, ValueOp::Prefix, ValueOp::Suffix] {
            for (value, want) in [
                ("acme", "acme"),
                ("acme-1", "acme"),
                ("x-acme", "acme"),
                ("ac", "acme"),
                ("", ""),
            ] {
                assert_eq!(
                    holds(op, value.as_bytes(), want.as_bytes()),
                    op.holds(value.as_bytes(), want.as_bytes()),
                    "{op:?} {value} {want}"
                );
            }
        }
    }
}
