//! The agent daemon: the gRPC ingest and query API over the time-series
//! store, the upload loop (with backpressure: a full upload queue makes
//! ingest answer RESOURCE_EXHAUSTED), host-metrics collection, an optional
//! Prometheus remote-write endpoint, the admin HTTP port (`metrics`,
//! `health`), and its configuration.

pub mod agent;
pub mod collector;
pub mod config;
pub mod health;
pub mod metrics;
pub mod remote_write;
pub mod service;

pub use agent::{AgentError, RunningAgent, start};
pub use config::{AgentConfig, ENV_PREFIX};
