//! The `lambda.chain.v1.Chain` service over a node's core: submission into
//! the mempool, queries of the committed state, and the block stream.
//!
//! Every unary call takes a slot of the in-flight gate first (one past
//! `api.max_inflight` gets RESOURCE_EXHAUSTED) and reads the state off the
//! async workers, so a slow disk never stalls the server.

use std::sync::Arc;

use lambda_proto::chain::v1 as pb;
use lambda_proto::chain::v1::chain_server::Chain;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::convert::{
    self, contract_to_pb, members_to_pb, node_to_pb, pdp_to_pb, validator_status_to_pb,
    validators_to_pb,
};
use super::gate::Gate;
use super::reasons::refusal;
use super::subscribe;
use crate::error::ChainError;
use crate::node::config::ApiConfig;
use crate::node::core::NodeCore;
use crate::state::ChainState;

/// The public API of one validator.
#[derive(Debug, Clone)]
pub(crate) struct ChainApi {
    core: Arc<NodeCore>,
    requests: Arc<Gate>,
    streams: Arc<Gate>,
    buffer: usize,
    shutdown: CancellationToken,
}

fn internal(e: ChainError) -> Status {
    Status::internal(e.to_string())
}

fn arg(e: convert::ConvertError) -> Status {
    Status::invalid_argument(e.to_string())
}

impl ChainApi {
    /// The API of `core`, bounded by `cfg`; streams end at `shutdown`.
    pub(crate) fn new(core: Arc<NodeCore>, cfg: &ApiConfig, shutdown: CancellationToken) -> Self {
        Self {
            core,
            requests: Arc::new(Gate::new(
                cfg.max_inflight,
                "requests in flight",
                "api.max_inflight",
            )),
            streams: Arc::new(Gate::new(
                cfg.max_subscriptions,
                "block subscriptions",
                "api.max_subscriptions",
            )),
            buffer: cfg.subscription_buffer.max(1),
            shutdown,
        }
    }

