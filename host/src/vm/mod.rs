//! The driver: [`Plugin`] compiles and links a module once; each [`Vm`] is
//! one instance (one Envoy worker) that runs its contexts through the
//! callbacks in the order Envoy calls them (see `host/README.md`). The
//! callbacks are grouped by ABI area: `http` and `body` (HTTP streams),
//! `tcp` (connections), `callouts` (HTTP and gRPC calls), `deferred` (what
//! runs between guest calls: Envoy's after-call actions, queues, ticks),
//! `guest` (calling the guest) and `plugin` (compiling and linking).

mod body;
mod callouts;
mod deferred;
mod guest;
mod http;
mod plugin;
mod tcp;
mod timing;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::PoisonError;
use std::time::{Duration, SystemTime};

use egress_abi::LogLevel;
use wasmtime::Store;

use self::guest::{Budget, Exports, call_guest, guest, id32, len32};
pub use self::http::Decision;
use self::http::{HttpFlow, Spare};
pub use self::plugin::{HostConfig, Plugin};
use self::tcp::TcpFlow;
pub use self::timing::GuestTimes;
use crate::error::HostError;
use crate::state::{Clock, HostState, IdMap, ROOT_CONTEXT, Restrict, Stream, VM_CONTEXT};
use crate::types::{ConnectionOutcome, HttpOutcome, LogLine, Metric, StreamId, UpstreamResponse};

/// A stream in flight: an HTTP stream or a TCP connection.
#[derive(Debug)]
enum Flow {
    Http(Box<HttpFlow>),
    Tcp(TcpFlow),
}

/// A finished stream's outcome, until the test takes it.
#[derive(Debug)]
enum Finished {
    Http(Box<HttpOutcome>),
    Tcp(ConnectionOutcome),
}

/// One VM: a module instance with its root context and the streams in
/// flight, as one Envoy worker thread holds it.
pub struct Vm {
    store: Store<HostState>,
    ex: Exports,
    plugin: Plugin,
    poisoned: Option<String>,
    budget: Budget,
    started: Option<bool>,
    configured: Option<bool>,
    flows: IdMap<Flow>,
    finished: IdMap<Finished>,
    dirty: Vec<u32>,
    upstream: UpstreamResponse,
    next_reject: u32,
    delete_root: bool,
    /// What proxied streams leave behind for the next one to reuse.
    spare: Spare,
    /// Guest call timing, when a benchmark turned it on.
    timing: Option<GuestTimes>,
}

impl fmt::Debug for Vm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vm")
            .field("plugin", &self.plugin)
            .field("poisoned", &self.poisoned)
            .field("started", &self.started)
            .field("configured", &self.configured)
            .field("streams_in_flight", &self.flows.len())
            .finish_non_exhaustive()
    }
}

impl Vm {
    fn initialize(&mut self) -> Result<(), HostError> {
        let s = &mut self.store;
        let p = &mut self.poisoned;
        let b = &self.budget;
        if let Some(f) = &self.ex.initialize {
            call_guest(s, p, b, f, "_initialize", VM_CONTEXT, (), Restrict::Start)?;
            if let Some(m) = &self.ex.main {
                call_guest(s, p, b, m, "main", VM_CONTEXT, (0, 0), Restrict::Start)?;
            } else if let Some(m) = &self.ex.main_void {
                call_guest(s, p, b, m, "__main_void", VM_CONTEXT, (), Restrict::Start)?;
            }
        } else if let Some(f) = &self.ex.start {
            call_guest(s, p, b, f, "_start", VM_CONTEXT, (), Restrict::Start)?;
        }
        Ok(())
    }

    /// Creates the root context and runs `proxy_on_vm_start`; returns what
    /// it returned (false: Envoy fails the plugin).
    pub fn start(&mut self, vm_configuration: &[u8]) -> Result<bool, HostError> {
        if self.started.is_some() {
            return Err(HostError::Usage(
                "Vm::start was already called on this VM".into(),
            ));
        }
        {
            let st = self.store.data_mut();
            st.vm_config = vm_configuration.to_vec();
            st.root_created = true;
            // `ContextBase::onStart` sets temp_plugin_ around on_context_create only.
            st.temp_plugin = true;
        }
        let r = guest!(self.on_context_create(ROOT_CONTEXT, (id32(ROOT_CONTEXT), 0)));
        self.store.data_mut().temp_plugin = false;
        r?;
        self.apply_after()?;
        let ok = guest!(self.on_vm_start(
            ROOT_CONTEXT,
            (id32(ROOT_CONTEXT), len32(vm_configuration.len()))
        ))?
        .is_none_or(|r| r != 0);
        self.apply_after()?;
        self.settle()?;
        self.started = Some(ok);
        Ok(ok)
    }

    /// Runs `proxy_on_configure` on the root context with this plugin
    /// configuration (readable only during this call); returns what it
    /// returned (false: Envoy rejects the configuration).
    pub fn configure(&mut self, plugin_configuration: &[u8]) -> Result<bool, HostError> {
        if self.started != Some(true) {
            return Err(HostError::Usage(
                "call Vm::start (and have it return true) before Vm::configure".into(),
            ));
        }
        {
            let st = self.store.data_mut();
            st.plugin_config = plugin_configuration.to_vec();
            st.temp_plugin = true;
        }
        let r = guest!(self.on_configure(
            ROOT_CONTEXT,
            (id32(ROOT_CONTEXT), len32(plugin_configuration.len()))
        ));
        self.store.data_mut().temp_plugin = false;
        let ok = r?.is_none_or(|r| r != 0);
        self.apply_after()?;
        self.settle()?;
        self.configured = Some(ok);
        Ok(ok)
    }

