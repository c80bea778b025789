//! Stage 3, checking: the syntax tree to a checked, normalised policy set
//! ([`Checked`]), or errors (E03xx). Every value is validated here, once:
//! host patterns, ports, CIDRs, methods, paths, templates, regexes,
//! principals, header names, settings and test cases. Warnings (W04xx) come
//! from [`crate::lint`] on the result.

#![expect(
    clippy::result_large_err,
    reason = "a Diagnostic is built only on the error path, once per mistake; boxing it would buy nothing"
)]

mod case;
mod dest;
mod host;
mod path;
mod policy;
mod rule;
mod values;

use std::collections::HashMap;

use egress_table::spec::{
    Action, HeaderSpec, LogSetting, MethodSet, Mode, PortRange, Protocol, SourceSpec, Target,
};

use crate::ast::{self, RuleAction};
use crate::diag::Diagnostic;
use crate::sim::SimRequest;
use crate::source::{Span, Spanned};

pub use host::{host_pattern, pattern_matches};
pub use values::cidr;

use policy::check_policy;

/// A checked policy set.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Policies in source order (files in the order given).
    pub policies: Vec<CPolicy>,
}

/// A checked policy.
#[derive(Debug, Clone)]
pub struct CPolicy {
    /// Name.
    pub name: String,
    /// The whole policy.
    pub span: Span,
    /// The name's span.
    pub name_span: Span,
    /// Enforce or audit.
    pub mode: Mode,
    /// The default action.
    pub default: Action,
    /// Where `default` was written (if it was).
    pub default_span: Option<Span>,
    /// The log setting.
    pub log: LogSetting,
    /// Where `log` was written (if it was).
    pub log_span: Option<Span>,
    /// `require sni-host-match`.
    pub sni_host_match: bool,
    /// Destinations.
    pub dests: Vec<CDest>,
    /// Tests.
    pub tests: Vec<CTest>,
}

/// A checked destination.
#[derive(Debug, Clone)]
pub struct CDest {
    /// The whole destination.
    pub span: Span,
    /// Targets with their spans.
    pub targets: Vec<Spanned<Target>>,
    /// Protocol.
    pub protocol: Protocol,
    /// Ports (the protocol's default if none were written).
    pub ports: Vec<PortRange>,
    /// Rules; a destination without a block has one implicit `allow`.
    pub rules: Vec<CRule>,
    /// Whether the rules are the implicit `allow` of a block-less destination.
    pub implicit: bool,
    /// Whether the block was written but empty.
    pub empty_block: bool,
    /// `originate-tls PORT`: the waypoint upgrades this HTTP to TLS on PORT.
    pub originate_tls: Option<u16>,
    /// `timeout`: request timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Where `originate-tls` was written.
    pub originate_tls_span: Option<Span>,
    /// Where `timeout` was written.
    pub timeout_span: Option<Span>,
    /// `service "NS/NAME"`: Kubernetes Services standing for it in the cluster.
    pub services: Vec<crate::service::ServiceRef>,
}

/// A checked path condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CPath {
    /// Exact.
    Exact(String),
    /// Raw prefix.
    Prefix(String),
    /// URI template: the source and the regex it stands for.
    Template(String, String),
    /// Anchored regex.
    Regex(String),
    /// Suffix (`path suffix ".json"`).
    Suffix(String),
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct CRule {
    /// The rule's span.
    pub span: Span,
    /// Allow or deny.
    pub action: Action,
    /// Methods.
    pub methods: MethodSet,
    /// Path conditions, with spans.
    pub paths: Vec<Spanned<CPath>>,
    /// Sources.
    pub sources: Vec<SourceSpec>,
    /// Header conditions.
    pub headers: Vec<HeaderSpec>,
    /// `except path`, with spans.
    pub except_paths: Vec<Spanned<CPath>>,
    /// `except from`.
    pub except_sources: Vec<SourceSpec>,
    /// `otherwise deny`.
    pub fallback: bool,
}

impl CRule {
    fn implicit(span: Span) -> Self {
        Self {
            span,
            action: Action::Allow,
            methods: MethodSet::ANY,
            paths: Vec::new(),
            sources: Vec::new(),
            headers: Vec::new(),
            except_paths: Vec::new(),
            except_sources: Vec::new(),
            fallback: false,
        }
    }
}

/// A checked test block.
#[derive(Debug, Clone)]
pub struct CTest {
    /// The name.
    pub name: String,
    /// The block.
    pub span: Span,
    /// Cases.
    pub cases: Vec<CCase>,
}

/// A checked test case.
#[derive(Debug, Clone)]
pub struct CCase {
    /// The case.
    pub span: Span,
    /// The request.
    pub request: SimRequest,
    /// Expected decision.
    pub expect: Action,
    /// Expected would-be decision with audit policies enforced.
    pub expect_audit: Option<Action>,
}

/// The table action for a rule action.
fn action(a: RuleAction) -> Action {
    match a {
        RuleAction::Allow => Action::Allow,
        RuleAction::Deny => Action::Deny,
    }
}

struct Ctx<'a> {
    diags: &'a mut Vec<Diagnostic>,
    /// What each regex compiled to (see [`path::RegexResults`]).
    regexes: path::RegexResults,
}

impl Ctx<'_> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

/// Checks the parsed files of one compilation.
pub fn check(files: &[ast::File], diags: &mut Vec<Diagnostic>) -> Checked {
    let mut cx = Ctx {
        diags,
        regexes: path::RegexResults::new(),
    };
    let mut out = Checked::default();
    let mut seen: HashMap<String, Span> = HashMap::new();
    for f in files {
        for p in &f.policies {
            if let Some(prev) = seen.get(&p.name.value) {
                cx.err(
                    Diagnostic::error("E0301", p.name.span, format!("policy \"{}\" is defined twice", p.name.value))
                        .label("second definition")
                        .with_label(*prev, "first defined here")
                        .help("policy names must be unique across all files compiled together; rename one"),
                );
            } else {
                seen.insert(p.name.value.clone(), p.name.span);
            }
            out.policies.push(check_policy(&mut cx, p));
        }
    }
    let services = out.policies.iter().flat_map(|p| &p.dests);
    crate::service::duplicates(services.flat_map(|d| &d.services), cx.diags);
    case::unreachable_cases(&out, cx.diags);
    out
}

/// "a", "a or b", "a, b or c".
fn one_of(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The article for a protocol name: "an http", "a tls", "a tcp".
fn a(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Http => "an http",
        Protocol::Tls => "a tls",
        Protocol::Tcp => "a tcp",
    }
}
