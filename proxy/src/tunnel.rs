//! CONNECT tunnels, decided by the network filter as Envoy's NETWORK
//! WasmPlugin decides a connection:
//!
//! 1. The target (`CONNECT host:port`) is resolved (the `--resolve`
//!    overrides, else DNS) and the filter decides on SNI = the target's
//!    name (none for an IP literal) and destination = its first address and
//!    port. A denial answers 403 with the HTTP filter's body and
//!    `x-egress-*` headers; the upstream is never contacted.
//! 2. The proxy connects to that address (502/504 on failure) and answers
//!    200.
//! 3. It reads the client's first bytes, up to a complete ClientHello
//!    ([`crate::sni`]), without terminating TLS. A server name that is not
//!    the CONNECT target is refused (a TLS `access_denied` alert, the
//!    connection closed, a log line and an audit line), so a client cannot
//!    tunnel to one host while naming an allowed one. A malformed hello is
//!    refused the same way. A hello without SNI, bytes that are not TLS, or
//!    silence past the hello timeout are decided again by the filter,
//!    without SNI (by address and port alone), when the first decision
//!    assumed one.
//! 4. The bytes read go upstream unchanged, then both directions are
//!    spliced until both sides close or the tunnel is idle too long.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use egress_host::Connection;
use egress_table::record::Record;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::body::{self, ProxyBody};
use crate::forward::reply;
use crate::server::State;
use crate::sni::{self, Alert, Hello};
use crate::upstream::canonical_host;

/// Most bytes buffered while waiting for a complete ClientHello (a 64 KiB
/// hello in small records, with their headers).
const MAX_PEEK: usize = 128 * 1024;

/// What the first decision was made on.
#[derive(Debug, Clone)]
struct Target {
    /// The CONNECT target's host, canonical (lower case, no brackets).
    host: String,
    port: u16,
    addr: SocketAddr,
    /// Whether the first decision assumed SNI = `host`.
    assumed_sni: bool,
}

/// The 403 for a tunnel the network filter denied: the HTTP filter's body
/// and headers, from the filter's decision record.
fn denied(record: Option<&Record>) -> Response<ProxyBody> {
    let mut r = reply(403, None, "RBAC: access denied");
    let policy = record.and_then(|r| r.policy.as_deref()).unwrap_or("-");
    let reason = record.map_or("-", |r| r.reason.as_str());
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    for (name, value) in [("x-egress-policy", policy), ("x-egress-reason", reason)] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    r
}

/// Handles a CONNECT request: decides, connects, and hands the upgraded
/// connection to a tunnel task.
pub(crate) async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ProxyBody> {
    let what = format!("CONNECT {}", req.uri());
    let Some(authority) = req.uri().authority().cloned() else {
        state.log.warn(&format!("400 {what}: no host:port target"));
        return reply(
            400,
            None,
            "egress proxy: CONNECT needs a host:port target (CONNECT example.com:443)\n",
        );
    };
    let Some(port) = authority.port_u16() else {
        state.log.warn(&format!("400 {what}: no port"));
        return reply(
            400,
            None,
            "egress proxy: the CONNECT target has no port (CONNECT example.com:443)\n",
        );
    };
    let host = canonical_host(authority.host());
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let deadline = state.dialer.deadline();
    let addr = match state.dialer.resolve(&host, port, deadline).await {
        Ok(addrs) => addrs.first().copied(),
        Err(e) => {
            state.log.warn(&format!("{} {what}: {e}", e.status()));
            return reply(
                e.status(),
                Some(e.proxy_status()),
                &format!("egress proxy: {e}\n"),
            );
        }
    };
    let Some(addr) = addr else {
        return reply(502, Some("dns_error"), "egress proxy: no address\n");
    };
    let target = Target {
        host,
        port,
        addr,
        assumed_sni: !is_ip,
    };
    if !state.bypass_filter {
        let conn = Connection {
            sni: target.assumed_sni.then(|| target.host.clone().into_bytes()),
            destination: Some(addr),
            source: Some(peer),
            downstream_data: Vec::new(),
            properties: egress_host::Properties::default(),
        };
        match state.filters.connection(&conn) {
            Ok(v) if v.allowed => {}
            Ok(v) => return denied(v.record.as_ref()),
            Err(e) => {
                state.log.error(&format!(
                    "500 {what}: {e}; the tunnel is refused (fail closed)"
                ));
                return reply(
                    500,
                    Some("proxy_internal_error"),
                    "egress proxy: the egress filter failed on this tunnel, so it was refused; see the proxy's log\n",
                );
            }
        }
    }
    let upstream = match state.dialer.connect(&[addr], deadline).await {
        Ok(s) => s,
        Err(e) => {
            state.log.warn(&format!("{} {what}: {e}", e.status()));
            let reason = if e.status() == 504 {
                "Gateway Timeout"
            } else {
                "Bad Gateway"
            };
            return reply(
                e.status(),
                Some(e.proxy_status()),
                &format!("egress proxy: {} {reason}: {e}\n", e.status()),
            );
        }
    };
    let guard = state.tracker.enter();
    let task_state = state.clone();
    tokio::spawn(async move {
        let _guard = guard;
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                run(&task_state, TokioIo::new(upgraded), upstream, &target, peer).await;
            }
            Err(e) => task_state.log.warn(&format!(
                "{what}: the client connection could not be taken over: {e}"
            )),
        }
    });
    Response::new(body::empty())
}

