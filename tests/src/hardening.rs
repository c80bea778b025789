//! Worst case and soak (issue 14; docs/security.md, "Worst case and soak"):
//! the requests at Envoy's limits that cost the filter the most, beside the
//! median request, and a long run of mixed requests through one VM.
//!
//! Shared by the benchmark (`tests/benches/hardening.rs`: `make bench` times
//! every case against the median, `make soak` sends 10,000,000 requests) and
//! the test (`tests/tests/hardening/worst.rs`: every case once with its
//! decision checked, and a short soak), so the two cannot drift apart.
//!
//! **Envoy's limits** (HTTP/1.1, the codec that admits the most):
//! `max_request_headers_kb` (default 60) bounds the request head as Envoy's
//! HTTP/1 parser (Balsa) counts it on the wire: the request line, every
//! header line with its `: ` and CRLF, and the blank line that ends the head
//! (exactly 61,440 bytes pass, one more is 431); so a path, a `Host` or one
//! header value can each be nearly 60 KiB. `max_headers_count` (default 100)
//! bounds the entries of the header map (`Host` is `:authority`).
//! HTTP/2 counts 32 bytes more per header (HPACK's entry overhead) and so
//! admits less. Envoy puts no limit of its own on the length of `Host`:
//! DNS allows 253 octets, and the filter refuses a longer host as
//! `invalid-authority` before any rule. [`envoy_head_bytes`] and
//! [`envoy_header_count`] count as Envoy does (the local host's connection
//! manager, `egress_hcm`, refuses what is over with Envoy's 431), and every
//! case stays within [`ENVOY_HEAD_BYTES`] and [`ENVOY_HEADER_COUNT`], less
//! than one repeated unit below the first.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use egress_table::Table;
use egress_table::plugin_config::{DEFAULT_MAX_PATH_BYTES, Layer};
use egress_table::record::Record;

use crate::generate::{self, Rng, Sample};
use crate::scale::{PeerProps, Stats, json_numbers, ns};
use crate::{HttpRequest, Vm};

/// Envoy's `max_request_headers_kb` default (60), in bytes of the request
/// head as written (see the module documentation).
pub const ENVOY_HEAD_BYTES: usize = 60 * 1024;

/// Envoy's `max_headers_count` default.
pub const ENVOY_HEADER_COUNT: usize = 100;

/// The generated table's size for the benchmark and the test.
pub const HOSTS: usize = 10_000;

/// The generator's seed.
pub const SEED: u64 = 14;

/// The hand-written destinations the adversarial cases aim at, put before
/// the generated ones so that their rules are `scale/1` to `scale/8`:
/// path templates with `{**}` (plain, and with literal text after it), a
/// regex with alternation and repetition, the regex that makes backtracking
/// engines take exponential time (`(a|aa)+b`), a `**.` wildcard, and header
/// conditions (a value, a negation, an absence) in `allow` and `deny` rules.
pub const DESTINATIONS: &str = r#"  destination "files.hardening.test" port 80 http {
    allow GET path "/files/{**}"
    allow GET path "/v1/{*}/objects/{**}.json"
    allow GET path ~"/(alpha|beta|gamma|[a-z]+-[0-9]+)(/(x|y|[0-9a-f]{2,8}))*/(z|zz)+"
    deny any path ~"/(a|aa)+b"
  }
  destination "**.deep.hardening.test" port 80 http {
    allow GET path prefix "/"
  }
  destination "headers.hardening.test" port 80 http {
    allow GET path "/t/{**}" when header "x-tenant" == "acme" and header "x-debug" absent
    allow POST path "/t/{**}" when header "x-tenant" prefix "acme-" and header "x-role" != "admin"
    deny any when header "x-debug" == "1"
  }
"#;

/// The generated policy of `hosts` hosts with [`DESTINATIONS`] first.
pub fn policy_text(hosts: usize, seed: u64) -> Result<String, String> {
    let text = generate::model(hosts, seed).text();
    let head = "  log denied\n";
    let at = text
        .find(head)
        .ok_or("the generated policy has no `log denied` line to insert after")?
        + head.len();
    let (a, b) = text.split_at(at);
    Ok(format!("{a}{DESTINATIONS}{b}"))
}

/// Bytes of a request head (without a body) as Envoy's HTTP/1 parser
/// counts them against `max_request_headers_kb`: `METHOD SP path SP
/// HTTP/1.1` CRLF, `Host: authority` CRLF, each `Name: value` CRLF, CRLF.
pub fn envoy_head_bytes(r: &HttpRequest) -> usize {
    let line = r.method.len() + 1 + r.path.len() + " HTTP/1.1\r\n".len();
    let host = r
        .authority
        .as_ref()
        .map_or(0, |a| "Host: \r\n".len() + a.len());
    let rest: usize = r.headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    line + host + rest + 2
}

/// How many header-map entries Envoy counts against `max_headers_count`
/// (`Host` included; the cases repeat no inline header, which would join
/// its first entry).
pub fn envoy_header_count(r: &HttpRequest) -> usize {
    r.headers.len() + usize::from(r.authority.is_some())
}

/// A decision in short: `allow scale/1`, `deny default`, `deny
/// invalid-authority` (the deciding rule, else the reason).
pub fn short(r: &Record) -> String {
    let why = r.rule.as_deref().unwrap_or(&r.reason);
    format!("{} {why}", r.decision.as_str())
}

/// One request, with what the policy says of it.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name in reports (`path_regex`).
    pub name: &'static str,
    /// What it is, in a few words.
    pub about: &'static str,
    /// The request.
    pub request: HttpRequest,
    /// The peer principal the request comes with, if any.
    pub principal: Option<String>,
    /// The decision the policy gives it ([`short`]).
    pub expect: String,
    /// The head limit it was built to fill ([`ENVOY_HEAD_BYTES`] for the
    /// cases at Envoy's limits, 0 for sampled requests).
    pub limit: usize,
}

impl Case {
    /// Whether the policy allows it.
    pub fn allowed(&self) -> bool {
        self.expect.starts_with("allow")
    }

    /// The header map the filter receives, for the native decision:
    /// pseudo-headers, then the headers with lower-case names. (The cases
    /// are canonical: Envoy's normalisation leaves them as they are.)
    pub fn header_map(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let r = &self.request;
        let mut h = vec![
            (
                b":authority".to_vec(),
                r.authority.clone().unwrap_or_default(),
            ),
            (b":path".to_vec(), r.path.clone()),
            (b":method".to_vec(), r.method.clone()),
            (b":scheme".to_vec(), r.scheme.clone()),
        ];
        h.extend(
            r.headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
        );
        h
    }
}

