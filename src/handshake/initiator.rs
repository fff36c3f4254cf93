//! The side that dials (`dist_util:handshake_we_started/1`), sans-IO.
//!
//! ```text
//! new()            -> send_name 'N'
//! receive(status)  -> ok / ok_simultaneous / named:   => Continue (nothing to send)
//!                     alive                           => AliveQuery, then answer_alive()
//!                     nok / not_allowed               => Err
//! receive('N')     -> Continue { send: ['r'] }
//! receive('a')     -> Done(Established)
//! ```
//! A failed or finished initiator answers every further call with `Misuse`.

use super::digest::{Digest, digest, digests_equal, gen_challenge};
use super::flags::DistFlags;
use super::message::{Challenge, ChallengeAck, ChallengeReply, SendName, encode_alive_answer};
use super::{Established, HandshakeError, Role, Status};
use crate::cookie::CookieJar;
use crate::name::NodeName;

/// Who we say we are in send_name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OurName {
    /// A static name and its creation (EPMD's, or any value ≥ 4 when not registered).
    Static {
        /// Our node name.
        name: NodeName,
        /// Our creation.
        creation: u32,
    },
    /// Ask the acceptor for a dynamic name (DFLAG_NAME_ME) on this host; the
    /// outcome carries the name and creation it assigns (`named:`).
    Dynamic {
        /// Our host (the part after `@` of the name we will get).
        host: String,
    },
}

/// Everything the initiator needs.
#[derive(Debug, Clone)]
pub struct InitiatorConfig {
    /// Who we are.
    pub our_name: OurName,
    /// The node we dial; its challenge must carry exactly this name.
    pub peer: NodeName,
    /// Flags we advertise (default [`DistFlags::RECOMMENDED_HIDDEN`]).
    pub flags: DistFlags,
    /// Flags the peer must have, after MANDATORY_25_DIGEST expansion
    /// (default [`DistFlags::MANDATORY_26`]).
    pub required_flags: DistFlags,
    /// Our cookies; the one for [`InitiatorConfig::peer`] is used.
    pub cookies: CookieJar,
}

impl InitiatorConfig {
    /// A static-name initiator with the recommended hidden-node flags.
    pub fn new(
        our_name: NodeName,
        creation: u32,
        peer: NodeName,
        cookies: impl Into<CookieJar>,
    ) -> InitiatorConfig {
        InitiatorConfig {
            our_name: OurName::Static {
                name: our_name,
                creation,
            },
            peer,
            flags: DistFlags::RECOMMENDED_HIDDEN,
            required_flags: DistFlags::MANDATORY_26,
            cookies: cookies.into(),
        }
    }

    /// An initiator asking `peer` for a dynamic name on `host`.
    pub fn dynamic(host: &str, peer: NodeName, cookies: impl Into<CookieJar>) -> InitiatorConfig {
        InitiatorConfig {
            our_name: OurName::Dynamic {
                host: host.to_string(),
            },
            peer,
            flags: DistFlags::RECOMMENDED_HIDDEN,
            required_flags: DistFlags::MANDATORY_26,
            cookies: cookies.into(),
        }
    }
}

/// What to do after feeding the initiator.
#[derive(Debug)]
pub enum InitiatorStep {
    /// Send these messages (maybe none) and pass the next received message to
    /// [`Initiator::receive`].
    Continue {
        /// Payloads to send, in order.
        send: Vec<Vec<u8>>,
    },
    /// The acceptor answered `alive`: it still has a connection up under our
    /// name. Call [`Initiator::answer_alive`] with `true` if this really is a
    /// new attempt (it then drops the old connection), `false` to give up.
    AliveQuery,
    /// Send `send`, then close: the handshake failed with `error`.
    Reject {
        /// Last payload.
        send: Vec<u8>,
        /// Why.
        error: HandshakeError,
    },
    /// The handshake succeeded; switch to 4-byte framing.
    Done(Established),
}

#[derive(Debug)]
enum State {
    ExpectStatus,
    AwaitAliveAnswer,
    ExpectChallenge,
    ExpectAck {
        our_challenge: u32,
        peer_flags: DistFlags,
        negotiated: DistFlags,
        peer_creation: u32,
    },
    Finished,
}

/// The initiator's state machine.
#[derive(Debug)]
pub struct Initiator {
    cfg: InitiatorConfig,
    /// Our name and creation, once known (static: from the start; dynamic: after `named:`).
    identity: Option<(NodeName, u32)>,
    state: State,
}

