//! Gorilla compression of a series' points (Pelkonen et al., VLDB 2015):
//! delta-of-delta timestamps and XOR-compressed values, interleaved in one
//! bit stream.
//!
//! Timestamps (milliseconds): the first is in the block header; each later
//! one is coded as the change of its delta to the previous delta (the first
//! delta as a change from 0), in a prefix code whose buckets are tuned for
//! millisecond clocks with scheduler jitter (the paper's buckets assume
//! seconds):
//!
//! | prefix | payload | delta of delta |
//! |---|---|---|
//! | `0` | — | 0 |
//! | `10` | 4 bits | −7 ..= 8 |
//! | `110` | 7 bits | −63 ..= 64 |
//! | `1110` | 12 bits | −2047 ..= 2048 |
//! | `11110` | 32 bits | −(2³¹−1) ..= 2³¹ |
//! | `11111` | 64 bits | anything else (two's complement) |
//!
//! Values: the first is stored raw (64 bits); each later one is XORed with
//! its predecessor. A zero XOR is `0`. Otherwise `1` and either `0` plus the
//! meaningful bits inside the previous leading/trailing-zero window when
//! they fit it, or `1`, 5 bits of leading zeros (capped at 31), 6 bits of
//! meaningful-bit count (64 written as 0) and the meaningful bits, which
//! opens a new window. Values are handled as raw bits, so NaN payloads,
//! ±infinity and −0.0 round-trip exactly.

use super::Point;
use super::bits::{BitReader, BitWriter};
use super::error::DecodeError;

const NO_WINDOW: u32 = u32::MAX;

/// Incremental encoder of one series' points.
#[derive(Clone, Debug)]
pub struct GorillaEncoder {
    w: BitWriter,
    count: u32,
    first_ts: i64,
    prev_ts: i64,
    prev_delta: i64,
    xor: XorState,
}

impl Default for GorillaEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl GorillaEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self {
            w: BitWriter::with_capacity(64),
            count: 0,
            first_ts: 0,
            prev_ts: 0,
            prev_delta: 0,
            xor: XorState::new(0),
        }
    }

    /// Points encoded so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Timestamp of the first point (meaningless while empty).
    pub fn first_ts(&self) -> i64 {
        self.first_ts
    }

    /// Timestamp of the last point (meaningless while empty).
    pub fn last_ts(&self) -> i64 {
        self.prev_ts
    }

    /// Size of the bit stream so far, in bits.
    pub fn bit_len(&self) -> u64 {
        self.w.bit_len()
    }

    /// Appends a point. Timestamps must strictly increase and lie within
    /// `0..=MAX_TIMESTAMP_MS` (the store checks both before calling);
    /// otherwise the point is refused and `Err(last timestamp)` returned.
    pub fn push(&mut self, ts: i64, value: f64) -> Result<(), i64> {
        if !(0..=super::MAX_TIMESTAMP_MS).contains(&ts) || (self.count > 0 && ts <= self.prev_ts) {
            return Err(self.prev_ts);
        }
        let bits = value.to_bits();
        if self.count == 0 {
            self.first_ts = ts;
            self.w.write(bits, 64);
            self.xor = XorState::new(bits);
        } else {
            let delta = ts - self.prev_ts;
            write_dod(&mut self.w, delta - self.prev_delta);
            self.prev_delta = delta;
            self.xor.write(&mut self.w, bits);
        }
        self.prev_ts = ts;
        self.count += 1;
        Ok(())
    }

    /// The bit stream so far (the encoder stays usable).
    pub fn payload(&self) -> Vec<u8> {
        self.w.to_bytes()
    }
}

/// Decodes `count` points whose first timestamp is `first_ts` from a bit
/// stream written by [`GorillaEncoder`]; `base_offset` places the stream
/// inside its block for error messages.
pub fn decode(
    payload: &[u8],
    first_ts: i64,
    count: usize,
    base_offset: usize,
) -> Result<Vec<Point>, DecodeError> {
    let mut out = Vec::with_capacity(count.min(payload.len() * 8 + 1));
    if count == 0 {
        return Ok(out);
    }
    let mut r = BitReader::new(payload, "block", base_offset);
    let mut xor = XorState::new(r.read(64)?);
    let mut ts = first_ts;
    let mut delta = 0i64;
    out.push(Point {
        timestamp_ms: ts,
        value: f64::from_bits(xor.prev),
    });
    for i in 1..count {
        (ts, delta) = next_ts(&mut r, ts, delta, i, base_offset)?;
        let bits = xor.read(&mut r, i, base_offset)?;
        out.push(Point {
            timestamp_ms: ts,
            value: f64::from_bits(bits),
        });
    }
    Ok(out)
}

/// The XOR value code's state: the previous value's bits and the current
/// leading/trailing-zero window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct XorState {
    prev: u64,
    lead: u32,
    trail: u32,
}

