//! Decisions at scale (`make bench`, issue 12): generated policies of 10 to
//! 100,000 hosts ([`crate::generate`]), compiled with `egressc`, decided
//! natively ([`Table::decide`]), inside the real filter `.wasm` through the
//! local host (one `proxy_on_request_headers`, timed apart from context
//! creation), by a naive matcher (a linear scan, a `regex::Regex` per rule
//! path) and by Cedar's authorizer on two encodings of the same policy.
//!
//! Every sampled request is decided by every engine and the answers must
//! agree (decision and deciding rule) before any time is reported: a
//! comparison of engines that decide differently would be meaningless.
//!
//! Cedar is reached through [`CedarSide`], implemented by the benchmark and
//! its smoke test (`tests/src/cedar_side.rs`), so that `cedar-policy` stays
//! a dev-dependency.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use egress_table::plugin_config::{self, Layer};
use egress_table::request::{self, Method};
use egress_table::{Cause, Kind, NoHeaders, Request, Sni, Table};
use egressc::cedar::Export;
use egressc::cedar::request::{CedarRequest, Tests};

use crate::HttpRequest;
use crate::generate::{self, Case, HostPat, Model, PathPat, Proto, Sample, Source};

/// The wasm target the decision is timed in.
pub const WASM_TARGET: &str = "wasm32-wasip1";

/// How much to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// Policy sizes (hosts).
    pub sizes: Vec<usize>,
    /// Requests sampled per size.
    pub samples: usize,
    /// Passes over the samples, natively and with the naive matcher.
    pub native_rounds: usize,
    /// Passes over the samples through the `.wasm`.
    pub wasm_rounds: usize,
    /// Requests Cedar decides per encoding (a prefix of the samples).
    pub cedar_requests: usize,
    /// Cedar runs for sizes up to this many hosts.
    pub cedar_max_hosts: usize,
    /// The naive matcher runs for sizes up to this many hosts.
    pub naive_max_hosts: usize,
    /// Fresh VMs configured per size (the median is reported).
    pub configure_runs: usize,
    /// The generator's seed.
    pub seed: u64,
}

impl Config {
    /// The full run of `make bench` (a few minutes on 2 vCPUs).
    pub fn full() -> Self {
        Self {
            sizes: vec![10, 100, 1_000, 10_000, 100_000],
            samples: 4096,
            native_rounds: 40,
            wasm_rounds: 4,
            cedar_requests: 200,
            cedar_max_hosts: 10_000,
            naive_max_hosts: 100_000,
            configure_runs: 5,
            seed: 12,
        }
    }

    /// `EGRESS_BENCH_QUICK=1`: the same figures from fewer iterations.
    pub fn quick() -> Self {
        Self {
            samples: 1024,
            native_rounds: 5,
            wasm_rounds: 1,
            cedar_requests: 40,
            configure_runs: 2,
            ..Self::full()
        }
    }
}

/// The filter compiled once, with a long call budget: configuring a table of
/// 100,000 hosts takes longer than the host's default 1 s per guest call
/// (Envoy has no such limit; the time is reported).
fn bench_plugin() -> Result<&'static crate::Plugin, String> {
    static PLUGIN: std::sync::OnceLock<Result<crate::Plugin, String>> = std::sync::OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            let cfg = crate::HostConfig {
                call_timeout: Duration::from_secs(120),
                ..crate::HostConfig::default()
            };
            crate::filter_wasm(WASM_TARGET)
                .and_then(|w| crate::Plugin::from_bytes(&w, cfg).map_err(|e| e.to_string()))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Percentiles of a set of timings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// How many timings.
    pub n: usize,
}

impl Stats {
    /// The percentiles of `v` (sorted here).
    pub fn of(mut v: Vec<f64>) -> Self {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let i = ((v.len() as f64 - 1.0) * q).round() as usize;
            v.get(i).copied().unwrap_or(f64::NAN)
        };
        Self {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            n: v.len(),
        }
    }
}

/// Cedar's encodings of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// One Cedar policy per host and rule: `resource == Host::"h"` (or
    /// `resource in HostPattern::"*.x"` for a wildcard).
    PerHost,
    /// egressc's export: hosts are entities in one group per destination,
    /// one policy per rule, `resource in HostGroup::"…"`.
    Grouped,
}

/// What Cedar answered and how long it took.
#[derive(Debug, Clone, Default)]
pub struct CedarRun {
    /// Parsing the policies and building the entity store, ms.
    pub build_ms: f64,
    /// Policies in the set.
    pub policies: usize,
    /// Per request: allowed, and the `@id`s of the determining policies.
    pub answers: Vec<(bool, Vec<String>)>,
    /// Per `is_authorized` call, ns.
    pub times_ns: Vec<f64>,
}

/// Cedar's side of the comparison (see the module documentation).
pub trait CedarSide {
    /// Builds `encoding` of `export` and decides `requests` `rounds` times
    /// (answers from the first round).
    fn run(
        &self,
        encoding: Encoding,
        export: &Export,
        requests: &[CedarRequest],
        rounds: usize,
    ) -> Result<CedarRun, String>;
}

