//! # egress-proxy: real traffic through the real filter
//!
//! A local HTTP/1.1 forward proxy (hyper on tokio) that decides every
//! request and tunnel with the egress filter's `.wasm`, run by the local
//! proxy-wasm host (`egress-host`) exactly as Envoy runs it. Point
//! `http_proxy`/`https_proxy` at it and curl, pip, git or apt are allowed
//! or denied as in the mesh, with the same audit lines. `egressc proxy` is
//! its command line; `docs/proxy.md` is the user's guide.
//!
//! ```no_run
//! # fn main() -> Result<(), String> {
//! use std::sync::Arc;
//! use egress_proxy::{Config, PolicySource};
//! let wasm = std::fs::read("egress_filter.wasm").map_err(|e| e.to_string())?;
//! let table = std::fs::read("policy.table").map_err(|e| e.to_string())?;
//! let policy = PolicySource { watch: vec![], load: Arc::new(move || Ok(table.clone())) };
//! let running = egress_proxy::start(Config::new(wasm, policy))?;
//! println!("listening on {}", running.local_addr());
//! running.run_until_signal()?;
//! # Ok(()) }
//! ```
//!
//! ## Design
//!
//! - **Threads.** A multi-threaded tokio runtime with `workers` threads.
//!   Each worker thread owns one HTTP-filter VM and one network-filter VM
//!   ([`worker`]), built on its first request, as Envoy gives each worker
//!   its own VM. A decision is synchronous on the worker (microseconds, no
//!   I/O); everything else (client and upstream I/O, bodies, tunnels) is
//!   asynchronous, so a slow peer holds a connection, never a thread.
//! - **HTTP** ([`forward`]): the filter sees what Envoy's connection
//!   manager would hand it; an allowed request goes upstream with the
//!   headers and normalised path the filter saw, through a pooled client.
//! - **CONNECT** ([`tunnel`]): the network filter decides on the target
//!   (as SNI) and its address; the tunnel then peeks the ClientHello
//!   ([`sni`]) without terminating TLS, refuses a server name that is not
//!   the target, and splices.
//! - **Reload** ([`policy`]): the policy files are polled; a change is
//!   published only if it compiles and the filter accepts it.
//! - **Faults**: refused, reset or silent upstreams get 502/504 with
//!   `Proxy-Status` and a log line ([`upstream`], [`body`]); header size,
//!   count and time limits bound what a client can make the proxy hold.
//!
//! The library does no policy compilation itself (the compiler depends on
//! this crate for `egressc proxy`, not the reverse): [`PolicySource`] is a
//! callback that returns the table.

mod body;
mod config;
mod forward;
mod log;
mod policy;
mod server;
pub mod sni;
mod tunnel;
mod upstream;
mod worker;

pub use config::{Config, Limits, LoadPolicy, PolicySource, Timeouts};
pub use log::Sink;
pub use server::{Running, start};
