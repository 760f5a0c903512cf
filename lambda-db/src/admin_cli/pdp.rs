//! `lambda-db pdp results`: the provable-data-possession audits the chain
//! recorded, per storage node — passes, failures, paid to the owner,
//! slashed from the stake, the node's standing and stake now, and its
//! latest results (epoch, contract, outcome, height, auditor).
//!
//! The chain API answers per node, so without `--node` the command lists
//! the members of the latest `--epochs` epochs' memberships: a node that
//! was slashed out or left recently still shows.

use std::collections::BTreeSet;

use lambda_chain::client::{ChainClient, ClientError};
use lambda_chain::state::{PdpRecord, StorageNode};
use lambda_common::keys::Address;
use serde_json::{Value, json};

use super::args::PdpArgs;
use super::table::{Align, Table};
use super::{AdminError, chain_client, chain_error, first_answer, split_endpoints};

/// One node's audits.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePdp {
    /// The node id.
    pub id: Address,
    /// Its record on the chain (`None` when the chain has none).
    pub node: Option<StorageNode>,
    /// Its audits, newest first.
    pub records: Vec<PdpRecord>,
}

impl NodePdp {
    /// Audits passed.
    pub fn passes(&self) -> usize {
        self.records.iter().filter(|r| r.passed).count()
    }

    /// Audits failed.
    pub fn failures(&self) -> usize {
        self.records.len() - self.passes()
    }

    /// Paid to the node's owner for passes.
    pub fn paid(&self) -> u64 {
        self.records.iter().map(|r| r.payment).sum()
    }

    /// Burnt from the node's stake for failures.
    pub fn slashed(&self) -> u64 {
        self.records.iter().map(|r| r.slashed).sum()
    }
}

/// What `pdp results` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct PdpView {
    /// The validator endpoint that answered.
    pub endpoint: String,
    /// The chain's height when asked.
    pub height: u64,
    /// The epoch being decided.
    pub epoch: u64,
    /// The nodes, in id order.
    pub nodes: Vec<NodePdp>,
    /// Latest results listed per node.
    pub limit: usize,
}

/// Runs `pdp results` against the first validator that answers.
pub async fn fetch(args: &PdpArgs) -> Result<PdpView, AdminError> {
    let node = match &args.node {
        Some(n) => Some(n.parse::<Address>().map_err(|e| {
            AdminError::Invalid(format!(
                "--node {n:?} is not a node id (40 hex digits): {e}"
            ))
        })?),
        None => None,
    };
    let endpoints = split_endpoints(&args.chain.chain);
    let (_, mut view) = first_answer(&endpoints, "chain", |e| async move {
        let c = chain_client(&e)?;
        fetch_one(c, e.clone(), node, args.epochs)
            .await
            .map_err(chain_error(&e))
    })
    .await?;
    view.limit = args.limit;
    Ok(view)
}

