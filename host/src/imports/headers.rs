//! Header maps: get, set, add, replace and remove values and whole maps.
//! Which map a call reaches in which callback is `HostState::map_for_read`
//! and `map_for_write`.

use egress_abi::pairs::encode;
use egress_abi::{AbiResult, MapType, Status};
use wasmtime::Linker;

use super::{C, enum_arg, proxy_fn, return_bytes};
use crate::header_map::{first_value, header_add, header_remove, map_key};
use crate::memory::{self, try_abi, write_u32};
use crate::pairs;
use crate::state::HostState;

/// `proxy_add_header_map_value` and, with `replace`,
/// `proxy_replace_header_map_value`: `addCopy`, or `setCopy` (with
/// `http_set_copy_replace_all_headers`: remove every value, then add one).
fn write_header_value(
    c: &mut C<'_>,
    (ty, kp, kl, vp, vl): (i32, i32, i32, i32, i32),
    replace: bool,
) -> wasmtime::Result<AbiResult> {
    let ty = try_abi!(enum_arg(ty, MapType::from_raw));
    let (data, st) = try_abi!(memory::split(c));
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

/// Registers the header-map imports.
pub(super) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    proxy_fn!(
        linker,
        "proxy_get_header_map_value",
        |c, ty: i32, kp: i32, kl: i32, rp: i32, rl: i32| {
            let ty = try_abi!(enum_arg(ty, MapType::from_raw));
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
            let ty = try_abi!(enum_arg(ty, MapType::from_raw));
            return_bytes(&mut c, (rp, rl), |c, buf| {
                // `getHeaderMapPairs` ignores an absent map: OK with no pairs.
                let st = c.data();
                if let Some(h) = st.map_for_read(st.ctx(), ty)
                    && !h.is_empty()
                {
                    encode(h.iter().map(|(k, v)| (k.as_slice(), v.as_slice())), buf);
                }
                Ok(())
            })
        }
    );
    proxy_fn!(
        linker,
        "proxy_set_header_map_pairs",
        |c, ty: i32, ptr: i32, len: i32| {
            let ty = try_abi!(enum_arg(ty, MapType::from_raw));
            let (data, st) = try_abi!(memory::split(&mut c));
            let raw = try_abi!(memory::slice(data, ptr, len));
            let ctx = st.ctx();
            let Some(h) = st.map_for_write(ctx, ty) else {
                return Ok(Err(Status::BAD_ARGUMENT));
            };
            h.clear();
            for (k, v) in pairs::lenient(raw).iter() {
                header_add(h, map_key(ty, k), v);
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
            let ty = try_abi!(enum_arg(ty, MapType::from_raw));
            let (data, st) = try_abi!(memory::split(&mut c));
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
            let ty = try_abi!(enum_arg(ty, MapType::from_raw));
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
    Ok(())
}
