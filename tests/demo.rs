//! `promshard demo`, shortened: 3 generators × 2,000 series under --shard.max-series=2500
//! must scale from 1 to 3 replicas, 1 target each, with every series received once.

mod common;

use common::{free_port, promshard_bin, require_program};
use std::process::Command;

/// Runs the demo with `extra` flags; returns its output after checking it exited 0.
fn run_demo(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port().to_string();
    let output = Command::new(promshard_bin())
        .args([
            "demo",
            "--generators=3",
            "--series=2000",
            "--shard.max-series=2500",
            "--scrape-interval=1s",
            "--timeout=3m",
        ])
        .arg(format!("--web.port={port}"))
        .arg(format!("--dir={}", dir.path().display()))
        .args(extra)
        .output()
        .expect("run promshard demo");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let logs: String = (0..3)
        .map(|i| {
            let log = dir.path().join(format!("replica-{i}.log"));
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            format!(
                "--- replica {i} ---\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
        .collect();
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{}\n{logs}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The final table: one row per replica with its targets and series.
fn replica_rows(stdout: &str) -> Vec<(u64, String)> {
    let table = &stdout[stdout.rfind("replica  address").expect("final table")..];
    table
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("total"))
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[2].parse().expect("targets"), cells[3].to_string())
        })
        .collect()
}

#[test]
fn demo_scales_to_three_and_receives_every_series_once() {
    let stdout = run_demo(&[]);
    assert!(stdout.contains("starting replica 2"), "{stdout}");
    assert_eq!(
        replica_rows(&stdout),
        vec![(1, "2,000".to_string()); 3],
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "series expected 6,000 · received 6,000 · missing 0 · duplicates: 0 conflicting"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("out of order 0"), "{stdout}");
}

#[test]
fn demo_with_prometheus_as_the_receiver() {
    require_program("prometheus", "prometheus");
    let stdout = run_demo(&["--receiver=prometheus"]);
    assert_eq!(replica_rows(&stdout).len(), 3, "{stdout}");
    assert!(
        stdout.contains("series expected 6,000 · received 6,000 · missing 0"),
        "{stdout}"
    );
}

#[test]
fn demo_rejects_zero_generators() {
    let output = Command::new(promshard_bin())
        .args(["demo", "--generators=0"])
        .output()
        .expect("run promshard demo");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--generators"), "{stderr}");
}
