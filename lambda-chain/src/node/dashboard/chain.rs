//! The chain view (`GET /api/chain`): height, epoch, timing, the validator
//! set with voting power, the latest blocks and the latest transactions.
//!
//! Blocks are read from the store on every refresh (the latest
//! [`BLOCKS_SHOWN`]). Transactions are collected incrementally: each
//! refresh decodes only the blocks committed since the previous one (at
//! most [`TX_LOOKBACK`] blocks back at first), keeping the latest
//! [`TXS_SHOWN`], so an idle chain still shows its last transactions
//! without rescanning history.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

use crate::block::Block;
use crate::error::ChainError;
use crate::state::ChainState;
use crate::tx::{Tx, TxKind, codec};
use crate::types::Hash;

/// Latest blocks in the view.
pub(crate) const BLOCKS_SHOWN: u64 = 20;
/// Latest transactions in the view.
pub(crate) const TXS_SHOWN: usize = 20;
/// How far back the first refresh looks for transactions.
pub(crate) const TX_LOOKBACK: u64 = 2_000;

/// `/api/chain`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ChainView {
    /// Chain id.
    pub(crate) chain_id: String,
    /// Latest committed height.
    pub(crate) height: u64,
    /// The epoch in force (that of the next block).
    pub(crate) epoch: u64,
    /// Blocks per epoch.
    pub(crate) epoch_length: u64,
    /// Blocks left in the epoch after the latest one.
    pub(crate) blocks_left_in_epoch: u64,
    /// The configured target block time, ms.
    pub(crate) block_time_ms: u64,
    /// Mean interval between the shown blocks' times, ms.
    pub(crate) observed_block_interval_ms: Option<u64>,
    /// Time of the latest block (ms since the Unix epoch).
    pub(crate) latest_block_time_ms: u64,
    /// Hash of the latest block.
    pub(crate) latest_block_hash: String,
    /// Total voting power of the next height's set.
    pub(crate) total_power: u64,
    /// The validator set of the next height.
    pub(crate) validators: Vec<ValidatorRow>,
    /// The latest blocks, newest first.
    pub(crate) blocks: Vec<BlockRow>,
    /// The latest transactions, newest first.
    pub(crate) transactions: Vec<TxRow>,
}

/// One validator.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ValidatorRow {
    /// Address.
    pub(crate) address: String,
    /// Voting power.
    pub(crate) power: u64,
    /// `active` or `removed` (slashed; leaves at the epoch's end).
    pub(crate) status: &'static str,
    /// Blocks it proposed among the shown ones.
    pub(crate) proposed: usize,
}

/// One block.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct BlockRow {
    /// Height.
    pub(crate) height: u64,
    /// Hash.
    pub(crate) hash: String,
    /// Proposer's time, ms since the Unix epoch.
    pub(crate) time_ms: u64,
    /// Proposer.
    pub(crate) proposer: String,
    /// Transactions.
    pub(crate) txs: usize,
    /// Transactions by kind.
    pub(crate) kinds: BTreeMap<&'static str, usize>,
}

/// One committed transaction.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct TxRow {
    /// Height of its block.
    pub(crate) height: u64,
    /// Hash.
    pub(crate) hash: String,
    /// Kind.
    pub(crate) kind: &'static str,
    /// Sender.
    pub(crate) sender: String,
    /// Fee.
    pub(crate) fee: u64,
    /// A one-line summary (recipient and amount, node, epoch, …).
    pub(crate) summary: String,
}

/// Transactions seen by earlier refreshes.
#[derive(Debug, Default)]
pub(crate) struct RecentTxs {
    /// Height of the last block decoded.
    seen: u64,
    /// Newest last.
    txs: VecDeque<TxRow>,
}

fn short(s: &str) -> &str {
    s.get(..10).unwrap_or(s)
}

