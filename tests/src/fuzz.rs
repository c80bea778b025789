#![allow(
    clippy::panic,
    reason = "a fuzz target reports a finding by panicking: libFuzzer records the input"
)]

//! The fuzz targets, as plain functions of bytes: `fuzz/` runs them under
//! libFuzzer (coverage-guided, `make fuzz`), and `make test` runs them over
//! the committed corpora and every input that once failed
//! (tests/tests/hardening/corpus.rs), so a finding stays fixed.
//!
//! A target panics when it finds a bug: a panic or trap anywhere below it,
//! or a disagreement with an independent reading of the same input. The
//! targets:
//!
//! | target | input | checks |
//! |---|---|---|
//! | `source` | policy text, any bytes | compile and format never panic; a compiled table decodes and round-trips; formatting is idempotent and keeps the table |
//! | `policy` | a grammar-aware policy drawn from the bytes | as `source`, on text that gets past the parser |
//! | `table` | a binary table (length and CRC repaired, or raw) | the decoder never panics; what it accepts round-trips, and decides as [`crate::reference`] does |
//! | `plugin_config` | a pluginConfig (JSON envelope) | the reader never panics; the borrowed and in-place readers agree |
//! | `decide` | a generated policy and requests | [`egress_table::Table::decide`] equals [`crate::reference`] (verdicts, causes, audit, log) |
//! | `filter` | a generated policy (or arbitrary configuration bytes) and raw requests | the `.wasm` in the host never traps, and decides as `egressc explain` does |

use std::sync::atomic::{AtomicU64, Ordering};

use arbitrary::Unstructured;
use egress_table::request::{self, Reason, SniState};
use egress_table::spec::TableSpec;
use egress_table::{Cause, Decision, Table};

use crate::reference::{self, Reference};

/// A fuzz target: panics on a finding.
pub type Target = fn(&[u8]);

/// The targets by name, for the corpus replay and the command line.
pub const TARGETS: [(&str, Target); 6] = [
    ("source", source),
    ("policy", policy),
    ("table", table),
    ("plugin_config", plugin_config),
    ("decide", decide),
    ("filter", filter),
];

/// What the `decide` comparisons have seen so far in this process, so a
/// test can tell that they compare something: requests decided by a rule,
/// allowed, denied, and refused before any rule.
#[derive(Debug, Default)]
pub struct Seen {
    /// Decisions compared.
    pub compared: AtomicU64,
    /// Of which a rule decided (in the enforced pool).
    pub by_rule: AtomicU64,
    /// Of which allowed.
    pub allowed: AtomicU64,
    /// Of which refused before rules.
    pub refused: AtomicU64,
}

/// The counts of [`Seen`] for this process.
pub static SEEN: Seen = Seen {
    compared: AtomicU64::new(0),
    by_rule: AtomicU64::new(0),
    allowed: AtomicU64::new(0),
    refused: AtomicU64::new(0),
};

/// Inputs longer than this are cut: the targets look for logic errors, and
/// long inputs only slow the search (size limits have their own tests).
const MAX_INPUT: usize = 1 << 16;

// ---------------------------------------------------------------------------
// Targets.

/// Policy text: compile, render every diagnostic, format.
pub fn source(data: &[u8]) {
    let data = data.get(..MAX_INPUT).unwrap_or(data);
    check_source(&String::from_utf8_lossy(data));
}

/// A grammar-aware policy drawn from the bytes.
pub fn policy(data: &[u8]) {
    let mut u = Unstructured::new(data);
    if let Ok(text) = gen_policy(&mut u) {
        check_source(&text);
    }
}

/// A binary table. The first byte chooses: odd, the rest is decoded as it
/// is; even, its length field and CRC are repaired first, so that mutations
/// reach the sections behind the checksum.
pub fn table(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.get(..MAX_INPUT).unwrap_or(rest).to_vec();
    if mode % 2 == 0 {
        repair(&mut bytes);
    }
    let Ok(t) = Table::from_bytes(&bytes) else {
        return;
    };
    // The in-place loader accepts exactly the same tables.
    let owned = Table::from_vec(bytes.clone());
    assert!(owned.is_ok(), "from_bytes accepts what from_vec refuses");
    let spec = t.to_spec();
    if let Ok(again) = egress_table::format::encode(&spec) {
        let t2 = Table::from_bytes(&again).unwrap_or_else(|e| {
            panic!("a re-encoded decoded table does not decode: {e}");
        });
        assert_eq!(t2.to_spec(), spec, "decode(encode(spec)) changed the spec");
    }
    decide_fixed(&t, &spec);
}

