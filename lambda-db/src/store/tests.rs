//! Tests of the local store.

use super::*;
use crate::storage::MemoryEngine;
use crate::version::{Value, VersionVector};

fn blind(v: &str) -> Update {
    Update {
        value: Value::Live(v.as_bytes().to_vec()),
        context: VersionVector::new(),
        timestamp_ms: 0,
        last_write_wins: false,
    }
}

#[test]
fn actor_persists_and_layout_is_checked() {
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let ks = Keyspace::new(64).unwrap();
    let a = LocalStore::open(engine.clone(), ks).unwrap().actor();
    assert_eq!(LocalStore::open(engine.clone(), ks).unwrap().actor(), a);
    let err = LocalStore::open(engine, Keyspace::new(128).unwrap()).unwrap_err();
    assert!(err.to_string().contains("64 partitions"), "{err}");
    let fresh = LocalStore::open(Arc::new(MemoryEngine::new()), ks).unwrap();
    assert_ne!(fresh.actor(), a);
}

#[test]
fn failed_write_raises_the_fence() {
    let engine = Arc::new(MemoryEngine::new());
    let store = LocalStore::open(engine.clone(), Keyspace::new(1).unwrap()).unwrap();
    store.coordinate(b"k", blind("a")).unwrap();
    engine.fail_writes(true);
    assert!(matches!(
        store.coordinate(b"k", blind("b")),
        Err(Error::Storage(_))
    ));
    engine.fail_writes(false);
    // The disk "works" again, but the node keeps refusing until restarted.
    assert!(matches!(
        store.coordinate(b"k", blind("c")),
        Err(Error::WritesRefused(_))
    ));
    assert_eq!(store.get(b"k").unwrap().live().count(), 1);
}

#[test]
fn merge_writes_only_changes() {
    let store = LocalStore::open(Arc::new(MemoryEngine::new()), Keyspace::new(1).unwrap()).unwrap();
    let obj = store.coordinate(b"k", blind("a")).unwrap();
    assert_eq!(store.merge(b"k", &obj).unwrap(), obj);
    let mut other = VersionedObject::default();
    other.update(ActorId(7), blind("b"));
    let merged = store.merge(b"k", &other).unwrap();
    assert_eq!(merged.live().count(), 2);
}

