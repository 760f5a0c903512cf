//! Request metrics of the public KV service, counted where requests are
//! answered: per operation (`get`, `put`, `delete`, `batch`) the answers by
//! outcome (`ok` or the gRPC code in snake case) and a latency histogram,
//! and in chain mode the requests the billing guard admitted or refused.
//!
//! A `Batch` call counts once, as `batch`, whatever it holds; a request the
//! admission gate refuses counts as `resource_exhausted`. Latency runs from
//! the moment the service receives the decoded request until its answer is
//! ready (admission, billing check and the backend's work included).
//! Nothing else in the node counts requests, so these are the figures the
//! admin port's `/metrics` shows.

use std::time::Duration;

use lambda_common::admin_http::grpc_code_label;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tonic::Code;

/// A public KV operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `Kv/Get`.
    Get,
    /// `Kv/Put`.
    Put,
    /// `Kv/Delete`.
    Delete,
    /// `Kv/Batch`.
    Batch,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 4] = [Op::Get, Op::Put, Op::Delete, Op::Batch];

    /// The `op` label value.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Put => "put",
            Op::Delete => "delete",
            Op::Batch => "batch",
        }
    }
}

/// The `outcome` label value of an answer: `ok`, or the gRPC code in snake
/// case (`unavailable`, `resource_exhausted`, …).
pub fn outcome_label(code: Option<Code>) -> &'static str {
    code.map_or("ok", |c| grpc_code_label(c as i32))
}

/// The `reason` label of a request the billing guard refused, from the
/// status code it answered (see `billing::guard` for which check answers
/// which code): `unauthenticated` (unsigned, bad signature, clock skew),
/// `invalid_receipt` (the usage receipt does not decode or verify),
/// `replay` (counter already seen or too old), `precondition` (receipt of
/// another epoch, receipt not covering the usage, account unknown or
/// unfunded: the message says which), `unavailable` (balance unreadable,
/// ledger write failed); any other code by its own name.
pub fn refusal_reason(code: Code) -> &'static str {
    match code {
        Code::Unauthenticated => "unauthenticated",
        Code::InvalidArgument => "invalid_receipt",
        Code::AlreadyExists => "replay",
        Code::FailedPrecondition => "precondition",
        other => outcome_label(Some(other)),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    op: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The KV service's request counters and latency histograms (cheap to
/// clone: the handles are shared).
#[derive(Clone, Debug)]
pub struct RequestMetrics {
    requests: Family<OutcomeLabels, Counter>,
    latency: Family<OpLabels, Histogram, fn() -> Histogram>,
    billed: Counter,
    refused: Family<ReasonLabels, Counter>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        // Every operation's histogram exists from the start, so that
        // dashboards show zero rates instead of missing series.
        for op in Op::ALL {
            let _ = latency.get_or_create(&OpLabels { op: op.name() });
        }
        Self {
            requests: Family::default(),
            latency,
            billed: Counter::default(),
            refused: Family::default(),
        }
    }
}

impl RequestMetrics {
    /// Registers the handles in `registry` (which carries the daemon's
    /// prefix): `requests_total{op,outcome}`,
    /// `request_duration_seconds{op}`, and in chain mode
    /// `billing_requests_billed_total` and
    /// `billing_requests_refused_total{reason}`.
    pub fn register(&self, registry: &mut Registry, billing: bool) {
        registry.register(
            "requests",
            "Public KV requests answered, by operation and outcome (ok or gRPC code)",
            self.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a public KV request, by operation",
            self.latency.clone(),
        );
        if billing {
            registry.register(
                "billing_requests_billed",
                "Requests the billing guard admitted (and metered)",
                self.billed.clone(),
            );
            registry.register(
                "billing_requests_refused",
                "Requests the billing guard refused, by reason",
                self.refused.clone(),
            );
        }
    }

    /// Records one answered request.
    pub fn observe(&self, op: Op, elapsed: Duration, error: Option<Code>) {
        let outcome = outcome_label(error);
        self.requests
            .get_or_create(&OutcomeLabels {
                op: op.name(),
                outcome,
            })
            .inc();
        self.latency
            .get_or_create(&OpLabels { op: op.name() })
            .observe(elapsed.as_secs_f64());
    }

    /// Records the billing guard's verdict on one request.
    pub fn billing(&self, refused: Option<Code>) {
        match refused {
            None => {
                self.billed.inc();
            }
            Some(code) => {
                self.refused
                    .get_or_create(&ReasonLabels {
                        reason: refusal_reason(code),
                    })
                    .inc();
            }
        }
    }

    /// Requests of `op` answered with `outcome` since start.
    pub fn count(&self, op: Op, outcome: &'static str) -> u64 {
        self.requests
            .get(&OutcomeLabels {
                op: op.name(),
                outcome,
            })
            .map_or(0, |c| c.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn counts_and_encodes_per_operation_and_outcome() {
        let m = RequestMetrics::default();
        m.observe(Op::Put, Duration::from_millis(3), None);
        m.observe(Op::Put, Duration::from_millis(1), None);
        m.observe(Op::Get, Duration::from_millis(2), Some(Code::Unavailable));
        m.billing(None);
        m.billing(Some(Code::AlreadyExists));
        let mut r = Registry::default();
        m.register(r.sub_registry_with_prefix("lambda_db"), true);
        let mut text = String::new();
        encode(&mut text, &r).unwrap();
        assert!(
            text.contains(r#"lambda_db_requests_total{op="put",outcome="ok"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"lambda_db_requests_total{op="get",outcome="unavailable"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"lambda_db_request_duration_seconds_count{op="put"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"lambda_db_request_duration_seconds_count{op="batch"} 0"#),
            "{text}"
        );
        assert!(
            text.contains("lambda_db_billing_requests_billed_total 1"),
            "{text}"
        );
        assert!(
            text.contains(r#"lambda_db_billing_requests_refused_total{reason="replay"} 1"#),
            "{text}"
        );
        assert_eq!(m.count(Op::Put, "ok"), 2);
        assert_eq!(m.count(Op::Delete, "ok"), 0);
    }
}
