//! An embedded EPMD that follows OTP's `erts/epmd/src/epmd_srv.c`.
//!
//! What it does, as OTP's epmd does:
//! * one request per connection, `Len:u16` framed, closed after the reply;
//!   a bad `Len`, an unknown opcode or a malformed body closes the
//!   connection without a reply, as do bytes beyond the request;
//! * ALIVE2 only from a local peer (loopback, or the address the peer
//!   reached us on), silently ignored otherwise; a 32-bit reply when the
//!   request's HighestVersion is at least 6, else a 16-bit one;
//! * creation: a per-name counter seeded with the time in seconds and raised
//!   by one at each registration of the same name, skipping 0..=3; 16-bit
//!   replies carry `counter % 3 + 1`; a name already live gets Result 1
//!   (creation 99);
//! * the registration socket is kept; its close, an error or ANY byte
//!   received unregisters the name, which moves to an old/unused list (for
//!   DUMP and the creation counter);
//! * PORT_PLEASE2, NAMES (from anywhere), DUMP (local peers only);
//! * KILL (local peers only) answers `NO` while names are registered, else
//!   `OK` and the server stops; STOP gets no reply. This is epmd without
//!   `-relaxed_command_check`.
//!
//! Where it differs, to bound resources (every limit is in
//! [`ServerConfig`]): a refused ALIVE2 connection is closed after the reply
//! (epmd keeps it), idle or incomplete requests are dropped after
//! [`PACKET_TIMEOUT`], and connections, live names and old names are capped,
//! with a reserve of connections that only local peers may use.

use super::EpmdError;
use super::registry::Registry;
use super::wire::{self, Alive2Form, Alive2Reply, KillReply, Request};
use bytes::Bytes;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Simultaneous connections, registrations included. OTP's epmd serves as
/// many as `select()` allows (`FD_SETSIZE`, 1024).
pub const MAX_CONNECTIONS: usize = 1024;
/// Extra connections only local peers may use, so that remote clients that
/// fill [`MAX_CONNECTIONS`] cannot stop local nodes from registering.
pub const LOOPBACK_RESERVE: usize = 64;
/// Live names. Each holds a connection, so [`MAX_CONNECTIONS`] bounds them
/// too; this keeps room for lookups when many nodes register.
pub const MAX_LIVE_NAMES: usize = 1000;
/// Old/unused names remembered for their creation counter: OTP's
/// `MAX_UNREG_COUNT` (`epmd_int.h`).
pub const MAX_OLD_NAMES: usize = 1000;
/// Time a client has to send a complete request. OTP's epmd waits 60 s
/// (`CLOSE_TIMEOUT`); real clients send their request as soon as they are
/// connected, so 10 s is ample and frees the slots of idle sockets sooner.
pub const PACKET_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to deliver a reply before the connection is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after `accept` fails for lack of file descriptors, so that the
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Listen backlog: what OTP's epmd asks for (`SOMAXCONN`).
const LISTEN_BACKLOG: i32 = 4096;
/// Time a probe connection to an existing EPMD may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// After losing a bind race, how long to wait for the winner to accept.
pub const BIND_RACE_DEADLINE: Duration = Duration::from_secs(3);

/// Limits of an [`EpmdServer`]. `Default` gives the named constants.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`LOOPBACK_RESERVE`].
    pub loopback_reserve: usize,
    /// See [`MAX_LIVE_NAMES`].
    pub max_names: usize,
    /// See [`MAX_OLD_NAMES`].
    pub max_old_names: usize,
    /// See [`PACKET_TIMEOUT`].
    pub packet_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: MAX_CONNECTIONS,
            loopback_reserve: LOOPBACK_RESERVE,
            max_names: MAX_LIVE_NAMES,
            max_old_names: MAX_OLD_NAMES,
            packet_timeout: PACKET_TIMEOUT,
        }
    }
}

/// A running embedded EPMD. Dropping it (or [`EpmdServer::shutdown`]) stops
/// it: the listeners close and every connection, registrations included, is
/// closed, so registered nodes see their EPMD go away.
#[derive(Debug)]
pub struct EpmdServer {
    port: u16,
    addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    done: mpsc::Receiver<()>,
}

