//! Fuzz entry points, shared by the `cargo fuzz` targets in `fuzz/` and by
//! `tests/fuzz_corpus.rs`, which replays the saved corpora on the stable
//! toolchain.
//!
//! Each function takes arbitrary bytes, drives one network-facing part of
//! erlnode with them and panics only when an invariant breaks (a round trip
//! that changes a term, a handshake that completes without the right
//! digest, …). Errors from the code under test are the expected outcome of
//! most inputs and are ignored. Not a stable API.

use crate::cookie::{Cookie, CookieJar};
use crate::dist::{Frame, Signal, control, frame};
use crate::epmd::registry::Registry;
use crate::epmd::server::{self, Action, Origin, ServerConfig};
use crate::epmd::wire::{self, Request};
use crate::handshake::digest::digest;
use crate::handshake::message::{Challenge, ChallengeAck, ChallengeReply};
use crate::handshake::{
    Acceptor, AcceptorConfig, AcceptorStep, DistFlags, Initiator, InitiatorConfig, InitiatorStep,
    PeerName, Status,
};
use crate::name::NodeName;
use crate::term::{Atom, DecodeLimits, Decoder, Term};
use bytes::{Bytes, BytesMut};
use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Decompressed-size limit for the fuzz targets: 1 MiB. The default (64 MiB)
/// is safe for a node but lets one fuzz input build a term of gigabytes of
/// `Term` values, which libFuzzer reports as out-of-memory.
pub const FUZZ_MAX_DECOMPRESSED_SIZE: usize = 1 << 20;

/// The cookie both sides of the fuzzed handshakes use.
pub const FUZZ_COOKIE: &str = "FUZZCOOKIE";

/// The acceptor's node name in [`handshake_acceptor`]; the initiator in
/// [`handshake_initiator`] dials this name.
pub const FUZZ_ACCEPTOR_NAME: &str = "acceptor@fuzzhost";

/// The initiator's node name in [`handshake_initiator`].
pub const FUZZ_INITIATOR_NAME: &str = "initiator@fuzzhost";

/// Atoms an `ATOM_CACHE_REF` (82) may point at in [`decode`].
const FUZZ_ATOM_REFS: [&str; 3] = ["", "fuzz_cached", "erlnode@fuzzhost"];

fn limits() -> DecodeLimits {
    DecodeLimits {
        max_decompressed_size: FUZZ_MAX_DECOMPRESSED_SIZE,
    }
}

/// Checks what must hold for any term that decoded: it re-encodes to bytes
/// that decode to an equal term, encoding is stable, and comparing, hashing,
/// printing, cloning and dropping do not panic.
fn check_term(t: &Term) {
    use std::hash::{Hash, Hasher};
    let bytes = match t.try_encode() {
        Ok(b) => b,
        Err(e) => panic!("a decoded term does not encode: {e}; term {t:?}"),
    };
    let again = match Decoder::new(&bytes)
        .with_limits(limits())
        .term_with_version()
    {
        Ok(a) => a,
        Err(e) => panic!("re-encoded term does not decode: {e}; bytes {bytes:?}"),
    };
    assert!(
        again == *t,
        "round trip changed the term: {t:?} -> {again:?}"
    );
    assert_eq!(
        t.cmp(&again),
        Ordering::Equal,
        "equal terms compare unequal"
    );
    match again.try_encode() {
        Ok(b2) => assert_eq!(bytes, b2, "encoding is not stable"),
        Err(e) => panic!("second encode failed: {e}"),
    }
    let mut h1 = std::collections::hash_map::DefaultHasher::new();
    let mut h2 = std::collections::hash_map::DefaultHasher::new();
    t.hash(&mut h1);
    again.hash(&mut h2);
    assert_eq!(h1.finish(), h2.finish(), "equal terms hash differently");
    let shown = t.to_string();
    assert!(!shown.is_empty(), "Display printed nothing");
    let _ = format!("{t:?}");
    let _ = t.partial_cmp(&Term::NIL);
    drop(again);
}

