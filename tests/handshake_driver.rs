//! Tier 2: the tokio driver against itself and against scripted peers over
//! `tokio::io::duplex`, with a paused clock for the step timer.

use std::time::Duration;

use erlnode::cookie::Cookie;
use erlnode::handshake::digest::digest;
use erlnode::handshake::message::{Challenge, ChallengeAck, ChallengeReply, SendName};
use erlnode::handshake::{
    AcceptorConfig, DistFlags, HANDSHAKE_STEP_TIMEOUT, HandshakeError, HandshakeOptions,
    InitiatorConfig, PeerName, Status, accept, connect, connect_with,
};
use erlnode::name::NodeName;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

fn name(s: &str) -> NodeName {
    NodeName::parse(s).unwrap()
}

fn k() -> Cookie {
    Cookie::new("cookie").unwrap()
}

fn icfg() -> InitiatorConfig {
    InitiatorConfig::new(name("rust@vm"), 11, name("erl@vm"), k())
}

fn acfg() -> AcceptorConfig {
    AcceptorConfig::new(name("erl@vm"), 22, k())
}

fn frame2(m: &[u8]) -> Vec<u8> {
    let mut v = (m.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(m);
    v
}

async fn read2(s: &mut DuplexStream) -> Vec<u8> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.unwrap();
    let mut m = vec![0u8; usize::from(u16::from_be_bytes(h))];
    s.read_exact(&mut m).await.unwrap();
    m
}

/// A hand-written acceptor: reads send_name, answers `sok` and a challenge in
/// one write, checks the reply, and sends the ack followed by `after_ack` in
/// the same write.
async fn scripted_acceptor(mut s: DuplexStream, after_ack: Vec<u8>) -> DuplexStream {
    let sn = SendName::parse(&read2(&mut s).await).unwrap();
    assert_eq!(sn.name, b"rust@vm");
    let ch = Challenge {
        flags: DistFlags::RECOMMENDED_HIDDEN,
        challenge: 777,
        creation: Some(22),
        name: b"erl@vm".to_vec(),
    };
    let mut out = frame2(b"sok");
    out.extend(frame2(&ch.encode().unwrap()));
    s.write_all(&out).await.unwrap();
    let r = ChallengeReply::parse(&read2(&mut s).await).unwrap();
    assert_eq!(r.digest, digest(777, &k()));
    let mut out = frame2(
        &ChallengeAck {
            digest: digest(r.challenge, &k()),
        }
        .encode(),
    );
    out.extend(after_ack);
    s.write_all(&out).await.unwrap();
    s
}

#[tokio::test]
async fn driver_against_itself() {
    let (mut a, mut b) = tokio::io::duplex(64);
    let opts = HandshakeOptions::tcp();
    let (i, r) = tokio::join!(
        connect(&mut a, icfg(), &opts),
        accept(&mut b, acfg(), &opts, |_| async { Status::Ok })
    );
    let (ie, il) = i.unwrap();
    let (ae, al) = r.unwrap();
    assert_eq!(ie.peer_name, name("erl@vm"));
    assert_eq!(ae.peer_name, name("rust@vm"));
    assert_eq!(ie.peer_creation, 22);
    assert_eq!(ae.peer_creation, 11);
    assert!(il.is_empty() && al.is_empty());
    // The streams are usable afterwards with 4-byte framing.
    a.write_all(&[0, 0, 0, 0]).await.unwrap();
    let mut tick = [9u8; 4];
    b.read_exact(&mut tick).await.unwrap();
    assert_eq!(tick, [0, 0, 0, 0]);
}

#[tokio::test]
async fn driver_against_itself_with_tls_framing() {
    let (mut a, mut b) = tokio::io::duplex(64);
    let opts = HandshakeOptions::tls();
    let (i, r) = tokio::join!(
        connect(&mut a, icfg(), &opts),
        accept(&mut b, acfg(), &opts, |_| async { Status::Ok })
    );
    assert_eq!(i.unwrap().0.peer_name, name("erl@vm"));
    assert_eq!(r.unwrap().0.peer_name, name("rust@vm"));
}

#[tokio::test]
async fn tls_framing_puts_4_byte_lengths_on_the_wire() {
    let (mut a, mut b) = tokio::io::duplex(256);
    let task = tokio::spawn(async move {
        let mut h = [0u8; 4];
        b.read_exact(&mut h).await.unwrap();
        let len = u32::from_be_bytes(h) as usize;
        let mut m = vec![0u8; len];
        b.read_exact(&mut m).await.unwrap();
        let sn = SendName::parse(&m).unwrap();
        // Answer not_allowed, 4-byte framed.
        let mut out = 12u32.to_be_bytes().to_vec();
        out.extend_from_slice(b"snot_allowed");
        b.write_all(&out).await.unwrap();
        sn
    });
    let e = connect(&mut a, icfg(), &HandshakeOptions::tls())
        .await
        .unwrap_err();
    assert!(matches!(e, HandshakeError::NotAllowed { .. }), "{e}");
    assert_eq!(task.await.unwrap().name, b"rust@vm");
}

