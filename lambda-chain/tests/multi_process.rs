//! Four validator processes on loopback (the `lambda-chain-consensus-test`
//! binary: the runner with the test application, gRPC over TCP, write-ahead
//! logs and blocks on disk) commit blocks; one is killed with SIGKILL,
//! restarted, and catches up through block sync; all four agree on the
//! block at every height they share, and every certificate verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use lambda_chain::network::codec::committed_from_pb;
use lambda_chain::types::{Hash, Validator, ValidatorSet};
use lambda_common::keys::SigningKey;
use lambda_proto::chain::v1 as pb;
use lambda_proto::chain::v1::consensus_service_client::ConsensusServiceClient;
use lambda_testkit::{Process, free_addr, wait_for_port};

const CHAIN_ID: &str = "mp-test";

struct Node {
    addr: SocketAddr,
    process: Process,
}

fn config(
    dir: &Path,
    key: &SigningKey,
    keys: &[SigningKey],
    me: SocketAddr,
    peers: &[SocketAddr],
) -> String {
    let validators: Vec<String> = keys.iter().map(|k| format!("\"{}\"", k.public())).collect();
    let peers: Vec<String> = peers
        .iter()
        .filter(|p| **p != me)
        .map(|p| format!("\"http://{p}\""))
        .collect();
    format!(
        r#"key = "{key}"
validators = [{validators}]

[runner]
data_dir = "{dir}"
listen = "{me}"

[runner.engine]
chain_id = "{CHAIN_ID}"

[runner.engine.timeouts]
propose = "600ms"
propose_delta = "200ms"
prevote = "200ms"
prevote_delta = "100ms"
precommit = "200ms"
precommit_delta = "100ms"
block_time = "200ms"

[runner.network]
peers = [{peers}]
gossip_interval = "300ms"
sync_interval = "300ms"
sync_after_stall = "3s"
backoff_max = "1s"
"#,
        key = key.to_text(),
        validators = validators.join(", "),
        dir = dir.display(),
        peers = peers.join(", "),
    )
}

fn spawn(dir: &Path, cfg: &str, addr: SocketAddr) -> Result<Process> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("node.toml");
    std::fs::write(&path, cfg)?;
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_lambda-chain-consensus-test"));
    let p = Process::spawn(
        bin,
        vec!["--config".into(), path.display().to_string()],
        vec![("LAMBDA_LOG".into(), "info".into())],
        dir.join("node.log"),
    )?;
    wait_for_port(addr, Duration::from_secs(30)).with_context(|| p.log())?;
    Ok(p)
}

async fn client(addr: SocketAddr) -> Result<ConsensusServiceClient<tonic::transport::Channel>> {
    Ok(ConsensusServiceClient::connect(format!("http://{addr}"))
        .await?
        .max_decoding_message_size(64 << 20))
}

async fn committed(addr: SocketAddr) -> Result<u64> {
    let s = client(addr)
        .await?
        .status(pb::StatusRequest {})
        .await?
        .into_inner();
    Ok(s.committed_height)
}

/// Waits until `pred` holds for the committed heights of `nodes`.
async fn wait_heights(
    nodes: &[SocketAddr],
    what: &str,
    timeout: Duration,
    pred: impl Fn(&[u64]) -> bool,
) -> Result<Vec<u64>> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut hs = Vec::new();
        for a in nodes {
            hs.push(committed(*a).await.unwrap_or(0));
        }
        if pred(&hs) {
            return Ok(hs);
        }
        if Instant::now() > deadline {
            bail!("{what}: heights {hs:?} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every block of a node from height 1 to `to`, with its certificate
/// checked against the set.
async fn chain(addr: SocketAddr, to: u64, set: &ValidatorSet) -> Result<Vec<Hash>> {
    let mut c = client(addr).await?;
    let mut out = Vec::new();
    while (out.len() as u64) < to {
        let from = out.len() as u64 + 1;
        let resp = c
            .sync(pb::SyncRequest {
                from_height: from,
                max_blocks: 32,
            })
            .await?
            .into_inner();
        if resp.blocks.is_empty() {
            bail!("{addr} has no block {from}");
        }
        for b in resp.blocks {
            let b = committed_from_pb(b)?;
            assert_eq!(b.height, out.len() as u64 + 1);
            b.certificate.verify(CHAIN_ID, set)?;
            assert_eq!(b.certificate.block_hash, b.block_hash);
            out.push(b.block_hash);
        }
    }
    out.truncate(to as usize);
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_commit_and_a_killed_one_catches_up() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let keys: Vec<SigningKey> = (0..4u8)
        .map(|i| SigningKey::from_seed([40 + i; 32]))
        .collect();
    let set = ValidatorSet::new(
        keys.iter()
            .map(|k| Validator::new(k.public(), 10))
            .collect(),
    )?;
    let addrs: Vec<SocketAddr> = (0..4).map(|_| free_addr()).collect::<Result<_>>()?;
    let mut nodes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let dir = tmp.path().join(format!("v{i}"));
        let cfg = config(&dir, key, &keys, addrs[i], &addrs);
        nodes.push(Node {
            addr: addrs[i],
            process: spawn(&dir, &cfg, addrs[i])?,
        });
    }
    let all: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let report = |nodes: &[Node]| {
        nodes
            .iter()
            .map(|n| n.process.log())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };

    let hs = wait_heights(&all, "all four commit", Duration::from_secs(60), |h| {
        h.iter().all(|x| *x >= 3)
    })
    .await
    .with_context(|| report(&nodes))?;

    // Kill one validator; the other three (quorum) keep committing.
    nodes[3].process.kill9()?;
    let base = *hs.iter().max().unwrap();
    let others = &all[..3];
    let hs = wait_heights(
        others,
        "three commit without the fourth",
        Duration::from_secs(60),
        |h| h.iter().all(|x| *x >= base + 5),
    )
    .await
    .with_context(|| report(&nodes))?;

    // Restart it: it replays its log, fetches what it missed and rejoins.
    nodes[3].process.restart()?;
    wait_for_port(all[3], Duration::from_secs(30))?;
    let target = *hs.iter().max().unwrap() + 3;
    let hs = wait_heights(
        &all,
        "the restarted validator catches up",
        Duration::from_secs(60),
        |h| h.iter().all(|x| *x >= target),
    )
    .await
    .with_context(|| report(&nodes))?;
    assert!(
        nodes[3].process.log().contains("committed through sync"),
        "the restarted validator caught up through block sync"
    );

    eprintln!(
        "heights {hs:?}; restarted validator's log:\n{}",
        nodes[3]
            .process
            .log()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Every node has the same block at every height they share.
    let shared = *hs.iter().min().unwrap();
    let reference = chain(all[0], shared, &set).await?;
    for a in &all[1..] {
        assert_eq!(chain(*a, shared, &set).await?, reference, "{a} disagrees");
    }
    Ok(())
}
