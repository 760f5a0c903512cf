//! PDP audit rounds end to end, every part a real process: a 4-validator
//! chain, 4 `lambda-db` nodes pledged on it (run with a membership file
//! whose ids are their node-key addresses), and the SDK as data owner.
//!
//! The owner stores an audited object (3 replicas) and registers its
//! contract; the next epoch's audits of the 3 nodes holding it pass, are
//! recorded and pay the node owners. Then one holder's stored bundle is
//! altered directly in its RocksDB (node stopped, value rewritten with the
//! storage engine, node restarted): its next audit fails on the pairing
//! check, the failure is recorded and its stake is slashed, while the
//! other holders keep passing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lambda_agent::sdk::pdp::Tagger;
use lambda_agent::sdk::pdp_contract::wait_committed;
use lambda_agent::sdk::{Client, ClientConfig, ContractTerms, pdp_key_of, register_contract};
use lambda_chain::client::ChainClient;
use lambda_chain::node::auditor::{AuditConfig, audited_nodes, ring_of};
use lambda_chain::state::PdpRecord;
use lambda_chain::tx::kind::Pledge;
use lambda_chain::tx::{Tx, TxBody, TxKind};
use lambda_chain::types::Hash;
use lambda_common::keys::{Address, SigningKey};
use lambda_testkit::chain::{ChainSpec, LocalChain};
use lambda_testkit::{Process, binary, free_port, wait_for_port};

const NODES: usize = 4;
const OBJECT: &str = "audited/object-1";

struct Node {
    key: SigningKey,
    owner: SigningKey,
    addr: SocketAddr,
    data_dir: PathBuf,
    process: Process,
}

fn node_config(id: &Address, dir: &Path, addr: SocketAddr, membership: &Path) -> String {
    format!(
        "node_id = \"{id}\"\ndata_dir = \"{}\"\nlisten = \"{addr}\"\nshutdown_grace_ms = 2000\n\n\
         [storage]\nsync_writes = false\n\n\
         [cluster]\nmembership_file = \"{}\"\nrpc_timeout_ms = 1500\nsuspect_ms = 3000\n\
         startup_grace_ms = 2000\ngossip_interval_ms = 100\n",
        dir.display(),
        membership.display()
    )
}

async fn pledge(
    chain: &mut ChainClient,
    chain_id: &str,
    owner: &SigningKey,
    node: &SigningKey,
    addr: SocketAddr,
    zone: usize,
    stake: u64,
) {
    let o = owner.public().address();
    let nonce = chain.account(o).await.unwrap().next_nonce;
    let body = TxBody {
        chain_id: chain_id.into(),
        nonce,
        fee: 1,
        kind: TxKind::Pledge(Pledge {
            node_public_key: node.public(),
            node_signature: Pledge::prove(node, chain_id, &o),
            endpoint: addr.to_string(),
            capacity_bytes: 100 << 30,
            bandwidth_bps: 125_000_000,
            zone: format!("z{zone}"),
            stake,
        }),
    };
    let hash = chain.submit(&Tx::sign(owner, &body)).await.unwrap();
    wait_committed(chain, hash, Duration::from_secs(30))
        .await
        .unwrap();
}

