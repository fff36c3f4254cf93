//! The EPMD client: register a node, look names up, list them.
//!
//! A registration is alive as long as its TCP connection: EPMD unregisters
//! the name when the socket closes, errors or receives any byte (PROTOCOL.md
//! §1.2, §7 item 14). [`Registration`] therefore owns that socket, never
//! writes to it, and closes it when dropped. It also reports when EPMD goes
//! away, so the node can register again.

use super::EpmdError;
use super::wire::{self, Alive2Form, DumpReply, KillReply, NamesReply, NodeEntry};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// EPMD's well-known port.
pub const EPMD_PORT: u16 = 4369;
/// The environment variable that moves EPMD to another port, as `erl` and
/// `epmd` read it.
pub const EPMD_PORT_ENV: &str = "ERL_EPMD_PORT";
/// Time limit for a lookup, a listing or a kill, connection included: OTP's
/// `net_setuptime` (7 s), the time net_kernel gives `erl_epmd:port_please`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(7);
/// Time limit for the ALIVE2 reply, connection included: `erl_epmd`'s
/// `wait_for_reg_reply` waits 10 s.
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest NAMES or DUMP reply we read. A line is at most ~1 KB (1020-byte
/// names) and EPMD serves about a thousand sockets, so 4 MiB holds any real
/// reply while a hostile peer cannot make us buffer more.
pub const MAX_LIST_REPLY_LEN: usize = 4 << 20;
/// Largest KILL or STOP reply: `"STOPPED"`, with room to spare.
const MAX_SHORT_REPLY_LEN: usize = 64;

/// The EPMD port `erl` would use: `ERL_EPMD_PORT` when set, else 4369.
pub fn epmd_port() -> Result<u16, EpmdError> {
    parse_epmd_port(std::env::var_os(EPMD_PORT_ENV).as_deref())
}

/// [`epmd_port`] for a given value of `ERL_EPMD_PORT` (`None`: unset).
pub fn parse_epmd_port(value: Option<&std::ffi::OsStr>) -> Result<u16, EpmdError> {
    let Some(v) = value else {
        return Ok(EPMD_PORT);
    };
    let s = v.to_string_lossy();
    s.trim()
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| EpmdError::BadEpmdPortEnv {
            value: s.into_owned(),
        })
}

/// Registers `name` with the local EPMD (port from [`epmd_port`]) for a node
/// listening on `listen_port`, with distribution versions 6 and 5 as OTP 25
/// registers. `node_type` is [`wire::NODE_TYPE_HIDDEN`] or
/// [`wire::NODE_TYPE_NORMAL`].
pub async fn register(
    name: &str,
    listen_port: u16,
    node_type: u8,
) -> Result<Registration, EpmdError> {
    let mut entry = NodeEntry::hidden(name, listen_port);
    entry.node_type = node_type;
    EpmdClient::from_env()?.register(entry).await
}

/// Asks the EPMD on `host` (port from [`epmd_port`]) where `name` listens.
/// `Ok(None)` when the name is not registered there.
pub async fn port_please(host: &str, name: &str) -> Result<Option<NodeEntry>, EpmdError> {
    EpmdClient::from_env()?.port_please(host, name).await
}

/// Lists the names registered with the EPMD on `host` (port from
/// [`epmd_port`]): the port EPMD reports and `(name, port)` pairs.
pub async fn names(host: &str) -> Result<(u32, Vec<(String, u16)>), EpmdError> {
    let r = EpmdClient::from_env()?.names(host).await?;
    Ok((r.epmd_port, r.names))
}

/// Dumps live and old registrations of the EPMD on `host` (port from
/// [`epmd_port`]). EPMD answers DUMP only to local clients.
pub async fn dump(host: &str) -> Result<DumpReply, EpmdError> {
    EpmdClient::from_env()?.dump(host).await
}

/// An EPMD client for one port. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EpmdClient {
    port: u16,
    register_ip: IpAddr,
    timeout: Duration,
    register_timeout: Duration,
}

impl EpmdClient {
    /// A client for the EPMDs listening on `port`. Registrations go to
    /// 127.0.0.1, as `erl_epmd` does for IPv4 nodes.
    pub fn new(port: u16) -> EpmdClient {
        EpmdClient {
            port,
            register_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            timeout: REQUEST_TIMEOUT,
            register_timeout: REGISTER_TIMEOUT,
        }
    }

    /// A client for the port in `ERL_EPMD_PORT`, else 4369.
    pub fn from_env() -> Result<EpmdClient, EpmdError> {
        Ok(EpmdClient::new(epmd_port()?))
    }

