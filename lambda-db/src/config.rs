//! The storage node's configuration: embedded defaults, a TOML file, and
//! `LAMBDA_DB_*` environment overrides (see `lambda_common::config`).
//!
//! `deploy/lambda-db.example.toml` shows every key with its meaning.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::placement::PlacementConfig;

/// Prefix of environment overrides: `LAMBDA_DB_LIMITS__MAX_VALUE_BYTES=…`.
pub const ENV_PREFIX: &str = "LAMBDA_DB_";

/// Everything a storage node reads at start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's id in the cluster membership (ignored by a standalone
    /// node).
    pub node_id: String,
    /// Directory for the node's RocksDB database and metadata.
    pub data_dir: PathBuf,
    /// Address of the gRPC server (public KV API, health, reflection).
    pub listen: SocketAddr,
    /// On shutdown, how long in-flight requests may take to finish before
    /// the node stops anyway, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Storage engine settings.
    pub storage: StorageConfig,
    /// Request size limits.
    pub limits: LimitsConfig,
    /// Replication defaults and bounds.
    pub replication: ReplicationConfig,
    /// Placement: partition count (Q), preference-list length (the largest
    /// N a request may ask for) and the CCHDP parameters. Every member of a
    /// cluster must use the same values.
    pub placement: PlacementConfig,
    /// Cluster membership, failure detection and replica calls.
    pub cluster: ClusterConfig,
    /// Hinted handoff.
    pub hints: HintsConfig,
    /// The chain (membership by epoch, billing, audits); off unless
    /// `endpoints` is set.
    pub chain: crate::chain::ChainConfig,
    /// Per-request billing (chain mode only).
    pub billing: crate::billing::BillingConfig,
    /// Anti-entropy (Merkle tree exchanges between replicas).
    pub aae: AaeConfig,
    /// Membership changes: partition handoff to new owners.
    pub transition: TransitionConfig,
    /// Collection of tombstones.
    pub tombstones: TombstonesConfig,
    /// The admin HTTP port (`/metrics`, `/health`, `/live`).
    pub admin: AdminConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            node_id: "node-1".to_string(),
            data_dir: PathBuf::from("lambda-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            shutdown_grace_ms: 10_000,
            storage: StorageConfig::default(),
            limits: LimitsConfig::default(),
            replication: ReplicationConfig::default(),
            placement: PlacementConfig {
                partitions: 1024,
                replicas: 5,
                ..PlacementConfig::default()
            },
            cluster: ClusterConfig::default(),
            hints: HintsConfig::default(),
            chain: crate::chain::ChainConfig::default(),
            billing: crate::billing::BillingConfig::default(),
            aae: AaeConfig::default(),
            transition: TransitionConfig::default(),
            tombstones: TombstonesConfig::default(),
            admin: AdminConfig::default(),
        }
    }
}

/// The admin HTTP port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin HTTP server; port 0 picks a free port (written
    /// to `<data_dir>/admin.addr`).
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// Storage engine settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// fsync before acknowledging a write. Turning it off trades durability
    /// on power loss for throughput; a process crash still loses nothing.
    pub sync_writes: bool,
    /// RocksDB block cache, in MiB.
    pub block_cache_mib: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            sync_writes: true,
            block_cache_mib: 64,
        }
    }
}

/// Request size limits. A request over a limit is refused with
/// INVALID_ARGUMENT naming the limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest key, in bytes.
    pub max_key_bytes: usize,
    /// Largest value, in bytes.
    pub max_value_bytes: usize,
    /// Most operations in one batch.
    pub max_batch_ops: usize,
    /// Largest encoded request message, in bytes (gRPC decoding limit).
    pub max_request_bytes: usize,
    /// Client requests served at once; more get RESOURCE_EXHAUSTED at once.
    pub max_inflight_requests: usize,
    /// Replica calls from peers served at once; more get RESOURCE_EXHAUSTED.
    pub max_inflight_replica: usize,
    /// Replica calls a coordinator finishes in the background after it has
    /// answered the client; past this, it waits for them before answering.
    pub max_background_tasks: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_key_bytes: 1024,
            max_value_bytes: 4 << 20,
            max_batch_ops: 1000,
            max_request_bytes: 64 << 20,
            max_inflight_requests: 1024,
            max_inflight_replica: 4096,
            max_background_tasks: 4096,
        }
    }
}

/// Replication defaults and bounds; a request may choose N, R and W within
/// them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// Default replicas per key (N); at most `placement.replicas`.
    pub n: u32,
    /// Default read quorum (R).
    pub r: u32,
    /// Default write quorum (W).
    pub w: u32,
    /// Default request deadline, in milliseconds.
    pub default_timeout_ms: u32,
    /// Longest deadline a request may ask for, in milliseconds.
    pub max_timeout_ms: u32,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            n: 3,
            r: 2,
            w: 2,
            default_timeout_ms: 5_000,
            max_timeout_ms: 60_000,
        }
    }
}

