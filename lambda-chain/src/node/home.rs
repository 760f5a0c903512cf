//! Validator home directories: `init` (a single-validator chain) and
//! `testnet` (N validators on one machine that name each other as peers,
//! one shared genesis, funded test accounts with their keys).
//!
//! A home holds `validator.key` (mode 0600), `genesis.toml`, `config.toml`
//! (every key written out, paths relative to the home) and, once started,
//! `data/` (state, write-ahead log, bound addresses). A testnet directory
//! holds one home per validator (`v0`, `v1`, …), the test accounts' keys in
//! `accounts/`, and `testnet.json` describing it all for tools and tests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_common::keys::{Address, KeyError, SigningKey};
use serde::{Deserialize, Serialize};

use super::config::{CONFIG_FILE, NodeConfig};
use crate::consensus::TimeoutConfig;
use crate::genesis::{Genesis, GenesisAccount, GenesisError, GenesisValidator};
use crate::params::ChainParams;

/// Why a home could not be written.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// The directory already holds a validator (nothing is overwritten).
    #[error("{0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// An option is out of range.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key could not be written.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The genesis is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The configuration could not be rendered.
    #[error("configuration: {0}")]
    Config(String),
}

/// Options shared by `init` and `testnet`.
#[derive(Clone, Debug)]
pub struct ChainOptions {
    /// Chain id.
    pub chain_id: String,
    /// Block time; None keeps the preset (5 s for `init`, 300 ms devnet
    /// timeouts for `testnet`).
    pub block_time: Option<Duration>,
    /// Blocks per epoch (None: the default parameter).
    pub epoch_length: Option<u64>,
    /// Stake (and power) of each validator.
    pub validator_stake: u64,
    /// Balance of each validator account and test account.
    pub balance: u64,
}

impl Default for ChainOptions {
    fn default() -> Self {
        Self {
            chain_id: "lambda-devnet".into(),
            block_time: None,
            epoch_length: None,
            validator_stake: 1_000_000,
            balance: 1_000_000_000_000,
        }
    }
}

/// A validator home as `testnet.json` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorHome {
    /// The home directory.
    pub home: PathBuf,
    /// The validator's address (also its account).
    pub address: Address,
    /// Validator (consensus and gossip) address.
    pub p2p: SocketAddr,
    /// Public API address.
    pub api: SocketAddr,
}

/// A funded test account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestAccount {
    /// Its key file.
    pub key_file: PathBuf,
    /// Its address.
    pub address: Address,
}

/// What `testnet` wrote (`<out>/testnet.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Testnet {
    /// The chain id.
    pub chain_id: String,
    /// The validators.
    pub validators: Vec<ValidatorHome>,
    /// The test accounts.
    pub accounts: Vec<TestAccount>,
}

