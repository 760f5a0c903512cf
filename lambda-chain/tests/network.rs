//! The validator transport over real TCP: broadcasting never blocks (a full
//! peer queue drops and counts), a full inbox drops and counts, malformed
//! messages are counted, and a peer that comes up late is reached after
//! reconnection with backoff.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lambda_chain::consensus::Message;
use lambda_chain::consensus::app::TestApp;
use lambda_chain::network::NetworkConfig;
use lambda_chain::network::codec::message_to_pb;
use lambda_chain::network::peers::{Peers, connect};
use lambda_chain::network::server::{ConsensusServer, InboxCounters, NodeStatus, serve};
use lambda_chain::types::{Validator, ValidatorSet, Vote, VoteType};
use lambda_common::keys::SigningKey;
use lambda_proto::chain::v1 as pb;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn vote(round: u32) -> Message {
    let k = SigningKey::from_seed([3; 32]);
    Message::Vote(Vote::new_signed(&k, "n", VoteType::Prevote, 1, round, None))
}

fn app() -> Arc<TestApp> {
    let k = SigningKey::from_seed([3; 32]);
    Arc::new(TestApp::new(
        ValidatorSet::new(vec![Validator::new(k.public(), 1)]).unwrap(),
        0,
    ))
}

async fn start_server(
    addr: std::net::SocketAddr,
    inbox: usize,
    shutdown: CancellationToken,
) -> (mpsc::Receiver<Message>, Arc<InboxCounters>) {
    let (tx, rx) = mpsc::channel(inbox);
    let counters = Arc::new(InboxCounters::default());
    let cfg = NetworkConfig::default();
    let server = ConsensusServer::new(
        tx,
        app(),
        Arc::new(NodeStatus::default()),
        counters.clone(),
        &cfg,
        Default::default(),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(serve(listener, server, cfg.max_message_bytes, shutdown));
    (rx, counters)
}

#[tokio::test]
async fn broadcast_never_blocks_and_counts_what_it_drops() {
    let dead = lambda_testkit::free_addr().unwrap();
    let cfg = NetworkConfig {
        peers: vec![format!("http://{dead}")],
        peer_queue: 4,
        ..NetworkConfig::default()
    };
    let shutdown = CancellationToken::new();
    let peers = Peers::start(&cfg, &shutdown);
    let start = Instant::now();
    for r in 0..200 {
        peers.broadcast(&vote(r));
    }
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "broadcast blocked"
    );
    assert!(peers.counters().queue_full.load(Ordering::Relaxed) >= 190);
    shutdown.cancel();
}

#[tokio::test]
async fn a_full_inbox_drops_and_malformed_messages_are_counted() {
    let addr = lambda_testkit::free_addr().unwrap();
    let shutdown = CancellationToken::new();
    let (_rx, counters) = start_server(addr, 2, shutdown.clone()).await;
    let mut client = connect(&format!("http://{addr}"), &NetworkConfig::default())
        .await
        .unwrap();
    let mut messages: Vec<pb::ConsensusMessage> = (0..5).map(|r| message_to_pb(&vote(r))).collect();
    messages.push(pb::ConsensusMessage { kind: None });
    let resp = client
        .send(pb::SendRequest { messages })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((resp.accepted, resp.dropped), (2, 4));
    assert_eq!(counters.dropped_full.load(Ordering::Relaxed), 3);
    assert_eq!(counters.malformed.load(Ordering::Relaxed), 1);
    shutdown.cancel();
}

#[tokio::test]
async fn a_late_peer_is_reached_after_reconnecting() {
    let addr = lambda_testkit::free_addr().unwrap();
    let cfg = NetworkConfig {
        peers: vec![format!("http://{addr}")],
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..NetworkConfig::default()
    };
    let shutdown = CancellationToken::new();
    let peers = Peers::start(&cfg, &shutdown);
    peers.broadcast(&vote(0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        peers.counters().send_failed.load(Ordering::Relaxed) >= 1,
        "nobody listens yet"
    );
    let (mut rx, _) = start_server(addr, 16, shutdown.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut round = 1;
    let got = loop {
        peers.broadcast(&vote(round));
        round += 1;
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            break m;
        }
        assert!(Instant::now() < deadline, "never reconnected");
    };
    assert!(matches!(got, Message::Vote(_)));
    // The call's answer may land just after the message.
    while peers.counters().sent.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "delivery not counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
}
