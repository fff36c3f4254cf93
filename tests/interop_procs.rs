//! Issue 4 against real `erl`, in both directions: links, exit signals,
//! monitors, aliases, connection loss, node monitoring, rpc/erpc served and
//! called, rex and `erl_call`, spawn, group leaders, gen_server, the CLI; and
//! issue 7's unread-mailbox policy.
mod common;
use common::*;
use erlnode::node::{CallError, DownReason, Exception, RpcError, SpawnOpts};
use erlnode::{Mailbox, Node, NodeBuilder, NodeEvent, Term};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Runtime;

/// How long any single expected message may take.
const WAIT: Duration = Duration::from_secs(10);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn t(text: &str) -> Term {
    text.parse()
        .unwrap_or_else(|e| panic!("bad term {text:?}: {e}"))
}

fn atom(s: &str) -> Term {
    Term::atom(s)
}

/// An in-process erlnode node and a real erl connected to it. In erl, `Self`
/// is the evaluator's pid and `RN` the Rust node's name. The Rust mailbox
/// `pids` receives what [`Rig::take`] asks erl to send.
struct Rig {
    node: Node,
    erl: Erl,
    pids: Mailbox,
    cookie: String,
    rt: Runtime,
    epmd: Epmd,
}

impl Rig {
    fn start() -> Rig {
        Rig::with(|b| b)
    }

    fn with(f: impl FnOnce(NodeBuilder) -> NodeBuilder) -> Rig {
        let epmd = Epmd::start();
        let cookie = unique_cookie();
        let rt = runtime();
        let node = rt
            .block_on(
                f(Node::builder(&unique("rs"))
                    .cookie(&cookie)
                    .epmd_port(epmd.port))
                .start(),
            )
            .unwrap();
        let pids = node.register_mailbox("pids").unwrap();
        let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
        erl.eval_ok(&format!("Self = self(), RN = '{}'", node.name()));
        Rig {
            node,
            erl,
            pids,
            cookie,
            rt,
            epmd,
        }
    }

    /// Evaluates `expr` in erl and returns its value, sent over distribution.
    fn take(&mut self, expr: &str) -> Term {
        self.erl
            .eval_ok(&format!("{{pids, RN}} ! {{took, begin {expr} end}}, ok"));
        let got = self
            .rt
            .block_on(self.pids.recv_match(
                |m| matches!(m.as_tuple(), Some([tag, _]) if tag.is_atom("took")),
                Some(WAIT),
            ))
            .unwrap()
            .unwrap_or_else(|| panic!("erl never sent the value of {expr}"));
        got.into_tuple().unwrap().pop().unwrap()
    }

    fn take_pid(&mut self, expr: &str) -> erlnode::Pid {
        match self.take(expr) {
            Term::Pid(ref p) => p.clone(),
            other => panic!("{expr} is not a pid: {other}"),
        }
    }

    /// Binds `var` in erl to `value`, sent over distribution.
    fn give(&mut self, var: &str, value: Term) {
        {
            let _g = self.rt.enter();
            self.pids.send(
                ("erlnode_ctl_eval", self.erl.node.as_str()),
                Term::tuple(vec![atom("give"), atom(var), value]),
            );
        }
        self.erl.eval_ok(&format!(
            "{var} = receive {{give, '{var}', Give_{var}}} -> Give_{var} after 10000 -> error(nothing_given) end"
        ));
    }

    /// Polls an erl expression until it prints `true`.
    fn erl_until(&mut self, what: &str, expr: &str) {
        let erl = &mut self.erl;
        wait_until(what, WAIT, || erl.eval_ok(expr) == "true");
    }

    /// The next message of `mb`; panics after [`WAIT`] or if it exited.
    fn recv(&self, mb: &mut Mailbox) -> Term {
        self.rt
            .block_on(mb.recv_timeout(WAIT))
            .unwrap_or_else(|e| panic!("{mb:?} exited: {e}"))
            .unwrap_or_else(|| panic!("{mb:?} got nothing in {WAIT:?}"))
    }

    /// The exit reason of `mb`, which must die within [`WAIT`].
    fn death(&self, mb: &mut Mailbox) -> Term {
        let r = self.rt.block_on(async {
            let end = tokio::time::Instant::now() + WAIT;
            loop {
                match tokio::time::timeout_at(end, mb.recv()).await {
                    Ok(Ok(m)) => eprintln!("(message before death: {m})"),
                    Ok(Err(e)) => return Some(e.reason),
                    Err(_) => return None,
                }
            }
        });
        r.unwrap_or_else(|| panic!("{mb:?} did not die within {WAIT:?}"))
    }

    /// Every message `mb` gets up to `marker`, which it must get in [`WAIT`].
    fn drain_until(&self, mb: &mut Mailbox, marker: &Term) -> Vec<Term> {
        let mut got = Vec::new();
        loop {
            let m = self.recv(mb);
            if m == *marker {
                return got;
            }
            got.push(m);
        }
    }
}

fn exit_msg(from: &erlnode::Pid, reason: Term) -> Term {
    Term::tuple(vec![atom("EXIT"), Term::Pid(from.clone()), reason])
}

// ---------------------------------------------------------------- links

#[test]
fn a_linked_beam_process_dies_and_rust_gets_the_full_reason_or_dies_and_propagates() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let mut trapper = rig.node.mailbox();
    trapper.trap_exit(true);
    rig.give("T1", Term::Pid(trapper.pid().clone()));
    rig.erl
        .eval_ok("B1 = spawn(fun() -> receive {die, R} -> exit(R) end end)");
    let b1 = rig.take_pid("B1");
    trapper.link(&b1);
    rig.erl_until(
        "erl to see the link",
        "lists:member(T1, element(2, process_info(B1, links)))",
    );
    rig.erl
        .eval_ok("B1 ! {die, {shutdown, #{a => [1, <<\"x\">>]}}}");
    assert_eq!(
        rig.recv(&mut trapper),
        exit_msg(&b1, t("{shutdown, #{a => [1, <<\"x\">>]}}"))
    );

    // A non-trapping mailbox linked to two BEAM processes: one dies, the
    // mailbox dies with the same reason, and the other (trapping) gets it.
    let mut victim = rig.node.mailbox();
    rig.give("V", Term::Pid(victim.pid().clone()));
    rig.erl.eval_ok(
        "B2 = spawn(fun() -> receive {die, R} -> exit(R) end end), B3 = erlnode_procs:reporter(Self)",
    );
    let (b2, b3) = (rig.take_pid("B2"), rig.take_pid("B3"));
    victim.link(&b2);
    victim.link(&b3);
    rig.erl_until(
        "erl to see both links",
        "lists:member(V, element(2, process_info(B2, links))) andalso lists:member(V, element(2, process_info(B3, links)))",
    );
    rig.erl.eval_ok("B2 ! {die, {custom, [1, 2, 3]}}");
    assert_eq!(rig.death(&mut victim), t("{custom, [1, 2, 3]}"));
    assert_eq!(
        rig.erl.eval_ok("case erlnode_procs:wait_for(fun({report, P, {'EXIT', F, _}}) -> P =:= B3 andalso F =:= V; (_) -> false end, 10000) of {report, _, {'EXIT', _, R3}} -> R3; Other3 -> Other3 end"),
        "{custom,[1,2,3]}"
    );
    // The dead mailbox's pid is gone: a link to it answers noproc.
    assert_eq!(
        rig.erl.eval_ok("process_flag(trap_exit, true), link(V), receive {'EXIT', V, Why} -> Why after 10000 -> timeout end"),
        "noproc"
    );
    rig.erl.eval_ok("process_flag(trap_exit, false)");
}

