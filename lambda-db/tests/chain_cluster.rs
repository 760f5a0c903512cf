//! Chain mode against real processes: a 4-validator `LocalChain` (200 ms
//! blocks, 10-block epochs) and `lambda-db` nodes whose membership is the
//! chain's. Nodes pledge with the CLI and become members at the next epoch;
//! data written through any node is readable through the others; a node
//! that did not pledge has its KV requests refused and its signed peer calls
//! refused by members; a killed member is reported, voted offline and left
//! out of the next epoch; a node pledged under writes pulls its partitions
//! from the old owners (partition handoff) and no acknowledged write is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use lambda_agent::sdk::{Client, ClientConfig, RetryPolicy, SdkError, Wallet};
use lambda_chain::client::ChainClient;
use lambda_chain::state::NodeStatus;
use lambda_common::keys::{Address, SigningKey};
use lambda_db::chain::auth::{PeerSigner, SignedChannel};
use lambda_db::placement::DeviceId;
use lambda_proto::node::v1::ReplicaGetRequest;
use lambda_proto::node::v1::replica_client::ReplicaClient;
use lambda_testkit::chain::{ChainSpec, LocalChain};
use lambda_testkit::cluster::ChainNode;
use tonic::transport::Channel;

const GIB: u64 = 1 << 30;

fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

/// A client signing with the funded test account `key_file` (chain mode
/// bills every KV request), talking to `addr` only, without retries.
async fn sdk(
    key_file: &std::path::Path,
    addr: std::net::SocketAddr,
) -> Result<Client, tonic::Status> {
    let mut cfg = ClientConfig::new([format!("http://{addr}")]);
    cfg.wallet = Some(Wallet::load(key_file).map_err(|e| tonic::Status::internal(e.to_string()))?);
    cfg.retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    Client::connect(cfg).await.map_err(|e| status_of(&e))
}

fn status_of(e: &SdkError) -> tonic::Status {
    match e.root() {
        SdkError::Unavailable(m) => tonic::Status::unavailable(m.clone()),
        SdkError::PermissionDenied(m) => tonic::Status::permission_denied(m.clone()),
        SdkError::Status { code, message } => tonic::Status::new(*code, message.clone()),
        other => tonic::Status::unknown(other.to_string()),
    }
}

async fn put(
    key_file: &std::path::Path,
    addr: std::net::SocketAddr,
    key: &str,
    value: &str,
) -> Result<(), tonic::Status> {
    let c = sdk(key_file, addr).await?;
    c.put(key.as_bytes(), value.as_bytes().to_vec(), None)
        .await
        .map(|_| ())
        .map_err(|e| status_of(&e))
}