/// A header map as the native decision reads it.
type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

fn pairs(h: &[(Vec<u8>, Vec<u8>)]) -> Pairs<'_> {
    h.iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect()
}

/// The native decision of a header map, as a [`Record`].
fn native(table: &Table, h: &Pairs<'_>, principal: Option<&str>) -> Record {
    egress_table::proxy::decide_http(
        table,
        h,
        &PeerProps(principal),
        &Default::default(),
        &mut (),
        |d, _| Record::of(table, &d.decision.enforced),
    )
}

/// The compiled table, the median requests and the adversarial cases.
#[derive(Debug)]
pub struct Setup {
    /// Hosts in the generated part of the table.
    pub hosts: usize,
    /// The binary table.
    pub table: Vec<u8>,
    /// The realistic requests the median is taken over (scale.rs's mix and
    /// headers: 12 each, pseudo-headers included).
    pub samples: Vec<Case>,
    /// The adversarial requests at Envoy's limits.
    pub cases: Vec<Case>,
    /// Those of them that fill the head, built again for each of
    /// [`SCALED_LIMITS`].
    pub scaled: Vec<Case>,
    decoded: Table,
    maps: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
}

/// A sampled request as scale.rs sends it, its decision computed natively.
fn sample_case(table: &Table, s: &Sample, i: usize) -> Case {
    let mut request = HttpRequest::new(s.method, &s.host, &s.path);
    request.headers = crate::scale::extra_headers(i)
        .into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
        .collect();
    if let Some(p) = &s.principal {
        request = request.principal(p);
    }
    let mut case = Case {
        name: "median",
        about: "a sampled request",
        request,
        principal: s.principal.clone(),
        expect: String::new(),
        limit: 0,
    };
    let map = case.header_map();
    case.expect = short(&native(table, &pairs(&map), s.principal.as_deref()));
    case
}

/// `prefix`, then `unit` as many times as fits with `suffix` in `budget`
/// bytes (at least once).
fn fill(prefix: &str, unit: &str, suffix: &str, budget: usize) -> String {
    let room = budget.saturating_sub(prefix.len() + suffix.len());
    let n = (room / unit.len().max(1)).max(1);
    let mut s = String::with_capacity(prefix.len() + n * unit.len() + suffix.len());
    s.push_str(prefix);
    for _ in 0..n {
        s.push_str(unit);
    }
    s.push_str(suffix);
    s
}

/// Bytes `r`'s head can grow by within `limit`.
fn room(r: &HttpRequest, limit: usize) -> usize {
    limit.saturating_sub(envoy_head_bytes(r))
}

/// The realistic headers of a request (8 beside `Host`), as scale.rs sends them.
fn realistic(i: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    crate::scale::extra_headers(i)
        .into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
        .collect()
}

/// A GET with the realistic headers and a path of `prefix`, `unit`
/// repeated, `suffix`: at most `budget` bytes, or (`None`) what the headers
/// leave of `limit`.
fn long_path(
    limit: usize,
    budget: Option<usize>,
    host: &str,
    prefix: &str,
    unit: &str,
    suffix: &str,
) -> HttpRequest {
    let mut r = HttpRequest::new("GET", host, "");
    r.headers = realistic(1);
    let budget = budget.unwrap_or_else(|| room(&r, limit));
    r.path = fill(prefix, unit, suffix, budget).into_bytes();
    r
}

/// Fills a request up to the header count with `name(i)` headers: values
/// of `unit` once, or (with a `limit`) `unit` repeated, sharing what is
/// left of it.
fn pad(
    mut r: HttpRequest,
    name: &dyn Fn(usize) -> String,
    unit: &str,
    limit: Option<usize>,
) -> HttpRequest {
    let extra = ENVOY_HEADER_COUNT.saturating_sub(envoy_header_count(&r));
    let names: Vec<String> = (0..extra).map(name).collect();
    let lines: usize = names.iter().map(|n| n.len() + 4).sum();
    let each = match limit {
        Some(limit) => room(&r, limit).saturating_sub(lines) / extra.max(1),
        None => unit.len(),
    };
    for n in names {
        let v = fill("", unit, "", each);
        r.headers.push((n.into_bytes(), v.into_bytes()));
    }
    r
}

