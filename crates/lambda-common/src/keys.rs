//! Keys and signatures of accounts, validators and storage nodes.
//!
//! Every key and signature carries an algorithm specifier, so that other
//! algorithms can follow ed25519 without changing any format: the binary form
//! is `algorithm byte ‖ key bytes`, the text form `ed25519:<hex>`. Verification
//! is strict (RFC 8032 with the canonical-encoding and small-order checks of
//! `verify_strict`), so one message has one valid signature per key.
//!
//! Callers sign canonical encodings that start with a domain tag of their own
//! (for example `b"lambda/tx/v1"`), so a signature made for one purpose can
//! never be replayed as another.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// Ed25519 (RFC 8032).
    Ed25519,
}

impl Algorithm {
    /// The byte that names the algorithm in binary encodings.
    pub fn code(self) -> u8 {
        match self {
            Algorithm::Ed25519 => 1,
        }
    }

    /// The name in text encodings.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
        }
    }

    fn from_code(code: u8) -> Result<Self, KeyError> {
        match code {
            1 => Ok(Algorithm::Ed25519),
            other => Err(KeyError::UnknownAlgorithm(other.to_string())),
        }
    }

    fn from_name(name: &str) -> Result<Self, KeyError> {
        match name {
            "ed25519" => Ok(Algorithm::Ed25519),
            other => Err(KeyError::UnknownAlgorithm(other.to_string())),
        }
    }
}

/// Why a key or signature is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The algorithm specifier names nothing this build knows.
    #[error("unknown key algorithm {0}")]
    UnknownAlgorithm(String),
    /// The key or signature has the wrong length for its algorithm.
    #[error("{what} is {len} bytes, expected {expected}")]
    Length {
        /// What was decoded.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The length the algorithm needs.
        expected: usize,
    },
    /// The text form is not `algorithm:hex`.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was parsed.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The public key is not a valid curve point.
    #[error("invalid public key: {0}")]
    InvalidKey(String),
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The signature and key use different algorithms.
    #[error("signature algorithm {signature} does not match key algorithm {key}")]
    AlgorithmMismatch {
        /// The key's algorithm.
        key: &'static str,
        /// The signature's algorithm.
        signature: &'static str,
    },
    /// A key file could not be read or written.
    #[error("key file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

fn split_text(s: &str, what: &'static str) -> Result<(Algorithm, Vec<u8>), KeyError> {
    let (alg, hex_part) = s
        .trim()
        .split_once(':')
        .ok_or_else(|| KeyError::Malformed {
            what,
            reason: "expected <algorithm>:<hex>".into(),
        })?;
    let bytes = hex::decode(hex_part).map_err(|e| KeyError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    Ok((Algorithm::from_name(alg)?, bytes))
}

fn fixed<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], KeyError> {
    bytes.try_into().map_err(|_| KeyError::Length {
        what,
        len: bytes.len(),
        expected: N,
    })
}

/// A public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey {
    algorithm: Algorithm,
    bytes: [u8; 32],
}

impl PublicKey {
    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key bytes without the algorithm byte.
    pub fn raw(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// `algorithm byte ‖ key bytes`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(33);
        v.push(self.algorithm.code());
        v.extend_from_slice(&self.bytes);
        v
    }

    /// Decodes and validates the binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let (code, rest) = bytes.split_first().ok_or(KeyError::Length {
            what: "public key",
            len: 0,
            expected: 33,
        })?;
        Self::from_parts(Algorithm::from_code(*code)?, rest)
    }

    fn from_parts(algorithm: Algorithm, raw: &[u8]) -> Result<Self, KeyError> {
        let bytes = fixed::<32>(raw, "public key")?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|e| KeyError::InvalidKey(e.to_string()))?;
        Ok(Self { algorithm, bytes })
    }

    /// Checks `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        if signature.algorithm != self.algorithm {
            return Err(KeyError::AlgorithmMismatch {
                key: self.algorithm.name(),
                signature: signature.algorithm.name(),
            });
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.bytes)
            .map_err(|e| KeyError::InvalidKey(e.to_string()))?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.bytes);
        key.verify_strict(message, &sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        let digest = Sha256::digest(self.to_bytes());
        let mut a = [0u8; 20];
        a.copy_from_slice(&digest[..20]);
        Address(a)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), hex::encode(self.bytes))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let (alg, bytes) = split_text(s, "public key")?;
        Self::from_parts(alg, &bytes)
    }
}

/// A signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature {
    algorithm: Algorithm,
    bytes: [u8; 64],
}

