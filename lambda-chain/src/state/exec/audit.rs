//! Audits and punishment: PDP results and double-sign evidence.
//!
//! - **PDP result**: recorded by a validator of the current epoch for a
//!   contract that covers the audited epoch (the current or the previous
//!   one) and a node that was a member in it; once per (contract, node,
//!   epoch), and at most `replicas` results per (contract, epoch). A pass
//!   pays the node's owner `cycle_payment / replicas` (capped by what is
//!   left in escrow). A failure burns `pdp_fail_slash_bps` of the node's
//!   stake; a member whose stake falls under `min_node_stake` becomes
//!   `slashed` and is left out of the next membership. The result is the
//!   validator's attestation: the chain does not re-verify the proof yet
//!   (it keeps it, opaque, for audit).
//! - **Double sign**: anyone (the fisherman) submits two conflicting votes
//!   of one validator, of a height at most `evidence_max_age_blocks` old;
//!   they are checked against the validator set of that height.
//!   `double_sign_slash_bps` of the validator's stake is taken, of which
//!   `fisherman_reward_bps` goes to the fisherman and the rest is burnt; the
//!   validator is marked removed and leaves the set at the next epoch
//!   boundary. A validator is slashed at most once.

use lambda_common::keys::Address;

use super::{ExecError, Executor, accounts, billing};
use crate::error::ChainError;
use crate::params::share;
use crate::state::keys;
use crate::state::records::{
    Contract, ContractStatus, EpochValidators, EvidenceRecord, NodeStatus, PdpRecord,
    ValidatorRecord, ValidatorStatus,
};
use crate::tx::kind::PdpResult;
use crate::tx::{NodeId, TxError};
use crate::types::DoubleSignEvidence;

fn check_pdp_epoch(ex: &Executor<'_>, epoch: u64) -> Result<(), ExecError> {
    let current = ex.ctx.epoch;
    if epoch == current || epoch.saturating_add(1) == current {
        return Ok(());
    }
    Err(TxError::WrongEpoch {
        given: epoch,
        current,
        rule: "PDP results are for the current or the previous epoch",
    }
    .into())
}

fn contract_error(c: &Contract, reason: String) -> ExecError {
    TxError::Contract {
        contract: c.id,
        reason,
    }
    .into()
}

pub(super) fn pdp_result(
    ex: &mut Executor<'_>,
    validator: &Address,
    r: &PdpResult,
) -> Result<(), ExecError> {
    ex.require_validator(validator)?;
    check_pdp_epoch(ex, r.epoch)?;
    let mut contract: Contract = ex
        .get(&keys::contract(&r.contract), "contract")?
        .ok_or(TxError::UnknownContract(r.contract))?;
    if contract.status != ContractStatus::Active || !contract.covers(r.epoch) {
        let reason = format!(
            "does not cover epoch {} (epochs {} to {})",
            r.epoch,
            contract.start_epoch,
            contract.end_epoch()
        );
        return Err(contract_error(&contract, reason));
    }
    ex.require_member("audited node", &r.node, r.epoch)?;
    let key = keys::pdp(&r.node, r.epoch, &r.contract);
    if ex.get::<PdpRecord>(&key, "PDP result")?.is_some() {
        return Err(TxError::Duplicate(format!(
            "PDP result of node {} for contract {} in epoch {} is already recorded",
            r.node, r.contract, r.epoch
        ))
        .into());
    }
    let count_key = keys::pdp_count(&r.contract, r.epoch);
    let count: u32 = ex.get(&count_key, "PDP count")?.unwrap_or(0);
    if count >= contract.replicas {
        let reason = format!("already has {count} PDP results for epoch {}", r.epoch);
        return Err(contract_error(&contract, reason));
    }
    let mut record = PdpRecord {
        contract: r.contract,
        node: r.node,
        epoch: r.epoch,
        passed: r.passed,
        validator: *validator,
        height: ex.ctx.height,
        payment: 0,
        slashed: 0,
    };
    if r.passed {
        record.payment = pay_cycle(ex, &mut contract, &r.node)?;
    } else {
        record.slashed = slash_node(ex, &r.node)?;
    }
    ex.put(count_key, &(count + 1))?;
    ex.put(key, &record)
}

/// Pays one replica's share of a cycle to the node's owner; returns it.
fn pay_cycle(
    ex: &mut Executor<'_>,
    contract: &mut Contract,
    node: &NodeId,
) -> Result<u64, ExecError> {
    let owner = ex.node(node)?.owner;
    let per_cycle = billing::cycle_payment(
        contract.total_amount,
        1,
        contract.size_bytes,
        contract.duration_epochs,
        contract.size_bytes,
    );
    let left = contract.total_amount.saturating_sub(contract.paid_amount);
    let payment = (per_cycle / u64::from(contract.replicas.max(1))).min(left);
    contract.paid_amount += payment;
    accounts::credit(ex, &owner, payment)?;
    ex.put(keys::contract(&contract.id), contract)?;
    Ok(payment)
}

/// Burns `pdp_fail_slash_bps` of a node's stake; returns the amount.
fn slash_node(ex: &mut Executor<'_>, id: &NodeId) -> Result<u64, ExecError> {
    let mut node = ex.node(id)?;
    let slashed = share(node.stake, ex.ctx.params.pdp_fail_slash_bps);
    node.stake -= slashed;
    if node.status == NodeStatus::Member && node.stake < ex.ctx.params.min_node_stake {
        node.status = NodeStatus::Slashed;
        node.status_height = ex.ctx.height;
    }
    ex.put(keys::node(id), &node)?;
    Ok(slashed)
}

pub(super) fn double_sign(
    ex: &mut Executor<'_>,
    fisherman: &Address,
    e: &DoubleSignEvidence,
) -> Result<(), ExecError> {
    let height = e.a.height;
    let current = ex.ctx.height;
    let max_age = ex.ctx.params.evidence_max_age_blocks;
    if height == 0 || height >= current || current - height > max_age {
        return Err(TxError::EvidenceOutOfWindow {
            height,
            current,
            max_age,
        }
        .into());
    }
    let epoch = ex.ctx.params.epoch_of(height);
    let set = ex
        .get::<EpochValidators>(&keys::epoch_validators(epoch), "validator set")?
        .ok_or_else(|| ChainError::Missing(format!("validator set of epoch {epoch}")))?
        .to_set()?;
    let culprit = e
        .verify(&ex.ctx.chain_id, &set)
        .map_err(TxError::InvalidEvidence)?;
    if culprit == *fisherman {
        return Err(TxError::InvalidField {
            field: "slash_double_sign",
            reason: "a validator cannot collect the reward for its own double sign".into(),
        }
        .into());
    }
    let vkey = keys::validator(&culprit);
    let mut rec: ValidatorRecord = ex
        .get(&vkey, "validator")?
        .ok_or_else(|| ChainError::Missing(format!("validator record of {culprit}")))?;
    if rec.status == ValidatorStatus::Removed {
        return Err(TxError::AlreadySlashed(culprit).into());
    }
    let slashed = share(rec.stake, ex.ctx.params.double_sign_slash_bps);
    let reward = share(slashed, ex.ctx.params.fisherman_reward_bps);
    rec.stake -= slashed;
    rec.status = ValidatorStatus::Removed;
    ex.put(vkey, &rec)?;
    accounts::credit(ex, fisherman, reward)?;
    let record = EvidenceRecord {
        vote_height: height,
        slashed,
        reward,
        fisherman: *fisherman,
        height: current,
    };
    ex.put(keys::evidence(&culprit, height), &record)
}
