//! The value section of version-2 blocks, in whichever of two codes is
//! smaller for the block.
//!
//! - **XOR** (`0`): Gorilla's code (first value raw, then each XORed with
//!   its predecessor, see [`super::gorilla`]). Any f64 bit pattern.
//! - **Decimal** (`1`): host metrics are mostly exact decimals (integers,
//!   bytes in pages or sectors, CPU shares like 12.3, loads like 0.53),
//!   whose binary mantissas XOR coding handles badly. The block stores
//!   `mᵢ = vᵢ × 10ᵉ` as integers after one of three transforms — the
//!   integers themselves (noisy gauges), first differences (gauges that
//!   wander, counters with noisy rates) or second differences (counters
//!   with steady rates) — divided by their greatest common divisor (memory
//!   in 4 KiB pages, disk in 512-byte sectors), as a packed run, dense or
//!   split in two classes ([`super::pack`]: idle disks, memory that moves
//!   a little at every scrape and a lot at some). A value is stored as an
//!   integer only if the decoder's computation `m / 10ᵉ` gives back its
//!   exact bits; the few that do not (NaN, ±inf, −0.0, a stray float) are
//!   kept raw as exceptions, so one odd value does not push a block back
//!   to XOR.
//!
//! ```text
//! mode 2 bits | XOR: first value 64 bits | one XOR code per value
//!             | decimal: exponent 4 bits | transform 2 bits
//!               | exceptions count | per exception: gap uvar, raw 64 bits
//!               | first integer svar | divisor − 1 uvar | the rest as a packed run
//! ```

use super::bits::{BitReader, BitWriter, count_bits, uvar_bits, zigzag};
use super::error::DecodeError;
use super::gorilla::XorState;
use super::pack;

const MODE_XOR: u64 = 0;
const MODE_DECIMAL: u64 = 1;
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
const MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

/// The integer `v × 10ᵉ` if the decoder gives `v` back from it bit-exactly
/// (never for NaN, ±inf or −0.0, whose integer would be +0).
#[inline]
fn scaled(v: f64, e: usize) -> Option<i64> {
    let m = (v * POW10[e]).round();
    if m.is_nan() || m.abs() > MAX_EXACT {
        return None;
    }
    let m = m as i64;
    ((m as f64 / POW10[e]).to_bits() == v.to_bits()).then_some(m)
}

/// The smallest exponent that makes most values exact integers: each value
/// raises it as needed (a value exact at `e` is exact at larger ones while
/// its integer stays below 2⁵³); values exact at none are left out.
/// `None` once more than a quarter of the values are exact at none: the
/// block is better XOR-coded.
fn exponent(values: &[f64]) -> Option<usize> {
    let (mut e, mut odd) = (0, 0);
    for &v in values {
        if scaled(v, e).is_some() {
            continue;
        }
        match (e + 1..POW10.len()).find(|&k| scaled(v, k).is_some()) {
            Some(k) => e = k,
            None => {
                odd += 1;
                if odd * 4 > values.len() {
                    return None;
                }
            }
        }
    }
    Some(e)
}

/// The transform of the integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transform {
    /// The integers minus the first.
    Level = 0,
    /// First differences.
    Delta = 1,
    /// Second differences (the first step as a first difference).
    DeltaOfDelta = 2,
}

impl Transform {
    const ALL: [Self; 3] = [Self::Level, Self::Delta, Self::DeltaOfDelta];

