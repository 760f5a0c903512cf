//! The accounts view (`GET /api/accounts`): every account the state holds
//! with its balance, nonce and what it is (validator, node owner, node
//! key, client), and the usage settled on chain per client and epoch.
//!
//! Both lists come from bounded scans of the state (`ChainState::accounts`,
//! `ChainState::usage_records`): at most [`MAX_ACCOUNTS`] accounts and
//! [`MAX_USAGE_RECORDS`] usage records, with a flag saying when there were
//! more. Per-client totals are over the records read; the latest
//! [`USAGE_ROWS_SHOWN`] records are listed one by one.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::ChainError;
use crate::state::ChainState;

/// Most accounts listed.
pub(crate) const MAX_ACCOUNTS: usize = 1_000;
/// Most usage records read.
pub(crate) const MAX_USAGE_RECORDS: usize = 2_000;
/// Usage records listed one by one (the latest epochs first).
pub(crate) const USAGE_ROWS_SHOWN: usize = 50;

/// `/api/accounts`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct AccountsView {
    /// Latest committed height.
    pub(crate) height: u64,
    /// The epoch in force.
    pub(crate) epoch: u64,
    /// Accounts, largest balance first.
    pub(crate) accounts: Vec<AccountRow>,
    /// More accounts exist than were listed.
    pub(crate) accounts_truncated: bool,
    /// Sum of the listed balances.
    pub(crate) total_balance: u64,
    /// Usage per client over the records read, by client.
    pub(crate) clients: Vec<ClientUsage>,
    /// The latest settled usage records, newest epoch first.
    pub(crate) usage: Vec<UsageRow>,
    /// More usage records exist than were read.
    pub(crate) usage_truncated: bool,
}

/// One account.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct AccountRow {
    /// Address.
    pub(crate) address: String,
    /// Balance.
    pub(crate) balance: u64,
    /// Transactions sent.
    pub(crate) nonce: u64,
    /// `validator`, `node owner`, `node key`, `client`.
    pub(crate) roles: Vec<&'static str>,
}

/// A client's settled usage.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct ClientUsage {
    /// The client account.
    pub(crate) client: String,
    /// Epochs settled.
    pub(crate) epochs: u64,
    /// Requests settled.
    pub(crate) requests: u64,
    /// Bytes settled.
    pub(crate) bytes: u64,
    /// Moved from the client to the serving nodes' owners.
    pub(crate) charged: u64,
    /// The latest epoch settled.
    pub(crate) last_epoch: u64,
}

/// A client's settled usage in one epoch.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct UsageRow {
    /// The client account.
    pub(crate) client: String,
    /// The epoch.
    pub(crate) epoch: u64,
    /// Requests settled over every serving node.
    pub(crate) requests: u64,
    /// Bytes settled.
    pub(crate) bytes: u64,
    /// Moved from the client.
    pub(crate) charged: u64,
    /// Serving nodes.
    pub(crate) nodes: usize,
    /// Settlements applied (the first and each larger statement).
    pub(crate) settlements: u32,
    /// The coordinator of the latest settlement.
    pub(crate) coordinator: String,
    /// Height of the latest settlement.
    pub(crate) height: u64,
}

