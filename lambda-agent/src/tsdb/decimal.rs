//! The decimal value mode of sealed blocks: an extension of Gorilla for
//! values that are exact decimals (integers, or numbers with up to four
//! fraction digits such as a CPU share of 12.3 % or a load of 0.53), which
//! XOR coding handles badly because their binary mantissas are long.
//!
//! Such a block stores `m_i = v_i × 10^e` as integers: the first in the
//! header, the rest as first differences (gauges) or second differences
//! (counters), whichever is smaller, each in an adaptive-width code: `0` for
//! zero; `10` plus the zigzag value in the current width; `11`, 6 bits of
//! width − 1, and the value in that width (which becomes the current
//! width). A value qualifies only if `m / 10^e` gives back its exact bits
//! (so NaN, ±inf and −0.0 never do), which makes the mode lossless.
//! Timestamps use the same delta-of-delta code as the XOR mode.
//!
//! The mode is chosen when a block is sealed, by encoding both ways and
//! keeping the smaller (deterministic, so the same points still give the
//! same bytes); the in-memory chunk is always XOR-coded.

use super::Point;
use super::bits::{BitReader, BitWriter};
use super::error::DecodeError;
use super::gorilla::{next_ts, write_dod};

const POW10: [f64; 5] = [1.0, 10.0, 100.0, 1000.0, 10000.0];
const MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Difference order of the integer sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// First differences.
    Delta = 1,
    /// Second differences.
    DeltaOfDelta = 2,
}

/// A decimal-coded run of points.
#[derive(Debug)]
pub(crate) struct DecimalBlock {
    pub(crate) exponent: u8,
    pub(crate) order: Order,
    pub(crate) first: i64,
    pub(crate) payload: Vec<u8>,
}

fn scaled(v: f64, e: usize) -> Option<i64> {
    let m = (v * POW10[e]).round();
    if m.is_nan() || m.abs() > MAX_EXACT {
        return None;
    }
    let m = m as i64;
    // Compare with exactly what the decoder computes (this also refuses
    // −0.0, whose integer is +0).
    ((m as f64 / POW10[e]).to_bits() == v.to_bits()).then_some(m)
}

/// The smallest exponent that represents every value exactly, with the
/// integers.
fn integers(points: &[Point]) -> Option<(u8, Vec<i64>)> {
    'exp: for e in 0..POW10.len() {
        let mut out = Vec::with_capacity(points.len());
        for p in points {
            match scaled(p.value, e) {
                Some(m) => out.push(m),
                None => continue 'exp,
            }
        }
        return Some((e as u8, out));
    }
    None
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

#[inline]
fn write_int(w: &mut BitWriter, x: i64, width: &mut u32) {
    let z = zigzag(x);
    if z == 0 {
        w.write(0, 1);
        return;
    }
    let len = 64 - z.leading_zeros();
    // Reuse the current width unless a narrower one saves more than its
    // 6-bit announcement.
    if len <= *width && *width - len <= 6 {
        w.write(0b10, 2);
        w.write(z, *width);
    } else {
        w.write(0b11, 2);
        w.write(u64::from(len - 1), 6);
        w.write(z, len);
        *width = len;
    }
}

fn encode_order(points: &[Point], ms: &[i64], order: Order) -> (Vec<u8>, u64) {
    let mut w = BitWriter::with_capacity(points.len() * 2);
    let (mut prev_delta_ts, mut prev_m, mut prev_dm, mut width) = (0i64, ms[0], 0i64, 0u32);
    for i in 1..points.len() {
        let delta = points[i].timestamp_ms - points[i - 1].timestamp_ms;
        write_dod(&mut w, delta - prev_delta_ts);
        prev_delta_ts = delta;
        let dm = ms[i] - prev_m;
        let x = match order {
            Order::Delta => dm,
            Order::DeltaOfDelta => dm - prev_dm,
        };
        write_int(&mut w, x, &mut width);
        prev_m = ms[i];
        prev_dm = dm;
    }
    (w.to_bytes(), w.bit_len())
}

/// Encodes ordered points in the decimal mode, in the smaller of the two
/// orders; `None` when some value is not an exact decimal.
pub(crate) fn encode(points: &[Point]) -> Option<DecimalBlock> {
    let (exponent, ms) = integers(points)?;
    let (d1, l1) = encode_order(points, &ms, Order::Delta);
    let (d2, l2) = encode_order(points, &ms, Order::DeltaOfDelta);
    let (order, payload) = if l2 < l1 {
        (Order::DeltaOfDelta, d2)
    } else {
        (Order::Delta, d1)
    };
    Some(DecimalBlock {
        exponent,
        order,
        first: ms[0],
        payload,
    })
}

#[inline]
fn read_int(
    r: &mut BitReader<'_>,
    width: &mut u32,
    i: usize,
    at: usize,
) -> Result<i64, DecodeError> {
    if !r.bit()? {
        return Ok(0);
    }
    if r.bit()? {
        *width = r.read(6)? as u32 + 1;
    } else if *width == 0 {
        return Err(DecodeError::new(
            "block",
            at,
            format!("point {i}: value reuses a width before any was set"),
        ));
    }
    Ok(unzigzag(r.read(*width)?))
}

/// Decodes a decimal-mode payload.
pub(crate) fn decode(
    payload: &[u8],
    first_ts: i64,
    count: usize,
    exponent: u8,
    order: u8,
    first: i64,
    at: usize,
) -> Result<Vec<Point>, DecodeError> {
    let Some(&scale) = POW10.get(usize::from(exponent)) else {
        return Err(DecodeError::new(
            "block",
            at,
            format!("decimal exponent {exponent} is above 4"),
        ));
    };
    let order = match order {
        1 => Order::Delta,
        2 => Order::DeltaOfDelta,
        o => {
            return Err(DecodeError::new(
                "block",
                at,
                format!("unknown difference order {o}"),
            ));
        }
    };
    let mut out = Vec::with_capacity(count.min(payload.len() * 8 + 1));
    let mut r = BitReader::new(payload, "block", at);
    let (mut ts, mut delta, mut m, mut dm, mut width) = (first_ts, 0i64, first, 0i64, 0u32);
    let overflow = |i: usize| DecodeError::new("block", at, format!("point {i}: value overflows"));
    out.push(Point::new(ts, m as f64 / scale));
    for i in 1..count {
        (ts, delta) = next_ts(&mut r, ts, delta, i, at)?;
        let x = read_int(&mut r, &mut width, i, at)?;
        dm = match order {
            Order::Delta => x,
            Order::DeltaOfDelta => dm.checked_add(x).ok_or_else(|| overflow(i))?,
        };
        m = m.checked_add(dm).ok_or_else(|| overflow(i))?;
        out.push(Point::new(ts, m as f64 / scale));
    }
    Ok(out)
}
