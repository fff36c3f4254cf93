//! The node: its name and creation, its processes and registered names, its
//! connections, and the services a BEAM expects to find on a peer.
//!
//! [`Node`] is the handle users hold. Dropping the last handle shuts the node
//! down: connections close (peers see `nodedown`) and the EPMD registration
//! ends. Internally everything holds an `Arc<NodeInner>`.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod conn;
pub mod functions;
mod handle;
mod local;
mod mailbox;
pub(crate) mod process;
mod rpc;
mod startup;

pub use conn::{DownReason, NodeEvent, WRITE_BATCH_BYTES};
pub use functions::{Class, Exception, RpcCall, RpcResult};
pub use handle::{Node, PING_TIMEOUT};
pub use mailbox::{CallError, Dest, Exited, Mailbox, MonitorTarget};
pub use rpc::{RpcError, SpawnOpts};
pub use startup::NodeBuilder;

use crate::term::{Atom, Pid, Reference, Term};
use conn::Conn;
use process::Proc;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// OTP's default `net_ticktime`.
pub const DEFAULT_NET_TICKTIME: Duration = Duration::from_secs(60);

/// OTP's `net_setuptime`: each handshake step must finish within it.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(7);

/// Node events kept for a slow `monitor_nodes` subscriber before it starts
/// missing some (it is told how many it missed).
/// Node events are rare (one per connection up or down), so this is ample;
/// the channel allocates every slot up front, so it is kept small.
const NODE_EVENT_BUFFER: usize = 128;

/// Errors from starting or using a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A node or registered name is not valid.
    #[error("invalid name: {0}")]
    BadName(String),
    /// A registered name is taken.
    #[error("name {0} is already registered on this node")]
    NameTaken(String),
    /// The process already has a registered name.
    #[error("process {pid:?} is already registered as {name}")]
    AlreadyRegistered {
        /// The process.
        pid: Pid,
        /// Its current name.
        name: String,
    },
    /// The process has exited.
    #[error("process {0:?} has exited")]
    NoProc(Pid),
    /// Listening for peers failed.
    #[error("cannot listen for distribution connections on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// EPMD registration failed.
    #[error("cannot register with EPMD: {0}")]
    Epmd(String),
    /// No usable cookie.
    #[error("{0}")]
    Cookie(String),
}

/// Settings shared by every part of a running node.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub net_ticktime: Duration,
    pub handshake_timeout: Duration,
    pub max_frame_len: usize,
    pub epmd_port: u16,
    pub long_names: bool,
    pub decode_limits: crate::term::DecodeLimits,
    pub max_connections: usize,
    pub max_pending_handshakes: usize,
    pub max_send_queue: usize,
    pub max_send_queue_bytes: usize,
    pub dist_buf_busy_limit: usize,
    pub max_mailbox_len: usize,
    /// TLS distribution (`-proto_dist inet_tls`) when set; plain TCP otherwise.
    pub tls: Option<crate::tls::TlsConfig>,
    /// Host names with a fixed address (like OTP's inetrc `{host, IP,
    /// Names}`): no name lookup for them.
    pub hosts: HashMap<String, std::net::IpAddr>,
}

/// Default cap on connections to peers, both directions: far above any
/// real cluster, low enough that a flood of fake peers cannot exhaust file
/// descriptors (the BEAM has no cap).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default cap on incoming handshakes in progress at once. Each waits at
/// most the handshake timeout, so this bounds what half-open sockets can hold.
pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 128;

/// Default cap on signals queued for one peer that the connection has not
/// yet taken for writing. A peer that stops reading makes the queue grow;
/// past this the connection is closed (`send_queue_full`), as a busy
/// distribution port would have stalled senders indefinitely.
pub const DEFAULT_MAX_SEND_QUEUE: usize = 1_000_000;

/// Default cap on encoded bytes waiting for one peer beyond what the socket
/// took. The signal count above bounds small messages; this bounds big
/// ones, where a million signals could be terabytes. The BEAM suspends a
/// sender past 1 MiB (`dist_buf_busy_limit`), as [`Mailbox::send_wait`]
/// does; a plain `send` never blocks, so erlnode lets the backlog grow to
/// this much before it closes the connection (`send_queue_full`). It is checked before each signal is
/// added, so one message bigger than the limit still goes out on a
/// connection that keeps up.
pub const DEFAULT_MAX_SEND_QUEUE_BYTES: usize = 1 << 30;

