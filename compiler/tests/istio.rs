//! `egressc istio`: every example policy's bundle, in every attachment and
//! with both APIs, validated against the schemas of what it emits — the
//! Istio CRDs and the Gateway API Gateway CRD (OpenAPI v3, copied into
//! `tests/istio/`, see its README) and a schema of the Kubernetes core
//! objects — with the JSON-schema validator `boon`. Kubernetes also prunes
//! unknown fields and evaluates the CRDs' CEL rules
//! (`x-kubernetes-validations`); JSON Schema does neither, so the test makes
//! every object schema closed (`additionalProperties: false` unless the CRD
//! preserves unknown fields) and evaluates each CEL rule it meets with a
//! hand translation, failing on any rule it has no translation for.
//!
//! Also: the httpbin waypoint bundle as a snapshot (what Istio's ambient
//! egress guide sets up), the TLS-origination and timeout resources, names
//! and labels, comments naming policy lines, determinism, and the size guard.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

mod common;

use common::text;

/// `egressc ARGS` at the repository's root.
fn egressc(args: &[&str]) -> Output {
    common::egressc_in(&common::repo(), args)
}

/// A YAML value as JSON (what the API server makes of it).
fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(r) => json!(r.parse::<f64>().unwrap()),
        Yaml::Boolean(b) => json!(b),
        Yaml::Null => Value::Null,
        Yaml::Array(a) => a.iter().map(to_json).collect(),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        other => panic!("unexpected key {other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        other => panic!("unexpected YAML {other:?}"),
    }
}

/// The non-empty documents of a YAML stream.
fn documents(text: &str) -> Vec<Value> {
    YamlLoader::load_from_str(text)
        .unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
        .iter()
        .filter(|d| !d.is_null())
        .map(to_json)
        .collect()
}

/// Makes a CRD schema as strict as the API server: closed objects (pruning
/// drops unknown fields silently, which for egressc would be a bug), and the
/// root's apiVersion/kind/metadata.
fn strict(schema: &mut Value, root: bool) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if root {
        let props = obj
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap();
        props
            .entry("apiVersion")
            .or_insert_with(|| json!({"type": "string"}));
        props
            .entry("kind")
            .or_insert_with(|| json!({"type": "string"}));
        props
            .entry("metadata")
            .or_insert_with(|| json!({"type": "object"}));
    }
    let preserve = obj
        .get("x-kubernetes-preserve-unknown-fields")
        .is_some_and(|v| v == true);
    if obj.contains_key("properties") && !preserve && !obj.contains_key("additionalProperties") {
        obj.insert("additionalProperties".into(), json!(false));
    }
    for key in ["properties"] {
        if let Some(Value::Object(props)) = obj.get_mut(key) {
            for v in props.values_mut() {
                strict(v, false);
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(v) = obj.get_mut(key) {
            strict(v, false);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(list)) = obj.get_mut(key) {
            for v in list {
                strict(v, false);
            }
        }
    }
}

/// (apiVersion, kind) → the version's openAPIV3Schema.
fn crd_schemas() -> &'static BTreeMap<(String, String), Value> {
    static CRDS: OnceLock<BTreeMap<(String, String), Value>> = OnceLock::new();
    CRDS.get_or_init(|| {
        let mut out = BTreeMap::new();
        for file in ["istio-crds.yaml", "gateway-api-gateways.yaml"] {
            let t = std::fs::read_to_string(manifest_dir().join("tests/istio").join(file)).unwrap();
            for crd in documents(&t) {
                let group = crd["spec"]["group"].as_str().unwrap();
                let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
                for v in crd["spec"]["versions"].as_array().unwrap() {
                    let api = format!("{group}/{}", v["name"].as_str().unwrap());
                    let schema = v["schema"]["openAPIV3Schema"].clone();
                    out.insert((api, kind.to_owned()), schema);
                }
            }
        }
        assert_eq!(out.len(), 8, "{:?}", out.keys());
        out
    })
}

