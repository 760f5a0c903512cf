//! Placement tests: input errors, pinned lists, fairness and movement at a
//! small scale, and properties over random memberships (proptest).

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

fn device(id: &str, weight: u64, zone: &str) -> Device {
    Device {
        id: DeviceId(id.to_owned()),
        capacity: weight,
        bandwidth: weight,
        zone: zone.to_owned(),
    }
}

fn membership(devices: Vec<Device>) -> Membership {
    Membership { epoch: 7, devices }
}

/// `n` devices with weights 1..=16 (a fixed pattern) in `zones` zones.
fn spread(n: usize, zones: usize) -> Membership {
    membership(
        (0..n)
            .map(|i| {
                device(
                    &format!("dev-{i:03}"),
                    1 + (i as u64 * 7) % 16,
                    &format!("z{}", i % zones),
                )
            })
            .collect(),
    )
}

/// Weights in these tests are small integers: one unit each.
fn cfg(partitions: u32) -> PlacementConfig {
    PlacementConfig {
        partitions,
        weight_unit: 1,
        ..PlacementConfig::default()
    }
}

#[test]
fn bad_input_is_refused_precisely() {
    let c = cfg(64);
    let e = |m: &Membership, c: &PlacementConfig| Placement::compute(m, c).err();
    assert_eq!(
        e(&membership(vec![]), &c),
        Some(PlacementError::EmptyMembership { epoch: 7 })
    );
    let dup = membership(vec![
        device("a", 1, "z"),
        device("b", 1, "z"),
        device("a", 2, "y"),
    ]);
    assert_eq!(
        e(&dup, &c),
        Some(PlacementError::DuplicateDevice("a".into()))
    );
    let zero = membership(vec![device("a", 1, "z"), device("b", 0, "z")]);
    assert_eq!(
        e(&zero, &c),
        Some(PlacementError::ZeroWeight {
            id: "b".into(),
            capacity: 0,
            bandwidth: 0
        })
    );
    assert_eq!(
        e(&membership(vec![device("", 1, "z")]), &c),
        Some(PlacementError::EmptyDeviceId)
    );
    let ok = spread(4, 2);
    assert_eq!(
        e(&ok, &cfg(100)),
        Some(PlacementError::BadPartitionCount(100))
    );
    assert_eq!(e(&ok, &cfg(0)), Some(PlacementError::BadPartitionCount(0)));
    let bad = |f: fn(&mut PlacementConfig)| {
        let mut c = cfg(64);
        f(&mut c);
        e(&ok, &c)
    };
    assert_eq!(
        bad(|c| c.replicas = 0),
        Some(PlacementError::BadReplicas(0))
    );
    assert_eq!(
        bad(|c| c.replicas = 17),
        Some(PlacementError::BadReplicas(17))
    );
    assert_eq!(bad(|c| c.vnodes = 0), Some(PlacementError::ZeroVnodes));
    assert_eq!(
        bad(|c| c.weight_unit = 0),
        Some(PlacementError::ZeroWeightUnit)
    );
    assert_eq!(
        bad(|c| c.class_threshold = 0.001),
        Some(PlacementError::BadClassThreshold(0.001))
    );
    assert_eq!(
        bad(|c| c.load_slack = -0.1),
        Some(PlacementError::BadLoadSlack(-0.1))
    );
    assert_eq!(bad(|c| c.probes = 0), Some(PlacementError::BadProbes(0)));
    let p = Placement::compute(&ok, &cfg(64)).unwrap();
    let q = Placement::compute(&ok, &cfg(128)).unwrap();
    assert_eq!(
        plan(&p, &q),
        Err(PlacementError::PartitionCountChanged { old: 64, new: 128 })
    );
}