/// Decides the fixed requests with a decoded table and with the reference.
/// A decoded spec carries each pattern's text but not its DFA, and in a
/// mutated table the two need not agree, so tables with templates or
/// regexes are only decided (the `decide` target covers patterns).
fn decide_fixed(t: &Table, spec: &TableSpec) {
    let patterns = spec
        .policies
        .iter()
        .flat_map(|p| &p.destinations)
        .flat_map(|d| &d.rules)
        .flat_map(|r| r.paths.iter().chain(&r.except_paths))
        .any(|p| matches!(p, egress_table::spec::PathSpec::Pattern { .. }));
    let reference = Reference::new(spec);
    for req in FIXED_REQUESTS {
        compare(t, &reference, &req.build(), !patterns);
    }
}

/// A pluginConfig: the JSON envelope and the base64 table.
pub fn plugin_config(data: &[u8]) {
    let data = data.get(..MAX_INPUT).unwrap_or(data);
    let borrowed = egress_table::plugin_config::decode(data);
    let owned = egress_table::plugin_config::decode_owned(data.to_vec());
    match (borrowed, owned) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.layer, b.layer, "the two readers disagree on the layer");
            assert_eq!(
                a.table, b.table,
                "the two readers disagree on the table bytes"
            );
            let Ok(t) = Table::from_vec(b.table) else {
                return;
            };
            decide_fixed(&t, &t.to_spec());
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "decode and decode_owned disagree: {:?} vs {:?}",
            a.map(|_| ()),
            b.map(|_| ())
        ),
    }
}

/// A generated policy and requests: the table decides as the reference.
pub fn decide(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok((text, names)) = gen_policy_naming(&mut u) else {
        return;
    };
    let Some((spec, bytes)) = compile(&text) else {
        return;
    };
    let t = match Table::from_bytes(&bytes) {
        Ok(t) => t,
        Err(e) => panic!("a compiled table does not decode: {e}\n{text}"),
    };
    let reference = Reference::new(&spec);
    // Requests until the input runs out (an exhausted input would only
    // repeat the generators' smallest choices).
    while !u.is_empty() {
        let Ok(req) = gen_raw_request(&mut u, &names) else {
            break;
        };
        let built = req.build();
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compare(&t, &reference, &built, true);
        }));
        if let Err(e) = ok {
            eprintln!("policy:\n{text}\nrequest: {req:?}");
            std::panic::resume_unwind(e);
        }
    }
}

/// The filter `.wasm` (wasm32-wasip1) in the local host: a generated
/// policy, or (first byte 0) arbitrary configuration bytes, then raw
/// requests as a client sends them. It never traps; with a table it
/// decides as `egressc explain`, with a refused configuration it denies.
pub fn filter(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(plugin) = crate::plugin("wasm32-wasip1") else {
        panic!("the filter .wasm is missing: run `make wasm`");
    };
    if data.first() == Some(&0) {
        let _ = u.bytes(1);
        let len = u.arbitrary_len::<u8>().unwrap_or(0);
        let config = u.bytes(len).unwrap_or(&[]);
        arbitrary_configuration(config);
        return;
    }
    let Ok((text, names)) = gen_policy_naming(&mut u) else {
        return;
    };
    let Some((spec, bytes)) = compile(&text) else {
        return;
    };
    let mut runner = match egressc::run::Runner::with_plugin(plugin, &bytes) {
        Ok(r) => r,
        Err(e) => panic!("the filter refused a compiled table: {e}\n{text}"),
    };
    let mode = crate::HostConfig::default().hcm.path_normalization;
    for _ in 0..4 {
        if u.is_empty() {
            break;
        }
        let Ok(req) = gen_sim_request(&mut u, &names) else {
            break;
        };
        let ran = match runner.run(&req) {
            Ok(r) => r,
            Err(e) => panic!("the filter failed on {}: {e}\n{text}", req.describe()),
        };
        let Ok(ex) = egressc::explain::explain(&spec, &req, mode) else {
            continue;
        };
        assert_eq!(
            ex.enforced.record,
            ran.record,
            "explain and the filter disagree on {} ({req:?})\n{text}",
            req.describe()
        );
        assert_eq!(
            ex.audit.as_ref().map(|a| &a.record),
            ran.audit.as_ref(),
            "audit verdicts differ on {}\n{text}",
            req.describe()
        );
    }
}

