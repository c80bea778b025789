//! Cedar export (`egressc cedar`): a compiled policy set as a Cedar policy
//! set, schema and entities, so that Cedar's authorizer can decide the same
//! requests the filter decides — for Cedar users, and as an independent
//! oracle for the filter (the differential property test in
//! `compiler/tests/cedar.rs`). `docs/cedar.md` is the contract; in short:
//!
//! - **principal** = the workload (`Workload::"td/ns/NS/sa/SA"`, in its
//!   `ServiceAccount` and `Namespace`; `Workload::""` when the peer has no
//!   identity); **action** = the HTTP method (`other` for non-standard
//!   ones), or `connect` for a connection the network filter sees;
//!   **resource** = the normalised host (`Host`, in every `HostPattern`
//!   that matches it, patterns in per-destination `HostGroup`s: allowlists
//!   are entity hierarchies, not one policy per host) or, for a connection
//!   without SNI, its `Address`; port, path, SNI, destination address and
//!   header facts in the **context** ([`SCHEMA`]).
//! - Every rule is one policy: `forbid` for `deny`, `permit` for `allow`,
//!   annotated `@id("<rule id>")` so a Cedar decision names our rule.
//! - Cedar denies when nothing permits: `default deny` needs no policy;
//!   `default allow` is one unconditional `permit` (`@id("<policy>/default")`),
//!   which every `forbid` still overrides. Refusals that depend on the policy
//!   (`require sni-host-match`) are `forbid`s with the refusal code as id.
//!   An `otherwise deny` is a `forbid` `unless` some permit of its pool holds.
//! - The audit pool has its own policy set (`audit.cedar`): Cedar has no dry
//!   run, so it is evaluated on its own, as the filter does, and never
//!   enforced.
//! - What Cedar's `like` cannot state exactly — one-label wildcards, `{*}`,
//!   regexes, list-valued and `_`/`-` headers, escapes — is precomputed by
//!   the request builder ([`request`]) into entities and context attributes,
//!   each defined in the schema and the docs. Nothing is approximated.
//!
//! The export is pure (text in memory, no I/O). Parsing and strictly
//! validating it, and running Cedar's authorizer, need the `cedar` feature
//! ([`oracle`]).

#[cfg(feature = "cedar")]
pub mod oracle;
pub mod request;
mod schema;
mod text;
mod translate;

use std::fmt::Write as _;

use egress_table::path::match_form;
use egress_table::spec::{
    Action, Mode, PatternKind, PolicySpec, PortRange, Protocol, TableSpec, ValueOp,
};

use crate::{Compiled, Diagnostic, Sources};
pub use schema::SCHEMA;
use text::string;
pub use translate::host_patterns;
use translate::{Cx, ports};

/// The `@id` of the `permit` that stands for an empty enforced pool (no
/// policy in `mode enforce`: the filter enforces nothing).
pub const NO_POLICY_ID: &str = "no-enforced-policy";

/// The `@id` of the `permit` that stands for `default allow`.
pub fn default_id(policy: &str) -> String {
    format!("{policy}/default")
}

/// The files of an export, in memory.
#[derive(Debug, Clone)]
pub struct Export {
    /// `policies.cedar`: the enforced pool.
    pub policies: String,
    /// `audit.cedar`: the audit pool, when there is an audit policy.
    pub audit: Option<String>,
    /// `schema.cedarschema` (always [`SCHEMA`]).
    pub schema: String,
    /// `entities.json`: host groups and patterns, path patterns and header
    /// tests, when the policies name any.
    pub entities: Option<String>,
    /// What a caller needs to build requests and read Cedar's answers.
    pub meta: Meta,
}

impl Export {
    /// The files to write, as (name, contents), in a fixed order.
    pub fn files(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![
            ("policies.cedar", self.policies.as_str()),
            ("schema.cedarschema", self.schema.as_str()),
        ];
        if let Some(a) = &self.audit {
            out.push(("audit.cedar", a.as_str()));
        }
        if let Some(e) = &self.entities {
            out.push(("entities.json", e.as_str()));
        }
        out
    }
}