/// `decode` target: the bytes as `term_to_binary` output, decoded alone
/// (copying and sharing binaries) and with an atom cache; every term that
/// decodes goes through `check_term`.
pub fn decode(data: &[u8]) {
    let mut d = Decoder::new(data).with_limits(limits());
    let copied = d
        .term_with_version()
        .and_then(|t| d.expect_end().map(|()| t));
    if let Ok(t) = &copied {
        check_term(t);
        // The public entry point agrees (limits differ only for tag 80, COMPRESSED).
        if data.get(1) != Some(&80) {
            assert_eq!(Term::decode(data).as_ref(), Ok(t), "Term::decode disagrees");
        }
    }
    #[cfg(feature = "eetf")]
    if let Ok(t) = &copied {
        eetf_round_trip(t);
    }
    let shared = Bytes::copy_from_slice(data);
    let mut d = Decoder::shared(&shared).with_limits(limits());
    let s = d
        .term_with_version()
        .and_then(|t| d.expect_end().map(|()| t));
    assert_eq!(
        s.is_ok(),
        copied.is_ok(),
        "shared and copying decoders disagree"
    );
    if let (Ok(s), Ok(c)) = (&s, &copied) {
        assert!(s == c, "shared and copying decoders give different terms");
    }
    let refs: Vec<Atom> = FUZZ_ATOM_REFS
        .iter()
        .filter_map(|a| Atom::new(a).ok())
        .collect();
    let mut d = Decoder::new(data)
        .with_atom_refs(&refs)
        .with_limits(limits());
    if let Ok(t) = d.term_with_version() {
        check_term(&t);
    }
}

/// The `eetf` conversion keeps every decodable term (compared with `==`: a
/// map comes back in another order), or refuses one nested too deep for
/// eetf.
#[cfg(feature = "eetf")]
fn eetf_round_trip(t: &Term) {
    use crate::term::EetfConversionError;
    match eetf::Term::try_from(t) {
        Ok(e) => match Term::try_from(&e) {
            Ok(back) => assert!(back == *t, "eetf round trip changed {t}"),
            Err(err) => panic!("eetf's form of {t} does not convert back: {err}"),
        },
        Err(err) => assert_eq!(err, EetfConversionError::TooDeep, "{t} to eetf"),
    }
}

/// Splits fuzz input into messages: each is `Len:u16` then `Len` bytes, the
/// handshake's own TCP framing, so a captured handshake stream is a valid
/// input. A short last message takes what is left.
fn messages(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (head, rest) = data.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*head)).min(rest.len());
        let (msg, rest) = rest.split_at(len);
        data = rest;
        Some(msg)
    })
}

fn cookies() -> CookieJar {
    match Cookie::new(FUZZ_COOKIE) {
        Ok(c) => c.into(),
        Err(e) => panic!("fuzz cookie rejected: {e}"),
    }
}

fn node(name: &str) -> NodeName {
    match NodeName::parse(name) {
        Ok(n) => n,
        Err(e) => panic!("fuzz node name rejected: {e}"),
    }
}

/// The challenge in the last of `sent` that parses as one.
fn sent_challenge(sent: &[Vec<u8>]) -> Option<u32> {
    sent.iter()
        .rev()
        .find_map(|m| Challenge::parse(m).ok())
        .map(|c| c.challenge)
}

/// `handshake_acceptor` target. Byte 0 picks the acceptor's choices: bits
/// 0..=2 the status it decides (ok, ok_simultaneous, nok, not_allowed,
/// alive, named:), bit 3 makes the challenge reply's digest correct (as a
/// peer with the right cookie would send) so that the fuzzer can reach the
/// end. The rest is the initiator's messages, `Len:u16`-framed (see `messages`).
pub fn handshake_acceptor(data: &[u8]) {
    let _ = handshake_acceptor_outcome(data);
}

/// How a fuzzed handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The input ended before the handshake did.
    Incomplete,
    /// The machine returned an error.
    Failed,
    /// The machine refused the peer (a status it sends before closing).
    Rejected,
    /// The handshake completed.
    Established,
}

