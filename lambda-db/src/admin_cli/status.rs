//! `lambda-db status`: a running node's view of the cluster — members up or
//! down, partitions each owns, the hint backlog, request counters.

use lambda_proto::node::v1 as pb;
use serde_json::json;

use super::{AdminError, call_error, client};

/// Fetches the status of the node at `endpoint`.
pub async fn fetch_status(endpoint: &str) -> Result<pb::StatusResponse, AdminError> {
    client(endpoint)?
        .status(pb::StatusRequest {})
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| call_error(endpoint, &s))
}

/// The status as JSON.
pub fn status_json(s: &pb::StatusResponse) -> serde_json::Value {
    let hints = s.hints.clone().unwrap_or_default();
    json!({
        "node_id": s.node_id,
        "epoch": s.epoch,
        "actor": s.actor,
        "partitions": s.partitions,
        "default_n": s.default_n,
        "writes_refused": (!s.writes_refused.is_empty()).then_some(&s.writes_refused),
        "requests_in_flight": s.requests_in_flight,
        "requests_rejected_overload": s.requests_rejected_overload,
        "read_repairs": s.read_repairs,
        "hinted_writes": s.hinted_writes,
        "quorum_failures": s.quorum_failures,
        "hints": {
            "backlog": hints.backlog,
            "delivered": hints.delivered,
            "refused": hints.refused,
            "max_backlog": hints.max_backlog,
            "owners": hints.owners.iter().map(|o| json!({"owner": o.owner, "hints": o.hints})).collect::<Vec<_>>(),
        },
        "nodes": s.nodes.iter().map(|n| json!({
            "id": n.id, "endpoint": n.endpoint, "zone": n.zone, "capacity": n.capacity,
            "bandwidth": n.bandwidth, "up": n.up, "primary_partitions": n.primary_partitions,
            "replica_partitions": n.replica_partitions, "hint_backlog": n.hint_backlog,
        })).collect::<Vec<_>>(),
    })
}

/// The status as a table.
pub fn status_table(s: &pb::StatusResponse) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mode = if s.nodes.is_empty() {
        "standalone".to_string()
    } else {
        format!("epoch {}", s.epoch)
    };
    let _ = writeln!(
        out,
        "node {} ({mode}), actor {}, {} partitions, N={}",
        s.node_id, s.actor, s.partitions, s.default_n
    );
    if !s.writes_refused.is_empty() {
        let _ = writeln!(out, "WRITES REFUSED: {}", s.writes_refused);
    }
    let _ = writeln!(
        out,
        "requests in flight {}, refused for overload {}, quorum failures {}, read repairs {}, hinted writes {}",
        s.requests_in_flight,
        s.requests_rejected_overload,
        s.quorum_failures,
        s.read_repairs,
        s.hinted_writes
    );
    if let Some(h) = &s.hints {
        let _ = writeln!(
            out,
            "hints: backlog {} (max {}), delivered {}, refused {}",
            h.backlog, h.max_backlog, h.delivered, h.refused
        );
        for o in &h.owners {
            let _ = writeln!(out, "  for {}: {}", o.owner, o.hints);
        }
    }
    if !s.nodes.is_empty() {
        let _ = writeln!(
            out,
            "{:<12} {:<22} {:<8} {:>9} {:>9} {:<5} {:>8} {:>8} {:>6}",
            "NODE",
            "ENDPOINT",
            "ZONE",
            "CAPACITY",
            "BANDWIDTH",
            "STATE",
            "PRIMARY",
            "REPLICA",
            "HINTS"
        );
        for n in &s.nodes {
            let _ = writeln!(
                out,
                "{:<12} {:<22} {:<8} {:>9} {:>9} {:<5} {:>8} {:>8} {:>6}",
                n.id,
                n.endpoint,
                n.zone,
                n.capacity,
                n.bandwidth,
                if n.up { "up" } else { "DOWN" },
                n.primary_partitions,
                n.replica_partitions,
                n.hint_backlog
            );
        }
    }
    out
}
