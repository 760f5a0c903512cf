//! The genesis file: everything a chain starts from, in TOML (or JSON, by
//! file extension).
//!
//! ```toml
//! chain_id = "lambda-devnet"          # 1–64 chars of [A-Za-z0-9._-]
//! genesis_time_ms = 1700000000000     # ms since the Unix epoch; time of height 0
//!
//! [params]                            # all optional; see ChainParams for each
//! epoch_length = 100
//! max_block_bytes = 32000000
//!
//! [[accounts]]                        # initial balances (base units)
//! address = "<40 hex digits>"
//! balance = 1000000
//!
//! [[validators]]                      # epoch-0 validators; power = stake
//! public_key = "ed25519:<64 hex digits>"
//! stake = 100
//!
//! [[storage_nodes]]                   # optional members of epoch 0
//! owner = "<40 hex digits>"           # account that gets the stake back
//! public_key = "ed25519:<hex>"        # node key; node id = its address
//! endpoint = "127.0.0.1:7100"
//! capacity_bytes = 1000000000
//! bandwidth_bps = 100000000
//! zone = "z1"
//! stake = 1000                        # minted, not taken from `owner`
//! ```
//!
//! The genesis digest (SHA-256 of a domain tag and the canonical JSON form)
//! is the parent hash of block 1 and is stored in the data directory, so a
//! directory can never be reopened with another genesis.

use std::collections::BTreeSet;
use std::path::Path;

use lambda_common::keys::{Address, PublicKey};
use serde::{Deserialize, Serialize};

use crate::params::ChainParams;
use crate::tx::kind::{MAX_ENDPOINT_BYTES, MAX_ZONE_BYTES};
use crate::types::{Hash, Validator, ValidatorSet};

/// Why a genesis file is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The file cannot be read.
    #[error("genesis file {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file does not parse.
    #[error("genesis does not parse: {0}")]
    Parse(String),
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(String),
}

/// An initial account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// Address.
    pub address: Address,
    /// Balance in base units.
    pub balance: u64,
}

/// An initial validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Consensus key (its address is the validator's account).
    pub public_key: PublicKey,
    /// Stake, also its voting power (> 0).
    pub stake: u64,
}

/// An initial storage node, a member from epoch 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisNode {
    /// The owner account.
    pub owner: Address,
    /// Node key; the node id is its address.
    pub public_key: PublicKey,
    /// `host:port`.
    pub endpoint: String,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Bandwidth in bytes per second.
    pub bandwidth_bps: u64,
    /// Failure zone.
    pub zone: String,
    /// Stake (minted at genesis).
    pub stake: u64,
}

/// A genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Chain id, part of everything signed on the chain.
    pub chain_id: String,
    /// Time of height 0 in ms; the minimum-time rule starts from it.
    pub genesis_time_ms: u64,
    /// Consensus parameters.
    #[serde(default)]
    pub params: ChainParams,
    /// Initial balances.
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
    /// Validators of epoch 0.
    pub validators: Vec<GenesisValidator>,
    /// Storage nodes of epoch 0.
    #[serde(default)]
    pub storage_nodes: Vec<GenesisNode>,
}

fn invalid(msg: impl Into<String>) -> GenesisError {
    GenesisError::Invalid(msg.into())
}

impl Genesis {
    /// Reads a genesis file: JSON if the name ends in `.json`, else TOML.
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let text = std::fs::read_to_string(path).map_err(|e| GenesisError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let g = if path.extension().is_some_and(|e| e == "json") {
            Self::from_json(&text)?
        } else {
            Self::from_toml(&text)?
        };
        Ok(g)
    }

    /// Parses and validates TOML.
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let g: Self = toml::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    /// Parses and validates JSON.
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        let g: Self = serde_json::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    /// Renders TOML.
    pub fn to_toml(&self) -> Result<String, GenesisError> {
        toml::to_string_pretty(self).map_err(|e| GenesisError::Parse(e.to_string()))
    }

    /// The genesis digest (parent hash of block 1).
    pub fn digest(&self) -> Hash {
        let mut b = b"lambda/genesis/v1".to_vec();
        // Serialising plain structs and vectors to JSON cannot fail.
        b.extend_from_slice(&serde_json::to_vec(self).unwrap_or_default());
        Hash::digest(&b)
    }

    /// The validator set of epoch 0.
    pub fn validator_set(&self) -> Result<ValidatorSet, GenesisError> {
        ValidatorSet::new(
            self.validators
                .iter()
                .map(|v| Validator::new(v.public_key, v.stake))
                .collect(),
        )
        .map_err(|e| invalid(format!("validators: {e}")))
    }

