//! The legacy remote write 1.0 sender compliance cases (spec §7(c)) and the retry, batching and
//! queue rules of spec §6, as our own tests: `RemoteWrite` sends to a receiver in the test that
//! snappy-decodes and prost-decodes every request.

mod common;

use common::receiver as remote_write_support;

use promshard::labels::Labels;
use promshard::remote_write::{
    DropReason, RemoteWrite, RemoteWriteMetrics, RemoteWriteOptions, Sample, SampleSink,
};
use remote_write_support::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A sink with one endpoint pointed at `receiver`; `extra` is more YAML for the entry, indented
/// by four spaces.
fn sink_with(receiver: &Receiver, extra: &str, external: &[(&str, &str)]) -> RemoteWrite {
    let configs = remote_write_configs(&format!("  - url: {}\n{extra}", receiver.url));
    let external = external
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let options = RemoteWriteOptions {
        flush_deadline: Duration::from_secs(5),
        ..RemoteWriteOptions::default()
    };
    RemoteWrite::with_options(&configs, &external, options).unwrap()
}

/// Fast batches: sent after 50ms.
const FAST: &str = "    queue_config:\n      batch_send_deadline: 50ms\n";

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn sample(labels: &Labels, timestamp_ms: i64, value: f64) -> Sample {
    Sample::of(labels, timestamp_ms, value.to_bits())
}

fn metrics(rw: &RemoteWrite) -> Arc<RemoteWriteMetrics> {
    Arc::clone(&rw.metrics()[0].metrics)
}

fn get(c: &std::sync::atomic::AtomicU64) -> u64 {
    RemoteWriteMetrics::get(c)
}

/// SortedLabels, RepeatedLabels (no duplicate names), EmptyLabels, NameLabel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_sorted_unique_nonempty_with_name() {
    let receiver = Receiver::start().await;
    let extra = format!(
        "{FAST}    write_relabel_configs:\n      - target_label: emptied\n        replacement: \"\"\n      - target_label: Added\n        replacement: x\n"
    );
    let rw = sink_with(
        &receiver,
        &extra,
        &[("cluster", "c1"), ("job", "ext-job"), ("blank", "")],
    );
    let s1 = labels(&[
        ("zzz", "last"),
        ("__name__", "test_metric"),
        ("job", "j"),
        ("emptied", "was set"),
        ("empty", ""),
        ("a", "1"),
    ]);
    rw.append(&[sample(&s1, now_ms(), 1.0)]);
    let received = receiver.wait_for_samples(1, WAIT).await;
    let ts = &received[0].request.timeseries[0];
    let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["Added", "__name__", "a", "cluster", "job", "zzz"],
        "sorted bytewise, no duplicates, no empty values"
    );
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    assert!(ts.labels.iter().all(|l| !l.value.is_empty()));
    let map = label_map(ts);
    assert_eq!(map["__name__"], "test_metric");
    assert_eq!(map["job"], "j", "external labels do not override");
    assert_eq!(map["cluster"], "c1");
    rw.shutdown().await;
}

/// write_relabel_configs dropping a series: nothing of it is sent, and it is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_relabel_drop() {
    let receiver = Receiver::start().await;
    let extra = format!(
        "{FAST}    write_relabel_configs:\n      - source_labels: [__name__]\n        regex: private_.*\n        action: drop\n"
    );
    let rw = sink_with(&receiver, &extra, &[]);
    let s1 = labels(&[("__name__", "private_x")]);
    let s2 = labels(&[("__name__", "public_x")]);
    let m = metrics(&rw);
    let t = now_ms();
    rw.append(&[sample(&s1, t, 1.0), sample(&s2, t, 2.0)]);
    receiver.wait_for_samples(1, WAIT).await;
    rw.shutdown().await;
    let samples = receiver.accepted_samples();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].0["__name__"], "public_x");
    assert_eq!(m.dropped(DropReason::Relabel), 1);
    assert_eq!(get(&m.samples_in), 2);
    assert_eq!(get(&m.samples_sent), 1);
}

