//! Criterion benchmarks of the versioning operations on the hot path:
//! version-vector merge and compare, object update and sync, and the
//! encodings of objects and contexts.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_db::version::codec::{decode_context, decode_object, encode_context, encode_object};
use lambda_db::version::{ActorId, Update, Value, VersionVector, VersionedObject};

fn clock(actors: u64, base: u64) -> VersionVector {
    (0..actors).map(|a| (ActorId(a), base + a)).collect()
}

fn object(siblings: u64) -> VersionedObject {
    let mut o = VersionedObject::default();
    for i in 0..siblings {
        o.update(
            ActorId(i % 3),
            Update {
                value: Value::Live(vec![7; 1024]),
                context: VersionVector::new(),
                timestamp_ms: i as i64,
                last_write_wins: false,
            },
        );
    }
    o
}

fn bench(c: &mut Criterion) {
    let a = clock(5, 10);
    let b = clock(5, 12);
    c.bench_function("clock/merge/5", |bch| {
        bch.iter(|| black_box(&a).merged(black_box(&b)))
    });
    c.bench_function("clock/compare/5", |bch| {
        bch.iter(|| black_box(&a).compare(black_box(&b)))
    });
    let one = object(1);
    c.bench_function("object/update_with_context", |bch| {
        bch.iter(|| {
            let mut o = one.clone();
            o.update(
                ActorId(1),
                Update {
                    value: Value::Live(vec![1; 1024]),
                    context: one.clock().clone(),
                    timestamp_ms: 0,
                    last_write_wins: false,
                },
            )
        })
    });
    let x = object(3);
    let mut y = object(2);
    y.update(
        ActorId(9),
        Update {
            value: Value::Live(vec![1; 1024]),
            context: VersionVector::new(),
            timestamp_ms: 0,
            last_write_wins: false,
        },
    );
    c.bench_function("object/sync/3x3", |bch| {
        bch.iter(|| black_box(&x).synced(black_box(&y)))
    });
    let bytes = encode_object(&x);
    c.bench_function("codec/encode_object/3x1KiB", |bch| {
        bch.iter(|| encode_object(black_box(&x)))
    });
    c.bench_function("codec/decode_object/3x1KiB", |bch| {
        bch.iter(|| decode_object(black_box(&bytes)))
    });
    let ctx = encode_context(x.clock());
    c.bench_function("codec/decode_context", |bch| {
        bch.iter(|| decode_context(black_box(&ctx)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
