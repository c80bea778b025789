//! Reaching upstreams: name resolution (with the `--resolve` overrides),
//! connecting with a deadline, and what went wrong, as data that becomes
//! the client's 502 or 504. The HTTP client's connector and the tunnels
//! share it.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

/// Why an upstream could not be reached.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// The name did not resolve.
    Resolve { host: String, detail: String },
    /// Resolution or every connection attempt ran past the deadline.
    Timeout { target: String, after: Duration },
    /// The upstream refused the connection (nothing listens there).
    Refused { addr: SocketAddr },
    /// Another connection failure.
    Connect {
        addr: SocketAddr,
        error: std::io::Error,
    },
    /// The target is this proxy: forwarding would loop.
    Loop { addr: SocketAddr },
}

impl UpstreamError {
    /// The status the client gets: 504 for a timeout, else 502.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::Timeout { .. } => 504,
            _ => 502,
        }
    }

    /// The RFC 9209 `Proxy-Status` error type.
    pub(crate) fn proxy_status(&self) -> &'static str {
        match self {
            Self::Resolve { .. } => "dns_error",
            Self::Timeout { .. } => "connection_timeout",
            Self::Refused { .. } => "connection_refused",
            Self::Connect { .. } => "destination_unavailable",
            Self::Loop { .. } => "proxy_loop_detected",
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resolve { host, detail } => write!(f, "cannot resolve {host}: {detail}"),
            Self::Timeout { target, after } => write!(
                f,
                "no connection to {target} within {} ms",
                after.as_millis()
            ),
            Self::Refused { addr } => write!(f, "{addr} refused the connection"),
            Self::Connect { addr, error } => write!(f, "cannot connect to {addr}: {error}"),
            Self::Loop { addr } => write!(
                f,
                "{addr} is this proxy's own address: forwarding would loop"
            ),
        }
    }
}

impl std::error::Error for UpstreamError {}

/// Resolves names and opens connections.
#[derive(Debug, Clone)]
pub(crate) struct Dialer {
    overrides: Arc<HashMap<String, IpAddr>>,
    timeout: Duration,
    own: SocketAddr,
}

/// A host as compared and resolved: lower case, one trailing dot and IPv6
/// brackets removed.
pub(crate) fn canonical_host(host: &str) -> String {
    let h = host.strip_suffix('.').unwrap_or(host);
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    h.to_ascii_lowercase()
}

impl Dialer {
    pub(crate) fn new(resolve: &[(String, IpAddr)], timeout: Duration, own: SocketAddr) -> Self {
        let overrides = resolve
            .iter()
            .map(|(n, a)| (canonical_host(n), *a))
            .collect();
        Self {
            overrides: Arc::new(overrides),
            timeout,
            own,
        }
    }

    /// The addresses of `host` (an IP literal, an override, else DNS), in
    /// the resolver's order.
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<Vec<SocketAddr>, UpstreamError> {
        let name = canonical_host(host);
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if let Some(ip) = self.overrides.get(&name) {
            return Ok(vec![SocketAddr::new(*ip, port)]);
        }
        let found = timeout_at(deadline, tokio::net::lookup_host((name.as_str(), port)))
            .await
            .map_err(|_| UpstreamError::Timeout {
                target: format!("{name}:{port} (resolving)"),
                after: self.timeout,
            })?
            .map_err(|e| UpstreamError::Resolve {
                host: name.clone(),
                detail: e.to_string(),
            })?;
        let addrs: Vec<SocketAddr> = found.collect();
        if addrs.is_empty() {
            return Err(UpstreamError::Resolve {
                host: name,
                detail: "no addresses".into(),
            });
        }
        Ok(addrs)
    }

    /// A deadline `timeout` from now, for one resolution plus connection.
    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// Connects to the first of `addrs` that accepts, before `deadline`.
    pub(crate) async fn connect(
        &self,
        addrs: &[SocketAddr],
        deadline: Instant,
    ) -> Result<TcpStream, UpstreamError> {
        let mut last = None;
        for &addr in addrs {
            if self.is_own(addr) {
                return Err(UpstreamError::Loop { addr });
            }
            match timeout_at(deadline, TcpStream::connect(addr)).await {
                Err(_) => {
                    return Err(UpstreamError::Timeout {
                        target: addr.to_string(),
                        after: self.timeout,
                    });
                }
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    last = Some(UpstreamError::Refused { addr });
                }
                Ok(Err(error)) => last = Some(UpstreamError::Connect { addr, error }),
            }
        }
        Err(last.unwrap_or_else(|| UpstreamError::Resolve {
            host: "?".into(),
            detail: "no addresses".into(),
        }))
    }

    /// Whether `addr` is where this proxy listens.
    fn is_own(&self, addr: SocketAddr) -> bool {
        addr.port() == self.own.port()
            && (addr.ip() == self.own.ip()
                || (self.own.ip().is_unspecified()
                    && (addr.ip().is_loopback() || addr.ip().is_unspecified())))
    }
}

/// The HTTP client's connector: `http://host:port` → a TCP connection.
#[derive(Debug, Clone)]
pub(crate) struct Connector(pub(crate) Dialer);

type Connecting = Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, UpstreamError>> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = UpstreamError;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let dialer = self.0.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default().to_owned();
            let port = uri.port_u16().unwrap_or(80);
            let deadline = dialer.deadline();
            let addrs = dialer.resolve(&host, port, deadline).await?;
            let stream = dialer.connect(&addrs, deadline).await?;
            Ok(TokioIo::new(stream))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical() {
        assert_eq!(canonical_host("Api.Example.COM."), "api.example.com");
        assert_eq!(canonical_host("[::1]"), "::1");
        assert_eq!(canonical_host("10.0.0.1"), "10.0.0.1");
    }

    #[tokio::test]
    async fn resolution_and_refusal() {
        let own: SocketAddr = "127.0.0.1:3128".parse().unwrap();
        let d = Dialer::new(
            &[("Up.Test".into(), "127.0.0.1".parse().unwrap())],
            Duration::from_secs(2),
            own,
        );
        let dl = d.deadline();
        assert_eq!(
            d.resolve("up.test.", 81, dl).await.unwrap(),
            vec!["127.0.0.1:81".parse().unwrap()]
        );
        assert_eq!(
            d.resolve("[::1]", 82, dl).await.unwrap(),
            vec!["[::1]:82".parse().unwrap()]
        );
        // A port nobody listens on: bind, learn the port, close.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let e = d.connect(&[addr], d.deadline()).await.unwrap_err();
        assert!(matches!(e, UpstreamError::Refused { .. }), "{e}");
        assert_eq!((e.status(), e.proxy_status()), (502, "connection_refused"));
        let e = d.connect(&[own], d.deadline()).await.unwrap_err();
        assert!(matches!(e, UpstreamError::Loop { .. }), "{e}");
    }
}
