//! # egress-host: a proxy-wasm host that runs a filter the way Envoy does
//!
//! This crate loads a proxy-wasm filter (`.wasm`, ABI 0.2.1, as the Rust SDK
//! 0.2.5 builds it for `wasm32-wasip1` or `wasm32-unknown-unknown`) into
//! [wasmtime] and drives it through Envoy's callbacks, with Envoy's status
//! codes, so that the real module can be tested and benchmarked without an
//! Envoy binary. It is the local stand-in for an Istio waypoint or sidecar:
//! [`Plugin`] is one WasmPlugin (compiled module plus the shared data and
//! shared queues that all its VMs share), [`Vm`] is one Envoy worker's
//! instance of it, with its own metrics.
//!
//! ```no_run
//! use egress_host::{HostConfig, HttpRequest, Plugin};
//! # fn main() -> Result<(), egress_host::HostError> {
//! let plugin = Plugin::from_file("target/wasm32-wasip1/release/egress_filter.wasm".as_ref(), HostConfig::default())?;
//! let mut vm = plugin.vm()?;
//! assert!(vm.start(b"")?);
//! assert!(vm.configure(br#"{"layer":"http"}"#)?);
//! let out = vm.http(&HttpRequest::new("GET", "httpbin.org", "/get").principal("spiffe://cluster.local/ns/a/sa/b"))?;
//! println!("{} {:?}", out.status, out.local_response);
//! # Ok(()) }
//! ```
//!
//! ## Envoy behaviour this host reproduces
//!
//! Sources are Envoy's `source/extensions/common/wasm/context.cc` and
//! proxy-wasm-cpp-host's `src/exports.cc`, `src/context.cc`, `src/wasm.cc`
//! (read for facts; the code here is ours). Each rule is cited where it is
//! implemented.
//!
//! - **ABI**: every `env.proxy_*` import of ABI 0.2.1 (logging, log level,
//!   header maps, buffers, properties, local responses, stream control,
//!   shared data with CAS, shared queues, tick and time, metrics, HTTP and
//!   gRPC calls, status, effective context, `proxy_done`, foreign functions),
//!   plus every WASI preview1 function Envoy links (both
//!   `wasi_snapshot_preview1` and `wasi_unstable`) and the two emscripten
//!   stubs. Imports Envoy does not provide for ABI 0.2.x (e.g.
//!   `proxy_continue_request`) make instantiation fail, as in Envoy.
//! - **Status codes**: out-of-range enums are BAD_ARGUMENT before memory is
//!   read; out-of-bounds guest ranges are INVALID_MEMORY_ACCESS; missing
//!   keys are NOT_FOUND. An unavailable header map is BAD_ARGUMENT for
//!   `get_header_map_value` (NOT_FOUND in `on_log`) and for every write, but
//!   OK with no pairs for `get_header_map_pairs`. A body or data buffer
//!   outside its callback reads as empty (OK) and refuses writes
//!   (BAD_ARGUMENT); the plugin configuration is readable only in
//!   `on_configure` (and the root's `on_context_create`), NOT_FOUND
//!   elsewhere. `get_header_map_value` returns only the first of repeated
//!   headers. Request headers stop being readable once the filter lets the
//!   request continue (so `on_response_headers` cannot read them), but stay
//!   readable while it pauses the request (e.g. for its own local reply).
//!   Trailer maps are the filter's in their own callback (until it returns
//!   Continue); in the last data callback (no trailers coming) a write
//!   creates them (`addDecodedTrailers`), and they go on without a trailers
//!   callback; in `on_log` request trailers are NOT_FOUND and response
//!   trailers are the ones the client got. The gRPC metadata maps and the
//!   GRPC_RECEIVE_BUFFER exist only while their callback runs (the maps are
//!   never writable; the buffer is). A body buffer while the filter buffers
//!   (StopIterationAndBuffer) is everything buffered so far.
//! - **Properties**: `request.*`, `response.*`, `source.*`,
//!   `destination.*`, `connection.*`, `connection_id`, `filter_state.*`,
//!   `plugin_name`/`plugin_root_id`/`plugin_vm_id` and `xds.*` (from
//!   [`Plugin::with_properties`]), encoded as Envoy encodes them
//!   ([`properties`]); an unknown top-level name falls back to filter state
//!   `wasm.<name>`; `proxy_set_property` stores under `wasm.<path>` and
//!   needs a stream (NOT_FOUND in the root context).
//! - **Metrics** with Envoy's ids (kind in the low two bits) and semantics:
//!   a counter increment must be positive, `record` adds to a counter, sets
//!   a gauge, samples a histogram; two definitions of one name share a stat.
//! - **Lifecycle** in Envoy's order (see [`vm`]): `_initialize` (+`main`)
//!   with only logging and WASI allowed; root `on_context_create`,
//!   `on_vm_start`, `on_configure`; per HTTP stream `on_context_create`,
//!   `on_request_headers`, `on_request_body` (per chunk),
//!   `on_request_trailers`, `on_response_headers`, `on_response_body`,
//!   `on_response_trailers`, `on_log`, `on_done`, `on_delete`; per
//!   connection `on_new_connection`, data, close, `on_done`, `on_log`,
//!   `on_delete`. A local response stops the request path and goes back
//!   through the filter's `on_response_headers`. Several streams can be in
//!   flight ([`Vm::http_start`]); HTTP calls and gRPC calls and streams are
//!   answered by the test ([`Vm::answer_http_call`], [`Vm::grpc_message`]).
//! - **Bodies and trailers**: a body can arrive in chunks
//!   ([`HttpRequest::with_body_chunks`], [`UpstreamResponse::with_body_chunks`]),
//!   one data callback each, `end_of_stream` only on the last and never
//!   when trailers follow. Around the callbacks the host keeps Envoy's
//!   buffers: after StopIterationAndBuffer (1, the SDK's Pause) the next
//!   chunk joins the buffered data and the callback gets, reads and writes
//!   all of it (so do other callbacks, through the effective context);
//!   StopIterationAndWatermark (2) holds data but shows each chunk alone;
//!   StopIterationNoBuffer (3, anything higher, or a local response) drops
//!   the chunk; Continue passes on what was held, then the chunk. Data held
//!   when the input ends waits for `proxy_continue_stream`. A pause at the
//!   headers (StopAllIteration for ABI 0.2.x) hands the body over as one
//!   data callback when the filter continues; 2 (ContinueAndEndStream) from
//!   a headers callback is Continue, as Envoy maps it. A trailers callback
//!   returning anything but Continue stops until `proxy_continue_stream`.
//! - **gRPC** ([`Vm::pending_grpc_calls`]): calls and streams belong to the
//!   root context, so every gRPC callback goes to it. A stream gets
//!   `on_grpc_receive_initial_metadata`, `on_grpc_receive`,
//!   `on_grpc_receive_trailing_metadata` and `on_grpc_close` as the test
//!   delivers them; a unary call only its outcome (`on_grpc_receive` for a
//!   message and status OK, else `on_grpc_close`, INTERNAL if OK came
//!   without a message). `proxy_get_status` reports the close status (the
//!   code persists, the message does not). `proxy_grpc_send` after the
//!   filter's side closed is a no-op; `proxy_grpc_close` half-closes a
//!   stream (forgotten once the remote end closed too) and cancels a call;
//!   `proxy_grpc_cancel` forgets either at once.
//! - **Before the filter**: the connection manager's path normalization
//!   (Istio's BASE by default; [`PathNormalization`]), rejection of
//!   fragments, lower-case methods and (with normalization on) `%00` with
//!   400, a missing Host with 400, and `Host` turned into `:authority`, a
//!   second Host appended with `,` as Envoy's header map does (module
//!   `http`). The normalized path is what the filter sees and what goes
//!   upstream. Rejected requests never reach the filter.
//! - **Time and events**: `proxy_on_tick` when a period is set
//!   ([`Vm::tick`]); the clock can be pinned ([`Vm::set_time`]); shared
//!   queue readiness reaches the registering root between callbacks;
//!   `proxy_on_done` returning false delays `proxy_on_delete` until
//!   `proxy_done` ([`Vm::shutdown`]).
//! - **Safety**: one bounds-checked helper for guest memory (module `memory`); a
//!   trap becomes [`HostError`] carrying the guest's last log lines, never a
//!   host panic; the VM is poisoned afterwards; an epoch deadline (and
//!   optional fuel) stops runaway guests; a memory limit caps linear memory.
//!
//! ## Deliberate differences from Envoy
//!
//! - The connection manager does not add `x-forwarded-proto`,
//!   `x-request-id`, `x-envoy-*` or `date`/`server` headers, and the router
//!   is a single simulated upstream ([`Vm::set_upstream_response`]).
//! - `xds.node` is a property tree, not a serialized protobuf: reading
//!   `xds.node` as a whole gives pairs, not protobuf bytes.
//! - A stream's input is all there when it starts (headers, every body
//!   chunk, trailers): chunks reach the filter back to back, so a filter
//!   that pauses at the headers always gets the whole body in one data
//!   callback, as if the client had sent it all before the filter went on.
//! - Buffered body data has no limit: Envoy answers 413 (request) or 500
//!   (response) once it exceeds the buffer limit; this host keeps buffering.
//!   The host adds no framing header for trailers (`content-length` is
//!   still derived from the body unless the test sets one).
//! - gRPC: the ABI's `grpc_service` is always a cluster name (Envoy first
//!   tries to parse it as a serialized `GrpcService`); a call's timeout is
//!   recorded but never fires, and nothing closes a call or stream unless
//!   the test or the filter does.
//! - No foreign functions are registered (NOT_FOUND); the
//!   FOREIGN_FUNCTION_ARGUMENTS buffer reads as empty.
//! - `random_get` uses the standard library's randomly keyed hasher, not a
//!   cryptographic generator.
//! - WASI signatures follow the preview1 witx even where cpp-host declares
//!   fewer parameters (`path_link`, `path_symlink`).
//! - A paused stream nobody resumes ends with the connection manager's 408
//!   (stream idle timeout) when the test finishes it.
//! - Metrics are per VM (Envoy sums a stat over all workers of the process),
//!   so a test sees exactly what one VM counted.
//! - Module compilation is cached per process, keyed by the module bytes.
//! - With normalization off (NONE), `%00` in a path reaches the filter:
//!   Envoy only rejects it inside `canonicalPath`. The project's reference
//!   (`egress-semantics.md` §(b)4) says "always"; Envoy's code says otherwise.
//!
//! ## Lower-level API
//!
//! [`Vm::http`] and [`Vm::connection`] run one whole stream. For several
//! streams in flight, HTTP calls, gRPC calls and data in both directions
//! use [`Vm::http_start`] / [`Vm::http_finish`], [`Vm::pending_http_calls`]
//! / [`Vm::answer_http_call`] / [`Vm::fail_http_call`],
//! [`Vm::pending_grpc_calls`] / [`Vm::grpc_initial_metadata`] /
//! [`Vm::grpc_message`] / [`Vm::grpc_trailing_metadata`] /
//! [`Vm::grpc_remote_close`] / [`Vm::answer_grpc_call`], and
//! [`Vm::tcp_start`] / [`Vm::tcp_downstream_data`] /
//! [`Vm::tcp_upstream_data`] / [`Vm::tcp_close`].
//!
//! ## Tests and benchmark
//!
//! `tests/probe` (package `probe-filter`) is a filter written against the
//! raw imports that calls every ABI function, with good and bad arguments,
//! in every callback and logs what it got; `host/tests/` checks each record
//! against Envoy's behaviour for both wasm targets (build them with
//! `make wasm`), plus hand-written `.wat` modules for what a Rust filter
//! cannot express. `cargo run --release -p egress-host --example bench`
//! measures the per-request cost through one VM.

mod abi;
mod engine;
mod error;
mod http;
mod imports;
mod memory;
pub mod normalize;
pub mod pairs;
pub mod properties;
mod shared;
mod state;
mod types;
pub mod vm;
mod wasi;

pub use abi::{Action, LogLevel, MetricKind, PeerType, Status};
pub use error::HostError;
pub use normalize::{PathNormalization, UnknownNormalization, normalize_path};
pub use properties::{Properties, Value};
pub use types::{
    Connection, ConnectionOutcome, GrpcCall, Headers, HttpCall, HttpCallResponse, HttpOutcome,
    HttpRequest, LocalResponse, LogLine, Metric, StreamId, UpstreamResponse,
};
pub use vm::{HostConfig, Plugin, Vm};
