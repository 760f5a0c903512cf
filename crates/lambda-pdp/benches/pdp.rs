//! Criterion benchmarks of BLS-PDP on one thread: tag generation
//! (`pdp/tag/s{S}`, throughput in bytes), proving (`pdp/prove/s{S}/c{C}`)
//! and verifying (`pdp/verify/s{S}/c{C}`) for S in 1, 8, 32, 64 sectors per
//! block and C in 300, 460 challenged blocks. Before the timings it prints
//! proof sizes and tag overheads. The rayon pool is limited to one thread so
//! the figures are per core. Each group has one function per backend
//! (`bls12_381`, `blst`).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::hint::black_box;
use std::time::Duration;

use bls12_381::{G1Affine, Scalar};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use group::Curve;
use lambda_pdp::{
    Backend, Challenge, KeyPair, SECTOR_BYTES, Tagger, Verifier, hash, msm, prove_with, wire,
};

const SECTORS: [u32; 4] = [1, 8, 32, 64];
const COUNTS: [u32; 2] = [300, 460];
/// Blocks of the objects proven and verified (more than any C).
const OBJECT_BLOCKS: usize = 1000;
/// Blocks tagged per iteration of the tagging benchmark.
const TAG_BLOCKS: usize = 128;

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes()[7])
        .collect()
}

fn bench(c: &mut Criterion) {
    // One thread: per-core figures. Ignore the error if a pool exists.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    let keys = KeyPair::generate();
    let taggers = Backend::ALL.map(|b| Tagger::new(keys.clone()).with_backend(b));
    let tagger = &taggers[0];
    for s in SECTORS {
        let block = SECTOR_BYTES * s as usize;
        let bytes = data(TAG_BLOCKS * block);
        let mut g = c.benchmark_group(format!("pdp/tag/s{s}"));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(8))
            .throughput(Throughput::Bytes(bytes.len() as u64));
        for t in &taggers {
            g.bench_function(t.backend().name(), |b| {
                b.iter(|| t.tag(b"bench-object", black_box(&bytes), s).unwrap())
            });
        }
        g.finish();

        let object_bytes = data(OBJECT_BLOCKS * block);
        let object = tagger.tag(b"bench-object", &object_bytes, s).unwrap();
        let meta = object.metadata.metadata().clone();
        for count in COUNTS {
            let challenge = Challenge::new([count as u8; 32], count).unwrap();
            let fetch = |i: u64| {
                let start = i as usize * block;
                Ok((
                    object_bytes[start..start + block].to_vec(),
                    object.tags[i as usize],
                ))
            };
            let proof = prove_with(Backend::Native, &meta, &challenge, fetch).unwrap();
            println!(
                "pdp/size/s{s}/c{count}: proof payload {} B, encoded {} B; tag overhead {:.2} % (48 B per {block} B block)",
                proof.payload_bytes(),
                wire::encode_proof(&proof).len(),
                4800.0 / block as f64
            );
            let mut g = c.benchmark_group(format!("pdp/prove/s{s}/c{count}"));
            g.sample_size(20);
            for backend in Backend::ALL {
                g.bench_function(backend.name(), |b| {
                    b.iter(|| prove_with(backend, &meta, black_box(&challenge), fetch).unwrap())
                });
            }
            g.finish();
            let mut g = c.benchmark_group(format!("pdp/verify/s{s}/c{count}"));
            g.sample_size(10);
            for backend in Backend::ALL {
                let verifier = Verifier::new(&object.metadata)
                    .unwrap()
                    .with_backend(backend);
                g.bench_function(backend.name(), |b| {
                    b.iter(|| verifier.verify(black_box(&challenge), &proof).unwrap())
                });
            }
            g.finish();
        }
    }
}

/// The kernels the end-to-end figures are made of, to explain them:
/// hash-to-curve per block (with and without cofactor clearing), and the
/// native multi-scalar multiplications of the prover and the verifier.
fn parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("pdp/parts/hash_to_g1");
    let mut i = 0u64;
    g.bench_function("bls12_381", |b| {
        b.iter(|| {
            i += 1;
            hash::block_point(b"bench-object", i)
        })
    });
    g.bench_function("bls12_381-uncleared", |b| {
        b.iter(|| {
            i += 1;
            hash::block_point_uncleared(b"bench-object", i)
        })
    });
    g.bench_function("blst", |b| {
        b.iter(|| {
            i += 1;
            let msg = hash::block_message(b"bench-object", i);
            blstrs::G1Projective::hash_to_curve(&msg, hash::BLOCK_DST, &[])
        })
    });
    g.finish();
    let points: Vec<G1Affine> = (0..460u64)
        .map(|i| hash::block_point(b"p", i).to_affine())
        .collect();
    let short: Vec<Scalar> = (0..460u64)
        .map(|i| Scalar::from_raw([i.wrapping_mul(0x9e37_79b9_7f4a_7c15), !i, 0, 0]))
        .collect();
    let full: Vec<Scalar> = (0..32u64).map(|i| -Scalar::from(i + 1)).collect();
    let mut g = c.benchmark_group("pdp/parts/msm");
    g.bench_function("460x128/bls12_381", |b| {
        b.iter(|| msm::msm_bits(black_box(&points), &short, 128))
    });
    g.bench_function("32x255/bls12_381", |b| {
        b.iter(|| msm::msm(black_box(&points[..32]), &full))
    });
    g.finish();
}

criterion_group!(benches, bench, parts);
criterion_main!(benches);
