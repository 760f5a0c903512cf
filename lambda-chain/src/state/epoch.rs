//! Epoch boundaries and the genesis state.
//!
//! At the last block of epoch `E` (after its transactions), in this order:
//!
//! 1. contracts whose last epoch is `E − 1` expire (one epoch of grace for
//!    late PDP results): what they did not pay out returns to the owner;
//! 2. the membership of `E + 1` is fixed: `pending` nodes become members,
//!    `leaving` nodes exit (their remaining stake returns to the owner),
//!    `offline` and `slashed` nodes stay out; the members are every node
//!    whose status is then `member`, sorted by id;
//! 3. the validator set of `E + 1` is fixed: every validator not removed,
//!    with power equal to its stake. If that would leave no validator, the
//!    set of `E` carries over (the chain must keep a set to make progress).
//!
//! Both records are kept forever, so the membership of any epoch and the
//! validators of any height can be queried later. Crediting here saturates
//! instead of failing: a boundary must always complete.

use tracing::warn;

use super::exec::BlockCtx;
use super::keys::{self, prefix};
use super::overlay::Overlay;
use super::records::{
    Account, Contract, ContractStatus, EpochValidators, Member, Membership, NodeStatus,
    StorageNode, ValidatorRecord, ValidatorStatus, decode,
};
use crate::error::ChainError;
use crate::genesis::Genesis;
use crate::types::{Hash, Validator};
use lambda_common::keys::Address;

fn credit(ov: &mut Overlay<'_>, a: &Address, amount: u64) -> Result<(), ChainError> {
    if amount == 0 {
        return Ok(());
    }
    let key = keys::account(a);
    let mut acct: Account = ov.get_rec(&key, "account")?.unwrap_or_default();
    acct.balance = acct.balance.saturating_add(amount);
    ov.put_rec(key, &acct)
}

fn expire_contracts(ov: &mut Overlay<'_>, epoch: u64) -> Result<(), ChainError> {
    for (k, _) in ov.scan_prefix(&keys::expiry_prefix(epoch))? {
        let id = Hash::from_slice(&k[9..]).map_err(|e| ChainError::Corrupt {
            what: "expiry key",
            reason: e.to_string(),
        })?;
        let ckey = keys::contract(&id);
        let mut c: Contract = ov
            .get_rec(&ckey, "contract")?
            .ok_or_else(|| ChainError::Missing(format!("contract {id}")))?;
        let refund = c.total_amount.saturating_sub(c.paid_amount);
        credit(ov, &c.owner, refund)?;
        c.paid_amount = c.total_amount;
        c.status = ContractStatus::Expired;
        ov.put_rec(ckey, &c)?;
        ov.delete(k);
    }
    Ok(())
}

fn next_membership(ov: &mut Overlay<'_>, ctx: &BlockCtx) -> Result<Membership, ChainError> {
    let mut members = Vec::new();
    for (k, v) in ov.scan_prefix(&[prefix::NODE])? {
        let mut n: StorageNode = decode(&v, "storage node")?;
        let before = n.status;
        match n.status {
            NodeStatus::Pending => n.status = NodeStatus::Member,
            NodeStatus::Leaving => {
                credit(ov, &n.owner, n.stake)?;
                n.stake = 0;
                n.status = NodeStatus::Exited;
            }
            _ => {}
        }
        if n.status != before {
            n.status_height = ctx.height;
            ov.put_rec(k, &n)?;
        }
        if n.status == NodeStatus::Member {
            members.push(Member::of(&n));
        }
    }
    members.sort_by_key(|m| m.id);
    Ok(Membership {
        epoch: ctx.epoch + 1,
        members,
    })
}

fn next_validators(ov: &Overlay<'_>, ctx: &BlockCtx) -> Result<EpochValidators, ChainError> {
    let mut validators = Vec::new();
    for (_, v) in ov.scan_prefix(&[prefix::VALIDATOR])? {
        let r: ValidatorRecord = decode(&v, "validator")?;
        if r.status == ValidatorStatus::Active && r.stake > 0 {
            validators.push(Validator::new(r.public_key, r.stake));
        }
    }
    if validators.is_empty() {
        warn!(
            epoch = ctx.epoch + 1,
            "no active validator left; the current set carries over"
        );
        validators = ctx.validators.validators().to_vec();
    }
    validators.sort_by_key(|v| v.address);
    Ok(EpochValidators {
        epoch: ctx.epoch + 1,
        validators,
    })
}

/// Runs the boundary at the end of `ctx.epoch` (the block must be its last).
pub(crate) fn end_of_epoch(ov: &mut Overlay<'_>, ctx: &BlockCtx) -> Result<(), ChainError> {
    expire_contracts(ov, ctx.epoch)?;
    let membership = next_membership(ov, ctx)?;
    ov.put_rec(keys::membership(membership.epoch), &membership)?;
    let validators = next_validators(ov, ctx)?;
    ov.put_rec(keys::epoch_validators(validators.epoch), &validators)?;
    ov.commit_tx();
    Ok(())
}

/// Writes the genesis state (accounts, validators, storage nodes and the
/// epoch-0 membership and validator set) into `ov`.
pub(crate) fn write_genesis(ov: &mut Overlay<'_>, g: &Genesis) -> Result<(), ChainError> {
    for a in &g.accounts {
        let acct = Account {
            balance: a.balance,
            nonce: 0,
        };
        ov.put_rec(keys::account(&a.address), &acct)?;
    }
    let set = g.validator_set()?;
    for v in set.validators() {
        let rec = ValidatorRecord {
            public_key: v.public_key,
            stake: v.power,
            status: ValidatorStatus::Active,
        };
        ov.put_rec(keys::validator(&v.address), &rec)?;
    }
    let validators = EpochValidators {
        epoch: 0,
        validators: set.validators().to_vec(),
    };
    ov.put_rec(keys::epoch_validators(0), &validators)?;
    let mut members = Vec::new();
    for n in &g.storage_nodes {
        let node = StorageNode {
            id: n.public_key.address(),
            owner: n.owner,
            public_key: n.public_key,
            endpoint: n.endpoint.clone(),
            capacity_bytes: n.capacity_bytes,
            bandwidth_bps: n.bandwidth_bps,
            zone: n.zone.clone(),
            stake: n.stake,
            status: NodeStatus::Member,
            pledged_height: 0,
            status_height: 0,
        };
        members.push(Member::of(&node));
        ov.put_rec(keys::node(&node.id), &node)?;
    }
    members.sort_by_key(|m| m.id);
    ov.put_rec(keys::membership(0), &Membership { epoch: 0, members })?;
    ov.commit_tx();
    Ok(())
}
