//! The consensus-facing types every part of the chain shares: hashes,
//! validators and validator sets, signed votes and proposals, commit
//! certificates and double-sign evidence.
//!
//! Everything that is signed or hashed has a hand-written canonical byte
//! encoding (`sign_bytes`, `digest`) that starts with a domain tag and the
//! chain id, independent of the protobuf wire format, so signatures stay valid
//! whatever the wire format does and can never be replayed across purposes or
//! chains. Validation reports what is wrong with a precise [`TypesError`].

use std::collections::BTreeSet;
use std::fmt;

use lambda_common::keys::{Address, KeyError, PublicKey, Signature, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Block height (the genesis block is height 0; the first committed block 1).
pub type Height = u64;
/// Consensus round within a height.
pub type Round = u32;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// SHA-256 of `bytes`.
    pub fn digest(bytes: &[u8]) -> Self {
        Hash(Sha256::digest(bytes).into())
    }

    /// Decodes 32 raw bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, TypesError> {
        bytes
            .try_into()
            .map(Hash)
            .map_err(|_| TypesError::HashLength(bytes.len()))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &hex::encode(self.0)[..12])
    }
}

/// Why a consensus object is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypesError {
    /// A hash is not 32 bytes.
    #[error("hash is {0} bytes, expected 32")]
    HashLength(usize),
    /// The validator set is empty.
    #[error("validator set is empty")]
    EmptyValidatorSet,
    /// A validator appears twice.
    #[error("validator {0} appears twice")]
    DuplicateValidator(Address),
    /// A validator has zero voting power.
    #[error("validator {0} has zero voting power")]
    ZeroPower(Address),
    /// A signer is not in the validator set.
    #[error("{0} is not a validator of this height")]
    UnknownValidator(Address),
    /// A signature does not verify.
    #[error("signature of {signer} is invalid: {source}")]
    BadSignature {
        /// Who supposedly signed.
        signer: Address,
        /// Why it failed.
        source: KeyError,
    },
    /// A validator signed a certificate twice.
    #[error("certificate counts validator {0} twice")]
    DuplicateSignature(Address),
    /// The signers do not hold more than two thirds of the power.
    #[error("certificate has {have} of {total} voting power, needs {need}")]
    InsufficientPower {
        /// Power of the valid signers.
        have: u64,
        /// Total power.
        total: u64,
        /// Power needed.
        need: u64,
    },
    /// Evidence votes do not conflict.
    #[error("evidence is not a double sign: {0}")]
    NotConflicting(&'static str),
}

/// A validator: its address, key and voting power.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validator {
    /// Address (derived from the key).
    pub address: Address,
    /// Consensus signing key.
    pub public_key: PublicKey,
    /// Voting power (> 0).
    pub power: u64,
}

impl Validator {
    /// A validator with `power` for `public_key`.
    pub fn new(public_key: PublicKey, power: u64) -> Self {
        Self {
            address: public_key.address(),
            public_key,
            power,
        }
    }
}

/// The validators of a height, sorted by address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total_power: u64,
}

impl ValidatorSet {
    /// Validates and sorts a set.
    pub fn new(mut validators: Vec<Validator>) -> Result<Self, TypesError> {
        if validators.is_empty() {
            return Err(TypesError::EmptyValidatorSet);
        }
        validators.sort_by_key(|v| v.address);
        let mut total: u64 = 0;
        for (i, v) in validators.iter().enumerate() {
            if v.power == 0 {
                return Err(TypesError::ZeroPower(v.address));
            }
            if i > 0 && validators[i - 1].address == v.address {
                return Err(TypesError::DuplicateValidator(v.address));
            }
            total = total.saturating_add(v.power);
        }
        Ok(Self {
            validators,
            total_power: total,
        })
    }

    /// Validators in address order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Never true for a constructed set.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// Sum of voting power.
    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// Smallest power that is more than two thirds of the total.
    pub fn quorum_power(&self) -> u64 {
        self.total_power / 3 * 2 + (self.total_power % 3) * 2 / 3 + 1
    }

    /// Smallest power that is more than one third of the total (enough to
    /// contain at least one honest validator).
    pub fn one_third_power(&self) -> u64 {
        self.total_power / 3 + 1
    }

