//! `lambda-db ring show`: the ring as a node sees it. The node answers its
//! live layouts (Admin `Layouts`: the stable epoch's membership, then any it
//! is moving to) and its status (Admin `Status`: N, liveness); the command
//! computes each layout's placement with `lambda_placement` and the same
//! placement parameters as the node (its `--config`), so the preference
//! lists shown are the node's own. Per layout and node: zone, capacity,
//! bandwidth, weight, up or down, primary partitions (first in the list),
//! replica partitions (in the first N), share of replica slots against the
//! fair share of its weight. `--partition P` or `--key K` (hashed with the
//! node's keyspace hash) adds that partition's preference list in every
//! layout.
//!
//! The stable layout's counts are checked against those the node reports in
//! its status: `matches_node` is false (and the table warns) when the
//! placement parameters given differ from the node's.

mod render;

use std::collections::BTreeMap;

use lambda_proto::node::v1 as pb;

pub use render::{json, table};

use super::args::RingArgs;
use super::{AdminError, call_error, client, first_answer, split_endpoints};
use crate::config::{ENV_PREFIX, NodeConfig};
use crate::keyspace::Keyspace;
use crate::placement::{Device, DeviceId, Membership, Placement, PlacementConfig};

/// One live layout and its placement.
#[derive(Clone, Debug)]
pub struct LayoutRing {
    /// The epoch.
    pub epoch: u64,
    /// Its members as the node sent them.
    pub members: Vec<pb::LayoutMember>,
    /// The placement computed from them.
    pub placement: Placement,
}

/// The partition asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// The partition.
    pub partition: u32,
    /// The key it was found from, if any.
    pub key: Option<String>,
}

/// What `ring show` prints.
#[derive(Clone, Debug)]
pub struct RingView {
    /// The endpoint that answered.
    pub endpoint: String,
    /// The node's status.
    pub status: pb::StatusResponse,
    /// Live layouts, stable first (empty for a standalone node).
    pub layouts: Vec<LayoutRing>,
    /// The partition asked about.
    pub lookup: Option<Lookup>,
}

/// One node's row in one layout.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRow {
    /// Node id.
    pub id: String,
    /// Its gRPC endpoint.
    pub endpoint: String,
    /// Failure zone.
    pub zone: String,
    /// Capacity (placement units: GiB).
    pub capacity: u64,
    /// Bandwidth (placement units: Mbit/s).
    pub bandwidth: u64,
    /// Placement weight.
    pub weight: u64,
    /// Up according to the asked node's failure detector (`None`: it does
    /// not report the node).
    pub up: Option<bool>,
    /// Partitions where it is first in the list.
    pub primary: u32,
    /// Partitions where it is in the first N.
    pub replica: u32,
    /// Partitions where it is anywhere in the list.
    pub listed: u32,
    /// Its fair fraction of the first-N slots (by weight).
    pub fair: f64,
}

/// Fetches the node's status and layouts.
pub async fn fetch(
    endpoint: &str,
) -> Result<(pb::StatusResponse, pb::LayoutsResponse), AdminError> {
    let mut c = client(endpoint)?;
    let status = c
        .status(pb::StatusRequest {})
        .await
        .map_err(|s| call_error(endpoint, &s))?
        .into_inner();
    let layouts = c
        .layouts(pb::LayoutsRequest {})
        .await
        .map_err(|s| call_error(endpoint, &s))?
        .into_inner();
    Ok((status, layouts))
}

/// Runs `ring show`: the placement parameters from the node's
/// configuration, the layouts from the first node that answers.
pub async fn run(args: &RingArgs) -> Result<RingView, AdminError> {
    let cfg: NodeConfig = lambda_common::config::load(args.config.as_deref(), ENV_PREFIX)?;
    let list = split_endpoints(&args.node.endpoint);
    let (endpoint, (status, layouts)) =
        first_answer(&list, "node", |e| async move { fetch(&e).await }).await?;
    build(
        endpoint,
        status,
        layouts,
        &cfg.placement,
        args.partition,
        args.key.as_deref(),
    )
}