async fn get(
    key_file: &std::path::Path,
    addr: std::net::SocketAddr,
    key: &str,
) -> Result<Vec<Vec<u8>>, tonic::Status> {
    let c = sdk(key_file, addr).await?;
    let r = c.get(key.as_bytes()).await.map_err(|e| status_of(&e))?;
    Ok(r.siblings.into_iter().map(|s| s.value).collect())
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, logs: impl Fn() -> String, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Net {
    dir: tempfile::TempDir,
    chain: LocalChain,
    nodes: Vec<ChainNode>,
    ids: Vec<String>,
}

impl Net {
    /// A chain and `members` pledged nodes (each owner a test account).
    async fn start(members: usize, offline_after_ms: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = ChainSpec {
            epoch_length: 10,
            // One owner per node, one spare owner, one client.
            accounts: members + 2,
            ..ChainSpec::default()
        };
        let chain = LocalChain::start(dir.path(), &spec).unwrap();
        let mut net = Self {
            dir,
            chain,
            nodes: Vec::new(),
            ids: Vec::new(),
        };
        for _ in 0..members {
            net.add_node(offline_after_ms);
        }
        let _ = &net.dir;
        net
    }

    /// The funded account clients sign with.
    fn client_key(&self) -> std::path::PathBuf {
        self.chain.accounts.last().unwrap().key_file.clone()
    }

    fn add_node(&mut self, offline_after_ms: u64) -> usize {
        let i = self.nodes.len();
        let env = vec![("LAMBDA_LOG".into(), "info,lambda_db::chain=debug".into())];
        let n = ChainNode::start(
            self.dir.path(),
            &format!("c{i}"),
            &self.chain.api_endpoints(),
            offline_after_ms,
            env,
        )
        .unwrap();
        self.nodes.push(n);
        self.ids.push(String::new());
        i
    }

    fn pledge(&mut self, i: usize) -> serde_json::Value {
        let out = self.nodes[i]
            .pledge(
                &self.chain.accounts[i].key_file,
                5_000,
                (10 + i as u64) * GIB,
                12_500_000,
                &format!("z{i}"),
            )
            .unwrap_or_else(|e| panic!("pledge of c{i}: {e:#}\n{}", self.logs()));
        self.ids[i] = out["node"].as_str().unwrap().to_string();
        out
    }

    fn logs(&self) -> String {
        let nodes: String = self
            .nodes
            .iter()
            .map(|n| format!("==== {} ====\n{}\n", n.name, n.process.log()))
            .collect();
        format!("{nodes}{}", self.chain.logs())
    }

    /// Pledges nodes `0..count`, waits until they are members and node 0
    /// accepts a write (signed with `client_key`) of `key`.
    async fn pledge_and_serve(&mut self, count: usize, client_key: &std::path::Path, key: &str) {
        for i in 0..count {
            self.pledge(i);
        }
        let ids = self.ids[..count].to_vec();
        wait_until(
            "the pledged nodes are members",
            Duration::from_secs(60),
            || self.logs(),
            || async {
                let (_, m) = self.members().await;
                ids.iter().all(|id| m.contains(id))
            },
        )
        .await;
        wait_until(
            "writes accepted",
            Duration::from_secs(30),
            || self.logs(),
            || async {
                put(client_key, self.nodes[0].addr, key, "yes")
                    .await
                    .is_ok()
            },
        )
        .await;
    }

    async fn client(&self) -> ChainClient {
        lambda_db::chain::connect_any(&self.chain.api_endpoints())
            .await
            .unwrap()
    }

    async fn members(&self) -> (u64, Vec<String>) {
        let mut c = self.client().await;
        let epoch = c.status().await.unwrap().epoch;
        let m = c
            .membership(epoch)
            .await
            .map(|m| m.members)
            .unwrap_or_default();
        (epoch, m.iter().map(|x| x.id.to_string()).collect())
    }
}

#[tokio::test]
async fn pledged_nodes_join_serve_data_and_refuse_outsiders() {
    let mut net = Net::start(3, 10_000).await;
    let ck = net.client_key();
    let outsider = net.add_node(10_000);

    // Before any pledge: running, but no data service.
    let e = put(&ck, net.nodes[0].addr, "k", "v").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    assert!(e.message().contains("not a member of epoch"), "{e:?}");

    for i in 0..3 {
        let out = net.pledge(i);
        assert!(out["effective_epoch"].as_u64().unwrap() >= 1, "{out}");
        assert!(out["tx_hash"].as_str().unwrap().len() == 64, "{out}");
    }
    // A second pledge of the same node is refused with the chain's reason.
    let again = net.nodes[0].pledge(&net.chain.accounts[3].key_file, 5_000, GIB, 1_000_000, "z9");
    let msg = format!("{:#}", again.unwrap_err());
    assert!(msg.contains("node_exists"), "{msg}");

    let ids = net.ids[..3].to_vec();
    wait_until(
        "all three pledged nodes are members",
        Duration::from_secs(60),
        || net.logs(),
        || async {
            let (_, m) = net.members().await;
            ids.iter().all(|id| m.contains(id))
        },
    )
    .await;
    // Writes through each member are readable through every member, once
    // each node installed the epoch (the write may race the epoch start).
    for (i, n) in net.nodes[..3].iter().enumerate() {
        let key = format!("key-{i}");
        wait_until(
            "a member accepts writes",
            Duration::from_secs(30),
            || net.logs(),
            || async { put(&ck, n.addr, &key, "value").await.is_ok() },
        )
        .await;
    }
    for n in &net.nodes[..3] {
        for i in 0..3 {
            let got = get(&ck, n.addr, &format!("key-{i}"))
                .await
                .unwrap_or_else(|e| panic!("{e:?}\n{}", net.logs()));
            assert_eq!(got, vec![b"value".to_vec()]);
        }
    }

    // The outsider never pledged: its KV requests are refused...
    let e = get(&ck, net.nodes[outsider].addr, "key-0")
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    assert!(e.message().contains("not a member of epoch"), "{e:?}");
    // ...and members refuse its signed peer calls, naming why.
    let key = SigningKey::load(&net.nodes[outsider].data_dir.join("node.key")).unwrap();
    let signer = std::sync::Arc::new(PeerSigner::new(key));
    let callee = DeviceId(net.ids[0].clone());
    let mut c = ReplicaClient::new(SignedChannel::new(
        channel(net.nodes[0].addr),
        Some(signer),
        callee,
    ));
    let e = c
        .get(ReplicaGetRequest {
            key: b"key-0".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("is not a member of epoch"), "{e:?}");
    // An unsigned peer call is unauthenticated.
    let e = ReplicaClient::new(channel(net.nodes[0].addr))
        .get(ReplicaGetRequest {
            key: b"key-0".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("missing header"), "{e:?}");
}

#[tokio::test]
async fn a_killed_member_is_voted_offline_and_leaves() {
    let mut net = Net::start(3, 2_000).await;
    let ck = net.client_key();
    net.pledge_and_serve(3, &ck, "survivor").await;
    let ids = net.ids.clone();
    let victim: Address = ids[2].parse().unwrap();
    let stake_before = net.client().await.node(victim).await.unwrap().stake;
    net.nodes[2].process.kill9().unwrap();

    wait_until(
        "the victim is voted offline",
        Duration::from_secs(60),
        || net.logs(),
        || async {
            net.client()
                .await
                .node(victim)
                .await
                .map(|n| n.status == NodeStatus::Offline)
                .unwrap_or(false)
        },
    )
    .await;
    let after = net.client().await.node(victim).await.unwrap();
    assert!(
        after.stake < stake_before,
        "offline_slash_bps burnt part of the stake"
    );
    wait_until(
        "the victim left the membership",
        Duration::from_secs(30),
        || net.logs(),
        || async {
            let (_, m) = net.members().await;
            !m.contains(&ids[2]) && m.contains(&ids[0]) && m.contains(&ids[1])
        },
    )
    .await;
    // The survivors still serve what was written.
    wait_until(
        "a survivor reads the data",
        Duration::from_secs(30),
        || net.logs(),
        || async {
            get(&ck, net.nodes[1].addr, "survivor")
                .await
                .map(|v| v == vec![b"yes".to_vec()])
                .unwrap_or(false)
        },
    )
    .await;
}

/// Every node's membership-change progress.
async fn transfers(net: &Net, nodes: &[usize]) -> Vec<lambda_proto::node::v1::TransfersResponse> {
    let mut out = Vec::new();
    for &i in nodes {
        let addr = net.nodes[i].addr.to_string();
        match lambda_db::admin_cli::transfers::fetch(&addr).await {
            Ok(t) => out.push(t),
            Err(_) => return Vec::new(),
        }
    }
    out
}

#[tokio::test]
async fn a_node_pledged_under_writes_pulls_its_partitions_and_nothing_is_lost() {
    let mut net = Net::start(4, 10_000).await;
    let ck = net.client_key();
    net.pledge_and_serve(3, &ck, "w-start").await;
    let (_, before) = net.members().await;
    assert_eq!(before.len(), 3);

    // A writer through the old members, bounded in count and time, keeps
    // writing while the fourth node pledges and pulls its partitions.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (ck, stop) = (ck.clone(), stop.clone());
        let addrs = [net.nodes[0].addr, net.nodes[1].addr];
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(120);
            for i in 0..3_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                let key = format!("w-{i}");
                if put(&ck, addrs[i % 2], &key, &key).await.is_ok() {
                    acked.push(key);
                }
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    net.pledge(3);
    let newcomer = net.ids[3].clone();
    wait_until(
        "the fourth node is a member",
        Duration::from_secs(60),
        || net.logs(),
        || async { net.members().await.1.contains(&newcomer) },
    )
    .await;
    // Every node switches to the layout with the newcomer once it pulled
    // its partitions from the old owners.
    let t0 = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    let last = loop {
        let last = transfers(&net, &[0, 1, 2, 3]).await;
        let switched = last.len() == 4
            && last.iter().all(|t| {
                t.stable_epoch == t.target_epoch && t.stable_epoch == last[3].stable_epoch
            })
            && last[3].partitions_total > 0
            && last[3].partitions_done == last[3].partitions_total;
        if switched {
            break last;
        }
        assert!(
            Instant::now() < deadline,
            "no switch: {last:?}\n{}",
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "every node switched {:?} after the membership change",
        t0.elapsed()
    );
    assert!(last[3].bytes > 0, "the newcomer pulled data: {:?}", last[3]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked = writer.await.unwrap();
    assert!(
        acked.len() > 10,
        "the writer made progress: {}",
        acked.len()
    );
    eprintln!("{} acknowledged writes", acked.len());
    // Every acknowledged write is readable through the newcomer.
    for key in &acked {
        let got = get(&ck, net.nodes[3].addr, key)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}\n{}", net.logs()));
        assert_eq!(got, vec![key.as_bytes().to_vec()], "{key}");
    }
}
