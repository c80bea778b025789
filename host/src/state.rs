//! Host state: what Envoy keeps per VM (`Wasm`) and per context
//! (`Context`), and the rules that decide which header map or buffer a
//! host call can reach in which callback. Every rule cites the Envoy
//! function it reproduces (`source/extensions/common/wasm/context.cc`
//! unless said otherwise).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use egress_abi::{AbiResult, BufferType, LogLevel, MapType, Status, StreamType};
use wasmtime::{Memory, StoreLimits, TypedFunc};

use crate::properties::{self, Properties};
use crate::shared::{Inbox, MetricIds, Metrics, Services};
use crate::types::{GrpcCall, Headers, HttpCall, HttpCallResponse, LocalResponse, LogLine};

/// The id Envoy gives the VM context (used for `_initialize` and the allocator).
pub(crate) const VM_CONTEXT: u32 = 0;
/// The id of the (single) root context: the first id `allocContextId` issues.
pub(crate) const ROOT_CONTEXT: u32 = 1;

/// Hashes a context id (or any small key) with one multiplication: the
/// per-VM maps are keyed by ids the host issues itself, so SipHash's
/// protection against chosen keys buys nothing and costs a few percent of
/// a request.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map keyed by context id.
pub(crate) type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// Names and plugin-wide values: what Envoy's `Plugin` carries.
#[derive(Debug, Clone)]
pub(crate) struct PluginInfo {
    pub(crate) name: String,
    pub(crate) root_id: String,
    pub(crate) vm_id: String,
    pub(crate) properties: Properties,
    pub(crate) envs: Vec<(String, String)>,
}

impl Default for PluginInfo {
    fn default() -> Self {
        let mut properties = Properties::new();
        // What `xds.node` looks like in an Istio waypoint (a protobuf in Envoy;
        // here a tree, so `xds.node` as a whole reads as a map).
        properties
            .set(
                &["xds", "node", "id"],
                "waypoint~10.244.0.9~egress-waypoint-5d9c7b-x2k4p.egress~egress.svc.cluster.local",
            )
            .set(&["xds", "node", "cluster"], "egress-waypoint.egress")
            .set(&["xds", "node", "metadata", "NAMESPACE"], "egress")
            .set(&["xds", "node", "metadata", "CLUSTER_ID"], "Kubernetes")
            .set(
                &["xds", "node", "metadata", "NAME"],
                "egress-waypoint-5d9c7b-x2k4p",
            );
        Self {
            name: "egress".into(),
            root_id: String::new(),
            vm_id: String::new(),
            properties,
            envs: Vec::new(),
        }
    }
}

/// Host calls that are allowed while the guest runs `_initialize`/`main`
/// or the allocator; anything else traps, as V8 does in Envoy
/// (cpp-host `WasmBase::startVm` and `allocMemory` call
/// `setRestrictedCallback`; `v8.cc` traps with "restricted_callback").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restrict {
    None,
    Start,
    Alloc,
}

impl Restrict {
    pub(crate) fn allows(self, name: &str) -> bool {
        match self {
            Self::None => true,
            Self::Alloc => matches!(
                name,
                "env.proxy_log"
                    | "wasi_unstable.fd_write"
                    | "wasi_snapshot_preview1.fd_write"
                    | "wasi_unstable.clock_time_get"
                    | "wasi_snapshot_preview1.clock_time_get"
                    | "wasi_unstable.poll_oneoff"
                    | "wasi_snapshot_preview1.poll_oneoff"
            ),
            // startVm allows proxy_log, emscripten_notify_memory_growth and
            // every WASI function except fd_read, fd_seek, fd_close,
            // sched_yield, proc_exit and path_open.
            Self::Start => {
                name == "env.proxy_log"
                    || name == "env.emscripten_notify_memory_growth"
                    || name
                        .strip_prefix("wasi_unstable.")
                        .or_else(|| name.strip_prefix("wasi_snapshot_preview1."))
                        .is_some_and(|f| {
                            !matches!(
                                f,
                                "fd_read"
                                    | "fd_seek"
                                    | "fd_close"
                                    | "sched_yield"
                                    | "proc_exit"
                                    | "path_open"
                            )
                        })
            }
        }
    }
}

