//! The timestamp section of version-2 blocks: every timestamp after the
//! first (which the block header holds), in whichever of two codes is
//! smaller for the block.
//!
//! - **Delta of delta** (`0`): Gorilla's code, as in the XOR blocks of
//!   version 1 (see [`super::gorilla`]); best for irregular series.
//! - **Grid** (`1`): a scraper stamps points near a grid of period `D`
//!   with a few milliseconds of jitter. Each timestamp is predicted as the
//!   previous grid point plus `D` and stored as its residual from that
//!   prediction; the grid point then moves by the whole periods of the
//!   residual (so a missed scrape costs one outlier, not a shifted grid).
//!   The residuals are a packed run ([`super::pack`]): with ±3 ms of
//!   jitter they take 2.8 bits a point where delta of delta takes 6, and
//!   none at all on an exact grid.
//!
//! ```text
//! mode 2 bits | dod: one code per timestamp
//!             | grid: D = q × 10ᵏ: k 3 bits, q uvar | packed residuals
//! ```

use super::bits::{BitReader, BitWriter, uvar_bits};
use super::error::DecodeError;
use super::gorilla::{dod_bits, next_ts, write_dod};
use super::pack;

const MODE_DOD: u64 = 0;
const MODE_GRID: u64 = 1;

/// The next timestamp on a grid: from the previous grid point `g`, the
/// period `d ≥ 1` and the residual `r`, the timestamp and the new grid
/// point (`None` on overflow, which only corrupt input causes).
#[inline]
fn grid_step(g: i64, d: i64, r: i64) -> Option<(i64, i64)> {
    let p = g.checked_add(d)?;
    let q = r.checked_add(d / 2)?;
    // Usually the residual is within half a period: no division.
    let k = if (0..d).contains(&q) {
        0
    } else {
        q.div_euclid(d)
    };
    Some((p.checked_add(r)?, p.checked_add(k.checked_mul(d)?)?))
}

/// Bits of a period written by [`write_period`].
fn period_bits(d: u64) -> u64 {
    3 + uvar_bits(decimal_period(d).1)
}

/// `d = q × 10ᵏ` with the largest `k ≤ 7`: scrape periods are round.
fn decimal_period(mut d: u64) -> (u32, u64) {
    let mut k = 0;
    while k < 7 && d >= 10 && d.is_multiple_of(10) {
        d /= 10;
        k += 1;
    }
    (k, d)
}

/// Writes a grid period as a power of ten (3 bits) and a multiplier.
fn write_period(w: &mut BitWriter, d: u64) {
    let (k, q) = decimal_period(d);
    w.write(u64::from(k), 3);
    w.uvar(q);
}

/// Reads a grid period (1 ms ..= the largest timestamp).
fn read_period(r: &mut BitReader<'_>) -> Result<i64, DecodeError> {
    let k = r.read(3)? as u32;
    let q = r.uvar("grid period")?;
    q.checked_mul(10u64.pow(k))
        .and_then(|d| i64::try_from(d).ok())
        .filter(|d| (1..=super::MAX_TIMESTAMP_MS).contains(d))
        .ok_or_else(|| r.err(format!("grid period {q}e{k} ms out of range")))
}

/// Grid residuals of `ts` (first included) for period `d`.
fn residuals(ts: &[i64], d: i64) -> Option<Vec<i64>> {
    let mut out = Vec::with_capacity(ts.len().saturating_sub(1));
    let mut g = ts[0];
    for &t in &ts[1..] {
        let r = t.checked_sub(g.checked_add(d)?)?;
        out.push(r);
        g = grid_step(g, d, r)?.1;
    }
    Some(out)
}

/// Size of the delta-of-delta code of `ts` (first excluded), in bits.
pub(crate) fn dod_cost(ts: &[i64]) -> u64 {
    let mut prev = 0i64;
    let mut bits = 0;
    for w in ts.windows(2) {
        let delta = w[1] - w[0];
        bits += dod_bits(delta - prev);
        prev = delta;
    }
    bits
}

/// The best grid for `ts`: period, residuals, their plan and the size in
/// bits.
fn best_grid(ts: &[i64]) -> Option<(i64, Vec<i64>, pack::Plan, u64)> {
    let mut deltas: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    if deltas.is_empty() {
        return None;
    }
    let mid = deltas.len() / 2;
    let median = *deltas.select_nth_unstable(mid).1;
    // A period off by one makes the residuals drift: keep the candidate
    // whose residuals span least, then size it.
    let mut best: Option<(u64, i64, Vec<i64>)> = None;
    for d in [median, median - 1, median + 1] {
        if d < 1 {
            continue;
        }
        let Some(res) = residuals(ts, d) else {
            continue;
        };
        let (lo, hi) = res
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        let span = hi.wrapping_sub(lo) as u64;
        if best.as_ref().is_none_or(|b| span < b.0) {
            best = Some((span, d, res));
        }
    }
    best.map(|(_, d, res)| {
        let plan = pack::plan(&res);
        (d, res, plan, period_bits(d as u64) + plan.bits)
    })
}

