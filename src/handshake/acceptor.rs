//! The side that accepts (`dist_util:handshake_other_started/1`), sans-IO.
//!
//! ```text
//! receive(send_name 'N' | 'n') -> Decide(PeerInfo)   (or Reject not_allowed: missing flags)
//! decide(ok | ok_simultaneous | named:)  -> Continue { send: [status, challenge 'N'] }
//! decide(alive)                          -> Continue { send: ["salive"] }
//!     receive("strue")                   -> Continue { send: [challenge] }
//!     receive("sfalse")                  -> Err(AliveRefused)
//! decide(nok | not_allowed)              -> Reject { send: status }
//! receive('c')  (only after 'n')         -> Continue { send: [] }
//! receive('r')                           -> Done { send: 'a', established }
//! ```
//! We always answer with the v6 `'N'` challenge, also to an old `'n'` send_name.

use super::digest::{digest, digests_equal, gen_challenge};
use super::flags::DistFlags;
use super::message::{
    Challenge, ChallengeAck, ChallengeReply, Complement, SendName, parse_alive_answer,
};
use super::{Established, HandshakeError, PeerInfo, PeerName, Role, Status};
use crate::cookie::CookieJar;
use crate::name::{NameError, NodeName};

/// Everything the acceptor needs.
#[derive(Debug, Clone)]
pub struct AcceptorConfig {
    /// Our name, exactly as peers dial it (it is echoed in the challenge).
    pub our_name: NodeName,
    /// Our creation.
    pub our_creation: u32,
    /// Flags we advertise (default [`DistFlags::RECOMMENDED_HIDDEN`]).
    pub flags: DistFlags,
    /// Flags the peer must have, after MANDATORY_25_DIGEST expansion
    /// (default [`DistFlags::MANDATORY_26`]).
    pub required_flags: DistFlags,
    /// Our cookies; the one for the node named in send_name is used.
    pub cookies: CookieJar,
}

impl AcceptorConfig {
    /// An acceptor with the recommended hidden-node flags.
    pub fn new(our_name: NodeName, our_creation: u32, cookies: impl Into<CookieJar>) -> Self {
        AcceptorConfig {
            our_name,
            our_creation,
            flags: DistFlags::RECOMMENDED_HIDDEN,
            required_flags: DistFlags::MANDATORY_26,
            cookies: cookies.into(),
        }
    }
}

/// What to do after feeding the acceptor.
#[derive(Debug)]
pub enum AcceptorStep {
    /// Send these messages (maybe none) and pass the next received message to
    /// [`Acceptor::receive`].
    Continue {
        /// Payloads to send, in order.
        send: Vec<Vec<u8>>,
    },
    /// Pick the status for this peer and call [`Acceptor::decide`]:
    /// `Ok`, `OkSimultaneous` or `Nok` (use [`super::simultaneous_status`]
    /// when our own attempt to it is pending), `Alive` when a connection to
    /// it is still up, `NotAllowed` to refuse it, `Named` for a dynamic-name
    /// request.
    Decide(PeerInfo),
    /// Send `send`, then close: the handshake failed with `error`.
    Reject {
        /// Last payload.
        send: Vec<u8>,
        /// Why.
        error: HandshakeError,
    },
    /// Send `send` (the challenge ack), then switch to 4-byte framing.
    Done {
        /// The challenge ack payload.
        send: Vec<u8>,
        /// The outcome.
        established: Established,
    },
}

#[derive(Debug, Clone)]
struct Peer {
    name: PeerName,
    /// Advertised flags, expanded.
    flags: DistFlags,
    creation: Option<u32>,
}

#[derive(Debug)]
enum State {
    ExpectName,
    AwaitDecision(Peer),
    ExpectAliveAnswer(Peer, NodeName),
    ExpectComplement(Peer, NodeName, u32),
    ExpectReply(Peer, NodeName, u32),
    Finished,
}

/// The acceptor's state machine.
#[derive(Debug)]
pub struct Acceptor {
    cfg: AcceptorConfig,
    state: State,
}

impl Acceptor {
    /// A new acceptor, waiting for the send_name.
    pub fn new(cfg: AcceptorConfig) -> Acceptor {
        Acceptor {
            cfg,
            state: State::ExpectName,
        }
    }

