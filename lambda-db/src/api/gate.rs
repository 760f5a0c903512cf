//! Admission control for client requests: at most
//! `limits.max_inflight_requests` are served at once, and one more is refused
//! at once with RESOURCE_EXHAUSTED instead of queueing — so memory stays
//! bounded under overload and the node recovers as soon as load drops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

/// The in-flight bound of client requests.
#[derive(Debug)]
pub struct RequestGate {
    slots: Arc<Semaphore>,
    limit: usize,
    rejected: AtomicU64,
}

impl RequestGate {
    /// A gate admitting `limit` requests at once.
    pub fn new(limit: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            rejected: AtomicU64::new(0),
        }
    }

    /// A slot for one request, or RESOURCE_EXHAUSTED when all are taken.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            Error::Overloaded {
                what: "client requests in flight",
                limit: self.limit as u64,
                setting: "limits.max_inflight_requests",
            }
        })
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> u64 {
        (self.limit - self.slots.available_permits()) as u64
    }

    /// Requests refused since start.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_recovers() {
        let gate = RequestGate::new(2);
        let a = gate.admit().unwrap();
        let _b = gate.admit().unwrap();
        assert!(matches!(gate.admit(), Err(Error::Overloaded { .. })));
        assert_eq!((gate.in_flight(), gate.rejected()), (2, 1));
        drop(a);
        assert!(gate.admit().is_ok());
    }
}
