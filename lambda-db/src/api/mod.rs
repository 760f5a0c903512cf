//! The node's outside interface: the public KV gRPC service and the
//! backends that serve it.

pub mod backend;
pub mod gate;
pub mod guard;
pub mod kv_service;

pub use backend::{KvBackend, LocalBackend};
pub use gate::RequestGate;
pub use guard::RequestGuard;
pub use kv_service::KvService;