impl XorState {
    /// The state after a first value of raw bits `first`.
    pub(crate) fn new(first: u64) -> Self {
        Self {
            prev: first,
            lead: NO_WINDOW,
            trail: 0,
        }
    }

    /// The last value's bits.
    pub(crate) fn prev(&self) -> u64 {
        self.prev
    }

    /// Appends the next value's bits.
    #[inline]
    pub(crate) fn write(&mut self, w: &mut BitWriter, bits: u64) {
        let xor = bits ^ self.prev;
        self.prev = bits;
        if xor == 0 {
            w.write(0, 1);
            return;
        }
        let lead = xor.leading_zeros().min(31);
        let trail = xor.trailing_zeros();
        if self.lead != NO_WINDOW && lead >= self.lead && trail >= self.trail {
            w.write(0b10, 2);
            w.write(xor >> self.trail, 64 - self.lead - self.trail);
        } else {
            let sig = 64 - lead - trail;
            w.write(0b11, 2);
            w.write(u64::from(lead), 5);
            w.write(u64::from(sig & 63), 6);
            w.write(xor >> trail, sig);
            self.lead = lead;
            self.trail = trail;
        }
    }

    /// Reads point `i`'s value bits.
    #[inline]
    pub(crate) fn read(
        &mut self,
        r: &mut BitReader<'_>,
        i: usize,
        base_offset: usize,
    ) -> Result<u64, DecodeError> {
        if !r.bit()? {
            return Ok(self.prev);
        }
        if r.bit()? {
            let l = r.read(5)? as u32;
            let sig = match r.read(6)? as u32 {
                0 => 64,
                s => s,
            };
            if l + sig > 64 {
                return Err(DecodeError::new(
                    "block",
                    base_offset,
                    format!(
                        "point {i}: value window of {l} leading zeros and {sig} bits exceeds 64 bits"
                    ),
                ));
            }
            self.lead = l;
            self.trail = 64 - l - sig;
        } else if self.lead == NO_WINDOW {
            return Err(DecodeError::new(
                "block",
                base_offset,
                format!("point {i}: value reuses a window before any was set"),
            ));
        }
        let v = r.read(64 - self.lead - self.trail)?;
        self.prev ^= if self.trail >= 64 { 0 } else { v << self.trail };
        Ok(self.prev)
    }
}

/// Reads the next timestamp: returns it and its delta.
#[inline]
pub(crate) fn next_ts(
    r: &mut BitReader<'_>,
    ts: i64,
    delta: i64,
    i: usize,
    base_offset: usize,
) -> Result<(i64, i64), DecodeError> {
    let dod = read_dod(r)?;
    let delta = delta.checked_add(dod).filter(|d| *d > 0).ok_or_else(|| {
        DecodeError::new(
            "block",
            base_offset,
            format!("point {i}: timestamps do not increase"),
        )
    })?;
    let ts = ts
        .checked_add(delta)
        .filter(|t| *t <= super::MAX_TIMESTAMP_MS)
        .ok_or_else(|| {
            DecodeError::new(
                "block",
                base_offset,
                format!("point {i}: timestamp out of range"),
            )
        })?;
    Ok((ts, delta))
}

/// Bits [`write_dod`] takes for `dod`.
pub(crate) fn dod_bits(dod: i64) -> u64 {
    match dod {
        0 => 1,
        -7..=8 => 6,
        -63..=64 => 10,
        -2047..=2048 => 16,
        -2_147_483_647..=2_147_483_648 => 37,
        _ => 69,
    }
}

/// Appends a timestamp delta of delta in the prefix code of the table above.
pub(crate) fn write_dod(w: &mut BitWriter, dod: i64) {
    match dod {
        0 => w.write(0, 1),
        -7..=8 => {
            w.write(0b10, 2);
            w.write((dod + 7) as u64, 4);
        }
        -63..=64 => {
            w.write(0b110, 3);
            w.write((dod + 63) as u64, 7);
        }
        -2047..=2048 => {
            w.write(0b1110, 4);
            w.write((dod + 2047) as u64, 12);
        }
        -2_147_483_647..=2_147_483_648 => {
            w.write(0b11110, 5);
            w.write((dod + 2_147_483_647) as u64, 32);
        }
        _ => {
            w.write(0b11111, 5);
            w.write(dod as u64, 64);
        }
    }
}

/// Reads a timestamp delta of delta.
#[inline]
pub(crate) fn read_dod(r: &mut BitReader<'_>) -> Result<i64, DecodeError> {
    Ok(match r.ones(5)? {
        0 => 0,
        1 => r.read(4)? as i64 - 7,
        2 => r.read(7)? as i64 - 63,
        3 => r.read(12)? as i64 - 2047,
        4 => r.read(32)? as i64 - 2_147_483_647,
        _ => r.read(64)? as i64,
    })
}
