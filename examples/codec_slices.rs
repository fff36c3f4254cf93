//! Decode and encode speed per slice of the codec corpus, to see which kinds
//! of term cost what (docs/BENCH.md, "Decode without store-to-load
//! stalls"). Slice `k` is the corpus items `I` with `I rem 8 == k` (the
//! eight item kinds of `erlnode_bench:corpus/0`), encoded alone as a list.
//! `erlnode_bench:slices/1` prints the BEAM's figures for the same slices.
//!
//! ```text
//! erl -noshell -pa DIR -eval 'erlnode_bench:write_corpus("corpus.etf"), halt().'
//! cargo run --release --example codec_slices -- corpus.etf [SLICE]
//! ```
//!
//! Prints one line per slice: its size, and the best of 5 runs of 300
//! decodes (µs per decode, each result dropped) and 300 encodes.

use erlnode::Term;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

const LOOPS: u32 = 300;
const RUNS: usize = 5;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: codec_slices CORPUS_FILE");
        return ExitCode::from(2);
    };
    let corpus = match std::fs::read(&path).map(|d| Term::decode(&d)) {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            eprintln!("codec_slices: {path} does not decode: {e}");
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("codec_slices: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let Term::List(items) = &corpus else {
        eprintln!("codec_slices: {path} is not a list of corpus items");
        return ExitCode::from(1);
    };
    // An optional second argument keeps one slice, for profiling it alone.
    let only: Option<usize> = std::env::args().nth(2).and_then(|a| a.parse().ok());
    for k in (0..8).filter(|k| only.is_none_or(|o| o == *k)) {
        // Items are numbered from 1, as in the corpus.
        let slice: Vec<Term> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + 1) % 8 == k)
            .map(|(_, t)| t.clone())
            .collect();
        let term = Term::List(slice);
        let bytes = term.encode();
        let decode = best_of(|| drop(black_box(Term::decode(black_box(&bytes)))));
        let encode = best_of(|| drop(black_box(black_box(&term).encode())));
        let mbs = |secs: f64| bytes.len() as f64 * f64::from(LOOPS) / secs / 1e6;
        println!(
            "slice {k} bytes {} decode_us {:.1} decode_mbs {:.1} encode_mbs {:.1}",
            bytes.len(),
            decode / f64::from(LOOPS) * 1e6,
            mbs(decode),
            mbs(encode)
        );
    }
    ExitCode::SUCCESS
}

/// Seconds for `LOOPS` calls of `f`, best of `RUNS`.
fn best_of(mut f: impl FnMut()) -> f64 {
    (0..RUNS)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..LOOPS {
                f();
            }
            t0.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}