fn summary(kind: &TxKind) -> String {
    match kind {
        TxKind::Transfer(t) => format!("{} to {}…", t.amount, short(&t.to.to_string())),
        TxKind::Pledge(p) => format!(
            "node {}… in {}, stake {}",
            short(&p.node_id().to_string()),
            p.zone,
            p.stake
        ),
        TxKind::Unpledge { node } => format!("node {}…", short(&node.to_string())),
        TxKind::OfflineReport(r) => {
            format!("node {}…, epoch {}", short(&r.node.to_string()), r.epoch)
        }
        TxKind::OfflineVerdict(v) => {
            format!("node {}…, epoch {}", short(&v.node.to_string()), v.epoch)
        }
        TxKind::UsageSettlement(u) => {
            let requests: u64 = u.statement.entries.iter().map(|e| e.requests).sum();
            format!(
                "client {}…, epoch {}, {requests} requests",
                short(&u.client().to_string()),
                u.statement.epoch
            )
        }
        TxKind::RegisterContract(c) => format!(
            "{:?}, {} bytes, {} epochs",
            c.object_name, c.size_bytes, c.duration_epochs
        ),
        TxKind::PdpResult(r) => format!(
            "node {}…, epoch {}: {}",
            short(&r.node.to_string()),
            r.epoch,
            if r.passed { "passed" } else { "failed" }
        ),
        TxKind::SlashDoubleSign(e) => format!("validator {}…", short(&e.a.validator.to_string())),
    }
}

/// The transactions of `block`, in block order (undecodable ones skipped:
/// a committed block's transactions were checked when it was validated).
fn tx_rows(block: &Block) -> Vec<TxRow> {
    block
        .txs
        .iter()
        .filter_map(|bytes| {
            let tx = Tx::decode(bytes, usize::MAX).ok()?;
            let body = codec::decode_body(&tx.body_bytes, usize::MAX).ok()?;
            Some(TxRow {
                height: block.header.height,
                hash: Hash::digest(bytes).to_string(),
                kind: body.kind.name(),
                sender: tx.sender().to_string(),
                fee: body.fee,
                summary: summary(&body.kind),
            })
        })
        .collect()
}

impl RecentTxs {
    /// Decodes the blocks committed since the last call.
    fn follow(&mut self, state: &ChainState) -> Result<(), ChainError> {
        let latest = state.latest_height();
        let from = (self.seen + 1).max(latest.saturating_sub(TX_LOOKBACK) + 1);
        for h in from..=latest {
            if let Some(block) = state.block(h)? {
                self.txs.extend(tx_rows(&block));
                while self.txs.len() > TXS_SHOWN {
                    self.txs.pop_front();
                }
            }
        }
        self.seen = self.seen.max(latest);
        Ok(())
    }
}

/// The chain view of the committed state.
pub(crate) fn view(
    state: &ChainState,
    recent: &mut RecentTxs,
    block_time: Duration,
) -> Result<ChainView, ChainError> {
    recent.follow(state)?;
    let height = state.latest_height();
    let params = state.params();
    let mut blocks = Vec::new();
    for h in (height.saturating_sub(BLOCKS_SHOWN - 1).max(1)..=height).rev() {
        if let Some(b) = state.block(h)? {
            blocks.push(block_row(&b));
        }
    }
    let observed_block_interval_ms = match (blocks.first(), blocks.last()) {
        (Some(new), Some(old)) if blocks.len() > 1 => {
            Some(new.time_ms.saturating_sub(old.time_ms) / (blocks.len() as u64 - 1))
        }
        _ => None,
    };
    let set = state.validators_at(height + 1)?;
    let mut validators = Vec::with_capacity(set.len());
    for v in set.validators() {
        let address = v.address.to_string();
        let status = match state.validator(&v.address)?.map(|r| r.status) {
            Some(crate::state::ValidatorStatus::Removed) => "removed",
            _ => "active",
        };
        let proposed = blocks.iter().filter(|b| b.proposer == address).count();
        validators.push(ValidatorRow {
            address,
            power: v.power,
            status,
            proposed,
        });
    }
    let blocks_left_in_epoch = match height % params.epoch_length {
        0 => 0,
        r => params.epoch_length - r,
    };
    Ok(ChainView {
        chain_id: state.chain_id().to_string(),
        height,
        epoch: state.epoch_of(height + 1),
        epoch_length: params.epoch_length,
        blocks_left_in_epoch,
        block_time_ms: u64::try_from(block_time.as_millis()).unwrap_or(u64::MAX),
        observed_block_interval_ms,
        latest_block_time_ms: state.latest_time_ms(),
        latest_block_hash: state.latest_block_hash().to_string(),
        total_power: set.total_power(),
        validators,
        blocks,
        transactions: recent.txs.iter().rev().cloned().collect(),
    })
}

