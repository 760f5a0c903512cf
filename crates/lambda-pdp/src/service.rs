//! The storage node's side: a [`BlockSource`] over its store and the
//! `lambda.pdp.v1.Prover` gRPC service that answers challenges from it.
//!
//! The service is generic over the source, so the node plugs in its RocksDB
//! store and tests plug in [`MemorySource`]. A request names the object, the
//! metadata digest the challenger expects and the challenge; the service
//! reads the challenged blocks and tags and computes the proof on tokio's
//! blocking pool (a proof is milliseconds of CPU).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use lambda_proto::pdp::v1 as pb;
use tonic::{Request, Response, Status};

use crate::backend::Backend;
use crate::challenge::Challenge;
use crate::codec::decode_hash;
use crate::error::PdpError;
use crate::metadata::SignedMetadata;
use crate::proof::{Proof, prove_with};
use crate::tag::{Tag, TaggedObject};

/// Where a prover reads objects' metadata, blocks and tags.
pub trait BlockSource: Send + Sync + 'static {
    /// The signed metadata of `object`, or `None` if it is not held here.
    fn metadata(&self, object: &[u8]) -> Result<Option<SignedMetadata>, PdpError>;
    /// Block `index` of `object` (as long as its layout says), or `None`.
    fn block(&self, object: &[u8], index: u64) -> Result<Option<Vec<u8>>, PdpError>;
    /// The tag of block `index` of `object`, or `None`.
    fn tag(&self, object: &[u8], index: u64) -> Result<Option<Tag>, PdpError>;
}

fn lossy(object: &[u8]) -> String {
    String::from_utf8_lossy(object).into_owned()
}

/// Computes the proof of `challenge` for `object` from `source`, after
/// checking that the held metadata has digest `expected_digest`.
pub fn prove_from<S: BlockSource + ?Sized>(
    backend: Backend,
    source: &S,
    object: &[u8],
    expected_digest: &[u8; 32],
    challenge: &Challenge,
) -> Result<Proof, PdpError> {
    let signed = source
        .metadata(object)?
        .ok_or_else(|| PdpError::UnknownObject(lossy(object)))?;
    let metadata = signed.metadata();
    if &metadata.digest() != expected_digest {
        return Err(PdpError::ObjectMismatch);
    }
    prove_with(backend, metadata, challenge, |index| {
        let missing = |what| PdpError::BlockMissing {
            object: lossy(object),
            what,
            index,
        };
        let data = source
            .block(object, index)?
            .ok_or_else(|| missing("data"))?;
        let tag = source.tag(object, index)?.ok_or_else(|| missing("tag"))?;
        Ok((data, tag))
    })
}

/// The `Prover` gRPC service over a block source.
#[derive(Debug)]
pub struct ProverService<S> {
    source: Arc<S>,
    backend: Backend,
}

impl<S> Clone for ProverService<S> {
    fn clone(&self) -> Self {
        Self {
            source: Arc::clone(&self.source),
            backend: self.backend,
        }
    }
}

impl<S: BlockSource> ProverService<S> {
    /// A service answering from `source`, on the default backend.
    pub fn new(source: Arc<S>) -> Self {
        Self {
            source,
            backend: Backend::default(),
        }
    }

    /// The same service on `backend`.
    pub fn with_backend(self, backend: Backend) -> Self {
        Self { backend, ..self }
    }

    /// The tonic server wrapper, ready for `Server::add_service`.
    pub fn into_server(self) -> pb::prover_server::ProverServer<Self> {
        pb::prover_server::ProverServer::new(self)
    }
}

impl From<PdpError> for Status {
    fn from(e: PdpError) -> Self {
        let msg = e.to_string();
        match e {
            PdpError::UnknownObject(_) => Status::not_found(msg),
            PdpError::ObjectMismatch => Status::failed_precondition(msg),
            PdpError::BlockMissing { .. } | PdpError::BlockLength { .. } => Status::data_loss(msg),
            PdpError::Store(_) => Status::unavailable(msg),
            PdpError::IndexOutOfRange { .. }
            | PdpError::PairingCheckFailed
            | PdpError::Backend(_) => Status::internal(msg),
            _ => Status::invalid_argument(msg),
        }
    }
}

#[tonic::async_trait]
impl<S: BlockSource> pb::prover_server::Prover for ProverService<S> {
    async fn prove(
        &self,
        request: Request<pb::ProveRequest>,
    ) -> Result<Response<pb::ProveResponse>, Status> {
        let req = request.into_inner();
        let challenge = Challenge::try_from(
            req.challenge
                .as_ref()
                .ok_or(PdpError::MissingField("challenge"))?,
        )?;
        let digest = decode_hash(&req.metadata_digest, "metadata digest")?;
        let source = Arc::clone(&self.source);
        let object = req.object;
        let backend = self.backend;
        let proof = tokio::task::spawn_blocking(move || {
            prove_from(backend, &*source, &object, &digest, &challenge)
        })
        .await
        .map_err(|e| Status::internal(format!("proof task failed: {e}")))?
        .inspect_err(|e| tracing::warn!(error = %e, "pdp proof refused"))?;
        Ok(Response::new(pb::ProveResponse {
            proof: Some((&proof).into()),
        }))
    }
}

/// Objects by name: the tagged object and its data.
type Objects = HashMap<Vec<u8>, (TaggedObject, Vec<u8>)>;

/// An in-memory block source: tagged objects with their data.
#[derive(Debug, Default)]
pub struct MemorySource {
    objects: RwLock<Objects>,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `object` with its `data`, under the metadata's name.
    pub fn insert(&self, object: TaggedObject, data: Vec<u8>) -> Result<(), PdpError> {
        let name = object.metadata.metadata().name().to_vec();
        self.objects
            .write()
            .map_err(|_| PdpError::Store("memory source lock poisoned".into()))?
            .insert(name, (object, data));
        Ok(())
    }

    fn with<T>(
        &self,
        object: &[u8],
        f: impl FnOnce(&TaggedObject, &[u8]) -> Option<T>,
    ) -> Result<Option<T>, PdpError> {
        let map = self
            .objects
            .read()
            .map_err(|_| PdpError::Store("memory source lock poisoned".into()))?;
        Ok(map.get(object).and_then(|(o, d)| f(o, d)))
    }
}

impl BlockSource for MemorySource {
    fn metadata(&self, object: &[u8]) -> Result<Option<SignedMetadata>, PdpError> {
        self.with(object, |o, _| Some(o.metadata.clone()))
    }

    fn block(&self, object: &[u8], index: u64) -> Result<Option<Vec<u8>>, PdpError> {
        self.with(object, |o, d| {
            let range = o.metadata.metadata().layout().block_range(index).ok()?;
            d.get(range.start as usize..range.end as usize)
                .map(<[u8]>::to_vec)
        })
    }

    fn tag(&self, object: &[u8], index: u64) -> Result<Option<Tag>, PdpError> {
        self.with(object, |o, _| {
            o.tags.get(usize::try_from(index).ok()?).copied()
        })
    }
}