/// Arbitrary configuration bytes sent to a running filter: `on_configure`
/// never traps, and a refused configuration leaves the filter denying
/// (the host keeps serving it, as [`crate::HostConfig::serve_refused_plugins`]
/// lets the fault tests do).
fn arbitrary_configuration(config: &[u8]) {
    static PLUGIN: std::sync::OnceLock<Result<crate::Plugin, String>> = std::sync::OnceLock::new();
    let plugin = PLUGIN.get_or_init(|| {
        let cfg = crate::HostConfig {
            serve_refused_plugins: true,
            capture_logs: false,
            ..crate::HostConfig::default()
        };
        crate::filter_wasm("wasm32-wasip1")
            .and_then(|w| crate::Plugin::from_bytes(&w, cfg).map_err(|e| e.to_string()))
    });
    let plugin = match plugin {
        Ok(p) => p,
        Err(e) => panic!("the filter .wasm: {e}"),
    };
    let mut vm = match plugin.vm() {
        Ok(vm) => vm,
        Err(e) => panic!("cannot instantiate the filter: {e}"),
    };
    let started = vm.start(b"");
    assert!(matches!(started, Ok(true)), "on_vm_start: {started:?}");
    let configured = match vm.configure(config) {
        Ok(c) => c,
        Err(e) => panic!("on_configure trapped on {} bytes: {e}", config.len()),
    };
    let req = crate::HttpRequest::new("GET", "api.example.com", "/v1/x");
    let out = match vm.http(&req) {
        Ok(o) => o,
        Err(e) => panic!("on_request_headers trapped after configure: {e}"),
    };
    assert!(!vm.is_poisoned(), "the VM is poisoned");
    if !configured {
        assert_eq!(out.status, 403, "an unconfigured filter let a request pass");
    }
}

// ---------------------------------------------------------------------------
// Shared checks.

/// The spec and the encoded table of a policy, or `None` if it does not
/// compile. A compiled spec that does not encode is a finding.
fn compile(text: &str) -> Option<(TableSpec, Vec<u8>)> {
    let (_, outcome) = egressc::compile_str("fuzz.egress", text);
    let spec = outcome.compiled?.spec;
    match egress_table::format::encode(&spec) {
        Ok(bytes) => Some((spec, bytes)),
        Err(e) => panic!("a compiled spec does not encode: {e}\n{text}"),
    }
}

/// Compile (rendering every diagnostic), and for a compiled policy: the
/// table decodes and round-trips, and formatting is idempotent and keeps
/// the table.
fn check_source(text: &str) {
    let (sources, outcome) = egressc::compile_str("fuzz.egress", text);
    for d in &outcome.diagnostics {
        let human = egressc::diag::render(d, &sources);
        assert!(human.contains(d.code), "{human}");
        let json = egressc::diag::render_json(d, &sources);
        assert!(
            serde_json::from_str::<serde_json::Value>(&json).is_ok(),
            "diagnostic JSON does not parse: {json}"
        );
    }
    let formatted = egressc::fmt::format_source(text);
    let Some(compiled) = outcome.compiled else {
        return;
    };
    let spec = compiled.spec;
    let bytes = egress_table::format::encode(&spec)
        .unwrap_or_else(|e| panic!("a compiled spec does not encode: {e}\n{text}"));
    let t = Table::from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("a compiled table does not decode: {e}\n{text}"));
    assert_eq!(
        t.to_spec(),
        spec.canonical(),
        "the table does not round-trip\n{text}"
    );
    let Ok(formatted) = formatted else {
        panic!("a policy that compiles does not format\n{text}");
    };
    let again = egressc::fmt::format_source(&formatted)
        .unwrap_or_else(|e| panic!("formatted text does not parse: {e:?}\n{formatted}"));
    assert_eq!(again, formatted, "formatting is not idempotent\n{text}");
    let Some((mut spec2, _)) = compile(&formatted) else {
        panic!("formatted text does not compile\n{text}\n---\n{formatted}");
    };
    let mut spec = spec;
    for s in [&mut spec, &mut spec2] {
        for r in s
            .policies
            .iter_mut()
            .flat_map(|p| &mut p.destinations)
            .flat_map(|d| &mut d.rules)
        {
            r.line = 0;
        }
    }
    assert_eq!(spec, spec2, "formatting changed the table\n{text}");
}

