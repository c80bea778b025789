//! The decoded, validated table the decision function runs on.
//!
//! All strings live in one pool and are referred to by [`Str`]; every list is a
//! [`Span`] into a flat array. [`crate::format::decode`] checks every reference
//! before a `Table` exists, so lookups here use `get` and fall back to "empty"
//! only as a formality: on a decoded table they never miss.

use crate::dfa::PathDfa;
use crate::hash::Index;
use crate::spec::{Action, Cidr, HostKind, LogSetting, Mode, PatternKind, Protocol, ValueOp};

/// A string in the pool: offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Str {
    pub(crate) off: u32,
    pub(crate) len: u32,
}

impl Str {
    /// The bytes of this string in `pool` (empty if it lies outside).
    pub(crate) fn of(self, pool: &[u8]) -> &[u8] {
        let start = self.off as usize;
        pool.get(start..start.saturating_add(self.len as usize))
            .unwrap_or(&[])
    }
}

/// A length or index as the `u32` the table stores (saturating; the format
/// bounds every count well below `u32::MAX`).
pub(crate) fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A range `start..end` of a flat array.
/// The most bytes a rule id takes: a policy name (at most 128 bytes), `/`
/// and a number.
pub const RULE_ID_MAX_LEN: usize = 140;

/// A rule id, `<policy>/<n>` (see [`Table::rule_id`]); empty for a rule
/// that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleId<'a> {
    policy: &'a str,
    n: u32,
}

impl RuleId<'_> {
    /// No rule.
    pub const NONE: RuleId<'static> = RuleId { policy: "", n: 0 };

    /// Whether this is [`RuleId::NONE`].
    pub fn is_none(&self) -> bool {
        self.n == 0
    }

    /// The id as text, written into `buf` (nothing is allocated; empty for
    /// [`RuleId::NONE`]).
    pub fn as_str_in<'b>(&self, buf: &'b mut [u8; RULE_ID_MAX_LEN]) -> &'b str {
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            for &b in bytes {
                if let Some(slot) = buf.get_mut(len) {
                    *slot = b;
                    len += 1;
                }
            }
        };
        if self.n != 0 {
            put(self.policy.as_bytes());
            put(b"/");
            let mut digits = [0u8; 10];
            let k = write_digits(&mut digits, self.n);
            put(digits.get(k..).unwrap_or(&[]));
        }
        core::str::from_utf8(buf.get(..len).unwrap_or(&[])).unwrap_or("")
    }

    /// Appends the id to `out` without allocating beyond its capacity.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        if self.n == 0 {
            return;
        }
        out.extend_from_slice(self.policy.as_bytes());
        out.push(b'/');
        let mut digits = [0u8; 10];
        let k = write_digits(&mut digits, self.n);
        out.extend_from_slice(digits.get(k..).unwrap_or(&[]));
    }
}

/// Writes `n` in decimal at the end of `digits`; returns where it starts.
fn write_digits(digits: &mut [u8; 10], mut n: u32) -> usize {
    let mut k = digits.len();
    loop {
        k -= 1;
        if let Some(d) = digits.get_mut(k) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || k == 0 {
            return k;
        }
    }
}

impl core::fmt::Display for RuleId<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.n == 0 {
            return Ok(());
        }
        write!(f, "{}/{}", self.policy, self.n)
    }
}

impl PartialEq<&str> for RuleId<'_> {
    fn eq(&self, other: &&str) -> bool {
        other
            .strip_prefix(self.policy)
            .and_then(|r| r.strip_prefix('/'))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n == self.n && self.n != 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    pub(crate) fn of<T>(self, items: &[T]) -> &[T] {
        items
            .get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }

    pub(crate) fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) name: Str,
    pub(crate) mode: Mode,
    pub(crate) default: Action,
    pub(crate) log: LogSetting,
    pub(crate) sni_host_match: bool,
    /// The policy's rules (policies tile the rules in order).
    pub(crate) rules: Span,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    /// Index into the bodies.
    pub(crate) body: u32,
    pub(crate) line: u32,
}

