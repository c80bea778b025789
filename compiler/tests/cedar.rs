//! Cedar as an independent oracle (docs/cedar.md, issue 13).
//!
//! Every policy set here is exported with `egressc::cedar::export`, strictly
//! validated by the real `cedar-policy` crate, and each request is decided
//! twice: by the filter's decision path on the compiled table
//! (`egressc::explain`, which runs Envoy's connection-manager emulation and
//! then `egress_table::proxy`, the code the filter runs) and by Cedar's
//! authorizer on the exported policies (`egressc::cedar::oracle`). The two
//! verdicts — decision, deciding policy, deciding rule and reason, for the
//! enforced pool and the audit pool — must be equal.
//!
//! - `example_policies_agree_with_cedar`: every `policies/*.egress` and
//!   `tests/cases/valid/*.egress` file exports, validates, and agrees with
//!   Cedar on its own test blocks (which must also pass).
//! - `differential`: random policies in the whole language and random
//!   requests biased toward near misses. `make test` runs it from a fixed
//!   seed with [`CASES`] cases; `make fuzz` runs `FUZZ_CASES` from fresh
//!   seeds (`PROPTEST_CASES` sets the count). A disagreement is shrunk and
//!   printed as the policy text and the request.
//! - `regressions`: the disagreements the property test found, kept.

#![cfg(feature = "cedar")]
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use egress_hcm::PathNormalization;
use egress_table::record::Record;
use egressc::Sources;
use egressc::cedar::oracle::Oracle;
use egressc::run::Runner;
use egressc::sim::SimRequest;
use proptest::prelude::*;
use std::sync::LazyLock;

/// The differential test's case count in `make test`.
const CASES: u32 = 256;

/// The case count of the sample that also runs through the real `.wasm`
/// in `make test`; under `PROPTEST_CASES=N` it runs N/20 (a case through
/// the host costs about twenty native ones).
const WASM_CASES: u32 = 48;

/// One request's verdicts: (enforced, audit), or `None` when the proxy
/// refuses the request before any filter runs.
type Verdicts = Option<(Record, Option<Record>)>;

/// The filter's verdicts, on the compiled table.
fn native(spec: &egress_table::spec::TableSpec, req: &SimRequest) -> Verdicts {
    let e = egressc::explain::explain(spec, req, PathNormalization::Base)
        .expect("a compiled spec always encodes");
    if e.enforced.record.reason == "proxy-rejected" {
        return None;
    }
    Some((e.enforced.record, e.audit.map(|a| a.record)))
}

/// Cedar's verdicts, on the export.
fn cedar(oracle: &Oracle, req: &SimRequest) -> Result<Verdicts, String> {
    Ok(oracle
        .decide_sim(req, PathNormalization::Base)?
        .map(|o| (o.enforced.record, o.audit.map(|a| a.record))))
}

/// Compiles `text`, exports it and builds the oracle (which strictly
/// validates the export). `None` when the text does not compile.
fn prepare(name: &str, text: &str) -> Option<(egressc::Compiled, Oracle, egressc::cedar::Export)> {
    let (sources, outcome) = egressc::compile_str(name, text);
    let compiled = outcome.compiled?;
    let export = match egressc::cedar::export(&compiled, &sources) {
        Ok(e) => e,
        Err(d) => panic!(
            "the export refused a policy that compiles:\n{}\n{text}",
            d.iter()
                .map(|d| egressc::diag::render(d, &sources))
                .collect::<String>()
        ),
    };
    let oracle = Oracle::new(&export).unwrap_or_else(|e| {
        panic!(
            "the export does not validate: {e}\n--- policy\n{text}\n--- policies.cedar\n{}",
            export.policies
        )
    });
    Some((compiled, oracle, export))
}

