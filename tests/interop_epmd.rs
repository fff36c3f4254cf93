//! EPMD interop against real OTP: our client with real `epmd` and `erl`,
//! real `erl` nodes and the real `epmd` CLI with our embedded server, the
//! same raw requests answered byte for byte alike, and the `erlnode names` /
//! `erlnode epmd` commands.
mod common;
use common::*;

use erlnode::epmd::wire::{self, NodeEntry};
use erlnode::epmd::{CloseReason, EpmdClient, EpmdServer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Deadline for anything that should happen promptly.
const SOON: Duration = Duration::from_secs(10);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Our embedded server on a private port, served by `rt`'s threads.
fn our_epmd(rt: &tokio::runtime::Runtime) -> EpmdServer {
    let port = free_port();
    rt.block_on(EpmdServer::bind(port)).unwrap()
}

/// Runs the real `epmd` CLI against port `port`: (exit code, stdout, stderr).
fn epmd_cli(port: u16, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("epmd")
        .arg("-port")
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run epmd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sends raw bytes to 127.0.0.1:`port` and reads the reply until EOF, or
/// until `SOON` for a connection the server keeps (ALIVE2).
fn raw(port: u16, bytes: &[u8]) -> Vec<u8> {
    let (_s, out) = raw_keep(port, bytes, None);
    out
}

/// As [`raw`]; with `Some(n)` stops after `n` bytes and returns the socket
/// still open (a registration).
fn raw_keep(port: u16, bytes: &[u8], n: Option<usize>) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(SOON)).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    match n {
        Some(n) => {
            out.resize(n, 0);
            s.read_exact(&mut out).unwrap();
        }
        None => {
            s.read_to_end(&mut out).unwrap();
        }
    }
    (s, out)
}

fn alive2(name: &str, port: u16, highest: u16) -> Vec<u8> {
    let mut e = NodeEntry::hidden(name, port);
    e.node_type = wire::NODE_TYPE_NORMAL;
    e.highest = highest;
    wire::encode_alive2_req(&e).unwrap()
}

fn names_contain(port: u16, line: &str) -> bool {
    let (code, out, _) = epmd_cli(port, &["-names"]);
    code == 0 && out.lines().any(|l| l == line)
}

#[test]
fn our_client_registers_with_real_epmd() {
    let epmd = Epmd::start();
    let rt = runtime();
    let name = unique("rc");
    let client = EpmdClient::new(epmd.port);
    let reg = rt.block_on(client.register_hidden(&name, 5555)).unwrap();
    assert!(reg.creation() >= 4, "creation {}", reg.creation());
    assert_eq!(reg.form(), wire::Alive2Form::Extended);
    let line = format!("name {name} at port 5555");
    assert!(names_contain(epmd.port, &line));
    // Real epmd echoes what we registered.
    let e = rt
        .block_on(client.port_please("127.0.0.1", &name))
        .unwrap()
        .unwrap();
    assert_eq!(e, NodeEntry::hidden(&name, 5555));
    // Re-registering after a drop: the name leaves, then comes back with
    // creation + 1.
    let first = reg.creation();
    drop(reg);
    wait_until("name to leave real epmd", SOON, || {
        !names_contain(epmd.port, &line)
    });
    let reg = rt.block_on(client.register_hidden(&name, 5555)).unwrap();
    assert_eq!(reg.creation(), first + 1);
    // Our held registration notices when epmd goes away.
    let mut epmd = epmd;
    epmd.kill();
    let why = rt
        .block_on(async { tokio::time::timeout(SOON, reg.closed()).await })
        .unwrap();
    assert!(matches!(why, CloseReason::Eof | CloseReason::Error(_)));
}

#[test]
fn our_client_finds_a_real_erl_node() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let mut erl = Erl::start(ErlOpts::new("pp", &cookie, epmd.port));
    let alive = erl.node.split('@').next().unwrap().to_string();
    let rt = runtime();
    let client = EpmdClient::new(epmd.port);
    let e = rt
        .block_on(client.port_please("127.0.0.1", &alive))
        .unwrap()
        .expect("erl is registered");
    // OTP 25 registers type 77, protocol 0, versions 6 and 5.
    assert_eq!(
        (e.node_type, e.protocol, e.highest, e.lowest),
        (77, 0, 6, 5)
    );
    let theirs = erl.eval_ok(&format!(
        "element(2, erl_epmd:port_please(\"{alive}\", \"127.0.0.1\"))"
    ));
    assert_eq!(theirs, e.port.to_string());
    let names = rt.block_on(client.names("127.0.0.1")).unwrap();
    assert!(names.names.contains(&(alive.clone(), e.port)));
    assert_eq!(names.epmd_port, u32::from(epmd.port));
    assert_eq!(
        rt.block_on(client.port_please("127.0.0.1", "nobody_here"))
            .unwrap(),
        None
    );
}

