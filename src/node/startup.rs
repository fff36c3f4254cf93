//! Starting a node: name, cookie, listener, EPMD (embedded when none runs),
//! the accept loop, and the built-in services.

use super::conn::{Conn, DialError, Established};
use super::handle::{Lifetime, Node};
use super::{Config, NodeError, NodeInner};
use crate::cookie::{Cookie, CookieJar, CookieLocations};
use crate::handshake::{
    self, AcceptorConfig, DistFlags, HandshakeError, HandshakeOptions, InitiatorConfig, PeerInfo,
    PeerName, Status,
};
use crate::name::NodeName;
use crate::term::Atom;
use crate::tls::{DistStream, Role, TlsConfig};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How to start a [`Node`]. Made by [`Node::builder`]. Its `Debug` output
/// never shows cookies.
#[derive(Clone)]
pub struct NodeBuilder {
    name: String,
    long_names: bool,
    cookie: Option<String>,
    node_cookies: Vec<(String, String)>,
    cookie_locations: Option<CookieLocations>,
    net_ticktime: Duration,
    handshake_timeout: Duration,
    max_frame_len: usize,
    epmd_port: Option<u16>,
    embedded_epmd: bool,
    publish: bool,
    listen_ip: Option<IpAddr>,
    listen_ports: (u16, u16),
    flags: DistFlags,
    max_decompressed_size: usize,
    max_connections: usize,
    max_pending_handshakes: usize,
    max_send_queue: usize,
    max_send_queue_bytes: usize,
    dist_buf_busy_limit: usize,
    max_mailbox_len: usize,
    tls: Option<TlsConfig>,
    hosts: std::collections::HashMap<String, IpAddr>,
}

impl Node {
    /// Starts building a node called `name`: `"rust"` (the host is added as
    /// `erl -sname` does, or the full host name with
    /// [`NodeBuilder::long_names`]) or a full `"rust@host"`.
    pub fn builder(name: &str) -> NodeBuilder {
        NodeBuilder {
            name: name.to_string(),
            long_names: false,
            cookie: None,
            node_cookies: Vec::new(),
            cookie_locations: None,
            net_ticktime: super::DEFAULT_NET_TICKTIME,
            handshake_timeout: super::DEFAULT_HANDSHAKE_TIMEOUT,
            max_frame_len: crate::dist::frame::DEFAULT_MAX_FRAME_LEN,
            epmd_port: None,
            embedded_epmd: true,
            publish: true,
            listen_ip: None,
            listen_ports: (0, 0),
            flags: DistFlags::RECOMMENDED_HIDDEN,
            max_decompressed_size: crate::term::DecodeLimits::default().max_decompressed_size,
            max_connections: super::DEFAULT_MAX_CONNECTIONS,
            max_pending_handshakes: super::DEFAULT_MAX_PENDING_HANDSHAKES,
            max_send_queue: super::DEFAULT_MAX_SEND_QUEUE,
            max_send_queue_bytes: super::DEFAULT_MAX_SEND_QUEUE_BYTES,
            dist_buf_busy_limit: super::DEFAULT_DIST_BUF_BUSY_LIMIT,
            max_mailbox_len: super::DEFAULT_MAX_MAILBOX_LEN,
            tls: None,
            hosts: Default::default(),
        }
    }
}

impl NodeBuilder {
    /// Long names (`erl -name`): the host part is the fully qualified host
    /// name or an IP address.
    pub fn long_names(mut self, on: bool) -> Self {
        self.long_names = on;
        self
    }

    /// The cookie (`-setcookie C`). Without it, `~/.erlang.cookie` is read
    /// (or created) by OTP's rules.
    pub fn cookie(mut self, cookie: &str) -> Self {
        self.cookie = Some(cookie.to_string());
        self
    }

    /// A cookie for one peer (`-setcookie Node Cookie`).
    pub fn node_cookie(mut self, node: &str, cookie: &str) -> Self {
        self.node_cookies
            .push((node.to_string(), cookie.to_string()));
        self
    }

