//! A local cluster of `lambda-db` processes on loopback, for multi-process
//! tests and load generators: writes the membership file and one config per
//! node, starts the processes, and lets the caller kill, pause, resume and
//! restart any of them. [`ChainNode`] is a node in chain mode (membership
//! from a [`crate::chain::LocalChain`], joined by `lambda-db pledge`).

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{Process, binary, free_port, wait_for_port};

/// How to build the cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Number of nodes.
    pub nodes: usize,
    /// Zones, assigned round robin.
    pub zones: usize,
    /// Extra TOML appended to every node's config (e.g. `[limits]` tweaks).
    pub extra_config: String,
    /// Environment variables of every node (e.g. `LAMBDA_LOG`).
    pub env: Vec<(String, String)>,
}

impl ClusterSpec {
    /// `nodes` nodes in as many zones, fast failure detection for tests.
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes,
            zones: nodes,
            extra_config: String::new(),
            env: Vec::new(),
        }
    }
}

/// One node of a local cluster.
#[derive(Debug)]
pub struct LocalNode {
    /// Node id (`n1`, `n2`, …).
    pub id: String,
    /// gRPC address.
    pub addr: SocketAddr,
    /// Gossip address.
    pub gossip: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// The process.
    pub process: Process,
}

/// A running local cluster.
#[derive(Debug)]
pub struct LocalCluster {
    /// The nodes, in id order.
    pub nodes: Vec<LocalNode>,
    /// The membership file.
    pub membership_file: PathBuf,
}

fn free_udp_port() -> Result<u16> {
    let s = UdpSocket::bind("127.0.0.1:0").context("binding a UDP port")?;
    Ok(s.local_addr()?.port())
}

fn membership_toml(
    ids: &[String],
    addrs: &[SocketAddr],
    gossip: &[SocketAddr],
    zones: usize,
) -> String {
    let mut out = String::from("epoch = 1\n");
    for (i, id) in ids.iter().enumerate() {
        out.push_str(&format!(
            "\n[[node]]\nid = \"{id}\"\nendpoint = \"{}\"\ngossip = \"{}\"\ncapacity = 100\nbandwidth = 100\nzone = \"z{}\"\n",
            addrs[i],
            gossip[i],
            i % zones.max(1)
        ));
    }
    out
}

fn node_toml(id: &str, dir: &Path, addr: SocketAddr, membership: &Path, extra: &str) -> String {
    format!(
        "node_id = \"{id}\"\ndata_dir = \"{}\"\nlisten = \"{addr}\"\nshutdown_grace_ms = 2000\n\n\
         [cluster]\nmembership_file = \"{}\"\nrpc_timeout_ms = 1500\nsuspect_ms = 3000\n\
         startup_grace_ms = 2000\ngossip_interval_ms = 100\n\n\
         [hints]\nscan_interval_ms = 200\n\n{extra}\n",
        dir.display(),
        membership.display()
    )
}

impl LocalCluster {
    /// Writes the files under `root` and starts every node.
    pub fn start(root: &Path, spec: &ClusterSpec) -> Result<Self> {
        let ids: Vec<String> = (1..=spec.nodes).map(|i| format!("n{i}")).collect();
        let addrs = (0..spec.nodes)
            .map(|_| Ok(SocketAddr::from(([127, 0, 0, 1], free_port()?))))
            .collect::<Result<Vec<_>>>()?;
        let gossip = (0..spec.nodes)
            .map(|_| Ok(SocketAddr::from(([127, 0, 0, 1], free_udp_port()?))))
            .collect::<Result<Vec<_>>>()?;
        std::fs::create_dir_all(root)?;
        let membership_file = root.join("membership.toml");
        std::fs::write(
            &membership_file,
            membership_toml(&ids, &addrs, &gossip, spec.zones),
        )?;
        let bin = binary("lambda-db")?;
        let mut nodes = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let data_dir = root.join(id);
            let config = root.join(format!("{id}.toml"));
            std::fs::write(
                &config,
                node_toml(
                    id,
                    &data_dir,
                    addrs[i],
                    &membership_file,
                    &spec.extra_config,
                ),
            )?;
            let args = vec![
                "start".into(),
                "--config".into(),
                config.display().to_string(),
            ];
            let process = Process::spawn(
                bin.clone(),
                args,
                spec.env.clone(),
                root.join(format!("{id}.log")),
            )?;
            nodes.push(LocalNode {
                id: id.clone(),
                addr: addrs[i],
                gossip: gossip[i],
                data_dir,
                process,
            });
        }
        for n in &nodes {
            wait_for_port(n.addr, Duration::from_secs(60))
                .with_context(|| format!("{} log:\n{}", n.id, n.process.log()))?;
        }
        Ok(Self {
            nodes,
            membership_file,
        })
    }

    /// gRPC endpoints as `http://` URIs.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("http://{}", n.addr))
            .collect()
    }

    /// Restarts node `i` (after a kill) and waits until it listens.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        let n = &mut self.nodes[i];
        n.process.restart()?;
        wait_for_port(n.addr, Duration::from_secs(60)).with_context(|| n.process.log())
    }

    /// Every node's log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("===== {} =====\n{}", n.id, n.process.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A `lambda-db` node in chain mode: its config names the chain's
