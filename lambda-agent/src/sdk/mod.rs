//! The Rust SDK for Lambda's KV API.
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

pub use client::{Client, ClientConfig, Context, ReadResult, Sibling, WriteResult};
pub use error::SdkError;
