//! The devnet's error type: every way starting, running or stopping a devnet
//! can fail, each naming what it was doing and on what.

use std::path::PathBuf;
use std::time::Duration;

/// Why the devnet could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The spec asks for something the devnet cannot build.
    #[error("invalid devnet spec: {0}")]
    Spec(String),
    /// A binary the devnet runs is missing.
    #[error("{path} not found; build it first (make run does: cargo build --bin {name})")]
    MissingBinary {
        /// The binary's name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The data directory holds something that is not a devnet of this
    /// version, or a manifest that does not parse.
    #[error("data directory {path}: {reason}")]
    DataDir {
        /// The directory or manifest.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No block of free loopback ports was found.
    #[error("ports: {0}")]
    Ports(String),
    /// A child process could not be started or signalled.
    #[error("process {name}: {reason}")]
    Process {
        /// The child's name (`v0`, `n1`, `agent`, …).
        name: String,
        /// What failed.
        reason: String,
    },
    /// A generated configuration could not be written.
    #[error("configuration of {name}: {reason}")]
    Config {
        /// The component.
        name: String,
        /// What failed.
        reason: String,
    },
    /// A node key or account key could not be loaded or created.
    #[error("key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A call to the chain failed.
    #[error("chain: {0}")]
    Chain(#[from] lambda_chain::client::ClientError),
    /// Something did not happen in time.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
    },
    /// A storage node's pledge (node funding, then the Pledge) failed.
    #[error("pledge of {node}: {reason}")]
    Pledge {
        /// The node's name.
        node: String,
        /// The chain's answer or the failure.
        reason: String,
    },
    /// The smoke workload failed.
    #[error("smoke workload: {0}")]
    Smoke(String),
}

impl DevnetError {
    /// An [`DevnetError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
