//! One pair of filter VMs per worker thread, as Envoy runs one VM per
//! worker: the HTTP filter and the network filter of the current policy
//! generation, created on the thread's first request and rebuilt when the
//! policy changes or a VM fails. A decision runs synchronously on the
//! worker (a few microseconds) and never waits on I/O, so a thread-local
//! is all the sharing there is.

use std::cell::RefCell;
use std::sync::Arc;

use egress_host::{
    Connection, ConnectionOutcome, Headers, HttpOutcome, HttpRequest, LogLevel, LogLine, Plugin, Vm,
};
use egress_table::record::Record;

use crate::log::Log;
use crate::policy::{Current, Generation};

/// One worker's VMs.
struct Worker {
    /// Which proxy they belong to (several may share a process).
    owner: u64,
    generation: u64,
    http: Vm,
    network: Vm,
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
        })
    }
}

/// What the HTTP filter decided.
#[derive(Debug)]
pub(crate) enum HttpVerdict {
    /// Allowed: the request headers as they go upstream (pseudo-headers
    /// first, the path as Envoy normalised it).
    Forward(Headers),
    /// Answered by the filter (403) or the connection manager (400, 404):
    /// the status, headers (without `:status`) and body the client gets.
    Respond {
        status: u16,
        headers: Headers,
        body: Vec<u8>,
    },
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
    fn route(&self, lines: &[LogLine]) {
        for l in lines {
            if l.message.starts_with('{') {
                self.log.audit(&l.message);
            } else {
                let msg = format!("filter: {}", l.message);
                match l.level {
                    LogLevel::Error | LogLevel::Critical => self.log.error(&msg),
                    LogLevel::Warn => self.log.warn(&msg),
                    _ => self.log.info(&msg),
                }
            }
        }
    }

    /// Runs one request's headers through the HTTP filter.
    pub(crate) fn http(&self, req: &HttpRequest) -> Result<HttpVerdict, String> {
        let out: HttpOutcome = self
            .with(|w| {
                let out = w.http.http(req);
                w.http.drain_logs();
                out
            })?
            .map_err(|e| format!("the HTTP filter failed: {e}"))?;
        self.route(&out.logs);
        if out.proxy_rejected.is_none()
            && out.local_response.is_none()
            && let Some(headers) = out.forwarded_headers
        {
            return Ok(HttpVerdict::Forward(headers));
        }
        let headers = out
            .response_headers
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k.first() != Some(&b':'))
            .collect();
        Ok(HttpVerdict::Respond {
            status: out.status,
            headers,
            body: out.response_body,
        })
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
        self.route(&out.logs);
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
