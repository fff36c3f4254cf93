//! A Rust node against real `erl`: ping both ways, hidden-node visibility,
//! messages both ways.
mod common;
use common::*;
use erlnode::{Node, Term};
use std::time::Duration;

async fn rust_node(prefix: &str, cookie: &str, epmd: u16) -> Node {
    Node::builder(&unique(prefix))
        .cookie(cookie)
        .epmd_port(epmd)
        .start()
        .await
        .expect("start node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_pings_rust_and_sees_it_hidden() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let node = rust_node("rn", &cookie, epmd.port).await;
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let me = node.name().to_string();
    let r = tokio::task::spawn_blocking(move || {
        let pong = erl.eval_ok(&format!("net_adm:ping('{me}')"));
        let hidden = erl.eval_ok("nodes(hidden)");
        let visible = erl.eval_ok("nodes()");
        (pong, hidden, visible, erl)
    })
    .await
    .unwrap();
    assert_eq!(r.0, "pong");
    assert!(
        r.1.contains(node.name().as_str()),
        "nodes(hidden) = {}",
        r.1
    );
    assert_eq!(r.2, "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_pings_erl_and_messages_flow_both_ways() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let node = rust_node("rn", &cookie, epmd.port).await;
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    assert!(node.ping(&erl.node).await, "ping from Rust");
    assert!(node.nodes().iter().any(|n| n.as_str() == erl.node));

    let mut inbox = node.register_mailbox("inbox").unwrap();
    let me = node.name().to_string();
    let erl_node = erl.node.clone();
    let erl = tokio::task::spawn_blocking(move || {
        erl.eval_ok(&format!(
            "{{inbox, '{me}'}} ! {{hello, self(), [1,2,3], <<\"bin\">>}}"
        ));
        erl
    })
    .await
    .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(10), inbox.recv())
        .await
        .unwrap()
        .unwrap();
    let items = msg.as_tuple().expect("tuple").to_vec();
    assert!(items[0].is_atom("hello"));
    let Term::Pid(erl_pid) = &items[1] else {
        panic!("no pid in {msg:?}")
    };
    assert_eq!(erl_pid.node.as_str(), erl_node);
    assert_eq!(
        items[2],
        Term::List(vec![Term::Int(1), Term::Int(2), Term::Int(3)])
    );
    assert_eq!(items[3], Term::binary("bin"));

    inbox.send(
        erl_pid,
        Term::Tuple(vec![Term::atom("reply"), Term::Int(42)]),
    );
    let mut erl = erl;
    let got = tokio::task::spawn_blocking(move || erl.eval_ok("erlnode_ctl:recv(5000)"))
        .await
        .unwrap();
    assert_eq!(got, "{reply,42}");
}

/// Waits until `name` is registered to a pid other than `old`.
async fn reregistered(node: &Node, name: &str, old: &erlnode::Pid) -> erlnode::Pid {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(p) = node.whereis(name).filter(|p| p != old) {
            return p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} was not restarted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_rex_or_net_kernel_is_restarted_and_keeps_serving_erl() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let node = rust_node("rs", &cookie, epmd.port).await;
    node.register_fn("t", "one", 0, |_| async { Ok(Term::Int(1)) });
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let me = node.name().to_string();
    // rpc:block_call goes through rex (rpc:call uses erpc's spawn_request).
    let call = format!("{{rpc:call('{me}', t, one, []), rpc:block_call('{me}', t, one, [])}}");
    let ping = format!("net_adm:ping('{me}')");
    let (mut erl, first) = tokio::task::spawn_blocking(move || {
        let r = erl.eval_ok(&call);
        (erl, r)
    })
    .await
    .unwrap();
    assert_eq!(first, "{1,1}");
    // Kill both services, as a flood past max_mailbox_len would end them.
    let killer = node.mailbox();
    let rex = node.whereis("rex").expect("rex runs");
    let nk = node.whereis("net_kernel").expect("net_kernel runs");
    killer.exit_signal(&rex, Term::atom("kill"));
    killer.exit_signal(&nk, Term::atom("kill"));
    let new_rex = reregistered(&node, "rex", &rex).await;
    reregistered(&node, "net_kernel", &nk).await;
    assert_ne!(new_rex, rex);
    // The same erl, on the same connection, is served by the new ones.
    let call = format!("{{rpc:call('{me}', t, one, []), rpc:block_call('{me}', t, one, [])}}");
    let (again, pong) = tokio::task::spawn_blocking(move || {
        let r = erl.eval_ok(&call);
        let p = erl.eval_ok(&ping);
        (r, p)
    })
    .await
    .unwrap();
    assert_eq!(again, "{1,1}");
    assert_eq!(pong, "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_reasons_reach_the_owner_and_every_watcher_whole() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let node = rust_node("rx", &cookie, epmd.port).await;
    let big = |tag: &str| {
        Term::tuple(vec![
            Term::atom(tag),
            Term::List((0..1000).map(Term::Int).collect()),
        ])
    };
    let mut watcher = node.mailbox();
    let is_down = |m: &Term, want: &Term| matches!(m.as_tuple(), Some([t, _, _, _, r]) if t.is_atom("DOWN") && r == want);
    // Killed while its owner still holds the mailbox: the owner's receive
    // reports the reason, and both watchers get it.
    let mut victim = node.mailbox();
    let other = node.mailbox();
    watcher.monitor(victim.pid());
    other.monitor(victim.pid());
    watcher.exit_signal(victim.pid(), big("first"));
    let e = victim.recv().await.expect_err("killed");
    assert_eq!(e.reason, big("first"));
    let m = watcher.recv_timeout(Duration::from_secs(5)).await.unwrap();
    assert!(is_down(m.as_ref().unwrap(), &big("first")), "{m:?}");
    let mut other = other;
    let m = other.recv_timeout(Duration::from_secs(5)).await.unwrap();
    assert!(is_down(m.as_ref().unwrap(), &big("first")), "{m:?}");
    // Ending itself with `exit` (its mailbox consumed, so the reason is not
    // kept on the process): the watcher still gets it whole.
    let leaving = node.mailbox();
    watcher.monitor(leaving.pid());
    leaving.exit(big("second"));
    let m = watcher.recv_timeout(Duration::from_secs(5)).await.unwrap();
    assert!(is_down(m.as_ref().unwrap(), &big("second")), "{m:?}");
}
