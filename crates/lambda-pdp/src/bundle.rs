//! How an audited object is stored: one value (a `lambda.pdp.v1.PdpBundle`)
//! holding the owner-signed tag metadata, the tags and the data, under a key
//! derived from the object's name.
//!
//! Keeping the three in one value of the key-value store means they are
//! written, replicated, repaired and handed off together: whichever nodes
//! hold the object hold its tags, and a node proves from what it holds
//! itself. The agent builds bundles ([`Bundle::new`] after tagging), storage
//! nodes read blocks and tags from them, validators find the key of a
//! contract's object with [`bundle_key`].
//!
//! Decoding is strict: the version, the metadata fields (as
//! [`crate::wire`] checks them), exactly n tags of 48 bytes and exactly
//! `object_len` data bytes. Tags are decoded (curve and subgroup checks)
//! only when read, one at a time.

use lambda_proto::pdp::v1 as pb;
use prost::Message;

use crate::codec::G1_BYTES;
use crate::error::PdpError;
use crate::metadata::{MAX_NAME_BYTES, SignedMetadata};
use crate::tag::{Tag, TaggedObject};

/// The bundle format version this crate writes and reads.
pub const BUNDLE_VERSION: u32 = 1;

/// Prefix of the keys of audited objects in the key-value store.
pub const KEY_PREFIX: &[u8] = b"pdp/";

/// Longest object name that still makes a key of at most 1 024 bytes (the
/// storage nodes' default key limit).
pub const MAX_BUNDLE_NAME_BYTES: usize = 1024 - KEY_PREFIX.len();

/// The key-value key of the object called `name`: `pdp/` ‖ name.
pub fn bundle_key(name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(KEY_PREFIX.len() + name.len());
    k.extend_from_slice(KEY_PREFIX);
    k.extend_from_slice(name);
    k
}

/// Checks that `name` can name an audited object (1 to
/// [`MAX_BUNDLE_NAME_BYTES`] bytes).
pub fn check_name(name: &[u8]) -> Result<(), PdpError> {
    let limit = MAX_BUNDLE_NAME_BYTES.min(MAX_NAME_BYTES);
    if name.is_empty() || name.len() > limit {
        return Err(PdpError::InvalidParameter(format!(
            "object name is {} bytes, must be 1 ..= {limit}",
            name.len()
        )));
    }
    Ok(())
}

/// An audited object as stored: signed metadata, tags, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    metadata: SignedMetadata,
    tags: Vec<u8>,
    data: Vec<u8>,
}

fn bad(reason: String) -> PdpError {
    PdpError::Malformed {
        what: "PDP bundle",
        reason,
    }
}

impl Bundle {
    /// The bundle of a tagged object and its data; refuses data whose
    /// length is not the metadata's or a tag count that is not its block
    /// count.
    pub fn new(object: TaggedObject, data: Vec<u8>) -> Result<Self, PdpError> {
        let tags: Vec<u8> = object.tags.iter().flat_map(Tag::to_bytes).collect();
        Self::check(&object.metadata, &tags, &data)?;
        Ok(Self {
            metadata: object.metadata,
            tags,
            data,
        })
    }

    fn check(metadata: &SignedMetadata, tags: &[u8], data: &[u8]) -> Result<(), PdpError> {
        let m = metadata.metadata();
        check_name(m.name())?;
        if data.len() as u64 != m.layout().object_len() {
            return Err(bad(format!(
                "data is {} bytes, the metadata says {}",
                data.len(),
                m.layout().object_len()
            )));
        }
        let expected = u64::try_from(tags.len() / G1_BYTES).unwrap_or(u64::MAX);
        if !tags.len().is_multiple_of(G1_BYTES) || expected != m.blocks() {
            return Err(bad(format!(
                "tags are {} bytes, {} blocks need {} × {G1_BYTES}",
                tags.len(),
                m.blocks(),
                m.blocks()
            )));
        }
        Ok(())
    }

    /// The encoded `lambda.pdp.v1.PdpBundle`.
    pub fn encode(&self) -> Vec<u8> {
        pb::PdpBundle {
            version: BUNDLE_VERSION,
            metadata: Some((&self.metadata).into()),
            tags: self.tags.clone(),
            data: self.data.clone(),
        }
        .encode_to_vec()
    }

