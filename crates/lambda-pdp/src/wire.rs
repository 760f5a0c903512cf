//! Conversions between the library's types and the `lambda.pdp.v1`
//! protobuf messages, with strict decoding.
//!
//! Every decoder checks lengths, points (on the curve, in the subgroup, not
//! the identity where that matters), scalars (canonical), counts (sectors,
//! challenge size) and consistency (the block count against the length and
//! sectors), and names the field at fault. `decode_*` functions take raw
//! bytes, for stores and chain transactions that keep encoded messages.

use lambda_proto::pdp::v1 as pb;
use prost::Message;

use crate::challenge::Challenge;
use crate::codec::{Identity, decode_g1, decode_hash, decode_scalar};
use crate::error::PdpError;
use crate::keys::PublicKey;
use crate::layout::MAX_SECTORS;
use crate::metadata::{SignedMetadata, TagMetadata};
use crate::proof::Proof;
use crate::tag::Tag;

impl From<&TagMetadata> for pb::TagMetadata {
    fn from(m: &TagMetadata) -> Self {
        Self {
            name: m.name().to_vec(),
            object_len: m.layout().object_len(),
            block_count: m.blocks(),
            sectors_per_block: m.sectors() as u32,
            u: m.u().iter().map(|p| p.to_compressed().to_vec()).collect(),
            owner_public_key: m.owner().to_bytes().to_vec(),
        }
    }
}

impl TryFrom<&pb::TagMetadata> for TagMetadata {
    type Error = PdpError;

    fn try_from(m: &pb::TagMetadata) -> Result<Self, PdpError> {
        if m.sectors_per_block == 0 || m.sectors_per_block > MAX_SECTORS {
            return Err(PdpError::InvalidParameter(format!(
                "sectors_per_block is {}, must be 1 ..= {MAX_SECTORS}",
                m.sectors_per_block
            )));
        }
        if m.u.len() != m.sectors_per_block as usize {
            return Err(PdpError::InvalidParameter(format!(
                "metadata has {} u points for {} sectors per block",
                m.u.len(),
                m.sectors_per_block
            )));
        }
        let u =
            m.u.iter()
                .map(|b| decode_g1(b, "u_j", Identity::Refused))
                .collect::<Result<Vec<_>, _>>()?;
        let owner = PublicKey::from_bytes(&m.owner_public_key)?;
        let meta = TagMetadata::new(m.name.clone(), m.object_len, u, owner)?;
        if meta.blocks() != m.block_count {
            return Err(PdpError::InvalidParameter(format!(
                "block_count is {}, but {} bytes in blocks of {} sectors make {}",
                m.block_count,
                m.object_len,
                m.sectors_per_block,
                meta.blocks()
            )));
        }
        Ok(meta)
    }
}

impl From<&SignedMetadata> for pb::SignedTagMetadata {
    fn from(s: &SignedMetadata) -> Self {
        Self {
            metadata: Some(s.metadata().into()),
            signature: s.signature().to_compressed().to_vec(),
        }
    }
}

impl TryFrom<&pb::SignedTagMetadata> for SignedMetadata {
    type Error = PdpError;

    /// Decodes the fields; the signature is checked by
    /// [`SignedMetadata::verify`] (or [`crate::Verifier::new`]).
    fn try_from(s: &pb::SignedTagMetadata) -> Result<Self, PdpError> {
        let meta = s
            .metadata
            .as_ref()
            .ok_or(PdpError::MissingField("metadata"))?;
        let metadata = TagMetadata::try_from(meta)?;
        let signature = decode_g1(&s.signature, "metadata signature", Identity::Refused)?;
        Ok(SignedMetadata::from_parts(metadata, signature))
    }
}

/// A tag with its block index, as sent over the wire.
pub fn tag_to_pb(index: u64, tag: &Tag) -> pb::Tag {
    pb::Tag {
        index,
        sigma: tag.to_bytes().to_vec(),
    }
}

/// Decodes a tag message into its block index and tag.
pub fn tag_from_pb(t: &pb::Tag) -> Result<(u64, Tag), PdpError> {
    Ok((t.index, Tag::from_bytes(&t.sigma)?))
}

