//! The syntax tree the parser builds: what was written, with spans, before
//! any meaning is checked. Keywords whose value the checker validates (for
//! a "did you mean" with the right candidates) are kept as written.

use crate::source::{Span, Spanned};

/// A parsed file.
#[derive(Debug, Clone, Default)]
pub struct File {
    /// The policies, in order.
    pub policies: Vec<Policy>,
}

/// `policy "name" { … }`.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The whole policy.
    pub span: Span,
    /// The name.
    pub name: Spanned<String>,
    /// Settings, destinations and tests, in order.
    pub items: Vec<Item>,
    /// Span of the closing brace.
    pub close: Span,
}

/// Something inside a policy.
#[derive(Debug, Clone)]
pub enum Item {
    /// `mode enforce`, `default deny`, `log all`, `require sni-host-match`.
    Setting(Setting),
    /// A destination.
    Destination(Destination),
    /// A test block.
    Test(Test),
}

impl Item {
    /// The item's span.
    pub fn span(&self) -> Span {
        match self {
            Self::Setting(s) => s.span,
            Self::Destination(d) => d.span,
            Self::Test(t) => t.span,
        }
    }
}

/// A `key value` setting.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The whole setting.
    pub span: Span,
    /// `mode`, `default`, `log` or `require`.
    pub key: Spanned<String>,
    /// The value as written.
    pub value: Spanned<String>,
}

/// What a destination names.
#[derive(Debug, Clone)]
pub enum Targets {
    /// Host patterns (strings).
    Hosts(Vec<Spanned<String>>),
    /// `cidr A, B`.
    Cidrs(Vec<Spanned<String>>),
}

/// A clause after a destination's targets.
#[derive(Debug, Clone)]
pub enum DestClause {
    /// `port 80, 8000-8999`.
    Port(Span, Vec<Spanned<String>>),
    /// `http`, `tls` or `tcp`.
    Protocol(Spanned<String>),
    /// `originate-tls [PORT]`.
    OriginateTls(Span, Option<Spanned<String>>),
    /// `timeout 3s`.
    Timeout(Span, Spanned<String>),
    /// `service "NS/NAME", …`: Kubernetes Services that stand for the
    /// destination in the cluster (see `crate::service`).
    Service(Span, Vec<Spanned<String>>),
}

impl DestClause {
    /// The clause's span.
    pub fn span(&self) -> Span {
        match self {
            Self::Port(s, _)
            | Self::OriginateTls(s, _)
            | Self::Timeout(s, _)
            | Self::Service(s, _) => *s,
            Self::Protocol(p) => p.span,
        }
    }
}

/// `destination … [{ rules }]`.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The whole destination.
    pub span: Span,
    /// Span of the `destination` keyword.
    pub keyword: Span,
    /// Hosts or CIDRs.
    pub targets: Targets,
    /// Port, protocol and settings, in the order written.
    pub clauses: Vec<DestClause>,
    /// The rule block, if any: `(open brace, rules, close brace)`.
    pub block: Option<(Span, Vec<Rule>, Span)>,
}

/// `allow` or `deny` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// `allow`.
    Allow,
    /// `deny`.
    Deny,
}

/// The method list of a rule.
#[derive(Debug, Clone)]
pub enum Methods {
    /// `any`.
    Any(Span),
    /// `GET, POST`.
    List(Vec<Spanned<String>>),
    /// `any except DELETE, PATCH`: the span of `any except`, and the methods.
    AnyExcept(Span, Vec<Spanned<String>>),
}

/// How a path pattern was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathForm {
    /// `"/x"` (exact, or a URI template if it contains `{`).
    Plain,
    /// `prefix "/x/"`.
    Prefix,
    /// `suffix ".json"`.
    Suffix,
    /// `~"regex"`.
    Regex,
}

/// One path pattern.
#[derive(Debug, Clone)]
pub struct PathPat {
    /// The whole pattern (including `prefix`/`~`).
    pub span: Span,
    /// How it was written.
    pub form: PathForm,
    /// The string.
    pub text: Spanned<String>,
}

