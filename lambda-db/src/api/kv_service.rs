//! The public `lambda.kv.v1.Kv` gRPC service: parses and validates requests,
//! hands them to a [`KvBackend`], and formats the answers. Every answer is
//! counted and timed in its [`RequestMetrics`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lambda_proto::kv::v1 as pb;
use tonic::{Request, Response, Status};

use super::backend::KvBackend;
use super::gate::RequestGate;
use super::guard::{RequestGuard, methods};
use super::metrics::{Op, RequestMetrics};
use crate::config::{LimitsConfig, ReplicationConfig};
use crate::error::{Error, Result};
use crate::request::{RequestOptions, check_key, check_value};
use crate::version::codec::{decode_context, encode_context};
use crate::version::{Sibling, Update, Value, VersionedObject};

/// The KV service over a backend.
#[derive(Clone)]
pub struct KvService {
    backend: Arc<dyn KvBackend>,
    limits: LimitsConfig,
    replication: ReplicationConfig,
    max_n: u32,
    gate: Arc<RequestGate>,
    guard: Option<Arc<dyn RequestGuard>>,
    metrics: RequestMetrics,
}

impl std::fmt::Debug for KvService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvService")
            .field("limits", &self.limits)
            .finish()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn sibling_to_pb(s: &Sibling) -> pb::Sibling {
    pb::Sibling {
        value: s.value.bytes().map(<[u8]>::to_vec).unwrap_or_default(),
        timestamp_ms: s.timestamp_ms,
        actor: s.dot.actor.to_string(),
        counter: s.dot.counter,
    }
}

/// The siblings a client sees: every live value once. Two siblings with the
/// same bytes (a write applied twice after a retry, or two writers agreeing)
/// are shown as one, the newest; the context still covers both, so a write
/// with it supersedes both.
fn live_siblings(obj: &VersionedObject, lww: bool) -> Vec<pb::Sibling> {
    if lww {
        return obj.newest_live().map(sibling_to_pb).into_iter().collect();
    }
    let mut out: Vec<&Sibling> = Vec::new();
    for s in obj.live() {
        match out.iter_mut().find(|o| o.value == s.value) {
            Some(o) if (s.timestamp_ms, s.dot) > (o.timestamp_ms, o.dot) => *o = s,
            Some(_) => {}
            None => out.push(s),
        }
    }
    out.into_iter().map(sibling_to_pb).collect()
}

impl KvService {
    /// A service over `backend` with the given limits, replication defaults
    /// and largest N.
    pub fn new(
        backend: Arc<dyn KvBackend>,
        limits: LimitsConfig,
        replication: ReplicationConfig,
        max_n: u32,
    ) -> Self {
        let gate = Arc::new(RequestGate::new(limits.max_inflight_requests));
        Self {
            backend,
            limits,
            replication,
            max_n,
            gate,
            guard: None,
            metrics: RequestMetrics::default(),
        }
    }

