//! The records the state holds (accounts, storage nodes, memberships,
//! validators, contracts, PDP results, votes, settlements, evidence) and
//! their byte encoding.
//!
//! Records are encoded with `postcard` (serde, a compact format with a
//! fixed specification, so the same record always gives the same bytes: the
//! state root depends on it). No record holds a hash map; every list is kept
//! sorted or in execution order, so encoding is deterministic. Decoding
//! refuses trailing bytes; a record that does not decode is corruption.

use lambda_common::keys::{Address, PublicKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ChainError;
use crate::tx::NodeId;
use crate::types::{Hash, Height, Validator, ValidatorSet};

/// Encodes a record.
pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, ChainError> {
    postcard::to_stdvec(v).map_err(|e| ChainError::Corrupt {
        what: "record being written",
        reason: e.to_string(),
    })
}

/// Decodes a record, refusing trailing bytes.
pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, ChainError> {
    let corrupt = |reason: String| ChainError::Corrupt { what, reason };
    let (v, rest) = postcard::take_from_bytes(bytes).map_err(|e| corrupt(e.to_string()))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", rest.len())));
    }
    Ok(v)
}

/// An account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Balance in base units.
    pub balance: u64,
    /// Next nonce (number of transactions it has sent).
    pub nonce: u64,
}

/// Where a storage node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeStatus {
    /// Pledged; becomes a member at the next epoch boundary.
    Pending,
    /// A member of the current membership (and the next, unless it changes).
    Member,
    /// Unpledged; leaves (and gets its stake back) at the next boundary.
    Leaving,
    /// Voted offline; not in the next membership.
    Offline,
    /// Slashed under the minimum stake; not in the next membership.
    Slashed,
    /// Left; its stake was returned.
    Exited,
}

impl NodeStatus {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            NodeStatus::Pending => "pending",
            NodeStatus::Member => "member",
            NodeStatus::Leaving => "leaving",
            NodeStatus::Offline => "offline",
            NodeStatus::Slashed => "slashed",
            NodeStatus::Exited => "exited",
        }
    }
}

/// A pledged storage node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageNode {
    /// Node id (address of its key).
    pub id: NodeId,
    /// The account that pledged it.
    pub owner: Address,
    /// The node key.
    pub public_key: PublicKey,
    /// `host:port`.
    pub endpoint: String,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Bandwidth in bytes per second.
    pub bandwidth_bps: u64,
    /// Failure zone.
    pub zone: String,
    /// Remaining stake.
    pub stake: u64,
    /// Status.
    pub status: NodeStatus,
    /// Height of the pledge (0 for genesis nodes).
    pub pledged_height: Height,
    /// Height of the last status change.
    pub status_height: Height,
}

/// A member of an epoch's membership: what the ring needs of a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Node id.
    pub id: NodeId,
    /// Node key.
    pub public_key: PublicKey,
    /// `host:port`.
    pub endpoint: String,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Bandwidth in bytes per second.
    pub bandwidth_bps: u64,
    /// Failure zone.
    pub zone: String,
}

impl Member {
    /// The member view of a node.
    pub fn of(n: &StorageNode) -> Self {
        Self {
            id: n.id,
            public_key: n.public_key,
            endpoint: n.endpoint.clone(),
            capacity_bytes: n.capacity_bytes,
            bandwidth_bps: n.bandwidth_bps,
            zone: n.zone.clone(),
        }
    }
}

/// The membership of one epoch, sorted by node id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The epoch.
    pub epoch: u64,
    /// Members, sorted by id.
    pub members: Vec<Member>,
}

impl Membership {
    /// Whether `id` is a member.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.members.binary_search_by_key(id, |m| m.id).is_ok()
    }
}

/// A validator's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidatorStatus {
    /// In the next epoch's set.
    Active,
    /// Slashed for a double sign; leaves at the next boundary.
    Removed,
}

/// A validator's stake and standing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorRecord {
    /// Consensus key.
    pub public_key: PublicKey,
    /// Stake (voting power while active).
    pub stake: u64,
    /// Standing.
    pub status: ValidatorStatus,
}

/// The validator set of one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochValidators {
    /// The epoch.
    pub epoch: u64,
    /// The set.
    pub validators: Vec<Validator>,
}

impl EpochValidators {
    /// As a [`ValidatorSet`].
    pub fn to_set(&self) -> Result<ValidatorSet, ChainError> {
        ValidatorSet::new(self.validators.clone()).map_err(|e| ChainError::Corrupt {
            what: "validator set",
            reason: e.to_string(),
        })
    }
}

/// Whether a contract still pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContractStatus {
    /// Within its duration.
    Active,
    /// Past its duration; the rest of the escrow went back to the owner.
    Expired,
}

