//! Where the demo's replicas write: an embedded remote-write 1.0 receiver that keeps every
//! series and checks every sample, or Debian's prometheus queried back over its HTTP API.

use crate::remote_write::prompb::decode_write_request;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// What a receiver holds of the scraped job's series (the scraper's own `up`/`scrape_*`
/// series left out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    pub series: u64,
    /// Series with a sample at or after the time asked about.
    pub series_fresh: u64,
    pub samples: u64,
    /// Samples at a timestamp the series already had, with the same value (a resend).
    pub repeats: Option<u64>,
    /// Samples at a timestamp the series already had, with another value (prometheus:
    /// write requests it refused as bad, which such samples cause).
    pub conflicts: u64,
    /// Samples older than the series' newest.
    pub out_of_order: u64,
}

#[derive(Default)]
struct SeriesState {
    newest_ms: i64,
    newest_value_bits: u64,
}

#[derive(Default)]
struct Store {
    series: HashMap<Box<str>, SeriesState>,
    samples: u64,
    repeats: u64,
    conflicts: u64,
    out_of_order: u64,
}

/// The embedded receiver: `POST /api/v1/write`.
#[derive(Clone)]
pub struct EmbeddedReceiver {
    store: Arc<Mutex<Store>>,
    job: Arc<str>,
}

impl EmbeddedReceiver {
    /// Counts the series of `job` only.
    pub fn new(job: &str) -> EmbeddedReceiver {
        EmbeddedReceiver {
            store: Arc::default(),
            job: job.into(),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/write", post(write))
            .with_state(self.clone())
    }

    pub fn received(&self, fresh_since_ms: i64) -> Received {
        let store = self.store.lock();
        Received {
            series: store.series.len() as u64,
            series_fresh: store
                .series
                .values()
                .filter(|s| s.newest_ms >= fresh_since_ms)
                .count() as u64,
            samples: store.samples,
            repeats: Some(store.repeats),
            conflicts: store.conflicts,
            out_of_order: store.out_of_order,
        }
    }
}

async fn write(State(receiver): State<EmbeddedReceiver>, body: Bytes) -> (StatusCode, String) {
    let request = match decode_write_request(&body) {
        Ok(request) => request,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error}\n")),
    };
    let mut store = receiver.store.lock();
    let mut key = String::new();
    for series in &request.timeseries {
        let label = |name: &str| {
            series
                .labels
                .iter()
                .find(|l| l.name == name)
                .map_or("", |l| l.value.as_str())
        };
        if label("job") != &*receiver.job
            || crate::scrape::scrape_loop::is_synthetic(label("__name__"))
        {
            continue;
        }
        key.clear();
        for l in &series.labels {
            key.push_str(&l.name);
            key.push('\u{0}');
            key.push_str(&l.value);
            key.push('\u{0}');
        }
        let store = &mut *store;
        let state = match store.series.get_mut(key.as_str()) {
            Some(state) => state,
            None => store
                .series
                .entry(key.as_str().into())
                .or_insert(SeriesState {
                    newest_ms: i64::MIN,
                    newest_value_bits: 0,
                }),
        };
        for sample in &series.samples {
            store.samples += 1;
            let bits = sample.value.to_bits();
            if sample.timestamp > state.newest_ms {
                state.newest_ms = sample.timestamp;
                state.newest_value_bits = bits;
            } else if sample.timestamp == state.newest_ms {
                if bits == state.newest_value_bits {
                    store.repeats += 1;
                } else {
                    store.conflicts += 1;
                }
            } else {
                store.out_of_order += 1;
            }
        }
    }
    (StatusCode::NO_CONTENT, String::new())
}

/// Debian's prometheus as the receiver (`--web.enable-remote-write-receiver`), asked over
/// its query API. It drops resent identical samples silently, so repeats are unknown.
pub struct PrometheusReceiver {
    pub address: String,
    pub job: String,
    client: reqwest::Client,
}

impl PrometheusReceiver {
    pub fn new(address: String, job: &str) -> PrometheusReceiver {
        PrometheusReceiver {
            address,
            job: job.to_string(),
            client: reqwest::Client::new(),
        }
    }