/// Work Envoy defers until the current VM call returns
/// (`addAfterVmCallAction`).
#[derive(Debug, Clone)]
pub(crate) enum After {
    LocalReply { ctx: u32, reply: LocalResponse },
    Continue { ctx: u32, ty: StreamType },
    Close { ctx: u32 },
    DeleteRoot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Http,
    Tcp,
}

/// A direction of an HTTP stream: the request (decoding) or the response
/// (encoding) path, which Envoy's wasm context handles alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Request,
    Response,
}

/// One direction's body as Envoy's wasm context and filter manager hold it
/// for the filter (`Context::decodeData`/`encodeData`, `getBuffer`).
#[derive(Debug, Default)]
pub(crate) struct Body {
    /// The data of the current (or last stopped) data callback.
    pub(crate) chunk: Vec<u8>,
    /// `request_body_buffer_ != nullptr`: set for a data callback, cleared
    /// when it returns Continue or by `proxy_continue_stream`.
    pub(crate) live: bool,
    /// `buffering_request_body_`: the last data callback returned
    /// StopIterationAndBuffer, so the body buffer is the filter manager's
    /// buffered data (and the next chunk is added to it before the call).
    pub(crate) buffering: bool,
    /// The filter manager's buffered data for this filter (`bufferedData()`).
    pub(crate) buffered: Option<Vec<u8>>,
    /// Body bytes received so far (stream info's bytes received or sent).
    pub(crate) received: u64,
}

impl Body {
    /// `getBuffer(HttpRequestBody)`: while buffering, the buffered data
    /// (`modifyDecodingBuffer`); otherwise the current chunk, or an empty
    /// buffer when there is none.
    pub(crate) fn view(&self) -> &[u8] {
        match &self.buffered {
            Some(b) if self.buffering => b,
            _ if self.live => &self.chunk,
            _ => &[],
        }
    }

    /// The same buffer for a write; `None` when Envoy has no buffer
    /// instance behind it (writes are BAD_ARGUMENT).
    pub(crate) fn view_mut(&mut self) -> Option<&mut Vec<u8>> {
        match &mut self.buffered {
            Some(b) if self.buffering => Some(b),
            _ if self.live => Some(&mut self.chunk),
            _ => None,
        }
    }
}

/// Addresses and TLS facts of the downstream connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Peer {
    pub(crate) source: Option<SocketAddr>,
    pub(crate) destination: Option<SocketAddr>,
    pub(crate) sni: Vec<u8>,
    pub(crate) connection_id: u64,
}

/// One stream context (HTTP stream or TCP connection): what Envoy's
/// `Context` points at while a callback runs.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) kind: Kind,
    /// `in_vm_context_created_`.
    pub(crate) created: bool,
    pub(crate) req_headers: Headers,
    /// `request_headers_ != nullptr`: set in decodeHeaders, cleared when the
    /// filter continues (or calls `proxy_continue_stream`).
    pub(crate) req_headers_live: bool,
    /// The request trailers (the client's, or added by the filter).
    pub(crate) req_trailers: Option<Headers>,
    /// `request_trailers_ != nullptr`.
    pub(crate) req_trailers_live: bool,
    pub(crate) req_body: Body,
    pub(crate) resp_headers: Option<Headers>,
    pub(crate) resp_headers_live: bool,
    pub(crate) resp_trailers: Option<Headers>,
    /// `response_trailers_ != nullptr`.
    pub(crate) resp_trailers_live: bool,
    pub(crate) resp_body: Body,
    /// `end_of_stream_` of the last data callback.
    pub(crate) end_of_stream: bool,
    /// `access_log_phase_`: true while `proxy_on_log` runs.
    pub(crate) access_log: bool,
    pub(crate) down_data: Vec<u8>,
    pub(crate) down_live: bool,
    pub(crate) up_data: Vec<u8>,
    pub(crate) up_live: bool,
    pub(crate) props: Properties,
    pub(crate) fs_writes: BTreeMap<String, Vec<u8>>,
    pub(crate) peer: Peer,
    pub(crate) start: SystemTime,
    pub(crate) response_code: Option<u16>,
    pub(crate) details: String,
    pub(crate) log_seq: u64,
}