/// The facts about an export that Cedar's answer alone does not carry.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Every rule, in table order (the order the filter reports "first").
    pub rules: Vec<RuleMeta>,
    /// The enforced pool.
    pub enforced: Pool,
    /// The audit pool.
    pub audit: Pool,
    /// The path patterns the request builder evaluates (`PathPattern`).
    pub patterns: Vec<PathPattern>,
    /// The header value tests the request builder evaluates (`HeaderTest`).
    pub header_tests: Vec<HeaderTest>,
}

impl Meta {
    /// The pool of `mode`.
    pub fn pool(&self, mode: Mode) -> &Pool {
        match mode {
            Mode::Enforce => &self.enforced,
            Mode::Audit => &self.audit,
        }
    }

    /// The table index of a rule id.
    pub fn rule_index(&self, id: &str) -> Option<usize> {
        self.rules.iter().position(|r| r.id == id)
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMeta {
    /// Its id, `<policy>/<n>` (the Cedar policy's `@id`).
    pub id: String,
    /// Its policy's name.
    pub policy: String,
    /// Its policy's mode.
    pub mode: Mode,
    /// Allow or deny.
    pub action: Action,
    /// Whether it is an `otherwise deny`.
    pub fallback: bool,
}

/// A pool of policies (enforced or audit), as the filter combines them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Whether the pool has any policy (an empty pool allows everything).
    pub any: bool,
    /// The combined default: deny if any policy of the pool says so.
    pub default: Action,
    /// The policy whose default applies (the first with `default deny`,
    /// else the first of the pool).
    pub default_policy: Option<String>,
    /// Whether some policy of the pool says `require sni-host-match`.
    pub sni_host_match: bool,
    /// Ports of the pool's `tls` destinations: a connection without SNI
    /// there that no rule decides is refused (`no-sni`), whatever the default.
    pub no_sni_ports: Vec<PortRange>,
}

impl Default for Pool {
    fn default() -> Self {
        Self {
            any: false,
            default: Action::Allow,
            default_policy: None,
            sni_host_match: false,
            no_sni_ports: Vec::new(),
        }
    }
}

/// A path pattern Cedar cannot state with `like`, evaluated by the request
/// builder: a template with `{*}`, or a regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    /// The `PathPattern` entity id: the template as written, or `~` and
    /// the regex as written.
    pub key: String,
    /// Template or regex.
    pub kind: PatternKind,
    /// The text as written.
    pub source: String,
    /// The regex over the path's match form that the whole path must match
    /// (the entity's `regex` attribute).
    pub regex: String,
}

/// A header value test (`==`, `prefix`, `suffix`, and the negations, which
/// share the test), evaluated by the request builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderTest {
    /// The `HeaderTest` entity id: `NAME OP VALUE`.
    pub key: String,
    /// The header name, lower case, `_` written `-`: the test looks at the
    /// name and its variants.
    pub name: String,
    /// The comparison.
    pub op: ValueOp,
    /// The value.
    pub value: Vec<u8>,
}

/// The word for a comparison in a `HeaderTest` id and its `op` attribute.
fn op_word(op: ValueOp) -> &'static str {
    match op {
        ValueOp::Equals => "==",
        ValueOp::Prefix => "prefix",
        ValueOp::Suffix => "suffix",
    }
}

/// A header name with its `_`/`-` variants folded together.
pub(crate) fn fold(name: &[u8]) -> Vec<u8> {
    name.iter()
        .map(|&b| match b.to_ascii_lowercase() {
            b'_' => b'-',
            c => c,
        })
        .collect()
}

/// The pieces of a URI template: literals in match form, `{*}` and `{**}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Literal bytes (match form).
    Lit(Vec<u8>),
    /// `{*}`: one or more bytes, none of them `/`.
    One,
    /// `{**}`: any run of bytes, possibly empty.
    Rest,
}

