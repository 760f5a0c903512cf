//! Multiplication of the G1 generator by a scalar with a precomputed table.
//!
//! The owner computes g1^{Σ_j r_j·m_ij} once per block and g1^{r_j} once per
//! sector. A comb table of 32 rows × 255 multiples (row k holds d·2^{8k}·g1
//! for d = 1..255) turns each product into at most 32 mixed additions and no
//! doublings. The table is about 0.8 MB and built once per process.

use std::sync::OnceLock;

use bls12_381::{G1Affine, G1Projective, Scalar};

/// Multiples per row (d = 1..=255).
pub(crate) const ROW: usize = 255;
const ROWS: usize = 32;

/// The comb table of the G1 generator.
pub struct GeneratorTable {
    table: Vec<G1Affine>,
}

impl std::fmt::Debug for GeneratorTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratorTable")
            .field("points", &self.table.len())
            .finish()
    }
}

impl GeneratorTable {
    fn build() -> Self {
        let mut proj = Vec::with_capacity(ROW * ROWS);
        let mut base = G1Projective::generator();
        for _ in 0..ROWS {
            let mut acc = base;
            for _ in 0..ROW {
                proj.push(acc);
                acc += base;
            }
            // acc = 256·base now.
            base = acc;
        }
        let mut table = vec![G1Affine::identity(); proj.len()];
        G1Projective::batch_normalize(&proj, &mut table);
        Self { table }
    }

    /// The process-wide table, built on first use.
    pub fn get() -> &'static Self {
        static TABLE: OnceLock<GeneratorTable> = OnceLock::new();
        TABLE.get_or_init(Self::build)
    }

    /// The table: row k, column d−1 holds d·2^{8k}·g1.
    pub(crate) fn points(&self) -> &[G1Affine] {
        &self.table
    }

    /// k·g1.
    pub fn mul(&self, k: &Scalar) -> G1Projective {
        let mut acc = G1Projective::identity();
        for (row, &byte) in k.to_bytes().iter().enumerate() {
            if byte != 0
                && let Some(p) = self.table.get(row * ROW + byte as usize - 1)
            {
                acc = acc.add_mixed(p);
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ff::Field;
    use rand::SeedableRng;

    #[test]
    fn matches_plain_multiplication() {
        let t = GeneratorTable::get();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for k in [
            Scalar::zero(),
            Scalar::one(),
            -Scalar::one(),
            Scalar::from(256u64),
            Scalar::random(&mut rng),
        ] {
            assert_eq!(t.mul(&k), G1Projective::generator() * k);
        }
    }
}
