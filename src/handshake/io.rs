//! The tokio driver: runs [`Initiator`] or [`Acceptor`] over a stream.
//!
//! Generic over `AsyncRead + AsyncWrite + Unpin`, so plain TCP and TLS streams
//! both work. Framing is 2-byte lengths over TCP and 4-byte lengths inside TLS
//! (PROTOCOL.md §2.1, §6h). Each step (one read, one decision, one write) must
//! finish within the step timer, which restarts after every step like OTP's
//! `net_setuptime`. Bytes read past the last handshake message are returned to
//! the caller, who switches to 4-byte distribution framing with them.

use std::future::Future;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::acceptor::{Acceptor, AcceptorConfig, AcceptorStep};
use super::initiator::{Initiator, InitiatorConfig, InitiatorStep};
use super::{
    Established, HANDSHAKE_STEP_TIMEOUT, HandshakeError, MAX_HANDSHAKE_MSG_LEN,
    MAX_HANDSHAKE_STEP_TIMEOUT, PeerInfo, Status,
};
use crate::name::NodeName;

/// How handshake messages are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Len:u16` before each message: distribution over TCP (`{packet,2}`).
    Len2,
    /// `Len:u32` before each message: TLS distribution (`{packet,4}` from the start).
    Len4,
}

impl Framing {
    /// Bytes in the length prefix.
    pub fn header_len(self) -> usize {
        match self {
            Framing::Len2 => 2,
            Framing::Len4 => 4,
        }
    }
}

/// Driver settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeOptions {
    /// Length prefix of handshake messages.
    pub framing: Framing,
    /// Time allowed for each step ([`HANDSHAKE_STEP_TIMEOUT`] by default;
    /// capped at [`MAX_HANDSHAKE_STEP_TIMEOUT`] like OTP's `net_setuptime`).
    pub step_timeout: Duration,
}

impl Default for HandshakeOptions {
    fn default() -> Self {
        HandshakeOptions::tcp()
    }
}

impl HandshakeOptions {
    /// Plain TCP: 2-byte framing, 7 s steps.
    pub fn tcp() -> HandshakeOptions {
        HandshakeOptions {
            framing: Framing::Len2,
            step_timeout: HANDSHAKE_STEP_TIMEOUT,
        }
    }

    /// Inside TLS: 4-byte framing, 7 s steps.
    pub fn tls() -> HandshakeOptions {
        HandshakeOptions {
            framing: Framing::Len4,
            step_timeout: HANDSHAKE_STEP_TIMEOUT,
        }
    }

    /// With another step timeout.
    pub fn with_step_timeout(mut self, t: Duration) -> HandshakeOptions {
        self.step_timeout = t;
        self
    }

    fn timeout(&self) -> Duration {
        self.step_timeout.min(MAX_HANDSHAKE_STEP_TIMEOUT)
    }
}

/// Dials: runs the initiator over `stream`, answering `alive` with "yes, this
/// is a new attempt" (what a BEAM answers when the attempt is still its
/// pending one). Returns the outcome and the bytes already read past the
/// challenge ack (the start of the 4-byte-framed distribution stream).
pub async fn connect<S>(
    stream: &mut S,
    cfg: InitiatorConfig,
    opts: &HandshakeOptions,
) -> Result<(Established, BytesMut), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    connect_with(stream, cfg, opts, |_| async { true }).await
}

/// [`connect`] with the answer to `alive` chosen by `is_new_attempt(peer)`:
/// `true` makes the peer drop its old connection to us, `false` abandons
/// this attempt ([`HandshakeError::AliveRefused`]).
pub async fn connect_with<S, A, Fut>(
    stream: &mut S,
    cfg: InitiatorConfig,
    opts: &HandshakeOptions,
    mut is_new_attempt: A,
) -> Result<(Established, BytesMut), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    A: FnMut(NodeName) -> Fut,
    Fut: Future<Output = bool>,
{
    let (mut hs, first) = Initiator::new(cfg)?;
    let mut io = Framed::new(stream, opts);
    io.send(std::slice::from_ref(&first), "sending our send_name")
        .await?;
    loop {
        let Some(msg) = io.recv(hs.waiting_for()).await? else {
            return Err(hs.closed_error());
        };
        let mut step = hs.receive(&msg)?;
        loop {
            match step {
                InitiatorStep::Continue { send } => {
                    io.send(&send, "sending a handshake message").await?;
                    break;
                }
                InitiatorStep::AliveQuery => {
                    let answer = io
                        .timed(
                            "deciding the answer to alive",
                            is_new_attempt(hs.peer().clone()),
                        )
                        .await?;
                    step = hs.answer_alive(answer)?;
                }
                InitiatorStep::Reject { send, error } => {
                    // Best effort: the peer may already be gone.
                    let _ = io.send(&[send], "sending our last message").await;
                    return Err(error);
                }
                InitiatorStep::Done(est) => {
                    tracing::debug!(peer = %est.peer_name, flags = ?est.negotiated_flags, "handshake done (initiator)");
                    return Ok((est, io.into_leftover()));
                }
            }
        }
    }
}

