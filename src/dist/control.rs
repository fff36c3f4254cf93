//! Distribution control messages (PROTOCOL.md §4), decoded into [`Signal`]s
//! and encoded back in the form the negotiated flags call for.
//!
//! The wire has several spellings of one signal: `SEND`, `SEND_SENDER` and
//! their `_TT` trace variants; `EXIT` and `PAYLOAD_EXIT`; and so on. A
//! [`Signal`] is the meaning; [`encode_frame`] picks the spelling the BEAM
//! would use for the peer's flags, and [`decode_frame`] accepts every
//! spelling, as the BEAM does. Sequential-trace tokens are accepted and
//! dropped (erlnode does not take part in `seq_trace`).
//!
//! This module is sans-IO.

use crate::handshake::DistFlags;
use crate::term::{
    Atom, AtomCacheWriter, DecodeError, DecodeLimits, Decoder, EncodeError, MAX_ATOM_CHARS, Pid,
    Reference, SHARE_MIN_BINARY, Term,
};
use bytes::Bytes;

/// Control message operation codes (`enum dop` in OTP's `dist.h`).
#[allow(missing_docs)]
pub mod op {
    pub const LINK: u8 = 1;
    pub const SEND: u8 = 2;
    pub const EXIT: u8 = 3;
    pub const UNLINK: u8 = 4;
    pub const NODE_LINK: u8 = 5;
    pub const REG_SEND: u8 = 6;
    pub const GROUP_LEADER: u8 = 7;
    pub const EXIT2: u8 = 8;
    pub const SEND_TT: u8 = 12;
    pub const EXIT_TT: u8 = 13;
    pub const REG_SEND_TT: u8 = 16;
    pub const EXIT2_TT: u8 = 18;
    pub const MONITOR_P: u8 = 19;
    pub const DEMONITOR_P: u8 = 20;
    pub const MONITOR_P_EXIT: u8 = 21;
    pub const SEND_SENDER: u8 = 22;
    pub const SEND_SENDER_TT: u8 = 23;
    pub const PAYLOAD_EXIT: u8 = 24;
    pub const PAYLOAD_EXIT_TT: u8 = 25;
    pub const PAYLOAD_EXIT2: u8 = 26;
    pub const PAYLOAD_EXIT2_TT: u8 = 27;
    pub const PAYLOAD_MONITOR_P_EXIT: u8 = 28;
    pub const SPAWN_REQUEST: u8 = 29;
    pub const SPAWN_REQUEST_TT: u8 = 30;
    pub const SPAWN_REPLY: u8 = 31;
    pub const SPAWN_REPLY_TT: u8 = 32;
    pub const ALIAS_SEND: u8 = 33;
    pub const ALIAS_SEND_TT: u8 = 34;
    pub const UNLINK_ID: u8 = 35;
    pub const UNLINK_ID_ACK: u8 = 36;
    pub const ALTACT_SIG_SEND: u8 = 37;
}

/// `ALTACT_SIG_SEND` flag bits (OTP 28).
mod altact {
    pub const TOKEN: i64 = 2;
    pub const ALIAS: i64 = 4;
    pub const NAME: i64 = 8;
    pub const EXIT: i64 = 16;
}

/// Pass-through message marker (PROTOCOL.md §3.2).
pub const PASS_THROUGH: u8 = 112;

/// External term format tags the message fast paths read and write
/// (`erl_ext_dist`); everything else goes through the general codec.
mod tag {
    pub const ATOM_CACHE_REF: u8 = 82;
    pub const NEW_PID_EXT: u8 = 88;
    pub const SMALL_INTEGER_EXT: u8 = 97;
    pub const SMALL_TUPLE_EXT: u8 = 104;
    pub const SMALL_ATOM_EXT: u8 = 115;
    pub const ATOM_UTF8_EXT: u8 = 118;
    pub const SMALL_ATOM_UTF8_EXT: u8 = 119;
}

/// The target of a monitor: a pid, or a registered name on the peer's node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProcRef {
    /// A process.
    Pid(Pid),
    /// A registered name.
    Name(Atom),
}

impl ProcRef {
    fn to_term(&self) -> Term {
        match self {
            ProcRef::Pid(p) => Term::Pid(p.clone()),
            ProcRef::Name(a) => Term::Atom(a.clone()),
        }
    }
}

/// SPAWN_REPLY flag: a link was set up.
pub const SPAWN_REPLY_LINK: u32 = 1;
/// SPAWN_REPLY flag: a monitor was set up.
pub const SPAWN_REPLY_MONITOR: u32 = 2;

/// One distribution signal, whatever its spelling on the wire.
///
/// Fields are named after the elements of the control tuples in
/// PROTOCOL.md §4 (`from`, `to`, `reason`, `reference`, …).
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Signal {
    /// `SEND`/`SEND_SENDER` (and `_TT`): a message to a pid. `from` is absent
    /// when the peer used plain `SEND`.
    Send {
        from: Option<Pid>,
        to: Pid,
        msg: Term,
    },
    /// `REG_SEND`: a message to a registered name.
    RegSend { from: Pid, to: Atom, msg: Term },
    /// `ALIAS_SEND`: a message to an alias.
    AliasSend {
        from: Pid,
        alias: Reference,
        msg: Term,
    },
    /// `LINK`.
    Link { from: Pid, to: Pid },
    /// The old `UNLINK` (4), from peers without `UNLINK_ID`.
    Unlink { from: Pid, to: Pid },
    /// `UNLINK_ID`.
    UnlinkId { id: u64, from: Pid, to: Pid },
    /// `UNLINK_ID_ACK`.
    UnlinkIdAck { id: u64, from: Pid, to: Pid },
    /// `EXIT`/`PAYLOAD_EXIT`: a linked process ended.
    Exit { from: Pid, to: Pid, reason: Term },
    /// `EXIT2`/`PAYLOAD_EXIT2`: `exit(To, Reason)`.
    Exit2 { from: Pid, to: Pid, reason: Term },
    /// `GROUP_LEADER`: set `to`'s group leader to `from`.
    GroupLeader { from: Pid, to: Pid },
    /// `MONITOR_P`.
    Monitor {
        from: Pid,
        target: ProcRef,
        reference: Reference,
    },
    /// `DEMONITOR_P`.
    Demonitor {
        from: Pid,
        target: ProcRef,
        reference: Reference,
    },
    /// `MONITOR_P_EXIT`/`PAYLOAD_MONITOR_P_EXIT`: a monitored process ended.
    /// `from` is the pid or name that was monitored.
    MonitorExit {
        from: ProcRef,
        to: Pid,
        reference: Reference,
        reason: Term,
    },
    /// `SPAWN_REQUEST`.
    SpawnRequest {
        req_id: Reference,
        from: Pid,
        group_leader: Pid,
        module: Atom,
        function: Atom,
        args: Term,
        opts: Term,
    },
    /// `SPAWN_REPLY`: `result` is the new pid or an error atom.
    SpawnReply {
        req_id: Reference,
        to: Pid,
        flags: u32,
        result: Term,
    },
}

