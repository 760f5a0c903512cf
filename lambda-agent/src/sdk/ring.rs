//! The cluster's ring as a client computes it from a node's answers: the
//! layouts (`Admin.Layouts`: the stable epoch's membership, then any the
//! cluster is moving to) turned into placements with `lambda_placement`,
//! exactly as every storage node computes them, and the order in which a
//! request on a key tries the nodes.
//!
//! Nodes coordinate a write when they are a live node of the key's first N
//! in the *stable* layout (the oldest one served), and read locally when
//! they are a replica, so the order is: the first N of the stable layout's
//! walk (the coordinators), then the first N of each newer layout (the
//! owners the cluster is moving to). The placement depends on the
//! membership *and* the placement settings; Q comes from the node's
//! `Admin.Status`, the rest from the client's configuration, and the ring
//! is checked against the per-node partition counts that `Status` reports,
//! so a client whose settings differ from the cluster's does not route by a
//! wrong ring.

use std::collections::BTreeMap;

use lambda_placement::{Device, DeviceId, Membership, Placement, PlacementConfig, PlacementError};
use lambda_proto::node::v1 as npb;

/// Why a node's answers gave no usable ring.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RingError {
    /// The node serves no layout (standalone, or not joined yet).
    #[error("the node serves no layout (standalone, or not a member yet)")]
    NoLayouts,
    /// Layouts out of epoch order.
    #[error("layouts are not in increasing epoch order ({previous} then {next})")]
    Order {
        /// The earlier layout's epoch.
        previous: u64,
        /// The later layout's epoch.
        next: u64,
    },
    /// A layout's placement cannot be computed.
    #[error("layout of epoch {epoch}: {source}")]
    Placement {
        /// The layout's epoch.
        epoch: u64,
        /// Why.
        source: PlacementError,
    },
    /// The status belongs to another epoch than the layouts.
    #[error("status is of epoch {status}, layouts end at {layouts}: the ring moved between calls")]
    Moved {
        /// Epoch of the status.
        status: u64,
        /// Newest epoch of the layouts.
        layouts: u64,
    },
    /// The ring computed here disagrees with the node's partition counts.
    #[error(
        "node {node}: the ring computed here gives it {ours:?} (primary, replica) partitions, \
         the cluster's status says {theirs:?}; the client's placement settings \
         (ring.placement) differ from the nodes' [placement] section"
    )]
    Mismatch {
        /// The node whose counts differ.
        node: String,
        /// Our counts.
        ours: (u32, u32),
        /// The node's counts.
        theirs: (u32, u32),
    },
}

/// The ring of a cluster: its live layouts, oldest (stable) first.
#[derive(Debug)]
pub(crate) struct Ring {
    /// One placement per live layout, oldest (stable) first.
    layouts: Vec<Placement>,
    /// Every member of any layout and its endpoint (newest layout wins).
    members: BTreeMap<DeviceId, String>,
    default_n: u32,
}

/// A node of a key's routing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate<'a> {
    /// The node.
    pub(crate) node: &'a DeviceId,
    /// It coordinates the key's writes itself (a first-N node of the stable
    /// layout).
    pub(crate) coordinator: bool,
}

fn membership(l: &npb::Layout) -> Membership {
    Membership {
        epoch: l.epoch,
        devices: l
            .members
            .iter()
            .map(|m| Device {
                id: DeviceId(m.id.clone()),
                capacity: m.capacity,
                bandwidth: m.bandwidth,
                zone: m.zone.clone(),
            })
            .collect(),
    }
}