/// [`handshake_acceptor`], telling how the handshake ended.
pub fn handshake_acceptor_outcome(data: &[u8]) -> Outcome {
    let Some((&opts, rest)) = data.split_first() else {
        return Outcome::Incomplete;
    };
    let jar = cookies();
    let our_name = node(FUZZ_ACCEPTOR_NAME);
    let mut acc = Acceptor::new(AcceptorConfig::new(our_name.clone(), 1234, jar.clone()));
    let fix_digest = opts & 8 != 0;
    let mut our_challenge = None;
    let mut last_reply_digest_ok = false;
    let mut pending = None;
    let mut msgs = messages(rest);
    loop {
        let step = match pending.take() {
            Some(step) => step,
            None => {
                let Some(msg) = msgs.next() else {
                    return Outcome::Incomplete;
                };
                let mut msg = msg.to_vec();
                if let (Some(ch), Ok(reply)) = (our_challenge, ChallengeReply::parse(&msg)) {
                    // The digest is checked with the cookie for the peer's
                    // name, and every name gets the default cookie here.
                    let want = digest(ch, jar.default_cookie());
                    if fix_digest {
                        msg = ChallengeReply {
                            challenge: reply.challenge,
                            digest: want,
                        }
                        .encode();
                    }
                    last_reply_digest_ok = fix_digest || reply.digest == want;
                }
                acc.receive(&msg)
            }
        };
        match step {
            Ok(AcceptorStep::Continue { send }) => {
                if let Some(ch) = sent_challenge(&send) {
                    our_challenge = Some(ch);
                }
            }
            Ok(AcceptorStep::Decide(info)) => {
                let status = match (opts & 7, &info.name) {
                    (0, _) => Status::Ok,
                    (1, _) => Status::OkSimultaneous,
                    (2, _) => Status::Nok,
                    (4, _) => Status::Alive,
                    (5, PeerName::Dynamic { host }) => match NodeName::new("dyn", host) {
                        Ok(name) => Status::Named { name, creation: 77 },
                        Err(_) => Status::NotAllowed,
                    },
                    (5, PeerName::Node(_)) => Status::Named {
                        name: our_name.clone(),
                        creation: 77,
                    },
                    _ => Status::NotAllowed,
                };
                pending = Some(acc.decide(status));
            }
            Ok(AcceptorStep::Reject { send, error }) => {
                assert!(!send.is_empty(), "reject without a status to send");
                let _ = error.to_string();
                return Outcome::Rejected;
            }
            Ok(AcceptorStep::Done { send, established }) => {
                assert!(
                    last_reply_digest_ok,
                    "handshake accepted a challenge reply with a wrong digest"
                );
                assert!(ChallengeAck::parse(&send).is_ok(), "bad challenge ack");
                assert_eq!(established.our_name, our_name);
                assert!(
                    established.peer_flags.missing(established.negotiated_flags)
                        == DistFlags::EMPTY,
                    "negotiated flags the peer did not offer"
                );
                // A finished machine refuses more input without panicking.
                assert!(acc.receive(b"x").is_err());
                return Outcome::Established;
            }
            Err(e) => {
                let _ = e.to_string();
                let _ = acc.closed_error().to_string();
                return Outcome::Failed;
            }
        }
    }
}

/// `handshake_initiator` target. Byte 0: bit 0 asks for a dynamic name,
/// bit 1 is the answer to `alive`, bit 3 makes the challenge ack's digest
/// correct. The rest is the acceptor's messages, `Len:u16`-framed (see `messages`).
pub fn handshake_initiator(data: &[u8]) {
    let _ = handshake_initiator_outcome(data);
}