/// Headers: snappy, application/x-protobuf, 0.1.0, our User-Agent, the user's headers
/// (including a Thanos tenant), no Retry-Attempt on a first try; the body is snappy block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers() {
    let receiver = Receiver::start().await;
    let extra = format!(
        "{FAST}    headers:\n      THANOS-TENANT: team-a\n      X-Custom: yes\n    basic_auth:\n      username: u\n      password: p\n"
    );
    let rw = sink_with(&receiver, &extra, &[]);
    let s1 = labels(&[("__name__", "m")]);
    rw.append(&[sample(&s1, now_ms(), 1.0)]);
    let received = receiver.wait_for_samples(1, WAIT).await;
    let r = &received[0];
    assert_eq!(r.header("content-encoding"), Some("snappy"));
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("x-prometheus-remote-write-version"), Some("0.1.0"));
    let ua = r.header("user-agent").unwrap();
    assert!(ua.starts_with("promshard/"), "{ua}");
    assert_eq!(r.header("thanos-tenant"), Some("team-a"));
    assert_eq!(r.header("x-custom"), Some("yes"));
    assert_eq!(r.header("authorization"), Some("Basic dTpw"));
    assert_eq!(r.header("retry-attempt"), None);
    assert_eq!(r.headers.get_all("content-type").iter().count(), 1);
    assert_eq!(r.headers.get_all("user-agent").iter().count(), 1);
    // Snappy block format (the framed format starts with a stream identifier chunk).
    assert_ne!(r.body.first(), Some(&0xff));
    assert_eq!(receiver.undecodable(), 0);
    rw.shutdown().await;
}

/// Ordering: per-series timestamps strictly increasing at the receiver, with several shards,
/// small batches and random 0–100ms receiver delays, across reshards too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ordering_under_delays_and_resharding() {
    let receiver = Receiver::start().await;
    receiver.set_max_delay(Duration::from_millis(100));
    let extra = "    queue_config:\n      min_shards: 4\n      max_shards: 8\n      max_samples_per_send: 7\n      capacity: 10000\n      batch_send_deadline: 20ms\n";
    let rw = sink_with(&receiver, extra, &[]);
    let series = 40u64;
    let rounds = 30i64;
    let labelled: Vec<Labels> = (0..series)
        .map(|s| labels(&[("__name__", "ordered"), ("series", &s.to_string())]))
        .collect();
    let start = now_ms();
    for round in 0..rounds {
        let mut batch: Vec<_> = (0..series)
            .map(|s| sample(&labelled[s as usize], start + round * 1000, round as f64))
            .collect();
        // As scrape loops hand them over: taken, not copied.
        rw.append_owned(&mut batch);
        assert!(batch.is_empty());
        if round == 10 {
            assert!(rw.reshard(0, 3));
        }
        if round == 20 {
            // Waits until the previous reshard has flushed.
            let deadline = Instant::now() + WAIT;
            while !rw.reshard(0, 8) {
                assert!(Instant::now() < deadline, "reshard never finished");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = (series as usize) * rounds as usize;
    receiver
        .wait_for_samples(total, Duration::from_secs(30))
        .await;
    let mut last: HashMap<String, i64> = HashMap::new();
    for (labels, ts, _) in receiver.accepted_samples() {
        let key = labels["series"].clone();
        if let Some(prev) = last.get(&key) {
            assert!(ts > *prev, "series {key}: {ts} after {prev}");
        }
        last.insert(key, ts);
    }
    assert_eq!(last.len(), series as usize);
    let m = metrics(&rw);
    assert_eq!(get(&m.samples_sent), total as u64);
    assert_eq!(get(&m.reshards), 2);
    assert_eq!(m.shards.load(std::sync::atomic::Ordering::Relaxed), 8);
    assert!(receiver.received().len() > 4 * rounds as usize / 2);
    rw.shutdown().await;
}

/// Retries500: a 5xx is retried with the same payload and a Retry-Attempt header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_500() {
    let receiver = Receiver::start().await;
    receiver.script([
        Reply::status(500).body("try later"),
        Reply::status(503),
        Reply::status(502),
    ]);
    let extra = "    queue_config:\n      batch_send_deadline: 20ms\n      min_backoff: 10ms\n      max_backoff: 50ms\n";
    let rw = sink_with(&receiver, extra, &[]);
    let s1 = labels(&[("__name__", "m")]);
    rw.append(&[sample(&s1, now_ms(), 1.0)]);
    let received = receiver.wait_for_samples(1, WAIT).await;
    assert_eq!(received.len(), 4);
    let attempts: Vec<_> = received.iter().map(|r| r.header("retry-attempt")).collect();
    assert_eq!(attempts, [None, Some("1"), Some("2"), Some("3")]);
    assert!(
        received.iter().all(|r| r.body == received[0].body),
        "same payload"
    );
    let m = metrics(&rw);
    assert_eq!(get(&m.requests_retried), 3);
    assert_eq!(get(&m.samples_retried), 3);
    assert_eq!(get(&m.samples_sent), 1);
    assert_eq!(m.samples_failed_total(), 0);
    rw.shutdown().await;
}

/// Retries400: other 4xx (and Thanos' 409) are final: not resent, counted by status, and the
/// queue goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_on_400() {
    let receiver = Receiver::start().await;
    receiver.script([
        Reply::status(400).body(&"x".repeat(5000)),
        Reply::status(409).body("out of order"),
        Reply::status(404),
    ]);
    let extra = "    queue_config:\n      batch_send_deadline: 20ms\n      min_backoff: 10ms\n";
    let rw = sink_with(&receiver, extra, &[]);
    let s1 = labels(&[("__name__", "m")]);
    let t = now_ms();
    for i in 0..4 {
        rw.append(&[sample(&s1, t + i, 1.0)]);
        receiver
            .wait_until("one more request", WAIT, |r| r.len() > i as usize)
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.received();
    let statuses: Vec<_> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 409, 404, 204], "nothing resent");
    assert!(received.iter().all(|r| r.header("retry-attempt").is_none()));
    let m = metrics(&rw);
    assert_eq!(m.samples_failed_class(4), 3);
    assert_eq!(get(&m.requests_retried), 0);
    assert_eq!(get(&m.samples_sent), 1);
    assert_eq!(
        m.failed_requests_by_status(),
        BTreeMap::from([(400, 1), (404, 1), (409, 1)])
    );
    rw.shutdown().await;
}

