//! Validator-to-validator networking over gRPC
//! (`lambda.chain.v1.ConsensusService`).
//!
//! - [`codec`]: protobuf conversions of the consensus types.
//! - [`config`]: peers, bounds, timeouts, backoff.
//! - [`peers`]: outbound links to the configured peers, each with a bounded
//!   queue (full means drop and count, never block consensus) and
//!   reconnection with backoff.
//! - [`server`]: the service: accepts message batches into a bounded inbox,
//!   serves block sync and status.
//! - [`sync`]: fetching committed blocks from peers, verified against the
//!   validator set of their height before they are applied.
//!
//! Messages are signed (see [`crate::types`]), so the transport does not
//! authenticate peers.

pub mod codec;
pub mod config;
pub mod peers;
pub mod server;
pub mod sync;

pub use config::NetworkConfig;
