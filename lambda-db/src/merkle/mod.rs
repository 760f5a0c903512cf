//! The anti-entropy hash tree of each partition, kept up to date on every
//! write in the `merkle` column family.
//!
//! Every key of a partition falls in one of [`SEGMENTS`] segments (the low
//! bits of its XXH3 hash; the partition is the high bits). The family holds:
//!
//! - a **leaf** per key, `'L' ‖ partition (u32 BE) ‖ segment (u16 BE) ‖ key`
//!   → `[format] ‖ digest (u128 BE)`, the digest being XXH3-128 of the
//!   encoded object seeded with the key's hash;
//! - a **segment** entry per non-empty segment, `'S' ‖ partition ‖ segment`
//!   → `[format] ‖ XOR of its leaves' digests (u128 BE) ‖ key count (u64 BE)`.
//!
//! A write stages both in the same atomic batch as the data (old digest out,
//! new digest in: the old object was read by the read-modify-write anyway),
//! so the tree can never disagree with the data after a crash. Because the
//! segment is a function of the key hash with the same bits as the store's
//! lock stripe, every writer of a segment holds the same lock, and the
//! segment's read-modify-write is serialised for free.
//!
//! Above the segments the tree is computed on demand: [`GROUPS`] groups of
//! 32 segments (the XOR of their hashes) and the partition root (the XOR of
//! all digests, kept in memory per partition as a [`Summary`] so that roots
//! of many partitions are compared without touching the disk). XOR makes
//! every level incremental; the key is part of each digest, so equal objects
//! under different keys do not cancel.

mod query;
mod rebuild;

use std::collections::BTreeMap;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::keyspace::key_hash;
use crate::storage::{Cf, Engine, KeyRange, WriteBatch};

pub use query::{
    GroupHashes, KeyDigest, SegmentHash, all_segments, groups, segment_keys, segments,
};
pub use rebuild::clear_all;

/// Segments per partition.
pub const SEGMENTS: u32 = 1024;
/// Groups per partition (the level between segments and the root).
pub const GROUPS: u32 = 32;
/// Segments per group.
pub const SEGMENTS_PER_GROUP: u32 = SEGMENTS / GROUPS;

/// A digest (and the XOR of digests at the levels above).
pub type Digest = u128;

const FORMAT_V1: u8 = 1;
const LEAF_TAG: u8 = b'L';
const SEGMENT_TAG: u8 = b'S';
const LEAF_VALUE_LEN: usize = 1 + 16;
const SEGMENT_VALUE_LEN: usize = 1 + 16 + 8;

/// The segment of a key: the low bits of its hash (the partition is taken
/// from the high bits, so the two are independent).
pub fn segment_of(key: &[u8]) -> u32 {
    (key_hash(key) as u32) & (SEGMENTS - 1)
}

/// The digest of a key and its encoded object: XXH3-128 of the object,
/// seeded with the key's hash (so equal objects under different keys differ).
pub fn digest(key: &[u8], encoded_object: &[u8]) -> Digest {
    xxhash_rust::xxh3::xxh3_128_with_seed(encoded_object, key_hash(key))
}

fn leaf_prefix(partition: u32, segment: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(7);
    out.push(LEAF_TAG);
    out.extend_from_slice(&partition.to_be_bytes());
    out.extend_from_slice(&(segment as u16).to_be_bytes());
    out
}

fn leaf_key(partition: u32, segment: u32, key: &[u8]) -> Vec<u8> {
    let mut out = leaf_prefix(partition, segment);
    out.extend_from_slice(key);
    out
}

fn segment_key(partition: u32, segment: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(7);
    out.push(SEGMENT_TAG);
    out.extend_from_slice(&partition.to_be_bytes());
    out.extend_from_slice(&(segment as u16).to_be_bytes());
    out
}

fn partition_prefix(tag: u8, partition: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    out.push(tag);
    out.extend_from_slice(&partition.to_be_bytes());
    out
}

/// The key range of `partition`'s leaves.
fn leaf_range(partition: u32) -> KeyRange {
    KeyRange::prefix(&partition_prefix(LEAF_TAG, partition))
}

