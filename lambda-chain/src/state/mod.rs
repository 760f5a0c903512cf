//! The chain state machine on RocksDB: what consensus calls to check
//! transactions, build, validate and commit blocks, and what the node reads.
//!
//! - [`ChainState::open`] opens (or initialises from the genesis) a data
//!   directory; reopening with another genesis is refused.
//! - [`ChainState::check_tx`] runs a transaction against the committed state
//!   as the next transaction of its sender (mempool admission).
//! - [`ChainState::build_block`] executes candidate transactions for a new
//!   block, drops the invalid ones, respects the size limit and fills in the
//!   transaction and state roots.
//! - [`ChainState::validate_block`] checks a proposed block completely:
//!   size, strict decoding, chain id, height, parent, proposer, validator
//!   digest, last commit against the previous height's validators, the time
//!   rule, the transaction root, every transaction, the state root.
//! - [`ChainState::commit_block`] writes a block, its certificate, its state
//!   changes, the new commitment and indexes in one atomic write batch. A
//!   crash between blocks leaves the directory at the last committed block.
//!
//! Executions of `build_block` and `validate_block` are cached by block hash
//! until the next commit, so committing a validated block does not execute
//! it again.

mod blocks;
pub mod commitment;
mod epoch;
mod exec;
mod keys;
mod overlay;
mod query;
pub mod records;
mod store;

use std::path::Path;
use std::sync::Arc;

use lambda_common::keys::Address;
use parking_lot::Mutex;
use tracing::info;

use crate::block::{self, Block, median_time};
use crate::error::ChainError;
use crate::genesis::Genesis;
use crate::params::ChainParams;
use crate::tx::{Tx, TxError, VerifiedTx};
use crate::types::{Hash, Height, ValidatorSet};
use commitment::{Diff, RootUpdate};
use exec::{BlockCtx, ExecError, Executor};
use overlay::Overlay;
use store::{Batch, Cf, Store, height_key, read_u64};

pub use exec::{contract_id, cycle_payment};
pub use records::*;

/// How to open the state.
#[derive(Clone, Debug)]
pub struct StateOptions {
    /// fsync every commit (default true; tests may turn it off).
    pub sync_writes: bool,
}

impl Default for StateOptions {
    fn default() -> Self {
        Self { sync_writes: true }
    }
}

/// A block built by [`ChainState::build_block`].
#[derive(Clone, Debug)]
pub struct BuiltBlock {
    /// The block.
    pub block: Block,
    /// Its encoding (what consensus agrees on).
    pub bytes: Vec<u8>,
    /// Its hash.
    pub hash: Hash,
    /// Candidates dropped as invalid, with the reason.
    pub dropped: Vec<(Hash, TxError)>,
    /// Valid-looking candidates left out because the block was full.
    pub deferred: usize,
}

/// The last committed block (or the genesis).
#[derive(Clone, Debug)]
struct Tip {
    height: Height,
    hash: Hash,
    state_root: Hash,
    time_ms: u64,
}

/// The result of executing a block, kept until the next commit.
struct Executed {
    diff: Diff,
    update: RootUpdate,
    tx_hashes: Vec<Hash>,
}

/// The chain state.
pub struct ChainState {
    store: Store,
    genesis: Genesis,
    genesis_hash: Hash,
    tip: Tip,
    buckets: Vec<Hash>,
    cache: Mutex<Vec<(Hash, Arc<Executed>)>>,
}

impl std::fmt::Debug for ChainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainState")
            .field("chain_id", &self.genesis.chain_id)
            .field("tip", &self.tip)
            .finish()
    }
}

/// Most executions kept between commits (one per proposal seen).
const CACHE_ENTRIES: usize = 8;

fn exec_err(e: ExecError) -> ChainError {
    match e {
        ExecError::Tx(e) => ChainError::Tx(e),
        ExecError::Fatal(e) => e,
    }
}

impl ChainState {
    /// Opens the state in `dir`, initialising it from `genesis` if empty.
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<Self, ChainError> {
        Self::open_with(dir, genesis, StateOptions::default())
    }

