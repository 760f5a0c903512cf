//! A local Lambda devnet in one command.
//!
//! [`Devnet::start`] generates (or reuses) a data directory holding a chain
//! testnet of validators, storage nodes of different weights over three
//! zones (each with its node key, a funded owner account and the chain's
//! endpoints in its config) and an agent; starts them all as child
//! processes with their logs under `DIR/logs`; pledges the nodes on the
//! chain; and returns once they are members and the cluster answers. The
//! `lambda-devnet` binary adds the smoke workload, prints every endpoint
//! with commands to try, and stops everything on Ctrl-C.
//!
//! - [`spec`]: what to start (counts, block time, weights and zones).
//! - [`ports`]: the port layout, one base port for everything.
//! - [`layout`]: the generated files and the `devnet.json` manifest.
//! - [`membership`]: where the nodes take their membership from (the one
//!   switch between the static file and the chain).
//! - [`pledge`]: the nodes' pledge transactions.
//! - [`supervisor`]: child processes, their logs, exits and graceful stop.
//! - [`smoke`]: the smoke workload.
//! - [`report`]: the endpoint listing and commands printed for the user.
//! - [`devnet`]: [`Devnet`] itself.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod devnet;
pub mod error;
pub mod layout;
pub mod membership;
pub mod pledge;
pub mod ports;
pub mod report;
pub mod smoke;
pub mod spec;
pub mod supervisor;

pub use devnet::{Devnet, bin_dir};
pub use error::DevnetError;
pub use spec::DevnetSpec;
