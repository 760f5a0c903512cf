//! [`Tsdb`]: the time-series store, tying the head, the write-ahead log, the
//! upload of sealed blocks and the local state together.
//!
//! Ingest: a batch is checked whole (series valid, timestamps strictly
//! increasing per series, upload queue not full), logged as one WAL record
//! and fsynced, then applied to the head. A batch is all or nothing: if any
//! point is refused, none is stored, and the error names the series and
//! timestamps. Equal timestamps are refused, never overwrite (a compressed
//! chunk cannot be rewritten, and an overwrite would make a retried batch
//! ambiguous); a client that retries a batch whose answer it lost therefore
//! gets a duplicate or out-of-order error naming its first point and the
//! series' last timestamp, which tells it the batch was stored (nothing is
//! stored twice).
//!
//! Upload ([`Tsdb::upload_pending`]): sealed blocks go to the cluster in
//! sealing order; then their summaries join the index shards and new series
//! join their catalog; only then are they acknowledged: the watermark of
//! each series advances, the state file is rewritten, and WAL segments
//! whose points are all below the watermarks are deleted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::error::{Result, TsdbError};
use super::head::{Head, Sealed};
use super::remote::ObjectStore;
use super::series::{SeriesId, SeriesKey};
use super::wal::Wal;
use super::{Point, index, keys, state};

/// Settings of the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsdbConfig {
    /// Block window, in milliseconds: the span kept in memory per series
    /// before it is sealed (at most one day).
    pub block_ms: i64,
    /// How long after its window ends an idle chunk is sealed, in ms.
    pub seal_grace_ms: i64,
    /// Compressed size at which a chunk is sealed before its window ends,
    /// in bytes (keep it well below the cluster's value size limit).
    pub max_block_bytes: u64,
    /// WAL segment size that triggers rotation, in bytes.
    pub wal_segment_bytes: u64,
    /// Most sealed blocks waiting for the cluster; ingest is refused
    /// (RESOURCE_EXHAUSTED) while the queue is full.
    pub max_pending_blocks: usize,
    /// Most points in one ingest batch.
    pub max_batch_points: usize,
    /// Most blocks uploaded in one round.
    pub upload_batch_blocks: usize,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        Self {
            block_ms: 600_000,
            seal_grace_ms: 30_000,
            max_block_bytes: 1 << 20,
            wal_segment_bytes: 8 << 20,
            max_pending_blocks: 4096,
            max_batch_points: 100_000,
            upload_batch_blocks: 256,
        }
    }
}