impl Signature {
    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// `algorithm byte ‖ signature bytes`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(65);
        v.push(self.algorithm.code());
        v.extend_from_slice(&self.bytes);
        v
    }

    /// Decodes the binary form (the signature is checked by
    /// [`PublicKey::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let (code, rest) = bytes.split_first().ok_or(KeyError::Length {
            what: "signature",
            len: 0,
            expected: 65,
        })?;
        Ok(Self {
            algorithm: Algorithm::from_code(*code)?,
            bytes: fixed::<64>(rest, "signature")?,
        })
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), hex::encode(self.bytes))
    }
}

impl FromStr for Signature {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let (algorithm, bytes) = split_text(s, "signature")?;
        Ok(Self {
            algorithm,
            bytes: fixed::<64>(&bytes, "signature")?,
        })
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature({}:{})",
            self.algorithm.name(),
            hex::encode(&self.bytes[..8])
        )
    }
}

/// A private signing key.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: Algorithm,
    inner: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.public())
    }
}

impl SigningKey {
    /// A fresh random ed25519 key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::from_seed(rand::random::<[u8; 32]>())
    }

    /// The ed25519 key of a 32-byte seed (deterministic; for tests and
    /// generated devnets).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            algorithm: Algorithm::Ed25519,
            inner: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            algorithm: self.algorithm,
            bytes: self.inner.verifying_key().to_bytes(),
        }
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        Signature {
            algorithm: self.algorithm,
            bytes: self.inner.sign(message).to_bytes(),
        }
    }

    /// The secret in text form, `ed25519:<hex seed>`.
    pub fn to_text(&self) -> String {
        format!(
            "{}:{}",
            self.algorithm.name(),
            hex::encode(self.inner.to_bytes())
        )
    }

    /// Writes the key to `path` (mode 0600 on Unix), refusing to overwrite.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write;
        let err = |e: std::io::Error| KeyError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(err)?;
        writeln!(f, "{}", self.to_text()).map_err(err)
    }

    /// Reads a key written by [`SigningKey::save`].
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        text.parse()
    }
}

impl FromStr for SigningKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let (algorithm, bytes) = split_text(s, "signing key")?;
        let seed = fixed::<32>(&bytes, "signing key")?;
        let mut key = Self::from_seed(seed);
        key.algorithm = algorithm;
        Ok(key)
    }
}

/// An account address: the first 20 bytes of SHA-256 over the binary public
/// key. Text form: 40 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 20]);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(s.trim()).map_err(|e| KeyError::Malformed {
            what: "address",
            reason: e.to_string(),
        })?;
        Ok(Address(fixed::<20>(&bytes, "address")?))
    }
}

impl Address {
    /// Decodes 20 raw bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        Ok(Address(fixed::<20>(bytes, "address")?))
    }
}

macro_rules! serde_as_text {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_text!(PublicKey);
serde_as_text!(Address);
serde_as_text!(Signature);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sign_verify_and_encodings() {
        let k = SigningKey::from_seed([7; 32]);
        let pk = k.public();
        let sig = k.sign(b"lambda/test/v1 hello");
        pk.verify(b"lambda/test/v1 hello", &sig).unwrap();
        assert_eq!(pk.verify(b"other", &sig), Err(KeyError::BadSignature));
        assert_eq!(PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
        assert_eq!(pk.to_string().parse::<PublicKey>().unwrap(), pk);
        assert!(pk.to_string().starts_with("ed25519:"));
        assert_eq!(Signature::from_bytes(&sig.to_bytes()).unwrap(), sig);
        assert_eq!(sig.to_string().parse::<Signature>().unwrap(), sig);
        assert_eq!(k.to_text().parse::<SigningKey>().unwrap().public(), pk);
        assert_eq!(
            pk.address().to_string().parse::<Address>().unwrap(),
            pk.address()
        );
        let other = SigningKey::from_seed([8; 32]).public();
        assert_eq!(
            other.verify(b"lambda/test/v1 hello", &sig),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn precise_errors() {
        assert!(matches!(
            PublicKey::from_bytes(&[9; 33]),
            Err(KeyError::UnknownAlgorithm(_))
        ));
        assert!(matches!(
            PublicKey::from_bytes(&[1; 5]),
            Err(KeyError::Length { .. })
        ));
        assert!(matches!(
            "rsa:00".parse::<PublicKey>(),
            Err(KeyError::UnknownAlgorithm(_))
        ));
        assert!(matches!(
            "nocolon".parse::<PublicKey>(),
            Err(KeyError::Malformed { .. })
        ));
        assert!(matches!(
            Signature::from_bytes(&[1; 10]),
            Err(KeyError::Length { .. })
        ));
    }

    #[test]
    fn key_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let k = SigningKey::generate();
        k.save(&path).unwrap();
        assert!(k.save(&path).is_err(), "never overwrites a key");
        assert_eq!(SigningKey::load(&path).unwrap().public(), k.public());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = PublicKey::from_bytes(&b);
            let _ = Signature::from_bytes(&b);
            let _ = Address::from_slice(&b);
        }
    }
}
