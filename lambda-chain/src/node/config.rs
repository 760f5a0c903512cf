//! The validator daemon's configuration: embedded defaults, the home
//! directory's `config.toml`, then `LAMBDA_CHAIN_*` environment overrides
//! (see `lambda_common::config`; `LAMBDA_CHAIN_API__LISTEN=…` sets
//! `api.listen`).
//!
//! Relative paths are relative to the home directory, so a home can be
//! moved or copied as a whole. `deploy/lambda-chain.example.toml` explains
//! every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::auditor::AuditConfig;
use crate::consensus::runner::RunnerConfig;
use crate::mempool::MempoolConfig;

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "LAMBDA_CHAIN_";

/// Name of the configuration file in a home directory.
pub const CONFIG_FILE: &str = "config.toml";

/// Everything a validator reads at start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// The validator's key (`ed25519:<hex seed>`): it signs consensus
    /// messages and, as the validator's account, its evidence transactions.
    pub key_file: PathBuf,
    /// The chain's genesis file (TOML, or JSON by extension).
    pub genesis_file: PathBuf,
    /// Where the chain state lives (RocksDB in `<data_dir>/state`) and the
    /// bound addresses are written (`api.addr`, `p2p.addr`).
    pub data_dir: PathBuf,
    /// fsync every committed block before consensus moves on.
    pub sync_writes: bool,
    /// On SIGINT/SIGTERM, how long in-flight requests and the consensus
    /// loop may take to finish before the node stops anyway.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How often the node collects double-sign evidence seen by consensus
    /// and turns it into slashing transactions.
    #[serde(with = "humantime_serde")]
    pub evidence_interval: Duration,
    /// Offline duty: distinct members that must have reported a node in
    /// the current epoch before this validator votes it offline (capped at
    /// the epoch's members − 1). Checked every `evidence_interval`.
    pub offline_min_reporters: usize,
    /// The public gRPC API.
    pub api: ApiConfig,
    /// The admin HTTP port: `/metrics`, `/health`, `/live`, the dashboard.
    pub admin: AdminConfig,
    /// The mempool and its gossip.
    pub mempool: MempoolSettings,
    /// Consensus: the validator port, write-ahead log, timeouts and peers.
    pub consensus: RunnerConfig,
    /// PDP audits: deadline, challenge size, the storage nodes' placement.
    pub audit: AuditConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            key_file: PathBuf::from("validator.key"),
            genesis_file: PathBuf::from("genesis.toml"),
            data_dir: PathBuf::from("data"),
            sync_writes: true,
            shutdown_grace: Duration::from_secs(10),
            evidence_interval: Duration::from_millis(200),
            offline_min_reporters: 2,
            api: ApiConfig::default(),
            admin: AdminConfig::default(),
            mempool: MempoolSettings::default(),
            consensus: RunnerConfig {
                data_dir: PathBuf::from("data/wal"),
                ..RunnerConfig::default()
            },
            audit: AuditConfig::default(),
        }
    }
}

impl NodeConfig {
    /// Loads `<home>/config.toml` (which must exist) with environment
    /// overrides, and makes its paths absolute.
    pub fn load(home: &Path) -> Result<Self, lambda_common::config::ConfigError> {
        let cfg: Self = lambda_common::config::load(Some(&home.join(CONFIG_FILE)), ENV_PREFIX)?;
        Ok(cfg.resolved(home))
    }

    /// The configuration with relative paths made relative to `home`.
    pub fn resolved(mut self, home: &Path) -> Self {
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                home.join(p)
            }
        };
        self.key_file = abs(&self.key_file);
        self.genesis_file = abs(&self.genesis_file);
        self.data_dir = abs(&self.data_dir);
        self.consensus.data_dir = abs(&self.consensus.data_dir);
        self
    }
}

/// The public gRPC API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address of the API server (`lambda.chain.v1.Chain`, health,
    /// reflection).
    pub listen: SocketAddr,
    /// Requests served at once; one more gets RESOURCE_EXHAUSTED.
    pub max_inflight: usize,
    /// `SubscribeBlocks` streams open at once; one more gets
    /// RESOURCE_EXHAUSTED.
    pub max_subscriptions: usize,
    /// Blocks queued per subscription for a slow reader (the stream waits
    /// for it rather than buffering more).
    pub subscription_buffer: usize,
    /// Largest request or response message, in bytes (blocks are up to
    /// `params.max_block_bytes`).
    pub max_message_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 26_657)),
            max_inflight: 256,
            max_subscriptions: 64,
            subscription_buffer: 16,
            max_message_bytes: 64 << 20,
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
    /// `/health` says "not ready" when no block was committed for this long.
    #[serde(with = "humantime_serde")]
    pub stall_after: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            stall_after: Duration::from_secs(30),
        }
    }
}

/// The mempool and its gossip to the other validators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolSettings {
    /// Most transactions held.
    pub max_txs: usize,
    /// Most bytes held (sum of encoded transactions).
    pub max_bytes: usize,
    /// Most transactions a proposed block takes from the mempool.
    pub max_block_txs: usize,
    /// Transactions queued per peer for gossip; when full, new ones are
    /// not relayed to that peer (counted).
    pub gossip_queue: usize,
    /// Transactions sent per gossip call at most.
    pub gossip_batch: usize,
}

impl Default for MempoolSettings {
    fn default() -> Self {
        let pool = MempoolConfig::default();
        Self {
            max_txs: pool.max_txs,
            max_bytes: pool.max_bytes,
            max_block_txs: 5_000,
            gossip_queue: 10_000,
            gossip_batch: 256,
        }
    }
}

impl MempoolSettings {
    /// The pool's limits.
    pub fn pool(&self) -> MempoolConfig {
        MempoolConfig {
            max_txs: self.max_txs,
            max_bytes: self.max_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_follow_the_home() {
        let c = NodeConfig::default().resolved(Path::new("/h"));
        assert_eq!(c.key_file, PathBuf::from("/h/validator.key"));
        assert_eq!(c.consensus.data_dir, PathBuf::from("/h/data/wal"));
        let abs = NodeConfig {
            data_dir: PathBuf::from("/elsewhere"),
            ..NodeConfig::default()
        };
        assert_eq!(
            abs.resolved(Path::new("/h")).data_dir,
            PathBuf::from("/elsewhere")
        );
    }

    #[test]
    fn the_example_file_is_the_defaults() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/lambda-chain.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: NodeConfig = toml::from_str(&text).unwrap();
        assert_eq!(parsed, NodeConfig::default());
    }
}
