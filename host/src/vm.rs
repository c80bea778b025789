//! Stage: the driver. [`Plugin`] compiles and links a module once; each
//! [`Vm`] is one instance (one Envoy worker) that runs contexts through the
//! callbacks in the order Envoy calls them.
//!
//! Lifecycle (proxy-wasm-cpp-host `src/wasm.cc`, `src/context.cc`; Envoy
//! `source/extensions/common/wasm/context.cc`):
//!
//! - VM start: `_initialize`, then `main(0, 0)` if exported (or
//!   `__main_void`); `_start` for a command module. Only logging and WASI
//!   calls are allowed meanwhile (`startVm`'s restricted callbacks).
//! - [`Vm::start`]: `proxy_on_context_create(root, 0)` (the plugin
//!   configuration is readable here), `proxy_on_vm_start(root, vm_config_size)`.
//! - [`Vm::configure`]: `proxy_on_configure(root, plugin_config_size)`.
//! - HTTP stream: `proxy_on_context_create(ctx, root)`,
//!   `proxy_on_request_headers`, `proxy_on_request_body` (once per chunk),
//!   `proxy_on_request_trailers` (if any), (upstream),
//!   `proxy_on_response_headers`, `proxy_on_response_body`,
//!   `proxy_on_response_trailers`, then the access log `proxy_on_log`, then
//!   `proxy_on_done` and `proxy_on_delete` (`Context::log` runs before
//!   `Context::onDestroy`). Data callbacks run inside the filter manager's
//!   buffering (`Vm::step_body`).
//! - TCP connection: `proxy_on_context_create`, `proxy_on_new_connection`,
//!   `proxy_on_downstream_data`/`proxy_on_upstream_data`, the close
//!   callbacks, then `proxy_on_done`, `proxy_on_log`, `proxy_on_delete`
//!   (`Context::onCloseTCP`).
//! - A callback that called `proxy_send_local_response` stops iteration
//!   whatever it returns; the local reply is sent after the callback returns
//!   and goes back through the filter's `proxy_on_response_headers` (unless
//!   the response had already started: then it replaces it directly).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use wasmtime::{
    Engine, Instance, InstancePre, Linker, Module, Store, StoreLimitsBuilder, Trap, TypedFunc,
    WasmParams, WasmResults,
};

use crate::abi::{Action, LogLevel, PeerType, Status, StreamType};
use crate::engine;
use crate::error::HostError;
use crate::http::{self, local_reply_headers};
use crate::imports;
use crate::memory::RestrictedCall;
use crate::normalize::PathNormalization;
use crate::properties::Properties;
use crate::shared::Services;
use crate::state::{
    After, Body, Clock, Dir, HostState, Kind, Peer, PluginInfo, ROOT_CONTEXT, Restrict, Stream,
    VM_CONTEXT,
};
use crate::types::{
    Connection, ConnectionOutcome, GrpcCall, Headers, HttpCall, HttpCallResponse, HttpOutcome,
    HttpRequest, LogLine, Metric, StreamId, UpstreamResponse, split_chunks,
};
use crate::wasi;

/// How the host runs guests. `Default` is what Istio ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The connection manager's path normalization (Istio default: BASE).
    pub path_normalization: PathNormalization,
    /// Bytes of guest linear memory one VM may use (default 256 MiB).
    pub memory_limit: usize,
    /// Fuel per guest call; `None` turns metering off (the default).
    pub fuel: Option<u64>,
    /// Wall-clock budget per guest call, enforced by epoch interruption (default 1 s).
    pub call_timeout: Duration,
    /// Keep every guest log line (default true; benchmarks turn it off).
    pub capture_logs: bool,
    /// Send traffic to a plugin whose `proxy_on_configure` returned false
    /// (default false: Envoy never does). Other hosts may, and a filter must
    /// then fail closed through its own contexts; tests of that path set it.
    pub serve_refused_plugins: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            path_normalization: PathNormalization::Base,
            memory_limit: 256 * 1024 * 1024,
            fuel: None,
            call_timeout: Duration::from_secs(1),
            capture_logs: true,
            serve_refused_plugins: false,
        }
    }
}

/// A compiled and linked module plus the services its VMs share (shared
/// data, shared queues): one Envoy plugin.
#[derive(Clone)]
pub struct Plugin {
    module: Module,
    pre: InstancePre<HostState>,
    cfg: HostConfig,
    services: Arc<Services>,
    info: Arc<PluginInfo>,
    abi: &'static str,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("abi", &self.abi)
            .field("cfg", &self.cfg)
            .field("name", &self.info.name)
            .finish_non_exhaustive()
    }
}

fn abi_version(module: &Module) -> Result<&'static str, HostError> {
    let mut found = None;
    for e in module.exports() {
        if e.ty().func().is_none() {
            continue;
        }
        match e.name() {
            "proxy_abi_version_0_2_1" => found = Some("0.2.1"),
            "proxy_abi_version_0_2_0" => found = found.or(Some("0.2.0")),
            "proxy_abi_version_0_1_0" => {
                return Err(HostError::Abi(
                    "it targets proxy-wasm ABI 0.1.0, which this host does not implement".into(),
                ));
            }
            _ => {}
        }
    }
    found.ok_or_else(|| {
        HostError::Abi("it exports no proxy_abi_version_0_2_1 (or _0_2_0) function, so Envoy would refuse it too (\"Missing or unknown Proxy-Wasm ABI version\")".into())
    })
}

impl Plugin {
    /// Reads, compiles and links a `.wasm` file.
    pub fn from_file(path: &Path, cfg: HostConfig) -> Result<Plugin, HostError> {
        let bytes = std::fs::read(path).map_err(|e| HostError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_bytes(&bytes, cfg)
    }

    /// Compiles and links a module.
    pub fn from_bytes(wasm: &[u8], cfg: HostConfig) -> Result<Plugin, HostError> {
        let fuel = cfg.fuel.is_some();
        let engine: Engine = engine::engine(fuel)?;
        let module = engine::compile(&engine, fuel, wasm)?;
        let abi = abi_version(&module)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        imports::link(&mut linker).map_err(|e| {
            HostError::Instantiate(format!("could not define the host functions: {e}"))
        })?;
        wasi::link(&mut linker).map_err(|e| {
            HostError::Instantiate(format!("could not define the WASI functions: {e}"))
        })?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| HostError::Instantiate(format!("{e:#}")))?;
        Ok(Plugin {
            module,
            pre,
            cfg,
            services: Arc::default(),
            info: Arc::default(),
            abi,
        })
    }

    /// Sets the plugin's name, root id and VM id (Envoy `PluginConfig.name`,
    /// `root_id`, `vm_config.vm_id`). Defaults: `egress`, empty, empty.
    #[must_use]
    pub fn with_names(mut self, name: &str, root_id: &str, vm_id: &str) -> Self {
        let info = Arc::make_mut(&mut self.info);
        info.name = name.to_owned();
        info.root_id = root_id.to_owned();
        info.vm_id = vm_id.to_owned();
        self
    }

    /// Merges plugin-wide properties (e.g. `xds.*`) over the defaults.
    #[must_use]
    pub fn with_properties(mut self, props: &Properties) -> Self {
        Arc::make_mut(&mut self.info).properties.merge(props);
        self
    }