#[tokio::test]
async fn bytes_after_the_ack_are_returned_as_leftover() {
    let (mut a, b) = tokio::io::duplex(1024);
    // A tick and a data packet in the same write as 'a'.
    let after = vec![0, 0, 0, 0, 0, 0, 0, 3, 112, 131, 106];
    let peer = tokio::spawn(scripted_acceptor(b, after.clone()));
    let (est, leftover) = connect(&mut a, icfg(), &HandshakeOptions::tcp())
        .await
        .unwrap();
    assert_eq!(est.peer_creation, 22);
    // Whatever was not yet read stays in the stream; together nothing is lost.
    let mut rest = leftover.to_vec();
    let _peer = peer.await.unwrap();
    while rest.len() < after.len() {
        let mut b = [0u8; 64];
        let n = a.read(&mut b).await.unwrap();
        assert!(n > 0);
        rest.extend_from_slice(&b[..n]);
    }
    assert_eq!(rest, after);
}

#[tokio::test]
async fn leftover_is_in_the_buffer_when_it_arrived_with_the_ack() {
    // With a large pipe, the ack and the data are one read: the driver must
    // hand them back rather than drop them.
    let (mut a, b) = tokio::io::duplex(64 * 1024);
    let after = vec![0, 0, 0, 0];
    let _peer = tokio::spawn(scripted_acceptor(b, after.clone()));
    let (_, leftover) = connect(&mut a, icfg(), &HandshakeOptions::tcp())
        .await
        .unwrap();
    assert_eq!(leftover.to_vec(), after);
}

#[tokio::test]
async fn byte_by_byte_peer_is_fine() {
    let (mut a, mut b) = tokio::io::duplex(1);
    let opts = HandshakeOptions::tcp();
    let (i, r) = tokio::join!(
        connect(&mut a, icfg(), &opts),
        accept(&mut b, acfg(), &opts, |_| async { Status::Ok })
    );
    assert!(i.is_ok() && r.is_ok());
}

