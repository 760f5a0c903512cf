//! Every transaction kind's happy path and each rejection reason, executed
//! through real blocks on a RocksDB state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{CHAIN, FUNDS, Harness, key};
use lambda_chain::codec::DecodeError;
use lambda_chain::state::{NodeStatus, contract_id};
use lambda_chain::tx::kind::{
    OfflineReport, OfflineVerdict, PdpResult, Pledge, RegisterContract, Transfer, UsageEntry,
    UsageSettlement, UsageStatement,
};
use lambda_chain::tx::{Tx, TxBody, TxError, TxKind};
use lambda_chain::types::Hash;
use lambda_common::keys::{KeyError, SigningKey};

fn transfer(to: &SigningKey, amount: u64) -> TxKind {
    TxKind::Transfer(Transfer {
        to: to.public().address(),
        amount,
    })
}

fn pledge(h: &Harness, owner: &SigningKey, node: &SigningKey, stake: u64) -> TxKind {
    TxKind::Pledge(Pledge {
        node_public_key: node.public(),
        node_signature: Pledge::prove(node, CHAIN, &owner.public().address()),
        endpoint: "127.0.0.1:7200".into(),
        capacity_bytes: 1 << 30,
        bandwidth_bps: 1 << 20,
        zone: "z9".into(),
        stake,
    })
    .tap(|_| assert_eq!(h.state.chain_id(), CHAIN))
}

trait Tap: Sized {
    fn tap(self, f: impl FnOnce(&Self)) -> Self {
        f(&self);
        self
    }
}
impl<T> Tap for T {}

#[test]
fn transfer_moves_funds_and_pays_the_proposer() {
    let mut h = Harness::new(10);
    let (a, b) = (h.user(1).clone(), h.user(2).clone());
    let proposer = h.proposer();
    let tx = h.tx(&a, transfer(&b, 250));
    let hash = tx.hash();
    h.ok(tx);
    let sa = h.state.account(&a.public().address()).unwrap();
    assert_eq!((sa.balance, sa.nonce), (FUNDS - 251, 1));
    assert_eq!(
        h.state.account(&b.public().address()).unwrap().balance,
        FUNDS + 250
    );
    assert_eq!(h.state.account(&proposer).unwrap().balance, FUNDS + 1);
    assert_eq!(h.state.tx_location(&hash).unwrap(), Some((1, 0)));
}

#[test]
fn rejection_reasons_are_precise() {
    let mut h = Harness::new(10);
    let (a, b) = (h.user(1).clone(), h.user(2).clone());
    let addr = a.public().address();

    // Bad signature: b's key claims a's signature.
    let mut forged = h.tx(&a, transfer(&b, 5));
    forged.public_key = b.public();
    assert_eq!(
        h.reject(forged),
        TxError::BadSignature(KeyError::BadSignature)
    );

    // Wrong chain id.
    let other = Tx::sign(
        &a,
        &TxBody {
            chain_id: "other-chain".into(),
            nonce: 0,
            fee: 1,
            kind: transfer(&b, 5),
        },
    );
    assert!(matches!(h.reject(other), TxError::WrongChainId { got, .. } if got == "other-chain"));

    // Insufficient funds for amount + fee.
    let e = h.reject(h.tx(&a, transfer(&b, FUNDS)));
    assert_eq!(
        e,
        TxError::InsufficientFunds {
            sender: addr,
            have: FUNDS,
            need: FUNDS + 1
        }
    );

    // Fee under the minimum, zero amount.
    let e = h.reject(h.tx_nonce(&a, 0, 0, transfer(&b, 5)));
    assert_eq!(e, TxError::FeeTooLow { fee: 0, min: 1 });
    assert!(matches!(
        h.reject(h.tx(&a, transfer(&b, 0))),
        TxError::InvalidField {
            field: "transfer.amount",
            ..
        }
    ));

    // Future nonce, then a replayed one.
    let e = h.reject(h.tx_nonce(&a, 3, 1, transfer(&b, 5)));
    assert_eq!(
        e,
        TxError::FutureNonce {
            sender: addr,
            expected: 0,
            got: 3
        }
    );
    let tx = h.tx(&a, transfer(&b, 5));
    h.ok(tx.clone());
    assert_eq!(
        h.reject(tx),
        TxError::NonceReplayed {
            sender: addr,
            expected: 1,
            got: 0
        }
    );

    // Malformed bytes and oversized transactions.
    assert!(matches!(
        Tx::verify_bytes(&[0xff, 0x01], CHAIN, 1 << 20),
        Err(TxError::Malformed(DecodeError::Malformed { .. }))
    ));
    assert!(matches!(
        Tx::verify_bytes(&[0u8; 100], CHAIN, 10),
        Err(TxError::TooLarge {
            len: 100,
            limit: 10
        })
    ));
}

