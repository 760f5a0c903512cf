//! Block validation, the size limit, crash and restart of the RocksDB
//! state, and random bytes into the block decoder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{CHAIN, Harness, T0, key, open};
use lambda_chain::block::{Block, tx_root};
use lambda_chain::codec::DecodeError;
use lambda_chain::tx::kind::{RegisterContract, Transfer};
use lambda_chain::tx::{TxError, TxKind};
use lambda_chain::types::{Hash, TypesError};
use lambda_chain::{BlockError, ChainError};
use lambda_common::keys::KeyError;
use proptest::prelude::*;

fn block_err(r: Result<Block, ChainError>) -> BlockError {
    match r {
        Err(ChainError::Block(e)) => e,
        other => panic!("expected a block error, got {other:?}"),
    }
}

fn transfer(h: &Harness, from: usize, to: usize, amount: u64) -> lambda_chain::tx::Tx {
    h.tx(
        h.user(from),
        TxKind::Transfer(Transfer {
            to: h.user(to).public().address(),
            amount,
        }),
    )
}

#[test]
fn a_replica_validates_and_commits_to_the_same_root() {
    let mut a = Harness::new(3);
    let b_dir = tempfile::tempdir().unwrap();
    let mut b = open(b_dir.path(), &a.genesis);
    for i in 0..5 {
        let txs = vec![transfer(&a, 1, 2, 10 + i), transfer(&a, 3, 1, 5)];
        let built = a.build(&txs);
        let block = b
            .validate_block(&built.bytes, built.block.header.time_ms)
            .unwrap();
        assert_eq!(block, built.block);
        let cert = a.cert(block.header.height, block.hash());
        a.state.commit_block(&built.block, &cert).unwrap();
        b.commit_block(&block, &cert).unwrap();
        assert_eq!(a.state.state_root(), b.state_root());
        assert_eq!(b.state_root(), block.header.state_root);
        assert_eq!(b.certificate(block.header.height).unwrap(), Some(cert));
    }
    assert_eq!(b.latest_height(), 5);
    assert_eq!(b.block(5).unwrap(), a.state.block(5).unwrap());
}

