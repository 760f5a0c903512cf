//! Errors of the chain state: why a block is invalid ([`BlockError`]) and
//! why the state itself failed ([`ChainError`]: storage, corruption, a
//! genesis that does not match the data directory).

use lambda_common::keys::Address;

use crate::codec::DecodeError;
use crate::genesis::GenesisError;
use crate::tx::TxError;
use crate::types::{Hash, Height, TypesError};

/// Why a block is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The bytes do not decode.
    #[error("malformed block: {0}")]
    Malformed(#[from] DecodeError),
    /// Over `params.max_block_bytes`.
    #[error("block is {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// The limit.
        limit: u64,
    },
    /// Another chain's block.
    #[error("block is for chain {got:?}, this is {expected:?}")]
    WrongChainId {
        /// This chain.
        expected: String,
        /// The block's.
        got: String,
    },
    /// Not the next height.
    #[error("block height {got}, expected {expected}")]
    WrongHeight {
        /// The next height.
        expected: Height,
        /// The block's.
        got: Height,
    },
    /// The parent hash is not the last committed block's.
    #[error("parent hash {got}, expected {expected}")]
    WrongParent {
        /// The last committed block.
        expected: Hash,
        /// The block's parent.
        got: Hash,
    },
    /// The proposer is not a validator of the height.
    #[error("proposer {0} is not a validator of this height")]
    UnknownProposer(Address),
    /// The validator-set digest does not match.
    #[error("validators digest {got}, expected {expected}")]
    WrongValidators {
        /// Digest of the height's set.
        expected: Hash,
        /// The header's.
        got: Hash,
    },
    /// Height 1 carries a last commit, or a later height lacks one.
    #[error("last commit {0}")]
    LastCommitPresence(&'static str),
    /// The last commit is not for the parent block.
    #[error("last commit is for height {height} block {block}, expected the parent {parent}")]
    LastCommitTarget {
        /// Certificate height.
        height: Height,
        /// Certificate block.
        block: Hash,
        /// The parent.
        parent: Hash,
    },
    /// The last commit's signatures do not make a certificate.
    #[error("last commit is invalid: {0}")]
    LastCommitInvalid(TypesError),
    /// The header's last-commit digest does not match the certificate.
    #[error("last commit digest does not match the certificate")]
    LastCommitDigest,
    /// The time is not after the median of the previous blocks.
    #[error("block time {time_ms} is not after the median time {median_ms} of the previous blocks")]
    TimeTooOld {
        /// The block's time.
        time_ms: u64,
        /// The median.
        median_ms: u64,
    },
    /// The time is too far past the validator's clock.
    #[error("block time {time_ms} is more than {max_future_ms} ms past local time {now_ms}")]
    TimeInFuture {
        /// The block's time.
        time_ms: u64,
        /// The validator's clock.
        now_ms: u64,
        /// The allowed drift.
        max_future_ms: u64,
    },
    /// The transaction root does not match the transactions.
    #[error("tx root {got}, transactions give {expected}")]
    WrongTxRoot {
        /// Computed.
        expected: Hash,
        /// In the header.
        got: Hash,
    },
    /// A transaction is invalid.
    #[error("transaction {index} ({hash}) is invalid: {reason}")]
    InvalidTx {
        /// Position in the block.
        index: usize,
        /// Its hash.
        hash: Hash,
        /// Why.
        reason: TxError,
    },
    /// The state root does not match execution.
    #[error("state root {got}, execution gives {expected}")]
    WrongStateRoot {
        /// Computed.
        expected: Hash,
        /// In the header.
        got: Hash,
    },
    /// The certificate handed to `commit_block` is not for this block.
    #[error("certificate is for height {height} block {block}, not this block {expected}")]
    CertificateTarget {
        /// Certificate height.
        height: Height,
        /// Certificate block.
        block: Hash,
        /// This block.
        expected: Hash,
    },
    /// The certificate handed to `commit_block` does not verify.
    #[error("commit certificate is invalid: {0}")]
    CertificateInvalid(TypesError),
}

/// Errors of the chain state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A transaction is invalid.
    #[error("invalid transaction: {0}")]
    Tx(#[from] TxError),
    /// A block is invalid.
    #[error("invalid block: {0}")]
    Block(#[from] BlockError),
    /// The genesis file is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(#[from] GenesisError),
    /// The data directory was created from another genesis.
    #[error("data directory holds chain {stored}, the genesis given is {given}")]
    GenesisMismatch {
        /// Digest stored in the directory.
        stored: Hash,
        /// Digest of the genesis given.
        given: Hash,
    },
    /// RocksDB failed.
    #[error("storage failure: {0}")]
    Storage(String),
    /// A stored record does not decode.
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A record the chain must have is absent.
    #[error("missing {0}")]
    Missing(String),
}

impl From<rocksdb::Error> for ChainError {
    fn from(e: rocksdb::Error) -> Self {
        ChainError::Storage(e.into_string())
    }
}
