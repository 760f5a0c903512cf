//! The web dashboard a validator serves on its admin HTTP port, beside
//! `/metrics` and `/health`: one page (plain HTML, CSS and JavaScript
//! embedded in the binary, no front-end toolchain, nothing fetched from
//! elsewhere) that reads four JSON endpoints every two seconds.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page (`assets/index.html`, `dashboard.css`, `dashboard.js`) |
//! | `GET /api/ring` | storage nodes: pledge, weight, partitions held, up/down ([`ring`]) |
//! | `GET /api/chain` | height, epoch, timing, validators, latest blocks and transactions ([`chain`]) |
//! | `GET /api/pdp` | PDP audits per node ([`pdp`]) |
//! | `GET /api/accounts` | balances and settled usage ([`accounts`]) |
//!
//! The JSON endpoints serve views rebuilt in the background after commits
//! ([`snapshot`]) and storage-node liveness from background TCP probes
//! ([`probe`]), so a request never reads the state or waits on the
//! network. Before the first views exist (a second after start) they
//! answer 503 with `{"error": …}`.

mod accounts;
mod chain;
#[cfg(test)]
mod fixture;
mod pdp;
mod probe;
mod ring;
mod snapshot;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use self::probe::Prober;
pub(crate) use self::snapshot::Settings;
use self::snapshot::{Snapshots, Views};
use super::core::NodeCore;

const INDEX_HTML: &str = include_str!("assets/index.html");
const DASHBOARD_CSS: &str = include_str!("assets/dashboard.css");
const DASHBOARD_JS: &str = include_str!("assets/dashboard.js");

#[derive(Clone, Debug)]
struct Dashboard {
    snapshots: Arc<Snapshots>,
    prober: Arc<Prober>,
}

/// The dashboard's routes over `core`; starts the view rebuilds and the
/// liveness probes, which stop with `shutdown`.
pub(crate) fn routes(
    core: Arc<NodeCore>,
    settings: Settings,
    shutdown: &CancellationToken,
) -> Router {
    let snapshots = Arc::new(Snapshots::default());
    let prober = Arc::new(Prober::default());
    tokio::spawn(snapshot::refresh(
        core,
        settings,
        snapshots.clone(),
        prober.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(prober.clone().run(shutdown.clone()));
    router(Dashboard { snapshots, prober })
}

fn router(d: Dashboard) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/dashboard.css",
            get(|| async { asset("text/css; charset=utf-8", DASHBOARD_CSS) }),
        )
        .route(
            "/dashboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", DASHBOARD_JS) }),
        )
        .route("/api/ring", get(ring_handler))
        .route(
            "/api/chain",
            get(|State(d): State<Dashboard>| async move { with_views(&d, |v| json(&v.chain)) }),
        )
        .route(
            "/api/pdp",
            get(|State(d): State<Dashboard>| async move { with_views(&d, |v| json(&v.pdp)) }),
        )
        .route(
            "/api/accounts",
            get(|State(d): State<Dashboard>| async move { with_views(&d, |v| json(&v.accounts)) }),
        )
        .with_state(d)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn json<T: Serialize>(v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding JSON: {e}"),
        ),
    }
}

fn error(code: StatusCode, reason: String) -> Response {
    let body = serde_json::json!({ "error": reason }).to_string();
    (
        code,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn with_views(d: &Dashboard, f: impl FnOnce(&Views) -> Response) -> Response {
    match d.snapshots.get() {
        Ok(v) => f(&v),
        Err(reason) => error(StatusCode::SERVICE_UNAVAILABLE, reason),
    }
}

async fn ring_handler(State(d): State<Dashboard>) -> Response {
    with_views(&d, |v| {
        let mut ring = v.ring.clone();
        ring.apply_probes(&d.prober);
        json(&ring)
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use lambda_placement::PlacementConfig;
    use parking_lot::RwLock;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::fixture::Fixture;
    use super::snapshot::Builder;
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> (String, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        (head.to_string(), body.to_string())
    }

    fn header_of<'a>(head: &'a str, name: &str) -> &'a str {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then_some(v.trim())
            })
            .unwrap_or("")
    }

    #[tokio::test]
    async fn serves_the_page_and_the_views_as_json() {
        let f = Fixture::new();
        let d = Dashboard {
            snapshots: Arc::new(Snapshots::default()),
            prober: Arc::new(Prober::default()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let server = tokio::spawn(lambda_common::admin_http::serve(
            listener,
            router(d.clone()),
            cancel.clone(),
        ));

        // No views yet: 503 with a reason, as JSON.
        let (head, body) = get(addr, "/api/chain").await;
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        let err: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(err["error"].as_str().unwrap().contains("retry"), "{body}");

        let settings = Settings {
            placement: PlacementConfig {
                partitions: 1024,
                replicas: 5,
                ..PlacementConfig::default()
            },
            block_time: Duration::from_millis(300),
        };
        let height = f.state.latest_height();
        let state = RwLock::new(f.state);
        d.snapshots
            .publish(Builder::new(settings).build(&state).unwrap());

        let (head, body) = get(addr, "/").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(header_of(&head, "content-type").starts_with("text/html"));
        assert!(body.contains("dashboard.js") && body.contains("dashboard.css"));
        for (path, kind) in [
            ("/dashboard.js", "text/javascript"),
            ("/dashboard.css", "text/css"),
        ] {
            let (head, body) = get(addr, path).await;
            assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
            assert!(header_of(&head, "content-type").starts_with(kind), "{head}");
            assert!(!body.is_empty());
        }

        let (head, body) = get(addr, "/api/ring").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(header_of(&head, "content-type"), "application/json");
        let ring: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ring["partitions"], 1024);
        assert_eq!(ring["nodes"].as_array().unwrap().len(), 4);
        let slots: u64 = ring["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["primary"].as_u64().unwrap() + n["replica"].as_u64().unwrap())
            .sum();
        assert_eq!(slots, 1024 * 4);

        let (_, body) = get(addr, "/api/chain").await;
        let chain: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(chain["height"], height);
        assert_eq!(chain["blocks"][0]["height"], height);
        let (_, body) = get(addr, "/api/pdp").await;
        let pdp: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (pdp["passes"].as_u64(), pdp["failures"].as_u64()),
            (Some(1), Some(1))
        );
        let (_, body) = get(addr, "/api/accounts").await;
        let accounts: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(accounts["accounts"].as_array().unwrap().len(), 7);
        assert_eq!(accounts["usage"][0]["requests"], 7);

        let (head, _) = get(addr, "/api/nope").await;
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        cancel.cancel();
        server.await.unwrap().unwrap();
    }
}