    /// Adds an environment variable the guest sees through WASI (`vm_config.environment_variables`).
    #[must_use]
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        Arc::make_mut(&mut self.info)
            .envs
            .push((key.to_owned(), value.to_owned()));
        self
    }

    /// The configuration this plugin runs with.
    pub fn config(&self) -> &HostConfig {
        &self.cfg
    }

    /// The ABI version the module declares (`"0.2.1"` or `"0.2.0"`).
    pub fn abi_version(&self) -> &'static str {
        self.abi
    }

    /// The names of the module's imports (`module.name`).
    pub fn imports(&self) -> Vec<String> {
        self.module
            .imports()
            .map(|i| format!("{}.{}", i.module(), i.name()))
            .collect()
    }

    /// A shared-data value.
    pub fn shared_data(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.services.data.get(key).ok().map(|(v, _)| v)
    }

    /// Sets a shared-data value from the host side (cas 0: unconditional).
    pub fn set_shared_data(&self, key: &[u8], value: &[u8]) {
        let _ = self.services.data.set(key, value, 0);
    }

    /// Enqueues onto a shared queue from the host side; NOT_FOUND if no VM
    /// registered it.
    pub fn enqueue(&self, queue: &[u8], data: &[u8]) -> Result<(), Status> {
        let token = self
            .services
            .queues
            .resolve(self.info.vm_id.as_bytes(), queue)?;
        self.services.queues.enqueue(token, data)
    }

    /// Instantiates one VM (one Envoy worker) and runs `_initialize` (and
    /// `main` if exported).
    pub fn vm(&self) -> Result<Vm, HostError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.cfg.memory_limit)
            .instances(1)
            .memories(1)
            .build();
        let st = HostState::new(
            self.services.clone(),
            self.info.clone(),
            limits,
            self.cfg.capture_logs,
        );
        let mut store = Store::new(self.pre.module().engine(), st);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        let budget = Budget::new(&self.cfg);
        store.set_epoch_deadline(budget.ticks);
        if let Some(f) = budget.fuel {
            store
                .set_fuel(f)
                .map_err(|e| HostError::Instantiate(e.to_string()))?;
        }
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| HostError::Instantiate(format!("{e:#}")))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| HostError::Abi("it exports no linear memory named \"memory\"".into()))?;
        let alloc = match typed::<i32, i32>(&instance, &mut store, "malloc")? {
            Some(f) => f,
            None => typed::<i32, i32>(&instance, &mut store, "proxy_on_memory_allocate")?.ok_or_else(|| {
                HostError::Abi("it exports neither malloc nor proxy_on_memory_allocate (\"Wasm module is missing malloc function\")".into())
            })?,
        };
        let ex = Exports::get(&instance, &mut store)?;
        store.data_mut().memory = Some(memory);
        store.data_mut().alloc = Some(alloc);
        let mut vm = Vm {
            store,
            ex,
            plugin: self.clone(),
            poisoned: None,
            budget,
            started: None,
            configured: None,
            flows: HashMap::new(),
            finished: HashMap::new(),
            dirty: Vec::new(),
            upstream: UpstreamResponse::default(),
            next_reject: u32::MAX,
            delete_root: false,
        };
        vm.initialize()?;
        Ok(vm)
    }

    /// `vm()`, `start(vm_configuration)` and `configure(plugin_configuration)`
    /// in one go; an error if either callback returns false.
    pub fn configured_vm(
        &self,
        vm_configuration: &[u8],
        plugin_configuration: &[u8],
    ) -> Result<Vm, HostError> {
        let mut vm = self.vm()?;
        if !vm.start(vm_configuration)? {
            return Err(HostError::Usage("proxy_on_vm_start returned false".into()));
        }
        if !vm.configure(plugin_configuration)? {
            let why: Vec<String> = vm
                .logs()
                .iter()
                .rev()
                .take(3)
                .map(ToString::to_string)
                .collect();
            return Err(HostError::Usage(format!(
                "proxy_on_configure returned false (refused the configuration); last log lines: {}",
                why.join(" | ")
            )));
        }
        Ok(vm)
    }
}

fn typed<P: WasmParams, R: WasmResults>(
    instance: &Instance,
    store: &mut Store<HostState>,
    name: &str,
) -> Result<Option<TypedFunc<P, R>>, HostError> {
    match instance.get_func(&mut *store, name) {
        None => Ok(None),
        Some(f) => f
            .typed::<P, R>(&*store)
            .map(Some)
            .map_err(|e| HostError::Abi(format!("the export {name} has the wrong signature ({e}); Envoy fails such a module with \"Bad function signature\""))),
    }
}

type Args5 = (i32, i32, i32, i32, i32);

/// The guest's callbacks, looked up once.
struct Exports {
    initialize: Option<TypedFunc<(), ()>>,
    main: Option<TypedFunc<(i32, i32), i32>>,
    main_void: Option<TypedFunc<(), i32>>,
    start: Option<TypedFunc<(), ()>>,
    on_context_create: Option<TypedFunc<(i32, i32), ()>>,
    on_vm_start: Option<TypedFunc<(i32, i32), i32>>,
    on_configure: Option<TypedFunc<(i32, i32), i32>>,
    on_done: Option<TypedFunc<i32, i32>>,
    on_log: Option<TypedFunc<i32, ()>>,
    on_delete: Option<TypedFunc<i32, ()>>,
    on_tick: Option<TypedFunc<i32, ()>>,
    on_queue_ready: Option<TypedFunc<(i32, i32), ()>>,
    on_new_connection: Option<TypedFunc<i32, i32>>,
    on_downstream_data: Option<TypedFunc<(i32, i32, i32), i32>>,
    on_upstream_data: Option<TypedFunc<(i32, i32, i32), i32>>,
    on_downstream_connection_close: Option<TypedFunc<(i32, i32), ()>>,
    on_upstream_connection_close: Option<TypedFunc<(i32, i32), ()>>,
    on_request_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    on_request_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    on_response_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    on_response_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    on_request_trailers: Option<TypedFunc<(i32, i32), i32>>,
    on_response_trailers: Option<TypedFunc<(i32, i32), i32>>,
    on_http_call_response: Option<TypedFunc<Args5, ()>>,
    on_grpc_receive_initial_metadata: Option<TypedFunc<(i32, i32, i32), ()>>,
    on_grpc_receive: Option<TypedFunc<(i32, i32, i32), ()>>,
    on_grpc_receive_trailing_metadata: Option<TypedFunc<(i32, i32, i32), ()>>,
    on_grpc_close: Option<TypedFunc<(i32, i32, i32), ()>>,
}

impl Exports {
    fn get(i: &Instance, s: &mut Store<HostState>) -> Result<Self, HostError> {
        Ok(Self {
            initialize: typed(i, s, "_initialize")?,
            main: typed(i, s, "main")?,
            main_void: typed(i, s, "__main_void")?,
            start: typed(i, s, "_start")?,
            on_context_create: typed(i, s, "proxy_on_context_create")?,
            on_vm_start: typed(i, s, "proxy_on_vm_start")?,
            on_configure: typed(i, s, "proxy_on_configure")?,
            on_done: typed(i, s, "proxy_on_done")?,
            on_log: typed(i, s, "proxy_on_log")?,
            on_delete: typed(i, s, "proxy_on_delete")?,
            on_tick: typed(i, s, "proxy_on_tick")?,
            on_queue_ready: typed(i, s, "proxy_on_queue_ready")?,
            on_new_connection: typed(i, s, "proxy_on_new_connection")?,
            on_downstream_data: typed(i, s, "proxy_on_downstream_data")?,
            on_upstream_data: typed(i, s, "proxy_on_upstream_data")?,
            on_downstream_connection_close: typed(i, s, "proxy_on_downstream_connection_close")?,
            on_upstream_connection_close: typed(i, s, "proxy_on_upstream_connection_close")?,
            on_request_headers: typed(i, s, "proxy_on_request_headers")?,
            on_request_body: typed(i, s, "proxy_on_request_body")?,
            on_response_headers: typed(i, s, "proxy_on_response_headers")?,
            on_response_body: typed(i, s, "proxy_on_response_body")?,
            on_request_trailers: typed(i, s, "proxy_on_request_trailers")?,
            on_response_trailers: typed(i, s, "proxy_on_response_trailers")?,
            on_http_call_response: typed(i, s, "proxy_on_http_call_response")?,
            on_grpc_receive_initial_metadata: typed(
                i,
                s,
                "proxy_on_grpc_receive_initial_metadata",
            )?,
            on_grpc_receive: typed(i, s, "proxy_on_grpc_receive")?,
            on_grpc_receive_trailing_metadata: typed(
                i,
                s,
                "proxy_on_grpc_receive_trailing_metadata",
            )?,
            on_grpc_close: typed(i, s, "proxy_on_grpc_close")?,
        })
    }
}

/// Per-call limits.
#[derive(Debug, Clone, Copy)]
struct Budget {
    ticks: u64,
    fuel: Option<u64>,
    timeout: Duration,
}

impl Budget {
    fn new(cfg: &HostConfig) -> Self {
        let ticks = cfg
            .call_timeout
            .as_nanos()
            .div_ceil(engine::TICK.as_nanos().max(1));
        Self {
            ticks: u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1),
            fuel: cfg.fuel,
            timeout: cfg.call_timeout,
        }
    }
}

