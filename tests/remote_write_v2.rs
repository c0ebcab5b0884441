//! Remote write 2.0 (spec §6.6): `RemoteWrite` with `protobuf_message:
//! io.prometheus.write.v2.Request` sends to a receiver in the test that snappy-decodes and
//! prost-decodes `io.prometheus.write.v2.Request`s and answers with the Written headers, or
//! without them, or with a scripted status.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::receiver::{STALE_NAN, now_ms, remote_write_configs};
use parking_lot::Mutex;
use promshard::labels::Labels;
use promshard::remote_write::disk::DiskQueueOptions;
use promshard::remote_write::metadata::MetricMetadata;
use promshard::remote_write::spool::SpoolOptions;
use promshard::remote_write::{
    RemoteWrite, RemoteWriteMetrics, RemoteWriteOptions, Sample, SampleSink,
};
use prost::Message;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
const FAST: &str = "    queue_config:\n      batch_send_deadline: 50ms\n      min_backoff: 10ms\n      max_backoff: 20ms\n";

/// prost twins of `io.prometheus.write.v2` (P: `prompb/io/prometheus/write/v2/types.proto`).
#[derive(Clone, PartialEq, prost::Message)]
struct Request {
    #[prost(string, repeated, tag = "4")]
    symbols: Vec<String>,
    #[prost(message, repeated, tag = "5")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TimeSeries {
    #[prost(uint32, repeated, packed = "true", tag = "1")]
    labels_refs: Vec<u32>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<V2Sample>,
    #[prost(message, optional, tag = "5")]
    metadata: Option<Metadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct V2Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
    #[prost(int64, tag = "3")]
    start_timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Metadata {
    #[prost(int32, tag = "1")]
    r#type: i32,
    #[prost(uint32, tag = "3")]
    help_ref: u32,
    #[prost(uint32, tag = "4")]
    unit_ref: u32,
}

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug)]
enum Reply {
    /// 204 with the Written headers counting every sample (the default).
    Written,
    /// 204 saying only this many samples were written.
    WrittenSamples(u64),
    /// This status and no Written headers (a 1.0 receiver that ignores the Content-Type).
    Bare(u16),
}

