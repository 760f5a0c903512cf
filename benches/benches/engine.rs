//! Criterion benchmarks of the storage engines: put and get of 1 KiB
//! values, and batches of 100 puts, on RocksDB (synced and unsynced) and the
//! in-memory engine.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lambda_db::storage::{Cf, Engine, MemoryEngine, RocksEngine, RocksOptions, WriteBatch};

fn engines(dir: &std::path::Path) -> anyhow::Result<Vec<(&'static str, Arc<dyn Engine>)>> {
    let synced = RocksEngine::open(&RocksOptions::new(dir.join("synced")))?;
    let mut opts = RocksOptions::new(dir.join("unsynced"));
    opts.sync_writes = false;
    let unsynced = RocksEngine::open(&opts)?;
    Ok(vec![
        ("rocksdb-sync", Arc::new(synced)),
        ("rocksdb-nosync", Arc::new(unsynced)),
        ("memory", Arc::new(MemoryEngine::new())),
    ])
}

fn bench(c: &mut Criterion) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let Ok(engines) = engines(dir.path()) else {
        return;
    };
    let value = vec![0xAB_u8; 1024];
    for (name, engine) in &engines {
        let mut group = c.benchmark_group(format!("engine/{name}"));
        group.throughput(Throughput::Bytes(1024));
        let mut i = 0u64;
        group.bench_function("put_1KiB", |b| {
            b.iter(|| {
                i += 1;
                let mut batch = WriteBatch::new();
                batch.put(Cf::Data, i.to_be_bytes().to_vec(), value.clone());
                engine.write(batch)
            })
        });
        let mut j = 0u64;
        group.bench_function("get_1KiB", |b| {
            b.iter(|| {
                j = (j % i.max(1)) + 1;
                engine.get(Cf::Data, black_box(&j.to_be_bytes()))
            })
        });
        group.throughput(Throughput::Bytes(100 * 1024));
        let mut k = 1u64 << 40;
        group.bench_function("batch_100x1KiB", |b| {
            b.iter_batched(
                || {
                    let mut batch = WriteBatch::new();
                    for _ in 0..100 {
                        k += 1;
                        batch.put(Cf::Data, k.to_be_bytes().to_vec(), value.clone());
                    }
                    batch
                },
                |batch| engine.write(batch),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
