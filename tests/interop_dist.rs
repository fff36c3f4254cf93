//! Issue 3 against real `erl`: the distribution layer under load, bad input,
//! failures and races.
mod common;
use common::*;
use erlnode::{Node, NodeEvent, Term};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn serve(cookie: &str, epmd: u16) -> Serve {
    let name = unique("rs");
    Serve::start(&["--sname", &name, "--cookie", cookie], epmd)
}

#[test]
fn zoo_of_terms_echoes_back_exactly() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = serve(&cookie, epmd.port);
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    // Indices of zoo terms that did not come back identical (=:=).
    assert_eq!(
        erl.eval_ok(&format!("erlnode_it:echo_zoo('{}')", s.node)),
        "[]"
    );
}

#[test]
fn wrong_cookie_is_refused_with_a_log_line_and_the_node_keeps_working() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = serve(&cookie, epmd.port);
    let mut bad = Erl::start(ErlOpts::new("bad", "not_the_cookie", epmd.port));
    assert_eq!(bad.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pang");
    s.wait_log("rejected handshake", Duration::from_secs(10));
    let mut good = Erl::start(ErlOpts::new("good", &cookie, epmd.port));
    assert_eq!(good.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
}

#[test]
fn cli_ping_prints_pong_or_pang() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let (code, out, _) = erlnode_cmd(&["ping", &erl.node, "--cookie", &cookie], epmd.port);
    assert_eq!((code, out.trim()), (0, "pong"));
    let (code, out, _) = erlnode_cmd(&["ping", &erl.node, "--cookie", "wrong"], epmd.port);
    assert_eq!((code, out.trim()), (1, "pang"));
    let (code, out, _) = erlnode_cmd(
        &[
            "ping",
            &format!("nobody@{}", short_host()),
            "--cookie",
            &cookie,
        ],
        epmd.port,
    );
    assert_eq!((code, out.trim()), (1, "pang"));
}

