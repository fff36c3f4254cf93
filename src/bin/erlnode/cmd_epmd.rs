//! `erlnode epmd [--port P]`: runs the embedded EPMD in the foreground until
//! SIGINT or SIGTERM (or an accepted KILL request, as `epmd` exits then).
use erlnode::epmd::{EpmdServer, epmd_port};
use std::process::ExitCode;

/// Arguments of `erlnode epmd`.
#[derive(clap::Args)]
pub struct Args {
    /// Port to listen on (default: `ERL_EPMD_PORT`, else 4369).
    #[arg(long)]
    port: Option<u16>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let port = match args.port {
        Some(p) => p,
        None => epmd_port()?,
    };
    let server = EpmdServer::bind(port).await?;
    tracing::info!(
        port = server.port(),
        "erlnode epmd running; stop it with SIGINT or SIGTERM"
    );
    let why = wait_for_stop(&server).await?;
    tracing::info!("erlnode epmd stopping: {why}");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
async fn wait_for_stop(server: &EpmdServer) -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        _ = server.stopped() => "KILL request",
    })
}

#[cfg(not(unix))]
async fn wait_for_stop(server: &EpmdServer) -> anyhow::Result<&'static str> {
    Ok(tokio::select! {
        r = tokio::signal::ctrl_c() => { r?; "Ctrl-C" }
        _ = server.stopped() => "KILL request",
    })
}