/// The adversarial cases, their heads filled up to `limit` bytes (Envoy's
/// is [`ENVOY_HEAD_BYTES`]; smaller limits show how the cost grows);
/// `base` is an allowed sampled request (the headers cases add to it, so
/// they decide as it does).
fn adversarial(base: &Case, limit: usize) -> Vec<Case> {
    let case = |name, about, request: HttpRequest, expect: &str| Case {
        name,
        about,
        request,
        principal: None,
        expect: expect.to_owned(),
        limit,
    };
    let from_base = |name, about, request: HttpRequest| Case {
        name,
        about,
        request,
        principal: base.principal.clone(),
        expect: base.expect.clone(),
        limit,
    };
    let mut out = Vec::new();

    // Headers: as many as Envoy admits, small; then filling the limit.
    let small = pad(base.request.clone(), &|i| format!("x-extra-{i}"), "v", None);
    out.push(from_base(
        "headers_100",
        "a sampled allowed request with 100 headers",
        small,
    ));
    let big = pad(
        base.request.clone(),
        &|i| format!("x-pad-{i}"),
        "0123456789abcdef",
        Some(limit),
    );
    out.push(from_base(
        "headers_full",
        "the same, its 100 headers filling the head",
        big,
    ));
    let mut r = HttpRequest::new("GET", "headers.hardening.test", "/t/items/1");
    r.headers = realistic(2);
    let mut at_limit = r.clone();
    let r = pad(r, &|_| "x-tenant".to_owned(), "acme, ", Some(limit));
    out.push(case(
        "repeated_header",
        "91 x-tenant headers of acme lists, past max_header_bytes: the allow fails unread",
        r,
        "deny default",
    ));
    // The same lists, sharing what `max_header_bytes` leaves: read to the
    // last element.
    let name = |k: &[u8]| k.eq_ignore_ascii_case(b"x-tenant");
    let used: usize = at_limit
        .headers
        .iter()
        .filter(|(k, _)| name(k))
        .map(|(_, v)| v.len())
        .sum();
    let extra = ENVOY_HEADER_COUNT.saturating_sub(envoy_header_count(&at_limit));
    let each =
        (egress_table::plugin_config::DEFAULT_MAX_HEADER_BYTES as usize - used) / extra.max(1);
    for _ in 0..extra {
        at_limit.headers.push((
            b"x-tenant".to_vec(),
            fill("", "acme, ", "", each).into_bytes(),
        ));
    }
    out.push(case(
        "repeated_header_at_limit",
        "91 x-tenant headers of acme lists filling max_header_bytes, read element by element",
        at_limit,
        "allow scale/6",
    ));

    // Hosts: the longest DNS name, 1-byte labels under a `**.` wildcard
    // (one lookup per label) and 63-byte labels nobody lists; then an
    // authority as long as the limit admits.
    let deep = fill("", "x.", "deep.hardening.test", 253);
    let mut r = HttpRequest::new("GET", &deep, "/a");
    r.headers = realistic(3);
    out.push(case(
        "host_253_wildcard",
        "253-byte host of 117 one-byte labels under **.deep.hardening.test",
        r,
        "allow scale/5",
    ));
    let label = "q".repeat(63);
    let wide = format!("{label}.{label}.{label}.{}.example", "q".repeat(53));
    let mut r = HttpRequest::new("GET", &wide, "/a");
    r.headers = realistic(4);
    out.push(case(
        "host_253_miss",
        "253-byte host of 63-byte labels that no destination lists",
        r,
        "deny default",
    ));
    let mut r = HttpRequest::new("GET", "", "/files/a");
    r.headers = realistic(5);
    let budget = room(&r, limit);
    r.authority = Some(fill("", "abcdefgh.", "files.hardening.test", budget).into_bytes());
    out.push(case(
        "authority_long",
        "Host filling the head: subdomains of an allowed host (over 253: refused)",
        r,
        "deny invalid-authority",
    ));

    // Paths as long as the filter decides on (its default `max_path_bytes`,
    // at Envoy's limit; the same share of a smaller limit), through every
    // kind of path rule; then one filling the head, which the filter
    // refuses unread.
    let h = "files.hardening.test";
    let seg = format!("{}/", "s".repeat(199));
    let budget = limit * DEFAULT_MAX_PATH_BYTES as usize / ENVOY_HEAD_BYTES;
    let path = |prefix, unit, suffix| long_path(limit, Some(budget), h, prefix, unit, suffix);
    out.push(case(
        "path_over_limit",
        "/files/ then 200-byte segments filling the head: longer than max_path_bytes",
        long_path(limit, None, h, "/files/", &seg, "end"),
        "deny path-too-long",
    ));
    out.push(case(
        "path_long_segments",
        "/files/ then 200-byte segments, against {**}",
        path("/files/", &seg, "end"),
        "allow scale/1",
    ));
    out.push(case(
        "path_short_segments",
        "/files/ then one-byte segments (2,044 at 4 KiB), against {**}",
        path("/files/", "a/", "end"),
        "allow scale/1",
    ));
    out.push(case(
        "path_escapes",
        "/files/ then %3A escapes (1,363 at 4 KiB), decoded to compare",
        path("/files/", "%3A", ""),
        "allow scale/1",
    ));
    out.push(case(
        "path_query",
        "/files/x and a query filling the head",
        long_path(limit, None, h, "/files/x?", "q=1&", ""),
        "allow scale/1",
    ));
    out.push(case(
        "path_template_suffix",
        "/v1/p/objects/, one-byte segments, x.json, against {**}.json",
        path("/v1/p/objects/", "a/", "x.json"),
        "allow scale/2",
    ));
    out.push(case(
        "path_regex",
        "/alpha then 9-byte segments through a regex's alternation and repetition",
        path("/alpha", "/0a1b2c3d", "/zz"),
        "allow scale/3",
    ));
    out.push(case(
        "path_redos",
        "/aaa…a against (a|aa)+b (exponential for backtracking engines)",
        path("/", "a", ""),
        "deny default",
    ));
    out.push(case(
        "path_redos_deny",
        "/aaa…ab: the deny rule (a|aa)+b fires after reading it all",
        path("/", "a", "b"),
        "deny scale/4",
    ));
    out
}

/// The smaller head limits the cases that fill the head are also built
/// for, to show how their cost grows with their size.
pub const SCALED_LIMITS: [usize; 2] = [15 * 1024, 30 * 1024];

impl Setup {
    /// The table of `hosts` generated hosts and [`DESTINATIONS`] from
    /// `seed`, `samples` median requests and the adversarial cases; every
    /// case's stated decision is checked against the native decision, and
    /// every case against Envoy's limits.
    pub fn new(hosts: usize, seed: u64, samples: usize) -> Result<Self, String> {
        let text = policy_text(hosts, seed)?;
        let table = crate::compile(&text)?;
        let decoded = Table::from_bytes(&table).map_err(|e| e.to_string())?;
        let model = generate::model(hosts, seed);
        let drawn = model.sample(samples, seed ^ 0x4841_5244);
        let samples: Vec<Case> = drawn
            .iter()
            .enumerate()
            .map(|(i, s)| sample_case(&decoded, s, i))
            .collect();
        let base = samples
            .iter()
            .find(|c| c.allowed() && c.principal.is_some())
            .ok_or("no sampled request is allowed")?;
        let cases = adversarial(base, ENVOY_HEAD_BYTES);
        // What fills the head, and the paths at the filter's limit.
        let fills = |c: &Case| {
            envoy_head_bytes(&c.request) > ENVOY_HEAD_BYTES - 1024
                || c.request.path.len() >= DEFAULT_MAX_PATH_BYTES as usize - 256
        };
        let mut scaled = Vec::new();
        for limit in SCALED_LIMITS {
            for c in adversarial(base, limit) {
                if cases.iter().any(|f| f.name == c.name && fills(f)) {
                    scaled.push(c);
                }
            }
        }
        let mut maps = Vec::with_capacity(cases.len() + scaled.len());
        for c in cases.iter().chain(&scaled) {
            let bytes = envoy_head_bytes(&c.request);
            let count = envoy_header_count(&c.request);
            if bytes > ENVOY_HEAD_BYTES || count > ENVOY_HEADER_COUNT {
                return Err(format!(
                    "{}: {bytes} bytes in {count} headers, over Envoy's limits",
                    c.name
                ));
            }
            let map = c.header_map();
            let got = short(&native(&decoded, &pairs(&map), c.principal.as_deref()));
            if got != c.expect {
                return Err(format!(
                    "{} ({} bytes): the table decides {got:?}, the case says {:?}",
                    c.name, bytes, c.expect
                ));
            }
            maps.push(map);
        }
        Ok(Self {
            hosts,
            table,
            samples,
            cases,
            scaled,
            decoded,
            maps,
        })
    }

