//! The node's billing ledger: per client per epoch, what this node served,
//! the largest receipt (client-signed usage statement) it holds and how far
//! the chain has settled it; per client, the highest request counter
//! accepted. Kept in the `meta` column family under `billing/…` keys
//! (postcard, behind a format byte), written with every admitted request,
//! so a restart loses neither receipts nor replay protection.

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_chain::tx::kind::{UsageSettlement, UsageStatement};
use lambda_common::keys::{Address, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use super::BillingError;
use crate::storage::{Cf, Engine, KeyRange, KeyValue, WriteBatch};

const FORMAT: u8 = 1;
const ROW_PREFIX: &[u8] = b"billing/u/";
const COUNTER_PREFIX: &[u8] = b"billing/c/";
/// Most rows read back at start (clients × epochs kept).
const MAX_ROWS: usize = 1 << 20;

/// A client-signed statement as received (the exact signed bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The statement's bytes as signed.
    pub statement_bytes: Vec<u8>,
    /// The client's public key (binary form).
    pub client_key: Vec<u8>,
    /// The client's signature (binary form).
    pub signature: Vec<u8>,
}

impl Receipt {
    /// Rebuilds the settlement the chain expects.
    pub fn settlement(&self, max_bytes: usize) -> Result<UsageSettlement, BillingError> {
        let bad =
            |what: &str, e: String| BillingError::Ledger(format!("stored receipt {what}: {e}"));
        Ok(UsageSettlement {
            statement: lambda_chain::tx::codec::decode_statement(&self.statement_bytes, max_bytes)
                .map_err(|e| bad("statement", e.to_string()))?,
            statement_bytes: self.statement_bytes.clone(),
            client_public_key: PublicKey::from_bytes(&self.client_key)
                .map_err(|e| bad("key", e.to_string()))?,
            client_signature: Signature::from_bytes(&self.signature)
                .map_err(|e| bad("signature", e.to_string()))?,
        })
    }
}

/// One client's usage at this node in one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    /// Requests served here.
    pub served_requests: u64,
    /// Request bytes served here.
    pub served_bytes: u64,
    /// The largest receipt held.
    pub receipt: Option<Receipt>,
    /// The decoded statement of `receipt` (not stored).
    #[serde(skip)]
    pub statement: Option<UsageStatement>,
    /// The receipt's price at the chain's prices.
    pub receipt_price: u64,
    /// What the chain has charged for the epoch so far.
    pub settled_total: u64,
    /// Whether the chain's settled statement covers `receipt`.
    pub settled: bool,
}

impl UsageRow {
    /// What the client still owes for this row as far as this node knows.
    pub fn owed(&self) -> u64 {
        if self.settled {
            0
        } else {
            self.receipt_price.saturating_sub(self.settled_total)
        }
    }
}

/// The persistent part of the ledger.
#[derive(Clone)]
pub struct LedgerStore {
    engine: Arc<dyn Engine>,
}

impl std::fmt::Debug for LedgerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerStore")
    }
}

fn row_key(client: &Address, epoch: u64) -> Vec<u8> {
    let mut k = ROW_PREFIX.to_vec();
    k.extend_from_slice(&client.0);
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

fn counter_key(client: &Address) -> Vec<u8> {
    let mut k = COUNTER_PREFIX.to_vec();
    k.extend_from_slice(&client.0);
    k
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, BillingError> {
    let mut out = vec![FORMAT];
    out.extend(postcard::to_stdvec(v).map_err(|e| BillingError::Ledger(e.to_string()))?);
    Ok(out)
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, BillingError> {
    match bytes.split_first() {
        Some((&FORMAT, body)) => postcard::from_bytes(body)
            .map_err(|e| BillingError::Ledger(format!("{what} does not decode: {e}"))),
        _ => Err(BillingError::Ledger(format!(
            "{what} is not in a known format"
        ))),
    }
}

/// Everything read back at start.
pub type Loaded = (BTreeMap<(Address, u64), UsageRow>, BTreeMap<Address, u64>);

impl LedgerStore {
    /// The ledger in `engine`'s meta family.
    pub fn new(engine: Arc<dyn Engine>) -> Self {
        Self { engine }
    }

    /// Reads every row and counter back.
    pub fn load(&self) -> Result<Loaded, BillingError> {
        let mut rows = BTreeMap::new();
        for (k, v) in self.scan(ROW_PREFIX)? {
            let rest = &k[ROW_PREFIX.len()..];
            if rest.len() != 28 {
                return Err(BillingError::Ledger(format!(
                    "usage row key of {} bytes",
                    k.len()
                )));
            }
            let client = Address::from_slice(&rest[..20])
                .map_err(|e| BillingError::Ledger(e.to_string()))?;
            let mut epoch = [0u8; 8];
            epoch.copy_from_slice(&rest[20..]);
            rows.insert(
                (client, u64::from_be_bytes(epoch)),
                decode(&v, "usage row")?,
            );
        }
        let mut counters = BTreeMap::new();
        for (k, v) in self.scan(COUNTER_PREFIX)? {
            let client = Address::from_slice(&k[COUNTER_PREFIX.len()..])
                .map_err(|e| BillingError::Ledger(e.to_string()))?;
            counters.insert(client, decode(&v, "request counter")?);
        }
        Ok((rows, counters))
    }

    fn scan(&self, prefix: &[u8]) -> Result<Vec<KeyValue>, BillingError> {
        self.engine
            .scan(Cf::Meta, &KeyRange::prefix(prefix), MAX_ROWS)
            .map_err(|e| BillingError::Ledger(e.to_string()))
    }

    /// Writes a row and, when given, the client's highest counter.
    pub fn save(
        &self,
        client: &Address,
        epoch: u64,
        row: &UsageRow,
        counter: Option<u64>,
    ) -> Result<(), BillingError> {
        let mut b = WriteBatch::new();
        b.put(Cf::Meta, row_key(client, epoch), encode(row)?);
        if let Some(c) = counter {
            b.put(Cf::Meta, counter_key(client), encode(&c)?);
        }
        self.engine
            .write(b)
            .map_err(|e| BillingError::Ledger(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{RocksEngine, RocksOptions};

    #[test]
    fn rows_and_counters_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let client = Address([3; 20]);
        let row = UsageRow {
            served_requests: 4,
            served_bytes: 99,
            receipt: Some(Receipt {
                statement_bytes: vec![1, 2],
                client_key: vec![3],
                signature: vec![4],
            }),
            statement: None,
            receipt_price: 7,
            settled_total: 2,
            settled: false,
        };
        {
            let engine = Arc::new(RocksEngine::open(&RocksOptions::new(dir.path())).unwrap());
            let l = LedgerStore::new(engine);
            l.save(&client, 9, &row, Some(41)).unwrap();
            l.save(&client, 10, &UsageRow::default(), None).unwrap();
        }
        let engine = Arc::new(RocksEngine::open(&RocksOptions::new(dir.path())).unwrap());
        let (rows, counters) = LedgerStore::new(engine).load().unwrap();
        assert_eq!(rows.get(&(client, 9)), Some(&row));
        assert_eq!(rows.len(), 2);
        assert_eq!(counters.get(&client), Some(&41));
        assert_eq!(row.owed(), 5);
    }
}
