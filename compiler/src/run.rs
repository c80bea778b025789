//! Running requests through the real filter `.wasm` in the local proxy-wasm
//! host (feature `host`): one VM configured as the HTTP filter, one as the
//! network filter, like the two WasmPlugins (type HTTP and NETWORK) the Istio
//! emitter deploys. `egressc simulate`, `egressc test` and the end-to-end
//! tests use this. Bytes in, decisions out: no file I/O.

use egress_host::{Connection, HostConfig, HttpRequest, LogLine, Plugin, Properties, Value, Vm};
use egress_table::plugin_config::{self, Layer};
use egress_table::record::Record;
use egress_table::spec::Action;

use crate::sim::SimRequest;

/// What one request or connection got.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The applied verdict, as the filter recorded it (a request the proxy
    /// refused before the filter ran is denied with reason `proxy-rejected`).
    pub record: Record,
    /// The HTTP status the client sees (HTTP only).
    pub status: Option<u16>,
    /// The audit policies' would-be verdict, if any.
    pub audit: Option<Record>,
    /// The filter's log lines for this request.
    pub logs: Vec<LogLine>,
}

/// The enforced and audit records of an outcome's filter state.
fn records(
    fs: &std::collections::BTreeMap<String, Vec<u8>>,
) -> Result<(Option<Record>, Option<Record>), String> {
    let get = |k: &str| fs.get(k).map(|v| Record::parse(v)).transpose();
    Ok((get("wasm.egress_decision")?, get("wasm.egress_audit")?))
}

/// A verdict the filter did not make.
fn outside(decision: Action, reason: &str) -> Record {
    Record {
        decision,
        policy: None,
        rule: None,
        reason: reason.to_owned(),
    }
}

/// Two configured VMs (HTTP and network filter).
#[allow(missing_debug_implementations, reason = "wraps wasmtime stores")]
pub struct Runner {
    http: Vm,
    network: Vm,
}

fn configure(
    plugin: &Plugin,
    table: &[u8],
    layer: Layer,
    options: &plugin_config::Options,
) -> Result<Vm, String> {
    let mut vm = plugin.vm().map_err(|e| e.to_string())?;
    let config = plugin_config::encode_with(table, layer, options);
    let started = vm.start(b"").map_err(|e| e.to_string())?;
    let configured = started && vm.configure(config.as_bytes()).map_err(|e| e.to_string())?;
    if !configured {
        let logs: Vec<String> = vm.logs().iter().map(|l| l.message.clone()).collect();
        return Err(format!(
            "the filter refused its {} configuration:\n  {}",
            layer.as_str(),
            logs.join("\n  ")
        ));
    }
    vm.drain_logs();
    Ok(vm)
}

impl Runner {
    /// Loads the filter module (`wasm`: its bytes) and configures both
    /// filters with `table`.
    pub fn new(wasm: &[u8], config: HostConfig, table: &[u8]) -> Result<Self, String> {
        let plugin = Plugin::from_bytes(wasm, config)
            .map_err(|e| format!("cannot load the filter module: {e}"))?;
        Self::with_plugin(&plugin, table)
    }

    /// Configures both filters of an already compiled plugin with `table`.
    pub fn with_plugin(plugin: &Plugin, table: &[u8]) -> Result<Self, String> {
        Self::with_options(plugin, table, &plugin_config::Options::default())
    }

    /// [`Self::with_plugin`] with the plugin configuration's settings for
    /// the proxy (`max_path_bytes`, `max_header_bytes`, `authority_header`).
    pub fn with_options(
        plugin: &Plugin,
        table: &[u8],
        options: &plugin_config::Options,
    ) -> Result<Self, String> {
        Ok(Self {
            http: configure(plugin, table, Layer::Http, options)?,
            network: configure(plugin, table, Layer::Network, options)?,
        })
    }

    /// Pins the clock both filters read (the audit lines' `time`) to `t`.
    pub fn set_time(&mut self, t: std::time::SystemTime) {
        self.http.set_time(t);
        self.network.set_time(t);
    }

    /// Runs one request or connection.
    pub fn run(&mut self, r: &SimRequest) -> Result<RunResult, String> {
        let mut props = Properties::default();
        if let Some(p) = &r.principal {
            let spiffe = if p.starts_with("spiffe://") {
                p.clone()
            } else {
                format!("spiffe://{p}")
            };
            props.set(
                &["filter_state", "io.istio.peer_principal"],
                Value::String(spiffe.into_bytes()),
            );
        }
        if r.is_http() {
            // What the client sends (the same request `explain` decides on).
            let (method, path, scheme) = r.request_line();
            let mut req = HttpRequest::new(method, r.host.as_deref().unwrap_or(""), path);
            if r.host.is_none() {
                req.authority = None;
            }
            req.scheme = scheme.as_bytes().to_vec();
            req.headers = r.header_pairs();
            props.set(
                &["destination", "port"],
                Value::Int(i64::from(r.effective_port())),
            );
            if let Some(s) = &r.sni {
                props.set(
                    &["connection", "requested_server_name"],
                    Value::String(s.clone().into_bytes()),
                );
            }
            req.properties = props;
            let out = self.http.http(&req).map_err(|e| e.to_string())?;
            let (decided, audit) = records(&out.filter_state)?;
            let record = match (out.proxy_rejected, decided) {
                (Some(_), _) => outside(Action::Deny, "proxy-rejected"),
                (None, Some(d)) => d,
                (None, None) => {
                    return Err(format!(
                        "the filter recorded no decision (status {}): is the .wasm an egress filter?",
                        out.status
                    ));
                }
            };
            Ok(RunResult {
                record,
                status: Some(out.status),
                audit,
                logs: out.logs,
            })
        } else {
            let port = r.effective_port();
            let ip = r
                .destination
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            let conn = Connection {
                sni: r.sni.as_ref().map(|s| s.clone().into_bytes()),
                destination: Some(std::net::SocketAddr::new(ip, port)),
                source: None,
                downstream_data: b"hello".to_vec(),
                properties: props,
            };
            let out = self.network.connection(&conn).map_err(|e| e.to_string())?;
            let (decided, audit) = records(&out.filter_state)?;
            let record = decided.ok_or_else(|| {
                "the filter recorded no decision for the connection: is the .wasm an egress filter?"
                    .to_owned()
            })?;
            if record.allowed() == out.closed {
                return Err(format!(
                    "the filter recorded {record} but {} the connection",
                    if out.closed { "closed" } else { "kept" }
                ));
            }
            Ok(RunResult {
                record,
                status: None,
                audit,
                logs: out.logs,
            })
        }
    }

    /// Final metric values of both VMs, by name.
    pub fn metrics(&self) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self
            .http
            .metrics()
            .into_iter()
            .chain(self.network.metrics())
            .map(|m| (m.name, m.value))
            .collect();
        all.sort();
        all.dedup_by(|a, b| {
            if a.0 == b.0 {
                b.1 += a.1;
                true
            } else {
                false
            }
        });
        all
    }
}
