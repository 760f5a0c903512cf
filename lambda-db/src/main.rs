//! `lambda-db`: runs a Lambda storage node, and is its operators' tool.
//!
//! ```text
//! lambda-db start [--config FILE] [--data-dir DIR] [--listen ADDR]
//! lambda-db print-config [--config FILE]
//!
//! node commands (-e/--endpoint ADDR[,ADDR…], env LAMBDA_ENDPOINT):
//! lambda-db status
//! lambda-db ring show [--config FILE] [--partition P | --key K]
//! lambda-db hints [--all]
//! lambda-db aae status [--limit N]
//! lambda-db transfers [--watch]
//! lambda-db usage
//!
//! chain commands (--chain URL[,URL…], env LAMBDA_CHAIN):
//! lambda-db chain status
//! lambda-db pdp results [--node ID] [--limit N] [--epochs E]
//!
//! lambda-db pledge --config FILE --owner-key FILE --stake S --capacity BYTES
//!                  --bandwidth BPS --zone Z [--endpoint HOST:PORT]
//! lambda-db unpledge --config FILE --owner-key FILE
//! ```
//!
//! Every command takes `-o table|json`. The commands are in
//! `lambda_db::admin_cli`; data commands (`get`, `put`, `delete`) are in the
//! user CLI, `lambda`.
#![allow(clippy::print_stdout)]

use anyhow::Context;
use clap::Parser;
use lambda_common::shutdown::Shutdown;
use lambda_common::telemetry::{self, LogFormat};
use lambda_db::admin_cli::args::{Cli, Command};
use lambda_db::admin_cli::dispatch;
use lambda_db::config::NodeConfig;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Start(args) => {
            let format = if cli.log_json {
                LogFormat::Json
            } else {
                LogFormat::from_env()
            };
            telemetry::init("info", format);
            let cfg = args.load()?;
            runtime.block_on(run(cfg))
        }
        command => match runtime.block_on(dispatch::run(command, cli.output)) {
            Ok(text) => {
                print!("{text}");
                Ok(())
            }
            Err(e) => {
                // One line naming the endpoint and the cause, no backtrace.
                eprintln!("error: {e}");
                std::process::exit(1)
            }
        },
    }
}

async fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let node = lambda_db::node::start(cfg, shutdown.token()).await?;
    node.task.await.context("node task panicked")??;
    tracing::info!("storage node stopped");
    Ok(())
}
