//! `lambda-agent`: the agent daemon beside an application.
//!
//! ```text
//! lambda-agent start [--config FILE] [--data-dir DIR] [--listen ADDR] [--endpoint URL,...]
//! lambda-agent print-config [--config FILE]
//! ```
//!
//! It serves `lambda.agent.v1.Agent` (ingest, range, aggregate and top-k
//! queries), collects host metrics into its own series, seals blocks and
//! uploads them to the cluster until SIGINT or SIGTERM.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lambda_agent::daemon::{AgentConfig, ENV_PREFIX};
use lambda_common::shutdown::Shutdown;
use lambda_common::telemetry::{self, LogFormat};

#[derive(Parser, Debug)]
#[command(name = "lambda-agent", version, about = "Lambda agent daemon")]
struct Cli {
    /// Write logs as JSON lines (also LAMBDA_LOG_FORMAT=json).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the agent and serve until SIGINT or SIGTERM.
    Start(ConfigArgs),
    /// Print the effective configuration (defaults, file, environment) as TOML.
    PrintConfig(ConfigArgs),
}

#[derive(clap::Args, Debug)]
struct ConfigArgs {
    /// TOML configuration file; environment variables LAMBDA_AGENT_* override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Data directory (overrides the configuration).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// gRPC listen address (overrides the configuration).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Storage node endpoints, comma separated (overrides the configuration).
    #[arg(long, value_delimiter = ',')]
    endpoint: Vec<String>,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<AgentConfig> {
        let mut cfg: AgentConfig = lambda_common::config::load(self.config.as_deref(), ENV_PREFIX)?;
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
        }
        if let Some(l) = self.listen {
            cfg.listen = l;
        }
        if !self.endpoint.is_empty() {
            cfg.cluster.endpoints = self.endpoint.clone();
        }
        cfg.tsdb.validate()?;
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
        Command::Start(args) => {
            telemetry::init("info", format);
            let cfg = args.load()?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(run(cfg))
        }
    }
}

async fn run(cfg: AgentConfig) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let agent = lambda_agent::daemon::start(cfg, shutdown.token()).await?;
    agent.task.await.context("agent task panicked")??;
    tracing::info!("agent stopped");
    Ok(())
}
