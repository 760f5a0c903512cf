//! The command line of `lambda-db` (clap): the daemon commands (`start`,
//! `print-config`), the operator commands that ask a node or the chain, and
//! `pledge`/`unpledge`. `-o table|json` is global: every command takes it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::Output;
use crate::config::{ENV_PREFIX, NodeConfig};

/// The default gRPC address of a local node.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:7070";
/// The default public API of a local validator.
pub const DEFAULT_CHAIN: &str = "http://127.0.0.1:26657";

/// `lambda-db`'s arguments.
#[derive(Parser, Debug)]
#[command(
    name = "lambda-db",
    version,
    about = "Lambda storage node and its operator tool"
)]
pub struct Cli {
    /// Write logs as JSON lines (also LAMBDA_LOG_FORMAT=json).
    #[arg(long, global = true)]
    pub log_json: bool,
    /// Output format: a table for people, one JSON object for scripts.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start a storage node and serve until SIGINT or SIGTERM.
    Start(ConfigArgs),
    /// Print the effective configuration (defaults, file, environment) as TOML.
    PrintConfig(ConfigArgs),
    /// A running node's view of the cluster: members up or down, partitions
    /// owned, hint backlog, request counters.
    Status(NodeArgs),
    /// The ring as a node sees it.
    Ring {
        /// Ring commands.
        #[command(subcommand)]
        command: RingCommand,
    },
    /// Hinted handoff: hints waiting per target node, delivered and refused.
    Hints(HintsArgs),
    /// Anti-entropy commands.
    Aae {
        /// Anti-entropy commands.
        #[command(subcommand)]
        command: AaeCommand,
    },
    /// The progress of a membership change (partitions pulled by each node,
    /// bytes), with progress bars.
    Transfers(TransfersArgs),
    /// A chain-mode node's billing: per client per epoch the requests and
    /// bytes it served, the largest receipt held, settled or not.
    Usage(NodeArgs),
    /// The chain, from a validator's API.
    Chain {
        /// Chain commands.
        #[command(subcommand)]
        command: ChainCommand,
    },
    /// Provable-data-possession audits recorded on the chain.
    Pdp {
        /// PDP commands.
        #[command(subcommand)]
        command: PdpCommand,
    },
    /// Pledge this node on the chain (chain mode): the owner pays the stake;
    /// the node becomes a member at the next epoch.
    Pledge(PledgeArgs),
    /// Withdraw this node's pledge: it leaves the membership at the next
    /// epoch and the stake returns to the owner.
    Unpledge(OwnerArgs),
}

/// Where a running node listens.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// The node's gRPC address (`host:port` or `http://host:port`); a
    /// comma-separated list is tried in order until one answers.
    #[arg(long, short, env = "LAMBDA_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,
}

/// Where the chain's validators listen.
#[derive(clap::Args, Debug, Clone)]
pub struct ChainArgs {
    /// Validator API endpoints, comma separated, tried in order until one
    /// answers.
    #[arg(long, env = "LAMBDA_CHAIN", default_value = DEFAULT_CHAIN)]
    pub chain: String,
}

/// `ring` subcommands.
#[derive(Subcommand, Debug)]
pub enum RingCommand {
    /// The layouts a node serves (two or more during a membership change)
    /// and per node its weight, state and partition counts; with
    /// `--partition` or `--key`, that partition's preference lists.
    Show(RingArgs),
}

/// `ring show` arguments.
#[derive(clap::Args, Debug)]
pub struct RingArgs {
    /// The node to ask.
    #[command(flatten)]
    pub node: NodeArgs,
    /// The node's configuration file, for its `[placement]` parameters
    /// (default: the built-in ones and `LAMBDA_DB_PLACEMENT__*`).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Show the preference list of this partition.
    #[arg(long, conflicts_with = "key")]
    pub partition: Option<u32>,
    /// Show the preference list of this key's partition (the key's UTF-8
    /// bytes, hashed as the node hashes keys).
    #[arg(long)]
    pub key: Option<String>,
}

