//! Issue 7 fault injection against real `erl`: peers that die, freeze or stop
//! reading, and connection churn.
mod common;
use common::*;
use erlnode::node::DownReason;
use erlnode::{Node, NodeEvent, Term};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn peer_killed_in_the_middle_of_a_large_message() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    let node = rt
        .block_on(
            Node::builder(&unique("rk"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .start(),
        )
        .unwrap();
    let mut inbox = {
        let _g = rt.enter();
        node.register_mailbox("inbox").unwrap()
    };
    let mut events = node.monitor_nodes();
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let n = node.name().to_string();
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{n}')")), "pong");
    // 256 MiB takes a while to cross loopback; kill erl while it does.
    erl.eval_ok(&format!("B = binary:copy(<<7>>, 256 * 1024 * 1024), spawn(fun() -> {{inbox, '{n}'}} ! {{big, B}} end), ok"));
    std::thread::sleep(Duration::from_millis(150));
    signal_pid(erl.pid(), "KILL");
    let reason = next_down(&rt, &mut events, &erl.node, Duration::from_secs(10));
    assert_eq!(reason, DownReason::ConnectionClosed);
    // Whatever arrived was a partial frame: nothing is delivered.
    assert_eq!(
        rt.block_on(async { inbox.recv_timeout(Duration::from_millis(200)).await })
            .unwrap(),
        None
    );
    // And the node serves the next peer.
    let mut erl2 = Erl::start(ErlOpts::new("e2", &cookie, epmd.port));
    assert_eq!(erl2.eval_ok(&format!("net_adm:ping('{n}')")), "pong");
}

#[test]
fn frozen_peer_gives_net_tick_timeout_and_every_link_and_monitor_fires_once() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    let node = rt
        .block_on(
            Node::builder(&unique("rf"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .net_ticktime(Duration::from_secs(2))
                .start(),
        )
        .unwrap();
    let mut events = node.monitor_nodes();
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    // Three erl processes: one to link to, one to monitor by pid, one by name.
    erl.eval_ok("L = spawn(fun() -> receive _ -> ok end end), M = spawn(fun() -> receive _ -> ok end end), register(watched, spawn(fun() -> receive _ -> ok end end))");
    let (mut linker, mut monitor, mut pids_in) = {
        let _g = rt.enter();
        (
            node.mailbox(),
            node.mailbox(),
            node.register_mailbox("pids").unwrap(),
        )
    };
    linker.trap_exit(true);
    // The pids as terms: erl sends them over.
    erl.eval_ok(&format!("{{pids, '{}'}} ! {{L, M}}", node.name()));
    let (l, m) = rt.block_on(async {
        let t = pids_in.recv().await.unwrap();
        let v = t.as_tuple().unwrap().to_vec();
        (
            v[0].as_pid().unwrap().clone(),
            v[1].as_pid().unwrap().clone(),
        )
    });
    linker.link(&l);
    let r1 = monitor.monitor(&m);
    let r2 = monitor.monitor(("watched", erl.node.as_str()));
    assert!(rt.block_on(node.ping(&erl.node)));
    let t0 = Instant::now();
    signal_pid(erl.pid(), "STOP");
    let reason = next_down(&rt, &mut events, &erl.node, Duration::from_secs(10));
    assert_eq!(reason, DownReason::NetTickTimeout);
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "down after {:?}, before a ticktime",
        t0.elapsed()
    );
    rt.block_on(async {
        let exit = linker
            .recv_timeout(Duration::from_secs(2))
            .await
            .unwrap()
            .expect("link fired");
        assert_eq!(
            exit,
            Term::tuple(vec![
                Term::atom("EXIT"),
                Term::Pid(l.clone()),
                Term::atom("noconnection")
            ])
        );
        let mut downs = Vec::new();
        while let Some(d) = monitor
            .recv_timeout(Duration::from_millis(500))
            .await
            .unwrap()
        {
            downs.push(d);
        }
        assert_eq!(downs.len(), 2, "exactly one DOWN per monitor: {downs:?}");
        for (r, d) in [(&r1, &downs[0]), (&r2, &downs[1])] {
            let items = d.as_tuple().unwrap();
            let got_ref = downs
                .iter()
                .any(|x| x.as_tuple().unwrap()[1] == Term::from(r.clone()));
            assert!(got_ref, "no DOWN for {r:?}");
            assert!(
                items[0].is_atom("DOWN") && items[4].is_atom("noconnection"),
                "{d:?}"
            );
        }
        // Nothing more arrives later.
        assert_eq!(
            linker
                .recv_timeout(Duration::from_millis(500))
                .await
                .unwrap(),
            None
        );
    });
    signal_pid(erl.pid(), "CONT");
}

#[test]
fn a_thousand_connect_disconnect_cycles_leave_no_fds_or_memory_behind() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = Serve::start(&["--sname", &unique("rc"), "--cookie", &cookie], epmd.port);
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let cycle = |erl: &mut Erl, n: u32| {
        let r = erl.eval_timeout(&format!("lists:all(fun(_) -> pong = net_adm:ping('{0}'), true = erlang:disconnect_node('{0}'), true end, lists:seq(1, {n}))", s.node), Duration::from_secs(300)).unwrap();
        assert_eq!(r, "true");
    };
    cycle(&mut erl, 50);
    let settle = || std::thread::sleep(Duration::from_millis(300));
    settle();
    let (fd0, rss0) = (fd_count(s.pid()), rss_kib(s.pid()));
    cycle(&mut erl, 1000);
    settle();
    let (fd1, rss1) = (fd_count(s.pid()), rss_kib(s.pid()));
    eprintln!("fds {fd0} -> {fd1}, rss {rss0} KiB -> {rss1} KiB");
    assert!(fd1 <= fd0 + 1, "file descriptors leaked: {fd0} -> {fd1}");
    assert!(
        rss1 <= rss0 + 4096,
        "memory grew by more than 4 MiB: {rss0} -> {rss1} KiB"
    );
}

