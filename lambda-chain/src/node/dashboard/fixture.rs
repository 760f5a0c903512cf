//! Test fixture of the dashboard's views: a real chain state (RocksDB in a
//! temporary directory) with one validator, four genesis storage nodes over
//! three zones, funded accounts, and blocks carrying transfers, a storage
//! contract, PDP results (a pass and a failure) and a usage settlement,
//! each committed with a certificate the validator signs.

use lambda_common::keys::{Address, SigningKey};

use crate::genesis::{Genesis, GenesisAccount, GenesisNode, GenesisValidator};
use crate::params::ChainParams;
use crate::state::{ChainState, StateOptions, contract_id};
use crate::tx::kind::{
    PdpResult, RegisterContract, Transfer, UsageEntry, UsageSettlement, UsageStatement,
};
use crate::tx::{Tx, TxBody, TxKind};
use crate::types::{CommitCertificate, CommitSig, Hash, Vote, VoteType};

pub(crate) const CHAIN: &str = "dash-test";
const T0: u64 = 1_700_000_000_000;
pub(crate) const FUNDS: u64 = 1_000_000;
pub(crate) const EPOCH_LENGTH: u64 = 4;
/// Zones and (capacity GiB, bandwidth MB/s) of the four nodes.
const NODES: [(&str, u64, u64); 4] = [
    ("zone-a", 100, 100),
    ("zone-b", 200, 125),
    ("zone-c", 400, 250),
    ("zone-b", 200, 60),
];

fn key(tag: u8, i: u8) -> SigningKey {
    let mut seed = [tag; 32];
    seed[31] = i;
    SigningKey::from_seed(seed)
}

/// A chain state with known keys.
pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) state: ChainState,
    pub(crate) validator: SigningKey,
    pub(crate) client: SigningKey,
    owner: SigningKey,
    pub(crate) nodes: Vec<SigningKey>,
}

impl Fixture {
    /// Genesis only: a validator and funded accounts, no storage nodes.
    pub(crate) fn empty() -> Self {
        Self::open(false)
    }

    /// The genesis with four nodes, then a few blocks of each kind of
    /// activity the dashboard shows (see the module doc).
    pub(crate) fn new() -> Self {
        let mut f = Self::open(true);
        let to = f.owner();
        let transfer = f.tx(&f.client, TxKind::Transfer(Transfer { to, amount: 500 }));
        f.commit(&[transfer]);
        let nonce = f.state.account(&f.client.public().address()).unwrap().nonce;
        let contract = RegisterContract {
            object_name: "obj".into(),
            size_bytes: 1 << 20,
            duration_epochs: 10,
            total_amount: 10_000,
            replicas: 2,
            pdp_metadata: vec![1, 2, 3],
            pdp_digest: Hash::digest(b"tags"),
        };
        let register = f.tx(&f.client, TxKind::RegisterContract(contract));
        f.commit(&[register]);
        let id = contract_id(&f.client.public().address(), nonce);
        f.finish_epoch();
        let usage = f.usage_settlement(0, 7);
        let pass = f.pdp(id, 0, true);
        f.commit(&[usage, pass]);
        let fail = f.pdp(id, 1, false);
        f.commit(&[fail]);
        f
    }

    fn open(with_nodes: bool) -> Self {
        let validator = key(1, 0);
        let client = key(2, 0);
        let owner = key(2, 1);
        let nodes: Vec<SigningKey> = (0..4).map(|i| key(3, i)).collect();
        let mut accounts: Vec<GenesisAccount> = [&validator, &client, &owner]
            .into_iter()
            .chain(&nodes)
            .map(|k| GenesisAccount {
                address: k.public().address(),
                balance: FUNDS,
            })
            .collect();
        accounts.sort_by_key(|a| a.address);
        let storage_nodes = if with_nodes {
            nodes
                .iter()
                .zip(NODES)
                .enumerate()
                .map(|(i, (k, (zone, gib, mbs)))| GenesisNode {
                    owner: owner.public().address(),
                    public_key: k.public(),
                    // Ports nothing listens on: probes find them down.
                    endpoint: format!("127.0.0.1:{}", i + 1),
                    capacity_bytes: gib << 30,
                    bandwidth_bps: mbs * 1_000_000,
                    zone: zone.into(),
                    stake: 5_000,
                })
                .collect()
        } else {
            Vec::new()
        };
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            genesis_time_ms: T0,
            params: ChainParams {
                epoch_length: EPOCH_LENGTH,
                ..ChainParams::default()
            },
            accounts,
            validators: vec![GenesisValidator {
                public_key: validator.public(),
                stake: 100,
            }],
            storage_nodes,
        };
        let dir = tempfile::tempdir().unwrap();
        let state =
            ChainState::open_with(dir.path(), &genesis, StateOptions { sync_writes: false })
                .unwrap();
        Self {
            _dir: dir,
            state,
            validator,
            client,
            owner,
            nodes,
        }
    }

    /// The owner of every node.
    pub(crate) fn owner(&self) -> Address {
        self.owner.public().address()
    }

    /// A transaction from `from` at its next committed nonce, fee 1.
    pub(crate) fn tx(&self, from: &SigningKey, kind: TxKind) -> Tx {
        let nonce = self.state.account(&from.public().address()).unwrap().nonce;
        Tx::sign(
            from,
            &TxBody {
                chain_id: CHAIN.into(),
                nonce,
                fee: 1,
                kind,
            },
        )
    }

    fn usage_settlement(&self, epoch: u64, requests: u64) -> Tx {
        let statement = UsageStatement {
            chain_id: CHAIN.into(),
            epoch,
            entries: vec![UsageEntry {
                node: self.nodes[0].public().address(),
                requests,
                bytes: 0,
            }],
        };
        let settlement = UsageSettlement::new_signed(&self.client, statement);
        self.tx(&self.nodes[0], TxKind::UsageSettlement(settlement))
    }

    fn pdp(&self, contract: Hash, node: usize, passed: bool) -> Tx {
        let epoch = self.state.epoch_of(self.state.latest_height() + 1);
        let r = PdpResult {
            contract,
            node: self.nodes[node].public().address(),
            epoch,
            passed,
            proof: vec![9],
        };
        self.tx(&self.validator, TxKind::PdpResult(r))
    }

    fn cert(&self, height: u64, hash: Hash) -> CommitCertificate {
        let v = Vote::new_signed(
            &self.validator,
            CHAIN,
            VoteType::Precommit,
            height,
            0,
            Some(hash),
        );
        CommitCertificate {
            height,
            round: 0,
            block_hash: hash,
            signatures: vec![CommitSig {
                validator: v.validator,
                signature: v.signature,
            }],
        }
    }

    /// Builds and commits the next block; every transaction must be kept.
    pub(crate) fn commit(&mut self, txs: &[Tx]) {
        let h = self.state.latest_height() + 1;
        let last = (h > 1).then(|| self.cert(h - 1, self.state.latest_block_hash()));
        let time = self.state.latest_time_ms() + 1_000;
        let proposer = self.validator.public().address();
        let built = self
            .state
            .build_block(h, proposer, time, txs, last)
            .unwrap();
        assert!(built.dropped.is_empty(), "dropped: {:?}", built.dropped);
        let cert = self.cert(h, built.hash);
        self.state.commit_block(&built.block, &cert).unwrap();
    }

    /// Commits empty blocks until the latest one ends an epoch.
    pub(crate) fn finish_epoch(&mut self) {
        loop {
            self.commit(&[]);
            if self.state.params().is_epoch_end(self.state.latest_height()) {
                break;
            }
        }
    }
}
