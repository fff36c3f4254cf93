//! Rust processes: a pid, a mailbox queue, and the signal state the BEAM keeps
//! for every process (links, monitors both ways, aliases, trap_exit).
//!
//! The state lives in [`Proc`], shared between the owner's [`Mailbox`] and the
//! node, which applies incoming signals to it from connection tasks. Its lock
//! is a plain mutex that is never held across an `.await`.

use crate::dist::ProcRef;
use crate::term::{Atom, Pid, Reference, Term};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use tokio::sync::mpsc;

/// What a mailbox queue carries.
pub(crate) enum Delivery {
    /// An ordinary message (including `{'EXIT',..}`, `{'DOWN',..}` and
    /// `{nodedown,..}` messages made from signals).
    Msg(Term),
    /// The process was killed by a signal; wakes a blocked `recv`.
    Exited,
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
    /// `Some(reason)` once the process has exited.
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
    /// An erpc call process: its result only reaches the caller through the
    /// monitor, so once nobody watches it any more it is stopped.
    pub dies_unwatched: bool,
}

/// One local process.
pub(crate) struct Proc {
    pub pid: Pid,
    queue: mpsc::UnboundedSender<Delivery>,
    pub state: Mutex<ProcState>,
    /// For processes that run as a node-spawned task: aborts the task when the
    /// process is killed by a signal.
    pub task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Proc {
    pub(crate) fn new(pid: Pid) -> (Proc, mpsc::UnboundedReceiver<Delivery>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Proc {
                pid,
                queue: tx,
                state: Mutex::new(ProcState::default()),
                task: Mutex::new(None),
            },
            rx,
        )
    }

    /// Locks the state. A poisoned lock (a panic while it was held) is still
    /// usable: every update leaves the state consistent.
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a message unless the process has exited.
    pub(crate) fn deliver(&self, msg: Term) {
        let _ = self.queue.send(Delivery::Msg(msg));
    }

    /// Wakes the owner after an exit.
    pub(crate) fn wake_exited(&self) {
        let _ = self.queue.send(Delivery::Exited);
    }

    /// True until the process exits.
    pub(crate) fn is_alive(&self) -> bool {
        self.lock().exit.is_none()
    }
}