/// Cluster membership, failure detection and replica calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The static membership file. Without one the node runs standalone and
    /// holds every key itself.
    pub membership_file: Option<PathBuf>,
    /// Name of the cluster in gossip; nodes of other clusters are ignored.
    pub cluster_id: String,
    /// Deadline of one replica call, in milliseconds.
    pub rpc_timeout_ms: u64,
    /// How long a peer that failed a call is avoided, in milliseconds.
    pub suspect_ms: u64,
    /// After start, peers gossip has not heard from yet count as up for this
    /// long, in milliseconds.
    pub startup_grace_ms: u64,
    /// Gossip round interval, in milliseconds.
    pub gossip_interval_ms: u64,
    /// Phi-accrual threshold above which gossip holds a peer down.
    pub phi_threshold: f64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            membership_file: None,
            cluster_id: "lambda".to_string(),
            rpc_timeout_ms: 1_000,
            suspect_ms: 2_000,
            startup_grace_ms: 3_000,
            gossip_interval_ms: 200,
            phi_threshold: 8.0,
        }
    }
}

/// Hinted handoff.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HintsConfig {
    /// Most hints a node holds for others; past it, hinted writes are
    /// refused and coordinators pick another fallback.
    pub max_backlog: u64,
    /// Most hints delivered per second.
    pub delivery_per_sec: u32,
    /// Pause between delivery rounds, in milliseconds.
    pub scan_interval_ms: u64,
}

impl Default for HintsConfig {
    fn default() -> Self {
        Self {
            max_backlog: 1_000_000,
            delivery_per_sec: 2_000,
            scan_interval_ms: 500,
        }
    }
}

/// Anti-entropy: background exchanges of Merkle trees between the replicas
/// of each partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AaeConfig {
    /// Run anti-entropy.
    pub enabled: bool,
    /// Pause between rounds (a round compares every partition this node
    /// holds with each of its other replicas), in milliseconds.
    pub round_interval_ms: u64,
    /// Most partitions compared per second.
    pub partitions_per_sec: u32,
    /// Most differing keys moved per second.
    pub keys_per_sec: u32,
    /// Most differing keys moved per partition per exchange; the rest waits
    /// for the next round.
    pub max_keys_per_exchange: usize,
    /// Partitions whose roots are compared in one call.
    pub batch_partitions: usize,
    /// Deadline of one anti-entropy or handoff call, in milliseconds.
    pub rpc_timeout_ms: u64,
}

impl Default for AaeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            round_interval_ms: 60_000,
            partitions_per_sec: 1_000,
            keys_per_sec: 10_000,
            max_keys_per_exchange: 10_000,
            batch_partitions: 256,
            rpc_timeout_ms: 10_000,
        }
    }
}

/// Membership changes: how new owners pull their partitions and when old
/// owners drop theirs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransitionConfig {
    /// How often the membership file's modification time is checked, in
    /// milliseconds (SIGHUP reloads it at once).
    pub membership_poll_ms: u64,
    /// Interval of the transition worker's checks, in milliseconds.
    pub tick_ms: u64,
    /// Wait between every node having installed a new layout and the first
    /// pull, so that writes coordinated under the old layout alone have
    /// finished; at least `replication.max_timeout_ms` is used.
    pub settle_ms: u64,
    /// After switching, how long a node keeps partitions it no longer holds
    /// before dropping them, in milliseconds.
    pub drop_grace_ms: u64,
    /// Keys per page when pulling a partition.
    pub page_keys: u32,
    /// Bytes per page when pulling a partition.
    pub page_bytes: u64,
}

impl Default for TransitionConfig {
    fn default() -> Self {
        Self {
            membership_poll_ms: 2_000,
            tick_ms: 500,
            settle_ms: 0,
            drop_grace_ms: 60_000,
            page_keys: 1_000,
            page_bytes: 4 << 20,
        }
    }
}

/// Collection of tombstones: a delete marker is removed only once every
/// replica of every live layout holds the same tombstone-only object, no
/// node holds hints for the key's replicas, and it is old enough.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TombstonesConfig {
    /// Collect tombstones.
    pub enabled: bool,
    /// Pause between collection rounds, in milliseconds.
    pub interval_ms: u64,
    /// A tombstone younger than this is kept (writes still in flight when it
    /// was made must have landed; gossip must have reported their hints), in
    /// milliseconds; at least `replication.max_timeout_ms` is used.
    pub min_age_ms: u64,
    /// Most tombstones checked per round.
    pub max_per_round: usize,
}

impl Default for TombstonesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_ms: 60_000,
            min_age_ms: 300_000,
            max_per_round: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_loads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/lambda-db.example.toml");
        let cfg: NodeConfig = lambda_common::config::load(Some(&path), "LAMBDA_DB_TEST_UNUSED_")
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(cfg.placement.partitions, 1024);
        assert!(cfg.aae.enabled);
        assert_eq!(cfg.transition, TransitionConfig::default());
    }
}
