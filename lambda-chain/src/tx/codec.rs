//! Protobuf encoding of transaction bodies and usage statements
//! (`lambda.chain.v1`), with strict decoding: canonical bytes only, every
//! fixed-size field checked, the kind required.

use lambda_proto::chain::v1 as pb;
use lambda_proto::chain::v1::tx_body::Kind;
use prost::Message;

use super::TxBody;
use super::kind::{
    OfflineReport, OfflineVerdict, PdpResult, Pledge, RegisterContract, Transfer, TxKind,
    UsageEntry, UsageSettlement, UsageStatement,
};
use crate::codec::{
    DecodeError, address, decode_canonical, hash, public_key, required, signature, vote_from_pb,
    vote_to_pb,
};
use crate::types::DoubleSignEvidence;

/// Encodes a usage statement (what the client signs).
pub fn encode_statement(s: &UsageStatement) -> Vec<u8> {
    pb::UsageStatement {
        chain_id: s.chain_id.clone(),
        epoch: s.epoch,
        entries: s
            .entries
            .iter()
            .map(|e| pb::UsageEntry {
                node_id: e.node.0.to_vec(),
                requests: e.requests,
                bytes: e.bytes,
            })
            .collect(),
    }
    .encode_to_vec()
}

/// Decodes a usage statement strictly.
pub fn decode_statement(bytes: &[u8], limit: usize) -> Result<UsageStatement, DecodeError> {
    let m: pb::UsageStatement = decode_canonical(bytes, "usage statement", limit)?;
    let mut entries = Vec::with_capacity(m.entries.len());
    for e in m.entries {
        entries.push(UsageEntry {
            node: address(&e.node_id, "usage.entries.node_id")?,
            requests: e.requests,
            bytes: e.bytes,
        });
    }
    Ok(UsageStatement {
        chain_id: m.chain_id,
        epoch: m.epoch,
        entries,
    })
}

fn kind_to_pb(kind: &TxKind) -> Kind {
    match kind {
        TxKind::Transfer(t) => Kind::Transfer(pb::Transfer {
            to: t.to.0.to_vec(),
            amount: t.amount,
        }),
        TxKind::Pledge(p) => Kind::Pledge(pb::Pledge {
            node_public_key: p.node_public_key.to_bytes(),
            node_signature: p.node_signature.to_bytes(),
            endpoint: p.endpoint.clone(),
            capacity_bytes: p.capacity_bytes,
            bandwidth_bps: p.bandwidth_bps,
            zone: p.zone.clone(),
            stake: p.stake,
        }),
        TxKind::Unpledge { node } => Kind::Unpledge(pb::Unpledge {
            node_id: node.0.to_vec(),
        }),
        TxKind::OfflineReport(r) => Kind::OfflineReport(pb::OfflineReport {
            node_id: r.node.0.to_vec(),
            epoch: r.epoch,
        }),
        TxKind::OfflineVerdict(v) => Kind::OfflineVerdict(pb::OfflineVerdict {
            node_id: v.node.0.to_vec(),
            epoch: v.epoch,
        }),
        TxKind::UsageSettlement(u) => Kind::UsageSettlement(pb::UsageSettlement {
            statement: u.statement_bytes.clone(),
            client_public_key: u.client_public_key.to_bytes(),
            client_signature: u.client_signature.to_bytes(),
        }),
        TxKind::RegisterContract(c) => Kind::RegisterContract(pb::RegisterContract {
            object_name: c.object_name.clone(),
            size_bytes: c.size_bytes,
            duration_epochs: c.duration_epochs,
            total_amount: c.total_amount,
            replicas: c.replicas,
            pdp_metadata: c.pdp_metadata.clone(),
            pdp_digest: c.pdp_digest.0.to_vec(),
        }),
        TxKind::PdpResult(r) => Kind::PdpResult(pb::PdpResult {
            contract_id: r.contract.0.to_vec(),
            node_id: r.node.0.to_vec(),
            epoch: r.epoch,
            passed: r.passed,
            proof: r.proof.clone(),
        }),
        TxKind::SlashDoubleSign(e) => Kind::SlashDoubleSign(pb::SlashDoubleSign {
            a: Some(vote_to_pb(&e.a)),
            b: Some(vote_to_pb(&e.b)),
        }),
    }
}