/// Decides `req` both ways; a disagreement is an error naming both.
fn agree(
    compiled: &egressc::Compiled,
    oracle: &Oracle,
    req: &SimRequest,
) -> Result<Verdicts, String> {
    let ours = native(&compiled.spec, req);
    let theirs = cedar(oracle, req)?;
    if ours == theirs {
        Ok(ours)
    } else {
        Err(format!(
            "the filter and Cedar disagree on {}\n  {req:?}\n  filter: {ours:?}\n  cedar:  {theirs:?}",
            req.describe()
        ))
    }
}

fn egress_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "egress"))
        .collect();
    files.sort();
    files
}

#[test]
fn example_policies_agree_with_cedar() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = egress_files(&root.join("../policies"));
    files.extend(egress_files(&root.join("tests/cases/valid")));
    let mut cases = 0;
    let mut exported = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.display().to_string();
        let mut sources = Sources::new();
        sources.add(&name, &text);
        let outcome = egressc::compile_with(&sources, &egressc::Options { allow_empty: true });
        let Some(compiled) = outcome.compiled else {
            panic!("{name} does not compile");
        };
        let export = egressc::cedar::export(&compiled, &sources)
            .unwrap_or_else(|_| panic!("{name}: the export refused it"));
        let oracle = Oracle::new(&export).unwrap_or_else(|e| panic!("{name}: {e}"));
        exported += 1;
        for t in compiled.checked.policies.iter().flat_map(|p| &p.tests) {
            for case in &t.cases {
                let verdicts = agree(&compiled, &oracle, &case.request)
                    .unwrap_or_else(|e| panic!("{name}, test {:?}: {e}", t.name));
                let (enforced, audit) = verdicts
                    .map_or((egress_table::spec::Action::Deny, None), |(e, a)| {
                        (e.decision, a.map(|a| a.decision))
                    });
                assert_eq!(enforced, case.expect, "{name}: {}", case.request.describe());
                if let Some(want) = case.expect_audit {
                    assert_eq!(audit, Some(want), "{name}: {}", case.request.describe());
                }
                cases += 1;
            }
        }
    }
    assert!(exported >= 9, "only {exported} policy files exported");
    assert!(cases >= 100, "only {cases} test cases ran through Cedar");
}

// ---- the generator -------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Http,
    Tls,
    Tcp,
}

#[derive(Debug, Clone)]
struct Rule {
    allow: bool,
    methods: &'static str,
    paths: Vec<&'static str>,
    except_paths: Vec<&'static str>,
    from: Vec<&'static str>,
    except_from: Vec<&'static str>,
    headers: Vec<&'static str>,
}

#[derive(Debug, Clone)]
struct Dest {
    proto: Proto,
    hosts: Vec<&'static str>,
    cidrs: Vec<&'static str>,
    ports: &'static str,
    rules: Vec<Rule>,
    otherwise: bool,
}

#[derive(Debug, Clone)]
struct Policy {
    audit: bool,
    default_allow: bool,
    sni_host_match: bool,
    dests: Vec<Dest>,
}

