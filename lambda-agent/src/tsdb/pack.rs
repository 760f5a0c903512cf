//! Packed integer runs, the building block of the version-2 block
//! sections: a frame of reference (a base and a range `R`), the values
//! inside it radix-packed ([`super::radix`]), and the few outside it
//! patched in as exceptions; and runs split in two such classes.
//!
//! Layout of a run of `len` values (`len` is known to the reader):
//!
//! ```text
//! base svar | R − 1 uvar | exceptions count | per exception: gap uvar, value − base svar
//! | the other values − base, radix-packed
//! ```
//!
//! The encoder picks the window (which few smallest and largest values
//! become exceptions) that minimizes the size.

use super::bits::{BitReader, BitWriter, count_bits, uvar_bits, zigzag};
use super::error::DecodeError;
use super::radix::{radix_bits, read_radix, write_radix};

/// Largest number of values dropped from either end as exceptions.
const MAX_DROP: usize = 8;

/// About [`radix_bits`] (within 0.09 bit a value), fast: log₂ of a float
/// read off its exponent and mantissa bits.
#[inline]
fn approx_bits(len: usize, diff: u64) -> f64 {
    let bits = (diff as f64 + 1.0).to_bits();
    let exponent = ((bits >> 52) as i64 - 1023) as f64;
    let mantissa = (bits & ((1 << 52) - 1)) as f64 / (1u64 << 52) as f64;
    len as f64 * (exponent + mantissa)
}

/// How a run is packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    base: i64,
    diff: u64,
    /// Size in bits, header included.
    pub(crate) bits: u64,
}

impl Plan {
    fn inside(&self, x: i64) -> bool {
        x >= self.base && (x.wrapping_sub(self.base) as u64) <= self.diff
    }
}

/// `xs` sorted: by counting when they span little (timestamp jitter,
/// small gauges), which is much faster than comparison sorting.
fn sorted(xs: &[i64]) -> Vec<i64> {
    let (lo, hi) = xs
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let span = hi.wrapping_sub(lo) as u64;
    if xs.is_empty() || span >= 2 * xs.len() as u64 + 16 {
        let mut s = xs.to_vec();
        s.sort_unstable();
        return s;
    }
    let mut counts = vec![0u32; span as usize + 1];
    for &x in xs {
        counts[x.wrapping_sub(lo) as u64 as usize] += 1;
    }
    let mut out = Vec::with_capacity(xs.len());
    for (i, &c) in counts.iter().enumerate() {
        out.extend(std::iter::repeat_n(lo.wrapping_add(i as i64), c as usize));
    }
    out
}

/// About the size of `xs` packed without exceptions (no sorting).
pub(crate) fn span_bits(xs: &[i64]) -> f64 {
    let (lo, hi) = xs
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    approx_bits(xs.len(), hi.wrapping_sub(lo) as u64)
}

/// Bits of one exception `x` against `base`, `gap` positions after the
/// previous one.
fn exception_bits(x: i64, base: i64, gap: u64) -> u64 {
    uvar_bits(gap) + uvar_bits(zigzag(x.wrapping_sub(base)))
}

/// The smallest packing of `xs` among the windows that drop up to
/// [`MAX_DROP`] of its smallest and largest values.
pub(crate) fn plan(xs: &[i64]) -> Plan {
    let n = xs.len();
    if n == 0 {
        return Plan {
            base: 0,
            diff: 0,
            bits: 11,
        };
    }
    let s = sorted(xs);
    let drop = MAX_DROP.min(n / 4);
    // Exception values cost about their distance to the median.
    let mid = s[n / 2];
    let vcost = |x: i64| uvar_bits(zigzag(x.wrapping_sub(mid)));
    let low: Vec<u64> = std::iter::once(0)
        .chain(s[..drop].iter().scan(0, |acc, &x| {
            *acc += vcost(x);
            Some(*acc)
        }))
        .collect();
    let high: Vec<u64> = std::iter::once(0)
        .chain(s[n - drop..].iter().rev().scan(0, |acc, &x| {
            *acc += vcost(x);
            Some(*acc)
        }))
        .collect();
    // Candidates are compared on an estimate (log2 of the range per
    // value); the chosen one's size is then computed exactly.
    let mut best: Option<(f64, Plan)> = None;
    for lo in 0..=drop {
        for hi in 0..=drop - lo {
            let e = lo + hi;
            let (base, top) = (s[lo], s[n - 1 - hi]);
            let diff = top.wrapping_sub(base) as u64;
            let gaps = e as u64 * uvar_bits((n / (e + 1)) as u64);
            let fixed = uvar_bits(zigzag(base)) + uvar_bits(diff) + count_bits(e as u64);
            let bits = (fixed + low[lo] + high[hi] + gaps) as f64 + approx_bits(n - e, diff);
            if best.is_none_or(|b| bits < b.0) {
                best = Some((
                    bits,
                    Plan {
                        base,
                        diff,
                        bits: 0,
                    },
                ));
            }
        }
    }
    let best = best.map(|b| b.1);
    let p = best.unwrap_or(Plan {
        base: s[0],
        diff: s[n - 1].wrapping_sub(s[0]) as u64,
        bits: 0,
    });
    Plan {
        bits: exact_bits(xs, p),
        ..p
    }
}

