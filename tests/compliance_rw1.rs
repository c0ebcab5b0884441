//! The legacy remote-write 1.0 sender compliance cases (prometheus/compliance, spec §7(c)),
//! re-expressed as our own end-to-end tests: the promshard binary scrapes targets served here
//! at a 1s interval and writes to a receiver in the test.

mod common;

use axum::http::header;
use axum::response::IntoResponse;
use common::receiver::{Receiver, Reply};
use common::{Process, free_port, start_promshard};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Serves `/metrics` (which drops `vanishing` once `vanished` is set) and `/garbage`.
async fn start_target(vanished: Arc<Mutex<bool>>) -> String {
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let vanished = *vanished.lock();
                async move {
                    let mut body = String::from(
                        "# TYPE requests_total counter\nrequests_total{path=\"/\"} 12\n\
                         # TYPE temperature gauge\ntemperature 21.5\n\
                         # TYPE latency histogram\nlatency_bucket{le=\"0.5\"} 3\nlatency_bucket{le=\"+Inf\"} 4\nlatency_sum 1.5\nlatency_count 4\n\
                         # TYPE rpc summary\nrpc{quantile=\"0.9\"} 0.3\nrpc_sum 2\nrpc_count 8\n\
                         with_empty{a=\"\",b=\"x\"} 1\n\
                         exposed_identity{job=\"theirs\",instance=\"elsewhere\"} 1\n",
                    );
                    if !vanished {
                        body.push_str("vanishing 1\n");
                    }
                    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
                }
            }),
        )
        .route(
            "/garbage",
            axum::routing::get(|| async { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], "not { valid").into_response() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address.to_string()
}

fn config(target: &str, receiver: &str, metadata: bool) -> String {
    format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: ['{target}']\n\
         \n  - job_name: invalid\n    metrics_path: /garbage\n    static_configs:\n      - targets: ['{target}']\n\
         remote_write:\n  - url: {receiver}\n    queue_config:\n      batch_send_deadline: 500ms\n      min_backoff: 50ms\n      max_backoff: 200ms\n      max_shards: 4\n    metadata_config:\n      send: {metadata}\n      send_interval: 1s\n"
    )
}

struct Run {
    _process: Process,
    port: u16,
    _dir: tempfile::TempDir,
    target: String,
}

