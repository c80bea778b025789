//! What a filter does to its stream: buffers (bodies, connection data,
//! configurations), local responses, continuing and closing.

use egress_abi::{BufferType, Status, StreamType};
use wasmtime::Linker;

use super::{enum_arg, proxy_fn, return_bytes};
use crate::memory::{self, try_abi, write_u32};
use crate::pairs;
use crate::state::{After, HostState, Kind};
use crate::types::LocalResponse;

/// Registers the buffer and stream-control imports.
pub(super) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    link_buffers(linker)?;
    link_control(linker)
}

/// Bodies, connection data, configurations, received messages.
fn link_buffers(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    proxy_fn!(
        linker,
        "proxy_get_buffer_bytes",
        |c, ty: i32, start: i32, length: i32, rp: i32, rl: i32| {
            let ty = try_abi!(enum_arg(ty, BufferType::from_raw));
            return_bytes(&mut c, (rp, rl), |c, buf| {
                let st = c.data();
                let b = st.buffer_for_read(st.ctx(), ty).ok_or(Status::NOT_FOUND)?;
                // Words are unsigned: start + length cannot overflow in
                // 64 bits; clamp to the buffer ("don't overread").
                let start = u64::from(start as u32);
                let length = u64::from(length as u32);
                let size = b.len() as u64;
                let end = if start > size {
                    start
                } else {
                    (start + length).min(size)
                };
                if let (Ok(s), Ok(e)) = (usize::try_from(start), usize::try_from(end)) {
                    buf.extend_from_slice(b.get(s..e).unwrap_or_default());
                }
                Ok(())
            })
        }
    );
    proxy_fn!(
        linker,
        "proxy_get_buffer_status",
        |c, ty: i32, len_ptr: i32, flags_ptr: i32| {
            let ty = try_abi!(enum_arg(ty, BufferType::from_raw));
            let st = c.data();
            let Some(b) = st.buffer_for_read(st.ctx(), ty) else {
                return Ok(Err(Status::NOT_FOUND));
            };
            let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
            try_abi!(write_u32(&mut c, len_ptr, len));
            Ok(write_u32(&mut c, flags_ptr, 0))
        }
    );
    proxy_fn!(
        linker,
        "proxy_set_buffer_bytes",
        |c, ty: i32, start: i32, length: i32, dp: i32, dl: i32| {
            let ty = try_abi!(enum_arg(ty, BufferType::from_raw));
            let (data, st) = try_abi!(memory::split(&mut c));
            let ctx = st.ctx();
            if st.buffer_for_read(ctx, ty).is_none() {
                return Ok(Err(Status::NOT_FOUND));
            }
            let bytes = try_abi!(memory::slice(data, dp, dl));
            Ok(st.buffer_write(ctx, ty, start as u32, length as u32, bytes))
        }
    );
    Ok(())
}

/// Local responses, continuing and closing a stream.
fn link_control(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    proxy_fn!(
        linker,
        "proxy_send_local_response",
        |c, status: i32, dp: i32, dl: i32, bp: i32, bl: i32, hp: i32, hl: i32, grpc: i32| {
            let (data, st) = try_abi!(memory::split(&mut c));
            let details = try_abi!(memory::slice(data, dp, dl));
            let body = try_abi!(memory::slice(data, bp, bl));
            let headers = try_abi!(memory::slice(data, hp, hl));
            let ctx = st.ctx();
            if st.stream(ctx).is_some_and(|s| s.kind == Kind::Http) {
                let reply = LocalResponse {
                    status: status as u32,
                    // `StringUtil::replaceAllEmptySpace`.
                    details: details
                        .iter()
                        .map(|b| {
                            if b.is_ascii_whitespace() || *b == 0x0b {
                                b'_'
                            } else {
                                *b
                            }
                        })
                        .collect(),
                    body: body.to_vec(),
                    headers: pairs::lenient_headers(headers, <[u8]>::to_ascii_lowercase),
                    grpc_status: grpc,
                };
                st.after.push(After::LocalReply { ctx, reply });
            }
            // `exports::send_local_response` always stops the next iteration.
            st.stop_iteration = true;
            Ok(Ok(()))
        }
    );
    proxy_fn!(linker, "proxy_continue_stream", |c, ty: i32| {
        let ty = try_abi!(enum_arg(ty, StreamType::from_raw));
        let st = c.data_mut();
        let ctx = st.ctx();
        let kind = st.stream(ctx).map(|s| s.kind);
        match ty {
            StreamType::Request | StreamType::Response => {
                if kind == Some(Kind::Http) {
                    st.after.push(After::Continue { ctx, ty });
                }
                // `Context::continueStream` then forgets the request maps
                // (whichever direction it continued; `buffering_request_body_`
                // stays as it was).
                if let Some(s) = st.stream_mut(ctx) {
                    s.req_headers_live = false;
                    s.req_body.live = false;
                    s.req_trailers_live = false;
                }
                Ok(Ok(()))
            }
            StreamType::Downstream => {
                if kind == Some(Kind::Tcp) {
                    st.after.push(After::Continue { ctx, ty });
                }
                Ok(Ok(()))
            }
            StreamType::Upstream => Ok(Err(Status::UNIMPLEMENTED)),
        }
    });
    proxy_fn!(linker, "proxy_close_stream", |c, ty: i32| {
        let ty = try_abi!(enum_arg(ty, StreamType::from_raw));
        let st = c.data_mut();
        let ctx = st.ctx();
        let kind = st.stream(ctx).map(|s| s.kind);
        let applies = match ty {
            StreamType::Request | StreamType::Response => kind == Some(Kind::Http),
            StreamType::Downstream | StreamType::Upstream => kind == Some(Kind::Tcp),
        };
        if applies {
            st.after.push(After::Close { ctx });
        }
        Ok(Ok(()))
    });
    Ok(())
}
