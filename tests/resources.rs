//! Resource bounds of the promshard process: open files with 10,000 targets.

mod common;

use common::{Process, free_port, promshard_bin};
use std::time::{Duration, Instant};

const TARGETS: usize = 10_000;
/// Each scrape is held this long by the target, so thousands of connections are open at
/// once: far more than the usual soft limit of 1,024 files.
const ANSWER_AFTER: Duration = Duration::from_secs(2);

/// The value of an unlabelled metric in an exposition.
fn metric(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_slow_targets_fit_in_the_raised_open_files_limit() {
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
        most_open = most_open.max(metric(&exposition, "process_open_fds").unwrap_or(0.0));
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
        metric(&exposition, "process_max_fds"),
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
