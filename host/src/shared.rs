//! Services shared by all VMs of one plugin (one per Envoy worker):
//! shared data with compare-and-swap, shared queues, and the metric store.
//!
//! Semantics follow proxy-wasm-cpp-host `src/shared_data.cc`,
//! `src/shared_queue.cc` and Envoy `context.cc` (`defineMetric`,
//! `incrementMetric`, `recordMetric`, `getMetric`); the code is ours.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use egress_abi::{AbiResult, MetricKind, Status};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared data: key → (value, cas). A CAS of 0 is never issued; a set with
/// cas 0 always succeeds, a set with another cas must match
/// (`SharedData::set`).
#[derive(Debug, Default)]
pub(crate) struct SharedData {
    inner: Mutex<DataInner>,
}

#[derive(Debug)]
struct DataInner {
    map: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    next_cas: u32,
}

impl Default for DataInner {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            next_cas: 1,
        }
    }
}

impl DataInner {
    fn cas(&mut self) -> u32 {
        let c = self.next_cas;
        self.next_cas = self.next_cas.wrapping_add(1);
        if self.next_cas == 0 {
            self.next_cas = 1;
        }
        c
    }
}

impl SharedData {
    pub(crate) fn get(&self, key: &[u8]) -> AbiResult<(Vec<u8>, u32)> {
        lock(&self.inner)
            .map
            .get(key)
            .cloned()
            .ok_or(Status::NOT_FOUND)
    }

    pub(crate) fn set(&self, key: &[u8], value: &[u8], cas: u32) -> AbiResult {
        let mut g = lock(&self.inner);
        let current = g.map.get(key).map(|(_, c)| *c);
        if let Some(c) = current
            && cas != 0
            && cas != c
        {
            return Err(Status::CAS_MISMATCH);
        }
        let new = g.cas();
        g.map.insert(key.to_vec(), (value.to_vec(), new));
        Ok(())
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        lock(&self.inner)
            .map
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

/// Where a queue's readiness is delivered: the inbox of the VM whose context
/// registered it last.
pub(crate) type Inbox = Arc<Mutex<Vec<(u32, u32)>>>;

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Vec<u8>>,
    owner: Option<(Inbox, u32)>,
}

/// Shared queues keyed by (vm_id, name) with tokens that are never 0.
#[derive(Debug, Default)]
pub(crate) struct SharedQueues {
    inner: Mutex<QueuesInner>,
}

#[derive(Debug, Default)]
struct QueuesInner {
    tokens: HashMap<(Vec<u8>, Vec<u8>), u32>,
    queues: HashMap<u32, Queue>,
    next: u32,
}

impl SharedQueues {
    /// Registers (or re-registers, keeping its data) a queue; readiness now
    /// goes to `context` (a root context) through `inbox`.
    pub(crate) fn register(&self, vm_id: &[u8], name: &[u8], inbox: Inbox, context: u32) -> u32 {
        let mut g = lock(&self.inner);
        let key = (vm_id.to_vec(), name.to_vec());
        let token = match g.tokens.get(&key) {
            Some(t) => *t,
            None => {
                let t = loop {
                    g.next = g.next.wrapping_add(1);
                    if g.next != 0 && !g.queues.contains_key(&g.next) {
                        break g.next;
                    }
                };
                g.tokens.insert(key, t);
                t
            }
        };
        g.queues.entry(token).or_default().owner = Some((inbox, context));
        token
    }

    pub(crate) fn resolve(&self, vm_id: &[u8], name: &[u8]) -> AbiResult<u32> {
        lock(&self.inner)
            .tokens
            .get(&(vm_id.to_vec(), name.to_vec()))
            .copied()
            .ok_or(Status::NOT_FOUND)
    }

    pub(crate) fn enqueue(&self, token: u32, data: &[u8]) -> AbiResult {
        let owner = {
            let mut g = lock(&self.inner);
            let q = g.queues.get_mut(&token).ok_or(Status::NOT_FOUND)?;
            q.items.push_back(data.to_vec());
            q.owner.clone()
        };
        if let Some((inbox, ctx)) = owner {
            lock(&inbox).push((ctx, token));
        }
        Ok(())
    }

    pub(crate) fn dequeue(&self, token: u32) -> AbiResult<Vec<u8>> {
        let mut g = lock(&self.inner);
        let q = g.queues.get_mut(&token).ok_or(Status::NOT_FOUND)?;
        q.items.pop_front().ok_or(Status::EMPTY)
    }
}

/// One metric. Two definitions of one name (and kind) share it, as Envoy's
/// stats scope does.
#[derive(Debug)]
pub(crate) struct Stat {
    pub(crate) name: String,
    pub(crate) kind: MetricKind,
    pub(crate) value: AtomicU64,
    pub(crate) samples: Mutex<Vec<u64>>,
}

impl Stat {
    pub(crate) fn add(&self, by: u64) {
        self.value.fetch_add(by, Ordering::Relaxed);
    }
    pub(crate) fn sub(&self, by: u64) {
        self.value.fetch_sub(by, Ordering::Relaxed);
    }
    pub(crate) fn set(&self, v: u64) {
        self.value.store(v, Ordering::Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
    pub(crate) fn record(&self, v: u64) {
        lock(&self.samples).push(v);
        self.value.fetch_add(1, Ordering::Relaxed);
    }
}

/// A VM's metric store: (name, kind) → stat.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    stats: Mutex<BTreeMap<(String, MetricKind), Arc<Stat>>>,
}

impl Metrics {
    pub(crate) fn stat(&self, kind: MetricKind, name: &str) -> Arc<Stat> {
        lock(&self.stats)
            .entry((name.to_owned(), kind))
            .or_insert_with(|| {
                Arc::new(Stat {
                    name: name.to_owned(),
                    kind,
                    value: AtomicU64::new(0),
                    samples: Mutex::new(Vec::new()),
                })
            })
            .clone()
    }