    /// Where to look for cookie files (default: `$HOME` and `$XDG_CONFIG_HOME`).
    pub fn cookie_locations(mut self, loc: CookieLocations) -> Self {
        self.cookie_locations = Some(loc);
        self
    }

    /// `net_ticktime` (default 60 s, as OTP): a peer silent this long is
    /// dropped with `net_tick_timeout`; we tick after a quarter of it.
    pub fn net_ticktime(mut self, t: Duration) -> Self {
        self.net_ticktime = t.max(Duration::from_millis(400));
        self
    }

    /// Time allowed for each handshake step (OTP's `net_setuptime`, 7 s).
    pub fn handshake_timeout(mut self, t: Duration) -> Self {
        self.handshake_timeout = t;
        self
    }

    /// Largest distribution frame accepted from a peer; a larger one closes
    /// that connection. Default [`crate::dist::frame::DEFAULT_MAX_FRAME_LEN`].
    pub fn max_frame_len(mut self, n: usize) -> Self {
        self.max_frame_len = n;
        self
    }

    /// The EPMD port (default: `ERL_EPMD_PORT`, else 4369).
    pub fn epmd_port(mut self, port: u16) -> Self {
        self.epmd_port = Some(port);
        self
    }

    /// Start an embedded EPMD when none listens on the EPMD port (default on).
    pub fn embedded_epmd(mut self, on: bool) -> Self {
        self.embedded_epmd = on;
        self
    }

    /// Register with EPMD (default on). A node that only dials out (like
    /// `erl_call`) can skip it; peers then reach it only over connections
    /// it opened, and its creation is a random value, as OTP's
    /// `net_kernel:create_creation/0` makes.
    pub fn publish(mut self, on: bool) -> Self {
        self.publish = on;
        self
    }

    /// Gives `host` a fixed address, like an OTP inetrc `{host, IP, [Host]}`
    /// entry: peers named `alive@host` are looked up in EPMD and dialled at
    /// `ip` without a name lookup. TLS still verifies the name `host`.
    pub fn host_address(mut self, host: &str, ip: IpAddr) -> Self {
        self.hosts.insert(host.to_string(), ip);
        self
    }

    /// Address to listen on for peers. Default: all addresses, IPv6 and
    /// IPv4 (`[::]` dual-stack, or `0.0.0.0` where IPv6 is off).
    pub fn listen_ip(mut self, ip: IpAddr) -> Self {
        self.listen_ip = Some(ip);
        self
    }

    /// A fixed listen port (default: any free port).
    pub fn listen_port(mut self, port: u16) -> Self {
        self.listen_ports = (port, port);
        self
    }

    /// Listen on the first free port in `min..=max`, like OTP's
    /// `inet_dist_listen_min`/`inet_dist_listen_max`.
    pub fn listen_port_range(mut self, min: u16, max: u16) -> Self {
        self.listen_ports = (min.min(max), max.max(min));
        self
    }

