//! Tier 3: the handshake against a real `erl` (OTP 25), both roles.
//!
//! erl runs with a fixed distribution port, so our initiator dials it without
//! asking EPMD. For erl to dial us, a tiny test-local ALIVE2 registers our
//! listener in the private `epmd` the harness starts.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use erlnode::cookie::Cookie;
use erlnode::handshake::{
    AcceptorConfig, DistFlags, Established, HandshakeError, HandshakeOptions, InitiatorConfig,
    PeerName, Status, accept, connect, connect_with,
};
use erlnode::name::NodeName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long our side waits for erl to finish a handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(20);

/// A creation for our node (any value ≥ 4 when not taken from EPMD).
const OUR_CREATION: u32 = 0x0C0F_FEE5;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Starts erl listening for distribution on a fixed port; returns it and the port.
fn erl_on_fixed_port(prefix: &str, cookie: &str, epmd: &Epmd) -> (Erl, u16) {
    let port = free_port();
    let p = port.to_string();
    let erl = Erl::start(ErlOpts::new(prefix, cookie, epmd.port).args(&[
        "-kernel",
        "inet_dist_listen_min",
        &p,
        "inet_dist_listen_max",
        &p,
    ]));
    (erl, port)
}

fn our_name(prefix: &str) -> NodeName {
    NodeName::new(&unique(prefix), &short_host()).unwrap()
}

/// Dials erl's distribution port and runs our initiator.
async fn dial(port: u16, cfg: InitiatorConfig) -> (Result<Established, HandshakeError>, TcpStream) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let r = tokio::time::timeout(
        HANDSHAKE_DEADLINE,
        connect(&mut s, cfg, &HandshakeOptions::tcp()),
    )
    .await
    .expect("handshake finished in time")
    .map(|(e, _)| e);
    (r, s)
}

fn erl_hidden_nodes_contain(erl: &mut Erl, node: &NodeName) -> bool {
    erl.eval_ok(&format!("lists:member('{node}', nodes(hidden))")) == "true"
}

fn erl_visible_nodes_contain(erl: &mut Erl, node: &NodeName) -> bool {
    erl.eval_ok(&format!("lists:member('{node}', nodes())")) == "true"
}

#[test]
fn we_dial_erl_and_the_connection_stays() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let (mut erl, port) = erl_on_fixed_port("hsa", &cookie, &epmd);
    let me = our_name("rusta");
    let peer = NodeName::parse(&erl.node).unwrap();
    let cfg = InitiatorConfig::new(
        me.clone(),
        OUR_CREATION,
        peer.clone(),
        Cookie::new(&cookie).unwrap(),
    );
    let rt = rt();
    let (res, mut stream) = rt.block_on(dial(port, cfg));
    let est = res.expect("handshake with erl");
    assert_eq!(est.peer_name, peer);
    assert_eq!(est.our_name, me);
    assert_eq!(est.our_creation, OUR_CREATION);
    assert!(est.hidden, "we do not set PUBLISHED");
    assert!(
        est.peer_flags.contains(DistFlags::PUBLISHED),
        "erl is a normal node"
    );
    assert!(est.peer_flags.contains(DistFlags::MANDATORY_26));
    assert_eq!(
        est.negotiated_flags,
        DistFlags::RECOMMENDED_HIDDEN & est.peer_flags
    );
    assert!(est.peer_creation >= 4);
    // A tick in 4-byte framing right after the handshake; erl keeps us.
    rt.block_on(stream.write_all(&[0, 0, 0, 0])).unwrap();
    assert!(erl_hidden_nodes_contain(&mut erl, &me));
    assert!(!erl_visible_nodes_contain(&mut erl, &me));
    let ty = erl.eval_ok(&format!(
        "{{ok, I}} = net_kernel:node_info('{me}'), proplists:get_value(type, I)"
    ));
    assert_eq!(ty, "hidden");
    drop(stream);
    wait_until("erl to see us go", Duration::from_secs(10), || {
        !erl_hidden_nodes_contain(&mut erl, &me)
    });
}

#[test]
fn wrong_cookie_is_rejected_by_erl() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let (erl, port) = erl_on_fixed_port("hsb", &cookie, &epmd);
    let me = our_name("rustb");
    let cfg = InitiatorConfig::new(
        me.clone(),
        OUR_CREATION,
        NodeName::parse(&erl.node).unwrap(),
        Cookie::new("definitely_not_the_cookie").unwrap(),
    );
    let (res, _s) = rt().block_on(dial(port, cfg));
    let e = res.expect_err("wrong cookie must fail");
    assert!(e.is_cookie_mismatch(), "{e}");
    assert!(matches!(e, HandshakeError::CookieRejected { .. }), "{e}");
    assert!(!e.to_string().contains("definitely_not_the_cookie"));
    wait_until("erl to log the rejection", Duration::from_secs(10), || {
        erl.log_contains("Invalid challenge reply") && erl.log_contains(me.as_str())
    });
}

