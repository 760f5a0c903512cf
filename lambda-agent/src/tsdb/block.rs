//! Sealed blocks: an immutable run of one series' points, compressed, with
//! a small header and a checksum, plus the summary the index keeps for
//! each block.
//!
//! Layout (version 2, written since the compression work of issue 8):
//!
//! ```text
//! version u8 = 2 | count varint | first timestamp zigzag varint
//! | bit stream: timestamp section | value section | zero padding to a byte
//! | CRC32 (LE) of everything before it
//! ```
//!
//! The timestamp section ([`super::timestamps`]) is Gorilla's delta of
//! delta or, for scraped series, a grid with packed jitter residuals; the
//! value section ([`super::values`]) is Gorilla's XOR code or, for exact
//! decimals, packed integers. Each section picks the smaller code for its
//! block, so a version-2 block is never larger than the same points as a
//! version-1 XOR block (plain Gorilla). A block has at least 2 bits per point
//! after the first, or at most [`MAX_SPARSE_POINTS`] points, which bounds
//! what a corrupt count can make a reader allocate.
//!
//! Version 1 (still decoded):
//!
//! ```text
//! version u8 = 1 | count varint | first timestamp zigzag varint | mode u8
//! | mode 0 (XOR):     Gorilla bit stream, timestamps and values interleaved
//! | mode 1 (decimal): exponent u8 | order u8 | first integer zigzag varint | bit stream
//! | CRC32 (LE) of everything before it
//! ```
//!
//! The series is named by the block's key (see [`super::keys`]), not
//! repeated inside. Encoding is deterministic: the same points always give
//! the same bytes, so re-uploading a block after a crash writes identical
//! content under the same key.

use super::Point;
use super::bits::{BitReader, BitWriter};
use super::codec::{Reader, Writer};
use super::decimal;
use super::error::DecodeError;
use super::gorilla::{self, GorillaEncoder};
use super::{timestamps, values};

const VERSION_1: u8 = 1;
const VERSION: u8 = 2;
const MODE_XOR: u8 = 0;
const MODE_DECIMAL: u8 = 1;

/// Most points a block with fewer than 2 bits per point may hold.
pub const MAX_SPARSE_POINTS: usize = 1 << 20;

fn header(version: u8, count: u32, first_ts: i64, payload_len: usize) -> Writer {
    let mut w = Writer::with_capacity(payload_len + 24);
    w.u8(version);
    w.varint(u64::from(count));
    w.zigzag(first_ts);
    w
}

/// The version-1 XOR block of an encoder's stream (the fallback if the
/// stream cannot be read back, which does not happen).
fn xor_v1(enc: &GorillaEncoder, payload: &[u8]) -> Vec<u8> {
    let mut w = header(VERSION_1, enc.count(), enc.first_ts(), payload.len());
    w.u8(MODE_XOR);
    w.buf.extend_from_slice(payload);
    w.seal_crc();
    w.buf
}

/// Encodes a block from an encoder's points (the encoder stays usable),
/// each section in its smaller code.
pub fn encode(enc: &GorillaEncoder) -> Vec<u8> {
    let payload = enc.payload();
    let count = enc.count() as usize;
    let Ok(points) = gorilla::decode(&payload, enc.first_ts(), count, 0) else {
        return xor_v1(enc, &payload);
    };
    let ts: Vec<i64> = points.iter().map(|p| p.timestamp_ms).collect();
    let vals: Vec<f64> = points.iter().map(|p| p.value).collect();
    // The encoder's stream is the two Gorilla codes interleaved.
    let xor_bits = enc.bit_len() - timestamps::dod_cost(&ts);
    let mut bits = BitWriter::with_capacity(payload.len());
    timestamps::write(&mut bits, &ts, false);
    values::write(&mut bits, &vals, xor_bits, false);
    if count > MAX_SPARSE_POINTS && bits.bit_len() < 2 * count as u64 {
        bits = BitWriter::with_capacity(payload.len());
        timestamps::write(&mut bits, &ts, true);
        values::write(&mut bits, &vals, xor_bits, true);
    }
    let body = bits.to_bytes();
    let mut w = header(VERSION, enc.count(), enc.first_ts(), body.len());
    w.buf.extend_from_slice(&body);
    w.seal_crc();
    w.buf
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

/// A block's header fields, checked.
struct Header<'a> {
    version: u8,
    count: usize,
    first_ts: i64,
    /// Everything after the header, before the checksum.
    rest: Reader<'a>,
}

