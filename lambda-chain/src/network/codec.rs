//! Conversions between the consensus types and their protobuf messages
//! (`lambda.chain.v1`), with strict decoding: a missing field, a wrong
//! length or an unknown enum value is a precise [`CodecError`], never a
//! default. Signatures are not checked here; the consensus core does that.

use bytes::Bytes;
use lambda_common::keys::{Address, KeyError, Signature};
use lambda_proto::chain::v1 as pb;

use crate::consensus::app::CommittedBlock;
use crate::consensus::io::{Message, ProposalMessage, WalEntry};
use crate::types::{
    CommitCertificate, CommitSig, DoubleSignEvidence, Hash, Proposal, TypesError, Vote, VoteType,
};

/// Why a protobuf message does not decode into a consensus type.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A required field is absent.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A hash has the wrong length.
    #[error("{field}: {source}")]
    Hash {
        /// The field.
        field: &'static str,
        /// What is wrong.
        source: TypesError,
    },
    /// An address or signature is malformed.
    #[error("{field}: {source}")]
    Key {
        /// The field.
        field: &'static str,
        /// What is wrong.
        source: KeyError,
    },
    /// The vote type is not prevote or precommit.
    #[error("unknown vote type {0}")]
    VoteType(i32),
    /// The bytes are not a protobuf message of the expected type.
    #[error("malformed protobuf: {0}")]
    Decode(#[from] prost::DecodeError),
}

fn hash(field: &'static str, b: &[u8]) -> Result<Hash, CodecError> {
    Hash::from_slice(b).map_err(|source| CodecError::Hash { field, source })
}

fn address(field: &'static str, b: &[u8]) -> Result<Address, CodecError> {
    Address::from_slice(b).map_err(|source| CodecError::Key { field, source })
}

fn signature(field: &'static str, b: &[u8]) -> Result<Signature, CodecError> {
    Signature::from_bytes(b).map_err(|source| CodecError::Key { field, source })
}

/// Encodes a vote.
pub fn vote_to_pb(v: &Vote) -> pb::SignedVote {
    pb::SignedVote {
        vote_type: match v.vote_type {
            VoteType::Prevote => pb::VoteType::Prevote as i32,
            VoteType::Precommit => pb::VoteType::Precommit as i32,
        },
        height: v.height,
        round: v.round,
        block_hash: v.block_hash.map(|h| h.0.to_vec()).unwrap_or_default(),
        validator: v.validator.0.to_vec(),
        signature: v.signature.to_bytes(),
    }
}

/// Decodes a vote.
pub fn vote_from_pb(v: &pb::SignedVote) -> Result<Vote, CodecError> {
    let vote_type = match pb::VoteType::try_from(v.vote_type) {
        Ok(pb::VoteType::Prevote) => VoteType::Prevote,
        Ok(pb::VoteType::Precommit) => VoteType::Precommit,
        _ => return Err(CodecError::VoteType(v.vote_type)),
    };
    Ok(Vote {
        vote_type,
        height: v.height,
        round: v.round,
        block_hash: if v.block_hash.is_empty() {
            None
        } else {
            Some(hash("vote.block_hash", &v.block_hash)?)
        },
        validator: address("vote.validator", &v.validator)?,
        signature: signature("vote.signature", &v.signature)?,
    })
}

/// Encodes a proposal with its block.
pub fn proposal_to_pb(p: &ProposalMessage) -> pb::ProposalWithBlock {
    let q = &p.proposal;
    pb::ProposalWithBlock {
        proposal: Some(pb::SignedProposal {
            height: q.height,
            round: q.round,
            pol_round: q.pol_round,
            block_hash: q.block_hash.0.to_vec(),
            proposer: q.proposer.0.to_vec(),
            signature: q.signature.to_bytes(),
        }),
        block: p.block.to_vec(),
    }
}

/// Decodes a proposal with its block.
pub fn proposal_from_pb(p: pb::ProposalWithBlock) -> Result<ProposalMessage, CodecError> {
    let q = p.proposal.ok_or(CodecError::Missing("proposal"))?;
    Ok(ProposalMessage {
        proposal: Proposal {
            height: q.height,
            round: q.round,
            pol_round: q.pol_round,
            block_hash: hash("proposal.block_hash", &q.block_hash)?,
            proposer: address("proposal.proposer", &q.proposer)?,
            signature: signature("proposal.signature", &q.signature)?,
        },
        block: Bytes::from(p.block),
    })
}

/// Encodes a consensus message.
pub fn message_to_pb(m: &Message) -> pb::ConsensusMessage {
    let kind = match m {
        Message::Proposal(p) => pb::consensus_message::Kind::Proposal(proposal_to_pb(p)),
        Message::Vote(v) => pb::consensus_message::Kind::Vote(vote_to_pb(v)),
    };
    pb::ConsensusMessage { kind: Some(kind) }
}

/// Decodes a consensus message.
pub fn message_from_pb(m: pb::ConsensusMessage) -> Result<Message, CodecError> {
    match m.kind.ok_or(CodecError::Missing("message.kind"))? {
        pb::consensus_message::Kind::Proposal(p) => Ok(Message::Proposal(proposal_from_pb(p)?)),
        pb::consensus_message::Kind::Vote(v) => Ok(Message::Vote(vote_from_pb(&v)?)),
    }
}