#[test]
fn missing_mandatory_flags_get_not_allowed_from_erl() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let (erl, port) = erl_on_fixed_port("hsd", &cookie, &epmd);
    let mut cfg = InitiatorConfig::new(
        our_name("rustd"),
        OUR_CREATION,
        NodeName::parse(&erl.node).unwrap(),
        Cookie::new(&cookie).unwrap(),
    );
    cfg.flags = DistFlags::RECOMMENDED_HIDDEN
        .difference(DistFlags::MANDATORY_25_DIGEST | DistFlags::EXTENDED_REFERENCES);
    let (res, _s) = rt().block_on(dial(port, cfg));
    let e = res.expect_err("erl must refuse");
    assert!(matches!(e, HandshakeError::NotAllowed { .. }), "{e}");
    wait_until(
        "erl to log the missing flag",
        Duration::from_secs(10),
        || erl.log_contains("EXTENDED_REFERENCES"),
    );
}

#[test]
fn name_mismatch_is_detected_against_erl() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let (erl, port) = erl_on_fixed_port("hsm", &cookie, &epmd);
    // Dial erl's port under another name than the one it has.
    let wrong = NodeName::new("someone_else", &short_host()).unwrap();
    let cfg = InitiatorConfig::new(
        our_name("rustm"),
        OUR_CREATION,
        wrong.clone(),
        Cookie::new(&cookie).unwrap(),
    );
    let (res, _s) = rt().block_on(dial(port, cfg));
    match res {
        Err(HandshakeError::NameMismatch { dialled, answered }) => {
            assert_eq!(dialled, wrong);
            assert_eq!(answered, erl.node);
        }
        other => panic!("expected NameMismatch, got {other:?}"),
    }
}

#[test]
fn dynamic_name_is_assigned_by_erl() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let (mut erl, port) = erl_on_fixed_port("hsn", &cookie, &epmd);
    let host = short_host();
    let cfg = InitiatorConfig::dynamic(
        &host,
        NodeName::parse(&erl.node).unwrap(),
        Cookie::new(&cookie).unwrap(),
    );
    let rt = rt();
    let (res, stream) = rt.block_on(dial(port, cfg));
    let est = res.expect("NAME_ME handshake");
    assert_eq!(est.our_name.host(), host);
    assert!(est.our_creation != 0);
    assert!(erl_hidden_nodes_contain(&mut erl, &est.our_name));
    drop(stream);
}

#[test]
fn reconnect_while_up_gets_alive_and_replaces_the_old_connection() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let (mut erl, port) = erl_on_fixed_port("hsl", &cookie, &epmd);
    let me = our_name("rustl");
    let peer = NodeName::parse(&erl.node).unwrap();
    let cfg = InitiatorConfig::new(
        me.clone(),
        OUR_CREATION,
        peer.clone(),
        Cookie::new(&cookie).unwrap(),
    );
    let rt = rt();
    let (res, mut old) = rt.block_on(dial(port, cfg.clone()));
    res.expect("first handshake");
    assert!(erl_hidden_nodes_contain(&mut erl, &me));
    // Same name again while the first connection is up: erl answers alive.
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = asked.clone();
    let (res, _new) = rt.block_on(async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let r = tokio::time::timeout(
            HANDSHAKE_DEADLINE,
            connect_with(&mut s, cfg, &HandshakeOptions::tcp(), move |_| {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                async { true }
            }),
        )
        .await
        .expect("second handshake finished in time");
        (r, s)
    });
    res.expect("second handshake");
    assert!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        "erl did not answer alive"
    );
    // erl dropped the old connection.
    let eof = rt.block_on(async {
        let mut b = [0u8; 64];
        tokio::time::timeout(HANDSHAKE_DEADLINE, async {
            loop {
                match old.read(&mut b).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => continue,
                }
            }
        })
        .await
        .unwrap_or(false)
    });
    assert!(eof, "the old connection was not closed by erl");
    assert!(erl_hidden_nodes_contain(&mut erl, &me));
}

