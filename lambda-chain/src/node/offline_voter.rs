//! The validator's offline duty: when the offline reports recorded on chain
//! for a member node in the current epoch come from at least
//! `offline_min_reporters` distinct members (capped at members − 1, so a
//! small cluster can still convict), the validator submits its offline
//! verdict on that node, once per (node, epoch), signed with its own key at
//! the minimum fee. The chain applies the verdict when validators holding
//! more than two thirds of the epoch's power voted (`state::exec::nodes`):
//! `offline_slash_bps` of the node's stake is burnt and the node is left out
//! of the next membership.
//!
//! The rule reads only committed state (the reports), so every honest
//! validator reaches the same decision from the same blocks.

use std::collections::BTreeSet;

use super::core::NodeCore;
use crate::error::ChainError;
use crate::state::ChainState;
use crate::tx::kind::OfflineVerdict;
use crate::tx::{NodeId, Tx, TxBody, TxKind};
use crate::types::Hash;

/// Verdicts this validator already submitted.
#[derive(Debug)]
pub(crate) struct OfflineVoter {
    min_reporters: usize,
    voted: BTreeSet<(u64, NodeId)>,
}

/// Distinct reporters needed against a node in a membership of `members`.
pub(crate) fn reporters_needed(min_reporters: usize, members: usize) -> usize {
    min_reporters.min(members.saturating_sub(1)).max(1)
}

impl OfflineVoter {
    /// A voter needing `min_reporters` distinct reporters.
    pub(crate) fn new(min_reporters: usize) -> Self {
        Self {
            min_reporters,
            voted: BTreeSet::new(),
        }
    }

    /// Nodes of the current epoch that enough members reported and this
    /// validator has not voted on yet.
    fn due(&self, core: &NodeCore, state: &ChainState) -> Result<(u64, Vec<NodeId>), ChainError> {
        let next = state.latest_height() + 1;
        let epoch = state.epoch_of(next);
        if state.validators_at(next)?.get(&core.address).is_none() {
            return Ok((epoch, Vec::new()));
        }
        let Some(membership) = state.membership(epoch)? else {
            return Ok((epoch, Vec::new()));
        };
        let need = reporters_needed(self.min_reporters, membership.members.len());
        let mut out = Vec::new();
        for m in &membership.members {
            if self.voted.contains(&(epoch, m.id)) {
                continue;
            }
            let reports = state.offline_reports(&m.id, epoch)?.unwrap_or_default();
            if reports.reporters.len() < need {
                continue;
            }
            let votes = state.offline_votes(&m.id, epoch)?.unwrap_or_default();
            if votes.decided || votes.voters.binary_search(&core.address).is_ok() {
                continue;
            }
            out.push(m.id);
        }
        Ok((epoch, out))
    }

    /// Submits the verdicts due; returns their transaction hashes.
    pub(crate) fn run(&mut self, core: &NodeCore) -> Vec<Hash> {
        let txs = {
            let state = core.state.read();
            let (epoch, due) = match self.due(core, &state) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "offline duty: reading the state failed");
                    return Vec::new();
                }
            };
            self.voted.retain(|(e, _)| *e + 1 >= epoch);
            let mut txs = Vec::new();
            for node in due {
                match core.next_nonce(&state, &core.address) {
                    Ok(nonce) => {
                        let body = TxBody {
                            chain_id: state.chain_id().to_string(),
                            nonce: nonce + txs.len() as u64,
                            fee: state.params().min_fee,
                            kind: TxKind::OfflineVerdict(OfflineVerdict { node, epoch }),
                        };
                        txs.push((epoch, node, Tx::sign(&core.key, &body)));
                    }
                    Err(e) => tracing::warn!(error = %e, "offline duty: no nonce"),
                }
            }
            txs
        };
        let mut out = Vec::new();
        for (epoch, node, tx) in txs {
            match core.submit(&tx.encode(), true) {
                Ok(hash) => {
                    tracing::warn!(%node, epoch, tx = %hash, "offline verdict submitted");
                    out.push(hash);
                }
                Err(e) => {
                    tracing::warn!(%node, epoch, reason = %e, "offline verdict not submitted")
                }
            }
            // Once per (node, epoch) whatever happened: a refusal means the
            // verdict is void (decided, or the epoch moved on).
            self.voted.insert((epoch, node));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_reporters_are_capped_by_the_membership() {
        assert_eq!(reporters_needed(2, 5), 2);
        assert_eq!(reporters_needed(2, 2), 1);
        assert_eq!(reporters_needed(3, 3), 2);
        assert_eq!(reporters_needed(0, 5), 1);
        assert_eq!(reporters_needed(2, 1), 1);
    }
}
