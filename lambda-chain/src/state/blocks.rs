//! Building, validating and committing blocks (the `ChainState` methods
//! consensus calls), and the header checks they share.

use std::sync::Arc;

use lambda_common::keys::Address;
use tracing::{debug, info};

use super::exec::{ExecError, Executor};
use super::store::{Batch, Cf, height_key};
use super::{BuiltBlock, CACHE_ENTRIES, ChainState, Executed, Tip, commitment, store};
use crate::block::{Block, BlockHeader, tx_overhead, tx_root};
use crate::codec::encode_commit;
use crate::error::{BlockError, ChainError};
use crate::tx::{Tx, TxError};
use crate::types::{CommitCertificate, Hash, Height, ValidatorSet};

/// Transactions packed into a block being built.
#[derive(Default)]
struct Packed {
    txs: Vec<Vec<u8>>,
    tx_hashes: Vec<Hash>,
    dropped: Vec<(Hash, TxError)>,
    deferred: usize,
}

impl ChainState {
    fn check_last_commit(
        &self,
        header: &BlockHeader,
        last_commit: Option<&CommitCertificate>,
    ) -> Result<(), ChainError> {
        let h = header.height;
        let cert = match (h, last_commit) {
            (1, None) if header.last_commit_hash.is_none() => return Ok(()),
            (1, _) => {
                return Err(BlockError::LastCommitPresence("must be absent at height 1").into());
            }
            (_, None) => return Err(BlockError::LastCommitPresence("is missing").into()),
            (_, Some(c)) => c,
        };
        if cert.height != h - 1 || cert.block_hash != header.parent_hash {
            return Err(BlockError::LastCommitTarget {
                height: cert.height,
                block: cert.block_hash,
                parent: header.parent_hash,
            }
            .into());
        }
        if header.last_commit_hash != Some(cert.digest()) {
            return Err(BlockError::LastCommitDigest.into());
        }
        let set = self.validators_at(h - 1)?;
        cert.verify(self.chain_id(), &set)
            .map_err(|e| BlockError::LastCommitInvalid(e).into())
    }

    /// Checks a header against the chain (everything but the roots) and
    /// returns the validator set of its height.
    fn check_context(
        &self,
        header: &BlockHeader,
        last_commit: Option<&CommitCertificate>,
    ) -> Result<ValidatorSet, ChainError> {
        if header.chain_id != self.chain_id() {
            return Err(BlockError::WrongChainId {
                expected: self.chain_id().to_string(),
                got: header.chain_id.clone(),
            }
            .into());
        }
        let expected = self.tip.height + 1;
        if header.height != expected {
            return Err(BlockError::WrongHeight {
                expected,
                got: header.height,
            }
            .into());
        }
        if header.parent_hash != self.tip.hash {
            return Err(BlockError::WrongParent {
                expected: self.tip.hash,
                got: header.parent_hash,
            }
            .into());
        }
        let set = self.validators_at(header.height)?;
        if set.get(&header.proposer).is_none() {
            return Err(BlockError::UnknownProposer(header.proposer).into());
        }
        if header.validators_digest != set.digest() {
            return Err(BlockError::WrongValidators {
                expected: set.digest(),
                got: header.validators_digest,
            }
            .into());
        }
        self.check_last_commit(header, last_commit)?;
        let median_ms = self.median_before(header.height)?;
        if header.time_ms <= median_ms {
            return Err(BlockError::TimeTooOld {
                time_ms: header.time_ms,
                median_ms,
            }
            .into());
        }
        Ok(set)
    }

    /// Executes a block that claims to follow the tip; checks everything but
    /// the size and the future-time bound.
    fn execute(&self, block: &Block) -> Result<Executed, ChainError> {
        let header = &block.header;
        let set = self.check_context(header, block.last_commit.as_ref())?;
        let expected = tx_root(&block.txs);
        if header.tx_root != expected {
            return Err(BlockError::WrongTxRoot {
                expected,
                got: header.tx_root,
            }
            .into());
        }
        let ctx = self.block_ctx(header.height, header.proposer, set);
        let mut ex = Executor::new(&self.store, ctx);
        let mut tx_hashes = Vec::with_capacity(block.txs.len());
        for (index, bytes) in block.txs.iter().enumerate() {
            match ex.apply(bytes) {
                Ok(v) => tx_hashes.push(v.hash),
                Err(ExecError::Tx(reason)) => {
                    return Err(BlockError::InvalidTx {
                        index,
                        hash: Hash::digest(bytes),
                        reason,
                    }
                    .into());
                }
                Err(ExecError::Fatal(e)) => return Err(e),
            }
        }
        let diff = ex.finish()?;
        let update = commitment::compute(&self.store, &self.buckets, &diff)?;
        if update.root != header.state_root {
            return Err(BlockError::WrongStateRoot {
                expected: update.root,
                got: header.state_root,
            }
            .into());
        }
        Ok(Executed {
            diff,
            update,
            tx_hashes,
        })
    }

