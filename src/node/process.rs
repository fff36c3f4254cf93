//! Rust processes: a pid, a mailbox queue, and the signal state the BEAM keeps
//! for every process (links, monitors both ways, aliases, trap_exit).
//!
//! The state lives in [`Proc`], shared between the owner's [`Mailbox`] and the
//! node, which applies incoming signals to it from connection tasks. Its lock
//! is a plain mutex that is never held across an `.await`.

use super::NodeInner;
use crate::dist::ProcRef;
use crate::term::{Atom, Pid, Reference, Term};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Weak};
use tokio::sync::Notify;

/// A process's message queue: messages not yet taken by its owner.
#[derive(Default)]
pub(crate) struct Queue {
    /// Messages (including `{'EXIT',..}`, `{'DOWN',..}` and `{nodedown,..}`
    /// messages made from signals), oldest first.
    pub items: VecDeque<Term>,
    /// Set when the process exits: the queue is emptied (its memory freed)
    /// and takes no more messages.
    pub closed: bool,
}

/// The exit reason of a process killed because its mailbox overflowed:
/// `{erlnode, mailbox_overflow}`.
pub(crate) fn mailbox_overflow_reason() -> Term {
    Term::Tuple(vec![
        Term::Atom(Atom::from("erlnode")),
        Term::Atom(Atom::from("mailbox_overflow")),
    ])
}

/// Connection id used for links and monitors between local processes.
pub(crate) const LOCAL: u64 = 0;

/// A monitor this process holds on another process.
#[derive(Debug, Clone)]
pub(crate) struct MonitorOut {
    /// The node the target lives on.
    pub node: Atom,
    /// What was monitored: a pid or a registered name.
    pub target: ProcRef,
    /// The connection the monitor went over ([`LOCAL`] for local targets).
    pub conn: u64,
}

/// A monitor some other process holds on this one.
#[derive(Debug, Clone)]
pub(crate) struct Watcher {
    /// The process that gets the DOWN.
    pub pid: Pid,
    /// How it named us: the pid, or our registered name.
    pub as_ref: ProcRef,
    /// The connection the monitor came over ([`LOCAL`] for local watchers).
    pub conn: u64,
}

/// Signal state of one process.
#[derive(Default)]
pub(crate) struct ProcState {
    /// `Some(reason)` once the process has exited (`Some([])` when its
    /// owner was already gone, see `owner_gone`).
    pub exit: Option<Term>,
    /// `process_flag(trap_exit, true)`.
    pub trap_exit: bool,
    /// Linked processes, local or remote, with the connection each link
    /// lives on ([`LOCAL`] for local ones).
    pub links: HashMap<Pid, u64>,
    /// Unlinks sent with UNLINK_ID and not yet acknowledged, by peer pid.
    pub unlinking: HashMap<Pid, u64>,
    /// Monitors this process holds, by reference.
    pub monitors: HashMap<Reference, MonitorOut>,
    /// Monitors held on this process, by reference.
    pub watchers: HashMap<Reference, Watcher>,
    /// Registered name, if any.
    pub name: Option<Atom>,
    /// Active aliases.
    pub aliases: HashSet<Reference>,
    /// Group leader, when one was set.
    pub group_leader: Option<Pid>,
    /// `monitor_node/2` subscriptions: node → count.
    pub node_monitors: HashMap<Atom, usize>,
    /// Spawn requests this process sent and that have no reply yet, with the
    /// connection each went over (they fail with `noconnection` if it goes).
    pub pending_spawns: HashMap<Reference, u64>,
    /// A process the node runs (spawned from a SPAWN_REQUEST): its runner,
    /// not the drop of its mailbox, decides its exit reason.
    pub managed: bool,
    /// The owner's [`super::Mailbox`] is gone (dropped, or consumed by
    /// `exit`): nobody can read the exit reason here any more, so it is not
    /// kept (an erpc result, which travels as that reason, is not copied
    /// for it).
    pub owner_gone: bool,
    /// An erpc call process: its result only reaches the caller through the
    /// monitor, so once nobody watches it any more it is stopped.
    pub dies_unwatched: bool,
}

