//! Tier 2: the sans-IO initiator and acceptor back to back, for every status path.

use erlnode::cookie::{Cookie, CookieJar};
use erlnode::handshake::digest::digest;
use erlnode::handshake::message::{Challenge, ChallengeAck, ChallengeReply, Complement, SendName};
use erlnode::handshake::{
    Acceptor, AcceptorConfig, AcceptorStep, DistFlags, Established, HandshakeError, Initiator,
    InitiatorConfig, InitiatorStep, PeerInfo, PeerName, Role, Status,
};
use erlnode::name::NodeName;

fn name(s: &str) -> NodeName {
    NodeName::parse(s).unwrap()
}

fn cookie(s: &str) -> Cookie {
    Cookie::new(s).unwrap()
}

/// Both sides' outcomes.
struct Outcome {
    init: Result<Established, HandshakeError>,
    acc: Result<Established, HandshakeError>,
    /// Every payload the acceptor sent, in order.
    acc_sent: Vec<Vec<u8>>,
    /// Every payload the initiator sent, in order.
    init_sent: Vec<Vec<u8>>,
    /// What the acceptor was asked to decide on.
    asked: Vec<PeerInfo>,
}

/// Runs both machines against each other in memory. A side that closes makes
/// the other see `closed_error()`.
fn run(
    icfg: InitiatorConfig,
    acfg: AcceptorConfig,
    mut decide: impl FnMut(&PeerInfo) -> Status,
    alive_answer: bool,
) -> Outcome {
    let (mut init, first) = Initiator::new(icfg).unwrap();
    let mut acc = Acceptor::new(acfg);
    let mut to_acc: Vec<Vec<u8>> = vec![first.clone()];
    let mut to_init: Vec<Vec<u8>> = Vec::new();
    let mut init_sent = vec![first];
    let mut acc_sent = Vec::new();
    let mut asked = Vec::new();
    let mut init_res: Option<Result<Established, HandshakeError>> = None;
    let mut acc_res: Option<Result<Established, HandshakeError>> = None;
    for _ in 0..20 {
        // Acceptor consumes its queue.
        while acc_res.is_none() && !to_acc.is_empty() {
            let msg = to_acc.remove(0);
            let mut step = acc.receive(&msg);
            loop {
                match step {
                    Ok(AcceptorStep::Continue { send }) => {
                        acc_sent.extend(send.iter().cloned());
                        to_init.extend(send);
                        break;
                    }
                    Ok(AcceptorStep::Decide(info)) => {
                        let st = decide(&info);
                        asked.push(info);
                        step = acc.decide(st);
                    }
                    Ok(AcceptorStep::Reject { send, error }) => {
                        acc_sent.push(send.clone());
                        to_init.push(send);
                        acc_res = Some(Err(error));
                        break;
                    }
                    Ok(AcceptorStep::Done { send, established }) => {
                        acc_sent.push(send.clone());
                        to_init.push(send);
                        acc_res = Some(Ok(established));
                        break;
                    }
                    Err(e) => {
                        acc_res = Some(Err(e));
                        break;
                    }
                }
            }
        }
        // Initiator consumes its queue.
        while init_res.is_none() && !to_init.is_empty() {
            let msg = to_init.remove(0);
            let mut step = init.receive(&msg);
            loop {
                match step {
                    Ok(InitiatorStep::Continue { send }) => {
                        init_sent.extend(send.iter().cloned());
                        to_acc.extend(send);
                        break;
                    }
                    Ok(InitiatorStep::AliveQuery) => step = init.answer_alive(alive_answer),
                    Ok(InitiatorStep::Reject { send, error }) => {
                        init_sent.push(send.clone());
                        to_acc.push(send);
                        init_res = Some(Err(error));
                        break;
                    }
                    Ok(InitiatorStep::Done(e)) => {
                        init_res = Some(Ok(e));
                        break;
                    }
                    Err(e) => {
                        init_res = Some(Err(e));
                        break;
                    }
                }
            }
        }
        if init_res.is_some() && acc_res.is_some() {
            break;
        }
        // A side that finished with nothing left for the other: the other sees a close.
        if to_acc.is_empty() && to_init.is_empty() {
            if init_res.is_none() {
                init_res = Some(Err(init.closed_error()));
            }
            if acc_res.is_none() {
                acc_res = Some(Err(acc.closed_error()));
            }
        }
    }
    Outcome {
        init: init_res.expect("initiator finished"),
        acc: acc_res.expect("acceptor finished"),
        acc_sent,
        init_sent,
        asked,
    }
}

