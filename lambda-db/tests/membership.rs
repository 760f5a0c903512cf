//! Real `lambda-db` processes on loopback: anti-entropy refills a node whose
//! data directory was wiped (new actor id; deleted keys stay deleted), and
//! the membership changes — a node joins, a node leaves — while a writer
//! keeps writing and a reader keeps reading every acknowledged key: no
//! acknowledged write is lost and no read misses one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lambda_db::admin_cli::{aae, fetch_status, transfers};
use lambda_proto::kv::v1 as pb;
use lambda_proto::kv::v1::kv_client::KvClient;
use lambda_proto::node::v1::ReplicaGetRequest;
use lambda_proto::node::v1::replica_client::ReplicaClient;
use lambda_testkit::cluster::{ClusterSpec, LocalCluster};
use parking_lot::Mutex;
use tonic::transport::Channel;

const EXTRA: &str = "[replication]\nmax_timeout_ms = 5000\n\n\
    [aae]\nround_interval_ms = 300\n\n\
    [transition]\nmembership_poll_ms = 200\ntick_ms = 200\ndrop_grace_ms = 1000\n";

fn opts() -> Option<pb::RequestOptions> {
    Some(pb::RequestOptions {
        n: Some(3),
        r: Some(2),
        w: Some(2),
        timeout_ms: Some(5_000),
        last_write_wins: false,
    })
}

fn kv(addr: SocketAddr) -> KvClient<Channel> {
    KvClient::new(
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy(),
    )
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

async fn all_up(cluster: &LocalCluster, nodes: &[usize]) -> bool {
    for &i in nodes {
        match fetch_status(&cluster.nodes[i].addr.to_string()).await {
            Ok(s) if s.nodes.iter().all(|x| x.up) => {}
            _ => return false,
        }
    }
    true
}

fn start(nodes: usize) -> (tempfile::TempDir, LocalCluster) {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ClusterSpec::new(nodes);
    spec.extra_config = EXTRA.into();
    let cluster = LocalCluster::start(dir.path(), &spec).unwrap();
    (dir, cluster)
}

async fn put(addr: SocketAddr, key: &str, value: &str) -> bool {
    let req = pb::PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        context: vec![],
        options: opts(),
    };
    kv(addr).put(req).await.is_ok()
}

/// The live values of `key` read at R=2 through `addr`.
async fn get(addr: SocketAddr, key: &str) -> Result<Vec<String>, String> {
    let r = kv(addr)
        .get(pb::GetRequest {
            key: key.as_bytes().to_vec(),
            options: opts(),
        })
        .await
        .map_err(|e| e.message().to_string())?
        .into_inner();
    Ok(r.siblings
        .iter()
        .map(|s| String::from_utf8_lossy(&s.value).into_owned())
        .collect())
}

async fn delete(addr: SocketAddr, key: &str) {
    let r = kv(addr)
        .get(pb::GetRequest {
            key: key.as_bytes().to_vec(),
            options: opts(),
        })
        .await
        .unwrap()
        .into_inner();
    kv(addr)
        .delete(pb::DeleteRequest {
            key: key.as_bytes().to_vec(),
            context: r.context,
            options: opts(),
        })
        .await
        .unwrap();
}

