//! The data owner's BLS key pair and its signatures.
//!
//! sk ∈ Z_r, pk = g2^sk ∈ G2. Signatures are in G1 (the "minimal signature"
//! variant, like the tags): sig = H(m)^sk, checked by e(sig, g2) = e(H(m), pk).
//! The owner signs the tag metadata with it, so verifiers accept only the
//! u_j, n and s the owner chose.

use bls12_381::{G1Affine, G1Projective, G2Affine, G2Prepared, Scalar, multi_miller_loop};
use ff::Field;
use group::{Curve, Group};

use crate::codec::{G2_BYTES, Identity, decode_g2, decode_scalar};
use crate::error::PdpError;
use crate::hash::metadata_point;

/// The owner's secret key: a non-zero scalar.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Scalar);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let sk = Scalar::random(&mut rng);
        // A zero draw has probability 2^-255; map it to one rather than loop.
        Self(if bool::from(sk.is_zero()) {
            Scalar::one()
        } else {
            sk
        })
    }

    /// Decodes 32 little-endian bytes; refuses zero and non-canonical values.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PdpError> {
        let sk = decode_scalar(bytes, "secret key")?;
        if bool::from(sk.is_zero()) {
            return Err(PdpError::InvalidParameter("secret key is zero".into()));
        }
        Ok(Self(sk))
    }

    /// The 32-byte little-endian encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey((G2Affine::generator() * self.0).to_affine())
    }

    pub(crate) fn scalar(&self) -> &Scalar {
        &self.0
    }

    /// Signs `message` (hashed to G1 under the metadata domain tag).
    pub fn sign(&self, message: &[u8]) -> G1Affine {
        (metadata_point(message) * self.0).to_affine()
    }
}

/// The owner's public key g2^sk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(G2Affine);

impl PublicKey {
    /// Decodes a compressed G2 point; refuses the identity and points outside
    /// the subgroup.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PdpError> {
        decode_g2(bytes, "owner public key", Identity::Refused).map(Self)
    }

    /// The 96-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; G2_BYTES] {
        self.0.to_compressed()
    }

    /// The point.
    pub fn point(&self) -> &G2Affine {
        &self.0
    }

    /// Checks a signature made by [`SecretKey::sign`] over `message`.
    pub fn verify(&self, message: &[u8], signature: &G1Affine) -> bool {
        pairing_product_is_one(
            signature,
            &metadata_point(message),
            &G2Prepared::from(self.0),
        )
    }
}

/// Whether e(lhs, g2) = e(rhs, pk), as one multi-Miller loop and one final
/// exponentiation of e(lhs, -g2)·e(rhs, pk).
pub(crate) fn pairing_product_is_one(lhs: &G1Affine, rhs: &G1Projective, pk: &G2Prepared) -> bool {
    let neg_g2 = G2Prepared::from(-G2Affine::generator());
    let rhs = rhs.to_affine();
    let gt = multi_miller_loop(&[(lhs, &neg_g2), (&rhs, pk)]).final_exponentiation();
    bool::from(gt.is_identity())
}

/// A secret key with its public key.
#[derive(Debug, Clone)]
pub struct KeyPair {
    secret: SecretKey,
    public: PublicKey,
}

impl KeyPair {
    /// A fresh key pair.
    pub fn generate() -> Self {
        Self::from_secret(SecretKey::generate())
    }

    /// The key pair of `secret`.
    pub fn from_secret(secret: SecretKey) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }

    /// The secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_round_trips() {
        let kp = KeyPair::generate();
        let sig = kp.secret().sign(b"hello");
        assert!(kp.public().verify(b"hello", &sig));
        assert!(!kp.public().verify(b"hellO", &sig));
        let other = KeyPair::generate();
        assert!(!other.public().verify(b"hello", &sig));
        let pk = PublicKey::from_bytes(&kp.public().to_bytes()).unwrap();
        assert_eq!(&pk, kp.public());
        let sk = SecretKey::from_bytes(&kp.secret().to_bytes()).unwrap();
        assert_eq!(&sk, kp.secret());
        assert!(SecretKey::from_bytes(&[0; 32]).is_err());
        assert!(PublicKey::from_bytes(&G2Affine::identity().to_compressed()).is_err());
        assert!(bool::from(G1Projective::identity().is_identity()));
    }
}
