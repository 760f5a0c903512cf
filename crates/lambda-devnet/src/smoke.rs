//! The smoke workload run once the devnet is up: key-value writes and
//! reads through the SDK against every storage node, and time-series
//! points through the agent, each read back and compared.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_agent::sdk::{Client, ClientConfig};
use lambda_proto::agent::v1 as apb;
use lambda_proto::agent::v1::agent_client::AgentClient;

use crate::error::DevnetError;

/// Keys written and read by the smoke workload.
pub const SMOKE_KEYS: usize = 20;
/// Points ingested into the smoke series.
pub const SMOKE_POINTS: usize = 60;

/// What the smoke workload did.
#[derive(Clone, Debug)]
pub struct SmokeReport {
    /// Keys written (each acknowledged by a write quorum).
    pub puts: usize,
    /// Keys read back with the value written.
    pub gets: usize,
    /// Time of the puts and gets.
    pub kv_elapsed: Duration,
    /// Points the agent accepted.
    pub points_ingested: u64,
    /// Points the agent returned for the series.
    pub points_read: usize,
    /// The series' metric name.
    pub metric: String,
}

impl std::fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} puts and {} gets through the SDK in {} ms; {} points ingested through the agent, {} read back ({})",
            self.puts,
            self.gets,
            self.kv_elapsed.as_millis(),
            self.points_ingested,
            self.points_read,
            self.metric
        )
    }
}

fn smoke(m: impl Into<String>) -> DevnetError {
    DevnetError::Smoke(m.into())
}

/// Runs the workload: `SMOKE_KEYS` puts and gets over `nodes`, and
/// `SMOKE_POINTS` points into one series through the agent at `agent`.
pub async fn run(
    nodes: &[String],
    agent: &str,
    client_key: &std::path::Path,
) -> Result<SmokeReport, DevnetError> {
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut cfg = ClientConfig::new(nodes.iter().cloned());
    cfg.wallet = Some(
        lambda_agent::sdk::Wallet::load(client_key)
            .map_err(|e| smoke(format!("client key: {e}")))?,
    );
    let client = Client::connect(cfg)
        .await
        .map_err(|e| smoke(format!("connecting the SDK: {e}")))?;
    let start = Instant::now();
    for i in 0..SMOKE_KEYS {
        let key = format!("smoke/{run_id}/{i}");
        client
            .put(key.as_bytes(), format!("value {i}").into_bytes(), None)
            .await
            .map_err(|e| smoke(format!("put {key}: {e}")))?;
    }
    let mut gets = 0;
    for i in 0..SMOKE_KEYS {
        let key = format!("smoke/{run_id}/{i}");
        let r = client
            .get(key.as_bytes())
            .await
            .map_err(|e| smoke(format!("get {key}: {e}")))?;
        let want = format!("value {i}").into_bytes();
        if !r.siblings.iter().any(|s| s.value == want) {
            return Err(smoke(format!("get {key}: the value written is missing")));
        }
        gets += 1;
    }
    let kv_elapsed = start.elapsed();
    let (points_ingested, points_read, metric) = timeseries(agent, run_id).await?;
    Ok(SmokeReport {
        puts: SMOKE_KEYS,
        gets,
        kv_elapsed,
        points_ingested,
        points_read,
        metric,
    })
}

async fn timeseries(agent: &str, run_id: u128) -> Result<(u64, usize, String), DevnetError> {
    let mut c = AgentClient::connect(agent.to_string())
        .await
        .map_err(|e| smoke(format!("connecting the agent at {agent}: {e}")))?;
    let metric = "devnet_smoke".to_string();
    let series = apb::Series {
        metric: metric.clone(),
        labels: vec![apb::Label {
            name: "run".into(),
            value: run_id.to_string(),
        }],
    };
    let now = i64::try_from(run_id).unwrap_or(i64::MAX);
    let first = now - 1000 * SMOKE_POINTS as i64;
    let samples: Vec<_> = (0..SMOKE_POINTS as i64)
        .map(|i| apb::Sample {
            timestamp_ms: first + 1000 * i,
            value: Some(i as f64),
        })
        .collect();
    let accepted = c
        .ingest(apb::IngestRequest {
            series: vec![apb::TimeSeries {
                series: Some(series.clone()),
                samples,
            }],
        })
        .await
        .map_err(|s| smoke(format!("agent ingest: {s}")))?
        .into_inner()
        .accepted;
    let read = c
        .query_range(apb::QueryRangeRequest {
            series: Some(series),
            start_ms: first,
            end_ms: now,
        })
        .await
        .map_err(|s| smoke(format!("agent query: {s}")))?
        .into_inner()
        .samples;
    if read.len() != SMOKE_POINTS {
        return Err(smoke(format!(
            "agent returned {} of the {SMOKE_POINTS} points ingested",
            read.len()
        )));
    }
    Ok((
        accepted,
        read.len(),
        format!("{metric}{{run=\"{run_id}\"}}"),
    ))
}