    /// Decodes and checks a stored bundle (the metadata signature is not
    /// checked here: see [`SignedMetadata::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, PdpError> {
        let b = pb::PdpBundle::decode(bytes).map_err(|e| bad(e.to_string()))?;
        if b.version != BUNDLE_VERSION {
            return Err(bad(format!(
                "version {} is not the supported {BUNDLE_VERSION}",
                b.version
            )));
        }
        let metadata = SignedMetadata::try_from(
            b.metadata
                .as_ref()
                .ok_or(PdpError::MissingField("bundle metadata"))?,
        )?;
        Self::check(&metadata, &b.tags, &b.data)?;
        Ok(Self {
            metadata,
            tags: b.tags,
            data: b.data,
        })
    }

    /// The owner-signed metadata.
    pub fn metadata(&self) -> &SignedMetadata {
        &self.metadata
    }

    /// The object's name.
    pub fn name(&self) -> &[u8] {
        self.metadata.metadata().name()
    }

    /// The object's bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The object's bytes, consuming the bundle.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// Block `index`, or `None` past the last block.
    pub fn block(&self, index: u64) -> Option<&[u8]> {
        let range = self.metadata.metadata().layout().block_range(index).ok()?;
        self.data
            .get(usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?)
    }

    /// The tag of block `index` (decoded and checked now), or `None` past
    /// the last block.
    pub fn tag(&self, index: u64) -> Result<Option<Tag>, PdpError> {
        let Some(start) = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(G1_BYTES))
        else {
            return Ok(None);
        };
        match self.tags.get(start..start + G1_BYTES) {
            Some(bytes) => Tag::from_bytes(bytes).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;
    use crate::tag::Tagger;

    fn bundle() -> (Bundle, TaggedObject, Vec<u8>) {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 13) as u8).collect();
        let obj = Tagger::new(KeyPair::generate())
            .tag(b"chunk-1", &data, 4)
            .unwrap();
        let b = Bundle::new(obj.clone(), data.clone()).unwrap();
        (b, obj, data)
    }

    #[test]
    fn round_trips_and_serves_blocks_and_tags() {
        let (b, obj, data) = bundle();
        let back = Bundle::decode(&b.encode()).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.name(), b"chunk-1");
        assert_eq!(back.data(), &data[..]);
        let n = obj.metadata.metadata().blocks();
        assert_eq!(n, 9); // 124-byte blocks
        for i in 0..n {
            assert_eq!(back.tag(i).unwrap(), Some(obj.tags[i as usize]));
            let r = obj.metadata.metadata().layout().block_range(i).unwrap();
            assert_eq!(
                back.block(i).unwrap(),
                &data[r.start as usize..r.end as usize]
            );
        }
        assert_eq!(back.tag(n).unwrap(), None);
        assert_eq!(back.block(n), None);
        assert_eq!(bundle_key(b"x"), b"pdp/x".to_vec());
    }

    #[test]
    fn refuses_inconsistent_bundles() {
        let (b, obj, data) = bundle();
        let short = Bundle::new(obj.clone(), data[..999].to_vec()).unwrap_err();
        assert!(short.to_string().contains("999 bytes"), "{short}");
        let mut fewer = obj.clone();
        fewer.tags.pop();
        assert!(Bundle::new(fewer, data.clone()).is_err());
        let mut msg = pb::PdpBundle::decode(&b.encode()[..]).unwrap();
        msg.version = 2;
        let e = Bundle::decode(&msg.encode_to_vec()).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
        msg.version = 1;
        msg.tags.truncate(47);
        assert!(Bundle::decode(&msg.encode_to_vec()).is_err());
        msg.metadata = None;
        assert_eq!(
            Bundle::decode(&msg.encode_to_vec()),
            Err(PdpError::MissingField("bundle metadata"))
        );
        assert!(Bundle::decode(b"\xff\xff").is_err());
        assert!(check_name(b"").is_err());
        assert!(check_name(&[b'a'; MAX_BUNDLE_NAME_BYTES + 1]).is_err());
    }

    #[test]
    fn a_garbled_tag_is_refused_when_read() {
        let (b, _, _) = bundle();
        let mut msg = pb::PdpBundle::decode(&b.encode()[..]).unwrap();
        msg.tags[G1_BYTES + 5] ^= 0x40;
        let garbled = Bundle::decode(&msg.encode_to_vec()).unwrap();
        assert!(garbled.tag(0).unwrap().is_some());
        assert!(garbled.tag(1).is_err());
    }
}
