//! The storage node's `/health`: ready when it can serve requests.
//!
//! The node is ready when all of these hold, checked in this order (the
//! first that fails is the reason of the 503):
//!
//! 1. **Store writable**: the store has not fenced writes after a disk
//!    failure.
//! 2. **Chain mode only — member**: the node is a member of the epoch in
//!    force on the chain, and it has assembled its cluster part.
//! 3. **Cluster only — quorum**: let N, R, W be the configured defaults
//!    (`replication.n/r/w`) and `need = min(N, max(R, W))`. For every
//!    partition this node *replicates* (it is among the first N of the
//!    partition's preference list in some live layout), and for every live
//!    layout, at least `need` of the first N of that layout's preference
//!    list are believed up by this node (gossip's failure detector plus
//!    suspicion after failed calls, the same view requests use).
//!
//! Rule 3 is the strict quorum: with it, a default read and a default write
//! of any key this node holds reach their quorum among the key's own
//! replicas. Sloppy quorum may still accept writes when it fails (fallbacks
//! keep hints), but reads may then miss acknowledged writes, so the node is
//! reported not ready. Partitions the node does not replicate do not count:
//! their replicas answer for them.

use std::collections::BTreeSet;
use std::sync::Arc;

use lambda_common::admin_http::{HealthCheck, HealthReport};
use serde_json::json;

use super::OpsSources;
use crate::cluster::Joined;
use crate::cluster::membership::MembershipSource;
use crate::cluster::topology::Topology;
use crate::placement::DeviceId;

/// A partition whose live replicas fall short of the quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// The partition.
    pub partition: u32,
    /// The layout's epoch.
    pub epoch: u64,
    /// Its first N replicas believed up.
    pub live: Vec<DeviceId>,
    /// Its first N replicas believed down.
    pub down: Vec<DeviceId>,
}

/// The outcome of the quorum rule over every partition this node
/// replicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumCheck {
    /// Partitions this node replicates (in any live layout).
    pub replicated: u32,
    /// Of those, partitions short of the quorum in some live layout.
    pub short: u32,
    /// The first short partition.
    pub example: Option<Shortfall>,
}

/// Applies the quorum rule: `me` replicates a partition when it is among
/// the first `n` of its preference list in some layout; the partition is
/// short when, in some layout, fewer than `need` of its first `n` are in
/// `alive`.
pub fn quorum(
    topology: &Topology,
    me: &DeviceId,
    n: usize,
    need: usize,
    alive: &BTreeSet<DeviceId>,
) -> QuorumCheck {
    let mut out = QuorumCheck::default();
    let layouts = topology.layouts();
    let partitions = layouts.first().map_or(0, |l| l.placement().partitions());
    for p in 0..partitions {
        let lists: Vec<(u64, &[DeviceId])> = layouts
            .iter()
            .map(|l| {
                let list = l.placement().preference_list(p);
                (l.epoch(), &list[..n.min(list.len())])
            })
            .collect();
        if !lists.iter().any(|(_, list)| list.contains(me)) {
            continue;
        }
        out.replicated += 1;
        let short = lists
            .iter()
            .find(|(_, list)| list.iter().filter(|d| alive.contains(*d)).count() < need);
        if let Some((epoch, list)) = short {
            out.short += 1;
            if out.example.is_none() {
                let (live, down) = list.iter().cloned().partition(|d| alive.contains(d));
                out.example = Some(Shortfall {
                    partition: p,
                    epoch: *epoch,
                    live,
                    down,
                });
            }
        }
    }
    out
}

