//! The receiving side of replica calls: merge an object, keep a hint, read
//! a replica, coordinate a forwarded write. Transport-independent, so the
//! gRPC service and the in-process simulation share it.

use std::sync::Arc;

use lambda_proto::node::v1 as pb;

use super::Cluster;
use crate::api::backend::run_blocking;
use crate::error::{Error, Result};
use crate::placement::DeviceId;
use crate::request::{RequestOptions, check_key};
use crate::version::codec::decode_context;
use crate::version::{Update, Value, VersionedObject};

impl Cluster {
    /// Refuses calls from nodes that are not members of the current epoch.
    pub fn check_member(&self, sender: Option<&str>) -> Result<()> {
        let view = self.view.get();
        match sender {
            Some(id) if view.is_member(&DeviceId(id.to_owned())) => Ok(()),
            Some(id) => Err(Error::NotMember(format!(
                "node {id} is not a member of epoch {}",
                view.epoch()
            ))),
            None => Err(Error::NotMember(
                "replica call without the x-lambda-node header".into(),
            )),
        }
    }

    pub(super) fn replica_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.replica_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Overloaded {
                what: "replica calls in flight",
                limit: self.limits.max_inflight_replica as u64,
                setting: "limits.max_inflight_replica",
            })
    }

    /// Merges `object` into this replica, or keeps it as a hint for
    /// `hint_for` when that is another node.
    pub async fn replica_put(
        self: &Arc<Self>,
        key: Vec<u8>,
        object: VersionedObject,
        hint_for: Option<DeviceId>,
    ) -> Result<()> {
        check_key(&key, &self.limits)?;
        let _slot = self.replica_slot()?;
        let this = self.clone();
        run_blocking(&self.store, self.rpc_timeout, move || match hint_for {
            Some(owner) if owner != this.self_id => this.hints.add(&owner, &key, &object),
            _ => this.store.merge(&key, &object).map(|_| ()),
        })
        .await
    }

    /// This replica's object for `key`, merged with hints held for it.
    pub async fn replica_get(self: &Arc<Self>, key: Vec<u8>) -> Result<VersionedObject> {
        check_key(&key, &self.limits)?;
        let _slot = self.replica_slot()?;
        let this = self.clone();
        run_blocking(&self.store, self.rpc_timeout, move || {
            let mut obj = this.store.get(&key)?;
            obj.sync(&this.hints.merged_for_key(&key)?);
            Ok(obj)
        })
        .await
    }

    /// Coordinates a write another node forwarded here.
    pub async fn replica_coordinate(
        self: &Arc<Self>,
        req: pb::CoordinateRequest,
    ) -> Result<VersionedObject> {
        check_key(&req.key, &self.limits)?;
        let now = crate::api::kv_service::now_ms();
        if req.deadline_ms > 0 && now > req.deadline_ms {
            return Err(Error::Timeout((now - req.deadline_ms) as u64));
        }
        let value = if req.tombstone {
            Value::Tombstone
        } else {
            crate::request::check_value(&req.value, &self.limits)?;
            Value::Live(req.value)
        };
        let context = decode_context(&req.context).map_err(Error::BadContext)?;
        let mut opts =
            RequestOptions::resolve(req.options.as_ref(), &self.replication, self.max_n)?;
        opts.forwarded = true;
        let update = Update {
            value,
            context,
            timestamp_ms: req.timestamp_ms,
            last_write_wins: opts.last_write_wins,
        };
        self.coordinate_write(req.key, update, opts).await
    }
}
