//! Secrets planted in every secret field of a running config (inline and in `*_file`s, URL
//! passwords) never show on any output surface: the log at debug level, every web page and
//! API answer, the errors of failing scrapes, discovery and remote writes, a refused reload,
//! and `promshard check config`; nor do the web config's password hashes and the peer
//! client's password (`check web-config`, peer probes that fail).

mod common;

use axum::http::StatusCode;
use common::receiver::{Receiver, Reply};
use common::{free_port, promshard_bin};
use std::time::Duration;

const PLANTED: [&str; 12] = [
    "PLANTED-basic-password-1",
    "PLANTED-basic-file-2",
    "PLANTED-bearer-3",
    "PLANTED-bearer-file-4",
    "PLANTED-header-5",
    "PLANTED-oauth-6",
    "PLANTED-proxy-url-7",
    "PLANTED-rw-url-8",
    "PLANTED-rw-basic-9",
    "PLANTED-sd-bearer-10",
    "PLANTED-oauth-file-11",
    "PLANTED-proxy-header-12",
];

/// A target that refuses everyone (401), an OAuth2 token endpoint that fails (500), and an
/// HTTP discovery endpoint that fails (500).
fn refusing_app() -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|| async { (StatusCode::UNAUTHORIZED, "who are you") }),
        )
        .route(
            "/token",
            axum::routing::post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "token broken") }),
        )
        .route(
            "/sd",
            axum::routing::get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "sd broken") }),
        )
}

