//! `erlnode ping NODE`: prints `pong` and exits 0, or `pang` and exits 1.
use crate::common::{ClientOpts, client_node};
use std::process::ExitCode;

/// Arguments of `erlnode ping`.
#[derive(clap::Args)]
pub struct Args {
    /// The node to ping, `name@host`.
    node: String,
    #[command(flatten)]
    opts: ClientOpts,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let node = client_node(&a.node, &a.opts).await?;
    let pong = tokio::time::timeout(a.opts.timeout(), node.ping(&a.node))
        .await
        .unwrap_or(false);
    println!("{}", if pong { "pong" } else { "pang" });
    Ok(if pong {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