/// [`handshake_initiator`], telling how the handshake ended.
pub fn handshake_initiator_outcome(data: &[u8]) -> Outcome {
    let Some((&opts, rest)) = data.split_first() else {
        return Outcome::Incomplete;
    };
    let peer = node(FUZZ_ACCEPTOR_NAME);
    let cfg = if opts & 1 != 0 {
        InitiatorConfig::dynamic("fuzzhost", peer.clone(), cookies())
    } else {
        InitiatorConfig::new(node(FUZZ_INITIATOR_NAME), 1234, peer.clone(), cookies())
    };
    let jar = cfg.cookies.clone();
    let (mut ini, first) = match Initiator::new(cfg) {
        Ok(x) => x,
        Err(e) => panic!("initiator refused its own configuration: {e}"),
    };
    assert!(!first.is_empty());
    let fix_digest = opts & 8 != 0;
    let mut our_challenge = None;
    let mut ack_digest_ok = false;
    let mut pending = None;
    let mut msgs = messages(rest);
    loop {
        let step = match pending.take() {
            Some(step) => step,
            None => {
                let Some(msg) = msgs.next() else {
                    return Outcome::Incomplete;
                };
                let mut msg = msg.to_vec();
                if let (Some(ch), Ok(ack)) = (our_challenge, ChallengeAck::parse(&msg)) {
                    let want = digest(ch, jar.cookie_for(&peer));
                    if fix_digest {
                        msg = ChallengeAck { digest: want }.encode();
                    }
                    ack_digest_ok = fix_digest || ack.digest == want;
                }
                ini.receive(&msg)
            }
        };
        match step {
            Ok(InitiatorStep::Continue { send }) => {
                if let Some(r) = send.iter().find_map(|m| ChallengeReply::parse(m).ok()) {
                    our_challenge = Some(r.challenge);
                }
            }
            Ok(InitiatorStep::AliveQuery) => pending = Some(ini.answer_alive(opts & 2 != 0)),
            Ok(InitiatorStep::Reject { error, .. }) => {
                let _ = error.to_string();
                return Outcome::Rejected;
            }
            Ok(InitiatorStep::Done(established)) => {
                assert!(
                    ack_digest_ok,
                    "handshake accepted a challenge ack with a wrong digest"
                );
                assert_eq!(established.peer_name, peer);
                assert!(ini.receive(b"a").is_err());
                return Outcome::Established;
            }
            Err(e) => {
                let _ = e.to_string();
                let _ = ini.closed_error().to_string();
                return Outcome::Failed;
            }
        }
    }
}

/// Live names the fuzzed EPMD accepts: small, so that the limit is reached.
const FUZZ_EPMD_MAX_NAMES: usize = 4;
/// Old names the fuzzed EPMD remembers.
const FUZZ_EPMD_MAX_OLD: usize = 3;
/// Port the fuzzed EPMD reports in NAMES and DUMP.
const FUZZ_EPMD_PORT: u16 = 4369;

/// `epmd_server` target: one EPMD registry serving a series of requests.
/// Each record is a control byte then one request on the wire
/// (`Len:u16`, body). Control bits: 0 the peer is local, 1 close this
/// connection after the request (unregistering what it registered), 2..=4
/// the connection id. Every reply must parse with erlnode's own client.
pub fn epmd_server(data: &[u8]) {
    let mut reg = Registry::default();
    let config = ServerConfig {
        max_names: FUZZ_EPMD_MAX_NAMES,
        max_old_names: FUZZ_EPMD_MAX_OLD,
        ..ServerConfig::default()
    };
    let mut rest = data;
    let mut now = 1_795_604_775u64;
    while let Some((&ctl, tail)) = rest.split_first() {
        let (request, used) = match wire::parse_request(tail) {
            Ok(Some(x)) => x,
            Ok(None) | Err(_) => return,
        };
        rest = tail.get(used..).unwrap_or_default();
        now += 1;
        let origin = Origin {
            peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000),
            conn: u64::from((ctl >> 2) & 7),
            fd: i64::from((ctl >> 2) & 7) + 10,
            local: ctl & 1 != 0,
            now,
        };
        let live_before = reg.live.len();
        let action =
            server::handle_request(&mut reg, &config, FUZZ_EPMD_PORT, &origin, request.clone());
        check_epmd_action(&mut reg, &config, &origin, &request, &action, live_before);
        if ctl & 2 != 0 {
            reg.unregister_conn(origin.conn, config.max_old_names);
        }
        assert!(
            reg.live.len() <= FUZZ_EPMD_MAX_NAMES,
            "live-name limit broken"
        );
    }
}