/// Sets a table's body length and CRC to what its bytes say.
fn repair(bytes: &mut Vec<u8>) {
    if bytes.len() < 20 {
        return;
    }
    let body = bytes.len() - 20;
    bytes.truncate(16 + body);
    if let Some(len) = bytes.get_mut(12..16) {
        len.copy_from_slice(&u32::try_from(body).unwrap_or(u32::MAX).to_le_bytes());
    }
    let crc = egress_table::crc::crc32c(bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
}

/// Decides `req` with the table and the reference; with `check`, the two
/// decisions must be equal.
fn compare(t: &Table, r: &Reference<'_>, req: &Built, check: bool) {
    let (got, want) = match req {
        Built::Refused(reason) => (t.reject(*reason), r.reject(*reason)),
        Built::Request(rq) => {
            let headers: Vec<(&[u8], &[u8])> = rq
                .headers
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                .collect();
            let method = if rq.kind == reference::Kind::Http {
                match request::Method::parse(&rq.method) {
                    Ok(m) => m,
                    Err(reason) => {
                        let (a, b) = (t.reject(reason), r.reject(reason));
                        if check {
                            assert_same(t, r, &a, &b, req);
                        }
                        return;
                    }
                }
            } else {
                request::Method::OTHER
            };
            let table_req = egress_table::Request {
                kind: match rq.kind {
                    reference::Kind::Http => egress_table::Kind::Http,
                    reference::Kind::Tls => egress_table::Kind::Tls,
                    reference::Kind::Tcp => egress_table::Kind::Tcp,
                },
                host: &rq.host,
                port: rq.port,
                method,
                path: rq.path.as_deref(),
                principal: rq.principal.as_deref(),
                sni: match &rq.sni {
                    reference::Sni::Absent => egress_table::Sni::Absent,
                    reference::Sni::Invalid => egress_table::Sni::Invalid,
                    reference::Sni::Name(n) => egress_table::Sni::Name(n),
                },
                dst_ip: rq.dst_ip,
                headers: &headers,
            };
            (t.decide(&table_req), r.decide(rq))
        }
    };
    if check {
        assert_same(t, r, &got, &want, req);
        let count = |c: &AtomicU64, yes: bool| {
            c.fetch_add(u64::from(yes), Ordering::Relaxed);
        };
        count(&SEEN.compared, true);
        count(&SEEN.by_rule, matches!(got.enforced.cause, Cause::Rule(_)));
        count(&SEEN.allowed, got.allowed());
        count(
            &SEEN.refused,
            matches!(got.enforced.cause, Cause::Invalid(_)),
        );
    }
}

fn assert_same(
    t: &Table,
    r: &Reference<'_>,
    got: &Decision,
    want: &reference::Decision,
    req: &Built,
) {
    let verdict = |v: &egress_table::Verdict| reference::Verdict {
        action: v.action,
        cause: match v.cause {
            Cause::Rule(i) => reference::Cause::Rule(i as usize),
            Cause::Default(p) => reference::Cause::Default(p as usize),
            Cause::Invalid(reason) => reference::Cause::Invalid(reason),
            Cause::NoPolicy => reference::Cause::NoPolicy,
        },
    };
    let got = reference::Decision {
        enforced: verdict(&got.enforced),
        audit: got.audit.as_ref().map(verdict),
        log: got.log,
    };
    if got != *want {
        let name = |v: &reference::Verdict| match v.cause {
            reference::Cause::Rule(i) => format!(
                "{} by {} (table: {})",
                v.action.as_str(),
                r.rule_id(i).unwrap_or_default(),
                t.rule_id(u32::try_from(i).unwrap_or(u32::MAX))
            ),
            c => format!("{} ({c:?})", v.action.as_str()),
        };
        panic!(
            "the table and the reference disagree on {req:?}:\n  table:     {} / audit {:?} / log {}\n  reference: {} / audit {:?} / log {}",
            name(&got.enforced),
            got.audit.as_ref().map(name),
            got.log,
            name(&want.enforced),
            want.audit.as_ref().map(name),
            want.log,
        );
    }
}

// ---------------------------------------------------------------------------
// Requests.

/// A request before normalisation, as generated.
#[derive(Debug, Clone)]
pub struct RawRequest {
    kind: reference::Kind,
    /// `:authority` (HTTP) or SNI (TLS).
    authority: Vec<u8>,
    /// A second `host` header.
    second_host: Option<Vec<u8>>,
    connection_port: Option<u16>,
    https: bool,
    method: Vec<u8>,
    path: Option<Vec<u8>>,
    principal: Option<Vec<u8>>,
    sni: Option<Vec<u8>>,
    dst_ip: Option<std::net::IpAddr>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A request normalised as the filter does, or refused.
#[derive(Debug)]
pub enum Built {
    /// Normalised.
    Request(reference::Request),
    /// Refused before rules.
    Refused(Reason),
}

impl RawRequest {
    /// Normalises it with the table crate's request functions (the same
    /// ones the filter calls).
    fn build(&self) -> Built {
        let principal = self
            .principal
            .as_deref()
            .map(|p| request::normalize_principal(p).to_vec());
        match self.kind {
            reference::Kind::Http => {
                let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![
                    (b":authority".to_vec(), self.authority.clone()),
                    (b":method".to_vec(), self.method.clone()),
                    (
                        b":scheme".to_vec(),
                        if self.https {
                            b"https".to_vec()
                        } else {
                            b"http".to_vec()
                        },
                    ),
                ];
                if let Some(p) = &self.path {
                    pairs.push((b":path".to_vec(), p.clone()));
                }
                if let Some(h) = &self.second_host {
                    pairs.push((b"host".to_vec(), h.clone()));
                }
                pairs.extend(self.headers.iter().cloned());
                let borrowed: Vec<(&[u8], &[u8])> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_slice(), v.as_slice()))
                    .collect();
                let view = request::scan_headers(&borrowed, None);
                let n = match request::normalize_http(
                    &view,
                    self.connection_port,
                    egress_table::plugin_config::DEFAULT_MAX_PATH_BYTES,
                ) {
                    Ok(n) => n,
                    Err(reason) => return Built::Refused(reason),
                };
                let sni = match SniState::from_raw(self.sni.as_deref()) {
                    SniState::Absent => reference::Sni::Absent,
                    SniState::Invalid => reference::Sni::Invalid,
                    SniState::Valid(h) => reference::Sni::Name(h.as_bytes().to_vec()),
                };
                let (method, path) = (
                    view.method.unwrap_or(b"").to_vec(),
                    n.path.map(<[u8]>::to_vec),
                );
                Built::Request(reference::Request {
                    kind: reference::Kind::Http,
                    host: n.host.as_bytes().to_vec(),
                    port: n.port,
                    method,
                    path,
                    principal,
                    sni,
                    dst_ip: None,
                    headers: pairs,
                })
            }
            kind => {
                let host = if kind == reference::Kind::Tls {
                    match SniState::from_raw(Some(&self.authority)) {
                        SniState::Valid(h) => h.as_bytes().to_vec(),
                        SniState::Invalid => return Built::Refused(Reason::InvalidSni),
                        SniState::Absent => Vec::new(),
                    }
                } else {
                    Vec::new()
                };
                let kind = if kind == reference::Kind::Tls && host.is_empty() {
                    reference::Kind::Tcp
                } else {
                    kind
                };
                if kind == reference::Kind::Tcp && self.dst_ip.is_none() {
                    return Built::Refused(Reason::NoDestination);
                }
                Built::Request(reference::Request {
                    kind,
                    host,
                    port: self.connection_port.unwrap_or(443),
                    method: Vec::new(),
                    path: None,
                    principal,
                    sni: reference::Sni::Absent,
                    dst_ip: self.dst_ip,
                    headers: Vec::new(),
                })
            }
        }
    }
}