struct Validator {
    schemas: boon::Schemas,
    index: BTreeMap<(String, String), boon::SchemaIndex>,
    core: boon::SchemaIndex,
}

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V4);
        compiler.enable_format_assertions();
        let mut index = BTreeMap::new();
        for ((api, kind), schema) in crd_schemas() {
            let mut s = schema.clone();
            strict(&mut s, true);
            let url = format!("http://crd.test/{}/{kind}.json", api.replace('/', "_"));
            compiler.add_resource(&url, s).unwrap();
            let i = compiler
                .compile(&url, &mut schemas)
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            index.insert((api.clone(), kind.clone()), i);
        }
        let core: Value = serde_json::from_str(
            &std::fs::read_to_string(manifest_dir().join("tests/istio/k8s-core.schema.json"))
                .unwrap(),
        )
        .unwrap();
        compiler
            .add_resource("http://crd.test/k8s-core.json", core)
            .unwrap();
        let core = compiler
            .compile("http://crd.test/k8s-core.json", &mut schemas)
            .unwrap();
        Validator {
            schemas,
            index,
            core,
        }
    })
}

/// A Go/CEL duration (`3s`, `0.5s`, `1m30s`, `500ms`) in milliseconds.
fn go_duration_ms(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 6e4,
            "h" => 3.6e6,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Some(total)
}

fn has(v: &Value, k: &str) -> bool {
    v.get(k).is_some()
}

fn port_ok(v: &Value) -> bool {
    v.as_i64().is_some_and(|p| (1..=65535).contains(&p))
}

/// The CEL rules of the CRDs that apply to what egressc emits, translated
/// by hand (whitespace in the rule text is normalised). `None`: a rule this
/// test does not know — the test fails and names it, so a new CRD rule on a
/// field egressc writes cannot go unchecked.
fn cel(rule: &str, v: &Value) -> Option<bool> {
    let rule: String = rule.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = || v.as_str().unwrap_or("");
    let keys = || v.as_object().into_iter().flat_map(|o| o.keys());
    // "At most one of": `(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) <= 1`.
    if let Some(terms) = rule.strip_suffix(" <= 1") {
        let fields: Option<Vec<&str>> = terms
            .split(" + ")
            .map(|t| t.strip_prefix("(has(self.")?.strip_suffix(") ? 1 : 0)"))
            .collect();
        if let Some(fields) = fields {
            return Some(fields.iter().filter(|f| has(v, f)).count() <= 1);
        }
    }
    Some(match rule.as_str() {
        r#"self != "*""# => s() != "*",
        "0 < self && self <= 65535" => port_ok(v),
        "self.all(l1, self.exists_one(l2, l1.number == l2.number))" => {
            let nums: Vec<_> = v.as_array()?.iter().map(|p| &p["number"]).collect();
            nums.iter()
                .all(|n| nums.iter().filter(|m| m == &n).count() == 1)
        }
        r#"!((has(self.addresses) ? self.addresses : []).exists(k, k.contains("/")) && !((has(self.resolution) ? self.resolution : "NONE") in ["STATIC", "NONE"]))"# =>
        {
            let cidr = v["addresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x.as_str().unwrap_or("").contains('/')));
            let res = v["resolution"].as_str().unwrap_or("NONE");
            !cidr || ["STATIC", "NONE"].contains(&res)
        }
        r#"((has(self.resolution) ? self.resolution : "NONE") == "NONE") ? !has(self.endpoints) : true"# => {
            v["resolution"].as_str().unwrap_or("NONE") != "NONE" || !has(v, "endpoints")
        }
        r#"((has(self.resolution) ? self.resolution : "") == "DNS_ROUND_ROBIN") ? ((has(self.endpoints) ? self.endpoints : []).size() <= 1) : true"# => {
            v["resolution"] != "DNS_ROUND_ROBIN"
                || v["endpoints"].as_array().is_none_or(|e| e.len() <= 1)
        }
        "has(self.wasm) != has(self.lua)" => has(v, "wasm") != has(v, "lua"),
        r#"isURL(self) ? (url(self).getScheme() in ["", "http", "https", "file", "oci"]) : (isURL("http://" + self) && url("http://" + self).getScheme() in ["", "http", "https", "file", "oci"])"#
        | r#"isURL(self) ? (url(self).getScheme() in ["", "http", "https", "oci", "file"]) : (isURL("http://" + self) && url("http://" + self).getScheme() in ["", "http", "https", "oci", "file"])"# =>
        {
            let scheme = s().split_once("://").map_or("", |(sc, _)| sc);
            ["", "http", "https", "file", "oci"].contains(&scheme)
        }
        "self.size() == 0" => s().is_empty(),
        r#"!self.contains("*")"# => !s().contains('*'),
        r#"self.all(key, !key.contains("*"))"# => keys().all(|k| !k.contains('*')),
        "self.all(key, key.size() != 0)" => keys().all(|k| !k.is_empty()),
        "duration(self) >= duration('1ms')" => go_duration_ms(s()).is_some_and(|ms| ms >= 1.0),
        // Gateway API Gateway (v1.6.1, standard channel), spec.listeners.
        "self.all(l1, self.exists_one(l2, l1.name == l2.name))" => {
            let names: Vec<_> = v.as_array()?.iter().map(|l| &l["name"]).collect();
            names
                .iter()
                .all(|n| names.iter().filter(|m| m == &n).count() == 1)
        }
        "self.all(l1, self.exists_one(l2, l1.port == l2.port && l1.protocol == l2.protocol && (has(l1.hostname) && has(l2.hostname) ? l1.hostname == l2.hostname : !has(l1.hostname) && !has(l2.hostname))))" =>
        {
            let ls = v.as_array()?;
            ls.iter().all(|a| {
                ls.iter()
                    .filter(|b| {
                        a["port"] == b["port"]
                            && a["protocol"] == b["protocol"]
                            && match (has(a, "hostname"), has(b, "hostname")) {
                                (true, true) => a["hostname"] == b["hostname"],
                                (x, y) => !x && !y,
                            }
                    })
                    .count()
                    == 1
            })
        }
        "self.all(l, l.protocol in ['HTTP', 'TCP', 'UDP'] ? !has(l.tls) : true)" => {
            v.as_array()?.iter().all(|l| {
                !["HTTP", "TCP", "UDP"].contains(&l["protocol"].as_str().unwrap_or(""))
                    || !has(l, "tls")
            })
        }
        "self.all(l, (l.protocol == 'HTTPS' && has(l.tls)) ? (l.tls.mode == '' || l.tls.mode == 'Terminate') : true)" => {
            v.as_array()?.iter().all(|l| {
                !(l["protocol"] == "HTTPS" && has(l, "tls"))
                    || ["", "Terminate"].contains(&l["tls"]["mode"].as_str().unwrap_or(""))
            })
        }
        "self.all(l, (l.protocol == 'TLS' ? has(l.tls) && has(l.tls.mode) && l.tls.mode != '' : true))" => {
            v.as_array()?.iter().all(|l| {
                l["protocol"] != "TLS" || l["tls"]["mode"].as_str().is_some_and(|m| !m.is_empty())
            })
        }
        "self.all(l, l.protocol in ['TCP', 'UDP'] ? (!has(l.hostname) || l.hostname == '') : true)" => {
            v.as_array()?.iter().all(|l| {
                !["TCP", "UDP"].contains(&l["protocol"].as_str().unwrap_or(""))
                    || l["hostname"].as_str().unwrap_or("").is_empty()
            })
        }
        _ => return None,
    })
}

