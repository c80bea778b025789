//! The functions the guest imports: every `env.proxy_*` function of ABI
//! 0.2.1 with the status codes Envoy returns, one module per ABI area, and
//! WASI ([`wasi`]).
//!
//! Each follows proxy-wasm-cpp-host's `src/exports.cc` for the argument
//! checks and Envoy's `context.cc` for the behaviour behind them, in
//! `exports.cc`'s order: an out-of-range enum is BAD_ARGUMENT before any
//! memory is touched; then every guest range is bounds-checked
//! (INVALID_MEMORY_ACCESS); then the operation runs; then the results are
//! written (a bad return pointer is INVALID_MEMORY_ACCESS even though the
//! operation already happened).

mod callouts;
mod context;
mod headers;
mod metrics;
mod properties;
mod shared;
mod stream;
pub(crate) mod wasi;

use std::mem;

use egress_abi::{AbiResult, Status};
use wasmtime::{Caller, Linker};

use crate::memory::copy_out;
use crate::state::HostState;

type C<'a> = Caller<'a, HostState>;
type R = wasmtime::Result<i32>;

/// Registers every `env` import.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    context::link(linker)?;
    properties::link(linker)?;
    headers::link(linker)?;
    stream::link(linker)?;
    shared::link(linker)?;
    metrics::link(linker)?;
    callouts::link(linker)
}

/// Folds an [`AbiResult`] into the `i32` the guest receives.
fn code(r: AbiResult) -> i32 {
    match r {
        Ok(()) => 0,
        Err(s) => i32::try_from(s.0).unwrap_or(i32::MAX),
    }
}

/// Reads an enum argument (`MapType::from_raw`, …): out of range is
/// BAD_ARGUMENT (cpp-host `exports.cc`, e.g. `type > WasmHeaderMapType::MAX`).
fn enum_arg<T>(raw: i32, from_raw: fn(u32) -> Option<T>) -> AbiResult<T> {
    from_raw(raw as u32).ok_or(Status::BAD_ARGUMENT)
}

/// Defines a host function that returns a proxy-wasm status. The body
/// evaluates to `wasmtime::Result<AbiResult>`: `Err` traps the guest,
/// `Ok(Err(status))` is returned to it.
macro_rules! proxy_fn {
    ($linker:expr, $name:literal, |$c:ident $(, $a:ident : $t:ty)*| $body:block) => {
        $linker.func_wrap("env", $name, |mut $c: $crate::imports::C<'_> $(, $a: $t)*| -> $crate::imports::R {
            $crate::memory::guard(&mut $c, concat!("env.", $name))?;
            #[allow(unused_mut, reason = "some bodies do not mutate the caller")]
            let mut run = || -> wasmtime::Result<egress_abi::AbiResult> { $body };
            Ok($crate::imports::code(run()?))
        })?;
    };
}
use proxy_fn;

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