    /// Registers at this loopback address instead of 127.0.0.1 (`::1` for
    /// IPv6 nodes, as `erl_epmd` does for `inet6_tcp`).
    pub fn with_register_ip(mut self, ip: IpAddr) -> EpmdClient {
        self.register_ip = ip;
        self
    }

    /// Changes the time limit of lookups and listings ([`REQUEST_TIMEOUT`])
    /// and of registration ([`REGISTER_TIMEOUT`]).
    pub fn with_timeouts(mut self, request: Duration, register: Duration) -> EpmdClient {
        self.timeout = request;
        self.register_timeout = register;
        self
    }

    /// The EPMD port this client talks to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Registers `entry` with the local EPMD and returns the registration,
    /// which holds the connection open until it is dropped.
    pub async fn register(&self, entry: NodeEntry) -> Result<Registration, EpmdError> {
        let request = wire::encode_alive2_req(&entry)?;
        let addr = SocketAddr::new(self.register_ip, self.port);
        let after = self.register_timeout;
        let timeout = EpmdError::Timeout {
            addr,
            request: "ALIVE2_REQ",
            after,
        };
        let (stream, reply) = tokio::time::timeout(after, async {
            let mut stream = connect_addr(addr).await?;
            write_request(&mut stream, addr, &request).await?;
            let reply = read_alive2_reply(&mut stream, addr, &entry.name).await?;
            Ok::<_, EpmdError>((stream, reply))
        })
        .await
        .map_err(|_| timeout)??;
        if reply.result != 0 {
            return Err(EpmdError::NameRefused {
                addr,
                name: entry.name,
                result: reply.result,
            });
        }
        tracing::debug!(
            name = %entry.name,
            creation = reply.creation,
            epmd = %addr,
            "registered with EPMD"
        );
        Ok(Registration::hold(
            stream,
            addr,
            entry,
            reply.creation,
            reply.form,
        ))
    }

    /// Registers a hidden node `name` listening on `listen_port`, with the
    /// versions OTP 25 registers (6 and 5).
    pub async fn register_hidden(
        &self,
        name: &str,
        listen_port: u16,
    ) -> Result<Registration, EpmdError> {
        self.register(NodeEntry::hidden(name, listen_port)).await
    }

    /// Asks the EPMD on `host` where `name` listens; `Ok(None)` when it is
    /// not registered.
    pub async fn port_please(
        &self,
        host: &str,
        name: &str,
    ) -> Result<Option<NodeEntry>, EpmdError> {
        Ok(self.port_please_at(host, name).await?.0)
    }

    /// [`EpmdClient::port_please`], also giving the address of `host` that
    /// EPMD answered on: dialling the node there saves a second name lookup.
    pub async fn port_please_at(
        &self,
        host: &str,
        name: &str,
    ) -> Result<(Option<NodeEntry>, IpAddr), EpmdError> {
        let request = wire::encode_port_please2_req(name)?;
        let (reply, addr) = self
            .call_at(host, "PORT_PLEASE2_REQ", &request, wire::MAX_PORT2_RESP_LEN)
            .await?;
        Ok((wire::parse_port2_resp(&reply)?, addr.ip()))
    }

    /// Lists the names registered with the EPMD on `host`.
    pub async fn names(&self, host: &str) -> Result<NamesReply, EpmdError> {
        let reply = self
            .call(
                host,
                "NAMES_REQ",
                &wire::encode_names_req(),
                MAX_LIST_REPLY_LEN,
            )
            .await?;
        wire::parse_names_reply(&reply)
    }

    /// Dumps the live and old registrations of the EPMD on `host` (local
    /// clients only; others get no reply).
    pub async fn dump(&self, host: &str) -> Result<DumpReply, EpmdError> {
        let reply = self
            .call(
                host,
                "DUMP_REQ",
                &wire::encode_dump_req(),
                MAX_LIST_REPLY_LEN,
            )
            .await?;
        wire::parse_dump_reply(&reply)
    }

    /// Asks the EPMD on `host` to exit, as `epmd -kill` does.
    pub async fn kill(&self, host: &str) -> Result<KillReply, EpmdError> {
        let reply = self
            .call(
                host,
                "KILL_REQ",
                &wire::encode_kill_req(),
                MAX_SHORT_REPLY_LEN,
            )
            .await?;
        wire::parse_kill_reply(&reply)
    }

    /// Asks the EPMD on `host` to drop `name`, as `epmd -stop` does. Returns
    /// the raw reply: empty when EPMD refuses (no `-relaxed_command_check`),
    /// else [`wire::STOP_OK`] or [`wire::STOP_NOEXIST`].
    pub async fn stop(&self, host: &str, name: &str) -> Result<Vec<u8>, EpmdError> {
        let request = wire::encode_stop_req(name)?;
        self.call(host, "STOP_REQ", &request, MAX_SHORT_REPLY_LEN)
            .await
    }

