//! Test harness: a chain state in a temporary directory with known keys,
//! and helpers to sign transactions and commit blocks with real
//! certificates signed by the validators.
#![allow(dead_code, unreachable_pub)]

use lambda_chain::ChainError;
use lambda_chain::ChainState;
use lambda_chain::block::Block;
use lambda_chain::genesis::{Genesis, GenesisAccount, GenesisNode, GenesisValidator};
use lambda_chain::params::ChainParams;
use lambda_chain::state::{BuiltBlock, StateOptions};
use lambda_chain::tx::{Tx, TxBody, TxError, TxKind};
use lambda_chain::types::{CommitCertificate, CommitSig, Hash, Height, Vote, VoteType};
use lambda_common::keys::{Address, SigningKey};

pub const CHAIN: &str = "test-chain";
pub const T0: u64 = 1_700_000_000_000;
pub const FUNDS: u64 = 1_000_000;

pub fn key(tag: u8, i: u8) -> SigningKey {
    let mut seed = [tag; 32];
    seed[31] = i;
    SigningKey::from_seed(seed)
}

/// Keys of a test chain: validators, users (funded) and genesis storage
/// nodes (funded too, so their node keys can pay fees).
#[derive(Clone)]
pub struct Keys {
    pub validators: Vec<SigningKey>,
    pub users: Vec<SigningKey>,
    pub nodes: Vec<SigningKey>,
}

pub fn keys() -> Keys {
    Keys {
        validators: (0..4).map(|i| key(1, i)).collect(),
        users: (0..4).map(|i| key(2, i)).collect(),
        nodes: (0..3).map(|i| key(3, i)).collect(),
    }
}

pub fn params(epoch_length: u64) -> ChainParams {
    ChainParams {
        epoch_length,
        max_block_bytes: 64 * 1024,
        max_tx_bytes: 16 * 1024,
        min_fee: 1,
        min_node_stake: 1_000,
        price_per_request: 2,
        price_per_mib: 1_024,
        pdp_fail_slash_bps: 1_000,
        offline_slash_bps: 500,
        double_sign_slash_bps: 5_000,
        fisherman_reward_bps: 2_000,
        evidence_max_age_blocks: 100,
        ..ChainParams::default()
    }
}

pub fn genesis(k: &Keys, epoch_length: u64) -> Genesis {
    let mut accounts: Vec<GenesisAccount> = k
        .users
        .iter()
        .chain(&k.nodes)
        .chain(&k.validators)
        .map(|u| GenesisAccount {
            address: u.public().address(),
            balance: FUNDS,
        })
        .collect();
    accounts.sort_by_key(|a| a.address);
    Genesis {
        chain_id: CHAIN.into(),
        genesis_time_ms: T0,
        params: params(epoch_length),
        accounts,
        validators: k
            .validators
            .iter()
            .map(|v| GenesisValidator {
                public_key: v.public(),
                stake: 100,
            })
            .collect(),
        storage_nodes: k
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| GenesisNode {
                owner: k.users[0].public().address(),
                public_key: n.public(),
                endpoint: format!("127.0.0.1:{}", 7100 + i),
                capacity_bytes: 1 << 30,
                bandwidth_bps: 1 << 20,
                zone: format!("z{i}"),
                stake: 5_000,
            })
            .collect(),
    }
}

pub fn open(dir: &std::path::Path, g: &Genesis) -> ChainState {
    ChainState::open_with(dir, g, StateOptions { sync_writes: false }).unwrap()
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub state: ChainState,
    pub genesis: Genesis,
    pub keys: Keys,
}

impl Harness {
    pub fn new(epoch_length: u64) -> Self {
        let keys = keys();
        let genesis = genesis(&keys, epoch_length);
        let dir = tempfile::tempdir().unwrap();
        let state = open(dir.path(), &genesis);
        Self {
            dir,
            state,
            genesis,
            keys,
        }
    }