/// A storage contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// Contract id.
    pub id: Hash,
    /// The owner (payer).
    pub owner: Address,
    /// Object name.
    pub object_name: String,
    /// Size in bytes (contracted space = current size for immutable objects).
    pub size_bytes: u64,
    /// Duration in epochs.
    pub duration_epochs: u64,
    /// First epoch covered (the epoch after registration).
    pub start_epoch: u64,
    /// Total escrowed.
    pub total_amount: u64,
    /// Paid out so far.
    pub paid_amount: u64,
    /// Replicas paid per cycle.
    pub replicas: u32,
    /// PDP tag metadata (opaque).
    pub pdp_metadata: Vec<u8>,
    /// Digest of the PDP tags.
    pub pdp_digest: Hash,
    /// Status.
    pub status: ContractStatus,
}

impl Contract {
    /// The last epoch the contract covers.
    pub fn end_epoch(&self) -> u64 {
        self.start_epoch
            .saturating_add(self.duration_epochs)
            .saturating_sub(1)
    }

    /// Whether `epoch` lies in the contract's duration.
    pub fn covers(&self, epoch: u64) -> bool {
        epoch >= self.start_epoch && epoch <= self.end_epoch()
    }
}

/// A recorded PDP audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdpRecord {
    /// The contract.
    pub contract: Hash,
    /// The node.
    pub node: NodeId,
    /// The epoch (cycle).
    pub epoch: u64,
    /// Outcome.
    pub passed: bool,
    /// The validator that recorded it.
    pub validator: Address,
    /// Height of the block that recorded it.
    pub height: Height,
    /// Paid to the node's owner for a pass.
    pub payment: u64,
    /// Burnt from the node's stake for a failure.
    pub slashed: u64,
}

/// Offline-verdict votes on one node in one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictVotes {
    /// Voters, sorted.
    pub voters: Vec<Address>,
    /// Their power in the epoch's set.
    pub power: u64,
    /// Whether the verdict took effect.
    pub decided: bool,
}

/// Offline reports on one node in one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineReports {
    /// Reporting nodes, sorted.
    pub reporters: Vec<NodeId>,
}

/// One serving node's settled share of a client's usage in an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettledEntry {
    /// The node that served.
    pub node: NodeId,
    /// Requests settled.
    pub requests: u64,
    /// Bytes settled.
    pub bytes: u64,
}

/// The settled usage of a client in an epoch: the largest statement settled
/// so far (a later one that dominates it entry-wise replaces it and is
/// charged the difference).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The coordinator that submitted the latest settlement.
    pub coordinator: NodeId,
    /// Total moved from the client over every settlement of the epoch.
    pub total: u64,
    /// Height of the latest settlement.
    pub height: Height,
    /// The settled statement's entries, by node id.
    pub entries: Vec<SettledEntry>,
    /// Settlements applied (the first and each dominating one).
    pub settlements: u32,
}

impl UsageRecord {
    /// Requests settled over every node.
    pub fn requests(&self) -> u64 {
        self.entries.iter().map(|e| e.requests).sum()
    }
}

/// A punished double sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    /// Height of the conflicting votes.
    pub vote_height: Height,
    /// Stake taken.
    pub slashed: u64,
    /// Paid to the fisherman.
    pub reward: u64,
    /// Who submitted it.
    pub fisherman: Address,
    /// Height of the block that included it.
    pub height: Height,
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_common::keys::SigningKey;
    use proptest::prelude::*;

    fn node() -> StorageNode {
        let k = SigningKey::from_seed([4; 32]);
        StorageNode {
            id: k.public().address(),
            owner: Address::default(),
            public_key: k.public(),
            endpoint: "e".into(),
            capacity_bytes: 1,
            bandwidth_bps: 2,
            zone: "z".into(),
            stake: 3,
            status: NodeStatus::Offline,
            pledged_height: 4,
            status_height: 5,
        }
    }

    #[test]
    fn round_trip_and_trailing_bytes() {
        let n = node();
        let mut b = encode(&n).unwrap();
        assert_eq!(decode::<StorageNode>(&b, "storage node").unwrap(), n);
        b.push(0);
        assert!(matches!(
            decode::<StorageNode>(&b, "storage node"),
            Err(ChainError::Corrupt {
                what: "storage node",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_are_corruption_not_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode::<StorageNode>(&b, "storage node");
            let _ = decode::<Contract>(&b, "contract");
            let _ = decode::<EpochValidators>(&b, "validators").map(|v| v.to_set());
            let _ = decode::<Membership>(&b, "membership");
            let _ = decode::<Account>(&b, "account");
        }
    }
}