/// Registers `alive` at `port` in the EPMD on `epmd_port` (ALIVE2_REQ, as a
/// hidden node, versions 5..6). Returns the creation and the socket, which must
/// stay open for the registration to live.
fn alive2(epmd_port: u16, alive: &str, port: u16) -> (u32, std::net::TcpStream) {
    let mut body = vec![120u8];
    body.extend_from_slice(&port.to_be_bytes());
    body.extend_from_slice(&[72, 0, 0, 6, 0, 5]);
    body.extend_from_slice(&(alive.len() as u16).to_be_bytes());
    body.extend_from_slice(alive.as_bytes());
    body.extend_from_slice(&[0, 0]);
    let mut req = (body.len() as u16).to_be_bytes().to_vec();
    req.extend_from_slice(&body);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", epmd_port)).unwrap();
    s.write_all(&req).unwrap();
    let mut resp = [0u8; 6];
    s.read_exact(&mut resp).unwrap();
    assert_eq!(resp[0], 118, "ALIVE2_X_RESP");
    assert_eq!(resp[1], 0, "registration refused");
    (u32::from_be_bytes([resp[2], resp[3], resp[4], resp[5]]), s)
}

#[test]
fn erl_dials_us() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let mut erl = Erl::start(ErlOpts::new("hsc", &cookie, epmd.port));
    let me = our_name("rustc");
    let rt = rt();
    let listener = rt.block_on(TcpListener::bind(("0.0.0.0", 0))).unwrap();
    let lport = listener.local_addr().unwrap().port();
    let (creation, _reg) = alive2(epmd.port, me.alive(), lport);
    assert!(creation >= 4);
    // ping blocks in erl until our node answers is_auth, so run it in a process.
    erl.eval_ok(&format!(
        "Self = self(), spawn(fun() -> Self ! {{ping, net_adm:ping('{me}')}} end)"
    ));
    let mut cfg = AcceptorConfig::new(me.clone(), creation, Cookie::new(&cookie).unwrap());
    // This test reads erl's packets raw, in the pass-through form: advertise
    // neither distribution-header flag.
    cfg.flags = DistFlags::RECOMMENDED_HIDDEN
        .difference(DistFlags::DIST_HDR_ATOM_CACHE | DistFlags::FRAGMENTS);
    let erl_name = NodeName::parse(&erl.node).unwrap();
    let (est, mut stream, leftover) = rt.block_on(async {
        let (mut s, _) = tokio::time::timeout(HANDSHAKE_DEADLINE, listener.accept())
            .await
            .expect("erl connected")
            .unwrap();
        let seen = erl_name.clone();
        let (est, left) = tokio::time::timeout(
            HANDSHAKE_DEADLINE,
            accept(&mut s, cfg, &HandshakeOptions::tcp(), move |p| {
                let ok = p.name == PeerName::Node(seen.clone()) && p.creation.is_some();
                async move { if ok { Status::Ok } else { Status::NotAllowed } }
            }),
        )
        .await
        .expect("handshake finished in time")
        .expect("handshake with erl");
        (est, s, left)
    });
    assert_eq!(est.peer_name, erl_name);
    assert_eq!(est.our_name, me);
    assert_eq!(est.our_creation, creation);
    assert!(est.hidden);
    assert!(est.peer_flags.contains(DistFlags::PUBLISHED));
    assert!(
        !est.negotiated_flags
            .contains(DistFlags::DIST_HDR_ATOM_CACHE)
    );
    // Packets after the handshake: net_adm:ping monitors {net_kernel, Us} and
    // sends it the is_auth call, each a 4-byte-framed pass-through (112)
    // message, since we negotiated neither the atom cache nor fragments.
    let packets = rt.block_on(async {
        let mut buf = leftover.to_vec();
        let mut packets: Vec<Vec<u8>> = Vec::new();
        tokio::time::timeout(HANDSHAKE_DEADLINE, async {
            loop {
                while buf.len() >= 4 {
                    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                    if buf.len() < 4 + len {
                        break;
                    }
                    let p: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
                    if !p.is_empty() {
                        packets.push(p);
                    }
                }
                if packets
                    .iter()
                    .any(|p| p.windows(7).any(|w| w == b"is_auth"))
                {
                    return;
                }
                let mut b = [0u8; 4096];
                let n = stream.read(&mut b).await.unwrap();
                assert!(n > 0, "erl closed the connection");
                buf.extend_from_slice(&b[..n]);
            }
        })
        .await
        .expect("the is_auth call from erl");
        packets
    });
    assert!(
        packets.iter().all(|p| p[0] == 112),
        "pass-through messages only"
    );
    assert!(erl_hidden_nodes_contain(&mut erl, &me));
    assert!(!erl_visible_nodes_contain(&mut erl, &me));
}

