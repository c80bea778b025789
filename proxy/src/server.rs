//! The listener, the connections and the proxy's life: start (bind, load
//! and check the policy, start the workers), serve (one task per client
//! connection, HTTP/1.1 with header limits and a header timeout), and
//! drain (stop accepting, let in-flight requests and tunnels finish within
//! the drain timeout, then stop).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use egress_host::Plugin;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::body::ProxyBody;
use crate::config::{Config, Timeouts};
use crate::log::Log;
use crate::policy::{self, Current};
use crate::upstream::{Connector, Dialer};
use crate::worker::Filters;

/// What every connection and request task shares.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) listen: SocketAddr,
    pub(crate) filters: Filters,
    pub(crate) client: Client<Connector, ProxyBody>,
    pub(crate) dialer: Dialer,
    pub(crate) log: Log,
    pub(crate) timeouts: Timeouts,
    pub(crate) bypass_filter: bool,
    pub(crate) tracker: Tracker,
}

/// Counts connections and tunnels in flight, so shutdown can wait for them.
#[derive(Debug, Clone)]
pub(crate) struct Tracker(Arc<watch::Sender<usize>>);

/// One tracked connection or tunnel; dropping it ends it.
#[derive(Debug)]
pub(crate) struct Tracked(Arc<watch::Sender<usize>>);

impl Tracker {
    fn new() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }

    pub(crate) fn enter(&self) -> Tracked {
        self.0.send_modify(|n| *n += 1);
        Tracked(self.0.clone())
    }

    fn count(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until nothing is in flight.
    async fn idle(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Distinguishes the proxies of one process (their workers' VMs).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A running proxy. Dropping it stops it without draining.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    served: tokio::task::JoinHandle<()>,
    state: Arc<State>,
}

/// Starts a proxy: checks the configuration, loads the policy (the filter
/// must accept it for both layers), binds the listener and starts serving
/// on `config.workers` threads. Errors say what to fix.
pub fn start(config: Config) -> Result<Running, String> {
    config.validate()?;
    let log = Log::open(&config.log, &config.audit)?;
    let plugin = Plugin::from_bytes(&config.wasm, config.host.clone())
        .map_err(|e| format!("cannot load the filter module: {e}"))?;
    let first = policy::prepare(&config.policy, &config.filter, &plugin, 1)
        .map_err(|e| format!("the policy cannot be served: {e}"))?;
    let summary = first.summary.clone();
    let current = Arc::new(Current::new(first));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        .thread_name("egress-proxy")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the worker threads: {e}"))?;
    let std_listener = std::net::TcpListener::bind(config.listen).map_err(|e| {
        format!(
            "cannot listen on {}: {e}{}",
            config.listen,
            if e.kind() == std::io::ErrorKind::AddrInUse {
                " (another process uses the port: pick another with --listen)"
            } else {
                ""
            }
        )
    })?;
    let addr = std_listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot configure the listener: {e}"))?;
    let listener = {
        let _entered = runtime.enter();
        TcpListener::from_std(std_listener)
            .map_err(|e| format!("cannot register the listener: {e}"))?
    };
    let dialer = Dialer::new(&config.resolve, config.timeouts.connect, addr);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_timer(TokioTimer::new())
        .build(Connector(dialer.clone()));
    let state = Arc::new(State {
        listen: addr,
        filters: Filters {
            owner: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            plugin: plugin.clone(),
            current: current.clone(),
            log: log.clone(),
        },
        client,
        dialer,
        log: log.clone(),
        timeouts: config.timeouts,
        bypass_filter: config.bypass_filter,
        tracker: Tracker::new(),
    });
    let (stop, stopped) = watch::channel(false);
    if let Some(interval) = config.reload_interval {
        runtime.spawn(policy::watch(
            config.policy.clone(),
            config.filter.clone(),
            plugin,
            current,
            log.clone(),
            interval,
            stopped.clone(),
        ));
    }
    let served = runtime.spawn(accept(listener, state.clone(), config, stopped));
    if state.bypass_filter {
        log.warn("the filter is BYPASSED (--bypass-filter): every request and tunnel is forwarded without a decision; use this only to measure the proxy");
    }
    log.info(&format!("listening on {addr}: {summary}"));
    Ok(Running {
        addr,
        runtime: Some(runtime),
        stop,
        served,
        state,
    })
}

/// Accepts connections until `stop` fires.
async fn accept(
    listener: TcpListener,
    state: Arc<State>,
    config: Config,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(config.limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.timeouts.header)
        .max_headers(config.limits.max_headers)
        .max_buf_size(config.limits.max_header_bytes.max(8192))
        .keep_alive(true);
    http.max_header_size(config.limits.max_header_bytes);
    let http = Arc::new(http);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p,
            _ = stop.changed() => return,
        };
        let Ok(permit) = permit else { return };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: say so, back off, go on.
                    state.log.error(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let guard = state.tracker.enter();
        let (state, http, mut stop) = (state.clone(), http.clone(), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _guard = guard;
            let svc_state = state.clone();
            let svc = service_fn(move |req: Request<Incoming>| {
                let s = svc_state.clone();
                async move { Ok::<_, Infallible>(route(s, req, peer).await) }
            });
            let conn = http
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result
                && !quiet(&e)
            {
                state.log.info(&format!("client {peer}: {e}"));
            }
        });
    }
}

