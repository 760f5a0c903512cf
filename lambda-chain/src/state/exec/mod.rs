//! Execution of transactions and blocks against the state.
//!
//! Every transaction goes through the same steps, in one overlay layer that
//! is dropped if any step fails (so an invalid transaction changes nothing
//! and is never included):
//!
//! 1. stateless verification (`Tx::verify_bytes`): size, strict decoding,
//!    chain id, signature, field rules;
//! 2. the charge: the nonce must equal the sender's next nonce, the fee must
//!    reach `params.min_fee`, the balance must cover fee + amount; the fee
//!    moves to the block's proposer and the nonce advances;
//! 3. the kind's own rules and effects (`accounts`, `nodes`, `billing`,
//!    `audit`).
//!
//! After the last transaction of an epoch's last block, `epoch` fixes the
//! next epoch's membership and validator set.
//!
//! Execution is deterministic: it reads only the state, the block's height,
//! proposer and transactions; iterates only sorted maps; uses no clock and no
//! randomness; does integer arithmetic only, checked or saturating.

mod accounts;
mod audit;
mod billing;
mod nodes;

use lambda_common::keys::Address;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::commitment::Diff;
use super::epoch;
use super::keys;
use super::overlay::Overlay;
use super::records::{Account, Membership, StorageNode};
use super::store::Store;
use crate::error::ChainError;
use crate::params::ChainParams;
use crate::tx::{NodeId, Tx, TxError, TxKind, VerifiedTx};
use crate::types::{Height, ValidatorSet};

pub use billing::{contract_id, cycle_payment};

/// A transaction failure: a rejection of the transaction, or a failure of
/// the state itself (which aborts the whole block).
#[derive(Debug)]
pub(crate) enum ExecError {
    Tx(TxError),
    Fatal(ChainError),
}

impl From<TxError> for ExecError {
    fn from(e: TxError) -> Self {
        ExecError::Tx(e)
    }
}

impl From<ChainError> for ExecError {
    fn from(e: ChainError) -> Self {
        ExecError::Fatal(e)
    }
}

/// What a block executes in.
#[derive(Clone, Debug)]
pub(crate) struct BlockCtx {
    pub(crate) chain_id: String,
    pub(crate) params: ChainParams,
    pub(crate) height: Height,
    pub(crate) epoch: u64,
    pub(crate) proposer: Address,
    pub(crate) validators: ValidatorSet,
}

/// Executes one block's transactions over the committed state.
pub(crate) struct Executor<'a> {
    pub(super) ov: Overlay<'a>,
    pub(super) ctx: BlockCtx,
}

impl<'a> Executor<'a> {
    /// An executor for the block described by `ctx`.
    pub(crate) fn new(store: &'a Store, ctx: BlockCtx) -> Self {
        Self {
            ov: Overlay::new(store),
            ctx,
        }
    }

    /// Verifies and applies one encoded transaction. On error nothing of it
    /// remains in the state.
    pub(crate) fn apply(&mut self, bytes: &[u8]) -> Result<VerifiedTx, ExecError> {
        let result = Tx::verify_bytes(bytes, &self.ctx.chain_id, self.ctx.params.max_tx_bytes)
            .map_err(ExecError::Tx)
            .and_then(|vtx| self.apply_verified(&vtx).map(|()| vtx));
        match result {
            Ok(vtx) => {
                self.ov.commit_tx();
                Ok(vtx)
            }
            Err(e) => {
                self.ov.rollback_tx();
                Err(e)
            }
        }
    }

    fn apply_verified(&mut self, vtx: &VerifiedTx) -> Result<(), ExecError> {
        accounts::charge(self, vtx)?;
        let sender = vtx.sender;
        match &vtx.body.kind {
            TxKind::Transfer(t) => accounts::transfer(self, &sender, t),
            TxKind::Pledge(p) => nodes::pledge(self, &sender, p),
            TxKind::Unpledge { node } => nodes::unpledge(self, &sender, node),
            TxKind::OfflineReport(r) => nodes::report(self, &sender, r),
            TxKind::OfflineVerdict(v) => nodes::verdict(self, &sender, v),
            TxKind::UsageSettlement(u) => billing::settle_usage(self, &sender, u),
            TxKind::RegisterContract(c) => billing::register(self, &sender, vtx.body.nonce, c),
            TxKind::PdpResult(r) => audit::pdp_result(self, &sender, r),
            TxKind::SlashDoubleSign(e) => audit::double_sign(self, &sender, e),
        }
    }

    /// Ends the block (the epoch boundary, if it is one) and returns its
    /// writes.
    pub(crate) fn finish(mut self) -> Result<Diff, ChainError> {
        if self.ctx.params.is_epoch_end(self.ctx.height) {
            epoch::end_of_epoch(&mut self.ov, &self.ctx)?;
        }
        Ok(self.ov.into_diff())
    }

    fn get<T: DeserializeOwned>(
        &self,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, ExecError> {
        Ok(self.ov.get_rec(key, what)?)
    }

    fn put<T: Serialize>(&mut self, key: Vec<u8>, v: &T) -> Result<(), ExecError> {
        Ok(self.ov.put_rec(key, v)?)
    }

    fn account(&self, a: &Address) -> Result<Account, ExecError> {
        Ok(self.get(&keys::account(a), "account")?.unwrap_or_default())
    }

    fn node(&self, id: &NodeId) -> Result<StorageNode, ExecError> {
        self.get(&keys::node(id), "storage node")?
            .ok_or(ExecError::Tx(TxError::UnknownNode(*id)))
    }

    fn membership(&self, epoch: u64) -> Result<Membership, ExecError> {
        Ok(self
            .get(&keys::membership(epoch), "membership")?
            .unwrap_or(Membership {
                epoch,
                members: Vec::new(),
            }))
    }

    fn require_member(
        &self,
        role: &'static str,
        node: &NodeId,
        epoch: u64,
    ) -> Result<(), ExecError> {
        if self.membership(epoch)?.contains(node) {
            Ok(())
        } else {
            Err(TxError::NotMember {
                role,
                node: *node,
                epoch,
            }
            .into())
        }
    }

    fn require_validator(&self, a: &Address) -> Result<u64, ExecError> {
        self.ctx
            .validators
            .get(a)
            .map(|v| v.power)
            .ok_or(ExecError::Tx(TxError::NotValidator(*a)))
    }
}
