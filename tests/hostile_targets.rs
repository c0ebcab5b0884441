//! Hostile and broken targets: each fails its own scrape (`up` 0) with an error that says
//! what was wrong, and none of them can take promshard's memory; a good target scraped
//! beside them stays up.

mod common;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use common::free_port;
use common::receiver::Receiver;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// The bound promshard runs with for jobs that set none (`--scrape.default-body-size-limit`).
const DEFAULT_LIMIT: u64 = 16 << 20;

fn text(body: impl Into<Body>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body.into(),
    )
        .into_response()
}

/// 1 GiB of valid exposition as about 3 MB of gzip: one member of 1 MiB, 1,024 times over
/// (a gzip reader reads members one after another, as Go's does).
fn gzip_bomb() -> Vec<u8> {
    let line = b"bomb_series{a=\"b\"} 1\n";
    let mut plain = Vec::with_capacity(1 << 20);
    while plain.len() + line.len() <= 1 << 20 {
        plain.extend_from_slice(line);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&plain).unwrap();
    let member = encoder.finish().unwrap();
    member.repeat(1024)
}

fn app() -> axum::Router {
    let bomb = bytes::Bytes::from(gzip_bomb());
    let long_name = format!("{}\n", "a".repeat(8 << 20));
    let mut many_labels = String::from("many_labels{");
    for i in 0..5000 {
        many_labels.push_str(&format!("l{i}=\"v\","));
    }
    many_labels.push_str("} 1\n");
    axum::Router::new()
        .route("/ok", axum::routing::get(|| async { text("fine 1\n") }))
        // A body that never ends: a line every 5 ms.
        .route(
            "/endless",
            axum::routing::get(|| async {
                let lines = futures::stream::unfold(0u64, |n| async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let line = format!("endless{{n=\"{n}\"}} 1\n");
                    Some((Ok::<_, std::io::Error>(line), n + 1))
                });
                text(Body::from_stream(lines))
            }),
        )
        // Headers, the start of a line, then nothing.
        .route(
            "/stalled",
            axum::routing::get(|| async {
                let start =
                    futures::stream::once(async { Ok::<_, std::io::Error>("stalled 1\nhalf") });
                text(Body::from_stream(futures::StreamExt::chain(
                    start,
                    futures::stream::pending(),
                )))
            }),
        )
        // No answer at all.
        .route(
            "/silent",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                text("never")
            }),
        )
        .route(
            "/bomb",
            axum::routing::get(move || {
                let bomb = bomb.clone();
                async move {
                    (
                        [
                            (header::CONTENT_TYPE, "text/plain; version=0.0.4"),
                            (header::CONTENT_ENCODING, "gzip"),
                        ],
                        bomb,
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/long_line",
            axum::routing::get(move || {
                let body = long_name.clone();
                async move { text(body) }
            }),
        )
        .route(
            "/many_labels",
            axum::routing::get(move || {
                let body = many_labels.clone();
                async move { text(body) }
            }),
        )
        .route(
            "/bad_utf8",
            axum::routing::get(|| async { text(&b"bad_utf8{l=\"\xff\xfe\"} 1\n"[..]) }),
        )
}

/// The job for each route, its extra settings, and what its error must say.
const CASES: [(&str, &str, &str); 9] = [
    ("ok", "", ""),
    ("endless", "", "context deadline exceeded"),
    ("stalled", "", "context deadline exceeded"),
    ("silent", "", "context deadline exceeded"),
    (
        "bomb",
        "",
        "body size limit exceeded (limit: 16777216 bytes)",
    ),
    (
        "bomb_own_limit",
        "    body_size_limit: 1MB\n",
        "body size limit exceeded (limit: 1048576 bytes)",
    ),
    (
        "long_line",
        "",
        "expected value after metric, got \"\\n\" (\"INVALID\") while parsing: \"aaaa",
    ),
    (
        "many_labels",
        "",
        "label_limit exceeded (metric: many_labels, number of labels: 5003, limit: 1000)",
    ),
    (
        "bad_utf8",
        "",
        "invalid UTF-8 label value: \"\\\"\\xff\\xfe\\\"\"",
    ),
];

fn config(target: &str, receiver: &str) -> String {
    let mut config =
        String::from("global:\n  scrape_interval: 3s\n  scrape_timeout: 2s\nscrape_configs:\n");
    for (job, extra, _) in CASES {
        let path = job.strip_suffix("_own_limit").unwrap_or(job);
        config.push_str(&format!(
            "  - job_name: {job}\n    metrics_path: /{path}\n{extra}    static_configs:\n      - targets: ['{target}']\n"
        ));
    }
    config.push_str(&format!(
        "remote_write:\n  - url: {receiver}\n    queue_config:\n      batch_send_deadline: 200ms\n"
    ));
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_target_fails_its_own_scrape_clearly_in_bounded_memory() {
    let target = common::serve_on_loopback(app()).await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("promshard.yml");
    std::fs::write(&config_path, config(&target, &receiver.url)).unwrap();
    let port = free_port();
    let process = common::start_promshard_with(
        &config_path,
        dir.path(),
        port,
        &[format!("--scrape.default-body-size-limit={DEFAULT_LIMIT}B")],
    );

    // Every job's `up` as sent, twice: each case fails every scrape, not only the first.
    let up_of = |samples: &[(BTreeMap<String, String>, i64, u64)]| {
        let mut up: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (labels, _, value) in samples {
            if labels.get("__name__").map(String::as_str) == Some("up") {
                up.entry(labels["job"].clone())
                    .or_default()
                    .push(f64::from_bits(*value));
            }
        }
        up
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let up = loop {
        let up = up_of(&receiver.accepted_samples());
        if CASES
            .iter()
            .all(|(job, _, _)| up.get(*job).is_some_and(|v| v.len() >= 2))
        {
            break up;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every job sent up twice in 60 s: {up:?}\nlog:\n{}",
            process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (job, _, _) in CASES {
        let expected = if job == "ok" { 1.0 } else { 0.0 };
        assert!(
            up[job].iter().all(|&v| v == expected),
            "{job}: up {:?}",
            up[job]
        );
    }

    let client = reqwest::Client::new();
    let active = common::active_targets(&client, &format!("http://127.0.0.1:{port}")).await;
    for (job, _, error) in CASES {
        let status = active
            .iter()
            .find(|t| t["scrapePool"] == job)
            .unwrap_or_else(|| panic!("no target of {job}"));
        let last_error = status["lastError"].as_str().unwrap();
        assert!(
            last_error.contains(error),
            "{job}: lastError {last_error:?} does not say {error:?}"
        );
        // A line of megabytes is quoted in part.
        assert!(
            last_error.len() < 2048,
            "{job}: {} bytes of error",
            last_error.len()
        );
    }
    let long_line = active
        .iter()
        .find(|t| t["scrapePool"] == "long_line")
        .unwrap();
    assert!(
        long_line["lastError"]
            .as_str()
            .unwrap()
            .contains(&format!("... ({} bytes in all)", (8 << 20) + 1)),
        "{long_line}"
    );

    // Nothing kept a body whole: the bomb inflates to 16 MiB at most, not 1 GiB; the long
    // line is 8 MiB. Peak resident memory over all of it:
    let peak = common::proc_memory_bytes(process.pid(), "VmHWM");
    assert!(peak < 160 << 20, "peak RSS {} MiB", peak >> 20);
    // Counted by reason: two jobs over the body limit, three timing out, every scrape.
    let exposition = common::get_text(&client, &format!("http://127.0.0.1:{port}/metrics")).await;
    let failures = |reason: &str| -> f64 {
        let prefix = format!("promshard_scrape_failures_total{{reason=\"{reason}\"}} ");
        exposition
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str())?.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{exposition}"))
    };
    assert!(failures("body_size_limit") >= 4.0, "{exposition}");
    assert!(failures("timeout") >= 6.0, "{exposition}");
    assert!(failures("parse_or_limit") >= 6.0, "{exposition}");
}
