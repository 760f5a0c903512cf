//! The write-ahead log: every ingest batch is one record, fsynced before the
//! batch is acknowledged, so a crash loses no acknowledged point.
//!
//! Files `<dir>/<seq, 16 digits>.wal`; a record is framed as
//! `length u32 LE | CRC32 u32 LE of the payload | payload`, and the payload
//! is `kind u8 = 1 | series definitions | points`: each segment defines a
//! series (id and key) before its first point in that segment, so any
//! suffix of segments replays on its own. On open, every segment is
//! replayed in order; a bad or truncated record in the *last* segment is a
//! torn tail (the batch was never acknowledged): the file is cut there. A
//! bad record in an earlier segment is corruption and stops the open. A new
//! segment is started after replay; segments rotate by size or age.
//!
//! A closed segment is deleted only when every point in it has been sealed
//! into a block that the cluster acknowledged (the caller passes the
//! acknowledged watermark of each series).
//!
//! For operators the log counts the bytes it appended and the fsyncs it
//! made ([`WalCounters`]), and remembers why the last append failed.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::codec::{Reader, Writer};
use super::error::{DecodeError, Result, TsdbError};
use super::series::{SeriesId, SeriesKey};

const KIND_BATCH: u8 = 1;
/// Largest record accepted on replay.
const MAX_RECORD_BYTES: u32 = 256 << 20;

/// One ingest batch as logged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WalRecord {
    /// Series defined by this record.
    pub series: Vec<SeriesKey>,
    /// Points: series, timestamp, value.
    pub points: Vec<(SeriesId, i64, f64)>,
}

impl WalRecord {
    /// Encodes the payload (without framing).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(16 + self.points.len() * 24);
        w.u8(KIND_BATCH);
        w.varint(self.series.len() as u64);
        for k in &self.series {
            w.u64(k.id().0);
            k.encode(&mut w);
        }
        w.varint(self.points.len() as u64);
        for (id, ts, v) in &self.points {
            w.u64(id.0);
            w.i64(*ts);
            w.f64(*v);
        }
        w.buf
    }

    /// Decodes a payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "WAL record");
        let kind = r.u8("kind")?;
        if kind != KIND_BATCH {
            return Err(r.err(format!("unknown record kind {kind}")));
        }
        let n = r.count("series count", 10)?;
        let mut series = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u64("series id")?;
            let k = SeriesKey::decode(&mut r)?;
            if k.id().0 != id {
                return Err(r.err(format!(
                    "series {k} logged with id {id:016x}, not {}",
                    k.id()
                )));
            }
            series.push(k);
        }
        let n = r.count("point count", 24)?;
        let mut points = Vec::with_capacity(n);
        for _ in 0..n {
            points.push((
                SeriesId(r.u64("series id")?),
                r.i64("timestamp")?,
                r.f64("value")?,
            ));
        }
        r.finish()?;
        Ok(Self { series, points })
    }
}

/// Frames a payload as a record.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a segment's bytes into records: the records read and, if the
/// bytes end in a bad record, its offset and what is wrong.
pub fn parse_segment(bytes: &[u8]) -> (Vec<WalRecord>, Option<(usize, String)>) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < 8 {
            return (
                out,
                Some((pos, format!("truncated header ({} bytes)", rest.len()))),
            );
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > MAX_RECORD_BYTES {
            return (
                out,
                Some((
                    pos,
                    format!("record length {len} exceeds {MAX_RECORD_BYTES}"),
                )),
            );
        }
        let Some(payload) = rest.get(8..8 + len as usize) else {
            return (
                out,
                Some((
                    pos,
                    format!(
                        "truncated record: {len} bytes announced, {} present",
                        rest.len() - 8
                    ),
                )),
            );
        };
        let actual = crc32fast::hash(payload);
        if actual != crc {
            return (
                out,
                Some((
                    pos,
                    format!("checksum mismatch (stored {crc:08x}, computed {actual:08x})"),
                )),
            );
        }
        match WalRecord::decode(payload) {
            Ok(r) => out.push(r),
            Err(e) => return (out, Some((pos, e.to_string()))),
        }
        pos += 8 + len as usize;
    }
    (out, None)
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    path: PathBuf,
    /// Latest timestamp of each series in the segment.
    max_ts: HashMap<SeriesId, i64>,
}

