//! Errors: every failure of the host or the guest, as one value with a
//! one-paragraph message.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::types::LogLine;

/// An error from the host or from the guest it runs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HostError {
    /// The `.wasm` file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// wasmtime refused to compile the module.
    Compile(String),
    /// The module is not a proxy-wasm ABI 0.2.x module this host can run
    /// (no ABI marker export, no memory, no allocator, …).
    Abi(String),
    /// The module could not be instantiated (an import this host does not
    /// provide, a signature mismatch, the memory limit, …).
    Instantiate(String),
    /// The guest trapped (a Rust panic ends in `unreachable`).
    Trap {
        /// The callback that was running, e.g. `proxy_on_request_headers`.
        callback: String,
        /// wasmtime's description of the trap.
        message: String,
        /// The guest's last log lines before the trap (the panic hook's message is usually here).
        last_logs: Vec<LogLine>,
    },
    /// The guest ran past the wall-clock budget of one call (epoch interruption).
    Timeout {
        /// The callback that was running.
        callback: String,
        /// The budget.
        limit: Duration,
        /// The guest's last log lines.
        last_logs: Vec<LogLine>,
    },
    /// The guest used up its fuel for one call.
    OutOfFuel {
        /// The callback that was running.
        callback: String,
        /// The fuel it had.
        fuel: u64,
        /// The guest's last log lines.
        last_logs: Vec<LogLine>,
    },
    /// The VM trapped earlier and can no longer be used.
    Poisoned {
        /// What happened the first time.
        first: String,
    },
    /// The host API was used in a way it does not support (an unknown stream,
    /// a VM that was not started, …).
    Usage(String),
}

fn write_logs(f: &mut fmt::Formatter<'_>, logs: &[LogLine]) -> fmt::Result {
    if logs.is_empty() {
        return write!(f, " The guest logged nothing before it stopped.");
    }
    write!(f, " Its last log lines were:")?;
    for l in logs {
        write!(
            f,
            " [{}] {};",
            l.level,
            l.message.replace(['\n', '\r'], " ")
        )?;
    }
    Ok(())
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, message } => write!(
                f,
                "could not read the wasm module {}: {message}. If it is one of this workspace's filters, build it first with `make wasm`.",
                path.display()
            ),
            Self::Compile(m) => write!(f, "wasmtime could not compile the module: {m}."),
            Self::Abi(m) => write!(
                f,
                "the module is not a proxy-wasm module this host can run: {m}."
            ),
            Self::Instantiate(m) => write!(f, "the module could not be instantiated: {m}."),
            Self::Trap {
                callback,
                message,
                last_logs,
            } => {
                write!(
                    f,
                    "the guest trapped in {callback}: {message}. The VM is now poisoned, as Envoy marks a crashed VM failed."
                )?;
                write_logs(f, last_logs)
            }
            Self::Timeout {
                callback,
                limit,
                last_logs,
            } => {
                write!(
                    f,
                    "the guest ran longer than its {} ms budget in {callback} and was interrupted; the VM is now poisoned.",
                    limit.as_millis()
                )?;
                write_logs(f, last_logs)
            }
            Self::OutOfFuel {
                callback,
                fuel,
                last_logs,
            } => {
                write!(
                    f,
                    "the guest used up its fuel ({fuel} units) in {callback} and was stopped; the VM is now poisoned."
                )?;
                write_logs(f, last_logs)
            }
            Self::Poisoned { first } => write!(
                f,
                "this VM can no longer be used because an earlier call failed ({first}); create a new VM with Plugin::vm()."
            ),
            Self::Usage(m) => write!(f, "{m}."),
        }
    }
}

impl std::error::Error for HostError {}
