//! Determinism: state instances fed the same blocks reach identical state
//! roots, over random sequences of valid and invalid transactions of every
//! kind, across epoch boundaries and a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeMap;

use common::{CHAIN, Harness, key, open};
use lambda_chain::state::contract_id;
use lambda_chain::tx::kind::{
    OfflineReport, OfflineVerdict, PdpResult, Pledge, RegisterContract, Transfer, UsageEntry,
    UsageSettlement, UsageStatement,
};
use lambda_chain::tx::{Tx, TxKind};
use lambda_chain::types::Hash;
use lambda_common::keys::{Address, SigningKey};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    Pledge {
        owner: usize,
        node: u8,
        stake: u64,
    },
    Unpledge {
        owner: usize,
        node: u8,
    },
    Report {
        from: usize,
        to: usize,
        epoch: u64,
    },
    Verdict {
        validator: usize,
        node: usize,
    },
    Usage {
        coordinator: usize,
        client: usize,
        epoch: u64,
        requests: u64,
    },
    Contract {
        owner: usize,
        total: u64,
    },
    Pdp {
        validator: usize,
        contract: usize,
        node: usize,
        passed: bool,
    },
    Garbage(Vec<u8>),
    EndBlock,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 0..4usize, 0..400_000u64).prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        2 => (0..4usize, 0..3u8, 500..3_000u64).prop_map(|(owner, node, stake)| Op::Pledge { owner, node, stake }),
        1 => (0..4usize, 0..3u8).prop_map(|(owner, node)| Op::Unpledge { owner, node }),
        1 => (0..3usize, 0..3usize, 0..3u64).prop_map(|(from, to, epoch)| Op::Report { from, to, epoch }),
        2 => (0..4usize, 0..3usize).prop_map(|(validator, node)| Op::Verdict { validator, node }),
        1 => (0..3usize, 0..4usize, 0..3u64, 0..500u64).prop_map(|(coordinator, client, epoch, requests)| Op::Usage { coordinator, client, epoch, requests }),
        1 => (0..4usize, 1..5_000u64).prop_map(|(owner, total)| Op::Contract { owner, total }),
        2 => (0..4usize, 0..4usize, 0..3usize, any::<bool>()).prop_map(|(validator, contract, node, passed)| Op::Pdp { validator, contract, node, passed }),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Op::Garbage),
        3 => Just(Op::EndBlock),
    ]
}

struct Gen<'a> {
    h: &'a Harness,
    nonces: BTreeMap<Address, u64>,
    contracts: Vec<Hash>,
}

