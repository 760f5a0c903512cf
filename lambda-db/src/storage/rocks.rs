//! The RocksDB [`Engine`]: one database per node with a column family per
//! [`Cf`], LZ4-compressed, with synced writes by default so that an
//! acknowledged write survives `kill -9` and power loss.

use std::path::{Path, PathBuf};

use rocksdb::{ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions};

use super::{BatchOp, Cf, Engine, EngineStats, KeyRange, KeyValue, StorageError, WriteBatch};

/// How to open a [`RocksEngine`].
#[derive(Clone, Debug)]
pub struct RocksOptions {
    /// Directory of the database (created if missing).
    pub path: PathBuf,
    /// fsync the write-ahead log before acknowledging a write.
    pub sync_writes: bool,
    /// Block cache size in bytes.
    pub block_cache_bytes: usize,
}

impl RocksOptions {
    /// Defaults for a database at `path`: synced writes, a 64 MiB cache.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            sync_writes: true,
            block_cache_bytes: 64 << 20,
        }
    }
}

/// RocksDB on disk.
pub struct RocksEngine {
    db: DB,
    sync_writes: bool,
    path: PathBuf,
}

impl std::fmt::Debug for RocksEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksEngine")
            .field("path", &self.path)
            .field("sync_writes", &self.sync_writes)
            .finish()
    }
}

fn engine_err(e: rocksdb::Error) -> StorageError {
    StorageError::Engine(e.into_string())
}

impl RocksEngine {
    /// Opens (or creates) the database with every column family.
    pub fn open(opts: &RocksOptions) -> Result<Self, StorageError> {
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        db_opts.set_max_background_jobs(2);
        db_opts.set_bytes_per_sync(1 << 20);
        let cache = rocksdb::Cache::new_lru_cache(opts.block_cache_bytes);
        let families = Cf::ALL.iter().map(|cf| {
            let mut cf_opts = Options::default();
            cf_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            cf_opts.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(cf.name(), cf_opts)
        });
        let db = DB::open_cf_descriptors(&db_opts, &opts.path, families).map_err(engine_err)?;
        Ok(Self {
            db,
            sync_writes: opts.sync_writes,
            path: opts.path.clone(),
        })
    }

    /// Directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn handle(&self, cf: Cf) -> Result<&rocksdb::ColumnFamily, StorageError> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| StorageError::Engine(format!("column family {} missing", cf.name())))
    }

    fn property(&self, cf: Cf, name: &str) -> u64 {
        self.int_property(cf, name).unwrap_or(0)
    }

    /// An integer RocksDB property of column family `cf` (e.g.
    /// `rocksdb.total-sst-files-size`), or None when RocksDB does not know
    /// it. Cheap: read at every metrics scrape.
    pub fn int_property(&self, cf: Cf, name: &str) -> Option<u64> {
        let h = self.handle(cf).ok()?;
        self.db.property_int_value_cf(h, name).ok().flatten()
    }
}

impl Engine for RocksEngine {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.db.get_cf(self.handle(cf)?, key).map_err(engine_err)
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut wb = rocksdb::WriteBatch::default();
        for op in batch.ops {
            match op {
                BatchOp::Put { cf, key, value } => wb.put_cf(self.handle(cf)?, key, value),
                BatchOp::Delete { cf, key } => wb.delete_cf(self.handle(cf)?, key),
            }
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(self.sync_writes);
        self.db.write_opt(wb, &wo).map_err(engine_err)
    }

    fn scan(&self, cf: Cf, range: &KeyRange, limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        let mut ro = ReadOptions::default();
        if let Some(end) = &range.end {
            if end.as_slice() <= range.start.as_slice() {
                return Ok(Vec::new());
            }
            ro.set_iterate_upper_bound(end.clone());
        }
        let iter = self.db.iterator_cf_opt(
            self.handle(cf)?,
            ro,
            IteratorMode::From(&range.start, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (k, v) = item.map_err(engine_err)?;
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db.flush_wal(true).map_err(engine_err)?;
        for cf in Cf::ALL {
            self.db.flush_cf(self.handle(cf)?).map_err(engine_err)?;
        }
        Ok(())
    }

    fn stats(&self) -> EngineStats {
        EngineStats {
            estimated_keys: Cf::ALL
                .iter()
                .map(|cf| (*cf, self.property(*cf, "rocksdb.estimate-num-keys")))
                .collect(),
            live_bytes: Cf::ALL
                .iter()
                .map(|cf| self.property(*cf, "rocksdb.estimate-live-data-size"))
                .sum(),
        }
    }
}
