//! Reading the filter's audit log back: the JSON lines the filter writes for
//! each decision its policies' `log` setting selects (docs/filter.md, "The
//! audit log"), wherever they were collected — `kubectl logs` of a waypoint
//! or egress gateway, a log pipeline's export, `egressc proxy --audit-log`,
//! `egressc simulate`.
//!
//! A line is taken as an audit line when it holds a JSON object with a
//! `decision` field, either from its first `{"` on (Envoy prefixes the
//! message with its own `[time][thread][level][wasm] [file:line] wasm log …:`
//! and `kubectl logs --prefix` adds `[pod/…]`) or as a string inside a line
//! that is itself JSON (a proxy configured for JSON logs puts the message
//! in a field). Every other line is counted and skipped: a proxy's log is
//! mostly other things. An object that has a `decision` but not the fields
//! of an audit line is reported as a [`Problem`] with its line number and
//! skipped: one bad line loses nothing else.
//!
//! Pure: text in, [`Entry`]s out; the command line reads the files.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::sim::SimRequest;

/// Allow or deny, as the line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    /// `"allow"`.
    Allow,
    /// `"deny"`.
    Deny,
}

impl Decision {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

/// The protocol the filter saw: the policy language's own (`http`, `tls`,
/// `tcp`), as the line's `protocol` field names it.
pub use egress_table::spec::Protocol;

/// A decision as a line records it: the applied one, or the audit pool's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Verdict {
    /// Allow or deny.
    pub decision: Decision,
    /// The deciding policy, if any.
    pub policy: Option<String>,
    /// The deciding rule (`policy/N`), if any.
    pub rule: Option<String>,
    /// The reason (docs/filter.md, "Reasons").
    pub reason: String,
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number in the text it came from.
    pub line: usize,
    /// `time` as written (RFC 3339, UTC, milliseconds), if present.
    pub time: Option<String>,
    /// The top-level decision.
    pub verdict: Verdict,
    /// Whether the top-level decision was applied (`false`: a table with
    /// only audit policies, and the line shows their would-be decision).
    pub enforced: bool,
    /// What the filter saw.
    pub protocol: Protocol,
    /// The normalised host, SNI or destination address.
    pub host: String,
    /// The destination port.
    pub port: u16,
    /// The method (HTTP).
    pub method: Option<String>,
    /// The path without query (HTTP).
    pub path: Option<String>,
    /// The source principal, if the proxy knew one.
    pub principal: Option<String>,
    /// The audit pool's would-be decision, when it differed.
    pub audit: Option<Verdict>,
    /// Whether the filter cut `host` or `path` short in the line
    /// (`host_bytes`, `path_bytes`): the request is not known exactly.
    pub truncated: bool,
}

/// The reasons given when policies decided (docs/filter.md, "Reasons"):
/// a rule matched, a default applied, no enforced policy exists, or a
/// connection without SNI met no `tcp` destination (`no-sni`: another
/// policy may allow its address, which the line records). Every other
/// reason is a refusal before any rule — a malformed request, a proxy's
/// own refusal, or an SNI that a policy's `require sni-host-match`
/// refused (the line does not record the SNI) — which re-deciding the
/// line cannot reproduce.
pub const DECIDED_BY_POLICY: &[&str] = &["rule", "default", "no-enforced-policy", "no-sni"];

impl Entry {
    /// The audit pool's verdict: the `audit` object when there is one, else
    /// the top-level verdict when it was not enforced (audit-only table), else
    /// the applied one (the pools agreed, or there is no audit pool).
    pub fn audit_verdict(&self) -> &Verdict {
        self.audit.as_ref().unwrap_or(&self.verdict)
    }

    /// The namespace of a SPIFFE principal `…/ns/NS/sa/SA`.
    pub fn namespace(&self) -> Option<&str> {
        namespace_of(self.principal.as_deref()?)
    }

    /// Whether the filter refused the request before any rule (a malformed
    /// request, or an SNI a `require sni-host-match` refused): the line
    /// does not hold what a policy would decide it on.
    pub fn refused_before_rules(&self) -> bool {
        !DECIDED_BY_POLICY.contains(&self.verdict.reason.as_str())
    }

