//! The Lambda chain: a Tendermint-class BFT chain that records storage-node
//! pledges, the membership of every epoch, usage settlement and PDP audit
//! results.
//!
//! - [`types`]: hashes, validator sets, signed votes and proposals, commit
//!   certificates, double-sign evidence — shared by consensus and state.
//! - [`codec`]: strict protobuf decoding and the shared types' wire form.
//! - [`params`], [`genesis`]: consensus parameters and the genesis file.
//! - [`tx`]: signed transactions, their kinds and rejection reasons.
//! - [`block`]: block headers, hashes, the transaction root, the time rule.
//! - [`state`]: the state machine on RocksDB (check, build, validate and
//!   commit blocks; queries).
//! - [`mempool`]: pending transactions, ordered for block building.
//! - [`error`]: block and state errors.
//! - [`consensus`]: the Tendermint core (pure), its write-ahead log, the
//!   application seam, the async runner and a deterministic simulation.
//! - [`network`]: validator-to-validator gRPC transport and block sync.
//! - [`node`]: the validator daemon: the state machine, the mempool and
//!   consensus glued together (proposing from the mempool, committing,
//!   mempool gossip, the fisherman), its configuration and home directories.
//! - [`api`]: the public gRPC API (`lambda.chain.v1.Chain`).
//! - [`client`]: a typed client of that API.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod block;
pub mod client;
pub mod codec;
pub mod consensus;
pub mod error;
pub mod genesis;
pub mod mempool;
pub mod network;
pub mod node;
pub mod params;
pub mod state;
pub mod tx;
pub mod types;

pub use error::{BlockError, ChainError};
pub use state::ChainState;
