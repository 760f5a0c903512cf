//! Challenges: a 32-byte seed and a block count, expanded by a PRF into
//! distinct block indices and coefficients, and the validators' derivation of
//! the seed from chain data.
//!
//! The PRF is SHA-256 in counter mode keyed by the seed, with separate labels
//! for indices and coefficients and the object's block count mixed in.
//! Indices are a uniform c-subset of [0, n) by Floyd's algorithm (exactly c
//! draws, no retries), returned in ascending order so the prover reads its
//! blocks sequentially. Coefficients are uniform non-zero 128-bit integers:
//! a prover that does not hold the blocks must guess a linear combination,
//! which succeeds with probability about 2^-128, the level BLS12-381 itself
//! gives; full-width coefficients would double the prover's and the
//! verifier's multi-scalar multiplication for no security gain.

use std::collections::BTreeSet;

use bls12_381::Scalar;
use sha2_digest010::{Digest, Sha256};

use crate::error::PdpError;

/// Largest number of blocks one challenge may name.
pub const MAX_CHALLENGE: u32 = 4096;
/// Bits of a challenge coefficient.
pub const COEFFICIENT_BITS: usize = 128;

const PRF_DOMAIN: &[u8] = b"LAMBDA-PDP-CHALLENGE-V1";
const SEED_DOMAIN: &[u8] = b"LAMBDA-PDP-SEED-V1";

/// A challenge: a seed and how many blocks it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Challenge {
    seed: [u8; 32],
    count: u32,
}

/// One challenged block: its index and coefficient v_i (below 2^128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengedBlock {
    /// Block index.
    pub index: u64,
    /// Coefficient v_i, non-zero, below 2^128.
    pub coefficient: u128,
}

impl ChallengedBlock {
    /// The coefficient as a scalar.
    pub fn scalar(&self) -> Scalar {
        Scalar::from_raw([
            self.coefficient as u64,
            (self.coefficient >> 64) as u64,
            0,
            0,
        ])
    }
}

impl Challenge {
    /// A challenge for `count` blocks (1 ..= [`MAX_CHALLENGE`]) from `seed`.
    pub fn new(seed: [u8; 32], count: u32) -> Result<Self, PdpError> {
        if count == 0 {
            return Err(PdpError::EmptyChallenge);
        }
        if count > MAX_CHALLENGE {
            return Err(PdpError::ChallengeTooLarge {
                count,
                limit: MAX_CHALLENGE,
            });
        }
        Ok(Self { seed, count })
    }

    /// The seed.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// Blocks asked for.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The challenged block indices of an object of `blocks` blocks: `count`
    /// distinct indices in ascending order, or all of them when `count ≥
    /// blocks`.
    pub fn indices(&self, blocks: u64) -> Vec<u64> {
        let c = u64::from(self.count);
        if c >= blocks {
            return (0..blocks).collect();
        }
        let mut prf = Prf::new(&self.seed, b"index", blocks);
        let mut chosen = BTreeSet::new();
        for j in blocks - c..blocks {
            let t = prf.below(j + 1);
            if !chosen.insert(t) {
                chosen.insert(j);
            }
        }
        chosen.into_iter().collect()
    }

    /// The challenged blocks with their coefficients.
    pub fn expand(&self, blocks: u64) -> Vec<ChallengedBlock> {
        let mut prf = Prf::new(&self.seed, b"coefficient", blocks);
        self.indices(blocks)
            .into_iter()
            .map(|index| ChallengedBlock {
                index,
                coefficient: prf.nonzero_u128(),
            })
            .collect()
    }
}

/// SHA-256(domain ‖ label ‖ seed ‖ n ‖ counter) as a stream of u64.
struct Prf {
    key: Vec<u8>,
    counter: u64,
    buffer: [u64; 4],
    used: usize,
}

impl Prf {
    fn new(seed: &[u8; 32], label: &[u8], blocks: u64) -> Self {
        let mut key = Vec::with_capacity(PRF_DOMAIN.len() + label.len() + 48);
        key.extend_from_slice(PRF_DOMAIN);
        key.push(label.len() as u8);
        key.extend_from_slice(label);
        key.extend_from_slice(seed);
        key.extend_from_slice(&blocks.to_be_bytes());
        Self {
            key,
            counter: 0,
            buffer: [0; 4],
            used: 4,
        }
    }

    fn next_u64(&mut self) -> u64 {
        if self.used == 4 {
            let out: [u8; 32] = Sha256::new()
                .chain_update(&self.key)
                .chain_update(self.counter.to_be_bytes())
                .finalize()
                .into();
            for (word, chunk) in self.buffer.iter_mut().zip(out.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                *word = u64::from_le_bytes(b);
            }
            self.counter += 1;
            self.used = 0;
        }
        let v = self.buffer[self.used];
        self.used += 1;
        v
    }

