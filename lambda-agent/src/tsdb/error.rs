//! The time-series store's typed errors.
//!
//! Every error a client can cause names what was wrong (the series, the
//! timestamps, the limit); every decoding failure names the structure, the
//! byte offset and the reason.

use std::path::PathBuf;

/// A stored or received structure could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("corrupt {what} at byte {offset}: {reason}")]
pub struct DecodeError {
    /// What was being decoded ("block", "WAL record", "index shard", …).
    pub what: &'static str,
    /// Byte offset of the failure inside it.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

impl DecodeError {
    pub(crate) fn new(what: &'static str, offset: usize, reason: impl Into<String>) -> Self {
        Self {
            what,
            offset,
            reason: reason.into(),
        }
    }
}

/// What went wrong in the time-series store.
#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    /// A metric name, label or series is not valid.
    #[error("invalid series: {0}")]
    InvalidSeries(String),
    /// A point's timestamp is not after the series' last one.
    #[error(
        "out-of-order point for {series}: timestamp {got_ms} ms is before the series' last timestamp {last_ms} ms"
    )]
    OutOfOrder {
        /// The series (canonical form).
        series: String,
        /// The series' last accepted timestamp.
        last_ms: i64,
        /// The rejected timestamp.
        got_ms: i64,
    },
    /// A point repeats the series' last timestamp (overwrites are refused).
    #[error(
        "duplicate timestamp for {series}: {got_ms} ms equals the series' last timestamp {last_ms} ms (points are never overwritten)"
    )]
    DuplicateTimestamp {
        /// The series (canonical form).
        series: String,
        /// The series' last accepted timestamp.
        last_ms: i64,
        /// The rejected timestamp (equal to `last_ms`).
        got_ms: i64,
    },
    /// A timestamp outside the accepted range.
    #[error("timestamp {got_ms} ms of {series} is outside 0..={max_ms} ms")]
    TimestampOutOfRange {
        /// The series (canonical form).
        series: String,
        /// The rejected timestamp.
        got_ms: i64,
        /// The largest accepted timestamp.
        max_ms: i64,
    },
    /// Too many sealed blocks wait for upload: the caller should retry later.
    #[error(
        "upload queue full: {pending} sealed blocks wait for the cluster (limit {limit}); retry later"
    )]
    Backpressure {
        /// Blocks waiting.
        pending: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A batch is too large.
    #[error("batch of {points} points exceeds the limit of {limit}")]
    BatchTooLarge {
        /// Points in the batch.
        points: usize,
        /// The limit.
        limit: usize,
    },
    /// The store's settings are not valid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A query's parameters are not valid.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A structure could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The write-ahead log is corrupt before its last segment's tail.
    #[error("write-ahead log {path} is corrupt at byte {offset}: {reason}")]
    WalCorrupt {
        /// The segment file.
        path: PathBuf,
        /// Offset of the bad record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Two different series hash to the same id.
    #[error("series id collision: {existing} and {new} have the same id {id:016x}")]
    SeriesIdCollision {
        /// The series already known.
        existing: String,
        /// The new series.
        new: String,
        /// The shared id.
        id: u64,
    },
    /// The cluster refused or failed a request.
    #[error("cluster: {0}")]
    Remote(String),
}

impl TsdbError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of the store.
pub type Result<T, E = TsdbError> = std::result::Result<T, E>;
