//! WASI: the `wasi_snapshot_preview1` (and legacy `wasi_unstable`)
//! functions Envoy links for a proxy-wasm module, with the answers
//! proxy-wasm-cpp-host gives (`src/exports.cc`, `FOR_ALL_WASI_FUNCTIONS`).
//! Signatures are those of the WASI preview1 witx.

use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use egress_abi::LogLevel;
use wasmtime::{Caller, Linker};

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

/// Registers functions whose answer is one expression, a line each:
/// `"name"(params) => errno;`, with the caller as `$c`.
macro_rules! wasi_answers {
    ($linker:expr, $c:ident; $($name:literal ($($a:ident : $t:ty),*) => $answer:expr;)+) => {
        $( wasi_fn!($linker, $name, |$c $(, $a: $t)*| -> i32 { $answer }); )+
    };
}

/// Registers every WASI function. There is no file system and there are
/// no sockets: what would touch them fails (or succeeds, where that is
/// harmless). Stdout and stderr go to the log (info and error, one trailing
/// newline trimmed); the environment is the plugin's `env` list; clocks
/// are realtime and monotonic; `proc_exit` only logs (the guest then traps
/// on its own `unreachable`).
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasi_answers! { linker, c;
        "fd_write"(fd: i32, iovs: i32, n: i32, nwritten: i32) => write_fd(&mut c, fd, (iovs, n), nwritten);
        "fd_pwrite"(fd: i32, iovs: i32, n: i32, _offset: i64, nwritten: i32) => write_fd(&mut c, fd, (iovs, n), nwritten);
        "fd_read"(_fd: i32, _iovs: i32, _len: i32, _nread: i32) => ENOSYS;
        "fd_pread"(_fd: i32, _iovs: i32, _len: i32, _off: i64, _nread: i32) => ENOSYS;
        "fd_seek"(_fd: i32, _offset: i64, _whence: i32, _newoffset: i32) => ESUCCESS;
        "fd_close"(_fd: i32) => ESUCCESS;
        "fd_fdstat_get"(fd: i32, stat: i32) => fdstat(&mut c, fd, stat);
        "fd_fdstat_set_flags"(_fd: i32, _flags: i32) => ENOSYS;
        "fd_fdstat_set_rights"(fd: i32, _base: i64, _inh: i64) => stdio_only(fd);
        "fd_advise"(_fd: i32, _off: i64, _len: i64, _advice: i32) => ESUCCESS;
        "fd_allocate"(fd: i32, _off: i64, _len: i64) => stdio_only(fd);
        "fd_datasync"(fd: i32) => stdio_only(fd);
        "fd_sync"(fd: i32) => stdio_only(fd);
        "fd_filestat_set_size"(fd: i32, _size: i64) => stdio_only(fd);
        "fd_filestat_set_times"(fd: i32, _a: i64, _m: i64, _flags: i32) => stdio_only(fd);
        "fd_filestat_get"(_fd: i32, _buf: i32) => EBADF;
        "fd_readdir"(_fd: i32, _buf: i32, _len: i32, _cookie: i64, nread: i32) => put_u32s(&mut c, &[(nread, 0)], ENOTDIR);
        "fd_renumber"(fd: i32, to: i32) => if stdio(fd) && stdio(to) { ENOTSUP } else { EBADF };
        "fd_tell"(fd: i32, ret: i32) => if stdio(fd) { errno(memory::write_u64(&mut c, ret, 0), ESUCCESS) } else { EBADF };
        "fd_prestat_get"(_fd: i32, _buf: i32) => EBADF;
        "fd_prestat_dir_name"(_fd: i32, _path: i32, _len: i32) => ENOSYS;
        "path_open"(
            _fd: i32, _dirflags: i32, _path: i32, _len: i32, _oflags: i32,
            _base: i64, _inh: i64, _fdflags: i32, _ret: i32
        ) => ENOENT;
        "path_filestat_get"(_fd: i32, _flags: i32, _path: i32, _len: i32, _buf: i32) => ENOTSUP;
        "path_create_directory"(_fd: i32, _path: i32, _len: i32) => ENOTSUP;
        "path_filestat_set_times"(
            _fd: i32, _flags: i32, _path: i32, _len: i32, _a: i64, _m: i64, _fst: i32
        ) => ENOTSUP;
        "path_link"(
            _ofd: i32, _oflags: i32, _op: i32, _ol: i32, _nfd: i32, _np: i32, _nl: i32
        ) => ENOTSUP;
        "path_readlink"(
            _fd: i32, _path: i32, _len: i32, _buf: i32, _buf_len: i32, ret: i32
        ) => put_u32s(&mut c, &[(ret, 0)], ENOTSUP);
        "path_remove_directory"(_fd: i32, _path: i32, _len: i32) => ENOTSUP;
        "path_rename"(_fd: i32, _op: i32, _ol: i32, _nfd: i32, _np: i32, _nl: i32) => ENOTSUP;
        "path_symlink"(_op: i32, _ol: i32, _fd: i32, _np: i32, _nl: i32) => ENOTSUP;
        "path_unlink_file"(_fd: i32, _path: i32, _len: i32) => ENOTSUP;
        "sock_accept"(_fd: i32, _flags: i32, ret: i32) => put_u32s(&mut c, &[(ret, 0)], ENOTSUP);
        "sock_recv"(_fd: i32, _ri: i32, _ril: i32, _flags: i32, ret0: i32, ret1: i32) => errno(
            memory::write_u32(&mut c, ret0, 0).and_then(|()| memory::write(&mut c, ret1, &[0, 0])),
            ENOTSUP
        );
        "sock_send"(_fd: i32, _si: i32, _sil: i32, _flags: i32, ret: i32) => put_u32s(&mut c, &[(ret, 0)], ENOTSUP);
        "sock_shutdown"(_fd: i32, _how: i32) => ENOTSUP;
        "environ_sizes_get"(count: i32, size: i32) => environ_sizes(&mut c, count, size);
        "environ_get"(array: i32, buf: i32) => environ(&mut c, array, buf);
        "args_get"(_argv: i32, _buf: i32) => ESUCCESS;
        "args_sizes_get"(argc: i32, size: i32) => put_u32s(&mut c, &[(argc, 0), (size, 0)], ESUCCESS);
        "clock_res_get"(id: i32, ret: i32) => if matches!(id, 0 | 1) { errno(memory::write_u64(&mut c, ret, 1), ESUCCESS) } else { ENOTSUP };
        "random_get"(buf: i32, len: i32) => random(&mut c, buf, len);
        "sched_yield"() => ESUCCESS;
        "poll_oneoff"(_in: i32, _out: i32, _n: i32, nevents: i32) => put_u32s(&mut c, &[(nevents, 0)], ESUCCESS);
    }
    let started = Instant::now();
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