    async fn scalar(&self, query: &str) -> Result<u64, String> {
        let url = format!(
            "http://{}/api/v1/query?{}",
            self.address,
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("query", query)
                .finish()
        );
        let body: serde_json::Value = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("query {query}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("query {query}: {e}"))?;
        // An empty vector is a count of 0.
        Ok(body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64)
    }

    /// The sum of the receiver's own metric `name` over the series whose labels contain every
    /// text of `label_texts`, from its `/metrics` (it does not scrape itself).
    async fn own_metric(&self, name: &str, label_texts: &[&str]) -> Result<u64, String> {
        let url = format!("http://{}/metrics", self.address);
        let text = self
            .client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("prometheus /metrics: {e}"))?
            .text()
            .await
            .map_err(|e| format!("prometheus /metrics: {e}"))?;
        let mut sum = 0.0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let metric = series.split('{').next().unwrap_or_default();
            if metric == name && label_texts.iter().all(|t| series.contains(t)) {
                sum += value.parse::<f64>().unwrap_or(0.0);
            }
        }
        Ok(sum as u64)
    }

    pub async fn received(&self, fresh_since_ms: i64) -> Result<Received, String> {
        let selector = format!(
            "{{job=\"{}\",__name__!~\"up|scrape_.+\"}}",
            self.job.replace('"', "\\\"")
        );
        Ok(Received {
            series: self.scalar(&format!("count({selector})")).await?,
            series_fresh: self
                .scalar(&format!(
                    "count(timestamp({selector}) >= {})",
                    fresh_since_ms as f64 / 1000.0
                ))
                .await?,
            samples: self
                .own_metric("prometheus_tsdb_head_samples_appended_total", &[])
                .await?,
            repeats: None,
            // A conflicting or out-of-order sample makes it refuse the whole request.
            conflicts: self
                .own_metric(
                    "prometheus_http_requests_total",
                    &["handler=\"/api/v1/write\"", "code=\"4"],
                )
                .await?,
            out_of_order: self
                .own_metric("prometheus_tsdb_out_of_order_samples_total", &[])
                .await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::prompb::{Label, Sample, TimeSeries, WriteRequest};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn series(job: &str, name: &str, samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: [("__name__", name), ("job", job), ("pod", "p")]
                .into_iter()
                .map(|(n, v)| Label {
                    name: n.into(),
                    value: v.into(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
        }
    }

    async fn send(receiver: &EmbeddedReceiver, timeseries: Vec<TimeSeries>) -> StatusCode {
        let raw = prost::Message::encode_to_vec(&WriteRequest {
            timeseries,
            metadata: Vec::new(),
        });
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        receiver
            .router()
            .oneshot(
                Request::post("/api/v1/write")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn counts_the_jobs_series_and_checks_every_sample() {
        let receiver = EmbeddedReceiver::new("metrics-test");
        let status = send(
            &receiver,
            vec![
                series("metrics-test", "a", &[(1000, 1.0), (2000, 2.0)]),
                series("metrics-test", "b", &[(1000, 1.0)]),
                // Not counted: another job, and the scraper's own series.
                series("other", "a", &[(1000, 1.0)]),
                series("metrics-test", "up", &[(1000, 1.0)]),
                series("metrics-test", "scrape_series_added", &[(1000, 1.0)]),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        // A resend, a conflicting value at a written timestamp, an older sample.
        send(
            &receiver,
            vec![
                series("metrics-test", "a", &[(2000, 2.0)]),
                series("metrics-test", "b", &[(1000, 5.0)]),
                series("metrics-test", "a", &[(1500, 1.5)]),
            ],
        )
        .await;
        let received = receiver.received(2000);
        assert_eq!(received.series, 2);
        assert_eq!(received.series_fresh, 1);
        assert_eq!(received.samples, 6);
        assert_eq!(received.repeats, Some(1));
        assert_eq!(received.conflicts, 1);
        assert_eq!(received.out_of_order, 1);
        assert_eq!(receiver.received(0).series_fresh, 2);
    }

    #[tokio::test]
    async fn undecodable_bodies_are_refused() {
        let receiver = EmbeddedReceiver::new("metrics-test");
        let status = receiver
            .router()
            .oneshot(
                Request::post("/api/v1/write")
                    .body(Body::from("not snappy"))
                    .unwrap(),
            )
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let nothing = Received {
            repeats: Some(0),
            ..Received::default()
        };
        assert_eq!(receiver.received(0), nothing);
    }
}
