//! The tower wrappers that apply peer authentication around generated
//! gRPC code: [`PeerGate`] in front of a server (it also holds the service
//! back until the node has joined, answering UNAVAILABLE meanwhile) and
//! [`SignedChannel`] under a client.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::Service;
use tonic::codegen::http::{Request, Response};
use tonic::server::NamedService;
use tonic::transport::Channel;

use super::auth::{PeerSigner, PeerVerifier, now_ms};
use crate::placement::DeviceId;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A server-side gate: refuses calls until `inner` is set (the node is not
/// a member yet) and calls that fail peer authentication; passes the rest.
#[derive(Debug)]
pub struct PeerGate<S> {
    inner: Arc<OnceLock<S>>,
    verifier: Arc<PeerVerifier>,
}

impl<S> Clone for PeerGate<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            verifier: self.verifier.clone(),
        }
    }
}

impl<S> PeerGate<S> {
    /// A gate over a service set later through the returned cell.
    pub fn new(verifier: Arc<PeerVerifier>) -> (Self, Arc<OnceLock<S>>) {
        let inner = Arc::new(OnceLock::new());
        (
            Self {
                inner: inner.clone(),
                verifier,
            },
            inner,
        )
    }
}

impl<S: NamedService> NamedService for PeerGate<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for PeerGate<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let Some(inner) = self.inner.get() else {
            let status = tonic::Status::unavailable(format!(
                "this node is not a member of epoch {}; it serves peers from the epoch that includes it",
                self.verifier.epoch()
            ));
            return Box::pin(async move { Ok(status.into_http()) });
        };
        if let Err(e) = self
            .verifier
            .verify(req.uri().path(), req.headers(), now_ms())
        {
            tracing::debug!(path = req.uri().path(), reason = %e, "peer call refused");
            let status = e.status();
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let mut svc = inner.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
            svc.call(req).await
        })
    }
}

/// A channel that signs every call to one peer (or passes calls through
/// unsigned when there is no signer, outside chain mode).
#[derive(Debug, Clone)]
pub struct SignedChannel {
    inner: Channel,
    signer: Option<Arc<PeerSigner>>,
    callee: DeviceId,
}

impl SignedChannel {
    /// Calls to `callee` over `inner`, signed by `signer` if given.
    pub fn new(inner: Channel, signer: Option<Arc<PeerSigner>>, callee: DeviceId) -> Self {
        Self {
            inner,
            signer,
            callee,
        }
    }
}

impl Service<Request<Body>> for SignedChannel {
    type Response = Response<Body>;
    type Error = tonic::transport::Error;
    type Future = <Channel as Service<Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        if let Some(s) = &self.signer {
            let path = req.uri().path().to_string();
            s.sign_headers(&path, &self.callee, req.headers_mut());
        }
        Service::call(&mut self.inner, req)
    }
}