impl EpmdServer {
    /// Serves on `port` on all IPv4 addresses and, when the host has IPv6,
    /// on all IPv6 addresses too, as OTP's epmd does. Port 0 picks a free
    /// port (see [`EpmdServer::port`]).
    pub async fn bind(port: u16) -> Result<EpmdServer, EpmdError> {
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        let l4 = listen(v4)?;
        let port = local_port(&l4, v4)?;
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        let mut listeners = vec![l4];
        match listen(v6) {
            Ok(l6) => listeners.push(l6),
            Err(e) => tracing::debug!(error = %e, "EPMD serves IPv4 only"),
        }
        Ok(EpmdServer::start(listeners, port, ServerConfig::default()))
    }

    /// Serves on the given addresses with the given limits. Port 0 in the
    /// first address picks a free port, which later addresses with port 0
    /// share. Every address must bind.
    pub async fn bind_with(
        addrs: &[SocketAddr],
        config: ServerConfig,
    ) -> Result<EpmdServer, EpmdError> {
        let mut listeners = Vec::with_capacity(addrs.len());
        let mut port = 0;
        for &addr in addrs {
            let mut addr = addr;
            if addr.port() == 0 {
                addr.set_port(port);
            }
            let l = listen(addr)?;
            if port == 0 {
                port = local_port(&l, addr)?;
            }
            listeners.push(l);
        }
        if listeners.is_empty() {
            return Err(EpmdError::Bind {
                addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                reason: "no address given".into(),
                hint: "",
                kind: std::io::ErrorKind::InvalidInput,
            });
        }
        Ok(EpmdServer::start(listeners, port, config))
    }

    fn start(listeners: Vec<TcpListener>, port: u16, config: ServerConfig) -> EpmdServer {
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            port,
            general: Arc::new(Semaphore::new(config.max_connections)),
            reserve: Arc::new(Semaphore::new(config.loopback_reserve)),
            config,
            registry: Mutex::new(Registry::default()),
            stop,
            next_conn: AtomicU64::new(1),
        });
        let (done_tx, done) = mpsc::channel(1);
        let addrs: Vec<SocketAddr> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        for l in listeners {
            tokio::spawn(accept_loop(l, shared.clone(), done_tx.clone()));
        }
        tracing::info!(port, addrs = ?addrs, "EPMD listening");
        EpmdServer {
            port,
            addrs,
            shared,
            done,
        }
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses it listens on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The live names and their ports, newest first (the NAMES order).
    pub fn names(&self) -> Vec<(String, u16)> {
        self.shared.registry().names()
    }

    /// True once the server has stopped (KILL, or shutdown).
    pub fn is_stopped(&self) -> bool {
        *self.shared.stop.borrow()
    }

    /// Resolves when the server stops, e.g. after an accepted KILL request.
    pub async fn stopped(&self) {
        let mut rx = self.shared.stop.subscribe();
        let _ = rx.wait_for(|&s| s).await;
    }

    /// Stops the server and waits until its listeners and connections are
    /// closed, so that the port is free when this returns.
    pub async fn shutdown(mut self) {
        self.shared.stop.send_replace(true);
        // Every task holds a sender; recv() yields None once all are gone.
        while self.done.recv().await.is_some() {}
    }
}

impl Drop for EpmdServer {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
    }
}

