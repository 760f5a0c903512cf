//! The agent daemon and the SDK against real processes: `kill -9` of the
//! agent right after acknowledged ingests loses nothing; sealed blocks go
//! to a running `lambda-db` and are read back by a fresh agent; a full
//! upload queue answers RESOURCE_EXHAUSTED; SDK calls ride out a storage
//! node restart by retrying.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use lambda_agent::sdk::{Client, ClientConfig, RetryPolicy, SdkError};
use lambda_proto::agent::v1 as pb;
use lambda_proto::agent::v1::agent_client::AgentClient;
use lambda_testkit::{Process, binary, free_addr, spawn_db_node, wait_for_port};
use tonic::transport::Channel;

const T0: i64 = 1_700_000_000_000;

fn spawn_agent(
    dir: &Path,
    listen: SocketAddr,
    cluster: &str,
    extra_env: &[(&str, &str)],
) -> Process {
    std::fs::create_dir_all(dir).unwrap();
    let mut env: Vec<(String, String)> = vec![
        ("LAMBDA_AGENT_COLLECTOR__ENABLED".into(), "false".into()),
        ("LAMBDA_AGENT_TSDB__BLOCK_MS".into(), "60000".into()),
        ("LAMBDA_AGENT_TSDB__SEAL_GRACE_MS".into(), "0".into()),
        ("LAMBDA_AGENT_UPLOAD__INTERVAL_MS".into(), "100".into()),
        ("LAMBDA_AGENT_UPLOAD__MAX_BACKOFF_MS".into(), "500".into()),
        ("LAMBDA_AGENT_CLUSTER__MAX_ELAPSED_MS".into(), "1000".into()),
        ("LAMBDA_AGENT_SHUTDOWN_GRACE_MS".into(), "2000".into()),
    ];
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    let args = vec![
        "start".to_string(),
        "--data-dir".into(),
        dir.display().to_string(),
        "--listen".into(),
        listen.to_string(),
        "--endpoint".into(),
        cluster.to_string(),
    ];
    let p = Process::spawn(
        binary("lambda-agent").unwrap(),
        args,
        env,
        dir.with_extension("log"),
    )
    .unwrap();
    let up = wait_for_port(listen, Duration::from_secs(60));
    assert!(up.is_ok(), "{up:?}: {}", p.log());
    p
}

