//! The host's public data: what a test hands to the host (a request,
//! a connection, answers to HTTP calls) and what it gets back (outcomes, logs,
//! metrics).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use egress_abi::{Action, LogLevel, MetricKind};

use crate::properties::{Properties, Value};

/// A header list: `(name, value)` in order, duplicates allowed, values are
/// arbitrary bytes.
pub type Headers = Vec<(Vec<u8>, Vec<u8>)>;

/// One HTTP request as a client sends it (HTTP/1.1 semantics).
///
/// `authority` is what the client put in the `Host` header; further `host`
/// headers in `headers` are extra `Host` lines. The host turns them into
/// `:authority` as Envoy's header map does (see [`crate::Vm::http`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpRequest {
    /// `GET`, `POST`, … exactly as sent (lower-case methods are refused with 400).
    pub method: Vec<u8>,
    /// `http` or `https`: what Envoy puts in `:scheme`.
    pub scheme: Vec<u8>,
    /// The `Host` header value, if the client sent one.
    pub authority: Option<Vec<u8>>,
    /// The request target as sent (normalized by the host before the filter
    /// sees it). Empty for `CONNECT`.
    pub path: Vec<u8>,
    /// Extra headers in order.
    pub headers: Headers,
    /// The request body, if any (all of it, however it is split).
    pub body: Option<Vec<u8>>,
    /// How the body arrives: the sizes of its chunks in order, each one
    /// `decodeData` call in Envoy (and one `proxy_on_request_body`, unless
    /// the filter stopped all iteration at the headers). Empty: the whole
    /// body in one chunk. Bytes the sizes leave over arrive as a last chunk;
    /// sizes that add up to more than the body are a usage error.
    pub body_chunks: Vec<usize>,
    /// Request trailers, if the client sends any (HTTP/2, or chunked
    /// HTTP/1.1): they end the stream, so no body chunk has `end_of_stream`.
    /// Names are lower-cased as Envoy's codec does. The host adds no
    /// framing header for them (`content-length` is still derived from the
    /// body unless the test sets `content-length` or `transfer-encoding`).
    pub trailers: Option<Headers>,
    /// Properties merged over the ones the host derives.
    pub properties: Properties,
}

impl HttpRequest {
    /// `method` `http://authority` `path`.
    pub fn new(method: &str, authority: &str, path: &str) -> Self {
        Self {
            method: method.as_bytes().to_vec(),
            scheme: b"http".to_vec(),
            authority: Some(authority.as_bytes().to_vec()),
            path: path.as_bytes().to_vec(),
            ..Self::default()
        }
    }

    /// Sets `:scheme`.
    #[must_use]
    pub fn with_scheme(mut self, scheme: &str) -> Self {
        self.scheme = scheme.as_bytes().to_vec();
        self
    }

    /// Drops the `Host` header (the authority).
    #[must_use]
    pub fn without_authority(mut self) -> Self {
        self.authority = None;
        self
    }

    /// The TLS SNI of the downstream connection (`connection.requested_server_name`).
    #[must_use]
    pub fn sni(self, sni: &str) -> Self {
        self.property(&["connection", "requested_server_name"], sni)
    }
}

/// One TCP connection as a network filter sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Connection {
    /// TLS SNI (`connection.requested_server_name`); `None` reads as an empty string, as in Envoy.
    pub sni: Option<Vec<u8>>,
    /// The address the client connected to (`destination.address`, `destination.port`).
    pub destination: Option<SocketAddr>,
    /// The client's address (`source.address`, `source.port`).
    pub source: Option<SocketAddr>,
    /// What the client sends before closing.
    pub downstream_data: Vec<u8>,
    /// Properties merged over the ones the host derives.
    pub properties: Properties,
}

impl Connection {
    /// A connection to `destination`.
    pub fn to(destination: SocketAddr) -> Self {
        Self {
            destination: Some(destination),
            ..Self::default()
        }
    }

    /// Sets the SNI.
    #[must_use]
    pub fn with_sni(mut self, sni: &str) -> Self {
        self.sni = Some(sni.as_bytes().to_vec());
        self
    }

    /// Sets the source address.
    #[must_use]
    pub fn from_addr(mut self, source: SocketAddr) -> Self {
        self.source = Some(source);
        self
    }

    /// Sets the bytes the client sends.
    #[must_use]
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.downstream_data = data.into();
        self
    }
}

