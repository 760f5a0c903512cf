//! The in-memory head: for each series its open chunk (the points of the
//! current block window, Gorilla-compressed as they arrive), its last
//! timestamp, and the queue of sealed blocks waiting for the cluster.
//!
//! Block windows are aligned to `block_ms` (10 minutes by default): a point
//! in a later window seals the open chunk; an idle chunk is sealed once its
//! window has ended (plus a grace period) by the wall clock; a chunk that
//! reaches `max_block_bytes` is sealed at once, so that a block always fits
//! in one cluster value. So memory holds
//! about one window of points per series plus the upload queue, whose
//! length the store bounds.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::block::{self, BlockMeta};
use super::error::{Result, TsdbError};
use super::gorilla::GorillaEncoder;
use super::series::{SeriesId, SeriesKey};

/// A series' open chunk.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// End of the window (exclusive).
    pub window_end: i64,
    /// The points so far.
    pub enc: GorillaEncoder,
    /// Their summary.
    pub meta: BlockMeta,
}

/// A sealed block waiting for (or being given to) the cluster.
#[derive(Clone, Debug)]
pub struct Sealed {
    /// The series.
    pub key: SeriesKey,
    /// Its summary.
    pub meta: BlockMeta,
    /// The encoded block.
    pub bytes: Arc<Vec<u8>>,
}

/// What the head keeps per series.
#[derive(Clone, Debug)]
pub struct SeriesState {
    /// The series.
    pub key: SeriesKey,
    /// Last accepted timestamp.
    pub last_ts: Option<i64>,
    /// Last timestamp the cluster acknowledged in a block.
    pub acked_last_ts: Option<i64>,
    /// In its metric's catalog.
    pub catalogued: bool,
    /// The open chunk.
    pub chunk: Option<Chunk>,
}

/// The head.
#[derive(Debug)]
pub struct Head {
    /// Series by id.
    pub series: HashMap<SeriesId, SeriesState>,
    /// Sealed blocks in sealing order.
    pub pending: VecDeque<Sealed>,
    block_ms: i64,
    max_block_bytes: u64,
}

impl Head {
    /// An empty head with windows of `block_ms`; a chunk is also sealed
    /// early once its compressed points reach `max_block_bytes`.
    pub fn new(block_ms: i64, max_block_bytes: u64) -> Self {
        Self {
            series: HashMap::new(),
            pending: VecDeque::new(),
            block_ms: block_ms.max(1),
            max_block_bytes: max_block_bytes.max(64),
        }
    }

    /// Registers a series (or checks that its id is not another's).
    pub fn register(&mut self, key: &SeriesKey) -> Result<SeriesId> {
        let id = key.id();
        match self.series.get(&id) {
            Some(s) if s.key != *key => Err(TsdbError::SeriesIdCollision {
                existing: s.key.canonical(),
                new: key.canonical(),
                id: id.0,
            }),
            Some(_) => Ok(id),
            None => {
                self.series.insert(
                    id,
                    SeriesState {
                        key: key.clone(),
                        last_ts: None,
                        acked_last_ts: None,
                        catalogued: false,
                        chunk: None,
                    },
                );
                Ok(id)
            }
        }
    }

    /// Checks that `ts` may follow `last` in series `key`.
    pub fn check_order(key: &SeriesKey, last: Option<i64>, ts: i64) -> Result<()> {
        if !(0..=super::MAX_TIMESTAMP_MS).contains(&ts) {
            return Err(TsdbError::TimestampOutOfRange {
                series: key.canonical(),
                got_ms: ts,
                max_ms: super::MAX_TIMESTAMP_MS,
            });
        }
        match last {
            Some(l) if ts == l => Err(TsdbError::DuplicateTimestamp {
                series: key.canonical(),
                last_ms: l,
                got_ms: ts,
            }),
            Some(l) if ts < l => Err(TsdbError::OutOfOrder {
                series: key.canonical(),
                last_ms: l,
                got_ms: ts,
            }),
            _ => Ok(()),
        }
    }

    /// Appends a checked point, sealing the open chunk if `ts` is past its
    /// window. Points at or before the series' last timestamp are ignored
    /// (replay of already-applied records).
    pub fn push(&mut self, id: SeriesId, ts: i64, value: f64) {
        let block_ms = self.block_ms;
        let Some(s) = self.series.get_mut(&id) else {
            return;
        };
        if s.last_ts.is_some_and(|l| ts <= l) {
            return;
        }
        if s.chunk.as_ref().is_some_and(|c| ts >= c.window_end)
            && let Some(sealed) = seal(s)
        {
            self.pending.push_back(sealed);
        }
        let chunk = s.chunk.get_or_insert_with(|| Chunk {
            window_end: ts - ts.rem_euclid(block_ms) + block_ms,
            enc: GorillaEncoder::new(),
            meta: BlockMeta {
                first_ts: ts,
                last_ts: ts,
                count: 0,
                nan_count: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                sum: 0.0,
                bytes: 0,
            },
        });
        if chunk.enc.push(ts, value).is_ok() {
            chunk.meta.add(value);
            chunk.meta.last_ts = ts;
            s.last_ts = Some(ts);
        }
        if chunk.enc.bit_len() / 8 >= self.max_block_bytes
            && let Some(sealed) = seal(s)
        {
            self.pending.push_back(sealed);
        }
    }

    /// Seals the open chunks whose window ended at or before `cutoff`
    /// (every chunk with `None`); returns how many.
    pub fn seal_until(&mut self, cutoff: Option<i64>) -> usize {
        let mut n = 0;
        let mut ids: Vec<SeriesId> = self
            .series
            .iter()
            .filter(|(_, s)| {
                s.chunk
                    .as_ref()
                    .is_some_and(|c| cutoff.is_none_or(|t| c.window_end <= t))
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(sealed) = self.series.get_mut(&id).and_then(seal) {
                self.pending.push_back(sealed);
                n += 1;
            }
        }
        n
    }
}

fn seal(s: &mut SeriesState) -> Option<Sealed> {
    let chunk = s.chunk.take()?;
    if chunk.enc.count() == 0 {
        return None;
    }
    let bytes = block::encode(&chunk.enc);
    let mut meta = chunk.meta;
    meta.bytes = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    Some(Sealed {
        key: s.key.clone(),
        meta,
        bytes: Arc::new(bytes),
    })
}
