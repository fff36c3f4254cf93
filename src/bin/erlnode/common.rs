//! What the client commands share: the cookie option and a short-lived node.

use erlnode::Node;
use std::time::Duration;

/// Options every client command takes.
#[derive(clap::Args, Debug)]
pub struct ClientOpts {
    /// The cookie (default: ~/.erlang.cookie, by OTP's rules).
    #[arg(long)]
    pub cookie: Option<String>,
    /// Seconds to wait for the peer.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

impl ClientOpts {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// A hidden node that only dials out, named like erl_call's temporary
/// nodes, with the naming style (short or long) of `peer`.
pub async fn client_node(peer: &str, opts: &ClientOpts) -> anyhow::Result<Node> {
    let host = peer.split_once('@').map_or("", |(_, h)| h);
    // A peer named by FQDN or IP address runs with long names (`-name`).
    let long = host.contains('.') || host.parse::<std::net::IpAddr>().is_ok();
    let alive = format!("erlnode_{}", std::process::id());
    let name = if !long {
        alive
    } else if erlnode::name::hostname().contains('.') {
        format!("{alive}@{}", erlnode::name::hostname())
    } else if host.contains(':') {
        format!("{alive}@::1")
    } else {
        format!("{alive}@127.0.0.1")
    };
    let mut b = Node::builder(&name).long_names(long).publish(false);
    if let Some(c) = &opts.cookie {
        b = b.cookie(c);
    }
    Ok(b.start().await?)
}
