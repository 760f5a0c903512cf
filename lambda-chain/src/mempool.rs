//! The mempool: transactions waiting for a block, bounded in count and
//! bytes, kept per sender in nonce order.
//!
//! Admission ([`Mempool::insert`]):
//! - a transaction already pending (same hash) is refused as a duplicate, and
//!   so is a second transaction for a sender's nonce that is already taken;
//! - the nonce must be the sender's next one after its pending transactions
//!   (`account nonce + pending count`): lower is a replay, higher leaves a
//!   gap and is refused as a future nonce;
//! - the sender's next transaction (nonce = account nonce) is checked in
//!   full against the committed state ([`ChainState::check_tx`]); later ones
//!   are checked statelessly and for funds (balance ≥ the cost of all its
//!   pending transactions), since the state they run on does not exist yet —
//!   the block builder drops them if they turn out invalid;
//! - a full pool (count or bytes) refuses new transactions.
//!
//! After each commit, [`Mempool::recheck`] drops what was included or became
//! invalid and re-checks what is left, in the same way.
//!
//! [`Mempool::reap`] returns transactions for a block: highest fee first,
//! each sender's in nonce order (a sender's next transaction competes by its
//! fee; ties go to the lower hash), within a byte and count budget.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use lambda_common::keys::Address;
use serde::{Deserialize, Serialize};

use crate::error::ChainError;
use crate::state::ChainState;
use crate::tx::{Tx, TxError, VerifiedTx};
use crate::types::Hash;

/// Mempool limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolConfig {
    /// Most transactions held.
    pub max_txs: usize,
    /// Most bytes held (sum of encoded transactions).
    pub max_bytes: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            max_txs: 10_000,
            max_bytes: 64 << 20,
        }
    }
}

/// Why the mempool refuses a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// Already pending.
    #[error("transaction {0} is already in the mempool")]
    Duplicate(Hash),
    /// Another pending transaction has the same sender and nonce.
    #[error("nonce {nonce} of {sender} is already taken by a pending transaction")]
    NonceTaken {
        /// The sender.
        sender: Address,
        /// The nonce.
        nonce: u64,
    },
    /// The pool is full.
    #[error("mempool is full ({txs} transactions, {bytes} bytes)")]
    Full {
        /// Transactions held.
        txs: usize,
        /// Bytes held.
        bytes: usize,
    },
    /// The transaction is invalid.
    #[error("{0}")]
    Rejected(#[from] TxError),
    /// The state could not be read.
    #[error("{0}")]
    State(ChainError),
}

