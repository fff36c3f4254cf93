//! `erlnode names [HOST]`: lists the names registered in EPMD, printing what
//! `epmd -names` prints.
use erlnode::epmd::{EpmdClient, EpmdError};
use std::process::ExitCode;

/// Arguments of `erlnode names`.
#[derive(clap::Args)]
pub struct Args {
    /// Host whose EPMD to ask (default: this host).
    host: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = EpmdClient::from_env()?;
    let reply = match &args.host {
        Some(host) => client.names(host).await,
        // As `epmd -names`: the local EPMD over IPv4 loopback, else IPv6.
        None => match client.names("127.0.0.1").await {
            Err(EpmdError::Connect { .. }) => client.names("::1").await,
            other => other,
        },
    };
    match reply {
        Ok(r) => {
            println!("epmd: up and running on port {} with data:", r.epmd_port);
            for (name, port) in r.names {
                println!("name {name} at port {port}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (EpmdError::Connect { .. } | EpmdError::Resolve { .. })) => {
            tracing::debug!(error = %e, "names");
            match &args.host {
                None => eprintln!("epmd: Cannot connect to local epmd"),
                Some(h) => eprintln!("epmd: Cannot connect to epmd on {h}"),
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            // `epmd -names` prints this (on stdout) when the reply is missing.
            tracing::debug!(error = %e, "names");
            println!("epmd: no response from local epmd");
            Ok(ExitCode::FAILURE)
        }
    }
}
