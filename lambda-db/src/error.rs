//! The node's error type and its mapping to gRPC status codes.
//!
//! Every error a client can cause or meet has its own variant with a message
//! that names the problem (and the limit, for limits). [`Error`] converts into
//! `tonic::Status` at the API edge: bad input is INVALID_ARGUMENT, a node that
//! cannot persist is UNAVAILABLE, a corrupt record is DATA_LOSS.

use crate::storage::StorageError;
use crate::version::codec::DecodeError;

/// Errors of the storage node.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The key is empty.
    #[error("key is empty")]
    EmptyKey,
    /// The key is over `limits.max_key_bytes`.
    #[error("key is {len} bytes, over the limit of {limit} bytes (limits.max_key_bytes)")]
    KeyTooLarge {
        /// Key length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The value is over `limits.max_value_bytes`.
    #[error("value is {len} bytes, over the limit of {limit} bytes (limits.max_value_bytes)")]
    ValueTooLarge {
        /// Value length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A batch has more operations than `limits.max_batch_ops`.
    #[error("batch has {count} operations, over the limit of {limit} (limits.max_batch_ops)")]
    BatchTooLarge {
        /// Operations in the batch.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A batch entry has no operation set.
    #[error("batch operation {index} is empty")]
    EmptyOperation {
        /// Position in the batch.
        index: usize,
    },
    /// The causal context does not decode.
    #[error("invalid causal context: {0}")]
    BadContext(DecodeError),
    /// A request option is out of its bounds.
    #[error("invalid request option: {0}")]
    BadOption(String),
    /// The node refuses writes because its storage failed earlier.
    #[error("node refuses writes since a storage failure: {0}")]
    WritesRefused(String),
    /// The storage engine failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// A stored record does not decode.
    #[error("stored record of key {key} is corrupt: {source}")]
    Corrupt {
        /// The key, hex-encoded.
        key: String,
        /// What is wrong with it.
        source: DecodeError,
    },
    /// The anti-entropy tree of a partition disagrees with itself; it is
    /// rebuilt from the data.
    #[error("anti-entropy tree of partition {partition} is inconsistent: {what}")]
    MerkleCorrupt {
        /// The partition.
        partition: u32,
        /// What is wrong.
        what: String,
    },
    /// The data directory belongs to a cluster with another layout.
    #[error("data directory mismatch: {0}")]
    Layout(String),
    /// Too few replicas answered.
    #[error(
        "{op} quorum not met: {answered} of {replicas} replicas answered, {needed} needed{detail}"
    )]
    QuorumNotMet {
        /// "read" or "write".
        op: &'static str,
        /// Replicas that answered successfully.
        answered: usize,
        /// Replicas of the key (N).
        replicas: usize,
        /// Answers needed (R or W).
        needed: usize,
        /// What went wrong with the others (starts with "; " when set).
        detail: String,
    },
    /// A bound on queued or in-flight work was reached.
    #[error("overloaded: {what} at its limit of {limit} ({setting}); retry later")]
    Overloaded {
        /// What is full.
        what: &'static str,
        /// The bound.
        limit: u64,
        /// The configuration key of the bound.
        setting: &'static str,
    },
    /// A peer that is not a member of the current epoch called.
    #[error("{0}")]
    NotMember(String),
    /// In chain mode, this node is not a member of the epoch in force, so it
    /// serves no data (it has not joined yet, or it left).
    #[error(
        "node {node} is not a member of epoch {epoch}; it serves requests from the epoch that includes it"
    )]
    NotInEpoch {
        /// This node.
        node: String,
        /// The epoch in force.
        epoch: u64,
    },
    /// No node of the key's preference list can coordinate the write.
    #[error("no coordinator available: {0}")]
    NoCoordinator(String),
    /// The coordinator a write was forwarded to refused it.
    #[error("{message}")]
    Remote {
        /// The coordinator's status code.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// A peer sent something invalid.
    #[error("invalid message from a peer: {0}")]
    Peer(String),
    /// The request's deadline passed.
    #[error("deadline of {0} ms exceeded")]
    Timeout(u64),
    /// The node is shutting down or an internal task failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        let msg = e.to_string();
        match e {
            Error::EmptyKey
            | Error::KeyTooLarge { .. }
            | Error::ValueTooLarge { .. }
            | Error::BatchTooLarge { .. }
            | Error::EmptyOperation { .. }
            | Error::BadContext(_)
            | Error::BadOption(_) => tonic::Status::invalid_argument(msg),
            Error::WritesRefused(_)
            | Error::Storage(_)
            | Error::QuorumNotMet { .. }
            | Error::NoCoordinator(_)
            | Error::NotInEpoch { .. } => tonic::Status::unavailable(msg),
            Error::Overloaded { .. } => tonic::Status::resource_exhausted(msg),
            Error::NotMember(_) => tonic::Status::permission_denied(msg),
            Error::Peer(_) => tonic::Status::invalid_argument(msg),
            Error::Corrupt { .. } => tonic::Status::data_loss(msg),
            Error::MerkleCorrupt { .. } => tonic::Status::unavailable(msg),
            Error::Timeout(_) => tonic::Status::deadline_exceeded(msg),
            Error::Layout(_) => tonic::Status::failed_precondition(msg),
            Error::Internal(_) => tonic::Status::internal(msg),
            Error::Remote { code, message } => tonic::Status::new(code, message),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
