//! What the client commands share: the cookie option, the TLS options and a
//! short-lived node.

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
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// TLS distribution (`erl -proto_dist inet_tls`), for `serve` and the
/// client commands. All three files, or none.
#[derive(clap::Args, Debug)]
pub struct TlsArgs {
    /// Use TLS distribution with this certificate (PEM; the node's own
    /// certificate first, then any intermediates). Used in both roles, like
    /// certfile under server and client in erl's -ssl_dist_optfile.
    #[arg(long, value_name = "PEM", requires_all = ["tls_key", "tls_cacert"])]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, EC or RSA).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// CA certificates (PEM) that peers' certificates must be signed by;
    /// peers are verified in both roles.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_cacert: Option<std::path::PathBuf>,
    /// When dialling, do not require the peer's certificate to name the host
    /// part of its node name (the chain to the CA is still checked).
    #[arg(long, requires = "tls_cert")]
    pub tls_no_verify_hostname: bool,
}

impl TlsArgs {
    /// The loaded TLS settings, or `None` for plain TCP.
    pub fn load(&self) -> anyhow::Result<Option<erlnode::tls::TlsConfig>> {
        let (Some(cert), Some(key), Some(ca)) = (&self.tls_cert, &self.tls_key, &self.tls_cacert)
        else {
            return Ok(None);
        };
        let cfg = erlnode::tls::TlsOptions::from_files(cert, key, ca)
            .verify_hostname(!self.tls_no_verify_hostname)
            .load()?;
        Ok(Some(cfg))
    }
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
    // Look the peer's host up here, once and in line, as erl_call does: the
    // node would otherwise hand the lookup to a helper thread, which costs a
    // one-shot command more than the lookup itself.
    if !host.is_empty() && host.parse::<std::net::IpAddr>().is_err() {
        use std::net::ToSocketAddrs;
        // IPv4 first, as erl's default `inet` distribution.
        let addrs: Vec<std::net::SocketAddr> = (host, 0)
            .to_socket_addrs()
            .map(|a| a.collect())
            .unwrap_or_default();
        if let Some(addr) = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()) {
            b = b.host_address(host, addr.ip());
        }
    }
    if let Some(c) = &opts.cookie {
        b = b.cookie(c);
    }
    if let Some(tls) = opts.tls.load()? {
        b = b.tls(tls);
    }
    Ok(b.start().await?)
}
