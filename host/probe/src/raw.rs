//! The proxy-wasm ABI 0.2.1 imports, declared raw (pointers may be bad on
//! purpose), and small wrappers that return the status and any bytes the
//! host allocated for us.

use core::ptr::null_mut;

/// A pointer far outside any guest memory the host gives us.
pub fn bad() -> *mut u8 {
    core::ptr::without_provenance_mut(0xFFFF_FF00)
}

#[cfg_attr(target_arch = "wasm32", link(wasm_import_module = "env"))]
unsafe extern "C" {
    pub fn proxy_log(level: u32, data: *const u8, size: usize) -> u32;
    pub fn proxy_get_log_level(ret: *mut u32) -> u32;
    pub fn proxy_get_current_time_nanoseconds(ret: *mut u64) -> u32;
    pub fn proxy_set_tick_period_milliseconds(ms: u32) -> u32;
    pub fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        ret: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    pub fn proxy_set_property(
        path: *const u8,
        path_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        ret: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    pub fn proxy_get_header_map_pairs(map: u32, ret: *mut *mut u8, ret_size: *mut usize) -> u32;
    pub fn proxy_set_header_map_pairs(map: u32, data: *const u8, size: usize) -> u32;
    pub fn proxy_add_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32;
    pub fn proxy_get_header_map_size(map: u32, ret: *mut usize) -> u32;
    pub fn proxy_get_buffer_bytes(
        buf: u32,
        start: usize,
        max: usize,
        ret: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    pub fn proxy_get_buffer_status(buf: u32, len: *mut usize, flags: *mut u32) -> u32;
    pub fn proxy_set_buffer_bytes(
        buf: u32,
        start: usize,
        size: usize,
        data: *const u8,
        data_size: usize,
    ) -> u32;
    #[allow(clippy::too_many_arguments, reason = "the ABI's signature")]
    pub fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    pub fn proxy_continue_stream(stream: u32) -> u32;
    pub fn proxy_close_stream(stream: u32) -> u32;
    pub fn proxy_get_shared_data(
        key: *const u8,
        key_size: usize,
        ret: *mut *mut u8,
        ret_size: *mut usize,
        cas: *mut u32,
    ) -> u32;
    pub fn proxy_set_shared_data(
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    pub fn proxy_register_shared_queue(name: *const u8, name_size: usize, token: *mut u32) -> u32;
    pub fn proxy_resolve_shared_queue(
        vm_id: *const u8,
        vm_id_size: usize,
        name: *const u8,
        name_size: usize,
        token: *mut u32,
    ) -> u32;
    pub fn proxy_enqueue_shared_queue(token: u32, data: *const u8, size: usize) -> u32;
    pub fn proxy_dequeue_shared_queue(token: u32, ret: *mut *mut u8, ret_size: *mut usize) -> u32;
    #[allow(clippy::too_many_arguments, reason = "the ABI's signature")]
    pub fn proxy_http_call(
        upstream: *const u8,
        upstream_size: usize,
        headers: *const u8,
        headers_size: usize,
        body: *const u8,
        body_size: usize,
        trailers: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        token: *mut u32,
    ) -> u32;
    #[allow(clippy::too_many_arguments, reason = "the ABI's signature")]
    pub fn proxy_grpc_call(
        service: *const u8,
        service_size: usize,
        service_name: *const u8,
        service_name_size: usize,
        method: *const u8,
        method_size: usize,
        metadata: *const u8,
        metadata_size: usize,
        message: *const u8,
        message_size: usize,
        timeout_ms: u32,
        token: *mut u32,
    ) -> u32;
    #[allow(clippy::too_many_arguments, reason = "the ABI's signature")]
    pub fn proxy_grpc_stream(
        service: *const u8,
        service_size: usize,
        service_name: *const u8,
        service_name_size: usize,
        method: *const u8,
        method_size: usize,
        metadata: *const u8,
        metadata_size: usize,
        token: *mut u32,
    ) -> u32;
    pub fn proxy_grpc_send(
        token: u32,
        message: *const u8,
        message_size: usize,
        end_stream: u32,
    ) -> u32;
    pub fn proxy_grpc_cancel(token: u32) -> u32;
    pub fn proxy_grpc_close(token: u32) -> u32;
    pub fn proxy_get_status(code: *mut u32, ret: *mut *mut u8, ret_size: *mut usize) -> u32;
    pub fn proxy_set_effective_context(ctx: u32) -> u32;
    pub fn proxy_done() -> u32;
    pub fn proxy_call_foreign_function(
        name: *const u8,
        name_size: usize,
        args: *const u8,
        args_size: usize,
        ret: *mut *mut u8,
        ret_size: *mut usize,
    ) -> u32;
    pub fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, ret: *mut u32) -> u32;
    pub fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    pub fn proxy_record_metric(id: u32, value: u64) -> u32;
    pub fn proxy_get_metric(id: u32, ret: *mut u64) -> u32;
}

/// Takes ownership of bytes the host allocated through our allocator.
fn adopt(ptr: *mut u8, len: usize) -> Vec<u8> {
    if ptr.is_null() || len == 0 {
        return Vec::new();
    }
    // SAFETY: the host allocated `len` bytes at `ptr` with our allocator,
    // which hands out `Vec::with_capacity(len)` buffers.
    unsafe { Vec::from_raw_parts(ptr, len, len) }
}

/// Runs a call that returns bytes through two out-pointers.
pub fn out_bytes(f: impl FnOnce(*mut *mut u8, *mut usize) -> u32) -> (u32, Vec<u8>) {
    let (mut p, mut n) = (null_mut(), 0usize);
    let s = f(&mut p, &mut n);
    (s, if s == 0 { adopt(p, n) } else { Vec::new() })
}

/// Logs a line (errors ignored).
pub fn log(level: u32, msg: &[u8]) {
    // SAFETY: a live slice.
    let _ = unsafe { proxy_log(level, msg.as_ptr(), msg.len()) };
}

/// A header value of a map.
pub fn header(map: u32, key: &[u8]) -> (u32, Vec<u8>) {
    // SAFETY: a live key slice and out-pointers to locals.
    out_bytes(|p, n| unsafe { proxy_get_header_map_value(map, key.as_ptr(), key.len(), p, n) })
}

/// A property; `path` is NUL-joined.
pub fn property(path: &[u8]) -> (u32, Vec<u8>) {
    // SAFETY: a live path slice and out-pointers to locals.
    out_bytes(|p, n| unsafe { proxy_get_property(path.as_ptr(), path.len(), p, n) })
}

/// Bytes of a buffer.
pub fn buffer(buf: u32, start: usize, max: usize) -> (u32, Vec<u8>) {
    // SAFETY: out-pointers to locals.
    out_bytes(|p, n| unsafe { proxy_get_buffer_bytes(buf, start, max, p, n) })
}

/// A guest range as the ABI passes it: an address (bad, on purpose, at
/// times) and a length.
pub type Span = (*const u8, usize);

/// The range of a live slice.
pub fn span(b: &[u8]) -> Span {
    (b.as_ptr(), b.len())
}

/// `proxy_http_call` to `cluster` with `headers` (pairs), `body` and no
/// trailers; the token goes to `token`.
pub fn call_http(cluster: &[u8], headers: Span, body: &[u8], timeout: u32, token: *mut u32) -> u32 {
    // SAFETY: live slices; the host checks the other range and the token
    // pointer (bad ones are the point of some calls).
    unsafe {
        proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            headers.0,
            headers.1,
            body.as_ptr(),
            body.len(),
            [].as_ptr(),
            0,
            timeout,
            token,
        )
    }
}

/// `proxy_grpc_call` (with `call`: the message and the timeout) or, without,
/// `proxy_grpc_stream`, to `cluster`; the token goes to `token`.
pub fn grpc_open(
    cluster: &[u8],
    service: &[u8],
    method: &[u8],
    metadata: &[u8],
    call: Option<(&[u8], u32)>,
    token: *mut u32,
) -> u32 {
    let (c, s, m, md) = (span(cluster), span(service), span(method), span(metadata));
    match call {
        // SAFETY: live slices; the host checks the token pointer.
        Some((msg, timeout)) => unsafe {
            proxy_grpc_call(
                c.0,
                c.1,
                s.0,
                s.1,
                m.0,
                m.1,
                md.0,
                md.1,
                msg.as_ptr(),
                msg.len(),
                timeout,
                token,
            )
        },
        // SAFETY: live slices; the host checks the token pointer.
        None => unsafe { proxy_grpc_stream(c.0, c.1, s.0, s.1, m.0, m.1, md.0, md.1, token) },
    }
}

/// Serializes pairs in the ABI's format.
pub fn pairs(items: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    egress_abi::pairs::encode(items.iter().copied(), &mut out);
    out
}

/// Sends a local response.
pub fn local_response(status: u32, details: &[u8], body: &[u8], headers: &[(&[u8], &[u8])]) -> u32 {
    let h = pairs(headers);
    let (d, b, hs) = (span(details), span(body), span(&h));
    // SAFETY: live slices (`h` lives to the end of the function).
    unsafe { proxy_send_local_response(status, d.0, d.1, b.0, b.1, hs.0, hs.1, -1) }
}

// Native builds (clippy, `cargo build --workspace`) have no host: these
// stand-ins let the crate link; the probe only ever runs as wasm.
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments, reason = "mirrors the ABI")]
mod native {
    macro_rules! stub {
        ($($name:ident ( $($t:ty),* ) -> $r:ty = $v:expr;)*) => {
            $(
                #[unsafe(no_mangle)]
                extern "C" fn $name($(_: $t),*) -> $r { $v }
            )*
        };
    }
    stub! {
        proxy_log(u32, *const u8, usize) -> u32 = 0;
        proxy_get_log_level(*mut u32) -> u32 = 0;
        proxy_get_current_time_nanoseconds(*mut u64) -> u32 = 0;
        proxy_set_tick_period_milliseconds(u32) -> u32 = 0;
        proxy_get_property(*const u8, usize, *mut *mut u8, *mut usize) -> u32 = 1;
        proxy_set_property(*const u8, usize, *const u8, usize) -> u32 = 0;
        proxy_get_header_map_value(u32, *const u8, usize, *mut *mut u8, *mut usize) -> u32 = 1;
        proxy_get_header_map_pairs(u32, *mut *mut u8, *mut usize) -> u32 = 1;
        proxy_set_header_map_pairs(u32, *const u8, usize) -> u32 = 0;
        proxy_add_header_map_value(u32, *const u8, usize, *const u8, usize) -> u32 = 0;
        proxy_replace_header_map_value(u32, *const u8, usize, *const u8, usize) -> u32 = 0;
        proxy_remove_header_map_value(u32, *const u8, usize) -> u32 = 0;
        proxy_get_header_map_size(u32, *mut usize) -> u32 = 0;
        proxy_get_buffer_bytes(u32, usize, usize, *mut *mut u8, *mut usize) -> u32 = 1;
        proxy_get_buffer_status(u32, *mut usize, *mut u32) -> u32 = 1;
        proxy_set_buffer_bytes(u32, usize, usize, *const u8, usize) -> u32 = 0;
        proxy_send_local_response(u32, *const u8, usize, *const u8, usize, *const u8, usize, i32) -> u32 = 0;
        proxy_continue_stream(u32) -> u32 = 0;
        proxy_close_stream(u32) -> u32 = 0;
        proxy_get_shared_data(*const u8, usize, *mut *mut u8, *mut usize, *mut u32) -> u32 = 1;
        proxy_set_shared_data(*const u8, usize, *const u8, usize, u32) -> u32 = 0;
        proxy_register_shared_queue(*const u8, usize, *mut u32) -> u32 = 0;
        proxy_resolve_shared_queue(*const u8, usize, *const u8, usize, *mut u32) -> u32 = 1;
        proxy_enqueue_shared_queue(u32, *const u8, usize) -> u32 = 1;
        proxy_dequeue_shared_queue(u32, *mut *mut u8, *mut usize) -> u32 = 1;
        proxy_http_call(*const u8, usize, *const u8, usize, *const u8, usize, *const u8, usize, u32, *mut u32) -> u32 = 2;
        proxy_grpc_call(*const u8, usize, *const u8, usize, *const u8, usize, *const u8, usize, *const u8, usize, u32, *mut u32) -> u32 = 2;
        proxy_grpc_stream(*const u8, usize, *const u8, usize, *const u8, usize, *const u8, usize, *mut u32) -> u32 = 2;
        proxy_grpc_send(u32, *const u8, usize, u32) -> u32 = 2;
        proxy_grpc_cancel(u32) -> u32 = 1;
        proxy_grpc_close(u32) -> u32 = 1;
        proxy_get_status(*mut u32, *mut *mut u8, *mut usize) -> u32 = 0;
        proxy_set_effective_context(u32) -> u32 = 0;
        proxy_done() -> u32 = 1;
        proxy_call_foreign_function(*const u8, usize, *const u8, usize, *mut *mut u8, *mut usize) -> u32 = 1;
        proxy_define_metric(u32, *const u8, usize, *mut u32) -> u32 = 0;
        proxy_increment_metric(u32, i64) -> u32 = 0;
        proxy_record_metric(u32, u64) -> u32 = 0;
        proxy_get_metric(u32, *mut u64) -> u32 = 0;
    }
}
