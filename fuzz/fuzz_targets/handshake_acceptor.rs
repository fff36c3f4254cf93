//! `cargo +nightly fuzz run handshake_acceptor`: see `erlnode::fuzzing::handshake_acceptor`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| erlnode::fuzzing::handshake_acceptor(data));