/// Accepts: runs the acceptor over `stream`. `decide(peer)` picks the status
/// (see [`AcceptorStep::Decide`]). Returns the outcome and any bytes read past
/// the challenge reply.
pub async fn accept<S, D, Fut>(
    stream: &mut S,
    cfg: AcceptorConfig,
    opts: &HandshakeOptions,
    mut decide: D,
) -> Result<(Established, BytesMut), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    D: FnMut(PeerInfo) -> Fut,
    Fut: Future<Output = Status>,
{
    let mut hs = Acceptor::new(cfg);
    let mut io = Framed::new(stream, opts);
    loop {
        let Some(msg) = io.recv(hs.waiting_for()).await? else {
            return Err(hs.closed_error());
        };
        let mut step = hs.receive(&msg)?;
        loop {
            match step {
                AcceptorStep::Continue { send } => {
                    io.send(&send, "sending a handshake message").await?;
                    break;
                }
                AcceptorStep::Decide(info) => {
                    let status = io.timed("deciding the status", decide(info)).await?;
                    step = hs.decide(status)?;
                }
                AcceptorStep::Reject { send, error } => {
                    let _ = io.send(&[send], "sending our last status").await;
                    return Err(error);
                }
                AcceptorStep::Done { send, established } => {
                    io.send(&[send], "sending the challenge ack").await?;
                    tracing::debug!(peer = %established.peer_name, flags = ?established.negotiated_flags, "handshake done (acceptor)");
                    return Ok((established, io.into_leftover()));
                }
            }
        }
    }
}

/// Length-prefixed messages over a borrowed stream, with the step timer.
struct Framed<'a, S> {
    stream: &'a mut S,
    buf: BytesMut,
    framing: Framing,
    timeout: Duration,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Framed<'a, S> {
    fn new(stream: &'a mut S, opts: &HandshakeOptions) -> Self {
        Framed {
            stream,
            buf: BytesMut::with_capacity(512),
            framing: opts.framing,
            timeout: opts.timeout(),
        }
    }

    async fn timed<T>(
        &self,
        step: &'static str,
        fut: impl Future<Output = T>,
    ) -> Result<T, HandshakeError> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| HandshakeError::Timeout {
                step,
                after: self.timeout,
            })
    }

    /// The next whole message; `None` if the peer closed the connection first.
    async fn recv(&mut self, step: &'static str) -> Result<Option<BytesMut>, HandshakeError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.recv_inner()).await {
            Ok(r) => r,
            Err(_) => Err(HandshakeError::Timeout {
                step,
                after: timeout,
            }),
        }
    }

    async fn recv_inner(&mut self) -> Result<Option<BytesMut>, HandshakeError> {
        loop {
            if let Some(msg) = self.parse_frame()? {
                return Ok(Some(msg));
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::UnexpectedEof
                            | std::io::ErrorKind::BrokenPipe
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Splits one message off the buffer if it is complete.
    fn parse_frame(&mut self) -> Result<Option<BytesMut>, HandshakeError> {
        let hl = self.framing.header_len();
        let Some(header) = self.buf.get(..hl) else {
            return Ok(None);
        };
        let len = header
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len > MAX_HANDSHAKE_MSG_LEN {
            return Err(HandshakeError::FrameTooLarge {
                len,
                max: MAX_HANDSHAKE_MSG_LEN,
            });
        }
        if self.buf.len() < hl + len {
            self.buf.reserve(hl + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(hl);
        Ok(Some(self.buf.split_to(len)))
    }

    /// Frames and writes `msgs` in one write, then flushes.
    async fn send(&mut self, msgs: &[Vec<u8>], step: &'static str) -> Result<(), HandshakeError> {
        if msgs.is_empty() {
            return Ok(());
        }
        let mut out = Vec::with_capacity(msgs.iter().map(|m| m.len() + 4).sum());
        for m in msgs {
            match self.framing {
                Framing::Len2 => {
                    let len =
                        u16::try_from(m.len()).map_err(|_| HandshakeError::FrameTooLarge {
                            len: m.len(),
                            max: MAX_HANDSHAKE_MSG_LEN,
                        })?;
                    out.extend_from_slice(&len.to_be_bytes());
                }
                Framing::Len4 => {
                    let len =
                        u32::try_from(m.len()).map_err(|_| HandshakeError::FrameTooLarge {
                            len: m.len(),
                            max: MAX_HANDSHAKE_MSG_LEN,
                        })?;
                    out.extend_from_slice(&len.to_be_bytes());
                }
            }
            out.extend_from_slice(m);
        }
        let stream = &mut *self.stream;
        let write = async move {
            stream.write_all(&out).await?;
            stream.flush().await
        };
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, write).await {
            Ok(r) => r.map_err(HandshakeError::from),
            Err(_) => Err(HandshakeError::Timeout {
                step,
                after: timeout,
            }),
        }
    }

    fn into_leftover(self) -> BytesMut {
        self.buf
    }
}
