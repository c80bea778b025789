//! Calling into the guest: its exports looked up once, the per-call budget
//! (epoch deadline, fuel), and the one place a guest call's failure becomes
//! a [`HostError`] and poisons the VM.

use std::time::Duration;

use wasmtime::{Instance, Store, Trap, TypedFunc, WasmParams, WasmResults};

use super::HostConfig;
use crate::engine;
use crate::error::HostError;
use crate::memory::RestrictedCall;
use crate::state::{HostState, Restrict};
use crate::types::LogLine;

/// The export `name` with the signature the ABI gives it: `None` when the
/// module lacks it, an error when it has another signature.
pub(super) fn typed<P: WasmParams, R: WasmResults>(
    instance: &Instance,
    store: &mut Store<HostState>,
    name: &str,
) -> Result<Option<TypedFunc<P, R>>, HostError> {
    match instance.get_func(&mut *store, name) {
        None => Ok(None),
        Some(f) => f
            .typed::<P, R>(&*store)
            .map(Some)
            .map_err(|e| HostError::Abi(format!("the export {name} has the wrong signature ({e}); Envoy fails such a module with \"Bad function signature\""))),
    }
}

/// `proxy_on_http_call_response`'s parameters.
pub(super) type Args5 = (i32, i32, i32, i32, i32);

/// The guest's callbacks, looked up once.
pub(super) struct Exports {
    pub(super) initialize: Option<TypedFunc<(), ()>>,
    pub(super) main: Option<TypedFunc<(i32, i32), i32>>,
    pub(super) main_void: Option<TypedFunc<(), i32>>,
    pub(super) start: Option<TypedFunc<(), ()>>,
    pub(super) on_context_create: Option<TypedFunc<(i32, i32), ()>>,
    pub(super) on_vm_start: Option<TypedFunc<(i32, i32), i32>>,
    pub(super) on_configure: Option<TypedFunc<(i32, i32), i32>>,
    pub(super) on_done: Option<TypedFunc<i32, i32>>,
    pub(super) on_log: Option<TypedFunc<i32, ()>>,
    pub(super) on_delete: Option<TypedFunc<i32, ()>>,
    pub(super) on_tick: Option<TypedFunc<i32, ()>>,
    pub(super) on_queue_ready: Option<TypedFunc<(i32, i32), ()>>,
    pub(super) on_new_connection: Option<TypedFunc<i32, i32>>,
    pub(super) on_downstream_data: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub(super) on_upstream_data: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub(super) on_downstream_connection_close: Option<TypedFunc<(i32, i32), ()>>,
    pub(super) on_upstream_connection_close: Option<TypedFunc<(i32, i32), ()>>,
    pub(super) on_request_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub(super) on_request_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub(super) on_response_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub(super) on_response_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub(super) on_request_trailers: Option<TypedFunc<(i32, i32), i32>>,
    pub(super) on_response_trailers: Option<TypedFunc<(i32, i32), i32>>,
    pub(super) on_http_call_response: Option<TypedFunc<Args5, ()>>,
    pub(super) on_grpc_receive_initial_metadata: Option<TypedFunc<(i32, i32, i32), ()>>,
    pub(super) on_grpc_receive: Option<TypedFunc<(i32, i32, i32), ()>>,
    pub(super) on_grpc_receive_trailing_metadata: Option<TypedFunc<(i32, i32, i32), ()>>,
    pub(super) on_grpc_close: Option<TypedFunc<(i32, i32, i32), ()>>,
}

impl Exports {
    pub(super) fn get(i: &Instance, s: &mut Store<HostState>) -> Result<Self, HostError> {
        Ok(Self {
            initialize: typed(i, s, "_initialize")?,
            main: typed(i, s, "main")?,
            main_void: typed(i, s, "__main_void")?,
            start: typed(i, s, "_start")?,
            on_context_create: typed(i, s, "proxy_on_context_create")?,
            on_vm_start: typed(i, s, "proxy_on_vm_start")?,
            on_configure: typed(i, s, "proxy_on_configure")?,
            on_done: typed(i, s, "proxy_on_done")?,
            on_log: typed(i, s, "proxy_on_log")?,
            on_delete: typed(i, s, "proxy_on_delete")?,
            on_tick: typed(i, s, "proxy_on_tick")?,
            on_queue_ready: typed(i, s, "proxy_on_queue_ready")?,
            on_new_connection: typed(i, s, "proxy_on_new_connection")?,
            on_downstream_data: typed(i, s, "proxy_on_downstream_data")?,
            on_upstream_data: typed(i, s, "proxy_on_upstream_data")?,
            on_downstream_connection_close: typed(i, s, "proxy_on_downstream_connection_close")?,
            on_upstream_connection_close: typed(i, s, "proxy_on_upstream_connection_close")?,
            on_request_headers: typed(i, s, "proxy_on_request_headers")?,
            on_request_body: typed(i, s, "proxy_on_request_body")?,
            on_response_headers: typed(i, s, "proxy_on_response_headers")?,
            on_response_body: typed(i, s, "proxy_on_response_body")?,
            on_request_trailers: typed(i, s, "proxy_on_request_trailers")?,
            on_response_trailers: typed(i, s, "proxy_on_response_trailers")?,
            on_http_call_response: typed(i, s, "proxy_on_http_call_response")?,
            on_grpc_receive_initial_metadata: typed(
                i,
                s,
                "proxy_on_grpc_receive_initial_metadata",
            )?,
            on_grpc_receive: typed(i, s, "proxy_on_grpc_receive")?,
            on_grpc_receive_trailing_metadata: typed(
                i,
                s,
                "proxy_on_grpc_receive_trailing_metadata",
            )?,
            on_grpc_close: typed(i, s, "proxy_on_grpc_close")?,
        })
    }
}