/// Starts an embedded EPMD on `port` unless something already accepts
/// connections on 127.0.0.1:`port`. Returns `Ok(None)` when another EPMD is
/// there (including one that another starter bound while we tried), or the
/// new server, which serves as long as it is kept.
pub async fn start_embedded_if_absent(port: u16) -> Result<Option<EpmdServer>, EpmdError> {
    if probe(port).await {
        return Ok(None);
    }
    match EpmdServer::bind(port).await {
        Ok(server) => Ok(Some(server)),
        Err(e) if e.is_addr_in_use() => {
            // Someone bound it between our probe and our bind: use theirs
            // once it accepts.
            let deadline = tokio::time::Instant::now() + BIND_RACE_DEADLINE;
            while tokio::time::Instant::now() < deadline {
                if probe(port).await {
                    return Ok(None);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// True if something accepts TCP connections on 127.0.0.1:`port`.
async fn probe(port: u16) -> bool {
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> EpmdError {
    let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
        " (another EPMD probably runs there: use it, stop it, or pick another port)"
    } else {
        ""
    };
    EpmdError::Bind {
        addr,
        reason: e.to_string(),
        hint,
        kind: e.kind(),
    }
}

fn listen(addr: SocketAddr) -> Result<TcpListener, EpmdError> {
    use socket2::{Domain, Socket, Type};
    let err = |e| bind_error(addr, e);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(err)?;
    if addr.is_ipv6() {
        // Leave IPv4 to the IPv4 listener, as epmd does.
        socket.set_only_v6(true).map_err(err)?;
    }
    // As epmd (and tokio) do, so a restart does not wait for TIME_WAIT.
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)?;
    TcpListener::from_std(socket.into()).map_err(err)
}

fn local_port(l: &TcpListener, addr: SocketAddr) -> Result<u16, EpmdError> {
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| bind_error(addr, e))
}

#[derive(Debug)]
struct Shared {
    /// The port reported in NAMES and DUMP replies.
    port: u16,
    config: ServerConfig,
    registry: Mutex<Registry>,
    /// Set to true to stop every task.
    stop: watch::Sender<bool>,
    general: Arc<Semaphore>,
    reserve: Arc<Semaphore>,
    next_conn: AtomicU64,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock cannot leave the registry in a
        // state worse than stale; keep serving.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection slot: the general pool, or the reserve for local peers.
    fn permit(&self, local: bool) -> Option<OwnedSemaphorePermit> {
        self.general.clone().try_acquire_owned().ok().or_else(|| {
            local
                .then(|| self.reserve.clone().try_acquire_owned().ok())
                .flatten()
        })
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, done: mpsc::Sender<()>) {
    let mut stop = shared.stop.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|&s| s) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let local_addr = stream.local_addr().ok();
                let local = is_local_peer(peer.ip(), local_addr.map(|a| a.ip()));
                let Some(permit) = shared.permit(local) else {
                    tracing::warn!(%peer, "EPMD connection limit reached; closing new connection");
                    continue;
                };
                let conn = Conn {
                    shared: shared.clone(),
                    id: shared.next_conn.fetch_add(1, Ordering::Relaxed),
                    peer,
                    local,
                    fd: fd_of(&stream),
                };
                tokio::spawn(conn.serve(stream, permit, done.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on.
                tracing::warn!(error = %e, "EPMD accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// OTP's rule (`conn_local_peer_check`): 127.0.0.0/8, `::1`, or the peer
/// connected from the very address it reached us on.
fn is_local_peer(peer: IpAddr, local: Option<IpAddr>) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
        v4 => v4,
    };
    peer.is_loopback() || local.is_some_and(|l| l == peer)
}

#[cfg(unix)]
fn fd_of(stream: &TcpStream) -> i64 {
    use std::os::fd::AsRawFd;
    i64::from(stream.as_raw_fd())
}

#[cfg(not(unix))]
fn fd_of(_stream: &TcpStream) -> i64 {
    -1
}

struct Conn {
    shared: Arc<Shared>,
    id: u64,
    peer: SocketAddr,
    local: bool,
    fd: i64,
}

impl Conn {
    async fn serve(
        self,
        mut stream: TcpStream,
        _permit: OwnedSemaphorePermit,
        _done: mpsc::Sender<()>,
    ) {
        let _ = stream.set_nodelay(true);
        let mut stop = self.shared.stop.subscribe();
        let timeout = self.shared.config.packet_timeout;
        let request = tokio::select! {
            r = tokio::time::timeout(timeout, read_request(&mut stream)) => r,
            _ = stop.wait_for(|&s| s) => return,
        };
        let request = match request {
            Err(_) => {
                tracing::debug!(peer = %self.peer, "EPMD: closing, no complete request in time");
                return;
            }
            Ok(Err(why)) => {
                tracing::debug!(peer = %self.peer, %why, "EPMD: closing connection");
                return;
            }
            Ok(Ok(r)) => r,
        };
        let origin = Origin {
            peer: self.peer,
            conn: self.id,
            fd: self.fd,
            local: self.local,
            now: unix_time(),
        };
        let action = handle_request(
            &mut self.shared.registry(),
            &self.shared.config,
            self.shared.port,
            &origin,
            request,
        );
        match action {
            Action::Close => {}
            Action::Reply(reply) => {
                self.reply(&mut stream, &reply).await;
            }
            Action::ReplyAndStop(reply) => {
                self.reply(&mut stream, &reply).await;
                tracing::info!(peer = %self.peer, "EPMD: killed by KILL request");
                self.shared.stop.send_replace(true);
            }
            Action::Registered {
                reply,
                name,
                port,
                creation,
            } => {
                self.registered(stream, &reply, name, port, creation, &mut stop)
                    .await
            }
        }
    }

    /// Writes a reply and closes the connection gracefully.
    async fn reply(&self, stream: &mut TcpStream, bytes: &[u8]) -> bool {
        let sent = tokio::time::timeout(WRITE_TIMEOUT, async {
            stream.write_all(bytes).await?;
            stream.shutdown().await
        })
        .await;
        match sent {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, error = %e, "EPMD: reply failed");
                false
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer, "EPMD: reply timed out");
                false
            }
        }
    }

    /// Holds a registration: sends the ALIVE2 reply, then waits for the
    /// socket to end (or any byte, or the server to stop) and unregisters.
    async fn registered(
        &self,
        mut stream: TcpStream,
        reply: &[u8],
        name: String,
        port: u16,
        creation: u32,
        stop: &mut watch::Receiver<bool>,
    ) {
        let config = &self.shared.config;
        let sent = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(reply)).await;
        if !matches!(sent, Ok(Ok(()))) {
            self.shared
                .registry()
                .unregister_conn(self.id, config.max_old_names);
            tracing::debug!(%name, "EPMD: failed to send the ALIVE2 reply");
            return;
        }
        tracing::info!(%name, port, creation, "EPMD: registered");
        // Keep the socket: its end, an error or any byte unregisters.
        let mut byte = [0u8; 1];
        let why = tokio::select! {
            r = stream.read(&mut byte) => match r {
                Ok(0) => "connection closed",
                Ok(_) => "got more than expected on the registration socket",
                Err(_) => "error on the registration socket",
            },
            _ = stop.wait_for(|&s| s) => "EPMD stopping",
        };
        self.shared
            .registry()
            .unregister_conn(self.id, config.max_old_names);
        tracing::info!(%name, port, "EPMD: unregistered ({why})");
    }
}

/// Who sent a request, as [`handle_request`] needs it.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The peer's address, for log lines.
    pub(crate) peer: SocketAddr,
    /// The connection's id in the registry.
    pub(crate) conn: u64,
    /// The connection's file descriptor, shown by DUMP.
    pub(crate) fd: i64,
    /// Local peer ([`is_local_peer`]): may register, DUMP and KILL.
    pub(crate) local: bool,
    /// Unix time in seconds, which seeds a new name's creation.
    pub(crate) now: u64,
}

