//! The storage node's chain link against a real 4-validator chain: the
//! follower tracks the tip across epochs and survives the loss of the
//! validator it streams from.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use lambda_db::chain::{ChainConfig, ChainLink};
use lambda_testkit::chain::{ChainSpec, LocalChain};
use tokio_util::sync::CancellationToken;

async fn wait_height(link: &ChainLink, height: u64, chain: &LocalChain) {
    let mut tip = link.tip();
    let deadline = Instant::now() + Duration::from_secs(30);
    while tip.borrow().height < height {
        assert!(Instant::now() < deadline, "tip stuck:\n{}", chain.logs());
        let _ = tokio::time::timeout(Duration::from_secs(1), tip.changed()).await;
    }
}

#[tokio::test]
async fn follower_tracks_epochs_and_fails_over() {
    let root = tempfile::tempdir().unwrap();
    let spec = ChainSpec {
        epoch_length: 5,
        ..ChainSpec::default()
    };
    let mut chain = LocalChain::start(root.path(), &spec).unwrap();
    let cfg = ChainConfig {
        endpoints: chain.api_endpoints(),
        node_key_file: None,
    };
    let cancel = CancellationToken::new();
    let link = ChainLink::connect(&cfg, cancel.clone()).await.unwrap();
    assert_eq!(link.chain_id(), chain.chain_id);
    assert_eq!(link.status_at_connect().epoch_length, 5);
    let mut blocks = link.blocks();
    wait_height(&link, 6, &chain).await;
    let tip = *link.tip().borrow();
    assert_eq!(tip.epoch, tip.height / 5);
    assert!(tip.epoch >= 1);
    let b = blocks.recv().await.unwrap();
    assert!(b.height >= 1);

    // The follower streams from validator 0: kill it; blocks keep coming
    // from the others.
    let h = link.tip().borrow().height;
    chain.validators[0]
        .process
        .as_mut()
        .unwrap()
        .kill9()
        .unwrap();
    wait_height(&link, h + 5, &chain).await;
    cancel.cancel();
}
