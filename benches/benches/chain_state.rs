//! Criterion benchmarks of the chain state machine: stateless verification
//! of 1 000 transfers (signatures dominate), and building a block of them
//! (verification, execution against RocksDB and the bucketed state-root
//! update) over states of 10 000 and 100 000 accounts.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_chain::ChainState;
use lambda_chain::genesis::{Genesis, GenesisAccount, GenesisValidator};
use lambda_chain::params::ChainParams;
use lambda_chain::state::StateOptions;
use lambda_chain::tx::kind::Transfer;
use lambda_chain::tx::{Tx, TxBody, TxKind};
use lambda_common::keys::SigningKey;

const TXS: usize = 1_000;

fn key(i: usize) -> SigningKey {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
    SigningKey::from_seed(seed)
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: ChainState,
    txs: Vec<Tx>,
    proposer: lambda_common::keys::Address,
}

fn fixture(accounts: usize) -> Fixture {
    let validator = SigningKey::from_seed([1; 32]);
    let senders: Vec<SigningKey> = (0..TXS).map(key).collect();
    let mut list: Vec<GenesisAccount> = (0..accounts)
        .map(|i| GenesisAccount {
            address: if i < TXS {
                senders[i].public().address()
            } else {
                let mut a = [0u8; 20];
                a[..8].copy_from_slice(&(i as u64).to_be_bytes());
                lambda_common::keys::Address(a)
            },
            balance: 1_000_000,
        })
        .collect();
    list.sort_by_key(|a| a.address);
    list.dedup_by_key(|a| a.address);
    let genesis = Genesis {
        chain_id: "bench".into(),
        genesis_time_ms: 1_000,
        params: ChainParams {
            epoch_length: 1_000_000,
            ..ChainParams::default()
        },
        accounts: list,
        validators: vec![GenesisValidator {
            public_key: validator.public(),
            stake: 10,
        }],
        storage_nodes: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    let state =
        ChainState::open_with(dir.path(), &genesis, StateOptions { sync_writes: false }).unwrap();
    let txs = senders
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Tx::sign(
                k,
                &TxBody {
                    chain_id: "bench".into(),
                    nonce: 0,
                    fee: 1,
                    kind: TxKind::Transfer(Transfer {
                        to: senders[(i + 1) % TXS].public().address(),
                        amount: 5,
                    }),
                },
            )
        })
        .collect();
    Fixture {
        _dir: dir,
        state,
        txs,
        proposer: validator.public().address(),
    }
}

fn build(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    f: &Fixture,
    accounts: usize,
) {
    let name = format!("build_block_1000_transfers/{accounts}_accounts");
    g.bench_function(name, |b| {
        b.iter(|| {
            let built = f
                .state
                .build_block(1, f.proposer, 2_000, &f.txs, None)
                .unwrap();
            assert_eq!(built.block.txs.len(), TXS);
            black_box(built.hash)
        })
    });
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain_state");
    g.sample_size(10);
    let f = fixture(10_000);
    g.bench_function("verify_1000_transfers", |b| {
        b.iter(|| {
            for t in &f.txs {
                black_box(f.state.check_tx_stateless(t).unwrap());
            }
        })
    });
    build(&mut g, &f, 10_000);
    drop(f);
    let f = fixture(100_000);
    build(&mut g, &f, 100_000);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
