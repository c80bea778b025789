//! The table as plain owned data: what the compiler's lower stage produces,
//! what [`crate::format`] encodes, and what a decoded [`crate::Table`] turns
//! back into for dumps and round-trip checks.
//!
//! Everything here is already normalised: host names are lower-case ASCII
//! without a trailing dot, principals carry no `spiffe://` prefix, header names
//! are lower-case. The decoder re-checks every one of these invariants.

use core::fmt;

/// What a policy does with the decision: block, or only log (a dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Decisions are enforced.
    Enforce,
    /// Decisions are logged and counted, never enforced.
    Audit,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Action {
    /// Let the request or connection through.
    Allow,
    /// Refuse it.
    Deny,
}

impl Action {
    /// `"allow"` or `"deny"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// Which decisions a policy writes to the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogSetting {
    /// None.
    None,
    /// Denials only (the default).
    Denied,
    /// Every decision.
    All,
}

impl LogSetting {
    /// Whether a decision with this action is logged.
    pub fn logs(self, action: Action) -> bool {
        match self {
            Self::None => false,
            Self::Denied => action == Action::Deny,
            Self::All => true,
        }
    }
}

/// What kind of traffic a destination describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// Plain HTTP seen by the HTTP filter: host, method, path, headers.
    Http,
    /// TLS passed through: decided on SNI alone.
    Tls,
    /// Raw TCP: decided on destination address and port.
    Tcp,
}

impl Protocol {
    /// `"http"`, `"tls"` or `"tcp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tls => "tls",
            Self::Tcp => "tcp",
        }
    }
}

/// The standard request methods a rule can name, as bits of a [`MethodSet`].
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// A set of methods. [`MethodSet::ANY`] also matches methods outside [`METHODS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MethodSet(pub u16);

impl MethodSet {
    /// Every method, standard or not.
    pub const ANY: Self = Self(u16::MAX);
    /// The bits a set of standard methods may use.
    pub const STANDARD_BITS: u16 = (1 << METHODS.len()) - 1;

    /// The bits above the standard ones; an *open* set (one that matches
    /// methods outside [`METHODS`]) has all of them.
    pub const OPEN_BITS: u16 = !Self::STANDARD_BITS;

    /// Every method but the standard ones in `excluded` (`any except …`,
    /// format 2.1): an open set.
    #[must_use]
    pub fn any_except(excluded: Self) -> Self {
        Self(!(excluded.0 & Self::STANDARD_BITS))
    }

    /// Whether the set matches methods outside [`METHODS`]: [`MethodSet::ANY`]
    /// and `any except …`. Such a set never *names* CONNECT.
    pub fn is_open(self) -> bool {
        self.0 & Self::OPEN_BITS == Self::OPEN_BITS
    }

    /// The standard methods an open set leaves out (empty for a closed set
    /// and for [`MethodSet::ANY`]).
    pub fn excluded(self) -> Self {
        if self.is_open() {
            Self(!self.0 & Self::STANDARD_BITS)
        } else {
            Self(0)
        }
    }

    /// Whether this is a set a table may hold: [`MethodSet::ANY`], a
    /// non-empty set of standard methods, or (format 2.1) an open set that
    /// leaves out at least one standard method.
    pub fn is_valid(self) -> bool {
        self.is_any() || (self.0 != 0 && self.0 & Self::OPEN_BITS == 0) || self.is_open()
    }

    /// Whether `method` (a bit of [`METHODS`], or the request's bit for a
    /// method outside them) is in the set.
    pub fn contains_bits(self, method: u16) -> bool {
        self.0 & method != 0
    }

    /// The set holding only the standard method `name`, if it is one.
    pub fn standard(name: &str) -> Option<Self> {
        METHODS
            .iter()
            .position(|m| *m == name)
            .map(|i| Self(1 << i))
    }

    /// Whether this is [`MethodSet::ANY`].
    pub fn is_any(self) -> bool {
        self == Self::ANY
    }

    /// The union of two sets.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Names of the methods in the set, in [`METHODS`] order (empty for an
    /// open set: ANY, or `any except …`, whose exclusions [`MethodSet::excluded`] names).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        let bits = if self.is_open() { 0 } else { self.0 };
        METHODS
            .iter()
            .enumerate()
            .filter(move |(i, _)| bits & (1 << i) != 0)
            .map(|(_, m)| *m)
    }
}

impl fmt::Display for MethodSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("any");
        }
        let names = if self.is_open() {
            f.write_str("any except ")?;
            self.excluded()
        } else {
            *self
        };
        let mut first = true;
        for m in names.names() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            f.write_str(m)?;
        }
        Ok(())
    }
}

