//! Audited objects: data the owner tags for provable data possession and
//! stores as one value, a PDP bundle (signed tag metadata, tags, data),
//! under the key `pdp/` ‖ name (`lambda_pdp::bundle`).
//!
//! [`Client::put_audited`] tags the data with the owner's [`Tagger`] (on
//! the blocking pool: tagging is CPU work, about 0.2 s per MiB and core)
//! and writes the bundle last-write-wins, so a re-upload replaces the
//! previous version on every replica. [`Client::get_audited`] reads it
//! back and checks it decodes and is signed by its owner. The
//! [`AuditedObject`] returned by a put is what a storage contract registers
//! (see [`super::pdp_contract`]).
//!
//! The owner's PDP key can be derived from its chain account key
//! ([`pdp_key_of`]), so one key file serves both.

use lambda_common::keys::SigningKey;
pub use lambda_pdp::Tagger;
use lambda_pdp::bundle::{Bundle, bundle_key, check_name};
use lambda_pdp::{KeyPair, PdpError, SecretKey, SignedMetadata};
use sha2::{Digest, Sha256};

use super::{Client, SdkError};

/// Sectors per block of audited objects unless told otherwise (the
/// benchmarks' s = 32: 992-byte blocks, tags add 4.8 %).
pub const DEFAULT_SECTORS: u32 = 32;

const PDP_KEY_DOMAIN: &[u8] = b"lambda/pdp-owner-key/v1";

/// Why an audited put or get failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditedError {
    /// The name or the data cannot be tagged (empty, too long, …).
    #[error("cannot tag the object: {0}")]
    Tagging(PdpError),
    /// The cluster refused or failed the request.
    #[error(transparent)]
    Sdk(#[from] SdkError),
    /// The stored value is not a valid bundle of this object.
    #[error("stored object {name}: {reason}")]
    Corrupt {
        /// The object.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A background task failed.
    #[error("tagging task failed: {0}")]
    Task(String),
}

/// An object stored with its PDP tags.
#[derive(Clone, Debug)]
pub struct AuditedObject {
    /// Its name (the PDP metadata name and the contract's object name).
    pub name: String,
    /// The key-value key of its bundle.
    pub key: Vec<u8>,
    /// Its size in bytes.
    pub size: u64,
    /// The owner-signed tag metadata (registered in the contract).
    pub metadata: SignedMetadata,
    /// The metadata digest (the contract's `pdp_digest`).
    pub digest: [u8; 32],
    /// Bytes stored (bundle: data, tags and metadata).
    pub stored_bytes: usize,
}

impl AuditedObject {
    /// The description of a stored bundle.
    pub fn of(bundle: &Bundle) -> Self {
        let name = String::from_utf8_lossy(bundle.name()).into_owned();
        Self {
            key: bundle_key(bundle.name()),
            size: bundle.data().len() as u64,
            metadata: bundle.metadata().clone(),
            digest: bundle.metadata().metadata().digest(),
            stored_bytes: bundle.encode().len(),
            name,
        }
    }
}

/// The owner's PDP key derived from its chain account key: the secret is
/// SHA-256(domain ‖ the account key's ed25519 signature of the domain) with
/// the two top bits cleared (below the group order), so the same account
/// key always gives the same PDP key and no second key file is needed.
pub fn pdp_key_of(account: &SigningKey) -> Result<KeyPair, PdpError> {
    let sig = account.sign(PDP_KEY_DOMAIN);
    let mut sk: [u8; 32] = Sha256::new()
        .chain_update(PDP_KEY_DOMAIN)
        .chain_update(sig.to_bytes())
        .finalize()
        .into();
    sk[31] &= 0x3f;
    Ok(KeyPair::from_secret(SecretKey::from_bytes(&sk)?))
}

impl Client {
    /// Tags `data` as object `name` (`sectors` sectors per block) and
    /// stores its bundle; returns what a storage contract registers.
    pub async fn put_audited(
        &self,
        name: &str,
        data: Vec<u8>,
        tagger: &Tagger,
        sectors: u32,
    ) -> Result<AuditedObject, AuditedError> {
        check_name(name.as_bytes()).map_err(AuditedError::Tagging)?;
        let (tagger, owned_name) = (tagger.clone(), name.to_string());
        let bundle = tokio::task::spawn_blocking(move || {
            let object = tagger.tag(owned_name.as_bytes(), &data, sectors)?;
            Bundle::new(object, data)
        })
        .await
        .map_err(|e| AuditedError::Task(e.to_string()))?
        .map_err(AuditedError::Tagging)?;
        let key = bundle_key(name.as_bytes());
        let value = bundle.encode();
        let stored_bytes = value.len();
        let mut lww = self.config().options;
        lww.last_write_wins = true;
        self.with_options(lww).put(&key, value, None).await?;
        let metadata = bundle.metadata().clone();
        Ok(AuditedObject {
            name: name.to_string(),
            key,
            size: bundle.data().len() as u64,
            digest: metadata.metadata().digest(),
            metadata,
            stored_bytes,
        })
    }

    /// Reads the audited object `name`: `None` if absent, else its bundle
    /// (the newest sibling that decodes and carries a valid owner
    /// signature).
    pub async fn get_audited(&self, name: &str) -> Result<Option<Bundle>, AuditedError> {
        let read = self.get(&bundle_key(name.as_bytes())).await?;
        if !read.found {
            return Ok(None);
        }
        let mut siblings = read.siblings;
        siblings.sort_by_key(|s| std::cmp::Reverse(s.timestamp_ms));
        let mut reason = String::from("no live value");
        for s in siblings {
            match Bundle::decode(&s.value).and_then(|b| b.metadata().verify().map(|()| b)) {
                Ok(b) if b.name() == name.as_bytes() => return Ok(Some(b)),
                Ok(_) => reason = "the bundle names another object".into(),
                Err(e) => reason = e.to_string(),
            }
        }
        Err(AuditedError::Corrupt {
            name: name.to_string(),
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pdp_key_is_a_function_of_the_account_key() {
        let a = SigningKey::from_seed([1; 32]);
        let b = SigningKey::from_seed([2; 32]);
        let ka = pdp_key_of(&a).unwrap();
        assert_eq!(ka.public(), pdp_key_of(&a).unwrap().public());
        assert_ne!(ka.public(), pdp_key_of(&b).unwrap().public());
    }
}
