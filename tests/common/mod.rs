//! Shared support for the interop tests: real `epmd`, real `erl` nodes and the
//! `erlnode` binary, each with a unique name, cookie and private EPMD port so
//! that tests run side by side. Everything started here is killed, by PID, on
//! drop. Readiness is awaited with deadlines, never fixed sleeps.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a real `erl` may take to boot with distribution on.
pub const ERL_BOOT_DEADLINE: Duration = Duration::from_secs(30);
/// Default deadline for one evaluated expression.
pub const EVAL_DEADLINE: Duration = Duration::from_secs(30);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call, valid as an Erlang node name
/// part (`[A-Za-z0-9_]`).
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}", std::process::id())
}

/// A unique cookie.
pub fn unique_cookie() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("C{}X{n}X{t}", std::process::id())
}

/// The host part `erl -sname` uses: the hostname up to its first dot.
pub fn short_host() -> String {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let out = Command::new("hostname").output().expect("run hostname");
        let h = String::from_utf8_lossy(&out.stdout).trim().to_string();
        h.split('.').next().unwrap_or("localhost").to_string()
    })
    .clone()
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `ready` until it holds or `deadline` passes.
pub fn wait_until(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {deadline:?} waiting for {what}");
}

/// True while something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Compiled `interop/*.erl`, once per test process.
pub fn interop_beams() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("erlnode-interop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
        let files: Vec<PathBuf> = std::fs::read_dir(&src)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "erl"))
            .collect();
        let status = Command::new("erlc")
            .arg("-o")
            .arg(&dir)
            .args(&files)
            .status()
            .expect("run erlc (is Erlang/OTP installed? scripts/test.sh installs it)");
        assert!(status.success(), "erlc failed on interop/*.erl");
        dir
    })
}

/// Kills a child by PID and reaps it.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Collects a child's output lines into a channel and a shared log.
fn pump(r: impl Read + Send + 'static, log: Arc<Mutex<Vec<String>>>) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            log.lock().unwrap().push(line.clone());
            if tx.send(line).is_err() {
                // Receiver gone: keep draining so the child never blocks on a full pipe.
            }
        }
    });
    rx
}

/// A real `epmd` on a private port.
pub struct Epmd {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl Epmd {
    /// Starts `epmd -port P` in the foreground and waits until it accepts.
    pub fn start() -> Epmd {
        let port = free_port();
        Epmd::start_on(port)
    }

    /// Starts it on a given port.
    pub fn start_on(port: u16) -> Epmd {
        let child = Command::new("epmd")
            .arg("-port")
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run epmd");
        let e = Epmd { child, port };
        wait_until("epmd to listen", Duration::from_secs(10), || {
            port_open(port)
        });
        e
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it now.
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }
}

impl Drop for Epmd {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// How to start a real `erl` node.
#[derive(Clone)]
pub struct ErlOpts {
    /// `-sname` (or `-name` when `long` is set) value.
    pub name: String,
    /// Use `-name` instead of `-sname`.
    pub long: bool,
    /// `-setcookie`.
    pub cookie: String,
    /// `ERL_EPMD_PORT`.
    pub epmd_port: u16,
    /// Extra arguments, e.g. `["-kernel", "net_ticktime", "4"]`.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl ErlOpts {
    /// A short-named node with a unique name, using the given cookie and EPMD port.
    pub fn new(prefix: &str, cookie: &str, epmd_port: u16) -> ErlOpts {
        ErlOpts {
            name: unique(prefix),
            long: false,
            cookie: cookie.to_string(),
            epmd_port,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds arguments.
    pub fn args(mut self, args: &[&str]) -> ErlOpts {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }
}

/// A real `erl` node driven through `interop/erlnode_ctl.erl`.
pub struct Erl {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// Everything the node printed (stdout and stderr).
    pub log: Arc<Mutex<Vec<String>>>,
    /// The full node name, `name@host`.
    pub node: String,
}

impl Erl {
    /// Starts the node and waits until its control channel is ready.
    pub fn start(opts: ErlOpts) -> Erl {
        Erl::start_inner(opts, true)
    }

    /// Starts the node without `-setcookie`: erl reads (or creates)
    /// `~/.erlang.cookie` under the `HOME` in `opts.env`.
    pub fn start_without_cookie(opts: ErlOpts) -> Erl {
        Erl::start_inner(opts, false)
    }

    fn start_inner(opts: ErlOpts, with_cookie: bool) -> Erl {
        let mut cmd = Command::new("erl");
        cmd.arg(if opts.long { "-name" } else { "-sname" })
            .arg(&opts.name);
        if with_cookie {
            cmd.arg("-setcookie").arg(&opts.cookie);
        }
        cmd.args(["-noshell", "-start_epmd", "false", "-pa"])
            .arg(interop_beams())
            .args(&opts.args)
            .args(["-s", "erlnode_ctl", "main"])
            .env("ERL_EPMD_PORT", opts.epmd_port.to_string())
            .env("ERL_CRASH_DUMP_SECONDS", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .expect("run erl (scripts/test.sh installs Erlang/OTP)");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = pump(child.stdout.take().unwrap(), log.clone());
        let _ = pump(child.stderr.take().unwrap(), log.clone());
        let stdin = child.stdin.take().unwrap();
        let host = if opts.long {
            String::new()
        } else {
            short_host()
        };
        let node = if opts.long || opts.name.contains('@') {
            opts.name.clone()
        } else {
            format!("{}@{}", opts.name, host)
        };
        let mut erl = Erl {
            child,
            stdin,
            lines,
            log,
            node,
        };
        erl.expect_line("#CTL# ready", ERL_BOOT_DEADLINE);
        if opts.long {
            erl.node = erl.eval("node()").unwrap().trim_matches('\'').to_string();
        }
        erl
    }

    /// Waits for a line equal to `want`.
    fn expect_line(&mut self, want: &str, deadline: Duration) {
        let end = Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.trim_end() == want => return,
                Ok(_) => continue,
                Err(_) => panic!(
                    "erl {} did not print {want:?} in {deadline:?}; log:\n{}",
                    self.node,
                    self.log.lock().unwrap().join("\n")
                ),
            }
        }
    }

    /// Evaluates one expression (without the final dot) and returns the
    /// result printed with `~0tp`, or the error as `Class:Reason`.
    pub fn eval_timeout(&mut self, expr: &str, deadline: Duration) -> Result<String, String> {
        let expr = expr.trim().trim_end_matches('.');
        assert!(!expr.contains('\n'), "one line per expression");
        writeln!(self.stdin, "{expr}.").expect("write to erl");
        self.stdin.flush().unwrap();
        let end = Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Some(r) = l.strip_prefix("#CTL# ok ") {
                        return Ok(r.to_string());
                    }
                    if let Some(r) = l.strip_prefix("#CTL# error ") {
                        return Err(r.to_string());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("erl {}: no answer to `{expr}` in {deadline:?}", self.node)
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "erl {} exited while evaluating `{expr}`; log:\n{}",
                    self.node,
                    self.log.lock().unwrap().join("\n")
                ),
            }
        }
    }

