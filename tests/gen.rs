//! `promshard gen` as a process: consecutive targets, exact series counts, gzip, errors,
//! delay, flag errors and SIGTERM.

mod common;

use common::{Process, free_port, promshard_bin};
use flate2::read::GzDecoder;
use promshard::scrape::parse::{Entry, Format, Parser};
use std::collections::HashSet;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The first of `n` consecutive free loopback ports.
fn free_ports(n: u16) -> u16 {
    loop {
        let first = free_port();
        let all_free = (1..n).all(|i| {
            first
                .checked_add(i)
                .is_some_and(|port| port < 32_000 && TcpListener::bind(("127.0.0.1", port)).is_ok())
        });
        if all_free {
            return first;
        }
    }
}

fn start_gen(dir: &Path, name: &str, args: &[String]) -> Process {
    let mut all = vec!["gen".to_string()];
    all.extend(args.iter().cloned());
    Process::spawn(
        name,
        promshard_bin(),
        &all,
        &dir.join(format!("{name}.log")),
    )
}

/// A client that sends no `Accept-Encoding` by itself and never decompresses.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Waits until `/` answers on `port`.
async fn wait_ready(process: &mut Process, client: &reqwest::Client, port: u16) -> String {
    let start = Instant::now();
    loop {
        process.check_running().unwrap();
        if let Ok(response) = client.get(format!("http://127.0.0.1:{port}/")).send().await
            && response.status().is_success()
        {
            return response.text().await.unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "port {port} not ready; log:\n{}",
            process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every sample (series, value) of a text body, parsed by the scraper's parser.
fn samples(body: &[u8]) -> Vec<(String, f64)> {
    let mut parser = Parser::new(body, Format::PrometheusText);
    let mut out = Vec::new();
    while let Some(entry) = parser.next_entry().expect("body parses") {
        if let Entry::Series { series, value, .. } = entry {
            out.push((String::from_utf8_lossy(series).into_owned(), value));
        }
    }
    out
}

#[tokio::test]
async fn three_targets_on_consecutive_ports() {
    let dir = tempfile::tempdir().unwrap();
    let first = free_ports(3);
    let mut process = start_gen(
        dir.path(),
        "gen",
        &[
            "--targets".to_string(),
            "3".to_string(),
            format!("--web.listen-address=127.0.0.1:{first}"),
            "--series".to_string(),
            "500".to_string(),
        ],
    );
    let client = plain_client();
    let mut bodies = Vec::new();
    for (index, port) in (first..first + 3).enumerate() {
        let description = wait_ready(&mut process, &client, port).await;
        assert!(
            description.contains(&format!("target {index}, 500 series")),
            "{description}"
        );
        let response = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert!(response.headers().get("content-encoding").is_none());
        let body = response.bytes().await.unwrap();
        let parsed = samples(&body);
        assert_eq!(parsed.len(), 500, "target {index}");
        let unique: HashSet<&String> = parsed.iter().map(|(series, _)| series).collect();
        assert_eq!(unique.len(), 500);
        bodies.push(parsed);
    }
    // The article's targets are replicas: the same series, with values of their own.
    for other in &bodies[1..] {
        let same_values = bodies[0]
            .iter()
            .zip(other)
            .filter(|((a_series, a), (b_series, b))| {
                assert_eq!(a_series, b_series);
                a == b
            })
            .count();
        assert!(same_values < 50, "{same_values} of 500 values equal");
    }

    // gzip when asked for, and the same series inside.
    let response = client
        .get(format!("http://127.0.0.1:{}/metrics", first + 1))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.unwrap();
    let mut body = Vec::new();
    GzDecoder::new(&compressed[..])
        .read_to_end(&mut body)
        .unwrap();
    assert!(compressed.len() < body.len() / 3);
    let parsed = samples(&body);
    assert_eq!(parsed.len(), 500);
    assert!(parsed.iter().zip(&bodies[1]).all(|((a, _), (b, _))| a == b));

    let log = process.log_text();
    assert_eq!(
        log.matches("serving generated metrics").count(),
        3,
        "one line per target:\n{log}"
    );
    let status = process.terminate(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "log:\n{}", process.log_text());
}

#[tokio::test]
async fn error_rate_and_delay() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut process = start_gen(
        dir.path(),
        "gen-errors",
        &[
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--series=10".to_string(),
            "--error-rate=1".to_string(),
            "--delay=300ms".to_string(),
        ],
    );
    let client = plain_client();
    wait_ready(&mut process, &client, port).await;
    for _ in 0..3 {
        let start = Instant::now();
        let response = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert_eq!(response.status(), 500);
        let text = response.text().await.unwrap();
        assert!(text.contains("--error-rate"), "{text}");
    }
    let status = process.terminate(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "log:\n{}", process.log_text());
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let cases: [(&[&str], &str); 5] = [
        (&["--shape", "prometheus"], "--shape"),
        (&["--error-rate", "1.5"], "--error-rate"),
        (&["--series", "many"], "--series"),
        (
            &[
                "--targets=2",
                "--web.listen-address=127.0.0.1:1",
                "--web.listen-address=127.0.0.1:2",
            ],
            "--targets",
        ),
        (
            &["--values-per-label=100", "--label-value-length=1"],
            "--label-value-length",
        ),
    ];
    for (args, flag) in cases {
        let output = Command::new(promshard_bin())
            .arg("gen")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

#[test]
fn a_taken_port_fails_with_its_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = Command::new(promshard_bin())
        .args(["gen", "--web.listen-address", &address])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
}