#[test]
fn validation_rejects_bad_blocks_with_the_reason() {
    let mut h = Harness::new(10);
    h.commit(&[]);
    let built = h.build(&[transfer(&h, 1, 2, 10)]);
    let now = built.block.header.time_ms;
    let check = |f: &dyn Fn(&mut Block)| {
        let mut b = built.block.clone();
        f(&mut b);
        block_err(h.state.validate_block(&b.encode(), now))
    };
    assert!(matches!(
        check(&|b| b.header.state_root = Hash::digest(b"x")),
        BlockError::WrongStateRoot { .. }
    ));
    assert!(matches!(
        check(&|b| b.header.tx_root = Hash::digest(b"x")),
        BlockError::WrongTxRoot { .. }
    ));
    // With one block before, the median of ten is still the genesis time.
    assert_eq!(
        check(&|b| b.header.time_ms = T0),
        BlockError::TimeTooOld {
            time_ms: T0,
            median_ms: T0
        }
    );
    assert!(matches!(
        check(&|b| b.header.time_ms = now + 30_001),
        BlockError::TimeInFuture { .. }
    ));
    assert!(matches!(
        check(&|b| b.header.parent_hash = Hash::digest(b"x")),
        BlockError::WrongParent { .. }
    ));
    assert!(matches!(
        check(&|b| b.header.height = 5),
        BlockError::WrongHeight {
            expected: 2,
            got: 5
        }
    ));
    assert!(matches!(
        check(&|b| b.header.chain_id = "other".into()),
        BlockError::WrongChainId { .. }
    ));
    let stranger = key(8, 8).public().address();
    assert_eq!(
        check(&|b| b.header.proposer = stranger),
        BlockError::UnknownProposer(stranger)
    );
    assert!(matches!(
        check(&|b| b.header.validators_digest = Hash::digest(b"x")),
        BlockError::WrongValidators { .. }
    ));
    assert_eq!(
        check(&|b| b.last_commit = None),
        BlockError::LastCommitPresence("is missing")
    );
    // A certificate with half of the power: digest fixed up, still refused.
    let weak = |b: &mut Block| {
        let mut c = b.last_commit.clone().unwrap();
        c.signatures.truncate(2);
        b.header.last_commit_hash = Some(c.digest());
        b.last_commit = Some(c);
    };
    assert!(matches!(
        check(&weak),
        BlockError::LastCommitInvalid(TypesError::InsufficientPower { .. })
    ));
    assert_eq!(
        check(&|b| b.header.last_commit_hash = Some(Hash::digest(b"x"))),
        BlockError::LastCommitDigest
    );
    // An invalid transaction inside, roots consistent.
    let forged = {
        let mut t = transfer(&h, 1, 2, 10);
        t.public_key = h.user(2).public();
        t.encode()
    };
    let bad_tx = check(&|b| {
        b.txs = vec![forged.clone()];
        b.header.tx_root = tx_root(&b.txs);
    });
    assert!(matches!(
        bad_tx,
        BlockError::InvalidTx {
            index: 0,
            reason: TxError::BadSignature(KeyError::BadSignature),
            ..
        }
    ));
    // Size and bytes.
    let limit = h.state.params().max_block_bytes;
    assert!(matches!(
        block_err(h.state.validate_block(&vec![0u8; limit as usize + 1], now)),
        BlockError::TooLarge { .. }
    ));
    assert!(matches!(
        block_err(h.state.validate_block(&[0x0a, 0x05, 1], now)),
        BlockError::Malformed(DecodeError::Malformed { .. })
    ));
    // The builder refuses an old time too.
    let proposer = h.proposer();
    assert!(matches!(
        h.state.build_block(2, proposer, T0, &[], h.last_commit()),
        Err(ChainError::Block(BlockError::TimeTooOld { .. }))
    ));
    // The untouched block is valid.
    h.state.validate_block(&built.bytes, now).unwrap();
}

#[test]
fn builder_respects_the_size_limit_and_drops_invalid_transactions() {
    let mut h = Harness::new(10);
    let owner = h.user(1).clone();
    let txs: Vec<_> = (0..10)
        .map(|n| {
            h.tx_nonce(
                &owner,
                n,
                1,
                TxKind::RegisterContract(RegisterContract {
                    object_name: format!("o{n}"),
                    size_bytes: 1,
                    duration_epochs: 1,
                    total_amount: 1,
                    replicas: 1,
                    pdp_metadata: vec![n as u8; 10_000],
                    pdp_digest: Hash::digest(b"t"),
                }),
            )
        })
        .collect();
    let mut candidates = vec![transfer(&h, 2, 3, u64::MAX / 2)]; // cannot pay
    candidates.extend(txs);
    let built = h.build(&candidates);
    let limit = h.state.params().max_block_bytes as usize;
    assert!(built.bytes.len() <= limit);
    assert_eq!(built.block.txs.len(), 6);
    assert_eq!(built.deferred, 4);
    assert_eq!(built.dropped.len(), 1);
    assert!(matches!(
        built.dropped[0].1,
        TxError::InsufficientFunds { .. }
    ));
    h.commit_block(&built.block);
    assert_eq!(h.state.account(&owner.public().address()).unwrap().nonce, 6);
}

