//! Liveness probes of the storage nodes for the dashboard's ring view.
//!
//! The chain says who is a member and who was voted offline or left, but
//! not whether a member's process answers right now. A background task
//! opens a TCP connection to every node's pledged gRPC endpoint every
//! [`PROBE_INTERVAL`], each attempt bounded by [`PROBE_TIMEOUT`] (name
//! resolution included), and caches the outcome. Requests only read the
//! cache, so a node that swallows packets never slows the dashboard; an
//! outcome older than [`STALE_AFTER`] counts as unknown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::node::core::now_ms;

/// Time between two rounds of probes.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// Longest a connection attempt may take before the node counts as down.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// Age after which a cached outcome is no longer trusted.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(10);
/// Most endpoints probed in one round (bounds the work whatever the chain
/// holds).
pub(crate) const MAX_TARGETS: usize = 512;

/// The outcome of one probe.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ProbeOutcome {
    /// The TCP connection was accepted.
    pub(crate) up: bool,
    /// What happened (`connected in 1 ms`, the connect error, a timeout).
    pub(crate) detail: String,
    /// When, in ms since the Unix epoch.
    pub(crate) checked_ms: u64,
}

/// The probe targets and their latest outcomes.
#[derive(Debug, Default)]
pub(crate) struct Prober {
    targets: Mutex<Vec<String>>,
    outcomes: RwLock<HashMap<String, ProbeOutcome>>,
}

impl Prober {
    /// Replaces the endpoints to probe (at most [`MAX_TARGETS`]).
    pub(crate) fn set_targets(&self, mut endpoints: Vec<String>) {
        endpoints.sort();
        endpoints.dedup();
        endpoints.truncate(MAX_TARGETS);
        *self.targets.lock() = endpoints;
    }

    /// The latest outcome for `endpoint`, unless none is recent enough.
    pub(crate) fn outcome(&self, endpoint: &str) -> Option<ProbeOutcome> {
        let o = self.outcomes.read().get(endpoint).cloned()?;
        let age = now_ms().saturating_sub(o.checked_ms);
        (u128::from(age) <= STALE_AFTER.as_millis()).then_some(o)
    }

    /// Probes every target once, concurrently, and records the outcomes
    /// (forgetting endpoints that are no longer targets).
    pub(crate) async fn round(&self, timeout: Duration) {
        let targets = self.targets.lock().clone();
        let mut set = JoinSet::new();
        for endpoint in targets.iter().cloned() {
            set.spawn(async move {
                let outcome = probe(&endpoint, timeout).await;
                (endpoint, outcome)
            });
        }
        let mut fresh = HashMap::with_capacity(targets.len());
        while let Some(joined) = set.join_next().await {
            if let Ok((endpoint, outcome)) = joined {
                fresh.insert(endpoint, outcome);
            }
        }
        let mut outcomes = self.outcomes.write();
        outcomes.retain(|k, _| targets.contains(k));
        outcomes.extend(fresh);
    }

    /// Probes every [`PROBE_INTERVAL`] until `shutdown`.
    pub(crate) async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(PROBE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.round(PROBE_TIMEOUT) => {}
            }
        }
    }
}

/// One TCP connect to `endpoint` (`host:port`), bounded by `timeout`.
pub(crate) async fn probe(endpoint: &str, timeout: Duration) -> ProbeOutcome {
    let start = Instant::now();
    let (up, detail) = match tokio::time::timeout(timeout, TcpStream::connect(endpoint)).await {
        Ok(Ok(_stream)) => (
            true,
            format!("connected in {} ms", start.elapsed().as_millis()),
        ),
        Ok(Err(e)) => (false, format!("connect to {endpoint}: {e}")),
        Err(_) => (
            false,
            format!(
                "connect to {endpoint}: no answer within {} ms",
                timeout.as_millis()
            ),
        ),
    };
    ProbeOutcome {
        up,
        detail,
        checked_ms: now_ms(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listening_endpoint_is_up_and_a_closed_one_down() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().to_string();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let prober = Prober::default();
        prober.set_targets(vec![open.clone(), closed.clone(), "no-port".into()]);
        assert_eq!(prober.outcome(&open), None, "nothing probed yet");
        prober.round(Duration::from_millis(500)).await;
        let up = prober.outcome(&open).unwrap();
        assert!(up.up, "{up:?}");
        let down = prober.outcome(&closed).unwrap();
        assert!(!down.up && down.detail.contains(&closed), "{down:?}");
        let bad = prober.outcome("no-port").unwrap();
        assert!(!bad.up, "{bad:?}");

        // Endpoints that are no longer targets are forgotten.
        prober.set_targets(vec![open.clone()]);
        prober.round(Duration::from_millis(500)).await;
        assert!(prober.outcome(&closed).is_none());
        assert!(prober.outcome(&open).unwrap().up);
    }

    #[test]
    fn stale_outcomes_are_not_trusted() {
        let prober = Prober::default();
        prober.outcomes.write().insert(
            "a:1".into(),
            ProbeOutcome {
                up: true,
                detail: String::new(),
                checked_ms: now_ms() - STALE_AFTER.as_millis() as u64 - 1_000,
            },
        );
        assert_eq!(prober.outcome("a:1"), None);
    }
}
