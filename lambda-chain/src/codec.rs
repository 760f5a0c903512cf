//! Strict protobuf decoding for the chain's wire and storage formats, and the
//! conversions of the shared consensus types (votes, commit certificates).
//!
//! Protobuf accepts many byte strings for one message (fields in any order,
//! repeated or unknown fields, default values written out, over-long
//! varints). A chain must not: the same transaction under two encodings would
//! have two hashes. So every decoder here re-encodes what it decoded and
//! refuses the input unless it is byte for byte the canonical form, and every
//! fixed-size field (hash, address, key, signature) has its length checked.
//! Errors say which field is wrong.

use lambda_common::keys::{Address, KeyError, PublicKey, Signature};
use lambda_proto::chain::v1 as pb;
use prost::Message;

use crate::types::{CommitCertificate, CommitSig, Hash, Vote, VoteType};

/// Why bytes are not a valid chain message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No bytes where a message was expected.
    #[error("empty {0}")]
    Empty(&'static str),
    /// The input is longer than allowed.
    #[error("{what} is {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// What was decoded.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not valid protobuf for the message.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was decoded.
        what: &'static str,
        /// The protobuf decoder's reason.
        reason: String,
    },
    /// Valid protobuf, but not the canonical encoding.
    #[error(
        "{0} is not canonically encoded (unknown fields, field order or default values written out)"
    )]
    NonCanonical(&'static str),
    /// A required field is absent.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// A fixed-size field has the wrong length.
    #[error("field {field} is {len} bytes, expected {expected}")]
    Length {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The length it must have.
        expected: usize,
    },
    /// A key or signature field does not decode.
    #[error("field {field}: {source}")]
    Key {
        /// The field.
        field: &'static str,
        /// Why it failed.
        source: KeyError,
    },
    /// A field holds a value outside its domain.
    #[error("field {field} has invalid value {value}")]
    Value {
        /// The field.
        field: &'static str,
        /// The value, rendered.
        value: String,
    },
}

/// Decodes `bytes` as `M` and checks that they are `M`'s canonical encoding.
pub(crate) fn decode_canonical<M: Message + Default>(
    bytes: &[u8],
    what: &'static str,
    limit: usize,
) -> Result<M, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            limit,
        });
    }
    let msg = M::decode(bytes).map_err(|e| DecodeError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if msg.encoded_len() != bytes.len() || msg.encode_to_vec() != bytes {
        return Err(DecodeError::NonCanonical(what));
    }
    Ok(msg)
}

/// A 32-byte hash field.
pub(crate) fn hash(bytes: &[u8], field: &'static str) -> Result<Hash, DecodeError> {
    Hash::from_slice(bytes).map_err(|_| DecodeError::Length {
        field,
        len: bytes.len(),
        expected: 32,
    })
}

/// A 20-byte address field.
pub(crate) fn address(bytes: &[u8], field: &'static str) -> Result<Address, DecodeError> {
    Address::from_slice(bytes).map_err(|_| DecodeError::Length {
        field,
        len: bytes.len(),
        expected: 20,
    })
}

/// A public-key field (algorithm byte ‖ key).
pub(crate) fn public_key(bytes: &[u8], field: &'static str) -> Result<PublicKey, DecodeError> {
    PublicKey::from_bytes(bytes).map_err(|source| DecodeError::Key { field, source })
}

/// A signature field (algorithm byte ‖ signature).
pub(crate) fn signature(bytes: &[u8], field: &'static str) -> Result<Signature, DecodeError> {
    Signature::from_bytes(bytes).map_err(|source| DecodeError::Key { field, source })
}

/// A required sub-message.
pub(crate) fn required<T>(v: Option<T>, field: &'static str) -> Result<T, DecodeError> {
    v.ok_or(DecodeError::Missing(field))
}

/// The protobuf form of a commit certificate.
pub fn commit_to_pb(c: &CommitCertificate) -> pb::BlockCommit {
    pb::BlockCommit {
        height: c.height,
        round: c.round,
        block_hash: c.block_hash.0.to_vec(),
        signatures: c
            .signatures
            .iter()
            .map(|s| pb::BlockCommitSig {
                validator: s.validator.0.to_vec(),
                signature: s.signature.to_bytes(),
            })
            .collect(),
    }
}

