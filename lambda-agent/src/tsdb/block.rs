//! Sealed blocks: an immutable run of one series' points, Gorilla-coded,
//! with a small header and a checksum, plus the summary the index keeps for
//! each block.
//!
//! Layout (version 1):
//!
//! ```text
//! version u8 = 1 | count varint | first timestamp zigzag varint | mode u8
//! | mode 0 (XOR):     Gorilla bit stream (first value raw inside)
//! | mode 1 (decimal): exponent u8 | order u8 | first integer zigzag varint | bit stream
//! | CRC32 (LE) of everything before it
//! ```
//!
//! Mode 0 is Gorilla as in the paper; mode 1 is the decimal extension
//! (private module `tsdb/decimal.rs`), used when it is smaller.
//!
//! The series is named by the block's key (see [`super::keys`]), not
//! repeated inside. Encoding is deterministic: the same points always give
//! the same bytes, so re-uploading a block after a crash writes identical
//! content under the same key.

use super::Point;
use super::codec::{Reader, Writer};
use super::decimal;
use super::error::DecodeError;
use super::gorilla::{self, GorillaEncoder};

const VERSION: u8 = 1;
const MODE_XOR: u8 = 0;
const MODE_DECIMAL: u8 = 1;

fn header(count: u32, first_ts: i64, mode: u8, payload_len: usize) -> Writer {
    let mut w = Writer::with_capacity(payload_len + 24);
    w.u8(VERSION);
    w.varint(u64::from(count));
    w.zigzag(first_ts);
    w.u8(mode);
    w
}

/// Encodes a block from an encoder's points (the encoder stays usable),
/// in the XOR mode or, when smaller, the decimal mode.
pub fn encode(enc: &GorillaEncoder) -> Vec<u8> {
    let payload = enc.payload();
    let mut w = header(enc.count(), enc.first_ts(), MODE_XOR, payload.len());
    w.buf.extend_from_slice(&payload);
    w.seal_crc();
    if enc.count() < 2 {
        return w.buf;
    }
    let Ok(points) = gorilla::decode(&payload, enc.first_ts(), enc.count() as usize, 0) else {
        return w.buf;
    };
    match decimal::encode(&points) {
        Some(d) if d.payload.len() + 12 < w.buf.len() => {
            let mut dw = header(enc.count(), enc.first_ts(), MODE_DECIMAL, d.payload.len());
            dw.u8(d.exponent);
            dw.u8(d.order as u8);
            dw.zigzag(d.first);
            dw.buf.extend_from_slice(&d.payload);
            dw.seal_crc();
            if dw.buf.len() < w.buf.len() {
                dw.buf
            } else {
                w.buf
            }
        }
        _ => w.buf,
    }
}

/// Encodes points (strictly increasing timestamps) as a block.
pub fn encode_points(points: &[Point]) -> Result<Vec<u8>, DecodeError> {
    let mut enc = GorillaEncoder::new();
    for (i, p) in points.iter().enumerate() {
        enc.push(p.timestamp_ms, p.value).map_err(|last| {
            DecodeError::new(
                "points",
                i,
                format!("timestamp {} does not follow {last}", p.timestamp_ms),
            )
        })?;
    }
    Ok(encode(&enc))
}

/// Decodes a block, checking its checksum, version and timestamps.
pub fn decode(bytes: &[u8]) -> Result<Vec<Point>, DecodeError> {
    let mut r = Reader::with_crc(bytes, "block")?;
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(r.err(format!("unknown block version {version}")));
    }
    let count = r.varint("point count")?;
    if count == 0 {
        return Err(r.err("block has no points"));
    }
    // Every point after the first takes at least 2 bits.
    if count > (r.remaining() as u64 * 4 + 1) {
        return Err(r.err(format!(
            "point count {count} cannot fit in {} bytes",
            r.remaining()
        )));
    }
    let first_ts = r.zigzag("first timestamp")?;
    if !(0..=super::MAX_TIMESTAMP_MS).contains(&first_ts) {
        return Err(r.err(format!("first timestamp {first_ts} out of range")));
    }
    match r.u8("value mode")? {
        MODE_XOR => {
            let at = r.pos();
            let payload = r.take(r.remaining(), "payload")?;
            gorilla::decode(payload, first_ts, count as usize, at)
        }
        MODE_DECIMAL => {
            let exponent = r.u8("decimal exponent")?;
            let order = r.u8("difference order")?;
            let first = r.zigzag("first value")?;
            let at = r.pos();
            let payload = r.take(r.remaining(), "payload")?;
            decimal::decode(
                payload,
                first_ts,
                count as usize,
                exponent,
                order,
                first,
                at,
            )
        }
        m => Err(r.err(format!("unknown value mode {m}"))),
    }
}

