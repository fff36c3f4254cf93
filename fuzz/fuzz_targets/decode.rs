//! `cargo +nightly fuzz run decode`: see `erlnode::fuzzing::decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| erlnode::fuzzing::decode(data));
