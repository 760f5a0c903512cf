//! Devices and the membership of an epoch: the input of placement.
//!
//! A device's *weight* is what its share of replicas is proportional to. The
//! whitepaper weighs devices by capacity and bandwidth without saying how the
//! two combine; Lambda takes their geometric mean `√(capacity × bandwidth)`
//! by default ([`WeightRule::GeometricMean`]). A device's share of data sets
//! both how full its disks get and how many requests it serves, so the mean
//! charges the two equally: doubling only the bandwidth (or only the
//! capacity) raises the share by √2, doubling both doubles it. Units:
//! capacity in GiB, bandwidth in Mbit/s. The weight is computed in integers
//! (`u128::isqrt`), so it is the same on every machine.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable device (storage node) id, as pledged on chain.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(pub String);

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for DeviceId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// A member device: id, pledged capacity (GiB) and bandwidth (Mbit/s), zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Stable id.
    pub id: DeviceId,
    /// Pledged capacity, GiB.
    pub capacity: u64,
    /// Pledged bandwidth, Mbit/s.
    pub bandwidth: u64,
    /// Failure zone (rack, site); replicas of a partition go to distinct
    /// zones while the cluster has enough of them.
    pub zone: String,
}

/// The member set of one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The epoch this member set is valid for.
    pub epoch: u64,
    /// The members, in any order (placement sorts them by id).
    pub devices: Vec<Device>,
}

/// How capacity and bandwidth combine into a device's weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightRule {
    /// `⌊√(capacity × bandwidth)⌋`: data share follows both equally.
    #[default]
    GeometricMean,
    /// Capacity alone.
    Capacity,
    /// Bandwidth alone.
    Bandwidth,
}

impl WeightRule {
    /// The weight of a device under this rule (0 means unusable).
    pub fn weight(self, device: &Device) -> u64 {
        match self {
            Self::GeometricMean => {
                let product = u128::from(device.capacity) * u128::from(device.bandwidth);
                // isqrt of a product of two u64 fits in u64.
                u64::try_from(product.isqrt()).unwrap_or(u64::MAX)
            }
            Self::Capacity => device.capacity,
            Self::Bandwidth => device.bandwidth,
        }
    }
}

/// A pledge's capacity (bytes) and bandwidth (bytes per second) as placement
/// weights: GiB and Mbit/s, rounded up, at least 1. Storage nodes,
/// validators and clients that build a ring from the chain's membership all
/// use this one conversion, so they compute the same preference lists.
pub fn pledge_weights(capacity_bytes: u64, bandwidth_bps: u64) -> (u64, u64) {
    const GIB: u64 = 1 << 30;
    let gib = capacity_bytes.div_ceil(GIB).max(1);
    let mbit = bandwidth_bps.saturating_mul(8).div_ceil(1_000_000).max(1);
    (gib, mbit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(capacity: u64, bandwidth: u64) -> Device {
        Device {
            id: "d".into(),
            capacity,
            bandwidth,
            zone: String::new(),
        }
    }

    #[test]
    fn geometric_mean_weighs_capacity_and_bandwidth_equally() {
        let rule = WeightRule::GeometricMean;
        assert_eq!(rule.weight(&dev(4, 4)), 4);
        assert_eq!(rule.weight(&dev(16, 1)), 4);
        assert_eq!(rule.weight(&dev(8, 8)), 2 * rule.weight(&dev(4, 4)));
        assert_eq!(rule.weight(&dev(5, 0)), 0);
        assert_eq!(rule.weight(&dev(u64::MAX, u64::MAX)), u64::MAX);
        assert_eq!(WeightRule::Capacity.weight(&dev(7, 1)), 7);
        assert_eq!(WeightRule::Bandwidth.weight(&dev(7, 1)), 1);
    }
}
