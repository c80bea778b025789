//! The egress policy filter: a proxy-wasm (ABI 0.2.1) module for Envoy.
//!
//! One module serves two roles, chosen by the plugin configuration's `layer`
//! (see `egress_table::plugin_config`):
//!
//! - **http** (WasmPlugin `type: HTTP`): decides each request in
//!   `on_http_request_headers` on host, port, method, path, source principal
//!   and headers; a denial is answered with 403 `RBAC: access denied`.
//! - **network** (WasmPlugin `type: NETWORK`): decides each connection in
//!   `on_new_connection` on TLS SNI, or on destination address and port; a
//!   denial closes the connection before any byte goes upstream.
//!
//! The table is decoded and validated once per VM in `on_configure`; a bad
//! configuration is logged and refused (`on_configure` returns false, so
//! Envoy keeps the previous configuration or fails closed). The decision
//! itself lives in `egress_table`; this crate only translates host calls.
//! Nothing here panics on input from the proxy or the configuration, and a
//! panic hook logs through the proxy should anything else go wrong.

mod abi;
pub mod audit;
mod http;
mod metrics;
mod network;
pub mod pairs;

use std::rc::Rc;

use core::net::IpAddr;

use egress_table::Table;
use egress_table::plugin_config::{self, Layer};
use egress_table::proxy::{self, Properties};
use egress_table::record;
use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::ContextType;

/// The filter's version, logged at VM start.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

proxy_wasm::main! {{
    std::panic::set_hook(Box::new(|info| {
        abi::log(abi::LOG_CRITICAL, format!("egress filter panic: {info}").as_bytes());
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// What one plugin instance decides with.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) table: Table,
    /// The configuration's settings for the proxy (`max_path_bytes`,
    /// `max_header_bytes`, `authority_header`).
    pub(crate) options: plugin_config::Options,
    pub(crate) metrics: metrics::Metrics,
}

#[derive(Debug, Default)]
struct Root {
    loaded: Option<Rc<Loaded>>,
    /// The layer named by the configuration, known even when the
    /// configuration is refused: the context type the SDK creates must fit
    /// the filter Envoy runs this plugin as, or its dispatcher panics (a
    /// stream context's `on_new_connection` on an HTTP context), and a
    /// refused plugin must still deny through its own context.
    layer: Option<Layer>,
}

impl Context for Root {}

fn refuse(why: &str) -> bool {
    abi::log(
        abi::LOG_ERROR,
        format!("egress: refusing the plugin configuration: {why}").as_bytes(),
    );
    false
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        let msg = format!(
            "egress filter {VERSION} starting (proxy-wasm ABI 0.2.1, table format {}.{})",
            egress_table::format::VERSION_MAJOR,
            egress_table::format::VERSION_MINOR
        );
        abi::log(abi::LOG_INFO, msg.as_bytes());
        true
    }

    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = match abi::plugin_configuration(plugin_configuration_size) {
            Ok(b) => b,
            Err(s) => {
                return refuse(&format!(
                    "the proxy did not hand over the plugin configuration (status {})",
                    s.0
                ));
            }
        };
        // The configuration is decoded where the host put it: the base64
        // table in place, then its string pool is that same buffer, so one
        // copy of the table is in memory at a time.
        let json = bytes.map_or_else(Vec::new, abi::HostBytes::into_vec);
        self.loaded = None;
        let cfg = match plugin_config::decode_owned(json) {
            Ok(c) => c,
            Err(r) => {
                self.layer = r.layer;
                return refuse(&r.error.0);
            }
        };
        self.layer = Some(cfg.layer);
        let table = match Table::from_vec(cfg.table) {
            Ok(t) => t,
            Err(e) => return refuse(&e.to_string()),
        };
        let names: Vec<&str> = table.policy_names().collect();
        // The settings for the proxy, after the table's summary (HTTP only).
        let options = match cfg.options.authority_header.as_deref() {
            _ if cfg.layer == Layer::Network => String::new(),
            h => format!(
                "; paths up to {} bytes; header values read up to {} bytes{}",
                cfg.options.max_path_bytes,
                cfg.options.max_header_bytes,
                h.map(|h| format!("; destination from header \"{h}\""))
                    .unwrap_or_default()
            ),
        };
        let msg = format!(
            "egress: loaded table (format {}.{}, checksum crc32c:{:08x}) for the {} layer: {} polic{} [{}], {} rules, {} host patterns{options}",
            table.version().0,
            table.version().1,
            table.checksum(),
            cfg.layer.as_str(),
            names.len(),
            if names.len() == 1 { "y" } else { "ies" },
            names.join(", "),
            table.rule_count(),
            table.host_count(),
        );
        abi::log(abi::LOG_INFO, msg.as_bytes());
        let metrics = metrics::Metrics::define(&table);
        self.loaded = Some(Rc::new(Loaded {
            table,
            options: cfg.options,
            metrics,
        }));
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(match self.layer {
            Some(Layer::Network) => ContextType::StreamContext,
            _ => ContextType::HttpContext,
        })
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(http::HttpFilter::new(self.loaded.clone())))
    }

    fn create_stream_context(&self, _context_id: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(network::NetworkFilter::new(self.loaded.clone())))
    }
}

