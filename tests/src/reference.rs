#![allow(
    clippy::indexing_slicing,
    reason = "reference code: written to be obviously right, for tests and fuzzers only; an out-of-range index is a bug the fuzzer reports"
)]

//! A deliberately simple reference implementation of the decision
//! semantics written in `docs/language.md` ("Rules", "How a decision is
//! made"), over the plain [`TableSpec`]: the fuzz targets compare it with
//! [`egress_table::Table::decide`] on generated policies and requests.
//!
//! It shares nothing with `table/src/decide.rs` but the spec types: no
//! binary table, no hash index, no rule index, no skipping of rules that
//! cannot change the verdict, no zero-allocation tricks. Every destination
//! of every policy is looked at for every request; paths are decoded into
//! owned match forms; regexes are compiled from their source text with the
//! `regex` crate and templates are matched by a backtracking matcher
//! (the table runs ahead-of-time DFAs and a piecewise matcher). Slow and
//! obvious on purpose: where the two disagree, one of them is wrong.
//!
//! Requests come in already normalised (host lower-case, port decided, path
//! checked and without query), as [`egress_table::Request`] does: the
//! normalisation is exercised by the red-team corpus and the filter target.

use std::collections::HashMap;
use std::net::IpAddr;

use egress_table::request::Reason;
use egress_table::spec::{
    Action, Cidr, HeaderSpec, HostKind, HostPattern, LogSetting, METHODS, Mode, PathSpec,
    PatternKind, Protocol, SourceSpec, TableSpec, Target,
};

/// What is being decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP request.
    Http,
    /// A TLS connection (decided on SNI, and on its address for `tcp` CIDRs).
    Tls,
    /// A plain TCP connection (decided on its address).
    Tcp,
}

/// The SNI under an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sni {
    /// None.
    Absent,
    /// Not a valid host name.
    Invalid,
    /// This normalised name.
    Name(Vec<u8>),
}

/// A normalised request.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP, TLS or TCP.
    pub kind: Kind,
    /// The normalised host (HTTP) or SNI (TLS); empty for TCP.
    pub host: Vec<u8>,
    /// The destination port.
    pub port: u16,
    /// The method as sent (upper case); empty for connections.
    pub method: Vec<u8>,
    /// The checked path without query; `None` for connections and a
    /// CONNECT without one.
    pub path: Option<Vec<u8>>,
    /// The principal without `spiffe://`.
    pub principal: Option<Vec<u8>>,
    /// The SNI of the connection under an HTTP request.
    pub sni: Sni,
    /// The destination address (connections).
    pub dst_ip: Option<IpAddr>,
    /// The request headers, in order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Why a verdict came out as it did. Rules are numbered in table order
/// (policies, then destinations, then rules, in source order), policies by
/// position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// This rule matched.
    Rule(usize),
    /// This policy's default applied.
    Default(usize),
    /// The request was refused before any rule.
    Invalid(Reason),
    /// No policy in the pool.
    NoPolicy,
}

/// An action with its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Allow or deny.
    pub action: Action,
    /// Why.
    pub cause: Cause,
}

/// The enforced verdict, the audit pool's (when there is an audit policy)
/// and whether a log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What happens.
    pub enforced: Verdict,
    /// What the audit policies would do.
    pub audit: Option<Verdict>,
    /// Whether the policies' log settings ask for an audit line.
    pub log: bool,
}

/// A compiled pattern.
enum Matcher {
    Regex(regex::bytes::Regex),
    Template(Vec<Piece>),
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    /// `{*}`: one or more bytes, none of them `/`.
    Segment,
    /// `{**}`: any bytes.
    Rest,
}

/// The reference decider for one spec.
pub struct Reference<'s> {
    spec: &'s TableSpec,
    matchers: HashMap<(PatternKind, String), Matcher>,
}

impl std::fmt::Debug for Reference<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reference({} policies)", self.spec.policies.len())
    }
}

