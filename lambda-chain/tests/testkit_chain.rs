//! The shared multi-process chain harness (`lambda_testkit::chain`) that the
//! storage node's and the agent's integration tests use: its testnet starts
//! and commits blocks, and its accounts are funded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use lambda_chain::client::ChainClient;
use lambda_testkit::chain::{ChainSpec, LocalChain};

#[tokio::test]
async fn local_chain_commits_blocks_and_funds_its_accounts() {
    let root = tempfile::tempdir().unwrap();
    let chain = LocalChain::start(root.path(), &ChainSpec::default()).unwrap();
    let mut client = ChainClient::connect(&chain.api_endpoints()[0])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client.status().await.unwrap();
        if status.height >= 3 {
            assert_eq!(status.chain_id, chain.chain_id);
            assert_eq!(status.validator_count, 4);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no block 3 in 30 s:\n{}",
            chain.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let addr = chain.accounts[0].address.parse().unwrap();
    assert!(client.account(addr).await.unwrap().account.balance > 0);
}

async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn validators_serve_metrics_and_health_on_the_admin_port() {
    let root = tempfile::tempdir().unwrap();
    let spec = ChainSpec {
        env: vec![("LAMBDA_CHAIN_ADMIN__STALL_AFTER".into(), "1500ms".into())],
        ..ChainSpec::default()
    };
    let mut chain = LocalChain::start(root.path(), &spec).unwrap();
    let addr_file = chain.validators[0].home.join("data/admin.addr");
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        if let Ok(addr) = std::fs::read_to_string(&addr_file) {
            let m = http_get(addr.trim(), "/metrics").await;
            if m.contains("lambda_chain_blocks_total 3") || m.contains("lambda_chain_height 4") {
                break m;
            }
        }
        assert!(Instant::now() < deadline, "no metrics:\n{}", chain.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        metrics.contains("lambda_chain_block_interval_seconds_count"),
        "{metrics}"
    );
    let addr = std::fs::read_to_string(&addr_file).unwrap();
    let health = http_get(addr.trim(), "/health").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("\"status\":\"ready\""),
        "{health}"
    );
    // Three of four validators stopped: no quorum, no blocks, not ready.
    for v in &mut chain.validators[1..] {
        v.process.as_mut().unwrap().kill9().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = http_get(addr.trim(), "/health").await;
        if h.starts_with("HTTP/1.1 503") {
            assert!(h.contains("no block committed"), "{h}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still ready without a quorum: {h}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
