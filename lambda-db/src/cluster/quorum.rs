//! Waiting for a quorum: collect answers from replicas until enough have
//! succeeded, until success is no longer possible, or until the deadline —
//! whichever comes first — and hand back the calls still under way so the
//! caller can finish them in the background.

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;

/// Replica calls under way; each yields its index and outcome.
pub type Pending<T> = FuturesUnordered<BoxFuture<'static, (usize, Result<T, String>)>>;

/// What a quorum wait collected.
#[derive(Debug)]
pub struct Gathered<T> {
    /// Successful answers, by call index.
    pub ok: Vec<(usize, T)>,
    /// Failures, by call index, with what went wrong.
    pub failed: Vec<(usize, String)>,
    /// True when the deadline ended the wait.
    pub timed_out: bool,
}

impl<T> Gathered<T> {
    /// A "; failures: …" suffix for error messages (empty when none).
    pub fn detail(&self, down: &[String]) -> String {
        let mut parts: Vec<String> = self.failed.iter().map(|(_, e)| e.clone()).collect();
        if self.timed_out {
            parts.push("deadline reached while waiting".into());
        }
        if !down.is_empty() {
            parts.push(format!("believed down: {}", down.join(", ")));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("; {}", parts.join("; "))
        }
    }
}

/// Starts a replica call as its own task, so it is sent at once and makes
/// progress whether or not anyone polls for its answer, and wraps it for a
/// [`Pending`] set under index `i`.
pub fn spawn_call<T, F>(i: usize, call: F) -> BoxFuture<'static, (usize, Result<T, String>)>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    let handle = tokio::spawn(call);
    async move {
        match handle.await {
            Ok(r) => (i, r),
            Err(e) => (i, Err(format!("replica call task failed: {e}"))),
        }
    }
    .boxed()
}

/// Polls `pending` until `needed` calls succeeded, every call finished, or
/// `deadline` passed. When the quorum is out of reach the remaining calls are
/// still awaited (each has its own deadline), so the caller can report
/// exactly who answered.
pub async fn gather<T>(pending: &mut Pending<T>, needed: usize, deadline: Instant) -> Gathered<T> {
    gather_until(pending, deadline, |ok| ok.len() >= needed).await
}

/// Like [`gather`], until `enough` holds for the successful answers so far
/// (joint quorums: enough answers in every live layout).
pub async fn gather_until<T>(
    pending: &mut Pending<T>,
    deadline: Instant,
    enough: impl Fn(&[(usize, T)]) -> bool,
) -> Gathered<T> {
    let mut out = Gathered {
        ok: Vec::new(),
        failed: Vec::new(),
        timed_out: false,
    };
    while !enough(&out.ok) {
        match tokio::time::timeout_at(deadline, pending.next()).await {
            Ok(Some((i, Ok(v)))) => out.ok.push((i, v)),
            Ok(Some((i, Err(e)))) => out.failed.push((i, e)),
            Ok(None) => break,
            Err(_) => {
                out.timed_out = true;
                break;
            }
        }
    }
    out
}

/// Waits for every call still under way (each has its own deadline).
pub async fn drain<T>(pending: &mut Pending<T>) -> Vec<(usize, Result<T, String>)> {
    let mut out = Vec::new();
    while let Some(r) = pending.next().await {
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn call(i: usize, delay_ms: u64, ok: bool) -> BoxFuture<'static, (usize, Result<u32, String>)> {
        async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            (
                i,
                if ok {
                    Ok(i as u32)
                } else {
                    Err(format!("call {i} failed"))
                },
            )
        }
        .boxed()
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_quorum_and_leaves_the_rest() {
        let mut p: Pending<u32> = [call(0, 10, true), call(1, 20, true), call(2, 1000, true)]
            .into_iter()
            .collect();
        let g = gather(&mut p, 2, Instant::now() + Duration::from_secs(5)).await;
        assert_eq!(g.ok.len(), 2);
        assert_eq!(p.len(), 1, "the slow call is handed back");
        assert_eq!(drain(&mut p).await.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn counts_every_answer_when_quorum_is_out_of_reach_or_late() {
        let mut p: Pending<u32> = [call(0, 10, false), call(1, 20, false), call(2, 1000, true)]
            .into_iter()
            .collect();
        let g = gather(&mut p, 2, Instant::now() + Duration::from_secs(5)).await;
        assert_eq!((g.ok.len(), g.failed.len(), g.timed_out), (1, 2, false));
        assert!(g.detail(&["n9".into()]).contains("call 0 failed"));

        let mut p: Pending<u32> = [call(0, 10, true), call(1, 5000, true)]
            .into_iter()
            .collect();
        let g = gather(&mut p, 2, Instant::now() + Duration::from_millis(100)).await;
        assert!(g.timed_out);
        assert_eq!(g.ok.len(), 1);
    }
}
