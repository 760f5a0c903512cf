//! `tsdb-bench`: compression, encode/decode speed and query latency of the
//! agent's time-series store on a generated host-metrics dataset.
//!
//! ```text
//! cargo run --release --bin tsdb-bench [-- --hosts 10 --hours 24 --seed 1 --jitter-ms 3]
//! ```
//!
//! Dataset (seeded): per host, 10 s scrapes with ±3 ms timestamp jitter
//! (`--jitter-ms`) shared by the host's series, one day by default:
//!
//! - 4 × `cpu_usage_percent{cpu}`: gauge, busy share of 1000 ticks per
//!   scrape (0.1 % steps) around a drifting host load;
//! - `memory_used_bytes`, `memory_available_bytes`: gauges in 4 KiB pages,
//!   random walk; `memory_total_bytes`: constant;
//! - `network_receive_bytes_total`, `network_transmit_bytes_total`:
//!   counters, noisy rate with bursts;
//! - `disk_read_bytes_total`, `disk_written_bytes_total`: counters in
//!   512-byte sectors, idle most scrapes, bursts otherwise;
//! - `load1`: gauge with two decimals; `procs_running`: small integer gauge.
//!
//! Blocks are the store's default 10-minute windows; bytes per point count
//! every byte of every sealed block (headers and checksums included). The
//! last line is one JSON object.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use lambda_agent::tsdb::gorilla::GorillaEncoder;
use lambda_agent::tsdb::{
    MemoryStore, Point, Score, SeriesKey, SeriesPoints, TopKQuery, Tsdb, TsdbConfig, block,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const STEP_MS: i64 = 10_000;
const BLOCK_MS: i64 = 600_000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

struct Args {
    hosts: usize,
    hours: i64,
    seed: u64,
    jitter_ms: i64,
}

fn args() -> Result<Args> {
    let mut a = Args {
        hosts: 10,
        hours: 24,
        seed: 1,
        jitter_ms: 3,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for pair in v.chunks(2) {
        let val = pair.get(1).context("every option takes a value")?;
        match pair[0].as_str() {
            "--hosts" => a.hosts = val.parse()?,
            "--hours" => a.hours = val.parse()?,
            "--seed" => a.seed = val.parse()?,
            "--jitter-ms" => a.jitter_ms = val.parse()?,
            o => anyhow::bail!("unknown option {o} (use --hosts, --hours, --seed, --jitter-ms)"),
        }
    }
    Ok(a)
}

/// Generates every series of one host.
fn host_series(
    host: usize,
    steps: i64,
    jitter: i64,
    rng: &mut StdRng,
) -> Result<Vec<(SeriesKey, Vec<Point>)>> {
    let h = format!("host-{host:02}");
    let key = |m: &str, extra: Option<(&str, String)>| {
        let mut l = vec![("host", h.clone())];
        l.extend(extra);
        SeriesKey::new(m, l)
    };
    let mut out: Vec<(SeriesKey, Vec<Point>)> = Vec::new();
    for c in 0..4 {
        out.push((
            key("cpu_usage_percent", Some(("cpu", c.to_string())))?,
            Vec::new(),
        ));
    }
    for m in [
        "memory_used_bytes",
        "memory_available_bytes",
        "memory_total_bytes",
        "network_receive_bytes_total",
        "network_transmit_bytes_total",
        "disk_read_bytes_total",
        "disk_written_bytes_total",
        "load1",
        "procs_running",
    ] {
        out.push((key(m, None)?, Vec::new()));
    }
    let total_mem = 16.0 * 1024.0 * 1024.0 * 1024.0;
    let mut load: f64 = rng.random_range(0.05..0.6);
    let mut used_pages: f64 = rng.random_range(500_000.0..2_500_000.0);
    let (mut rx, mut tx, mut rd, mut wr) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let rx_rate: f64 = rng.random_range(1e4..5e6);
    for i in 0..steps {
        let ts = T0 + i * STEP_MS + rng.random_range(-jitter..=jitter);
        load = (load + rng.random_range(-0.02f64..0.02)).clamp(0.01, 0.99);
        let mut vals = Vec::with_capacity(13);
        for _ in 0..4 {
            let busy = (load * 1000.0 + rng.random_range(-80.0f64..80.0))
                .clamp(0.0, 1000.0)
                .round();
            vals.push(busy / 10.0);
        }
        if rng.random_range(0..4) == 0 {
            used_pages = (used_pages + f64::from(rng.random_range(-2000..2000))).max(1000.0);
        }
        vals.push(used_pages * 4096.0);
        vals.push(total_mem - used_pages * 4096.0);
        vals.push(total_mem);
        rx += (rx_rate * 10.0 * rng.random_range(0.5f64..1.5)).round();
        tx += (rx_rate * 2.0 * rng.random_range(0.3f64..1.7)).round();
        vals.push(rx);
        vals.push(tx);
        if rng.random_range(0..5) == 0 {
            rd += f64::from(rng.random_range(1..2048)) * 512.0;
        }
        if rng.random_range(0..2) == 0 {
            wr += f64::from(rng.random_range(1..512)) * 512.0;
        }
        vals.push(rd);
        vals.push(wr);
        vals.push((load * 4.0 * 100.0).round() / 100.0);
        vals.push(f64::from(rng.random_range(0..3) + (load * 4.0) as i32));
        for (s, v) in out.iter_mut().zip(vals) {
            s.1.push(Point::new(ts, v));
        }
    }
    Ok(out)
}

/// Cuts points into 10-minute windows, as the store seals them.
fn windows(points: &[Point]) -> Vec<&[Point]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=points.len() {
        let cut = i == points.len()
            || points[i].timestamp_ms.div_euclid(BLOCK_MS)
                != points[start].timestamp_ms.div_euclid(BLOCK_MS);
        if cut {
            out.push(&points[start..i]);
            start = i;
        }
    }
    out
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> Result<()> {
    let a = args()?;
    let steps = a.hours * 3600 * 1000 / STEP_MS;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let mut data = Vec::new();
    for h in 0..a.hosts {
        data.extend(host_series(h, steps, a.jitter_ms, &mut rng)?);
    }
    let points: usize = data.iter().map(|s| s.1.len()).sum();
    println!(
        "dataset: {} hosts x 13 series ({} series), {} h of 10 s scrapes with ±{} ms jitter, {points} points",
        a.hosts,
        data.len(),
        a.hours,
        a.jitter_ms
    );

    // Encode: every series into 10-minute chunks as points arrive (the
    // streaming Gorilla encoder of the head), then seal each chunk into a
    // block (which also tries the decimal mode).
    let started = Instant::now();
    let mut chunks: Vec<GorillaEncoder> = Vec::new();
    for (_, pts) in &data {
        for w in windows(pts) {
            let mut enc = GorillaEncoder::new();
            for p in w {
                enc.push(p.timestamp_ms, p.value)
                    .map_err(|l| anyhow::anyhow!("order after {l}"))?;
            }
            chunks.push(enc);
        }
    }
    let stream_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let blocks: Vec<Vec<u8>> = chunks.iter().map(block::encode).collect();
    let seal_s = started.elapsed().as_secs_f64();
    let encode_s = stream_s + seal_s;
    let bytes: usize = blocks.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut decoded = 0usize;
    for b in &blocks {
        decoded += block::decode(b)?.len();
    }
    let decode_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(decoded == points, "decoded {decoded} of {points} points");
    let bpp = bytes as f64 / points as f64;
    println!(
        "blocks: {} of 10 min, {bytes} bytes, {bpp:.3} bytes/point (headers and checksums included)",
        blocks.len()
    );
    // Per-metric breakdown and the paper's 2-hour blocks, for comparison.
    let mut per_metric: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut bytes_2h = 0usize;
    for (k, pts) in &data {
        let e = per_metric.entry(k.metric().to_string()).or_default();
        for w in windows(pts) {
            e.0 += block::encode_points(w)?.len();
            e.1 += w.len();
        }
        for w in pts.chunks(720) {
            bytes_2h += block::encode_points(w)?.len();
        }
    }
    for (m, (b, n)) in &per_metric {
        println!("  {m:32} {:.3} bytes/point", *b as f64 / *n as f64);
    }
    println!(
        "with 2-hour blocks (as in the Gorilla paper): {:.3} bytes/point",
        bytes_2h as f64 / points as f64
    );
    let enc_pps = points as f64 / encode_s;
    let dec_pps = points as f64 / decode_s;
    println!(
        "encode {enc_pps:.0} points/s (streaming Gorilla alone {:.0} points/s, sealing with the mode choice {:.0} points/s), decode {dec_pps:.0} points/s",
        points as f64 / stream_s,
        points as f64 / seal_s
    );

    let (ingest_pps, q1h, q1d, agg1d, topk1h) = store_figures(&data, steps)?;
    println!("store ingest (WAL fsync per batch of 60 scrapes): {ingest_pps:.0} points/s");
    println!(
        "range query, one series, median of 20: 1 h {q1h:.3} ms, 1 day {q1d:.3} ms (in-memory cluster stand-in)"
    );
    println!(
        "1-minute step aggregates over 1 day: {agg1d:.3} ms; top-5 cpu_usage_percent by max over 1 h: {topk1h:.3} ms"
    );
    let json = serde_json::json!({
        "points": points,
        "bytes_per_point": (bpp * 1000.0).round() / 1000.0,
        "encode_points_per_sec": enc_pps.round(),
        "decode_points_per_sec": dec_pps.round(),
        "bytes_per_point_2h_blocks": ((bytes_2h as f64 / points as f64) * 1000.0).round() / 1000.0,
        "query_1h_ms": q1h,
        "query_1d_ms": q1d,
    });
    println!("{json}");
    Ok(())
}

type StoreFigures = (f64, f64, f64, f64, f64);

/// Ingests the dataset through the store (WAL on disk, blocks into an
/// in-memory store) and times queries.
fn store_figures(data: &[(SeriesKey, Vec<Point>)], steps: i64) -> Result<StoreFigures> {
    let dir = tempfile::tempdir()?;
    let remote = Arc::new(MemoryStore::new());
    let cfg = TsdbConfig {
        block_ms: BLOCK_MS,
        max_pending_blocks: 1 << 20,
        ..TsdbConfig::default()
    };
    let db = Tsdb::open(dir.path(), cfg, remote)?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let started = Instant::now();
    let steps = usize::try_from(steps)?;
    for from in (0..steps).step_by(60) {
        let to = (from + 60).min(steps);
        let batch: Vec<SeriesPoints> = data
            .iter()
            .map(|(k, p)| SeriesPoints {
                key: k.clone(),
                points: p[from..to].to_vec(),
            })
            .collect();
        db.ingest(&batch)?;
        rt.block_on(db.upload_pending())?;
    }
    let ingest_pps =
        data.iter().map(|s| s.1.len()).sum::<usize>() as f64 / started.elapsed().as_secs_f64();
    db.seal_all();
    while rt.block_on(db.upload_pending())? > 0 {}
    let key = &data[0].0;
    let end = T0 + i64::try_from(steps)? * STEP_MS;
    let time = |t0: i64, t1: i64| -> Result<f64> {
        let mut v = Vec::new();
        for _ in 0..20 {
            let s = Instant::now();
            let n = rt.block_on(db.range(key, t0, t1))?.len();
            anyhow::ensure!(n > 0, "empty range");
            v.push(s.elapsed().as_secs_f64() * 1e3);
        }
        Ok(median_ms(v))
    };
    let q1h = time(end - 3_600_000, end)?;
    let q1d = time(end - 86_400_000, end)?;
    let s = Instant::now();
    rt.block_on(db.aggregate(key, end - 86_400_000, end, 60_000))?;
    let agg = s.elapsed().as_secs_f64() * 1e3;
    let q = TopKQuery {
        metric: "cpu_usage_percent".into(),
        matchers: vec![],
        t0: end - 3_600_000 - 1234,
        t1: end - 1234,
        k: 5,
        score: Score::Max,
        sub_domains: 16,
    };
    let s = Instant::now();
    rt.block_on(db.top_k(&q))?;
    let topk = s.elapsed().as_secs_f64() * 1e3;
    Ok((ingest_pps, q1h, q1d, agg, topk))
}
