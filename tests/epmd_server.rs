//! The embedded EPMD over real TCP on 127.0.0.1: framing, hostile input,
//! registration lifetime, creation rules, limits, KILL/STOP, shutdown.
use erlnode::epmd::wire::{self, Alive2Form, KillReply, NodeEntry};
use erlnode::epmd::{
    CloseReason, EpmdClient, EpmdError, EpmdServer, ServerConfig, start_embedded_if_absent,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound for anything that should happen "at once".
const SOON: Duration = Duration::from_secs(5);

async fn server_with(config: ServerConfig) -> EpmdServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    EpmdServer::bind_with(&[addr], config).await.unwrap()
}

async fn server() -> EpmdServer {
    server_with(ServerConfig::default()).await
}

async fn connect(s: &EpmdServer) -> TcpStream {
    TcpStream::connect(("127.0.0.1", s.port())).await.unwrap()
}

/// Reads until EOF (bounded by SOON).
async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(SOON, stream.read_to_end(&mut out))
        .await
        .expect("server did not close the connection")
        .unwrap();
    out
}

/// Sends raw bytes and returns everything the server answered before closing.
async fn raw(s: &EpmdServer, bytes: &[u8]) -> Vec<u8> {
    let mut c = connect(s).await;
    c.write_all(bytes).await.unwrap();
    read_all(&mut c).await
}

