//! The verifier (run by validators, or anyone).
//!
//! A [`Verifier`] is built from signed metadata once (the owner's signature
//! is checked then) and checks proofs for any challenge:
//!
//! 1. the proof's seed is the challenge's and its metadata digest is the
//!    object's, and it has s sector sums (each refused by name);
//! 2. e(σ, g2) = e(Π H(name ‖ i)^{v_i} · Π u_j^{μ_j}, pk), computed as one
//!    multi-Miller loop over (σ, −g2), (X, pk) and one final exponentiation.
//!
//! Π H_i^{v_i} is one multi-scalar multiplication over the block hashes
//! before cofactor clearing, then a single clearing (see [`crate::hash`]);
//! the hashes are computed in parallel on the rayon pool.

use bls12_381::{G1Affine, G1Projective, G2Prepared};
use rayon::prelude::*;

use crate::challenge::{COEFFICIENT_BITS, Challenge};
use crate::error::PdpError;
use crate::hash::{block_point_uncleared, clear_cofactor};
use crate::keys::pairing_product_is_one;
use crate::metadata::{SignedMetadata, TagMetadata};
use crate::msm::{msm, msm_bits};
use crate::proof::Proof;

/// Checks proofs against one object's metadata.
pub struct Verifier {
    metadata: TagMetadata,
    digest: [u8; 32],
    owner: G2Prepared,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl Verifier {
    /// A verifier for `signed`, after checking the owner's signature.
    pub fn new(signed: &SignedMetadata) -> Result<Self, PdpError> {
        signed.verify()?;
        let metadata = signed.metadata().clone();
        Ok(Self {
            digest: metadata.digest(),
            owner: G2Prepared::from(*metadata.owner().point()),
            metadata,
        })
    }

    /// The metadata proofs are checked against.
    pub fn metadata(&self) -> &TagMetadata {
        &self.metadata
    }

    /// The metadata digest proofs must carry.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Checks `proof` against `challenge`.
    pub fn verify(&self, challenge: &Challenge, proof: &Proof) -> Result<(), PdpError> {
        if &proof.seed != challenge.seed() {
            return Err(PdpError::SeedMismatch);
        }
        if proof.metadata_digest != self.digest {
            return Err(PdpError::ObjectMismatch);
        }
        if proof.mu.len() != self.metadata.sectors() {
            return Err(PdpError::SectorCountMismatch {
                expected: self.metadata.sectors(),
                got: proof.mu.len(),
            });
        }
        let blocks = challenge.expand(self.metadata.blocks());
        let name = self.metadata.name();
        let hashes: Vec<G1Projective> = blocks
            .par_iter()
            .map(|b| block_point_uncleared(name, b.index))
            .collect();
        let mut points = vec![G1Affine::identity(); hashes.len()];
        G1Projective::batch_normalize(&hashes, &mut points);
        let coefficients: Vec<_> = blocks.iter().map(|b| b.scalar()).collect();
        let hashed = clear_cofactor(&msm_bits(&points, &coefficients, COEFFICIENT_BITS));
        let x = hashed + msm(self.metadata.u(), &proof.mu);
        if pairing_product_is_one(&proof.sigma, &x, &self.owner) {
            Ok(())
        } else {
            Err(PdpError::PairingCheckFailed)
        }
    }
}

/// Checks that `proof` answers `challenge` for the object of `signed`
/// (signature included); for one-off checks. Reuse a [`Verifier`] for many.
pub fn verify(
    signed: &SignedMetadata,
    challenge: &Challenge,
    proof: &Proof,
) -> Result<(), PdpError> {
    Verifier::new(signed)?.verify(challenge, proof)
}