/// Encodes a commit certificate.
pub fn certificate_to_pb(c: &CommitCertificate) -> pb::CommitCertificate {
    pb::CommitCertificate {
        height: c.height,
        round: c.round,
        block_hash: c.block_hash.0.to_vec(),
        signatures: c
            .signatures
            .iter()
            .map(|s| pb::CommitSig {
                validator: s.validator.0.to_vec(),
                signature: s.signature.to_bytes(),
            })
            .collect(),
    }
}

/// Decodes a commit certificate.
pub fn certificate_from_pb(c: &pb::CommitCertificate) -> Result<CommitCertificate, CodecError> {
    let signatures = c
        .signatures
        .iter()
        .map(|s| {
            Ok(CommitSig {
                validator: address("commit_sig.validator", &s.validator)?,
                signature: signature("commit_sig.signature", &s.signature)?,
            })
        })
        .collect::<Result<_, CodecError>>()?;
    Ok(CommitCertificate {
        height: c.height,
        round: c.round,
        block_hash: hash("certificate.block_hash", &c.block_hash)?,
        signatures,
    })
}

/// Encodes double-sign evidence.
pub fn evidence_to_pb(e: &DoubleSignEvidence) -> pb::DoubleSignEvidence {
    pb::DoubleSignEvidence {
        a: Some(vote_to_pb(&e.a)),
        b: Some(vote_to_pb(&e.b)),
    }
}

/// Decodes double-sign evidence.
pub fn evidence_from_pb(e: &pb::DoubleSignEvidence) -> Result<DoubleSignEvidence, CodecError> {
    Ok(DoubleSignEvidence {
        a: vote_from_pb(e.a.as_ref().ok_or(CodecError::Missing("evidence.a"))?)?,
        b: vote_from_pb(e.b.as_ref().ok_or(CodecError::Missing("evidence.b"))?)?,
    })
}

/// Encodes a write-ahead-log record.
pub fn wal_entry_to_pb(e: &WalEntry) -> pb::WalEntry {
    pb::WalEntry {
        message: Some(message_to_pb(&e.message)),
        locked_block: e
            .locked_block
            .as_ref()
            .map(|b| b.to_vec())
            .unwrap_or_default(),
        pol_votes: e.pol_votes.iter().map(vote_to_pb).collect(),
    }
}

/// Decodes a write-ahead-log record.
pub fn wal_entry_from_pb(e: pb::WalEntry) -> Result<WalEntry, CodecError> {
    Ok(WalEntry {
        message: message_from_pb(e.message.ok_or(CodecError::Missing("wal.message"))?)?,
        locked_block: (!e.locked_block.is_empty()).then(|| Bytes::from(e.locked_block)),
        pol_votes: e
            .pol_votes
            .iter()
            .map(vote_from_pb)
            .collect::<Result<_, _>>()?,
    })
}

/// Encodes a committed block.
pub fn committed_to_pb(b: &CommittedBlock) -> pb::CommittedBlock {
    pb::CommittedBlock {
        height: b.height,
        block_hash: b.block_hash.0.to_vec(),
        block: b.block.to_vec(),
        certificate: Some(certificate_to_pb(&b.certificate)),
    }
}

/// Decodes a committed block.
pub fn committed_from_pb(b: pb::CommittedBlock) -> Result<CommittedBlock, CodecError> {
    Ok(CommittedBlock {
        height: b.height,
        block_hash: hash("block.block_hash", &b.block_hash)?,
        certificate: certificate_from_pb(
            b.certificate
                .as_ref()
                .ok_or(CodecError::Missing("block.certificate"))?,
        )?,
        block: Bytes::from(b.block),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_common::keys::SigningKey;

    #[test]
    fn round_trips_and_strict_decoding() {
        let k = SigningKey::from_seed([5; 32]);
        let h = Hash::digest(b"x");
        let v = Vote::new_signed(&k, "c", VoteType::Precommit, 3, 1, Some(h));
        assert_eq!(vote_from_pb(&vote_to_pb(&v)).unwrap(), v);
        let nil = Vote::new_signed(&k, "c", VoteType::Prevote, 3, 1, None);
        assert_eq!(vote_from_pb(&vote_to_pb(&nil)).unwrap(), nil);
        let p = ProposalMessage {
            proposal: Proposal::new_signed(&k, "c", 3, 2, Some(1), h),
            block: Bytes::from_static(b"block"),
        };
        let m = Message::Proposal(p);
        assert_eq!(message_from_pb(message_to_pb(&m)).unwrap(), m);
        let e = WalEntry {
            message: Message::Vote(v.clone()),
            locked_block: Some(Bytes::from_static(b"blk")),
            pol_votes: vec![nil.clone()],
        };
        assert_eq!(wal_entry_from_pb(wal_entry_to_pb(&e)).unwrap(), e);
        let mut bad = vote_to_pb(&v);
        bad.vote_type = 9;
        assert!(matches!(vote_from_pb(&bad), Err(CodecError::VoteType(9))));
        let mut bad = vote_to_pb(&v);
        bad.block_hash = vec![1; 5];
        let err = vote_from_pb(&bad).unwrap_err().to_string();
        assert!(err.contains("vote.block_hash"), "{err}");
        assert!(matches!(
            message_from_pb(pb::ConsensusMessage { kind: None }),
            Err(CodecError::Missing(_))
        ));
    }
}
