//! Multi-scalar multiplication Σ k_i·P_i in G1 (Pippenger's bucket method).
//!
//! `bls12_381` offers no public multi-exponentiation, and both the prover
//! (σ = Π σ_i^{v_i}) and the verifier (Π H_i^{v_i}, Π u_j^{μ_j}) spend most
//! of their time in one. Scalars are cut into signed windows of `w` bits
//! (digits in [-2^{w-1}, 2^{w-1})), so each window needs 2^{w-1} buckets; a
//! negative digit adds the negated point, which is free in affine form. The
//! window width minimises (windows × (points + 2^w)) for the point count and
//! scalar width. Challenge coefficients are 128-bit, so the callers pass the
//! scalar width and half the windows disappear.

use bls12_381::{G1Affine, G1Projective, Scalar};

/// Scalar width of the scalar field in bits.
pub const FULL_BITS: usize = 255;

/// Σ `scalars[i]·points[i]` over full-width scalars. Extra elements of the
/// longer slice are ignored.
pub fn msm(points: &[G1Affine], scalars: &[Scalar]) -> G1Projective {
    msm_bits(points, scalars, FULL_BITS)
}

/// Σ `scalars[i]·points[i]` where every scalar is below 2^`bits` (`bits` ≤
/// 255; larger scalars give a wrong sum, so callers only pass widths they
/// produced). Extra elements of the longer slice are ignored.
pub fn msm_bits(points: &[G1Affine], scalars: &[Scalar], bits: usize) -> G1Projective {
    let n = points.len().min(scalars.len());
    if n == 0 {
        return G1Projective::identity();
    }
    let bits = bits.clamp(1, FULL_BITS);
    let w = window_width(n, bits);
    let windows = window_count(bits, w);
    let digits: Vec<i32> = scalars[..n]
        .iter()
        .flat_map(|s| signed_digits(s, w, windows))
        .collect();
    let half = 1usize << (w - 1);
    let mut buckets = vec![G1Projective::identity(); half];
    let mut acc = G1Projective::identity();
    for k in (0..windows).rev() {
        for _ in 0..w {
            acc = acc.double();
        }
        buckets.fill(G1Projective::identity());
        for (i, p) in points[..n].iter().enumerate() {
            let d = digits[i * windows + k];
            if d > 0 {
                let b = &mut buckets[(d - 1) as usize];
                *b = b.add_mixed(p);
            } else if d < 0 {
                let b = &mut buckets[(-d - 1) as usize];
                *b = b.add_mixed(&-p);
            }
        }
        // Σ_b (b+1)·bucket[b] by running sums.
        let mut running = G1Projective::identity();
        let mut total = G1Projective::identity();
        for b in buckets.iter().rev() {
            running += b;
            total += running;
        }
        acc += total;
    }
    acc
}

/// The window width with the fewest group additions for `n` points of
/// `bits`-bit scalars.
fn window_width(n: usize, bits: usize) -> usize {
    (2..=16usize)
        .min_by_key(|&w| window_count(bits, w) * (n + (1usize << w)))
        .unwrap_or(4)
}

/// Windows of `w` bits for `bits`-bit scalars: the top window keeps two
/// spare bits, so the carry of the digit below it can never overflow.
fn window_count(bits: usize, w: usize) -> usize {
    (bits + 1) / w + 1
}

/// `windows` signed digits of `w` bits (w ≤ 16), least significant first.
fn signed_digits(s: &Scalar, w: usize, windows: usize) -> Vec<i32> {
    let bytes = s.to_bytes();
    let mut limbs = [0u64; 5];
    for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *limb = u64::from_le_bytes(b);
    }
    let full = 1i32 << w;
    let half = full >> 1;
    let mut carry = 0i32;
    let mut out = Vec::with_capacity(windows);
    for k in 0..windows {
        let offset = k * w;
        let (idx, shift) = (offset / 64, offset % 64);
        let mut raw = limbs.get(idx).copied().unwrap_or(0) >> shift;
        if shift + w > 64 {
            raw |= limbs.get(idx + 1).copied().unwrap_or(0) << (64 - shift);
        }
        let mut digit = (raw & ((1u64 << w) - 1)) as i32 + carry;
        carry = 0;
        if digit >= half {
            digit -= full;
            carry = 1;
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ff::{Field, PrimeField};
    use group::{Curve, Group};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn naive(points: &[G1Affine], scalars: &[Scalar]) -> G1Projective {
        points.iter().zip(scalars).map(|(p, s)| p * s).sum()
    }

    fn random_points(rng: &mut StdRng, n: usize) -> Vec<G1Affine> {
        let proj: Vec<G1Projective> = (0..n).map(|_| G1Projective::random(&mut *rng)).collect();
        let mut aff = vec![G1Affine::identity(); n];
        G1Projective::batch_normalize(&proj, &mut aff);
        aff
    }

    #[test]
    fn matches_naive_sum_for_many_sizes() {
        let mut rng = StdRng::seed_from_u64(1);
        for n in [0usize, 1, 2, 3, 7, 16, 33, 100] {
            let points = random_points(&mut rng, n);
            let scalars: Vec<Scalar> = (0..n).map(|_| Scalar::random(&mut rng)).collect();
            assert_eq!(msm(&points, &scalars), naive(&points, &scalars), "n = {n}");
        }
    }

    #[test]
    fn short_scalars_and_edge_values() {
        let mut rng = StdRng::seed_from_u64(2);
        let points = random_points(&mut rng, 40);
        let scalars: Vec<Scalar> = (0..40u64)
            .map(|i| match i % 4 {
                0 => Scalar::from_u128(u128::MAX),
                1 => Scalar::zero(),
                2 => Scalar::from(i),
                _ => Scalar::from_u128(rand::RngExt::random::<u128>(&mut rng)),
            })
            .collect();
        assert_eq!(msm_bits(&points, &scalars, 128), naive(&points, &scalars));
        let edge = [-Scalar::one(), Scalar::one(), -Scalar::from(2u64)];
        assert_eq!(msm(&points[..3], &edge), naive(&points[..3], &edge));
    }

    #[test]
    fn identity_points_and_repeats() {
        let g = G1Affine::generator();
        let points = [g, G1Affine::identity(), g, g];
        let scalars = [
            Scalar::from(5u64),
            Scalar::from(9u64),
            -Scalar::one(),
            Scalar::from(2u64),
        ];
        assert_eq!(
            msm(&points, &scalars).to_affine(),
            (G1Projective::generator() * Scalar::from(6u64)).to_affine()
        );
    }

    #[test]
    fn window_digits_recompose() {
        let s = -Scalar::from(12345u64);
        for w in [2usize, 5, 8, 13, 16] {
            let windows = window_count(FULL_BITS, w);
            let digits = signed_digits(&s, w, windows);
            let mut acc = Scalar::zero();
            for d in digits.iter().rev() {
                acc *= Scalar::from(1u64 << w);
                let m = Scalar::from(d.unsigned_abs() as u64);
                acc += if *d < 0 { -m } else { m };
            }
            assert_eq!(acc, s, "w = {w}");
        }
    }
}