impl Initiator {
    /// Starts a handshake: returns the machine and the send_name payload to send.
    ///
    /// Fails with `Misuse` when a static name has creation 0 (reserved).
    pub fn new(cfg: InitiatorConfig) -> Result<(Initiator, Vec<u8>), HandshakeError> {
        if matches!(cfg.our_name, OurName::Static { creation: 0, .. }) {
            return Err(HandshakeError::Misuse(
                "our creation is 0, which is reserved; use the EPMD creation or \
                 handshake::random_creation()",
            ));
        }
        let (msg, identity) = match &cfg.our_name {
            OurName::Static { name, creation } => (
                SendName::new(
                    cfg.flags.difference(DistFlags::NAME_ME),
                    *creation,
                    name.as_bytes(),
                ),
                Some((name.clone(), *creation)),
            ),
            OurName::Dynamic { host } => (
                SendName::new(
                    cfg.flags
                        .union(DistFlags::NAME_ME)
                        .difference(DistFlags::PUBLISHED),
                    0,
                    host.as_bytes(),
                ),
                None,
            ),
        };
        let payload = msg.encode()?;
        Ok((
            Initiator {
                cfg,
                identity,
                state: State::ExpectStatus,
            },
            payload,
        ))
    }

    /// The node being dialled.
    pub fn peer(&self) -> &NodeName {
        &self.cfg.peer
    }

