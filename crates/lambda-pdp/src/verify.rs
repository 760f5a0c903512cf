//! The verifier (run by validators, or anyone).
//!
//! A [`Verifier`] is built from signed metadata once (the owner's signature
//! is checked then) and checks proofs for any challenge:
//!
//! 1. the proof's seed is the challenge's and its metadata digest is the
//!    object's, and it has s sector sums (each refused by name, before any
//!    curve arithmetic);
//! 2. e(σ, g2) = e(Π H(name ‖ i)^{v_i} · Π u_j^{μ_j}, pk), one product of
//!    two pairings sharing a final exponentiation, on the verifier's
//!    [`Backend`]. The block hashes are computed in parallel on the rayon
//!    pool.

use bls12_381::G2Prepared;

use crate::backend::{Backend, OwnerKey};
use crate::challenge::Challenge;
use crate::error::PdpError;
use crate::metadata::{SignedMetadata, TagMetadata};
use crate::proof::Proof;

/// Checks proofs against one object's metadata.
pub struct Verifier {
    metadata: TagMetadata,
    digest: [u8; 32],
    owner: G2Prepared,
    backend: Backend,
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
            backend: Backend::default(),
        })
    }

    /// The same verifier on `backend`.
    pub fn with_backend(self, backend: Backend) -> Self {
        Self { backend, ..self }
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
        let owner = OwnerKey {
            point: self.metadata.owner().point(),
            prepared: &self.owner,
        };
        let holds = self.backend.check(
            self.metadata.name(),
            &blocks,
            self.metadata.u(),
            &proof.mu,
            &proof.sigma,
            &owner,
        )?;
        if holds {
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
