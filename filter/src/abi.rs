//! The host calls the filter makes on the request path, declared directly
//! against the proxy-wasm ABI 0.2.1.
//!
//! The SDK's own wrappers (`proxy_wasm::hostcalls`) `panic!` on any status
//! they do not expect and on header names that are not UTF-8, which would
//! trap the VM on input that comes from the proxy. These wrappers return
//! every status as an error instead, and hand back host-allocated memory as
//! [`HostBytes`], which frees it on drop.
#![allow(
    unsafe_code,
    reason = "FFI to the proxy-wasm host: the only unsafe code in the filter"
)]

use core::ptr::null_mut;

pub use egress_abi::Status;
use egress_abi::{BufferType, LogLevel, MapType, MetricKind, StreamType};

/// A host call's result: a status other than OK is an error.
pub type AbiResult<T> = Result<T, Status>;

// The numbers the filter passes.
pub const LOG_INFO: u32 = LogLevel::Info.raw();
pub const LOG_WARN: u32 = LogLevel::Warn.raw();
pub const LOG_ERROR: u32 = LogLevel::Error.raw();
pub const LOG_CRITICAL: u32 = LogLevel::Critical.raw();
const MAP_HTTP_REQUEST_HEADERS: u32 = MapType::RequestHeaders.raw();
const BUFFER_PLUGIN_CONFIGURATION: u32 = BufferType::PluginConfiguration.raw();
const STREAM_DOWNSTREAM: u32 = StreamType::Downstream.raw();
pub const METRIC_COUNTER: u32 = MetricKind::Counter.raw();

#[cfg_attr(target_arch = "wasm32", link(wasm_import_module = "env"))]
unsafe extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        ret_data: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        ret_data: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        ret_data: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_close_stream(stream_type: u32) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        ret_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_get_current_time_nanoseconds(ret_time: *mut u64) -> u32;
}

fn check(status: u32) -> AbiResult<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Status(status))
    }
}

/// Bytes the host allocated in guest memory (through the SDK's
/// `proxy_on_memory_allocate`/`malloc`), freed when dropped.
#[derive(Debug)]
pub struct HostBytes {
    ptr: *mut u8,
    len: usize,
}

impl HostBytes {
    fn empty() -> Self {
        Self {
            ptr: null_mut(),
            len: 0,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        if self.ptr.is_null() {
            return &[];
        }
        // SAFETY: the host wrote `len` bytes at `ptr`, a block the SDK's
        // allocator handed out for exactly `len` bytes.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The bytes as a `Vec` that owns the block (no copy), so a caller can
    /// rewrite them in place.
    pub fn into_vec(self) -> Vec<u8> {
        let me = core::mem::ManuallyDrop::new(self);
        if me.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: as in `drop`: a block of `len` bytes from the SDK's
        // allocator, now owned by the Vec; `me` is never dropped.
        unsafe { Vec::from_raw_parts(me.ptr, me.len, me.len) }
    }
}

impl Drop for HostBytes {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: the SDK allocator returned a boxed slice of `len` bytes;
            // rebuilding it with the same length and capacity frees it.
            drop(unsafe { Vec::from_raw_parts(self.ptr, self.len, self.len) });
        }
    }
}

fn returned(status: u32, ptr: *mut u8, len: usize) -> AbiResult<Option<HostBytes>> {
    match status {
        0 if ptr.is_null() => Ok(Some(HostBytes::empty())),
        0 => Ok(Some(HostBytes { ptr, len })),
        1 => Ok(None),
        s => Err(Status(s)),
    }
}

/// Writes a log line at `level`. Errors are ignored: there is nowhere else to report them.
pub fn log(level: u32, message: &[u8]) {
    // SAFETY: pointer and length of a live slice.
    let _ = unsafe { proxy_log(level, message.as_ptr(), message.len()) };
}

/// The plugin configuration (readable only in `on_configure`).
pub fn plugin_configuration(size: usize) -> AbiResult<Option<HostBytes>> {
    let (mut ptr, mut len) = (null_mut(), 0usize);
    // SAFETY: out-pointers to locals.
    let s =
        unsafe { proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, size, &mut ptr, &mut len) };
    returned(s, ptr, len)
}

