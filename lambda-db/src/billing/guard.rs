//! [`Biller`]: the check every public KV request passes in chain mode, in
//! this order, each refusal with its own status:
//!
//! 1. signed: the metadata of [`lambda_common::request_sig::meta`] is
//!    present and well formed (UNAUTHENTICATED "request is not signed", or
//!    naming the malformed entry);
//! 2. the signature verifies over the chain id, the method, this node's id,
//!    counter, timestamp, the request's and the receipt's digests
//!    (UNAUTHENTICATED);
//! 3. the timestamp is within `max_clock_skew_ms` of the node's clock
//!    (UNAUTHENTICATED);
//! 4. the receipt is a valid client-signed statement of this client and
//!    chain (INVALID_ARGUMENT), of an epoch within one of the node's
//!    (FAILED_PRECONDITION, the node's epoch in the `lambda-epoch` entry),
//!    with an entry for this node;
//! 5. the counter is new to the replay window (ALREADY_EXISTS: a replay,
//!    or a counter too old to tell);
//! 6. the receipt's entry for this node covers what the node has served
//!    the client this epoch, this request included, less the replay
//!    window's out-of-order slack (FAILED_PRECONDITION);
//! 7. the account exists and its balance covers its unsettled usage as the
//!    largest receipts show it, this request included (FAILED_PRECONDITION
//!    "account X has B, owes U").
//!
//! An admitted request is counted and its receipt kept (if it dominates the
//! one held) in the ledger before it is served.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use lambda_chain::tx::TxKind;
use lambda_chain::tx::codec::decode_statement;
use lambda_chain::tx::kind::{UsageSettlement, UsageStatement};
use lambda_common::keys::{Address, PublicKey, Signature};
use lambda_common::request_sig::{RequestFields, digest, meta};
use parking_lot::Mutex;
use tokio::sync::watch;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use super::funds::BalanceCache;
use super::ledger::{LedgerStore, Receipt, UsageRow};
use super::replay::{ReplayError, ReplayWindow};
use super::{BillingConfig, BillingError};
use crate::api::RequestGuard;
use crate::api::kv_service::now_ms;
use crate::chain::{ChainLink, ChainTip};
use crate::storage::Engine;

/// A signed request's metadata, parsed.
struct Signed {
    client: PublicKey,
    counter: u64,
    timestamp_ms: u64,
    signature: Signature,
    receipt: Vec<u8>,
    receipt_signature: Signature,
}

/// The node's in-memory billing state (mirrored in the ledger).
#[derive(Debug, Default)]
pub(crate) struct Clients {
    pub(crate) windows: HashMap<Address, ReplayWindow>,
    pub(crate) rows: BTreeMap<(Address, u64), UsageRow>,
}

/// Verifies, meters and admits client requests; holds the receipts.
#[derive(Debug)]
pub struct Biller {
    pub(crate) config: BillingConfig,
    pub(crate) link: ChainLink,
    pub(crate) node: Address,
    tip: watch::Receiver<ChainTip>,
    pub(crate) prices: (u64, u64),
    max_request_bytes: usize,
    pub(crate) ledger: LedgerStore,
    pub(crate) state: Mutex<Clients>,
    pub(crate) funds: BalanceCache,
}

fn unauth(msg: impl Into<String>) -> Status {
    Status::unauthenticated(msg.into())
}

fn bin(m: &MetadataMap, key: &'static str) -> Result<Option<Vec<u8>>, Status> {
    m.get_bin(key)
        .map(|v| {
            v.to_bytes()
                .map(|b| b.to_vec())
                .map_err(|e| unauth(format!("metadata {key} is not valid base64: {e}")))
        })
        .transpose()
}

fn number(m: &MetadataMap, key: &'static str) -> Result<u64, Status> {
    m.get(key)
        .ok_or_else(|| unauth(format!("signed request lacks metadata {key}")))?
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| unauth(format!("metadata {key} is not a decimal number")))
}

