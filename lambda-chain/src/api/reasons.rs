//! How a refused transaction is reported: a gRPC code that says whose fault
//! it is (INVALID_ARGUMENT: the transaction itself; FAILED_PRECONDITION: it
//! does not fit the current state; ALREADY_EXISTS: it is already pending;
//! RESOURCE_EXHAUSTED: the mempool is full), the precise reason as the
//! message, and a stable reason code in the `lambda-reason` metadata entry
//! for programs to match on.

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::mempool::MempoolError;
use crate::tx::TxError;

/// The metadata key carrying the reason code of a refusal.
pub const REASON_KEY: &str = "lambda-reason";

/// The gRPC code and the reason code of a transaction error.
pub fn tx_error_code(e: &TxError) -> (Code, &'static str) {
    use Code::{FailedPrecondition as Pre, InvalidArgument as Arg};
    match e {
        TxError::Malformed(_) => (Arg, "malformed"),
        TxError::TooLarge { .. } => (Arg, "too_large"),
        TxError::WrongChainId { .. } => (Arg, "wrong_chain_id"),
        TxError::BadSignature(_) => (Arg, "bad_signature"),
        TxError::FeeTooLow { .. } => (Arg, "fee_too_low"),
        TxError::InvalidField { .. } => (Arg, "invalid_field"),
        TxError::StakeTooLow { .. } => (Arg, "stake_too_low"),
        TxError::BadNodeSignature(_) => (Arg, "bad_node_signature"),
        TxError::BadClientSignature(_) => (Arg, "bad_client_signature"),
        TxError::InvalidEvidence(_) => (Arg, "invalid_evidence"),
        TxError::Overflow(_) => (Arg, "overflow"),
        TxError::NonceReplayed { .. } => (Pre, "nonce_replayed"),
        TxError::FutureNonce { .. } => (Pre, "future_nonce"),
        TxError::InsufficientFunds { .. } => (Pre, "insufficient_funds"),
        TxError::NodeExists(_) => (Pre, "node_exists"),
        TxError::UnknownNode(_) => (Pre, "unknown_node"),
        TxError::NotNodeOwner { .. } => (Pre, "not_node_owner"),
        TxError::NodeStatus { .. } => (Pre, "node_status"),
        TxError::NotMember { .. } => (Pre, "not_member"),
        TxError::NotValidator(_) => (Pre, "not_validator"),
        TxError::WrongEpoch { .. } => (Pre, "wrong_epoch"),
        TxError::Duplicate(_) => (Pre, "duplicate_record"),
        TxError::ClientInsufficientFunds { .. } => (Pre, "client_insufficient_funds"),
        TxError::StaleUsage { .. } => (Pre, "stale_usage"),
        TxError::UnknownContract(_) => (Pre, "unknown_contract"),
        TxError::Contract { .. } => (Pre, "contract"),
        TxError::EvidenceOutOfWindow { .. } => (Pre, "evidence_out_of_window"),
        TxError::AlreadySlashed(_) => (Pre, "already_slashed"),
    }
}

/// The gRPC code and reason code of a mempool refusal.
pub fn mempool_error_code(e: &MempoolError) -> (Code, &'static str) {
    match e {
        MempoolError::Rejected(tx) => tx_error_code(tx),
        MempoolError::Duplicate(_) => (Code::AlreadyExists, "already_pending"),
        MempoolError::NonceTaken { .. } => (Code::FailedPrecondition, "nonce_taken"),
        MempoolError::Full { .. } => (Code::ResourceExhausted, "mempool_full"),
        MempoolError::State(_) => (Code::Internal, "state_unavailable"),
    }
}

/// The status a refused submission gets.
pub(crate) fn refusal(e: &MempoolError) -> Status {
    let (code, reason) = mempool_error_code(e);
    let mut status = Status::new(code, e.to_string());
    status
        .metadata_mut()
        .insert(REASON_KEY, MetadataValue::from_static(reason));
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DecodeError;
    use lambda_common::keys::Address;

    #[test]
    fn codes_say_whose_fault_and_carry_the_reason() {
        let s = refusal(&MempoolError::Rejected(TxError::Malformed(
            DecodeError::Empty("transaction"),
        )));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.metadata().get(REASON_KEY).unwrap(), "malformed");
        assert!(s.message().contains("empty transaction"), "{}", s.message());
        let s = refusal(&MempoolError::Rejected(TxError::NonceReplayed {
            sender: Address::default(),
            expected: 3,
            got: 1,
        }));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(s.message().contains("nonce 1"), "{}", s.message());
        let s = refusal(&MempoolError::Full { txs: 1, bytes: 2 });
        assert_eq!(s.code(), Code::ResourceExhausted);
    }
}
