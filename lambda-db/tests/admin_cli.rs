//! The operator CLI, run as the real `lambda-db` binary against real
//! processes: a 3-node `LocalCluster` (`ring show` counts and preference
//! lists checked against where keys are actually stored, `hints` after a
//! node is killed) and a `LocalChain` (`chain status`, `pdp results` for a
//! node pledged by the test). Unreachable endpoints give a clear error and a
//! non-zero exit code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use lambda_agent::sdk::pdp_contract::wait_committed;
use lambda_chain::client::ChainClient;
use lambda_chain::tx::kind::Pledge;
use lambda_chain::tx::{Tx, TxBody, TxKind};
use lambda_common::keys::SigningKey;
use lambda_db::admin_cli::fetch_status;
use lambda_proto::kv::v1 as kv;
use lambda_proto::kv::v1::kv_client::KvClient;
use lambda_proto::node::v1::MultiGetRequest;
use lambda_proto::node::v1::replica_client::ReplicaClient;
use lambda_testkit::chain::{ChainSpec, LocalChain};
use lambda_testkit::cluster::{ClusterSpec, LocalCluster};
use serde_json::Value;
use tonic::transport::Channel;

/// Runs `lambda-db ARGS` without the endpoint variables of the caller's
/// environment.
fn cli(args: &[&str]) -> Output {
    std::process::Command::new(lambda_testkit::binary("lambda-db").unwrap())
        .args(args)
        .env_remove("LAMBDA_ENDPOINT")
        .env_remove("LAMBDA_CHAIN")
        .output()
        .unwrap()
}

/// Runs a command that must succeed; its standard output.
fn ok(args: &[&str]) -> String {
    let out = cli(args);
    assert!(
        out.status.success(),
        "lambda-db {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command with `-o json`; its one JSON object.
fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let text = ok(&all);
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "one line of JSON: {text}"
    );
    serde_json::from_str(&text).unwrap()
}

