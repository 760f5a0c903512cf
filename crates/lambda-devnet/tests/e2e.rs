//! End-to-end test of a whole devnet, every component its own process:
//! 4 validators, 5 storage nodes, the agent.
//!
//! Steps run today: devnet up (pledges committed, nodes members, cluster
//! answering); writes and reads through the SDK and the agent; a storage
//! node SIGKILLed → hints accumulate, reads and writes go on, every
//! acknowledged write stays readable; the node restarted → its hints are
//! delivered; the chain's balances add up (pledged stakes and fees moved,
//! nothing created or lost).
//!
//! Steps written but gated off until the branches they need are merged
//! (each flag below names the branch): the offline verdict and rebalancing
//! (chainlink), a PDP failure and its slash (audit), and usage settlement
//! paying the serving nodes (billing).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lambda_agent::sdk::{Client, ClientConfig};
use lambda_chain::genesis::Genesis;
use lambda_chain::params::share;
use lambda_chain::state::NodeStatus;
use lambda_common::keys::Address;
use lambda_db::admin_cli::fetch_status;
use lambda_devnet::pledge::PLEDGE_FEE;
use lambda_devnet::{Devnet, DevnetSpec};
use lambda_proto::agent::v1 as apb;
use lambda_proto::agent::v1::agent_client::AgentClient;

/// The chainlink branch (nodes report offline peers, validators vote
/// verdicts, the ring follows the chain) is merged.
const CHAINLINK_MERGED: bool = false;
/// The audit branch (PDP rounds each epoch, slashing of failures) is merged.
const AUDIT_MERGED: bool = false;
/// The billing branch (signed requests, usage settlement) is merged.
const BILLING_MERGED: bool = false;

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
    // Everything still running stopped on SIGTERM (the killed node was
    // restarted): a clean exit, not the SIGKILL fallback.
    for (name, how) in stopped {
        assert!(how.contains("exit status: 0"), "{name} ended with {how}");
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

    // Stake burnt by the steps below, per node name.
    let mut burnt: BTreeMap<String, u64> = BTreeMap::new();
    kill_node_hints_no_loss(d, &client, &mut acked).await;
    if CHAINLINK_MERGED {
        let slash = offline_verdict_and_rebalancing(d, &client, &acked).await;
        burnt.insert(d.manifest.nodes[VICTIM].name.clone(), slash);
    } else {
        eprintln!("SKIPPED offline verdict and rebalancing: needs the chainlink branch");
    }
    restart_and_deliver_hints(d, &client, &acked).await;
    if AUDIT_MERGED {
        let slash = pdp_failure_and_slash(d).await;
        *burnt.entry(d.manifest.nodes[0].name.clone()).or_default() += slash;
    } else {
        eprintln!("SKIPPED PDP failure and slash: needs the audit branch");
    }
    balances_add_up(d, &burnt).await;
    if BILLING_MERGED {
        usage_settled_pays_nodes(d).await;
    } else {
        eprintln!("SKIPPED usage settlement balances: needs the billing branch");
    }
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

/// Every account the devnet knows plus every stake adds up to the genesis
/// balances less what slashes burnt (`burnt`, per node name): pledges moved
/// stake and fees, nothing was created or lost.
async fn balances_add_up(d: &Devnet, burnt: &BTreeMap<String, u64>) {
    let home = &d.manifest.validators[0].home;
    let genesis = Genesis::load(&home.join("genesis.toml")).unwrap();
    let mut c = d.chain_client().await.unwrap();
    let genesis_total: u64 = genesis.accounts.iter().map(|a| a.balance).sum();
    let mut balances = 0u64;
    for a in &genesis.accounts {
        balances += c.account(a.address).await.unwrap().account.balance;
    }
    let mut stakes = 0u64;
    for n in &d.manifest.nodes {
        let node = c.node(n.id.parse().unwrap()).await.unwrap();
        let lost = burnt.get(&n.name).copied().unwrap_or(0);
        assert_eq!(node.stake, n.stake - lost, "{}'s stake", n.name);
        stakes += node.stake;
        let owner: Address = n.owner.parse().unwrap();
        let initial = genesis
            .accounts
            .iter()
            .find(|a| a.address == owner)
            .unwrap();
        let now = c.account(owner).await.unwrap().account.balance;
        assert_eq!(
            now,
            initial.balance - n.stake - PLEDGE_FEE,
            "{}'s owner",
            n.name
        );
    }
    assert_eq!(
        balances + stakes,
        genesis_total,
        "balances + stakes = genesis"
    );
}

// ---- Steps that need branches not merged yet -------------------------

/// (chainlink) The killed node is voted offline, leaves the ring at the
/// next epoch with `offline_slash_bps` of its stake burnt; the others
/// rebalance onto the new ring and no acknowledged write is lost. Returns
/// the stake burnt.
async fn offline_verdict_and_rebalancing(
    d: &Devnet,
    client: &Client,
    acked: &BTreeMap<String, Vec<u8>>,
) -> u64 {
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
    // The live nodes moved to that epoch's ring (rebalancing).
    for (i, n) in m.nodes.iter().enumerate() {
        if i == VICTIM {
            continue;
        }
        let s = fetch_status(&n.grpc.to_string()).await.unwrap();
        assert!(s.epoch >= next, "{} still on epoch {}", n.name, s.epoch);
        assert!(s.nodes.iter().all(|x| x.id != m.nodes[VICTIM].id));
    }
    assert_all_readable(client, acked).await;
    slashed
}

/// (audit) A chunk stored on a node is altered; the next PDP round fails
/// for it, the failure is recorded and `pdp_fail_slash_bps` of its stake
/// is burnt. Returns the stake burnt.
async fn pdp_failure_and_slash(d: &Devnet) -> u64 {
    let m = &d.manifest;
    let target = &m.nodes[0];
    let id: Address = target.id.parse().unwrap();
    corrupt_stored_chunk(d, 0).await;
    let genesis = Genesis::load(&m.validators[0].home.join("genesis.toml")).unwrap();
    let epoch = Duration::from_millis(m.block_time_ms * m.epoch_length);
    let mut c = d.chain_client().await.unwrap();
    let before = c.node(id).await.unwrap().stake;
    poll(
        "a failed PDP result",
        4 * epoch + Duration::from_secs(30),
        || {
            let mut c = c.clone();
            async move {
                let r = c.pdp_results(id).await.ok()?;
                r.iter().any(|x| !x.passed).then_some(())
            }
        },
    )
    .await;
    let after = c.node(id).await.unwrap().stake;
    let slashed = share(before, genesis.params.pdp_fail_slash_bps);
    assert_eq!(after, before - slashed);
    slashed
}

/// (audit) Alters one chunk that node `i` stores and the auditors
/// challenge. Which stored bytes a PDP round reads (tagged sealed blocks
/// and objects) is the audit branch's layout, so this is written with it.
async fn corrupt_stored_chunk(_d: &Devnet, _i: usize) {
    unimplemented!("needs the audit branch's chunk layout")
}

/// (billing) The client paid for exactly the requests served, and the
/// serving nodes' owners received it.
async fn usage_settled_pays_nodes(_d: &Devnet) {
    unimplemented!("needs the billing branch's settlement and receipts")
}