fn check_epmd_action(
    reg: &mut Registry,
    config: &ServerConfig,
    origin: &Origin,
    request: &Request,
    action: &Action,
    live_before: usize,
) {
    match (request, action) {
        (_, Action::Close) => {}
        (
            Request::Alive2(entry),
            Action::Registered {
                reply, creation, ..
            },
        ) => {
            match wire::parse_alive2_reply(reply) {
                Ok(Some((r, used))) => {
                    assert_eq!(used, reply.len());
                    assert_eq!(r.result, 0);
                    assert_eq!(r.creation, *creation);
                }
                other => panic!("ALIVE2 reply does not parse: {other:?}"),
            }
            assert!(*creation != 0, "creation 0 handed out");
            // The name is now found, with what was registered.
            let look = Request::PortPlease2 {
                name: entry.name.clone(),
            };
            match server::handle_request(reg, config, FUZZ_EPMD_PORT, origin, look) {
                Action::Reply(r) => match wire::parse_port2_resp(&r) {
                    Ok(Some(found)) => assert_eq!(&found, entry, "PORT2 differs from ALIVE2"),
                    other => panic!("registered name not found: {other:?}"),
                },
                other => panic!("PORT_PLEASE2 got {other:?}"),
            }
        }
        (Request::Alive2(_) | Request::Alive2Refused { .. }, Action::Reply(reply)) => {
            match wire::parse_alive2_reply(reply) {
                Ok(Some((r, _))) => assert_ne!(r.result, 0, "refusal with result 0"),
                other => panic!("refused ALIVE2 reply does not parse: {other:?}"),
            }
        }
        (Request::PortPlease2 { name }, Action::Reply(reply)) => {
            match wire::parse_port2_resp(reply) {
                Ok(Some(e)) => assert_eq!(&e.name, name),
                Ok(None) => assert!(reg.lookup(name).is_none()),
                Err(e) => panic!("PORT2 reply does not parse: {e}"),
            }
        }
        (Request::Names, Action::Reply(reply)) => match wire::parse_names_reply(reply) {
            Ok(n) => {
                assert_eq!(n.epmd_port, u32::from(FUZZ_EPMD_PORT));
                // A name with a newline (epmd accepts it, as OTP's does)
                // splits its line: NAMES cannot carry it faithfully.
                let names = reg.names();
                if names.iter().all(|(name, _)| !name.contains('\n')) {
                    assert_eq!(n.names, names, "NAMES reply misread");
                }
            }
            Err(e) => panic!("NAMES reply does not parse: {e}"),
        },
        (Request::Dump, Action::Reply(reply)) => match wire::parse_dump_reply(reply) {
            Ok(d) => assert_eq!(d.active.len(), reg.live.len(), "DUMP reply misread"),
            Err(e) => panic!("DUMP reply does not parse: {e}"),
        },
        (Request::Kill, Action::Reply(_)) => assert!(live_before > 0),
        (Request::Kill, Action::ReplyAndStop(_)) => assert_eq!(live_before, 0),
        (req, act) => panic!("unexpected action {act:?} for {req:?}"),
    }
}

/// Flag sets [`dist_frame`] re-encodes with: what a current BEAM offers, and
/// the OTP 26 minimum (no SEND_SENDER, no EXIT_PAYLOAD spelling choices).
fn frame_flag_sets() -> [DistFlags; 2] {
    [
        DistFlags::RECOMMENDED_HIDDEN.expand_mandatory_25(),
        DistFlags::MANDATORY_26,
    ]
}

/// `dist_frame` target: the bytes as one distribution data frame (after its
/// 4-byte length), decoded into a [`Signal`]; what decodes is re-encoded
/// for each flag set and must decode to the same signal. The bytes are
/// also cut as a stream of length-prefixed frames.
pub fn dist_frame(data: &[u8]) {
    let lim = limits();
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(sig) = control::decode_frame(&bytes, &lim) {
        for flags in frame_flag_sets() {
            let mut out = Vec::new();
            if let Err(e) = control::encode_frame(&sig, flags, &mut out) {
                panic!("a decoded signal does not encode: {e}; {sig:?}");
            }
            let mut buf = BytesMut::from(&out[..]);
            let Ok(Some(Frame::Data(body))) = frame::next_frame(&mut buf, out.len()) else {
                panic!("encode_frame wrote a frame next_frame cannot cut");
            };
            assert!(buf.is_empty(), "bytes left after the frame");
            match control::decode_frame(&body, &lim) {
                Ok(back) => assert!(
                    same_signal(&sig, &back, flags),
                    "re-encoded signal differs: {sig:?} -> {back:?}"
                ),
                Err(e) => panic!("re-encoded signal does not decode: {e}; {sig:?}"),
            }
        }
        let _ = sig.sender();
    }
    let mut buf = BytesMut::from(data);
    while let Ok(Some(f)) = frame::next_frame(&mut buf, 1 << 16) {
        if let Frame::Data(body) = f {
            let _ = control::decode_frame(&body, &lim);
        }
    }
}

