//! The `lambda-chain` command line, as an operator uses it: `init` a
//! single-validator chain, `print-config`, `start` it, then the client
//! commands (`status`, `tx transfer --wait`, `account`, `block`) in both
//! output formats, bad input refused with a non-zero exit, and SIGTERM
//! stopping the validator with exit 0.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use lambda_common::keys::SigningKey;
use lambda_testkit::{Process, free_addr, wait_for_port};
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lambda-chain")
}

/// Runs the CLI; returns stdout, failing on a non-zero exit.
fn run(args: &[&str]) -> Result<String> {
    let o = Command::new(bin()).args(args).output()?;
    if !o.status.success() {
        bail!("{args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(String::from_utf8(o.stdout)?)
}

fn json(args: &[&str]) -> Result<Value> {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    Ok(serde_json::from_str(&run(&a)?)?)
}

fn start(home: &Path, api: std::net::SocketAddr) -> Result<Process> {
    let p = Process::spawn(
        bin().into(),
        vec!["start".into(), "--home".into(), home.display().to_string()],
        vec![],
        home.join("node.log"),
    )?;
    wait_for_port(api, Duration::from_secs(30))?;
    Ok(p)
}

#[test]
fn an_operator_session() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("validator");
    let (p2p, api) = (free_addr()?, free_addr()?);
    let (p2p_s, api_s, home_s) = (p2p.to_string(), api.to_string(), home.display().to_string());
    let init = json(&[
        "init",
        "--home",
        &home_s,
        "--p2p",
        &p2p_s,
        "--api",
        &api_s,
        "--block-time-ms",
        "100",
        "--chain-id",
        "cli-test",
    ])?;
    let validator = init["validator"].as_str().unwrap().to_string();
    assert!(
        run(&["init", "--home", &home_s]).is_err(),
        "init never overwrites a home"
    );
    let cfg = run(&["print-config", "--home", &home_s])?;
    assert!(
        cfg.contains("block_time = \"100ms\"") && cfg.contains(&api_s),
        "{cfg}"
    );

    let mut node = start(&home, api)?;
    let endpoint = format!("http://{api}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while json(&["status", "--endpoint", &endpoint])?["height"].as_u64() < Some(1) {
        assert!(Instant::now() < deadline, "no block:\n{}", node.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = json(&["status", "--endpoint", &endpoint])?;
    assert_eq!(status["chain_id"], "cli-test");
    assert_eq!(status["validator"], validator.as_str());

    let to = SigningKey::from_seed([4; 32])
        .public()
        .address()
        .to_string();
    let key = home.join("validator.key").display().to_string();
    let sent = json(&[
        "tx",
        "transfer",
        "--from",
        &key,
        "--to",
        &to,
        "--amount",
        "4242",
        "--wait",
        "30",
        "--endpoint",
        &endpoint,
    ])?;
    let height = sent["height"].as_u64().unwrap();
    let acct = json(&["account", &to, "--endpoint", &endpoint])?;
    assert_eq!(acct["balance"], 4242);
    let block = json(&["block", &height.to_string(), "--endpoint", &endpoint])?;
    assert_eq!(block["txs"][0], sent["tx_hash"]);
    assert_eq!(block["proposer"], validator.as_str());
    let table = run(&["block", "latest", "--endpoint", &endpoint])?;
    assert!(table.lines().any(|l| l.starts_with("height ")), "{table}");
    let mine = run(&["account", &validator, "--endpoint", &endpoint])?;
    let nonce_line = mine.lines().find(|l| l.starts_with("nonce ")).unwrap();
    assert_eq!(
        nonce_line.split_whitespace().collect::<Vec<_>>(),
        ["nonce", "1"]
    );

    assert!(run(&["account", "not-an-address", "--endpoint", &endpoint]).is_err());
    assert!(run(&["block", "1000000", "--endpoint", &endpoint]).is_err());

    let exit = node.terminate(Duration::from_secs(20))?;
    assert!(exit.success(), "{exit}\n{}", node.log());
    assert!(node.log().contains("state flushed; validator stopped"));
    Ok(())
}
