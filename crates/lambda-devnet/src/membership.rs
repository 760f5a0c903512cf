//! Where the devnet's storage nodes take their membership from — the one
//! place that decides it.
//!
//! Until storage nodes follow the chain's epochs (the chain-link work), they
//! run from a static membership file that the devnet generates: its ids are
//! the node-key addresses, i.e. the very ids the nodes pledge on the chain,
//! with the same weights and zones, so the ring the file gives is the ring
//! the chain's membership will give. Switching to chain membership is
//! changing [`SOURCE`] to [`Source::Chain`]: the node configs then carry no
//! membership file and the nodes derive the ring from the chain (their
//! configs already carry `[chain] endpoints` and their node key).

use std::path::Path;

use lambda_db::cluster::membership::{EpochMembers, Member};
use lambda_db::placement::DeviceId;

use crate::error::DevnetError;
use crate::layout::{Manifest, node_config, write_toml};

/// Where storage nodes get their membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A static file written by the devnet (`DIR/membership.toml`).
    StaticFile,
    /// The chain's epochs (nodes join by their pledge).
    Chain,
}

/// The source the devnet uses.
pub const SOURCE: Source = Source::Chain;

/// The static membership of `m`'s storage nodes (epoch 1).
pub fn static_members(m: &Manifest) -> EpochMembers {
    EpochMembers {
        epoch: 1,
        members: m
            .nodes
            .iter()
            .map(|n| Member {
                id: DeviceId(n.id.clone()),
                endpoint: n.grpc.to_string(),
                gossip: n.gossip,
                capacity: n.capacity_gib,
                bandwidth: n.bandwidth_mbps,
                zone: n.zone.clone(),
            })
            .collect(),
    }
}

/// Writes every storage node's config (and, for [`Source::StaticFile`],
/// the membership file they share) under `dir`.
pub(crate) fn write_node_files(m: &Manifest, dir: &Path) -> Result<(), DevnetError> {
    let file = dir.join("membership.toml");
    if SOURCE == Source::StaticFile {
        write_toml("membership", &static_members(m), &file)?;
    }
    for n in &m.nodes {
        let mut cfg = node_config(m, n);
        if SOURCE == Source::StaticFile {
            cfg.cluster.membership_file = Some(file.clone());
        }
        write_toml(&n.name, &cfg, &n.config)?;
    }
    Ok(())
}
