//! `erlnode`: an Erlang node on the command line, in the spirit of OTP's
//! `erl_call`. Parses arguments and calls the library; nothing else.

mod cmd_epmd;
mod cmd_names;
mod cmd_ping;
mod cmd_rpc;
mod cmd_send;
mod cmd_serve;
mod common;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "erlnode",
    version,
    about = "An Erlang distribution node in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a hidden node with the demo services; prints `ready NAME@HOST`.
    Serve(cmd_serve::Args),
    /// Ping a node: prints `pong` (exit 0) or `pang` (exit 1).
    Ping(cmd_ping::Args),
    /// Call MOD:FUN(ARGS) on a node and print the result.
    Rpc(cmd_rpc::Args),
    /// Send a term to a registered name on a node.
    Send(cmd_send::Args),
    /// List the names registered in EPMD, like `epmd -names`.
    Names(cmd_names::Args),
    /// Run an EPMD server on its own.
    Epmd(cmd_epmd::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let long_running = matches!(cli.command, Command::Serve(_) | Command::Epmd(_));
    init_tracing(if long_running {
        tracing::Level::INFO
    } else {
        tracing::Level::WARN
    });
    // One-shot clients start faster on one thread. `serve` takes every core
    // unless `--threads N` says otherwise: measured side by side (see
    // docs/BENCH.md), one thread gave half the MB/s of an 8 MiB echo and
    // no better serial round trip or `rpc:call` latency (calls that answer
    // at once already run on the task that received them).
    let threads = match &cli.command {
        Command::Serve(a) => a.threads,
        Command::Epmd(_) => 0,
        _ => 1,
    };
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            b.worker_threads(threads);
        }
        b.enable_all().build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("erlnode: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve(a) => cmd_serve::run(a).await,
            Command::Ping(a) => cmd_ping::run(a).await,
            Command::Rpc(a) => cmd_rpc::run(a).await,
            Command::Send(a) => cmd_send::run(a).await,
            Command::Names(a) => cmd_names::run(a).await,
            Command::Epmd(a) => cmd_epmd::run(a).await,
        }
    });
    if !long_running {
        // A one-shot command is done: its sockets close with the process.
        // Waiting for the runtime's idle threads (the name-lookup thread)
        // to wind down would only add to its run time.
        rt.shutdown_background();
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("erlnode: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` filters them (default `info` for `serve`
/// and `epmd`, `warn` for the one-shot commands).
fn init_tracing(default: tracing::Level) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let fmt = tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match EnvFilter::try_from_default_env() {
        Ok(filter) => fmt.with_env_filter(filter).init(),
        // Without RUST_LOG a plain level filter will do, and it is cheaper
        // to set up than an EnvFilter: one-shot commands start faster.
        Err(_) => fmt.with_max_level(default).init(),
    }
}
