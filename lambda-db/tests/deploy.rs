//! What `deploy/` ships is true of the real daemons:
//!
//! - every metric named in the Grafana dashboard (`deploy/grafana/lambda.json`,
//!   each panel's `expr` and each variable's query) appears in a real scrape
//!   of `lambda-db` (a one-node cluster after KV traffic), `lambda-chain` (a
//!   one-validator chain after a transfer) or `lambda-agent` (after ingest
//!   and a query);
//! - every example configuration loads as its daemon's configuration and
//!   explains every key the daemon has (each key of the serialized defaults
//!   appears, set or commented out, under its section).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lambda_proto::agent::v1 as apb;
use lambda_proto::agent::v1::agent_client::AgentClient;
use lambda_proto::kv::v1 as pb;
use lambda_proto::kv::v1::kv_client::KvClient;
use lambda_testkit::chain::{ChainSpec, LocalChain};
use lambda_testkit::cluster::{ClusterSpec, LocalCluster};
use lambda_testkit::{Process, binary};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let (code, body) = lambda_testkit::http_get(addr, path).unwrap();
    assert_eq!(code, 200, "{path}: {body}");
    body
}

/// Names of the samples in a Prometheus text scrape.
fn sample_names(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Every `lambda_*` identifier in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.starts_with("lambda_"))
        .map(str::to_string)
        .collect()
}

/// Every string under a key named `expr` or `definition`, anywhere.
fn queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => queries(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| queries(x, out)),
        _ => {}
    }
}

fn no_retry() -> Option<pb::RequestOptions> {
    Some(pb::RequestOptions {
        n: Some(1),
        r: Some(1),
        w: Some(1),
        timeout_ms: Some(5_000),
        last_write_wins: false,
    })
}

async fn db_traffic(addr: SocketAddr) {
    let mut kv = KvClient::connect(format!("http://{addr}")).await.unwrap();
    let put = pb::PutRequest {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        options: no_retry(),
        ..Default::default()
    };
    kv.put(put.clone()).await.unwrap();
    let get = pb::GetRequest {
        key: b"k".to_vec(),
        options: no_retry(),
    };
    kv.get(get.clone()).await.unwrap();
    kv.delete(pb::DeleteRequest {
        key: b"k".to_vec(),
        options: no_retry(),
        ..Default::default()
    })
    .await
    .unwrap();
    let op = pb::Operation {
        op: Some(pb::operation::Op::Get(get)),
    };
    kv.batch(pb::BatchRequest {
        operations: vec![op],
    })
    .await
    .unwrap();
    // An error, so that an outcome other than ok is exported too.
    let bad = pb::PutRequest {
        key: vec![b'k'; 4096],
        ..put
    };
    assert!(kv.put(bad).await.is_err());
}

fn spawn_agent(dir: &Path, db: SocketAddr) -> (Process, SocketAddr) {
    let env = vec![
        ("LAMBDA_AGENT_COLLECTOR__ENABLED".into(), "false".into()),
        ("LAMBDA_AGENT_ADMIN__PROBE_INTERVAL_MS".into(), "200".into()),
    ];
    lambda_testkit::spawn_agent(dir, db, env).unwrap()
}

async fn agent_traffic(addr: SocketAddr) {
    let mut c = AgentClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let series = apb::Series {
        metric: "app_requests".into(),
        labels: vec![],
    };
    c.ingest(apb::IngestRequest {
        series: vec![apb::TimeSeries {
            series: Some(series.clone()),
            samples: vec![apb::Sample {
                timestamp_ms: 1_700_000_000_000,
                value: Some(1.0),
            }],
        }],
    })
    .await
    .unwrap();
    c.query_range(apb::QueryRangeRequest {
        series: Some(series),
        start_ms: 1_700_000_000_000,
        end_ms: 1_700_000_001_000,
    })
    .await
    .unwrap();
}

