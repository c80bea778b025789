//! Lifecycle and time: logging and the log level, the effective context,
//! `proxy_done`, the tick period and the clock, and the two emscripten
//! stubs Envoy links.

use egress_abi::{LogLevel, Status};
use wasmtime::Linker;

use super::{C, R, enum_arg, proxy_fn};
use crate::memory::{self, guard, try_abi, write_u32, write_u64};
use crate::state::{self, After, HostState};

/// Registers the lifecycle and time imports.
pub(super) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    proxy_fn!(linker, "proxy_log", |c, level: i32, ptr: i32, len: i32| {
        let level = try_abi!(enum_arg(level, LogLevel::from_raw));
        let (data, st) = try_abi!(memory::split(&mut c));
        let msg = try_abi!(memory::slice(data, ptr, len));
        st.log(level, msg);
        Ok(Ok(()))
    });
    proxy_fn!(linker, "proxy_get_log_level", |c, ret: i32| {
        let level = c.data().log_level.raw();
        Ok(write_u32(&mut c, ret, level))
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
