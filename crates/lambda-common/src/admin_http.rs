//! The admin HTTP port that every Lambda daemon serves beside its gRPC port:
//!
//! - `GET /metrics`: the daemon's metrics in the Prometheus text format
//!   (`prometheus-client` registry);
//! - `GET /health`: 200 `{"status":"ready",…}` when the daemon can do its
//!   job (a storage node reaches a quorum, a validator follows consensus),
//!   503 `{"status":"not ready","reason":…}` otherwise, so load balancers and
//!   orchestrators stop sending it work;
//! - `GET /live`: 200 while the process runs (liveness, no checks);
//! - any further routes the daemon adds (the dashboard).
//!
//! Kept apart from gRPC so that scraping and probes never compete with the
//! data path's admission bounds, and so that operators can firewall it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Whether a daemon can do its job, with details for operators.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthReport {
    /// Ready to serve.
    pub ready: bool,
    /// Why not, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Anything else worth showing (peers up, height, …).
    pub detail: serde_json::Value,
}

impl HealthReport {
    /// Ready, with details.
    pub fn ready(detail: serde_json::Value) -> Self {
        Self {
            ready: true,
            reason: None,
            detail,
        }
    }

    /// Not ready, with the reason.
    pub fn not_ready(reason: impl Into<String>, detail: serde_json::Value) -> Self {
        Self {
            ready: false,
            reason: Some(reason.into()),
            detail,
        }
    }
}

/// Computes the current health; called on every `/health` request.
pub type HealthCheck = Arc<dyn Fn() -> HealthReport + Send + Sync>;

#[derive(Clone)]
struct AdminState {
    registry: Arc<Registry>,
    health: HealthCheck,
}

/// The admin routes (`/metrics`, `/health`, `/live`) merged with `extra`.
pub fn router(registry: Arc<Registry>, health: HealthCheck, extra: Router) -> Router {
    let state = AdminState { registry, health };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health_handler))
        .route("/live", get(|| async { "live\n" }))
        .with_state(state)
        .merge(extra)
}

async fn metrics(State(s): State<AdminState>) -> Response {
    let mut body = String::new();
    match encode(&mut body, &s.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}\n"),
        )
            .into_response(),
    }
}

#[derive(Serialize)]
struct HealthBody<'a> {
    status: &'static str,
    #[serde(flatten)]
    report: &'a HealthReport,
}

async fn health_handler(State(s): State<AdminState>) -> Response {
    let report = (s.health)();
    let (code, status) = if report.ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    let body = HealthBody {
        status,
        report: &report,
    };
    let json = serde_json::to_string(&body).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    (code, [(header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// The metric label of a gRPC status code (its number, as `tonic::Code`
/// converts to `i32`): the code's name in snake case (`ok`,
/// `invalid_argument`, `resource_exhausted`, …), `unknown` for a number
/// that is no code. Every daemon labels request outcomes with it, so the
/// same outcome reads the same everywhere.
pub fn grpc_code_label(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "ok",
        "cancelled",
        "unknown",
        "invalid_argument",
        "deadline_exceeded",
        "not_found",
        "already_exists",
        "permission_denied",
        "resource_exhausted",
        "failed_precondition",
        "aborted",
        "out_of_range",
        "unimplemented",
        "internal",
        "unavailable",
        "data_loss",
        "unauthenticated",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("unknown")
}

/// Binds `addr` for the admin port.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `router` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn http_get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_and_health_that_follows_the_check() {
        let mut registry = Registry::default();
        let requests = Counter::<u64>::default();
        registry.register("lambda_test_requests", "Requests", requests.clone());
        requests.inc_by(3);
        let ready = Arc::new(AtomicBool::new(false));
        let r = ready.clone();
        let health: HealthCheck = Arc::new(move || {
            if r.load(Ordering::SeqCst) {
                HealthReport::ready(serde_json::json!({"peers_up": 3}))
            } else {
                HealthReport::not_ready(
                    "quorum unreachable: 1 of 2 replicas up",
                    serde_json::json!({}),
                )
            }
        });
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let app = router(Arc::new(registry), health, Router::new());
        let server = tokio::spawn(serve(listener, app, cancel.clone()));

        let m = http_get(addr, "/metrics").await;
        assert!(m.starts_with("HTTP/1.1 200"), "{m}");
        assert!(m.contains("lambda_test_requests_total 3"), "{m}");
        let h = http_get(addr, "/health").await;
        assert!(h.starts_with("HTTP/1.1 503"), "{h}");
        assert!(
            h.contains("\"status\":\"not ready\"") && h.contains("quorum unreachable"),
            "{h}"
        );
        ready.store(true, Ordering::SeqCst);
        let h = http_get(addr, "/health").await;
        assert!(
            h.starts_with("HTTP/1.1 200") && h.contains("\"peers_up\":3"),
            "{h}"
        );
        assert!(http_get(addr, "/live").await.starts_with("HTTP/1.1 200"));
        assert!(http_get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        cancel.cancel();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn grpc_codes_have_snake_case_labels() {
        assert_eq!(grpc_code_label(0), "ok");
        assert_eq!(grpc_code_label(8), "resource_exhausted");
        assert_eq!(grpc_code_label(14), "unavailable");
        assert_eq!(grpc_code_label(16), "unauthenticated");
        assert_eq!(grpc_code_label(17), "unknown");
        assert_eq!(grpc_code_label(-1), "unknown");
    }
}
