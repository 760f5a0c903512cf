//! Request signing and usage receipts for a chain-mode cluster.
//!
//! A [`Wallet`] is the client's account key. With one in
//! [`crate::sdk::ClientConfig`], every call carries the metadata of
//! [`lambda_common::request_sig`]: a counter, the time, the signature over
//! the request and the target node, and the client's signed cumulative
//! usage statement for the epoch (per node it has used this epoch: requests
//! and request bytes, this request included), signed as the chain verifies
//! it ([`UsageSettlement::new_signed`]).
//!
//! Requests are signed for the id of the node they are sent to: the SDK
//! learns it from the node itself and caches it per router slot (a slot is
//! one endpoint and ring id, never reused), so requests a ring router sends
//! to nodes outside the configured endpoints are signed for those nodes;
//! when the ring names the node (in chain mode by its address), an answer
//! with another id is refused before anything is signed.
//!
//! The SDK learns a node's id and the current epoch from the node's
//! unsigned `lambda.billing.v1.Billing/Info` on first contact (also picking
//! up the largest receipt the node holds, so a restarted client resumes its
//! statement), and the epoch from the `lambda-epoch` entry of every answer:
//! when it moves on, usage starts again from zero for the new epoch.
//! Counters start from the clock in microseconds and increase by one per
//! request, so a new process never reuses an earlier one's counters.
//! A request the node refuses before serving it (signature, replay, funds,
//! overload) is taken back out of the statement when no later statement
//! has included it yet.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lambda_chain::tx::codec::decode_statement;
use lambda_chain::tx::kind::{UsageEntry, UsageSettlement, UsageStatement};
use lambda_common::keys::{Address, SigningKey};
use lambda_common::request_sig::{RequestFields, digest, meta};
use lambda_proto::billing::v1 as bpb;
use lambda_proto::billing::v1::billing_client::BillingClient;
use parking_lot::Mutex;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::Channel;

use super::SdkError;
use super::router::Route;

/// A client account key that signs requests.
#[derive(Clone, Debug)]
pub struct Wallet {
    key: SigningKey,
}

impl Wallet {
    /// A wallet of `key`.
    pub fn new(key: SigningKey) -> Self {
        Self { key }
    }

    /// Loads a key file (as `lambda-chain` writes keys).
    pub fn load(path: &Path) -> Result<Self, SdkError> {
        SigningKey::load(path)
            .map(Self::new)
            .map_err(|e| SdkError::InvalidArgument(format!("key file {}: {e}", path.display())))
    }

    /// The account address.
    pub fn address(&self) -> Address {
        self.key.public().address()
    }

    /// The key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }
}

/// The usage a client has signed for in the current epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedUsage {
    /// The epoch.
    pub epoch: u64,
    /// Per node: (node id, requests, request bytes).
    pub per_node: Vec<(Address, u64, u64)>,
}

/// What the SDK knows about one node.
#[derive(Clone, Debug)]
pub(crate) struct NodeInfo {
    id: Address,
    chain_id: String,
    /// False for a node outside chain mode (it serves no Billing service):
    /// requests to it are sent unsigned.
    bills: bool,
}

#[derive(Debug, Default)]
struct Usage {
    epoch: u64,
    counter: u64,
    per_node: BTreeMap<Address, (u64, u64)>,
}

/// A signed attempt, to reconcile with its answer.
#[derive(Debug)]
pub(crate) struct Ticket {
    node: Address,
    /// The billing epoch signed for (`u64::MAX`: the node does not bill).
    pub(crate) epoch: u64,
    after: (u64, u64),
    bytes: u64,
}

/// Signs requests and tracks this epoch's usage per node.
#[derive(Debug)]
pub(crate) struct Signer {
    wallet: Wallet,
    nodes: Mutex<HashMap<usize, NodeInfo>>,
    usage: Mutex<Usage>,
}

fn micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

fn bin(v: &[u8]) -> tonic::metadata::BinaryMetadataValue {
    MetadataValue::from_bytes(v)
}

impl Signer {
    pub(crate) fn new(wallet: Wallet) -> Arc<Self> {
        Arc::new(Self {
            wallet,
            nodes: Mutex::new(HashMap::new()),
            usage: Mutex::new(Usage {
                counter: micros_now(),
                ..Usage::default()
            }),
        })
    }

