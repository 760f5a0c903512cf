//! Configuration of the consensus core: the chain id signatures are bound
//! to, the timeouts, and the bounds on what it keeps from untrusted peers.

use serde::{Deserialize, Serialize};

use super::timeouts::TimeoutConfig;

/// Bounds on what the core keeps from untrusted peers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Messages of future heights kept at most.
    pub buffer_capacity: usize,
    /// Bytes of blocks (in proposals) buffered for future heights at most.
    pub buffer_max_block_bytes: usize,
    /// How many heights ahead a message may be and still be buffered.
    pub max_heights_ahead: u64,
    /// How many rounds ahead of the current one a message may be.
    pub max_rounds_ahead: u32,
    /// Distinct proposals kept per round (more than one means the proposer
    /// equivocates).
    pub max_proposals_per_round: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            buffer_capacity: 10_000,
            buffer_max_block_bytes: 128 << 20,
            max_heights_ahead: 4,
            max_rounds_ahead: 64,
            max_proposals_per_round: 4,
        }
    }
}

/// Configuration of the core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// The chain id every signature is bound to.
    pub chain_id: String,
    /// Timeouts and block time.
    pub timeouts: TimeoutConfig,
    /// Bounds on buffered input.
    pub limits: Limits,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            chain_id: "lambda-devnet".into(),
            timeouts: TimeoutConfig::default(),
            limits: Limits::default(),
        }
    }
}