/// A few fixed requests for the targets whose input is a table.
struct Fixed {
    kind: reference::Kind,
    authority: &'static str,
    method: &'static str,
    path: &'static str,
    principal: Option<&'static str>,
    ip: Option<&'static str>,
    port: u16,
}

impl Fixed {
    fn build(&self) -> Built {
        RawRequest {
            kind: self.kind,
            authority: self.authority.as_bytes().to_vec(),
            second_host: None,
            connection_port: Some(self.port),
            https: false,
            method: self.method.as_bytes().to_vec(),
            path: Some(self.path.as_bytes().to_vec()),
            principal: self.principal.map(|p| p.as_bytes().to_vec()),
            sni: None,
            dst_ip: self.ip.and_then(|i| i.parse().ok()),
            headers: vec![(b"x-tenant".to_vec(), b"acme".to_vec())],
        }
        .build()
    }
}

const FIXED_REQUESTS: [Fixed; 6] = [
    Fixed {
        kind: reference::Kind::Http,
        authority: "httpbin.org",
        method: "GET",
        path: "/get",
        principal: None,
        ip: None,
        port: 80,
    },
    Fixed {
        kind: reference::Kind::Http,
        authority: "api.example.com",
        method: "POST",
        path: "/v1/sa%3AsignBlob",
        principal: Some("cluster.local/ns/default/sa/admin"),
        ip: None,
        port: 80,
    },
    Fixed {
        kind: reference::Kind::Http,
        authority: "a.b.example.com",
        method: "PURGE",
        path: "/v1/x/items",
        principal: Some("cluster.local/ns/payments/sa/api"),
        ip: None,
        port: 8080,
    },
    Fixed {
        kind: reference::Kind::Tls,
        authority: "github.com",
        method: "",
        path: "",
        principal: None,
        ip: Some("140.82.121.4"),
        port: 443,
    },
    Fixed {
        kind: reference::Kind::Tcp,
        authority: "",
        method: "",
        path: "",
        principal: None,
        ip: Some("10.1.2.3"),
        port: 22,
    },
    Fixed {
        kind: reference::Kind::Tcp,
        authority: "",
        method: "",
        path: "",
        principal: None,
        ip: Some("::ffff:10.1.2.3"),
        port: 443,
    },
];