async fn start_run(receiver: Receiver, vanished: Arc<Mutex<bool>>, metadata: bool) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let target = start_target(vanished).await;
    let path = dir.path().join("promshard.yml");
    std::fs::write(&path, config(&target, &receiver.url, metadata)).unwrap();
    let port = free_port();
    let process = start_promshard(&path, dir.path(), port);
    Run {
        _process: process,
        port,
        _dir: dir,
        target,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_compliance_cases() {
    let started = now_ms();
    let vanished = Arc::new(Mutex::new(false));
    let main = Receiver::start().await;
    main.set_max_delay(Duration::from_millis(100));
    let retries_500 = Receiver::start().await;
    retries_500.script([Reply::status(500), Reply::status(503), Reply::status(500)]);
    let retries_400 = Receiver::start().await;
    retries_400.script([Reply::status(400)]);

    let run = start_run(main.clone(), vanished.clone(), true).await;
    let run_500 = start_run(retries_500.clone(), Arc::new(Mutex::new(false)), false).await;
    let run_400 = start_run(retries_400.clone(), Arc::new(Mutex::new(false)), false).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    *vanished.lock() = true;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ended = now_ms();

    // Live per-target state in /api/v1/targets, and self-metrics.
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", run.port);
    let targets: serde_json::Value = client
        .get(format!("{base}/api/v1/targets"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let active = targets["data"]["activeTargets"].as_array().unwrap();
    let by_pool = |pool: &str| {
        active
            .iter()
            .find(|t| t["scrapePool"] == pool)
            .unwrap()
            .clone()
    };
    let test_target = by_pool("test");
    assert_eq!(test_target["health"], "up", "{test_target}");
    assert_eq!(test_target["lastError"], "");
    assert!(
        test_target["lastScrape"]
            .as_str()
            .unwrap()
            .starts_with("20"),
        "{test_target}"
    );
    assert!(test_target["lastScrapeDuration"].as_f64().unwrap() > 0.0);
    let invalid = by_pool("invalid");
    assert_eq!(invalid["health"], "down");
    assert!(
        !invalid["lastError"].as_str().unwrap().is_empty(),
        "{invalid}"
    );
    // Metadata the target exposes, per target and per metric.
    let meta: serde_json::Value = client
        .get(format!(
            "{base}/api/v1/targets/metadata?match_target={{job=\"test\"}}&metric=requests_total"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["data"][0]["type"], "counter", "{meta}");
    assert_eq!(meta["data"][0]["target"]["job"], "test", "{meta}");
    let meta: serde_json::Value = client
        .get(format!("{base}/api/v1/metadata?metric=temperature"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["data"]["temperature"][0]["type"], "gauge", "{meta}");
    let missing = client
        .get(format!("{base}/api/v1/targets/metadata?metric=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let highest_sent: i64 = metrics
        .lines()
        .find(|l| l.starts_with("promshard_remote_storage_queue_highest_sent_timestamp_ms{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        highest_sent >= started,
        "highest sent timestamp {highest_sent} before the run started"
    );
    for needle in [
        "promshard_scrapes_total ",
        "promshard_scrape_failures_total{reason=\"parse_or_limit\"} ",
        "promshard_scrape_cache_hits_total ",
        "promshard_remote_storage_samples_total{remote_name=\"\",url=",
        "promshard_remote_storage_samples_pending{",
        "promshard_remote_storage_queue_highest_sent_timestamp_ms{",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from:\n{metrics}"
        );
    }

    let requests = main.accepted();
    let samples = main.accepted_samples();
    assert!(!samples.is_empty(), "nothing received");
    let of = |name: &str| -> Vec<&(BTreeMap<String, String>, i64, u64)> {
        samples
            .iter()
            .filter(|(l, _, _)| l.get("__name__").map(String::as_str) == Some(name))
            .collect()
    };
    let value = |name: &str, extra: &[(&str, &str)]| -> f64 {
        let found = of(name)
            .into_iter()
            .find(|(l, _, v)| {
                *v != STALE_NAN
                    && extra
                        .iter()
                        .all(|(k, x)| l.get(*k).map(String::as_str) == Some(*x))
            })
            .unwrap_or_else(|| panic!("no sample of {name} {extra:?}"));
        f64::from_bits(found.2)
    };

    // Counter, Gauge, Histogram, Summary.
    assert_eq!(value("requests_total", &[("path", "/")]), 12.0);
    assert_eq!(value("temperature", &[]), 21.5);
    assert_eq!(value("latency_bucket", &[("le", "0.5")]), 3.0);
    assert_eq!(value("latency_bucket", &[("le", "+Inf")]), 4.0);
    assert_eq!(value("latency_count", &[]), 4.0);
    assert_eq!(value("rpc", &[("quantile", "0.9")]), 0.3);
    assert_eq!(value("rpc_sum", &[]), 2.0);
    // Up, and Invalid: a garbage body gives up == 0.
    assert_eq!(value("up", &[("job", "test")]), 1.0);
    assert_eq!(value("up", &[("job", "invalid")]), 0.0);
    // JobLabel, InstanceLabel, NameLabel on every sample.
    for (labels, _, _) in &samples {
        assert!(labels.contains_key("__name__"), "{labels:?}");
        assert!(
            labels
                .get("job")
                .is_some_and(|j| j == "test" || j == "invalid"),
            "{labels:?}"
        );
        assert_eq!(labels.get("instance"), Some(&run.target), "{labels:?}");
    }
    // SortedLabels and RepeatedLabels, as sent on the wire.
    for request in &requests {
        for series in &request.request.timeseries {
            let names: Vec<&str> = series.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(names, sorted, "labels must be sorted and unique");
            // EmptyLabels: no label with an empty value.
            assert!(
                series.labels.iter().all(|l| !l.value.is_empty()),
                "{names:?}"
            );
        }
    }
    let with_empty = of("with_empty");
    assert!(
        with_empty
            .iter()
            .all(|(l, _, _)| !l.contains_key("a") && l.get("b").map(String::as_str) == Some("x"))
    );
    // HonorLabels (false): exposed job and instance become exported_*.
    let exposed = of("exposed_identity");
    assert!(
        exposed.iter().all(
            |(l, _, _)| l.get("exported_job").map(String::as_str) == Some("theirs")
                && l.get("exported_instance").map(String::as_str) == Some("elsewhere")
                && l.get("job").map(String::as_str) == Some("test")
        )
    );
    // Staleness: the vanished series ends with a stale marker.
    assert!(
        of("vanishing").iter().any(|(_, _, v)| *v == STALE_NAN),
        "no stale marker for `vanishing`: {:?}\nup: {:?}",
        of("vanishing")
            .iter()
            .map(|(_, t, v)| (*t, *v))
            .collect::<Vec<_>>(),
        of("up")
            .iter()
            .map(|(l, t, v)| (l["job"].clone(), *t, f64::from_bits(*v)))
            .collect::<Vec<_>>()
    );
    // Timestamp: within the run; Ordering: strictly increasing per series in arrival order,
    // although the receiver delays answers by up to 100ms over several shards.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for (labels, ts, _) in &samples {
        assert!(
            *ts >= started - 1000 && *ts <= ended + 1000,
            "timestamp {ts} outside the run"
        );
        let key = format!("{labels:?}");
        if let Some(previous) = last.insert(key.clone(), *ts) {
            assert!(*ts > previous, "{key}: {ts} after {previous}");
        }
    }
    // Metadata requests (metadata_config.send, every second): the families with their type.
    let metadata: Vec<_> = requests
        .iter()
        .flat_map(|r| r.request.metadata.iter())
        .collect();
    let family = |name: &str| {
        metadata
            .iter()
            .find(|m| m.metric_family_name == name)
            .map(|m| (m.kind, m.help.clone()))
    };
    assert_eq!(
        family("requests_total").map(|f| f.0),
        Some(1),
        "counter metadata missing: {metadata:?}"
    );
    assert_eq!(family("temperature").map(|f| f.0), Some(2));
    assert_eq!(family("latency").map(|f| f.0), Some(3));
    assert_eq!(family("rpc").map(|f| f.0), Some(5));
    assert!(
        requests
            .iter()
            .all(|r| r.request.metadata.is_empty() || r.request.timeseries.is_empty()),
        "metadata-only requests"
    );
    // Headers.
    let first = &requests[0];
    assert_eq!(first.header("content-encoding"), Some("snappy"));
    assert_eq!(first.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(
        first.header("x-prometheus-remote-write-version"),
        Some("0.1.0")
    );
    assert!(
        first
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("promshard/"))
    );

    // Retries500: the failed payload is sent again, with Retry-Attempt, until accepted.
    let received = retries_500.received();
    assert!(received.len() >= 4, "{}", received.len());
    assert_eq!(
        received[..4].iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![500, 503, 500, 204]
    );
    assert!(
        received[1..4].iter().all(|r| r.body == received[0].body),
        "the same payload is resent"
    );
    assert_eq!(received[1].header("retry-attempt"), Some("1"));
    assert_eq!(received[3].header("retry-attempt"), Some("3"));

    // Retries400: the rejected payload is never sent again.
    let received = retries_400.received();
    assert_eq!(received[0].status, 400);
    assert!(
        received[1..].iter().all(|r| r.body != received[0].body),
        "a 400 payload was resent"
    );
    assert!(received.len() > 1, "sending continues after a 400");

    let distinct: BTreeSet<String> = samples.iter().map(|(l, _, _)| format!("{l:?}")).collect();
    assert!(distinct.len() > 15, "{distinct:?}");
    drop((run, run_500, run_400));
}