impl TsdbConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if !(1_000..=keys::DAY_MS).contains(&self.block_ms) {
            return Err(TsdbError::InvalidConfig(format!(
                "tsdb.block_ms = {} must be within 1000..={} (one second to one day)",
                self.block_ms,
                keys::DAY_MS
            )));
        }
        if self.max_pending_blocks == 0
            || self.upload_batch_blocks == 0
            || self.max_batch_points == 0
        {
            return Err(TsdbError::InvalidConfig(
                "tsdb.max_pending_blocks, upload_batch_blocks and max_batch_points must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Points of one series in an ingest batch.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesPoints {
    /// The series.
    pub key: SeriesKey,
    /// Its points, timestamps strictly increasing.
    pub points: Vec<Point>,
}

/// Counters of the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TsdbStats {
    /// Series known.
    pub series: usize,
    /// Points in open chunks.
    pub head_points: u64,
    /// Sealed blocks waiting for the cluster.
    pub pending_blocks: usize,
    /// WAL segment files.
    pub wal_segments: usize,
    /// Blocks acknowledged by the cluster since start.
    pub uploaded_blocks: u64,
    /// Blocks read from the cluster since start.
    pub fetched_blocks: u64,
    /// Points stored (acknowledged) since start.
    pub points_ingested: u64,
    /// Ingest batches refused since start because the upload queue was
    /// full.
    pub ingest_refused_backpressure: u64,
    /// Upload rounds that failed since start (their blocks stay queued).
    pub upload_failures: u64,
    /// Bytes appended to the WAL since start.
    pub wal_bytes_written: u64,
    /// WAL fsyncs since start.
    pub wal_fsyncs: u64,
}

/// The time-series store.
#[derive(Debug)]
pub struct Tsdb {
    pub(crate) cfg: TsdbConfig,
    state_path: PathBuf,
    pub(crate) head: Mutex<Head>,
    wal: Mutex<Wal>,
    pub(crate) remote: Arc<dyn ObjectStore>,
    upload: tokio::sync::Mutex<()>,
    uploaded: AtomicU64,
    pub(crate) fetched: AtomicU64,
    ingested: AtomicU64,
    backpressure: AtomicU64,
    upload_failures: AtomicU64,
}

/// Milliseconds since the Unix epoch by the wall clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Tsdb {
    /// Opens the store in `dir` (WAL in `dir/wal`, state in `dir/state`):
    /// loads the state, replays the WAL into the head, and starts a new
    /// WAL segment.
    pub fn open(dir: &Path, cfg: TsdbConfig, remote: Arc<dyn ObjectStore>) -> Result<Self> {
        cfg.validate()?;
        std::fs::create_dir_all(dir).map_err(|e| TsdbError::io("creating", dir, e))?;
        let state_path = dir.join("state");
        let mut head = Head::new(cfg.block_ms, cfg.max_block_bytes);
        for r in state::load(&state_path)? {
            let id = head.register(&r.key)?;
            if let Some(s) = head.series.get_mut(&id) {
                s.acked_last_ts = r.acked_last_ts;
                s.last_ts = r.acked_last_ts;
                s.catalogued = r.catalogued;
            }
        }
        let (wal, records) = Wal::open(&dir.join("wal"), cfg.wal_segment_bytes, now_ms())?;
        let mut replayed = 0u64;
        for rec in records {
            for k in &rec.series {
                head.register(k)?;
            }
            for (id, ts, v) in rec.points {
                // Points at or below the acknowledged watermark are in the
                // cluster already; `push` skips them.
                head.push(id, ts, v);
                replayed += 1;
            }
        }
        tracing::info!(dir = %dir.display(), series = head.series.len(), replayed, pending = head.pending.len(), "time-series store opened");
        Ok(Self {
            cfg,
            state_path,
            head: Mutex::new(head),
            wal: Mutex::new(wal),
            remote,
            upload: tokio::sync::Mutex::new(()),
            uploaded: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
            ingested: AtomicU64::new(0),
            backpressure: AtomicU64::new(0),
            upload_failures: AtomicU64::new(0),
        })
    }

    /// The settings.
    pub fn config(&self) -> &TsdbConfig {
        &self.cfg
    }

    /// Stores a batch durably (fsynced WAL) or refuses it whole; returns
    /// the number of points stored.
    pub fn ingest(&self, batch: &[SeriesPoints]) -> Result<usize> {
        let total: usize = batch.iter().map(|s| s.points.len()).sum();
        if total > self.cfg.max_batch_points {
            return Err(TsdbError::BatchTooLarge {
                points: total,
                limit: self.cfg.max_batch_points,
            });
        }
        let mut head = self.head.lock();
        if head.pending.len() >= self.cfg.max_pending_blocks {
            self.backpressure.fetch_add(1, Ordering::Relaxed);
            return Err(TsdbError::Backpressure {
                pending: head.pending.len(),
                limit: self.cfg.max_pending_blocks,
            });
        }
        let mut last: HashMap<SeriesId, Option<i64>> = HashMap::new();
        let mut points = Vec::with_capacity(total);
        let mut new_series = Vec::new();
        for sp in batch {
            let id = sp.key.id();
            let known = match head.series.get(&id) {
                Some(s) if s.key != sp.key => {
                    return Err(TsdbError::SeriesIdCollision {
                        existing: s.key.canonical(),
                        new: sp.key.canonical(),
                        id: id.0,
                    });
                }
                Some(s) => s.last_ts,
                None => {
                    new_series.push(sp.key.clone());
                    None
                }
            };
            let l = last.entry(id).or_insert(known);
            for p in &sp.points {
                Head::check_order(&sp.key, *l, p.timestamp_ms)?;
                *l = Some(p.timestamp_ms);
                points.push((id, p.timestamp_ms, p.value));
            }
        }
        if points.is_empty() {
            return Ok(0);
        }
        let mut wal = self.wal.lock();
        let keys: HashMap<SeriesId, &SeriesKey> =
            batch.iter().map(|s| (s.key.id(), &s.key)).collect();
        wal.append(points.clone(), |id| keys.get(&id).copied())?;
        // Durable from here on: apply, whatever happens next.
        for k in &new_series {
            head.register(k)?;
        }
        for (id, ts, v) in points {
            head.push(id, ts, v);
        }
        if let Err(e) = wal.maybe_rotate(now_ms(), self.cfg.block_ms) {
            tracing::warn!(error = %e, "cannot start a new WAL segment; the current one grows");
        }
        self.ingested.fetch_add(total as u64, Ordering::Relaxed);
        Ok(total)
    }

    /// Seals chunks whose window ended more than the grace period before
    /// `now_ms`, and rotates an old WAL segment so it can be deleted once
    /// acknowledged; returns how many chunks were sealed.
    pub fn seal_idle(&self, now_ms: i64) -> Result<usize> {
        let mut head = self.head.lock();
        let n = head.seal_until(Some(now_ms - self.cfg.seal_grace_ms));
        self.wal.lock().maybe_rotate(now_ms, self.cfg.block_ms)?;
        Ok(n)
    }

    /// Seals every open chunk (at shutdown, or to flush).
    pub fn seal_all(&self) -> usize {
        self.head.lock().seal_until(None)
    }

    /// Counters.
    pub fn stats(&self) -> TsdbStats {
        let head = self.head.lock();
        let wal = self.wal.lock().counters().clone();
        TsdbStats {
            series: head.series.len(),
            head_points: head
                .series
                .values()
                .filter_map(|s| s.chunk.as_ref())
                .map(|c| u64::from(c.enc.count()))
                .sum(),
            pending_blocks: head.pending.len(),
            wal_segments: self.wal.lock().segments(),
            uploaded_blocks: self.uploaded.load(Ordering::Relaxed),
            fetched_blocks: self.fetched.load(Ordering::Relaxed),
            points_ingested: self.ingested.load(Ordering::Relaxed),
            ingest_refused_backpressure: self.backpressure.load(Ordering::Relaxed),
            upload_failures: self.upload_failures.load(Ordering::Relaxed),
            wal_bytes_written: wal.bytes_written,
            wal_fsyncs: wal.fsyncs,
        }
    }

    /// Why the WAL does not take writes now (its last append failed, or it
    /// refuses writes since a failure it could not undo); None when it does.
    pub fn wal_error(&self) -> Option<String> {
        self.wal.lock().counters().write_error.clone()
    }

    /// The known series of `metric` (all with `None`).
    pub fn local_series(&self, metric: Option<&str>) -> Vec<SeriesKey> {
        let head = self.head.lock();
        let mut out: Vec<SeriesKey> = head
            .series
            .values()
            .filter(|s| metric.is_none_or(|m| s.key.metric() == m))
            .map(|s| s.key.clone())
            .collect();
        out.sort();
        out
    }

    /// Uploads up to one round of sealed blocks in order, then acknowledges
    /// them; returns how many were acknowledged. On a cluster error the
    /// blocks stay queued and the error is returned (after acknowledging
    /// nothing of this round).
    pub async fn upload_pending(&self) -> Result<usize> {
        let uploaded = self.upload_round().await;
        if uploaded.is_err() {
            self.upload_failures.fetch_add(1, Ordering::Relaxed);
        }
        uploaded
    }

    async fn upload_round(&self) -> Result<usize> {
        let _one_at_a_time = self.upload.lock().await;
        let (round, uncatalogued): (Vec<Sealed>, Vec<SeriesKey>) = {
            let head = self.head.lock();
            let round: Vec<Sealed> = head
                .pending
                .iter()
                .take(self.cfg.upload_batch_blocks)
                .cloned()
                .collect();
            let mut unc: Vec<SeriesKey> = round
                .iter()
                .filter(|b| head.series.get(&b.key.id()).is_some_and(|s| !s.catalogued))
                .map(|b| b.key.clone())
                .collect();
            unc.sort();
            unc.dedup();
            (round, unc)
        };
        if round.is_empty() {
            return Ok(0);
        }
        for b in &round {
            let key = keys::block(b.key.id(), b.meta.first_ts);
            self.remote
                .put_immutable(&key, b.bytes.as_ref().clone())
                .await?;
        }
        let mut by_series: HashMap<SeriesId, (SeriesKey, Vec<_>)> = HashMap::new();
        for b in &round {
            by_series
                .entry(b.key.id())
                .or_insert_with(|| (b.key.clone(), Vec::new()))
                .1
                .push(b.meta);
        }
        for (key, metas) in by_series.values() {
            index::add_blocks(self.remote.as_ref(), key, metas).await?;
        }
        if !uncatalogued.is_empty() {
            index::add_to_catalog(self.remote.as_ref(), &uncatalogued).await?;
        }
        self.acknowledge(&round, &uncatalogued)?;
        Ok(round.len())
    }

    fn acknowledge(&self, round: &[Sealed], catalogued: &[SeriesKey]) -> Result<()> {
        let (records, acked) = {
            let mut head = self.head.lock();
            for b in round {
                head.pending.pop_front();
                if let Some(s) = head.series.get_mut(&b.key.id()) {
                    s.acked_last_ts = Some(
                        s.acked_last_ts
                            .map_or(b.meta.last_ts, |a| a.max(b.meta.last_ts)),
                    );
                }
            }
            for k in catalogued {
                if let Some(s) = head.series.get_mut(&k.id()) {
                    s.catalogued = true;
                }
            }
            let mut records: Vec<state::SeriesRecord> = head
                .series
                .values()
                .map(|s| state::SeriesRecord {
                    key: s.key.clone(),
                    acked_last_ts: s.acked_last_ts,
                    catalogued: s.catalogued,
                })
                .collect();
            records.sort_by(|a, b| a.key.cmp(&b.key));
            let acked: HashMap<SeriesId, i64> = head
                .series
                .iter()
                .filter_map(|(id, s)| s.acked_last_ts.map(|a| (*id, a)))
                .collect();
            (records, acked)
        };
        self.uploaded
            .fetch_add(round.len() as u64, Ordering::Relaxed);
        state::save(&self.state_path, &records)?;
        let removed = self.wal.lock().remove_acked(|id| acked.get(&id).copied())?;
        tracing::debug!(
            blocks = round.len(),
            wal_segments_removed = removed,
            "blocks acknowledged by the cluster"
        );
        Ok(())
    }

    /// Seals everything and uploads until the queue is empty or the cluster
    /// fails (used at shutdown).
    pub async fn flush(&self) -> Result<()> {
        self.seal_all();
        while self.upload_pending().await? > 0 {}
        Ok(())
    }
}