    /// A VM of `target` configured with the table, log capture off.
    pub fn vm(&self, target: &str) -> Result<Vm, String> {
        let mut vm = crate::vm_with_table(target, &self.table, Layer::Http)?;
        vm.set_capture_logs(false);
        Ok(vm)
    }

    /// Every case the benchmark times: [`Setup::cases`], then
    /// [`Setup::scaled`].
    pub fn timed(&self) -> Vec<&Case> {
        self.cases.iter().chain(&self.scaled).collect()
    }
}

/// Sends `case` through `vm` and checks the filter's decision record
/// against what the policy says.
pub fn check(vm: &mut Vm, case: &Case) -> Result<(), String> {
    let out = vm.http(&case.request).map_err(|e| e.to_string())?;
    let rec = out
        .filter_state
        .get("wasm.egress_decision")
        .ok_or_else(|| {
            format!(
                "{}: no decision record (status {}, {})",
                case.name, out.status, out.details
            )
        })
        .and_then(|b| Record::parse(b))?;
    let got = short(&rec);
    let status = if case.allowed() { 200 } else { 403 };
    if got != case.expect || out.status != status {
        return Err(format!(
            "{}: the filter decided {got:?} (status {}), the policy says {:?}",
            case.name, out.status, case.expect
        ));
    }
    Ok(())
}

/// One `proxy_on_request_headers` of `req`, in ns (host calls included).
fn guest_ns(vm: &mut Vm, req: &HttpRequest) -> Result<f64, String> {
    vm.set_guest_timing(true);
    let out = vm.http(req).map_err(|e| e.to_string())?;
    black_box(out.status);
    let t = vm
        .guest_times()
        .ok_or("guest timing is off")?
        .request_headers
        .as_nanos();
    if t == 0 {
        return Err("on_request_headers did not run".into());
    }
    Ok(t as f64)
}

/// Where a column of the worst-case table was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The filter `.wasm` of this target in the local host.
    Wasm(&'static str),
    /// `egress_table::proxy::decide_http` from the header map, natively.
    Native,
}

impl Engine {
    /// Its key in `bench/hardening.json`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Wasm("wasm32-wasip1") => "wasip1",
            Self::Wasm("wasm32-unknown-unknown") => "unknown",
            Self::Wasm(_) => "wasm",
            Self::Native => "native",
        }
    }
}

/// One engine's timings: the median requests, then each case.
#[derive(Debug, Clone)]
pub struct Column {
    /// Where.
    pub engine: Engine,
    /// Over the sampled requests.
    pub median: Stats,
    /// Per case, in [`Setup::timed`] order.
    pub cases: Vec<Stats>,
}

