//! A five-node cluster of real `lambda-db` processes on loopback: writes at
//! W=2 keep being acknowledged while one node is killed (`SIGKILL`) or frozen
//! (`SIGSTOP`); once it is back and hints are delivered, every acknowledged
//! write is on every replica. Concurrent blind writers make siblings and none
//! is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lambda_db::admin_cli::fetch_status;
use lambda_db::cluster::membership::read_membership_file;
use lambda_db::cluster::view::ClusterView;
use lambda_db::config::NodeConfig;
use lambda_proto::kv::v1 as pb;
use lambda_proto::kv::v1::kv_client::KvClient;
use lambda_proto::node::v1::ReplicaGetRequest;
use lambda_proto::node::v1::replica_client::ReplicaClient;
use lambda_testkit::cluster::{ClusterSpec, LocalCluster};
use tonic::transport::Channel;

fn opts() -> Option<pb::RequestOptions> {
    Some(pb::RequestOptions {
        n: Some(3),
        r: Some(2),
        w: Some(2),
        timeout_ms: Some(5_000),
        last_write_wins: false,
    })
}

async fn kv(addr: std::net::SocketAddr) -> KvClient<Channel> {
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

async fn all_up(cluster: &LocalCluster) -> bool {
    for n in &cluster.nodes {
        match fetch_status(&n.addr.to_string()).await {
            Ok(s) if s.nodes.len() == cluster.nodes.len() && s.nodes.iter().all(|x| x.up) => {}
            _ => return false,
        }
    }
    true
}

/// Hints waiting on every node but `skip` (a node that is down).
async fn total_backlog(cluster: &LocalCluster, skip: Option<usize>) -> Option<u64> {
    let mut total = 0;
    for (i, n) in cluster.nodes.iter().enumerate() {
        if Some(i) != skip {
            total += fetch_status(&n.addr.to_string()).await.ok()?.hints?.backlog;
        }
    }
    Some(total)
}

struct Harness {
    _dir: tempfile::TempDir,
    cluster: LocalCluster,
    view: ClusterView,
    acked: BTreeMap<String, String>,
}

impl Harness {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cluster = LocalCluster::start(dir.path(), &ClusterSpec::new(5)).unwrap();
        let members = read_membership_file(&cluster.membership_file).unwrap();
        let view = ClusterView::new(&members, &NodeConfig::default().placement).unwrap();
        wait_until("all nodes up", Duration::from_secs(30), || all_up(&cluster)).await;
        Self {
            _dir: dir,
            cluster,
            view,
            acked: BTreeMap::new(),
        }
    }

    /// Writes `keys` through the live nodes in turn (skipping `skip`).
    async fn write(&mut self, keys: std::ops::Range<usize>, skip: Option<usize>) -> usize {
        let live: Vec<usize> = (0..5).filter(|i| Some(*i) != skip).collect();
        let mut failures = 0;
        for k in keys {
            let node = &self.cluster.nodes[live[k % live.len()]];
            let (key, value) = (format!("key-{k}"), format!("value-{k}"));
            let req = pb::PutRequest {
                key: key.clone().into_bytes(),
                value: value.clone().into_bytes(),
                context: vec![],
                options: opts(),
            };
            match kv(node.addr).await.put(req).await {
                Ok(_) => {
                    self.acked.insert(key, value);
                }
                Err(_) => failures += 1,
            }
        }
        failures
    }

    /// Reads every acknowledged key at R=2 through the live nodes.
    async fn read_all(&self, skip: Option<usize>) {
        let live: Vec<usize> = (0..5).filter(|i| Some(*i) != skip).collect();
        for (i, (key, value)) in self.acked.iter().enumerate() {
            let node = &self.cluster.nodes[live[i % live.len()]];
            let r = kv(node.addr)
                .await
                .get(pb::GetRequest {
                    key: key.clone().into_bytes(),
                    options: opts(),
                })
                .await
                .unwrap_or_else(|e| panic!("read {key}: {e}\n{}", self.cluster.logs()))
                .into_inner();
            let got: Vec<_> = r.siblings.iter().map(|s| s.value.clone()).collect();
            assert_eq!(got, [value.clone().into_bytes()], "read of {key}");
        }
    }

    /// Every acknowledged write is on every one of its N=3 replicas.
    async fn check_replicas(&self) {
        for (key, value) in &self.acked {
            for id in self.view.preference_list(key.as_bytes(), 3) {
                let node = self.cluster.nodes.iter().find(|n| n.id == id.0).unwrap();
                let mut req = tonic::Request::new(ReplicaGetRequest {
                    key: key.clone().into_bytes(),
                });
                req.metadata_mut()
                    .insert("x-lambda-node", "n1".parse().unwrap());
                let ch = Channel::from_shared(format!("http://{}", node.addr))
                    .unwrap()
                    .connect_lazy();
                let obj = ReplicaClient::new(ch)
                    .get(req)
                    .await
                    .unwrap()
                    .into_inner()
                    .object
                    .unwrap();
                let values: Vec<_> = obj
                    .siblings
                    .iter()
                    .filter(|s| !s.tombstone)
                    .map(|s| s.value.clone())
                    .collect();
                assert_eq!(
                    values,
                    [value.clone().into_bytes()],
                    "{key} on replica {id}"
                );
            }
        }
    }

    async fn settle(&self) {
        let c = &self.cluster;
        wait_until("all nodes up again", Duration::from_secs(30), || all_up(c)).await;
        wait_until("hints delivered", Duration::from_secs(60), || async {
            total_backlog(c, None).await == Some(0)
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_a_node_then_hints_restore_every_replica() {
    let mut h = Harness::start().await;
    assert_eq!(h.write(0..60, None).await, 0);
    h.cluster.nodes[2].process.kill9().unwrap();
    let failures = h.write(60..160, Some(2)).await;
    assert_eq!(failures, 0, "W=2 writes keep succeeding with one node down");
    h.read_all(Some(2)).await;
    let backlog = total_backlog(&h.cluster, Some(2)).await;
    assert!(
        backlog.is_some_and(|b| b > 0),
        "writes for the dead node became hints: {backlog:?}"
    );
    h.cluster.restart(2).unwrap();
    h.settle().await;
    h.check_replicas().await;
    h.read_all(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigstop_a_node_then_hints_restore_every_replica() {
    let mut h = Harness::start().await;
    h.cluster.nodes[3].process.pause().unwrap();
    let failures = h.write(0..100, Some(3)).await;
    assert_eq!(
        failures, 0,
        "W=2 writes keep succeeding with one node frozen"
    );
    h.read_all(Some(3)).await;
    h.cluster.nodes[3].process.resume().unwrap();
    h.settle().await;
    h.check_replicas().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_blind_writers_make_siblings_and_lose_none() {
    let h = Harness::start().await;
    let mut tasks = Vec::new();
    for (w, node) in h.cluster.nodes.iter().enumerate() {
        let addr = node.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = kv(addr).await;
            for k in 0..20 {
                let req = pb::PutRequest {
                    key: format!("shared-{k}").into_bytes(),
                    value: format!("writer-{w}").into_bytes(),
                    context: vec![],
                    options: opts(),
                };
                c.put(req).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for k in 0..20 {
        let r = kv(h.cluster.nodes[k % 5].addr)
            .await
            .get(pb::GetRequest {
                key: format!("shared-{k}").into_bytes(),
                options: opts(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut got: Vec<String> = r
            .siblings
            .iter()
            .map(|s| String::from_utf8(s.value.clone()).unwrap())
            .collect();
        got.sort();
        let want: Vec<String> = (0..5).map(|w| format!("writer-{w}")).collect();
        assert_eq!(got, want, "shared-{k}");
    }
}
