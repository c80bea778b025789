//! A conformance probe for the proxy-wasm host (`egress-host`).
//!
//! The probe is a filter written directly against the ABI 0.2.1 imports
//! (no SDK, so no panicking wrappers and no status it cannot see). In every
//! callback it can call every host function, with good and bad arguments,
//! and it logs one record per call:
//!
//! ```text
//! P <context id> <phase> <call> <status> <returned bytes as hex, or ->
//! ```
//!
//! The host's tests (`host/tests/`) parse these lines and check each one
//! against Envoy's documented behaviour.
//!
//! Behaviour is chosen by the plugin configuration, a list of words:
//! `battery` (run every call in every callback), `refuse` (`on_configure`
//! returns false), `startfail` (`on_vm_start` returns false), `tick` (a
//! 1000 ms tick period), `queue` (register the shared queue `probe-q`),
//! `delaydone` (the root's `on_done` returns false; `proxy_done` follows on
//! the next tick), `quiet` (a minimal filter for benchmarks). Per request,
//! the header `x-probe-action` holds comma-separated actions (see
//! [`request_headers`]); per connection, the SNI or the first data does.
#![allow(
    unsafe_code,
    reason = "raw proxy-wasm ABI: the probe exists to pass arbitrary pointers"
)]

mod raw;

use std::cell::RefCell;
use std::collections::BTreeMap;

use egress_abi::{BufferType, LogLevel, MapType, StreamType};
use raw::*;

// The probe passes raw numbers, good and bad; these are the good ones.
const INFO: u32 = LogLevel::Info.raw();
const CRITICAL: u32 = LogLevel::Critical.raw();
const REQ: u32 = MapType::RequestHeaders.raw();
const REQ_TRAILERS: u32 = MapType::RequestTrailers.raw();
const RESP: u32 = MapType::ResponseHeaders.raw();
const RESP_TRAILERS: u32 = MapType::ResponseTrailers.raw();
const GRPC_INITIAL: u32 = MapType::GrpcReceiveInitialMetadata.raw();
const GRPC_TRAILING: u32 = MapType::GrpcReceiveTrailingMetadata.raw();
const REQ_BODY: u32 = BufferType::RequestBody.raw();
const RESP_BODY: u32 = BufferType::ResponseBody.raw();
const GRPC_MESSAGE: u32 = BufferType::GrpcReceiveBuffer.raw();
const DOWNSTREAM: u32 = StreamType::Downstream.raw();
const CLUSTER: &[u8] = b"probe-cluster";

