//! Anti-entropy on the simulated cluster: replicas that diverged while one
//! was cut off converge after the partition heals, with no client read and
//! no hinted handoff, and only the differing keys move.

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