struct Received {
    headers: HeaderMap,
    request: Request,
    status: u16,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Each sample with its labels (resolved through the symbols), timestamp and value bits.
    fn samples(&self) -> Vec<(BTreeMap<String, String>, i64, u64)> {
        let symbols = &self.request.symbols;
        let mut out = Vec::new();
        for ts in &self.request.timeseries {
            assert_eq!(ts.labels_refs.len() % 2, 0, "odd labels_refs");
            let names: Vec<&str> = ts
                .labels_refs
                .chunks(2)
                .map(|p| symbols[p[0] as usize].as_str())
                .collect();
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(names, sorted, "labels_refs sorted by name, no duplicates");
            let labels: BTreeMap<String, String> = ts
                .labels_refs
                .chunks(2)
                .map(|p| {
                    (
                        symbols[p[0] as usize].clone(),
                        symbols[p[1] as usize].clone(),
                    )
                })
                .collect();
            for s in &ts.samples {
                out.push((labels.clone(), s.timestamp, s.value.to_bits()));
            }
        }
        out
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    received: Vec<Received>,
    undecodable: usize,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    async fn start() -> Receiver {
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

    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().script.extend(replies);
    }

    fn requests(&self) -> usize {
        self.inner.lock().received.len()
    }

    async fn wait_for_requests(&self, n: usize) {
        let start = Instant::now();
        while self.requests() < n {
            assert!(
                start.elapsed() < WAIT,
                "timed out waiting for {n} requests, got {}",
                self.requests()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let decoded = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .ok()
        .and_then(|raw| Request::decode(raw.as_slice()).ok());
    let mut inner = inner.lock();
    let Some(request) = decoded else {
        inner.undecodable += 1;
        return (StatusCode::BAD_REQUEST, "undecodable").into_response();
    };
    let samples: usize = request.timeseries.iter().map(|t| t.samples.len()).sum();
    let reply = inner.script.pop_front().unwrap_or(Reply::Written);
    let (status, written) = match reply {
        Reply::Written => (204, Some(samples as u64)),
        Reply::WrittenSamples(n) => (204, Some(n)),
        Reply::Bare(status) => (status, None),
    };
    inner.received.push(Received {
        headers,
        request,
        status,
    });
    let mut response = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(n) = written {
        let h = response.headers_mut();
        h.insert("X-Prometheus-Remote-Write-Samples-Written", n.into());
        h.insert("X-Prometheus-Remote-Write-Histograms-Written", 0.into());
        h.insert("X-Prometheus-Remote-Write-Exemplars-Written", 0.into());
    }
    response
}

/// A sink with one 2.0 endpoint at `receiver`; `queue` is more `queue_config` YAML, indented by
/// six spaces.
fn sink(receiver: &Receiver, queue: &str) -> RemoteWrite {
    sink_with_spool(receiver, queue, None)
}

/// [`sink`], with its disk queue under `spool` when given.
fn sink_with_spool(
    receiver: &Receiver,
    queue: &str,
    spool: Option<&std::path::Path>,
) -> RemoteWrite {
    let configs = remote_write_configs(&format!(
        "  - url: {}\n    protobuf_message: io.prometheus.write.v2.Request\n{FAST}{queue}",
        receiver.url
    ));
    let options = RemoteWriteOptions {
        flush_deadline: Duration::from_secs(5),
        spool: spool.map(|dir| SpoolOptions {
            dir: dir.to_path_buf(),
            disk: DiskQueueOptions::default(),
        }),
        ..RemoteWriteOptions::default()
    };
    let external = BTreeMap::from([("cluster".to_string(), "c1".to_string())]);
    RemoteWrite::with_options(&configs, &external, options).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn sample(labels: &Labels, timestamp_ms: i64, value_bits: u64) -> Sample {
    Sample::of(labels, timestamp_ms, value_bits)
}

fn get(c: &std::sync::atomic::AtomicU64) -> u64 {
    RemoteWriteMetrics::get(c)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Declared series and appended samples arrive as 2.0 requests: headers, symbols (with `""`
/// first), sorted label refs, per-series metadata, values (NaN, StaleNaN, ±Inf exact),
/// timestamps and order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip() {
    round_trip_with(None).await;
}

/// The same through the disk queue: the first attempt fails with 503, so every request is
/// written to disk and replayed from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_through_the_disk_queue() {
    let dir = tempfile::tempdir().unwrap();
    round_trip_with(Some(dir.path())).await;
}

async fn round_trip_with(spool: Option<&std::path::Path>) {
    let receiver = Receiver::start().await;
    if spool.is_some() {
        receiver.script([Reply::Bare(503)]);
    }
    let rw = sink_with_spool(&receiver, "", spool);
    let up_metadata = Arc::new(MetricMetadata {
        family: "up".into(),
        kind: 2,
        help: "Health of the scrape target.".into(),
        unit: "targets".into(),
    });
    let s1 = labels(&[("__name__", "up"), ("job", "j"), ("instance", "h:1")]);
    let s2 = labels(&[("__name__", "temp"), ("job", "j"), ("zone", "up")]);
    let m = Arc::clone(&rw.metrics()[0].metrics);
    let t = now_ms();
    let values = [
        1.0f64.to_bits(),
        f64::NAN.to_bits(),
        STALE_NAN,
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        (-2.5f64).to_bits(),
    ];
    for (i, v) in values.iter().enumerate() {
        rw.append(&[
            Sample {
                metadata: Some(Arc::clone(&up_metadata)),
                ..sample(&s1, t + i as i64, *v)
            },
            sample(&s2, t + i as i64, (i as f64).to_bits()),
        ]);
    }
    let total = 2 * values.len();
    let start = Instant::now();
    while get(&m.samples_sent) < total as u64 {
        assert!(start.elapsed() < WAIT, "not all samples sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rw.shutdown().await;

    let inner = receiver.inner.lock();
    assert_eq!(inner.undecodable, 0);
    let mut got: BTreeMap<BTreeMap<String, String>, Vec<(i64, u64)>> = BTreeMap::new();
    if spool.is_some() {
        assert_eq!(inner.received[0].status, 503);
        assert!(
            inner.received[1..]
                .iter()
                .any(|r| r.header("retry-attempt") == Some("1")),
            "the spilled request was replayed as a retry"
        );
    }
    let accepted: Vec<_> = inner.received.iter().filter(|r| r.status != 503).collect();
    for r in accepted {
        assert_eq!(r.status, 204);
        assert_eq!(r.header("content-encoding"), Some("snappy"));
        assert_eq!(
            r.header("content-type"),
            Some("application/x-protobuf;proto=io.prometheus.write.v2.Request")
        );
        assert_eq!(r.header("x-prometheus-remote-write-version"), Some("2.0.0"));
        assert!(r.header("user-agent").unwrap().starts_with("promshard/"));
        assert_eq!(r.request.symbols[0], "");
        let mut unique = r.request.symbols.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            r.request.symbols.len(),
            "symbols deduplicated"
        );
        for ts in &r.request.timeseries {
            let name = ts
                .labels_refs
                .chunks(2)
                .find(|p| r.request.symbols[p[0] as usize] == "__name__")
                .map(|p| r.request.symbols[p[1] as usize].as_str());
            if name == Some("up") {
                let m = ts.metadata.clone().expect("metadata of up");
                assert_eq!(m.r#type, 2, "gauge");
                assert_eq!(r.request.symbols[m.help_ref as usize], up_metadata.help);
                assert_eq!(r.request.symbols[m.unit_ref as usize], up_metadata.unit);
            } else {
                assert_eq!(ts.metadata, None, "a series declared without metadata");
            }
            assert_eq!(ts.samples.len(), 1);
            assert_eq!(ts.samples[0].start_timestamp, 0);
        }
        for (labels, ts, bits) in r.samples() {
            got.entry(labels).or_default().push((ts, bits));
        }
    }
    let up = map(&[
        ("__name__", "up"),
        ("cluster", "c1"),
        ("instance", "h:1"),
        ("job", "j"),
    ]);
    let temp = map(&[
        ("__name__", "temp"),
        ("cluster", "c1"),
        ("job", "j"),
        ("zone", "up"),
    ]);
    assert_eq!(got.len(), 2, "{got:?}");
    let want_up: Vec<(i64, u64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (t + i as i64, *v))
        .collect();
    let want_temp: Vec<(i64, u64)> = (0..values.len())
        .map(|i| (t + i as i64, (i as f64).to_bits()))
        .collect();
    assert_eq!(got[&up], want_up, "values, timestamps and order of `up`");
    // 0.0 is left out on the wire and reads back as +0.0.
    assert_eq!(got[&temp], want_temp);
    assert_eq!(get(&m.samples_sent), total as u64);
    assert_eq!(m.samples_failed_total(), 0);
    assert_eq!(get(&m.samples_not_written), 0);
}

/// A 204 without any Written header for a non-empty request: the receiver probably speaks
/// only 1.0. The samples count as failed and the request is not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_written_headers_is_final() {
    let receiver = Receiver::start().await;
    receiver.script([Reply::Bare(204)]);
    let rw = sink(&receiver, "");
    let s1 = labels(&[("__name__", "m")]);
    let m = Arc::clone(&rw.metrics()[0].metrics);
    rw.append(&[sample(&s1, now_ms(), 1.0f64.to_bits())]);
    receiver.wait_for_requests(1).await;
    let start = Instant::now();
    while m.samples_failed_total() < 1 {
        assert!(start.elapsed() < WAIT, "not counted as failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests(), 1, "not retried");
    assert_eq!(get(&m.samples_sent), 0);
    assert_eq!(get(&m.samples_retried), 0);
    assert_eq!(m.samples_failed_total(), 1);
    assert_eq!(m.failed_requests_by_status(), BTreeMap::from([(204, 1)]));

    // The next batch is sent normally.
    rw.append(&[sample(&s1, now_ms() + 1, 2.0f64.to_bits())]);
    receiver.wait_for_requests(2).await;
    rw.shutdown().await;
    assert_eq!(get(&m.samples_sent), 1);
    assert_eq!(m.samples_failed_total(), 1);
}

/// Written headers that are all zero mean the same as missing ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_written_is_final() {
    let receiver = Receiver::start().await;
    receiver.script([Reply::WrittenSamples(0)]);
    let rw = sink(&receiver, "");
    let s1 = labels(&[("__name__", "m")]);
    let m = Arc::clone(&rw.metrics()[0].metrics);
    rw.append(&[sample(&s1, now_ms(), 1.0f64.to_bits())]);
    receiver.wait_for_requests(1).await;
    rw.shutdown().await;
    assert_eq!(receiver.requests(), 1);
    assert_eq!(get(&m.samples_sent), 0);
    assert_eq!(m.samples_failed_total(), 1);
}

/// Fewer samples written than sent: the shortfall counts as failed, the rest as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_write_is_counted() {
    let receiver = Receiver::start().await;
    receiver.script([Reply::WrittenSamples(2)]);
    let rw = sink(&receiver, "      max_samples_per_send: 5\n");
    let m = Arc::clone(&rw.metrics()[0].metrics);
    let t = now_ms();
    rw.append(
        &(0..5)
            .map(|i| {
                let name = format!("m{i}");
                sample(&labels(&[("__name__", name.as_str())]), t, 1.0f64.to_bits())
            })
            .collect::<Vec<_>>(),
    );
    receiver.wait_for_requests(1).await;
    rw.shutdown().await;
    assert_eq!(receiver.requests(), 1);
    assert_eq!(get(&m.samples_sent), 2);
    assert_eq!(get(&m.samples_not_written), 3);
    assert_eq!(m.samples_failed_total(), 3);
}

/// 415 Unsupported Media Type is final: counted failed, not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_media_type_is_final() {
    let receiver = Receiver::start().await;
    receiver.script([Reply::Bare(415)]);
    let rw = sink(&receiver, "");
    let s1 = labels(&[("__name__", "m")]);
    let m = Arc::clone(&rw.metrics()[0].metrics);
    rw.append(&[sample(&s1, now_ms(), 1.0f64.to_bits())]);
    receiver.wait_for_requests(1).await;
    let start = Instant::now();
    while m.samples_failed_total() < 1 {
        assert!(start.elapsed() < WAIT, "not counted as failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    rw.shutdown().await;
    assert_eq!(receiver.requests(), 1, "not retried");
    assert_eq!(m.samples_failed_class(4), 1);
    assert_eq!(m.failed_requests_by_status(), BTreeMap::from([(415, 1)]));
    assert_eq!(get(&m.samples_sent), 0);
}

/// A 5xx is retried with the same request, then a 2xx with headers counts as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_is_retried() {
    let receiver = Receiver::start().await;
    receiver.script([Reply::Bare(503)]);
    let rw = sink(&receiver, "");
    let s1 = labels(&[("__name__", "m")]);
    let m = Arc::clone(&rw.metrics()[0].metrics);
    rw.append(&[sample(&s1, now_ms(), 1.0f64.to_bits())]);
    receiver.wait_for_requests(2).await;
    rw.shutdown().await;
    let inner = receiver.inner.lock();
    assert_eq!(inner.received[0].request, inner.received[1].request);
    assert_eq!(inner.received[1].header("retry-attempt"), Some("1"));
    assert_eq!(get(&m.samples_sent), 1);
    assert_eq!(get(&m.samples_retried), 1);
    assert_eq!(m.samples_failed_total(), 0);
}
