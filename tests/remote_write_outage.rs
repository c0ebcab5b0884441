//! Issue 4 acceptance 1 and 2: the promshard binary scrapes 20 targets × 1,000 series every
//! second and remote-writes through a TCP proxy to a strict receiver, which answers 503 for
//! 30s and is then unreachable for 30s (acceptance 1), or which is down while promshard is
//! SIGKILLed and restarted on the same `--storage.path` (acceptance 2). Afterwards every sample
//! of every scrape must have arrived once, in per-series order: checked sample by sample
//! against the scrapes' `up` samples (one per scrape) and the values the targets served.

mod common;

use common::strict_receiver::StrictReceiver;
use common::tcp_proxy::TcpProxy;
use common::{Process, free_port, start_promshard};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

const TARGETS: usize = 20;
const SERIES_PER_TARGET: usize = 1000;
/// `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
/// `scrape_samples_post_metric_relabeling`, `scrape_series_added`.
const SYNTHETIC_SERIES: usize = 5;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Starts the targets; returns their `host:port`s. Series `outage_series{idx="i"}` has value i.
async fn start_targets() -> Vec<String> {
    let mut body = String::with_capacity(SERIES_PER_TARGET * 40);
    body.push_str("# TYPE outage_series gauge\n");
    for i in 0..SERIES_PER_TARGET {
        body.push_str(&format!("outage_series{{idx=\"{i}\"}} {i}\n"));
    }
    common::serve_body(TARGETS, body).await
}

fn write_config(dir: &Path, targets: &[String], proxy: &TcpProxy) -> std::path::PathBuf {
    let targets = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: outage\n    static_configs:\n      - targets: [{targets}]\n\
         remote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      max_backoff: 2s\n",
        proxy.addr
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).expect("write config");
    path
}

/// The value of one sample line of promshard's `/metrics` (summed over matching lines).
async fn self_metric(port: u16, name: &str, label_filter: &str) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(label_filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `up` timestamps per target instance.
fn up_timestamps(receiver: &StrictReceiver) -> BTreeMap<String, Vec<i64>> {
    receiver.with_store(|store| {
        store
            .series
            .iter()
            .filter(|(key, _)| key.starts_with("__name__=\"up\","))
            .map(|(key, samples)| {
                (
                    label(key, "instance").to_string(),
                    samples.iter().map(|s| s.0).collect(),
                )
            })
            .collect()
    })
}

fn label<'a>(key: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}=\"");
    key.split(',')
        .find_map(|pair| pair.strip_prefix(&prefix)?.strip_suffix('"'))
        .unwrap_or("")
}

