//! [`Mailbox`]: a Rust process with a pid, a message queue, and the BEAM's
//! process semantics (links, monitors, exits, aliases, registered names).

use super::NodeInner;
use super::conn::ConnCache;
use super::local::atom_term;
use super::process::{LOCAL, MonitorOut, Proc};
use crate::dist::{ProcRef, Signal};
use crate::term::{Atom, Pid, Reference, Term};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Dest {
    /// A process, local or remote.
    Pid(Pid),
    /// A name registered on this node.
    Name(Atom),
    /// `{Name, Node}`: a name registered on some node (this one included).
    RemoteName(Atom, Atom),
    /// An alias (a reference made by [`Mailbox::alias`] or a BEAM `alias()`).
    Alias(Reference),
}

impl From<Pid> for Dest {
    fn from(p: Pid) -> Dest {
        Dest::Pid(p)
    }
}
impl From<&Pid> for Dest {
    fn from(p: &Pid) -> Dest {
        Dest::Pid(p.clone())
    }
}
impl From<&str> for Dest {
    /// `"name"` is a local registered name; `"name@node"`… is not parsed:
    /// use `(name, node)` for remote names.
    fn from(n: &str) -> Dest {
        Dest::Name(Atom::from(n))
    }
}
impl From<(&str, &str)> for Dest {
    /// `(name, node)`, like Erlang's `{Name, Node} ! Msg`.
    fn from((name, node): (&str, &str)) -> Dest {
        Dest::RemoteName(Atom::from(name), Atom::from(node))
    }
}
impl From<(Atom, Atom)> for Dest {
    fn from((name, node): (Atom, Atom)) -> Dest {
        Dest::RemoteName(name, node)
    }
}
impl From<Reference> for Dest {
    fn from(r: Reference) -> Dest {
        Dest::Alias(r)
    }
}

/// What a process can monitor.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorTarget {
    /// A process.
    Pid(Pid),
    /// `{Name, Node}`.
    Name(Atom, Atom),
}

impl From<Pid> for MonitorTarget {
    fn from(p: Pid) -> MonitorTarget {
        MonitorTarget::Pid(p)
    }
}
impl From<&Pid> for MonitorTarget {
    fn from(p: &Pid) -> MonitorTarget {
        MonitorTarget::Pid(p.clone())
    }
}
impl From<(&str, &str)> for MonitorTarget {
    fn from((name, node): (&str, &str)) -> MonitorTarget {
        MonitorTarget::Name(Atom::from(name), Atom::from(node))
    }
}

/// The process behind a mailbox has exited; `reason` is its exit reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("process exited with reason {reason}")]
pub struct Exited {
    /// The exit reason, e.g. `noconnection` or `{shutdown, x}`.
    pub reason: Term,
}

/// A Rust process on the node: it has a pid that Erlang code can send to,
/// link to and monitor.
///
/// Messages arrive as terms, in the BEAM's shapes: a trapped exit is
/// `{'EXIT', From, Reason}`, a monitor fires `{'DOWN', Ref, process, Obj,
/// Reason}`, `monitor_node` gives `{nodedown, Node}`.
///
/// Dropping the mailbox ends the process with reason `normal`.
///
/// A mailbox that holds more than the node's
/// [`max_mailbox_len`](crate::node::NodeBuilder::max_mailbox_len) unread
/// messages ends its process with reason `{erlnode, mailbox_overflow}`.
pub struct Mailbox {
    pub(crate) node: Arc<NodeInner>,
    pub(crate) proc: Arc<Proc>,
    /// Messages passed over by a selective receive, oldest first.
    saved: VecDeque<Term>,
    /// The connection this process sent to last.
    conn: ConnCache,
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("pid", &self.proc.pid)
            .finish_non_exhaustive()
    }
}

impl Mailbox {
    pub(crate) fn new(node: Arc<NodeInner>, proc: Arc<Proc>) -> Mailbox {
        Mailbox {
            node,
            proc,
            saved: VecDeque::new(),
            conn: ConnCache::default(),
        }
    }

    /// Publishes how many passed-over messages this mailbox holds.
    fn saved_changed(&self) {
        self.proc
            .saved_len
            .store(self.saved.len(), Ordering::Relaxed);
    }

    /// Takes the first passed-over message.
    fn pop_saved(&mut self) -> Option<Term> {
        let t = self.saved.pop_front()?;
        self.saved_changed();
        Some(t)
    }