#[test]
fn garbage_and_half_open_sockets_do_not_block_a_real_peer() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = rt
        .block_on(
            Node::builder(&unique("rg"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .start(),
        )
        .unwrap();
    let port = node.listen_port();
    let mut half_open: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for junk in [
        &b"\x00\x05hello"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        b"\xff\xff\xff\xff\xff\xff",
        b"\x00\x01N",
    ] {
        let mut g = TcpStream::connect(("127.0.0.1", port)).unwrap();
        g.write_all(junk).unwrap();
        half_open.push(g);
    }
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    assert_eq!(
        erl.eval_ok(&format!("net_adm:ping('{}')", node.name())),
        "pong"
    );
    drop(half_open);
}

#[test]
fn pipelined_100k_messages_arrive_complete_and_in_order_both_ways() {
    const N: i64 = 100_000;
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let node = rt
        .block_on(
            Node::builder(&unique("rp"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .start(),
        )
        .unwrap();
    let mut inbox = {
        let _g = rt.enter();
        node.register_mailbox("inbox").unwrap()
    };
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    // erl → Rust
    erl.eval_ok(&format!(
        "erlnode_it:send_seq({{inbox, '{}'}}, 1, {N})",
        node.name()
    ));
    rt.block_on(async {
        for i in 1..=N {
            let m = tokio::time::timeout(Duration::from_secs(30), inbox.recv())
                .await
                .expect("message in time")
                .unwrap();
            assert_eq!(
                m,
                Term::tuple(vec![Term::atom("seq"), Term::Int(i)]),
                "message {i}"
            );
        }
    });
    // Rust → erl, to the evaluator process.
    let dest = ("erlnode_ctl_eval", erl.node.as_str());
    for i in 1..=N {
        inbox.send(dest, Term::tuple(vec![Term::atom("seq"), Term::Int(i)]));
    }
    assert_eq!(
        erl.eval_timeout(
            &format!("erlnode_it:recv_seq({N}, 30000)"),
            Duration::from_secs(60)
        )
        .unwrap(),
        "ok"
    );
}

#[test]
fn disconnect_then_reconnect() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = rt
        .block_on(
            Node::builder(&unique("rd"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .start(),
        )
        .unwrap();
    let mut events = node.monitor_nodes();
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let n = node.name().to_string();
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{n}')")), "pong");
    assert_eq!(
        erl.eval_ok(&format!("erlang:disconnect_node('{n}')")),
        "true"
    );
    let down = rt.block_on(async {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Ok(NodeEvent::Down { node, reason })) => return (node, reason),
                Ok(Ok(_)) => continue,
                other => panic!("no nodedown: {other:?}"),
            }
        }
    });
    assert_eq!(down.0.as_str(), erl.node);
    assert_eq!(
        erl.eval_ok(&format!("lists:member('{n}', nodes(hidden))")),
        "false"
    );
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{n}')")), "pong");
    assert!(rt.block_on(node.ping(&erl.node)));
}

#[test]
fn idle_link_to_an_erl_with_net_ticktime_4_survives_12_seconds() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = serve(&cookie, epmd.port);
    let mut erl =
        Erl::start(ErlOpts::new("e", &cookie, epmd.port).args(&["-kernel", "net_ticktime", "4"]));
    erl.eval_ok("net_kernel:monitor_nodes(true, [{node_type, hidden}])");
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    // Idle for 12 s: erlnode ticks every 15 s on its own (ticktime 60), so
    // only answering erl's ticks keeps the link up.
    let r = erl
        .eval_timeout(
            "erlnode_it:wait_msg(fun({nodedown, _, _}) -> true; (_) -> false end, 12000)",
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(r, "timeout", "erl saw the node go down");
    assert_eq!(
        erl.eval_ok(&format!("lists:member('{}', nodes(hidden))", s.node)),
        "true"
    );
}

fn nodedown_within(erl: &mut Erl, node: &str, limit: Duration) -> Duration {
    let t = Instant::now();
    let r = erl
        .eval_timeout(
            &format!(
                "erlnode_it:wait_msg(fun({{nodedown, '{node}'}}) -> true; (_) -> false end, {})",
                limit.as_millis()
            ),
            limit + Duration::from_secs(10),
        )
        .unwrap();
    assert!(
        r.starts_with("{ok,{nodedown"),
        "no nodedown within {limit:?}: {r}"
    );
    t.elapsed()
}

#[test]
fn erl_sees_nodedown_when_the_rust_node_is_killed() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = serve(&cookie, epmd.port);
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    assert_eq!(
        erl.eval_ok(&format!("monitor_node('{}', true)", s.node)),
        "true"
    );
    s.signal("KILL");
    nodedown_within(&mut erl, &s.node.clone(), Duration::from_secs(5));
}

#[test]
fn erl_sees_nodedown_when_the_rust_node_is_frozen() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = serve(&cookie, epmd.port);
    let mut erl =
        Erl::start(ErlOpts::new("e", &cookie, epmd.port).args(&["-kernel", "net_ticktime", "4"]));
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    assert_eq!(
        erl.eval_ok(&format!("monitor_node('{}', true)", s.node)),
        "true"
    );
    s.signal("STOP");
    // ticktime 4: OTP detects within 4–6 s; allow margin for a loaded machine.
    let took = nodedown_within(&mut erl, &s.node.clone(), Duration::from_secs(12));
    assert!(
        took >= Duration::from_secs(2),
        "nodedown came too early ({took:?}) to be a tick timeout"
    );
    s.signal("CONT");
}

#[test]
fn simultaneous_connect_ends_with_one_working_connection() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Both name orders: the Rust node's name sorts before, then after, erl's.
    for prefix in ["a", "z"] {
        let node = rt
            .block_on(
                Node::builder(&unique(prefix))
                    .cookie(&cookie)
                    .epmd_port(epmd.port)
                    .start(),
            )
            .unwrap();
        let mut erl = Erl::start(ErlOpts::new("m", &cookie, epmd.port));
        let n = node.name().to_string();
        for round in 0..5 {
            // erl dials in a spawned process while Rust dials at the same time.
            erl.eval_ok(&format!(
                "Self = self(), spawn(fun() -> Self ! {{c, net_kernel:connect_node('{n}')}} end)"
            ));
            let ours = rt.block_on(node.connect(&erl.node));
            let theirs =
                erl.eval_ok("erlnode_it:wait_msg(fun({c, _}) -> true; (_) -> false end, 10000)");
            assert!(ours, "round {round}: Rust connect failed");
            assert_eq!(theirs, "{ok,{c,true}}", "round {round}");
            assert_eq!(
                erl.eval_ok(&format!("length([N || N <- nodes(hidden), N =:= '{n}'])")),
                "1"
            );
            assert!(
                rt.block_on(node.ping(&erl.node)),
                "round {round}: ping from Rust"
            );
            assert_eq!(
                erl.eval_ok(&format!("net_adm:ping('{n}')")),
                "pong",
                "round {round}"
            );
            assert_eq!(node.nodes().len(), 1);
            assert_eq!(
                erl.eval_ok(&format!("erlang:disconnect_node('{n}')")),
                "true"
            );
            wait_until(
                "Rust side to see the disconnect",
                Duration::from_secs(10),
                || node.nodes().is_empty(),
            );
        }
    }
}

