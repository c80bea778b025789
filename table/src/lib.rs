//! The egress rule table: its binary format and the decision made with it.
//!
//! This crate is the one home of both. The compiler (`egressc`) lowers a
//! policy into a [`spec::TableSpec`] and writes it with [`format::encode`];
//! the proxy-wasm filter reads it with [`format::decode`] (through
//! [`plugin_config::decode`]) and calls [`Table::decide`] on every request.
//! Because both sides use the same code, a table means the same thing to
//! every tool: the offline simulator, `egressc explain`, and the filter in
//! Envoy.
//!
//! - [`spec`]: the table as plain data.
//! - [`format`](mod@format): the versioned, checksummed binary encoding, byte by byte.
//! - [`request`]: normalising what the proxy provides (authority, port,
//!   path, method, principal, SNI) without allocating.
//! - [`host`]: what a valid host name or address is; [`names`]: what a
//!   valid policy name, rule id, header name and principal is; [`path`]:
//!   canonical paths and the match form in which paths are compared.
//! - [`decide`]: the decision function and its semantics.
//! - [`plugin_config`]: the JSON envelope WasmPlugin `pluginConfig` carries.
//! - [`proxy`]: from what the proxy hands the filter to a decision, the one
//!   path the filter and the tools share; [`record`]: a verdict as data.
//!
//! No dependency on proxy-wasm; builds for `wasm32-wasip1` and
//! `wasm32-unknown-unknown`. The `build` feature adds the regex-to-DFA
//! compiler, which only the compiler needs.

mod assemble;
pub mod base64;
pub mod crc;
pub mod decide;
pub mod dfa;
mod dump;
pub mod format;
mod hash;
pub mod host;
pub mod json;
pub mod names;
pub mod path;
pub mod plugin_config;
pub mod proxy;
pub mod record;
pub mod request;
mod rule_index;
pub mod spec;
mod table;
mod template;

pub use decide::{
    Cause, Decision, Headers, Kind, Limited, Miss, NoHeaders, Request, Sni, Tracer, Verdict,
};
pub use table::{RULE_ID_MAX_LEN, RuleId, Table};