impl Gen<'_> {
    fn tx(&mut self, from: &SigningKey, kind: TxKind) -> Vec<u8> {
        let a = from.public().address();
        let n = *self
            .nonces
            .entry(a)
            .or_insert_with(|| self.h.state.account(&a).unwrap().nonce);
        self.nonces.insert(a, n + 1);
        self.h.tx_nonce(from, n, 1, kind).encode()
    }

    fn make(&mut self, op: &Op) -> Option<Vec<u8>> {
        let k = &self.h.keys;
        let (users, nodes, vals) = (k.users.clone(), k.nodes.clone(), k.validators.clone());
        let epoch = self.h.epoch();
        Some(match op {
            Op::Transfer { from, to, amount } => self.tx(
                &users[*from],
                TxKind::Transfer(Transfer {
                    to: users[*to].public().address(),
                    amount: *amount,
                }),
            ),
            Op::Pledge { owner, node, stake } => {
                let nk = key(7, *node);
                let o = users[*owner].public().address();
                self.tx(
                    &users[*owner],
                    TxKind::Pledge(Pledge {
                        node_public_key: nk.public(),
                        node_signature: Pledge::prove(&nk, CHAIN, &o),
                        endpoint: "127.0.0.1:1".into(),
                        capacity_bytes: 1 + u64::from(*node),
                        bandwidth_bps: 10,
                        zone: "z".into(),
                        stake: *stake,
                    }),
                )
            }
            Op::Unpledge { owner, node } => self.tx(
                &users[*owner],
                TxKind::Unpledge {
                    node: key(7, *node).public().address(),
                },
            ),
            Op::Report { from, to, epoch } => self.tx(
                &nodes[*from],
                TxKind::OfflineReport(OfflineReport {
                    node: nodes[*to].public().address(),
                    epoch: *epoch,
                }),
            ),
            Op::Verdict { validator, node } => self.tx(
                &vals[*validator],
                TxKind::OfflineVerdict(OfflineVerdict {
                    node: nodes[*node].public().address(),
                    epoch,
                }),
            ),
            _ => return self.make_billing(op),
        })
    }

    fn make_billing(&mut self, op: &Op) -> Option<Vec<u8>> {
        let k = &self.h.keys;
        let (users, nodes, vals) = (k.users.clone(), k.nodes.clone(), k.validators.clone());
        let epoch = self.h.epoch();
        Some(match op {
            Op::Usage {
                coordinator,
                client,
                epoch,
                requests,
            } => {
                let st = UsageStatement {
                    chain_id: CHAIN.into(),
                    epoch: *epoch,
                    entries: vec![UsageEntry {
                        node: nodes[0].public().address(),
                        requests: *requests,
                        bytes: 4096,
                    }],
                };
                self.tx(
                    &nodes[*coordinator],
                    TxKind::UsageSettlement(UsageSettlement::new_signed(&users[*client], st)),
                )
            }
            Op::Contract { owner, total } => {
                let o = &users[*owner];
                let a = o.public().address();
                let n = self
                    .nonces
                    .get(&a)
                    .copied()
                    .unwrap_or(self.h.state.account(&a).unwrap().nonce);
                self.contracts.push(contract_id(&a, n));
                self.tx(
                    o,
                    TxKind::RegisterContract(RegisterContract {
                        object_name: "o".into(),
                        size_bytes: 100,
                        duration_epochs: 2,
                        total_amount: *total,
                        replicas: 2,
                        pdp_metadata: vec![],
                        pdp_digest: Hash::default(),
                    }),
                )
            }
            Op::Pdp {
                validator,
                contract,
                node,
                passed,
            } => {
                let c = self.contracts.get(*contract).copied().unwrap_or_default();
                self.tx(
                    &vals[*validator],
                    TxKind::PdpResult(PdpResult {
                        contract: c,
                        node: nodes[*node].public().address(),
                        epoch,
                        passed: *passed,
                        proof: vec![],
                    }),
                )
            }
            Op::Garbage(b) => b.clone(),
            _ => return None,
        })
    }
}

fn decode_all(bytes: &[Vec<u8>]) -> Vec<Tx> {
    bytes
        .iter()
        .filter_map(|b| Tx::decode(b, 1 << 20).ok())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn replicas_fed_the_same_blocks_have_the_same_roots(ops in proptest::collection::vec(op(), 1..60)) {
        let mut a = Harness::new(3);
        let b_dir = tempfile::tempdir().unwrap();
        let mut b = Some(open(b_dir.path(), &a.genesis));
        let mut gen_contracts = Vec::new();
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut blocks = 0;
        let mut ops = ops;
        ops.push(Op::EndBlock);
        for op in &ops {
            let mut g = Gen { h: &a, nonces: BTreeMap::new(), contracts: std::mem::take(&mut gen_contracts) };
            // Nonces continue from what this block already holds.
            for t in decode_all(&pending) {
                let s = t.sender();
                let n = a.state.account(&s).unwrap().nonce;
                let e = g.nonces.entry(s).or_insert(n);
                *e += 1;
            }
            let made = g.make(op);
            gen_contracts = g.contracts;
            if let Some(tx) = made {
                pending.push(tx);
                continue;
            }
            let candidates = decode_all(&pending);
            pending.clear();
            let built = a.build(&candidates);
            let replica = b.as_mut().unwrap();
            let block = replica.validate_block(&built.bytes, built.block.header.time_ms).unwrap();
            let cert = a.cert(block.header.height, block.hash());
            a.state.commit_block(&built.block, &cert).unwrap();
            replica.commit_block(&block, &cert).unwrap();
            prop_assert_eq!(a.state.state_root(), replica.state_root());
            blocks += 1;
            if blocks == 3 {
                // Restart the replica in the middle.
                drop(b.take());
                b = Some(open(b_dir.path(), &a.genesis));
            }
        }
        // A third instance replays every committed block from scratch.
        let c_dir = tempfile::tempdir().unwrap();
        let mut c = open(c_dir.path(), &a.genesis);
        for height in 1..=a.state.latest_height() {
            let bytes = a.state.block_bytes(height).unwrap().unwrap();
            let block = c.validate_block(&bytes, u64::MAX / 2).unwrap();
            c.commit_block(&block, &a.state.certificate(height).unwrap().unwrap()).unwrap();
            prop_assert_eq!(c.state_root(), a.state.header(height).unwrap().unwrap().state_root);
        }
        prop_assert_eq!(c.state_root(), b.unwrap().state_root());
    }
}