    /// [`ChainState::open`] with options.
    pub fn open_with(
        dir: &Path,
        genesis: &Genesis,
        opts: StateOptions,
    ) -> Result<Self, ChainError> {
        genesis.validate()?;
        std::fs::create_dir_all(dir)
            .map_err(|e| ChainError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let store = Store::open(dir, opts.sync_writes)?;
        let given = genesis.digest();
        match store.get(Cf::Meta, store::META_GENESIS)? {
            None => init_genesis(&store, genesis, given)?,
            Some(b) => {
                let stored = Hash::from_slice(&b).map_err(|e| ChainError::Corrupt {
                    what: "genesis digest",
                    reason: e.to_string(),
                })?;
                if stored != given {
                    return Err(ChainError::GenesisMismatch { stored, given });
                }
            }
        }
        let buckets = commitment::load(&store)?;
        let mut state = Self {
            store,
            genesis: genesis.clone(),
            genesis_hash: given,
            tip: Tip {
                height: 0,
                hash: given,
                state_root: Hash::default(),
                time_ms: genesis.genesis_time_ms,
            },
            buckets,
            cache: Mutex::new(Vec::new()),
        };
        state.tip = state.load_tip()?;
        if commitment::root(&state.buckets) != state.tip.state_root {
            return Err(ChainError::Corrupt {
                what: "state commitment",
                reason: "bucket hashes do not give the committed state root".into(),
            });
        }
        info!(chain_id = %genesis.chain_id, height = state.tip.height, "chain state opened");
        Ok(state)
    }

    fn load_tip(&self) -> Result<Tip, ChainError> {
        let height = match self.store.get(Cf::Meta, store::META_HEIGHT)? {
            Some(b) => read_u64(&b, "latest height")?,
            None => 0,
        };
        if height == 0 {
            let root = self
                .store
                .get(Cf::Meta, store::META_GENESIS_ROOT)?
                .ok_or_else(|| ChainError::Missing("genesis state root".into()))?;
            return Ok(Tip {
                height: 0,
                hash: self.genesis_hash,
                state_root: Hash::from_slice(&root).map_err(|e| ChainError::Corrupt {
                    what: "genesis state root",
                    reason: e.to_string(),
                })?,
                time_ms: self.genesis.genesis_time_ms,
            });
        }
        let h = self
            .header(height)?
            .ok_or_else(|| ChainError::Missing(format!("header of height {height}")))?;
        Ok(Tip {
            height,
            hash: h.hash(),
            state_root: h.state_root,
            time_ms: h.time_ms,
        })
    }

    /// Syncs and flushes the database (at shutdown).
    pub fn flush(&self) -> Result<(), ChainError> {
        self.store.flush()
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.genesis.chain_id
    }

    /// The consensus parameters.
    pub fn params(&self) -> &ChainParams {
        &self.genesis.params
    }

    /// The genesis this state was opened with.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The genesis digest (parent of block 1).
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// Height of the last committed block (0 before block 1).
    pub fn latest_height(&self) -> Height {
        self.tip.height
    }

    /// Hash of the last committed block (the genesis hash at height 0).
    pub fn latest_block_hash(&self) -> Hash {
        self.tip.hash
    }

    /// State root after the last committed block.
    pub fn state_root(&self) -> Hash {
        self.tip.state_root
    }

    /// Time of the last committed block (the genesis time at height 0).
    pub fn latest_time_ms(&self) -> u64 {
        self.tip.time_ms
    }

    /// The epoch of a height.
    pub fn epoch_of(&self, height: Height) -> u64 {
        self.params().epoch_of(height)
    }

    /// The smallest time the next block may have (median rule + 1 ms).
    pub fn min_next_time_ms(&self) -> Result<u64, ChainError> {
        Ok(self.median_before(self.tip.height + 1)?.saturating_add(1))
    }

    fn median_before(&self, height: Height) -> Result<u64, ChainError> {
        let from = height.saturating_sub(block::MEDIAN_WINDOW as u64).max(1);
        let mut times = Vec::with_capacity(block::MEDIAN_WINDOW);
        for h in from..height {
            let header = self
                .header(h)?
                .ok_or_else(|| ChainError::Missing(format!("header of height {h}")))?;
            times.push(header.time_ms);
        }
        Ok(median_time(&times, self.genesis.genesis_time_ms))
    }

    fn block_ctx(&self, height: Height, proposer: Address, validators: ValidatorSet) -> BlockCtx {
        BlockCtx {
            chain_id: self.genesis.chain_id.clone(),
            params: self.genesis.params.clone(),
            height,
            epoch: self.epoch_of(height),
            proposer,
            validators,
        }
    }

    /// Checks only what needs no state: size, encoding, chain id, signature,
    /// field rules.
    pub fn check_tx_stateless(&self, tx: &Tx) -> Result<VerifiedTx, TxError> {
        tx.verify(self.chain_id(), self.params().max_tx_bytes)
    }

    /// Runs `tx` against the committed state as the next transaction of its
    /// sender in the next block (nonce, funds, every rule of its kind).
    /// Nothing is written. A rejection is [`ChainError::Tx`].
    pub fn check_tx(&self, tx: &Tx) -> Result<VerifiedTx, ChainError> {
        let height = self.tip.height + 1;
        let ctx = self.block_ctx(height, Address::default(), self.validators_at(height)?);
        Executor::new(&self.store, ctx)
            .apply(&tx.encode())
            .map_err(exec_err)
    }
}

fn init_genesis(store: &Store, g: &Genesis, digest: Hash) -> Result<(), ChainError> {
    let mut ov = Overlay::new(store);
    epoch::write_genesis(&mut ov, g)?;
    let diff = ov.into_diff();
    let update = commitment::compute(store, &commitment::empty_buckets(), &diff)?;
    let mut batch = Batch::default();
    commitment::write(&mut batch, &diff, &update);
    batch.put(Cf::Meta, store::META_GENESIS.to_vec(), digest.0.to_vec());
    batch.put(
        Cf::Meta,
        store::META_GENESIS_ROOT.to_vec(),
        update.root.0.to_vec(),
    );
    batch.put(Cf::Meta, store::META_HEIGHT.to_vec(), height_key(0));
    store.write(batch)?;
    info!(chain_id = %g.chain_id, root = %update.root, "genesis state written");
    Ok(())
}