/// Runs a command that must fail; its standard error.
fn fails(args: &[&str]) -> String {
    let out = cli(args);
    assert!(
        !out.status.success(),
        "lambda-db {} succeeded",
        args.join(" ")
    );
    String::from_utf8(out.stderr).unwrap()
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

async fn put(addr: SocketAddr, key: &str, n: u32, w: u32) -> Result<(), tonic::Status> {
    let req = kv::PutRequest {
        key: key.as_bytes().to_vec(),
        value: b"v".to_vec(),
        context: vec![],
        options: Some(kv::RequestOptions {
            n: Some(n),
            r: Some(1),
            w: Some(w),
            timeout_ms: Some(5_000),
            last_write_wins: false,
        }),
    };
    KvClient::new(channel(addr)).put(req).await.map(|_| ())
}

/// True when the node at `addr` stores `key` itself (hints not counted).
async fn holds(addr: SocketAddr, key: &str) -> bool {
    let mut req = tonic::Request::new(MultiGetRequest {
        keys: vec![key.as_bytes().to_vec()],
        with_hints: false,
    });
    req.metadata_mut()
        .insert("x-lambda-node", "n1".parse().unwrap());
    let r = ReplicaClient::new(channel(addr))
        .multi_get(req)
        .await
        .unwrap()
        .into_inner();
    r.objects[0].siblings.iter().any(|s| !s.tombstone)
}

async fn start_cluster(dir: &std::path::Path) -> LocalCluster {
    let mut spec = ClusterSpec::new(3);
    // No anti-entropy: a key written with N=1 must stay where it was put.
    spec.extra_config = "[aae]\nenabled = false\n".into();
    let cluster = LocalCluster::start(dir, &spec).unwrap();
    wait_until("every node up", Duration::from_secs(30), || async {
        for n in &cluster.nodes {
            match fetch_status(&n.addr.to_string()).await {
                Ok(s) if s.nodes.len() == 3 && s.nodes.iter().all(|x| x.up) => {}
                _ => return false,
            }
        }
        true
    })
    .await;
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_show_counts_add_up_and_key_lookups_match_where_keys_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start_cluster(dir.path()).await;
    let e = cluster.nodes[0].addr.to_string();

    let ring = json(&["ring", "show", "-e", &e]);
    assert_eq!(ring["node_id"], "n1");
    assert_eq!(ring["partitions"], 1024);
    assert_eq!(ring["n"], 3);
    assert_eq!(ring["in_transition"], false);
    assert_eq!(ring["matches_node"], true, "{ring}");
    let nodes = ring["layouts"][0]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let sum = |k: &str| nodes.iter().map(|n| n[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("primary_partitions"), 1024);
    assert_eq!(sum("replica_partitions"), 1024 * 3);
    assert!(nodes.iter().all(|n| n["up"] == true && n["weight"] == 100));

    let table = ok(&["ring", "show", "-e", &e]);
    assert!(table.contains("epoch 1 (stable)"), "{table}");
    for id in ["n1", "n2", "n3"] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(id) && l.contains(" up ")),
            "{table}"
        );
    }
    assert!(table.lines().all(|l| l.chars().count() <= 120), "{table}");
    assert!(!table.contains("WARNING"), "{table}");

    // Keys written with N=1 are stored by the first node of their list only.
    for k in 0..4 {
        let key = format!("admin-cli-key-{k}");
        put(cluster.nodes[k % 3].addr, &key, 1, 1).await.unwrap();
        let lookup = json(&["ring", "show", "-e", &e, "--key", &key]);
        let list = &lookup["lookup"]["lists"][0]["preference_list"];
        let first = list[0].as_str().unwrap().to_string();
        for n in &cluster.nodes {
            assert_eq!(
                holds(n.addr, &key).await,
                n.id == first,
                "{key} on {}: {lookup}",
                n.id
            );
        }
        let p = lookup["lookup"]["partition"].as_u64().unwrap().to_string();
        let by_partition = json(&["ring", "show", "-e", &e, "--partition", &p]);
        assert_eq!(by_partition["lookup"]["lists"][0]["preference_list"], *list);
        let text = ok(&["ring", "show", "-e", &e, "--key", &key]);
        assert!(text.contains(&format!("is in partition {p}")), "{text}");
    }
    let err = fails(&["ring", "show", "-e", &e, "--partition", "1024"]);
    assert!(err.contains("partition 1024 is out of range"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_show_a_backlog_for_a_killed_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start_cluster(dir.path()).await;
    let e = cluster.nodes[0].addr.to_string();
    let before = json(&["hints", "-e", &e, "--all"]);
    assert_eq!(before["backlog"], 0, "{before}");
    assert_eq!(before["nodes"].as_array().unwrap().len(), 3, "{before}");

    cluster.nodes[2].process.kill9().unwrap();
    // N=2 on three nodes: a key whose list holds n3 gets a hint for it on
    // the third node.
    let mut acked = 0;
    for k in 0..40 {
        let addr = cluster.nodes[k % 2].addr;
        if put(addr, &format!("hinted-{k}"), 2, 2).await.is_ok() {
            acked += 1;
        }
    }
    assert!(
        acked > 30,
        "writes with one node down: {acked} of 40 acknowledged"
    );

    let mut last = Value::Null;
    wait_until(
        "a hint backlog for n3, seen down",
        Duration::from_secs(30),
        || {
            last = json(&["hints", "-e", &e, "--all"]);
            let target = last["targets"]
                .as_array()
                .and_then(|t| t.iter().find(|t| t["target"] == "n3").cloned());
            let ready = target.is_some_and(|t| t["hints"].as_u64() > Some(0) && t["up"] == false);
            async move { ready }
        },
    )
    .await;
    let targets: u64 = last["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["hints"].as_u64().unwrap())
        .sum();
    assert_eq!(last["backlog"].as_u64(), Some(targets), "{last}");
    let unreachable = last["unreachable"].as_array().unwrap();
    assert_eq!(unreachable.len(), 1, "{last}");
    let n3 = cluster.nodes[2].addr.to_string();
    assert!(unreachable[0]["endpoint"].as_str().unwrap().contains(&n3));
    assert!(last["nodes"][0]["max_backlog"].as_u64() > Some(0));

    let table = ok(&["hints", "-e", &e, "--all"]);
    let row = table.lines().find(|l| l.starts_with("n3 ")).unwrap();
    assert!(row.contains("DOWN"), "{table}");
    assert!(table.contains("not answering:"), "{table}");
}

#[test]
fn node_commands_name_an_unreachable_endpoint() {
    for args in [
        &["status", "-e", "127.0.0.1:1"][..],
        &["ring", "show", "-e", "127.0.0.1:1"],
        &["hints", "-e", "127.0.0.1:1"],
        &["aae", "status", "-e", "127.0.0.1:1"],
        &["transfers", "-e", "127.0.0.1:1", "-o", "json"],
    ] {
        let err = fails(args);
        assert!(
            err.contains("node at 127.0.0.1:1: unreachable"),
            "{args:?}: {err}"
        );
    }
    let err = fails(&["status", "-e", "127.0.0.1:1,127.0.0.1:2"]);
    assert!(
        err.contains("127.0.0.1:1") && err.contains("127.0.0.1:2"),
        "{err}"
    );
}

async fn pledge(chain: &LocalChain, stake: u64) -> String {
    let mut c = ChainClient::connect(&chain.api_endpoints()[0])
        .await
        .unwrap();
    let chain_id = c.status().await.unwrap().chain_id;
    let owner = SigningKey::load(&chain.accounts[0].key_file).unwrap();
    let o = owner.public().address();
    let node = SigningKey::generate();
    let body = TxBody {
        chain_id: chain_id.clone(),
        nonce: c.account(o).await.unwrap().next_nonce,
        fee: 1,
        kind: TxKind::Pledge(Pledge {
            node_public_key: node.public(),
            node_signature: Pledge::prove(&node, &chain_id, &o),
            endpoint: "127.0.0.1:9".into(),
            capacity_bytes: 100 << 30,
            bandwidth_bps: 125_000_000,
            zone: "z1".into(),
            stake,
        }),
    };
    let hash = c.submit(&Tx::sign(&owner, &body)).await.unwrap();
    wait_committed(&mut c, hash, Duration::from_secs(30))
        .await
        .unwrap();
    node.public().address().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_status_and_pdp_results_from_a_local_chain() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec {
        validators: 1,
        accounts: 1,
        epoch_length: 10,
        ..ChainSpec::default()
    };
    let chain = LocalChain::start(dir.path(), &spec).unwrap();
    let api = chain.api_endpoints()[0].clone();
    // The first validator listed is down: the next one answers.
    let list = format!("http://127.0.0.1:1,{api}");
    let mut status = Value::Null;
    wait_until("a few blocks", Duration::from_secs(30), || {
        let out = cli(&["chain", "status", "--chain", &list, "-o", "json"]);
        if out.status.success() {
            status = serde_json::from_slice(&out.stdout).unwrap();
        }
        let ready = status["height"].as_u64() >= Some(3);
        async move { ready }
    })
    .await;
    assert_eq!(status["chain_id"], "test-chain");
    assert_eq!(status["epoch_length"], 10);
    assert_eq!(status["validator_count"], 1);
    assert!(
        status["validators"][0]["power"].as_u64() > Some(0),
        "{status}"
    );
    assert!(status["validators"][0]["stake"].is_u64(), "{status}");
    assert!(status["block_time_ms"].as_u64() > Some(0), "{status}");
    for k in [
        "price_per_request",
        "price_per_mib",
        "min_node_stake",
        "epoch",
        "next_epoch_height",
    ] {
        assert!(status[k].is_u64(), "{k}: {status}");
    }
    assert_eq!(status["answered_by"]["endpoint"], api.as_str());
    let table = ok(&["chain", "status", "--chain", &api]);
    assert!(
        table.contains("test-chain") && table.contains("VALIDATOR"),
        "{table}"
    );

    let min_stake = status["min_node_stake"].as_u64().unwrap();
    let node = pledge(&chain, min_stake).await;
    let mut results = Value::Null;
    wait_until(
        "the pledged node in the membership",
        Duration::from_secs(30),
        || {
            results = json(&["pdp", "results", "--chain", &api]);
            let found = results["nodes"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n["node_id"] == node.as_str()));
            async move { found }
        },
    )
    .await;
    let one = json(&["pdp", "results", "--chain", &api, "--node", &node]);
    let n = &one["nodes"][0];
    assert_eq!(one["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(n["node_id"], node.as_str());
    assert_eq!(n["status"], "member");
    assert_eq!(n["stake"].as_u64(), Some(min_stake));
    assert_eq!(
        (n["passes"].as_u64(), n["failures"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        n["last"].is_null() && n["results"] == serde_json::json!([]),
        "{one}"
    );
    let table = ok(&["pdp", "results", "--chain", &api, "--node", &node]);
    assert!(table.contains(&node) && table.contains("none"), "{table}");

    let err = fails(&["chain", "status", "--chain", "http://127.0.0.1:1"]);
    assert!(
        err.contains("validator at http://127.0.0.1:1: unreachable"),
        "{err}"
    );
    let err = fails(&["pdp", "results", "--chain", &api, "--node", "zz"]);
    assert!(err.contains("not a node id"), "{err}");
}
