//! What the node's parts share: the chain state, the mempool, the
//! validator's key, the latest committed height (which block subscribers
//! watch) and the outbound mempool gossip.
//!
//! Locking: the state is behind a read-write lock (commits write; building,
//! validating and every query read) and the mempool behind a mutex. Whoever
//! needs both takes the state first, and never takes the state's read lock
//! twice on one thread, so the two locks cannot deadlock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lambda_common::keys::{Address, SigningKey};
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};
use tokio::sync::watch;

use super::gossip::Gossip;
use crate::block::Block;
use crate::error::ChainError;
use crate::mempool::{Mempool, MempoolError};
use crate::state::ChainState;
use crate::tx::{Tx, TxError};
use crate::types::{Hash, Height};

/// Milliseconds since the Unix epoch by the local clock.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The shared core of a validator node.
pub(crate) struct NodeCore {
    /// The chain state.
    pub(crate) state: RwLock<ChainState>,
    /// Pending transactions.
    pub(crate) mempool: Mutex<Mempool>,
    /// The validator's key (consensus and account).
    pub(crate) key: SigningKey,
    /// Its address.
    pub(crate) address: Address,
    /// The height consensus works on (refreshed by the node's supervisor).
    pub(crate) consensus_height: AtomicU64,
    latest: watch::Sender<Height>,
    gossip: Gossip,
    max_block_txs: usize,
}

impl std::fmt::Debug for NodeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCore")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl NodeCore {
    /// A core over an opened state.
    pub(crate) fn new(
        state: ChainState,
        mempool: Mempool,
        key: SigningKey,
        gossip: Gossip,
        max_block_txs: usize,
    ) -> Self {
        let (latest, _) = watch::channel(state.latest_height());
        Self {
            address: key.public().address(),
            consensus_height: AtomicU64::new(state.latest_height() + 1),
            state: RwLock::new(state),
            mempool: Mutex::new(mempool),
            key,
            latest,
            gossip,
            max_block_txs: max_block_txs.max(1),
        }
    }

    /// Gossiped transactions: delivered, skipped (a peer's queue was full),
    /// lost (a call failed).
    pub(crate) fn gossip_totals(&self) -> (u64, u64, u64) {
        self.gossip.totals()
    }

    /// Watches the latest committed height.
    pub(crate) fn heights(&self) -> watch::Receiver<Height> {
        self.latest.subscribe()
    }

    /// The height consensus works on.
    pub(crate) fn consensus_height(&self) -> Height {
        self.consensus_height.load(Ordering::Relaxed)
    }

    /// Admits encoded transaction bytes into the mempool (a client's
    /// submission, or a peer's gossip) and, if `relay`, gossips them to the
    /// other validators. Returns the transaction hash.
    pub(crate) fn submit(&self, bytes: &[u8], relay: bool) -> Result<Hash, MempoolError> {
        let hash = Hash::digest(bytes);
        // Cheap before any decoding or signature check: gossip brings the
        // same transaction from several peers.
        if self.mempool.lock().contains(&hash) {
            return Err(MempoolError::Duplicate(hash));
        }
        {
            let state = self.state.read();
            let limit = state.params().max_tx_bytes;
            if bytes.len() as u64 > limit {
                return Err(TxError::TooLarge {
                    len: bytes.len(),
                    limit,
                }
                .into());
            }
            let tx = Tx::decode(bytes, usize::try_from(limit).unwrap_or(usize::MAX))
                .map_err(TxError::Malformed)?;
            self.mempool.lock().insert(tx, &state)?;
        }
        if relay {
            self.gossip.relay(bytes);
        }
        Ok(hash)
    }

    /// Builds the block this validator proposes at `height`.
    pub(crate) fn propose(&self, height: Height) -> Result<(Hash, Vec<u8>), ChainError> {
        let built = {
            let state = self.state.read();
            let max_bytes = usize::try_from(state.params().max_block_bytes).unwrap_or(usize::MAX);
            let candidates = self.mempool.lock().reap(self.max_block_txs, max_bytes);
            let last_commit = match height {
                0 | 1 => None,
                h => Some(state.certificate(h - 1)?.ok_or_else(|| {
                    ChainError::Missing(format!("commit certificate of height {}", h - 1))
                })?),
            };
            let time_ms = now_ms().max(state.min_next_time_ms()?);
            state.build_block(height, self.address, time_ms, &candidates, last_commit)?
        };
        if !built.dropped.is_empty() {
            let mut pool = self.mempool.lock();
            for (hash, reason) in &built.dropped {
                tracing::debug!(%hash, %reason, "invalid transaction dropped from the mempool");
                pool.remove(hash);
            }
        }
        tracing::debug!(height, hash = %built.hash, txs = built.block.txs.len(), deferred = built.deferred, "block proposed");
        Ok((built.hash, built.bytes))
    }

    /// Checks a proposed block: its bytes must hash to `hash` and it must be
    /// valid at `height` against the committed state and the local clock.
    pub(crate) fn validate(&self, height: Height, hash: Hash, bytes: &[u8]) -> Result<(), String> {
        let state = self.state.read();
        let limit = usize::try_from(state.params().max_block_bytes).unwrap_or(usize::MAX);
        let block = Block::decode(bytes, limit).map_err(|e| format!("malformed block: {e}"))?;
        let got = block.hash();
        if got != hash {
            return Err(format!("block bytes hash to {got}, not the claimed {hash}"));
        }
        if block.header.height != height {
            return Err(format!(
                "block is for height {}, expected {height}",
                block.header.height
            ));
        }
        state
            .validate_block(bytes, now_ms())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Commits a decided block with its certificate, rechecks the mempool
    /// and tells subscribers.
    pub(crate) fn commit(
        &self,
        hash: Hash,
        bytes: &[u8],
        cert: &crate::types::CommitCertificate,
    ) -> Result<(), ChainError> {
        let block = Block::decode(bytes, usize::MAX)
            .map_err(|e| ChainError::Block(crate::error::BlockError::Malformed(e)))?;
        if block.hash() != hash {
            return Err(ChainError::Block(
                crate::error::BlockError::CertificateTarget {
                    height: cert.height,
                    block: hash,
                    expected: block.hash(),
                },
            ));
        }
        let height = block.header.height;
        let mut state = self.state.write();
        state.commit_block(&block, cert)?;
        // The mempool is locked before the state is readable again: a
        // submission must never see the new nonces beside transactions the
        // recheck has yet to drop (it would refuse the sender's next nonce
        // as taken).
        let mut pool = self.mempool.lock();
        let state = RwLockWriteGuard::downgrade(state);
        match pool.recheck(&state) {
            Ok(dropped) => {
                tracing::debug!(height, dropped, "mempool rechecked");
            }
            Err(e) => tracing::error!(error = %e, height, "mempool recheck failed"),
        }
        drop(pool);
        drop(state);
        self.latest.send_replace(height);
        Ok(())
    }

    /// The next nonce of `sender`: its committed nonce plus its pending
    /// transactions.
    pub(crate) fn next_nonce(
        &self,
        state: &ChainState,
        sender: &Address,
    ) -> Result<u64, ChainError> {
        let committed = state.account(sender)?.nonce;
        Ok(committed + self.mempool.lock().pending_of(sender) as u64)
    }
}