#[test]
fn pledge_becomes_member_at_the_next_epoch() {
    let mut h = Harness::new(5);
    let owner = h.user(1).clone();
    let node = key(9, 1);
    let id = node.public().address();
    h.ok(h.tx(&owner, pledge(&h, &owner, &node, 2_000)));
    let n = h.state.node(&id).unwrap().unwrap();
    assert_eq!(
        (n.status, n.stake, n.owner),
        (NodeStatus::Pending, 2_000, owner.public().address())
    );
    assert_eq!(
        h.state.account(&owner.public().address()).unwrap().balance,
        FUNDS - 2_001
    );
    assert!(!h.state.membership(0).unwrap().unwrap().contains(&id));
    assert!(
        h.state.membership(1).unwrap().is_none(),
        "not fixed before the boundary"
    );
    h.finish_epoch();
    assert_eq!(
        h.state.node(&id).unwrap().unwrap().status,
        NodeStatus::Member
    );
    assert!(h.state.membership(1).unwrap().unwrap().contains(&id));
    assert!(!h.state.membership(0).unwrap().unwrap().contains(&id));

    // Rejections: duplicate node, low stake, a node proof for another owner.
    assert_eq!(
        h.reject(h.tx(&owner, pledge(&h, &owner, &node, 2_000))),
        TxError::NodeExists(id)
    );
    let node2 = key(9, 2);
    assert_eq!(
        h.reject(h.tx(&owner, pledge(&h, &owner, &node2, 999))),
        TxError::StakeTooLow {
            stake: 999,
            min: 1_000
        }
    );
    let thief = h.user(2).clone();
    assert!(matches!(
        h.reject(h.tx(&thief, pledge(&h, &owner, &node2, 2_000))),
        TxError::BadNodeSignature(_)
    ));
}

#[test]
fn unpledge_leaves_at_the_boundary_and_refunds() {
    let mut h = Harness::new(5);
    let owner = h.user(0).clone();
    let id = h.keys.nodes[0].public().address();
    let stranger = h.user(1).clone();
    assert_eq!(
        h.reject(h.tx(&stranger, TxKind::Unpledge { node: id })),
        TxError::NotNodeOwner {
            node: id,
            sender: stranger.public().address()
        }
    );
    let unknown = key(9, 9).public().address();
    assert_eq!(
        h.reject(h.tx(&owner, TxKind::Unpledge { node: unknown })),
        TxError::UnknownNode(unknown)
    );
    h.ok(h.tx(&owner, TxKind::Unpledge { node: id }));
    assert_eq!(
        h.state.node(&id).unwrap().unwrap().status,
        NodeStatus::Leaving
    );
    assert!(matches!(
        h.reject(h.tx(&owner, TxKind::Unpledge { node: id })),
        TxError::NodeStatus {
            status: "leaving",
            ..
        }
    ));
    let before = h.state.account(&owner.public().address()).unwrap().balance;
    h.finish_epoch();
    let n = h.state.node(&id).unwrap().unwrap();
    assert_eq!((n.status, n.stake), (NodeStatus::Exited, 0));
    assert_eq!(
        h.state.account(&owner.public().address()).unwrap().balance,
        before + 5_000
    );
    assert!(h.state.membership(0).unwrap().unwrap().contains(&id));
    assert!(!h.state.membership(1).unwrap().unwrap().contains(&id));
}

