//! Storage nodes join the chain by pledge: the owner account pays the stake
//! and signs the transaction, the node key proves the owner may pledge it.
//!
//! [`pledge_node`] is the single entry point: unless the node is already
//! on chain (a restarted devnet), it calls the library behind
//! `lambda-db pledge`, which first funds the node key's account (the node
//! pays the fees of its offline reports and usage settlements from it) and
//! then submits the Pledge.

use std::time::Duration;

use lambda_chain::client::{ChainClient, ClientError};
use lambda_chain::state::NodeStatus;
use lambda_common::keys::SigningKey;
use lambda_db::chain::pledge::{PledgeRequest, pledge};

use crate::error::DevnetError;
use crate::layout::NodeEntry;

/// Fee of a pledge (the chain's default minimum fee).
pub const PLEDGE_FEE: u64 = 1;

/// Funds moved from the owner to the node key's account for its fees.
pub const NODE_FUNDS: u64 = 100_000;

/// What [`pledge_node`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PledgeOutcome {
    /// A pledge was committed at this height.
    Pledged {
        /// The block height.
        height: u64,
    },
    /// The node was pledged before (a reused devnet); its status now.
    AlreadyPledged(NodeStatus),
}

fn load_key(path: &std::path::Path) -> Result<SigningKey, DevnetError> {
    SigningKey::load(path).map_err(|e| DevnetError::Key {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Pledges `node` (its weights, zone, endpoint and stake) from its owner's
/// account unless the chain already knows it, and waits (up to `timeout`)
/// until the pledge is committed.
pub async fn pledge_node(
    client: &mut ChainClient,
    endpoints: &[String],
    node: &NodeEntry,
    timeout: Duration,
) -> Result<PledgeOutcome, DevnetError> {
    let node_key = load_key(&node.key_file)?;
    match client.node(node_key.public().address()).await {
        Ok(n) => return Ok(PledgeOutcome::AlreadyPledged(n.status)),
        Err(ClientError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let identity = lambda_db::chain::load_or_create_identity(&node.key_file).map_err(|e| {
        DevnetError::Key {
            path: node.key_file.clone(),
            reason: e.to_string(),
        }
    })?;
    let req = PledgeRequest {
        owner: load_key(&node.owner_key_file)?,
        node: identity,
        stake: node.stake,
        capacity_bytes: node.capacity_gib << 30,
        bandwidth_bps: node.bandwidth_mbps * 125_000,
        zone: node.zone.clone(),
        endpoint: node.grpc.to_string(),
        node_funds: NODE_FUNDS,
        fee: PLEDGE_FEE,
        wait: timeout,
    };
    let out = pledge(endpoints, &req)
        .await
        .map_err(|e| DevnetError::Pledge {
            node: node.name.clone(),
            reason: e.to_string(),
        })?;
    tracing::info!(node = %node.name, id = %node.id, height = out.height, "pledge committed");
    Ok(PledgeOutcome::Pledged { height: out.height })
}
