//! A real receiver accepts our requests: Debian's Prometheus (2.42) with
//! `--web.enable-remote-write-receiver`. We send a few series and read them back with
//! `/api/v1/query`. Fails (never skips) when `prometheus` is not installed.

mod common;
use common::receiver as remote_write_support;

use common::{Process, free_port, require_program};
use promshard::labels::Labels;
use promshard::remote_write::{
    RemoteWrite, RemoteWriteMetrics, RemoteWriteOptions, Sample, SampleSink,
};
use remote_write_support::{STALE_NAN, now_ms, remote_write_configs};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

struct Prometheus {
    _process: Process,
    base: String,
    _dir: tempfile::TempDir,
}

async fn start_prometheus() -> Prometheus {
    let program = require_program("prometheus", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
    let port = free_port();
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--web.enable-remote-write-receiver".to_string(),
    ];
    let mut process = Process::spawn(
        "prometheus",
        &program,
        &args,
        &dir.path().join("prometheus.log"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        if let Err(e) = process.check_running() {
            panic!("{e}");
        }
        if let Ok(r) = client.get(format!("{base}/-/ready")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "prometheus not ready after 30s; log:\n{}",
            process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Prometheus {
        _process: process,
        base,
        _dir: dir,
    }
}

/// `/api/v1/query` result vector for `query` at `time_ms`.
async fn query(base: &str, query: &str, time_ms: i64) -> Vec<Value> {
    let time = format!("{:.3}", time_ms as f64 / 1000.0);
    let url = url::Url::parse_with_params(
        &format!("{base}/api/v1/query"),
        [("query", query), ("time", &time)],
    )
    .unwrap();
    let response: Value = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["status"], "success", "{response}");
    response["data"]["result"].as_array().cloned().unwrap()
}

fn sample(labels: &Labels, timestamp_ms: i64, value_bits: u64) -> Sample {
    Sample::of(labels, timestamp_ms, value_bits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_receiver_accepts_our_requests() {
    let prometheus = start_prometheus().await;
    let url = format!("{}/api/v1/write", prometheus.base);
    let configs = remote_write_configs(&format!(
        "  - url: {url}\n    queue_config:\n      batch_send_deadline: 50ms\n      min_shards: 2\n    write_relabel_configs:\n      - target_label: written_by\n        replacement: promshard\n"
    ));
    let external = BTreeMap::from([("cluster".to_string(), "test".to_string())]);
    let options = RemoteWriteOptions {
        flush_deadline: Duration::from_secs(10),
        ..RemoteWriteOptions::default()
    };
    let rw = RemoteWrite::with_options(&configs, &external, options).unwrap();
    let m = std::sync::Arc::clone(&rw.metrics()[0].metrics);

    let series = [
        ("promshard_rw_gauge", "a"),
        ("promshard_rw_gauge", "b"),
        ("promshard_rw_inf", "a"),
        ("promshard_rw_stale", "a"),
    ];
    let series: Vec<Labels> = series
        .iter()
        .map(|(name, instance)| {
            Labels::from_pairs([("__name__", *name), ("instance", *instance), ("job", "rw")])
        })
        .collect();
    let t = now_ms() - 10_000;
    rw.append(&[
        sample(&series[0], t, 42.5f64.to_bits()),
        sample(&series[1], t, (-1.25f64).to_bits()),
        sample(&series[2], t, f64::INFINITY.to_bits()),
        sample(&series[3], t, 1.0f64.to_bits()),
    ]);
    rw.append(&[
        sample(&series[0], t + 1000, 43.5f64.to_bits()),
        sample(&series[3], t + 1000, STALE_NAN),
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while RemoteWriteMetrics::get(&m.samples_sent) < 6 {
        assert!(
            Instant::now() < deadline,
            "not all sent: sent {}, failed {}",
            RemoteWriteMetrics::get(&m.samples_sent),
            m.samples_failed_total()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let base = &prometheus.base;
    let result = query(base, "promshard_rw_gauge", t + 1000).await;
    let mut got: Vec<(String, String, String)> = result
        .iter()
        .map(|r| {
            let metric = &r["metric"];
            assert_eq!(metric["cluster"], "test", "external label: {r}");
            assert_eq!(metric["written_by"], "promshard", "write relabel: {r}");
            assert_eq!(metric["job"], "rw");
            (
                metric["instance"].as_str().unwrap().to_string(),
                r["value"][1].as_str().unwrap().to_string(),
                metric["__name__"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("a".into(), "43.5".into(), "promshard_rw_gauge".into()),
            ("b".into(), "-1.25".into(), "promshard_rw_gauge".into()),
        ]
    );
    let inf = query(base, "promshard_rw_inf", t).await;
    assert_eq!(inf.len(), 1);
    assert_eq!(inf[0]["value"][1], "+Inf");

    // The staleness marker arrived as one: the series is gone after it, present before.
    assert_eq!(query(base, "promshard_rw_stale", t + 500).await.len(), 1);
    assert!(query(base, "promshard_rw_stale", t + 1000).await.is_empty());

    // Prometheus answers an out-of-order sample with 400: final, counted, not retried.
    rw.append(&[sample(&series[0], t - 5000, 1.0f64.to_bits())]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.samples_failed_class(4) < 1 {
        assert!(Instant::now() < deadline, "400 not counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(m.failed_requests_by_status(), BTreeMap::from([(400, 1)]));
    assert_eq!(RemoteWriteMetrics::get(&m.requests_retried), 0);
    rw.shutdown().await;
}
