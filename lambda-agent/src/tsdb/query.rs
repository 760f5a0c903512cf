//! Range queries: the points of a series in `[t0, t1)`, merged from the
//! open chunk, sealed blocks waiting for upload, and blocks in the cluster
//! (found through the index shards), plus aggregates per step.
//!
//! Aggregates leave NaN values out of min, max and avg (count counts every
//! point); ±infinity takes part like any value.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::block::{self, BlockMeta};
use super::error::{Result, TsdbError};
use super::series::SeriesKey;
use super::store::Tsdb;
use super::{Point, index, keys};

/// Where a block's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// In memory (open chunk or upload queue).
    Local(Arc<Vec<u8>>),
    /// In the cluster, under this key.
    Remote(String),
}

/// A block that may hold points of a query.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub(crate) meta: BlockMeta,
    pub(crate) source: Source,
}

/// Aggregates of one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepAggregate {
    /// Start of the step (inclusive).
    pub start_ms: i64,
    /// Points in the step.
    pub count: u64,
    /// Smallest non-NaN value.
    pub min: Option<f64>,
    /// Largest non-NaN value.
    pub max: Option<f64>,
    /// Mean of the non-NaN values.
    pub avg: Option<f64>,
}

/// Longest range a query may cover: 366 days.
pub const MAX_QUERY_SPAN_MS: i64 = 366 * keys::DAY_MS;

/// Checks a query range: non-empty and at most [`MAX_QUERY_SPAN_MS`].
pub fn check_range(t0: i64, t1: i64) -> Result<()> {
    if t1 <= t0 {
        return Err(TsdbError::InvalidQuery(format!(
            "empty range: end {t1} ms is not after start {t0} ms"
        )));
    }
    if t1.saturating_sub(t0) > MAX_QUERY_SPAN_MS {
        return Err(TsdbError::InvalidQuery(format!(
            "range {t0}..{t1} ms is longer than {MAX_QUERY_SPAN_MS} ms (366 days)"
        )));
    }
    Ok(())
}

impl Tsdb {
    /// The blocks of `key` that may overlap `[t0, t1)`: local ones first,
    /// then the cluster's (those not also held locally).
    pub(crate) async fn candidates(
        &self,
        key: &SeriesKey,
        t0: i64,
        t1: i64,
    ) -> Result<Vec<Candidate>> {
        let id = key.id();
        let mut out = Vec::new();
        {
            let head = self.head.lock();
            for b in head.pending.iter().filter(|b| b.key.id() == id) {
                if b.meta.overlaps(t0, t1) {
                    out.push(Candidate {
                        meta: b.meta,
                        source: Source::Local(b.bytes.clone()),
                    });
                }
            }
            if let Some(c) = head.series.get(&id).and_then(|s| s.chunk.as_ref())
                && c.enc.count() > 0
                && c.meta.overlaps(t0, t1)
            {
                out.push(Candidate {
                    meta: c.meta,
                    source: Source::Local(Arc::new(block::encode(&c.enc))),
                });
            }
        }
        for m in index::load_blocks(self.remote.as_ref(), id, t0, t1).await? {
            if !out.iter().any(|c| c.meta.first_ts == m.first_ts) {
                out.push(Candidate {
                    meta: m,
                    source: Source::Remote(keys::block(id, m.first_ts)),
                });
            }
        }
        Ok(out)
    }

    /// Reads a candidate's points.
    pub(crate) async fn read(&self, c: &Candidate) -> Result<Vec<Point>> {
        match &c.source {
            Source::Local(bytes) => Ok(block::decode(bytes)?),
            Source::Remote(key) => {
                self.fetched.fetch_add(1, Ordering::Relaxed);
                let v = self.remote.get(key).await?;
                let bytes = v.values.first().ok_or_else(|| {
                    TsdbError::Remote(format!(
                        "block {key} is in the index but not in the cluster"
                    ))
                })?;
                Ok(block::decode(bytes)?)
            }
        }
    }

    /// The points of `key` in `[t0, t1)`, in time order.
    pub async fn range(&self, key: &SeriesKey, t0: i64, t1: i64) -> Result<Vec<Point>> {
        check_range(t0, t1)?;
        let mut points = Vec::new();
        for c in self.candidates(key, t0, t1).await? {
            points.extend(
                self.read(&c)
                    .await?
                    .into_iter()
                    .filter(|p| p.timestamp_ms >= t0 && p.timestamp_ms < t1),
            );
        }
        points.sort_by_key(|p| p.timestamp_ms);
        points.dedup_by_key(|p| p.timestamp_ms);
        Ok(points)
    }

    /// Aggregates of `key` over `[t0, t1)` in steps of `step_ms` (the last
    /// step may be shorter); steps without points are left out.
    pub async fn aggregate(
        &self,
        key: &SeriesKey,
        t0: i64,
        t1: i64,
        step_ms: i64,
    ) -> Result<Vec<StepAggregate>> {
        check_range(t0, t1)?;
        if step_ms <= 0 {
            return Err(TsdbError::InvalidQuery(format!(
                "step {step_ms} ms must be positive"
            )));
        }
        if (t1 - t0) / step_ms > 1_000_000 {
            return Err(TsdbError::InvalidQuery(format!(
                "{} steps of {step_ms} ms exceed the limit of 1000000",
                (t1 - t0) / step_ms
            )));
        }
        Ok(aggregate_points(
            &self.range(key, t0, t1).await?,
            t0,
            step_ms,
        ))
    }
}

/// Aggregates ordered points per step starting at `t0`.
pub fn aggregate_points(points: &[Point], t0: i64, step_ms: i64) -> Vec<StepAggregate> {
    let mut out: Vec<StepAggregate> = Vec::new();
    let mut sum = 0.0;
    let mut n = 0u64;
    for p in points {
        let start = t0 + (p.timestamp_ms - t0).div_euclid(step_ms) * step_ms;
        if out.last().is_none_or(|s| s.start_ms != start) {
            finish(out.last_mut(), sum, n);
            sum = 0.0;
            n = 0;
            out.push(StepAggregate {
                start_ms: start,
                count: 0,
                min: None,
                max: None,
                avg: None,
            });
        }
        if let Some(s) = out.last_mut() {
            s.count += 1;
            if !p.value.is_nan() {
                s.min = Some(s.min.map_or(p.value, |m| m.min(p.value)));
                s.max = Some(s.max.map_or(p.value, |m| m.max(p.value)));
                sum += p.value;
                n += 1;
            }
        }
    }
    finish(out.last_mut(), sum, n);
    out
}

fn finish(s: Option<&mut StepAggregate>, sum: f64, n: u64) {
    if let Some(s) = s {
        s.avg = (n > 0).then(|| sum / n as f64);
    }
}
