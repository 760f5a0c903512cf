//! Top-k series by a score over a time range, after the whitepaper's DHTop
//! (section 2.8, from Akbarinia et al.'s APPA): plan with summaries, fetch
//! best-first, stop at the threshold.
//!
//! Phase 1 (no block is read): the candidate series are the metric's
//! series matching the label filters, from the local head and the cluster
//! catalog. For each, the index's per-block summaries give an *upper bound*
//! of its score over `[t0, t1)`: the largest block maximum among its blocks
//! that overlap the range (a bound for both `max` and `avg`, since a mean
//! never exceeds the maximum). The value domain of these bounds is
//! range-partitioned into sub-domains of equal population (an equi-depth
//! histogram), listed in descending order.
//!
//! Phase 2: sub-domains are scanned best-first and, inside one, series by
//! descending bound. A series' exact score needs only the blocks its
//! summaries cannot answer: a block wholly inside the range contributes its
//! summary (max, sum, count) without being read; a block straddling a range
//! edge is read. The scan ends as soon as k exact scores are known and the
//! k-th best is strictly greater than the bound of the next series (and so
//! of every later one and every remaining sub-domain): nothing unread can
//! enter the top k. Ties rank by canonical series name.

use std::cmp::Ordering;

use super::error::{Result, TsdbError};
use super::index;
use super::query::Candidate;
use super::series::SeriesKey;
use super::store::Tsdb;

/// The scoring function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    /// Largest value in the range.
    Max,
    /// Mean value in the range.
    Avg,
}

/// A top-k query.
#[derive(Clone, Debug, PartialEq)]
pub struct TopKQuery {
    /// Metric name.
    pub metric: String,
    /// Label equality filters.
    pub matchers: Vec<(String, String)>,
    /// Range start (inclusive), ms.
    pub t0: i64,
    /// Range end (exclusive), ms.
    pub t1: i64,
    /// How many series.
    pub k: usize,
    /// Scoring function.
    pub score: Score,
    /// Sub-domains of the value domain (0: one per series).
    pub sub_domains: usize,
}

/// The answer and what it cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopKResult {
    /// Series and scores, best first.
    pub top: Vec<(SeriesKey, f64)>,
    /// Series considered.
    pub candidates: usize,
    /// Series whose exact score was computed.
    pub scored: usize,
    /// Blocks read (local or from the cluster).
    pub blocks_read: u64,
    /// Blocks overlapping the range, over all candidate series.
    pub blocks_total: u64,
    /// Sub-domains scanned, of the total.
    pub sub_domains_scanned: usize,
    /// Sub-domains in all.
    pub sub_domains_total: usize,
}

struct SeriesPlan {
    key: SeriesKey,
    bound: f64,
    blocks: Vec<Candidate>,
}

#[derive(Default)]
struct Acc {
    max: Option<f64>,
    sum: f64,
    n: u64,
}

impl Acc {
    fn add(&mut self, v: f64) {
        if !v.is_nan() {
            self.max = Some(self.max.map_or(v, |m| m.max(v)));
            self.sum += v;
            self.n += 1;
        }
    }

    fn score(&self, s: Score) -> Option<f64> {
        match s {
            Score::Max => self.max,
            Score::Avg => (self.n > 0).then(|| self.sum / self.n as f64),
        }
    }
}

fn rank(a: &(SeriesKey, f64), b: &(SeriesKey, f64)) -> Ordering {
    b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0))
}

impl Tsdb {
    async fn plan(&self, q: &TopKQuery) -> Result<Vec<SeriesPlan>> {
        if q.k == 0 {
            return Err(TsdbError::InvalidQuery("top-k needs k > 0".into()));
        }
        super::query::check_range(q.t0, q.t1)?;
        let mut keys = self.local_series(Some(&q.metric));
        keys.extend(
            index::load_catalog(self.remote.as_ref(), &q.metric)
                .await?
                .series
                .into_values(),
        );
        keys.sort();
        keys.dedup();
        let mut plans = Vec::new();
        for key in keys.into_iter().filter(|k| k.matches(&q.matchers)) {
            let blocks = self.candidates(&key, q.t0, q.t1).await?;
            let bound = blocks
                .iter()
                .filter(|c| c.meta.value_count() > 0)
                .map(|c| c.meta.max)
                .fold(f64::NEG_INFINITY, f64::max);
            if !blocks.is_empty() {
                plans.push(SeriesPlan { key, bound, blocks });
            }
        }
        Ok(plans)
    }

    /// The exact score of a planned series; reads only the blocks whose
    /// summary cannot answer.
    async fn exact(
        &self,
        p: &SeriesPlan,
        q: &TopKQuery,
        read_all: bool,
        reads: &mut u64,
    ) -> Result<Option<f64>> {
        let mut acc = Acc::default();
        for c in &p.blocks {
            if !read_all && c.meta.inside(q.t0, q.t1) {
                if c.meta.value_count() > 0 {
                    acc.max = Some(acc.max.map_or(c.meta.max, |m| m.max(c.meta.max)));
                    acc.sum += c.meta.sum;
                    acc.n += u64::from(c.meta.value_count());
                }
                continue;
            }
            *reads += 1;
            for pt in self.read(c).await? {
                if pt.timestamp_ms >= q.t0 && pt.timestamp_ms < q.t1 {
                    acc.add(pt.value);
                }
            }
        }
        Ok(acc.score(q.score))
    }

    /// Top-k series of `q.metric` by `q.score` over `[q.t0, q.t1)` (DHTop).
    pub async fn top_k(&self, q: &TopKQuery) -> Result<TopKResult> {
        let mut plans = self.plan(q).await?;
        plans.sort_by(|a, b| b.bound.total_cmp(&a.bound).then_with(|| a.key.cmp(&b.key)));
        let mut res = TopKResult {
            candidates: plans.len(),
            blocks_total: plans.iter().map(|p| p.blocks.len() as u64).sum(),
            ..TopKResult::default()
        };
        // Phase 1: equi-depth sub-domains over the descending bounds.
        let n_sub = if q.sub_domains == 0 {
            plans.len()
        } else {
            q.sub_domains.min(plans.len())
        }
        .max(1);
        let per = plans.len().div_ceil(n_sub).max(1);
        let subs: Vec<&[SeriesPlan]> = plans.chunks(per).collect();
        res.sub_domains_total = subs.len();
        // Phase 2: best-first scan with the threshold test.
        'scan: for sub in subs {
            res.sub_domains_scanned += 1;
            for p in sub {
                if res.top.len() == q.k && res.top.last().is_some_and(|kth| kth.1 > p.bound) {
                    break 'scan;
                }
                res.scored += 1;
                if let Some(s) = self.exact(p, q, false, &mut res.blocks_read).await? {
                    res.top.push((p.key.clone(), s));
                    res.top.sort_by(rank);
                    res.top.truncate(q.k);
                }
            }
        }
        Ok(res)
    }

    /// The same answer by reading every block of every candidate series:
    /// the reference [`Tsdb::top_k`] is checked against.
    pub async fn top_k_brute_force(&self, q: &TopKQuery) -> Result<TopKResult> {
        let plans = self.plan(q).await?;
        let mut res = TopKResult {
            candidates: plans.len(),
            blocks_total: plans.iter().map(|p| p.blocks.len() as u64).sum(),
            ..TopKResult::default()
        };
        for p in &plans {
            res.scored += 1;
            if let Some(s) = self.exact(p, q, true, &mut res.blocks_read).await? {
                res.top.push((p.key.clone(), s));
            }
        }
        res.top.sort_by(rank);
        res.top.truncate(q.k);
        Ok(res)
    }
}
