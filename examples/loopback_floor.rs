//! The floor under the serial round-trip rows of `scripts/bench.sh`: two
//! processes bouncing a 60-byte message over loopback TCP (`TCP_NODELAY`,
//! blocking reads and writes, no event loop, no decoding), so the time per
//! round trip is only the kernel's: two sends, two wake-ups, two receives.
//! docs/BENCH.md compares it with the serial round trip of either peer.
//!
//! ```text
//! cargo run --release --example loopback_floor [ROUND_TRIPS]
//! ```
//!
//! Prints the mean µs per round trip, best of 3 runs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// About the size of a small distribution message with its header.
const MSG_BYTES: usize = 60;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let (Some("echo"), Some(port)) = (args.get(1).map(String::as_str), args.get(2)) {
        return echo(port);
    }
    let n: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    match run(n) {
        Ok(us) => {
            println!(
                "loopback round trip, {MSG_BYTES} bytes each way: {us:.1} µs (best of 3 × {n})"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loopback_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(n: u32) -> std::io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let exe = std::env::current_exe()?;
    // The echo side is another process, as a peer node is.
    let mut child = Command::new(exe)
        .args(["echo", &port.to_string()])
        .spawn()?;
    let (mut s, _) = listener.accept()?;
    s.set_nodelay(true)?;
    let mut buf = [7u8; MSG_BYTES];
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t0 = Instant::now();
        for _ in 0..n {
            s.write_all(&buf)?;
            s.read_exact(&mut buf)?;
        }
        best = best.min(t0.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    drop(s);
    child.wait()?;
    Ok(best)
}

fn echo(port: &str) -> ExitCode {
    let Ok(mut s) = TcpStream::connect(format!("127.0.0.1:{port}")) else {
        return ExitCode::FAILURE;
    };
    let _ = s.set_nodelay(true);
    let mut buf = [0u8; MSG_BYTES];
    while s.read_exact(&mut buf).is_ok() {
        if s.write_all(&buf).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
