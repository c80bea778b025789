//! What each of the page's panes shows, as JSON: diagnostics at their
//! positions, the `test` blocks' results, the table's summary, a request's
//! decision with its explain trace, the Istio bundle.

use egress_table::plugin_config::Layer;
use egress_table::spec::{Mode, Protocol, Target};
use egressc::diag::Diagnostic;
use egressc::emit::{self, Format};
use egressc::explain::{self, Settings};
use egressc::istio::{self, Api, Attach};
use egressc::sim::SimRequest;
use egressc::source::{SourceFile, Sources, Span};
use egressc::{Compiled, Outcome, oci, testrun};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::rc::Rc;

use crate::request::request_from_form;
use crate::{FILTER_WASM, Utf16};

/// The name a policy is compiled under when the page gives none.
const DEFAULT_NAME: &str = "policy.egress";

/// A compile and what it was of: (name, text, result).
type Cached = (String, String, Rc<(Sources, Outcome)>);

thread_local! {
    /// The last compile: the page asks for the same text's diagnostics,
    /// decision, bundle and export in turn.
    static LAST: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

fn compile(name: &str, text: &str) -> Rc<(Sources, Outcome)> {
    let name = if name.is_empty() { DEFAULT_NAME } else { name };
    let hit = LAST.with(|last| {
        last.try_borrow().ok().and_then(|l| match &*l {
            Some((n, t, c)) if n == name && t == text => Some(Rc::clone(c)),
            _ => None,
        })
    });
    if let Some(c) = hit {
        return c;
    }
    let c = Rc::new(egressc::compile_str(name, text));
    LAST.with(|last| {
        if let Ok(mut l) = last.try_borrow_mut() {
            *l = Some((name.to_owned(), text.to_owned(), Rc::clone(&c)));
        }
    });
    c
}

fn location(file: &SourceFile, u: &Utf16<'_>, span: Span) -> Value {
    let (line, column) = file.line_col(span.start);
    let (end_line, end_column) = file.line_col(span.end);
    json!({
        "from": u.at(span.start as usize),
        "to": u.at(span.end as usize),
        "line": line, "column": column, "end_line": end_line, "end_column": end_column,
    })
}

/// A diagnostic with its positions (every file of a playground compile is
/// the editor's one text, indexed once in `u`).
fn diagnostic(d: &Diagnostic, file: &SourceFile, u: &Utf16<'_>) -> Value {
    json!({
        "severity": d.severity.as_str(),
        "code": d.code,
        "message": d.message,
        "location": location(file, u, d.span),
        "label": d.label,
        "labels": d.labels.iter().map(|l| json!({"location": location(file, u, l.span), "message": l.message})).collect::<Vec<_>>(),
        "help": d.help,
        "note": d.note,
    })
}

pub(crate) fn diagnostics(ds: &[Diagnostic], sources: &Sources) -> Vec<Value> {
    let Some((_, file)) = sources.iter().next() else {
        return ds
            .iter()
            .map(|d| json!({"severity": d.severity.as_str(), "code": d.code, "message": d.message}))
            .collect();
    };
    let u = Utf16::new(&file.text);
    ds.iter().map(|d| diagnostic(d, file, &u)).collect()
}

fn tests(compiled: &Compiled, sources: &Sources) -> Value {
    let results = match testrun::run(compiled) {
        Ok(r) => r,
        Err(e) => return json!({"error": e}),
    };
    let file = sources.iter().next().map(|(_, f)| f);
    let passed = results.iter().filter(|r| r.passed()).count();
    json!({
        "passed": passed,
        "failed": results.len() - passed,
        "cases": results.iter().map(|r| json!({
            "policy": r.policy,
            "test": r.test,
            "line": file.map_or(0, |f| f.line_col(r.case.span.start).0),
            "request": r.case.request.describe(),
            "expected": r.expected(),
            "got": r.got.decision.as_str(),
            "decided_by": r.decided_by(),
            "passed": r.passed(),
            "form": form_of(&r.case.request),
        })).collect::<Vec<_>>(),
    })
}

/// A request as the request tester's form (what a test case's "Try" loads).
fn form_of(r: &SimRequest) -> Value {
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    if r.is_http() {
        let headers: String = r
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v)))
            .collect();
        json!({
            "kind": "http",
            "method": r.method.as_deref().unwrap_or("GET"),
            "url": format!("{}://{}{}", r.scheme.as_deref().unwrap_or("http"), text(&r.host), r.path.as_deref().unwrap_or("")),
            "principal": text(&r.principal),
            "headers": headers,
            "sni": text(&r.sni),
        })
    } else {
        json!({
            "kind": if r.sni.is_some() { "tls" } else { "tcp" },
            "principal": text(&r.principal),
            "sni": text(&r.sni),
            "address": r.destination.map(|a| a.to_string()).unwrap_or_default(),
            "port": r.effective_port().to_string(),
        })
    }
}

