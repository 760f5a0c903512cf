//! A Prometheus remote-write endpoint: `POST /api/v1/write` with a
//! snappy-compressed `prometheus.WriteRequest` (remote-write 1.0), stored
//! through the same all-or-nothing ingest as the gRPC API.
//!
//! The series' metric name is the `__name__` label; labels with an empty
//! value are dropped (Prometheus treats them as absent). Answers: 204 when
//! stored; 400 for a body or series that cannot be stored (Prometheus does
//! not retry these — a re-sent batch refused as duplicate or out of order
//! was already stored by an earlier attempt); 503 with `Retry-After` while the upload
//! queue is full or the store fails (Prometheus retries these). Exemplars,
//! native histograms and metadata are ignored.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::tsdb::{Point, SeriesKey, SeriesPoints, Tsdb, TsdbError};

/// Largest accepted body, compressed or not.
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// `prometheus.WriteRequest` (only the fields read here).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in time order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Decodes a snappy-compressed write request into an ingest batch.
pub fn decode(body: &[u8]) -> Result<Vec<SeriesPoints>, String> {
    let len = snap::raw::decompress_len(body)
        .map_err(|e| format!("body is not snappy-compressed: {e}"))?;
    if len > MAX_BODY_BYTES {
        return Err(format!(
            "decompressed body of {len} bytes exceeds {MAX_BODY_BYTES}"
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("body is not snappy-compressed: {e}"))?;
    let req = <WriteRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| format!("body is not a prometheus.WriteRequest: {e}"))?;
    let mut batch = Vec::with_capacity(req.timeseries.len());
    for ts in req.timeseries {
        let mut name = None;
        let mut labels = Vec::new();
        for l in ts.labels {
            if l.name == "__name__" {
                name = Some(l.value);
            } else if !l.value.is_empty() {
                labels.push((l.name, l.value));
            }
        }
        let name =
            name.ok_or_else(|| format!("a series has no __name__ label (labels {labels:?})"))?;
        let key = SeriesKey::new(name, labels).map_err(|e| e.to_string())?;
        let points = ts
            .samples
            .iter()
            .map(|s| Point::new(s.timestamp, s.value))
            .collect();
        batch.push(SeriesPoints { key, points });
    }
    Ok(batch)
}

fn answer(code: StatusCode, msg: String) -> Response {
    let mut r = (code, msg).into_response();
    if code == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    r
}

async fn write(State(tsdb): State<Arc<Tsdb>>, body: Bytes) -> Response {
    let batch = match decode(&body) {
        Ok(b) => b,
        Err(e) => return answer(StatusCode::BAD_REQUEST, e),
    };
    let result = tokio::task::spawn_blocking(move || tsdb.ingest(&batch)).await;
    match result {
        Ok(Ok(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e @ (TsdbError::Backpressure { .. } | TsdbError::Io { .. }))) => {
            answer(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Ok(Err(e)) => answer(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("ingest task failed: {e}"),
        ),
    }
}

/// Serves the endpoint on `listener` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    tsdb: Arc<Tsdb>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, "Prometheus remote-write endpoint listening");
    let app = Router::new()
        .route("/api/v1/write", post(write))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(tsdb);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(req: &WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&prost::Message::encode_to_vec(req))
            .unwrap()
    }

    #[test]
    fn decodes_series_and_refuses_bad_bodies() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    Label {
                        name: "job".into(),
                        value: "node".into(),
                    },
                    Label {
                        name: "empty".into(),
                        value: String::new(),
                    },
                ],
                samples: vec![
                    Sample {
                        value: 1.0,
                        timestamp: 5,
                    },
                    Sample {
                        value: f64::from_bits(0x7ff0_0000_0000_0002),
                        timestamp: 6,
                    },
                ],
            }],
        };
        let batch = decode(&body(&req)).unwrap();
        assert_eq!(batch[0].key.canonical(), r#"up{job="node"}"#);
        assert_eq!(batch[0].points[1].value.to_bits(), 0x7ff0_0000_0000_0002);
        assert!(decode(b"not snappy").unwrap_err().contains("snappy"));
        let nameless = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![],
                samples: vec![],
            }],
        };
        assert!(decode(&body(&nameless)).unwrap_err().contains("__name__"));
    }
}