/// What the log did since it opened, and whether it can take writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalCounters {
    /// Record bytes appended.
    pub bytes_written: u64,
    /// fsyncs of segments and of the log directory.
    pub fsyncs: u64,
    /// Why the last append failed (None once an append succeeds again, and
    /// while none failed).
    pub write_error: Option<String>,
}

/// The log: closed segments plus the one being written.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    closed: Vec<Segment>,
    current: Segment,
    file: File,
    bytes: u64,
    opened_ms: i64,
    defined: HashSet<SeriesId>,
    max_segment_bytes: u64,
    /// Set when a failed append could not be undone: no further writes.
    failed: Option<String>,
    counters: WalCounters,
}

fn seg_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.wal"))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TsdbError::io("syncing directory", dir, e))
}

impl Wal {
    /// Opens the log in `dir`, replaying every segment; returns the log
    /// (writing to a fresh segment) and the records in order.
    pub fn open(dir: &Path, max_segment_bytes: u64, now_ms: i64) -> Result<(Self, Vec<WalRecord>)> {
        std::fs::create_dir_all(dir).map_err(|e| TsdbError::io("creating", dir, e))?;
        let mut seqs = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| TsdbError::io("listing", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| TsdbError::io("listing", dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name
                .strip_suffix(".wal")
                .and_then(|s| s.parse::<u64>().ok())
            {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let mut closed = Vec::new();
        let mut records = Vec::new();
        for (i, &seq) in seqs.iter().enumerate() {
            let path = seg_path(dir, seq);
            let last = i + 1 == seqs.len();
            let recs = replay_segment(&path, last)?;
            let mut max_ts: HashMap<SeriesId, i64> = HashMap::new();
            for r in &recs {
                for (id, ts, _) in &r.points {
                    let e = max_ts.entry(*id).or_insert(*ts);
                    *e = (*e).max(*ts);
                }
            }
            records.extend(recs);
            closed.push(Segment { seq, path, max_ts });
        }
        let next = seqs.last().map_or(1, |s| s + 1);
        let (current, file) = create_segment(dir, next)?;
        let wal = Self {
            dir: dir.to_path_buf(),
            closed,
            current,
            file,
            bytes: 0,
            opened_ms: now_ms,
            defined: HashSet::new(),
            max_segment_bytes,
            failed: None,
            counters: WalCounters {
                fsyncs: 1,
                ..WalCounters::default()
            },
        };
        Ok((wal, records))
    }

    /// Appends one batch and fsyncs it. `key_of` gives the key of a series
    /// not yet defined in the current segment.
    pub fn append<'k>(
        &mut self,
        points: Vec<(SeriesId, i64, f64)>,
        key_of: impl Fn(SeriesId) -> Option<&'k SeriesKey>,
    ) -> Result<()> {
        let mut rec = WalRecord::default();
        let mut new_ids = Vec::new();
        for (id, _, _) in &points {
            if !self.defined.contains(id) && !new_ids.contains(id) {
                new_ids.push(*id);
                if let Some(k) = key_of(*id) {
                    rec.series.push(k.clone());
                }
            }
        }
        rec.points = points;
        if let Some(reason) = &self.failed {
            self.counters.write_error = Some(format!("log refuses writes: {reason}"));
            return Err(TsdbError::io(
                "appending to",
                self.current.path.clone(),
                std::io::Error::other(format!(
                    "log refuses writes since an earlier failure: {reason}"
                )),
            ));
        }
        let framed = frame(&rec.encode());
        let path = self.current.path.clone();
        if let Err(e) = self
            .file
            .write_all(&framed)
            .and_then(|()| self.file.sync_data())
        {
            self.counters.write_error = Some(format!("appending to {}: {e}", path.display()));
            // Cut a partly written record so that later records do not
            // follow a torn one; if even that fails, refuse further writes.
            if let Err(cut) = self
                .file
                .set_len(self.bytes)
                .and_then(|()| self.file.sync_all())
            {
                self.failed = Some(format!("{e}; undoing it failed: {cut}"));
            }
            return Err(TsdbError::io("appending to", path, e));
        }
        self.bytes += framed.len() as u64;
        self.counters.bytes_written += framed.len() as u64;
        self.counters.fsyncs += 1;
        self.counters.write_error = None;
        self.defined.extend(new_ids);
        for (id, ts, _) in &rec.points {
            let e = self.current.max_ts.entry(*id).or_insert(*ts);
            *e = (*e).max(*ts);
        }
        Ok(())
    }

    /// Starts a new segment if the current one is over the size limit, or
    /// non-empty and older than `max_age_ms`.
    pub fn maybe_rotate(&mut self, now_ms: i64, max_age_ms: i64) -> Result<bool> {
        let full = self.bytes >= self.max_segment_bytes;
        let old = self.bytes > 0 && now_ms - self.opened_ms >= max_age_ms;
        if !(full || old) {
            return Ok(false);
        }
        let (seg, file) = create_segment(&self.dir, self.current.seq + 1)?;
        self.counters.fsyncs += 1;
        let prev = std::mem::replace(&mut self.current, seg);
        self.closed.push(prev);
        self.file = file;
        self.bytes = 0;
        self.opened_ms = now_ms;
        self.defined.clear();
        Ok(true)
    }

    /// Deletes closed segments all of whose points are at or below their
    /// series' acknowledged watermark; returns how many were deleted.
    pub fn remove_acked(&mut self, acked: impl Fn(SeriesId) -> Option<i64>) -> Result<usize> {
        let mut removed = 0;
        let mut kept = Vec::with_capacity(self.closed.len());
        for seg in std::mem::take(&mut self.closed) {
            let done = seg
                .max_ts
                .iter()
                .all(|(id, ts)| acked(*id).is_some_and(|a| a >= *ts));
            if done {
                std::fs::remove_file(&seg.path)
                    .map_err(|e| TsdbError::io("removing", seg.path.clone(), e))?;
                removed += 1;
            } else {
                kept.push(seg);
            }
        }
        self.closed = kept;
        if removed > 0 {
            sync_dir(&self.dir)?;
            self.counters.fsyncs += 1;
        }
        Ok(removed)
    }

    /// Bytes appended, fsyncs, and the last append's failure.
    pub fn counters(&self) -> &WalCounters {
        &self.counters
    }

    /// Segments on disk (closed ones plus the current one).
    pub fn segments(&self) -> usize {
        self.closed.len() + 1
    }
}

fn create_segment(dir: &Path, seq: u64) -> Result<(Segment, File)> {
    let path = seg_path(dir, seq);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| TsdbError::io("creating", path.clone(), e))?;
    sync_dir(dir)?;
    Ok((
        Segment {
            seq,
            path,
            max_ts: HashMap::new(),
        },
        file,
    ))
}

fn replay_segment(path: &Path, last: bool) -> Result<Vec<WalRecord>> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| TsdbError::io("reading", path, e))?;
    let (records, bad) = parse_segment(&bytes);
    if let Some((offset, reason)) = bad {
        if !last {
            return Err(TsdbError::WalCorrupt {
                path: path.to_path_buf(),
                offset: offset as u64,
                reason,
            });
        }
        tracing::warn!(path = %path.display(), offset, %reason, "cutting the torn tail of the write-ahead log");
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| TsdbError::io("opening", path, e))?;
        f.set_len(offset as u64)
            .and_then(|()| f.sync_all())
            .map_err(|e| TsdbError::io("truncating", path, e))?;
    }
    Ok(records)
}
