//! Per-object tag metadata and the owner's signature over it.
//!
//! The metadata fixes what a proof is checked against: the object's name
//! (hashed into every H(name ‖ i)), its length, and so the number of blocks,
//! the sectors per block s, the points u_1..u_s and the owner's public key.
//! Its canonical encoding is hashed (SHA-256) into the *metadata digest* that
//! proofs carry, and signed by the owner; it is what the storage contract on
//! chain registers.

use bls12_381::G1Affine;
use sha2_digest010::{Digest, Sha256};

use crate::error::PdpError;
use crate::keys::{PublicKey, SecretKey};
use crate::layout::Layout;

/// Longest object name in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

const ENCODING_DOMAIN: &[u8] = b"LAMBDA-PDP-METADATA-V1";

/// What a verifier needs to know about a tagged object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMetadata {
    name: Vec<u8>,
    layout: Layout,
    u: Vec<G1Affine>,
    owner: PublicKey,
}

impl TagMetadata {
    /// Metadata of an object called `name` of `object_len` bytes with
    /// `u.len()` sectors per block. Refuses an empty or over-long name, an
    /// empty object, a sector count out of bounds and identity u_j.
    pub fn new(
        name: Vec<u8>,
        object_len: u64,
        u: Vec<G1Affine>,
        owner: PublicKey,
    ) -> Result<Self, PdpError> {
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(PdpError::InvalidParameter(format!(
                "object name is {} bytes, must be 1 ..= {MAX_NAME_BYTES}",
                name.len()
            )));
        }
        let sectors = u32::try_from(u.len()).unwrap_or(u32::MAX);
        let layout = Layout::new(object_len, sectors)?;
        if u.iter().any(|p| bool::from(p.is_identity())) {
            return Err(PdpError::IdentityPoint { what: "u_j" });
        }
        Ok(Self {
            name,
            layout,
            u,
            owner,
        })
    }

    /// The object's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The block layout (length, sectors per block, block count).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of blocks n.
    pub fn blocks(&self) -> u64 {
        self.layout.blocks()
    }

    /// Sectors per block s.
    pub fn sectors(&self) -> usize {
        self.layout.sectors()
    }

    /// u_1 .. u_s.
    pub fn u(&self) -> &[G1Affine] {
        &self.u
    }

    /// The owner's public key.
    pub fn owner(&self) -> &PublicKey {
        &self.owner
    }

    /// The canonical encoding: domain ‖ len(name) u32 ‖ name ‖ object_len u64
    /// ‖ n u64 ‖ s u32 ‖ u_1..u_s (48 bytes each) ‖ pk (96 bytes), integers
    /// big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(ENCODING_DOMAIN.len() + self.name.len() + 48 * self.u.len() + 128);
        out.extend_from_slice(ENCODING_DOMAIN);
        out.extend_from_slice(&(self.name.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.layout.object_len().to_be_bytes());
        out.extend_from_slice(&self.layout.blocks().to_be_bytes());
        out.extend_from_slice(&(self.u.len() as u32).to_be_bytes());
        for p in &self.u {
            out.extend_from_slice(&p.to_compressed());
        }
        out.extend_from_slice(&self.owner.to_bytes());
        out
    }

    /// SHA-256 of [`encode`](Self::encode): the digest proofs carry.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.encode()).into()
    }
}

/// Tag metadata with the owner's signature over its canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedMetadata {
    metadata: TagMetadata,
    signature: G1Affine,
}

impl SignedMetadata {
    /// Signs `metadata` with `secret` (the key of `metadata.owner()`).
    pub fn sign(metadata: TagMetadata, secret: &SecretKey) -> Self {
        let signature = secret.sign(&metadata.encode());
        Self {
            metadata,
            signature,
        }
    }

    /// Metadata and a signature as received; check with
    /// [`verify`](Self::verify) before trusting it.
    pub fn from_parts(metadata: TagMetadata, signature: G1Affine) -> Self {
        Self {
            metadata,
            signature,
        }
    }

    /// Checks the owner's signature.
    pub fn verify(&self) -> Result<(), PdpError> {
        if self
            .metadata
            .owner
            .verify(&self.metadata.encode(), &self.signature)
        {
            Ok(())
        } else {
            Err(PdpError::BadMetadataSignature)
        }
    }

    /// The metadata.
    pub fn metadata(&self) -> &TagMetadata {
        &self.metadata
    }

    /// The signature.
    pub fn signature(&self) -> &G1Affine {
        &self.signature
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;

    fn meta(kp: &KeyPair, name: &[u8], len: u64) -> TagMetadata {
        TagMetadata::new(
            name.to_vec(),
            len,
            vec![G1Affine::generator(); 2],
            *kp.public(),
        )
        .unwrap()
    }

    #[test]
    fn signature_binds_every_field() {
        let kp = KeyPair::generate();
        let signed = SignedMetadata::sign(meta(&kp, b"obj", 100), kp.secret());
        signed.verify().unwrap();
        let forged = SignedMetadata::from_parts(meta(&kp, b"obj", 101), *signed.signature());
        assert_eq!(forged.verify(), Err(PdpError::BadMetadataSignature));
        let renamed = SignedMetadata::from_parts(meta(&kp, b"obk", 100), *signed.signature());
        assert_eq!(renamed.verify(), Err(PdpError::BadMetadataSignature));
        assert_ne!(
            meta(&kp, b"obj", 100).digest(),
            meta(&kp, b"obj", 101).digest()
        );
    }

    #[test]
    fn refuses_bad_parameters() {
        let kp = KeyPair::generate();
        let g = vec![G1Affine::generator()];
        assert!(TagMetadata::new(vec![], 1, g.clone(), *kp.public()).is_err());
        assert!(TagMetadata::new(vec![0; MAX_NAME_BYTES + 1], 1, g.clone(), *kp.public()).is_err());
        assert_eq!(
            TagMetadata::new(b"a".to_vec(), 0, g, *kp.public()),
            Err(PdpError::EmptyObject)
        );
        assert!(TagMetadata::new(b"a".to_vec(), 1, vec![], *kp.public()).is_err());
        assert_eq!(
            TagMetadata::new(b"a".to_vec(), 1, vec![G1Affine::identity()], *kp.public()),
            Err(PdpError::IdentityPoint { what: "u_j" })
        );
    }
}
