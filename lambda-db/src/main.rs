//! `lambda-db`: runs a Lambda storage node.
//!
//! ```text
//! lambda-db start [--config FILE] [--data-dir DIR] [--listen ADDR]
//! lambda-db print-config [--config FILE]
//! lambda-db status [-e ADDR] [-o table|json]
//! lambda-db aae status [-e ADDR] [-o table|json]
//! lambda-db transfers [-e ADDR] [-o table|json] [--watch]
//! lambda-db pledge --config FILE --owner-key FILE --stake S --capacity BYTES
//!                  --bandwidth BPS --zone Z [--endpoint HOST:PORT] [-o table|json]
//! lambda-db unpledge --config FILE --owner-key FILE [-o table|json]
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
use lambda_db::admin_cli::{Output, aae, fetch_status, status_json, status_table, transfers};
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
    /// Pledge this node on the chain (chain mode): the owner pays the stake;
    /// the node becomes a member at the next epoch.
    Pledge(PledgeArgs),
    /// Withdraw this node's pledge: it leaves the membership at the next
    /// epoch and the stake returns to the owner.
    Unpledge(OwnerArgs),
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
    /// Anti-entropy commands.
    Aae {
        #[command(subcommand)]
        command: AaeCommand,
    },
    /// Show the progress of a membership change (partitions pulled by each
    /// node, bytes), with progress bars.
    Transfers {
        #[command(flatten)]
        target: Target,
        /// Redraw live progress bars until the change is over.
        #[arg(long, short)]
        watch: bool,
        /// With --watch, stop after this many seconds.
        #[arg(long, default_value_t = 3600)]
        watch_timeout_s: u64,
    },
}

#[derive(Subcommand, Debug)]
enum AaeCommand {
    /// A node's anti-entropy progress: rounds, keys repaired, bytes, and per
    /// partition the time of the last exchange.
    Status {
        #[command(flatten)]
        target: Target,
        /// Most partitions listed in the table.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(clap::Args, Debug)]
struct OwnerArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The owner account's key file (never stored in the node config).
    #[arg(long)]
    owner_key: PathBuf,
    /// Fee of each transaction.
    #[arg(long, default_value_t = 1)]
    fee: u64,
    /// Seconds to wait for inclusion.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(clap::Args, Debug)]
struct PledgeArgs {
    #[command(flatten)]
    owner: OwnerArgs,
    /// Stake moved from the owner's balance.
    #[arg(long)]
    stake: u64,
    /// Capacity in bytes.
    #[arg(long)]
    capacity: u64,
    /// Bandwidth in bytes per second.
    #[arg(long)]
    bandwidth: u64,
    /// Failure zone.
    #[arg(long)]
    zone: String,
    /// Advertised gRPC endpoint (default: the configured listen address).
    #[arg(long)]
    endpoint: Option<String>,
    /// Funds transferred from the owner to the node key's account for the
    /// fees of its offline reports (0: none).
    #[arg(long, default_value_t = 1_000)]
    node_funds: u64,
}

#[derive(clap::Args, Debug)]
struct Target {
    /// The node's gRPC address.
    #[arg(long, short, env = "LAMBDA_ENDPOINT", default_value = "127.0.0.1:7070")]
    endpoint: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    output: Output,
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
        Command::Pledge(args) => chain_command(&args.owner, Some(&args)),
        Command::Unpledge(args) => chain_command(&args, None),
        Command::Usage { endpoint, output } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let usage = runtime.block_on(lambda_db::admin_cli::fetch_usage(&endpoint))?;
            match output {
                Output::Json => println!("{}", lambda_db::admin_cli::usage_json(&usage)),
                Output::Table => print!("{}", lambda_db::admin_cli::usage_table(&usage)),
            }
            Ok(())
        }
        Command::Aae {
            command: AaeCommand::Status { target, limit },
        } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let s = runtime.block_on(aae::fetch(&target.endpoint))?;
            match target.output {
                Output::Json => println!("{}", aae::json(&s)),
                Output::Table => print!("{}", aae::table(&s, now_ms(), limit)),
            }
            Ok(())
        }
        Command::Transfers {
            target,
            watch,
            watch_timeout_s,
        } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let t = if watch {
                let every = std::time::Duration::from_millis(500);
                let timeout = std::time::Duration::from_secs(watch_timeout_s);
                runtime.block_on(transfers::watch(&target.endpoint, every, timeout))?
            } else {
                runtime.block_on(transfers::fetch(&target.endpoint))?
            };
            match target.output {
                Output::Json => println!("{}", transfers::json(&t)),
                Output::Table => print!("{}", transfers::table(&t)),
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let node = lambda_db::node::start(cfg, shutdown.token()).await?;
    node.task.await.context("node task panicked")??;
    tracing::info!("storage node stopped");
    Ok(())
}

fn chain_command(owner: &OwnerArgs, pledge: Option<&PledgeArgs>) -> anyhow::Result<()> {
    use lambda_db::chain::{load_or_create_identity, pledge as p};
    let cfg = owner.config.load()?;
    anyhow::ensure!(
        cfg.chain.enabled(),
        "the configuration has no [chain] endpoints; pledging needs a chain"
    );
    let key_file = cfg
        .chain
        .node_key_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("node.key"));
    let node = load_or_create_identity(&key_file)?;
    let owner_key = lambda_common::keys::SigningKey::load(&owner.owner_key)
        .with_context(|| format!("owner key {}", owner.owner_key.display()))?;
    let wait = std::time::Duration::from_secs(owner.wait_secs);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        match pledge {
            Some(a) => {
                let req = p::PledgeRequest {
                    owner: owner_key,
                    node,
                    stake: a.stake,
                    capacity_bytes: a.capacity,
                    bandwidth_bps: a.bandwidth,
                    zone: a.zone.clone(),
                    endpoint: a.endpoint.clone().unwrap_or_else(|| cfg.listen.to_string()),
                    node_funds: a.node_funds,
                    fee: owner.fee,
                    wait,
                };
                p::pledge(&cfg.chain.endpoints, &req).await
            }
            None => {
                p::unpledge(
                    &cfg.chain.endpoints,
                    &owner_key,
                    node.address(),
                    owner.fee,
                    wait,
                )
                .await
            }
        }
    })?;
    match owner.output {
        Output::Json => println!("{}", serde_json::to_string(&outcome)?),
        Output::Table => print!("{}", p::outcome_table(&outcome)),
    }
    Ok(())
}
