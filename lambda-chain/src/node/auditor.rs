//! The validator as PDP auditor: who audits which (contract, node) pair in
//! an epoch, with which challenge, derived from chain data alone.
//!
//! At the first block of epoch E, for every active contract covering E:
//!
//! - the **nodes audited** are the first `replicas` entries of the
//!   preference list of the object's key (`pdp/` ‖ object name, the key the
//!   agent stores the PDP bundle under) in the ring of `membership(E)`,
//!   computed with `lambda-placement` and the configured placement (by
//!   default lambda-db's: Q = 1024, 5 replicas);
//! - the **seed** of the pair is `lambda_pdp::Challenger::seed` over the
//!   commit-certificate digest that E's first block carries (it certifies
//!   E−1's last block: fixed on chain, chosen by no single proposer), E and
//!   `contract id ‖ node id`, under the challenger's domain tag;
//! - the **auditor** of the pair is validator
//!   `SHA-256("lambda/audit/auditor/v1" ‖ seed)[..8] mod |V|` of E's
//!   validator set (sorted by address), so each pair is audited once and
//!   the work spreads evenly;
//! - the challenge asks for `challenge_blocks` blocks (460 by default).
//!
//! Every validator computes the same plan; each runs only its own share
//! (`audit_task`). A contract whose registered metadata does not decode,
//! is not signed by its owner key, or does not match the contract (object
//! name, size, digest) cannot be audited and is skipped with a warning.
//!
//! Ring input from the chain: a member's capacity in bytes becomes GiB
//! (`bytes >> 30`) and its bandwidth in bytes per second becomes Mbit/s
//! (`bps × 8 / 10^6`), each at least 1, the units of the membership file.

use std::time::Duration;

use lambda_common::keys::Address;
use lambda_pdp::bundle::bundle_key;
use lambda_pdp::{Challenge, Challenger, SignedMetadata};
use lambda_placement::{Device, DeviceId, Placement, PlacementConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ChainError;
use crate::state::{ChainState, Contract, ContractStatus, Member, Membership};
use crate::tx::NodeId;
use crate::types::{Hash, ValidatorSet};

/// Domain tag of the auditor choice.
const AUDITOR_DOMAIN: &[u8] = b"lambda/audit/auditor/v1";

/// The `[audit]` section of the validator configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Run this validator's share of the PDP audits.
    pub enabled: bool,
    /// How long a storage node has to answer a challenge (connecting
    /// included); no answer in time is a failed audit.
    #[serde(with = "humantime_serde")]
    pub deadline: Duration,
    /// Blocks asked for per challenge (1 ..= 4096).
    pub challenge_blocks: u32,
    /// Audits of one epoch run at once.
    pub max_concurrent: usize,
    /// The storage nodes' placement (must equal lambda-db's `[placement]`).
    pub placement: PlacementConfig,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            deadline: Duration::from_secs(10),
            challenge_blocks: Challenger::default().count(),
            max_concurrent: 16,
            placement: PlacementConfig {
                partitions: 1024,
                replicas: 5,
                ..PlacementConfig::default()
            },
        }
    }
}

/// One audit this validator runs.
#[derive(Clone, Debug)]
pub(crate) struct Audit {
    /// The contract.
    pub(crate) contract: Hash,
    /// The object's name (the PDP metadata name).
    pub(crate) object: String,
    /// The node audited.
    pub(crate) node: NodeId,
    /// Its gRPC endpoint (`host:port`).
    pub(crate) endpoint: String,
    /// The epoch audited.
    pub(crate) epoch: u64,
    /// The challenge.
    pub(crate) challenge: Challenge,
    /// The contract's verified metadata.
    pub(crate) metadata: SignedMetadata,
}

/// The seed of the audit of `node` for `contract` in `epoch`, from the
/// commit-certificate digest of the epoch (`ChainState::challenge_seed`).
pub fn audit_seed(certificate: &Hash, epoch: u64, contract: &Hash, node: &NodeId) -> [u8; 32] {
    let mut id = Vec::with_capacity(contract.0.len() + node.0.len());
    id.extend_from_slice(&contract.0);
    id.extend_from_slice(&node.0);
    Challenger::default().seed(&id, epoch, &certificate.0)
}

