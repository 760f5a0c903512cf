//! Four `lambda-chain start` processes of a `lambda-chain testnet 4` commit
//! blocks; transfers submitted through the gRPC API to any validator are
//! gossiped, committed, and change balances on every validator; invalid
//! transactions (bad signature, replayed nonce, insufficient funds,
//! malformed bytes) are refused by `SubmitTx` with their reason and never
//! appear in a block; `SubscribeBlocks` replays from height 1 and then
//! follows new blocks; SIGTERM stops every validator cleanly (exit 0).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod testnet;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use lambda_chain::api::convert::BlockView;
use lambda_chain::client::{ClientError, TxStatus};
use lambda_chain::types::Hash;
use lambda_common::keys::Signature;
use testnet::{FUNDS, Net, fresh_address, transfer};
use tokio_stream::StreamExt as _;

const CHAIN: &str = "node-test";

/// Asserts a refusal's gRPC code and reason code.
fn refused(r: Result<Hash, ClientError>, code: tonic::Code, reason: &str) -> String {
    match r {
        Err(ClientError::Rejected {
            code: c,
            reason: r,
            message,
        }) => {
            assert_eq!((c, r.as_str()), (code, reason), "{message}");
            message
        }
        other => panic!("expected a {code:?} {reason} refusal, got {other:?}"),
    }
}

/// A subscriber from height 1: replays what is stored, then follows until
/// it has seen the height sent on the returned channel.
async fn subscribe_from_one(
    net: &Net,
) -> Result<(
    tokio::sync::watch::Sender<u64>,
    tokio::task::JoinHandle<Vec<BlockView>>,
)> {
    let mut sub = net.client(2).await?.subscribe(1).await?;
    let (until_tx, until) = tokio::sync::watch::channel(u64::MAX);
    let collector = tokio::spawn(async move {
        let mut blocks: Vec<BlockView> = Vec::new();
        while let Some(b) = sub.next().await {
            let b = b.unwrap();
            let h = b.height;
            blocks.push(b);
            if h >= *until.borrow() {
                break;
            }
        }
        blocks
    });
    Ok((until_tx, collector))
}

/// Two rounds of transfers: each account pays a fresh address through
/// validator i % 4 (nonce 0, then nonce 1 through the same validator).
/// Returns what each account paid and the (validator, hash) submitted.
async fn pay(net: &Net) -> Result<(BTreeMap<usize, u64>, Vec<(usize, Hash)>)> {
    let mut expected: BTreeMap<usize, u64> = BTreeMap::new();
    let mut hashes = Vec::new();
    for round in 0..2u64 {
        for i in 0..6 {
            let key = net.account_key(i)?;
            let amount = 1_000 + i as u64 + 100 * round;
            let tx = transfer(CHAIN, &key, round, fresh_address(i as u8), amount, 2);
            let v = i % 4;
            let h = net.client(v).await?.submit(&tx).await?;
            assert_eq!(h, tx.hash());
            *expected.entry(i).or_default() += amount;
            hashes.push((v, h));
        }
        for (v, h) in &hashes {
            net.wait_committed(*v, *h, Duration::from_secs(30)).await?;
        }
    }
    Ok((expected, hashes))
}

/// Every validator has the same balances, nonces and committed transfers.
async fn check_everywhere(
    net: &Net,
    expected: &BTreeMap<usize, u64>,
    hashes: &[(usize, Hash)],
) -> Result<()> {
    let committed_height = net.client(0).await?.status().await?.height;
    net.wait_height(&[0, 1, 2, 3], committed_height, Duration::from_secs(30))
        .await?;
    for v in 0..4 {
        let mut c = net.client(v).await?;
        for (i, paid) in expected {
            let to = c.account(fresh_address(*i as u8)).await?;
            assert_eq!(to.account.balance, *paid, "recipient {i} on v{v}");
            let from = c.account(net.net.accounts[*i].address).await?;
            let left = FUNDS - paid - 2 * 2;
            assert_eq!(from.account.balance, left, "sender {i} on v{v}");
            assert_eq!(from.account.nonce, 2);
        }
        for (_, h) in hashes {
            let status = c.tx(*h).await?;
            assert!(matches!(status, TxStatus::Committed { .. }), "{h} on v{v}");
        }
    }
    Ok(())
}

