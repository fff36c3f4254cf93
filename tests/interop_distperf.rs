//! Issue 6 item 3 against real `erl`: the distribution header atom cache
//! (DIST_HDR_ATOM_CACHE) and fragmented messages (FRAGMENTS), both ways.
//! The connection's header counters (`Node::dist_stats`) show that the peer
//! really used them; `erl` checks every term it gets back with `=:=`.
mod common;
use common::*;
use erlnode::{Atom, Node, Term};
use std::sync::mpsc;
use std::time::Duration;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn start_node(rt: &Runtime, prefix: &str, cookie: &str, epmd: u16) -> Node {
    rt.block_on(
        Node::builder(&unique(prefix))
            .cookie(cookie)
            .epmd_port(epmd)
            .start(),
    )
    .unwrap()
}

/// Registers `echo`: `{From, Msg}` → `From ! Msg`. Every `Msg` is also
/// handed to the returned channel for the test to inspect.
fn spawn_echo(rt: &Runtime, node: &Node) -> mpsc::Receiver<Term> {
    let mut mb = {
        let _g = rt.enter();
        node.register_mailbox("echo").unwrap()
    };
    let (tx, rx) = mpsc::channel();
    rt.spawn(async move {
        while let Ok(m) = mb.recv().await {
            if let Some([Term::Pid(from), msg]) = m.as_tuple() {
                mb.send(from, msg.clone());
                let _ = tx.send(msg.clone());
            }
        }
    });
    rx
}

/// A node connected to a fresh `erl`, and two of its processes to send from.
fn two_senders(
    rt: &Runtime,
    prefix: &str,
    cookie: &str,
    epmd: u16,
) -> (Node, Erl, erlnode::Mailbox, erlnode::Mailbox) {
    let node = start_node(rt, prefix, cookie, epmd);
    let erl = Erl::start(ErlOpts::new("e", cookie, epmd));
    assert!(rt.block_on(node.connect(&erl.node)));
    let (a, b) = {
        let _g = rt.enter();
        (node.mailbox(), node.mailbox())
    };
    (node, erl, a, b)
}

/// The byte pattern of `erlnode_perf_it:big/1`.
fn big(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 256) as u8).collect()
}

#[test]
fn atom_cache_is_used_both_ways_and_atom_heavy_terms_round_trip() {
    const N: usize = 200;
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    let node = start_node(&rt, "ra", &cookie, epmd.port);
    let echoed = spawn_echo(&rt, &node);
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let n = node.name().to_string();
    // Connect first: messages the BEAM encodes while the connection is
    // being set up go without atom cache references (PROTOCOL.md §3.3).
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{n}')")), "pong");
    let check = format!(
        "erlnode_perf_it:echo_check({{echo, '{n}'}}, erlnode_perf_it:atoms_term(\"perf_a_\", {N}), 20000)"
    );
    // erl → erlnode → erl, first time: the atoms are new entries both ways.
    assert_eq!(erl.eval_ok(&check), "true");
    let got = echoed.recv_timeout(Duration::from_secs(20)).unwrap();
    let t = got.as_tuple().expect("a tuple");
    assert_eq!(t[0], Term::atom("atoms"));
    let want: Vec<Term> = (1..=N)
        .map(|i| Term::Atom(Atom::from(format!("perf_a_{i}").as_str())))
        .collect();
    assert_eq!(t[1], Term::list(want));
    assert_eq!(
        t[2],
        Term::list(
            ["ok", "ok", "hello", "hello", "world", "ok"]
                .iter()
                .map(|a| Term::atom(a))
                .collect::<Vec<_>>()
        )
    );
    let first = node.dist_stats(&erl.node).expect("connected");
    // The BEAM puts at most 255 atoms of a message in its cache, and two
    // atoms of one message may share a slot; most of the 200 get in.
    assert!(first.atom_refs_received_new >= 150, "{first:?}");
    assert!(first.atom_refs_sent_new >= 150, "{first:?}");
    // Second time: the same atoms are references to cached entries.
    assert_eq!(erl.eval_ok(&check), "true");
    echoed.recv_timeout(Duration::from_secs(20)).unwrap();
    let second = node.dist_stats(&erl.node).expect("connected");
    assert!(
        second.atom_refs_received_cached - first.atom_refs_received_cached >= 150,
        "{first:?} then {second:?}"
    );
    assert!(
        second.atom_refs_sent_cached - first.atom_refs_sent_cached >= 150,
        "{first:?} then {second:?}"
    );
    // The new entries of the second round are at most the few atoms that
    // lost their slot to another atom of the same message.
    assert!(
        second.atom_refs_received_new - first.atom_refs_received_new < 60,
        "{first:?} then {second:?}"
    );
    // A message built on the Rust side, with atoms erl has never seen.
    let fresh: Vec<Term> = (0..300)
        .map(|i| Term::Atom(Atom::from(format!("rust_side_{i}").as_str())))
        .collect();
    let mb = {
        let _g = rt.enter();
        node.mailbox()
    };
    for _ in 0..2 {
        mb.send(
            ("erlnode_ctl_eval", erl.node.as_str()),
            Term::tuple(vec![Term::atom("fresh"), Term::list(fresh.clone())]),
        );
    }
    let got = erl.eval_ok(
        "Fresh = [list_to_atom(\"rust_side_\" ++ integer_to_list(I)) || I <- lists:seq(0, 299)], \
         [receive {fresh, L} -> L =:= Fresh after 10000 -> timeout end || _ <- [1, 2]]",
    );
    assert_eq!(got, "[true,true]");
    let third = node.dist_stats(&erl.node).expect("connected");
    assert!(
        third.atom_refs_sent_cached - second.atom_refs_sent_cached >= 200,
        "{second:?} then {third:?}"
    );
}

