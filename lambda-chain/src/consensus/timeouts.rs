//! Consensus timing: the three Tendermint timeouts, which grow linearly with
//! the round so that after the network stabilises a round eventually lasts
//! long enough for every correct validator to take part, and the block time
//! the driver paces heights to.
//!
//! Production targets a 5 s block time; [`TimeoutConfig::devnet`] is a fast
//! preset for local networks and tests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::io::Step;
use crate::types::Round;

/// Timeouts and block time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    /// `timeoutPropose(0)`: how long to wait for a proposal.
    #[serde(with = "humantime_serde")]
    pub propose: Duration,
    /// Added to `propose` per round.
    #[serde(with = "humantime_serde")]
    pub propose_delta: Duration,
    /// `timeoutPrevote(0)`: how long to wait for more prevotes after
    /// prevotes of two thirds of the power arrived without agreement.
    #[serde(with = "humantime_serde")]
    pub prevote: Duration,
    /// Added to `prevote` per round.
    #[serde(with = "humantime_serde")]
    pub prevote_delta: Duration,
    /// `timeoutPrecommit(0)`, likewise for precommits.
    #[serde(with = "humantime_serde")]
    pub precommit: Duration,
    /// Added to `precommit` per round.
    #[serde(with = "humantime_serde")]
    pub precommit_delta: Duration,
    /// Target time between the starts of two heights: after a decision the
    /// driver waits until this much time has passed since the height began.
    #[serde(with = "humantime_serde")]
    pub block_time: Duration,
}

impl Default for TimeoutConfig {
    /// Production: a 5 s block time.
    fn default() -> Self {
        Self {
            propose: Duration::from_secs(3),
            propose_delta: Duration::from_millis(500),
            prevote: Duration::from_secs(1),
            prevote_delta: Duration::from_millis(500),
            precommit: Duration::from_secs(1),
            precommit_delta: Duration::from_millis(500),
            block_time: Duration::from_secs(5),
        }
    }
}

impl TimeoutConfig {
    /// A local devnet: 300 ms blocks.
    pub fn devnet() -> Self {
        Self {
            propose: Duration::from_millis(600),
            propose_delta: Duration::from_millis(200),
            prevote: Duration::from_millis(200),
            prevote_delta: Duration::from_millis(100),
            precommit: Duration::from_millis(200),
            precommit_delta: Duration::from_millis(100),
            block_time: Duration::from_millis(300),
        }
    }

    /// The timeout of `step` in `round`: base + round × delta.
    pub fn duration(&self, step: Step, round: Round) -> Duration {
        let (base, delta) = match step {
            Step::Propose => (self.propose, self.propose_delta),
            Step::Prevote => (self.prevote, self.prevote_delta),
            Step::Precommit => (self.precommit, self.precommit_delta),
        };
        base.saturating_add(delta.saturating_mul(round))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_grow_with_the_round() {
        let c = TimeoutConfig::default();
        assert_eq!(c.duration(Step::Propose, 0), Duration::from_secs(3));
        assert_eq!(c.duration(Step::Propose, 4), Duration::from_secs(5));
        assert!(c.duration(Step::Precommit, 10) > c.duration(Step::Precommit, 9));
        assert_eq!(
            c.duration(Step::Prevote, u32::MAX),
            Duration::MAX.min(
                Duration::from_secs(1)
                    .saturating_add(Duration::from_millis(500).saturating_mul(u32::MAX))
            )
        );
    }
}