#[test]
fn erl_dials_us_with_a_wrong_cookie() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let mut erl = Erl::start(ErlOpts::new("hse", &cookie, epmd.port));
    let me = our_name("ruste");
    let rt = rt();
    let listener = rt.block_on(TcpListener::bind(("0.0.0.0", 0))).unwrap();
    let lport = listener.local_addr().unwrap().port();
    let (creation, _reg) = alive2(epmd.port, me.alive(), lport);
    erl.eval_ok(&format!(
        "Self = self(), spawn(fun() -> Self ! {{ping, net_adm:ping('{me}')}} end)"
    ));
    let cfg = AcceptorConfig::new(
        me.clone(),
        creation,
        Cookie::new("not_erls_cookie").unwrap(),
    );
    let res = rt.block_on(async {
        let (mut s, _) = tokio::time::timeout(HANDSHAKE_DEADLINE, listener.accept())
            .await
            .expect("erl connected")
            .unwrap();
        let r = tokio::time::timeout(
            HANDSHAKE_DEADLINE,
            accept(&mut s, cfg, &HandshakeOptions::tcp(), |_| async {
                Status::Ok
            }),
        )
        .await
        .expect("handshake finished in time");
        drop(s);
        r
    });
    match res {
        Err(HandshakeError::InvalidChallengeReply { peer }) => {
            assert_eq!(peer.as_str(), erl.node)
        }
        other => panic!("expected InvalidChallengeReply, got {other:?}"),
    }
    assert_eq!(erl.eval_ok("erlnode_ctl:recv(10000)"), "{ping,pang}");
}

/// Simultaneous connect (PROTOCOL.md §2.2, §7 item 20): erl's attempt to us is
/// pending (we hold its socket after its send_name) when we dial erl. erl
/// compares names as atoms: the greater name's attempt wins.
type Simultaneous = (
    Result<Established, HandshakeError>,
    Erl,
    NodeName,
    TcpStream,
    tokio::runtime::Runtime,
);

fn simultaneous(our_prefix: &str) -> Simultaneous {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let (mut erl, port) = erl_on_fixed_port("hsf", &cookie, &epmd);
    let me = our_name(our_prefix);
    let rt = rt();
    let listener = rt.block_on(TcpListener::bind(("0.0.0.0", 0))).unwrap();
    let lport = listener.local_addr().unwrap().port();
    let (creation, _reg) = alive2(epmd.port, me.alive(), lport);
    erl.eval_ok(&format!(
        "Self = self(), spawn(fun() -> Self ! {{ping, net_adm:ping('{me}')}} end)"
    ));
    let cfg = InitiatorConfig::new(
        me.clone(),
        creation,
        NodeName::parse(&erl.node).unwrap(),
        Cookie::new(&cookie).unwrap(),
    );
    let res = rt.block_on(async {
        // erl's own attempt: accept it and read its send_name, then hold it.
        let (mut pending, _) = tokio::time::timeout(HANDSHAKE_DEADLINE, listener.accept())
            .await
            .expect("erl connected")
            .unwrap();
        let mut h = [0u8; 2];
        pending.read_exact(&mut h).await.unwrap();
        let mut m = vec![0u8; usize::from(u16::from_be_bytes(h))];
        pending.read_exact(&mut m).await.unwrap();
        assert_eq!(m[0], b'N');
        let (r, s) = dial(port, cfg).await;
        if r.is_ok() {
            // We won: erl must have dropped its own attempt.
            let mut b = [0u8; 16];
            let closed = tokio::time::timeout(HANDSHAKE_DEADLINE, pending.read(&mut b)).await;
            assert!(
                matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
                "erl should have dropped its own attempt"
            );
        }
        (r, s)
    });
    let (res, stream) = res;
    (res, erl, me, stream, rt)
}

#[test]
fn simultaneous_connect_erl_wins_with_the_greater_name() {
    // "aaa_..." < "hsf_...": erl's attempt wins and it answers nok.
    let (res, _erl, _me, _s, _rt) = simultaneous("aaa");
    assert!(matches!(res, Err(HandshakeError::Nok { .. })), "{res:?}");
}

#[test]
fn simultaneous_connect_we_win_with_the_greater_name() {
    // "zzz_..." > "hsf_...": erl drops its attempt and answers ok_simultaneous.
    let (res, mut erl, me, _stream, _rt) = simultaneous("zzz");
    let est = res.expect("our attempt wins");
    assert_eq!(est.our_name, me);
    // One connection, ours, is up.
    assert!(erl_hidden_nodes_contain(&mut erl, &me));
}

