//! The `lambda.billing.v1.Billing` service: `Info` tells a client (unsigned)
//! this node's id, the chain and epoch it bills in, and what it served the
//! client with the largest receipt it holds, so a client that restarts can
//! resume its cumulative statement; `Usage` lists usage per client per
//! epoch and its settlement for operators (`lambda-db usage`).

use std::sync::Arc;

use lambda_common::keys::Address;
use lambda_proto::billing::v1 as pb;
use tonic::{Request, Response, Status};

use super::Biller;

/// The billing gRPC service of a node in chain mode.
#[derive(Debug, Clone)]
pub struct BillingService {
    biller: Arc<Biller>,
}

impl BillingService {
    /// The service over `biller`.
    pub fn new(biller: Arc<Biller>) -> Self {
        Self { biller }
    }
}

#[tonic::async_trait]
impl pb::billing_server::Billing for BillingService {
    async fn info(
        &self,
        req: Request<pb::InfoRequest>,
    ) -> Result<Response<pb::InfoResponse>, Status> {
        let req = req.into_inner();
        let b = &self.biller;
        let epoch = b.epoch();
        let info_epoch = if req.epoch == 0 { epoch } else { req.epoch };
        let mut out = pb::InfoResponse {
            node_id: b.node().0.to_vec(),
            chain_id: b.chain_id().to_string(),
            epoch,
            price_per_request: b.prices.0,
            price_per_mib: b.prices.1,
            info_epoch,
            ..Default::default()
        };
        if !req.client.is_empty() {
            let client = Address::from_slice(&req.client)
                .map_err(|e| Status::invalid_argument(format!("client: {e}")))?;
            if let Some(row) = b.state.lock().rows.get(&(client, info_epoch)) {
                out.served_requests = row.served_requests;
                out.served_bytes = row.served_bytes;
                out.receipt_statement = row
                    .receipt
                    .as_ref()
                    .map(|r| r.statement_bytes.clone())
                    .unwrap_or_default();
            }
        }
        Ok(Response::new(out))
    }

    async fn usage(
        &self,
        _req: Request<pb::UsageRequest>,
    ) -> Result<Response<pb::UsageResponse>, Status> {
        let b = &self.biller;
        let epoch = b.epoch();
        let usage = b
            .state
            .lock()
            .rows
            .iter()
            .map(|((client, e), row)| {
                let state = if *e >= epoch {
                    pb::SettlementState::Open
                } else if row.settled {
                    pb::SettlementState::Settled
                } else {
                    pb::SettlementState::Pending
                };
                pb::ClientUsage {
                    client: client.0.to_vec(),
                    epoch: *e,
                    requests: row.served_requests,
                    bytes: row.served_bytes,
                    receipt_requests: row
                        .statement
                        .as_ref()
                        .map_or(0, |s| s.entries.iter().map(|x| x.requests).sum()),
                    receipt_price: row.receipt_price,
                    state: state as i32,
                    settled_total: row.settled_total,
                }
            })
            .collect();
        Ok(Response::new(pb::UsageResponse { epoch, usage }))
    }
}