#[test]
fn lists_are_pinned() {
    // A change in any of these moves data in every existing cluster: if it
    // is intended, it needs a placement version and a migration.
    let m = spread(12, 3);
    let p = Placement::compute(&m, &cfg(256)).unwrap();
    let ids = |part: u32| {
        p.preference_list(part)
            .iter()
            .map(|d| d.0.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(0), ["dev-010", "dev-011", "dev-003"]);
    assert_eq!(ids(1), ["dev-006", "dev-011", "dev-004"]);
    assert_eq!(ids(255), ["dev-004", "dev-006", "dev-008"]);
    let w = p.config().whitepaper();
    let p = Placement::compute(&m, &w).unwrap();
    assert_eq!(
        p.preference_list(0)
            .iter()
            .map(|d| d.0.as_str())
            .collect::<Vec<_>>(),
        ["dev-008", "dev-001", "dev-003"]
    );
}

#[test]
fn lookups_walks_and_reverse_index_agree() {
    let p = Placement::compute(&spread(10, 4), &cfg(64)).unwrap();
    assert_eq!(p.epoch(), 7);
    assert_eq!(p.list_len(), 3);
    assert!(p.preference_list(64).is_empty());
    assert_eq!(p.walk(64).count(), 0);
    assert_eq!(
        p.preference_list_of_key(b"k"),
        p.preference_list(p.partition_of(b"k"))
    );
    for part in 0..64 {
        let walk: Vec<&DeviceId> = p.walk(part).collect();
        assert_eq!(
            &walk[..3],
            &p.preference_list(part).iter().collect::<Vec<_>>()[..]
        );
        assert_eq!(walk.iter().collect::<BTreeSet<_>>().len(), 10);
        assert_eq!(walk.len(), 10);
    }
    let dev = &p.devices()[3];
    let held = p.partitions_of(dev);
    assert_eq!(held.len() as u64, p.slot_counts(3)[3]);
    for (part, pos) in held {
        assert_eq!(&p.preference_list(part)[pos], dev);
    }
    assert!(p.partitions_of(&DeviceId("nobody".into())).is_empty());
}

/// (largest share / fair share, slots moved / optimal) for a join and a
/// leave at `n` devices.
fn fairness_and_moves(n: usize, partitions: u32) -> (f64, f64, f64) {
    let c = cfg(partitions);
    let m = spread(n, n);
    let p = Placement::compute(&m, &c).unwrap();
    let fair = p.fair_fractions(3);
    let slots = f64::from(partitions) * 3.0;
    let worst = p
        .slot_counts(3)
        .iter()
        .zip(&fair)
        .map(|(&s, f)| s as f64 / slots / f)
        .fold(0.0, f64::max);
    let mut joined = m.clone();
    joined.devices.push(device("new", 9, "new"));
    let j = Placement::compute(&joined, &c).unwrap();
    let optimal = j.fair_fractions(3)[j.devices().len() - 1] * slots;
    let join = plan(&p, &j).unwrap().len() as f64 / optimal;
    let mut left = m.clone();
    let gone = left.devices.remove(n / 2);
    let l = Placement::compute(&left, &c).unwrap();
    let idx = p.devices().binary_search(&gone.id).unwrap();
    let leave = plan(&p, &l).unwrap().len() as f64 / (fair[idx] * slots);
    (worst, join, leave)
}

#[test]
fn shares_track_weights_and_changes_move_little() {
    let (worst, join, leave) = fairness_and_moves(40, 1 << 14);
    assert!(
        worst <= 1.0 + PlacementConfig::default().load_slack + 1e-9,
        "fairness {worst}"
    );
    assert!(join < 1.15, "join moved {join} × optimal");
    assert!(leave < 1.15, "leave moved {leave} × optimal");
}

#[test]
fn whitepaper_layout_moves_more_than_the_race() {
    let c = cfg(1 << 12).whitepaper();
    let m = spread(30, 30);
    let p = Placement::compute(&m, &c).unwrap();
    let mut joined = m.clone();
    joined.devices.push(device("new", 9, "new"));
    let j = Placement::compute(&joined, &c).unwrap();
    let optimal = j.fair_fractions(3)[j.devices().len() - 1] * f64::from(1u32 << 12) * 3.0;
    assert!(plan(&p, &j).unwrap().len() as f64 / optimal > 1.5);
}

#[test]
fn unbalanceable_zones_still_give_full_distinct_lists() {
    // Zone "big" holds most of the weight: the bound cannot hold and some
    // partitions take their first allowed device over it.
    let mut devices = vec![device("a", 100, "big"), device("b", 100, "big")];
    devices.extend((0..4).map(|i| device(&format!("s{i}"), 1, &format!("z{i}"))));
    let p = Placement::compute(&membership(devices), &cfg(256)).unwrap();
    for part in 0..256 {
        let list = p.preference_list(part);
        assert_eq!(list.len(), 3);
        let big = list.iter().filter(|d| d.0 == "a" || d.0 == "b").count();
        assert!(big <= 1, "partition {part}: {list:?}");
    }
}

/// A random membership: up to 12 devices, weights 1..=20, up to 5 zones.
fn memberships() -> impl Strategy<Value = Membership> {
    prop::collection::vec((1u64..=20, 1u64..=20, 0u8..5), 1..12).prop_map(|spec| {
        membership(
            spec.into_iter()
                .enumerate()
                .map(|(i, (c, b, z))| Device {
                    id: DeviceId(format!("n{i}")),
                    capacity: c,
                    bandwidth: b,
                    zone: format!("zone{z}"),
                })
                .collect(),
        )
    })
}

fn configs() -> impl Strategy<Value = PlacementConfig> {
    (0u32..8, 1u32..5, any::<bool>(), any::<bool>(), 1u32..3).prop_map(
        |(bits, replicas, race, balance, probes)| PlacementConfig {
            partitions: 1 << bits,
            replicas,
            weight_unit: 1,
            vnodes: 16,
            probes,
            balance,
            layout: if race {
                ClassLayout::Race
            } else {
                ClassLayout::Contiguous
            },
            ..PlacementConfig::default()
        },
    )
}

fn table(p: &Placement) -> Vec<Vec<DeviceId>> {
    (0..p.partitions())
        .map(|q| p.preference_list(q).to_vec())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn lists_are_full_distinct_and_zone_spread(m in memberships(), c in configs()) {
        let p = Placement::compute(&m, &c).unwrap();
        let zone_of = |d: &DeviceId| m.devices.iter().find(|x| &x.id == d).map(|x| x.zone.clone());
        let zones = m.devices.iter().map(|d| &d.zone).collect::<BTreeSet<_>>().len();
        let want = (c.replicas as usize).min(m.devices.len());
        for part in 0..c.partitions {
            let list = p.preference_list(part);
            prop_assert_eq!(list.len(), want);
            prop_assert_eq!(list.iter().collect::<BTreeSet<_>>().len(), want);
            let spread = list.iter().map(zone_of).collect::<BTreeSet<_>>().len();
            prop_assert_eq!(spread, want.min(zones));
            let walk: Vec<_> = p.walk(part).collect();
            prop_assert_eq!(walk.len(), m.devices.len());
            prop_assert_eq!(walk.iter().collect::<BTreeSet<_>>().len(), m.devices.len());
        }
    }

    #[test]
    fn same_input_in_any_order_gives_the_same_table(m in memberships(), c in configs(), seed in any::<u64>()) {
        let p = Placement::compute(&m, &c).unwrap();
        let mut shuffled = m.clone();
        let n = shuffled.devices.len();
        for i in (1..n).rev() {
            let j = (seed.rotate_left(i as u32) % (i as u64 + 1)) as usize;
            shuffled.devices.swap(i, j);
        }
        let q = Placement::compute(&shuffled, &c).unwrap();
        prop_assert_eq!(table(&p), table(&q));
        prop_assert!(plan(&p, &q).unwrap().is_empty());
    }

    #[test]
    fn plans_list_exactly_the_entries_that_differ(a in memberships(), b in memberships(), c in configs()) {
        // b's devices n0.. overlap a's by id, with other weights and zones.
        let (old, new) = (Placement::compute(&a, &c).unwrap(), Placement::compute(&b, &c).unwrap());
        let moves = plan(&old, &new).unwrap();
        for part in 0..c.partitions {
            let before: BTreeSet<_> = old.preference_list(part).iter().collect();
            let after: BTreeSet<_> = new.preference_list(part).iter().collect();
            let here: Vec<_> = moves.iter().filter(|m| m.partition == part).collect();
            let to: BTreeSet<_> = here.iter().map(|m| &m.to).collect();
            prop_assert_eq!(&to, &after.difference(&before).copied().collect());
            prop_assert_eq!(to.len(), here.len());
            for m in &here {
                prop_assert_eq!(&new.preference_list(part)[m.position], &m.to);
                if let Some(from) = &m.from {
                    prop_assert!(before.contains(from) && !after.contains(from));
                }
            }
            let sources = here.iter().filter(|m| m.from.is_some()).count();
            prop_assert_eq!(sources, to.len().min(before.difference(&after).count()));
        }
    }
}
