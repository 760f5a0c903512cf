//! Authentication of peer RPCs in chain mode: the calling node signs each
//! `lambda.node.v1` call with its node key, the called node checks the
//! signature against the node keys the chain registered for the members of
//! the current (or, during a change, the previous) epoch.
//!
//! Headers of a signed call: `x-lambda-node` (caller id: its address in
//! hex), `x-lambda-node-ts` (ms since the Unix epoch), `x-lambda-node-nonce`
//! (16 random bytes, hex) and `x-lambda-node-sig` (ed25519, hex) over
//! `"lambda/peer-rpc/v1" ‖ path ‖ callee id ‖ caller id ‖ ts ‖ nonce`
//! (strings length-prefixed). A call is refused with UNAUTHENTICATED when a
//! header is missing or malformed, the timestamp is more than
//! [`MAX_SKEW_MS`] from the callee's clock, the nonce was seen before
//! (replay), the call was signed for another callee, or the signature does
//! not verify; with PERMISSION_DENIED when the caller is not a member of the
//! current or previous epoch. Each message names the reason.
//!
//! [`PeerGate`] (server) and [`SignedChannel`] (client) apply this around
//! the generated gRPC service and channel, so handlers stay unchanged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lambda_common::keys::{Signature, SigningKey};
use parking_lot::Mutex;
use tokio::sync::watch;
use tonic::codegen::http::{HeaderMap, HeaderValue};

use super::membership::PeerKeys;
use crate::cluster::transport::NODE_HEADER;
use crate::placement::DeviceId;

pub use super::peer_gate::{PeerGate, SignedChannel};

/// Timestamp header.
pub const TS_HEADER: &str = "x-lambda-node-ts";
/// Nonce header.
pub const NONCE_HEADER: &str = "x-lambda-node-nonce";
/// Signature header.
pub const SIG_HEADER: &str = "x-lambda-node-sig";
/// Largest accepted difference between the caller's timestamp and the
/// callee's clock.
pub const MAX_SKEW_MS: u64 = 30_000;
/// Most nonces remembered; past it (after dropping expired ones) calls are
/// refused rather than replay protection weakened.
pub const MAX_REMEMBERED_NONCES: usize = 2_000_000;

/// Milliseconds since the Unix epoch by the local clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Why a peer call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A header is missing or malformed.
    #[error("peer authentication: {0}")]
    Malformed(String),
    /// The caller's clock is too far from ours.
    #[error(
        "peer authentication: timestamp is {skew_ms} ms from this node's clock, over {MAX_SKEW_MS} ms"
    )]
    Skew {
        /// The difference.
        skew_ms: u64,
    },
    /// The nonce was used before.
    #[error("peer authentication: nonce {0} already used (replayed call)")]
    Replay(String),
    /// Too many nonces in the window.
    #[error(
        "peer authentication: more than {MAX_REMEMBERED_NONCES} calls in the replay window; retry later"
    )]
    Saturated,
    /// The call was signed for another node.
    #[error("peer authentication: call signed for node {signed_for}, this node is {me}")]
    WrongCallee {
        /// The callee the caller named.
        signed_for: String,
        /// This node.
        me: String,
    },
    /// The signature does not verify.
    #[error("peer authentication: bad signature of node {node}: {reason}")]
    BadSignature {
        /// The caller.
        node: String,
        /// What failed.
        reason: String,
    },
    /// The caller is not a member.
    #[error("node {node} is not a member of epoch {epoch} (nor of the previous epoch)")]
    NotMember {
        /// The caller.
        node: String,
        /// The current epoch.
        epoch: u64,
    },
}

impl AuthError {
    /// The gRPC status of this refusal.
    pub fn status(&self) -> tonic::Status {
        match self {
            AuthError::NotMember { .. } => tonic::Status::permission_denied(self.to_string()),
            AuthError::Saturated => tonic::Status::resource_exhausted(self.to_string()),
            _ => tonic::Status::unauthenticated(self.to_string()),
        }
    }
}

/// The bytes a caller signs.
pub fn sign_bytes(path: &str, callee: &str, caller: &str, ts_ms: u64, nonce: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(64 + path.len() + callee.len() + caller.len());
    b.extend_from_slice(b"lambda/peer-rpc/v1");
    for s in [path, callee, caller] {
        b.extend_from_slice(&(s.len() as u32).to_be_bytes());
        b.extend_from_slice(s.as_bytes());
    }
    b.extend_from_slice(&ts_ms.to_be_bytes());
    b.extend_from_slice(nonce);
    b
}

/// Signs this node's outgoing peer calls.
#[derive(Debug, Clone)]
pub struct PeerSigner {
    key: SigningKey,
    id: DeviceId,
}

impl PeerSigner {
    /// A signer with the node key; the node id is its address.
    pub fn new(key: SigningKey) -> Self {
        let id = DeviceId(key.public().address().to_string());
        Self { key, id }
    }