/// What the client's first bytes turned out to be.
enum Peeked {
    Hello(Hello),
    /// Nothing within the hello timeout (a protocol whose server speaks
    /// first).
    Silent,
    /// The client closed or failed before sending anything useful.
    Gone,
}

/// Reads until the bytes are a complete ClientHello or clearly not one.
async fn peek<R: AsyncRead + Unpin>(client: &mut R, buf: &mut Vec<u8>, wait: Duration) -> Peeked {
    let deadline = Instant::now() + wait;
    let mut chunk = [0u8; 4096];
    loop {
        let n = match tokio::time::timeout_at(deadline, client.read(&mut chunk)).await {
            Err(_) if buf.is_empty() => return Peeked::Silent,
            Err(_) => {
                return Peeked::Hello(Hello::Malformed(
                    "the ClientHello did not arrive complete within the hello timeout",
                ));
            }
            Ok(Err(_) | Ok(0)) => return Peeked::Gone,
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        match sni::client_hello(buf) {
            Hello::NeedMore if buf.len() > MAX_PEEK => {
                return Peeked::Hello(Hello::Malformed(
                    "the ClientHello is spread over too many records",
                ));
            }
            Hello::NeedMore => {}
            other => return Peeked::Hello(other),
        }
    }
}

/// A refusal the proxy makes itself, in the audit log's format.
fn audit_refusal(state: &State, t: &Target, reason: &str, sni: Option<&[u8]>, detail: &str) {
    let mut time = String::new();
    crate::log::rfc3339(&mut time, std::time::SystemTime::now());
    let sni_text = sni.map(|s| String::from_utf8_lossy(s).into_owned());
    let line = serde_json::json!({
        "time": time,
        "decision": "deny",
        "policy": null,
        "rule": null,
        "reason": reason,
        "enforced": true,
        "protocol": "tls",
        "host": sni_text.as_deref().unwrap_or(&t.host),
        "port": t.port,
        "principal": null,
        "connect": format!("{}:{}", t.host, t.port),
        "detail": detail,
        "by": "proxy",
    });
    state.log.audit(&line.to_string());
}

/// Runs one tunnel after the 200: checks the first bytes, then splices.
async fn run<C>(state: &State, mut client: C, mut upstream: TcpStream, t: &Target, peer: SocketAddr)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let what = format!("CONNECT {}:{}", t.host, t.port);
    let mut first = Vec::with_capacity(2048);
    let peeked = peek(&mut client, &mut first, state.timeouts.hello).await;
    let tls = first.first() == Some(&22);
    let sni_seen = match peeked {
        Peeked::Gone => return,
        Peeked::Hello(Hello::Malformed(why)) => {
            state.log.warn(&format!(
                "{what}: refused: the client's TLS ClientHello is malformed ({why})"
            ));
            audit_refusal(state, t, "invalid-client-hello", None, why);
            let _ = client.write_all(&sni::alert(Alert::DecodeError)).await;
            let _ = client.shutdown().await;
            return;
        }
        Peeked::Hello(Hello::Sni(name)) => Some(name),
        Peeked::Hello(Hello::NeedMore | Hello::NoSni | Hello::NotTls) | Peeked::Silent => None,
    };
    match &sni_seen {
        Some(name) => {
            let agrees = std::str::from_utf8(name).is_ok_and(|n| canonical_host(n) == t.host);
            if !agrees {
                let named = String::from_utf8_lossy(name);
                state.log.warn(&format!(
                    "{what}: refused: the ClientHello names {named:?}, not the CONNECT target {:?}",
                    t.host
                ));
                audit_refusal(
                    state,
                    t,
                    "connect-sni-mismatch",
                    Some(name),
                    "the TLS server name is not the CONNECT target",
                );
                let _ = client.write_all(&sni::alert(Alert::AccessDenied)).await;
                let _ = client.shutdown().await;
                return;
            }
        }
        None if t.assumed_sni && !state.bypass_filter => {
            // Decided as TLS to `host`; it is not: decide on the address.
            let conn = Connection {
                sni: None,
                destination: Some(t.addr),
                source: Some(peer),
                downstream_data: first.clone(),
                properties: egress_host::Properties::default(),
            };
            let allowed = match state.filters.connection(&conn) {
                Ok(v) => v.allowed,
                Err(e) => {
                    state
                        .log
                        .error(&format!("{what}: {e}; the tunnel is closed (fail closed)"));
                    false
                }
            };
            if !allowed {
                if tls {
                    let _ = client.write_all(&sni::alert(Alert::AccessDenied)).await;
                }
                let _ = client.shutdown().await;
                return;
            }
        }
        None => {}
    }
    if let Err(e) = upstream.write_all(&first).await {
        state.log.warn(&format!(
            "{what}: the upstream closed before the first bytes: {e}"
        ));
        return;
    }
    if let Some(why) = splice(client, upstream, state.timeouts.tunnel_idle).await {
        state.log.info(&format!("{what}: closed: {why}"));
    }
}