/// Default backlog at which [`Mailbox::send_wait`] waits: encoded bytes
/// waiting for one peer beyond what its socket took. 1 MiB is the BEAM's
/// `dist_buf_busy_limit` (`+zdbbl 1024`), past which it suspends a process
/// that sends to the node; a plain [`Mailbox::send`] never waits.
pub const DEFAULT_DIST_BUF_BUSY_LIMIT: usize = 1 << 20;

/// Default cap on messages queued in one local process's mailbox, unread.
/// A process past it is ended with reason `{erlnode, mailbox_overflow}`
/// (its links and monitors fire; its queue is freed), as the BEAM ends a
/// process past its `max_heap_size`. A million small messages is a few
/// hundred MB: far beyond any healthy backlog, low enough that one
/// process nobody reads cannot take the node's memory.
pub const DEFAULT_MAX_MAILBOX_LEN: usize = 1_000_000;

/// A hash map with the Fx hash (`rustc-hash`), for the tables looked up
/// once per message: processes, registered names and aliases. Their keys
/// are made by this node (pids, names its own code registers, aliases it
/// creates), so a peer cannot fill them with colliding keys; a lookup with a
/// key a peer chose costs one probe sequence, as with any hash. SipHash, the
/// default, cost a few percent of a pipelined message's handling in
/// `whereis` alone.
pub(crate) type FastMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// The shared state of a running node.
pub(crate) struct NodeInner {
    pub name: Atom,
    pub node_name: crate::name::NodeName,
    /// Flags we advertise.
    pub flags: crate::handshake::DistFlags,
    pub cookies: std::sync::RwLock<crate::cookie::CookieJar>,
    pub listen_port: u16,
    pub creation: u32,
    pub cfg: Config,
    procs: Mutex<FastMap<(u32, u32), Arc<Proc>>>,
    names: Mutex<FastMap<Atom, Arc<Proc>>>,
    /// Bumped, under the `names` lock, whenever a name is registered or
    /// removed: a [`NameCache`] filled at an older value may be stale.
    names_gen: AtomicU64,
    aliases: Mutex<FastMap<Reference, Arc<Proc>>>,
    pub(crate) conns: Mutex<HashMap<Atom, Arc<Conn>>>,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) shutdown: CancellationToken,
    next_pid: AtomicU64,
    next_ref: AtomicU64,
    next_conn: AtomicU64,
    next_unlink: AtomicU64,
    /// Random third reference word, so references differ across restarts
    /// even with the same creation.
    ref_salt: u32,
    registry: std::sync::RwLock<functions::Registry>,
    /// The user-facing lifetime, to hand `Node` handles to registered
    /// functions without keeping the node alive.
    pub(crate) life: std::sync::OnceLock<std::sync::Weak<handle::Lifetime>>,
    /// The group leader handed to processes this node spawns on peers.
    /// The group-leader io server's pid; a new one after a restart.
    pub(crate) io_server: Mutex<Option<Pid>>,
}

/// The registered process a connection delivered to last, with the name
/// and the node's name-table generation it was looked up at (see
/// [`NodeInner::whereis_cached`]).
#[derive(Default)]
pub(crate) struct NameCache(Option<(Atom, Arc<Proc>, u64)>);

/// Pid numbers: 15 bits of id and 13 of serial, the ranges every OTP
/// release accepts (V4_NC allows 32 bits each, but older peers do not).
const PID_ID_BITS: u32 = 15;
const PID_ID_MASK: u64 = (1 << PID_ID_BITS) - 1;
const PID_SERIAL_MASK: u64 = (1 << 13) - 1;

