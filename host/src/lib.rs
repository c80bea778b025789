//! # egress-host: run a proxy-wasm filter offline, as Envoy would
//!
//! Loads a proxy-wasm filter (`.wasm`, ABI 0.2.1, as the Rust SDK builds it
//! for `wasm32-wasip1` or `wasm32-unknown-unknown`) into [wasmtime] and
//! drives it through Envoy's callbacks with Envoy's status codes, so that
//! the real module can be tested and benchmarked without Envoy. [`Plugin`]
//! is one WasmPlugin (the compiled module and the shared data and queues
//! its VMs share); [`Vm`] is one Envoy worker's instance of it.
//!
//! ```no_run
//! use egress_host::{HostConfig, HttpRequest, Plugin};
//! # fn main() -> Result<(), egress_host::HostError> {
//! let plugin = Plugin::from_file("target/wasm32-wasip1/release/egress_filter.wasm".as_ref(), HostConfig::default())?;
//! let mut vm = plugin.vm()?;
//! assert!(vm.start(b"")?);
//! assert!(vm.configure(br#"{"layer":"http"}"#)?);
//! let out = vm.http(&HttpRequest::new("GET", "httpbin.org", "/get").principal("spiffe://cluster.local/ns/a/sa/b"))?;
//! println!("{} {:?}", out.status, out.local_response);
//! # Ok(()) }
//! ```
//!
//! What Envoy behaviour the host reproduces, where it deliberately differs,
//! how it is laid out and how it is tested: `host/README.md`. In short:
//! [`vm`] drives the guest through Envoy's callbacks; `imports` are the
//! functions the guest calls, one module per ABI area; `state` and
//! `attributes` hold what those functions reach and when. The ABI's
//! numbers and the pairs codec are the `egress-abi` crate, shared with the
//! filter and the probe.

mod attributes;
mod engine;
mod error;
mod header_map;
mod http;
mod imports;
mod memory;
pub mod pairs;
pub mod properties;
mod shared;
mod state;
mod types;
pub mod vm;

pub use egress_abi::{Action, LogLevel, MetricKind, PeerType, Status};
pub use egress_hcm::normalize;
pub use egress_hcm::{
    ClientRequest, DEFAULT_MAX_HEADERS_COUNT, DEFAULT_MAX_REQUEST_HEADERS_KB, KNOWN_METHODS,
    MAX_REQUEST_HEADERS_KB_LIMIT, PathNormalization, Settings as HcmSettings, UnknownNormalization,
    normalize_path,
};
pub use error::HostError;
pub use properties::{Properties, Value};
pub use types::{
    Connection, ConnectionOutcome, GrpcCall, Headers, HttpCall, HttpCallResponse, HttpOutcome,
    HttpRequest, LocalResponse, LogLine, Metric, StreamId, UpstreamResponse,
};
pub use vm::{Decision, HostConfig, Plugin, Vm};
