//! The public API of one validator (a single-validator chain made by
//! `node::home::init`, run in process over real RocksDB and gRPC on
//! loopback): every query answers from the committed state, missing records
//! are NOT_FOUND, malformed fields INVALID_ARGUMENT naming the field;
//! health reports SERVING; subscriptions past `api.max_subscriptions` are
//! RESOURCE_EXHAUSTED and a closed one frees its slot; shutdown ends open
//! streams and the node stops cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use anyhow::Result;
use lambda_chain::client::{BlockStream, ChainClient, ClientError, TxStatus};
use lambda_chain::consensus::TimeoutConfig;
use lambda_chain::node::RunningNode;
use lambda_chain::node::config::NodeConfig;
use lambda_chain::node::home::{self, ChainOptions};
use lambda_chain::state::ValidatorStatus;
use lambda_chain::types::Hash;
use lambda_common::keys::{Address, SigningKey};
use lambda_proto::chain::v1 as pb;
use lambda_proto::chain::v1::chain_client::ChainClient as RawClient;
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;

async fn wait_height(c: &mut ChainClient, h: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.status().await?.height < h {
        anyhow::ensure!(Instant::now() < deadline, "height {h} not reached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A single-validator node with 100 ms blocks and one subscription slot;
/// returns the node, its home, the validator's address and the endpoint.
async fn single_validator(
    shutdown: &CancellationToken,
) -> Result<(RunningNode, tempfile::TempDir, Address, String)> {
    let dir = tempfile::tempdir()?;
    let any = "127.0.0.1:0".parse()?;
    let opts = ChainOptions {
        chain_id: "api-test".into(),
        epoch_length: Some(5),
        ..ChainOptions::default()
    };
    let me = home::init(dir.path(), &opts, any, any)?;
    let mut cfg = NodeConfig::load(dir.path())?;
    cfg.consensus.engine.timeouts = TimeoutConfig {
        block_time: Duration::from_millis(100),
        ..TimeoutConfig::devnet()
    };
    cfg.api.max_subscriptions = 1;
    cfg.sync_writes = false;
    let node = lambda_chain::node::start(cfg, shutdown.clone()).await?;
    let endpoint = format!("http://{}", node.api_addr);
    Ok((node, dir, me, endpoint))
}

/// Submits a transfer from the validator's account; returns the height
/// that committed it.
async fn transfer_and_wait(
    c: &mut ChainClient,
    home: &std::path::Path,
    me: Address,
) -> Result<u64> {
    let key = SigningKey::load(&home.join("validator.key"))?;
    let to = SigningKey::from_seed([9; 32]).public().address();
    let hash = c.transfer(&key, to, 777, 1).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let height = loop {
        match c.tx(hash).await? {
            TxStatus::Committed { height, index, .. } => {
                assert_eq!(index, 0);
                break height;
            }
            TxStatus::Pending => {}
            TxStatus::Unknown => panic!("submitted transaction unknown"),
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(c.account(to).await?.account.balance, 777);
    let mine = c.account(me).await?;
    assert_eq!((mine.account.nonce, mine.next_nonce), (1, 1));
    let b = c.block(height).await?;
    assert_eq!(b.tx_hashes, vec![hash]);
    assert_eq!(b.block.header.proposer, me);
    assert!(c.block(0).await?.height >= height, "0 is the latest block");
    Ok(height)
}

/// Missing records are NOT_FOUND, malformed fields INVALID_ARGUMENT.
async fn check_missing_and_malformed(c: &mut ChainClient, endpoint: &str) -> Result<()> {
    let nobody = Address([7; 20]);
    assert!(matches!(
        c.node(nobody).await,
        Err(ClientError::NotFound(_))
    ));
    assert!(matches!(
        c.contract(Hash([1; 32])).await,
        Err(ClientError::NotFound(_))
    ));
    assert!(matches!(
        c.membership(1_000).await,
        Err(ClientError::NotFound(_))
    ));
    assert!(matches!(
        c.block(1_000_000).await,
        Err(ClientError::NotFound(_))
    ));
    assert!(matches!(
        c.validator(nobody).await,
        Err(ClientError::NotFound(_))
    ));
    assert!(c.pdp_results(nobody).await?.is_empty());
    assert_eq!(c.tx(Hash([2; 32])).await?, TxStatus::Unknown);
    let mut raw = RawClient::connect(endpoint.to_string()).await?;
    let err = raw
        .get_account(pb::GetAccountRequest {
            address: vec![1, 2, 3],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("address"), "{}", err.message());
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())?
        .connect()
        .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let r = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "lambda.chain.v1.Chain".into(),
        })
        .await?
        .into_inner();
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving;
    assert_eq!(r.status, serving as i32);
    check_reflection(endpoint).await
}

/// Reflection lists the chain API (so grpcurl needs no .proto files).
async fn check_reflection(endpoint: &str) -> Result<()> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())?
        .connect()
        .await?;
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([req]))
        .await?
        .into_inner();
    let answer = answers.next().await.unwrap()?;
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "lambda.chain.v1.Chain"),
        "{names:?}"
    );
    Ok(())
}

/// One subscription at most; closing it frees the slot. Returns an open
/// stream from the next block.
async fn check_subscription_bound(c: &mut ChainClient, after: u64) -> Result<BlockStream> {
    let mut first = c.subscribe(1).await?;
    assert_eq!(first.next().await.unwrap()?.height, 1);
    let err = c.subscribe(1).await.map(|_| ()).unwrap_err();
    assert!(
        matches!(&err, ClientError::Status(s) if s.code() == tonic::Code::ResourceExhausted
            && s.message().contains("api.max_subscriptions")),
        "{err:?}"
    );
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match c.subscribe(0).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("slot never freed: {e:?}"),
        }
    };
    let next = stream.next().await.unwrap()?;
    assert!(next.height > after, "from 0 means from the next block");
    Ok(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_bounds_and_graceful_shutdown() -> Result<()> {
    let shutdown = CancellationToken::new();
    let (node, home, me, endpoint) = single_validator(&shutdown).await?;
    let mut c = ChainClient::connect(&endpoint).await?;
    wait_height(&mut c, 2).await?;

    // Status and the genesis records.
    let s = c.status().await?;
    assert_eq!(
        (s.chain_id.as_str(), s.validator, s.validator_count),
        ("api-test", me, 1)
    );
    let v = c.validator(me).await?;
    let stake = ChainOptions::default().validator_stake;
    assert_eq!((v.stake, v.status), (stake, ValidatorStatus::Active));
    let (h, set) = c.validators(0).await?;
    assert!(h > s.height && set.get(&me).is_some());
    assert!(c.membership(0).await?.members.is_empty());

    let height = transfer_and_wait(&mut c, home.path(), me).await?;
    check_missing_and_malformed(&mut c, &endpoint).await?;
    let mut stream = check_subscription_bound(&mut c, height).await?;

    // Shutdown ends the open stream and stops the node cleanly.
    shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(item) = stream.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ended at shutdown");
    tokio::time::timeout(Duration::from_secs(15), node.task).await???;
    Ok(())
}