    /// Connects to `host`'s EPMD, sends one request and reads the reply up to
    /// EOF, all within the request timeout.
    async fn call(
        &self,
        host: &str,
        request_name: &'static str,
        request: &[u8],
        max: usize,
    ) -> Result<Vec<u8>, EpmdError> {
        Ok(self.call_at(host, request_name, request, max).await?.0)
    }

    /// [`EpmdClient::call`], also giving the address that answered.
    async fn call_at(
        &self,
        host: &str,
        request_name: &'static str,
        request: &[u8],
        max: usize,
    ) -> Result<(Vec<u8>, SocketAddr), EpmdError> {
        let addrs = resolve(host, self.port).await?;
        let fallback = addrs
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port));
        let after = self.timeout;
        tokio::time::timeout(after, async {
            let (mut stream, addr) = connect_any(&addrs).await?;
            write_request(&mut stream, addr, request).await?;
            let reply = read_to_eof(&mut stream, addr, request_name, max).await?;
            Ok((reply, addr))
        })
        .await
        .map_err(|_| EpmdError::Timeout {
            addr: fallback,
            request: request_name,
            after,
        })?
    }
}

/// Why a registration's connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// EPMD closed the connection (it exited, or dropped the name).
    Eof,
    /// The connection failed.
    Error(String),
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Eof => f.write_str("EPMD closed the registration connection"),
            CloseReason::Error(e) => write!(f, "the registration connection failed: {e}"),
        }
    }
}

/// A live EPMD registration. It owns the registration socket and never
/// writes to it; dropping it closes the socket, which makes EPMD unregister
/// the name.
#[derive(Debug)]
pub struct Registration {
    entry: NodeEntry,
    creation: u32,
    form: Alive2Form,
    epmd: SocketAddr,
    closed: watch::Receiver<Option<CloseReason>>,
    holder: JoinHandle<()>,
}

impl Registration {
    fn hold(
        mut stream: TcpStream,
        epmd: SocketAddr,
        entry: NodeEntry,
        creation: u32,
        form: Alive2Form,
    ) -> Registration {
        let (tx, closed) = watch::channel(None);
        let name = entry.name.clone();
        let holder = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let reason = loop {
                match stream.read(&mut buf).await {
                    Ok(0) => break CloseReason::Eof,
                    // EPMD never writes after the reply; ignore noise, only
                    // the end of the connection matters.
                    Ok(n) => tracing::warn!(%name, bytes = n, "EPMD sent unexpected bytes"),
                    Err(e) => break CloseReason::Error(e.to_string()),
                }
            };
            tracing::debug!(%name, %reason, "EPMD registration connection ended");
            tx.send_replace(Some(reason));
        });
        Registration {
            entry,
            creation,
            form,
            epmd,
            closed,
            holder,
        }
    }

    /// The node's creation as EPMD assigned it. With the 16-bit reply form
    /// (an EPMD older than OTP 23) it is 1, 2 or 3.
    pub fn creation(&self) -> u32 {
        self.creation
    }

    /// The registered alive name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// Everything that was registered.
    pub fn entry(&self) -> &NodeEntry {
        &self.entry
    }

    /// Which reply form EPMD answered with.
    pub fn form(&self) -> Alive2Form {
        self.form
    }

    /// The EPMD this registration lives in.
    pub fn epmd_addr(&self) -> SocketAddr {
        self.epmd
    }

    /// True once the connection to EPMD has ended: the name is no longer
    /// registered.
    pub fn is_closed(&self) -> bool {
        self.closed.borrow().is_some()
    }

    /// Resolves when the connection to EPMD ends (EPMD exited or dropped the
    /// name), so the node can register again.
    pub async fn closed(&self) -> CloseReason {
        let mut rx = self.closed.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason
                .clone()
                .unwrap_or_else(|| CloseReason::Error("unknown".into())),
            Err(_) => CloseReason::Error("the registration holder task stopped".into()),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Dropping the holder's future drops the socket: EPMD sees the close
        // and unregisters the name.
        self.holder.abort();
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, EpmdError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let host_s = host.to_string();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| EpmdError::Resolve {
            host: host_s.clone(),
            reason: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(EpmdError::Resolve {
            host: host_s,
            reason: "no addresses".into(),
        });
    }
    Ok(addrs)
}