impl Testnet {
    /// Reads `<dir>/testnet.json`.
    pub fn load(dir: &Path) -> Result<Self, HomeError> {
        let path = dir.join("testnet.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        serde_json::from_str(&text)
            .map_err(|e| HomeError::Config(format!("{}: {e}", path.display())))
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn genesis(
    opts: &ChainOptions,
    validators: &[SigningKey],
    accounts: &[Address],
) -> Result<Genesis, HomeError> {
    let mut params = ChainParams::default();
    if let Some(l) = opts.epoch_length {
        params.epoch_length = l;
    }
    let mut funded: Vec<GenesisAccount> = validators
        .iter()
        .map(|k| k.public().address())
        .chain(accounts.iter().copied())
        .map(|address| GenesisAccount {
            address,
            balance: opts.balance,
        })
        .collect();
    funded.sort_by_key(|a| a.address);
    let g = Genesis {
        chain_id: opts.chain_id.clone(),
        genesis_time_ms: now_ms(),
        params,
        accounts: funded,
        validators: validators
            .iter()
            .map(|k| GenesisValidator {
                public_key: k.public(),
                stake: opts.validator_stake,
            })
            .collect(),
        storage_nodes: Vec::new(),
    };
    g.validate()?;
    Ok(g)
}

/// Writes one validator home: key, genesis, configuration.
fn write_home(
    home: &Path,
    key: &SigningKey,
    genesis: &Genesis,
    cfg: &NodeConfig,
) -> Result<(), HomeError> {
    let cfg_path = home.join(CONFIG_FILE);
    if cfg_path.exists() {
        return Err(HomeError::Exists(cfg_path));
    }
    std::fs::create_dir_all(home).map_err(io(home))?;
    key.save(&home.join(&cfg.key_file))?;
    let gpath = home.join(&cfg.genesis_file);
    std::fs::write(&gpath, genesis.to_toml()?).map_err(io(&gpath))?;
    let text = lambda_common::config::to_toml(cfg).map_err(|e| HomeError::Config(e.to_string()))?;
    let header = "# lambda-chain validator configuration (generated). Every key is explained in\n# deploy/lambda-chain.example.toml; LAMBDA_CHAIN_* environment variables override it.\n\n";
    std::fs::write(&cfg_path, format!("{header}{text}")).map_err(io(&cfg_path))
}

/// `init`: a single-validator chain in `home`, its API on `api` and its
/// validator port on `p2p`. Returns the validator's address.
pub fn init(
    home: &Path,
    opts: &ChainOptions,
    p2p: SocketAddr,
    api: SocketAddr,
) -> Result<Address, HomeError> {
    let key = SigningKey::generate();
    let g = genesis(opts, std::slice::from_ref(&key), &[])?;
    let mut cfg = NodeConfig::default();
    cfg.api.listen = api;
    cfg.consensus.listen = p2p;
    cfg.consensus.engine.chain_id = opts.chain_id.clone();
    if let Some(t) = opts.block_time {
        cfg.consensus.engine.timeouts.block_time = t;
    }
    write_home(home, &key, &g, &cfg)?;
    Ok(key.public().address())
}

/// Options of `testnet`.
#[derive(Clone, Debug)]
pub struct TestnetOptions {
    /// The chain.
    pub chain: ChainOptions,
    /// Validators.
    pub validators: usize,
    /// Funded test accounts.
    pub accounts: usize,
    /// Validator i listens on `base_port + 2i` (validator port) and
    /// `base_port + 2i + 1` (API).
    pub base_port: u16,
    /// The address every port is on.
    pub host: IpAddr,
}

impl Default for TestnetOptions {
    fn default() -> Self {
        Self {
            chain: ChainOptions::default(),
            validators: 4,
            accounts: 4,
            base_port: 26_600,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// `testnet`: `opts.validators` homes under `out` (`v0`, `v1`, …) that
/// name each other as peers, one genesis, the test accounts' keys in
/// `out/accounts/`, and `out/testnet.json`.
pub fn testnet(out: &Path, opts: &TestnetOptions) -> Result<Testnet, HomeError> {
    let n = opts.validators;
    if n == 0 || n > 100 {
        return Err(HomeError::Invalid(format!(
            "validators must be 1 to 100, got {n}"
        )));
    }
    let last = u32::from(opts.base_port) + 2 * n as u32 - 1;
    if opts.base_port == 0 || last > u32::from(u16::MAX) {
        return Err(HomeError::Invalid(format!(
            "ports {}..={last} do not fit; choose another --base-port",
            opts.base_port
        )));
    }
    let manifest = out.join("testnet.json");
    if manifest.exists() {
        return Err(HomeError::Exists(manifest));
    }
    let port = |i: usize, k: u16| SocketAddr::new(opts.host, opts.base_port + 2 * i as u16 + k);
    let keys: Vec<SigningKey> = (0..n).map(|_| SigningKey::generate()).collect();
    let account_keys: Vec<SigningKey> =
        (0..opts.accounts).map(|_| SigningKey::generate()).collect();
    let account_addrs: Vec<Address> = account_keys.iter().map(|k| k.public().address()).collect();
    let g = genesis(&opts.chain, &keys, &account_addrs)?;
    let mut validators = Vec::with_capacity(n);
    for (i, key) in keys.iter().enumerate() {
        let home = out.join(format!("v{i}"));
        let cfg = testnet_config(opts, i, n, &port);
        write_home(&home, key, &g, &cfg)?;
        validators.push(ValidatorHome {
            home,
            address: key.public().address(),
            p2p: port(i, 0),
            api: port(i, 1),
        });
    }
    let dir = out.join("accounts");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let mut accounts = Vec::with_capacity(account_keys.len());
    for (i, k) in account_keys.iter().enumerate() {
        let key_file = dir.join(format!("account-{i}.key"));
        k.save(&key_file)?;
        accounts.push(TestAccount {
            key_file,
            address: k.public().address(),
        });
    }
    let t = Testnet {
        chain_id: opts.chain.chain_id.clone(),
        validators,
        accounts,
    };
    let json = serde_json::to_string_pretty(&t).map_err(|e| HomeError::Config(e.to_string()))?;
    std::fs::write(&manifest, json).map_err(io(&manifest))?;
    Ok(t)
}

/// The configuration of validator `i` of a testnet.
fn testnet_config(
    opts: &TestnetOptions,
    i: usize,
    n: usize,
    port: &impl Fn(usize, u16) -> SocketAddr,
) -> NodeConfig {
    let mut cfg = NodeConfig::default();
    cfg.api.listen = port(i, 1);
    let c = &mut cfg.consensus;
    c.listen = port(i, 0);
    c.engine.chain_id = opts.chain.chain_id.clone();
    c.engine.timeouts = TimeoutConfig::devnet();
    if let Some(t) = opts.chain.block_time {
        c.engine.timeouts.block_time = t;
    }
    c.network.peers = (0..n)
        .filter(|j| *j != i)
        .map(|j| format!("http://{}", port(j, 0)))
        .collect();
    // Local peers come back quickly: retry them often, and sync soon.
    c.network.backoff_max = Duration::from_secs(1);
    c.network.sync_after_stall = Duration::from_secs(3);
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testnet_homes_name_each_other_and_share_one_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let opts = TestnetOptions {
            validators: 3,
            accounts: 2,
            base_port: 40_000,
            ..TestnetOptions::default()
        };
        let t = testnet(dir.path(), &opts).unwrap();
        assert_eq!(t.validators.len(), 3);
        assert_eq!(Testnet::load(dir.path()).unwrap(), t);
        let g0 = std::fs::read_to_string(dir.path().join("v0/genesis.toml")).unwrap();
        let g2 = std::fs::read_to_string(dir.path().join("v2/genesis.toml")).unwrap();
        assert_eq!(g0, g2);
        let g = Genesis::from_toml(&g0).unwrap();
        assert_eq!(g.validators.len(), 3);
        assert_eq!(
            g.accounts.len(),
            5,
            "validators and test accounts are funded"
        );
        let cfg = NodeConfig::load(&dir.path().join("v1")).unwrap();
        assert_eq!(cfg.consensus.listen.port(), 40_002);
        assert_eq!(cfg.api.listen.port(), 40_003);
        assert_eq!(
            cfg.consensus.network.peers,
            vec!["http://127.0.0.1:40000", "http://127.0.0.1:40004"]
        );
        let key = SigningKey::load(&cfg.key_file).unwrap();
        assert_eq!(key.public().address(), t.validators[1].address);
        let acct = SigningKey::load(&t.accounts[1].key_file).unwrap();
        assert_eq!(acct.public().address(), t.accounts[1].address);
        assert!(matches!(
            testnet(dir.path(), &opts),
            Err(HomeError::Exists(_))
        ));
    }

    #[test]
    fn the_genesis_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/genesis.example.toml");
        let g = Genesis::load(&path).unwrap();
        assert_eq!(
            g.params,
            ChainParams::default(),
            "the example shows the defaults"
        );
        assert_eq!((g.validators.len(), g.storage_nodes.len()), (1, 1));
        let validator = g.validators[0].public_key.address();
        assert!(g.accounts.iter().any(|a| a.address == validator));
    }

    #[test]
    fn init_writes_a_single_validator_home_once() {
        let dir = tempfile::tempdir().unwrap();
        let p2p: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let api: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let addr = init(dir.path(), &ChainOptions::default(), p2p, api).unwrap();
        let cfg = NodeConfig::load(dir.path()).unwrap();
        assert_eq!(cfg.api.listen, api);
        assert!(cfg.consensus.network.peers.is_empty());
        let g = Genesis::load(&cfg.genesis_file).unwrap();
        assert_eq!(g.validators.len(), 1);
        assert_eq!(g.validators[0].public_key.address(), addr);
        assert!(matches!(
            init(dir.path(), &ChainOptions::default(), p2p, api),
            Err(HomeError::Exists(_))
        ));
        let bad = TestnetOptions {
            base_port: 65_530,
            ..TestnetOptions::default()
        };
        let err = testnet(&dir.path().join("t"), &bad).unwrap_err();
        assert!(err.to_string().contains("--base-port"), "{err}");
    }
}