/// The realistic headers of a sampled request, beside the pseudo-headers.
pub(crate) fn extra_headers(i: usize) -> Vec<(&'static str, String)> {
    vec![
        ("user-agent", "python-requests/2.32.3".into()),
        ("accept", "application/json, text/plain, */*".into()),
        ("accept-encoding", "gzip, deflate, br".into()),
        ("accept-language", "en-US,en;q=0.9".into()),
        (
            "x-request-id",
            format!("{:08x}-5c1e-4b7a-9d2e-{:012x}", i, i * 7919),
        ),
        (
            "traceparent",
            format!("00-{:032x}-{:016x}-01", i * 104_729 + 1, i * 31 + 7),
        ),
        ("x-forwarded-proto", "http".into()),
        ("content-type", "application/json".into()),
    ]
}

/// The header map the proxy hands the filter: pseudo-headers and the
/// extra ones (12 in all).
fn header_map(s: &Sample, i: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut h = vec![
        (b":authority".to_vec(), s.host.as_bytes().to_vec()),
        (b":path".to_vec(), s.path.as_bytes().to_vec()),
        (b":method".to_vec(), s.method.as_bytes().to_vec()),
        (b":scheme".to_vec(), b"http".to_vec()),
    ];
    h.extend(
        extra_headers(i)
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes())),
    );
    h
}

/// A duration in ns, µs or ms (`-` for a figure not measured).
pub(crate) fn ns(x: f64) -> String {
    if x.is_nan() {
        "-".to_owned()
    } else if x >= 1e6 {
        format!("{:.2} ms", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.1} µs", x / 1e3)
    } else {
        format!("{x:.0} ns")
    }
}

/// Keys and values as a JSON object of numbers rounded to three decimals
/// (`NaN` as `null`): bench/results.json and bench/hardening.json.
pub(crate) fn json_numbers(m: &std::collections::BTreeMap<String, f64>) -> String {
    let map: serde_json::Map<String, serde_json::Value> = m
        .iter()
        .map(|(k, v)| {
            let v = serde_json::Number::from_f64((v * 1000.0).round() / 1000.0)
                .map_or(serde_json::Value::Null, serde_json::Value::Number);
            (k.clone(), v)
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::Value::Object(map)).unwrap_or_default()
}

/// The attributes a request comes with here: a destination port of 80 and
/// an optional peer principal (the scale and hardening benchmarks).
pub(crate) struct PeerProps<'a>(pub(crate) Option<&'a str>);

impl egress_table::proxy::Properties for PeerProps<'_> {
    type Bytes = Vec<u8>;
    fn request_host(&self) -> Option<Vec<u8>> {
        None
    }
    fn destination_port(&self) -> Option<u16> {
        Some(80)
    }
    fn destination_address(&self) -> Option<(Option<std::net::IpAddr>, Option<u16>)> {
        None
    }
    fn sni(&self) -> Option<Vec<u8>> {
        None
    }
    fn peer_principal(&self) -> Option<Vec<u8>> {
        self.0.map(|p| p.as_bytes().to_vec())
    }
}

/// A decision as the engines are compared: allowed, and the deciding rule
/// id (`None` for the default).
type Answer = (bool, Option<String>);

fn answer_of(table: &Table, d: &egress_table::Decision) -> Answer {
    let rule = match d.enforced.cause {
        Cause::Rule(r) => Some(table.rule_id(r).to_string()),
        _ => None,
    };
    (d.allowed(), rule)
}

// ---------------------------------------------------------------------------
// The naive matcher.

struct NaiveRule {
    idx: usize,
    hosts: Vec<HostPat>,
    port: u16,
    allow: bool,
    methods: Vec<&'static str>,
    paths: Vec<regex::Regex>,
    from: Vec<Source>,
}

/// A linear scan over every rule, a `regex::Regex` per rule path: what a
/// policy engine without a compiled table does.
pub struct Naive {
    rules: Vec<NaiveRule>,
}

impl std::fmt::Debug for Naive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Naive({} rules)", self.rules.len())
    }
}

fn path_regex(p: &PathPat) -> Result<regex::Regex, String> {
    let text = match p {
        PathPat::Exact(x) => format!("^{}$", regex::escape(x)),
        PathPat::Prefix(x) => format!("^{}", regex::escape(x)),
        PathPat::Template(t) => {
            let parts: Vec<String> = t
                .split("{**}")
                .map(|a| {
                    a.split("{*}")
                        .map(regex::escape)
                        .collect::<Vec<_>>()
                        .join("[^/]+")
                })
                .collect();
            format!("^{}$", parts.join(".*"))
        }
        PathPat::Regex(r) => format!("^(?:{r})$"),
    };
    regex::Regex::new(&text).map_err(|e| e.to_string())
}

impl Naive {
    /// The matcher for a generated policy.
    pub fn new(model: &Model) -> Result<Self, String> {
        let mut rules = Vec::new();
        let mut idx = 0;
        for d in &model.dests {
            if d.rules.is_empty() {
                idx += 1;
                continue;
            }
            for r in &d.rules {
                idx += 1;
                if d.proto != Proto::Http {
                    continue;
                }
                rules.push(NaiveRule {
                    idx,
                    hosts: d.hosts.clone(),
                    port: d.port,
                    allow: r.allow,
                    methods: r.methods.clone(),
                    paths: r.paths.iter().map(path_regex).collect::<Result<_, _>>()?,
                    from: r.from.clone(),
                });
            }
        }
        Ok(Self { rules })
    }

