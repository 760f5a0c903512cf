//! Read-only queries of the committed state, blocks and indexes (what the
//! node glue and the gRPC query service serve).

use lambda_common::keys::Address;
use serde::de::DeserializeOwned;

use super::ChainState;
use super::keys::{self, prefix};
use super::records::{
    Account, Contract, EpochValidators, EvidenceRecord, Membership, OfflineReports, PdpRecord,
    StorageNode, UsageRecord, ValidatorRecord, VerdictVotes, decode,
};
use super::store::{Cf, height_key, read_u64};
use crate::block::{Block, BlockHeader};
use crate::codec::decode_commit;
use crate::error::ChainError;
use crate::tx::NodeId;
use crate::types::{CommitCertificate, Hash, Height, ValidatorSet};

fn corrupt(what: &'static str) -> impl Fn(crate::codec::DecodeError) -> ChainError {
    move |e| ChainError::Corrupt {
        what,
        reason: e.to_string(),
    }
}

impl ChainState {
    fn rec<T: DeserializeOwned>(
        &self,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, ChainError> {
        self.store
            .get(Cf::State, key)?
            .map(|b| decode(&b, what))
            .transpose()
    }

    /// An account (the default, empty account if it never received funds).
    pub fn account(&self, a: &Address) -> Result<Account, ChainError> {
        Ok(self.rec(&keys::account(a), "account")?.unwrap_or_default())
    }

    /// The accounts the state holds (every address that ever received
    /// funds or sent a transaction), in address order, at most `limit`.
    /// Read-only, for listings (the dashboard). Cost: a scan of up to
    /// `limit` account records.
    pub fn accounts(&self, limit: usize) -> Result<Vec<(Address, Account)>, ChainError> {
        self.store
            .scan_prefix_limit(Cf::State, &[prefix::ACCOUNT], limit)?
            .iter()
            .map(|(k, v)| {
                let address = Address::from_slice(k.get(1..).unwrap_or_default()).map_err(|e| {
                    ChainError::Corrupt {
                        what: "account key",
                        reason: e.to_string(),
                    }
                })?;
                Ok((address, decode(v, "account")?))
            })
            .collect()
    }

    /// Settled usage, as (client, epoch, record) in client then epoch
    /// order, at most `limit`. Read-only, for listings (the dashboard).
    /// Cost: a scan of up to `limit` usage records.
    pub fn usage_records(
        &self,
        limit: usize,
    ) -> Result<Vec<(Address, u64, UsageRecord)>, ChainError> {
        self.store
            .scan_prefix_limit(Cf::State, &[prefix::USAGE], limit)?
            .iter()
            .map(|(k, v)| {
                let (client, epoch) = keys::split_usage(k).ok_or_else(|| ChainError::Corrupt {
                    what: "usage key",
                    reason: format!("{} bytes", k.len()),
                })?;
                Ok((client, epoch, decode(v, "usage record")?))
            })
            .collect()
    }

    /// A storage node.
    pub fn node(&self, id: &NodeId) -> Result<Option<StorageNode>, ChainError> {
        self.rec(&keys::node(id), "storage node")
    }

    /// Every storage node ever pledged, by id.
    pub fn nodes(&self) -> Result<Vec<StorageNode>, ChainError> {
        self.store
            .scan_prefix(Cf::State, &[prefix::NODE])?
            .iter()
            .map(|(_, v)| decode(v, "storage node"))
            .collect()
    }

    /// The membership of `epoch` (known up to the epoch after the current
    /// one once the current epoch's last block is committed).
    pub fn membership(&self, epoch: u64) -> Result<Option<Membership>, ChainError> {
        self.rec(&keys::membership(epoch), "membership")
    }

    /// The validator set of `epoch`, if fixed yet.
    pub fn validators_of_epoch(&self, epoch: u64) -> Result<Option<ValidatorSet>, ChainError> {
        self.rec::<EpochValidators>(&keys::epoch_validators(epoch), "validator set")?
            .map(|v| v.to_set())
            .transpose()
    }

    /// The validators of `height` (any committed height, and the next one).
    pub fn validators_at(&self, height: Height) -> Result<ValidatorSet, ChainError> {
        let epoch = self.epoch_of(height);
        self.validators_of_epoch(epoch)?.ok_or_else(|| {
            ChainError::Missing(format!(
                "validator set of height {height} (epoch {epoch}) is not fixed yet"
            ))
        })
    }

    /// A validator's stake and standing.
    pub fn validator(&self, a: &Address) -> Result<Option<ValidatorRecord>, ChainError> {
        self.rec(&keys::validator(a), "validator")
    }

    /// A committed block's bytes.
    pub fn block_bytes(&self, height: Height) -> Result<Option<Vec<u8>>, ChainError> {
        self.store.get(Cf::Blocks, &height_key(height))
    }

    /// A committed block.
    pub fn block(&self, height: Height) -> Result<Option<Block>, ChainError> {
        self.block_bytes(height)?
            .map(|b| Block::decode(&b, usize::MAX).map_err(corrupt("block")))
            .transpose()
    }

    /// A committed block's header.
    pub fn header(&self, height: Height) -> Result<Option<BlockHeader>, ChainError> {
        self.store
            .get(Cf::Headers, &height_key(height))?
            .map(|b| BlockHeader::decode(&b).map_err(corrupt("block header")))
            .transpose()
    }

    /// The certificate a block was committed with.
    pub fn certificate(&self, height: Height) -> Result<Option<CommitCertificate>, ChainError> {
        self.store
            .get(Cf::Certs, &height_key(height))?
            .map(|b| decode_commit(&b).map_err(corrupt("commit certificate")))
            .transpose()
    }

    /// Where a committed transaction is: (height, index in the block).
    pub fn tx_location(&self, tx_hash: &Hash) -> Result<Option<(Height, u32)>, ChainError> {
        let Some(v) = self.store.get(Cf::Txs, &tx_hash.0)? else {
            return Ok(None);
        };
        if v.len() != 12 {
            return Err(ChainError::Corrupt {
                what: "tx index",
                reason: format!("{} bytes, expected 12", v.len()),
            });
        }
        let h = read_u64(&v[..8], "tx index")?;
        let i = u32::from_be_bytes([v[8], v[9], v[10], v[11]]);
        Ok(Some((h, i)))
    }

    /// The PDP challenge seed of `epoch`: the digest of the commit
    /// certificate carried by the epoch's first block (it certifies the
    /// previous epoch's last block, is fixed on chain and chosen by no single
    /// proposer); the genesis hash for epoch 0. None until that block is
    /// committed.
    pub fn challenge_seed(&self, epoch: u64) -> Result<Option<Hash>, ChainError> {
        if epoch == 0 {
            return Ok(Some(self.genesis_hash()));
        }
        let first = epoch
            .saturating_mul(self.params().epoch_length)
            .saturating_add(1);
        Ok(self
            .block(first)?
            .and_then(|b| b.last_commit)
            .map(|c| c.digest()))
    }

    /// A storage contract.
    pub fn contract(&self, id: &Hash) -> Result<Option<Contract>, ChainError> {
        self.rec(&keys::contract(id), "contract")
    }

    /// Every storage contract ever registered (active and expired), by id.
    /// Cost: a scan of every contract record.
    pub fn contracts(&self) -> Result<Vec<Contract>, ChainError> {
        self.store
            .scan_prefix(Cf::State, &[prefix::CONTRACT])?
            .iter()
            .map(|(_, v)| decode(v, "contract"))
            .collect()
    }

    /// The PDP result of `node` for `contract` in `epoch`, if recorded.
    pub fn pdp_result(
        &self,
        node: &NodeId,
        epoch: u64,
        contract: &Hash,
    ) -> Result<Option<PdpRecord>, ChainError> {
        self.rec(&keys::pdp(node, epoch, contract), "PDP result")
    }

    /// Every PDP result of a node, by epoch then contract.
    pub fn pdp_results(&self, node: &NodeId) -> Result<Vec<PdpRecord>, ChainError> {
        self.store
            .scan_prefix(Cf::State, &keys::pdp_node_prefix(node))?
            .iter()
            .map(|(_, v)| decode(v, "PDP result"))
            .collect()
    }

    /// The settlement of a client's usage in an epoch.
    pub fn usage_settlement(
        &self,
        client: &Address,
        epoch: u64,
    ) -> Result<Option<UsageRecord>, ChainError> {
        self.rec(&keys::usage(client, epoch), "usage record")
    }

    /// Offline-verdict votes on a node in an epoch.
    pub fn offline_votes(
        &self,
        node: &NodeId,
        epoch: u64,
    ) -> Result<Option<VerdictVotes>, ChainError> {
        self.rec(&keys::verdict(node, epoch), "verdict votes")
    }

    /// Offline reports on a node in an epoch.
    pub fn offline_reports(
        &self,
        node: &NodeId,
        epoch: u64,
    ) -> Result<Option<OfflineReports>, ChainError> {
        self.rec(&keys::report(node, epoch), "offline reports")
    }

    /// The punishment of a validator's double sign at `vote_height`.
    pub fn evidence(
        &self,
        validator: &Address,
        vote_height: Height,
    ) -> Result<Option<EvidenceRecord>, ChainError> {
        self.rec(&keys::evidence(validator, vote_height), "evidence record")
    }
}
