//! [`Node`], the handle users hold, and its options.

use super::conn::NodeEvent;
use super::{Dest, Mailbox, NodeError, NodeInner};
use crate::term::{Atom, Pid, Term};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// A running Erlang node.
///
/// Cloning is cheap; all clones are the same node. When the last clone is
/// dropped (or [`Node::shutdown`] is called) the node closes its connections
/// (peers see `nodedown`) and its EPMD registration.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use erlnode::{Node, Term};
/// let node = Node::builder("rust").cookie("secret").start().await?;
/// let mut mb = node.register_mailbox("inbox")?;
/// // From erl: {inbox, 'rust@host'} ! hello.
/// let msg: Term = mb.recv().await?;
/// println!("got {msg}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
    /// Held for its `Drop`: the node shuts down when the last handle goes.
    #[allow(dead_code)]
    pub(crate) life: Arc<Lifetime>,
}

/// Shuts the node down when the last user handle goes. The listener, the
/// EPMD registration (and any embedded EPMD) and every connection end with
/// the node's shutdown token.
pub(crate) struct Lifetime {
    pub(crate) inner: Arc<NodeInner>,
}

impl Drop for Lifetime {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.name)
            .field("creation", &self.inner.creation)
            .finish()
    }
}

impl Node {
    /// Header traffic counters (atom cache, fragments) of the connection to
    /// `node`, while it exists. For tests and diagnostics; not a stable API.
    #[doc(hidden)]
    pub fn dist_stats(&self, node: &str) -> Option<crate::dist::DistStats> {
        let atom = Atom::new(node).ok()?;
        self.inner.existing_conn(&atom).map(|c| c.stats.snapshot())
    }

    /// This node's name, `alive@host` (Erlang's `node()`).
    pub fn name(&self) -> &Atom {
        &self.inner.name
    }

    /// The creation (incarnation) EPMD gave this node; it is in every pid,
    /// port and reference the node makes.
    pub fn creation(&self) -> u32 {
        self.inner.creation
    }

    /// The TCP port the node listens on for peers.
    pub fn listen_port(&self) -> u16 {
        self.inner.listen_port
    }

    /// True while the node runs (Erlang's `is_alive()`).
    pub fn is_alive(&self) -> bool {
        !self.inner.is_shutting_down()
    }

    /// Nodes with an established connection, hidden ones included (Erlang's
    /// `nodes(connected)`).
    pub fn nodes(&self) -> Vec<Atom> {
        self.inner.connected_nodes()
    }

    /// Connects to `node` unless connected (`net_kernel:connect_node/1`).
    pub async fn connect(&self, node: &str) -> bool {
        match Atom::new(node) {
            Ok(a) => self.inner.connect_atom(&a).await.is_some(),
            Err(_) => false,
        }
    }

    /// Closes the connection to `node` (`erlang:disconnect_node/1`). As on
    /// the BEAM, the node is gone from [`Node::nodes`] at once, and a send
    /// after this sets up a new connection (which waits for the old one to
    /// finish closing, so that its nodeup follows the old nodedown).
    pub fn disconnect(&self, node: &str) -> bool {
        Atom::new(node).is_ok_and(|a| self.inner.disconnect_atom(&a))
    }

    /// `net_adm:ping/1`: `true` for `pong`. Asks the peer's `net_kernel`
    /// `{is_auth, node()}`; gives up (`pang`) if the connection cannot be set
    /// up, the peer says anything but `yes`, or nothing comes back within
    /// [`PING_TIMEOUT`] (the BEAM would wait forever).
    pub async fn ping(&self, node: &str) -> bool {
        if Atom::new(node).is_err() {
            return false;
        }
        let mut mb = self.mailbox();
        let req = Term::Tuple(vec![
            Term::atom("is_auth"),
            Term::Atom(self.inner.name.clone()),
        ]);
        match mb.call(("net_kernel", node), req, Some(PING_TIMEOUT)).await {
            Ok(r) if r.is_atom("yes") => true,
            Ok(_) => {
                self.disconnect(node);
                false
            }
            Err(_) => false,
        }
    }

    /// Live local processes: mailboxes, processes spawned by peers, calls
    /// being served, and the node's own services (`rex`, `net_kernel`, the
    /// io server). Work a peer abandoned (a timed-out call) is gone from
    /// this count once it has stopped.
    pub fn process_count(&self) -> usize {
        self.inner.process_count()
    }

    /// A new anonymous process.
    pub fn mailbox(&self) -> Mailbox {
        self.inner.spawn_mailbox()
    }

    /// A new process registered under `name`.
    pub fn register_mailbox(&self, name: &str) -> Result<Mailbox, NodeError> {
        let mb = self.inner.spawn_mailbox();
        mb.register(name)?;
        Ok(mb)
    }

    /// The pid registered under `name` on this node (`whereis/1`).
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        Atom::new(name)
            .ok()
            .and_then(|a| self.inner.whereis(&a))
            .map(|p| p.pid.clone())
    }

    /// Sends `msg` from a short-lived anonymous process.
    pub fn send(&self, to: impl Into<Dest>, msg: Term) {
        let mb = self.mailbox();
        mb.send(to, msg);
    }

    /// Like [`Node::send`], after waiting while the connection to the
    /// destination's node is busy: see [`Mailbox::send_wait`].
    pub async fn send_wait(&self, to: impl Into<Dest>, msg: Term) {
        let mb = self.mailbox();
        mb.send_wait(to, msg).await;
    }

    /// A stream of node-up and node-down events
    /// (`net_kernel:monitor_nodes(true, [{node_type, all}])`).
    pub fn monitor_nodes(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    /// Sets the cookie used with one peer, like `erlang:set_cookie(Node,
    /// Cookie)`; it applies to connections made from now on.
    pub fn set_cookie(&self, node: &str, cookie: &str) -> Result<(), NodeError> {
        let n =
            crate::name::NodeName::parse(node).map_err(|e| NodeError::BadName(e.to_string()))?;
        let c = crate::cookie::Cookie::new(cookie).map_err(|e| NodeError::Cookie(e.to_string()))?;
        self.inner
            .cookies
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .set_cookie(n, c);
        Ok(())
    }

    /// Sets the default cookie, like `erlang:set_cookie/1`.
    pub fn set_default_cookie(&self, cookie: &str) -> Result<(), NodeError> {
        let c = crate::cookie::Cookie::new(cookie).map_err(|e| NodeError::Cookie(e.to_string()))?;
        self.inner
            .cookies
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .set_default(c);
        Ok(())
    }

    /// Stops the node now: closes connections and the EPMD registration.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Waits until the node has been shut down.
    pub async fn closed(&self) {
        self.inner.shutdown.cancelled().await
    }
}

/// How long [`Node::ping`] waits for the peer's `net_kernel` once connected.
pub const PING_TIMEOUT: Duration = Duration::from_secs(60);
