//! Exact accumulation of the sector sums μ_j = Σ v_i·m_ij.
//!
//! A sector is below 2^248 and a coefficient below 2^128, so each product
//! is below 2^376 and a sum of up to 2^16 products fits in 7 64-bit limbs.
//! The prover adds products as plain integers (eight 64×64-bit multiplies)
//! and reduces modulo r once per sector at the end, instead of a Montgomery
//! multiplication and conversion per product.

use bls12_381::Scalar;

/// An exact sum of (≤ 2^248) × (< 2^128) products; at most 2^16 of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WideSum {
    limbs: [u64; 7],
}

impl WideSum {
    /// Adds `m · v` where `m` is a sector (four limbs, below 2^248) and `v`
    /// a coefficient below 2^128.
    pub fn add_product(&mut self, m: &[u64; 4], v: u128) {
        let v = [v as u64, (v >> 64) as u64];
        for (j, &vj) in v.iter().enumerate() {
            let mut carry: u128 = 0;
            for (i, &mi) in m.iter().enumerate() {
                let t = u128::from(mi) * u128::from(vj) + u128::from(self.limbs[i + j]) + carry;
                self.limbs[i + j] = t as u64;
                carry = t >> 64;
            }
            let mut k = j + 4;
            while carry != 0 && k < self.limbs.len() {
                let t = u128::from(self.limbs[k]) + carry;
                self.limbs[k] = t as u64;
                carry = t >> 64;
                k += 1;
            }
        }
    }

    /// The sum modulo r.
    pub fn reduce(&self) -> Scalar {
        let mut wide = [0u8; 64];
        for (chunk, limb) in wide.chunks_exact_mut(8).zip(self.limbs) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        Scalar::from_bytes_wide(&wide)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{sector_limbs, sector_scalar};
    use ff::PrimeField;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn matches_field_arithmetic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut wide = WideSum::default();
        let mut field = Scalar::zero();
        for round in 0..500 {
            let sector: [u8; 31] = if round % 7 == 0 {
                [0xff; 31]
            } else {
                rng.random()
            };
            let v: u128 = if round % 5 == 0 {
                u128::MAX
            } else {
                rng.random()
            };
            wide.add_product(&sector_limbs(&sector), v);
            field += sector_scalar(&sector) * Scalar::from_u128(v);
        }
        assert_eq!(wide.reduce(), field);
    }
}
