//! `chain-bench`: committed transactions per second and commit latency of a
//! Lambda chain of validator processes on loopback.
//!
//! ```text
//! cargo run --release --bin chain-bench
//! cargo run --release --bin chain-bench -- --rate 1500 --duration 30 --accounts 400
//! ```
//!
//! It builds `lambda-chain` (release) if it is missing next to this binary,
//! generates a testnet with `lambda-chain testnet` (`--validators`, default
//! 4; `--accounts` funded senders; `--block-time-ms`), starts one `lambda-chain
//! start` process per validator, and waits for the first blocks. Then
//! `--workers` tasks submit signed transfers through the validators' APIs
//! (each sender always through the same validator, so its nonces arrive in
//! order) at `--rate` transactions per second in total for `--duration`
//! seconds, while a `SubscribeBlocks` stream on the first validator notes
//! when each transaction is seen in a committed block. After the load it
//! waits at most `--drain` seconds for the rest to commit, stops the
//! validators with SIGTERM and prints a summary to standard error, then one
//! JSON line with the keys `validators`, `tx_per_sec` (committed transfers
//! divided by the time from the first submission to the last commit),
//! `commit_p50_ms` and `commit_p99_ms` (submission → seen committed by the
//! subscriber), and the details (`offered_rate`, `submitted`, `committed`,
//! `refused`, `blocks`, `duration_s`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use lambda_chain::client::ChainClient;
use lambda_chain::node::home::Testnet;
use lambda_chain::tx::kind::Transfer;
use lambda_chain::tx::{Tx, TxBody, TxKind};
use lambda_chain::types::Hash;
use lambda_common::keys::{Address, SigningKey};
use lambda_testkit::{Process, wait_for_port};
use tokio::sync::Mutex;
use tokio_stream::StreamExt as _;

const CHAIN_ID: &str = "chain-bench";

#[derive(Parser, Debug, Clone)]
#[command(about = "Committed tx/s and commit latency of a local Lambda chain")]
struct Args {
    /// Validator processes.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Funded sender accounts.
    #[arg(long, default_value_t = 200)]
    accounts: usize,
    /// Offered load, transfers per second in total.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Load phase length, seconds.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// After the load, wait at most this long for the rest to commit.
    #[arg(long, default_value_t = 30)]
    drain: u64,
    /// Concurrent submitting tasks.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Target block time of the testnet, milliseconds.
    #[arg(long, default_value_t = 300)]
    block_time_ms: u64,
    /// First port of the testnet (2 per validator).
    #[arg(long, default_value_t = 29_400)]
    base_port: u16,
}

/// What the load and the subscriber share.
struct Shared {
    submitted: Mutex<HashMap<Hash, Instant>>,
    committed: Mutex<Vec<(Hash, Instant)>>,
    refused: AtomicU64,
    blocks: AtomicU64,
    stop: AtomicBool,
}

/// `lambda-chain` next to this binary (same target directory and
/// profile), built with cargo first if it is missing.
fn ensure_chain_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating chain-bench")?;
    let dir = exe.parent().context("chain-bench has no directory")?;
    let path = dir.join("lambda-chain");
    if path.exists() {
        return Ok(path);
    }
    let release = dir.file_name().is_some_and(|n| n == "release");
    eprintln!(
        "building lambda-chain ({}) …",
        if release { "release" } else { "dev" }
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "--locked",
        "-p",
        "lambda-chain",
        "--bin",
        "lambda-chain",
    ]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build")?;
    if !status.success() || !path.exists() {
        bail!(
            "cargo build of lambda-chain failed (expected {})",
            path.display()
        );
    }
    Ok(path)
}

/// Generates the testnet and starts one process per validator.
fn start_testnet(bin: &Path, dir: &Path, args: &Args) -> Result<(Testnet, Vec<Process>)> {
    let out = dir.join("net");
    let status = std::process::Command::new(bin)
        .args(["testnet", &args.validators.to_string(), "--out"])
        .arg(&out)
        .args(["--base-port", &args.base_port.to_string()])
        .args(["--accounts", &args.accounts.to_string()])
        .args(["--block-time-ms", &args.block_time_ms.to_string()])
        .args(["--chain-id", CHAIN_ID])
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("lambda-chain testnet failed");
    }
    let net = Testnet::load(&out)?;
    let mut procs = Vec::new();
    for v in &net.validators {
        let p = Process::spawn(
            bin.to_path_buf(),
            vec![
                "start".into(),
                "--home".into(),
                v.home.display().to_string(),
            ],
            vec![("LAMBDA_LOG".into(), "warn".into())],
            v.home.join("node.log"),
        )?;
        wait_for_port(v.api, Duration::from_secs(30)).with_context(|| p.log())?;
        procs.push(p);
    }
    Ok((net, procs))
}

