//! The node's side of PDP audits: a [`BlockSource`] over the local store, so
//! the node answers validators' challenges (`lambda.pdp.v1.Prover`, served
//! on its gRPC port) from what it holds itself.
//!
//! An audited object is one value, a PDP bundle (tag metadata, tags, data;
//! see `lambda_pdp::bundle`) under the key `pdp/` ‖ name. The source reads
//! that key from the local store only, never through the quorum: a node
//! that lost or altered its copy must fail its own audit even when the other
//! replicas are intact. If the key holds several live siblings, the newest
//! one that decodes as a bundle is proven.
//!
//! A proof asks first for the metadata, then for each challenged block and
//! tag. The metadata call reads and decodes the bundle afresh and keeps it
//! in a small cache that the block and tag calls of the same proof read, so
//! one proof reads the value from RocksDB once.

use std::collections::VecDeque;
use std::sync::Arc;

use lambda_pdp::bundle::{Bundle, bundle_key};
use lambda_pdp::{BlockSource, PdpError, SignedMetadata, Tag};
use parking_lot::Mutex;

use crate::store::LocalStore;

/// Decoded bundles kept for the proofs in progress.
const CACHE_ENTRIES: usize = 4;

type Cache = VecDeque<(Vec<u8>, Arc<Bundle>)>;

/// PDP blocks and tags read from the node's local store.
#[derive(Debug)]
pub struct PdpSource {
    store: Arc<LocalStore>,
    cache: Mutex<Cache>,
}

fn lossy(object: &[u8]) -> String {
    String::from_utf8_lossy(object).into_owned()
}

impl PdpSource {
    /// A source over `store`.
    pub fn new(store: Arc<LocalStore>) -> Self {
        Self {
            store,
            cache: Mutex::new(VecDeque::with_capacity(CACHE_ENTRIES)),
        }
    }

    /// Reads and decodes the bundle of `object` from the local store (and
    /// caches it); `None` if the node holds no live value for it.
    pub fn load(&self, object: &[u8]) -> Result<Option<Arc<Bundle>>, PdpError> {
        let key = bundle_key(object);
        let stored = self
            .store
            .get(&key)
            .map_err(|e| PdpError::Store(e.to_string()))?;
        let mut live: Vec<_> = stored.live().collect();
        if live.is_empty() {
            self.forget(object);
            return Ok(None);
        }
        live.sort_by_key(|s| std::cmp::Reverse((s.timestamp_ms, s.dot)));
        let mut last_error = None;
        for sibling in live {
            let Some(bytes) = sibling.value.bytes() else {
                continue;
            };
            match Bundle::decode(bytes) {
                Ok(b) if b.name() == object => {
                    let b = Arc::new(b);
                    self.remember(object, b.clone());
                    return Ok(Some(b));
                }
                Ok(b) => last_error = Some(format!("it names object {}", lossy(b.name()))),
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        self.forget(object);
        Err(PdpError::Store(format!(
            "the stored value of object {} is not a valid PDP bundle: {}",
            lossy(object),
            last_error.unwrap_or_default()
        )))
    }

    fn cached(&self, object: &[u8]) -> Result<Option<Arc<Bundle>>, PdpError> {
        let hit = self
            .cache
            .lock()
            .iter()
            .find(|(name, _)| name == object)
            .map(|(_, b)| b.clone());
        match hit {
            Some(b) => Ok(Some(b)),
            None => self.load(object),
        }
    }

    fn remember(&self, object: &[u8], bundle: Arc<Bundle>) {
        let mut cache = self.cache.lock();
        cache.retain(|(name, _)| name != object);
        if cache.len() >= CACHE_ENTRIES {
            cache.pop_back();
        }
        cache.push_front((object.to_vec(), bundle));
    }

    fn forget(&self, object: &[u8]) {
        self.cache.lock().retain(|(name, _)| name != object);
    }
}

impl BlockSource for PdpSource {
    fn metadata(&self, object: &[u8]) -> Result<Option<SignedMetadata>, PdpError> {
        Ok(self.load(object)?.map(|b| b.metadata().clone()))
    }

    fn block(&self, object: &[u8], index: u64) -> Result<Option<Vec<u8>>, PdpError> {
        Ok(self
            .cached(object)?
            .and_then(|b| b.block(index).map(<[u8]>::to_vec)))
    }

    fn tag(&self, object: &[u8], index: u64) -> Result<Option<Tag>, PdpError> {
        match self.cached(object)? {
            Some(b) => b.tag(index),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Keyspace;
    use crate::storage::MemoryEngine;
    use crate::version::{Update, Value, VersionVector};
    use lambda_pdp::{Challenge, KeyPair, Tagger, Verifier, prove_from};

    fn put(store: &LocalStore, key: &[u8], value: Vec<u8>) {
        store
            .coordinate(
                key,
                Update {
                    value: Value::Live(value),
                    context: VersionVector::new(),
                    timestamp_ms: 1,
                    last_write_wins: true,
                },
            )
            .unwrap();
    }

    fn setup() -> (Arc<LocalStore>, PdpSource, Bundle) {
        let store = Arc::new(
            LocalStore::open(Arc::new(MemoryEngine::new()), Keyspace::new(16).unwrap()).unwrap(),
        );
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let obj = Tagger::new(KeyPair::generate())
            .tag(b"obj", &data, 8)
            .unwrap();
        let bundle = Bundle::new(obj, data).unwrap();
        put(&store, &bundle_key(b"obj"), bundle.encode());
        (store.clone(), PdpSource::new(store), bundle)
    }

    #[test]
    fn proves_what_the_store_holds() {
        let (_, source, bundle) = setup();
        let verifier = Verifier::new(bundle.metadata()).unwrap();
        let challenge = Challenge::new([3; 32], 460).unwrap();
        let proof = prove_from(
            Default::default(),
            &source,
            b"obj",
            verifier.digest(),
            &challenge,
        )
        .unwrap();
        verifier.verify(&challenge, &proof).unwrap();
        assert!(source.metadata(b"other").unwrap().is_none());
    }

    #[test]
    fn altered_data_fails_verification() {
        let (store, source, bundle) = setup();
        let verifier = Verifier::new(bundle.metadata()).unwrap();
        let mut data = bundle.data().to_vec();
        data[1234] ^= 1;
        let altered = Bundle::decode(&bundle.encode())
            .map(|b| {
                let meta = b.metadata().clone();
                let tags = (0..meta.metadata().blocks())
                    .map(|i| b.tag(i).unwrap().unwrap())
                    .collect();
                Bundle::new(
                    lambda_pdp::TaggedObject {
                        metadata: meta,
                        tags,
                    },
                    data,
                )
                .unwrap()
            })
            .unwrap();
        put(&store, &bundle_key(b"obj"), altered.encode());
        let challenge = Challenge::new([4; 32], 460).unwrap();
        let proof = prove_from(
            Default::default(),
            &source,
            b"obj",
            verifier.digest(),
            &challenge,
        )
        .unwrap();
        assert_eq!(
            verifier.verify(&challenge, &proof),
            Err(PdpError::PairingCheckFailed)
        );
    }

    #[test]
    fn a_value_that_is_not_a_bundle_is_an_error_naming_it() {
        let (store, source, _) = setup();
        put(&store, &bundle_key(b"obj"), b"garbage".to_vec());
        let e = source.metadata(b"obj").unwrap_err().to_string();
        assert!(e.contains("not a valid PDP bundle"), "{e}");
    }
}
