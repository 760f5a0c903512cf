//! What a membership change asks of this node: which partitions it pulls
//! (and from whom), which nodes must finish pulling before a layout can be
//! switched to, the paged stream of a partition from an old owner, and the
//! record of partitions already pulled (kept across restarts).

use std::collections::BTreeSet;
use std::time::Duration;

use lambda_proto::node::v1 as pb;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::api::backend::run_blocking;
use crate::cluster::aae::peer::SyncPeer;
use crate::cluster::topology::Topology;
use crate::config::TransitionConfig;
use crate::error::{Error, Result};
use crate::placement::DeviceId;
use crate::storage::{Cf, WriteBatch};
use crate::store::LocalStore;
use crate::version::codec::object_from_pb;

const META_PULLED: &[u8] = b"pulled";
const FORMAT_V1: u8 = 1;

fn owns(topo: &Topology, layout: usize, p: u32, n: usize, node: &DeviceId) -> bool {
    topo.layouts()[layout]
        .placement()
        .preference_list(p)
        .iter()
        .take(n)
        .any(|d| d == node)
}

/// Partitions `me` must pull: those it owns in a live layout while not
/// owning them in an older live one (it may have missed writes since).
pub(super) fn partitions_to_pull(topo: &Topology, me: &DeviceId, n: usize) -> Vec<u32> {
    let Some(stable) = topo.stable() else {
        return Vec::new();
    };
    let layouts = topo.layouts().len();
    (0..stable.placement().partitions())
        .filter(|&p| {
            let owned: Vec<bool> = (0..layouts).map(|k| owns(topo, k, p, n, me)).collect();
            (1..layouts).any(|k| owned[k] && owned[..k].iter().any(|o| !o))
        })
        .collect()
}

/// For each non-stable layout (epoch, nodes): the nodes owning some
/// partition there that they do not own in the stable layout.
pub(super) fn joiners(topo: &Topology, n: usize) -> Vec<(u64, BTreeSet<DeviceId>)> {
    let Some(stable) = topo.stable() else {
        return Vec::new();
    };
    topo.layouts()[1..]
        .iter()
        .map(|l| {
            let mut js = BTreeSet::new();
            for p in 0..stable.placement().partitions() {
                let before = stable.placement().preference_list(p);
                let before = &before[..n.min(before.len())];
                for d in l.placement().preference_list(p).iter().take(n) {
                    if !before.contains(d) {
                        js.insert(d.clone());
                    }
                }
            }
            (l.epoch(), js)
        })
        .collect()
}

/// The owners of `p` in every live layout, stable first, without `me`.
pub(super) fn sources(topo: &Topology, p: u32, n: usize, me: &DeviceId) -> Vec<DeviceId> {
    let mut out: Vec<DeviceId> = Vec::new();
    for l in topo.layouts() {
        for d in l.placement().preference_list(p).iter().take(n) {
            if d != me && !out.contains(d) {
                out.push(d.clone());
            }
        }
    }
    out
}

/// Streams partition `p` from `peer` page by page, merging every object;
/// returns the bytes received.
pub(super) async fn stream(
    store: &std::sync::Arc<LocalStore>,
    peer: &SyncPeer,
    p: u32,
    config: &TransitionConfig,
    timeout: Duration,
) -> Result<u64> {
    let mut after: Option<Vec<u8>> = None;
    let mut bytes = 0u64;
    loop {
        let req = pb::FetchPartitionRequest {
            partition: p,
            after: after.clone().unwrap_or_default(),
            has_after: after.is_some(),
            max_keys: config.page_keys.max(1),
            max_bytes: config.page_bytes.max(1),
        };
        let resp = peer
            .fetch_partition(req.clone())
            .await
            .map_err(|e| Error::Internal(format!("pulling partition {p}: {e}")))?;
        bytes += (req.encoded_len() + resp.encoded_len()) as u64;
        let done = resp.done;
        let Some(last) = resp.entries.last() else {
            return Ok(bytes);
        };
        after = Some(last.key.clone());
        let mut objects = Vec::with_capacity(resp.entries.len());
        for e in resp.entries {
            let obj = object_from_pb(e.object.unwrap_or_default()).map_err(|err| {
                Error::Peer(format!(
                    "{}: object of key {}: {err}",
                    peer.id(),
                    hex::encode(&e.key)
                ))
            })?;
            objects.push((e.key, obj));
        }
        let s = store.clone();
        run_blocking(store, timeout, move || {
            for (key, obj) in &objects {
                s.merge(key, obj)?;
            }
            Ok(())
        })
        .await?;
        if done {
            return Ok(bytes);
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Pulled {
    epoch: u64,
    partitions: Vec<u32>,
}

/// Partitions recorded as pulled for `epoch`.
pub(super) fn load_done(store: &LocalStore, epoch: u64) -> Result<BTreeSet<u32>> {
    let Some(bytes) = store.engine().get(Cf::Meta, META_PULLED)? else {
        return Ok(BTreeSet::new());
    };
    let Some((&FORMAT_V1, body)) = bytes.split_first() else {
        return Ok(BTreeSet::new());
    };
    match serde_json::from_slice::<Pulled>(body) {
        Ok(p) if p.epoch == epoch => Ok(p.partitions.into_iter().collect()),
        _ => Ok(BTreeSet::new()),
    }
}

/// Records the partitions pulled for `epoch`.
pub(super) fn save_done(store: &LocalStore, epoch: u64, partitions: &[u32]) -> Result<()> {
    let body = serde_json::to_vec(&Pulled {
        epoch,
        partitions: partitions.to_vec(),
    })
    .map_err(|e| Error::Internal(format!("encoding pulled partitions: {e}")))?;
    let mut v = vec![FORMAT_V1];
    v.extend(body);
    let mut b = WriteBatch::new();
    b.put(Cf::Meta, META_PULLED, v);
    store.write_batch(b)
}