/// `property` and `principal`, which requests and connections share.
macro_rules! property_setters {
    ($ty:ident) => {
        impl $ty {
            /// Sets a property (merged over the ones the host derives).
            #[must_use]
            pub fn property<V: Into<Value>>(mut self, path: &[&str], value: V) -> Self {
                self.properties.set(path, value);
                self
            }

            /// The source principal as an Istio waypoint stores it
            /// (`filter_state.io.istio.peer_principal`).
            #[must_use]
            pub fn principal(self, spiffe_id: &str) -> Self {
                self.property(
                    &["filter_state", "io.istio.peer_principal"],
                    Value::Bytes(spiffe_id.as_bytes().to_vec()),
                )
            }
        }
    };
}

property_setters!(HttpRequest);
property_setters!(Connection);

/// Concatenates chunks and records their sizes.
fn join_chunks<I, B>(chunks: I) -> (Vec<u8>, Vec<usize>)
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut body = Vec::new();
    let mut sizes = Vec::new();
    for c in chunks {
        body.extend_from_slice(c.as_ref());
        sizes.push(c.as_ref().len());
    }
    (body, sizes)
}

/// Cuts `body` into chunks of `sizes` (see [`HttpRequest::body_chunks`]);
/// `None` if the sizes add up to more than the body.
pub(crate) fn split_chunks(body: &[u8], sizes: &[usize]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::with_capacity(sizes.len() + 1);
    let mut rest = body;
    for &n in sizes {
        if n > rest.len() {
            return None;
        }
        let (chunk, tail) = rest.split_at(n);
        out.push(chunk.to_vec());
        rest = tail;
    }
    if !rest.is_empty() || sizes.is_empty() {
        out.push(rest.to_vec());
    }
    Some(out)
}

/// A response the filter generated with `proxy_send_local_response`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalResponse {
    /// The status code the filter asked for.
    pub status: u32,
    /// Response code details, after Envoy replaced whitespace with `_`.
    pub details: Vec<u8>,
    /// The body.
    pub body: Vec<u8>,
    /// The extra headers the filter passed (names lower-cased).
    pub headers: Headers,
    /// The gRPC status argument as passed (-1 = none).
    pub grpc_status: i32,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The level.
    pub level: LogLevel,
    /// The message (invalid UTF-8 replaced).
    pub message: String,
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.level, self.message)
    }
}

/// A metric as the guest defined it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// The name the guest passed to `proxy_define_metric`.
    pub name: String,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Counter or gauge value; for a histogram, the number of samples.
    pub value: u64,
}

/// What happened to one HTTP stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpOutcome {
    /// `Some(status)` if Envoy's connection manager refused the request before
    /// any filter ran (bad path, lower-case method, missing Host, …).
    pub proxy_rejected: Option<u16>,
    /// What `proxy_on_request_headers` returned (None if it never ran).
    pub request_action: Option<Action>,
    /// The filter's local response, if it sent one.
    pub local_response: Option<LocalResponse>,
    /// What the client sees: the local response's status, the proxy's
    /// rejection, the simulated upstream's status (200 by default), a 408 if
    /// the stream stayed paused until the stream idle timeout, or 0 if the
    /// stream was reset (`proxy_close_stream`).
    pub status: u16,
    /// The request headers as they would go upstream (None if the request
    /// never left the proxy).
    pub forwarded_headers: Option<Headers>,
    /// The request body as it would go upstream: what the filter let
    /// through, with its changes (chunks it dropped with
    /// StopIterationNoBuffer are missing).
    pub forwarded_body: Option<Vec<u8>>,
    /// The request trailers as they would go upstream: the client's, or
    /// ones the filter added at the end of the body.
    pub forwarded_trailers: Option<Headers>,
    /// The response headers the client receives (None after a reset).
    pub response_headers: Option<Headers>,
    /// The response body the client receives.
    pub response_body: Vec<u8>,
    /// The response trailers the client receives.
    pub response_trailers: Option<Headers>,
    /// Whether the stream was reset instead of answered.
    pub reset: bool,
    /// Response code details as Envoy would log them (`via_upstream`,
    /// `path_normalization_failed`, the local response's details, …).
    pub details: String,
    /// `proxy_set_property` writes, keyed as Envoy stores them: `wasm.<path>`.
    pub filter_state: BTreeMap<String, Vec<u8>>,
    /// Log lines emitted while this stream was open.
    pub logs: Vec<LogLine>,
}

/// What happened to one TCP connection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectionOutcome {
    /// What `proxy_on_new_connection` returned.
    pub action: Option<Action>,
    /// What `proxy_on_downstream_data` returned, if data arrived.
    pub data_action: Option<Action>,
    /// Whether the filter closed the connection (`proxy_close_stream`).
    pub closed: bool,
    /// The bytes that went upstream.
    pub upstream_data: Vec<u8>,
    /// `proxy_set_property` writes (`wasm.<path>`).
    pub filter_state: BTreeMap<String, Vec<u8>>,
    /// Log lines emitted while the connection was open.
    pub logs: Vec<LogLine>,
}

