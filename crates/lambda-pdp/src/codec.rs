//! Strict byte encodings of points and scalars.
//!
//! Points travel compressed (48 bytes in G1, 96 in G2, the zcash/IETF
//! format); scalars as 32 little-endian bytes. Decoding checks the length,
//! that the bytes encode a curve point, that the point is in the prime-order
//! subgroup and, where asked, that it is not the identity; each failure is
//! its own [`PdpError`] naming the field. Peers never get a panic or a point
//! outside the group past these functions.

use bls12_381::{G1Affine, G2Affine, Scalar};

use crate::error::PdpError;

/// Bytes of a compressed G1 point.
pub const G1_BYTES: usize = 48;
/// Bytes of a compressed G2 point.
pub const G2_BYTES: usize = 96;
/// Bytes of an encoded scalar.
pub const SCALAR_BYTES: usize = 32;

/// Whether a decoded point may be the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The identity is accepted.
    Allowed,
    /// The identity is refused with [`PdpError::IdentityPoint`].
    Refused,
}

fn fixed<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], PdpError> {
    bytes.try_into().map_err(|_| PdpError::WrongLength {
        what,
        expected: N,
        got: bytes.len(),
    })
}

/// Decodes a compressed G1 point of field `what`, checking curve, subgroup
/// and (per `identity`) non-identity.
pub fn decode_g1(
    bytes: &[u8],
    what: &'static str,
    identity: Identity,
) -> Result<G1Affine, PdpError> {
    let raw: [u8; G1_BYTES] = fixed(bytes, what)?;
    let point = Option::<G1Affine>::from(G1Affine::from_compressed_unchecked(&raw))
        .ok_or(PdpError::NotOnCurve { what })?;
    if !bool::from(point.is_torsion_free()) {
        return Err(PdpError::NotInSubgroup { what });
    }
    if identity == Identity::Refused && bool::from(point.is_identity()) {
        return Err(PdpError::IdentityPoint { what });
    }
    Ok(point)
}

/// Decodes a compressed G2 point of field `what`, checking curve, subgroup
/// and (per `identity`) non-identity.
pub fn decode_g2(
    bytes: &[u8],
    what: &'static str,
    identity: Identity,
) -> Result<G2Affine, PdpError> {
    let raw: [u8; G2_BYTES] = fixed(bytes, what)?;
    let point = Option::<G2Affine>::from(G2Affine::from_compressed_unchecked(&raw))
        .ok_or(PdpError::NotOnCurve { what })?;
    if !bool::from(point.is_torsion_free()) {
        return Err(PdpError::NotInSubgroup { what });
    }
    if identity == Identity::Refused && bool::from(point.is_identity()) {
        return Err(PdpError::IdentityPoint { what });
    }
    Ok(point)
}

/// Decodes a canonical little-endian scalar of field `what`.
pub fn decode_scalar(bytes: &[u8], what: &'static str) -> Result<Scalar, PdpError> {
    let raw: [u8; SCALAR_BYTES] = fixed(bytes, what)?;
    Option::<Scalar>::from(Scalar::from_bytes(&raw)).ok_or(PdpError::BadScalar { what })
}

/// Decodes a 32-byte digest or seed of field `what`.
pub fn decode_hash(bytes: &[u8], what: &'static str) -> Result<[u8; 32], PdpError> {
    fixed(bytes, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refusals() {
        let p = G1Affine::from(bls12_381::G1Projective::generator() * Scalar::from(7u64));
        let bytes = p.to_compressed();
        assert_eq!(decode_g1(&bytes, "p", Identity::Refused).unwrap(), p);
        assert_eq!(
            decode_g1(&bytes[..47], "p", Identity::Refused),
            Err(PdpError::WrongLength {
                what: "p",
                expected: 48,
                got: 47
            })
        );
        let id = G1Affine::identity().to_compressed();
        assert_eq!(
            decode_g1(&id, "p", Identity::Refused),
            Err(PdpError::IdentityPoint { what: "p" })
        );
        assert!(decode_g1(&id, "p", Identity::Allowed).is_ok());
        let mut bad = bytes;
        bad[0] &= 0x7f; // clear the compression flag
        assert_eq!(
            decode_g1(&bad, "p", Identity::Refused),
            Err(PdpError::NotOnCurve { what: "p" })
        );
        let q = G2Affine::from(bls12_381::G2Projective::generator() * Scalar::from(9u64));
        assert_eq!(
            decode_g2(&q.to_compressed(), "q", Identity::Refused).unwrap(),
            q
        );
        let minus_one = (-Scalar::one()).to_bytes();
        assert!(decode_scalar(&minus_one, "s").is_ok());
        assert_eq!(
            decode_scalar(&[0xff; 32], "s"),
            Err(PdpError::BadScalar { what: "s" })
        );
    }

    #[test]
    fn refuses_points_outside_the_subgroup() {
        // Search x = 0, 1, 2, … for a curve point: almost all of E(Fp) lies
        // outside the order-r subgroup (the cofactor is large).
        let mut found = false;
        for x in 0u8..=255 {
            let mut raw = [0u8; 48];
            raw[0] = 0x80;
            raw[47] = x;
            let Some(p) = Option::<G1Affine>::from(G1Affine::from_compressed_unchecked(&raw))
            else {
                continue;
            };
            if bool::from(p.is_torsion_free()) || bool::from(p.is_identity()) {
                continue;
            }
            assert_eq!(
                decode_g1(&raw, "t", Identity::Allowed),
                Err(PdpError::NotInSubgroup { what: "t" })
            );
            found = true;
            break;
        }
        assert!(found, "no non-subgroup point among the first 256 x");
        assert!(bool::from(
            bls12_381::G1Projective::identity().is_identity()
        ));
    }
}
