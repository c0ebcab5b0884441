//! Differential test of scraping: Debian's Prometheus 2.42 in agent mode and promshard scrape
//! the same targets (served here) and remote-write to two capture receivers; per series, the
//! values and stale markers they send must be the same (timestamps aside).
//!
//! Normalised 2.x/3.x differences: `le`/`quantile` values (`1` vs `1.0`); the value of
//! `scrape_duration_seconds` (a timing) is not compared, only that the series exists.
//! Removing a whole job is not compared: Prometheus 2.42 cancels the pool's context before
//! its loops can write end-of-run stale markers, where the spec (Prometheus 3) writes them.

mod common;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::receiver::Receiver;
use common::{Process, free_port, require_program, start_promshard};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the target server answers, switched between phases.
#[derive(Default)]
struct Targets {
    phase: Mutex<u32>,
}

fn text(body: &str) -> Response {
    ([(header::CONTENT_TYPE, TEXT)], body.to_string()).into_response()
}

async fn serve(
    State(targets): State<Arc<Targets>>,
    Path(name): Path<String>,
    _headers: HeaderMap,
) -> Response {
    let phase = *targets.phase.lock();
    match name.as_str() {
        "basic" => text(
            "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
             http_requests_total{code=\"200\",method=\"get\"} 1027\nhttp_requests_total{code=\"400\",method=\"post\"} 3\n\
             # TYPE temperature gauge\ntemperature -12.5\nuntyped_thing 42\n\
             escaped{path=\"C:\\\\dir\\\\file\",quote=\"say \\\"hi\\\"\",nl=\"a\\nb\"} 1\n\
             special{v=\"inf\"} +Inf\nspecial{v=\"-inf\"} -Inf\nspecial{v=\"nan\"} NaN\n\
             job:recorded:rate5m 0.5\n",
        ),
        "histogram" => text(
            "# TYPE latency_seconds histogram\nlatency_seconds_bucket{le=\"0.1\"} 1\nlatency_seconds_bucket{le=\"1\"} 5\n\
             latency_seconds_bucket{le=\"+Inf\"} 7\nlatency_seconds_sum 3.5\nlatency_seconds_count 7\n\
             # TYPE rpc_seconds summary\nrpc_seconds{quantile=\"0.5\"} 0.2\nrpc_seconds{quantile=\"0.99\"} 1\n\
             rpc_seconds_sum 10\nrpc_seconds_count 40\n",
        ),
        "openmetrics" => (
            [(header::CONTENT_TYPE, OPENMETRICS)],
            "# TYPE jobs counter\n# HELP jobs Jobs done.\njobs_total{kind=\"a\"} 3 # {trace_id=\"abc\"} 1.0 1700000000.5\n\
             jobs_created{kind=\"a\"} 1700000000.25\n# TYPE room_temperature_celsius gauge\n# UNIT room_temperature_celsius celsius\n\
             room_temperature_celsius 21.5\n# EOF\n",
        )
            .into_response(),
        "gzip" => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let _ = encoder.write_all(b"compressed_metric{a=\"b\"} 7\nother_compressed 8\n");
            let body = encoder.finish().unwrap_or_default();
            ([(header::CONTENT_TYPE, TEXT), (header::CONTENT_ENCODING, "gzip")], body).into_response()
        }
        "conflicts" => text("conflicting{job=\"exposed_job\",instance=\"exposed_instance\",other=\"x\"} 1\nempty_job{job=\"\"} 2\n"),
        "relabel" => text("drop_this 1\nrename_me{x=\"1\"} 2\nkeep_this 3\n"),
        "disappear" => text(if phase == 1 { "stays 1\ngoes_away 2\n" } else { "stays 1\n" }),
        "to500" => {
            if phase == 1 {
                text("healthy_metric 1\n")
            } else {
                (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()
            }
        }
        "garbage" => text("this is { not a metric\n"),
        "limit" => text("one 1\ntwo 2\nthree 3\n"),
        "duplicates" => text("dup{a=\"1\",a=\"2\"} 1\n"),
        "big" => text(&format!("big_metric{{padding=\"{}\"}} 1\n", "x".repeat(2000))),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            text("slow_metric 1\n")
        }
        "removed" => text("removed_metric 1\n"),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start_targets() -> (String, Arc<Targets>) {
    let targets = Arc::new(Targets {
        phase: Mutex::new(1),
    });
    let app = axum::Router::new()
        .route("/{name}", axum::routing::get(serve))
        .with_state(targets.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address.to_string(), targets)
}

fn job(name: &str, address: &str, extra: &str) -> String {
    format!(
        "  - job_name: {name}\n    metrics_path: /{name}\n    static_configs:\n      - targets: ['{address}']\n{extra}"
    )
}

fn config(address: &str, receiver: &str, sd_file: &std::path::Path, phase: u32) -> String {
    let mut jobs = vec![
        job("basic", address, ""),
        job("histogram", address, ""),
        job("openmetrics", address, ""),
        job("gzip", address, ""),
        job("conflicts", address, ""),
        job("conflicts", address, "").replace("job_name: conflicts", "job_name: conflicts_honored")
            + "    honor_labels: true\n",
        job(
            "relabel",
            address,
            "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: drop_this\n        action: drop\n      - source_labels: [__name__]\n        regex: rename_(.*)\n        target_label: __name__\n        replacement: renamed_$1\n",
        ),
        job("disappear", address, ""),
        job("to500", address, ""),
        job("garbage", address, ""),
        job("limit", address, "    sample_limit: 2\n"),
        job("duplicates", address, ""),
        job("big", address, "    body_size_limit: 1KB\n"),
        job("slow", address, "    scrape_timeout: 1s\n"),
    ];
    // Removed from discovery in phase 2 (the file is emptied).
    jobs.push(format!(
        "  - job_name: sd_removed\n    metrics_path: /removed\n    file_sd_configs:\n      - files: ['{}']\n",
        sd_file.display()
    ));
    // Removed by the phase-2 reload through relabeling (the job stays; its target goes).
    let drop_all = if phase == 2 {
        "    relabel_configs:\n      - source_labels: [__address__]\n        regex: .*\n        action: drop\n"
    } else {
        ""
    };
    jobs.push(
        job("reload_removed", address, drop_all)
            .replace("metrics_path: /reload_removed", "metrics_path: /removed"),
    );
    format!(
        "global:\n  scrape_interval: 2s\n  external_labels:\n    replica: test\nscrape_configs:\n{}remote_write:\n  - url: {receiver}\n    queue_config:\n      batch_send_deadline: 1s\n    metadata_config:\n      send: false\n",
        jobs.join("")
    )
}

/// Label values of `le` and `quantile` as Prometheus 3 writes them (`1` → `1.0`).
fn normalise_float_label(value: &str) -> String {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => {
            let text = format!("{v}");
            if text.contains('.') || text.contains('e') {
                text
            } else {
                format!("{text}.0")
            }
        }
        _ => value.to_string(),
    }
}

/// Per series: the distinct values sent (bits) and whether a stale marker was sent.
fn summarise(
    samples: &[(BTreeMap<String, String>, i64, u64)],
) -> BTreeMap<String, (BTreeSet<u64>, bool)> {
    let mut out: BTreeMap<String, (BTreeSet<u64>, bool)> = BTreeMap::new();
    for (labels, _, value_bits) in samples {
        let mut labels = labels.clone();
        for name in ["le", "quantile"] {
            if let Some(v) = labels.get_mut(name) {
                *v = normalise_float_label(v);
            }
        }
        let name = labels.get("__name__").cloned().unwrap_or_default();
        let key = format!("{labels:?}");
        let entry = out.entry(key).or_default();
        if *value_bits == STALE_NAN {
            entry.1 = true;
        } else if name != "scrape_duration_seconds" {
            entry.0.insert(if f64::from_bits(*value_bits).is_nan() {
                0x7ff8_0000_0000_0001
            } else {
                *value_bits
            });
        }
    }
    out
}

fn start_prometheus_agent(config: &std::path::Path, dir: &std::path::Path, port: u16) -> Process {
    let program = require_program("prometheus", "prometheus");
    let args = vec![
        "--enable-feature=agent".to_string(),
        format!("--config.file={}", config.display()),
        format!("--storage.agent.path={}", dir.join("agent-data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    Process::spawn(
        "prometheus-agent",
        &program,
        &args,
        &dir.join("prometheus.log"),
    )
}

fn describe(summary: &BTreeMap<String, (BTreeSet<u64>, bool)>) -> String {
    summary
        .iter()
        .map(|(k, (values, stale))| {
            let values: Vec<f64> = values.iter().map(|b| f64::from_bits(*b)).collect();
            format!("{k} values={values:?} stale={stale}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_and_writes_what_prometheus_agent_writes() {
    require_program("prometheus", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let (address, targets) = start_targets().await;
    let theirs = Receiver::start().await;
    let ours = Receiver::start().await;
    let (their_url, our_url) = (theirs.url.clone(), ours.url.clone());
    let their_config = dir.path().join("prometheus.yml");
    let our_config = dir.path().join("promshard.yml");
    let sd_file = dir.path().join("removed.json");
    std::fs::write(
        &sd_file,
        format!(r#"[{{"targets": ["{address}"], "labels": {{"via": "file"}}}}]"#),
    )
    .unwrap();
    std::fs::write(&their_config, config(&address, &their_url, &sd_file, 1)).unwrap();
    std::fs::write(&our_config, config(&address, &our_url, &sd_file, 1)).unwrap();
    let their_dir = dir.path().join("prometheus");
    let our_dir = dir.path().join("promshard");
    std::fs::create_dir_all(&their_dir).unwrap();
    std::fs::create_dir_all(&our_dir).unwrap();
    let (their_port, our_port) = (free_port(), free_port());
    let mut prometheus = start_prometheus_agent(&their_config, &their_dir, their_port);
    let mut promshard = start_promshard(&our_config, &our_dir, our_port);

    // Phase 1: everything answers. Prometheus applies discovery after up to 5s, so this
    // leaves it at least three scrapes of every target.
    tokio::time::sleep(Duration::from_secs(14)).await;
    prometheus.check_running().unwrap();
    promshard.check_running().unwrap();

    // Phase 2: one series disappears, a target fails, one target leaves discovery and one is
    // removed by a reload.
    *targets.phase.lock() = 2;
    std::fs::write(&sd_file, "[]").unwrap();
    // Reload only after discovery saw the emptied file: Prometheus 2.42 restarts its providers
    // on reload and then never tells the scrape pool of a job left without any group.
    tokio::time::sleep(Duration::from_secs(6)).await;
    std::fs::write(&their_config, config(&address, &their_url, &sd_file, 2)).unwrap();
    std::fs::write(&our_config, config(&address, &our_url, &sd_file, 2)).unwrap();
    let client = reqwest::Client::new();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &prometheus.pid().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let reload = client
        .post(format!("http://127.0.0.1:{our_port}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    // Discovery (≤5s) plus two intervals and 10% before the stale markers, plus sending.
    tokio::time::sleep(Duration::from_secs(14)).await;
    prometheus.check_running().unwrap();
    promshard.check_running().unwrap();

    let their_summary = summarise(&theirs.accepted_samples());
    let our_summary = summarise(&ours.accepted_samples());
    assert!(
        their_summary.len() > 50,
        "Prometheus sent too little:\n{}",
        describe(&their_summary)
    );
    // What the scenario must have exercised, written by hand, so that equal answers are not
    // equally empty ones.
    let find = |needles: &[&str]| {
        their_summary
            .iter()
            .find(|(key, _)| needles.iter().all(|n| key.contains(n)))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no series with {needles:?}:\n{}", describe(&their_summary)))
    };
    let one = 1f64.to_bits();
    let zero = 0f64.to_bits();
    assert!(
        find(&["\"goes_away\""]).1,
        "a vanished series is marked stale"
    );
    assert_eq!(
        find(&["\"up\"", "\"to500\""]).0,
        BTreeSet::from([zero, one])
    );
    for job in ["garbage", "limit", "duplicates", "big", "slow"] {
        assert_eq!(
            find(&["\"up\"", &format!("\"{job}\"")]).0,
            BTreeSet::from([zero]),
            "{job} fails"
        );
    }
    find(&["\"conflicting\"", "\"exported_job\": \"exposed_job\""]);
    find(&["\"conflicting\"", "\"job\": \"exposed_job\""]);
    find(&["\"renamed_me\""]);
    assert!(!their_summary.keys().any(|k| k.contains("drop_this")));
    find(&["\"compressed_metric\""]);
    find(&["\"jobs_total\""]);
    assert!(
        find(&["\"removed_metric\"", "sd_removed"]).1
            && find(&["\"removed_metric\"", "reload_removed"]).1
    );

    let mut differences = Vec::new();
    for key in their_summary
        .keys()
        .chain(our_summary.keys())
        .collect::<BTreeSet<_>>()
    {
        let (a, b) = (their_summary.get(key), our_summary.get(key));
        if a != b {
            differences.push(format!("{key}\n  prometheus: {a:?}\n  promshard:  {b:?}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} series differ:\n{}\n\npromshard log:\n{}",
        differences.len(),
        differences.join("\n"),
        promshard.log_text()
    );
}
