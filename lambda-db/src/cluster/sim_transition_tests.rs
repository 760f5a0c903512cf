//! Membership changes on the simulated cluster: a node joins, or leaves,
//! while a writer keeps writing and a reader keeps checking every
//! acknowledged key; no acknowledged write is ever missing from a read, the
//! change completes (every node switches to the new epoch), new owners hold
//! their partitions, and old owners drop what they no longer hold.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::cluster::transition::Transitions;
use crate::config::TransitionConfig;

fn key(i: usize) -> Vec<u8> {
    format!("move-key-{i}").into_bytes()
}

struct Run {
    sim: SimCluster,
    transitions: Vec<Arc<Transitions>>,
    acked: BTreeMap<usize, String>,
    next: usize,
}

impl Run {
    fn new(nodes: usize, initial: usize) -> Self {
        let sim = SimCluster::with_initial(nodes, initial);
        let config = TransitionConfig {
            settle_ms: 100,
            drop_grace_ms: 0,
            page_keys: 7,
            ..TransitionConfig::default()
        };
        let transitions = sim
            .ids
            .iter()
            .map(|id| {
                Transitions::new(
                    sim.node(id),
                    config.clone(),
                    sim_placement(),
                    Duration::from_millis(100),
                )
            })
            .collect();
        Self {
            sim,
            transitions,
            acked: BTreeMap::new(),
            next: 0,
        }
    }

    /// Writes `count` fresh keys through `via`, remembering those acked.
    async fn write(&mut self, via: usize, count: usize) {
        let c = self.sim.node(&self.sim.ids[via]);
        for _ in 0..count {
            let i = self.next;
            self.next += 1;
            let v = format!("v{i}");
            if c.coordinate_write(key(i), put(&v, VersionVector::new()), opts(3, 2, 2))
                .await
                .is_ok()
            {
                self.acked.insert(i, v);
            }
        }
    }

    /// Reads every acknowledged key through `via`: each must be found.
    async fn check(&self, via: usize, when: &str) {
        let c = self.sim.node(&self.sim.ids[via]);
        for (i, v) in &self.acked {
            let r = c.coordinate_read(key(*i), opts(3, 2, 2)).await.unwrap();
            assert_eq!(values(&r), std::slice::from_ref(v), "key {i} {when}");
        }
    }

    fn done(&self, epoch: u64) -> bool {
        self.sim.ids.iter().all(|id| {
            let t = self.sim.node(id).view.get();
            !t.in_transition() && t.epoch() == epoch
        })
    }

    /// Ticks every node (with gossip in between) while writing and reading,
    /// until the change to `epoch` is over everywhere.
    async fn drive(&mut self, epoch: u64, via: usize) -> usize {
        let token = CancellationToken::new();
        for step in 0..200 {
            self.sim.gossip();
            for t in &self.transitions {
                t.tick(&token).await;
            }
            self.write(via, 3).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.check(via, &format!("at step {step}")).await;
            if self.done(epoch) {
                return step;
            }
        }
        panic!("the membership change did not complete");
    }

    fn install(&self, members: &EpochMembers) {
        for t in &self.transitions {
            t.install(std::slice::from_ref(members)).unwrap();
        }
    }

    /// Keys `id` should hold under the current (single) layout.
    fn owned_by(&self, id: &DeviceId) -> Vec<usize> {
        let view = self.sim.node(id).view.get();
        self.acked
            .keys()
            .copied()
            .filter(|i| view.preference_list(&key(*i), 3).contains(id))
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_node_joins_under_writes_without_losing_acknowledged_writes() {
    let mut run = Run::new(4, 3);
    run.write(0, 60).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let joiner = run.sim.ids[3].clone();
    assert!(run.sim.node(&joiner).store.get(&key(0)).unwrap().is_empty());

    run.install(&sim_members(&run.sim.ids, 2));
    assert!(run.sim.node(&run.sim.ids[0]).view.get().in_transition());
    let steps = run.drive(2, 1).await;
    assert!(steps > 0);

    let owned = run.owned_by(&joiner);
    assert!(!owned.is_empty(), "the joiner owns some keys");
    for i in &owned {
        let here = run.sim.node(&joiner).store.get(&key(*i)).unwrap();
        assert_eq!(
            values(&here),
            [run.acked[i].clone()],
            "joiner holds key {i}"
        );
    }
    let status = run.transitions[3].status();
    assert!(
        status.total > 0 && status.done == status.total,
        "{status:?}"
    );
    // Old owners drop what they gave away (grace 0, every node switched).
    run.sim.gossip();
    for t in &run.transitions {
        t.tick(&CancellationToken::new()).await;
    }
    let dropped: u32 = run.transitions.iter().map(|t| t.status().dropped).sum();
    assert!(dropped > 0, "some partitions were dropped");
    for id in &run.sim.ids {
        let owned = run.owned_by(id);
        for i in run.acked.keys() {
            let held = !run.sim.node(id).store.get(&key(*i)).unwrap().is_empty();
            assert_eq!(held, owned.contains(i), "{id} holds key {i} iff it owns it");
        }
    }
    run.check(2, "after the change").await;
}

#[tokio::test(start_paused = true)]
async fn a_node_leaves_under_writes_without_losing_acknowledged_writes() {
    let mut run = Run::new(4, 4);
    run.write(0, 60).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let leaver = run.sim.ids[3].clone();
    assert!(!run.owned_by(&leaver).is_empty());

    run.install(&sim_members(&run.sim.ids[..3], 2));
    run.drive(2, 1).await;
    run.sim.gossip();
    for t in &run.transitions {
        t.tick(&CancellationToken::new()).await;
    }
    for id in &run.sim.ids[..3] {
        for i in run.owned_by(id) {
            let here = run.sim.node(id).store.get(&key(i)).unwrap();
            assert_eq!(values(&here), [run.acked[&i].clone()], "{id} holds key {i}");
        }
    }
    // Reads no longer need the leaver.
    run.sim.isolate(&leaver);
    run.sim.set_live(&run.sim.ids[..3]);
    run.check(0, "with the leaver gone").await;
}