/// Submits invalid transactions, each refused with its reason; returns
/// their hashes.
async fn submit_invalid(net: &Net) -> Result<Vec<Hash>> {
    use tonic::Code::{FailedPrecondition, InvalidArgument};
    let mut c = net.client(1).await?;
    let key = net.account_key(0)?;
    let mut bad_sig = transfer(CHAIN, &key, 2, fresh_address(50), 5, 2);
    let mut sig = bad_sig.signature.to_bytes();
    sig[10] ^= 0x40;
    bad_sig.signature = Signature::from_bytes(&sig)?;
    let replay = transfer(CHAIN, &key, 0, fresh_address(51), 5, 2);
    let poor = transfer(CHAIN, &key, 2, fresh_address(52), FUNDS, 2);
    let wrong_chain = transfer("other-chain", &key, 2, fresh_address(53), 5, 2);
    let malformed = b"\xff\x01 not a transaction".to_vec();
    let msg = refused(c.submit(&bad_sig).await, InvalidArgument, "bad_signature");
    assert!(msg.contains("signature"), "{msg}");
    let msg = refused(
        c.submit(&replay).await,
        FailedPrecondition,
        "nonce_replayed",
    );
    assert!(
        msg.contains("nonce 0") && msg.contains("next is 2"),
        "{msg}"
    );
    let msg = refused(
        c.submit(&poor).await,
        FailedPrecondition,
        "insufficient_funds",
    );
    assert!(msg.contains("insufficient funds"), "{msg}");
    let msg = refused(
        c.submit_bytes(malformed.clone()).await,
        InvalidArgument,
        "malformed",
    );
    assert!(msg.contains("malformed"), "{msg}");
    refused(
        c.submit(&wrong_chain).await,
        InvalidArgument,
        "wrong_chain_id",
    );
    Ok([
        bad_sig.encode(),
        replay.encode(),
        poor.encode(),
        malformed,
        wrong_chain.encode(),
    ]
    .iter()
    .map(|b| Hash::digest(b))
    .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_commit_everywhere_and_invalid_transactions_are_refused() -> Result<()> {
    let mut net = Net::create(4, 6, &[])?;
    net.start_all()?;
    net.wait_height(&[0, 1, 2, 3], 2, Duration::from_secs(60))
        .await?;
    let (until, collector) = subscribe_from_one(&net).await?;
    let subscribed_at = net.client(2).await?.status().await?.height;
    let (expected, hashes) = pay(&net).await?;
    check_everywhere(&net, &expected, &hashes).await?;
    let invalid = submit_invalid(&net).await?;

    // A few more blocks, then the subscriber stops: it saw every block from
    // 1 on, in order, equal to what the validators store, with the
    // transfers in them and none of the refused transactions.
    let last = net.client(2).await?.status().await?.height + 3;
    until.send_replace(last);
    let blocks = tokio::time::timeout(Duration::from_secs(60), collector).await??;
    assert!(
        blocks.len() as u64 >= last && last > subscribed_at + 3,
        "followed past the replay"
    );
    let mut v0 = net.client(0).await?;
    let mut seen = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(b.height, i as u64 + 1);
        assert_eq!(v0.block(b.height).await?.hash, b.hash);
        seen.extend(b.tx_hashes.iter().copied());
    }
    for (_, h) in &hashes {
        assert!(seen.contains(h), "transfer {h} in a streamed block");
    }
    for h in &invalid {
        assert!(!seen.contains(h), "refused {h} never in a block");
        for v in 0..4 {
            assert_eq!(net.client(v).await?.tx(*h).await?, TxStatus::Unknown);
        }
    }

    // SIGTERM: every validator drains, flushes and exits 0.
    for i in 0..4 {
        let status = net.process(i).terminate(Duration::from_secs(20))?;
        assert!(
            status.success(),
            "v{i} exited with {status}\n{}",
            net.logs()
        );
    }
    Ok(())
}
