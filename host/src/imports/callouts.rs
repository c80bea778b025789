//! HTTP and gRPC calls out of the filter, `proxy_get_status`, and foreign
//! functions (none are registered).

use egress_abi::{AbiResult, MapType, Status};
use wasmtime::Linker;

use super::{C, proxy_fn};
use crate::header_map::map_key;
use crate::memory::{self, copy_out, try_abi, write_u32};
use crate::pairs;
use crate::state::{GrpcOpen, HostState};
use crate::types::{GrpcCall, HttpCall};

/// Registers the HTTP-call, gRPC and foreign-function imports.
pub(super) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    proxy_fn!(
        linker,
        "proxy_http_call",
        |c,
         up: i32,
         ul: i32,
         hp: i32,
         hl: i32,
         bp: i32,
         bl: i32,
         tp: i32,
         tl: i32,
         timeout: i32,
         token_ptr: i32| {
            let mem = try_abi!(memory::get(&c));
            let call = {
                let (data, st) = mem.data_and_store_mut(&mut c);
                let cluster = try_abi!(memory::slice(data, up, ul));
                let body = try_abi!(memory::slice(data, bp, bl));
                let headers = try_abi!(memory::slice(data, hp, hl));
                let trailers = try_abi!(memory::slice(data, tp, tl));
                let headers =
                    pairs::lenient_headers(headers, |k| map_key(MapType::RequestHeaders, k));
                let trailers = pairs::lenient_headers(trailers, <[u8]>::to_ascii_lowercase);
                HttpCall {
                    token: 0,
                    context_id: st.ctx(),
                    cluster: cluster.to_vec(),
                    headers,
                    body: body.to_vec(),
                    trailers,
                    timeout_ms: timeout as u32,
                }
            };
            // The token pointer is checked before the call starts.
            try_abi!(write_u32(&mut c, token_ptr, 0));
            let st = c.data_mut();
            // `Context::httpCall`.
            if timeout < 0 || !st.clusters.contains(&call.cluster) {
                return Ok(Err(Status::BAD_ARGUMENT));
            }
            let has = |name: &[u8]| call.headers.iter().any(|(k, _)| k.as_slice() == name);
            if !has(b":path") || !has(b":method") || !has(b":authority") {
                return Ok(Err(Status::BAD_ARGUMENT));
            }
            st.next_http_call = st.next_http_call.wrapping_add(4);
            let token = st.next_http_call;
            st.http_calls.insert(token, HttpCall { token, ..call });
            Ok(write_u32(&mut c, token_ptr, token))
        }
    );
    proxy_fn!(
        linker,
        "proxy_get_status",
        |c, code_ptr: i32, rp: i32, rl: i32| {
            let (code, msg) = c.data().status.clone();
            try_abi!(write_u32(&mut c, code_ptr, code));
            copy_out(&mut c, &msg, rp, rl)
        }
    );
    proxy_fn!(
        linker,
        "proxy_call_foreign_function",
        |c, np: i32, nl: i32, ap: i32, al: i32, _rp: i32, _rl: i32| {
            let mem = try_abi!(memory::get(&c));
            let data = mem.data(&c);
            try_abi!(memory::slice(data, np, nl));
            try_abi!(memory::slice(data, ap, al));
            // No foreign functions are registered in this host.
            Ok(Err(Status::NOT_FOUND))
        }
    );
    link_grpc(linker)
}

/// `proxy_grpc_*`: calls and streams open on the root context.
fn link_grpc(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    proxy_fn!(
        linker,
        "proxy_grpc_call",
        |c,
         sp: i32,
         sl: i32,
         snp: i32,
         snl: i32,
         mp: i32,
         ml: i32,
         ip: i32,
         il: i32,
         rp: i32,
         rl: i32,
         timeout: i32,
         tp: i32| {
            let args = GrpcOpenArgs {
                ranges: [(sp, sl), (snp, snl), (mp, ml), (ip, il), (rp, rl)],
                timeout: Some(timeout),
                token_ptr: tp,
            };
            open_grpc(&mut c, &args)
        }
    );
    proxy_fn!(
        linker,
        "proxy_grpc_stream",
        |c, sp: i32, sl: i32, snp: i32, snl: i32, mp: i32, ml: i32, ip: i32, il: i32, tp: i32| {
            let args = GrpcOpenArgs {
                ranges: [(sp, sl), (snp, snl), (mp, ml), (ip, il), (0, 0)],
                timeout: None,
                token_ptr: tp,
            };
            open_grpc(&mut c, &args)
        }
    );
    proxy_fn!(
        linker,
        "proxy_grpc_send",
        |c, token: i32, mp: i32, ml: i32, end: i32| {
            let (data, st) = try_abi!(memory::split(&mut c));
            let message = try_abi!(memory::slice(data, mp, ml));
            // `Context::grpcSend`: streams only; an unknown one is NOT_FOUND.
            let token = token as u32;
            if token & 3 != 2 {
                return Ok(Err(Status::BAD_ARGUMENT));
            }
            let Some(open) = st.grpc.get_mut(&token) else {
                return Ok(Err(Status::NOT_FOUND));
            };
            // Envoy's async stream turns sends after its side closed into
            // no-ops (`Http::AsyncStreamImpl::sendData`); after the remote
            // end closed, the stream is gone too.
            if !open.call.end_stream && !open.remote_closed {
                open.call.messages.push(message.to_vec());
                open.call.end_stream = end != 0;
            }
            Ok(Ok(()))
        }
    );
    proxy_fn!(linker, "proxy_grpc_cancel", |c, token: i32| {
        Ok(grpc_end(c.data_mut(), token as u32, true))
    });
    proxy_fn!(linker, "proxy_grpc_close", |c, token: i32| {
        Ok(grpc_end(c.data_mut(), token as u32, false))
    });
    Ok(())
}