/// The size of `xs` packed with `p`'s window, in bits.
fn exact_bits(xs: &[i64], p: Plan) -> u64 {
    let (mut bits, mut prev, mut exceptions) = (0, 0, 0u64);
    for (i, &x) in xs.iter().enumerate() {
        if !p.inside(x) {
            bits += exception_bits(x, p.base, (i - prev) as u64);
            prev = i + 1;
            exceptions += 1;
        }
    }
    bits + uvar_bits(zigzag(p.base))
        + uvar_bits(p.diff)
        + count_bits(exceptions)
        + radix_bits(xs.len() - exceptions as usize, p.diff)
}

/// Writes `xs` as planned.
pub(crate) fn write(w: &mut BitWriter, xs: &[i64], plan: Plan) {
    w.svar(plan.base);
    w.uvar(plan.diff);
    let exceptions = xs.iter().filter(|&&x| !plan.inside(x)).count();
    w.count(exceptions as u64);
    let mut prev = 0usize;
    for (i, &x) in xs.iter().enumerate() {
        if !plan.inside(x) {
            w.uvar((i - prev) as u64);
            w.svar(x.wrapping_sub(plan.base));
            prev = i + 1;
        }
    }
    let offsets: Vec<u64> = xs
        .iter()
        .filter(|&&x| plan.inside(x))
        .map(|&x| x.wrapping_sub(plan.base) as u64)
        .collect();
    write_radix(w, &offsets, plan.diff);
}

/// Packs `xs` in its best plan; returns the plan.
#[cfg(test)]
pub(crate) fn write_best(w: &mut BitWriter, xs: &[i64]) -> Plan {
    let p = plan(xs);
    write(w, xs, p);
    p
}

/// Reads a run of `len` values.
pub(crate) fn read(r: &mut BitReader<'_>, len: usize) -> Result<Vec<i64>, DecodeError> {
    let base = r.svar("packed base")?;
    let diff = r.uvar("packed range")?;
    let exceptions = r.count("exception count")?;
    if exceptions > len as u64 {
        return Err(r.err(format!("{exceptions} exceptions in a run of {len} values")));
    }
    let mut at = Vec::with_capacity(exceptions as usize);
    let mut next = 0u64;
    for _ in 0..exceptions {
        let pos = next
            .checked_add(r.uvar("exception gap")?)
            .filter(|p| *p < len as u64)
            .ok_or_else(|| r.err(format!("exception position beyond the run of {len}")))?;
        at.push((pos as usize, base.wrapping_add(r.svar("exception value")?)));
        next = pos + 1;
    }
    let mut packed = Vec::with_capacity(len);
    read_radix(r, len - at.len(), diff, base, &mut packed)?;
    if at.is_empty() {
        return Ok(packed);
    }
    // Exceptions go in at their positions (a linear merge).
    let mut out = Vec::with_capacity(len);
    let (mut ex, mut values) = (at.iter().peekable(), packed.into_iter());
    for i in 0..len {
        match ex.next_if(|(p, _)| *p == i) {
            Some(&(_, x)) => out.push(x),
            None => out.push(values.next().unwrap_or(base)),
        }
    }
    Ok(out)
}

/// How a run is laid out: one packed run, or split in two classes (a
/// window most values fall in, and the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RunPlan {
    /// The inner window (base, diff) of a split run.
    split: Option<(i64, u64)>,
    /// The plan of the run, or of the outer values of a split run.
    plan: Plan,
    /// Size in bits, layout bit included.
    pub(crate) bits: u64,
}