impl Ring {
    /// Computes the placements of `layouts` (oldest first) under `config`;
    /// `default_n` is the cluster's default replication (the length of the
    /// routing prefix when a request does not set N).
    pub(crate) fn compute(
        layouts: &[npb::Layout],
        config: &PlacementConfig,
        default_n: u32,
    ) -> Result<Self, RingError> {
        if layouts.is_empty() {
            return Err(RingError::NoLayouts);
        }
        if let Some(w) = layouts.windows(2).find(|w| w[0].epoch >= w[1].epoch) {
            return Err(RingError::Order {
                previous: w[0].epoch,
                next: w[1].epoch,
            });
        }
        let mut members = BTreeMap::new();
        let mut out = Vec::with_capacity(layouts.len());
        for l in layouts {
            let placement = Placement::compute(&membership(l), config).map_err(|source| {
                RingError::Placement {
                    epoch: l.epoch,
                    source,
                }
            })?;
            for m in &l.members {
                members.insert(DeviceId(m.id.clone()), m.endpoint.clone());
            }
            out.push(placement);
        }
        Ok(Self {
            layouts: out,
            members,
            default_n: default_n.max(1),
        })
    }

    /// The stable (oldest) and newest epochs.
    pub(crate) fn epochs(&self) -> (u64, u64) {
        let epoch = |l: Option<&Placement>| l.map_or(0, Placement::epoch);
        (epoch(self.layouts.first()), epoch(self.layouts.last()))
    }

    /// The cluster's default N.
    pub(crate) fn default_n(&self) -> u32 {
        self.default_n
    }

    /// Every member of any live layout with its endpoint, by id.
    pub(crate) fn members(&self) -> &BTreeMap<DeviceId, String> {
        &self.members
    }