    /// The node behind `channel` (cached per router slot when known). With
    /// `expected` (the ring's id of the node, an address in chain mode),
    /// a billing node answering with another id is refused and not cached.
    pub(crate) async fn node(
        &self,
        channel: &Channel,
        index: Option<usize>,
        expected: Option<&str>,
    ) -> Result<NodeInfo, SdkError> {
        if let Some(i) = index
            && let Some(n) = self.nodes.lock().get(&i)
        {
            return Ok(n.clone());
        }
        let answer = BillingClient::new(channel.clone())
            .info(bpb::InfoRequest {
                client: self.wallet.address().0.to_vec(),
                epoch: 0,
            })
            .await;
        let info = match answer {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                let node = NodeInfo {
                    id: Address([0; 20]),
                    chain_id: String::new(),
                    bills: false,
                };
                if let Some(i) = index {
                    self.nodes.lock().insert(i, node.clone());
                }
                return Ok(node);
            }
            Err(s) => return Err(s.into()),
        };
        let id = Address::from_slice(&info.node_id)
            .map_err(|e| SdkError::InvalidArgument(format!("node id from Billing/Info: {e}")))?;
        if let Some(want) = expected.and_then(|e| e.parse::<Address>().ok())
            && want != id
        {
            return Err(SdkError::NodeMismatch {
                expected: want.to_string(),
                actual: id.to_string(),
            });
        }
        let node = NodeInfo {
            id,
            chain_id: info.chain_id,
            bills: true,
        };
        self.learn(info.epoch, &info.receipt_statement);
        if let Some(i) = index {
            self.nodes.lock().insert(i, node.clone());
        }
        Ok(node)
    }

    /// Moves to `epoch` if it is newer; merges a node's stored receipt of
    /// the current epoch into the usage (entry-wise maximum).
    fn learn(&self, epoch: u64, receipt: &[u8]) {
        let mut u = self.usage.lock();
        if epoch > u.epoch {
            u.epoch = epoch;
            u.per_node.clear();
        }
        if receipt.is_empty() {
            return;
        }
        if let Ok(st) = decode_statement(receipt, 1 << 20)
            && st.epoch == u.epoch
        {
            for e in st.entries {
                let slot = u.per_node.entry(e.node).or_default();
                *slot = (slot.0.max(e.requests), slot.1.max(e.bytes));
            }
        }
    }

    /// Signs one attempt of `method` with message `body` to the node of
    /// `route` (for the id that node gives), adding the metadata to
    /// `metadata`.
    pub(crate) async fn sign(
        &self,
        route: &Route,
        method: &str,
        body: &[u8],
        metadata: &mut MetadataMap,
    ) -> Result<Ticket, SdkError> {
        let node = self
            .node(&route.channel, route.slot, route.node.as_deref())
            .await?;
        if !node.bills {
            // Nothing to sign or count; `settle` ignores this ticket.
            return Ok(Ticket {
                node: node.id,
                epoch: u64::MAX,
                after: (0, 0),
                bytes: 0,
            });
        }
        let bytes = body.len() as u64;
        let (counter, statement, after) = {
            let mut u = self.usage.lock();
            u.counter += 1;
            let slot = u.per_node.entry(node.id).or_default();
            *slot = (slot.0 + 1, slot.1 + bytes);
            let after = *slot;
            let statement = UsageStatement {
                chain_id: node.chain_id.clone(),
                epoch: u.epoch,
                entries: u
                    .per_node
                    .iter()
                    .map(|(n, (requests, bytes))| UsageEntry {
                        node: *n,
                        requests: *requests,
                        bytes: *bytes,
                    })
                    .collect(),
            };
            (u.counter, statement, after)
        };
        let epoch = statement.epoch;
        let receipt = UsageSettlement::new_signed(self.wallet.key(), statement);
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let signature = RequestFields {
            chain_id: &node.chain_id,
            method,
            node: node.id,
            counter,
            timestamp_ms,
            request_digest: digest(body),
            receipt_digest: digest(&receipt.statement_bytes),
        }
        .sign(self.wallet.key());
        metadata.insert_bin(
            meta::CLIENT_KEY,
            bin(&self.wallet.key().public().to_bytes()),
        );
        metadata.insert(meta::COUNTER, MetadataValue::from(counter));
        metadata.insert(meta::TIMESTAMP, MetadataValue::from(timestamp_ms));
        metadata.insert_bin(meta::SIGNATURE, bin(&signature.to_bytes()));
        metadata.insert_bin(meta::RECEIPT, bin(&receipt.statement_bytes));
        metadata.insert_bin(
            meta::RECEIPT_SIGNATURE,
            bin(&receipt.client_signature.to_bytes()),
        );
        Ok(Ticket {
            node: node.id,
            epoch,
            after,
            bytes,
        })
    }

    /// Reconciles an attempt with its answer's metadata and outcome.
    pub(crate) fn settle(&self, ticket: Ticket, answer: &MetadataMap, refused: bool) {
        if refused {
            let mut u = self.usage.lock();
            if u.epoch == ticket.epoch
                && let Some(slot) = u.per_node.get_mut(&ticket.node)
                && *slot == ticket.after
            {
                *slot = (slot.0 - 1, slot.1 - ticket.bytes);
            }
        }
        if let Some(e) = answer
            .get(meta::EPOCH)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse().ok())
        {
            self.learn(e, &[]);
        }
    }

    /// Whether a refusal (`code`, already settled) of an attempt signed for
    /// `epoch` came from signing for an epoch the node no longer bills: the
    /// answer taught a newer epoch (an idle client misses epoch changes), so
    /// signing again succeeds.
    pub(crate) fn signed_stale_epoch(&self, epoch: u64, code: tonic::Code) -> bool {
        code == tonic::Code::FailedPrecondition
            && epoch != u64::MAX
            && self.usage.lock().epoch > epoch
    }

    /// This epoch's usage per node as the client signs it.
    pub(crate) fn usage(&self) -> SignedUsage {
        let u = self.usage.lock();
        SignedUsage {
            epoch: u.epoch,
            per_node: u.per_node.iter().map(|(n, (r, b))| (*n, *r, *b)).collect(),
        }
    }
}
