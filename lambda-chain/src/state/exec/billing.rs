//! Billing: usage settlement per client per epoch, and storage contracts.
//!
//! - **Usage settlement**: submitted by a coordinator (the sender must be
//!   the node key of a member of the statement's epoch) after that epoch has
//!   ended (`epoch < current`). Each entry's node must be a member of that
//!   epoch. A node's charge is
//!   `requests × price_per_request + ⌊bytes × price_per_mib / 2^20⌋`; the
//!   total moves from the client's balance to each serving node's owner. A
//!   client that cannot pay the total makes the settlement invalid. Every
//!   node holding a receipt may settle it: the first statement of a (client,
//!   epoch) is charged in full; a later one must dominate the settled one
//!   entry-wise (every settled node present with at least as many requests
//!   and bytes, and something more) and replaces it, each node being charged
//!   only the difference of its entry's price; one that does not is refused
//!   as stale (the same statement again as a duplicate). So the usage settled
//!   is the client's final (largest) statement whichever node submits last.
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
use crate::state::records::{Contract, ContractStatus, Membership, SettledEntry, UsageRecord};
use crate::tx::kind::{RegisterContract, UsageEntry, UsageSettlement, usage_price};
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

/// Each serving node's charge (its entry's price minus what its entry in
/// the already settled statement cost) and the total; every node must be a
/// member.
fn price_statement(
    ex: &Executor<'_>,
    membership: &Membership,
    u: &UsageSettlement,
    settled: &[SettledEntry],
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
        let before = match settled.iter().find(|s| s.node == e.node) {
            Some(s) => usage_price(s.requests, s.bytes, p.price_per_request, p.price_per_mib)?,
            None => 0,
        };
        // Dominance (checked by the caller) makes the price monotone.
        let amount = e
            .price(p.price_per_request, p.price_per_mib)?
            .saturating_sub(before);
        total = total
            .checked_add(amount)
            .ok_or(TxError::Overflow("usage total"))?;
        charges.push((e.node, amount));
    }
    Ok((charges, total))
}

fn entries_of(u: &UsageSettlement) -> Vec<SettledEntry> {
    let mut v: Vec<SettledEntry> = u
        .statement
        .entries
        .iter()
        .map(|e| SettledEntry {
            node: e.node,
            requests: e.requests,
            bytes: e.bytes,
        })
        .collect();
    v.sort_by_key(|e| e.node);
    v
}

/// Refuses a statement that does not strictly dominate the settled one.
fn check_dominates(u: &UsageSettlement, prior: &UsageRecord) -> Result<(), ExecError> {
    let client = u.client();
    let epoch = u.statement.epoch;
    let settled: Vec<UsageEntry> = prior
        .entries
        .iter()
        .map(|e| UsageEntry {
            node: e.node,
            requests: e.requests,
            bytes: e.bytes,
        })
        .collect();
    if let Some(reason) = u.statement.shortfall_against(&settled) {
        return Err(TxError::StaleUsage {
            client,
            epoch,
            reason,
        }
        .into());
    }
    if entries_of(u) == prior.entries {
        return Err(TxError::Duplicate(format!(
            "usage of client {client} in epoch {epoch} is already settled with this statement"
        ))
        .into());
    }
    Ok(())
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
    let prior = ex.get::<UsageRecord>(&key, "usage record")?;
    if let Some(prior) = &prior {
        check_dominates(u, prior)?;
    }
    let settled = prior.as_ref().map_or(&[][..], |p| p.entries.as_slice());
    let (charges, total) = price_statement(ex, &membership, u, settled)?;
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
        if amount > 0 {
            let owner = ex.node(&node)?.owner;
            accounts::credit(ex, &owner, amount)?;
        }
    }
    let record = UsageRecord {
        coordinator: *coordinator,
        total: prior
            .as_ref()
            .map_or(0, |p| p.total)
            .checked_add(total)
            .ok_or(TxError::Overflow("usage total"))?,
        height: ex.ctx.height,
        entries: entries_of(u),
        settlements: prior
            .as_ref()
            .map_or(0, |p| p.settlements)
            .saturating_add(1),
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