/// Sends a raw ALIVE2 and returns the socket and the reply bytes.
async fn raw_register(s: &EpmdServer, entry: &NodeEntry) -> (TcpStream, Vec<u8>) {
    let mut c = connect(s).await;
    c.write_all(&wire::encode_alive2_req(entry).unwrap())
        .await
        .unwrap();
    let want = if entry.highest >= 6 { 6 } else { 4 };
    let mut reply = vec![0u8; want];
    tokio::time::timeout(SOON, c.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    (c, reply)
}

async fn wait_until_names(s: &EpmdServer, pred: impl Fn(&[(String, u16)]) -> bool) {
    let end = Instant::now() + SOON;
    while Instant::now() < end {
        if pred(&s.names()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("names never matched; now {:?}", s.names());
}

fn client(s: &EpmdServer) -> EpmdClient {
    EpmdClient::new(s.port())
}

#[tokio::test]
async fn register_lookup_names_dump_through_our_client() {
    let s = server().await;
    let c = client(&s);
    let reg = c.register_hidden("alpha", 4242).await.unwrap();
    assert_eq!(reg.form(), Alive2Form::Extended);
    assert!(reg.creation() >= 4);
    let e = c.port_please("127.0.0.1", "alpha").await.unwrap().unwrap();
    assert_eq!(e, NodeEntry::hidden("alpha", 4242));
    assert_eq!(c.port_please("127.0.0.1", "beta").await.unwrap(), None);
    let names = c.names("127.0.0.1").await.unwrap();
    assert_eq!(names.epmd_port, u32::from(s.port()));
    assert_eq!(names.names, vec![("alpha".to_string(), 4242)]);
    drop(reg);
    wait_until_names(&s, |n| n.is_empty()).await;
    let dump = c.dump("127.0.0.1").await.unwrap();
    assert!(dump.active.is_empty());
    assert_eq!(dump.old.len(), 1);
    assert_eq!(
        (dump.old[0].name.as_str(), dump.old[0].port),
        ("alpha", 4242)
    );
}

#[tokio::test]
async fn names_reply_bytes_newest_first() {
    let s = server().await;
    let c = client(&s);
    let _a = c.register_hidden("a", 1).await.unwrap();
    let _b = c.register_hidden("b", 2).await.unwrap();
    let mut want = u32::from(s.port()).to_be_bytes().to_vec();
    want.extend_from_slice(b"name b at port 2\nname a at port 1\n");
    assert_eq!(raw(&s, &[0, 1, 110]).await, want);
    // DUMP: NUL-terminated lines, active newest first.
    let dump = raw(&s, &[0, 1, 100]).await;
    let text = String::from_utf8_lossy(&dump[4..]).into_owned();
    assert!(
        text.starts_with("active name     <b> at port 2, fd = "),
        "{text:?}"
    );
    assert_eq!(dump[4..].iter().filter(|&&b| b == 0).count(), 2, "{dump:?}");
}

#[tokio::test]
async fn port2_resp_bytes() {
    let s = server().await;
    let mut e = NodeEntry::hidden("a", 0xa511);
    e.node_type = wire::NODE_TYPE_NORMAL;
    let (_keep, _) = raw_register(&s, &e).await;
    assert_eq!(
        raw(&s, &[0, 2, 122, b'a']).await,
        vec![119, 0, 0xa5, 0x11, 77, 0, 0, 6, 0, 5, 0, 1, b'a', 0, 0]
    );
    assert_eq!(raw(&s, &[0, 2, 122, b'z']).await, vec![119, 1]);
}

#[tokio::test]
async fn partial_request_byte_by_byte() {
    let s = server().await;
    let bytes = wire::encode_alive2_req(&NodeEntry::hidden("slow", 7)).unwrap();
    let mut c = connect(&s).await;
    for b in &bytes {
        c.write_all(&[*b]).await.unwrap();
        c.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut reply = [0u8; 6];
    tokio::time::timeout(SOON, c.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&reply[..2], &[118, 0]);
    assert_eq!(s.names(), vec![("slow".to_string(), 7)]);
}

#[tokio::test]
async fn garbage_is_dropped_without_reply() {
    let s = server().await;
    // Unknown opcode, zero length, oversize lengths, short ALIVE2, NUL name,
    // bytes beyond the request.
    let cases: Vec<Vec<u8>> = vec![
        vec![0, 1, 42],
        vec![0, 0],
        vec![0xff, 0xff],
        vec![0x0b, 0xf2],
        vec![0, 4, 120, 0, 1, 77],
        vec![0, 15, 120, 0, 9, 77, 0, 0, 6, 0, 5, 0, 2, b'a', 0, 0, 0],
        vec![0, 1, 110, 0],
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ];
    for bytes in cases {
        assert_eq!(raw(&s, &bytes).await, Vec::<u8>::new(), "request {bytes:?}");
    }
    // The largest legal length is accepted and only waits for the body.
    let mut c = connect(&s).await;
    let max = u16::try_from(wire::MAX_REQUEST_LEN).unwrap();
    c.write_all(&max.to_be_bytes()).await.unwrap();
    let mut b = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(200), c.read(&mut b)).await;
    assert!(waited.is_err(), "server must wait for the rest of the body");
    // Still serving.
    assert_eq!(raw(&s, &[0, 1, 110]).await.len(), 4);
}

#[tokio::test]
async fn any_byte_on_the_registration_socket_unregisters() {
    let s = server().await;
    let (mut keep, reply) = raw_register(&s, &NodeEntry::hidden("k", 9)).await;
    assert_eq!(&reply[..2], &[118, 0]);
    assert_eq!(s.names().len(), 1);
    keep.write_all(&[0]).await.unwrap();
    wait_until_names(&s, |n| n.is_empty()).await;
    // And the server closes that socket.
    assert!(read_all(&mut keep).await.is_empty());
    // Closing unregisters too.
    let (keep, _) = raw_register(&s, &NodeEntry::hidden("k", 9)).await;
    assert_eq!(s.names().len(), 1);
    drop(keep);
    wait_until_names(&s, |n| n.is_empty()).await;
}

#[tokio::test]
async fn creation_rules() {
    let s = server().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let e6 = NodeEntry::hidden("cr", 1);
    let (keep, r) = raw_register(&s, &e6).await;
    let c1 = u32::from_be_bytes([r[2], r[3], r[4], r[5]]);
    assert!(
        c1 > now && c1 <= now + 3,
        "seeded with the time: {c1} vs {now}"
    );
    // A live name: result 1, creation 99, in both forms.
    let (_k, dup) = raw_register(&s, &e6).await;
    assert_eq!(dup, vec![118, 1, 0, 0, 0, 99]);
    let mut e5 = e6.clone();
    e5.highest = 5;
    let (_k, dup) = raw_register(&s, &e5).await;
    assert_eq!(dup, vec![121, 1, 0, 99]);
    // Re-registering the name bumps the counter.
    drop(keep);
    wait_until_names(&s, |n| n.is_empty()).await;
    let (keep, r) = raw_register(&s, &e6).await;
    assert_eq!(u32::from_be_bytes([r[2], r[3], r[4], r[5]]), c1 + 1);
    drop(keep);
    wait_until_names(&s, |n| n.is_empty()).await;
    // HighestVersion 5: the 16-bit form, counter % 3 + 1.
    let (keep, r) = raw_register(&s, &e5).await;
    assert_eq!(r[..2], [121, 0]);
    assert_eq!(u16::from_be_bytes([r[2], r[3]]), ((c1 + 2) % 3 + 1) as u16);
    drop(keep);
    // HighestVersion 0 (very old nodes) also gets the 16-bit form.
    let mut e0 = NodeEntry::hidden("old", 1);
    e0.highest = 0;
    let (_keep, r) = raw_register(&s, &e0).await;
    assert_eq!(r[..2], [121, 0]);
}

#[tokio::test]
async fn refused_names_get_result_1() {
    let s = server().await;
    // 256 characters: epmd refuses with Result 1.
    let name = vec![b'e'; 256];
    let mut body = vec![120, 0, 9, 77, 0, 0, 6, 0, 5, 1, 0];
    body.extend_from_slice(&name);
    body.extend_from_slice(&[0, 0]);
    let mut req = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    req.extend_from_slice(&body);
    assert_eq!(raw(&s, &req).await, vec![118, 1, 0, 0, 0, 99]);
    assert!(s.names().is_empty());
}

#[tokio::test]
async fn our_client_reports_refusal() {
    let s = server().await;
    let c = client(&s);
    let _a = c.register_hidden("dup", 1).await.unwrap();
    let e = c.register_hidden("dup", 2).await.unwrap_err();
    assert!(matches!(e, EpmdError::NameRefused { result: 1, .. }), "{e}");
    assert!(
        e.to_string()
            .contains("another node probably uses that name")
    );
}

#[tokio::test]
async fn name_limit() {
    let s = server_with(ServerConfig {
        max_names: 2,
        ..ServerConfig::default()
    })
    .await;
    let c = client(&s);
    let _a = c.register_hidden("a", 1).await.unwrap();
    let _b = c.register_hidden("b", 1).await.unwrap();
    let e = c.register_hidden("c", 1).await.unwrap_err();
    assert!(matches!(e, EpmdError::NameRefused { .. }), "{e}");
    // Lookups still work.
    assert_eq!(c.names("127.0.0.1").await.unwrap().names.len(), 2);
}

#[tokio::test]
async fn connection_limit_and_packet_timeout() {
    let s = server_with(ServerConfig {
        max_connections: 2,
        loopback_reserve: 1,
        packet_timeout: Duration::from_millis(1500),
        ..ServerConfig::default()
    })
    .await;
    // Three idle local connections take the two general slots and the
    // reserve; a fourth is closed at once.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect(&s).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut fourth = connect(&s).await;
    let t = Instant::now();
    assert!(read_all(&mut fourth).await.is_empty());
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "closed at once, not after the packet timeout"
    );
    // The idle ones are dropped after the packet timeout...
    for c in &mut idle {
        assert!(read_all(c).await.is_empty());
    }
    // ...and the server serves again.
    let reg = client(&s).register_hidden("after", 1).await.unwrap();
    assert_eq!(reg.name(), "after");
}

#[tokio::test]
async fn kill_refused_while_names_live_then_accepted() {
    let s = server().await;
    let c = client(&s);
    let reg = c.register_hidden("live", 1).await.unwrap();
    assert_eq!(raw(&s, &[0, 1, 107]).await, b"NO");
    assert_eq!(c.kill("127.0.0.1").await.unwrap(), KillReply::Refused);
    assert!(!s.is_stopped());
    // STOP: no reply without relaxed command check; the name stays.
    assert_eq!(c.stop("127.0.0.1", "live").await.unwrap(), Vec::<u8>::new());
    assert_eq!(s.names().len(), 1);
    drop(reg);
    wait_until_names(&s, |n| n.is_empty()).await;
    assert_eq!(c.kill("127.0.0.1").await.unwrap(), KillReply::Ok);
    tokio::time::timeout(SOON, s.stopped()).await.unwrap();
    let port = s.port();
    s.shutdown().await;
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

#[tokio::test]
async fn shutdown_closes_registrations() {
    let s = server().await;
    let reg = client(&s).register_hidden("gone", 1).await.unwrap();
    let port = s.port();
    s.shutdown().await;
    let why = tokio::time::timeout(SOON, reg.closed()).await.unwrap();
    assert_eq!(why, CloseReason::Eof);
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

#[tokio::test]
async fn drop_stops_the_server() {
    let s = server().await;
    let reg = client(&s).register_hidden("gone2", 1).await.unwrap();
    drop(s);
    let why = tokio::time::timeout(SOON, reg.closed()).await.unwrap();
    assert_eq!(why, CloseReason::Eof);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_starts_once() {
    let port = free_port();
    let first = start_embedded_if_absent(port).await.unwrap();
    let first = first.expect("nothing listened, so we serve");
    assert_eq!(first.port(), port);
    assert!(start_embedded_if_absent(port).await.unwrap().is_none());
    first.shutdown().await;
    // Two starters at once: exactly one serves, the other uses it.
    let port = free_port();
    let (a, b) = tokio::join!(
        start_embedded_if_absent(port),
        start_embedded_if_absent(port)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_some() != b.is_some(), "exactly one binds");
    let reg = EpmdClient::new(port)
        .register_hidden("race", 1)
        .await
        .unwrap();
    assert_eq!(reg.name(), "race");
}

#[tokio::test]
async fn bind_reports_port_in_use() {
    let s = server().await;
    let addr: SocketAddr = format!("127.0.0.1:{}", s.port()).parse().unwrap();
    let e = EpmdServer::bind_with(&[addr], ServerConfig::default())
        .await
        .unwrap_err();
    assert!(e.is_addr_in_use(), "{e}");
    assert!(e.to_string().contains("another EPMD"), "{e}");
}

#[tokio::test]
async fn serves_ipv6_loopback_like_epmd() {
    // `bind` listens on IPv4 and, as epmd does, IPv6 (this host has ::1).
    let s = EpmdServer::bind(0).await.unwrap();
    assert!(
        s.local_addrs().iter().any(|a| a.is_ipv6()),
        "{:?}",
        s.local_addrs()
    );
    let c = EpmdClient::new(s.port()).with_register_ip("::1".parse().unwrap());
    let reg = c.register_hidden("six", 66).await.unwrap();
    assert_eq!(reg.epmd_addr().to_string(), format!("[::1]:{}", s.port()));
    let names = c.names("::1").await.unwrap();
    assert_eq!(names.names, vec![("six".to_string(), 66)]);
    let e = c.port_please("127.0.0.1", "six").await.unwrap().unwrap();
    assert_eq!(e.port, 66);
}
