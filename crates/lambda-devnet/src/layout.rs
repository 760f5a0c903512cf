//! The devnet's files: generating a new devnet in a data directory (chain
//! testnet, node keys, configs, membership, agent config) and the manifest
//! `devnet.json` that lets a later run reuse it unchanged.
//!
//! ```text
//! DIR/devnet.json            this manifest
//! DIR/chain/                 `lambda-chain testnet`: v0… homes, accounts/, testnet.json
//! DIR/nodes/nK/config.toml   storage node K: config, node.key, data/
//! DIR/membership.toml        static membership (until nodes follow the chain)
//! DIR/agent/config.toml      the agent: config, data/
//! DIR/logs/<name>.log        every child's standard output and error
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use lambda_agent::daemon::AgentConfig;
use lambda_chain::node::home::Testnet;
use lambda_db::chain::load_or_create_identity;
use lambda_db::config::NodeConfig;
use serde::{Deserialize, Serialize};

use crate::error::DevnetError;
use crate::membership;
use crate::ports::PortPlan;
use crate::spec::{DevnetSpec, NODE_STAKE, node_profile};

/// Manifest format version.
const FORMAT: u32 = 1;
/// The manifest's file name in the data directory.
pub const MANIFEST: &str = "devnet.json";

/// A validator of the devnet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ValidatorEntry {
    /// `v0`, `v1`, …
    pub name: String,
    /// Its home (holds config.toml).
    pub home: PathBuf,
    /// Public API (`host:port`).
    pub api: std::net::SocketAddr,
    /// Validator port.
    pub p2p: std::net::SocketAddr,
    /// Its address (hex).
    pub address: String,
}

/// A storage node of the devnet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeEntry {
    /// `n1`, `n2`, …
    pub name: String,
    /// Node id: its node key's address in hex (ring and chain id).
    pub id: String,
    /// gRPC address (KV, admin, replica).
    pub grpc: std::net::SocketAddr,
    /// Gossip (UDP) address.
    pub gossip: std::net::SocketAddr,
    /// Failure zone.
    pub zone: String,
    /// Capacity, GiB.
    pub capacity_gib: u64,
    /// Bandwidth, Mbit/s.
    pub bandwidth_mbps: u64,
    /// Stake pledged.
    pub stake: u64,
    /// Its config file.
    pub config: PathBuf,
    /// Its node key.
    pub key_file: PathBuf,
    /// Its owner's account key (pays the stake; never in the node config).
    pub owner_key_file: PathBuf,
    /// The owner's address (hex).
    pub owner: String,
}

/// The agent of the devnet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentEntry {
    /// gRPC address.
    pub grpc: std::net::SocketAddr,
    /// Its config file.
    pub config: PathBuf,
    /// The client account the agent signs its requests with.
    pub key_file: PathBuf,
}

/// Everything a devnet is, as `devnet.json` stores it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub format: u32,
    /// Chain id.
    pub chain_id: String,
    /// Target block time (ms), fixed in the genesis.
    pub block_time_ms: u64,
    /// Blocks per epoch, fixed in the genesis.
    pub epoch_length: u64,
    /// The port layout.
    pub ports: PortPlan,
    /// Validators.
    pub validators: Vec<ValidatorEntry>,
    /// Storage nodes.
    pub nodes: Vec<NodeEntry>,
    /// The agent.
    pub agent: AgentEntry,
    /// A funded client account (for the SDK once requests are billed).
    pub client_key_file: PathBuf,
    /// Its address (hex).
    pub client_address: String,
}

impl Manifest {
    /// The validators' API endpoints as `http://host:port`.
    pub fn chain_endpoints(&self) -> Vec<String> {
        self.validators
            .iter()
            .map(|v| format!("http://{}", v.api))
            .collect()
    }

    /// The storage nodes' endpoints as `http://host:port`.
    pub fn node_endpoints(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("http://{}", n.grpc))
            .collect()
    }

    /// Validator `i`'s admin HTTP address (`/metrics`, `/health`, the
    /// dashboard), from the port layout.
    pub fn validator_admin(&self, i: usize) -> std::net::SocketAddr {
        self.ports.validator_admin(i)
    }

    /// The web dashboard's URL (the first validator's; every validator
    /// serves it on its admin port).
    pub fn dashboard_url(&self) -> String {
        format!("http://{}/", self.validator_admin(0))
    }
}

