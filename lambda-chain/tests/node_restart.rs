//! A validator of a four-process testnet is SIGKILLed while transfers keep
//! arriving at the others; the three left keep committing them; the killed
//! one restarts from its RocksDB state and write-ahead log, catches up
//! through block sync, and afterwards all four hold the same block at every
//! height and the same balances.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod testnet;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::net::SocketAddr;

use anyhow::Result;
use lambda_chain::client::ChainClient;
use lambda_chain::types::Hash;
use lambda_common::keys::SigningKey;
use lambda_testkit::wait_for_port;
use testnet::{Net, fresh_address, transfer};

const CHAIN: &str = "node-test";
const ACCOUNTS: usize = 6;

/// Submits transfers round-robin from every account (each account always
/// through the same validator among the first three, so its nonces arrive
/// in order) until `stop`; returns what was accepted.
async fn load(
    apis: Vec<SocketAddr>,
    keys: Vec<SigningKey>,
    stop: Arc<AtomicBool>,
) -> Result<Vec<(usize, Hash)>> {
    let mut clients = Vec::new();
    for a in apis {
        clients.push(ChainClient::connect(&format!("http://{a}")).await?);
    }
    let mut nonces = [0u64; ACCOUNTS];
    let mut accepted = Vec::new();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) && n < 2_000 {
        let i = n % ACCOUNTS;
        let v = i % 3;
        let tx = transfer(CHAIN, &keys[i], nonces[i], fresh_address(i as u8), 10, 1);
        match clients[v].submit(&tx).await {
            Ok(h) => {
                nonces[i] += 1;
                accepted.push((v, h));
            }
            // A full mempool pushes back; anything else is a bug.
            Err(e) => assert!(e.to_string().contains("mempool_full"), "{e}"),
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_validator_restarts_and_catches_up() -> Result<()> {
    let mut net = Net::create(4, ACCOUNTS, &[])?;
    net.start_all()?;
    net.wait_height(&[0, 1, 2, 3], 3, Duration::from_secs(60))
        .await?;

    // Kill one validator; the other three (a quorum) keep committing while
    // transfers keep coming.
    net.process(3).kill9()?;
    let stop = Arc::new(AtomicBool::new(false));
    let keys: Vec<_> = (0..ACCOUNTS)
        .map(|i| net.account_key(i))
        .collect::<Result<_>>()?;
    let apis = (0..3).map(|v| net.api(v)).collect();
    let loader = tokio::spawn(load(apis, keys, stop.clone()));
    let base = *net.heights(&[0]).await.first().unwrap_or(&0);
    let hs = net
        .wait_height(&[0, 1, 2], base + 8, Duration::from_secs(60))
        .await?;

    // Restart it: it replays its log, fetches what it missed and rejoins.
    net.process(3).restart()?;
    wait_for_port(net.api(3), Duration::from_secs(30))?;
    let target = hs.iter().max().unwrap() + 5;
    net.wait_height(&[0, 1, 2, 3], target, Duration::from_secs(60))
        .await?;
    stop.store(true, Ordering::Relaxed);
    let accepted = loader.await??;
    assert!(
        accepted.len() > 20,
        "transfers kept coming: {}",
        accepted.len()
    );
    for (v, h) in &accepted {
        net.wait_committed(*v, *h, Duration::from_secs(30)).await?;
    }
    let log = net.procs[3].as_ref().unwrap().log();
    assert!(
        log.contains("committed through sync"),
        "the restarted validator synced:\n{}",
        testnet::tail(&log, 40)
    );

    // Same block at every height, same balances, on all four.
    let top = net.client(0).await?.status().await?.height;
    net.wait_height(&[0, 1, 2, 3], top, Duration::from_secs(30))
        .await?;
    let mut clients = Vec::new();
    for v in 0..4 {
        clients.push(net.client(v).await?);
    }
    for h in 1..=top {
        let reference = clients[0].block(h).await?.hash;
        for (v, c) in clients.iter_mut().enumerate().skip(1) {
            assert_eq!(c.block(h).await?.hash, reference, "v{v} at height {h}");
        }
    }
    for i in 0..ACCOUNTS {
        let addr = net.net.accounts[i].address;
        let reference = clients[0].account(addr).await?.account;
        for c in clients.iter_mut().skip(1) {
            assert_eq!(c.account(addr).await?.account, reference);
        }
        let paid = clients[0]
            .account(fresh_address(i as u8))
            .await?
            .account
            .balance;
        assert_eq!(
            reference.nonce * 10,
            paid,
            "account {i}: every accepted transfer was applied once"
        );
    }
    Ok(())
}
