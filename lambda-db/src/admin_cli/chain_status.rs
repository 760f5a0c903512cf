//! `lambda-db chain status`: where the chain is, from the first validator
//! of `--chain` that answers — chain id, height, epoch and epoch length,
//! the block time observed over the latest blocks, the validator set with
//! voting power and stake, prices and the least stake of a storage node.
//!
//! The target block time is each validator's configuration and not on the
//! API; `block_time_ms` is the mean interval of the latest
//! [`BLOCK_WINDOW`] blocks' timestamps.

use lambda_chain::client::{ChainClient, ChainStatus, ClientError};
use lambda_chain::state::ValidatorStatus;
use serde_json::{Value, json};

use super::table::{Align, Table};
use super::{AdminError, chain_client, chain_error, first_answer};

/// Blocks over which the block time is measured.
pub const BLOCK_WINDOW: u64 = 20;

/// One validator of the set deciding the next height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorRow {
    /// Its address.
    pub address: String,
    /// Voting power.
    pub power: u64,
    /// Stake (`None` when the chain has no record of it).
    pub stake: Option<u64>,
    /// `active` or `removed`.
    pub standing: Option<&'static str>,
}

/// What `chain status` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainView {
    /// The validator endpoint that answered.
    pub endpoint: String,
    /// Its status.
    pub status: ChainStatus,
    /// The set deciding the next height.
    pub validators: Vec<ValidatorRow>,
    /// Mean block interval over the last `block_time_blocks` blocks.
    pub block_time_ms: Option<u64>,
    /// Blocks measured.
    pub block_time_blocks: u64,
}

/// Asks the validators of `endpoints` in turn.
pub async fn fetch(endpoints: &[String]) -> Result<ChainView, AdminError> {
    let (_, v) = first_answer(endpoints, "chain", |e| async move {
        let c = chain_client(&e)?;
        fetch_one(c, e.clone()).await.map_err(chain_error(&e))
    })
    .await?;
    Ok(v)
}

async fn fetch_one(mut c: ChainClient, endpoint: String) -> Result<ChainView, ClientError> {
    let status = c.status().await?;
    let (_, set) = c.validators(0).await?;
    let mut validators = Vec::with_capacity(set.len());
    for v in set.validators() {
        let record = match c.validator(v.address).await {
            Ok(r) => Some(r),
            Err(ClientError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        validators.push(ValidatorRow {
            address: v.address.to_string(),
            power: v.power,
            stake: record.as_ref().map(|r| r.stake),
            standing: record.map(|r| match r.status {
                ValidatorStatus::Active => "active",
                ValidatorStatus::Removed => "removed",
            }),
        });
    }
    let k = BLOCK_WINDOW.min(status.height.saturating_sub(1));
    let block_time_ms = if k == 0 {
        None
    } else {
        let old = c.block(status.height - k).await?;
        Some(
            status
                .latest_block_time_ms
                .saturating_sub(old.block.header.time_ms)
                / k,
        )
    };
    Ok(ChainView {
        endpoint,
        status,
        validators,
        block_time_ms,
        block_time_blocks: k,
    })
}

/// The first height of the epoch after the one being decided.
pub fn next_epoch_height(s: &ChainStatus) -> u64 {
    (s.epoch + 1) * s.epoch_length.max(1) + 1
}

/// The view as JSON (keys documented in the README).
pub fn json(v: &ChainView) -> Value {
    let s = &v.status;
    json!({
        "chain_id": s.chain_id,
        "genesis_hash": s.genesis_hash.to_string(),
        "height": s.height,
        "latest_block_hash": s.latest_block_hash.to_string(),
        "latest_block_time_ms": s.latest_block_time_ms,
        "epoch": s.epoch,
        "epoch_length": s.epoch_length,
        "next_epoch_height": next_epoch_height(s),
        "block_time_ms": v.block_time_ms,
        "block_time_blocks": v.block_time_blocks,
        "validator_count": v.validators.len(),
        "total_power": v.validators.iter().map(|x| x.power).sum::<u64>(),
        "validators": v.validators.iter().map(|x| json!({
            "address": x.address, "power": x.power, "stake": x.stake, "status": x.standing,
        })).collect::<Vec<_>>(),
        "price_per_request": s.price_per_request,
        "price_per_mib": s.price_per_mib,
        "min_node_stake": s.min_node_stake,
        "mempool_size": s.mempool_size,
        "mempool_bytes": s.mempool_bytes,
        "answered_by": {
            "endpoint": v.endpoint,
            "validator": s.validator.to_string(),
            "consensus_height": s.consensus_height,
        },
    })
}

/// The view as a table: the chain's figures, then the validators.
pub fn table(v: &ChainView) -> String {
    let s = &v.status;
    let block_time = v.block_time_ms.map_or_else(
        || "-".to_string(),
        |ms| format!("{ms} ms (mean of the last {} blocks)", v.block_time_blocks),
    );
    let mut t = Table::new(&[("", Align::Left), ("", Align::Left)]);
    for (k, val) in [
        ("chain", s.chain_id.clone()),
        ("height", format!("{} ({})", s.height, s.latest_block_hash)),
        (
            "epoch",
            format!(
                "{} of {} blocks, next at height {}",
                s.epoch,
                s.epoch_length,
                next_epoch_height(s)
            ),
        ),
        ("block time", block_time),
        (
            "prices",
            format!(
                "{} per request, {} per MiB",
                s.price_per_request, s.price_per_mib
            ),
        ),
        ("min node stake", s.min_node_stake.to_string()),
        (
            "mempool",
            format!("{} txs, {} bytes", s.mempool_size, s.mempool_bytes),
        ),
        ("answered by", format!("{} ({})", v.endpoint, s.validator)),
    ] {
        t.row(vec![k.into(), val]);
    }
    let mut out = t.render_rows();
    out.push('\n');
    let mut vt = Table::new(&[
        ("VALIDATOR", Align::Left),
        ("POWER", Align::Right),
        ("STAKE", Align::Right),
        ("STATUS", Align::Left),
    ]);
    for x in &v.validators {
        vt.row(vec![
            x.address.clone(),
            x.power.to_string(),
            x.stake.map_or_else(|| "-".into(), |s| s.to_string()),
            x.standing.unwrap_or("-").into(),
        ]);
    }
    out.push_str(&vt.render());
    out
}
