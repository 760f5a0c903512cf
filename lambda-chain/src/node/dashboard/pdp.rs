//! The PDP view (`GET /api/pdp`): per storage node, the audits recorded on
//! chain (passes, failures, what passes paid and failures burnt) and its
//! latest result, plus the storage contracts being audited.
//!
//! Read from the state's PDP records (`ChainState::pdp_results`, one scan
//! per node) and contracts; the cost grows with the audits recorded, which
//! is why the view is rebuilt only when a block is committed.

use serde::Serialize;

use crate::error::ChainError;
use crate::state::{ChainState, ContractStatus, PdpRecord};

/// `/api/pdp`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PdpView {
    /// Latest committed height.
    pub(crate) height: u64,
    /// The epoch in force.
    pub(crate) epoch: u64,
    /// Contracts still paying.
    pub(crate) active_contracts: usize,
    /// Contracts ever registered.
    pub(crate) contracts: usize,
    /// Passes over every node.
    pub(crate) passes: u64,
    /// Failures over every node.
    pub(crate) failures: u64,
    /// Per node ever pledged, by id.
    pub(crate) nodes: Vec<PdpNode>,
}

/// One node's audits.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PdpNode {
    /// Node id.
    pub(crate) id: String,
    /// Zone.
    pub(crate) zone: String,
    /// Chain status.
    pub(crate) status: &'static str,
    /// Remaining stake.
    pub(crate) stake: u64,
    /// Audits passed.
    pub(crate) passes: u64,
    /// Audits failed.
    pub(crate) failures: u64,
    /// Paid to its owner for passes.
    pub(crate) paid: u64,
    /// Burnt from its stake for failures.
    pub(crate) slashed: u64,
    /// Its latest result.
    pub(crate) last: Option<PdpLast>,
}

/// A node's latest PDP result.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PdpLast {
    /// The audited epoch.
    pub(crate) epoch: u64,
    /// Outcome.
    pub(crate) passed: bool,
    /// The contract.
    pub(crate) contract: String,
    /// Height of the block that recorded it.
    pub(crate) height: u64,
    /// The validator that audited.
    pub(crate) validator: String,
}

fn node_row(
    id: String,
    zone: String,
    status: &'static str,
    stake: u64,
    records: &[PdpRecord],
) -> PdpNode {
    let passes = records.iter().filter(|r| r.passed).count() as u64;
    let last = records
        .iter()
        .max_by_key(|r| (r.epoch, r.height))
        .map(|r| PdpLast {
            epoch: r.epoch,
            passed: r.passed,
            contract: r.contract.to_string(),
            height: r.height,
            validator: r.validator.to_string(),
        });
    PdpNode {
        id,
        zone,
        status,
        stake,
        passes,
        failures: records.len() as u64 - passes,
        paid: records.iter().map(|r| r.payment).sum(),
        slashed: records.iter().map(|r| r.slashed).sum(),
        last,
    }
}

/// The PDP view of the committed state.
pub(crate) fn view(state: &ChainState) -> Result<PdpView, ChainError> {
    let height = state.latest_height();
    let mut nodes = Vec::new();
    for n in state.nodes()? {
        let records = state.pdp_results(&n.id)?;
        nodes.push(node_row(
            n.id.to_string(),
            n.zone.clone(),
            n.status.name(),
            n.stake,
            &records,
        ));
    }
    let contracts = state.contracts()?;
    Ok(PdpView {
        height,
        epoch: state.epoch_of(height + 1),
        active_contracts: contracts
            .iter()
            .filter(|c| c.status == ContractStatus::Active)
            .count(),
        contracts: contracts.len(),
        passes: nodes.iter().map(|n| n.passes).sum(),
        failures: nodes.iter().map(|n| n.failures).sum(),
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::*;

    #[test]
    fn passes_failures_and_the_latest_result_per_node() {
        let f = Fixture::new();
        let v = view(&f.state).unwrap();
        assert_eq!((v.passes, v.failures), (1, 1));
        assert_eq!((v.contracts, v.active_contracts), (1, 1));
        assert_eq!(v.nodes.len(), 4);
        let row = |i: usize| {
            let id = f.nodes[i].public().address().to_string();
            v.nodes.iter().find(|n| n.id == id).unwrap().clone()
        };
        let passed = row(0);
        assert_eq!((passed.passes, passed.failures), (1, 0));
        assert!(passed.paid > 0, "{passed:?}");
        let last = passed.last.unwrap();
        assert!(last.passed);
        assert_eq!(last.epoch, 1);
        assert_eq!(last.validator, f.validator.public().address().to_string());
        let failed = row(1);
        assert_eq!((failed.passes, failed.failures), (0, 1));
        assert!(failed.slashed > 0);
        assert_eq!(failed.stake, 5_000 - failed.slashed);
        assert!(!failed.last.unwrap().passed);
        let untouched = row(2);
        assert_eq!((untouched.passes, untouched.failures), (0, 0));
        assert!(untouched.last.is_none());
    }
}
