//! Shared data (with compare-and-swap) and shared queues, which all VMs of
//! a plugin share.

use wasmtime::Linker;

use super::proxy_fn;
use crate::memory::{self, copy_out, try_abi, write_u32};
use crate::state::{self, HostState, ROOT_CONTEXT};

/// Registers the shared-data and shared-queue imports.
pub(super) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    proxy_fn!(
        linker,
        "proxy_get_shared_data",
        |c, kp: i32, kl: i32, rvp: i32, rvl: i32, rcas: i32| {
            let (data, st) = try_abi!(memory::split(&mut c));
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
            let (data, st) = try_abi!(memory::split(&mut c));
            let key = try_abi!(memory::slice(data, kp, kl));
            let value = try_abi!(memory::slice(data, vp, vl));
            Ok(st.services.data.set(key, value, cas as u32))
        }
    );
    proxy_fn!(
        linker,
        "proxy_register_shared_queue",
        |c, np: i32, nl: i32, tp: i32| {
            let (data, st) = try_abi!(memory::split(&mut c));
            let name = try_abi!(memory::slice(data, np, nl));
            // Readiness goes to the root context (`registerSharedQueue`).
            let owner = if st.ctx() == state::VM_CONTEXT {
                state::VM_CONTEXT
            } else {
                ROOT_CONTEXT
            };
            st.owns_queue = true;
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
            let (data, st) = try_abi!(memory::split(&mut c));
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
            let (data, st) = try_abi!(memory::split(&mut c));
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
    Ok(())
}