async fn client(addr: SocketAddr) -> AgentClient<Channel> {
    AgentClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

fn series(host: &str) -> pb::Series {
    pb::Series {
        metric: "app_latency_ms".into(),
        labels: vec![pb::Label {
            name: "host".into(),
            value: host.into(),
        }],
    }
}

fn ingest_req(host: &str, points: &[(i64, f64)]) -> pb::IngestRequest {
    pb::IngestRequest {
        series: vec![pb::TimeSeries {
            series: Some(series(host)),
            samples: points
                .iter()
                .map(|&(t, v)| pb::Sample {
                    timestamp_ms: t,
                    value: Some(v),
                })
                .collect(),
        }],
    }
}

async fn range(c: &mut AgentClient<Channel>, host: &str, t0: i64, t1: i64) -> Vec<(i64, u64)> {
    c.query_range(pb::QueryRangeRequest {
        series: Some(series(host)),
        start_ms: t0,
        end_ms: t1,
    })
    .await
    .unwrap()
    .into_inner()
    .samples
    .iter()
    .map(|s| (s.timestamp_ms, s.value.unwrap().to_bits()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_acknowledged_ingest_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db_addr = free_addr().unwrap();
    let _db = spawn_db_node(&dir.path().join("db"), db_addr, &[]).unwrap();
    let addr = free_addr().unwrap();
    // No upload during the test: the acknowledged points exist only in the
    // agent's WAL when it is killed (queries still consult the cluster).
    let mut agent = spawn_agent(
        &dir.path().join("agent"),
        addr,
        &format!("http://{db_addr}"),
        &[("LAMBDA_AGENT_UPLOAD__INTERVAL_MS", "3600000")],
    );
    let mut c = client(addr).await;
    let mut acked = Vec::new();
    let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0];
    for b in 0..40i64 {
        let pts: Vec<(i64, f64)> = (0..25)
            .map(|i| {
                let n = b * 25 + i;
                (
                    T0 + n * 1_000,
                    if n % 97 == 0 {
                        specials[(n as usize / 97) % 4]
                    } else {
                        n as f64 * 0.5
                    },
                )
            })
            .collect();
        let r = c.ingest(ingest_req("a", &pts)).await.unwrap().into_inner();
        assert_eq!(r.accepted, 25);
        acked.extend(pts);
    }
    // Repeated and earlier timestamps are refused, naming the series.
    let err = c.ingest(ingest_req("a", &[acked[5]])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("app_latency_ms{host=\"a\"}"),
        "{}",
        err.message()
    );
    agent.kill9().unwrap();
    agent.restart().unwrap();
    wait_for_port(addr, Duration::from_secs(60)).unwrap();
    let mut c = client(addr).await;
    let got = range(&mut c, "a", T0, T0 + 10_000_000).await;
    let want: Vec<(i64, u64)> = acked.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    let first_diff = got.iter().zip(&want).position(|(g, w)| g != w);
    assert!(
        got.len() == want.len() && first_diff.is_none(),
        "{} points back of {}, first difference at {first_diff:?}; log:\n{}",
        got.len(),
        want.len(),
        agent.log()
    );
}

async fn wait_uploaded(c: &mut AgentClient<Channel>, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = c.status(pb::StatusRequest {}).await.unwrap().into_inner();
        if s.pending_blocks == 0 && s.head_points == 0 && s.uploaded_blocks > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "blocks not uploaded: {s:?}\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_blocks_reach_lambda_db_and_a_fresh_agent_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let db_addr = free_addr().unwrap();
    let _db = spawn_db_node(&dir.path().join("db"), db_addr, &[]).unwrap();
    let cluster = format!("http://{db_addr}");
    let a1 = free_addr().unwrap();
    let agent = spawn_agent(&dir.path().join("a1"), a1, &cluster, &[]);
    let mut c = client(a1).await;
    // Ten minutes of 1 s points, long past: every chunk seals at once.
    let pts: Vec<(i64, f64)> = (0..600)
        .map(|i| (T0 + i * 1_000, (i as f64).sqrt()))
        .collect();
    for chunk in pts.chunks(100) {
        c.ingest(ingest_req("b", chunk)).await.unwrap();
    }
    wait_uploaded(&mut c, || agent.log()).await;
    let s = c.status(pb::StatusRequest {}).await.unwrap().into_inner();
    assert_eq!(
        s.wal_segments, 1,
        "acknowledged WAL segments are removed: {s:?}"
    );

    // A second agent with an empty data directory finds the blocks through
    // the index in the cluster.
    let a2 = free_addr().unwrap();
    let agent2 = spawn_agent(&dir.path().join("a2"), a2, &cluster, &[]);
    let mut c2 = client(a2).await;
    let got = range(&mut c2, "b", T0 + 30_500, T0 + 590_000).await;
    let want: Vec<(i64, u64)> = pts
        .iter()
        .filter(|p| p.0 >= T0 + 30_500 && p.0 < T0 + 590_000)
        .map(|&(t, v)| (t, v.to_bits()))
        .collect();
    assert!(
        got == want,
        "{} points back of {}; log:\n{}",
        got.len(),
        want.len(),
        agent2.log()
    );
    let agg = c2
        .aggregate(pb::AggregateRequest {
            series: Some(series("b")),
            start_ms: T0,
            end_ms: T0 + 600_000,
            step_ms: 60_000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(agg.steps.len(), 10);
    assert!(agg.steps.iter().all(|s| s.count == 60));
    let top = c2
        .top_k(pb::TopKRequest {
            metric: "app_latency_ms".into(),
            start_ms: T0,
            end_ms: T0 + 600_000,
            k: 1,
            score: pb::ScoreFunction::Max as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(top.top.len(), 1);
    assert_eq!(top.top[0].score, 599f64.sqrt());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_upload_queue_answers_resource_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr().unwrap();
    let dead_cluster = format!("http://{}", free_addr().unwrap());
    let _agent = spawn_agent(
        &dir.path().join("agent"),
        addr,
        &dead_cluster,
        &[("LAMBDA_AGENT_TSDB__MAX_PENDING_BLOCKS", "3")],
    );
    let mut c = client(addr).await;
    let mut code = None;
    for i in 0..20i64 {
        if let Err(e) = c.ingest(ingest_req("c", &[(T0 + i * 60_000, 1.0)])).await {
            code = Some((e.code(), e.message().to_string()));
            break;
        }
    }
    let (code, msg) = code.expect("ingest must be refused once 3 blocks wait");
    assert_eq!(code, tonic::Code::ResourceExhausted, "{msg}");
    assert!(msg.contains("upload queue full"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_retries_ride_out_a_node_restart() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr().unwrap();
    let mut db = spawn_db_node(&dir.path().join("db"), addr, &[]).unwrap();
    let mut cfg = ClientConfig::new([format!("http://{addr}")]);
    cfg.retry = RetryPolicy {
        max_attempts: 100,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_elapsed: Duration::from_secs(30),
        retry_write_timeouts: false,
    };
    let client = Client::connect(cfg.clone()).await.unwrap();
    client.put(b"k", b"v1".to_vec(), None).await.unwrap();

    db.kill9().unwrap();
    // Without retries the call fails at once with a typed error.
    let once = client.with_retry(RetryPolicy::none());
    let err = once.get(b"k").await.unwrap_err();
    assert!(matches!(err, SdkError::Unavailable(_)), "{err}");
    // With a short budget it gives up, saying how often it tried.
    let mut short = cfg.retry.clone();
    short.max_elapsed = Duration::from_millis(300);
    let err = client.with_retry(short).get(b"k").await.unwrap_err();
    assert!(matches!(err, SdkError::GaveUp { .. }), "{err}");
    assert!(matches!(err.root(), SdkError::Unavailable(_)), "{err}");

    // The node comes back while the client is retrying.
    let restarter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        db.restart().unwrap();
        wait_for_port(addr, Duration::from_secs(60)).unwrap();
        db
    });
    let started = Instant::now();
    let read = client.get(b"k").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(read.siblings[0].value, b"v1");
    client
        .put(b"k", b"v2".to_vec(), Some(&read.context))
        .await
        .unwrap();
    let _db = restarter.join().unwrap();
    assert_eq!(client.get(b"k").await.unwrap().siblings[0].value, b"v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_seals_and_uploads_before_exit() {
    let dir = tempfile::tempdir().unwrap();
    let db_addr = free_addr().unwrap();
    let _db = spawn_db_node(&dir.path().join("db"), db_addr, &[]).unwrap();
    let cluster = format!("http://{db_addr}");
    let a1 = free_addr().unwrap();
    // Recent points in a long window: nothing would be sealed for an hour.
    let mut agent = spawn_agent(
        &dir.path().join("a1"),
        a1,
        &cluster,
        &[
            ("LAMBDA_AGENT_TSDB__BLOCK_MS", "3600000"),
            ("LAMBDA_AGENT_UPLOAD__INTERVAL_MS", "3600000"),
        ],
    );
    let now = lambda_agent::tsdb::now_ms();
    let pts: Vec<(i64, f64)> = (0..50)
        .map(|i| (now - 50_000 + i * 1_000, i as f64))
        .collect();
    let mut c = client(a1).await;
    c.ingest(ingest_req("d", &pts)).await.unwrap();
    let status = agent.terminate(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "exit {status:?}; log:\n{}", agent.log());
    assert!(
        agent.log().contains("all sealed blocks uploaded"),
        "{}",
        agent.log()
    );

    let a2 = free_addr().unwrap();
    let _agent2 = spawn_agent(&dir.path().join("a2"), a2, &cluster, &[]);
    let mut c2 = client(a2).await;
    let got = range(&mut c2, "d", now - 60_000, now + 1).await;
    assert_eq!(got.len(), 50);
}

/// Sends one HTTP/1.1 request and returns the status code and body.
async fn http_post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_write_stores_samples() {
    use lambda_agent::daemon::remote_write::{Label, Sample, TimeSeries, WriteRequest};
    let dir = tempfile::tempdir().unwrap();
    let db_addr = free_addr().unwrap();
    let _db = spawn_db_node(&dir.path().join("db"), db_addr, &[]).unwrap();
    let addr = free_addr().unwrap();
    let rw = free_addr().unwrap();
    let agent = spawn_agent(
        &dir.path().join("agent"),
        addr,
        &format!("http://{db_addr}"),
        &[("LAMBDA_AGENT_REMOTE_WRITE_LISTEN", &rw.to_string())],
    );
    wait_for_port(rw, Duration::from_secs(30)).unwrap();
    let req = |t0: i64| WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "app_latency_ms".into(),
                },
                Label {
                    name: "host".into(),
                    value: "p".into(),
                },
            ],
            samples: (0..10)
                .map(|i| Sample {
                    value: i as f64,
                    timestamp: t0 + i * 1000,
                })
                .collect(),
        }],
    };
    let body = |r: &WriteRequest| {
        snap::raw::Encoder::new()
            .compress_vec(&prost::Message::encode_to_vec(r))
            .unwrap()
    };
    let (code, text) = http_post(rw, "/api/v1/write", &body(&req(T0))).await;
    assert_eq!(code, 204, "{text}\n{}", agent.log());
    // The same batch again: refused (not retried by Prometheus), nothing doubled.
    let (code, text) = http_post(rw, "/api/v1/write", &body(&req(T0))).await;
    assert_eq!(code, 400);
    assert!(
        text.contains("out-of-order") && text.contains("1700000009000"),
        "{text}"
    );
    let (code, text) = http_post(rw, "/api/v1/write", b"garbage").await;
    assert_eq!(code, 400);
    assert!(text.contains("snappy"), "{text}");
    let mut c = client(addr).await;
    assert_eq!(range(&mut c, "p", T0, T0 + 60_000).await.len(), 10);
}