/// 429 is dropped unless retry_on_http_429 is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_429_dropped_by_default() {
    let receiver = Receiver::start().await;
    receiver.script([Reply::status(429)]);
    let rw = sink_with(&receiver, FAST, &[]);
    let s1 = labels(&[("__name__", "m")]);
    rw.append(&[sample(&s1, now_ms(), 1.0)]);
    receiver
        .wait_until("a request", WAIT, |r| !r.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
    let m = metrics(&rw);
    assert_eq!(m.samples_failed_class(4), 1);
    assert_eq!(m.failed_requests_by_status(), BTreeMap::from([(429, 1)]));
    rw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_429_retried_when_enabled() {
    let receiver = Receiver::start().await;
    receiver.script([Reply::status(429), Reply::status(429)]);
    let extra = "    queue_config:\n      batch_send_deadline: 20ms\n      min_backoff: 10ms\n      retry_on_http_429: true\n";
    let rw = sink_with(&receiver, extra, &[]);
    let s1 = labels(&[("__name__", "m")]);
    rw.append(&[sample(&s1, now_ms(), 1.0)]);
    let received = receiver.wait_for_samples(1, WAIT).await;
    assert_eq!(
        received.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 429, 204]
    );
    let m = metrics(&rw);
    assert_eq!(m.samples_failed_total(), 0);
    assert_eq!(get(&m.requests_retried), 2);
    rw.shutdown().await;
}

/// Retry-After (seconds, or an HTTP date) replaces the backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let receiver = Receiver::start().await;
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(4));
    receiver.script([
        Reply::status(503).retry_after("1"),
        Reply::status(429).retry_after(&date),
    ]);
    let extra = "    queue_config:\n      batch_send_deadline: 20ms\n      min_backoff: 10ms\n      max_backoff: 20ms\n      retry_on_http_429: true\n";
    let rw = sink_with(&receiver, extra, &[]);
    let s1 = labels(&[("__name__", "m")]);
    rw.append(&[sample(&s1, now_ms(), 1.0)]);
    let received = receiver.wait_for_samples(1, WAIT).await;
    assert_eq!(received.len(), 3);
    let gap1 = received[1].at - received[0].at;
    let gap2 = received[2].at - received[1].at;
    assert!(
        gap1 >= Duration::from_millis(950) && gap1 < Duration::from_millis(1800),
        "Retry-After: 1 waited {gap1:?}"
    );
    // The date is 4s after the script was set, in whole seconds (so 3–4s), and the wait is
    // truncated to whole seconds: 1–3s after the second answer.
    assert!(
        gap2 >= Duration::from_millis(900) && gap2 < Duration::from_millis(3500),
        "Retry-After date waited {gap2:?}"
    );
    rw.shutdown().await;
}

