//! Unit tests: encoding (cross-checked against prost-derived structs), labels per endpoint,
//! `Retry-After`, the bounded shard queue and the reshard computation.

use super::encode::{self, RequestEncoder, put_varint, varint_len};
use super::metrics::EwmaRate;
use super::queue::{ShardInputs, desired_shards};
use super::send::retry_after;
use super::shard::{QueueParams, ShardSet};
use super::*;
use crate::config::{RemoteWriteConfig, load_str};
use prost::Message;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// prost twins of `prompb` (remote write 1.0), for checking our hand-written encoder.
#[derive(Clone, PartialEq, prost::Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<PSample>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PSample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn entry(series: SeriesRef, l: &Labels, timestamp_ms: i64, value_bits: u64) -> Sample {
    Sample {
        series,
        labels: encode::encode_labels(l),
        metadata: None,
        timestamp_ms,
        value_bits,
    }
}

fn prost_series(l: &Labels, timestamp: i64, value_bits: u64) -> TimeSeries {
    TimeSeries {
        labels: l
            .iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .collect(),
        samples: vec![PSample {
            value: f64::from_bits(value_bits),
            timestamp,
        }],
    }
}

#[test]
fn varints() {
    for v in [
        0u64,
        1,
        127,
        128,
        255,
        16_383,
        16_384,
        u32::MAX as u64,
        1 << 56,
        u64::MAX,
        (-1i64) as u64,
    ] {
        let mut ours = Vec::new();
        put_varint(&mut ours, v);
        assert_eq!(ours.len(), varint_len(v), "{v}");
        let mut theirs = Vec::new();
        prost::encoding::encode_varint(v, &mut theirs);
        assert_eq!(ours, theirs, "{v}");
    }
}

#[test]
fn request_is_byte_identical_to_prost() {
    let a = labels(&[("__name__", "up"), ("instance", "h:9100"), ("job", "node")]);
    let b = labels(&[("__name__", "x"), ("ünïcode", "välue ✓"), ("z", "1")]);
    let long = "v".repeat(300);
    let c = labels(&[("__name__", "long"), ("l", &long)]);
    // Label messages of 127 and 128 bytes: the last with one-byte lengths, the first without.
    let (edge_127, edge_128) = ("v".repeat(122), "v".repeat(123));
    let d = labels(&[("__name__", "edge"), ("l", &edge_127), ("m", &edge_128)]);
    let empty = Labels::new();
    let values = [
        1.0f64.to_bits(),
        0.0f64.to_bits(),
        (-0.0f64).to_bits(),
        (-2.5f64).to_bits(),
        f64::NAN.to_bits(),
        STALE_NAN,
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        f64::MIN_POSITIVE.to_bits(),
        f64::MAX.to_bits(),
    ];
    let timestamps = [0i64, 1, -1, 1_700_000_000_123, i64::MAX, i64::MIN];
    let mut entries = Vec::new();
    let mut expected = WriteRequest::default();
    for (i, l) in [&a, &b, &c, &d, &empty].into_iter().enumerate() {
        for &v in &values {
            for &t in &timestamps {
                entries.push(entry(i as u64, l, t, v));
                expected.timeseries.push(prost_series(l, t, v));
            }
        }
    }
    let mut encoder = RequestEncoder::default();
    let ours = encoder.encode(entries.iter()).to_vec();
    assert_eq!(ours, expected.encode_to_vec());

    // The compressed form is snappy block format and round-trips.
    let compressed = encoder.encode_compressed(entries.iter()).unwrap().to_vec();
    let decompressed = snap::raw::Decoder::new()
        .decompress_vec(&compressed)
        .unwrap();
    assert_eq!(decompressed, ours);
    assert_ne!(
        &compressed[..4],
        b"\xff\x06\x00\x00",
        "not the framed format"
    );

    // The buffers are reused: a smaller request after a bigger one is still right.
    let one = encoder.encode(entries[..1].iter()).to_vec();
    assert_eq!(
        one,
        WriteRequest {
            timeseries: vec![expected.timeseries[0].clone()]
        }
        .encode_to_vec()
    );
}