    /// The next queued message without waiting: `Ok(None)` when the queue
    /// is empty, `Err` once the process has exited.
    fn take_queued(&self) -> Result<Option<Term>, Exited> {
        let mut q = self.proc.queue();
        match q.items.pop_front() {
            Some(t) => Ok(Some(t)),
            None if q.closed => {
                drop(q);
                Err(self.exited())
            }
            None => Ok(None),
        }
    }

    /// Messages in this mailbox, unread ones and ones passed over by a
    /// selective receive (Erlang's `process_info(P, message_queue_len)`).
    pub fn len(&self) -> usize {
        self.proc.mailbox_len()
    }

    /// True when no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This process's pid.
    pub fn pid(&self) -> &Pid {
        &self.proc.pid
    }

    /// The name of the node this process runs on.
    pub fn node_name(&self) -> &Atom {
        &self.node.name
    }

    fn exited(&self) -> Exited {
        Exited {
            reason: self
                .proc
                .lock()
                .exit
                .clone()
                .unwrap_or_else(|| atom_term("normal")),
        }
    }

    fn check_alive(&self) -> Result<(), Exited> {
        if self.proc.is_alive() {
            Ok(())
        } else {
            Err(self.exited())
        }
    }

    /// The next message. Fails once the process has been killed by an exit
    /// signal (a linked process died and this one does not trap exits).
    pub async fn recv(&mut self) -> Result<Term, Exited> {
        self.check_alive()?;
        loop {
            if let Some(t) = self.pop_saved() {
                return Ok(t);
            }
            // No passed-over message is left: take every queued message at
            // once, in order, so the next receives need no lock.
            if !self.take_all_queued()? {
                self.proc.wake.notified().await;
            }
        }
    }

    /// Moves every queued message to the (empty) passed-over ones, which
    /// are read before the queue: `Ok(false)` when the queue is empty, `Err`
    /// once the process has exited.
    fn take_all_queued(&mut self) -> Result<bool, Exited> {
        let mut q = self.proc.queue();
        if q.items.is_empty() {
            if q.closed {
                drop(q);
                return Err(self.exited());
            }
            return Ok(false);
        }
        // The queue keeps the old, empty buffer of `saved` for reuse.
        std::mem::swap(&mut q.items, &mut self.saved);
        // Published under the queue lock, so `Proc::deliver` never counts
        // these messages twice (see `Proc::deliver`).
        self.saved_changed();
        Ok(true)
    }

    async fn recv_queue(&mut self) -> Result<Term, Exited> {
        loop {
            if let Some(t) = self.take_queued()? {
                return Ok(t);
            }
            // One owner waits; a wake-up that came before this wait left a
            // permit, so none is lost.
            self.proc.wake.notified().await;
        }
    }