/// Splits a (checked) URI template into its pieces.
pub(crate) fn template_tokens(t: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = t;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("{**}") {
            out.push(Tok::Lit(match_form(std::mem::take(&mut lit).as_bytes())));
            out.push(Tok::Rest);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("{*}") {
            out.push(Tok::Lit(match_form(std::mem::take(&mut lit).as_bytes())));
            out.push(Tok::One);
            rest = r;
        } else {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                lit.push(c);
            }
            rest = chars.as_str();
        }
    }
    out.push(Tok::Lit(match_form(lit.as_bytes())));
    out.retain(|t| !matches!(t, Tok::Lit(l) if l.is_empty()));
    out
}

/// A rule's comment line (file, line, text) and its translation, or why it
/// can never match.
type RuleOut = (String, Result<Translated, String>);

/// One rule, translated: its effect, scope and conditions.
#[derive(Debug, Clone)]
struct Translated {
    id: String,
    effect: &'static str,
    principal: String,
    action: String,
    resource: String,
    conds: Vec<String>,
    /// An HTTP rule (else a connection rule).
    http: bool,
    /// An `otherwise deny`.
    fallback: bool,
}

impl Translated {
    /// The whole match condition as one expression.
    fn expr(&self) -> String {
        let mut parts: Vec<&str> = [&self.principal, &self.action, &self.resource]
            .into_iter()
            .map(String::as_str)
            .filter(|s| !matches!(*s, "principal" | "action" | "resource"))
            .collect();
        parts.extend(self.conds.iter().map(String::as_str));
        match parts.as_slice() {
            [] => "true".to_owned(),
            _ => format!("({})", parts.join(" && ")),
        }
    }

    /// The policy text; `unless` lists the permits an `otherwise deny`
    /// yields to.
    fn policy(&self, unless: &[String]) -> String {
        let mut out = format!(
            "@id({})\n{} (\n  {},\n  {},\n  {}\n)",
            string(&self.id),
            self.effect,
            self.principal,
            self.action,
            self.resource
        );
        if !self.conds.is_empty() {
            let _ = write!(out, "\nwhen {{\n  {}\n}}", self.conds.join(" &&\n  "));
        }
        if !unless.is_empty() {
            let _ = write!(out, "\nunless {{\n  {}\n}}", unless.join(" ||\n  "));
        }
        out.push_str(";\n");
        out
    }
}

