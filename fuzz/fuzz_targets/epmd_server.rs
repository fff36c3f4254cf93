//! `cargo +nightly fuzz run epmd_server`: see `erlnode::fuzzing::epmd_server`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| erlnode::fuzzing::epmd_server(data));
