//! The async driver of a validator: it owns the consensus core, the
//! write-ahead log, the timers, the network and the application, and turns
//! the core's effects into I/O.
//!
//! One task runs the event loop (inbox, timers, rebroadcast tick, synced
//! blocks, the next height's start); it is the only place the core is
//! touched, so the core stays a plain single-threaded state machine.
//! [`Runner::start`] binds the gRPC server, replays the log, starts the
//! loop and returns a [`RunnerHandle`].

mod effects;
mod sync_task;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lambda_common::keys::{Address, SigningKey};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use super::app::{AppError, Application, CommittedBlock};
use super::io::{Input, Message, Timeout};
use super::tendermint::{EngineConfig, Tendermint};
use super::wal::{Wal, WalError};
use super::{ConsensusEngine, Metrics};
use crate::network::NetworkConfig;
use crate::network::peers::Peers;
use crate::network::server::{ConsensusServer, InboxCounters, NodeStatus, bind, serve_with};
use crate::types::{DoubleSignEvidence, Height};

/// Configuration of a validator's consensus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunnerConfig {
    /// Directory of the write-ahead log.
    pub data_dir: PathBuf,
    /// Address of the validator-to-validator gRPC server.
    pub listen: SocketAddr,
    /// The core: chain id, timeouts, bounds.
    pub engine: EngineConfig,
    /// Peers and transport.
    pub network: NetworkConfig,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data/chain"),
            listen: SocketAddr::from(([127, 0, 0, 1], 26_656)),
            engine: EngineConfig::default(),
            network: NetworkConfig::default(),
        }
    }
}

/// Why a validator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The write-ahead log failed; the validator stops rather than sign
    /// without it.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The application failed.
    #[error(transparent)]
    App(#[from] AppError),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

/// Counters of a running validator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunnerMetrics {
    /// The core's counters (ignored, dropped, refused, detected).
    pub engine: Metrics,
    /// Messages delivered to peers.
    pub sent: u64,
    /// Messages dropped because a peer's queue was full.
    pub peer_queue_full: u64,
    /// Messages dropped because a send to a peer failed.
    pub send_failed: u64,
    /// Received messages passed to the loop.
    pub inbox_accepted: u64,
    /// Received messages dropped because the inbox was full.
    pub inbox_dropped: u64,
    /// Received messages that did not decode.
    pub malformed: u64,
}

/// A running validator.
#[derive(Debug)]
pub struct RunnerHandle {
    /// The bound gRPC address.
    pub addr: SocketAddr,
    /// This validator's address.
    pub validator: Address,
    status: Arc<NodeStatus>,
    evidence: Arc<Mutex<Vec<DoubleSignEvidence>>>,
    metrics: Arc<Mutex<RunnerMetrics>>,
    inbox_counters: Arc<InboxCounters>,
    /// Resolves when the loop stops (after `shutdown` fires, or on a fatal
    /// error).
    pub task: JoinHandle<Result<(), RunnerError>>,
}

impl RunnerHandle {
    /// The height being decided.
    pub fn height(&self) -> Height {
        self.status.height.load(Ordering::Relaxed)
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> RunnerMetrics {
        let mut m = self.metrics.lock().clone();
        m.inbox_accepted = self.inbox_counters.accepted.load(Ordering::Relaxed);
        m.inbox_dropped = self.inbox_counters.dropped_full.load(Ordering::Relaxed);
        m.malformed = self.inbox_counters.malformed.load(Ordering::Relaxed);
        m
    }

    /// Double-sign evidence detected so far (taken: each is returned once),
    /// for the node to submit on chain.
    pub fn take_evidence(&self) -> Vec<DoubleSignEvidence> {
        std::mem::take(&mut *self.evidence.lock())
    }
}

/// The validator's event loop state.
pub struct Runner {
    cfg: RunnerConfig,
    engine: Box<dyn ConsensusEngine>,
    wal: Wal,
    app: Arc<dyn Application>,
    peers: Peers,
    status: Arc<NodeStatus>,
    evidence: Arc<Mutex<Vec<DoubleSignEvidence>>>,
    metrics: Arc<Mutex<RunnerMetrics>>,
    timer_tx: mpsc::UnboundedSender<Timeout>,
    height_started: Instant,
    next_start: Option<(Instant, Height)>,
    shutdown: CancellationToken,
}

/// The loop's input channels.
struct Channels {
    inbox: mpsc::Receiver<Message>,
    timers: mpsc::UnboundedReceiver<Timeout>,
    synced: mpsc::Receiver<Vec<CommittedBlock>>,
}

impl Runner {
    /// Binds the server, replays the write-ahead log, starts the loop at the
    /// height after the application's last committed one, and returns.
    pub async fn start(
        cfg: RunnerConfig,
        app: Arc<dyn Application>,
        key: SigningKey,
        shutdown: CancellationToken,
    ) -> Result<RunnerHandle, RunnerError> {
        Self::start_with_routes(cfg, app, key, Routes::default(), shutdown).await
    }