/// The order of one round: every case (`Some`) and `k` samples (`None`),
/// shuffled so that no case always follows another.
fn round_order(rng: &mut Rng, cases: usize, k: usize) -> Vec<Option<usize>> {
    let mut order: Vec<Option<usize>> = (0..cases).map(Some).chain((0..k).map(|_| None)).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

/// Samples timed per round beside the cases.
const SAMPLES_PER_ROUND: usize = 4;

/// Runs `rounds` rounds of every timed case and [`SAMPLES_PER_ROUND`]
/// sampled requests (in turn), shuffled, timing each with `time`.
fn interleaved(
    setup: &Setup,
    rounds: usize,
    time: &mut dyn FnMut(Option<usize>, usize) -> Result<f64, String>,
) -> Result<(Vec<f64>, Vec<Vec<f64>>), String> {
    let n = setup.timed().len();
    let mut rng = Rng::new(SEED);
    let mut median = Vec::new();
    let mut cases = vec![Vec::with_capacity(rounds); n];
    let mut next = 0usize;
    for _ in 0..rounds {
        for item in round_order(&mut rng, n, SAMPLES_PER_ROUND) {
            match item {
                Some(i) => {
                    let t = time(Some(i), 0)?;
                    if let Some(out) = cases.get_mut(i) {
                        out.push(t);
                    }
                }
                None => {
                    median.push(time(None, next % setup.samples.len().max(1))?);
                    next += 1;
                }
            }
        }
    }
    Ok((median, cases))
}

/// Times every case and the sampled requests through the `.wasm` of
/// `target`, interleaved, `rounds` times; checks every decision first.
pub fn measure_wasm(setup: &Setup, target: &'static str, rounds: usize) -> Result<Column, String> {
    let mut vm = setup.vm(target)?;
    let timed = setup.timed();
    for c in setup.samples.iter().chain(timed.iter().copied()) {
        check(&mut vm, c).map_err(|e| format!("{target}: {e}"))?;
    }
    let (median, cases) = interleaved(setup, rounds, &mut |case, sample| {
        let c = match case {
            Some(i) => timed.get(i).copied(),
            None => setup.samples.get(sample),
        };
        guest_ns(&mut vm, &c.ok_or("no such request")?.request)
    })?;
    Ok(Column {
        engine: Engine::Wasm(target),
        median: Stats::of(median),
        cases: cases.into_iter().map(Stats::of).collect(),
    })
}

/// The same natively: `decide_http` from the header map the filter gets
/// (four times as many rounds: it is cheap).
pub fn measure_native(setup: &Setup, rounds: usize) -> Result<Column, String> {
    let table = &setup.decoded;
    let sample_maps: Vec<_> = setup.samples.iter().map(Case::header_map).collect();
    let sample_pairs: Vec<Pairs<'_>> = sample_maps.iter().map(|m| pairs(m)).collect();
    let case_pairs: Vec<Pairs<'_>> = setup.maps.iter().map(|m| pairs(m)).collect();
    let timed = setup.timed();
    let (median, cases) = interleaved(setup, rounds * 4, &mut |case, sample| {
        let (h, c) = match case {
            Some(i) => (case_pairs.get(i), timed.get(i).copied()),
            None => (sample_pairs.get(sample), setup.samples.get(sample)),
        };
        let (Some(h), Some(c)) = (h, c) else {
            return Err("no such request".into());
        };
        let principal = c.principal.as_deref();
        let t = Instant::now();
        let allowed = egress_table::proxy::decide_http(
            table,
            h,
            &PeerProps(principal),
            &Default::default(),
            &mut (),
            |d, _| d.decision.allowed(),
        );
        let ns = t.elapsed().as_nanos() as f64;
        black_box(allowed);
        Ok(ns)
    })?;
    Ok(Column {
        engine: Engine::Native,
        median: Stats::of(median),
        cases: cases.into_iter().map(Stats::of).collect(),
    })
}

/// What the report says of a timed case.
#[derive(Debug, Clone)]
pub struct Row {
    /// Its name.
    pub name: &'static str,
    /// What it is.
    pub about: &'static str,
    /// The head limit it was built for.
    pub limit: usize,
    /// Its head as Envoy counts it, bytes.
    pub bytes: usize,
    /// Its header-map entries as Envoy counts them.
    pub headers: usize,
    /// The decision.
    pub expect: String,
}

/// The worst-case benchmark's results.
#[derive(Debug, Clone)]
pub struct Worst {
    /// Hosts in the generated table.
    pub hosts: usize,
    /// Sampled requests the median is taken over.
    pub samples: usize,
    /// Their mean size as Envoy counts it, bytes.
    pub sample_bytes: f64,
    /// The share of them the policy allows.
    pub sample_allowed: f64,
    /// Rounds (timings per case, per `.wasm` target).
    pub rounds: usize,
    /// Per timed case, in [`Setup::timed`] order.
    pub rows: Vec<Row>,
    /// The columns: each `.wasm` target, then native.
    pub columns: Vec<Column>,
}

/// `median` of a column for case `i`, as a ratio to its median request.
fn ratio(col: &Column, i: usize) -> f64 {
    col.cases
        .get(i)
        .map_or(f64::NAN, |s| s.p50 / col.median.p50)
}

impl Worst {
    /// Measures `setup` for each target and natively.
    pub fn run(setup: &Setup, targets: &[&'static str], rounds: usize) -> Result<Self, String> {
        let mut columns = Vec::new();
        for t in targets {
            columns.push(measure_wasm(setup, t, rounds)?);
        }
        columns.push(measure_native(setup, rounds)?);
        let n = setup.samples.len().max(1) as f64;
        Ok(Self {
            hosts: setup.hosts,
            samples: setup.samples.len(),
            sample_bytes: setup
                .samples
                .iter()
                .map(|c| envoy_head_bytes(&c.request) as f64)
                .sum::<f64>()
                / n,
            sample_allowed: setup.samples.iter().filter(|c| c.allowed()).count() as f64 / n,
            rounds,
            rows: setup
                .timed()
                .into_iter()
                .map(|c| Row {
                    name: c.name,
                    about: c.about,
                    limit: c.limit,
                    bytes: envoy_head_bytes(&c.request),
                    headers: envoy_header_count(&c.request),
                    expect: c.expect.clone(),
                })
                .collect(),
            columns,
        })
    }

    /// The cases at Envoy's limit, with their index in [`Worst::rows`].
    fn at_limit(&self) -> impl Iterator<Item = (usize, &Row)> {
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.limit == ENVOY_HEAD_BYTES)
    }

    /// A case's index in [`Worst::rows`] at `limit`.
    fn index(&self, name: &str, limit: usize) -> Option<usize> {
        self.rows
            .iter()
            .position(|r| r.name == name && r.limit == limit)
    }

    /// The largest ratio of a case at Envoy's limit to the median request,
    /// for a column.
    pub fn max_ratio(&self, col: &Column) -> (f64, &'static str) {
        self.at_limit()
            .map(|(i, r)| (ratio(col, i), r.name))
            .fold((0.0, ""), |a, b| if b.0 > a.0 { b } else { a })
    }

    /// The growth of a case's time with its size, from the smallest limit
    /// to Envoy's: ns per KiB of head.
    fn ns_per_kib(&self, col: &Column, name: &str) -> Option<f64> {
        let small = self.index(name, SCALED_LIMITS[0])?;
        let full = self.index(name, ENVOY_HEAD_BYTES)?;
        let (a, b) = (self.rows.get(small)?, self.rows.get(full)?);
        let dt = col.cases.get(full)?.p50 - col.cases.get(small)?.p50;
        Some(dt / (b.bytes as f64 - a.bytes as f64) * 1024.0)
    }

    /// The head size at which a case would take 10× the median request,
    /// on the line through its smallest and full sizes (KiB).
    fn kib_at_10x(&self, col: &Column, name: &str) -> Option<f64> {
        let small = self.index(name, SCALED_LIMITS[0])?;
        let per_kib = self.ns_per_kib(col, name).filter(|k| *k > 0.0)?;
        let t = col.cases.get(small)?.p50;
        let b = self.rows.get(small)?.bytes as f64 / 1024.0;
        Some(b + (10.0 * col.median.p50 - t) / per_kib)
    }

    /// `bench/hardening.json`'s keys and values: ns (p50, and p99 of the
    /// median), ratios to the median request, bytes and counts.
    pub fn results(&self) -> std::collections::BTreeMap<String, f64> {
        let mut m = std::collections::BTreeMap::new();
        m.insert("hosts".into(), self.hosts as f64);
        m.insert("median_samples".into(), self.samples as f64);
        m.insert("rounds".into(), self.rounds as f64);
        m.insert("target_ratio".into(), 10.0);
        m.insert("envoy_head_bytes_limit".into(), ENVOY_HEAD_BYTES as f64);
        m.insert("median_envoy_head_bytes".into(), self.sample_bytes);
        m.insert("median_allowed_share".into(), self.sample_allowed);
        for col in &self.columns {
            let e = col.engine.key();
            m.insert(format!("median_ns_p50_{e}"), col.median.p50);
            m.insert(format!("median_ns_p99_{e}"), col.median.p99);
            for (i, r) in self.rows.iter().enumerate() {
                let key = if r.limit == ENVOY_HEAD_BYTES {
                    r.name.to_owned()
                } else {
                    format!("{}_at_{}k", r.name, r.limit / 1024)
                };
                let p50 = col.cases.get(i).map_or(f64::NAN, |s| s.p50);
                m.insert(format!("{key}_ns_p50_{e}"), p50);
                m.insert(format!("{key}_ratio_{e}"), ratio(col, i));
                if let Some(k) = self.ns_per_kib(col, r.name)
                    && r.limit == ENVOY_HEAD_BYTES
                {
                    m.insert(format!("{}_ns_per_kib_{e}", r.name), k);
                    if let Some(at) = self.kib_at_10x(col, r.name) {
                        m.insert(format!("{}_kib_at_10x_median_{e}", r.name), at);
                    }
                }
            }
            m.insert(format!("max_ratio_{e}"), self.max_ratio(col).0);
        }
        for r in &self.rows {
            let key = if r.limit == ENVOY_HEAD_BYTES {
                r.name.to_owned()
            } else {
                format!("{}_at_{}k", r.name, r.limit / 1024)
            };
            m.insert(format!("{key}_envoy_head_bytes"), r.bytes as f64);
            m.insert(format!("{key}_headers"), r.headers as f64);
        }
        m
    }

    /// The results as JSON.
    pub fn json(&self) -> String {
        json_numbers(&self.results())
    }

    /// The tables the benchmark prints: every case at Envoy's limit, then
    /// how the cases that fill the head grow with it.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "worst case at Envoy's limits: one proxy_on_request_headers (p50 of {} rounds, interleaved), {}-host table;\n× = ratio to the median request (p50 over {} sampled requests); target ≤ 10×",
            self.rounds, self.hosts, self.samples
        );
        let _ = write!(out, "{:<22}{:>7}{:>5}", "case", "bytes", "hdrs");
        for col in &self.columns {
            let _ = write!(out, "{:>11}{:>8}", col.engine.key(), "×");
        }
        let _ = writeln!(out, "  decision");
        let _ = write!(
            out,
            "{:<22}{:>7.0}{:>5}",
            "median request", self.sample_bytes, 9
        );
        for col in &self.columns {
            let _ = write!(out, "{:>11}{:>8}", ns(col.median.p50), "1.0×");
        }
        let _ = writeln!(out, "  ({:.0}% allowed)", self.sample_allowed * 100.0);
        for (i, r) in self.at_limit() {
            let _ = write!(out, "{:<22}{:>7}{:>5}", r.name, r.bytes, r.headers);
            for col in &self.columns {
                let p = col.cases.get(i).map_or(f64::NAN, |s| s.p50);
                let _ = write!(out, "{:>11}{:>8}", ns(p), format!("{:.1}×", ratio(col, i)));
            }
            let _ = writeln!(out, "  {}", r.expect);
        }
        for col in &self.columns {
            let (r, name) = self.max_ratio(col);
            let _ = writeln!(
                out,
                "{}: largest {r:.1}× ({name}){}",
                col.engine.key(),
                if r <= 10.0 {
                    ", within 10×"
                } else {
                    ", OVER 10×"
                }
            );
        }
        let limits: Vec<usize> = SCALED_LIMITS
            .iter()
            .copied()
            .chain([ENVOY_HEAD_BYTES])
            .collect();
        for col in &self.columns {
            let _ = write!(
                out,
                "\ngrowth with the head's size, {} (p50):\n{:<22}",
                col.engine.key(),
                "case"
            );
            for l in &limits {
                let _ = write!(out, "{:>11}", format!("{} KiB", l / 1024));
            }
            let _ = writeln!(out, "{:>11}{:>16}", "per KiB", "10× median at");
            for (_, r) in self.at_limit() {
                if self.index(r.name, SCALED_LIMITS[0]).is_none() {
                    continue;
                }
                let _ = write!(out, "{:<22}", r.name);
                for l in &limits {
                    let t = self
                        .index(r.name, *l)
                        .and_then(|i| col.cases.get(i))
                        .map_or(f64::NAN, |s| s.p50);
                    let _ = write!(out, "{:>11}", ns(t));
                }
                let k = self.ns_per_kib(col, r.name).unwrap_or(f64::NAN);
                let at = self.kib_at_10x(col, r.name).unwrap_or(f64::NAN);
                let at = if at.is_finite() && at <= ENVOY_HEAD_BYTES as f64 / 1024.0 {
                    format!("{at:.1} KiB")
                } else {
                    "not within 60".into()
                };
                let _ = writeln!(out, "{:>11}{:>16}", ns(k), at);
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// The soak.

/// How long a soak runs and how it samples.
#[derive(Debug, Clone, Copy)]
pub struct SoakConfig {
    /// Requests in all.
    pub requests: u64,
    /// Requests per window (memory and mean time sampled after each).
    pub window: u64,
    /// One request in this many is an adversarial case (the rest are
    /// sampled requests), in turn.
    pub adversarial_one_in: u64,
    /// Picks the sampled requests.
    pub seed: u64,
    /// After each window, this many requests are timed through the soak's
    /// VM and through a freshly configured one (0: none).
    pub probe: u64,
}

impl SoakConfig {
    /// `make soak`: `requests` in windows of 500,000, one adversarial
    /// request in 64, each window compared with a fresh VM on 20,000.
    pub fn full(requests: u64) -> Self {
        Self {
            requests,
            window: 500_000,
            adversarial_one_in: 64,
            seed: SEED,
            probe: 20_000,
        }
    }
}

/// What one window of the soak saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Requests sent so far.
    pub requests: u64,
    /// The VM's linear memory after the window.
    pub linear_memory_bytes: usize,
    /// The whole process's resident memory after the window (host, wasmtime
    /// and the guest), if `/proc` tells.
    pub rss_bytes: Option<u64>,
    /// Mean wall time per request in the window (the whole stream: the
    /// connection manager, the filter's callbacks, the simulated upstream).
    pub mean_ns: f64,
    /// Mean CPU time (user and system) the process spent per request in
    /// the window, if `/proc` tells: less disturbed than the wall time by
    /// other work on a shared machine.
    pub cpu_ns: Option<f64>,
    /// The soak VM's time per request over a freshly configured VM's, on
    /// the same requests right after the window (1.0: no slower than new;
    /// the median of [`PROBE_CHUNKS`] alternating comparisons).
    pub vs_fresh: Option<f64>,
    /// The machine's load average over the last minute at the window's
    /// end, if `/proc` tells.
    pub load: Option<f64>,
    /// Requests of the window the filter allowed.
    pub allowed: u64,
}

/// A soak's results.
#[derive(Debug, Clone)]
pub struct Soak {
    /// The `.wasm` target.
    pub target: &'static str,
    /// Hosts in the table.
    pub hosts: usize,
    /// The configuration.
    pub config: SoakConfig,
    /// Linear memory once configured, before any request.
    pub configured_memory_bytes: usize,
    /// Per window.
    pub windows: Vec<Window>,
    /// Wall time of the requests, s.
    pub wall_s: f64,
}

/// The process's resident memory, from `/proc/self/status`.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The process's CPU time (user and system), ns, from `/proc/self/stat`
/// (in clock ticks of 10 ms, Linux's `USER_HZ`).
pub fn cpu_ns() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses.
    let rest = s.get(s.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1e7)
}

/// The load average over the last minute, from `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soak's mix: sampled requests at random, and in turn one adversarial
/// case in `every`.
struct Mix {
    rng: Rng,
    every: u64,
    adversarial: usize,
}

impl Mix {
    fn new(seed: u64, every: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            every: every.max(1),
            adversarial: 0,
        }
    }

    /// The `i`th request.
    fn next<'s>(&mut self, setup: &'s Setup, i: u64) -> Result<&'s Case, String> {
        let case = if i % self.every == self.every - 1 && !setup.cases.is_empty() {
            self.adversarial += 1;
            setup.cases.get(self.adversarial % setup.cases.len())
        } else {
            setup.samples.get(self.rng.below(setup.samples.len()))
        };
        case.ok_or_else(|| "no requests to send".to_owned())
    }
}

