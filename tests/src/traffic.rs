//! Realistic egress traffic, and the audit logs the real filter writes for
//! it: the fixtures of `egressc learn` and `egressc report`
//! (`tests/fixtures/audit/`, checked by `tests/tests/audit_fixtures.rs`).
//!
//! A day of a small mesh that still runs with ALLOW_ANY: workloads in four
//! namespaces call package registries, a source host's API with ids in its
//! paths, a partner API, object storage with one host name per bucket, a
//! CDN with numbered shards, telemetry over TLS and a database and SSH by
//! address; a few clients send malformed requests. Each request goes
//! through the filter `.wasm` in the local host with the clock pinned, and
//! the filter's own log line is written the way Envoy prints it
//! (`[time][thread][level][wasm] [context.cc:…] wasm log …: {json}`),
//! among the other lines a proxy's log holds. Deterministic from the seed.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use egressc::run::Runner;
use egressc::sim::SimRequest;

use crate::generate::Rng;

/// The fixtures' seed.
pub const SEED: u64 = 20_261_202;

/// 2026-11-30T08:00:00Z, when the generated day starts.
const START_SECS: u64 = 1_796_025_600;

fn principal(ns: &str, sa: &str) -> String {
    format!("cluster.local/ns/{ns}/sa/{sa}")
}

fn hex(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(*rng.pick(b"0123456789abcdef")))
        .collect()
}

fn http(method: &str, host: &str, path: &str, from: Option<String>) -> SimRequest {
    SimRequest {
        method: Some(method.into()),
        host: Some(host.into()),
        path: Some(path.into()),
        principal: from,
        ..SimRequest::default()
    }
}

fn tls(host: &str, port: u16, from: Option<String>) -> SimRequest {
    SimRequest {
        sni: Some(host.into()),
        port: Some(port),
        principal: from,
        ..SimRequest::default()
    }
}

fn tcp(addr: &str, port: u16, from: Option<String>) -> SimRequest {
    SimRequest {
        destination: addr.parse().ok(),
        port: Some(port),
        principal: from,
        ..SimRequest::default()
    }
}

const PACKAGES: [&str; 12] = [
    "requests", "numpy", "urllib3", "certifi", "idna", "six", "pyyaml", "boto3", "click", "jinja2",
    "pandas", "attrs",
];
const REPOS: [&str; 6] = ["api", "web", "billing", "infra", "docs", "tools"];
const BUCKETS: [&str; 9] = [
    "acme-logs",
    "acme-backups",
    "acme-assets",
    "acme-ml-data",
    "acme-exports",
    "acme-invoices",
    "acme-artifacts",
    "acme-tmp",
    "acme-reports",
];