/// The match form of a path or pattern text (docs/language.md, "Paths"):
/// every `%XX` decoded except `%2F`, `%5C` and `%25`, which stay escaped
/// with upper-case hex digits; all else byte for byte.
pub fn match_form(text: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        let esc = (b == b'%')
            .then(|| Some(hex(*text.get(i + 1)?)? * 16 + hex(*text.get(i + 2)?)?))
            .flatten();
        match esc {
            Some(c @ (b'/' | b'\\' | b'%')) => {
                out.extend_from_slice(format!("%{c:02X}").as_bytes());
                i += 3;
            }
            Some(c) => {
                out.push(c);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn template_pieces(source: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut rest = source;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("{**}") {
            pieces.push(Piece::Rest);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("{*}") {
            pieces.push(Piece::Segment);
            rest = r;
        } else {
            // The literal runs to the next `{` after its first character.
            let end = rest
                .char_indices()
                .skip(1)
                .find(|&(_, c)| c == '{')
                .map_or(rest.len(), |(i, _)| i);
            let (lit, r) = rest.split_at(end);
            if lit.starts_with('{') || lit.contains('}') {
                return None;
            }
            pieces.push(Piece::Literal(match_form(lit.as_bytes())));
            rest = r;
        }
    }
    Some(pieces)
}

/// Whether `pieces` match all of `path` (backtracking; paths are short).
fn template_matches(pieces: &[Piece], path: &[u8]) -> bool {
    match pieces.split_first() {
        None => path.is_empty(),
        Some((Piece::Literal(l), rest)) => {
            path.starts_with(l) && template_matches(rest, &path[l.len()..])
        }
        Some((Piece::Segment, rest)) => (1..=path.len())
            .take_while(|&n| path[n - 1] != b'/')
            .any(|n| template_matches(rest, &path[n..])),
        Some((Piece::Rest, rest)) => (0..=path.len()).any(|n| template_matches(rest, &path[n..])),
    }
}

impl<'s> Reference<'s> {
    /// Prepares the patterns of `spec`.
    pub fn new(spec: &'s TableSpec) -> Self {
        let mut matchers = HashMap::new();
        let all_paths = spec
            .policies
            .iter()
            .flat_map(|p| &p.destinations)
            .flat_map(|d| &d.rules)
            .flat_map(|r| r.paths.iter().chain(&r.except_paths));
        for p in all_paths {
            let PathSpec::Pattern { kind, source, .. } = p else {
                continue;
            };
            let key = (*kind, source.clone());
            if matchers.contains_key(&key) {
                continue;
            }
            let m = match kind {
                PatternKind::Template => {
                    template_pieces(source).map_or(Matcher::Never, Matcher::Template)
                }
                PatternKind::Regex => regex::bytes::RegexBuilder::new(&format!("^(?:{source})$"))
                    .unicode(false)
                    .size_limit(64 << 20)
                    .build()
                    .map_or(Matcher::Never, Matcher::Regex),
            };
            matchers.insert(key, m);
        }
        Self { spec, matchers }
    }

    /// Decides `req`.
    pub fn decide(&self, req: &Request) -> Decision {
        let enforced = self.pool(Mode::Enforce, req);
        let audit = self.has_audit().then(|| self.pool(Mode::Audit, req));
        self.finish(enforced, audit)
    }

    /// The decision for a request refused before rules (`reason`).
    pub fn reject(&self, reason: Reason) -> Decision {
        let v = |mode| {
            if self.in_pool(mode).next().is_some() {
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
        let enforced = v(Mode::Enforce);
        let audit = self.has_audit().then(|| v(Mode::Audit));
        self.finish(enforced, audit)
    }

    /// The id of rule `n` (`<policy>/<k>`), as the table reports it.
    pub fn rule_id(&self, n: usize) -> Option<String> {
        let mut seen = 0;
        for p in &self.spec.policies {
            let count: usize = p.destinations.iter().map(|d| d.rules.len()).sum();
            if n < seen + count {
                return Some(format!("{}/{}", p.name, n - seen + 1));
            }
            seen += count;
        }
        None
    }

    fn has_audit(&self) -> bool {
        self.spec.policies.iter().any(|p| p.mode == Mode::Audit)
    }

    fn in_pool(
        &self,
        mode: Mode,
    ) -> impl Iterator<Item = (usize, &egress_table::spec::PolicySpec)> {
        self.spec
            .policies
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.mode == mode)
    }

    fn finish(&self, enforced: Verdict, audit: Option<Verdict>) -> Decision {
        let logs = |mode: Mode, v: Verdict| -> bool {
            let setting = match v.cause {
                Cause::NoPolicy => LogSetting::None,
                Cause::Rule(n) => self.policy_of_rule(n).map_or(LogSetting::None, |p| p.log),
                // A default or a refusal: the most verbose setting of the pool.
                Cause::Default(_) | Cause::Invalid(_) => self
                    .in_pool(mode)
                    .map(|(_, p)| p.log)
                    .max()
                    .unwrap_or(LogSetting::None),
            };
            match setting {
                LogSetting::None => false,
                LogSetting::Denied => v.action == Action::Deny,
                LogSetting::All => true,
            }
        };
        Decision {
            enforced,
            audit,
            log: logs(Mode::Enforce, enforced) || audit.is_some_and(|a| logs(Mode::Audit, a)),
        }
    }

    fn policy_of_rule(&self, n: usize) -> Option<&egress_table::spec::PolicySpec> {
        let mut seen = 0;
        for p in &self.spec.policies {
            seen += p.destinations.iter().map(|d| d.rules.len()).sum::<usize>();
            if n < seen {
                return Some(p);
            }
        }
        None
    }

    /// One pool's verdict (docs/language.md, "Precedence", "Several
    /// policies", "Audit mode").
    fn pool(&self, mode: Mode, req: &Request) -> Verdict {
        let policies: Vec<_> = self.in_pool(mode).collect();
        if policies.is_empty() {
            return Verdict {
                action: Action::Allow,
                cause: Cause::NoPolicy,
            };
        }
        let refuse = |reason| Verdict {
            action: Action::Deny,
            cause: Cause::Invalid(reason),
        };
        if req.kind == Kind::Http && policies.iter().any(|(_, p)| p.require_sni_host_match) {
            match &req.sni {
                Sni::Invalid => return refuse(Reason::InvalidSni),
                Sni::Name(s) if *s != req.host => return refuse(Reason::SniHostMismatch),
                _ => {}
            }
        }
        // Every rule of every destination, numbered in table order.
        let mut first_deny = None;
        let mut first_allow = None;
        let mut first_otherwise = None;
        let mut n = 0usize;
        for p in &self.spec.policies {
            for d in &p.destinations {
                let candidate = p.mode == mode && self.reaches(d, req);
                for r in &d.rules {
                    if candidate && self.rule_matches(r, req) {
                        let slot = if r.fallback {
                            &mut first_otherwise
                        } else if r.action == Action::Deny {
                            &mut first_deny
                        } else {
                            &mut first_allow
                        };
                        slot.get_or_insert(n);
                    }
                    n += 1;
                }
            }
        }
        if let Some(r) = first_deny {
            return Verdict {
                action: Action::Deny,
                cause: Cause::Rule(r),
            };
        }
        if let Some(r) = first_allow {
            return Verdict {
                action: Action::Allow,
                cause: Cause::Rule(r),
            };
        }
        if let Some(r) = first_otherwise {
            return Verdict {
                action: Action::Deny,
                cause: Cause::Rule(r),
            };
        }
        // A connection without SNI to a port that a `tls` destination of
        // this pool covers cannot be told from the TLS it may carry.
        let tls_port = policies.iter().any(|(_, p)| {
            p.destinations.iter().any(|d| {
                d.protocol == Protocol::Tls
                    && d.ports.iter().any(|r| r.lo <= req.port && req.port <= r.hi)
            })
        });
        if req.kind == Kind::Tcp && tls_port {
            return refuse(Reason::NoSni);
        }
        // Deny if any policy of the pool defaults to deny (the first such
        // one is named); otherwise allow, naming the pool's first policy.
        let (index, policy) = policies
            .iter()
            .find(|(_, p)| p.default == Action::Deny)
            .unwrap_or(&policies[0]);
        Verdict {
            action: policy.default,
            cause: Cause::Default(*index),
        }
    }

    /// Whether destination `d` is one the request goes to: a host target
    /// (HTTP Host, TLS SNI) or an address target (`tcp`), the protocol,
    /// and a port in its ranges.
    fn reaches(&self, d: &egress_table::spec::DestSpec, req: &Request) -> bool {
        if !d.ports.iter().any(|r| r.lo <= req.port && req.port <= r.hi) {
            return false;
        }
        d.targets.iter().any(|t| match t {
            Target::Host(h) => {
                let proto = match req.kind {
                    Kind::Http => Protocol::Http,
                    Kind::Tls => Protocol::Tls,
                    Kind::Tcp => return false,
                };
                d.protocol == proto && !req.host.is_empty() && host_matches(h, &req.host)
            }
            Target::Cidr(c) => {
                req.kind != Kind::Http
                    && d.protocol == Protocol::Tcp
                    && req.dst_ip.is_some_and(|ip| cidr_contains(c, ip))
            }
        })
    }

    fn rule_matches(&self, r: &egress_table::spec::RuleSpec, req: &Request) -> bool {
        if r.fallback {
            return true;
        }
        // Methods: a standard method is in the set by its bit; any other
        // method only in an open set (`any`, `any except …`).
        let in_set = match METHODS.iter().position(|m| m.as_bytes() == req.method) {
            Some(i) => r.methods.0 & (1 << i) != 0,
            None => r.methods.is_open(),
        };
        if !in_set {
            return false;
        }
        let connect = req.kind == Kind::Http && req.method == b"CONNECT";
        if connect && r.action == Action::Allow && r.methods.is_open() {
            return false;
        }
        if !r.paths.is_empty() || !r.except_paths.is_empty() {
            match &req.path {
                // No path (a tunnel): a path condition holds for a deny
                // and fails for an allow.
                None => {
                    if r.action == Action::Allow {
                        return false;
                    }
                }
                Some(path) => {
                    let form = match_form(path);
                    if !r.paths.is_empty() && !r.paths.iter().any(|p| self.path_matches(p, &form)) {
                        return false;
                    }
                    if r.except_paths.iter().any(|p| self.path_matches(p, &form)) {
                        return false;
                    }
                }
            }
        }
        if !r.sources.is_empty() || !r.except_sources.is_empty() {
            match &req.principal {
                // No principal: only a deny with nothing but `except from`
                // holds.
                None => {
                    if !(r.sources.is_empty() && r.action == Action::Deny) {
                        return false;
                    }
                }
                Some(principal) => {
                    if !r.sources.is_empty()
                        && !r.sources.iter().any(|s| source_matches(s, principal))
                    {
                        return false;
                    }
                    if r.except_sources
                        .iter()
                        .any(|s| source_matches(s, principal))
                    {
                        return false;
                    }
                }
            }
        }
        r.headers
            .iter()
            .all(|h| header_holds(h, r.action, &req.headers))
    }

    fn path_matches(&self, p: &PathSpec, form: &[u8]) -> bool {
        match p {
            PathSpec::Exact(t) => form == match_form(t.as_bytes()),
            PathSpec::Prefix(t) => form.starts_with(&match_form(t.as_bytes())),
            PathSpec::Suffix(t) => form.ends_with(&match_form(t.as_bytes())),
            PathSpec::Pattern { kind, source, .. } => {
                match self.matchers.get(&(*kind, source.clone())) {
                    Some(Matcher::Regex(re)) => re.is_match(form),
                    Some(Matcher::Template(pieces)) => template_matches(pieces, form),
                    Some(Matcher::Never) | None => false,
                }
            }
        }
    }
}

/// Host patterns (docs/language.md, "Hosts", "Wildcards"): exact names;
/// `*.s` exactly one label before `.s`; `**.s` one or more; `*` any
/// single-label name; `**` any name. Wildcards never match an IP address.
fn host_matches(p: &HostPattern, host: &[u8]) -> bool {
    if p.kind == HostKind::Exact {
        return host == p.name.as_bytes();
    }
    let text = String::from_utf8_lossy(host);
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return false;
    }
    let front: &[u8] = if p.name.is_empty() {
        host
    } else {
        let mut suffix = b".".to_vec();
        suffix.extend_from_slice(p.name.as_bytes());
        match host.strip_suffix(suffix.as_slice()) {
            Some(f) => f,
            None => return false,
        }
    };
    let labels: Vec<&[u8]> = front.split(|&b| b == b'.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return false;
    }
    match p.kind {
        HostKind::OneLabel => labels.len() == 1,
        _ => true,
    }
}

/// IPv4-mapped IPv6 addresses are their IPv4 address.
fn cidr_contains(c: &Cidr, ip: IpAddr) -> bool {
    let as_bits = |a: IpAddr| -> (u128, u32) {
        match a {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => (u128::from(u32::from(v4)), 32),
                None => (u128::from(v6), 128),
            },
        }
    };
    let (ip_bits, ip_width) = as_bits(ip);
    let (net_bits, net_width, prefix) = match c.addr {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32, u32::from(c.prefix)),
        IpAddr::V6(v6) => (u128::from(v6), 128, u32::from(c.prefix)),
    };
    let (ip_bits, ip_width) = if net_width == 128 && ip_width == 32 {
        // An IPv6 network is compared with the mapped form of an IPv4 address.
        ((0xffffu128 << 32) | ip_bits, 128)
    } else {
        (ip_bits, ip_width)
    };
    if net_width != ip_width {
        return false;
    }
    let keep = prefix.min(net_width);
    if keep == 0 {
        return true;
    }
    (ip_bits >> (net_width - keep)) == (net_bits >> (net_width - keep))
}

/// `trust-domain/ns/NS/sa/SA`, as (namespace, service account).
fn principal_parts(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let parts: Vec<&[u8]> = p.split(|&b| b == b'/').collect();
    match parts.as_slice() {
        [td, b"ns", ns, b"sa", sa] if !td.is_empty() && !ns.is_empty() && !sa.is_empty() => {
            Some((ns, sa))
        }
        _ => None,
    }
}

fn source_matches(s: &SourceSpec, principal: &[u8]) -> bool {
    match s {
        SourceSpec::Principal(p) => principal == p.as_bytes(),
        SourceSpec::Namespace(ns) => {
            principal_parts(principal).is_some_and(|(n, _)| n == ns.as_bytes())
        }
        SourceSpec::ServiceAccount { namespace, name } => principal_parts(principal)
            .is_some_and(|(n, a)| n == namespace.as_bytes() && a == name.as_bytes()),
        SourceSpec::AnyPrincipal => !principal.is_empty(),
    }
}

/// How a header line's name relates to a condition's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    /// The same name (case-insensitively).
    Same,
    /// The same but for `_` versus `-` somewhere.
    Variant,
}

