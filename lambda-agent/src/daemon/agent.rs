//! Assembling and running the agent: open the store (replaying its WAL),
//! serve the gRPC API and the admin HTTP port (metrics, health; address in
//! `<data_dir>/admin.addr`), run the upload loop, the cluster probe and the
//! host-metrics collector, and on shutdown drain requests, seal and upload
//! what the grace period allows (the WAL keeps the rest for the next start).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lambda_proto::agent::v1::agent_server::AgentServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use super::collector::Collector;
use super::config::AgentConfig;
use super::health::{self, ClusterProbe};
use super::service::AgentService;
use crate::sdk::{Client, SdkError};
use crate::tsdb::pdp_store::{AuditSettings, AuditedStore};
use crate::tsdb::{ObjectStore, SdkStore, Tsdb, TsdbError, now_ms};

/// Why the agent could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The SDK configuration is invalid.
    #[error("cluster client: {0}")]
    Client(#[from] SdkError),
    /// The store could not be opened.
    #[error("time-series store: {0}")]
    Store(#[from] TsdbError),
    /// The listen address could not be bound or written.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The reflection service could not be built.
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// An agent that is listening.
#[derive(Debug)]
pub struct RunningAgent {
    /// The bound address.
    pub addr: SocketAddr,
    /// The bound admin HTTP address (`/metrics`, `/health`).
    pub admin_addr: SocketAddr,
    /// The store.
    pub tsdb: Arc<Tsdb>,
    /// Resolves when the agent has stopped.
    pub task: JoinHandle<Result<(), AgentError>>,
}

/// Starts the agent; it runs until `shutdown` fires.
pub async fn start(
    cfg: AgentConfig,
    shutdown: CancellationToken,
) -> Result<RunningAgent, AgentError> {
    let client = Client::connect(cfg.cluster.client_config()?).await?;
    let mut remote: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(&client));
    if cfg.audit.enabled {
        remote = Arc::new(audited(remote, &client, &cfg.audit)?);
    }
    let dir = cfg.data_dir.clone();
    let tsdb_cfg = cfg.tsdb.clone();
    let tsdb = tokio::task::spawn_blocking(move || Tsdb::open(&dir, tsdb_cfg, remote))
        .await
        .map_err(|e| TsdbError::Remote(format!("store opening task failed: {e}")))??;
    let tsdb = Arc::new(tsdb);
    let bind = |source| AgentError::Bind {
        addr: cfg.listen,
        source,
    };
    let listener = TcpListener::bind(cfg.listen).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    std::fs::write(cfg.data_dir.join("listen.addr"), addr.to_string()).map_err(bind)?;
    tracing::info!(%addr, data_dir = %cfg.data_dir.display(), endpoints = ?cfg.cluster.endpoints, "agent listening");

    let service = AgentService::new(tsdb.clone());
    let admin_addr = start_admin(&cfg, &tsdb, &service, &shutdown).await?;
    let remote_write = match cfg.remote_write_listen {
        Some(rw) => {
            let l = TcpListener::bind(rw)
                .await
                .map_err(|source| AgentError::Bind { addr: rw, source })?;
            Some(tokio::spawn(super::remote_write::serve(
                l,
                tsdb.clone(),
                shutdown.clone(),
            )))
        }
        None => None,
    };
    let upload = tokio::spawn(upload_loop(tsdb.clone(), cfg.clone(), shutdown.clone()));
    let collect = cfg
        .collector
        .enabled
        .then(|| tokio::spawn(collect_loop(tsdb.clone(), cfg.clone(), shutdown.clone())));
    let grace = Duration::from_millis(cfg.shutdown_grace_ms);
    let store = tsdb.clone();
    let task = tokio::spawn(async move {
        let served = serve(listener, service, shutdown.clone()).await;
        if let Some(c) = collect {
            let _ = c.await;
        }
        if let Some(rw) = remote_write {
            match rw.await {
                Ok(Err(e)) => tracing::warn!(error = %e, "remote-write endpoint failed"),
                Err(e) => tracing::warn!(error = %e, "remote-write task failed"),
                Ok(Ok(())) => {}
            }
        }
        let _ = upload.await;
        match tokio::time::timeout(grace, store.flush()).await {
            Ok(Ok(())) => tracing::info!("all sealed blocks uploaded"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "final upload failed; the WAL keeps the points")
            }
            Err(_) => tracing::warn!(
                "final upload did not finish in the grace period; the WAL keeps the points"
            ),
        }
        served
    });
    Ok(RunningAgent {
        addr,
        admin_addr,
        tsdb,
        task,
    })
}