    pub(crate) fn find(&self, name: &str) -> Option<Arc<Stat>> {
        let g = lock(&self.stats);
        [
            MetricKind::Counter,
            MetricKind::Gauge,
            MetricKind::Histogram,
        ]
        .into_iter()
        .find_map(|k| g.get(&(name.to_owned(), k)).cloned())
    }

    pub(crate) fn all(&self) -> Vec<Arc<Stat>> {
        lock(&self.stats).values().cloned().collect()
    }
}

/// Everything the VMs of one plugin share.
#[derive(Debug, Default)]
pub(crate) struct Services {
    pub(crate) data: SharedData,
    pub(crate) queues: SharedQueues,
}

/// The per-VM metric id table. Ids are issued as Envoy's `Wasm` issues them:
/// the low two bits are the kind, each new definition (even of a name seen
/// before) gets the next id of its kind: counters 4, 8, …; gauges 5, 9, …;
/// histograms 6, 10, … (`kMetricTypeMask = 0x3`, `kMetricIdIncrement = 0x4`).
#[derive(Debug, Default)]
pub(crate) struct MetricIds {
    by_kind: [Vec<Arc<Stat>>; 3],
}

impl MetricIds {
    pub(crate) fn define(&mut self, metrics: &Metrics, kind: MetricKind, name: &str) -> u32 {
        let stat = metrics.stat(kind, name);
        let list = self.list_mut(kind);
        list.push(stat);
        let n = u32::try_from(list.len()).unwrap_or(u32::MAX);
        (n << 2) | kind.raw()
    }

    fn list_mut(&mut self, kind: MetricKind) -> &mut Vec<Arc<Stat>> {
        let [c, g, h] = &mut self.by_kind;
        match kind {
            MetricKind::Counter => c,
            MetricKind::Gauge => g,
            MetricKind::Histogram => h,
        }
    }

    /// The kind encoded in an id (`None` for the unused value 3).
    pub(crate) fn kind_of(id: u32) -> Option<MetricKind> {
        MetricKind::from_raw(id & 3)
    }

    pub(crate) fn get(&self, id: u32) -> Option<&Arc<Stat>> {
        let kind = Self::kind_of(id)?;
        let idx = usize::try_from(id >> 2).ok()?.checked_sub(1)?;
        let [c, g, h] = &self.by_kind;
        match kind {
            MetricKind::Counter => c,
            MetricKind::Gauge => g,
            MetricKind::Histogram => h,
        }
        .get(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas() {
        let d = SharedData::default();
        assert_eq!(d.get(b"k"), Err(Status::NOT_FOUND));
        d.set(b"k", b"v1", 0).unwrap();
        let (v, c) = d.get(b"k").unwrap();
        assert_eq!(v, b"v1");
        assert_eq!(d.set(b"k", b"v2", c + 1), Err(Status::CAS_MISMATCH));
        d.set(b"k", b"v2", c).unwrap();
        assert_eq!(d.set(b"k", b"v3", c), Err(Status::CAS_MISMATCH));
        // A new key with a non-zero cas is simply created.
        d.set(b"new", b"x", 99).unwrap();
    }

    #[test]
    fn queues() {
        let q = SharedQueues::default();
        let inbox: Inbox = Arc::default();
        let t = q.register(b"vm", b"q", inbox.clone(), 1);
        assert_ne!(t, 0);
        assert_eq!(q.register(b"vm", b"q", inbox.clone(), 1), t);
        assert_eq!(q.resolve(b"vm", b"q"), Ok(t));
        assert_eq!(q.resolve(b"other", b"q"), Err(Status::NOT_FOUND));
        assert_eq!(q.dequeue(t), Err(Status::EMPTY));
        q.enqueue(t, b"a").unwrap();
        assert_eq!(inbox.lock().unwrap().as_slice(), &[(1, t)]);
        assert_eq!(q.dequeue(t), Ok(b"a".to_vec()));
        assert_eq!(q.enqueue(t + 1, b"x"), Err(Status::NOT_FOUND));
    }

    #[test]
    fn metric_ids() {
        let s = Metrics::default();
        let mut ids = MetricIds::default();
        assert_eq!(ids.define(&s, MetricKind::Counter, "a"), 4);
        assert_eq!(ids.define(&s, MetricKind::Counter, "a"), 8);
        assert_eq!(ids.define(&s, MetricKind::Gauge, "g"), 5);
        assert_eq!(ids.define(&s, MetricKind::Histogram, "h"), 6);
        ids.get(4).unwrap().add(2);
        assert_eq!(ids.get(8).unwrap().get(), 2);
        assert!(ids.get(12).is_none());
        assert!(ids.get(3).is_none());
    }
}
