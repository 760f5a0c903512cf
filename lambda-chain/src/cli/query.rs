//! The client commands: `status`, `account`, `block` and `tx transfer`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use lambda_chain::client::{ChainClient, TxStatus};
use lambda_common::keys::{Address, SigningKey};
use serde_json::json;

use super::EndpointArgs;
use super::output::{Format, print};

/// Transactions.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum TxCommand {
    /// Move funds from the key's account to another.
    Transfer(TransferArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct TransferArgs {
    /// Key file of the sender (`ed25519:<hex seed>`).
    #[arg(long)]
    from: PathBuf,
    /// The recipient's address (40 hex digits).
    #[arg(long)]
    to: String,
    /// Amount in base units.
    #[arg(long)]
    amount: u64,
    /// Fee in base units.
    #[arg(long, default_value_t = 1)]
    fee: u64,
    /// Wait (up to this many seconds) until the transfer is committed.
    #[arg(long)]
    wait: Option<u64>,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

async fn connect(endpoint: &str) -> anyhow::Result<ChainClient> {
    Ok(ChainClient::connect(endpoint).await?)
}

pub(crate) async fn status(endpoint: &str, out: Format) -> anyhow::Result<()> {
    let s = connect(endpoint).await?.status().await?;
    print(
        out,
        vec![
            ("chain_id", json!(s.chain_id)),
            ("height", json!(s.height)),
            ("latest_block_hash", json!(s.latest_block_hash.to_string())),
            ("latest_block_time_ms", json!(s.latest_block_time_ms)),
            ("epoch", json!(s.epoch)),
            ("validator_count", json!(s.validator_count)),
            ("mempool_size", json!(s.mempool_size)),
            ("mempool_bytes", json!(s.mempool_bytes)),
            ("validator", json!(s.validator.to_string())),
            ("consensus_height", json!(s.consensus_height)),
            ("epoch_length", json!(s.epoch_length)),
            ("genesis_hash", json!(s.genesis_hash.to_string())),
        ],
    )
}

pub(crate) async fn account(endpoint: &str, address: &str, out: Format) -> anyhow::Result<()> {
    let a: Address = address.parse().context("address")?;
    let v = connect(endpoint).await?.account(a).await?;
    print(
        out,
        vec![
            ("address", json!(v.address.to_string())),
            ("height", json!(v.height)),
            ("balance", json!(v.account.balance)),
            ("nonce", json!(v.account.nonce)),
            ("next_nonce", json!(v.next_nonce)),
        ],
    )
}

pub(crate) async fn block(endpoint: &str, height: &str, out: Format) -> anyhow::Result<()> {
    let h: u64 = if height == "latest" {
        0
    } else {
        height
            .parse()
            .context("height must be a number or `latest`")?
    };
    let b = connect(endpoint).await?.block(h).await?;
    let hdr = &b.block.header;
    let signers: Vec<String> = b
        .certificate
        .signatures
        .iter()
        .map(|s| s.validator.to_string())
        .collect();
    print(
        out,
        vec![
            ("height", json!(b.height)),
            ("hash", json!(b.hash.to_string())),
            ("parent_hash", json!(hdr.parent_hash.to_string())),
            ("time_ms", json!(hdr.time_ms)),
            ("proposer", json!(hdr.proposer.to_string())),
            ("tx_root", json!(hdr.tx_root.to_string())),
            ("state_root", json!(hdr.state_root.to_string())),
            (
                "txs",
                json!(
                    b.tx_hashes
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                ),
            ),
            ("commit_round", json!(b.certificate.round)),
            ("commit_signers", json!(signers)),
        ],
    )
}

pub(crate) async fn tx(cmd: TxCommand, out: Format) -> anyhow::Result<()> {
    match cmd {
        TxCommand::Transfer(a) => transfer(a, out).await,
    }
}

async fn transfer(a: TransferArgs, out: Format) -> anyhow::Result<()> {
    let key = SigningKey::load(&a.from)?;
    let to: Address = a.to.parse().context("--to")?;
    let mut c = connect(&a.endpoint.endpoint).await?;
    let hash = c.transfer(&key, to, a.amount, a.fee).await?;
    let mut fields = vec![
        ("tx_hash", json!(hash.to_string())),
        ("from", json!(key.public().address().to_string())),
        ("to", json!(to.to_string())),
        ("amount", json!(a.amount)),
    ];
    if let Some(secs) = a.wait {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let TxStatus::Committed { height, .. } = c.tx(hash).await? {
                fields.push(("height", json!(height)));
                break;
            }
            if Instant::now() > deadline {
                bail!("transaction {hash} not committed within {secs} s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    print(out, fields)
}
