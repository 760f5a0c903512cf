//! Sealed blocks as audited objects: an [`ObjectStore`] that stores every
//! sealed time-series block (`ts/v1/block/…`) as a PDP bundle tagged with
//! the owner's key, registers a storage contract for it on the chain, and
//! reads blocks back out of their bundles. Index shards and catalogs (which
//! change) pass through to the wrapped store unaudited.
//!
//! An upload round that fails is retried with the same blocks. To keep
//! retries from re-tagging (new tags mean a new metadata digest, and a
//! contract registered for the old digest would then fail its audits), a
//! block whose bundle is already stored with the same bytes and owner is
//! not tagged again. A failed registration fails the upload, so the round
//! is retried until the contract is registered; audited uploads therefore
//! need the chain to be reachable.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use lambda_chain::client::ChainClient;
use lambda_chain::types::Hash;
use lambda_common::keys::SigningKey;
use lambda_pdp::Tagger;
use parking_lot::Mutex;

use super::error::{Result, TsdbError};
use super::remote::{ObjectStore, Versioned};
use crate::sdk::pdp::{AuditedObject, DEFAULT_SECTORS};
use crate::sdk::pdp_contract::{ContractTerms, register_contract};
use crate::sdk::{Client, pdp_key_of};

/// Prefix of the keys stored as audited objects.
pub const AUDITED_PREFIX: &str = "ts/v1/block/";

/// The owner and the terms of the contracts of sealed blocks.
#[derive(Clone)]
pub struct AuditSettings {
    /// The owner's chain account key (pays the contracts; the PDP key is
    /// derived from it).
    pub account: SigningKey,
    /// Validators' API endpoints, tried in order.
    pub chain_endpoints: Vec<String>,
    /// Contract terms of each block.
    pub terms: ContractTerms,
    /// Sectors per PDP block.
    pub sectors: u32,
}

impl fmt::Debug for AuditSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSettings")
            .field("owner", &self.account.public().address())
            .field("chain_endpoints", &self.chain_endpoints)
            .field("terms", &self.terms)
            .field("sectors", &self.sectors)
            .finish()
    }
}

/// Stores sealed blocks as audited objects with contracts.
pub struct AuditedStore {
    inner: Arc<dyn ObjectStore>,
    client: Client,
    tagger: Tagger,
    settings: AuditSettings,
    registered: Mutex<BTreeMap<String, Hash>>,
}

impl fmt::Debug for AuditedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditedStore")
            .field("settings", &self.settings)
            .field("registered", &self.registered.lock().len())
            .finish()
    }
}

fn remote(e: impl fmt::Display) -> TsdbError {
    TsdbError::Remote(e.to_string())
}

impl AuditedStore {
    /// Wraps `inner`; audited objects go through `client`.
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        client: Client,
        settings: AuditSettings,
    ) -> Result<Self> {
        let keys = pdp_key_of(&settings.account).map_err(remote)?;
        Ok(Self {
            inner,
            client,
            tagger: Tagger::new(keys),
            settings: AuditSettings {
                sectors: if settings.sectors == 0 {
                    DEFAULT_SECTORS
                } else {
                    settings.sectors
                },
                ..settings
            },
            registered: Mutex::new(BTreeMap::new()),
        })
    }

    /// The contracts this store registered so far: object name → id.
    pub fn contracts(&self) -> BTreeMap<String, Hash> {
        self.registered.lock().clone()
    }

    /// The stored object if it already holds exactly `value` tagged by us.
    async fn existing(&self, key: &str, value: &[u8]) -> Option<AuditedObject> {
        let bundle = self.client.get_audited(key).await.ok()??;
        let ours = bundle.metadata().metadata().owner() == self.tagger.keys().public();
        (ours && bundle.data() == value).then(|| AuditedObject::of(&bundle))
    }

    async fn register(&self, object: &AuditedObject) -> Result<()> {
        if self.registered.lock().contains_key(&object.name) {
            return Ok(());
        }
        let mut last = String::from("no chain endpoint configured");
        for endpoint in &self.settings.chain_endpoints {
            let mut chain = match ChainClient::connect(endpoint).await {
                Ok(c) => c,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            match register_contract(
                &mut chain,
                &self.settings.account,
                object,
                self.settings.terms,
            )
            .await
            {
                Ok(r) => {
                    tracing::info!(object = %object.name, contract = %r.contract, tx = %r.tx, "storage contract submitted");
                    self.registered
                        .lock()
                        .insert(object.name.clone(), r.contract);
                    return Ok(());
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(TsdbError::Remote(format!(
            "registering the contract of {}: {last}",
            object.name
        )))
    }
}

#[async_trait]
impl ObjectStore for AuditedStore {
    async fn put_immutable(&self, key: &str, value: Vec<u8>) -> Result<()> {
        if !key.starts_with(AUDITED_PREFIX) {
            return self.inner.put_immutable(key, value).await;
        }
        let object = match self.existing(key, &value).await {
            Some(o) => o,
            None => self
                .client
                .put_audited(key, value, &self.tagger, self.settings.sectors)
                .await
                .map_err(remote)?,
        };
        self.register(&object).await
    }

    async fn get(&self, key: &str) -> Result<Versioned> {
        if !key.starts_with(AUDITED_PREFIX) {
            return self.inner.get(key).await;
        }
        let values = self
            .client
            .get_audited(key)
            .await
            .map_err(remote)?
            .map(lambda_pdp::Bundle::into_data)
            .into_iter()
            .collect();
        Ok(Versioned {
            values,
            context: Vec::new(),
        })
    }

    async fn put_versioned(&self, key: &str, value: Vec<u8>, context: &[u8]) -> Result<()> {
        self.inner.put_versioned(key, value, context).await
    }
}