/// `xs` split on the window `[base, base + diff]`.
fn split_plan(xs: &[i64], base: i64, diff: u64) -> RunPlan {
    let w = Plan {
        base,
        diff,
        bits: 0,
    };
    let outer: Vec<i64> = xs.iter().copied().filter(|&x| !w.inside(x)).collect();
    let plan = plan(&outer);
    RunPlan {
        split: Some((base, diff)),
        plan,
        bits: 1
            + uvar_bits(zigzag(base))
            + uvar_bits(diff)
            + xs.len() as u64
            + radix_bits(xs.len() - outer.len(), diff)
            + plan.bits,
    }
}

/// The smaller layout of `xs`. Splitting pays when values mix two
/// spreads: a counter idle at most scrapes (the window is `[0, 0]`, whose
/// values take no bits), memory that moves a little at each scrape and a
/// lot at some. Inner windows tried: zero, and the tightest windows
/// holding from half to 15/16 of the values.
pub(crate) fn plan_run(xs: &[i64]) -> RunPlan {
    let dense_plan = plan(xs);
    let dense = RunPlan {
        split: None,
        plan: dense_plan,
        bits: 1 + dense_plan.bits,
    };
    let n = xs.len();
    if n < 8 {
        return dense;
    }
    let s = sorted(xs);
    let mut windows: Vec<(i64, u64)> = Vec::with_capacity(6);
    if s.binary_search(&0).is_ok() {
        windows.push((0, 0));
    }
    for c in [n / 2, n * 5 / 8, n * 3 / 4, n * 7 / 8, n * 15 / 16] {
        let tightest = (0..=n - c)
            .map(|i| (s[i], s[i + c - 1].wrapping_sub(s[i]) as u64))
            .min_by_key(|w| w.1);
        windows.extend(tightest);
    }
    // Compare the windows on an estimate: the inner values in their
    // range, the outer ones in the range they span; size the best exactly.
    let estimate = |&(base, diff): &(i64, u64)| {
        let a = s.partition_point(|&x| x < base);
        let top = i128::from(base) + i128::from(diff);
        let b = s.partition_point(|&x| i128::from(x) <= top);
        let outer_lo = if a > 0 { s[0] } else { s[b.min(n - 1)] };
        let outer_hi = if b < n {
            s[n - 1]
        } else {
            s[a.saturating_sub(1)]
        };
        let outer_diff = outer_hi.wrapping_sub(outer_lo) as u64;
        approx_bits(b - a, diff) + approx_bits(n - (b - a), outer_diff)
    };
    let Some(&(base, diff)) = windows
        .iter()
        .min_by(|x, y| estimate(x).total_cmp(&estimate(y)))
    else {
        return dense;
    };
    let split = split_plan(xs, base, diff);
    if split.bits < dense.bits {
        split
    } else {
        dense
    }
}

/// Writes `xs` as planned.
pub(crate) fn write_run(w: &mut BitWriter, xs: &[i64], p: RunPlan) {
    let Some((base, diff)) = p.split else {
        w.write(0, 1);
        write(w, xs, p.plan);
        return;
    };
    let inner = Plan {
        base,
        diff,
        bits: 0,
    };
    w.write(1, 1);
    w.svar(base);
    w.uvar(diff);
    for &x in xs {
        w.write(u64::from(inner.inside(x)), 1);
    }
    let offsets: Vec<u64> = xs
        .iter()
        .filter(|&&x| inner.inside(x))
        .map(|&x| x.wrapping_sub(base) as u64)
        .collect();
    write_radix(w, &offsets, diff);
    let outer: Vec<i64> = xs.iter().copied().filter(|&x| !inner.inside(x)).collect();
    write(w, &outer, p.plan);
}