#[test]
fn corrupt_record_is_reported() {
    let engine = Arc::new(MemoryEngine::new());
    let ks = Keyspace::new(1).unwrap();
    let store = LocalStore::open(engine.clone(), ks).unwrap();
    let mut b = WriteBatch::new();
    b.put(Cf::Data, ks.data_key(b"k"), vec![1, 0xff]);
    engine.write(b).unwrap();
    let err = store.get(b"k").unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

fn tombstone(ctx: &VersionVector) -> Update {
    Update {
        value: Value::Tombstone,
        context: ctx.clone(),
        timestamp_ms: 0,
        last_write_wins: false,
    }
}

fn mem_store(partitions: u32) -> (Arc<MemoryEngine>, LocalStore) {
    let engine = Arc::new(MemoryEngine::new());
    let store = LocalStore::open(engine.clone(), Keyspace::new(partitions).unwrap()).unwrap();
    (engine, store)
}

#[test]
fn dots_come_from_one_node_wide_sequence_that_survives_restarts() {
    let (engine, store) = mem_store(8);
    let a = store.coordinate(b"a", blind("1")).unwrap();
    let b = store.coordinate(b"b", blind("1")).unwrap();
    let ca = a.clock().get(store.actor());
    let cb = b.clock().get(store.actor());
    assert!(
        cb > ca,
        "a later write of another key gets a higher counter"
    );
    drop(store);
    let store = LocalStore::open(engine, Keyspace::new(8).unwrap()).unwrap();
    let c = store.coordinate(b"c", blind("1")).unwrap();
    assert!(
        c.clock().get(store.actor()) > cb,
        "continues above after a restart"
    );
}

#[test]
fn a_reaped_key_never_reuses_a_dot() {
    let (_, store) = mem_store(8);
    let first = store.coordinate(b"k", blind("x")).unwrap();
    let deleted = store.coordinate(b"k", tombstone(first.clock())).unwrap();
    // Another replica still holds the tombstone when this one reaps it.
    let elsewhere = deleted.clone();
    assert!(store.remove_if_equal(b"k", &deleted).unwrap());
    assert!(store.get(b"k").unwrap().is_empty());
    let fresh = store.coordinate(b"k", blind("y")).unwrap();
    // The new write supersedes the old tombstone instead of being mistaken
    // for one of its dots.
    let merged = elsewhere.synced(&fresh);
    assert_eq!(merged.live().count(), 1, "{merged:?}");
    assert_eq!(fresh.synced(&elsewhere), merged);
}

#[test]
fn conditional_delete_only_removes_the_expected_object() {
    let (_, store) = mem_store(8);
    let obj = store.coordinate(b"k", blind("x")).unwrap();
    let newer = store.coordinate(b"k", blind("y")).unwrap();
    assert!(!store.remove_if_equal(b"k", &obj).unwrap());
    assert_eq!(store.get(b"k").unwrap(), newer);
    assert!(!store.remove_if_equal(b"absent", &obj).unwrap());
    assert!(store.remove_if_equal(b"k", &newer).unwrap());
    let p = store.keyspace().partition_of(b"k");
    assert_eq!(store.merkle().summary(p), crate::merkle::Summary::default());
}

#[test]
fn partition_pages_and_drop() {
    let (engine, store) = mem_store(1);
    for i in 0..25u32 {
        store
            .coordinate(format!("key-{i:02}").as_bytes(), blind("v"))
            .unwrap();
    }
    let mut after: Option<Vec<u8>> = None;
    let mut seen = Vec::new();
    for _ in 0..10 {
        let page = store
            .scan_partition(0, after.as_deref(), 10, usize::MAX)
            .unwrap();
        seen.extend(page.entries.iter().map(|(k, _)| k.clone()));
        after = page.entries.last().map(|(k, _)| k.clone());
        if page.done {
            break;
        }
    }
    assert_eq!(seen.len(), 25);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    // A byte bound cuts pages short but always returns a key.
    let tiny = store.scan_partition(0, None, 10, 1).unwrap();
    assert_eq!((tiny.entries.len(), tiny.done), (1, false));

    assert_eq!(store.merkle().summary(0).keys, 25);
    assert_eq!(store.drop_partition(0).unwrap(), 25);
    assert_eq!(store.merkle().summary(0), crate::merkle::Summary::default());
    let left = engine
        .scan(Cf::Merkle, &crate::storage::KeyRange::default(), usize::MAX)
        .unwrap();
    assert!(left.is_empty(), "no tree entries left: {left:?}");
}

#[test]
fn a_directory_without_a_tree_gets_one_at_open() {
    let (engine, store) = mem_store(4);
    for i in 0..40u32 {
        store.coordinate(&i.to_be_bytes(), blind("v")).unwrap();
    }
    let summaries: Vec<_> = (0..4).map(|p| store.merkle().summary(p)).collect();
    let tree = engine
        .scan(Cf::Merkle, &crate::storage::KeyRange::default(), usize::MAX)
        .unwrap();
    drop(store);
    // As if written by a build without the tree.
    let mut b = WriteBatch::new();
    b.delete(Cf::Meta, META_MERKLE);
    for (k, _) in &tree {
        b.delete(Cf::Merkle, k.clone());
    }
    b.put(Cf::Merkle, b"S\0\0\0\x07\0\x01".to_vec(), vec![1; 25]);
    engine.write(b).unwrap();
    let store = LocalStore::open(engine.clone(), Keyspace::new(4).unwrap()).unwrap();
    let again: Vec<_> = (0..4).map(|p| store.merkle().summary(p)).collect();
    assert_eq!(again, summaries);
    let rebuilt = engine
        .scan(Cf::Merkle, &crate::storage::KeyRange::default(), usize::MAX)
        .unwrap();
    assert_eq!(rebuilt, tree, "stray entries are cleared, the rest rebuilt");
}
