//! Issue 5 against real `erl`/`epmd`: EPMD going away, long names, IPv6,
//! listen ports, per-peer cookies, cookie file rules.
mod common;
use common::*;
use erlnode::Node;
use std::time::Duration;

#[test]
fn reregisters_when_a_restarted_epmd_comes_back() {
    let mut epmd = Epmd::start();
    let port = epmd.port;
    let cookie = unique_cookie();
    let s = Serve::start(
        &["--sname", &unique("rr"), "--cookie", &cookie, "--no-epmd"],
        port,
    );
    epmd.kill();
    s.wait_log("went away; registering again", Duration::from_secs(5));
    let _epmd2 = Epmd::start_on(port);
    s.wait_log("registered with EPMD again", Duration::from_secs(10));
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, port));
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
}

#[test]
fn starts_its_own_epmd_when_the_one_it_used_dies() {
    let mut epmd = Epmd::start();
    let port = epmd.port;
    let cookie = unique_cookie();
    let s = Serve::start(&["--sname", &unique("re"), "--cookie", &cookie], port);
    epmd.kill();
    s.wait_log("registered with EPMD again", Duration::from_secs(10));
    assert!(s.log_contains("started an embedded one"));
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, port));
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    // The real epmd CLI may not kill it while names are registered.
    let out = std::process::Command::new("epmd")
        .args(["-port", &port.to_string(), "-kill"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Killing not allowed"),
        "{out:?}"
    );
}

#[test]
fn long_names_on_127_0_0_1_both_ways() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = Serve::start(
        &[
            "--name",
            &format!("{}@127.0.0.1", unique("rl")),
            "--cookie",
            &cookie,
        ],
        epmd.port,
    );
    assert!(s.node.ends_with("@127.0.0.1"));
    let mut opts = ErlOpts::new("e", &cookie, epmd.port);
    opts.long = true;
    opts.name = format!("{}@127.0.0.1", opts.name);
    let mut erl = Erl::start(opts);
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    let (code, out, err) = erlnode_cmd(&["ping", &erl.node, "--cookie", &cookie], epmd.port);
    assert_eq!((code, out.trim()), (0, "pong"), "{err}");
}

#[test]
fn ipv6_cluster_with_inet6_tcp() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = Serve::start(
        &[
            "--name",
            &format!("{}@::1", unique("r6")),
            "--cookie",
            &cookie,
        ],
        epmd.port,
    );
    let mut opts = ErlOpts::new("e", &cookie, epmd.port).args(&["-proto_dist", "inet6_tcp"]);
    opts.long = true;
    opts.name = format!("{}@::1", opts.name);
    let mut erl = Erl::start(opts);
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    // erl runs inet6_tcp: it can only have dialled over IPv6.
    assert_eq!(erl.eval_ok("net_kernel:epmd_module()"), "erl_epmd");
    let (code, out, err) = erlnode_cmd(&["ping", &erl.node, "--cookie", &cookie], epmd.port);
    assert_eq!((code, out.trim()), (0, "pong"), "{err}");
}

#[test]
fn listen_port_range_and_fixed_port() {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    // Occupy the first port of the range: the node takes the next one.
    let first = free_port();
    let _busy = std::net::TcpListener::bind(("0.0.0.0", first)).unwrap();
    let range = format!("{first}-{}", first + 3);
    let s = Serve::start(
        &[
            "--sname",
            &unique("rp"),
            "--cookie",
            &cookie,
            "--port-range",
            &range,
        ],
        epmd.port,
    );
    let mut erl = Erl::start(ErlOpts::new("e", &cookie, epmd.port));
    let alive = s.node.split('@').next().unwrap();
    let port: u16 = erl
        .eval_ok(&format!(
            "{{port, P, _}} = erl_epmd:port_please(\"{alive}\", \"127.0.0.1\"), P"
        ))
        .parse()
        .unwrap();
    assert!(
        port > first && port <= first + 3,
        "port {port} not in {range} minus the busy one"
    );
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    let fixed = free_port();
    let s2 = Serve::start(
        &[
            "--sname",
            &unique("rf"),
            "--cookie",
            &cookie,
            "--port",
            &fixed.to_string(),
            "--bind",
            "127.0.0.1",
        ],
        epmd.port,
    );
    let alive2 = s2.node.split('@').next().unwrap();
    assert_eq!(
        erl.eval_ok(&format!(
            "{{port, P2, _}} = erl_epmd:port_please(\"{alive2}\", \"127.0.0.1\"), P2"
        )),
        fixed.to_string()
    );
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s2.node)), "pong");
}

