//! Stage: ABI vocabulary. The numbers of proxy-wasm ABI 0.2.1 (status codes,
//! map, buffer, stream, metric and log enums) as the spec
//! (`proxy-wasm/spec` `abi-versions/v0.2.1/README.md`) and proxy-wasm-cpp-host
//! (`include/proxy-wasm/context_interface.h`, `src/exports.cc`) define them.

use std::fmt;

/// A `proxy_status_t` as the host returns it to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(pub u32);

impl Status {
    /// OK.
    pub const OK: Self = Self(0);
    /// NOT_FOUND.
    pub const NOT_FOUND: Self = Self(1);
    /// BAD_ARGUMENT.
    pub const BAD_ARGUMENT: Self = Self(2);
    /// SERIALIZATION_FAILURE.
    pub const SERIALIZATION_FAILURE: Self = Self(3);
    /// PARSE_FAILURE.
    pub const PARSE_FAILURE: Self = Self(4);
    /// INVALID_MEMORY_ACCESS.
    pub const INVALID_MEMORY_ACCESS: Self = Self(6);
    /// EMPTY.
    pub const EMPTY: Self = Self(7);
    /// CAS_MISMATCH.
    pub const CAS_MISMATCH: Self = Self(8);
    /// INTERNAL_FAILURE.
    pub const INTERNAL_FAILURE: Self = Self(10);
    /// BROKEN_CONNECTION (what `proxy_get_status` reports after a failed HTTP call).
    pub const BROKEN_CONNECTION: Self = Self(11);
    /// UNIMPLEMENTED.
    pub const UNIMPLEMENTED: Self = Self(12);

    /// The spec's name for this status.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "OK",
            1 => "NOT_FOUND",
            2 => "BAD_ARGUMENT",
            3 => "SERIALIZATION_FAILURE",
            4 => "PARSE_FAILURE",
            6 => "INVALID_MEMORY_ACCESS",
            7 => "EMPTY",
            8 => "CAS_MISMATCH",
            10 => "INTERNAL_FAILURE",
            11 => "BROKEN_CONNECTION",
            12 => "UNIMPLEMENTED",
            _ => "UNKNOWN",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// What a host function body produces: a value or a status other than OK.
pub(crate) type AbiResult<T = ()> = Result<T, Status>;

/// Folds an [`AbiResult`] into the `i32` the guest receives.
pub(crate) fn code(r: AbiResult) -> i32 {
    match r {
        Ok(()) => 0,
        Err(s) => i32::try_from(s.0).unwrap_or(i32::MAX),
    }
}

/// `proxy_map_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapType {
    /// HTTP_REQUEST_HEADERS = 0.
    RequestHeaders,
    /// HTTP_REQUEST_TRAILERS = 1.
    RequestTrailers,
    /// HTTP_RESPONSE_HEADERS = 2.
    ResponseHeaders,
    /// HTTP_RESPONSE_TRAILERS = 3.
    ResponseTrailers,
    /// GRPC_CALL_INITIAL_METADATA = 4 (received metadata of a gRPC call).
    GrpcReceiveInitialMetadata,
    /// GRPC_CALL_TRAILING_METADATA = 5.
    GrpcReceiveTrailingMetadata,
    /// HTTP_CALL_RESPONSE_HEADERS = 6.
    HttpCallResponseHeaders,
    /// HTTP_CALL_RESPONSE_TRAILERS = 7.
    HttpCallResponseTrailers,
}

impl MapType {
    /// Decodes the guest's number; anything above 7 is BAD_ARGUMENT
    /// (cpp-host `exports.cc`: `type > WasmHeaderMapType::MAX`).
    pub fn from_raw(raw: i32) -> AbiResult<Self> {
        Ok(match raw {
            0 => Self::RequestHeaders,
            1 => Self::RequestTrailers,
            2 => Self::ResponseHeaders,
            3 => Self::ResponseTrailers,
            4 => Self::GrpcReceiveInitialMetadata,
            5 => Self::GrpcReceiveTrailingMetadata,
            6 => Self::HttpCallResponseHeaders,
            7 => Self::HttpCallResponseTrailers,
            _ => return Err(Status::BAD_ARGUMENT),
        })
    }
}

/// `proxy_buffer_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferType {
    /// HTTP_REQUEST_BODY = 0.
    RequestBody,
    /// HTTP_RESPONSE_BODY = 1.
    ResponseBody,
    /// DOWNSTREAM_DATA = 2.
    DownstreamData,
    /// UPSTREAM_DATA = 3.
    UpstreamData,
    /// HTTP_CALL_RESPONSE_BODY = 4.
    HttpCallResponseBody,
    /// GRPC_CALL_MESSAGE = 5.
    GrpcReceiveBuffer,
    /// VM_CONFIGURATION = 6.
    VmConfiguration,
    /// PLUGIN_CONFIGURATION = 7.
    PluginConfiguration,
    /// FOREIGN_FUNCTION_ARGUMENTS = 8.
    CallData,
}