    /// The same service checking every request with `guard` first (chain
    /// mode: signatures, replays, funds, receipts).
    pub fn with_guard(mut self, guard: Arc<dyn RequestGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Runs the guard, if any, on a request; returns the answer metadata.
    async fn check<M: prost::Message>(
        &self,
        method: &'static str,
        req: &Request<M>,
    ) -> Result<tonic::metadata::MetadataMap, Status> {
        match &self.guard {
            Some(g) => {
                let verdict = g
                    .admit(method, req.metadata(), &req.get_ref().encode_to_vec())
                    .await;
                self.metrics
                    .billing(verdict.as_ref().err().map(Status::code));
                verdict
            }
            None => Ok(tonic::metadata::MetadataMap::new()),
        }
    }

    /// Runs one request's handling, counting and timing its answer.
    async fn timed<T>(
        &self,
        op: Op,
        handle: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        let started = Instant::now();
        let answer = handle.await;
        self.metrics.observe(
            op,
            started.elapsed(),
            answer.as_ref().err().map(Status::code),
        );
        answer
    }

    /// The request counters and latency histograms (for the admin port).
    pub fn metrics(&self) -> RequestMetrics {
        self.metrics.clone()
    }

    /// The admission gate (for the admin status).
    pub fn gate(&self) -> Arc<RequestGate> {
        self.gate.clone()
    }

    async fn get_one(&self, req: pb::GetRequest) -> Result<pb::GetResponse> {
        check_key(&req.key, &self.limits)?;
        let opts = RequestOptions::resolve(req.options.as_ref(), &self.replication, self.max_n)?;
        let obj = self.backend.get(req.key, opts).await?;
        Ok(pb::GetResponse {
            found: obj.is_found(),
            siblings: live_siblings(&obj, opts.last_write_wins),
            context: encode_context(obj.clock()),
        })
    }

    async fn write_one(
        &self,
        key: Vec<u8>,
        value: Value,
        context: &[u8],
        options: Option<&pb::RequestOptions>,
    ) -> Result<VersionedObject> {
        check_key(&key, &self.limits)?;
        if let Some(bytes) = value.bytes() {
            check_value(bytes, &self.limits)?;
        }
        let context = decode_context(context).map_err(Error::BadContext)?;
        let opts = RequestOptions::resolve(options, &self.replication, self.max_n)?;
        let update = Update {
            value,
            context,
            timestamp_ms: now_ms(),
            last_write_wins: opts.last_write_wins,
        };
        self.backend.write(key, update, opts).await
    }

    async fn put_one(&self, req: pb::PutRequest) -> Result<pb::PutResponse> {
        let lww = req.options.as_ref().is_some_and(|o| o.last_write_wins);
        let obj = self
            .write_one(
                req.key,
                Value::Live(req.value),
                &req.context,
                req.options.as_ref(),
            )
            .await?;
        Ok(pb::PutResponse {
            context: encode_context(obj.clock()),
            siblings: live_siblings(&obj, lww),
        })
    }

    async fn delete_one(&self, req: pb::DeleteRequest) -> Result<pb::DeleteResponse> {
        let obj = self
            .write_one(
                req.key,
                Value::Tombstone,
                &req.context,
                req.options.as_ref(),
            )
            .await?;
        Ok(pb::DeleteResponse {
            context: encode_context(obj.clock()),
        })
    }

    async fn batch_one(&self, index: usize, op: pb::Operation) -> pb::OperationResult {
        use pb::operation::Op;
        use pb::operation_result::Result as R;
        let result = match op.op {
            Some(Op::Get(r)) => self.get_one(r).await.map(R::Get),
            Some(Op::Put(r)) => self.put_one(r).await.map(R::Put),
            Some(Op::Delete(r)) => self.delete_one(r).await.map(R::Delete),
            None => Err(Error::EmptyOperation { index }),
        };
        let result = result.unwrap_or_else(|e| {
            let status = Status::from(e);
            R::Error(pb::OperationError {
                code: status.code() as i32,
                message: status.message().to_string(),
            })
        });
        pb::OperationResult {
            result: Some(result),
        }
    }
}

fn answer<T>(msg: T, meta: tonic::metadata::MetadataMap) -> Response<T> {
    let mut r = Response::new(msg);
    *r.metadata_mut() = meta;
    r
}

#[tonic::async_trait]
impl pb::kv_server::Kv for KvService {
    async fn get(&self, req: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        self.timed(Op::Get, async {
            let _slot = self.gate.admit()?;
            let meta = self.check(methods::GET, &req).await?;
            Ok(answer(self.get_one(req.into_inner()).await?, meta))
        })
        .await
    }

    async fn put(&self, req: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        self.timed(Op::Put, async {
            let _slot = self.gate.admit()?;
            let meta = self.check(methods::PUT, &req).await?;
            Ok(answer(self.put_one(req.into_inner()).await?, meta))
        })
        .await
    }

    async fn delete(
        &self,
        req: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.timed(Op::Delete, async {
            let _slot = self.gate.admit()?;
            let meta = self.check(methods::DELETE, &req).await?;
            Ok(answer(self.delete_one(req.into_inner()).await?, meta))
        })
        .await
    }

