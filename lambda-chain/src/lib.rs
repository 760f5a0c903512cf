//! The Lambda chain: a Tendermint-class BFT chain that records storage-node
//! pledges, the membership of every epoch, usage settlement and PDP audit
//! results.
//!
//! - [`types`]: hashes, validator sets, signed votes and proposals, commit
//!   certificates, double-sign evidence — shared by consensus and state.
//! - [`consensus`]: the Tendermint core (pure), its write-ahead log, the
//!   application seam, the async runner and a deterministic simulation.
//! - [`network`]: validator-to-validator gRPC transport and block sync.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod consensus;
pub mod network;
pub mod types;