fn read_header(bytes: &[u8]) -> Result<Header<'_>, DecodeError> {
    let mut r = Reader::with_crc(bytes, "block")?;
    let version = r.u8("version")?;
    if version != VERSION && version != VERSION_1 {
        return Err(r.err(format!("unknown block version {version}")));
    }
    let count = r.varint("point count")?;
    if count == 0 {
        return Err(r.err("block has no points"));
    }
    // Every point after the first takes at least 2 bits, except in small
    // version-2 blocks.
    let dense_max = r.remaining() as u64 * 4 + 1;
    if count > dense_max && (version == VERSION_1 || count > MAX_SPARSE_POINTS as u64) {
        return Err(r.err(format!(
            "point count {count} cannot fit in {} bytes",
            r.remaining()
        )));
    }
    let first_ts = r.zigzag("first timestamp")?;
    if !(0..=super::MAX_TIMESTAMP_MS).contains(&first_ts) {
        return Err(r.err(format!("first timestamp {first_ts} out of range")));
    }
    Ok(Header {
        version,
        count: count as usize,
        first_ts,
        rest: r,
    })
}

/// Decodes a block, checking its checksum, version and timestamps.
pub fn decode(bytes: &[u8]) -> Result<Vec<Point>, DecodeError> {
    let mut h = read_header(bytes)?;
    if h.version == VERSION_1 {
        return decode_v1(h);
    }
    let at = h.rest.pos();
    let body = h.rest.take(h.rest.remaining(), "payload")?;
    let mut r = BitReader::new(body, "block", at);
    let ts = timestamps::read(&mut r, h.first_ts, h.count, at)?;
    let vals = values::read(&mut r, h.count, at)?;
    if r.remaining() >= 8 {
        return Err(r.err(format!("{} unexpected trailing bits", r.remaining())));
    }
    Ok(ts
        .into_iter()
        .zip(vals)
        .map(|(t, v)| Point::new(t, v))
        .collect())
}

fn decode_v1(mut h: Header<'_>) -> Result<Vec<Point>, DecodeError> {
    let r = &mut h.rest;
    match r.u8("value mode")? {
        MODE_XOR => {
            let at = r.pos();
            let payload = r.take(r.remaining(), "payload")?;
            gorilla::decode(payload, h.first_ts, h.count, at)
        }
        MODE_DECIMAL => {
            let exponent = r.u8("decimal exponent")?;
            let order = r.u8("difference order")?;
            let first = r.zigzag("first value")?;
            let at = r.pos();
            let payload = r.take(r.remaining(), "payload")?;
            decimal::decode(payload, h.first_ts, h.count, exponent, order, first, at)
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
    /// The timestamp code: `dod` or `grid`.
    pub timestamp_code: &'static str,
    /// The value code: `xor` or `decimal`.
    pub value_code: &'static str,
}

/// The layout of a block (decoding it).
pub fn layout(bytes: &[u8]) -> Result<BlockLayout, DecodeError> {
    let mut h = read_header(bytes)?;
    let total = bytes.len() as u64 * 8;
    if h.version == VERSION_1 {
        let mut r = h.rest.clone();
        let points = decode_v1(h)?;
        let ts: Vec<i64> = points.iter().map(|p| p.timestamp_ms).collect();
        let value_code = if r.u8("value mode")? == MODE_XOR {
            "xor"
        } else {
            r.u8("decimal exponent")?;
            r.u8("difference order")?;
            r.zigzag("first value")?;
            "decimal"
        };
        let timestamp_bits = timestamps::dod_cost(&ts);
        let value_bits = (r.remaining() as u64 * 8).saturating_sub(timestamp_bits);
        return Ok(BlockLayout {
            version: VERSION_1,
            points: points.len(),
            timestamp_bits,
            value_bits,
            overhead_bits: total - timestamp_bits - value_bits,
            timestamp_code: "dod",
            value_code,
        });
    }
    let at = h.rest.pos();
    let body = h.rest.take(h.rest.remaining(), "payload")?;
    let mut r = BitReader::new(body, "block", at);
    let timestamp_code = if body.first().is_some_and(|b| b >> 6 == 1) {
        "grid"
    } else {
        "dod"
    };
    timestamps::read(&mut r, h.first_ts, h.count, at)?;
    let after_ts = r.position();
    let value_code = if r.peek(2)? == 1 { "decimal" } else { "xor" };
    values::read(&mut r, h.count, at)?;
    let (timestamp_bits, value_bits) = (after_ts - 2, r.position() - after_ts - 2);
    Ok(BlockLayout {
        version: VERSION,
        points: h.count,
        timestamp_bits,
        value_bits,
        overhead_bits: total - timestamp_bits - value_bits,
        timestamp_code,
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
