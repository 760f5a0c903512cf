//! The admin HTTP port of real `lambda-db` processes: `/metrics` counts the
//! KV requests made (per operation and outcome, latency histogram counts)
//! and shows the RocksDB figures; `/health` of a 3-node cluster's survivor
//! says not ready, naming the quorum, once two nodes are killed, and ready
//! again once they are back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use lambda_proto::kv::v1 as pb;
use lambda_proto::kv::v1::kv_client::KvClient;
use lambda_testkit::cluster::{ClusterSpec, LocalCluster};
use lambda_testkit::{free_addr, http_get, spawn_db_node};

/// The admin address a node wrote to its data directory.
fn admin_addr(data_dir: &Path) -> SocketAddr {
    lambda_testkit::read_addr_file(&data_dir.join("admin.addr")).unwrap()
}

/// The value of the sample `series` (name with its labels, exactly as
/// printed) in a Prometheus text scrape.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse().ok())
    })
}

fn put(key: &[u8]) -> pb::PutRequest {
    pb::PutRequest {
        key: key.to_vec(),
        value: b"v".to_vec(),
        ..Default::default()
    }
}

fn get(key: &[u8]) -> pb::GetRequest {
    pb::GetRequest {
        key: key.to_vec(),
        options: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_every_request_made() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let addr = free_addr().unwrap();
    let node = spawn_db_node(&data, addr, &[]).unwrap();
    let admin = admin_addr(&data);
    let mut kv = KvClient::connect(format!("http://{addr}")).await.unwrap();
    let long_key = vec![b'k'; 2000];
    for i in 0..7u8 {
        kv.put(put(&[b'k', i])).await.unwrap();
    }
    assert!(kv.put(put(&long_key)).await.is_err());
    for i in 0..5u8 {
        kv.get(get(&[b'k', i])).await.unwrap();
    }
    assert!(kv.get(get(&long_key)).await.is_err());
    for i in 0..3u8 {
        kv.delete(pb::DeleteRequest {
            key: vec![b'k', i],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    for _ in 0..2 {
        let op = pb::Operation {
            op: Some(pb::operation::Op::Get(get(b"k\x06"))),
        };
        kv.batch(pb::BatchRequest {
            operations: vec![op.clone(), op],
        })
        .await
        .unwrap();
    }

    let (code, m) = http_get(admin, "/metrics").unwrap();
    assert_eq!(code, 200, "{m}");
    let expect = [
        (r#"lambda_db_requests_total{op="put",outcome="ok"}"#, 7.0),
        (
            r#"lambda_db_requests_total{op="put",outcome="invalid_argument"}"#,
            1.0,
        ),
        (r#"lambda_db_requests_total{op="get",outcome="ok"}"#, 5.0),
        (
            r#"lambda_db_requests_total{op="get",outcome="invalid_argument"}"#,
            1.0,
        ),
        (r#"lambda_db_requests_total{op="delete",outcome="ok"}"#, 3.0),
        (r#"lambda_db_requests_total{op="batch",outcome="ok"}"#, 2.0),
        (r#"lambda_db_request_duration_seconds_count{op="put"}"#, 8.0),
        (r#"lambda_db_request_duration_seconds_count{op="get"}"#, 6.0),
        (
            r#"lambda_db_request_duration_seconds_count{op="delete"}"#,
            3.0,
        ),
        (
            r#"lambda_db_request_duration_seconds_count{op="batch"}"#,
            2.0,
        ),
        (
            r#"lambda_db_request_duration_seconds_bucket{le="+Inf",op="put"}"#,
            8.0,
        ),
        ("lambda_db_requests_in_flight", 0.0),
        ("lambda_db_requests_rejected_overload_total", 0.0),
        ("lambda_db_writes_refused", 0.0),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&m, series), Some(value), "{series} in\n{m}");
    }
    // Sanity of the latency: every request took more than nothing and
    // less than the deadline.
    let sum = sample(&m, r#"lambda_db_request_duration_seconds_sum{op="put"}"#).unwrap();
    assert!(sum > 0.0 && sum < 8.0 * 5.0, "{sum}");
    // RocksDB figures come from the engine: the data family holds the keys
    // written (estimates include the memtable).
    let keys = sample(&m, r#"lambda_db_rocksdb_estimated_keys{cf="data"}"#).unwrap();
    assert!(keys >= 1.0, "{m}");
    for name in [
        r#"lambda_db_rocksdb_memtable_bytes{cf="data"}"#,
        r#"lambda_db_rocksdb_sst_files_bytes{cf="data"}"#,
        r#"lambda_db_rocksdb_live_data_bytes{cf="data"}"#,
        "lambda_db_rocksdb_block_cache_capacity_bytes",
        "lambda_db_rocksdb_block_cache_usage_bytes",
    ] {
        assert!(sample(&m, name).is_some(), "{name} missing in\n{m}");
    }
    assert_eq!(
        sample(&m, "lambda_db_rocksdb_block_cache_capacity_bytes"),
        Some(64.0 * 1024.0 * 1024.0)
    );
    assert!(m.contains(r#"mode="standalone""#), "{m}");
    // Standalone: no cluster figures.
    assert!(!m.contains("lambda_db_hint_backlog"), "{m}");

    let (code, h) = http_get(admin, "/health").unwrap();
    assert_eq!(code, 200, "{h}");
    assert!(h.contains(r#""status":"ready""#), "{h}");
    assert_eq!(http_get(admin, "/live").unwrap().0, 200);
    drop(node);
}

/// Polls the survivor's `/health` until its code is `want` and its body
/// holds `needle` (bounded).
fn wait_health(
    admin: SocketAddr,
    want: u16,
    needle: &str,
    timeout: Duration,
    cluster: &LocalCluster,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok((code, body)) = http_get(admin, "/health")
            && code == want
            && body.contains(needle)
        {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/health never answered {want} with {needle:?} within {timeout:?}; last: {:?}\n{}",
            http_get(admin, "/health"),
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn health_follows_the_quorum_of_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = LocalCluster::start(dir.path(), &ClusterSpec::new(3)).unwrap();
    let admin = admin_addr(&cluster.nodes[0].data_dir);
    let all_up = r#""members_up":3"#;
    let ready = wait_health(admin, 200, all_up, Duration::from_secs(30), &cluster);
    assert!(
        ready.contains(r#""partitions_without_quorum":0"#),
        "{ready}"
    );

    cluster.nodes[1].process.kill9().unwrap();
    cluster.nodes[2].process.kill9().unwrap();
    let body = wait_health(admin, 503, "quorum", Duration::from_secs(30), &cluster);
    assert!(body.contains("quorum unreachable"), "{body}");
    assert!(
        body.contains("fewer than 2 of their 3 replicas up"),
        "{body}"
    );
    assert!(body.contains("n2") && body.contains("n3"), "{body}");
    let (_, m) = http_get(admin, "/metrics").unwrap();
    assert_eq!(sample(&m, "lambda_db_members_up"), Some(1.0), "{m}");
    assert_eq!(sample(&m, "lambda_db_members"), Some(3.0), "{m}");

    cluster.restart(1).unwrap();
    cluster.restart(2).unwrap();
    let body = wait_health(admin, 200, all_up, Duration::from_secs(60), &cluster);
    assert!(body.contains(r#""members_down":[]"#), "{body}");
}
