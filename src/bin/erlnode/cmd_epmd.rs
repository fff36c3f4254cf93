//! `erlnode epmd [--port P]`. OWNED BY THE EPMD WORK. Stub.
use std::process::ExitCode;

/// Arguments of `erlnode epmd`.
#[derive(clap::Args)]
pub struct Args {
    /// Port to listen on (default: `ERL_EPMD_PORT`, else 4369).
    #[arg(long)]
    port: Option<u16>,
}

pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
