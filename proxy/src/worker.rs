//! One pair of filter VMs per worker thread, as Envoy runs one VM per
//! worker: the HTTP filter and the network filter of the current policy
//! generation, created on the thread's first request and rebuilt when the
//! policy changes or a VM fails. A decision runs synchronously on the
//! worker (a few microseconds) and never waits on I/O, so a thread-local
//! is all the sharing there is.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::Arc;

use egress_host::{
    ClientRequest, Connection, ConnectionOutcome, Decision, Headers, LogLevel, LogLine, Plugin, Vm,
};
use egress_table::record::Record;
use hyper::{HeaderMap, Method, Uri};

use crate::log::Log;
use crate::policy::{Current, Generation};

/// One worker's VMs.
struct Worker {
    /// Which proxy they belong to (several may share a process).
    owner: u64,
    generation: u64,
    http: Vm,
    network: Vm,
    /// The request target, reused from request to request.
    target: String,
    /// The request's headers as the host takes them, reused (names and
    /// values overwritten in place) from request to request.
    headers: Headers,
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// What the workers share to build and run their VMs.
#[derive(Debug)]
pub(crate) struct Filters {
    /// This proxy's id, distinct per `start`.
    pub(crate) owner: u64,
    pub(crate) plugin: Plugin,
    pub(crate) current: Arc<Current>,
    pub(crate) log: Log,
}

fn configured(plugin: &Plugin, config: &str) -> Result<Vm, String> {
    let mut vm = plugin
        .vm()
        .map_err(|e| format!("cannot instantiate the filter: {e}"))?;
    let ok = vm.start(b"").map_err(|e| e.to_string())?
        && vm.configure(config.as_bytes()).map_err(|e| e.to_string())?;
    // The load line was logged once, when the generation was accepted.
    let lines = vm.drain_logs();
    if ok {
        Ok(vm)
    } else {
        let said: Vec<String> = lines.into_iter().map(|l| l.message).collect();
        Err(format!(
            "the filter refused its configuration: {}",
            said.join("; ")
        ))
    }
}

impl Worker {
    fn new(owner: u64, plugin: &Plugin, g: &Generation) -> Result<Self, String> {
        Ok(Self {
            owner,
            generation: g.id,
            http: configured(plugin, &g.http)?,
            network: configured(plugin, &g.network)?,
            target: String::new(),
            headers: Headers::new(),
        })
    }
}

/// What the HTTP filter decided.
#[derive(Debug)]
pub(crate) enum HttpVerdict<'a> {
    /// Allowed: the request headers as they go upstream (pseudo-headers
    /// first, the path as Envoy normalised it).
    Forward(&'a Headers),
    /// Answered by the filter (403) or the connection manager (400, 404):
    /// the status, headers (pseudo-headers included: skip them) and body
    /// the client gets.
    Respond {
        status: u16,
        headers: &'a Headers,
        body: &'a [u8],
    },
}

/// Copies a header map into `buf`, reusing its pairs' allocations.
fn fill(buf: &mut Headers, from: &HeaderMap) {
    let mut n = 0;
    for (k, v) in from {
        let (k, v) = (k.as_str().as_bytes(), v.as_bytes());
        match buf.get_mut(n) {
            Some((bk, bv)) => {
                bk.clear();
                bk.extend_from_slice(k);
                bv.clear();
                bv.extend_from_slice(v);
            }
            None => buf.push((k.to_vec(), v.to_vec())),
        }
        n += 1;
    }
    buf.truncate(n);
}

/// What the network filter decided.
#[derive(Debug)]
pub(crate) struct ConnectionVerdict {
    pub(crate) allowed: bool,
    /// The filter-state record (`wasm.egress_decision`), if it wrote one.
    pub(crate) record: Option<Record>,
}

impl Filters {
    /// Runs `f` with this thread's VMs, building or rebuilding them first
    /// if they are missing, another proxy's or of an older generation.
    /// A VM that failed is dropped, so the next call starts afresh.
    fn with<R>(&self, f: impl FnOnce(&mut Worker) -> R) -> Result<R, String> {
        WORKER.with(|cell| {
            let Ok(mut slot) = cell.try_borrow_mut() else {
                return Err("the worker's filter is already in use (re-entrant call)".into());
            };
            let latest = self.current.latest();
            let fresh = slot
                .as_ref()
                .is_some_and(|w| w.owner == self.owner && w.generation == latest);
            if !fresh {
                *slot = None;
                *slot = Some(Worker::new(self.owner, &self.plugin, &self.current.get())?);
            }
            let Some(worker) = slot.as_mut() else {
                return Err("no filter VM on this worker".into());
            };
            let out = f(worker);
            if worker.http.is_poisoned() || worker.network.is_poisoned() {
                *slot = None;
            }
            Ok(out)
        })
    }

