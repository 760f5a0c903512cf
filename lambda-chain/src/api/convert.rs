//! Conversions between the chain's records and the public API's messages,
//! both ways: the server encodes state records, the typed client decodes
//! answers strictly (wrong lengths and unknown enum values are errors that
//! name the field, never defaults).

use lambda_common::keys::{Address, PublicKey};
use lambda_proto::chain::v1 as pb;
use prost::Message as _;

use crate::block::Block;
use crate::codec::{DecodeError, commit_from_pb, commit_to_pb};
use crate::state::{
    Account, Contract, ContractStatus, Member, Membership, NodeStatus, PdpRecord, StorageNode,
    ValidatorRecord, ValidatorStatus,
};
use crate::types::{CommitCertificate, Hash, Height, Validator, ValidatorSet};

/// Why an API message does not decode into a chain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A required field is absent.
    #[error("field {0} is missing")]
    Missing(&'static str),
    /// A field does not decode.
    #[error("field {field}: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An enum field holds a value this build does not know.
    #[error("field {field}: unknown value {value}")]
    UnknownEnum {
        /// The field.
        field: &'static str,
        /// The value.
        value: i32,
    },
}

fn field<E: std::fmt::Display>(f: &'static str) -> impl Fn(E) -> ConvertError {
    move |e| ConvertError::Field {
        field: f,
        reason: e.to_string(),
    }
}

/// Decodes a 20-byte address field.
pub fn address(b: &[u8], f: &'static str) -> Result<Address, ConvertError> {
    Address::from_slice(b).map_err(field(f))
}

/// Decodes a public key field (algorithm byte first).
pub fn public_key(b: &[u8], f: &'static str) -> Result<PublicKey, ConvertError> {
    PublicKey::from_bytes(b).map_err(field(f))
}

/// Decodes a 32-byte hash field.
pub fn hash(b: &[u8], f: &'static str) -> Result<Hash, ConvertError> {
    Hash::from_slice(b).map_err(field(f))
}

/// Encodes a storage node.
pub fn node_to_pb(n: &StorageNode) -> pb::StorageNodeInfo {
    pb::StorageNodeInfo {
        id: n.id.0.to_vec(),
        owner: n.owner.0.to_vec(),
        public_key: n.public_key.to_bytes(),
        endpoint: n.endpoint.clone(),
        capacity_bytes: n.capacity_bytes,
        bandwidth_bps: n.bandwidth_bps,
        zone: n.zone.clone(),
        stake: n.stake,
        status: node_status_to_pb(n.status) as i32,
        pledged_height: n.pledged_height,
        status_height: n.status_height,
    }
}

fn node_status_to_pb(s: NodeStatus) -> pb::NodeStatus {
    match s {
        NodeStatus::Pending => pb::NodeStatus::Pending,
        NodeStatus::Member => pb::NodeStatus::Member,
        NodeStatus::Leaving => pb::NodeStatus::Leaving,
        NodeStatus::Offline => pb::NodeStatus::Offline,
        NodeStatus::Slashed => pb::NodeStatus::Slashed,
        NodeStatus::Exited => pb::NodeStatus::Exited,
    }
}

/// Decodes a storage node.
pub fn node_from_pb(n: &pb::StorageNodeInfo) -> Result<StorageNode, ConvertError> {
    let status = match pb::NodeStatus::try_from(n.status) {
        Ok(pb::NodeStatus::Pending) => NodeStatus::Pending,
        Ok(pb::NodeStatus::Member) => NodeStatus::Member,
        Ok(pb::NodeStatus::Leaving) => NodeStatus::Leaving,
        Ok(pb::NodeStatus::Offline) => NodeStatus::Offline,
        Ok(pb::NodeStatus::Slashed) => NodeStatus::Slashed,
        Ok(pb::NodeStatus::Exited) => NodeStatus::Exited,
        _ => {
            return Err(ConvertError::UnknownEnum {
                field: "node.status",
                value: n.status,
            });
        }
    };
    Ok(StorageNode {
        id: address(&n.id, "node.id")?,
        owner: address(&n.owner, "node.owner")?,
        public_key: public_key(&n.public_key, "node.public_key")?,
        endpoint: n.endpoint.clone(),
        capacity_bytes: n.capacity_bytes,
        bandwidth_bps: n.bandwidth_bps,
        zone: n.zone.clone(),
        stake: n.stake,
        status,
        pledged_height: n.pledged_height,
        status_height: n.status_height,
    })
}

