//! The placement report: CCHDP (Lambda's and the whitepaper's as written)
//! against a plain `hashring` vnode ring, jump consistent hash and weighted
//! rendezvous hashing, on the same footing: each scheme places the same Q
//! partitions on `min(3, devices)` distinct devices.
//!
//! Per row: fairness (largest ratio of a device's slot share to its fair
//! share, and the coefficient of variation of those ratios), data moved by
//! one join and by one leave as a ratio to the optimal (the fair share of
//! the device that joins or leaves; averaged over several trials), and the
//! time of one key → preference list lookup. `key_fairness_max` is the same
//! at key level (exact key-space mass) where the scheme maps keys itself.
//!
//! `cargo run --release --bin placement-report [-- --json] [--devices 100,1000] [--trials N] [--scheme cchdp]`;
//! `REPORT_BALANCE=0`, `REPORT_PROBES=n`, `REPORT_SLACK=x` change CCHDP's
//! settings for ablations (ARCHITECTURE.md, "Placement").
#![allow(clippy::print_stdout, missing_docs)]

mod schemes;

use std::hint::black_box;
use std::time::Instant;

use lambda_db::placement::{PlacementConfig, fair_fractions};
use schemes::{Dev, Rendezvous, Ring, Table};
use xxhash_rust::xxh3::xxh3_64;

/// Replicas per partition in every row.
const REPLICAS: usize = 3;
/// Virtual nodes per unit of weight for CCHDP and the plain ring.
const VNODES: u32 = 64;

/// SplitMix64: the seeded generator of weights and trial choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scheme {
    Cchdp,
    CchdpPaper,
    Hashring,
    Jump,
    Rendezvous,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Self::Cchdp => "cchdp",
            Self::CchdpPaper => "cchdp-whitepaper",
            Self::Hashring => "hashring",
            Self::Jump => "jump",
            Self::Rendezvous => "rendezvous",
        }
    }
}

/// Partition count per device count: enough slots per unit of weight that
/// granularity does not decide the comparison (≈ 370 slots for a weight-1
/// device among 1000 spread devices).
fn partitions_for(devices: usize) -> u32 {
    match devices {
        0..=5 => 1 << 12,
        6..=20 => 1 << 14,
        21..=100 => 1 << 17,
        _ => 1 << 20,
    }
}

struct Row {
    scheme: Scheme,
    devices: usize,
    spread: bool,
    partitions: u32,
    fairness_max: f64,
    cv: f64,
    join: f64,
    leave: f64,
    lookup_ns: f64,
    key_fairness_max: Option<f64>,
    compute_ms: f64,
}

/// (max, cv) of share / fair over the devices of `devs`.
fn fairness(table: &Table, devs: &[Dev], universe: usize) -> (f64, f64) {
    let mut counts = vec![0u64; universe];
    for &u in &table.lists {
        counts[u as usize] += 1;
    }
    let weights: Vec<u64> = devs.iter().map(|d| d.weight).collect();
    let fair = fair_fractions(&weights, table.width);
    let total = table.lists.len() as f64;
    let ratios: Vec<f64> = devs
        .iter()
        .zip(&fair)
        .map(|(d, f)| counts[d.uid as usize] as f64 / total / f)
        .collect();
    stats(&ratios)
}

fn stats(ratios: &[f64]) -> (f64, f64) {
    let n = ratios.len() as f64;
    let mean = ratios.iter().sum::<f64>() / n;
    let var = ratios.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / n;
    (
        ratios.iter().copied().fold(0.0, f64::max),
        var.sqrt() / mean,
    )
}

/// Replicas that land on a device that did not hold them.
fn moved(old: &Table, new: &Table) -> u64 {
    let partitions = old.lists.len() / old.width.max(1);
    (0..partitions)
        .map(|p| {
            let before = old.list(p);
            new.list(p).iter().filter(|d| !before.contains(d)).count() as u64
        })
        .sum()
}

/// Looks a key up; returns the list length (so the work cannot be elided).
type Lookup = Box<dyn Fn(&[u8]) -> usize>;

/// One scheme's table and its direct key lookup.
struct Built {
    table: Table,
    lookup: Lookup,
}