// ---------------------------------------------------------------------------
// Generators: policies and requests over one small vocabulary, so that
// requests hit what the policies name.

type G<T> = arbitrary::Result<T>;

fn pick<'a>(u: &mut Unstructured<'_>, items: &[&'a str]) -> G<&'a str> {
    u.choose(items).copied()
}

const HOSTS: [&str; 12] = [
    "api.example.com",
    "a.example.com",
    "b.a.example.com",
    "example.com",
    "httpbin.org",
    "github.com",
    "files.pythonhosted.org",
    "localhost",
    "10.1.2.3",
    "2001:db8::1",
    "xn--bcher-kva.example",
    "Api.Example.COM.",
];
const HOST_PATTERNS: [&str; 6] = [
    "*.example.com",
    "**.example.com",
    "*",
    "**",
    "*.a.example.com",
    "**.org",
];
const CIDRS: [&str; 6] = [
    "10.0.0.0/8",
    "10.1.2.3/32",
    "140.82.112.0/20",
    "\"::/0\"",
    "\"2001:db8::/32\"",
    "\"::ffff:10.0.0.0/104\"",
];
const PORTS: [&str; 7] = [
    "80",
    "443",
    "8080",
    "22",
    "8000-9000",
    "80, 8080",
    "1-65535",
];
const METHODS: [&str; 10] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "GET, POST",
];
const PATHS: [&str; 16] = [
    "\"/\"",
    "\"/get\"",
    "\"/v1/sa:signBlob\"",
    "\"/v1/sa%3AsignBlob\"",
    "prefix \"/v1/\"",
    "prefix \"/admin\"",
    "suffix \".json\"",
    "suffix \"/\"",
    "\"/v1/{*}/items\"",
    "\"/v1/{**}\"",
    "\"/files/{**}.json\"",
    "\"/{*}/x\"",
    "~\"^/v2/items/[0-9]+$\"",
    "~\"/(a|b)+/c\"",
    "\"/q/a|b\"",
    "\"/caf\u{e9}\"",
];
const PRINCIPALS: [&str; 8] = [
    "principal \"cluster.local/ns/default/sa/admin\"",
    "principal \"spiffe://other.domain/ns/default/sa/admin\"",
    "principal \"*\"",
    "namespace \"payments\"",
    "namespace \"default\"",
    "serviceaccount \"ci/builder\"",
    "serviceaccount \"default/admin\"",
    "namespace \"payments\", principal \"cluster.local/ns/ops/sa/oncall\"",
];
const HEADER_NAMES: [&str; 4] = ["x-tenant", "x-debug", "user-agent", "x-api-key"];
const HEADER_OPS: [&str; 8] = [
    "present",
    "absent",
    "== \"acme\"",
    "!= \"1\"",
    "prefix \"ac\"",
    "not prefix \"ev\"",
    "suffix \"me\"",
    "not suffix \"-internal\"",
];

/// A policy file with one to three policies.
pub fn gen_policy(u: &mut Unstructured<'_>) -> G<String> {
    gen_policy_naming(u).map(|(text, _)| text)
}

/// A policy file, and host names its destinations match (for requests).
fn gen_policy_naming(u: &mut Unstructured<'_>) -> G<(String, Vec<String>)> {
    let mut names = Vec::new();
    let mut out = String::new();
    let n = u.int_in_range(1..=3)?;
    for i in 0..n {
        out.push_str(&format!("policy \"p{i}\" {{\n"));
        if u.ratio(1, 4)? {
            out.push_str("  mode audit\n");
        }
        out.push_str(if u.ratio(1, 3)? {
            "  default allow\n"
        } else {
            "  default deny\n"
        });
        out.push_str(&format!("  log {}\n", pick(u, &["none", "denied", "all"])?));
        if u.ratio(1, 5)? {
            out.push_str("  require sni-host-match\n");
        }
        for _ in 0..u.int_in_range(1..=4)? {
            gen_destination(u, &mut out, &mut names)?;
        }
        out.push_str("}\n");
    }
    Ok((out, names))
}

