//! Shared helpers for the host's integration tests: where the probe filter
//! is, how to load it, and how to read its records.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;

use egress_host::{HostConfig, HttpRequest, LogLine, Plugin, Vm};

/// The two targets the probe is built for.
pub const TARGETS: [&str; 2] = ["wasm32-wasip1", "wasm32-unknown-unknown"];

/// `target/<target>/release/probe_filter.wasm` in this workspace.
pub fn probe_path(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join(target)
        .join("release")
        .join("probe_filter.wasm")
}

/// The probe's bytes; fails the test with the build command when missing.
pub fn probe_wasm(target: &str) -> Vec<u8> {
    let p = probe_path(target);
    match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) => panic!(
            "the probe filter is missing ({}: {e}). Build it first: `make wasm` \
             (or `cargo build --release --target {target} -p probe-filter`)",
            p.display()
        ),
    }
}

/// The probe as a plugin with `cfg`.
pub fn probe(target: &str, cfg: HostConfig) -> Plugin {
    Plugin::from_bytes(&probe_wasm(target), cfg).unwrap()
}

/// A started and configured probe VM (`config`: the probe's flags).
pub fn probe_vm(target: &str, config: &str) -> Vm {
    let mut vm = probe(target, HostConfig::default()).vm().unwrap();
    vm.add_cluster("probe-cluster");
    assert!(vm.start(b"").unwrap());
    assert!(vm.configure(config.as_bytes()).unwrap());
    vm
}

/// One probe record: `P <ctx> <phase> <call> <status> <hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub ctx: u32,
    pub phase: String,
    pub name: String,
    pub status: u32,
    pub data: Vec<u8>,
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Parses the probe's records out of log lines.
pub fn records(logs: &[LogLine]) -> Vec<Rec> {
    logs.iter()
        .filter_map(|l| {
            let mut it = l.message.split(' ');
            if it.next()? != "P" {
                return None;
            }
            Some(Rec {
                ctx: it.next()?.parse().ok()?,
                phase: it.next()?.to_owned(),
                name: it.next()?.to_owned(),
                status: it.next()?.parse().ok()?,
                data: unhex(it.next()?),
            })
        })
        .collect()
}

/// Finds records by phase and call name.
pub struct Recs(pub Vec<Rec>);

impl Recs {
    pub fn of(logs: &[LogLine]) -> Self {
        Self(records(logs))
    }

    /// The record `phase`/`name` (the last one if there are several).
    pub fn get(&self, phase: &str, name: &str) -> &Rec {
        self.0
            .iter()
            .rev()
            .find(|r| r.phase == phase && r.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no record {phase}/{name}; records: {:?}",
                    self.0
                        .iter()
                        .map(|r| format!("{}/{}", r.phase, r.name))
                        .collect::<Vec<_>>()
                )
            })
    }

    /// Status of `phase`/`name`.
    pub fn status(&self, phase: &str, name: &str) -> u32 {
        self.get(phase, name).status
    }

    /// Data of `phase`/`name` as text.
    pub fn text(&self, phase: &str, name: &str) -> String {
        String::from_utf8_lossy(&self.get(phase, name).data).into_owned()
    }

    /// The phases in the order they were recorded (consecutive repeats collapsed).
    pub fn phases(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for r in &self.0 {
            if v.last() != Some(&r.phase) {
                v.push(r.phase.clone());
            }
        }
        v
    }
}

/// Status codes.
pub const OK: u32 = 0;
pub const NOT_FOUND: u32 = 1;
pub const BAD_ARGUMENT: u32 = 2;
pub const SERIALIZATION_FAILURE: u32 = 3;
pub const PARSE_FAILURE: u32 = 4;
pub const INVALID_MEMORY_ACCESS: u32 = 6;
pub const EMPTY: u32 = 7;
pub const CAS_MISMATCH: u32 = 8;
pub const UNIMPLEMENTED: u32 = 12;

/// A request to `a.example/x` whose `x-probe-action` header tells the probe
/// what to do.
pub fn act_as(method: &str, action: &str) -> HttpRequest {
    HttpRequest::new(method, "a.example", "/x").header("x-probe-action", action)
}

/// [`act_as`] with GET.
pub fn act(action: &str) -> HttpRequest {
    act_as("GET", action)
}

/// Header or metadata pairs as the host takes them.
pub fn pairs(v: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    v.iter()
        .map(|(k, val)| (k.as_bytes().to_vec(), val.as_bytes().to_vec()))
        .collect()
}

/// The value of header `name` in `h`, as text.
pub fn header<'a>(h: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| std::str::from_utf8(v).unwrap())
}

/// The callbacks of context `ctx` in order (the probe logs "args" or
/// "called" for each).
pub fn callbacks(r: &Recs, ctx: u32) -> Vec<String> {
    r.0.iter()
        .filter(|x| x.ctx == ctx && (x.name == "args" || x.name == "called" || x.name == "peer"))
        .map(|x| x.phase.clone())
        .collect()
}
