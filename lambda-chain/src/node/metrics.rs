//! The validator's metrics and health on the admin HTTP port
//! (`lambda_common::admin_http`).
//!
//! A task follows the committed height and reads each new block from the
//! state: height, block interval (header times), transactions committed by
//! kind, PDP results passed and failed. Mempool size and the consensus
//! height are sampled on every commit and on every `/health` check. The validator is *ready* while blocks keep being committed: no new
//! block for `stall_after` means consensus is stalled or this validator has
//! fallen behind, and `/health` says which height it is stuck at.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_common::admin_http::{HealthCheck, HealthReport};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use super::core::{NodeCore, now_ms};
use crate::block::Block;
use crate::tx::{Tx, TxKind, codec};

/// The validator's metric handles.
#[derive(Clone, Debug)]
pub(crate) struct ChainMetrics {
    height: Gauge,
    blocks: Counter,
    txs: Family<Vec<(String, String)>, Counter>,
    block_interval: Histogram,
    pdp: Family<Vec<(String, String)>, Counter>,
    mempool_txs: Gauge,
    consensus_height: Gauge,
    last_commit_ms: Arc<AtomicU64>,
}

impl ChainMetrics {
    /// Creates the handles and registers them in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            height: Gauge::default(),
            blocks: Counter::default(),
            txs: Family::default(),
            block_interval: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
            pdp: Family::default(),
            mempool_txs: Gauge::default(),
            consensus_height: Gauge::default(),
            last_commit_ms: Arc::new(AtomicU64::new(now_ms())),
        };
        // Both outcomes exist from the start, so that dashboards show zero
        // rather than no data before the first audit.
        for outcome in ["passed", "failed"] {
            let _ = m
                .pdp
                .get_or_create(&vec![("outcome".into(), outcome.into())]);
        }
        let r = registry.sub_registry_with_prefix("lambda_chain");
        r.register("height", "Latest committed height", m.height.clone());
        r.register("blocks", "Blocks committed since start", m.blocks.clone());
        r.register(
            "transactions",
            "Transactions committed, by kind",
            m.txs.clone(),
        );
        r.register(
            "block_interval_seconds",
            "Time between consecutive block headers",
            m.block_interval.clone(),
        );
        r.register(
            "pdp_results",
            "PDP results committed, by outcome",
            m.pdp.clone(),
        );
        r.register(
            "mempool_transactions",
            "Transactions waiting in the mempool",
            m.mempool_txs.clone(),
        );
        r.register(
            "consensus_height",
            "Height this validator's consensus works on",
            m.consensus_height.clone(),
        );
        m
    }

    fn record_block(&self, block: &Block, previous_time_ms: Option<u64>) {
        self.blocks.inc();
        self.height
            .set(i64::try_from(block.header.height).unwrap_or(i64::MAX));
        if let Some(prev) = previous_time_ms {
            let secs = block.header.time_ms.saturating_sub(prev) as f64 / 1000.0;
            self.block_interval.observe(secs);
        }
        for bytes in &block.txs {
            let Ok(tx) = Tx::decode(bytes, usize::MAX) else {
                continue;
            };
            let Ok(body) = codec::decode_body(&tx.body_bytes, usize::MAX) else {
                continue;
            };
            let kind = body.kind.name().replace(' ', "_");
            self.txs.get_or_create(&vec![("kind".into(), kind)]).inc();
            if let TxKind::PdpResult(r) = &body.kind {
                let outcome = if r.passed { "passed" } else { "failed" };
                self.pdp
                    .get_or_create(&vec![("outcome".into(), outcome.into())])
                    .inc();
            }
        }
    }

    /// Samples the mempool size and the consensus height into their gauges.
    fn sample(&self, core: &NodeCore) -> (u64, u64) {
        let consensus = core.consensus_height.load(Ordering::Relaxed);
        let pending = core.mempool.lock().len() as u64;
        self.mempool_txs
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.consensus_height
            .set(i64::try_from(consensus).unwrap_or(i64::MAX));
        (pending, consensus)
    }

    /// The `/health` check: ready while blocks keep coming.
    pub(crate) fn health(&self, core: Arc<NodeCore>, stall_after: Duration) -> HealthCheck {
        let me = self.clone();
        Arc::new(move || {
            let height = core.state.read().latest_height();
            let consensus = core.consensus_height.load(Ordering::Relaxed);
            let pending = core.mempool.lock().len() as u64;
            me.mempool_txs
                .set(i64::try_from(pending).unwrap_or(i64::MAX));
            me.consensus_height
                .set(i64::try_from(consensus).unwrap_or(i64::MAX));
            let idle_ms = now_ms().saturating_sub(me.last_commit_ms.load(Ordering::Relaxed));
            let detail = serde_json::json!({
                "height": height,
                "consensus_height": consensus,
                "mempool_transactions": pending,
                "ms_since_last_commit": idle_ms,
            });
            if u128::from(idle_ms) > stall_after.as_millis() {
                HealthReport::not_ready(
                    format!(
                        "no block committed for {idle_ms} ms (stuck after height {height}); consensus is stalled or this validator is behind"
                    ),
                    detail,
                )
            } else {
                HealthReport::ready(detail)
            }
        })
    }
}

/// Follows committed heights and records each block until `shutdown`.
pub(crate) async fn follow(core: Arc<NodeCore>, m: ChainMetrics, shutdown: CancellationToken) {
    let mut latest = core.heights();
    let mut seen = core.state.read().latest_height();
    m.height.set(i64::try_from(seen).unwrap_or(i64::MAX));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = latest.changed() => if changed.is_err() { return },
        }
        let now = *latest.borrow_and_update();
        m.last_commit_ms.store(now_ms(), Ordering::Relaxed);
        m.sample(&core);
        while seen < now {
            seen += 1;
            let read = {
                let state = core.state.read();
                let prev = state.header(seen - 1).ok().flatten().map(|h| h.time_ms);
                let block = state.block_bytes(seen).ok().flatten();
                (prev, block)
            };
            if let (prev, Some(bytes)) = read
                && let Ok(block) = Block::decode(&bytes, usize::MAX)
            {
                m.record_block(&block, prev);
            }
        }
    }
}