impl NodeInner {
    pub(crate) fn new(
        node_name: crate::name::NodeName,
        name: Atom,
        creation: u32,
        cfg: Config,
        flags: crate::handshake::DistFlags,
        cookies: crate::cookie::CookieJar,
        listen_port: u16,
    ) -> NodeInner {
        NodeInner {
            name,
            node_name,
            flags,
            cookies: std::sync::RwLock::new(cookies),
            listen_port,
            creation,
            cfg,
            procs: Mutex::default(),
            names: Mutex::default(),
            names_gen: AtomicU64::new(0),
            aliases: Mutex::default(),
            conns: Mutex::default(),
            events: broadcast::channel(NODE_EVENT_BUFFER).0,
            shutdown: CancellationToken::new(),
            // Pid <0.0.0> is init's on a BEAM; start after it.
            next_pid: AtomicU64::new(1),
            next_ref: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
            next_unlink: AtomicU64::new(1),
            ref_salt: rand::random(),
            registry: Default::default(),
            life: Default::default(),
            io_server: Default::default(),
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    fn new_pid(&self) -> Pid {
        let n = self.next_pid.fetch_add(1, Ordering::Relaxed);
        Pid {
            node: self.name.clone(),
            id: (n & PID_ID_MASK) as u32,
            serial: ((n >> PID_ID_BITS) & PID_SERIAL_MASK) as u32,
            creation: self.creation,
        }
    }

    /// A new reference, unique for this node incarnation.
    pub(crate) fn make_ref(&self) -> Reference {
        let n = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let words = [(n & 0x3_ffff) as u32, (n >> 18) as u32, self.ref_salt];
        Reference::new(self.name.clone(), self.creation, &words)
            .unwrap_or_else(|| unreachable!("three words is a valid reference"))
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn next_unlink_id(&self) -> u64 {
        self.next_unlink.fetch_add(1, Ordering::Relaxed)
    }

    /// Creates a process and its mailbox.
    pub(crate) fn spawn_mailbox(self: &Arc<Self>) -> Mailbox {
        loop {
            let pid = self.new_pid();
            let key = (pid.id, pid.serial);
            let proc = Arc::new(Proc::new(
                pid,
                self.cfg.max_mailbox_len,
                Arc::downgrade(self),
            ));
            let mut procs = self.procs.lock().unwrap_or_else(|e| e.into_inner());
            // After 2^28 processes the numbers wrap; skip ones still alive.
            if procs.contains_key(&key) {
                continue;
            }
            procs.insert(key, proc.clone());
            drop(procs);
            return Mailbox::new(self.clone(), proc);
        }
    }

    /// The live local process with this pid.
    pub(crate) fn lookup(&self, pid: &Pid) -> Option<Arc<Proc>> {
        if pid.node != self.name || pid.creation != self.creation {
            return None;
        }
        self.procs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(pid.id, pid.serial))
            .cloned()
    }

    /// The process registered under `name`.
    pub(crate) fn whereis(&self, name: &Atom) -> Option<Arc<Proc>> {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// [`NodeInner::whereis`] through `cache`, which holds the name looked
    /// up last: a stream of messages to one registered name takes the
    /// table's lock only when a name has been registered or removed since.
    pub(crate) fn whereis_cached<'c>(
        &self,
        name: &Atom,
        cache: &'c mut NameCache,
    ) -> Option<&'c Arc<Proc>> {
        // Read before the table, so an entry filled while the table changes
        // carries the older value and is looked up again next time.
        let generation = self.names_gen.load(Ordering::Acquire);
        let hit = matches!(&cache.0, Some((n, _, g)) if *g == generation && n == name);
        if !hit {
            cache.0 = self.whereis(name).map(|p| (name.clone(), p, generation));
        }
        cache.0.as_ref().map(|(_, p, _)| p)
    }

    pub(crate) fn alias_owner(&self, alias: &Reference) -> Option<Arc<Proc>> {
        self.aliases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(alias)
            .cloned()
    }

    pub(crate) fn add_alias(&self, proc: &Arc<Proc>, alias: Reference) {
        proc.lock().aliases.insert(alias.clone());
        self.aliases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(alias, proc.clone());
    }

    pub(crate) fn remove_alias(&self, proc: &Arc<Proc>, alias: &Reference) -> bool {
        if !proc.lock().aliases.remove(alias) {
            return false;
        }
        self.aliases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(alias);
        true
    }

    pub(crate) fn register_name(&self, proc: &Arc<Proc>, name: Atom) -> Result<(), NodeError> {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = proc.lock();
        if st.exit.is_some() {
            return Err(NodeError::NoProc(proc.pid.clone()));
        }
        if let Some(n) = &st.name {
            return Err(NodeError::AlreadyRegistered {
                pid: proc.pid.clone(),
                name: n.to_string(),
            });
        }
        if names.contains_key(&name) {
            return Err(NodeError::NameTaken(name.to_string()));
        }
        st.name = Some(name.clone());
        names.insert(name, proc.clone());
        self.names_gen.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Removes an exited process from the tables.
    pub(crate) fn unregister_proc(
        &self,
        proc: &Arc<Proc>,
        name: Option<&Atom>,
        aliases: &std::collections::HashSet<Reference>,
    ) {
        self.procs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(proc.pid.id, proc.pid.serial));
        if let Some(n) = name {
            let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
            if names.get(n).is_some_and(|p| Arc::ptr_eq(p, proc)) {
                names.remove(n);
                self.names_gen.fetch_add(1, Ordering::Release);
            }
        }
        if !aliases.is_empty() {
            let mut table = self.aliases.lock().unwrap_or_else(|e| e.into_inner());
            for a in aliases {
                table.remove(a);
            }
        }
    }

    /// Live local processes, the node's own services included.
    pub(crate) fn process_count(&self) -> usize {
        self.procs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub(crate) fn all_procs(&self) -> Vec<Arc<Proc>> {
        self.procs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Names of the nodes with an established connection.
    pub(crate) fn connected_nodes(&self) -> Vec<Atom> {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<Atom> = conns
            .values()
            .filter(|c| c.flags().is_some() && !c.is_retired())
            .map(|c| c.peer.clone())
            .collect();
        v.sort();
        v
    }

    /// True unless a connection to `node` is up without `DFLAG_ALIAS`
    /// (every OTP since 24 has it).
    pub(crate) fn peer_supports_alias(&self, node: &Atom) -> bool {
        self.existing_conn(node)
            .and_then(|c| c.flags())
            .is_none_or(|f| f.contains(crate::handshake::DistFlags::ALIAS))
    }

    /// A user handle to this node, unless it is shutting down.
    pub(crate) fn handle(self: &Arc<Self>) -> Option<Node> {
        let life = self.life.get()?.upgrade()?;
        Some(Node {
            inner: self.clone(),
            life,
        })
    }

    pub(crate) fn registry_write(&self) -> std::sync::RwLockWriteGuard<'_, functions::Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lookup_fn(&self, m: &Atom, f: &Atom, arity: usize) -> Option<functions::RpcFn> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .fns
            .get(&(m.clone(), f.clone(), arity))
            .cloned()
    }

    pub(crate) fn lookup_proc_fn(
        &self,
        m: &Atom,
        f: &Atom,
        arity: usize,
    ) -> Option<functions::ProcFn> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .procs
            .get(&(m.clone(), f.clone(), arity))
            .cloned()
    }

    /// A SPAWN_REPLY for a spawn this node asked for: sets up the link and
    /// monitor it reports and tells the requester
    /// `{spawn_reply, ReqId, ok | error, PidOrReason}`.
    pub(crate) fn spawn_reply(
        self: &Arc<Self>,
        req_id: Reference,
        to: Pid,
        flags: u32,
        result: Term,
        conn: u64,
    ) {
        use crate::dist::control::{SPAWN_REPLY_LINK, SPAWN_REPLY_MONITOR};
        let requester = self
            .lookup(&to)
            .filter(|p| p.lock().pending_spawns.remove(&req_id).is_some());
        match (requester, result.as_pid().cloned()) {
            (Some(p), Some(new)) => {
                {
                    let mut st = p.lock();
                    if flags & SPAWN_REPLY_LINK != 0 {
                        st.links.insert(new.clone(), conn);
                    }
                    if flags & SPAWN_REPLY_MONITOR != 0 {
                        st.monitors.insert(
                            req_id.clone(),
                            process::MonitorOut {
                                node: new.node.clone(),
                                target: crate::dist::ProcRef::Pid(new.clone()),
                                conn,
                            },
                        );
                    }
                }
                p.deliver(crate::services::spawn::spawn_reply_msg(
                    &req_id,
                    true,
                    Term::Pid(new),
                ));
            }
            (Some(p), None) => p.deliver(crate::services::spawn::spawn_reply_msg(
                &req_id, false, result,
            )),
            // The requester is gone: undo what the peer set up for it.
            (None, Some(new)) => {
                let node = new.node.clone();
                if flags & SPAWN_REPLY_LINK != 0 {
                    self.route(
                        &node,
                        crate::dist::Signal::Exit {
                            from: to.clone(),
                            to: new.clone(),
                            reason: Term::atom("noproc"),
                        },
                    );
                }
                if flags & SPAWN_REPLY_MONITOR != 0 {
                    self.route(
                        &node,
                        crate::dist::Signal::Demonitor {
                            from: to,
                            target: crate::dist::ProcRef::Pid(new),
                            reference: req_id,
                        },
                    );
                }
            }
            (None, _) => {}
        }
    }
}
