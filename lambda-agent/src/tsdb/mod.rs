//! The agent's time-series store: Gorilla-compressed series in memory for
//! the current block window, a write-ahead log so that no acknowledged
//! point is lost, sealed immutable blocks uploaded to the cluster under
//! deterministic keys with a series index beside them, and range, step
//! aggregate and top-k (DHTop) queries over all of it.
//!
//! Modules, bottom up:
//!
//! - [`series`]: metric + labels, canonical form, stable series id.
//! - [`gorilla`], [`block`]: the compression and the sealed-block format;
//!   sealed blocks code timestamps and values apart, each in the smaller
//!   of Gorilla's code and an extension (private modules `timestamps`:
//!   scrape grids, `values`: exact decimals as integers, `pack`, `radix`:
//!   packed integer runs; `decimal`: the version-1 decimal mode, still read).
//! - [`wal`], [`state`]: what is kept on the agent's disk.
//! - [`keys`], [`index`], [`remote`]: what is kept in the cluster, and how;
//!   [`pdp_store`]: sealed blocks as audited objects with storage contracts.
//! - [`head`], [`store`]: the in-memory head and the [`Tsdb`] façade.
//! - [`query`], [`topk`]: queries.
//! - [`error`]: the typed errors; `bits` and `codec` are private helpers.

mod bits;
pub mod block;
mod codec;
mod decimal;
pub mod error;
pub mod gorilla;
pub mod head;
pub mod index;
pub mod keys;
mod pack;
pub mod pdp_store;
pub mod query;
mod radix;
pub mod remote;
pub mod series;
pub mod state;
pub mod store;
mod timestamps;
pub mod topk;
mod values;
pub mod wal;

pub use error::{DecodeError, TsdbError};
pub use query::StepAggregate;
pub use remote::{MemoryStore, ObjectStore, SdkStore};
pub use series::{SeriesId, SeriesKey};
pub use store::{SeriesPoints, Tsdb, TsdbConfig, TsdbStats, now_ms};
pub use topk::{Score, TopKQuery, TopKResult};

/// Largest accepted timestamp: the end of year 9999, in ms since the epoch.
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// One sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value (any f64, NaN included).
    pub value: f64,
}

impl Point {
    /// A point.
    pub fn new(timestamp_ms: i64, value: f64) -> Self {
        Self {
            timestamp_ms,
            value,
        }
    }
}
