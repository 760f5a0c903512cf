//! Why a transaction is rejected: one variant per reason, each message naming
//! what is wrong, so a client, the mempool and a block validator all see the
//! same precise cause.

use lambda_common::keys::{Address, KeyError};

use crate::codec::DecodeError;
use crate::types::{Hash, Height, TypesError};

/// A node id: the address of the storage node's key.
pub type NodeId = Address;

/// Why a transaction is invalid (against its bytes, or against the state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes do not decode.
    #[error("malformed transaction: {0}")]
    Malformed(#[from] DecodeError),
    /// The transaction is over `params.max_tx_bytes`.
    #[error("transaction is {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: u64,
    },
    /// Signed for another chain.
    #[error("transaction is for chain {got:?}, this is {expected:?}")]
    WrongChainId {
        /// This chain.
        expected: String,
        /// The transaction's chain id.
        got: String,
    },
    /// The sender's signature does not verify.
    #[error("bad signature: {0}")]
    BadSignature(KeyError),
    /// The nonce was already used.
    #[error("nonce {got} of {sender} was already used (next is {expected})")]
    NonceReplayed {
        /// The sender.
        sender: Address,
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The nonce is ahead of the account's next nonce.
    #[error("nonce {got} of {sender} is in the future (next is {expected})")]
    FutureNonce {
        /// The sender.
        sender: Address,
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The fee is under `params.min_fee`.
    #[error("fee {fee} is under the minimum of {min}")]
    FeeTooLow {
        /// The fee.
        fee: u64,
        /// The minimum.
        min: u64,
    },
    /// The sender cannot pay amount + fee.
    #[error("insufficient funds: {sender} has {have}, needs {need} (amount + fee)")]
    InsufficientFunds {
        /// The sender.
        sender: Address,
        /// Its balance.
        have: u64,
        /// What the transaction spends.
        need: u64,
    },
    /// A field is out of its domain (stateless check).
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A pledge's stake is under `params.min_node_stake`.
    #[error("stake {stake} is under the minimum node stake of {min}")]
    StakeTooLow {
        /// The pledged stake.
        stake: u64,
        /// The minimum.
        min: u64,
    },
    /// The node key's proof in a pledge does not verify.
    #[error("node signature of the pledge does not verify: {0}")]
    BadNodeSignature(KeyError),
    /// A node with this id is already pledged.
    #[error("storage node {0} is already pledged")]
    NodeExists(NodeId),
    /// No node has this id.
    #[error("unknown storage node {0}")]
    UnknownNode(NodeId),
    /// The sender does not own the node.
    #[error("{sender} is not the owner of storage node {node}")]
    NotNodeOwner {
        /// The node.
        node: NodeId,
        /// The sender.
        sender: Address,
    },
    /// The node is in a status that does not allow the operation.
    #[error("storage node {node} is {status}, cannot {action}")]
    NodeStatus {
        /// The node.
        node: NodeId,
        /// Its status.
        status: &'static str,
        /// What was attempted.
        action: &'static str,
    },
    /// A node that must be a member of an epoch is not.
    #[error("{role} {node} is not a member of epoch {epoch}")]
    NotMember {
        /// Which node of the transaction (reporter, target, coordinator, …).
        role: &'static str,
        /// The node.
        node: NodeId,
        /// The epoch.
        epoch: u64,
    },
    /// The sender is not a validator of the current epoch.
    #[error("{0} is not a validator of the current epoch")]
    NotValidator(Address),
    /// The transaction names an epoch it may not.
    #[error("epoch {given} is not allowed here ({rule}; current epoch is {current})")]
    WrongEpoch {
        /// The epoch in the transaction.
        given: u64,
        /// The current epoch.
        current: u64,
        /// The rule broken.
        rule: &'static str,
    },
    /// The same report or vote was already recorded.
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// The client's signature over a usage statement does not verify.
    #[error("client signature of the usage statement does not verify: {0}")]
    BadClientSignature(KeyError),
    /// The client of a usage statement cannot pay it.
    #[error("client {client} has {have}, usage costs {need}")]
    ClientInsufficientFunds {
        /// The client.
        client: Address,
        /// Its balance.
        have: u64,
        /// The usage's price.
        need: u64,
    },
    /// A usage statement that does not dominate the one already settled for
    /// its client and epoch.
    #[error("stale usage statement of client {client} in epoch {epoch}: {reason}")]
    StaleUsage {
        /// The client.
        client: Address,
        /// The epoch.
        epoch: u64,
        /// Which entry falls short of the settled one.
        reason: String,
    },
    /// No contract has this id.
    #[error("unknown contract {0}")]
    UnknownContract(Hash),
    /// The contract does not cover the epoch, or its PDP results are full.
    #[error("contract {contract}: {reason}")]
    Contract {
        /// The contract.
        contract: Hash,
        /// What is wrong.
        reason: String,
    },
    /// Double-sign evidence does not prove a double sign.
    #[error("invalid evidence: {0}")]
    InvalidEvidence(TypesError),
    /// Evidence is too old or from the future.
    #[error(
        "evidence of height {height} is outside the window (current height {current}, max age {max_age})"
    )]
    EvidenceOutOfWindow {
        /// The votes' height.
        height: Height,
        /// The height being executed.
        current: Height,
        /// `params.evidence_max_age_blocks`.
        max_age: u64,
    },
    /// The double signer was already slashed.
    #[error("validator {0} was already slashed")]
    AlreadySlashed(Address),
    /// An amount overflows.
    #[error("amount overflow in {0}")]
    Overflow(&'static str),
}