/// Walks `v` with its schema: the CEL rules and the list-type rules the API
/// server applies. Problems and unknown rules go to `errs`.
fn walk(schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    if let Some(rules) = schema["x-kubernetes-validations"].as_array() {
        for r in rules {
            let rule = r["rule"].as_str().unwrap();
            match cel(rule, v) {
                Some(true) => {}
                Some(false) => errs.push(format!("{path}: {} (rule {rule})", r["message"])),
                None => errs.push(format!("{path}: no translation of the CEL rule {rule:?}")),
            }
        }
    }
    if let (Some(items), Some(list_type)) =
        (v.as_array(), schema["x-kubernetes-list-type"].as_str())
    {
        let keys: Vec<String> = match list_type {
            "map" => items
                .iter()
                .map(|i| {
                    schema["x-kubernetes-list-map-keys"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| i[k.as_str().unwrap()].to_string())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .collect(),
            "set" => items.iter().map(Value::to_string).collect(),
            _ => vec![],
        };
        let unique: BTreeSet<&String> = keys.iter().collect();
        if unique.len() != keys.len() {
            errs.push(format!(
                "{path}: duplicate keys in a list of type {list_type}"
            ));
        }
    }
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let sub = &schema["properties"][k];
                if !sub.is_null() {
                    walk(sub, child, &format!("{path}.{k}"), errs);
                } else if schema["additionalProperties"].is_object() {
                    walk(
                        &schema["additionalProperties"],
                        child,
                        &format!("{path}.{k}"),
                        errs,
                    );
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                walk(&schema["items"], child, &format!("{path}[{i}]"), errs);
            }
        }
        _ => {}
    }
}

