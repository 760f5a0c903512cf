//! `tracing` set-up shared by every binary.
//!
//! Levels come from `LAMBDA_LOG` (falling back to `RUST_LOG`, then `info`),
//! in the usual `EnvFilter` syntax (`info,lambda_db::quorum=debug`). JSON
//! lines are written instead of human-readable text when `LAMBDA_LOG_FORMAT`
//! is `json` or the caller asks for it. Logs go to standard error so that
//! command output on standard output stays machine-readable.

use tracing_subscriber::EnvFilter;

/// Output format of the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable, one line per event.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

impl LogFormat {
    /// The format named by `LAMBDA_LOG_FORMAT`, or text.
    pub fn from_env() -> Self {
        match std::env::var("LAMBDA_LOG_FORMAT") {
            Ok(v) if v.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Text,
        }
    }
}

/// Installs the global subscriber. `default_level` applies when neither
/// `LAMBDA_LOG` nor `RUST_LOG` is set. Calling it twice is harmless (the second
/// call does nothing), so tests may call it freely.
pub fn init(default_level: &str, format: LogFormat) {
    let filter = std::env::var("LAMBDA_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
