//! Hardening tests (issue 14, docs/security.md), in one test binary so a
//! cold `make test` links the host and the compiler once for all of them:
//!
//! - `corpus`: the fuzz targets over their seed corpora, their past
//!   findings and fixed-seed inputs;
//! - `redteam`: the red-team corpus through the `.wasm` under every path
//!   normalisation;
//! - `faults`: every truncation and bit flip of a table sent to a running
//!   filter;
//! - `stack`: the deepest paths the filter has, inside its 128 KiB stack;
//! - `worst`: the worst-case inputs of `make bench` at Envoy's limits, each
//!   decided as the policy says, and a short soak with flat memory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod corpus;
mod faults;
mod redteam;
mod stack;
mod worst;
