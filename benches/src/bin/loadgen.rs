//! `loadgen`: a YCSB-like load generator for Lambda.
//!
//! ```text
//! cargo run --release --bin loadgen -- --spawn 3 --workload a --clients 16 --duration 20
//! cargo run --release --bin loadgen -- --endpoints 127.0.0.1:7070 --workload c
//! ```
//!
//! Workload A is 50 % reads and 50 % updates, workload C reads only; keys are
//! drawn from a scrambled zipfian distribution (YCSB's, constant 0.99) over
//! `--records` keys, values are `--value-size` bytes (1 KiB). A load phase
//! writes every record first. With `--spawn K` it starts its own cluster of K
//! `lambda-db` processes on loopback (building the binary if needed) and stops
//! it afterwards. The run is bounded by `--duration` seconds and by
//! `--max-ops`. It prints a summary, then one JSON line with the keys
//! `workload`, `clients`, `ops`, `ops_per_sec`, `p50_ms`, `p99_ms`, `p999_ms`,
//! `errors`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use lambda_proto::kv::v1 as pb;
use lambda_proto::kv::v1::kv_client::KvClient;
use lambda_testkit::cluster::{ClusterSpec, LocalCluster};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use tonic::transport::Channel;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Workload {
    /// 50 % reads, 50 % updates.
    A,
    /// 100 % reads.
    C,
}

#[derive(Parser, Debug)]
#[command(about = "YCSB-like load generator for Lambda")]
struct Args {
    /// Storage node endpoints (host:port), comma separated.
    #[arg(long, value_delimiter = ',')]
    endpoints: Vec<String>,
    /// Start a local cluster of this many node processes instead.
    #[arg(long)]
    spawn: Option<usize>,
    #[arg(long, value_enum, default_value_t = Workload::A)]
    workload: Workload,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Run phase length, seconds.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Stop the run phase after this many operations.
    #[arg(long, default_value_t = 10_000_000)]
    max_ops: u64,
    /// Number of records (distinct keys).
    #[arg(long, default_value_t = 10_000)]
    records: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    #[arg(long, default_value_t = 3)]
    n: u32,
    #[arg(long, default_value_t = 2)]
    r: u32,
    #[arg(long, default_value_t = 2)]
    w: u32,
    /// RNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// FNV-1a, to scramble zipfian ranks over the key space as YCSB does.
fn scramble(rank: u64, records: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in rank.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % records
}

fn key(i: u64) -> Vec<u8> {
    format!("user{i:012}").into_bytes()
}

struct Shared {
    args: Args,
    options: pb::RequestOptions,
    stop: AtomicBool,
    ops: AtomicU64,
    errors: AtomicU64,
}

async fn client_loop(shared: Arc<Shared>, channel: Channel, seed: u64) -> Result<Histogram<u64>> {
    let mut kv = KvClient::new(channel);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let zipf = Zipf::new(shared.args.records as f64, 0.99)?;
    let value = vec![0x5a_u8; shared.args.value_size];
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.ops.fetch_add(1, Ordering::Relaxed) >= shared.args.max_ops {
            break;
        }
        let k = key(scramble(zipf.sample(&mut rng) as u64, shared.args.records));
        let read = shared.args.workload == Workload::C || rng.random_bool(0.5);
        let started = Instant::now();
        let ok = if read {
            let req = pb::GetRequest {
                key: k,
                options: Some(shared.options),
            };
            kv.get(req).await.is_ok()
        } else {
            let req = pb::PutRequest {
                key: k,
                value: value.clone(),
                context: vec![],
                options: Some(pb::RequestOptions {
                    last_write_wins: true,
                    ..shared.options
                }),
            };
            kv.put(req).await.is_ok()
        };
        if ok {
            hist.record(started.elapsed().as_micros().max(1) as u64)?;
        } else {
            shared.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(hist)
}

async fn load(channels: &[Channel], shared: &Shared) -> Result<()> {
    let started = Instant::now();
    let per = shared.args.records.div_ceil(channels.len() as u64 * 4);
    let mut tasks = Vec::new();
    for t in 0..(channels.len() * 4) as u64 {
        let mut kv = KvClient::new(channels[t as usize % channels.len()].clone());
        let (opts, size, records) = (shared.options, shared.args.value_size, shared.args.records);
        tasks.push(tokio::spawn(async move {
            for i in (t * per)..((t + 1) * per).min(records) {
                let req = pb::PutRequest {
                    key: key(i),
                    value: vec![0xa5; size],
                    context: vec![],
                    options: Some(opts),
                };
                kv.put(req)
                    .await
                    .with_context(|| format!("loading record {i}"))?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!(
        "loaded {} records in {:.1} s",
        shared.args.records,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn ensure_node_binary() -> Result<()> {
    if lambda_testkit::binary("lambda-db").is_ok() {
        return Ok(());
    }
    eprintln!("building lambda-db (release) for --spawn …");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "lambda-db",
            "--bin",
            "lambda-db",
        ])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of lambda-db failed");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let cluster = match args.spawn {
        Some(k) => {
            ensure_node_binary()?;
            let mut spec = ClusterSpec::new(k);
            spec.env.push(("LAMBDA_LOG".into(), "warn".into()));
            let c = LocalCluster::start(tmp.path(), &spec)?;
            eprintln!("started {k} nodes: {}", c.endpoints().join(", "));
            tokio::time::sleep(Duration::from_secs(3)).await;
            Some(c)
        }
        None => None,
    };
    let endpoints = match &cluster {
        Some(c) => c.endpoints(),
        None if args.endpoints.is_empty() => bail!("give --endpoints or --spawn K"),
        None => args
            .endpoints
            .iter()
            .map(|e| {
                if e.contains("://") {
                    e.clone()
                } else {
                    format!("http://{e}")
                }
            })
            .collect(),
    };
    let channels = endpoints
        .iter()
        .map(|e| {
            Ok(Channel::from_shared(e.clone())?
                .tcp_nodelay(true)
                .connect_lazy())
        })
        .collect::<Result<Vec<_>>>()?;
    // A one-node cluster can hold one replica only.
    let (n, r, w) = if args.spawn == Some(1) {
        (1, 1, 1)
    } else {
        (args.n, args.r, args.w)
    };
    let options = pb::RequestOptions {
        n: Some(n),
        r: Some(r),
        w: Some(w),
        timeout_ms: Some(5_000),
        last_write_wins: false,
    };
    let shared = Arc::new(Shared {
        args,
        options,
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    load(&channels, &shared).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..shared.args.clients {
        let ch = channels[c % channels.len()].clone();
        tasks.push(tokio::spawn(client_loop(
            shared.clone(),
            ch,
            shared.args.seed + c as u64,
        )));
    }
    tokio::time::sleep(Duration::from_secs(shared.args.duration)).await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for t in tasks {
        hist.add(t.await??)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let ops = hist.len();
    let errors = shared.errors.load(Ordering::Relaxed);
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let workload = match shared.args.workload {
        Workload::A => "A",
        Workload::C => "C",
    };
    eprintln!(
        "workload {workload}: {ops} ops in {secs:.1} s = {:.0} ops/s; p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; {errors} errors; {} node(s), N={n} R={r} W={w}",
        ops as f64 / secs,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        endpoints.len()
    );
    println!(
        "{}",
        serde_json::json!({
            "workload": workload, "clients": shared.args.clients, "ops": ops,
            "ops_per_sec": (ops as f64 / secs).round(), "p50_ms": ms(0.5), "p99_ms": ms(0.99),
            "p999_ms": ms(0.999), "errors": errors,
        })
    );
    drop(cluster);
    Ok(())
}