/// How a host pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostKind {
    /// Exactly this name.
    Exact,
    /// `*.name`: exactly one more label in front of `name` (with an empty
    /// name, `*` alone: any single-label host).
    OneLabel,
    /// `**.name`: one or more labels in front of `name` (with an empty name,
    /// `**` alone: any host).
    AnyDepth,
}

/// A host pattern: a kind and a normalised name (the suffix, for wildcards).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPattern {
    /// How it matches.
    pub kind: HostKind,
    /// The exact name, or the suffix after `*.` / `**.`.
    pub name: String,
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.name.is_empty()) {
            (HostKind::Exact, _) => f.write_str(&self.name),
            (HostKind::OneLabel, true) => f.write_str("*"),
            (HostKind::OneLabel, false) => write!(f, "*.{}", self.name),
            (HostKind::AnyDepth, true) => f.write_str("**"),
            (HostKind::AnyDepth, false) => write!(f, "**.{}", self.name),
        }
    }
}

/// An IP network: address bytes (IPv4 in the first four) and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    /// The network address, with host bits zero.
    pub addr: core::net::IpAddr,
    /// The prefix length: at most 32 for IPv4, 128 for IPv6.
    pub prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in this network. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`) is the IPv4 address `a.b.c.d`; an IPv6 network
    /// that covers `::ffff:0:0/96` (such as `::/0`) therefore also covers the
    /// IPv4 addresses it maps.
    pub fn contains(&self, ip: core::net::IpAddr) -> bool {
        use core::net::IpAddr;
        let v6 = |net: core::net::Ipv6Addr, ip: core::net::Ipv6Addr| {
            let shift = 128u32.saturating_sub(u32::from(self.prefix));
            let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        };
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let shift = 32u32.saturating_sub(u32::from(self.prefix));
                let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => v6(net, ip),
            (IpAddr::V6(net), IpAddr::V4(ip)) => v6(net, ip.to_ipv6_mapped()),
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }

    /// Whether this is an IPv6 network inside `::ffff:0:0/96` (IPv4-mapped
    /// addresses only), or one that covers that range.
    pub fn touches_ipv4_mapped(&self) -> bool {
        let mapped = Cidr {
            addr: core::net::IpAddr::V6(core::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0)),
            prefix: 96,
        };
        self.addr.is_ipv6() && (mapped.contains(self.addr) || self.contains(mapped.addr))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What a destination is: host names or (for `tcp`) address ranges.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A host name pattern (HTTP Host or TLS SNI).
    Host(HostPattern),
    /// A destination address range.
    Cidr(Cidr),
}

/// An inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port (>= `lo`).
    pub hi: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// Where an ahead-of-time compiled path pattern came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternKind {
    /// An Envoy-style URI template with `{*}` and `{**}`.
    Template,
    /// An anchored regular expression.
    Regex,
}

/// One path condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSpec {
    /// The whole path equals this.
    Exact(String),
    /// The path starts with this (a raw string prefix).
    Prefix(String),
    /// The path ends with this (format 2.1; Istio's `*x`).
    Suffix(String),
    /// The whole path matches a DFA compiled ahead of time.
    Pattern {
        /// Template or regex.
        kind: PatternKind,
        /// The text the author wrote (for logs, dumps and explanations).
        source: String,
        /// The DFA's bytes as a REGEXES record holds them
        /// ([`crate::dfa::build`]; see [`crate::format`]).
        dfa: Vec<u8>,
    },
}

/// One source condition, compared against the peer principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceSpec {
    /// The whole principal (`trust-domain/ns/NS/sa/SA`).
    Principal(String),
    /// Any principal in this namespace.
    Namespace(String),
    /// Any principal with this namespace and service account.
    ServiceAccount {
        /// Namespace.
        namespace: String,
        /// Service account.
        name: String,
    },
    /// Any principal at all (`principal "*"`, format 2.1): the request has a
    /// peer identity.
    AnyPrincipal,
}

/// One header condition. Names are lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderSpec {
    /// The header occurs at least once.
    Present(String),
    /// The header does not occur.
    Absent(String),
    /// The header occurs and its value equals this (see the language
    /// reference for repeated headers).
    Equals(String, Vec<u8>),
    /// `!=`: not [`HeaderSpec::Equals`] (format 2.1).
    NotEquals(String, Vec<u8>),
    /// The header occurs and its value starts with this (format 2.1).
    Prefix(String, Vec<u8>),
    /// `not prefix`: not [`HeaderSpec::Prefix`] (format 2.1).
    NotPrefix(String, Vec<u8>),
    /// The header occurs and its value ends with this (format 2.1).
    Suffix(String, Vec<u8>),
    /// `not suffix`: not [`HeaderSpec::Suffix`] (format 2.1).
    NotSuffix(String, Vec<u8>),
}

/// How a header condition compares a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueOp {
    /// The whole value (or list element) equals the string.
    Equals,
    /// It starts with the string.
    Prefix,
    /// It ends with the string.
    Suffix,
}

impl ValueOp {
    /// Whether `value` passes the comparison with `want`.
    pub fn holds(self, value: &[u8], want: &[u8]) -> bool {
        match self {
            Self::Equals => value == want,
            Self::Prefix => value.starts_with(want),
            Self::Suffix => value.ends_with(want),
        }
    }
}

impl HeaderSpec {
    /// The header name.
    pub fn name(&self) -> &str {
        match self {
            Self::Present(n)
            | Self::Absent(n)
            | Self::Equals(n, _)
            | Self::NotEquals(n, _)
            | Self::Prefix(n, _)
            | Self::NotPrefix(n, _)
            | Self::Suffix(n, _)
            | Self::NotSuffix(n, _) => n,
        }
    }

    /// A value comparison as (operator, value, negated); `None` for
    /// `present` and `absent`.
    pub fn value_test(&self) -> Option<(ValueOp, &[u8], bool)> {
        match self {
            Self::Present(_) | Self::Absent(_) => None,
            Self::Equals(_, v) => Some((ValueOp::Equals, v, false)),
            Self::NotEquals(_, v) => Some((ValueOp::Equals, v, true)),
            Self::Prefix(_, v) => Some((ValueOp::Prefix, v, false)),
            Self::NotPrefix(_, v) => Some((ValueOp::Prefix, v, true)),
            Self::Suffix(_, v) => Some((ValueOp::Suffix, v, false)),
            Self::NotSuffix(_, v) => Some((ValueOp::Suffix, v, true)),
        }
    }

    /// The condition for `name` with a value comparison.
    pub fn from_value_test(name: String, op: ValueOp, value: Vec<u8>, negated: bool) -> Self {
        match (op, negated) {
            (ValueOp::Equals, false) => Self::Equals(name, value),
            (ValueOp::Equals, true) => Self::NotEquals(name, value),
            (ValueOp::Prefix, false) => Self::Prefix(name, value),
            (ValueOp::Prefix, true) => Self::NotPrefix(name, value),
            (ValueOp::Suffix, false) => Self::Suffix(name, value),
            (ValueOp::Suffix, true) => Self::NotSuffix(name, value),
        }
    }
}

/// One rule: an action and conditions that must all hold (each list is an OR
/// of its entries; an empty list places no condition).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleSpec {
    /// Stable identifier shown in logs and metrics, e.g. `httpbin/2`.
    pub id: String,
    /// Allow or deny.
    pub action: Action,
    /// Methods (HTTP only).
    pub methods: MethodSet,
    /// Path conditions (HTTP only).
    pub paths: Vec<PathSpec>,
    /// Source conditions.
    pub sources: Vec<SourceSpec>,
    /// Header conditions (HTTP only); all must hold.
    pub headers: Vec<HeaderSpec>,
    /// The source line the rule came from (1-based; 0 when unknown).
    pub line: u32,
    /// `except path …` (HTTP only, format 2.1): none of these may match.
    pub except_paths: Vec<PathSpec>,
    /// `except from …` (format 2.1): the principal must match none of these.
    pub except_sources: Vec<SourceSpec>,
    /// `otherwise deny` (format 2.1): a deny that applies only when no
    /// `deny` or `allow` rule matched the request. It has no conditions.
    pub fallback: bool,
}

/// A destination: where traffic goes and the rules that apply there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DestSpec {
    /// Host patterns or address ranges.
    pub targets: Vec<Target>,
    /// The protocol.
    pub protocol: Protocol,
    /// The ports (never empty).
    pub ports: Vec<PortRange>,
    /// The rules.
    pub rules: Vec<RuleSpec>,
}

/// A policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicySpec {
    /// Name, unique in a table.
    pub name: String,
    /// Enforce or audit.
    pub mode: Mode,
    /// What a request no rule matches gets.
    pub default: Action,
    /// What gets logged.
    pub log: LogSetting,
    /// Deny HTTP requests whose TLS SNI and Host disagree (domain fronting).
    pub require_sni_host_match: bool,
    /// The destinations.
    pub destinations: Vec<DestSpec>,
}

/// A whole table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TableSpec {
    /// The policies, in source order.
    pub policies: Vec<PolicySpec>,
}