/// `principal "…"`, `namespace "…"` or `serviceaccount "…"`.
#[derive(Debug, Clone)]
pub struct SourceItem {
    /// The kind keyword as written (repeated for continuation strings).
    pub kind: Spanned<String>,
    /// The value.
    pub value: Spanned<String>,
}

/// A header operator.
#[derive(Debug, Clone)]
pub enum HeaderOp {
    /// `present`.
    Present(Span),
    /// `absent`.
    Absent(Span),
    /// `== "value"`.
    Equals(Spanned<Vec<u8>>),
    /// `!= "v"`, `prefix "v"`, `suffix "v"`, `not prefix "v"`, `not suffix "v"`:
    /// the operator's span, what it compares, whether it is negated, the value.
    Compare {
        /// The operator (`!=`, `prefix`, `not suffix`, …).
        span: Span,
        /// Equals, prefix or suffix.
        op: egress_table::spec::ValueOp,
        /// `!=`, `not prefix`, `not suffix`.
        negated: bool,
        /// The string.
        value: Spanned<Vec<u8>>,
    },
}

/// `header "name" …`.
#[derive(Debug, Clone)]
pub struct HeaderCond {
    /// The whole condition.
    pub span: Span,
    /// The header name.
    pub name: Spanned<String>,
    /// The operator.
    pub op: HeaderOp,
}

/// A rule condition clause.
#[derive(Debug, Clone)]
pub enum Cond {
    /// `path …`.
    Path(Span, Vec<PathPat>),
    /// `except path …`: none of the patterns may match.
    ExceptPath(Span, Vec<PathPat>),
    /// `from …`.
    From(Span, Vec<SourceItem>),
    /// `except from …`: the principal must match none of the sources.
    ExceptFrom(Span, Vec<SourceItem>),
    /// `when header … and header …`.
    When(Span, Vec<HeaderCond>),
}

impl Cond {
    /// The clause's span.
    pub fn span(&self) -> Span {
        match self {
            Self::Path(s, _)
            | Self::ExceptPath(s, _)
            | Self::From(s, _)
            | Self::ExceptFrom(s, _)
            | Self::When(s, _) => *s,
        }
    }

    /// The clause's keyword(s), as written: `path`, `except path`, `from`,
    /// `except from` or `when`.
    pub fn keyword(&self) -> &'static str {
        match self {
            Self::Path(..) => "path",
            Self::ExceptPath(..) => "except path",
            Self::From(..) => "from",
            Self::ExceptFrom(..) => "except from",
            Self::When(..) => "when",
        }
    }
}

/// `allow|deny [methods] [conditions]`, or `otherwise deny`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The whole rule.
    pub span: Span,
    /// `otherwise deny`: the span of `otherwise` (the action is `deny`, and
    /// there are no methods or conditions).
    pub otherwise: Option<Span>,
    /// Allow or deny.
    pub action: Spanned<RuleAction>,
    /// Methods, if given.
    pub methods: Option<Methods>,
    /// Conditions in the order written.
    pub conds: Vec<Cond>,
}

/// `test "name" { cases }`.
#[derive(Debug, Clone)]
pub struct Test {
    /// The whole block.
    pub span: Span,
    /// The name.
    pub name: Spanned<String>,
    /// The cases.
    pub cases: Vec<Case>,
}

/// An option on a test case.
#[derive(Debug, Clone)]
pub enum CaseOpt {
    /// `from "principal"`.
    From(Span, Spanned<String>),
    /// `header "name" = "value"`.
    Header(Span, Spanned<String>, Spanned<Vec<u8>>),
    /// `sni "host"`.
    Sni(Span, Spanned<String>),
}

/// `[METHOD] URL [options] => allow|deny [, audit allow|deny]`.
#[derive(Debug, Clone)]
pub struct Case {
    /// The whole case.
    pub span: Span,
    /// The method (HTTP cases).
    pub method: Option<Spanned<String>>,
    /// The URL.
    pub url: Spanned<String>,
    /// Options.
    pub opts: Vec<CaseOpt>,
    /// Expected decision.
    pub expect: Spanned<RuleAction>,
    /// Expected would-be decision of audit policies.
    pub expect_audit: Option<Spanned<RuleAction>>,
}