/// Calls a guest function with `ctx` as the current context and the call
/// budget reset; a failure poisons the VM.
#[expect(
    clippy::too_many_arguments,
    reason = "split borrows of the Vm's fields"
)]
fn call_guest<P: WasmParams, R: WasmResults>(
    store: &mut Store<HostState>,
    poisoned: &mut Option<String>,
    budget: &Budget,
    f: &TypedFunc<P, R>,
    name: &str,
    ctx: u32,
    args: P,
    restrict: Restrict,
) -> Result<R, HostError> {
    if let Some(first) = poisoned {
        return Err(HostError::Poisoned {
            first: first.clone(),
        });
    }
    {
        let st = store.data_mut();
        st.current = ctx;
        st.effective = 0;
        st.restrict = restrict;
        // `DeferAfterCallActions` clears stopNextIteration after every VM call.
        st.stop_iteration = false;
    }
    store.set_epoch_deadline(budget.ticks);
    if let Some(fuel) = budget.fuel {
        store
            .set_fuel(fuel)
            .map_err(|e| HostError::Usage(format!("could not set fuel: {e}")))?;
    }
    let r = f.call(&mut *store, args);
    store.data_mut().restrict = Restrict::None;
    match r {
        Ok(v) => Ok(v),
        Err(e) => {
            let last_logs: Vec<LogLine> = store.data().recent.iter().cloned().collect();
            let callback = name.to_owned();
            let err = match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => HostError::Timeout {
                    callback,
                    limit: budget.timeout,
                    last_logs,
                },
                Some(Trap::OutOfFuel) => HostError::OutOfFuel {
                    callback,
                    fuel: budget.fuel.unwrap_or(0),
                    last_logs,
                },
                Some(t) => HostError::Trap {
                    callback,
                    message: t.to_string(),
                    last_logs,
                },
                None => match e.downcast_ref::<RestrictedCall>() {
                    Some(r) => HostError::Trap {
                        callback,
                        message: r.to_string(),
                        last_logs,
                    },
                    None => HostError::Trap {
                        callback,
                        message: e.root_cause().to_string(),
                        last_logs,
                    },
                },
            };
            *poisoned = Some(match &err {
                HostError::Trap {
                    callback, message, ..
                } => format!("{callback} trapped: {message}"),
                HostError::Timeout { callback, .. } => format!("{callback} ran out of time"),
                HostError::OutOfFuel { callback, .. } => format!("{callback} ran out of fuel"),
                other => other.to_string(),
            });
            Err(err)
        }
    }
}

/// Calls an optional export: `Ok(None)` if the module does not export it.
macro_rules! guest {
    ($vm:ident . $f:ident ($ctx:expr, $args:expr)) => {
        match &$vm.ex.$f {
            Some(func) => call_guest(
                &mut $vm.store,
                &mut $vm.poisoned,
                &$vm.budget,
                func,
                concat!("proxy_", stringify!($f)),
                $ctx,
                $args,
                Restrict::None,
            )
            .map(Some),
            None => Ok(None),
        }
    };
}

fn id32(id: u32) -> i32 {
    id as i32
}

fn len32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Header names as Envoy's codecs and header maps hold them.
fn lower_names(h: &Headers) -> Headers {
    h.iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Create,
    ReqHeaders,
    ReqBody,
    ReqTrailers,
    Upstream,
    RespHeaders,
    RespBody,
    RespTrailers,
    Complete,
}

impl Next {
    /// The next step of `dir` once its headers or a chunk went through:
    /// another chunk, the trailers, or the end of that direction.
    fn after_input(p: &Pipe, dir: Dir) -> Self {
        match (dir, !p.chunks.is_empty(), p.trailers.is_some()) {
            (Dir::Request, true, _) => Self::ReqBody,
            (Dir::Request, false, true) => Self::ReqTrailers,
            (Dir::Request, false, false) => Self::Upstream,
            (Dir::Response, true, _) => Self::RespBody,
            (Dir::Response, false, true) => Self::RespTrailers,
            (Dir::Response, false, false) => Self::Complete,
        }
    }

    fn is_end(self) -> bool {
        matches!(self, Self::Upstream | Self::Complete)
    }
}

/// What a data callback's return value means to Envoy
/// (`FilterDataStatus`; cpp-host `convertVmCallResultToFilterDataStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataStatus {
    /// 0.
    Continue,
    /// 1 (the SDK's Pause): the filter manager buffers the data, and the
    /// next data callback sees all of it.
    Buffer,
    /// 2: buffered too, but the next callback sees only its own chunk.
    Watermark,
    /// 3, anything above, or a local response: the chunk is dropped.
    NoBuffer,
}

impl DataStatus {
    fn from_raw(raw: i32, next_iteration_stopped: bool) -> Self {
        match raw {
            _ if next_iteration_stopped => Self::NoBuffer,
            0 => Self::Continue,
            1 => Self::Buffer,
            2 => Self::Watermark,
            _ => Self::NoBuffer,
        }
    }
}

/// One direction of an HTTP stream as it passes the filter: what has
/// arrived but not reached the filter yet, and what went past it.
#[derive(Debug, Default)]
struct Pipe {
    /// Body chunks that have arrived but not reached the filter yet.
    chunks: VecDeque<Vec<u8>>,
    /// Trailers that have arrived but not reached the filter yet.
    trailers: Option<Headers>,
    /// The filter stopped all iteration at the headers: the filter manager
    /// buffers what arrives meanwhile and hands it over as one data callback
    /// when the filter continues (`handleDataIfStopAll`, `commonContinue`).
    coalesce: bool,
    /// A data callback stopped iteration (the filter manager's
    /// `StopSingleIteration`): held data waits until the filter continues.
    data_stopped: bool,
    /// What went past the filter (upstream, or to the client).
    sent: Vec<u8>,
    /// Whether this direction has a body at all.
    had_body: bool,
}

impl Pipe {
    fn new(chunks: Vec<Vec<u8>>, trailers: Option<Headers>) -> Self {
        Self {
            had_body: !chunks.is_empty(),
            chunks: chunks.into(),
            trailers,
            ..Self::default()
        }
    }
}

#[derive(Debug, Default)]
struct HttpFlow {
    next: Option<Next>,
    paused: bool,
    resume: bool,
    redirected: bool,
    reset: bool,
    req: Pipe,
    resp: Pipe,
    /// Response headers not yet given to the filter (upstream's or a local reply's).
    resp_headers: Option<Headers>,
    response_started: bool,
    forwarded: bool,
    out: HttpOutcome,
}

impl HttpFlow {
    fn pipe(&mut self, dir: Dir) -> &mut Pipe {
        match dir {
            Dir::Request => &mut self.req,
            Dir::Response => &mut self.resp,
        }
    }
}

/// The direction of data on a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TcpDir {
    /// From the client (`proxy_on_downstream_data`).
    Downstream,
    /// From the upstream (`proxy_on_upstream_data`).
    Upstream,
}

#[derive(Debug, Default)]
struct TcpFlow {
    close_pending: bool,
    closed: bool,
    down_closed: bool,
    up_closed: bool,
    data_held: bool,
    out: ConnectionOutcome,
}

#[derive(Debug)]
enum Flow {
    Http(Box<HttpFlow>),
    Tcp(TcpFlow),
}

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
    flows: HashMap<u32, Flow>,
    finished: HashMap<u32, Finished>,
    dirty: Vec<u32>,
    upstream: UpstreamResponse,
    next_reject: u32,
    delete_root: bool,
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