#[test]
fn kill_cannot_be_trapped_and_reaches_links_as_killed() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    // erl kills a trapping Rust mailbox; its BEAM link sees `killed`.
    let mut k = rig.node.mailbox();
    k.trap_exit(true);
    rig.give("K", Term::Pid(k.pid().clone()));
    rig.erl.eval_ok("B4 = erlnode_procs:reporter(Self)");
    let b4 = rig.take_pid("B4");
    k.link(&b4);
    rig.erl_until(
        "erl to see the link",
        "lists:member(K, element(2, process_info(B4, links)))",
    );
    rig.erl.eval_ok("exit(K, kill)");
    assert_eq!(rig.death(&mut k), atom("killed"));
    assert_eq!(
        rig.erl.eval_ok("case erlnode_procs:wait_for(fun({report, P, {'EXIT', F, _}}) -> P =:= B4 andalso F =:= K; (_) -> false end, 10000) of {report, _, {'EXIT', _, R4}} -> R4; Other4 -> Other4 end"),
        "killed"
    );

    // erl kills a BEAM process linked to a trapping Rust mailbox.
    let mut tr = rig.node.mailbox();
    tr.trap_exit(true);
    rig.erl
        .eval_ok("B5 = spawn(fun() -> receive never -> ok end end)");
    let b5 = rig.take_pid("B5");
    tr.link(&b5);
    rig.give("TR", Term::Pid(tr.pid().clone()));
    rig.erl_until(
        "erl to see the link",
        "lists:member(TR, element(2, process_info(B5, links)))",
    );
    rig.erl.eval_ok("exit(B5, kill)");
    assert_eq!(rig.recv(&mut tr), exit_msg(&b5, atom("killed")));

    // A Rust exit signal `kill` to a trapping BEAM process kills it too.
    rig.erl
        .eval_ok("B6 = spawn(fun() -> process_flag(trap_exit, true), receive never -> ok end end), M6 = monitor(process, B6)");
    let b6 = rig.take_pid("B6");
    tr.exit_signal(&b6, atom("kill"));
    assert_eq!(
        rig.erl
            .eval_ok("receive {'DOWN', M6, process, B6, R6} -> R6 after 10000 -> timeout end"),
        "killed"
    );
}

#[test]
fn unlink_uses_unlink_id_both_ways_and_a_later_exit_does_not_kill() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    // BEAM unlinks, then exits: the (non-trapping) mailbox lives on.
    let mut u = rig.node.mailbox();
    rig.give("U", Term::Pid(u.pid().clone()));
    rig.erl.eval_ok(
        "B7 = spawn(fun() -> receive {unlink_and_die, P} -> unlink(P), exit(bye) end end), M7 = monitor(process, B7)",
    );
    let b7 = rig.take_pid("B7");
    u.link(&b7);
    rig.erl_until(
        "erl to see the link",
        "lists:member(U, element(2, process_info(B7, links)))",
    );
    rig.erl.eval_ok("B7 ! {unlink_and_die, U}");
    assert_eq!(
        rig.erl
            .eval_ok("receive {'DOWN', M7, process, B7, R7} -> R7 after 10000 -> timeout end"),
        "bye"
    );
    rig.erl.eval_ok("U ! still_alive");
    assert_eq!(rig.recv(&mut u), atom("still_alive"));

    // Rust unlinks (UNLINK_ID, acknowledged), then the BEAM process exits.
    rig.erl.eval_ok(
        "B8 = spawn(fun() -> receive {die, R} -> exit(R) end end), M8 = monitor(process, B8)",
    );
    let b8 = rig.take_pid("B8");
    u.link(&b8);
    rig.erl_until(
        "erl to see the link",
        "lists:member(U, element(2, process_info(B8, links)))",
    );
    u.unlink(&b8);
    rig.erl_until(
        "erl to drop the link",
        "not lists:member(U, element(2, process_info(B8, links)))",
    );
    // Linking again after the acknowledged unlink works.
    let mut u2 = rig.node.mailbox();
    u2.trap_exit(true);
    u2.link(&b8);
    rig.give("U2", Term::Pid(u2.pid().clone()));
    rig.erl_until(
        "erl to see the new link",
        "lists:member(U2, element(2, process_info(B8, links)))",
    );
    rig.erl.eval_ok("B8 ! {die, after_unlink}");
    assert_eq!(
        rig.erl
            .eval_ok("receive {'DOWN', M8, process, B8, R8} -> R8 after 10000 -> timeout end"),
        "after_unlink"
    );
    assert_eq!(rig.recv(&mut u2), exit_msg(&b8, atom("after_unlink")));
    rig.erl.eval_ok("U ! still_alive_2");
    assert_eq!(rig.recv(&mut u), atom("still_alive_2"));
}

#[test]
fn exit2_from_rust_is_trapped_or_kills_on_the_beam() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let mb = rig.node.mailbox();
    rig.give("X", Term::Pid(mb.pid().clone()));
    rig.erl.eval_ok(
        "B9 = erlnode_procs:reporter(Self), B10 = spawn(fun() -> receive never -> ok end end), M10 = monitor(process, B10)",
    );
    let (b9, b10) = (rig.take_pid("B9"), rig.take_pid("B10"));
    mb.exit_signal(&b9, t("{custom, #{n => 1}}"));
    assert_eq!(
        rig.erl.eval_ok("case erlnode_procs:wait_for(fun({report, P, {'EXIT', F, _}}) -> P =:= B9 andalso F =:= X; (_) -> false end, 10000) of {report, _, {'EXIT', _, R9}} -> R9; Other9 -> Other9 end"),
        "{custom,#{n => 1}}"
    );
    // `normal` does not kill a non-trapping process; another reason does.
    mb.exit_signal(&b10, atom("normal"));
    mb.exit_signal(&b10, t("{custom, 2}"));
    assert_eq!(
        rig.erl
            .eval_ok("receive {'DOWN', M10, process, B10, R10} -> R10 after 10000 -> timeout end"),
        "{custom,2}"
    );
}

// ---------------------------------------------------------------- monitors

#[test]
fn rust_monitors_beam_processes_by_pid_and_name_with_demonitor_and_noproc() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let mut mon = rig.node.mailbox();
    rig.give("MON", Term::Pid(mon.pid().clone()));
    rig.erl.eval_ok(
        "B11 = erlnode_procs:reporter(Self), B12 = erlnode_procs:reporter(Self), register(mon_target, B12), B13 = erlnode_procs:reporter(Self), Dead = spawn(fun() -> ok end)",
    );
    let (b11, b13, dead) = (
        rig.take_pid("B11"),
        rig.take_pid("B13"),
        rig.take_pid("Dead"),
    );
    let erl_node = rig.erl.node.clone();
    let r1 = mon.monitor(&b11);
    let r2 = mon.monitor(("mon_target", erl_node.as_str()));
    let r3 = mon.monitor(&b13);
    // A round trip so that the monitors are in place.
    rig.erl_until(
        "erl to see the monitors",
        "length(element(2, process_info(B11, monitored_by))) =:= 1 andalso length(element(2, process_info(B12, monitored_by))) =:= 1",
    );
    mon.demonitor(&r3);
    rig.erl_until(
        "erl to drop the demonitored monitor",
        "element(2, process_info(B13, monitored_by)) =:= []",
    );
    rig.erl
        .eval_ok("B11 ! {exit, {bye, [1, 2]}}, B12 ! {exit, gone}, B13 ! {exit, x}");
    let name_obj = Term::tuple(vec![
        atom("mon_target"),
        Term::Atom(erl_node.as_str().into()),
    ]);
    let mut downs = vec![rig.recv(&mut mon), rig.recv(&mut mon)];
    downs.sort_by_key(|d| d.as_tuple().unwrap()[1] != Term::from(r1.clone()));
    assert_eq!(
        downs,
        vec![
            Term::tuple(vec![
                atom("DOWN"),
                Term::from(r1),
                atom("process"),
                Term::Pid(b11),
                t("{bye, [1, 2]}")
            ]),
            Term::tuple(vec![
                atom("DOWN"),
                Term::from(r2),
                atom("process"),
                name_obj,
                atom("gone")
            ]),
        ]
    );
    // No DOWN for the demonitored one: a marker sent after its death comes first.
    rig.erl.eval_ok(
        "M13 = monitor(process, B13), receive {'DOWN', M13, _, _, _} -> ok after 10000 -> timeout end, MON ! marker13",
    );
    assert_eq!(
        rig.drain_until(&mut mon, &atom("marker13")),
        Vec::<Term>::new()
    );

    // noproc for a dead pid and for an unregistered name.
    let r4 = mon.monitor(&dead);
    assert_eq!(
        rig.recv(&mut mon),
        Term::tuple(vec![
            atom("DOWN"),
            Term::from(r4),
            atom("process"),
            Term::Pid(dead),
            atom("noproc")
        ])
    );
    let r5 = mon.monitor(("no_such_name", erl_node.as_str()));
    assert_eq!(
        rig.recv(&mut mon),
        Term::tuple(vec![
            atom("DOWN"),
            Term::from(r5),
            atom("process"),
            Term::tuple(vec![
                atom("no_such_name"),
                Term::Atom(erl_node.as_str().into())
            ]),
            atom("noproc")
        ])
    );
}