    /// Sends the filter's log lines on: audit lines (JSON objects) to the
    /// audit log, the rest to the proxy's log.
    fn route(log: &Log, lines: &[LogLine]) {
        for l in lines {
            if l.message.starts_with('{') {
                log.audit(&l.message);
            } else {
                let msg = format!("filter: {}", l.message);
                match l.level {
                    LogLevel::Error | LogLevel::Critical => log.error(&msg),
                    LogLevel::Warn => log.warn(&msg),
                    _ => log.info(&msg),
                }
            }
        }
    }

    /// Runs one request's headers through the HTTP filter and hands its
    /// verdict to `then`, as Envoy runs a stream: the context's creation
    /// and `proxy_on_request_headers` decide; once `then` has built what
    /// goes upstream, the response headers (`:status` 200: the VM is this
    /// thread's and the upstream exchange may finish on another, so the
    /// stream ends when the request is handed over), the access log,
    /// `proxy_on_done` and `proxy_on_delete` end the stream. The filter's
    /// log lines (audit lines among them) are routed before this returns.
    pub(crate) fn http<R>(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        then: impl FnOnce(HttpVerdict<'_>) -> R,
    ) -> Result<R, String> {
        self.with(|w| {
            w.target.clear();
            let _ = write!(w.target, "{uri}");
            fill(&mut w.headers, headers);
            let req = ClientRequest {
                method: method.as_str().as_bytes(),
                scheme: b"http",
                authority: None,
                path: w.target.as_bytes(),
                headers: &w.headers,
                body_len: None,
            };
            let decided = w.http.http_request(&req);
            let out = match decided {
                Ok(Decision::Forward(id)) => match w.http.http_request_headers(id) {
                    Some(h) => {
                        let r = then(HttpVerdict::Forward(h));
                        w.http.http_respond(id, 200).map(|()| r)
                    }
                    None => Err(egress_host::HostError::Usage(
                        "the allowed request's headers are gone".into(),
                    )),
                },
                Ok(Decision::Answered(out)) => {
                    let none = Headers::new();
                    Ok(then(HttpVerdict::Respond {
                        status: out.status,
                        headers: out.response_headers.as_ref().unwrap_or(&none),
                        body: &out.response_body,
                    }))
                }
                Err(e) => Err(e),
            };
            Self::route(&self.log, w.http.logs());
            w.http.clear_logs();
            out
        })?
        .map_err(|e| format!("the HTTP filter failed: {e}"))
    }

    /// Runs one connection through the network filter.
    pub(crate) fn connection(&self, conn: &Connection) -> Result<ConnectionVerdict, String> {
        let out: ConnectionOutcome = self
            .with(|w| {
                let out = w.network.connection(conn);
                w.network.drain_logs();
                out
            })?
            .map_err(|e| format!("the network filter failed: {e}"))?;
        Self::route(&self.log, &out.logs);
        let record = out
            .filter_state
            .get("wasm.egress_decision")
            .and_then(|v| Record::parse(v).ok());
        Ok(ConnectionVerdict {
            allowed: !out.closed,
            record,
        })
    }
}

#[cfg(test)]
mod bench {
    //! `cargo test --profile native -p egress-proxy --lib -- --ignored --nocapture per_request`:
    //! the per-request cost of the HTTP filter on the proxy's path, with
    //! the load test's policy and request (wrk's, allowed), by phase, next
    //! to the whole simulated stream (`Vm::http`) the proxy ran before.
    //! `BENCH_N` requests per figure (default 100,000); `BENCH_ALL_IN_ONLY`
    //! runs only the last figure (for `perf record`).
    #![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

    use std::fmt::Write as _;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Instant;

    use egress_host::{ClientRequest, Decision, Headers, HostConfig, HttpRequest, Plugin, Value};
    use egress_table::plugin_config::{self, Layer};

    use super::{Filters, HttpVerdict};
    use crate::log::{Log, Sink};
    use crate::policy::{Current, Generation};

    const POLICY: &str = r#"policy "loadtest" {
  default deny
  destination "up.test" port 18080 http {
    allow GET path "/"
  }
}
"#;

