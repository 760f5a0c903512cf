//! `lambda-db`: runs a Lambda storage node.
//!
//! ```text
//! lambda-db start [--config FILE] [--data-dir DIR] [--listen ADDR]
//! lambda-db print-config [--config FILE]
//! ```
//!
//! Data commands (`get`, `put`, `delete`) are in the user CLI, `lambda`.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lambda_common::shutdown::Shutdown;
use lambda_common::telemetry::{self, LogFormat};
use lambda_db::admin_cli::{Output, fetch_status, status_json, status_table};
use lambda_db::config::{ENV_PREFIX, NodeConfig};

#[derive(Parser, Debug)]
#[command(name = "lambda-db", version, about = "Lambda storage node")]
struct Cli {
    /// Write logs as JSON lines (also LAMBDA_LOG_FORMAT=json).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a storage node and serve until SIGINT or SIGTERM.
    Start(ConfigArgs),
    /// Print the effective configuration (defaults, file, environment) as TOML.
    PrintConfig(ConfigArgs),
    /// Show a running node's view of the cluster: members up or down,
    /// partitions owned, hint backlog.
    Status {
        /// The node's gRPC address.
        #[arg(long, short, env = "LAMBDA_ENDPOINT", default_value = "127.0.0.1:7070")]
        endpoint: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Show a chain-mode node's billing: per client per epoch the requests
    /// and bytes it served, the largest receipt held, settled or not.
    Usage {
        /// The node's gRPC address.
        #[arg(long, short, env = "LAMBDA_ENDPOINT", default_value = "127.0.0.1:7070")]
        endpoint: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(clap::Args, Debug)]
struct ConfigArgs {
    /// TOML configuration file; environment variables LAMBDA_DB_* override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Data directory (overrides the configuration).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// gRPC listen address (overrides the configuration).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<NodeConfig> {
        let mut cfg: NodeConfig = lambda_common::config::load(self.config.as_deref(), ENV_PREFIX)?;
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
        }
        if let Some(l) = self.listen {
            cfg.listen = l;
        }
        Ok(cfg)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let format = if cli.log_json {
        LogFormat::Json
    } else {
        LogFormat::from_env()
    };
    match cli.command {
        Command::PrintConfig(args) => {
            let cfg = args.load()?;
            print!("{}", lambda_common::config::to_toml(&cfg)?);
            Ok(())
        }
        Command::Status { endpoint, output } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let status = runtime.block_on(fetch_status(&endpoint))?;
            match output {
                Output::Json => println!("{}", status_json(&status)),
                Output::Table => print!("{}", status_table(&status)),
            }
            Ok(())
        }
        Command::Usage { endpoint, output } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let usage = runtime.block_on(lambda_db::admin_cli::fetch_usage(&endpoint))?;
            match output {
                Output::Json => println!("{}", lambda_db::admin_cli::usage_json(&usage)),
                Output::Table => print!("{}", lambda_db::admin_cli::usage_table(&usage)),
            }
            Ok(())
        }
        Command::Start(args) => {
            telemetry::init("info", format);
            let cfg = args.load()?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(run(cfg))
        }
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