/// All request header pairs, serialized as the ABI's pairs format.
pub fn request_header_pairs() -> AbiResult<HostBytes> {
    let (mut ptr, mut len) = (null_mut(), 0usize);
    // SAFETY: out-pointers to locals.
    let s = unsafe { proxy_get_header_map_pairs(MAP_HTTP_REQUEST_HEADERS, &mut ptr, &mut len) };
    returned(s, ptr, len)?.ok_or(Status::NOT_FOUND)
}

/// A property; `path` is the segments joined with NUL bytes. `Ok(None)` when absent.
pub fn property(path: &[u8]) -> AbiResult<Option<HostBytes>> {
    let (mut ptr, mut len) = (null_mut(), 0usize);
    // SAFETY: pointer and length of a live slice; out-pointers to locals.
    let s = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut ptr, &mut len) };
    returned(s, ptr, len)
}

/// Sets a property (Envoy stores it in filter state under `wasm.<path>`).
pub fn set_property(path: &[u8], value: &[u8]) -> AbiResult<()> {
    // SAFETY: pointers and lengths of live slices.
    check(unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) })
}

/// Sends a local HTTP response; `headers` is in the pairs format.
pub fn send_local_response(
    status: u32,
    details: &[u8],
    body: &[u8],
    headers: &[u8],
) -> AbiResult<()> {
    // SAFETY: pointers and lengths of live slices.
    check(unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    })
}

/// Closes the downstream connection.
pub fn close_downstream() -> AbiResult<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_close_stream(STREAM_DOWNSTREAM) })
}

/// Defines a metric and returns its id.
pub fn define_metric(kind: u32, name: &[u8]) -> AbiResult<u32> {
    let mut id = 0u32;
    // SAFETY: pointer and length of a live slice; out-pointer to a local.
    check(unsafe { proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

/// Adds `by` to a counter. Errors are ignored: a missing metric must not affect the decision.
pub fn increment_metric(id: u32, by: i64) {
    // SAFETY: no pointers.
    let _ = unsafe { proxy_increment_metric(id, by) };
}

/// The host's wall-clock time in nanoseconds since the Unix epoch (0 if unavailable).
pub fn now_nanos() -> u64 {
    let mut t = 0u64;
    // SAFETY: out-pointer to a local.
    match unsafe { proxy_get_current_time_nanoseconds(&mut t) } {
        0 => t,
        _ => 0,
    }
}

// Native builds (clippy, `cargo test`) have no host to link against: these
// stand-ins let the crate link; the filter only ever runs as wasm.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    #[unsafe(no_mangle)]
    extern "C" fn proxy_log(_: u32, _: *const u8, _: usize) -> u32 {
        0
    }
    #[unsafe(no_mangle)]
    extern "C" fn proxy_get_buffer_bytes(
        _: u32,
        _: usize,
        _: usize,
        _: *mut *mut u8,
        _: *mut usize,
    ) -> u32 {
        1
    }
    #[unsafe(no_mangle)]
    extern "C" fn proxy_get_header_map_pairs(_: u32, _: *mut *mut u8, _: *mut usize) -> u32 {
        1
    }
    #[unsafe(no_mangle)]
    extern "C" fn proxy_get_property(
        _: *const u8,
        _: usize,
        _: *mut *mut u8,
        _: *mut usize,
    ) -> u32 {
        1
    }
    #[unsafe(no_mangle)]
    extern "C" fn proxy_set_property(_: *const u8, _: usize, _: *const u8, _: usize) -> u32 {
        0
    }
    #[unsafe(no_mangle)]
    #[allow(clippy::too_many_arguments, reason = "mirrors the ABI signature")]
    extern "C" fn proxy_send_local_response(
        _: u32,
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: i32,
    ) -> u32 {
        0
    }
    #[unsafe(no_mangle)]
    extern "C" fn proxy_close_stream(_: u32) -> u32 {
        0
    }
    #[unsafe(no_mangle)]
    extern "C" fn proxy_define_metric(_: u32, _: *const u8, _: usize, _: *mut u32) -> u32 {
        0
    }
    #[unsafe(no_mangle)]
    extern "C" fn proxy_increment_metric(_: u32, _: i64) -> u32 {
        0
    }
    #[unsafe(no_mangle)]
    extern "C" fn proxy_get_current_time_nanoseconds(_: *mut u64) -> u32 {
        1
    }
}