    /// The distribution flags to advertise (default
    /// [`DistFlags::RECOMMENDED_HIDDEN`]).
    pub fn flags(mut self, flags: DistFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Largest decompressed size of a compressed term (tag 80) in a
    /// message; a larger one closes that connection.
    pub fn max_decompressed_size(mut self, n: usize) -> Self {
        self.max_decompressed_size = n;
        self
    }

    /// Most connections to peers at once, both directions (default
    /// [`super::DEFAULT_MAX_CONNECTIONS`]).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Most incoming handshakes in progress at once (default
    /// [`super::DEFAULT_MAX_PENDING_HANDSHAKES`]); more are closed at once.
    pub fn max_pending_handshakes(mut self, n: usize) -> Self {
        self.max_pending_handshakes = n.max(1);
        self
    }

    /// Most signals queued for one peer that it has not taken yet (default
    /// [`super::DEFAULT_MAX_SEND_QUEUE`]). A peer that stops reading is
    /// disconnected when its queue is full (`send_queue_full`); links and
    /// monitors across it fire with `noconnection`.
    pub fn max_send_queue(mut self, n: usize) -> Self {
        self.max_send_queue = n.max(1);
        self
    }

    /// Most encoded bytes waiting for one peer, beyond what its socket took
    /// (default [`super::DEFAULT_MAX_SEND_QUEUE_BYTES`]). Checked before each
    /// signal is queued: a peer that stops reading is disconnected once its
    /// backlog is this big (`send_queue_full`), as with
    /// [`NodeBuilder::max_send_queue`].
    pub fn max_send_queue_bytes(mut self, n: usize) -> Self {
        self.max_send_queue_bytes = n.max(1);
        self
    }

    /// Backlog, in encoded bytes waiting for one peer beyond what its socket
    /// took, at which [`super::Mailbox::send_wait`] waits for the peer to
    /// read (default [`super::DEFAULT_DIST_BUF_BUSY_LIMIT`], the BEAM's
    /// `+zdbbl`). Plain sends never wait.
    pub fn dist_buf_busy_limit(mut self, n: usize) -> Self {
        self.dist_buf_busy_limit = n.max(1);
        self
    }

    /// Most messages one local process may have queued and unread (default
    /// [`super::DEFAULT_MAX_MAILBOX_LEN`]). A process whose mailbox grows past
    /// it is ended with reason `{erlnode, mailbox_overflow}`: its queue is
    /// freed, and its links and monitors (on peers too) fire with that
    /// reason, so senders learn it. It cannot be trapped.
    pub fn max_mailbox_len(mut self, n: usize) -> Self {
        self.max_mailbox_len = n.max(1);
        self
    }

    /// TLS distribution, like `erl -proto_dist inet_tls`: every connection,
    /// accepted or dialled, runs TLS with these settings (see [`crate::tls`]).
    /// Peers must run TLS too; EPMD is used as with TCP.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Starts the node: listens, registers with EPMD and serves.
    pub async fn start(self) -> Result<Node, NodeError> {
        let name = if self.long_names {
            NodeName::for_name(&self.name)
        } else {
            NodeName::for_sname(&self.name)
        }
        .map_err(|e| NodeError::BadName(e.to_string()))?;
        let cookies = self.cookie_jar()?;
        let listener = bind_listener(self.listen_ip, self.listen_ports)?;
        let listen_port = listener
            .local_addr()
            .map_err(|source| NodeError::Listen {
                addr: "the listen socket".into(),
                source,
            })?
            .port();

        let epmd_port = match self.epmd_port {
            Some(p) => p,
            None => crate::epmd::epmd_port().map_err(|e| NodeError::Epmd(e.to_string()))?,
        };
        let mut epmd = EpmdKeeper {
            port: epmd_port,
            alive: name.alive().to_string(),
            listen_port,
            embedded: self.embedded_epmd,
            server: None,
        };
        let registration = if self.publish {
            let reg = epmd.register_once().await.map_err(NodeError::Epmd)?;
            Some(reg)
        } else {
            None
        };
        // Creations 0..3 are reserved (PROTOCOL.md §1.1); an unregistered
        // node picks one at random, as OTP's net_kernel:create_creation/0.
        let creation = registration
            .as_ref()
            .map_or_else(|| rand::random::<u32>().max(4), |r| r.creation());

        let cfg = Config {
            net_ticktime: self.net_ticktime,
            handshake_timeout: self.handshake_timeout,
            max_frame_len: self.max_frame_len,
            epmd_port,
            long_names: self.long_names,
            decode_limits: crate::term::DecodeLimits {
                max_decompressed_size: self.max_decompressed_size,
            },
            max_connections: self.max_connections,
            max_pending_handshakes: self.max_pending_handshakes,
            max_send_queue: self.max_send_queue,
            max_send_queue_bytes: self.max_send_queue_bytes,
            dist_buf_busy_limit: self.dist_buf_busy_limit,
            max_mailbox_len: self.max_mailbox_len,
            tls: self.tls.clone(),
            hosts: self.hosts.clone(),
        };
        let atom = Atom::new(name.as_str()).map_err(|e| NodeError::BadName(e.to_string()))?;
        let inner = Arc::new(NodeInner::new(
            name,
            atom,
            creation,
            cfg,
            self.flags,
            cookies,
            listen_port,
        ));

        tokio::spawn(accept_loop(inner.clone(), listener));
        if let Some(reg) = registration {
            tokio::spawn(epmd.keep_registered(inner.clone(), reg));
        }
        let life = Arc::new(Lifetime {
            inner: inner.clone(),
        });
        let _ = inner.life.set(Arc::downgrade(&life));
        inner.start_services();
        tracing::info!(node = %inner.name, creation, port = listen_port, epmd_port, "node started");
        if let Some(tls) = &inner.cfg.tls {
            tracing::info!(
                cert = tls.cert_origin(),
                cacert = tls.cacert_origin(),
                "TLS distribution on"
            );
        }
        Ok(Node { inner, life })
    }

    fn cookie_jar(&self) -> Result<CookieJar, NodeError> {
        let explicit = match &self.cookie {
            Some(c) => Some(Cookie::new(c).map_err(|e| NodeError::Cookie(e.to_string()))?),
            None => None,
        };
        let loc = self
            .cookie_locations
            .clone()
            .unwrap_or_else(CookieLocations::from_env);
        let (default, _source) = crate::cookie::resolve_cookie(explicit, &loc)
            .map_err(|e| NodeError::Cookie(e.to_string()))?;
        let mut jar = CookieJar::new(default);
        for (node, cookie) in &self.node_cookies {
            let n = NodeName::parse(node).map_err(|e| NodeError::BadName(e.to_string()))?;
            jar.set_cookie(
                n,
                Cookie::new(cookie).map_err(|e| NodeError::Cookie(e.to_string()))?,
            );
        }
        Ok(jar)
    }
}

impl std::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("name", &self.name)
            .field("long_names", &self.long_names)
            .field("cookie", &self.cookie.as_ref().map(|_| "<redacted>"))
            .field(
                "node_cookies",
                &self
                    .node_cookies
                    .iter()
                    .map(|(n, _)| (n.as_str(), "<redacted>"))
                    .collect::<Vec<_>>(),
            )
            .field("net_ticktime", &self.net_ticktime)
            .field("epmd_port", &self.epmd_port)
            .field("listen_ip", &self.listen_ip)
            .field("listen_ports", &self.listen_ports)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// The node's EPMD registration, kept alive: if the EPMD it registered with
/// goes away (a restarted `epmd`, or another process's embedded one), the
/// node registers again, starting its own EPMD if none is left.
struct EpmdKeeper {
    port: u16,
    alive: String,
    listen_port: u16,
    embedded: bool,
    /// Our embedded EPMD, when we run one; it lives as long as the node.
    server: Option<crate::epmd::EpmdServer>,
}

/// Longest wait between two registration attempts while no EPMD answers.
const EPMD_RETRY_MAX: Duration = Duration::from_secs(5);

impl EpmdKeeper {
    /// Starts an embedded EPMD if allowed and none runs, then registers.
    async fn register_once(&mut self) -> Result<crate::epmd::Registration, String> {
        if self.embedded && self.server.as_ref().is_none_or(|s| s.is_stopped()) {
            match crate::epmd::start_embedded_if_absent(self.port).await {
                Ok(Some(server)) => {
                    tracing::info!(
                        port = self.port,
                        "no EPMD was running; started an embedded one"
                    );
                    self.server = Some(server);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(port = self.port, "cannot start an embedded EPMD: {e}"),
            }
        }
        crate::epmd::EpmdClient::new(self.port)
            .register_hidden(&self.alive, self.listen_port)
            .await
            .map_err(|e| e.to_string())
    }

    async fn keep_registered(mut self, node: Arc<NodeInner>, mut reg: crate::epmd::Registration) {
        loop {
            let reason = tokio::select! {
                r = reg.closed() => r,
                _ = node.shutdown.cancelled() => return,
            };
            tracing::warn!(
                port = self.port,
                ?reason,
                "the EPMD this node registered with went away; registering again"
            );
            drop(reg);
            let mut delay = Duration::from_millis(50);
            reg = loop {
                match self.register_once().await {
                    Ok(r) => break r,
                    Err(e) => {
                        tracing::warn!(port = self.port, "cannot register with EPMD yet: {e}");
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = node.shutdown.cancelled() => return,
                        }
                        delay = (delay * 2).min(EPMD_RETRY_MAX);
                    }
                }
            };
            // The node keeps its creation: its pids and references already carry it.
            tracing::info!(
                port = self.port,
                epmd_creation = reg.creation(),
                "registered with EPMD again"
            );
        }
    }
}

/// Binds the distribution listener: `ip` (default dual-stack `[::]`, else
/// `0.0.0.0`) on the first free port of `ports` (`(0, 0)`: any port).
fn bind_listener(ip: Option<IpAddr>, ports: (u16, u16)) -> Result<TcpListener, NodeError> {
    let ips: Vec<IpAddr> = match ip {
        Some(ip) => vec![ip],
        None => vec![
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ],
    };
    let mut last_err = None;
    for ip in &ips {
        for port in ports.0..=ports.1 {
            match bind_one(SocketAddr::new(*ip, port)) {
                Ok(l) => return Ok(l),
                Err(e) => last_err = Some((SocketAddr::new(*ip, port), e)),
            }
        }
    }
    let (addr, source) = last_err.unwrap_or_else(|| {
        (
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            std::io::Error::other("no address to bind"),
        )
    });
    let addr = if ports.0 != ports.1 {
        format!("{} (ports {}..={})", addr.ip(), ports.0, ports.1)
    } else {
        addr.to_string()
    };
    Err(NodeError::Listen { addr, source })
}

fn bind_one(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        // Dual-stack: IPv4 peers arrive as mapped addresses.
        sock.set_only_v6(false)?;
    }
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    TcpListener::from_std(sock.into())
}