    /// The execution cached for a block with this header, if any. The cache
    /// is keyed by the header hash, so the body must be checked against the
    /// header first: its transactions against the tx root, its last commit
    /// against the last-commit digest (both collision resistant).
    fn cached_for(&self, block: &Block) -> Result<Option<Arc<Executed>>, BlockError> {
        let Some(executed) = self.cached(&block.hash()) else {
            return Ok(None);
        };
        let expected = tx_root(&block.txs);
        if block.header.tx_root != expected {
            return Err(BlockError::WrongTxRoot {
                expected,
                got: block.header.tx_root,
            });
        }
        if block.last_commit.as_ref().map(CommitCertificate::digest)
            != block.header.last_commit_hash
        {
            return Err(match block.last_commit {
                None => BlockError::LastCommitPresence("is missing"),
                Some(_) => BlockError::LastCommitDigest,
            });
        }
        Ok(Some(executed))
    }

    fn cached(&self, hash: &Hash) -> Option<Arc<Executed>> {
        self.cache
            .lock()
            .iter()
            .find(|(h, _)| h == hash)
            .map(|(_, e)| Arc::clone(e))
    }

    fn remember(&self, hash: Hash, executed: Arc<Executed>) {
        let mut cache = self.cache.lock();
        if cache.iter().any(|(h, _)| *h == hash) {
            return;
        }
        if cache.len() >= CACHE_ENTRIES {
            cache.remove(0);
        }
        cache.push((hash, executed));
    }

    /// Executes candidates in order into `ex`, keeping the valid ones that
    /// fit in `max_block_bytes` after `base` bytes of header and commit.
    fn pack(
        &self,
        ex: &mut Executor<'_>,
        candidates: &[Tx],
        base: usize,
    ) -> Result<Packed, ChainError> {
        let limit = usize::try_from(self.params().max_block_bytes).unwrap_or(usize::MAX);
        let mut size = base;
        let mut p = Packed::default();
        for tx in candidates {
            let bytes = tx.encode();
            let add = tx_overhead(bytes.len());
            if size + add > limit {
                p.deferred += 1;
                continue;
            }
            match ex.apply(&bytes) {
                Ok(v) => {
                    size += add;
                    p.tx_hashes.push(v.hash);
                    p.txs.push(bytes);
                }
                Err(ExecError::Tx(reason)) => p.dropped.push((Hash::digest(&bytes), reason)),
                Err(ExecError::Fatal(e)) => return Err(e),
            }
        }
        Ok(p)
    }

