//! The transaction kinds and their stateless rules (field domains and the
//! signatures they embed). Rules that need the state live in `state::exec`.

use lambda_common::keys::{Address, PublicKey, Signature, SigningKey};

use super::error::{NodeId, TxError};
use crate::types::{DoubleSignEvidence, Hash};

/// Longest endpoint of a pledge, in bytes.
pub const MAX_ENDPOINT_BYTES: usize = 256;
/// Longest zone name, in bytes.
pub const MAX_ZONE_BYTES: usize = 64;
/// Longest object name of a contract, in bytes.
pub const MAX_OBJECT_NAME_BYTES: usize = 1024;
/// Largest PDP metadata or proof carried in a transaction, in bytes.
pub const MAX_PDP_BYTES: usize = 64 * 1024;
/// Most nodes in one usage statement.
pub const MAX_USAGE_ENTRIES: usize = 256;
/// Most replicas a contract may pay for.
pub const MAX_REPLICAS: u32 = 16;

/// Moves funds to another account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Recipient.
    pub to: Address,
    /// Amount (> 0).
    pub amount: u64,
}

/// Pledges a storage node (the sender is its owner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pledge {
    /// The node's key; the node id is its address.
    pub node_public_key: PublicKey,
    /// The node key's signature over [`Pledge::proof_bytes`].
    pub node_signature: Signature,
    /// Where the node listens (`host:port`).
    pub endpoint: String,
    /// Storage capacity in bytes (> 0).
    pub capacity_bytes: u64,
    /// Bandwidth in bytes per second (> 0).
    pub bandwidth_bps: u64,
    /// Failure zone (rack, site, …).
    pub zone: String,
    /// Stake moved from the owner's balance.
    pub stake: u64,
}

impl Pledge {
    /// The bytes a node key signs to let `owner` pledge it on `chain_id`.
    pub fn proof_bytes(chain_id: &str, owner: &Address) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + chain_id.len());
        b.extend_from_slice(b"lambda/pledge/v1");
        b.extend_from_slice(&(chain_id.len() as u32).to_be_bytes());
        b.extend_from_slice(chain_id.as_bytes());
        b.extend_from_slice(&owner.0);
        b
    }

    /// The node's proof for `owner`, made with the node key.
    pub fn prove(node_key: &SigningKey, chain_id: &str, owner: &Address) -> Signature {
        node_key.sign(&Self::proof_bytes(chain_id, owner))
    }

    /// The node id (address of the node key).
    pub fn node_id(&self) -> NodeId {
        self.node_public_key.address()
    }
}

/// A node that one member storage node reports offline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineReport {
    /// The node reported.
    pub node: NodeId,
    /// The epoch of the observation (must be the current epoch).
    pub epoch: u64,
}

/// A validator's vote that a node is offline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineVerdict {
    /// The node voted offline.
    pub node: NodeId,
    /// The current epoch.
    pub epoch: u64,
}

/// One serving node's share of a client's usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageEntry {
    /// The node that served.
    pub node: NodeId,
    /// Requests served.
    pub requests: u64,
    /// Bytes transferred.
    pub bytes: u64,
}

/// The price of `requests` requests moving `bytes` bytes:
/// `requests × per_request + ⌊bytes × per_mib / 2^20⌋`.
pub fn usage_price(
    requests: u64,
    bytes: u64,
    per_request: u64,
    per_mib: u64,
) -> Result<u64, TxError> {
    let v = u128::from(requests) * u128::from(per_request)
        + ((u128::from(bytes) * u128::from(per_mib)) >> 20);
    u64::try_from(v).map_err(|_| TxError::Overflow("usage price"))
}

impl UsageEntry {
    /// This entry's price (see [`usage_price`]).
    pub fn price(&self, per_request: u64, per_mib: u64) -> Result<u64, TxError> {
        usage_price(self.requests, self.bytes, per_request, per_mib)
    }
}

impl UsageStatement {
    /// The statement's total price, the sum of its entries' prices.
    pub fn price(&self, per_request: u64, per_mib: u64) -> Result<u64, TxError> {
        self.entries.iter().try_fold(0u64, |acc, e| {
            acc.checked_add(e.price(per_request, per_mib)?)
                .ok_or(TxError::Overflow("usage total"))
        })
    }