/// Encodes a membership's members.
pub fn members_to_pb(m: &Membership) -> Vec<pb::MemberInfo> {
    m.members
        .iter()
        .map(|m| pb::MemberInfo {
            id: m.id.0.to_vec(),
            public_key: m.public_key.to_bytes(),
            endpoint: m.endpoint.clone(),
            capacity_bytes: m.capacity_bytes,
            bandwidth_bps: m.bandwidth_bps,
            zone: m.zone.clone(),
        })
        .collect()
}

/// Decodes a membership.
pub fn membership_from_pb(r: &pb::GetMembershipResponse) -> Result<Membership, ConvertError> {
    let members = r
        .members
        .iter()
        .map(|m| {
            Ok(Member {
                id: address(&m.id, "member.id")?,
                public_key: public_key(&m.public_key, "member.public_key")?,
                endpoint: m.endpoint.clone(),
                capacity_bytes: m.capacity_bytes,
                bandwidth_bps: m.bandwidth_bps,
                zone: m.zone.clone(),
            })
        })
        .collect::<Result<_, ConvertError>>()?;
    Ok(Membership {
        epoch: r.epoch,
        members,
    })
}

/// Encodes a validator set.
pub fn validators_to_pb(set: &ValidatorSet) -> Vec<pb::ValidatorInfo> {
    set.validators()
        .iter()
        .map(|v| pb::ValidatorInfo {
            address: v.address.0.to_vec(),
            public_key: v.public_key.to_bytes(),
            power: v.power,
        })
        .collect()
}

/// Decodes a validator set (each address must be its key's).
pub fn validators_from_pb(r: &pb::GetValidatorsResponse) -> Result<ValidatorSet, ConvertError> {
    let vs = r
        .validators
        .iter()
        .map(|v| {
            let key = public_key(&v.public_key, "validator.public_key")?;
            if address(&v.address, "validator.address")? != key.address() {
                return Err(ConvertError::Field {
                    field: "validator.address",
                    reason: "is not the address of the validator's key".into(),
                });
            }
            Ok(Validator::new(key, v.power))
        })
        .collect::<Result<_, ConvertError>>()?;
    ValidatorSet::new(vs).map_err(field("validators"))
}

/// Encodes a validator's record.
pub fn validator_status_to_pb(s: ValidatorStatus) -> pb::ValidatorStatus {
    match s {
        ValidatorStatus::Active => pb::ValidatorStatus::Active,
        ValidatorStatus::Removed => pb::ValidatorStatus::Removed,
    }
}

/// Decodes a validator's record.
pub fn validator_from_pb(r: &pb::GetValidatorResponse) -> Result<ValidatorRecord, ConvertError> {
    let status = match pb::ValidatorStatus::try_from(r.status) {
        Ok(pb::ValidatorStatus::Active) => ValidatorStatus::Active,
        Ok(pb::ValidatorStatus::Removed) => ValidatorStatus::Removed,
        _ => {
            return Err(ConvertError::UnknownEnum {
                field: "validator.status",
                value: r.status,
            });
        }
    };
    Ok(ValidatorRecord {
        public_key: public_key(&r.public_key, "validator.public_key")?,
        stake: r.stake,
        status,
    })
}

/// Encodes a contract.
pub fn contract_to_pb(c: &Contract) -> pb::ContractInfo {
    pb::ContractInfo {
        id: c.id.0.to_vec(),
        owner: c.owner.0.to_vec(),
        object_name: c.object_name.clone(),
        size_bytes: c.size_bytes,
        duration_epochs: c.duration_epochs,
        start_epoch: c.start_epoch,
        total_amount: c.total_amount,
        paid_amount: c.paid_amount,
        replicas: c.replicas,
        pdp_metadata: c.pdp_metadata.clone(),
        pdp_digest: c.pdp_digest.0.to_vec(),
        status: match c.status {
            ContractStatus::Active => pb::ContractStatus::Active,
            ContractStatus::Expired => pb::ContractStatus::Expired,
        } as i32,
    }
}

/// Decodes a contract.
pub fn contract_from_pb(c: &pb::ContractInfo) -> Result<Contract, ConvertError> {
    let status = match pb::ContractStatus::try_from(c.status) {
        Ok(pb::ContractStatus::Active) => ContractStatus::Active,
        Ok(pb::ContractStatus::Expired) => ContractStatus::Expired,
        _ => {
            return Err(ConvertError::UnknownEnum {
                field: "contract.status",
                value: c.status,
            });
        }
    };
    Ok(Contract {
        id: hash(&c.id, "contract.id")?,
        owner: address(&c.owner, "contract.owner")?,
        object_name: c.object_name.clone(),
        size_bytes: c.size_bytes,
        duration_epochs: c.duration_epochs,
        start_epoch: c.start_epoch,
        total_amount: c.total_amount,
        paid_amount: c.paid_amount,
        replicas: c.replicas,
        pdp_metadata: c.pdp_metadata.clone(),
        pdp_digest: hash(&c.pdp_digest, "contract.pdp_digest")?,
        status,
    })
}