/// The validator that audits the pair of `seed`: uniform over `validators`.
pub fn auditor_of(seed: &[u8; 32], validators: &ValidatorSet) -> Option<Address> {
    let n = validators.len() as u64;
    if n == 0 {
        return None;
    }
    let h: [u8; 32] = Sha256::new()
        .chain_update(AUDITOR_DOMAIN)
        .chain_update(seed)
        .finalize()
        .into();
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    let i = usize::try_from(u64::from_be_bytes(first) % n).ok()?;
    validators.validators().get(i).map(|v| v.address)
}

/// A chain member as a placement device (units of the membership file).
pub fn device_of(m: &Member) -> Device {
    let (capacity, bandwidth) = lambda_placement::pledge_weights(m.capacity_bytes, m.bandwidth_bps);
    Device {
        id: DeviceId(m.id.to_string()),
        capacity,
        bandwidth,
        zone: m.zone.clone(),
    }
}

/// The ring of an epoch's membership.
pub fn ring_of(
    membership: &Membership,
    placement: &PlacementConfig,
) -> Result<Placement, lambda_placement::PlacementError> {
    let input = lambda_placement::Membership {
        epoch: membership.epoch,
        devices: membership.members.iter().map(device_of).collect(),
    };
    Placement::compute(&input, placement)
}

/// The nodes that hold `object` and are audited for a contract of
/// `replicas` replicas: the first entries of its key's preference list.
pub fn audited_nodes(ring: &Placement, object: &str, replicas: u32) -> Vec<NodeId> {
    ring.preference_list_of_key(&bundle_key(object.as_bytes()))
        .iter()
        .take(replicas as usize)
        .filter_map(|d| d.0.parse().ok())
        .collect()
}

/// Why a contract cannot be audited.
#[derive(Debug, thiserror::Error)]
pub enum ContractMetadataError {
    /// The registered metadata does not decode.
    #[error("PDP metadata does not decode: {0}")]
    Decode(lambda_pdp::PdpError),
    /// The owner's signature over the metadata does not verify.
    #[error("PDP metadata signature: {0}")]
    Signature(lambda_pdp::PdpError),
    /// The metadata describes another object than the contract.
    #[error("PDP metadata does not match the contract: {0}")]
    Mismatch(String),
}

/// The contract's PDP metadata, checked: it decodes, its owner signature
/// verifies, it names the contract's object with its size, and its digest
/// is the contract's `pdp_digest`.
pub fn contract_metadata(c: &Contract) -> Result<SignedMetadata, ContractMetadataError> {
    let signed = lambda_pdp::wire::decode_metadata(&c.pdp_metadata)
        .map_err(ContractMetadataError::Decode)?;
    signed.verify().map_err(ContractMetadataError::Signature)?;
    let m = signed.metadata();
    if m.name() != c.object_name.as_bytes() {
        let name = String::from_utf8_lossy(m.name()).into_owned();
        return Err(ContractMetadataError::Mismatch(format!(
            "it names object {name:?}, the contract {:?}",
            c.object_name
        )));
    }
    if m.layout().object_len() != c.size_bytes {
        return Err(ContractMetadataError::Mismatch(format!(
            "it describes {} bytes, the contract {}",
            m.layout().object_len(),
            c.size_bytes
        )));
    }
    if m.digest() != c.pdp_digest.0 {
        return Err(ContractMetadataError::Mismatch(
            "its digest is not the contract's pdp_digest".into(),
        ));
    }
    Ok(signed)
}

