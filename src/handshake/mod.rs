//! The distribution handshake (PROTOCOL.md §2), both roles.
//!
//! The protocol core is sans-IO: [`Initiator`] and [`Acceptor`] take handshake
//! message payloads (without their length prefix) and return the payloads to
//! send, the decisions they need from the node, and finally an
//! [`Established`] outcome. They hold no socket and no clock. [`io`] drives them
//! over any tokio stream with 2-byte (TCP) or 4-byte (TLS) framing and the
//! per-step timer.
//!
//! Behaviour follows `lib/kernel/src/dist_util.erl` (OTP 25 and later):
//! * always send the v6 `'N'` send_name; accept `'N'`, and `'n'` followed by `'c'`;
//! * every status (`ok`, `ok_simultaneous`, `nok`, `not_allowed`, `alive`, `named:`);
//! * refuse peers lacking mandatory flags (after expanding MANDATORY_25_DIGEST),
//!   naming the missing flags; keep the intersection of both flag sets;
//! * the initiator requires the acceptor's name to be exactly the dialled name;
//! * digests are MD5(cookie ++ decimal challenge), compared in constant time.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod acceptor;
pub mod digest;
pub mod flags;
pub mod initiator;
pub mod io;
pub mod message;

use std::fmt;
use std::time::Duration;

pub use acceptor::{Acceptor, AcceptorConfig, AcceptorStep};
pub use flags::DistFlags;
pub use initiator::{Initiator, InitiatorConfig, InitiatorStep, OurName};
pub use io::{Framing, HandshakeOptions, accept, connect, connect_with};

use crate::name::{NameError, NodeName};

/// Each handshake step must finish within this time; the timer restarts after
/// every step (OTP's `net_setuptime` default, 7 s, `net_kernel:connecttime/0`).
pub const HANDSHAKE_STEP_TIMEOUT: Duration = Duration::from_secs(7);

/// The largest `net_setuptime` OTP accepts (120 s); longer settings are capped.
pub const MAX_HANDSHAKE_STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// The largest handshake message accepted, in bytes. The longest legal one is a
/// challenge with a 255-byte name (274 bytes), but OTP ignores trailing bytes in
/// some messages, so we allow what 2-byte framing can carry (`{packet,2}`) and
/// apply the same bound to 4-byte (TLS) framing.
pub const MAX_HANDSHAKE_MSG_LEN: usize = u16::MAX as usize;

/// Our version number in the old `'n'` send_name (5; OTP 23+ sends `'N'` instead).
pub const OLD_HANDSHAKE_VERSION: u16 = 5;

/// The smallest creation a node should use: 0 is reserved (it means "no
/// creation", e.g. in a NAME_ME send_name) and old EPMDs hand out 1..=3
/// (PROTOCOL.md §1.1, §7 item 15).
pub const MIN_CREATION: u32 = 4;

/// A random creation in `[MIN_CREATION, u32::MAX]` for a node that does not
/// register with EPMD, like `net_kernel:create_creation/0`.
pub fn random_creation() -> u32 {
    use rand::Rng;
    rand::rngs::OsRng.gen_range(MIN_CREATION..=u32::MAX)
}

/// A status the acceptor answers to a send_name (PROTOCOL.md §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Continue.
    Ok,
    /// Continue; the acceptor dropped its own attempt to the initiator.
    OkSimultaneous,
    /// The acceptor's own simultaneous attempt wins; the initiator must stop.
    Nok,
    /// The initiator is not allowed (allow list, or missing flags).
    NotAllowed,
    /// The acceptor still has a connection up to this name; the initiator says
    /// whether this is a new attempt (`strue`) or not (`sfalse`).
    Alive,
    /// The initiator asked for a dynamic name (NAME_ME) and gets this one.
    Named {
        /// The full name assigned to the initiator.
        name: NodeName,
        /// Its creation.
        creation: u32,
    },
}

impl Status {
    /// The status word as it appears after `'s'` (`named:` without its data).
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::OkSimultaneous => "ok_simultaneous",
            Status::Nok => "nok",
            Status::NotAllowed => "not_allowed",
            Status::Alive => "alive",
            Status::Named { .. } => "named:",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// OTP's tie-break when a send_name arrives from `peer` while our own attempt
/// to `peer` is pending (`net_kernel` `accept_pending`): if our name is greater
/// (atom order) we answer `nok` and our attempt survives; otherwise we drop our
/// attempt and answer `ok_simultaneous`.
pub fn simultaneous_status(my_name: &NodeName, peer_name: &NodeName) -> Status {
    if my_name > peer_name {
        Status::Nok
    } else {
        Status::OkSimultaneous
    }
}

/// Which side of the handshake we were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We dialled.
    Initiator,
    /// We accepted.
    Acceptor,
}

