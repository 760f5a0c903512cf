//! The agent's `/health` and the cluster probe behind it.
//!
//! The agent is ready when both hold (the first that fails is the reason of
//! the 503):
//!
//! 1. **WAL writable**: the last WAL append succeeded (or none was made)
//!    and the log has not stopped taking writes after a failure it could
//!    not undo — otherwise ingest cannot acknowledge anything;
//! 2. **cluster reachable**: a storage node answered the probe within the
//!    last `admin.cluster_stale_after_ms`. The probe ([`ClusterProbe`])
//!    runs every `admin.probe_interval_ms`: a `grpc.health.v1` check of the
//!    KV service on each configured endpoint in turn until one answers
//!    SERVING (unbilled, so it works in chain mode without spending funds).
//!
//! Without the cluster the agent still ingests (into its WAL, until the
//! upload queue fills), but queries fail and nothing is uploaded, so it is
//! reported not ready.

use std::sync::Arc;
use std::time::Duration;

use lambda_common::admin_http::{HealthCheck, HealthReport};
use parking_lot::Mutex;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::tsdb::{Tsdb, now_ms};

/// The gRPC service the probe asks about.
const PROBED_SERVICE: &str = "lambda.kv.v1.Kv";

/// What the probe knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeState {
    /// The last probe succeeded.
    pub last_ok: bool,
    /// When a storage node last answered, ms since the Unix epoch (0:
    /// never).
    pub last_reached_ms: u64,
    /// Why the last probe failed.
    pub last_error: Option<String>,
}

/// Probes the cluster's endpoints and remembers when one last answered.
#[derive(Debug)]
pub struct ClusterProbe {
    endpoints: Vec<String>,
    timeout: Duration,
    state: Mutex<ProbeState>,
}

impl ClusterProbe {
    /// A probe of `endpoints`, each attempt bounded by `timeout`.
    pub fn new(endpoints: Vec<String>, timeout: Duration) -> Self {
        Self {
            endpoints,
            timeout,
            state: Mutex::new(ProbeState::default()),
        }
    }

    /// What the probe knows now.
    pub fn state(&self) -> ProbeState {
        self.state.lock().clone()
    }

    async fn check(&self, endpoint: &str) -> Result<(), String> {
        let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
            .map_err(|e| format!("{endpoint}: {e}"))?
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .connect()
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: PROBED_SERVICE.into(),
            })
            .await
            .map_err(|e| format!("{endpoint}: {}", e.message()))?
            .into_inner();
        match ServingStatus::try_from(answer.status) {
            Ok(ServingStatus::Serving) => Ok(()),
            other => Err(format!("{endpoint}: {PROBED_SERVICE} is {other:?}")),
        }
    }

    /// Probes the endpoints in order until one answers; records the
    /// outcome and returns it.
    pub async fn probe_once(&self) -> bool {
        let mut errors = Vec::new();
        for endpoint in &self.endpoints {
            match self.check(endpoint).await {
                Ok(()) => {
                    let mut s = self.state.lock();
                    s.last_ok = true;
                    s.last_reached_ms = u64::try_from(now_ms()).unwrap_or(0);
                    s.last_error = None;
                    return true;
                }
                Err(e) => errors.push(e),
            }
        }
        let mut s = self.state.lock();
        s.last_ok = false;
        s.last_error = Some(if errors.is_empty() {
            "no cluster endpoints configured".into()
        } else {
            errors.join("; ")
        });
        false
    }

    /// Probes every `interval` until `shutdown`.
    pub async fn run(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if !self.probe_once().await {
                tracing::debug!(error = ?self.state().last_error, "cluster probe failed");
            }
        }
    }
}

/// The health of the agent now.
pub fn report(tsdb: &Tsdb, probe: &ClusterProbe, stale_after: Duration) -> HealthReport {
    let stats = tsdb.stats();
    let p = probe.state();
    let now = u64::try_from(now_ms()).unwrap_or(0);
    let ago_ms = (p.last_reached_ms > 0).then(|| now.saturating_sub(p.last_reached_ms));
    let detail = json!({
        "upload_queue_blocks": stats.pending_blocks,
        "wal_segments": stats.wal_segments,
        "cluster_reached_ms_ago": ago_ms,
        "cluster_probe_error": p.last_error,
    });
    if let Some(e) = tsdb.wal_error() {
        return HealthReport::not_ready(format!("WAL does not take writes: {e}"), detail);
    }
    let why = p.last_error.as_deref().unwrap_or("probe not run yet");
    match ago_ms {
        None => HealthReport::not_ready(format!("cluster not reached yet: {why}"), detail),
        Some(ms) if u128::from(ms) > stale_after.as_millis() => HealthReport::not_ready(
            format!(
                "cluster last reached {} s ago (bound {} s): {why}",
                ms / 1000,
                stale_after.as_secs()
            ),
            detail,
        ),
        Some(_) => HealthReport::ready(detail),
    }
}

/// The `/health` check.
pub fn check(tsdb: Arc<Tsdb>, probe: Arc<ClusterProbe>, stale_after: Duration) -> HealthCheck {
    Arc::new(move || report(&tsdb, &probe, stale_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_probe_of_nothing_listening_fails_and_names_the_endpoint() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let probe = ClusterProbe::new(vec![url.clone()], Duration::from_millis(500));
        assert!(!probe.probe_once().await);
        let s = probe.state();
        assert!(!s.last_ok);
        assert_eq!(s.last_reached_ms, 0);
        assert!(s.last_error.unwrap().contains(&url));
        let none = ClusterProbe::new(Vec::new(), Duration::from_millis(500));
        assert!(!none.probe_once().await);
        assert!(
            none.state()
                .last_error
                .unwrap()
                .contains("no cluster endpoints")
        );
    }
}