const HOSTS: &[&str] = &[
    "api.example.com",
    "example.com",
    "*.example.com",
    "**.example.com",
    "a.b.example.com",
    "localhost",
    "*",
    "**",
    "10.0.0.1",
    "[2001:db8::1]",
    "x.example.org",
];
const CIDRS: &[&str] = &[
    "10.0.0.0/8",
    "10.1.2.3",
    "192.168.0.0/16",
    "\"::/0\"",
    "\"::ffff:10.0.0.0/104\"",
    "\"2001:db8::/32\"",
];
const PORTS: &[&str] = &["port 80", "port 80, 8080", "port 8000-8999", "port 443", ""];
const METHODS: &[&str] = &[
    "",
    "any",
    "GET",
    "GET, HEAD",
    "POST",
    "CONNECT",
    "DELETE, PUT, PATCH",
    "any except GET, HEAD",
    "any except CONNECT",
    "OPTIONS, TRACE",
];
const PATHS: &[&str] = &[
    "\"/a\"",
    "\"/\"",
    "prefix \"/a/\"",
    "prefix \"/A\"",
    "suffix \".json\"",
    "suffix \"/b\"",
    "\"/a/{*}/b\"",
    "\"/a/{*}\"",
    "\"/a/{**}\"",
    "\"/a/{**}.json\"",
    "\"/a:b\"",
    "\"/a%3Ab\"",
    "~\"/a/[0-9]+\"",
    "~\"/(a|b)/.*\"",
    "\"/q/a|b\"",
    "\"/a*/{**}\"",
];
const SOURCES: &[&str] = &[
    "principal \"cluster.local/ns/a/sa/x\"",
    "principal \"spiffe://other.td/ns/a/sa/y\"",
    "namespace \"a\"",
    "namespace \"ab\"",
    "serviceaccount \"a/x\"",
    "serviceaccount \"b/x\"",
    "principal \"*\"",
];
const HEADERS: &[&str] = &[
    "header \"x-t\" present",
    "header \"x-t\" absent",
    "header \"x_t\" present",
    "header \"x-t\" == \"1\"",
    "header \"x-t\" != \"1\"",
    "header \"x-t\" == \"acme\"",
    "header \"x-t\" prefix \"ac\"",
    "header \"x-t\" suffix \"-internal\"",
    "header \"x-t\" not prefix \"ac\"",
    "header \"x-t\" not suffix \"me\"",
    "header \"x-u\" == \"a, b\"",
    "header \"x-u\" absent",
    "header \"x-t\" prefix \"caf\\xc3\"",
    "header \"x-t\" == \"a*\"",
];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = &'static str> + Clone {
    proptest::sample::select(list)
}

fn some(list: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(list, 0..=max)
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        any::<bool>(),
        pick(METHODS),
        prop_oneof![3 => Just(Vec::new()), 2 => some(PATHS, 2)],
        prop_oneof![4 => Just(Vec::new()), 1 => some(PATHS, 2)],
        prop_oneof![3 => Just(Vec::new()), 2 => some(SOURCES, 2)],
        prop_oneof![4 => Just(Vec::new()), 1 => some(SOURCES, 2)],
        prop_oneof![3 => Just(Vec::new()), 2 => some(HEADERS, 2)],
    )
        .prop_map(
            |(allow, methods, paths, except_paths, from, except_from, headers)| Rule {
                allow,
                methods,
                paths,
                except_paths,
                from,
                except_from,
                headers,
            },
        )
}

fn dest() -> impl Strategy<Value = Dest> {
    (
        prop_oneof![6 => Just(Proto::Http), 2 => Just(Proto::Tls), 2 => Just(Proto::Tcp)],
        proptest::sample::subsequence(HOSTS, 1..=3),
        proptest::sample::subsequence(CIDRS, 1..=2),
        pick(PORTS),
        proptest::collection::vec(rule(), 0..=4),
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(proto, hosts, cidrs, ports, rules, otherwise)| Dest {
            proto,
            hosts,
            cidrs,
            ports,
            rules,
            otherwise,
        })
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        proptest::bool::weighted(0.25),
        any::<bool>(),
        proptest::bool::weighted(0.2),
        proptest::collection::vec(dest(), 1..=3),
    )
        .prop_map(|(audit, default_allow, sni_host_match, dests)| Policy {
            audit,
            default_allow,
            sni_host_match,
            dests,
        })
}

/// A list with its kind keywords (`from namespace "a", principal "b"`).
fn list(items: &[&str]) -> String {
    items.join(", ")
}