fn kind_from_pb(kind: Kind, limit: usize) -> Result<TxKind, DecodeError> {
    Ok(match kind {
        Kind::Transfer(t) => TxKind::Transfer(Transfer {
            to: address(&t.to, "transfer.to")?,
            amount: t.amount,
        }),
        Kind::Pledge(p) => TxKind::Pledge(Pledge {
            node_public_key: public_key(&p.node_public_key, "pledge.node_public_key")?,
            node_signature: signature(&p.node_signature, "pledge.node_signature")?,
            endpoint: p.endpoint,
            capacity_bytes: p.capacity_bytes,
            bandwidth_bps: p.bandwidth_bps,
            zone: p.zone,
            stake: p.stake,
        }),
        Kind::Unpledge(u) => TxKind::Unpledge {
            node: address(&u.node_id, "unpledge.node_id")?,
        },
        Kind::OfflineReport(r) => TxKind::OfflineReport(OfflineReport {
            node: address(&r.node_id, "offline_report.node_id")?,
            epoch: r.epoch,
        }),
        Kind::OfflineVerdict(v) => TxKind::OfflineVerdict(OfflineVerdict {
            node: address(&v.node_id, "offline_verdict.node_id")?,
            epoch: v.epoch,
        }),
        Kind::UsageSettlement(u) => TxKind::UsageSettlement(UsageSettlement {
            statement: decode_statement(&u.statement, limit)?,
            statement_bytes: u.statement,
            client_public_key: public_key(&u.client_public_key, "usage.client_public_key")?,
            client_signature: signature(&u.client_signature, "usage.client_signature")?,
        }),
        Kind::RegisterContract(c) => TxKind::RegisterContract(RegisterContract {
            object_name: c.object_name,
            size_bytes: c.size_bytes,
            duration_epochs: c.duration_epochs,
            total_amount: c.total_amount,
            replicas: c.replicas,
            pdp_metadata: c.pdp_metadata,
            pdp_digest: hash(&c.pdp_digest, "contract.pdp_digest")?,
        }),
        Kind::PdpResult(r) => TxKind::PdpResult(PdpResult {
            contract: hash(&r.contract_id, "pdp_result.contract_id")?,
            node: address(&r.node_id, "pdp_result.node_id")?,
            epoch: r.epoch,
            passed: r.passed,
            proof: r.proof,
        }),
        Kind::SlashDoubleSign(e) => TxKind::SlashDoubleSign(DoubleSignEvidence {
            a: vote_from_pb(required(e.a, "slash_double_sign.a")?)?,
            b: vote_from_pb(required(e.b, "slash_double_sign.b")?)?,
        }),
    })
}

/// Encodes a transaction body (the bytes that get signed).
pub fn encode_body(body: &TxBody) -> Vec<u8> {
    pb::TxBody {
        chain_id: body.chain_id.clone(),
        nonce: body.nonce,
        fee: body.fee,
        kind: Some(kind_to_pb(&body.kind)),
    }
    .encode_to_vec()
}

/// Decodes a transaction body strictly.
pub fn decode_body(bytes: &[u8], limit: usize) -> Result<TxBody, DecodeError> {
    let m: pb::TxBody = decode_canonical(bytes, "transaction body", limit)?;
    Ok(TxBody {
        chain_id: m.chain_id,
        nonce: m.nonce,
        fee: m.fee,
        kind: kind_from_pb(required(m.kind, "tx_body.kind")?, limit)?,
    })
}
