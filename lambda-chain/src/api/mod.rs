//! The public gRPC API of a validator (`lambda.chain.v1.Chain`, see
//! `proto/lambda/chain/v1/api.proto`): transaction submission, queries of
//! the committed state, and a stream of committed blocks.
//!
//! - `service`: the service over the node's core (state + mempool).
//! - `subscribe`: the block stream (replay from a height, then follow).
//! - `gate`: the in-flight bounds (RESOURCE_EXHAUSTED past them).
//! - [`reasons`]: gRPC codes and reason codes of refused transactions.
//! - [`convert`]: records ⇄ API messages (the server encodes, the typed
//!   client decodes strictly).
//! - `server`: health, reflection and graceful shutdown around it.

pub mod convert;
mod gate;
pub mod reasons;
mod server;
mod service;
mod subscribe;

pub use server::ServeError;
pub(crate) use server::serve;
pub(crate) use service::ChainApi;
