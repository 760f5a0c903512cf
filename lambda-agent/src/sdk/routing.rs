//! How the SDK picks the node of a request ([`Routing`]) and the settings
//! of ring routing ([`RingConfig`]): serde + `Default`, so the agent's
//! configuration file carries them (`[cluster] routing`, `[cluster.ring]`).

use lambda_placement::PlacementConfig;
use serde::{Deserialize, Serialize};

use super::SdkError;

/// How the SDK picks the node of a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// Straight to the key's coordinator from a cached ring
    /// ([`super::RingRouter`]); round robin while no ring is known.
    #[default]
    Ring,
    /// Round robin over the configured endpoints ([`super::EndpointRouter`]).
    RoundRobin,
}

impl std::str::FromStr for Routing {
    type Err = SdkError;

    fn from_str(s: &str) -> Result<Self, SdkError> {
        match s {
            "ring" => Ok(Self::Ring),
            "round_robin" | "round-robin" => Ok(Self::RoundRobin),
            other => Err(SdkError::InvalidArgument(format!(
                "routing {other:?}: expected \"ring\" or \"round_robin\""
            ))),
        }
    }
}

/// Settings of ring routing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RingConfig {
    /// How often the ring is fetched again, ms.
    pub refresh_interval_ms: u64,
    /// Shortest time between two refreshes (a node saying the ring moved
    /// asks for one at once), ms.
    pub min_refresh_gap_ms: u64,
    /// Time for each `Admin` call of a refresh, ms.
    pub fetch_timeout_ms: u64,
    /// How long a node whose attempt failed is tried last, ms.
    pub suspect_ms: u64,
    /// The placement settings: they MUST equal the storage nodes'
    /// `[placement]` section, since the ring is a function of membership
    /// and settings. `partitions` (Q) is taken from the nodes' status; the
    /// ring is checked against the per-node partition counts the nodes
    /// report and not used when they differ. Defaults: lambda-db's.
    pub placement: PlacementConfig,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            refresh_interval_ms: 10_000,
            min_refresh_gap_ms: 500,
            fetch_timeout_ms: 2_000,
            suspect_ms: 2_000,
            // lambda-db's defaults (`NodeConfig::default().placement`).
            placement: PlacementConfig {
                partitions: 1024,
                replicas: 5,
                ..PlacementConfig::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_parses_and_serializes() {
        assert_eq!("ring".parse::<Routing>().unwrap(), Routing::Ring);
        assert_eq!(
            "round_robin".parse::<Routing>().unwrap(),
            Routing::RoundRobin
        );
        assert!("nearest".parse::<Routing>().is_err());
        assert_eq!(Routing::default(), Routing::Ring);
        let cfg = RingConfig::default();
        assert_eq!(cfg.placement.partitions, 1024);
        assert_eq!(cfg.placement.replicas, 5);
    }
}