    async fn batch(
        &self,
        req: Request<pb::BatchRequest>,
    ) -> Result<Response<pb::BatchResponse>, Status> {
        self.timed(Op::Batch, async {
            let _slot = self.gate.admit()?;
            let meta = self.check(methods::BATCH, &req).await?;
            let ops = req.into_inner().operations;
            if ops.len() > self.limits.max_batch_ops {
                return Err(Error::BatchTooLarge {
                    count: ops.len(),
                    limit: self.limits.max_batch_ops,
                }
                .into());
            }
            let mut results = Vec::with_capacity(ops.len());
            for (index, op) in ops.into_iter().enumerate() {
                results.push(self.batch_one(index, op).await);
            }
            Ok(answer(pb::BatchResponse { results }, meta))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::LocalBackend;
    use crate::keyspace::Keyspace;
    use crate::storage::MemoryEngine;
    use crate::store::LocalStore;
    use lambda_proto::kv::v1::kv_server::Kv;
    use proptest::prelude::*;
    use prost::Message;

    fn service() -> (KvService, Arc<MemoryEngine>) {
        let engine = Arc::new(MemoryEngine::new());
        let store = LocalStore::open(engine.clone(), Keyspace::new(16).unwrap()).unwrap();
        let backend = Arc::new(LocalBackend::new(Arc::new(store)));
        let svc = KvService::new(
            backend,
            LimitsConfig {
                max_key_bytes: 32,
                max_value_bytes: 64,
                max_batch_ops: 4,
                ..Default::default()
            },
            ReplicationConfig::default(),
            5,
        );
        (svc, engine)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn disk_failure_refuses_writes_with_unavailable() {
        runtime().block_on(async {
            let (svc, engine) = service();
            let put = |v: &str| pb::PutRequest {
                key: b"k".to_vec(),
                value: v.as_bytes().to_vec(),
                ..Default::default()
            };
            svc.put(Request::new(put("a"))).await.unwrap();
            engine.fail_writes(true);
            let e = svc.put(Request::new(put("b"))).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unavailable);
            engine.fail_writes(false);
            let e = svc.put(Request::new(put("c"))).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unavailable);
            assert!(e.message().contains("refuses writes"), "{}", e.message());
            // Reads still work and show only what was acknowledged.
            let r = svc
                .get(Request::new(pb::GetRequest {
                    key: b"k".to_vec(),
                    options: None,
                }))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.siblings.len(), 1);
            assert_eq!(r.siblings[0].value, b"a");
            let m = svc.metrics();
            assert_eq!(m.count(Op::Put, "ok"), 1);
            assert_eq!(m.count(Op::Put, "unavailable"), 2);
            assert_eq!(m.count(Op::Get, "ok"), 1);
        });
    }

    #[test]
    fn batch_over_the_limit_is_refused_whole() {
        runtime().block_on(async {
            let (svc, _) = service();
            let ops = vec![pb::Operation::default(); 5];
            let e = svc
                .batch(Request::new(pb::BatchRequest { operations: ops }))
                .await
                .unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(e.message().contains("max_batch_ops"), "{}", e.message());
            assert_eq!(svc.metrics().count(Op::Batch, "invalid_argument"), 1);
            assert_eq!(svc.metrics().count(Op::Batch, "ok"), 0);
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random bytes as any request: decoding fails cleanly, or the
        /// decoded request is served or refused with a precise status.
        #[test]
        fn random_request_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let rt = runtime();
            let (svc, _) = service();
            rt.block_on(async {
                if let Ok(req) = pb::PutRequest::decode(bytes.as_slice())
                    && let Err(e) = svc.put(Request::new(req)).await
                {
                    assert!(!e.message().is_empty());
                    assert_ne!(e.code(), tonic::Code::Internal);
                }
                if let Ok(req) = pb::GetRequest::decode(bytes.as_slice()) {
                    let _ = svc.get(Request::new(req)).await;
                }
                if let Ok(req) = pb::DeleteRequest::decode(bytes.as_slice()) {
                    let _ = svc.delete(Request::new(req)).await;
                }
                if let Ok(req) = pb::BatchRequest::decode(bytes.as_slice()) {
                    let _ = svc.batch(Request::new(req)).await;
                }
            });
        }
    }
}
