//! Stage: host functions. The `env.proxy_*` imports of ABI 0.2.1, each with
//! the status codes Envoy returns (proxy-wasm-cpp-host `src/exports.cc` for
//! the argument checks, Envoy `context.cc` for the behaviour behind them).
//!
//! Order of checks, as in `exports.cc`: an out-of-range enum is
//! BAD_ARGUMENT before any memory is touched; then every guest range is
//! bounds-checked (INVALID_MEMORY_ACCESS); then the operation runs; then the
//! results are written (a bad return pointer is INVALID_MEMORY_ACCESS even
//! though the operation already happened).

use std::mem;

use wasmtime::{Caller, Linker};

use crate::abi::{AbiResult, BufferType, LogLevel, MapType, MetricKind, Status, StreamType, code};
use crate::memory::{self, copy_out, guard, try_abi, write_u32, write_u64};
use crate::pairs;
use crate::shared::MetricIds;
use crate::state::{
    self, After, GrpcOpen, HostState, Kind, ROOT_CONTEXT, first_value, header_add, header_remove,
    map_key,
};
use crate::types::{GrpcCall, HttpCall, LocalResponse};

type C<'a> = Caller<'a, HostState>;
type R = wasmtime::Result<i32>;

/// Defines a host function that returns a proxy-wasm status. The body
/// evaluates to `wasmtime::Result<AbiResult>`: `Err` traps the guest,
/// `Ok(Err(status))` is returned to it.
macro_rules! proxy_fn {
    ($linker:expr, $name:literal, |$c:ident $(, $a:ident : $t:ty)*| $body:block) => {
        $linker.func_wrap("env", $name, |mut $c: C<'_> $(, $a: $t)*| -> R {
            guard(&mut $c, concat!("env.", $name))?;
            #[allow(unused_mut, reason = "some bodies do not mutate the caller")]
            let mut run = || -> wasmtime::Result<AbiResult> { $body };
            Ok(code(run()?))
        })?;
    };
}

