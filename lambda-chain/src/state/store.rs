//! The chain's RocksDB database: one directory, one column family per kind
//! of data, and atomic multi-family write batches.
//!
//! | family | key | value |
//! |---|---|---|
//! | `state` | state key (see `keys`) | record (postcard) |
//! | `leaves` | bucket (u16 BE) ‖ state key | leaf hash of the record |
//! | `buckets` | bucket (u16 BE) | bucket hash |
//! | `blocks` | height (u64 BE) | block (protobuf) |
//! | `headers` | height (u64 BE) | header (protobuf) |
//! | `certs` | height (u64 BE) | commit certificate (protobuf) |
//! | `txs` | tx hash | height (u64 BE) ‖ index (u32 BE) |
//! | `meta` | name | genesis digest, latest height |
//!
//! A block commits in one `WriteBatch` across every family, synced by
//! default, so a crash leaves either all of a block or none of it.

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions};

use crate::error::ChainError;

/// A column family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cf {
    State,
    Leaves,
    Buckets,
    Blocks,
    Headers,
    Certs,
    Txs,
    Meta,
}

impl Cf {
    const ALL: [Cf; 8] = [
        Cf::State,
        Cf::Leaves,
        Cf::Buckets,
        Cf::Blocks,
        Cf::Headers,
        Cf::Certs,
        Cf::Txs,
        Cf::Meta,
    ];

    fn name(self) -> &'static str {
        match self {
            Cf::State => "state",
            Cf::Leaves => "leaves",
            Cf::Buckets => "buckets",
            Cf::Blocks => "blocks",
            Cf::Headers => "headers",
            Cf::Certs => "certs",
            Cf::Txs => "txs",
            Cf::Meta => "meta",
        }
    }
}

/// Key-value pairs of a scan.
pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Meta key of the genesis digest.
pub(crate) const META_GENESIS: &[u8] = b"genesis";
/// Meta key of the latest committed height.
pub(crate) const META_HEIGHT: &[u8] = b"height";
/// Meta key of the genesis state root.
pub(crate) const META_GENESIS_ROOT: &[u8] = b"genesis_root";

/// Writes to apply atomically.
#[derive(Default)]
pub(crate) struct Batch {
    ops: Vec<(Cf, Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub(crate) fn put(&mut self, cf: Cf, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((cf, key, Some(value)));
    }

    pub(crate) fn delete(&mut self, cf: Cf, key: Vec<u8>) {
        self.ops.push((cf, key, None));
    }
}

/// The database.
pub(crate) struct Store {
    db: DB,
    sync: bool,
}

impl Store {
    /// Opens or creates the database in `dir`.
    pub(crate) fn open(dir: &Path, sync: bool) -> Result<Self, ChainError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.set_max_background_jobs(2);
        let families = Cf::ALL.iter().map(|cf| {
            let mut o = Options::default();
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(cf.name(), o)
        });
        let db = DB::open_cf_descriptors(&opts, dir, families)?;
        Ok(Self { db, sync })
    }

    fn handle(&self, cf: Cf) -> Result<&rocksdb::ColumnFamily, ChainError> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| ChainError::Storage(format!("column family {} missing", cf.name())))
    }

    /// Reads one key.
    pub(crate) fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, ChainError> {
        Ok(self.db.get_cf(self.handle(cf)?, key)?)
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub(crate) fn scan_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<Entries, ChainError> {
        self.scan_prefix_limit(cf, prefix, usize::MAX)
    }

    /// The first `limit` entries whose key starts with `prefix`, in key
    /// order.
    pub(crate) fn scan_prefix_limit(
        &self,
        cf: Cf,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Entries, ChainError> {
        let mut ro = ReadOptions::default();
        if let Some(end) = prefix_end(prefix) {
            ro.set_iterate_upper_bound(end);
        }
        let iter = self.db.iterator_cf_opt(
            self.handle(cf)?,
            ro,
            IteratorMode::From(prefix, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    /// Applies `batch` atomically (synced unless opened without sync).
    pub(crate) fn write(&self, batch: Batch) -> Result<(), ChainError> {
        let mut wb = rocksdb::WriteBatch::default();
        for (cf, key, value) in batch.ops {
            let h = self.handle(cf)?;
            match value {
                Some(v) => wb.put_cf(h, key, v),
                None => wb.delete_cf(h, key),
            }
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(self.sync);
        Ok(self.db.write_opt(wb, &wo)?)
    }

    /// Syncs the RocksDB log and flushes the memtables to disk (at
    /// shutdown; committed blocks are already durable when writes sync).
    pub(crate) fn flush(&self) -> Result<(), ChainError> {
        self.db.flush_wal(true)?;
        Ok(self.db.flush()?)
    }
}

/// The smallest key greater than every key starting with `prefix` (None if
/// the prefix is all 0xff).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A height as a big-endian key.
pub(crate) fn height_key(h: u64) -> Vec<u8> {
    h.to_be_bytes().to_vec()
}

/// Reads a big-endian u64 value.
pub(crate) fn read_u64(bytes: &[u8], what: &'static str) -> Result<u64, ChainError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| ChainError::Corrupt {
        what,
        reason: format!("{} bytes, expected 8", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_scan_and_atomic_batches() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), false).unwrap();
        let mut b = Batch::default();
        for k in [&[1u8, 0][..], &[1, 0xff], &[2], &[0, 9]] {
            b.put(Cf::State, k.to_vec(), vec![7]);
        }
        s.write(b).unwrap();
        let got: Vec<Vec<u8>> = s
            .scan_prefix(Cf::State, &[1])
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(got, vec![vec![1, 0], vec![1, 0xff]]);
        let first = s.scan_prefix_limit(Cf::State, &[1], 1).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].0, vec![1, 0]);
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff]), None);
        assert!(read_u64(&[1, 2], "x").is_err());
    }
}