/// A rule's conditions, shared by every rule with the same ones. Its spans
/// index `path_refs`, `source_refs` and `header_refs`, which index the
/// paths, sources and headers.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    pub(crate) action: Action,
    pub(crate) methods: u16,
    /// The plain paths (OR-ed).
    pub(crate) paths: Span,
    /// `except path`: right after `paths`.
    pub(crate) except_paths: Span,
    /// The plain sources (OR-ed).
    pub(crate) sources: Span,
    /// `except from`: right after `sources`.
    pub(crate) except_sources: Span,
    pub(crate) headers: Span,
    /// `otherwise deny`: decides only when no deny or allow rule matched.
    pub(crate) fallback: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Path {
    /// `text` as written; `form` (in [`Table::forms`]) its match form.
    Exact {
        text: Str,
        form: Str,
    },
    Prefix {
        text: Str,
        form: Str,
    },
    Suffix {
        text: Str,
        form: Str,
    },
    /// A simple template, matched by its pieces (in `Table::pieces`).
    Template {
        text: Str,
        pieces: Span,
    },
    Dfa {
        kind: PatternKind,
        text: Str,
        dfa: u32,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum Source {
    Principal(Str),
    Namespace(Str),
    ServiceAccount(Str, Str),
    /// Any principal.
    Any,
}

#[derive(Debug, Clone)]
pub(crate) enum Header {
    Present(Str),
    Absent(Str),
    /// `==`, `prefix`, `suffix`, and their negations.
    Value {
        name: Str,
        op: ValueOp,
        value: Str,
        negated: bool,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Dest {
    pub(crate) policy: u32,
    pub(crate) protocol: Protocol,
    pub(crate) ports: Span,
    pub(crate) rules: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub(crate) kind: HostKind,
    pub(crate) name: Str,
    pub(crate) dests: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct CidrEntry {
    pub(crate) cidr: Cidr,
    pub(crate) dests: Span,
}

/// Facts about a pool of policies (the enforced ones, or the audit ones) that
/// the decision needs besides the rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolFacts {
    /// Whether the pool holds any policy.
    pub(crate) any: bool,
    /// The combined default: deny if any policy in the pool defaults to deny.
    pub(crate) default: Action,
    /// The policy whose default that is (the first one with that default).
    pub(crate) default_policy: u32,
    /// The most verbose log setting in the pool.
    pub(crate) log: LogSetting,
    /// Whether any policy in the pool requires SNI and Host to agree.
    pub(crate) sni_host_match: bool,
}

/// A decoded, validated rule table. Build one with [`crate::format::decode`]
/// (or [`Table::from_bytes`]); it is immutable afterwards.
#[derive(Debug)]
pub struct Table {
    pub(crate) checksum: u32,
    pub(crate) version: (u16, u16),
    pub(crate) strings: Box<[u8]>,
    /// The match forms of exact and prefix paths (see [`crate::path`]).
    pub(crate) forms: Box<[u8]>,
    pub(crate) policies: Box<[Policy]>,
    pub(crate) rules: Box<[Rule]>,
    pub(crate) bodies: Box<[Body]>,
    pub(crate) path_refs: Box<[u32]>,
    pub(crate) source_refs: Box<[u32]>,
    pub(crate) header_refs: Box<[u32]>,
    pub(crate) paths: Box<[Path]>,
    pub(crate) pieces: Box<[crate::template::Piece]>,
    pub(crate) dfas: Box<[PathDfa]>,
    pub(crate) sources: Box<[Source]>,
    pub(crate) headers: Box<[Header]>,
    pub(crate) ports: Box<[crate::spec::PortRange]>,
    pub(crate) dests: Box<[Dest]>,
    pub(crate) hosts: Box<[Host]>,
    pub(crate) cidrs: Box<[CidrEntry]>,
    pub(crate) dest_refs: Box<[u32]>,
    // Derived at load time.
    pub(crate) rule_index: crate::rule_index::RuleIndex,
    pub(crate) exact: Index,
    pub(crate) one_label: Index,
    pub(crate) any_depth: Index,
    pub(crate) enforce: PoolFacts,
    pub(crate) audit: PoolFacts,
    pub(crate) has_audit: bool,
    /// The ports `tls` destinations cover, per pool (enforced, audit).
    pub(crate) tls_ports: [Box<[crate::spec::PortRange]>; 2],
    pub(crate) uses_sources: bool,
    pub(crate) uses_headers: bool,
}

impl Table {
    pub(crate) fn str(&self, s: Str) -> &[u8] {
        s.of(&self.strings)
    }

    pub(crate) fn form(&self, s: Str) -> &[u8] {
        s.of(&self.forms)
    }

    pub(crate) fn pool(&self, mode: Mode) -> &PoolFacts {
        match mode {
            Mode::Enforce => &self.enforce,
            Mode::Audit => &self.audit,
        }
    }

    pub(crate) fn text(&self, s: Str) -> &str {
        core::str::from_utf8(self.str(s)).unwrap_or("")
    }

    /// The CRC-32C the table was written with.
    pub fn checksum(&self) -> u32 {
        self.checksum
    }

    /// The format version, as (major, minor).
    pub fn version(&self) -> (u16, u16) {
        self.version
    }

    /// Number of policies.
    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    /// The name of policy `i` (empty if out of range).
    pub fn policy_name(&self, i: u32) -> &str {
        self.policies
            .get(i as usize)
            .map_or("", |p| self.text(p.name))
    }

    /// The mode of policy `i`.
    pub fn policy_mode(&self, i: u32) -> Option<Mode> {
        self.policies.get(i as usize).map(|p| p.mode)
    }

    /// Policy names, in table order.
    pub fn policy_names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| self.text(p.name))
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Number of host patterns.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// The id of rule `i`: `<policy>/<n>`, *n* counting from 1 within the
    /// policy (e.g. `httpbin/2`; empty if out of range). Written through
    /// [`core::fmt::Display`], so nothing is allocated.
    pub fn rule_id(&self, i: u32) -> RuleId<'_> {
        let p = self.rule_policy(i);
        let n = self
            .policies
            .get(p as usize)
            .filter(|p| i < p.rules.end)
            .map_or(0, |pol| i.saturating_sub(pol.rules.start) + 1);
        RuleId {
            policy: if n == 0 { "" } else { self.policy_name(p) },
            n,
        }
    }

    /// The policy rule `i` belongs to.
    pub fn rule_policy(&self, i: u32) -> u32 {
        let idx = self.policies.partition_point(|p| p.rules.end <= i);
        u32_of(idx.min(self.policies.len().saturating_sub(1)))
    }

    /// The conditions of rule `i`.
    pub(crate) fn body(&self, i: u32) -> Option<&Body> {
        self.rules
            .get(i as usize)
            .and_then(|r| self.bodies.get(r.body as usize))
    }

    /// The source line of rule `i` (0 when unknown).
    pub fn rule_line(&self, i: u32) -> u32 {
        self.rules.get(i as usize).map_or(0, |r| r.line)
    }

    /// Whether any rule has a source condition (so the filter must fetch the
    /// peer principal before deciding).
    pub fn uses_sources(&self) -> bool {
        self.uses_sources
    }

    /// Whether any rule has a header condition.
    pub fn uses_headers(&self) -> bool {
        self.uses_headers
    }

    /// The heap bytes the loaded table holds, by part, largest first (for
    /// `docs/performance.md` and the scale benchmark's memory figures).
    pub fn heap_report(&self) -> Vec<(&'static str, usize)> {
        use core::mem::size_of_val as size;
        let mut out = vec![
            ("strings", self.strings.len()),
            ("forms", self.forms.len()),
            ("policies", size(&*self.policies)),
            ("rules", size(&*self.rules)),
            ("bodies", size(&*self.bodies)),
            (
                "condition refs",
                size(&*self.path_refs) + size(&*self.source_refs) + size(&*self.header_refs),
            ),
            ("paths", size(&*self.paths) + size(&*self.pieces)),
            (
                "dfas",
                self.dfas.iter().map(PathDfa::heap_bytes).sum::<usize>() + size(&*self.dfas),
            ),
            (
                "sources and headers",
                size(&*self.sources) + size(&*self.headers),
            ),
            (
                "dests",
                size(&*self.dests) + size(&*self.ports) + size(&*self.dest_refs),
            ),
            ("hosts", size(&*self.hosts) + size(&*self.cidrs)),
            (
                "host indexes",
                self.exact.heap_bytes() + self.one_label.heap_bytes() + self.any_depth.heap_bytes(),
            ),
            ("rule index", self.rule_index.heap_bytes()),
        ];
        out.sort_by_key(|p| core::cmp::Reverse(p.1));
        out
    }

    /// Whether any policy in the table is in audit mode.
    pub fn has_audit(&self) -> bool {
        self.has_audit
    }

    /// Whether any policy (of either pool) asks for the SNI/Host agreement
    /// check, so the filter must fetch the SNI of an HTTP request's
    /// connection. The check itself applies per pool.
    pub fn uses_sni_host_match(&self) -> bool {
        self.enforce.sni_host_match || self.audit.sni_host_match
    }

    /// Whether some `tls` destination of a policy in `mode` covers `port`.
    pub fn is_tls_port(&self, mode: Mode, port: u16) -> bool {
        let i = usize::from(mode == Mode::Audit);
        self.tls_ports
            .get(i)
            .is_some_and(|p| p.iter().any(|r| r.lo <= port && port <= r.hi))
    }
}