async fn connect_addr(addr: SocketAddr) -> Result<TcpStream, EpmdError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| EpmdError::Connect {
            addr,
            reason: e.to_string(),
        })?;
    // Requests are one small write; do not let Nagle delay it.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn connect_any(addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr), EpmdError> {
    let mut last = None;
    for &addr in addrs {
        match connect_addr(addr).await {
            Ok(s) => return Ok((s, addr)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(EpmdError::Resolve {
        host: String::new(),
        reason: "no addresses".into(),
    }))
}

async fn write_request(
    stream: &mut TcpStream,
    addr: SocketAddr,
    request: &[u8],
) -> Result<(), EpmdError> {
    stream.write_all(request).await.map_err(|e| EpmdError::Io {
        addr,
        during: "sending the request",
        reason: e.to_string(),
    })
}

async fn read_alive2_reply(
    stream: &mut TcpStream,
    addr: SocketAddr,
    name: &str,
) -> Result<wire::Alive2Reply, EpmdError> {
    let mut buf = Vec::with_capacity(8);
    let mut chunk = [0u8; 16];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| EpmdError::Io {
            addr,
            during: "reading the ALIVE2 reply",
            reason: e.to_string(),
        })?;
        if n == 0 {
            if buf.is_empty() {
                return Err(EpmdError::RegistrationIgnored {
                    addr,
                    name: name.to_string(),
                });
            }
            return Err(EpmdError::UnexpectedReply {
                request: "ALIVE2_REQ",
                detail: format!("connection closed after a partial reply {buf:?}"),
            });
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some((reply, used)) = wire::parse_alive2_reply(&buf)? {
            if used != buf.len() {
                return Err(EpmdError::UnexpectedReply {
                    request: "ALIVE2_REQ",
                    detail: format!("{} bytes after the reply", buf.len() - used),
                });
            }
            return Ok(reply);
        }
    }
}

