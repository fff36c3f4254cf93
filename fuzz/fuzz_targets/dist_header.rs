//! `cargo +nightly fuzz run dist_header`: see `erlnode::fuzzing::dist_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| erlnode::fuzzing::dist_header(data));
