//! `erlnode send NODE NAME 'TERM'`: sends TERM to the process registered as
//! NAME on NODE, like `{Name, Node} ! Term`.
use crate::common::{ClientOpts, client_node};
use anyhow::Context;
use erlnode::Term;
use std::process::ExitCode;

/// Arguments of `erlnode send`.
#[derive(clap::Args)]
pub struct Args {
    /// The node, `name@host`.
    node: String,
    /// The registered name on that node.
    name: String,
    /// The message, in Erlang syntax: '{hello, [1,2]}'.
    term: String,
    #[command(flatten)]
    opts: ClientOpts,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let msg: Term = a
        .term
        .parse()
        .with_context(|| format!("cannot parse TERM {:?}", a.term))?;
    let node = client_node(&a.node, &a.opts).await?;
    if !tokio::time::timeout(a.opts.timeout(), node.connect(&a.node))
        .await
        .unwrap_or(false)
    {
        eprintln!(
            "cannot connect to {} (is it running, and is the cookie right?)",
            a.node
        );
        return Ok(ExitCode::FAILURE);
    }
    node.send((a.name.as_str(), a.node.as_str()), msg);
    // A round trip after the message: messages between two processes stay
    // in order, so once the peer has answered, the message was delivered.
    if !tokio::time::timeout(a.opts.timeout(), node.ping(&a.node))
        .await
        .unwrap_or(false)
    {
        eprintln!(
            "the message was sent but {} did not confirm the connection",
            a.node
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