#[tokio::test(start_paused = true)]
async fn silent_peer_times_out_after_the_step_timer() {
    let (mut a, _b) = tokio::io::duplex(1024);
    let t0 = tokio::time::Instant::now();
    let e = connect(&mut a, icfg(), &HandshakeOptions::tcp())
        .await
        .unwrap_err();
    assert!(matches!(e, HandshakeError::Timeout { .. }), "{e}");
    let took = t0.elapsed();
    assert!(
        took >= HANDSHAKE_STEP_TIMEOUT && took < HANDSHAKE_STEP_TIMEOUT + Duration::from_secs(1)
    );
    assert!(e.to_string().contains("status"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn timer_restarts_after_each_step() {
    // 5 s before the status and 5 s before the challenge: 10 s in total, but
    // each step is under 7 s.
    let (mut a, mut b) = tokio::io::duplex(1024);
    let peer = tokio::spawn(async move {
        let _ = read2(&mut b).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        b.write_all(&frame2(b"sok")).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let ch = Challenge {
            flags: DistFlags::RECOMMENDED_HIDDEN,
            challenge: 1,
            creation: Some(22),
            name: b"erl@vm".to_vec(),
        };
        b.write_all(&frame2(&ch.encode().unwrap())).await.unwrap();
        let r = ChallengeReply::parse(&read2(&mut b).await).unwrap();
        tokio::time::sleep(Duration::from_secs(6)).await;
        let ack = ChallengeAck {
            digest: digest(r.challenge, &k()),
        };
        b.write_all(&frame2(&ack.encode())).await.unwrap();
        b
    });
    let t0 = tokio::time::Instant::now();
    let r = connect(&mut a, icfg(), &HandshakeOptions::tcp()).await;
    assert!(r.is_ok(), "{r:?}");
    assert!(t0.elapsed() >= Duration::from_secs(16));
    let _ = peer.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn configurable_step_timeout_on_accept() {
    let (_a, mut b) = tokio::io::duplex(1024);
    let opts = HandshakeOptions::tcp().with_step_timeout(Duration::from_secs(2));
    let t0 = tokio::time::Instant::now();
    let e = accept(&mut b, acfg(), &opts, |_| async { Status::Ok })
        .await
        .unwrap_err();
    assert!(matches!(e, HandshakeError::Timeout { after, .. } if after == Duration::from_secs(2)));
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn slow_decision_counts_against_the_timer() {
    let (mut a, mut b) = tokio::io::duplex(1024);
    let _peer = tokio::spawn(async move {
        let _ = connect(&mut a, icfg(), &HandshakeOptions::tcp()).await;
        a
    });
    let e = accept(&mut b, acfg(), &HandshakeOptions::tcp(), |_| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Status::Ok
    })
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            HandshakeError::Timeout {
                step: "deciding the status",
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn closed_after_reply_means_cookie_rejected() {
    let (mut a, mut b) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        let _ = read2(&mut b).await;
        let ch = Challenge {
            flags: DistFlags::RECOMMENDED_HIDDEN,
            challenge: 1,
            creation: Some(22),
            name: b"erl@vm".to_vec(),
        };
        let mut out = frame2(b"sok");
        out.extend(frame2(&ch.encode().unwrap()));
        b.write_all(&out).await.unwrap();
        let _ = read2(&mut b).await;
        drop(b); // what a BEAM does with a wrong cookie
    });
    let e = connect(&mut a, icfg(), &HandshakeOptions::tcp())
        .await
        .unwrap_err();
    assert!(matches!(e, HandshakeError::CookieRejected { .. }), "{e}");
    assert!(e.is_cookie_mismatch());
}

#[tokio::test]
async fn wrong_cookie_between_two_drivers() {
    let (mut a, mut b) = tokio::io::duplex(1024);
    let opts = HandshakeOptions::tcp();
    let acc = AcceptorConfig::new(name("erl@vm"), 22, Cookie::new("other").unwrap());
    let (i, r) = tokio::join!(
        async {
            let r = connect(&mut a, icfg(), &opts).await;
            drop(a);
            r
        },
        async {
            let r = accept(&mut b, acc, &opts, |_| async { Status::Ok }).await;
            drop(b);
            r
        }
    );
    assert!(matches!(
        r,
        Err(HandshakeError::InvalidChallengeReply { .. })
    ));
    assert!(matches!(i, Err(HandshakeError::CookieRejected { .. })));
}

#[tokio::test]
async fn alive_answers_through_the_callbacks() {
    let opts = HandshakeOptions::tcp();
    // true: continues.
    let (mut a, mut b) = tokio::io::duplex(1024);
    let (i, r) = tokio::join!(
        connect_with(&mut a, icfg(), &opts, |peer| async move {
            assert_eq!(peer.as_str(), "erl@vm");
            true
        }),
        accept(&mut b, acfg(), &opts, |_| async { Status::Alive })
    );
    assert!(i.is_ok() && r.is_ok());
    // false: both stop.
    let (mut a, mut b) = tokio::io::duplex(1024);
    let (i, r) = tokio::join!(
        connect_with(&mut a, icfg(), &opts, |_| async { false }),
        accept(&mut b, acfg(), &opts, |_| async { Status::Alive })
    );
    assert!(matches!(i, Err(HandshakeError::AliveRefused { .. })));
    assert!(matches!(r, Err(HandshakeError::AliveRefused { .. })));
}

#[tokio::test]
async fn acceptor_decision_sees_the_peer() {
    let (mut a, mut b) = tokio::io::duplex(1024);
    let opts = HandshakeOptions::tcp();
    let (i, r) = tokio::join!(
        connect(&mut a, icfg(), &opts),
        accept(&mut b, acfg(), &opts, |p| async move {
            assert_eq!(p.name, PeerName::Node(name("rust@vm")));
            assert_eq!(p.creation, Some(11));
            assert!(p.flags.contains(DistFlags::MANDATORY_26));
            Status::NotAllowed
        })
    );
    assert!(matches!(i, Err(HandshakeError::NotAllowed { .. })));
    assert!(matches!(r, Err(HandshakeError::Refused { .. })));
}

#[tokio::test]
async fn oversized_frame_is_refused_before_buffering() {
    let (mut a2, mut b2) = tokio::io::duplex(1024);
    a2.write_all(&0x0100_0000u32.to_be_bytes()).await.unwrap();
    let e = accept(&mut b2, acfg(), &HandshakeOptions::tls(), |_| async {
        Status::Ok
    })
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            HandshakeError::FrameTooLarge {
                len: 0x0100_0000,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn garbage_first_message_is_refused() {
    let (mut a, mut b) = tokio::io::duplex(1024);
    a.write_all(&frame2(b"GET / HTTP/1.1")).await.unwrap();
    let e = accept(&mut b, acfg(), &HandshakeOptions::tcp(), |_| async {
        Status::Ok
    })
    .await
    .unwrap_err();
    assert!(
        matches!(e, HandshakeError::UnexpectedMessage { tag: 'G', .. }),
        "{e}"
    );
    // A peer that connects and closes.
    let (a, mut b) = tokio::io::duplex(1024);
    drop(a);
    let e = accept(&mut b, acfg(), &HandshakeOptions::tcp(), |_| async {
        Status::Ok
    })
    .await
    .unwrap_err();
    assert!(matches!(e, HandshakeError::Closed { .. }), "{e}");
}
