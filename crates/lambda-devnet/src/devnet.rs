//! [`Devnet`]: brings a devnet up (generate or reuse the files, start the
//! validators, pledge the storage nodes, start the nodes and the agent,
//! wait until the nodes are members and the cluster answers), gives tests
//! and the binary its endpoints and clients, reports children that die, and
//! stops everything in order.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lambda_chain::client::ChainClient;
use lambda_chain::state::NodeStatus;
use lambda_common::keys::Address;
use lambda_db::admin_cli::fetch_status;
use tokio::sync::mpsc;

use crate::error::DevnetError;
use crate::layout::{self, Manifest, NodeEntry};
use crate::pledge::{PledgeOutcome, pledge_node};
use crate::smoke::{self, SmokeReport};
use crate::spec::DevnetSpec;
use crate::supervisor::{Child, ChildSpec, UnexpectedExit};

/// The environment override of a validator's admin HTTP address.
const ADMIN_LISTEN_ENV: &str = "LAMBDA_CHAIN_ADMIN__LISTEN";

/// How long a child gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running devnet.
#[derive(Debug)]
pub struct Devnet {
    /// What it is made of.
    pub manifest: Manifest,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where its binaries are.
    pub bin_dir: PathBuf,
    /// True when the data directory held this devnet already.
    pub reused: bool,
    /// What the pledge step did, per node name.
    pub pledges: Vec<(String, PledgeOutcome)>,
    validators: Vec<Child>,
    nodes: Vec<Child>,
    agent: Option<Child>,
    events_tx: mpsc::UnboundedSender<UnexpectedExit>,
    events: mpsc::UnboundedReceiver<UnexpectedExit>,
    env: Vec<(String, String)>,
}

/// The directory of the running executable's binaries: where `cargo build`
/// put it (a test executable's `deps/` is stepped out of). `LAMBDA_BIN_DIR`
/// overrides it.
pub fn bin_dir() -> Result<PathBuf, DevnetError> {
    if let Some(d) = std::env::var_os("LAMBDA_BIN_DIR") {
        return Ok(PathBuf::from(d));
    }
    let exe = std::env::current_exe().map_err(DevnetError::io("current executable"))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    Ok(dir)
}