/// An HTTP call a filter made with `proxy_http_call`, waiting for an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    /// The token the guest got.
    pub token: u32,
    /// The context that made the call (its effective context).
    pub context_id: u32,
    /// The cluster name (the ABI's "upstream").
    pub cluster: Vec<u8>,
    /// Request headers (names lower-cased; `host` turned into `:authority`).
    pub headers: Headers,
    /// Request body.
    pub body: Vec<u8>,
    /// Request trailers.
    pub trailers: Headers,
    /// Timeout in milliseconds (0 = none).
    pub timeout_ms: u32,
}

/// The answer to an [`HttpCall`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpCallResponse {
    /// Response headers, including `:status`.
    pub headers: Headers,
    /// Response body.
    pub body: Vec<u8>,
    /// Response trailers.
    pub trailers: Headers,
}

impl HttpCallResponse {
    /// A response with `:status` and a body.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            headers: vec![(b":status".to_vec(), status.to_string().into_bytes())],
            body: body.into(),
            trailers: Vec::new(),
        }
    }
}

/// A gRPC call (`proxy_grpc_call`) or stream (`proxy_grpc_stream`) a
/// filter opened, waiting for the test to answer it (see
/// [`crate::Vm::pending_grpc_calls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCall {
    /// The token the guest got (a call is 1 mod 4, a stream 2 mod 4).
    pub token: u32,
    /// A stream (`proxy_grpc_stream`) rather than a unary call.
    pub stream: bool,
    /// The context that opened it (its effective context).
    pub context_id: u32,
    /// The ABI's `grpc_service`: here, a cluster name.
    pub cluster: Vec<u8>,
    /// The gRPC service name.
    pub service: Vec<u8>,
    /// The method name.
    pub method: Vec<u8>,
    /// Initial metadata (names lower-cased; `host` turned into `:authority`).
    pub initial_metadata: Headers,
    /// The messages sent: a call's request, or what `proxy_grpc_send` sent
    /// on a stream before the filter closed its side.
    pub messages: Vec<Vec<u8>>,
    /// The filter closed its side (`proxy_grpc_send` with `end_of_stream`,
    /// or `proxy_grpc_close`); later sends are dropped, as Envoy's async
    /// stream drops them. Always true for a unary call.
    pub end_stream: bool,
    /// A unary call's timeout in milliseconds (0 = none).
    pub timeout_ms: Option<u32>,
}

/// The simulated upstream's answer to forwarded requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamResponse {
    /// The status code.
    pub status: u16,
    /// Headers after `:status`.
    pub headers: Headers,
    /// The body (all of it, however it is split).
    pub body: Vec<u8>,
    /// The sizes of the chunks the body arrives in, as for
    /// [`HttpRequest::body_chunks`]. Empty: one chunk (none if the body is
    /// empty).
    pub body_chunks: Vec<usize>,
    /// Response trailers, if the upstream sends any.
    pub trailers: Option<Headers>,
}

impl Default for UpstreamResponse {
    fn default() -> Self {
        Self::new(200)
    }
}

impl UpstreamResponse {
    /// A response with this status, no headers and no body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            body_chunks: Vec::new(),
            trailers: None,
        }
    }
}

/// The setters requests and upstream responses share: headers, the body
/// (whole or in chunks) and trailers. `$body` wraps the body for the field.
macro_rules! message_setters {
    ($ty:ident, $body:path) => {
        impl $ty {
            /// Appends a header.
            #[must_use]
            pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
                self.headers
                    .push((name.as_ref().to_vec(), value.as_ref().to_vec()));
                self
            }

            /// Sets the body, arriving as one chunk.
            #[must_use]
            pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
                self.body = $body(body.into());
                self.body_chunks.clear();
                self
            }

            /// Sets the body as the chunks it arrives in (see the
            /// `body_chunks` field).
            #[must_use]
            pub fn with_body_chunks<I, B>(mut self, chunks: I) -> Self
            where
                I: IntoIterator<Item = B>,
                B: AsRef<[u8]>,
            {
                let (body, sizes) = join_chunks(chunks);
                self.body = $body(body);
                self.body_chunks = sizes;
                self
            }

            /// Appends a trailer (the message then ends with trailers).
            #[must_use]
            pub fn trailer(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
                self.trailers
                    .get_or_insert_with(Vec::new)
                    .push((name.as_ref().to_vec(), value.as_ref().to_vec()));
                self
            }
        }
    };
}

message_setters!(HttpRequest, Some);
message_setters!(UpstreamResponse, std::convert::identity);

/// A handle on an HTTP stream or TCP connection in flight (its context id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);
