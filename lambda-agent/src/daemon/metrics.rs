//! The agent's `/metrics` (names without the `lambda_agent_` prefix):
//!
//! - per gRPC method (`ingest`, `query_range`, `aggregate`, `top_k`,
//!   `status`): `requests_total{method,outcome}` (outcome `ok` or the gRPC
//!   code in snake case) and `request_duration_seconds{method}`, counted by
//!   the service where it answers ([`ServiceMetrics`]);
//! - sampled from the store at scrape time ([`StoreCollector`]): points
//!   ingested (every path: gRPC, remote write, host metrics), ingest batches
//!   refused for backpressure, WAL bytes written, fsyncs and segments,
//!   points in memory, series, the upload queue (sealed blocks waiting) and
//!   its bound, blocks uploaded, failed upload rounds, blocks fetched;
//! - from the cluster probe: `cluster_reachable` (1 when the last probe
//!   succeeded) and `cluster_last_reached_timestamp_seconds`.

use std::fmt::Error as FmtError;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use lambda_common::admin_http::grpc_code_label;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tonic::Status;

use super::health::ClusterProbe;
use crate::tsdb::Tsdb;

/// The agent API's methods, as the `method` label names them.
pub const METHODS: [&str; 5] = ["ingest", "query_range", "aggregate", "top_k", "status"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    method: &'static str,
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Request counters and latency histograms of the agent's gRPC API (cheap
/// to clone: the handles are shared).
#[derive(Clone, Debug)]
pub struct ServiceMetrics {
    requests: Family<OutcomeLabels, Counter>,
    latency: Family<MethodLabels, Histogram, fn() -> Histogram>,
}

impl Default for ServiceMetrics {
    fn default() -> Self {
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        for method in METHODS {
            let _ = latency.get_or_create(&MethodLabels { method });
        }
        Self {
            requests: Family::default(),
            latency,
        }
    }
}

impl ServiceMetrics {
    /// Registers the handles in `registry` (which carries the prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "requests",
            "Agent API requests answered, by method and outcome (ok or gRPC code)",
            self.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer an agent API request, by method",
            self.latency.clone(),
        );
    }

    /// Runs one request's handling, counting and timing its answer.
    pub async fn timed<T>(
        &self,
        method: &'static str,
        handle: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        let started = Instant::now();
        let answer = handle.await;
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(s) => grpc_code_label(s.code() as i32),
        };
        self.requests
            .get_or_create(&OutcomeLabels { method, outcome })
            .inc();
        self.latency
            .get_or_create(&MethodLabels { method })
            .observe(started.elapsed().as_secs_f64());
        answer
    }

    /// Requests of `method` answered with `outcome` since start.
    pub fn count(&self, method: &'static str, outcome: &'static str) -> u64 {
        self.requests
            .get(&OutcomeLabels { method, outcome })
            .map_or(0, |c| c.get())
    }
}

type Out = Result<(), FmtError>;

fn gauge(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> Out {
    let m = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
}

fn counter(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> Out {
    let m = ConstCounter::new(v);
    m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
}

/// The store's and the cluster probe's figures, read at every scrape.
#[derive(Debug)]
pub struct StoreCollector {
    tsdb: Arc<Tsdb>,
    probe: Arc<ClusterProbe>,
}

impl StoreCollector {
    /// A collector over the store and the probe.
    pub fn new(tsdb: Arc<Tsdb>, probe: Arc<ClusterProbe>) -> Self {
        Self { tsdb, probe }
    }
}

impl Collector for StoreCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Out {
        let s = self.tsdb.stats();
        let e = &mut enc;
        counter(
            e,
            "points_ingested",
            "Points stored (acknowledged)",
            s.points_ingested,
        )?;
        counter(
            e,
            "ingest_refused_backpressure",
            "Ingest batches refused because the upload queue was full",
            s.ingest_refused_backpressure,
        )?;
        counter(
            e,
            "wal_written_bytes",
            "Bytes appended to the WAL",
            s.wal_bytes_written,
        )?;
        counter(
            e,
            "wal_fsyncs",
            "WAL fsyncs (records, segments, directory)",
            s.wal_fsyncs,
        )?;
        gauge(
            e,
            "wal_segments",
            "WAL segment files",
            s.wal_segments as u64,
        )?;
        gauge(
            e,
            "wal_writable",
            "1 while the WAL takes writes",
            u64::from(self.tsdb.wal_error().is_none()),
        )?;
        gauge(
            e,
            "head_points",
            "Points in open (in-memory) chunks",
            s.head_points,
        )?;
        gauge(e, "series", "Series known", s.series as u64)?;
        gauge(
            e,
            "upload_queue_blocks",
            "Sealed blocks waiting for the cluster",
            s.pending_blocks as u64,
        )?;
        gauge(
            e,
            "upload_queue_max_blocks",
            "Bound on the upload queue (tsdb.max_pending_blocks)",
            self.tsdb.config().max_pending_blocks as u64,
        )?;
        counter(
            e,
            "blocks_uploaded",
            "Sealed blocks acknowledged by the cluster",
            s.uploaded_blocks,
        )?;
        counter(
            e,
            "upload_failures",
            "Upload rounds that failed (blocks stay queued)",
            s.upload_failures,
        )?;
        counter(
            e,
            "blocks_fetched",
            "Blocks read from the cluster for queries",
            s.fetched_blocks,
        )?;
        let reach = self.probe.state();
        gauge(
            e,
            "cluster_reachable",
            "1 when the last cluster probe succeeded",
            u64::from(reach.last_ok),
        )?;
        gauge(
            e,
            "cluster_last_reached_timestamp_seconds",
            "When the cluster last answered (Unix time; 0: never)",
            reach.last_reached_ms / 1000,
        )
    }
}

/// The agent's registry: service metrics and the store collector under
/// the `lambda_agent` prefix.
pub fn registry(service: &ServiceMetrics, tsdb: Arc<Tsdb>, probe: Arc<ClusterProbe>) -> Registry {
    let mut registry = Registry::default();
    let sub = registry.sub_registry_with_prefix("lambda_agent");
    service.register(sub);
    sub.register_collector(Box::new(StoreCollector::new(tsdb, probe)));
    registry
}
