//! A remote-write 1.0 receiver for tests: decodes snappy + protobuf and records every sample.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// One received sample: labels in the order sent, timestamp, value bits.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    pub labels: Vec<(String, String)>,
    pub timestamp: i64,
    pub value_bits: u64,
}

impl Received {
    pub fn label_map(&self) -> BTreeMap<String, String> {
        self.labels.iter().cloned().collect()
    }
}

#[derive(Default)]
pub struct Capture {
    pub samples: Mutex<Vec<Received>>,
    pub requests: Mutex<Vec<HeaderMap>>,
}

async fn receive(
    State(capture): State<Arc<Capture>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Ok(raw) = snap::raw::Decoder::new().decompress_vec(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let Ok(request) = <WriteRequest as prost::Message>::decode(raw.as_slice()) else {
        return StatusCode::BAD_REQUEST;
    };
    capture.requests.lock().push(headers);
    let mut samples = capture.samples.lock();
    for series in request.timeseries {
        let labels: Vec<(String, String)> = series
            .labels
            .into_iter()
            .map(|l| (l.name, l.value))
            .collect();
        for sample in series.samples {
            samples.push(Received {
                labels: labels.clone(),
                timestamp: sample.timestamp,
                value_bits: sample.value.to_bits(),
            });
        }
    }
    StatusCode::NO_CONTENT
}

/// Starts a receiver on 127.0.0.1; returns its push URL and what it captured.
pub async fn start() -> (String, Arc<Capture>) {
    let capture = Arc::new(Capture::default());
    let app = axum::Router::new()
        .route("/api/v1/receive", axum::routing::post(receive))
        .with_state(capture.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let address = listener.local_addr().expect("receiver address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/api/v1/receive"), capture)
}
