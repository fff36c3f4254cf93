//! `cargo +nightly fuzz run handshake_initiator`: see `erlnode::fuzzing::handshake_initiator`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| erlnode::fuzzing::handshake_initiator(data));