/// Runs `erl -sname` with only `HOME`/`XDG_CONFIG_HOME` deciding the cookie,
/// prints `erlang:get_cookie()` and halts. Returns everything it printed.
fn erl_cookie_probe(epmd: &Epmd, home: &std::path::Path, xdg: Option<&std::path::Path>) -> String {
    let mut cmd = std::process::Command::new("erl");
    cmd.args([
        "-sname",
        &unique("cprobe"),
        "-noshell",
        "-start_epmd",
        "false",
    ])
    .args([
        "-eval",
        "io:format(\"COOKIE=~s~n\", [erlang:get_cookie()]), halt().",
    ])
    .env("HOME", home)
    .env("ERL_EPMD_PORT", epmd.port.to_string())
    .env("ERL_CRASH_DUMP_SECONDS", "0")
    .env_remove("XDG_CONFIG_HOME")
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    if let Some(x) = xdg {
        cmd.env("XDG_CONFIG_HOME", x);
    }
    let mut child = cmd.spawn().expect("run erl");
    let deadline = std::time::Instant::now() + ERL_BOOT_DEADLINE;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("erl cookie probe did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn temp_home(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(unique(tag));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn cookie_files_agree_with_erl() {
    use erlnode::cookie::{CookieLocations, CookieSource, resolve_cookie};
    use std::os::unix::fs::PermissionsExt;
    let epmd = Epmd::start();

    // 1. A cookie file we create is read by erl as the same cookie.
    let home = temp_home("ckhome");
    let loc = CookieLocations {
        home: Some(home.clone()),
        xdg_config_home: None,
    };
    let (ours, src) = resolve_cookie(None, &loc).unwrap();
    assert!(matches!(src, CookieSource::Created(_)));
    let out = erl_cookie_probe(&epmd, &home, None);
    let want = format!("COOKIE={}", String::from_utf8_lossy(ours.expose()));
    assert!(out.contains(&want), "erl printed: {out}");

    // 2. A cookie file erl creates is read by us, with erl's mode 0400.
    let home2 = temp_home("ckhome2");
    let out = erl_cookie_probe(&epmd, &home2, None);
    let f = home2.join(".erlang.cookie");
    let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o400);
    let (theirs, _) = resolve_cookie(
        None,
        &CookieLocations {
            home: Some(home2.clone()),
            xdg_config_home: None,
        },
    )
    .unwrap();
    assert_eq!(theirs.len(), 20);
    assert!(out.contains(&format!(
        "COOKIE={}",
        String::from_utf8_lossy(theirs.expose())
    )));

    // 3. The XDG file is used when HOME has none, by both.
    let home3 = temp_home("ckhome3");
    let xdg = temp_home("ckxdg");
    std::fs::create_dir_all(xdg.join("erlang")).unwrap();
    let xf = xdg.join("erlang/.erlang.cookie");
    std::fs::write(&xf, b"XDGSHAREDCOOKIE\n").unwrap();
    std::fs::set_permissions(&xf, std::fs::Permissions::from_mode(0o400)).unwrap();
    let out = erl_cookie_probe(&epmd, &home3, Some(&xdg));
    assert!(out.contains("COOKIE=XDGSHAREDCOOKIE"), "erl printed: {out}");
    let (c, src) = resolve_cookie(
        None,
        &CookieLocations {
            home: Some(home3.clone()),
            xdg_config_home: Some(xdg.clone()),
        },
    )
    .unwrap();
    assert_eq!(c.expose(), b"XDGSHAREDCOOKIE");
    assert_eq!(src, CookieSource::File(xf));

    // 4. Group-readable: erl refuses it with the message we reproduce.
    let home4 = temp_home("ckhome4");
    let bad = home4.join(".erlang.cookie");
    std::fs::write(&bad, b"SOMECOOKIE").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = erl_cookie_probe(&epmd, &home4, None);
    let otp_msg = format!(
        "Cookie file {} must be accessible by owner only",
        bad.display()
    );
    assert!(out.contains(&otp_msg), "erl printed: {out}");
    let e = resolve_cookie(
        None,
        &CookieLocations {
            home: Some(home4.clone()),
            xdg_config_home: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().starts_with(&otp_msg), "{e}");

    for d in [home, home2, home3, xdg, home4] {
        let _ = std::fs::remove_dir_all(d);
    }
}
