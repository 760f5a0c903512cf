//! Signed transactions: the envelope (`body_bytes`, public key, signature),
//! the body (chain id, nonce, fee, kind) and the stateless verification every
//! transaction passes before the state sees it.
//!
//! The signature covers `"lambda/tx/v1" ‖ u32 BE len(chain id) ‖ chain id ‖
//! body_bytes` — the exact body bytes carried in the transaction (Cosmos
//! style), so no re-encoding can change what was signed. The sender is the
//! address of the envelope's public key, which carries its algorithm byte.
//! A transaction's hash is SHA-256 of its canonical envelope encoding.
//!
//! - [`kind`]: the kinds and their field rules.
//! - [`codec`]: protobuf encoding of bodies and usage statements.
//! - [`error`]: [`TxError`], every reason a transaction is refused.

pub mod codec;
pub mod error;
pub mod kind;

use lambda_common::keys::{Address, PublicKey, Signature, SigningKey};
use lambda_proto::chain::v1 as pb;
use prost::Message;

pub use error::{NodeId, TxError};
pub use kind::TxKind;

use crate::codec::{DecodeError, decode_canonical, public_key, signature};
use crate::types::Hash;

/// What a transaction does, with its replay protection and fee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxBody {
    /// The chain it is valid on.
    pub chain_id: String,
    /// The sender's next nonce.
    pub nonce: u64,
    /// Fee in base units, paid to the block proposer.
    pub fee: u64,
    /// The operation.
    pub kind: TxKind,
}

/// A signed transaction as it travels and is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tx {
    /// The encoded [`TxBody`], exactly as signed.
    pub body_bytes: Vec<u8>,
    /// The sender's key.
    pub public_key: PublicKey,
    /// Signature over [`Tx::sign_bytes`].
    pub signature: Signature,
}

/// A transaction whose bytes, chain id, signature and field rules are valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTx {
    /// Hash of the encoded transaction.
    pub hash: Hash,
    /// The sender's address.
    pub sender: Address,
    /// The decoded body.
    pub body: TxBody,
    /// Encoded size in bytes.
    pub size: usize,
}

impl VerifiedTx {
    /// What the sender pays: fee plus the funds the kind moves out.
    pub fn cost(&self) -> Result<u64, TxError> {
        self.body
            .fee
            .checked_add(self.body.kind.spend())
            .ok_or(TxError::Overflow("fee + amount"))
    }
}

impl Tx {
    /// The bytes the sender signs.
    pub fn sign_bytes(chain_id: &str, body_bytes: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + chain_id.len() + body_bytes.len());
        b.extend_from_slice(b"lambda/tx/v1");
        b.extend_from_slice(&(chain_id.len() as u32).to_be_bytes());
        b.extend_from_slice(chain_id.as_bytes());
        b.extend_from_slice(body_bytes);
        b
    }

    /// Encodes `body` and signs it with `key` for the body's chain id.
    pub fn sign(key: &SigningKey, body: &TxBody) -> Self {
        let body_bytes = codec::encode_body(body);
        let signature = key.sign(&Self::sign_bytes(&body.chain_id, &body_bytes));
        Self {
            body_bytes,
            public_key: key.public(),
            signature,
        }
    }

    /// The sender's address.
    pub fn sender(&self) -> Address {
        self.public_key.address()
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        pb::Tx {
            body: self.body_bytes.clone(),
            public_key: self.public_key.to_bytes(),
            signature: self.signature.to_bytes(),
        }
        .encode_to_vec()
    }

    /// SHA-256 of the canonical encoding.
    pub fn hash(&self) -> Hash {
        Hash::digest(&self.encode())
    }

    /// Decodes an envelope strictly (the body is decoded by [`Tx::verify`]).
    pub fn decode(bytes: &[u8], limit: usize) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty("transaction"));
        }
        let m: pb::Tx = decode_canonical(bytes, "transaction", limit)?;
        Ok(Self {
            body_bytes: m.body,
            public_key: public_key(&m.public_key, "tx.public_key")?,
            signature: signature(&m.signature, "tx.signature")?,
        })
    }

    /// Decodes and verifies transaction bytes: size, strict encoding, chain
    /// id, signature, field rules. Nothing here reads the state.
    pub fn verify_bytes(
        bytes: &[u8],
        chain_id: &str,
        max_tx_bytes: u64,
    ) -> Result<VerifiedTx, TxError> {
        if bytes.len() as u64 > max_tx_bytes {
            return Err(TxError::TooLarge {
                len: bytes.len(),
                limit: max_tx_bytes,
            });
        }
        let limit = usize::try_from(max_tx_bytes).unwrap_or(usize::MAX);
        let tx = Self::decode(bytes, limit)?;
        let body = codec::decode_body(&tx.body_bytes, limit)?;
        if body.chain_id != chain_id {
            return Err(TxError::WrongChainId {
                expected: chain_id.to_string(),
                got: body.chain_id,
            });
        }
        tx.public_key
            .verify(&Self::sign_bytes(chain_id, &tx.body_bytes), &tx.signature)
            .map_err(TxError::BadSignature)?;
        let sender = tx.sender();
        body.kind.check_stateless(chain_id, &sender)?;
        Ok(VerifiedTx {
            hash: Hash::digest(bytes),
            sender,
            body,
            size: bytes.len(),
        })
    }

    /// [`Tx::verify_bytes`] of this transaction's encoding.
    pub fn verify(&self, chain_id: &str, max_tx_bytes: u64) -> Result<VerifiedTx, TxError> {
        Self::verify_bytes(&self.encode(), chain_id, max_tx_bytes)
    }
}

#[cfg(test)]
mod tests;