fn cfgs(c_init: &str, c_acc: &str) -> (InitiatorConfig, AcceptorConfig) {
    let i = InitiatorConfig::new(name("rust@vm"), 0x1234_5678, name("erl@vm"), cookie(c_init));
    let a = AcceptorConfig::new(name("erl@vm"), 0x0BAD_CAFE, cookie(c_acc));
    (i, a)
}

fn both_ok(o: &Outcome) -> (&Established, &Established) {
    match (&o.init, &o.acc) {
        (Ok(i), Ok(a)) => (i, a),
        other => panic!("expected success on both sides, got {other:?}"),
    }
}

#[test]
fn ok_path_establishes_both_sides() {
    let (i, a) = cfgs("secret", "secret");
    let o = run(i, a, |_| Status::Ok, true);
    let (ie, ae) = both_ok(&o);
    assert_eq!(ie.role, Role::Initiator);
    assert_eq!(ae.role, Role::Acceptor);
    assert_eq!(ie.peer_name, name("erl@vm"));
    assert_eq!(ae.peer_name, name("rust@vm"));
    assert_eq!(ie.peer_creation, 0x0BAD_CAFE);
    assert_eq!(ae.peer_creation, 0x1234_5678);
    assert_eq!(ie.our_name, name("rust@vm"));
    assert_eq!(ie.our_creation, 0x1234_5678);
    assert_eq!(ie.negotiated_flags, ae.negotiated_flags);
    assert!(ie.negotiated_flags.contains(DistFlags::MANDATORY_26));
    assert!(ie.hidden && ae.hidden);
    assert_eq!(o.asked.len(), 1);
    assert_eq!(o.asked[0].name, PeerName::Node(name("rust@vm")));
    assert_eq!(o.asked[0].creation, Some(0x1234_5678));
    // The acceptor sent: status, challenge, ack.
    assert_eq!(o.acc_sent.len(), 3);
    assert_eq!(o.acc_sent[0], b"sok");
    assert_eq!(o.acc_sent[1][0], b'N');
    assert_eq!(o.acc_sent[2].len(), 17);
    // The initiator sent: 'N' send_name, 'r'.
    assert_eq!(o.init_sent.len(), 2);
    assert_eq!(o.init_sent[0][0], b'N');
    assert_eq!(o.init_sent[1].len(), 21);
}

#[test]
fn send_name_carries_our_flags_creation_and_name() {
    let (i, _) = cfgs("c", "c");
    let (_, first) = Initiator::new(i).unwrap();
    let m = SendName::parse(&first).unwrap();
    assert_eq!(m.flags, DistFlags::RECOMMENDED_HIDDEN);
    assert_eq!(m.creation, Some(0x1234_5678));
    assert_eq!(m.name, b"rust@vm");
    let mut want = vec![b'N'];
    want.extend_from_slice(&0xD_07DF_7FBCu64.to_be_bytes());
    want.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    want.extend_from_slice(&[0, 7]);
    want.extend_from_slice(b"rust@vm");
    assert_eq!(first, want);
}

#[test]
fn ok_simultaneous_continues() {
    let (i, a) = cfgs("k", "k");
    let o = run(i, a, |_| Status::OkSimultaneous, true);
    both_ok(&o);
    assert_eq!(o.acc_sent[0], b"sok_simultaneous");
}

#[test]
fn nok_stops_the_initiator() {
    let (i, a) = cfgs("k", "k");
    let o = run(i, a, |_| Status::Nok, true);
    assert!(
        matches!(o.init, Err(HandshakeError::Nok { .. })),
        "{:?}",
        o.init
    );
    assert!(matches!(
        o.acc,
        Err(HandshakeError::Refused { status: "nok", .. })
    ));
    assert_eq!(o.acc_sent, vec![b"snok".to_vec()]);
}