/// validators, its id is its node key's address (written to
/// `<data_dir>/node.key` on first start), it joins once pledged.
#[derive(Debug)]
pub struct ChainNode {
    /// A name for logs (`c1`, …).
    pub name: String,
    /// gRPC address (and, over UDP, gossip).
    pub addr: SocketAddr,
    /// The config file (for `lambda-db pledge --config`).
    pub config: PathBuf,
    /// Data directory.
    pub data_dir: PathBuf,
    /// The process.
    pub process: Process,
}

/// The config of a chain-mode node: fast failure detection, offline
/// reports after `offline_after_ms`.
pub fn chain_node_toml(
    dir: &Path,
    addr: SocketAddr,
    endpoints: &[String],
    offline_after_ms: u64,
    extra: &str,
) -> String {
    let eps: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "data_dir = \"{}\"\nlisten = \"{addr}\"\nshutdown_grace_ms = 2000\n\n\
         [cluster]\nrpc_timeout_ms = 1500\nsuspect_ms = 3000\nstartup_grace_ms = 2000\n\
         gossip_interval_ms = 100\n\n[hints]\nscan_interval_ms = 200\n\n\
         [chain]\nendpoints = [{}]\noffline_report_after_ms = {offline_after_ms}\n\n{extra}\n",
        dir.display(),
        eps.join(", ")
    )
}

impl ChainNode {
    /// Writes the config under `root/<name>` and starts the node; waits
    /// until it listens (it serves health before it is a member).
    pub fn start(
        root: &Path,
        name: &str,
        endpoints: &[String],
        offline_after_ms: u64,
        env: Vec<(String, String)>,
    ) -> Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let data_dir = root.join(name);
        std::fs::create_dir_all(&data_dir)?;
        let config = root.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            chain_node_toml(&data_dir, addr, endpoints, offline_after_ms, ""),
        )?;
        let args = vec![
            "start".into(),
            "--config".into(),
            config.display().to_string(),
        ];
        let process = Process::spawn(
            binary("lambda-db")?,
            args,
            env,
            root.join(format!("{name}.log")),
        )?;
        wait_for_port(addr, Duration::from_secs(60))
            .with_context(|| format!("{name} log:\n{}", process.log()))?;
        Ok(Self {
            name: name.into(),
            addr,
            config,
            data_dir,
            process,
        })
    }

    /// Runs `lambda-db pledge` for this node with `owner_key`; returns the
    /// command's JSON output.
    pub fn pledge(
        &self,
        owner_key: &Path,
        stake: u64,
        capacity: u64,
        bandwidth: u64,
        zone: &str,
    ) -> Result<serde_json::Value> {
        let args = [
            "pledge".to_string(),
            "--config".into(),
            self.config.display().to_string(),
            "--owner-key".into(),
            owner_key.display().to_string(),
            "--stake".into(),
            stake.to_string(),
            "--capacity".into(),
            capacity.to_string(),
            "--bandwidth".into(),
            bandwidth.to_string(),
            "--zone".into(),
            zone.into(),
            "-o".into(),
            "json".into(),
        ];
        run_json(&args)
    }
}

/// Runs `lambda-db ARGS` and parses its standard output as JSON; the error
/// carries standard error.
pub fn run_json(args: &[String]) -> Result<serde_json::Value> {
    let out = std::process::Command::new(binary("lambda-db")?)
        .args(args)
        .output()
        .context("running lambda-db")?;
    if !out.status.success() {
        anyhow::bail!(
            "lambda-db {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("lambda-db output is not JSON")
}