#[test]
fn beam_monitors_rust_mailboxes_by_pid_and_name_with_demonitor_and_noproc() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let w1 = rig.node.mailbox();
    let w2 = rig.node.register_mailbox("rname").unwrap();
    let w3 = rig.node.mailbox();
    let gone_pid = rig.node.mailbox().pid().clone(); // dropped at once: exited
    rig.give("W1", Term::Pid(w1.pid().clone()));
    rig.give("W3", Term::Pid(w3.pid().clone()));
    rig.give("GonePid", Term::Pid(gone_pid));
    // The `took` message leaves after the monitors (and the demonitor), so
    // once it is here they are in place on our side.
    rig.take("MW1 = monitor(process, W1), MW2 = monitor(process, {rname, RN}), MW3 = monitor(process, W3), demonitor(MW3, [flush])");
    w1.exit(t("{gone, #{k => <<\"v\">>}}"));
    w2.exit(t("{shutdown, named}"));
    w3.exit(atom("quiet"));
    assert_eq!(
        rig.erl
            .eval_ok("receive {'DOWN', MW1, process, W1, RW1} -> RW1 after 10000 -> timeout end"),
        "{gone,#{k => <<\"v\">>}}"
    );
    assert_eq!(
        rig.erl.eval_ok(
            "receive {'DOWN', MW2, process, {rname, RN}, RW2} -> RW2 after 10000 -> timeout end"
        ),
        "{shutdown,named}"
    );
    // Demonitored: a marker sent after W3's exit arrives with no DOWN before it.
    {
        rig.pids.send(
            ("erlnode_ctl_eval", rig.erl.node.as_str()),
            atom("marker_w3"),
        );
    }
    assert_eq!(
        rig.erl.eval_ok(
            "[M || M = {'DOWN', _, _, _, _} <- erlnode_procs:drain_until(marker_w3, 10000)]"
        ),
        "[]"
    );
    // noproc for a dead Rust pid and an unregistered name.
    assert_eq!(
        rig.erl.eval_ok("MG = monitor(process, GonePid), receive {'DOWN', MG, process, GonePid, RG} -> RG after 10000 -> timeout end"),
        "noproc"
    );
    assert_eq!(
        rig.erl.eval_ok("MN = monitor(process, {nobody_here, RN}), receive {'DOWN', MN, process, {nobody_here, RN}, RNo} -> RNo after 10000 -> timeout end"),
        "noproc"
    );
}

// ---------------------------------------------------------------- aliases

#[test]
fn aliases_both_ways_and_unalias_drops_messages() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let mut mb = rig.node.mailbox();
    let a = mb.alias();
    rig.give("A", Term::from(a.clone()));
    rig.give("P", Term::Pid(mb.pid().clone()));
    rig.erl.eval_ok("A ! {via_alias, 1}");
    assert_eq!(rig.recv(&mut mb), t("{via_alias, 1}"));
    assert!(mb.unalias(&a));
    rig.erl.eval_ok("A ! {via_alias, 2}, P ! after_unalias");
    assert_eq!(
        rig.drain_until(&mut mb, &atom("after_unalias")),
        Vec::<Term>::new()
    );

    // Rust sends to a BEAM alias; after unalias the BEAM drops it.
    let beam_alias = match rig.take("BA = alias()") {
        Term::Ref(ref r) => (**r).clone(),
        other => panic!("not a reference: {other}"),
    };
    mb.send(beam_alias.clone(), t("{to_beam_alias, 1}"));
    assert_eq!(
        rig.erl
            .eval_ok("receive {to_beam_alias, N1} -> N1 after 10000 -> timeout end"),
        "1"
    );
    rig.erl.eval_ok("unalias(BA)");
    mb.send(beam_alias, t("{to_beam_alias, 2}"));
    mb.send(
        ("erlnode_ctl_eval", rig.erl.node.as_str()),
        atom("marker_alias"),
    );
    assert_eq!(
        rig.erl
            .eval_ok("erlnode_procs:drain_until(marker_alias, 10000)"),
        "[]"
    );
}

// ---------------------------------------------------------------- connection loss

/// Waits for the next `Up` event for `peer`.
fn next_up(rt: &Runtime, events: &mut tokio::sync::broadcast::Receiver<NodeEvent>, peer: &str) {
    rt.block_on(async {
        let end = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(end, events.recv()).await {
                Ok(Ok(NodeEvent::Up { node })) if node.as_str() == peer => return,
                Ok(Ok(_)) => continue,
                other => panic!("no nodeup for {peer} within {WAIT:?}: {other:?}"),
            }
        }
    })
}

/// Sends `marker` to each mailbox from a local process (local delivery is
/// immediate, so it lands after everything already queued) and returns
/// what each got before it.
fn drain_each(rig: &Rig, boxes: &mut [&mut Mailbox], marker: &str) -> Vec<Vec<Term>> {
    let sender = rig.node.mailbox();
    boxes
        .iter_mut()
        .map(|mb| {
            sender.send(mb.pid(), atom(marker));
            rig.drain_until(mb, &atom(marker))
        })
        .collect()
}

fn is_exit(m: &Term, from: &erlnode::Pid, reason: &str) -> bool {
    *m == exit_msg(from, atom(reason))
}

fn is_down(m: &Term, reference: &erlnode::Reference, reason: &str) -> bool {
    matches!(m.as_tuple(), Some([tag, Term::Ref(r), _, _, why]) if tag.is_atom("DOWN") && **r == *reference && why.is_atom(reason))
}