/// Submits a transfer between two test accounts and waits for it.
fn chain_transfer(chain: &LocalChain) {
    let out = std::process::Command::new(binary("lambda-chain").unwrap())
        .args(["tx", "transfer", "--from"])
        .arg(&chain.accounts[0].key_file)
        .args(["--to", &chain.accounts[1].address, "--amount", "1"])
        .args(["--wait", "30", "--endpoint", &chain.api_endpoints()[0]])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        chain.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_dashboard_names_only_real_metrics() {
    let dir = tempfile::tempdir().unwrap();
    // One node, so N = R = W = 1 (the agent uses the defaults).
    let spec = ClusterSpec {
        extra_config: "[replication]\nn = 1\nr = 1\nw = 1\n".into(),
        ..ClusterSpec::new(1)
    };
    let cluster = LocalCluster::start(&dir.path().join("db"), &spec).unwrap();
    let node = &cluster.nodes[0];
    db_traffic(node.addr).await;
    let db_scrape = http_get(
        lambda_testkit::read_addr_file(&node.data_dir.join("admin.addr")).unwrap(),
        "/metrics",
    );

    let (agent, agent_addr) = spawn_agent(&dir.path().join("agent"), node.addr);
    agent_traffic(agent_addr).await;
    let agent_scrape = http_get(
        lambda_testkit::read_addr_file(&dir.path().join("agent/admin.addr")).unwrap(),
        "/metrics",
    );

    let spec = ChainSpec {
        validators: 1,
        accounts: 2,
        ..ChainSpec::default()
    };
    let chain = LocalChain::start(&dir.path().join("chain"), &spec).unwrap();
    chain_transfer(&chain);
    let chain_scrape = http_get(
        lambda_testkit::read_addr_file(&chain.validators[0].home.join("data/admin.addr")).unwrap(),
        "/metrics",
    );

    let mut real = sample_names(&db_scrape);
    real.extend(sample_names(&agent_scrape));
    real.extend(sample_names(&chain_scrape));
    let text = std::fs::read_to_string(deploy_dir().join("grafana/lambda.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut exprs = Vec::new();
    queries(&dashboard, &mut exprs);
    assert!(exprs.len() > 30, "{} queries", exprs.len());
    let mut used = BTreeSet::new();
    for e in &exprs {
        let names = metric_names(e);
        assert!(!names.is_empty(), "query names no lambda metric: {e}");
        for n in names {
            assert!(
                real.contains(&n),
                "{n} (in {e}) is in no scrape; scraped: {real:#?}"
            );
            used.insert(n);
        }
    }
    // The panels the dashboard promises are there.
    for must in [
        "lambda_db_request_duration_seconds_bucket",
        "lambda_db_quorum_failures_total",
        "lambda_db_hint_backlog",
        "lambda_db_aae_keys_repaired_total",
        "lambda_db_transition_partitions_to_pull",
        "lambda_db_rocksdb_sst_files_bytes",
        "lambda_chain_height",
        "lambda_chain_block_interval_seconds_bucket",
        "lambda_chain_transactions_total",
        "lambda_chain_pdp_results_total",
        "lambda_agent_points_ingested_total",
    ] {
        assert!(used.contains(must), "no panel uses {must}");
    }
    drop(agent);
}

/// `section.key` of every key line (`key = …` or `# key = …`) of an
/// example file, under its `[section]` header.
fn documented_keys(example: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut out = BTreeSet::new();
    for line in example.lines().map(str::trim) {
        if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = h.trim().to_string();
            continue;
        }
        let body = line.trim_start_matches('#').trim_start();
        let Some((key, _)) = body.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            out.insert(match section.as_str() {
                "" => key.to_string(),
                s => format!("{s}.{key}"),
            });
        }
    }
    out
}

/// Dotted paths of every leaf of a TOML table.
fn leaf_keys(prefix: &str, table: &toml::Table, out: &mut BTreeSet<String>) {
    for (k, v) in table {
        let path = match prefix {
            "" => k.clone(),
            p => format!("{p}.{k}"),
        };
        match v {
            toml::Value::Table(t) => leaf_keys(&path, t, out),
            _ => {
                out.insert(path);
            }
        }
    }
}

fn assert_explains_every_key<T: serde::Serialize>(file: &str, defaults: &T) {
    let text = std::fs::read_to_string(deploy_dir().join(file)).unwrap();
    let documented = documented_keys(&text);
    let value = toml::Value::try_from(defaults).unwrap();
    let mut keys = BTreeSet::new();
    leaf_keys("", value.as_table().unwrap(), &mut keys);
    let missing: Vec<&String> = keys.difference(&documented).collect();
    assert!(missing.is_empty(), "{file} does not explain {missing:?}");
}

#[test]
fn every_example_config_loads_and_explains_every_key() {
    let load = |file: &str, prefix: &str| {
        let path = deploy_dir().join(file);
        (path.clone(), prefix.to_string())
    };
    let (db, p) = load("lambda-db.example.toml", "LAMBDA_DB_TEST_UNUSED_");
    let cfg: lambda_db::config::NodeConfig =
        lambda_common::config::load(Some(&db), &p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg, lambda_db::config::NodeConfig::default());
    assert_explains_every_key("lambda-db.example.toml", &cfg);

    let (agent, p) = load("lambda-agent.example.toml", "LAMBDA_AGENT_TEST_UNUSED_");
    let cfg: lambda_agent::daemon::AgentConfig =
        lambda_common::config::load(Some(&agent), &p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg, lambda_agent::daemon::AgentConfig::default());
    assert_explains_every_key("lambda-agent.example.toml", &cfg);

    let (chain, p) = load("lambda-chain.example.toml", "LAMBDA_CHAIN_TEST_UNUSED_");
    let cfg: lambda_chain::node::config::NodeConfig =
        lambda_common::config::load(Some(&chain), &p).unwrap_or_else(|e| panic!("{e}"));
    assert_explains_every_key("lambda-chain.example.toml", &cfg);
}