/// Backoff starts at min_backoff, doubles, and is capped at max_backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_doubles_up_to_max() {
    let receiver = Receiver::start().await;
    receiver.script((0..5).map(|_| Reply::status(500)));
    let extra = "    queue_config:\n      batch_send_deadline: 20ms\n      min_backoff: 100ms\n      max_backoff: 400ms\n";
    let rw = sink_with(&receiver, extra, &[]);
    let s1 = labels(&[("__name__", "m")]);
    rw.append(&[sample(&s1, now_ms(), 1.0)]);
    let received = receiver.wait_for_samples(1, WAIT).await;
    assert_eq!(received.len(), 6);
    let gaps: Vec<Duration> = received.windows(2).map(|w| w[1].at - w[0].at).collect();
    let expected = [100, 200, 400, 400, 400];
    for (gap, want) in gaps.iter().zip(expected) {
        let want = Duration::from_millis(want);
        assert!(
            *gap >= want && *gap < want + Duration::from_millis(150),
            "gaps {gaps:?}, want about {expected:?} ms"
        );
    }
    rw.shutdown().await;
}

/// Batching: full batches of max_samples_per_send go at once, the rest after
/// batch_send_deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_by_size_then_deadline() {
    let receiver = Receiver::start().await;
    let extra = "    queue_config:\n      max_samples_per_send: 5\n      batch_send_deadline: 1s\n";
    let rw = sink_with(&receiver, extra, &[]);
    let labelled: Vec<Labels> = (0..23)
        .map(|s| labels(&[("__name__", "m"), ("s", &s.to_string())]))
        .collect();
    let started = Instant::now();
    let t = now_ms();
    rw.append(
        &labelled
            .iter()
            .map(|l| sample(l, t, 1.0))
            .collect::<Vec<_>>(),
    );
    let received = receiver
        .wait_until("4 full batches", WAIT, |r| r.len() >= 4)
        .await;
    assert!(started.elapsed() < Duration::from_millis(800));
    assert!(received.iter().all(|r| r.request.timeseries.len() == 5));
    let received = receiver.wait_for_samples(23, WAIT).await;
    assert_eq!(received.len(), 5);
    assert_eq!(received[4].request.timeseries.len(), 3);
    let waited = received[4].at - started;
    assert!(
        waited >= Duration::from_millis(900),
        "partial batch sent after {waited:?}"
    );
    rw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_batch_waits_for_deadline() {
    let receiver = Receiver::start().await;
    let extra =
        "    queue_config:\n      max_samples_per_send: 1000\n      batch_send_deadline: 400ms\n";
    let rw = sink_with(&receiver, extra, &[]);
    let s1 = labels(&[("__name__", "m")]);
    // Let the first deadline pass idle, then append: the batch goes one deadline later.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let t = now_ms();
    rw.append(&[
        sample(&s1, t, 1.0),
        sample(&s1, t + 1, 2.0),
        sample(&s1, t + 2, 3.0),
    ]);
    let received = receiver.wait_for_samples(3, WAIT).await;
    assert_eq!(received.len(), 1, "one request");
    let waited = received[0].at - started;
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1200),
        "sent after {waited:?}"
    );
    rw.shutdown().await;
}

/// Staleness markers (StaleNaN), NaN and ±Inf arrive bit for bit; timestamps in ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_values_and_stale_markers() {
    let receiver = Receiver::start().await;
    let rw = sink_with(&receiver, FAST, &[]);
    let s1 = labels(&[("__name__", "m")]);
    let t = now_ms();
    let bits = [
        1.5f64.to_bits(),
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        f64::NAN.to_bits(),
        0.0f64.to_bits(),
        STALE_NAN,
    ];
    let samples: Vec<_> = bits
        .iter()
        .enumerate()
        .map(|(i, &b)| Sample::of(&s1, t + i as i64, b))
        .collect();
    rw.append(&samples);
    receiver.wait_for_samples(bits.len(), WAIT).await;
    let got: Vec<(i64, u64)> = receiver
        .accepted_samples()
        .into_iter()
        .map(|(_, ts, b)| (ts, b))
        .collect();
    let want: Vec<(i64, u64)> = samples
        .iter()
        .map(|s| (s.timestamp_ms, s.value_bits))
        .collect();
    assert_eq!(got, want);
    rw.shutdown().await;
}

