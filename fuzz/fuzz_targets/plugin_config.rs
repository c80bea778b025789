//! The `plugin_config` target: see tests/src/fuzz.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| egress_tests::fuzz::plugin_config(data));
