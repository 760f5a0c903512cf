//! The node key: an ed25519 key whose address is the node's id on the chain
//! (its pledge) and in the ring. Created on first start, kept 0600.

use std::path::Path;

use lambda_common::keys::{Address, SigningKey};

use super::ChainLinkError;
use crate::placement::DeviceId;

/// A node's key and the ids derived from it.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    key: SigningKey,
}

impl NodeIdentity {
    /// Wraps a key.
    pub fn new(key: SigningKey) -> Self {
        Self { key }
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The node id on the chain (the key's address).
    pub fn address(&self) -> Address {
        self.key.public().address()
    }

    /// The device id in the ring: the address in hex.
    pub fn device_id(&self) -> DeviceId {
        DeviceId(self.address().to_string())
    }
}

/// Loads the key at `path`, or creates and saves a new one if the file does
/// not exist.
pub fn load_or_create_identity(path: &Path) -> Result<NodeIdentity, ChainLinkError> {
    let err = |reason: String| ChainLinkError::Key {
        path: path.to_path_buf(),
        reason,
    };
    if path.exists() {
        return SigningKey::load(path)
            .map(NodeIdentity::new)
            .map_err(|e| err(e.to_string()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let key = SigningKey::generate();
    key.save(path).map_err(|e| err(e.to_string()))?;
    tracing::info!(path = %path.display(), node = %key.public().address(), "created node key");
    Ok(NodeIdentity::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_loaded_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/node.key");
        let a = load_or_create_identity(&path).unwrap();
        let b = load_or_create_identity(&path).unwrap();
        assert_eq!(a.address(), b.address());
        assert_eq!(a.device_id().to_string(), a.address().to_string());
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        std::fs::write(&path, "not a key").unwrap();
        let e = load_or_create_identity(&path).unwrap_err().to_string();
        assert!(e.contains("node.key"), "{e}");
    }
}