/// A control message that is not one the BEAM would accept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The packet could not be decoded.
    #[error("corrupted distribution message: {0}")]
    Decode(#[from] DecodeError),
    /// The packet is neither pass-through (112) nor a distribution header (131,68..70).
    #[error("unknown distribution message kind: first bytes {0:?}")]
    BadKind(Vec<u8>),
    /// A control tuple of the wrong shape or with the wrong element types.
    #[error("invalid distribution message (operation {op}): {why}")]
    Invalid {
        /// Operation code, or 0 when the control term was not a tuple.
        op: u8,
        /// What was wrong.
        why: &'static str,
    },
    /// An operation erlnode does not know (newer OTP, or garbage).
    #[error("unknown distribution operation {0}")]
    UnknownOp(i64),
    /// A message that needs a payload term came without one, or one that
    /// needs none came with extra bytes.
    #[error("distribution message (operation {op}): {why}")]
    Payload {
        /// Operation code.
        op: u8,
        /// What was wrong.
        why: &'static str,
    },
    /// A distribution header (131,68/69/70) the BEAM would reject.
    #[error("bad distribution header: {0}")]
    Header(#[from] crate::dist::header::HeaderError),
    /// The packet uses a header mode that was not negotiated.
    #[error("distribution header {0} used but not negotiated")]
    HeaderNotNegotiated(u8),
}

/// Decodes one pass-through data frame (`112, 131 Control, [131 Payload]`).
pub fn decode_frame(frame: &Bytes, limits: &DecodeLimits) -> Result<Signal, ControlError> {
    match frame.first() {
        Some(&PASS_THROUGH) => {
            let body = frame.slice(1..);
            let mut d = Decoder::shared(&body).with_limits(limits.clone());
            let ctrl = d.term_with_version()?;
            let payload = if d.is_at_end() {
                None
            } else {
                Some(d.term_with_version()?)
            };
            if !d.is_at_end() {
                return Err(ControlError::Payload {
                    op: 0,
                    why: "bytes after the payload term",
                });
            }
            Signal::from_terms(ctrl, payload)
        }
        _ => Err(ControlError::BadKind(
            frame.iter().take(2).copied().collect(),
        )),
    }
}

/// Element `i` of a control tuple; the arity checks make it present, and a
/// missing one is an invalid message rather than a panic.
fn el(t: &[Term], i: usize) -> Result<&Term, ControlError> {
    t.get(i).ok_or(ControlError::Invalid {
        op: 0,
        why: "control tuple too short",
    })
}

fn pid(t: &Term, op: u8, why: &'static str) -> Result<Pid, ControlError> {
    match t {
        Term::Pid(p) => Ok(p.clone()),
        _ => Err(ControlError::Invalid { op, why }),
    }
}

fn reference(t: &Term, op: u8, why: &'static str) -> Result<Reference, ControlError> {
    match t {
        Term::Ref(r) => Ok((**r).clone()),
        _ => Err(ControlError::Invalid { op, why }),
    }
}

fn atom(t: &Term, op: u8, why: &'static str) -> Result<Atom, ControlError> {
    match t {
        Term::Atom(a) => Ok(a.clone()),
        _ => Err(ControlError::Invalid { op, why }),
    }
}

fn proc_ref(t: &Term, op: u8, why: &'static str) -> Result<ProcRef, ControlError> {
    match t {
        Term::Pid(p) => Ok(ProcRef::Pid(p.clone())),
        Term::Atom(a) => Ok(ProcRef::Name(a.clone())),
        _ => Err(ControlError::Invalid { op, why }),
    }
}

fn unlink_id(t: &Term, op: u8) -> Result<u64, ControlError> {
    let bad = ControlError::Invalid {
        op,
        why: "unlink id must be an integer in 1..2^64-1",
    };
    let id = match t {
        Term::Int(i) => u64::try_from(*i).map_err(|_| bad.clone())?,
        Term::BigInt(b) => u64::try_from(b).map_err(|_| bad.clone())?,
        _ => return Err(bad),
    };
    if id == 0 {
        return Err(bad);
    }
    Ok(id)
}

impl Signal {
    /// Interprets a control tuple and its optional payload term.
    pub fn from_terms(ctrl: Term, payload: Option<Term>) -> Result<Signal, ControlError> {
        let t = match ctrl.as_tuple() {
            Some(t) if !t.is_empty() => t,
            _ => {
                return Err(ControlError::Invalid {
                    op: 0,
                    why: "control message is not a non-empty tuple",
                });
            }
        };
        let code = match el(t, 0)? {
            Term::Int(i) => *i,
            _ => {
                return Err(ControlError::Invalid {
                    op: 0,
                    why: "operation is not an integer",
                });
            }
        };
        let op = u8::try_from(code).map_err(|_| ControlError::UnknownOp(code))?;
        let arity = |n: usize| -> Result<(), ControlError> {
            if t.len() == n {
                Ok(())
            } else {
                Err(ControlError::Invalid {
                    op,
                    why: "wrong tuple arity",
                })
            }
        };
        let needs_payload = |p: Option<Term>| -> Result<Term, ControlError> {
            p.ok_or(ControlError::Payload {
                op,
                why: "payload term missing",
            })
        };
        let no_payload = |p: &Option<Term>| -> Result<(), ControlError> {
            if p.is_some() {
                Err(ControlError::Payload {
                    op,
                    why: "unexpected payload term",
                })
            } else {
                Ok(())
            }
        };
        use op::*;
        let sig = match op {
            LINK => {
                arity(3)?;
                no_payload(&payload)?;
                Signal::Link {
                    from: pid(el(t, 1)?, op, "from must be a pid")?,
                    to: pid(el(t, 2)?, op, "to must be a pid")?,
                }
            }
            SEND | SEND_TT => {
                arity(if op == SEND { 3 } else { 4 })?;
                Signal::Send {
                    from: None,
                    to: pid(el(t, 2)?, op, "to must be a pid")?,
                    msg: needs_payload(payload)?,
                }
            }
            SEND_SENDER | SEND_SENDER_TT => {
                arity(if op == SEND_SENDER { 3 } else { 4 })?;
                Signal::Send {
                    from: Some(pid(el(t, 1)?, op, "from must be a pid")?),
                    to: pid(el(t, 2)?, op, "to must be a pid")?,
                    msg: needs_payload(payload)?,
                }
            }
            EXIT | EXIT_TT | EXIT2 | EXIT2_TT => {
                let tt = op == EXIT_TT || op == EXIT2_TT;
                arity(if tt { 5 } else { 4 })?;
                no_payload(&payload)?;
                let from = pid(el(t, 1)?, op, "from must be a pid")?;
                let to = pid(el(t, 2)?, op, "to must be a pid")?;
                let reason = el(t, if tt { 4 } else { 3 })?.clone();
                if op == EXIT || op == EXIT_TT {
                    Signal::Exit { from, to, reason }
                } else {
                    Signal::Exit2 { from, to, reason }
                }
            }
            PAYLOAD_EXIT | PAYLOAD_EXIT_TT | PAYLOAD_EXIT2 | PAYLOAD_EXIT2_TT => {
                let tt = op == PAYLOAD_EXIT_TT || op == PAYLOAD_EXIT2_TT;
                arity(if tt { 4 } else { 3 })?;
                let from = pid(el(t, 1)?, op, "from must be a pid")?;
                let to = pid(el(t, 2)?, op, "to must be a pid")?;
                let reason = needs_payload(payload)?;
                if op == PAYLOAD_EXIT || op == PAYLOAD_EXIT_TT {
                    Signal::Exit { from, to, reason }
                } else {
                    Signal::Exit2 { from, to, reason }
                }
            }
            UNLINK => {
                arity(3)?;
                no_payload(&payload)?;
                Signal::Unlink {
                    from: pid(el(t, 1)?, op, "from must be a pid")?,
                    to: pid(el(t, 2)?, op, "to must be a pid")?,
                }
            }
            REG_SEND | REG_SEND_TT => {
                arity(if op == REG_SEND { 4 } else { 5 })?;
                Signal::RegSend {
                    from: pid(el(t, 1)?, op, "from must be a pid")?,
                    to: atom(el(t, 3)?, op, "name must be an atom")?,
                    msg: needs_payload(payload)?,
                }
            }
            GROUP_LEADER => {
                arity(3)?;
                no_payload(&payload)?;
                Signal::GroupLeader {
                    from: pid(el(t, 1)?, op, "group leader must be a pid")?,
                    to: pid(el(t, 2)?, op, "to must be a pid")?,
                }
            }
            MONITOR_P | DEMONITOR_P => {
                arity(4)?;
                no_payload(&payload)?;
                let from = pid(el(t, 1)?, op, "from must be a pid")?;
                let target = proc_ref(el(t, 2)?, op, "target must be a pid or an atom")?;
                let reference = reference(el(t, 3)?, op, "monitor reference must be a reference")?;
                if op == MONITOR_P {
                    Signal::Monitor {
                        from,
                        target,
                        reference,
                    }
                } else {
                    Signal::Demonitor {
                        from,
                        target,
                        reference,
                    }
                }
            }
            MONITOR_P_EXIT => {
                arity(5)?;
                no_payload(&payload)?;
                Signal::MonitorExit {
                    from: proc_ref(el(t, 1)?, op, "from must be a pid or an atom")?,
                    to: pid(el(t, 2)?, op, "to must be a pid")?,
                    reference: reference(el(t, 3)?, op, "monitor reference must be a reference")?,
                    reason: el(t, 4)?.clone(),
                }
            }
            PAYLOAD_MONITOR_P_EXIT => {
                arity(4)?;
                Signal::MonitorExit {
                    from: proc_ref(el(t, 1)?, op, "from must be a pid or an atom")?,
                    to: pid(el(t, 2)?, op, "to must be a pid")?,
                    reference: reference(el(t, 3)?, op, "monitor reference must be a reference")?,
                    reason: needs_payload(payload)?,
                }
            }
            SPAWN_REQUEST | SPAWN_REQUEST_TT => {
                arity(if op == SPAWN_REQUEST { 6 } else { 7 })?;
                let mfa =
                    el(t, 4)?
                        .as_tuple()
                        .filter(|m| m.len() == 3)
                        .ok_or(ControlError::Invalid {
                            op,
                            why: "{M,F,Arity} expected",
                        })?;
                let args = needs_payload(payload)?;
                let opts = el(t, 5)?.clone();
                if opts.as_list().is_none() {
                    return Err(ControlError::Invalid {
                        op,
                        why: "spawn options must be a proper list",
                    });
                }
                let arity = el(mfa, 2)?.as_i64().ok_or(ControlError::Invalid {
                    op,
                    why: "arity must be an integer",
                })?;
                if args.as_list().map(|a| a.len() as i64) != Some(arity) {
                    return Err(ControlError::Invalid {
                        op,
                        why: "argument list does not match the arity",
                    });
                }
                Signal::SpawnRequest {
                    req_id: reference(el(t, 1)?, op, "request id must be a reference")?,
                    from: pid(el(t, 2)?, op, "from must be a pid")?,
                    group_leader: pid(el(t, 3)?, op, "group leader must be a pid")?,
                    module: atom(el(mfa, 0)?, op, "module must be an atom")?,
                    function: atom(el(mfa, 1)?, op, "function must be an atom")?,
                    args,
                    opts,
                }
            }
            SPAWN_REPLY | SPAWN_REPLY_TT => {
                arity(if op == SPAWN_REPLY { 5 } else { 6 })?;
                no_payload(&payload)?;
                let flags = el(t, 3)?
                    .as_i64()
                    .and_then(|f| u32::try_from(f).ok())
                    .filter(|f| *f < 1 << 27)
                    .ok_or(ControlError::Invalid {
                        op,
                        why: "bad spawn reply flags",
                    })?;
                Signal::SpawnReply {
                    req_id: reference(el(t, 1)?, op, "request id must be a reference")?,
                    to: pid(el(t, 2)?, op, "to must be a pid")?,
                    flags,
                    result: el(t, 4)?.clone(),
                }
            }
            ALIAS_SEND | ALIAS_SEND_TT => {
                arity(if op == ALIAS_SEND { 3 } else { 4 })?;
                Signal::AliasSend {
                    from: pid(el(t, 1)?, op, "from must be a pid")?,
                    alias: reference(el(t, 2)?, op, "alias must be a reference")?,
                    msg: needs_payload(payload)?,
                }
            }
            UNLINK_ID | UNLINK_ID_ACK => {
                arity(4)?;
                no_payload(&payload)?;
                let id = unlink_id(el(t, 1)?, op)?;
                let from = pid(el(t, 2)?, op, "from must be a pid")?;
                let to = pid(el(t, 3)?, op, "to must be a pid")?;
                if op == UNLINK_ID {
                    Signal::UnlinkId { id, from, to }
                } else {
                    Signal::UnlinkIdAck { id, from, to }
                }
            }
            ALTACT_SIG_SEND => {
                if t.len() < 4 {
                    return Err(ControlError::Invalid {
                        op,
                        why: "wrong tuple arity",
                    });
                }
                let flags = el(t, 1)?.as_i64().ok_or(ControlError::Invalid {
                    op,
                    why: "flags must be an integer",
                })?;
                if flags & altact::TOKEN != 0 && t.len() < 5 {
                    return Err(ControlError::Invalid {
                        op,
                        why: "token flag without a token",
                    });
                }
                let from = pid(el(t, 2)?, op, "sender must be a pid")?;
                let body = needs_payload(payload)?;
                if flags & altact::EXIT != 0 {
                    Signal::Exit2 {
                        from,
                        to: pid(el(t, 3)?, op, "exit target must be a pid")?,
                        reason: body,
                    }
                } else if flags & altact::ALIAS != 0 {
                    Signal::AliasSend {
                        from,
                        alias: reference(el(t, 3)?, op, "alias must be a reference")?,
                        msg: body,
                    }
                } else if flags & altact::NAME != 0 {
                    Signal::RegSend {
                        from,
                        to: atom(el(t, 3)?, op, "name must be an atom")?,
                        msg: body,
                    }
                } else {
                    Signal::Send {
                        from: Some(from),
                        to: pid(el(t, 3)?, op, "to must be a pid")?,
                        msg: body,
                    }
                }
            }
            NODE_LINK => {
                return Err(ControlError::Invalid {
                    op,
                    why: "NODE_LINK is not used by any OTP release",
                });
            }
            _ => return Err(ControlError::UnknownOp(code)),
        };
        Ok(sig)
    }

    /// The pid the signal comes from, when it names one. The BEAM refuses
    /// link, exit and monitor signals whose sender is not on the peer's node.
    pub fn sender(&self) -> Option<&Pid> {
        match self {
            Signal::Send { from, .. } => from.as_ref(),
            Signal::RegSend { from, .. }
            | Signal::AliasSend { from, .. }
            | Signal::Link { from, .. }
            | Signal::Unlink { from, .. }
            | Signal::UnlinkId { from, .. }
            | Signal::UnlinkIdAck { from, .. }
            | Signal::Exit { from, .. }
            | Signal::Exit2 { from, .. }
            | Signal::Monitor { from, .. }
            | Signal::Demonitor { from, .. }
            | Signal::SpawnRequest { from, .. } => Some(from),
            Signal::MonitorExit {
                from: ProcRef::Pid(p),
                ..
            } => Some(p),
            Signal::GroupLeader { .. } | Signal::MonitorExit { .. } | Signal::SpawnReply { .. } => {
                None
            }
        }
    }
}

/// Where a control message and its payload are written: the buffer, the
/// atom cache (header mode only) and whether terms carry a version byte.
struct Out<'o, 'c> {
    buf: &'o mut Vec<u8>,
    cache: Option<&'c mut dyn AtomCacheWriter>,
    /// Header mode (131,68/69): no version bytes before the terms.
    header: bool,
    /// Offset where the payload term starts, once written.
    payload_at: Option<usize>,
    /// Big binaries left out of `buf` (see [`Term::encode_body_spliced`]).
    splices: Option<&'o mut Vec<(usize, Bytes)>>,
}

impl Out<'_, '_> {
    /// Writes `t` without its version byte.
    fn put(&mut self, t: &Term) -> Result<(), EncodeError> {
        let cache: Option<&mut dyn AtomCacheWriter> = match &mut self.cache {
            Some(c) => Some(&mut **c),
            None => None,
        };
        // Only the payload's binaries are spliced: the control term stays
        // whole in `buf`, so its length is an offset there.
        let splices = match self.payload_at {
            Some(_) => self.splices.as_deref_mut(),
            None => None,
        };
        t.encode_body_spliced(self.buf, cache, splices)
    }

    /// Writes a pid of the control term directly, byte for byte as
    /// [`Term::encode_body_spliced`] writes it (`NEW_PID_EXT`), without
    /// building a term and an encoder for it.
    fn put_pid(&mut self, p: &Pid) -> Result<(), EncodeError> {
        self.buf.push(tag::NEW_PID_EXT);
        self.put_atom(&p.node)?;
        let (i, s, c) = (
            p.id.to_be_bytes(),
            p.serial.to_be_bytes(),
            p.creation.to_be_bytes(),
        );
        self.buf.extend_from_slice(&[
            i[0], i[1], i[2], i[3], s[0], s[1], s[2], s[3], c[0], c[1], c[2], c[3],
        ]);
        Ok(())
    }

    fn put_ref(&mut self, r: &Reference) -> Result<(), EncodeError> {
        self.put(&Term::Ref(Box::new(r.clone())))
    }

    /// Writes an atom of the control term directly, as the encoder does
    /// (minor version 2): an atom cache reference when the cache takes it,
    /// else `SMALL_ATOM_UTF8_EXT` (or `ATOM_UTF8_EXT` past 255 bytes).
    fn put_atom(&mut self, a: &Atom) -> Result<(), EncodeError> {
        if let Some(c) = self.cache.as_deref_mut() {
            if let Some(i) = c.atom_ref(a) {
                self.buf.extend_from_slice(&[tag::ATOM_CACHE_REF, i]);
                return Ok(());
            }
        }
        if a.write_small_utf8_ext(tag::SMALL_ATOM_UTF8_EXT, self.buf) {
            return Ok(());
        }
        let b = a.as_bytes();
        if let Ok(n) = u8::try_from(b.len()) {
            self.buf.extend_from_slice(&[tag::SMALL_ATOM_UTF8_EXT, n]);
        } else {
            // At most 255 characters, so at most 1020 bytes: fits in 16 bits.
            let n = b.len().min(MAX_ATOM_CHARS * 4) as u16;
            self.buf.push(tag::ATOM_UTF8_EXT);
            self.buf.extend_from_slice(&n.to_be_bytes());
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }

    /// Starts a control tuple: `[131,] SMALL_TUPLE_EXT, arity, SMALL_INTEGER_EXT, op`.
    fn tuple_head(&mut self, arity: u8, op: u8) {
        if !self.header {
            self.buf.push(131);
        }
        self.buf.extend_from_slice(&[104, arity, 97, op]);
    }

    /// Writes the payload term (message, reason or arguments).
    fn msg(&mut self, t: &Term) -> Result<(), EncodeError> {
        self.payload_at = Some(self.buf.len());
        if !self.header {
            self.buf.push(131);
        }
        self.put(t)
    }
}

/// Appends one length-prefixed pass-through frame for `sig`, spelled as the
/// BEAM would spell it for a peer with `flags` (PROTOCOL.md §5 "What the BEAM
/// sends"). The caller has checked that the peer can take the signal at all
/// (e.g. `ALIAS_SEND` needs `DFLAG_ALIAS`).
pub fn encode_frame(sig: &Signal, flags: DistFlags, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, PASS_THROUGH]);
    let mut o = Out {
        buf: out,
        cache: None,
        header: false,
        payload_at: None,
        splices: None,
    };
    if let Err(e) = encode_body(sig, flags, &mut o) {
        out.truncate(start);
        return Err(e);
    }
    let len = out.len() - start - 4;
    let Ok(len32) = u32::try_from(len) else {
        out.truncate(start);
        return Err(EncodeError::TooLarge {
            what: "distribution message",
            len,
        });
    };
    if let Some(head) = out.get_mut(start..start + 4) {
        head.copy_from_slice(&len32.to_be_bytes());
    }
    Ok(())
}