/// The policy set as source text.
fn render(policies: &[Policy]) -> String {
    let mut out = String::new();
    for (i, p) in policies.iter().enumerate() {
        out += &format!("policy \"p{i}\" {{\n");
        if p.audit {
            out += "  mode audit\n";
        }
        out += if p.default_allow {
            "  default allow\n"
        } else {
            "  default deny\n"
        };
        if p.sni_host_match {
            out += "  require sni-host-match\n";
        }
        for d in &p.dests {
            let targets = match d.proto {
                Proto::Tcp => format!("cidr {}", list(&d.cidrs)),
                _ => d
                    .hosts
                    .iter()
                    .map(|h| format!("{h:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let proto = match d.proto {
                Proto::Http => "http",
                Proto::Tls => "tls",
                Proto::Tcp => "tcp",
            };
            // A tcp destination needs a port.
            let ports = match (d.proto, d.ports) {
                (Proto::Tcp, "") => "port 22",
                (_, p) => p,
            };
            out += &format!("  destination {targets} {ports} {proto} {{\n");
            for r in &d.rules {
                let mut line = String::from(if r.allow { "    allow" } else { "    deny" });
                if d.proto == Proto::Http {
                    if !r.methods.is_empty() {
                        line += &format!(" {}", r.methods);
                    }
                    if !r.paths.is_empty() {
                        line += &format!(" path {}", list(&r.paths));
                    }
                    if !r.except_paths.is_empty() {
                        line += &format!(" except path {}", list(&r.except_paths));
                    }
                }
                if !r.from.is_empty() {
                    line += &format!(" from {}", list(&r.from));
                }
                if !r.except_from.is_empty() {
                    line += &format!(" except from {}", list(&r.except_from));
                }
                if d.proto == Proto::Http && !r.headers.is_empty() {
                    line += &format!(" when {}", r.headers.join(" and "));
                }
                out += &line;
                out.push('\n');
            }
            if d.otherwise && p.default_allow {
                out += "    otherwise deny\n";
            }
            out += "  }\n";
        }
        out += "}\n";
    }
    out
}

const REQ_HOSTS: &[&str] = &[
    "api.example.com",
    "api.example.com",
    "api.example.com",
    "a.example.com",
    "API.Example.COM",
    "api.example.com.",
    "api.example.com:8080",
    "example.com",
    "a.example.com",
    "a.b.example.com",
    "b.example.com",
    "evilexample.com",
    "example.com.evil.org",
    "localhost",
    "10.0.0.1",
    "[::1]",
    "[2001:DB8:0::1]",
    "[2001:db8::2]:80",
    "x.example.org",
    "bad_host!",
];
const REQ_METHODS: &[&str] = &[
    "GET", "GET", "POST", "HEAD", "DELETE", "PUT", "PATCH", "CONNECT", "OPTIONS", "TRACE", "PURGE",
    "get",
];
const REQ_PATHS: &[&str] = &[
    "/a",
    "/a/",
    "/a/b",
    "/a/1",
    "/a/12x",
    "/a/x/b",
    "/a/x/y/b",
    "/a//b",
    "/a/x.json",
    "/a/x/y.json",
    "/.json",
    "/b/c",
    "/A/x",
    "/a:b",
    "/a%3Ab",
    "/a%3ab",
    "/a%2Fb",
    "/a/%2E%2E/b",
    "/a/../b",
    "/a*",
    "/a*/x",
    "/q/a%7Cb",
    "/",
    "/a?x=1",
    "/caf%C3%A9",
];
const REQ_PRINCIPALS: &[&str] = &[
    "cluster.local/ns/a/sa/x",
    "spiffe://cluster.local/ns/a/sa/x",
    "cluster.local/ns/ab/sa/x",
    "cluster.local/ns/a/sa/xy",
    "other.td/ns/a/sa/y",
    "spiffe://other.td/ns/a/sa/y",
    "cluster.local/ns/b/sa/x",
    "cluster.local/ns/a/sa/x/extra",
    "weird",
];
const HEADER_NAMES: &[&str] = &["x-t", "X-T", "x_t", "x-u"];
const HEADER_VALUES: &[&str] = &[
    "1",
    "0",
    "1, 0",
    "0,1",
    "acme",
    "ac",
    "acme, acme",
    "acme,evil",
    "acme-internal",
    "",
    "a, b",
    "a",
    "caf\u{e9}",
    "a*",
    "a*b",
];
const SNIS: &[&str] = &[
    "api.example.com",
    "API.EXAMPLE.COM.",
    "other.example",
    "a.example.com",
    "example.com",
    "bad_sni!",
    "10.0.0.1",
];
const DESTS: &[&str] = &[
    "10.1.2.3",
    "10.9.9.9",
    "::ffff:10.1.2.3",
    "2001:db8::1",
    "192.168.1.1",
    "8.8.8.8",
    "::1",
];

fn opt(list: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(pick(list).prop_map(str::to_owned))
}

fn http_request() -> impl Strategy<Value = SimRequest> {
    (
        pick(REQ_METHODS),
        pick(REQ_HOSTS),
        proptest::option::weighted(
            0.4,
            proptest::sample::select(&[80u16, 443, 8080, 8500, 9000][..]),
        ),
        proptest::option::weighted(0.9, pick(REQ_PATHS)),
        proptest::option::weighted(0.2, Just("https")),
        proptest::option::weighted(0.6, pick(REQ_PRINCIPALS)),
        proptest::collection::vec((pick(HEADER_NAMES), pick(HEADER_VALUES)), 0..=3),
        proptest::option::weighted(0.2, pick(SNIS)),
    )
        .prop_map(
            |(method, host, port, path, scheme, principal, headers, sni)| SimRequest {
                method: Some(method.to_owned()),
                host: Some(host.to_owned()),
                port,
                path: path.map(str::to_owned),
                scheme: scheme.map(str::to_owned),
                principal: principal.map(str::to_owned),
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
                    .collect(),
                sni: sni.map(str::to_owned),
                destination: None,
            },
        )
}

fn connection() -> impl Strategy<Value = SimRequest> {
    (
        opt(SNIS),
        proptest::option::weighted(0.8, pick(DESTS)),
        proptest::option::weighted(0.8, proptest::sample::select(&[443u16, 80, 22, 8443][..])),
        proptest::option::weighted(0.6, pick(REQ_PRINCIPALS)),
    )
        .prop_map(|(sni, dest, port, principal)| SimRequest {
            sni,
            destination: dest.map(|d| d.parse::<IpAddr>().unwrap()),
            port,
            principal: principal.map(str::to_owned),
            ..SimRequest::default()
        })
}

fn request() -> impl Strategy<Value = SimRequest> {
    prop_oneof![4 => http_request(), 1 => connection()]
}

/// `n` cases, or `PROPTEST_CASES` if set.
fn cases(n: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(n);
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_global_rejects: cases.saturating_mul(4).max(1024),
        ..ProptestConfig::default()
    }
}

/// The filter module built into egressc (`compiler/build.rs`): the real
/// release `.wasm`, compiled once for every case of the sample.
static PLUGIN: LazyLock<egress_host::Plugin> = LazyLock::new(|| {
    let wasm: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/egress_filter.wasm"));
    egress_host::Plugin::from_bytes(wasm, egress_host::HostConfig::default())
        .expect("the embedded filter module loads")
});

/// The verdicts of the real filter `.wasm` in the local proxy-wasm host.
fn wasm(table: &[u8], req: &SimRequest) -> Verdicts {
    let mut runner = Runner::with_plugin(&PLUGIN, table).expect("the filter takes the table");
    let r = runner.run(req).expect("the host runs the request");
    if r.record.reason == "proxy-rejected" {
        return None;
    }
    Some((r.record, r.audit))
}

/// [`WASM_CASES`], or a twentieth of `PROPTEST_CASES` if set.
fn wasm_cases() -> ProptestConfig {
    let mut config = cases(WASM_CASES);
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config.cases = (config.cases / 20).max(WASM_CASES);
    }
    config
}

