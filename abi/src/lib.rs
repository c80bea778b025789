//! The proxy-wasm ABI 0.2.1 vocabulary, written once for both sides of the
//! ABI: the filter and the probe (guests) and the host. Status codes, the
//! enums the calls take (map, buffer, stream, peer, metric types, log
//! levels, callback actions) and the header-map encoding ([`pairs`]).
//!
//! The numbers are those of the spec (`proxy-wasm/spec`
//! `abi-versions/v0.2.1/README.md`) and of proxy-wasm-cpp-host
//! (`include/proxy-wasm/context_interface.h`, `wasm_api_impl.h`).
//! `no_std` (with `alloc`) and without dependencies, so that it builds for
//! `wasm32-wasip1`, `wasm32-unknown-unknown` and natively.

#![no_std]

extern crate alloc;

pub mod pairs;

use core::fmt;

/// A `proxy_status_t`: what every host call returns.
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

    /// The spec's name for this status (`UNKNOWN` for a number it does not define).
    pub const fn name(self) -> &'static str {
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

/// A call's outcome: a value, or a status other than OK.
pub type AbiResult<T = ()> = Result<T, Status>;

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Defines an ABI enum with its numbers: `raw` gives the number,
/// `from_raw` reads one (`None` when out of range), `ALL` lists the values.
macro_rules! abi_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident = $raw:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(#[doc = concat!("ABI number ", stringify!($raw), ".")] $variant,)+
        }

        impl $name {
            /// Every value, in ABI order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The ABI number.
            pub const fn raw(self) -> u32 {
                match self {
                    $(Self::$variant => $raw,)+
                }
            }

            /// The value with this ABI number; `None` when out of range.
            pub const fn from_raw(raw: u32) -> Option<Self> {
                match raw {
                    $($raw => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

abi_enum! {
    /// `proxy_map_type_t`: which header map a call reads or writes
    /// (HTTP_REQUEST_HEADERS, HTTP_REQUEST_TRAILERS, HTTP_RESPONSE_HEADERS,
    /// HTTP_RESPONSE_TRAILERS, GRPC_CALL_INITIAL_METADATA and
    /// GRPC_CALL_TRAILING_METADATA (what a gRPC call received),
    /// HTTP_CALL_RESPONSE_HEADERS, HTTP_CALL_RESPONSE_TRAILERS).
    pub enum MapType {
        RequestHeaders = 0, RequestTrailers = 1, ResponseHeaders = 2, ResponseTrailers = 3,
        GrpcReceiveInitialMetadata = 4, GrpcReceiveTrailingMetadata = 5,
        HttpCallResponseHeaders = 6, HttpCallResponseTrailers = 7,
    }
}

abi_enum! {
    /// `proxy_buffer_type_t`: which buffer a call reads or writes
    /// (HTTP_REQUEST_BODY, HTTP_RESPONSE_BODY, DOWNSTREAM_DATA, UPSTREAM_DATA,
    /// HTTP_CALL_RESPONSE_BODY, GRPC_CALL_MESSAGE (a received gRPC message),
    /// VM_CONFIGURATION, PLUGIN_CONFIGURATION (readable only in
    /// `proxy_on_configure`), FOREIGN_FUNCTION_ARGUMENTS).
    pub enum BufferType {
        RequestBody = 0, ResponseBody = 1, DownstreamData = 2, UpstreamData = 3,
        HttpCallResponseBody = 4, GrpcReceiveBuffer = 5, VmConfiguration = 6,
        PluginConfiguration = 7, CallData = 8,
    }
}

abi_enum! {
    /// `proxy_stream_type_t`: which stream `proxy_continue_stream` and
    /// `proxy_close_stream` act on (HTTP_REQUEST, HTTP_RESPONSE, DOWNSTREAM,
    /// UPSTREAM).
    pub enum StreamType { Request = 0, Response = 1, Downstream = 2, Upstream = 3 }
}

abi_enum! {
    /// `proxy_peer_type_t`: who closed a connection.
    pub enum PeerType { Unknown = 0, Local = 1, Remote = 2 }
}

abi_enum! {
    /// `proxy_metric_type_t`: a counter only grows; a gauge goes up and
    /// down and can be set; a histogram records samples.
    pub enum MetricKind { Counter = 0, Gauge = 1, Histogram = 2 }
}

abi_enum! {
    /// `proxy_log_level_t`.
    pub enum LogLevel { Trace = 0, Debug = 1, Info = 2, Warn = 3, Error = 4, Critical = 5 }
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

/// What a filter callback returned (`proxy_action_t`).
///
/// Header callbacks: 0 = Continue, 1 = Pause (StopIteration, which Envoy
/// turns into StopAllIterationAndWatermark for ABI 0.2.x), 2 =
/// ContinueAndEndStream (Continue to Envoy), 3 = StopAllIterationAndBuffer,
/// 4 = StopAllIterationAndWatermark. Data callbacks: 0 = Continue, 1 =
/// StopIterationAndBuffer, 2 = StopIterationAndWatermark, 3 and above =
/// StopIterationNoBuffer. Anything but 0 and 1 is [`Action::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// 0: let the stream go on.
    Continue,
    /// 1: stop here until `proxy_continue_stream` (or a local response).
    Pause,
    /// Any other value.
    Other(u32),
}

impl Action {
    /// Reads a callback's return value.
    pub const fn from_raw(raw: u32) -> Self {
        match raw {
            0 => Self::Continue,
            1 => Self::Pause,
            other => Self::Other(other),
        }
    }

    /// The ABI number.
    pub const fn raw(self) -> u32 {
        match self {
            Self::Continue => 0,
            Self::Pause => 1,
            Self::Other(n) => n,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use super::*;

    #[test]
    fn enums_round_trip_and_refuse_out_of_range() {
        fn check<T: Copy + PartialEq + fmt::Debug>(
            all: &[T],
            raw: fn(T) -> u32,
            from_raw: fn(u32) -> Option<T>,
        ) {
            for (i, v) in all.iter().enumerate() {
                assert_eq!(raw(*v) as usize, i, "{v:?} is numbered in ABI order");
                assert_eq!(from_raw(raw(*v)), Some(*v));
            }
            let past = u32::try_from(all.len()).unwrap();
            for n in [past, past + 1, 0x7fff_ffff, u32::MAX] {
                assert_eq!(from_raw(n), None, "{n}");
            }
        }
        check(MapType::ALL, MapType::raw, MapType::from_raw);
        check(BufferType::ALL, BufferType::raw, BufferType::from_raw);
        check(StreamType::ALL, StreamType::raw, StreamType::from_raw);
        check(PeerType::ALL, PeerType::raw, PeerType::from_raw);
        check(MetricKind::ALL, MetricKind::raw, MetricKind::from_raw);
        check(LogLevel::ALL, LogLevel::raw, LogLevel::from_raw);
        assert_eq!(MapType::ALL.len(), 8);
        assert_eq!(BufferType::PluginConfiguration.raw(), 7);
        assert_eq!(LogLevel::Critical.raw(), 5);
    }

    #[test]
    fn actions() {
        for n in [0, 1, 2, 3, u32::MAX] {
            assert_eq!(Action::from_raw(n).raw(), n);
        }
        assert_eq!(Action::from_raw(0), Action::Continue);
        assert_eq!(Action::from_raw(1), Action::Pause);
        assert_eq!(Action::from_raw(4), Action::Other(4));
    }

    #[test]
    fn names() {
        assert_eq!(
            Status::INVALID_MEMORY_ACCESS.to_string(),
            "INVALID_MEMORY_ACCESS (6)"
        );
        assert_eq!(Status(5).name(), "UNKNOWN");
        assert_eq!(Status(99).to_string(), "UNKNOWN (99)");
        assert_eq!(LogLevel::Warn.to_string(), "warn");
    }
}
