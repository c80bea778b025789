//! Stage: WASI. The `wasi_snapshot_preview1` (and legacy `wasi_unstable`)
//! functions Envoy links for a proxy-wasm module, with the answers
//! proxy-wasm-cpp-host gives (`src/exports.cc`, `FOR_ALL_WASI_FUNCTIONS`):
//! stdout and stderr go to the log (info and error, one trailing newline
//! trimmed), the environment comes from the plugin's `env` list, clocks are
//! realtime and monotonic, there is no file system (errors), and
//! `proc_exit` only logs (the guest then traps on its own `unreachable`).
//!
//! Signatures are those of the WASI preview1 witx; errno values:
//! ESUCCESS 0, EBADF 8, ENOTDIR 20, EFAULT 21, EINVAL 28, ENOENT 44, ENOSYS
//! 52, ENOTSUP 58.

use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use wasmtime::{Caller, Linker};

use crate::abi::LogLevel;
use crate::memory::{self, guard};
use crate::state::{self, HostState};

type C<'a> = Caller<'a, HostState>;

const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;
const ENOTDIR: i32 = 20;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ENOENT: i32 = 44;
const ENOSYS: i32 = 52;
const ENOTSUP: i32 = 58;

/// cpp-host's `PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES`.
const RANDOM_MAX: u32 = 64 * 1024;

/// Registers one function under both WASI module names.
macro_rules! wasi_fn {
    ($linker:expr, $name:literal, |$c:ident $(, $a:ident : $t:ty)*| -> $ret:ty $body:block) => {
        $linker.func_wrap("wasi_snapshot_preview1", $name, move |mut $c: C<'_> $(, $a: $t)*| -> wasmtime::Result<$ret> {
            guard(&mut $c, concat!("wasi_snapshot_preview1.", $name))?;
            Ok($body)
        })?;
        $linker.func_wrap("wasi_unstable", $name, move |mut $c: C<'_> $(, $a: $t)*| -> wasmtime::Result<$ret> {
            guard(&mut $c, concat!("wasi_unstable.", $name))?;
            Ok($body)
        })?;
    };
}

fn stdio(fd: i32) -> bool {
    fd == 1 || fd == 2
}

fn errno(r: crate::abi::AbiResult, ok: i32) -> i32 {
    if r.is_ok() { ok } else { EFAULT }
}