/// Decodes a commit certificate (signatures are checked by
/// [`CommitCertificate::verify`], not here).
pub fn commit_from_pb(c: pb::BlockCommit) -> Result<CommitCertificate, DecodeError> {
    let mut signatures = Vec::with_capacity(c.signatures.len());
    for s in c.signatures {
        signatures.push(CommitSig {
            validator: address(&s.validator, "commit.signatures.validator")?,
            signature: signature(&s.signature, "commit.signatures.signature")?,
        });
    }
    Ok(CommitCertificate {
        height: c.height,
        round: c.round,
        block_hash: hash(&c.block_hash, "commit.block_hash")?,
        signatures,
    })
}

/// Encodes a commit certificate for storage.
pub fn encode_commit(c: &CommitCertificate) -> Vec<u8> {
    commit_to_pb(c).encode_to_vec()
}

/// Decodes a stored or received commit certificate, strictly.
pub fn decode_commit(bytes: &[u8]) -> Result<CommitCertificate, DecodeError> {
    commit_from_pb(decode_canonical(bytes, "commit certificate", 1 << 20)?)
}

/// The protobuf form of a vote.
pub fn vote_to_pb(v: &Vote) -> pb::EvidenceVote {
    pb::EvidenceVote {
        vote_type: match v.vote_type {
            VoteType::Prevote => 1,
            VoteType::Precommit => 2,
        },
        height: v.height,
        round: v.round,
        block_hash: v.block_hash.map(|h| h.0.to_vec()).unwrap_or_default(),
        validator: v.validator.0.to_vec(),
        signature: v.signature.to_bytes(),
    }
}

/// Decodes a vote (its signature is checked later, against a validator set).
pub fn vote_from_pb(v: pb::EvidenceVote) -> Result<Vote, DecodeError> {
    let vote_type = match v.vote_type {
        1 => VoteType::Prevote,
        2 => VoteType::Precommit,
        other => {
            return Err(DecodeError::Value {
                field: "vote.vote_type",
                value: other.to_string(),
            });
        }
    };
    let block_hash = if v.block_hash.is_empty() {
        None
    } else {
        Some(hash(&v.block_hash, "vote.block_hash")?)
    };
    Ok(Vote {
        vote_type,
        height: v.height,
        round: v.round,
        block_hash,
        validator: address(&v.validator, "vote.validator")?,
        signature: signature(&v.signature, "vote.signature")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_common::keys::SigningKey;
    use proptest::prelude::*;

    fn cert() -> CommitCertificate {
        let k = SigningKey::from_seed([3; 32]);
        let h = Hash::digest(b"b");
        let v = Vote::new_signed(&k, "c", VoteType::Precommit, 4, 0, Some(h));
        CommitCertificate {
            height: 4,
            round: 0,
            block_hash: h,
            signatures: vec![CommitSig {
                validator: v.validator,
                signature: v.signature,
            }],
        }
    }

    #[test]
    fn commit_round_trip_and_strictness() {
        let c = cert();
        let bytes = encode_commit(&c);
        assert_eq!(decode_commit(&bytes).unwrap(), c);
        // An unknown field appended: valid protobuf, not canonical.
        let mut extra = bytes.clone();
        extra.extend_from_slice(&[0x78, 0x01]);
        assert_eq!(
            decode_commit(&extra),
            Err(DecodeError::NonCanonical("commit certificate"))
        );
        let mut short = commit_to_pb(&c);
        short.block_hash.pop();
        assert!(matches!(
            commit_from_pb(short),
            Err(DecodeError::Length {
                field: "commit.block_hash",
                len: 31,
                ..
            })
        ));
    }

    #[test]
    fn vote_round_trip_and_bad_type() {
        let k = SigningKey::from_seed([3; 32]);
        let v = Vote::new_signed(&k, "c", VoteType::Prevote, 1, 2, None);
        assert_eq!(vote_from_pb(vote_to_pb(&v)).unwrap(), v);
        let mut bad = vote_to_pb(&v);
        bad.vote_type = 7;
        assert!(matches!(
            vote_from_pb(bad),
            Err(DecodeError::Value {
                field: "vote.vote_type",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_commit(&b);
        }
    }
}