    pub fn user(&self, i: usize) -> &SigningKey {
        &self.keys.users[i]
    }

    pub fn addr(k: &SigningKey) -> Address {
        k.public().address()
    }

    /// A transaction of `kind` from `from` with its next committed nonce.
    pub fn tx(&self, from: &SigningKey, kind: TxKind) -> Tx {
        let nonce = self.state.account(&from.public().address()).unwrap().nonce;
        self.tx_nonce(from, nonce, 1, kind)
    }

    pub fn tx_nonce(&self, from: &SigningKey, nonce: u64, fee: u64, kind: TxKind) -> Tx {
        Tx::sign(
            from,
            &TxBody {
                chain_id: CHAIN.into(),
                nonce,
                fee,
                kind,
            },
        )
    }

    /// Precommits of every validator of `height` for `hash`.
    pub fn cert(&self, height: Height, hash: Hash) -> CommitCertificate {
        let set = self.state.validators_at(height).unwrap();
        let mut signatures: Vec<CommitSig> = self
            .keys
            .validators
            .iter()
            .filter(|k| set.get(&k.public().address()).is_some())
            .map(|k| {
                let v = Vote::new_signed(k, CHAIN, VoteType::Precommit, height, 0, Some(hash));
                CommitSig {
                    validator: v.validator,
                    signature: v.signature,
                }
            })
            .collect();
        signatures.sort_by_key(|s| s.validator);
        CommitCertificate {
            height,
            round: 0,
            block_hash: hash,
            signatures,
        }
    }

    pub fn last_commit(&self) -> Option<CommitCertificate> {
        let h = self.state.latest_height();
        (h > 0).then(|| self.cert(h, self.state.latest_block_hash()))
    }

    pub fn next_time(&self) -> u64 {
        self.state.latest_time_ms() + 1_000
    }

    pub fn proposer(&self) -> Address {
        let h = self.state.latest_height() + 1;
        self.state.validators_at(h).unwrap().proposer(h, 0).address
    }

    /// Builds the next block from `txs`.
    pub fn build(&self, txs: &[Tx]) -> BuiltBlock {
        let h = self.state.latest_height() + 1;
        self.state
            .build_block(
                h,
                self.proposer(),
                self.next_time(),
                txs,
                self.last_commit(),
            )
            .unwrap()
    }

    /// Builds and commits the next block.
    pub fn commit(&mut self, txs: &[Tx]) -> BuiltBlock {
        let built = self.build(txs);
        self.commit_block(&built.block);
        built
    }

    pub fn commit_block(&mut self, block: &Block) {
        let cert = self.cert(block.header.height, block.hash());
        self.state.commit_block(block, &cert).unwrap();
    }

    /// Commits `tx` alone and asserts it was included.
    pub fn ok(&mut self, tx: Tx) {
        let built = self.commit(&[tx]);
        assert!(built.dropped.is_empty(), "dropped: {:?}", built.dropped);
        assert_eq!(built.block.txs.len(), 1);
    }

    /// Asserts `tx` is refused by check_tx and dropped by the block builder
    /// with the same reason; returns it.
    pub fn reject(&mut self, tx: Tx) -> TxError {
        let e = match self.state.check_tx(&tx) {
            Err(ChainError::Tx(e)) => e,
            other => panic!("expected a rejection, got {other:?}"),
        };
        let built = self.build(&[tx]);
        assert!(built.block.txs.is_empty());
        assert_eq!(built.dropped.len(), 1);
        assert_eq!(built.dropped[0].1, e);
        e
    }

    /// Commits empty blocks until the latest block ends an epoch.
    pub fn finish_epoch(&mut self) {
        loop {
            self.commit(&[]);
            if self.state.params().is_epoch_end(self.state.latest_height()) {
                break;
            }
        }
    }

    pub fn epoch(&self) -> u64 {
        self.state.epoch_of(self.state.latest_height() + 1)
    }
}
