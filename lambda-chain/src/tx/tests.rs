//! Transaction encoding, signing and stateless verification.

use super::kind::*;
use super::*;
use crate::types::{DoubleSignEvidence, Vote, VoteType};
use lambda_common::keys::KeyError;
use proptest::prelude::*;

const CHAIN: &str = "unit-chain";

fn key(i: u8) -> SigningKey {
    SigningKey::from_seed([i; 32])
}

fn every_kind() -> Vec<TxKind> {
    let node = key(5);
    let owner = key(1).public().address();
    let vote = |b: &[u8]| {
        Vote::new_signed(
            &key(6),
            CHAIN,
            VoteType::Precommit,
            3,
            1,
            Some(Hash::digest(b)),
        )
    };
    vec![
        TxKind::Transfer(Transfer {
            to: key(2).public().address(),
            amount: 9,
        }),
        TxKind::Pledge(Pledge {
            node_public_key: node.public(),
            node_signature: Pledge::prove(&node, CHAIN, &owner),
            endpoint: "10.0.0.1:7000".into(),
            capacity_bytes: 10,
            bandwidth_bps: 20,
            zone: "a".into(),
            stake: 30,
        }),
        TxKind::Unpledge {
            node: node.public().address(),
        },
        TxKind::OfflineReport(OfflineReport {
            node: node.public().address(),
            epoch: 4,
        }),
        TxKind::OfflineVerdict(OfflineVerdict {
            node: node.public().address(),
            epoch: 4,
        }),
        TxKind::UsageSettlement(UsageSettlement::new_signed(
            &key(7),
            UsageStatement {
                chain_id: CHAIN.into(),
                epoch: 2,
                entries: vec![UsageEntry {
                    node: node.public().address(),
                    requests: 5,
                    bytes: 6,
                }],
            },
        )),
        TxKind::RegisterContract(RegisterContract {
            object_name: "obj".into(),
            size_bytes: 1,
            duration_epochs: 2,
            total_amount: 3,
            replicas: 3,
            pdp_metadata: vec![1],
            pdp_digest: Hash::digest(b"t"),
        }),
        TxKind::PdpResult(PdpResult {
            contract: Hash::digest(b"c"),
            node: node.public().address(),
            epoch: 1,
            passed: false,
            proof: vec![2; 4],
        }),
        TxKind::SlashDoubleSign(DoubleSignEvidence {
            a: vote(b"a"),
            b: vote(b"b"),
        }),
    ]
}

fn signed(kind: TxKind) -> Tx {
    Tx::sign(
        &key(1),
        &TxBody {
            chain_id: CHAIN.into(),
            nonce: 7,
            fee: 2,
            kind,
        },
    )
}

#[test]
fn every_kind_round_trips_and_verifies() {
    for kind in every_kind() {
        let name = kind.name();
        let tx = signed(kind.clone());
        let bytes = tx.encode();
        assert_eq!(Tx::decode(&bytes, 1 << 20).unwrap(), tx, "{name}");
        let v = Tx::verify_bytes(&bytes, CHAIN, 1 << 20).unwrap();
        assert_eq!(v.body.kind, kind, "{name}");
        assert_eq!(v.sender, key(1).public().address());
        assert_eq!(v.hash, tx.hash());
        assert_eq!(v.cost().unwrap(), 2 + kind.spend());
    }
}