    /// Decides an HTTP request to port 80 (path without query).
    pub fn decide(&self, host: &str, method: &str, path: &str, principal: Option<&str>) -> Answer {
        let mut deny: Option<usize> = None;
        let mut allow: Option<usize> = None;
        for r in &self.rules {
            if r.port != 80 || !r.hosts.iter().any(|h| h.matches(host)) {
                continue;
            }
            if !r.methods.is_empty() && !r.methods.contains(&method) {
                continue;
            }
            if !r.paths.is_empty() && !r.paths.iter().any(|re| re.is_match(path)) {
                continue;
            }
            if !r.from.is_empty() {
                let Some(p) = principal else { continue };
                let ok = r.from.iter().any(|s| match s {
                    Source::Principal(x) => x == p,
                    Source::Namespace(ns) => {
                        let mut it = p.split('/');
                        it.nth(1) == Some("ns") && it.next() == Some(ns) && it.next() == Some("sa")
                    }
                });
                if !ok {
                    continue;
                }
            }
            let slot = if r.allow { &mut allow } else { &mut deny };
            if slot.is_none() {
                *slot = Some(r.idx);
            }
        }
        let id = |i: usize| Some(format!("{}/{i}", generate::POLICY));
        match (deny, allow) {
            (Some(d), _) => (false, id(d)),
            (None, Some(a)) => (true, id(a)),
            (None, None) => (false, None),
        }
    }
}

// ---------------------------------------------------------------------------
// Measuring.