/// Exports a compiled policy set. `sources` names the files in comments.
///
/// Every construct of the language has an exact Cedar form today, so this
/// returns no error; a construct added to the language without one is to
/// be refused here with a diagnostic at its rule.
pub fn export(compiled: &Compiled, sources: &Sources) -> Result<Export, Vec<Diagnostic>> {
    let spec = &compiled.spec;
    let mut cx = Cx::default();
    let mut meta = Meta {
        enforced: pool(spec, Mode::Enforce),
        audit: pool(spec, Mode::Audit),
        ..Meta::default()
    };
    // Each policy's heading and its rules, translated first: an `otherwise
    // deny` names the permits of its pool.
    let mut policies: Vec<(Mode, String, Vec<RuleOut>)> = Vec::new();
    for (pi, p) in spec.policies.iter().enumerate() {
        let PolicySpec {
            name,
            mode,
            default,
            log: _,
            require_sni_host_match,
            destinations,
        } = p;
        let file = compiled
            .checked
            .policies
            .get(pi)
            .and_then(|cp| sources.get(cp.span.file));
        let heading = format!(
            "// ---- policy {name:?} ({}, default {}{})\n",
            match mode {
                Mode::Enforce => "enforced",
                Mode::Audit => "audit",
            },
            default.as_str(),
            if *require_sni_host_match {
                ", require sni-host-match"
            } else {
                ""
            }
        );
        let mut rules = Vec::new();
        for (di, d) in destinations.iter().enumerate() {
            let group = format!("{name}/destination-{}", di + 1);
            cx.group(&group, d);
            for r in &d.rules {
                meta.rules.push(RuleMeta {
                    id: r.id.clone(),
                    policy: name.clone(),
                    mode: *mode,
                    action: r.action,
                    fallback: r.fallback,
                });
                let whence = match file {
                    Some(f) => {
                        let line = usize::try_from(r.line).unwrap_or(0);
                        format!("{}:{}: {}", f.name, r.line, f.line_text(line).trim())
                    }
                    None => format!("line {}", r.line),
                };
                rules.push((whence, cx.translate(d, r, &group)));
            }
        }
        policies.push((*mode, heading, rules));
    }
    let permits = |mode: Mode, http: bool| -> Vec<String> {
        policies
            .iter()
            .filter(|(m, _, _)| *m == mode)
            .flat_map(|(_, _, rules)| rules.iter())
            .filter_map(|(_, t)| t.as_ref().ok())
            .filter(|t| t.effect == "permit" && t.http == http)
            .map(Translated::expr)
            .collect()
    };
    let mut enforced = String::new();
    let mut audit = String::new();
    for (mode, heading, rules) in &policies {
        let out = match mode {
            Mode::Enforce => &mut enforced,
            Mode::Audit => &mut audit,
        };
        let _ = writeln!(out, "{heading}");
        for (whence, t) in rules {
            match t {
                Ok(t) => {
                    // An `otherwise deny` decides only when no rule of its
                    // pool permits: every permit that can apply to its
                    // traffic, negated.
                    let unless = if t.fallback {
                        permits(*mode, t.http)
                    } else {
                        Vec::new()
                    };
                    let _ = writeln!(out, "// {whence}\n{}", t.policy(&unless));
                }
                Err(why) => {
                    let _ = writeln!(
                        out,
                        "// {whence}\n// This rule can never match ({why}): no policy.\n"
                    );
                }
            }
        }
    }
    pool_tail(&mut enforced, &meta.enforced, Mode::Enforce);
    pool_tail(&mut audit, &meta.audit, Mode::Audit);
    meta.patterns = cx.patterns.values().cloned().collect();
    meta.header_tests = cx.header_tests.values().cloned().collect();
    let files: Vec<&str> = sources.iter().map(|(_, f)| f.name.as_str()).collect();
    let header = |what: &str| {
        format!(
            "// {what}, as Cedar policies: written by egressc from {}.\n\
             // Schema: schema.cedarschema; entities: entities.json; the request model\n\
             // and the translation of each construct: docs/cedar.md.\n\
             // Each @id is the rule id the filter reports (<policy>/<n>). Cedar denies\n\
             // when nothing permits; a forbid overrides every permit.\n\n",
            files.join(", ")
        )
    };
    let policies = header("The enforced egress policies (mode enforce)") + &enforced;
    let audit = meta.audit.any.then(|| {
        header(
            "The audit policies (mode audit): a dry run. Cedar has none, so this set is\n\
             // evaluated on its own, beside policies.cedar, and its decision is only\n\
             // logged, never enforced",
        ) + &audit
    });
    let entities = cx.entities();
    Ok(Export {
        policies,
        audit,
        schema: SCHEMA.to_owned(),
        entities,
        meta,
    })
}

/// The facts of the pool of `mode`, as the filter combines its policies.
fn pool(spec: &TableSpec, mode: Mode) -> Pool {
    let members: Vec<&PolicySpec> = spec.policies.iter().filter(|p| p.mode == mode).collect();
    let deny = members.iter().find(|p| p.default == Action::Deny);
    let (default, default_policy) = match (deny, members.first()) {
        (Some(p), _) => (Action::Deny, Some(p.name.clone())),
        (None, Some(p)) => (Action::Allow, Some(p.name.clone())),
        (None, None) => (Action::Allow, None),
    };
    let mut no_sni_ports: Vec<PortRange> = members
        .iter()
        .flat_map(|p| &p.destinations)
        .filter(|d| d.protocol == Protocol::Tls)
        .flat_map(|d| d.ports.iter().copied())
        .collect();
    no_sni_ports.sort_unstable();
    no_sni_ports.dedup();
    Pool {
        any: !members.is_empty(),
        default,
        default_policy,
        sni_host_match: members.iter().any(|p| p.require_sni_host_match),
        no_sni_ports,
    }
}