#[test]
fn a_peer_that_stops_reading_is_disconnected_when_its_queue_is_full() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    let node = rt
        .block_on(
            Node::builder(&unique("rq"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .max_send_queue(20_000)
                .start(),
        )
        .unwrap();
    let mut events = node.monitor_nodes();
    let erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    assert!(rt.block_on(node.ping(&erl.node)));
    signal_pid(erl.pid(), "STOP");
    let sender = {
        let _g = rt.enter();
        node.mailbox()
    };
    let payload = Term::binary(vec![0u8; 200]);
    let dest = ("nobody", erl.node.as_str());
    let reason = rt.block_on(async {
        let end = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            for _ in 0..1000 {
                sender.send(dest, payload.clone());
            }
            match events.try_recv() {
                Ok(NodeEvent::Down { reason, .. }) => return reason,
                _ if tokio::time::Instant::now() > end => panic!("the connection was never closed"),
                _ => tokio::task::yield_now().await,
            }
        }
    });
    signal_pid(erl.pid(), "CONT");
    assert_eq!(reason, DownReason::SendQueueFull);
    // The node still serves other peers.
    let mut erl2 = Erl::start(ErlOpts::new("e2", &cookie, epmd.port));
    assert_eq!(
        erl2.eval_ok(&format!("net_adm:ping('{}')", node.name())),
        "pong"
    );
}

