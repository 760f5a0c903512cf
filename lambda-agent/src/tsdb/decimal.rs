//! The decimal value mode of version-1 blocks (decoding only: blocks are
//! now written in version 2, see [`super::values`], but blocks already in
//! the cluster stay readable).
//!
//! Such a block stores `m_i = v_i × 10^e` (`e` ≤ 4) as integers: the first
//! in the header, the rest as first differences or second differences, each
//! in an adaptive-width code: `0` for zero; `10` plus the zigzag value in
//! the current width; `11`, 6 bits of width − 1, and the value in that
//! width (which becomes the current width). Timestamps use the
//! delta-of-delta code of the XOR mode, interleaved with the values.

use super::Point;
use super::bits::{BitReader, unzigzag};
use super::error::DecodeError;
use super::gorilla::next_ts;

const POW10: [f64; 5] = [1.0, 10.0, 100.0, 1000.0, 10000.0];

/// Difference order of the integer sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// First differences.
    Delta = 1,
    /// Second differences.
    DeltaOfDelta = 2,
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