/// Accepts peers until the node shuts down.
async fn accept_loop(node: Arc<NodeInner>, listener: TcpListener) {
    let pending = Arc::new(tokio::sync::Semaphore::new(node.cfg.max_pending_handshakes));
    let mut last_refusal_log: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, addr)) => {
                    let Ok(permit) = pending.clone().try_acquire_owned() else {
                        // Log at most once a second: a flood must not flood the log too.
                        if last_refusal_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                            tracing::warn!(%addr, limit = node.cfg.max_pending_handshakes, "too many handshakes in progress (max_pending_handshakes); closing new connections until some finish");
                            last_refusal_log = Some(tokio::time::Instant::now());
                        }
                        drop(stream);
                        continue;
                    };
                    let node = node.clone();
                    tokio::spawn(async move { node.accept_one(stream, addr, permit).await });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = node.shutdown.cancelled() => break,
        }
    }
}

/// Handshake framing: 2-byte lengths over TCP, 4-byte inside TLS (§6h).
fn handshake_opts(node: &NodeInner) -> HandshakeOptions {
    let opts = if node.cfg.tls.is_some() {
        HandshakeOptions::tls()
    } else {
        HandshakeOptions::tcp()
    };
    opts.with_step_timeout(node.cfg.handshake_timeout)
}