/// The accounts view of the committed state.
pub(crate) fn view(state: &ChainState) -> Result<AccountsView, ChainError> {
    let height = state.latest_height();
    let records = state.usage_records(MAX_USAGE_RECORDS + 1)?;
    let usage_truncated = records.len() > MAX_USAGE_RECORDS;
    let mut usage: Vec<UsageRow> = records
        .iter()
        .take(MAX_USAGE_RECORDS)
        .map(|(client, epoch, r)| UsageRow {
            client: client.to_string(),
            epoch: *epoch,
            requests: r.requests(),
            bytes: r.entries.iter().map(|e| e.bytes).sum(),
            charged: r.total,
            nodes: r.entries.len(),
            settlements: r.settlements,
            coordinator: r.coordinator.to_string(),
            height: r.height,
        })
        .collect();
    let mut clients: BTreeMap<String, ClientUsage> = BTreeMap::new();
    for u in &usage {
        let c = clients.entry(u.client.clone()).or_default();
        c.client.clone_from(&u.client);
        c.epochs += 1;
        c.requests = c.requests.saturating_add(u.requests);
        c.bytes = c.bytes.saturating_add(u.bytes);
        c.charged = c.charged.saturating_add(u.charged);
        c.last_epoch = c.last_epoch.max(u.epoch);
    }
    usage.sort_by_key(|u| std::cmp::Reverse((u.epoch, u.height)));
    usage.truncate(USAGE_ROWS_SHOWN);

    let roles = roles(state, &clients)?;
    let found = state.accounts(MAX_ACCOUNTS + 1)?;
    let accounts_truncated = found.len() > MAX_ACCOUNTS;
    let mut accounts: Vec<AccountRow> = found
        .into_iter()
        .take(MAX_ACCOUNTS)
        .map(|(a, acc)| {
            let address = a.to_string();
            AccountRow {
                roles: roles
                    .get(&address)
                    .map(|r| r.iter().copied().collect())
                    .unwrap_or_default(),
                address,
                balance: acc.balance,
                nonce: acc.nonce,
            }
        })
        .collect();
    accounts.sort_by(|a, b| {
        b.balance
            .cmp(&a.balance)
            .then_with(|| a.address.cmp(&b.address))
    });
    let total: u128 = accounts.iter().map(|a| u128::from(a.balance)).sum();
    Ok(AccountsView {
        height,
        epoch: state.epoch_of(height + 1),
        accounts,
        accounts_truncated,
        total_balance: u64::try_from(total).unwrap_or(u64::MAX),
        clients: clients.into_values().collect(),
        usage,
        usage_truncated,
    })
}

/// What each known address is, by address.
fn roles(
    state: &ChainState,
    clients: &BTreeMap<String, ClientUsage>,
) -> Result<BTreeMap<String, BTreeSet<&'static str>>, ChainError> {
    let mut roles: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let height = state.latest_height();
    for v in state.validators_at(height + 1)?.validators() {
        roles
            .entry(v.address.to_string())
            .or_default()
            .insert("validator");
    }
    for n in state.nodes()? {
        roles
            .entry(n.owner.to_string())
            .or_default()
            .insert("node owner");
        roles
            .entry(n.id.to_string())
            .or_default()
            .insert("node key");
    }
    for c in clients.keys() {
        roles.entry(c.clone()).or_default().insert("client");
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{FUNDS, Fixture};
    use super::*;

    #[test]
    fn balances_roles_and_usage_of_the_state() {
        let f = Fixture::new();
        let v = view(&f.state).unwrap();
        // Validator, client, owner and four node keys.
        assert_eq!(v.accounts.len(), 7);
        assert!(!v.accounts_truncated);
        assert!(v.accounts.windows(2).all(|w| w[0].balance >= w[1].balance));
        let row = |a: lambda_common::keys::Address| {
            v.accounts
                .iter()
                .find(|r| r.address == a.to_string())
                .unwrap()
                .clone()
        };
        let client = row(f.client.public().address());
        assert_eq!(client.roles, ["client"]);
        assert_eq!(client.nonce, 2);
        let owner = row(f.owner());
        assert_eq!(owner.roles, ["node owner"]);
        assert!(
            owner.balance > FUNDS,
            "received a transfer, usage and PDP pay"
        );
        assert_eq!(row(f.validator.public().address()).roles, ["validator"]);
        assert_eq!(row(f.nodes[3].public().address()).roles, ["node key"]);
        for a in &v.accounts {
            assert_eq!(
                a.balance,
                f.state
                    .account(&a.address.parse().unwrap())
                    .unwrap()
                    .balance
            );
        }

        assert_eq!(v.usage.len(), 1);
        let u = &v.usage[0];
        assert_eq!((u.epoch, u.requests, u.nodes, u.settlements), (0, 7, 1, 1));
        assert_eq!(u.client, client.address);
        assert_eq!(u.coordinator, f.nodes[0].public().address().to_string());
        // 7 requests at the default price of 1.
        assert_eq!(u.charged, 7);
        assert_eq!(v.clients.len(), 1);
        assert_eq!((v.clients[0].requests, v.clients[0].charged), (7, 7));
    }

    #[test]
    fn the_total_is_the_sum_of_the_listed_balances() {
        let f = Fixture::empty();
        let v = view(&f.state).unwrap();
        assert_eq!(v.accounts.len(), 7);
        assert_eq!(v.total_balance, 7 * FUNDS);
        assert!(v.usage.is_empty() && v.clients.is_empty());
    }
}
