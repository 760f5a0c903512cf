//! Proofs and the prover's computation.
//!
//! For a challenge {(i, v_i)} the prover answers σ = Π σ_i^{v_i} (one
//! multi-scalar multiplication over 128-bit coefficients, on a [`Backend`]) and μ_j = Σ_i
//! v_i·m_ij (exact integer sums reduced once, see [`crate::sums`]). The
//! proof also carries the challenge's seed and the metadata digest, so a
//! proof for another challenge or another object is refused by name before
//! any pairing is computed.

use bls12_381::{G1Affine, Scalar};

use crate::backend::Backend;
use crate::challenge::Challenge;
use crate::codec::{G1_BYTES, SCALAR_BYTES};
use crate::error::PdpError;
use crate::layout::{SECTOR_BYTES, sector_limbs};
use crate::metadata::TagMetadata;
use crate::sums::WideSum;
use crate::tag::Tag;

/// A proof of possession.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The seed of the challenge answered.
    pub seed: [u8; 32],
    /// The digest of the metadata of the object proven.
    pub metadata_digest: [u8; 32],
    /// σ = Π σ_i^{v_i}.
    pub sigma: G1Affine,
    /// μ_1 .. μ_s.
    pub mu: Vec<Scalar>,
}

impl Proof {
    /// Size of the proof's payload in bytes (seed, digest, σ and the μ_j).
    pub fn payload_bytes(&self) -> usize {
        64 + G1_BYTES + SCALAR_BYTES * self.mu.len()
    }
}

/// Computes the proof for `challenge` over the object of `metadata`.
/// `fetch(i)` returns block i (exactly as long as the layout says) and its
/// tag; its errors are passed on.
pub fn prove<F>(metadata: &TagMetadata, challenge: &Challenge, fetch: F) -> Result<Proof, PdpError>
where
    F: FnMut(u64) -> Result<(Vec<u8>, Tag), PdpError>,
{
    prove_with(Backend::default(), metadata, challenge, fetch)
}

/// [`prove`] on a chosen backend.
pub fn prove_with<F>(
    backend: Backend,
    metadata: &TagMetadata,
    challenge: &Challenge,
    mut fetch: F,
) -> Result<Proof, PdpError>
where
    F: FnMut(u64) -> Result<(Vec<u8>, Tag), PdpError>,
{
    let layout = metadata.layout();
    let sectors = layout.sectors();
    let blocks = challenge.expand(layout.blocks());
    let mut sums = vec![WideSum::default(); sectors];
    let mut tags = Vec::with_capacity(blocks.len());
    let mut coefficients = Vec::with_capacity(blocks.len());
    for b in &blocks {
        let (data, tag) = fetch(b.index)?;
        layout.check_block(b.index, &data)?;
        for (sum, sector) in sums.iter_mut().zip(data.chunks(SECTOR_BYTES)) {
            sum.add_product(&sector_limbs(sector), b.coefficient);
        }
        tags.push(*tag.point());
        coefficients.push(b.coefficient);
    }
    let sigma = backend.sigma(&tags, &coefficients)?;
    Ok(Proof {
        seed: *challenge.seed(),
        metadata_digest: metadata.digest(),
        sigma,
        mu: sums.iter().map(WideSum::reduce).collect(),
    })
}
