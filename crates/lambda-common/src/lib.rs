//! Pieces every Lambda daemon shares.
//!
//! - [`admin_http`]: the admin HTTP port (`/metrics`, `/health`, `/live`).
//! - [`config`]: TOML configuration files with environment-variable overrides,
//!   layered over each daemon's embedded defaults.
//! - [`telemetry`]: `tracing` set-up, levels from the environment, JSON on
//!   request.
//! - [`keys`]: ed25519 keys and signatures tagged with their algorithm, and
//!   account addresses.
//! - [`request_sig`]: what a client signs on each public KV request in chain
//!   mode (shared by the SDK and the storage node).
//! - [`shutdown`]: a token that SIGINT/SIGTERM cancel, for graceful shutdown of
//!   servers and background workers.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin_http;
pub mod config;
pub mod keys;
pub mod request_sig;
pub mod shutdown;
pub mod telemetry;