#[test]
fn a_peer_that_stops_reading_big_messages_is_disconnected_at_the_byte_limit() {
    const LIMIT: usize = 8 << 20;
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    let node = rt
        .block_on(
            Node::builder(&unique("rb"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .max_send_queue_bytes(LIMIT)
                .start(),
        )
        .unwrap();
    let mut events = node.monitor_nodes();
    let erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    assert!(rt.block_on(node.ping(&erl.node)));
    // A message bigger than the whole limit goes out while the peer reads.
    let sender = {
        let _g = rt.enter();
        node.mailbox()
    };
    let mut erl = erl;
    erl.eval_ok("register(big_sink, spawn(fun Loop() -> receive {From, B} -> From ! byte_size(B), Loop() end end))");
    let huge = Term::binary(vec![7u8; 3 * LIMIT]);
    let dest = ("big_sink", erl.node.as_str());
    sender.send(
        dest,
        Term::tuple(vec![Term::Pid(sender.pid().clone()), huge]),
    );
    let got = rt.block_on(async {
        let mut mb = sender;
        let m = mb.recv_timeout(Duration::from_secs(30)).await.unwrap();
        (m, mb)
    });
    assert_eq!(got.0, Some(Term::Int(3 * LIMIT as i64)));
    let sender = got.1;
    // Then the peer stops reading: 64 KiB messages pile up, and the
    // connection closes once about LIMIT bytes wait, long before the
    // signal count limit (a million) could.
    signal_pid(erl.pid(), "STOP");
    let payload = Term::binary(vec![0u8; 64 << 10]);
    let dest = ("nobody", erl.node.as_str());
    let (reason, sent) = rt.block_on(async {
        let end = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut sent = 0usize;
        loop {
            for _ in 0..16 {
                sender.send(dest, payload.clone());
                sent += 1;
            }
            match events.try_recv() {
                Ok(NodeEvent::Down { reason, .. }) => return (reason, sent),
                _ if tokio::time::Instant::now() > end => panic!("the connection was never closed"),
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    });
    signal_pid(erl.pid(), "CONT");
    assert_eq!(reason, DownReason::SendQueueFull);
    // The limit plus what the socket buffers took (224 messages, 14 MiB,
    // here): far below the million signals the count limit allows.
    assert!(
        sent < 1_000,
        "{sent} messages of 64 KiB were queued before the connection closed"
    );
}

#[test]
fn send_wait_holds_a_producer_at_the_busy_limit_and_nothing_is_lost() {
    const BUSY: usize = 1 << 20;
    const MSG: usize = 64 << 10;
    // 600 × 64 KiB = 37.5 MiB, far more than the busy limit plus what the
    // loopback socket buffers take from a peer that does not read.
    const TOTAL: usize = 600;
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    let node = rt
        .block_on(
            Node::builder(&unique("bw"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .dist_buf_busy_limit(BUSY)
                .start(),
        )
        .unwrap();
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    assert!(rt.block_on(node.ping(&erl.node)));
    erl.eval_ok(
        "register(counter, spawn(fun() -> (fun Loop(N) -> receive {From, count} -> \
         From ! {count, N}, Loop(N); _ -> Loop(N + 1) end end)(0) end))",
    );
    let producer = {
        let _g = rt.enter();
        node.mailbox()
    };
    signal_pid(erl.pid(), "STOP");
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let task = {
        let sent = sent.clone();
        let dest = erl.node.clone();
        rt.spawn(async move {
            let payload = Term::binary(vec![5u8; MSG]);
            for _ in 0..TOTAL {
                producer
                    .send_wait(("counter", dest.as_str()), payload.clone())
                    .await;
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            producer
        })
    };
    // The producer stops once the peer's socket buffers and the busy limit
    // are full: wait until the count has not moved for a second.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = (usize::MAX, Instant::now());
    let held_at = loop {
        let now = sent.load(std::sync::atomic::Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            break now;
        }
        assert!(
            Instant::now() < deadline && now < TOTAL,
            "send_wait did not hold the producer: {now} of {TOTAL} messages sent to a stopped peer"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        held_at >= BUSY / MSG,
        "the producer waited before the busy limit: {held_at} messages"
    );
    // Held, not disconnected: the connection is still up.
    assert!(node.nodes().iter().any(|n| n.as_str() == erl.node));
    signal_pid(erl.pid(), "CONT");
    let producer = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(60), task).await })
        .expect("the producer did not finish once the peer read again")
        .unwrap();
    assert_eq!(sent.load(std::sync::atomic::Ordering::Relaxed), TOTAL);
    // Every message arrived.
    let mut producer = producer;
    producer.send(
        ("counter", erl.node.as_str()),
        Term::tuple(vec![Term::Pid(producer.pid().clone()), Term::atom("count")]),
    );
    let got = rt
        .block_on(producer.recv_timeout(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(
        got,
        Some(Term::tuple(vec![
            Term::atom("count"),
            Term::Int(TOTAL as i64)
        ]))
    );
    eprintln!("send_wait held the producer at {held_at} messages of 64 KiB");
}

#[test]
fn send_wait_waits_out_the_connection_setup_and_never_hangs_on_a_missing_node() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    let node = rt
        .block_on(
            Node::builder(&unique("bc"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .start(),
        )
        .unwrap();
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    erl.eval_ok(
        "register(box, spawn(fun() -> receive M -> receive {From, get} -> From ! M end end end))",
    );
    let mut mb = {
        let _g = rt.enter();
        node.mailbox()
    };
    let dest = erl.node.clone();
    // Not connected yet: the first send_wait sets the connection up.
    assert!(node.nodes().is_empty());
    let got = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            mb.send_wait(("box", dest.as_str()), Term::atom("first"))
                .await;
            mb.send_wait(
                ("box", dest.as_str()),
                Term::tuple(vec![Term::Pid(mb.pid().clone()), Term::atom("get")]),
            )
            .await;
            mb.recv_timeout(Duration::from_secs(10)).await
        })
        .await
    });
    assert_eq!(
        got.expect("send_wait to a peer being connected hung")
            .unwrap(),
        Some(Term::atom("first"))
    );
    // A node nobody runs: the dial fails and send_wait returns (the
    // message is dropped, as a send's would be).
    let missing = format!(
        "{}@{}",
        unique("nobody"),
        erl.node.split('@').nth(1).unwrap()
    );
    let r = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(30),
            mb.send_wait(("box", missing.as_str()), Term::atom("lost")),
        )
        .await
    });
    assert!(r.is_ok(), "send_wait to an unreachable node did not return");
    // The node still works.
    assert!(rt.block_on(node.ping(&erl.node)));
}