    /// Whether every entry of `other` is matched by an entry of this
    /// statement for the same node with at least as many requests and bytes.
    /// `None` if so; otherwise the first shortfall, described.
    pub fn shortfall_against(&self, other: &[UsageEntry]) -> Option<String> {
        other
            .iter()
            .find_map(|o| match self.entries.iter().find(|e| e.node == o.node) {
                None => Some(format!(
                    "node {} is missing (settled: {} requests)",
                    o.node, o.requests
                )),
                Some(e) if e.requests < o.requests || e.bytes < o.bytes => Some(format!(
                    "node {} has {} requests / {} bytes, settled {} / {}",
                    o.node, e.requests, e.bytes, o.requests, o.bytes
                )),
                Some(_) => None,
            })
    }
}

/// What a client used in one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageStatement {
    /// Chain id (the statement is signed separately from the transaction).
    pub chain_id: String,
    /// The epoch the usage belongs to.
    pub epoch: u64,
    /// Per node, unique.
    pub entries: Vec<UsageEntry>,
}

/// A client-signed usage statement submitted by a coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageSettlement {
    /// The statement's exact encoded bytes (what the client signed).
    pub statement_bytes: Vec<u8>,
    /// The decoded statement.
    pub statement: UsageStatement,
    /// The client's key; the client account is its address.
    pub client_public_key: PublicKey,
    /// The client's signature over [`UsageSettlement::sign_bytes`].
    pub client_signature: Signature,
}

impl UsageSettlement {
    /// What a client signs: `"lambda/usage/v1" ‖ chain id ‖ statement bytes`.
    pub fn sign_bytes(chain_id: &str, statement_bytes: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(24 + chain_id.len() + statement_bytes.len());
        b.extend_from_slice(b"lambda/usage/v1");
        b.extend_from_slice(&(chain_id.len() as u32).to_be_bytes());
        b.extend_from_slice(chain_id.as_bytes());
        b.extend_from_slice(statement_bytes);
        b
    }

    /// Encodes `statement` and signs it with the client's key.
    pub fn new_signed(client: &SigningKey, statement: UsageStatement) -> Self {
        let statement_bytes = super::codec::encode_statement(&statement);
        let client_signature =
            client.sign(&Self::sign_bytes(&statement.chain_id, &statement_bytes));
        Self {
            statement_bytes,
            statement,
            client_public_key: client.public(),
            client_signature,
        }
    }

    /// The client account.
    pub fn client(&self) -> Address {
        self.client_public_key.address()
    }
}

/// Registers a storage contract (the sender is the owner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterContract {
    /// The object's name.
    pub object_name: String,
    /// Its size in bytes: the contracted space (and, objects being
    /// immutable, the current storage size).
    pub size_bytes: u64,
    /// Duration in epochs (one PDP cycle is one epoch).
    pub duration_epochs: u64,
    /// Total amount escrowed from the owner.
    pub total_amount: u64,
    /// Replicas paid per cycle.
    pub replicas: u32,
    /// PDP tag metadata (an encoded `lambda.pdp.v1.SignedTagMetadata`),
    /// opaque to the state machine; validators decode it to audit.
    pub pdp_metadata: Vec<u8>,
    /// The metadata's digest (`lambda_pdp::TagMetadata::digest`): the object
    /// version that proofs must carry.
    pub pdp_digest: Hash,
}

/// A validator's record of one PDP audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdpResult {
    /// The contract audited.
    pub contract: Hash,
    /// The node audited.
    pub node: NodeId,
    /// The epoch (cycle) of the challenge.
    pub epoch: u64,
    /// Whether the proof verified.
    pub passed: bool,
    /// The proof, opaque (kept for audit).
    pub proof: Vec<u8>,
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxKind {
    /// Move funds.
    Transfer(Transfer),
    /// Pledge a storage node.
    Pledge(Pledge),
    /// Withdraw a storage node.
    Unpledge {
        /// The node.
        node: NodeId,
    },
    /// A member node reports another offline.
    OfflineReport(OfflineReport),
    /// A validator votes a node offline.
    OfflineVerdict(OfflineVerdict),
    /// Settle a client's usage of an epoch.
    UsageSettlement(UsageSettlement),
    /// Register a storage contract.
    RegisterContract(RegisterContract),
    /// Record a PDP audit.
    PdpResult(PdpResult),
    /// Slash a validator that signed two blocks at one step.
    SlashDoubleSign(DoubleSignEvidence),
}

