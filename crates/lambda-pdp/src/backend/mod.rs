//! Which library runs the hot kernels: tag generation, the prover's σ and
//! the verifier's check.
//!
//! The public API, its types (`bls12_381` points and scalars) and its
//! encodings are the same for both; only these three kernels differ.
//!
//! - [`Backend::Native`]: pure Rust on `bls12_381`, with our own Pippenger,
//!   comb table and deferred cofactor clearing.
//! - [`Backend::Blst`]: the `blst` assembly library (through `blstrs` for
//!   hash-to-curve and point types, and `blst`'s own Pippenger and pairing).
//!   It is about twice as fast (see `benches/README.md`), so it is the
//!   default.
//!
//! Both produce bit-identical tags and proofs (the hash-to-curve suite is the
//! standard one), which the test suites check by running every scenario on
//! both and mixing them (tag with one, prove and verify with the other).

mod blst;
mod native;

use bls12_381::{G1Affine, G2Affine, G2Prepared, Scalar};

use crate::challenge::ChallengedBlock;
use crate::error::PdpError;

/// The library that runs the hot kernels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Pure Rust, on `bls12_381`.
    Native,
    /// The `blst` library (assembly).
    #[default]
    Blst,
}

/// What the verifier's pairing check needs to know about the owner's key.
pub(crate) struct OwnerKey<'a> {
    pub(crate) point: &'a G2Affine,
    pub(crate) prepared: &'a G2Prepared,
}

impl Backend {
    /// Every backend, for tests and benchmarks.
    pub const ALL: [Backend; 2] = [Backend::Native, Backend::Blst];

    /// A short name ("bls12_381" or "blst").
    pub fn name(self) -> &'static str {
        match self {
            Backend::Native => "bls12_381",
            Backend::Blst => "blst",
        }
    }

    /// Tags of the blocks of `data` (blocks of `block_bytes`):
    /// σ_i = (H(name ‖ i) · g1^{Σ_j r_j·m_ij})^sk, in parallel.
    pub(crate) fn tag_blocks(
        self,
        name: &[u8],
        data: &[u8],
        block_bytes: usize,
        r: &[Scalar],
        sk: &Scalar,
    ) -> Result<Vec<G1Affine>, PdpError> {
        match self {
            Backend::Native => Ok(native::tag_blocks(name, data, block_bytes, r, sk)),
            Backend::Blst => blst::tag_blocks(name, data, block_bytes, r, sk),
        }
    }

    /// σ = Σ v_i·σ_i over 128-bit coefficients.
    pub(crate) fn sigma(
        self,
        tags: &[G1Affine],
        coefficients: &[u128],
    ) -> Result<G1Affine, PdpError> {
        match self {
            Backend::Native => Ok(native::sigma(tags, coefficients)),
            Backend::Blst => blst::sigma(tags, coefficients),
        }
    }

    /// Whether e(σ, g2) = e(Σ v_i·H(name ‖ i) + Σ μ_j·u_j, pk).
    pub(crate) fn check(
        self,
        name: &[u8],
        blocks: &[ChallengedBlock],
        u: &[G1Affine],
        mu: &[Scalar],
        sigma: &G1Affine,
        owner: &OwnerKey<'_>,
    ) -> Result<bool, PdpError> {
        match self {
            Backend::Native => Ok(native::check(name, blocks, u, mu, sigma, owner.prepared)),
            Backend::Blst => blst::check(name, blocks, u, mu, sigma, owner.point),
        }
    }
}

/// Σ_j r_j·m_ij for one block: the exponent of g1 in the owner's shortcut.
pub(crate) fn block_exponent(block: &[u8], r: &[Scalar]) -> Scalar {
    block
        .chunks(crate::layout::SECTOR_BYTES)
        .zip(r)
        .map(|(sector, rj)| crate::layout::sector_scalar(sector) * rj)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::Challenge;
    use ff::Field;
    use group::Curve;
    use rand::SeedableRng;

    #[test]
    fn backends_compute_identical_tags_and_sigmas() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let r: Vec<Scalar> = (0..3).map(|_| Scalar::random(&mut rng)).collect();
        let sk = Scalar::random(&mut rng);
        let data: Vec<u8> = (0..93 * 5 + 11).map(|i| (i * 13) as u8).collect();
        let tags = Backend::ALL.map(|b| b.tag_blocks(b"n", &data, 93, &r, &sk).unwrap());
        assert_eq!(tags[0], tags[1]);
        assert_eq!(tags[0].len(), 6);
        let coefficients: Vec<u128> = (1..=6).map(|i| u128::MAX / i).collect();
        let sigmas = Backend::ALL.map(|b| b.sigma(&tags[0], &coefficients).unwrap());
        assert_eq!(sigmas[0], sigmas[1]);
        assert_eq!(Backend::Blst.sigma(&[], &[]).unwrap(), G1Affine::identity());
    }

    #[test]
    fn backends_agree_on_the_pairing_check_and_identities() {
        let sk = Scalar::from(77u64);
        let pk = (G2Affine::generator() * sk).to_affine();
        let prepared = G2Prepared::from(pk);
        let owner = OwnerKey {
            point: &pk,
            prepared: &prepared,
        };
        let u = [(G1Affine::generator() * Scalar::from(5u64)).to_affine()];
        let mu = [Scalar::from(3u64)];
        let blocks = Challenge::new([1; 32], 2).unwrap().expand(4);
        // σ for data whose μ is 3 under a single "tag" relation.
        let x = blocks
            .iter()
            .map(|b| crate::hash::block_point(b"o", b.index) * b.scalar())
            .fold(bls12_381::G1Projective::from(u[0]) * mu[0], |a, p| a + p);
        let sigma = (x * sk).to_affine();
        for b in Backend::ALL {
            assert!(
                b.check(b"o", &blocks, &u, &mu, &sigma, &owner).unwrap(),
                "{b:?}"
            );
            assert!(
                !b.check(b"p", &blocks, &u, &mu, &sigma, &owner).unwrap(),
                "{b:?}"
            );
            let id = G1Affine::identity();
            assert!(
                !b.check(b"o", &blocks, &u, &mu, &id, &owner).unwrap(),
                "{b:?}"
            );
        }
    }
}
