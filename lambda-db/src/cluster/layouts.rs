//! The layouts (epoch memberships) a node serves, kept in its `meta` family
//! so that a restart resumes a membership change where it was, and learnt
//! from peers by a node that starts with an empty data directory (it cannot
//! know from the membership file alone which epoch's owners hold the data
//! now).

use std::time::Duration;

use lambda_proto::node::v1 as pb;
use lambda_proto::node::v1::admin_client::AdminClient;

use super::membership::{EpochMembers, Member};
use crate::error::{Error, Result};
use crate::placement::DeviceId;
use crate::storage::{Cf, WriteBatch};
use crate::store::LocalStore;

const META_LAYOUTS: &[u8] = b"layouts";
const FORMAT_V1: u8 = 1;

/// The persisted layouts, oldest first (empty for a new data directory).
pub fn load(store: &LocalStore) -> Result<Vec<EpochMembers>> {
    let Some(bytes) = store.engine().get(Cf::Meta, META_LAYOUTS)? else {
        return Ok(Vec::new());
    };
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => serde_json::from_slice(body)
            .map_err(|e| Error::Layout(format!("persisted layouts do not decode: {e}"))),
        _ => Err(Error::Layout(
            "persisted layouts are not in a known format".into(),
        )),
    }
}

/// Persists `layouts`.
pub fn save(store: &LocalStore, layouts: &[EpochMembers]) -> Result<()> {
    let mut v = vec![FORMAT_V1];
    v.extend(
        serde_json::to_vec(layouts)
            .map_err(|e| Error::Internal(format!("encoding layouts: {e}")))?,
    );
    let mut b = WriteBatch::new();
    b.put(Cf::Meta, META_LAYOUTS, v);
    store.write_batch(b)
}

/// Adds `newer` to `layouts` when its epoch is above all of theirs; returns
/// whether it did. An epoch at or below the newest is ignored (with a warning
/// when it names other members).
pub fn push_newer(layouts: &mut Vec<EpochMembers>, newer: &EpochMembers) -> bool {
    match layouts.last() {
        Some(last) if newer.epoch <= last.epoch => {
            if newer.epoch == last.epoch && newer != last {
                tracing::warn!(
                    epoch = newer.epoch,
                    "membership changed without a new epoch; ignored (raise the epoch)"
                );
            }
            false
        }
        _ => {
            layouts.push(newer.clone());
            true
        }
    }
}

/// Inserts every layout of `theirs` newer than our stable one that we lack,
/// in epoch order; returns whether anything was added.
pub fn merge_newer(layouts: &mut Vec<EpochMembers>, theirs: &[EpochMembers]) -> bool {
    let stable = layouts.first().map_or(0, |l| l.epoch);
    let mut added = false;
    for t in theirs {
        if t.epoch > stable && !layouts.iter().any(|l| l.epoch == t.epoch) {
            layouts.push(t.clone());
            added = true;
        }
    }
    layouts.sort_by_key(|l| l.epoch);
    added
}

/// The wire form.
pub fn to_pb(layouts: &[EpochMembers]) -> pb::LayoutsResponse {
    pb::LayoutsResponse {
        layouts: layouts
            .iter()
            .map(|l| pb::Layout {
                epoch: l.epoch,
                members: l
                    .members
                    .iter()
                    .map(|m| pb::LayoutMember {
                        id: m.id.0.clone(),
                        endpoint: m.endpoint.clone(),
                        gossip: m.gossip.to_string(),
                        capacity: m.capacity,
                        bandwidth: m.bandwidth,
                        zone: m.zone.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Validates the wire form.
pub fn from_pb(resp: pb::LayoutsResponse) -> Result<Vec<EpochMembers>> {
    let mut out = Vec::with_capacity(resp.layouts.len());
    for l in resp.layouts {
        let mut members = Vec::with_capacity(l.members.len());
        for m in l.members {
            let gossip = m.gossip.parse().map_err(|_| {
                Error::Peer(format!(
                    "layout {}: bad gossip address {}",
                    l.epoch, m.gossip
                ))
            })?;
            members.push(Member {
                id: DeviceId(m.id),
                endpoint: m.endpoint,
                gossip,
                capacity: m.capacity,
                bandwidth: m.bandwidth,
                zone: m.zone,
            });
        }
        let e = EpochMembers {
            epoch: l.epoch,
            members,
        };
        e.validate()?;
        out.push(e);
    }
    if out.windows(2).any(|w| w[0].epoch >= w[1].epoch) {
        return Err(Error::Peer(
            "layouts are not in increasing epoch order".into(),
        ));
    }
    Ok(out)
}

/// Asks the node at `endpoint` for its layouts.
pub async fn fetch(endpoint: &str, timeout: Duration) -> Result<Vec<EpochMembers>> {
    let uri = format!("http://{endpoint}");
    let channel = tonic::transport::Endpoint::from_shared(uri)
        .map_err(|e| Error::Peer(format!("endpoint {endpoint}: {e}")))?
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect_lazy();
    let resp = AdminClient::new(channel)
        .layouts(pb::LayoutsRequest {})
        .await
        .map_err(|s| Error::Peer(format!("{endpoint}: {}", s.message())))?;
    from_pb(resp.into_inner())
}

/// The layouts a node starts with: those it persisted, or — for a new data
/// directory — those of its peers (the one whose stable layout is oldest,
/// since only it still knows every place data may be), then the membership
/// file's if it is newer. With no persisted layouts and no peer answering,
/// the file alone (a new cluster).
pub async fn initial(
    store: &LocalStore,
    file: &EpochMembers,
    self_id: &DeviceId,
    timeout: Duration,
) -> Result<Vec<EpochMembers>> {
    let mut layouts = load(store)?;
    if layouts.is_empty() {
        let peers: Vec<&Member> = file.members.iter().filter(|m| m.id != *self_id).collect();
        let asks = peers.iter().map(|m| fetch(&m.endpoint, timeout));
        let answers = futures::future::join_all(asks).await;
        let best = answers
            .into_iter()
            .filter_map(|a| a.ok())
            .filter(|l| !l.is_empty())
            .min_by_key(|l| l.first().map_or(u64::MAX, |f| f.epoch));
        if let Some(theirs) = best {
            tracing::info!(
                stable = theirs.first().map_or(0, |f| f.epoch),
                layouts = theirs.len(),
                "new data directory: took the cluster's layouts from a peer"
            );
            layouts = theirs;
        }
    }
    push_newer(&mut layouts, file);
    save(store, &layouts)?;
    Ok(layouts)
}