proptest! {
    #![proptest_config(cases(CASES))]

    /// Random policies and requests: the filter's verdicts equal Cedar's.
    #[test]
    fn differential(
        policies in proptest::collection::vec(policy(), 1..=2),
        requests in proptest::collection::vec(request(), 1..=12),
    ) {
        let text = render(&policies);
        let prepared = prepare("differential.egress", &text);
        // A generated policy the checker refuses (say, a rule shadowed into
        // an error) is not a case.
        prop_assume!(prepared.is_some());
        let (compiled, oracle, export) = prepared.unwrap();
        for req in &requests {
            if let Err(e) = agree(&compiled, &oracle, req) {
                prop_assert!(
                    false,
                    "{e}\n--- policy\n{text}--- policies.cedar\n{}--- audit.cedar\n{}",
                    export.policies,
                    export.audit.as_deref().unwrap_or("(none)\n"),
                );
            }
        }
    }
}

/// The generator reaches what the differential test is for: most generated
/// policy sets compile, and the requests meet every kind of verdict — a
/// rule's allow and deny, an `otherwise deny`, each default, the audit pool,
/// refusals before any rule and by the proxy — in both pools' shapes.
#[test]
fn generator_reaches_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use std::collections::BTreeMap;

    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = (
        proptest::collection::vec(policy(), 1..=2),
        proptest::collection::vec(request(), 1..=12),
    );
    let (mut sets, mut compiled_sets) = (0, 0);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..200 {
        let (policies, requests) = strategy.new_tree(&mut runner).unwrap().current();
        sets += 1;
        let Some((compiled, oracle, _)) = prepare("coverage.egress", &render(&policies)) else {
            continue;
        };
        compiled_sets += 1;
        for req in &requests {
            let verdicts = agree(&compiled, &oracle, req).unwrap();
            let key = match &verdicts {
                None => "proxy-rejected".to_owned(),
                Some((e, a)) => {
                    if let Some(a) = a {
                        *seen
                            .entry(format!("audit {:?} {}", a.decision, a.reason))
                            .or_default() += 1;
                    }
                    let fallback = e.rule.as_ref().is_some_and(|r| {
                        compiled
                            .spec
                            .policies
                            .iter()
                            .flat_map(|p| &p.destinations)
                            .flat_map(|d| &d.rules)
                            .any(|x| &x.id == r && x.fallback)
                    });
                    format!(
                        "{:?} {}{}",
                        e.decision,
                        e.reason,
                        if fallback { " (otherwise)" } else { "" }
                    )
                }
            };
            *seen.entry(key).or_default() += 1;
        }
    }
    eprintln!("{compiled_sets} of {sets} policy sets compiled; verdicts: {seen:#?}");
    assert!(
        compiled_sets * 10 >= sets * 8,
        "only {compiled_sets} of {sets} generated policy sets compile"
    );
    for want in [
        "Allow rule",
        "Deny rule",
        "Deny rule (otherwise)",
        "Allow default",
        "Deny default",
        "Allow no-enforced-policy",
        "Deny invalid-sni",
        "Deny sni-host-mismatch",
        "Deny no-sni",
        "proxy-rejected",
        "audit Allow rule",
        "audit Deny rule",
        "audit Deny default",
    ] {
        assert!(
            seen.contains_key(want),
            "no request reached {want:?}: {seen:#?}"
        );
    }
}