/// Where the simulated client connects from.
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 244, 0, 21));
/// The address the client connected to (an auto-allocated ServiceEntry VIP).
const SERVICE_VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(240, 240, 0, 1));

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

    // ---- HTTP -----------------------------------------------------------------

    /// Runs one whole HTTP stream in Envoy's order and returns what happened.
    ///
    /// A stream the filter leaves paused (waiting for an HTTP call nobody
    /// answers) ends as Envoy's stream idle timeout ends it: a 408 from the
    /// connection manager. Use [`Vm::http_start`] and
    /// [`Vm::answer_http_call`] to answer calls.
    pub fn http(&mut self, req: &HttpRequest) -> Result<HttpOutcome, HostError> {
        let id = self.http_start(req)?;
        self.http_finish(id)
    }

    /// Starts an HTTP stream and runs it as far as it goes without outside
    /// input (to completion, or until the filter pauses it).
    pub fn http_start(&mut self, req: &HttpRequest) -> Result<StreamId, HostError> {
        self.ready()?;
        let chunks = match &req.body {
            None => Vec::new(),
            Some(b) => split_chunks(b, &req.body_chunks).ok_or_else(|| {
                HostError::Usage(format!(
                    "the request's body_chunks add up to more than its {}-byte body",
                    b.len()
                ))
            })?,
        };
        let prepared = match http::prepare(req, self.plugin.cfg.path_normalization) {
            Ok(p) => p,
            Err(rej) => {
                let reply = http::proxy_reply(rej.status, b"Bad Request");
                let out = HttpOutcome {
                    proxy_rejected: Some(rej.status),
                    status: rej.status,
                    response_headers: Some(local_reply_headers(
                        reply.status,
                        &Vec::new(),
                        &reply.body,
                    )),
                    response_body: reply.body,
                    details: rej.details.to_owned(),
                    ..HttpOutcome::default()
                };
                let id = self.next_reject;
                self.next_reject = self.next_reject.wrapping_sub(1);
                self.finished.insert(id, Finished::Http(Box::new(out)));
                return Ok(StreamId(id));
            }
        };
        let st = self.store.data_mut();
        let ctx = st.next_context;
        st.next_context += 1;
        let peer = Peer {
            source: Some(SocketAddr::new(CLIENT, 40000 + (ctx % 20000) as u16)),
            destination: Some(SocketAddr::new(SERVICE_VIP, prepared.port)),
            sni: Vec::new(),
            connection_id: st.next_connection_id,
        };
        st.next_connection_id += 1;
        let mut stream = Stream::new(
            Kind::Http,
            req.properties.clone(),
            peer,
            st.clock.now(),
            st.log_seq(),
        );
        stream.req_headers = prepared.headers;
        st.streams.insert(ctx, stream);
        self.flows.insert(
            ctx,
            Flow::Http(Box::new(HttpFlow {
                next: Some(Next::Create),
                req: Pipe::new(chunks, req.trailers.as_ref().map(lower_names)),
                ..HttpFlow::default()
            })),
        );
        self.pump(ctx)?;
        self.settle()?;
        Ok(StreamId(ctx))
    }

    /// Whether a stream has finished (its outcome is waiting).
    pub fn is_finished(&self, id: StreamId) -> bool {
        self.finished.contains_key(&id.0)
    }

    /// Ends an HTTP stream and returns its outcome. A stream still paused
    /// gets the connection manager's 408 (stream idle timeout).
    pub fn http_finish(&mut self, id: StreamId) -> Result<HttpOutcome, HostError> {
        if let Some(Finished::Http(o)) = self.finished.remove(&id.0) {
            return Ok(*o);
        }
        match self.flows.get_mut(&id.0) {
            Some(Flow::Http(_)) => {}
            _ => {
                return Err(HostError::Usage(format!(
                    "no HTTP stream {} in flight or finished",
                    id.0
                )));
            }
        }
        if let Some(first) = &self.poisoned {
            return Err(HostError::Poisoned {
                first: first.clone(),
            });
        }
        self.proxy_local_reply(id.0, 408, b"stream timeout", "stream_idle_timeout");
        self.pump(id.0)?;
        self.settle()?;
        match self.finished.remove(&id.0) {
            Some(Finished::Http(o)) => Ok(*o),
            _ => Err(HostError::Usage(format!(
                "HTTP stream {} did not finish",
                id.0
            ))),
        }
    }

    /// The HTTP calls waiting for an answer.
    pub fn pending_http_calls(&self) -> Vec<HttpCall> {
        self.store.data().http_calls.values().cloned().collect()
    }

    /// Answers an HTTP call: runs `proxy_on_http_call_response` on the root
    /// context, then whatever the filter set off (continuing or answering a
    /// paused stream).
    pub fn answer_http_call(
        &mut self,
        token: u32,
        response: HttpCallResponse,
    ) -> Result<(), HostError> {
        let Some(_call) = self.store.data_mut().http_calls.remove(&token) else {
            return Err(HostError::Usage(format!(
                "no HTTP call with token {token} is waiting"
            )));
        };
        let mut response = response;
        for (k, _) in &mut response.headers {
            k.make_ascii_lowercase();
        }
        let (nh, nb, nt) = (
            len32(response.headers.len()),
            len32(response.body.len()),
            len32(response.trailers.len()),
        );
        self.store.data_mut().http_call_response = Some(response);
        let r = guest!(
            self.on_http_call_response(ROOT_CONTEXT, (id32(ROOT_CONTEXT), id32(token), nh, nb, nt))
        );
        self.store.data_mut().http_call_response = None;
        r?;
        self.apply_after()?;
        self.settle()
    }

    /// Fails an HTTP call as a reset upstream would: `proxy_get_status`
    /// reports BROKEN_CONNECTION "reset" during the callback, which gets no
    /// headers or body.
    pub fn fail_http_call(&mut self, token: u32) -> Result<(), HostError> {
        if self.store.data_mut().http_calls.remove(&token).is_none() {
            return Err(HostError::Usage(format!(
                "no HTTP call with token {token} is waiting"
            )));
        }
        self.store.data_mut().status = (Status::BROKEN_CONNECTION.0, b"reset".to_vec());
        let r = guest!(
            self.on_http_call_response(ROOT_CONTEXT, (id32(ROOT_CONTEXT), id32(token), 0, 0, 0))
        );
        self.store.data_mut().status.1.clear();
        r?;
        self.apply_after()?;
        self.settle()
    }

    // ---- gRPC calls and streams ----------------------------------------------------
    //
    // Envoy opens them on the root context (cpp-host `exports.cc`:
    // `contextOrEffectiveContext()->root_context()`), so every callback goes
    // to the root context, and the received metadata and message are the
    // root's (`rootContext()->grpc_receive_*`), readable only while their
    // callback runs. A unary call surfaces only its outcome
    // (`GrpcCallClientHandler`: `onSuccessRaw`, `onFailure`); a stream
    // surfaces everything (`GrpcStreamClientHandler`).

    /// The gRPC calls and streams waiting for an answer: opened, not
    /// cancelled, not closed by the remote end.
    pub fn pending_grpc_calls(&self) -> Vec<GrpcCall> {
        self.store
            .data()
            .grpc
            .values()
            .filter(|o| !o.remote_closed)
            .map(|o| o.call.clone())
            .collect()
    }

    /// Whether `token` is an open call (false) or stream (true).
    fn grpc_remote(&self, token: u32) -> Result<bool, HostError> {
        self.ready()?;
        match self.store.data().grpc.get(&token) {
            Some(o) if !o.remote_closed => Ok(o.call.stream),
            Some(_) => Err(HostError::Usage(format!(
                "gRPC stream {token} was already closed by the remote end"
            ))),
            None => Err(HostError::Usage(format!(
                "no gRPC call or stream with token {token} is open"
            ))),
        }
    }

    /// The remote end sends initial metadata (for a stream, the response
    /// headers as they came, e.g. `:status` and `content-type`):
    /// `proxy_on_grpc_receive_initial_metadata(root, token, entries)`, with
    /// the map readable as GRPC_RECEIVE_INITIAL_METADATA during the call
    /// (`Context::onGrpcReceiveInitialMetadataWrapper`). A unary call's
    /// metadata never reaches the filter (Envoy's `AsyncRequestImpl` drops
    /// it), so for a call this does nothing.
    pub fn grpc_initial_metadata(
        &mut self,
        token: u32,
        metadata: Headers,
    ) -> Result<(), HostError> {
        self.grpc_metadata(token, metadata, false)
    }

    /// The remote end sends a message. On a stream:
    /// `proxy_on_grpc_receive(root, token, size)` with the message as the
    /// GRPC_RECEIVE_BUFFER during the call (`onReceiveMessageRaw`). A unary
    /// call keeps it as its response (a later message replaces it), which
    /// the filter gets when the call closes with status OK.
    pub fn grpc_message(&mut self, token: u32, message: &[u8]) -> Result<(), HostError> {
        if !self.grpc_remote(token)? {
            if let Some(o) = self.store.data_mut().grpc.get_mut(&token) {
                o.response = Some(message.to_vec());
            }
            return Ok(());
        }
        self.grpc_receive(token, message.to_vec())?;
        self.settle()
    }

    /// `Context::onGrpcReceiveWrapper`: the message is readable during the
    /// callback; a unary call is forgotten afterwards.
    fn grpc_receive(&mut self, token: u32, message: Vec<u8>) -> Result<(), HostError> {
        let args = (id32(ROOT_CONTEXT), id32(token), len32(message.len()));
        self.store.data_mut().grpc_message = Some(message);
        let r = guest!(self.on_grpc_receive(ROOT_CONTEXT, args));
        let st = self.store.data_mut();
        st.grpc_message = None;
        if token & 3 == 1 {
            st.grpc.remove(&token);
        }
        r?;
        self.apply_after()
    }

    /// The remote end sends trailing metadata (for a stream, the response
    /// trailers, e.g. `grpc-status`, `grpc-message`):
    /// `proxy_on_grpc_receive_trailing_metadata(root, token, entries)`, the
    /// map readable as GRPC_RECEIVE_TRAILING_METADATA during the call. As
    /// with initial metadata, a unary call's never reaches the filter.
    pub fn grpc_trailing_metadata(
        &mut self,
        token: u32,
        metadata: Headers,
    ) -> Result<(), HostError> {
        self.grpc_metadata(token, metadata, true)
    }

    /// Initial or trailing metadata on a stream: the map readable as
    /// GRPC_RECEIVE_INITIAL_METADATA or GRPC_RECEIVE_TRAILING_METADATA
    /// only during its callback; nothing reaches the filter for a unary call.
    fn grpc_metadata(
        &mut self,
        token: u32,
        metadata: Headers,
        trailing: bool,
    ) -> Result<(), HostError> {
        if !self.grpc_remote(token)? {
            return Ok(());
        }
        let md = lower_names(&metadata);
        let args = (id32(ROOT_CONTEXT), id32(token), len32(md.len()));
        let st = self.store.data_mut();
        let r = if trailing {
            st.grpc_trailing = Some(md);
            let r = guest!(self.on_grpc_receive_trailing_metadata(ROOT_CONTEXT, args));
            self.store.data_mut().grpc_trailing = None;
            r
        } else {
            st.grpc_initial = Some(md);
            let r = guest!(self.on_grpc_receive_initial_metadata(ROOT_CONTEXT, args));
            self.store.data_mut().grpc_initial = None;
            r
        };
        r?;
        self.apply_after()?;
        self.settle()
    }

    /// The remote end closes with a gRPC status (0 = OK) and message.
    ///
    /// A stream: `proxy_on_grpc_close(root, token, status)`, with
    /// `proxy_get_status` answering the status and message during the call
    /// (the code stays afterwards, the message does not); the stream is
    /// forgotten once the filter closed its side too (`onRemoteClose`,
    /// `onGrpcCloseWrapper`). A unary call (`AsyncRequestImpl::onRemoteClose`):
    /// with OK and a response message, `proxy_on_grpc_receive` with it;
    /// with OK and none, `proxy_on_grpc_close` with INTERNAL (13) and no
    /// message; otherwise `proxy_on_grpc_close` with this status. The call
    /// is forgotten afterwards.
    pub fn grpc_remote_close(
        &mut self,
        token: u32,
        status: u32,
        message: &str,
    ) -> Result<(), HostError> {
        let stream = self.grpc_remote(token)?;
        let st = self.store.data_mut();
        let response = match st.grpc.get_mut(&token) {
            Some(o) if stream => {
                o.remote_closed = true;
                None
            }
            Some(o) => o.response.take(),
            None => None,
        };
        match response {
            Some(r) if status == 0 => self.grpc_receive(token, r)?,
            _ if status == 0 && !stream => self.grpc_close_callback(token, 13, "")?,
            _ => self.grpc_close_callback(token, status, message)?,
        }
        self.settle()
    }

    /// Answers a unary call (or a stream) with one message and status OK:
    /// [`Vm::grpc_message`] then [`Vm::grpc_remote_close`].
    pub fn answer_grpc_call(&mut self, token: u32, message: &[u8]) -> Result<(), HostError> {
        self.grpc_message(token, message)?;
        self.grpc_remote_close(token, 0, "")
    }

    /// `proxy_on_grpc_close` and the clean-up Envoy defers until it returns.
    fn grpc_close_callback(
        &mut self,
        token: u32,
        status: u32,
        message: &str,
    ) -> Result<(), HostError> {
        self.store.data_mut().status = (status, message.as_bytes().to_vec());
        let r = guest!(self.on_grpc_close(
            ROOT_CONTEXT,
            (id32(ROOT_CONTEXT), id32(token), status as i32)
        ));
        let st = self.store.data_mut();
        st.status.1.clear();
        let done = st
            .grpc
            .get(&token)
            .is_some_and(|o| !o.call.stream || o.local_closed);
        if done {
            st.grpc.remove(&token);
        }
        r?;
        self.apply_after()
    }

    /// Sets what the simulated upstream answers (default: 200, no body).
    pub fn set_upstream_response(&mut self, response: UpstreamResponse) {
        self.upstream = response;
    }

    /// Declares a cluster that `proxy_http_call`/`proxy_grpc_call` may use.
    pub fn add_cluster(&mut self, name: &str) {
        self.store
            .data_mut()
            .clusters
            .insert(name.as_bytes().to_vec());
    }

    fn pump(&mut self, ctx: u32) -> Result<(), HostError> {
        loop {
            match self.flows.get_mut(&ctx) {
                Some(Flow::Http(f)) => {
                    if f.paused {
                        return Ok(());
                    }
                    let Some(next) = f.next else { return Ok(()) };
                    f.redirected = false;
                    f.resume = false;
                    match next {
                        Next::Create => {
                            f.next = Some(Next::ReqHeaders);
                            if let Some(s) = self.store.data_mut().stream_mut(ctx) {
                                s.created = true;
                            }
                            guest!(self.on_context_create(ctx, (id32(ctx), id32(ROOT_CONTEXT))))?;
                            self.apply_after()?;
                        }
                        Next::ReqHeaders => self.step_request_headers(ctx)?,
                        Next::ReqBody => self.step_body(ctx, Dir::Request)?,
                        Next::ReqTrailers => self.step_trailers(ctx, Dir::Request)?,
                        Next::Upstream => self.step_upstream(ctx)?,
                        Next::RespHeaders => self.step_response_headers(ctx)?,
                        Next::RespBody => self.step_body(ctx, Dir::Response)?,
                        Next::RespTrailers => self.step_trailers(ctx, Dir::Response)?,
                        Next::Complete => self.step_complete(ctx)?,
                    }
                    self.deliver_queues()?;
                }
                Some(Flow::Tcp(f)) => {
                    if f.close_pending && !f.down_closed {
                        f.close_pending = false;
                        self.tcp_close_inner(ctx, PeerType::Local)?;
                    }
                    return Ok(());
                }
                None => return Ok(()),
            }
        }
    }

    fn http_flow(&mut self, ctx: u32) -> Option<&mut HttpFlow> {
        match self.flows.get_mut(&ctx) {
            Some(Flow::Http(f)) => Some(f),
            _ => None,
        }
    }

    /// After a filter callback: decides whether the stream stops here.
    /// Returns whether it did.
    fn settle_step(
        &mut self,
        ctx: u32,
        stop: bool,
        next: Next,
        release: impl FnOnce(&mut Stream),
    ) -> bool {
        let Some(f) = self.http_flow(ctx) else {
            return false;
        };
        if f.redirected {
            f.redirected = false;
            return false;
        }
        f.next = Some(next);
        if stop && !f.resume {
            f.paused = true;
            return true;
        }
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            release(s);
        }
        false
    }

    /// After a headers callback: a stop there is Envoy's
    /// StopAllIterationAndWatermark for ABI 0.2.x (cpp-host
    /// `convertVmCallResultToFilterHeadersStatus`), so what arrives while it
    /// lasts reaches the filter as one data callback.
    fn settle_headers(
        &mut self,
        ctx: u32,
        dir: Dir,
        stop: bool,
        release: impl FnOnce(&mut Stream),
    ) {
        let next = match self.http_flow(ctx) {
            Some(f) => Next::after_input(f.pipe(dir), dir),
            None => return,
        };
        if self.settle_step(ctx, stop, next, release)
            && let Some(f) = self.http_flow(ctx)
        {
            f.pipe(dir).coalesce = true;
        }
    }

    fn step_request_headers(&mut self, ctx: u32) -> Result<(), HostError> {
        let eos = self
            .http_flow(ctx)
            .is_some_and(|f| f.req.chunks.is_empty() && f.req.trailers.is_none());
        let n = match self.store.data_mut().stream_mut(ctx) {
            Some(s) => {
                s.req_headers_live = true;
                s.end_of_stream = eos;
                s.req_headers.len()
            }
            None => 0,
        };
        let returned = guest!(self.on_request_headers(ctx, (id32(ctx), len32(n), i32::from(eos))))?;
        let raw = returned.unwrap_or(0);
        // 2 (ContinueAndEndStream) is Continue to Envoy's `convertFilterHeadersStatus`.
        let stop =
            std::mem::take(&mut self.store.data_mut().stop_iteration) || !matches!(raw, 0 | 2);
        if let Some(f) = self.http_flow(ctx) {
            f.out.request_action = returned.map(Action::from_raw);
        }
        self.apply_after()?;
        self.settle_headers(ctx, Dir::Request, stop, |s| s.req_headers_live = false);
        Ok(())
    }

    fn step_response_headers(&mut self, ctx: u32) -> Result<(), HostError> {
        let Some(f) = self.http_flow(ctx) else {
            return Ok(());
        };
        let headers = f.resp_headers.take().unwrap_or_default();
        let eos = f.resp.chunks.is_empty() && f.resp.trailers.is_none();
        f.response_started = true;
        let n = headers.len();
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.resp_headers = Some(headers);
            s.resp_headers_live = true;
            s.end_of_stream = eos;
        }
        let raw = guest!(self.on_response_headers(ctx, (id32(ctx), len32(n), i32::from(eos))))?
            .unwrap_or(0);
        let stop =
            std::mem::take(&mut self.store.data_mut().stop_iteration) || !matches!(raw, 0 | 2);
        self.apply_after()?;
        self.settle_headers(ctx, Dir::Response, stop, |s| s.resp_headers_live = false);
        Ok(())
    }

    /// One data callback (`Context::decodeData`/`encodeData`) for the next
    /// chunk of `dir`, with the filter manager's buffering around it
    /// (`FilterManager::decodeData`, `commonHandleAfterDataCallback`,
    /// `commonHandleBufferData`):
    ///
    /// - while the filter buffers (its last data callback returned
    ///   StopIterationAndBuffer), the chunk joins the buffered data first
    ///   (`addDecodedData`) and the callback gets the size of it all;
    ///   otherwise only the chunk;
    /// - Continue passes on what was held, then the chunk;
    ///   StopIterationAndBuffer and StopIterationAndWatermark hold the chunk
    ///   (only the first makes the next callback see the held data);
    ///   StopIterationNoBuffer drops it;
    /// - `end_of_stream` only on the last chunk, and never when trailers
    ///   follow; if the input ends while data is held, the stream waits for
    ///   `proxy_continue_stream`.
    fn step_body(&mut self, ctx: u32, dir: Dir) -> Result<(), HostError> {
        let Some(f) = self.http_flow(ctx) else {
            return Ok(());
        };
        let p = f.pipe(dir);
        if std::mem::take(&mut p.coalesce) && p.chunks.len() > 1 {
            let all: Vec<u8> = p.chunks.drain(..).flatten().collect();
            p.chunks.push_back(all);
        }
        let chunk = p.chunks.pop_front().unwrap_or_default();
        let eos = p.chunks.is_empty() && p.trailers.is_none();
        let n = match self.store.data_mut().stream_mut(ctx) {
            Some(s) => {
                s.end_of_stream = eos;
                let b = s.body_mut(dir);
                b.received += chunk.len() as u64;
                if b.buffering {
                    b.buffered
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(&chunk);
                    b.chunk.clear();
                } else {
                    b.chunk = chunk;
                }
                b.live = true;
                b.view().len()
            }
            None => 0,
        };
        let args = (id32(ctx), len32(n), i32::from(eos));
        let raw = match dir {
            Dir::Request => guest!(self.on_request_body(ctx, args)),
            Dir::Response => guest!(self.on_response_body(ctx, args)),
        }?
        .unwrap_or(0);
        let stopped_next = std::mem::take(&mut self.store.data_mut().stop_iteration);
        let status = DataStatus::from_raw(raw, stopped_next);
        self.apply_after()?;
        let Some(f) = self.http_flow(ctx) else {
            return Ok(());
        };
        if f.redirected {
            f.redirected = false;
            return Ok(());
        }
        // `proxy_continue_stream` inside the callback already let it go on.
        let status = if f.resume {
            DataStatus::Continue
        } else {
            status
        };
        self.after_data(ctx, dir, status);
        let (next, stop) = match self.http_flow(ctx) {
            Some(f) => {
                let p = f.pipe(dir);
                let next = Next::after_input(p, dir);
                (next, p.data_stopped && next.is_end())
            }
            None => return Ok(()),
        };
        self.settle_step(ctx, stop, next, |_| {});
        Ok(())
    }

    /// What the filter manager does with a data callback's chunk.
    fn after_data(&mut self, ctx: u32, dir: Dir, status: DataStatus) {
        let Some(s) = self.store.data_mut().stream_mut(ctx) else {
            return;
        };
        let Some(Flow::Http(f)) = self.flows.get_mut(&ctx) else {
            return;
        };
        let b = s.body_mut(dir);
        let p = f.pipe(dir);
        b.buffering = status == DataStatus::Buffer;
        match status {
            DataStatus::Continue => {
                // `request_body_buffer_ = nullptr`; held data goes on first.
                b.live = false;
                p.data_stopped = false;
                if let Some(held) = b.buffered.take() {
                    p.sent.extend_from_slice(&held);
                }
                p.sent.append(&mut b.chunk);
            }
            DataStatus::Buffer | DataStatus::Watermark => {
                p.data_stopped = true;
                let chunk = std::mem::take(&mut b.chunk);
                b.buffered.get_or_insert_with(Vec::new).extend(chunk);
            }
            DataStatus::NoBuffer => {
                p.data_stopped = true;
                b.chunk.clear();
            }
        }
    }

    /// Passes on the data the filter manager held for `dir` (the filter
    /// continued, or its direction ended).
    fn flush(&mut self, ctx: u32, dir: Dir) {
        let held = self
            .store
            .data_mut()
            .stream_mut(ctx)
            .and_then(|s| s.body_mut(dir).buffered.take());
        if let Some(Flow::Http(f)) = self.flows.get_mut(&ctx) {
            let p = f.pipe(dir);
            p.data_stopped = false;
            if let Some(h) = held {
                p.sent.extend_from_slice(&h);
            }
        }
    }

    /// The trailers callback (`Context::decodeTrailers`/`encodeTrailers`):
    /// the map is the filter's until the callback returns Continue; any
    /// other value (or a local response) is StopIteration, which waits for
    /// `proxy_continue_stream`.
    fn step_trailers(&mut self, ctx: u32, dir: Dir) -> Result<(), HostError> {
        let Some(f) = self.http_flow(ctx) else {
            return Ok(());
        };
        let trailers = f.pipe(dir).trailers.take().unwrap_or_default();
        let n = trailers.len();
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            let (t, live) = s.trailers_mut(dir);
            *t = Some(trailers);
            *live = true;
        }
        let args = (id32(ctx), len32(n));
        let raw = match dir {
            Dir::Request => guest!(self.on_request_trailers(ctx, args)),
            Dir::Response => guest!(self.on_response_trailers(ctx, args)),
        }?
        .unwrap_or(0);
        let stop = std::mem::take(&mut self.store.data_mut().stop_iteration) || raw != 0;
        self.apply_after()?;
        let next = if dir == Dir::Request {
            Next::Upstream
        } else {
            Next::Complete
        };
        self.settle_step(ctx, stop, next, |s| *s.trailers_mut(dir).1 = false);
        Ok(())
    }

    fn step_upstream(&mut self, ctx: u32) -> Result<(), HostError> {
        self.flush(ctx, Dir::Request);
        let up = self.upstream.clone();
        let chunks = if up.body.is_empty() && up.body_chunks.is_empty() {
            Vec::new()
        } else {
            split_chunks(&up.body, &up.body_chunks).ok_or_else(|| {
                HostError::Usage(format!(
                    "the upstream response's body_chunks add up to more than its {}-byte body",
                    up.body.len()
                ))
            })?
        };
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.req_headers_live = false;
            s.req_body.live = false;
            s.response_code = Some(up.status);
            s.details = "via_upstream".into();
        }
        let mut headers: Headers = vec![(b":status".to_vec(), up.status.to_string().into_bytes())];
        for (k, v) in &up.headers {
            headers.push((k.to_ascii_lowercase(), v.clone()));
        }
        if !up.body.is_empty() && !headers.iter().any(|(k, _)| k == b"content-length") {
            headers.push((
                b"content-length".to_vec(),
                up.body.len().to_string().into_bytes(),
            ));
        }
        if let Some(f) = self.http_flow(ctx) {
            // The request can no longer change once it went upstream: the
            // outcome takes the headers and body when the stream ends.
            f.forwarded = true;
            f.resp_headers = Some(headers);
            f.resp = Pipe::new(chunks, up.trailers.as_ref().map(lower_names));
            f.next = Some(Next::RespHeaders);
        }
        Ok(())
    }

    fn step_complete(&mut self, ctx: u32) -> Result<(), HostError> {
        let Some(f) = self.http_flow(ctx) else {
            return Ok(());
        };
        f.next = None;
        let reset = f.reset;
        if !reset {
            self.flush(ctx, Dir::Response);
        }
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.req_headers_live = false;
            s.req_body.live = false;
            s.req_trailers_live = false;
            s.resp_headers_live = false;
            s.resp_body.live = false;
            s.resp_trailers_live = false;
            s.access_log = true;
        }
        // `Context::log` (the access log) runs before `Context::onDestroy`.
        let r = guest!(self.on_log(ctx, id32(ctx)));
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.access_log = false;
        }
        r?;
        self.apply_after()?;
        guest!(self.on_done(ctx, id32(ctx)))?;
        self.apply_after()?;
        guest!(self.on_delete(ctx, id32(ctx)))?;
        self.apply_after()?;
        let st = self.store.data_mut();
        let Some(s) = st.streams.remove(&ctx) else {
            return Ok(());
        };
        let logs = st.logs_since(s.log_seq);
        if let Some(Flow::Http(mut f)) = self.flows.remove(&ctx) {
            let out = &mut f.out;
            out.reset = reset;
            out.status = if reset {
                0
            } else {
                s.response_code.unwrap_or(0)
            };
            if !reset {
                out.response_headers = s.resp_headers;
                out.response_body = std::mem::take(&mut f.resp.sent);
                out.response_trailers = s.resp_trailers;
            }
            out.details = s.details;
            out.filter_state = s.fs_writes;
            out.logs = logs;
            if f.forwarded {
                out.forwarded_headers = Some(s.req_headers);
                out.forwarded_body = f.req.had_body.then(|| std::mem::take(&mut f.req.sent));
                out.forwarded_trailers = s.req_trailers;
            }
            self.finished.insert(ctx, Finished::Http(Box::new(f.out)));
        }
        Ok(())
    }

    /// A local reply from the connection manager itself (not the filter).
    fn proxy_local_reply(&mut self, ctx: u32, status: u16, body: &[u8], details: &str) {
        let headers = local_reply_headers(u32::from(status), &Vec::new(), body);
        self.redirect_to_reply(ctx, status, headers, body.to_vec(), details.to_owned());
    }

    fn redirect_to_reply(
        &mut self,
        ctx: u32,
        status: u16,
        headers: Headers,
        body: Vec<u8>,
        details: String,
    ) {
        let started = match self.http_flow(ctx) {
            Some(f) if f.next.is_some() => f.response_started,
            _ => return,
        };
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.response_code = Some(status);
            s.details = details;
            if started {
                // The response already started through the filters: the
                // reply goes straight to the client (`sendDirectLocalReply`).
                s.resp_headers = Some(headers.clone());
                s.resp_headers_live = false;
                s.resp_body = Body::default();
                s.resp_trailers = None;
                s.resp_trailers_live = false;
            }
        }
        if let Some(f) = self.http_flow(ctx) {
            f.paused = false;
            f.redirected = true;
            // The rest of the request no longer reaches the filter.
            f.req.chunks.clear();
            f.req.trailers = None;
            f.req.coalesce = false;
            if started {
                f.resp_headers = None;
                f.resp = Pipe {
                    sent: body,
                    had_body: true,
                    ..Pipe::default()
                };
                f.next = Some(Next::Complete);
            } else {
                let chunks = if body.is_empty() {
                    Vec::new()
                } else {
                    vec![body]
                };
                f.resp_headers = Some(headers);
                f.resp = Pipe::new(chunks, None);
                f.next = Some(Next::RespHeaders);
            }
        }
        self.dirty.push(ctx);
    }

    /// Runs the work Envoy defers until a VM call returns.
    fn apply_after(&mut self) -> Result<(), HostError> {
        let actions = std::mem::take(&mut self.store.data_mut().after);
        for a in actions {
            match a {
                After::LocalReply { ctx, reply } => {
                    let ok = self.http_flow(ctx).is_some_and(|f| f.next.is_some());
                    if !ok {
                        continue;
                    }
                    let headers = local_reply_headers(reply.status, &reply.headers, &reply.body);
                    let status = u16::try_from(reply.status).unwrap_or(0);
                    let details = String::from_utf8_lossy(&reply.details).into_owned();
                    let body = reply.body.clone();
                    if let Some(f) = self.http_flow(ctx) {
                        f.out.local_response = Some(reply);
                    }
                    self.redirect_to_reply(ctx, status, headers, body, details);
                }
                After::Continue { ctx, ty } => match self.flows.get_mut(&ctx) {
                    Some(Flow::Http(f)) => {
                        let dir = match ty {
                            StreamType::Request => Dir::Request,
                            _ => Dir::Response,
                        };
                        // `continueDecoding` once the response started (or
                        // `continueEncoding` before it) changes nothing.
                        if (dir == Dir::Response) != f.response_started {
                            continue;
                        }
                        if f.paused {
                            f.paused = false;
                            self.dirty.push(ctx);
                        } else {
                            f.resume = true;
                            // `commonContinue`: data held after a data
                            // callback stopped goes on now.
                            if f.pipe(dir).data_stopped {
                                self.flush(ctx, dir);
                            }
                        }
                    }
                    Some(Flow::Tcp(_)) => {
                        self.tcp_forward_held(ctx);
                    }
                    None => {}
                },
                After::Close { ctx } => match self.flows.get_mut(&ctx) {
                    Some(Flow::Http(f)) if f.next.is_some() => {
                        f.reset = true;
                        f.paused = false;
                        f.redirected = true;
                        f.resp_headers = None;
                        f.resp = Pipe::default();
                        f.req.chunks.clear();
                        f.req.trailers = None;
                        f.next = Some(Next::Complete);
                        if let Some(s) = self.store.data_mut().stream_mut(ctx)
                            && s.details.is_empty()
                        {
                            s.details = "wasm_close_stream".into();
                        }
                        self.dirty.push(ctx);
                    }
                    Some(Flow::Tcp(f)) if !f.closed => {
                        f.closed = true;
                        f.out.closed = true;
                        f.close_pending = true;
                        self.dirty.push(ctx);
                    }
                    _ => {}
                },
                After::DeleteRoot => self.delete_root = true,
            }
        }
        Ok(())
    }

    /// Runs deferred work until nothing is left: streams set off by other
    /// callbacks, the root's deletion after `proxy_done`, queue readiness.
    fn settle(&mut self) -> Result<(), HostError> {
        loop {
            if self.delete_root {
                self.delete_root = false;
                guest!(self.on_delete(ROOT_CONTEXT, id32(ROOT_CONTEXT)))?;
                self.apply_after()?;
                continue;
            }
            if let Some(ctx) = self.dirty.pop() {
                self.pump(ctx)?;
                continue;
            }
            if !self.deliver_queues()? {
                return Ok(());
            }
        }
    }

    /// Delivers shared-queue readiness to the root context, as Envoy posts
    /// it to the worker's dispatcher: between callbacks, never inside one.
    /// Returns whether anything was delivered.
    fn deliver_queues(&mut self) -> Result<bool, HostError> {
        let ready: Vec<(u32, u32)> = {
            let inbox = self.store.data().inbox.clone();
            let mut g = inbox.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *g)
        };
        if ready.is_empty() {
            return Ok(false);
        }
        for (ctx, token) in ready {
            if self.store.data().context_exists(ctx) && ctx != VM_CONTEXT {
                guest!(self.on_queue_ready(ctx, (id32(ctx), id32(token))))?;
                self.apply_after()?;
            }
        }
        Ok(true)
    }

    /// Delivers queue readiness and other deferred work now.
    pub fn run_pending(&mut self) -> Result<(), HostError> {
        self.settle()
    }

    // ---- TCP --------------------------------------------------------------------

    /// Runs one whole TCP connection: new connection, the client's data,
    /// then the client closes (unless the filter closed it first).
    pub fn connection(&mut self, conn: &Connection) -> Result<ConnectionOutcome, HostError> {
        let id = self.tcp_start(conn)?;
        if self.is_finished(id) {
            return self.tcp_outcome(id);
        }
        self.tcp_close(id, PeerType::Remote)
    }

    /// Opens a connection: `proxy_on_context_create`,
    /// `proxy_on_new_connection`, and the client's first data if any.
    pub fn tcp_start(&mut self, conn: &Connection) -> Result<StreamId, HostError> {
        self.ready()?;
        let st = self.store.data_mut();
        let ctx = st.next_context;
        st.next_context += 1;
        let peer = Peer {
            source: conn.source,
            destination: conn.destination,
            sni: conn.sni.clone().unwrap_or_default(),
            connection_id: st.next_connection_id,
        };
        st.next_connection_id += 1;
        let mut stream = Stream::new(
            Kind::Tcp,
            conn.properties.clone(),
            peer,
            st.clock.now(),
            st.log_seq(),
        );
        stream.created = true;
        st.streams.insert(ctx, stream);
        self.flows.insert(ctx, Flow::Tcp(TcpFlow::default()));
        guest!(self.on_context_create(ctx, (id32(ctx), id32(ROOT_CONTEXT))))?;
        self.apply_after()?;
        let raw = guest!(self.on_new_connection(ctx, id32(ctx)))?.unwrap_or(0);
        self.store.data_mut().stop_iteration = false;
        if let Some(Flow::Tcp(f)) = self.flows.get_mut(&ctx) {
            f.out.action = Some(Action::from_raw(raw));
        }
        self.apply_after()?;
        self.settle()?;
        if !conn.downstream_data.is_empty() && !self.is_finished(StreamId(ctx)) {
            self.tcp_downstream_data(StreamId(ctx), &conn.downstream_data, false)?;
        }
        Ok(StreamId(ctx))
    }

    fn tcp_forward_held(&mut self, ctx: u32) {
        let held = match self.flows.get_mut(&ctx) {
            Some(Flow::Tcp(f)) if f.data_held && !f.closed => {
                f.data_held = false;
                true
            }
            _ => false,
        };
        if !held {
            return;
        }
        let data = self.store.data_mut().stream_mut(ctx).map(|s| {
            s.down_live = false;
            std::mem::take(&mut s.down_data)
        });
        if let (Some(Flow::Tcp(f)), Some(d)) = (self.flows.get_mut(&ctx), data) {
            f.out.upstream_data.extend_from_slice(&d);
        }
    }

    /// The client sends data: `proxy_on_downstream_data`. Data the filter
    /// holds (Pause) stays in the connection's buffer and is delivered
    /// again with the next data, as Envoy's read buffer does.
    pub fn tcp_downstream_data(
        &mut self,
        id: StreamId,
        data: &[u8],
        end_of_stream: bool,
    ) -> Result<Option<Action>, HostError> {
        self.tcp_data(id, TcpDir::Downstream, data, end_of_stream)
    }

    /// The upstream sends data back: `proxy_on_upstream_data`; with
    /// `end_of_stream` also `proxy_on_upstream_connection_close(UNKNOWN)`
    /// (Envoy's `Context::onWrite`).
    pub fn tcp_upstream_data(
        &mut self,
        id: StreamId,
        data: &[u8],
        end_of_stream: bool,
    ) -> Result<Option<Action>, HostError> {
        self.tcp_data(id, TcpDir::Upstream, data, end_of_stream)
    }

    /// `Context::onData` and `Context::onWrite`: the data buffer is the
    /// filter's until the callback returns Continue. `None` once the
    /// connection is closed.
    fn tcp_data(
        &mut self,
        id: StreamId,
        dir: TcpDir,
        data: &[u8],
        end_of_stream: bool,
    ) -> Result<Option<Action>, HostError> {
        let ctx = id.0;
        match self.flows.get(&ctx) {
            Some(Flow::Tcp(f)) if !f.closed => {}
            Some(Flow::Tcp(_)) => return Ok(None),
            _ => {
                return Err(HostError::Usage(format!(
                    "no TCP connection {ctx} in flight"
                )));
            }
        }
        let n = match self.store.data_mut().stream_mut(ctx) {
            Some(s) => {
                s.end_of_stream = end_of_stream;
                let (buf, live) = match dir {
                    // Held data is still in the read buffer: new data joins it.
                    TcpDir::Downstream => (&mut s.down_data, &mut s.down_live),
                    // The write path has no continue (`ConnectionImpl::write`):
                    // each write starts afresh.
                    TcpDir::Upstream => {
                        s.up_data.clear();
                        (&mut s.up_data, &mut s.up_live)
                    }
                };
                buf.extend_from_slice(data);
                *live = true;
                buf.len()
            }
            None => 0,
        };
        let args = (id32(ctx), len32(n), i32::from(end_of_stream));
        let raw = match dir {
            TcpDir::Downstream => guest!(self.on_downstream_data(ctx, args)),
            TcpDir::Upstream => guest!(self.on_upstream_data(ctx, args)),
        }?
        .unwrap_or(0);
        self.store.data_mut().stop_iteration = false;
        let action = Action::from_raw(raw);
        if dir == TcpDir::Downstream
            && let Some(Flow::Tcp(f)) = self.flows.get_mut(&ctx)
        {
            f.out.data_action = Some(action);
            f.data_held = true;
        }
        self.apply_after()?;
        if raw == 0 {
            match dir {
                TcpDir::Downstream => self.tcp_forward_held(ctx),
                TcpDir::Upstream => {
                    if let Some(s) = self.store.data_mut().stream_mut(ctx) {
                        s.up_live = false;
                    }
                }
            }
        }
        if dir == TcpDir::Upstream && end_of_stream {
            guest!(self.on_upstream_connection_close(ctx, (id32(ctx), PeerType::Unknown.raw())))?;
            self.apply_after()?;
            if let Some(Flow::Tcp(f)) = self.flows.get_mut(&ctx) {
                f.up_closed = true;
            }
        }
        self.settle()?;
        Ok(Some(action))
    }

    /// The connection closes (`peer`: who closed it) and the filter's
    /// context ends: `proxy_on_downstream_connection_close`, `proxy_on_done`,
    /// `proxy_on_log`, `proxy_on_delete`.
    pub fn tcp_close(
        &mut self,
        id: StreamId,
        peer: PeerType,
    ) -> Result<ConnectionOutcome, HostError> {
        if self.is_finished(id) {
            return self.tcp_outcome(id);
        }
        match self.flows.get(&id.0) {
            Some(Flow::Tcp(_)) => {}
            _ => {
                return Err(HostError::Usage(format!(
                    "no TCP connection {} in flight",
                    id.0
                )));
            }
        }
        self.tcp_close_inner(id.0, peer)?;
        self.settle()?;
        self.tcp_outcome(id)
    }

    fn tcp_outcome(&mut self, id: StreamId) -> Result<ConnectionOutcome, HostError> {
        match self.finished.remove(&id.0) {
            Some(Finished::Tcp(o)) => Ok(o),
            _ => Err(HostError::Usage(format!(
                "TCP connection {} has not finished",
                id.0
            ))),
        }
    }

    fn tcp_close_inner(&mut self, ctx: u32, peer: PeerType) -> Result<(), HostError> {
        if let Some(Flow::Tcp(f)) = self.flows.get_mut(&ctx) {
            f.down_closed = true;
        }
        guest!(self.on_downstream_connection_close(ctx, (id32(ctx), peer.raw())))?;
        self.apply_after()?;
        // `Context::onCloseTCP`.
        guest!(self.on_done(ctx, id32(ctx)))?;
        self.apply_after()?;
        guest!(self.on_log(ctx, id32(ctx)))?;
        self.apply_after()?;
        guest!(self.on_delete(ctx, id32(ctx)))?;
        self.apply_after()?;
        let st = self.store.data_mut();
        let Some(s) = st.streams.remove(&ctx) else {
            return Ok(());
        };
        let logs = st.logs_since(s.log_seq);
        if let Some(Flow::Tcp(mut f)) = self.flows.remove(&ctx) {
            f.out.filter_state = s.fs_writes;
            f.out.logs = logs;
            self.finished.insert(ctx, Finished::Tcp(f.out));
        }
        Ok(())
    }

    // ---- timers, lifecycle ----------------------------------------------------------

    /// The tick period the root context asked for (`None` if 0).
    pub fn tick_period(&self) -> Option<Duration> {
        match self.store.data().tick_period_ms {
            0 => None,
            ms => Some(crate::state::millis(ms)),
        }
    }

    /// Fires `proxy_on_tick` on the root context if a tick period is set;
    /// returns whether it did.
    pub fn tick(&mut self) -> Result<bool, HostError> {
        if self.store.data().tick_period_ms == 0 {
            return Ok(false);
        }
        guest!(self.on_tick(ROOT_CONTEXT, id32(ROOT_CONTEXT)))?;
        self.apply_after()?;
        self.settle()?;
        Ok(true)
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

    // ---- observation --------------------------------------------------------------------

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
