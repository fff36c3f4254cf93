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
