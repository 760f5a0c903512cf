//! The series index stored in the cluster: per series and day, the
//! summaries of its sealed blocks ([`IndexShard`]); per metric, its series
//! ([`Catalog`]).
//!
//! Both only grow, and merge by union, so the read-merge-write updates of
//! [`add_blocks`] and [`add_to_catalog`] converge whatever the interleaving
//! (siblings from concurrent writers are merged by the next update). The
//! per-block min/max/sum summaries are what range and top-k queries plan
//! with before fetching any block.

use std::collections::{BTreeMap, HashMap};

use super::block::BlockMeta;
use super::codec::{Reader, Writer};
use super::error::{DecodeError, Result, TsdbError};
use super::keys;
use super::remote::ObjectStore;
use super::series::{SeriesId, SeriesKey};

const SHARD_VERSION: u8 = 1;
const CATALOG_VERSION: u8 = 1;

/// The block summaries of one series whose first timestamp falls in one day.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexShard {
    /// The series.
    pub series: SeriesKey,
    /// Days since the epoch (UTC).
    pub day: i64,
    /// Block summaries by first timestamp.
    pub blocks: BTreeMap<i64, BlockMeta>,
}

impl IndexShard {
    /// An empty shard.
    pub fn new(series: SeriesKey, day: i64) -> Self {
        Self {
            series,
            day,
            blocks: BTreeMap::new(),
        }
    }

    /// Adds a block; a block with the same first timestamp keeps the summary
    /// with more points (a re-sealed block holds a superset).
    pub fn insert(&mut self, m: BlockMeta) {
        match self.blocks.get(&m.first_ts) {
            Some(old) if old.count >= m.count => {}
            _ => {
                self.blocks.insert(m.first_ts, m);
            }
        }
    }

    /// Merges another version of the same shard.
    pub fn merge(&mut self, other: &IndexShard) {
        for m in other.blocks.values() {
            self.insert(*m);
        }
    }

    /// Encodes the shard (checksummed).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + self.blocks.len() * BlockMeta::ENCODED_LEN);
        w.u8(SHARD_VERSION);
        self.series.encode(&mut w);
        w.zigzag(self.day);
        w.varint(self.blocks.len() as u64);
        for m in self.blocks.values() {
            m.encode(&mut w);
        }
        w.seal_crc();
        w.buf
    }

    /// Decodes a shard, checking checksum, version and that every block
    /// belongs to the shard's day.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::with_crc(bytes, "index shard")?;
        let v = r.u8("version")?;
        if v != SHARD_VERSION {
            return Err(r.err(format!("unknown index shard version {v}")));
        }
        let series = SeriesKey::decode(&mut r)?;
        let day = r.zigzag("day")?;
        let n = r.count("block count", BlockMeta::ENCODED_LEN)?;
        let mut shard = Self::new(series, day);
        for _ in 0..n {
            let m = BlockMeta::decode(&mut r)?;
            if keys::day_of(m.first_ts) != day {
                return Err(r.err(format!(
                    "block starting at {} does not belong to day {day}",
                    m.first_ts
                )));
            }
            shard.insert(m);
        }
        r.finish()?;
        Ok(shard)
    }
}

/// The series of one metric.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// Series by id.
    pub series: BTreeMap<SeriesId, SeriesKey>,
}

impl Catalog {
    /// Encodes the catalog (checksummed).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 * self.series.len() + 8);
        w.u8(CATALOG_VERSION);
        w.varint(self.series.len() as u64);
        for k in self.series.values() {
            k.encode(&mut w);
        }
        w.seal_crc();
        w.buf
    }

    /// Decodes a catalog.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::with_crc(bytes, "catalog")?;
        let v = r.u8("version")?;
        if v != CATALOG_VERSION {
            return Err(r.err(format!("unknown catalog version {v}")));
        }
        let n = r.count("series count", 2)?;
        let mut c = Self::default();
        for _ in 0..n {
            let k = SeriesKey::decode(&mut r)?;
            c.series.insert(k.id(), k);
        }
        r.finish()?;
        Ok(c)
    }
}

/// Reads a shard from the store, merging siblings (None if absent).
async fn read_shard(store: &dyn ObjectStore, key: &str) -> Result<(Option<IndexShard>, Vec<u8>)> {
    let v = store.get(key).await?;
    let mut merged: Option<IndexShard> = None;
    for bytes in &v.values {
        let s = IndexShard::decode(bytes)?;
        match merged.as_mut() {
            Some(m) => m.merge(&s),
            None => merged = Some(s),
        }
    }
    Ok((merged, v.context))
}

/// Adds block summaries of `series` to its day shards in the store.
pub async fn add_blocks(
    store: &dyn ObjectStore,
    series: &SeriesKey,
    metas: &[BlockMeta],
) -> Result<()> {
    let id = series.id();
    let mut by_day: HashMap<i64, Vec<BlockMeta>> = HashMap::new();
    for m in metas {
        by_day.entry(keys::day_of(m.first_ts)).or_default().push(*m);
    }
    for (day, metas) in by_day {
        let key = keys::index_shard(id, day);
        let (old, ctx) = read_shard(store, &key).await?;
        let mut shard = old.unwrap_or_else(|| IndexShard::new(series.clone(), day));
        if shard.series != *series {
            return Err(TsdbError::SeriesIdCollision {
                existing: shard.series.canonical(),
                new: series.canonical(),
                id: id.0,
            });
        }
        let before = shard.clone();
        for m in metas {
            shard.insert(m);
        }
        if shard != before {
            store.put_versioned(&key, shard.encode(), &ctx).await?;
        }
    }
    Ok(())
}

/// The summaries of `series`' stored blocks that may overlap `[t0, t1)`,
/// given that no block spans more than a day.
pub async fn load_blocks(
    store: &dyn ObjectStore,
    series: SeriesId,
    t0: i64,
    t1: i64,
) -> Result<Vec<BlockMeta>> {
    let mut out = Vec::new();
    if t1 <= t0 {
        return Ok(out);
    }
    let first = keys::day_of(t0.saturating_sub(keys::DAY_MS));
    let last = keys::day_of(t1 - 1);
    for day in first..=last {
        let (shard, _) = read_shard(store, &keys::index_shard(series, day)).await?;
        if let Some(s) = shard {
            out.extend(s.blocks.values().filter(|m| m.overlaps(t0, t1)).copied());
        }
    }
    Ok(out)
}

/// Adds series to their metrics' catalogs.
pub async fn add_to_catalog(store: &dyn ObjectStore, series: &[SeriesKey]) -> Result<()> {
    let mut by_metric: BTreeMap<&str, Vec<&SeriesKey>> = BTreeMap::new();
    for s in series {
        by_metric.entry(s.metric()).or_default().push(s);
    }
    for (metric, new) in by_metric {
        let key = keys::catalog(metric);
        let v = store.get(&key).await?;
        let mut cat = Catalog::default();
        for bytes in &v.values {
            cat.series.extend(Catalog::decode(bytes)?.series);
        }
        let before = cat.series.len();
        for s in new {
            cat.series.insert(s.id(), s.clone());
        }
        if cat.series.len() != before {
            store.put_versioned(&key, cat.encode(), &v.context).await?;
        }
    }
    Ok(())
}

/// The series of `metric` known to the store.
pub async fn load_catalog(store: &dyn ObjectStore, metric: &str) -> Result<Catalog> {
    let v = store.get(&keys::catalog(metric)).await?;
    let mut cat = Catalog::default();
    for bytes in &v.values {
        cat.series.extend(Catalog::decode(bytes)?.series);
    }
    Ok(cat)
}
