//! `erlnode serve`: runs a node with the demo services, prints
//! `ready NAME@HOST` once registered and listening, and stops cleanly on
//! SIGINT/SIGTERM.
use erlnode::node::Exception;
use erlnode::{Node, Term};
use num_bigint::BigInt;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `erlnode serve`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("nodename").required(true).args(["sname", "name"])))]
pub struct Args {
    /// Short node name (like `erl -sname`): NAME or NAME@HOST.
    #[arg(long)]
    sname: Option<String>,
    /// Long node name (like `erl -name`): NAME@FQDN or NAME@IP.
    #[arg(long)]
    name: Option<String>,
    /// The cookie (default: ~/.erlang.cookie, by OTP's rules).
    #[arg(long)]
    cookie: Option<String>,
    /// net_ticktime in seconds (default 60, as OTP).
    #[arg(long, default_value_t = 60)]
    net_ticktime: u64,
    /// Never start an embedded EPMD (fail if none runs).
    #[arg(long)]
    no_epmd: bool,
    /// A cookie for one peer, like `erl -setcookie Node Cookie`; repeatable.
    #[arg(long, value_name = "NODE=COOKIE")]
    node_cookie: Vec<String>,
    /// Listen on this port for peers (default: any free port).
    #[arg(long, conflicts_with = "port_range")]
    port: Option<u16>,
    /// Listen on the first free port in MIN-MAX, like OTP's
    /// inet_dist_listen_min/inet_dist_listen_max.
    #[arg(long, value_name = "MIN-MAX")]
    port_range: Option<String>,
    /// Address to listen on (default: all IPv6 and IPv4 addresses).
    #[arg(long)]
    bind: Option<std::net::IpAddr>,
    /// Runtime worker threads: 0 (the default) means one per core; 1 runs
    /// the whole node on one thread, which uses one core at most but moves
    /// large binaries about half as fast (docs/BENCH.md).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[command(flatten)]
    tls: crate::common::TlsArgs,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let (name, long) = match (&a.sname, &a.name) {
        (Some(s), _) => (s.clone(), false),
        (None, Some(n)) => (n.clone(), true),
        (None, None) => anyhow::bail!("give --sname NAME or --name NAME@HOST"),
    };
    let mut b = Node::builder(&name)
        .long_names(long)
        .net_ticktime(Duration::from_secs(a.net_ticktime))
        .embedded_epmd(!a.no_epmd);
    if let Some(c) = &a.cookie {
        b = b.cookie(c);
    }
    for nc in &a.node_cookie {
        let (n, c) = nc
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--node-cookie takes NODE=COOKIE, got {nc:?}"))?;
        b = b.node_cookie(n, c);
    }
    if let Some(p) = a.port {
        b = b.listen_port(p);
    }
    if let Some(r) = &a.port_range {
        let parsed = r.split_once('-').and_then(|(lo, hi)| {
            Some((
                lo.trim().parse::<u16>().ok()?,
                hi.trim().parse::<u16>().ok()?,
            ))
        });
        let (lo, hi) = parsed.ok_or_else(|| {
            anyhow::anyhow!("--port-range takes MIN-MAX, like 9100-9105; got {r:?}")
        })?;
        b = b.listen_port_range(lo, hi);
    }
    if let Some(ip) = a.bind {
        b = b.listen_ip(ip);
    }
    if let Some(tls) = a.tls.load()? {
        b = b.tls(tls);
    }
    let node = b.start().await?;
    install_demo(&node)?;
    println!("ready {}", node.name().as_str());
    std::io::stdout().flush()?;

    let mut events = node.monitor_nodes();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            ev = events.recv() => if let Err(tokio::sync::broadcast::error::RecvError::Closed) = ev { break },
        }
    }
    tracing::info!("shutting down");
    node.shutdown();
    // Give connection tasks a moment to flush and close their sockets.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(ExitCode::SUCCESS)
}

/// The demo services documented in the README.
pub fn install_demo(node: &Node) -> anyhow::Result<()> {
    // Registered process `echo`: {Pid, Msg} gets Pid ! Msg.
    let mut echo = node.register_mailbox("echo")?;
    tokio::spawn(async move {
        while let Ok(msg) = echo.recv().await {
            if let Ok(mut items) = msg.into_tuple() {
                if let (2, Some(Term::Pid(from))) = (items.len(), items.first()) {
                    let from = from.clone();
                    let m = items.pop().unwrap_or_default();
                    echo.send(&from, m);
                }
            }
        }
    });
    // Registered process `sink`, for scripts/bench.sh: counts every message;
    // {Pid, count} gets Pid ! {count, N} (N excludes the count requests).
    let mut sink = node.register_mailbox("sink")?;
    tokio::spawn(async move {
        let mut count: u64 = 0;
        while let Ok(msg) = sink.recv().await {
            match msg.as_tuple() {
                Some([Term::Pid(from), q]) if q.is_atom("count") => {
                    let reply = Term::tuple(vec![Term::atom("count"), Term::from(count)]);
                    sink.send(from, reply);
                }
                _ => count += 1,
            }
        }
    });
    node.register_fn("erlnode", "echo", 1, |c| async move {
        Ok(c.args.into_iter().next().unwrap_or_default())
    });
    node.register_fn("erlnode", "sum", 1, |c| async move {
        let items = c
            .args
            .first()
            .and_then(Term::as_list)
            .ok_or_else(|| Exception::error(Term::atom("badarg")))?;
        let mut total = BigInt::from(0);
        for t in items {
            match t {
                Term::Int(i) => total += *i,
                Term::BigInt(b) => total += b,
                _ => return Err(Exception::error(Term::atom("badarith"))),
            }
        }
        Ok(Term::from_bigint(total))
    });
    node.register_fn("erlnode", "sleep", 1, |c| async move {
        let ms = c
            .args
            .first()
            .and_then(Term::as_i64)
            .filter(|ms| *ms >= 0)
            .ok_or_else(|| Exception::error(Term::atom("badarg")))?;
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
        Ok(Term::atom("ok"))
    });
    node.register_fn("erlnode", "fail", 1, |c| async move {
        Err(Exception::error(
            c.args.into_iter().next().unwrap_or_default(),
        ))
    });
    node.register_fn("erlang", "node", 0, |c| async move {
        Ok(Term::Atom(c.node.name().clone()))
    });
    // Spawnable erlnode:echo/0: {Pid, Msg} → Pid ! Msg; {exit, R} exits with R; stop exits normally.
    node.register_process("erlnode", "echo", 0, |mut mb, _args| async move {
        loop {
            let msg = mb.recv().await.map_err(|e| e.reason)?;
            match msg.as_tuple() {
                Some([Term::Pid(from), m]) => mb.send(from, m.clone()),
                Some([tag, reason]) if tag.is_atom("exit") => return Err(reason.clone()),
                _ if msg.is_atom("stop") => return Ok(()),
                _ => {}
            }
        }
    });
    Ok(())
}