/// A label key (`prefix/name`) and value, by Kubernetes' rules.
fn label_ok(k: &str, v: &str) -> bool {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 63
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && n.as_bytes()[0].is_ascii_alphanumeric()
            && n.as_bytes()[n.len() - 1].is_ascii_alphanumeric()
    };
    let key_ok = match k.split_once('/') {
        Some((prefix, name)) => {
            prefix.len() <= 253
                && prefix.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                })
                && name_ok(name)
        }
        None => name_ok(k),
    };
    key_ok && (v.is_empty() || name_ok(v))
}

/// A document for an error message: long strings (the table) shortened.
fn brief(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() > 120 => json!(format!("<{} characters>", s.len())),
        Value::Array(a) => a.iter().map(brief).collect(),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), brief(v))).collect()),
        other => other.clone(),
    }
}

/// Validates every document of a bundle; returns them.
fn validate(bundle: &str, what: &str, namespace: &str) -> Vec<Value> {
    let docs = documents(bundle);
    assert!(!docs.is_empty(), "{what}: no documents");
    let v = validator();
    for doc in &docs {
        let api = doc["apiVersion"].as_str().unwrap_or("").to_owned();
        let kind = doc["kind"].as_str().unwrap_or("").to_owned();
        let name = doc["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let id = format!("{what}: {kind} {name}");
        let result = match v.index.get(&(api.clone(), kind.clone())) {
            Some(i) => {
                let mut errs = Vec::new();
                walk(
                    &crd_schemas()[&(api.clone(), kind.clone())],
                    doc,
                    "",
                    &mut errs,
                );
                assert!(errs.is_empty(), "{id}: {errs:#?}\n{:#}", brief(doc));
                v.schemas.validate(doc, *i)
            }
            None if api == "v1" => v.schemas.validate(doc, v.core),
            None => panic!("{id}: no schema for {api} {kind}"),
        };
        if let Err(e) = result {
            panic!("{id} does not validate:\n{e:#}\n{:#}", brief(doc));
        }
        // Object names and labels (the API server's own checks).
        let dns_label = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !s.starts_with('-')
                && !s.ends_with('-')
        };
        assert!(dns_label(&name), "{id}: invalid name");
        // Kubernetes Services (and their DestinationRules) live in their
        // own namespace; everything else in the bundle's.
        let own_namespace = ["Service", "Endpoints"].contains(&kind.as_str())
            || doc["spec"]["host"]
                .as_str()
                .is_some_and(|h| h.ends_with(".svc.cluster.local"));
        if kind != "Namespace" && !own_namespace {
            assert_eq!(doc["metadata"]["namespace"], namespace, "{id}");
        }
        for (k, l) in doc["metadata"]["labels"].as_object().into_iter().flatten() {
            assert!(label_ok(k, l.as_str().unwrap()), "{id}: label {k}: {l}");
        }
        if kind == "Service" {
            let ports = doc["spec"]["ports"].as_array().unwrap();
            assert!(
                ports.len() == 1 || ports.iter().all(|p| p["name"].is_string()),
                "{id}: several ports need names"
            );
        }
    }
    docs
}