    /// `host:port` with the host bracketed when it is an IPv6 address.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The request again, as `egressc simulate` and test cases take it.
    /// What the line does not record (the query, headers, the SNI under an
    /// HTTP request) is absent.
    pub fn request(&self) -> SimRequest {
        request_for(
            self.protocol,
            &self.host,
            self.port,
            self.method.as_deref(),
            self.path.as_deref(),
            self.principal.as_deref(),
        )
    }
}

/// The request an audit line's fields describe, as `egressc simulate` and
/// test cases take it: an HTTP request to `host` (bracketed when an IPv6
/// address) with the port in the authority unless it is 80 (always for a
/// CONNECT, whose authority is `host:port` and which has no path); a TLS
/// connection by SNI, or by address when the line shows one (no SNI); a
/// TCP connection by address.
pub fn request_for(
    protocol: Protocol,
    host: &str,
    port: u16,
    method: Option<&str>,
    path: Option<&str>,
    principal: Option<&str>,
) -> SimRequest {
    let mut r = SimRequest {
        port: Some(port),
        principal: principal.map(str::to_owned),
        ..SimRequest::default()
    };
    match protocol {
        Protocol::Http => {
            let method = method.unwrap_or("GET");
            let name = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_owned()
            };
            let connect = method == "CONNECT";
            r.host = Some(if port == 80 && !connect {
                name
            } else {
                format!("{name}:{port}")
            });
            if !connect {
                r.path = Some(path.unwrap_or("/").to_owned());
            }
            r.method = Some(method.to_owned());
        }
        Protocol::Tls => match host.parse::<IpAddr>() {
            // No SNI: the line shows the destination address.
            Ok(a) => r.destination = Some(a),
            Err(_) => r.sni = Some(host.to_owned()),
        },
        Protocol::Tcp => r.destination = host.parse::<IpAddr>().ok(),
    }
    r
}

/// The namespace of a SPIFFE principal `[spiffe://]TD/ns/NS/sa/SA`.
pub fn namespace_of(principal: &str) -> Option<&str> {
    let p = principal.strip_prefix("spiffe://").unwrap_or(principal);
    let mut parts = p.split('/');
    let _trust_domain = parts.next()?;
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("ns"), Some(ns), Some("sa"), Some(_)) if !ns.is_empty() => Some(ns),
        _ => None,
    }
}

/// An object with a `decision` that is not a valid audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// What [`parse`] found in a text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The audit lines, in order.
    pub entries: Vec<Entry>,
    /// Lines that looked like audit lines but were not valid ones.
    pub problems: Vec<Problem>,
    /// Lines with no audit line in them (the proxy's other output).
    pub other_lines: usize,
}

/// Reads every audit line in `text`.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        match find(raw) {
            None => out.other_lines += 1,
            Some(obj) => match entry(&obj, line) {
                Ok(e) => out.entries.push(e),
                Err(message) => out.problems.push(Problem { line, message }),
            },
        }
    }
    out
}

/// The most `{` positions of one line tried as the start of a JSON value
/// (a line may hold a timestamp object, a prefix with braces, then the
/// record), and the deepest nesting searched inside one.
const MAX_STARTS: usize = 16;
const MAX_DEPTH: usize = 4;

/// The audit object in a line: an object with a `decision` field, found
/// from any of the line's first [`MAX_STARTS`] `{` on, either itself or
/// nested (as a string or an object) in another JSON value — a structured
/// log record (`{"msg":"wasm log …: {\"time\"…}"}`, `jsonPayload.message`),
/// behind a `kubectl logs --prefix` or CRI (`TIME stdout F …`) prefix.
fn find(raw: &str) -> Option<Map<String, Value>> {
    find_in(raw, 0)
}

fn find_in(raw: &str, depth: usize) -> Option<Map<String, Value>> {
    let line = raw.trim_start_matches('\u{feff}').trim();
    let mut rest = line;
    for _ in 0..MAX_STARTS {
        let start = rest.find('{')?;
        let from = rest.get(start..)?;
        if let Some(v) = first_value(from)
            && let Some(o) = audit_object(v, depth)
        {
            return Some(o);
        }
        rest = from.get(1..)?;
    }
    None
}

/// `v` if it is an audit object, else one nested in it.
fn audit_object(v: Value, depth: usize) -> Option<Map<String, Value>> {
    match v {
        Value::Object(o) if o.contains_key("decision") => Some(o),
        _ if depth >= MAX_DEPTH => None,
        Value::Object(o) => o.into_iter().find_map(|(_, v)| nested(v, depth + 1)),
        Value::Array(a) => a.into_iter().find_map(|v| nested(v, depth + 1)),
        _ => None,
    }
}

