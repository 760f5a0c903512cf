//! `init`, `testnet`, `start` and `print-config`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use lambda_chain::node::config::NodeConfig;
use lambda_chain::node::home::{self, ChainOptions, TestnetOptions};
use lambda_common::shutdown::Shutdown;
use serde_json::json;

use super::output::{Format, print};

/// Options of the chain a command creates.
#[derive(clap::Args, Debug)]
pub(crate) struct ChainArgs {
    /// Chain id.
    #[arg(long, default_value = "lambda-devnet")]
    chain_id: String,
    /// Target block time in milliseconds (default: 5000 for `init`, 300
    /// for `testnet`).
    #[arg(long)]
    block_time_ms: Option<u64>,
    /// Blocks per epoch (default: the chain parameter's default, 100).
    #[arg(long)]
    epoch_length: Option<u64>,
}

impl ChainArgs {
    fn options(&self) -> ChainOptions {
        ChainOptions {
            chain_id: self.chain_id.clone(),
            block_time: self.block_time_ms.map(Duration::from_millis),
            epoch_length: self.epoch_length,
            ..ChainOptions::default()
        }
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct InitArgs {
    /// The new home directory.
    #[arg(long)]
    home: PathBuf,
    /// Validator (consensus) listen address.
    #[arg(long, default_value = "127.0.0.1:26656")]
    p2p: SocketAddr,
    /// Public API listen address.
    #[arg(long, default_value = "127.0.0.1:26657")]
    api: SocketAddr,
    #[command(flatten)]
    chain: ChainArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct TestnetArgs {
    /// Number of validators.
    validators: usize,
    /// Directory for the homes (`v0`, `v1`, …), `accounts/` and
    /// `testnet.json`.
    #[arg(long)]
    out: PathBuf,
    /// Validator i listens on P + 2i (validator port) and P + 2i + 1 (API).
    #[arg(long, default_value_t = 26_600)]
    base_port: u16,
    /// Funded test accounts whose keys are written to `accounts/`.
    #[arg(long, default_value_t = 4)]
    accounts: usize,
    #[command(flatten)]
    chain: ChainArgs,
}

pub(crate) fn init(a: &InitArgs, out: Format) -> anyhow::Result<()> {
    let address = home::init(&a.home, &a.chain.options(), a.p2p, a.api)?;
    print(
        out,
        vec![
            ("home", json!(a.home.display().to_string())),
            ("validator", json!(address.to_string())),
            ("chain_id", json!(a.chain.chain_id)),
            ("api", json!(format!("http://{}", a.api))),
            ("p2p", json!(a.p2p.to_string())),
            (
                "start",
                json!(format!("lambda-chain start --home {}", a.home.display())),
            ),
        ],
    )
}

pub(crate) fn testnet(a: &TestnetArgs, out: Format) -> anyhow::Result<()> {
    let opts = TestnetOptions {
        chain: a.chain.options(),
        validators: a.validators,
        accounts: a.accounts,
        base_port: a.base_port,
        ..TestnetOptions::default()
    };
    let t = home::testnet(&a.out, &opts)?;
    let homes: Vec<_> = t
        .validators
        .iter()
        .map(|v| {
            json!(format!(
                "{} api http://{} p2p {} validator {}",
                v.home.display(),
                v.api,
                v.p2p,
                v.address
            ))
        })
        .collect();
    print(
        out,
        vec![
            ("chain_id", json!(t.chain_id)),
            ("validators", json!(homes)),
            ("accounts", json!(t.accounts.len())),
            (
                "manifest",
                json!(a.out.join("testnet.json").display().to_string()),
            ),
        ],
    )
}

pub(crate) fn print_config(home: &Path) -> anyhow::Result<()> {
    let cfg = NodeConfig::load(home)?;
    print!("{}", lambda_common::config::to_toml(&cfg)?);
    Ok(())
}

pub(crate) async fn start(home: &Path) -> anyhow::Result<()> {
    let cfg = NodeConfig::load(home).with_context(|| format!("loading {}", home.display()))?;
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let node = lambda_chain::node::start(cfg, shutdown.token()).await?;
    node.task.await.context("validator task")??;
    Ok(())
}
