//! The pure-Rust kernels on `bls12_381`.
//!
//! Tagging: one hash-to-curve, one comb-table multiplication of g1 and one
//! wNAF multiplication by sk (window 5, the wNAF of sk computed once) per
//! block. σ: our Pippenger over 128-bit coefficients. Check: block hashes
//! before cofactor clearing, one Pippenger, one clearing, a second Pippenger
//! for Σ μ_j·u_j, and a two-term multi-Miller loop with one final
//! exponentiation.

use bls12_381::{G1Affine, G1Projective, G2Prepared, Scalar};
use group::{Curve, WnafBase, WnafScalar};
use rayon::prelude::*;

use super::block_exponent;
use crate::challenge::{COEFFICIENT_BITS, ChallengedBlock};
use crate::fixed_base::GeneratorTable;
use crate::hash::{block_point, block_point_uncleared, clear_cofactor};
use crate::keys::pairing_product_is_one;
use crate::msm::{msm, msm_bits};

/// wNAF window of the multiplications by sk.
const SK_WINDOW: usize = 5;

pub(super) fn tag_blocks(
    name: &[u8],
    data: &[u8],
    block_bytes: usize,
    r: &[Scalar],
    sk: &Scalar,
) -> Vec<G1Affine> {
    let table = GeneratorTable::get();
    let sk_wnaf = WnafScalar::<Scalar, SK_WINDOW>::new(sk);
    let proj: Vec<G1Projective> = data
        .par_chunks(block_bytes)
        .enumerate()
        .map(|(i, block)| {
            let base = block_point(name, i as u64) + table.mul(&block_exponent(block, r));
            &WnafBase::<G1Projective, SK_WINDOW>::new(base) * &sk_wnaf
        })
        .collect();
    let mut tags = vec![G1Affine::identity(); proj.len()];
    G1Projective::batch_normalize(&proj, &mut tags);
    tags
}

fn coefficient_scalar(v: u128) -> Scalar {
    Scalar::from_raw([v as u64, (v >> 64) as u64, 0, 0])
}

pub(super) fn sigma(tags: &[G1Affine], coefficients: &[u128]) -> G1Affine {
    let v: Vec<Scalar> = coefficients
        .iter()
        .map(|&c| coefficient_scalar(c))
        .collect();
    msm_bits(tags, &v, COEFFICIENT_BITS).to_affine()
}

pub(super) fn check(
    name: &[u8],
    blocks: &[ChallengedBlock],
    u: &[G1Affine],
    mu: &[Scalar],
    sigma: &G1Affine,
    owner: &G2Prepared,
) -> bool {
    let hashes: Vec<G1Projective> = blocks
        .par_iter()
        .map(|b| block_point_uncleared(name, b.index))
        .collect();
    let mut points = vec![G1Affine::identity(); hashes.len()];
    G1Projective::batch_normalize(&hashes, &mut points);
    let v: Vec<Scalar> = blocks
        .iter()
        .map(|b| coefficient_scalar(b.coefficient))
        .collect();
    let hashed = clear_cofactor(&msm_bits(&points, &v, COEFFICIENT_BITS));
    let x = hashed + msm(u, mu);
    pairing_product_is_one(sigma, &x, owner)
}