/// A full queue drops the newest samples and counts them; appending never waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_drops_and_counts() {
    let receiver = Receiver::start().await;
    // The receiver is slow: 2s per request.
    receiver.script([Reply::status(503).retry_after("2")]);
    let extra = "    queue_config:\n      capacity: 4\n      max_samples_per_send: 2\n      batch_send_deadline: 10ms\n      min_shards: 1\n      max_shards: 1\n";
    let rw = sink_with(&receiver, extra, &[]);
    let s1 = labels(&[("__name__", "m")]);
    let t = now_ms();
    rw.append(&[sample(&s1, t, 0.0), sample(&s1, t + 1, 1.0)]);
    receiver
        .wait_until("first request", WAIT, |r| !r.is_empty())
        .await;
    let started = Instant::now();
    for i in 2..100 {
        rw.append(&[sample(&s1, t + i, i as f64)]);
    }
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "appends waited"
    );
    let m = metrics(&rw);
    // 2 in flight + 2 full batches (the capacity of 4), and as these one-sample scrapes came
    // to a full shard, up to 4 x 2 full batches for bursts + 1 partial batch of 2 = 20 held.
    assert_eq!(m.pending(), 20);
    assert_eq!(m.dropped(DropReason::QueueFull), 80);
    let received = receiver.wait_for_samples(20, WAIT).await;
    // What was kept arrives in order, the oldest first.
    let ts: Vec<i64> = receiver
        .accepted_samples()
        .iter()
        .map(|s| s.1 - t)
        .collect();
    assert_eq!(ts, (0..20).collect::<Vec<_>>());
    assert!(received.len() >= 10);
    assert_eq!(m.pending(), 0);
    rw.shutdown().await;
}

/// Shutdown sends what is queued before returning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes() {
    let receiver = Receiver::start().await;
    let extra = "    queue_config:\n      batch_send_deadline: 1m\n";
    let rw = sink_with(&receiver, extra, &[]);
    let s7 = labels(&[("__name__", "m")]);
    let t = now_ms();
    rw.append(&[sample(&s7, t, 1.0), sample(&s7, t + 1, 2.0)]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(receiver.received().is_empty());
    rw.shutdown().await;
    assert_eq!(receiver.accepted_samples().len(), 2);
    // After shutdown, appends go nowhere.
    rw.append(&[sample(&s7, t + 2, 3.0)]);
}

/// A reload that changes an endpoint: the replacement sends only after the old one flushed,
/// so one series stays in order at the receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_replaces_endpoint_in_order() {
    let receiver = Receiver::start().await;
    receiver.set_max_delay(Duration::from_millis(50));
    let configs = |deadline: &str| {
        remote_write_configs(&format!(
            "  - url: {}\n    queue_config:\n      batch_send_deadline: {deadline}\n      max_samples_per_send: 3\n",
            receiver.url
        ))
    };
    let rw = RemoteWrite::new(&configs("30ms"), &BTreeMap::new()).unwrap();
    let s1 = labels(&[("__name__", "m")]);
    let t = now_ms();
    for i in 0..20 {
        rw.append(&[sample(&s1, t + i, 1.0)]);
    }
    rw.apply(&configs("40ms"), &BTreeMap::new()).unwrap();
    for i in 20..40 {
        rw.append(&[sample(&s1, t + i, 1.0)]);
    }
    receiver.wait_for_samples(40, WAIT).await;
    let ts: Vec<i64> = receiver
        .accepted_samples()
        .iter()
        .map(|s| s.1 - t)
        .collect();
    assert_eq!(ts, (0..40).collect::<Vec<_>>());
    rw.shutdown().await;
}

/// The reshard loop adds shards when one cannot keep up, and order still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reshards_up_when_behind() {
    let receiver = Receiver::start().await;
    receiver.set_max_delay(Duration::from_millis(100));
    let configs = remote_write_configs(&format!(
        "  - url: {}\n    queue_config:\n      min_shards: 1\n      max_shards: 8\n      max_samples_per_send: 10\n      batch_send_deadline: 20ms\n",
        receiver.url
    ));
    let options = RemoteWriteOptions {
        flush_deadline: Duration::from_secs(5),
        shard_update_interval: Duration::from_millis(250),
        ..RemoteWriteOptions::default()
    };
    let rw = RemoteWrite::with_options(&configs, &BTreeMap::new(), options).unwrap();
    let m = metrics(&rw);
    let labelled: Vec<Labels> = (0..20)
        .map(|s| labels(&[("__name__", "m"), ("s", &s.to_string())]))
        .collect();
    // About 2000 samples/s; one shard sends about 200/s.
    let t = now_ms();
    let mut sent = 0;
    for step in 0..150i64 {
        rw.append(
            &labelled
                .iter()
                .map(|l| sample(l, t + step, 1.0))
                .collect::<Vec<_>>(),
        );
        sent += 20;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    receiver
        .wait_for_samples(sent, Duration::from_secs(30))
        .await;
    assert!(get(&m.reshards) >= 1, "no reshard");
    let mut last: HashMap<String, i64> = HashMap::new();
    for (labels, ts, _) in receiver.accepted_samples() {
        if let Some(prev) = last.insert(labels["s"].clone(), ts) {
            assert!(ts > prev, "series {}: {ts} after {prev}", labels["s"]);
        }
    }
    rw.shutdown().await;
}
