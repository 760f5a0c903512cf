//! The fisherman path end to end, with nothing but real daemons: validator
//! v3 of a testnet runs twice (a second process with a copy of its key, its
//! own fresh state and write-ahead log — the operator mistake that makes
//! real validators double sign). The twins each propose their own block
//! when v3 is the proposer and each vote their own way, so the honest
//! validators see two conflicting votes signed by v3; each turns the
//! evidence into a slashing transaction signed with its own account key.
//! One is committed: v3 is slashed (its stake taken, its status REMOVED),
//! the submitting validator is the fisherman, v3 leaves the validator set
//! at the next epoch boundary and the chain goes on with three.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod testnet;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use lambda_chain::state::ValidatorStatus;
use lambda_chain::tx::codec::decode_body;
use lambda_chain::tx::{Tx, TxKind};
use lambda_testkit::{Process, free_addr, wait_for_port};
use testnet::{Net, bin};

fn edit_config(home: &Path, f: impl FnOnce(&mut toml::Table)) -> Result<()> {
    let path = home.join("config.toml");
    let mut t: toml::Table = toml::from_str(&std::fs::read_to_string(&path)?)?;
    f(&mut t);
    std::fs::write(&path, toml::to_string(&t)?)?;
    Ok(())
}

fn table<'a>(t: &'a mut toml::Table, path: &[&str]) -> &'a mut toml::Table {
    path.iter()
        .fold(t, |t, k| t.get_mut(*k).unwrap().as_table_mut().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_signing_validator_is_slashed_through_a_fisherman_transaction() -> Result<()> {
    let mut net = Net::create(4, 1, &["--epoch-length", "10"])?;
    let culprit = net.net.validators[3].address;
    let honest: Vec<_> = net.net.validators[..3].iter().map(|v| v.address).collect();

    // The twin: v3's key, genesis and configuration, its own ports and data.
    let twin = net.dir.path().join("v3-twin");
    std::fs::create_dir_all(&twin)?;
    for f in ["validator.key", "genesis.toml", "config.toml"] {
        std::fs::copy(net.home(3).join(f), twin.join(f))?;
    }
    let (twin_p2p, twin_api) = (free_addr()?, free_addr()?);
    let peers: Vec<String> = net.net.validators[..3]
        .iter()
        .map(|v| format!("http://{}", v.p2p))
        .collect();
    edit_config(&twin, |t| {
        table(t, &["api"]).insert("listen".into(), twin_api.to_string().into());
        table(t, &["consensus"]).insert("listen".into(), twin_p2p.to_string().into());
        table(t, &["consensus", "network"]).insert("peers".into(), peers.clone().into());
    })?;
    for i in 0..3 {
        edit_config(net.home(i), |t| {
            let p = table(t, &["consensus", "network"])
                .get_mut("peers")
                .unwrap();
            p.as_array_mut()
                .unwrap()
                .push(format!("http://{twin_p2p}").into());
        })?;
    }
    net.start_all()?;
    let twin_proc = Process::spawn(
        bin(),
        vec!["start".into(), "--home".into(), twin.display().to_string()],
        vec![("LAMBDA_LOG".into(), "info".into())],
        twin.join("node.log"),
    )?;
    wait_for_port(twin_api, Duration::from_secs(30))?;

    // Wait for the slash to be committed.
    let mut c = net.client(0).await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    let slashed_at = loop {
        let v = c.validator(culprit).await?;
        if v.status == ValidatorStatus::Removed {
            assert_eq!(
                v.stake, 0,
                "the whole stake is taken (double_sign_slash_bps = 100 %)"
            );
            break c.status().await?.height;
        }
        if Instant::now() > deadline {
            bail!(
                "v3 was never slashed\n{}\n---- twin\n{}",
                net.logs(),
                testnet::tail(&twin_proc.log(), 40)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The slashing transaction is in a block, sent by an honest validator.
    let mut fisherman = None;
    for h in 1..=slashed_at {
        for bytes in c.block(h).await?.block.txs {
            let tx = Tx::decode(&bytes, usize::MAX)?;
            if let TxKind::SlashDoubleSign(ev) = decode_body(&tx.body_bytes, usize::MAX)?.kind {
                assert_eq!(ev.a.validator, culprit);
                fisherman = Some(tx.sender());
            }
        }
    }
    let fisherman = fisherman.expect("a slashing transaction was committed");
    assert!(
        honest.contains(&fisherman),
        "submitted by an honest validator"
    );
    let logs: String = (0..3)
        .map(|i| net.procs[i].as_ref().unwrap().log())
        .collect();
    assert!(logs.contains("double-sign evidence submitted"));

    // At the next epoch boundary v3 leaves; the three go on.
    let next_epoch_start = (slashed_at / 10 + 1) * 10 + 1;
    net.wait_height(&[0, 1, 2], next_epoch_start + 3, Duration::from_secs(60))
        .await?;
    let (_, set) = c.validators(next_epoch_start).await?;
    assert_eq!(set.len(), 3);
    assert!(set.get(&culprit).is_none());
    for a in &honest {
        assert!(set.get(a).is_some());
    }
    drop(twin_proc);
    Ok(())
}
