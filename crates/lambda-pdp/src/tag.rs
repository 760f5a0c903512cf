//! Tags and the owner's tagger.
//!
//! The tag of block i is σ_i = (H(name ‖ i) · Π_j u_j^{m_ij})^sk. The owner
//! picks u_j = g1^{r_j} with secret random r_j, so Π_j u_j^{m_ij} =
//! g1^{Σ_j r_j·m_ij}: per block one scalar sum, one hash-to-curve, one
//! multiplication of g1 and one multiplication by sk, instead of s
//! multiplications. The r_j are dropped after tagging. The per-block work
//! runs on the tagger's [`Backend`], in parallel over blocks.

use bls12_381::{G1Affine, G1Projective, Scalar};
use ff::Field;

use crate::backend::Backend;
use crate::codec::{G1_BYTES, Identity, decode_g1};
use crate::error::PdpError;
use crate::fixed_base::GeneratorTable;
use crate::keys::KeyPair;
use crate::layout::Layout;
use crate::metadata::{SignedMetadata, TagMetadata};

/// The tag σ_i of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag(G1Affine);

impl Tag {
    /// Decodes a compressed G1 point (checked: on curve, in the subgroup).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PdpError> {
        decode_g1(bytes, "tag", Identity::Allowed).map(Self)
    }

    /// The 48-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; G1_BYTES] {
        self.0.to_compressed()
    }

    /// The point.
    pub fn point(&self) -> &G1Affine {
        &self.0
    }

    /// A tag from a point (for tests of forged tags and for stores that keep
    /// points).
    pub fn from_point(point: G1Affine) -> Self {
        Self(point)
    }
}

/// An object's signed metadata and the tags of its blocks, in block order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedObject {
    /// The signed metadata (registered on chain).
    pub metadata: SignedMetadata,
    /// σ_0 .. σ_{n-1} (stored with the data).
    pub tags: Vec<Tag>,
}

/// The data owner's tagger (run by the agent).
#[derive(Debug, Clone)]
pub struct Tagger {
    keys: KeyPair,
    backend: Backend,
}

impl Tagger {
    /// A tagger signing with `keys`, on the default backend.
    pub fn new(keys: KeyPair) -> Self {
        Self {
            keys,
            backend: Backend::default(),
        }
    }

    /// The same tagger on `backend`.
    pub fn with_backend(self, backend: Backend) -> Self {
        Self { backend, ..self }
    }

    /// The backend it tags on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The owner's keys.
    pub fn keys(&self) -> &KeyPair {
        &self.keys
    }

    /// Tags `data` as object `name` with `sectors` sectors per block:
    /// draws u_j = g1^{r_j}, signs the metadata and computes every block's
    /// tag (in parallel on the rayon pool).
    pub fn tag(&self, name: &[u8], data: &[u8], sectors: u32) -> Result<TaggedObject, PdpError> {
        let layout = Layout::new(data.len() as u64, sectors)?;
        let mut rng = rand::rng();
        let r: Vec<Scalar> = (0..layout.sectors())
            .map(|_| Scalar::random(&mut rng))
            .collect();
        let table = GeneratorTable::get();
        let u_proj: Vec<G1Projective> = r.iter().map(|rj| table.mul(rj)).collect();
        let mut u = vec![G1Affine::identity(); u_proj.len()];
        G1Projective::batch_normalize(&u_proj, &mut u);
        let metadata =
            TagMetadata::new(name.to_vec(), layout.object_len(), u, *self.keys.public())?;
        let tags = self.backend.tag_blocks(
            name,
            data,
            layout.block_bytes(),
            &r,
            self.keys.secret().scalar(),
        )?;
        Ok(TaggedObject {
            metadata: SignedMetadata::sign(metadata, self.keys.secret()),
            tags: tags.into_iter().map(Tag).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::block_point;
    use crate::layout::sector_scalars;
    use group::Curve;

    #[test]
    fn tags_match_the_definition() {
        let kp = KeyPair::generate();
        let tagger = Tagger::new(kp.clone());
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
        let obj = tagger.tag(b"object", &data, 3).unwrap();
        obj.metadata.verify().unwrap();
        let meta = obj.metadata.metadata();
        assert_eq!(meta.blocks(), 3); // 93-byte blocks
        assert_eq!(obj.tags.len(), 3);
        let sk = *kp.secret().scalar();
        for (i, block) in data.chunks(93).enumerate() {
            let m = sector_scalars(block, 3);
            let mut base = block_point(b"object", i as u64);
            for (uj, mij) in meta.u().iter().zip(&m) {
                base += uj * mij;
            }
            assert_eq!(obj.tags[i].point(), &(base * sk).to_affine(), "block {i}");
        }
        assert_eq!(
            Tag::from_bytes(&obj.tags[0].to_bytes()).unwrap(),
            obj.tags[0]
        );
    }

    #[test]
    fn refuses_empty_objects_and_bad_sector_counts() {
        let tagger = Tagger::new(KeyPair::generate());
        assert_eq!(tagger.tag(b"x", &[], 1), Err(PdpError::EmptyObject));
        assert!(tagger.tag(b"x", &[1], 0).is_err());
        assert!(tagger.tag(b"", &[1], 1).is_err());
    }
}