    /// What we are waiting for, for timeouts and log lines.
    pub fn waiting_for(&self) -> &'static str {
        match self.state {
            State::ExpectStatus => "waiting for the status after our send_name",
            State::AwaitAliveAnswer => "deciding the answer to alive",
            State::ExpectChallenge => "waiting for the challenge",
            State::ExpectAck { .. } => "waiting for the challenge ack",
            State::Finished => "finished",
        }
    }

    /// The error for "the peer closed the connection now".
    pub fn closed_error(&self) -> HandshakeError {
        match self.state {
            State::ExpectAck { .. } => HandshakeError::CookieRejected {
                peer: self.cfg.peer.clone(),
            },
            State::ExpectStatus => HandshakeError::Closed {
                step: "waiting for the status after our send_name",
                hint: "the peer refused our node name or flags, or it is OTP 25.0-25.2 and we \
                       sent an old send_name; check its log",
            },
            _ => HandshakeError::Closed {
                step: self.waiting_for(),
                hint: "check the peer's log",
            },
        }
    }

    /// Feeds one received handshake message payload.
    pub fn receive(&mut self, payload: &[u8]) -> Result<InitiatorStep, HandshakeError> {
        let state = std::mem::replace(&mut self.state, State::Finished);
        match state {
            State::ExpectStatus => self.on_status(payload),
            State::ExpectChallenge => self.on_challenge(payload),
            State::ExpectAck {
                our_challenge,
                peer_flags,
                negotiated,
                peer_creation,
            } => self.on_ack(
                payload,
                our_challenge,
                peer_flags,
                negotiated,
                peer_creation,
            ),
            State::AwaitAliveAnswer => Err(HandshakeError::Misuse(
                "receive() called while an answer to alive is due; call answer_alive()",
            )),
            State::Finished => Err(HandshakeError::Misuse(
                "receive() called on a finished handshake",
            )),
        }
    }

    /// Answers the acceptor's `alive` (after [`InitiatorStep::AliveQuery`]).
    pub fn answer_alive(&mut self, new_attempt: bool) -> Result<InitiatorStep, HandshakeError> {
        if !matches!(self.state, State::AwaitAliveAnswer) {
            self.state = State::Finished;
            return Err(HandshakeError::Misuse(
                "answer_alive() called without a pending alive status",
            ));
        }
        let send = encode_alive_answer(new_attempt);
        if new_attempt {
            self.state = State::ExpectChallenge;
            Ok(InitiatorStep::Continue { send: vec![send] })
        } else {
            self.state = State::Finished;
            Ok(InitiatorStep::Reject {
                send,
                error: HandshakeError::AliveRefused {
                    peer: self.cfg.peer.clone(),
                },
            })
        }
    }

    fn unexpected(&self, status: &Status, detail: &'static str) -> HandshakeError {
        HandshakeError::UnexpectedStatus {
            peer: self.cfg.peer.clone(),
            status: status.as_str().to_string(),
            detail,
        }
    }

    fn on_status(&mut self, payload: &[u8]) -> Result<InitiatorStep, HandshakeError> {
        let status = Status::parse(payload)?;
        let peer = self.cfg.peer.clone();
        let dynamic = matches!(self.cfg.our_name, OurName::Dynamic { .. });
        match status {
            Status::NotAllowed => Err(HandshakeError::NotAllowed { peer }),
            Status::Nok if !dynamic => Err(HandshakeError::Nok { peer }),
            Status::Ok | Status::OkSimultaneous if !dynamic => {
                self.state = State::ExpectChallenge;
                Ok(InitiatorStep::Continue { send: Vec::new() })
            }
            Status::Alive if !dynamic => {
                self.state = State::AwaitAliveAnswer;
                Ok(InitiatorStep::AliveQuery)
            }
            Status::Named { name, creation } => {
                let OurName::Dynamic { host } = &self.cfg.our_name else {
                    return Err(self.unexpected(
                        &Status::Named { name, creation },
                        "we did not ask for a dynamic name",
                    ));
                };
                if name.host() != host {
                    return Err(HandshakeError::UnexpectedStatus {
                        peer,
                        status: format!("named:{name}"),
                        detail: "the assigned name is not on the host we asked for",
                    });
                }
                self.identity = Some((name, creation));
                self.state = State::ExpectChallenge;
                Ok(InitiatorStep::Continue { send: Vec::new() })
            }
            other => Err(self.unexpected(
                &other,
                "we asked for a dynamic name and expected named: or not_allowed",
            )),
        }
    }

    fn on_challenge(&mut self, payload: &[u8]) -> Result<InitiatorStep, HandshakeError> {
        let ch = Challenge::parse(payload)?;
        let peer = &self.cfg.peer;
        if ch.name != peer.as_bytes() {
            return Err(HandshakeError::NameMismatch {
                dialled: peer.clone(),
                answered: String::from_utf8_lossy(&ch.name).into_owned(),
            });
        }
        let Some(peer_creation) = ch.creation else {
            return Err(HandshakeError::OldChallenge { peer: peer.clone() });
        };
        let peer_flags = ch.flags.expand_mandatory_25();
        let missing = peer_flags.missing(self.cfg.required_flags);
        if !missing.is_empty() {
            return Err(HandshakeError::MissingFlags {
                peer: peer.to_string(),
                missing,
            });
        }
        let negotiated = self.sent_flags().expand_mandatory_25() & peer_flags;
        let our_challenge = gen_challenge();
        let cookie = self.cfg.cookies.cookie_for(peer);
        let reply = ChallengeReply {
            challenge: our_challenge,
            digest: digest(ch.challenge, cookie),
        };
        self.state = State::ExpectAck {
            our_challenge,
            peer_flags,
            negotiated,
            peer_creation,
        };
        Ok(InitiatorStep::Continue {
            send: vec![reply.encode()],
        })
    }

    fn on_ack(
        &mut self,
        payload: &[u8],
        our_challenge: u32,
        peer_flags: DistFlags,
        negotiated: DistFlags,
        peer_creation: u32,
    ) -> Result<InitiatorStep, HandshakeError> {
        let ack = ChallengeAck::parse(payload)?;
        let peer = &self.cfg.peer;
        let want: Digest = digest(our_challenge, self.cfg.cookies.cookie_for(peer));
        if !digests_equal(&want, &ack.digest) {
            return Err(HandshakeError::InvalidChallengeAck { peer: peer.clone() });
        }
        let Some((our_name, our_creation)) = self.identity.clone() else {
            return Err(HandshakeError::Misuse("no identity after the status step"));
        };
        Ok(InitiatorStep::Done(Established {
            role: Role::Initiator,
            peer_name: peer.clone(),
            peer_creation,
            peer_flags,
            negotiated_flags: negotiated,
            our_name,
            our_creation,
            hidden: !negotiated.contains(DistFlags::PUBLISHED),
        }))
    }

    fn sent_flags(&self) -> DistFlags {
        match self.cfg.our_name {
            OurName::Static { .. } => self.cfg.flags.difference(DistFlags::NAME_ME),
            OurName::Dynamic { .. } => self
                .cfg
                .flags
                .union(DistFlags::NAME_ME)
                .difference(DistFlags::PUBLISHED),
        }
    }
}