fn stdio(fd: i32) -> bool {
    fd == 1 || fd == 2
}

/// What cpp-host answers for an operation that is harmless on stdout and
/// stderr: success there, EBADF on any other descriptor.
fn stdio_only(fd: i32) -> i32 {
    if stdio(fd) { ESUCCESS } else { EBADF }
}

/// `ok`, or EFAULT when a write into guest memory failed.
fn errno(r: egress_abi::AbiResult, ok: i32) -> i32 {
    if r.is_ok() { ok } else { EFAULT }
}

/// Writes each `(address, word)` in turn and answers `ok`; EFAULT, and no
/// further writes, at the first address out of bounds.
fn put_u32s(c: &mut C<'_>, words: &[(i32, u32)], ok: i32) -> i32 {
    for &(ptr, word) in words {
        if memory::write_u32(c, ptr, word).is_err() {
            return EFAULT;
        }
    }
    ok
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `fd_write` and `fd_pwrite` (whose offset stdout and stderr ignore).
fn write_fd(c: &mut C<'_>, fd: i32, (iovs, iovs_len): (i32, i32), nwritten: i32) -> i32 {
    match writev(c, fd, iovs, iovs_len) {
        Ok(n) => put_u32s(c, &[(nwritten, n)], ESUCCESS),
        Err(e) => e,
    }
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

/// `fd_fdstat_get`: for stdout and stderr a 24-byte fdstat (filetype 0,
/// rights_base FD_WRITE (64), the rest 0); a failed write is ignored, as in
/// cpp-host.
fn fdstat(c: &mut C<'_>, fd: i32, stat: i32) -> i32 {
    if !stdio(fd) {
        return EBADF;
    }
    let mut b = [0u8; 24];
    if let Some(slot) = b.get_mut(8..16) {
        slot.copy_from_slice(&64u64.to_le_bytes());
    }
    let _ = memory::write(c, stat, &b);
    ESUCCESS
}

/// `environ_sizes_get`: how many `KEY=value` entries, and their bytes with NULs.
fn environ_sizes(c: &mut C<'_>, count_ptr: i32, size_ptr: i32) -> i32 {
    let envs = &c.data().plugin.envs;
    let count = len32(envs.len());
    let size = len32(envs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    put_u32s(c, &[(count_ptr, count), (size_ptr, size)], ESUCCESS)
}

/// `environ_get`: each entry as `KEY=value\0` from `buf` on, its address at
/// `array` on.
fn environ(c: &mut C<'_>, array: i32, buf: i32) -> i32 {
    let envs = c.data().plugin.envs.clone();
    let (mut array, mut buf) = (array as u32, buf as u32);
    for (k, v) in &envs {
        let mut entry = Vec::with_capacity(k.len() + v.len() + 2);
        entry.extend_from_slice(k.as_bytes());
        entry.push(b'=');
        entry.extend_from_slice(v.as_bytes());
        entry.push(0);
        if memory::write_u32(c, array as i32, buf).is_err()
            || memory::write(c, buf as i32, &entry).is_err()
        {
            return EFAULT;
        }
        buf = buf.wrapping_add(len32(entry.len()));
        array = array.wrapping_add(4);
    }
    ESUCCESS
}

/// `random_get`, up to cpp-host's limit.
fn random(c: &mut C<'_>, buf: i32, len: i32) -> i32 {
    let len = len as u32;
    if len > RANDOM_MAX {
        EINVAL
    } else if len == 0 {
        ESUCCESS
    } else {
        errno(memory::write(c, buf, &random_bytes(len as usize)), ESUCCESS)
    }
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