    /// Runs `f` on the state (read-locked) off the async workers, inside an
    /// in-flight slot.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&NodeCore, &ChainState) -> Result<T, Status> + Send + 'static,
    ) -> Result<Response<T>, Status> {
        let _slot = self.requests.admit()?;
        let core = self.core.clone();
        tokio::task::spawn_blocking(move || {
            let state = core.state.read();
            f(&core, &state)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map(Response::new)
    }
}

#[tonic::async_trait]
impl Chain for ChainApi {
    async fn submit_tx(
        &self,
        req: Request<pb::SubmitTxRequest>,
    ) -> Result<Response<pb::SubmitTxResponse>, Status> {
        let _slot = self.requests.admit()?;
        let core = self.core.clone();
        let tx = req.into_inner().tx;
        let hash = tokio::task::spawn_blocking(move || core.submit(&tx, true))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| {
                tracing::debug!(reason = %e, "transaction refused");
                refusal(&e)
            })?;
        Ok(Response::new(pb::SubmitTxResponse {
            tx_hash: hash.0.to_vec(),
        }))
    }

    async fn get_account(
        &self,
        req: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        let a = convert::address(&req.get_ref().address, "address").map_err(arg)?;
        self.read(move |core, s| {
            let account = s.account(&a).map_err(internal)?;
            let next_nonce = core.next_nonce(s, &a).map_err(internal)?;
            Ok(pb::GetAccountResponse {
                height: s.latest_height(),
                address: a.0.to_vec(),
                balance: account.balance,
                nonce: account.nonce,
                next_nonce,
            })
        })
        .await
    }

    async fn get_node(
        &self,
        req: Request<pb::GetNodeRequest>,
    ) -> Result<Response<pb::GetNodeResponse>, Status> {
        let id = convert::address(&req.get_ref().node_id, "node_id").map_err(arg)?;
        self.read(move |_, s| {
            let node = s
                .node(&id)
                .map_err(internal)?
                .ok_or_else(|| Status::not_found(format!("no storage node {id}")))?;
            Ok(pb::GetNodeResponse {
                height: s.latest_height(),
                node: Some(node_to_pb(&node)),
            })
        })
        .await
    }

    async fn get_membership(
        &self,
        req: Request<pb::GetMembershipRequest>,
    ) -> Result<Response<pb::GetMembershipResponse>, Status> {
        let epoch = req.get_ref().epoch;
        self.read(move |_, s| {
            let m = s.membership(epoch).map_err(internal)?.ok_or_else(|| {
                Status::not_found(format!("the membership of epoch {epoch} is not fixed yet"))
            })?;
            Ok(pb::GetMembershipResponse {
                height: s.latest_height(),
                epoch,
                members: members_to_pb(&m),
            })
        })
        .await
    }

    async fn get_validators(
        &self,
        req: Request<pb::GetValidatorsRequest>,
    ) -> Result<Response<pb::GetValidatorsResponse>, Status> {
        let asked = req.get_ref().height;
        self.read(move |_, s| {
            let height = if asked == 0 {
                s.latest_height() + 1
            } else {
                asked
            };
            let set = s.validators_at(height).map_err(|e| match e {
                ChainError::Missing(m) => Status::not_found(m),
                other => internal(other),
            })?;
            Ok(pb::GetValidatorsResponse {
                height,
                epoch: s.epoch_of(height),
                total_power: set.total_power(),
                validators: validators_to_pb(&set),
            })
        })
        .await
    }

    async fn get_validator(
        &self,
        req: Request<pb::GetValidatorRequest>,
    ) -> Result<Response<pb::GetValidatorResponse>, Status> {
        let a = convert::address(&req.get_ref().address, "address").map_err(arg)?;
        self.read(move |_, s| {
            let v = s
                .validator(&a)
                .map_err(internal)?
                .ok_or_else(|| Status::not_found(format!("{a} is not a validator")))?;
            Ok(pb::GetValidatorResponse {
                height: s.latest_height(),
                address: a.0.to_vec(),
                public_key: v.public_key.to_bytes(),
                stake: v.stake,
                status: validator_status_to_pb(v.status) as i32,
            })
        })
        .await
    }

    async fn get_block(
        &self,
        req: Request<pb::GetBlockRequest>,
    ) -> Result<Response<pb::BlockInfo>, Status> {
        let asked = req.get_ref().height;
        self.read(move |_, s| {
            let height = if asked == 0 { s.latest_height() } else { asked };
            subscribe::block_info(s, height)?
                .ok_or_else(|| Status::not_found(format!("no committed block at height {height}")))
        })
        .await
    }

    async fn get_tx(
        &self,
        req: Request<pb::GetTxRequest>,
    ) -> Result<Response<pb::GetTxResponse>, Status> {
        let h = convert::hash(&req.get_ref().tx_hash, "tx_hash").map_err(arg)?;
        self.read(move |core, s| {
            if let Some((height, index)) = s.tx_location(&h).map_err(internal)? {
                let block = s.block(height).map_err(internal)?;
                let tx = block
                    .and_then(|b| b.txs.get(index as usize).cloned())
                    .ok_or_else(|| {
                        Status::internal(format!("indexed tx {h} is not in block {height}"))
                    })?;
                return Ok(pb::GetTxResponse {
                    status: pb::TxStatus::Committed as i32,
                    height,
                    index,
                    tx,
                });
            }
            let status = if core.mempool.lock().contains(&h) {
                pb::TxStatus::Pending
            } else {
                pb::TxStatus::Unknown
            };
            Ok(pb::GetTxResponse {
                status: status as i32,
                ..Default::default()
            })
        })
        .await
    }

    async fn get_contract(
        &self,
        req: Request<pb::GetContractRequest>,
    ) -> Result<Response<pb::GetContractResponse>, Status> {
        let id = convert::hash(&req.get_ref().contract_id, "contract_id").map_err(arg)?;
        self.read(move |_, s| {
            let c = s
                .contract(&id)
                .map_err(internal)?
                .ok_or_else(|| Status::not_found(format!("no contract {id}")))?;
            Ok(pb::GetContractResponse {
                height: s.latest_height(),
                contract: Some(contract_to_pb(&c)),
            })
        })
        .await
    }

    async fn get_usage(
        &self,
        req: Request<pb::GetUsageRequest>,
    ) -> Result<Response<pb::GetUsageResponse>, Status> {
        let client = convert::address(&req.get_ref().client, "client").map_err(arg)?;
        let epoch = req.get_ref().epoch;
        self.read(move |_, s| {
            let r = s
                .usage_settlement(&client, epoch)
                .map_err(internal)?
                .ok_or_else(|| {
                    Status::not_found(format!(
                        "no usage of client {client} settled in epoch {epoch}"
                    ))
                })?;
            Ok(pb::GetUsageResponse {
                height: s.latest_height(),
                coordinator: r.coordinator.0.to_vec(),
                total: r.total,
                settled_height: r.height,
                entries: r
                    .entries
                    .iter()
                    .map(|e| pb::UsageEntry {
                        node_id: e.node.0.to_vec(),
                        requests: e.requests,
                        bytes: e.bytes,
                    })
                    .collect(),
                settlements: r.settlements,
            })
        })
        .await
    }

    async fn get_pdp_results(
        &self,
        req: Request<pb::GetPdpResultsRequest>,
    ) -> Result<Response<pb::GetPdpResultsResponse>, Status> {
        let id = convert::address(&req.get_ref().node_id, "node_id").map_err(arg)?;
        self.read(move |_, s| {
            let results = s.pdp_results(&id).map_err(internal)?;
            Ok(pb::GetPdpResultsResponse {
                height: s.latest_height(),
                results: results.iter().map(pdp_to_pb).collect(),
            })
        })
        .await
    }

    async fn status(
        &self,
        _req: Request<pb::ChainStatusRequest>,
    ) -> Result<Response<pb::ChainStatusResponse>, Status> {
        self.read(move |core, s| {
            let next = s.latest_height() + 1;
            let validators = s.validators_at(next).map_err(internal)?;
            let (mempool_size, mempool_bytes) = {
                let pool = core.mempool.lock();
                (pool.len() as u64, pool.bytes() as u64)
            };
            Ok(pb::ChainStatusResponse {
                chain_id: s.chain_id().to_string(),
                genesis_hash: s.genesis_hash().0.to_vec(),
                height: s.latest_height(),
                latest_block_hash: s.latest_block_hash().0.to_vec(),
                latest_block_time_ms: s.latest_time_ms(),
                epoch: s.epoch_of(next),
                validator_count: u32::try_from(validators.len()).unwrap_or(u32::MAX),
                mempool_size,
                mempool_bytes,
                validator: core.address.0.to_vec(),
                consensus_height: core.consensus_height(),
                epoch_length: s.params().epoch_length,
                price_per_request: s.params().price_per_request,
                price_per_mib: s.params().price_per_mib,
                min_node_stake: s.params().min_node_stake,
            })
        })
        .await
    }

    type SubscribeBlocksStream = ReceiverStream<Result<pb::BlockInfo, Status>>;

    async fn subscribe_blocks(
        &self,
        req: Request<pb::SubscribeBlocksRequest>,
    ) -> Result<Response<Self::SubscribeBlocksStream>, Status> {
        let slot = self.streams.admit()?;
        let rx = subscribe::spawn(
            self.core.clone(),
            req.get_ref().from_height,
            self.buffer,
            slot,
            self.shutdown.clone(),
        );
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
