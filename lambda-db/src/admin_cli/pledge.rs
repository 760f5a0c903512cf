//! `lambda-db pledge` and `unpledge`: the node's owner joins it to the
//! chain's membership (stake, capacity, bandwidth, zone, endpoint, node key)
//! or withdraws it. The node key is the node's own (created on first use);
//! the owner's key is given on the command line and never stored.

use std::time::Duration;

use super::AdminError;
use super::args::{OwnerArgs, PledgeArgs};
use crate::chain::pledge::{self as p, PledgeOutcome};
use crate::chain::{ChainLinkError, load_or_create_identity};

/// Submits a pledge (with `pledge`) or an unpledge (without) and waits for
/// it to commit.
pub async fn run(
    owner: &OwnerArgs,
    pledge: Option<&PledgeArgs>,
) -> Result<PledgeOutcome, AdminError> {
    let cfg = owner.config.load()?;
    if !cfg.chain.enabled() {
        return Err(AdminError::Invalid(
            "the configuration has no [chain] endpoints; pledging needs a chain".into(),
        ));
    }
    let key_file = cfg
        .chain
        .node_key_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("node.key"));
    let node = load_or_create_identity(&key_file)?;
    let owner_key = lambda_common::keys::SigningKey::load(&owner.owner_key).map_err(|error| {
        AdminError::Key {
            path: owner.owner_key.display().to_string(),
            error,
        }
    })?;
    let wait = Duration::from_secs(owner.wait_secs);
    let outcome: Result<PledgeOutcome, ChainLinkError> = match pledge {
        Some(a) => {
            let req = p::PledgeRequest {
                owner: owner_key,
                node,
                stake: a.stake,
                capacity_bytes: a.capacity,
                bandwidth_bps: a.bandwidth,
                zone: a.zone.clone(),
                endpoint: a.endpoint.clone().unwrap_or_else(|| cfg.listen.to_string()),
                node_funds: a.node_funds,
                fee: owner.fee,
                wait,
            };
            p::pledge(&cfg.chain.endpoints, &req).await
        }
        None => {
            let address = node.address();
            p::unpledge(&cfg.chain.endpoints, &owner_key, address, owner.fee, wait).await
        }
    };
    Ok(outcome?)
}
