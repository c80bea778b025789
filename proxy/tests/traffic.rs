//! Real traffic through the proxy: real sockets on 127.0.0.1, upstreams
//! started by the tests (a small HTTP/1.1 server on std threads, a TLS
//! server from `openssl s_server` with a self-signed certificate when
//! `openssl` is installed), the real filter module in the local host, and
//! real clients: curl when it is installed, else a Rust client speaking
//! HTTP/1.1 on a socket. Every scenario runs with one or the other; none
//! is skipped. Each test names which client ran on standard error.
//!
//! The filter module is `target/wasm32-wasip1/release/egress_filter.wasm`
//! (`make wasm` builds it), or `$EGRESS_FILTER_WASM`.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::err_expect,
    reason = "test code"
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use egress_proxy::{Config, PolicySource, Running, Sink, Timeouts};

// ---------------------------------------------------------------- set-up

fn filter_wasm() -> Vec<u8> {
    let path = std::env::var_os("EGRESS_FILTER_WASM").map_or_else(
        || {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
                PathBuf::from,
            );
            target.join("wasm32-wasip1/release/egress_filter.wasm")
        },
        PathBuf::from,
    );
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the filter module {}: {e}; build it with `make wasm` (or set EGRESS_FILTER_WASM)",
            path.display()
        )
    })
}

/// Compiles policy text to a binary table, or the rendered diagnostics.
fn compile(text: &str) -> Result<Vec<u8>, String> {
    let (sources, outcome) = egressc::compile_str("policy.egress", text);
    let Some(compiled) = outcome.compiled else {
        return Err(outcome
            .diagnostics
            .iter()
            .map(|d| egressc::diag::render(d, &sources))
            .collect());
    };
    egressc::emit::emit(&compiled.spec, egressc::emit::Format::Table).map_err(|e| e.0)
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "egress-proxy-{name}-{}-{:?}",
            std::process::id(),
            thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Lines = Arc<Mutex<Vec<String>>>;

/// A running proxy and what it wrote.
struct Proxy {
    running: Option<Running>,
    addr: SocketAddr,
    audit: Lines,
    log: Lines,
}

impl Proxy {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn audit(&self) -> Vec<String> {
        self.audit.lock().unwrap().clone()
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until a log line contains `needle`.
    fn wait_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.log().into_iter().find(|l| l.contains(needle)) {
                return l;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no log line with {needle:?} within 10 s; the log:\n{}",
                self.log().join("\n")
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

/// The names the tests use all resolve to loopback.
fn config(policy: PolicySource) -> (Config, Lines, Lines) {
    let audit: Lines = Arc::default();
    let log: Lines = Arc::default();
    let mut c = Config::new(filter_wasm(), policy);
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.workers = 2;
    c.audit = Sink::Memory(audit.clone());
    c.log = Sink::Memory(log.clone());
    c.reload_interval = Some(Duration::from_millis(50));
    c.resolve = ["up.test", "good.test", "evil.test", "other.test"]
        .iter()
        .map(|n| ((*n).to_owned(), "127.0.0.1".parse().unwrap()))
        .collect();
    c.timeouts = Timeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_millis(700),
        idle: Duration::from_secs(2),
        hello: Duration::from_secs(2),
        drain: Duration::from_secs(2),
        ..Timeouts::default()
    };
    (c, audit, log)
}

/// A policy file on disk, compiled on every (re)load.
fn file_policy(path: &Path) -> PolicySource {
    let p = path.to_owned();
    PolicySource {
        watch: vec![path.to_owned()],
        load: Arc::new(move || {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            compile(&text)
        }),
    }
}

fn start(c: Config, audit: Lines, log: Lines) -> Proxy {
    let running = egress_proxy::start(c).unwrap_or_else(|e| panic!("the proxy did not start: {e}"));
    Proxy {
        addr: running.local_addr(),
        running: Some(running),
        audit,
        log,
    }
}

/// A proxy enforcing `policy` (kept in a file under `dir`).
fn proxy_with(dir: &Scratch, policy: &str) -> Proxy {
    let file = dir.0.join("policy.egress");
    std::fs::write(&file, policy).unwrap();
    let (c, audit, log) = config(file_policy(&file));
    start(c, audit, log)
}

// ------------------------------------------------------------- upstreams

/// A small HTTP/1.1 server: `/die` sends half its body and closes; `/stall`
/// never answers; anything else gets 200 with `upstream saw <method>
/// <path>`. It records every request head it reads.
struct Upstream {
    port: u16,
    seen: Lines,
}

fn read_head(r: &mut BufReader<TcpStream>) -> Option<Vec<String>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return Some(head);
        }
        head.push(line);
    }
}

fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Lines = Arc::default();
    let log = seen.clone();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let log = log.clone();
            thread::spawn(move || serve(conn, &log));
        }
    });
    Upstream { port, seen }
}

fn serve(conn: TcpStream, seen: &Lines) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(head) = read_head(&mut r) {
        let request_line = head.first().cloned().unwrap_or_default();
        seen.lock().unwrap().push(head.join("\n"));
        let length: usize = head
            .iter()
            .find_map(|h| {
                h.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split(' ');
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        match path {
            "/die" => {
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..");
                let _ = w.shutdown(Shutdown::Both);
                return;
            }
            "/stall" => {
                thread::sleep(Duration::from_secs(5));
                return;
            }
            _ => {
                let text = format!("upstream saw {method} {path}");
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Upstream: yes\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                );
                if w.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

/// A TCP server that records the first bytes of each connection and
/// answers `upstream got N bytes` (the tunnel tests without TLS).
fn recording_tcp() -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let g = got.clone();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let g = g.clone();
            thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                let mut buf = vec![0; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                buf.truncate(n);
                g.lock().unwrap().push(buf);
                let _ = conn.write_all(format!("upstream got {n} bytes").as_bytes());
            });
        }
    });
    (port, got)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg(if tool == "openssl" {
            "version"
        } else {
            "--version"
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `openssl s_server` with a fresh self-signed certificate for
/// `good.test`, answering `GET /` with its status page (`-www`).
struct TlsServer {
    child: Child,
    port: u16,
    cert: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_server(dir: &Scratch) -> TlsServer {
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=good.test",
            "-addext",
            "subjectAltName=DNS:good.test",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "openssl could not make a certificate");
    let port = closed_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = TlsServer { child, port, cert };
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "openssl s_server did not start"
        );
        thread::sleep(Duration::from_millis(20));
    }
    server
}

// --------------------------------------------------------------- clients

/// What a client got.
#[derive(Debug)]
struct Got {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// curl's exit code (0 for the Rust client when the exchange completed,
    /// 18 when the body was cut short, as curl numbers it).
    exit: i32,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Which client a test uses: curl when installed.
fn curl() -> bool {
    let yes = have("curl");
    eprintln!(
        "client: {}",
        if yes {
            "curl"
        } else {
            "the Rust client (curl is not installed)"
        }
    );
    yes
}

fn parse_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

/// `curl -x proxy METHOD URL` (plain HTTP).
fn curl_http(proxy: &Proxy, method: &str, url: &str) -> Got {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-x",
            &proxy.url(),
            "-X",
            method,
            "-D",
            "-",
            url,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status, headers) = parse_head(head);
    Got {
        status,
        headers,
        body: body.to_owned(),
        exit: out.status.code().unwrap_or(-1),
    }
}

/// The same with a request written by hand on a socket.
fn rust_http(proxy: &Proxy, method: &str, url: &str) -> Got {
    let host = url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .unwrap_or("");
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rust-test\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let cut = s.read_to_end(&mut raw).is_err();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status, headers) = parse_head(head);
    let mut got = Got {
        status,
        headers,
        body: body.to_owned(),
        exit: 0,
    };
    let short = got
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
        .is_some_and(|l| l > got.body.len());
    if cut || short {
        got.exit = 18;
    }
    got
}

fn http(curl: bool, proxy: &Proxy, method: &str, url: &str) -> Got {
    if curl {
        curl_http(proxy, method, url)
    } else {
        rust_http(proxy, method, url)
    }
}