/// Times `f` over `items` in chunks of `chunk` consecutive items, `rounds`
/// times; returns ns per call of each chunk.
fn chunked(
    items: &[usize],
    rounds: usize,
    chunk: usize,
    mut f: impl FnMut(usize) -> bool,
) -> Vec<f64> {
    let mut out = Vec::new();
    let mut acc = 0usize;
    for _ in 0..rounds {
        for c in items.chunks(chunk) {
            let t = Instant::now();
            for &i in c {
                acc += usize::from(f(i));
            }
            out.push(t.elapsed().as_nanos() as f64 / c.len() as f64);
        }
    }
    black_box(acc);
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The figures of one policy size.
#[derive(Debug, Clone, Default)]
pub struct SizeReport {
    /// Hosts.
    pub hosts: usize,
    /// Rules in the table.
    pub rules: usize,
    /// Destinations.
    pub destinations: usize,
    /// Policy text bytes.
    pub policy_bytes: usize,
    /// `egressc::compile` (parse, check, lints, lower), ms.
    pub compile_ms: f64,
    /// Writing the binary table, ms.
    pub emit_ms: f64,
    /// Table bytes.
    pub table_bytes: usize,
    /// The HTTP layer's `pluginConfig` bytes.
    pub plugin_config_bytes: usize,
    /// `proxy_on_configure` inside the `.wasm`, median, ms.
    pub configure_ms: f64,
    /// Guest linear memory after configuring, bytes.
    pub linear_memory_bytes: usize,
    /// `proxy_on_request_headers` in the `.wasm`, ns.
    pub wasm: Stats,
    /// `proxy_on_context_create` in the `.wasm`, ns.
    pub wasm_context: Stats,
    /// A whole stream through the host (`Vm::http`), ns.
    pub wasm_stream: Stats,
    /// [`Table::decide`] on a normalised request, ns (all cases).
    pub native: Stats,
    /// The same per [`Case`].
    pub native_cases: BTreeMap<&'static str, Stats>,
    /// `egress_table::proxy::decide_http` from the header map, ns.
    pub native_from_headers: Stats,
    /// The naive matcher, ns.
    pub naive: Option<Stats>,
    /// Cedar, one policy per host.
    pub cedar_per_host: Option<(Stats, CedarRun)>,
    /// Cedar, hosts in groups.
    pub cedar_grouped: Option<(Stats, CedarRun)>,
    /// Requests decided (and compared) per engine.
    pub compared: BTreeMap<&'static str, usize>,
    /// Allowed share of the samples.
    pub allowed_share: f64,
}

/// Measures one size. Fails if the policy does not compile or if any two
/// engines disagree on a sampled request.
pub fn measure(
    n_hosts: usize,
    cfg: &Config,
    cedar: Option<&dyn CedarSide>,
) -> Result<SizeReport, String> {
    let model = generate::model(n_hosts, cfg.seed);
    let text = model.text();
    let mut rep = SizeReport {
        hosts: model.host_count(),
        rules: model.rule_count(),
        destinations: model.dests.len(),
        policy_bytes: text.len(),
        ..SizeReport::default()
    };

    // Compile and emit.
    let mut sources = egressc::Sources::new();
    sources.add("scale.egress", &text);
    let t = Instant::now();
    let outcome = egressc::compile(&sources);
    rep.compile_ms = ms(t.elapsed());
    let Some(compiled) = outcome.compiled.as_ref() else {
        let errors: Vec<String> = outcome
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .take(5)
            .map(|d| egressc::diag::render(d, &sources))
            .collect();
        return Err(format!(
            "{n_hosts} hosts: the policy does not compile:\n{}",
            errors.join("\n")
        ));
    };
    let t = Instant::now();
    let table_bytes =
        egressc::emit::emit(&compiled.spec, egressc::emit::Format::Table).map_err(|e| e.0)?;
    rep.emit_ms = ms(t.elapsed());
    rep.table_bytes = table_bytes.len();
    let table = Table::from_bytes(&table_bytes).map_err(|e| e.to_string())?;
    if table.rule_count() != rep.rules {
        return Err(format!(
            "{n_hosts} hosts: the table has {} rules, the model {}",
            table.rule_count(),
            rep.rules
        ));
    }
    let config = plugin_config::encode(&table_bytes, Layer::Http);
    rep.plugin_config_bytes = config.len();

    let samples = model.sample(cfg.samples, cfg.seed.wrapping_add(n_hosts as u64));
    let headers: Vec<Vec<(Vec<u8>, Vec<u8>)>> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| header_map(s, i))
        .collect();
    let paths: Vec<&str> = samples
        .iter()
        .map(|s| s.path.split('?').next().unwrap_or(""))
        .collect();

    // Native, from the header map: the reference answers.
    let reference: Vec<Answer> = samples
        .iter()
        .zip(&headers)
        .map(|(s, h)| {
            let pairs: Vec<(&[u8], &[u8])> = h
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                .collect();
            egress_table::proxy::decide_http(
                &table,
                &pairs,
                &PeerProps(s.principal.as_deref()),
                &Default::default(),
                &mut (),
                |d, _| answer_of(&table, &d.decision),
            )
        })
        .collect();
    rep.allowed_share =
        reference.iter().filter(|a| a.0).count() as f64 / reference.len().max(1) as f64;
    let all: Vec<usize> = (0..samples.len()).collect();
    let pair_maps: Vec<Vec<(&[u8], &[u8])>> = headers
        .iter()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                .collect()
        })
        .collect();
    rep.native_from_headers = Stats::of(chunked(&all, cfg.native_rounds.div_ceil(4), 16, |i| {
        let (Some(s), Some(h)) = (samples.get(i), pair_maps.get(i)) else {
            return false;
        };
        egress_table::proxy::decide_http(
            &table,
            h,
            &PeerProps(s.principal.as_deref()),
            &Default::default(),
            &mut (),
            |d, _| d.decision.allowed(),
        )
    }));

    // Native, pure: normalised requests built once.
    let methods: Vec<Method> = samples
        .iter()
        .map(|s| Method::parse(s.method.as_bytes()).unwrap_or(Method::OTHER))
        .collect();
    let principals: Vec<Option<&[u8]>> = samples
        .iter()
        .map(|s| {
            s.principal
                .as_deref()
                .map(|p| request::normalize_principal(p.as_bytes()))
        })
        .collect();
    let requests: Vec<Request<'_>> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| Request {
            kind: Kind::Http,
            host: s.host.as_bytes(),
            port: 80,
            method: methods.get(i).copied().unwrap_or(Method::OTHER),
            path: paths.get(i).map(|p| p.as_bytes()),
            principal: principals.get(i).copied().flatten(),
            sni: Sni::Absent,
            dst_ip: None,
            headers: &NoHeaders,
        })
        .collect();
    let mut compared = 0;
    for (i, (r, want)) in requests.iter().zip(&reference).enumerate() {
        let got = answer_of(&table, &table.decide(r));
        if &got != want {
            return Err(format!(
                "{n_hosts} hosts, request {i} {:?}: Table::decide says {got:?}, decide_http {want:?}",
                samples.get(i)
            ));
        }
        compared += 1;
    }
    rep.compared.insert("native", compared);
    let decide = |i: usize| requests.get(i).is_some_and(|r| table.decide(r).allowed());
    rep.native = Stats::of(chunked(&all, cfg.native_rounds, 16, decide));
    for case in Case::ALL {
        let idx: Vec<usize> = (0..samples.len())
            .filter(|&i| samples.get(i).is_some_and(|s| s.case == case))
            .collect();
        if !idx.is_empty() {
            rep.native_cases.insert(
                case.name(),
                Stats::of(chunked(&idx, cfg.native_rounds, 16, decide)),
            );
        }
    }

    // The naive matcher.
    if n_hosts <= cfg.naive_max_hosts {
        let naive = Naive::new(&model)?;
        // A linear scan over 100,000s of rules is slow: fewer at 100k.
        let checked = if n_hosts > 10_000 { 512 } else { samples.len() };
        for (i, s) in samples.iter().enumerate().take(checked) {
            let p = paths.get(i).copied().unwrap_or("");
            let got = naive.decide(&s.host, s.method, p, s.principal.as_deref());
            if reference.get(i) != Some(&got) {
                return Err(format!(
                    "{n_hosts} hosts, request {i} {s:?}: the naive matcher says {got:?}, the table {:?}",
                    reference.get(i)
                ));
            }
        }
        rep.compared.insert("naive", checked.min(samples.len()));
        // Fewer passes: a linear scan over 100,000s of rules is slow.
        let naive_items: Vec<usize> = all
            .iter()
            .copied()
            .take(match n_hosts {
                0..=1_000 => all.len(),
                1_001..=10_000 => 256,
                _ => 64,
            })
            .collect();
        rep.naive = Some(Stats::of(chunked(
            &naive_items,
            1.max(cfg.native_rounds / 10),
            4,
            |i| {
                let (Some(s), Some(p)) = (samples.get(i), paths.get(i)) else {
                    return false;
                };
                naive.decide(&s.host, s.method, p, s.principal.as_deref()).0
            },
        )));
    }

    // The .wasm through the host.
    let wasm_reqs: Vec<HttpRequest> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut r = HttpRequest::new(s.method, &s.host, &s.path);
            r.headers = extra_headers(i)
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
                .collect();
            if let Some(p) = &s.principal {
                r = r.principal(p);
            }
            r
        })
        .collect();
    let mut conf = Vec::new();
    let mut configured = None;
    for _ in 0..cfg.configure_runs.max(1) {
        let plugin = bench_plugin()?;
        let mut vm = plugin.vm().map_err(|e| e.to_string())?;
        if !vm.start(b"").map_err(|e| e.to_string())? {
            return Err("on_vm_start returned false".into());
        }
        let t = Instant::now();
        let ok = vm.configure(config.as_bytes()).map_err(|e| e.to_string())?;
        conf.push(ms(t.elapsed()));
        if !ok {
            return Err(format!(
                "{n_hosts} hosts: the filter refused the configuration"
            ));
        }
        rep.linear_memory_bytes = vm.memory_size();
        configured = Some(vm);
    }
    rep.configure_ms = Stats::of(conf).p50;
    let mut vm = configured.ok_or("no VM was configured")?;
    vm.set_capture_logs(false);
    // The first pass checks every answer against the table's.
    for (i, r) in wasm_reqs.iter().enumerate() {
        let out = vm.http(r).map_err(|e| e.to_string())?;
        let rec = crate::record(&out.filter_state, "wasm.egress_decision");
        let got: Answer = (
            rec.first().map(String::as_str) == Some("allow"),
            rec.get(2).filter(|r| r.as_str() != "-").cloned(),
        );
        let allowed = out.status == 200;
        if reference.get(i) != Some(&got) || allowed != got.0 {
            return Err(format!(
                "{n_hosts} hosts, request {i} {:?}: the .wasm says {rec:?} (status {}), the table {:?}",
                samples.get(i),
                out.status,
                reference.get(i)
            ));
        }
    }
    rep.compared.insert("wasm", wasm_reqs.len());
    vm.set_guest_timing(true);
    let (mut rh, mut cc, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cfg.wasm_rounds.max(1) {
        for r in &wasm_reqs {
            let t = Instant::now();
            let out = vm.http(r).map_err(|e| e.to_string())?;
            whole.push(t.elapsed().as_nanos() as f64);
            black_box(out.status);
            let g = vm.guest_times().ok_or("guest timing is off")?;
            rh.push(g.request_headers.as_nanos() as f64);
            cc.push(g.context_create.as_nanos() as f64);
        }
    }
    rep.wasm = Stats::of(rh);
    rep.wasm_context = Stats::of(cc);
    rep.wasm_stream = Stats::of(whole);

    // Cedar.
    if let Some(side) = cedar.filter(|_| n_hosts <= cfg.cedar_max_hosts) {
        let export = egressc::cedar::export(compiled, &sources).map_err(|d| {
            d.iter()
                .map(|d| egressc::diag::render(d, &sources))
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let tests = Tests::new(&export.meta)?;
        // Cedar takes ~1 s per request at 10,000 hosts (per host): fewer.
        let take = if n_hosts >= 10_000 {
            (cfg.cedar_requests / 8).max(5)
        } else {
            cfg.cedar_requests
        }
        .min(samples.len());
        let mut creqs = Vec::with_capacity(take);
        for (s, h) in samples.iter().zip(&pair_maps).take(take) {
            let r = egressc::cedar::request::http(h, &PeerProps(s.principal.as_deref()), &tests)
                .map_err(|reason| format!("{s:?} was refused: {}", reason.as_str()))?;
            creqs.push(r);
        }
        for enc in [Encoding::Grouped, Encoding::PerHost] {
            let run = side.run(enc, &export, &creqs, if n_hosts >= 1_000 { 1 } else { 3 })?;
            for (i, (allowed, ids)) in run.answers.iter().enumerate() {
                let Some(want) = reference.get(i) else { break };
                let agrees = *allowed == want.0
                    && match &want.1 {
                        Some(rule) => ids.contains(rule),
                        None => ids.is_empty(),
                    };
                if !agrees {
                    return Err(format!(
                        "{n_hosts} hosts, request {i} {:?}: Cedar ({enc:?}) says {allowed} by {ids:?}, the table {want:?}",
                        samples.get(i)
                    ));
                }
            }
            let name = match enc {
                Encoding::PerHost => "cedar_per_host",
                Encoding::Grouped => "cedar_grouped",
            };
            rep.compared.insert(name, run.answers.len());
            let stats = Stats::of(run.times_ns.clone());
            match enc {
                Encoding::PerHost => rep.cedar_per_host = Some((stats, run)),
                Encoding::Grouped => rep.cedar_grouped = Some((stats, run)),
            }
        }
    }
    Ok(rep)
}

/// The `.wasm` sizes of both targets.
pub fn wasm_sizes() -> Result<Vec<(&'static str, usize)>, String> {
    crate::TARGETS
        .iter()
        .map(|t| crate::filter_wasm(t).map(|w| (*t, w.len())))
        .collect()
}

/// The whole run: every size, then the results as `(key, value)`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per size.
    pub sizes: Vec<SizeReport>,
    /// `.wasm` bytes per target.
    pub wasm_bytes: Vec<(&'static str, usize)>,
}

/// Runs every size of `cfg`, printing a line per step to stderr.
pub fn run(cfg: &Config, cedar: Option<&dyn CedarSide>) -> Result<Report, String> {
    let mut rep = Report {
        wasm_bytes: wasm_sizes()?,
        ..Report::default()
    };
    for &n in &cfg.sizes {
        let t = Instant::now();
        let r = measure(n, cfg, cedar)?;
        eprintln!("  {n} hosts measured in {:.1} s", t.elapsed().as_secs_f64());
        rep.sizes.push(r);
    }
    Ok(rep)
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1000 && n % 1000 == 0 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

impl Report {
    fn size(&self, n: usize) -> Option<&SizeReport> {
        self.sizes.iter().find(|s| s.hosts == n)
    }

    /// The results file's keys and values (ns, ms, bytes). The keys the
    /// issue names are always present; a figure not measured is `NaN`
    /// (written as `null`).
    pub fn results(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        let get = |n: usize, f: &dyn Fn(&SizeReport) -> Option<f64>| {
            self.size(n).and_then(f).unwrap_or(f64::NAN)
        };
        m.insert(
            "decision_wasm_ns_p50_10".into(),
            get(10, &|s| Some(s.wasm.p50)),
        );
        m.insert(
            "decision_wasm_ns_p50_10k".into(),
            get(10_000, &|s| Some(s.wasm.p50)),
        );
        m.insert(
            "decision_wasm_ns_p50_100k".into(),
            get(100_000, &|s| Some(s.wasm.p50)),
        );
        m.insert(
            "decision_native_ns_p50_10k".into(),
            get(10_000, &|s| Some(s.native.p50)),
        );
        m.insert(
            "cedar_per_host_ns_p50_10k".into(),
            get(10_000, &|s| s.cedar_per_host.as_ref().map(|c| c.0.p50)),
        );
        m.insert(
            "cedar_grouped_ns_p50_10k".into(),
            get(10_000, &|s| s.cedar_grouped.as_ref().map(|c| c.0.p50)),
        );
        m.insert(
            "naive_ns_p50_10k".into(),
            get(10_000, &|s| s.naive.map(|x| x.p50)),
        );
        m.insert(
            "compile_ms_100k".into(),
            get(100_000, &|s| Some(s.compile_ms)),
        );
        m.insert(
            "plugin_config_bytes_10k".into(),
            get(10_000, &|s| Some(s.plugin_config_bytes as f64)),
        );
        m.insert(
            "configure_ms_10k".into(),
            get(10_000, &|s| Some(s.configure_ms)),
        );
        m.insert(
            "wasm_bytes".into(),
            self.wasm_bytes
                .iter()
                .find(|(t, _)| *t == WASM_TARGET)
                .map_or(f64::NAN, |w| w.1 as f64),
        );
        m.insert(
            "linear_memory_bytes_10k".into(),
            get(10_000, &|s| Some(s.linear_memory_bytes as f64)),
        );
        // Extras.
        for (t, b) in &self.wasm_bytes {
            m.insert(format!("wasm_bytes_{}", t.replace('-', "_")), *b as f64);
        }
        for s in &self.sizes {
            let l = label(s.hosts);
            m.insert(format!("rules_{l}"), s.rules as f64);
            m.insert(format!("compile_ms_{l}"), s.compile_ms);
            m.insert(format!("emit_ms_{l}"), s.emit_ms);
            m.insert(format!("table_bytes_{l}"), s.table_bytes as f64);
            m.insert(
                format!("plugin_config_bytes_{l}"),
                s.plugin_config_bytes as f64,
            );
            m.insert(
                format!("plugin_config_bytes_per_host_{l}"),
                s.plugin_config_bytes as f64 / s.hosts.max(1) as f64,
            );
            m.insert(format!("configure_ms_{l}"), s.configure_ms);
            m.insert(
                format!("linear_memory_bytes_{l}"),
                s.linear_memory_bytes as f64,
            );
            m.insert(format!("decision_wasm_ns_p50_{l}"), s.wasm.p50);
            m.insert(format!("decision_wasm_ns_p99_{l}"), s.wasm.p99);
            m.insert(
                format!("context_create_wasm_ns_p50_{l}"),
                s.wasm_context.p50,
            );
            m.insert(format!("stream_wasm_ns_p50_{l}"), s.wasm_stream.p50);
            m.insert(format!("decision_native_ns_p50_{l}"), s.native.p50);
            m.insert(format!("decision_native_ns_p99_{l}"), s.native.p99);
            m.insert(
                format!("decision_native_from_headers_ns_p50_{l}"),
                s.native_from_headers.p50,
            );
            for (c, st) in &s.native_cases {
                m.insert(format!("decision_native_{c}_ns_p50_{l}"), st.p50);
            }
            if let Some(n) = s.naive {
                m.insert(format!("naive_ns_p50_{l}"), n.p50);
            }
            if let Some((st, run)) = &s.cedar_per_host {
                m.insert(format!("cedar_per_host_ns_p50_{l}"), st.p50);
                m.insert(format!("cedar_per_host_build_ms_{l}"), run.build_ms);
                m.insert(format!("cedar_per_host_policies_{l}"), run.policies as f64);
            }
            if let Some((st, run)) = &s.cedar_grouped {
                m.insert(format!("cedar_grouped_ns_p50_{l}"), st.p50);
                m.insert(format!("cedar_grouped_build_ms_{l}"), run.build_ms);
                m.insert(format!("cedar_grouped_policies_{l}"), run.policies as f64);
            }
        }
        let r = |a: &str, b: &str| match (m.get(a), m.get(b)) {
            (Some(x), Some(y)) => x / y,
            _ => f64::NAN,
        };
        let ratios = [
            (
                "ratio_cedar_per_host_vs_native_10k",
                r("cedar_per_host_ns_p50_10k", "decision_native_ns_p50_10k"),
            ),
            (
                "ratio_cedar_grouped_vs_native_10k",
                r("cedar_grouped_ns_p50_10k", "decision_native_ns_p50_10k"),
            ),
            (
                "ratio_naive_vs_native_10k",
                r("naive_ns_p50_10k", "decision_native_ns_p50_10k"),
            ),
            (
                "ratio_cedar_per_host_vs_wasm_10k",
                r("cedar_per_host_ns_p50_10k", "decision_wasm_ns_p50_10k"),
            ),
            (
                "ratio_cedar_grouped_vs_wasm_10k",
                r("cedar_grouped_ns_p50_10k", "decision_wasm_ns_p50_10k"),
            ),
            (
                "ratio_wasm_100k_vs_10",
                r("decision_wasm_ns_p50_100k", "decision_wasm_ns_p50_10"),
            ),
        ];
        for (k, v) in ratios {
            m.insert(k.into(), v);
        }
        m
    }

    /// The results as JSON (`NaN` as `null`).
    pub fn json(&self) -> String {
        json_numbers(&self.results())
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let cols: Vec<String> = self.sizes.iter().map(|s| label(s.hosts)).collect();
        let mut row = |name: &str, f: &dyn Fn(&SizeReport) -> String| {
            out.push_str(&format!("{name:<40}"));
            for s in &self.sizes {
                out.push_str(&format!("{:>14}", f(s)));
            }
            out.push('\n');
        };
        let kib = |b: usize| format!("{:.0} KiB", b as f64 / 1024.0);
        row("hosts", &|s| s.hosts.to_string());
        let _ = &cols;
        row("rules / destinations", &|s| {
            format!("{}/{}", s.rules, s.destinations)
        });
        row("compile (egressc::compile)", &|s| {
            format!("{:.1} ms", s.compile_ms)
        });
        row("emit table", &|s| format!("{:.1} ms", s.emit_ms));
        row("table bytes", &|s| kib(s.table_bytes));
        row("pluginConfig bytes", &|s| kib(s.plugin_config_bytes));
        row("pluginConfig bytes per host", &|s| {
            format!(
                "{:.0}",
                s.plugin_config_bytes as f64 / s.hosts.max(1) as f64
            )
        });
        row("on_configure in .wasm", &|s| {
            format!("{:.2} ms", s.configure_ms)
        });
        row("linear memory after configure", &|s| {
            kib(s.linear_memory_bytes)
        });
        row("wasm on_request_headers p50", &|s| ns(s.wasm.p50));
        row("wasm on_request_headers p99", &|s| ns(s.wasm.p99));
        row("wasm on_context_create p50 (apart)", &|s| {
            ns(s.wasm_context.p50)
        });
        row("wasm whole stream (Vm::http) p50", &|s| {
            ns(s.wasm_stream.p50)
        });
        row("native Table::decide p50", &|s| ns(s.native.p50));
        for c in Case::ALL {
            row(&format!("  native {} p50", c.name()), &|s| {
                s.native_cases
                    .get(c.name())
                    .map_or("-".into(), |st| ns(st.p50))
            });
        }
        row("native decide_http (from headers) p50", &|s| {
            ns(s.native_from_headers.p50)
        });
        row("naive matcher p50", &|s| {
            s.naive.map_or("-".into(), |n| ns(n.p50))
        });
        row("cedar grouped is_authorized p50", &|s| {
            s.cedar_grouped.as_ref().map_or("-".into(), |c| ns(c.0.p50))
        });
        row("cedar per-host is_authorized p50", &|s| {
            s.cedar_per_host
                .as_ref()
                .map_or("-".into(), |c| ns(c.0.p50))
        });
        row("cedar grouped policies / build", &|s| {
            s.cedar_grouped.as_ref().map_or("-".into(), |c| {
                format!("{}/{:.0}ms", c.1.policies, c.1.build_ms)
            })
        });
        row("cedar per-host policies / build", &|s| {
            s.cedar_per_host.as_ref().map_or("-".into(), |c| {
                format!("{}/{:.0}ms", c.1.policies, c.1.build_ms)
            })
        });
        let ratio = |a: Option<f64>, b: f64| a.map_or("-".into(), |a| format!("{:.0}×", a / b));
        row("cedar per-host / native", &|s| {
            ratio(s.cedar_per_host.as_ref().map(|c| c.0.p50), s.native.p50)
        });
        row("cedar grouped / native", &|s| {
            ratio(s.cedar_grouped.as_ref().map(|c| c.0.p50), s.native.p50)
        });
        row("naive / native", &|s| {
            ratio(s.naive.map(|n| n.p50), s.native.p50)
        });
        row("cedar per-host / wasm", &|s| {
            ratio(s.cedar_per_host.as_ref().map(|c| c.0.p50), s.wasm.p50)
        });
        row("cedar grouped / wasm", &|s| {
            ratio(s.cedar_grouped.as_ref().map(|c| c.0.p50), s.wasm.p50)
        });
        row("allowed share of samples", &|s| {
            format!("{:.0}%", s.allowed_share * 100.0)
        });
        row("agreeing requests wasm/naive/cedar", &|s| {
            let n = |k: &str| s.compared.get(k).map_or("-".into(), ToString::to_string);
            format!("{}/{}/{}", n("wasm"), n("naive"), n("cedar_grouped"))
        });
        for (t, b) in &self.wasm_bytes {
            out.push_str(&format!(
                "{:<40}{:>14}\n",
                format!(".wasm bytes {t}"),
                kib(*b)
            ));
        }
        out
    }
}

/// How a plot's y values are labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Times in nanoseconds (ticks read 100 ns, 1 µs, ... 1 s).
    Nanoseconds,
    /// Bytes and other counts (ticks read 10, 1k, 1M, ...).
    Count,
}

/// One line of a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's text.
    pub name: &'static str,
    /// The line's colour.
    pub rgb: (u8, u8, u8),
    /// `(hosts, value)`, by hosts.
    pub points: Vec<(f64, f64)>,
}

/// A log–log plot against policy size (hosts, 10 to 100,000), drawn by the
/// benchmark (`tests/src/plot.rs`) as `docs/<file>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// The file name under `docs/`.
    pub file: &'static str,
    /// The title above the plot.
    pub title: &'static str,
    /// The x axis' title.
    pub x_title: &'static str,
    /// The y axis' title.
    pub y_title: &'static str,
    /// How the y ticks read.
    pub unit: Unit,
    /// The lines.
    pub series: Vec<Series>,
}