/// Computes the placements of the node's layouts and resolves the lookup.
pub fn build(
    endpoint: String,
    status: pb::StatusResponse,
    layouts: pb::LayoutsResponse,
    cfg: &PlacementConfig,
    partition: Option<u32>,
    key: Option<&str>,
) -> Result<RingView, AdminError> {
    if status.partitions != 0 && status.partitions != cfg.partitions {
        return Err(AdminError::Ring(format!(
            "the placement parameters have {} partitions but the node at {endpoint} has {}; \
             pass the node's configuration with --config",
            cfg.partitions, status.partitions
        )));
    }
    let keyspace = Keyspace::new(cfg.partitions).map_err(|e| AdminError::Ring(e.to_string()))?;
    let lookup = match (partition, key) {
        (Some(p), _) if p >= cfg.partitions => {
            return Err(AdminError::Invalid(format!(
                "partition {p} is out of range: the ring has {} partitions (0..={})",
                cfg.partitions,
                cfg.partitions - 1
            )));
        }
        (Some(p), _) => Some(Lookup {
            partition: p,
            key: None,
        }),
        (None, Some(k)) => Some(Lookup {
            partition: keyspace.partition_of(k.as_bytes()),
            key: Some(k.to_string()),
        }),
        (None, None) => None,
    };
    let layouts = layouts
        .layouts
        .into_iter()
        .map(|l| layout_ring(l, cfg))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RingView {
        endpoint,
        status,
        layouts,
        lookup,
    })
}

fn layout_ring(l: pb::Layout, cfg: &PlacementConfig) -> Result<LayoutRing, AdminError> {
    let membership = Membership {
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
    };
    let placement = Placement::compute(&membership, cfg)
        .map_err(|e| AdminError::Ring(format!("placement of epoch {}: {e}", l.epoch)))?;
    Ok(LayoutRing {
        epoch: l.epoch,
        members: l.members,
        placement,
    })
}

impl RingView {
    /// N: the replicas of a request that names none (the node's default),
    /// at most the list length.
    pub fn n(&self) -> usize {
        let len = self.layouts.first().map_or(0, |l| l.placement.list_len());
        match self.status.default_n as usize {
            0 => len,
            n => n.min(len.max(1)),
        }
    }