fn config(dir: &std::path::Path, target: &str, receiver: &str) -> String {
    let file = |name: &str, secret: &str| {
        let path = dir.join(name);
        std::fs::write(&path, format!("{secret}\n")).unwrap();
        path.display().to_string()
    };
    let basic_file = file("basic", PLANTED[1]);
    let bearer_file = file("bearer", PLANTED[3]);
    let oauth_file = file("oauth", PLANTED[10]);
    let receiver_with_password =
        receiver.replacen("http://", &format!("http://writer:{}@", PLANTED[7]), 1);
    format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: basic
    basic_auth: {{username: user, password: {p0}}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: basic_file
    basic_auth: {{username: user, password_file: {basic_file}}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: bearer
    authorization: {{credentials: {p2}}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: bearer_file
    authorization: {{credentials_file: {bearer_file}}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: headers
    http_headers:
      X-Api-Key: {{secrets: [{p4}]}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: oauth
    oauth2: {{client_id: id, client_secret: {p5}, token_url: 'http://{target}/token'}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: oauth_file
    oauth2: {{client_id: id, client_secret_file: {oauth_file}, token_url: 'http://{target}/token'}}
    static_configs: [{{targets: ['{target}']}}]
  - job_name: proxy
    proxy_url: 'http://proxy-user:{p6}@127.0.0.1:9/'
    proxy_connect_header:
      Proxy-Authorization: [{p11}]
    static_configs: [{{targets: ['{target}']}}]
  - job_name: sd
    http_sd_configs:
      - url: 'http://{target}/sd'
        refresh_interval: 1s
        authorization: {{credentials: {p9}}}
remote_write:
  - url: '{receiver_with_password}'
    queue_config: {{min_backoff: 50ms, max_backoff: 100ms, batch_send_deadline: 200ms}}
  - url: '{receiver}'
    basic_auth: {{username: writer, password: {p8}}}
    queue_config: {{min_backoff: 50ms, max_backoff: 100ms, batch_send_deadline: 200ms}}
"#,
        p0 = PLANTED[0],
        p2 = PLANTED[2],
        p4 = PLANTED[4],
        p5 = PLANTED[5],
        p6 = PLANTED[6],
        p8 = PLANTED[8],
        p9 = PLANTED[9],
        p11 = PLANTED[11],
    )
}

/// The peer client's password (`--cluster.peer-config.file`) and the bcrypt hash of the web
/// user's password (`--web.config.file`; made with glibc's crypt from "alice-password").
const ACCESS_SECRETS: [&str; 2] = [
    "PLANTED-peer-password-13",
    "$2b$10$XF/pPhi1f6SwdP5gwR6J3ORKy06KfmI0YbTEVQL5XNNqimHSL/Lxy",
];

fn assert_no_secret(surface: &str, text: &str) {
    for secret in PLANTED.iter().chain(&ACCESS_SECRETS) {
        assert!(
            !text.contains(secret),
            "{surface} shows {secret}:\n{}",
            &text[text.find(secret).unwrap().saturating_sub(300)..]
                .chars()
                .take(800)
                .collect::<String>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_show_on_no_output_surface() {
    let target = common::serve_on_loopback(refusing_app()).await;
    // Every write fails: its errors are logged with the endpoint's URL.
    let receiver = Receiver::start().await;
    receiver.script(std::iter::repeat_n(
        Reply::status(500).body("receiver broken"),
        10_000,
    ));
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("promshard.yml");
    let config_text = config(dir.path(), &target, &receiver.url);
    std::fs::write(&config_path, &config_text).unwrap();
    for secret in PLANTED.iter().filter(|s| !s.contains("file")) {
        assert!(config_text.contains(secret), "{secret} is planted");
    }
    let web_config = dir.path().join("web.yml");
    std::fs::write(
        &web_config,
        format!("basic_auth_users:\n  alice: '{}'\n", ACCESS_SECRETS[1]),
    )
    .unwrap();
    let peer_config = dir.path().join("peers.yml");
    std::fs::write(
        &peer_config,
        format!(
            "basic_auth:\n  username: alice\n  password: {}\n",
            ACCESS_SECRETS[0]
        ),
    )
    .unwrap();
    let port = free_port();
    let process = common::start_promshard_with(
        &config_path,
        dir.path(),
        port,
        &[
            // The writes never succeed: shutdown does not wait for them.
            "--storage.remote.flush-deadline=1s".into(),
            format!("--web.config.file={}", web_config.display()),
            // A cluster of this replica and one that never answers: the peer client's
            // credentials go out with every probe, and its failures are logged.
            format!("--cluster.peers=127.0.0.1:{port},127.0.0.1:{}", free_port()),
            format!("--cluster.peer-config.file={}", peer_config.display()),
        ],
    );
    let log_path = process.log.clone();
    let client = reqwest::Client::builder()
        .default_headers(common::basic_auth_headers("alice", "alice-password"))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    // Until every job has failed scrapes and the writes have failed a few times.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let active = common::active_targets(&client, &base).await;
        let failing = active.iter().filter(|t| t["lastError"] != "").count();
        if failing >= 8 && receiver.received().len() >= 6 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "targets: {active:?}\nlog:\n{}",
            process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    for path in [
        "/",
        "/targets",
        "/cluster",
        "/api/v1/cluster",
        "/api/v1/cluster/state",
        "/service-discovery",
        "/cardinality",
        "/config",
        "/flags",
        "/metrics",
        "/api/v1/targets",
        "/api/v1/targets?state=any",
        "/api/v1/targets/metadata",
        "/api/v1/metadata",
        "/api/v1/status/config",
        "/api/v1/status/flags",
        "/api/v1/status/buildinfo",
        "/api/v1/status/series",
    ] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        // Metadata endpoints answer 404 when no target exposed any, as Prometheus does.
        assert!(
            status.is_success() || status == StatusCode::NOT_FOUND && path.contains("metadata"),
            "{path}: {status}"
        );
        assert_no_secret(path, &body);
    }

    // A reload refused for an error next to a secret: the answer and the log.
    let mut broken = config_text.clone();
    broken.push_str(&format!(
        "  - url: 'http://x:{}@127.0.0.1:1/'\n    basic_auth: {{username: u, password: {}, password_file: /x}}\n",
        PLANTED[7], PLANTED[8]
    ));
    std::fs::write(&config_path, &broken).unwrap();
    let reload = client
        .post(format!("{base}/-/reload"))
        .send()
        .await
        .unwrap();
    assert!(!reload.status().is_success());
    assert_no_secret("/-/reload", &reload.text().await.unwrap());

    // `promshard check config` on the same broken file and on the good one.
    std::fs::write(dir.path().join("good.yml"), &config_text).unwrap();
    for (check, file) in [
        ("config", &config_path),
        ("config", &dir.path().join("good.yml")),
        ("web-config", &web_config),
    ] {
        let out = std::process::Command::new(promshard_bin())
            .args(["check", check])
            .arg(file)
            .output()
            .unwrap();
        assert_no_secret("check config", &String::from_utf8_lossy(&out.stdout));
        assert_no_secret("check config", &String::from_utf8_lossy(&out.stderr));
    }

    // The log, at debug level, of all of it; then of a clean shutdown.
    let mut process = process;
    process.terminate(Duration::from_secs(30));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("401"), "the scrape errors are logged:\n{log}");
    assert_no_secret("the log", &log);
}