    /// `proxy_on_delete` for a stream's context, which is then gone: its
    /// state and its flow, for the outcome.
    fn delete_context(&mut self, ctx: u32) -> Result<Option<(Stream, Flow)>, HostError> {
        guest!(self.on_delete(ctx, id32(ctx)))?;
        self.apply_after()?;
        let Some(s) = self.store.data_mut().streams.remove(&ctx) else {
            return Ok(None);
        };
        Ok(self.flows.remove(&ctx).map(|f| (s, f)))
    }

    /// The lines logged since a stream opened.
    fn logs_of(&self, s: &Stream) -> Vec<LogLine> {
        self.store.data().logs_since(s.log_seq)
    }

    fn ready(&self) -> Result<(), HostError> {
        if let Some(first) = &self.poisoned {
            return Err(HostError::Poisoned {
                first: first.clone(),
            });
        }
        match (self.started, self.configured) {
            (Some(true), Some(true)) => Ok(()),
            (Some(true), Some(false)) if self.plugin.cfg.serve_refused_plugins => Ok(()),
            (Some(true), Some(false)) => Err(HostError::Usage(
                "proxy_on_configure returned false: Envoy rejects such a configuration and sends the plugin no traffic".into(),
            )),
            _ => Err(HostError::Usage("call Vm::start and Vm::configure before sending traffic".into())),
        }
    }

    /// Shuts the root context down as Envoy does when the plugin goes away:
    /// `proxy_on_done`; if it returns true, `proxy_on_delete` follows at
    /// once, otherwise only after the guest calls `proxy_done`. Returns what
    /// `proxy_on_done` returned.
    pub fn shutdown(&mut self) -> Result<bool, HostError> {
        let done = guest!(self.on_done(ROOT_CONTEXT, id32(ROOT_CONTEXT)))?.is_none_or(|r| r != 0);
        self.apply_after()?;
        if done {
            guest!(self.on_delete(ROOT_CONTEXT, id32(ROOT_CONTEXT)))?;
            self.apply_after()?;
        } else {
            self.store.data_mut().root_pending_done = true;
        }
        self.settle()?;
        Ok(done)
    }

    /// Pins the clock the guest reads (`proxy_get_current_time_nanoseconds`,
    /// WASI realtime) to `t`.
    pub fn set_time(&mut self, t: SystemTime) {
        self.store.data_mut().clock = Clock::Fixed(t);
    }

    /// Moves a pinned clock forward (pins it to now + `d` if it was real).
    pub fn advance_time(&mut self, d: Duration) {
        let now = self.store.data().clock.now();
        self.store.data_mut().clock = Clock::Fixed(now + d);
    }

    /// What `proxy_get_log_level` answers (Envoy's default: info).
    pub fn set_log_level(&mut self, level: LogLevel) {
        self.store.data_mut().log_level = level;
    }

    /// Every captured log line since the last [`Vm::drain_logs`].
    pub fn logs(&self) -> &[LogLine] {
        &self.store.data().logs
    }

    /// Turns log capture on or off (benchmarks turn it off; the last few
    /// lines are still kept for error messages).
    pub fn set_capture_logs(&mut self, on: bool) {
        self.store.data_mut().capture_logs = on;
    }

    /// Takes the captured log lines.
    pub fn drain_logs(&mut self) -> Vec<LogLine> {
        let st = self.store.data_mut();
        st.log_seq_base += st.logs.len() as u64;
        std::mem::take(&mut st.logs)
    }

    /// Forgets the captured log lines (read them with [`Vm::logs`] first),
    /// keeping the buffer for the next ones: a proxy that routes each
    /// request's lines as it goes allocates nothing for them.
    pub fn clear_logs(&mut self) {
        let st = self.store.data_mut();
        st.log_seq_base += st.logs.len() as u64;
        st.logs.clear();
    }

    /// A metric's value (a histogram reports its sample count).
    pub fn metric(&self, name: &str) -> Option<u64> {
        self.store.data().metrics.find(name).map(|s| s.get())
    }

    /// The samples recorded into a histogram.
    pub fn histogram(&self, name: &str) -> Option<Vec<u64>> {
        let s = self.store.data().metrics.find(name)?;
        let samples = s
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Some(samples)
    }

    /// Every metric this VM defined.
    pub fn metrics(&self) -> Vec<Metric> {
        self.store
            .data()
            .metrics
            .all()
            .iter()
            .map(|s| Metric {
                name: s.name.clone(),
                kind: s.kind,
                value: s.get(),
            })
            .collect()
    }

    /// All shared data (`key → value`).
    pub fn shared_data(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.plugin.services.data.snapshot()
    }

    /// Guest linear memory in bytes.
    pub fn memory_size(&self) -> usize {
        self.store
            .data()
            .memory
            .map_or(0, |m| m.data_size(&self.store))
    }

    /// Whether an earlier failure poisoned this VM.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// The plugin this VM belongs to.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Streams and connections in flight (their ids).
    pub fn in_flight(&self) -> Vec<StreamId> {
        let mut v: Vec<StreamId> = self.flows.keys().copied().map(StreamId).collect();
        v.sort();
        v
    }
}
