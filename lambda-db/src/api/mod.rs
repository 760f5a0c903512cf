//! The node's outside interface: the public KV gRPC service, the backends
//! that serve it, and its request metrics.

pub mod backend;
pub mod gate;
pub mod guard;
pub mod kv_service;
pub mod metrics;

pub use backend::{KvBackend, LocalBackend};
pub use gate::RequestGate;
pub use guard::RequestGuard;
pub use kv_service::KvService;
pub use metrics::RequestMetrics;
