//! The SDK client: typed get/put/delete calls to a set of storage nodes,
//! each attempt routed by a [`Router`] (by default a [`RingRouter`]) and
//! retried under a [`RetryPolicy`]; the router hears how each attempt ended.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_proto::kv::v1 as pb;
use lambda_proto::kv::v1::kv_client::KvClient;
use tonic::transport::{Channel, Endpoint};

use super::SdkError;
use super::retry::{self, CallKind, RetryPolicy};
use super::ring_router::RingRouter;
use super::router::{EndpointRouter, Outcome, Route, Router};
use super::routing::{RingConfig, Routing};
use super::wallet::{SignedUsage, Signer, Wallet};

/// Full method paths, as requests are signed.
mod methods {
    pub(super) const GET: &str = "/lambda.kv.v1.Kv/Get";
    pub(super) const PUT: &str = "/lambda.kv.v1.Kv/Put";
    pub(super) const DELETE: &str = "/lambda.kv.v1.Kv/Delete";
    pub(super) const BATCH: &str = "/lambda.kv.v1.Kv/Batch";
}

/// Codes with which a node refuses a request before serving (and counting)
/// it: signature, replay, funds, receipt, overload.
fn refused_unserved(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unauthenticated
            | tonic::Code::AlreadyExists
            | tonic::Code::FailedPrecondition
            | tonic::Code::ResourceExhausted
    )
}

/// How to reach the cluster.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Storage node addresses, e.g. `http://127.0.0.1:7070`.
    pub endpoints: Vec<String>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt of a request.
    pub request_timeout: Duration,
    /// Replication options sent with every request (unset: cluster defaults).
    pub options: pb::RequestOptions,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
    /// The client account key; when set every request is signed and carries
    /// the usage receipt (required by a chain-mode cluster).
    pub wallet: Option<Wallet>,
    /// How requests pick their node (default: by the cluster's ring).
    pub routing: Routing,
    /// Ring routing settings (its placement settings must match the
    /// nodes').
    pub ring: RingConfig,
}

impl ClientConfig {
    /// Defaults (2 s to connect, 10 s per attempt, the default retry policy,
    /// ring routing) for these endpoints.
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
            retry: RetryPolicy::default(),
            wallet: None,
            routing: Routing::default(),
            ring: RingConfig::default(),
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

/// A client of the KV API. Cloning is cheap and shares connections.
#[derive(Clone, Debug)]
pub struct Client {
    router: Arc<dyn Router>,
    config: ClientConfig,
    signer: Option<Arc<Signer>>,
}

/// What a call's answer tells the router.
trait Answer {
    /// For a put: the actors of the live values after it.
    fn write_actors(&self) -> Option<Vec<&str>> {
        None
    }
}

impl Answer for pb::GetResponse {}
impl Answer for pb::DeleteResponse {}
impl Answer for pb::BatchResponse {}
impl Answer for pb::PutResponse {
    fn write_actors(&self) -> Option<Vec<&str>> {
        Some(self.siblings.iter().map(|s| s.actor.as_str()).collect())
    }
}

/// Reports an attempt to the router; one dropped before it ended (per-
/// attempt timeout, caller gave up) is reported abandoned.
struct Report<'a> {
    router: &'a dyn Router,
    route: &'a Route,
    done: bool,
}

impl Report<'_> {
    fn finish(mut self, outcome: Outcome<'_>) {
        self.done = true;
        self.router.report(self.route, outcome);
    }
}

impl Drop for Report<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.router.report(self.route, Outcome::Abandoned);
        }
    }
}