    /// Builds the block of `height` (the next one) proposed by `proposer` at
    /// `time_ms`: executes `candidates` in order, drops the invalid ones,
    /// leaves out those that would pass `max_block_bytes`, and fills in the
    /// roots. `last_commit` must certify the previous block (None at
    /// height 1); `time_ms` must pass the median rule (see
    /// [`ChainState::min_next_time_ms`]).
    pub fn build_block(
        &self,
        height: Height,
        proposer: Address,
        time_ms: u64,
        candidates: &[Tx],
        last_commit: Option<CommitCertificate>,
    ) -> Result<BuiltBlock, ChainError> {
        let expected = self.tip.height + 1;
        if height != expected {
            return Err(BlockError::WrongHeight {
                expected,
                got: height,
            }
            .into());
        }
        let mut header = BlockHeader {
            chain_id: self.chain_id().to_string(),
            height,
            parent_hash: self.tip.hash,
            tx_root: Hash::default(),
            state_root: Hash::default(),
            proposer,
            time_ms,
            validators_digest: self.validators_at(height)?.digest(),
            last_commit_hash: last_commit.as_ref().map(CommitCertificate::digest),
        };
        let set = self.check_context(&header, last_commit.as_ref())?;
        let mut block = Block {
            header: header.clone(),
            txs: Vec::new(),
            last_commit,
        };
        let mut ex = Executor::new(&self.store, self.block_ctx(height, proposer, set));
        let packed = self.pack(&mut ex, candidates, block.encode().len())?;
        let Packed {
            txs,
            tx_hashes,
            dropped,
            deferred,
        } = packed;
        block.txs = txs;
        let diff = ex.finish()?;
        let update = commitment::compute(&self.store, &self.buckets, &diff)?;
        header.tx_root = tx_root(&block.txs);
        header.state_root = update.root;
        block.header = header;
        let bytes = block.encode();
        let hash = block.hash();
        debug!(height, %hash, txs = block.txs.len(), dropped = dropped.len(), deferred, "built block");
        let executed = Executed {
            diff,
            update,
            tx_hashes,
        };
        self.remember(hash, Arc::new(executed));
        Ok(BuiltBlock {
            block,
            bytes,
            hash,
            dropped,
            deferred,
        })
    }

    /// Validates a proposed block completely (see the module docs) against
    /// the committed state and the validator's clock `now_ms` (only for the
    /// future bound). Returns the decoded block.
    pub fn validate_block(&self, block_bytes: &[u8], now_ms: u64) -> Result<Block, ChainError> {
        let limit = self.params().max_block_bytes;
        if block_bytes.len() as u64 > limit {
            return Err(BlockError::TooLarge {
                len: block_bytes.len(),
                limit,
            }
            .into());
        }
        let block = Block::decode(block_bytes, usize::try_from(limit).unwrap_or(usize::MAX))
            .map_err(BlockError::Malformed)?;
        let max_future_ms = self.params().max_future_ms;
        if block.header.time_ms > now_ms.saturating_add(max_future_ms) {
            return Err(BlockError::TimeInFuture {
                time_ms: block.header.time_ms,
                now_ms,
                max_future_ms,
            }
            .into());
        }
        if self.cached_for(&block)?.is_none() {
            let executed = self.execute(&block)?;
            self.remember(block.hash(), Arc::new(executed));
        }
        Ok(block)
    }

    /// Commits `block` with the certificate that decided it: checks the
    /// certificate against the height's validators, executes the block
    /// unless it was built or validated since the last commit, and writes
    /// everything in one atomic, synced batch.
    pub fn commit_block(
        &mut self,
        block: &Block,
        cert: &CommitCertificate,
    ) -> Result<(), ChainError> {
        let hash = block.hash();
        let height = block.header.height;
        if cert.height != height || cert.block_hash != hash {
            return Err(BlockError::CertificateTarget {
                height: cert.height,
                block: cert.block_hash,
                expected: hash,
            }
            .into());
        }
        let set = self.validators_at(height)?;
        cert.verify(self.chain_id(), &set)
            .map_err(BlockError::CertificateInvalid)?;
        let executed = match self.cached_for(block)? {
            Some(e) => e,
            None => Arc::new(self.execute(block)?),
        };
        let mut batch = Batch::default();
        commitment::write(&mut batch, &executed.diff, &executed.update);
        batch.put(Cf::Blocks, height_key(height), block.encode());
        batch.put(Cf::Headers, height_key(height), block.header.encode());
        batch.put(Cf::Certs, height_key(height), encode_commit(cert));
        for (i, th) in executed.tx_hashes.iter().enumerate() {
            let mut loc = height_key(height);
            loc.extend_from_slice(&(i as u32).to_be_bytes());
            batch.put(Cf::Txs, th.0.to_vec(), loc);
        }
        batch.put(Cf::Meta, store::META_HEIGHT.to_vec(), height_key(height));
        self.store.write(batch)?;
        for (b, h) in &executed.update.buckets {
            self.buckets[usize::from(*b)] = *h;
        }
        self.tip = Tip {
            height,
            hash,
            state_root: executed.update.root,
            time_ms: block.header.time_ms,
        };
        self.cache.lock().clear();
        info!(height, %hash, txs = block.txs.len(), root = %executed.update.root, "committed block");
        Ok(())
    }
}