    /// The validator with `address`.
    pub fn get(&self, address: &Address) -> Option<&Validator> {
        self.validators
            .binary_search_by_key(address, |v| v.address)
            .ok()
            .map(|i| &self.validators[i])
    }

    /// The proposer of `(height, round)`: round robin over the address order,
    /// shifted by height so every validator proposes in turn.
    pub fn proposer(&self, height: Height, round: Round) -> &Validator {
        let n = self.validators.len() as u64;
        let i = (height.wrapping_add(u64::from(round))) % n.max(1);
        &self.validators[i as usize]
    }

    /// A digest of the set, committed in block headers.
    pub fn digest(&self) -> Hash {
        let mut b = Vec::with_capacity(self.validators.len() * 70);
        b.extend_from_slice(b"lambda/validators/v1");
        for v in &self.validators {
            b.extend_from_slice(&v.public_key.to_bytes());
            b.extend_from_slice(&v.power.to_be_bytes());
        }
        Hash::digest(&b)
    }
}

/// The two voting steps of Tendermint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VoteType {
    /// First step: a vote for a proposal (or nil).
    Prevote,
    /// Second step: a vote to commit (or nil).
    Precommit,
}

impl VoteType {
    fn code(self) -> u8 {
        match self {
            VoteType::Prevote => 1,
            VoteType::Precommit => 2,
        }
    }
}

/// A signed vote. `block_hash = None` is a vote for nil.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub block_hash: Option<Hash>,
    /// The voter.
    pub validator: Address,
    /// The voter's signature over [`Vote::sign_bytes`].
    pub signature: Signature,
}

fn push_option_hash(b: &mut Vec<u8>, h: Option<Hash>) {
    match h {
        Some(h) => {
            b.push(1);
            b.extend_from_slice(&h.0);
        }
        None => b.push(0),
    }
}

fn push_chain_id(b: &mut Vec<u8>, chain_id: &str) {
    b.extend_from_slice(&(chain_id.len() as u32).to_be_bytes());
    b.extend_from_slice(chain_id.as_bytes());
}

impl Vote {
    /// The bytes a validator signs for a vote.
    pub fn sign_bytes(
        chain_id: &str,
        vote_type: VoteType,
        height: Height,
        round: Round,
        block_hash: Option<Hash>,
    ) -> Vec<u8> {
        let mut b = Vec::with_capacity(96);
        b.extend_from_slice(b"lambda/vote/v1");
        push_chain_id(&mut b, chain_id);
        b.push(vote_type.code());
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&round.to_be_bytes());
        push_option_hash(&mut b, block_hash);
        b
    }

    /// Creates and signs a vote.
    pub fn new_signed(
        key: &SigningKey,
        chain_id: &str,
        vote_type: VoteType,
        height: Height,
        round: Round,
        block_hash: Option<Hash>,
    ) -> Self {
        let signature = key.sign(&Self::sign_bytes(
            chain_id, vote_type, height, round, block_hash,
        ));
        Self {
            vote_type,
            height,
            round,
            block_hash,
            validator: key.public().address(),
            signature,
        }
    }

    /// Checks that the voter is in `set` and the signature is valid; returns
    /// the voter's power.
    pub fn verify(&self, chain_id: &str, set: &ValidatorSet) -> Result<u64, TypesError> {
        let v = set
            .get(&self.validator)
            .ok_or(TypesError::UnknownValidator(self.validator))?;
        let msg = Self::sign_bytes(
            chain_id,
            self.vote_type,
            self.height,
            self.round,
            self.block_hash,
        );
        v.public_key
            .verify(&msg, &self.signature)
            .map_err(|source| TypesError::BadSignature {
                signer: self.validator,
                source,
            })?;
        Ok(v.power)
    }
}

/// A signed proposal of a block for `(height, round)`. The block itself
/// travels beside it; its hash is what is signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The round of the proof of lock (Tendermint's `validRound`), if any.
    pub pol_round: Option<Round>,
    /// Hash of the proposed block.
    pub block_hash: Hash,
    /// The proposer.
    pub proposer: Address,
    /// Signature over [`Proposal::sign_bytes`].
    pub signature: Signature,
}

