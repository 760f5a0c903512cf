//! Storage nodes join the chain by pledge: the owner account pays the stake
//! and signs the transaction, the node key proves the owner may pledge it.
//!
//! [`pledge_node`] is the single entry point. It submits the Pledge
//! transaction itself with `lambda_chain::client`; once `lambda-db pledge`
//! exists (chain-link work), its body becomes a call of that command with
//! the same inputs, and nothing else changes.

use std::time::{Duration, Instant};

use lambda_chain::client::{ChainClient, ClientError, TxStatus};
use lambda_chain::state::NodeStatus;
use lambda_chain::tx::kind::Pledge;
use lambda_chain::tx::{Tx, TxBody, TxKind};
use lambda_common::keys::{Address, SigningKey};

use crate::error::DevnetError;
use crate::layout::NodeEntry;

/// Fee of a pledge (the chain's default minimum fee).
pub const PLEDGE_FEE: u64 = 1;

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
    chain_id: &str,
    node: &NodeEntry,
    timeout: Duration,
) -> Result<PledgeOutcome, DevnetError> {
    let node_key = load_key(&node.key_file)?;
    let owner_key = load_key(&node.owner_key_file)?;
    match client.node(node_key.public().address()).await {
        Ok(n) => return Ok(PledgeOutcome::AlreadyPledged(n.status)),
        Err(ClientError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let owner: Address = owner_key.public().address();
    let pledge = Pledge {
        node_public_key: node_key.public(),
        node_signature: Pledge::prove(&node_key, chain_id, &owner),
        endpoint: node.grpc.to_string(),
        capacity_bytes: node.capacity_gib << 30,
        bandwidth_bps: node.bandwidth_mbps * 125_000,
        zone: node.zone.clone(),
        stake: node.stake,
    };
    let body = TxBody {
        chain_id: chain_id.to_string(),
        nonce: client.account(owner).await?.next_nonce,
        fee: PLEDGE_FEE,
        kind: TxKind::Pledge(pledge),
    };
    let hash = client.submit(&Tx::sign(&owner_key, &body)).await?;
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let TxStatus::Committed { height, .. } = client.tx(hash).await? {
            tracing::info!(node = %node.name, id = %node.id, height, "pledge committed");
            return Ok(PledgeOutcome::Pledged { height });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DevnetError::Timeout {
        what: format!("the pledge of {} to commit", node.name),
        waited: timeout,
    })
}