impl Stream {
    pub(crate) fn new(
        kind: Kind,
        props: Properties,
        peer: Peer,
        start: SystemTime,
        log_seq: u64,
    ) -> Self {
        Self {
            kind,
            created: false,
            req_headers: Vec::new(),
            req_headers_live: false,
            req_trailers: None,
            req_trailers_live: false,
            req_body: Body::default(),
            resp_headers: None,
            resp_headers_live: false,
            resp_trailers: None,
            resp_trailers_live: false,
            resp_body: Body::default(),
            end_of_stream: false,
            access_log: false,
            down_data: Vec::new(),
            down_live: false,
            up_data: Vec::new(),
            up_live: false,
            props,
            fs_writes: BTreeMap::new(),
            peer,
            start,
            response_code: None,
            details: String::new(),
            log_seq,
        }
    }

    /// The body of one direction.
    pub(crate) fn body_mut(&mut self, dir: Dir) -> &mut Body {
        match dir {
            Dir::Request => &mut self.req_body,
            Dir::Response => &mut self.resp_body,
        }
    }

    /// The trailers of one direction and whether the filter can reach them.
    pub(crate) fn trailers_mut(&mut self, dir: Dir) -> (&mut Option<Headers>, &mut bool) {
        match dir {
            Dir::Request => (&mut self.req_trailers, &mut self.req_trailers_live),
            Dir::Response => (&mut self.resp_trailers, &mut self.resp_trailers_live),
        }
    }
}

/// The wall clock the guest reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    Real,
    Fixed(SystemTime),
}

impl Clock {
    pub(crate) fn now(self) -> SystemTime {
        match self {
            Self::Real => SystemTime::now(),
            Self::Fixed(t) => t,
        }
    }
}

/// An open gRPC call or stream: what Envoy's `GrpcCallClientHandler` /
/// `GrpcStreamClientHandler` keep.
#[derive(Debug, Clone)]
pub(crate) struct GrpcOpen {
    pub(crate) call: GrpcCall,
    /// `local_closed_`: the filter called `proxy_grpc_close` on the stream.
    pub(crate) local_closed: bool,
    /// `remote_closed_`: the remote end closed the stream.
    pub(crate) remote_closed: bool,
    /// A unary call's response message (`AsyncRequestImpl::response_`).
    pub(crate) response: Option<Vec<u8>>,
}

/// Host-side state of one VM (the `Store` data).
pub(crate) struct HostState {
    pub(crate) limits: StoreLimits,
    pub(crate) memory: Option<Memory>,
    pub(crate) alloc: Option<TypedFunc<i32, i32>>,
    pub(crate) services: Arc<Services>,
    pub(crate) plugin: Arc<PluginInfo>,
    pub(crate) capture_logs: bool,
    pub(crate) vm_config: Vec<u8>,
    pub(crate) plugin_config: Vec<u8>,
    /// `temp_plugin_` is set: the plugin configuration is readable.
    pub(crate) temp_plugin: bool,
    pub(crate) restrict: Restrict,
    pub(crate) current: u32,
    pub(crate) effective: u32,
    pub(crate) root_created: bool,
    pub(crate) streams: IdMap<Stream>,
    pub(crate) after: Vec<After>,
    /// `stopNextIteration(true)` was called (by `proxy_send_local_response`).
    pub(crate) stop_iteration: bool,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) log_seq_base: u64,
    pub(crate) recent: VecDeque<LogLine>,
    pub(crate) metric_ids: MetricIds,
    pub(crate) metrics: Metrics,
    pub(crate) http_calls: BTreeMap<u32, HttpCall>,
    pub(crate) next_http_call: u32,
    pub(crate) next_grpc_call: u32,
    pub(crate) next_grpc_stream: u32,
    /// Open gRPC calls and streams (`grpc_call_request_`, `grpc_stream_`).
    pub(crate) grpc: BTreeMap<u32, GrpcOpen>,
    /// `grpc_receive_initial_metadata_` while `on_grpc_receive_initial_metadata` runs.
    pub(crate) grpc_initial: Option<Headers>,
    /// `grpc_receive_trailing_metadata_` while `on_grpc_receive_trailing_metadata` runs.
    pub(crate) grpc_trailing: Option<Headers>,
    /// `grpc_receive_buffer_` while `on_grpc_receive` runs.
    pub(crate) grpc_message: Option<Vec<u8>>,
    pub(crate) http_call_response: Option<HttpCallResponse>,
    pub(crate) status: (u32, Vec<u8>),
    pub(crate) inbox: Inbox,
    /// This VM registered a shared queue, so readiness can arrive in its
    /// inbox (only a queue's owner is told of it).
    pub(crate) owns_queue: bool,
    pub(crate) scratch: Vec<u8>,
    pub(crate) clock: Clock,
    pub(crate) log_level: LogLevel,
    pub(crate) tick_period_ms: u32,
    pub(crate) root_pending_done: bool,
    pub(crate) clusters: HashSet<Vec<u8>>,
    pub(crate) next_context: u32,
    pub(crate) next_connection_id: u64,
}