/// Writes the audit line (if the decision asks for one), counts the decision
/// and records it in filter state for access logs.
/// The log line wants the source principal even when no rule needed it:
/// it is fetched here, only for decisions that are logged.
pub(crate) fn report(loaded: &Loaded, d: &egress_table::Decision, fields: &audit::Fields<'_>) {
    let late;
    let mut fields = *fields;
    if d.log && fields.principal.is_none() {
        // What the decision fetched, else a fetch now (the same value).
        if let Some(fetched) = fields.fetched_principal {
            fields.principal = fetched;
        } else {
            late = Attributes.peer_principal();
            fields.principal = late
                .as_ref()
                .map(|b| egress_table::request::normalize_principal(b.as_ref()));
        }
    }
    let fields = &fields;
    loaded.metrics.record(&loaded.table, d);
    // Filter state for access logs: `%FILTER_STATE(wasm.egress_decision:PLAIN)%`
    // prints `v1 <allow|deny> <policy|-> <rule|-> <reason>` (see `egress_table::record`).
    RECORD_BUF.with(|buf| {
        if let Ok(mut buf) = buf.try_borrow_mut() {
            record::write(&mut buf, &loaded.table, &d.enforced);
            let _ = abi::set_property(b"egress_decision", &buf);
            if let Some(a) = &d.audit {
                record::write(&mut buf, &loaded.table, a);
                let _ = abi::set_property(b"egress_audit", &buf);
            }
        }
    });
    if d.log {
        LOG_BUF.with(|buf| {
            if let Ok(mut buf) = buf.try_borrow_mut() {
                audit::line(&mut buf, &loaded.table, d, fields, abi::now_nanos());
                let denied = d.enforced.action == egress_table::spec::Action::Deny
                    || d.audit
                        .is_some_and(|a| a.action == egress_table::spec::Action::Deny);
                abi::log(if denied { abi::LOG_WARN } else { abi::LOG_INFO }, &buf);
            }
        });
    }
}

thread_local! {
    /// Reused for every audit line, so logging does not allocate per request.
    static LOG_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(512));
    /// Reused for the 403 response's details and headers.
    pub(crate) static DENY_BUF: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = std::cell::RefCell::new((Vec::with_capacity(128), Vec::with_capacity(96)));
    /// Reused for the filter-state record.
    static RECORD_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(128));
}

/// A host buffer as attribute bytes.
pub(crate) struct Held(abi::HostBytes);

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

fn attribute(path: &[u8]) -> Option<Held> {
    abi::property(path).ok().flatten().map(Held)
}

/// Envoy's attributes, read through the ABI when the decision needs them.
pub(crate) struct Attributes;

impl Properties for Attributes {
    type Bytes = Held;

    fn request_host(&self) -> Option<Held> {
        attribute(b"request\0host")
    }

    fn destination_port(&self) -> Option<u16> {
        attribute(b"destination\0port")
            .and_then(|b| proxy::int_attribute(b.as_ref()))
            .and_then(|p| u16::try_from(p).ok())
    }

    fn destination_address(&self) -> Option<(Option<IpAddr>, Option<u16>)> {
        attribute(b"destination\0address").map(|b| proxy::split_address(b.as_ref()))
    }

    fn sni(&self) -> Option<Held> {
        attribute(b"connection\0requested_server_name")
    }

    /// Istio's waypoint puts the peer's identity in filter state
    /// (`io.istio.peer_principal`); elsewhere the peer certificate's URI SAN.
    fn peer_principal(&self) -> Option<Held> {
        [
            &b"filter_state\0io.istio.peer_principal"[..],
            b"connection\0uri_san_peer_certificate",
        ]
        .into_iter()
        .find_map(|path| attribute(path).filter(|b| !b.as_ref().is_empty()))
    }
}
