//! The command line of `lambda-chain`: argument parsing and dispatch.
//!
//! - `setup`: `init`, `testnet`, `start`, `print-config`.
//! - `query`: the client commands (`status`, `account`, `block`, `tx`).
//! - `pdp`: `pdp-results`, the PDP audits recorded for a storage node.
//! - `output`: tables and JSON.

mod output;
mod pdp;
mod query;
mod setup;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use lambda_common::telemetry::{self, LogFormat};

pub(crate) use output::Format;

/// The default API endpoint of a local validator.
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:26657";

#[derive(Parser, Debug)]
#[command(
    name = "lambda-chain",
    version,
    about = "Lambda chain validator and client"
)]
pub(crate) struct Cli {
    /// Write logs as JSON lines (also LAMBDA_LOG_FORMAT=json).
    #[arg(long, global = true)]
    log_json: bool,
    /// Output of client commands.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a single-validator chain in a new home directory.
    Init(setup::InitArgs),
    /// Create the homes of N validators on this machine, one shared genesis
    /// and funded test accounts.
    Testnet(setup::TestnetArgs),
    /// Run a validator until SIGINT or SIGTERM.
    Start(HomeArgs),
    /// Print the effective configuration (file and environment) as TOML.
    PrintConfig(HomeArgs),
    /// Where the chain and the validator are.
    Status(EndpointArgs),
    /// An account's balance and nonces.
    Account {
        /// The address (40 hex digits).
        address: String,
        #[command(flatten)]
        endpoint: EndpointArgs,
    },
    /// A committed block.
    Block {
        /// Its height, or `latest`.
        height: String,
        #[command(flatten)]
        endpoint: EndpointArgs,
    },
    /// The PDP audits recorded for a storage node (pass or failure, payment,
    /// slash, auditing validator).
    PdpResults {
        /// The node id (40 hex digits: the address of its node key).
        node: String,
        #[command(flatten)]
        endpoint: EndpointArgs,
    },
    /// Sign and submit transactions.
    #[command(subcommand)]
    Tx(query::TxCommand),
}

/// A validator home.
#[derive(clap::Args, Debug)]
pub(crate) struct HomeArgs {
    /// The validator's home directory (holds config.toml).
    #[arg(long)]
    home: PathBuf,
}

/// Which validator API to talk to.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct EndpointArgs {
    /// The validator's API endpoint.
    #[arg(long, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

/// Runs a parsed command line.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    let format = if cli.log_json {
        LogFormat::Json
    } else {
        LogFormat::from_env()
    };
    let out = cli.output;
    match cli.command {
        Command::Init(a) => setup::init(&a, out),
        Command::Testnet(a) => setup::testnet(&a, out),
        Command::PrintConfig(a) => setup::print_config(&a.home),
        Command::Start(a) => {
            telemetry::init("info", format);
            runtime()?.block_on(setup::start(&a.home))
        }
        Command::Status(e) => runtime()?.block_on(query::status(&e.endpoint, out)),
        Command::Account { address, endpoint } => {
            runtime()?.block_on(query::account(&endpoint.endpoint, &address, out))
        }
        Command::Block { height, endpoint } => {
            runtime()?.block_on(query::block(&endpoint.endpoint, &height, out))
        }
        Command::PdpResults { node, endpoint } => {
            runtime()?.block_on(pdp::pdp_results(&endpoint.endpoint, &node, out))
        }
        Command::Tx(t) => runtime()?.block_on(query::tx(t, out)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Runtime::new().context("starting the async runtime")
}