#[test]
fn per_peer_cookies_on_the_cli_and_at_run_time() {
    let epmd = Epmd::start();
    let special = Erl::start(ErlOpts::new("sp", "special_cookie", epmd.port));
    let s = Serve::start(
        &[
            "--sname",
            &unique("rk"),
            "--cookie",
            "default_cookie",
            "--node-cookie",
            &format!("{}=special_cookie", special.node),
        ],
        epmd.port,
    );
    let mut special = special;
    assert_eq!(
        special.eval_ok(&format!("net_adm:ping('{}')", s.node)),
        "pong"
    );
    let mut plain = Erl::start(ErlOpts::new("pl", "default_cookie", epmd.port));
    assert_eq!(
        plain.eval_ok(&format!("net_adm:ping('{}')", s.node)),
        "pong"
    );

    // erlang:set_cookie/2 at run time.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = rt
        .block_on(
            Node::builder(&unique("rt"))
                .cookie("default_cookie")
                .epmd_port(epmd.port)
                .start(),
        )
        .unwrap();
    let other = Erl::start(ErlOpts::new("ot", "other_cookie", epmd.port));
    assert!(!rt.block_on(node.ping(&other.node)));
    node.set_cookie(&other.node, "other_cookie").unwrap();
    assert!(rt.block_on(node.ping(&other.node)));
}

#[test]
fn cookie_file_with_bad_permissions_is_refused_like_erl() {
    use std::os::unix::fs::PermissionsExt;
    let home = std::env::temp_dir().join(unique("badhome"));
    std::fs::create_dir_all(&home).unwrap();
    let file = home.join(".erlang.cookie");
    std::fs::write(&file, "SOMECOOKIE").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new(erlnode_bin())
        .args(["serve", "--sname", &unique("rb")])
        .env("HOME", &home)
        .env("ERL_EPMD_PORT", free_port().to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let otp = format!(
        "Cookie file {} must be accessible by owner only",
        file.display()
    );
    assert!(err.contains(&otp), "erlnode said: {err}");
    // erl says the same.
    let erl = std::process::Command::new("erl")
        .args([
            "-sname",
            &unique("eb"),
            "-noshell",
            "-start_epmd",
            "false",
            "-eval",
            "halt().",
        ])
        .env("HOME", &home)
        .env("ERL_EPMD_PORT", free_port().to_string())
        .env("ERL_CRASH_DUMP_SECONDS", "0")
        .output()
        .unwrap();
    let erl_text = format!(
        "{}{}",
        String::from_utf8_lossy(&erl.stdout),
        String::from_utf8_lossy(&erl.stderr)
    );
    assert!(erl_text.contains(&otp), "erl said: {erl_text}");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn the_cookie_never_shows_in_logs_or_debug_output() {
    let epmd = Epmd::start();
    let cookie = format!("SECRETCOOKIE{}", std::process::id());
    let s = Serve::start_env(
        &["--sname", &unique("rs"), "--cookie", &cookie],
        epmd.port,
        &[("RUST_LOG", "trace")],
    );
    // A wrong-cookie attempt and a good one, both logged at trace level.
    let mut bad = Erl::start(ErlOpts::new("b", "wrong", epmd.port));
    assert_eq!(bad.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pang");
    let mut good = Erl::start(ErlOpts::new("g", &cookie, epmd.port));
    assert_eq!(good.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    s.wait_log("rejected handshake", Duration::from_secs(5));
    assert!(!s.log_contains(&cookie), "the cookie appears in the log");
    let b = Node::builder("x")
        .cookie(&cookie)
        .node_cookie("a@b", &cookie);
    assert!(!format!("{b:?}").contains(&cookie));
    let c = erlnode::cookie::Cookie::new(&cookie).unwrap();
    assert!(!format!("{c:?} {c}").contains(&cookie));
}