/// Appends the control term and payload of `sig` as they follow a normal
/// distribution header (PROTOCOL.md §3.3): no version bytes, atoms written as
/// `ATOM_CACHE_REF` when `cache` takes them. Returns the length of the
/// control term (the payload follows it). On error `out` is unchanged.
pub fn encode_dist_body(
    sig: &Signal,
    flags: DistFlags,
    out: &mut Vec<u8>,
    cache: Option<&mut dyn AtomCacheWriter>,
) -> Result<usize, EncodeError> {
    encode_dist_body_spliced(sig, flags, out, cache, None)
}

/// Like [`encode_dist_body`], but big binaries are left out of `out` and
/// listed in `splices` with their offsets (see [`Term::encode_body_spliced`]);
/// only the payload's binaries are spliced, so the returned control length
/// is the same in `out` and in the whole encoding.
pub fn encode_dist_body_spliced(
    sig: &Signal,
    flags: DistFlags,
    out: &mut Vec<u8>,
    cache: Option<&mut dyn AtomCacheWriter>,
    mut splices: Option<&mut Vec<(usize, Bytes)>>,
) -> Result<usize, EncodeError> {
    let start = out.len();
    let nsplices = splices.as_ref().map_or(0, |s| s.len());
    let mut o = Out {
        buf: out,
        cache,
        header: true,
        payload_at: None,
        splices: splices.as_deref_mut(),
    };
    let r = encode_body(sig, flags, &mut o);
    let payload_at = o.payload_at;
    if let Err(e) = r {
        out.truncate(start);
        if let Some(s) = splices {
            s.truncate(nsplices);
        }
        return Err(e);
    }
    Ok(payload_at.unwrap_or(out.len()) - start)
}