impl From<ChainError> for MempoolError {
    fn from(e: ChainError) -> Self {
        match e {
            ChainError::Tx(e) => MempoolError::Rejected(e),
            other => MempoolError::State(other),
        }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    tx: Tx,
    meta: VerifiedTx,
}

/// Pending transactions.
#[derive(Debug, Default)]
pub struct Mempool {
    config: MempoolConfig,
    by_hash: BTreeMap<Hash, (Address, u64)>,
    by_sender: BTreeMap<Address, BTreeMap<u64, Entry>>,
    bytes: usize,
}

impl Mempool {
    /// An empty pool.
    pub fn new(config: MempoolConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Transactions held.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a transaction is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// How many transactions of `sender` are pending (its next nonce is the
    /// account's nonce plus this).
    pub fn pending_of(&self, sender: &Address) -> usize {
        self.by_sender.get(sender).map_or(0, BTreeMap::len)
    }

    /// Checks `tx` against `state` and the pool and adds it (see the module
    /// docs for the rules). Returns its hash.
    pub fn insert(&mut self, tx: Tx, state: &ChainState) -> Result<Hash, MempoolError> {
        let meta = state.check_tx_stateless(&tx)?;
        if self.by_hash.contains_key(&meta.hash) {
            return Err(MempoolError::Duplicate(meta.hash));
        }
        if self.by_hash.len() >= self.config.max_txs
            || self.bytes + meta.size > self.config.max_bytes
        {
            return Err(MempoolError::Full {
                txs: self.by_hash.len(),
                bytes: self.bytes,
            });
        }
        let sender = meta.sender;
        let pending = self.by_sender.get(&sender);
        let nonce = meta.body.nonce;
        if pending.is_some_and(|p| p.contains_key(&nonce)) {
            return Err(MempoolError::NonceTaken { sender, nonce });
        }
        let account = state.account(&sender)?;
        let view = SenderView {
            nonce: account.nonce,
            balance: account.balance,
            pending: pending.map_or(0, BTreeMap::len) as u64,
            pending_cost: pending_cost(pending)?,
        };
        let meta = admit(state, &tx, meta, view)?;
        let hash = meta.hash;
        self.bytes += meta.size;
        self.by_hash.insert(hash, (sender, nonce));
        self.by_sender
            .entry(sender)
            .or_default()
            .insert(nonce, Entry { tx, meta });
        Ok(hash)
    }

    fn remove_sender_from(&mut self, sender: &Address, from_index: usize) {
        let Some(txs) = self.by_sender.get_mut(sender) else {
            return;
        };
        let drop: Vec<u64> = txs.keys().skip(from_index).copied().collect();
        for n in drop {
            if let Some(e) = txs.remove(&n) {
                self.bytes -= e.meta.size;
                self.by_hash.remove(&e.meta.hash);
            }
        }
        if txs.is_empty() {
            self.by_sender.remove(sender);
        }
    }

    /// After a commit: drops transactions that were included or became
    /// invalid, and those queued behind them. Returns how many were dropped.
    pub fn recheck(&mut self, state: &ChainState) -> Result<usize, ChainError> {
        let before = self.len();
        let senders: Vec<Address> = self.by_sender.keys().copied().collect();
        for sender in senders {
            let account = state.account(&sender)?;
            let Some(txs) = self.by_sender.remove(&sender) else {
                continue;
            };
            self.bytes -= txs.values().map(|e| e.meta.size).sum::<usize>();
            for e in txs.values() {
                self.by_hash.remove(&e.meta.hash);
            }
            let mut kept: BTreeMap<u64, Entry> = BTreeMap::new();
            let mut cost: u64 = 0;
            for (nonce, e) in txs.into_iter().filter(|(n, _)| *n >= account.nonce) {
                let view = SenderView {
                    nonce: account.nonce,
                    balance: account.balance,
                    pending: kept.len() as u64,
                    pending_cost: cost,
                };
                match admit(state, &e.tx, e.meta.clone(), view) {
                    Ok(_) => {
                        cost = cost.saturating_add(e.meta.cost().unwrap_or(u64::MAX));
                        kept.insert(nonce, e);
                    }
                    Err(MempoolError::State(err)) => return Err(err),
                    Err(_) => break,
                }
            }
            for e in kept.values() {
                self.bytes += e.meta.size;
                self.by_hash
                    .insert(e.meta.hash, (sender, e.meta.body.nonce));
            }
            if !kept.is_empty() {
                self.by_sender.insert(sender, kept);
            }
        }
        Ok(before - self.len())
    }

    /// Removes one transaction and every later one of its sender.
    pub fn remove(&mut self, hash: &Hash) {
        let Some((sender, nonce)) = self.by_hash.get(hash).copied() else {
            return;
        };
        let index = self
            .by_sender
            .get(&sender)
            .map_or(0, |t| t.range(..nonce).count());
        self.remove_sender_from(&sender, index);
    }

    /// Transactions for a block: by fee (highest first), each sender's in
    /// nonce order, at most `max_txs` and `max_bytes` (sum of encodings).
    pub fn reap(&self, max_txs: usize, max_bytes: usize) -> Vec<Tx> {
        let mut heap: BinaryHeap<Head<'_>> = self
            .by_sender
            .values()
            .filter_map(|txs| txs.values().next().map(|e| Head { e, index: 0 }))
            .collect();
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some(head) = heap.pop() {
            if out.len() >= max_txs {
                break;
            }
            if bytes + head.e.meta.size > max_bytes {
                continue; // this sender's later transactions wait too
            }
            bytes += head.e.meta.size;
            out.push(head.e.tx.clone());
            let next = self
                .by_sender
                .get(&head.e.meta.sender)
                .and_then(|t| t.values().nth(head.index + 1));
            if let Some(e) = next {
                heap.push(Head {
                    e,
                    index: head.index + 1,
                });
            }
        }
        out
    }
}

fn pending_cost(pending: Option<&BTreeMap<u64, Entry>>) -> Result<u64, MempoolError> {
    let mut cost: u64 = 0;
    for e in pending.into_iter().flat_map(BTreeMap::values) {
        cost = cost
            .checked_add(e.meta.cost()?)
            .ok_or(TxError::Overflow("pending cost"))?;
    }
    Ok(cost)
}

/// Where a sender stands: its committed nonce and balance, and what it
/// already has pending.
#[derive(Clone, Copy)]
struct SenderView {
    nonce: u64,
    balance: u64,
    pending: u64,
    pending_cost: u64,
}

/// Admits `tx` as the sender's next transaction after its pending ones.
fn admit(
    state: &ChainState,
    tx: &Tx,
    meta: VerifiedTx,
    view: SenderView,
) -> Result<VerifiedTx, MempoolError> {
    let (sender, got) = (meta.sender, meta.body.nonce);
    if got < view.nonce {
        return Err(TxError::NonceReplayed {
            sender,
            expected: view.nonce,
            got,
        }
        .into());
    }
    let expected = view.nonce + view.pending;
    if got < expected {
        return Err(MempoolError::NonceTaken { sender, nonce: got });
    }
    if got > expected {
        return Err(TxError::FutureNonce {
            sender,
            expected,
            got,
        }
        .into());
    }
    if view.pending == 0 {
        return Ok(state.check_tx(tx)?);
    }
    let need = view
        .pending_cost
        .checked_add(meta.cost()?)
        .ok_or(TxError::Overflow("pending cost"))?;
    if view.balance < need {
        return Err(TxError::InsufficientFunds {
            sender,
            have: view.balance,
            need,
        }
        .into());
    }
    Ok(meta)
}

/// A sender's next transaction in the reaping heap.
struct Head<'a> {
    e: &'a Entry,
    index: usize,
}

impl Ord for Head<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.e
            .meta
            .body
            .fee
            .cmp(&other.e.meta.body.fee)
            .then_with(|| other.e.meta.hash.cmp(&self.e.meta.hash))
    }
}

impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head<'_> {}
