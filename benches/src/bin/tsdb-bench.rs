//! `tsdb-bench`: compression, encode/decode speed and query latency of the
//! agent's time-series store on a generated host-metrics dataset.
//!
//! ```text
//! cargo run --release --bin tsdb-bench [-- --hosts 10 --hours 24 --seed 1 --jitter-ms 3
//!     --memory-churn-pages 32 --breakdown]
//! ```
//!
//! Dataset (seeded): per host, 10 s scrapes with ±3 ms timestamp jitter
//! (`--jitter-ms`) shared by the host's series, one day by default:
//!
//! - 4 × `cpu_usage_percent{cpu}`: gauge, busy share of 1000 ticks per
//!   scrape (0.1 % steps) around a drifting host load;
//! - `memory_used_bytes`, `memory_available_bytes`: gauges in 4 KiB pages
//!   that move a little at every scrape (±32 pages: page cache, slabs;
//!   `--memory-churn-pages`, 0 for the dataset's earlier model where memory
//!   stood still at three scrapes in four) and by up to ±2000 pages at one
//!   scrape in four; `memory_total_bytes`: constant;
//! - `network_receive_bytes_total`, `network_transmit_bytes_total`:
//!   counters since boot, noisy rate;
//! - `disk_read_bytes_total`, `disk_written_bytes_total`: counters since
//!   boot in 512-byte sectors, idle most scrapes, bursts otherwise;
//! - `load1`: gauge with two decimals; `procs_running`: small integer gauge.
//!
//! Blocks are the store's default 10-minute windows; bytes per point count
//! every byte of every sealed block (headers and checksums included). The
//! generator also sums the information content of its random draws
//! (`-log2` of each drawn outcome's probability, the hidden host load
//! given for free): no lossless coder of one series at a time can average
//! below it, so it is the floor any figure should be read against.
//! `--breakdown` prints where the bits go per metric. The last line is one
//! JSON object.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
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
    churn_pages: i64,
    breakdown: bool,
}