    /// Up or down per node, as the node asked sees it.
    pub fn up(&self) -> BTreeMap<&str, bool> {
        self.status
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.up))
            .collect()
    }

    /// Per node of `layout`, in id order.
    pub fn rows(&self, layout: &LayoutRing) -> Vec<NodeRow> {
        let n = self.n();
        let p = &layout.placement;
        let devices = p.devices();
        let primary = p.slot_counts(1);
        let replica = p.slot_counts(n);
        let listed = p.slot_counts(p.list_len());
        let weights = p.weights();
        let fair = p.fair_fractions(n);
        let by_id: BTreeMap<&str, &pb::LayoutMember> =
            layout.members.iter().map(|m| (m.id.as_str(), m)).collect();
        let up = self.up();
        let count =
            |v: &[u64], i: usize| u32::try_from(v.get(i).copied().unwrap_or(0)).unwrap_or(u32::MAX);
        devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let m = by_id.get(d.0.as_str());
                NodeRow {
                    id: d.0.clone(),
                    endpoint: m.map(|m| m.endpoint.clone()).unwrap_or_default(),
                    zone: m.map(|m| m.zone.clone()).unwrap_or_default(),
                    capacity: m.map_or(0, |m| m.capacity),
                    bandwidth: m.map_or(0, |m| m.bandwidth),
                    weight: weights.get(i).copied().unwrap_or(0),
                    up: up.get(d.0.as_str()).copied(),
                    primary: count(&primary, i),
                    replica: count(&replica, i),
                    listed: count(&listed, i),
                    fair: fair.get(i).copied().unwrap_or(0.0),
                }
            })
            .collect()
    }

    /// True when the stable layout's counts equal those the node reports
    /// (so the placement parameters given are the node's).
    pub fn matches_node(&self) -> bool {
        let Some(stable) = self.layouts.first() else {
            return true;
        };
        let ours: BTreeMap<String, (u32, u32)> = self
            .rows(stable)
            .into_iter()
            .map(|r| (r.id, (r.primary, r.replica)))
            .collect();
        self.status.nodes.iter().all(|n| {
            ours.get(&n.id).copied().unwrap_or((0, 0))
                == (n.primary_partitions, n.replica_partitions)
        })
    }

    /// `stable`, `target` or `intermediate`: the place of layout `i`.
    pub fn role(&self, i: usize) -> &'static str {
        match (i, self.layouts.len()) {
            (0, _) => "stable",
            (i, len) if i + 1 == len => "target",
            _ => "intermediate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn member(id: &str, zone: &str, capacity: u64) -> pb::LayoutMember {
        pb::LayoutMember {
            id: id.into(),
            endpoint: format!("{id}:1"),
            gossip: "127.0.0.1:1".into(),
            capacity,
            bandwidth: 100,
            zone: zone.into(),
        }
    }

    fn cfg() -> PlacementConfig {
        PlacementConfig {
            partitions: 64,
            replicas: 5,
            ..PlacementConfig::default()
        }
    }

    fn status(nodes: Vec<pb::NodeInfo>) -> pb::StatusResponse {
        pb::StatusResponse {
            node_id: "a".into(),
            partitions: 64,
            default_n: 2,
            nodes,
            ..Default::default()
        }
    }

    fn layouts() -> pb::LayoutsResponse {
        pb::LayoutsResponse {
            layouts: vec![
                pb::Layout {
                    epoch: 1,
                    members: vec![
                        member("a", "z1", 100),
                        member("b", "z2", 100),
                        member("c", "z3", 400),
                    ],
                },
                pb::Layout {
                    epoch: 2,
                    members: vec![member("a", "z1", 100), member("b", "z2", 100)],
                },
            ],
        }
    }

    #[test]
    fn counts_add_up_and_the_lookup_follows_the_keyspace_hash() {
        let v = build(
            "e:1".into(),
            status(vec![]),
            layouts(),
            &cfg(),
            None,
            Some("k1"),
        )
        .unwrap();
        let stable = v.rows(&v.layouts[0]);
        assert_eq!(stable.iter().map(|r| r.primary).sum::<u32>(), 64);
        assert_eq!(stable.iter().map(|r| r.replica).sum::<u32>(), 64 * 2);
        assert_eq!(stable.iter().map(|r| r.listed).sum::<u32>(), 64 * 3);
        let c = stable.iter().find(|r| r.id == "c").unwrap();
        assert!(
            c.replica > stable[0].replica,
            "heavier node holds more: {stable:?}"
        );
        let lk = v.lookup.clone().unwrap();
        assert_eq!(lk.partition, Keyspace::new(64).unwrap().partition_of(b"k1"));
        let j = json(&v);
        assert_eq!(j["in_transition"], true);
        assert_eq!(j["layouts"][1]["role"], "target");
        assert_eq!(
            j["lookup"]["lists"][0]["replicas"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let t = table(&v);
        assert!(t.contains("membership change under way"), "{t}");
        assert!(t.contains("epoch 2 (target)"), "{t}");
        assert!(t.contains("key \"k1\" is in partition"), "{t}");
        assert!(t.lines().all(|l| l.chars().count() <= 100), "{t}");
    }

    #[test]
    fn counts_that_differ_from_the_nodes_are_flagged() {
        let v = build(
            "e:1".into(),
            status(vec![]),
            layouts(),
            &cfg(),
            Some(3),
            None,
        )
        .unwrap();
        let rows = v.rows(&v.layouts[0]);
        let infos: Vec<pb::NodeInfo> = rows
            .iter()
            .map(|r| pb::NodeInfo {
                id: r.id.clone(),
                up: r.id != "b",
                primary_partitions: r.primary,
                replica_partitions: r.replica,
                ..Default::default()
            })
            .collect();
        let mut v = build(
            "e:1".into(),
            status(infos),
            layouts(),
            &cfg(),
            Some(3),
            None,
        )
        .unwrap();
        assert!(v.matches_node());
        assert!(table(&v).contains("DOWN"));
        v.status.nodes[0].primary_partitions += 1;
        assert!(!v.matches_node());
        assert!(table(&v).contains("WARNING"));
        assert_eq!(json(&v)["matches_node"], false);
    }

    #[test]
    fn bad_inputs_are_named() {
        let err = build(
            "e:1".into(),
            status(vec![]),
            layouts(),
            &cfg(),
            Some(64),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("partition 64 is out of range"),
            "{err}"
        );
        let other = PlacementConfig {
            partitions: 128,
            ..cfg()
        };
        let err = build("e:1".into(), status(vec![]), layouts(), &other, None, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("128 partitions but the node at e:1 has 64"),
            "{err}"
        );
        let standalone = build(
            "e:1".into(),
            status(vec![]),
            pb::LayoutsResponse::default(),
            &cfg(),
            None,
            None,
        )
        .unwrap();
        assert!(table(&standalone).contains("has no ring"));
        assert_eq!(json(&standalone)["layouts"], json!([]));
    }
}
