//! The storage node's configuration: embedded defaults, a TOML file, and
//! `LAMBDA_DB_*` environment overrides (see `lambda_common::config`).
//!
//! `deploy/lambda-db.example.toml` shows every key with its meaning.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Prefix of environment overrides: `LAMBDA_DB_LIMITS__MAX_VALUE_BYTES=…`.
pub const ENV_PREFIX: &str = "LAMBDA_DB_";

/// Everything a storage node reads at start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
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
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("lambda-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            shutdown_grace_ms: 10_000,
            storage: StorageConfig::default(),
            limits: LimitsConfig::default(),
            replication: ReplicationConfig::default(),
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
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_key_bytes: 1024,
            max_value_bytes: 4 << 20,
            max_batch_ops: 1000,
            max_request_bytes: 64 << 20,
        }
    }
}

/// Replication defaults and bounds; a request may choose N, R and W within
/// them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// Number of equal partitions of the key space (Q), a power of two. Fixed
    /// when the node's data directory is created.
    pub partitions: u32,
    /// Default replicas per key (N).
    pub n: u32,
    /// Default read quorum (R).
    pub r: u32,
    /// Default write quorum (W).
    pub w: u32,
    /// Largest N a request may ask for.
    pub max_n: u32,
    /// Default request deadline, in milliseconds.
    pub default_timeout_ms: u32,
    /// Longest deadline a request may ask for, in milliseconds.
    pub max_timeout_ms: u32,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            partitions: 1024,
            n: 3,
            r: 2,
            w: 2,
            max_n: 7,
            default_timeout_ms: 5_000,
            max_timeout_ms: 60_000,
        }
    }
}
