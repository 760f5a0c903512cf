//! Retries with exponential backoff and jitter, bounded in attempts and in
//! total time, plus a per-attempt timeout.
//!
//! What is retried:
//!
//! - UNAVAILABLE and RESOURCE_EXHAUSTED, for every call: the node was
//!   unreachable, could not gather a quorum, or shed load; likewise
//!   [`SdkError::NodeMismatch`] (nothing was sent).
//! - DEADLINE_EXCEEDED (from the node or from the per-attempt timeout), for
//!   reads only, unless the policy says the caller's writes are idempotent
//!   ([`RetryPolicy::retry_write_timeouts`]). A write that timed out may have
//!   been applied: retrying a blind write would then leave a second sibling
//!   with the same value.
//!
//! How writes are retried safely: a retried UNAVAILABLE write is safe in
//! the sense that nothing is lost; at worst (the first attempt was applied on
//! some replica) the key gets a duplicate sibling with the same value, which
//! the next read-modify-write with a context resolves. Writes whose content
//! is a deterministic function of the key (the time-series store's sealed
//! blocks) use last-write-wins and set `retry_write_timeouts`, so every retry
//! writes the same bytes and no sibling appears. Other callers that get a
//! DEADLINE_EXCEEDED on a write should read the key back before writing
//! again.

use std::future::Future;
use std::time::{Duration, Instant};

use rand::RngExt as _;

use super::SdkError;

/// Whether a call reads or writes: it decides whether timeouts are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// A read: always safe to repeat.
    Read,
    /// A write: repeated on timeout only with `retry_write_timeouts`.
    Write,
}

/// How a client retries.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 disables retries).
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles each time.
    pub initial_backoff: Duration,
    /// Largest backoff between two attempts.
    pub max_backoff: Duration,
    /// Total time budget, sleeps included: no attempt starts after it.
    pub max_elapsed: Duration,
    /// Retry writes that timed out: only for idempotent writes.
    pub retry_write_timeouts: bool,
}

impl Default for RetryPolicy {
    /// 4 attempts, backoff 50 ms doubling up to 1 s, 10 s in all.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(10),
            retry_write_timeouts: false,
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// True if `err` of a call of this kind should be retried.
    pub fn should_retry(&self, err: &SdkError, kind: CallKind) -> bool {
        match err {
            SdkError::Unavailable(_) | SdkError::Overloaded(_) | SdkError::NodeMismatch { .. } => {
                true
            }
            SdkError::Timeout(_) => kind == CallKind::Read || self.retry_write_timeouts,
            _ => false,
        }
    }

    /// The sleep after failed attempt `attempt` (1-based): "equal jitter",
    /// uniform in [cap/2, cap] where cap = initial × 2^(attempt-1) bounded
    /// by `max_backoff`, so that clients that failed together spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let cap = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let cap_us = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
        if cap_us < 2 {
            return cap;
        }
        let low = cap_us / 2;
        Duration::from_micros(rand::rng().random_range(low..=cap_us))
    }
}

/// Runs `call` (given the 1-based attempt number) under `policy`, with at
/// most `per_attempt` for each attempt.
pub(crate) async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    kind: CallKind,
    per_attempt: Duration,
    mut call: F,
) -> Result<T, SdkError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, SdkError>>,
{
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let err = match tokio::time::timeout(per_attempt, call(attempt)).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e,
            Err(_) => SdkError::Timeout(format!("no answer within {} ms", per_attempt.as_millis())),
        };
        if !policy.should_retry(&err, kind) {
            return Err(err);
        }
        let delay = policy.backoff(attempt);
        let give_up =
            attempt >= policy.max_attempts || start.elapsed() + delay >= policy.max_elapsed;
        if give_up {
            if attempt == 1 {
                return Err(err);
            }
            return Err(SdkError::GaveUp {
                attempts: attempt,
                elapsed_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                last: Box::new(err),
            });
        }
        tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, error = %err, "retrying request");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            max_elapsed: Duration::from_secs(5),
            retry_write_timeouts: false,
        }
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let p = RetryPolicy::default();
        for attempt in 1..40 {
            let d = p.backoff(attempt);
            let cap = (p.initial_backoff * 2u32.pow(attempt.min(20) - 1)).min(p.max_backoff);
            assert!(
                d <= cap && d >= cap / 2,
                "attempt {attempt}: {d:?} vs {cap:?}"
            );
        }
    }

    #[tokio::test]
    async fn retries_unavailable_until_success() {
        let calls = AtomicU32::new(0);
        let r = run(
            &fast(),
            CallKind::Write,
            Duration::from_secs(1),
            |_| async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(SdkError::Unavailable("down".into()))
                } else {
                    Ok(7)
                }
            },
        )
        .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn write_timeouts_are_not_retried_reads_are() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = run(
            &fast(),
            CallKind::Write,
            Duration::from_secs(1),
            |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(SdkError::Timeout("slow".into()))
            },
        )
        .await;
        assert!(matches!(r, Err(SdkError::Timeout(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        calls.store(0, Ordering::SeqCst);
        let r: Result<(), _> = run(&fast(), CallKind::Read, Duration::from_secs(1), |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(SdkError::Timeout("slow".into()))
        })
        .await;
        let err = r.unwrap_err();
        assert!(matches!(err, SdkError::GaveUp { attempts: 5, .. }), "{err}");
        assert!(matches!(err.root(), SdkError::Timeout(_)));
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn permanent_errors_return_at_once() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = run(&fast(), CallKind::Read, Duration::from_secs(1), |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(SdkError::InvalidArgument("key is empty".into()))
        })
        .await;
        assert!(matches!(r, Err(SdkError::InvalidArgument(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn per_attempt_timeout_and_total_budget() {
        let mut p = fast();
        p.max_attempts = 1000;
        p.max_elapsed = Duration::from_millis(200);
        let started = Instant::now();
        let r: Result<(), _> = run(&p, CallKind::Read, Duration::from_millis(30), |_| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        })
        .await;
        let err = r.unwrap_err();
        assert!(matches!(err.root(), SdkError::Timeout(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
