//! `lambda-db pledge` and `lambda-db unpledge`: the owner account pledges
//! (or withdraws) a storage node on chain.
//!
//! A pledge is signed by the owner key (it pays the stake) and carries the
//! node key's proof that the owner holds it ([`Pledge::prove`]). The node
//! key's own account pays the fees of the node's offline reports, so the
//! pledge first transfers `node_funds` from the owner to it (0 skips the
//! transfer). A pledge committed in epoch E makes the node a member from
//! epoch E + 1; an unpledge committed in epoch E removes it from E + 1 (its
//! stake returns to the owner at that boundary).

use std::time::Duration;

use lambda_chain::client::ChainClient;
use lambda_chain::tx::TxKind;
use lambda_chain::tx::kind::{Pledge, Transfer};
use lambda_chain::types::Hash;
use lambda_common::keys::{Address, SigningKey};
use serde::Serialize;

use super::submit::{submit, wait_committed};
use super::{ChainLinkError, NodeIdentity, connect_any};

/// What to pledge.
#[derive(Clone, Debug)]
pub struct PledgeRequest {
    /// The owner account's key (pays stake, fees and node funds).
    pub owner: SigningKey,
    /// The node's identity.
    pub node: NodeIdentity,
    /// Stake moved from the owner.
    pub stake: u64,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Bandwidth in bytes per second.
    pub bandwidth_bps: u64,
    /// Failure zone.
    pub zone: String,
    /// Where the node listens (`host:port`).
    pub endpoint: String,
    /// Funds transferred to the node key's account for its fees.
    pub node_funds: u64,
    /// Fee of each transaction.
    pub fee: u64,
    /// How long to wait for inclusion.
    pub wait: Duration,
}

/// A committed pledge or unpledge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PledgeOutcome {
    /// `pledge` or `unpledge`.
    pub action: &'static str,
    /// The node id (address of the node key).
    pub node: String,
    /// The owner account.
    pub owner: String,
    /// The transaction's hash.
    pub tx_hash: String,
    /// The height of the block that includes it.
    pub height: u64,
    /// The epoch of that block.
    pub epoch: u64,
    /// The first epoch the change applies to (member from / absent from).
    pub effective_epoch: u64,
    /// The transfer funding the node key (pledge only).
    pub funding_tx: Option<String>,
}

async fn client(endpoints: &[String]) -> Result<(ChainClient, u64), ChainLinkError> {
    let mut c = connect_any(endpoints).await?;
    let epoch_length = c.status().await?.epoch_length.max(1);
    Ok((c, epoch_length))
}

fn epoch_of(height: u64, epoch_length: u64) -> u64 {
    height.saturating_sub(1) / epoch_length
}

async fn commit(
    c: &mut ChainClient,
    key: &SigningKey,
    kind: TxKind,
    fee: u64,
    wait: Duration,
) -> Result<(Hash, u64), ChainLinkError> {
    let hash = submit(c, key, kind, fee).await?;
    let height = wait_committed(c, hash, wait).await?;
    Ok((hash, height))
}

/// Funds the node key, submits the pledge and waits for both.
pub async fn pledge(
    endpoints: &[String],
    req: &PledgeRequest,
) -> Result<PledgeOutcome, ChainLinkError> {
    let (mut c, epoch_length) = client(endpoints).await?;
    let chain_id = c.status().await?.chain_id;
    let owner = req.owner.public().address();
    let node_key = req.node.key();
    let funding_tx = match req.node_funds {
        0 => None,
        amount => {
            let kind = TxKind::Transfer(Transfer {
                to: req.node.address(),
                amount,
            });
            Some(commit(&mut c, &req.owner, kind, req.fee, req.wait).await?.0)
        }
    };
    let kind = TxKind::Pledge(Pledge {
        node_public_key: node_key.public(),
        node_signature: Pledge::prove(node_key, &chain_id, &owner),
        endpoint: req.endpoint.clone(),
        capacity_bytes: req.capacity_bytes,
        bandwidth_bps: req.bandwidth_bps,
        zone: req.zone.clone(),
        stake: req.stake,
    });
    let (hash, height) = commit(&mut c, &req.owner, kind, req.fee, req.wait).await?;
    let epoch = epoch_of(height, epoch_length);
    Ok(PledgeOutcome {
        action: "pledge",
        node: req.node.address().to_string(),
        owner: owner.to_string(),
        tx_hash: hash.to_string(),
        height,
        epoch,
        effective_epoch: epoch + 1,
        funding_tx: funding_tx.map(|h| h.to_string()),
    })
}

/// Submits an unpledge of `node` by its owner and waits for it.
pub async fn unpledge(
    endpoints: &[String],
    owner: &SigningKey,
    node: Address,
    fee: u64,
    wait: Duration,
) -> Result<PledgeOutcome, ChainLinkError> {
    let (mut c, epoch_length) = client(endpoints).await?;
    let (hash, height) = commit(&mut c, owner, TxKind::Unpledge { node }, fee, wait).await?;
    let epoch = epoch_of(height, epoch_length);
    Ok(PledgeOutcome {
        action: "unpledge",
        node: node.to_string(),
        owner: owner.public().address().to_string(),
        tx_hash: hash.to_string(),
        height,
        epoch,
        effective_epoch: epoch + 1,
        funding_tx: None,
    })
}

/// The outcome as a table.
pub fn outcome_table(o: &PledgeOutcome) -> String {
    let verb = if o.action == "pledge" {
        "a member from epoch"
    } else {
        "out of the membership from epoch"
    };
    let mut s = format!(
        "{} committed\n  node      {}\n  owner     {}\n  tx        {}\n  block     {} (epoch {})\n  node is   {verb} {}\n",
        o.action, o.node, o.owner, o.tx_hash, o.height, o.epoch, o.effective_epoch
    );
    if let Some(f) = &o.funding_tx {
        s.push_str(&format!("  funding   {f}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_follow_the_chain_rule() {
        assert_eq!(epoch_of(1, 10), 0);
        assert_eq!(epoch_of(10, 10), 0);
        assert_eq!(epoch_of(11, 10), 1);
        let o = PledgeOutcome {
            action: "pledge",
            node: "n".into(),
            owner: "o".into(),
            tx_hash: "h".into(),
            height: 11,
            epoch: 1,
            effective_epoch: 2,
            funding_tx: Some("f".into()),
        };
        let t = outcome_table(&o);
        assert!(t.contains("a member from epoch 2"), "{t}");
        assert!(t.contains("funding   f"), "{t}");
    }
}