impl Proposal {
    /// The bytes a proposer signs.
    pub fn sign_bytes(
        chain_id: &str,
        height: Height,
        round: Round,
        pol_round: Option<Round>,
        block_hash: Hash,
    ) -> Vec<u8> {
        let mut b = Vec::with_capacity(96);
        b.extend_from_slice(b"lambda/proposal/v1");
        push_chain_id(&mut b, chain_id);
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&round.to_be_bytes());
        match pol_round {
            Some(r) => {
                b.push(1);
                b.extend_from_slice(&r.to_be_bytes());
            }
            None => b.push(0),
        }
        b.extend_from_slice(&block_hash.0);
        b
    }

    /// Creates and signs a proposal.
    pub fn new_signed(
        key: &SigningKey,
        chain_id: &str,
        height: Height,
        round: Round,
        pol_round: Option<Round>,
        block_hash: Hash,
    ) -> Self {
        let signature = key.sign(&Self::sign_bytes(
            chain_id, height, round, pol_round, block_hash,
        ));
        Self {
            height,
            round,
            pol_round,
            block_hash,
            proposer: key.public().address(),
            signature,
        }
    }

    /// Checks the signature and that the signer is the proposer of the
    /// round in `set`.
    pub fn verify(&self, chain_id: &str, set: &ValidatorSet) -> Result<(), TypesError> {
        let expected = set.proposer(self.height, self.round);
        if expected.address != self.proposer {
            return Err(TypesError::UnknownValidator(self.proposer));
        }
        let msg = Self::sign_bytes(
            chain_id,
            self.height,
            self.round,
            self.pol_round,
            self.block_hash,
        );
        expected
            .public_key
            .verify(&msg, &self.signature)
            .map_err(|source| TypesError::BadSignature {
                signer: self.proposer,
                source,
            })
    }
}

/// One validator's precommit inside a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSig {
    /// The validator.
    pub validator: Address,
    /// Its precommit signature for the certificate's block.
    pub signature: Signature,
}

/// Proof that a block was committed: precommits for it from validators
/// holding more than two thirds of the power, in one round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCertificate {
    /// Height of the block.
    pub height: Height,
    /// Round in which it was committed.
    pub round: Round,
    /// The committed block.
    pub block_hash: Hash,
    /// The precommits, sorted by validator address.
    pub signatures: Vec<CommitSig>,
}

impl CommitCertificate {
    /// Checks every signature and the power threshold against `set`.
    pub fn verify(&self, chain_id: &str, set: &ValidatorSet) -> Result<(), TypesError> {
        let msg = Vote::sign_bytes(
            chain_id,
            VoteType::Precommit,
            self.height,
            self.round,
            Some(self.block_hash),
        );
        let mut seen = BTreeSet::new();
        let mut power: u64 = 0;
        for s in &self.signatures {
            if !seen.insert(s.validator) {
                return Err(TypesError::DuplicateSignature(s.validator));
            }
            let v = set
                .get(&s.validator)
                .ok_or(TypesError::UnknownValidator(s.validator))?;
            v.public_key
                .verify(&msg, &s.signature)
                .map_err(|source| TypesError::BadSignature {
                    signer: s.validator,
                    source,
                })?;
            power = power.saturating_add(v.power);
        }
        let need = set.quorum_power();
        if power < need {
            return Err(TypesError::InsufficientPower {
                have: power,
                total: set.total_power(),
                need,
            });
        }
        Ok(())
    }

    /// A digest of the certificate: the seed material for PDP challenges of
    /// the following epoch. Deterministic for a given certificate; the
    /// certificate recorded on chain (in the next block) is the one that counts.
    pub fn digest(&self) -> Hash {
        let mut b = Vec::with_capacity(64 + self.signatures.len() * 86);
        b.extend_from_slice(b"lambda/commit/v1");
        b.extend_from_slice(&self.height.to_be_bytes());
        b.extend_from_slice(&self.round.to_be_bytes());
        b.extend_from_slice(&self.block_hash.0);
        for s in &self.signatures {
            b.extend_from_slice(&s.validator.0);
            b.extend_from_slice(&s.signature.to_bytes());
        }
        Hash::digest(&b)
    }
}

/// Two votes of one validator that conflict: same height, round and step,
/// different blocks. Anyone (a fisherman) may submit it to slash the signer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoubleSignEvidence {
    /// One vote.
    pub a: Vote,
    /// The conflicting vote.
    pub b: Vote,
}

