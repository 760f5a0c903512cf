//! Runs one operator command and renders its answer as the text to print:
//! a table, or one JSON object on one line (`-o json`). The daemon command
//! `start` is the binary's own.

use lambda_proto::node::v1 as pb;

use crate::chain::pledge::outcome_table;

use super::args::{AaeCommand, ChainCommand, Command, PdpCommand, RingCommand, TransfersArgs};
use super::{
    AdminError, Output, aae, chain_status, first_answer, hints, now_ms, pdp, pledge, ring,
    split_endpoints, status, transfers, usage,
};

/// Asks the first node of the comma-separated `$endpoints` that answers
/// with `$fetch(endpoint)`.
macro_rules! ask {
    ($endpoints:expr, $fetch:path) => {
        first_answer(&split_endpoints($endpoints), "node", |e| async move {
            $fetch(&e).await
        })
        .await
        .map(|(_, v)| v)
    };
}

/// Picks the rendering for `output`.
fn render<T>(
    output: Output,
    value: &T,
    json: impl FnOnce(&T) -> serde_json::Value,
    table: impl FnOnce(&T) -> String,
) -> Result<String, AdminError> {
    Ok(match output {
        Output::Json => format!("{}\n", serde_json::to_string(&json(value))?),
        Output::Table => table(value),
    })
}

/// Runs `command` and returns what to print.
pub async fn run(command: Command, output: Output) -> Result<String, AdminError> {
    match command {
        Command::Start(_) => Err(AdminError::Invalid(
            "`start` runs the node; it is not an operator command".into(),
        )),
        Command::PrintConfig(args) => Ok(lambda_common::config::to_toml(&args.load()?)?),
        Command::Status(node) => {
            let s = ask!(&node.endpoint, status::fetch_status)?;
            render(output, &s, status::status_json, status::status_table)
        }
        Command::Ring {
            command: RingCommand::Show(args),
        } => render(output, &ring::run(&args).await?, ring::json, ring::table),
        Command::Hints(args) => {
            let h = hints::run(&split_endpoints(&args.node.endpoint), args.all).await?;
            render(output, &h, hints::json, hints::table)
        }
        Command::Aae {
            command: AaeCommand::Status { node, limit },
        } => {
            let s = ask!(&node.endpoint, aae::fetch)?;
            render(output, &s, aae::json, |s| aae::table(s, now_ms(), limit))
        }
        Command::Transfers(args) => {
            let t = run_transfers(&args).await?;
            render(output, &t, transfers::json, transfers::table)
        }
        Command::Usage(node) => {
            let u = ask!(&node.endpoint, usage::fetch_usage)?;
            render(output, &u, usage::usage_json, usage::usage_table)
        }
        Command::Chain {
            command: ChainCommand::Status(args),
        } => {
            let s = chain_status::fetch(&split_endpoints(&args.chain)).await?;
            render(output, &s, chain_status::json, chain_status::table)
        }
        Command::Pdp {
            command: PdpCommand::Results(args),
        } => render(output, &pdp::fetch(&args).await?, pdp::json, pdp::table),
        Command::Pledge(args) => {
            let o = pledge::run(&args.owner, Some(&args)).await?;
            render(output, &o, |o| serde_json::json!(o), outcome_table)
        }
        Command::Unpledge(args) => {
            let o = pledge::run(&args, None).await?;
            render(output, &o, |o| serde_json::json!(o), outcome_table)
        }
    }
}

/// `transfers`: one answer, or live bars on standard error until the change
/// is over (then the last answer).
async fn run_transfers(args: &TransfersArgs) -> Result<pb::TransfersResponse, AdminError> {
    let list = split_endpoints(&args.node.endpoint);
    let (endpoint, first) =
        first_answer(&list, "node", |e| async move { transfers::fetch(&e).await }).await?;
    if !args.watch {
        return Ok(first);
    }
    let every = std::time::Duration::from_millis(500);
    let timeout = std::time::Duration::from_secs(args.watch_timeout_s);
    transfers::watch(&endpoint, every, timeout).await
}
