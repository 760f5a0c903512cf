//! The admin HTTP port of a real `lambda-agent` process beside a real
//! `lambda-db`: `/metrics` counts the points ingested, the batches refused
//! for backpressure and as invalid, the WAL's bytes and fsyncs, the upload
//! queue and the queries made; `/health` says not ready once the storage node
//! is gone for longer than the bound, naming it, and ready again once it is
//! back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lambda_proto::agent::v1 as pb;
use lambda_proto::agent::v1::agent_client::AgentClient;
use lambda_testkit::{Process, free_addr, http_get, read_addr_file, spawn_db_node, wait_for_port};

const T0: i64 = 1_700_000_000_000;

fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse().ok())
    })
}

fn ingest(ts: &[i64]) -> pb::IngestRequest {
    pb::IngestRequest {
        series: vec![pb::TimeSeries {
            series: Some(pb::Series {
                metric: "app_latency_ms".into(),
                labels: vec![],
            }),
            samples: ts
                .iter()
                .map(|&t| pb::Sample {
                    timestamp_ms: t,
                    value: Some(1.5),
                })
                .collect(),
        }],
    }
}

fn wait_health(admin: SocketAddr, want: u16, needle: &str, agent: &Process) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = http_get(admin, "/health").unwrap();
        if code == want && body.contains(needle) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/health never {want} with {needle:?}; last {code}: {body}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_follow_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let db_addr = free_addr().unwrap();
    let mut db = spawn_db_node(&dir.path().join("db"), db_addr, &[]).unwrap();
    let data = dir.path().join("agent");
    let env: Vec<(String, String)> = [
        ("LAMBDA_AGENT_COLLECTOR__ENABLED", "false"),
        ("LAMBDA_AGENT_TSDB__BLOCK_MS", "60000"),
        ("LAMBDA_AGENT_TSDB__MAX_PENDING_BLOCKS", "1"),
        ("LAMBDA_AGENT_UPLOAD__INTERVAL_MS", "3600000"),
        ("LAMBDA_AGENT_ADMIN__PROBE_INTERVAL_MS", "200"),
        ("LAMBDA_AGENT_ADMIN__CLUSTER_STALE_AFTER_MS", "1500"),
        ("LAMBDA_AGENT_CLUSTER__CONNECT_TIMEOUT_MS", "300"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    let (agent, listen) = lambda_testkit::spawn_agent(&data, db_addr, env).unwrap();
    let admin = read_addr_file(&data.join("admin.addr")).unwrap();
    wait_health(admin, 200, r#""status":"ready""#, &agent);

    let mut c = AgentClient::connect(format!("http://{listen}"))
        .await
        .unwrap();
    c.ingest(ingest(&[T0, T0 + 1_000])).await.unwrap();
    // A point in the next window seals the first chunk: the queue (bound 1)
    // is full, so the next batch is refused for backpressure.
    c.ingest(ingest(&[T0 + 60_000])).await.unwrap();
    let e = c.ingest(ingest(&[T0 + 60_001])).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    let mut bad = ingest(&[T0 + 70_000]);
    bad.series[0].samples[0].value = None;
    let e = c.ingest(bad).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    for _ in 0..3 {
        c.query_range(pb::QueryRangeRequest {
            series: ingest(&[]).series[0].series.clone(),
            start_ms: T0,
            end_ms: T0 + 120_000,
        })
        .await
        .unwrap();
    }

    let (code, m) = http_get(admin, "/metrics").unwrap();
    assert_eq!(code, 200);
    let expect = [
        ("lambda_agent_points_ingested_total", 3.0),
        ("lambda_agent_ingest_refused_backpressure_total", 1.0),
        ("lambda_agent_upload_queue_blocks", 1.0),
        ("lambda_agent_upload_queue_max_blocks", 1.0),
        ("lambda_agent_blocks_uploaded_total", 0.0),
        ("lambda_agent_wal_writable", 1.0),
        ("lambda_agent_cluster_reachable", 1.0),
        (
            r#"lambda_agent_requests_total{method="ingest",outcome="ok"}"#,
            2.0,
        ),
        (
            r#"lambda_agent_requests_total{method="ingest",outcome="resource_exhausted"}"#,
            1.0,
        ),
        (
            r#"lambda_agent_requests_total{method="ingest",outcome="invalid_argument"}"#,
            1.0,
        ),
        (
            r#"lambda_agent_requests_total{method="query_range",outcome="ok"}"#,
            3.0,
        ),
        (
            r#"lambda_agent_request_duration_seconds_count{method="query_range"}"#,
            3.0,
        ),
        (
            r#"lambda_agent_request_duration_seconds_count{method="ingest"}"#,
            4.0,
        ),
        (
            r#"lambda_agent_request_duration_seconds_count{method="top_k"}"#,
            0.0,
        ),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&m, series), Some(value), "{series} in\n{m}");
    }
    // Two batches logged: two record fsyncs at least, and their bytes.
    assert!(
        sample(&m, "lambda_agent_wal_fsyncs_total").unwrap() >= 2.0,
        "{m}"
    );
    assert!(
        sample(&m, "lambda_agent_wal_written_bytes_total").unwrap() > 0.0,
        "{m}"
    );

    // The storage node goes away: not ready once the bound has passed.
    db.kill9().unwrap();
    let body = wait_health(admin, 503, "cluster last reached", &agent);
    assert!(body.contains(&db_addr.to_string()), "{body}");
    let (_, m) = http_get(admin, "/metrics").unwrap();
    assert_eq!(sample(&m, "lambda_agent_cluster_reachable"), Some(0.0));
    db.restart().unwrap();
    wait_for_port(db_addr, Duration::from_secs(60)).unwrap();
    wait_health(admin, 200, r#""status":"ready""#, &agent);
}