fn block_row(b: &Block) -> BlockRow {
    let txs = tx_rows(b);
    let mut kinds = BTreeMap::new();
    for t in &txs {
        *kinds.entry(t.kind).or_insert(0) += 1;
    }
    BlockRow {
        height: b.header.height,
        hash: b.hash().to_string(),
        time_ms: b.header.time_ms,
        proposer: b.header.proposer.to_string(),
        txs: b.txs.len(),
        kinds,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{EPOCH_LENGTH, Fixture};
    use super::*;

    #[test]
    fn blocks_transactions_and_validators_of_the_state() {
        let mut f = Fixture::new();
        let mut recent = RecentTxs::default();
        let v = view(&f.state, &mut recent, Duration::from_millis(300)).unwrap();
        let height = f.state.latest_height();
        assert_eq!(v.height, height);
        assert_eq!(v.chain_id, "dash-test");
        assert_eq!(v.epoch_length, EPOCH_LENGTH);
        assert_eq!(v.epoch, f.state.epoch_of(height + 1));
        assert_eq!(v.block_time_ms, 300);
        // The fixture's blocks are one second apart.
        assert_eq!(v.observed_block_interval_ms, Some(1_000));
        assert_eq!(v.blocks.len() as u64, height.min(BLOCKS_SHOWN));
        assert_eq!(v.blocks[0].height, height);
        assert!(v.blocks.windows(2).all(|w| w[0].height == w[1].height + 1));
        let me = f.validator.public().address().to_string();
        assert!(v.blocks.iter().all(|b| b.proposer == me));
        assert_eq!(v.validators.len(), 1);
        assert_eq!(v.validators[0].address, me);
        assert_eq!(v.validators[0].power, 100);
        assert_eq!(v.validators[0].proposed, v.blocks.len());

        // transfer, contract, usage + PDP pass, PDP fail: newest first.
        let kinds: Vec<&str> = v.transactions.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [
                "PDP result",
                "PDP result",
                "usage settlement",
                "contract registration",
                "transfer"
            ]
        );
        assert!(v.transactions[0].summary.ends_with("failed"));
        let client = f.client.public().address().to_string();
        assert_eq!(v.transactions[4].sender, client);
        assert!(v.transactions[4].summary.starts_with("500 to "));
        let with_txs: usize = v.blocks.iter().map(|b| b.txs).sum();
        assert_eq!(with_txs, 5);
        let last_two = &v.blocks[1];
        assert_eq!(last_two.kinds.get("PDP result"), Some(&1));
        assert_eq!(last_two.kinds.get("usage settlement"), Some(&1));

        // Later refreshes decode only new blocks and keep the old rows.
        f.finish_epoch();
        let t = f.tx(
            &f.client,
            TxKind::Transfer(crate::tx::kind::Transfer {
                to: f.owner(),
                amount: 7,
            }),
        );
        f.commit(&[t]);
        let v2 = view(&f.state, &mut recent, Duration::from_millis(300)).unwrap();
        assert_eq!(v2.transactions.len(), 6);
        assert!(v2.transactions[0].summary.starts_with("7 to "));
        assert_eq!(v2.blocks_left_in_epoch, EPOCH_LENGTH - 1);
    }

    #[test]
    fn a_chain_without_blocks_has_an_empty_view() {
        let f = Fixture::empty();
        let v = view(&f.state, &mut RecentTxs::default(), Duration::from_secs(5)).unwrap();
        assert_eq!(v.height, 0);
        assert!(v.blocks.is_empty() && v.transactions.is_empty());
        assert_eq!(v.observed_block_interval_ms, None);
        assert_eq!(v.validators.len(), 1);
    }
}
