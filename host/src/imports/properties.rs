//! Properties: `proxy_get_property` reads what `HostState::property`
//! finds; `proxy_set_property` writes filter state.

use egress_abi::Status;
use wasmtime::Linker;

use super::{proxy_fn, return_bytes};
use crate::memory::{self, try_abi};
use crate::state::HostState;

/// Registers the property imports.
pub(super) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
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
            let (data, st) = try_abi!(memory::split(&mut c));
            let key = try_abi!(memory::slice(data, kp, kl));
            let value = try_abi!(memory::slice(data, vp, vl));
            // `Context::setProperty`: needs stream info (a root context has
            // none), stores a CelState under "wasm." + path.
            let ctx = st.ctx();
            let Some(s) = st.stream_mut(ctx) else {
                return Ok(Err(Status::NOT_FOUND));
            };
            let key = String::from_utf8_lossy(key);
            let mut k = String::with_capacity(5 + key.len());
            k.push_str("wasm.");
            k.push_str(&key);
            s.fs_writes.insert(k, value.to_vec());
            Ok(Ok(()))
        }
    );
    Ok(())
}
