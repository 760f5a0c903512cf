//! The operator commands of the `lambda-db` binary that talk to a running
//! node: `status`, `usage` (billing, chain mode), `aae status` ([`aae`]) and
//! `transfers` ([`transfers`]). Output as a table or as JSON (`-o json`).

pub mod aae;
pub mod transfers;

use lambda_proto::node::v1 as pb;
use lambda_proto::node::v1::admin_client::AdminClient;
use serde_json::json;

/// Output format of admin commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Human-readable table.
    Table,
    /// One JSON object.
    Json,
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The endpoint is not a valid address.
    #[error("invalid endpoint {0}")]
    Endpoint(String),
    /// The node could not be reached or refused.
    #[error("node at {endpoint}: {status}")]
    Call {
        /// The endpoint.
        endpoint: String,
        /// What it said.
        status: String,
    },
}

/// An Admin client for the node at `endpoint` (`host:port` or a URI).
pub fn client(endpoint: &str) -> Result<AdminClient<tonic::transport::Channel>, AdminError> {
    let uri = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    let channel = tonic::transport::Endpoint::from_shared(uri)
        .map_err(|_| AdminError::Endpoint(endpoint.to_string()))?
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(std::time::Duration::from_secs(10))
        .connect_lazy();
    Ok(AdminClient::new(channel))
}

/// Turns a failed call into an [`AdminError`].
pub fn call_error(endpoint: &str, s: &tonic::Status) -> AdminError {
    AdminError::Call {
        endpoint: endpoint.to_string(),
        status: format!("{:?}: {}", s.code(), s.message()),
    }
}

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

/// Fetches the billing usage of the node at `endpoint` (chain mode only).
pub async fn fetch_usage(
    endpoint: &str,
) -> Result<lambda_proto::billing::v1::UsageResponse, AdminError> {
    use lambda_proto::billing::v1 as bpb;
    let uri = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    let channel = tonic::transport::Endpoint::from_shared(uri)
        .map_err(|_| AdminError::Endpoint(endpoint.to_string()))?
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(std::time::Duration::from_secs(10))
        .connect_lazy();
    bpb::billing_client::BillingClient::new(channel)
        .usage(bpb::UsageRequest {})
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| AdminError::Call {
            endpoint: endpoint.to_string(),
            status: format!("{:?}: {}", s.code(), s.message()),
        })
}

fn settlement_name(state: i32) -> &'static str {
    use lambda_proto::billing::v1::SettlementState as S;
    match S::try_from(state) {
        Ok(S::Open) => "open",
        Ok(S::Pending) => "pending",
        Ok(S::Settled) => "settled",
        _ => "unknown",
    }
}

/// Billing usage as JSON.
pub fn usage_json(u: &lambda_proto::billing::v1::UsageResponse) -> serde_json::Value {
    json!({
        "epoch": u.epoch,
        "usage": u.usage.iter().map(|c| json!({
            "client": hex::encode(&c.client), "epoch": c.epoch, "requests": c.requests,
            "bytes": c.bytes, "receipt_requests": c.receipt_requests,
            "receipt_price": c.receipt_price, "state": settlement_name(c.state),
            "settled_total": c.settled_total,
        })).collect::<Vec<_>>(),
    })
}

/// Billing usage as a table: per client per epoch, what this node served,
/// the largest receipt held (requests over every node, price) and whether
/// the chain settled it.
pub fn usage_table(u: &lambda_proto::billing::v1::UsageResponse) -> String {
    use std::fmt::Write;
    let mut out = format!("billing epoch {}\n", u.epoch);
    let _ = writeln!(
        out,
        "{:<40} {:>6} {:>9} {:>12} {:>9} {:>8} {:<8} {:>8}",
        "CLIENT", "EPOCH", "REQUESTS", "BYTES", "RECEIPT", "PRICE", "STATE", "SETTLED"
    );
    for c in &u.usage {
        let _ = writeln!(
            out,
            "{:<40} {:>6} {:>9} {:>12} {:>9} {:>8} {:<8} {:>8}",
            hex::encode(&c.client),
            c.epoch,
            c.requests,
            c.bytes,
            c.receipt_requests,
            c.receipt_price,
            settlement_name(c.state),
            c.settled_total
        );
    }
    out
}
