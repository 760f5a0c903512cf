//! Tags and the owner's tagger.
//!
//! The tag of block i is σ_i = (H(name ‖ i) · Π_j u_j^{m_ij})^sk. The owner
//! picks u_j = g1^{r_j} with secret random r_j, so Π_j u_j^{m_ij} =
//! g1^{Σ_j r_j·m_ij}: one scalar sum, one generator multiplication from the
//! comb table, one hash-to-curve and one multiplication by sk (a wNAF of sk
//! computed once) per block, instead of s multiplications. The r_j are
//! dropped after tagging. Blocks are tagged in parallel on the rayon pool.

use bls12_381::{G1Affine, G1Projective, Scalar};
use ff::Field;
use group::{WnafBase, WnafScalar};
use rayon::prelude::*;

use crate::codec::{G1_BYTES, Identity, decode_g1};
use crate::error::PdpError;
use crate::fixed_base::GeneratorTable;
use crate::hash::block_point;
use crate::keys::KeyPair;
use crate::layout::{Layout, SECTOR_BYTES, sector_scalar};
use crate::metadata::{SignedMetadata, TagMetadata};

/// wNAF window used for the multiplications by sk.
const SK_WINDOW: usize = 5;

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
    sk_wnaf: WnafScalar<Scalar, SK_WINDOW>,
}

impl Tagger {
    /// A tagger signing with `keys`.
    pub fn new(keys: KeyPair) -> Self {
        let sk_wnaf = WnafScalar::new(keys.secret().scalar());
        Self { keys, sk_wnaf }
    }

    /// The owner's keys.
    pub fn keys(&self) -> &KeyPair {
        &self.keys
    }

    /// Tags `data` as object `name` with `sectors` sectors per block:
    /// draws u_j, signs the metadata and computes every block's tag.
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
        let block_bytes = layout.block_bytes();
        let tags_proj: Vec<G1Projective> = data
            .par_chunks(block_bytes)
            .enumerate()
            .map(|(i, block)| self.block_tag(name, i as u64, block, &r, table))
            .collect();
        let mut tags = vec![G1Affine::identity(); tags_proj.len()];
        G1Projective::batch_normalize(&tags_proj, &mut tags);
        Ok(TaggedObject {
            metadata: SignedMetadata::sign(metadata, self.keys.secret()),
            tags: tags.into_iter().map(Tag).collect(),
        })
    }

    /// σ_i = (H(name ‖ i) · g1^{Σ_j r_j·m_ij})^sk.
    fn block_tag(
        &self,
        name: &[u8],
        index: u64,
        block: &[u8],
        r: &[Scalar],
        table: &GeneratorTable,
    ) -> G1Projective {
        let exponent: Scalar = block
            .chunks(SECTOR_BYTES)
            .zip(r)
            .map(|(sector, rj)| sector_scalar(sector) * rj)
            .sum();
        let base = block_point(name, index) + table.mul(&exponent);
        &WnafBase::<G1Projective, SK_WINDOW>::new(base) * &self.sk_wnaf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