/// Guest ranges of `proxy_grpc_call`/`proxy_grpc_stream`, in the ABI's
/// order: service (cluster), service name, method, initial metadata, and a
/// call's request message.
struct GrpcOpenArgs {
    ranges: [(i32, i32); 5],
    /// A unary call's timeout; `None` opens a stream.
    timeout: Option<i32>,
    token_ptr: i32,
}

/// `proxy_grpc_call` and `proxy_grpc_stream` (cpp-host `exports.cc` on the
/// root context, then `Context::grpcCall`/`grpcStream`): check every
/// buffer, refuse an unknown cluster with PARSE_FAILURE, hand out the next
/// token of that kind, then write it (a bad token pointer is
/// INVALID_MEMORY_ACCESS although the call already started).
fn open_grpc(c: &mut C<'_>, a: &GrpcOpenArgs) -> wasmtime::Result<AbiResult> {
    let (data, st) = try_abi!(memory::split(c));
    let [sv, name, method, md, msg] = a.ranges;
    let cluster = try_abi!(memory::slice(data, sv.0, sv.1));
    let service = try_abi!(memory::slice(data, name.0, name.1));
    let method = try_abi!(memory::slice(data, method.0, method.1));
    let metadata = try_abi!(memory::slice(data, md.0, md.1));
    let message = match a.timeout {
        Some(_) => try_abi!(memory::slice(data, msg.0, msg.1)),
        None => &[][..],
    };
    if !st.clusters.contains(cluster) {
        return Ok(Err(Status::PARSE_FAILURE));
    }
    let stream = a.timeout.is_none();
    let counter = if stream {
        &mut st.next_grpc_stream
    } else {
        &mut st.next_grpc_call
    };
    *counter = counter.wrapping_add(4);
    let token = *counter;
    let call = GrpcCall {
        token,
        stream,
        context_id: st.ctx(),
        cluster: cluster.to_vec(),
        service: service.to_vec(),
        method: method.to_vec(),
        // `buildRequestHeaderMapFromPairs`.
        initial_metadata: pairs::lenient_headers(metadata, |k| map_key(MapType::RequestHeaders, k)),
        messages: if stream {
            Vec::new()
        } else {
            vec![message.to_vec()]
        },
        end_stream: !stream,
        timeout_ms: a.timeout.map(|t| t as u32),
    };
    st.grpc.insert(
        token,
        GrpcOpen {
            call,
            local_closed: false,
            remote_closed: false,
            response: None,
        },
    );
    Ok(write_u32(c, a.token_ptr, token))
}

/// `Context::grpcCancel`/`grpcClose`: call and stream tokens are recognised
/// by their low bits; anything else is BAD_ARGUMENT, an unknown one
/// NOT_FOUND. Cancelling forgets a call or stream (no callback follows);
/// closing cancels a call, but only half-closes a stream, which stays (and
/// still receives) until the remote end closes too: it is forgotten at once
/// if the remote end already closed.
fn grpc_end(st: &mut HostState, token: u32, cancel: bool) -> AbiResult {
    if !matches!(token & 3, 1 | 2) {
        return Err(Status::BAD_ARGUMENT);
    }
    let Some(open) = st.grpc.get_mut(&token) else {
        return Err(Status::NOT_FOUND);
    };
    if cancel || !open.call.stream || open.remote_closed {
        st.grpc.remove(&token);
    } else {
        open.local_closed = true;
        open.call.end_stream = true;
    }
    Ok(())
}
