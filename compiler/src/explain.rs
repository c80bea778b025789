//! `egressc explain`: the decision for one request, the rule that made it,
//! and every rule that was considered with the reason it did not match.
//!
//! It runs the same decision code as the filter (`egress_table`), natively,
//! on the same table bytes, with a tracer attached.

use egress_table::plugin_config::Options;
use std::fmt::Write as _;

use egress_table::proxy::{self, Decided};
use egress_table::record::Record;
use egress_table::spec::{HeaderSpec, PathSpec, RuleSpec, SourceSpec, TableSpec};
use egress_table::{Cause, Miss, Request, Table, Tracer, Verdict};

use crate::sim::{SimProps, SimRequest};

pub use egress_hcm::{PathNormalization, Settings};

/// A verdict, described, with the source line of the deciding rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// The verdict.
    pub record: Record,
    /// The deciding rule's line, if a rule decided.
    pub line: Option<u32>,
}

/// A rule that was tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Considered {
    /// Rule id.
    pub rule: String,
    /// Source line.
    pub line: u32,
    /// The rule as text.
    pub text: String,
    /// `None` if it matched, else why not.
    pub miss: Option<String>,
}

/// The whole explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// What the request is, as the filter sees it.
    pub request: String,
    /// The applied verdict.
    pub enforced: Explained,
    /// The would-be verdict with audit policies enforced (if any exist).
    pub audit: Option<Explained>,
    /// Destinations whose host or address matched but whose port or protocol did not.
    pub skipped: Vec<String>,
    /// Rules tested, in table order.
    pub considered: Vec<Considered>,
}

#[derive(Default)]
struct Collect {
    skipped: Vec<u32>,
    rules: Vec<(u32, Result<(), Miss>)>,
}

impl Tracer for Collect {
    fn dest_skipped(&mut self, d: u32) {
        if !self.skipped.contains(&d) {
            self.skipped.push(d);
        }
    }
    fn rule(&mut self, r: u32, o: Result<(), Miss>) {
        if !self.rules.iter().any(|(x, _)| *x == r) {
            self.rules.push((r, o));
        }
    }
}

fn explained(t: &Table, v: &Verdict) -> Explained {
    Explained {
        record: Record::of(t, v),
        line: match v.cause {
            Cause::Rule(r) => Some(t.rule_line(r)),
            _ => None,
        },
    }
}

/// Renders a rule as policy-language text.
pub fn rule_text(r: &RuleSpec) -> String {
    if r.fallback {
        return "otherwise deny".to_owned();
    }
    let mut s = format!("{} {}", r.action.as_str(), r.methods);
    let list = |items: Vec<String>| items.join(", ");
    if !r.paths.is_empty() {
        let _ = write!(s, " path {}", list(r.paths.iter().map(path_text).collect()));
    }
    if !r.except_paths.is_empty() {
        let ps = r.except_paths.iter().map(path_text).collect();
        let _ = write!(s, " except path {}", list(ps));
    }
    if !r.sources.is_empty() {
        let _ = write!(
            s,
            " from {}",
            list(r.sources.iter().map(source_text).collect())
        );
    }
    if !r.except_sources.is_empty() {
        let ss = r.except_sources.iter().map(source_text).collect();
        let _ = write!(s, " except from {}", list(ss));
    }
    if !r.headers.is_empty() {
        let hs: Vec<String> = r.headers.iter().map(header_text).collect();
        let _ = write!(s, " when {}", hs.join(" and "));
    }
    s
}

fn path_text(p: &PathSpec) -> String {
    match p {
        PathSpec::Exact(t) => format!("{t:?}"),
        PathSpec::Prefix(t) => format!("prefix {t:?}"),
        PathSpec::Suffix(t) => format!("suffix {t:?}"),
        PathSpec::Pattern {
            kind: egress_table::spec::PatternKind::Regex,
            source,
            ..
        } => format!("~{source:?}"),
        PathSpec::Pattern { source, .. } => format!("{source:?}"),
    }
}

fn source_text(x: &SourceSpec) -> String {
    match x {
        SourceSpec::Principal(p) => format!("principal {p:?}"),
        SourceSpec::Namespace(n) => format!("namespace {n:?}"),
        SourceSpec::ServiceAccount { namespace, name } => {
            format!("serviceaccount \"{namespace}/{name}\"")
        }
        SourceSpec::AnyPrincipal => "principal \"*\"".to_owned(),
    }
}

fn header_text(h: &HeaderSpec) -> String {
    let n = h.name();
    match h.value_test() {
        None if matches!(h, HeaderSpec::Present(_)) => format!("header {n:?} present"),
        None => format!("header {n:?} absent"),
        Some((op, v, negated)) => {
            let op = match (op, negated) {
                (egress_table::spec::ValueOp::Equals, false) => "==",
                (egress_table::spec::ValueOp::Equals, true) => "!=",
                (egress_table::spec::ValueOp::Prefix, false) => "prefix",
                (egress_table::spec::ValueOp::Prefix, true) => "not prefix",
                (egress_table::spec::ValueOp::Suffix, false) => "suffix",
                (egress_table::spec::ValueOp::Suffix, true) => "not suffix",
            };
            format!("header {n:?} {op} {:?}", String::from_utf8_lossy(v))
        }
    }
}

