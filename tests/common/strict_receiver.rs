//! A strict remote write 1.0 receiver for long runs: keeps every accepted sample per series
//! (not whole requests) and records every violation a TSDB would reject or hide: a sample at or
//! before the series' last timestamp (out of order or duplicate) and unsorted samples inside a
//! series. It answers with a settable status, so a test can stage an outage.

use super::receiver::decode_write_request;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

#[derive(Default)]
pub struct Store {
    /// Series (labels as `name="value",...`, sorted) to their samples: (timestamp, value bits).
    pub series: HashMap<String, Vec<(i64, u64)>>,
    /// What a strict receiver would reject, in arrival order (the first few hundred).
    pub violations: Vec<String>,
    pub violation_count: u64,
}

struct Shared {
    /// The status answered; 2xx stores the request.
    status: AtomicU16,
    /// Accept a sample equal to the series' last one (same timestamp and value) silently, as
    /// a TSDB does; a different value at that timestamp is still a violation.
    identical_ok: std::sync::atomic::AtomicBool,
    store: Mutex<Store>,
    requests: AtomicU64,
    requests_by_status: Mutex<HashMap<u16, u64>>,
    undecodable: AtomicU64,
}

pub struct StrictReceiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StrictReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StrictReceiver {
    pub async fn start() -> StrictReceiver {
        let shared = Arc::new(Shared {
            status: AtomicU16::new(204),
            identical_ok: std::sync::atomic::AtomicBool::new(false),
            store: Mutex::new(Store::default()),
            requests: AtomicU64::new(0),
            requests_by_status: Mutex::new(HashMap::new()),
            undecodable: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/api/v1/write", post(handle))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StrictReceiver { addr, shared, task }
    }

    /// Accept repeats of a series' last sample (same timestamp and value), as Thanos does.
    pub fn accept_identical_repeats(&self) {
        self.shared.identical_ok.store(true, Ordering::SeqCst);
    }

    /// From now on every request is answered with `status` (2xx: stored).
    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    pub fn requests_with_status(&self, status: u16) -> u64 {
        self.shared
            .requests_by_status
            .lock()
            .get(&status)
            .copied()
            .unwrap_or(0)
    }

    pub fn undecodable(&self) -> u64 {
        self.shared.undecodable.load(Ordering::SeqCst)
    }

    /// Runs `f` on what was stored so far.
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.shared.store.lock())
    }
}

async fn handle(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let status = shared.status.load(Ordering::SeqCst);
    *shared.requests_by_status.lock().entry(status).or_default() += 1;
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !code.is_success() {
        return code;
    }
    let Ok(request) = decode_write_request(&body) else {
        shared.undecodable.fetch_add(1, Ordering::SeqCst);
        return StatusCode::BAD_REQUEST;
    };
    let identical_ok = shared.identical_ok.load(Ordering::SeqCst);
    let mut store = shared.store.lock();
    for ts in request.timeseries {
        let mut labels: Vec<(String, String)> =
            ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
        labels.sort();
        let key = labels
            .iter()
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut problems = Vec::new();
        {
            let samples = store.series.entry(key.clone()).or_default();
            for sample in ts.samples {
                if let Some(&(last, last_value)) = samples.last()
                    && sample.timestamp <= last
                {
                    if identical_ok
                        && sample.timestamp == last
                        && sample.value.to_bits() == last_value
                    {
                        continue;
                    }
                    let what = if sample.timestamp == last {
                        "duplicate"
                    } else {
                        "out of order"
                    };
                    problems.push(format!(
                        "{what}: {key} at {} after {last}",
                        sample.timestamp
                    ));
                    continue;
                }
                samples.push((sample.timestamp, sample.value.to_bits()));
            }
        }
        for problem in problems {
            store.violation_count += 1;
            if store.violations.len() < 200 {
                store.violations.push(problem);
            }
        }
    }
    StatusCode::NO_CONTENT
}