    /// This node's id.
    pub fn id(&self) -> &DeviceId {
        &self.id
    }

    /// The node key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Adds the authentication headers of a call of `path` to `callee`.
    pub fn sign_headers(&self, path: &str, callee: &DeviceId, headers: &mut HeaderMap) {
        let ts = now_ms();
        let nonce: [u8; 16] = rand::random();
        let sig = self
            .key
            .sign(&sign_bytes(path, &callee.0, &self.id.0, ts, &nonce));
        let pairs = [
            (NODE_HEADER, self.id.0.clone()),
            (TS_HEADER, ts.to_string()),
            (NONCE_HEADER, hex::encode(nonce)),
            (SIG_HEADER, hex::encode(sig.to_bytes())),
        ];
        for (name, value) in pairs {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Nonces {
    seen: HashMap<(String, [u8; 16]), u64>,
    prune_at: usize,
}

impl Nonces {
    /// Records a nonce; false if it was seen within the window.
    fn insert(
        &mut self,
        caller: &str,
        nonce: [u8; 16],
        ts: u64,
        now: u64,
    ) -> Result<(), AuthError> {
        if self.seen.len() >= self.prune_at.max(1024) {
            let oldest = now.saturating_sub(2 * MAX_SKEW_MS);
            self.seen.retain(|_, t| *t >= oldest);
            self.prune_at = (self.seen.len() * 2).max(1024);
            if self.seen.len() >= MAX_REMEMBERED_NONCES {
                return Err(AuthError::Saturated);
            }
        }
        match self.seen.insert((caller.to_string(), nonce), ts) {
            None => Ok(()),
            Some(_) => Err(AuthError::Replay(hex::encode(nonce))),
        }
    }
}

/// Checks incoming peer calls against the chain's node keys.
#[derive(Debug)]
pub struct PeerVerifier {
    me: DeviceId,
    keys: watch::Receiver<Arc<PeerKeys>>,
    nonces: Mutex<Nonces>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<&'a str, AuthError> {
    h.get(name)
        .ok_or_else(|| AuthError::Malformed(format!("missing header {name}")))?
        .to_str()
        .map_err(|_| AuthError::Malformed(format!("header {name} is not text")))
}

impl PeerVerifier {
    /// A verifier for node `me` with the keys `keys` publishes.
    pub fn new(me: DeviceId, keys: watch::Receiver<Arc<PeerKeys>>) -> Self {
        Self {
            me,
            keys,
            nonces: Mutex::new(Nonces::default()),
        }
    }

    /// The epoch of the keys in force.
    pub fn epoch(&self) -> u64 {
        self.keys.borrow().epoch
    }

    /// Checks a call of `path` with `headers` at time `now`; returns the
    /// authenticated caller.
    pub fn verify(&self, path: &str, headers: &HeaderMap, now: u64) -> Result<DeviceId, AuthError> {
        let caller = header(headers, NODE_HEADER)?;
        let ts: u64 = header(headers, TS_HEADER)?
            .parse()
            .map_err(|_| AuthError::Malformed(format!("{TS_HEADER} is not a number")))?;
        let skew_ms = ts.abs_diff(now);
        if skew_ms > MAX_SKEW_MS {
            return Err(AuthError::Skew { skew_ms });
        }
        let nonce: [u8; 16] = hex::decode(header(headers, NONCE_HEADER)?)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                AuthError::Malformed(format!("{NONCE_HEADER} is not 16 bytes of hex"))
            })?;
        let sig = hex::decode(header(headers, SIG_HEADER)?)
            .map_err(|e| AuthError::Malformed(format!("{SIG_HEADER}: {e}")))
            .and_then(|b| {
                Signature::from_bytes(&b)
                    .map_err(|e| AuthError::Malformed(format!("{SIG_HEADER}: {e}")))
            })?;
        let caller_id = DeviceId(caller.to_string());
        let key = {
            let keys = self.keys.borrow();
            match keys.key_of(&caller_id) {
                Some(k) => *k,
                None => {
                    return Err(AuthError::NotMember {
                        node: caller.to_string(),
                        epoch: keys.epoch,
                    });
                }
            }
        };
        let signed = sign_bytes(path, &self.me.0, caller, ts, &nonce);
        if key.verify(&signed, &sig).is_err() {
            // Tell a mis-addressed call from a forged one.
            return Err(self.diagnose(path, caller, ts, &nonce, &sig, &key));
        }
        self.nonces.lock().insert(caller, nonce, ts, now)?;
        Ok(caller_id)
    }

    fn diagnose(
        &self,
        path: &str,
        caller: &str,
        ts: u64,
        nonce: &[u8],
        sig: &Signature,
        key: &lambda_common::keys::PublicKey,
    ) -> AuthError {
        let keys = self.keys.borrow();
        for other in keys.current.keys().chain(keys.previous.keys()) {
            if *other != self.me
                && key
                    .verify(&sign_bytes(path, &other.0, caller, ts, nonce), sig)
                    .is_ok()
            {
                return AuthError::WrongCallee {
                    signed_for: other.0.clone(),
                    me: self.me.0.clone(),
                };
            }
        }
        AuthError::BadSignature {
            node: caller.to_string(),
            reason: "does not verify with the node key registered on chain".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn keys(epoch: u64, current: &[&SigningKey], previous: &[&SigningKey]) -> PeerKeys {
        let m = |ks: &[&SigningKey]| -> BTreeMap<DeviceId, _> {
            ks.iter()
                .map(|k| (PeerSigner::new((*k).clone()).id().clone(), k.public()))
                .collect()
        };
        PeerKeys {
            epoch,
            current: m(current),
            previous: m(previous),
        }
    }

    const PATH: &str = "/lambda.node.v1.Replica/Put";

    #[test]
    fn signed_calls_verify_once_and_refusals_name_the_reason() {
        let (a, b, c, outsider) = (
            SigningKey::generate(),
            SigningKey::generate(),
            SigningKey::generate(),
            SigningKey::generate(),
        );
        let (tx, rx) = watch::channel(Arc::new(keys(5, &[&a, &b], &[&c])));
        let signer_a = PeerSigner::new(a.clone());
        let b_id = PeerSigner::new(b.clone()).id().clone();
        let v = PeerVerifier::new(b_id.clone(), rx);

        let mut h = HeaderMap::new();
        signer_a.sign_headers(PATH, &b_id, &mut h);
        assert_eq!(v.verify(PATH, &h, now_ms()).unwrap(), *signer_a.id());
        let e = v.verify(PATH, &h, now_ms()).unwrap_err();
        assert!(matches!(e, AuthError::Replay(_)), "{e}");
        assert_eq!(e.status().code(), tonic::Code::Unauthenticated);

        // Another path with the same signature: bad signature.
        let mut h = HeaderMap::new();
        signer_a.sign_headers(PATH, &b_id, &mut h);
        let e = v
            .verify("/lambda.node.v1.Replica/Get", &h, now_ms())
            .unwrap_err();
        assert!(matches!(e, AuthError::BadSignature { .. }), "{e}");

        // Skew.
        let e = v
            .verify(PATH, &h, now_ms() + MAX_SKEW_MS + 5_000)
            .unwrap_err();
        assert!(e.to_string().contains("over 30000 ms"), "{e}");

        // Signed for another callee (a member, so it can be named).
        let a_id = signer_a.id().clone();
        let mut h = HeaderMap::new();
        PeerSigner::new(c.clone()).sign_headers(PATH, &a_id, &mut h);
        let e = v.verify(PATH, &h, now_ms()).unwrap_err();
        assert!(matches!(e, AuthError::WrongCallee { .. }), "{e}");

        // A previous-epoch member is accepted; an outsider is not.
        let mut h = HeaderMap::new();
        PeerSigner::new(c.clone()).sign_headers(PATH, &b_id, &mut h);
        v.verify(PATH, &h, now_ms()).unwrap();
        let mut h = HeaderMap::new();
        PeerSigner::new(outsider.clone()).sign_headers(PATH, &b_id, &mut h);
        let e = v.verify(PATH, &h, now_ms()).unwrap_err();
        assert_eq!(e.status().code(), tonic::Code::PermissionDenied);
        assert!(e.to_string().contains("not a member of epoch 5"), "{e}");

        // Once the epoch moves on without c, c is refused.
        tx.send_replace(Arc::new(keys(6, &[&a, &b], &[&a, &b])));
        let mut h = HeaderMap::new();
        PeerSigner::new(c).sign_headers(PATH, &b_id, &mut h);
        assert!(matches!(
            v.verify(PATH, &h, now_ms()).unwrap_err(),
            AuthError::NotMember { epoch: 6, .. }
        ));

        // Missing headers.
        let e = v.verify(PATH, &HeaderMap::new(), now_ms()).unwrap_err();
        assert!(
            e.to_string().contains("missing header x-lambda-node"),
            "{e}"
        );
    }

    #[test]
    fn nonces_are_pruned_after_the_window() {
        let mut n = Nonces::default();
        for i in 0..2000u32 {
            let mut nonce = [0u8; 16];
            nonce[..4].copy_from_slice(&i.to_be_bytes());
            n.insert("a", nonce, 1_000, 1_000).unwrap();
        }
        // Far later: old entries are dropped at the next prune (amortised:
        // when the map has doubled since the last one).
        let later = 1_000 + 10 * MAX_SKEW_MS;
        for i in 0..100u32 {
            let mut nonce = [1u8; 16];
            nonce[..4].copy_from_slice(&i.to_be_bytes());
            n.insert("a", nonce, later, later).unwrap();
        }
        assert!(n.seen.len() <= 100, "{}", n.seen.len());
    }
}
