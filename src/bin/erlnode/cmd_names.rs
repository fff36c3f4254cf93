//! `erlnode names [HOST]`. OWNED BY THE EPMD WORK. Stub.
use std::process::ExitCode;

/// Arguments of `erlnode names`.
#[derive(clap::Args)]
pub struct Args {
    /// Host whose EPMD to ask (default: this host).
    host: Option<String>,
}

pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