/// The inverse of [`label`]: `"10k"` is 10,000 hosts.
fn hosts_of(label: &str) -> Option<usize> {
    match label.strip_suffix('k') {
        Some(k) => k.parse::<usize>().ok()?.checked_mul(1000),
        None => label.parse().ok(),
    }
}

/// The two plots, decision time and table size against policy size, from
/// the results' keys and values ([`Report::results`], or
/// `bench/results.json` read by [`results_from_json`]): the sizes measured
/// are those with a `rules_<size>` key; a figure missing or not positive
/// for a size leaves that point out.
pub fn plots(results: &BTreeMap<String, f64>) -> Vec<Plot> {
    let mut hosts: Vec<(usize, &str)> = results
        .keys()
        .filter_map(|k| k.strip_prefix("rules_"))
        .filter_map(|l| hosts_of(l).map(|n| (n, l)))
        .collect();
    hosts.sort_unstable();
    let series = |name: &'static str, rgb: (u8, u8, u8), key: &str, factor: f64| Series {
        name,
        rgb,
        points: hosts
            .iter()
            .filter_map(|(n, l)| {
                let v = results.get(&format!("{key}_{l}"))? * factor;
                (v.is_finite() && v > 0.0).then_some((*n as f64, v))
            })
            .collect(),
    };
    let decisions = Plot {
        file: "scale-decisions.png",
        title: "Decision time (median) against policy size",
        x_title: "hosts in the policy",
        y_title: "time per decision",
        unit: Unit::Nanoseconds,
        series: vec![
            series("native", (0x1b, 0x9e, 0x77), "decision_native_ns_p50", 1.0),
            series("wasm", (0xd9, 0x5f, 0x02), "decision_wasm_ns_p50", 1.0),
            series("naive", (0x75, 0x70, 0xb3), "naive_ns_p50", 1.0),
            series(
                "Cedar grouped",
                (0xe7, 0x29, 0x8a),
                "cedar_grouped_ns_p50",
                1.0,
            ),
            series(
                "Cedar per host",
                (0x66, 0xa6, 0x1e),
                "cedar_per_host_ns_p50",
                1.0,
            ),
        ],
    };
    let sizes = Plot {
        file: "scale-sizes.png",
        title: "Table size and compile time against policy size",
        x_title: "hosts in the policy",
        y_title: "bytes; compile time in µs",
        unit: Unit::Count,
        series: vec![
            series("table bytes", (0x1b, 0x9e, 0x77), "table_bytes", 1.0),
            series(
                "pluginConfig bytes",
                (0xd9, 0x5f, 0x02),
                "plugin_config_bytes",
                1.0,
            ),
            series(
                "linear memory bytes",
                (0x75, 0x70, 0xb3),
                "linear_memory_bytes",
                1.0,
            ),
            series("compile µs", (0xe7, 0x29, 0x8a), "compile_ms", 1e3),
        ],
    };
    vec![decisions, sizes]
}

/// `bench/results.json` ([`Report::json`]) back as keys and values; a
/// `null` (a figure not measured) is `NaN`.
pub fn results_from_json(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let map = v.as_object().ok_or("not a JSON object")?;
    Ok(map
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(f64::NAN)))
        .collect())
}

impl Report {
    /// The two plots of this run ([`plots`] of [`Report::results`]).
    pub fn plots(&self) -> Vec<Plot> {
        plots(&self.results())
    }
}