#[test]
fn special_values_survive_decoding() {
    let l = labels(&[("__name__", "m")]);
    let cases = [
        STALE_NAN,
        f64::NAN.to_bits(),
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        42.5f64.to_bits(),
    ];
    let entries: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, &v)| entry(1, &l, 1000 + i as i64, v))
        .collect();
    let mut encoder = RequestEncoder::default();
    let decoded = WriteRequest::decode(encoder.encode(entries.iter())).unwrap();
    let bits: Vec<u64> = decoded
        .timeseries
        .iter()
        .map(|ts| ts.samples[0].value.to_bits())
        .collect();
    assert_eq!(bits, cases);
    assert_eq!(decoded.timeseries[0].labels[0].name, "__name__");
}

#[test]
fn labels_encoding_round_trips_and_skips_empty_values() {
    let l = labels(&[("b", "2"), ("a", "1"), ("__name__", "m")]);
    let encoded = encode::encode_labels(&l);
    assert_eq!(encode::decode_labels(&encoded), Some(l.clone()));
    let ts = TimeSeries::decode(&encoded[..]).unwrap();
    let names: Vec<_> = ts.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["__name__", "a", "b"]);
    assert_eq!(encode::decode_labels(b"\x0a\x05garbage"), None);
}

fn load(yaml: &str) -> Vec<RemoteWriteConfig> {
    load_str(yaml, Path::new("/tmp/promshard-test.yml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .remote_write
}

fn ext(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn pairs(l: &Labels) -> Vec<(String, String)> {
    l.iter().map(|(n, v)| (n.into(), v.into())).collect()
}

#[test]
fn endpoint_labels_external_then_relabel() {
    let rw = load(
        r#"
remote_write:
  - url: http://127.0.0.1:1/a
    write_relabel_configs:
      - source_labels: [__name__]
        regex: drop_me
        action: drop
      - source_labels: [cluster]
        target_label: from_cluster
      - target_label: blank
        replacement: ""
      - regex: tmp
        action: labeldrop
"#,
    );
    let relabel = &rw[0].write_relabel_configs;
    let external = ext(&[("cluster", "c1"), ("job", "external-job"), ("zone", "")]);

    // External labels only where the name is missing; relabeling sees them.
    let l = labels(&[("__name__", "m"), ("job", "j"), ("tmp", "x"), ("blank", "")]);
    let raw = encode::encode_labels(&l);
    let out = relabeled_labels(&raw, &external, relabel).unwrap();
    let got = encode::decode_labels(&out).unwrap();
    assert_eq!(
        pairs(&got),
        [
            ("__name__", "m"),
            ("cluster", "c1"),
            ("from_cluster", "c1"),
            ("job", "j"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );

    // Dropped by relabeling.
    let d = labels(&[("__name__", "drop_me")]);
    assert!(relabeled_labels(&encode::encode_labels(&d), &external, relabel).is_none());
}

/// What `policy` sends for `l`, and whether those are the very bytes the sample carried.
fn sent(policy: &LabelPolicy, l: &Labels) -> (Vec<String>, bool) {
    let raw = encode::encode_labels(l);
    let mut arena = BytesMut::new();
    let out = policy.apply(1, &raw, &mut arena).unwrap();
    let names = pairs(&encode::decode_labels(&out).unwrap())
        .into_iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    (names, out.as_ptr() == raw.as_ptr())
}

#[test]
fn endpoint_labels_are_the_sample_bytes_when_unchanged() {
    let external = |pairs: &[(&str, &str)]| {
        LabelPolicy::new(
            &load("remote_write:\n  - url: http://127.0.0.1:1/\n")[0],
            &ext(pairs),
        )
    };
    let l = labels(&[("__name__", "m"), ("cluster", "mine")]);
    assert_eq!(
        sent(&external(&[]), &l),
        (vec!["__name__=m".into(), "cluster=mine".into()], true)
    );
    // External label already present, or empty: nothing to add, the same bytes.
    assert!(sent(&external(&[("cluster", "c1")]), &l).1);
    assert!(sent(&external(&[("zone", "")]), &l).1);
    let (added, same) = sent(&external(&[("zone", "z"), ("cluster", "c1")]), &l);
    assert!(!same);
    assert_eq!(added, ["__name__=m", "cluster=mine", "zone=z"]);
    // Sorted bytewise: upper case before lower case, `__name__` after `Z`; external labels
    // go before, between and after the sample's.
    let mixed = labels(&[("a", "1"), ("Z", "2"), ("__name__", "m"), ("_", "3")]);
    let (names, _) = sent(
        &external(&[("B", "x"), ("Zz", "y"), ("b", "z"), ("_a", "w")]),
        &mixed,
    );
    assert_eq!(
        names,
        [
            "B=x",
            "Z=2",
            "Zz=y",
            "_=3",
            "__name__=m",
            "_a=w",
            "a=1",
            "b=z"
        ]
    );
}

#[tokio::test]
async fn labels_per_endpoint_and_reload() {
    let yaml_a = r#"
remote_write:
  - url: http://127.0.0.1:1/a
    write_relabel_configs:
      - source_labels: [__name__]
        regex: secret_.*
        action: drop
  - url: http://127.0.0.1:1/b
"#;
    let cfg = load(yaml_a);
    let options = RemoteWriteOptions {
        flush_deadline: Duration::from_millis(300),
        ..RemoteWriteOptions::default()
    };
    let rw = RemoteWrite::with_options(&cfg, &ext(&[("replica", "r0")]), options).unwrap();
    let up = labels(&[("__name__", "up")]);
    let secret = labels(&[("__name__", "secret_x")]);
    assert_eq!(
        rw.endpoint_labels(0, 1, &up).map(|l| l.to_string()),
        Some(r#"{__name__="up", replica="r0"}"#.into())
    );
    assert_eq!(rw.endpoint_labels(0, 2, &secret), None);
    assert!(rw.endpoint_labels(1, 2, &secret).is_some());
    let metrics_b = Arc::clone(&rw.metrics()[1].metrics);

    // The same config again (relabel rules included) keeps both queues.
    let before: Vec<_> = rw.metrics().into_iter().map(|m| m.metrics).collect();
    rw.apply(&load(yaml_a), &ext(&[("replica", "r0")])).unwrap();
    let after: Vec<_> = rw.metrics().into_iter().map(|m| m.metrics).collect();
    assert!(before.iter().zip(&after).all(|(a, b)| Arc::ptr_eq(a, b)));

    // Reload: endpoint b unchanged (kept, same counters), a changed (relabel removed).
    let yaml_b = r#"
remote_write:
  - url: http://127.0.0.1:1/b
  - url: http://127.0.0.1:1/a
"#;
    rw.apply(&load(yaml_b), &ext(&[("replica", "r0")])).unwrap();
    let m = rw.metrics();
    assert_eq!(m.len(), 2);
    assert!(Arc::ptr_eq(&m[0].metrics, &metrics_b), "b kept its queue");
    assert!(
        rw.endpoint_labels(1, 2, &secret).is_some(),
        "a no longer drops"
    );

    // Samples of a dropped series are counted; the outcome is kept per series.
    rw.apply(&cfg, &ext(&[("replica", "r0")])).unwrap();
    rw.append(&[entry(2, &secret, 1, 0), entry(1, &up, 1, 0)]);
    let m = rw.metrics();
    assert_eq!(m[0].metrics.dropped(DropReason::Relabel), 1);
    assert_eq!(m[1].metrics.dropped(DropReason::Relabel), 0);
    assert_eq!(RemoteWriteMetrics::get(&m[0].metrics.samples_in), 2);
    // Taken: every endpoint gets the scrape (the last one the samples themselves).
    let mut taken = vec![entry(2, &secret, 2, 0), entry(1, &up, 2, 0)];
    rw.append_owned(&mut taken);
    assert!(taken.is_empty());
    assert_eq!(RemoteWriteMetrics::get(&m[0].metrics.samples_in), 4);
    assert_eq!(RemoteWriteMetrics::get(&m[1].metrics.samples_in), 4);
    assert_eq!(m[0].metrics.dropped(DropReason::Relabel), 2);
    assert_eq!(m[1].metrics.dropped(DropReason::Relabel), 0);
    let outcomes = |rw: &RemoteWrite| match &rw.state.read().endpoints[0].labels {
        LabelPolicy::Relabel { outcomes, .. } => outcomes.lock().len(),
        _ => panic!("endpoint a relabels"),
    };
    assert_eq!(outcomes(&rw), 2);
    // A forgotten series' outcome goes.
    rw.forget(1);
    assert_eq!(outcomes(&rw), 1);

    // External labels changed: everything restarts with the new labels.
    rw.apply(&cfg, &ext(&[("replica", "r1")])).unwrap();
    assert_eq!(
        rw.endpoint_labels(1, 1, &up).map(|l| l.to_string()),
        Some(r#"{__name__="up", replica="r1"}"#.into())
    );
    // A bad config changes nothing.
    let bad = load(
        r#"
remote_write:
  - url: http://127.0.0.1:1/c
    tls_config:
      ca_file: /nonexistent/ca.pem
"#,
    );
    assert!(rw.apply(&bad, &ext(&[("replica", "r1")])).is_err());
    let m = rw.metrics();
    assert_eq!(m.len(), 2);
    // The receiver is unreachable: the queued sample is retried until the flush deadline,
    // then dropped and counted.
    rw.append(&[entry(2, &secret, 5, 0)]);
    assert_eq!(m[1].metrics.pending(), 1);
    rw.shutdown().await;
    assert!(rw.metrics().is_empty());
    assert_eq!(m[1].metrics.dropped(DropReason::Shutdown), 1);
    assert_eq!(m[1].metrics.pending(), 0);
}

#[test]
fn retry_after_values() {
    let now = SystemTime::now();
    assert_eq!(retry_after("5", now), Some(Duration::from_secs(5)));
    assert_eq!(retry_after(" 2 ", now), Some(Duration::from_secs(2)));
    assert_eq!(retry_after("0", now), None);
    assert_eq!(retry_after("-3", now), None);
    assert_eq!(retry_after("soon", now), None);
    let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
    let wait = retry_after(&date, now).unwrap();
    assert!(
        (Duration::from_secs(28)..=Duration::from_secs(30)).contains(&wait),
        "{wait:?}"
    );
    let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
    assert_eq!(retry_after(&past, now), None);
}

fn params(capacity: usize, max_samples_per_send: usize) -> QueueParams {
    QueueParams {
        capacity,
        max_samples_per_send,
        batch_send_deadline: Duration::from_secs(5),
        min_backoff: Duration::from_millis(30),
        max_backoff: Duration::from_secs(5),
        sample_age_limit: None,
    }
}

#[test]
fn shard_queue_is_bounded_and_keyed_by_series() {
    let l = labels(&[("__name__", "m")]);
    // capacity 10, batches of 4: 2 full batches + 1 partial = 12 samples per shard, and
    // for scrapes that find it full 4 x 2 full batches + 1 partial = 36.
    let set = ShardSet::new(2, &params(10, 4), None);
    assert_eq!(set.shard_capacity(), 12);
    // Room is asked once per scrape; one sample per scrape here.
    let accepted = (0..50)
        .filter(|&t| set.enqueue(entry(2, &l, t, 0), &set.room()))
        .count();
    assert_eq!(accepted, 36);
    assert_eq!(set.room(), vec![false, true]);
    // The other shard (odd refs) is independent.
    assert!(set.enqueue(entry(3, &l, 0, 0), &set.room()));
    set.close();
    assert!(!set.enqueue(entry(5, &l, 0, 0), &[true, true]), "closed");
}

#[test]
fn a_shard_with_room_takes_the_whole_scrape() {
    let l = labels(&[("__name__", "m")]);
    // 12 samples per shard, but a scrape that starts while there is room is taken whole:
    // a target with more series than the capacity is never cut.
    let set = ShardSet::new(1, &params(10, 4), None);
    let room = set.room();
    let accepted = (0..50)
        .filter(|&t| set.enqueue(entry(2, &l, t, 0), &room))
        .count();
    assert_eq!(accepted, 50);
    // The next scrape finds the shard full: it only fills the partial batch (2 of 4 taken),
    // the rest is dropped and counted by the caller.
    let room = set.room();
    assert_eq!(room, vec![false]);
    let more = (50..60)
        .filter(|&t| set.enqueue(entry(2, &l, t, 0), &room))
        .count();
    assert_eq!(more, 2);
}

#[test]
fn scrapes_arriving_together_at_a_full_shard_are_taken_up_to_four_times_its_capacity() {
    let l = labels(&[("__name__", "m")]);
    let set = ShardSet::new(1, &params(10, 4), None);
    // One scrape of one series, room asked when it starts: how many samples were taken.
    let scrape = |times: std::ops::Range<i64>| {
        let room = set.room();
        times
            .filter(|&t| set.enqueue(entry(2, &l, t, 0), &room))
            .count()
    };
    // The first scrape of 12 fills the shard to its capacity (3 full batches).
    assert_eq!(scrape(0..12), 12);
    // The next two end before the shard's task got to send: no room, taken all the same
    // up to 8 full batches + 1 partial (36 samples).
    assert_eq!(set.room(), vec![false]);
    assert_eq!(scrape(12..24), 12);
    assert_eq!(scrape(24..40), 12);
    // A shard that stays behind loses what is beyond.
    assert_eq!(scrape(40..44), 0);
}

#[test]
fn a_scrape_queued_at_once_keeps_each_shards_order_and_counts_what_is_not_taken() {
    let l = labels(&[("__name__", "m")]);
    // 3 shards of capacity 10 in batches of 4 (36 held at most for a scrape without room).
    let set = ShardSet::new(3, &params(10, 4), None);
    // Runs of one shard's series and interleaved ones.
    let series = |t: i64| [3, 3, 4, 5, 3, 4, 4, 4, 5, 3][t as usize % 10];
    let room = set.room();
    let scrape = (0..30).map(|t| entry(series(t), &l, t, 0));
    assert_eq!(set.enqueue_all(scrape, &room), 0);
    for index in 0..3 {
        let queued: Vec<i64> = set.queued(index).iter().map(|s| s.timestamp_ms).collect();
        let expected: Vec<i64> = (0..30).filter(|&t| series(t) % 3 == index as u64).collect();
        assert_eq!(queued, expected, "shard {index}");
    }
    // Shard 0 (series 3) is at 12: the next scrapes find it without room and are taken up to
    // 36; series 4 and 5 go to shards with room and are all taken.
    assert_eq!(set.room(), vec![false, false, true]);
    let room = set.room();
    let burst = (100..160).map(|t| entry(if t % 2 == 0 { 3 } else { 5 }, &l, t, 0));
    assert_eq!(set.enqueue_all(burst, &room), 30 - 24);
    assert_eq!(set.queued(0).len(), 36);
    assert_eq!(set.queued(2).len(), 6 + 30);
}

fn inputs() -> ShardInputs {
    ShardInputs {
        current: 4,
        min: 1,
        max: 50,
        data_in_rate: 1000.0,
        data_out_rate: 1000.0,
        data_dropped_rate: 0.0,
        // 4 shards busy all the time.
        data_out_duration_rate: 4.0,
        highest_recv_s: 100.0,
        highest_sent_s: 100.0,
    }
}

#[test]
fn desired_shards_like_prometheus() {
    // Nothing sent yet: keep.
    let i = ShardInputs {
        data_out_rate: 0.0,
        ..inputs()
    };
    assert_eq!(desired_shards(&i).0, 4);
    // Exactly enough: keep.
    assert_eq!(desired_shards(&inputs()).0, 4);
    // Within ±30%: keep (5 ≤ 5.2).
    let i = ShardInputs {
        data_out_duration_rate: 5.0,
        ..inputs()
    };
    assert_eq!(desired_shards(&i).0, 4);
    // Twice the work: 8.
    let i = ShardInputs {
        data_in_rate: 2000.0,
        ..inputs()
    };
    assert_eq!(desired_shards(&i).0, 8);
    // Backlog: 20s behind → pending = 20·1000, catch-up 5% = 1000/s → 8 shards.
    let i = ShardInputs {
        highest_sent_s: 80.0,
        ..inputs()
    };
    assert_eq!(desired_shards(&i).0, 8);
    // Clamped to max.
    let i = ShardInputs {
        data_in_rate: 1e6,
        max: 10,
        ..inputs()
    };
    assert_eq!(desired_shards(&i).0, 10);
    // Less work: down to 1 (min).
    let i = ShardInputs {
        data_out_duration_rate: 0.1,
        ..inputs()
    };
    assert_eq!(desired_shards(&i).0, 1);
    let i = ShardInputs {
        data_out_duration_rate: 0.1,
        min: 2,
        ..inputs()
    };
    assert_eq!(desired_shards(&i).0, 2);
    // No downshard when more than 10s behind.
    let i = ShardInputs {
        data_out_duration_rate: 0.1,
        data_in_rate: 10.0,
        highest_sent_s: 85.0,
        ..inputs()
    };
    assert_eq!(desired_shards(&i).0, 4);
    // Samples dropped by relabeling lower the work: kept ratio 1/2.
    let i = ShardInputs {
        data_in_rate: 2000.0,
        data_dropped_rate: 1000.0,
        ..inputs()
    };
    assert_eq!(desired_shards(&i).0, 4);
}

#[test]
fn ewma_rate() {
    let r = EwmaRate::new(0.2, Duration::from_secs(10));
    r.tick();
    assert_eq!(r.rate(), 0.0);
    r.incr(100);
    r.tick();
    assert_eq!(r.rate(), 10.0);
    r.incr(200);
    r.tick();
    assert!((r.rate() - 12.0).abs() < 1e-9);
}

/// Remote write 2.0 Written headers (P: `ParseWriteResponseStats`): a header present means
/// "confirmed", a missing, empty or unreadable one counts 0.
#[test]
fn written_headers() {
    use super::send::Written;
    use reqwest::header::{HeaderMap, HeaderValue};
    let mut h = HeaderMap::new();
    let w = Written::from_headers(&h);
    assert!(!w.confirmed && w.nothing());
    h.insert(
        "X-Prometheus-Remote-Write-Samples-Written",
        HeaderValue::from_static("0"),
    );
    let w = Written::from_headers(&h);
    assert!(w.confirmed && w.nothing());
    h.insert(
        "x-prometheus-remote-write-samples-written",
        HeaderValue::from_static(" 7 "),
    );
    h.insert(
        "X-Prometheus-Remote-Write-Histograms-Written",
        HeaderValue::from_static("x"),
    );
    h.insert(
        "X-Prometheus-Remote-Write-Exemplars-Written",
        HeaderValue::from_static("2"),
    );
    assert_eq!(
        Written::from_headers(&h),
        Written {
            samples: 7,
            histograms: 0,
            exemplars: 2,
            confirmed: true
        }
    );
    let mut h = HeaderMap::new();
    h.insert(
        "X-Prometheus-Remote-Write-Exemplars-Written",
        HeaderValue::from_static(""),
    );
    assert!(!Written::from_headers(&h).confirmed);
}

#[test]
fn labels_as_written_encode_as_put_label_does() {
    for (name_len, value_len) in [
        (1, 1),
        (8, 30),
        (1, 122),
        (1, 123),
        (60, 63),
        (64, 64),
        (3, 0),
        (0, 3),
        (200, 5),
    ] {
        let (name, value) = ("n".repeat(name_len), "v".repeat(value_len));
        let mut expected = Vec::new();
        encode::put_label(&mut expected, name.as_bytes(), value.as_bytes());
        let mut ours = bytes::BytesMut::from(&b"before"[..]);
        encode::put_written_label(&mut ours, format!("{name}=\"{value}").as_bytes(), name_len);
        assert_eq!(&ours[..6], b"before");
        assert_eq!(
            &ours[6..],
            &expected[..],
            "name {name_len} value {value_len}"
        );
    }
}