#[test]
fn big_binaries_travel_in_fragments_both_ways() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    let node = start_node(&rt, "rf", &cookie, epmd.port);
    let echoed = spawn_echo(&rt, &node);
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let n = node.name().to_string();
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{n}')")), "pong");
    let mut before = None;
    for size in [8 << 20, 64 << 20] {
        let r = erl
            .eval_timeout(
                &format!("erlnode_perf_it:big_echo({{echo, '{n}'}}, {size}, 120000)"),
                Duration::from_secs(150),
            )
            .unwrap();
        assert_eq!(r, format!("{{{size},true}}"));
        let got = echoed.recv_timeout(Duration::from_secs(10)).unwrap();
        let t = got.as_tuple().expect("{big, B}");
        assert_eq!(t[1], Term::Binary(big(size).into()));
        let s = node.dist_stats(&erl.node).expect("connected");
        let (frags_in, frags_out) = match before {
            None => (s.fragments_received, s.fragments_sent),
            Some((i, o)) => (s.fragments_received - i, s.fragments_sent - o),
        };
        // At most 64 KiB of payload per fragment, both ways.
        let min = (size / (64 << 10)) as u64;
        assert!(frags_in >= min, "{size}: {s:?}");
        assert!(frags_out >= min, "{size}: {s:?}");
        before = Some((s.fragments_received, s.fragments_sent));
    }
    let s = node.dist_stats(&erl.node).expect("connected");
    assert!(s.fragmented_received >= 2, "{s:?}");
    assert!(s.fragmented_sent >= 2, "{s:?}");
}

#[test]
fn a_small_message_passes_a_64_mib_one_in_flight() {
    const BIG: usize = 64 << 20;
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    let (node, mut erl, sender_big, sender_small) = two_senders(&rt, "ro", &cookie, epmd.port);
    let dest = ("erlnode_ctl_eval", erl.node.as_str());
    let payload = Term::Binary(big(BIG).into());
    // Two senders: the big message is queued first, the small one right
    // after; the small one must not wait for all 64 MiB.
    sender_big.send(dest, Term::tuple(vec![Term::atom("big"), payload]));
    sender_small.send(
        dest,
        Term::tuple(vec![
            Term::atom("small"),
            Term::Binary(b"hi".to_vec().into()),
        ]),
    );
    // And one more from the big sender, which must stay behind its big one.
    sender_big.send(
        dest,
        Term::tuple(vec![
            Term::atom("later"),
            Term::Binary(b"ho".to_vec().into()),
        ]),
    );
    let order = erl
        .eval_timeout(
            "[case M of {T, S, D} -> {T, S, D =:= erlang:md5(erlnode_perf_it:big(S))}; _ -> M end \
             || M <- erlnode_perf_it:collect(3, 120000)]",
            Duration::from_secs(150),
        )
        .unwrap();
    assert_eq!(
        order,
        format!("[{{small,2,false}},{{big,{BIG},true}},{{later,2,false}}]")
    );
    let s = node.dist_stats(&erl.node).expect("connected");
    assert_eq!(s.fragmented_sent, 1, "{s:?}");
    assert!(s.fragments_sent >= (BIG / (64 << 10)) as u64, "{s:?}");
}

