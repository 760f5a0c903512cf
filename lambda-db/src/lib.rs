//! The Lambda storage node.
//!
//! Layers, bottom up (each module's own docs say more):
//!
//! - [`storage`]: the engine interface, RocksDB and in-memory engines.
//! - [`version`]: version vectors, dots, sibling-keeping objects, encodings.
//! - [`keyspace`]: key → partition, and the on-disk key layout.
//! - [`placement`]: partitions → preference lists of devices (CCHDP), and
//!   rebalancing plans between epochs (the `lambda-placement` crate).
//! - [`merkle`]: the per-partition anti-entropy hash tree, updated in the
//!   same batch as every write.
//! - [`store`]: the node's local versioned store (read-modify-write under
//!   key locks, actor id, node-wide dot counter, write fence).
//! - [`request`]: validation of keys, values and per-request options.
//! - [`api`]: the public KV gRPC service and the backends that serve it.
//! - [`cluster`]: membership, gossip liveness, coordinator with sloppy
//!   quorums, read repair, hinted handoff, admin status.
//! - [`billing`]: signed, metered client requests in chain mode, receipts
//!   and their settlement on chain.

//! - [`fault`]: fault injection for multi-process tests (alter a stopped
//!   node's stored data).
//! - [`pdp_source`]: PDP blocks and tags from the local store, for the
//!   prover service validators challenge.
//! - [`chain`]: the node key and the link to the chain (client, block
//!   follower) that chain mode builds on.
//! - [`server`], [`node`]: the gRPC server and assembling a running node.
//! - [`ops`]: the admin HTTP port (Prometheus metrics, health).
//! - [`admin_cli`]: the operator commands of the `lambda-db` binary.
//! - [`config`], [`error`]: configuration and the typed error.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin_cli;
pub mod api;
pub mod billing;
pub mod chain;
pub mod cluster;
pub mod config;
pub mod error;
pub mod fault;
pub mod keyspace;
pub mod merkle;
pub mod node;
pub mod ops;
pub mod pdp_source;
pub use lambda_placement as placement;
pub mod request;
pub mod server;
pub mod storage;
pub mod store;
pub mod version;

pub use error::{Error, Result};