/// Waits until every target has an `up` sample at or after `after_ms`.
async fn wait_for_up_after(receiver: &StrictReceiver, after_ms: i64, timeout: Duration) {
    let start = Instant::now();
    loop {
        let ups = up_timestamps(receiver);
        let caught_up = ups.len() == TARGETS
            && ups
                .values()
                .all(|ts| ts.last().is_some_and(|&t| t >= after_ms));
        if caught_up {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "targets without an up sample after {after_ms} within {timeout:?}: {:?}",
            ups.iter()
                .map(|(i, ts)| (i.clone(), ts.last().copied()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The scrape timestamps of one target that every one of its series must have: its `up`
/// timestamps within `[from, to]`, checked to be one interval apart (no scrape missing).
fn expected_scrapes(ups: &[i64], from: i64, to: i64, instance: &str) -> Vec<i64> {
    let scrapes: Vec<i64> = ups
        .iter()
        .copied()
        .filter(|&t| t >= from && t <= to)
        .collect();
    for pair in scrapes.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            1000,
            "{instance}: scrapes at {} and {} are not one interval apart: the samples of the scrapes between were lost",
            pair[0],
            pair[1]
        );
    }
    scrapes
}

/// Checks that, per target, every series has exactly the samples of `scrapes[instance]`
/// (among its samples inside `windows`), with the values the target served.
fn check_every_sample(
    receiver: &StrictReceiver,
    scrapes: &BTreeMap<String, Vec<i64>>,
    windows: &[(i64, i64)],
) {
    receiver.with_store(|store| {
        assert_eq!(
            store.violation_count, 0,
            "out-of-order or duplicate samples: {:#?}",
            store.violations
        );
        let mut per_target: BTreeMap<&str, usize> = BTreeMap::new();
        let mut checked = 0usize;
        for (key, samples) in &store.series {
            let instance = label(key, "instance");
            let Some(expected) = scrapes.get(instance) else {
                continue;
            };
            *per_target.entry(instance).or_default() += 1;
            let got: Vec<i64> = samples
                .iter()
                .map(|s| s.0)
                .filter(|&t| windows.iter().any(|&(a, b)| t >= a && t <= b))
                .collect();
            let want: BTreeSet<i64> = expected.iter().copied().collect();
            let have: BTreeSet<i64> = got.iter().copied().collect();
            let missing: Vec<_> = want.difference(&have).take(5).collect();
            let extra: Vec<_> = have.difference(&want).take(5).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{key}: missing samples at {missing:?}, unexpected at {extra:?} ({} of {} scrapes)",
                have.len(),
                want.len()
            );
            if key.starts_with("__name__=\"outage_series\"") {
                let idx: f64 = label(key, "idx").parse().expect("idx label");
                assert!(
                    samples.iter().all(|s| f64::from_bits(s.1) == idx),
                    "{key}: a value differs from what the target served"
                );
            }
            checked += got.len();
        }
        assert_eq!(per_target.len(), TARGETS, "targets seen: {per_target:?}");
        for (instance, series) in &per_target {
            assert_eq!(
                *series,
                SERIES_PER_TARGET + SYNTHETIC_SERIES,
                "{instance}: series count"
            );
        }
        let want_total: usize =
            scrapes.values().map(Vec::len).sum::<usize>() * (SERIES_PER_TARGET + SYNTHETIC_SERIES);
        assert_eq!(checked, want_total, "samples checked");
    });
}

fn assert_running(promshard: &mut Process) {
    if let Err(e) = promshard.check_running() {
        panic!("{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_503_then_unreachable_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = StrictReceiver::start().await;
    let proxy = TcpProxy::start(receiver.addr).await;
    let targets = start_targets().await;
    let config = write_config(dir.path(), &targets, &proxy);
    let port = free_port();
    let started_ms = now_ms();
    let mut promshard = start_promshard(&config, dir.path(), port);

    // Healthy first: samples flow directly.
    wait_for_up_after(&receiver, started_ms, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // 30s of 503, then 30s unreachable.
    let outage_start = now_ms();
    receiver.answer(503);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_running(&mut promshard);
    proxy.cut().await;
    receiver.answer(204);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_running(&mut promshard);
    proxy.restore().await;
    let recovered = now_ms();
    let backlog = self_metric(port, "promshard_remote_storage_disk_pending_bytes", "").await;
    assert!(
        backlog > 0.0,
        "nothing waited on disk at the end of the outage"
    );
    let drain_started = Instant::now();
    while self_metric(port, "promshard_remote_storage_disk_pending_bytes", "").await > 0.0 {
        assert!(
            drain_started.elapsed() < Duration::from_secs(120),
            "the disk queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "disk queue of {backlog} bytes drained in {:?}",
        drain_started.elapsed()
    );

    // Everything queued during the outage drains, then new scrapes flow again.
    wait_for_up_after(&receiver, recovered + 5000, Duration::from_secs(120)).await;
    assert_running(&mut promshard);
    assert!(
        receiver.requests_with_status(503) > 0,
        "the receiver never answered 503"
    );
    assert_eq!(receiver.undecodable(), 0);
    let spilled = self_metric(port, "promshard_remote_storage_samples_spilled_total", "").await;
    assert!(
        spilled > 0.0,
        "nothing went through the disk queue during the outage"
    );
    for reason in ["queue_full", "too_old", "storage_full", "shutdown"] {
        let dropped = self_metric(
            port,
            "promshard_remote_storage_samples_dropped_total",
            &format!("reason=\"{reason}\""),
        )
        .await;
        assert_eq!(dropped, 0.0, "samples dropped for {reason}");
    }
    let failed = self_metric(port, "promshard_remote_storage_samples_failed_total", "").await;
    assert_eq!(failed, 0.0, "samples failed");

    // Sample by sample: from each target's first scrape to 5s before the newest common one.
    let ups = up_timestamps(&receiver);
    let newest = ups
        .values()
        .filter_map(|ts| ts.last().copied())
        .min()
        .expect("up samples");
    let cutoff = newest - 5000;
    assert!(
        cutoff > recovered,
        "the check must cover the whole outage ({outage_start}..{recovered}), cutoff {cutoff}"
    );
    let scrapes: BTreeMap<String, Vec<i64>> = ups
        .iter()
        .map(|(instance, ts)| {
            let first = ts[0];
            assert!(
                first <= started_ms + 5000,
                "{instance}: first scrape at {first}, promshard started at {started_ms}: early scrapes lost"
            );
            (
                instance.clone(),
                expected_scrapes(ts, first, cutoff, instance),
            )
        })
        .collect();
    let scrape_count: usize = scrapes.values().map(Vec::len).sum();
    assert!(
        scrape_count >= TARGETS * 60,
        "only {scrape_count} scrapes checked"
    );
    check_every_sample(&receiver, &scrapes, &[(i64::MIN, cutoff)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_outage_then_restart_delivers_the_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = StrictReceiver::start().await;
    receiver.answer(503);
    let proxy = TcpProxy::start(receiver.addr).await;
    let targets = start_targets().await;
    let config = write_config(dir.path(), &targets, &proxy);
    let port = free_port();
    let started_ms = now_ms();
    let mut first = start_promshard(&config, dir.path(), port);

    // Scrapes pile up in the disk queue while the receiver answers 503.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_running(&mut first);
        let spilled = self_metric(port, "promshard_remote_storage_samples_spilled_total", "").await;
        if spilled >= (TARGETS * SERIES_PER_TARGET * 10) as f64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {spilled} samples reached the disk queue"
        );
    }
    let killed_ms = now_ms();
    // `Process` kills with SIGKILL.
    drop(first);

    let restarted_ms = now_ms();
    let mut second = start_promshard(&config, dir.path(), port);
    receiver.answer(204);
    wait_for_up_after(&receiver, restarted_ms + 8000, Duration::from_secs(90)).await;
    assert_running(&mut second);
    let log = std::fs::read_to_string(dir.path().join("promshard.log")).unwrap_or_default();
    assert!(
        log.contains("disk queue opened"),
        "the restart did not open the disk queue:\n{log}"
    );

    // Loss window: samples still in memory when killed (one batch_send_deadline, 1s, plus the
    // scrape being appended) and, for a power loss, the fsync interval (1s). Everything scraped
    // more than 3s before the kill must arrive, as must everything after the restart.
    let ups = up_timestamps(&receiver);
    let newest = ups
        .values()
        .filter_map(|ts| ts.last().copied())
        .min()
        .expect("up samples");
    let durable_until = killed_ms - 3000;
    let cutoff = newest - 3000;
    let mut scrapes = BTreeMap::new();
    for (instance, ts) in &ups {
        let first = ts[0];
        assert!(
            first <= started_ms + 5000,
            "{instance}: first scrape at {first}, started at {started_ms}: the queue lost the first scrapes"
        );
        let mut before = expected_scrapes(ts, first, durable_until, instance);
        assert!(
            before.len() >= 5,
            "{instance}: {} scrapes before the kill",
            before.len()
        );
        let after_first = ts
            .iter()
            .copied()
            .find(|&t| t > killed_ms)
            .expect("scrapes after the restart");
        before.extend(expected_scrapes(ts, after_first, cutoff, instance));
        scrapes.insert(instance.clone(), before);
    }
    // Samples between `durable_until` and the restart may or may not have survived; if they
    // did, the strict receiver has already checked their order.
    check_every_sample(
        &receiver,
        &scrapes,
        &[(i64::MIN, durable_until), (killed_ms, cutoff)],
    );
}