#[test]
fn disconnect_node_fires_every_link_and_monitor_exactly_once_on_both_sides() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let mut events = rig.node.monitor_nodes();
    let erl_node = rig.erl.node.clone();
    // Rust side: TL links to B20 and B21, MR monitors B22 by pid and `watched`
    // by name; X1 (trapping) is linked from the BEAM side, X2 monitored by pid
    // and by name from the BEAM side.
    let mut tl = rig.node.mailbox();
    tl.trap_exit(true);
    let mut mr = rig.node.mailbox();
    let mut x1 = rig.node.mailbox();
    x1.trap_exit(true);
    let x2 = rig.node.register_mailbox("xname").unwrap();
    rig.give("X1", Term::Pid(x1.pid().clone()));
    rig.give("X2", Term::Pid(x2.pid().clone()));
    rig.erl.eval_ok(
        "B20 = erlnode_procs:reporter(Self), B21 = erlnode_procs:reporter(Self), B22 = erlnode_procs:reporter(Self), register(watched, erlnode_procs:reporter(Self)), R1 = erlnode_procs:reporter(Self), R2 = erlnode_procs:reporter(Self)",
    );
    let (b20, b21, b22) = (
        rig.take_pid("B20"),
        rig.take_pid("B21"),
        rig.take_pid("B22"),
    );
    tl.link(&b20);
    tl.link(&b21);
    let m1 = mr.monitor(&b22);
    let m2 = mr.monitor(("watched", erl_node.as_str()));
    rig.erl.eval_ok("R1 ! {run, fun() -> link(X1) end}, R2 ! {run, fun() -> {monitor(process, X2), monitor(process, {xname, RN})} end}, {ran, R1, true} = receive {ran, R1, _} = Ran1 -> Ran1 end, {ran, R2, {RM1, RM2}} = receive {ran, R2, _} = Ran2 -> Ran2 end, ok");
    rig.erl_until(
        "erl to see every link and monitor",
        "lists:member(X1, element(2, process_info(R1, links))) andalso length(element(2, process_info(B20, links))) =:= 1 andalso length(element(2, process_info(B21, links))) =:= 1 andalso length(element(2, process_info(B22, monitored_by))) =:= 1 andalso length(element(2, process_info(whereis(watched), monitored_by))) =:= 1",
    );
    // The BEAM-side monitors are in place on our side once this arrives
    // (it left R2's node after them).
    rig.take("ok");

    rig.erl.eval_ok("true = erlang:disconnect_node(RN)");
    assert_eq!(
        next_down(&rig.rt, &mut events, &erl_node, WAIT),
        DownReason::ConnectionClosed
    );
    let got = drain_each(&rig, &mut [&mut tl, &mut mr, &mut x1], "marker");
    let (tl_got, mr_got, x1_got) = (&got[0], &got[1], &got[2]);
    assert_eq!(tl_got.len(), 2, "TL: {tl_got:?}");
    assert!(
        tl_got.iter().any(|m| is_exit(m, &b20, "noconnection")),
        "{tl_got:?}"
    );
    assert!(
        tl_got.iter().any(|m| is_exit(m, &b21, "noconnection")),
        "{tl_got:?}"
    );
    assert_eq!(mr_got.len(), 2, "MR: {mr_got:?}");
    assert!(
        mr_got.iter().any(|m| is_down(m, &m1, "noconnection")),
        "{mr_got:?}"
    );
    assert!(
        mr_got.iter().any(|m| is_down(m, &m2, "noconnection")),
        "{mr_got:?}"
    );
    assert_eq!(x1_got.len(), 1, "X1: {x1_got:?}");
    assert!(
        matches!(x1_got[0].as_tuple(), Some([e, Term::Pid(_), r]) if e.is_atom("EXIT") && r.is_atom("noconnection"))
    );

    // BEAM side: a marker sent over a new connection, after the old one is
    // gone, arrives after every signal the disconnect made.
    rig.pids
        .send(("erlnode_ctl_eval", erl_node.as_str()), atom("marker"));
    let beam = rig.erl.eval_ok(
        "BeamGot = erlnode_procs:drain_until(marker, 10000), {length(BeamGot), \
         erlnode_procs:count(fun(M) -> M =:= {report, R1, {'EXIT', X1, noconnection}} end, BeamGot), \
         erlnode_procs:count(fun({report, P, {'EXIT', _, noconnection}}) -> P =:= B20 orelse P =:= B21; (_) -> false end, BeamGot), \
         erlnode_procs:count(fun({report, P, {'DOWN', Ref, process, _, noconnection}}) -> P =:= R2 andalso (Ref =:= RM1 orelse Ref =:= RM2); (_) -> false end, BeamGot)}",
    );
    assert_eq!(
        beam,
        "{5,1,2,2}",
        "BEAM side: {}",
        rig.erl.eval_ok("BeamGot")
    );
}

#[test]
fn killing_either_node_fires_every_link_and_monitor_exactly_once() {
    // erl killed: the Rust side.
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let mut events = rig.node.monitor_nodes();
    let erl_node = rig.erl.node.clone();
    let mut tl = rig.node.mailbox();
    tl.trap_exit(true);
    let mut mr = rig.node.mailbox();
    rig.erl.eval_ok(
        "B30 = erlnode_procs:reporter(Self), B31 = erlnode_procs:reporter(Self), register(watched, erlnode_procs:reporter(Self))",
    );
    let (b30, b31) = (rig.take_pid("B30"), rig.take_pid("B31"));
    tl.link(&b30);
    let m1 = mr.monitor(&b31);
    let m2 = mr.monitor(("watched", erl_node.as_str()));
    rig.erl_until(
        "erl to see the link and monitors",
        "length(element(2, process_info(B30, links))) =:= 1 andalso length(element(2, process_info(B31, monitored_by))) =:= 1 andalso length(element(2, process_info(whereis(watched), monitored_by))) =:= 1",
    );
    signal_pid(rig.erl.pid(), "KILL");
    assert_eq!(
        next_down(&rig.rt, &mut events, &erl_node, WAIT),
        DownReason::ConnectionClosed
    );
    let got = drain_each(&rig, &mut [&mut tl, &mut mr], "marker");
    assert_eq!(got[0], vec![exit_msg(&b30, atom("noconnection"))]);
    assert_eq!(got[1].len(), 2, "{:?}", got[1]);
    assert!(got[1].iter().any(|m| is_down(m, &m1, "noconnection")));
    assert!(got[1].iter().any(|m| is_down(m, &m2, "noconnection")));

    // erlnode serve killed: the BEAM side. Its processes are spawned there
    // with spawn_link and spawn_monitor, and one is monitored by name.
    let s = Serve::start(
        &["--sname", &unique("rk"), "--cookie", &rig.cookie],
        rig.epmd.port,
    );
    let mut erl = Erl::start(ErlOpts::new("e2", &rig.cookie, rig.epmd.port));
    erl.eval_ok(&format!("SN = '{}', Self = self()", s.node));
    erl.eval_ok("R = erlnode_procs:reporter(Self), R ! {run, fun() -> {spawn_link(SN, erlnode, echo, []), spawn_link(SN, erlnode, echo, []), spawn_monitor(SN, erlnode, echo, []), monitor(process, {echo, SN})} end}, {ran, R, {P1, P2, {P3, M3}, M4}} = receive {ran, R, _} = Ran -> Ran end, ok");
    assert_eq!(
        erl.eval_ok("P1 ! {self(), sync}, receive sync -> ok after 10000 -> timeout end"),
        "ok"
    );
    signal_pid(s.pid(), "KILL");
    let beam = erl.eval_ok(
        "Got = erlnode_procs:collect_n(4, 10000), R ! marker_r, \
         Extra = erlnode_procs:drain_until({report, R, marker_r}, 10000), \
         {length(Got), \
          erlnode_procs:count(fun({report, R0, {'EXIT', P, noconnection}}) -> R0 =:= R andalso (P =:= P1 orelse P =:= P2); (_) -> false end, Got), \
          erlnode_procs:count(fun({report, R0, {'DOWN', M, process, _, noconnection}}) -> R0 =:= R andalso (M =:= M3 orelse M =:= M4); (_) -> false end, Got), \
          Extra}",
    );
    assert_eq!(beam, "{4,2,2,[]}", "{}", erl.eval_ok("Got"));
}

// ---------------------------------------------------------------- node monitoring

#[test]
fn node_monitoring_on_both_sides_with_reasons() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let erl_node = rig.erl.node.clone();
    let mut events = rig.node.monitor_nodes();
    // erl subscribes before any connection exists.
    rig.erl
        .eval_ok("ok = net_kernel:monitor_nodes(true, [{node_type, hidden}, nodedown_reason])");
    assert!(rig.rt.block_on(rig.node.connect(&erl_node)));
    next_up(&rig.rt, &mut events, &erl_node);
    assert_eq!(
        rig.erl
            .eval_ok("receive {nodeup, RN, Info1} -> Info1 after 10000 -> timeout end"),
        "[{node_type,hidden}]"
    );
    rig.erl.eval_ok("true = monitor_node(RN, true)");
    // A Rust mailbox's monitor_node.
    let mut nm = rig.node.mailbox();
    rig.rt.block_on(nm.monitor_node(&erl_node)).unwrap();

    // We disconnect: `disconnect` here, the socket close there.
    assert!(rig.node.disconnect(&erl_node));
    assert_eq!(
        next_down(&rig.rt, &mut events, &erl_node, WAIT),
        DownReason::Disconnect
    );
    assert_eq!(
        rig.recv(&mut nm),
        Term::tuple(vec![atom("nodedown"), Term::Atom(erl_node.as_str().into())])
    );
    assert_eq!(
        rig.erl.eval_ok("{receive {nodedown, RN} -> nodedown after 10000 -> timeout end, receive {nodedown, RN, Info2} -> Info2 after 10000 -> timeout end}"),
        "{nodedown,[{nodedown_reason,connection_closed},{node_type,hidden}]}"
    );

    // erl disconnects: the socket close here; `disconnect` there.
    assert_eq!(rig.erl.eval_ok("net_kernel:connect_node(RN)"), "true");
    next_up(&rig.rt, &mut events, &erl_node);
    rig.rt.block_on(nm.monitor_node(&erl_node)).unwrap();
    rig.erl
        .eval_ok("receive {nodeup, RN, _} -> ok after 10000 -> timeout end");
    rig.erl.eval_ok("true = erlang:disconnect_node(RN)");
    assert_eq!(
        next_down(&rig.rt, &mut events, &erl_node, WAIT),
        DownReason::ConnectionClosed
    );
    assert_eq!(
        rig.recv(&mut nm),
        Term::tuple(vec![atom("nodedown"), Term::Atom(erl_node.as_str().into())])
    );
    assert_eq!(
        rig.erl
            .eval_ok("receive {nodedown, RN, Info3} -> Info3 after 10000 -> timeout end"),
        "[{nodedown_reason,disconnect},{node_type,hidden}]"
    );
    // Exactly one nodedown per subscription: nothing more before a marker.
    assert_eq!(
        drain_each(&rig, &mut [&mut nm], "marker"),
        vec![Vec::<Term>::new()]
    );
}