async fn read_to_eof(
    stream: &mut TcpStream,
    addr: SocketAddr,
    request: &'static str,
    max: usize,
) -> Result<Vec<u8>, EpmdError> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| EpmdError::Io {
            addr,
            during: "reading the reply",
            reason: e.to_string(),
        })?;
        if n == 0 {
            return Ok(buf);
        }
        if buf.len() + n > max {
            return Err(EpmdError::ReplyTooLong { addr, request, max });
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A scripted EPMD: accepts one connection, checks the request, answers
    /// `reply` and then closes or keeps the socket as told.
    async fn scripted(
        expect: Vec<u8>,
        reply: Vec<u8>,
        keep: bool,
    ) -> (u16, tokio::task::JoinHandle<TcpStream>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = vec![0u8; expect.len()];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(got, expect);
            s.write_all(&reply).await.unwrap();
            if !keep {
                s.shutdown().await.unwrap();
            }
            s
        });
        (port, h)
    }

    #[tokio::test]
    async fn register_extended_reply_and_hold() {
        let entry = NodeEntry::hidden("n1", 5000);
        let req = wire::encode_alive2_req(&entry).unwrap();
        let (port, h) = scripted(req, vec![118, 0, 0x6b, 0, 0, 7], true).await;
        let reg = EpmdClient::new(port).register(entry).await.unwrap();
        assert_eq!(reg.creation(), 0x6b00_0007);
        assert_eq!(reg.form(), Alive2Form::Extended);
        assert_eq!(reg.name(), "n1");
        assert!(!reg.is_closed());
        // The server side closes: the registration notices.
        let server_side = h.await.unwrap();
        drop(server_side);
        assert_eq!(reg.closed().await, CloseReason::Eof);
        assert!(reg.is_closed());
    }

    #[tokio::test]
    async fn dropping_registration_closes_socket() {
        let entry = NodeEntry::hidden("n2", 5000);
        let req = wire::encode_alive2_req(&entry).unwrap();
        let (port, h) = scripted(req, vec![121, 0, 0, 2], true).await;
        let reg = EpmdClient::new(port).register(entry).await.unwrap();
        assert_eq!(reg.creation(), 2);
        assert_eq!(reg.form(), Alive2Form::Legacy);
        let mut server_side = h.await.unwrap();
        drop(reg);
        let mut b = [0u8; 4];
        let n = tokio::time::timeout(Duration::from_secs(5), server_side.read(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0, "the client must never write after ALIVE2");
    }

    #[tokio::test]
    async fn register_refused_and_ignored() {
        let entry = NodeEntry::hidden("n3", 1);
        let req = wire::encode_alive2_req(&entry).unwrap();
        let (port, _h) = scripted(req.clone(), vec![118, 1, 0, 0, 0, 99], false).await;
        let e = EpmdClient::new(port)
            .register(entry.clone())
            .await
            .unwrap_err();
        assert!(matches!(e, EpmdError::NameRefused { result: 1, .. }), "{e}");
        let (port, _h) = scripted(req.clone(), vec![], false).await;
        let e = EpmdClient::new(port)
            .register(entry.clone())
            .await
            .unwrap_err();
        assert!(matches!(e, EpmdError::RegistrationIgnored { .. }), "{e}");
        let (port, _h) = scripted(req.clone(), vec![118, 0, 0], false).await;
        let e = EpmdClient::new(port)
            .register(entry.clone())
            .await
            .unwrap_err();
        assert!(matches!(e, EpmdError::UnexpectedReply { .. }), "{e}");
        let (port, _h) = scripted(req, vec![42, 0, 0, 0], false).await;
        let e = EpmdClient::new(port).register(entry).await.unwrap_err();
        assert!(matches!(e, EpmdError::UnexpectedReply { .. }), "{e}");
    }

    #[tokio::test]
    async fn register_times_out() {
        let entry = NodeEntry::hidden("n4", 1);
        let req = wire::encode_alive2_req(&entry).unwrap();
        // The scripted peer reads the request and never answers.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let _h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = vec![0u8; req.len()];
            s.read_exact(&mut got).await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let c = EpmdClient::new(port)
            .with_timeouts(Duration::from_millis(200), Duration::from_millis(200));
        let e = c.register(entry).await.unwrap_err();
        assert!(matches!(e, EpmdError::Timeout { .. }), "{e}");
    }

    #[tokio::test]
    async fn port_please_found_and_missing() {
        let req = wire::encode_port_please2_req("a").unwrap();
        let reply = vec![119, 0, 0xa5, 0x11, 77, 0, 0, 6, 0, 5, 0, 1, b'a', 0, 0];
        let (port, _h) = scripted(req.clone(), reply, false).await;
        let e = EpmdClient::new(port)
            .port_please("127.0.0.1", "a")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.port, e.node_type, e.highest, e.lowest),
            (0xa511, 77, 6, 5)
        );
        let (port, _h) = scripted(req, vec![119, 1], false).await;
        let none = EpmdClient::new(port)
            .port_please("localhost", "a")
            .await
            .unwrap();
        assert_eq!(none, None);
    }

    #[tokio::test]
    async fn names_and_connect_error() {
        let mut reply = vec![0, 0, 17, 17];
        reply.extend_from_slice(b"name x at port 1\nname y at port 2\n");
        let (port, _h) = scripted(wire::encode_names_req(), reply, false).await;
        let r = EpmdClient::new(port).names("127.0.0.1").await.unwrap();
        assert_eq!(r.epmd_port, 4369);
        assert_eq!(r.names, vec![("x".into(), 1), ("y".into(), 2)]);
        // Nothing listens on a port we just freed.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let e = EpmdClient::new(port).names("127.0.0.1").await.unwrap_err();
        assert!(matches!(e, EpmdError::Connect { .. }), "{e}");
        assert!(e.to_string().contains("is epmd running"), "{e}");
    }

    #[tokio::test]
    async fn oversize_reply_is_refused() {
        let reply = vec![b'x'; MAX_SHORT_REPLY_LEN + 1];
        let (port, _h) = scripted(wire::encode_kill_req(), reply, false).await;
        let e = EpmdClient::new(port).kill("127.0.0.1").await.unwrap_err();
        assert!(matches!(e, EpmdError::ReplyTooLong { .. }), "{e}");
    }

    #[test]
    fn epmd_port_env() {
        use std::ffi::OsStr;
        assert_eq!(parse_epmd_port(None), Ok(4369));
        assert_eq!(parse_epmd_port(Some(OsStr::new("4370"))), Ok(4370));
        assert_eq!(parse_epmd_port(Some(OsStr::new(" 4371\n"))), Ok(4371));
        for bad in ["", "0", "65536", "abc", "-1"] {
            let e = parse_epmd_port(Some(OsStr::new(bad))).unwrap_err();
            assert!(e.to_string().contains("ERL_EPMD_PORT"), "{e}");
        }
    }

    #[test]
    fn bad_names_never_reach_the_wire() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Port 1: nothing listens, so only validation can produce this error.
        let c = EpmdClient::new(1);
        let e = rt.block_on(c.register_hidden("a@b", 1)).unwrap_err();
        assert!(matches!(e, EpmdError::InvalidName { .. }), "{e}");
        let e = rt.block_on(c.port_please("127.0.0.1", "")).unwrap_err();
        assert!(matches!(e, EpmdError::InvalidName { .. }), "{e}");
    }
}