    /// [`Erl::eval_timeout`] with [`EVAL_DEADLINE`].
    pub fn eval(&mut self, expr: &str) -> Result<String, String> {
        self.eval_timeout(expr, EVAL_DEADLINE)
    }

    /// Evaluates and panics on an Erlang exception.
    pub fn eval_ok(&mut self, expr: &str) -> String {
        match self.eval(expr) {
            Ok(v) => v,
            Err(e) => panic!("erl {}: `{expr}` raised {e}", self.node),
        }
    }

    /// True if any log line contains `needle`.
    pub fn log_contains(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// The OS process id (of beam.smp: `erl` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Erl {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Path of the `erlnode` binary built for these tests.
pub fn erlnode_bin() -> &'static str {
    env!("CARGO_BIN_EXE_erlnode")
}

/// A running `erlnode serve`.
pub struct Serve {
    child: Child,
    /// The full node name it printed in `ready NAME@HOST`.
    pub node: String,
    /// Everything it printed on stdout and stderr.
    pub log: Arc<Mutex<Vec<String>>>,
    lines: Receiver<String>,
}

impl Serve {
    /// Starts `erlnode serve ARGS` with `ERL_EPMD_PORT` set and waits for its
    /// `ready` line.
    pub fn start(args: &[&str], epmd_port: u16) -> Serve {
        Serve::start_env(args, epmd_port, &[])
    }

    /// As [`Serve::start`], with extra environment.
    pub fn start_env(args: &[&str], epmd_port: u16, env: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(erlnode_bin());
        cmd.arg("serve")
            .args(args)
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run erlnode serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = pump(child.stdout.take().unwrap(), log.clone());
        let _ = pump(child.stderr.take().unwrap(), log.clone());
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) => {
                    if let Some(n) = l.strip_prefix("ready ") {
                        let node = n.trim().to_string();
                        return Serve {
                            child,
                            node,
                            log,
                            lines,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "erlnode serve {args:?} never printed `ready`; log:\n{}",
                        log.lock().unwrap().join("\n")
                    );
                }
            }
        }
    }

    /// Waits until some output line contains `needle`.
    pub fn wait_log(&self, needle: &str, deadline: Duration) {
        wait_until(
            &format!("erlnode log line containing {needle:?}"),
            deadline,
            || self.log_contains(needle),
        );
    }

    /// True if any output line contains `needle`.
    pub fn log_contains(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`"STOP"`, `"CONT"`, `"TERM"`, `"INT"`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + deadline;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.pid().to_string())
            .status();
        kill(&mut self.child);
    }
}

/// Runs `erlnode ARGS` to completion with `ERL_EPMD_PORT` set; returns
/// (exit code, stdout, stderr).
pub fn erlnode_cmd(args: &[&str], epmd_port: u16) -> (i32, String, String) {
    let out = Command::new(erlnode_bin())
        .args(args)
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .output()
        .expect("run erlnode");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sends a signal (`"STOP"`, `"CONT"`, `"KILL"`…) to a process with kill(1).
pub fn signal_pid(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} {pid} failed");
}

/// Open file descriptors of a process.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident memory of a process, in KiB (VmRSS).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Waits up to `limit` for the next `Down` event for `peer` and returns its
/// reason; any other event is skipped.
pub fn next_down(
    rt: &tokio::runtime::Runtime,
    events: &mut tokio::sync::broadcast::Receiver<erlnode::NodeEvent>,
    peer: &str,
    limit: Duration,
) -> erlnode::node::DownReason {
    rt.block_on(async {
        let end = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(end, events.recv()).await {
                Ok(Ok(erlnode::NodeEvent::Down { node, reason })) if node.as_str() == peer => {
                    return reason;
                }
                Ok(Ok(_)) => continue,
                other => panic!("no nodedown for {peer} within {limit:?}: {other:?}"),
            }
        }
    })
}
