//! The layout of state keys: one prefix byte per record type, then the
//! record's identity in fixed-width big-endian fields, so that a prefix scan
//! returns, for example, every PDP result of one node in epoch order.

use lambda_common::keys::Address;

use crate::tx::NodeId;
use crate::types::{Hash, Height};

/// Prefix bytes of the record types.
pub(crate) mod prefix {
    pub(crate) const ACCOUNT: u8 = 0x01;
    pub(crate) const NODE: u8 = 0x02;
    pub(crate) const MEMBERSHIP: u8 = 0x03;
    pub(crate) const VALIDATOR: u8 = 0x04;
    pub(crate) const EPOCH_VALIDATORS: u8 = 0x05;
    pub(crate) const CONTRACT: u8 = 0x06;
    pub(crate) const PDP: u8 = 0x07;
    pub(crate) const PDP_COUNT: u8 = 0x08;
    pub(crate) const VERDICT: u8 = 0x09;
    pub(crate) const REPORT: u8 = 0x0a;
    pub(crate) const USAGE: u8 = 0x0b;
    pub(crate) const EVIDENCE: u8 = 0x0c;
    pub(crate) const EXPIRY: u8 = 0x0d;
}

fn key(p: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|x| x.len()).sum::<usize>());
    k.push(p);
    for part in parts {
        k.extend_from_slice(part);
    }
    k
}

pub(crate) fn account(a: &Address) -> Vec<u8> {
    key(prefix::ACCOUNT, &[&a.0])
}

pub(crate) fn node(id: &NodeId) -> Vec<u8> {
    key(prefix::NODE, &[&id.0])
}

pub(crate) fn membership(epoch: u64) -> Vec<u8> {
    key(prefix::MEMBERSHIP, &[&epoch.to_be_bytes()])
}

pub(crate) fn validator(a: &Address) -> Vec<u8> {
    key(prefix::VALIDATOR, &[&a.0])
}

pub(crate) fn epoch_validators(epoch: u64) -> Vec<u8> {
    key(prefix::EPOCH_VALIDATORS, &[&epoch.to_be_bytes()])
}

pub(crate) fn contract(id: &Hash) -> Vec<u8> {
    key(prefix::CONTRACT, &[&id.0])
}

pub(crate) fn pdp_node_prefix(node: &NodeId) -> Vec<u8> {
    key(prefix::PDP, &[&node.0])
}

pub(crate) fn pdp(node: &NodeId, epoch: u64, contract: &Hash) -> Vec<u8> {
    key(prefix::PDP, &[&node.0, &epoch.to_be_bytes(), &contract.0])
}

pub(crate) fn pdp_count(contract: &Hash, epoch: u64) -> Vec<u8> {
    key(prefix::PDP_COUNT, &[&contract.0, &epoch.to_be_bytes()])
}

pub(crate) fn verdict(node: &NodeId, epoch: u64) -> Vec<u8> {
    key(prefix::VERDICT, &[&node.0, &epoch.to_be_bytes()])
}

pub(crate) fn report(node: &NodeId, epoch: u64) -> Vec<u8> {
    key(prefix::REPORT, &[&node.0, &epoch.to_be_bytes()])
}

pub(crate) fn usage(client: &Address, epoch: u64) -> Vec<u8> {
    key(prefix::USAGE, &[&client.0, &epoch.to_be_bytes()])
}

/// The client and epoch of a usage key.
pub(crate) fn split_usage(k: &[u8]) -> Option<(Address, u64)> {
    let rest = k.strip_prefix(&[prefix::USAGE])?;
    if rest.len() != 28 {
        return None;
    }
    let client = Address::from_slice(&rest[..20]).ok()?;
    let epoch = u64::from_be_bytes(rest[20..].try_into().ok()?);
    Some((client, epoch))
}

pub(crate) fn evidence(validator: &Address, height: Height) -> Vec<u8> {
    key(prefix::EVIDENCE, &[&validator.0, &height.to_be_bytes()])
}

pub(crate) fn expiry_prefix(epoch: u64) -> Vec<u8> {
    key(prefix::EXPIRY, &[&epoch.to_be_bytes()])
}

pub(crate) fn expiry(epoch: u64, contract: &Hash) -> Vec<u8> {
    key(prefix::EXPIRY, &[&epoch.to_be_bytes(), &contract.0])
}