/// The name a connecting peer sent in its send_name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerName {
    /// An ordinary node name.
    Node(NodeName),
    /// Only a host: the peer asked for a dynamic name (NAME_ME) and must be
    /// answered with [`Status::Named`] (or refused).
    Dynamic {
        /// The host the generated name must use.
        host: String,
    },
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerName::Node(n) => n.fmt(f),
            PeerName::Dynamic { host } => write!(f, "<dynamic name>@{host}"),
        }
    }
}

/// What the acceptor knows about a connecting peer when it must pick a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The name it sent.
    pub name: PeerName,
    /// Its advertised flags, with MANDATORY_25_DIGEST expanded.
    pub flags: DistFlags,
    /// Its creation; `None` when it sent the old `'n'` (the creation arrives in
    /// the complement later).
    pub creation: Option<u32>,
}

/// The outcome of a successful handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Established {
    /// Which side we were.
    pub role: Role,
    /// The peer's node name (for a NAME_ME peer we accepted: the name we gave it).
    pub peer_name: NodeName,
    /// The peer's creation.
    pub peer_creation: u32,
    /// The peer's advertised flags, with MANDATORY_25_DIGEST expanded.
    pub peer_flags: DistFlags,
    /// The flags the connection uses: ours ∩ the peer's (both sides keep this).
    pub negotiated_flags: DistFlags,
    /// Our node name (changed by `named:` when we asked for a dynamic name).
    pub our_name: NodeName,
    /// Our creation (changed by `named:`).
    pub our_creation: u32,
    /// True unless both sides set PUBLISHED (then both list each other in `nodes()`).
    pub hidden: bool,
}