/// Encodes a PDP record.
pub fn pdp_to_pb(p: &PdpRecord) -> pb::PdpRecordInfo {
    pb::PdpRecordInfo {
        contract_id: p.contract.0.to_vec(),
        node_id: p.node.0.to_vec(),
        epoch: p.epoch,
        passed: p.passed,
        validator: p.validator.0.to_vec(),
        height: p.height,
        payment: p.payment,
        slashed: p.slashed,
    }
}

/// Decodes a PDP record.
pub fn pdp_from_pb(p: &pb::PdpRecordInfo) -> Result<PdpRecord, ConvertError> {
    Ok(PdpRecord {
        contract: hash(&p.contract_id, "pdp.contract_id")?,
        node: address(&p.node_id, "pdp.node_id")?,
        epoch: p.epoch,
        passed: p.passed,
        validator: address(&p.validator, "pdp.validator")?,
        height: p.height,
        payment: p.payment,
        slashed: p.slashed,
    })
}

/// An account as the API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountView {
    /// The committed height the answer reflects.
    pub height: Height,
    /// The address.
    pub address: Address,
    /// Committed balance and nonce.
    pub account: Account,
    /// The nonce a new transaction should use (committed nonce plus the
    /// account's pending transactions on the validator asked).
    pub next_nonce: u64,
}

/// A committed block as the API reports it, checked: the block decodes
/// strictly, its header hashes to `hash`, the certificate is for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockView {
    /// Its height.
    pub height: Height,
    /// Its hash.
    pub hash: Hash,
    /// The block.
    pub block: Block,
    /// The certificate that committed it.
    pub certificate: CommitCertificate,
    /// Each transaction's hash, in order.
    pub tx_hashes: Vec<Hash>,
}

/// Encodes a committed block from its stored parts.
pub fn block_to_pb(
    height: Height,
    hash: Hash,
    block_bytes: &[u8],
    cert: &CommitCertificate,
) -> Result<pb::BlockInfo, DecodeError> {
    let block = pb::Block::decode(block_bytes).map_err(|e| DecodeError::Malformed {
        what: "block",
        reason: e.to_string(),
    })?;
    let tx_hashes = block
        .txs
        .iter()
        .map(|t| Hash::digest(t).0.to_vec())
        .collect();
    Ok(pb::BlockInfo {
        height,
        block_hash: hash.0.to_vec(),
        block: Some(block),
        certificate: Some(commit_to_pb(cert)),
        tx_hashes,
    })
}

/// Decodes and checks a committed block.
pub fn block_from_pb(b: pb::BlockInfo) -> Result<BlockView, ConvertError> {
    let hash = hash(&b.block_hash, "block_hash")?;
    let bytes = b
        .block
        .ok_or(ConvertError::Missing("block"))?
        .encode_to_vec();
    let block = Block::decode(&bytes, usize::MAX).map_err(field("block"))?;
    let certificate = commit_from_pb(b.certificate.ok_or(ConvertError::Missing("certificate"))?)
        .map_err(field("certificate"))?;
    let check = |ok: bool, reason: &str| {
        if ok {
            Ok(())
        } else {
            Err(ConvertError::Field {
                field: "block",
                reason: reason.to_string(),
            })
        }
    };
    check(block.hash() == hash, "header does not hash to block_hash")?;
    check(block.header.height == b.height, "header height differs")?;
    check(
        certificate.block_hash == hash && certificate.height == b.height,
        "certificate is for another block",
    )?;
    let tx_hashes: Vec<Hash> = block.txs.iter().map(|t| Hash::digest(t)).collect();
    let claimed = b
        .tx_hashes
        .iter()
        .map(|h| hash_of(h))
        .collect::<Result<Vec<_>, _>>()?;
    check(
        claimed == tx_hashes,
        "tx_hashes do not match the transactions",
    )?;
    Ok(BlockView {
        height: b.height,
        hash,
        block,
        certificate,
        tx_hashes,
    })
}

fn hash_of(b: &[u8]) -> Result<Hash, ConvertError> {
    hash(b, "tx_hashes")
}
