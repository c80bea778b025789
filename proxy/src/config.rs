//! What a proxy is started with: where it listens, the filter module and the
//! policy, where its lines go, its timeouts and limits. Defaults are chosen
//! for a developer's machine and written next to each field.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use egress_host::HostConfig;

use crate::log::Sink;

/// Compiles the policy files into a binary rule table, or says why not
/// (the rendered diagnostics). Called at start and after every change on
/// disk; it must not panic.
pub type LoadPolicy = Arc<dyn Fn() -> Result<Vec<u8>, String> + Send + Sync>;

/// The policy the proxy enforces and how it is reloaded.
#[derive(Clone)]
pub struct PolicySource {
    /// The files (or directories) the policy is read from: the proxy polls
    /// their size and modification time (and, for a directory, those of its
    /// entries) and calls `load` when one changes.
    pub watch: Vec<PathBuf>,
    /// Produces the table.
    pub load: LoadPolicy,
}

impl std::fmt::Debug for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySource")
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

/// Timeouts. A slow or silent peer never holds a worker thread (all I/O is
/// asynchronous); these bound how long it holds a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A client must send a request's whole header block within this time
    /// of the connection opening or the previous response ending; an idle
    /// keep-alive connection is closed after it too (default 10 s).
    pub header: Duration,
    /// Resolving and connecting to the upstream; past it the client gets
    /// 504 (default 5 s).
    pub connect: Duration,
    /// From sending the request upstream to the upstream's response
    /// headers; past it the client gets 504 (default 30 s).
    pub response: Duration,
    /// A request or response body that makes no progress for this long is
    /// abandoned and its connection closed (default 60 s).
    pub idle: Duration,
    /// A tunnel with no bytes in either direction for this long is closed
    /// (default 5 min).
    pub tunnel_idle: Duration,
    /// How long a tunnel waits for the client's first bytes (the TLS
    /// ClientHello) before deciding without them, as for a protocol whose
    /// server speaks first (default 5 s).
    pub hello: Duration,
    /// On shutdown, how long in-flight requests and open tunnels may take
    /// to finish before they are cut (default 10 s).
    pub drain: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(10),
            connect: Duration::from_secs(5),
            response: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            tunnel_idle: Duration::from_secs(300),
            hello: Duration::from_secs(5),
            drain: Duration::from_secs(10),
        }
    }
}

/// Limits on what one client can make the proxy hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Headers per request; more get 431 (default 100, Envoy's
    /// `max_headers_count`).
    pub max_headers: usize,
    /// Bytes of request line and headers; more get 431 (default 60 KiB,
    /// Envoy's `max_request_headers_kb`).
    pub max_header_bytes: usize,
    /// Client connections open at once; further ones wait in the kernel's
    /// accept queue (default 4096).
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_headers: egress_host::DEFAULT_MAX_HEADERS_COUNT as usize,
            max_header_bytes: egress_host::DEFAULT_MAX_REQUEST_HEADERS_KB as usize * 1024,
            max_connections: 4096,
        }
    }
}

/// Everything a proxy is started with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (default `127.0.0.1:3128`). Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Allow a non-loopback `listen` address (default false: an open
    /// forward proxy lets anyone who reaches the port use this network).
    pub allow_remote: bool,
    /// The filter module (`egress_filter.wasm`).
    pub wasm: Arc<[u8]>,
    /// How the local proxy-wasm host runs it (path normalization, budgets).
    pub host: HostConfig,
    /// The policy.
    pub policy: PolicySource,
    /// The filter's settings for the proxy in its plugin configuration
    /// (`max_path_bytes`, `max_header_bytes`, `authority_header`; default:
    /// the filter's).
    pub filter: egress_table::plugin_config::Options,
    /// How often the policy files are checked for changes (`None`: never).
    pub reload_interval: Option<Duration>,
    /// Where audit lines go (default standard output).
    pub audit: Sink,
    /// Where the proxy's own log lines go (default standard error).
    pub log: Sink,
    /// Worker threads, each with its own filter instances (default: one per
    /// CPU).
    pub workers: usize,
    /// Names answered without DNS (`name → address`), for tests, demos and
    /// load tests on loopback.
    pub resolve: Vec<(String, IpAddr)>,
    /// Forward everything without running the filter (for measuring the
    /// filter's own cost; never for enforcement).
    pub bypass_filter: bool,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Limits.
    pub limits: Limits,
}

impl Config {
    /// A configuration with the defaults above.
    pub fn new(wasm: impl Into<Arc<[u8]>>, policy: PolicySource) -> Self {
        let capture_logs = HostConfig {
            capture_logs: true,
            ..HostConfig::default()
        };
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3128)),
            allow_remote: false,
            wasm: wasm.into(),
            host: capture_logs,
            policy,
            filter: egress_table::plugin_config::Options::default(),
            reload_interval: Some(Duration::from_secs(1)),
            audit: Sink::Stdout,
            log: Sink::Stderr,
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            resolve: Vec::new(),
            bypass_filter: false,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
        }
    }

    /// Checks what would make the proxy unsafe or unable to run.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.allow_remote && !self.listen.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {}: it is not a loopback address, and an open forward proxy lets anyone who can reach that port use this machine's network; listen on 127.0.0.1 or [::1], or allow it explicitly (egressc proxy --allow-remote)",
                self.listen
            ));
        }
        if self.workers == 0 {
            return Err("the proxy needs at least one worker thread (--workers 1 or more)".into());
        }
        if self.limits.max_connections == 0 {
            return Err("the connection limit must be at least 1".into());
        }
        if self.limits.max_header_bytes < 1024 {
            return Err(format!(
                "a header limit of {} bytes is too small to hold a request line; use at least 1024",
                self.limits.max_header_bytes
            ));
        }
        if !self.host.capture_logs && !self.bypass_filter {
            return Err(
                "the host must capture the filter's log lines (HostConfig::capture_logs): they carry the audit lines".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::new(
            Vec::new(),
            PolicySource {
                watch: Vec::new(),
                load: Arc::new(|| Ok(Vec::new())),
            },
        )
    }

    #[test]
    fn loopback_unless_allowed() {
        let mut c = config();
        assert!(c.validate().is_ok());
        c.listen = "[::1]:0".parse().unwrap();
        assert!(c.validate().is_ok());
        c.listen = "0.0.0.0:3128".parse().unwrap();
        let e = c.validate().unwrap_err();
        assert!(
            e.contains("0.0.0.0:3128") && e.contains("--allow-remote"),
            "{e}"
        );
        c.allow_remote = true;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn nonsense_limits() {
        let mut c = config();
        c.workers = 0;
        assert!(c.validate().unwrap_err().contains("--workers"));
        let mut c = config();
        c.limits.max_header_bytes = 10;
        assert!(c.validate().unwrap_err().contains("at least 1024"));
    }
}
