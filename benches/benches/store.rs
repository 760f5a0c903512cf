//! Criterion benchmark of the node's write path: `LocalStore::coordinate`
//! (read-modify-write of a versioned object under the key lock, and whatever
//! else the store keeps in the same batch) with 1 KiB values, on RocksDB
//! without fsync (so the figure is the store's CPU and RocksDB cost, not the
//! disk's sync latency) and on the in-memory engine. Keys are fresh
//! (inserts) or drawn from 10 000 existing keys (updates).
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lambda_db::keyspace::Keyspace;
use lambda_db::storage::{Engine, MemoryEngine, RocksEngine, RocksOptions};
use lambda_db::store::LocalStore;
use lambda_db::version::{Update, Value, VersionVector};

fn update(value: &[u8]) -> Update {
    Update {
        value: Value::Live(value.to_vec()),
        context: VersionVector::new(),
        timestamp_ms: 0,
        last_write_wins: true,
    }
}

fn stores(dir: &std::path::Path) -> anyhow::Result<Vec<(&'static str, Arc<LocalStore>)>> {
    let ks = Keyspace::new(1024)?;
    let mut opts = RocksOptions::new(dir.join("nosync"));
    opts.sync_writes = false;
    let rocks: Arc<dyn Engine> = Arc::new(RocksEngine::open(&opts)?);
    let memory: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    Ok(vec![
        ("rocksdb-nosync", Arc::new(LocalStore::open(rocks, ks)?)),
        ("memory", Arc::new(LocalStore::open(memory, ks)?)),
    ])
}

fn bench(c: &mut Criterion) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let Ok(stores) = stores(dir.path()) else {
        return;
    };
    let value = vec![0xAB_u8; 1024];
    for (name, store) in &stores {
        let mut group = c.benchmark_group(format!("store/{name}"));
        group.throughput(Throughput::Elements(1));
        let mut i = 0u64;
        group.bench_function("coordinate_insert_1KiB", |b| {
            b.iter(|| {
                i += 1;
                store.coordinate(&i.to_be_bytes(), update(&value))
            })
        });
        let mut j = 0u64;
        group.bench_function("coordinate_update_1KiB", |b| {
            b.iter(|| {
                j = (j + 7919) % 10_000;
                store.coordinate(&j.to_be_bytes(), update(&value))
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