/// Polls `probe` every 200 ms until it yields `Some`, at most `timeout`.
async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T, DevnetError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            return Err(DevnetError::Timeout {
                what: what.to_string(),
                waited: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn listening(addr: SocketAddr) -> bool {
    tokio::net::TcpStream::connect(addr).await.is_ok()
}

impl Devnet {
    /// Brings the devnet of `spec` up (reusing `spec.data_dir` if it holds
    /// one) and returns once the storage nodes are chain members and every
    /// node sees every other up.
    pub async fn start(spec: &DevnetSpec) -> Result<Self, DevnetError> {
        spec.validate()?;
        let bin_dir = bin_dir()?;
        for name in ["lambda-chain", "lambda-db", "lambda-agent"] {
            let path = bin_dir.join(name);
            if !path.exists() {
                return Err(DevnetError::MissingBinary {
                    name: name.into(),
                    path,
                });
            }
        }
        std::fs::create_dir_all(&spec.data_dir).map_err(DevnetError::io(&spec.data_dir))?;
        let (manifest, reused) = layout::prepare(spec, &bin_dir)?;
        if reused
            && let Some(busy) = manifest
                .ports
                .busy_port(manifest.validators.len(), manifest.nodes.len())
        {
            return Err(DevnetError::Ports(format!(
                "{busy}, which this devnet uses, is in use (is it already running?)"
            )));
        }
        let (events_tx, events) = mpsc::unbounded_channel();
        let level = spec.log_filter.clone().unwrap_or_else(|| "info".into());
        let mut d = Self {
            data_dir: std::path::absolute(&spec.data_dir)
                .map_err(DevnetError::io(&spec.data_dir))?,
            manifest,
            bin_dir,
            reused,
            pledges: Vec::new(),
            validators: Vec::new(),
            nodes: Vec::new(),
            agent: None,
            events_tx,
            events,
            env: vec![("LAMBDA_LOG".into(), level)],
        };
        let up = d.bring_up().await;
        if let Err(e) = up {
            d.stop().await;
            return Err(e);
        }
        Ok(d)
    }

    async fn bring_up(&mut self) -> Result<(), DevnetError> {
        self.start_validators().await?;
        self.pledge_all().await?;
        // Members before they start: a node following the chain finds
        // itself in the epoch's membership from its first block.
        self.wait_members().await?;
        for i in 0..self.manifest.nodes.len() {
            let n = self.manifest.nodes[i].clone();
            let args = vec!["start".into(), "--config".into(), path_arg(&n.config)];
            let child = self.spawn(&n.name, "lambda-db", args)?;
            self.nodes.push(child);
        }
        for (i, n) in self.manifest.nodes.iter().enumerate() {
            wait_child_listening(&self.nodes[i], n.grpc, Duration::from_secs(60)).await?;
        }
        let args = vec![
            "start".into(),
            "--config".into(),
            path_arg(&self.manifest.agent.config),
        ];
        let agent = self.spawn("agent", "lambda-agent", args)?;
        wait_child_listening(&agent, self.manifest.agent.grpc, Duration::from_secs(60)).await?;
        self.agent = Some(agent);
        self.wait_cluster(Duration::from_secs(60)).await
    }

    fn spawn(&self, name: &str, program: &str, args: Vec<String>) -> Result<Child, DevnetError> {
        self.spawn_with(name, program, args, Vec::new())
    }

    /// [`Self::spawn`] with environment variables of its own.
    fn spawn_with(
        &self,
        name: &str,
        program: &str,
        args: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Result<Child, DevnetError> {
        let spec = ChildSpec {
            name: name.to_string(),
            program: self.bin_dir.join(program),
            args,
            env: self.env.iter().cloned().chain(env).collect(),
            log: self.logs_dir().join(format!("{name}.log")),
        };
        Child::spawn(spec, self.events_tx.clone())
    }

    async fn start_validators(&mut self) -> Result<(), DevnetError> {
        for (i, v) in self.manifest.validators.clone().into_iter().enumerate() {
            let args = vec!["start".into(), "--home".into(), path_arg(&v.home)];
            // The admin port (metrics, health, the dashboard) at its place
            // in the layout rather than the config's free port.
            let admin = self.manifest.validator_admin(i);
            let env = vec![(ADMIN_LISTEN_ENV.to_string(), admin.to_string())];
            let child = self.spawn_with(&v.name, "lambda-chain", args, env)?;
            self.validators.push(child);
        }
        for (i, v) in self.manifest.validators.iter().enumerate() {
            let child = &self.validators[i];
            wait_child_listening(child, v.api, Duration::from_secs(60)).await?;
            let admin = self.manifest.validator_admin(i);
            wait_child_listening(child, admin, Duration::from_secs(30)).await?;
        }
        let endpoints = self.manifest.chain_endpoints();
        poll(
            "the chain to commit blocks",
            Duration::from_secs(60),
            || {
                let endpoints = endpoints.clone();
                async move {
                    let mut c = connect_any(&endpoints).await.ok()?;
                    let s = c.status().await.ok()?;
                    (s.height >= 1).then_some(())
                }
            },
        )
        .await
    }

    async fn pledge_all(&mut self) -> Result<(), DevnetError> {
        let mut client = self.chain_client().await?;
        let endpoints = self.manifest.chain_endpoints();
        for n in self.manifest.nodes.clone() {
            let outcome = pledge_node(&mut client, &endpoints, &n, Duration::from_secs(30)).await?;
            self.pledges.push((n.name.clone(), outcome));
        }
        Ok(())
    }

    /// Waits until every storage node is a member on the chain (pledges
    /// take effect at the next epoch boundary).
    pub async fn wait_members(&self) -> Result<(), DevnetError> {
        let m = &self.manifest;
        let epoch = Duration::from_millis(m.block_time_ms * m.epoch_length);
        let ids: Vec<Address> = m
            .nodes
            .iter()
            .map(|n| n.id.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| DevnetError::Spec(format!("node id in the manifest: {e}")))?;
        let endpoints = m.chain_endpoints();
        let what = "the storage nodes to become chain members";
        poll(what, 3 * epoch + Duration::from_secs(30), || {
            let (ids, endpoints) = (ids.clone(), endpoints.clone());
            async move {
                let mut c = connect_any(&endpoints).await.ok()?;
                for id in ids {
                    if c.node(id).await.ok()?.status != NodeStatus::Member {
                        return None;
                    }
                }
                Some(())
            }
        })
        .await
    }

    /// Waits until every running storage node sees every running node up.
    pub async fn wait_cluster(&self, timeout: Duration) -> Result<(), DevnetError> {
        let up: Vec<(String, String)> = self
            .manifest
            .nodes
            .iter()
            .zip(&self.nodes)
            .filter(|(_, c)| c.is_running())
            .map(|(n, _)| (n.id.clone(), n.grpc.to_string()))
            .collect();
        poll("every node to see the others up", timeout, || {
            let up = up.clone();
            async move {
                for (_, endpoint) in &up {
                    let s = fetch_status(endpoint).await.ok()?;
                    let all = up
                        .iter()
                        .all(|(id, _)| s.nodes.iter().any(|x| x.id == *id && x.up));
                    if !all {
                        return None;
                    }
                }
                Some(())
            }
        })
        .await
    }

    /// Runs the smoke workload (SDK puts and gets, agent points).
    pub async fn smoke(&self) -> Result<SmokeReport, DevnetError> {
        smoke::run(
            &self.manifest.node_endpoints(),
            &self.agent_endpoint(),
            &self.manifest.client_key_file,
        )
        .await
    }

    /// A client of the first validator that answers.
    pub async fn chain_client(&self) -> Result<ChainClient, DevnetError> {
        connect_any(&self.manifest.chain_endpoints()).await
    }

    /// The web dashboard's URL (the first validator's admin port).
    pub fn dashboard_url(&self) -> String {
        self.manifest.dashboard_url()
    }

    /// The agent's endpoint (`http://host:port`).
    pub fn agent_endpoint(&self) -> String {
        format!("http://{}", self.manifest.agent.grpc)
    }

    /// Storage node `i` (0-based).
    pub fn node(&self, i: usize) -> Option<&NodeEntry> {
        self.manifest.nodes.get(i)
    }

    /// `DIR/logs`.
    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    /// True while storage node `i` runs.
    pub fn node_running(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(Child::is_running)
    }

    /// SIGKILLs storage node `i` (a crash).
    pub async fn kill_node(&mut self, i: usize) -> Result<(), DevnetError> {
        let c = self.nodes.get_mut(i).ok_or_else(|| no_node(i))?;
        c.kill9().await;
        Ok(())
    }

    /// Starts storage node `i` again and waits until it listens.
    pub async fn restart_node(&mut self, i: usize) -> Result<(), DevnetError> {
        let addr = self.node(i).ok_or_else(|| no_node(i))?.grpc;
        let c = self.nodes.get_mut(i).ok_or_else(|| no_node(i))?;
        c.restart().await?;
        wait_child_listening(c, addr, Duration::from_secs(60)).await
    }

    /// The next child that exited without being asked to.
    pub async fn next_unexpected_exit(&mut self) -> Option<UnexpectedExit> {
        self.events.recv().await
    }

    /// Stops the agent, then the storage nodes, then the validators, each
    /// gracefully (SIGTERM, then SIGKILL after [`STOP_GRACE`]). Returns
    /// (name, how it ended) per child that was running.
    pub async fn stop(&mut self) -> Vec<(String, String)> {
        let mut ended = stop_all(self.agent.iter_mut()).await;
        ended.extend(stop_all(self.nodes.iter_mut()).await);
        ended.extend(stop_all(self.validators.iter_mut()).await);
        ended
    }
}

/// Stops `children` concurrently (SIGTERM to all, then each waits).
async fn stop_all<'a>(children: impl Iterator<Item = &'a mut Child>) -> Vec<(String, String)> {
    let stops = children.map(|c| async move {
        let name = c.name().to_string();
        c.stop(STOP_GRACE).await.map(|s| (name, s))
    });
    futures::future::join_all(stops)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn no_node(i: usize) -> DevnetError {
    DevnetError::Spec(format!("no storage node {i}"))
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

async fn connect_any(endpoints: &[String]) -> Result<ChainClient, DevnetError> {
    let mut last = None;
    for e in endpoints {
        match ChainClient::connect(e).await {
            Ok(c) => return Ok(c),
            Err(err) => last = Some(err),
        }
    }
    Err(match last {
        Some(e) => e.into(),
        None => DevnetError::Spec("no validators".into()),
    })
}

async fn wait_child_listening(
    child: &Child,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), DevnetError> {
    let what = format!("{} to listen on {addr}", child.name());
    poll(&what, timeout, || async {
        if !child.is_running() {
            // Stop polling: the caller gets the exit below.
            return Some(false);
        }
        listening(addr).await.then_some(true)
    })
    .await
    .and_then(|ok| {
        if ok {
            Ok(())
        } else {
            Err(DevnetError::Process {
                name: child.name().to_string(),
                reason: format!("exited while starting; see {}", child.log().display()),
            })
        }
    })
}
