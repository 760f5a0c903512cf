//! Exchanges between two in-memory stores through [`InProcess`]: only the
//! differing keys move, both directions converge, and a second exchange
//! finds equal roots.

use std::sync::Arc;

use super::exchange::{ExchangeLimits, Exchanger};
use super::peer::{InProcess, SyncCalls, SyncPeer};
use crate::cluster::transport::Peer;
use crate::keyspace::Keyspace;
use crate::placement::DeviceId;
use crate::storage::MemoryEngine;
use crate::store::LocalStore;
use crate::version::{Update, Value};

const PARTITIONS: u32 = 8;

fn store() -> Arc<LocalStore> {
    Arc::new(
        LocalStore::open(
            Arc::new(MemoryEngine::new()),
            Keyspace::new(PARTITIONS).unwrap(),
        )
        .unwrap(),
    )
}

fn write(s: &LocalStore, key: &[u8], value: Option<&str>) -> crate::version::VersionedObject {
    let context = s.get(key).unwrap().clock().clone();
    s.coordinate(
        key,
        Update {
            value: value.map_or(Value::Tombstone, |v| Value::Live(v.as_bytes().to_vec())),
            context,
            timestamp_ms: 1,
            last_write_wins: false,
        },
    )
    .unwrap()
}

fn peer_of(s: &Arc<LocalStore>) -> SyncPeer {
    let calls: Arc<dyn SyncCalls> = Arc::new(InProcess::new(s.clone(), None));
    SyncPeer::new(
        calls,
        Peer {
            id: DeviceId::from("b"),
            endpoint: "in-process".into(),
        },
    )
}

fn all_partitions() -> Vec<u32> {
    (0..PARTITIONS).collect()
}

fn roots(s: &LocalStore) -> Vec<(u128, u64)> {
    (0..PARTITIONS)
        .map(|p| {
            let x = s.merkle().summary(p);
            (x.root, x.keys)
        })
        .collect()
}

#[tokio::test]
async fn only_differing_keys_move_and_both_sides_converge() {
    let (a, b) = (store(), store());
    for i in 0..500 {
        let k = format!("shared-{i}").into_bytes();
        let obj = write(&a, &k, Some("v"));
        b.merge(&k, &obj).unwrap();
    }
    assert_eq!(roots(&a), roots(&b));
    // 5 keys only at a, 4 only at b, 3 concurrent updates, 2 deletes at b.
    for i in 0..5 {
        write(&a, format!("a-only-{i}").as_bytes(), Some("a"));
    }
    for i in 0..4 {
        write(&b, format!("b-only-{i}").as_bytes(), Some("b"));
    }
    for i in 0..3 {
        let k = format!("shared-{i}").into_bytes();
        write(&a, &k, Some("new-a"));
        write(&b, &k, Some("new-b"));
    }
    for i in 10..12 {
        write(&b, format!("shared-{i}").as_bytes(), None);
    }
    let ex = Exchanger::new(a.clone(), ExchangeLimits::default());
    let out = ex.exchange(&peer_of(&b), &all_partitions()).await.unwrap();
    let repaired: u64 = out.iter().map(|o| o.keys_repaired).sum();
    assert_eq!(repaired, 5 + 4 + 3 + 2, "exactly the differing keys moved");
    assert!(out.iter().all(|o| o.complete));
    assert_eq!(roots(&a), roots(&b), "converged");
    let merged = a.get(b"shared-0").unwrap();
    assert_eq!(
        merged.live().count(),
        2,
        "concurrent values kept as siblings"
    );
    assert!(a.get(b"shared-10").unwrap().is_deleted());
    assert_eq!(a.get(b"b-only-3").unwrap().live().count(), 1);
    assert_eq!(b.get(b"a-only-4").unwrap().live().count(), 1);

    let again = ex.exchange(&peer_of(&b), &all_partitions()).await.unwrap();
    assert!(again.iter().all(|o| o.equal && o.keys_repaired == 0));
    let bytes: u64 = again.iter().map(|o| o.bytes).sum();
    assert!(
        bytes < 1_000,
        "equal trees cost only the roots ({bytes} bytes)"
    );
}

#[tokio::test]
async fn max_keys_leaves_the_rest_for_the_next_exchange() {
    let (a, b) = (store(), store());
    for i in 0..40 {
        write(&a, format!("k-{i}").as_bytes(), Some("x"));
    }
    let limits = ExchangeLimits {
        max_keys: 10,
        ..ExchangeLimits::default()
    };
    let ex = Exchanger::new(a.clone(), limits);
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 40, "converges in a bounded number of exchanges");
        let out = ex.exchange(&peer_of(&b), &all_partitions()).await.unwrap();
        if out.iter().all(|o| o.complete) {
            break;
        }
        assert!(out.iter().all(|o| o.keys_repaired <= 10));
    }
    assert_eq!(roots(&a), roots(&b));
}