fn nested(v: Value, depth: usize) -> Option<Map<String, Value>> {
    match v {
        Value::String(s) if s.contains('{') => find_in(&s, depth),
        Value::Object(_) | Value::Array(_) => audit_object(v, depth),
        _ => None,
    }
}

/// The first JSON value at the start of `s`, ignoring what follows it.
fn first_value(s: &str) -> Option<Value> {
    serde_json::Deserializer::from_str(s)
        .into_iter::<Value>()
        .next()?
        .ok()
}

fn string(o: &Map<String, Value>, k: &str) -> Result<Option<String>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(format!("`{k}` should be a string or null, not {v}")),
    }
}

fn required(o: &Map<String, Value>, k: &str) -> Result<String, String> {
    string(o, k)?.ok_or_else(|| format!("an audit line needs `{k}`"))
}

fn verdict(o: &Map<String, Value>) -> Result<Verdict, String> {
    let decision = match required(o, "decision")?.as_str() {
        "allow" => Decision::Allow,
        "deny" => Decision::Deny,
        d => {
            return Err(format!(
                "`decision` is \"{d}\": expected \"allow\" or \"deny\""
            ));
        }
    };
    Ok(Verdict {
        decision,
        policy: string(o, "policy")?,
        rule: string(o, "rule")?,
        reason: required(o, "reason")?,
    })
}