#[test]
fn simultaneous_helper_drives_the_tie_break() {
    // The acceptor "b@vm" has its own attempt to "a@vm" pending: b > a, so nok.
    let i = InitiatorConfig::new(name("a@vm"), 5, name("b@vm"), cookie("k"));
    let a = AcceptorConfig::new(name("b@vm"), 6, cookie("k"));
    let me = name("b@vm");
    let o = run(
        i,
        a,
        |p| match &p.name {
            PeerName::Node(n) => erlnode::handshake::simultaneous_status(&me, n),
            PeerName::Dynamic { .. } => Status::NotAllowed,
        },
        true,
    );
    assert!(matches!(o.init, Err(HandshakeError::Nok { .. })));
    // And the other way round: a@vm accepting from b@vm answers ok_simultaneous.
    let i = InitiatorConfig::new(name("b@vm"), 5, name("a@vm"), cookie("k"));
    let a = AcceptorConfig::new(name("a@vm"), 6, cookie("k"));
    let me = name("a@vm");
    let o = run(
        i,
        a,
        |p| match &p.name {
            PeerName::Node(n) => erlnode::handshake::simultaneous_status(&me, n),
            PeerName::Dynamic { .. } => Status::NotAllowed,
        },
        true,
    );
    both_ok(&o);
    assert_eq!(o.acc_sent[0], b"sok_simultaneous");
}

#[test]
fn not_allowed_stops_both() {
    let (i, a) = cfgs("k", "k");
    let o = run(i, a, |_| Status::NotAllowed, true);
    let Err(e) = &o.init else {
        panic!("initiator succeeded")
    };
    assert!(matches!(e, HandshakeError::NotAllowed { .. }));
    assert!(e.to_string().contains("erl@vm answered not_allowed"));
    assert!(matches!(
        o.acc,
        Err(HandshakeError::Refused {
            status: "not_allowed",
            ..
        })
    ));
}

#[test]
fn alive_true_replaces_the_old_connection() {
    let (i, a) = cfgs("k", "k");
    let o = run(i, a, |_| Status::Alive, true);
    both_ok(&o);
    assert_eq!(o.acc_sent[0], b"salive");
    assert_eq!(o.init_sent[1], b"strue");
}

#[test]
fn alive_false_gives_up() {
    let (i, a) = cfgs("k", "k");
    let o = run(i, a, |_| Status::Alive, false);
    assert!(matches!(o.init, Err(HandshakeError::AliveRefused { .. })));
    assert!(matches!(o.acc, Err(HandshakeError::AliveRefused { .. })));
    assert_eq!(o.init_sent[1], b"sfalse");
}

#[test]
fn named_gives_the_initiator_its_identity() {
    let i = InitiatorConfig::dynamic("vm", name("erl@vm"), cookie("k"));
    let a = AcceptorConfig::new(name("erl@vm"), 9, cookie("k"));
    let assigned = name("2ZEJYR4NHNAUN@vm");
    let given = assigned.clone();
    let o = run(
        i,
        a,
        move |p| {
            assert_eq!(
                p.name,
                PeerName::Dynamic {
                    host: "vm".to_string()
                }
            );
            assert!(p.flags.contains(DistFlags::NAME_ME));
            Status::Named {
                name: given.clone(),
                creation: 0x9068_35D5,
            }
        },
        true,
    );
    let (ie, ae) = both_ok(&o);
    assert_eq!(ie.our_name, assigned);
    assert_eq!(ie.our_creation, 0x9068_35D5);
    assert_eq!(ae.peer_name, assigned);
    assert_eq!(ae.peer_creation, 0x9068_35D5);
    // The send_name had NAME_ME, creation 0 and only the host.
    let first = SendName::parse(&o.init_sent[0]).unwrap();
    assert!(first.flags.contains(DistFlags::NAME_ME));
    assert_eq!(first.creation, Some(0));
    assert_eq!(first.name, b"vm");
    // The challenge carried NAME_ME and no PUBLISHED.
    let ch = Challenge::parse(&o.acc_sent[1]).unwrap();
    assert!(ch.flags.contains(DistFlags::NAME_ME));
    assert!(!ch.flags.contains(DistFlags::PUBLISHED));
}