proptest! {
    #![proptest_config(wasm_cases())]

    /// A sample through the real filter `.wasm` (the embedded release
    /// module, in the local proxy-wasm host): its verdicts equal Cedar's.
    #[test]
    fn differential_wasm(
        policies in proptest::collection::vec(policy(), 1..=2),
        requests in proptest::collection::vec(request(), 1..=12),
    ) {
        let text = render(&policies);
        let prepared = prepare("differential.egress", &text);
        prop_assume!(prepared.is_some());
        let (compiled, oracle, _) = prepared.unwrap();
        let table = egress_table::format::encode(&compiled.spec).expect("a compiled spec encodes");
        for req in &requests {
            let ours = wasm(&table, req);
            let theirs = cedar(&oracle, req).unwrap();
            prop_assert_eq!(
                &ours,
                &theirs,
                "the filter .wasm and Cedar disagree on {}\n--- policy\n{}",
                req.describe(),
                text
            );
        }
    }
}

/// Disagreements the differential test found, kept.
#[test]
fn regressions() {
    // A negated single condition was written `!principal != X` and `!context.path
    // == "…"`, which Cedar reads as negating the entity or the string: strict
    // validation refused the export (`except from principal "*"`, a single
    // `except path`).
    let text = r#"
policy "p0" {
  default allow
  destination "api.example.com" port 80 http {
    deny from principal "spiffe://other.td/ns/a/sa/y", principal "*" except from principal "*"
    deny GET path prefix "/a/" except path "/a/b"
    allow POST except from namespace "a"
    otherwise deny
  }
  destination "api.example.com" port 443 tls {
    deny except from serviceaccount "a/x"
  }
}
"#;
    let (compiled, oracle, _) = prepare("regression.egress", text).expect("it compiles");
    let http = |method: &str, path: &str, principal: Option<&str>| SimRequest {
        method: Some(method.to_owned()),
        host: Some("api.example.com".to_owned()),
        path: Some(path.to_owned()),
        principal: principal.map(str::to_owned),
        ..SimRequest::default()
    };
    let tls = |principal: Option<&str>| SimRequest {
        sni: Some("api.example.com".to_owned()),
        port: Some(443),
        principal: principal.map(str::to_owned),
        ..SimRequest::default()
    };
    let cases = [
        (http("GET", "/a/c", None), "p0/2"),
        (http("GET", "/a/b", None), "p0/4"),
        (http("POST", "/x", Some("cluster.local/ns/b/sa/x")), "p0/3"),
        (http("POST", "/x", Some("cluster.local/ns/a/sa/x")), "p0/4"),
        (http("HEAD", "/", Some("other.td/ns/a/sa/y")), "p0/4"),
        (tls(Some("cluster.local/ns/b/sa/x")), "p0/5"),
        (tls(Some("cluster.local/ns/a/sa/x")), ""),
    ];
    for (req, rule) in &cases {
        let (enforced, _) = agree(&compiled, &oracle, req)
            .unwrap_or_else(|e| panic!("{e}"))
            .expect("the proxy passes it");
        assert_eq!(
            enforced.rule.as_deref().unwrap_or(""),
            *rule,
            "{}: {enforced:?}",
            req.describe()
        );
    }
}

