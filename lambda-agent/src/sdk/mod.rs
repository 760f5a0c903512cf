//! The Rust SDK for Lambda's KV API.
//!
//! Every call is routed by a [`Router`] — by default a [`RingRouter`],
//! which sends a key's request straight to its coordinator from a cached
//! copy of the cluster's ring (round robin over the configured endpoints,
//! [`EndpointRouter`], while none is known) — bounded by a per-attempt
//! timeout and retried with backoff and jitter under a [`RetryPolicy`]
//! (see its module for which errors are retried and how writes stay safe).
//! Audited objects ([`pdp`]) are tagged for provable data possession and
//! stored with their tags; their storage contracts are registered on the
//! chain ([`pdp_contract`]).
//!
//! Against a chain-mode cluster, give the client a [`Wallet`] (the account
//! key that pays): every request is then signed and carries the client's
//! usage receipt (see the `wallet` module).
//!
//! ```no_run
//! # async fn demo() -> Result<(), lambda_agent::sdk::SdkError> {
//! use lambda_agent::sdk::{Client, ClientConfig};
//! let client = Client::connect(ClientConfig::new(["http://127.0.0.1:7070"])).await?;
//! let read = client.get(b"greeting").await?;
//! // Write with the context of the read, so the write supersedes what it saw.
//! client.put(b"greeting", b"hello".to_vec(), Some(&read.context)).await?;
//! # Ok(()) }
//! ```

mod client;
mod error;
pub mod pdp;
pub mod pdp_contract;
mod retry;
mod ring;
mod ring_router;
mod router;
mod routing;
mod wallet;

pub use client::{Client, ClientConfig, Context, ReadResult, Sibling, WriteResult};
pub use error::SdkError;
pub use lambda_placement::PlacementConfig;
pub use pdp::{AuditedError, AuditedObject, pdp_key_of};
pub use pdp_contract::{ContractTerms, register_contract};
pub use retry::{CallKind, RetryPolicy};
pub use ring_router::{RingRouter, RingSnapshot, RingStats};
pub use router::{EndpointRouter, Outcome, Route, Router};
pub use routing::{RingConfig, Routing};
pub use wallet::{SignedUsage, Wallet};
