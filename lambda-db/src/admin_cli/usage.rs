//! `lambda-db usage`: a chain-mode node's billing — per client per epoch
//! the requests and bytes it served, the largest receipt it holds, and
//! whether the chain settled it.

use serde_json::json;

use super::{AdminError, call_error, channel};

/// Fetches the billing usage of the node at `endpoint` (chain mode only).
pub async fn fetch_usage(
    endpoint: &str,
) -> Result<lambda_proto::billing::v1::UsageResponse, AdminError> {
    use lambda_proto::billing::v1 as bpb;
    bpb::billing_client::BillingClient::new(channel(endpoint)?)
        .usage(bpb::UsageRequest {})
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| call_error(endpoint, &s))
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
