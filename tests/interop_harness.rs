//! The harness itself works against real `epmd` and `erl`.
mod common;
use common::*;

#[test]
fn two_erl_nodes_meet_through_private_epmd() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let mut a = Erl::start(ErlOpts::new("ha", &cookie, epmd.port));
    let b = Erl::start(ErlOpts::new("hb", &cookie, epmd.port));
    assert_eq!(a.eval_ok(&format!("net_adm:ping('{}')", b.node)), "pong");
    assert_eq!(a.eval_ok("X = 41 + 1"), "42");
    assert_eq!(a.eval_ok("X"), "42");
    assert!(a.eval("erlang:error(boom)").unwrap_err().contains("boom"));
}
