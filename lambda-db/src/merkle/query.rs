//! Reading the tree for an exchange: the group level (computed from the
//! segment entries), the segment hashes of chosen groups, and the (key,
//! digest) leaves of chosen segments — checked against their segment entry,
//! so a tree that disagrees with itself is reported instead of being
//! trusted.

use super::{
    Digest, GROUPS, SEGMENTS_PER_GROUP, corrupt, decode_leaf, decode_segment, leaf_prefix,
    segment_key, segment_range, split_segment_key,
};
use crate::error::Result;
use crate::storage::{Cf, Engine, KeyRange};

/// The group hashes of one partition, in group order.
pub type GroupHashes = [Digest; GROUPS as usize];

/// A segment's hash and key count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHash {
    /// The segment.
    pub segment: u32,
    /// XOR of its keys' digests.
    pub hash: Digest,
    /// Keys in it.
    pub keys: u64,
}

/// One leaf: a key and the digest of its stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDigest {
    /// The user key.
    pub key: Vec<u8>,
    /// Its digest.
    pub digest: Digest,
}

/// Every non-empty segment of `partition`.
pub fn all_segments(engine: &dyn Engine, partition: u32) -> Result<Vec<SegmentHash>> {
    let range = segment_range(partition);
    let rows = engine.scan(Cf::Merkle, &range, usize::MAX)?;
    let mut out = Vec::with_capacity(rows.len());
    for (k, v) in rows {
        let Some((_, segment)) = split_segment_key(&k) else {
            return Err(corrupt(partition, "a segment key is malformed".into()));
        };
        let (hash, keys) = decode_segment(partition, &v)?;
        out.push(SegmentHash {
            segment,
            hash,
            keys,
        });
    }
    Ok(out)
}

/// The group hashes of `partition`.
pub fn groups(engine: &dyn Engine, partition: u32) -> Result<GroupHashes> {
    let mut out = [0; GROUPS as usize];
    for s in all_segments(engine, partition)? {
        out[(s.segment / SEGMENTS_PER_GROUP) as usize] ^= s.hash;
    }
    Ok(out)
}

/// The non-empty segments of the given groups of `partition`, in order.
pub fn segments(engine: &dyn Engine, partition: u32, groups: &[u32]) -> Result<Vec<SegmentHash>> {
    let mut out = Vec::new();
    for &g in groups {
        if g >= GROUPS {
            continue;
        }
        let range = KeyRange {
            start: segment_key(partition, g * SEGMENTS_PER_GROUP),
            end: Some(segment_key(partition, (g + 1) * SEGMENTS_PER_GROUP)),
        };
        for (k, v) in engine.scan(Cf::Merkle, &range, usize::MAX)? {
            let Some((p, segment)) = split_segment_key(&k) else {
                return Err(corrupt(partition, "a segment key is malformed".into()));
            };
            if p != partition {
                continue;
            }
            let (hash, keys) = decode_segment(partition, &v)?;
            out.push(SegmentHash {
                segment,
                hash,
                keys,
            });
        }
    }
    Ok(out)
}

/// The leaves of the given segments of `partition`. Each segment's leaves
/// must XOR to its hash and match its count, else the tree is corrupt.
pub fn segment_keys(
    engine: &dyn Engine,
    partition: u32,
    segments: &[u32],
) -> Result<Vec<KeyDigest>> {
    let mut out = Vec::new();
    for &s in segments {
        let prefix = leaf_prefix(partition, s);
        let (want_hash, want_keys) = match engine.get(Cf::Merkle, &segment_key(partition, s))? {
            Some(v) => decode_segment(partition, &v)?,
            None => (0, 0),
        };
        let (mut hash, mut keys) = (0u128, 0u64);
        for (k, v) in engine.scan(Cf::Merkle, &KeyRange::prefix(&prefix), usize::MAX)? {
            let digest = decode_leaf(partition, &v)?;
            hash ^= digest;
            keys += 1;
            out.push(KeyDigest {
                key: k[prefix.len()..].to_vec(),
                digest,
            });
        }
        if (hash, keys) != (want_hash, want_keys) {
            return Err(corrupt(
                partition,
                format!(
                    "segment {s}: its {keys} leaves do not add up to its entry ({want_keys} keys)"
                ),
            ));
        }
    }
    Ok(out)
}
