//! End-to-end test of a whole devnet, every component its own process:
//! 4 validators, 5 storage nodes, the agent.
//!
//! Steps: devnet up (pledges committed, nodes members, cluster answering);
//! writes and reads through the SDK and the agent; a storage node SIGKILLed
//! → hints accumulate, reads and writes go on, every acknowledged write
//! stays readable; the node restarted → its hints are delivered; killed
//! again for good → reported, voted offline, its stake cut, it leaves the
//! next epoch and the others rebalance (partition handoff to the new ring),
//! with every acknowledged write readable; an audited object's bundle
//! altered on one holder → the next PDP round fails for it and the slash is
//! applied; a fresh client's requests are settled on chain exactly; and the
//! chain's money adds up (accounts, stakes, contract escrow and burnt
//! slashes equal the genesis balances).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lambda_agent::sdk::pdp::Tagger;
use lambda_agent::sdk::pdp_contract::wait_committed;
use lambda_agent::sdk::{
    Client, ClientConfig, ContractTerms, RetryPolicy, Wallet, pdp_key_of, register_contract,
};
use lambda_chain::genesis::Genesis;
use lambda_chain::node::auditor::{AuditConfig, audited_nodes, ring_of};
use lambda_chain::params::share;
use lambda_chain::state::{ContractStatus, NodeStatus};
use lambda_chain::tx::kind::Transfer;
use lambda_chain::tx::{Tx, TxBody, TxKind};
use lambda_chain::types::Hash;
use lambda_common::keys::{Address, SigningKey};
use lambda_db::admin_cli::fetch_status;
use lambda_devnet::pledge::{NODE_FUNDS, PLEDGE_FEE};
use lambda_devnet::{Devnet, DevnetSpec};
use lambda_proto::agent::v1 as apb;
use lambda_proto::agent::v1::agent_client::AgentClient;

/// The storage node the test kills (n3, the heaviest).
const VICTIM: usize = 2;

