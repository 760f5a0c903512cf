//! The operator commands of the `lambda-db` binary. Node commands ask a
//! running node's Admin service (`-e/--endpoint`, env `LAMBDA_ENDPOINT`):
//! `status` ([`status`]), `ring show` ([`ring`]), `hints` ([`hints`]),
//! `aae status` ([`aae`]), `transfers` ([`transfers`]), `usage` ([`usage`]).
//! Chain commands ask a validator's public API (`--chain`, env
//! `LAMBDA_CHAIN`): `chain status` ([`chain_status`]), `pdp results`
//! ([`pdp`]). `pledge` and `unpledge` submit transactions ([`pledge`]).
//!
//! Every command prints a table for people or, with `-o json`, one JSON
//! object with stable keys for scripts. The arguments are in [`args`], the
//! dispatch in [`dispatch`]; a failure is an [`AdminError`] that names the
//! endpoint and the cause.

pub mod aae;
pub mod args;
pub mod chain_status;
pub mod dispatch;
pub mod hints;
pub mod pdp;
pub mod pledge;
pub mod ring;
pub mod status;
mod table;
pub mod transfers;
pub mod usage;

use std::future::Future;
use std::time::Duration;

use lambda_proto::node::v1::admin_client::AdminClient;
use tonic::transport::Channel;

pub use status::{fetch_status, status_json, status_table};
pub use usage::{fetch_usage, usage_json, usage_table};

/// Output format of admin commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Human-readable table.
    Table,
    /// One JSON object.
    Json,
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The endpoint is not a valid address.
    #[error("invalid endpoint {0:?}")]
    Endpoint(String),
    /// No endpoint was given.
    #[error("no {0} endpoint given")]
    NoEndpoint(&'static str),
    /// The node could not be reached or refused.
    #[error("node at {endpoint}: {status}")]
    Call {
        /// The endpoint.
        endpoint: String,
        /// The gRPC code.
        code: tonic::Code,
        /// What it said.
        status: String,
    },
    /// A validator could not be reached or refused.
    #[error("validator at {endpoint}: {reason}")]
    Chain {
        /// The endpoint.
        endpoint: String,
        /// What went wrong.
        reason: String,
        /// The validator could not be reached or timed out (another may
        /// answer).
        unreachable: bool,
    },
    /// Every endpoint of a list failed.
    #[error("no endpoint answered: {0}")]
    AllFailed(String),
    /// The configuration (for the placement parameters) does not load.
    #[error("{0}")]
    Config(#[from] lambda_common::config::ConfigError),
    /// The ring cannot be computed as the node does.
    #[error("ring: {0}")]
    Ring(String),
    /// A command-line argument is wrong.
    #[error("{0}")]
    Invalid(String),
    /// A pledge or unpledge failed.
    #[error("{0}")]
    Pledge(#[from] crate::chain::ChainLinkError),
    /// The owner's key file does not load.
    #[error("owner key {path}: {error}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        error: lambda_common::keys::KeyError,
    },
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
    /// Encoding JSON failed.
    #[error("encoding JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The async runtime does not start.
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl AdminError {
    /// True when another endpoint of a list may answer instead (the
    /// endpoint could not be reached or timed out).
    pub fn unreachable(&self) -> bool {
        match self {
            AdminError::Call { code, .. } => retryable(*code),
            AdminError::Chain { unreachable, .. } => *unreachable,
            _ => false,
        }
    }
}

/// A lazily connected channel to `endpoint` (`host:port` or a URI), with a
/// 3 s connect timeout and a 10 s deadline per call.
pub fn channel(endpoint: &str) -> Result<Channel, AdminError> {
    let uri = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    Ok(tonic::transport::Endpoint::from_shared(uri)
        .map_err(|_| AdminError::Endpoint(endpoint.to_string()))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .connect_lazy())
}

/// An Admin client for the node at `endpoint` (`host:port` or a URI).
pub fn client(endpoint: &str) -> Result<AdminClient<Channel>, AdminError> {
    Ok(AdminClient::new(channel(endpoint)?))
}

/// A client of the validator API at `endpoint`, with the same timeouts.
pub fn chain_client(endpoint: &str) -> Result<lambda_chain::client::ChainClient, AdminError> {
    Ok(lambda_chain::client::ChainClient::new(channel(endpoint)?))
}

/// Names the validator in a failed chain call.
pub fn chain_error(
    endpoint: &str,
) -> impl Fn(lambda_chain::client::ClientError) -> AdminError + '_ {
    use lambda_chain::client::ClientError;
    move |error| {
        let (reason, unreachable) = match &error {
            ClientError::Status(s) => match call_error(endpoint, s) {
                AdminError::Call { code, status, .. } => (status, retryable(code)),
                other => (other.to_string(), false),
            },
            ClientError::Connect { .. } => (error.to_string(), true),
            other => (other.to_string(), false),
        };
        AdminError::Chain {
            endpoint: endpoint.to_string(),
            reason,
            unreachable,
        }
    }
}

fn retryable(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown
    )
}

/// Turns a failed call into an [`AdminError`].
pub fn call_error(endpoint: &str, s: &tonic::Status) -> AdminError {
    let status = match s.code() {
        tonic::Code::Unavailable => format!("unreachable ({})", s.message()),
        tonic::Code::DeadlineExceeded => format!("no answer in time ({})", s.message()),
        code => format!("{code:?}: {}", s.message()),
    };
    AdminError::Call {
        endpoint: endpoint.to_string(),
        code: s.code(),
        status,
    }
}

/// The entries of a comma-separated endpoint list.
pub fn split_endpoints(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

/// Calls `f` on each endpoint in turn until one answers; an endpoint that
/// refuses (rather than cannot be reached) ends the search with its error.
/// Returns the endpoint that answered and its answer.
pub async fn first_answer<T, F, Fut>(
    endpoints: &[String],
    what: &'static str,
    f: F,
) -> Result<(String, T), AdminError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, AdminError>>,
{
    let mut failures = Vec::new();
    for e in endpoints {
        match f(e.clone()).await {
            Ok(v) => return Ok((e.clone(), v)),
            Err(err) if err.unreachable() => failures.push(err),
            Err(err) => return Err(err),
        }
    }
    match failures.len() {
        0 => Err(AdminError::NoEndpoint(what)),
        1 => Err(failures.remove(0)),
        _ => Err(AdminError::AllFailed(
            failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )),
    }
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_answer_skips_unreachable_endpoints_and_names_them_all() {
        let list = split_endpoints(" a, ,b ,c");
        assert_eq!(list, ["a", "b", "c"]);
        let down = |e: &str| AdminError::Call {
            endpoint: e.into(),
            code: tonic::Code::Unavailable,
            status: "unreachable".into(),
        };
        let (e, v) = first_answer(&list, "node", |e| async move {
            if e == "c" { Ok(7) } else { Err(down(&e)) }
        })
        .await
        .unwrap();
        assert_eq!((e.as_str(), v), ("c", 7));
        let err = first_answer(&list, "node", |e| async move { Err::<u8, _>(down(&e)) })
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("node at a") && err.contains("node at c"),
            "{err}"
        );
        let refused = first_answer(&list, "node", |e| async move {
            Err::<u8, _>(AdminError::Call {
                endpoint: e,
                code: tonic::Code::NotFound,
                status: "no".into(),
            })
        })
        .await
        .unwrap_err();
        assert!(refused.to_string().starts_with("node at a"), "{refused}");
        let none = first_answer(&[], "chain", |_| async { Ok(1) }).await;
        assert!(matches!(none, Err(AdminError::NoEndpoint("chain"))));
    }
}
