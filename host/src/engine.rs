//! Compilation: process-wide wasmtime engines (one with fuel metering,
//! one without), an epoch ticker thread per engine for wall-clock budgets,
//! and a cache of compiled modules so that many plugins from the same
//! `.wasm` compile it once.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use wasmtime::{Config, Engine, Module, OptLevel};

use crate::error::HostError;

/// How often the epoch advances.
pub(crate) const TICK: Duration = Duration::from_millis(5);

static PLAIN: OnceLock<Result<Engine, String>> = OnceLock::new();
static FUELED: OnceLock<Result<Engine, String>> = OnceLock::new();

fn build(fuel: bool) -> Result<Engine, String> {
    let mut cfg = Config::new();
    cfg.epoch_interruption(true);
    cfg.consume_fuel(fuel);
    cfg.cranelift_opt_level(OptLevel::Speed);
    let engine = Engine::new(&cfg).map_err(|e| e.to_string())?;
    let ticker = engine.clone();
    std::thread::Builder::new()
        .name("egress-host-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                ticker.increment_epoch();
            }
        })
        .map_err(|e| format!("could not start the epoch thread: {e}"))?;
    Ok(engine)
}

/// The shared engine (with or without fuel metering).
pub(crate) fn engine(fuel: bool) -> Result<Engine, HostError> {
    let cell = if fuel { &FUELED } else { &PLAIN };
    cell.get_or_init(|| build(fuel))
        .clone()
        .map_err(HostError::Compile)
}

type Key = (bool, u64, usize);
type Cache = Mutex<HashMap<Key, Vec<(Arc<[u8]>, Module)>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// Compiles `wasm` (or returns the module compiled earlier from the same bytes).
pub(crate) fn compile(engine: &Engine, fuel: bool, wasm: &[u8]) -> Result<Module, HostError> {
    let mut h = DefaultHasher::new();
    wasm.hash(&mut h);
    let key = (fuel, h.finish(), wasm.len());
    {
        let c = cache().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = c
            .get(&key)
            .and_then(|v| v.iter().find(|(b, _)| &**b == wasm))
        {
            return Ok(m.1.clone());
        }
    }
    let module = Module::new(engine, wasm).map_err(|e| HostError::Compile(format!("{e:#}")))?;
    cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_default()
        .push((Arc::from(wasm), module.clone()));
    Ok(module)
}