/// Equality after a re-encode: a `Send` with a sender loses it when the
/// flags lack SEND_SENDER (plain `SEND` has no sender).
fn same_signal(a: &Signal, b: &Signal, flags: DistFlags) -> bool {
    match (a, b) {
        (
            Signal::Send {
                from: Some(_),
                to,
                msg,
            },
            Signal::Send { from: None, .. },
        ) if !flags.contains(DistFlags::SEND_SENDER) => {
            *b == Signal::Send {
                from: None,
                to: to.clone(),
                msg: msg.clone(),
            }
        }
        _ => a == b,
    }
}

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Reassembly limit of the [`dist_header`] receiver: 1 MiB, so a fragmented
/// message announced larger is refused quickly (a node's default is 1 GiB).
const FUZZ_MAX_REASSEMBLY: usize = 1 << 20;

/// `dist_header` target: the bytes as the packet stream of a connection
/// with DIST_HDR_ATOM_CACHE and FRAGMENTS (`Len:u32` frames), through a
/// [`crate::dist::header::DistReceiver`] and `decode_dist_body`, as the
/// connection task does. Every signal that decodes is sent again through a
/// `DistWriter` (atom cache, fragments) to a fresh receiver and must arrive
/// unchanged.
pub fn dist_header(data: &[u8]) {
    use crate::dist::header::DistReceiver;
    use crate::dist::writer::DistWriter;
    use crate::term::VERSION_MAGIC;
    use std::sync::Arc;
    let lim = limits();
    let mut rx = DistReceiver::new(FUZZ_MAX_REASSEMBLY, Arc::default());
    let mut got = Vec::new();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(f)) = frame::next_frame(&mut buf, 1 << 16) {
        let Frame::Data(body) = f else { continue };
        if body.first() != Some(&VERSION_MAGIC) {
            continue;
        }
        match rx.receive(&body) {
            Ok(Some(m)) => {
                if let Ok(sig) = control::decode_dist_body(&m.body, m.refs, &lim) {
                    got.push(sig);
                }
            }
            Ok(None) => {}
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
    let _ = rx.sequences_in_flight();
    if got.is_empty() {
        return;
    }
    let flags = DistFlags::RECOMMENDED_HIDDEN.expand_mandatory_25()
        | DistFlags::DIST_HDR_ATOM_CACHE
        | DistFlags::FRAGMENTS;
    let atom = match Atom::new("fuzz@host") {
        Ok(a) => a,
        Err(e) => panic!("fuzz atom rejected: {e}"),
    };
    let mut w = DistWriter::new(flags, atom, Arc::default());
    let mut out = crate::dist::outbuf::OutBuf::new(true);
    for sig in &got {
        w.push(sig.clone(), &mut out);
    }
    while w.next_fragment(&mut out) {}
    let out = out.to_vec();
    let mut rx = DistReceiver::new(usize::MAX, Arc::default());
    let mut back = Vec::new();
    let mut buf = BytesMut::from(&out[..]);
    loop {
        match frame::next_frame(&mut buf, usize::MAX) {
            Ok(Some(Frame::Data(body))) => match rx.receive(&body) {
                Ok(Some(m)) => match control::decode_dist_body(&m.body, m.refs, &lim) {
                    Ok(sig) => back.push(sig),
                    Err(e) => panic!("re-sent signal does not decode: {e}"),
                },
                Ok(None) => {}
                Err(e) => panic!("re-sent packet refused: {e}"),
            },
            Ok(Some(Frame::Tick)) => {}
            Ok(None) => break,
            Err(e) => panic!("re-sent frame refused: {e}"),
        }
    }
    assert!(buf.is_empty(), "bytes left after the re-sent frames");
    // Per-sender order is kept, but senders may interleave: compare as
    // multisets by sender.
    assert_eq!(back.len(), got.len(), "signals lost or added on re-send");
    for sig in &got {
        assert!(
            back.iter().any(|b| same_signal(sig, b, flags)),
            "re-sent signal changed: {sig:?}"
        );
    }
}

/// Every target, by its directory name under `fuzz/corpus/`.
pub const TARGETS: [(&str, Target); 6] = [
    ("decode", decode),
    ("handshake_acceptor", handshake_acceptor),
    ("handshake_initiator", handshake_initiator),
    ("epmd_server", epmd_server),
    ("dist_frame", dist_frame),
    ("dist_header", dist_header),
];