#[test]
fn offline_reports_and_verdicts() {
    let mut h = Harness::new(5);
    let nodes = h.keys.nodes.clone();
    let target = nodes[1].public().address();
    let report = |epoch| {
        TxKind::OfflineReport(OfflineReport {
            node: target,
            epoch,
        })
    };
    h.ok(h.tx(&nodes[0], report(0)));
    assert_eq!(
        h.state
            .offline_reports(&target, 0)
            .unwrap()
            .unwrap()
            .reporters,
        vec![nodes[0].public().address()]
    );
    assert!(matches!(
        h.reject(h.tx(&nodes[0], report(0))),
        TxError::Duplicate(_)
    ));
    assert!(matches!(
        h.reject(h.tx(&nodes[2], report(3))),
        TxError::WrongEpoch { given: 3, .. }
    ));
    let user = h.user(1).clone();
    assert!(matches!(
        h.reject(h.tx(&user, report(0))),
        TxError::NotMember {
            role: "reporter",
            ..
        }
    ));
    assert!(matches!(
        h.reject(h.tx(&nodes[1], report(0))),
        TxError::InvalidField { .. }
    ));

    let verdict = TxKind::OfflineVerdict(OfflineVerdict {
        node: target,
        epoch: 0,
    });
    assert_eq!(
        h.reject(h.tx(&user, verdict.clone())),
        TxError::NotValidator(user.public().address())
    );
    let vals = h.keys.validators.clone();
    h.ok(h.tx(&vals[0], verdict.clone()));
    assert!(matches!(
        h.reject(h.tx(&vals[0], verdict.clone())),
        TxError::Duplicate(_)
    ));
    h.ok(h.tx(&vals[1], verdict.clone()));
    // 200 of 400: not yet more than two thirds.
    assert_eq!(
        h.state.node(&target).unwrap().unwrap().status,
        NodeStatus::Member
    );
    h.ok(h.tx(&vals[2], verdict.clone()));
    let n = h.state.node(&target).unwrap().unwrap();
    assert_eq!((n.status, n.stake), (NodeStatus::Offline, 5_000 - 250));
    assert!(h.state.offline_votes(&target, 0).unwrap().unwrap().decided);
    assert!(matches!(
        h.reject(h.tx(&vals[3], verdict)),
        TxError::Duplicate(_)
    ));
    // Still a member of this epoch; out of the next.
    assert!(h.state.membership(0).unwrap().unwrap().contains(&target));
    h.finish_epoch();
    assert!(!h.state.membership(1).unwrap().unwrap().contains(&target));
}

fn statement(epoch: u64, entries: &[(&SigningKey, u64, u64)]) -> UsageStatement {
    UsageStatement {
        chain_id: CHAIN.into(),
        epoch,
        entries: entries
            .iter()
            .map(|(n, requests, bytes)| UsageEntry {
                node: n.public().address(),
                requests: *requests,
                bytes: *bytes,
            })
            .collect(),
    }
}