/// One local process.
pub(crate) struct Proc {
    pub pid: Pid,
    /// The message queue, shared with the owner's [`super::Mailbox`].
    pub queue: Mutex<Queue>,
    /// Wakes the owner when a message arrives or the process exits.
    pub wake: Notify,
    /// Messages the owner passed over in a selective receive and still
    /// holds: they count towards the mailbox limit.
    pub saved_len: AtomicUsize,
    /// Set (under the state lock, right after `ProcState::exit`) when the
    /// process exits, so that a receive checks liveness without the lock.
    pub exited: AtomicBool,
    /// The node's `max_mailbox_len`.
    max_len: usize,
    /// The node, to end the process when its mailbox overflows.
    node: Weak<NodeInner>,
    pub state: Mutex<ProcState>,
    /// For processes that run as a node-spawned task: aborts the task when the
    /// process is killed by a signal.
    pub task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Proc {
    pub(crate) fn new(pid: Pid, max_len: usize, node: Weak<NodeInner>) -> Proc {
        Proc {
            pid,
            queue: Mutex::default(),
            wake: Notify::new(),
            saved_len: AtomicUsize::new(0),
            exited: AtomicBool::new(false),
            max_len,
            node,
            state: Mutex::new(ProcState::default()),
            task: Mutex::new(None),
        }
    }

    /// Locks the message queue (poison-tolerant, like [`Proc::lock`]).
    pub(crate) fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the state. A poisoned lock (a panic while it was held) is still
    /// usable: every update leaves the state consistent.
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a message unless the process has exited. A message that
    /// takes the mailbox past the node's `max_mailbox_len` ends the process
    /// with [`mailbox_overflow_reason`] instead (see
    /// [`super::DEFAULT_MAX_MAILBOX_LEN`]).
    pub(crate) fn deliver(&self, msg: Term) {
        let (total, was_empty) = {
            let mut q = self.queue();
            if q.closed {
                return;
            }
            let was_empty = q.items.is_empty();
            q.items.push_back(msg);
            // Read under the queue lock: the owner moves the whole queue to
            // its passed-over messages under this lock, so the two counts
            // never both hold the same messages.
            let total = q
                .items
                .len()
                .saturating_add(self.saved_len.load(Ordering::Relaxed));
            (total, was_empty)
        };
        // The owner waits only after finding the queue empty (under its
        // lock), so the message that made it non-empty has woken it already
        // (or left it a permit).
        if was_empty {
            self.wake.notify_one();
        }
        if total > self.max_len {
            self.overflow(total);
        }
    }

    /// Ends the process because its mailbox holds more than the limit.
    #[cold]
    fn overflow(&self, total: usize) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        let Some(me) = node.lookup(&self.pid) else {
            return;
        };
        if !me.is_alive() {
            return;
        }
        tracing::warn!(
            pid = ?self.pid,
            limit = self.max_len,
            "a process is not reading its mailbox: {total} messages queued (max_mailbox_len); \
             ending it with reason {{erlnode, mailbox_overflow}}"
        );
        node.exit_process(&me, mailbox_overflow_reason());
    }

    /// Empties and closes the queue after an exit, and wakes the owner.
    pub(crate) fn wake_exited(&self) {
        let dropped = {
            let mut q = self.queue();
            q.closed = true;
            std::mem::take(&mut q.items)
        };
        drop(dropped);
        self.wake.notify_one();
    }

    /// Messages queued and not yet taken, passed-over ones included.
    pub(crate) fn mailbox_len(&self) -> usize {
        self.queue()
            .items
            .len()
            .saturating_add(self.saved_len.load(Ordering::Relaxed))
    }

    /// True until the process exits.
    pub(crate) fn is_alive(&self) -> bool {
        !self.exited.load(Ordering::Acquire)
    }
}