    /// Uniform in [0, bound) by rejection sampling (bound ≥ 1). After 64
    /// rejections in a row (probability below 2^-64) it takes the draw
    /// modulo the bound, so the loop is bounded.
    fn below(&mut self, bound: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % bound;
        let mut x = self.next_u64();
        for _ in 0..64 {
            if x < zone {
                break;
            }
            x = self.next_u64();
        }
        x % bound
    }

    /// Uniform non-zero 128-bit value.
    fn nonzero_u128(&mut self) -> u128 {
        for _ in 0..8 {
            let v = u128::from(self.next_u64()) | (u128::from(self.next_u64()) << 64);
            if v != 0 {
                return v;
            }
        }
        1
    }
}

/// Validators' challenge derivation: the seed of the audit of storage
/// contract `contract` in epoch `epoch` is SHA-256 of a domain tag, the hash
/// of the commit certificate that closed the previous epoch, the epoch and
/// the contract id. A commit certificate carries the signatures of 2f+1
/// validators, so no single proposer chooses the seed, and every validator
/// computes the same challenge from chain data alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenger {
    count: u32,
}

impl Default for Challenger {
    /// 460 blocks: detects 1 % of blocks corrupted with probability ≥ 99 %.
    fn default() -> Self {
        Self { count: 460 }
    }
}

impl Challenger {
    /// A challenger asking for `count` blocks per audit.
    pub fn new(count: u32) -> Result<Self, PdpError> {
        Challenge::new([0; 32], count)?;
        Ok(Self { count })
    }

    /// Blocks asked for per audit.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The seed of (contract, epoch) given the commit certificate hash.
    pub fn seed(&self, contract: &[u8], epoch: u64, certificate_hash: &[u8; 32]) -> [u8; 32] {
        Sha256::new()
            .chain_update(SEED_DOMAIN)
            .chain_update(certificate_hash)
            .chain_update(epoch.to_be_bytes())
            .chain_update((contract.len() as u64).to_be_bytes())
            .chain_update(contract)
            .finalize()
            .into()
    }

    /// The challenge of (contract, epoch) given the commit certificate hash.
    pub fn challenge(&self, contract: &[u8], epoch: u64, certificate_hash: &[u8; 32]) -> Challenge {
        Challenge {
            seed: self.seed(contract, epoch, certificate_hash),
            count: self.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_distinct_sorted_and_in_range() {
        for (n, c) in [
            (10u64, 3u32),
            (1000, 460),
            (461, 460),
            (1 << 40, 460),
            (5, 5),
            (3, 10),
        ] {
            let ch = Challenge::new([n as u8; 32], c).unwrap();
            let idx = ch.indices(n);
            assert_eq!(idx.len() as u64, u64::from(c).min(n));
            assert!(idx.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
            assert!(idx.iter().all(|&i| i < n));
            assert_eq!(idx, ch.indices(n), "deterministic");
        }
    }

    #[test]
    fn coefficients_are_nonzero_and_seed_dependent() {
        let a = Challenge::new([1; 32], 50).unwrap().expand(1000);
        let b = Challenge::new([2; 32], 50).unwrap().expand(1000);
        assert!(a.iter().all(|x| x.coefficient != 0));
        assert_ne!(a, b);
        assert!(a.iter().any(|x| x.coefficient > u128::from(u64::MAX)));
    }

    #[test]
    fn indices_are_uniform() {
        // Each of 20 blocks is picked with probability 5/20; over 4000 seeds
        // each count is 1000 ± 27 (σ); allow 5σ.
        let mut counts = [0u32; 20];
        for s in 0..4000u32 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&s.to_le_bytes());
            for i in Challenge::new(seed, 5).unwrap().indices(20) {
                counts[i as usize] += 1;
            }
        }
        assert!(
            counts.iter().all(|&c| (865..=1135).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn bounds_and_challenger() {
        assert_eq!(Challenge::new([0; 32], 0), Err(PdpError::EmptyChallenge));
        assert!(matches!(
            Challenge::new([0; 32], MAX_CHALLENGE + 1),
            Err(PdpError::ChallengeTooLarge { .. })
        ));
        let ch = Challenger::default();
        let a = ch.challenge(b"contract-1", 7, &[9; 32]);
        assert_eq!(a, ch.challenge(b"contract-1", 7, &[9; 32]));
        assert_ne!(a, ch.challenge(b"contract-1", 8, &[9; 32]));
        assert_ne!(a, ch.challenge(b"contract-2", 7, &[9; 32]));
        assert_ne!(a, ch.challenge(b"contract-1", 7, &[8; 32]));
        assert_eq!(a.count(), 460);
    }
}
