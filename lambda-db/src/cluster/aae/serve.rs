//! The answering side of anti-entropy, partition handoff and tombstone
//! collection: reads of the local tree and data turned into replica-protocol
//! messages. Plain functions over the store (and its hints), so the gRPC
//! service, the simulation and the benchmark's in-process peer share them.
//!
//! A tree found inconsistent while answering is rebuilt from the data and
//! the query answered from the rebuilt tree.

use lambda_proto::node::v1 as pb;

use crate::cluster::hints::HintStore;
use crate::error::{Error, Result};
use crate::merkle::{self, GROUPS, SEGMENTS};
use crate::store::LocalStore;
use crate::version::codec::{decode_object, object_from_pb, object_to_pb};

/// Most partitions in one roots request.
pub const MAX_ROOTS: usize = 4096;
/// Most keys in one multi-key request.
pub const MAX_KEYS: usize = 4096;

fn bad(what: String) -> Error {
    Error::Peer(what)
}

fn check_partition(store: &LocalStore, partition: u32) -> Result<()> {
    if partition >= store.keyspace().partitions() {
        return Err(bad(format!(
            "partition {partition} is out of range (the cluster has {})",
            store.keyspace().partitions()
        )));
    }
    Ok(())
}

fn check_count(what: &str, n: usize, max: usize) -> Result<()> {
    if n > max {
        return Err(bad(format!(
            "{n} {what} in one request, over the limit of {max}"
        )));
    }
    Ok(())
}

/// Runs a tree query; when the tree turns out inconsistent, rebuilds the
/// partition and runs it again.
fn with_rebuild<T>(store: &LocalStore, partition: u32, q: impl Fn() -> Result<T>) -> Result<T> {
    match q() {
        Err(Error::MerkleCorrupt { what, .. }) => {
            tracing::warn!(partition, %what, "anti-entropy tree inconsistent; rebuilding it");
            store.rebuild_merkle(partition)?;
            q()
        }
        other => other,
    }
}

/// Roots of the requested partitions.
pub fn roots(store: &LocalStore, req: &pb::MerkleRootsRequest) -> Result<pb::MerkleRootsResponse> {
    check_count("partitions", req.partitions.len(), MAX_ROOTS)?;
    let mut roots = Vec::with_capacity(req.partitions.len());
    for &p in &req.partitions {
        check_partition(store, p)?;
        let s = store.merkle().summary(p);
        roots.push(pb::PartitionRoot {
            partition: p,
            root: if s.keys == 0 {
                Vec::new()
            } else {
                s.root.to_be_bytes().to_vec()
            },
            keys: s.keys,
        });
    }
    Ok(pb::MerkleRootsResponse { roots })
}

/// Group hashes of one partition.
pub fn groups(
    store: &LocalStore,
    req: &pb::MerkleGroupsRequest,
) -> Result<pb::MerkleGroupsResponse> {
    check_partition(store, req.partition)?;
    let g = with_rebuild(store, req.partition, || {
        merkle::groups(store.engine().as_ref(), req.partition)
    })?;
    Ok(pb::MerkleGroupsResponse {
        hashes: g.iter().flat_map(|h| h.to_be_bytes()).collect(),
    })
}

/// Segment hashes of chosen groups.
pub fn segments(
    store: &LocalStore,
    req: &pb::MerkleSegmentsRequest,
) -> Result<pb::MerkleSegmentsResponse> {
    check_partition(store, req.partition)?;
    check_count("groups", req.groups.len(), GROUPS as usize)?;
    let segs = with_rebuild(store, req.partition, || {
        merkle::segments(store.engine().as_ref(), req.partition, &req.groups)
    })?;
    Ok(pb::MerkleSegmentsResponse {
        segments: segs
            .into_iter()
            .map(|s| pb::SegmentHash {
                segment: s.segment,
                hash: s.hash.to_be_bytes().to_vec(),
                keys: s.keys,
            })
            .collect(),
    })
}

/// Leaves of chosen segments.
pub fn keys(store: &LocalStore, req: &pb::MerkleKeysRequest) -> Result<pb::MerkleKeysResponse> {
    check_partition(store, req.partition)?;
    check_count("segments", req.segments.len(), SEGMENTS as usize)?;
    let leaves = with_rebuild(store, req.partition, || {
        merkle::segment_keys(store.engine().as_ref(), req.partition, &req.segments)
    })?;
    Ok(pb::MerkleKeysResponse {
        entries: leaves
            .into_iter()
            .map(|l| pb::KeyDigest {
                key: l.key,
                digest: l.digest.to_be_bytes().to_vec(),
            })
            .collect(),
    })
}

/// Stored objects of many keys, merged with hints when asked.
pub fn multi_get(
    store: &LocalStore,
    hints: Option<&HintStore>,
    req: &pb::MultiGetRequest,
) -> Result<pb::MultiGetResponse> {
    check_count("keys", req.keys.len(), MAX_KEYS)?;
    let mut objects = Vec::with_capacity(req.keys.len());
    for key in &req.keys {
        let mut obj = store.get(key)?;
        if let (true, Some(h)) = (req.with_hints, hints) {
            obj.sync(&h.merged_for_key(key)?);
        }
        objects.push(object_to_pb(&obj));
    }
    Ok(pb::MultiGetResponse { objects })
}

/// Merges objects of many keys.
pub fn multi_put(store: &LocalStore, req: pb::MultiPutRequest) -> Result<pb::MultiPutResponse> {
    check_count("keys", req.entries.len(), MAX_KEYS)?;
    for e in req.entries {
        let obj = object_from_pb(e.object.unwrap_or_default())
            .map_err(|err| bad(format!("object of key {}: {err}", hex::encode(&e.key))))?;
        store.merge(&e.key, &obj)?;
    }
    Ok(pb::MultiPutResponse {})
}

/// One page of a partition.
pub fn fetch_partition(
    store: &LocalStore,
    req: &pb::FetchPartitionRequest,
) -> Result<pb::FetchPartitionResponse> {
    check_partition(store, req.partition)?;
    let max_keys = (req.max_keys as usize).clamp(1, MAX_KEYS);
    let max_bytes = usize::try_from(req.max_bytes).unwrap_or(usize::MAX).max(1);
    let after = req.has_after.then_some(req.after.as_slice());
    let page = store.scan_partition(req.partition, after, max_keys, max_bytes)?;
    let mut entries = Vec::with_capacity(page.entries.len());
    for (key, bytes) in page.entries {
        let obj = decode_object(&bytes).map_err(|source| Error::Corrupt {
            key: hex::encode(&key),
            source,
        })?;
        entries.push(pb::KeyObject {
            key,
            object: Some(object_to_pb(&obj)),
        });
    }
    Ok(pb::FetchPartitionResponse {
        entries,
        done: page.done,
    })
}

/// Deletes keys still holding exactly the given objects.
pub fn reap(store: &LocalStore, req: pb::ReapRequest) -> Result<pb::ReapResponse> {
    check_count("keys", req.entries.len(), MAX_KEYS)?;
    let mut reaped = Vec::with_capacity(req.entries.len());
    for e in req.entries {
        let obj = object_from_pb(e.object.unwrap_or_default())
            .map_err(|err| bad(format!("object of key {}: {err}", hex::encode(&e.key))))?;
        if !obj.is_deleted() {
            return Err(bad(format!(
                "reap of key {} names an object that is not a tombstone",
                hex::encode(&e.key)
            )));
        }
        reaped.push(store.remove_if_equal(&e.key, &obj)?);
    }
    Ok(pb::ReapResponse { reaped })
}