/// `writevImpl`: gathers the iovecs, trims one trailing newline, logs.
fn writev(c: &mut C<'_>, fd: i32, iovs: i32, iovs_len: i32) -> Result<u32, i32> {
    let level = match fd {
        1 => LogLevel::Info,
        2 => LogLevel::Error,
        _ => return Err(EBADF),
    };
    let mem = memory::get(c).map_err(|_| EFAULT)?;
    let (data, st) = mem.data_and_store_mut(c);
    let mut text = Vec::new();
    for i in 0..iovs_len.max(0) as u32 {
        let at = (iovs as u32).wrapping_add(i.wrapping_mul(8)) as i32;
        let iov = memory::slice(data, at, 8).map_err(|_| EFAULT)?;
        let word = |o: usize| {
            iov.get(o..o + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .unwrap_or(0)
        };
        let (buf, len) = (word(0), word(4));
        if len != 0 {
            text.extend_from_slice(
                memory::slice(data, buf as i32, len as i32).map_err(|_| EFAULT)?,
            );
        }
    }
    let written = u32::try_from(text.len()).unwrap_or(u32::MAX);
    if !text.is_empty() {
        if text.last() == Some(&b'\n') {
            text.pop();
        }
        st.log(level, &text);
    }
    Ok(written)
}

/// Registers every WASI function.
#[expect(
    clippy::too_many_lines,
    reason = "one definition per WASI function, kept together"
)]
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let started = Instant::now();

    wasi_fn!(linker, "fd_write", |c,
                                  fd: i32,
                                  iovs: i32,
                                  iovs_len: i32,
                                  nwritten: i32|
     -> i32 {
        match writev(&mut c, fd, iovs, iovs_len) {
            Ok(n) => errno(memory::write_u32(&mut c, nwritten, n), ESUCCESS),
            Err(e) => e,
        }
    });
    wasi_fn!(linker, "fd_pwrite", |c,
                                   fd: i32,
                                   iovs: i32,
                                   iovs_len: i32,
                                   _offset: i64,
                                   nwritten: i32|
     -> i32 {
        if !stdio(fd) {
            EBADF
        } else {
            match writev(&mut c, fd, iovs, iovs_len) {
                Ok(n) => errno(memory::write_u32(&mut c, nwritten, n), ESUCCESS),
                Err(e) => e,
            }
        }
    });
    wasi_fn!(linker, "fd_read", |c,
                                 _fd: i32,
                                 _iovs: i32,
                                 _len: i32,
                                 _nread: i32|
     -> i32 { ENOSYS });
    wasi_fn!(linker, "fd_pread", |c,
                                  _fd: i32,
                                  _iovs: i32,
                                  _len: i32,
                                  _off: i64,
                                  _nread: i32|
     -> i32 { ENOSYS });
    wasi_fn!(linker, "fd_seek", |c,
                                 _fd: i32,
                                 _offset: i64,
                                 _whence: i32,
                                 _newoffset: i32|
     -> i32 { ESUCCESS });
    wasi_fn!(linker, "fd_close", |c, _fd: i32| -> i32 { ESUCCESS });
    wasi_fn!(linker, "fd_fdstat_get", |c, fd: i32, stat: i32| -> i32 {
        if !stdio(fd) {
            EBADF
        } else {
            // A 24-byte fdstat: filetype 0, rights_base FD_WRITE (64), the rest 0.
            let mut b = [0u8; 24];
            if let Some(slot) = b.get_mut(8..16) {
                slot.copy_from_slice(&64u64.to_le_bytes());
            }
            // cpp-host ignores a failed write here.
            let _ = memory::write(&mut c, stat, &b);
            ESUCCESS
        }
    });
    wasi_fn!(linker, "fd_fdstat_set_flags", |c,
                                             _fd: i32,
                                             _flags: i32|
     -> i32 { ENOSYS });
    wasi_fn!(linker, "fd_fdstat_set_rights", |c,
                                              fd: i32,
                                              _base: i64,
                                              _inh: i64|
     -> i32 {
        if stdio(fd) { ESUCCESS } else { EBADF }
    });
    wasi_fn!(linker, "fd_advise", |c,
                                   _fd: i32,
                                   _off: i64,
                                   _len: i64,
                                   _advice: i32|
     -> i32 { ESUCCESS });
    wasi_fn!(linker, "fd_allocate", |c,
                                     fd: i32,
                                     _off: i64,
                                     _len: i64|
     -> i32 {
        if stdio(fd) { ESUCCESS } else { EBADF }
    });
    wasi_fn!(linker, "fd_datasync", |c, fd: i32| -> i32 {
        if stdio(fd) { ESUCCESS } else { EBADF }
    });
    wasi_fn!(linker, "fd_sync", |c, fd: i32| -> i32 {
        if stdio(fd) { ESUCCESS } else { EBADF }
    });
    wasi_fn!(linker, "fd_filestat_set_size", |c,
                                              fd: i32,
                                              _size: i64|
     -> i32 {
        if stdio(fd) { ESUCCESS } else { EBADF }
    });
    wasi_fn!(linker, "fd_filestat_set_times", |c,
                                               fd: i32,
                                               _a: i64,
                                               _m: i64,
                                               _flags: i32|
     -> i32 {
        if stdio(fd) { ESUCCESS } else { EBADF }
    });
    wasi_fn!(linker, "fd_filestat_get", |c, _fd: i32, _buf: i32| -> i32 {
        EBADF
    });
    wasi_fn!(linker, "fd_readdir", |c,
                                    _fd: i32,
                                    _buf: i32,
                                    _len: i32,
                                    _cookie: i64,
                                    nread: i32|
     -> i32 {
        errno(memory::write_u32(&mut c, nread, 0), ENOTDIR)
    });
    wasi_fn!(linker, "fd_renumber", |c, fd: i32, to: i32| -> i32 {
        if stdio(fd) && stdio(to) {
            ENOTSUP
        } else {
            EBADF
        }
    });
    wasi_fn!(linker, "fd_tell", |c, fd: i32, ret: i32| -> i32 {
        if stdio(fd) {
            errno(memory::write_u64(&mut c, ret, 0), ESUCCESS)
        } else {
            EBADF
        }
    });
    wasi_fn!(linker, "fd_prestat_get", |c, _fd: i32, _buf: i32| -> i32 {
        EBADF
    });
    wasi_fn!(linker, "fd_prestat_dir_name", |c,
                                             _fd: i32,
                                             _path: i32,
                                             _len: i32|
     -> i32 { ENOSYS });
    wasi_fn!(linker, "path_open", |c,
                                   _fd: i32,
                                   _dirflags: i32,
                                   _path: i32,
                                   _len: i32,
                                   _oflags: i32,
                                   _base: i64,
                                   _inh: i64,
                                   _fdflags: i32,
                                   _ret: i32|
     -> i32 { ENOENT });
    wasi_fn!(linker, "path_filestat_get", |c,
                                           _fd: i32,
                                           _flags: i32,
                                           _path: i32,
                                           _len: i32,
                                           _buf: i32|
     -> i32 { ENOTSUP });
    wasi_fn!(linker, "path_create_directory", |c,
                                               _fd: i32,
                                               _path: i32,
                                               _len: i32|
     -> i32 { ENOTSUP });
    wasi_fn!(linker, "path_filestat_set_times", |c,
                                                 _fd: i32,
                                                 _flags: i32,
                                                 _path: i32,
                                                 _len: i32,
                                                 _a: i64,
                                                 _m: i64,
                                                 _fst: i32|
     -> i32 { ENOTSUP });
    wasi_fn!(linker, "path_link", |c,
                                   _ofd: i32,
                                   _oflags: i32,
                                   _op: i32,
                                   _ol: i32,
                                   _nfd: i32,
                                   _np: i32,
                                   _nl: i32|
     -> i32 { ENOTSUP });
    wasi_fn!(linker, "path_readlink", |c,
                                       _fd: i32,
                                       _path: i32,
                                       _len: i32,
                                       _buf: i32,
                                       _buf_len: i32,
                                       ret: i32|
     -> i32 {
        errno(memory::write_u32(&mut c, ret, 0), ENOTSUP)
    });
    wasi_fn!(linker, "path_remove_directory", |c,
                                               _fd: i32,
                                               _path: i32,
                                               _len: i32|
     -> i32 { ENOTSUP });
    wasi_fn!(linker, "path_rename", |c,
                                     _fd: i32,
                                     _op: i32,
                                     _ol: i32,
                                     _nfd: i32,
                                     _np: i32,
                                     _nl: i32|
     -> i32 { ENOTSUP });
    wasi_fn!(linker, "path_symlink", |c,
                                      _op: i32,
                                      _ol: i32,
                                      _fd: i32,
                                      _np: i32,
                                      _nl: i32|
     -> i32 { ENOTSUP });
    wasi_fn!(linker, "path_unlink_file", |c,
                                          _fd: i32,
                                          _path: i32,
                                          _len: i32|
     -> i32 { ENOTSUP });
    wasi_fn!(linker, "sock_accept", |c,
                                     _fd: i32,
                                     _flags: i32,
                                     ret: i32|
     -> i32 {
        errno(memory::write_u32(&mut c, ret, 0), ENOTSUP)
    });
    wasi_fn!(linker, "sock_recv", |c,
                                   _fd: i32,
                                   _ri: i32,
                                   _ril: i32,
                                   _flags: i32,
                                   ret0: i32,
                                   ret1: i32|
     -> i32 {
        if memory::write_u32(&mut c, ret0, 0).is_err()
            || memory::write(&mut c, ret1, &[0, 0]).is_err()
        {
            EFAULT
        } else {
            ENOTSUP
        }
    });
    wasi_fn!(linker, "sock_send", |c,
                                   _fd: i32,
                                   _si: i32,
                                   _sil: i32,
                                   _flags: i32,
                                   ret: i32|
     -> i32 {
        errno(memory::write_u32(&mut c, ret, 0), ENOTSUP)
    });
    wasi_fn!(linker, "sock_shutdown", |c, _fd: i32, _how: i32| -> i32 {
        ENOTSUP
    });
    wasi_fn!(linker, "environ_sizes_get", |c,
                                           count_ptr: i32,
                                           size_ptr: i32|
     -> i32 {
        let envs = c.data().plugin.envs.clone();
        let size: usize = envs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        if memory::write_u32(
            &mut c,
            count_ptr,
            u32::try_from(envs.len()).unwrap_or(u32::MAX),
        )
        .is_err()
        {
            EFAULT
        } else {
            errno(
                memory::write_u32(&mut c, size_ptr, u32::try_from(size).unwrap_or(u32::MAX)),
                ESUCCESS,
            )
        }
    });
    wasi_fn!(linker, "environ_get", |c, array: i32, buf: i32| -> i32 {
        let envs = c.data().plugin.envs.clone();
        let (mut array, mut buf) = (array as u32, buf as u32);
        let mut rc = ESUCCESS;
        for (k, v) in &envs {
            let mut entry = Vec::with_capacity(k.len() + v.len() + 2);
            entry.extend_from_slice(k.as_bytes());
            entry.push(b'=');
            entry.extend_from_slice(v.as_bytes());
            entry.push(0);
            if memory::write_u32(&mut c, array as i32, buf).is_err()
                || memory::write(&mut c, buf as i32, &entry).is_err()
            {
                rc = EFAULT;
                break;
            }
            buf = buf.wrapping_add(u32::try_from(entry.len()).unwrap_or(u32::MAX));
            array = array.wrapping_add(4);
        }
        rc
    });
    wasi_fn!(linker, "args_get", |c, _argv: i32, _buf: i32| -> i32 {
        ESUCCESS
    });
    wasi_fn!(linker, "args_sizes_get", |c, argc: i32, size: i32| -> i32 {
        if memory::write_u32(&mut c, argc, 0).is_err() {
            EFAULT
        } else {
            errno(memory::write_u32(&mut c, size, 0), ESUCCESS)
        }
    });
    wasi_fn!(linker, "clock_time_get", |c,
                                        id: i32,
                                        _precision: i64,
                                        ret: i32|
     -> i32 {
        let now = match id {
            0 => Some(state::unix_nanos(c.data().clock.now())),
            1 => Some(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)),
            _ => None,
        };
        match now {
            Some(t) => errno(memory::write_u64(&mut c, ret, t), ESUCCESS),
            None => ENOTSUP,
        }
    });
    wasi_fn!(linker, "clock_res_get", |c, id: i32, ret: i32| -> i32 {
        if matches!(id, 0 | 1) {
            errno(memory::write_u64(&mut c, ret, 1), ESUCCESS)
        } else {
            ENOTSUP
        }
    });
    wasi_fn!(linker, "random_get", |c, buf: i32, len: i32| -> i32 {
        let len = len as u32;
        if len > RANDOM_MAX {
            EINVAL
        } else if len == 0 {
            ESUCCESS
        } else {
            errno(
                memory::write(&mut c, buf, &random_bytes(len as usize)),
                ESUCCESS,
            )
        }
    });
    wasi_fn!(linker, "sched_yield", |c| -> i32 { ESUCCESS });
    wasi_fn!(linker, "poll_oneoff", |c,
                                     _in: i32,
                                     _out: i32,
                                     _n: i32,
                                     nevents: i32|
     -> i32 {
        errno(memory::write_u32(&mut c, nevents, 0), ESUCCESS)
    });
    wasi_fn!(linker, "proc_exit", |c, code: i32| -> () {
        // cpp-host only logs ("wasi_unstable proc_exit"); the guest's own
        // `unreachable` after the call is what stops it.
        c.data_mut().log(
            LogLevel::Trace,
            format!("wasi proc_exit({code})").as_bytes(),
        );
    });
    Ok(())
}

/// Random bytes from the standard library's randomly keyed hasher (not
/// cryptographic; Envoy uses BoringSSL's `RAND_bytes`).
fn random_bytes(n: usize) -> Vec<u8> {
    let state = std::collections::hash_map::RandomState::new();
    let mut out = Vec::with_capacity(n + 8);
    let mut i: u64 = 0;
    while out.len() < n {
        let mut h = state.build_hasher();
        h.write_u64(i);
        out.extend_from_slice(&h.finish().to_le_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}