#[test]
fn a_big_term_of_small_terms_arrives_intact_in_fragments_and_in_order() {
    // 300,000 {item, N} tuples: about 3 MiB encoded, no binaries to splice,
    // the atom cache used throughout.
    const N: i64 = 300_000;
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    let (node, mut erl, sender_big, sender_small) = two_senders(&rt, "rp", &cookie, epmd.port);
    let dest = ("erlnode_ctl_eval", erl.node.as_str());
    let list = Term::List(
        (0..N)
            .map(|i| Term::tuple(vec![Term::atom("item"), Term::Int(i * 7)]))
            .collect(),
    );
    // What the BEAM's term_to_binary gives for it (erlnode encodes the same).
    let digest = {
        use md5::{Digest as _, Md5};
        Md5::digest(list.encode()).to_vec()
    };
    sender_big.send(
        dest,
        Term::tuple(vec![Term::atom("big"), list, Term::Binary(digest.into())]),
    );
    sender_small.send(dest, Term::tuple(vec![Term::atom("small")]));
    sender_big.send(dest, Term::tuple(vec![Term::atom("later")]));
    let got = erl
        .eval_timeout(
            "[case M of {big, L, D} -> {big, length(L), \
                 D =:= erlang:md5(term_to_binary(L, [{minor_version, 2}]))}; _ -> M end \
             || M <- erlnode_perf_it:collect(3, 60000)]",
            Duration::from_secs(90),
        )
        .unwrap();
    // The small message from the other sender usually passes the big one
    // between its fragments, but messages of different senders have no
    // order between them; the big sender's own next message always comes
    // after it.
    let big = format!("{{big,{N},true}}");
    assert!(
        got == format!("[{{small}},{big},{{later}}]")
            || got == format!("[{big},{{small}},{{later}}]"),
        "{got}"
    );
    let s = node.dist_stats(&erl.node).expect("connected");
    assert_eq!(s.fragmented_sent, 1, "{s:?}");
}

/// A packet: `Len:u32` and the bytes.
fn packet(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// A fragment header: 131, kind, sequence id, fragment id.
fn frag(kind: u8, seq: u64, id: u64) -> Vec<u8> {
    let mut v = vec![131, kind];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v
}

/// Dials `node` with our own handshake as `name` (both header flags
/// advertised), writes `packets`, and returns the reason the node gives in
/// its nodedown event for that connection.
fn hostile_peer(
    rt: &Runtime,
    node: &Node,
    cookie: &str,
    name: &str,
    packets: Vec<Vec<u8>>,
) -> erlnode::node::DownReason {
    use erlnode::NodeEvent;
    use erlnode::cookie::Cookie;
    use erlnode::handshake::{HandshakeOptions, InitiatorConfig, connect};
    use erlnode::name::NodeName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let me = NodeName::new(name, &short_host()).unwrap();
    let peer = NodeName::parse(node.name().as_str()).unwrap();
    let mut events = node.monitor_nodes();
    let port = node.listen_port();
    rt.block_on(async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let cfg = InitiatorConfig::new(me.clone(), 0x0BAD_F00D, peer, Cookie::new(cookie).unwrap());
        let (est, _) = tokio::time::timeout(
            Duration::from_secs(20),
            connect(&mut s, cfg, &HandshakeOptions::tcp()),
        )
        .await
        .expect("handshake in time")
        .expect("handshake");
        assert!(
            est.negotiated_flags
                .contains(erlnode::handshake::DistFlags::FRAGMENTS)
        );
        // The node may close the connection at the first bad packet, before
        // the rest are written: a failed write is expected then.
        for p in packets {
            if s.write_all(&p).await.is_err() {
                break;
            }
        }
        // The node closes this connection (reads end), and says why.
        let reason = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match events.recv().await.unwrap() {
                    NodeEvent::Down { node: n, reason } if n.as_str() == me.to_string() => {
                        return reason;
                    }
                    _ => {}
                }
            }
        })
        .await
        .expect("nodedown for the hostile peer");
        let mut b = [0u8; 1024];
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match s.read(&mut b).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the node closed the socket");
        reason
    })
}