/// Starts the storage nodes with a membership file naming them by address.
fn start_nodes(root: &Path, keys: Vec<(SigningKey, SigningKey)>) -> Vec<Node> {
    let addrs: Vec<SocketAddr> = (0..NODES)
        .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port().unwrap())))
        .collect();
    let mut membership = String::from("epoch = 1\n");
    for (i, (k, _)) in keys.iter().enumerate() {
        let gossip = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        membership.push_str(&format!(
            "\n[[node]]\nid = \"{}\"\nendpoint = \"{}\"\ngossip = \"{gossip}\"\ncapacity = 100\nbandwidth = 1000\nzone = \"z{i}\"\n",
            k.public().address(),
            addrs[i]
        ));
    }
    let membership_file = root.join("membership.toml");
    std::fs::write(&membership_file, membership).unwrap();
    let mut nodes = Vec::new();
    for (i, (key, owner)) in keys.into_iter().enumerate() {
        let data_dir = root.join(format!("node{i}"));
        let config = root.join(format!("node{i}.toml"));
        let id = key.public().address();
        std::fs::write(
            &config,
            node_config(&id, &data_dir, addrs[i], &membership_file),
        )
        .unwrap();
        let args = vec![
            "start".into(),
            "--config".into(),
            config.display().to_string(),
        ];
        let process = Process::spawn(
            binary("lambda-db").unwrap(),
            args,
            vec![],
            root.join(format!("node{i}.log")),
        )
        .unwrap();
        nodes.push(Node {
            key,
            owner,
            addr: addrs[i],
            data_dir,
            process,
        });
    }
    for n in &nodes {
        wait_for_port(n.addr, Duration::from_secs(60)).unwrap();
    }
    nodes
}