/// The key range of `partition`'s segment entries.
fn segment_range(partition: u32) -> KeyRange {
    KeyRange::prefix(&partition_prefix(SEGMENT_TAG, partition))
}

fn corrupt(partition: u32, what: String) -> Error {
    Error::MerkleCorrupt { partition, what }
}

fn encode_leaf(d: Digest) -> Vec<u8> {
    let mut v = Vec::with_capacity(LEAF_VALUE_LEN);
    v.push(FORMAT_V1);
    v.extend_from_slice(&d.to_be_bytes());
    v
}

fn decode_leaf(partition: u32, bytes: &[u8]) -> Result<Digest> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) if body.len() == 16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(body);
            Ok(u128::from_be_bytes(b))
        }
        _ => Err(corrupt(partition, "a leaf record is malformed".into())),
    }
}

fn encode_segment(hash: Digest, count: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(SEGMENT_VALUE_LEN);
    v.push(FORMAT_V1);
    v.extend_from_slice(&hash.to_be_bytes());
    v.extend_from_slice(&count.to_be_bytes());
    v
}

fn decode_segment(partition: u32, bytes: &[u8]) -> Result<(Digest, u64)> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) if body.len() == 24 => {
            let (h, c) = body.split_at(16);
            let mut hb = [0u8; 16];
            hb.copy_from_slice(h);
            let mut cb = [0u8; 8];
            cb.copy_from_slice(c);
            Ok((u128::from_be_bytes(hb), u64::from_be_bytes(cb)))
        }
        _ => Err(corrupt(partition, "a segment record is malformed".into())),
    }
}

/// Splits a segment entry key into (partition, segment).
fn split_segment_key(raw: &[u8]) -> Option<(u32, u32)> {
    let (&tag, rest) = raw.split_first()?;
    if tag != SEGMENT_TAG || rest.len() != 6 {
        return None;
    }
    let p = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let s = u32::from(u16::from_be_bytes([rest[4], rest[5]]));
    Some((p, s))
}

/// One partition's root and key count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// XOR of the digests of every key of the partition (0 when empty).
    pub root: Digest,
    /// Keys stored.
    pub keys: u64,
}

/// The change of one key's stored object, as digests (None: absent).
#[derive(Clone, Copy, Debug)]
pub struct KeyChange<'a> {
    /// The key's partition.
    pub partition: u32,
    /// The user key.
    pub key: &'a [u8],
    /// Digest of the object before (None: the key was absent).
    pub old: Option<Digest>,
    /// Digest after (None: the key is removed).
    pub new: Option<Digest>,
}

/// A partition's share of staged changes, applied to its in-memory summary
/// once the batch is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    partition: u32,
    xor: Digest,
    keys_delta: i64,
}

/// The in-memory part of the tree: a summary per partition.
#[derive(Debug)]
pub struct MerkleTree {
    summaries: Box<[Mutex<Summary>]>,
}

impl MerkleTree {
    /// Loads the summaries from the segment entries on disk.
    pub fn load(engine: &dyn Engine, partitions: u32) -> Result<Self> {
        let tree = Self {
            summaries: (0..partitions)
                .map(|_| Mutex::new(Summary::default()))
                .collect(),
        };
        let mut range = KeyRange::prefix(&[SEGMENT_TAG]);
        loop {
            let page = engine.scan(Cf::Merkle, &range, 4096)?;
            let Some((last, _)) = page.last() else { break };
            range.start = last.clone();
            range.start.push(0);
            for (k, v) in &page {
                let Some((p, _)) = split_segment_key(k) else {
                    return Err(corrupt(
                        0,
                        format!("segment key {} is malformed", hex::encode(k)),
                    ));
                };
                let (hash, count) = decode_segment(p, v)?;
                let Some(slot) = tree.summaries.get(p as usize) else {
                    return Err(corrupt(p, "segment of a partition out of range".into()));
                };
                let mut s = slot.lock();
                s.root ^= hash;
                s.keys += count;
            }
        }
        Ok(tree)
    }

