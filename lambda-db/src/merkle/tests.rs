//! The incremental tree must always equal one rebuilt from the data.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::keyspace::Keyspace;
use crate::storage::MemoryEngine;
use crate::store::LocalStore;
use crate::version::{ActorId, Update, Value, VersionVector, VersionedObject};

fn dump(engine: &MemoryEngine) -> Vec<(Vec<u8>, Vec<u8>)> {
    engine
        .scan(Cf::Merkle, &KeyRange::default(), usize::MAX)
        .unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        key: u8,
        value: u8,
        with_context: bool,
    },
    Delete {
        key: u8,
    },
    Merge {
        key: u8,
        actor: u64,
        value: u8,
    },
    Reap {
        key: u8,
    },
    Drop {
        partition: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..24, any::<u8>(), any::<bool>()).prop_map(|(key, value, with_context)| Op::Put { key, value, with_context }),
        2 => (0u8..24).prop_map(|key| Op::Delete { key }),
        2 => (0u8..24, 10u64..13, any::<u8>()).prop_map(|(key, actor, value)| Op::Merge { key, actor, value }),
        1 => (0u8..24).prop_map(|key| Op::Reap { key }),
        1 => (0u32..4).prop_map(|partition| Op::Drop { partition }),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("key-{k}").into_bytes()
}

fn apply(store: &LocalStore, op: &Op) {
    match op {
        Op::Put {
            key: k,
            value,
            with_context,
        } => {
            let context = if *with_context {
                store.get(&key(*k)).unwrap().clock().clone()
            } else {
                VersionVector::new()
            };
            store
                .coordinate(
                    &key(*k),
                    Update {
                        value: Value::Live(vec![*value]),
                        context,
                        timestamp_ms: 1,
                        last_write_wins: false,
                    },
                )
                .unwrap();
        }
        Op::Delete { key: k } => {
            let context = store.get(&key(*k)).unwrap().clock().clone();
            store
                .coordinate(
                    &key(*k),
                    Update {
                        value: Value::Tombstone,
                        context,
                        timestamp_ms: 2,
                        last_write_wins: false,
                    },
                )
                .unwrap();
        }
        Op::Merge {
            key: k,
            actor,
            value,
        } => {
            let mut o = VersionedObject::default();
            o.update(
                ActorId(*actor),
                Update {
                    value: Value::Live(vec![*value]),
                    context: VersionVector::new(),
                    timestamp_ms: 3,
                    last_write_wins: false,
                },
            );
            store.merge(&key(*k), &o).unwrap();
        }
        Op::Reap { key: k } => {
            let o = store.get(&key(*k)).unwrap();
            if o.is_deleted() {
                assert!(store.remove_if_equal(&key(*k), &o).unwrap());
            }
        }
        Op::Drop { partition } => {
            store.drop_partition(*partition).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn incremental_tree_equals_a_rebuild(ops in proptest::collection::vec(op(), 1..80)) {
        let engine = Arc::new(MemoryEngine::new());
        let ks = Keyspace::new(4).unwrap();
        let store = LocalStore::open(engine.clone(), ks).unwrap();
        for op in &ops {
            apply(&store, op);
        }
        let incremental = dump(&engine);
        let summaries: Vec<Summary> = (0..4).map(|p| store.merkle().summary(p)).collect();
        for p in 0..4 {
            store.rebuild_merkle(p).unwrap();
        }
        prop_assert_eq!(dump(&engine), incremental);
        let rebuilt: Vec<Summary> = (0..4).map(|p| store.merkle().summary(p)).collect();
        prop_assert_eq!(&rebuilt, &summaries);
        // Reloading from disk gives the same summaries too.
        prop_assert_eq!((0..4).map(|p| MerkleTree::load(engine.as_ref(), 4).unwrap().summary(p)).collect::<Vec<_>>(), summaries.clone());
        // Every level agrees with the one below it.
        for p in 0..4 {
            let g = groups(engine.as_ref(), p).unwrap();
            prop_assert_eq!(g.iter().fold(0u128, |a, b| a ^ b), summaries[p as usize].root);
            let all: Vec<u32> = (0..GROUPS).collect();
            let segs = segments(engine.as_ref(), p, &all).unwrap();
            let leaves = segment_keys(engine.as_ref(), p, &segs.iter().map(|s| s.segment).collect::<Vec<_>>()).unwrap();
            prop_assert_eq!(leaves.len() as u64, summaries[p as usize].keys);
        }
    }
}

#[test]
fn a_tampered_leaf_is_detected() {
    let engine = Arc::new(MemoryEngine::new());
    let store = LocalStore::open(engine.clone(), Keyspace::new(1).unwrap()).unwrap();
    for i in 0..10u8 {
        apply(
            &store,
            &Op::Put {
                key: i,
                value: i,
                with_context: false,
            },
        );
    }
    let (leaf, _) = engine
        .scan(Cf::Merkle, &KeyRange::prefix(b"L"), 1)
        .unwrap()
        .remove(0);
    let mut b = WriteBatch::new();
    b.put(Cf::Merkle, leaf.clone(), encode_leaf(42));
    engine.write(b).unwrap();
    let segment = u32::from(u16::from_be_bytes([leaf[5], leaf[6]]));
    let e = segment_keys(engine.as_ref(), 0, &[segment]).unwrap_err();
    assert!(
        matches!(e, Error::MerkleCorrupt { partition: 0, .. }),
        "{e}"
    );
    store.rebuild_merkle(0).unwrap();
    assert!(segment_keys(engine.as_ref(), 0, &[segment]).is_ok());
}

#[test]
fn digests_bind_the_key() {
    assert_ne!(digest(b"a", b"x"), digest(b"b", b"x"));
    assert_ne!(digest(b"ab", b"x"), digest(b"a", b"bx"));
    assert!(segment_of(b"anything") < SEGMENTS);
}

#[test]
fn keys_sharing_a_segment_in_one_batch() {
    // Three keys of one segment, removed in one batch by a partition drop.
    let mut by_segment: std::collections::BTreeMap<u32, Vec<Vec<u8>>> = Default::default();
    let mut same = None;
    for i in 0..100_000u32 {
        let k = format!("k{i}").into_bytes();
        let v = by_segment.entry(segment_of(&k)).or_default();
        v.push(k);
        if v.len() == 3 {
            same = Some(v.clone());
            break;
        }
    }
    let same = same.unwrap();
    let engine = Arc::new(MemoryEngine::new());
    let store = LocalStore::open(engine.clone(), Keyspace::new(1).unwrap()).unwrap();
    let blind = |v: &str| Update {
        value: Value::Live(v.as_bytes().to_vec()),
        context: VersionVector::new(),
        timestamp_ms: 0,
        last_write_wins: false,
    };
    for k in &same {
        store.coordinate(k, blind("a")).unwrap();
    }
    store.coordinate(b"other", blind("b")).unwrap();
    let before = dump(&engine);
    store.rebuild_merkle(0).unwrap();
    assert_eq!(dump(&engine), before);
    assert_eq!(store.drop_partition(0).unwrap(), 4);
    assert!(dump(&engine).is_empty());
    assert_eq!(store.merkle().summary(0), Summary::default());
}
