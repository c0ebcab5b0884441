//! The binary as users run it: `check config`, flags, logging, reload by SIGHUP and HTTP.

mod common;

use common::{free_port, get_json, promshard_bin, start_promshard};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const GOOD: &str = "
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: a
    static_configs:
      - targets: ['127.0.0.1:9100', '127.0.0.1:9101']
  - job_name: b
    static_configs:
      - targets: ['127.0.0.1:9102']
remote_write:
  - url: http://127.0.0.1:19291/api/v1/receive
";

#[test]
fn check_config_reports_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yml", GOOD);
    let dup = write(
        dir.path(),
        "dup.yml",
        "scrape_configs:\n  - job_name: a\n    job_name: b\n",
    );
    let timeout = write(
        dir.path(),
        "timeout.yml",
        "scrape_configs:\n  - job_name: ok\n  - job_name: slow\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
    );

    let output = Command::new(promshard_bin())
        .args(["check", "config"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "good.yml: SUCCESS: 2 scrape jobs, 3 targets from static configs, 1 remote_write"
        ),
        "{stdout}"
    );

    let output = Command::new(promshard_bin())
        .args(["check", "config"])
        .args([&good, &dup, &timeout])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("good.yml: SUCCESS"), "{stdout}");
    assert!(stderr.contains("dup.yml: FAILED"), "{stderr}");
    assert!(
        stderr.contains("dup.yml:3:5: "),
        "duplicate key must be located: {stderr}"
    );
    assert!(
        stderr.contains("timeout.yml:5:21: scrape timeout greater than scrape interval for scrape config with job name \"slow\""),
        "{stderr}"
    );

    let missing = Command::new(promshard_bin())
        .args(["check", "config", "/nonexistent/p.yml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/p.yml: cannot read file")
    );
}

#[test]
fn version_flag() {
    let output = Command::new(promshard_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("promshard {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn invalid_config_at_start_exits_with_located_json_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "p.yml", "global:\n  scrape_interval: 1x\n");
    let output = Command::new(promshard_bin())
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg("--log.format=json")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first: serde_json::Value = serde_json::from_str(stderr.lines().next().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(first["level"], "ERROR");
    assert_eq!(first["line"], 2);
    assert!(
        first["error"]
            .as_str()
            .unwrap()
            .contains("unknown unit \"x\" in duration \"1x\""),
        "{stderr}"
    );
}

fn active_count(body: &serde_json::Value) -> usize {
    body["data"]["activeTargets"].as_array().map_or(0, Vec::len)
}

async fn wait_for_count(client: &reqwest::Client, url: &str, want: usize) -> serde_json::Value {
    for _ in 0..100 {
        let body = get_json(client, url, Duration::from_secs(10)).await;
        if active_count(&body) == want {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never showed {want} active targets");
}

#[tokio::test]
async fn reload_by_sighup_and_http_keeps_running_config_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let one = "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['127.0.0.1:9100']\n";
    let config = write(dir.path(), "p.yml", one);
    let port = free_port();
    let mut server = start_promshard(&config, dir.path(), port);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let targets = format!("{base}/api/v1/targets");
    wait_for_count(&client, &targets, 1).await;

    let flags = get_json(
        &client,
        &format!("{base}/api/v1/status/flags"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(flags["data"]["config.file"], config.display().to_string());
    assert_eq!(
        flags["data"]["web.listen-address"],
        format!("127.0.0.1:{port}")
    );
    assert_eq!(
        client
            .get(format!("{base}/-/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // SIGHUP picks up a second target.
    write(
        dir.path(),
        "p.yml",
        &format!("{one}      - targets: ['127.0.0.1:9101']\n"),
    );
    let pid = server.pid();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    wait_for_count(&client, &targets, 2).await;

    // An invalid file is refused with its location; the running config stays.
    write(
        dir.path(),
        "p.yml",
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 5\n",
    );
    let response = client
        .post(format!("{base}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("p.yml:3:22: not a valid duration string: \"5\""),
        "{text}"
    );
    let body = get_json(&client, &targets, Duration::from_secs(5)).await;
    assert_eq!(active_count(&body), 2);
    let shown = get_json(
        &client,
        &format!("{base}/api/v1/status/config"),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        shown["data"]["yaml"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9101")
    );

    // A valid file again: HTTP reload succeeds and applies it.
    write(
        dir.path(),
        "p.yml",
        "scrape_configs:\n  - job_name: z\n    static_configs:\n      - targets: ['127.0.0.1:9200']\n",
    );
    let response = client
        .post(format!("{base}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = wait_for_count(&client, &targets, 1).await;
    assert_eq!(body["data"]["activeTargets"][0]["scrapePool"], "z");
    server.check_running().unwrap();
}

#[tokio::test]
async fn invalid_targets_are_counted_on_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let text = "scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['127.0.0.1:1', 'bad:1']\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: bad:1\n        target_label: __scrape_interval__\n        replacement: 0s\n";
    let config = write(dir.path(), "p.yml", text);
    let port = free_port();
    let mut server = start_promshard(&config, dir.path(), port);
    let client = reqwest::Client::new();
    wait_for_count(
        &client,
        &format!("http://127.0.0.1:{port}/api/v1/targets"),
        1,
    )
    .await;
    let metrics = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("promshard_target_sync_failed_total{scrape_job=\"j\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("promshard_targets{scrape_job=\"j\",state=\"active\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("promshard_config_last_reload_successful 1"),
        "{metrics}"
    );
    assert!(metrics.contains("promshard_sd_updates_total "), "{metrics}");
    assert!(
        metrics.contains("promshard_sd_refresh_failures_total{mechanism=\"http\"} 0"),
        "{metrics}"
    );
    assert!(
        server.log_text().contains("invalid target skipped"),
        "{}",
        server.log_text()
    );
    server.check_running().unwrap();
}

/// `check web-config` reads the file as the server would, TLS files included; the server
/// refuses to start on a web config that does not load.
#[test]
fn check_web_config_and_a_web_config_that_does_not_load_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    // A bcrypt hash of "alice-password" made with glibc's crypt (libxcrypt).
    let good = write(
        dir.path(),
        "web.yml",
        "basic_auth_users:\n  alice: $2b$10$XF/pPhi1f6SwdP5gwR6J3ORKy06KfmI0YbTEVQL5XNNqimHSL/Lxy\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
    );
    let plaintext = write(
        dir.path(),
        "plaintext.yml",
        "basic_auth_users:\n  bob: hunter2\n",
    );
    let no_cert = write(
        dir.path(),
        "tls.yml",
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
    );
    let output = Command::new(promshard_bin())
        .args(["check", "web-config"])
        .args([&good, &plaintext, &no_cert])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("web.yml: SUCCESS: TLS off, 1 basic-auth user(s), 1 response header(s)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("plaintext.yml: FAILED")
            && stderr.contains("the password of \"bob\" is not a bcrypt hash"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(
        stderr.contains("tls.yml: FAILED") && stderr.contains("missing.crt"),
        "{stderr}"
    );

    let config = write(dir.path(), "prometheus.yml", GOOD);
    let output = Command::new(promshard_bin())
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.config.file={}", plaintext.display()))
        .output()
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("--web.config.file")
            && log.contains("plaintext.yml")
            && !log.contains("hunter2"),
        "{log}"
    );
}