/// `egressc cedar` writes the files, validated; replaces an earlier export
/// whole; and refuses a directory that is not an export, leaving it as it
/// was.
#[test]
fn the_command_writes_and_replaces_whole_exports() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_egressc"))
            .args(args)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .output()
            .unwrap()
    };
    let scratch = std::env::temp_dir().join(format!("egressc-cedar-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let out = scratch.join("export");
    let out_s = out.to_str().unwrap();
    let names = |dir: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };

    let o = run(&["cedar", "policies/audit.egress", "-o", out_s]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        names(&out),
        [
            "audit.cedar",
            "entities.json",
            "policies.cedar",
            "schema.cedarschema"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(out.join("schema.cedarschema")).unwrap(),
        egressc::cedar::SCHEMA
    );

    // An earlier export is replaced whole: no audit.cedar is left behind.
    let o = run(&["cedar", "policies/httpbin.egress", "-o", out_s]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        names(&out),
        ["entities.json", "policies.cedar", "schema.cedarschema"]
    );
    let policies = std::fs::read_to_string(out.join("policies.cedar")).unwrap();
    assert!(policies.contains("@id(\"httpbin/2\")"), "{policies}");

    // A directory that is not an export is left alone.
    let other = scratch.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let o = run(&[
        "cedar",
        "policies/httpbin.egress",
        "-o",
        other.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not a Cedar export"), "{err}");
    assert_eq!(names(&other), ["notes.txt"]);

    // A policy that does not compile writes nothing.
    let bad = scratch.join("bad.egress");
    std::fs::write(
        &bad,
        "policy \"x\" { destination \"a.com\" port 80 http { allow BREW } }\n",
    )
    .unwrap();
    let fresh = scratch.join("fresh");
    let o = run(&[
        "cedar",
        bad.to_str().unwrap(),
        "-o",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!fresh.exists());
    std::fs::remove_dir_all(&scratch).unwrap();
}