    /// The next message, or `Ok(None)` after `timeout`.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Term>, Exited> {
        match tokio::time::timeout(timeout, self.recv()).await {
            Ok(r) => r.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// A message already queued, without waiting.
    pub fn try_recv(&mut self) -> Result<Option<Term>, Exited> {
        self.check_alive()?;
        if let Some(t) = self.pop_saved() {
            return Ok(Some(t));
        }
        self.take_queued()
    }

    /// Selective receive: the first message for which `pred` holds, leaving
    /// the others queued in order (Erlang's `receive Pattern -> ... end`).
    /// `Ok(None)` after `timeout` (`None` waits forever).
    pub async fn recv_match(
        &mut self,
        mut pred: impl FnMut(&Term) -> bool,
        timeout: Option<Duration>,
    ) -> Result<Option<Term>, Exited> {
        self.check_alive()?;
        if let Some(i) = self.saved.iter().position(&mut pred) {
            let t = self.saved.remove(i);
            self.saved_changed();
            return Ok(t);
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, self.recv_queue()).await {
                    Ok(r) => r?,
                    Err(_) => return Ok(None),
                },
                None => self.recv_queue().await?,
            };
            if pred(&next) {
                return Ok(Some(next));
            }
            self.saved.push_back(next);
            self.saved_changed();
        }
    }

    /// Sends `msg` to `to`, like Erlang's `!`. Never fails: as in Erlang, a
    /// message to a process or node that does not exist is dropped.
    pub fn send(&self, to: impl Into<Dest>, msg: Term) {
        self.node
            .send_from(&self.proc.pid, to.into(), msg, &self.conn);
    }

    /// Sends `msg` to `to` like [`Mailbox::send`], after waiting while the
    /// connection to the destination's node is busy, as the BEAM suspends a
    /// process that sends to a busy distribution port: while the connection
    /// is being set up, and while [`NodeBuilder::dist_buf_busy_limit`] bytes
    /// (1 MiB by default) or more wait for the peer beyond what its socket
    /// took. A producer that uses it runs at the pace the peer reads,
    /// instead of queueing until the send queue limits close the
    /// connection. Local destinations, and a node that cannot be reached,
    /// never make it wait (the message is then dropped, as with `send`).
    ///
    /// [`NodeBuilder::dist_buf_busy_limit`]: crate::NodeBuilder::dist_buf_busy_limit
    pub async fn send_wait(&self, to: impl Into<Dest>, msg: Term) {
        let to = to.into();
        let node = match &to {
            Dest::Pid(p) => Some(&p.node),
            Dest::RemoteName(_, n) => Some(n),
            Dest::Alias(a) => Some(&a.node),
            Dest::Name(_) => None,
        };
        if let Some(node) = node {
            self.node.wait_not_busy(node, &self.conn).await;
        }
        self.send(to, msg);
    }

    /// Sets `process_flag(trap_exit, Flag)`; returns the old value.
    pub fn trap_exit(&self, on: bool) -> bool {
        std::mem::replace(&mut self.proc.lock().trap_exit, on)
    }

    /// Links to `pid`. If it does not exist, an exit signal `noproc` comes
    /// back (a message when trapping exits).
    pub fn link(&self, pid: &Pid) {
        self.node.link(&self.proc, pid);
    }

    /// Removes a link (UNLINK_ID protocol for remote pids).
    pub fn unlink(&self, pid: &Pid) {
        self.node.unlink(&self.proc, pid);
    }

    /// Monitors a process or `{Name, Node}`; returns the monitor reference.
    /// A DOWN message `{'DOWN', Ref, process, Obj, Reason}` arrives when it
    /// ends, at once with `noproc` if it does not exist.
    pub fn monitor(&self, target: impl Into<MonitorTarget>) -> Reference {
        self.node.monitor(&self.proc, target.into())
    }

    /// Removes a monitor. A DOWN message already queued stays queued
    /// (use [`Mailbox::demonitor_flush`] to drop it too).
    pub fn demonitor(&self, reference: &Reference) {
        let removed = self.proc.lock().monitors.remove(reference);
        if let Some(m) = removed {
            self.node.drop_monitor(&self.proc.pid, reference.clone(), m);
        }
    }

    /// `demonitor(Ref, [flush])`.
    pub fn demonitor_flush(&mut self, reference: &Reference) {
        self.demonitor(reference);
        self.drain_into_saved();
        self.saved.retain(|m| !is_down_for(m, reference));
        self.saved_changed();
    }

    fn drain_into_saved(&mut self) {
        let items = std::mem::take(&mut self.proc.queue().items);
        self.saved.extend(items);
        self.saved_changed();
    }

    /// Makes a new alias for this process (`alias()`): messages sent to the
    /// reference arrive here until [`Mailbox::unalias`].
    pub fn alias(&self) -> Reference {
        let r = self.node.make_ref();
        self.node.add_alias(&self.proc, r.clone());
        r
    }

    /// Deactivates an alias.
    pub fn unalias(&self, alias: &Reference) -> bool {
        self.node.remove_alias(&self.proc, alias)
    }

    /// Registers this process under `name` on its node. Fails if the name is
    /// taken or this process already has a name.
    pub fn register(&self, name: &str) -> Result<(), crate::node::NodeError> {
        self.node.register_name(
            &self.proc,
            Atom::new(name).map_err(|e| crate::node::NodeError::BadName(e.to_string()))?,
        )
    }

    /// Sends an exit signal to `pid` (`exit(Pid, Reason)`).
    pub fn exit_signal(&self, pid: &Pid, reason: Term) {
        self.node.route(
            &pid.node.clone(),
            Signal::Exit2 {
                from: self.proc.pid.clone(),
                to: pid.clone(),
                reason,
            },
        );
    }

    /// Ends this process with `reason`, which goes to its links and monitors.
    pub fn exit(self, reason: Term) {
        self.proc.lock().owner_gone = true;
        self.node.exit_process(&self.proc, reason);
    }

    /// `monitor_node(Node, true)`: a `{nodedown, Node}` message arrives when
    /// the connection to `node` goes down, at once if it cannot be set up.
    pub async fn monitor_node(&self, node: &str) -> Result<(), Exited> {
        self.check_alive()?;
        let node = Atom::from(node);
        if node == self.node.name {
            return Ok(());
        }
        let up = self.node.connect_atom(&node).await;
        let mut st = self.proc.lock();
        if up.is_some() {
            *st.node_monitors.entry(node).or_insert(0) += 1;
        } else {
            drop(st);
            self.proc
                .deliver(Term::Tuple(vec![atom_term("nodedown"), Term::Atom(node)]));
        }
        Ok(())
    }

    /// `monitor_node(Node, false)`: removes one subscription.
    pub fn demonitor_node(&self, node: &str) {
        let node = Atom::from(node);
        let mut st = self.proc.lock();
        if let Some(n) = st.node_monitors.get_mut(&node) {
            *n -= 1;
            if *n == 0 {
                st.node_monitors.remove(&node);
            }
        }
    }

    /// Sets this process's group leader.
    pub fn set_group_leader(&self, gl: &Pid) {
        self.proc.lock().group_leader = Some(gl.clone());
    }

    /// This process's group leader, if one was set.
    pub fn group_leader(&self) -> Option<Pid> {
        self.proc.lock().group_leader.clone()
    }
}