async fn fetch_one(
    mut c: ChainClient,
    endpoint: String,
    node: Option<Address>,
    epochs: u64,
) -> Result<PdpView, ClientError> {
    let status = c.status().await?;
    let ids: BTreeSet<Address> = match node {
        Some(id) => BTreeSet::from([id]),
        None => {
            let mut ids = BTreeSet::new();
            let first = status.epoch.saturating_sub(epochs.saturating_sub(1));
            for e in first..=status.epoch {
                match c.membership(e).await {
                    Ok(m) => ids.extend(m.members.iter().map(|m| m.id)),
                    Err(ClientError::NotFound(_)) => {}
                    Err(err) => return Err(err),
                }
            }
            ids
        }
    };
    let mut nodes = Vec::with_capacity(ids.len());
    for id in ids {
        let record = match c.node(id).await {
            Ok(n) => Some(n),
            Err(ClientError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let mut records = c.pdp_results(id).await?;
        records.sort_by_key(|r| std::cmp::Reverse((r.height, r.epoch)));
        nodes.push(NodePdp {
            id,
            node: record,
            records,
        });
    }
    Ok(PdpView {
        endpoint,
        height: status.height,
        epoch: status.epoch,
        nodes,
        limit: 0,
    })
}

fn record_json(r: &PdpRecord) -> Value {
    json!({
        "epoch": r.epoch, "contract": r.contract.to_string(), "passed": r.passed,
        "payment": r.payment, "slashed": r.slashed, "validator": r.validator.to_string(),
        "height": r.height,
    })
}

/// The view as JSON (keys documented in the README).
pub fn json(v: &PdpView) -> Value {
    json!({
        "endpoint": v.endpoint,
        "height": v.height,
        "epoch": v.epoch,
        "nodes": v.nodes.iter().map(|n| json!({
            "node_id": n.id.to_string(),
            "status": n.node.as_ref().map(|x| x.status.name()),
            "stake": n.node.as_ref().map(|x| x.stake),
            "zone": n.node.as_ref().map(|x| x.zone.clone()),
            "audits": n.records.len(),
            "passes": n.passes(),
            "failures": n.failures(),
            "paid": n.paid(),
            "slashed": n.slashed(),
            "last": n.records.first().map(record_json),
            "results": n.records.iter().take(v.limit).map(record_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// The first `n` characters of an id, for tables.
fn short(id: &str, n: usize) -> String {
    if id.chars().count() <= n {
        id.to_string()
    } else {
        format!("{}…", id.chars().take(n).collect::<String>())
    }
}

fn outcome(passed: bool) -> &'static str {
    if passed { "pass" } else { "FAIL" }
}

/// The view as a table: one row per node, then the latest results.
pub fn table(v: &PdpView) -> String {
    let mut out = format!(
        "PDP audits at height {} (epoch {}), from {}\n",
        v.height, v.epoch, v.endpoint
    );
    let mut t = Table::new(&[
        ("NODE", Align::Left),
        ("STATUS", Align::Left),
        ("STAKE", Align::Right),
        ("PASS", Align::Right),
        ("FAIL", Align::Right),
        ("PAID", Align::Right),
        ("SLASHED", Align::Right),
        ("LAST", Align::Left),
    ]);
    for n in &v.nodes {
        t.row(vec![
            n.id.to_string(),
            n.node.as_ref().map_or("?", |x| x.status.name()).into(),
            n.node
                .as_ref()
                .map_or_else(|| "-".into(), |x| x.stake.to_string()),
            n.passes().to_string(),
            n.failures().to_string(),
            n.paid().to_string(),
            n.slashed().to_string(),
            n.records.first().map_or_else(
                || "none".into(),
                |r| format!("epoch {} {}", r.epoch, outcome(r.passed)),
            ),
        ]);
    }
    out.push_str(&t.render());
    let mut rows = Table::new(&[
        ("NODE", Align::Left),
        ("EPOCH", Align::Right),
        ("RESULT", Align::Left),
        ("PAYMENT", Align::Right),
        ("SLASHED", Align::Right),
        ("HEIGHT", Align::Right),
        ("CONTRACT", Align::Left),
        ("AUDITOR", Align::Left),
    ]);
    for n in &v.nodes {
        for r in n.records.iter().take(v.limit) {
            rows.row(vec![
                short(&n.id.to_string(), 12),
                r.epoch.to_string(),
                outcome(r.passed).into(),
                r.payment.to_string(),
                r.slashed.to_string(),
                r.height.to_string(),
                short(&r.contract.to_string(), 16),
                short(&r.validator.to_string(), 12),
            ]);
        }
    }
    if v.nodes.iter().any(|n| !n.records.is_empty()) {
        out.push_str(&format!(
            "\nlatest results (at most {} per node)\n",
            v.limit
        ));
        out.push_str(&rows.render());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_chain::types::Hash;

    fn record(epoch: u64, passed: bool, height: u64) -> PdpRecord {
        PdpRecord {
            contract: Hash::digest(b"c"),
            node: Address([7; 20]),
            epoch,
            passed,
            validator: Address([1; 20]),
            height,
            payment: if passed { 10 } else { 0 },
            slashed: if passed { 0 } else { 500 },
        }
    }

    #[test]
    fn results_add_up_per_node_and_list_the_newest_first() {
        let n = NodePdp {
            id: Address([7; 20]),
            node: None,
            records: vec![
                record(3, false, 70),
                record(2, true, 50),
                record(1, true, 30),
            ],
        };
        let v = PdpView {
            endpoint: "v:1".into(),
            height: 80,
            epoch: 3,
            nodes: vec![n],
            limit: 2,
        };
        let j = json(&v);
        let node = &j["nodes"][0];
        assert_eq!(node["passes"], 2);
        assert_eq!(node["failures"], 1);
        assert_eq!(node["paid"], 20);
        assert_eq!(node["slashed"], 500);
        assert_eq!(node["last"]["epoch"], 3);
        assert_eq!(node["last"]["passed"], false);
        assert_eq!(node["results"].as_array().unwrap().len(), 2);
        assert_eq!(node["status"], Value::Null);
        let t = table(&v);
        assert!(t.contains("epoch 3 FAIL"), "{t}");
        assert!(t.contains("latest results (at most 2 per node)"), "{t}");
        assert!(t.lines().all(|l| l.chars().count() <= 120), "{t}");
    }
}