/// A lazy endpoint for `uri` (`http://` is added when it has no scheme).
pub(super) fn endpoint(
    uri: &str,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<Endpoint, SdkError> {
    let uri = if uri.contains("://") {
        uri.to_string()
    } else {
        format!("http://{uri}")
    };
    Endpoint::from_shared(uri.clone())
        .map(|e| {
            e.connect_timeout(connect_timeout)
                .timeout(request_timeout)
                .tcp_nodelay(true)
        })
        .map_err(|e| SdkError::InvalidEndpoint {
            endpoint: uri,
            reason: e.to_string(),
        })
}

impl Client {
    /// A client that routes requests as `config.routing` says: by the
    /// cluster's ring (fetched from the configured endpoints at once, then
    /// kept fresh in the background; round robin until one is known) or
    /// round robin over the endpoints. Connections open lazily, so this
    /// succeeds even if nodes are down.
    pub async fn connect(config: ClientConfig) -> Result<Self, SdkError> {
        let router: Arc<dyn Router> = match config.routing {
            Routing::Ring => Arc::new(RingRouter::connect(&config).await?),
            Routing::RoundRobin => {
                let endpoints = config
                    .endpoints
                    .iter()
                    .map(|e| endpoint(e, config.connect_timeout, config.request_timeout))
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(EndpointRouter::new(endpoints)?)
            }
        };
        let client = Self::with_router(router, config);
        client.resume().await;
        Ok(client)
    }

    /// With a wallet: asks every endpoint for its node id, the epoch and the
    /// largest receipt it holds of this client, so the statements this
    /// client signs continue its earlier ones (nodes that do not answer are
    /// asked on first use).
    async fn resume(&self) {
        let Some(signer) = &self.signer else { return };
        for (i, ch) in self.router.channels().iter().enumerate() {
            if let Err(e) = signer.node(ch, Some(i), None).await {
                tracing::debug!(endpoint = i, error = %e, "billing info not available yet");
            }
        }
    }

    /// With a wallet: the epoch and the usage per node (node, requests,
    /// bytes) this client has signed for so far.
    pub fn usage(&self) -> Option<SignedUsage> {
        self.signer.as_ref().map(|s| s.usage())
    }

    /// A client whose requests go where `router` says (e.g. a
    /// [`RingRouter`] shared by several clients); `config.endpoints` and
    /// `config.routing` are not used.
    pub fn with_router(router: Arc<dyn Router>, config: ClientConfig) -> Self {
        let signer = config.wallet.clone().map(Signer::new);
        Self {
            router,
            config,
            signer,
        }
    }

    /// The same client (sharing connections) with other replication options.
    pub fn with_options(&self, options: pb::RequestOptions) -> Self {
        let mut c = self.clone();
        c.config.options = options;
        c
    }

    /// The same client (sharing connections) with another retry policy.
    pub fn with_retry(&self, retry: RetryPolicy) -> Self {
        let mut c = self.clone();
        c.config.retry = retry;
        c
    }

    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn options(&self) -> Option<pb::RequestOptions> {
        Some(self.config.options)
    }

    fn kv(channel: Channel) -> KvClient<Channel> {
        KvClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    /// One attempt: routes it, and tells the router how it ended.
    async fn attempt<R, T, F, Fut>(
        &self,
        key: &[u8],
        attempt: u32,
        method: &'static str,
        req: &R,
        f: &F,
    ) -> Result<T, SdkError>
    where
        R: prost::Message + Clone,
        T: Answer,
        F: Fn(KvClient<Channel>, tonic::Request<R>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let route = self.router.route(key, attempt);
        let report = Report {
            router: self.router.as_ref(),
            route: &route,
            done: false,
        };
        let result = self.send(&route, method, req, f).await;
        match &result {
            Ok(answer) => {
                let actors = answer.write_actors();
                report.finish(Outcome::Answered {
                    write_actors: actors.as_deref(),
                });
            }
            Err(e) => report.finish(Outcome::Failed(e)),
        }
        result
    }

    /// Signs an attempt when the client has a wallet, sends it along
    /// `route`, and reconciles the usage with the answer. A refusal for a
    /// stale billing epoch (the answer names the node's epoch) is signed
    /// again and sent once more at once.
    async fn send<R, T, F, Fut>(
        &self,
        route: &Route,
        method: &'static str,
        req: &R,
        f: &F,
    ) -> Result<T, SdkError>
    where
        R: prost::Message + Clone,
        F: Fn(KvClient<Channel>, tonic::Request<R>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut resigned = false;
        loop {
            let mut request = tonic::Request::new(req.clone());
            let ticket = match &self.signer {
                Some(s) => {
                    let body = req.encode_to_vec();
                    Some(s.sign(route, method, &body, request.metadata_mut()).await?)
                }
                None => None,
            };
            let result = f(Self::kv(route.channel.clone()), request).await;
            if let (Some(s), Some(t)) = (&self.signer, ticket) {
                match &result {
                    Ok(r) => s.settle(t, r.metadata(), false),
                    Err(st) => {
                        let epoch = t.epoch;
                        s.settle(t, st.metadata(), refused_unserved(st.code()));
                        if !resigned && s.signed_stale_epoch(epoch, st.code()) {
                            resigned = true;
                            continue;
                        }
                    }
                }
            }
            return result
                .map(tonic::Response::into_inner)
                .map_err(SdkError::from);
        }
    }

    async fn call<R, T, F, Fut>(
        &self,
        key: &[u8],
        kind: CallKind,
        method: &'static str,
        req: R,
        f: F,
    ) -> Result<T, SdkError>
    where
        R: prost::Message + Clone,
        T: Answer,
        F: Fn(KvClient<Channel>, tonic::Request<R>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        retry::run(
            &self.config.retry,
            kind,
            self.config.request_timeout,
            |attempt| self.attempt(key, attempt, method, &req, &f),
        )
        .await
    }

    /// Reads a key.
    pub async fn get(&self, key: &[u8]) -> Result<ReadResult, SdkError> {
        let req = pb::GetRequest {
            key: key.to_vec(),
            options: self.options(),
        };
        let resp = self
            .call(
                key,
                CallKind::Read,
                methods::GET,
                req,
                |mut kv, r| async move { kv.get(r).await },
            )
            .await?;
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
        let req = pb::PutRequest {
            key: key.to_vec(),
            value,
            context: context.map(|c| c.0.clone()).unwrap_or_default(),
            options: self.options(),
        };
        let resp = self
            .call(
                key,
                CallKind::Write,
                methods::PUT,
                req,
                |mut kv, r| async move { kv.put(r).await },
            )
            .await?;
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
        let req = pb::DeleteRequest {
            key: key.to_vec(),
            context: context.map(|c| c.0.clone()).unwrap_or_default(),
            options: self.options(),
        };
        let resp = self
            .call(
                key,
                CallKind::Write,
                methods::DELETE,
                req,
                |mut kv, r| async move { kv.delete(r).await },
            )
            .await?;
        Ok(WriteResult {
            context: Context(resp.context),
            siblings: Vec::new(),
        })
    }

    /// Runs a batch of raw operations; each result is independent. A batch
    /// counts as a write for retries.
    pub async fn batch(
        &self,
        operations: Vec<pb::Operation>,
    ) -> Result<Vec<pb::OperationResult>, SdkError> {
        let req = pb::BatchRequest { operations };
        Ok(self
            .call(
                b"",
                CallKind::Write,
                methods::BATCH,
                req,
                |mut kv, r| async move { kv.batch(r).await },
            )
            .await?
            .results)
    }
}
