//! The mempool: admission rules, bounds, per-sender nonce order, reaping by
//! fee then nonce, and re-checking after a commit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{FUNDS, Harness};
use lambda_chain::mempool::{Mempool, MempoolConfig, MempoolError};
use lambda_chain::tx::kind::Transfer;
use lambda_chain::tx::{Tx, TxError, TxKind};

fn pay(h: &Harness, from: usize, nonce: u64, fee: u64, amount: u64) -> Tx {
    h.tx_nonce(
        h.user(from),
        nonce,
        fee,
        TxKind::Transfer(Transfer {
            to: h.user(3).public().address(),
            amount,
        }),
    )
}

#[test]
fn admission_rules() {
    let mut h = Harness::new(10);
    let mut pool = Mempool::new(MempoolConfig::default());
    let a = h.user(1).public().address();
    let t0 = pay(&h, 1, 0, 1, 10);
    let hash = pool.insert(t0.clone(), &h.state).unwrap();
    assert!(pool.contains(&hash));
    assert_eq!(
        pool.insert(t0, &h.state),
        Err(MempoolError::Duplicate(hash))
    );
    assert_eq!(
        pool.insert(pay(&h, 1, 0, 2, 10), &h.state),
        Err(MempoolError::NonceTaken {
            sender: a,
            nonce: 0
        })
    );
    pool.insert(pay(&h, 1, 1, 1, 10), &h.state).unwrap();
    assert_eq!(
        pool.insert(pay(&h, 1, 5, 1, 10), &h.state),
        Err(MempoolError::Rejected(TxError::FutureNonce {
            sender: a,
            expected: 2,
            got: 5
        }))
    );
    // Funds are counted over the pending transactions: 22 are pending.
    assert_eq!(
        pool.insert(pay(&h, 1, 2, 1, FUNDS - 22), &h.state),
        Err(MempoolError::Rejected(TxError::InsufficientFunds {
            sender: a,
            have: FUNDS,
            need: FUNDS + 1
        }))
    );
    pool.insert(pay(&h, 1, 2, 1, FUNDS - 23), &h.state).unwrap();
    // The first transaction of a sender is checked in full.
    let mut forged = pay(&h, 2, 0, 1, 10);
    forged.public_key = h.user(1).public();
    assert!(matches!(
        pool.insert(forged, &h.state),
        Err(MempoolError::Rejected(TxError::BadSignature(_)))
    ));
    assert_eq!(pool.len(), 3);
    // After a commit of the first two, they are replays.
    let reaped = pool.reap(2, usize::MAX);
    h.commit(&reaped);
    assert_eq!(pool.recheck(&h.state).unwrap(), 2);
    assert_eq!(pool.len(), 1);
    assert_eq!(
        pool.insert(pay(&h, 1, 0, 1, 10), &h.state),
        Err(MempoolError::Rejected(TxError::NonceReplayed {
            sender: a,
            expected: 2,
            got: 0
        }))
    );
}

#[test]
fn bounded_by_count_and_bytes() {
    let h = Harness::new(10);
    let mut pool = Mempool::new(MempoolConfig {
        max_txs: 2,
        max_bytes: 1 << 20,
    });
    pool.insert(pay(&h, 0, 0, 1, 1), &h.state).unwrap();
    pool.insert(pay(&h, 1, 0, 1, 1), &h.state).unwrap();
    assert!(matches!(
        pool.insert(pay(&h, 2, 0, 1, 1), &h.state),
        Err(MempoolError::Full { txs: 2, .. })
    ));
    let one = pay(&h, 0, 0, 1, 1).encode().len();
    let mut small = Mempool::new(MempoolConfig {
        max_txs: 100,
        max_bytes: one + one / 2,
    });
    small.insert(pay(&h, 0, 0, 1, 1), &h.state).unwrap();
    assert!(matches!(
        small.insert(pay(&h, 1, 0, 1, 1), &h.state),
        Err(MempoolError::Full { txs: 1, .. })
    ));
    assert_eq!(small.bytes(), one);
}

#[test]
fn reaps_by_fee_then_nonce() {
    let h = Harness::new(10);
    let mut pool = Mempool::new(MempoolConfig::default());
    let a0 = pay(&h, 0, 0, 1, 1);
    let a1 = pay(&h, 0, 1, 10, 1);
    let b0 = pay(&h, 1, 0, 5, 1);
    let c0 = pay(&h, 2, 0, 7, 1);
    for t in [&a0, &a1, &b0, &c0] {
        pool.insert(t.clone(), &h.state).unwrap();
    }
    // Sender 0's fee-10 transaction waits behind its fee-1 one.
    assert_eq!(
        pool.reap(10, usize::MAX),
        vec![c0.clone(), b0.clone(), a0.clone(), a1.clone()]
    );
    assert_eq!(pool.reap(2, usize::MAX), vec![c0.clone(), b0.clone()]);
    let one = c0.encode().len();
    assert_eq!(pool.reap(10, one), vec![c0]);
    // Removing a transaction removes its sender's later ones.
    pool.remove(&a0.hash());
    assert_eq!(pool.len(), 2);
    assert!(!pool.contains(&a1.hash()));
}

#[test]
fn recheck_drops_what_became_invalid() {
    let mut h = Harness::new(10);
    let mut pool = Mempool::new(MempoolConfig::default());
    pool.insert(pay(&h, 1, 0, 1, FUNDS / 2), &h.state).unwrap();
    pool.insert(pay(&h, 1, 1, 1, 100), &h.state).unwrap();
    pool.insert(pay(&h, 2, 0, 1, 100), &h.state).unwrap();
    // Sender 1 spends its funds through another path (not via this pool).
    h.commit(&[pay(&h, 1, 0, 1, FUNDS - 50)]);
    assert_eq!(pool.recheck(&h.state).unwrap(), 2);
    assert_eq!(pool.len(), 1);
    let left = pool.reap(10, usize::MAX);
    assert_eq!(left[0].sender(), h.user(2).public().address());
    h.commit(&left);
    pool.recheck(&h.state).unwrap();
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
}