fn miss_text(m: Miss, r: &RuleSpec, req: &Request<'_>) -> String {
    let principal = || {
        req.principal
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
    };
    let path = || String::from_utf8_lossy(req.path.unwrap_or_default());
    match m {
        Miss::Method if r.methods.is_open() => format!(
            "the method is one that `any except {}` leaves out",
            r.methods.excluded()
        ),
        Miss::Method => format!("the method is not {}", r.methods),
        Miss::ConnectNotNamed => {
            "CONNECT opens a tunnel: only an allow rule that names CONNECT admits it (`any` and `any except` do not)"
                .to_owned()
        }
        Miss::Path => format!("path {:?} matches none of the rule's paths", path()),
        Miss::ExceptPath => format!("path {:?} matches one of its `except path` patterns", path()),
        Miss::NoPath => {
            "a CONNECT without a path cannot satisfy an allow rule's path condition".to_owned()
        }
        Miss::NoPrincipal => "the request has no source principal".to_owned(),
        Miss::Source => format!(
            "principal {:?} is not among the rule's sources",
            principal()
        ),
        Miss::ExceptSource => format!(
            "principal {:?} matches one of its `except from` sources",
            principal()
        ),
        Miss::Header(i) => format!(
            "{} does not hold",
            r.headers
                .get(i as usize)
                .map(header_text)
                .unwrap_or_default()
        ),
    }
}

/// Explains the decision for `req` under `spec`: the request goes through
/// the emulation of Envoy's connection manager with `settings` (a
/// [`Settings`], or a [`PathNormalization`] with Envoy's defaults for the
/// rest; as in `egressc simulate`), then the filter's decision path
/// ([`egress_table::proxy`]) with a tracer attached.
pub fn explain(
    spec: &TableSpec,
    req: &SimRequest,
    settings: impl Into<Settings>,
) -> Result<Explanation, String> {
    explain_with(spec, req, settings, &Options::default())
}

/// [`explain`] with the filter's settings for the proxy (a plugin
/// configuration's `max_path_bytes`, `max_header_bytes` and
/// `authority_header`).
pub fn explain_with(
    spec: &TableSpec,
    req: &SimRequest,
    settings: impl Into<Settings>,
    options: &Options,
) -> Result<Explanation, String> {
    let bytes = egress_table::format::encode(spec).map_err(|e| e.0)?;
    let table = Table::from_bytes(&bytes).map_err(|e| e.to_string())?;
    let rules: Vec<&RuleSpec> = spec
        .policies
        .iter()
        .flat_map(|p| p.destinations.iter().flat_map(|d| d.rules.iter()))
        .collect();
    let mut collect = Collect::default();
    let describe = |d: &Decided<'_>, collect: &mut Collect| {
        let desc = match (&d.request, d.refused) {
            (_, Some(reason)) => format!(
                "{} (refused before any rule: {})",
                req.describe(),
                reason.as_str()
            ),
            (Some(r), None) if req.is_http() => format!(
                "HTTP {} host {} port {} path {} (as forwarded){}",
                String::from_utf8_lossy(d.method),
                String::from_utf8_lossy(r.host),
                r.port,
                r.path
                    .map_or_else(|| "(none)".into(), String::from_utf8_lossy),
                d.principal
                    .map(|p| format!(" from {}", String::from_utf8_lossy(p)))
                    .unwrap_or_default()
            ),
            _ => format!("{} connection {}", d.kind.as_str(), req.describe()),
        };
        let considered = collect
            .rules
            .iter()
            .map(|(i, o)| {
                let spec_rule = rules.get(*i as usize);
                Considered {
                    rule: table.rule_id(*i).to_string(),
                    line: table.rule_line(*i),
                    text: spec_rule.map(|r| rule_text(r)).unwrap_or_default(),
                    miss: match (o, spec_rule, &d.request) {
                        (Ok(()), _, _) => None,
                        (Err(m), Some(r), Some(q)) => Some(miss_text(*m, r, q)),
                        (Err(_), _, _) => Some("did not match".to_owned()),
                    },
                }
            })
            .collect();
        Explanation {
            request: desc,
            enforced: explained(&table, &d.decision.enforced),
            audit: d.decision.audit.map(|a| explained(&table, &a)),
            skipped: collect
                .skipped
                .iter()
                .map(|x| table.describe_dest(*x))
                .collect(),
            considered,
        }
    };
    Ok(
        match decide_on(
            &table,
            req,
            settings.into(),
            options,
            &mut collect,
            describe,
        ) {
            Ok(e) => e,
            Err(rejection) => Explanation {
                request: format!(
                    "{} (refused by the proxy before any filter: {} {})",
                    req.describe(),
                    rejection.status,
                    rejection.details
                ),
                enforced: Explained {
                    record: proxy_rejected(),
                    line: None,
                },
                audit: None,
                skipped: Vec::new(),
                considered: Vec::new(),
            },
        },
    )
}