#[test]
fn stateless_rejections() {
    let tx = signed(every_kind().remove(0));
    // Tampered body: the signature no longer covers it.
    let mut body = codec::decode_body(&tx.body_bytes, 1 << 20).unwrap();
    body.fee = 1;
    let tampered = Tx {
        body_bytes: codec::encode_body(&body),
        ..tx.clone()
    };
    assert_eq!(
        tampered.verify(CHAIN, 1 << 20),
        Err(TxError::BadSignature(KeyError::BadSignature))
    );
    // Another chain.
    assert!(matches!(
        tx.verify("other", 1 << 20),
        Err(TxError::WrongChainId { .. })
    ));
    // Not canonical: an unknown field appended to the envelope.
    let mut bytes = tx.encode();
    bytes.extend_from_slice(&[0x78, 0x01]);
    assert_eq!(
        Tx::verify_bytes(&bytes, CHAIN, 1 << 20),
        Err(TxError::Malformed(DecodeError::NonCanonical("transaction")))
    );
    // A body without a kind.
    let empty = Tx {
        body_bytes: vec![],
        ..tx.clone()
    };
    assert_eq!(
        Tx::verify_bytes(&empty.encode(), CHAIN, 1 << 20),
        Err(TxError::Malformed(DecodeError::Missing("tx_body.kind")))
    );
    // A usage statement with a node twice.
    let mut kinds = every_kind();
    let TxKind::UsageSettlement(mut u) = kinds.remove(5) else {
        panic!("kind order changed");
    };
    u.statement.entries.push(u.statement.entries[0].clone());
    let twice = UsageSettlement::new_signed(&key(7), u.statement);
    assert!(matches!(
        signed(TxKind::UsageSettlement(twice)).verify(CHAIN, 1 << 20),
        Err(TxError::InvalidField {
            field: "usage.statement.entries",
            ..
        })
    ));
    // Contract fields.
    let mut c = RegisterContract {
        object_name: String::new(),
        size_bytes: 1,
        duration_epochs: 1,
        total_amount: 1,
        replicas: 1,
        pdp_metadata: vec![],
        pdp_digest: Hash::default(),
    };
    assert!(matches!(
        signed(TxKind::RegisterContract(c.clone())).verify(CHAIN, 1 << 20),
        Err(TxError::InvalidField {
            field: "contract.object_name",
            ..
        })
    ));
    c.object_name = "x".into();
    c.replicas = 99;
    assert!(matches!(
        signed(TxKind::RegisterContract(c)).verify(CHAIN, 1 << 20),
        Err(TxError::InvalidField {
            field: "contract.replicas",
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_into_every_decoder(b in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert!(Tx::verify_bytes(&b, CHAIN, 1 << 20).is_err() || Tx::decode(&b, 1 << 20).is_ok());
        let _ = codec::decode_body(&b, 1 << 20);
        let _ = codec::decode_statement(&b, 1 << 20);
    }

    #[test]
    fn mutated_transactions_never_panic(i in 0usize..9, pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = signed(every_kind().swap_remove(i)).encode();
        let p = pos.index(bytes.len());
        bytes[p] = byte;
        if let Ok(v) = Tx::verify_bytes(&bytes, CHAIN, 1 << 20) {
            // Only a no-op mutation can still verify.
            prop_assert_eq!(v.hash, signed(every_kind().swap_remove(i)).hash());
        }
    }
}

fn usage_statement(entries: &[(u8, u64, u64)]) -> UsageStatement {
    UsageStatement {
        chain_id: CHAIN.into(),
        epoch: 0,
        entries: entries
            .iter()
            .map(|&(n, requests, bytes)| UsageEntry {
                node: key(n).public().address(),
                requests,
                bytes,
            })
            .collect(),
    }
}

fn entries_strategy() -> impl Strategy<Value = Vec<(u8, u64, u64)>> {
    proptest::collection::btree_map(0u8..6, (0u64..50, 0u64..(4 << 20)), 1..5)
        .prop_map(|m| m.into_iter().map(|(n, (r, b))| (n, r, b)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Dominance is exactly entry-wise ≥ over the settled statement's nodes,
    /// and a dominating statement's price never falls: what the chain
    /// charges for it (the per-node price differences) adds up to the
    /// difference of the two prices.
    #[test]
    fn dominance_is_entrywise_and_prices_grow(a in entries_strategy(), b in entries_strategy()) {
        let (a, b) = (usage_statement(&a), usage_statement(&b));
        let entrywise = a.entries.iter().all(|x| {
            b.entries
                .iter()
                .any(|y| y.node == x.node && y.requests >= x.requests && y.bytes >= x.bytes)
        });
        prop_assert_eq!(b.shortfall_against(&a.entries).is_none(), entrywise);
        prop_assert!(a.shortfall_against(&a.entries).is_none());
        if entrywise {
            let (pa, pb) = (a.price(3, 1_000).unwrap(), b.price(3, 1_000).unwrap());
            prop_assert!(pb >= pa);
            let diffs: u64 = b
                .entries
                .iter()
                .map(|y| {
                    let before = a
                        .entries
                        .iter()
                        .find(|x| x.node == y.node)
                        .map_or(0, |x| x.price(3, 1_000).unwrap());
                    y.price(3, 1_000).unwrap() - before
                })
                .sum();
            prop_assert_eq!(diffs, pb - pa);
        }
    }
}
