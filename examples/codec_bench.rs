//! Codec throughput on a corpus file written by `term_to_binary` (see
//! `interop/erlnode_bench.erl`, which builds it, and `scripts/bench.sh codec`).
//!
//! ```text
//! cargo run --release --example codec_bench -- CORPUS_FILE LOOPS
//! ```
//!
//! Prints one line of `key value` pairs:
//! `bytes N loops L decode_mbs X decode_shared_mbs Y encode_mbs Z`, where
//! MB/s is corpus bytes × loops / elapsed seconds / 10^6, the same formula the
//! BEAM side uses. Every decoded term is dropped inside the timed loop (the
//! BEAM pays its garbage collection inside its loop too), and each encode
//! allocates a fresh output vector, as `term_to_binary` does.
//!
//! Before timing, it checks that decoding then encoding gives the corpus back
//! byte for byte, so the figures are for a correct codec.

/// The allocator of this program with the `mimalloc` feature, which
/// `scripts/bench.sh` turns on (the README's "Allocator" paragraph).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bytes::Bytes;
use erlnode::Term;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(loops)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: codec_bench CORPUS_FILE LOOPS");
        return ExitCode::from(2);
    };
    let Ok(loops) = loops.parse::<u32>() else {
        eprintln!("codec_bench: LOOPS must be a positive integer, got {loops:?}");
        return ExitCode::from(2);
    };
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("codec_bench: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let shared = Bytes::from(data.clone());
    let term = match Term::decode(&data) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("codec_bench: {path} does not decode: {e}");
            return ExitCode::from(1);
        }
    };
    if term.encode() != data {
        eprintln!("codec_bench: re-encoding {path} does not give the same bytes");
        return ExitCode::from(1);
    }
    let mb = data.len() as f64 * f64::from(loops) / 1e6;

    // Only `decode`, `shared` or `encode` when a fourth argument names one
    // (for profiling a single path under callgrind).
    let only = args.get(3).map(String::as_str);

    let mut decode_mbs = 0.0;
    if only.is_none() || only == Some("decode") {
        let t0 = Instant::now();
        for _ in 0..loops {
            let t = Term::decode(black_box(&data));
            drop(black_box(t));
        }
        decode_mbs = mb / t0.elapsed().as_secs_f64();
    }

    let mut shared_mbs = 0.0;
    if only.is_none() || only == Some("shared") {
        let t0 = Instant::now();
        for _ in 0..loops {
            let t = Term::decode_shared(black_box(&shared));
            drop(black_box(t));
        }
        shared_mbs = mb / t0.elapsed().as_secs_f64();
    }

    let mut encode_mbs = 0.0;
    if only.is_none() || only == Some("encode") {
        let t0 = Instant::now();
        for _ in 0..loops {
            let v = black_box(&term).encode();
            drop(black_box(v));
        }
        encode_mbs = mb / t0.elapsed().as_secs_f64();
    }

    println!(
        "bytes {} loops {loops} decode_mbs {decode_mbs:.1} decode_shared_mbs {shared_mbs:.1} \
         encode_mbs {encode_mbs:.1}",
        data.len()
    );
    ExitCode::SUCCESS
}