fn name_relation(line: &[u8], want: &str) -> Option<Name> {
    let norm = |s: &[u8]| -> Vec<u8> {
        s.iter()
            .map(|b| match b.to_ascii_lowercase() {
                b'_' => b'-',
                c => c,
            })
            .collect()
    };
    if line.eq_ignore_ascii_case(want.as_bytes()) {
        Some(Name::Same)
    } else if norm(line) == norm(want.as_bytes()) {
        Some(Name::Variant)
    } else {
        None
    }
}

/// A value read as a list: split on `,`, trimmed of spaces and tabs, empty
/// elements dropped (RFC 9110 §5.6.1).
fn elements(v: &[u8]) -> Vec<&[u8]> {
    v.split(|&b| b == b',')
        .map(|e| {
            let s = e.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
            let t = e[s..]
                .iter()
                .rev()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
            &e[s..e.len() - t]
        })
        .filter(|e| !e.is_empty())
        .collect()
}

/// The filter's default `max_header_bytes`.
fn max_header_bytes() -> usize {
    egress_table::plugin_config::DEFAULT_MAX_HEADER_BYTES as usize
}

/// Header conditions fail closed (docs/language.md, "Headers").
fn header_holds(h: &HeaderSpec, action: Action, headers: &[(Vec<u8>, Vec<u8>)]) -> bool {
    let name = h.name();
    let lines: Vec<(Name, &[u8])> = headers
        .iter()
        .filter_map(|(k, v)| name_relation(k, name).map(|n| (n, v.as_slice())))
        .collect();
    let same = lines.iter().filter(|(n, _)| *n == Name::Same).count();
    let Some((op, want, negated)) = h.value_test() else {
        let present = matches!(h, HeaderSpec::Present(_));
        return match (present, action) {
            // A variant may make a deny fire or an allow fail, never the reverse.
            (true, Action::Allow) => same > 0,
            (true, Action::Deny) => !lines.is_empty(),
            (false, Action::Allow) => lines.is_empty(),
            (false, Action::Deny) => same == 0,
        };
    };
    let passes = |v: &[u8]| op.holds(v, want);
    // Longer, all lines together, than the filter reads (`max_header_bytes`
    // at its default): the answer that denies.
    let over = lines.iter().map(|(_, v)| v.len()).sum::<usize>() > max_header_bytes();
    // The deny reading: some line, whole or one of its elements, passes.
    let deny_reading = over
        || lines
            .iter()
            .any(|(_, v)| passes(v) || elements(v).into_iter().any(passes));
    // The allow reading: a line under the exact name, and every line
    // passes whole or element by element.
    let allow_reading = !over
        && same > 0
        && lines.iter().all(|(_, v)| {
            let els = elements(v);
            passes(v) || (!els.is_empty() && els.into_iter().all(passes))
        });
    match (negated, action) {
        (false, Action::Allow) => allow_reading,
        (false, Action::Deny) => deny_reading,
        (true, Action::Allow) => !deny_reading,
        (true, Action::Deny) => !allow_reading,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_forms() {
        assert_eq!(match_form(b"/v1/sa%3asignBlob"), b"/v1/sa:signBlob");
        assert_eq!(match_form(b"/a%2fb%25c"), b"/a%2Fb%25c");
        assert_eq!(match_form(b"/a%zz"), b"/a%zz");
    }

    #[test]
    fn templates() {
        let t = |s: &str, p: &str| template_matches(&template_pieces(s).unwrap(), p.as_bytes());
        assert!(t("/x/{**}", "/x/"));
        assert!(t("/x/{**}", "/x/a/b"));
        assert!(!t("/x/{**}", "/x"));
        assert!(t("/v1/{*}/items", "/v1/a/items"));
        assert!(!t("/v1/{*}/items", "/v1//items"));
        assert!(!t("/v1/{*}/items", "/v1/a/b/items"));
        assert!(t("/files/{**}.json", "/files/a/b.json"));
        // Non-ASCII literal text (fuzz/regressions/table/template-non-ascii).
        assert!(t("ь{*}", "\u{44c}x"));
    }

    #[test]
    fn headers_past_the_budget_take_the_answer_that_denies() {
        let eq = HeaderSpec::Equals("x-tenant".into(), b"acme".to_vec());
        let ne = HeaderSpec::NotEquals("x-tenant".into(), b"acme".to_vec());
        let list = |n: usize| {
            let mut v = b"acme".to_vec();
            while v.len() + 6 <= n {
                v.extend_from_slice(b", acme");
            }
            v
        };
        let at = vec![
            (b"x-tenant".to_vec(), list(8188)),
            (b"x-tenant".to_vec(), list(4)),
        ];
        let over = vec![
            (b"x-tenant".to_vec(), list(8188)),
            (b"x-tenant".to_vec(), list(10)),
        ];
        assert!(header_holds(&eq, Action::Allow, &at));
        assert!(!header_holds(&eq, Action::Allow, &over));
        // A deny's condition holds past the budget, whatever the value.
        let evil = HeaderSpec::Equals("x-tenant".into(), b"evil".to_vec());
        assert!(!header_holds(&evil, Action::Deny, &at));
        assert!(header_holds(&evil, Action::Deny, &over));
        assert!(!header_holds(&ne, Action::Deny, &at));
        assert!(header_holds(&ne, Action::Deny, &over));
        assert!(!header_holds(&ne, Action::Allow, &over));
    }

    #[test]
    fn hosts() {
        let p = |kind, name: &str| HostPattern {
            kind,
            name: name.into(),
        };
        assert!(host_matches(
            &p(HostKind::OneLabel, "example.com"),
            b"a.example.com"
        ));
        assert!(!host_matches(
            &p(HostKind::OneLabel, "example.com"),
            b"a.b.example.com"
        ));
        assert!(host_matches(
            &p(HostKind::AnyDepth, "example.com"),
            b"a.b.example.com"
        ));
        assert!(!host_matches(
            &p(HostKind::AnyDepth, "example.com"),
            b"example.com"
        ));
        assert!(!host_matches(
            &p(HostKind::AnyDepth, "example.com"),
            b"evilexample.com"
        ));
        assert!(host_matches(&p(HostKind::OneLabel, ""), b"localhost"));
        assert!(!host_matches(&p(HostKind::OneLabel, ""), b"a.b"));
        assert!(!host_matches(&p(HostKind::AnyDepth, ""), b"10.1.2.3"));
    }
}
