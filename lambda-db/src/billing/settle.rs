//! Settlement: after an epoch ends, the node submits the largest receipt it
//! holds per client as a `UsageSettlement` signed with its node key, and
//! follows the chain's record of that (client, epoch): once the settled
//! statement covers the receipt the row is marked settled. Every node
//! holding a receipt submits; the chain keeps the dominating statement and
//! charges only differences, so the settled usage is the client's final
//! statement whichever node lands last. A receipt that grows after it was
//! settled (a late request billed to the previous epoch) is submitted
//! again. A statement the chain refuses as stale (the recorded one is not
//! dominated by it: the client signed two incomparable statements, e.g.
//! from two processes with one key) is not sent again until the receipt
//! grows; the refusal is logged once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_chain::client::{ChainClient, ClientError};
use lambda_chain::state::UsageRecord;
use lambda_chain::tx::kind::UsageEntry;
use lambda_chain::tx::{Tx, TxBody, TxKind};
use lambda_common::keys::Address;
use tokio_util::sync::CancellationToken;

use super::Biller;
use super::ledger::Receipt;
use crate::chain::NodeIdentity;

/// A receipt due for settlement.
struct Due {
    client: Address,
    epoch: u64,
    receipt: Receipt,
    requests: u64,
}

/// How long a submitted settlement is given to land before it is sent again.
const RESUBMIT_AFTER: Duration = Duration::from_secs(10);

/// The chain's reason code for a statement that does not dominate the one
/// recorded.
const STALE: &str = "stale_usage";

/// A moment that never comes (the resubmission gate of a stale statement).
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Settles finished epochs every `settle_interval_ms` until `cancel`.
pub async fn run(biller: Arc<Biller>, identity: NodeIdentity, cancel: CancellationToken) {
    let every = Duration::from_millis(biller.config.settle_interval_ms.max(50));
    let mut sent: HashMap<(Address, u64), (u64, Instant)> = HashMap::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let due = due(&biller);
        if due.is_empty() {
            continue;
        }
        match biller.link.client().await {
            Ok(mut chain) => round(&biller, &identity, &mut chain, due, &mut sent).await,
            Err(e) => tracing::warn!(error = %e, "settlement round: chain unreachable"),
        }
    }
}

fn due(b: &Biller) -> Vec<Due> {
    let current = b.epoch();
    let oldest = current.saturating_sub(b.config.settle_epochs_back);
    b.state
        .lock()
        .rows
        .iter()
        .filter(|((_, e), r)| *e < current && *e >= oldest && !r.settled)
        .filter_map(|((client, epoch), r)| {
            Some(Due {
                client: *client,
                epoch: *epoch,
                receipt: r.receipt.clone()?,
                requests: r
                    .statement
                    .as_ref()
                    .map_or(0, |s| s.entries.iter().map(|x| x.requests).sum()),
            })
        })
        .collect()
}

/// Whether the chain's record covers `receipt`'s statement.
fn covers(record: &UsageRecord, entries: &[UsageEntry]) -> bool {
    entries.iter().all(|e| {
        record
            .entries
            .iter()
            .any(|s| s.node == e.node && s.requests >= e.requests && s.bytes >= e.bytes)
    })
}

async fn round(
    b: &Biller,
    identity: &NodeIdentity,
    chain: &mut ChainClient,
    due: Vec<Due>,
    sent: &mut HashMap<(Address, u64), (u64, Instant)>,
) {
    let me = identity.address();
    let mut nonce = None;
    for d in due {
        let Ok(u) = d.receipt.settlement(usize::MAX) else {
            continue;
        };
        let record = match chain.usage(d.client, d.epoch).await {
            Ok(r) => Some(r),
            Err(ClientError::NotFound(_)) => None,
            Err(e) => {
                tracing::warn!(error = %e, "settlement round: usage query failed");
                return;
            }
        };
        if let Some(r) = &record {
            let done = covers(r, &u.statement.entries);
            mark(b, &d, r.total, done);
            if done {
                continue;
            }
        }
        let key = (d.client, d.epoch);
        if sent.get(&key).is_some_and(|(n, at)| {
            *n >= d.requests && (at.elapsed() < RESUBMIT_AFTER || *at > Instant::now())
        }) {
            continue;
        }
        let n = match nonce {
            Some(n) => n,
            None => match chain.account(me).await {
                Ok(a) => a.next_nonce,
                Err(e) => {
                    tracing::warn!(error = %e, "settlement round: cannot read the node's nonce");
                    return;
                }
            },
        };
        let body = TxBody {
            chain_id: b.chain_id().to_string(),
            nonce: n,
            fee: b.config.settlement_fee,
            kind: TxKind::UsageSettlement(u),
        };
        match chain.submit(&Tx::sign(identity.key(), &body)).await {
            Ok(hash) => {
                nonce = Some(n + 1);
                sent.insert(key, (d.requests, Instant::now()));
                tracing::info!(client = %d.client, epoch = d.epoch, requests = d.requests, tx = %hash, "usage settlement submitted");
            }
            Err(ClientError::Rejected {
                reason, message, ..
            }) if reason == STALE => {
                // Permanent for this receipt: wait until it grows.
                let never = Instant::now()
                    .checked_add(NEVER)
                    .unwrap_or_else(Instant::now);
                sent.insert(key, (d.requests, never));
                tracing::warn!(client = %d.client, epoch = d.epoch, %message,
                    "usage settlement refused as stale; not resubmitted until the client's receipt grows");
            }
            Err(e) => {
                nonce = None;
                tracing::warn!(client = %d.client, epoch = d.epoch, error = %e, "usage settlement refused");
            }
        }
    }
}

fn mark(b: &Biller, d: &Due, settled_total: u64, covered: bool) {
    let mut state = b.state.lock();
    let Some(row) = state.rows.get_mut(&(d.client, d.epoch)) else {
        return;
    };
    // The row may have grown since `due` read it: only a record covering
    // the current receipt settles it.
    let still = row.receipt.as_ref() == Some(&d.receipt);
    row.settled_total = settled_total;
    row.settled = covered && still;
    if let Err(e) = b.ledger.save(&d.client, d.epoch, row, None) {
        tracing::warn!(error = %e, "cannot record a settlement in the ledger");
    }
    if row.settled {
        b.funds.forget(&d.client);
        tracing::info!(client = %d.client, epoch = d.epoch, total = settled_total, "usage settled on chain");
    }
}