#[test]
fn real_erl_nodes_meet_through_our_epmd() {
    let rt = runtime();
    let server = our_epmd(&rt);
    let port = server.port();
    let cookie = unique_cookie();
    let mut a = Erl::start(ErlOpts::new("ea", &cookie, port));
    let mut b = Erl::start(ErlOpts::new("eb", &cookie, port));
    assert_eq!(a.eval_ok(&format!("net_adm:ping('{}')", b.node)), "pong");
    assert_eq!(b.eval_ok(&format!("net_adm:ping('{}')", a.node)), "pong");
    let alive_a = a.node.split('@').next().unwrap().to_string();
    let alive_b = b.node.split('@').next().unwrap().to_string();
    let names: Vec<String> = server.names().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.contains(&alive_a) && names.contains(&alive_b),
        "{names:?}"
    );
    // erl's own EPMD client reads our NAMES reply.
    let listed = a.eval_ok("element(2, net_adm:names())");
    assert!(listed.contains(&format!("{{\"{alive_b}\",")), "{listed}");
    // The real CLI reads us too (it connects over ::1 first).
    let (code, out, _) = epmd_cli(port, &["-names"]);
    assert_eq!(code, 0);
    assert!(out.starts_with(&format!("epmd: up and running on port {port} with data:\n")));
    assert!(out.contains(&format!("name {alive_a} at port ")), "{out}");
    // erl's creation is the one we handed out: a 32-bit value >= 4.
    let creation: u64 = a.eval_ok("erlang:system_info(creation)").parse().unwrap();
    assert!(creation >= 4);
    // A node that stops leaves our EPMD.
    drop(b);
    wait_until("erl b to unregister", SOON, || {
        !server.names().iter().any(|(n, _)| *n == alive_b)
    });
}

#[test]
fn real_epmd_cli_gets_the_same_answers_from_us() {
    let real = Epmd::start();
    let rt = runtime();
    let ours = our_epmd(&rt);
    for port in [real.port, ours.port()] {
        let who = if port == real.port { "real" } else { "ours" };
        let client = EpmdClient::new(port);
        let reg = rt
            .block_on(client.register_hidden("clitest", 4321))
            .unwrap();
        let (code, out, err) = epmd_cli(port, &["-names"]);
        assert_eq!(code, 0, "{who}: {err}");
        assert_eq!(
            out,
            format!("epmd: up and running on port {port} with data:\nname clitest at port 4321\n"),
            "{who}"
        );
        // KILL while a name lives: refused with "NO".
        let (code, out, _) = epmd_cli(port, &["-kill"]);
        assert_eq!(
            (code, out.as_str()),
            (1, "Killing not allowed - living nodes in database.\n"),
            "{who}"
        );
        // STOP without relaxed command check: no reply.
        let (code, out, _) = epmd_cli(port, &["-stop", "clitest"]);
        assert_eq!(
            (code, out.as_str()),
            (1, "epmd: local epmd responded with <>\n"),
            "{who}"
        );
        assert!(names_contain(port, "name clitest at port 4321"), "{who}");
        drop(reg);
        wait_until("name to leave", SOON, || {
            !names_contain(port, "name clitest at port 4321")
        });
        // KILL with no live names: accepted, and the EPMD exits.
        let (code, out, _) = epmd_cli(port, &["-kill"]);
        assert_eq!((code, out.as_str()), (0, "Killed\n"), "{who}");
        wait_until("EPMD to stop listening", SOON, || !port_open(port));
    }
    assert!(ours.is_stopped());
}