#[test]
fn usage_settlement_moves_funds_from_client_to_node_owners() {
    let mut h = Harness::new(5);
    let nodes = h.keys.nodes.clone();
    let client = h.user(2).clone();
    let owner = h.user(0).public().address();
    let st = statement(0, &[(&nodes[1], 10, 1 << 20), (&nodes[2], 5, 0)]);
    let settle =
        |st: UsageStatement| TxKind::UsageSettlement(UsageSettlement::new_signed(&client, st));
    assert!(matches!(
        h.reject(h.tx(&nodes[0], settle(st.clone()))),
        TxError::WrongEpoch {
            given: 0,
            current: 0,
            ..
        }
    ));
    h.finish_epoch();
    let owner_before = h.state.account(&owner).unwrap().balance;
    h.ok(h.tx(&nodes[0], settle(st.clone())));
    // 10 × 2 + 1 MiB × 1024/MiB = 1044 for node 1; 5 × 2 = 10 for node 2.
    let c = client.public().address();
    assert_eq!(h.state.account(&c).unwrap().balance, FUNDS - 1_054);
    assert_eq!(
        h.state.account(&owner).unwrap().balance,
        owner_before + 1_054
    );
    assert_eq!(
        h.state.usage_settlement(&c, 0).unwrap().unwrap().total,
        1_054
    );
    assert!(matches!(
        h.reject(h.tx(&nodes[1], settle(st.clone()))),
        TxError::Duplicate(_)
    ));
    let rec = h.state.usage_settlement(&c, 0).unwrap().unwrap();
    assert_eq!((rec.requests(), rec.settlements), (15, 1));

    // Rejections.
    let user = h.user(3).clone();
    assert!(matches!(
        h.reject(h.tx(&user, settle(statement(0, &[(&nodes[1], 1, 0)])))),
        TxError::NotMember {
            role: "coordinator",
            ..
        }
    ));
    let stranger = key(9, 4);
    let other_client = h.user(1).clone();
    let bad = TxKind::UsageSettlement(UsageSettlement::new_signed(
        &other_client,
        statement(0, &[(&stranger, 1, 0)]),
    ));
    assert!(matches!(
        h.reject(h.tx(&nodes[0], bad)),
        TxError::NotMember {
            role: "serving node",
            ..
        }
    ));
    let mut forged = UsageSettlement::new_signed(&other_client, statement(0, &[(&nodes[1], 1, 0)]));
    forged.client_public_key = user.public();
    assert!(matches!(
        h.reject(h.tx(&nodes[0], TxKind::UsageSettlement(forged))),
        TxError::BadClientSignature(_)
    ));
    let poor = key(9, 5);
    let big = TxKind::UsageSettlement(UsageSettlement::new_signed(
        &poor,
        statement(0, &[(&nodes[1], 1, 0)]),
    ));
    assert_eq!(
        h.reject(h.tx(&nodes[0], big)),
        TxError::ClientInsufficientFunds {
            client: poor.public().address(),
            have: 0,
            need: 2
        }
    );
}

/// A later statement that dominates the settled one replaces it and is
/// charged only the difference, per node; one that does not is stale.
#[test]
fn a_dominating_statement_is_charged_the_difference() {
    let mut h = Harness::new(5);
    let nodes = h.keys.nodes.clone();
    let client = h.user(2).clone();
    let c = client.public().address();
    let settle =
        |st: UsageStatement| TxKind::UsageSettlement(UsageSettlement::new_signed(&client, st));
    h.finish_epoch();
    let owner = h.user(0).public().address();
    let owner_before = h.state.account(&owner).unwrap().balance;
    // Node 1 settles the receipt it holds: 4 requests at node 1.
    h.ok(h.tx(&nodes[1], settle(statement(0, &[(&nodes[1], 4, 0)]))));
    assert_eq!(h.state.account(&c).unwrap().balance, FUNDS - 8);
    // Node 2 holds the client's final statement: 6 at node 1, 3 at node 2.
    let last = statement(0, &[(&nodes[1], 6, 0), (&nodes[2], 3, 0)]);
    h.ok(h.tx(&nodes[2], settle(last.clone())));
    // 9 requests × 2 in all: only the 5 new ones were charged now.
    assert_eq!(h.state.account(&c).unwrap().balance, FUNDS - 18);
    assert_eq!(h.state.account(&owner).unwrap().balance, owner_before + 18);
    let rec = h.state.usage_settlement(&c, 0).unwrap().unwrap();
    assert_eq!((rec.total, rec.requests(), rec.settlements), (18, 9, 2));
    // Node 1's older receipt (or any statement that falls short anywhere) is stale.
    for stale in [
        statement(0, &[(&nodes[1], 4, 0)]),
        statement(0, &[(&nodes[1], 7, 0)]),
        statement(0, &[(&nodes[1], 5, 0), (&nodes[2], 9, 0)]),
    ] {
        assert!(matches!(
            h.reject(h.tx(&nodes[1], settle(stale))),
            TxError::StaleUsage { epoch: 0, .. }
        ));
    }
    assert!(matches!(
        h.reject(h.tx(&nodes[1], settle(last))),
        TxError::Duplicate(_)
    ));
    // Bytes alone may grow too.
    h.ok(h.tx(
        &nodes[1],
        settle(statement(0, &[(&nodes[1], 6, 1 << 20), (&nodes[2], 3, 0)])),
    ));
    assert_eq!(h.state.account(&c).unwrap().balance, FUNDS - 18 - 1_024);
}

