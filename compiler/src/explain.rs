//! `egressc explain`: the decision for one request, the rule that made it,
//! and every rule that was considered with the reason it did not match.
//!
//! It runs the same decision code as the filter (`egress_table`), natively,
//! on the same table bytes, with a tracer attached.

use std::fmt::Write as _;

use egress_table::request;
use egress_table::spec::{Action, HeaderSpec, PathSpec, RuleSpec, SourceSpec, TableSpec};
use egress_table::{Cause, Decision, Kind, Miss, Request, Table, Tracer, Verdict};

use crate::sim::SimRequest;

/// A verdict, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictInfo {
    /// Allow or deny.
    pub action: Action,
    /// The deciding policy, if any.
    pub policy: Option<String>,
    /// The deciding rule's id, if a rule decided.
    pub rule: Option<String>,
    /// `rule`, `default`, a refusal code, or `no-enforced-policy`.
    pub reason: String,
    /// The deciding rule's line.
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
    pub enforced: VerdictInfo,
    /// The would-be verdict with audit policies enforced (if any exist).
    pub audit: Option<VerdictInfo>,
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

fn info(t: &Table, v: &Verdict) -> VerdictInfo {
    let (policy, rule, reason, line) = match v.cause {
        Cause::Rule(r) => (
            Some(t.policy_name(t.rule_policy(r)).to_owned()),
            Some(t.rule_id(r).to_owned()),
            "rule".to_owned(),
            Some(t.rule_line(r)),
        ),
        Cause::Default(p) => (
            Some(t.policy_name(p).to_owned()),
            None,
            "default".to_owned(),
            None,
        ),
        Cause::Invalid(r) => (None, None, r.as_str().to_owned(), None),
        Cause::NoPolicy => (None, None, "no-enforced-policy".to_owned(), None),
    };
    VerdictInfo {
        action: v.action,
        policy,
        rule,
        reason,
        line,
    }
}

/// Renders a rule as policy-language text.
pub fn rule_text(r: &RuleSpec) -> String {
    let mut s = format!("{} {}", r.action.as_str(), r.methods);
    if !r.paths.is_empty() {
        let ps: Vec<String> = r
            .paths
            .iter()
            .map(|p| match p {
                PathSpec::Exact(t) => format!("{t:?}"),
                PathSpec::Prefix(t) => format!("prefix {t:?}"),
                PathSpec::Pattern {
                    kind: egress_table::spec::PatternKind::Regex,
                    source,
                    ..
                } => format!("~{source:?}"),
                PathSpec::Pattern { source, .. } => format!("{source:?}"),
            })
            .collect();
        let _ = write!(s, " path {}", ps.join(", "));
    }
    if !r.sources.is_empty() {
        let ss: Vec<String> = r
            .sources
            .iter()
            .map(|x| match x {
                SourceSpec::Principal(p) => format!("principal {p:?}"),
                SourceSpec::Namespace(n) => format!("namespace {n:?}"),
                SourceSpec::ServiceAccount { namespace, name } => {
                    format!("serviceaccount \"{namespace}/{name}\"")
                }
            })
            .collect();
        let _ = write!(s, " from {}", ss.join(", "));
    }
    if !r.headers.is_empty() {
        let hs: Vec<String> = r.headers.iter().map(header_text).collect();
        let _ = write!(s, " when {}", hs.join(" and "));
    }
    s
}

fn header_text(h: &HeaderSpec) -> String {
    match h {
        HeaderSpec::Present(n) => format!("header {n:?} present"),
        HeaderSpec::Absent(n) => format!("header {n:?} absent"),
        HeaderSpec::Equals(n, v) => format!("header {n:?} == {:?}", String::from_utf8_lossy(v)),
    }
}