#[derive(Default)]
struct State {
    flags: Vec<String>,
    root: u32,
    counter: u32,
    gauge: u32,
    histogram: u32,
    queue: u32,
    calls: BTreeMap<u32, u32>,
    actions: BTreeMap<u32, String>,
    ticks: u32,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

fn flag(name: &str) -> bool {
    with(|s| s.flags.iter().any(|f| f == name))
}

fn action(ctx: u32, name: &str) -> bool {
    with(|s| {
        s.actions
            .get(&ctx)
            .is_some_and(|a| a.split(',').any(|x| x.trim() == name))
    })
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Logs one record.
fn rec(ctx: u32, phase: &str, name: &str, status: u32, data: &[u8]) {
    log(
        INFO,
        format!("P {ctx} {phase} {name} {status} {}", hex(data)).as_bytes(),
    );
}

/// Records a callback's arguments.
fn arg(ctx: u32, phase: &str, args: &str) {
    rec(ctx, phase, "args", 0, args.as_bytes());
}

/// Records a callback's arguments and, with `battery`, runs every call.
fn enter(ctx: u32, phase: &str, args: &str) {
    arg(ctx, phase, args);
    if flag("battery") {
        battery(ctx, phase);
    }
}

// ---- exports ------------------------------------------------------------------

#[unsafe(no_mangle)]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// The reactor entry point: constructors, the panic hook, one log line.
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    #[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
    // SAFETY: the linker-generated constructor runner, called once at start.
    unsafe {
        __wasm_call_ctors();
    }
    std::panic::set_hook(Box::new(|info| {
        log(CRITICAL, format!("probe panic: {info}").as_bytes())
    }));
    log(INFO, b"probe _initialize");
}

/// The allocator the host uses to hand us bytes.
#[cfg(target_arch = "wasm32")]
#[cfg_attr(target_os = "wasi", unsafe(export_name = "proxy_on_memory_allocate"))]
#[cfg_attr(not(target_os = "wasi"), unsafe(export_name = "malloc"))]
pub extern "C" fn allocate(size: usize) -> *mut u8 {
    let mut v: Vec<u8> = Vec::with_capacity(size);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_context_create(ctx: u32, root: u32) {
    if root == 0 {
        with(|s| s.root = ctx);
        // The plugin configuration is readable here (Envoy's onStart sets temp_plugin_).
        let (st, cfg) = buffer(7, 0, usize::MAX);
        rec(ctx, "root_create", "bget.7", st, &cfg);
        return;
    }
    if flag("battery") {
        battery(ctx, "create");
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_vm_start(ctx: u32, size: usize) -> u32 {
    rec(ctx, "vm_start", "size", 0, size.to_string().as_bytes());
    let (st, cfg) = buffer(6, 0, usize::MAX);
    rec(ctx, "vm_start", "bget.6", st, &cfg);
    let (st, cfg) = buffer(7, 0, usize::MAX);
    rec(ctx, "vm_start", "bget.7", st, &cfg);
    wasi_checks(ctx);
    u32::from(
        cfg_words(&buffer(6, 0, usize::MAX).1)
            .iter()
            .all(|w| w != "startfail"),
    )
}

fn cfg_words(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_configure(ctx: u32, size: usize) -> u32 {
    let (st, cfg) = buffer(7, 0, usize::MAX);
    rec(ctx, "configure", "size", 0, size.to_string().as_bytes());
    rec(ctx, "configure", "bget.7", st, &cfg);
    // Partial reads: a window, past the end, and a start beyond the end.
    rec(
        ctx,
        "configure",
        "bget.7.window",
        buffer(7, 1, 3).0,
        &buffer(7, 1, 3).1,
    );
    rec(
        ctx,
        "configure",
        "bget.7.past",
        buffer(7, 0, 1 << 20).0,
        &buffer(7, 0, 1 << 20).1,
    );
    rec(
        ctx,
        "configure",
        "bget.7.beyond",
        buffer(7, 1 << 20, 4).0,
        &buffer(7, 1 << 20, 4).1,
    );
    let words = cfg_words(&cfg);
    with(|s| s.flags = words);
    define_metrics(ctx);
    if flag("tick") {
        // SAFETY: no pointers.
        let st = unsafe { proxy_set_tick_period_milliseconds(1000) };
        rec(ctx, "configure", "tick", st, b"");
    }
    if flag("queue") {
        let mut token = 0u32;
        let name = b"probe-q";
        // SAFETY: a live name and an out-pointer to a local.
        let st = unsafe { proxy_register_shared_queue(name.as_ptr(), name.len(), &mut token) };
        with(|s| s.queue = token);
        rec(ctx, "configure", "qregister", st, &token.to_le_bytes());
        // SAFETY: a bad out-pointer on purpose.
        let st = unsafe { proxy_register_shared_queue(name.as_ptr(), name.len(), bad().cast()) };
        rec(ctx, "configure", "qregister.badptr", st, b"");
    }
    if flag("battery") {
        battery(ctx, "configure");
    }
    u32::from(!flag("refuse"))
}

fn define_metrics(ctx: u32) {
    let def = |kind: u32, name: &[u8]| {
        let mut id = 0u32;
        // SAFETY: a live name and an out-pointer to a local.
        let st = unsafe { proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) };
        (st, id)
    };
    let (s1, c) = def(0, b"probe_counter");
    let (s2, g) = def(1, b"probe_gauge");
    let (s3, h) = def(2, b"probe_histogram");
    let (s4, c2) = def(0, b"probe_counter");
    let (s5, _) = def(3, b"probe_bad_kind");
    rec(ctx, "configure", "mdefine.c", s1, &c.to_le_bytes());
    rec(ctx, "configure", "mdefine.g", s2, &g.to_le_bytes());
    rec(ctx, "configure", "mdefine.h", s3, &h.to_le_bytes());
    rec(ctx, "configure", "mdefine.c.again", s4, &c2.to_le_bytes());
    rec(ctx, "configure", "mdefine.kind3", s5, b"");
    let name = b"x";
    // SAFETY: bad pointers on purpose.
    let st = unsafe { proxy_define_metric(0, bad(), 4, &mut 0) };
    rec(ctx, "configure", "mdefine.badname", st, b"");
    // SAFETY: a bad out-pointer on purpose.
    let st = unsafe { proxy_define_metric(0, name.as_ptr(), name.len(), bad().cast()) };
    rec(ctx, "configure", "mdefine.badret", st, b"");
    with(|s| {
        s.counter = c;
        s.gauge = g;
        s.histogram = h;
    });
}

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
fn wasi_checks(ctx: u32) {
    use std::io::Write;
    println!("probe stdout");
    eprintln!("probe stderr");
    let _ = std::io::stdout().flush();
    rec(
        ctx,
        "vm_start",
        "wasi.env",
        0,
        std::env::var("PROBE_ENV").unwrap_or_default().as_bytes(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    rec(
        ctx,
        "vm_start",
        "wasi.time",
        0,
        &u64::try_from(now).unwrap_or(0).to_le_bytes(),
    );
    let t0 = std::time::Instant::now();
    rec(
        ctx,
        "vm_start",
        "wasi.monotonic",
        0,
        &u64::try_from(t0.elapsed().as_nanos())
            .unwrap_or(0)
            .to_le_bytes(),
    );
    // RandomState seeds itself through random_get.
    let h = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 1u8);
    rec(ctx, "vm_start", "wasi.random", 0, &h.to_le_bytes());
    rec(
        ctx,
        "vm_start",
        "wasi.file",
        0,
        std::fs::read("/etc/passwd")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
}

#[cfg(not(all(target_arch = "wasm32", target_os = "wasi")))]
fn wasi_checks(_ctx: u32) {}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_tick(ctx: u32) {
    let n = with(|s| {
        s.ticks += 1;
        s.ticks
    });
    rec(ctx, "tick", "count", 0, n.to_string().as_bytes());
    if flag("delaydone") {
        // SAFETY: no arguments.
        rec(ctx, "tick", "done", unsafe { proxy_done() }, b"");
    }
    if flag("battery") {
        battery(ctx, "tick");
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_queue_ready(ctx: u32, token: u32) {
    // SAFETY: out-pointers to locals.
    let (st, data) = out_bytes(|p, n| unsafe { proxy_dequeue_shared_queue(token, p, n) });
    rec(ctx, "queue_ready", "qdequeue", st, &data);
    // SAFETY: out-pointers to locals.
    let (st, _) = out_bytes(|p, n| unsafe { proxy_dequeue_shared_queue(token, p, n) });
    rec(ctx, "queue_ready", "qdequeue.empty", st, b"");
}

/// Actions (comma-separated in `x-probe-action`):
/// `local` (403 local response, return Pause), `local-continue` (the same but
/// return Continue), `pause`, `call` (HTTP call to `probe-cluster`, Pause;
/// the answer's body `allow` continues, anything else gets a 403), `close`,
/// `mutate` (add/replace/remove headers, set a property), `pairs-set`,
/// `continue-inside` (continue_stream, then return Pause), `resp-local`,
/// `resp-pause`, `body-modify`, `enqueue`, `panic`, `loop`, `oom`.
///
/// Bodies and trailers (see [`data_status`], [`trailers`]): `buffer`,
/// `watermark`, `nobuffer`, `hold` (and `resp-` each) choose what the data
/// callbacks return; `body-call` makes the HTTP call at the end of the
/// request body instead; `add-trailers` adds a trailer in the last data
/// callback; `trailers-mutate`, `trailers-stop`, `trailers-call` (and
/// `resp-trailers-mutate`, `resp-trailers-stop`) act in the trailers
/// callbacks.
///
/// gRPC (see [`proxy_on_grpc_receive`]): `grpc-call` (a unary call to
/// `probe-cluster`, Pause) and `grpc-stream` (a stream that sends `hello`,
/// Pause); the answers decide whether the request goes on.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_headers(ctx: u32, n: usize, eos: u32) -> u32 {
    if flag("quiet") {
        let _ = header(REQ, b":authority");
        let _ = property(b"destination\0port");
        let c = with(|s| s.counter);
        // SAFETY: no pointers.
        let _ = unsafe { proxy_increment_metric(c, 1) };
        return 0;
    }
    let (_, act) = header(REQ, b"x-probe-action");
    with(|s| {
        s.actions
            .insert(ctx, String::from_utf8_lossy(&act).into_owned())
    });
    enter(ctx, "request_headers", &format!("{n} {eos}"));
    if action(ctx, "panic") {
        panic_now();
    }
    if action(ctx, "loop") {
        spin();
    }
    if action(ctx, "oom") {
        exhaust();
    }
    if action(ctx, "mutate") {
        mutate(ctx);
    }
    if action(ctx, "pairs-set") {
        let p = pairs(&[
            (b":authority", b"set.example"),
            (b":path", b"/set"),
            (b":method", b"PUT"),
            (b"X-Set", b"1"),
        ]);
        // SAFETY: a live buffer.
        let st = unsafe { proxy_set_header_map_pairs(REQ, p.as_ptr(), p.len()) };
        rec(ctx, "request_headers", "hsetpairs", st, b"");
    }
    if action(ctx, "enqueue") {
        let mut token = 0u32;
        let (vm, q) = (b"", b"probe-q");
        // SAFETY: live slices and an out-pointer to a local.
        let st =
            unsafe { proxy_resolve_shared_queue(vm.as_ptr(), 0, q.as_ptr(), q.len(), &mut token) };
        rec(ctx, "request_headers", "qresolve", st, &token.to_le_bytes());
        let data = b"hello queue";
        // SAFETY: a live slice.
        let st = unsafe { proxy_enqueue_shared_queue(token, data.as_ptr(), data.len()) };
        rec(ctx, "request_headers", "qenqueue", st, b"");
    }
    if action(ctx, "close") {
        // SAFETY: no pointers.
        let st = unsafe { proxy_close_stream(0) };
        rec(ctx, "request_headers", "close", st, b"");
        return 1;
    }
    if action(ctx, "grpc-call") || action(ctx, "grpc-stream") {
        return open_grpc(ctx);
    }
    if action(ctx, "call") {
        let (st, token) = http_call(b"/check");
        rec(ctx, "request_headers", "httpcall", st, &token.to_le_bytes());
        with(|s| s.calls.insert(token, ctx));
        return 1;
    }
    if action(ctx, "local") || action(ctx, "local-continue") {
        let st = local_response(
            403,
            b"probe denied it",
            b"denied\n",
            &[(b"X-Probe", b"1"), (b"x-probe", b"2")],
        );
        rec(ctx, "request_headers", "local", st, b"");
        return u32::from(action(ctx, "local"));
    }
    if action(ctx, "continue-inside") {
        // SAFETY: no pointers.
        let st = unsafe { proxy_continue_stream(0) };
        rec(ctx, "request_headers", "continue", st, b"");
        return 1;
    }
    u32::from(action(ctx, "pause"))
}

fn mutate(ctx: u32) {
    let p = "request_headers";
    let kv = |k: &[u8], v: &[u8]| (k.to_vec(), v.to_vec());
    let (k, v) = kv(b"X-Added", b"1");
    // SAFETY: live slices.
    let st = unsafe { proxy_add_header_map_value(REQ, k.as_ptr(), k.len(), v.as_ptr(), v.len()) };
    rec(ctx, p, "hadd", st, b"");
    let (k, v) = kv(b"user-agent", b"probe");
    // SAFETY: live slices.
    let st = unsafe { proxy_add_header_map_value(REQ, k.as_ptr(), k.len(), v.as_ptr(), v.len()) };
    rec(ctx, p, "hadd.inline", st, b"");
    let (k, v) = kv(b"x-dup", b"new");
    // SAFETY: live slices.
    let st =
        unsafe { proxy_replace_header_map_value(REQ, k.as_ptr(), k.len(), v.as_ptr(), v.len()) };
    rec(ctx, p, "hreplace", st, b"");
    let k = b"x-remove";
    // SAFETY: a live slice.
    let st = unsafe { proxy_remove_header_map_value(REQ, k.as_ptr(), k.len()) };
    rec(ctx, p, "hremove", st, b"");
    let (k, v) = kv(b":path", b"/mutated");
    // SAFETY: live slices.
    let st =
        unsafe { proxy_replace_header_map_value(REQ, k.as_ptr(), k.len(), v.as_ptr(), v.len()) };
    rec(ctx, p, "hreplace.path", st, b"");
    let (k, v) = kv(b"probe_state", b"mutated");
    // SAFETY: live slices.
    let st = unsafe { proxy_set_property(k.as_ptr(), k.len(), v.as_ptr(), v.len()) };
    rec(ctx, p, "setprop", st, b"");
    let (st, v) = property(b"probe_state");
    rec(ctx, p, "prop.probe_state", st, &v);
    let (st, v) = property(b"filter_state\0wasm.probe_state");
    rec(ctx, p, "prop.filter_state.wasm.probe_state", st, &v);
    let (st, v) = property(b"request\0path");
    rec(ctx, p, "prop.request.path.after", st, &v);
}

#[expect(
    clippy::panic,
    reason = "the probe panics on request, to test trap handling"
)]
fn panic_now() -> ! {
    panic!("probe panic on purpose")
}

fn spin() {
    let mut i: u64 = 0;
    loop {
        i = core::hint::black_box(i.wrapping_add(1));
    }
}

fn exhaust() {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 8 << 20]);
        core::hint::black_box(&hoard);
    }
}

/// One direction of an HTTP stream as its data callback sees it.
struct Direction {
    phase: &'static str,
    body: u32,
    trailers: u32,
    /// The value of the `x-added` trailer `add-trailers` adds.
    added: &'static [u8],
    /// What `body-modify` puts at the start of the body.
    replacement: &'static [u8],
}

const REQUEST: Direction = Direction {
    phase: "request_body",
    body: REQ_BODY,
    trailers: REQ_TRAILERS,
    added: b"request body",
    replacement: b"REPLACED",
};

const RESPONSE: Direction = Direction {
    phase: "response_body",
    body: RESP_BODY,
    trailers: RESP_TRAILERS,
    added: b"response body",
    replacement: b"RESPONSE",
};

/// What both data callbacks do: record the arguments and the body as the
/// filter sees it; with `add-trailers`, add a trailer in the last chunk;
/// with `body-modify`, replace the start of the body.
fn body(ctx: u32, size: usize, eos: u32, d: &Direction) {
    enter(ctx, d.phase, &format!("{size} {eos}"));
    let (st, view) = buffer(d.body, 0, usize::MAX);
    rec(ctx, d.phase, "view", st, &view);
    if action(ctx, "add-trailers") && eos != 0 {
        let (k, v) = (b"x-added", d.added);
        // SAFETY: live slices.
        let st = unsafe {
            proxy_add_header_map_value(d.trailers, k.as_ptr(), k.len(), v.as_ptr(), v.len())
        };
        rec(ctx, d.phase, &format!("hadd.{}", d.trailers), st, b"");
    }
    if action(ctx, "body-modify") {
        let b = d.replacement;
        // SAFETY: a live slice.
        let st = unsafe { proxy_set_buffer_bytes(d.body, 0, size, b.as_ptr(), b.len()) };
        rec(ctx, d.phase, "bset.replace", st, b"");
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_body(ctx: u32, size: usize, eos: u32) -> u32 {
    body(ctx, size, eos, &REQUEST);
    if action(ctx, "body-modify") {
        // SAFETY: a live slice.
        let st = unsafe { proxy_set_buffer_bytes(REQ_BODY, 1 << 20, 0, b"!".as_ptr(), 1) };
        rec(ctx, "request_body", "bset.append", st, b"");
        // SAFETY: a live slice.
        let st = unsafe { proxy_set_buffer_bytes(REQ_BODY, 2, 1, b"?".as_ptr(), 1) };
        rec(ctx, "request_body", "bset.middle", st, b"");
    }
    if action(ctx, "body-call") && eos != 0 {
        let (st, token) = http_call(b"/body");
        rec(ctx, "request_body", "httpcall", st, &token.to_le_bytes());
        with(|s| s.calls.insert(token, ctx));
        return 1;
    }
    data_status(ctx, "", eos)
}

/// What a data callback returns: with `buffer`, `watermark` or `nobuffer`
/// (`resp-` for the response) 1, 2 or 3 until the last chunk, then 0
/// (Continue); with `hold`, 1 even for the last chunk.
fn data_status(ctx: u32, prefix: &str, eos: u32) -> u32 {
    let is = |name: &str| action(ctx, &format!("{prefix}{name}"));
    if is("hold") {
        return 1;
    }
    if eos != 0 {
        return 0;
    }
    if is("buffer") {
        1
    } else if is("watermark") {
        2
    } else if is("nobuffer") {
        3
    } else {
        0
    }
}

/// An HTTP call to `probe-cluster` (GET `path`, 500 ms); returns the status
/// and the token.
fn http_call(path: &[u8]) -> (u32, u32) {
    let h = pairs(&[
        (b":method", b"GET"),
        (b":path", path),
        (b":authority", b"authz"),
    ]);
    let mut token = 0u32;
    let st = call_http(CLUSTER, span(&h), b"probe body", 500, &mut token);
    (st, token)
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_trailers(ctx: u32, n: usize) -> u32 {
    trailers(ctx, n, "request_trailers", (REQ_TRAILERS, REQ_BODY), "")
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_trailers(ctx: u32, n: usize) -> u32 {
    trailers(
        ctx,
        n,
        "response_trailers",
        (RESP_TRAILERS, RESP_BODY),
        "resp-",
    )
}

/// A trailers callback: logs the map and the body buffer; with
/// `trailers-mutate` replaces `x-trailer` and adds `x-more`; with
/// `trailers-stop` returns StopIteration (1); with `trailers-call` (request
/// only) makes the HTTP call and stops.
fn trailers(ctx: u32, n: usize, phase: &str, (map, body): (u32, u32), prefix: &str) -> u32 {
    enter(ctx, phase, &n.to_string());
    // SAFETY: out-pointers to locals.
    let (st, hp) = out_bytes(|p, l| unsafe { proxy_get_header_map_pairs(map, p, l) });
    rec(ctx, phase, "hpairs", st, &hp);
    let (st, v) = header(map, b"x-trailer");
    rec(ctx, phase, "hget", st, &v);
    let (st, view) = buffer(body, 0, usize::MAX);
    rec(ctx, phase, "view", st, &view);
    if action(ctx, &format!("{prefix}trailers-mutate")) {
        let (k, v) = (b"x-trailer", b"changed");
        // SAFETY: live slices.
        let st = unsafe {
            proxy_replace_header_map_value(map, k.as_ptr(), k.len(), v.as_ptr(), v.len())
        };
        rec(ctx, phase, "hreplace", st, b"");
        let (k, v) = (b"X-More", b"1");
        // SAFETY: live slices.
        let st =
            unsafe { proxy_add_header_map_value(map, k.as_ptr(), k.len(), v.as_ptr(), v.len()) };
        rec(ctx, phase, "hadd", st, b"");
    }
    if prefix.is_empty() && action(ctx, "trailers-call") {
        let (st, token) = http_call(b"/trailers");
        rec(ctx, phase, "httpcall", st, &token.to_le_bytes());
        with(|s| s.calls.insert(token, ctx));
        return 1;
    }
    u32::from(action(ctx, &format!("{prefix}trailers-stop")))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_headers(ctx: u32, n: usize, eos: u32) -> u32 {
    if flag("quiet") {
        return 0;
    }
    enter(ctx, "response_headers", &format!("{n} {eos}"));
    let (st, v) = header(RESP, b":status");
    rec(ctx, "response_headers", "status", st, &v);
    if action(ctx, "resp-local") {
        let st = local_response(503, b"probe response phase", b"late\n", &[]);
        rec(ctx, "response_headers", "local", st, b"");
        return 1;
    }
    u32::from(action(ctx, "resp-pause"))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_body(ctx: u32, size: usize, eos: u32) -> u32 {
    body(ctx, size, eos, &RESPONSE);
    data_status(ctx, "resp-", eos)
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_log(ctx: u32) {
    if flag("quiet") {
        return;
    }
    rec(ctx, "log", "called", 0, b"");
    if flag("battery") {
        battery(ctx, "log");
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_done(ctx: u32) -> u32 {
    if flag("quiet") {
        return 1;
    }
    let root = with(|s| s.root);
    rec(ctx, "done", "called", 0, b"");
    if ctx == root {
        return u32::from(!flag("delaydone"));
    }
    if flag("battery") {
        battery(ctx, "done");
    }
    1
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_delete(ctx: u32) {
    with(|s| s.actions.remove(&ctx));
    if flag("quiet") {
        return;
    }
    rec(ctx, "delete", "called", 0, b"");
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_http_call_response(
    ctx: u32,
    token: u32,
    nh: usize,
    body: usize,
    nt: usize,
) {
    let p = "call_response";
    arg(ctx, p, &format!("{token} {nh} {body} {nt}"));
    // SAFETY: out-pointers to locals.
    let (st, hp) = out_bytes(|ptr, n| unsafe { proxy_get_header_map_pairs(6, ptr, n) });
    rec(ctx, p, "hpairs.6", st, &hp);
    let (st, v) = header(6, b":status");
    rec(ctx, p, "hget.6", st, &v);
    let (st, v) = header(7, b"x-trailer");
    rec(ctx, p, "hget.7", st, &v);
    let (st, b) = buffer(4, 0, body);
    rec(ctx, p, "bget.4", st, &b);
    let mut code = 0u32;
    // SAFETY: out-pointers to locals.
    let (st, msg) = out_bytes(|ptr, n| unsafe { proxy_get_status(&mut code, ptr, n) });
    rec(
        ctx,
        p,
        "status",
        st,
        format!("{code} {}", String::from_utf8_lossy(&msg)).as_bytes(),
    );
    let Some(stream) = with(|s| s.calls.remove(&token)) else {
        return;
    };
    // SAFETY: no pointers.
    let st = unsafe { proxy_set_effective_context(stream) };
    rec(ctx, p, "effective", st, b"");
    // What the stream's request body buffer holds now (buffered data, if any).
    let (st, view) = buffer(REQ_BODY, 0, usize::MAX);
    rec(ctx, p, "bget.0", st, &view);
    if b == b"allow" {
        // SAFETY: no pointers.
        rec(ctx, p, "continue", unsafe { proxy_continue_stream(0) }, b"");
    } else {
        let st = local_response(403, b"probe call said no", b"no\n", &[]);
        rec(ctx, p, "local", st, b"");
    }
}

/// `grpc-call` or `grpc-stream` in `proxy_on_request_headers`: opens it to
/// `probe-cluster` (`probe.Authz`), remembers which stream waits for it,
/// and pauses the request.
fn open_grpc(ctx: u32) -> u32 {
    let p = "request_headers";
    let (service, md) = (
        b"probe.Authz",
        pairs(&[(b"X-Md", b"1"), (b"host", b"authz")]),
    );
    let mut token = 0u32;
    if action(ctx, "grpc-call") {
        let (method, msg) = (b"Check", b"ping");
        let st = grpc_open(CLUSTER, service, method, &md, Some((msg, 700)), &mut token);
        rec(ctx, p, "grpccall", st, &token.to_le_bytes());
    } else {
        let method = b"Watch";
        let st = grpc_open(CLUSTER, service, method, &md, None, &mut token);
        rec(ctx, p, "grpcstream", st, &token.to_le_bytes());
        // SAFETY: a live slice.
        let st = unsafe { proxy_grpc_send(token, b"hello".as_ptr(), 5, 0) };
        rec(ctx, p, "grpc.send", st, b"");
    }
    with(|s| s.calls.insert(token, ctx));
    1
}

/// What every gRPC callback records: both metadata maps (read, size,
/// write), the received-message buffer (read, status, empty write) and the
/// status.
fn grpc_common(ctx: u32, phase: &str) {
    for (map, key) in [(GRPC_INITIAL, &b"x-md"[..]), (GRPC_TRAILING, b"x-tr")] {
        // SAFETY: out-pointers to locals.
        let (st, hp) = out_bytes(|p, n| unsafe { proxy_get_header_map_pairs(map, p, n) });
        rec(ctx, phase, &format!("hpairs.{map}"), st, &hp);
        let (st, v) = header(map, key);
        rec(ctx, phase, &format!("hget.{map}"), st, &v);
        let mut size = 0usize;
        // SAFETY: an out-pointer to a local.
        let st = unsafe { proxy_get_header_map_size(map, &mut size) };
        rec(ctx, phase, &format!("hsize.{map}"), st, b"");
        let (k, v) = (b"x-added", b"1");
        // SAFETY: live slices.
        let st =
            unsafe { proxy_add_header_map_value(map, k.as_ptr(), k.len(), v.as_ptr(), v.len()) };
        rec(ctx, phase, &format!("hadd.{map}"), st, b"");
    }
    let (st, b) = buffer(GRPC_MESSAGE, 0, usize::MAX);
    rec(ctx, phase, "bget.5", st, &b);
    let (mut len, mut flags) = (0usize, 99u32);
    // SAFETY: out-pointers to locals.
    let st = unsafe { proxy_get_buffer_status(GRPC_MESSAGE, &mut len, &mut flags) };
    rec(ctx, phase, "bstatus.5", st, len.to_string().as_bytes());
    // SAFETY: an empty prepend.
    let st = unsafe { proxy_set_buffer_bytes(GRPC_MESSAGE, 0, 0, b"".as_ptr(), 0) };
    rec(ctx, phase, "bset.5", st, b"");
    let mut code = 99u32;
    // SAFETY: out-pointers to locals.
    let (st, msg) = out_bytes(|p, n| unsafe { proxy_get_status(&mut code, p, n) });
    rec(
        ctx,
        phase,
        "status",
        st,
        format!("{code} {}", String::from_utf8_lossy(&msg)).as_bytes(),
    );
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_receive_initial_metadata(ctx: u32, token: u32, n: usize) {
    arg(ctx, "grpc_initial", &format!("{token} {n}"));
    grpc_common(ctx, "grpc_initial");
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_receive_trailing_metadata(ctx: u32, token: u32, n: usize) {
    arg(ctx, "grpc_trailing", &format!("{token} {n}"));
    grpc_common(ctx, "grpc_trailing");
}

/// A message on a call or stream. Its comma-separated words act: `bset`
/// (replace the received buffer), `send` (send `more`), `end` (send `last`
/// with end of stream, then `dropped`), `close` (`proxy_grpc_close`),
/// `cancel` (`proxy_grpc_cancel`), `allow`/`deny` (continue the waiting
/// request, or answer it with a 403).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_receive(ctx: u32, token: u32, size: usize) {
    let p = "grpc_receive";
    arg(ctx, p, &format!("{token} {size}"));
    grpc_common(ctx, p);
    let (_, msg) = buffer(GRPC_MESSAGE, 0, usize::MAX);
    let msg = String::from_utf8_lossy(&msg).into_owned();
    for word in msg.split(',') {
        match word {
            "bset" => {
                let b = b"REWRITTEN";
                // SAFETY: a live slice.
                let st =
                    unsafe { proxy_set_buffer_bytes(GRPC_MESSAGE, 0, size, b.as_ptr(), b.len()) };
                rec(ctx, p, "bset.5.replace", st, b"");
                let (st, after) = buffer(GRPC_MESSAGE, 0, usize::MAX);
                rec(ctx, p, "bget.5.after", st, &after);
            }
            "send" => {
                // SAFETY: a live slice.
                let st = unsafe { proxy_grpc_send(token, b"more".as_ptr(), 4, 0) };
                rec(ctx, p, "grpc.send", st, b"");
            }
            "end" => {
                // SAFETY: live slices.
                unsafe {
                    rec(
                        ctx,
                        p,
                        "grpc.send.end",
                        proxy_grpc_send(token, b"last".as_ptr(), 4, 1),
                        b"",
                    );
                    let st = proxy_grpc_send(token, b"dropped".as_ptr(), 7, 0);
                    rec(ctx, p, "grpc.send.after-end", st, b"");
                }
            }
            // SAFETY: no pointers.
            "close" => rec(
                ctx,
                p,
                "grpc.close",
                unsafe { proxy_grpc_close(token) },
                b"",
            ),
            // SAFETY: no pointers.
            "cancel" => rec(
                ctx,
                p,
                "grpc.cancel",
                unsafe { proxy_grpc_cancel(token) },
                b"",
            ),
            "allow" => decide(ctx, p, token, true),
            "deny" => decide(ctx, p, token, false),
            _ => {}
        }
    }
}

/// The remote end closed: records what the filter can see, tries a send
/// (a no-op now), and lets the waiting request go on if the status is OK.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_close(ctx: u32, token: u32, status: u32) {
    let p = "grpc_close";
    arg(ctx, p, &format!("{token} {status}"));
    grpc_common(ctx, p);
    // SAFETY: a live slice.
    let st = unsafe { proxy_grpc_send(token, b"late".as_ptr(), 4, 0) };
    rec(ctx, p, "grpc.send", st, b"");
    decide(ctx, p, token, status == 0);
}

/// Continues the request waiting for `token`, or answers it with a 403.
fn decide(ctx: u32, phase: &str, token: u32, allow: bool) {
    let Some(stream) = with(|s| s.calls.remove(&token)) else {
        return;
    };
    // SAFETY: no pointers.
    let st = unsafe { proxy_set_effective_context(stream) };
    rec(ctx, phase, "effective", st, b"");
    if allow {
        // SAFETY: no pointers.
        let st = unsafe { proxy_continue_stream(0) };
        rec(ctx, phase, "continue", st, b"");
    } else {
        let st = local_response(403, b"probe grpc said no", b"no\n", &[]);
        rec(ctx, phase, "local", st, b"");
    }
}

/// Closes the connection (recorded as `close`); returns Pause.
fn close_downstream(ctx: u32, phase: &str) -> u32 {
    // SAFETY: no pointers.
    let st = unsafe { proxy_close_stream(DOWNSTREAM) };
    rec(ctx, phase, "close", st, b"");
    1
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_new_connection(ctx: u32) -> u32 {
    if flag("battery") {
        battery(ctx, "new_connection");
    }
    let (_, sni) = property(b"connection\0requested_server_name");
    with(|s| {
        s.actions
            .insert(ctx, String::from_utf8_lossy(&sni).into_owned())
    });
    if sni.starts_with(b"close.") {
        return close_downstream(ctx, "new_connection");
    }
    u32::from(sni.starts_with(b"pause."))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_downstream_data(ctx: u32, size: usize, eos: u32) -> u32 {
    enter(ctx, "downstream_data", &format!("{size} {eos}"));
    let (_, data) = buffer(2, 0, size);
    if data.starts_with(b"CLOSE") {
        return close_downstream(ctx, "downstream_data");
    }
    if data.starts_with(b"MODIFY") {
        let b = b"modified";
        // SAFETY: a live slice.
        let st = unsafe { proxy_set_buffer_bytes(2, 0, size, b.as_ptr(), b.len()) };
        rec(ctx, "downstream_data", "bset", st, b"");
    }
    if data.starts_with(b"CONTINUE-LATER") {
        return 1;
    }
    if data.ends_with(b"RESUME") {
        // SAFETY: no pointers.
        let st = unsafe { proxy_continue_stream(DOWNSTREAM) };
        rec(ctx, "downstream_data", "continue", st, b"");
        return 1;
    }
    u32::from(data.starts_with(b"HOLD"))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_upstream_data(ctx: u32, size: usize, eos: u32) -> u32 {
    enter(ctx, "upstream_data", &format!("{size} {eos}"));
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_downstream_connection_close(ctx: u32, peer: u32) {
    rec(
        ctx,
        "downstream_close",
        "peer",
        0,
        peer.to_string().as_bytes(),
    );
    if flag("battery") {
        battery(ctx, "downstream_close");
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_upstream_connection_close(ctx: u32, peer: u32) {
    rec(
        ctx,
        "upstream_close",
        "peer",
        0,
        peer.to_string().as_bytes(),
    );
}

// ---- the battery ------------------------------------------------------------------

/// Property paths the battery reads (dots here become NULs).
const PROPS: &[&str] = &[
    "request.path",
    "request.url_path",
    "request.host",
    "request.method",
    "request.scheme",
    "request.protocol",
    "request.query",
    "request.useragent",
    "request.headers.x-multi",
    "request.headers",
    "request.time",
    "request",
    "response.code",
    "response.headers.content-type",
    "response.trailers.x-trailer",
    "source.address",
    "source.port",
    "destination.address",
    "destination.port",
    "connection.requested_server_name",
    "connection.mtls",
    "connection.id",
    "connection_id",
    "plugin_name",
    "plugin_root_id",
    "plugin_vm_id",
    "xds.node.id",
    "xds.node.metadata.NAMESPACE",
    "filter_state.io.istio.peer_principal",
    "filter_state",
    "custom.list.1",
    "custom.map.k",
    "custom.int",
    "custom.list",
    "custom.map",
    "custom.dur",
    "custom.ts",
    "nosuch",
    "probe_state",
];

/// Keys the battery reads from each map type (index = map type).
const MAP_KEYS: &[&[u8]] = &[
    b":path",
    b"x-trailer",
    b":status",
    b"x-trailer",
    b"x",
    b"x",
    b":status",
    b"x-trailer",
    b":path",
];

#[expect(
    clippy::too_many_lines,
    reason = "one record per ABI call, in one place"
)]
fn battery(ctx: u32, phase: &str) {
    let r = |name: &str, st: u32, data: &[u8]| rec(ctx, phase, name, st, data);
    // Logging.
    // SAFETY: live slices or bad pointers on purpose, and out-pointers to locals.
    unsafe {
        r("log.badlevel", proxy_log(9, b"x".as_ptr(), 1), b"");
        r("log.badptr", proxy_log(INFO, bad(), 16), b"");
        let mut level = 99u32;
        let st = proxy_get_log_level(&mut level);
        r("loglevel", st, &level.to_le_bytes());
        let mut t = 0u64;
        let st = proxy_get_current_time_nanoseconds(&mut t);
        r("time", st, &t.to_le_bytes());
        r(
            "time.badptr",
            proxy_get_current_time_nanoseconds(bad().cast()),
            b"",
        );
    }
    // Header maps: every type, including one past the last.
    for (m, key) in MAP_KEYS.iter().enumerate() {
        let m = u32::try_from(m).unwrap_or(0);
        let (st, v) = header(m, key);
        r(&format!("hget.{m}"), st, &v);
        // SAFETY: out-pointers to locals.
        let (st, v) = out_bytes(|p, n| unsafe { proxy_get_header_map_pairs(m, p, n) });
        r(&format!("hpairs.{m}"), st, &v);
        let mut size = 0usize;
        // SAFETY: an out-pointer to a local.
        let st = unsafe { proxy_get_header_map_size(m, &mut size) };
        r(&format!("hsize.{m}"), st, size.to_string().as_bytes());
        let (k, v) = (b"x-probe-set", b"v");
        // SAFETY: bad key pointer on purpose; checks the order enum-then-memory.
        let st = unsafe { proxy_add_header_map_value(m, bad(), 4, v.as_ptr(), v.len()) };
        r(&format!("hadd.badptr.{m}"), st, b"");
        // SAFETY: a bad key pointer on purpose.
        let st = unsafe { proxy_remove_header_map_value(m, bad(), 4) };
        r(&format!("hremove.badptr.{m}"), st, b"");
        let _ = k;
    }
    let (st, v) = header(REQ, b"x-probe-missing");
    r("hget.missing", st, &v);
    let (st, v) = header(REQ, b"X-MULTI");
    r("hget.multi", st, &v);
    let (st, v) = header(REQ, b"host");
    r("hget.host", st, &v);
    // SAFETY: bad pointers on purpose.
    unsafe {
        let (st, _) = out_bytes(|p, n| proxy_get_header_map_value(REQ, bad(), 4, p, n));
        r("hget.badkey", st, b"");
        let k = b":path";
        let st = proxy_get_header_map_value(REQ, k.as_ptr(), k.len(), bad().cast(), bad().cast());
        r("hget.badret", st, b"");
        let st = proxy_get_header_map_pairs(REQ, bad().cast(), bad().cast());
        r("hpairs.badret", st, b"");
        let st = proxy_set_header_map_pairs(REQ, bad(), 8);
        r("hsetpairs.badptr", st, b"");
        let st = proxy_set_header_map_pairs(9, bad(), 8);
        r("hsetpairs.badtype", st, b"");
    }
    // Buffers: every type, including one past the last.
    for b in 0u32..=9 {
        let (st, v) = buffer(b, 0, 1 << 20);
        r(&format!("bget.{b}"), st, &v);
        let (mut len, mut flags) = (0usize, 99u32);
        // SAFETY: out-pointers to locals.
        let st = unsafe { proxy_get_buffer_status(b, &mut len, &mut flags) };
        r(
            &format!("bstatus.{b}"),
            st,
            format!("{len} {flags}").as_bytes(),
        );
        // SAFETY: an empty prepend: changes nothing where it is allowed.
        let st = unsafe { proxy_set_buffer_bytes(b, 0, 0, b"".as_ptr(), 0) };
        r(&format!("bset.{b}"), st, b"");
    }
    // SAFETY: bad pointers on purpose.
    unsafe {
        r(
            "bget.badret",
            proxy_get_buffer_bytes(6, 0, 10, bad().cast(), bad().cast()),
            b"",
        );
        r(
            "bset.badptr",
            proxy_set_buffer_bytes(0, 0, 0, bad(), 4),
            b"",
        );
    }
    // Properties.
    for path in PROPS {
        let raw: Vec<u8> = path
            .bytes()
            .map(|c| {
                if c == b'.' && !path.starts_with("filter_state.io") {
                    0
                } else {
                    c
                }
            })
            .collect();
        let raw = if path.starts_with("filter_state.io") {
            let mut v = b"filter_state\0".to_vec();
            v.extend_from_slice(b"io.istio.peer_principal");
            v
        } else {
            raw
        };
        let (st, v) = property(&raw);
        r(&format!("prop.{path}"), st, &v);
    }
    let (st, v) = property(b"");
    r("prop.-", st, &v);
    // SAFETY: bad pointers on purpose.
    unsafe {
        let (st, _) = out_bytes(|p, n| proxy_get_property(bad(), 8, p, n));
        r("prop.badptr", st, b"");
        let k = b"plugin_name";
        r(
            "prop.badret",
            proxy_get_property(k.as_ptr(), k.len(), bad().cast(), bad().cast()),
            b"",
        );
        let (k, v) = (b"probe_state", phase.as_bytes());
        r(
            "setprop",
            proxy_set_property(k.as_ptr(), k.len(), v.as_ptr(), v.len()),
            b"",
        );
        r(
            "setprop.badptr",
            proxy_set_property(bad(), 4, v.as_ptr(), v.len()),
            b"",
        );
    }
    // Shared data.
    let key = b"probe-key";
    let mut cas = 0u32;
    // SAFETY: a live key and out-pointers to locals.
    let (st, v) =
        out_bytes(|p, n| unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), p, n, &mut cas) });
    r("sget", st, &v);
    // SAFETY: live slices.
    unsafe {
        let val = phase.as_bytes();
        r(
            "sset",
            proxy_set_shared_data(key.as_ptr(), key.len(), val.as_ptr(), val.len(), 0),
            b"",
        );
        let mut cas2 = 0u32;
        let (st, v) =
            out_bytes(|p, n| proxy_get_shared_data(key.as_ptr(), key.len(), p, n, &mut cas2));
        r("sget.after", st, &v);
        r(
            "sset.stale",
            proxy_set_shared_data(
                key.as_ptr(),
                key.len(),
                val.as_ptr(),
                val.len(),
                cas2.wrapping_add(1000),
            ),
            b"",
        );
        r(
            "sset.cas",
            proxy_set_shared_data(key.as_ptr(), key.len(), val.as_ptr(), val.len(), cas2),
            b"",
        );
        let missing = b"probe-missing";
        let (st, _) = out_bytes(|p, n| {
            proxy_get_shared_data(missing.as_ptr(), missing.len(), p, n, &mut cas2)
        });
        r("sget.missing", st, b"");
        r(
            "sset.badptr",
            proxy_set_shared_data(bad(), 4, val.as_ptr(), val.len(), 0),
            b"",
        );
    }
    // Queues.
    // SAFETY: live slices and out-pointers to locals, or bad values on purpose.
    unsafe {
        let (vm, q, other) = (b"", b"probe-q", b"other-vm");
        let mut token = 0u32;
        r(
            "qresolve.own",
            proxy_resolve_shared_queue(vm.as_ptr(), 0, q.as_ptr(), q.len(), &mut token),
            &token.to_le_bytes(),
        );
        r(
            "qresolve.other",
            proxy_resolve_shared_queue(
                other.as_ptr(),
                other.len(),
                q.as_ptr(),
                q.len(),
                &mut token,
            ),
            b"",
        );
        let (st, _) = out_bytes(|p, n| proxy_dequeue_shared_queue(0xdead, p, n));
        r("qdequeue.bad", st, b"");
        r(
            "qenqueue.bad",
            proxy_enqueue_shared_queue(0xdead, b"x".as_ptr(), 1),
            b"",
        );
    }
    // Metrics.
    let (c, g, h) = with(|s| (s.counter, s.gauge, s.histogram));
    // SAFETY: out-pointers to locals.
    unsafe {
        let get = |id: u32| {
            let mut v = 0u64;
            let st = proxy_get_metric(id, &mut v);
            (st, v)
        };
        r("mincr.c", proxy_increment_metric(c, 1), b"");
        r("mincr.c0", proxy_increment_metric(c, 0), b"");
        r("mincr.cneg", proxy_increment_metric(c, -1), b"");
        let (st, v) = get(c);
        r("mget.c", st, &v.to_le_bytes());
        r("mrec.c", proxy_record_metric(c, 2), b"");
        r("mrec.g", proxy_record_metric(g, 7), b"");
        r("mincr.gneg", proxy_increment_metric(g, -2), b"");
        r("mincr.g0", proxy_increment_metric(g, 0), b"");
        let (st, v) = get(g);
        r("mget.g", st, &v.to_le_bytes());
        r("mincr.h", proxy_increment_metric(h, 1), b"");
        r("mrec.h", proxy_record_metric(h, 5), b"");
        let (st, _) = get(h);
        r("mget.h", st, b"");
        let (st, _) = get(0xFFF0);
        r("mget.missing", st, b"");
        let (st, _) = get(7);
        r("mget.kind3", st, b"");
        r("mincr.missing", proxy_increment_metric(0xFFF0, 1), b"");
        r("mincr.kind3", proxy_increment_metric(7, 1), b"");
        r("mrec.missing", proxy_record_metric(0xFFF0, 1), b"");
        r("mget.badret", proxy_get_metric(c, bad().cast()), b"");
    }
    // Stream control with bad and odd arguments, effective context, done.
    // SAFETY: no pointers.
    unsafe {
        r("continue.bad", proxy_continue_stream(9), b"");
        r("close.bad", proxy_close_stream(9), b"");
        r("continue.upstream", proxy_continue_stream(3), b"");
        r("effective.bad", proxy_set_effective_context(0xBEEF), b"");
        r("effective.self", proxy_set_effective_context(ctx), b"");
        r("done", proxy_done(), b"");
    }
    // Calls out.
    let good = pairs(&[(b":method", b"GET"), (b":path", b"/"), (b"host", b"authz")]);
    let nopath = pairs(&[(b":method", b"GET"), (b":authority", b"authz")]);
    let unknown = b"nosuch-cluster";
    // SAFETY: live slices and out-pointers to locals, or bad pointers on purpose.
    unsafe {
        let mut token = 0u32;
        let st = call_http(unknown, span(&good), b"", 0, &mut token);
        r("httpcall.unknown", st, b"");
        let st = call_http(CLUSTER, span(&nopath), b"", 0, &mut token);
        r("httpcall.nopath", st, b"");
        let st = call_http(CLUSTER, span(&good), b"", u32::MAX, &mut token);
        r("httpcall.negtimeout", st, b"");
        let st = call_http(CLUSTER, (bad().cast_const(), 8), b"", 0, &mut token);
        r("httpcall.badptr", st, b"");
        let st = call_http(CLUSTER, span(&good), b"", 0, bad().cast());
        r("httpcall.badtoken", st, b"");
        let e: &[u8] = b"";
        let st = grpc_open(unknown, e, e, e, Some((e, 0)), &mut token);
        r("grpc.unknown", st, b"");
        r("grpc.cancel.http", proxy_grpc_cancel(4), b"");
        r("grpc.close.missing", proxy_grpc_close(0x7ffd), b"");
        let st = grpc_open(CLUSTER, e, e, e, Some((e, 0)), &mut token);
        r("grpc.call", st, &token.to_le_bytes());
        r("grpc.cancel", proxy_grpc_cancel(token), b"");
        r("grpc.cancel.again", proxy_grpc_cancel(token), b"");
        let mut stream = 0u32;
        let st = grpc_open(unknown, e, e, e, None, &mut stream);
        r("grpcstream.unknown", st, b"");
        let st = grpc_open(CLUSTER, e, e, e, None, &mut stream);
        r("grpcstream", st, &stream.to_le_bytes());
        r(
            "grpc.send",
            proxy_grpc_send(stream, b"m".as_ptr(), 1, 0),
            b"",
        );
        r(
            "grpc.send.call",
            proxy_grpc_send(token, b"m".as_ptr(), 1, 0),
            b"",
        );
        r(
            "grpc.send.badptr",
            proxy_grpc_send(stream, bad(), 4, 0),
            b"",
        );
        r("grpc.close", proxy_grpc_close(stream), b"");
        r(
            "grpc.send.closed",
            proxy_grpc_send(stream, b"m".as_ptr(), 1, 1),
            b"",
        );
        let mut code = 99u32;
        let (st, msg) = out_bytes(|p, n| proxy_get_status(&mut code, p, n));
        r(
            "status",
            st,
            format!("{code} {}", String::from_utf8_lossy(&msg)).as_bytes(),
        );
        let name = b"nosuch";
        let (st, _) = out_bytes(|p, n| {
            proxy_call_foreign_function(name.as_ptr(), name.len(), e.as_ptr(), 0, p, n)
        });
        r("foreign", st, b"");
        let (st, _) = out_bytes(|p, n| proxy_call_foreign_function(bad(), 4, e.as_ptr(), 0, p, n));
        r("foreign.badptr", st, b"");
    }
}
