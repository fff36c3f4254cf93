//! Connections to peer nodes: the table that dedupes dials, and the one task
//! that owns each socket once the handshake is done.
//!
//! A [`Conn`] exists per peer from the first send on: signals queue in it
//! while the dial and handshake run, and leave in order once the
//! connection is up; from then on each sender encodes its signals itself
//! into the connection's pending bytes (`SendSide`), which the connection
//! task writes. Whichever socket wins (our dial, or the peer's dial on a
//! simultaneous connect) takes the queue. When the connection ends, every
//! link and monitor that lived on it fires once (`sweep_connection`).

use super::{NameCache, NodeInner};
use crate::dist::control::{self, Signal};
use crate::dist::frame::{self, Frame, TICK};
use crate::dist::header::{
    DIST_FRAG_CONT, DIST_FRAG_HEADER, DIST_HEADER, DistCounters, DistReceiver, VERSION_MAGIC,
};
use crate::dist::outbuf::{MAX_IO_SLICES, OutBuf};
use crate::dist::writer::DistWriter;
use crate::handshake::DistFlags;
use crate::term::Atom;
use bytes::BytesMut;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes of encoded output gathered before the connection stops taking more
/// of what senders encoded and writes: large enough that pipelined messages
/// leave in few syscalls, small enough to keep latency and memory low.
pub const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// Size of the receive buffer; it grows to fit the largest frame in flight.
/// Each read has at least a quarter of it free. 256 KiB lets one read take
/// several 64 KiB fragments (or thousands of small messages) at once.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Why a connection went down; the reasons OTP reports in `nodedown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// The peer closed the socket, or it failed.
    ConnectionClosed,
    /// Nothing was received for a whole net_ticktime.
    NetTickTimeout,
    /// `disconnect` was called (here or, seen as a close, on the peer).
    Disconnect,
    /// The connection could not be set up.
    ConnectFailed(String),
    /// The peer stopped reading and its send queue reached `max_send_queue`
    /// signals or `max_send_queue_bytes`.
    SendQueueFull,
    /// The peer broke the protocol; the text says how.
    ProtocolError(String),
}

impl DownReason {
    /// The atom OTP uses as `nodedown_reason`.
    pub fn as_atom(&self) -> &'static str {
        match self {
            DownReason::ConnectionClosed | DownReason::ProtocolError(_) => "connection_closed",
            DownReason::NetTickTimeout => "net_tick_timeout",
            DownReason::Disconnect => "disconnect",
            DownReason::ConnectFailed(_) => "connect_failed",
            DownReason::SendQueueFull => "send_queue_full",
        }
    }
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::ConnectFailed(why) => write!(f, "connect_failed ({why})"),
            DownReason::ProtocolError(why) => {
                write!(f, "connection_closed (protocol error: {why})")
            }
            other => f.write_str(other.as_atom()),
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Dial or handshake under way.
    Connecting,
    /// Established with these negotiated flags.
    Up(DistFlags),
    /// Gone.
    Down(DownReason),
}

/// One peer connection (or attempt), shared by everyone who sends to it.
pub(crate) struct Conn {
    pub id: u64,
    pub peer: Atom,
    tx: mpsc::UnboundedSender<Signal>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Signal>>>,
    pub phase: watch::Sender<Phase>,
    /// Cancels the connection (disconnect) or the dial (simultaneous connect lost).
    pub kill: CancellationToken,
    /// Cancels only our own dial, when the peer's simultaneous dial wins.
    pub cancel_dial: CancellationToken,
    /// Set when an incoming handshake owns this Conn.
    incoming: std::sync::atomic::AtomicBool,
    /// Signals queued or encoded and not yet taken by the connection task.
    queued: std::sync::atomic::AtomicUsize,
    /// Set when the connection is closed because its send queue is full.
    overloaded: std::sync::atomic::AtomicBool,
    /// Set once the Conn is out of the node's table (finished, or refused
    /// from the start): a [`ConnCache`] holding it looks the peer up again.
    gone: std::sync::atomic::AtomicBool,
    /// Header traffic counters (atom cache, fragments).
    pub stats: Arc<DistCounters>,
    /// The encoder, once the connection is up: senders encode their
    /// signals straight into its pending bytes.
    send: Mutex<SendSide>,
    /// Wakes the connection task when the pending bytes stop being empty.
    ready: tokio::sync::Notify,
    /// Senders in [`Conn::wait_not_busy`]; the connection task wakes them
    /// through `drained` only when there are any.
    busy_waiters: std::sync::atomic::AtomicUsize,
    /// Woken when the backlog fell below the busy limit.
    drained: tokio::sync::Notify,
}

