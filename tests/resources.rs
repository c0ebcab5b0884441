//! Resource bounds of the promshard process: open files with 10,000 targets, memory with a
//! million series replaced on every scrape.

mod common;

use common::{Process, free_port, promshard_bin};
use std::time::{Duration, Instant};

/// Both tests load two cores fully: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TARGETS: usize = 10_000;
/// Each scrape is held this long by the target, so thousands of connections are open at
/// once: far more than the usual soft limit of 1,024 files.
const ANSWER_AFTER: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_slow_targets_fit_in_the_raised_open_files_limit() {
    let _serial = SERIAL.lock().await;
    // This test holds as many connections as promshard: it raises its own soft limit too.
    let own = promshard::process::raise_fd_limit().expect("getrlimit/setrlimit");
    assert!(
        own.hard >= 3 * TARGETS as u64 / 2,
        "this test needs a hard open-files limit of at least {} (ulimit -Hn is {})",
        3 * TARGETS / 2,
        own.hard
    );
    let app = axum::Router::new().route(
        "/t/{n}",
        axum::routing::get(|| async {
            tokio::time::sleep(ANSWER_AFTER).await;
            "# TYPE held gauge\nheld 1\n"
        }),
    );
    let target = common::serve_on_loopback(app).await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from(
        "global:\n  scrape_interval: 5s\n  scrape_timeout: 4500ms\nscrape_configs:\n  - job_name: held\n    static_configs:\n",
    );
    for n in 0..TARGETS {
        config.push_str(&format!(
            "      - targets: ['{target}']\n        labels: {{__metrics_path__: /t/{n}, instance: t{n}}}\n"
        ));
    }
    let config_path = dir.path().join("promshard.yml");
    std::fs::write(&config_path, config).unwrap();
    let port = free_port();
    // Started with the usual soft limit of 1,024 (the hard one inherited from this test).
    let process = Process::spawn(
        "promshard",
        "sh",
        &[
            "-c".into(),
            "ulimit -Sn 1024 && exec \"$0\" \"$@\"".into(),
            promshard_bin().into(),
            format!("--config.file={}", config_path.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--storage.path={}", dir.path().join("data").display()),
        ],
        &dir.path().join("promshard.log"),
    );

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    // Two whole intervals after every target was first scraped: all up, none failed.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut most_open = 0.0f64;
    let (up, down, errors) = loop {
        let active = common::active_targets(&client, &base).await;
        let exposition = common::get_text(&client, &format!("{base}/metrics")).await;
        most_open =
            most_open.max(common::metric_value(&exposition, "process_open_fds").unwrap_or(0.0));
        let up = active.iter().filter(|t| t["health"] == "up").count();
        let down: Vec<String> = active
            .iter()
            .filter(|t| t["health"] == "down")
            .map(|t| t["lastError"].as_str().unwrap_or("").to_string())
            .collect();
        if !down.is_empty() || up == TARGETS || Instant::now() > deadline {
            let errors: std::collections::BTreeSet<String> = down.iter().cloned().collect();
            break (up, down.len(), errors);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(
        (up, down),
        (TARGETS, 0),
        "targets up and down; errors: {errors:?}\nlog:\n{}",
        process.log_text()
    );
    // Another interval: the targets stay up while the connections of two rounds overlap.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let active = common::active_targets(&client, &base).await;
    let failing: Vec<&serde_json::Value> = active
        .iter()
        .filter(|t| t["health"] != "up")
        .take(3)
        .collect();
    assert!(failing.is_empty(), "{failing:?}");

    let exposition = common::get_text(&client, &format!("{base}/metrics")).await;
    assert_eq!(
        common::metric_value(&exposition, "process_max_fds"),
        Some(own.hard as f64),
        "{exposition}"
    );
    // Far more files were open at once than the soft limit it started with.
    assert!(most_open > 2048.0, "at most {most_open} files open");
    let log = process.log_text();
    assert!(
        log.contains("raised the open files limit") && log.contains("1024"),
        "{log}"
    );
}

const CHURN_SERIES: usize = 1_000_000;
const CHURN_SCRAPES: usize = 12;

/// A million series, all new on every scrape (a label carries the scrape's number), so each
/// scrape also marks the million before it stale. What promshard holds per generation of
/// series (the staleness set, series caches, queued samples) must be let go: memory levels
/// off instead of growing by a generation per scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_series_replaced_every_scrape_stay_in_bounded_memory() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let _serial = SERIAL.lock().await;
    let scrapes = Arc::new(AtomicUsize::new(0));
    let counted = scrapes.clone();
    let target = common::serve_on_loopback(axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let generation = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut body = String::with_capacity(CHURN_SERIES * 48);
                body.push_str("# TYPE churn gauge\n");
                for n in 0..CHURN_SERIES {
                    use std::fmt::Write;
                    let _ = writeln!(
                        body,
                        "churn{{generation=\"{generation}\",series=\"{n}\"}} {n}"
                    );
                }
                body
            }
        }),
    ))
    .await;
    // A receiver that takes everything and keeps nothing but a count.
    let received = Arc::new(AtomicU64::new(0));
    let counted_bytes = received.clone();
    let receiver = common::serve_on_loopback(axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |body: axum::body::Bytes| {
            counted_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            async { axum::http::StatusCode::NO_CONTENT }
        }),
    ))
    .await;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("promshard.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 5s\n  scrape_timeout: 5s\nscrape_configs:\n  - job_name: churn\n    static_configs:\n      - targets: ['{target}']\nremote_write:\n  - url: http://{receiver}/api/v1/write\n    metadata_config:\n      send: false\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let process = common::start_promshard(&config, dir.path(), port);

    // The highest resident memory seen while each scrape's series were the newest.
    let mut most_per_generation = [0u64; CHURN_SCRAPES + 1];
    let deadline = Instant::now() + Duration::from_secs(30 + 5 * CHURN_SCRAPES as u64);
    loop {
        let generation = scrapes.load(Ordering::SeqCst);
        if generation > CHURN_SCRAPES {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {generation} scrapes by now; log:\n{}",
            process.log_text()
        );
        let rss = common::proc_memory_bytes(process.pid(), "VmRSS");
        if generation > 0 {
            let most = &mut most_per_generation[generation - 1];
            *most = (*most).max(rss);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let client = reqwest::Client::new();
    let active = common::active_targets(&client, &format!("http://127.0.0.1:{port}")).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["health"], "up", "{}", active[0]);
    assert!(received.load(Ordering::Relaxed) > 0, "nothing written");

    let mib = |bytes: u64| bytes >> 20;
    let figures: Vec<u64> = most_per_generation[..CHURN_SCRAPES]
        .iter()
        .map(|&b| mib(b))
        .collect();
    let peak = common::proc_memory_bytes(process.pid(), "VmHWM");
    eprintln!(
        "resident MiB per generation: {figures:?}, peak {} MiB",
        mib(peak)
    );
    // Memory climbs for several scrapes while the allocator settles (measured: to about
    // 1.24 GiB by the 7th to 11th scrape, where it stays through 18), then levels off. A
    // generation of a million series kept (its labels alone are over 100 MiB) would go on
    // growing by that much per scrape and pass both bounds.
    let settled = most_per_generation[4..8].iter().max().copied().unwrap_or(0);
    let last = most_per_generation[8..CHURN_SCRAPES]
        .iter()
        .max()
        .copied()
        .unwrap_or(0);
    assert!(
        last <= settled + settled / 4,
        "memory grows with every generation (MiB): {figures:?}"
    );
    assert!(
        mib(peak) < 1792,
        "peak {} MiB; per generation: {figures:?}",
        mib(peak)
    );
}
