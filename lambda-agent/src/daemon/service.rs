//! The `lambda.agent.v1.Agent` gRPC service over a [`Tsdb`].
//!
//! Ingest runs on the blocking pool (it fsyncs the WAL). Errors map to gRPC
//! codes: bad series, timestamps or queries → INVALID_ARGUMENT; full upload
//! queue → RESOURCE_EXHAUSTED; cluster failures during a query →
//! UNAVAILABLE; corrupt stored data → DATA_LOSS; local disk failures →
//! INTERNAL. Every answer is counted and timed in [`ServiceMetrics`].

use std::sync::Arc;

use lambda_proto::agent::v1 as pb;
use tonic::{Request, Response, Status};

use super::metrics::ServiceMetrics;
use crate::tsdb::{Point, Score, SeriesKey, SeriesPoints, TopKQuery, Tsdb, TsdbError};

/// The service.
#[derive(Clone, Debug)]
pub struct AgentService {
    tsdb: Arc<Tsdb>,
    metrics: ServiceMetrics,
}

impl AgentService {
    /// Serves `tsdb`.
    pub fn new(tsdb: Arc<Tsdb>) -> Self {
        Self {
            tsdb,
            metrics: ServiceMetrics::default(),
        }
    }

    /// The request counters and latency histograms (for the admin port).
    pub fn metrics(&self) -> ServiceMetrics {
        self.metrics.clone()
    }
}

/// The gRPC status of a store error.
pub fn status(e: &TsdbError) -> Status {
    let msg = e.to_string();
    match e {
        TsdbError::InvalidSeries(_)
        | TsdbError::OutOfOrder { .. }
        | TsdbError::DuplicateTimestamp { .. }
        | TsdbError::TimestampOutOfRange { .. }
        | TsdbError::BatchTooLarge { .. }
        | TsdbError::InvalidQuery(_)
        | TsdbError::SeriesIdCollision { .. } => Status::invalid_argument(msg),
        TsdbError::Backpressure { .. } => Status::resource_exhausted(msg),
        TsdbError::Remote(_) => Status::unavailable(msg),
        TsdbError::Decode(_) => Status::data_loss(msg),
        TsdbError::Io { .. } | TsdbError::WalCorrupt { .. } | TsdbError::InvalidConfig(_) => {
            Status::internal(msg)
        }
    }
}

fn series_key(s: Option<pb::Series>) -> Result<SeriesKey, Status> {
    let s = s.ok_or_else(|| Status::invalid_argument("series is missing"))?;
    SeriesKey::new(s.metric, s.labels.into_iter().map(|l| (l.name, l.value)))
        .map_err(|e| status(&e))
}

/// The protobuf form of a series.
pub fn series_pb(k: &SeriesKey) -> pb::Series {
    pb::Series {
        metric: k.metric().to_string(),
        labels: k
            .labels()
            .iter()
            .map(|(n, v)| pb::Label {
                name: n.clone(),
                value: v.clone(),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl pb::agent_server::Agent for AgentService {
    async fn ingest(
        &self,
        req: Request<pb::IngestRequest>,
    ) -> Result<Response<pb::IngestResponse>, Status> {
        self.metrics
            .timed("ingest", async {
                let mut batch = Vec::new();
                for ts in req.into_inner().series {
                    let key = series_key(ts.series)?;
                    let mut points = Vec::with_capacity(ts.samples.len());
                    for s in &ts.samples {
                        let v = s.value.ok_or_else(|| {
                            Status::invalid_argument(format!(
                                "sample at {} ms of {key} has no value",
                                s.timestamp_ms
                            ))
                        })?;
                        points.push(Point::new(s.timestamp_ms, v));
                    }
                    batch.push(SeriesPoints { key, points });
                }
                let tsdb = self.tsdb.clone();
                let accepted = tokio::task::spawn_blocking(move || tsdb.ingest(&batch))
                    .await
                    .map_err(|e| Status::internal(format!("ingest task failed: {e}")))?
                    .map_err(|e| status(&e))?;
                Ok(Response::new(pb::IngestResponse {
                    accepted: accepted as u64,
                }))
            })
            .await
    }

    async fn query_range(
        &self,
        req: Request<pb::QueryRangeRequest>,
    ) -> Result<Response<pb::QueryRangeResponse>, Status> {
        self.metrics
            .timed("query_range", async {
                let r = req.into_inner();
                let key = series_key(r.series)?;
                let points = self
                    .tsdb
                    .range(&key, r.start_ms, r.end_ms)
                    .await
                    .map_err(|e| status(&e))?;
                Ok(Response::new(pb::QueryRangeResponse {
                    samples: points
                        .into_iter()
                        .map(|p| pb::Sample {
                            timestamp_ms: p.timestamp_ms,
                            value: Some(p.value),
                        })
                        .collect(),
                }))
            })
            .await
    }

    async fn aggregate(
        &self,
        req: Request<pb::AggregateRequest>,
    ) -> Result<Response<pb::AggregateResponse>, Status> {
        self.metrics
            .timed("aggregate", async {
                let r = req.into_inner();
                let key = series_key(r.series)?;
                let steps = self
                    .tsdb
                    .aggregate(&key, r.start_ms, r.end_ms, r.step_ms)
                    .await
                    .map_err(|e| status(&e))?;
                Ok(Response::new(pb::AggregateResponse {
                    steps: steps
                        .into_iter()
                        .map(|s| pb::StepAggregate {
                            start_ms: s.start_ms,
                            count: s.count,
                            min: s.min,
                            max: s.max,
                            avg: s.avg,
                        })
                        .collect(),
                }))
            })
            .await
    }

    async fn top_k(
        &self,
        req: Request<pb::TopKRequest>,
    ) -> Result<Response<pb::TopKResponse>, Status> {
        self.metrics
            .timed("top_k", async {
                let r = req.into_inner();
                let score = match pb::ScoreFunction::try_from(r.score) {
                    Ok(pb::ScoreFunction::Max) => Score::Max,
                    Ok(pb::ScoreFunction::Avg) => Score::Avg,
                    _ => {
                        return Err(Status::invalid_argument(format!(
                            "score {} is not MAX or AVG",
                            r.score
                        )));
                    }
                };
                let q = TopKQuery {
                    metric: r.metric,
                    matchers: r.matchers.into_iter().map(|l| (l.name, l.value)).collect(),
                    t0: r.start_ms,
                    t1: r.end_ms,
                    k: r.k as usize,
                    score,
                    sub_domains: if r.sub_domains == 0 {
                        16
                    } else {
                        r.sub_domains as usize
                    },
                };
                let res = self.tsdb.top_k(&q).await.map_err(|e| status(&e))?;
                Ok(Response::new(pb::TopKResponse {
                    top: res
                        .top
                        .iter()
                        .map(|(k, s)| pb::ScoredSeries {
                            series: Some(series_pb(k)),
                            score: *s,
                        })
                        .collect(),
                    candidates: res.candidates as u32,
                    scored: res.scored as u32,
                    blocks_read: res.blocks_read,
                    blocks_total: res.blocks_total,
                }))
            })
            .await
    }

    async fn status(
        &self,
        _req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        self.metrics
            .timed("status", async {
                let s = self.tsdb.stats();
                Ok(Response::new(pb::StatusResponse {
                    series: self.tsdb.local_series(None).iter().map(series_pb).collect(),
                    head_points: s.head_points,
                    pending_blocks: s.pending_blocks as u64,
                    wal_segments: s.wal_segments as u64,
                    uploaded_blocks: s.uploaded_blocks,
                }))
            })
            .await
    }
}
