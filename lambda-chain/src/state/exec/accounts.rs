//! Balances and nonces: the charge every transaction pays (nonce, fee to the
//! proposer) and transfers.

use lambda_common::keys::Address;

use super::{ExecError, Executor};
use crate::state::keys;
use crate::tx::kind::Transfer;
use crate::tx::{TxError, VerifiedTx};

/// Checks the nonce, the fee and that the balance covers fee + amount; takes
/// the fee (to the proposer) and advances the nonce.
pub(super) fn charge(ex: &mut Executor<'_>, vtx: &VerifiedTx) -> Result<(), ExecError> {
    let sender = vtx.sender;
    let mut acct = ex.account(&sender)?;
    let nonce = vtx.body.nonce;
    if nonce < acct.nonce {
        return Err(TxError::NonceReplayed {
            sender,
            expected: acct.nonce,
            got: nonce,
        }
        .into());
    }
    if nonce > acct.nonce {
        return Err(TxError::FutureNonce {
            sender,
            expected: acct.nonce,
            got: nonce,
        }
        .into());
    }
    let fee = vtx.body.fee;
    let min = ex.ctx.params.min_fee;
    if fee < min {
        return Err(TxError::FeeTooLow { fee, min }.into());
    }
    let need = vtx.cost()?;
    if acct.balance < need {
        return Err(TxError::InsufficientFunds {
            sender,
            have: acct.balance,
            need,
        }
        .into());
    }
    acct.balance -= fee;
    acct.nonce += 1;
    ex.put(keys::account(&sender), &acct)?;
    let proposer = ex.ctx.proposer;
    credit(ex, &proposer, fee)
}

/// Moves `t.amount` from `sender` to `t.to`.
pub(super) fn transfer(
    ex: &mut Executor<'_>,
    sender: &Address,
    t: &Transfer,
) -> Result<(), ExecError> {
    debit(ex, sender, t.amount)?;
    credit(ex, &t.to, t.amount)
}

/// Adds `amount` to an account.
pub(super) fn credit(ex: &mut Executor<'_>, a: &Address, amount: u64) -> Result<(), ExecError> {
    if amount == 0 {
        return Ok(());
    }
    let mut acct = ex.account(a)?;
    acct.balance = acct
        .balance
        .checked_add(amount)
        .ok_or(TxError::Overflow("balance"))?;
    ex.put(keys::account(a), &acct)
}

/// Takes `amount` from an account.
pub(super) fn debit(ex: &mut Executor<'_>, a: &Address, amount: u64) -> Result<(), ExecError> {
    let mut acct = ex.account(a)?;
    if acct.balance < amount {
        return Err(TxError::InsufficientFunds {
            sender: *a,
            have: acct.balance,
            need: amount,
        }
        .into());
    }
    acct.balance -= amount;
    ex.put(keys::account(a), &acct)
}