#[test]
fn named_for_a_static_initiator_is_an_error() {
    let (i, _) = cfgs("k", "k");
    let (mut init, _) = Initiator::new(i).unwrap();
    let st = Status::Named {
        name: name("x@vm"),
        creation: 5,
    };
    let e = init.receive(&st.encode().unwrap()).unwrap_err();
    assert!(matches!(e, HandshakeError::UnexpectedStatus { .. }), "{e}");
}

#[test]
fn dynamic_initiator_rejects_plain_ok_and_foreign_host() {
    let i = InitiatorConfig::dynamic("vm", name("erl@vm"), cookie("k"));
    let (mut init, _) = Initiator::new(i.clone()).unwrap();
    assert!(matches!(
        init.receive(b"sok"),
        Err(HandshakeError::UnexpectedStatus { .. })
    ));
    let (mut init, _) = Initiator::new(i).unwrap();
    let st = Status::Named {
        name: name("x@other"),
        creation: 5,
    };
    assert!(matches!(
        init.receive(&st.encode().unwrap()),
        Err(HandshakeError::UnexpectedStatus { .. })
    ));
}

#[test]
fn wrong_cookie_is_caught_by_the_acceptor() {
    let (i, a) = cfgs("right", "wrong");
    let o = run(i, a, |_| Status::Ok, true);
    let Err(ae) = &o.acc else {
        panic!("acceptor accepted a wrong cookie")
    };
    assert!(matches!(ae, HandshakeError::InvalidChallengeReply { .. }));
    assert!(ae.to_string().contains("rust@vm"));
    // The acceptor closes silently; the initiator reports a cookie rejection.
    let Err(ie) = &o.init else {
        panic!("initiator succeeded")
    };
    assert!(matches!(ie, HandshakeError::CookieRejected { .. }), "{ie}");
    assert!(ie.is_cookie_mismatch());
    assert!(!ie.to_string().contains("right") && !ae.to_string().contains("wrong"));
    // Nothing after the challenge was sent by the acceptor.
    assert_eq!(o.acc_sent.len(), 2);
}

#[test]
fn wrong_ack_is_caught_by_the_initiator() {
    let (i, _) = cfgs("k", "k");
    let (mut init, _) = Initiator::new(i).unwrap();
    assert!(matches!(
        init.receive(b"sok").unwrap(),
        InitiatorStep::Continue { .. }
    ));
    let ch = Challenge {
        flags: DistFlags::RECOMMENDED_HIDDEN,
        challenge: 42,
        creation: Some(7),
        name: b"erl@vm".to_vec(),
    };
    let InitiatorStep::Continue { send } = init.receive(&ch.encode().unwrap()).unwrap() else {
        panic!("no reply")
    };
    let reply = ChallengeReply::parse(&send[0]).unwrap();
    assert_eq!(reply.digest, digest(42, &cookie("k")));
    // An ack computed with another cookie.
    let bad = ChallengeAck {
        digest: digest(reply.challenge, &cookie("other")),
    };
    let e = init.receive(&bad.encode()).unwrap_err();
    assert!(matches!(e, HandshakeError::InvalidChallengeAck { .. }));
    assert!(e.is_cookie_mismatch());
    // Finished: further input is misuse.
    assert!(matches!(
        init.receive(b"sok"),
        Err(HandshakeError::Misuse(_))
    ));
}

#[test]
fn per_node_cookies_are_looked_up_by_peer_name() {
    // Defaults differ, but each side has the shared cookie set for the other.
    let ijar =
        CookieJar::new(cookie("default_i")).with_node_cookies([(name("erl@vm"), cookie("shared"))]);
    let ajar = CookieJar::new(cookie("default_a"))
        .with_node_cookies([(name("rust@vm"), cookie("shared"))]);
    let i = InitiatorConfig::new(name("rust@vm"), 5, name("erl@vm"), ijar);
    let a = AcceptorConfig::new(name("erl@vm"), 6, ajar);
    both_ok(&run(i, a, |_| Status::Ok, true));
}