/// Loads the devnet in `dir`, or generates one there with `bin_dir`'s
/// `lambda-chain`. Returns the manifest and whether it was reused.
pub fn prepare(spec: &DevnetSpec, bin_dir: &Path) -> Result<(Manifest, bool), DevnetError> {
    let dir = &spec.data_dir;
    let path = dir.join(MANIFEST);
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(DevnetError::io(&path))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| DevnetError::DataDir {
            path: path.clone(),
            reason: format!("manifest does not parse: {e}"),
        })?;
        if m.format != FORMAT {
            return Err(DevnetError::DataDir {
                path,
                reason: format!("manifest format {} (this devnet reads {FORMAT})", m.format),
            });
        }
        return Ok((m, true));
    }
    let non_empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if non_empty {
        return Err(DevnetError::DataDir {
            path: dir.clone(),
            reason: format!("not empty and holds no {MANIFEST}; pick an empty or new directory"),
        });
    }
    std::fs::create_dir_all(dir.join("logs")).map_err(DevnetError::io(dir.join("logs")))?;
    let m = generate(spec, bin_dir)?;
    let text = serde_json::to_string_pretty(&m).map_err(|e| DevnetError::DataDir {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    std::fs::write(&path, text).map_err(DevnetError::io(&path))?;
    Ok((m, false))
}

fn generate(spec: &DevnetSpec, bin_dir: &Path) -> Result<Manifest, DevnetError> {
    let dir = std::path::absolute(&spec.data_dir).map_err(DevnetError::io(&spec.data_dir))?;
    let ports = PortPlan::choose(spec.ports, spec.validators, spec.nodes)?;
    let testnet = generate_chain(spec, &dir, ports, bin_dir)?;
    let validators = testnet
        .validators
        .iter()
        .enumerate()
        .map(|(i, v)| ValidatorEntry {
            name: format!("v{i}"),
            home: v.home.clone(),
            api: v.api,
            p2p: v.p2p,
            address: v.address.to_string(),
        })
        .collect();
    let client = testnet
        .accounts
        .get(spec.nodes)
        .ok_or_else(|| DevnetError::Spec("lambda-chain testnet wrote too few accounts".into()))?;
    let agent_account = testnet
        .accounts
        .get(spec.nodes + 1)
        .ok_or_else(|| DevnetError::Spec("lambda-chain testnet wrote too few accounts".into()))?;
    let mut nodes = Vec::with_capacity(spec.nodes);
    for (i, owner) in testnet.accounts.iter().take(spec.nodes).enumerate() {
        nodes.push(node_entry(&dir, i, ports, owner)?);
    }
    let agent = AgentEntry {
        grpc: ports.agent(),
        config: dir.join("agent/config.toml"),
        key_file: agent_account.key_file.clone(),
    };
    let m = Manifest {
        format: FORMAT,
        chain_id: testnet.chain_id.clone(),
        block_time_ms: spec.block_time_ms,
        epoch_length: spec.epoch_length,
        ports,
        validators,
        nodes,
        agent,
        client_key_file: client.key_file.clone(),
        client_address: client.address.to_string(),
    };
    membership::write_node_files(&m, &dir)?;
    write_agent_config(&m, &dir)?;
    Ok(m)
}

fn generate_chain(
    spec: &DevnetSpec,
    dir: &Path,
    ports: PortPlan,
    bin_dir: &Path,
) -> Result<Testnet, DevnetError> {
    let out_dir = dir.join("chain");
    let out = Command::new(bin_dir.join("lambda-chain"))
        .arg("testnet")
        .arg(spec.validators.to_string())
        .arg("--out")
        .arg(&out_dir)
        .args(["--base-port", &ports.base.to_string()])
        // One owner account per storage node, one client account for the
        // SDK, one for the agent (a key signs from one process at a time:
        // its request counters and usage statements are per process).
        .args(["--accounts", &(spec.nodes + 2).to_string()])
        .args(["--block-time-ms", &spec.block_time_ms.to_string()])
        .args(["--epoch-length", &spec.epoch_length.to_string()])
        .args(["--chain-id", "lambda-devnet"])
        .output()
        .map_err(|e| DevnetError::Process {
            name: "lambda-chain testnet".into(),
            reason: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(DevnetError::Process {
            name: "lambda-chain testnet".into(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Testnet::load(&out_dir).map_err(|e| DevnetError::DataDir {
        path: out_dir,
        reason: e.to_string(),
    })
}

fn node_entry(
    dir: &Path,
    i: usize,
    ports: PortPlan,
    owner: &lambda_chain::node::home::TestAccount,
) -> Result<NodeEntry, DevnetError> {
    let name = format!("n{}", i + 1);
    let home = dir.join("nodes").join(&name);
    let key_file = home.join("node.key");
    let identity = load_or_create_identity(&key_file).map_err(|e| DevnetError::Key {
        path: key_file.clone(),
        reason: e.to_string(),
    })?;
    let (capacity_gib, bandwidth_mbps, zone) = node_profile(i);
    Ok(NodeEntry {
        name,
        id: identity.device_id().to_string(),
        grpc: ports.node_grpc(i),
        gossip: ports.node_gossip(i),
        zone: zone.to_string(),
        capacity_gib,
        bandwidth_mbps,
        stake: NODE_STAKE,
        config: home.join("config.toml"),
        key_file,
        owner_key_file: owner.key_file.clone(),
        owner: owner.address.to_string(),
    })
}

/// A storage node's configuration: fast failure detection, hint delivery,
/// anti-entropy rounds and membership changes for a local devnet (client
/// deadlines capped at 10 s, so a membership change settles 10 s after
/// every node installed it), the chain's endpoints and its node key.
pub(crate) fn node_config(m: &Manifest, n: &NodeEntry) -> NodeConfig {
    let mut cfg = NodeConfig {
        node_id: n.id.clone(),
        data_dir: n.config.with_file_name("data"),
        listen: n.grpc,
        shutdown_grace_ms: 3000,
        ..NodeConfig::default()
    };
    cfg.cluster.rpc_timeout_ms = 1500;
    cfg.cluster.suspect_ms = 3000;
    cfg.cluster.startup_grace_ms = 3000;
    cfg.cluster.gossip_interval_ms = 200;
    cfg.hints.scan_interval_ms = 500;
    cfg.replication.max_timeout_ms = 10_000;
    cfg.aae.round_interval_ms = 10_000;
    cfg.transition.drop_grace_ms = 10_000;
    cfg.chain.endpoints = m.chain_endpoints();
    cfg.chain.node_key_file = Some(n.key_file.clone());
    cfg
}

/// Writes `cfg` as TOML to `path`.
pub(crate) fn write_toml<T: Serialize>(
    name: &str,
    cfg: &T,
    path: &Path,
) -> Result<(), DevnetError> {
    let text = lambda_common::config::to_toml(cfg).map_err(|e| DevnetError::Config {
        name: name.to_string(),
        reason: e.to_string(),
    })?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(DevnetError::io(parent))?;
    }
    std::fs::write(path, text).map_err(DevnetError::io(path))
}

fn write_agent_config(m: &Manifest, dir: &Path) -> Result<(), DevnetError> {
    let mut cfg = AgentConfig {
        data_dir: dir.join("agent/data"),
        listen: m.agent.grpc,
        shutdown_grace_ms: 5000,
        ..AgentConfig::default()
    };
    cfg.cluster.endpoints = m.node_endpoints();
    // The nodes bill every request: the agent signs with the client account.
    cfg.cluster.key_file = Some(m.agent.key_file.clone());
    // One-minute blocks, sealed soon after: the devnet's series reach the
    // cluster within a minute or two instead of the default ten.
    cfg.tsdb.block_ms = 60_000;
    cfg.tsdb.seal_grace_ms = 5_000;
    cfg.collector.interval_ms = 5_000;
    write_toml("agent", &cfg, &m.agent.config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_empty_directory_without_a_manifest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "x").unwrap();
        let spec = DevnetSpec::new(dir.path());
        let e = prepare(&spec, Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds no devnet.json"), "{e}");
    }

    #[test]
    fn a_manifest_of_another_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST), "{\"format\": 99}").unwrap();
        let spec = DevnetSpec::new(dir.path());
        let e = prepare(&spec, Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not parse"), "{e}");
    }
}
