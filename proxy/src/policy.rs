//! The running policy and its reloads. A table is published only after it
//! compiled and the filter accepted it for both layers on fresh VMs; until
//! then the running table stays, and the log says why. Workers notice a new
//! generation on their next request and rebuild their VMs from it (as
//! Envoy's workers pick up a new plugin configuration).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use egress_host::Plugin;
use egress_table::plugin_config::{self, Layer};

use crate::config::PolicySource;
use crate::log::Log;

/// One accepted table, as the two filters' plugin configurations.
#[derive(Debug)]
pub(crate) struct Generation {
    /// Counts from 1; a worker whose VMs are of an older one rebuilds them.
    pub(crate) id: u64,
    /// The HTTP filter's `pluginConfig`.
    pub(crate) http: String,
    /// The network filter's `pluginConfig`.
    pub(crate) network: String,
    /// What the filter said when it loaded the table.
    pub(crate) summary: String,
}

/// The current generation, shared by all workers.
#[derive(Debug)]
pub(crate) struct Current {
    latest: AtomicU64,
    generation: RwLock<Arc<Generation>>,
}

impl Current {
    pub(crate) fn new(first: Generation) -> Self {
        Self {
            latest: AtomicU64::new(first.id),
            generation: RwLock::new(Arc::new(first)),
        }
    }

    /// The id of the newest generation (one atomic load: workers call this
    /// on every request).
    pub(crate) fn latest(&self) -> u64 {
        self.latest.load(Ordering::Acquire)
    }

    pub(crate) fn get(&self) -> Arc<Generation> {
        self.generation
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn publish(&self, g: Generation) {
        let id = g.id;
        *self
            .generation
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(g);
        self.latest.store(id, Ordering::Release);
    }
}

/// Configures a fresh VM of `plugin` with `config`; returns the filter's
/// log lines, or why it refused.
fn try_configure(plugin: &Plugin, config: &str, layer: Layer) -> Result<Vec<String>, String> {
    let mut vm = plugin
        .vm()
        .map_err(|e| format!("cannot instantiate the filter: {e}"))?;
    let started = vm
        .start(b"")
        .map_err(|e| format!("the filter failed to start: {e}"))?;
    if !started {
        return Err("the filter's on_vm_start returned false".into());
    }
    let ok = vm
        .configure(config.as_bytes())
        .map_err(|e| format!("the filter failed while loading the table: {e}"))?;
    let lines: Vec<String> = vm.drain_logs().into_iter().map(|l| l.message).collect();
    if ok {
        Ok(lines)
    } else {
        Err(format!(
            "the filter refused the table for the {} layer: {}",
            layer.as_str(),
            lines.join("; ")
        ))
    }
}

/// Loads the policy and checks that the filter accepts it for both layers.
pub(crate) fn prepare(
    source: &PolicySource,
    options: &plugin_config::Options,
    plugin: &Plugin,
    id: u64,
) -> Result<Generation, String> {
    let table = (source.load)()?;
    let http = plugin_config::encode_with(&table, Layer::Http, options);
    let network = plugin_config::encode_with(&table, Layer::Network, options);
    let lines = try_configure(plugin, &http, Layer::Http)?;
    try_configure(plugin, &network, Layer::Network)?;
    let summary = lines
        .iter()
        .find(|l| l.contains("loaded table"))
        .or(lines.last())
        .cloned()
        .unwrap_or_else(|| "table loaded".into());
    Ok(Generation {
        id,
        http,
        network,
        summary,
    })
}

/// Size and modification time of each watched file, and of each entry of
/// a watched directory: a change in any is a change of the policy.
pub(crate) fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, Option<(u64, SystemTime)>)> {
    let stamp = |p: &PathBuf| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
    };
    let mut out = Vec::new();
    for p in paths {
        out.push((p.clone(), stamp(p)));
        if let Ok(entries) = std::fs::read_dir(p) {
            let mut inner: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            inner.sort();
            for e in inner {
                let s = stamp(&e);
                out.push((e, s));
            }
        }
    }
    out
}

/// Polls the policy files every `interval` and publishes each change that
/// compiles and that the filter accepts. Runs until `stop` fires.
pub(crate) async fn watch(
    source: PolicySource,
    options: plugin_config::Options,
    plugin: Plugin,
    current: Arc<Current>,
    log: Log,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let paths = source.watch.clone();
    let mut seen = {
        let p = paths.clone();
        tokio::task::spawn_blocking(move || fingerprint(&p))
            .await
            .unwrap_or_default()
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        let p = paths.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&p)).await else {
            continue;
        };
        if now == seen {
            continue;
        }
        seen = now;
        let next = current.latest() + 1;
        let (s, o, pl) = (source.clone(), options.clone(), plugin.clone());
        let prepared = tokio::task::spawn_blocking(move || prepare(&s, &o, &pl, next)).await;
        let running = current.get();
        match prepared {
            Ok(Ok(g)) => {
                log.info(&format!(
                    "policy changed on disk: reloaded (generation {}): {}",
                    g.id, g.summary
                ));
                current.publish(g);
            }
            Ok(Err(why)) => log.error(&format!(
                "policy changed on disk but was not applied, the running table stays (generation {}: {}). Why:\n{}",
                running.id,
                running.summary,
                why.trim_end()
            )),
            Err(e) => log.error(&format!(
                "policy reload failed internally ({e}); the running table stays (generation {})",
                running.id
            )),
        }
    }
}
