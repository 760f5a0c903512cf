//! A local chain for multi-process tests: `lambda-chain testnet N` generates
//! the validator homes, one `lambda-chain start` process runs per validator.
//!
//! The harness uses only the binary and the files it writes (`testnet.json`,
//! `accounts/*.key`), not `lambda-chain` types, so every crate's tests can
//! use it without a dependency cycle; tests talk to the chain with
//! `lambda_chain::client::ChainClient` on [`LocalChain::api_endpoints`].

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::{Process, binary, wait_for_port};

/// What to generate.
#[derive(Clone, Debug)]
pub struct ChainSpec {
    /// Validators (4 tolerates one fault).
    pub validators: usize,
    /// Funded test accounts whose keys are written.
    pub accounts: usize,
    /// Target block time.
    pub block_time_ms: u64,
    /// Blocks per epoch.
    pub epoch_length: u64,
    /// Chain id.
    pub chain_id: String,
    /// Environment of every validator process (`LAMBDA_CHAIN_*` overrides).
    pub env: Vec<(String, String)>,
}

impl Default for ChainSpec {
    fn default() -> Self {
        Self {
            validators: 4,
            accounts: 4,
            block_time_ms: 200,
            epoch_length: 20,
            chain_id: "test-chain".into(),
            env: Vec::new(),
        }
    }
}

/// One validator of a [`LocalChain`].
#[derive(Debug)]
pub struct LocalValidator {
    /// Its home directory.
    pub home: PathBuf,
    /// Its public API (`host:port`).
    pub api: SocketAddr,
    /// The running process (`None` while stopped by a test).
    pub process: Option<Process>,
}

/// A funded test account.
#[derive(Clone, Debug)]
pub struct LocalAccount {
    /// Its key file (as `lambda-chain` writes keys).
    pub key_file: PathBuf,
    /// Its address (hex).
    pub address: String,
}

/// A running local chain.
#[derive(Debug)]
pub struct LocalChain {
    /// The generated directory (`testnet.json`, `v0`…, `accounts/`).
    pub dir: PathBuf,
    /// The chain id.
    pub chain_id: String,
    /// The validators.
    pub validators: Vec<LocalValidator>,
    /// The funded test accounts.
    pub accounts: Vec<LocalAccount>,
    env: Vec<(String, String)>,
}

/// A base port with `count` free consecutive ports after it. Successive
/// calls in one process start from different places (tests of one binary
/// run in parallel, and a range is only free until its chain binds it).
pub fn free_port_range(count: u16) -> Result<u16> {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for attempt in 0..64u32 {
        let seed = std::process::id()
            .wrapping_mul(7919)
            .wrapping_add(call.wrapping_mul(15_485_863))
            .wrapping_add(attempt.wrapping_mul(104_729));
        let base = 20_000 + (seed % 40_000) as u16;
        if (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return Ok(base);
        }
    }
    bail!("no range of {count} free ports found")
}

fn str_field<'a>(v: &'a serde_json::Value, key: &str) -> Result<&'a str> {
    v.get(key)
        .and_then(|x| x.as_str())
        .with_context(|| format!("testnet.json: missing string {key:?}"))
}

impl LocalChain {
    /// Generates the testnet under `root` and starts every validator.
    pub fn start(root: &Path, spec: &ChainSpec) -> Result<Self> {
        let mut chain = Self::generate(root, spec)?;
        for i in 0..chain.validators.len() {
            chain.start_validator(i)?;
        }
        for v in &chain.validators {
            wait_for_port(v.api, Duration::from_secs(30))?;
        }
        Ok(chain)
    }

    /// Generates the testnet under `root` without starting anything.
    pub fn generate(root: &Path, spec: &ChainSpec) -> Result<Self> {
        let dir = root.join("chain");
        let base = free_port_range(2 * spec.validators as u16)?;
        let out = Command::new(binary("lambda-chain")?)
            .arg("testnet")
            .arg(spec.validators.to_string())
            .args(["--out", &dir.display().to_string()])
            .args(["--base-port", &base.to_string()])
            .args(["--accounts", &spec.accounts.to_string()])
            .args(["--block-time-ms", &spec.block_time_ms.to_string()])
            .args(["--epoch-length", &spec.epoch_length.to_string()])
            .args(["--chain-id", &spec.chain_id])
            .output()
            .context("running lambda-chain testnet")?;
        if !out.status.success() {
            bail!(
                "lambda-chain testnet failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = std::fs::read_to_string(dir.join("testnet.json"))?;
        let json: serde_json::Value = serde_json::from_str(&text)?;
        let list = |k: &str| -> Result<Vec<serde_json::Value>> {
            json.get(k)
                .and_then(|x| x.as_array())
                .cloned()
                .with_context(|| format!("testnet.json: missing list {k:?}"))
        };
        let validators = list("validators")?
            .iter()
            .map(|v| {
                Ok(LocalValidator {
                    home: PathBuf::from(str_field(v, "home")?),
                    api: str_field(v, "api")?.parse()?,
                    process: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let accounts = list("accounts")?
            .iter()
            .map(|a| {
                Ok(LocalAccount {
                    key_file: PathBuf::from(str_field(a, "key_file")?),
                    address: str_field(a, "address")?.to_string(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            dir,
            chain_id: str_field(&json, "chain_id")?.to_string(),
            validators,
            accounts,
            env: spec.env.clone(),
        })
    }

    /// Starts (or restarts) validator `i`.
    pub fn start_validator(&mut self, i: usize) -> Result<()> {
        let v = self
            .validators
            .get_mut(i)
            .with_context(|| format!("no validator {i}"))?;
        let log = v.home.join("validator.log");
        let args = vec![
            "start".into(),
            "--home".into(),
            v.home.display().to_string(),
        ];
        let env = self.env.clone();
        v.process = Some(Process::spawn(binary("lambda-chain")?, args, env, log)?);
        Ok(())
    }

    /// The validators' public API endpoints as `http://host:port`.
    pub fn api_endpoints(&self) -> Vec<String> {
        self.validators
            .iter()
            .map(|v| format!("http://{}", v.api))
            .collect()
    }

    /// Every validator's log, for a failing test to print.
    pub fn logs(&self) -> String {
        self.validators
            .iter()
            .map(|v| {
                let text =
                    std::fs::read_to_string(v.home.join("validator.log")).unwrap_or_default();
                format!("==== {} ====\n{text}", v.home.display())
            })
            .collect()
    }
}