    /// The summary of `partition` (empty when out of range).
    pub fn summary(&self, partition: u32) -> Summary {
        self.summaries
            .get(partition as usize)
            .map(|s| *s.lock())
            .unwrap_or_default()
    }

    /// Stages key changes (old → new digest; None: absent) into `batch`:
    /// the leaves and, once per touched segment, the segment entry. The
    /// caller holds the locks of every key's stripe (which cover their
    /// segments) and applies the returned changes with [`MerkleTree::apply`]
    /// once the batch is written.
    pub fn stage(
        engine: &dyn Engine,
        batch: &mut WriteBatch,
        changes: &[KeyChange<'_>],
    ) -> Result<Vec<Change>> {
        if let [c] = changes {
            return Self::stage_one(engine, batch, c).map(|c| vec![c]);
        }
        let mut segments: BTreeMap<(u32, u32), (Digest, i64)> = BTreeMap::new();
        for c in changes {
            let segment = segment_of(c.key);
            let lkey = leaf_key(c.partition, segment, c.key);
            match c.new {
                Some(d) => batch.put(Cf::Merkle, lkey, encode_leaf(d)),
                None => batch.delete(Cf::Merkle, lkey),
            }
            let e = segments.entry((c.partition, segment)).or_default();
            e.0 ^= c.old.unwrap_or(0) ^ c.new.unwrap_or(0);
            e.1 += i64::from(c.new.is_some()) - i64::from(c.old.is_some());
        }
        let mut out: BTreeMap<u32, Change> = BTreeMap::new();
        for ((partition, segment), (xor, delta)) in segments {
            let skey = segment_key(partition, segment);
            let (hash, count) = match engine.get(Cf::Merkle, &skey)? {
                Some(bytes) => decode_segment(partition, &bytes)?,
                None => (0, 0),
            };
            let count = count.saturating_add_signed(delta);
            if count == 0 {
                batch.delete(Cf::Merkle, skey);
            } else {
                batch.put(Cf::Merkle, skey, encode_segment(hash ^ xor, count));
            }
            let c = out.entry(partition).or_insert(Change {
                partition,
                xor: 0,
                keys_delta: 0,
            });
            c.xor ^= xor;
            c.keys_delta += delta;
        }
        Ok(out.into_values().collect())
    }

    /// [`MerkleTree::stage`] of a single key (the write path), without the
    /// bookkeeping of many.
    fn stage_one(engine: &dyn Engine, batch: &mut WriteBatch, c: &KeyChange<'_>) -> Result<Change> {
        let segment = segment_of(c.key);
        let skey = segment_key(c.partition, segment);
        let (hash, count) = match engine.get(Cf::Merkle, &skey)? {
            Some(bytes) => decode_segment(c.partition, &bytes)?,
            None => (0, 0),
        };
        let xor = c.old.unwrap_or(0) ^ c.new.unwrap_or(0);
        let keys_delta = i64::from(c.new.is_some()) - i64::from(c.old.is_some());
        let lkey = leaf_key(c.partition, segment, c.key);
        match c.new {
            Some(d) => batch.put(Cf::Merkle, lkey, encode_leaf(d)),
            None => batch.delete(Cf::Merkle, lkey),
        }
        let count = count.saturating_add_signed(keys_delta);
        if count == 0 {
            batch.delete(Cf::Merkle, skey);
        } else {
            batch.put(Cf::Merkle, skey, encode_segment(hash ^ xor, count));
        }
        Ok(Change {
            partition: c.partition,
            xor,
            keys_delta,
        })
    }

    /// Applies staged changes whose batch was written.
    pub fn apply(&self, changes: &[Change]) {
        for change in changes {
            if let Some(slot) = self.summaries.get(change.partition as usize) {
                let mut s = slot.lock();
                s.root ^= change.xor;
                s.keys = s.keys.saturating_add_signed(change.keys_delta);
            }
        }
    }

    /// Replaces the summary of `partition` (after a rebuild).
    fn set(&self, partition: u32, summary: Summary) {
        if let Some(slot) = self.summaries.get(partition as usize) {
            *slot.lock() = summary;
        }
    }
}

#[cfg(test)]
mod tests;