#[test]
fn contracts_pay_per_passed_audit_and_failures_slash() {
    let mut h = Harness::new(4);
    let owner = h.user(3).clone();
    let o = owner.public().address();
    let reg = TxKind::RegisterContract(RegisterContract {
        object_name: "series/cpu/0001".into(),
        size_bytes: 4096,
        duration_epochs: 2,
        total_amount: 1_200,
        replicas: 3,
        pdp_metadata: vec![1, 2, 3],
        pdp_digest: Hash::digest(b"tags"),
    });
    let nonce = h.state.account(&o).unwrap().nonce;
    h.ok(h.tx(&owner, reg));
    let id = contract_id(&o, nonce);
    let c = h.state.contract(&id).unwrap().unwrap();
    assert_eq!(
        (c.start_epoch, c.end_epoch(), c.total_amount),
        (1, 2, 1_200)
    );
    assert_eq!(h.state.account(&o).unwrap().balance, FUNDS - 1_201);

    let v = h.keys.validators[0].clone();
    let node = h.keys.nodes[1].public().address();
    let result = |epoch, passed, node| {
        TxKind::PdpResult(PdpResult {
            contract: id,
            node,
            epoch,
            passed,
            proof: vec![7; 8],
        })
    };
    // Epoch 0 is not covered yet.
    assert!(matches!(
        h.reject(h.tx(&v, result(0, true, node))),
        TxError::Contract { .. }
    ));
    let user = h.user(1).clone();
    assert!(matches!(
        h.reject(h.tx(&user, result(0, true, node))),
        TxError::NotValidator(_)
    ));
    let unknown = Hash::digest(b"nope");
    assert_eq!(
        h.reject(h.tx(
            &v,
            TxKind::PdpResult(PdpResult {
                contract: unknown,
                node,
                epoch: 0,
                passed: true,
                proof: vec![]
            })
        )),
        TxError::UnknownContract(unknown)
    );
    h.finish_epoch();

    // A pass pays total × 1 × size / (duration × size) / replicas = 200.
    let owner0 = h.user(0).public().address();
    let before = h.state.account(&owner0).unwrap().balance;
    h.ok(h.tx(&v, result(1, true, node)));
    assert_eq!(h.state.account(&owner0).unwrap().balance, before + 200);
    assert!(matches!(
        h.reject(h.tx(&v, result(1, true, node))),
        TxError::Duplicate(_)
    ));
    // A failure burns 10 % of the node's stake.
    let failing = h.keys.nodes[2].public().address();
    h.ok(h.tx(&v, result(1, false, failing)));
    assert_eq!(h.state.node(&failing).unwrap().unwrap().stake, 4_500);
    let results = h.state.pdp_results(&failing).unwrap();
    assert_eq!(results.len(), 1);
    assert!(!results[0].passed && results[0].slashed == 500);
    // A non-member cannot be audited.
    let stranger = key(9, 7).public().address();
    assert!(matches!(
        h.reject(h.tx(&v, result(1, true, stranger))),
        TxError::NotMember {
            role: "audited node",
            ..
        }
    ));
    // At most `replicas` results per epoch.
    h.ok(h.tx(&v, result(1, true, h.keys.nodes[0].public().address())));
    let v1 = h.keys.validators[1].clone();
    let e = h.reject(h.tx(&v1, result(1, true, node)));
    assert!(matches!(e, TxError::Duplicate(_)), "{e}");

    // After epochs 1 and 2 and the grace epoch 3, the rest is refunded.
    h.finish_epoch();
    h.finish_epoch();
    let before = h.state.account(&o).unwrap().balance;
    h.finish_epoch();
    let c = h.state.contract(&id).unwrap().unwrap();
    assert_eq!(c.status, lambda_chain::state::ContractStatus::Expired);
    assert_eq!(h.state.account(&o).unwrap().balance, before + 1_200 - 400);
}
