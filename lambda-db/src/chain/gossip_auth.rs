//! Gossip identities in chain mode. Each node publishes in its chitchat
//! state a token (key `auth`): its node key's signature over
//! `"lambda/gossip-id/v1" ‖ node id ‖ generation ‖ gossip address`. The
//! gossip watcher counts a node as live only if its token verifies against
//! the node key the chain registered for a member of the current or
//! previous epoch; gossip from anyone else changes nothing.
//!
//! Why not signed datagrams: chitchat 0.13 keeps the (de)serialization of
//! its messages crate-private, so a `Transport` wrapper sees typed
//! envelopes it can neither sign nor check byte-exactly. Limits of the
//! token: it authenticates the gossip *identity* (a non-member cannot make
//! itself live, nor invent a new identity for a member), not each
//! datagram; a party that has seen a member's token could replay that
//! identity's heartbeats and keep a stopped member looking live to gossip
//! (RPC failures still make it suspect, and liveness never changes
//! membership).

use std::net::SocketAddr;
use std::sync::Arc;

use lambda_common::keys::Signature;
use tokio::sync::watch;

use super::auth::PeerSigner;
use super::membership::PeerKeys;
use crate::placement::DeviceId;

/// The chitchat state key holding the token.
pub const AUTH_KEY: &str = "auth";

fn sign_bytes(node: &str, generation: u64, addr: SocketAddr) -> Vec<u8> {
    let addr = addr.to_string();
    let mut b = Vec::with_capacity(64 + node.len() + addr.len());
    b.extend_from_slice(b"lambda/gossip-id/v1");
    b.extend_from_slice(&(node.len() as u32).to_be_bytes());
    b.extend_from_slice(node.as_bytes());
    b.extend_from_slice(&generation.to_be_bytes());
    b.extend_from_slice(addr.as_bytes());
    b
}

/// Issues this node's token and checks others'.
#[derive(Debug, Clone)]
pub struct GossipAuth {
    signer: Arc<PeerSigner>,
    keys: watch::Receiver<Arc<PeerKeys>>,
}

impl GossipAuth {
    /// Signs with `signer`, accepts the members `keys` holds.
    pub fn new(signer: Arc<PeerSigner>, keys: watch::Receiver<Arc<PeerKeys>>) -> Self {
        Self { signer, keys }
    }

    /// This node's token for its gossip identity.
    pub fn token(&self, generation: u64, addr: SocketAddr) -> String {
        let sig = self
            .signer
            .key()
            .sign(&sign_bytes(&self.signer.id().0, generation, addr));
        hex::encode(sig.to_bytes())
    }

    /// Whether `token` proves that `node`'s registered key made the gossip
    /// identity `(node, generation, addr)`; the reason when not.
    pub fn verify(
        &self,
        node: &str,
        generation: u64,
        addr: SocketAddr,
        token: Option<&str>,
    ) -> Result<(), String> {
        let keys = self.keys.borrow();
        let key = keys
            .key_of(&DeviceId(node.to_string()))
            .ok_or_else(|| format!("{node} is not a member of epoch {}", keys.epoch))?;
        let token = token.ok_or_else(|| format!("{node} gossips without a token"))?;
        let sig = hex::decode(token)
            .map_err(|e| e.to_string())
            .and_then(|b| Signature::from_bytes(&b).map_err(|e| e.to_string()))
            .map_err(|e| format!("{node}: malformed token: {e}"))?;
        key.verify(&sign_bytes(node, generation, addr), &sig)
            .map_err(|_| format!("{node}: token does not verify with its registered key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_common::keys::SigningKey;
    use std::collections::BTreeMap;

    #[test]
    fn tokens_verify_only_for_their_member_identity() {
        let member = Arc::new(PeerSigner::new(SigningKey::generate()));
        let outsider = Arc::new(PeerSigner::new(SigningKey::generate()));
        let keys = PeerKeys {
            epoch: 2,
            current: BTreeMap::from([(member.id().clone(), member.key().public())]),
            previous: BTreeMap::new(),
        };
        let (_tx, rx) = watch::channel(Arc::new(keys));
        let auth = GossipAuth::new(member.clone(), rx.clone());
        let addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let id = member.id().0.clone();
        let t = auth.token(5, addr);
        auth.verify(&id, 5, addr, Some(&t)).unwrap();
        assert!(
            auth.verify(&id, 6, addr, Some(&t))
                .unwrap_err()
                .contains("does not verify")
        );
        assert!(
            auth.verify(&id, 5, addr, None)
                .unwrap_err()
                .contains("without a token")
        );
        let other = GossipAuth::new(outsider.clone(), rx);
        let t2 = other.token(5, addr);
        let e = auth
            .verify(&outsider.id().0, 5, addr, Some(&t2))
            .unwrap_err();
        assert!(e.contains("not a member of epoch 2"), "{e}");
        // An outsider claiming the member's id cannot produce its token.
        assert!(auth.verify(&id, 5, addr, Some(&t2)).is_err());
    }
}