    /// The transformed integers after the first (none can overflow: the
    /// integers are within ±2⁵³).
    fn apply(self, ms: &[i64]) -> Vec<i64> {
        let mut out = Vec::with_capacity(ms.len().saturating_sub(1));
        let mut prev_d = 0;
        for i in 1..ms.len() {
            let d = ms[i] - ms[i - 1];
            out.push(match self {
                Self::Level => ms[i] - ms[0],
                Self::Delta => d,
                Self::DeltaOfDelta => d - prev_d,
            });
            prev_d = d;
        }
        out
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The greatest common divisor of the magnitudes (1 if all are zero).
fn divisor(xs: &[i64]) -> u64 {
    let mut g = 0;
    for x in xs {
        g = gcd(g, x.unsigned_abs());
        if g == 1 {
            break;
        }
    }
    g.max(1)
}

/// A planned decimal section.
struct DecimalPlan {
    exponent: usize,
    transform: Transform,
    layout: pack::RunPlan,
    /// Positions and bits of the values kept raw.
    exceptions: Vec<(usize, u64)>,
    first: i64,
    divisor: u64,
    /// The transformed integers divided by the divisor.
    run: Vec<i64>,
    bits: u64,
}

/// The smallest decimal section for `values`, if at least one is exact.
fn plan_decimal(values: &[f64]) -> Option<DecimalPlan> {
    let e = exponent(values)?;
    let mut exceptions = Vec::new();
    let mut ms = Vec::with_capacity(values.len());
    for (i, &v) in values.iter().enumerate() {
        match scaled(v, e) {
            Some(m) => ms.push(m),
            None => exceptions.push((i, v.to_bits())),
        }
    }
    let &first = ms.first()?;
    let mut prev = 0;
    let mut fixed = 4 + 2 + count_bits(exceptions.len() as u64) + uvar_bits(zigzag(first));
    for &(i, _) in &exceptions {
        fixed += uvar_bits((i - prev) as u64) + 64;
        prev = i + 1;
    }
    // The transform whose run spans least, then its best layout.
    let mut best: Option<(f64, Transform, u64, Vec<i64>)> = None;
    for t in Transform::ALL {
        let xs = t.apply(&ms);
        let divisor = divisor(&xs);
        let run: Vec<i64> = xs.iter().map(|&x| x / divisor as i64).collect();
        let bits = pack::span_bits(&run) + uvar_bits(divisor - 1) as f64;
        if best.as_ref().is_none_or(|b| bits < b.0) {
            best = Some((bits, t, divisor, run));
        }
    }
    let (_, transform, divisor, run) = best?;
    let layout = pack::plan_run(&run);
    Some(DecimalPlan {
        exponent: e,
        transform,
        layout,
        exceptions,
        first,
        divisor,
        bits: fixed + uvar_bits(divisor - 1) + layout.bits,
        run,
    })
}

fn write_decimal(w: &mut BitWriter, p: &DecimalPlan) {
    w.write(MODE_DECIMAL, 2);
    w.write(p.exponent as u64, 4);
    w.write(p.transform as u64, 2);
    w.count(p.exceptions.len() as u64);
    let mut prev = 0;
    for &(i, bits) in &p.exceptions {
        w.uvar((i - prev) as u64);
        w.write(bits, 64);
        prev = i + 1;
    }
    w.svar(p.first);
    w.uvar(p.divisor - 1);
    pack::write_run(w, &p.run, p.layout);
}

fn write_xor(w: &mut BitWriter, values: &[f64]) {
    w.write(MODE_XOR, 2);
    let Some((first, rest)) = values.split_first() else {
        return;
    };
    w.write(first.to_bits(), 64);
    let mut xor = XorState::new(first.to_bits());
    for v in rest {
        xor.write(w, v.to_bits());
    }
}

/// Writes `values` in the smaller code, or in XOR if `xor_only` (which
/// takes at least a bit per value); `xor_bits` is the size of their XOR
/// code (without the mode). Returns the code used.
pub(crate) fn write(
    w: &mut BitWriter,
    values: &[f64],
    xor_bits: u64,
    xor_only: bool,
) -> &'static str {
    let decimal = if xor_only { None } else { plan_decimal(values) };
    match decimal {
        Some(p) if p.bits < xor_bits => {
            write_decimal(w, &p);
            "decimal"
        }
        _ => {
            write_xor(w, values);
            "xor"
        }
    }
}

/// Size of the XOR code of `values` (without the mode), in bits.
#[cfg(test)]
fn xor_cost(values: &[f64]) -> u64 {
    let mut w = BitWriter::with_capacity(values.len() * 2);
    write_xor(&mut w, values);
    w.bit_len() - 2
}

/// Reads `count` values.
pub(crate) fn read(
    r: &mut BitReader<'_>,
    count: usize,
    at: usize,
) -> Result<Vec<f64>, DecodeError> {
    match r.read(2)? {
        MODE_XOR => {
            let mut out = Vec::with_capacity(count);
            let mut xor = XorState::new(r.read(64)?);
            out.push(f64::from_bits(xor.prev()));
            for i in 1..count {
                out.push(f64::from_bits(xor.read(r, i, at)?));
            }
            Ok(out)
        }
        MODE_DECIMAL => read_decimal(r, count),
        m => Err(r.err(format!("unknown value mode {m}"))),
    }
}

/// Reads the exceptions of a decimal section: positions and raw bits.
fn read_exceptions(r: &mut BitReader<'_>, count: usize) -> Result<Vec<(usize, u64)>, DecodeError> {
    let n = r.count("raw value count")?;
    if n >= count as u64 {
        return Err(r.err(format!("{n} raw values in a block of {count}")));
    }
    let mut out = Vec::with_capacity(n as usize);
    let mut next = 0u64;
    for _ in 0..n {
        let i = next
            .checked_add(r.uvar("raw value gap")?)
            .filter(|i| *i < count as u64)
            .ok_or_else(|| r.err("raw value position beyond the block"))?;
        out.push((i as usize, r.read(64)?));
        next = i + 1;
    }
    Ok(out)
}

fn read_decimal(r: &mut BitReader<'_>, count: usize) -> Result<Vec<f64>, DecodeError> {
    let e = r.read(4)? as usize;
    let &scale = POW10
        .get(e)
        .ok_or_else(|| r.err(format!("decimal exponent {e} is above 9")))?;
    let transform = match r.read(2)? {
        0 => Transform::Level,
        1 => Transform::Delta,
        2 => Transform::DeltaOfDelta,
        t => return Err(r.err(format!("unknown value transform {t}"))),
    };
    let exceptions = read_exceptions(r, count)?;
    let first = r.svar("first integer")?;
    let divisor = r
        .uvar("divisor")?
        .checked_add(1)
        .and_then(|d| i64::try_from(d).ok())
        .ok_or_else(|| r.err("divisor out of range"))?;
    let len = count - exceptions.len() - 1;
    let run = pack::read_run(r, len)?;
    let overflow = || r.err("decimal integers overflow");
    let mut ms = Vec::with_capacity(len + 1);
    ms.push(first);
    let (mut m, mut d) = (first, 0i64);
    for y in run {
        let x = y.checked_mul(divisor).ok_or_else(overflow)?;
        m = match transform {
            Transform::Level => first.checked_add(x),
            Transform::Delta => m.checked_add(x),
            Transform::DeltaOfDelta => d.checked_add(x).and_then(|nd| {
                d = nd;
                m.checked_add(nd)
            }),
        }
        .ok_or_else(overflow)?;
        ms.push(m);
    }
    let mut out = Vec::with_capacity(count);
    let (mut ex, mut ints) = (exceptions.iter().peekable(), ms.iter());
    for i in 0..count {
        out.push(match ex.next_if(|(p, _)| *p == i) {
            Some(&(_, bits)) => f64::from_bits(bits),
            None => ints.next().copied().unwrap_or(0) as f64 / scale,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(values: &[f64]) -> (&'static str, u64) {
        let mut w = BitWriter::default();
        let mode = write(&mut w, values, xor_cost(values), false);
        let bytes = w.to_bytes();
        let back = read(&mut BitReader::new(&bytes, "test", 0), values.len(), 0).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(values));
        (mode, w.bit_len())
    }

    #[test]
    fn host_metric_shapes_pick_their_transform() {
        // Noisy CPU shares: 160 levels, 7.33 bits each.
        let cpu: Vec<f64> = (0..60)
            .map(|i| f64::from((i * 97 % 160) + 200) / 10.0)
            .collect();
        let (mode, bits) = round_trip(&cpu);
        assert_eq!(mode, "decimal");
        assert!(bits < 59 * 22 / 3 + 80, "{bits}");
        // Memory in pages that changes a little each scrape.
        let mem: Vec<f64> = (0..60)
            .map(|i| f64::from(1_000_000 + (i * 37 % 64)) * 4096.0)
            .collect();
        // (64 levels: 6 bits each, plus the first value and the divisor).
        let (_, bits) = round_trip(&mem);
        assert!(bits < 60 * 6 + 150, "{bits}");
        // An idle disk counter in sectors.
        let disk: Vec<f64> = (0..60)
            .scan(5_000_000.0, |c, i| {
                *c += if i % 5 == 0 {
                    f64::from(i * 7 + 1) * 512.0
                } else {
                    0.0
                };
                Some(*c)
            })
            .collect();
        // (a bit per point, 12 bursts of 9 bits, the first value, the divisor)
        let (_, bits) = round_trip(&disk);
        assert!(bits < 59 + 12 * 9 + 100, "{bits}");
        // A constant: almost nothing.
        assert!(round_trip(&[17_179_869_184.0; 60]).1 < 80);
    }

    #[test]
    fn odd_values_are_raw_exceptions_and_floats_stay_xor() {
        let mut v: Vec<f64> = (0..60).map(|i| f64::from(i % 7) / 100.0).collect();
        v[3] = f64::NAN;
        v[20] = -0.0;
        v[59] = f64::from_bits(0x7ff0_0000_dead_beef);
        assert_eq!(round_trip(&v).0, "decimal");
        let floats: Vec<f64> = (0..60).map(|i| f64::from(i).sqrt()).collect();
        assert_eq!(round_trip(&floats).0, "xor");
        assert_eq!(round_trip(&[f64::NAN]).0, "xor");
        assert_eq!(round_trip(&[-0.0, 0.0]).0, "xor");
    }

    #[test]
    fn corrupt_sections_are_refused() {
        let mut w = BitWriter::default();
        w.write(MODE_DECIMAL, 2);
        w.write(12, 4);
        let bytes = w.to_bytes();
        let e = read(&mut BitReader::new(&bytes, "test", 0), 3, 0).unwrap_err();
        assert!(e.to_string().contains("exponent 12"), "{e}");
        let e = read(&mut BitReader::new(&[0xc0], "test", 0), 3, 0).unwrap_err();
        assert!(e.to_string().contains("unknown value mode 3"), "{e}");
        let mut w = BitWriter::default();
        w.write(MODE_DECIMAL, 2);
        w.write(0, 4);
        w.write(1, 2);
        w.count(3);
        let bytes = w.to_bytes();
        let e = read(&mut BitReader::new(&bytes, "test", 0), 3, 0).unwrap_err();
        assert!(e.to_string().contains("3 raw values"), "{e}");
    }

    proptest! {
        #[test]
        fn decimal_values_round_trip(
            e in 0u32..10,
            ms in prop::collection::vec(prop_oneof![-1000i64..1000, -(1i64 << 53)..(1i64 << 53)], 1..200),
            odd in prop::collection::vec((any::<prop::sample::Index>(), any::<f64>()), 0..4),
        ) {
            let scale = 10f64.powi(e as i32);
            let mut v: Vec<f64> = ms.iter().map(|&m| m as f64 / scale).collect();
            for (at, x) in odd {
                let i = at.index(v.len());
                v[i] = x;
            }
            round_trip(&v);
        }

        #[test]
        fn random_bits_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), count in 1usize..100) {
            let _ = read(&mut BitReader::new(&bytes, "test", 0), count, 0);
        }
    }
}
