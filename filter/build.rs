//! Link settings of the `.wasm`.
//!
//! The wasm32 targets give a module a 1 MiB shadow stack by default, placed
//! first in linear memory, so every VM (Envoy runs one per worker thread)
//! pays that 1 MiB before it loads a table. The filter does not recurse and
//! keeps no large buffers on the stack (its JSON reader tracks nesting in a
//! bit mask, its matchers are loops): 128 KiB is ample, and a stack
//! overflow, were it to happen, runs below address 0 and traps rather than
//! overwriting data (the stack comes first). `tests/tests/hardening/stack.rs` runs the
//! deepest paths the filter has (a 10,000-host table, bad configurations,
//! the longest requests through every kind of rule with the longest audit
//! line) inside the `.wasm`: they pass with a 16 KiB stack and trap with
//! 8 KiB, so 128 KiB leaves eight times the room they need. This saves
//! 896 KiB of linear memory per VM.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=131072");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
