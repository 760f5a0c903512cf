//! Pieces every Lambda daemon shares.
//!
//! - [`config`]: TOML configuration files with environment-variable overrides,
//!   layered over each daemon's embedded defaults.
//! - [`telemetry`]: `tracing` set-up, levels from the environment, JSON on
//!   request.
//! - [`shutdown`]: a token that SIGINT/SIGTERM cancel, for graceful shutdown of
//!   servers and background workers.

pub mod config;
pub mod shutdown;
pub mod telemetry;