/// Decodes the control term and optional payload of a message received with
/// a distribution header: `body` follows the header (no version bytes) and
/// `refs` are the atoms of the header's atom-cache references.
pub fn decode_dist_body(
    body: &Bytes,
    refs: &[Atom],
    limits: &DecodeLimits,
) -> Result<Signal, ControlError> {
    if let Some(sig) = decode_message_fast(body, refs, limits) {
        return Ok(sig);
    }
    decode_dist_body_general(body, refs, limits)
}

/// [`decode_dist_body`] without its message fast path.
fn decode_dist_body_general(
    body: &Bytes,
    refs: &[Atom],
    limits: &DecodeLimits,
) -> Result<Signal, ControlError> {
    let mut d = Decoder::shared(body)
        .with_atom_refs(refs)
        .with_limits(limits.clone());
    let ctrl = d.term()?;
    let payload = if d.is_at_end() { None } else { Some(d.term()?) };
    if !d.is_at_end() {
        return Err(ControlError::Payload {
            op: 0,
            why: "bytes after the payload term",
        });
    }
    Signal::from_terms(ctrl, payload)
}

/// The control message of a message signal, read by the fast path.
enum MessageHead {
    Send(Option<Pid>, Pid),
    RegSend(Pid, Atom),
}

/// The common case of [`decode_dist_body`]: a `SEND`, `SEND_SENDER` or
/// `REG_SEND` whose control tuple holds only short ASCII atoms (or atom
/// cache references) and `NEW_PID_EXT` pids with such node names. The
/// control tuple is read in place, without building and dropping it as a
/// term; the payload goes through the general decoder. `None` for anything
/// else or any error: the caller then decodes the general way, so the
/// result (and every error) is the same as without this path.
fn decode_message_fast(body: &Bytes, refs: &[Atom], limits: &DecodeLimits) -> Option<Signal> {
    let mut q = Quick {
        buf: body,
        pos: 0,
        refs,
    };
    if q.u8()? != tag::SMALL_TUPLE_EXT {
        return None;
    }
    let arity = q.u8()?;
    if q.u8()? != tag::SMALL_INTEGER_EXT {
        return None;
    }
    let head = match (q.u8()?, arity) {
        (op::SEND_SENDER, 3) => {
            let from = q.pid()?;
            MessageHead::Send(Some(from), q.pid()?)
        }
        (op::REG_SEND, 4) => {
            let from = q.pid()?;
            // The unused element: '' on every OTP release.
            q.atom()?;
            MessageHead::RegSend(from, q.atom()?)
        }
        (op::SEND, 3) => {
            q.atom()?;
            MessageHead::Send(None, q.pid()?)
        }
        _ => return None,
    };
    let rest = body.get(q.pos..)?;
    let msg = if rest.len() < SHARE_MIN_BINARY {
        // Too short to hold a binary the shared decoder would share: the
        // same term, without taking a handle on the buffer.
        let mut d = Decoder::new(rest)
            .with_atom_refs(refs)
            .with_limits(limits.clone());
        let msg = d.term().ok()?;
        d.is_at_end().then_some(msg)?
    } else {
        let payload = body.slice(q.pos..);
        let mut d = Decoder::shared(&payload)
            .with_atom_refs(refs)
            .with_limits(limits.clone());
        let msg = d.term().ok()?;
        d.is_at_end().then_some(msg)?
    };
    Some(match head {
        MessageHead::Send(from, to) => Signal::Send { from, to, msg },
        MessageHead::RegSend(from, to) => Signal::RegSend { from, to, msg },
    })
}