fn gen_destination(u: &mut Unstructured<'_>, out: &mut String, names: &mut Vec<String>) -> G<()> {
    let proto = pick(u, &["http", "http", "tls", "tcp"])?;
    let targets = if proto == "tcp" {
        let mut t = Vec::new();
        for _ in 0..u.int_in_range(1..=2)? {
            t.push(pick(u, &CIDRS)?.to_owned());
        }
        format!("cidr {}", t.join(", "))
    } else {
        let mut t = Vec::new();
        for _ in 0..u.int_in_range(1..=2)? {
            let h = if u.ratio(1, 3)? {
                pick(u, &HOST_PATTERNS)?
            } else {
                pick(u, &HOSTS)?
            };
            t.push(format!("\"{h}\""));
            // A name the pattern matches.
            names.push(match h {
                "*" => "w".to_owned(),
                "**" => "w.v".to_owned(),
                _ => h.replacen("**", "w.v", 1).replacen('*', "w", 1),
            });
        }
        t.join(", ")
    };
    out.push_str(&format!("  destination {targets}"));
    if proto == "tcp" || u.ratio(1, 2)? {
        out.push_str(&format!(" port {}", pick(u, &PORTS)?));
    }
    out.push_str(&format!(" {proto}"));
    if proto != "http" && u.ratio(1, 2)? {
        out.push('\n');
        return Ok(());
    }
    if u.ratio(1, 6)? {
        out.push('\n');
        return Ok(());
    }
    out.push_str(" {\n");
    for _ in 0..u.int_in_range(0..=5)? {
        gen_rule(u, proto, out)?;
    }
    if u.ratio(1, 6)? {
        out.push_str("    otherwise deny\n");
    }
    out.push_str("  }\n");
    Ok(())
}

fn list(u: &mut Unstructured<'_>, items: &[&str], max: usize) -> G<String> {
    let mut v = Vec::new();
    for _ in 0..u.int_in_range(1..=max)? {
        v.push(pick(u, items)?);
    }
    Ok(v.join(", "))
}

fn gen_rule(u: &mut Unstructured<'_>, proto: &str, out: &mut String) -> G<()> {
    let action = if u.ratio(2, 5)? { "deny" } else { "allow" };
    out.push_str(&format!("    {action}"));
    let http = proto == "http";
    if http {
        match u.int_in_range(0..=3)? {
            0 => out.push_str(" any"),
            1 => out.push_str(&format!(" any except {}", list(u, &METHODS, 2)?)),
            _ => out.push_str(&format!(" {}", list(u, &METHODS, 2)?)),
        }
        if u.ratio(1, 2)? {
            out.push_str(&format!(" path {}", list(u, &PATHS, 2)?));
        }
        if u.ratio(1, 5)? {
            out.push_str(&format!(" except path {}", list(u, &PATHS, 2)?));
        }
    } else {
        out.push_str(" any");
    }
    if u.ratio(1, 3)? {
        out.push_str(&format!(" from {}", pick(u, &PRINCIPALS)?));
    }
    if u.ratio(1, 6)? {
        out.push_str(&format!(" except from {}", pick(u, &PRINCIPALS)?));
    }
    if http && u.ratio(1, 3)? {
        let mut conds = Vec::new();
        for _ in 0..u.int_in_range(1..=2)? {
            conds.push(format!(
                "header \"{}\" {}",
                pick(u, &HEADER_NAMES)?,
                pick(u, &HEADER_OPS)?
            ));
        }
        out.push_str(&format!(" when {}", conds.join(" and ")));
    }
    out.push('\n');
    Ok(())
}

const REQ_PATHS: [&str; 18] = [
    "/",
    "/get",
    "/get?x=1",
    "/v1/sa:signBlob",
    "/v1/sa%3AsignBlob",
    "/v1/sa%3asignBlob",
    "/v1/x/items",
    "/v1/",
    "/admin/x",
    "/adminx",
    "/files/a/b.json",
    "/v2/items/123",
    "/v2/items/12x",
    "/a/b/a/c",
    "/q/a%7Cb",
    "/caf%C3%A9",
    "/x",
    "/b/a/c",
];
const REQ_HEADERS: [(&str, &str); 10] = [
    ("x-tenant", "acme"),
    ("x-tenant", "evil"),
    ("x-tenant", "acme, evil"),
    ("x_tenant", "acme"),
    ("X-Debug", "1"),
    ("x-debug", "0,1"),
    ("user-agent", "acme-internal"),
    ("x-api-key", ""),
    ("x-tenant", " acme ,acme"),
    ("x-debug", "\u{ff}"),
];
const REQ_PRINCIPALS: [&str; 6] = [
    "cluster.local/ns/default/sa/admin",
    "spiffe://cluster.local/ns/payments/sa/api",
    "other.domain/ns/default/sa/admin",
    "cluster.local/ns/ci/sa/builder",
    "cluster.local/ns/ops/sa/oncall",
    "",
];
const REQ_IPS: [&str; 6] = [
    "10.1.2.3",
    "10.9.9.9",
    "140.82.121.4",
    "::ffff:10.1.2.3",
    "2001:db8::1",
    "8.8.8.8",
];