/// `disconnect` then an immediate send: as after `erlang:disconnect_node/1`,
/// the send sets up a new connection; it must not go to the one being
/// closed (which the sending mailbox has cached) and be lost.
#[test]
fn a_send_right_after_disconnect_goes_out_on_a_new_connection() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let erl_node = rig.erl.node.clone();
    rig.erl.eval_ok(
        "register(echo_back, spawn(fun Loop() -> receive {From, M} -> From ! {back, M}, Loop() end end))",
    );
    let mut mb = rig.node.mailbox();
    let dest = ("echo_back", erl_node.as_str());
    let ask = |mb: &Mailbox, i: i64| {
        mb.send(
            dest,
            Term::tuple(vec![Term::Pid(mb.pid().clone()), Term::Int(i)]),
        );
    };
    // The first send connects, and the mailbox caches the connection.
    ask(&mb, 0);
    assert_eq!(
        rig.recv(&mut mb),
        Term::tuple(vec![atom("back"), Term::Int(0)])
    );
    for i in 1..=20 {
        assert!(rig.node.disconnect(&erl_node));
        ask(&mb, i);
        assert_eq!(
            rig.recv(&mut mb),
            Term::tuple(vec![atom("back"), Term::Int(i)])
        );
    }
}

/// The peer drops and remakes its connection 30 times in a row: every
/// nodedown comes before the next nodeup, even when our side has not yet
/// closed the old connection as the new handshake arrives.
#[test]
fn reconnects_give_nodedown_before_the_next_nodeup() {
    let mut rig = Rig::start();
    let erl_node = rig.erl.node.clone();
    let mut events = rig.node.monitor_nodes();
    assert_eq!(rig.erl.eval_ok("net_kernel:connect_node(RN)"), "true");
    next_up(&rig.rt, &mut events, &erl_node);
    assert_eq!(
        rig.erl.eval_ok(
            "lists:all(fun(_) -> erlang:disconnect_node(RN), net_kernel:connect_node(RN) end, lists:seq(1, 30))"
        ),
        "true"
    );
    let mut seen = Vec::new();
    rig.rt.block_on(async {
        while seen.len() < 60 {
            match tokio::time::timeout(WAIT, events.recv()).await {
                Ok(Ok(NodeEvent::Up { node })) if node.as_str() == erl_node => seen.push("up"),
                Ok(Ok(NodeEvent::Down { node, .. })) if node.as_str() == erl_node => {
                    seen.push("down")
                }
                Ok(Ok(_)) => {}
                other => panic!("after {seen:?}: {other:?}"),
            }
        }
    });
    let expected: Vec<&str> = ["down", "up"].repeat(30);
    assert_eq!(seen, expected);
}

// ---------------------------------------------------------------- serving rpc

/// Functions for BEAM callers: values, each exception class, a panic, a
/// sleep, and a side effect.
fn register_test_fns(node: &Node) {
    node.register_fn("t", "echo", 1, |c| async move {
        Ok(c.args.into_iter().next().unwrap_or_default())
    });
    node.register_fn("t", "throw", 1, |c| async move {
        Err(Exception::throw(
            c.args.into_iter().next().unwrap_or_default(),
        ))
    });
    node.register_fn("t", "exit", 1, |c| async move {
        Err(Exception::exit(
            c.args.into_iter().next().unwrap_or_default(),
        ))
    });
    node.register_fn("t", "error", 1, |c| async move {
        Err(Exception::error(
            c.args.into_iter().next().unwrap_or_default(),
        ))
    });
    node.register_fn("t", "panic", 0, |_| async move {
        if std::env::var_os("ERLNODE_NEVER_SET_THIS").is_none() {
            panic!("handler blew up");
        }
        Ok(Term::atom("unreachable"))
    });
    // Panics after waiting: the call is no longer on the task that got the
    // request when it panics.
    node.register_fn("t", "panic_later", 0, |_| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        if std::env::var_os("ERLNODE_NEVER_SET_THIS").is_none() {
            panic!("handler blew up later");
        }
        Ok(Term::atom("unreachable"))
    });
    node.register_fn("t", "sleep", 1, |c| async move {
        let ms = c.args.first().and_then(Term::as_i64).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
        Ok(Term::atom("ok"))
    });
    // t:notify(Pid, X): sends {notified, X} to Pid.
    node.register_fn("t", "notify", 2, |c| async move {
        match c.args.as_slice() {
            [Term::Pid(p), x] => {
                c.node
                    .send(p, Term::tuple(vec![Term::atom("notified"), x.clone()]));
                Ok(Term::atom("ok"))
            }
            _ => Err(Exception::error(Term::atom("badarg"))),
        }
    });
}