/// Per-call limits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    pub(super) ticks: u64,
    pub(super) fuel: Option<u64>,
    pub(super) timeout: Duration,
}

impl Budget {
    pub(super) fn new(cfg: &HostConfig) -> Self {
        let ticks = cfg
            .call_timeout
            .as_nanos()
            .div_ceil(engine::TICK.as_nanos().max(1));
        Self {
            ticks: u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1),
            fuel: cfg.fuel,
            timeout: cfg.call_timeout,
        }
    }
}

/// Calls a guest function with `ctx` as the current context and the call
/// budget reset; a failure poisons the VM.
#[expect(
    clippy::too_many_arguments,
    reason = "split borrows of the Vm's fields"
)]
pub(super) fn call_guest<P: WasmParams, R: WasmResults>(
    store: &mut Store<HostState>,
    poisoned: &mut Option<String>,
    budget: &Budget,
    f: &TypedFunc<P, R>,
    name: &str,
    ctx: u32,
    args: P,
    restrict: Restrict,
) -> Result<R, HostError> {
    if let Some(first) = poisoned {
        return Err(HostError::Poisoned {
            first: first.clone(),
        });
    }
    {
        let st = store.data_mut();
        st.current = ctx;
        st.effective = 0;
        st.restrict = restrict;
        // `DeferAfterCallActions` clears stopNextIteration after every VM call.
        st.stop_iteration = false;
    }
    store.set_epoch_deadline(budget.ticks);
    if let Some(fuel) = budget.fuel {
        store
            .set_fuel(fuel)
            .map_err(|e| HostError::Usage(format!("could not set fuel: {e}")))?;
    }
    let r = f.call(&mut *store, args);
    store.data_mut().restrict = Restrict::None;
    match r {
        Ok(v) => Ok(v),
        Err(e) => {
            let last_logs: Vec<LogLine> = store.data().recent.iter().cloned().collect();
            let callback = name.to_owned();
            let err = match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => HostError::Timeout {
                    callback,
                    limit: budget.timeout,
                    last_logs,
                },
                Some(Trap::OutOfFuel) => HostError::OutOfFuel {
                    callback,
                    fuel: budget.fuel.unwrap_or(0),
                    last_logs,
                },
                Some(t) => HostError::Trap {
                    callback,
                    message: t.to_string(),
                    last_logs,
                },
                None => match e.downcast_ref::<RestrictedCall>() {
                    Some(r) => HostError::Trap {
                        callback,
                        message: r.to_string(),
                        last_logs,
                    },
                    None => HostError::Trap {
                        callback,
                        message: e.root_cause().to_string(),
                        last_logs,
                    },
                },
            };
            *poisoned = Some(match &err {
                HostError::Trap {
                    callback, message, ..
                } => format!("{callback} trapped: {message}"),
                HostError::Timeout { callback, .. } => format!("{callback} ran out of time"),
                HostError::OutOfFuel { callback, .. } => format!("{callback} ran out of fuel"),
                other => other.to_string(),
            });
            Err(err)
        }
    }
}

/// Calls an optional export: `Ok(None)` if the module does not export it.
macro_rules! guest {
    ($vm:ident . $f:ident ($ctx:expr, $args:expr)) => {
        match &$vm.ex.$f {
            Some(func) => call_guest(
                &mut $vm.store,
                &mut $vm.poisoned,
                &$vm.budget,
                func,
                concat!("proxy_", stringify!($f)),
                $ctx,
                $args,
                Restrict::None,
            )
            .map(Some),
            None => Ok(None),
        }
    };
}
pub(super) use guest;

pub(super) fn id32(id: u32) -> i32 {
    id as i32
}

pub(super) fn len32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
