//! Admission control: at most a fixed number of requests (or streams) are
//! served at once, and one more is refused at once with
//! RESOURCE_EXHAUSTED instead of queueing, so memory stays bounded under
//! overload and the node recovers as soon as the load drops.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

/// A bound on what is in flight.
#[derive(Debug)]
pub(crate) struct Gate {
    slots: Arc<Semaphore>,
    limit: usize,
    what: &'static str,
    setting: &'static str,
}

impl Gate {
    /// A gate admitting `limit` at once; `what` and `setting` name the bound
    /// in refusals.
    pub(crate) fn new(limit: usize, what: &'static str, setting: &'static str) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            what,
            setting,
        }
    }

    /// A slot, or RESOURCE_EXHAUSTED when every slot is taken.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            tracing::debug!(
                what = self.what,
                limit = self.limit,
                "request refused: bound reached"
            );
            Status::resource_exhausted(format!(
                "too many {} (limit {}, {})",
                self.what, self.limit, self.setting
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_recovers() {
        let gate = Gate::new(2, "requests in flight", "api.max_inflight");
        let a = gate.admit().unwrap();
        let _b = gate.admit().unwrap();
        let refused = gate.admit().unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused.message().contains("api.max_inflight"),
            "{refused:?}"
        );
        drop(a);
        assert!(gate.admit().is_ok());
    }
}