#[test]
fn beam_calls_rust_functions_with_rpc_and_erpc() {
    let mut rig = Rig::start();
    register_test_fns(&rig.node);
    let e = &mut rig.erl;
    assert_eq!(
        e.eval_ok("rpc:call(RN, t, echo, [{a, <<\"b\">>, [1.5, #{k => v}]}])"),
        "{a,<<\"b\">>,[1.5,#{k => v}]}"
    );
    assert_eq!(e.eval_ok("erpc:call(RN, t, echo, [x])"), "x");
    // PROTOCOL.md §6b: each outcome as rpc:call and erpc:call see it.
    assert_eq!(e.eval_ok("rpc:call(RN, t, throw, [ball])"), "ball");
    assert_eq!(
        e.eval_ok("try erpc:call(RN, t, throw, [ball]) catch C1:R1 -> {C1, R1} end"),
        "{throw,ball}"
    );
    assert_eq!(
        e.eval_ok("rpc:call(RN, t, exit, [{bye, 1}])"),
        "{badrpc,{'EXIT',{bye,1}}}"
    );
    assert_eq!(
        e.eval_ok("try erpc:call(RN, t, exit, [{bye, 1}]) catch C2:R2 -> {C2, R2} end"),
        "{exit,{exception,{bye,1}}}"
    );
    assert_eq!(
        e.eval_ok("rpc:call(RN, t, error, [oops])"),
        "{badrpc,{'EXIT',{oops,[{t,error,1,[]}]}}}"
    );
    assert_eq!(
        e.eval_ok("try erpc:call(RN, t, error, [oops]) catch C3:R3 -> {C3, R3} end"),
        "{error,{exception,oops,[{t,error,1,[]}]}}"
    );
    // Unknown function: exactly what a BEAM answers.
    assert_eq!(
        e.eval_ok("rpc:call(RN, nomod, nofun, [1])"),
        "{badrpc,{'EXIT',{undef,[{nomod,nofun,[1],[]}]}}}"
    );
    assert_eq!(
        e.eval_ok("rpc:call(RN, nomod, nofun, [1]) =:= rpc:call(node(), nomod, nofun, [1])"),
        "true"
    );
    assert_eq!(
        e.eval_ok("try erpc:call(RN, nomod, nofun, [1]) catch C4:R4 -> {C4, R4} end =:= try erpc:call(node(), nomod, nofun, [1]) catch C5:R5 -> {C5, R5} end"),
        "true"
    );
    // A panicking handler: an error result, and the node serves the next call.
    assert_eq!(
        e.eval_ok("case rpc:call(RN, t, panic, []) of {badrpc, {'EXIT', {{rust_panic, Txt}, [{t, panic, 0, []}]}}} -> binary:match(Txt, <<\"handler blew up\">>) =/= nomatch; Other -> Other end"),
        "true"
    );
    assert_eq!(
        e.eval_ok("rpc:call(RN, t, echo, [after_panic])"),
        "after_panic"
    );
    assert_eq!(
        e.eval_ok("case rpc:call(RN, t, panic_later, []) of {badrpc, {'EXIT', {{rust_panic, Txt2}, [{t, panic_later, 0, []}]}}} -> binary:match(Txt2, <<\"blew up later\">>) =/= nomatch; Other2 -> Other2 end"),
        "true"
    );
    // A function that waits before answering.
    assert_eq!(e.eval_ok("rpc:call(RN, t, sleep, [5])"), "ok");
    // Casts: the side effect is observable.
    assert_eq!(e.eval_ok("rpc:cast(RN, t, notify, [self(), c1])"), "true");
    assert_eq!(
        e.eval_ok("receive {notified, c1} -> ok after 10000 -> timeout end"),
        "ok"
    );
    assert_eq!(e.eval_ok("erpc:cast(RN, t, notify, [self(), c2])"), "ok");
    assert_eq!(
        e.eval_ok("receive {notified, c2} -> ok after 10000 -> timeout end"),
        "ok"
    );
    // Many nodes at once, and asynchronous calls.
    let bad = format!("nobody@{}", short_host());
    assert_eq!(
        e.eval_ok(&format!("rpc:multicall([RN, '{bad}'], t, echo, [m])")),
        format!("{{[m],[{bad}]}}")
    );
    assert_eq!(
        e.eval_ok("erpc:multicall([RN, RN], t, echo, [m2])"),
        "[{ok,m2},{ok,m2}]"
    );
    assert_eq!(
        e.eval_ok("K = rpc:async_call(RN, t, echo, [later]), rpc:yield(K)"),
        "later"
    );
    assert_eq!(
        e.eval_ok("RI = erpc:send_request(RN, t, echo, [req]), erpc:receive_response(RI, 10000)"),
        "req"
    );

    // A caller that gives up leaves nothing behind here.
    let baseline = rig.node.process_count();
    assert_eq!(
        rig.erl.eval_ok("rpc:call(RN, t, sleep, [1000], 100)"),
        "{badrpc,timeout}"
    );
    let node = rig.node.clone();
    wait_until(
        "the abandoned call's process to go",
        Duration::from_secs(5),
        || node.process_count() == baseline,
    );
    assert_eq!(
        rig.erl.eval_ok("rpc:call(RN, t, echo, [still_here])"),
        "still_here"
    );
}

#[test]
fn rex_c_node_and_gen_server_forms_and_erl_call() {
    let mut rig = Rig::start();
    register_test_fns(&rig.node);
    rig.node.register_fn("erlnode", "echo", 1, |c| async move {
        Ok(c.args.into_iter().next().unwrap_or_default())
    });
    let e = &mut rig.erl;
    assert_eq!(
        e.eval_ok("{rex, RN} ! {self(), {call, t, echo, [cnode], user}}, receive {rex, RexR} -> RexR after 10000 -> timeout end"),
        "cnode"
    );
    assert_eq!(
        e.eval_ok("{rex, RN} ! {self(), {call, t, error, [bad], user}}, receive {rex, RexE} -> RexE after 10000 -> timeout end"),
        "{badrpc,{'EXIT',{bad,[{t,error,1,[]}]}}}"
    );
    assert_eq!(
        e.eval_ok("gen_server:call({rex, RN}, {call, t, echo, [gs], group_leader()})"),
        "gs"
    );
    assert_eq!(e.eval_ok("rpc:block_call(RN, t, echo, [blk])"), "blk");
    // Functions that wait, or panic after waiting, through rex.
    assert_eq!(
        e.eval_ok("gen_server:call({rex, RN}, {call, t, sleep, [5], group_leader()})"),
        "ok"
    );
    assert_eq!(
        e.eval_ok("{rex, RN} ! {self(), {call, t, sleep, [5], user}}, receive {rex, RexS} -> RexS after 10000 -> timeout end"),
        "ok"
    );
    assert_eq!(
        e.eval_ok("case gen_server:call({rex, RN}, {call, t, panic_later, [], group_leader()}) of {badrpc, {'EXIT', {{rust_panic, _}, [{t, panic_later, 0, []}]}}} -> true; Other3 -> Other3 end"),
        "true"
    );
    assert_eq!(
        e.eval_ok("rpc:block_call(RN, t, exit, [why])"),
        "{badrpc,{'EXIT',why}}"
    );

    // OTP's own C client.
    let alive = rig
        .node
        .name()
        .as_str()
        .split('@')
        .next()
        .unwrap()
        .to_string();
    let out = std::process::Command::new("timeout")
        .args([
            "60",
            "erl_call",
            "-sname",
            &alive,
            "-c",
            &rig.cookie,
            "-a",
            "erlnode echo [hello]",
        ])
        .env("ERL_EPMD_PORT", rig.epmd.port.to_string())
        .output()
        .expect("run erl_call");
    assert!(
        out.status.success(),
        "erl_call failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
}

// ---------------------------------------------------------------- spawn from the BEAM, the demo node

#[test]
fn serve_demo_functions_and_spawn_from_the_beam() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = Serve::start(&["--sname", &unique("rd"), "--cookie", &cookie], epmd.port);
    let mut e = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    e.eval_ok(&format!("SN = '{}', Self = self()", s.node));
    // The demo functions.
    assert_eq!(
        e.eval_ok("rpc:call(SN, erlnode, echo, [{x, \"y\"}])"),
        "{x,\"y\"}"
    );
    assert_eq!(
        e.eval_ok("rpc:call(SN, erlnode, sum, [[1, 1 bsl 100, -5]]) =:= 1 + (1 bsl 100) - 5"),
        "true"
    );
    assert_eq!(e.eval_ok("rpc:call(SN, erlnode, sleep, [10])"), "ok");
    assert_eq!(
        e.eval_ok("rpc:call(SN, erlnode, fail, [why])"),
        "{badrpc,{'EXIT',{why,[{erlnode,fail,1,[]}]}}}"
    );
    assert_eq!(e.eval_ok("rpc:call(SN, erlang, node, []) =:= SN"), "true");

    // spawn: a working echo loop.
    assert_eq!(
        e.eval_ok("P0 = spawn(SN, erlnode, echo, []), P0 ! {self(), hi}, receive hi -> node(P0) =:= SN after 10000 -> timeout end"),
        "true"
    );
    // spawn_link: the exit reason reaches the linked BEAM process in full;
    // a kill reaches it as `killed`.
    e.eval_ok("R = erlnode_procs:reporter(Self)");
    assert_eq!(
        e.eval_ok("R ! {run, fun() -> spawn_link(SN, erlnode, echo, []) end}, {ran, R, P1} = receive {ran, R, _} = Ran1 -> Ran1 end, P1 ! {exit, {bye, #{x => 1}}}, receive {report, R, {'EXIT', P1, Why1}} -> Why1 after 10000 -> timeout end"),
        "{bye,#{x => 1}}"
    );
    assert_eq!(
        e.eval_ok("R ! {run, fun() -> spawn_link(SN, erlnode, echo, []) end}, {ran, R, P2} = receive {ran, R, _} = Ran2 -> Ran2 end, exit(P2, kill), receive {report, R, {'EXIT', P2, Why2}} -> Why2 after 10000 -> timeout end"),
        "killed"
    );
    // spawn_monitor: DOWN with the exit reason.
    assert_eq!(
        e.eval_ok("{P3, M3} = spawn_monitor(SN, erlnode, echo, []), P3 ! stop, receive {'DOWN', M3, process, P3, Why3} -> Why3 after 10000 -> timeout end"),
        "normal"
    );
    // spawn_opt with link and monitor: both fire.
    assert_eq!(
        e.eval_ok("R ! {run, fun() -> spawn_opt(SN, erlnode, echo, [], [link, monitor, {priority, high}]) end}, {ran, R, {P4, M4}} = receive {ran, R, _} = Ran4 -> Ran4 end, P4 ! {exit, done4}, {receive {report, R, {'EXIT', P4, W4a}} -> W4a after 10000 -> timeout end, receive {report, R, {'DOWN', M4, process, P4, W4b}} -> W4b after 10000 -> timeout end}"),
        "{done4,done4}"
    );
    // An unknown function: the process exits as a BEAM's would.
    assert_eq!(
        e.eval_ok("{P5, M5} = spawn_monitor(SN, nomod, nofun, [1]), receive {'DOWN', M5, process, P5, Why5} -> Why5 after 10000 -> timeout end"),
        "{undef,[{nomod,nofun,[1],[]}]}"
    );
    assert_eq!(
        e.eval_ok("{P6, M6} = spawn_monitor(nomod, nofun, [1]), receive {'DOWN', M6, process, P6, Why6} -> Why6 after 10000 -> timeout end"),
        "{undef,[{nomod,nofun,[1],[]}]}"
    );
}

