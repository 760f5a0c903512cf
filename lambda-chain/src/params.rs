//! Consensus-critical parameters of a chain: epoch length, size limits, fees,
//! prices, slash fractions and the fisherman's reward.
//!
//! They are fixed in the genesis file (every validator must execute blocks
//! with the same values) and documented field by field here; the genesis
//! module checks them with [`ChainParams::validate`].

use serde::{Deserialize, Serialize};

/// Basis points in one whole (10 000 bps = 100 %).
pub const BPS: u32 = 10_000;

/// Parameters every validator executes blocks with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainParams {
    /// Blocks per epoch. Membership and the validator set change only at the
    /// last block of an epoch. Default 100 (about 8 minutes at 5 s blocks).
    pub epoch_length: u64,
    /// Largest encoded block, in bytes (whitepaper 3.3: 32e6).
    pub max_block_bytes: u64,
    /// Largest encoded transaction, in bytes.
    pub max_tx_bytes: u64,
    /// How far past a validator's own clock a proposed block's time may be,
    /// in milliseconds.
    pub max_future_ms: u64,
    /// Smallest fee a transaction may pay, in base units.
    pub min_fee: u64,
    /// Smallest stake of a storage-node pledge; a node slashed below it
    /// leaves the membership at the next epoch boundary.
    pub min_node_stake: u64,
    /// Price of one request in a usage settlement, in base units.
    pub price_per_request: u64,
    /// Price of one MiB transferred in a usage settlement, in base units
    /// (charged pro rata per byte, rounded down per node entry).
    pub price_per_mib: u64,
    /// Share of a node's stake burnt for each failed PDP audit, in bps.
    pub pdp_fail_slash_bps: u32,
    /// Share of a node's stake burnt when an offline verdict takes effect,
    /// in bps.
    pub offline_slash_bps: u32,
    /// Share of a validator's stake taken for a double sign, in bps.
    pub double_sign_slash_bps: u32,
    /// Share of a double signer's slashed stake paid to the fisherman who
    /// submitted the evidence, in bps; the rest is burnt.
    pub fisherman_reward_bps: u32,
    /// Evidence of a double sign older than this many blocks is refused.
    pub evidence_max_age_blocks: u64,
}

impl Default for ChainParams {
    fn default() -> Self {
        Self {
            epoch_length: 100,
            max_block_bytes: 32_000_000,
            max_tx_bytes: 1 << 20,
            max_future_ms: 30_000,
            min_fee: 1,
            min_node_stake: 1_000,
            price_per_request: 1,
            price_per_mib: 10,
            pdp_fail_slash_bps: 100,
            offline_slash_bps: 50,
            double_sign_slash_bps: BPS,
            fisherman_reward_bps: 1_000,
            evidence_max_age_blocks: 10_000,
        }
    }
}

impl ChainParams {
    /// Checks that every value is in its domain; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.epoch_length == 0 {
            return Err("params.epoch_length must be at least 1".into());
        }
        if self.max_block_bytes < 1024 {
            return Err("params.max_block_bytes must be at least 1024".into());
        }
        if self.max_tx_bytes == 0 || self.max_tx_bytes > self.max_block_bytes / 2 {
            return Err(
                "params.max_tx_bytes must be between 1 and half of params.max_block_bytes".into(),
            );
        }
        for (name, v) in [
            ("pdp_fail_slash_bps", self.pdp_fail_slash_bps),
            ("offline_slash_bps", self.offline_slash_bps),
            ("double_sign_slash_bps", self.double_sign_slash_bps),
            ("fisherman_reward_bps", self.fisherman_reward_bps),
        ] {
            if v > BPS {
                return Err(format!("params.{name} is {v}, over {BPS} (100 %)"));
            }
        }
        Ok(())
    }

    /// The epoch of a height: heights `1..=L` are epoch 0, `L+1..=2L` epoch
    /// 1, …; the genesis state (height 0) belongs to epoch 0.
    pub fn epoch_of(&self, height: u64) -> u64 {
        height.saturating_sub(1) / self.epoch_length.max(1)
    }

    /// Whether `height` is the last block of its epoch (where the next
    /// epoch's membership and validator set are fixed).
    pub fn is_epoch_end(&self, height: u64) -> bool {
        height > 0 && height.is_multiple_of(self.epoch_length.max(1))
    }
}

/// `amount × bps / 10 000`, rounded down, without overflow.
pub fn share(amount: u64, bps: u32) -> u64 {
    let v = u128::from(amount) * u128::from(bps.min(BPS)) / u128::from(BPS);
    u64::try_from(v).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_and_shares() {
        let p = ChainParams {
            epoch_length: 10,
            ..ChainParams::default()
        };
        assert_eq!(p.epoch_of(0), 0);
        assert_eq!(p.epoch_of(1), 0);
        assert_eq!(p.epoch_of(10), 0);
        assert_eq!(p.epoch_of(11), 1);
        assert!(p.is_epoch_end(10) && !p.is_epoch_end(11) && !p.is_epoch_end(0));
        assert_eq!(share(1_000, 100), 10);
        assert_eq!(share(u64::MAX, BPS), u64::MAX);
        assert_eq!(share(7, 5_000), 3);
    }

    #[test]
    fn validation_names_the_field() {
        let mut p = ChainParams::default();
        p.validate().unwrap();
        p.offline_slash_bps = 10_001;
        assert!(p.validate().unwrap_err().contains("offline_slash_bps"));
        p = ChainParams {
            epoch_length: 0,
            ..ChainParams::default()
        };
        assert!(p.validate().unwrap_err().contains("epoch_length"));
    }
}
