//! A local cluster of `lambda-db` processes on loopback, for multi-process
//! tests and load generators: writes the membership file and one config per
//! node, starts the processes, and lets the caller kill, pause, resume and
//! restart any of them, wipe a node's data directory, and change the
//! membership (add or remove a node: the file is rewritten with the next
//! epoch, which the nodes pick up by watching it). [`ChainNode`] is a node
//! in chain mode (membership from a [`crate::chain::LocalChain`], joined by
//! `lambda-db pledge`).

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
    /// The epoch written in the membership file.
    pub epoch: u64,
    /// Ids of the nodes in the membership file.
    pub members: Vec<String>,
    root: PathBuf,
    spec: ClusterSpec,
}

fn free_udp_port() -> Result<u16> {
    let s = UdpSocket::bind("127.0.0.1:0").context("binding a UDP port")?;
    Ok(s.local_addr()?.port())
}

/// A node's id and addresses, as the membership file lists it.
#[derive(Clone, Debug)]
struct Entry {
    id: String,
    addr: SocketAddr,
    gossip: SocketAddr,
}

fn membership_toml(epoch: u64, nodes: &[Entry], zones: usize) -> String {
    let mut out = format!("epoch = {epoch}\n");
    for n in nodes {
        let i: usize = n.id[1..].parse().unwrap_or(1);
        out.push_str(&format!(
            "\n[[node]]\nid = \"{}\"\nendpoint = \"{}\"\ngossip = \"{}\"\ncapacity = 100\nbandwidth = 100\nzone = \"z{}\"\n",
            n.id,
            n.addr,
            n.gossip,
            (i - 1) % zones.max(1)
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
        std::fs::create_dir_all(root)?;
        let mut cluster = Self {
            nodes: Vec::new(),
            membership_file: root.join("membership.toml"),
            epoch: 1,
            members: Vec::new(),
            root: root.to_path_buf(),
            spec: spec.clone(),
        };
        let planned = (1..=spec.nodes)
            .map(|i| cluster.plan(&format!("n{i}")))
            .collect::<Result<Vec<_>>>()?;
        cluster.members = planned.iter().map(|e| e.id.clone()).collect();
        cluster.write_membership(&planned)?;
        for e in planned {
            let node = cluster.spawn(e)?;
            cluster.nodes.push(node);
        }
        for n in &cluster.nodes {
            wait_for_port(n.addr, Duration::from_secs(60))
                .with_context(|| format!("{} log:\n{}", n.id, n.process.log()))?;
        }
        Ok(cluster)
    }

    /// Allocates the ports of node `id`.
    fn plan(&self, id: &str) -> Result<Entry> {
        Ok(Entry {
            id: id.to_string(),
            addr: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
            gossip: SocketAddr::from(([127, 0, 0, 1], free_udp_port()?)),
        })
    }

    /// Writes the config of a planned node and starts it.
    fn spawn(&self, e: Entry) -> Result<LocalNode> {
        let data_dir = self.root.join(&e.id);
        let config = self.root.join(format!("{}.toml", e.id));
        std::fs::write(
            &config,
            node_toml(
                &e.id,
                &data_dir,
                e.addr,
                &self.membership_file,
                &self.spec.extra_config,
            ),
        )?;
        let args = vec![
            "start".into(),
            "--config".into(),
            config.display().to_string(),
        ];
        let process = Process::spawn(
            binary("lambda-db")?,
            args,
            self.spec.env.clone(),
            self.root.join(format!("{}.log", e.id)),
        )?;
        Ok(LocalNode {
            id: e.id,
            addr: e.addr,
            gossip: e.gossip,
            data_dir,
            process,
        })
    }

    /// The membership entries of the current members plus `extra`.
    fn entries(&self, extra: &[Entry]) -> Vec<Entry> {
        let mut out: Vec<Entry> = self
            .nodes
            .iter()
            .filter(|n| self.members.contains(&n.id))
            .map(|n| Entry {
                id: n.id.clone(),
                addr: n.addr,
                gossip: n.gossip,
            })
            .collect();
        out.extend(
            extra
                .iter()
                .filter(|e| self.members.contains(&e.id))
                .cloned(),
        );
        out
    }

    /// Writes the membership file at the current epoch (atomically, so a
    /// node never reads half a file).
    fn write_membership(&self, nodes: &[Entry]) -> Result<()> {
        let tmp = self.root.join("membership.toml.tmp");
        std::fs::write(&tmp, membership_toml(self.epoch, nodes, self.spec.zones))?;
        std::fs::rename(&tmp, &self.membership_file)?;
        Ok(())
    }

    /// Starts a new node and adds it to the membership (next epoch);
    /// returns its index in `nodes`.
    pub fn add_node(&mut self) -> Result<usize> {
        let e = self.plan(&format!("n{}", self.nodes.len() + 1))?;
        self.members.push(e.id.clone());
        self.epoch += 1;
        self.write_membership(&self.entries(std::slice::from_ref(&e)))?;
        let node = self.spawn(e)?;
        wait_for_port(node.addr, Duration::from_secs(60)).with_context(|| node.process.log())?;
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    /// Removes node `i` from the membership (next epoch); the process keeps
    /// running (it serves until the change is over).
    pub fn remove_node(&mut self, i: usize) -> Result<()> {
        let id = self.nodes[i].id.clone();
        self.members.retain(|m| *m != id);
        self.epoch += 1;
        self.write_membership(&self.entries(&[]))
    }

    /// Kills node `i`, deletes its data directory, and starts it again
    /// (it comes back with a new actor id and no data).
    pub fn wipe(&mut self, i: usize) -> Result<()> {
        let n = &mut self.nodes[i];
        n.process.kill9()?;
        if n.data_dir.exists() {
            std::fs::remove_dir_all(&n.data_dir)?;
        }
        n.process.restart()?;
        wait_for_port(n.addr, Duration::from_secs(60)).with_context(|| n.process.log())
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
         [replication]\nmax_timeout_ms = 5000\n\n[transition]\ntick_ms = 200\n\n\
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