// ---------------------------------------------------------------- group leader

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn beam_code_with_an_erlnode_group_leader_prints_to_erlnode_log_without_hanging() {
    let log = LogBuf::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .try_init()
        .ok();
    let rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let erl_node = rig.erl.node.clone();
    // rpc: the erpc process on the BEAM has our io server as group leader.
    let r = rig.rt.block_on(rig.node.rpc(
        &erl_node,
        "io",
        "format",
        vec![t("\"hello ~p~n\""), t("[{x, 1}]")],
        WAIT,
    ));
    assert_eq!(r, Ok(atom("ok")));
    wait_until("the rpc's output in the log", WAIT, || {
        log.text().contains("hello {x,1}")
    });
    // spawn: the same for a plain spawned process, and put_chars.
    rig.rt
        .block_on(rig.node.spawn(
            &erl_node,
            "io",
            "put_chars",
            vec![t("<<\"spawned line\\n\">>")],
        ))
        .unwrap();
    wait_until("the spawned process's output in the log", WAIT, || {
        log.text().contains("spawned line")
    });
    // A mailbox with a group leader set hands it on to what it spawns.
    let mut mb = rig.node.mailbox();
    let gl = rig.node.mailbox();
    mb.set_group_leader(gl.pid());
    let (p, _) = rig
        .rt
        .block_on(mb.spawn_on(
            &erl_node,
            "erlnode_procs",
            "echo_loop",
            vec![],
            SpawnOpts::default(),
            Some(WAIT),
        ))
        .unwrap();
    assert_eq!(p.node.as_str(), erl_node);
    let gl_of = rig.rt.block_on(rig.node.rpc(
        &erl_node,
        "erlang",
        "process_info",
        vec![Term::Pid(p.clone()), atom("group_leader")],
        WAIT,
    ));
    assert_eq!(
        gl_of,
        Ok(Term::tuple(vec![
            atom("group_leader"),
            Term::Pid(gl.pid().clone())
        ]))
    );
    mb.send(&p, t("{exit, done}"));
}

// ---------------------------------------------------------------- Rust calls into the BEAM

#[test]
fn rust_calls_into_the_beam_with_rpc_spawn_and_gen_server() {
    let mut rig = Rig::start();
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let en = rig.erl.node.clone();
    let rpc = |rig: &Rig, m: &str, f: &str, args: Vec<Term>, tmo: Duration| {
        rig.rt.block_on(rig.node.rpc(&en, m, f, args, tmo))
    };
    assert_eq!(
        rpc(
            &rig,
            "erlang",
            "list_to_tuple",
            vec![t("[1, <<\"b\">>, 2.5]")],
            WAIT
        ),
        Ok(t("{1, <<\"b\">>, 2.5}"))
    );
    // Each failure, as rpc:call on the BEAM itself reports it.
    for (f, arg) in [("error", "boom"), ("exit", "{x, 1}"), ("throw", "ball")] {
        let err = rpc(&rig, "erlang", f, vec![t(arg)], WAIT).unwrap_err();
        let class = match &err {
            RpcError::Exception(e) => e.class,
            other => panic!("{f}: not an exception: {other:?}"),
        };
        assert_eq!(class.as_str(), f);
        let beam = t(&rig
            .erl
            .eval_ok(&format!("rpc:call(node(), erlang, {f}, [{arg}])")));
        assert_eq!(err.to_rpc_value(), beam, "{f}");
    }
    let undef = rpc(&rig, "nomod", "nofun", vec![Term::Int(1)], WAIT).unwrap_err();
    assert_eq!(
        undef.to_rpc_value(),
        t(&rig.erl.eval_ok("rpc:call(node(), nomod, nofun, [1])"))
    );
    assert!(matches!(
        rpc(
            &rig,
            "timer",
            "sleep",
            vec![Term::Int(60_000)],
            Duration::from_millis(200)
        ),
        Err(RpcError::Timeout(_))
    ));
    // The abandoned call was stopped on the BEAM too (long before its 60 s).
    rig.erl_until(
        "the abandoned call's process on erl to go",
        "[P || P <- processes(), process_info(P, current_function) =:= {current_function, {timer, sleep, 1}}] =:= []",
    );
    let nobody = format!("nobody@{}", short_host());
    assert!(matches!(
        rig.rt
            .block_on(rig.node.rpc(&nobody, "erlang", "node", vec![], WAIT)),
        Err(RpcError::NodeDown(_))
    ));

    // spawn, and its link and monitor variants.
    let mut mb = rig.node.mailbox();
    mb.trap_exit(true);
    let me = Term::Pid(mb.pid().clone());
    let p = rig
        .rt
        .block_on(rig.node.spawn(&en, "erlnode_procs", "echo_loop", vec![]))
        .unwrap();
    mb.send(&p, Term::tuple(vec![me.clone(), atom("hi")]));
    assert_eq!(rig.recv(&mut mb), atom("hi"));
    let spawn = |mb: &mut Mailbox, link: bool, monitor: bool| {
        rig.rt
            .block_on(mb.spawn_on(
                &en,
                "erlnode_procs",
                "echo_loop",
                vec![],
                SpawnOpts { link, monitor },
                Some(WAIT),
            ))
            .unwrap()
    };
    let (pl, none) = spawn(&mut mb, true, false);
    assert_eq!(none, None);
    mb.send(&pl, t("{exit, {linked, 1}}"));
    assert_eq!(rig.recv(&mut mb), exit_msg(&pl, t("{linked, 1}")));
    let (pm, mref) = spawn(&mut mb, false, true);
    let mref = mref.expect("a monitor reference");
    mb.send(&pm, t("{exit, monitored}"));
    assert_eq!(
        rig.recv(&mut mb),
        Term::tuple(vec![
            atom("DOWN"),
            Term::from(mref),
            atom("process"),
            Term::Pid(pm),
            atom("monitored")
        ])
    );
    let (pb, bref) = spawn(&mut mb, true, true);
    let bref = bref.unwrap();
    mb.send(&pb, t("{exit, both}"));
    let mut got = vec![rig.recv(&mut mb), rig.recv(&mut mb)];
    got.sort_by_key(|m| m.as_tuple().unwrap()[0].is_atom("DOWN"));
    assert_eq!(
        got,
        vec![
            exit_msg(&pb, atom("both")),
            Term::tuple(vec![
                atom("DOWN"),
                Term::from(bref),
                atom("process"),
                Term::Pid(pb),
                atom("both")
            ])
        ]
    );

    // gen_server: call by name and by pid, timeout, cast, noproc.
    let gs = rig.take_pid("erlnode_procs:gs_start(gs1)");
    let by_name = || ("gs1", en.as_str());
    let call = |mb: &mut Mailbox, to: erlnode::node::Dest, req: &str, tmo: Duration| {
        rig.rt.block_on(mb.call(to, t(req), Some(tmo)))
    };
    assert_eq!(
        call(&mut mb, by_name().into(), "{echo, x}", WAIT),
        Ok(atom("x"))
    );
    assert_eq!(
        call(&mut mb, (&gs).into(), "{echo, y}", WAIT),
        Ok(atom("y"))
    );
    assert!(matches!(
        call(
            &mut mb,
            by_name().into(),
            "{sleep, 1500}",
            Duration::from_millis(200)
        ),
        Err(CallError::Timeout(_))
    ));
    // The late reply to the timed-out call is dropped, not queued.
    assert_eq!(
        call(&mut mb, by_name().into(), "{echo, z}", WAIT),
        Ok(atom("z"))
    );
    assert_eq!(mb.try_recv().unwrap(), None);
    mb.cast(by_name(), Term::tuple(vec![atom("note"), me, atom("c")]));
    assert_eq!(rig.recv(&mut mb), t("{noted, c}"));
    assert_eq!(
        call(
            &mut mb,
            ("no_such_server", en.as_str()).into(),
            "{echo, x}",
            WAIT
        ),
        Err(CallError::Down(atom("noproc")))
    );
}

