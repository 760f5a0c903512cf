//! The client side of Lambda.
//!
//! - [`sdk`]: the Rust SDK: connect to storage nodes, read and write keys
//!   with causal contexts and siblings, typed errors.
//! - [`tsdb`]: the time-series store: Gorilla compression, write-ahead log,
//!   sealed blocks and series index in the cluster, range and top-k queries.
//! - [`daemon`]: the agent daemon `lambda-agent`: gRPC ingest and query
//!   API, upload loop with backpressure, host metrics collection.
//! - The user CLI `lambda` (`src/bin/lambda.rs`) runs its data commands
//!   through the SDK.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod daemon;
pub mod sdk;
pub mod tsdb;