impl TxKind {
    /// A short name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            TxKind::Transfer(_) => "transfer",
            TxKind::Pledge(_) => "pledge",
            TxKind::Unpledge { .. } => "unpledge",
            TxKind::OfflineReport(_) => "offline report",
            TxKind::OfflineVerdict(_) => "offline verdict",
            TxKind::UsageSettlement(_) => "usage settlement",
            TxKind::RegisterContract(_) => "contract registration",
            TxKind::PdpResult(_) => "PDP result",
            TxKind::SlashDoubleSign(_) => "double-sign evidence",
        }
    }

    /// Funds that leave the sender's balance besides the fee.
    pub fn spend(&self) -> u64 {
        match self {
            TxKind::Transfer(t) => t.amount,
            TxKind::Pledge(p) => p.stake,
            TxKind::RegisterContract(c) => c.total_amount,
            _ => 0,
        }
    }

    /// Checks the rules that need no state: field domains and embedded
    /// signatures (a pledge's node proof, a usage statement's client
    /// signature).
    pub fn check_stateless(&self, chain_id: &str, sender: &Address) -> Result<(), TxError> {
        match self {
            TxKind::Transfer(t) if t.amount == 0 => Err(invalid("transfer.amount", "is zero")),
            TxKind::Pledge(p) => check_pledge(p, chain_id, sender),
            TxKind::UsageSettlement(u) => check_usage(u, chain_id),
            TxKind::RegisterContract(c) => check_contract(c),
            TxKind::PdpResult(r) if r.proof.len() > MAX_PDP_BYTES => Err(invalid(
                "pdp_result.proof",
                format!("is {} bytes, over {MAX_PDP_BYTES}", r.proof.len()),
            )),
            _ => Ok(()),
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> TxError {
    TxError::InvalidField {
        field,
        reason: reason.into(),
    }
}

fn check_text(field: &'static str, s: &str, max: usize) -> Result<(), TxError> {
    if s.is_empty() || s.len() > max {
        return Err(invalid(
            field,
            format!("must be 1 to {max} bytes, is {}", s.len()),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

fn check_pledge(p: &Pledge, chain_id: &str, owner: &Address) -> Result<(), TxError> {
    check_text("pledge.endpoint", &p.endpoint, MAX_ENDPOINT_BYTES)?;
    check_text("pledge.zone", &p.zone, MAX_ZONE_BYTES)?;
    if p.capacity_bytes == 0 {
        return Err(invalid("pledge.capacity_bytes", "is zero"));
    }
    if p.bandwidth_bps == 0 {
        return Err(invalid("pledge.bandwidth_bps", "is zero"));
    }
    p.node_public_key
        .verify(&Pledge::proof_bytes(chain_id, owner), &p.node_signature)
        .map_err(TxError::BadNodeSignature)
}

fn check_usage(u: &UsageSettlement, chain_id: &str) -> Result<(), TxError> {
    if u.statement.chain_id != chain_id {
        return Err(invalid(
            "usage.statement.chain_id",
            format!("is {:?}, this chain is {chain_id:?}", u.statement.chain_id),
        ));
    }
    let n = u.statement.entries.len();
    if n == 0 || n > MAX_USAGE_ENTRIES {
        return Err(invalid(
            "usage.statement.entries",
            format!("has {n} entries, must have 1 to {MAX_USAGE_ENTRIES}"),
        ));
    }
    let mut nodes: Vec<NodeId> = u.statement.entries.iter().map(|e| e.node).collect();
    nodes.sort();
    if let Some(w) = nodes.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid(
            "usage.statement.entries",
            format!("node {} appears twice", w[0]),
        ));
    }
    u.client_public_key
        .verify(
            &UsageSettlement::sign_bytes(chain_id, &u.statement_bytes),
            &u.client_signature,
        )
        .map_err(TxError::BadClientSignature)
}

fn check_contract(c: &RegisterContract) -> Result<(), TxError> {
    check_text(
        "contract.object_name",
        &c.object_name,
        MAX_OBJECT_NAME_BYTES,
    )?;
    if c.size_bytes == 0 {
        return Err(invalid("contract.size_bytes", "is zero"));
    }
    if c.duration_epochs == 0 {
        return Err(invalid("contract.duration_epochs", "is zero"));
    }
    if c.total_amount == 0 {
        return Err(invalid("contract.total_amount", "is zero"));
    }
    if c.replicas == 0 || c.replicas > MAX_REPLICAS {
        return Err(invalid(
            "contract.replicas",
            format!("is {}, must be 1 to {MAX_REPLICAS}", c.replicas),
        ));
    }
    if c.pdp_metadata.len() > MAX_PDP_BYTES {
        return Err(invalid(
            "contract.pdp_metadata",
            format!("is {} bytes, over {MAX_PDP_BYTES}", c.pdp_metadata.len()),
        ));
    }
    Ok(())
}
