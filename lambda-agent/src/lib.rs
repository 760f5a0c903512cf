//! The client side of Lambda.
//!
//! - [`sdk`]: the Rust SDK: connect to storage nodes, read and write keys
//!   with causal contexts and siblings, typed errors.
//! - The user CLI `lambda` (`src/bin/lambda.rs`) runs its data commands
//!   through the SDK.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod sdk;