#[test]
fn restart_keeps_the_last_committed_block() {
    let mut h = Harness::new(4);
    for i in 0..6 {
        h.commit(&[transfer(&h, 1, 2, 1 + i)]);
    }
    let (root, hash) = (h.state.state_root(), h.state.latest_block_hash());
    let balance = h.state.account(&h.user(2).public().address()).unwrap();
    // A block built and validated but never committed is lost in a crash.
    let pending = h.build(&[transfer(&h, 1, 2, 100)]);
    h.state
        .validate_block(&pending.bytes, pending.block.header.time_ms)
        .unwrap();
    let Harness {
        dir,
        state,
        genesis,
        keys,
    } = h;
    drop(state);
    let state = open(dir.path(), &genesis);
    assert_eq!(state.latest_height(), 6);
    assert_eq!(state.state_root(), root);
    assert_eq!(state.latest_block_hash(), hash);
    assert_eq!(
        state.account(&keys.users[2].public().address()).unwrap(),
        balance
    );
    assert_eq!(state.validators_at(7).unwrap().len(), 4);
    let mut h = Harness {
        dir,
        state,
        genesis,
        keys,
    };
    h.commit(&[transfer(&h, 1, 2, 100)]);
    assert_eq!(h.state.latest_height(), 7);

    // Another genesis cannot open this directory.
    let mut other = h.genesis.clone();
    other.chain_id = "another-chain".into();
    drop(h.state);
    assert!(matches!(
        lambda_chain::ChainState::open(h.dir.path(), &other),
        Err(ChainError::GenesisMismatch { .. })
    ));
}

/// Child side of the crash test: commits blocks with synced writes, printing
/// each height, until killed (or 10 000 blocks).
#[test]
#[ignore = "run as a child process by killed_mid_flight_restarts_at_a_committed_block"]
fn crash_child() {
    let Ok(dir) = std::env::var("LAMBDA_CHAIN_CRASH_DIR") else {
        return;
    };
    let keys = common::keys();
    let genesis = common::genesis(&keys, 4);
    let state = lambda_chain::ChainState::open(std::path::Path::new(&dir), &genesis).unwrap();
    let mut h = Harness {
        dir: tempfile::tempdir().unwrap(),
        state,
        genesis,
        keys,
    };
    for _ in 0..10_000 {
        h.commit(&[transfer(&h, 1, 2, 1), transfer(&h, 2, 3, 1)]);
        println!("height {}", h.state.latest_height());
    }
}

#[test]
fn killed_mid_flight_restarts_at_a_committed_block() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--ignored", "--nocapture"])
        .env("LAMBDA_CHAIN_CRASH_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0u64;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(h) = line.strip_prefix("height ") {
            seen = h.trim().parse().unwrap();
        }
        if seen >= 20 || Instant::now() > deadline {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-flight
    child.wait().unwrap();
    assert!(seen >= 20, "child committed only {seen} blocks");
    let keys = common::keys();
    let genesis = common::genesis(&keys, 4);
    // Opening checks the commitment against the last committed header.
    let state = open(dir.path(), &genesis);
    let height = state.latest_height();
    assert!(height >= seen, "lost committed block {seen} (at {height})");
    for hgt in 1..=height {
        let b = state.block(hgt).unwrap().unwrap();
        assert_eq!(state.header(hgt).unwrap().unwrap(), b.header);
        assert!(state.certificate(hgt).unwrap().is_some());
    }
    let mut h = Harness {
        dir,
        state,
        genesis,
        keys,
    };
    h.commit(&[transfer(&h, 1, 2, 1)]);
    assert_eq!(h.state.latest_height(), height + 1);
    assert_eq!(h.state.block(1).unwrap().unwrap().header.chain_id, CHAIN);
}

#[test]
fn random_bytes_into_validate_block_are_refused() {
    use proptest::test_runner::{Config, TestRunner};
    let h = Harness::new(10);
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let built = h.build(&[]);
    let (valid, original) = (built.bytes, built.block);
    let strategy = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        // Mutations of a valid block.
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(move |(i, b)| {
            let mut v = valid.clone();
            let p = i.index(v.len());
            v[p] ^= b.max(1);
            v
        }),
    ];
    runner
        .run(&strategy, |bytes| {
            match h.state.validate_block(&bytes, T0 + 10_000) {
                Err(ChainError::Block(_)) => Ok(()),
                // The proposer's time is free within the rules: a mutation
                // of the time alone can give another valid block.
                Ok(mut b) if b.header.time_ms != original.header.time_ms => {
                    b.header.time_ms = original.header.time_ms;
                    prop_assert_eq!(&b, &original);
                    Ok(())
                }
                other => Err(proptest::test_runner::TestCaseError::fail(format!(
                    "unexpected {other:?}"
                ))),
            }
        })
        .unwrap();
}