/// Counts a sender in [`Conn::wait_not_busy`] for as long as it waits,
/// including when its future is dropped.
struct BusyWaiter<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> BusyWaiter<'a> {
    fn new(count: &'a std::sync::atomic::AtomicUsize) -> BusyWaiter<'a> {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        BusyWaiter(count)
    }
}

impl Drop for BusyWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The send side of an established connection, shared by the senders and
/// the connection task. Before the connection is up (and after it is
/// down) `writer` is `None` and signals wait in the Conn's queue; the task
/// encodes what queued up and installs the writer under this lock, so the
/// queue's signals go out before any that are encoded directly.
///
/// Encoding in the sender (as the BEAM does in the sending process) saves
/// handing each signal, a few hundred bytes, through a queue to the
/// connection task, and the queue's memory when senders run ahead.
struct SendSide {
    writer: Option<DistWriter>,
    /// Encoded and not yet taken by the connection task.
    pending: OutBuf,
}

impl Conn {
    fn send_side(&self) -> std::sync::MutexGuard<'_, SendSide> {
        self.send.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Conn {
    pub(crate) fn set_incoming(&self) {
        self.incoming
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Marks the Conn as replaced or closing (`gone`): every sender's
    /// [`ConnCache`] looks the peer up again instead of pushing into it, and
    /// the next send to the peer sets up a new connection.
    pub(crate) fn retire(&self) {
        self.gone.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Waits until the Conn is down (its links and monitors swept and its
    /// nodedown sent), for at most `limit`.
    pub(crate) async fn closed(&self, limit: Duration) {
        let mut phase = self.phase.subscribe();
        let _ = tokio::time::timeout(limit, phase.wait_for(|p| matches!(p, Phase::Down(_)))).await;
    }

    /// True once [`Conn::retire`]d or finished.
    pub(crate) fn is_retired(&self) -> bool {
        self.gone.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn is_incoming(&self) -> bool {
        self.incoming.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn new(id: u64, peer: Atom) -> Conn {
        let (tx, rx) = mpsc::unbounded_channel();
        Conn {
            id,
            peer,
            tx,
            rx: Mutex::new(Some(rx)),
            phase: watch::channel(Phase::Connecting).0,
            kill: CancellationToken::new(),
            cancel_dial: CancellationToken::new(),
            incoming: Default::default(),
            queued: Default::default(),
            overloaded: Default::default(),
            gone: Default::default(),
            stats: Default::default(),
            send: Mutex::new(SendSide {
                writer: None,
                pending: OutBuf::new(true),
            }),
            ready: tokio::sync::Notify::new(),
            busy_waiters: Default::default(),
            drained: tokio::sync::Notify::new(),
        }
    }

    /// Waits while the connection is being set up, or while `limit` encoded
    /// bytes or more wait for the peer beyond what its socket took (the
    /// pending bytes, the unsent part of messages in fragments and what is
    /// held behind them). Returns at once for a connection that is down or
    /// retired: a send then takes the usual no-connection path.
    pub(crate) async fn wait_not_busy(&self, limit: usize) {
        let mut phase = self.phase.subscribe();
        let _waiting = BusyWaiter::new(&self.busy_waiters);
        loop {
            // Registered before the check, so a wake-up between the check
            // and the wait is not lost.
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.is_retired() {
                return;
            }
            let up = match &*phase.borrow_and_update() {
                Phase::Down(_) => return,
                Phase::Connecting => false,
                Phase::Up(_) => true,
            };
            if up {
                let side = self.send_side();
                let busy = side
                    .writer
                    .as_ref()
                    .is_some_and(|w| side.pending.len() + w.backlog() >= limit);
                drop(side);
                if !busy {
                    return;
                }
            }
            tokio::select! {
                _ = &mut drained => {}
                changed = phase.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Negotiated flags once up.
    pub(crate) fn flags(&self) -> Option<DistFlags> {
        match &*self.phase.borrow() {
            Phase::Up(f) => Some(*f),
            _ => None,
        }
    }

    pub(crate) fn take_queue(&self) -> Option<mpsc::UnboundedReceiver<Signal>> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Waits until the connection is up (`Some(flags)`) or has failed (`None`).
    pub(crate) async fn wait_up(&self) -> Option<DistFlags> {
        let mut rx = self.phase.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                Phase::Up(f) => return Some(*f),
                Phase::Down(_) => return None,
                Phase::Connecting => {}
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// The connection a sender (a [`super::Mailbox`]) used last; see
/// [`NodeInner::route_message`].
#[derive(Default)]
pub(crate) struct ConnCache(Mutex<Option<Arc<Conn>>>);

/// Node events, as `net_kernel:monitor_nodes/2` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A connection to the node came up.
    Up {
        /// The peer.
        node: Atom,
    },
    /// The connection went down.
    Down {
        /// The peer.
        node: Atom,
        /// Why.
        reason: DownReason,
    },
}

impl NodeInner {
    /// The connection to `peer`, starting a dial if there is none.
    pub(crate) fn conn_for(self: &Arc<Self>, peer: &Atom) -> Arc<Conn> {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        // A connection being closed (`disconnect`) stays in the table until
        // its task has finished; the new one waits for that, so that its
        // nodeup follows the old one's nodedown.
        let closing = match conns.get(peer) {
            Some(c) if !c.is_retired() => return c.clone(),
            other => other.cloned(),
        };
        let c = Arc::new(Conn::new(self.next_conn_id(), peer.clone()));
        if conns.len() >= self.cfg.max_connections {
            drop(conns);
            tracing::warn!(peer = %peer, limit = self.cfg.max_connections, "not connecting: the node has max_connections connections");
            // A Conn that is down from the start: whatever is pushed to it
            // gets the no-connection treatment.
            c.retire();
            c.phase.send_replace(Phase::Down(DownReason::ConnectFailed(
                "max_connections reached".into(),
            )));
            drop(c.take_queue());
            return c;
        }
        conns.insert(peer.clone(), c.clone());
        drop(conns);
        let node = self.clone();
        let dial = c.clone();
        tokio::spawn(async move { node.dial(dial, closing).await });
        c
    }

    /// The connection to `peer` if one exists (connecting or up).
    pub(crate) fn existing_conn(&self, peer: &Atom) -> Option<Arc<Conn>> {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(peer)
            .cloned()
    }

    /// Queues a signal on a connection; if the connection is gone, the
    /// signal gets the BEAM's no-connection treatment.
    pub(crate) fn push(self: &Arc<Self>, conn: &Conn, sig: Signal) {
        use std::sync::atomic::Ordering::Relaxed;
        let queued = conn.queued.fetch_add(1, Relaxed);
        if queued >= self.cfg.max_send_queue {
            if !conn.kill.is_cancelled() {
                tracing::warn!(peer = %conn.peer, limit = self.cfg.max_send_queue, "the peer is not reading: {queued} signals are queued for it (max_send_queue); closing the connection");
            }
            return self.overloaded(conn, sig);
        }
        let mut side = conn.send_side();
        let SendSide { writer, pending } = &mut *side;
        match writer {
            Some(w) => {
                let backlog = pending.len() + w.backlog();
                if backlog >= self.cfg.max_send_queue_bytes {
                    drop(side);
                    if !conn.kill.is_cancelled() {
                        tracing::warn!(peer = %conn.peer, limit = self.cfg.max_send_queue_bytes, "the peer is not reading: {backlog} encoded bytes wait for it (max_send_queue_bytes); closing the connection");
                    }
                    return self.overloaded(conn, sig);
                }
                let was_empty = pending.is_empty();
                w.push(sig, pending);
                drop(side);
                if was_empty {
                    conn.ready.notify_one();
                }
            }
            None => {
                // Queued under the same lock, so a connection task that is
                // installing its writer takes this signal first.
                let refused = conn.tx.send(sig);
                drop(side);
                if let Err(mpsc::error::SendError(sig)) = refused {
                    conn.queued.fetch_sub(1, Relaxed);
                    self.undeliverable(sig);
                }
            }
        }
    }

    /// `sig` does not fit in `conn`'s send queue: it is dropped as
    /// undeliverable and the connection is closed with `send_queue_full`.
    fn overloaded(self: &Arc<Self>, conn: &Conn, sig: Signal) {
        use std::sync::atomic::Ordering::Relaxed;
        conn.queued.fetch_sub(1, Relaxed);
        if !conn.kill.is_cancelled() {
            conn.overloaded.store(true, Relaxed);
            conn.kill.cancel();
        }
        self.undeliverable(sig);
    }

    /// Sends a signal to `node`: local dispatch or the peer connection.
    pub(crate) fn route(self: &Arc<Self>, node: &Atom, sig: Signal) {
        if *node == self.name {
            self.handle_signal(sig, None);
        } else if self.is_shutting_down() {
            self.undeliverable(sig);
        } else {
            let c = self.conn_for(node);
            self.push(&c, sig);
        }
    }

    /// Sends a message signal (`SEND`, `REG_SEND`, `ALIAS_SEND`) to `node`
    /// like [`NodeInner::route`], through `cache`: the connection this
    /// sender used last, so a stream of messages to one peer looks the
    /// connection table up (a lock and a SipHash of the node name) only
    /// when the destination node changes or that connection has ended.
    pub(crate) fn route_message(self: &Arc<Self>, node: &Atom, sig: Signal, cache: &ConnCache) {
        if *node == self.name {
            return self.route(node, sig);
        }
        // A message pushed to a connection the node's shutdown is closing
        // is dropped with it, as `route` would drop it: only a lookup needs
        // the shutdown check.
        let mut slot = cache.0.lock().unwrap_or_else(|e| e.into_inner());
        match self.cached_conn(&mut slot, node) {
            // A message the connection cannot take is dropped by `push`
            // (undeliverable does nothing for messages), so holding the
            // cache's lock here cannot reenter it.
            Some(c) => self.push(c, sig),
            None => self.undeliverable(sig),
        }
    }

    /// The connection to `node` a sender's cache `slot` holds, or, when it
    /// holds another peer's or a retired one, the table's (then cached);
    /// `None` when that lookup would come during the node's shutdown.
    fn cached_conn<'a>(
        self: &Arc<Self>,
        slot: &'a mut Option<Arc<Conn>>,
        node: &Atom,
    ) -> Option<&'a Arc<Conn>> {
        if !slot
            .as_ref()
            .is_some_and(|c| !c.is_retired() && c.peer == *node)
        {
            if self.is_shutting_down() {
                return None;
            }
            *slot = Some(self.conn_for(node));
        }
        slot.as_ref()
    }

    /// Waits until a message to `node` may be queued without passing the
    /// busy limit: see [`super::Mailbox::send_wait`]. Sets the sender's
    /// cached connection as a send would.
    pub(crate) async fn wait_not_busy(self: &Arc<Self>, node: &Atom, cache: &ConnCache) {
        if *node == self.name {
            return;
        }
        let conn = {
            let mut slot = cache.0.lock().unwrap_or_else(|e| e.into_inner());
            match self.cached_conn(&mut slot, node) {
                Some(c) => c.clone(),
                None => return,
            }
        };
        conn.wait_not_busy(self.cfg.dist_buf_busy_limit).await;
    }

    /// Connects to `peer` (if needed) and waits for the outcome.
    pub(crate) async fn connect_atom(self: &Arc<Self>, peer: &Atom) -> Option<DistFlags> {
        if *peer == self.name {
            return None;
        }
        let c = self.conn_for(peer);
        c.wait_up().await
    }

    /// Closes the connection to `peer`; true if there was one.
    pub(crate) fn disconnect_atom(&self, peer: &Atom) -> bool {
        match self.existing_conn(peer).filter(|c| !c.is_retired()) {
            Some(c) => {
                // Retired at once, as `erlang:disconnect_node/1` returns
                // once the node is gone: a send from now on sets up a new
                // connection instead of joining the one being closed.
                c.retire();
                c.kill.cancel();
                true
            }
            None => false,
        }
    }

    /// Our dial: EPMD lookup, TCP connect, handshake, then the connection loop.
    async fn dial(self: Arc<Self>, conn: Arc<Conn>, closing: Option<Arc<Conn>>) {
        let after_closing = async {
            if let Some(old) = closing {
                old.closed(CLOSING_WAIT).await;
            }
            self.dial_handshake(&conn.peer).await
        };
        let outcome = tokio::select! {
            r = after_closing => Some(r),
            _ = conn.cancel_dial.cancelled() => None,
            _ = conn.kill.cancelled() => Some(Err(DialError::Failed("disconnected while connecting".into()))),
        };
        match outcome {
            // The peer's simultaneous dial took over this Conn.
            None => {}
            Some(Ok(est)) => match conn.take_queue() {
                Some(queue) => self.run(conn, est, queue).await,
                None => {
                    tracing::debug!(peer = %conn.peer, "dial finished after the peer's connection took over")
                }
            },
            Some(Err(DialError::Nok)) => {
                // The peer's dial wins the tie-break; it arrives on our
                // listener and takes this Conn over. If it never does, fail.
                let waited = tokio::time::timeout(self.cfg.handshake_timeout, conn.wait_up()).await;
                if !matches!(waited, Ok(Some(_))) && conn.take_queue().is_some() {
                    self.conn_failed(
                        &conn,
                        "the peer won the simultaneous connect, but its connection never came"
                            .into(),
                    );
                }
            }
            Some(Err(DialError::Failed(why))) if conn.take_queue().is_some() => {
                self.conn_failed(&conn, why);
            }
            // Someone else took the queue: the peer's own connection won.
            Some(Err(DialError::Failed(_))) => {}
        }
    }

    /// A Conn whose setup failed (queue already taken by the caller).
    pub(crate) fn conn_failed(self: &Arc<Self>, conn: &Arc<Conn>, why: String) {
        tracing::info!(peer = %conn.peer, "cannot connect: {why}");
        self.finish(conn, None, DownReason::ConnectFailed(why), false);
    }

    /// Removes a Conn from the table, fails what was queued on it, fires its
    /// links and monitors, and tells node monitors.
    fn finish(
        self: &Arc<Self>,
        conn: &Arc<Conn>,
        queue: Option<mpsc::UnboundedReceiver<Signal>>,
        reason: DownReason,
        was_up: bool,
    ) {
        {
            let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
            if conns.get(&conn.peer).is_some_and(|c| c.id == conn.id) {
                conns.remove(&conn.peer);
            }
            conn.retire();
        }
        conn.phase.send_replace(Phase::Down(reason.clone()));
        // Anything still queued (or queued from now on) cannot go out.
        let mut queue = queue.or_else(|| conn.take_queue());
        if let Some(q) = queue.as_mut() {
            q.close();
            while let Ok(sig) = q.try_recv() {
                self.undeliverable(sig);
            }
        }
        self.sweep_connection(&conn.peer, conn.id);
        if was_up {
            tracing::info!(node = %conn.peer, reason = %reason, "nodedown");
            let _ = self.events.send(NodeEvent::Down {
                node: conn.peer.clone(),
                reason,
            });
        }
    }

    /// Runs an established connection until it ends.
    pub(crate) async fn run(
        self: Arc<Self>,
        conn: Arc<Conn>,
        est: Established,
        mut queue: mpsc::UnboundedReceiver<Signal>,
    ) {
        let Established {
            reader,
            writer,
            flags,
            leftover,
        } = est;
        conn.phase.send_replace(Phase::Up(flags));
        tracing::info!(node = %conn.peer, "nodeup");
        let _ = self.events.send(NodeEvent::Up {
            node: conn.peer.clone(),
        });
        let header =
            flags.contains(DistFlags::DIST_HDR_ATOM_CACHE) || flags.contains(DistFlags::FRAGMENTS);
        let vectored = writer.is_write_vectored();
        {
            // What queued while connecting goes first; from now on senders
            // encode directly.
            let mut out = DistWriter::new(flags, conn.peer.clone(), conn.stats.clone());
            let mut pending = OutBuf::new(vectored);
            let mut side = conn.send_side();
            while let Ok(sig) = queue.try_recv() {
                out.push(sig, &mut pending);
            }
            *side = SendSide {
                writer: Some(out),
                pending,
            };
        }
        let mut io = ConnIo {
            node: &self,
            conn: &conn,
            rbuf: leftover,
            wbuf: OutBuf::new(vectored),
            receiver: header.then(|| DistReceiver::new(self.cfg.max_frame_len, conn.stats.clone())),
            names: NameCache::default(),
        };
        let reason = io.run(reader, writer).await;
        // Senders queue again (and `finish` fails what they queue).
        let out = {
            let mut side = conn.send_side();
            side.pending = OutBuf::new(true);
            side.writer.take()
        };
        // Signals that waited behind a message in fragments never went out.
        for sig in out.map(|mut o| o.take_held()).unwrap_or_default() {
            self.undeliverable(sig);
        }
        self.finish(&conn, Some(queue), reason, true);
    }
}

/// A connection after its handshake: the socket halves, the negotiated
/// flags, and bytes read past the last handshake message.
pub(crate) struct Established {
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    pub writer: Box<dyn AsyncWrite + Send + Unpin>,
    pub flags: DistFlags,
    pub leftover: BytesMut,
}

/// Why a dial did not produce a connection.
#[derive(Debug)]
pub(crate) enum DialError {
    /// The peer answered `nok`: its own dial to us wins.
    Nok,
    /// Anything else, explained.
    Failed(String),
}

struct ConnIo<'a> {
    node: &'a Arc<NodeInner>,
    conn: &'a Arc<Conn>,
    rbuf: BytesMut,
    /// Bytes to write: big binaries by reference when the writer does
    /// vectored writes.
    wbuf: OutBuf,
    /// Header decoding and reassembly, when headers were negotiated.
    receiver: Option<DistReceiver>,
    /// The registered process that got this connection's last `REG_SEND`.
    names: NameCache,
}

impl ConnIo<'_> {
    async fn run(
        &mut self,
        mut reader: Box<dyn AsyncRead + Send + Unpin>,
        mut writer: Box<dyn AsyncWrite + Send + Unpin>,
    ) -> DownReason {
        let ticktime = self.node.cfg.net_ticktime;
        let mut ticker = tokio::time::interval(ticktime / 4);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.reset();
        let mut last_read = Instant::now();
        // Whether anything went out since the last tick period / peer tick.
        let mut wrote_this_period = false;
        let mut wrote_since_peer_tick = false;
        let shutdown = self.node.shutdown.clone();
        // Made once: a `cancelled()` future registers with its token when
        // first polled, and one made per turn of the loop would register and
        // unregister (a lock each) on every turn.
        let conn = self.conn;
        let killed = conn.kill.cancelled();
        let shut_down = shutdown.cancelled();
        tokio::pin!(killed, shut_down);
        self.rbuf.reserve(READ_BUFFER_BYTES);
        // Frames that arrived with the handshake's last message.
        if let Err(r) = self.process_frames(&mut wrote_since_peer_tick) {
            return r;
        }
        loop {
            if self.wbuf.len() < WRITE_BATCH_BYTES {
                self.fill();
            }
            if self.rbuf.capacity() - self.rbuf.len() < READ_BUFFER_BYTES / 4 {
                // Asks for no more than the buffer's own size in all: once
                // the frames split off it are dropped, `BytesMut` then moves
                // the partial frame to the front of the same memory instead
                // of allocating (and faulting in) a fresh, larger buffer on
                // every refill.
                let len = self.rbuf.len();
                self.rbuf.reserve(
                    READ_BUFFER_BYTES
                        .saturating_sub(len)
                        .max(READ_BUFFER_BYTES / 4),
                );
            }
            let want_queue = self.wbuf.len() < WRITE_BATCH_BYTES;
            let have_output = !self.wbuf.is_empty();
            let mut slices = [std::io::IoSlice::new(&[]); MAX_IO_SLICES];
            let nslices = self.wbuf.io_slices(&mut slices);
            let slices = slices.get(..nslices).unwrap_or_default();
            tokio::select! {
                r = reader.read_buf(&mut self.rbuf) => match r {
                    Ok(0) => return DownReason::ConnectionClosed,
                    Ok(_) => {
                        last_read = Instant::now();
                        if let Err(r) = self.process_frames(&mut wrote_since_peer_tick) {
                            return r;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(peer = %self.conn.peer, "read failed: {e}");
                        return DownReason::ConnectionClosed;
                    }
                },
                // More to take from the senders (taken at the loop's top).
                _ = self.conn.ready.notified(), if want_queue => {},
                w = writer.write_vectored(slices), if have_output => match w {
                    Ok(0) => return DownReason::ConnectionClosed,
                    Ok(n) => {
                        wrote_this_period = true;
                        wrote_since_peer_tick = true;
                        self.wbuf.advance(n);
                        // Keep a big message's buffer from pinning memory.
                        self.wbuf.shrink(4 * WRITE_BATCH_BYTES);
                    }
                    Err(e) => {
                        tracing::debug!(peer = %self.conn.peer, "write failed: {e}");
                        return DownReason::ConnectionClosed;
                    }
                },
                _ = ticker.tick() => {
                    if last_read.elapsed() >= ticktime {
                        tracing::warn!(node = %self.conn.peer, "** Node {} not responding ** ** Removing (timedout connection) **", self.conn.peer);
                        return DownReason::NetTickTimeout;
                    }
                    if let Some(r) = self.receiver.as_mut() {
                        r.trim();
                    }
                    if !wrote_this_period && self.wbuf.is_empty() {
                        self.wbuf.extend_from_slice(&TICK);
                    }
                    wrote_this_period = false;
                },
                _ = &mut killed => {
                    if self.conn.overloaded.load(std::sync::atomic::Ordering::Relaxed) {
                        return DownReason::SendQueueFull;
                    }
                    self.flush_and_close(&mut writer).await;
                    return DownReason::Disconnect;
                },
                _ = &mut shut_down => {
                    self.flush_and_close(&mut writer).await;
                    return DownReason::Disconnect;
                },
            }
        }
    }

    /// Writes what is buffered and closes, for a clean disconnect; bounded,
    /// because a peer that does not read would hold us forever.
    async fn flush_and_close(&mut self, writer: &mut Box<dyn AsyncWrite + Send + Unpin>) {
        self.fill();
        let _ = tokio::time::timeout(FLUSH_ON_CLOSE_TIMEOUT, async {
            while !self.wbuf.is_empty() {
                match writer.write(self.wbuf.chunk()).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => self.wbuf.advance(n),
                }
            }
            let _ = writer.shutdown().await;
        })
        .await;
    }

    /// Moves what senders encoded and fragments of big messages into the
    /// write buffer, up to [`WRITE_BATCH_BYTES`]: everything encoded so far,
    /// then one fragment, and again while there is room. So small messages
    /// pass big ones, and a stream of small ones cannot starve a big one.
    fn fill(&mut self) {
        let mut side = self.conn.send_side();
        let SendSide { writer, pending } = &mut *side;
        let Some(out) = writer.as_mut() else {
            return;
        };
        while self.wbuf.len() < WRITE_BATCH_BYTES {
            let mut progressed = !pending.is_empty();
            self.wbuf.append(pending);
            if out.next_fragment(&mut self.wbuf) {
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        let taken = out.take_encoded();
        // Read under the lock: a sender counted itself before it took the
        // lock to find the backlog too big, so either it is counted here or
        // it saw the smaller backlog.
        let wake = self
            .conn
            .busy_waiters
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
            && pending.len() + out.backlog() < self.node.cfg.dist_buf_busy_limit;
        drop(side);
        self.conn
            .queued
            .fetch_sub(taken, std::sync::atomic::Ordering::Relaxed);
        if wake {
            self.conn.drained.notify_waiters();
        }
    }

    /// Handles every complete frame in the receive buffer.
    fn process_frames(&mut self, wrote_since_peer_tick: &mut bool) -> Result<(), DownReason> {
        loop {
            match frame::next_frame(&mut self.rbuf, self.node.cfg.max_frame_len) {
                Ok(None) => return Ok(()),
                Ok(Some(Frame::Tick)) => {
                    // Answer a tick when we have been silent since the peer's
                    // last one, so a peer with a shorter net_ticktime than
                    // ours never times us out.
                    if !*wrote_since_peer_tick && self.wbuf.is_empty() {
                        self.wbuf.extend_from_slice(&TICK);
                    }
                    *wrote_since_peer_tick = false;
                }
                Ok(Some(Frame::Data(bytes))) => {
                    let decoded = match self.receiver.as_mut() {
                        None => {
                            control::decode_frame(&bytes, &self.node.cfg.decode_limits).map(Some)
                        }
                        Some(r) => match bytes.get(..2) {
                            Some(
                                &[
                                    VERSION_MAGIC,
                                    DIST_HEADER | DIST_FRAG_HEADER | DIST_FRAG_CONT,
                                ],
                            ) => match r.receive(&bytes) {
                                Ok(Some(m)) => control::decode_dist_body(
                                    &m.body,
                                    m.refs,
                                    &self.node.cfg.decode_limits,
                                )
                                .map(Some),
                                Ok(None) => Ok(None),
                                Err(e) => Err(e.into()),
                            },
                            _ => Err(control::ControlError::BadKind(
                                bytes.iter().take(2).copied().collect(),
                            )),
                        },
                    };
                    match decoded {
                        Ok(None) => {}
                        Ok(Some(sig)) => {
                            if let Some(from) = sig.sender() {
                                if from.node != self.conn.peer {
                                    let why = format!(
                                        "sender {from:?} is not on node {}",
                                        self.conn.peer
                                    );
                                    tracing::warn!(peer = %self.conn.peer, "invalid distribution message: {why}; closing the connection");
                                    return Err(DownReason::ProtocolError(why));
                                }
                            }
                            let via = Some((&self.conn.peer, self.conn.id));
                            match sig {
                                Signal::RegSend { from, to, msg } => {
                                    match self.node.whereis_cached(&to, &mut self.names) {
                                        Some(p) => p.deliver(msg),
                                        None => self
                                            .node
                                            .handle_signal(Signal::RegSend { from, to, msg }, via),
                                    }
                                }
                                sig => self.node.handle_signal(sig, via),
                            }
                        }
                        Err(e) => {
                            tracing::warn!(peer = %self.conn.peer, "{e}; closing the connection");
                            return Err(DownReason::ProtocolError(e.to_string()));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(peer = %self.conn.peer, "{e}; closing the connection");
                    return Err(DownReason::ProtocolError(e.to_string()));
                }
            }
        }
    }
}

/// Time allowed to write what is buffered when a connection is closed on
/// purpose; a peer that does not read gets no more than this.
const FLUSH_ON_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest a new connection to a peer waits for the old one, being closed,
/// to be down, so that nodedown comes before nodeup: a closing connection
/// flushes for at most [`FLUSH_ON_CLOSE_TIMEOUT`], so this only bounds a
/// connection task that is stuck elsewhere.
pub(crate) const CLOSING_WAIT: Duration = Duration::from_secs(5);

/// Time allowed to connect the TCP socket to a peer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(7);