#[test]
fn hostile_headers_close_only_that_connection_naming_the_limit() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let rt = runtime();
    // A 1 MiB message limit, so the size limit is reached quickly.
    let node = rt
        .block_on(
            Node::builder(&unique("rh"))
                .cookie(&cookie)
                .epmd_port(epmd.port)
                .max_frame_len(1 << 20)
                .start(),
        )
        .unwrap();
    let _echo = spawn_echo(&rt, &node);
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let n = node.name().to_string();
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{n}')")), "pong");
    let text = |r: erlnode::node::DownReason| match r {
        erlnode::node::DownReason::ProtocolError(t) => t,
        other => panic!("expected a protocol error, got {other:?}"),
    };
    // An old atom cache reference to a slot nobody filled.
    let why = text(hostile_peer(
        &rt,
        &node,
        &cookie,
        &unique("h1"),
        vec![packet(&[131, 68, 1, 0x03, 7, 106])],
    ));
    assert!(why.contains("atom cache reference to slot 775"), "{why}");
    // A following fragment of a sequence never started.
    let mut p = frag(70, 42, 1);
    p.push(106);
    let why = text(hostile_peer(
        &rt,
        &node,
        &cookie,
        &unique("h2"),
        vec![packet(&p)],
    ));
    assert!(why.contains("unknown sequence 42"), "{why}");
    // Fragments out of order.
    let mut first = frag(69, 5, 3);
    first.extend_from_slice(&[0, 104, 1]);
    let mut wrong = frag(70, 5, 1);
    wrong.push(106);
    let why = text(hostile_peer(
        &rt,
        &node,
        &cookie,
        &unique("h3"),
        vec![packet(&first), packet(&wrong)],
    ));
    assert!(why.contains("expected fragment 2"), "{why}");
    // More sequences in flight than MAX_FRAGMENTED_SEQUENCES.
    let many: Vec<Vec<u8>> = (0..=erlnode::dist::header::MAX_FRAGMENTED_SEQUENCES as u64)
        .map(|seq| {
            let mut p = frag(69, seq, 2);
            p.extend_from_slice(&[0, 104, 1]);
            packet(&p)
        })
        .collect();
    let why = text(hostile_peer(&rt, &node, &cookie, &unique("h4"), many));
    assert!(why.contains("MAX_FRAGMENTED_SEQUENCES"), "{why}");
    // Fragments adding up to more than max_frame_len.
    let big: Vec<Vec<u8>> = (0..3u64)
        .map(|seq| {
            let mut p = frag(69, seq, 2);
            p.push(0);
            p.extend(std::iter::repeat_n(0u8, 600 << 10));
            packet(&p)
        })
        .collect();
    let why = text(hostile_peer(&rt, &node, &cookie, &unique("h5"), big));
    assert!(why.contains("max_frame_len"), "{why}");
    // A pass-through packet although headers were negotiated.
    let why = text(hostile_peer(
        &rt,
        &node,
        &cookie,
        &unique("h6"),
        vec![packet(&[112, 131, 104, 1, 97, 2])],
    ));
    assert!(why.contains("unknown distribution message kind"), "{why}");
    // erl's connection was never touched.
    assert!(node.nodes().iter().any(|a| a.as_str() == erl.node));
    assert_eq!(
        erl.eval_ok(&format!(
            "erlnode_perf_it:echo_check({{echo, '{n}'}}, {{still, here}}, 10000)"
        )),
        "true"
    );
}
