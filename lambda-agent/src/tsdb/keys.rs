//! The deterministic cluster keys of the time-series store.
//!
//! ```text
//! ts/v1/block/<series id, 16 hex>/<first timestamp ms, 15 digits>   a sealed block
//! ts/v1/index/<series id, 16 hex>/<day>                           the series' index shard of one UTC day
//! ts/v1/catalog/<metric name>                                     the series of a metric
//! ```
//!
//! A block is keyed by its first timestamp: a series' timestamps strictly
//! increase and its blocks never overlap, so no two blocks share a key, and
//! re-sealing the same points after a crash gives the same key and bytes.
//! Index shards hold the summaries of the blocks whose first timestamp falls
//! in that day (days since the Unix epoch, UTC). Zero-padding keeps keys of a
//! series in time order for range scans.

use super::series::SeriesId;

/// Milliseconds in one index shard.
pub const DAY_MS: i64 = 86_400_000;

/// Key of a sealed block.
pub fn block(series: SeriesId, first_ts: i64) -> String {
    format!("ts/v1/block/{series}/{first_ts:015}")
}

/// Key of a series' index shard for `day`.
pub fn index_shard(series: SeriesId, day: i64) -> String {
    format!("ts/v1/index/{series}/{day}")
}

/// Key of a metric's catalog.
pub fn catalog(metric: &str) -> String {
    format!("ts/v1/catalog/{metric}")
}

/// The day (index shard) of a timestamp.
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable() {
        let id = SeriesId(0xab);
        assert_eq!(
            block(id, 1_700_000_000_000),
            "ts/v1/block/00000000000000ab/001700000000000"
        );
        assert_eq!(index_shard(id, 19675), "ts/v1/index/00000000000000ab/19675");
        assert_eq!(catalog("cpu"), "ts/v1/catalog/cpu");
        assert_eq!(day_of(DAY_MS * 3 + 5), 3);
    }
}