#[test]
fn initiator_missing_flags_get_not_allowed() {
    let (mut i, a) = cfgs("k", "k");
    i.flags = DistFlags::RECOMMENDED_HIDDEN.difference(DistFlags::V4_NC | DistFlags::UNLINK_ID);
    let o = run(
        i,
        a,
        |_| panic!("no decision for a peer lacking flags"),
        true,
    );
    let Err(ae) = &o.acc else {
        panic!("acceptor accepted")
    };
    match ae {
        HandshakeError::MissingFlags { missing, .. } => {
            assert_eq!(*missing, DistFlags::V4_NC | DistFlags::UNLINK_ID)
        }
        other => panic!("{other}"),
    }
    assert!(
        ae.to_string()
            .contains("peer rust@vm lacks mandatory flags: UNLINK_ID, V4_NC"),
        "{ae}"
    );
    assert_eq!(o.acc_sent, vec![b"snot_allowed".to_vec()]);
    assert!(matches!(o.init, Err(HandshakeError::NotAllowed { .. })));
}

#[test]
fn digest_flag_alone_stands_for_the_otp25_set() {
    let (mut i, mut a) = cfgs("k", "k");
    i.flags = DistFlags::MANDATORY_25_DIGEST
        | DistFlags::V4_NC
        | DistFlags::UNLINK_ID
        | DistFlags::DIST_MONITOR;
    a.required_flags = DistFlags::MANDATORY_26;
    let o = run(i, a, |_| Status::Ok, true);
    let (ie, _) = both_ok(&o);
    assert!(ie.negotiated_flags.contains(DistFlags::MANDATORY_25));
}

#[test]
fn acceptor_missing_flags_stop_the_initiator() {
    let (i, mut a) = cfgs("k", "k");
    a.flags = DistFlags::MANDATORY_25;
    let o = run(i, a, |_| Status::Ok, true);
    match &o.init {
        Err(HandshakeError::MissingFlags { peer, missing }) => {
            assert_eq!(peer, "erl@vm");
            assert_eq!(*missing, DistFlags::V4_NC | DistFlags::UNLINK_ID);
        }
        other => panic!("{other:?}"),
    }
    // The initiator just closes: the acceptor sees a close after its challenge.
    assert!(matches!(o.acc, Err(HandshakeError::Closed { .. })));
}

#[test]
fn published_on_both_sides_makes_a_visible_connection() {
    let (mut i, mut a) = cfgs("k", "k");
    i.flags |= DistFlags::PUBLISHED;
    a.flags |= DistFlags::PUBLISHED;
    let o = run(i.clone(), a, |_| Status::Ok, true);
    let (ie, ae) = both_ok(&o);
    assert!(!ie.hidden && !ae.hidden);
    // One hidden side makes it hidden on both.
    let (_, a2) = cfgs("k", "k");
    let o = run(i, a2, |_| Status::Ok, true);
    let (ie, ae) = both_ok(&o);
    assert!(ie.hidden && ae.hidden);
    assert!(ie.peer_flags.bits() & 1 == 0);
}