/// Waits until `node` has a record for `contract` matching `want`.
async fn wait_record(
    chain: &mut ChainClient,
    node: Address,
    contract: Hash,
    after_epoch: u64,
    want: impl Fn(&PdpRecord) -> bool,
    logs: &dyn Fn() -> String,
) -> PdpRecord {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let records = chain.pdp_results(node).await.unwrap();
        if let Some(r) = records
            .iter()
            .find(|r| r.contract == contract && r.epoch > after_epoch && want(r))
        {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no matching PDP record of {node}: {records:?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn balance(chain: &mut ChainClient, a: Address) -> u64 {
    chain.account(a).await.unwrap().account.balance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audits_pay_holders_and_slash_a_corrupted_one() {
    let root = tempfile::tempdir().unwrap();
    let spec = ChainSpec {
        accounts: NODES + 1,
        epoch_length: 25,
        ..ChainSpec::default()
    };
    let chain_procs = LocalChain::start(root.path(), &spec).unwrap();
    let logs = || chain_procs.logs();
    let mut chain = ChainClient::connect(&chain_procs.api_endpoints()[0])
        .await
        .unwrap();
    let accounts: Vec<SigningKey> = chain_procs
        .accounts
        .iter()
        .map(|a| SigningKey::load(&a.key_file).unwrap())
        .collect();
    let stake = 10 * chain.status().await.unwrap().min_node_stake;

    // Storage nodes: start them, pledge them, wait until they are members.
    let keys = (0..NODES)
        .map(|i| (SigningKey::generate(), accounts[i].clone()))
        .collect();
    let mut nodes = start_nodes(root.path(), keys);
    for (i, n) in nodes.iter().enumerate() {
        pledge(
            &mut chain,
            &chain_procs.chain_id,
            &n.owner,
            &n.key,
            n.addr,
            i,
            stake,
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let member_epoch = loop {
        let epoch = chain.status().await.unwrap().epoch;
        if let Ok(m) = chain.membership(epoch).await
            && m.members.len() == NODES
        {
            break epoch;
        }
        assert!(
            Instant::now() < deadline,
            "nodes never became members\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The data owner stores an audited object on 3 replicas and registers it.
    let data_owner = &accounts[NODES];
    let tagger = Tagger::new(pdp_key_of(data_owner).unwrap());
    let mut cfg = ClientConfig::new(nodes.iter().map(|n| format!("http://{}", n.addr)));
    cfg.options.n = Some(3);
    cfg.options.w = Some(3);
    let client = Client::connect(cfg).await.unwrap();
    let data: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let object = client
        .put_audited(OBJECT, data.clone(), &tagger, 32)
        .await
        .unwrap();
    assert_eq!(
        client.get_audited(OBJECT).await.unwrap().unwrap().data(),
        &data[..]
    );
    let owner_before: Vec<u64> = {
        let mut v = Vec::new();
        for n in &nodes {
            v.push(balance(&mut chain, n.owner.public().address()).await);
        }
        v
    };
    let terms = ContractTerms {
        epochs: 20,
        amount: 2_000_000,
        replicas: 3,
        fee: 1,
    };
    let receipt = register_contract(&mut chain, data_owner, &object, terms)
        .await
        .unwrap();
    wait_committed(&mut chain, receipt.tx, Duration::from_secs(30))
        .await
        .unwrap();
    let registered = chain.contract(receipt.contract).await.unwrap();
    assert_eq!(registered.object_name, OBJECT);

    // The holders: the first 3 of the key's preference list in the chain's
    // ring, as the validators compute it.
    let membership = chain.membership(member_epoch).await.unwrap();
    let ring = ring_of(&membership, &AuditConfig::default().placement).unwrap();
    let holders = audited_nodes(&ring, OBJECT, 3);
    assert_eq!(holders.len(), 3);

    // Every holder passes and is paid.
    let mut passes = Vec::new();
    for h in &holders {
        let r = wait_record(&mut chain, *h, receipt.contract, 0, |r| r.passed, &logs).await;
        assert!(r.payment > 0, "{r:?}");
        passes.push(r);
    }
    for (i, n) in nodes.iter().enumerate() {
        let id = n.key.public().address();
        if !holders.contains(&id) {
            continue;
        }
        // Balances add up: the owner received exactly the recorded payments.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let before = chain.pdp_results(id).await.unwrap();
            let bal = balance(&mut chain, n.owner.public().address()).await;
            if before == chain.pdp_results(id).await.unwrap() {
                let paid: u64 = before.iter().map(|r| r.payment).sum();
                assert_eq!(bal, owner_before[i] + paid);
                break;
            }
            assert!(Instant::now() < deadline);
        }
    }

    // Right after the victim's next pass (an epoch just began), alter the
    // bundle on it and restart it, well before the following epoch.
    let victim_id = holders[0];
    let vi = nodes
        .iter()
        .position(|n| n.key.public().address() == victim_id)
        .unwrap();
    let fresh = wait_record(
        &mut chain,
        victim_id,
        receipt.contract,
        passes[0].epoch,
        |r| r.passed,
        &logs,
    )
    .await;
    let passed_epoch = fresh.epoch;
    let stake_before = chain.node(victim_id).await.unwrap().stake;
    {
        let victim = &mut nodes[vi];
        victim.process.terminate(Duration::from_secs(10)).unwrap();
        lambda_db::fault::corrupt_audited_object(&victim.data_dir, 1024, OBJECT, 1000).unwrap();
        victim.process.restart().unwrap();
        wait_for_port(victim.addr, Duration::from_secs(60)).unwrap();
    }
    let failed = wait_record(
        &mut chain,
        victim_id,
        receipt.contract,
        passed_epoch,
        |r| !r.passed,
        &logs,
    )
    .await;
    assert!(failed.slashed > 0, "{failed:?}");
    assert_eq!(failed.payment, 0);
    let stake_after = chain.node(victim_id).await.unwrap().stake;
    assert_eq!(
        stake_after,
        stake_before - failed.slashed,
        "the slash is applied to the stake"
    );
    // It failed on the proof (not a timeout): the auditor logged why.
    let text = logs();
    assert!(
        text.lines()
            .any(|l| l.contains(&victim_id.to_string()) && l.contains("pairing check")),
        "no pairing-check failure logged for {victim_id}"
    );
    // The intact holders pass the same epoch.
    for h in &holders[1..] {
        wait_record(
            &mut chain,
            *h,
            receipt.contract,
            failed.epoch - 1,
            |r| r.passed && r.epoch == failed.epoch,
            &logs,
        )
        .await;
    }
    // The CLI shows the failure for that node.
    let out = std::process::Command::new(binary("lambda-chain").unwrap())
        .args([
            "pdp-results",
            &victim_id.to_string(),
            "-o",
            "json",
            "--endpoint",
        ])
        .arg(&chain_procs.api_endpoints()[0])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        rows.as_array().unwrap().iter().any(|r| r["passed"] == false
            && r["epoch"] == failed.epoch
            && r["slashed"] == failed.slashed),
        "{rows}"
    );
}