fn miss_text(m: Miss, r: &RuleSpec, req: &Request<'_>) -> String {
    match m {
        Miss::Method => format!("the method is not {}", r.methods),
        Miss::ConnectNotNamed => {
            "CONNECT opens a tunnel: only an allow rule that names CONNECT admits it (`any` does not)"
                .to_owned()
        }
        Miss::Path => format!(
            "path {:?} matches none of the rule's paths",
            String::from_utf8_lossy(req.path.unwrap_or_default())
        ),
        Miss::NoPath => {
            "a CONNECT without a path cannot satisfy an allow rule's path condition".to_owned()
        }
        Miss::NoPrincipal => "the request has no source principal".to_owned(),
        Miss::Source => format!(
            "principal {:?} is not among the rule's sources",
            req.principal
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
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

/// Explains the decision for `req` under `spec`.
pub fn explain(spec: &TableSpec, req: &SimRequest) -> Result<Explanation, String> {
    let bytes = egress_table::format::encode(spec).map_err(|e| e.0)?;
    let table = Table::from_bytes(&bytes).map_err(|e| e.to_string())?;
    let rules: Vec<&RuleSpec> = spec
        .policies
        .iter()
        .flat_map(|p| p.destinations.iter().flat_map(|d| d.rules.iter()))
        .collect();
    let principal = req
        .principal
        .as_deref()
        .map(|p| request::normalize_principal(p.as_bytes()));
    let header_vec: Vec<(&[u8], &[u8])> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_bytes(), v.as_slice()))
        .collect();
    let mut collect = Collect::default();
    let sni = request::SniState::from_raw(req.sni.as_deref().map(str::as_bytes));
    let (decision, desc, traced_req): (Decision, String, Option<Request<'_>>);
    let port = req.effective_port();
    let normalized;
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::with_capacity(header_vec.len() + 4);
    let all: &[(&[u8], &[u8])];
    if req.is_http() {
        // What the proxy hands the filter: the pseudo-headers, then the
        // request's own headers (a CONNECT carries no `:path`).
        let method = req.method.as_deref().unwrap_or("GET");
        let path = req.path.as_deref().or((method != "CONNECT").then_some("/"));
        let scheme = req.scheme.as_deref().unwrap_or("http");
        if let Some(h) = req.host.as_deref() {
            pairs.push((b":authority", h.as_bytes()));
        }
        if let Some(p) = path {
            pairs.push((b":path", p.as_bytes()));
        }
        pairs.push((b":method", method.as_bytes()));
        pairs.push((b":scheme", scheme.as_bytes()));
        pairs.extend(header_vec.iter().copied());
        all = &pairs;
        let view = request::scan_headers(all.iter().copied());
        match request::normalize_http(&view, Some(port)) {
            Err(reason) => {
                decision = table.reject(reason);
                desc = format!(
                    "{} (refused before any rule: {})",
                    req.describe(),
                    reason.as_str()
                );
                traced_req = None;
            }
            Ok(n) => {
                normalized = n;
                let r = Request {
                    kind: Kind::Http,
                    host: normalized.host.as_bytes(),
                    port: normalized.port,
                    method: normalized.method,
                    path: normalized.path,
                    principal,
                    sni: sni.as_sni(),
                    dst_ip: None,
                    headers: &all,
                };
                decision = table.decide_traced(&r, &mut collect);
                desc = format!(
                    "HTTP {method} host {} port {} path {}{}",
                    String::from_utf8_lossy(r.host),
                    r.port,
                    r.path
                        .map_or_else(|| "(none)".into(), String::from_utf8_lossy),
                    principal
                        .map(|p| format!(" from {}", String::from_utf8_lossy(p)))
                        .unwrap_or_default()
                );
                traced_req = Some(r);
            }
        }
    } else {
        let kind = if req.sni.is_some() {
            Kind::Tls
        } else {
            Kind::Tcp
        };
        let host = match &sni {
            request::SniState::Valid(h) => h.as_bytes(),
            _ => &[],
        };
        let r = Request {
            kind,
            host,
            port,
            method: request::Method::OTHER,
            path: None,
            principal,
            sni: egress_table::Sni::Absent,
            dst_ip: req.destination,
            headers: &egress_table::NoHeaders,
        };
        if kind == Kind::Tls && !matches!(sni, request::SniState::Valid(_)) {
            decision = table.reject(request::Reason::InvalidSni);
            traced_req = None;
        } else if kind == Kind::Tcp && req.destination.is_none() {
            decision = table.reject(request::Reason::NoDestination);
            traced_req = None;
        } else {
            decision = table.decide_traced(&r, &mut collect);
            traced_req = Some(r);
        }
        desc = format!("{} connection {}", kind.as_str(), req.describe());
    }
    let considered = collect
        .rules
        .iter()
        .map(|(i, o)| {
            let spec_rule = rules.get(*i as usize);
            Considered {
                rule: table.rule_id(*i).to_owned(),
                line: table.rule_line(*i),
                text: spec_rule.map(|r| rule_text(r)).unwrap_or_default(),
                miss: match (o, spec_rule, &traced_req) {
                    (Ok(()), _, _) => None,
                    (Err(m), Some(r), Some(q)) => Some(miss_text(*m, r, q)),
                    (Err(_), _, _) => Some("did not match".to_owned()),
                },
            }
        })
        .collect();
    Ok(Explanation {
        request: desc,
        enforced: info(&table, &decision.enforced),
        audit: decision.audit.map(|a| info(&table, &a)),
        skipped: collect
            .skipped
            .iter()
            .map(|d| table.describe_dest(*d))
            .collect(),
        considered,
    })
}

fn verdict_line(v: &VerdictInfo) -> String {
    match (&v.rule, &v.policy) {
        (Some(r), _) => format!(
            "{} by rule {r}{}",
            v.action.as_str(),
            v.line.map(|l| format!(" (line {l})")).unwrap_or_default()
        ),
        (None, Some(p)) => format!("{} by the default of policy \"{p}\"", v.action.as_str()),
        _ if v.reason == "no-enforced-policy" => "allow: no enforced policy".to_owned(),
        _ => format!(
            "{}: the request is refused before any rule ({})",
            v.action.as_str(),
            v.reason
        ),
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

    /// JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let v = |v: &VerdictInfo| serde_json::json!({"decision": v.action.as_str(), "policy": v.policy, "rule": v.rule, "reason": v.reason, "line": v.line});
        serde_json::json!({
            "request": self.request,
            "decision": self.enforced.action.as_str(),
            "enforced": v(&self.enforced),
            "audit": self.audit.as_ref().map(v),
            "skipped": self.skipped,
            "considered": self.considered.iter().map(|c| serde_json::json!({"rule": c.rule, "line": c.line, "text": c.text, "matched": c.miss.is_none(), "why_not": c.miss})).collect::<Vec<_>>(),
        })
    }
}