/// Connection endings not worth a log line.
fn quiet(e: &hyper::Error) -> bool {
    e.is_incomplete_message() || e.is_canceled() || {
        let mut s = std::error::Error::source(e);
        let mut reset = false;
        while let Some(x) = s {
            if let Some(io) = x.downcast_ref::<std::io::Error>() {
                reset |= matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                );
            }
            s = x.source();
        }
        reset
    }
}

async fn route(state: Arc<State>, req: Request<Incoming>, peer: SocketAddr) -> Response<ProxyBody> {
    if req.method() == Method::CONNECT {
        crate::tunnel::handle(state, req, peer).await
    } else {
        crate::forward::handle(state, req).await
    }
}

impl Running {
    /// Where the proxy listens (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets in-flight requests and tunnels finish within
    /// the drain timeout, then stops the workers. Returns how many
    /// connections were still open when the drain timeout cut them.
    pub fn shutdown(mut self) -> usize {
        let Some(runtime) = self.runtime.take() else {
            return 0;
        };
        let state = self.state.clone();
        let open = state.tracker.count();
        if open > 0 {
            state.log.info(&format!(
                "shutting down: draining {open} connection{} (at most {} s)",
                if open == 1 { "" } else { "s" },
                state.timeouts.drain.as_secs()
            ));
        }
        let _ = self.stop.send(true);
        let left = runtime.block_on(async {
            let _ = (&mut self.served).await;
            let drained = tokio::time::timeout(state.timeouts.drain, state.tracker.idle()).await;
            if drained.is_ok() {
                0
            } else {
                state.tracker.count()
            }
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
        if left > 0 {
            state.log.warn(&format!(
                "stopped: {left} connection{} cut at the drain timeout",
                if left == 1 { "" } else { "s" }
            ));
        } else {
            state.log.info("stopped");
        }
        left
    }

    /// Serves until SIGINT (Ctrl-C) or SIGTERM, then shuts down as
    /// [`Running::shutdown`] does.
    pub fn run_until_signal(self) -> Result<usize, String> {
        let Some(rt) = self.runtime.as_ref() else {
            return Ok(0);
        };
        let waited: Result<&'static str, String> = rt.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT").map_err(|e| format!("cannot watch Ctrl-C: {e}")),
                _ = term.recv() => Ok("SIGTERM"),
            }
        });
        let signal = waited?;
        self.state.log.info(&format!("{signal}: shutting down"));
        Ok(self.shutdown())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
