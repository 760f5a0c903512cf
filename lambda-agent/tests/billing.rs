//! Per-request billing end to end, all in separate processes: a 4-validator
//! chain (`LocalChain`) and three `lambda-db` nodes in chain mode (static
//! membership file for the ring, `[chain] endpoints` for billing) whose node
//! keys are pledged on chain. Unsigned, badly signed and replayed requests
//! are refused; a client without funds can neither read nor write; a client
//! with little money is cut off at its balance; the `lambda` CLI signs with
//! `--key`; a node restarted by SIGKILL keeps its receipts and replay
//! protection; a ring-routed client given one endpoint signs each request
//! for the node it reaches; after the epoch the usage
//! settled on chain equals the requests the client made, its balance fell
//! by exactly their price and the serving nodes' owners gained it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lambda_agent::sdk::{Client, ClientConfig, RetryPolicy, RingRouter, SdkError, Wallet};
use lambda_chain::client::{ChainClient, ClientError, TxStatus};
use lambda_chain::tx::kind::{
    Pledge, Transfer, UsageEntry, UsageSettlement, UsageStatement, usage_price,
};
use lambda_chain::tx::{Tx, TxBody, TxKind};
use lambda_chain::types::Hash;
use lambda_common::keys::{Address, SigningKey};
use lambda_common::request_sig::{RequestFields, digest, meta};
use lambda_proto::billing::v1 as bpb;
use lambda_proto::kv::v1 as kvpb;
use lambda_testkit::chain::{ChainSpec, LocalChain};
use lambda_testkit::cluster::{ClusterSpec, LocalCluster};
use prost::Message;
use tonic::Code;
use tonic::metadata::MetadataValue;

const FEE: u64 = 1;

async fn submit(cc: &mut ChainClient, from: &SigningKey, kind: TxKind) -> Hash {
    let chain_id = cc.status().await.unwrap().chain_id;
    let nonce = cc
        .account(from.public().address())
        .await
        .unwrap()
        .next_nonce;
    let body = TxBody {
        chain_id,
        nonce,
        fee: FEE,
        kind,
    };
    cc.submit(&Tx::sign(from, &body)).await.unwrap()
}