impl BufferType {
    /// Decodes the guest's number; anything above 8 is BAD_ARGUMENT.
    pub fn from_raw(raw: i32) -> AbiResult<Self> {
        Ok(match raw {
            0 => Self::RequestBody,
            1 => Self::ResponseBody,
            2 => Self::DownstreamData,
            3 => Self::UpstreamData,
            4 => Self::HttpCallResponseBody,
            5 => Self::GrpcReceiveBuffer,
            6 => Self::VmConfiguration,
            7 => Self::PluginConfiguration,
            8 => Self::CallData,
            _ => return Err(Status::BAD_ARGUMENT),
        })
    }
}

/// `proxy_stream_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    /// HTTP_REQUEST = 0.
    Request,
    /// HTTP_RESPONSE = 1.
    Response,
    /// DOWNSTREAM = 2.
    Downstream,
    /// UPSTREAM = 3.
    Upstream,
}

impl StreamType {
    /// Decodes the guest's number; anything above 3 is BAD_ARGUMENT.
    pub fn from_raw(raw: i32) -> AbiResult<Self> {
        Ok(match raw {
            0 => Self::Request,
            1 => Self::Response,
            2 => Self::Downstream,
            3 => Self::Upstream,
            _ => return Err(Status::BAD_ARGUMENT),
        })
    }
}

/// `proxy_metric_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    /// COUNTER = 0: only grows.
    Counter,
    /// GAUGE = 1: goes up and down, can be set.
    Gauge,
    /// HISTOGRAM = 2: records samples.
    Histogram,
}

impl MetricKind {
    pub(crate) fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            0 => Some(Self::Counter),
            1 => Some(Self::Gauge),
            2 => Some(Self::Histogram),
            _ => None,
        }
    }

    pub(crate) fn bits(self) -> u32 {
        match self {
            Self::Counter => 0,
            Self::Gauge => 1,
            Self::Histogram => 2,
        }
    }
}

/// A log level (`proxy_log_level_t`): TRACE = 0 … CRITICAL = 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    /// 0.
    Trace,
    /// 1.
    Debug,
    /// 2.
    Info,
    /// 3.
    Warn,
    /// 4.
    Error,
    /// 5.
    Critical,
}

impl LogLevel {
    /// Decodes the guest's number; above CRITICAL is BAD_ARGUMENT (cpp-host
    /// `exports::log`: `level > LogLevel::Max`).
    pub fn from_raw(raw: i32) -> AbiResult<Self> {
        Ok(match raw {
            0 => Self::Trace,
            1 => Self::Debug,
            2 => Self::Info,
            3 => Self::Warn,
            4 => Self::Error,
            5 => Self::Critical,
            _ => return Err(Status::BAD_ARGUMENT),
        })
    }

    /// The ABI number.
    pub fn raw(self) -> u32 {
        match self {
            Self::Trace => 0,
            Self::Debug => 1,
            Self::Info => 2,
            Self::Warn => 3,
            Self::Error => 4,
            Self::Critical => 5,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Critical => "critical",
        })
    }
}

/// What a filter callback returned, as the host reads it.
///
/// Header callbacks: 0 = Continue, 1 = Pause (StopIteration, which Envoy
/// turns into StopAllIterationAndWatermark for ABI 0.2.x), 2 =
/// ContinueAndEndStream (Continue to Envoy), 3 = StopAllIterationAndBuffer,
/// 4 = StopAllIterationAndWatermark. Data callbacks: 0 = Continue, 1 =
/// StopIterationAndBuffer, 2 = StopIterationAndWatermark, 3 and above =
/// StopIterationNoBuffer. Anything else is reported as [`Action::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// 0: let the stream go on.
    Continue,
    /// 1: stop here until `proxy_continue_stream` (or a local response).
    Pause,
    /// Any other value the guest returned.
    Other(u32),
}

impl Action {
    pub(crate) fn from_raw(raw: i32) -> Self {
        match raw {
            0 => Self::Continue,
            1 => Self::Pause,
            other => Self::Other(other as u32),
        }
    }
}

/// `proxy_peer_type_t` for connection-close callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerType {
    /// UNKNOWN = 0.
    Unknown,
    /// LOCAL = 1.
    Local,
    /// REMOTE = 2.
    Remote,
}

impl PeerType {
    pub(crate) fn raw(self) -> i32 {
        match self {
            Self::Unknown => 0,
            Self::Local => 1,
            Self::Remote => 2,
        }
    }
}
