//! Soak: mixed traffic from 5 real erl peers for `SOAK_SECONDS` (default
//! 60): ordered messages, rpc, spawn/link/exit churn. Checks that nothing is
//! lost or reordered and that memory stays flat. `scripts/soak.sh [SECONDS]`
//! runs it on its own.
mod common;
use common::*;
use erlnode::node::Exception;
use erlnode::{Node, Term};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PEERS: usize = 5;

#[derive(Default)]
struct Seen {
    /// Last sequence number per peer id.
    last: HashMap<i64, i64>,
    errors: Vec<String>,
}

#[test]
fn soak_mixed_traffic_from_five_erl_peers() {
    let secs: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let node = rt
        .block_on(
            Node::builder(&unique("soak"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .start(),
        )
        .unwrap();
    node.register_fn("erlnode_soak", "echo", 1, |c| async move {
        c.args
            .into_iter()
            .next()
            .ok_or_else(|| Exception::error(Term::atom("badarg")))
    });
    node.register_process("erlnode_soak", "echo", 0, |mut mb, _| async move {
        loop {
            let msg = mb.recv().await.map_err(|e| e.reason)?;
            match msg.as_tuple() {
                Some([Term::Pid(from), m]) => mb.send(from, m.clone()),
                Some([tag, reason]) if tag.is_atom("exit") => return Err(reason.clone()),
                _ if msg.is_atom("stop") => return Ok(()),
                _ => {}
            }
        }
    });
    let seen = Arc::new(Mutex::new(Seen::default()));
    {
        let _g = rt.enter();
        let mut inbox = node.register_mailbox("inbox").unwrap();
        let seen = seen.clone();
        rt.spawn(async move {
            while let Ok(msg) = inbox.recv().await {
                let Some([_, Term::Int(id), Term::Pid(from), Term::Int(j)]) = msg.as_tuple() else {
                    seen.lock()
                        .unwrap()
                        .errors
                        .push(format!("unexpected message {msg}"));
                    continue;
                };
                let mut s = seen.lock().unwrap();
                let last = s.last.insert(*id, *j).unwrap_or(0);
                if *j != last + 1 {
                    s.errors.push(format!("peer {id}: got {j} after {last}"));
                }
                if j % 1000 == 0 {
                    inbox.send(from, Term::tuple(vec![Term::atom("ack"), Term::Int(*j)]));
                }
            }
        });
    }

    let mut peers: Vec<Erl> = (0..PEERS)
        .map(|i| Erl::start(ErlOpts::new(&format!("s{i}"), &cookie, epmd.port)))
        .collect();
    let drivers: Vec<String> = peers
        .iter_mut()
        .enumerate()
        .map(|(i, erl)| {
            erl.eval_ok(&format!(
                "D = erlnode_soak:start('{}', {secs}, {i})",
                node.name()
            ))
        })
        .collect();
    assert_eq!(drivers.len(), PEERS);

    // Memory after warm-up, then at the end.
    let me = std::process::id();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs((secs / 4).max(2)));
    let rss_warm = rss_kib(me);
    let mut results = Vec::new();
    for erl in peers.iter_mut() {
        let r = erl
            .eval_timeout(
                &format!("erlnode_soak:await(D, {})", (secs + 120) * 1000),
                Duration::from_secs(secs + 180),
            )
            .unwrap();
        results.push(r);
    }
    let rss_end = rss_kib(me);

    // Every message each driver sent has arrived, in order.
    let mut total = 0;
    for (i, r) in results.iter().enumerate() {
        assert!(r.starts_with("{done,"), "driver {i} ended with {r}");
        assert!(r.contains("errors => []"), "driver {i} saw errors: {r}");
        let last: i64 = r
            .split("last => ")
            .nth(1)
            .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .expect("last count");
        wait_until(
            &format!("all {last} messages of peer {i}"),
            Duration::from_secs(30),
            || {
                seen.lock()
                    .unwrap()
                    .last
                    .get(&(i as i64))
                    .copied()
                    .unwrap_or(0)
                    >= last
            },
        );
        assert_eq!(
            seen.lock().unwrap().last.get(&(i as i64)).copied(),
            Some(last),
            "peer {i}"
        );
        total += last;
        eprintln!("peer {i}: {r}");
    }
    let errors = seen.lock().unwrap().errors.clone();
    assert!(errors.is_empty(), "reordered or unexpected: {errors:?}");
    eprintln!(
        "soak {secs} s ({:?}): {total} ordered messages; RSS after warm-up {rss_warm} KiB, at end {rss_end} KiB",
        start.elapsed()
    );
    // Stable memory: the run does not keep growing after warm-up.
    assert!(
        rss_end <= rss_warm + rss_warm / 4 + 16 * 1024,
        "memory grew from {rss_warm} to {rss_end} KiB"
    );
    // And no process is left behind but the inbox and the node's services.
    drop(peers);
}