async fn wait_committed(cc: &mut ChainClient, hashes: &[Hash], chain: &LocalChain) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for h in hashes {
        loop {
            if matches!(cc.tx(*h).await.unwrap(), TxStatus::Committed { .. }) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "tx {h} not committed:\n{}",
                chain.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn balance(cc: &mut ChainClient, a: Address) -> u64 {
    cc.account(a).await.unwrap().account.balance
}

/// A raw KV put to `endpoint`, signed by hand (so a test can forge or
/// replay it).
struct Manual {
    chain_id: String,
    node: Address,
    epoch: u64,
}

async fn manual(endpoint: &str) -> Manual {
    let mut b = bpb::billing_client::BillingClient::connect(endpoint.to_string())
        .await
        .unwrap();
    let info = b
        .info(bpb::InfoRequest::default())
        .await
        .unwrap()
        .into_inner();
    Manual {
        chain_id: info.chain_id,
        node: Address::from_slice(&info.node_id).unwrap(),
        epoch: info.epoch,
    }
}

async fn info(endpoint: &str, client: Address, epoch: u64) -> bpb::InfoResponse {
    let mut b = bpb::billing_client::BillingClient::connect(endpoint.to_string())
        .await
        .unwrap();
    b.info(bpb::InfoRequest {
        client: client.0.to_vec(),
        epoch,
    })
    .await
    .unwrap()
    .into_inner()
}

fn signed_put(
    m: &Manual,
    signer: &SigningKey,
    claimed: &SigningKey,
    counter: u64,
    req: &kvpb::PutRequest,
) -> tonic::Request<kvpb::PutRequest> {
    let body = req.encode_to_vec();
    let receipt = UsageSettlement::new_signed(
        claimed,
        UsageStatement {
            chain_id: m.chain_id.clone(),
            epoch: m.epoch,
            entries: vec![UsageEntry {
                node: m.node,
                requests: counter,
                bytes: body.len() as u64 * counter,
            }],
        },
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let sig = RequestFields {
        chain_id: &m.chain_id,
        method: "/lambda.kv.v1.Kv/Put",
        node: m.node,
        counter,
        timestamp_ms: now,
        request_digest: digest(&body),
        receipt_digest: digest(&receipt.statement_bytes),
    }
    .sign(signer);
    let mut r = tonic::Request::new(req.clone());
    let md = r.metadata_mut();
    md.insert_bin(
        meta::CLIENT_KEY,
        MetadataValue::from_bytes(&claimed.public().to_bytes()),
    );
    md.insert(meta::COUNTER, MetadataValue::from(counter));
    md.insert(meta::TIMESTAMP, MetadataValue::from(now));
    md.insert_bin(meta::SIGNATURE, MetadataValue::from_bytes(&sig.to_bytes()));
    md.insert_bin(
        meta::RECEIPT,
        MetadataValue::from_bytes(&receipt.statement_bytes),
    );
    md.insert_bin(
        meta::RECEIPT_SIGNATURE,
        MetadataValue::from_bytes(&receipt.client_signature.to_bytes()),
    );
    r
}

async fn sdk(endpoints: Vec<String>, key: &SigningKey) -> Client {
    let mut cfg = ClientConfig::new(endpoints);
    cfg.wallet = Some(Wallet::new(key.clone()));
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    Client::connect(cfg).await.unwrap()
}

fn code_of(e: &SdkError) -> (Code, String) {
    match e.root() {
        SdkError::Status { code, message } => (*code, message.clone()),
        SdkError::PermissionDenied(m) => (Code::Unauthenticated, m.clone()),
        other => (Code::Unknown, other.to_string()),
    }
}

/// Sums what the chain settled for `client` over `epochs`: requests and
/// charge per node, and the total charged.
async fn settled(
    cc: &mut ChainClient,
    client: Address,
    epochs: std::ops::RangeInclusive<u64>,
    per_request: u64,
    per_mib: u64,
) -> (u64, u64, BTreeMap<Address, u64>) {
    let (mut requests, mut total, mut per_node) = (0, 0, BTreeMap::new());
    for e in epochs {
        match cc.usage(client, e).await {
            Ok(r) => {
                requests += r.requests();
                total += r.total;
                for x in &r.entries {
                    *per_node.entry(x.node).or_insert(0) +=
                        usage_price(x.requests, x.bytes, per_request, per_mib).unwrap();
                }
            }
            Err(ClientError::NotFound(_)) => {}
            Err(e) => panic!("usage query: {e}"),
        }
    }
    (requests, total, per_node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_metered_and_settled() {
    let root = tempfile::tempdir().unwrap();
    let spec = ChainSpec {
        epoch_length: 10,
        ..ChainSpec::default()
    };
    let chain = LocalChain::start(root.path(), &spec).unwrap();
    let apis = chain.api_endpoints();
    let mut cc = ChainClient::connect(&apis[0]).await.unwrap();
    let status = cc.status().await.unwrap();
    let (per_request, per_mib) = (status.price_per_request, status.price_per_mib);
    let endpoints_toml = apis
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut cspec = ClusterSpec::new(3);
    cspec.extra_config = format!(
        "[chain]\nendpoints = [{endpoints_toml}]\n\n[billing]\nsettle_interval_ms = 300\nbalance_ttl_ms = 500\n"
    );
    let mut cluster = LocalCluster::start(&root.path().join("db"), &cspec).unwrap();
    let endpoints = cluster.endpoints();
    let node_keys: Vec<SigningKey> = cluster
        .nodes
        .iter()
        .map(|n| SigningKey::load(&n.data_dir.join("node.key")).unwrap())
        .collect();
    let accounts: Vec<SigningKey> = chain
        .accounts
        .iter()
        .map(|a| SigningKey::load(&a.key_file).unwrap())
        .collect();
    let funder = &accounts[0];
    let client = SigningKey::from_seed([41; 32]);
    let poor = SigningKey::from_seed([42; 32]);
    let raw = SigningKey::from_seed([43; 32]);
    let broke = SigningKey::from_seed([44; 32]);

    // Fund the node keys (settlement fees) and the clients; pledge each node
    // from its own owner account.
    let mut txs = Vec::new();
    for (to, amount) in [
        (node_keys[0].public().address(), 1_000),
        (node_keys[1].public().address(), 1_000),
        (node_keys[2].public().address(), 1_000),
        (client.public().address(), 10_000),
        (poor.public().address(), 3),
        (raw.public().address(), 1_000),
    ] {
        txs.push(submit(&mut cc, funder, TxKind::Transfer(Transfer { to, amount })).await);
    }
    for (i, node) in node_keys.iter().enumerate() {
        let owner = &accounts[1 + i];
        let pledge = Pledge {
            node_public_key: node.public(),
            node_signature: Pledge::prove(node, &chain.chain_id, &owner.public().address()),
            endpoint: cluster.nodes[i].addr.to_string(),
            capacity_bytes: 1 << 30,
            bandwidth_bps: 1 << 20,
            zone: format!("z{i}"),
            stake: status.min_node_stake,
        };
        txs.push(submit(&mut cc, owner, TxKind::Pledge(pledge)).await);
    }
    wait_committed(&mut cc, &txs, &chain).await;
    let mut owners_before = Vec::new();
    for a in &accounts[1..4] {
        owners_before.push(balance(&mut cc, a.public().address()).await);
    }
    // Wait for an epoch in which every node is a member.
    let deadline = Instant::now() + Duration::from_secs(60);
    let member_epoch = loop {
        let epoch = cc.status().await.unwrap().epoch;
        if let Ok(m) = cc.membership(epoch).await
            && node_keys.iter().all(|k| m.contains(&k.public().address()))
        {
            break epoch;
        }
        assert!(
            Instant::now() < deadline,
            "nodes never became members:\n{}",
            chain.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Every node follows the chain into that epoch (requests are billed in
    // the epoch the nodes announce).
    for e in &endpoints {
        while manual(e).await.epoch < member_epoch {
            assert!(Instant::now() < deadline, "node {e} lags the chain");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Unsigned, badly signed and replayed requests.
    let put = kvpb::PutRequest {
        key: b"raw".to_vec(),
        value: b"v".to_vec(),
        ..Default::default()
    };
    let mut kv = kvpb::kv_client::KvClient::connect(endpoints[0].clone())
        .await
        .unwrap();
    let e = kv.put(put.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(
        e.message().contains("request is not signed"),
        "{}",
        e.message()
    );
    let m = manual(&endpoints[0]).await;
    let forged = signed_put(&m, &broke, &raw, 1, &put);
    let e = kv.put(forged).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("does not verify"), "{}", e.message());
    let good = signed_put(&m, &raw, &raw, 1, &put);
    let replay = signed_put(&m, &raw, &raw, 1, &put);
    kv.put(good).await.unwrap();
    let e = kv.put(replay).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(e.message().contains("already used"), "{}", e.message());

    // A restart loses neither the receipt nor the replay protection.
    let before = info(&endpoints[0], raw.public().address(), m.epoch).await;
    assert_eq!(before.served_requests, 1);
    assert!(!before.receipt_statement.is_empty());
    cluster.nodes[0].process.kill9().unwrap();
    cluster.restart(0).unwrap();
    let after = info(&endpoints[0], raw.public().address(), m.epoch).await;
    assert_eq!(
        (
            after.served_requests,
            after.served_bytes,
            &after.receipt_statement
        ),
        (
            before.served_requests,
            before.served_bytes,
            &before.receipt_statement
        )
    );
    let mut kv = kvpb::kv_client::KvClient::connect(endpoints[0].clone())
        .await
        .unwrap();
    let e = kv
        .put(signed_put(&m, &raw, &raw, 1, &put))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");

    // The CLI signs with --key (and resumes the statement the node holds),
    // and is refused without it.
    let key_file = root.path().join("raw.key");
    raw.save(&key_file).unwrap();
    let cli = |with_key: bool| {
        let mut cmd = std::process::Command::new(lambda_testkit::binary("lambda").unwrap());
        cmd.args(["--endpoint", &endpoints.join(","), "--max-attempts", "1"]);
        if with_key {
            cmd.arg("--key").arg(&key_file);
        }
        cmd.args(["put", "cli-key", "cli-value"]).output().unwrap()
    };
    let out = cli(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("request is not signed"), "{err}");

    // No account: neither read nor write.
    let b = sdk(endpoints.clone(), &broke).await;
    for e in [
        b.put(b"k", b"v".to_vec(), None).await.unwrap_err(),
        b.get(b"k").await.unwrap_err(),
    ] {
        let (code, msg) = code_of(&e);
        assert_eq!(code, Code::FailedPrecondition, "{e}");
        assert!(msg.contains("unknown to the chain"), "{msg}");
    }
    // Three units pay for three requests, not four.
    let p = sdk(vec![endpoints[1].clone()], &poor).await;
    for i in 0..3u8 {
        p.put(&[b'p', i], vec![i], None).await.unwrap();
    }
    let e = p.get(b"p0").await.unwrap_err();
    let (code, msg) = code_of(&e);
    assert_eq!(code, Code::FailedPrecondition, "{e}");
    assert!(msg.contains("has 3, owes 4"), "{msg}");

    // The paying client: count what it does. It is given one endpoint and
    // routes by the ring, so its requests go to (and are signed for) the
    // nodes that coordinate each key.
    let c = sdk(vec![endpoints[0].clone()], &client).await;
    let ring = RingRouter::connect(&ClientConfig::new([endpoints[0].clone()]))
        .await
        .unwrap();
    let mut expected: std::collections::BTreeSet<String> = (0..8u8)
        .map(|i| ring.nodes_for(&[b'k', i])[0].clone())
        .collect();
    // The batch (no single key) goes to the configured endpoint.
    expected.insert(node_keys[0].public().address().to_string());
    let first_epoch = c.usage().unwrap().epoch;
    let mut made = 0u64;
    for i in 0..8u8 {
        let w = c.put(&[b'k', i], vec![i; 100], None).await.unwrap();
        made += 1;
        c.get(&[b'k', i]).await.unwrap();
        made += 1;
        if i % 2 == 0 {
            c.delete(&[b'k', i], Some(&w.context)).await.unwrap();
            made += 1;
        }
    }
    let ops = vec![kvpb::Operation {
        op: Some(kvpb::operation::Op::Get(kvpb::GetRequest {
            key: b"k1".to_vec(),
            options: None,
        })),
    }];
    c.batch(ops).await.unwrap();
    made += 1;
    let last_epoch = c.usage().unwrap().epoch;
    assert_eq!(made, 21);
    let signed_for: std::collections::BTreeSet<String> = c
        .usage()
        .unwrap()
        .per_node
        .iter()
        .map(|(n, _, _)| n.to_string())
        .collect();
    // (A new epoch starts the usage again from zero.)
    assert!(
        signed_for.is_subset(&expected),
        "{signed_for:?} vs {expected:?}"
    );
    if first_epoch == last_epoch {
        assert_eq!(signed_for, expected);
    }

    // After the epoch: the settled usage equals the requests made.
    let client_addr = client.public().address();
    let deadline = Instant::now() + Duration::from_secs(90);
    let (requests, total) = loop {
        let (r, t, _) = settled(
            &mut cc,
            client_addr,
            first_epoch..=last_epoch,
            per_request,
            per_mib,
        )
        .await;
        if r == made {
            break (r, t);
        }
        assert!(
            Instant::now() < deadline,
            "settled {r} of {made} requests:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(requests, made);
    // Small requests: no byte charge at ⌊bytes × price_per_mib / 2^20⌋.
    assert_eq!(total, made * per_request);
    assert_eq!(balance(&mut cc, client_addr).await, 10_000 - total);

    // Every client settles; the owners gained exactly what was charged.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut gains: BTreeMap<Address, u64> = BTreeMap::new();
    let end = c.usage().unwrap().epoch.max(last_epoch);
    for (who, expect) in [
        (poor.public().address(), 3),
        (raw.public().address(), 2),
        (client_addr, made),
    ] {
        loop {
            let (r, _, per_node) = settled(&mut cc, who, 0..=end, per_request, per_mib).await;
            if r == expect {
                for (n, v) in per_node {
                    *gains.entry(n).or_insert(0) += v;
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "client {who}: settled {r} of {expect}:\n{}",
                cluster.logs()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    assert_eq!(balance(&mut cc, poor.public().address()).await, 0);
    for (i, node) in node_keys.iter().enumerate() {
        let gain = gains.get(&node.public().address()).copied().unwrap_or(0);
        let now = balance(&mut cc, accounts[1 + i].public().address()).await;
        assert_eq!(now, owners_before[i] + gain, "owner of node {i}");
    }
    assert_eq!(gains.values().sum::<u64>(), made + 3 + 2);

    // The node's usage view shows the client's rows, settled.
    let mut b = bpb::billing_client::BillingClient::connect(endpoints[0].clone())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let u = b.usage(bpb::UsageRequest {}).await.unwrap().into_inner();
        let rows: Vec<_> = u
            .usage
            .iter()
            .filter(|r| r.client == client_addr.0.to_vec() && r.epoch < u.epoch)
            .collect();
        assert!(!rows.is_empty());
        if rows
            .iter()
            .all(|r| r.state == bpb::SettlementState::Settled as i32)
        {
            break;
        }
        assert!(Instant::now() < deadline, "rows never settled: {rows:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // A client idle for epochs signs for an epoch the nodes no longer bill:
    // the refusal names the node's epoch and the SDK signs again at once,
    // so the call succeeds in one attempt.
    let idle_from = c.usage().unwrap().epoch;
    let deadline = Instant::now() + Duration::from_secs(60);
    while cc.status().await.unwrap().epoch < idle_from + 3 {
        assert!(Instant::now() < deadline, "the chain stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let once = c.with_retry(RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    });
    once.get(b"k1").await.unwrap();
    assert!(once.usage().unwrap().epoch >= idle_from + 3);
}
