//! `lambda-chain-consensus-test`: one validator running the consensus
//! runner with the test application, for multi-process tests and local
//! experiments (the real `lambda-chain` daemon glues the runner to the
//! state machine instead).
//!
//! ```text
//! lambda-chain-consensus-test --config node.toml
//! ```
//!
//! The file holds `key` (the validator's `ed25519:<hex seed>`),
//! `validators` (public keys, equal power) and a `[runner]` section (data
//! directory, listen address, `[runner.engine]`, `[runner.network]` with
//! `peers`). Environment variables `LAMBDA_CHAIN_TEST_…` override it.
//! Committed blocks are kept in `<data_dir>/blocks`, so a restarted process
//! resumes its chain. SIGINT/SIGTERM stop it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use lambda_chain::consensus::app::TestApp;
use lambda_chain::consensus::runner::{Runner, RunnerConfig};
use lambda_chain::types::{Validator, ValidatorSet};
use lambda_common::keys::{PublicKey, SigningKey};
use lambda_common::shutdown::Shutdown;
use lambda_common::telemetry::{self, LogFormat};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(about = "Run one validator of the consensus test network")]
struct Args {
    /// The node's configuration file.
    #[arg(long)]
    config: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct NodeConfig {
    key: String,
    validators: Vec<PublicKey>,
    runner: RunnerConfig,
}

#[tokio::main]
async fn main() -> Result<()> {
    telemetry::init("info", LogFormat::from_env());
    let args = Args::parse();
    let cfg: NodeConfig = lambda_common::config::load(Some(&args.config), "LAMBDA_CHAIN_TEST_")?;
    let key: SigningKey = cfg.key.parse().context("key")?;
    let set = ValidatorSet::new(
        cfg.validators
            .iter()
            .map(|k| Validator::new(*k, 10))
            .collect(),
    )
    .context("validators")?;
    let tag = set
        .validators()
        .iter()
        .position(|v| v.address == key.public().address())
        .unwrap_or(usize::MAX) as u64;
    let app = TestApp::new(set, tag)
        .persistent(cfg.runner.data_dir.join("blocks"))
        .context("opening the block store")?;
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let handle = Runner::start(cfg.runner, Arc::new(app), key, shutdown.token()).await?;
    tracing::info!(addr = %handle.addr, validator = %handle.validator, "listening");
    handle.task.await.context("runner task")??;
    Ok(())
}
