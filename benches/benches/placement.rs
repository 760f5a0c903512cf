//! Criterion benchmarks of placement: key → preference list lookup (the hot
//! path of every request) and computing a placement (once per epoch).
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_db::placement::{Device, DeviceId, Membership, Placement, PlacementConfig};

fn membership(n: u64) -> Membership {
    Membership {
        epoch: 1,
        devices: (0..n)
            .map(|i| Device {
                id: DeviceId(format!("dev-{i:04}")),
                capacity: 1 + i % 16,
                bandwidth: 1 + i % 16,
                zone: format!("zone-{}", i % 8),
            })
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    for (devices, partitions) in [(100u64, 4096u32), (1000, 1 << 16)] {
        let cfg = PlacementConfig {
            partitions,
            weight_unit: 1,
            ..PlacementConfig::default()
        };
        let m = membership(devices);
        let Ok(placement) = Placement::compute(&m, &cfg) else {
            return;
        };
        let keys: Vec<Vec<u8>> = (0..4096u32)
            .map(|i| format!("user/{i}/object").into_bytes())
            .collect();
        let mut i = 0;
        c.bench_function(
            &format!("placement/lookup/{devices}dev/q{partitions}"),
            |b| {
                b.iter(|| {
                    i = (i + 1) % keys.len();
                    black_box(placement.preference_list_of_key(black_box(&keys[i])).len())
                })
            },
        );
        let mut group = c.benchmark_group("placement/compute");
        group.sample_size(10);
        group.bench_function(format!("{devices}dev/q{partitions}"), |b| {
            b.iter(|| Placement::compute(black_box(&m), &cfg).map(|p| p.list_len()))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