/// Reads a run of `len` values written by [`write_run`].
pub(crate) fn read_run(r: &mut BitReader<'_>, len: usize) -> Result<Vec<i64>, DecodeError> {
    if !r.bit()? {
        return read(r, len);
    }
    let base = r.svar("split base")?;
    let diff = r.uvar("split range")?;
    let mut inside = Vec::with_capacity(len);
    for _ in 0..len {
        inside.push(r.bit()?);
    }
    let n_in = inside.iter().filter(|b| **b).count();
    let mut inner = Vec::with_capacity(n_in);
    read_radix(r, n_in, diff, base, &mut inner)?;
    let outer = read(r, len - n_in)?;
    let (mut o_in, mut o_out) = (inner.into_iter(), outer.into_iter());
    Ok(inside
        .into_iter()
        .map(|b| {
            if b {
                o_in.next().unwrap_or(base)
            } else {
                o_out.next().unwrap_or(0)
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(xs: &[i64]) -> u64 {
        let mut w = BitWriter::default();
        let p = write_best(&mut w, xs);
        assert_eq!(w.bit_len(), p.bits);
        let bytes = w.to_bytes();
        let mut r = BitReader::new(&bytes, "test", 0);
        assert_eq!(read(&mut r, xs.len()).unwrap(), xs);
        w.bit_len()
    }

    #[test]
    fn runs_of_seven_values_take_their_entropy() {
        // A run of 60 such values: the header (11 bits) and 169 bits.
        let xs: Vec<i64> = (0..60).map(|i| (i * 5 % 7) - 3).collect();
        assert_eq!(round_trip(&xs), 11 + 169);
    }

    #[test]
    fn outliers_become_exceptions() {
        let mut xs: Vec<i64> = (0..60).map(|i| i % 4).collect();
        xs[17] = 1_000_000;
        xs[40] = -5_000;
        // 58 values in 2 bits, 2 exceptions, instead of 60 in 21 bits.
        let bits = round_trip(&xs);
        assert!(bits < 58 * 2 + 100, "{bits}");
        round_trip(&[i64::MIN, i64::MAX, 0, -1]);
        round_trip(&[]);
        round_trip(&[42]);
    }

    fn run_round_trip(xs: &[i64]) -> (bool, u64) {
        let mut w = BitWriter::default();
        let p = plan_run(xs);
        write_run(&mut w, xs, p);
        assert_eq!(w.bit_len(), p.bits);
        let bytes = w.to_bytes();
        let mut r = BitReader::new(&bytes, "test", 0);
        assert_eq!(read_run(&mut r, xs.len()).unwrap(), xs);
        (p.split.is_some(), w.bit_len())
    }

    #[test]
    fn mixed_spreads_are_split() {
        // Small steps at every point, big ones at one in four: a bit per
        // point plus 6 or 12 bits, instead of 12 bits each.
        let xs: Vec<i64> = (0..60)
            .map(|i| {
                let small = (i * 37 % 65) - 32;
                if i % 4 == 0 {
                    small + (i * 997 % 4000) - 2000
                } else {
                    small
                }
            })
            .collect();
        let (split, bits) = run_round_trip(&xs);
        assert!(split);
        assert!(bits < 60 + 45 * 6 + 15 * 12 + 80, "{bits}");
        // Mostly zero: the zero window costs nothing per value.
        let idle: Vec<i64> = (0..60)
            .map(|i| if i % 5 == 0 { i * 31 + 1 } else { 0 })
            .collect();
        let (split, bits) = run_round_trip(&idle);
        assert!(split);
        assert!(bits < 60 + 12 * 11 + 60, "{bits}");
        // Uniform: dense.
        let uniform: Vec<i64> = (0..60).map(|i| i * 97 % 160).collect();
        assert!(!run_round_trip(&uniform).0);
        run_round_trip(&[]);
        run_round_trip(&[i64::MIN, i64::MAX, 0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn values_outside_the_range_are_refused() {
        let mut w = BitWriter::default();
        w.svar(0);
        w.uvar(4); // R = 5: 3-value groups in 7 bits
        w.count(0);
        w.write(127, 7);
        let bytes = w.to_bytes();
        let e = read(&mut BitReader::new(&bytes, "test", 0), 3).unwrap_err();
        assert!(e.to_string().contains("exceeds"), "{e}");
    }

    proptest! {
        #[test]
        fn runs_round_trip(xs in prop::collection::vec(
            prop_oneof![any::<i64>(), -100i64..100, Just(0i64)], 0..200)) {
            round_trip(&xs);
        }

        #[test]
        fn split_runs_round_trip(xs in prop::collection::vec(
            prop_oneof![4 => -3i64..3, 1 => any::<i64>(), 2 => -5000i64..5000, 2 => Just(0i64)], 0..200)) {
            run_round_trip(&xs);
        }

        #[test]
        fn random_bits_never_panic_runs(bytes in prop::collection::vec(any::<u8>(), 0..64), len in 0usize..100) {
            let _ = read_run(&mut BitReader::new(&bytes, "test", 0), len);
        }

        #[test]
        fn random_bits_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), len in 0usize..100) {
            let _ = read(&mut BitReader::new(&bytes, "test", 0), len);
        }
    }
}