/// CCHDP settings other than the defaults, for ablations:
/// `REPORT_PROBES`, `REPORT_SLACK`, `REPORT_BALANCE=0`.
fn tuned(mut cfg: PlacementConfig) -> PlacementConfig {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
    if var("REPORT_BALANCE") == Some(0.0) {
        cfg.balance = false;
    }
    if let Some(p) = var("REPORT_PROBES") {
        cfg.probes = p as u32;
    }
    if let Some(s) = var("REPORT_SLACK") {
        cfg.load_slack = s;
    }
    cfg
}

fn build(scheme: Scheme, devs: &[Dev], q: u32) -> anyhow::Result<Built> {
    let cfg = tuned(PlacementConfig {
        partitions: q,
        replicas: REPLICAS as u32,
        vnodes: VNODES,
        weight_unit: 1,
        ..PlacementConfig::default()
    });
    Ok(match scheme {
        Scheme::Cchdp | Scheme::CchdpPaper => {
            let cfg = if scheme == Scheme::Cchdp {
                cfg
            } else {
                cfg.whitepaper()
            };
            let (table, placement) = schemes::cchdp(devs, &cfg)?;
            Built {
                table,
                lookup: Box::new(move |key| placement.preference_list_of_key(key).len()),
            }
        }
        Scheme::Hashring => {
            let ring = Ring::new(devs, u64::from(VNODES));
            let table = ring.table(q, REPLICAS);
            let cell = std::cell::RefCell::new(Vec::new());
            Built {
                table,
                lookup: Box::new(move |key| {
                    let mut out = cell.borrow_mut();
                    ring.lookup(xxh3_64(key), REPLICAS, &mut out);
                    out.len()
                }),
            }
        }
        Scheme::Jump => {
            let table = schemes::jump_table(devs, q, REPLICAS);
            let n = devs.len() as u32;
            let cell = std::cell::RefCell::new(Vec::new());
            Built {
                table,
                lookup: Box::new(move |key| {
                    let mut out = cell.borrow_mut();
                    schemes::jump_list(xxh3_64(key), n, REPLICAS, &mut out);
                    out.len()
                }),
            }
        }
        Scheme::Rendezvous => {
            let r = Rendezvous::new(devs);
            let table = r.scored(q, REPLICAS)?.table(REPLICAS, None, None);
            let cell = std::cell::RefCell::new(Vec::new());
            Built {
                table,
                lookup: Box::new(move |key| {
                    let mut top = cell.borrow_mut();
                    r.lookup(xxh3_64(key), REPLICAS, &mut top);
                    top.len()
                }),
            }
        }
    })
}

/// Mean nanoseconds per lookup over `keys` keys.
fn time_lookups(lookup: &dyn Fn(&[u8]) -> usize, keys: usize) -> f64 {
    let keys: Vec<[u8; 8]> = (0..keys as u64)
        .map(|i| xxh3_64(&i.to_le_bytes()).to_le_bytes())
        .collect();
    let mut sink = 0usize;
    for k in keys.iter().take(1000) {
        sink += lookup(k);
    }
    let start = Instant::now();
    for k in &keys {
        sink += lookup(black_box(k));
    }
    black_box(sink);
    start.elapsed().as_nanos() as f64 / keys.len() as f64
}

mod trials;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let sizes: Vec<usize> = match arg("--devices") {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![5, 20, 100, 1000],
    };
    let trials: Option<usize> = arg("--trials").map(|t| t.parse()).transpose()?;
    let only: Option<&String> = arg("--scheme");
    if !json {
        trials::print_header();
    }
    for &n in &sizes {
        for spread in [false, true] {
            for scheme in [
                Scheme::Cchdp,
                Scheme::CchdpPaper,
                Scheme::Hashring,
                Scheme::Jump,
                Scheme::Rendezvous,
            ] {
                if (scheme == Scheme::Jump && spread) || only.is_some_and(|o| o != scheme.name()) {
                    continue;
                }
                let row = trials::row(scheme, n, spread, trials)?;
                trials::print(&row, json);
            }
        }
    }
    Ok(())
}
