//! Anti-entropy on the simulated cluster: replicas that diverged while one
//! was cut off converge after the partition heals, with no client read and
//! no hinted handoff, and only the differing keys move; tombstones are
//! collected only once every replica holds them.

use std::time::Duration;

use super::*;

fn key(i: usize) -> Vec<u8> {
    format!("aae-key-{i}").into_bytes()
}

fn delete(context: VersionVector) -> Update {
    Update {
        value: Value::Tombstone,
        context,
        timestamp_ms: 0,
        last_write_wins: false,
    }
}

#[tokio::test(start_paused = true)]
async fn partition_heal_converges_through_anti_entropy_alone() {
    let sim = SimCluster::new(5);
    let c = sim.node(&sim.ids[0]);
    for i in 0..60 {
        c.coordinate_write(key(i), put("old", VersionVector::new()), opts(3, 2, 2))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim.aae_round().await, 0, "replicas agree before the cut");

    let victim = sim.ids[2].clone();
    sim.isolate(&victim);
    let live: Vec<DeviceId> = sim.ids.iter().filter(|i| **i != victim).cloned().collect();
    sim.set_live(&live);
    let mut changed = Vec::new();
    for i in 0..20 {
        // Updates of existing keys, and deletes of some.
        let ctx = c
            .coordinate_read(key(i), opts(3, 2, 2))
            .await
            .unwrap()
            .clock()
            .clone();
        let update = if i % 4 == 0 {
            delete(ctx)
        } else {
            put("new", ctx)
        };
        c.coordinate_write(key(i), update, opts(3, 2, 2))
            .await
            .unwrap();
        changed.push(i);
    }
    for i in 100..120 {
        c.coordinate_write(key(i), put("fresh", VersionVector::new()), opts(3, 2, 2))
            .await
            .unwrap();
        changed.push(i);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.drop_hints();
    assert_eq!(sim.backlog(), 0);

    let view = c.view.get();
    let missed: Vec<usize> = changed
        .iter()
        .copied()
        .filter(|i| view.preference_list(&key(*i), 3).contains(&victim))
        .collect();
    assert!(!missed.is_empty(), "the victim owns some changed keys");
    let victim_node = sim.node(&victim);
    for i in &missed {
        let here = victim_node.store.get(&key(*i)).unwrap();
        assert!(
            here.is_empty() || values(&here) == ["old"],
            "the victim missed key {i}"
        );
    }

    sim.heal();
    sim.set_live(&sim.ids.clone());
    let repaired = sim.aae_round().await;
    assert_eq!(
        repaired,
        missed.len() as u64,
        "exactly the keys the victim missed were exchanged, once each"
    );
    for i in (0..60).chain(100..120) {
        let owners = view.preference_list(&key(i), 3);
        let objects: Vec<VersionedObject> = owners
            .iter()
            .map(|o| sim.node(o).store.get(&key(i)).unwrap())
            .collect();
        assert!(
            objects.windows(2).all(|w| w[0] == w[1]),
            "key {i} converged"
        );
        let expected: Vec<&str> = if i >= 100 {
            vec!["fresh"]
        } else if i < 20 && i % 4 == 0 {
            vec![]
        } else if i < 20 {
            vec!["new"]
        } else {
            vec!["old"]
        };
        assert_eq!(values(&objects[0]), expected, "key {i}");
        if i < 20 && i % 4 == 0 {
            assert!(objects[0].is_deleted(), "deleted key {i} stays deleted");
        }
    }
    assert_eq!(
        sim.aae_round().await,
        0,
        "a second round finds nothing to repair"
    );
    let stats = victim_node.aae.snapshot();
    assert!(stats.rounds >= 2);
    assert!(stats.partitions.values().any(|p| p.last_exchange_ms > 0));
}

/// Every node's own copy of `k` (not hints).
fn copies(sim: &SimCluster, k: &[u8]) -> Vec<VersionedObject> {
    sim.ids
        .iter()
        .map(|id| sim.node(id).store.get(k).unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn tombstones_are_collected_only_when_every_replica_holds_them() {
    let sim = SimCluster::new(5);
    let c = sim.node(&sim.ids[0]);
    for i in 0..20 {
        c.coordinate_write(key(i), put("v", VersionVector::new()), opts(3, 2, 2))
            .await
            .unwrap();
    }
    for i in 0..10 {
        let ctx = c
            .coordinate_read(key(i), opts(3, 2, 2))
            .await
            .unwrap()
            .clock()
            .clone();
        c.coordinate_write(key(i), delete(ctx), opts(3, 2, 2))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // One replica is down: nothing may be collected (it might still hold
    // the old value, which would come back).
    let down = sim.ids[1].clone();
    sim.isolate(&down);
    let live: Vec<DeviceId> = sim.ids.iter().filter(|i| **i != down).cloned().collect();
    sim.set_live(&live);
    assert_eq!(
        sim.reap_round().await,
        0,
        "nothing reaped while a replica is down"
    );
    for i in 0..10 {
        assert!(
            copies(&sim, &key(i))
                .iter()
                .any(VersionedObject::is_deleted)
        );
    }

    // Back up, and converged: every tombstone is collected everywhere.
    sim.heal();
    sim.set_live(&sim.ids.clone());
    sim.aae_round().await;
    let reaped = sim.reap_round().await;
    assert!(
        reaped >= 10,
        "each deleted key reaped on its replicas ({reaped})"
    );
    for i in 0..10 {
        assert!(
            copies(&sim, &key(i)).iter().all(VersionedObject::is_empty),
            "key {i} collected on every node"
        );
        let r = c.coordinate_read(key(i), opts(3, 2, 2)).await.unwrap();
        assert!(values(&r).is_empty(), "deleted key {i} stays deleted");
    }
    for i in 10..20 {
        let r = c.coordinate_read(key(i), opts(3, 2, 2)).await.unwrap();
        assert_eq!(values(&r), ["v"], "live key {i} untouched");
    }
    assert_eq!(sim.aae_round().await, 0, "anti-entropy brings nothing back");
}

#[tokio::test(start_paused = true)]
async fn a_replica_holding_an_older_value_blocks_collection() {
    let sim = SimCluster::new(5);
    let c = sim.node(&sim.ids[0]);
    c.coordinate_write(key(1), put("v", VersionVector::new()), opts(3, 2, 2))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.aae_round().await;
    let owners = c.view.get().preference_list(&key(1), 3);
    let stale = owners[2].clone();
    sim.isolate(&stale);
    sim.set_live(
        &sim.ids
            .iter()
            .filter(|i| **i != stale)
            .cloned()
            .collect::<Vec<_>>(),
    );
    let ctx = c
        .coordinate_read(key(1), opts(3, 2, 2))
        .await
        .unwrap()
        .clock()
        .clone();
    c.coordinate_write(key(1), delete(ctx), opts(3, 2, 2))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.drop_hints();
    sim.heal();
    sim.set_live(&sim.ids.clone());
    // The stale replica still holds the live value: no collection.
    assert_eq!(sim.reap_round().await, 0);
    assert_eq!(values(&sim.node(&stale).store.get(&key(1)).unwrap()), ["v"]);
    sim.aae_round().await;
    assert!(sim.node(&stale).store.get(&key(1)).unwrap().is_deleted());
    assert!(sim.reap_round().await > 0);
    let r = c.coordinate_read(key(1), opts(3, 2, 2)).await.unwrap();
    assert!(values(&r).is_empty(), "no resurrection");
}