/// What the acceptor decided for one incoming connection.
enum Picked {
    /// This Conn (new, or taken over from our losing dial), and the
    /// connection to the peer we are still closing, if any.
    Conn(Arc<Conn>, Option<Arc<Conn>>),
    /// A connection is up; if the peer says it is a new one, replace it.
    Replace(Arc<Conn>),
}

impl NodeInner {
    /// One incoming connection: TLS (when on), handshake, then the
    /// connection loop. `permit` counts it against max_pending_handshakes
    /// until the handshake is over.
    async fn accept_one(
        self: Arc<Self>,
        stream: TcpStream,
        addr: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let _ = stream.set_nodelay(true);
        // Log IPv4 peers of the dual-stack listener as 1.2.3.4, not ::ffff:1.2.3.4.
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        match &self.cfg.tls {
            None => self.accept_on(stream, addr, permit).await,
            Some(tls) => match tls.accept(stream, self.cfg.handshake_timeout).await {
                Ok(s) => self.accept_on(s, addr, permit).await,
                Err(e) => tracing::warn!("TLS connection from {addr} refused: {e}"),
            },
        }
    }

    /// The distribution handshake as acceptor over `stream`.
    async fn accept_on<S: DistStream>(
        self: Arc<Self>,
        mut stream: S,
        addr: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let cfg = {
            let mut c =
                AcceptorConfig::new(self.node_name.clone(), self.creation, self.cookie_jar());
            c.flags = self.flags;
            c.required_flags = DistFlags::MANDATORY_25;
            c
        };
        let picked: Mutex<Option<Picked>> = Mutex::new(None);
        let result = handshake::accept(&mut stream, cfg, &handshake_opts(&self), |info| {
            std::future::ready(self.decide(info, &picked))
        })
        .await;
        let picked = picked.into_inner().unwrap_or_else(|e| e.into_inner());
        // The handshake is over; the slot goes to the next incoming one.
        drop(permit);
        match result {
            Ok((est, leftover)) => {
                let (conn, closing) = match picked {
                    Some(Picked::Conn(c, closing)) => (c, closing),
                    Some(Picked::Replace(old)) => {
                        tracing::info!(node = %old.peer, "peer reconnected; dropping the old connection");
                        old.kill.cancel();
                        let c = Arc::new(Conn::new(self.next_conn_id(), old.peer.clone()));
                        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
                        conns.insert(old.peer.clone(), c.clone());
                        // Retired with the table change, not when the old
                        // connection's task gets round to finishing: until
                        // then, a sender that cached the old Conn would
                        // still push into it, and a reply (say, to the
                        // peer's `net_adm:ping` on the new connection)
                        // would leave on the dead socket and be lost.
                        old.retire();
                        drop(conns);
                        (c, Some(old))
                    }
                    None => return,
                };
                let Some(queue) = conn.take_queue() else {
                    tracing::debug!(peer = %conn.peer, "another connection to the peer won; closing this one");
                    return;
                };
                // The old connection's nodedown first, then this one's
                // nodeup, as a dial does it (what the peer sends meanwhile
                // waits in the socket).
                if let Some(old) = closing {
                    old.closed(super::conn::CLOSING_WAIT).await;
                }
                let (r, w) = stream.into_halves();
                let est = Established {
                    reader: r,
                    writer: w,
                    flags: est.negotiated_flags,
                    leftover,
                };
                self.run(conn, est, queue).await;
            }
            Err(e) => {
                let tls_err = (self.cfg.tls.as_ref())
                    .and_then(|t| t.explain_handshake_error(&e, Role::Server));
                match tls_err {
                    Some(te) => tracing::warn!("TLS connection from {addr} refused: {te}"),
                    None => log_rejected(&e, addr),
                }
                if let Some(Picked::Conn(c, _)) = picked {
                    if c.take_queue().is_some() {
                        self.conn_failed(&c, format!("incoming handshake failed: {e}"));
                    }
                }
            }
        }
    }