fn parse(m: &MetadataMap) -> Result<Signed, Status> {
    let Some(sig) = bin(m, meta::SIGNATURE)? else {
        return Err(unauth(format!(
            "request is not signed (chain mode: every KV request carries {}, {}, {}, {}, {} and {})",
            meta::CLIENT_KEY,
            meta::COUNTER,
            meta::TIMESTAMP,
            meta::SIGNATURE,
            meta::RECEIPT,
            meta::RECEIPT_SIGNATURE
        )));
    };
    let need = |key: &'static str| -> Result<Vec<u8>, Status> {
        bin(m, key)?.ok_or_else(|| unauth(format!("signed request lacks metadata {key}")))
    };
    let client = PublicKey::from_bytes(&need(meta::CLIENT_KEY)?)
        .map_err(|e| unauth(format!("metadata {}: {e}", meta::CLIENT_KEY)))?;
    let signature = Signature::from_bytes(&sig)
        .map_err(|e| unauth(format!("metadata {}: {e}", meta::SIGNATURE)))?;
    let receipt_signature = Signature::from_bytes(&need(meta::RECEIPT_SIGNATURE)?)
        .map_err(|e| unauth(format!("metadata {}: {e}", meta::RECEIPT_SIGNATURE)))?;
    Ok(Signed {
        client,
        counter: number(m, meta::COUNTER)?,
        timestamp_ms: number(m, meta::TIMESTAMP)?,
        signature,
        receipt: need(meta::RECEIPT)?,
        receipt_signature,
    })
}

impl Biller {
    /// Loads the ledger and binds billing to `link` as node `node`.
    pub fn open(
        config: BillingConfig,
        link: ChainLink,
        node: Address,
        engine: Arc<dyn Engine>,
        max_request_bytes: usize,
    ) -> Result<Self, BillingError> {
        let ledger = LedgerStore::new(engine);
        let (mut rows, counters) = ledger.load()?;
        for row in rows.values_mut() {
            row.statement = match &row.receipt {
                Some(r) => Some(r.settlement(max_request_bytes)?.statement),
                None => None,
            };
        }
        let windows = counters
            .into_iter()
            .map(|(c, highest)| (c, ReplayWindow::restored(config.replay_window, highest)))
            .collect();
        let status = link.status_at_connect();
        let prices = (status.price_per_request, status.price_per_mib);
        Ok(Self {
            funds: BalanceCache::new(link.clone(), Duration::from_millis(config.balance_ttl_ms)),
            tip: link.tip(),
            link,
            node,
            prices,
            max_request_bytes,
            ledger,
            state: Mutex::new(Clients { windows, rows }),
            config,
        })
    }

    /// This node's id on the chain.
    pub fn node(&self) -> Address {
        self.node
    }

    /// The epoch requests are billed in now.
    pub fn epoch(&self) -> u64 {
        self.tip.borrow().epoch
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        self.link.chain_id()
    }

    /// A status of `code` carrying the node's epoch and id.
    fn refuse(&self, code: Code, msg: impl Into<String>) -> Status {
        let mut s = Status::new(code, msg.into());
        *s.metadata_mut() = self.answer_metadata();
        s
    }

    fn answer_metadata(&self) -> MetadataMap {
        let mut m = MetadataMap::new();
        if let Ok(v) = MetadataValue::try_from(self.epoch().to_string()) {
            m.insert(meta::EPOCH, v);
        }
        if let Ok(v) = MetadataValue::try_from(self.node.to_string()) {
            m.insert(meta::NODE, v);
        }
        m
    }

    /// Checks the signature, the clock and the receipt's form.
    fn verify(&self, method: &str, s: &Signed, body: &[u8]) -> Result<UsageSettlement, Status> {
        let fields = RequestFields {
            chain_id: self.chain_id(),
            method,
            node: self.node,
            counter: s.counter,
            timestamp_ms: s.timestamp_ms,
            request_digest: digest(body),
            receipt_digest: digest(&s.receipt),
        };
        let client = s.client.address();
        fields.verify(&s.client, &s.signature).map_err(|e| {
            unauth(format!(
                "request signature of client {client} does not verify ({e}): not signed for this \
                 chain, method, node ({}), body and receipt",
                self.node
            ))
        })?;
        let skew = now_ms().abs_diff(i64::try_from(s.timestamp_ms).unwrap_or(i64::MAX));
        if skew > self.config.max_clock_skew_ms {
            return Err(unauth(format!(
                "request timestamp {} is {skew} ms off this node's clock (bound {} ms)",
                s.timestamp_ms, self.config.max_clock_skew_ms
            )));
        }
        let statement = decode_statement(&s.receipt, self.max_request_bytes)
            .map_err(|e| Status::invalid_argument(format!("usage receipt does not decode: {e}")))?;
        let u = UsageSettlement {
            statement,
            statement_bytes: s.receipt.clone(),
            client_public_key: s.client,
            client_signature: s.receipt_signature,
        };
        TxKind::UsageSettlement(u.clone())
            .check_stateless(self.chain_id(), &client)
            .map_err(|e| Status::invalid_argument(format!("usage receipt: {e}")))?;
        Ok(u)
    }