/// What a pool adds after its rules: its default, its refusals, or, for an
/// empty enforced pool, the `permit` that enforces nothing.
fn pool_tail(out: &mut String, pool: &Pool, mode: Mode) {
    if !pool.any {
        if mode == Mode::Enforce {
            let _ = writeln!(
                out,
                "// No policy is in mode enforce: the filter enforces nothing.\n\
                 @id({})\npermit (principal, action, resource);",
                string(NO_POLICY_ID)
            );
        }
        return;
    }
    let _ = writeln!(out, "// ---- the pool's refusals and default\n");
    if pool.sni_host_match {
        let _ = writeln!(
            out,
            "// require sni-host-match: an HTTP request is refused when its connection's\n\
             // SNI is not a host name, or names another host than Host.\n\
             @id({})\nforbid (principal, action in Action::\"any\", resource)\n\
             when {{ context.sni_invalid }};\n\n\
             @id({})\nforbid (principal, action in Action::\"any\", resource)\n\
             when {{ context has sni && context.sni != context.host }};\n",
            string("invalid-sni"),
            string("sni-host-mismatch"),
        );
    }
    let owner = pool.default_policy.as_deref().unwrap_or("");
    let no_sni = (!pool.no_sni_ports.is_empty()).then(|| {
        format!(
            "action == Action::\"connect\" && resource is Address && {}",
            ports(&pool.no_sni_ports)
        )
    });
    match pool.default {
        Action::Deny => {
            let _ = writeln!(
                out,
                "// default deny (policy {owner:?}): Cedar's own default, no policy needed."
            );
            if no_sni.is_some() {
                let _ = writeln!(
                    out,
                    "// A connection without SNI to a port of a tls destination that no rule\n\
                     // decides is refused (no-sni): also a denial with no determining policy."
                );
            }
        }
        Action::Allow => {
            let _ = writeln!(
                out,
                "// default allow (policy {owner:?}): what no forbid denies is allowed.\n\
                 @id({})\npermit (principal, action, resource){};",
                string(&default_id(owner)),
                match &no_sni {
                    Some(cond) => format!(
                        "\n// except a connection without SNI to a port of a tls destination (no-sni)\n\
                         unless {{ {cond} }}"
                    ),
                    None => String::new(),
                }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::translate::address_test;
    use super::*;
    use egress_table::spec::Cidr;

    #[test]
    fn hosts_fall_into_their_patterns() {
        assert_eq!(
            host_patterns("a.b.example.com"),
            [
                "a.b.example.com",
                "*.b.example.com",
                "**.b.example.com",
                "**.example.com",
                "**.com",
                "**"
            ]
        );
        assert_eq!(host_patterns("localhost"), ["localhost", "*", "**"]);
        assert_eq!(host_patterns("10.1.2.3"), ["10.1.2.3"]);
        assert_eq!(host_patterns("2001:db8::1"), ["2001:db8::1"]);
    }

    #[test]
    fn templates_split_into_pieces() {
        assert_eq!(
            template_tokens("/v1/{*}/items/{**}.json"),
            [
                Tok::Lit(b"/v1/".to_vec()),
                Tok::One,
                Tok::Lit(b"/items/".to_vec()),
                Tok::Rest,
                Tok::Lit(b".json".to_vec())
            ]
        );
        assert_eq!(
            template_tokens("/a%3Ab/{**}"),
            [Tok::Lit(b"/a:b/".to_vec()), Tok::Rest]
        );
    }

    #[test]
    fn mapped_ranges_are_ipv4() {
        let c = |s: &str| {
            let (a, p) = s.split_once('/').unwrap_or((s, "128"));
            Cidr {
                addr: a
                    .parse()
                    .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
                prefix: p.parse().unwrap_or(0),
            }
        };
        assert_eq!(
            address_test(&c("::ffff:10.0.0.0/104")),
            "context.destination.isInRange(ip(\"10.0.0.0/8\"))"
        );
        assert_eq!(
            address_test(&c("::/0")),
            "(context.destination.isInRange(ip(\"::/0\")) || context.destination.isIpv4())"
        );
        assert_eq!(
            address_test(&c("2001:db8::/32")),
            "context.destination.isInRange(ip(\"2001:db8::/32\"))"
        );
    }
}
