//! Guest memory: the one place that turns guest pointers into byte
//! ranges (always bounds-checked: `ptr + len` must lie inside linear memory,
//! as cpp-host's `Wasmtime::getMemory` requires) and that allocates in the
//! guest through its allocator export.

use egress_abi::{AbiResult, Status};
use wasmtime::{Caller, Memory};

use crate::state::{HostState, Restrict, VM_CONTEXT};

type C<'a> = Caller<'a, HostState>;

/// Returns early from a host-function body with a status.
macro_rules! try_abi {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(s) => return Ok(Err(s)),
        }
    };
}
pub(crate) use try_abi;

/// The guest's exported memory.
pub(crate) fn get(c: &C<'_>) -> AbiResult<Memory> {
    c.data().memory.ok_or(Status::INVALID_MEMORY_ACCESS)
}

/// Guest memory and the host state, borrowed together: what a host
/// function reads its arguments from and acts on.
pub(crate) fn split<'a>(c: &'a mut C<'_>) -> AbiResult<(&'a mut [u8], &'a mut HostState)> {
    Ok(get(c)?.data_and_store_mut(c))
}

/// The guest range `[ptr, ptr + len)`, or INVALID_MEMORY_ACCESS. Pointers and
/// lengths are unsigned 32-bit words.
pub(crate) fn slice(mem: &[u8], ptr: i32, len: i32) -> AbiResult<&[u8]> {
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(len as u32 as usize)
        .ok_or(Status::INVALID_MEMORY_ACCESS)?;
    mem.get(start..end).ok_or(Status::INVALID_MEMORY_ACCESS)
}

fn slice_mut(mem: &mut [u8], ptr: u32, len: usize) -> AbiResult<&mut [u8]> {
    let start = ptr as usize;
    let end = start
        .checked_add(len)
        .ok_or(Status::INVALID_MEMORY_ACCESS)?;
    mem.get_mut(start..end).ok_or(Status::INVALID_MEMORY_ACCESS)
}

/// Writes bytes at a guest address.
pub(crate) fn write(c: &mut C<'_>, ptr: i32, bytes: &[u8]) -> AbiResult {
    let mem = get(c)?;
    slice_mut(mem.data_mut(c), ptr as u32, bytes.len())?.copy_from_slice(bytes);
    Ok(())
}

/// `setWord`/`setDatatype<uint32_t>`: 4 bytes little-endian.
pub(crate) fn write_u32(c: &mut C<'_>, ptr: i32, v: u32) -> AbiResult {
    write(c, ptr, &v.to_le_bytes())
}

/// `setDatatype<uint64_t>`: 8 bytes little-endian.
pub(crate) fn write_u64(c: &mut C<'_>, ptr: i32, v: u64) -> AbiResult {
    write(c, ptr, &v.to_le_bytes())
}

/// `allocMemory`: calls the guest allocator with the VM context current and
/// host calls restricted; `None` if there is no allocator, it returned 0, or
/// the block does not fit in memory. A trap in the allocator is returned as
/// `Err` (and ends the guest call).
pub(crate) fn alloc(c: &mut C<'_>, size: usize) -> wasmtime::Result<Option<u32>> {
    let Ok(size32) = i32::try_from(size) else {
        return Ok(None);
    };
    let Some(f) = c.data_mut().alloc.take() else {
        return Ok(None);
    };
    let st = c.data_mut();
    let saved = (st.current, st.effective, st.restrict);
    st.current = VM_CONTEXT;
    st.effective = 0;
    st.restrict = Restrict::Alloc;
    let r = f.call(&mut *c, size32);
    let st = c.data_mut();
    (st.current, st.effective, st.restrict) = saved;
    st.alloc = Some(f);
    let ptr = r? as u32;
    if ptr == 0 {
        return Ok(None);
    }
    let fits = match c.data().memory {
        Some(m) => (ptr as usize)
            .checked_add(size)
            .is_some_and(|end| end <= m.data_size(&*c)),
        None => false,
    };
    Ok(fits.then_some(ptr))
}

/// `copyToPointerSize`: copies `data` into a fresh guest allocation and
/// stores its address and length at the two out-pointers. Empty data is not
/// allocated: address 0, length 0.
pub(crate) fn copy_out(
    c: &mut C<'_>,
    data: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> wasmtime::Result<AbiResult> {
    let mut addr = 0u32;
    if !data.is_empty() {
        let Some(p) = alloc(c, data.len())? else {
            return Ok(Err(Status::INVALID_MEMORY_ACCESS));
        };
        addr = p;
        if let Err(s) = write(c, p as i32, data) {
            return Ok(Err(s));
        }
    }
    try_abi!(write_u32(c, ptr_ptr, addr));
    Ok(write_u32(
        c,
        size_ptr,
        u32::try_from(data.len()).unwrap_or(u32::MAX),
    ))
}

/// The error a restricted host call traps with.
#[derive(Debug)]
pub(crate) struct RestrictedCall(pub(crate) &'static str);

impl std::fmt::Display for RestrictedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "restricted_callback: {} may not be called while the VM starts (_initialize/main) or inside the allocator",
            self.0
        )
    }
}

impl std::error::Error for RestrictedCall {}

/// Traps if `name` is not allowed in the current phase.
pub(crate) fn guard(c: &mut C<'_>, name: &'static str) -> wasmtime::Result<()> {
    let r = c.data().restrict;
    if r == Restrict::None || r.allows(name) {
        return Ok(());
    }
    Err(wasmtime::Error::new(RestrictedCall(name)))
}