/// Sends one request (the whole stream) and checks its status against the
/// policy's decision; whether it was allowed.
fn send(vm: &mut Vm, case: &Case, what: &str) -> Result<bool, String> {
    let out = vm
        .http(&case.request)
        .map_err(|e| format!("{what} ({}): {e}", case.name))?;
    let want = if case.allowed() { 200 } else { 403 };
    if out.status != want {
        return Err(format!(
            "{what} ({}, {} {}): status {}, the policy says {}",
            case.name,
            String::from_utf8_lossy(&case.request.method),
            String::from_utf8_lossy(case.request.authority.as_deref().unwrap_or(b"")),
            out.status,
            case.expect
        ));
    }
    Ok(want == 200)
}

/// Sends `n` requests of the mix from `seed` through `vm`; ns per request.
fn timed_run(vm: &mut Vm, setup: &Setup, seed: u64, every: u64, n: u64) -> Result<f64, String> {
    let mut mix = Mix::new(seed, every);
    let t = Instant::now();
    for i in 0..n {
        send(vm, mix.next(setup, i)?, "probe")?;
    }
    Ok(t.elapsed().as_nanos() as f64 / n.max(1) as f64)
}

/// Chunks the probe of [`against_fresh`] is sent in, per VM.
const PROBE_CHUNKS: u64 = 10;