impl DoubleSignEvidence {
    /// Checks that the votes conflict and are both validly signed by the same
    /// validator of `set` (the set of the votes' height). Returns the culprit.
    pub fn verify(&self, chain_id: &str, set: &ValidatorSet) -> Result<Address, TypesError> {
        let (a, b) = (&self.a, &self.b);
        if a.validator != b.validator {
            return Err(TypesError::NotConflicting(
                "votes are from different validators",
            ));
        }
        if (a.vote_type, a.height, a.round) != (b.vote_type, b.height, b.round) {
            return Err(TypesError::NotConflicting("votes are for different steps"));
        }
        if a.block_hash == b.block_hash {
            return Err(TypesError::NotConflicting("votes are for the same block"));
        }
        a.verify(chain_id, set)?;
        b.verify(chain_id, set)?;
        Ok(a.validator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u8) -> Vec<SigningKey> {
        (0..n).map(|i| SigningKey::from_seed([i + 1; 32])).collect()
    }

    fn set(keys: &[SigningKey]) -> ValidatorSet {
        ValidatorSet::new(
            keys.iter()
                .map(|k| Validator::new(k.public(), 10))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn quorum_thresholds() {
        let ks = keys(4);
        let s = set(&ks);
        assert_eq!(s.total_power(), 40);
        assert_eq!(s.quorum_power(), 27); // > 26.67
        assert_eq!(s.one_third_power(), 14);
        for total in 1u64..200 {
            let q = total / 3 * 2 + (total % 3) * 2 / 3 + 1;
            assert!(
                3 * q > 2 * total && 3 * (q - 1) <= 2 * total,
                "total {total}"
            );
        }
    }

    #[test]
    fn certificate_needs_two_thirds_of_valid_signatures() {
        let ks = keys(4);
        let s = set(&ks);
        let h = Hash::digest(b"block");
        let sigs = |n: usize| -> Vec<CommitSig> {
            ks[..n]
                .iter()
                .map(|k| {
                    let v = Vote::new_signed(k, "c", VoteType::Precommit, 5, 1, Some(h));
                    CommitSig {
                        validator: v.validator,
                        signature: v.signature,
                    }
                })
                .collect()
        };
        let cert = |signatures| CommitCertificate {
            height: 5,
            round: 1,
            block_hash: h,
            signatures,
        };
        cert(sigs(3)).verify("c", &s).unwrap();
        assert!(matches!(
            cert(sigs(2)).verify("c", &s),
            Err(TypesError::InsufficientPower { .. })
        ));
        assert!(matches!(
            cert(sigs(3)).verify("other-chain", &s),
            Err(TypesError::BadSignature { .. })
        ));
        let mut dup = sigs(3);
        dup.push(dup[0].clone());
        assert!(matches!(
            cert(dup).verify("c", &s),
            Err(TypesError::DuplicateSignature(_))
        ));
    }

    #[test]
    fn double_sign_evidence() {
        let ks = keys(4);
        let s = set(&ks);
        let a = Vote::new_signed(
            &ks[0],
            "c",
            VoteType::Prevote,
            3,
            0,
            Some(Hash::digest(b"x")),
        );
        let b = Vote::new_signed(
            &ks[0],
            "c",
            VoteType::Prevote,
            3,
            0,
            Some(Hash::digest(b"y")),
        );
        let ev = DoubleSignEvidence { a: a.clone(), b };
        assert_eq!(ev.verify("c", &s).unwrap(), ks[0].public().address());
        let same = DoubleSignEvidence { a: a.clone(), b: a };
        assert!(matches!(
            same.verify("c", &s),
            Err(TypesError::NotConflicting(_))
        ));
    }

    #[test]
    fn proposals_must_come_from_the_round_proposer() {
        let ks = keys(4);
        let s = set(&ks);
        let h = Hash::digest(b"b");
        let proposer = s.proposer(7, 2).address;
        let key = ks
            .iter()
            .find(|k| k.public().address() == proposer)
            .unwrap();
        Proposal::new_signed(key, "c", 7, 2, None, h)
            .verify("c", &s)
            .unwrap();
        let other = ks
            .iter()
            .find(|k| k.public().address() != proposer)
            .unwrap();
        assert!(
            Proposal::new_signed(other, "c", 7, 2, None, h)
                .verify("c", &s)
                .is_err()
        );
    }
}
