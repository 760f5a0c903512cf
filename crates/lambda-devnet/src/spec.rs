//! What a devnet is made of: the [`DevnetSpec`] a caller asks for, and the
//! weights and zones its storage nodes get, so that placement has unequal
//! nodes over several failure zones to work with.

use std::path::PathBuf;

use crate::error::DevnetError;

/// Failure zones the storage nodes are spread over, round robin.
pub const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

/// Weights of the storage nodes, cycled: (capacity GiB, bandwidth Mbit/s).
/// Unequal on purpose, so the ring gives the bigger nodes more partitions.
pub const NODE_WEIGHTS: [(u64, u64); 5] = [
    (100, 1000),
    (200, 1000),
    (400, 2500),
    (200, 500),
    (100, 1000),
];

/// Stake each storage node pledges (the chain's default minimum is 1000).
pub const NODE_STAKE: u64 = 10_000;

/// The first port of the default layout (validators from here, storage
/// nodes from +100, their gossip from +200, the agent at +300, the
/// validators' admin HTTP ports from +400).
pub const DEFAULT_BASE_PORT: u16 = 26_600;

/// How a new devnet's base port is picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortChoice {
    /// This base port; its ports must be free.
    Exactly(u16),
    /// [`DEFAULT_BASE_PORT`] if its ports are free, else any free block
    /// (the binary's default: predictable addresses for a user).
    PreferDefault,
    /// Any free block (tests, which may run side by side).
    Any,
}

/// What to start.
#[derive(Clone, Debug)]
pub struct DevnetSpec {
    /// Where everything lives (configs, data, keys, `logs/`). A directory
    /// that already holds a devnet is reused as it is.
    pub data_dir: PathBuf,
    /// Chain validators (4 tolerate one fault).
    pub validators: usize,
    /// Storage nodes (at least 3, the default replica count).
    pub nodes: usize,
    /// Target block time in milliseconds.
    pub block_time_ms: u64,
    /// Blocks per epoch.
    pub epoch_length: u64,
    /// How to pick the first port of the layout.
    pub ports: PortChoice,
    /// Extra `LAMBDA_LOG`-style filter for every child (`None`: `info`).
    pub log_filter: Option<String>,
}

impl DevnetSpec {
    /// The defaults (4 validators, 5 nodes, 500 ms blocks, 20-block epochs,
    /// any free ports) in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            validators: 4,
            nodes: 5,
            block_time_ms: 500,
            epoch_length: 20,
            ports: PortChoice::Any,
            log_filter: None,
        }
    }

    /// Checks the numbers fit the port layout and the replication defaults.
    pub fn validate(&self) -> Result<(), DevnetError> {
        let bad = |m: String| Err(DevnetError::Spec(m));
        if !(1..=50).contains(&self.validators) {
            return bad(format!("validators = {}: must be 1 to 50", self.validators));
        }
        if !(3..=99).contains(&self.nodes) {
            return bad(format!(
                "nodes = {}: must be 3 (the default replica count) to 99",
                self.nodes
            ));
        }
        if !(50..=60_000).contains(&self.block_time_ms) {
            return bad(format!(
                "block time = {} ms: must be 50 to 60000",
                self.block_time_ms
            ));
        }
        if !(2..=100_000).contains(&self.epoch_length) {
            return bad(format!(
                "epoch length = {}: must be 2 to 100000 blocks",
                self.epoch_length
            ));
        }
        if let PortChoice::Exactly(p) = self.ports
            && !(1024..=65_000).contains(&p)
        {
            return bad(format!("base port {p}: must be 1024 to 65000"));
        }
        Ok(())
    }
}

/// The weight and zone of storage node `i` (0-based).
pub fn node_profile(i: usize) -> (u64, u64, &'static str) {
    let (capacity_gib, bandwidth_mbps) = NODE_WEIGHTS[i % NODE_WEIGHTS.len()];
    (capacity_gib, bandwidth_mbps, ZONES[i % ZONES.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_are_named() {
        let mut s = DevnetSpec::new("/tmp/x");
        s.validate().unwrap();
        s.nodes = 2;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("nodes = 2"), "{e}");
        s.nodes = 5;
        s.ports = PortChoice::Exactly(80);
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("base port 80"), "{e}");
    }

    #[test]
    fn nodes_differ_in_weight_and_cover_three_zones() {
        let profiles: Vec<_> = (0..5).map(node_profile).collect();
        let zones: std::collections::BTreeSet<_> = profiles.iter().map(|p| p.2).collect();
        assert_eq!(zones.len(), 3);
        let weights: std::collections::BTreeSet<_> = profiles.iter().map(|p| (p.0, p.1)).collect();
        assert!(weights.len() >= 4, "{weights:?}");
    }
}