    /// Checks every rule; the error names the field.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let id_ok = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if self.chain_id.is_empty() || self.chain_id.len() > 64 || !self.chain_id.chars().all(id_ok)
        {
            return Err(invalid(format!(
                "chain_id {:?} must be 1 to 64 characters of [A-Za-z0-9._-]",
                self.chain_id
            )));
        }
        self.params.validate().map_err(GenesisError::Invalid)?;
        self.validator_set()?;
        let mut seen = BTreeSet::new();
        for a in &self.accounts {
            if !seen.insert(a.address) {
                return Err(invalid(format!("account {} appears twice", a.address)));
            }
        }
        let mut total: u64 = 0;
        for a in &self.accounts {
            total = total
                .checked_add(a.balance)
                .ok_or_else(|| invalid("account balances overflow u64"))?;
        }
        let mut nodes = BTreeSet::new();
        for n in &self.storage_nodes {
            let id = n.public_key.address();
            if !nodes.insert(id) {
                return Err(invalid(format!("storage node {id} appears twice")));
            }
            let text_ok = |s: &str, max| !s.is_empty() && s.len() <= max;
            if !text_ok(&n.endpoint, MAX_ENDPOINT_BYTES) || !text_ok(&n.zone, MAX_ZONE_BYTES) {
                return Err(invalid(format!(
                    "storage node {id}: endpoint and zone must be non-empty and short"
                )));
            }
            if n.capacity_bytes == 0 || n.bandwidth_bps == 0 {
                return Err(invalid(format!(
                    "storage node {id}: capacity_bytes and bandwidth_bps must be > 0"
                )));
            }
            if n.stake < self.params.min_node_stake {
                return Err(invalid(format!(
                    "storage node {id}: stake {} is under params.min_node_stake {}",
                    n.stake, self.params.min_node_stake
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_common::keys::SigningKey;

    fn sample() -> Genesis {
        Genesis {
            chain_id: "test-chain".into(),
            genesis_time_ms: 1_000,
            params: ChainParams::default(),
            accounts: vec![GenesisAccount {
                address: SigningKey::from_seed([9; 32]).public().address(),
                balance: 500,
            }],
            validators: vec![GenesisValidator {
                public_key: SigningKey::from_seed([1; 32]).public(),
                stake: 10,
            }],
            storage_nodes: vec![],
        }
    }

    #[test]
    fn toml_and_json_round_trip_with_the_same_digest() {
        let g = sample();
        let text = g.to_toml().unwrap();
        let back = Genesis::from_toml(&text).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.digest(), g.digest());
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(Genesis::from_json(&json).unwrap(), g);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genesis.toml");
        std::fs::write(&path, text).unwrap();
        assert_eq!(Genesis::load(&path).unwrap(), g);
        assert!(matches!(
            Genesis::load(&dir.path().join("missing.toml")),
            Err(GenesisError::Io { .. })
        ));
    }

    #[test]
    fn a_complete_file_parses() {
        let text = format!(
            r#"
chain_id = "lambda-devnet"
genesis_time_ms = 1700000000000

[params]
epoch_length = 20
max_block_bytes = 32000000
max_tx_bytes = 1048576
max_future_ms = 30000
min_fee = 1
min_node_stake = 1000
price_per_request = 1
price_per_mib = 10
pdp_fail_slash_bps = 100
offline_slash_bps = 50
double_sign_slash_bps = 10000
fisherman_reward_bps = 1000
evidence_max_age_blocks = 10000

[[accounts]]
address = "{addr}"
balance = 1000000

[[validators]]
public_key = "{val}"
stake = 100

[[storage_nodes]]
owner = "{addr}"
public_key = "{node}"
endpoint = "127.0.0.1:7100"
capacity_bytes = 1000000000
bandwidth_bps = 100000000
zone = "z1"
stake = 1000
"#,
            addr = SigningKey::from_seed([9; 32]).public().address(),
            val = SigningKey::from_seed([1; 32]).public(),
            node = SigningKey::from_seed([2; 32]).public(),
        );
        let g = Genesis::from_toml(&text).unwrap();
        assert_eq!(g.params.epoch_length, 20);
        assert_eq!(g.storage_nodes.len(), 1);
        assert_eq!(g.validator_set().unwrap().total_power(), 100);
    }

    proptest::proptest! {
        #[test]
        fn random_text_is_refused_without_panic(s in ".{0,200}") {
            proptest::prop_assert!(Genesis::from_toml(&s).is_err());
            proptest::prop_assert!(Genesis::from_json(&s).is_err());
        }
    }

    #[test]
    fn rules_name_the_field() {
        let mut g = sample();
        g.chain_id = "bad id".into();
        assert!(g.validate().unwrap_err().to_string().contains("chain_id"));
        let mut g = sample();
        g.validators.clear();
        assert!(g.validate().unwrap_err().to_string().contains("validators"));
        let mut g = sample();
        g.accounts.push(g.accounts[0].clone());
        assert!(g.validate().unwrap_err().to_string().contains("twice"));
        let err = Genesis::from_toml(
            "chain_id = \"x\"\ngenesis_time_ms = 1\nvalidators = []\nbogus = 1\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