/// A request; its host is often one of `names` (what the policy matches).
fn gen_raw_request(u: &mut Unstructured<'_>, names: &[String]) -> G<RawRequest> {
    let kind = *u.choose(&[
        reference::Kind::Http,
        reference::Kind::Http,
        reference::Kind::Http,
        reference::Kind::Tls,
        reference::Kind::Tcp,
    ])?;
    let host = match u.int_in_range(0..=3)? {
        0 | 1 if !names.is_empty() => u.choose(names)?.as_str(),
        // Names only wildcards match.
        0 => pick(
            u,
            &[
                "x.example.com",
                "x.y.example.com",
                "q.a.example.com",
                "pypi.org",
                "evil.com",
            ],
        )?,
        _ => pick(u, &HOSTS)?,
    };
    // Mostly well-formed requests to the ports destinations use, so that
    // rules decide; now and then a form the filter refuses.
    let authority = match u.int_in_range(0..=11)? {
        0 => format!("{host}:{}", pick(u, &["80", "443", "8080", ""])?),
        1 if host.contains(':') => format!("[{host}]"),
        1 => format!("user@{host}"),
        _ => host.to_owned(),
    };
    let mut headers = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let (k, v) = *u.choose(&REQ_HEADERS)?;
        headers.push((k.as_bytes().to_vec(), v.as_bytes().to_vec()));
    }
    let method = pick(
        u,
        &[
            "GET", "GET", "GET", "POST", "POST", "DELETE", "CONNECT", "PURGE", "HEAD", "PUT",
            "OPTIONS", "get",
        ],
    )?;
    let usual = match kind {
        reference::Kind::Http => 80,
        reference::Kind::Tls => 443,
        reference::Kind::Tcp => 22,
    };
    Ok(RawRequest {
        kind,
        authority: authority.into_bytes(),
        second_host: if u.ratio(1, 20)? {
            Some(pick(u, &HOSTS)?.as_bytes().to_vec())
        } else {
            None
        },
        connection_port: match u.int_in_range(0..=9)? {
            0 => None,
            1..=3 => Some(*u.choose(&[80u16, 443, 8080, 22, 8500])?),
            _ => Some(usual),
        },
        https: u.ratio(1, 4)?,
        method: method.as_bytes().to_vec(),
        path: if method == "CONNECT" && u.ratio(1, 2)? {
            None
        } else if u.ratio(1, 10)? {
            Some(
                pick(u, &["/a/../get", "/a;b", "//x", "/%2e%2e/get"])?
                    .as_bytes()
                    .to_vec(),
            )
        } else {
            Some(pick(u, &REQ_PATHS)?.as_bytes().to_vec())
        },
        principal: if u.ratio(1, 2)? {
            Some(pick(u, &REQ_PRINCIPALS)?.as_bytes().to_vec())
        } else {
            None
        },
        sni: if u.ratio(1, 4)? {
            Some(pick(u, &HOSTS)?.as_bytes().to_vec())
        } else {
            None
        },
        dst_ip: if kind == reference::Kind::Http || u.ratio(1, 6)? {
            None
        } else {
            pick(u, &REQ_IPS)?.parse().ok()
        },
        headers,
    })
}

/// The same vocabulary as a request for `egressc simulate`.
fn gen_sim_request(u: &mut Unstructured<'_>, names: &[String]) -> G<egressc::sim::SimRequest> {
    let raw = gen_raw_request(u, names)?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(match raw.kind {
        reference::Kind::Http => egressc::sim::SimRequest {
            method: Some(text(&raw.method)),
            host: Some(text(&raw.authority)),
            port: raw.connection_port,
            path: raw.path.as_deref().map(text),
            scheme: Some(if raw.https { "https" } else { "http" }.to_owned()),
            principal: raw.principal.as_deref().map(text),
            headers: raw
                .headers
                .iter()
                .map(|(k, v)| (text(k), v.clone()))
                .collect(),
            sni: raw.sni.as_deref().map(text),
            destination: None,
        },
        _ => egressc::sim::SimRequest {
            sni: (raw.kind == reference::Kind::Tls).then(|| text(&raw.authority)),
            destination: raw.dst_ip,
            port: Some(raw.connection_port.unwrap_or(443)),
            principal: raw.principal.as_deref().map(text),
            ..egressc::sim::SimRequest::default()
        },
    })
}
