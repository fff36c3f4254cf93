//! `cargo +nightly fuzz run dist_frame`: see `erlnode::fuzzing::dist_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| erlnode::fuzzing::dist_frame(data));
