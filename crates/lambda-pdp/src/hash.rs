//! The hash H(name ‖ i) of the scheme, onto G1.
//!
//! H is the IETF hash-to-curve `BLS12381G1_XMD:SHA-256_SSWU_RO_` (RFC 9380)
//! with Lambda's own domain separation tags, so block hashes, metadata
//! signatures and anything else hashed to G1 never collide. The message
//! encodes the name with its length, so (name, index) pairs are injective.
//!
//! The verifier needs Π H_i^{v_i}. Cofactor clearing is a group
//! homomorphism, so it hashes each block only up to the two mapped curve
//! points ([`block_point_uncleared`]), sums them with their coefficients and
//! clears the cofactor once: one clearing instead of c.

use bls12_381::G1Projective;
use bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve, HashToField, MapToCurve};

type Xmd = ExpandMsgXmd<sha2_digest010::Sha256>;
type Fp = <G1Projective as MapToCurve>::Field;

/// Domain separation tag of block hashes H(name ‖ i).
pub const BLOCK_DST: &[u8] = b"LAMBDA-PDP-V01-CS01-with-BLS12381G1_XMD:SHA-256_SSWU_RO_BLOCK_";
/// Domain separation tag of the owner's signature over tag metadata.
pub const METADATA_DST: &[u8] = b"LAMBDA-PDP-V01-CS01-with-BLS12381G1_XMD:SHA-256_SSWU_RO_META_";

/// The hash input for block `index` of object `name`: `len(name) as u32 BE ‖
/// name ‖ index as u64 BE`.
pub fn block_message(name: &[u8], index: u64) -> Vec<u8> {
    let mut msg = Vec::with_capacity(name.len() + 12);
    // Names are bounded far below 4 GiB by the metadata checks.
    msg.extend_from_slice(&(name.len() as u32).to_be_bytes());
    msg.extend_from_slice(name);
    msg.extend_from_slice(&index.to_be_bytes());
    msg
}

/// H(name ‖ index) ∈ G1.
pub fn block_point(name: &[u8], index: u64) -> G1Projective {
    let msg = block_message(name, index);
    <G1Projective as HashToCurve<Xmd>>::hash_to_curve([msg.as_slice()], BLOCK_DST)
}

/// H(name ‖ index) before cofactor clearing: `clear_h` of this point is
/// [`block_point`]. Only for sums that are cleared once afterwards.
pub fn block_point_uncleared(name: &[u8], index: u64) -> G1Projective {
    let msg = block_message(name, index);
    let mut u = [Fp::default(), Fp::default()];
    Fp::hash_to_field::<Xmd, _>([msg.as_slice()], BLOCK_DST, &mut u);
    G1Projective::map_to_curve(&u[0]) + G1Projective::map_to_curve(&u[1])
}

/// Multiplies by the effective cofactor, mapping a curve point into G1.
pub fn clear_cofactor(p: &G1Projective) -> G1Projective {
    p.clear_h()
}

/// The hash of a metadata encoding, for the owner's BLS signature.
pub fn metadata_point(encoding: &[u8]) -> G1Projective {
    <G1Projective as HashToCurve<Xmd>>::hash_to_curve([encoding], METADATA_DST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bls12_381::Scalar;

    #[test]
    fn uncleared_then_cleared_equals_hash() {
        for i in 0..4 {
            assert_eq!(
                clear_cofactor(&block_point_uncleared(b"obj", i)),
                block_point(b"obj", i)
            );
        }
    }

    #[test]
    fn clearing_commutes_with_sums() {
        let a = block_point_uncleared(b"x", 1);
        let b = block_point_uncleared(b"x", 2);
        let (va, vb) = (Scalar::from(3u64), Scalar::from(11u64));
        let lhs = clear_cofactor(&(a * va + b * vb));
        let rhs = block_point(b"x", 1) * va + block_point(b"x", 2) * vb;
        assert_eq!(lhs, rhs);
    }

    #[test]
    fn messages_are_injective_across_name_and_index() {
        assert_ne!(block_message(b"ab", 1), block_message(b"a", 1));
        assert_ne!(block_point(b"a", 1), block_point(b"a", 2));
        assert_ne!(block_point(b"a", 1), block_point(b"b", 1));
    }
}
