//! Fault injection for multi-process tests: alter what a stopped node
//! stores, as a failing disk or a dishonest operator would, so that tests
//! can check that audits catch it. Nothing in the node calls this.

use std::path::Path;

use lambda_pdp::bundle::bundle_key;
use lambda_proto::pdp::v1 as pdp_pb;
use prost::Message;

use crate::keyspace::Keyspace;
use crate::storage::{Cf, Engine, RocksEngine, RocksOptions, WriteBatch};
use crate::version::codec::{decode_object, encode_object, object_from_pb, object_to_pb};

/// Why a fault could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The store could not be opened, read or written.
    #[error("{0}")]
    Store(String),
    /// The object is not there in the expected form.
    #[error("object {name}: {reason}")]
    Object {
        /// The object.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

fn store<E: std::fmt::Display>(e: E) -> FaultError {
    FaultError::Store(e.to_string())
}

/// Flips one byte (at `offset`, modulo the data length) of the data of the
/// audited object `name` stored by the stopped node whose data directory is
/// `data_dir` (RocksDB under `data_dir/db`, `partitions` partitions).
/// Fails when the node does not hold the object.
pub fn corrupt_audited_object(
    data_dir: &Path,
    partitions: u32,
    name: &str,
    offset: usize,
) -> Result<(), FaultError> {
    let bad = |reason: &str| FaultError::Object {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let engine = RocksEngine::open(&RocksOptions::new(data_dir.join("db"))).map_err(store)?;
    let key = Keyspace::new(partitions)
        .map_err(store)?
        .data_key(&bundle_key(name.as_bytes()));
    let stored = engine
        .get(Cf::Data, &key)
        .map_err(store)?
        .ok_or_else(|| bad("the node does not hold it"))?;
    let mut msg = object_to_pb(&decode_object(&stored).map_err(store)?);
    let sibling = msg
        .siblings
        .iter_mut()
        .find(|s| !s.tombstone)
        .ok_or_else(|| bad("deleted"))?;
    let mut bundle =
        pdp_pb::PdpBundle::decode(&sibling.value[..]).map_err(|_| bad("not a PDP bundle"))?;
    if bundle.data.is_empty() {
        return Err(bad("empty"));
    }
    let at = offset % bundle.data.len();
    bundle.data[at] ^= 0x01;
    sibling.value = bundle.encode_to_vec();
    let mut batch = WriteBatch::new();
    let object = object_from_pb(msg).map_err(store)?;
    batch.put(Cf::Data, key, encode_object(&object));
    engine.write(batch).map_err(store)?;
    engine.flush().map_err(store)?;
    Ok(())
}