/// Size, format, checksum, counts and the readable dump of the table.
fn summary(compiled: &Compiled) -> Value {
    let spec = &compiled.spec;
    let (table, dump) = match (
        emit::emit(spec, Format::Table),
        emit::emit(spec, Format::Dump),
    ) {
        (Ok(t), Ok(d)) => (t, String::from_utf8_lossy(&d).into_owned()),
        (Err(e), _) | (_, Err(e)) => return json!({"error": e.0}),
    };
    let decoded = match egress_table::Table::from_bytes(&table) {
        Ok(t) => t,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let config = |layer| egress_table::plugin_config::encode(&table, layer).len();
    let dests = || spec.policies.iter().flat_map(|p| &p.destinations);
    let targets = || dests().flat_map(|d| &d.targets);
    let rules = || dests().flat_map(|d| &d.rules);
    let (major, minor) = decoded.version();
    json!({
        "bytes": table.len(),
        "format": format!("{major}.{minor}"),
        "checksum": format!("crc32c:{:08x}", decoded.checksum()),
        "plugin_config_bytes": {"http": config(Layer::Http), "network": config(Layer::Network)},
        "policies": spec.policies.iter().map(|p| json!({
            "name": p.name,
            "mode": match p.mode { Mode::Enforce => "enforce", Mode::Audit => "audit" },
            "default": p.default.as_str(),
            "destinations": p.destinations.len(),
            "rules": p.destinations.iter().map(|d| d.rules.len()).sum::<usize>(),
        })).collect::<Vec<_>>(),
        "destinations": dests().count(),
        "by_protocol": {
            "http": dests().filter(|d| d.protocol == Protocol::Http).count(),
            "tls": dests().filter(|d| d.protocol == Protocol::Tls).count(),
            "tcp": dests().filter(|d| d.protocol == Protocol::Tcp).count(),
        },
        "hosts": targets().filter(|t| matches!(t, Target::Host(_))).count(),
        "cidrs": targets().filter(|t| matches!(t, Target::Cidr(_))).count(),
        "rules": rules().count(),
        "path_conditions": rules().map(|r| r.paths.len()).sum::<usize>(),
        "dump": dump,
    })
}

/// Diagnostics; and when `text` compiles, the test results and summary.
pub fn analyse_json(name: &str, text: &str) -> Value {
    let compiled_rc = compile(name, text);
    let (sources, outcome) = &*compiled_rc;
    let compiled = usable(outcome);
    json!({
        "ok": compiled.is_some(),
        "errors": outcome.diagnostics.iter().filter(|d| d.is_error()).count(),
        "warnings": outcome.diagnostics.iter().filter(|d| d.is_warning()).count(),
        "diagnostics": diagnostics(&outcome.diagnostics, sources),
        "tests": compiled.map(|c| tests(c, sources)),
        "summary": compiled.map(summary),
    })
}

/// `egressc fmt`.
pub fn format_json(text: &str) -> Value {
    match egressc::fmt::format_source(text) {
        Ok(out) => json!({"text": out, "changed": out != text}),
        Err(ds) => {
            let mut sources = Sources::new();
            sources.add(DEFAULT_NAME, text);
            json!({"diagnostics": diagnostics(&ds, &sources)})
        }
    }
}

/// The compiled policies, when the compile has no error.
fn usable(outcome: &Outcome) -> Option<&Compiled> {
    outcome.compiled.as_ref().filter(|_| !outcome.has_errors())
}

/// `view(sources, compiled)` for `text` when it compiles, else the JSON
/// that says it has errors.
pub(crate) fn with_compiled<T>(
    name: &str,
    text: &str,
    view: impl FnOnce(&Sources, &Compiled) -> T,
) -> Result<T, Value> {
    let c = compile(name, text);
    let (sources, outcome) = &*c;
    usable(outcome)
        .map(|compiled| view(sources, compiled))
        .ok_or_else(|| not_compiled(outcome))
}

/// A form the page sends (JSON), read by `read`; a form that is not JSON is
/// an internal error, one `read` refuses is the user's (`"field": true`).
fn read_form<T>(
    what: &str,
    text: &str,
    read: impl FnOnce(&Value) -> Result<T, String>,
) -> Result<T, Value> {
    let form: Value = serde_json::from_str(text)
        .map_err(|e| json!({"error": format!("internal error: the {what} is not JSON: {e}")}))?;
    read(&form).map_err(|e| json!({"error": e, "field": true}))
}

fn not_compiled(outcome: &Outcome) -> Value {
    let n = outcome.diagnostics.iter().filter(|d| d.is_error()).count();
    json!({"error": format!(
        "the policy has {n} error{}: fix {} first (see Problems)",
        if n == 1 { "" } else { "s" },
        if n == 1 { "it" } else { "them" }
    )})
}

/// The decision for the request the form describes, with the explain trace
/// and the request as a `test` line.
pub fn decide_json(name: &str, text: &str, form: &str) -> Value {
    let req = match read_form("form", form, request_from_form) {
        Ok(r) => r,
        Err(e) => return e,
    };
    with_compiled(name, text, |_, compiled| decided(compiled, &req)).unwrap_or_else(|e| e)
}

fn decided(compiled: &Compiled, req: &SimRequest) -> Value {
    match explain::explain(&compiled.spec, req, Settings::default()) {
        Ok(e) => {
            let mut v = e.to_json();
            if let Some(o) = v.as_object_mut() {
                o.insert("trace".into(), e.render().into());
                o.insert(
                    "decided_by".into(),
                    testrun::decided_by(&e.enforced.record, e.audit.as_ref().map(|a| &a.record))
                        .into(),
                );
                // The test syntax names a TLS connection by its SNI or by
                // its address, not both: no line that would mean another
                // request.
                let expressible = req.is_http() || req.sni.is_none() || req.destination.is_none();
                o.insert(
                    "case".into(),
                    if expressible {
                        format!(
                            "{} => {}",
                            req.describe(),
                            e.enforced.record.decision.as_str()
                        )
                        .into()
                    } else {
                        Value::Null
                    },
                );
            }
            v
        }
        Err(e) => json!({"error": format!("internal error: {e}")}),
    }
}

fn istio_options(form: &Value) -> Result<istio::Options, String> {
    let get = |k: &str| form.get(k).and_then(Value::as_str).unwrap_or("").trim();
    let attach = match get("attach") {
        "" | "waypoint" => Attach::Waypoint,
        "egress-gateway" => Attach::EgressGateway,
        "sidecar" => Attach::Sidecar,
        other => {
            return Err(format!(
                "attach {other:?}: waypoint, egress-gateway or sidecar"
            ));
        }
    };
    let namespace = match get("namespace") {
        "" => attach.default_namespace().to_owned(),
        ns => {
            istio::check_namespace(ns).map_err(|e| format!("namespace {e}"))?;
            ns.to_owned()
        }
    };
    let api = match get("api") {
        "" | "wasmplugin" => Api::WasmPlugin,
        "trafficextension" => Api::TrafficExtension,
        other => return Err(format!("api {other:?}: wasmplugin or trafficextension")),
    };
    let url = match get("wasm_url") {
        "" => oci::placeholder_url(),
        u => u.to_owned(),
    };
    oci::check_url(&url).map_err(|e| format!("filter URL {e}"))?;
    Ok(istio::Options {
        attach,
        namespace,
        api,
        url_sha256: Some(
            oci::url_sha256(&url, FILTER_WASM).map_err(|e| format!("filter URL {e}"))?,
        ),
        wasm_url: url,
        module_sha256: oci::sha256_hex(FILTER_WASM),
        generator: format!("egressc {}", egressc::VERSION),
        filter: egress_table::plugin_config::Options::default(),
    })
}

/// The bundle `egressc istio` writes for `text` with these options.
pub fn istio_json(name: &str, text: &str, options: &str) -> Value {
    let opts = match read_form("options", options, istio_options) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let placeholder = opts.wasm_url == oci::placeholder_url();
    with_compiled(name, text, |sources, compiled| {
        bundle(compiled, sources, &opts, placeholder)
    })
    .unwrap_or_else(|e| e)
}

fn bundle(
    compiled: &Compiled,
    sources: &Sources,
    opts: &istio::Options,
    placeholder: bool,
) -> Value {
    match istio::bundle(compiled, sources, opts) {
        Ok(b) => json!({
            "yaml": b.yaml,
            "diagnostics": diagnostics(&b.diagnostics, sources),
            "placeholder_url": placeholder,
            "plugin_sizes": b.plugin_sizes.iter().map(|(n, s)| json!({"name": n, "bytes": s})).collect::<Vec<_>>(),
        }),
        Err(e) => json!({"error": e}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EXAMPLES;

    fn httpbin() -> &'static str {
        EXAMPLES
            .iter()
            .find(|(n, _)| *n == "httpbin.egress")
            .map(|(_, t)| *t)
            .unwrap()
    }

    #[test]
    fn every_example_compiles_and_its_tests_pass_natively() {
        for (name, text) in EXAMPLES {
            let v = analyse_json(name, text);
            assert_eq!(v["ok"], true, "{name}: {}", v["diagnostics"]);
            assert_eq!(v["errors"], 0, "{name}");
            let t = &v["tests"];
            assert_eq!(t["failed"], 0, "{name}: {t}");
            assert!(v["summary"]["bytes"].as_u64().unwrap() > 0);
            assert!(
                v["summary"]["dump"]
                    .as_str()
                    .unwrap()
                    .starts_with("# egress table format")
            );
            for case in t["cases"].as_array().unwrap() {
                let again = request_from_form(&case["form"]).unwrap();
                assert_eq!(
                    again.describe(),
                    case["request"].as_str().unwrap(),
                    "{name}"
                );
            }
            let b = istio_json(name, text, "{}");
            assert!(
                b["yaml"].as_str().unwrap().contains("kind: WasmPlugin"),
                "{name}: {b}"
            );
        }
    }

    #[test]
    fn a_typo_is_an_error_at_its_line_with_help() {
        let text = "policy \"p\" {\n  default deny\n  destinaton \"a.example\" port 443 tls\n}\n";
        let v = analyse_json("p.egress", text);
        assert_eq!(v["ok"], false);
        let d = &v["diagnostics"][0];
        assert_eq!(d["severity"], "error");
        assert_eq!(d["location"]["line"], 3);
        assert_eq!(d["location"]["from"], text.find("destinaton").unwrap());
        assert!(
            d["help"].as_str().unwrap_or("").contains("destination"),
            "{d}"
        );
        assert!(
            decide_json("p.egress", text, r#"{"url":"http://a.example/"}"#)["error"]
                .as_str()
                .unwrap()
                .contains("1 error")
        );
    }

    #[test]
    fn positions_count_utf16_units_after_non_ascii_text() {
        // An accent (1 unit, 2 bytes) and an emoji (2 units, 4 bytes) before the typo.
        let text = "# caf\u{e9} \u{1f600}\npolicy \"p\" {\n  default deny\n  destinaton \"a.example\" port 443 tls\n}\n";
        let v = analyse_json("p.egress", text);
        let at = &v["diagnostics"][0]["location"];
        let utf16 = text[..text.find("destinaton").unwrap()]
            .encode_utf16()
            .count();
        assert_eq!(at["from"], utf16);
        assert_eq!(at["to"], utf16 + "destinaton".len());
        assert_eq!(at["line"], 4);
    }

    #[test]
    fn a_request_is_decided_with_its_rule_and_trace() {
        let text = httpbin();
        let allow = decide_json(
            "httpbin.egress",
            text,
            r#"{"method":"GET","url":"http://httpbin.org/get"}"#,
        );
        assert_eq!(allow["decision"], "allow", "{allow}");
        assert_eq!(allow["decided_by"], "by rule httpbin/1");
        assert_eq!(allow["case"], "GET http://httpbin.org/get => allow");
        assert!(
            allow["trace"]
                .as_str()
                .unwrap()
                .contains("rules considered")
        );
        let deny = decide_json(
            "httpbin.egress",
            text,
            r#"{"method":"POST","url":"http://httpbin.org/post","principal":"cluster.local/ns/default/sa/sleep"}"#,
        );
        assert_eq!(deny["decision"], "deny");
        assert_eq!(deny["decided_by"], "by the default of policy httpbin");
        assert_eq!(
            deny["case"],
            "POST http://httpbin.org/post from \"cluster.local/ns/default/sa/sleep\" => deny"
        );
        let bad = decide_json("httpbin.egress", text, r#"{"url":"ftp://x"}"#);
        assert_eq!(bad["field"], true);
    }

    #[test]
    fn try_loads_the_request_of_the_test_case() {
        // Cases whose request the form must carry exactly (a fragment, a
        // header value with spaces, a CONNECT without a path, non-ASCII).
        let text = "policy \"p\" {
  default deny
  destination \"api.example\" port 80, 443 http {
    allow GET path \"/v1/{**}\" when header \"x-a\" == \" a b \"
    allow CONNECT
  }
  test \"t\" {
    GET http://api.example/v1/x#frag header \"x-a\" = \" a b \" => deny
    GET http://api.example/v1/x header \"x-a\" = \" a b \" => allow
    GET http://api.example/v1/x header \"x-a\" = \"a b\" => deny
    CONNECT http://api.example:443 => allow
    GET http://api.example/v1/x from \"cluster.local/ns/\u{e9}/sa/\u{200b}\" header \"x-a\" = \" a b \" => allow
  }
}
";
        let v = analyse_json("p.egress", text);
        assert_eq!(v["ok"], true, "{}", v["diagnostics"]);
        let cases = v["tests"]["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 5);
        for c in cases {
            let form = c["form"].to_string();
            let d = decide_json("p.egress", text, &form);
            assert_eq!(d["decision"], c["got"], "{c} -> {d}");
            // The case line the page offers is the case's own request.
            let request = c["request"].as_str().unwrap();
            assert_eq!(
                d["case"],
                format!("{request} => {}", c["got"].as_str().unwrap())
            );
            assert!(text.contains(request), "{request}");
        }
    }

    #[test]
    fn format_and_istio_options() {
        let f = format_json("policy \"p\" {default deny destination \"a.example\" port 443 tls}");
        assert_eq!(f["changed"], true);
        assert!(f["text"].as_str().unwrap().contains("\n  default deny\n"));
        assert!(format_json("policy {")["diagnostics"][0]["code"].is_string());
        let text = httpbin();
        let b = istio_json(
            "httpbin.egress",
            text,
            r#"{"attach":"sidecar","namespace":"shop","wasm_url":"https://x.example/f.wasm"}"#,
        );
        let yaml = b["yaml"].as_str().unwrap();
        assert!(yaml.contains("namespace: shop"), "{yaml}");
        assert!(yaml.contains(&oci::sha256_hex(FILTER_WASM)));
        assert_eq!(b["placeholder_url"], false);
        assert!(
            istio_json("x", text, r#"{"namespace":"Bad_NS"}"#)["error"]
                .as_str()
                .unwrap()
                .contains("bad-ns")
        );
        assert!(istio_json("x", text, r#"{"wasm_url":"ftp://x"}"#)["field"] == true);
    }
}