/// Opens a CONNECT tunnel by hand; returns the status and the socket.
fn connect(proxy: &Proxy, target: &str) -> (u16, String, TcpStream) {
    let s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    write!(w, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let head = read_head(&mut r).unwrap_or_default();
    let (status, headers) = parse_head(&head.join("\r\n"));
    let mut body = String::new();
    if let Some(n) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        let mut b = vec![0; n];
        r.read_exact(&mut b).unwrap();
        body = String::from_utf8_lossy(&b).into_owned();
    }
    (status, body, s)
}

/// A minimal TLS ClientHello (one record) naming `sni`.
fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut entry = vec![0u8];
    entry.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
    entry.extend_from_slice(name);
    let mut sni_data = u16::try_from(entry.len()).unwrap().to_be_bytes().to_vec();
    sni_data.extend_from_slice(&entry);
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&u16::try_from(sni_data.len()).unwrap().to_be_bytes());
    ext.extend_from_slice(&sni_data);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // TLS_AES_128_GCM_SHA256
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&u16::try_from(ext.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&ext);
    let mut msg = vec![1];
    msg.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    msg.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&u16::try_from(msg.len()).unwrap().to_be_bytes());
    rec.extend_from_slice(&msg);
    rec
}

fn audit_with(proxy: &Proxy, needle: &str) -> serde_json::Value {
    let line = proxy
        .audit()
        .into_iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no audit line with {needle:?}: {:#?}", proxy.audit()));
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {line}"))
}

// ----------------------------------------------------------------- tests

fn http_policy(port: u16) -> String {
    http_policy_with(port, "")
}

/// Allows GET /ok, /die and /stall on up.test, plus `extra` lines.
fn http_policy_with(port: u16, extra: &str) -> String {
    format!(
        "policy \"local\" {{\n  default deny\n  log all\n  destination \"up.test\" port {port} http {{\n    allow GET path \"/ok\"\n    allow GET path \"/die\"\n    allow GET path \"/stall\"\n  }}\n{extra}}}\n"
    )
}

#[test]
fn http_allowed_and_denied() {
    let curl = curl();
    let up = upstream();
    let dir = Scratch::new("http");
    let proxy = proxy_with(&dir, &http_policy(up.port));

    let ok = http(
        curl,
        &proxy,
        "GET",
        &format!("http://up.test:{}/ok?q=1", up.port),
    );
    assert_eq!((ok.status, ok.exit), (200, 0), "{ok:?}");
    assert_eq!(ok.body, "upstream saw GET /ok?q=1");
    assert_eq!(ok.header("x-upstream"), Some("yes"));
    let seen = up.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("GET /ok?q=1 HTTP/1.1"),
        "origin form upstream: {seen:?}"
    );
    assert!(
        seen[0]
            .to_ascii_lowercase()
            .contains(&format!("host: up.test:{}", up.port)),
        "{seen:?}"
    );
    let allow = audit_with(&proxy, "\"decision\":\"allow\"");
    assert_eq!(allow["path"], "/ok");
    assert_eq!(allow["host"], "up.test");
    assert_eq!(allow["port"], up.port);

    // A method and a path the policy does not allow: the filter's 403.
    for (method, path) in [("POST", "/ok"), ("GET", "/secret")] {
        let no = http(
            curl,
            &proxy,
            method,
            &format!("http://up.test:{}{path}", up.port),
        );
        assert_eq!(no.status, 403, "{no:?}");
        assert_eq!(no.body, "RBAC: access denied");
        assert_eq!(no.header("x-egress-policy"), Some("local"));
        assert_eq!(no.header("x-egress-reason"), Some("default"));
    }
    // An unknown host, likewise; it is never contacted.
    let no = http(
        curl,
        &proxy,
        "GET",
        &format!("http://other.test:{}/ok", up.port),
    );
    assert_eq!(
        (no.status, no.body.as_str()),
        (403, "RBAC: access denied"),
        "{no:?}"
    );
    assert_eq!(
        up.seen.lock().unwrap().len(),
        1,
        "a denied request reached the upstream"
    );
    let deny = audit_with(&proxy, "\"method\":\"POST\"");
    assert_eq!(deny["decision"], "deny");
    assert_eq!(deny["reason"], "default");
    assert_eq!(deny["protocol"], "http");

    // Path normalisation as Envoy does it: `/x/../ok` is `/ok`.
    let norm = rust_http(
        &proxy,
        "GET",
        &format!("http://up.test:{}/x/../ok", up.port),
    );
    assert_eq!(norm.status, 200, "{norm:?}");
    assert_eq!(norm.body, "upstream saw GET /ok");

    // Not a proxy request (origin form): a 400 that says what to do.
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: up.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(raw.contains("send absolute-form requests"), "{raw}");
}

