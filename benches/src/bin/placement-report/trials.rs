//! One report row: the device set, the base placement, join and leave
//! trials, lookup timing, and printing.

use std::time::Instant;

use lambda_db::placement::fair_fractions;

use super::schemes::{Dev, Rendezvous, Ring, rendezvous_seed};
use super::{
    REPLICAS, Rng, Row, Scheme, VNODES, build, fairness, moved, partitions_for, stats, time_lookups,
};

/// The weight of every device of an "equal" row: the mean of the spread
/// rows' 1..=16, so both kinds of row give a device about as many virtual
/// nodes (what matters is that weights are equal, not their unit).
const EQUAL_WEIGHT: u64 = 8;

/// The device set of a row: `n` devices, weights 1 or drawn from 1..=16.
fn devices(n: usize, spread: bool, rng: &mut Rng) -> Vec<Dev> {
    (0..n)
        .map(|i| Dev {
            id: format!("dev-{i:04}"),
            uid: i as u32,
            weight: if spread {
                1 + rng.below(16)
            } else {
                EQUAL_WEIGHT
            },
        })
        .collect()
}

/// Total (moved, optimal) over the join and the leave trials.
struct Moves {
    join: (f64, f64),
    leave: (f64, f64),
}

fn move_trials(
    scheme: Scheme,
    devs: &[Dev],
    base: &super::Table,
    q: u32,
    trials: usize,
    spread: bool,
    rng: &mut Rng,
) -> anyhow::Result<Moves> {
    let mut m = Moves {
        join: (0.0, 0.0),
        leave: (0.0, 0.0),
    };
    let scored = match scheme {
        Scheme::Rendezvous => Some(Rendezvous::new(devs).scored(q, REPLICAS + 1)?),
        _ => None,
    };
    for t in 0..trials {
        let joiner = Dev {
            id: format!("join-{t}"),
            uid: devs.len() as u32,
            weight: if spread {
                1 + rng.below(16)
            } else {
                EQUAL_WEIGHT
            },
        };
        let mut joined = devs.to_vec();
        joined.push(joiner.clone());
        let table = match &scored {
            Some(s) => s.table(
                REPLICAS,
                None,
                Some((
                    rendezvous_seed(&joiner.id),
                    joiner.weight as f64,
                    joiner.uid,
                )),
            ),
            None => build(scheme, &joined, q)?.table,
        };
        let weights: Vec<u64> = joined.iter().map(|d| d.weight).collect();
        let fair = fair_fractions(&weights, table.width)[devs.len()];
        m.join.0 += moved(base, &table) as f64;
        m.join.1 += fair * table.lists.len() as f64;

        let gone = if scheme == Scheme::Jump {
            devs.len() - 1
        } else {
            rng.below(devs.len() as u64) as usize
        };
        let mut left = devs.to_vec();
        left.remove(gone);
        let table = match &scored {
            Some(s) => s.table(REPLICAS, Some(devs[gone].uid), None),
            None => build(scheme, &left, q)?.table,
        };
        let weights: Vec<u64> = devs.iter().map(|d| d.weight).collect();
        let fair = fair_fractions(&weights, base.width)[gone];
        m.leave.0 += moved(base, &table) as f64;
        m.leave.1 += fair * base.lists.len() as f64;
    }
    Ok(m)
}

/// Key-level fairness where the scheme maps keys itself and it is exact.
fn key_fairness(scheme: Scheme, devs: &[Dev], partition_level: f64) -> Option<f64> {
    match scheme {
        // Equal partitions: a device's key-space mass is its slot share.
        Scheme::Cchdp | Scheme::CchdpPaper => Some(partition_level),
        Scheme::Hashring => {
            let ring = Ring::new(devs, u64::from(VNODES));
            let width = REPLICAS.min(devs.len());
            let weights: Vec<u64> = devs.iter().map(|d| d.weight).collect();
            let fair = fair_fractions(&weights, width);
            let ratios: Vec<f64> = ring
                .key_mass(width)
                .iter()
                .zip(&fair)
                .map(|(m, f)| m / width as f64 / f)
                .collect();
            Some(stats(&ratios).0)
        }
        Scheme::Jump | Scheme::Rendezvous => None,
    }
}

/// Computes one row.
pub(super) fn row(
    scheme: Scheme,
    n: usize,
    spread: bool,
    trials: Option<usize>,
) -> anyhow::Result<Row> {
    let mut rng = Rng(0x1a3b_da00 + n as u64 * 2 + u64::from(spread));
    let devs = devices(n, spread, &mut rng);
    let q = partitions_for(n);
    let start = Instant::now();
    let base = build(scheme, &devs, q)?;
    let compute_ms = start.elapsed().as_secs_f64() * 1e3;
    let (fairness_max, cv) = fairness(&base.table, &devs, n + 1);
    let trials = trials.unwrap_or(if n >= 1000 { 3 } else { 6 });
    let m = move_trials(scheme, &devs, &base.table, q, trials, spread, &mut rng)?;
    let keys = match scheme {
        Scheme::Rendezvous => (1 << 24) / n,
        _ => 1 << 20,
    };
    Ok(Row {
        scheme,
        devices: n,
        spread,
        partitions: q,
        fairness_max,
        cv,
        join: m.join.0 / m.join.1,
        leave: m.leave.0 / m.leave.1,
        lookup_ns: time_lookups(&*base.lookup, keys),
        key_fairness_max: key_fairness(scheme, &devs, fairness_max),
        compute_ms,
    })
}

pub(super) fn print_header() {
    println!(
        "{:<17} {:>7} {:>7} {:>8} {:>9} {:>7} {:>7} {:>7} {:>10} {:>9} {:>10}",
        "scheme",
        "devices",
        "weights",
        "Q",
        "fairness",
        "cv",
        "join",
        "leave",
        "lookup_ns",
        "key_fair",
        "compute_ms"
    );
}

pub(super) fn print(r: &Row, json: bool) {
    let weights = if r.spread { "spread" } else { "equal" };
    if json {
        let obj = serde_json::json!({
            "scheme": r.scheme.name(),
            "devices": r.devices,
            "weights": weights,
            "fairness_max": r.fairness_max,
            "cv": r.cv,
            "join_move_ratio": r.join,
            "leave_move_ratio": r.leave,
            "lookup_ns": r.lookup_ns,
            "partitions": r.partitions,
            "replicas": REPLICAS,
            "key_fairness_max": r.key_fairness_max,
            "compute_ms": r.compute_ms,
        });
        println!("{obj}");
    } else {
        let key = r
            .key_fairness_max
            .map_or("-".to_owned(), |k| format!("{k:.3}"));
        println!(
            "{:<17} {:>7} {:>7} {:>8} {:>9.3} {:>7.3} {:>7.3} {:>7.3} {:>10.1} {:>9} {:>10.0}",
            r.scheme.name(),
            r.devices,
            weights,
            r.partitions,
            r.fairness_max,
            r.cv,
            r.join,
            r.leave,
            r.lookup_ns,
            key,
            r.compute_ms
        );
    }
}