    /// The status for a peer's send_name, given the connection table
    /// (`net_kernel`'s rules, PROTOCOL.md §2.2).
    fn decide(self: &Arc<Self>, info: PeerInfo, picked: &Mutex<Option<Picked>>) -> Status {
        let PeerName::Node(peer_name) = &info.name else {
            // Dynamic names (NAME_ME) are only handed out by BEAM nodes.
            return Status::NotAllowed;
        };
        let Ok(peer) = Atom::new(peer_name.as_str()) else {
            return Status::NotAllowed;
        };
        if peer == self.name {
            return Status::NotAllowed;
        }
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let mut slot = picked.lock().unwrap_or_else(|e| e.into_inner());
        // A connection we are closing (`disconnect`) is no longer the peer's:
        // the new one gets a fresh Conn.
        let closing = conns.get(&peer).filter(|c| c.is_retired()).cloned();
        match conns.get(&peer).filter(|c| !c.is_retired()) {
            None if conns.len() >= self.cfg.max_connections => {
                tracing::warn!(peer = %peer, limit = self.cfg.max_connections, "refusing a connection: the node has max_connections connections");
                Status::NotAllowed
            }
            None => {
                let c = Arc::new(Conn::new(self.next_conn_id(), peer.clone()));
                c.set_incoming();
                conns.insert(peer, c.clone());
                *slot = Some(Picked::Conn(c, closing));
                Status::Ok
            }
            Some(c) if c.flags().is_some() => {
                *slot = Some(Picked::Replace(c.clone()));
                Status::Alive
            }
            // Another incoming attempt from the same node is in progress.
            Some(c) if c.is_incoming() => Status::NotAllowed,
            Some(c) => match handshake::simultaneous_status(&self.node_name, peer_name) {
                Status::Nok => Status::Nok,
                _ => {
                    c.cancel_dial.cancel();
                    c.set_incoming();
                    *slot = Some(Picked::Conn(c.clone(), None));
                    Status::OkSimultaneous
                }
            },
        }
    }

