//! The SDK client: a gRPC channel to a set of storage nodes and typed
//! get/put/delete calls.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_proto::kv::v1 as pb;
use lambda_proto::kv::v1::kv_client::KvClient;
use tonic::transport::{Channel, Endpoint};

use super::SdkError;

/// How to reach the cluster.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Storage node addresses, e.g. `http://127.0.0.1:7070`.
    pub endpoints: Vec<String>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request.
    pub request_timeout: Duration,
    /// Replication options sent with every request (unset: cluster defaults).
    pub options: pb::RequestOptions,
}

impl ClientConfig {
    /// Defaults (2 s to connect, 10 s per request) for these endpoints.
    pub fn new<I, S>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            options: pb::RequestOptions::default(),
        }
    }
}

/// An opaque causal context from a read or write. Pass it to the next write
/// of the same key so that the write supersedes what was read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context(pub Vec<u8>);

impl Context {
    /// The context as URL-safe base64 text, for command lines and JSON.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    /// Parses the text form.
    pub fn from_text(s: &str) -> Result<Self, SdkError> {
        URL_SAFE_NO_PAD
            .decode(s.trim())
            .map(Self)
            .map_err(|e| SdkError::InvalidArgument(format!("context is not valid base64: {e}")))
    }

    /// True for the empty context (a key never written).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One value of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sibling {
    /// The bytes.
    pub value: Vec<u8>,
    /// Coordinator time of the write, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The coordinator's actor id (hex) and counter: which write this is.
    pub actor: String,
    /// The actor's counter.
    pub counter: u64,
}

impl From<pb::Sibling> for Sibling {
    fn from(s: pb::Sibling) -> Self {
        Self {
            value: s.value,
            timestamp_ms: s.timestamp_ms,
            actor: s.actor,
            counter: s.counter,
        }
    }
}

/// The answer to a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadResult {
    /// False when the key has no live value.
    pub found: bool,
    /// Concurrent values; more than one means writes no context reconciled.
    pub siblings: Vec<Sibling>,
    /// The context covering this read.
    pub context: Context,
}

/// The answer to a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteResult {
    /// The context after the write.
    pub context: Context,
    /// Live values after the write (empty after a delete).
    pub siblings: Vec<Sibling>,
}

/// A client of the KV API.
#[derive(Clone, Debug)]
pub struct Client {
    kv: KvClient<Channel>,
    config: ClientConfig,
}

fn endpoint(uri: &str, cfg: &ClientConfig) -> Result<Endpoint, SdkError> {
    let uri = if uri.contains("://") {
        uri.to_string()
    } else {
        format!("http://{uri}")
    };
    Endpoint::from_shared(uri.clone())
        .map(|e| {
            e.connect_timeout(cfg.connect_timeout)
                .timeout(cfg.request_timeout)
                .tcp_nodelay(true)
        })
        .map_err(|e| SdkError::InvalidEndpoint {
            endpoint: uri,
            reason: e.to_string(),
        })
}

impl Client {
    /// A client that spreads requests over the configured endpoints.
    /// Connections open lazily, so this succeeds even if nodes are down.
    pub async fn connect(config: ClientConfig) -> Result<Self, SdkError> {
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| endpoint(e, &config))
            .collect::<Result<Vec<_>, _>>()?;
        let channel = match endpoints.as_slice() {
            [] => return Err(SdkError::NoEndpoints),
            [one] => one.connect_lazy(),
            _ => Channel::balance_list(endpoints.into_iter()),
        };
        let kv = KvClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        Ok(Self { kv, config })
    }

    fn options(&self) -> Option<pb::RequestOptions> {
        Some(self.config.options)
    }

    /// Reads a key.
    pub async fn get(&self, key: &[u8]) -> Result<ReadResult, SdkError> {
        let resp = self
            .kv
            .clone()
            .get(pb::GetRequest {
                key: key.to_vec(),
                options: self.options(),
            })
            .await?
            .into_inner();
        Ok(ReadResult {
            found: resp.found,
            siblings: resp.siblings.into_iter().map(Sibling::from).collect(),
            context: Context(resp.context),
        })
    }

    /// Writes a value; with `context`, it supersedes what that read saw.
    pub async fn put(
        &self,
        key: &[u8],
        value: Vec<u8>,
        context: Option<&Context>,
    ) -> Result<WriteResult, SdkError> {
        let resp = self
            .kv
            .clone()
            .put(pb::PutRequest {
                key: key.to_vec(),
                value,
                context: context.map(|c| c.0.clone()).unwrap_or_default(),
                options: self.options(),
            })
            .await?
            .into_inner();
        Ok(WriteResult {
            context: Context(resp.context),
            siblings: resp.siblings.into_iter().map(Sibling::from).collect(),
        })
    }

    /// Deletes a key (writes a tombstone superseding what `context` saw).
    pub async fn delete(
        &self,
        key: &[u8],
        context: Option<&Context>,
    ) -> Result<WriteResult, SdkError> {
        let resp = self
            .kv
            .clone()
            .delete(pb::DeleteRequest {
                key: key.to_vec(),
                context: context.map(|c| c.0.clone()).unwrap_or_default(),
                options: self.options(),
            })
            .await?
            .into_inner();
        Ok(WriteResult {
            context: Context(resp.context),
            siblings: Vec::new(),
        })
    }

    /// Runs a batch of raw operations; each result is independent.
    pub async fn batch(
        &self,
        operations: Vec<pb::Operation>,
    ) -> Result<Vec<pb::OperationResult>, SdkError> {
        Ok(self
            .kv
            .clone()
            .batch(pb::BatchRequest { operations })
            .await?
            .into_inner()
            .results)
    }
}
