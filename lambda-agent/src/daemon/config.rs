//! The agent daemon's configuration: embedded defaults, a TOML file, and
//! `LAMBDA_AGENT_*` environment overrides (see `lambda_common::config`).
//!
//! `deploy/lambda-agent.example.toml` shows every key with its meaning.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sdk::{ClientConfig, RetryPolicy, RingConfig, Routing};
use crate::tsdb::TsdbConfig;

/// Prefix of environment overrides: `LAMBDA_AGENT_TSDB__BLOCK_MS=…`.
pub const ENV_PREFIX: &str = "LAMBDA_AGENT_";

/// Everything the agent reads at start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Directory of the WAL and the state file.
    pub data_dir: PathBuf,
    /// Address of the agent's gRPC API.
    pub listen: SocketAddr,
    /// On shutdown, how long in-flight requests and the final upload may
    /// take, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Address of the Prometheus remote-write endpoint (HTTP,
    /// `POST /api/v1/write`); none: disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_write_listen: Option<SocketAddr>,
    /// How the agent reaches the cluster.
    pub cluster: ClusterConfig,
    /// The time-series store.
    pub tsdb: TsdbConfig,
    /// The upload loop.
    pub upload: UploadConfig,
    /// Host metrics collection.
    pub collector: CollectorConfig,
    /// PDP audits of sealed blocks (off by default).
    pub audit: AuditUploadConfig,
    /// The admin HTTP port (`/metrics`, `/health`, `/live`).
    pub admin: AdminConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("lambda-agent-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 7171)),
            shutdown_grace_ms: 10_000,
            remote_write_listen: None,
            cluster: ClusterConfig::default(),
            tsdb: TsdbConfig::default(),
            upload: UploadConfig::default(),
            collector: CollectorConfig::default(),
            audit: AuditUploadConfig::default(),
            admin: AdminConfig::default(),
        }
    }
}

/// The admin HTTP port and its health rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin HTTP server; port 0 picks a free port (written
    /// to `<data_dir>/admin.addr`).
    pub listen: SocketAddr,
    /// How often the cluster's reachability is probed (a `grpc.health.v1`
    /// check of the endpoints), ms.
    pub probe_interval_ms: u64,
    /// `/health` says not ready when the cluster was last reached longer
    /// ago than this, ms.
    pub cluster_stale_after_ms: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            probe_interval_ms: 5_000,
            cluster_stale_after_ms: 30_000,
        }
    }
}

/// The cluster endpoints and the SDK's timeouts and retries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Storage node addresses.
    pub endpoints: Vec<String>,
    /// Time to open a connection, ms.
    pub connect_timeout_ms: u64,
    /// Time for one attempt of a request, ms.
    pub request_timeout_ms: u64,
    /// Attempts per request.
    pub max_attempts: u32,
    /// First backoff between attempts, ms (doubles each time).
    pub initial_backoff_ms: u64,
    /// Largest backoff, ms.
    pub max_backoff_ms: u64,
    /// Total time for one request with its retries, ms.
    pub max_elapsed_ms: u64,
    /// The client account key (`ed25519:<hex seed>`) that signs and pays
    /// for every request of a chain-mode cluster; unset: unsigned requests
    /// (a cluster without a chain).
    pub key_file: Option<std::path::PathBuf>,
    /// How requests pick their node: `ring` (straight to the key's
    /// coordinator from the cluster's ring) or `round_robin`.
    pub routing: Routing,
    /// Ring routing settings; `ring.placement` must equal the nodes'
    /// `[placement]` section (Q is taken from the nodes).
    pub ring: RingConfig,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://127.0.0.1:7070".into()],
            connect_timeout_ms: 2_000,
            request_timeout_ms: 5_000,
            max_attempts: 4,
            initial_backoff_ms: 50,
            max_backoff_ms: 1_000,
            max_elapsed_ms: 10_000,
            key_file: None,
            routing: Routing::default(),
            ring: RingConfig::default(),
        }
    }
}

impl ClusterConfig {
    /// The SDK configuration (loads the client key when one is set).
    pub fn client_config(&self) -> Result<ClientConfig, crate::sdk::SdkError> {
        let mut c = ClientConfig::new(self.endpoints.clone());
        c.connect_timeout = Duration::from_millis(self.connect_timeout_ms);
        c.request_timeout = Duration::from_millis(self.request_timeout_ms);
        c.retry = RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            initial_backoff: Duration::from_millis(self.initial_backoff_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
            max_elapsed: Duration::from_millis(self.max_elapsed_ms),
            retry_write_timeouts: false,
        };
        c.routing = self.routing;
        c.ring = self.ring.clone();
        if let Some(path) = &self.key_file {
            c.wallet = Some(crate::sdk::Wallet::load(path)?);
        }
        Ok(c)
    }
}

/// The upload loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// How often idle chunks are sealed and the queue is uploaded, ms.
    pub interval_ms: u64,
    /// Longest pause after failed uploads (the pause doubles per failure
    /// from `interval_ms`), ms.
    pub max_backoff_ms: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            interval_ms: 1_000,
            max_backoff_ms: 30_000,
        }
    }
}

/// Host metrics collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Collect CPU, memory, disk and network metrics of this host.
    pub enabled: bool,
    /// Collection interval, ms.
    pub interval_ms: u64,
    /// Value of the `host` label (empty: the kernel's host name).
    pub host: String,
    /// Root of the proc file system.
    pub proc_root: PathBuf,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_ms: 10_000,
            host: String::new(),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// Sealed blocks as audited objects with storage contracts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditUploadConfig {
    /// Tag sealed blocks, store them as PDP bundles and register a storage
    /// contract for each.
    pub enabled: bool,
    /// The owner's chain account key (`ed25519:<hex seed>`): pays the
    /// contracts; the PDP tagging key is derived from it.
    pub account_key_file: PathBuf,
    /// Validators' API endpoints (`http://host:port`), tried in order.
    pub chain_endpoints: Vec<String>,
    /// Contract duration in epochs.
    pub epochs: u64,
    /// Amount escrowed per block's contract.
    pub amount: u64,
    /// Replicas paid (and audited) per cycle.
    pub replicas: u32,
    /// Transaction fee per registration.
    pub fee: u64,
    /// Sectors per PDP block (31 bytes each).
    pub sectors: u32,
}

impl Default for AuditUploadConfig {
    fn default() -> Self {
        let terms = crate::sdk::ContractTerms::default();
        Self {
            enabled: false,
            account_key_file: PathBuf::from("account.key"),
            chain_endpoints: vec!["http://127.0.0.1:26657".into()],
            epochs: terms.epochs,
            amount: terms.amount,
            replicas: terms.replicas,
            fee: terms.fee,
            sectors: crate::sdk::pdp::DEFAULT_SECTORS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_loads_and_is_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/lambda-agent.example.toml");
        let cfg: AgentConfig =
            lambda_common::config::load(Some(&path), "LAMBDA_AGENT_TEST_UNUSED_")
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(cfg, AgentConfig::default());
        assert_eq!(cfg.cluster.routing, Routing::Ring);
        let c = cfg.cluster.client_config().unwrap();
        assert_eq!(c.routing, Routing::Ring);
        assert_eq!(c.ring, RingConfig::default());
    }
}
