//! A Rust node that pipelines messages to another node's registered `sink`
//! (as `erlnode serve` and the BEAM peer of `scripts/bench.sh` provide), for
//! the node→node row of the benchmark.
//!
//! ```text
//! ERL_EPMD_PORT=P cargo run --release --example bench_peer -- pipeline TARGET_NODE N COOKIE
//! ```
//!
//! It starts a node, asks the sink for its count, sends N messages
//! `{seq, I}`, asks again and checks that the count grew by exactly N (one
//! sender's messages arrive in order, so the second answer covers them all).
//! Prints `msgs_per_s X`, timed from the first message to the second answer.

use erlnode::node::Dest;
use erlnode::{Atom, Node, Term};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long to wait for a count answer before calling the run failed.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(rate) => {
            println!("msgs_per_s {rate:.1}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench_peer: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<f64, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some("pipeline"), Some(target), Some(n), Some(cookie)) = (
        args.get(1).map(String::as_str),
        args.get(2),
        args.get(3),
        args.get(4),
    ) else {
        return Err("usage: bench_peer pipeline TARGET_NODE N COOKIE".into());
    };
    let n: i64 = n
        .parse()
        .map_err(|_| format!("N must be an integer, got {n:?}"))?;
    let node = Node::builder(&format!("bench_rs_{}", std::process::id()))
        .cookie(cookie)
        .embedded_epmd(false)
        .start()
        .await?;
    if !node.connect(target).await {
        return Err(format!("cannot connect to {target} (is it up, same cookie and EPMD?)").into());
    }
    let mut mb = node.mailbox();
    let sink = ("sink", target.as_str());
    let before = count(&mut mb, sink).await?;
    // Built once, as a Rust program sending many messages would.
    let dest = Dest::from((Atom::from("sink"), Atom::from(target.as_str())));
    let seq = Atom::from("seq");
    let t0 = Instant::now();
    for i in 1..=n {
        mb.send(
            dest.clone(),
            Term::tuple(vec![Term::Atom(seq.clone()), Term::Int(i)]),
        );
    }
    let after = count(&mut mb, sink).await?;
    let secs = t0.elapsed().as_secs_f64();
    if after - before != n {
        return Err(format!("sent {n} messages but the sink counted {}", after - before).into());
    }
    node.shutdown();
    Ok(n as f64 / secs)
}

/// Asks the sink for its count: `{Self, count}` answered by `{count, N}`.
async fn count(
    mb: &mut erlnode::node::Mailbox,
    sink: (&str, &str),
) -> Result<i64, Box<dyn std::error::Error>> {
    mb.send(
        sink,
        Term::tuple(vec![Term::Pid(mb.pid().clone()), Term::atom("count")]),
    );
    let end = Instant::now() + REPLY_TIMEOUT;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let Some(msg) = mb.recv_timeout(left).await? else {
            return Err(format!("no count answer from {sink:?} in {REPLY_TIMEOUT:?}").into());
        };
        if let Some([tag, Term::Int(c)]) = msg.as_tuple() {
            if tag.is_atom("count") {
                return Ok(*c);
            }
        }
    }
}