/// One request of the day, drawn from the mix.
fn draw(rng: &mut Rng) -> SimRequest {
    let web = || Some(principal("web", "frontend"));
    let ci_builder = || Some(principal("ci", "builder"));
    const PAYMENTS: [&str; 3] = ["api", "worker", "reconciler"];
    let pay = |rng: &mut Rng| Some(principal("payments", rng.pick::<&str>(&PAYMENTS)));
    match rng.below(100) {
        // Package installs from CI: the index, then a file.
        0..=17 => {
            let pkg = *rng.pick(&PACKAGES);
            if rng.chance(40) {
                http("GET", "pypi.org", &format!("/simple/{pkg}/"), ci_builder())
            } else {
                let path = format!(
                    "/packages/{}/{}/{}/{pkg}-{}.{}.{}-py3-none-any.whl",
                    hex(rng, 2),
                    hex(rng, 2),
                    hex(rng, 60),
                    rng.range(1, 4),
                    rng.range(0, 30),
                    rng.range(0, 9)
                );
                http("GET", "files.pythonhosted.org", &path, ci_builder())
            }
        }
        // The source host's API: ids in paths, a few writes.
        18..=37 => {
            let repo = *rng.pick(&REPOS);
            let n = rng.range(1, 4000);
            let from = if rng.chance(70) {
                ci_builder()
            } else {
                Some(principal("ci", "release"))
            };
            match rng.below(10) {
                0..=4 => http(
                    "GET",
                    "api.github.example",
                    &format!("/repos/acme/{repo}/pulls/{n}"),
                    from,
                ),
                5..=6 => http(
                    "GET",
                    "api.github.example",
                    &format!("/repos/acme/{repo}/commits/{}", hex(rng, 40)),
                    from,
                ),
                7 => http(
                    "POST",
                    "api.github.example",
                    &format!("/repos/acme/{repo}/issues/{n}/comments"),
                    from,
                ),
                8 => http("GET", "api.github.example", "/user", from),
                _ => http("GET", "api.github.example", "/rate_limit", from),
            }
        }
        // The payments team's partner API over plain HTTP (TLS originated).
        38..=51 => {
            let id = rng.range(10_000, 99_999);
            let from = pay(rng);
            match rng.below(10) {
                0..=4 => http(
                    "GET",
                    "api.partner.example",
                    &format!("/v1/orders/{id}"),
                    from,
                ),
                5..=6 => http("POST", "api.partner.example", "/v1/orders", from),
                7 => http(
                    "PUT",
                    "api.partner.example",
                    &format!("/v1/orders/{id}/status"),
                    from,
                ),
                8 => http("GET", "api.partner.example", "/v1/health", from),
                _ => http(
                    "GET",
                    "api.partner.example",
                    &format!("/v2/customers/{}", uuid(rng)),
                    from,
                ),
            }
        }
        // Object storage: one host per bucket, over TLS.
        52..=63 => {
            let bucket = *rng.pick(&BUCKETS);
            let from = if rng.chance(50) {
                pay(rng)
            } else {
                Some(principal("data", "etl"))
            };
            tls(&format!("{bucket}.s3.storage.example"), 443, from)
        }
        // The web front end's CDN: numbered shards, plain HTTP.
        64..=77 => {
            let host = format!("img{}.cdn.example", rng.range(1, 13));
            let path = format!(
                "/assets/{}.{}",
                hex(rng, 16),
                *rng.pick(&["png", "jpg", "css", "js"])
            );
            http(
                if rng.chance(90) { "GET" } else { "HEAD" },
                &host,
                &path,
                web(),
            )
        }
        // Telemetry export from every namespace.
        78..=87 => {
            let ns = *rng.pick(&["web", "payments", "ci", "data"]);
            tls(
                "otlp.telemetry.example",
                4317,
                Some(principal(ns, "otel-collector")),
            )
        }
        // The payments database, by address; SSH to a mirror from CI.
        88..=93 => tcp("10.20.0.15", 5432, pay(rng)),
        94..=95 => tcp("192.0.2.22", 22, ci_builder()),
        // A job with no mesh identity (a pod outside the mesh, through the gateway).
        96..=97 => http("GET", "time.example", "/now", None),
        // Malformed: a path a careful filter refuses.
        _ => http(
            "GET",
            "api.github.example",
            "/repos/acme/api%2F..%2Fadmin",
            ci_builder(),
        ),
    }
}

fn uuid(rng: &mut Rng) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 4),
        hex(rng, 4),
        hex(rng, 12)
    )
}

/// `n` requests of the day, each with its time offset from the start.
pub fn day(n: usize, seed: u64) -> Vec<(Duration, SimRequest)> {
    let mut rng = Rng::new(seed);
    let mut at = Duration::ZERO;
    (0..n)
        .map(|_| {
            at += Duration::from_millis(rng.range(5, 30_000) as u64);
            (at, draw(&mut rng))
        })
        .collect()
}

/// Envoy's log timestamp, `2026-11-30 08:00:05.123`.
fn envoy_time(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The log a proxy writes for `requests` decided by `runner`: the filter's
/// audit lines with Envoy's prefix, and every so often a line of the
/// proxy's own. Fails if the filter logs nothing for a request that its
/// policies' `log` setting should log (the caller's policy logs all).
pub fn audit_log(
    runner: &mut Runner,
    requests: &[(Duration, SimRequest)],
) -> Result<String, String> {
    let mut out = String::new();
    let mut noise = Rng::new(SEED ^ 0x5eed);
    for (i, (at, req)) in requests.iter().enumerate() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(START_SECS) + *at;
        runner.set_time(t);
        let r = runner.run(req)?;
        let time = envoy_time(t);
        let thread = 20 + i % 2;
        if noise.chance(4) {
            let _ = writeln!(
                out,
                "[{time}][{thread}][info][upstream] [source/common/upstream/cluster_manager_impl.cc:1474] membership update for TLS cluster outbound|443||{} added 1 removed 0",
                req.describe()
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("example")
            );
        }
        if noise.chance(2) {
            let _ = writeln!(
                out,
                "[{time}][{thread}][warning][config] [./source/extensions/config_subscription/grpc/grpc_stream.h:191] StreamAggregatedResources gRPC config stream to xds-grpc closed since 1803s ago: 13, "
            );
        }
        let mut logged = false;
        for l in &r.logs {
            if !l.message.starts_with('{') {
                continue;
            }
            logged = true;
            let _ = writeln!(
                out,
                "[{time}][{thread}][{}][wasm] [source/extensions/common/wasm/context.cc:1192] wasm log egress.egress-filter egress-filter: {}",
                match l.level {
                    egress_host::LogLevel::Warn => "warning".to_owned(),
                    level => level.to_string(),
                },
                l.message
            );
        }
        if !logged && r.record.reason != "proxy-rejected" {
            return Err(format!(
                "the filter logged no audit line for {} ({})",
                req.describe(),
                r.record
            ));
        }
    }
    Ok(out)
}