fn args() -> Result<Args> {
    let mut a = Args {
        hosts: 10,
        hours: 24,
        seed: 1,
        jitter_ms: 3,
        churn_pages: 32,
        breakdown: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(opt) = it.next() {
        if opt == "--breakdown" {
            a.breakdown = true;
            continue;
        }
        let val = it.next().with_context(|| format!("{opt} takes a value"))?;
        match opt.as_str() {
            "--hosts" => a.hosts = val.parse()?,
            "--hours" => a.hours = val.parse()?,
            "--seed" => a.seed = val.parse()?,
            "--jitter-ms" => a.jitter_ms = val.parse()?,
            "--memory-churn-pages" => a.churn_pages = val.parse()?,
            o => anyhow::bail!(
                "unknown option {o} (use --hosts, --hours, --seed, --jitter-ms, --memory-churn-pages, --breakdown)"
            ),
        }
    }
    Ok(a)
}

/// A generated series: key, points, and the information content of its
/// values' random draws in bits.
struct Generated {
    key: SeriesKey,
    points: Vec<Point>,
    info_bits: f64,
}

/// `-log2` of the probability that a value uniform on `[lo, hi)`, clamped
/// to `[min, max]` and rounded, rounds to `k`.
fn rounded_uniform_bits(k: f64, lo: f64, hi: f64, min: f64, max: f64) -> f64 {
    let a = if k <= min { f64::NEG_INFINITY } else { k - 0.5 };
    let b = if k >= max { f64::INFINITY } else { k + 0.5 };
    let overlap = (b.min(hi) - a.max(lo)).max(1e-12);
    -(overlap / (hi - lo)).log2()
}

/// `-log2` of the probability of a memory step of `d` pages: a churn of
/// ±`c` pages, plus at one scrape in four a ±2000-page burst.
fn memory_step_bits(d: i64, c: i64) -> f64 {
    let width = (2 * c + 1) as f64;
    let churn = if d.abs() <= c { 1.0 / width } else { 0.0 };
    // Convolution of the churn with the burst (uniform on -2000..2000).
    let lo = (d - 1999).max(-c);
    let hi = (d + 2000).min(c);
    let burst = (hi - lo + 1).max(0) as f64 / (width * 4000.0);
    -(0.75 * churn + 0.25 * burst).log2()
}

/// Generates every series of one host.
fn host_series(host: usize, a: &Args, rng: &mut StdRng) -> Result<Vec<Generated>> {
    let steps = a.hours * 3600 * 1000 / STEP_MS;
    let (jitter, churn) = (a.jitter_ms, a.churn_pages);
    let h = format!("host-{host:02}");
    let key = |m: &str, extra: Option<(&str, String)>| {
        let mut l = vec![("host", h.clone())];
        l.extend(extra);
        SeriesKey::new(m, l)
    };
    let mut out: Vec<Generated> = Vec::new();
    let mut add = |k: SeriesKey| {
        out.push(Generated {
            key: k,
            points: Vec::new(),
            info_bits: 0.0,
        })
    };
    for c in 0..4 {
        add(key("cpu_usage_percent", Some(("cpu", c.to_string())))?);
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
        add(key(m, None)?);
    }
    let total_mem = 16.0 * 1024.0 * 1024.0 * 1024.0;
    let mut load: f64 = rng.random_range(0.05..0.6);
    let mut used_pages: i64 = rng.random_range(500_000..2_500_000);
    // Counters count since boot, days before the dataset starts.
    let rx_rate: f64 = rng.random_range(1e4..5e6);
    let uptime_s: f64 = rng.random_range(86_400.0..60.0 * 86_400.0);
    let mut rx = (rx_rate * uptime_s).round();
    let mut tx = (rx_rate * 0.2 * uptime_s).round();
    let mut rd = (uptime_s * rng.random_range(10.0..100.0)).round() * 512.0;
    let mut wr = (uptime_s * rng.random_range(10.0..100.0)).round() * 512.0;
    for i in 0..steps {
        let ts = T0 + i * STEP_MS + rng.random_range(-jitter..=jitter);
        let mut vals = Vec::with_capacity(13);
        let mut info = Vec::with_capacity(13);
        let prev_load = load;
        load = (load + rng.random_range(-0.02f64..0.02)).clamp(0.01, 0.99);
        for _ in 0..4 {
            let c = load * 1000.0;
            let busy = (c + rng.random_range(-80.0f64..80.0))
                .clamp(0.0, 1000.0)
                .round();
            vals.push(busy / 10.0);
            info.push(rounded_uniform_bits(busy, c - 80.0, c + 80.0, 0.0, 1000.0));
        }
        let mut step = rng.random_range(-churn..=churn);
        if rng.random_range(0..4) == 0 {
            step += rng.random_range(-2000..2000);
        }
        let before = used_pages;
        used_pages = (used_pages + step).max(1000);
        let mem_bits = memory_step_bits(used_pages - before, churn);
        vals.push(used_pages as f64 * 4096.0);
        vals.push(total_mem - used_pages as f64 * 4096.0);
        vals.push(total_mem);
        info.extend([mem_bits, mem_bits, 0.0]);
        rx += (rx_rate * 10.0 * rng.random_range(0.5f64..1.5)).round();
        tx += (rx_rate * 2.0 * rng.random_range(0.3f64..1.7)).round();
        vals.push(rx);
        vals.push(tx);
        info.push((rx_rate * 10.0).log2());
        info.push((rx_rate * 2.0 * 1.4).log2());
        let read = rng.random_range(0..5) == 0;
        if read {
            rd += f64::from(rng.random_range(1..2048)) * 512.0;
        }
        let written = rng.random_range(0..2) == 0;
        if written {
            wr += f64::from(rng.random_range(1..512)) * 512.0;
        }
        vals.push(rd);
        vals.push(wr);
        info.push(if read {
            -(0.2f64 / 2047.0).log2()
        } else {
            -(0.8f64).log2()
        });
        info.push(if written { 1.0 + 511f64.log2() } else { 1.0 });
        let l100 = (load * 4.0 * 100.0).round();
        vals.push(l100 / 100.0);
        let c = prev_load * 400.0;
        info.push(rounded_uniform_bits(l100, c - 8.0, c + 8.0, 4.0, 396.0));
        vals.push(f64::from(rng.random_range(0..3) + (load * 4.0) as i32));
        info.push(3f64.log2());
        for ((s, v), b) in out.iter_mut().zip(vals).zip(info) {
            s.points.push(Point::new(ts, v));
            s.info_bits += b;
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

/// Size of an encoder's points as a version-1 XOR block: plain Gorilla
/// with its header and checksum, for reference.
fn plain_gorilla_len(enc: &GorillaEncoder) -> usize {
    let varint_len = |v: u64| (64 - v.leading_zeros() as usize).div_ceil(7).max(1);
    let first = u64::try_from(enc.first_ts()).unwrap_or(0) << 1;
    1 + varint_len(u64::from(enc.count())) + varint_len(first) + 1 + enc.payload().len() + 4
}

/// What one metric's blocks hold, summed.
#[derive(Default)]
struct Acc {
    series: usize,
    points: usize,
    blocks: usize,
    bytes: usize,
    ts_bits: u64,
    value_bits: u64,
    overhead_bits: u64,
    grid_blocks: usize,
    decimal_blocks: usize,
    info_bits: f64,
    bytes_2h: usize,
}

impl Acc {
    fn add(&mut self, b: &Acc) {
        self.series += b.series;
        self.points += b.points;
        self.blocks += b.blocks;
        self.bytes += b.bytes;
        self.ts_bits += b.ts_bits;
        self.value_bits += b.value_bits;
        self.overhead_bits += b.overhead_bits;
        self.grid_blocks += b.grid_blocks;
        self.decimal_blocks += b.decimal_blocks;
        self.info_bits += b.info_bits;
        self.bytes_2h += b.bytes_2h;
    }
}

/// Per-metric sizes of the 10-minute `blocks` (in `data` order) and of
/// 2-hour blocks of the same points.
fn per_metric(data: &[Generated], blocks: &[Vec<u8>]) -> Result<BTreeMap<String, Acc>> {
    let mut out: BTreeMap<String, Acc> = BTreeMap::new();
    let mut it = blocks.iter();
    for g in data {
        let e = out.entry(g.key.metric().to_string()).or_default();
        e.series += 1;
        e.points += g.points.len();
        e.info_bits += g.info_bits;
        for _ in windows(&g.points) {
            let b = it.next().context("fewer blocks than windows")?;
            let l = block::layout(b)?;
            e.blocks += 1;
            e.bytes += b.len();
            e.ts_bits += l.timestamp_bits;
            e.value_bits += l.value_bits;
            e.overhead_bits += l.overhead_bits;
            e.grid_blocks += usize::from(l.timestamp_code == "grid");
            e.decimal_blocks += usize::from(l.value_code == "decimal");
        }
        for w in g.points.chunks(720) {
            e.bytes_2h += block::encode_points(w)?.len();
        }
    }
    Ok(out)
}

fn print_breakdown(metrics: &BTreeMap<String, Acc>, total: &Acc, ts_info: f64) {
    println!(
        "breakdown, bits per point (10-minute blocks): timestamps | values | overhead | = bytes/point \
         | floor: values (timestamps {ts_info:.2}) | grid/decimal blocks | 2-hour blocks bytes/point"
    );
    let mut rows: Vec<(&str, &Acc)> = metrics.iter().map(|(m, a)| (m.as_str(), a)).collect();
    rows.push(("all", total));
    for (m, a) in rows {
        let n = a.points as f64;
        println!(
            "  {m:30} {:6.2} | {:6.2} | {:5.2} | = {:5.3} | {:6.2} | {:3.0}% / {:3.0}% | {:5.3}",
            a.ts_bits as f64 / n,
            a.value_bits as f64 / n,
            a.overhead_bits as f64 / n,
            a.bytes as f64 / n,
            a.info_bits / n,
            100.0 * a.grid_blocks as f64 / a.blocks as f64,
            100.0 * a.decimal_blocks as f64 / a.blocks as f64,
            a.bytes_2h as f64 / n,
        );
    }
}

/// The dataset as the head's chunks and their sealed blocks, with timings.
struct Coded {
    chunks: Vec<GorillaEncoder>,
    blocks: Vec<Vec<u8>>,
    bytes: usize,
    stream_s: f64,
    seal_s: f64,
    decode_s: f64,
}

/// Encodes every series into 10-minute chunks as points arrive (the
/// streaming Gorilla encoder of the head), seals each chunk into a block
/// (which picks each section's code), and decodes every block.
fn encode_decode(data: &[Generated], points: usize) -> Result<Coded> {
    let started = Instant::now();
    let mut chunks: Vec<GorillaEncoder> = Vec::new();
    for g in data {
        for w in windows(&g.points) {
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
    let bytes: usize = blocks.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut decoded = 0usize;
    for b in &blocks {
        decoded += block::decode(b)?.len();
    }
    let decode_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(decoded == points, "decoded {decoded} of {points} points");
    Ok(Coded {
        chunks,
        blocks,
        bytes,
        stream_s,
        seal_s,
        decode_s,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn main() -> Result<()> {
    let a = args()?;
    let steps = a.hours * 3600 * 1000 / STEP_MS;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let mut data = Vec::new();
    for h in 0..a.hosts {
        data.extend(host_series(h, &a, &mut rng)?);
    }
    let points: usize = data.iter().map(|s| s.points.len()).sum();
    println!(
        "dataset: {} hosts x 13 series ({} series), {} h of 10 s scrapes with ±{} ms jitter, memory churn ±{} pages, {points} points",
        a.hosts,
        data.len(),
        a.hours,
        a.jitter_ms,
        a.churn_pages
    );

    let c = encode_decode(&data, points)?;
    let (blocks, bytes) = (&c.blocks, c.bytes);
    let bpp = bytes as f64 / points as f64;
    let plain: usize = c.chunks.iter().map(plain_gorilla_len).sum();
    println!(
        "blocks: {} of 10 min, {bytes} bytes, {bpp:.3} bytes/point (headers and checksums included; plain Gorilla {:.3})",
        blocks.len(),
        plain as f64 / points as f64
    );
    let metrics = per_metric(&data, blocks)?;
    let mut total = Acc::default();
    metrics.values().for_each(|m| total.add(m));
    let bpp_2h = total.bytes_2h as f64 / points as f64;
    // Jitter uniform on 2j+1 values: each series carries it.
    let ts_info = ((2 * a.jitter_ms + 1) as f64).log2();
    let floor = (total.info_bits / points as f64 + ts_info) / 8.0;
    println!("with 2-hour blocks (as in the Gorilla paper): {bpp_2h:.3} bytes/point");
    println!(
        "information floor of the dataset: {floor:.3} bytes/point ({:.2} bits of values, {ts_info:.2} of timestamps; blocks' headers not counted)",
        total.info_bits / points as f64
    );
    if a.breakdown {
        print_breakdown(&metrics, &total, ts_info);
    }
    let enc_pps = points as f64 / (c.stream_s + c.seal_s);
    let dec_pps = points as f64 / c.decode_s;
    println!(
        "encode {enc_pps:.0} points/s (streaming Gorilla alone {:.0} points/s, sealing with the code choice {:.0} points/s), decode {dec_pps:.0} points/s",
        points as f64 / c.stream_s,
        points as f64 / c.seal_s
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
        "bytes_per_point": round3(bpp),
        "encode_points_per_sec": enc_pps.round(),
        "decode_points_per_sec": dec_pps.round(),
        "bytes_per_point_2h_blocks": round3(bpp_2h),
        "bytes_per_point_plain_gorilla": round3(plain as f64 / points as f64),
        "information_floor_bytes_per_point": round3(floor),
        "query_1h_ms": q1h,
        "query_1d_ms": q1d,
    });
    println!("{json}");
    Ok(())
}

type StoreFigures = (f64, f64, f64, f64, f64);

/// Ingests the dataset through the store (WAL on disk, blocks into an
/// in-memory store) and times queries.
fn store_figures(data: &[Generated], steps: i64) -> Result<StoreFigures> {
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
            .map(|g| SeriesPoints {
                key: g.key.clone(),
                points: g.points[from..to].to_vec(),
            })
            .collect();
        db.ingest(&batch)?;
        rt.block_on(db.upload_pending())?;
    }
    let ingest_pps =
        data.iter().map(|s| s.points.len()).sum::<usize>() as f64 / started.elapsed().as_secs_f64();
    db.seal_all();
    while rt.block_on(db.upload_pending())? > 0 {}
    let key = &data[0].key;
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