fn logs(d: &Devnet) -> String {
    let mut out = String::new();
    if let Ok(entries) = std::fs::read_dir(d.logs_dir()) {
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            out.push_str(&format!("==== {} ====\n", e.path().display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DevnetSpec {
        block_time_ms: 300,
        epoch_length: 10,
        ..DevnetSpec::new(dir.path().join("devnet"))
    };
    let started = Instant::now();
    let mut d = match Devnet::start(&spec).await {
        Ok(d) => d,
        Err(e) => panic!("devnet did not come up: {e}"),
    };
    eprintln!("devnet up in {:?}", started.elapsed());
    let result = steps(&mut d).await;
    let dump = if result.is_err() {
        logs(&d)
    } else {
        String::new()
    };
    let stopped = d.stop().await;
    if let Err(e) = result {
        panic!("{e}\n{dump}");
    }
    // Everything still running stopped on SIGTERM (the node voted offline
    // stays killed): a clean exit, not the SIGKILL fallback.
    let victim = &d.manifest.nodes[VICTIM].name;
    for (name, how) in stopped {
        if name != *victim {
            assert!(how.contains("exit status: 0"), "{name} ended with {how}");
        }
    }
    eprintln!("end-to-end test done in {:?}", started.elapsed());
}

async fn steps(d: &mut Devnet) -> Result<(), String> {
    let report = d.smoke().await.map_err(|e| e.to_string())?;
    assert_eq!(report.gets, report.puts);
    assert_eq!(report.points_read as u64, report.points_ingested);
    let mut cfg = ClientConfig::new(d.manifest.node_endpoints());
    cfg.wallet = Some(lambda_agent::sdk::Wallet::load(&d.manifest.client_key_file).unwrap());
    let client = Client::connect(cfg).await.map_err(|e| e.to_string())?;
    let mut acked = write_keys(&client, "before", 40).await;
    assert_eq!(
        acked.len(),
        40,
        "every write is acknowledged with all nodes up"
    );
    agent_roundtrip(d).await;

    // Stake burnt by offline verdicts, per node name.
    let mut burnt: BTreeMap<String, u64> = BTreeMap::new();
    kill_node_hints_no_loss(d, &client, &mut acked).await;
    restart_and_deliver_hints(d, &client, &acked).await;
    let slash = offline_verdict_and_rebalancing(d, &client, &acked).await;
    burnt.insert(d.manifest.nodes[VICTIM].name.clone(), slash);
    let contract = pdp_failure_and_slash(d).await;
    let payer = usage_settled_exactly(d).await;
    balances_add_up(d, &burnt, &[payer], &[contract]).await;
    Ok(())
}

/// Writes `count` keys; returns the acknowledged ones with their values.
async fn write_keys(client: &Client, tag: &str, count: usize) -> BTreeMap<String, Vec<u8>> {
    let mut acked = BTreeMap::new();
    for i in 0..count {
        let key = format!("e2e/{tag}/{i}");
        let value = format!("{tag} value {i}").into_bytes();
        if client
            .put(key.as_bytes(), value.clone(), None)
            .await
            .is_ok()
        {
            acked.insert(key, value);
        }
    }
    acked
}

/// Every acknowledged write reads back with its value.
async fn assert_all_readable(client: &Client, acked: &BTreeMap<String, Vec<u8>>) {
    for (key, value) in acked {
        let r = client.get(key.as_bytes()).await;
        let r = r.map_err(|e| format!("get {key}: {e}")).unwrap();
        assert!(
            r.siblings.iter().any(|s| s.value == *value),
            "acknowledged write of {key} lost: {:?}",
            r.siblings
        );
    }
}

/// Points through the agent: ingest, then read back by range.
async fn agent_roundtrip(d: &Devnet) {
    let mut agent = AgentClient::connect(d.agent_endpoint()).await.unwrap();
    let series = apb::Series {
        metric: "e2e_requests".into(),
        labels: vec![apb::Label {
            name: "host".into(),
            value: "a".into(),
        }],
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let samples: Vec<_> = (0..100)
        .map(|i| apb::Sample {
            timestamp_ms: now - 100_000 + i * 1000,
            value: Some(i as f64 * 1.5),
        })
        .collect();
    let ingest = apb::IngestRequest {
        series: vec![apb::TimeSeries {
            series: Some(series.clone()),
            samples: samples.clone(),
        }],
    };
    assert_eq!(
        agent.ingest(ingest).await.unwrap().into_inner().accepted,
        100
    );
    let read = agent
        .query_range(apb::QueryRangeRequest {
            series: Some(series),
            start_ms: now - 100_000,
            end_ms: now,
        })
        .await
        .unwrap()
        .into_inner()
        .samples;
    assert_eq!(read, samples);
}

/// Sum of the hinted writes the live nodes coordinated, and of their hint
/// backlogs.
async fn hint_counters(d: &Devnet) -> (u64, u64) {
    let (mut hinted, mut backlog) = (0, 0);
    for (i, n) in d.manifest.nodes.iter().enumerate() {
        if !d.node_running(i) {
            continue;
        }
        if let Ok(s) = fetch_status(&n.grpc.to_string()).await {
            hinted += s.hinted_writes;
            backlog += s.hints.map(|h| h.backlog).unwrap_or(0);
        }
    }
    (hinted, backlog)
}

/// A node is SIGKILLed: writes go on (hinted to fallbacks), and every
/// acknowledged write, before or after, stays readable.
async fn kill_node_hints_no_loss(
    d: &mut Devnet,
    client: &Client,
    acked: &mut BTreeMap<String, Vec<u8>>,
) {
    d.kill_node(VICTIM).await.unwrap();
    assert!(!d.node_running(VICTIM));
    let during = write_keys(client, "during", 60).await;
    assert!(
        during.len() >= 55,
        "writes go on with one node down: {} of 60 acknowledged",
        during.len()
    );
    acked.extend(during);
    let (hinted, backlog) = poll("hints to accumulate", Duration::from_secs(20), || async {
        let (h, b) = hint_counters(d).await;
        (h > 0 && b > 0).then_some((h, b))
    })
    .await;
    eprintln!("node down: {hinted} hinted writes, backlog {backlog}");
    assert_all_readable(client, acked).await;
}

/// The node comes back: its hints are delivered and the backlog drains.
async fn restart_and_deliver_hints(
    d: &mut Devnet,
    client: &Client,
    acked: &BTreeMap<String, Vec<u8>>,
) {
    d.restart_node(VICTIM).await.unwrap();
    poll("hint backlog to drain", Duration::from_secs(60), || async {
        (hint_counters(d).await.1 == 0).then_some(())
    })
    .await;
    assert_all_readable(client, acked).await;
}

/// The chain's money adds up: every genesis account, every node key's
/// account, the `extra` accounts the steps funded, every node's stake, the
/// escrow left in `contracts`, and the stake burnt by slashes (offline
/// verdicts in `burnt`, per node name, and every failed audit) equal the
/// genesis balances. Read at one height (retried when a
/// block lands during the reads). Each node's stake is its pledge less its
/// slashes; each owner paid at least the stake, two fees and the node key's
/// funds (it also earns from billing and audits).
async fn balances_add_up(
    d: &Devnet,
    burnt: &BTreeMap<String, u64>,
    extra: &[Address],
    contracts: &[Hash],
) {
    let m = &d.manifest;
    let genesis = Genesis::load(&m.validators[0].home.join("genesis.toml")).unwrap();
    let genesis_total: u64 = genesis.accounts.iter().map(|a| a.balance).sum();
    let c = d.chain_client().await.unwrap();
    // (total, stake burnt per node: offline slashes plus every failed
    // audit's slash, as a corrupted replica fails each round until repaired)
    let (total, lost) = poll("a reading at one height", Duration::from_secs(30), || {
        let mut c = c.clone();
        let genesis = &genesis;
        async move {
            let h = c.status().await.ok()?.height;
            let mut total = 0u64;
            let mut accounts: Vec<Address> = genesis.accounts.iter().map(|a| a.address).collect();
            accounts.extend(m.nodes.iter().map(|n| n.id.parse::<Address>().unwrap()));
            accounts.extend(extra);
            for a in accounts {
                total += c.account(a).await.ok()?.account.balance;
            }
            let mut lost = BTreeMap::new();
            for n in &m.nodes {
                let id: Address = n.id.parse().unwrap();
                total += c.node(id).await.ok()?.stake;
                let audits: u64 = c
                    .pdp_results(id)
                    .await
                    .ok()?
                    .iter()
                    .map(|r| r.slashed)
                    .sum();
                lost.insert(
                    n.name.clone(),
                    audits + burnt.get(&n.name).copied().unwrap_or(0),
                );
            }
            for id in contracts {
                let k = c.contract(*id).await.ok()?;
                if k.status == ContractStatus::Active {
                    total += k.total_amount - k.paid_amount;
                }
            }
            (c.status().await.ok()?.height == h).then_some((total, lost))
        }
    })
    .await;
    assert_eq!(
        total + lost.values().sum::<u64>(),
        genesis_total,
        "accounts + stakes + escrow + burnt = genesis"
    );
    let mut c = c.clone();
    for n in &m.nodes {
        let node = c.node(n.id.parse().unwrap()).await.unwrap();
        assert_eq!(node.stake, n.stake - lost[&n.name], "{}'s stake", n.name);
        let owner: Address = n.owner.parse().unwrap();
        let initial = genesis
            .accounts
            .iter()
            .find(|a| a.address == owner)
            .unwrap();
        let now = c.account(owner).await.unwrap().account.balance;
        let paid = n.stake + 2 * PLEDGE_FEE + NODE_FUNDS;
        assert!(now >= initial.balance - paid, "{}'s owner", n.name);
    }
}

/// The live nodes' SDK client signing with `key`, `n` replicas written.
async fn live_client(d: &Devnet, key: &SigningKey, attempts: u32) -> Client {
    let live: Vec<String> = d
        .manifest
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| d.node_running(*i))
        .map(|(_, n)| format!("http://{}", n.grpc))
        .collect();
    let mut cfg = ClientConfig::new(live);
    cfg.wallet = Some(Wallet::new(key.clone()));
    cfg.retry = RetryPolicy {
        max_attempts: attempts,
        ..RetryPolicy::default()
    };
    Client::connect(cfg).await.unwrap()
}

/// The victim is killed for good: the others report it, validators vote it
/// offline with `offline_slash_bps` of its stake burnt, it leaves the ring
/// at the next epoch, the live nodes hand its partitions over and switch
/// to the new ring, and no acknowledged write is lost. Returns the stake
/// burnt.
async fn offline_verdict_and_rebalancing(
    d: &mut Devnet,
    client: &Client,
    acked: &BTreeMap<String, Vec<u8>>,
) -> u64 {
    d.kill_node(VICTIM).await.unwrap();
    let m = &d.manifest;
    let victim: Address = m.nodes[VICTIM].id.parse().unwrap();
    let epoch = Duration::from_millis(m.block_time_ms * m.epoch_length);
    let genesis = Genesis::load(&m.validators[0].home.join("genesis.toml")).unwrap();
    let c = d.chain_client().await.unwrap();
    let node = poll(
        "an offline verdict",
        6 * epoch + Duration::from_secs(30),
        || {
            let mut c = c.clone();
            async move {
                let n = c.node(victim).await.ok()?;
                (n.status == NodeStatus::Offline).then_some(n)
            }
        },
    )
    .await;
    let slashed = share(m.nodes[VICTIM].stake, genesis.params.offline_slash_bps);
    assert_eq!(node.stake, m.nodes[VICTIM].stake - slashed);
    let next = poll("the membership without it", 3 * epoch, || {
        let mut c = c.clone();
        async move {
            let e = c.status().await.ok()?.epoch;
            let ms = c.membership(e).await.ok()?;
            (!ms.contains(&victim)).then_some(e)
        }
    })
    .await;
    // Every live node switched to a ring without it (partitions handed
    // over, old layouts retired).
    let victim_id = m.nodes[VICTIM].id.clone();
    poll(
        "the live nodes to switch rings",
        Duration::from_secs(90),
        || {
            let victim_id = victim_id.clone();
            async move {
                for (i, n) in m.nodes.iter().enumerate() {
                    if i == VICTIM {
                        continue;
                    }
                    let s = fetch_status(&n.grpc.to_string()).await.ok()?;
                    if s.epoch < next || s.nodes.iter().any(|x| x.id == victim_id) {
                        return None;
                    }
                }
                Some(())
            }
        },
    )
    .await;
    eprintln!("victim voted offline; live nodes on the ring of epoch {next}");
    assert_all_readable(client, acked).await;
    slashed
}

/// The audited object of [`pdp_failure_and_slash`].
const OBJECT: &str = "e2e-audited-object";

/// The client account stores an audited object on 3 replicas and registers
/// a storage contract; once a holder passed an audit, a byte of its stored
/// bundle is flipped (node stopped, RocksDB altered, node restarted); the
/// next round fails for it and `pdp_fail_slash_bps` of its stake is burnt.
/// Returns the contract.
async fn pdp_failure_and_slash(d: &mut Devnet) -> Hash {
    let owner = SigningKey::load(&d.manifest.client_key_file).unwrap();
    let mut client = live_client(d, &owner, 3).await;
    client = client.with_options(lambda_proto::kv::v1::RequestOptions {
        n: Some(3),
        w: Some(3),
        ..Default::default()
    });
    let tagger = Tagger::new(pdp_key_of(&owner).unwrap());
    let data: Vec<u8> = (0..32 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let object = client.put_audited(OBJECT, data, &tagger, 32).await.unwrap();
    let mut chain = d.chain_client().await.unwrap();
    let terms = ContractTerms {
        epochs: 50,
        amount: 500_000,
        replicas: 3,
        fee: 1,
    };
    let receipt = register_contract(&mut chain, &owner, &object, terms)
        .await
        .unwrap();
    wait_committed(&mut chain, receipt.tx, Duration::from_secs(30))
        .await
        .unwrap();
    let epoch = chain.status().await.unwrap().epoch;
    let membership = chain.membership(epoch).await.unwrap();
    let ring = ring_of(&membership, &AuditConfig::default().placement).unwrap();
    let holders = audited_nodes(&ring, OBJECT, 3);
    let m = &d.manifest;
    let (i, id) = m
        .nodes
        .iter()
        .enumerate()
        .find_map(|(i, n)| {
            let id: Address = n.id.parse().unwrap();
            (holders.contains(&id) && d.node_running(i)).then_some((i, id))
        })
        .unwrap();
    let round = Duration::from_millis(m.block_time_ms * m.epoch_length);
    let data_dir = m.nodes[i].config.with_file_name("data");
    let contract = receipt.contract;
    let reader = chain.clone();
    let record = |passed: bool, after: u64| {
        let c = reader.clone();
        move || {
            let mut c = c.clone();
            async move {
                let r = c.pdp_results(id).await.ok()?;
                r.into_iter()
                    .find(|x| x.contract == contract && x.passed == passed && x.epoch >= after)
            }
        }
    };
    let pass = poll(
        "a PDP pass",
        4 * round + Duration::from_secs(30),
        record(true, 0),
    )
    .await;
    let before = chain.node(id).await.unwrap().stake;
    d.kill_node(i).await.unwrap();
    lambda_db::fault::corrupt_audited_object(&data_dir, 1024, OBJECT, 1000).unwrap();
    d.restart_node(i).await.unwrap();
    let failed = poll(
        "a PDP failure",
        4 * round + Duration::from_secs(30),
        record(false, pass.epoch + 1),
    )
    .await;
    let genesis = Genesis::load(&d.manifest.validators[0].home.join("genesis.toml")).unwrap();
    let after = chain.node(id).await.unwrap().stake;
    let slashed = share(before, genesis.params.pdp_fail_slash_bps);
    assert!(failed.slashed > 0, "{failed:?}");
    assert_eq!(after, before - slashed);
    eprintln!(
        "PDP: {} passed in epoch {}, failed in epoch {}",
        d.manifest.nodes[i].name, pass.epoch, failed.epoch
    );
    contract
}

/// A fresh client account, funded from the client account, makes a known
/// number of requests; once its epochs are over, the usage settled on chain
/// counts exactly those requests and its balance fell by exactly what was
/// charged. Returns its address.
async fn usage_settled_exactly(d: &Devnet) -> Address {
    let funder = SigningKey::load(&d.manifest.client_key_file).unwrap();
    let payer = SigningKey::from_seed([77; 32]);
    let address = payer.public().address();
    let mut chain = d.chain_client().await.unwrap();
    let status = chain.status().await.unwrap();
    let body = TxBody {
        chain_id: status.chain_id.clone(),
        nonce: chain
            .account(funder.public().address())
            .await
            .unwrap()
            .next_nonce,
        fee: 1,
        kind: TxKind::Transfer(Transfer {
            to: address,
            amount: 10_000,
        }),
    };
    let tx = chain.submit(&Tx::sign(&funder, &body)).await.unwrap();
    wait_committed(&mut chain, tx, Duration::from_secs(30))
        .await
        .unwrap();
    let client = live_client(d, &payer, 1).await;
    let mut made = 0u64;
    for i in 0..12u32 {
        let key = format!("e2e/billed/{i}");
        client.put(key.as_bytes(), vec![7; 64], None).await.unwrap();
        client.get(key.as_bytes()).await.unwrap();
        made += 2;
    }
    let c = chain.clone();
    let (requests, total) = poll("the usage to settle", Duration::from_secs(90), || {
        let mut c = c.clone();
        async move {
            let now = c.status().await.ok()?.epoch;
            let (mut requests, mut total) = (0, 0);
            for e in 0..now {
                if let Ok(r) = c.usage(address, e).await {
                    requests += r.entries.iter().map(|x| x.requests).sum::<u64>();
                    total += r.total;
                }
            }
            (requests == made).then_some((requests, total))
        }
    })
    .await;
    assert_eq!(requests, made);
    assert_eq!(total, made * status.price_per_request);
    let balance = chain.account(address).await.unwrap().account.balance;
    assert_eq!(balance, 10_000 - total);
    eprintln!("billing: {made} requests settled, {total} charged");
    address
}