#[test]
fn rust_rpc_falls_back_to_rex_when_the_peer_lacks_spawn() {
    // A real erl always has DFLAG_SPAWN; leaving it out of what we offer
    // makes the negotiated flags lack it, so node.rpc takes the rex path.
    use erlnode::handshake::DistFlags;
    let mut rig =
        Rig::with(|b| b.flags(DistFlags::RECOMMENDED_HIDDEN.difference(DistFlags::SPAWN)));
    let en = rig.erl.node.clone();
    assert!(rig.rt.block_on(rig.node.connect(&en)));
    // Proof that the connection lacks SPAWN: erl's own rpc:call to us says so.
    assert_eq!(
        rig.erl.eval_ok("rpc:call(RN, erlang, node, [])"),
        "{badrpc,notsup}"
    );
    let rpc = |rig: &Rig, m: &str, f: &str, args: Vec<Term>, tmo: Duration| {
        rig.rt.block_on(rig.node.rpc(&en, m, f, args, tmo))
    };
    assert_eq!(
        rpc(&rig, "erlang", "list_to_tuple", vec![t("[1, 2]")], WAIT),
        Ok(t("{1, 2}"))
    );
    for (f, arg) in [("error", "boom"), ("exit", "{x, 1}"), ("throw", "ball")] {
        let r = rpc(&rig, "erlang", f, vec![t(arg)], WAIT);
        let beam = t(&rig
            .erl
            .eval_ok(&format!("rpc:call(node(), erlang, {f}, [{arg}])")));
        let as_rpc = match r {
            Ok(v) => v,
            Err(e) => e.to_rpc_value(),
        };
        assert_eq!(as_rpc, beam, "{f}");
    }
    assert!(matches!(
        rpc(
            &rig,
            "timer",
            "sleep",
            vec![Term::Int(5000)],
            Duration::from_millis(200)
        ),
        Err(RpcError::Timeout(_))
    ));
}

// ---------------------------------------------------------------- CLI

#[test]
fn cli_rpc_and_send_with_cookie() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let (code, out, err) = erlnode_cmd(
        &[
            "rpc",
            &erl.node,
            "erlang",
            "list_to_tuple",
            "[[1, two, <<\"3\">>]]",
            "--cookie",
            &cookie,
        ],
        epmd.port,
    );
    assert_eq!(
        (code, out.trim().parse::<Term>().ok()),
        (0, Some(t("{1, two, <<\"3\">>}"))),
        "{err}"
    );
    // badrpc: the reason on stderr, exit 1.
    let (code, out, err) = erlnode_cmd(
        &[
            "rpc", &erl.node, "erlang", "error", "[boom]", "--cookie", &cookie,
        ],
        epmd.port,
    );
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err.trim().parse::<Term>().ok(),
        Some(t("{'EXIT', {boom, [{erlang, error, [boom], []}]}}")),
        "stderr: {err}"
    );
    // A throw is rpc:call's value.
    let (code, out, _) = erlnode_cmd(
        &[
            "rpc", &erl.node, "erlang", "throw", "[ball]", "--cookie", &cookie,
        ],
        epmd.port,
    );
    assert_eq!((code, out.trim()), (0, "ball"));
    // The wrong cookie: nodedown, exit 1.
    let (code, _, err) = erlnode_cmd(
        &[
            "rpc", &erl.node, "erlang", "node", "[]", "--cookie", "wrong",
        ],
        epmd.port,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nodedown"), "{err}");

    // Remote output of the call goes to erlnode's log (stderr), and the
    // call does not hang on it.
    let out = std::process::Command::new(erlnode_bin())
        .args([
            "rpc",
            &erl.node,
            "io",
            "format",
            "[\"cli says ~p~n\", [{z, 1}]]",
            "--cookie",
            &cookie,
        ])
        .env("ERL_EPMD_PORT", epmd.port.to_string())
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{stderr}"
    );
    assert!(stderr.contains("cli says {z,1}"), "stderr: {stderr}");

    // send: delivered to a registered erl process.
    erl.eval_ok("Self = self(), register(inbox1, spawn(fun() -> receive M -> Self ! {inbox1_got, M} end end))");
    let (code, _, err) = erlnode_cmd(
        &[
            "send",
            &erl.node,
            "inbox1",
            "{hello, [1, 2], <<\"x\">>}",
            "--cookie",
            &cookie,
        ],
        epmd.port,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        erl.eval_ok("receive {inbox1_got, Got} -> Got after 10000 -> timeout end"),
        "{hello,[1,2],<<\"x\">>}"
    );
    let (code, _, _) = erlnode_cmd(
        &["send", &erl.node, "inbox1", "x", "--cookie", "wrong"],
        epmd.port,
    );
    assert_eq!(code, 1);

    // erlnode rpc to erlnode serve.
    let s = Serve::start(&["--sname", &unique("rc"), "--cookie", &cookie], epmd.port);
    let (code, out, err) = erlnode_cmd(
        &[
            "rpc", &s.node, "erlnode", "echo", "[hello]", "--cookie", &cookie,
        ],
        epmd.port,
    );
    assert_eq!((code, out.trim()), (0, "hello"), "{err}");
}

// ---------------------------------------------------------------- a mailbox nobody reads (issue 7)

#[test]
fn an_unread_mailbox_past_max_mailbox_len_is_ended_and_others_are_unaffected() {
    let mut rig = Rig::with(|b| b.max_mailbox_len(100));
    let h = rig.rt.handle().clone();
    let _g = h.enter();
    let mut flood = rig.node.register_mailbox("flood").unwrap();
    flood.trap_exit(true); // the overflow cannot be trapped
    let mut other = rig.node.register_mailbox("other").unwrap();
    rig.give("F", Term::Pid(flood.pid().clone()));
    rig.erl.eval_ok("FR = erlnode_procs:reporter(Self), FR ! {run, fun() -> link(F) end}, {ran, FR, true} = receive {ran, FR, _} = RanF -> RanF end, FM = monitor(process, F)");
    rig.take("ok"); // the link and monitor are in place here
    rig.erl
        .eval_ok("[{flood, RN} ! {m, I} || I <- lists:seq(1, 1000)], {other, RN} ! still_fine, ok");
    assert_eq!(
        rig.erl
            .eval_ok("receive {'DOWN', FM, process, F, WhyF} -> WhyF after 10000 -> timeout end"),
        "{erlnode,mailbox_overflow}"
    );
    assert_eq!(
        rig.erl
            .eval_ok("receive {report, FR, {'EXIT', F, WhyL}} -> WhyL after 10000 -> timeout end"),
        "{erlnode,mailbox_overflow}"
    );
    // Its queue is freed, its name is free, and it is dead.
    assert_eq!(flood.len(), 0);
    assert_eq!(rig.node.whereis("flood"), None);
    assert_eq!(
        rig.rt.block_on(flood.recv()).unwrap_err().reason,
        t("{erlnode, mailbox_overflow}")
    );
    // Other mailboxes and the connection are unaffected.
    assert_eq!(rig.recv(&mut other), atom("still_fine"));
    rig.erl.eval_ok("{other, RN} ! still_fine_2");
    assert_eq!(rig.recv(&mut other), atom("still_fine_2"));
    assert_eq!(rig.erl.eval_ok("net_adm:ping(RN)"), "pong");
}