/// Where a block's bits go, for diagnostics (`tsdb-bench --breakdown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLayout {
    /// Format version.
    pub version: u8,
    /// Points.
    pub points: usize,
    /// Bits of the timestamps after the first.
    pub timestamp_bits: u64,
    /// Bits of the values.
    pub value_bits: u64,
    /// Everything else: version, count, first timestamp, modes, padding,
    /// checksum.
    pub overhead_bits: u64,
    /// The timestamp code: `dod`.
    pub timestamp_code: &'static str,
    /// The value code: `xor` or `decimal`.
    pub value_code: &'static str,
}

/// The layout of a block (decoding it).
pub fn layout(bytes: &[u8]) -> Result<BlockLayout, DecodeError> {
    let points = decode(bytes)?;
    let mut r = Reader::with_crc(bytes, "block")?;
    r.u8("version")?;
    r.varint("point count")?;
    r.zigzag("first timestamp")?;
    let value_code = if r.u8("value mode")? == MODE_XOR {
        "xor"
    } else {
        r.u8("decimal exponent")?;
        r.u8("difference order")?;
        r.zigzag("first value")?;
        "decimal"
    };
    let mut prev = 0i64;
    let mut timestamp_bits = 0;
    for w in points.windows(2) {
        let delta = w[1].timestamp_ms - w[0].timestamp_ms;
        timestamp_bits += gorilla::dod_bits(delta - prev);
        prev = delta;
    }
    let value_bits = (r.remaining() as u64 * 8).saturating_sub(timestamp_bits);
    Ok(BlockLayout {
        version: VERSION,
        points: points.len(),
        timestamp_bits,
        value_bits,
        overhead_bits: bytes.len() as u64 * 8 - timestamp_bits - value_bits,
        timestamp_code: "dod",
        value_code,
    })
}

/// What the index knows of a block without reading it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockMeta {
    /// First timestamp (also the block's key).
    pub first_ts: i64,
    /// Last timestamp.
    pub last_ts: i64,
    /// Points.
    pub count: u32,
    /// Points whose value is NaN (left out of min, max and sum).
    pub nan_count: u32,
    /// Smallest non-NaN value (+inf if none).
    pub min: f64,
    /// Largest non-NaN value (−inf if none).
    pub max: f64,
    /// Sum of non-NaN values.
    pub sum: f64,
    /// Encoded size in bytes.
    pub bytes: u32,
}

impl BlockMeta {
    /// The summary of points (non-empty, ordered) encoded in `bytes` bytes.
    pub fn of(points: &[Point], bytes: usize) -> Self {
        let mut m = Self {
            first_ts: points.first().map_or(0, |p| p.timestamp_ms),
            last_ts: points.last().map_or(0, |p| p.timestamp_ms),
            count: 0,
            nan_count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
        };
        for p in points {
            m.add(p.value);
        }
        m
    }

    /// Adds one value to the summary.
    pub fn add(&mut self, v: f64) {
        self.count += 1;
        if v.is_nan() {
            self.nan_count += 1;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            self.sum += v;
        }
    }

    /// Non-NaN values.
    pub fn value_count(&self) -> u32 {
        self.count - self.nan_count
    }

    /// True if the block lies inside `[t0, t1)`.
    pub fn inside(&self, t0: i64, t1: i64) -> bool {
        self.first_ts >= t0 && self.last_ts < t1
    }

    /// True if the block has points in `[t0, t1)` (judging by its bounds).
    pub fn overlaps(&self, t0: i64, t1: i64) -> bool {
        self.first_ts < t1 && self.last_ts >= t0
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.i64(self.first_ts);
        w.i64(self.last_ts);
        w.u32(self.count);
        w.u32(self.nan_count);
        w.f64(self.min);
        w.f64(self.max);
        w.f64(self.sum);
        w.u32(self.bytes);
    }

    /// Encoded size of one summary.
    pub(crate) const ENCODED_LEN: usize = 8 * 2 + 4 * 2 + 8 * 3 + 4;

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.pos();
        let m = Self {
            first_ts: r.i64("first timestamp")?,
            last_ts: r.i64("last timestamp")?,
            count: r.u32("count")?,
            nan_count: r.u32("NaN count")?,
            min: r.f64("min")?,
            max: r.f64("max")?,
            sum: r.f64("sum")?,
            bytes: r.u32("size")?,
        };
        if m.count == 0 || m.nan_count > m.count || m.last_ts < m.first_ts {
            return Err(DecodeError::new(
                "block summary",
                at,
                format!(
                    "inconsistent summary (count {}, NaN count {}, timestamps {}..={})",
                    m.count, m.nan_count, m.first_ts, m.last_ts
                ),
            ));
        }
        Ok(m)
    }
}
