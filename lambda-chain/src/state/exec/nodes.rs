//! Storage nodes: pledges, unpledges, offline reports and offline verdicts.
//!
//! Rules (membership itself only changes at epoch boundaries, in `epoch`):
//!
//! - **Pledge**: stake ≥ `min_node_stake`, moved from the owner's balance;
//!   the node id (address of the node key) must be new; the node key's
//!   signature proves the owner holds it. Status `pending`; a member from
//!   the next epoch.
//! - **Unpledge**: by the owner, from `pending`, `member`, `offline` or
//!   `slashed`; status `leaving`; at the next boundary the node leaves the
//!   membership and its remaining stake returns to the owner.
//! - **Offline report**: the sender must be the node key of a member of the
//!   current epoch, reporting another member, once per (target, epoch).
//!   Reports are recorded for validators to act on; they change nothing.
//! - **Offline verdict**: a vote by a validator of the current epoch on a
//!   member of the current epoch, once per validator. When the voters hold
//!   more than two thirds of the epoch's voting power the verdict takes
//!   effect: `offline_slash_bps` of the node's stake is burnt and a `member`
//!   becomes `offline` (it is left out of the next membership). Votes do not
//!   carry over to the next epoch.

use lambda_common::keys::Address;

use super::{ExecError, Executor};
use crate::params::share;
use crate::state::keys;
use crate::state::records::{NodeStatus, OfflineReports, StorageNode, VerdictVotes};
use crate::tx::kind::{OfflineReport, OfflineVerdict, Pledge};
use crate::tx::{NodeId, TxError};

pub(super) fn pledge(ex: &mut Executor<'_>, owner: &Address, p: &Pledge) -> Result<(), ExecError> {
    let min = ex.ctx.params.min_node_stake;
    if p.stake < min {
        return Err(TxError::StakeTooLow {
            stake: p.stake,
            min,
        }
        .into());
    }
    let id = p.node_id();
    if ex
        .get::<StorageNode>(&keys::node(&id), "storage node")?
        .is_some()
    {
        return Err(TxError::NodeExists(id).into());
    }
    super::accounts::debit(ex, owner, p.stake)?;
    let h = ex.ctx.height;
    let node = StorageNode {
        id,
        owner: *owner,
        public_key: p.node_public_key,
        endpoint: p.endpoint.clone(),
        capacity_bytes: p.capacity_bytes,
        bandwidth_bps: p.bandwidth_bps,
        zone: p.zone.clone(),
        stake: p.stake,
        status: NodeStatus::Pending,
        pledged_height: h,
        status_height: h,
    };
    ex.put(keys::node(&id), &node)
}

pub(super) fn unpledge(
    ex: &mut Executor<'_>,
    sender: &Address,
    id: &NodeId,
) -> Result<(), ExecError> {
    let mut node = ex.node(id)?;
    if node.owner != *sender {
        return Err(TxError::NotNodeOwner {
            node: *id,
            sender: *sender,
        }
        .into());
    }
    match node.status {
        NodeStatus::Pending | NodeStatus::Member | NodeStatus::Offline | NodeStatus::Slashed => {}
        NodeStatus::Leaving | NodeStatus::Exited => {
            return Err(TxError::NodeStatus {
                node: *id,
                status: node.status.name(),
                action: "unpledge",
            }
            .into());
        }
    }
    node.status = NodeStatus::Leaving;
    node.status_height = ex.ctx.height;
    ex.put(keys::node(id), &node)
}

fn require_current_epoch(
    ex: &Executor<'_>,
    given: u64,
    rule: &'static str,
) -> Result<(), ExecError> {
    if given != ex.ctx.epoch {
        return Err(TxError::WrongEpoch {
            given,
            current: ex.ctx.epoch,
            rule,
        }
        .into());
    }
    Ok(())
}

pub(super) fn report(
    ex: &mut Executor<'_>,
    reporter: &Address,
    r: &OfflineReport,
) -> Result<(), ExecError> {
    require_current_epoch(ex, r.epoch, "reports are for the current epoch")?;
    ex.require_member("reporter", reporter, r.epoch)?;
    ex.require_member("reported node", &r.node, r.epoch)?;
    if r.node == *reporter {
        return Err(TxError::InvalidField {
            field: "offline_report.node_id",
            reason: "a node cannot report itself".into(),
        }
        .into());
    }
    let key = keys::report(&r.node, r.epoch);
    let mut reports: OfflineReports = ex.get(&key, "offline reports")?.unwrap_or_default();
    match reports.reporters.binary_search(reporter) {
        Ok(_) => Err(TxError::Duplicate(format!(
            "{reporter} already reported {} in epoch {}",
            r.node, r.epoch
        ))
        .into()),
        Err(i) => {
            reports.reporters.insert(i, *reporter);
            ex.put(key, &reports)
        }
    }
}

pub(super) fn verdict(
    ex: &mut Executor<'_>,
    voter: &Address,
    v: &OfflineVerdict,
) -> Result<(), ExecError> {
    let power = ex.require_validator(voter)?;
    require_current_epoch(ex, v.epoch, "verdicts are for the current epoch")?;
    ex.require_member("node voted offline", &v.node, v.epoch)?;
    let key = keys::verdict(&v.node, v.epoch);
    let mut votes: VerdictVotes = ex.get(&key, "verdict votes")?.unwrap_or_default();
    if votes.decided {
        return Err(TxError::Duplicate(format!(
            "the offline verdict on {} in epoch {} already took effect",
            v.node, v.epoch
        ))
        .into());
    }
    let i = match votes.voters.binary_search(voter) {
        Ok(_) => {
            return Err(TxError::Duplicate(format!(
                "validator {voter} already voted {} offline in epoch {}",
                v.node, v.epoch
            ))
            .into());
        }
        Err(i) => i,
    };
    votes.voters.insert(i, *voter);
    votes.power = votes.power.saturating_add(power);
    if votes.power >= ex.ctx.validators.quorum_power() {
        votes.decided = true;
        let mut node = ex.node(&v.node)?;
        node.stake -= share(node.stake, ex.ctx.params.offline_slash_bps);
        if node.status == NodeStatus::Member {
            node.status = NodeStatus::Offline;
            node.status_height = ex.ctx.height;
        }
        ex.put(keys::node(&v.node), &node)?;
    }
    ex.put(key, &votes)
}