#[test]
fn upstream_faults_get_502_and_504() {
    let curl = curl();
    let up = upstream();
    let dir = Scratch::new("faults");
    let closed = closed_port();
    let policy = http_policy_with(
        up.port,
        &format!("  destination \"good.test\" port {closed} http\n"),
    );
    let proxy = proxy_with(&dir, &policy);

    let refused = http(curl, &proxy, "GET", &format!("http://good.test:{closed}/"));
    assert_eq!(refused.status, 502, "{refused:?}");
    assert!(
        refused.body.contains("refused the connection"),
        "{refused:?}"
    );
    assert_eq!(
        refused.header("proxy-status"),
        Some("egressc; error=connection_refused")
    );
    proxy.wait_log("refused the connection");

    let stalled = http(
        curl,
        &proxy,
        "GET",
        &format!("http://up.test:{}/stall", up.port),
    );
    assert_eq!(stalled.status, 504, "{stalled:?}");
    assert!(
        stalled.body.contains("did not answer within 700 ms"),
        "{stalled:?}"
    );
    proxy.wait_log("did not answer within 700 ms");

    // The upstream dies after 10 of 100 body bytes: the client sees the
    // body cut short (curl: exit 18, partial file), and the log says so.
    let died = http(
        curl,
        &proxy,
        "GET",
        &format!("http://up.test:{}/die", up.port),
    );
    assert_eq!(died.status, 200, "{died:?}");
    assert_eq!(died.exit, 18, "{died:?}");
    assert!(died.body.starts_with("only ten.."), "{died:?}");
    proxy.wait_log("the upstream's response failed");
}

fn tls_policy(allowed_port: u16) -> String {
    format!(
        "policy \"tls\" {{\n  default deny\n  log all\n  destination \"good.test\" port {allowed_port} tls\n}}\n"
    )
}

#[test]
fn connect_allowed_by_sni_carries_real_tls() {
    let dir = Scratch::new("tls");
    if have("curl") && have("openssl") {
        eprintln!("client: curl, server: openssl s_server");
        let server = tls_server(&dir);
        let proxy = proxy_with(&dir, &tls_policy(server.port));
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-x", &proxy.url(), "--cacert"])
            .arg(&server.cert)
            .arg(format!("https://good.test:{}/", server.port))
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "curl failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            proxy.log().join("\n")
        );
        // s_server -www answers with its status page, over verified TLS.
        assert!(body.contains("s_server"), "{body}");
        let a = audit_with(&proxy, "\"decision\":\"allow\"");
        assert_eq!(
            (a["protocol"].as_str(), a["host"].as_str()),
            (Some("tls"), Some("good.test"))
        );
    } else {
        eprintln!(
            "client: the Rust client with a hand-made ClientHello (curl or openssl is not installed)"
        );
    }
    // The same with a hand-made hello, against a server that records what
    // reaches it: the hello goes upstream unchanged, then bytes flow back.
    let (port, got) = recording_tcp();
    let proxy = proxy_with(&dir, &tls_policy(port));
    let (status, _, mut s) = connect(&proxy, &format!("good.test:{port}"));
    assert_eq!(status, 200);
    let hello = client_hello("good.test");
    s.write_all(&hello).unwrap();
    let mut back = String::new();
    s.read_to_string(&mut back).unwrap();
    assert_eq!(back, format!("upstream got {} bytes", hello.len()));
    assert_eq!(got.lock().unwrap().first(), Some(&hello));
}