/// The live values node `addr` holds itself for `key` (no quorum).
async fn replica_values(addr: SocketAddr, key: &str) -> Vec<String> {
    let mut req = tonic::Request::new(ReplicaGetRequest {
        key: key.as_bytes().to_vec(),
    });
    req.metadata_mut()
        .insert("x-lambda-node", "n1".parse().unwrap());
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let obj = ReplicaClient::new(ch)
        .get(req)
        .await
        .unwrap()
        .into_inner()
        .object
        .unwrap_or_default();
    obj.siblings
        .iter()
        .filter(|s| !s.tombstone)
        .map(|s| String::from_utf8_lossy(&s.value).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_node_is_refilled_by_anti_entropy_without_resurrections() {
    let (_dir, mut cluster) = start(3);
    wait_until("all up", Duration::from_secs(30), || {
        all_up(&cluster, &[0, 1, 2])
    })
    .await;
    let (a, b) = (cluster.nodes[0].addr, cluster.nodes[1].addr);
    for i in 0..120 {
        assert!(put(a, &format!("key-{i}"), "first").await);
    }
    for i in 0..40 {
        delete(b, &format!("key-{i}")).await;
    }
    for i in 40..60 {
        assert!(put(b, &format!("key-{i}"), "second").await);
    }
    // With three nodes and N=3, every node holds every key: wait until the
    // victim has them all, then wipe it.
    let victim = cluster.nodes[2].addr;
    wait_until("the victim converged", Duration::from_secs(30), || async {
        replica_values(victim, "key-59").await.len() == 2
            && replica_values(victim, "key-0").await.is_empty()
    })
    .await;
    let actor_before = fetch_status(&victim.to_string()).await.unwrap().actor;
    cluster.wipe(2).unwrap();
    wait_until("all up after the wipe", Duration::from_secs(30), || {
        all_up(&cluster, &[0, 1, 2])
    })
    .await;
    let status = fetch_status(&victim.to_string()).await.unwrap();
    assert_ne!(
        status.actor, actor_before,
        "a wiped node has a new actor id"
    );

    wait_until(
        "anti-entropy refilled the wiped node",
        Duration::from_secs(45),
        || async {
            for i in (40..120).step_by(7) {
                if replica_values(victim, &format!("key-{i}")).await.is_empty() {
                    return false;
                }
            }
            true
        },
    )
    .await;
    for i in 0..120 {
        let key = format!("key-{i}");
        let here = replica_values(victim, &key).await;
        let mut expected: Vec<String> = match i {
            0..40 => vec![],
            40..60 => vec!["first".into(), "second".into()],
            _ => vec!["first".into()],
        };
        let mut got = here.clone();
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "{key} on the wiped node");
        let read = get(victim, &key).await.unwrap();
        assert_eq!(
            read.is_empty(),
            i < 40,
            "{key} read through the wiped node: {read:?}"
        );
    }
    // Each pair of replicas is exchanged by the node whose id sorts first,
    // so the repairs are counted at n1 and n2.
    let mut repaired = 0;
    for n in &cluster.nodes {
        repaired += aae::fetch(&n.addr.to_string()).await.unwrap().keys_repaired;
    }
    assert!(
        repaired >= 80,
        "the refill went through anti-entropy: {repaired} keys"
    );
}

/// A writer and a reader running during a membership change.
struct Load {
    acked: Arc<Mutex<BTreeMap<String, String>>>,
    errors: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(entry: Vec<SocketAddr>) -> Self {
        let acked = Arc::new(Mutex::new(BTreeMap::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (acked, stop, entry) = (acked.clone(), stop.clone(), entry.clone());
            tokio::spawn(async move {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) && i < 100_000 {
                    let (key, value) = (format!("load-{i}"), format!("v{i}"));
                    if put(entry[i % entry.len()], &key, &value).await {
                        acked.lock().insert(key, value);
                    }
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let reader = {
            let (acked, errors, stop) = (acked.clone(), errors.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) && n < 1_000_000 {
                    let keys: Vec<(String, String)> = acked
                        .lock()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    for (k, v) in keys.iter().rev().take(200) {
                        n += 1;
                        match get(entry[n % entry.len()], k).await {
                            Ok(vals) if vals == [v.clone()] => {}
                            other => errors.lock().push(format!("{k}: {other:?}")),
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        Self {
            acked,
            errors,
            stop,
            tasks: vec![writer, reader],
        }
    }

    async fn stop(self) -> (BTreeMap<String, String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let acked = self.acked.lock().clone();
        let errors = self.errors.lock().clone();
        (acked, errors)
    }
}

/// True when every node of `nodes` serves `epoch` alone.
async fn switched(cluster: &LocalCluster, nodes: &[usize], epoch: u64) -> bool {
    for &i in nodes {
        match transfers::fetch(&cluster.nodes[i].addr.to_string()).await {
            Ok(t) if t.stable_epoch == epoch && t.target_epoch == epoch => {}
            _ => return false,
        }
    }
    true
}

async fn check_all(entry: &[SocketAddr], acked: &BTreeMap<String, String>) {
    for (n, (k, v)) in acked.iter().enumerate() {
        let got = get(entry[n % entry.len()], k).await;
        assert_eq!(got, Ok(vec![v.clone()]), "acknowledged {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_joins_under_write_load_and_no_acknowledged_write_is_lost() {
    let (_dir, mut cluster) = start(3);
    wait_until("all up", Duration::from_secs(30), || {
        all_up(&cluster, &[0, 1, 2])
    })
    .await;
    let entry: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let load = Load::start(entry.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let joiner = cluster.add_node().unwrap();
    let all = [0, 1, 2, joiner];
    wait_until(
        "every node switched to epoch 2",
        Duration::from_secs(60),
        || switched(&cluster, &all, 2),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (acked, errors) = load.stop().await;
    assert!(
        acked.len() > 100,
        "the writer kept writing: {}",
        acked.len()
    );
    assert!(
        errors.is_empty(),
        "reads during the change: {errors:?}\n{}",
        cluster.logs()
    );
    let t = transfers::fetch(&cluster.nodes[joiner].addr.to_string())
        .await
        .unwrap();
    assert!(
        t.partitions_total > 0 && t.partitions_done == t.partitions_total,
        "{t:?}"
    );
    check_all(&entry, &acked).await;
    check_all(&[cluster.nodes[joiner].addr], &acked).await;
    // The operator commands: `transfers --watch` returns at once when the
    // change is over; both print JSON.
    let addr = cluster.nodes[joiner].addr.to_string();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(lambda_testkit::binary("lambda-db").unwrap())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let t = cli(&[
        "transfers",
        "--watch",
        "--watch-timeout-s",
        "20",
        "-o",
        "json",
        "-e",
        &addr,
    ]);
    assert_eq!(t["stable_epoch"], 2);
    assert_eq!(t["in_transition"], false);
    assert_eq!(t["nodes"].as_array().unwrap().len(), 4);
    let a = cli(&["aae", "status", "-o", "json", "-e", &addr]);
    assert_eq!(a["enabled"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_leaves_under_write_load_and_no_acknowledged_write_is_lost() {
    let (_dir, mut cluster) = start(4);
    wait_until("all up", Duration::from_secs(30), || {
        all_up(&cluster, &[0, 1, 2, 3])
    })
    .await;
    let entry: Vec<SocketAddr> = cluster.nodes[..3].iter().map(|n| n.addr).collect();
    let load = Load::start(entry.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.remove_node(3).unwrap();
    wait_until(
        "the staying nodes switched to epoch 2",
        Duration::from_secs(60),
        || switched(&cluster, &[0, 1, 2], 2),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (acked, errors) = load.stop().await;
    assert!(
        acked.len() > 100,
        "the writer kept writing: {}",
        acked.len()
    );
    assert!(
        errors.is_empty(),
        "reads during the change: {errors:?}\n{}",
        cluster.logs()
    );
    cluster.nodes[3].process.kill9().unwrap();
    check_all(&entry, &acked).await;
}