/// Why a handshake failed. Messages say what happened and what to do; none
/// contains a cookie.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Reading or writing the socket failed.
    #[error("I/O error during the distribution handshake: {0}")]
    Io(#[from] std::io::Error),
    /// A step took longer than the step timer.
    #[error(
        "handshake step timed out after {after:?} while {step} (net_setuptime); \
         the peer is too slow or not an Erlang node; raise the setup time if the network is slow"
    )]
    Timeout {
        /// What we were doing.
        step: &'static str,
        /// The timer.
        after: Duration,
    },
    /// The peer closed the connection mid-handshake.
    #[error("the peer closed the connection while {step}; {hint}")]
    Closed {
        /// What we were doing.
        step: &'static str,
        /// What it probably means.
        hint: &'static str,
    },
    /// The acceptor closed right after our challenge reply: how a BEAM refuses
    /// a wrong cookie.
    #[error(
        "{peer} closed the connection after our challenge reply, which is how a node rejects \
         a wrong cookie; use the same cookie as {peer} (--cookie, or a per-node cookie)"
    )]
    CookieRejected {
        /// The node we dialled.
        peer: NodeName,
    },
    /// (Acceptor) the initiator's digest is wrong: its cookie differs from ours.
    #[error(
        "connection attempt from node {peer} rejected: invalid challenge reply, its cookie \
         differs from ours; use the same cookie on both nodes (or a per-node cookie for {peer})"
    )]
    InvalidChallengeReply {
        /// The connecting node.
        peer: NodeName,
    },
    /// (Initiator) the acceptor's digest is wrong: its cookie differs from ours.
    #[error(
        "connection attempt to node {peer} cancelled: invalid challenge ack, its cookie differs \
         from ours; use the same cookie on both nodes (or a per-node cookie for {peer})"
    )]
    InvalidChallengeAck {
        /// The node we dialled.
        peer: NodeName,
    },
    /// The peer lacks flags we require.
    #[error(
        "peer {peer} lacks mandatory flags: {missing}; it is too old or an incomplete \
         distribution implementation (OTP 26+ requires V4_NC and UNLINK_ID)"
    )]
    MissingFlags {
        /// The peer.
        peer: String,
        /// The required flags it did not advertise.
        missing: DistFlags,
    },
    /// The acceptor answered `not_allowed`.
    #[error(
        "{peer} answered not_allowed: it refuses this node, because of its allow list \
         (net_kernel:allow/1) or because our flags lack something it requires; check its log"
    )]
    NotAllowed {
        /// The node we dialled.
        peer: NodeName,
    },
    /// The acceptor answered `nok`: its own simultaneous attempt to us wins.
    #[error(
        "{peer} answered nok: it is connecting to us at the same time and its attempt wins \
         (its name is greater); drop this attempt and use its incoming connection"
    )]
    Nok {
        /// The node we dialled.
        peer: NodeName,
    },
    /// The `alive` exchange ended with "not a new attempt".
    #[error(
        "{peer} still has a connection up to this node name and the handshake was told it is \
         not a new attempt (sfalse); the old connection stays; if the old one is dead, retry \
         once it has timed out"
    )]
    AliveRefused {
        /// The peer.
        peer: NodeName,
    },
    /// (Acceptor) we refused the peer with this status.
    #[error("refused the connection from {peer} with status {status}")]
    Refused {
        /// The peer.
        peer: String,
        /// What we answered (`nok` or `not_allowed`).
        status: &'static str,
    },
    /// The acceptor's challenge carries another name than the one we dialled.
    #[error(
        "we dialled {dialled} but the node answered as {answered}; dial the exact name the node \
         uses (same host part, short vs long name)"
    )]
    NameMismatch {
        /// The name we dialled.
        dialled: NodeName,
        /// The name in its challenge.
        answered: String,
    },
    /// The peer sent an invalid node name.
    #[error("the peer sent an invalid node name: {source}")]
    BadName {
        /// Why.
        #[source]
        source: NameError,
    },
    /// A handshake message could not be parsed.
    #[error(
        "malformed {message} message: {detail}; the peer does not speak the Erlang \
         distribution handshake (OTP 23+)"
    )]
    Malformed {
        /// Which message.
        message: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A message with the wrong tag for this step.
    #[error(
        "expected {expected} but got a message tagged {tag:?}; the peer does not speak \
         the Erlang distribution handshake (OTP 23+)"
    )]
    UnexpectedMessage {
        /// What we waited for.
        expected: &'static str,
        /// The tag byte we got (as a char when printable).
        tag: char,
    },
    /// An unknown or misplaced status.
    #[error("unexpected status {status:?} from {peer}: {detail}")]
    UnexpectedStatus {
        /// The peer.
        peer: NodeName,
        /// The status text.
        status: String,
        /// Why it is unexpected.
        detail: &'static str,
    },
    /// The peer sent the pre-OTP-23 challenge (`'n'`).
    #[error(
        "{peer} sent an old 'n' challenge: it runs OTP 22 or older, which erlnode does not \
         support; upgrade it to OTP 23 or later"
    )]
    OldChallenge {
        /// The node we dialled.
        peer: NodeName,
    },
    /// A frame longer than [`MAX_HANDSHAKE_MSG_LEN`].
    #[error(
        "handshake message of {len} bytes exceeds the limit of {max}; the peer is not an \
         Erlang node or uses another framing (TLS distribution uses 4-byte lengths)"
    )]
    FrameTooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The caller used the state machine wrongly (a bug in the caller).
    #[error("handshake state machine misused: {0}")]
    Misuse(&'static str),
}

impl HandshakeError {
    /// True for every error that means "the cookies differ".
    pub fn is_cookie_mismatch(&self) -> bool {
        matches!(
            self,
            HandshakeError::CookieRejected { .. }
                | HandshakeError::InvalidChallengeReply { .. }
                | HandshakeError::InvalidChallengeAck { .. }
        )
    }

    pub(crate) fn malformed(message: &'static str, detail: impl Into<String>) -> HandshakeError {
        HandshakeError::Malformed {
            message,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tie_break_by_atom_order() {
        let a = NodeName::parse("a@vm").unwrap();
        let b = NodeName::parse("b@vm").unwrap();
        // b > a: b keeps its own attempt and answers nok to a.
        assert_eq!(simultaneous_status(&b, &a), Status::Nok);
        assert_eq!(simultaneous_status(&a, &b), Status::OkSimultaneous);
        assert_eq!(simultaneous_status(&a, &a), Status::OkSimultaneous);
    }

    #[test]
    fn random_creation_is_at_least_4() {
        for _ in 0..100 {
            assert!(random_creation() >= MIN_CREATION);
        }
    }

    #[test]
    fn errors_name_their_cause() {
        let peer = NodeName::parse("x@vm").unwrap();
        let e = HandshakeError::MissingFlags {
            peer: peer.to_string(),
            missing: DistFlags::V4_NC | DistFlags::UNLINK_ID,
        };
        assert!(
            e.to_string()
                .contains("peer x@vm lacks mandatory flags: UNLINK_ID, V4_NC")
        );
        assert!(HandshakeError::CookieRejected { peer }.is_cookie_mismatch());
    }
}