fn names(ids: &[DeviceId]) -> String {
    if ids.is_empty() {
        return "none".into();
    }
    ids.iter()
        .map(|d| d.0.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The quorum rule on a joined node, as a report.
fn cluster_health(src: &OpsSources, j: &Joined, mut detail: serde_json::Value) -> HealthReport {
    let c = &j.cluster;
    let topo = c.view.get();
    let everyone: BTreeSet<&DeviceId> = topo
        .layouts()
        .iter()
        .flat_map(|l| l.members().keys())
        .collect();
    let alive: BTreeSet<DeviceId> = everyone
        .iter()
        .filter(|id| c.liveness.is_alive(id))
        .map(|id| (*id).clone())
        .collect();
    let down: Vec<&str> = everyone
        .iter()
        .filter(|id| !alive.contains(*id))
        .map(|id| id.0.as_str())
        .collect();
    let rep = &src.replication;
    let n = rep.n as usize;
    let need = (rep.r.max(rep.w) as usize).min(n);
    let q = quorum(&topo, &c.self_id, n, need, &alive);
    detail["epoch"] = json!(topo.epoch());
    detail["members"] = json!(everyone.len());
    detail["members_up"] = json!(alive.len());
    detail["members_down"] = json!(down);
    detail["partitions_replicated"] = json!(q.replicated);
    detail["partitions_without_quorum"] = json!(q.short);
    detail["quorum"] = json!({"n": rep.n, "r": rep.r, "w": rep.w, "need_live": need});
    match q.example {
        None => HealthReport::ready(detail),
        Some(s) => HealthReport::not_ready(
            format!(
                "quorum unreachable: {} of the {} partitions this node replicates have fewer than \
                 {need} of their {n} replicas up (default N={}, R={}, W={}); e.g. partition {} \
                 in epoch {}: up {}, down {}",
                q.short,
                q.replicated,
                rep.n,
                rep.r,
                rep.w,
                s.partition,
                s.epoch,
                names(&s.live),
                names(&s.down)
            ),
            detail,
        ),
    }
}

/// The health of the node now.
pub fn report(src: &OpsSources) -> HealthReport {
    let mut detail = json!({
        "node_id": src.node_id,
        "mode": src.mode.name(),
        "requests_in_flight": src.gate.in_flight(),
    });
    if let Some(reason) = src.store.writes_refused() {
        return HealthReport::not_ready(format!("store refuses writes: {reason}"), detail);
    }
    if let Some(chain) = &src.chain {
        let members = chain.membership.current();
        detail["chain_epoch"] = json!(members.epoch);
        if members.get(&chain.node_id()).is_none() {
            return HealthReport::not_ready(
                format!(
                    "not a member of chain epoch {} (pledge the node, or wait for the epoch \
                     after the pledge)",
                    members.epoch
                ),
                detail,
            );
        }
    }
    match src.joined.get() {
        Some(j) => cluster_health(src, j, detail),
        None if src.chain.is_some() => HealthReport::not_ready(
            "member of the epoch in force, still assembling the cluster part (gossip, \
             replicas)",
            detail,
        ),
        None => HealthReport::ready(detail),
    }
}

/// The `/health` check over the node's sources.
pub fn check(src: Arc<OpsSources>) -> HealthCheck {
    Arc::new(move || report(&src))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::membership::{EpochMembers, Member};
    use crate::cluster::view::ClusterView;
    use crate::placement::PlacementConfig;

    fn members(epoch: u64, ids: &[&str]) -> EpochMembers {
        EpochMembers {
            epoch,
            members: ids
                .iter()
                .enumerate()
                .map(|(i, id)| Member {
                    id: DeviceId((*id).into()),
                    endpoint: format!("127.0.0.1:{}", 7000 + i),
                    gossip: format!("127.0.0.1:{}", 8000 + i).parse().unwrap(),
                    capacity: 100,
                    bandwidth: 100,
                    zone: format!("z{i}"),
                })
                .collect(),
        }
    }

    fn topology(layouts: &[EpochMembers]) -> Topology {
        let cfg = PlacementConfig {
            partitions: 64,
            replicas: 3,
            ..PlacementConfig::default()
        };
        Topology::new(
            layouts
                .iter()
                .map(|m| Arc::new(ClusterView::new(m, &cfg).unwrap()))
                .collect(),
        )
    }

    fn set(ids: &[&str]) -> BTreeSet<DeviceId> {
        ids.iter().map(|i| DeviceId((*i).into())).collect()
    }

    #[test]
    fn three_nodes_need_two_up() {
        let t = topology(&[members(1, &["a", "b", "c"])]);
        let me = DeviceId("a".into());
        let all = quorum(&t, &me, 3, 2, &set(&["a", "b", "c"]));
        assert_eq!((all.replicated, all.short), (64, 0));
        let one_down = quorum(&t, &me, 3, 2, &set(&["a", "c"]));
        assert_eq!(one_down.short, 0);
        let two_down = quorum(&t, &me, 3, 2, &set(&["a"]));
        assert_eq!((two_down.replicated, two_down.short), (64, 64));
        let ex = two_down.example.unwrap();
        assert_eq!(ex.live, vec![me.clone()]);
        assert_eq!(ex.down.len(), 2);
    }

    #[test]
    fn only_partitions_this_node_replicates_count() {
        let t = topology(&[members(1, &["a", "b", "c", "d", "e", "f"])]);
        let me = DeviceId("a".into());
        // Only `a` and `b` up: partitions of `a` need one more replica up
        // unless their list is {a, b, x}.
        let q = quorum(&t, &me, 3, 2, &set(&["a", "b"]));
        assert!(q.replicated > 0 && q.replicated < 64, "{q:?}");
        let with_b = (0..64)
            .filter(|p| {
                let l = &t.layouts()[0].placement().preference_list(*p)[..3];
                l.contains(&me) && l.contains(&DeviceId("b".into()))
            })
            .count() as u32;
        assert_eq!(q.short, q.replicated - with_b);
    }

    #[test]
    fn every_live_layout_must_have_its_quorum() {
        // During a change from {a,b,c} to {a,d,e}, a partition of `a` needs
        // two replicas up in each layout.
        let t = topology(&[members(1, &["a", "b", "c"]), members(2, &["a", "d", "e"])]);
        let me = DeviceId("a".into());
        assert_eq!(quorum(&t, &me, 3, 2, &set(&["a", "b", "d"])).short, 0);
        let q = quorum(&t, &me, 3, 2, &set(&["a", "b", "c"]));
        assert_eq!(q.short, q.replicated);
        assert_eq!(q.example.unwrap().epoch, 2);
    }
}