#[test]
fn connect_to_a_host_the_policy_denies() {
    let curl = curl();
    let (port, got) = recording_tcp();
    let dir = Scratch::new("deny-connect");
    let proxy = proxy_with(&dir, &tls_policy(port));
    if curl {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-k", "-x", &proxy.url()])
            .arg(format!("https://evil.test:{port}/"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(56), "{err}");
        assert!(err.contains("403"), "{err}");
    }
    let (status, body, _) = connect(&proxy, &format!("evil.test:{port}"));
    assert_eq!((status, body.as_str()), (403, "RBAC: access denied"));
    // The right name on another port is denied too.
    let (status, _, _) = connect(&proxy, &format!("good.test:{}", closed_port()));
    assert_eq!(status, 403);
    assert!(
        got.lock().unwrap().is_empty(),
        "a denied tunnel reached the upstream"
    );
    let d = audit_with(&proxy, "evil.test");
    assert_eq!(
        (d["decision"].as_str(), d["protocol"].as_str()),
        (Some("deny"), Some("tls"))
    );
}

#[test]
fn sni_that_disagrees_with_the_connect_target_is_refused() {
    let (port, got) = recording_tcp();
    let dir = Scratch::new("sni");
    let proxy = proxy_with(&dir, &tls_policy(port));
    // The CONNECT names the allowed host; the ClientHello another.
    let (status, _, mut s) = connect(&proxy, &format!("good.test:{port}"));
    assert_eq!(status, 200);
    s.write_all(&client_hello("evil.test")).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    // A fatal access_denied alert, then the close.
    assert_eq!(back, [21, 3, 3, 0, 2, 2, 49]);
    // The proxy connected before it saw the hello, but sent nothing.
    thread::sleep(Duration::from_millis(400));
    let got = got.lock().unwrap().clone();
    assert!(
        got.iter().all(Vec::is_empty),
        "the refused hello reached the upstream: {got:?}"
    );
    let a = audit_with(&proxy, "connect-sni-mismatch");
    assert_eq!(
        (a["decision"].as_str(), a["host"].as_str()),
        (Some("deny"), Some("evil.test"))
    );
    proxy.wait_log("names \"evil.test\", not the CONNECT target \"good.test\"");
    if have("curl") {
        // curl's --connect-to sends the CONNECT to good.test while its TLS
        // names evil.test.
        eprintln!("and with curl --connect-to");
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "-k",
                "-x",
                &proxy.url(),
                "--connect-to",
            ])
            .arg(format!("evil.test:{port}:good.test:{port}"))
            .arg(format!("https://evil.test:{port}/"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(35), "{err}");
        assert!(err.contains("access denied"), "{err}");
    }
}

#[test]
fn a_bad_policy_is_refused_with_a_clear_error() {
    // Does not compile: the diagnostics are the error.
    let broken = PolicySource {
        watch: Vec::new(),
        load: Arc::new(|| {
            compile("policy \"x\" {\n  default deny\n  destination \"a.test\" port 80 htp\n}\n")
        }),
    };
    let (c, _, _) = config(broken);
    let e = egress_proxy::start(c)
        .err()
        .expect("a broken policy started");
    assert!(e.starts_with("the policy cannot be served: "), "{e}");
    assert!(
        e.contains("policy.egress:3"),
        "the diagnostic names the line: {e}"
    );
    // Compiles to bytes the filter refuses (not a table).
    let garbage = PolicySource {
        watch: Vec::new(),
        load: Arc::new(|| Ok(b"not a table".to_vec())),
    };
    let (c, _, _) = config(garbage);
    let e = egress_proxy::start(c).err().expect("a bad table started");
    assert!(
        e.contains("the filter refused the table for the http layer"),
        "{e}"
    );
    // Listening beyond loopback needs the explicit flag.
    let (mut c, _, _) = config(PolicySource {
        watch: Vec::new(),
        load: Arc::new(|| compile(&tls_policy(443))),
    });
    c.listen = "0.0.0.0:0".parse().unwrap();
    let e = egress_proxy::start(c).err().expect("listened on 0.0.0.0");
    assert!(e.contains("--allow-remote"), "{e}");
}