/// The audits of `epoch` that validator `me` runs and the chain has not
/// recorded yet. Empty until the epoch's first block is committed.
pub(crate) fn plan(
    state: &ChainState,
    epoch: u64,
    me: &Address,
    cfg: &AuditConfig,
) -> Result<Vec<Audit>, ChainError> {
    let (Some(cert), Some(membership), Some(validators)) = (
        state.challenge_seed(epoch)?,
        state.membership(epoch)?,
        state.validators_of_epoch(epoch)?,
    ) else {
        return Ok(Vec::new());
    };
    let contracts: Vec<Contract> = state
        .contracts()?
        .into_iter()
        .filter(|c| c.status == ContractStatus::Active && c.covers(epoch))
        .collect();
    if contracts.is_empty() || membership.members.is_empty() {
        return Ok(Vec::new());
    }
    let ring = match ring_of(&membership, &cfg.placement) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(epoch, error = %e, "cannot place the epoch's membership; no audits");
            return Ok(Vec::new());
        }
    };
    let mut out = Vec::new();
    for c in contracts {
        let metadata = match contract_metadata(&c) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(contract = %c.id, error = %e, "contract cannot be audited");
                continue;
            }
        };
        for node in audited_nodes(&ring, &c.object_name, c.replicas) {
            let seed = audit_seed(&cert, epoch, &c.id, &node);
            if auditor_of(&seed, &validators) != Some(*me)
                || state.pdp_result(&node, epoch, &c.id)?.is_some()
            {
                continue;
            }
            let Ok(i) = membership.members.binary_search_by_key(&node, |m| m.id) else {
                continue;
            };
            let Ok(challenge) = Challenge::new(seed, cfg.challenge_blocks) else {
                tracing::error!(
                    blocks = cfg.challenge_blocks,
                    "audit.challenge_blocks is out of range"
                );
                return Ok(Vec::new());
            };
            out.push(Audit {
                contract: c.id,
                object: c.object_name.clone(),
                node,
                endpoint: membership.members[i].endpoint.clone(),
                epoch,
                challenge,
                metadata: metadata.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Validator;
    use lambda_common::keys::SigningKey;

    fn set(n: usize) -> ValidatorSet {
        let vs = (0..n)
            .map(|i| Validator::new(SigningKey::from_seed([i as u8 + 1; 32]).public(), 10))
            .collect();
        ValidatorSet::new(vs).unwrap()
    }

    #[test]
    fn seeds_are_deterministic_and_bind_every_input() {
        let cert = Hash([7; 32]);
        let (c, n) = (Hash([1; 32]), Address([2; 20]));
        let s = audit_seed(&cert, 5, &c, &n);
        assert_eq!(s, audit_seed(&cert, 5, &c, &n));
        assert_ne!(s, audit_seed(&Hash([8; 32]), 5, &c, &n));
        assert_ne!(s, audit_seed(&cert, 6, &c, &n));
        assert_ne!(s, audit_seed(&cert, 5, &Hash([3; 32]), &n));
        assert_ne!(s, audit_seed(&cert, 5, &c, &Address([4; 20])));
    }

    #[test]
    fn auditors_are_deterministic_members_and_spread() {
        let v = set(4);
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..4000u32 {
            let seed = audit_seed(&Hash([9; 32]), 3, &Hash([1; 32]), &Address([0; 20]))
                .iter()
                .zip(i.to_be_bytes().iter().cycle())
                .map(|(a, b)| a ^ b)
                .collect::<Vec<u8>>();
            let seed: [u8; 32] = seed.try_into().unwrap();
            let a = auditor_of(&seed, &v).unwrap();
            assert_eq!(Some(a), auditor_of(&seed, &v));
            assert!(v.validators().iter().any(|x| x.address == a));
            *counts.entry(a).or_insert(0u32) += 1;
        }
        // 1000 expected each; σ ≈ 27, allow 5σ.
        assert_eq!(counts.len(), 4);
        assert!(
            counts.values().all(|&c| (865..=1135).contains(&c)),
            "{counts:?}"
        );
    }

    fn member(i: u8, zone: &str) -> Member {
        let key = SigningKey::from_seed([i; 32]).public();
        Member {
            id: key.address(),
            public_key: key,
            endpoint: format!("127.0.0.1:{}", 7000 + u16::from(i)),
            capacity_bytes: 100 << 30,
            bandwidth_bps: 125_000_000,
            zone: zone.into(),
        }
    }

    #[test]
    fn audited_nodes_follow_the_ring() {
        let mut members: Vec<Member> = (1..=6).map(|i| member(i, &format!("z{}", i % 3))).collect();
        members.sort_by_key(|m| m.id);
        let m = Membership { epoch: 2, members };
        let d = device_of(&m.members[0]);
        assert_eq!((d.capacity, d.bandwidth), (100, 1000));
        assert_eq!(d.id.0, m.members[0].id.to_string());
        let ring = ring_of(&m, &AuditConfig::default().placement).unwrap();
        let nodes = audited_nodes(&ring, "obj", 3);
        assert_eq!(nodes.len(), 3);
        let list = ring.preference_list_of_key(b"pdp/obj");
        for (n, d) in nodes.iter().zip(list) {
            assert_eq!(n.to_string(), d.0);
        }
        assert_eq!(
            audited_nodes(&ring, "obj", 16).len(),
            5,
            "capped by the list"
        );
    }
}
