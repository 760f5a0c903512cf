//! The Lambda chain: a Tendermint-class BFT chain that records storage-node
//! pledges, the membership of every epoch, usage settlement and PDP audit
//! results.
//!
//! - [`types`]: hashes, validator sets, signed votes and proposals, commit
//!   certificates, double-sign evidence — shared by consensus and state.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod types;
