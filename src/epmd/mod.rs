//! EPMD, the Erlang Port Mapper Daemon protocol: wire messages, an async
//! client and an embedded server.
//!
//! * [`wire`]: every request and reply as bytes, with no IO (PROTOCOL.md §1).
//! * [`client`]: register a node (holding the registration socket open for
//!   the node's lifetime), look names up, list them.
//! * [`server`]: an EPMD that follows OTP's `epmd_srv.c` rules, for machines
//!   where no `epmd` runs, and [`start_embedded_if_absent`] for the node.
//!
//! Sources: `erts/epmd/src/epmd_srv.c`, `lib/kernel/src/erl_epmd.erl`,
//! `erts/doc/guides/erl_dist_protocol.md` ("EPMD Protocol").

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod client;
pub(crate) mod registry;
pub mod server;
pub mod wire;

pub use client::{
    CloseReason, EPMD_PORT, EPMD_PORT_ENV, EpmdClient, Registration, dump, epmd_port, names,
    port_please, register,
};
pub use server::{EpmdServer, ServerConfig, start_embedded_if_absent};
pub use wire::{DumpEntry, DumpReply, KillReply, NamesReply, NodeEntry};

use std::net::SocketAddr;
use std::time::Duration;

/// Everything that can go wrong talking to or serving EPMD.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EpmdError {
    /// A node name EPMD cannot take.
    #[error("invalid node name {name:?}: {why}")]
    InvalidName {
        /// The name (lossy UTF-8).
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An ALIVE2 Extra field longer than EPMD stores.
    #[error("ALIVE2 extra field is {len} bytes; EPMD accepts at most {max}")]
    ExtraTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A request whose `Len` field is 0 or too large.
    #[error("EPMD request length {len} is outside 1..={max}; the connection is dropped")]
    BadRequestLength {
        /// The length read.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A request with an opcode EPMD does not know.
    #[error("unknown EPMD request opcode {0}; the connection is dropped")]
    UnknownOpcode(u8),
    /// A request whose body does not parse.
    #[error("malformed EPMD request: {0}; the connection is dropped")]
    MalformedRequest(&'static str),
    /// EPMD answered something we cannot parse.
    #[error("unexpected EPMD reply to {request}: {detail}")]
    UnexpectedReply {
        /// The request we sent.
        request: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// `ERL_EPMD_PORT` is set to something that is not a port.
    #[error("ERL_EPMD_PORT={value:?} is not a port number (1-65535); fix or unset it")]
    BadEpmdPortEnv {
        /// The variable's value.
        value: String,
    },
    /// The host name did not resolve.
    #[error("cannot resolve host {host:?} to find its EPMD: {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's message.
        reason: String,
    },
    /// No EPMD accepts connections there.
    #[error(
        "cannot connect to EPMD at {addr}: {reason}; is epmd running there? \
         (start one with `epmd -daemon` or `erlnode epmd`, or set ERL_EPMD_PORT)"
    )]
    Connect {
        /// The address tried (the last one, when the host had several).
        addr: SocketAddr,
        /// The OS error.
        reason: String,
    },
    /// Reading or writing the EPMD socket failed.
    #[error("EPMD connection to {addr} failed during {during}: {reason}")]
    Io {
        /// The EPMD address.
        addr: SocketAddr,
        /// What we were doing.
        during: &'static str,
        /// The OS error.
        reason: String,
    },
    /// EPMD did not answer in time.
    #[error("EPMD at {addr} did not answer {request} within {after:?}")]
    Timeout {
        /// The EPMD address.
        addr: SocketAddr,
        /// The request.
        request: &'static str,
        /// The time limit.
        after: Duration,
    },
    /// EPMD closed the connection instead of answering ALIVE2. OTP's epmd
    /// does this silently for registrations that do not come from loopback.
    #[error(
        "EPMD at {addr} closed the connection without answering the registration of {name:?}; \
         EPMD accepts registrations only from the local host"
    )]
    RegistrationIgnored {
        /// The EPMD address.
        addr: SocketAddr,
        /// The name.
        name: String,
    },
    /// EPMD refused the registration (OTP: the name is in use).
    #[error(
        "EPMD at {addr} refused to register {name:?} (result {result}): another node probably \
         uses that name; stop it or pick another name"
    )]
    NameRefused {
        /// The EPMD address.
        addr: SocketAddr,
        /// The name.
        name: String,
        /// EPMD's result code.
        result: u8,
    },
    /// A reply larger than any EPMD sends.
    #[error("EPMD at {addr} sent more than {max} bytes in reply to {request}")]
    ReplyTooLong {
        /// The EPMD address.
        addr: SocketAddr,
        /// The request.
        request: &'static str,
        /// The limit.
        max: usize,
    },
    /// The server could not listen.
    #[error("cannot listen for EPMD on {addr}: {reason}{hint}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        reason: String,
        /// What to do about it.
        hint: &'static str,
        /// The OS error kind, to tell "in use" apart.
        kind: std::io::ErrorKind,
    },
}

impl EpmdError {
    /// True for a bind error because the address is in use, i.e. another
    /// EPMD (or something else) already listens there.
    pub fn is_addr_in_use(&self) -> bool {
        matches!(self, EpmdError::Bind { kind, .. } if *kind == std::io::ErrorKind::AddrInUse)
    }
}