#[test]
fn same_raw_replies_as_real_epmd() {
    let real = Epmd::start();
    let rt = runtime();
    let ours = our_epmd(&rt);
    let name256 = "e".repeat(256);
    // Requests whose replies must be identical byte for byte (after the
    // registration of "x" below).
    let exact: Vec<(&str, Vec<u8>)> = vec![
        ("PORT_PLEASE2 x", vec![0, 2, 122, b'x']),
        ("PORT_PLEASE2 x with NUL", vec![0, 3, 122, b'x', 0]),
        ("PORT_PLEASE2 unknown", vec![0, 2, 122, b'q']),
        ("PORT_PLEASE2 NUL inside", vec![0, 4, 122, b'x', 0, b'y']),
        ("PORT_PLEASE2 empty", vec![0, 1, 122]),
        ("unknown opcode", vec![0, 1, 42]),
        ("zero length", vec![0, 0]),
        ("oversize length", vec![0x0b, 0xf2]),
        ("STOP", vec![0, 3, 115, b'x', 0]),
        ("KILL with live names", vec![0, 1, 107]),
        ("ALIVE2 empty name", alive2_raw_empty()),
        ("ALIVE2 v6 duplicate", alive2("x", 1234, 6)),
        ("ALIVE2 v5 duplicate", alive2("x", 1234, 5)),
        ("ALIVE2 256-char name", alive2_raw(&name256)),
        ("bytes beyond the request", vec![0, 1, 110, 0]),
    ];
    let mut answers = Vec::new();
    for port in [real.port, ours.port()] {
        let (keep, r) = raw_keep(port, &alive2("x", 1234, 6), Some(6));
        assert_eq!(r[..2], [118, 0]);
        let mut got = Vec::new();
        for (what, req) in &exact {
            // Registrations that succeed or fail keep or close the socket;
            // read just the reply for those.
            let reply = if req.get(2) == Some(&120) && what.contains("duplicate") {
                let n = if what.contains("v5") { 4 } else { 6 };
                raw_keep(port, req, Some(n)).1
            } else if what.contains("256") {
                raw_keep(port, req, Some(6)).1
            } else {
                raw(port, req)
            };
            got.push(reply);
        }
        // NAMES: identical after the port header.
        let names = raw(port, &[0, 1, 110]);
        assert_eq!(names[..4], u32::from(port).to_be_bytes());
        got.push(names[4..].to_vec());
        // DUMP: same names and ports (fds differ).
        let dump = wire::parse_dump_reply(&raw(port, &[0, 1, 100])).unwrap();
        let lines: Vec<(String, u16)> = dump
            .active
            .iter()
            .map(|e| (e.name.clone(), e.port))
            .collect();
        got.push(format!("{lines:?}").into_bytes());
        drop(keep);
        answers.push(got);
    }
    let labels = exact.iter().map(|(w, _)| *w).chain(["NAMES", "DUMP"]);
    for ((what, real_reply), our_reply) in labels.zip(&answers[0]).zip(&answers[1]) {
        assert_eq!(real_reply, our_reply, "{what}: real epmd vs ours");
    }
    // Spot checks of the shared answers.
    assert_eq!(
        answers[0][0],
        vec![119, 0, 4, 210, 77, 0, 0, 6, 0, 5, 0, 1, b'x', 0, 0]
    );
    assert_eq!(answers[0][2], vec![119, 1]);
    assert_eq!(answers[0][9], b"NO".to_vec());
    assert_eq!(answers[0][11], vec![118, 1, 0, 0, 0, 99]);
    assert_eq!(answers[0][12], vec![121, 1, 0, 99]);
}

