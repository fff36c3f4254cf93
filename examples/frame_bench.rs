//! Decode-and-drop cost of one small distribution frame, as the pipelined
//! benchmark sends them (`REG_SEND` to `sink` with `{seq, I}`), for
//! instruction counts under callgrind:
//!
//! ```text
//! cargo build --release --example frame_bench
//! valgrind --tool=callgrind target/release/examples/frame_bench N [general]
//! ```
//!
//! Run with two values of N and divide the difference to get the cost per
//! frame. With `general`, the same two terms are decoded from a buffer with
//! padding after them, which keeps `Decoder::term` off its small-term fast
//! path: the cost before that fast path.

use bytes::Bytes;
use erlnode::dist::Signal;
use erlnode::dist::control::decode_frame;
use erlnode::term::{DecodeLimits, Decoder};
use erlnode::{Atom, Pid, Term};
use std::hint::black_box;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let from = Pid {
        node: Atom::from("bench_drv_12345@vm"),
        id: 90,
        serial: 0,
        creation: 1_700_000_000,
    };
    let ctrl = Term::tuple(vec![
        Term::Int(6),
        Term::Pid(from),
        Term::atom(""),
        Term::atom("sink"),
    ]);
    let payload = Term::tuple(vec![Term::atom("seq"), Term::Int(123_456)]);
    let mut frame = vec![112u8];
    frame.extend_from_slice(&ctrl.encode());
    frame.extend_from_slice(&payload.encode());
    let frame = Bytes::from(frame);
    eprintln!("frame bytes: {}", frame.len());
    let limits = DecodeLimits::default();
    if std::env::args().nth(2).as_deref() == Some("general") {
        let mut padded = frame.to_vec();
        padded.resize(frame.len() + 1024, 0);
        let padded = Bytes::from(padded);
        let body = padded.slice(1..);
        for _ in 0..n {
            let mut d = Decoder::shared(black_box(&body)).with_limits(limits.clone());
            let sig = d.term_with_version().and_then(|c| {
                let p = d.term_with_version()?;
                Ok(Signal::from_terms(c, Some(p)))
            });
            black_box(&sig);
            drop(sig);
        }
        return;
    }
    for _ in 0..n {
        let sig = decode_frame(black_box(&frame), &limits);
        black_box(&sig);
        drop(sig);
    }
}