/// What the connection must do after [`handle_request`].
#[derive(Debug)]
pub(crate) enum Action {
    /// Close without a reply.
    Close,
    /// Send this reply, then close.
    Reply(Bytes),
    /// Send this reply, close, then stop the server (an accepted KILL).
    ReplyAndStop(Bytes),
    /// The name is now registered to this connection: send the ALIVE2
    /// reply and keep the socket; its end must unregister the connection.
    Registered {
        /// The ALIVE2 reply.
        reply: Bytes,
        /// The registered name.
        name: String,
        /// Its port.
        port: u16,
        /// The creation handed out.
        creation: u32,
    },
}

/// The server's answer to one parsed request, without IO: the registry
/// changes and the reply bytes. [`Conn::serve`] does the IO around it; the
/// fuzz target drives it directly.
pub(crate) fn handle_request(
    registry: &mut Registry,
    config: &ServerConfig,
    epmd_port: u16,
    origin: &Origin,
    request: Request,
) -> Action {
    let peer = origin.peer;
    let local = |what: &str| {
        if !origin.local {
            tracing::debug!(%peer, "EPMD: {what} from a non-local address ignored");
        }
        origin.local
    };
    match request {
        Request::Alive2(entry) => {
            if !local("ALIVE2_REQ") {
                return Action::Close;
            }
            let form = Alive2Form::for_highest(entry.highest);
            let name = entry.name.clone();
            let port = entry.port;
            let registered = registry.register(
                entry,
                origin.conn,
                origin.fd,
                origin.now,
                config.max_names,
                config.max_old_names,
            );
            match registered {
                Ok(creation) => Action::Registered {
                    reply: Alive2Reply {
                        result: 0,
                        creation,
                        form,
                    }
                    .encode()
                    .into(),
                    name,
                    port,
                    creation,
                },
                Err(why) => {
                    tracing::info!(%name, %peer, "EPMD: registration refused: {why}");
                    Action::Reply(refused_reply(form).encode().into())
                }
            }
        }
        Request::Alive2Refused { highest, reason } => {
            if !local("ALIVE2_REQ") {
                return Action::Close;
            }
            tracing::info!(%peer, %reason, "EPMD: registration refused");
            Action::Reply(
                refused_reply(Alive2Form::for_highest(highest))
                    .encode()
                    .into(),
            )
        }
        Request::PortPlease2 { name } => {
            let entry = registry.lookup(&name);
            Action::Reply(wire::encode_port2_resp(entry.as_ref()).into())
        }
        Request::Names => Action::Reply(registry.names_reply(epmd_port)),
        Request::Dump => {
            if !local("DUMP_REQ") {
                return Action::Close;
            }
            let dump = registry.dump(u32::from(epmd_port));
            Action::Reply(wire::encode_dump_reply(&dump).into())
        }
        Request::Kill => {
            if !local("KILL_REQ") {
                return Action::Close;
            }
            if registry.live.is_empty() {
                Action::ReplyAndStop(Bytes::from_static(KillReply::Ok.encode()))
            } else {
                tracing::info!(%peer, "EPMD: KILL refused, live nodes");
                Action::Reply(Bytes::from_static(KillReply::Refused.encode()))
            }
        }
        Request::Stop { .. } => {
            if local("STOP_REQ") {
                tracing::info!(%peer, "EPMD: STOP refused (no relaxed command check)");
            }
            Action::Close
        }
    }
}