#[test]
fn name_mismatch_is_refused() {
    let (i, _) = cfgs("k", "k");
    let a = AcceptorConfig::new(name("erl@vm.example.org"), 6, cookie("k"));
    let o = run(i, a, |_| Status::Ok, true);
    match &o.init {
        Err(HandshakeError::NameMismatch { dialled, answered }) => {
            assert_eq!(dialled, &name("erl@vm"));
            assert_eq!(answered, "erl@vm.example.org");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn old_challenge_is_refused() {
    let (i, _) = cfgs("k", "k");
    let (mut init, _) = Initiator::new(i).unwrap();
    init.receive(b"sok").unwrap();
    let mut old = vec![b'n', 0, 5];
    old.extend_from_slice(&(DistFlags::RECOMMENDED_HIDDEN.bits() as u32).to_be_bytes());
    old.extend_from_slice(&7u32.to_be_bytes());
    old.extend_from_slice(b"erl@vm");
    assert!(matches!(
        init.receive(&old),
        Err(HandshakeError::OldChallenge { .. })
    ));
}

#[test]
fn bad_peer_name_is_refused_without_a_status() {
    let mut acc = Acceptor::new(AcceptorConfig::new(name("erl@vm"), 6, cookie("k")));
    let m = SendName::new(DistFlags::RECOMMENDED_HIDDEN, 5, b"no_at_sign");
    let e = acc.receive(&m.encode().unwrap()).unwrap_err();
    assert!(matches!(e, HandshakeError::BadName { .. }), "{e}");
    let mut acc = Acceptor::new(AcceptorConfig::new(name("erl@vm"), 6, cookie("k")));
    let m = SendName::new(DistFlags::RECOMMENDED_HIDDEN, 5, b"a@b@c");
    assert!(matches!(
        acc.receive(&m.encode().unwrap()),
        Err(HandshakeError::BadName { .. })
    ));
}

/// An OTP 23/24-style initiator: old 'n', then 'c' after the 'N' challenge.
#[test]
fn old_send_name_then_complement() {
    let k = cookie("k");
    let mut acc = Acceptor::new(AcceptorConfig::new(name("erl@vm"), 6, k.clone()));
    let full = DistFlags::RECOMMENDED_HIDDEN;
    let old = SendName {
        flags: DistFlags(full.bits() & 0xFFFF_FFFF),
        creation: None,
        version: Some(5),
        name: b"old@vm".to_vec(),
    };
    let AcceptorStep::Decide(info) = acc.receive(&old.encode().unwrap()).unwrap() else {
        panic!("no decision")
    };
    assert_eq!(info.creation, None);
    let AcceptorStep::Continue { send } = acc.decide(Status::Ok).unwrap() else {
        panic!("no challenge")
    };
    assert_eq!(send[0], b"sok");
    // Always answered with the new 'N' challenge.
    let ch = Challenge::parse(&send[1]).unwrap();
    assert_eq!(ch.creation, Some(6));
    assert_eq!(ch.name, b"erl@vm");
    let comp = Complement {
        flags_high: (full.bits() >> 32) as u32,
        creation: 0x77,
    };
    let AcceptorStep::Continue { send } = acc.receive(&comp.encode()).unwrap() else {
        panic!("complement refused")
    };
    assert!(send.is_empty());
    let reply = ChallengeReply {
        challenge: 1234,
        digest: digest(ch.challenge, &k),
    };
    let AcceptorStep::Done { send, established } = acc.receive(&reply.encode()).unwrap() else {
        panic!("reply refused")
    };
    assert_eq!(ChallengeAck::parse(&send).unwrap().digest, digest(1234, &k));
    assert_eq!(established.peer_creation, 0x77);
    assert_eq!(established.peer_flags, full.expand_mandatory_25());
    assert_eq!(established.peer_name, name("old@vm"));
}

#[test]
fn old_send_name_missing_high_flags_is_refused_after_the_complement() {
    let mut acc = Acceptor::new(AcceptorConfig::new(name("erl@vm"), 6, cookie("k")));
    let old = SendName {
        flags: DistFlags(DistFlags::RECOMMENDED_HIDDEN.bits() & 0xFFFF_FFFF),
        creation: None,
        version: Some(5),
        name: b"old@vm".to_vec(),
    };
    assert!(matches!(
        acc.receive(&old.encode().unwrap()).unwrap(),
        AcceptorStep::Decide(_)
    ));
    acc.decide(Status::Ok).unwrap();
    // No V4_NC in the high bits.
    let comp = Complement {
        flags_high: 0,
        creation: 9,
    };
    match acc.receive(&comp.encode()).unwrap() {
        AcceptorStep::Reject { send, error } => {
            assert_eq!(send, b"snot_allowed");
            assert!(
                matches!(error, HandshakeError::MissingFlags { missing, .. } if missing == DistFlags::V4_NC)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn misuse_is_reported_not_panicked() {
    let mut acc = Acceptor::new(AcceptorConfig::new(name("erl@vm"), 6, cookie("k")));
    assert!(matches!(
        acc.decide(Status::Ok),
        Err(HandshakeError::Misuse(_))
    ));
    let (i, _) = cfgs("k", "k");
    let (mut init, _) = Initiator::new(i).unwrap();
    assert!(matches!(
        init.answer_alive(true),
        Err(HandshakeError::Misuse(_))
    ));
    // Named for a static peer.
    let mut acc = Acceptor::new(AcceptorConfig::new(name("erl@vm"), 6, cookie("k")));
    let m = SendName::new(DistFlags::RECOMMENDED_HIDDEN, 5, b"x@vm");
    acc.receive(&m.encode().unwrap()).unwrap();
    assert!(matches!(
        acc.decide(Status::Named {
            name: name("y@vm"),
            creation: 5
        }),
        Err(HandshakeError::Misuse(_))
    ));
}

#[test]
fn creation_zero_is_refused_for_static_names() {
    let i = InitiatorConfig::new(name("rust@vm"), 0, name("erl@vm"), cookie("k"));
    assert!(matches!(Initiator::new(i), Err(HandshakeError::Misuse(_))));
    let mut acc = Acceptor::new(AcceptorConfig::new(name("erl@vm"), 0, cookie("k")));
    let m = SendName::new(DistFlags::RECOMMENDED_HIDDEN, 5, b"x@vm");
    acc.receive(&m.encode().unwrap()).unwrap();
    assert!(matches!(
        acc.decide(Status::Ok),
        Err(HandshakeError::Misuse(_))
    ));
    // A dynamic initiator sends creation 0 by design.
    assert!(Initiator::new(InitiatorConfig::dynamic("vm", name("erl@vm"), cookie("k"))).is_ok());
}

#[test]
fn garbage_never_panics() {
    // Every prefix and a few corruptions of each message, fed to each state.
    let (i, a) = cfgs("k", "k");
    let o = run(i.clone(), a.clone(), |_| Status::Ok, true);
    let all: Vec<Vec<u8>> = o
        .acc_sent
        .iter()
        .chain(o.init_sent.iter())
        .cloned()
        .collect();
    for m in &all {
        for n in 0..=m.len() {
            let mut x = m[..n].to_vec();
            let _ = Acceptor::new(a.clone()).receive(&x);
            let (mut init, _) = Initiator::new(i.clone()).unwrap();
            let _ = init.receive(&x);
            x.push(0xFF);
            let _ = Acceptor::new(a.clone()).receive(&x);
        }
    }
}

mod prop {
    use super::*;
    use erlnode::handshake::message::parse_alive_answer;
    use proptest::prelude::*;

    proptest! {
        /// No input makes a parser or a machine in any state panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = SendName::parse(&bytes);
            let _ = Status::parse(&bytes);
            let _ = parse_alive_answer(&bytes);
            let _ = Challenge::parse(&bytes);
            let _ = Complement::parse(&bytes);
            let _ = ChallengeReply::parse(&bytes);
            let _ = ChallengeAck::parse(&bytes);
            let (i, a) = cfgs("k", "k");
            // Initiator: expecting status, then challenge, then ack.
            let (mut init, _) = Initiator::new(i.clone()).unwrap();
            let _ = init.receive(&bytes);
            let (mut init, _) = Initiator::new(i.clone()).unwrap();
            init.receive(b"sok").unwrap();
            let _ = init.receive(&bytes);
            // Acceptor: expecting send_name, then the reply.
            let _ = Acceptor::new(a.clone()).receive(&bytes);
            let mut acc = Acceptor::new(a);
            let (_, first) = Initiator::new(i).unwrap();
            acc.receive(&first).unwrap();
            acc.decide(Status::Ok).unwrap();
            let _ = acc.receive(&bytes);
        }

        /// A send_name with a random valid-looking name and flags parses back.
        #[test]
        fn send_name_round_trips(flags in any::<u64>(), creation in any::<u32>(),
                                 name in "[a-z]{1,20}@[a-z]{1,20}") {
            let m = SendName::new(DistFlags(flags), creation, name.as_bytes());
            prop_assert_eq!(SendName::parse(&m.encode().unwrap()).unwrap(), m);
        }
    }
}