/// Copies both ways until both directions end (each end's close is passed
/// on as a half-close) or nothing moves for `idle`. Returns why it ended
/// early, if it did.
async fn splice<C>(client: C, upstream: TcpStream, idle: Duration) -> Option<String>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let activity = AtomicU64::new(0);
    let touch = || {
        let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.store(ms, Ordering::Relaxed);
    };
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = upstream.into_split();
    let both = async {
        let (a, b) = tokio::join!(
            pump(&mut cr, &mut uw, &touch),
            pump(&mut ur, &mut cw, &touch)
        );
        a.and(b)
    };
    let watchdog = async {
        loop {
            let last = Duration::from_millis(activity.load(Ordering::Relaxed));
            let due = start + last + idle;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    };
    tokio::select! {
        r = both => match r {
            Ok(()) => None,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe) => None,
            Err(e) => Some(e.to_string()),
        },
        () = watchdog => Some(format!("nothing moved for {} ms", idle.as_millis())),
    }
}

/// Copies `r` to `w` until `r` ends, then half-closes `w`.
async fn pump<R, W>(r: &mut R, w: &mut W, touch: &(dyn Fn() + Sync)) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            let _ = w.shutdown().await;
            return Ok(());
        }
        w.write_all(buf.get(..n).unwrap_or_default()).await?;
        touch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn peeks_a_hello_in_pieces() {
        let hello = crate::sni::tests::hello(b"api.example.com");
        let (mut a, mut b) = tokio::io::duplex(64);
        let h = hello.clone();
        let writer = tokio::spawn(async move {
            for piece in h.chunks(7) {
                a.write_all(piece).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            a
        });
        let mut buf = Vec::new();
        match peek(&mut b, &mut buf, Duration::from_secs(5)).await {
            Peeked::Hello(Hello::Sni(n)) => assert_eq!(n, b"api.example.com"),
            _ => panic!("no SNI"),
        }
        assert_eq!(buf, hello);
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn silence_and_partial_hellos() {
        let (_a, mut b) = tokio::io::duplex(64);
        let mut buf = Vec::new();
        assert!(matches!(
            peek(&mut b, &mut buf, Duration::from_millis(50)).await,
            Peeked::Silent
        ));
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[22, 3, 1, 0, 200, 1]).await.unwrap();
        assert!(matches!(
            peek(&mut b, &mut buf, Duration::from_millis(50)).await,
            Peeked::Hello(Hello::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn splice_passes_half_closes_and_times_out() {
        let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = up.local_addr().unwrap();
        let echo = tokio::spawn(async move {
            let (mut s, _) = up.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            s.write_all(&got).await.unwrap();
        });
        let upstream = TcpStream::connect(addr).await.unwrap();
        let (client, mut far) = tokio::io::duplex(1024);
        let t = tokio::spawn(splice(client, upstream, Duration::from_secs(5)));
        far.write_all(b"ping").await.unwrap();
        far.shutdown().await.unwrap();
        let mut back = Vec::new();
        far.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"ping");
        assert_eq!(t.await.unwrap(), None);
        echo.await.unwrap();

        let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = up.local_addr().unwrap();
        let hold = tokio::spawn(async move { up.accept().await.unwrap() });
        let upstream = TcpStream::connect(addr).await.unwrap();
        let (client, _far) = tokio::io::duplex(1024);
        let why = splice(client, upstream, Duration::from_millis(100)).await;
        assert_eq!(why.as_deref(), Some("nothing moved for 100 ms"));
        drop(hold.await.unwrap());
    }
}