/// OTP's answer to a refused registration: Result 1, creation 99.
fn refused_reply(form: Alive2Form) -> Alive2Reply {
    Alive2Reply {
        result: 1,
        creation: wire::REFUSED_CREATION,
        form,
    }
}

/// Reads exactly one request. Bytes beyond it (in the same reads) close the
/// connection, as epmd's "got more than expected".
async fn read_request(stream: &mut TcpStream) -> Result<Request, String> {
    // parse_request refuses Len > MAX_REQUEST_LEN as soon as 2 bytes are in,
    // so the buffer never holds more than one maximal request and a chunk.
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read error: {e}"))?;
        if n == 0 {
            return Err(format!(
                "closed after a partial request of {} bytes",
                buf.len()
            ));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        match wire::parse_request(&buf) {
            Ok(None) => continue,
            Ok(Some((req, used))) if used == buf.len() => return Ok(req),
            Ok(Some((_, used))) => {
                return Err(format!(
                    "got {} bytes in packet, expected {}",
                    buf.len() - 2,
                    used - 2
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_peer_rule() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let lo2: IpAddr = "127.1.2.3".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let far: IpAddr = "192.0.2.7".parse().unwrap();
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(is_local_peer(lo, None));
        assert!(is_local_peer(lo2, None));
        assert!(is_local_peer(lo6, None));
        assert!(is_local_peer(mapped, None));
        assert!(!is_local_peer(far, Some(me)));
        assert!(is_local_peer(me, Some(me)));
    }
}
