//! `lambda-db hints`: hinted handoff as the cluster sees it, from Admin
//! `Status`. For the node asked (or, with `--all`, every member it knows):
//! the hints it holds per target node (the preference-list owner that was
//! down), its backlog against its bound (`hints.max_backlog`), hints
//! delivered and hinted writes refused since start. Over all nodes asked,
//! the hints waiting per target, and each member's backlog as gossiped.

use std::collections::BTreeMap;

use lambda_proto::node::v1 as pb;
use serde_json::{Value, json};

use super::table::{Align, Table};
use super::{AdminError, first_answer, status::fetch_status};

/// One node's hint figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Holder {
    /// The endpoint asked.
    pub endpoint: String,
    /// Its status.
    pub status: pb::StatusResponse,
}

/// What `hints` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct HintsView {
    /// The nodes that answered, the first one asked first.
    pub holders: Vec<Holder>,
    /// Members that did not answer (`--all`): endpoint and error.
    pub unreachable: Vec<(String, String)>,
}

/// Asks the first node of `endpoints` that answers; with `all`, then every
/// other member it lists (at once).
pub async fn run(endpoints: &[String], all: bool) -> Result<HintsView, AdminError> {
    let (endpoint, status) =
        first_answer(endpoints, "node", |e| async move { fetch_status(&e).await }).await?;
    let others: Vec<String> = if all {
        status
            .nodes
            .iter()
            .filter(|n| n.id != status.node_id && !n.endpoint.is_empty())
            .map(|n| n.endpoint.clone())
            .collect()
    } else {
        Vec::new()
    };
    let mut view = HintsView {
        holders: vec![Holder { endpoint, status }],
        unreachable: Vec::new(),
    };
    let answers =
        futures::future::join_all(others.iter().map(|e| async move { fetch_status(e).await }))
            .await;
    for (e, a) in others.into_iter().zip(answers) {
        match a {
            Ok(status) => view.holders.push(Holder {
                endpoint: e,
                status,
            }),
            Err(err) => view.unreachable.push((e, err.to_string())),
        }
    }
    Ok(view)
}

impl HintsView {
    /// Hints waiting per target node over every node asked.
    pub fn by_target(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for h in &self.holders {
            for o in h.status.hints.iter().flat_map(|x| &x.owners) {
                *out.entry(o.owner.clone()).or_default() += o.hints;
            }
        }
        out
    }