#[test]
fn embedded_epmd_serves_two_real_erl_nodes() {
    // Nothing listens on this port: `erlnode serve` starts its own EPMD.
    let port = free_port();
    let cookie = unique_cookie();
    let s = serve(&cookie, port);
    s.wait_log("started an embedded one", Duration::from_secs(5));
    let mut a = Erl::start(ErlOpts::new("ea", &cookie, port));
    let b = Erl::start(ErlOpts::new("eb", &cookie, port));
    assert_eq!(a.eval_ok(&format!("net_adm:ping('{}')", b.node)), "pong");
    assert_eq!(a.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    // The real epmd CLI reads it.
    let out = std::process::Command::new("epmd")
        .args(["-port", &port.to_string(), "-names"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for n in [&a.node, &b.node, &s.node] {
        let alive = n.split('@').next().unwrap();
        assert!(
            text.contains(&format!("name {alive} at port")),
            "epmd -names lacks {alive}:\n{text}"
        );
    }
}

#[test]
fn cookie_comes_from_the_home_cookie_file_like_erl() {
    let epmd = Epmd::start();
    let home = std::env::temp_dir().join(unique("home"));
    std::fs::create_dir_all(&home).unwrap();
    let home_s = home.to_str().unwrap().to_string();
    // erl (no -setcookie) creates ~/.erlang.cookie; erlnode reads the same file.
    let mut opts = ErlOpts::new("e", "unused", epmd.port);
    opts.env.push(("HOME".into(), home_s.clone()));
    let mut erl = Erl::start_without_cookie(opts);
    let name = unique("rc");
    let s = Serve::start_env(&["--sname", &name], epmd.port, &[("HOME", &home_s)]);
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn sigterm_shuts_down_cleanly_and_peers_see_nodedown() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let mut s = serve(&cookie, epmd.port);
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    s.wait_log("nodeup", Duration::from_secs(5));
    assert_eq!(
        erl.eval_ok(&format!("monitor_node('{}', true)", s.node)),
        "true"
    );
    s.signal("TERM");
    let st = s
        .wait_exit(Duration::from_secs(10))
        .expect("serve exits after SIGTERM");
    assert!(st.success(), "exit status {st:?}");
    nodedown_within(&mut erl, &s.node.clone(), Duration::from_secs(5));
    let alive = s.node.split('@').next().unwrap().to_string();
    assert_eq!(
        erl.eval_ok(&format!(
            "lists:keymember(\"{alive}\", 1, element(2, net_adm:names()))"
        )),
        "false"
    );
}

#[test]
fn dropping_the_node_closes_connections_and_the_epmd_registration() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = rt
        .block_on(
            Node::builder(&unique("rx"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .start(),
        )
        .unwrap();
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let n = node.name().to_string();
    let alive = n.split('@').next().unwrap().to_string();
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{n}')")), "pong");
    assert_eq!(
        erl.eval_ok(&format!(
            "lists:keymember(\"{alive}\", 1, element(2, net_adm:names()))"
        )),
        "true"
    );
    assert_eq!(erl.eval_ok(&format!("monitor_node('{n}', true)")), "true");
    drop(node);
    nodedown_within(&mut erl, &n, Duration::from_secs(5));
    wait_until("EPMD to forget the node", Duration::from_secs(5), || {
        erl.eval_ok(&format!(
            "lists:keymember(\"{alive}\", 1, element(2, net_adm:names()))"
        )) == "false"
    });
    drop(rt);
}
