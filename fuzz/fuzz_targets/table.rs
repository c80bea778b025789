//! The `table` target: see tests/src/fuzz.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| egress_tests::fuzz::table(data));
