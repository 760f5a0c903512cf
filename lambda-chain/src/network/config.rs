//! Configuration of the validator network: peers, queue bounds, batching,
//! timeouts, reconnection backoff, rebroadcast and sync periods.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Network settings of a validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// The other validators' gRPC endpoints (`http://host:port`).
    pub peers: Vec<String>,
    /// Messages queued per peer; when full, new ones are dropped (counted).
    pub peer_queue: usize,
    /// Messages sent per `Send` call at most.
    pub max_batch: usize,
    /// Received messages waiting for the consensus loop; when full, new ones
    /// are dropped (counted).
    pub inbox: usize,
    /// Largest gRPC message, both ways (blocks are up to 32 MB).
    pub max_message_bytes: usize,
    /// Timeout of a connection attempt.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Timeout of one `Send` or `Sync` call.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// First reconnection delay after a failure; doubles up to
    /// `backoff_max`.
    #[serde(with = "humantime_serde")]
    pub backoff_min: Duration,
    /// Largest reconnection delay.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Period of rebroadcasting the current round's messages.
    #[serde(with = "humantime_serde")]
    pub gossip_interval: Duration,
    /// Period of checking whether block sync is needed.
    #[serde(with = "humantime_serde")]
    pub sync_interval: Duration,
    /// A height that has not been decided for this long triggers sync.
    #[serde(with = "humantime_serde")]
    pub sync_after_stall: Duration,
    /// Blocks asked for per `Sync` call.
    pub sync_batch: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            peers: Vec::new(),
            peer_queue: 1024,
            max_batch: 64,
            inbox: 4096,
            max_message_bytes: 64 << 20,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            gossip_interval: Duration::from_millis(500),
            sync_interval: Duration::from_millis(500),
            sync_after_stall: Duration::from_secs(10),
            sync_batch: 32,
        }
    }
}