/// The soak VM's time per request over a fresh VM's on the same requests:
/// `cfg.probe` requests each, in [`PROBE_CHUNKS`] chunks, the two VMs
/// taking turns at going first (so that a change in the machine's speed
/// weighs on both alike); the median of the chunks' ratios. The fresh VM is
/// configured now and first sent `cfg.probe` requests to warm it.
fn against_fresh(
    vm: &mut Vm,
    setup: &Setup,
    target: &str,
    cfg: &SoakConfig,
    window: u64,
) -> Result<f64, String> {
    let mut fresh = setup.vm(target)?;
    let every = cfg.adversarial_one_in;
    let seed = cfg.seed ^ window.wrapping_mul(0x9E37_79B9);
    timed_run(&mut fresh, setup, seed, every, cfg.probe)?;
    let chunk = (cfg.probe / PROBE_CHUNKS).max(1);
    let mut ratios = Vec::new();
    for p in 0..PROBE_CHUNKS {
        let s = seed.wrapping_add(p + 1);
        let (a, b) = if p % 2 == 0 {
            let a = timed_run(vm, setup, s, every, chunk)?;
            (a, timed_run(&mut fresh, setup, s, every, chunk)?)
        } else {
            let b = timed_run(&mut fresh, setup, s, every, chunk)?;
            (timed_run(vm, setup, s, every, chunk)?, b)
        };
        ratios.push(a / b);
    }
    Ok(Stats::of(ratios).p50)
}