/// A cursor over a control tuple for [`decode_message_fast`]. It reads the
/// forms the general decoder's small-term path reads, into the same values,
/// and gives up on anything else.
struct Quick<'b> {
    buf: &'b [u8],
    pos: usize,
    refs: &'b [Atom],
}

impl Quick<'_> {
    #[inline]
    fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    #[inline]
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    /// An atom cache reference, or an inline-sized ASCII small atom.
    #[inline]
    fn atom(&mut self) -> Option<Atom> {
        match self.u8()? {
            tag::ATOM_CACHE_REF => {
                let i = self.u8()?;
                self.refs.get(usize::from(i)).cloned()
            }
            tag::SMALL_ATOM_UTF8_EXT | tag::SMALL_ATOM_EXT => {
                let n = usize::from(self.u8()?);
                Atom::from_short_ascii(self.take(n)?)
            }
            _ => None,
        }
    }

    #[inline]
    fn pid(&mut self) -> Option<Pid> {
        if self.u8()? != tag::NEW_PID_EXT {
            return None;
        }
        let node = self.atom()?;
        let id = self.u32()?;
        let serial = self.u32()?;
        let creation = self.u32()?;
        Some(Pid {
            node,
            id,
            serial,
            creation,
        })
    }
}

fn encode_body(sig: &Signal, flags: DistFlags, out: &mut Out<'_, '_>) -> Result<(), EncodeError> {
    use op::*;
    let payload_exits = flags.contains(DistFlags::EXIT_PAYLOAD);
    match sig {
        Signal::Send { from, to, msg: m } => {
            match from {
                Some(f) if flags.contains(DistFlags::SEND_SENDER) => {
                    out.tuple_head(3, SEND_SENDER);
                    out.put_pid(f)?;
                }
                _ => {
                    out.tuple_head(3, SEND);
                    out.put_atom(&Atom::default())?;
                }
            }
            out.put_pid(to)?;
            out.msg(m)
        }
        Signal::RegSend { from, to, msg: m } => {
            out.tuple_head(4, REG_SEND);
            out.put_pid(from)?;
            out.put_atom(&Atom::default())?;
            out.put_atom(to)?;
            out.msg(m)
        }
        Signal::AliasSend {
            from,
            alias,
            msg: m,
        } => {
            out.tuple_head(3, ALIAS_SEND);
            out.put_pid(from)?;
            out.put_ref(alias)?;
            out.msg(m)
        }
        Signal::Link { from, to }
        | Signal::Unlink { from, to }
        | Signal::GroupLeader { from, to } => {
            let code = match sig {
                Signal::Link { .. } => LINK,
                Signal::Unlink { .. } => UNLINK,
                _ => GROUP_LEADER,
            };
            out.tuple_head(3, code);
            out.put_pid(from)?;
            out.put_pid(to)
        }
        Signal::UnlinkId { id, from, to } | Signal::UnlinkIdAck { id, from, to } => {
            out.tuple_head(
                4,
                if matches!(sig, Signal::UnlinkId { .. }) {
                    UNLINK_ID
                } else {
                    UNLINK_ID_ACK
                },
            );
            out.put(&Term::from(*id))?;
            out.put_pid(from)?;
            out.put_pid(to)
        }
        Signal::Exit { from, to, reason } | Signal::Exit2 { from, to, reason } => {
            let exit2 = matches!(sig, Signal::Exit2 { .. });
            if payload_exits {
                out.tuple_head(3, if exit2 { PAYLOAD_EXIT2 } else { PAYLOAD_EXIT });
                out.put_pid(from)?;
                out.put_pid(to)?;
                out.msg(reason)
            } else {
                out.tuple_head(4, if exit2 { EXIT2 } else { EXIT });
                out.put_pid(from)?;
                out.put_pid(to)?;
                out.put(reason)
            }
        }
        Signal::Monitor {
            from,
            target,
            reference,
        }
        | Signal::Demonitor {
            from,
            target,
            reference,
        } => {
            out.tuple_head(
                4,
                if matches!(sig, Signal::Monitor { .. }) {
                    MONITOR_P
                } else {
                    DEMONITOR_P
                },
            );
            out.put_pid(from)?;
            out.put(&target.to_term())?;
            out.put_ref(reference)
        }
        Signal::MonitorExit {
            from,
            to,
            reference,
            reason,
        } => {
            if payload_exits {
                out.tuple_head(4, PAYLOAD_MONITOR_P_EXIT);
            } else {
                out.tuple_head(5, MONITOR_P_EXIT);
            }
            out.put(&from.to_term())?;
            out.put_pid(to)?;
            out.put_ref(reference)?;
            if payload_exits {
                out.msg(reason)
            } else {
                out.put(reason)
            }
        }
        Signal::SpawnRequest {
            req_id,
            from,
            group_leader,
            module,
            function,
            args,
            opts,
        } => {
            out.tuple_head(6, SPAWN_REQUEST);
            out.put_ref(req_id)?;
            out.put_pid(from)?;
            out.put_pid(group_leader)?;
            let arity = args.as_list().map_or(0, |a| a.len());
            let arity = i64::try_from(arity).unwrap_or(i64::MAX);
            out.put(&Term::Tuple(vec![
                Term::Atom(module.clone()),
                Term::Atom(function.clone()),
                Term::Int(arity),
            ]))?;
            out.put(opts)?;
            out.msg(args)
        }
        Signal::SpawnReply {
            req_id,
            to,
            flags: f,
            result,
        } => {
            out.tuple_head(5, SPAWN_REPLY);
            out.put_ref(req_id)?;
            out.put_pid(to)?;
            out.put(&Term::Int(i64::from(*f)))?;
            out.put(result)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::header::SendAtomCache;

    fn pid(node: &str, id: u32) -> Pid {
        Pid {
            node: Atom::from(node),
            id,
            serial: 3,
            creation: 0x1234_5678,
        }
    }

    fn payloads() -> Vec<Term> {
        vec![
            Term::tuple(vec![Term::atom("seq"), Term::Int(123_456)]),
            Term::Int(-5),
            Term::NIL,
            Term::Binary(Bytes::from(vec![7u8; 300])),
            Term::List((0..40).map(Term::Int).collect()),
            Term::atom("a_rather_long_atom_name_of_more_than_22_bytes"),
        ]
    }

    /// Control tuples of every shape the fast path takes, and of shapes it
    /// leaves to the general decoder.
    fn controls() -> Vec<Term> {
        let long = "node_with_a_name_longer_than_inline@host";
        let mut v = Vec::new();
        for node in ["a@h", long, "n\u{f8}de@h"] {
            let p = Term::Pid(pid(node, 9));
            v.push(Term::tuple(vec![
                Term::Int(6),
                p.clone(),
                Term::atom(""),
                Term::atom("sink"),
            ]));
            v.push(Term::tuple(vec![
                Term::Int(22),
                p.clone(),
                Term::Pid(pid("b@h", 1)),
            ]));
            v.push(Term::tuple(vec![Term::Int(2), Term::atom(""), p.clone()]));
            // Odd but accepted: a non-atom in the unused element.
            v.push(Term::tuple(vec![
                Term::Int(6),
                p.clone(),
                Term::Int(1),
                Term::atom("sink"),
            ]));
            v.push(Term::tuple(vec![Term::Int(2), Term::NIL, p.clone()]));
            // Wrong types and arities: errors, the same either way.
            v.push(Term::tuple(vec![
                Term::Int(6),
                p.clone(),
                Term::atom(""),
                Term::Int(1),
            ]));
            v.push(Term::tuple(vec![Term::Int(22), p.clone()]));
            v.push(Term::tuple(vec![Term::Int(22), Term::atom("x"), p.clone()]));
            v.push(Term::tuple(vec![Term::Int(1), p.clone(), p.clone()]));
            v.push(Term::tuple(vec![Term::Int(300), p.clone(), p.clone()]));
        }
        v
    }

    /// Encodes a control term and payload as after a distribution header,
    /// through a fresh atom cache when `cached`; returns the body and the
    /// atoms of its references.
    fn body(ctrl: &Term, payload: Option<&Term>, cached: bool) -> (Bytes, Vec<Atom>) {
        let mut cache = SendAtomCache::default();
        cache.begin();
        let mut out = Vec::new();
        let mut refs = Vec::new();
        for t in [Some(ctrl), payload].into_iter().flatten() {
            let c = cached.then_some(&mut cache as &mut dyn AtomCacheWriter);
            t.encode_body_spliced(&mut out, c, None).unwrap();
        }
        if cached {
            let mut hdr = Vec::new();
            cache.write_refs(&mut hdr, &Default::default());
            // Resolve the references the way the receiver does.
            let mut rx = crate::dist::header::DistReceiver::new(usize::MAX, Default::default());
            let mut pkt = vec![131, 68];
            pkt.extend_from_slice(&hdr);
            pkt.extend_from_slice(&out);
            let m = rx.receive(&Bytes::from(pkt)).unwrap().unwrap();
            refs = m.refs.to_vec();
        }
        (Bytes::from(out), refs)
    }

    #[test]
    fn message_fast_path_decodes_as_the_general_decoder() {
        let lim = DecodeLimits::default();
        let mut fast_hits = 0;
        for ctrl in controls() {
            for payload in payloads().iter().map(Some).chain([None]) {
                for cached in [false, true] {
                    let (b, refs) = body(&ctrl, payload, cached);
                    let want = decode_dist_body_general(&b, &refs, &lim);
                    assert_eq!(
                        decode_dist_body(&b, &refs, &lim),
                        want,
                        "{ctrl} {payload:?}"
                    );
                    fast_hits += usize::from(decode_message_fast(&b, &refs, &lim).is_some());
                    // Every cut and every single-byte change: same result.
                    for cut in 0..b.len() {
                        let t = b.slice(..cut);
                        assert_eq!(
                            decode_dist_body(&t, &refs, &lim),
                            decode_dist_body_general(&t, &refs, &lim)
                        );
                    }
                    for i in 0..b.len().min(64) {
                        for x in [0u8, 1, 82, 88, 97, 104, 115, 119, 255] {
                            let mut v = b.to_vec();
                            v[i] = x;
                            let t = Bytes::from(v);
                            assert_eq!(
                                decode_dist_body(&t, &refs, &lim),
                                decode_dist_body_general(&t, &refs, &lim),
                                "byte {i} set to {x}"
                            );
                        }
                    }
                    // Too few references for the body.
                    if !refs.is_empty() {
                        let short = &refs[..refs.len() - 1];
                        assert_eq!(
                            decode_dist_body(&b, short, &lim),
                            decode_dist_body_general(&b, short, &lim)
                        );
                    }
                }
            }
        }
        assert!(fast_hits > 20, "the fast path was taken {fast_hits} times");
    }

    #[test]
    fn control_pids_and_atoms_are_written_as_the_encoder_writes_them() {
        let long = "x".repeat(200);
        let very_long = "\u{e9}".repeat(200);
        let flags = DistFlags::RECOMMENDED_HIDDEN;
        for node in [
            "a@h",
            "node_with_a_name_longer_than_inline@host",
            &long,
            &very_long,
        ] {
            let (p, q) = (pid(node, 1), pid("b@h", 2));
            for name in ["sink", "", &long, &very_long] {
                let msg = Term::tuple(vec![Term::atom("seq"), Term::atom(node), Term::Int(1)]);
                let cases = [
                    (
                        Signal::RegSend {
                            from: p.clone(),
                            to: Atom::from(name),
                            msg: msg.clone(),
                        },
                        Term::tuple(vec![
                            Term::Int(6),
                            Term::Pid(p.clone()),
                            Term::atom(""),
                            Term::atom(name),
                        ]),
                    ),
                    (
                        Signal::Send {
                            from: Some(p.clone()),
                            to: q.clone(),
                            msg: msg.clone(),
                        },
                        Term::tuple(vec![
                            Term::Int(22),
                            Term::Pid(p.clone()),
                            Term::Pid(q.clone()),
                        ]),
                    ),
                ];
                for (sig, ctrl) in cases {
                    // Caches that take everything, nothing, or fill up.
                    for limit in [0, 1, 2, 255] {
                        let mut a = Limited(SendAtomCache::default(), limit, 0);
                        let mut b = Limited(SendAtomCache::default(), limit, 0);
                        a.0.begin();
                        b.0.begin();
                        let mut got = Vec::new();
                        let n = encode_dist_body(&sig, flags, &mut got, Some(&mut a)).unwrap();
                        let mut want = Vec::new();
                        ctrl.encode_body_spliced(&mut want, Some(&mut b), None)
                            .unwrap();
                        assert_eq!(n, want.len());
                        msg.encode_body_spliced(&mut want, Some(&mut b), None)
                            .unwrap();
                        assert_eq!(got, want, "{sig:?}, cache limit {limit}");
                    }
                    let mut got = Vec::new();
                    encode_frame(&sig, flags, &mut got).unwrap();
                    let mut want = vec![PASS_THROUGH, 131];
                    ctrl.encode_body_spliced(&mut want, None, None).unwrap();
                    want.push(131);
                    msg.encode_body_spliced(&mut want, None, None).unwrap();
                    assert_eq!(got[4..], want[..]);
                }
            }
        }
    }

    /// An atom cache that takes at most `.1` atoms per message.
    struct Limited(SendAtomCache, usize, usize);

    impl AtomCacheWriter for Limited {
        fn atom_ref(&mut self, atom: &Atom) -> Option<u8> {
            if self.2 >= self.1 {
                return None;
            }
            self.2 += 1;
            self.0.atom_ref(atom)
        }
    }
}
