//! One anti-entropy exchange between this node and a peer, over partitions
//! both hold: compare roots (many partitions per call), then for each
//! partition whose roots differ the 32 group hashes, then the segments of
//! the differing groups, then the (key, digest) leaves of the differing
//! segments; finally only the keys whose digests differ move, in both
//! directions: the peer's objects are fetched and merged here, and the
//! merged object goes back to the peer when it differs from the peer's.
//! Merging is idempotent, so an exchange interrupted half-way, repeated, or
//! racing with writes is harmless.
//!
//! Every message's protobuf size (requests and answers) is counted, so the
//! bytes an exchange costs can be compared with the bytes that differed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lambda_proto::node::v1 as pb;
use prost::Message;

use super::peer::SyncPeer;
use crate::api::backend::run_blocking;
use crate::cluster::transport::RpcError;
use crate::error::{Error, Result};
use crate::merkle::{self, Digest, GROUPS};
use crate::store::LocalStore;
use crate::version::VersionedObject;
use crate::version::codec::{object_from_pb, object_to_pb};

/// Limits of one exchange.
#[derive(Clone, Debug)]
pub struct ExchangeLimits {
    /// Most differing keys moved per partition per exchange (the rest waits
    /// for the next one).
    pub max_keys: usize,
    /// Keys per multi-get / multi-put call.
    pub batch_keys: usize,
    /// Deadline of local store calls.
    pub local_timeout: Duration,
}

impl Default for ExchangeLimits {
    fn default() -> Self {
        Self {
            max_keys: 10_000,
            batch_keys: 256,
            local_timeout: Duration::from_secs(30),
        }
    }
}

