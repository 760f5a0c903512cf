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