    /// The nodes a request with replication `n` on `key` tries, in order:
    /// the first `n` of the stable layout's walk (coordinators), then those
    /// of newer layouts not listed yet. Each node once.
    pub(crate) fn candidates(&self, key: &[u8], n: u32) -> Vec<Candidate<'_>> {
        let mut out: Vec<Candidate<'_>> = Vec::new();
        for (i, p) in self.layouts.iter().enumerate() {
            for node in p.walk(p.partition_of(key)).take(n as usize) {
                if !out.iter().any(|c| c.node == node) {
                    out.push(Candidate {
                        node,
                        coordinator: i == 0,
                    });
                }
            }
        }
        out
    }

    /// Checks the ring against a node's `Admin.Status`: same newest epoch,
    /// and for every node the partitions where it is first, and where it is
    /// among the first `default_n`, in the stable layout (what `Status`
    /// counts). A status without nodes (a standalone node) checks nothing.
    pub(crate) fn check(&self, status: &npb::StatusResponse) -> Result<(), RingError> {
        if status.nodes.is_empty() {
            return Ok(());
        }
        let (_, newest) = self.epochs();
        if status.epoch != newest {
            return Err(RingError::Moved {
                status: status.epoch,
                layouts: newest,
            });
        }
        let Some(stable) = self.layouts.first() else {
            return Err(RingError::NoLayouts);
        };
        let mut counts: BTreeMap<&DeviceId, (u32, u32)> = BTreeMap::new();
        for p in 0..stable.partitions() {
            let list = stable.preference_list(p);
            for (pos, d) in list.iter().take(status.default_n as usize).enumerate() {
                let c = counts.entry(d).or_default();
                c.1 += 1;
                if pos == 0 {
                    c.0 += 1;
                }
            }
        }
        for node in &status.nodes {
            let ours = counts
                .get(&DeviceId(node.id.clone()))
                .copied()
                .unwrap_or_default();
            let theirs = (node.primary_partitions, node.replica_partitions);
            if ours != theirs {
                return Err(RingError::Mismatch {
                    node: node.id.clone(),
                    ours,
                    theirs,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A layout of `ids` (capacity and bandwidth 100, one zone per node).
    pub(crate) fn layout(epoch: u64, ids: &[&str]) -> npb::Layout {
        npb::Layout {
            epoch,
            members: ids
                .iter()
                .enumerate()
                .map(|(i, id)| npb::LayoutMember {
                    id: (*id).to_string(),
                    endpoint: format!("127.0.0.1:{}", 7000 + i),
                    gossip: format!("127.0.0.1:{}", 8000 + i),
                    capacity: 100,
                    bandwidth: 100,
                    zone: format!("z{i}"),
                })
                .collect(),
        }
    }

    pub(crate) fn config() -> PlacementConfig {
        PlacementConfig {
            partitions: 64,
            replicas: 5,
            ..PlacementConfig::default()
        }
    }

    fn ids(c: &[Candidate<'_>]) -> Vec<(String, bool)> {
        c.iter()
            .map(|c| (c.node.0.clone(), c.coordinator))
            .collect()
    }

    #[test]
    fn candidates_follow_the_stable_layout_then_newer_owners() {
        let one = layout(1, &["a", "b", "c"]);
        let ring = Ring::compute(std::slice::from_ref(&one), &config(), 3).unwrap();
        let p = Placement::compute(&membership(&one), &config()).unwrap();
        for key in [&b"k1"[..], b"k2", b"another key"] {
            let want: Vec<(String, bool)> = p
                .preference_list_of_key(key)
                .iter()
                .take(3)
                .map(|d| (d.0.clone(), true))
                .collect();
            assert_eq!(ids(&ring.candidates(key, 3)), want);
            assert_eq!(ring.candidates(key, 1).len(), 1);
        }
        // A change under way: the stable layout's nodes first (they
        // coordinate), then the newcomer where it owns the key.
        let two = layout(2, &["a", "b", "c", "d"]);
        let ring = Ring::compute(&[one, two.clone()], &config(), 2).unwrap();
        assert_eq!(ring.epochs(), (1, 2));
        let p2 = Placement::compute(&membership(&two), &config()).unwrap();
        let key = (0..1000u32)
            .map(|i| format!("key{i}").into_bytes())
            .find(|k| p2.preference_list_of_key(k)[0].0 == "d")
            .unwrap();
        let c = ring.candidates(&key, 2);
        assert_eq!(
            c.iter().filter(|c| c.coordinator).count(),
            2,
            "{:?}",
            ids(&c)
        );
        assert!(c.iter().all(|c| c.coordinator != (c.node.0 == "d")));
        assert_eq!(ring.members().len(), 4);
    }

    #[test]
    fn bad_layouts_are_refused() {
        assert!(matches!(
            Ring::compute(&[], &config(), 3),
            Err(RingError::NoLayouts)
        ));
        let e = Ring::compute(&[layout(2, &["a"]), layout(1, &["a"])], &config(), 3).unwrap_err();
        assert!(e.to_string().contains("2 then 1"), "{e}");
        let e = Ring::compute(&[layout(1, &["a", "a"])], &config(), 3).unwrap_err();
        assert!(e.to_string().contains("epoch 1"), "{e}");
    }

    fn status_of(ring: &Ring, epoch: u64, default_n: u32) -> npb::StatusResponse {
        let stable = &ring.layouts[0];
        let nodes = stable
            .devices()
            .iter()
            .map(|d| {
                let held = stable.partitions_of(d);
                npb::NodeInfo {
                    id: d.0.clone(),
                    primary_partitions: held.iter().filter(|(_, pos)| *pos == 0).count() as u32,
                    replica_partitions: held
                        .iter()
                        .filter(|(_, pos)| *pos < default_n as usize)
                        .count() as u32,
                    ..Default::default()
                }
            })
            .collect();
        npb::StatusResponse {
            epoch,
            default_n,
            nodes,
            ..Default::default()
        }
    }

    #[test]
    fn the_ring_is_checked_against_the_nodes_counts() {
        let ls = [layout(4, &["a", "b", "c", "d", "e"])];
        let ring = Ring::compute(&ls, &config(), 3).unwrap();
        ring.check(&status_of(&ring, 4, 3)).unwrap();
        ring.check(&npb::StatusResponse::default()).unwrap();
        assert!(matches!(
            ring.check(&status_of(&ring, 5, 3)),
            Err(RingError::Moved { .. })
        ));
        // The cluster computed its ring with other settings.
        let other = config().whitepaper();
        let theirs = Ring::compute(&ls, &other, 3).unwrap();
        let e = ring.check(&status_of(&theirs, 4, 3)).unwrap_err();
        assert!(matches!(e, RingError::Mismatch { .. }), "{e}");
    }
}