/// Why a gen_server call got no reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No reply within the timeout. Nothing is left behind: a late reply is
    /// dropped, because it goes to an alias that no longer exists.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The server went down (or never existed: `noproc`, or `noconnection`
    /// when its node cannot be reached) before replying.
    #[error("server exited with reason {0}")]
    Down(Term),
    /// The calling process itself was killed while waiting.
    #[error(transparent)]
    Exited(#[from] Exited),
}

impl Mailbox {
    /// `gen_server:call(Dest, Request, Timeout)`: monitors the server,
    /// sends `{'$gen_call', {Self, [alias|Ref]}, Request}` and waits for
    /// `{[alias|Ref], Reply}`. `timeout: None` waits forever, as `infinity`.
    pub async fn call(
        &mut self,
        to: impl Into<Dest>,
        request: Term,
        timeout: Option<Duration>,
    ) -> Result<Term, CallError> {
        let to = to.into();
        let target = match &to {
            Dest::Pid(p) => MonitorTarget::Pid(p.clone()),
            Dest::Name(n) => MonitorTarget::Name(n.clone(), self.node.name.clone()),
            Dest::RemoteName(n, node) => MonitorTarget::Name(n.clone(), node.clone()),
            Dest::Alias(a) => {
                return Err(CallError::Down(Term::tuple(vec![
                    atom_term("badarg"),
                    Term::Ref(Box::new(a.clone())),
                ])));
            }
        };
        // As gen:do_call does: the monitor reference doubles as the reply alias.
        let mref = self.monitor(target);
        self.node.add_alias(&self.proc, mref.clone());
        let tag = Term::ImproperList(
            vec![atom_term("alias")],
            Box::new(Term::Ref(Box::new(mref.clone()))),
        );
        let msg = Term::Tuple(vec![
            atom_term("$gen_call"),
            Term::Tuple(vec![Term::Pid(self.proc.pid.clone()), tag.clone()]),
            request,
        ]);
        self.send(to, msg);
        let got = self
            .recv_match(
                |m| match m.as_tuple() {
                    Some([t, _]) => *t == tag,
                    _ => is_down_for(m, &mref),
                },
                timeout,
            )
            .await;
        self.unalias(&mref);
        match got {
            Ok(Some(m)) => {
                if is_down_for(&m, &mref) {
                    let reason = m
                        .into_tuple()
                        .ok()
                        .and_then(|mut v| v.pop())
                        .unwrap_or_default();
                    return Err(CallError::Down(reason));
                }
                self.demonitor_flush(&mref);
                Ok(m.into_tuple()
                    .ok()
                    .and_then(|mut v| v.pop())
                    .unwrap_or_default())
            }
            Ok(None) => {
                self.demonitor_flush(&mref);
                Err(CallError::Timeout(timeout.unwrap_or_default()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `gen_server:cast(Dest, Request)`: sends `{'$gen_cast', Request}`.
    pub fn cast(&self, to: impl Into<Dest>, request: Term) {
        self.send(to, Term::Tuple(vec![atom_term("$gen_cast"), request]));
    }
}

fn is_down_for(m: &Term, reference: &Reference) -> bool {
    matches!(m.as_tuple(), Some([tag, Term::Ref(r), ..]) if tag.is_atom("DOWN") && **r == *reference)
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let (alive, managed) = {
            let mut st = self.proc.lock();
            st.owner_gone = true;
            (st.exit.is_none(), st.managed)
        };
        if alive && !managed {
            self.node.exit_process(&self.proc, atom_term("normal"));
        }
    }
}

impl NodeInner {
    pub(crate) fn link(self: &Arc<Self>, proc: &Arc<Proc>, pid: &Pid) {
        if *pid == proc.pid {
            return;
        }
        if pid.node == self.name {
            proc.lock().links.insert(pid.clone(), LOCAL);
            self.handle_signal(
                Signal::Link {
                    from: proc.pid.clone(),
                    to: pid.clone(),
                },
                None,
            );
            return;
        }
        let conn = self.conn_for(&pid.node);
        proc.lock().links.insert(pid.clone(), conn.id);
        self.push(
            &conn,
            Signal::Link {
                from: proc.pid.clone(),
                to: pid.clone(),
            },
        );
    }

    pub(crate) fn unlink(self: &Arc<Self>, proc: &Arc<Proc>, pid: &Pid) {
        let had = proc.lock().links.remove(pid);
        if had.is_none() {
            return;
        }
        if pid.node == self.name {
            self.handle_signal(
                Signal::Unlink {
                    from: proc.pid.clone(),
                    to: pid.clone(),
                },
                None,
            );
            return;
        }
        let conn = self.conn_for(&pid.node);
        if conn
            .flags()
            .is_some_and(|f| !f.contains(crate::handshake::DistFlags::UNLINK_ID))
        {
            self.push(
                &conn,
                Signal::Unlink {
                    from: proc.pid.clone(),
                    to: pid.clone(),
                },
            );
            return;
        }
        let id = self.next_unlink_id();
        proc.lock().unlinking.insert(pid.clone(), id);
        self.push(
            &conn,
            Signal::UnlinkId {
                id,
                from: proc.pid.clone(),
                to: pid.clone(),
            },
        );
    }

    pub(crate) fn monitor(self: &Arc<Self>, proc: &Arc<Proc>, target: MonitorTarget) -> Reference {
        let reference = self.make_ref();
        let (node, target) = match target {
            MonitorTarget::Pid(p) => (p.node.clone(), ProcRef::Pid(p)),
            MonitorTarget::Name(n, node) => (node, ProcRef::Name(n)),
        };
        let sig = Signal::Monitor {
            from: proc.pid.clone(),
            target: target.clone(),
            reference: reference.clone(),
        };
        if node == self.name {
            proc.lock().monitors.insert(
                reference.clone(),
                MonitorOut {
                    node,
                    target,
                    conn: LOCAL,
                },
            );
            self.handle_signal(sig, None);
        } else {
            let conn = self.conn_for(&node);
            proc.lock().monitors.insert(
                reference.clone(),
                MonitorOut {
                    node,
                    target,
                    conn: conn.id,
                },
            );
            self.push(&conn, sig);
        }
        reference
    }

    /// Sends on behalf of `from`; `cache` is the sender's last connection.
    pub(crate) fn send_from(self: &Arc<Self>, from: &Pid, to: Dest, msg: Term, cache: &ConnCache) {
        match to {
            Dest::Pid(pid) => {
                if pid.node == self.name {
                    if let Some(p) = self.lookup(&pid) {
                        p.deliver(msg);
                    }
                } else {
                    self.route_message(
                        &pid.node.clone(),
                        Signal::Send {
                            from: Some(from.clone()),
                            to: pid,
                            msg,
                        },
                        cache,
                    );
                }
            }
            Dest::Name(name) => {
                if let Some(p) = self.whereis(&name) {
                    p.deliver(msg);
                }
            }
            Dest::RemoteName(name, node) => {
                if node == self.name {
                    if let Some(p) = self.whereis(&name) {
                        p.deliver(msg);
                    }
                } else {
                    self.route_message(
                        &node,
                        Signal::RegSend {
                            from: from.clone(),
                            to: name,
                            msg,
                        },
                        cache,
                    );
                }
            }
            Dest::Alias(alias) => {
                if alias.node == self.name {
                    if let Some(p) = self.alias_owner(&alias) {
                        p.deliver(msg);
                    }
                } else {
                    self.route_message(
                        &alias.node.clone(),
                        Signal::AliasSend {
                            from: from.clone(),
                            alias,
                            msg,
                        },
                        cache,
                    );
                }
            }
        }
    }
}
