//! Which node a request goes to.
//!
//! [`Router`] is the seam for routing: today [`EndpointRouter`] rotates over
//! the configured endpoints (each attempt of a retried request goes to the
//! next one, so a dead node is skipped); a ring-aware router that sends a
//! key straight to its coordinator from a cached ring will implement the same
//! trait once the cluster's placement exists.

use std::sync::atomic::{AtomicUsize, Ordering};

use tonic::transport::{Channel, Endpoint};

use super::SdkError;

/// Picks the node for one attempt of a request.
pub trait Router: Send + Sync + std::fmt::Debug {
    /// The channel for attempt `attempt` (1-based) of a request on `key`
    /// (empty for requests on several keys, such as batches).
    fn route(&self, key: &[u8], attempt: u32) -> Channel;

    /// Like [`Router::route`], with the index of the endpoint chosen when
    /// the router has a fixed list (the SDK caches each endpoint's node id
    /// for request signing by it; `None`: asked again per request).
    fn route_indexed(&self, key: &[u8], attempt: u32) -> (Channel, Option<usize>) {
        (self.route(key, attempt), None)
    }

    /// Every endpoint's channel by index, when the list is fixed.
    fn channels(&self) -> Vec<Channel> {
        Vec::new()
    }
}

/// Round robin over a fixed list of endpoints; a retry moves to the next.
#[derive(Debug)]
pub struct EndpointRouter {
    channels: Vec<Channel>,
    next: AtomicUsize,
}

impl EndpointRouter {
    /// Lazy channels to these endpoints (connections open on first use, so
    /// this succeeds while nodes are down).
    pub fn new(endpoints: Vec<Endpoint>) -> Result<Self, SdkError> {
        if endpoints.is_empty() {
            return Err(SdkError::NoEndpoints);
        }
        Ok(Self {
            channels: endpoints.iter().map(Endpoint::connect_lazy).collect(),
            next: AtomicUsize::new(0),
        })
    }
}

impl Router for EndpointRouter {
    fn route(&self, key: &[u8], attempt: u32) -> Channel {
        self.route_indexed(key, attempt).0
    }

    fn route_indexed(&self, _key: &[u8], attempt: u32) -> (Channel, Option<usize>) {
        let n = self.channels.len().max(1);
        let base = if attempt <= 1 {
            self.next.fetch_add(1, Ordering::Relaxed)
        } else {
            self.next.load(Ordering::Relaxed)
        };
        let i = base.wrapping_add(attempt as usize) % n;
        // `new` guarantees at least one channel.
        (self.channels[i % self.channels.len()].clone(), Some(i))
    }

    fn channels(&self) -> Vec<Channel> {
        self.channels.clone()
    }
}
