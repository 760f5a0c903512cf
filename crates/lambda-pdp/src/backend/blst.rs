//! The kernels on the `blst` library.
//!
//! Points cross between `bls12_381` and `blstrs` through their common
//! 96-byte uncompressed encoding (a few field multiplications each, against
//! tens of microseconds for the operations themselves). Hashing is
//! `blstrs`' RFC 9380 hash-to-curve with the same domain tag, so block hashes
//! equal the native ones. Multi-scalar multiplications use `blst`'s
//! Pippenger with the real scalar width (128 bits for coefficients), built
//! without its thread pool: callers parallelise over blocks with rayon.

use bls12_381::{G1Affine, G2Affine, Scalar};
use blst::{MultiPoint, blst_fp12, blst_p1, blst_p1_affine, blst_p2_affine};
use blstrs::{
    G1Affine as BG1Affine, G1Projective as BG1, G2Affine as BG2Affine, Scalar as BScalar,
};
use group013::Curve as _;
use group013::Group as _;
use group013::prime::PrimeCurveAffine as _;
use rayon::prelude::*;

use std::sync::OnceLock;

use super::block_exponent;
use crate::challenge::{COEFFICIENT_BITS, ChallengedBlock};
use crate::error::PdpError;
use crate::fixed_base::{GeneratorTable, ROW};
use crate::hash::{BLOCK_DST, block_message};

fn backend_error(what: &str) -> PdpError {
    PdpError::Backend(format!("blst backend could not convert {what}"))
}

fn to_blst_g1(p: &G1Affine) -> Result<BG1Affine, PdpError> {
    Option::from(BG1Affine::from_uncompressed_unchecked(&p.to_uncompressed()))
        .ok_or_else(|| backend_error("a G1 point"))
}

fn from_blst_g1(p: &BG1Affine) -> Result<G1Affine, PdpError> {
    Option::from(G1Affine::from_uncompressed_unchecked(&p.to_uncompressed()))
        .ok_or_else(|| backend_error("a G1 point"))
}

fn to_blst_g2(p: &G2Affine) -> Result<BG2Affine, PdpError> {
    Option::from(BG2Affine::from_uncompressed_unchecked(&p.to_uncompressed()))
        .ok_or_else(|| backend_error("a G2 point"))
}

fn to_blst_scalar(s: &Scalar) -> Result<BScalar, PdpError> {
    Option::from(BScalar::from_bytes_le(&s.to_bytes())).ok_or_else(|| backend_error("a scalar"))
}

fn from_raw(p: blst_p1) -> BG1 {
    let mut out = BG1::identity();
    *out.as_mut() = p;
    out
}

fn normalize(proj: &[BG1]) -> Vec<BG1Affine> {
    let mut aff = vec![BG1Affine::identity(); proj.len()];
    BG1::batch_normalize(proj, &mut aff);
    aff
}

/// Σ scalars·points with `blst`'s Pippenger; `scalars` holds `(nbits+7)/8`
/// little-endian bytes per point.
fn pippenger(points: &[BG1Affine], scalars: &[u8], nbits: usize) -> BG1 {
    let raw: Vec<blst_p1_affine> = points.iter().map(|p| *p.as_ref()).collect();
    if raw.is_empty() || scalars.len() != raw.len() * nbits.div_ceil(8) {
        return BG1::identity();
    }
    from_raw(raw.as_slice().mult(scalars, nbits))
}

/// The comb table of g1 ([`GeneratorTable`]) in `blstrs` form, converted
/// once per process; `None` if a conversion failed (then tagging falls back
/// to a plain multiplication).
fn generator_table() -> Option<&'static [BG1Affine]> {
    static TABLE: OnceLock<Option<Vec<BG1Affine>>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            GeneratorTable::get()
                .points()
                .iter()
                .map(|p| to_blst_g1(p).ok())
                .collect()
        })
        .as_deref()
}

/// k·g1 by the comb table: at most 32 mixed additions.
fn generator_mul(k: &Scalar) -> Result<BG1, PdpError> {
    let Some(table) = generator_table() else {
        return Ok(BG1::generator() * to_blst_scalar(k)?);
    };
    let mut acc = BG1::identity();
    for (row, &byte) in k.to_bytes().iter().enumerate() {
        if byte != 0
            && let Some(p) = table.get(row * ROW + byte as usize - 1)
        {
            acc += p;
        }
    }
    Ok(acc)
}

pub(super) fn tag_blocks(
    name: &[u8],
    data: &[u8],
    block_bytes: usize,
    r: &[Scalar],
    sk: &Scalar,
) -> Result<Vec<G1Affine>, PdpError> {
    let sk = to_blst_scalar(sk)?;
    let proj = data
        .par_chunks(block_bytes)
        .enumerate()
        .map(|(i, block)| {
            let h = BG1::hash_to_curve(&block_message(name, i as u64), BLOCK_DST, &[]);
            Ok((h + generator_mul(&block_exponent(block, r))?) * sk)
        })
        .collect::<Result<Vec<BG1>, PdpError>>()?;
    normalize(&proj).iter().map(from_blst_g1).collect()
}

pub(super) fn sigma(tags: &[G1Affine], coefficients: &[u128]) -> Result<G1Affine, PdpError> {
    let points = tags.iter().map(to_blst_g1).collect::<Result<Vec<_>, _>>()?;
    let bytes: Vec<u8> = coefficients.iter().flat_map(|c| c.to_le_bytes()).collect();
    from_blst_g1(&pippenger(&points, &bytes, COEFFICIENT_BITS).to_affine())
}

pub(super) fn check(
    name: &[u8],
    blocks: &[ChallengedBlock],
    u: &[G1Affine],
    mu: &[Scalar],
    sigma: &G1Affine,
    owner: &G2Affine,
) -> Result<bool, PdpError> {
    let hashes: Vec<BG1> = blocks
        .par_iter()
        .map(|b| BG1::hash_to_curve(&block_message(name, b.index), BLOCK_DST, &[]))
        .collect();
    let v: Vec<u8> = blocks
        .iter()
        .flat_map(|b| b.coefficient.to_le_bytes())
        .collect();
    let hashed = pippenger(&normalize(&hashes), &v, COEFFICIENT_BITS);
    let u = u.iter().map(to_blst_g1).collect::<Result<Vec<_>, _>>()?;
    let mu: Vec<u8> = mu.iter().flat_map(|m| m.to_bytes()).collect();
    let x = (hashed + pippenger(&u, &mu, 255)).to_affine();
    let sigma = to_blst_g1(sigma)?;
    // e(σ, g2) = e(x, pk); blst's Miller loop has no case for the identity.
    let (s_id, x_id) = (bool::from(sigma.is_identity()), bool::from(x.is_identity()));
    if s_id || x_id {
        return Ok(s_id && x_id);
    }
    let g2: blst_p2_affine = *BG2Affine::generator().as_ref();
    let pk: blst_p2_affine = *to_blst_g2(owner)?.as_ref();
    let lhs = blst_fp12::miller_loop(&g2, sigma.as_ref());
    let rhs = blst_fp12::miller_loop(&pk, x.as_ref());
    Ok(blst_fp12::finalverify(&lhs, &rhs))
}
