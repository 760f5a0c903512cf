//! The validator as fisherman: double-sign evidence that consensus detects
//! (two conflicting votes of one validator at one height, round and step)
//! becomes a slashing-evidence transaction signed with this validator's own
//! account key, admitted into its mempool and gossiped, so the next block
//! slashes the double signer and rewards the submitter.
//!
//! One transaction per culprit: the chain slashes a validator once, so later
//! evidence against it would only be refused (`AlreadySlashed`).

use std::collections::BTreeSet;

use lambda_common::keys::Address;

use super::core::NodeCore;
use crate::tx::{Tx, TxBody, TxKind};
use crate::types::{DoubleSignEvidence, Hash};

/// Culprits this node already submitted evidence against.
#[derive(Debug, Default)]
pub(crate) struct Fisherman {
    submitted: BTreeSet<Address>,
}

impl Fisherman {
    /// Turns each new piece of evidence into a transaction in the mempool.
    /// Returns the hashes of the transactions admitted.
    pub(crate) fn submit(
        &mut self,
        core: &NodeCore,
        evidence: Vec<DoubleSignEvidence>,
    ) -> Vec<Hash> {
        let mut out = Vec::new();
        for ev in evidence {
            let culprit = ev.a.validator;
            if culprit == core.address || self.submitted.contains(&culprit) {
                continue;
            }
            match sign(core, ev)
                .and_then(|tx| core.submit(&tx.encode(), true).map_err(|e| e.to_string()))
            {
                Ok(hash) => {
                    tracing::warn!(%culprit, tx = %hash, "double-sign evidence submitted as a slashing transaction");
                    self.submitted.insert(culprit);
                    out.push(hash);
                }
                Err(reason) => {
                    tracing::warn!(%culprit, %reason, "double-sign evidence not submitted");
                }
            }
        }
        out
    }
}

/// The slashing transaction for `ev`, from this validator's account at its
/// next nonce, paying the minimum fee.
fn sign(core: &NodeCore, ev: DoubleSignEvidence) -> Result<Tx, String> {
    let state = core.state.read();
    let nonce = core
        .next_nonce(&state, &core.address)
        .map_err(|e| e.to_string())?;
    let body = TxBody {
        chain_id: state.chain_id().to_string(),
        nonce,
        fee: state.params().min_fee,
        kind: TxKind::SlashDoubleSign(ev),
    };
    Ok(Tx::sign(&core.key, &body))
}