fn entry(o: &Map<String, Value>, line: usize) -> Result<Entry, String> {
    let protocol = match required(o, "protocol")?.as_str() {
        "http" => Protocol::Http,
        "tls" => Protocol::Tls,
        "tcp" => Protocol::Tcp,
        p => {
            return Err(format!(
                "`protocol` is \"{p}\": expected \"http\", \"tls\" or \"tcp\""
            ));
        }
    };
    let port = match o.get("port") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| format!("`port` is {n}: expected 0 to 65535"))?,
        None | Some(Value::Null) => return Err("an audit line needs `port`".into()),
        Some(v) => return Err(format!("`port` should be a number, not {v}")),
    };
    let enforced = match o.get("enforced") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(format!("`enforced` should be true or false, not {v}")),
    };
    let audit = match o.get("audit") {
        None | Some(Value::Null) => None,
        Some(Value::Object(a)) => Some(verdict(a).map_err(|e| format!("in `audit`: {e}"))?),
        Some(v) => return Err(format!("`audit` should be an object, not {v}")),
    };
    Ok(Entry {
        line,
        time: string(o, "time")?,
        verdict: verdict(o)?,
        enforced,
        protocol,
        host: required(o, "host")?,
        port,
        method: string(o, "method")?,
        path: string(o, "path")?,
        principal: string(o, "principal")?,
        audit,
        truncated: o.contains_key("host_bytes") || o.contains_key("path_bytes"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    const LINE: &str = r#"{"time":"2026-11-21T16:18:00.123Z","decision":"deny","policy":"httpbin","rule":null,"reason":"default","enforced":true,"protocol":"http","host":"httpbin.org","port":80,"method":"POST","path":"/post","principal":null}"#;

    #[test]
    fn a_bare_line_an_envoy_line_and_a_json_log_record_all_read() {
        let envoy = format!(
            "[2026-11-21 16:18:00.123][23][warning][wasm] [source/extensions/common/wasm/context.cc:1192] wasm log egress.egress-filter egress-filter: {LINE}"
        );
        let kubectl = format!("[pod/waypoint-7d9/istio-proxy] {envoy}");
        let json_record =
            serde_json::json!({"level": "warning", "msg": format!("wasm log egress: {LINE}")})
                .to_string();
        let text =
            format!("{LINE}\n{envoy}\n{kubectl}\n{json_record}\nsome other line\n{{\"x\":1}}\n");
        let p = parse(&text);
        assert_eq!(p.entries.len(), 4, "{p:?}");
        assert_eq!(p.other_lines, 2);
        assert!(p.problems.is_empty());
        for e in &p.entries {
            assert_eq!(e.verdict.decision, Decision::Deny);
            assert_eq!(e.verdict.reason, "default");
            assert_eq!(e.host, "httpbin.org");
            assert_eq!(e.request().describe(), "POST http://httpbin.org/post");
        }
        assert_eq!(
            p.entries.iter().map(|e| e.line).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
    }

    #[test]
    fn a_bad_audit_line_is_a_problem_with_its_line_number() {
        let bad = LINE.replace("\"port\":80", "\"port\":70000");
        let p = parse(&format!("{LINE}\n{bad}\n{LINE}\n"));
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].line, 2);
        assert!(
            p.problems[0].message.contains("`port` is 70000"),
            "{:?}",
            p.problems
        );
        let bad = LINE.replace("\"decision\":\"deny\"", "\"decision\":\"maybe\"");
        assert!(
            parse(&bad).problems[0]
                .message
                .contains("expected \"allow\"")
        );
    }

    #[test]
    fn requests_come_back_in_the_test_case_syntax() {
        let tls = r#"{"decision":"allow","policy":"g","rule":"g/1","reason":"rule","protocol":"tls","host":"github.com","port":443,"principal":"cluster.local/ns/ci/sa/builder","audit":{"decision":"deny","policy":"new","rule":null,"reason":"default"}}"#;
        let tcp = r#"{"decision":"allow","policy":"g","rule":"g/2","reason":"rule","protocol":"tcp","host":"140.82.121.4","port":22,"principal":null}"#;
        let http = r#"{"decision":"allow","policy":"a","rule":"a/1","reason":"rule","protocol":"http","host":"api.example","port":8080,"method":"GET","path":"/v1","principal":null,"path_bytes":9000}"#;
        let p = parse(&format!("{tls}\n{tcp}\n{http}"));
        let d: Vec<String> = p.entries.iter().map(|e| e.request().describe()).collect();
        assert_eq!(
            d,
            [
                "tls://github.com:443 from \"cluster.local/ns/ci/sa/builder\"",
                "tcp://140.82.121.4:22",
                "GET http://api.example:8080/v1",
            ]
        );
        assert_eq!(p.entries[0].namespace(), Some("ci"));
        assert_eq!(p.entries[0].audit_verdict().decision, Decision::Deny);
        assert!(p.entries[2].truncated);
        assert!(!p.entries[0].truncated);
    }

    #[test]
    fn audit_lines_nested_in_other_log_formats_are_found() {
        let msg = format!("wasm log egress: {LINE}");
        let record = serde_json::json!({"level": "warning", "msg": msg}).to_string();
        let nested =
            serde_json::json!({"jsonPayload": {"message": msg}, "severity": "WARNING"}).to_string();
        let lines = [
            // A JSON record behind `kubectl logs --prefix`.
            format!("[pod/waypoint-7d9/istio-proxy] {record}"),
            // A CRI log file line.
            format!("2026-11-30T08:00:00.123456789Z stderr F {record}"),
            // A record nested in a cloud logging export.
            nested,
            // Another JSON object first on the line.
            format!("{{\"ts\":1}} {LINE}"),
            // The record as an array element.
            format!("[{LINE}]"),
        ];
        let p = parse(&lines.join("\n"));
        assert_eq!(p.entries.len(), lines.len(), "{p:?}");
        assert!(p.entries.iter().all(|e| e.host == "httpbin.org"));
        // Nothing is found in lines without one, however many braces.
        let p = parse(&"{ ".repeat(100));
        assert_eq!((p.entries.len(), p.other_lines), (0, 1));
    }

    #[test]
    fn no_sni_lines_are_decided_by_policies_on_their_address() {
        let l = r#"{"decision":"deny","policy":null,"rule":null,"reason":"no-sni","protocol":"tcp","host":"10.0.0.9","port":443,"principal":null}"#;
        let e = &parse(l).entries[0];
        assert!(!e.refused_before_rules());
        assert_eq!(e.request().describe(), "tcp://10.0.0.9:443");
    }

    #[test]
    fn namespaces_come_from_spiffe_principals_only() {
        assert_eq!(namespace_of("cluster.local/ns/a/sa/b"), Some("a"));
        assert_eq!(namespace_of("spiffe://td/ns/a/sa/b"), Some("a"));
        assert_eq!(namespace_of("cluster.local/ns//sa/b"), None);
        assert_eq!(namespace_of("admin"), None);
    }
}
