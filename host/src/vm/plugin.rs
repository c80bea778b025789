//! [`Plugin`]: a module compiled and linked once, with the services its
//! VMs share; [`HostConfig`]: how the host runs guests.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use egress_abi::Status;
use wasmtime::{Engine, InstancePre, Linker, Module, Store, StoreLimitsBuilder};

use super::Vm;
use super::guest::{Budget, Exports, typed};
use super::http::Spare;
use crate::engine;
use crate::error::HostError;
use crate::imports;
use crate::properties::Properties;
use crate::shared::Services;
use crate::state::{HostState, IdMap, PluginInfo};
use crate::types::UpstreamResponse;
use egress_hcm::Settings;

/// How the host runs guests. `Default` is what Istio ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The connection manager's settings ([`egress_hcm::prepare`]): path
    /// normalization (Istio default: BASE), custom methods (default off:
    /// 400 `http1.codec_error`), the head limit in KiB (default 60, Envoy
    /// accepts 1 to 8192) and the header limit (default 100): past either,
    /// 431.
    pub hcm: Settings,
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
            hcm: Settings::default(),
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
    pub(super) cfg: HostConfig,
    pub(super) services: Arc<Services>,
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
        cfg.hcm
            .check()
            .map_err(|e| HostError::Usage(format!("HostConfig: {e}")))?;
        let fuel = cfg.fuel.is_some();
        let engine: Engine = engine::engine(fuel)?;
        let module = engine::compile(&engine, fuel, wasm)?;
        let abi = abi_version(&module)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        imports::link(&mut linker).map_err(|e| {
            HostError::Instantiate(format!("could not define the host functions: {e}"))
        })?;
        imports::wasi::link(&mut linker).map_err(|e| {
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
            flows: IdMap::default(),
            finished: IdMap::default(),
            dirty: Vec::new(),
            upstream: UpstreamResponse::default(),
            next_reject: u32::MAX,
            delete_root: false,
            spare: Spare::default(),
            timing: None,
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