impl From<&Challenge> for pb::Challenge {
    fn from(c: &Challenge) -> Self {
        Self {
            seed: c.seed().to_vec(),
            count: c.count(),
        }
    }
}

impl TryFrom<&pb::Challenge> for Challenge {
    type Error = PdpError;

    fn try_from(c: &pb::Challenge) -> Result<Self, PdpError> {
        Challenge::new(decode_hash(&c.seed, "challenge seed")?, c.count)
    }
}

impl From<&Proof> for pb::Proof {
    fn from(p: &Proof) -> Self {
        Self {
            seed: p.seed.to_vec(),
            metadata_digest: p.metadata_digest.to_vec(),
            sigma: p.sigma.to_compressed().to_vec(),
            mu: p.mu.iter().map(|m| m.to_bytes().to_vec()).collect(),
        }
    }
}

impl TryFrom<&pb::Proof> for Proof {
    type Error = PdpError;

    fn try_from(p: &pb::Proof) -> Result<Self, PdpError> {
        if p.mu.is_empty() || p.mu.len() > MAX_SECTORS as usize {
            return Err(PdpError::InvalidParameter(format!(
                "proof has {} sector sums, must be 1 ..= {MAX_SECTORS}",
                p.mu.len()
            )));
        }
        Ok(Proof {
            seed: decode_hash(&p.seed, "proof seed")?,
            metadata_digest: decode_hash(&p.metadata_digest, "proof metadata digest")?,
            sigma: decode_g1(&p.sigma, "proof sigma", Identity::Allowed)?,
            mu: p
                .mu
                .iter()
                .map(|m| decode_scalar(m, "proof mu_j"))
                .collect::<Result<_, _>>()?,
        })
    }
}

fn decode_message<M: Message + Default>(bytes: &[u8], what: &'static str) -> Result<M, PdpError> {
    M::decode(bytes).map_err(|e| PdpError::Malformed {
        what,
        reason: e.to_string(),
    })
}

/// Encodes a proof as a `lambda.pdp.v1.Proof` message.
pub fn encode_proof(p: &Proof) -> Vec<u8> {
    pb::Proof::from(p).encode_to_vec()
}

/// Decodes and checks a `lambda.pdp.v1.Proof` message.
pub fn decode_proof(bytes: &[u8]) -> Result<Proof, PdpError> {
    Proof::try_from(&decode_message::<pb::Proof>(bytes, "proof")?)
}

/// Encodes signed metadata as a `lambda.pdp.v1.SignedTagMetadata` message.
pub fn encode_metadata(m: &SignedMetadata) -> Vec<u8> {
    pb::SignedTagMetadata::from(m).encode_to_vec()
}

/// Decodes a `lambda.pdp.v1.SignedTagMetadata` message (fields checked,
/// signature not yet: see [`SignedMetadata::verify`]).
pub fn decode_metadata(bytes: &[u8]) -> Result<SignedMetadata, PdpError> {
    SignedMetadata::try_from(&decode_message::<pb::SignedTagMetadata>(
        bytes,
        "signed metadata",
    )?)
}

/// Encodes a challenge as a `lambda.pdp.v1.Challenge` message.
pub fn encode_challenge(c: &Challenge) -> Vec<u8> {
    pb::Challenge::from(c).encode_to_vec()
}

/// Decodes and checks a `lambda.pdp.v1.Challenge` message.
pub fn decode_challenge(bytes: &[u8]) -> Result<Challenge, PdpError> {
    Challenge::try_from(&decode_message::<pb::Challenge>(bytes, "challenge")?)
}

/// Encodes a tag as a `lambda.pdp.v1.Tag` message.
pub fn encode_tag(index: u64, tag: &Tag) -> Vec<u8> {
    tag_to_pb(index, tag).encode_to_vec()
}

/// Decodes and checks a `lambda.pdp.v1.Tag` message.
pub fn decode_tag(bytes: &[u8]) -> Result<(u64, Tag), PdpError> {
    tag_from_pb(&decode_message::<pb::Tag>(bytes, "tag")?)
}
