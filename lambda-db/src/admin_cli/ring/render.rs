//! Rendering of `ring show`: JSON with stable keys, and tables (a header
//! line, per layout the nodes, then the looked-up partition's lists).

use serde_json::{Value, json};

use super::{LayoutRing, Lookup, NodeRow, RingView};
use crate::admin_cli::table::{Align, Table, percent};
use crate::placement::DeviceId;

fn row_json(r: &NodeRow, slots: u64) -> Value {
    json!({
        "id": r.id, "endpoint": r.endpoint, "zone": r.zone, "capacity": r.capacity,
        "bandwidth": r.bandwidth, "weight": r.weight, "up": r.up,
        "primary_partitions": r.primary, "replica_partitions": r.replica,
        "listed_partitions": r.listed,
        "share": if slots == 0 { 0.0 } else { f64::from(r.replica) / slots as f64 },
        "fair_share": r.fair,
    })
}

/// The preference list of the looked-up partition in `layout`.
fn list_of<'a>(view: &RingView, layout: &'a LayoutRing) -> &'a [DeviceId] {
    view.lookup
        .as_ref()
        .map_or(&[], |l| layout.placement.preference_list(l.partition))
}

/// The view as JSON (keys documented in the README).
pub fn json(view: &RingView) -> Value {
    let s = &view.status;
    let n = view.n();
    let up = view.up();
    let slots = u64::from(s.partitions) * n as u64;
    let layouts: Vec<Value> = view
        .layouts
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "epoch": l.epoch, "role": view.role(i), "list_length": l.placement.list_len(),
                "nodes": view.rows(l).iter().map(|r| row_json(r, slots)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let lookup = view.lookup.as_ref().map(|lk| {
        json!({
            "partition": lk.partition,
            "key": lk.key,
            "lists": view.layouts.iter().map(|l| json!({
                "epoch": l.epoch,
                "preference_list": list_of(view, l).iter().map(|d| d.0.clone()).collect::<Vec<_>>(),
                "replicas": list_of(view, l).iter().take(n).map(|d| json!({
                    "id": d.0, "up": up.get(d.0.as_str()),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    });
    json!({
        "node_id": s.node_id,
        "endpoint": view.endpoint,
        "partitions": s.partitions,
        "n": n,
        "stable_epoch": view.layouts.first().map(|l| l.epoch),
        "target_epoch": view.layouts.last().map(|l| l.epoch),
        "in_transition": view.layouts.len() > 1,
        "matches_node": view.matches_node(),
        "layouts": layouts,
        "lookup": lookup,
    })
}

fn state(up: Option<bool>) -> &'static str {
    match up {
        Some(true) => "up",
        Some(false) => "DOWN",
        None => "?",
    }
}

fn nodes_table(view: &RingView, layout: &LayoutRing) -> String {
    let slots = u64::from(view.status.partitions) * view.n() as u64;
    let mut t = Table::new(&[
        ("NODE", Align::Left),
        ("ZONE", Align::Left),
        ("CAP_GIB", Align::Right),
        ("BW_MBPS", Align::Right),
        ("WEIGHT", Align::Right),
        ("STATE", Align::Left),
        ("PRIMARY", Align::Right),
        ("REPLICA", Align::Right),
        ("SHARE", Align::Right),
        ("FAIR", Align::Right),
    ]);
    for r in view.rows(layout) {
        t.row(vec![
            r.id.clone(),
            r.zone.clone(),
            r.capacity.to_string(),
            r.bandwidth.to_string(),
            r.weight.to_string(),
            state(r.up).into(),
            r.primary.to_string(),
            r.replica.to_string(),
            percent(u64::from(r.replica), slots),
            format!("{:.1}%", r.fair * 100.0),
        ]);
    }
    t.render()
}

fn lookup_table(view: &RingView, lk: &Lookup) -> String {
    let n = view.n();
    let up = view.up();
    let mut out = match &lk.key {
        Some(k) => format!("key {k:?} is in partition {}\n", lk.partition),
        None => format!("partition {}\n", lk.partition),
    };
    let mut t = Table::new(&[
        ("EPOCH", Align::Right),
        ("POS", Align::Right),
        ("NODE", Align::Left),
        ("STATE", Align::Left),
        ("ROLE", Align::Left),
    ]);
    for l in &view.layouts {
        for (pos, d) in list_of(view, l).iter().enumerate() {
            let role = match pos {
                0 => "primary",
                p if p < n => "replica",
                _ => "spare",
            };
            t.row(vec![
                l.epoch.to_string(),
                pos.to_string(),
                d.0.clone(),
                state(up.get(d.0.as_str()).copied()).into(),
                role.into(),
            ]);
        }
    }
    out.push_str(&t.render());
    out
}

/// The view as a table: a header line, per layout the nodes, then the
/// looked-up partition's lists.
pub fn table(view: &RingView) -> String {
    let s = &view.status;
    if view.layouts.is_empty() {
        return format!(
            "node {} at {} has no ring (standalone, or not a member yet): it holds every key itself\n",
            s.node_id, view.endpoint
        );
    }
    let list_len = view.layouts.first().map_or(0, |l| l.placement.list_len());
    let mut out = format!(
        "ring of node {} at {}: {} partitions, N={}, lists of {}\n",
        s.node_id,
        view.endpoint,
        s.partitions,
        view.n(),
        list_len
    );
    if view.layouts.len() > 1 {
        out.push_str("membership change under way: requests are joint over these layouts\n");
    }
    for (i, l) in view.layouts.iter().enumerate() {
        out.push_str(&format!("\nepoch {} ({})\n", l.epoch, view.role(i)));
        out.push_str(&nodes_table(view, l));
    }
    if !view.matches_node() {
        out.push_str(
            "\nWARNING: these counts differ from the node's own; pass the node's \
             configuration with --config so the placement parameters match\n",
        );
    }
    if let Some(lk) = &view.lookup {
        out.push('\n');
        out.push_str(&lookup_table(view, lk));
    }
    out
}
