//! `erlnode rpc NODE MOD FUN 'ARGS'`: calls MOD:FUN(ARGS...) on NODE and
//! prints the result in Erlang syntax; a `badrpc` goes to stderr, exit 1.
use crate::common::{ClientOpts, client_node};
use anyhow::Context;
use erlnode::Term;
use std::process::ExitCode;

/// Arguments of `erlnode rpc`.
#[derive(clap::Args)]
pub struct Args {
    /// The node, `name@host`.
    node: String,
    /// Module name.
    module: String,
    /// Function name.
    function: String,
    /// The arguments, as an Erlang list: '[1, "two", {three}]'.
    #[arg(default_value = "[]")]
    args: String,
    #[command(flatten)]
    opts: ClientOpts,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let args: Term = a.args.parse().with_context(|| {
        format!(
            "ARGS must be an Erlang list, like '[1, two]'; cannot parse {:?}",
            a.args
        )
    })?;
    let args = args
        .into_list()
        .map_err(|t| anyhow::anyhow!("ARGS must be an Erlang list, like '[1, two]', not {t}"))?;
    let node = client_node(&a.node, &a.opts).await?;
    match node
        .rpc(&a.node, &a.module, &a.function, args, a.opts.timeout())
        .await
    {
        Ok(v) => {
            println!("{v}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let value = e.to_rpc_value();
            // As rpc:call: a throw is a value, everything else is {badrpc, R}.
            match value.as_tuple() {
                Some([tag, reason]) if tag.is_atom("badrpc") => {
                    eprintln!("{reason}");
                    Ok(ExitCode::FAILURE)
                }
                _ => {
                    println!("{value}");
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
    }
}
