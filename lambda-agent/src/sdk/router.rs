//! Which node a request goes to.
//!
//! [`Router`] is the seam for routing. [`EndpointRouter`] rotates over the
//! configured endpoints (each attempt of a retried request goes to the next
//! one, so a dead node is skipped); [`crate::sdk::RingRouter`] sends a key
//! straight to its coordinator from a cached ring and falls back to an
//! [`EndpointRouter`] while it knows no ring. The client tells the router
//! how every attempt ended ([`Router::report`]), so a ring router can avoid
//! nodes that just failed and notice that the ring moved.

use std::sync::atomic::{AtomicUsize, Ordering};

use tonic::transport::{Channel, Endpoint};

use super::SdkError;

/// Where one attempt of a request goes.
#[derive(Clone, Debug)]
pub struct Route {
    /// The channel to the node.
    pub channel: Channel,
    /// A stable number for the node behind `channel` (the SDK caches each
    /// node's id for request signing under it; `None`: asked per request).
    /// A number is never reused for another endpoint or node id.
    pub slot: Option<usize>,
    /// The node's id as the ring names it, when the router knows it (a
    /// chain-mode node's id is its key's address: the SDK checks that the
    /// node it signs for is that one).
    pub node: Option<String>,
    /// The router expects this node to coordinate the request itself (it is
    /// a replica of the key): a write it forwards means the ring moved.
    pub coordinator: bool,
}

/// How one attempt ended, as the client reports it to the router.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    /// The node answered. For a put: the actors (hex) of the live values
    /// after the write, one of which versioned this write (the actor of the
    /// node that coordinated it).
    Answered {
        /// Actors of a put's answer; `None` for other calls.
        write_actors: Option<&'a [&'a str]>,
    },
    /// The attempt failed with this error.
    Failed(&'a SdkError),
    /// The attempt was dropped before it ended (per-attempt timeout, or the
    /// caller gave up on the request).
    Abandoned,
}

/// Picks the node for one attempt of a request.
pub trait Router: Send + Sync + std::fmt::Debug {
    /// The route of attempt `attempt` (1-based) of a request on `key`
    /// (empty for requests on several keys, such as batches).
    fn route(&self, key: &[u8], attempt: u32) -> Route;

    /// The configured endpoints' channels; endpoint `i` is slot `i`.
    fn channels(&self) -> Vec<Channel> {
        Vec::new()
    }

    /// How an attempt sent along `route` ended.
    fn report(&self, _route: &Route, _outcome: Outcome<'_>) {}
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

    /// The index of the endpoint for attempt `attempt` (1-based): a new
    /// request starts at the next endpoint, each retry moves one further.
    pub(crate) fn pick(&self, attempt: u32) -> usize {
        let n = self.channels.len().max(1);
        let i = if attempt <= 1 {
            self.next.fetch_add(1, Ordering::Relaxed)
        } else {
            // The request's first attempt took `next - 1` (unless requests
            // started since, which only shifts where the retry goes).
            self.next
                .load(Ordering::Relaxed)
                .wrapping_add(attempt as usize - 2)
        };
        i % n
    }

    /// Number of endpoints.
    pub(crate) fn len(&self) -> usize {
        self.channels.len()
    }
}

impl Router for EndpointRouter {
    fn route(&self, _key: &[u8], attempt: u32) -> Route {
        let i = self.pick(attempt);
        Route {
            // `new` guarantees at least one channel.
            channel: self.channels[i % self.channels.len()].clone(),
            slot: Some(i),
            node: None,
            coordinator: false,
        }
    }

    fn channels(&self) -> Vec<Channel> {
        self.channels.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(n: u16) -> Vec<Endpoint> {
        (0..n)
            .map(|i| Endpoint::from_shared(format!("http://127.0.0.1:{}", 9000 + i)).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn round_robin_moves_on_per_request_and_per_retry() {
        let r = EndpointRouter::new(endpoints(3)).unwrap();
        let first: Vec<usize> = (0..3).map(|_| r.route(b"k", 1).slot.unwrap()).collect();
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2], "three requests, three endpoints");
        let a1 = r.route(b"k", 1).slot.unwrap();
        let a2 = r.route(b"k", 2).slot.unwrap();
        let a3 = r.route(b"k", 3).slot.unwrap();
        assert_eq!((a1 + 1) % 3, a2);
        assert_eq!((a2 + 1) % 3, a3);
        assert!(EndpointRouter::new(Vec::new()).is_err());
    }
}
