//! The signature a client puts on each public KV request in chain mode, as
//! both the SDK (signing) and the storage node (verifying) compute it, so
//! the two cannot drift apart.
//!
//! The client signs, with its account key,
//! `"lambda/kv-request/v1" ‖ len ‖ chain id ‖ len ‖ method path ‖ target node
//! id (20 bytes) ‖ counter (u64 BE) ‖ timestamp ms (u64 BE) ‖ SHA-256(request
//! message's protobuf encoding) ‖ SHA-256(receipt statement bytes)`, lengths
//! being u32 BE. The fields travel as gRPC metadata under the keys of
//! [`meta`]. Binding the method, the node and the receipt means a captured
//! request can be neither sent to another node or method nor re-attached to
//! another receipt; the counter and timestamp let the node refuse replays.

use sha2::{Digest, Sha256};

use crate::keys::{Address, PublicKey, Signature, SigningKey};

/// Domain tag of a request signature.
pub const DOMAIN: &[u8] = b"lambda/kv-request/v1";

/// gRPC metadata keys of a signed request and of the node's answers.
pub mod meta {
    /// The client's public key (`algorithm byte ‖ key`), binary.
    pub const CLIENT_KEY: &str = "lambda-client-key-bin";
    /// The request counter, decimal.
    pub const COUNTER: &str = "lambda-counter";
    /// The client's clock when signing, ms since the Unix epoch, decimal.
    pub const TIMESTAMP: &str = "lambda-timestamp-ms";
    /// The request signature (`algorithm byte ‖ signature`), binary.
    pub const SIGNATURE: &str = "lambda-signature-bin";
    /// The client's cumulative usage statement for the epoch (the chain's
    /// `UsageStatement` encoding), binary.
    pub const RECEIPT: &str = "lambda-receipt-bin";
    /// The client's signature of the receipt, as the chain verifies it.
    pub const RECEIPT_SIGNATURE: &str = "lambda-receipt-sig-bin";
    /// In answers: the epoch the node bills in now, decimal.
    pub const EPOCH: &str = "lambda-epoch";
    /// In answers: the node id (address hex) of the node that answered.
    pub const NODE: &str = "lambda-node";
}

/// SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// What one request signature covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestFields<'a> {
    /// The chain id.
    pub chain_id: &'a str,
    /// The full gRPC method path (`/lambda.kv.v1.Kv/Get`).
    pub method: &'a str,
    /// The node the client sends the request to.
    pub node: Address,
    /// The client's request counter.
    pub counter: u64,
    /// The client's clock, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// SHA-256 of the request message's protobuf encoding.
    pub request_digest: [u8; 32],
    /// SHA-256 of the receipt's statement bytes.
    pub receipt_digest: [u8; 32],
}

impl RequestFields<'_> {
    /// The bytes signed.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(200 + self.chain_id.len() + self.method.len());
        b.extend_from_slice(DOMAIN);
        for s in [self.chain_id, self.method] {
            b.extend_from_slice(&(s.len() as u32).to_be_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        b.extend_from_slice(&self.node.0);
        b.extend_from_slice(&self.counter.to_be_bytes());
        b.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        b.extend_from_slice(&self.request_digest);
        b.extend_from_slice(&self.receipt_digest);
        b
    }

    /// The client's signature.
    pub fn sign(&self, key: &SigningKey) -> Signature {
        key.sign(&self.sign_bytes())
    }

    /// Checks `signature` by `client`.
    pub fn verify(
        &self,
        client: &PublicKey,
        signature: &Signature,
    ) -> Result<(), crate::keys::KeyError> {
        client.verify(&self.sign_bytes(), signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> RequestFields<'static> {
        RequestFields {
            chain_id: "c",
            method: "/lambda.kv.v1.Kv/Get",
            node: Address([7; 20]),
            counter: 5,
            timestamp_ms: 1_000,
            request_digest: digest(b"req"),
            receipt_digest: digest(b"rcpt"),
        }
    }

    #[test]
    fn every_field_is_covered() {
        let key = SigningKey::from_seed([1; 32]);
        let f = fields();
        let sig = f.sign(&key);
        assert!(f.verify(&key.public(), &sig).is_ok());
        let changed = [
            RequestFields { chain_id: "d", ..f },
            RequestFields {
                method: "/lambda.kv.v1.Kv/Put",
                ..f
            },
            RequestFields {
                node: Address([8; 20]),
                ..f
            },
            RequestFields { counter: 6, ..f },
            RequestFields {
                timestamp_ms: 1_001,
                ..f
            },
            RequestFields {
                request_digest: digest(b"other"),
                ..f
            },
            RequestFields {
                receipt_digest: digest(b"other"),
                ..f
            },
        ];
        for c in changed {
            assert!(c.verify(&key.public(), &sig).is_err(), "{c:?}");
        }
    }
}