#[test]
fn policy_changes_are_reloaded_only_when_they_compile() {
    let up = upstream();
    let dir = Scratch::new("reload");
    let file = dir.0.join("policy.egress");
    std::fs::write(&file, http_policy(up.port)).unwrap();
    let (c, audit, log) = config(file_policy(&file));
    let proxy = start(c, audit, log);
    let url = |p: &str| format!("http://up.test:{}{p}", up.port);
    assert_eq!(rust_http(&proxy, "GET", &url("/ok")).status, 200);
    assert_eq!(rust_http(&proxy, "GET", &url("/new")).status, 403);

    let second = format!(
        "policy \"local\" {{\n  default deny\n  destination \"up.test\" port {} http {{\n    allow GET path \"/new\"\n  }}\n}}\n",
        up.port
    );
    std::fs::write(&file, &second).unwrap();
    proxy.wait_log("reloaded (generation 2)");
    assert_eq!(rust_http(&proxy, "GET", &url("/new")).status, 200);
    assert_eq!(rust_http(&proxy, "GET", &url("/ok")).status, 403);

    // A broken edit: the running table stays, and the log says why.
    std::fs::write(
        &file,
        "policy \"local\" {\n  default deny\n  destination \"up.test\" port 80 htp\n}\n",
    )
    .unwrap();
    let why = proxy.wait_log("was not applied");
    assert!(
        why.contains("the running table stays (generation 2"),
        "{why}"
    );
    assert!(why.contains("policy.egress:3"), "{why}");
    assert_eq!(rust_http(&proxy, "GET", &url("/new")).status, 200);
    assert_eq!(rust_http(&proxy, "GET", &url("/ok")).status, 403);
}

#[test]
fn slow_and_oversized_clients_are_cut_off() {
    let up = upstream();
    let dir = Scratch::new("limits");
    let file = dir.0.join("policy.egress");
    std::fs::write(&file, http_policy(up.port)).unwrap();
    let (mut c, audit, log) = config(file_policy(&file));
    c.timeouts.header = Duration::from_millis(300);
    c.limits.max_headers = 20;
    let proxy = start(c, audit, log);

    // Too many headers: 431, the upstream never sees it.
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    let mut req = format!(
        "GET http://up.test:{}/ok HTTP/1.1\r\nHost: up.test\r\n",
        up.port
    );
    for i in 0..30 {
        req.push_str(&format!("x-h{i}: v\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 431"), "{raw}");

    // A client that sends half a request line and stops is closed after
    // the header timeout.
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET http://up.test/ok HT").unwrap();
    let t = Instant::now();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "held for {:?}",
        t.elapsed()
    );
    assert!(up.seen.lock().unwrap().is_empty());
}

#[test]
fn shutdown_drains_open_tunnels() {
    let (port, _) = recording_tcp();
    let dir = Scratch::new("drain");
    let mut proxy = proxy_with(&dir, &tls_policy(port));
    let (status, _, mut s) = connect(&proxy, &format!("good.test:{port}"));
    assert_eq!(status, 200);
    s.write_all(&client_hello("good.test")).unwrap();
    let running = proxy.running.take().unwrap();
    let t = Instant::now();
    // The tunnel ends on its own once the upstream has answered and closed.
    let mut back = String::new();
    s.read_to_string(&mut back).unwrap();
    assert_eq!(
        back,
        format!("upstream got {} bytes", client_hello("good.test").len())
    );
    s.shutdown(Shutdown::Write).unwrap();
    let cut = running.shutdown();
    assert_eq!(cut, 0, "{}", proxy.log().join("\n"));
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(
        proxy.log().iter().any(|l| l.ends_with("stopped")),
        "{:?}",
        proxy.log()
    );
    assert!(
        TcpStream::connect(proxy.addr).is_err(),
        "still listening after shutdown"
    );
}