/// Waits until every validator committed `height`.
async fn wait_height(net: &Testnet, height: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for v in &net.validators {
        let mut c = ChainClient::connect(&format!("http://{}", v.api)).await?;
        while c.status().await?.height < height {
            if Instant::now() > deadline {
                bail!("validator {} did not reach height {height}", v.address);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Follows committed blocks on `endpoint`, noting when each transaction
/// is first seen committed.
async fn subscribe(endpoint: String, shared: Arc<Shared>) -> Result<()> {
    let mut stream = ChainClient::connect(&endpoint).await?.subscribe(0).await?;
    while let Some(b) = stream.next().await {
        let b = b?;
        let now = Instant::now();
        shared.blocks.fetch_add(1, Ordering::Relaxed);
        let mut committed = shared.committed.lock().await;
        committed.extend(b.tx_hashes.iter().map(|h| (*h, now)));
    }
    Ok(())
}

/// One submitting task: its own senders, one validator, a paced loop.
async fn worker(
    endpoint: String,
    senders: Vec<(SigningKey, Address)>,
    period: Duration,
    shared: Arc<Shared>,
) -> Result<()> {
    let mut c = ChainClient::connect(&endpoint).await?;
    let mut nonces = vec![0u64; senders.len()];
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut i = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let k = i % senders.len();
        i += 1;
        let (key, to) = &senders[k];
        let body = TxBody {
            chain_id: CHAIN_ID.into(),
            nonce: nonces[k],
            fee: 1,
            kind: TxKind::Transfer(Transfer { to: *to, amount: 1 }),
        };
        let tx = Tx::sign(key, &body);
        let at = Instant::now();
        match c.submit(&tx).await {
            Ok(h) => {
                nonces[k] += 1;
                shared.submitted.lock().await.insert(h, at);
            }
            Err(e) => {
                if shared.refused.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("refused: {e}");
                }
            }
        }
    }
    Ok(())
}

/// Runs the load for `args.duration`, then drains.
async fn load(net: &Testnet, args: &Args, shared: Arc<Shared>) -> Result<()> {
    let keys: Vec<SigningKey> = net
        .accounts
        .iter()
        .map(|a| SigningKey::load(&a.key_file))
        .collect::<Result<_, _>>()?;
    let workers = args.workers.clamp(1, keys.len().max(1));
    let period = Duration::from_secs_f64(workers as f64 / args.rate.max(1) as f64);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let senders: Vec<(SigningKey, Address)> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| i % workers == w)
            .map(|(i, k)| (k.clone(), keys[(i + 1) % keys.len()].public().address()))
            .collect();
        let api = net.validators[w % net.validators.len()].api;
        tasks.push(tokio::spawn(worker(
            format!("http://{api}"),
            senders,
            period,
            shared.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    shared.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(args.drain);
    loop {
        let done = {
            let submitted = shared.submitted.lock().await;
            let committed = shared.committed.lock().await;
            let seen = committed
                .iter()
                .filter(|(h, _)| submitted.contains_key(h))
                .count();
            seen >= submitted.len()
        };
        if done || Instant::now() > deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The figures: (committed, tx/s, p50 ms, p99 ms).
async fn figures(shared: &Shared) -> Result<(u64, f64, f64, f64)> {
    let submitted = shared.submitted.lock().await;
    let committed = shared.committed.lock().await;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let first = submitted.values().min().copied();
    let mut last = None;
    for (h, at) in committed.iter() {
        if let Some(sent) = submitted.get(h) {
            hist.record(at.duration_since(*sent).as_micros().max(1) as u64)?;
            last = Some(last.map_or(*at, |l: Instant| l.max(*at)));
        }
    }
    let n = hist.len();
    let tps = match (first, last) {
        (Some(f), Some(l)) if l > f => n as f64 / l.duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Ok((n, tps, ms(0.5), ms(0.99)))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let bin = ensure_chain_binary()?;
    let tmp = tempfile::tempdir()?;
    let (net, mut procs) = start_testnet(&bin, tmp.path(), &args)?;
    eprintln!(
        "started {} validators ({} ms blocks), {} funded senders",
        net.validators.len(),
        args.block_time_ms,
        net.accounts.len()
    );
    wait_height(&net, 2).await?;
    let shared = Arc::new(Shared {
        submitted: Mutex::new(HashMap::new()),
        committed: Mutex::new(Vec::new()),
        refused: AtomicU64::new(0),
        blocks: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let sub = tokio::spawn(subscribe(
        format!("http://{}", net.validators[0].api),
        shared.clone(),
    ));
    load(&net, &args, shared.clone()).await?;
    sub.abort();
    for p in &mut procs {
        if let Err(e) = p.terminate(Duration::from_secs(20)) {
            eprintln!("a validator did not stop cleanly: {e}");
        }
    }
    let (committed, tps, p50, p99) = figures(&shared).await?;
    let submitted = shared.submitted.lock().await.len();
    let refused = shared.refused.load(Ordering::Relaxed);
    let blocks = shared.blocks.load(Ordering::Relaxed);
    eprintln!(
        "{committed} of {submitted} submitted transfers committed ({refused} refused) in {blocks} blocks: {tps:.0} tx/s; commit latency p50 {p50:.1} ms, p99 {p99:.1} ms (offered {} tx/s for {} s, {} validators)",
        args.rate,
        args.duration,
        net.validators.len()
    );
    println!(
        "{}",
        serde_json::json!({
            "validators": net.validators.len(),
            "tx_per_sec": tps.round(),
            "commit_p50_ms": p50,
            "commit_p99_ms": p99,
            "offered_rate": args.rate,
            "submitted": submitted,
            "committed": committed,
            "refused": refused,
            "blocks": blocks,
            "duration_s": args.duration,
        })
    );
    Ok(())
}
