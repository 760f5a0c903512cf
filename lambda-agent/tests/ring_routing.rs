//! Ring routing against real `lambda-db` processes on loopback
//! (`LocalCluster`), with ONE configured endpoint: every write is
//! coordinated by the first node of its key's preference list (the write's
//! actor is that node's: a node that forwards a write leaves the
//! coordinator's actor, one that coordinates it leaves its own), reads go
//! there first, requests keep working when the configured node is killed,
//! and a membership change (a fourth node) is picked up by the background
//! refresh. The expected coordinators are computed here with
//! `lambda_placement` from the membership the test cluster writes,
//! independently of the SDK.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_agent::sdk::{
    Client, ClientConfig, Outcome, RetryPolicy, RingRouter, Route, Router, Routing,
};
use lambda_placement::{Device, DeviceId, Membership, Placement, PlacementConfig};
use lambda_proto::node::v1 as npb;
use lambda_proto::node::v1::admin_client::AdminClient;
use lambda_testkit::cluster::{ClusterSpec, LocalCluster};
use parking_lot::Mutex;

const EXTRA: &str = "[replication]\nmax_timeout_ms = 5000\n\n\
    [aae]\nround_interval_ms = 300\n\n\
    [transition]\nmembership_poll_ms = 200\ntick_ms = 200\ndrop_grace_ms = 1000\n";

fn start(nodes: usize) -> (tempfile::TempDir, LocalCluster) {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ClusterSpec::new(nodes);
    spec.extra_config = EXTRA.into();
    let cluster = LocalCluster::start(dir.path(), &spec).unwrap();
    (dir, cluster)
}

async fn status(endpoint: &str) -> Option<npb::StatusResponse> {
    let mut admin = AdminClient::connect(endpoint.to_string()).await.ok()?;
    Some(admin.status(npb::StatusRequest {}).await.ok()?.into_inner())
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Node id → actor of `nodes`, once every one sees all of them up.
async fn actors_once(cluster: &LocalCluster, nodes: &[usize]) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for &i in nodes {
        let s = status(&format!("http://{}", cluster.nodes[i].addr)).await?;
        if s.nodes.len() != nodes.len() || !s.nodes.iter().all(|x| x.up) {
            return None;
        }
        out.insert(s.node_id, s.actor);
    }
    Some(out)
}

/// Waits until every node sees every node up; returns node id → actor.
async fn actors(cluster: &LocalCluster, nodes: &[usize]) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(a) = actors_once(cluster, nodes).await {
            return a;
        }
        assert!(Instant::now() < deadline, "nodes {nodes:?} never all up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The placement the nodes compute for members `ids` (as `LocalCluster`
/// writes them: capacity and bandwidth 100, zone by index), with lambda-db's
/// default placement settings.
fn placement(ids: &[&str], zones: usize, epoch: u64) -> Placement {
    let devices = ids
        .iter()
        .map(|id| {
            let i: usize = id[1..].parse().unwrap();
            Device {
                id: DeviceId((*id).to_string()),
                capacity: 100,
                bandwidth: 100,
                zone: format!("z{}", (i - 1) % zones),
            }
        })
        .collect();
    let cfg = PlacementConfig {
        partitions: 1024,
        replicas: 5,
        ..PlacementConfig::default()
    };
    Placement::compute(&Membership { epoch, devices }, &cfg).unwrap()
}

fn first_of(p: &Placement, key: &[u8]) -> String {
    p.preference_list_of_key(key)[0].0.clone()
}

/// The coordinator of a fresh key's write: the node whose actor is on it.
fn coordinator(actors: &BTreeMap<String, String>, write_actor: &str) -> String {
    actors
        .iter()
        .find(|(_, a)| *a == write_actor)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("actor {write_actor} is no node's: {actors:?}"))
}

/// Records where each first attempt went.
#[derive(Debug)]
struct Recorder {
    inner: Arc<RingRouter>,
    firsts: Mutex<Vec<(Vec<u8>, Option<String>)>>,
}

impl Router for Recorder {
    fn route(&self, key: &[u8], attempt: u32) -> Route {
        let r = self.inner.route(key, attempt);
        if attempt == 1 {
            self.firsts.lock().push((key.to_vec(), r.node.clone()));
        }
        r
    }

    fn channels(&self) -> Vec<tonic::transport::Channel> {
        self.inner.channels()
    }

    fn report(&self, route: &Route, outcome: Outcome<'_>) {
        self.inner.report(route, outcome);
    }
}