/// How many recent log lines a trap error carries.
const RECENT_LOGS: usize = 8;
/// The VM's log buffer is trimmed by half when it reaches this many lines.
const MAX_LOGS: usize = 200_000;

impl HostState {
    pub(crate) fn new(
        services: Arc<Services>,
        plugin: Arc<PluginInfo>,
        limits: StoreLimits,
        capture_logs: bool,
    ) -> Self {
        Self {
            limits,
            memory: None,
            alloc: None,
            services,
            plugin,
            capture_logs,
            vm_config: Vec::new(),
            plugin_config: Vec::new(),
            temp_plugin: false,
            restrict: Restrict::None,
            current: VM_CONTEXT,
            effective: 0,
            root_created: false,
            streams: IdMap::default(),
            after: Vec::new(),
            stop_iteration: false,
            logs: Vec::new(),
            log_seq_base: 0,
            recent: VecDeque::with_capacity(RECENT_LOGS),
            metric_ids: MetricIds::default(),
            metrics: Metrics::default(),
            http_calls: BTreeMap::new(),
            next_http_call: 0,
            next_grpc_call: 1,
            next_grpc_stream: 2,
            grpc: BTreeMap::new(),
            grpc_initial: None,
            grpc_trailing: None,
            grpc_message: None,
            http_call_response: None,
            status: (0, Vec::new()),
            inbox: Inbox::default(),
            owns_queue: false,
            scratch: Vec::new(),
            clock: Clock::Real,
            log_level: LogLevel::Info,
            tick_period_ms: 0,
            root_pending_done: false,
            clusters: HashSet::new(),
            next_context: ROOT_CONTEXT + 1,
            next_connection_id: 1,
        }
    }

    /// `contextOrEffectiveContext()`: the effective context if it still
    /// exists, else the current one.
    pub(crate) fn ctx(&self) -> u32 {
        if self.effective != 0 && self.context_exists(self.effective) {
            self.effective
        } else {
            self.current
        }
    }

    pub(crate) fn context_exists(&self, id: u32) -> bool {
        id == VM_CONTEXT
            || (id == ROOT_CONTEXT && self.root_created)
            || self.streams.contains_key(&id)
    }

    /// Opens a stream context with the next context id, on a new
    /// downstream connection (`peer`, given the id, gets the connection's).
    pub(crate) fn open_stream(
        &mut self,
        kind: Kind,
        props: Properties,
        peer: impl FnOnce(u32) -> Peer,
    ) -> u32 {
        let ctx = self.next_context;
        self.next_context += 1;
        let peer = Peer {
            connection_id: self.next_connection_id,
            ..peer(ctx)
        };
        self.next_connection_id += 1;
        let stream = Stream::new(kind, props, peer, self.clock.now(), self.log_seq());
        self.streams.insert(ctx, stream);
        ctx
    }

    pub(crate) fn stream(&self, id: u32) -> Option<&Stream> {
        self.streams.get(&id)
    }