    /// [`Runner::start`], serving `extra` services on the validator port
    /// beside the consensus service.
    pub async fn start_with_routes(
        cfg: RunnerConfig,
        app: Arc<dyn Application>,
        key: SigningKey,
        extra: Routes,
        shutdown: CancellationToken,
    ) -> Result<RunnerHandle, RunnerError> {
        let validator = key.public().address();
        let wal = Wal::open(&cfg.data_dir)?;
        tracing::info!(entries = wal.entries().len(), %validator, "write-ahead log replayed");
        let engine = Tendermint::new(cfg.engine.clone(), key, wal.entries().to_vec());
        let status = Arc::new(NodeStatus::default());
        let inbox_counters = Arc::new(InboxCounters::default());
        let (inbox_tx, inbox) = mpsc::channel(cfg.network.inbox.max(1));
        let server = ConsensusServer::new(
            inbox_tx,
            app.clone(),
            status.clone(),
            inbox_counters.clone(),
            &cfg.network,
            validator,
        );
        let addr = spawn_server(&cfg, server, extra, shutdown.clone()).await?;
        let (synced_tx, synced) = mpsc::channel(4);
        sync_task::spawn(
            cfg.network.clone(),
            app.clone(),
            status.clone(),
            synced_tx,
            shutdown.clone(),
        );
        let (timer_tx, timers) = mpsc::unbounded_channel();
        let evidence = Arc::new(Mutex::new(Vec::new()));
        let metrics = Arc::new(Mutex::new(RunnerMetrics::default()));
        let runner = Runner {
            metrics: metrics.clone(),
            peers: Peers::start(&cfg.network, &shutdown),
            cfg,
            engine: Box::new(engine),
            wal,
            app,
            status: status.clone(),
            evidence: evidence.clone(),
            timer_tx,
            height_started: Instant::now(),
            next_start: None,
            shutdown,
        };
        let channels = Channels {
            inbox,
            timers,
            synced,
        };
        let task = tokio::spawn(runner.run(channels));
        tracing::info!(%addr, %validator, "validator consensus started");
        Ok(RunnerHandle {
            addr,
            validator,
            status,
            evidence,
            metrics,
            inbox_counters,
            task,
        })
    }

    async fn run(mut self, mut ch: Channels) -> Result<(), RunnerError> {
        let first = self.app.committed_height() + 1;
        self.start_height(first).await?;
        let mut gossip = tokio::time::interval(self.cfg.network.gossip_interval);
        gossip.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next_start = self.next_start;
            let wake =
                next_start.map_or_else(|| Instant::now() + Duration::from_secs(3600), |(at, _)| at);
            tokio::select! {
                () = self.shutdown.cancelled() => return Ok(()),
                Some(m) = ch.inbox.recv() => {
                    let input = match m {
                        Message::Proposal(p) => Input::Proposal(p),
                        Message::Vote(v) => Input::Vote(v),
                    };
                    self.feed(input).await?;
                }
                Some(t) = ch.timers.recv() => self.feed(Input::Timeout(t)).await?,
                Some(blocks) = ch.synced.recv() => self.apply_synced(blocks).await?,
                () = tokio::time::sleep_until(wake), if next_start.is_some() => {
                    if let Some((_, h)) = self.next_start.take() {
                        self.start_height(h).await?;
                    }
                }
                _ = gossip.tick() => self.gossip(),
            }
        }
    }

    fn publish_metrics(&self) {
        let c = self.peers.counters();
        let mut m = self.metrics.lock();
        m.engine = self.engine.metrics().clone();
        m.sent = c.sent.load(Ordering::Relaxed);
        m.peer_queue_full = c.queue_full.load(Ordering::Relaxed);
        m.send_failed = c.send_failed.load(Ordering::Relaxed);
    }

    fn gossip(&mut self) {
        self.publish_metrics();
        for m in self.engine.gossip() {
            self.peers.broadcast(&m);
        }
        let stalled = self.height_started.elapsed() > self.cfg.network.sync_after_stall;
        self.status
            .need_sync
            .store(self.engine.behind() || stalled, Ordering::Relaxed);
    }

    async fn start_height(&mut self, height: Height) -> Result<(), RunnerError> {
        if self.engine.height() >= height && self.engine.height() != 0 {
            return Ok(());
        }
        let app = self.app.clone();
        let validators = blocking(move || app.validators(height)).await??;
        self.wal.prune_below(height)?;
        self.height_started = Instant::now();
        self.next_start = None;
        self.status.height.store(height, Ordering::Relaxed);
        tracing::debug!(height, "starting height");
        self.feed(Input::StartHeight { height, validators }).await
    }

    /// Applies blocks fetched by sync, in order, each checked first.
    async fn apply_synced(&mut self, blocks: Vec<CommittedBlock>) -> Result<(), RunnerError> {
        let mut applied = None;
        for b in blocks {
            if b.height != self.app.committed_height() + 1 {
                continue;
            }
            let app = self.app.clone();
            let chain_id = self.cfg.engine.chain_id.clone();
            let height = b.height;
            let outcome = blocking(move || {
                crate::network::sync::verify(&chain_id, app.as_ref(), &b)?;
                app.commit(&b)?;
                Ok::<_, crate::network::sync::SyncError>(())
            })
            .await?;
            match outcome {
                Ok(()) => {
                    tracing::info!(height, "block committed through sync");
                    applied = Some(height);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "synced block refused");
                    break;
                }
            }
        }
        match applied {
            Some(h) if self.engine.height() <= h => self.start_height(h + 1).await,
            _ => Ok(()),
        }
    }
}

/// Binds the listen address and serves the consensus service until
/// `shutdown`; returns the bound address.
async fn spawn_server(
    cfg: &RunnerConfig,
    server: ConsensusServer,
    extra: Routes,
    shutdown: CancellationToken,
) -> Result<SocketAddr, RunnerError> {
    let bind_err = |source| RunnerError::Bind {
        addr: cfg.listen,
        source,
    };
    let listener = bind(cfg.listen).await.map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let max = cfg.network.max_message_bytes;
    tokio::spawn(async move {
        if let Err(e) = serve_with(listener, server, extra, max, shutdown).await {
            tracing::error!(error = %e, "consensus gRPC server failed");
        }
    });
    Ok(addr)
}

/// Runs blocking application or disk work off the event loop.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RunnerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RunnerError::Task(e.to_string()))
}