/// Sends `cfg.requests` requests through one VM of `target`: sampled
/// requests of every shape (exact, wildcard, template, regex, denied,
/// unknown hosts; with and without a principal and a query), chosen at
/// random, and in turn one adversarial case in `adversarial_one_in`. Every
/// request's status is checked against the policy's decision. After each
/// window, the linear memory, the window's mean time per request and (with
/// `cfg.probe`) its time against a fresh VM's are recorded, and `progress`
/// sees them.
pub fn soak(
    setup: &Setup,
    target: &'static str,
    cfg: SoakConfig,
    progress: &mut dyn FnMut(&Window),
) -> Result<Soak, String> {
    let mut vm = setup.vm(target)?;
    let configured = vm.memory_size();
    let mut mix = Mix::new(cfg.seed, cfg.adversarial_one_in);
    let window = cfg.window.max(1);
    let mut windows = Vec::new();
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < cfg.requests {
        let n = window.min(cfg.requests - sent);
        let mut allowed = 0u64;
        let cpu = cpu_ns();
        let t = Instant::now();
        for i in sent..sent + n {
            let what = format!("{target}: request {i}");
            allowed += u64::from(send(&mut vm, mix.next(setup, i)?, &what)?);
        }
        let mean_ns = t.elapsed().as_nanos() as f64 / n as f64;
        let cpu_ns = cpu.zip(cpu_ns()).map(|(a, b)| (b - a) / n as f64);
        sent += n;
        let vs_fresh = if cfg.probe > 0 {
            Some(against_fresh(&mut vm, setup, target, &cfg, sent / window)?)
        } else {
            None
        };
        let w = Window {
            requests: sent,
            linear_memory_bytes: vm.memory_size(),
            rss_bytes: rss_bytes(),
            mean_ns,
            cpu_ns,
            vs_fresh,
            load: load_average(),
            allowed,
        };
        progress(&w);
        windows.push(w);
    }
    Ok(Soak {
        target,
        hosts: setup.hosts,
        config: cfg,
        configured_memory_bytes: configured,
        windows,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

impl Soak {
    /// Linear memory after the first window (the warm-up).
    pub fn warm_memory(&self) -> usize {
        self.windows.first().map_or(0, |w| w.linear_memory_bytes)
    }

    /// The largest linear memory of any window.
    pub fn peak_memory(&self) -> usize {
        self.windows
            .iter()
            .map(|w| w.linear_memory_bytes)
            .max()
            .unwrap_or(0)
    }

    /// Whether linear memory stayed what it was after the warm-up window.
    pub fn memory_flat(&self) -> bool {
        self.peak_memory() == self.warm_memory()
    }

    /// Mean time per request of the windows after the warm-up: first,
    /// last, lowest and highest (ns).
    pub fn times(&self) -> (f64, f64, f64, f64) {
        let after: Vec<f64> = self.windows.iter().skip(1).map(|w| w.mean_ns).collect();
        let first = after.first().copied().unwrap_or(f64::NAN);
        let last = after.last().copied().unwrap_or(f64::NAN);
        let lo = after.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = after.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (first, last, lo, hi)
    }

    /// Mean CPU time per request of the windows after the warm-up: first,
    /// last, lowest and highest (ns; NaN without `/proc`).
    pub fn cpu_times(&self) -> (f64, f64, f64, f64) {
        let after: Vec<f64> = self
            .windows
            .iter()
            .skip(1)
            .map(|w| w.cpu_ns.unwrap_or(f64::NAN))
            .collect();
        let first = after.first().copied().unwrap_or(f64::NAN);
        let last = after.last().copied().unwrap_or(f64::NAN);
        let lo = after.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = after.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (first, last, lo, hi)
    }

    /// The lowest and highest ratio to a fresh VM (NaN without probes).
    pub fn fresh_range(&self) -> (f64, f64) {
        let r: Vec<f64> = self.windows.iter().filter_map(|w| w.vs_fresh).collect();
        if r.is_empty() {
            return (f64::NAN, f64::NAN);
        }
        (
            r.iter().copied().fold(f64::INFINITY, f64::min),
            r.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    }

    /// `bench/soak.json`.
    pub fn json(&self) -> String {
        let (first, last, lo, hi) = self.times();
        let (cfirst, clast, clo, chi) = self.cpu_times();
        let (fmin, fmax) = self.fresh_range();
        let windows: Vec<serde_json::Value> = self
            .windows
            .iter()
            .map(|w| {
                serde_json::json!({
                    "requests": w.requests,
                    "linear_memory_bytes": w.linear_memory_bytes,
                    "rss_bytes": w.rss_bytes,
                    "mean_ns": (w.mean_ns * 10.0).round() / 10.0,
                    "cpu_ns": w.cpu_ns.map(|c| c.round()),
                    "vs_fresh_vm": w.vs_fresh.map(|x| (x * 1000.0).round() / 1000.0),
                    "load_average": w.load,
                    "allowed": w.allowed,
                })
            })
            .collect();
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        let v = serde_json::json!({
            "target": self.target,
            "hosts": self.hosts,
            "requests": self.config.requests,
            "window": self.config.window,
            "adversarial_one_in": self.config.adversarial_one_in,
            "wall_s": r(self.wall_s),
            "configured_memory_bytes": self.configured_memory_bytes,
            "warm_memory_bytes": self.warm_memory(),
            "peak_memory_bytes": self.peak_memory(),
            "memory_flat": self.memory_flat(),
            "mean_ns_first_after_warmup": r(first),
            "mean_ns_last": r(last),
            "mean_ns_min_after_warmup": r(lo),
            "mean_ns_max_after_warmup": r(hi),
            "ratio_last_to_first": r(last / first),
            "ratio_max_to_min": r(hi / lo),
            "cpu_ns_first_after_warmup": r(cfirst),
            "cpu_ns_last": r(clast),
            "cpu_ns_min_after_warmup": r(clo),
            "cpu_ns_max_after_warmup": r(chi),
            "cpu_ratio_last_to_first": r(clast / cfirst),
            "cpu_ratio_max_to_min": r(chi / clo),
            "probe_requests": self.config.probe,
            "vs_fresh_vm_min": r(fmin),
            "vs_fresh_vm_max": r(fmax),
            "windows": windows,
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// The curve, one line per window, and a summary.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "soak: {} requests through one {} VM, {}-host table, one adversarial request in {}",
            self.config.requests, self.target, self.hosts, self.config.adversarial_one_in
        );
        let _ = writeln!(
            out,
            "{:>12}{:>16}{:>14}{:>16}{:>15}{:>10}{:>7}{:>10}",
            "requests",
            "linear memory",
            "process RSS",
            "wall/request",
            "CPU/request",
            "vs fresh",
            "load",
            "allowed"
        );
        for w in &self.windows {
            let _ = writeln!(
                out,
                "{:>12}{:>12} KiB{:>10} MiB{:>13.0} ns{:>12.0} ns{:>10}{:>7}{:>9.1}%",
                w.requests,
                w.linear_memory_bytes / 1024,
                w.rss_bytes
                    .map_or("-".into(), |b| format!("{:.1}", b as f64 / 1048576.0)),
                w.mean_ns,
                w.cpu_ns.unwrap_or(f64::NAN),
                w.vs_fresh.map_or("-".into(), |x| format!("{x:.3}×")),
                w.load.map_or("-".into(), |l| format!("{l:.1}")),
                w.allowed as f64 * 100.0 / self.config.window.max(1) as f64
            );
        }
        let (first, last, lo, hi) = self.times();
        let _ = writeln!(
            out,
            "linear memory: {} KiB configured, {} KiB after the warm-up window, {} KiB at most afterwards: {}",
            self.configured_memory_bytes / 1024,
            self.warm_memory() / 1024,
            self.peak_memory() / 1024,
            if self.memory_flat() { "flat" } else { "GREW" }
        );
        let _ = writeln!(
            out,
            "wall time per request after the warm-up: first window {first:.0} ns, last {last:.0} ns ({:.2}×), range {lo:.0}–{hi:.0} ns ({:.2}×); wall {:.1} s",
            last / first,
            hi / lo,
            self.wall_s
        );
        let (fmin, fmax) = self.fresh_range();
        if fmin.is_finite() {
            let _ = writeln!(
                out,
                "against a freshly configured VM on the same {} requests after each window: {fmin:.3}× to {fmax:.3}×",
                self.config.probe
            );
        }
        let (cfirst, clast, clo, chi) = self.cpu_times();
        let _ = writeln!(
            out,
            "CPU time per request after the warm-up: first window {cfirst:.0} ns, last {clast:.0} ns ({:.2}×), range {clo:.0}–{chi:.0} ns ({:.2}×)",
            clast / cfirst,
            chi / clo
        );
        out
    }
}