    pub(crate) fn stream_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.get_mut(&id)
    }

    /// The sequence number the next log line gets.
    pub(crate) fn log_seq(&self) -> u64 {
        self.log_seq_base + self.logs.len() as u64
    }

    /// Records a log line (always in the recent ring; in the VM's log if
    /// capture is on).
    pub(crate) fn log(&mut self, level: LogLevel, msg: &[u8]) {
        let text = String::from_utf8_lossy(msg);
        if self.recent.len() == RECENT_LOGS
            && let Some(mut old) = self.recent.pop_front()
        {
            old.level = level;
            old.message.clear();
            old.message.push_str(&text);
            self.recent.push_back(old);
        } else {
            self.recent.push_back(LogLine {
                level,
                message: text.to_string(),
            });
        }
        if self.capture_logs {
            if self.logs.len() >= MAX_LOGS {
                let half = MAX_LOGS / 2;
                self.logs.drain(..half);
                self.log_seq_base += half as u64;
            }
            self.logs.push(LogLine {
                level,
                message: text.into_owned(),
            });
        }
    }

    /// The lines logged since sequence number `seq`.
    pub(crate) fn logs_since(&self, seq: u64) -> Vec<LogLine> {
        let skip = usize::try_from(seq.saturating_sub(self.log_seq_base)).unwrap_or(usize::MAX);
        self.logs
            .get(skip..)
            .map(<[LogLine]>::to_vec)
            .unwrap_or_default()
    }

    // ---- header maps -------------------------------------------------------

    /// `Context::getConstMap`: the map a read (`get_header_map_value`,
    /// `get_header_map_pairs`) sees. In the access-log phase the request and
    /// response headers are the logged ones and request trailers are absent.
    pub(crate) fn map_for_read(&self, ctx: u32, ty: MapType) -> Option<&Headers> {
        match ty {
            MapType::HttpCallResponseHeaders => {
                self.http_call_response.as_ref().map(|r| &r.headers)
            }
            MapType::HttpCallResponseTrailers => self
                .http_call_response
                .as_ref()
                .map(|r| &r.trailers)
                .filter(|t| !t.is_empty()),
            // `rootContext()->grpc_receive_*_metadata_`: set only while the
            // matching callback runs, whatever the effective context.
            MapType::GrpcReceiveInitialMetadata => self.grpc_initial.as_ref(),
            MapType::GrpcReceiveTrailingMetadata => self.grpc_trailing.as_ref(),
            _ => {
                let s = self.streams.get(&ctx).filter(|s| s.kind == Kind::Http)?;
                match ty {
                    MapType::RequestHeaders if s.access_log => Some(&s.req_headers),
                    MapType::RequestHeaders => s.req_headers_live.then_some(&s.req_headers),
                    MapType::RequestTrailers if s.access_log => None,
                    MapType::RequestTrailers => {
                        s.req_trailers.as_ref().filter(|_| s.req_trailers_live)
                    }
                    MapType::ResponseHeaders if s.access_log => s.resp_headers.as_ref(),
                    MapType::ResponseHeaders => {
                        s.resp_headers.as_ref().filter(|_| s.resp_headers_live)
                    }
                    // `access_log_response_trailers_`: the trailers the client got.
                    MapType::ResponseTrailers if s.access_log => s.resp_trailers.as_ref(),
                    MapType::ResponseTrailers => {
                        s.resp_trailers.as_ref().filter(|_| s.resp_trailers_live)
                    }
                    _ => None,
                }
            }
        }
    }

    /// Whether a read of an absent map happens in the access-log phase (then
    /// `get_header_map_value` answers NOT_FOUND instead of BAD_ARGUMENT).
    pub(crate) fn in_access_log(&self, ctx: u32) -> bool {
        self.streams.get(&ctx).is_some_and(|s| s.access_log)
    }

    /// `Context::getMap`: the map a write (add, replace, remove, set pairs,
    /// size) reaches. Only the live request/response maps (never the gRPC or
    /// HTTP-call ones); trailers are created on demand in the last data
    /// callback (`request_trailers_ == nullptr && request_body_buffer_ &&
    /// end_of_stream_`: `addDecodedTrailers`/`addEncodedTrailers`).
    pub(crate) fn map_for_write(&mut self, ctx: u32, ty: MapType) -> Option<&mut Headers> {
        let s = self
            .streams
            .get_mut(&ctx)
            .filter(|s| s.kind == Kind::Http)?;
        let dir = match ty {
            MapType::RequestHeaders => return s.req_headers_live.then_some(&mut s.req_headers),
            MapType::ResponseHeaders => {
                return match &mut s.resp_headers {
                    Some(h) if s.resp_headers_live => Some(h),
                    _ => None,
                };
            }
            MapType::RequestTrailers => Dir::Request,
            MapType::ResponseTrailers => Dir::Response,
            _ => return None,
        };
        let can_add = s.body_mut(dir).live && s.end_of_stream;
        let (trailers, live) = s.trailers_mut(dir);
        if !*live && can_add {
            trailers.get_or_insert_with(Vec::new);
            *live = true;
        }
        if *live { trailers.as_mut() } else { None }
    }

    // ---- buffers -----------------------------------------------------------

    /// `Context::getBuffer` for reading: `None` is Envoy's nullptr
    /// (NOT_FOUND); a body or data buffer outside its callback is an empty
    /// buffer, not an absent one.
    pub(crate) fn buffer_for_read(&self, ctx: u32, ty: BufferType) -> Option<&[u8]> {
        let stream = self.streams.get(&ctx);
        match ty {
            BufferType::VmConfiguration => Some(&self.vm_config),
            BufferType::PluginConfiguration => {
                self.temp_plugin.then_some(self.plugin_config.as_slice())
            }
            BufferType::HttpCallResponseBody => {
                self.http_call_response.as_ref().map(|r| r.body.as_slice())
            }
            BufferType::CallData => Some(&[]),
            // `rootContext()->grpc_receive_buffer_`: the message while
            // `on_grpc_receive` runs, an empty buffer otherwise.
            BufferType::GrpcReceiveBuffer => Some(self.grpc_message.as_deref().unwrap_or_default()),
            BufferType::RequestBody => Some(stream.map_or(&[][..], |s| s.req_body.view())),
            BufferType::ResponseBody => Some(stream.map_or(&[][..], |s| s.resp_body.view())),
            BufferType::DownstreamData => Some(
                stream
                    .filter(|s| s.down_live)
                    .map_or(&[][..], |s| &s.down_data),
            ),
            BufferType::UpstreamData => {
                Some(stream.filter(|s| s.up_live).map_or(&[][..], |s| &s.up_data))
            }
        }
    }

    /// `Buffer::copyFrom` (Envoy's newest rules): start 0 replaces the first
    /// `length` bytes with `data`; start at or past the end appends;
    /// anything else, and any buffer without an Envoy buffer instance behind
    /// it (a body outside its callback, configurations, an HTTP call's
    /// response), is BAD_ARGUMENT. An absent buffer is NOT_FOUND.
    pub(crate) fn buffer_write(
        &mut self,
        ctx: u32,
        ty: BufferType,
        start: u32,
        length: u32,
        data: &[u8],
    ) -> AbiResult {
        self.buffer_for_read(ctx, ty).ok_or(Status::NOT_FOUND)?;
        let buf = if ty == BufferType::GrpcReceiveBuffer {
            // The received message is a mutable buffer instance.
            self.grpc_message.as_mut()
        } else {
            let s = self.streams.get_mut(&ctx).ok_or(Status::BAD_ARGUMENT)?;
            match ty {
                BufferType::RequestBody => s.req_body.view_mut(),
                BufferType::ResponseBody => s.resp_body.view_mut(),
                BufferType::DownstreamData if s.down_live => Some(&mut s.down_data),
                BufferType::UpstreamData if s.up_live => Some(&mut s.up_data),
                _ => None,
            }
        };
        let buf = buf.ok_or(Status::BAD_ARGUMENT)?;
        let start = start as usize;
        if start == 0 {
            let n = (length as usize).min(buf.len());
            buf.splice(..n, data.iter().copied());
            Ok(())
        } else if start >= buf.len() {
            buf.extend_from_slice(data);
            Ok(())
        } else {
            Err(Status::BAD_ARGUMENT)
        }
    }
}

/// Time as the guest reads it.
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    u64::try_from(properties::unix_nanos(t)).unwrap_or(0)
}

/// Duration helper for tick periods.
pub(crate) fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_phases() {
        assert!(Restrict::None.allows("env.proxy_get_property"));
        assert!(Restrict::Start.allows("env.proxy_log"));
        assert!(Restrict::Start.allows("wasi_snapshot_preview1.fd_write"));
        assert!(Restrict::Start.allows("wasi_unstable.random_get"));
        assert!(!Restrict::Start.allows("wasi_snapshot_preview1.proc_exit"));
        assert!(!Restrict::Start.allows("wasi_snapshot_preview1.sched_yield"));
        assert!(!Restrict::Start.allows("env.proxy_get_property"));
        assert!(!Restrict::Start.allows("env.pthread_equal"));
        assert!(Restrict::Alloc.allows("wasi_snapshot_preview1.clock_time_get"));
        assert!(!Restrict::Alloc.allows("wasi_snapshot_preview1.random_get"));
    }
}
