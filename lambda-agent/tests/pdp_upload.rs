//! Sealed time-series blocks as audited objects, against a real chain and
//! a real storage node: each uploaded block is stored as a PDP bundle, a
//! storage contract is registered for it, queries read the points back out
//! of the bundles, and a retried upload neither re-tags nor registers
//! twice.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_agent::sdk::{Client, ClientConfig, ContractTerms};
use lambda_agent::tsdb::pdp_store::{AuditSettings, AuditedStore};
use lambda_agent::tsdb::{ObjectStore, Point, SdkStore, SeriesKey, SeriesPoints, Tsdb, TsdbConfig};
use lambda_chain::client::ChainClient;
use lambda_common::keys::SigningKey;
use lambda_testkit::chain::{ChainSpec, LocalChain};
use lambda_testkit::{free_addr, spawn_db_node};

const MIN: i64 = 60_000;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (10 * MIN);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_blocks_are_stored_audited_with_contracts() {
    let root = tempfile::tempdir().unwrap();
    let spec = ChainSpec {
        validators: 1,
        accounts: 1,
        ..ChainSpec::default()
    };
    let chain = LocalChain::start(root.path(), &spec).unwrap();
    let addr = free_addr().unwrap();
    let _node = spawn_db_node(&root.path().join("node"), addr, &[]).unwrap();
    let client = Client::connect(ClientConfig::new([format!("http://{addr}")]))
        .await
        .unwrap();
    let settings = AuditSettings {
        account: SigningKey::load(&chain.accounts[0].key_file).unwrap(),
        chain_endpoints: chain.api_endpoints(),
        terms: ContractTerms {
            epochs: 5,
            amount: 10_000,
            replicas: 1,
            fee: 1,
        },
        sectors: 8,
    };
    let inner: Arc<dyn ObjectStore> = Arc::new(SdkStore::new(&client));
    let audited = Arc::new(AuditedStore::new(inner, client.clone(), settings).unwrap());
    let db = Tsdb::open(
        &root.path().join("tsdb"),
        TsdbConfig {
            block_ms: 10 * MIN,
            ..TsdbConfig::default()
        },
        audited.clone(),
    )
    .unwrap();
    let key = SeriesKey::new("cpu", [("host", "a")]).unwrap();
    let points: Vec<Point> = (0..2_000)
        .map(|i| Point::new(T0 + i * 600, (i as f64 * 0.01).sin()))
        .collect();
    db.ingest(&[SeriesPoints {
        key: key.clone(),
        points: points.clone(),
    }])
    .unwrap();
    db.seal_all();
    let mut uploaded = 0;
    for _ in 0..10 {
        match db.upload_pending().await.unwrap() {
            0 => break,
            n => uploaded += n,
        }
    }
    assert_eq!(
        uploaded, 2,
        "20 minutes of points make two 10-minute blocks"
    );

    // One contract per block, committed with the object's name and size.
    let contracts = audited.contracts();
    assert_eq!(contracts.len(), 2, "{contracts:?}");
    let mut c = ChainClient::connect(&chain.api_endpoints()[0])
        .await
        .unwrap();
    for (name, id) in &contracts {
        assert!(name.starts_with("ts/v1/block/"), "{name}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let contract = loop {
            if let Ok(k) = c.contract(*id).await {
                break k;
            }
            assert!(
                Instant::now() < deadline,
                "contract {id} never committed\n{}",
                chain.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(&contract.object_name, name);
        let bundle = client.get_audited(name).await.unwrap().unwrap();
        assert_eq!(contract.size_bytes, bundle.data().len() as u64);
        assert_eq!(contract.pdp_digest.0, bundle.metadata().metadata().digest());
        // Only the bundle key holds the block.
        assert!(!client.get(name.as_bytes()).await.unwrap().found);
    }

    // Queries read the points back out of the bundles.
    let back = db.range(&key, T0, T0 + 20 * MIN).await.unwrap();
    assert_eq!(back.len(), points.len());
    assert!(
        back.iter()
            .zip(&points)
            .all(|(a, b)| a.timestamp_ms == b.timestamp_ms)
    );

    // A retried upload of the same block keeps its tags and its contract.
    let (name, _) = contracts.iter().next().unwrap();
    let before = client.get_audited(name).await.unwrap().unwrap();
    audited
        .put_immutable(name, before.data().to_vec())
        .await
        .unwrap();
    let after = client.get_audited(name).await.unwrap().unwrap();
    assert_eq!(before.metadata(), after.metadata());
    assert_eq!(audited.contracts(), contracts);

    // The CLI: put-object tags, stores and registers; get-object reads back.
    let file = root.path().join("object.bin");
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let lambda = lambda_testkit::binary("lambda").unwrap();
    let endpoint = format!("http://{addr}");
    let out = std::process::Command::new(&lambda)
        .args(["-e", &endpoint, "-o", "json", "put-object", "cli/object"])
        .arg(&file)
        .arg("--key")
        .arg(&chain.accounts[0].key_file)
        .args([
            "--epochs",
            "3",
            "--amount",
            "500",
            "--replicas",
            "1",
            "--chain",
        ])
        .arg(&chain.api_endpoints()[0])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = lambda_chain::types::Hash::from_slice(
        &hex::decode(v["contract"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let contract = c.contract(id).await.unwrap();
    assert_eq!(contract.object_name, "cli/object");
    assert_eq!(contract.size_bytes, bytes.len() as u64);
    let got = std::process::Command::new(&lambda)
        .args(["-e", &endpoint, "get-object", "cli/object"])
        .output()
        .unwrap();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(got.stdout, bytes);
}
