//! Hardening tests (issue 14, docs/security.md), in one test binary so a
//! cold `make test` links the host and the compiler once for all of them:
//!
//! - `redteam`: the red-team corpus through the `.wasm` under every path
//!   normalisation;
//! - `faults`: every truncation and bit flip of a table sent to a running
//!   filter;
//! - `stack`: the deepest paths the filter has, inside its 128 KiB stack.

mod faults;
mod redteam;
mod stack;
