//! A remote write 1.0 receiver for tests: axum on 127.0.0.1:0 that snappy-decodes and
//! prost-decodes every request, records it with its headers, and answers from a script.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use parking_lot::Mutex;
use promshard::config::{RemoteWriteConfig, load_str};
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use promshard::remote_write::prompb::{TimeSeries, WriteRequest, decode_write_request};

/// How the receiver answers one request.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            retry_after: None,
            body: String::new(),
        }
    }

    pub fn retry_after(mut self, value: &str) -> Reply {
        self.retry_after = Some(value.to_string());
        self
    }

    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.to_string();
        self
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    /// The compressed body as sent.
    pub body: Bytes,
    pub request: WriteRequest,
    /// When it arrived.
    pub at: Instant,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    /// Answers are delayed by a random 0..=max_delay_ms.
    max_delay_ms: u64,
    received: Vec<Received>,
    /// Requests whose body was not snappy block + WriteRequest.
    undecodable: usize,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// Starts a receiver on a free loopback port; it answers 204 unless scripted otherwise.
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/api/v1/write", post(handle))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url: format!("http://{addr}/api/v1/write"),
            inner,
        }
    }

    /// The next requests are answered with these, in order; then 204 again.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().script.extend(replies);
    }

    pub fn set_max_delay(&self, delay: Duration) {
        self.inner.lock().max_delay_ms = delay.as_millis() as u64;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().received.clone()
    }

    pub fn undecodable(&self) -> usize {
        self.inner.lock().undecodable
    }

    /// Requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// Samples of accepted requests in the order they were accepted.
    pub fn accepted_samples(&self) -> Vec<(BTreeMap<String, String>, i64, u64)> {
        let mut out = Vec::new();
        for r in self.accepted() {
            for ts in &r.request.timeseries {
                let labels: BTreeMap<String, String> = ts
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                for s in &ts.samples {
                    out.push((labels.clone(), s.timestamp, s.value.to_bits()));
                }
            }
        }
        out
    }

    /// Waits until `pred` holds for the recorded requests, or panics after `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let received = self.received();
            if pred(&received) {
                return received;
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; got {} requests: {:?}",
                    received.len(),
                    received.iter().map(|r| r.status).collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `n` samples were accepted.
    pub async fn wait_for_samples(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.wait_until(&format!("{n} accepted samples"), timeout, |r| {
            r.iter()
                .filter(|r| (200..300).contains(&r.status))
                .map(|r| r.request.timeseries.len())
                .sum::<usize>()
                >= n
        })
        .await
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let Ok(request) = decode_write_request(&body) else {
        inner.lock().undecodable += 1;
        return (StatusCode::BAD_REQUEST, "undecodable").into_response();
    };
    let max_delay = inner.lock().max_delay_ms;
    if max_delay > 0 {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=max_delay))).await;
    }
    // Choose the answer and record at once, so recorded order is acceptance order.
    let mut inner = inner.lock();
    let reply = inner
        .script
        .pop_front()
        .unwrap_or_else(|| Reply::status(204));
    inner.received.push(Received {
        headers,
        body,
        request,
        at,
        status: reply.status,
    });
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        reply.body.clone(),
    )
        .into_response();
    if let Some(value) = &reply.retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_str(value).unwrap());
    }
    response
}

/// The `remote_write` entries of a config whose `remote_write` section is `section`.
pub fn remote_write_configs(section: &str) -> Vec<RemoteWriteConfig> {
    let yaml = format!("remote_write:\n{section}");
    load_str(&yaml, Path::new("/tmp/promshard-rw-test.yml"))
        .unwrap_or_else(|e| panic!("bad test config: {e}\n{yaml}"))
        .remote_write
}

/// Labels as a map, for comparing.
pub fn label_map(ts: &TimeSeries) -> BTreeMap<String, String> {
    ts.labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