/// Starts the cluster probe and the admin HTTP port (`/metrics`,
/// `/health`, `/live`); writes its address to `<data_dir>/admin.addr`.
async fn start_admin(
    cfg: &AgentConfig,
    tsdb: &Arc<Tsdb>,
    service: &AgentService,
    shutdown: &CancellationToken,
) -> Result<SocketAddr, AgentError> {
    use lambda_common::admin_http;
    let bind = |source| AgentError::Bind {
        addr: cfg.admin.listen,
        source,
    };
    let listener = admin_http::bind(cfg.admin.listen).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    std::fs::write(cfg.data_dir.join("admin.addr"), addr.to_string()).map_err(bind)?;
    let timeout = Duration::from_millis(cfg.cluster.connect_timeout_ms.max(100));
    let probe = Arc::new(ClusterProbe::new(cfg.cluster.endpoints.clone(), timeout));
    let interval = Duration::from_millis(cfg.admin.probe_interval_ms.max(100));
    tokio::spawn(probe.clone().run(interval, shutdown.clone()));
    let registry = super::metrics::registry(&service.metrics(), tsdb.clone(), probe.clone());
    let stale = Duration::from_millis(cfg.admin.cluster_stale_after_ms);
    let check = health::check(tsdb.clone(), probe, stale);
    let router = admin_http::router(Arc::new(registry), check, axum::Router::new());
    let token = shutdown.clone();
    tokio::spawn(async move {
        if let Err(e) = admin_http::serve(listener, router, token).await {
            tracing::error!(error = %e, "admin HTTP server failed");
        }
    });
    tracing::info!(%addr, "admin HTTP port (/metrics, /health) listening");
    Ok(addr)
}

/// The audited store of sealed blocks, with the owner key from its file.
fn audited(
    inner: Arc<dyn ObjectStore>,
    client: &Client,
    cfg: &super::config::AuditUploadConfig,
) -> Result<AuditedStore, AgentError> {
    let account = lambda_common::keys::SigningKey::load(&cfg.account_key_file).map_err(|e| {
        TsdbError::Remote(format!(
            "audit.account_key_file {}: {e}",
            cfg.account_key_file.display()
        ))
    })?;
    let settings = AuditSettings {
        account,
        chain_endpoints: cfg.chain_endpoints.clone(),
        terms: crate::sdk::ContractTerms {
            epochs: cfg.epochs,
            amount: cfg.amount,
            replicas: cfg.replicas,
            fee: cfg.fee,
        },
        sectors: cfg.sectors,
    };
    Ok(AuditedStore::new(inner, client.clone(), settings)?)
}

async fn serve(
    listener: TcpListener,
    svc: AgentService,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<AgentServer<AgentService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lambda_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection)
        .add_service(AgentServer::new(svc).max_decoding_message_size(64 << 20))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// Seals idle chunks and uploads the queue every interval; after a failure
/// the pause doubles up to the configured maximum.
async fn upload_loop(tsdb: Arc<Tsdb>, cfg: AgentConfig, shutdown: CancellationToken) {
    let base = Duration::from_millis(cfg.upload.interval_ms.max(10));
    let max = Duration::from_millis(cfg.upload.max_backoff_ms).max(base);
    let mut pause = base;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        if let Err(e) = tsdb.seal_idle(now_ms()) {
            tracing::error!(error = %e, "sealing idle chunks failed");
        }
        pause = base;
        loop {
            match tsdb.upload_pending().await {
                Ok(0) => break,
                Ok(n) => tracing::debug!(blocks = n, "uploaded sealed blocks"),
                Err(e) => {
                    pause = (pause * 2).min(max);
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, pending = tsdb.stats().pending_blocks, "upload failed");
                    break;
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }
}

/// Samples host metrics on the interval grid.
async fn collect_loop(tsdb: Arc<Tsdb>, cfg: AgentConfig, shutdown: CancellationToken) {
    let interval_ms = cfg.collector.interval_ms.max(100);
    let mut collector = Collector::new(&cfg.collector.proc_root, &cfg.collector.host);
    let mut ticker = tokio::time::interval(Duration::from_millis(interval_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let step = i64::try_from(interval_ms).unwrap_or(10_000);
    let mut last = i64::MIN;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = now_ms();
        let ts = now - now.rem_euclid(step);
        if ts <= last {
            continue;
        }
        last = ts;
        let batch = collector.sample(ts);
        let store = tsdb.clone();
        match tokio::task::spawn_blocking(move || store.ingest(&batch)).await {
            Ok(Ok(n)) => tracing::trace!(points = n, "host metrics collected"),
            Ok(Err(e)) => tracing::warn!(error = %e, "host metrics not stored"),
            Err(e) => tracing::warn!(error = %e, "host metrics task failed"),
        }
    }
}
