//! The store's small local state file: for each series, its key, the last
//! timestamp the cluster has acknowledged in a sealed block (the watermark
//! below which WAL points are already safe), and whether the series is in
//! its metric's catalog.
//!
//! Written atomically (temporary file, fsync, rename, fsync of the
//! directory) after each upload round, before WAL segments are deleted.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::codec::{Reader, Writer};
use super::error::{DecodeError, Result, TsdbError};
use super::series::SeriesKey;

const VERSION: u8 = 1;

/// What the state file says of one series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesRecord {
    /// The series.
    pub key: SeriesKey,
    /// Last timestamp in an acknowledged block.
    pub acked_last_ts: Option<i64>,
    /// In its metric's catalog.
    pub catalogued: bool,
}

/// Encodes the state.
pub fn encode(records: &[SeriesRecord]) -> Vec<u8> {
    let mut w = Writer::with_capacity(64 * records.len() + 8);
    w.u8(VERSION);
    w.varint(records.len() as u64);
    for r in records {
        r.key.encode(&mut w);
        w.i64(r.acked_last_ts.unwrap_or(i64::MIN));
        w.u8(u8::from(r.catalogued));
    }
    w.seal_crc();
    w.buf
}

/// Decodes the state.
pub fn decode(bytes: &[u8]) -> Result<Vec<SeriesRecord>, DecodeError> {
    let mut r = Reader::with_crc(bytes, "state file")?;
    let v = r.u8("version")?;
    if v != VERSION {
        return Err(r.err(format!("unknown state version {v}")));
    }
    let n = r.count("series count", 11)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let key = SeriesKey::decode(&mut r)?;
        let acked = r.i64("acknowledged timestamp")?;
        let catalogued = match r.u8("catalogued flag")? {
            0 => false,
            1 => true,
            b => return Err(r.err(format!("catalogued flag {b} is neither 0 nor 1"))),
        };
        out.push(SeriesRecord {
            key,
            acked_last_ts: (acked != i64::MIN).then_some(acked),
            catalogued,
        });
    }
    r.finish()?;
    Ok(out)
}

/// Reads `path` (no file: no series).
pub fn load(path: &Path) -> Result<Vec<SeriesRecord>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(decode(&bytes)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(TsdbError::io("reading", path, e)),
    }
}

/// Replaces `path` atomically.
pub fn save(path: &Path, records: &[SeriesRecord]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let bytes = encode(records);
    File::create(&tmp)
        .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
        .map_err(|e| TsdbError::io("writing", tmp.clone(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| TsdbError::io("renaming", tmp.clone(), e))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| TsdbError::io("syncing directory", dir, e))?;
    }
    Ok(())
}