/// What an exchange did for one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionOutcome {
    /// The partition.
    pub partition: u32,
    /// The roots were equal: nothing else was sent.
    pub equal: bool,
    /// Keys whose objects differed and were exchanged.
    pub keys_repaired: u64,
    /// Objects fetched from the peer.
    pub fetched: u64,
    /// Objects sent to the peer.
    pub pushed: u64,
    /// Bytes of this partition's messages (its share of the roots call
    /// included).
    pub bytes: u64,
    /// False when more keys differed than `max_keys`.
    pub complete: bool,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The peer failed a call.
    #[error(transparent)]
    Peer(#[from] RpcError),
    /// The local store failed.
    #[error("local store: {0}")]
    Local(#[from] Error),
}

fn digest_from(peer: &SyncPeer, bytes: &[u8]) -> Result<Digest, RpcError> {
    if bytes.is_empty() {
        return Ok(0);
    }
    let arr: [u8; 16] = bytes.try_into().map_err(|_| RpcError::Invalid {
        peer: peer.id().clone(),
        reason: format!("a digest of {} bytes, 16 expected", bytes.len()),
    })?;
    Ok(u128::from_be_bytes(arr))
}

fn size<M: Message>(m: &M) -> u64 {
    m.encoded_len() as u64
}

/// This node's side of exchanges.
#[derive(Clone, Debug)]
pub struct Exchanger {
    store: Arc<LocalStore>,
    limits: ExchangeLimits,
}

impl Exchanger {
    /// Exchanges over `store`.
    pub fn new(store: Arc<LocalStore>, limits: ExchangeLimits) -> Self {
        Self { store, limits }
    }

    async fn local<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&LocalStore) -> Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        run_blocking(&self.store, self.limits.local_timeout, move || f(&store)).await
    }

    /// Runs a local tree query, rebuilding the partition's tree once if it
    /// is found inconsistent.
    async fn tree<T, F>(&self, partition: u32, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&LocalStore) -> Result<T> + Send + Sync + 'static,
    {
        self.local(move |s| match f(s) {
            Err(Error::MerkleCorrupt { what, .. }) => {
                tracing::warn!(partition, %what, "local anti-entropy tree inconsistent; rebuilding it");
                s.rebuild_merkle(partition)?;
                f(s)
            }
            other => other,
        })
        .await
    }

    /// Exchanges `partitions` with `peer`: one roots call, then a descent
    /// into each partition whose roots differ.
    pub async fn exchange(
        &self,
        peer: &SyncPeer,
        partitions: &[u32],
    ) -> Result<Vec<PartitionOutcome>, ExchangeError> {
        let req = pb::MerkleRootsRequest {
            partitions: partitions.to_vec(),
        };
        let resp = peer.roots(req.clone()).await?;
        let share = (size(&req) + size(&resp)) / partitions.len().max(1) as u64;
        let theirs: BTreeMap<u32, (Digest, u64)> = resp
            .roots
            .iter()
            .map(|r| Ok((r.partition, (digest_from(peer, &r.root)?, r.keys))))
            .collect::<Result<_, RpcError>>()?;
        let mut out = Vec::with_capacity(partitions.len());
        for &p in partitions {
            let mine = self.store.merkle().summary(p);
            let (root, keys) = theirs.get(&p).copied().unwrap_or((0, 0));
            let mut outcome = if (mine.root, mine.keys) == (root, keys) {
                PartitionOutcome {
                    partition: p,
                    equal: true,
                    complete: true,
                    ..PartitionOutcome::default()
                }
            } else {
                self.descend(peer, p).await?
            };
            outcome.bytes += share;
            out.push(outcome);
        }
        Ok(out)
    }

    /// Compares one partition level by level and moves the differing keys.
    async fn descend(&self, peer: &SyncPeer, p: u32) -> Result<PartitionOutcome, ExchangeError> {
        let mut out = PartitionOutcome {
            partition: p,
            ..PartitionOutcome::default()
        };
        // Groups.
        let req = pb::MerkleGroupsRequest { partition: p };
        let resp = peer.groups(req).await?;
        out.bytes += size(&req) + size(&resp);
        if resp.hashes.len() != GROUPS as usize * 16 {
            return Err(RpcError::Invalid {
                peer: peer.id().clone(),
                reason: format!(
                    "{} bytes of group hashes, {} expected",
                    resp.hashes.len(),
                    GROUPS * 16
                ),
            }
            .into());
        }
        let mine = self
            .tree(p, move |s| merkle::groups(s.engine().as_ref(), p))
            .await?;
        let groups: Vec<u32> = (0..GROUPS)
            .filter(|g| {
                let i = *g as usize * 16;
                resp.hashes[i..i + 16] != mine[*g as usize].to_be_bytes()
            })
            .collect();
        // Segments of the differing groups.
        let req = pb::MerkleSegmentsRequest {
            partition: p,
            groups: groups.clone(),
        };
        let resp = peer.segments(req.clone()).await?;
        out.bytes += size(&req) + size(&resp);
        let mut theirs: BTreeMap<u32, Digest> = BTreeMap::new();
        for s in &resp.segments {
            theirs.insert(s.segment, digest_from(peer, &s.hash)?);
        }
        let mine = self
            .tree(p, move |s| {
                merkle::segments(s.engine().as_ref(), p, &groups)
            })
            .await?;
        let mut differing: Vec<u32> = Vec::new();
        for s in &mine {
            if theirs.remove(&s.segment) != Some(s.hash) {
                differing.push(s.segment);
            }
        }
        differing.extend(theirs.into_keys());
        differing.sort_unstable();
        differing.dedup();
        // Leaves of the differing segments.
        let req = pb::MerkleKeysRequest {
            partition: p,
            segments: differing.clone(),
        };
        let resp = peer.keys(req.clone()).await?;
        out.bytes += size(&req) + size(&resp);
        let mut theirs: BTreeMap<Vec<u8>, Digest> = BTreeMap::new();
        for e in resp.entries {
            let d = digest_from(peer, &e.digest)?;
            theirs.insert(e.key, d);
        }
        let mine = self
            .tree(p, move |s| {
                merkle::segment_keys(s.engine().as_ref(), p, &differing)
            })
            .await?;
        let mut fetch: Vec<(Vec<u8>, Digest)> = Vec::new();
        let mut push_only: Vec<Vec<u8>> = Vec::new();
        for leaf in mine {
            match theirs.remove(&leaf.key) {
                Some(d) if d == leaf.digest => {}
                Some(d) => fetch.push((leaf.key, d)),
                None => push_only.push(leaf.key),
            }
        }
        fetch.extend(theirs);
        fetch.sort();
        let total = fetch.len() + push_only.len();
        out.complete = total <= self.limits.max_keys;
        fetch.truncate(self.limits.max_keys);
        push_only.truncate(self.limits.max_keys.saturating_sub(fetch.len()));
        out.keys_repaired = (fetch.len() + push_only.len()) as u64;
        self.move_keys(peer, fetch, push_only, &mut out).await?;
        Ok(out)
    }

    /// Fetches and merges the peer's objects of `fetch`; sends back the
    /// merged objects that differ from the peer's, and ours of `push_only`.
    async fn move_keys(
        &self,
        peer: &SyncPeer,
        fetch: Vec<(Vec<u8>, Digest)>,
        push_only: Vec<Vec<u8>>,
        out: &mut PartitionOutcome,
    ) -> Result<(), ExchangeError> {
        let mut to_push: Vec<pb::KeyObject> = Vec::new();
        for chunk in fetch.chunks(self.limits.batch_keys.max(1)) {
            let req = pb::MultiGetRequest {
                keys: chunk.iter().map(|(k, _)| k.clone()).collect(),
                with_hints: false,
            };
            let resp = peer.multi_get(req.clone()).await?;
            out.bytes += size(&req) + size(&resp);
            if resp.objects.len() != chunk.len() {
                return Err(RpcError::Invalid {
                    peer: peer.id().clone(),
                    reason: format!("{} objects for {} keys", resp.objects.len(), chunk.len()),
                }
                .into());
            }
            let mut objects = Vec::with_capacity(chunk.len());
            for ((key, their_digest), obj) in chunk.iter().zip(resp.objects) {
                let obj = object_from_pb(obj).map_err(|e| RpcError::Invalid {
                    peer: peer.id().clone(),
                    reason: format!("object of key {}: {e}", hex::encode(key)),
                })?;
                objects.push((key.clone(), *their_digest, obj));
            }
            out.fetched += objects.len() as u64;
            let merged = self
                .local(move |s| {
                    let mut back = Vec::new();
                    for (key, their_digest, obj) in objects {
                        let m = s.merge(&key, &obj)?;
                        let bytes = crate::version::codec::encode_object(&m);
                        if obj.is_empty() || merkle::digest(&key, &bytes) != their_digest {
                            back.push((key, m));
                        }
                    }
                    Ok(back)
                })
                .await?;
            to_push.extend(merged.into_iter().map(|(key, m)| pb::KeyObject {
                key,
                object: Some(object_to_pb(&m)),
            }));
        }
        let mine = self
            .local(move |s| {
                push_only
                    .into_iter()
                    .map(|k| s.get(&k).map(|o| (k, o)))
                    .collect::<Result<Vec<(Vec<u8>, VersionedObject)>>>()
            })
            .await?;
        to_push.extend(
            mine.into_iter()
                .filter(|(_, o)| !o.is_empty())
                .map(|(key, o)| pb::KeyObject {
                    key,
                    object: Some(object_to_pb(&o)),
                }),
        );
        out.pushed += to_push.len() as u64;
        for chunk in to_push.chunks(self.limits.batch_keys.max(1)) {
            let req = pb::MultiPutRequest {
                entries: chunk.to_vec(),
            };
            let resp = peer.multi_put(req.clone()).await?;
            out.bytes += size(&req) + size(&resp);
        }
        Ok(())
    }
}
