//! Billing: usage settlement per client per epoch, and storage contracts.
//!
//! - **Usage settlement**: submitted by a coordinator (the sender must be
//!   the node key of a member of the statement's epoch) after that epoch has
//!   ended (`epoch < current`), once per (client, epoch). Each entry's node
//!   must be a member of that epoch. A node's charge is
//!   `requests × price_per_request + ⌊bytes × price_per_mib / 2^20⌋`; the
//!   total moves from the client's balance to each serving node's owner. A
//!   client that cannot pay the total makes the settlement invalid.
//! - **Contract registration**: the owner escrows `total_amount`. The
//!   contract id is `SHA-256("lambda/contract/v1" ‖ owner ‖ nonce BE)`. It
//!   covers the `duration_epochs` epochs after the registration's epoch; one
//!   PDP cycle is one epoch. Each cycle pays, per the whitepaper,
//!   `total × cycle × current size / (duration × contracted space)`, split
//!   evenly over `replicas` passing audits (see `audit`). At the end of the
//!   epoch after its last (results for the last epoch may still come in
//!   then), what was not paid out returns to the owner.

use lambda_common::keys::Address;
use sha2::{Digest, Sha256};

use super::{ExecError, Executor, accounts};
use crate::state::keys;
use crate::state::records::{Contract, ContractStatus, Membership, UsageRecord};
use crate::tx::kind::{RegisterContract, UsageSettlement};
use crate::tx::{NodeId, TxError};
use crate::types::Hash;

/// The whitepaper's payment per cycle: `total × cycle × current size /
/// (total duration × total contracted space)`, rounded down (0 when the
/// duration or the space is 0).
pub fn cycle_payment(
    total: u64,
    cycle: u64,
    current_size: u64,
    duration: u64,
    contracted: u64,
) -> u64 {
    let den = u128::from(duration) * u128::from(contracted);
    if den == 0 {
        return 0;
    }
    let num = u128::from(total) * u128::from(cycle);
    let v = match num.checked_mul(u128::from(current_size)) {
        Some(n) => n / den,
        // Beyond any real amount: divide first (and saturate below).
        None => (num / den).saturating_mul(u128::from(current_size)),
    };
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The id of the contract `owner` registers with `nonce`.
pub fn contract_id(owner: &Address, nonce: u64) -> Hash {
    let mut h = Sha256::new();
    h.update(b"lambda/contract/v1");
    h.update(owner.0);
    h.update(nonce.to_be_bytes());
    Hash(h.finalize().into())
}

fn usage_price(requests: u64, bytes: u64, per_request: u64, per_mib: u64) -> Result<u64, TxError> {
    let v = u128::from(requests) * u128::from(per_request)
        + ((u128::from(bytes) * u128::from(per_mib)) >> 20);
    u64::try_from(v).map_err(|_| TxError::Overflow("usage price"))
}

/// Each serving node's charge and the total; every node must be a member.
fn price_statement(
    ex: &Executor<'_>,
    membership: &Membership,
    u: &UsageSettlement,
) -> Result<(Vec<(NodeId, u64)>, u64), ExecError> {
    let p = &ex.ctx.params;
    let mut charges = Vec::with_capacity(u.statement.entries.len());
    let mut total: u64 = 0;
    for e in &u.statement.entries {
        if !membership.contains(&e.node) {
            return Err(TxError::NotMember {
                role: "serving node",
                node: e.node,
                epoch: u.statement.epoch,
            }
            .into());
        }
        let amount = usage_price(e.requests, e.bytes, p.price_per_request, p.price_per_mib)?;
        total = total
            .checked_add(amount)
            .ok_or(TxError::Overflow("usage total"))?;
        charges.push((e.node, amount));
    }
    Ok((charges, total))
}

pub(super) fn settle_usage(
    ex: &mut Executor<'_>,
    coordinator: &Address,
    u: &UsageSettlement,
) -> Result<(), ExecError> {
    let epoch = u.statement.epoch;
    if epoch >= ex.ctx.epoch {
        return Err(TxError::WrongEpoch {
            given: epoch,
            current: ex.ctx.epoch,
            rule: "usage is settled after its epoch ends",
        }
        .into());
    }
    let membership = ex.membership(epoch)?;
    if !membership.contains(coordinator) {
        return Err(TxError::NotMember {
            role: "coordinator",
            node: *coordinator,
            epoch,
        }
        .into());
    }
    let client = u.client();
    let key = keys::usage(&client, epoch);
    if ex.get::<UsageRecord>(&key, "usage record")?.is_some() {
        return Err(TxError::Duplicate(format!(
            "usage of client {client} in epoch {epoch} is already settled"
        ))
        .into());
    }
    let (charges, total) = price_statement(ex, &membership, u)?;
    let have = ex.account(&client)?.balance;
    if have < total {
        return Err(TxError::ClientInsufficientFunds {
            client,
            have,
            need: total,
        }
        .into());
    }
    accounts::debit(ex, &client, total)?;
    for (node, amount) in charges {
        let owner = ex.node(&node)?.owner;
        accounts::credit(ex, &owner, amount)?;
    }
    let record = UsageRecord {
        coordinator: *coordinator,
        total,
        height: ex.ctx.height,
    };
    ex.put(key, &record)
}

pub(super) fn register(
    ex: &mut Executor<'_>,
    owner: &Address,
    nonce: u64,
    c: &RegisterContract,
) -> Result<(), ExecError> {
    let id = contract_id(owner, nonce);
    if ex
        .get::<Contract>(&keys::contract(&id), "contract")?
        .is_some()
    {
        return Err(TxError::Contract {
            contract: id,
            reason: "already registered".into(),
        }
        .into());
    }
    accounts::debit(ex, owner, c.total_amount)?;
    let contract = Contract {
        id,
        owner: *owner,
        object_name: c.object_name.clone(),
        size_bytes: c.size_bytes,
        duration_epochs: c.duration_epochs,
        start_epoch: ex.ctx.epoch + 1,
        total_amount: c.total_amount,
        paid_amount: 0,
        replicas: c.replicas,
        pdp_metadata: c.pdp_metadata.clone(),
        pdp_digest: c.pdp_digest,
        status: ContractStatus::Active,
    };
    // Expires one epoch after its last, leaving time for late PDP results.
    ex.put(
        keys::expiry(contract.end_epoch().saturating_add(1), &id),
        &(),
    )?;
    ex.put(keys::contract(&id), &contract)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitepaper_formula() {
        // 1200 over 12 cycles for a full object: 100 per cycle.
        assert_eq!(cycle_payment(1_200, 1, 10, 12, 10), 100);
        // Half the contracted space in use: half the payment.
        assert_eq!(cycle_payment(1_200, 1, 5, 12, 10), 50);
        // Two cycles at once.
        assert_eq!(cycle_payment(1_200, 2, 10, 12, 10), 200);
        assert_eq!(cycle_payment(1, 1, 1, 0, 1), 0);
        assert_eq!(cycle_payment(u64::MAX, u64::MAX, u64::MAX, 1, 1), u64::MAX);
    }

    #[test]
    fn usage_prices() {
        assert_eq!(usage_price(10, 0, 3, 100).unwrap(), 30);
        assert_eq!(usage_price(0, 1 << 20, 3, 100).unwrap(), 100);
        assert_eq!(usage_price(0, 1 << 19, 3, 100).unwrap(), 50);
        assert!(usage_price(u64::MAX, 0, u64::MAX, 0).is_err());
    }
}
