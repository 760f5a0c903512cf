//! Epoch boundaries: membership and the validator set change only at the
//! last block of an epoch; a fisherman's evidence slashes a double signer,
//! rewards the fisherman and removes the signer at the next boundary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{CHAIN, FUNDS, Harness, key};
use lambda_chain::state::{NodeStatus, ValidatorStatus};
use lambda_chain::tx::kind::{OfflineVerdict, Pledge};
use lambda_chain::tx::{TxError, TxKind};
use lambda_chain::types::{DoubleSignEvidence, Hash, TypesError, Vote, VoteType};

fn evidence(h: &Harness, who: usize, height: u64) -> DoubleSignEvidence {
    let k = &h.keys.validators[who];
    let vote = |b: &[u8]| {
        Vote::new_signed(
            k,
            CHAIN,
            VoteType::Prevote,
            height,
            0,
            Some(Hash::digest(b)),
        )
    };
    DoubleSignEvidence {
        a: vote(b"one"),
        b: vote(b"two"),
    }
}

#[test]
fn fisherman_slashes_the_double_signer_and_is_rewarded() {
    let mut h = Harness::new(6);
    h.commit(&[]);
    h.commit(&[]);
    let culprit = h.keys.validators[3].public().address();
    let fisherman = h.user(1).clone();
    let f = fisherman.public().address();

    // Evidence that proves nothing, or from the future, is refused.
    let mut same = evidence(&h, 3, 1);
    same.b = same.a.clone();
    assert!(matches!(
        h.reject(h.tx(&fisherman, TxKind::SlashDoubleSign(same))),
        TxError::InvalidEvidence(TypesError::NotConflicting(_))
    ));
    assert!(matches!(
        h.reject(h.tx(&fisherman, TxKind::SlashDoubleSign(evidence(&h, 3, 9)))),
        TxError::EvidenceOutOfWindow { height: 9, .. }
    ));
    let mut forged = evidence(&h, 3, 1);
    forged.b.signature = h.keys.validators[2].sign(b"x");
    assert!(matches!(
        h.reject(h.tx(&fisherman, TxKind::SlashDoubleSign(forged))),
        TxError::InvalidEvidence(TypesError::BadSignature { .. })
    ));

    // The double signer cannot collect the reward itself.
    let me = h.keys.validators[3].clone();
    assert!(matches!(
        h.reject(h.tx(&me, TxKind::SlashDoubleSign(evidence(&h, 3, 1)))),
        TxError::InvalidField {
            field: "slash_double_sign",
            ..
        }
    ));

    h.ok(h.tx(&fisherman, TxKind::SlashDoubleSign(evidence(&h, 3, 1))));
    let rec = h.state.validator(&culprit).unwrap().unwrap();
    assert_eq!((rec.stake, rec.status), (50, ValidatorStatus::Removed));
    // 20 % of the 50 slashed, minus the fee.
    assert_eq!(h.state.account(&f).unwrap().balance, FUNDS + 10 - 1);
    let ev = h.state.evidence(&culprit, 1).unwrap().unwrap();
    assert_eq!((ev.slashed, ev.reward, ev.fisherman), (50, 10, f));
    assert_eq!(
        h.reject(h.tx(&fisherman, TxKind::SlashDoubleSign(evidence(&h, 3, 2)))),
        TxError::AlreadySlashed(culprit)
    );

    // The set of this epoch keeps the culprit until the boundary.
    let start = h.state.latest_height();
    h.finish_epoch();
    let end = h.state.latest_height();
    for height in 1..=end {
        let set = h.state.validators_at(height).unwrap();
        assert_eq!(set.len(), 4, "height {height}");
        assert!(set.get(&culprit).is_some());
        let header = h.state.header(height).unwrap().unwrap();
        assert_eq!(header.validators_digest, set.digest());
    }
    assert!(start < end);
    let next = h.state.validators_at(end + 1).unwrap();
    assert_eq!(next.len(), 3);
    assert!(next.get(&culprit).is_none());
    // The chain goes on with three validators.
    h.commit(&[]);
    assert_eq!(
        h.state.header(end + 1).unwrap().unwrap().validators_digest,
        next.digest()
    );
}

#[test]
fn membership_changes_only_at_epoch_boundaries() {
    let mut h = Harness::new(5);
    let initial = h.state.membership(0).unwrap().unwrap();
    assert_eq!(initial.members.len(), 3);
    let owner = h.user(1).clone();
    let new_node = key(9, 1);
    let pledge = TxKind::Pledge(Pledge {
        node_public_key: new_node.public(),
        node_signature: Pledge::prove(&new_node, CHAIN, &owner.public().address()),
        endpoint: "127.0.0.1:7300".into(),
        capacity_bytes: 1 << 30,
        bandwidth_bps: 1 << 20,
        zone: "z4".into(),
        stake: 1_000,
    });
    let leaving = h.keys.nodes[0].public().address();
    let offline = h.keys.nodes[1].public().address();
    let verdict = TxKind::OfflineVerdict(OfflineVerdict {
        node: offline,
        epoch: 0,
    });
    let vals = h.keys.validators.clone();
    let txs = vec![
        h.tx(&owner, pledge),
        h.tx(h.user(0), TxKind::Unpledge { node: leaving }),
        h.tx(&vals[0], verdict.clone()),
        h.tx(&vals[1], verdict.clone()),
        h.tx(&vals[2], verdict),
    ];
    for (i, tx) in txs.into_iter().enumerate() {
        h.ok(tx);
        let height = h.state.latest_height();
        assert!(height <= 5, "all changes land in epoch 0 (tx {i})");
        if height < 5 {
            assert_eq!(h.state.membership(0).unwrap().unwrap(), initial);
            assert!(h.state.membership(1).unwrap().is_none());
        }
    }
    assert_eq!(
        h.state.node(&offline).unwrap().unwrap().status,
        NodeStatus::Offline
    );
    assert_eq!(
        h.state.latest_height(),
        5,
        "the last change was the epoch's last block"
    );
    assert_eq!(
        h.state.membership(0).unwrap().unwrap(),
        initial,
        "kept forever"
    );
    let next = h.state.membership(1).unwrap().unwrap();
    let ids: Vec<_> = next.members.iter().map(|m| m.id).collect();
    let mut expected = vec![
        h.keys.nodes[2].public().address(),
        new_node.public().address(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    // Nothing changes during epoch 1.
    for _ in 0..4 {
        h.commit(&[]);
        assert_eq!(h.state.membership(1).unwrap().unwrap(), next);
        assert!(h.state.membership(2).unwrap().is_none());
    }
    h.commit(&[]);
    assert_eq!(
        h.state.membership(2).unwrap().unwrap().members,
        next.members
    );
}

#[test]
fn challenge_seeds_come_from_the_certificate_opening_each_epoch() {
    let mut h = Harness::new(3);
    assert_eq!(
        h.state.challenge_seed(0).unwrap(),
        Some(h.state.genesis_hash())
    );
    h.finish_epoch();
    assert_eq!(
        h.state.challenge_seed(1).unwrap(),
        None,
        "not committed yet"
    );
    h.commit(&[]);
    let first = h.state.block(4).unwrap().unwrap();
    let cert = first.last_commit.unwrap();
    assert_eq!(cert.height, 3);
    assert_eq!(h.state.challenge_seed(1).unwrap(), Some(cert.digest()));
}