    /// What we are waiting for, for timeouts and log lines.
    pub fn waiting_for(&self) -> &'static str {
        match self.state {
            State::ExpectName => "waiting for the send_name",
            State::AwaitDecision(_) => "deciding the status",
            State::ExpectAliveAnswer(..) => "waiting for the answer to alive",
            State::ExpectComplement(..) => "waiting for the complement",
            State::ExpectReply(..) => "waiting for the challenge reply",
            State::Finished => "finished",
        }
    }

    /// The error for "the peer closed the connection now".
    pub fn closed_error(&self) -> HandshakeError {
        let hint = match self.state {
            State::ExpectName => "nothing was said; a port scan or a health check",
            State::ExpectReply(..) => {
                "the peer gave up after our challenge; it may not accept our name or flags \
                 (check its log)"
            }
            _ => "check the peer's log",
        };
        HandshakeError::Closed {
            step: self.waiting_for(),
            hint,
        }
    }

    /// Feeds one received handshake message payload.
    pub fn receive(&mut self, payload: &[u8]) -> Result<AcceptorStep, HandshakeError> {
        let state = std::mem::replace(&mut self.state, State::Finished);
        match state {
            State::ExpectName => self.on_name(payload),
            State::ExpectAliveAnswer(peer, name) => {
                if parse_alive_answer(payload)? {
                    self.challenge(peer, name, Vec::new())
                } else {
                    Err(HandshakeError::AliveRefused { peer: name })
                }
            }
            State::ExpectComplement(peer, name, ch) => self.on_complement(payload, peer, name, ch),
            State::ExpectReply(peer, name, ch) => self.on_reply(payload, peer, name, ch),
            State::AwaitDecision(_) => Err(HandshakeError::Misuse(
                "receive() called while a status decision is due; call decide()",
            )),
            State::Finished => Err(HandshakeError::Misuse(
                "receive() called on a finished handshake",
            )),
        }
    }

    /// Answers [`AcceptorStep::Decide`] with the status to send.
    pub fn decide(&mut self, status: Status) -> Result<AcceptorStep, HandshakeError> {
        let State::AwaitDecision(mut peer) = std::mem::replace(&mut self.state, State::Finished)
        else {
            return Err(HandshakeError::Misuse(
                "decide() called without a pending decision",
            ));
        };
        let reject = |status: &Status, error| -> Result<AcceptorStep, HandshakeError> {
            Ok(AcceptorStep::Reject {
                send: status.encode()?,
                error,
            })
        };
        match (&status, peer.name.clone()) {
            (Status::NotAllowed | Status::Nok, name) => {
                let error = HandshakeError::Refused {
                    peer: name.to_string(),
                    status: status.as_str(),
                };
                reject(&status, error)
            }
            (Status::Ok | Status::OkSimultaneous, PeerName::Node(name)) => {
                let first = status.encode()?;
                self.challenge(peer, name, vec![first])
            }
            (Status::Alive, PeerName::Node(name)) => {
                let send = vec![status.encode()?];
                self.state = State::ExpectAliveAnswer(peer, name);
                Ok(AcceptorStep::Continue { send })
            }
            (Status::Named { name, creation }, PeerName::Dynamic { host }) => {
                if name.host() != host {
                    return Err(HandshakeError::Misuse(
                        "decide(Named): the name must be on the host the peer asked for",
                    ));
                }
                let first = status.encode()?;
                peer.creation = Some(*creation);
                self.challenge(peer, name.clone(), vec![first])
            }
            (Status::Named { .. }, PeerName::Node(_)) => Err(HandshakeError::Misuse(
                "decide(Named) for a peer that did not ask for a dynamic name",
            )),
            (_, PeerName::Dynamic { .. }) => Err(HandshakeError::Misuse(
                "a dynamic-name peer must get Named, NotAllowed or Nok",
            )),
        }
    }

    fn on_name(&mut self, payload: &[u8]) -> Result<AcceptorStep, HandshakeError> {
        let msg = SendName::parse(payload)?;
        let flags = msg.flags.expand_mandatory_25();
        let dynamic = !msg.is_old() && flags.contains(DistFlags::NAME_ME);
        let name = if dynamic {
            PeerName::Dynamic {
                host: dynamic_host(&msg.name)?,
            }
        } else {
            PeerName::Node(
                NodeName::from_bytes(&msg.name)
                    .map_err(|source| HandshakeError::BadName { source })?,
            )
        };
        // An old 'n' carries only the low 32 flag bits; check those now and
        // the rest after the complement, as dist_util:check_dflags/2 does.
        let required = if msg.is_old() {
            self.cfg.required_flags & DistFlags(u64::from(u32::MAX))
        } else {
            self.cfg.required_flags
        };
        let missing = flags.missing(required);
        if !missing.is_empty() {
            return Ok(AcceptorStep::Reject {
                send: Status::NotAllowed.encode()?,
                error: HandshakeError::MissingFlags {
                    peer: name.to_string(),
                    missing,
                },
            });
        }
        let peer = Peer {
            name,
            flags,
            creation: msg.creation,
        };
        let info = PeerInfo {
            name: peer.name.clone(),
            flags: peer.flags,
            creation: peer.creation,
        };
        self.state = State::AwaitDecision(peer);
        Ok(AcceptorStep::Decide(info))
    }

    /// Sends our challenge after `before` and moves on.
    fn challenge(
        &mut self,
        peer: Peer,
        name: NodeName,
        mut before: Vec<Vec<u8>>,
    ) -> Result<AcceptorStep, HandshakeError> {
        if self.cfg.our_creation == 0 {
            return Err(HandshakeError::Misuse(
                "our creation is 0, which is reserved; use the EPMD creation or \
                 handshake::random_creation()",
            ));
        }
        let our_challenge = gen_challenge();
        let msg = Challenge {
            flags: self.our_flags(&peer),
            challenge: our_challenge,
            creation: Some(self.cfg.our_creation),
            name: self.cfg.our_name.as_bytes().to_vec(),
        };
        before.push(msg.encode()?);
        self.state = if peer.creation.is_none() {
            State::ExpectComplement(peer, name, our_challenge)
        } else {
            State::ExpectReply(peer, name, our_challenge)
        };
        Ok(AcceptorStep::Continue { send: before })
    }

    /// Our flags for this peer: with NAME_ME and without PUBLISHED when it asked
    /// for a dynamic name (`dist_util:publish_flag/3`).
    fn our_flags(&self, peer: &Peer) -> DistFlags {
        match peer.name {
            PeerName::Dynamic { .. } => self
                .cfg
                .flags
                .union(DistFlags::NAME_ME)
                .difference(DistFlags::PUBLISHED),
            PeerName::Node(_) => self.cfg.flags.difference(DistFlags::NAME_ME),
        }
    }

    fn on_complement(
        &mut self,
        payload: &[u8],
        mut peer: Peer,
        name: NodeName,
        our_challenge: u32,
    ) -> Result<AcceptorStep, HandshakeError> {
        let c = Complement::parse(payload)?;
        peer.flags = (peer.flags | DistFlags(u64::from(c.flags_high) << 32)).expand_mandatory_25();
        peer.creation = Some(c.creation);
        let missing = peer.flags.missing(self.cfg.required_flags);
        if !missing.is_empty() {
            return Ok(AcceptorStep::Reject {
                send: Status::NotAllowed.encode()?,
                error: HandshakeError::MissingFlags {
                    peer: name.to_string(),
                    missing,
                },
            });
        }
        self.state = State::ExpectReply(peer, name, our_challenge);
        Ok(AcceptorStep::Continue { send: Vec::new() })
    }

    fn on_reply(
        &mut self,
        payload: &[u8],
        peer: Peer,
        name: NodeName,
        our_challenge: u32,
    ) -> Result<AcceptorStep, HandshakeError> {
        let reply = ChallengeReply::parse(payload)?;
        let cookie = self.cfg.cookies.cookie_for(&name);
        if !digests_equal(&digest(our_challenge, cookie), &reply.digest) {
            return Err(HandshakeError::InvalidChallengeReply { peer: name });
        }
        let ack = ChallengeAck {
            digest: digest(reply.challenge, cookie),
        };
        let negotiated = self.our_flags(&peer).expand_mandatory_25() & peer.flags;
        let Some(peer_creation) = peer.creation else {
            return Err(HandshakeError::Misuse("no peer creation at the reply step"));
        };
        Ok(AcceptorStep::Done {
            send: ack.encode(),
            established: Established {
                role: Role::Acceptor,
                peer_name: name,
                peer_creation,
                peer_flags: peer.flags,
                negotiated_flags: negotiated,
                our_name: self.cfg.our_name.clone(),
                our_creation: self.cfg.our_creation,
                hidden: !negotiated.contains(DistFlags::PUBLISHED),
            },
        })
    }
}

/// The host a NAME_ME peer sent: non-empty, no `@`, printable ASCII.
fn dynamic_host(bytes: &[u8]) -> Result<String, HandshakeError> {
    let lossy = || String::from_utf8_lossy(bytes).into_owned();
    if bytes.is_empty() {
        return Err(HandshakeError::BadName {
            source: NameError::EmptyHost { name: lossy() },
        });
    }
    if let Some(offset) = bytes
        .iter()
        .position(|b| !b.is_ascii_graphic() || *b == b'@')
    {
        let byte = bytes.get(offset).copied().unwrap_or(0);
        let source = if byte == b'@' {
            NameError::ManyAt { name: lossy() }
        } else {
            NameError::BadChar {
                name: lossy(),
                byte,
                offset,
            }
        };
        return Err(HandshakeError::BadName { source });
    }
    Ok(lossy())
}
