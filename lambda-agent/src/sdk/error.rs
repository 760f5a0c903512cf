//! Typed errors of the SDK.

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// An endpoint address is not a valid URI.
    #[error("invalid endpoint {endpoint}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it is invalid.
        reason: String,
    },
    /// No endpoint was given.
    #[error("no endpoints configured")]
    NoEndpoints,
    /// The node refused the request's content (key, value, context, options).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Not enough replicas answered, or the node refuses writes.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The node is overloaded; retry later.
    #[error("overloaded: {0}")]
    Overloaded(String),
    /// The deadline passed.
    #[error("deadline exceeded: {0}")]
    Timeout(String),
    /// Stored data is corrupt on the node.
    #[error("data loss: {0}")]
    DataLoss(String),
    /// The caller is not allowed (authentication or funds).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The node at a routed endpoint is not the node the ring names there
    /// (the endpoint now serves another node): nothing was sent; retried
    /// elsewhere while the ring is refreshed.
    #[error("the node answering is {actual}, the ring names {expected} at that endpoint")]
    NodeMismatch {
        /// The id the ring gives.
        expected: String,
        /// The id the node gave.
        actual: String,
    },
    /// The request was retried on retryable errors until the policy's
    /// attempt or time budget ran out; `last` is the final error.
    #[error("gave up after {attempts} attempts in {elapsed_ms} ms: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Time spent, in milliseconds, including backoff sleeps.
        elapsed_ms: u64,
        /// The error of the last attempt.
        last: Box<SdkError>,
    },
    /// Any other status the node returned.
    #[error("{code:?}: {message}")]
    Status {
        /// The gRPC code.
        code: tonic::Code,
        /// The message.
        message: String,
    },
}

impl From<tonic::Status> for SdkError {
    fn from(s: tonic::Status) -> Self {
        let message = s.message().to_string();
        match s.code() {
            tonic::Code::InvalidArgument | tonic::Code::OutOfRange => {
                Self::InvalidArgument(message)
            }
            tonic::Code::Unavailable => Self::Unavailable(message),
            // The client never cancels a call it still awaits: CANCELLED
            // here means the connection dropped before an answer (a node
            // killed mid-call). Like UNAVAILABLE from a coordinator, a
            // write may or may not have been applied.
            tonic::Code::Cancelled => {
                Self::Unavailable(format!("connection lost before an answer: {message}"))
            }
            tonic::Code::ResourceExhausted => Self::Overloaded(message),
            tonic::Code::DeadlineExceeded => Self::Timeout(message),
            tonic::Code::DataLoss => Self::DataLoss(message),
            tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => {
                Self::PermissionDenied(message)
            }
            code => Self::Status { code, message },
        }
    }
}

impl SdkError {
    /// True when the same request may succeed if retried (possibly against
    /// another node). A [`SdkError::Timeout`] of a write is retryable only
    /// if the write is idempotent: see [`crate::sdk::RetryPolicy`].
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_)
                | Self::Overloaded(_)
                | Self::Timeout(_)
                | Self::NodeMismatch { .. }
        )
    }

    /// The error behind retries: the last attempt's error for
    /// [`SdkError::GaveUp`], the error itself otherwise. Match on this to
    /// learn what kind of failure it was.
    pub fn root(&self) -> &SdkError {
        match self {
            Self::GaveUp { last, .. } => last.root(),
            other => other,
        }
    }
}