fn config(endpoint: String) -> ClientConfig {
    let mut cfg = ClientConfig::new([endpoint]);
    cfg.ring.refresh_interval_ms = 300;
    cfg.ring.suspect_ms = 5_000;
    cfg.retry = RetryPolicy {
        max_attempts: 6,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_elapsed: Duration::from_secs(20),
        retry_write_timeouts: false,
    };
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_endpoint_reaches_every_coordinator_and_survives_its_death() {
    let (_dir, mut cluster) = start(3);
    let actors = actors(&cluster, &[0, 1, 2]).await;
    let ring = placement(&["n1", "n2", "n3"], 3, 1);
    let cfg = config(cluster.endpoints()[0].clone());
    let keys: Vec<Vec<u8>> = (0..60).map(|i| format!("key-{i}").into_bytes()).collect();

    // Round robin over one endpoint: n1 coordinates every write (with N = 3
    // on 3 nodes it is a replica of every key). This is what ring routing
    // must change.
    let mut rr = cfg.clone();
    rr.routing = Routing::RoundRobin;
    let rr = Client::connect(rr).await.unwrap();
    for k in &keys[..10] {
        let w = rr.put(k, b"rr".to_vec(), None).await.unwrap();
        assert_eq!(coordinator(&actors, &w.siblings[0].actor), "n1");
    }

    // Ring routing (the default): each write is coordinated by its key's
    // first node, and every node is first for some keys.
    let client = Client::connect(cfg.clone()).await.unwrap();
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for k in &keys[10..] {
        let w = client.put(k, b"ring".to_vec(), None).await.unwrap();
        let c = coordinator(&actors, &w.siblings[0].actor);
        assert_eq!(c, first_of(&ring, k), "key {}", String::from_utf8_lossy(k));
        *per_node.entry(c).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3, "{per_node:?}");

    // Reads: the first attempt goes to the key's first node.
    let router = Arc::new(RingRouter::connect(&cfg).await.unwrap());
    let snap = router.snapshot().expect("the ring is known after connect");
    assert_eq!(
        (snap.stable_epoch, snap.newest_epoch, snap.nodes.len()),
        (1, 1, 3)
    );
    let rec = Arc::new(Recorder {
        inner: router.clone(),
        firsts: Mutex::new(Vec::new()),
    });
    let reader = Client::with_router(rec.clone(), cfg.clone());
    for k in &keys[10..] {
        let r = reader.get(k).await.unwrap();
        assert_eq!(r.siblings[0].value, b"ring");
    }
    for (k, node) in rec.firsts.lock().iter() {
        assert_eq!(node.as_deref(), Some(first_of(&ring, k).as_str()));
    }

    // Kill the only configured endpoint: requests retry down the list, and
    // keys whose first node was n1 are coordinated by their second node.
    cluster.nodes[0].process.kill9().unwrap();
    let mut moved = 0;
    for (i, k) in keys.iter().enumerate() {
        let value = format!("after-{i}").into_bytes();
        let w = client.put(k, value.clone(), None).await.unwrap();
        let list = ring.preference_list_of_key(k);
        let want = if list[0].0 == "n1" {
            &list[1]
        } else {
            &list[0]
        };
        let got = w
            .siblings
            .iter()
            .find(|s| s.value == value)
            .map(|s| coordinator(&actors, &s.actor))
            .unwrap();
        assert_eq!(got, want.0, "key {}", String::from_utf8_lossy(k));
        moved += usize::from(list[0].0 == "n1");
        let r = client.get(k).await.unwrap();
        assert!(r.siblings.iter().any(|s| s.value == value));
    }
    assert!(moved > 0, "some keys had n1 first");
    // The refresh still finds the ring, from the members it knows.
    assert!(router.refresh().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_change_is_picked_up_by_the_refresh() {
    let (_dir, mut cluster) = start(3);
    actors(&cluster, &[0, 1, 2]).await;
    let cfg = config(cluster.endpoints()[0].clone());
    let router = Arc::new(RingRouter::connect(&cfg).await.unwrap());
    let client = Client::with_router(router.clone(), cfg.clone());
    assert_eq!(router.snapshot().unwrap().newest_epoch, 1);
    let installed = router.stats().installed;

    let joiner = cluster.add_node().unwrap();
    wait_until(
        "the router sees epoch 2",
        Duration::from_secs(30),
        || async { router.snapshot().unwrap().newest_epoch == 2 },
    )
    .await;
    assert!(router.stats().installed > installed);
    let snap = router.snapshot().unwrap();
    let n4 = format!("{}", cluster.nodes[joiner].addr);
    assert!(snap.nodes.contains(&("n4".to_string(), n4)), "{snap:?}");
    // Requests keep working during the change.
    client.put(b"during", b"v".to_vec(), None).await.unwrap();

    wait_until("the change is over", Duration::from_secs(90), || async {
        router.snapshot().unwrap().stable_epoch == 2
    })
    .await;
    let actors = actors(&cluster, &[0, 1, 2, joiner]).await;
    let ring = placement(&["n1", "n2", "n3", "n4"], 3, 2);
    let keys: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("new-{i}").into_bytes())
        .filter(|k| first_of(&ring, k) == "n4")
        .take(10)
        .collect();
    assert_eq!(keys.len(), 10);
    for k in &keys {
        assert_eq!(router.nodes_for(k)[0], "n4");
        let w = client.put(k, b"v".to_vec(), None).await.unwrap();
        assert_eq!(coordinator(&actors, &w.siblings[0].actor), "n4");
    }
    assert_eq!(
        client.get(b"during").await.unwrap().siblings[0].value,
        b"v".to_vec()
    );
}