    /// Up or down, as the first node asked sees each member.
    fn up(&self) -> BTreeMap<&str, bool> {
        self.holders
            .first()
            .map(|h| {
                h.status
                    .nodes
                    .iter()
                    .map(|n| (n.id.as_str(), n.up))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn total(&self, f: impl Fn(&pb::HintStatus) -> u64) -> u64 {
        self.holders
            .iter()
            .filter_map(|h| h.status.hints.as_ref())
            .map(f)
            .sum()
    }
}

fn holder_json(h: &Holder) -> Value {
    let s = &h.status;
    let hs = s.hints.clone().unwrap_or_default();
    json!({
        "node_id": s.node_id, "endpoint": h.endpoint, "backlog": hs.backlog,
        "max_backlog": hs.max_backlog, "delivered": hs.delivered, "refused": hs.refused,
        "hinted_writes": s.hinted_writes,
        "targets": hs.owners.iter().map(|o| json!({"target": o.owner, "hints": o.hints})).collect::<Vec<_>>(),
    })
}

/// The view as JSON (keys documented in the README).
pub fn json(v: &HintsView) -> Value {
    let up = v.up();
    let gossiped: Vec<Value> = v
        .holders
        .first()
        .map(|h| {
            h.status
                .nodes
                .iter()
                .map(|n| json!({"node_id": n.id, "up": n.up, "backlog": n.hint_backlog}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "node_id": v.holders.first().map(|h| h.status.node_id.clone()),
        "backlog": v.total(|h| h.backlog),
        "delivered": v.total(|h| h.delivered),
        "refused": v.total(|h| h.refused),
        "targets": v.by_target().iter().map(|(t, n)| json!({
            "target": t, "hints": n, "up": up.get(t.as_str()),
        })).collect::<Vec<_>>(),
        "nodes": v.holders.iter().map(holder_json).collect::<Vec<_>>(),
        "gossiped": gossiped,
        "unreachable": v.unreachable.iter().map(|(e, err)| json!({"endpoint": e, "error": err})).collect::<Vec<_>>(),
    })
}

/// Up, down, or `unknown` when the node asked does not list it.
fn state_name(up: Option<bool>, unknown: &'static str) -> &'static str {
    match up {
        Some(true) => "up",
        Some(false) => "DOWN",
        None => unknown,
    }
}

fn holders_table(v: &HintsView) -> String {
    let up = v.up();
    let state = |id: &str| state_name(up.get(id).copied(), "?");
    let mut t = Table::new(&[
        ("HOLDER", Align::Left),
        ("STATE", Align::Left),
        ("BACKLOG", Align::Right),
        ("MAX", Align::Right),
        ("DELIVERED", Align::Right),
        ("REFUSED", Align::Right),
        ("HINTED_WRITES", Align::Right),
    ]);
    for h in &v.holders {
        let hs = h.status.hints.clone().unwrap_or_default();
        t.row(vec![
            h.status.node_id.clone(),
            state(&h.status.node_id).into(),
            hs.backlog.to_string(),
            hs.max_backlog.to_string(),
            hs.delivered.to_string(),
            hs.refused.to_string(),
            h.status.hinted_writes.to_string(),
        ]);
    }
    let asked: Vec<&str> = v
        .holders
        .iter()
        .map(|h| h.status.node_id.as_str())
        .collect();
    for n in v.holders.iter().take(1).flat_map(|h| &h.status.nodes) {
        if !asked.contains(&n.id.as_str()) {
            let gossiped = format!("{} (gossiped)", n.hint_backlog);
            t.row(vec![
                n.id.clone(),
                state(&n.id).into(),
                gossiped,
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
    }
    t.render()
}

/// The view as a table: totals, hints per target, then per holder.
pub fn table(v: &HintsView) -> String {
    let names: Vec<&str> = v
        .holders
        .iter()
        .map(|h| h.status.node_id.as_str())
        .collect();
    let mut out = format!(
        "hints held by {}: backlog {}, delivered {}, refused {}\n",
        names.join(", "),
        v.total(|h| h.backlog),
        v.total(|h| h.delivered),
        v.total(|h| h.refused)
    );
    if v.holders.iter().all(|h| h.status.hints.is_none()) {
        out.push_str("(standalone node: no hinted handoff)\n");
        return out;
    }
    let up = v.up();
    let mut t = Table::new(&[
        ("TARGET", Align::Left),
        ("STATE", Align::Left),
        ("HINTS", Align::Right),
    ]);
    for (target, n) in v.by_target() {
        let state = state_name(up.get(target.as_str()).copied(), "left");
        t.row(vec![target, state.into(), n.to_string()]);
    }
    out.push('\n');
    out.push_str(&t.render());
    out.push('\n');
    out.push_str(&holders_table(v));
    for (_, err) in &v.unreachable {
        out.push_str(&format!("not answering: {err}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(id: &str, owners: &[(&str, u64)], delivered: u64) -> Holder {
        Holder {
            endpoint: format!("{id}:1"),
            status: pb::StatusResponse {
                node_id: id.into(),
                nodes: ["n1", "n2", "n3"]
                    .iter()
                    .map(|n| pb::NodeInfo {
                        id: (*n).into(),
                        up: *n != "n3",
                        hint_backlog: 4,
                        ..Default::default()
                    })
                    .collect(),
                hints: Some(pb::HintStatus {
                    backlog: owners.iter().map(|o| o.1).sum(),
                    delivered,
                    refused: 1,
                    max_backlog: 100,
                    owners: owners
                        .iter()
                        .map(|(o, h)| pb::HintOwner {
                            owner: (*o).into(),
                            hints: *h,
                        })
                        .collect(),
                }),
                ..Default::default()
            },
        }
    }

    #[test]
    fn hints_add_up_per_target_over_the_nodes_asked() {
        let v = HintsView {
            holders: vec![
                holder("n1", &[("n3", 5)], 2),
                holder("n2", &[("n3", 7), ("n9", 1)], 3),
            ],
            unreachable: vec![("n3:1".into(), "node at n3:1: unreachable".into())],
        };
        assert_eq!(v.by_target().get("n3"), Some(&12));
        let j = json(&v);
        assert_eq!(j["backlog"], 13);
        assert_eq!(j["delivered"], 5);
        assert_eq!(j["refused"], 2);
        assert_eq!(j["targets"][0]["target"], "n3");
        assert_eq!(j["targets"][0]["up"], false);
        assert_eq!(j["targets"][1]["up"], Value::Null);
        assert_eq!(j["nodes"][1]["targets"][0]["hints"], 7);
        let t = table(&v);
        assert!(t.contains("n3      DOWN      12"), "{t}");
        assert!(t.contains("n9      left       1"), "{t}");
        let gossip_row = t
            .lines()
            .find(|l| l.ends_with("(gossiped)    -          -        -              -"));
        assert!(
            gossip_row.is_some_and(|l| l.starts_with("n3") && l.contains("DOWN")),
            "{t}"
        );
        assert!(t.contains("not answering: node at n3:1"), "{t}");
    }
}
