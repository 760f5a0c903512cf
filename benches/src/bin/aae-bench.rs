//! Anti-entropy benchmark: two replicas (RocksDB stores in temporary
//! directories, without fsync) hold the same `--keys` keys except a
//! `--divergent` share, changed on one side or on both (concurrently). The
//! real exchange code (`Exchanger` over the in-process peer, which answers
//! with the same functions as the gRPC service) runs until both Merkle
//! roots agree. It reports the time to converge, the bytes of every
//! exchange message (protobuf-encoded requests and answers), and the
//! minimal bytes: the encoded sizes of the versions one side lacked.
//!
//! ```text
//! cargo run --release --bin aae-bench [-- --keys 1000000 --divergent 0.001]
//! ```
//!
//! The last line of output is one JSON object with the keys `keys`,
//! `divergent`, `seconds`, `bytes_sent`, `minimal_bytes`.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lambda_db::cluster::aae::exchange::{ExchangeLimits, Exchanger};
use lambda_db::cluster::aae::peer::{InProcess, SyncCalls, SyncPeer};
use lambda_db::cluster::transport::Peer;
use lambda_db::keyspace::Keyspace;
use lambda_db::placement::DeviceId;
use lambda_db::storage::{Engine, RocksEngine, RocksOptions};
use lambda_db::store::LocalStore;
use lambda_db::version::codec::encode_object;
use lambda_db::version::{Update, Value, VersionVector, VersionedObject};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

#[derive(Parser, Debug)]
#[command(about = "Merkle anti-entropy between two replicas: time and bytes to converge")]
struct Args {
    /// Keys held by both replicas.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Share of the keys that differ.
    #[arg(long, default_value_t = 0.001)]
    divergent: f64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Partitions (a power of two; the node default is 4096).
    #[arg(long, default_value_t = 4096)]
    partitions: u32,
    /// Partitions per roots call.
    #[arg(long, default_value_t = 256)]
    batch_partitions: usize,
    /// Seed of the choice of divergent keys.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Most exchange passes before giving up.
    #[arg(long, default_value_t = 10)]
    max_passes: u32,
}

fn update(value: Vec<u8>, context: VersionVector) -> Update {
    Update {
        value: Value::Live(value),
        context,
        timestamp_ms: 1,
        last_write_wins: false,
    }
}

fn open(dir: &std::path::Path, name: &str, ks: Keyspace) -> anyhow::Result<Arc<LocalStore>> {
    let mut opts = RocksOptions::new(dir.join(name));
    opts.sync_writes = false;
    let engine: Arc<dyn Engine> = Arc::new(RocksEngine::open(&opts)?);
    Ok(Arc::new(LocalStore::open(engine, ks)?))
}

fn key(i: u64) -> Vec<u8> {
    format!("key-{i:010}").into_bytes()
}

/// Writes every key at `a` and copies its object to `b`.
fn populate(a: &LocalStore, b: &LocalStore, keys: u64, value_bytes: usize) -> anyhow::Result<()> {
    let value = vec![0x5A_u8; value_bytes];
    for i in 0..keys {
        let k = key(i);
        let obj = a.coordinate(&k, update(value.clone(), VersionVector::new()))?;
        b.merge(&k, &obj)?;
    }
    Ok(())
}

/// Changes `count` random keys: a third at `a` only, a third at `b` only, a
/// third at both (concurrent siblings). Returns the minimal bytes: the
/// encoded size of each new version the other side lacks.
fn diverge(a: &LocalStore, b: &LocalStore, args: &Args, count: u64) -> anyhow::Result<u64> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut all: Vec<u64> = (0..args.keys).collect();
    all.shuffle(&mut rng);
    let value = vec![0xA5_u8; args.value_bytes];
    let mut minimal = 0u64;
    let write = |s: &LocalStore, k: &[u8]| -> anyhow::Result<VersionedObject> {
        let ctx = s.get(k)?.clock().clone();
        Ok(s.coordinate(k, update(value.clone(), ctx))?)
    };
    for (n, &i) in all.iter().take(count as usize).enumerate() {
        let k = key(i);
        match n % 3 {
            0 => minimal += encode_object(&write(a, &k)?).len() as u64,
            1 => minimal += encode_object(&write(b, &k)?).len() as u64,
            _ => {
                minimal += encode_object(&write(a, &k)?).len() as u64;
                minimal += encode_object(&write(b, &k)?).len() as u64;
            }
        }
    }
    Ok(minimal)
}

fn equal(a: &LocalStore, b: &LocalStore, partitions: u32) -> bool {
    (0..partitions).all(|p| {
        let (x, y) = (a.merkle().summary(p), b.merkle().summary(p));
        (x.root, x.keys) == (y.root, y.keys)
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ks = Keyspace::new(args.partitions)?;
    let dir = tempfile::tempdir().context("temporary directory")?;
    let (a, b) = (open(dir.path(), "a", ks)?, open(dir.path(), "b", ks)?);
    let divergent = ((args.keys as f64) * args.divergent).round() as u64;

    let t = Instant::now();
    populate(&a, &b, args.keys, args.value_bytes)?;
    let minimal_bytes = diverge(&a, &b, &args, divergent)?;
    println!(
        "populated {} keys ({} divergent) in {:.1} s",
        args.keys,
        divergent,
        t.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Runtime::new()?;
    let calls: Arc<dyn SyncCalls> = Arc::new(InProcess::new(b.clone(), None));
    let peer = SyncPeer::new(
        calls,
        Peer {
            id: DeviceId::from("b"),
            endpoint: "in-process".into(),
        },
    );
    let exchanger = Exchanger::new(a.clone(), ExchangeLimits::default());
    let partitions: Vec<u32> = (0..args.partitions).collect();
    let t = Instant::now();
    let (mut bytes_sent, mut repaired, mut passes) = (0u64, 0u64, 0u32);
    while passes < args.max_passes {
        passes += 1;
        for chunk in partitions.chunks(args.batch_partitions.max(1)) {
            let outcomes = runtime.block_on(exchanger.exchange(&peer, chunk))?;
            bytes_sent += outcomes.iter().map(|o| o.bytes).sum::<u64>();
            repaired += outcomes.iter().map(|o| o.keys_repaired).sum::<u64>();
        }
        if equal(&a, &b, args.partitions) {
            break;
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        equal(&a, &b, args.partitions),
        "replicas still differ after {passes} passes"
    );
    println!(
        "converged in {passes} pass(es), {seconds:.2} s: {repaired} keys repaired, {bytes_sent} bytes exchanged ({:.2}x the {minimal_bytes} minimal)",
        bytes_sent as f64 / minimal_bytes.max(1) as f64
    );
    println!(
        "{}",
        serde_json::json!({
            "keys": args.keys,
            "divergent": divergent,
            "seconds": seconds,
            "bytes_sent": bytes_sent,
            "minimal_bytes": minimal_bytes,
            "keys_repaired": repaired,
            "passes": passes,
            "partitions": args.partitions,
        })
    );
    Ok(())
}