    /// Our dial to `peer`: EPMD lookup, TCP connect, handshake.
    pub(crate) async fn dial_handshake(
        self: &Arc<Self>,
        peer: &Atom,
    ) -> Result<Established, DialError> {
        let peer_name =
            NodeName::parse(peer.as_str()).map_err(|e| DialError::Failed(e.to_string()))?;
        peer_name
            .check_dialable(self.cfg.long_names)
            .map_err(|e| DialError::Failed(e.to_string()))?;
        let host = peer_name.host();
        let epmd_host = self
            .cfg
            .hosts
            .get(host)
            .map_or_else(|| host.to_string(), |ip| ip.to_string());
        let lookup = tokio::time::timeout(
            self.cfg.handshake_timeout,
            crate::epmd::EpmdClient::new(self.cfg.epmd_port)
                .port_please_at(&epmd_host, peer_name.alive()),
        )
        .await;
        // The node is dialled at the address its EPMD answered on, as OTP
        // does: no second name lookup.
        let (port, ip) = match lookup {
            Ok(Ok((Some(entry), ip))) => (entry.port, ip),
            Ok(Ok((None, _))) => {
                return Err(DialError::Failed(format!(
                    "no node named {} is registered in EPMD on {host}",
                    peer_name.alive()
                )));
            }
            Ok(Err(e)) => return Err(DialError::Failed(format!("EPMD on {host}: {e}"))),
            Err(_) => {
                return Err(DialError::Failed(format!(
                    "EPMD on {host} did not answer in time"
                )));
            }
        };
        let stream = match tokio::time::timeout(
            super::conn::CONNECT_TIMEOUT,
            TcpStream::connect((ip, port)),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(DialError::Failed(format!(
                    "cannot connect to {host}:{port}: {e}"
                )));
            }
            Err(_) => {
                return Err(DialError::Failed(format!(
                    "connecting to {host}:{port} timed out"
                )));
            }
        };
        let _ = stream.set_nodelay(true);
        match &self.cfg.tls {
            None => self.dial_on(stream, peer_name).await,
            Some(tls) => match tls.connect(host, stream, self.cfg.handshake_timeout).await {
                Ok(s) => self.dial_on(s, peer_name).await,
                Err(e) => {
                    let why = format!("TLS connection to {peer} ({host}:{port}) refused: {e}");
                    tracing::warn!("{why}");
                    Err(DialError::Failed(why))
                }
            },
        }
    }

    /// The distribution handshake as initiator over `stream`.
    async fn dial_on<S: DistStream>(
        self: &Arc<Self>,
        mut stream: S,
        peer_name: NodeName,
    ) -> Result<Established, DialError> {
        let mut cfg = InitiatorConfig::new(
            self.node_name.clone(),
            self.creation,
            peer_name.clone(),
            self.cookie_jar(),
        );
        cfg.flags = self.flags;
        cfg.required_flags = DistFlags::MANDATORY_25;
        match handshake::connect(&mut stream, cfg, &handshake_opts(self)).await {
            Ok((est, leftover)) => {
                let (r, w) = stream.into_halves();
                Ok(Established {
                    reader: r,
                    writer: w,
                    flags: est.negotiated_flags,
                    leftover,
                })
            }
            Err(HandshakeError::Nok { .. }) => Err(DialError::Nok),
            Err(e) => match (self.cfg.tls.as_ref())
                .and_then(|t| t.explain_handshake_error(&e, Role::Client))
            {
                Some(te) => {
                    let why = format!("TLS connection to {peer_name} refused: {te}");
                    tracing::warn!("{why}");
                    Err(DialError::Failed(why))
                }
                None => Err(DialError::Failed(e.to_string())),
            },
        }
    }

    fn cookie_jar(&self) -> CookieJar {
        self.cookies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts `net_kernel`, `rex` and the group-leader io server, each
    /// restarted when it ends (a peer that floods one past
    /// `max_mailbox_len`, or an exit signal), as OTP's kernel supervisor
    /// restarts them: the rest of the node, and other peers, keep them.
    fn start_services(self: &Arc<Self>) {
        self.supervise(Service::NetKernel);
        self.supervise(Service::Rex);
        self.supervise(Service::Io);
        // On shutdown every process ends, which also ends these services.
        let node = self.clone();
        tokio::spawn(async move {
            node.shutdown.cancelled().await;
            for p in node.all_procs() {
                node.exit_process(&p, crate::term::Term::atom("shutdown"));
            }
        });
    }
}