/// The record of a request the connection manager refused before the filter.
fn proxy_rejected() -> Record {
    Record {
        decision: egress_table::spec::Action::Deny,
        policy: None,
        rule: None,
        reason: "proxy-rejected".to_owned(),
    }
}

/// The one way a simulated request is decided natively: an HTTP request
/// goes through the emulation of Envoy's connection manager, then
/// [`proxy::decide_http`]; a connection goes to [`proxy::decide_connection`].
/// `Err` when the connection manager refuses the request first.
fn decide_on<T: Tracer, R>(
    table: &Table,
    req: &SimRequest,
    settings: Settings,
    options: &Options,
    tracer: &mut T,
    finish: impl FnOnce(&Decided<'_>, &mut T) -> R,
) -> Result<R, egress_hcm::Rejection> {
    let props = SimProps(req);
    if !req.is_http() {
        return Ok(proxy::decide_connection(table, &props, tracer, finish));
    }
    // What the proxy hands the filter: the client's request after Envoy's
    // connection manager (the same emulation the local host runs).
    let client_headers = req.header_pairs();
    let prepared = egress_hcm::prepare(&req.client_request(&client_headers), settings)?;
    let pairs: Vec<(&[u8], &[u8])> = prepared
        .headers
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    Ok(proxy::decide_http(
        table, &pairs, &props, options, tracer, finish,
    ))
}

/// A table loaded once to decide many simulated requests on the same
/// path as [`explain`] (and the filter), without a tracer: what
/// `egressc diff` runs thousands of candidate requests through.
#[derive(Debug)]
pub struct Decider {
    table: Table,
    settings: Settings,
    options: Options,
}

impl Decider {
    /// Encodes and loads `spec`'s table, with Envoy's default settings and
    /// the filter's default options.
    pub fn new(spec: &TableSpec) -> Result<Self, String> {
        let bytes = egress_table::format::encode(spec).map_err(|e| e.0)?;
        let table = Table::from_bytes(&bytes).map_err(|e| e.to_string())?;
        Ok(Self {
            table,
            settings: Settings::default(),
            options: Options::default(),
        })
    }

    /// The same table with other connection-manager settings (`egressc
    /// report` re-decides logged requests, which the proxy has already
    /// normalised and let through, with `PathNormalization::None` and
    /// custom methods allowed).
    pub fn with_settings(self, settings: Settings) -> Self {
        Self { settings, ..self }
    }

    /// The enforced verdict and, when the table has audit policies, the
    /// audit pool's would-be verdict for `req`.
    pub fn decide(&self, req: &SimRequest) -> (Record, Option<Record>) {
        let t = &self.table;
        decide_on(t, req, self.settings, &self.options, &mut (), |d, _| {
            (
                Record::of(t, &d.decision.enforced),
                d.decision.audit.map(|a| Record::of(t, &a)),
            )
        })
        .unwrap_or_else(|_| (proxy_rejected(), None))
    }
}

fn verdict_line(v: &Explained) -> String {
    match v.line {
        Some(l) => format!("{} (line {l})", v.record),
        None => v.record.to_string(),
    }
}

impl Explanation {
    /// Human-readable text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "request:  {}", self.request);
        let _ = writeln!(s, "decision: {}", verdict_line(&self.enforced));
        if let Some(a) = &self.audit {
            let _ = writeln!(s, "audit:    would {}", verdict_line(a));
        }
        for d in &self.skipped {
            let _ = writeln!(
                s,
                "skipped:  {d} — host matches, but not the port or protocol"
            );
        }
        if self.considered.is_empty() {
            let _ = writeln!(s, "no destination matched, so no rule was considered");
        } else {
            let _ = writeln!(s, "rules considered:");
            for c in &self.considered {
                let verdict = match &c.miss {
                    None => "matched".to_owned(),
                    Some(why) => format!("no match: {why}"),
                };
                let _ = writeln!(
                    s,
                    "  {:<14} line {:<4} {}\n  {:<14}           {verdict}",
                    c.rule, c.line, c.text, ""
                );
            }
        }
        s
    }

    /// JSON: the verdicts are [`Record`]s (with the deciding rule's line).
    pub fn to_json(&self) -> serde_json::Value {
        let v = |v: &Explained| {
            let mut j = serde_json::to_value(&v.record).unwrap_or_default();
            if let Some(o) = j.as_object_mut() {
                o.insert("line".into(), serde_json::json!(v.line));
            }
            j
        };
        serde_json::json!({
            "request": self.request,
            "decision": self.enforced.record.decision,
            "enforced": v(&self.enforced),
            "audit": self.audit.as_ref().map(v),
            "skipped": self.skipped,
            "considered": self.considered.iter().map(|c| serde_json::json!({"rule": c.rule, "line": c.line, "text": c.text, "matched": c.miss.is_none(), "why_not": c.miss})).collect::<Vec<_>>(),
        })
    }
}