fn alive2_raw(name: &str) -> Vec<u8> {
    let n = name.as_bytes();
    let mut body = vec![120, 0, 9, 77, 0, 0, 6, 0, 5];
    body.extend_from_slice(&u16::try_from(n.len()).unwrap().to_be_bytes());
    body.extend_from_slice(n);
    body.extend_from_slice(&[0, 0]);
    let mut out = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

fn alive2_raw_empty() -> Vec<u8> {
    alive2_raw("")
}

#[test]
fn same_creation_rules_as_real_epmd() {
    let real = Epmd::start();
    let rt = runtime();
    let ours = our_epmd(&rt);
    let mut seen = Vec::new();
    for port in [real.port, ours.port()] {
        let (keep, r) = raw_keep(port, &alive2("c", 1, 6), Some(6));
        let c1 = u32::from_be_bytes([r[2], r[3], r[4], r[5]]);
        drop(keep);
        wait_until("c to unregister", SOON, || {
            !names_contain(port, "name c at port 1")
        });
        let (keep, r) = raw_keep(port, &alive2("c", 1, 6), Some(6));
        let c2 = u32::from_be_bytes([r[2], r[3], r[4], r[5]]);
        drop(keep);
        wait_until("c to unregister", SOON, || {
            !names_contain(port, "name c at port 1")
        });
        let (_keep, r) = raw_keep(port, &alive2("c", 1, 5), Some(4));
        assert_eq!(r[..2], [121, 0]);
        let c3 = u32::from(u16::from_be_bytes([r[2], r[3]]));
        assert_eq!(c2, c1 + 1, "port {port}");
        assert_eq!(c3, (c1 + 2) % 3 + 1, "port {port}");
        seen.push(c1);
    }
    // Both seeded with the time (the two tests ran within seconds).
    assert!(seen[0].abs_diff(seen[1]) < 60, "{seen:?}");
}

#[test]
fn erlnode_names_matches_epmd_names() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let _erl = Erl::start(ErlOpts::new("nm", &cookie, epmd.port));
    let (code, out, err) = epmd_cli(epmd.port, &["-names"]);
    let (our_code, our_out, our_err) = erlnode_cmd(&["names"], epmd.port);
    assert_eq!(code, 0);
    assert_eq!(
        (our_code, our_out.as_str()),
        (code, out.as_str()),
        "stderr: {our_err} / {err}"
    );
    // With an explicit host.
    let (c2, out2, _) = erlnode_cmd(&["names", "127.0.0.1"], epmd.port);
    assert_eq!((c2, out2.as_str()), (0, out.as_str()));
    // Nothing listening: same message, same exit code.
    let none = free_port();
    let (code, out, err) = epmd_cli(none, &["-names"]);
    let (our_code, our_out, our_err) = erlnode_cmd(&["names"], none);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "", "epmd: Cannot connect to local epmd\n")
    );
    assert_eq!((our_code, our_out.as_str()), (code, out.as_str()));
    assert!(our_err.ends_with(&err), "{our_err:?}");
}

/// A running `erlnode epmd`, killed on drop.
struct ErlnodeEpmd(std::process::Child);

impl ErlnodeEpmd {
    fn start(args: &[&str], env_port: u16) -> ErlnodeEpmd {
        let child = Command::new(erlnode_bin())
            .arg("epmd")
            .args(args)
            .env("ERL_EPMD_PORT", env_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run erlnode epmd");
        ErlnodeEpmd(child)
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.0.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut status = None;
        wait_until("erlnode epmd to exit", SOON, || {
            status = self.0.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap()
    }
}

impl Drop for ErlnodeEpmd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn erlnode_epmd_serves_erl_and_exits_on_sigterm() {
    let port = free_port();
    let mut server = ErlnodeEpmd::start(&["--port", &port.to_string()], 1);
    wait_until("erlnode epmd to listen", SOON, || port_open(port));
    let cookie = unique_cookie();
    let erl = Erl::start(ErlOpts::new("bin", &cookie, port));
    let alive = erl.node.split('@').next().unwrap().to_string();
    let (code, out, _) = epmd_cli(port, &["-names"]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("name {alive} at port ")), "{out}");
    server.signal("TERM");
    assert!(server.wait_exit().success());
    assert!(!port_open(port));
}

#[test]
fn erlnode_epmd_uses_erl_epmd_port_and_exits_on_sigint() {
    let port = free_port();
    let mut server = ErlnodeEpmd::start(&[], port);
    wait_until("erlnode epmd to listen", SOON, || port_open(port));
    let (code, out, _) = epmd_cli(port, &["-names"]);
    assert_eq!(
        (code, out),
        (
            0,
            format!("epmd: up and running on port {port} with data:\n")
        )
    );
    server.signal("INT");
    assert!(server.wait_exit().success());
}

#[test]
fn erlnode_epmd_exits_when_killed_like_epmd() {
    let port = free_port();
    let mut server = ErlnodeEpmd::start(&["--port", &port.to_string()], 1);
    wait_until("erlnode epmd to listen", SOON, || port_open(port));
    let (code, out, _) = epmd_cli(port, &["-kill"]);
    assert_eq!((code, out.as_str()), (0, "Killed\n"));
    assert!(server.wait_exit().success());
}