/// A service of the node that [`NodeInner::supervise`] keeps running.
#[derive(Clone, Copy, Debug)]
enum Service {
    NetKernel,
    Rex,
    Io,
}

/// Least time between two starts of one service: one that keeps ending is
/// restarted at most this often, so a peer that keeps killing it cannot
/// keep a worker busy restarting it.
const SERVICE_RESTART_INTERVAL: Duration = Duration::from_millis(100);

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::NetKernel => "net_kernel",
            Service::Rex => "rex",
            Service::Io => "the io server",
        }
    }
}

impl NodeInner {
    /// Starts `service` now (its name is registered when this returns) and
    /// again each time it ends, until the node shuts down.
    fn supervise(self: &Arc<Self>, service: Service) {
        let first = self.start_service(service);
        let node = self.clone();
        tokio::spawn(async move {
            let mut mb = Some(first);
            loop {
                let m = mb.take().unwrap_or_else(|| node.start_service(service));
                let started = tokio::time::Instant::now();
                match service {
                    Service::NetKernel => crate::services::net_kernel::serve(m).await,
                    Service::Rex => crate::services::rex::serve(m).await,
                    Service::Io => crate::services::io::serve(m).await,
                }
                if node.is_shutting_down() {
                    return;
                }
                tracing::warn!(
                    service = service.name(),
                    "{} ended; restarting it",
                    service.name()
                );
                tokio::time::sleep_until(started + SERVICE_RESTART_INTERVAL).await;
                if node.is_shutting_down() {
                    return;
                }
            }
        });
    }

    /// A new process for `service`, under its registered name.
    fn start_service(self: &Arc<Self>, service: Service) -> super::Mailbox {
        let mb = self.spawn_mailbox();
        match service {
            Service::NetKernel => {
                let _ = mb.register("net_kernel");
            }
            Service::Rex => {
                let _ = mb.register("rex");
            }
            Service::Io => {
                *self.io_server.lock().unwrap_or_else(|e| e.into_inner()) = Some(mb.pid().clone());
            }
        }
        mb
    }
}

/// Logs a refused or failed incoming handshake, in OTP's words where it has some.
fn log_rejected(e: &HandshakeError, addr: SocketAddr) {
    match e {
        HandshakeError::InvalidChallengeReply { .. } | HandshakeError::CookieRejected { .. } => {
            tracing::warn!(%addr, "rejected handshake: {e}")
        }
        HandshakeError::MissingFlags { .. }
        | HandshakeError::NotAllowed { .. }
        | HandshakeError::BadName { .. } => tracing::warn!(%addr, "rejected handshake: {e}"),
        _ => tracing::info!(%addr, "incoming handshake failed: {e}"),
    }
}