    fn filters() -> Filters {
        let wasm = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/wasm32-wasip1/release/egress_filter.wasm");
        let wasm = std::fs::read(&wasm).expect("make wasm");
        let (_, outcome) = egressc::compile_str("loadtest.egress", POLICY);
        let spec = outcome.compiled.unwrap().spec;
        let table = egressc::emit::emit(&spec, egressc::emit::Format::Table).unwrap();
        let plugin = Plugin::from_bytes(&wasm, HostConfig::default()).unwrap();
        let mem = Sink::Memory(Arc::default());
        Filters {
            owner: 1,
            plugin,
            current: Arc::new(Current::new(Generation {
                id: 1,
                http: plugin_config::encode(&table, Layer::Http),
                network: plugin_config::encode(&table, Layer::Network),
                summary: String::new(),
            })),
            log: Log::open(&mem, &mem).unwrap(),
        }
    }

    /// What `forward::handle` built for wrk's request before the
    /// request-oriented host API (the whole-stream path, for comparison).
    fn old_request() -> HttpRequest {
        let mut hr = HttpRequest::new("GET", "", "");
        hr.authority = None;
        hr.path = b"http://up.test:18080/".to_vec();
        hr.headers = vec![(b"host".to_vec(), b"up.test:18080".to_vec())];
        hr.properties
            .set(&["destination", "port"], Value::Int(18080));
        hr
    }

    fn time(label: &str, n: u32, mut f: impl FnMut()) -> u128 {
        for _ in 0..n / 10 {
            f();
        }
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        let ns = t.elapsed().as_nanos() / u128::from(n);
        println!("{label:<58} {ns:>6} ns/request");
        ns
    }

    #[test]
    #[ignore = "a measurement, not a test"]
    fn per_request() {
        let n = std::env::var("BENCH_N")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(100_000);
        let f = filters();
        let config = f.current.get().http.clone();
        let (parts, ()) = hyper::Request::get("http://up.test:18080/")
            .header("host", "up.test:18080")
            .body(())
            .unwrap()
            .into_parts();

        if std::env::var_os("BENCH_ALL_IN_ONLY").is_some() {
            time("Filters::http (the proxy's decision, all in)", n, || {
                f.http(&parts.method, &parts.uri, &parts.headers, |_| ())
                    .unwrap();
            });
            return;
        }
        println!("-- before: a whole simulated stream per request (Vm::http)");
        let mut vm = super::configured(&f.plugin, &config).unwrap();
        time("build the HttpRequest", n, || {
            std::hint::black_box(old_request());
        });
        time("Vm::http + drain_logs (the old proxy path)", n, || {
            let out = vm.http(&old_request()).unwrap();
            assert!(out.forwarded_headers.is_some());
            vm.drain_logs();
        });

        println!("-- after: Vm::http_request / Vm::http_respond");
        let mut vm = super::configured(&f.plugin, &config).unwrap();
        let mut target = String::new();
        let mut headers = Headers::new();
        let build = |target: &mut String, headers: &mut Headers| {
            target.clear();
            let _ = write!(target, "{}", parts.uri);
            super::fill(headers, &parts.headers);
        };
        time("request target and headers (reused buffers)", n, || {
            build(&mut target, &mut headers);
        });
        fn req<'a>(target: &'a str, headers: &'a Headers) -> ClientRequest<'a> {
            ClientRequest {
                method: b"GET",
                scheme: b"http",
                authority: None,
                path: target.as_bytes(),
                headers,
                body_len: None,
            }
        }
        // Each phase timed inside one loop, so one stream is open at a time
        // (as in the proxy); the clock reads cost about 20 ns each.
        let mut phase = [0u128; 3];
        for i in 0..n + n / 10 {
            let t0 = Instant::now();
            let id = match vm.http_request(&req(&target, &headers)).unwrap() {
                Decision::Forward(id) => id,
                Decision::Answered(o) => panic!("{o:?}"),
            };
            let t1 = Instant::now();
            std::hint::black_box(vm.http_request_headers(id).unwrap());
            let t2 = Instant::now();
            vm.http_respond(id, 200).unwrap();
            let t3 = Instant::now();
            if i >= n / 10 {
                phase[0] += (t1 - t0).as_nanos();
                phase[1] += (t2 - t1).as_nanos();
                phase[2] += (t3 - t2).as_nanos();
            }
        }
        let labels = [
            "http_request: prepare, context create, on_request_headers",
            "http_request_headers (the verdict's headers)",
            "http_respond: on_response_headers, on_log, on_done, on_delete",
        ];
        for (label, ns) in labels.iter().zip(phase) {
            println!("{label:<58} {:>6} ns/request", ns / u128::from(n));
        }
        println!(
            "{:<58} {:>6} ns/request",
            "sum of the host phases",
            phase.iter().sum::<u128>() / u128::from(n)
        );
        time("Filters::http (the proxy's decision, all in)", n, || {
            f.http(&parts.method, &parts.uri, &parts.headers, |v| {
                assert!(matches!(v, HttpVerdict::Forward(_)), "{v:?}");
            })
            .unwrap();
        });
    }
}
