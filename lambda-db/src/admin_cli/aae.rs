//! `lambda-db aae status`: a node's anti-entropy progress — rounds, the
//! current round's progress, keys repaired, bytes, and per partition the
//! time of the last exchange.

use lambda_proto::node::v1 as pb;
use serde_json::json;

use super::{AdminError, call_error, client};

/// Fetches the anti-entropy status of the node at `endpoint`.
pub async fn fetch(endpoint: &str) -> Result<pb::AaeStatusResponse, AdminError> {
    client(endpoint)?
        .aae_status(pb::AaeStatusRequest {})
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| call_error(endpoint, &s))
}

/// The status as JSON.
pub fn json(s: &pb::AaeStatusResponse) -> serde_json::Value {
    json!({
        "node_id": s.node_id,
        "enabled": s.enabled,
        "rounds": s.rounds,
        "partitions_held": s.partitions_held,
        "round_progress": s.round_progress,
        "exchanges": s.exchanges,
        "keys_repaired": s.keys_repaired,
        "bytes": s.bytes,
        "tombstones_reaped": s.tombstones_reaped,
        "trees_rebuilt": s.trees_rebuilt,
        "partitions": s.partitions.iter().map(|p| json!({
            "partition": p.partition, "last_exchange_ms": p.last_exchange_ms,
            "keys_repaired": p.keys_repaired, "bytes": p.bytes, "keys": p.keys,
            "failures": p.failures,
        })).collect::<Vec<_>>(),
    })
}

/// Seconds since `ms` (wall clock), as text.
fn ago(now_ms: i64, ms: i64) -> String {
    if ms <= 0 {
        return "never".into();
    }
    format!("{}s ago", (now_ms - ms).max(0) / 1000)
}

/// The status as a table: totals, then the partitions with the most
/// repairs or failures first (at most `limit` rows).
pub fn table(s: &pb::AaeStatusResponse, now_ms: i64, limit: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "node {}: anti-entropy {}, {} rounds, round progress {}/{} partitions",
        s.node_id,
        if s.enabled { "on" } else { "OFF" },
        s.rounds,
        s.round_progress,
        s.partitions_held
    );
    let _ = writeln!(
        out,
        "exchanges {}, keys repaired {}, bytes {}, tombstones reaped {}, trees rebuilt {}",
        s.exchanges, s.keys_repaired, s.bytes, s.tombstones_reaped, s.trees_rebuilt
    );
    let mut rows: Vec<&pb::PartitionAae> = s.partitions.iter().collect();
    rows.sort_by_key(|p| {
        (
            std::cmp::Reverse((p.keys_repaired, p.failures)),
            p.partition,
        )
    });
    let _ = writeln!(
        out,
        "{:>9} {:>9} {:>13} {:>12} {:>8} {:>14}",
        "PARTITION", "KEYS", "KEYS_REPAIRED", "BYTES", "FAILURES", "LAST_EXCHANGE"
    );
    for p in rows.iter().take(limit) {
        let _ = writeln!(
            out,
            "{:>9} {:>9} {:>13} {:>12} {:>8} {:>14}",
            p.partition,
            p.keys,
            p.keys_repaired,
            p.bytes,
            p.failures,
            ago(now_ms, p.last_exchange_ms)
        );
    }
    if rows.len() > limit {
        let _ = writeln!(
            out,
            "… {} more partitions (-o json lists all)",
            rows.len() - limit
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_the_most_repaired_partitions_first() {
        let s = pb::AaeStatusResponse {
            node_id: "n1".into(),
            enabled: true,
            partitions: vec![
                pb::PartitionAae {
                    partition: 1,
                    keys_repaired: 2,
                    last_exchange_ms: 5_000,
                    ..Default::default()
                },
                pb::PartitionAae {
                    partition: 9,
                    keys_repaired: 40,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let t = table(&s, 10_000, 1);
        assert!(t.contains("anti-entropy on"));
        let row = t.lines().nth(3).unwrap();
        assert!(row.trim_start().starts_with('9'), "{t}");
        assert!(row.contains("never"));
        assert!(t.contains("1 more partitions"));
        assert_eq!(json(&s)["partitions"][0]["last_exchange_ms"], 5_000);
    }
}
