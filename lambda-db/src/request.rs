//! Validation of what clients send: key and value sizes against the
//! configured limits, and per-request replication options against the
//! configured bounds.

use std::time::Duration;

use lambda_proto::kv::v1 as pb;

use crate::config::{LimitsConfig, ReplicationConfig};
use crate::error::{Error, Result};

/// Replication and timing options of one request, resolved against the
/// cluster defaults and checked against the bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestOptions {
    /// Replicas (N).
    pub n: u32,
    /// Read quorum (R).
    pub r: u32,
    /// Write quorum (W).
    pub w: u32,
    /// Deadline of the whole request.
    pub timeout: Duration,
    /// Opt-in last-write-wins.
    pub last_write_wins: bool,
    /// The request was forwarded by another node to this one to
    /// coordinate; it must not be forwarded again.
    pub forwarded: bool,
}

impl RequestOptions {
    /// The cluster defaults.
    pub fn defaults(cfg: &ReplicationConfig) -> Self {
        Self {
            n: cfg.n,
            r: cfg.r,
            w: cfg.w,
            timeout: Duration::from_millis(u64::from(cfg.default_timeout_ms)),
            last_write_wins: false,
            forwarded: false,
        }
    }

    /// The wire form, for forwarding the request to another node.
    pub fn to_pb(&self) -> pb::RequestOptions {
        pb::RequestOptions {
            n: Some(self.n),
            r: Some(self.r),
            w: Some(self.w),
            timeout_ms: Some(self.timeout.as_millis().min(u128::from(u32::MAX)) as u32),
            last_write_wins: self.last_write_wins,
        }
    }

    /// Resolves a request's options: unset fields take the defaults, set
    /// ones must lie within the bounds (N at most `max_n`, the
    /// preference-list length).
    pub fn resolve(
        opts: Option<&pb::RequestOptions>,
        cfg: &ReplicationConfig,
        max_n: u32,
    ) -> Result<Self> {
        let mut out = Self::defaults(cfg);
        let Some(o) = opts else {
            return Ok(out);
        };
        out.n = o.n.unwrap_or(cfg.n);
        if out.n == 0 || out.n > max_n {
            return Err(Error::BadOption(format!(
                "n = {} is outside 1..={max_n} (placement.replicas)",
                out.n
            )));
        }
        // Defaults never exceed the chosen N: a request that lowers N lowers
        // the default quorums with it.
        out.r = o.r.unwrap_or(cfg.r.min(out.n));
        out.w = o.w.unwrap_or(cfg.w.min(out.n));
        for (name, v) in [("r", out.r), ("w", out.w)] {
            if v == 0 || v > out.n {
                return Err(Error::BadOption(format!(
                    "{name} = {v} is outside 1..={} (n)",
                    out.n
                )));
            }
        }
        if let Some(ms) = o.timeout_ms {
            if ms == 0 || ms > cfg.max_timeout_ms {
                return Err(Error::BadOption(format!(
                    "timeout_ms = {ms} is outside 1..={} (replication.max_timeout_ms)",
                    cfg.max_timeout_ms
                )));
            }
            out.timeout = Duration::from_millis(u64::from(ms));
        }
        out.last_write_wins = o.last_write_wins;
        Ok(out)
    }
}

/// Checks a key against the limits.
pub fn check_key(key: &[u8], limits: &LimitsConfig) -> Result<()> {
    if key.is_empty() {
        return Err(Error::EmptyKey);
    }
    if key.len() > limits.max_key_bytes {
        return Err(Error::KeyTooLarge {
            len: key.len(),
            limit: limits.max_key_bytes,
        });
    }
    Ok(())
}

/// Checks a value against the limits.
pub fn check_value(value: &[u8], limits: &LimitsConfig) -> Result<()> {
    if value.len() > limits.max_value_bytes {
        return Err(Error::ValueTooLarge {
            len: value.len(),
            limit: limits.max_value_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_resolve_within_bounds() {
        let cfg = ReplicationConfig::default();
        assert_eq!(RequestOptions::resolve(None, &cfg, 5).unwrap().n, 3);
        let one = pb::RequestOptions {
            n: Some(1),
            ..Default::default()
        };
        let o = RequestOptions::resolve(Some(&one), &cfg, 5).unwrap();
        assert_eq!((o.n, o.r, o.w), (1, 1, 1));
        for bad in [
            pb::RequestOptions {
                n: Some(0),
                ..Default::default()
            },
            pb::RequestOptions {
                n: Some(99),
                ..Default::default()
            },
            pb::RequestOptions {
                r: Some(4),
                ..Default::default()
            },
            pb::RequestOptions {
                w: Some(0),
                ..Default::default()
            },
            pb::RequestOptions {
                timeout_ms: Some(0),
                ..Default::default()
            },
            pb::RequestOptions {
                timeout_ms: Some(10_000_000),
                ..Default::default()
            },
        ] {
            let err = RequestOptions::resolve(Some(&bad), &cfg, 5).unwrap_err();
            assert!(matches!(err, Error::BadOption(_)), "{err}");
        }
    }

    #[test]
    fn limits_name_themselves() {
        let l = LimitsConfig {
            max_key_bytes: 4,
            max_value_bytes: 8,
            ..Default::default()
        };
        assert!(matches!(check_key(b"", &l), Err(Error::EmptyKey)));
        let e = check_key(b"12345", &l).unwrap_err().to_string();
        assert!(e.contains("max_key_bytes") && e.contains('4'), "{e}");
        let e = check_value(&[0; 9], &l).unwrap_err().to_string();
        assert!(e.contains("max_value_bytes"), "{e}");
        assert!(check_value(&[], &l).is_ok());
    }
}