/// Fills the reused scratch buffer with `fill` and, if that succeeds, copies
/// it into guest memory (`*ptr_ptr`, `*size_ptr`), as the `proxy_get_*`
/// calls return bytes. The buffer goes back for the next call either way.
fn return_bytes(
    c: &mut C<'_>,
    (ptr_ptr, size_ptr): (i32, i32),
    fill: impl FnOnce(&mut C<'_>, &mut Vec<u8>) -> Result<(), Status>,
) -> wasmtime::Result<AbiResult> {
    let mut buf = mem::take(&mut c.data_mut().scratch);
    buf.clear();
    let r = match fill(c, &mut buf) {
        Ok(()) => copy_out(c, &buf, ptr_ptr, size_ptr),
        Err(s) => Ok(Err(s)),
    };
    c.data_mut().scratch = buf;
    r
}

/// `proxy_add_header_map_value` and, with `replace`,
/// `proxy_replace_header_map_value`: `addCopy`, or `setCopy` (with
/// `http_set_copy_replace_all_headers`: remove every value, then add one).
fn write_header_value(
    c: &mut C<'_>,
    (ty, kp, kl, vp, vl): (i32, i32, i32, i32, i32),
    replace: bool,
) -> wasmtime::Result<AbiResult> {
    let ty = try_abi!(MapType::from_raw(ty));
    let mem = try_abi!(memory::get(c));
    let (data, st) = mem.data_and_store_mut(c);
    let key = try_abi!(memory::slice(data, kp, kl));
    let value = try_abi!(memory::slice(data, vp, vl));
    let ctx = st.ctx();
    let Some(h) = st.map_for_write(ctx, ty) else {
        return Ok(Err(Status::BAD_ARGUMENT));
    };
    let key = map_key(ty, key);
    if replace {
        header_remove(h, &key);
    }
    header_add(h, key, value);
    Ok(Ok(()))
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
    let mem = try_abi!(memory::get(c));
    let (data, st) = mem.data_and_store_mut(&mut *c);
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
        initial_metadata: pairs::decode_lenient(metadata)
            .into_iter()
            .map(|(k, v)| (map_key(MapType::RequestHeaders, &k), v))
            .collect(),
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

/// Registers every `env` import.
#[expect(
    clippy::too_many_lines,
    reason = "one definition per ABI function, kept together"
)]
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // ---- logging ------------------------------------------------------------
    proxy_fn!(linker, "proxy_log", |c, level: i32, ptr: i32, len: i32| {
        let level = try_abi!(LogLevel::from_raw(level));
        let mem = try_abi!(memory::get(&c));
        let (data, st) = mem.data_and_store_mut(&mut c);
        let msg = try_abi!(memory::slice(data, ptr, len));
        st.log(level, msg);
        Ok(Ok(()))
    });
    proxy_fn!(linker, "proxy_get_log_level", |c, ret: i32| {
        let level = c.data().log_level.raw();
        Ok(write_u32(&mut c, ret, level))
    });

    // ---- properties ---------------------------------------------------------
    proxy_fn!(
        linker,
        "proxy_get_property",
        |c, path_ptr: i32, path_len: i32, ret_ptr: i32, ret_len: i32| {
            let mem = try_abi!(memory::get(&c));
            return_bytes(&mut c, (ret_ptr, ret_len), |c, buf| {
                let (data, st) = mem.data_and_store_mut(c);
                let path = memory::slice(data, path_ptr, path_len)?;
                st.property(st.ctx(), path, buf)
            })
        }
    );
    proxy_fn!(
        linker,
        "proxy_set_property",
        |c, kp: i32, kl: i32, vp: i32, vl: i32| {
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
            let key = try_abi!(memory::slice(data, kp, kl));
            let value = try_abi!(memory::slice(data, vp, vl));
            // `Context::setProperty`: needs stream info (a root context has
            // none), stores a CelState under "wasm." + path.
            let ctx = st.ctx();
            let Some(s) = st.stream_mut(ctx) else {
                return Ok(Err(Status::NOT_FOUND));
            };
            let mut k = String::from("wasm.");
            k.push_str(&String::from_utf8_lossy(key));
            s.fs_writes.insert(k, value.to_vec());
            Ok(Ok(()))
        }
    );

    // ---- header maps --------------------------------------------------------
    proxy_fn!(
        linker,
        "proxy_get_header_map_value",
        |c, ty: i32, kp: i32, kl: i32, rp: i32, rl: i32| {
            let ty = try_abi!(MapType::from_raw(ty));
            let mem = try_abi!(memory::get(&c));
            return_bytes(&mut c, (rp, rl), |c, buf| {
                let (data, st) = mem.data_and_store_mut(c);
                let key = memory::slice(data, kp, kl)?;
                let ctx = st.ctx();
                match st.map_for_read(ctx, ty) {
                    // `getHeaderMapValue`: an absent map is NOT_FOUND in the
                    // access-log phase, BAD_ARGUMENT otherwise.
                    None if st.in_access_log(ctx) => Err(Status::NOT_FOUND),
                    None => Err(Status::BAD_ARGUMENT),
                    Some(h) => {
                        let v = first_value(h, &map_key(ty, key)).ok_or(Status::NOT_FOUND)?;
                        buf.extend_from_slice(v);
                        Ok(())
                    }
                }
            })
        }
    );
    proxy_fn!(
        linker,
        "proxy_get_header_map_pairs",
        |c, ty: i32, rp: i32, rl: i32| {
            let ty = try_abi!(MapType::from_raw(ty));
            return_bytes(&mut c, (rp, rl), |c, buf| {
                // `getHeaderMapPairs` ignores an absent map: OK with no pairs.
                let st = c.data();
                if let Some(h) = st.map_for_read(st.ctx(), ty)
                    && !h.is_empty()
                {
                    pairs::encode(h.iter().map(|(k, v)| (k.as_slice(), v.as_slice())), buf);
                }
                Ok(())
            })
        }
    );
    proxy_fn!(
        linker,
        "proxy_set_header_map_pairs",
        |c, ty: i32, ptr: i32, len: i32| {
            let ty = try_abi!(MapType::from_raw(ty));
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
            let raw = try_abi!(memory::slice(data, ptr, len));
            let ctx = st.ctx();
            let Some(h) = st.map_for_write(ctx, ty) else {
                return Ok(Err(Status::BAD_ARGUMENT));
            };
            h.clear();
            for (k, v) in pairs::decode_lenient(raw) {
                header_add(h, map_key(ty, &k), &v);
            }
            Ok(Ok(()))
        }
    );
    proxy_fn!(
        linker,
        "proxy_add_header_map_value",
        |c, ty: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            write_header_value(&mut c, (ty, kp, kl, vp, vl), false)
        }
    );
    proxy_fn!(
        linker,
        "proxy_replace_header_map_value",
        |c, ty: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            write_header_value(&mut c, (ty, kp, kl, vp, vl), true)
        }
    );
    proxy_fn!(
        linker,
        "proxy_remove_header_map_value",
        |c, ty: i32, kp: i32, kl: i32| {
            let ty = try_abi!(MapType::from_raw(ty));
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
            let key = try_abi!(memory::slice(data, kp, kl));
            let ctx = st.ctx();
            let Some(h) = st.map_for_write(ctx, ty) else {
                return Ok(Err(Status::BAD_ARGUMENT));
            };
            header_remove(h, &map_key(ty, key));
            Ok(Ok(()))
        }
    );
    proxy_fn!(
        linker,
        "proxy_get_header_map_size",
        |c, ty: i32, ret: i32| {
            let ty = try_abi!(MapType::from_raw(ty));
            let st = c.data_mut();
            let ctx = st.ctx();
            // `getHeaderMapSize` uses the writable map and reports `byteSize()`.
            let Some(h) = st.map_for_write(ctx, ty) else {
                return Ok(Err(Status::BAD_ARGUMENT));
            };
            let size: usize = h.iter().map(|(k, v)| k.len() + v.len()).sum();
            Ok(write_u32(
                &mut c,
                ret,
                u32::try_from(size).unwrap_or(u32::MAX),
            ))
        }
    );

    // ---- buffers ------------------------------------------------------------
    proxy_fn!(
        linker,
        "proxy_get_buffer_bytes",
        |c, ty: i32, start: i32, length: i32, rp: i32, rl: i32| {
            let ty = try_abi!(BufferType::from_raw(ty));
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
            let ty = try_abi!(BufferType::from_raw(ty));
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
            let ty = try_abi!(BufferType::from_raw(ty));
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
            let ctx = st.ctx();
            if st.buffer_for_read(ctx, ty).is_none() {
                return Ok(Err(Status::NOT_FOUND));
            }
            let bytes = try_abi!(memory::slice(data, dp, dl));
            Ok(st.buffer_write(ctx, ty, start as u32, length as u32, bytes))
        }
    );

    // ---- stream control -----------------------------------------------------
    proxy_fn!(
        linker,
        "proxy_send_local_response",
        |c, status: i32, dp: i32, dl: i32, bp: i32, bl: i32, hp: i32, hl: i32, grpc: i32| {
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
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
                    headers: pairs::decode_lenient(headers)
                        .into_iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v))
                        .collect(),
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
        let ty = try_abi!(StreamType::from_raw(ty));
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
        let ty = try_abi!(StreamType::from_raw(ty));
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
    proxy_fn!(linker, "proxy_set_effective_context", |c, id: i32| {
        let st = c.data_mut();
        let id = id as u32;
        if !st.context_exists(id) {
            return Ok(Err(Status::BAD_ARGUMENT));
        }
        st.effective = id;
        Ok(Ok(()))
    });
    proxy_fn!(linker, "proxy_done", |c| {
        // `WasmBase::done`: only a root context whose `on_done` returned
        // false is waiting for this.
        let st = c.data_mut();
        if !st.root_pending_done {
            return Ok(Err(Status::NOT_FOUND));
        }
        st.root_pending_done = false;
        st.after.push(After::DeleteRoot);
        Ok(Ok(()))
    });

    // ---- time -----------------------------------------------------------------
    proxy_fn!(
        linker,
        "proxy_set_tick_period_milliseconds",
        |c, ms: i32| {
            c.data_mut().tick_period_ms = ms as u32;
            Ok(Ok(()))
        }
    );
    proxy_fn!(
        linker,
        "proxy_get_current_time_nanoseconds",
        |c, ret: i32| {
            let now = state::unix_nanos(c.data().clock.now());
            Ok(write_u64(&mut c, ret, now))
        }
    );

    // ---- shared data and queues -----------------------------------------------
    proxy_fn!(
        linker,
        "proxy_get_shared_data",
        |c, kp: i32, kl: i32, rvp: i32, rvl: i32, rcas: i32| {
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
            let key = try_abi!(memory::slice(data, kp, kl));
            let (value, cas) = try_abi!(st.services.data.get(key));
            try_abi!(copy_out(&mut c, &value, rvp, rvl)?);
            Ok(write_u32(&mut c, rcas, cas))
        }
    );
    proxy_fn!(
        linker,
        "proxy_set_shared_data",
        |c, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| {
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
            let key = try_abi!(memory::slice(data, kp, kl));
            let value = try_abi!(memory::slice(data, vp, vl));
            Ok(st.services.data.set(key, value, cas as u32))
        }
    );
    proxy_fn!(
        linker,
        "proxy_register_shared_queue",
        |c, np: i32, nl: i32, tp: i32| {
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
            let name = try_abi!(memory::slice(data, np, nl));
            // Readiness goes to the root context (`registerSharedQueue`).
            let owner = if st.ctx() == state::VM_CONTEXT {
                state::VM_CONTEXT
            } else {
                ROOT_CONTEXT
            };
            let token = st.services.queues.register(
                st.plugin.vm_id.as_bytes(),
                name,
                st.inbox.clone(),
                owner,
            );
            Ok(write_u32(&mut c, tp, token))
        }
    );
    proxy_fn!(
        linker,
        "proxy_resolve_shared_queue",
        |c, vp: i32, vl: i32, np: i32, nl: i32, tp: i32| {
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
            let vm_id = try_abi!(memory::slice(data, vp, vl));
            let name = try_abi!(memory::slice(data, np, nl));
            let vm_id = if vm_id.is_empty() {
                st.plugin.vm_id.as_bytes()
            } else {
                vm_id
            };
            let token = try_abi!(st.services.queues.resolve(vm_id, name));
            Ok(write_u32(&mut c, tp, token))
        }
    );
    proxy_fn!(
        linker,
        "proxy_enqueue_shared_queue",
        |c, token: i32, dp: i32, dl: i32| {
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
            let value = try_abi!(memory::slice(data, dp, dl));
            Ok(st.services.queues.enqueue(token as u32, value))
        }
    );
    proxy_fn!(
        linker,
        "proxy_dequeue_shared_queue",
        |c, token: i32, rp: i32, rl: i32| {
            let value = try_abi!(c.data().services.queues.dequeue(token as u32));
            copy_out(&mut c, &value, rp, rl)
        }
    );

    // ---- metrics --------------------------------------------------------------
    proxy_fn!(
        linker,
        "proxy_define_metric",
        |c, ty: i32, np: i32, nl: i32, idp: i32| {
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
            let name = try_abi!(memory::slice(data, np, nl));
            let Some(kind) = u32::try_from(ty).ok().and_then(MetricKind::from_bits) else {
                return Ok(Err(Status::BAD_ARGUMENT));
            };
            let name = String::from_utf8_lossy(name).into_owned();
            let id = st.metric_ids.define(&st.metrics, kind, &name);
            Ok(write_u32(&mut c, idp, id))
        }
    );
    proxy_fn!(
        linker,
        "proxy_increment_metric",
        |c, id: i32, offset: i64| {
            let id = id as u32;
            let st = c.data();
            // `Context::incrementMetric`.
            let r = match MetricIds::kind_of(id) {
                Some(MetricKind::Counter) => match st.metric_ids.get(id) {
                    Some(m) if offset > 0 => {
                        m.add(offset.unsigned_abs());
                        Ok(())
                    }
                    Some(_) => Err(Status::BAD_ARGUMENT),
                    None => Err(Status::NOT_FOUND),
                },
                Some(MetricKind::Gauge) => match st.metric_ids.get(id) {
                    Some(m) => {
                        if offset > 0 {
                            m.add(offset.unsigned_abs());
                        } else {
                            m.sub(offset.unsigned_abs());
                        }
                        Ok(())
                    }
                    None => Err(Status::NOT_FOUND),
                },
                _ => Err(Status::BAD_ARGUMENT),
            };
            Ok(r)
        }
    );
    proxy_fn!(linker, "proxy_record_metric", |c, id: i32, value: i64| {
        let id = id as u32;
        let value = value as u64;
        // `Context::recordMetric`: a counter adds, a gauge sets, a histogram records.
        let r = match (MetricIds::kind_of(id), c.data().metric_ids.get(id)) {
            (Some(MetricKind::Counter), Some(m)) => {
                m.add(value);
                Ok(())
            }
            (Some(MetricKind::Gauge), Some(m)) => {
                m.set(value);
                Ok(())
            }
            (Some(MetricKind::Histogram), Some(m)) => {
                m.record(value);
                Ok(())
            }
            _ => Err(Status::NOT_FOUND),
        };
        Ok(r)
    });
    proxy_fn!(linker, "proxy_get_metric", |c, id: i32, ret: i32| {
        let id = id as u32;
        let value = match MetricIds::kind_of(id) {
            Some(MetricKind::Counter | MetricKind::Gauge) => match c.data().metric_ids.get(id) {
                Some(m) => m.get(),
                None => return Ok(Err(Status::NOT_FOUND)),
            },
            _ => return Ok(Err(Status::BAD_ARGUMENT)),
        };
        Ok(write_u64(&mut c, ret, value))
    });

    // ---- HTTP and gRPC calls ------------------------------------------------
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
                let headers: Vec<(Vec<u8>, Vec<u8>)> = pairs::decode_lenient(headers)
                    .into_iter()
                    .map(|(k, v)| (map_key(MapType::RequestHeaders, &k), v))
                    .collect();
                let trailers = pairs::decode_lenient(trailers)
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect();
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
            let mem = try_abi!(memory::get(&c));
            let (data, st) = mem.data_and_store_mut(&mut c);
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

    // ---- emscripten leftovers Envoy links --------------------------------------
    linker.func_wrap(
        "env",
        "pthread_equal",
        |mut c: C<'_>, a: i32, b: i32| -> R {
            guard(&mut c, "env.pthread_equal")?;
            Ok(i32::from(a == b))
        },
    )?;
    linker.func_wrap(
        "env",
        "emscripten_notify_memory_growth",
        |mut c: C<'_>, _: i32| -> wasmtime::Result<()> {
            guard(&mut c, "env.emscripten_notify_memory_growth")
        },
    )?;
    Ok(())
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