fn policy_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(manifest_dir().join("../policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "egress"))
        .collect();
    v.sort();
    v
}

const ATTACH: [(&str, &str); 3] = [
    ("waypoint", "istio-egress"),
    ("egress-gateway", "istio-system"),
    ("sidecar", "default"),
];

fn istio(file: &str, extra: &[&str]) -> String {
    let mut args = vec!["istio", file];
    args.extend_from_slice(extra);
    let out = egressc(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "egressc {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn every_example_bundle_validates_against_the_schemas() {
    let mut kinds = BTreeSet::new();
    let mut checked = 0;
    for f in policy_files() {
        let rel = format!("policies/{}", f.file_name().unwrap().to_string_lossy());
        for (attach, ns) in ATTACH {
            for api in ["wasmplugin", "trafficextension"] {
                let what = format!("{rel} --attach {attach} --api {api}");
                let bundle = istio(
                    &rel,
                    &[
                        "--attach",
                        attach,
                        "--api",
                        api,
                        "--wasm-url",
                        "oci://registry.test/egress-filter:1",
                    ],
                );
                let docs = validate(&bundle, &what, ns);
                for d in &docs {
                    kinds.insert(format!(
                        "{} {}",
                        d["apiVersion"].as_str().unwrap(),
                        d["kind"].as_str().unwrap()
                    ));
                }
                let plugins: Vec<&Value> = docs
                    .iter()
                    .filter(|d| {
                        d["kind"]
                            == if api == "wasmplugin" {
                                "WasmPlugin"
                            } else {
                                "TrafficExtension"
                            }
                    })
                    .collect();
                assert!(!plugins.is_empty(), "{what}: no filter resource");
                // Every resource made from a destination names its policy line.
                for chunk in bundle.split("\n---\n").skip(1) {
                    let first = chunk.lines().find(|l| !l.starts_with('#')).unwrap_or("");
                    if ["ServiceEntry", "DestinationRule", "VirtualService"]
                        .iter()
                        .any(|k| chunk.contains(&format!("\nkind: {k}\n")))
                    {
                        assert!(
                            chunk.starts_with(&format!("# From {rel}:")),
                            "{what}: {first}\n{chunk}"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 8 * 6, "{checked}");
    // Every kind the emitter writes was validated somewhere.
    for k in [
        "v1 Namespace",
        "v1 Service",
        "v1 Endpoints",
        "gateway.networking.k8s.io/v1 Gateway",
        "networking.istio.io/v1 ServiceEntry",
        "networking.istio.io/v1 DestinationRule",
        "networking.istio.io/v1 VirtualService",
        "networking.istio.io/v1 Gateway",
        "extensions.istio.io/v1alpha1 WasmPlugin",
        "extensions.istio.io/v1alpha1 TrafficExtension",
        "telemetry.istio.io/v1 Telemetry",
    ] {
        assert!(kinds.contains(k), "never emitted: {k} (emitted: {kinds:?})");
    }
}

/// The schemas are not vacuous: what a CRD forbids is refused.
#[test]
fn the_validation_refuses_what_the_api_server_refuses() {
    let good = istio(
        "policies/github.egress",
        &["--wasm-url", "oci://r.test/f:1"],
    );
    let docs = documents(&good);
    let v = validator();
    let se = docs
        .iter()
        .find(|d| d["kind"] == "ServiceEntry")
        .unwrap()
        .clone();
    let idx = v.index[&(
        "networking.istio.io/v1".to_owned(),
        "ServiceEntry".to_owned(),
    )];
    assert!(v.schemas.validate(&se, idx).is_ok());
    let mut typo = se.clone();
    typo["spec"]["resolutoin"] = json!("DNS");
    assert!(
        v.schemas.validate(&typo, idx).is_err(),
        "an unknown field must fail"
    );
    let mut bad_enum = se.clone();
    bad_enum["spec"]["location"] = json!("OUTSIDE");
    assert!(v.schemas.validate(&bad_enum, idx).is_err());
    // CEL: CIDR addresses need resolution NONE or STATIC.
    let tcp = docs
        .iter()
        .find(|d| d["kind"] == "ServiceEntry" && d["spec"]["addresses"].is_array())
        .unwrap();
    let mut dns = tcp.clone();
    dns["spec"]["resolution"] = json!("DNS");
    let mut errs = Vec::new();
    walk(
        &crd_schemas()[&(
            "networking.istio.io/v1".to_owned(),
            "ServiceEntry".to_owned(),
        )],
        &dns,
        "",
        &mut errs,
    );
    assert!(errs.iter().any(|e| e.contains("CIDR")), "{errs:?}");
    let wp = docs.iter().find(|d| d["kind"] == "WasmPlugin").unwrap();
    let widx = v.index[&(
        "extensions.istio.io/v1alpha1".to_owned(),
        "WasmPlugin".to_owned(),
    )];
    let mut both = wp.clone();
    both["spec"]["selector"] = json!({"matchLabels": {"a": "b"}});
    let mut errs = Vec::new();
    walk(
        &crd_schemas()[&(
            "extensions.istio.io/v1alpha1".to_owned(),
            "WasmPlugin".to_owned(),
        )],
        &both,
        "",
        &mut errs,
    );
    assert!(!errs.is_empty());
    let mut sha = wp.clone();
    sha["spec"]["sha256"] = json!("abc");
    assert!(v.schemas.validate(&sha, widx).is_err());
    let mut core = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "n"}, "spec": {"type": "ExternalName", "ports": [{"port": 80}]}});
    assert!(
        v.schemas.validate(&core, v.core).is_err(),
        "ExternalName needs externalName"
    );
    core["spec"]["externalName"] = json!("httpbin.org");
    assert!(v.schemas.validate(&core, v.core).is_ok());
    assert!(go_duration_ms("0.5s") == Some(500.0) && go_duration_ms("1m30s") == Some(90_000.0));
    assert!(cel("something new", &json!(1)).is_none());
}

/// The ambient egress-waypoint setup of Istio's "Egress gateways" guide,
/// for policies/httpbin.egress: snapshot (the table and digests redacted:
/// they change with the table format and the filter build), then the parts
/// that matter, one by one.
#[test]
fn httpbin_on_an_egress_waypoint() {
    let dir = std::env::temp_dir().join(format!("egressc-istio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stand_in = dir.join("stand-in.wasm");
    std::fs::write(&stand_in, b"\0asm\x01\0\0\0").unwrap();
    let bundle = istio(
        "policies/httpbin.egress",
        &[
            "--attach",
            "waypoint",
            "--wasm-url",
            "oci://registry.test/egress-filter:0.1.0",
            "--wasm",
            stand_in.to_str().unwrap(),
        ],
    );
    let redacted: String = bundle
        .lines()
        .map(|l| {
            if l.starts_with("# Rule table: ") {
                "# Rule table: <format, size, checksum>; policies httpbin.".to_owned()
            } else if let Some((k, _)) = l.split_once("table: ") {
                format!("{k}table: <base64 of the table>")
            } else if let Some((k, _)) = l.split_once("checksum: crc32c:") {
                format!("{k}checksum: crc32c:<table checksum>")
            } else if l.contains("egressc ") && l.starts_with("# Generated by") {
                l.replace(env!("CARGO_PKG_VERSION"), "<version>")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("httpbin-waypoint", redacted);

    let docs = validate(&bundle, "httpbin waypoint", "istio-egress");
    let by_kind = |k: &'static str| docs.iter().filter(move |d| d["kind"] == k);
    let ns = by_kind("Namespace").next().unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["istio.io/use-waypoint"],
        "waypoint"
    );
    assert_eq!(
        ns["metadata"]["labels"]["istio.io/dataplane-mode"],
        "ambient"
    );
    let gw = by_kind("Gateway").next().unwrap();
    assert_eq!(gw["spec"]["gatewayClassName"], "istio-waypoint");
    assert_eq!(gw["spec"]["listeners"][0]["protocol"], "HBONE");
    let se: Vec<_> = by_kind("ServiceEntry").collect();
    assert_eq!(se.len(), 1);
    assert_eq!(se[0]["spec"]["hosts"], json!(["httpbin.org"]));
    assert_eq!(
        se[0]["spec"]["ports"],
        json!([{"number": 80, "name": "http-80", "protocol": "HTTP"}])
    );
    assert_eq!(se[0]["spec"]["resolution"], "DNS");
    assert_eq!(se[0]["spec"]["location"], "MESH_EXTERNAL");
    assert_eq!(
        se[0]["metadata"]["labels"]["istio.io/use-waypoint"],
        "waypoint"
    );
    let wp: Vec<_> = by_kind("WasmPlugin").collect();
    assert_eq!(wp.len(), 1, "no tls/tcp destination: no network plugin");
    let spec = &wp[0]["spec"];
    assert_eq!(
        spec["targetRefs"],
        json!([{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "waypoint"}])
    );
    assert_eq!(
        (
            spec["phase"].as_str(),
            spec["failStrategy"].as_str(),
            spec["type"].as_str()
        ),
        (Some("AUTHZ"), Some("FAIL_CLOSE"), Some("HTTP"))
    );
    // The pluginConfig is what `egressc compile --emit plugin-config` writes.
    let pc = egressc(&[
        "compile",
        "policies/httpbin.egress",
        "--emit",
        "plugin-config",
        "-o",
        "-",
    ]);
    let want: Value = serde_json::from_slice(&pc.stdout).unwrap();
    assert_eq!(spec["pluginConfig"], want);
    let cfg =
        egress_table::plugin_config::decode(spec["pluginConfig"].to_string().as_bytes()).unwrap();
    assert!(egress_table::Table::from_bytes(&cfg.table).is_ok());
    // sha256 of an oci:// URL: the manifest digest of the image `egressc package` writes.
    let layout = dir.join("layout");
    let pkg = egressc(&[
        "package",
        "--wasm",
        stand_in.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
        "--tag",
        "0.1.0",
    ]);
    assert_eq!(pkg.status.code(), Some(0), "{}", text(&pkg.stderr));
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"].as_str().unwrap(),
        format!("sha256:{}", spec["sha256"].as_str().unwrap())
    );
    // https:// and file:// URLs carry the module's own digest.
    let https = istio(
        "policies/httpbin.egress",
        &[
            "--wasm-url",
            "https://x.test/egress_filter.wasm",
            "--wasm",
            stand_in.to_str().unwrap(),
        ],
    );
    let module_sha = egressc::oci::sha256_hex(b"\0asm\x01\0\0\0");
    assert!(
        https.contains(&format!("sha256: \"{module_sha}\"")),
        "{https}"
    );
    let telemetry = by_kind("Telemetry").next().unwrap();
    assert_eq!(
        telemetry["spec"]["accessLogging"][0]["providers"][0]["name"],
        "egress-decisions"
    );
    // default deny: the restricted posture, as a comment-only document.
    assert!(bundle.contains("#     outboundTrafficPolicy:\n#       mode: REGISTRY_ONLY\n"));
    assert!(docs.iter().all(|d| d["kind"] != "IstioOperator"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Istio's TLS-origination and timeout tasks, from one destination.
#[test]
fn tls_origination_and_timeout() {
    for (attach, ns) in ATTACH {
        let bundle = istio(
            "policies/httpbin-tls-origination.egress",
            &["--attach", attach],
        );
        let docs = validate(&bundle, attach, ns);
        let se = docs.iter().find(|d| d["kind"] == "ServiceEntry").unwrap();
        assert_eq!(se["spec"]["ports"][0]["targetPort"], 443, "{attach}");
        let dr = docs
            .iter()
            .find(|d| d["kind"] == "DestinationRule")
            .unwrap();
        assert_eq!(dr["spec"]["host"], "httpbin.org");
        assert_eq!(
            dr["spec"]["trafficPolicy"]["tls"],
            json!({"mode": "SIMPLE", "sni": "httpbin.org"})
        );
        let timeouts: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == "VirtualService")
            .flat_map(|d| d["spec"]["http"].as_array().unwrap())
            .filter_map(|r| r.get("timeout"))
            .collect();
        assert!(
            !timeouts.is_empty() && timeouts.iter().all(|t| *t == "3s"),
            "{attach}: {timeouts:?}"
        );
    }
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    for (attach, _) in ATTACH {
        let args = ["--attach", attach, "--wasm-url", "oci://r.test/f:1"];
        let a = istio("policies", &args);
        let b = istio("policies", &args);
        assert_eq!(a, b, "{attach}");
        assert!(a.len() > 1000);
    }
}

/// W0501/W0502: a WasmPlugin approaching the 256 KiB client-side-apply and
/// 1.5 MiB object limits.
#[test]
fn the_size_guard_warns_before_kubernetes_refuses() {
    fn codes_for(hosts: usize) -> (Vec<&'static str>, usize) {
        // Long names keep the host count (and the compile time) down.
        let label = "a".repeat(60);
        let list: Vec<String> = (0..hosts)
            .map(|i| format!("\"h{i}.{label}.{label}.{label}.example\""))
            .collect();
        let text = format!(
            "policy \"big\" {{\n  default deny\n  destination {} port 443 tls\n}}\n",
            list.join(", ")
        );
        let (sources, outcome) = egressc::compile_str("big.egress", &text);
        let compiled = outcome.compiled.unwrap();
        let opts = egressc::istio::Options {
            filter: egress_table::plugin_config::Options::default(),
            attach: egressc::istio::Attach::Waypoint,
            namespace: "istio-egress".into(),
            api: egressc::istio::Api::WasmPlugin,
            wasm_url: "oci://r.test/f:1".into(),
            url_sha256: None,
            module_sha256: "0".repeat(64),
            generator: "test".into(),
        };
        let b = egressc::istio::bundle(&compiled, &sources, &opts).unwrap();
        let biggest = b.plugin_sizes.iter().map(|(_, s)| *s).max().unwrap();
        (b.diagnostics.iter().map(|d| d.code).collect(), biggest)
    }
    let (none, small) = codes_for(10);
    assert!(none.is_empty() && small < 10_000, "{none:?} {small}");
    let (annotation, size) = codes_for(1200);
    assert!(size > 230 * 1024 && size < 1024 * 1024, "{size}");
    assert!(
        annotation.contains(&"W0501") && !annotation.contains(&"W0502"),
        "{annotation:?}"
    );
    let (object, size) = codes_for(6000);
    assert!(size > 1400 * 1024, "{size}");
    assert!(object.contains(&"W0502"), "{object:?}");
}

/// Istio's "Kubernetes Services for Egress Traffic" task: an ExternalName
/// Service and a Service without a selector plus Endpoints, each with a
/// DestinationRule `tls.mode: DISABLE` for the in-cluster host.
#[test]
fn kubernetes_services_for_egress() {
    let gw = egressc(&[
        "istio",
        "policies/kubernetes-services.egress",
        "--attach",
        "egress-gateway",
    ]);
    assert!(
        !text(&gw.stdout).contains("kind: Service\n"),
        "no Service past the egress gateway"
    );
    // The tcp destination (with its Service) and the httpbin Service.
    assert_eq!(
        text(&gw.stderr).matches("[W0503]").count(),
        2,
        "{}",
        text(&gw.stderr)
    );
    for (attach, ns) in [ATTACH[0], ATTACH[2]] {
        let bundle = istio("policies/kubernetes-services.egress", &["--attach", attach]);
        let docs = validate(&bundle, attach, ns);
        let find = |kind: &str, name: &str| {
            docs.iter()
                .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{attach}: no {kind} {name}"))
        };
        let ext = find("Service", "my-httpbin");
        assert_eq!(ext["metadata"]["namespace"], "default");
        if attach == "waypoint" {
            assert_eq!(
                ext["metadata"]["labels"]["istio.io/use-waypoint"],
                "waypoint"
            );
            assert_eq!(
                ext["metadata"]["labels"]["istio.io/use-waypoint-namespace"],
                "istio-egress"
            );
        }
        assert_eq!(ext["spec"]["type"], "ExternalName");
        assert_eq!(ext["spec"]["externalName"], "httpbin.org");
        assert_eq!(
            ext["spec"]["ports"],
            json!([{"name": "http-80", "protocol": "TCP", "port": 80}])
        );
        let dr = find("DestinationRule", "my-httpbin");
        assert_eq!(dr["spec"]["host"], "my-httpbin.default.svc.cluster.local");
        assert_eq!(dr["spec"]["trafficPolicy"]["tls"]["mode"], "DISABLE");
        let wiki = find("Service", "my-wikipedia");
        assert_eq!(wiki["spec"]["clusterIP"], "None");
        let ep = find("Endpoints", "my-wikipedia");
        assert_eq!(
            ep["subsets"][0]["addresses"],
            json!([{"ip": "91.198.174.192"}, {"ip": "198.35.26.96"}])
        );
        assert_eq!(
            ep["subsets"][0]["ports"][0]["name"],
            wiki["spec"]["ports"][0]["name"]
        );
        assert_eq!(
            find("DestinationRule", "my-wikipedia")["spec"]["trafficPolicy"]["tls"]["mode"],
            "DISABLE"
        );
    }
}

/// W05xx: the codes the emitter can give are the ones docs/diagnostics.md
/// documents, and the example policies show W0503 (the others: the size
/// test above).
#[test]
fn bundle_warnings_are_documented_and_shown() {
    // The emitter's codes, and W0504 from `compile --emit plugin-config`.
    let mut src = String::new();
    for dir in ["src/istio", "src/bin/egressc"] {
        for e in std::fs::read_dir(manifest_dir().join(dir)).unwrap() {
            src.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
    }
    let in_source: BTreeSet<&str> = src
        .match_indices("\"W05")
        .map(|(i, _)| &src[i + 1..i + 6])
        .collect();
    let docs = std::fs::read_to_string(manifest_dir().join("../docs/diagnostics.md")).unwrap();
    let in_docs: BTreeSet<&str> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .filter(|l| l.starts_with("W05"))
        .map(|l| &l[..5])
        .collect();
    assert_eq!(in_source, in_docs);
    let out = egressc(&[
        "istio",
        "policies/github.egress",
        "--attach",
        "egress-gateway",
        "--format",
        "json",
    ]);
    let codes: Vec<Value> = text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        codes
            .iter()
            .any(|c| c["code"] == "W0503" && c["location"]["line"] == 8),
        "{codes:?}"
    );
}