/// `hints` arguments.
#[derive(clap::Args, Debug)]
pub struct HintsArgs {
    /// The node to ask.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Ask every member the node knows and add up the hints per target.
    #[arg(long)]
    pub all: bool,
}

/// `aae` subcommands.
#[derive(Subcommand, Debug)]
pub enum AaeCommand {
    /// A node's anti-entropy progress: rounds, keys repaired, bytes, and per
    /// partition the time of the last exchange.
    Status {
        /// The node to ask.
        #[command(flatten)]
        node: NodeArgs,
        /// Most partitions listed in the table.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// `transfers` arguments.
#[derive(clap::Args, Debug)]
pub struct TransfersArgs {
    /// The node to ask.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Redraw live progress bars until the change is over.
    #[arg(long, short)]
    pub watch: bool,
    /// With --watch, stop after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub watch_timeout_s: u64,
}

/// `chain` subcommands.
#[derive(Subcommand, Debug)]
pub enum ChainCommand {
    /// Chain id, height, epoch, block time, validators, prices, min stake.
    Status(ChainArgs),
}

/// `pdp` subcommands.
#[derive(Subcommand, Debug)]
pub enum PdpCommand {
    /// Per storage node: audits passed and failed, paid, slashed, and the
    /// latest results.
    Results(PdpArgs),
}

/// `pdp results` arguments.
#[derive(clap::Args, Debug)]
pub struct PdpArgs {
    /// The validators to ask.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Only this node (its id, 40 hex digits); default: every member of the
    /// last `--epochs` epochs.
    #[arg(long)]
    pub node: Option<String>,
    /// Latest results listed per node.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    /// Without --node: the nodes of this many latest epochs' memberships
    /// (so that a node slashed out or gone still shows).
    #[arg(long, default_value_t = 4)]
    pub epochs: u64,
}

/// The owner's side of a pledge or unpledge.
#[derive(clap::Args, Debug)]
pub struct OwnerArgs {
    /// The node's configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The owner account's key file (never stored in the node config).
    #[arg(long)]
    pub owner_key: PathBuf,
    /// Fee of each transaction.
    #[arg(long, default_value_t = 1)]
    pub fee: u64,
    /// Seconds to wait for inclusion.
    #[arg(long, default_value_t = 60)]
    pub wait_secs: u64,
}

/// `pledge` arguments.
#[derive(clap::Args, Debug)]
pub struct PledgeArgs {
    /// The owner and the node's configuration.
    #[command(flatten)]
    pub owner: OwnerArgs,
    /// Stake moved from the owner's balance.
    #[arg(long)]
    pub stake: u64,
    /// Capacity in bytes.
    #[arg(long)]
    pub capacity: u64,
    /// Bandwidth in bytes per second.
    #[arg(long)]
    pub bandwidth: u64,
    /// Failure zone.
    #[arg(long)]
    pub zone: String,
    /// Advertised gRPC endpoint (default: the configured listen address).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Funds transferred from the owner to the node key's account for the
    /// fees of its offline reports (0: none).
    #[arg(long, default_value_t = 1_000)]
    pub node_funds: u64,
}

/// The node's configuration file and overrides.
#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    /// TOML configuration file; environment variables LAMBDA_DB_* override it.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the configuration).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// gRPC listen address (overrides the configuration).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

impl ConfigArgs {
    /// The effective configuration: defaults, file, environment, overrides.
    pub fn load(&self) -> Result<NodeConfig, lambda_common::config::ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_accepted_before_and_after_the_command() {
        let cli =
            Cli::try_parse_from(["lambda-db", "-o", "json", "ring", "show", "--key", "k"]).unwrap();
        assert_eq!(cli.output, Output::Json);
        let cli = Cli::try_parse_from(["lambda-db", "chain", "status", "-o", "json"]).unwrap();
        assert_eq!(cli.output, Output::Json);
        assert!(
            Cli::try_parse_from([
                "lambda-db",
                "ring",
                "show",
                "--key",
                "k",
                "--partition",
                "1"
            ])
            .is_err(),
            "--key and --partition exclude each other"
        );
    }
}
