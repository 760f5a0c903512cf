//! `lambda-db transfers`: the progress of a membership change as a node
//! sees it — its stable and target epochs, what it waits for, and for every
//! node the partitions it pulls (done / total) and bytes, with progress
//! bars. `--watch` redraws live bars (indicatif) until the change is over.

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lambda_proto::node::v1 as pb;
use serde_json::json;

use super::{AdminError, call_error, client};

/// Fetches the transfer progress of the node at `endpoint`.
pub async fn fetch(endpoint: &str) -> Result<pb::TransfersResponse, AdminError> {
    client(endpoint)?
        .transfers(pb::TransfersRequest {})
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| call_error(endpoint, &s))
}

/// True when no change is under way anywhere the node can see.
pub fn finished(t: &pb::TransfersResponse) -> bool {
    t.stable_epoch == t.target_epoch
        && t.nodes
            .iter()
            .filter(|n| n.up)
            .all(|n| n.target_epoch == n.stable_epoch && n.stable_epoch == t.stable_epoch)
}

/// The progress as JSON.
pub fn json(t: &pb::TransfersResponse) -> serde_json::Value {
    json!({
        "node_id": t.node_id,
        "stable_epoch": t.stable_epoch,
        "target_epoch": t.target_epoch,
        "in_transition": t.stable_epoch != t.target_epoch,
        "partitions_total": t.partitions_total,
        "partitions_done": t.partitions_done,
        "bytes": t.bytes,
        "partitions_dropped": t.partitions_dropped,
        "waiting_for": t.waiting_for,
        "nodes": t.nodes.iter().map(|n| json!({
            "node_id": n.node_id, "up": n.up, "stable_epoch": n.stable_epoch,
            "target_epoch": n.target_epoch, "synced_epoch": n.synced_epoch,
            "partitions_total": n.partitions_total, "partitions_done": n.partitions_done,
            "bytes": n.bytes,
        })).collect::<Vec<_>>(),
    })
}

/// A text bar of `width` cells.
fn bar(done: u32, total: u32, width: usize) -> String {
    let filled = if total == 0 {
        width
    } else {
        (done as usize * width) / total as usize
    };
    format!(
        "[{}{}]",
        "#".repeat(filled),
        "-".repeat(width - filled.min(width))
    )
}

/// The progress as a table with a text bar per node.
pub fn table(t: &pb::TransfersResponse) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let state = if t.stable_epoch == t.target_epoch {
        format!("epoch {}, no change under way", t.stable_epoch)
    } else {
        format!("moving from epoch {} to {}", t.stable_epoch, t.target_epoch)
    };
    let _ = writeln!(out, "node {}: {state}", t.node_id);
    if !t.waiting_for.is_empty() {
        let _ = writeln!(out, "waiting for {}", t.waiting_for);
    }
    let _ = writeln!(
        out,
        "partitions dropped since start: {}",
        t.partitions_dropped
    );
    let _ = writeln!(
        out,
        "{:<12} {:<5} {:>6} {:>6} {:>6} {:<22} {:>9} {:>12}",
        "NODE", "STATE", "STABLE", "TARGET", "SYNCED", "PULLED", "PARTS", "BYTES"
    );
    for n in &t.nodes {
        let _ = writeln!(
            out,
            "{:<12} {:<5} {:>6} {:>6} {:>6} {:<22} {:>9} {:>12}",
            n.node_id,
            if n.up { "up" } else { "DOWN" },
            n.stable_epoch,
            n.target_epoch,
            n.synced_epoch,
            bar(n.partitions_done, n.partitions_total, 20),
            format!("{}/{}", n.partitions_done, n.partitions_total),
            n.bytes
        );
    }
    out
}

/// Shows live progress bars (one per node) from the node at `endpoint`,
/// polled every `every`, until the change is over or `timeout` passes.
pub async fn watch(
    endpoint: &str,
    every: Duration,
    timeout: Duration,
) -> Result<pb::TransfersResponse, AdminError> {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{prefix:<10} [{bar:30}] {pos}/{len} partitions {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-");
    let header = multi.add(ProgressBar::new_spinner());
    let mut bars: BTreeMap<String, ProgressBar> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let t = fetch(endpoint).await?;
        header.set_message(if t.waiting_for.is_empty() {
            format!("epoch {} → {}", t.stable_epoch, t.target_epoch)
        } else {
            format!(
                "epoch {} → {}: waiting for {}",
                t.stable_epoch, t.target_epoch, t.waiting_for
            )
        });
        header.tick();
        for n in &t.nodes {
            let b = bars.entry(n.node_id.clone()).or_insert_with(|| {
                let b = multi.add(ProgressBar::new(0));
                b.set_style(style.clone());
                b.set_prefix(n.node_id.clone());
                b
            });
            b.set_length(u64::from(n.partitions_total));
            b.set_position(u64::from(n.partitions_done));
            b.set_message(format!(
                "{} bytes{}",
                n.bytes,
                if n.up { "" } else { " (DOWN)" }
            ));
        }
        if finished(&t) || tokio::time::Instant::now() >= deadline {
            for b in bars.values() {
                b.finish();
            }
            header.finish();
            return Ok(t);
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, stable: u64, target: u64, done: u32, total: u32) -> pb::NodeTransfer {
        pb::NodeTransfer {
            node_id: id.into(),
            stable_epoch: stable,
            target_epoch: target,
            partitions_done: done,
            partitions_total: total,
            up: true,
            ..Default::default()
        }
    }

    #[test]
    fn table_shows_a_bar_per_node_and_finished_tracks_every_node() {
        let mut t = pb::TransfersResponse {
            node_id: "n1".into(),
            stable_epoch: 1,
            target_epoch: 2,
            nodes: vec![node("n1", 1, 2, 5, 10), node("n4", 1, 2, 10, 10)],
            ..Default::default()
        };
        let text = table(&t);
        assert!(text.contains("moving from epoch 1 to 2"), "{text}");
        assert!(text.contains("[##########----------]"), "{text}");
        assert!(text.contains("5/10"));
        assert!(!finished(&t));
        t.stable_epoch = 2;
        t.nodes = vec![node("n1", 2, 2, 10, 10), node("n4", 1, 2, 10, 10)];
        assert!(!finished(&t), "n4 has not switched yet");
        t.nodes[1].stable_epoch = 2;
        assert!(finished(&t));
        assert_eq!(json(&t)["in_transition"], false);
    }
}