/// Writes the timestamps after the first of `ts` (strictly increasing,
/// in range) in the smaller code, or in delta of delta if `dod_only`
/// (which takes at least a bit per timestamp); returns the code used.
pub(crate) fn write(w: &mut BitWriter, ts: &[i64], dod_only: bool) -> &'static str {
    let grid = if ts.len() < 2 || dod_only {
        None
    } else {
        best_grid(ts)
    };
    match grid {
        Some((d, res, plan, bits)) if bits < dod_cost(ts) => {
            w.write(MODE_GRID, 2);
            write_period(w, d as u64);
            pack::write(w, &res, plan);
            "grid"
        }
        _ => {
            w.write(MODE_DOD, 2);
            let mut prev = 0i64;
            for pair in ts.windows(2) {
                let delta = pair[1] - pair[0];
                write_dod(w, delta - prev);
                prev = delta;
            }
            "dod"
        }
    }
}

/// Reads `count` timestamps, the first being `first_ts`.
pub(crate) fn read(
    r: &mut BitReader<'_>,
    first_ts: i64,
    count: usize,
    at: usize,
) -> Result<Vec<i64>, DecodeError> {
    let mut out = Vec::with_capacity(count);
    out.push(first_ts);
    match r.read(2)? {
        MODE_DOD => {
            let (mut ts, mut delta) = (first_ts, 0i64);
            for i in 1..count {
                (ts, delta) = next_ts(r, ts, delta, i, at)?;
                out.push(ts);
            }
        }
        MODE_GRID => {
            let d = read_period(r)?;
            let res = pack::read(r, count - 1)?;
            let (mut g, mut prev) = (first_ts, first_ts);
            for (i, &x) in res.iter().enumerate() {
                let step =
                    grid_step(g, d, x).filter(|(t, _)| *t > prev && *t <= super::MAX_TIMESTAMP_MS);
                let Some((t, next_g)) = step else {
                    return Err(r.err(format!(
                        "point {}: timestamp does not increase or is out of range",
                        i + 1
                    )));
                };
                out.push(t);
                (g, prev) = (next_g, t);
            }
        }
        m => return Err(r.err(format!("unknown timestamp mode {m}"))),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(ts: &[i64]) -> (&'static str, u64) {
        let mut w = BitWriter::default();
        let mode = write(&mut w, ts, false);
        let bytes = w.to_bytes();
        let back = read(&mut BitReader::new(&bytes, "test", 0), ts[0], ts.len(), 0).unwrap();
        assert_eq!(back, ts);
        (mode, w.bit_len())
    }

    #[test]
    fn jittered_scrapes_use_the_grid_at_under_three_bits_a_point() {
        let jitter = [0i64, 3, -2, 1, -3, 2, 0, -1, 3, -3];
        let ts: Vec<i64> = (0..60)
            .map(|i| 1_767_225_600_000 + i * 10_000 + jitter[(i * 7 % 10) as usize])
            .collect();
        let (mode, bits) = round_trip(&ts);
        assert_eq!(mode, "grid");
        assert!(bits < 59 * 3 + 40, "{bits} bits");
        // A missed scrape moves the grid: one outlier, not 30.
        let mut gap = ts.clone();
        gap.remove(30);
        let (mode, gap_bits) = round_trip(&gap);
        assert_eq!(mode, "grid");
        assert!(gap_bits < bits + 40, "{gap_bits} vs {bits}");
        // Exact grid: nothing per point.
        let exact: Vec<i64> = (0..60).map(|i| 1_000 + i * 15_000).collect();
        assert!(round_trip(&exact).1 < 40);
        // Steadily slowing: delta of delta.
        let irregular: Vec<i64> = (0..60).map(|i| i * 1000 + i * (i + 1) / 2).collect();
        assert_eq!(round_trip(&irregular).0, "dod");
    }

    #[test]
    fn corrupt_grids_are_refused() {
        let mut w = BitWriter::default();
        w.write(MODE_GRID, 2);
        write_period(&mut w, 10);
        pack::write_best(&mut w, &[-10, 0]);
        let bytes = w.to_bytes();
        let e = read(&mut BitReader::new(&bytes, "test", 0), 100, 3, 0).unwrap_err();
        assert!(e.to_string().contains("does not increase"), "{e}");
        let mut w = BitWriter::default();
        w.write(MODE_GRID, 2);
        write_period(&mut w, 0);
        let bytes = w.to_bytes();
        let e = read(&mut BitReader::new(&bytes, "test", 0), 100, 3, 0).unwrap_err();
        assert!(e.to_string().contains("grid period 0e0"), "{e}");
        let mut w = BitWriter::default();
        w.write(MODE_GRID, 2);
        w.write(7, 3);
        w.uvar(u64::MAX / 1000);
        let bytes = w.to_bytes();
        let e = read(&mut BitReader::new(&bytes, "test", 0), 100, 3, 0).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        let e = read(&mut BitReader::new(&[0xc0], "test", 0), 100, 3, 0).unwrap_err();
        assert!(e.to_string().contains("unknown timestamp mode 3"), "{e}");
    }

    proptest! {
        #[test]
        fn timestamps_round_trip(
            start in 0i64..2_000_000_000_000,
            steps in prop::collection::vec(prop_oneof![
                4 => 9_997i64..10_004, 1 => 1i64..3, 1 => 1i64..100_000_000], 1..300),
        ) {
            let mut ts = vec![start];
            for s in steps {
                ts.push(ts[ts.len() - 1] + s);
            }
            round_trip(&ts);
        }

        #[test]
        fn random_bits_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), count in 1usize..100) {
            let _ = read(&mut BitReader::new(&bytes, "test", 0), 5, count, 0);
        }
    }
}