    /// Checks the receipt's epoch and this node's entry against what was
    /// served; returns the row as it will be after this request.
    fn meter(&self, st: &UsageStatement, row: &UsageRow, bytes: u64) -> Result<UsageRow, Status> {
        let current = self.epoch();
        if st.epoch + 1 < current || st.epoch > current + 1 {
            return Err(self.refuse(
                Code::FailedPrecondition,
                format!(
                    "usage receipt is for epoch {}, this node bills epoch {current}",
                    st.epoch
                ),
            ));
        }
        let Some(mine) = st.entries.iter().find(|e| e.node == self.node) else {
            return Err(self.refuse(
                Code::FailedPrecondition,
                format!("usage receipt has no entry for this node {}", self.node),
            ));
        };
        let mut next = row.clone();
        next.served_requests += 1;
        next.served_bytes += bytes;
        let slack = self.config.replay_window.saturating_sub(1);
        let slack_bytes = slack.saturating_mul(self.max_request_bytes as u64);
        if mine.requests.saturating_add(slack) < next.served_requests
            || mine.bytes.saturating_add(slack_bytes) < next.served_bytes
            || mine.requests == 0
            || mine.bytes < bytes
        {
            return Err(self.refuse(
                Code::FailedPrecondition,
                format!(
                    "usage receipt covers {} requests / {} bytes at node {} in epoch {}; this node \
                     has served {} / {} with this request (tolerance {slack} requests)",
                    mine.requests,
                    mine.bytes,
                    self.node,
                    st.epoch,
                    next.served_requests,
                    next.served_bytes
                ),
            ));
        }
        Ok(next)
    }

    fn take_receipt(&self, row: &mut UsageRow, u: &UsageSettlement) -> Result<(), Status> {
        let dominates = match &row.statement {
            None => true,
            Some(old) => {
                u.statement.shortfall_against(&old.entries).is_none() && *old != u.statement
            }
        };
        if dominates {
            let (per_req, per_mib) = self.prices;
            row.receipt_price = u
                .statement
                .price(per_req, per_mib)
                .map_err(|e| Status::invalid_argument(format!("usage receipt: {e}")))?;
            row.receipt = Some(Receipt {
                statement_bytes: u.statement_bytes.clone(),
                client_key: u.client_public_key.to_bytes(),
                signature: u.client_signature.to_bytes(),
            });
            row.statement = Some(u.statement.clone());
            row.settled = false;
        }
        Ok(())
    }

    async fn admit_signed(
        &self,
        method: &'static str,
        m: &MetadataMap,
        body: &[u8],
    ) -> Result<(), Status> {
        let s = parse(m)?;
        let u = self.verify(method, &s, body)?;
        let client = s.client.address();
        let funds = self.funds.funds(&client).await.map_err(|e| {
            Status::unavailable(format!("cannot read the balance of {client}: {e}"))
        })?;
        let epoch = u.statement.epoch;
        let mut state = self.state.lock();
        let window = state
            .windows
            .entry(client)
            .or_insert_with(|| ReplayWindow::new(self.config.replay_window));
        window.accept(s.counter).map_err(|e| match e {
            ReplayError::Zero => Status::invalid_argument(e.to_string()),
            _ => self.refuse(
                Code::AlreadyExists,
                format!("replayed request of {client}: {e}"),
            ),
        })?;
        let highest = window.highest();
        let row = state
            .rows
            .get(&(client, epoch))
            .cloned()
            .unwrap_or_default();
        let mut next = self.meter(&u.statement, &row, body.len() as u64)?;
        self.take_receipt(&mut next, &u)?;
        if !funds.known {
            return Err(self.refuse(
                Code::FailedPrecondition,
                format!("account {client} is unknown to the chain (it has no funds)"),
            ));
        }
        let owed: u64 = state
            .rows
            .range((client, 0)..=(client, u64::MAX))
            .filter(|((_, e), _)| *e != epoch)
            .map(|(_, r)| r.owed())
            .sum::<u64>()
            .saturating_add(next.owed());
        if funds.balance < owed {
            return Err(self.refuse(
                Code::FailedPrecondition,
                format!(
                    "account {client} has {}, owes {owed} (unsettled usage including this request)",
                    funds.balance
                ),
            ));
        }
        self.ledger
            .save(&client, epoch, &next, Some(highest))
            .map_err(|e| Status::unavailable(e.to_string()))?;
        state.rows.insert((client, epoch), next);
        Ok(())
    }
}

#[tonic::async_trait]
impl RequestGuard for Biller {
    async fn admit(
        &self,
        method: &'static str,
        metadata: &MetadataMap,
        body: &[u8],
    ) -> Result<MetadataMap, Status> {
        self.admit_signed(method, metadata, body).await?;
        Ok(self.answer_metadata())
    }
}
