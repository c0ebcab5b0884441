use super::*;
use crate::scrape::parse::{Entry, Format, MetricType, Parser};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const SHAPES: [Shape; 3] = [Shape::Article, Shape::Cadvisor, Shape::NodeExporter];

/// 2026-03-01T12:00:00.250Z.
fn t0() -> SystemTime {
    std::time::UNIX_EPOCH + Duration::from_millis(1_772_366_400_250)
}

fn options(shape: Shape, series: usize) -> GenOptions {
    GenOptions {
        shape,
        series,
        ..GenOptions::default()
    }
}

struct Sample {
    series: String,
    value: f64,
    kind: MetricType,
    timestamp_ms: Option<i64>,
}

/// Parses `body` with the scraper's own parser, failing on any error; checks that each
/// family has one HELP and one TYPE line and that every sample belongs to the last TYPE.
fn parse(body: &[u8]) -> Vec<Sample> {
    let mut parser = Parser::new(body, Format::PrometheusText);
    let mut labels = Vec::new();
    let mut helps = HashSet::new();
    let mut types = HashSet::new();
    let mut family = String::new();
    let mut samples = Vec::new();
    while let Some(entry) = parser.next_entry().expect("body parses") {
        match entry {
            Entry::Help { metric, .. } => {
                assert!(helps.insert(metric.to_vec()), "second HELP");
            }
            Entry::Type { metric, kind } => {
                assert!(matches!(kind, MetricType::Counter | MetricType::Gauge));
                family = String::from_utf8(metric.to_vec()).expect("utf-8 name");
                assert!(types.insert(family.clone()), "second TYPE for {family}");
            }
            Entry::Series {
                series,
                value,
                timestamp_ms,
                ..
            } => {
                let series = String::from_utf8(series.to_vec()).expect("utf-8 series");
                parser.series_labels(&mut labels).expect("labels decode");
                assert_eq!(labels[0].0, "__name__");
                assert_eq!(labels[0].1, family.as_str(), "{series} outside its family");
                samples.push(Sample {
                    series,
                    value,
                    kind: parser.metric_type(),
                    timestamp_ms,
                });
            }
            Entry::Unit { .. } => panic!("UNIT line in a text body"),
        }
    }
    assert_eq!(helps.len(), types.len());
    samples
}

fn body(generator: &Generator, now: SystemTime) -> Vec<u8> {
    let mut out = Vec::new();
    generator.render(now, &mut out);
    out
}

#[test]
fn default_is_the_articles_target() {
    let options = GenOptions::default();
    assert_eq!(options.series, 10_045);
    let generator = Generator::new(&options, 0).unwrap();
    assert_eq!(generator.series_count(), 10_045);
    let samples = parse(&body(&generator, t0()));
    assert_eq!(samples.len(), 10_045);
    let first = "a00000000000metrics0{label_0=\"00000000000000000000\",label_1=\"00000000000000000000\",label_2=\"00000000000000000000\",label_3=\"00000000000000000000\"}";
    assert_eq!(samples[0].series, first);
    let main = samples
        .iter()
        .filter(|s| s.series.starts_with("a00000000000metrics0{"))
        .count();
    assert_eq!(
        main, 10_000,
        "the article's rule counts a00000000000metrics0"
    );
    assert!(
        samples[10_000]
            .series
            .starts_with("a00000000000metrics1_total{")
    );
}

#[test]
fn exact_series_count_for_every_shape() {
    for shape in SHAPES {
        for n in [0, 1, 2, 7, 45, 999, 10_045, 25_000] {
            let generator = Generator::new(&options(shape, n), 3).unwrap();
            assert_eq!(generator.series_count(), n, "{shape} {n}");
            let samples = parse(&body(&generator, t0()));
            assert_eq!(samples.len(), n, "{shape} {n}");
            let unique: HashSet<&str> = samples.iter().map(|s| s.series.as_str()).collect();
            assert_eq!(unique.len(), n, "{shape} {n}: duplicate series");
        }
    }
}

#[test]
fn article_options_shape_the_series() {
    let options = GenOptions {
        series: 20,
        labels: 2,
        values_per_label: 3,
        label_value_length: 4,
        metric_name_length: 10,
        ..GenOptions::default()
    };
    let samples = parse(&body(&Generator::new(&options, 0).unwrap(), t0()));
    let names: Vec<&str> = samples
        .iter()
        .map(|s| s.series.split('{').next().unwrap())
        .collect();
    // 3^2 = 9 series a name: gauge, counter, gauge.
    assert_eq!(names[0], "a0metrics0");
    assert_eq!(names[9], "a0metrics1_total");
    assert_eq!(names[18], "a0metrics2");
    assert_eq!(samples[0].kind, MetricType::Gauge);
    assert_eq!(samples[9].kind, MetricType::Counter);
    assert_eq!(
        samples[5].series,
        "a0metrics0{label_0=\"0001\",label_1=\"0002\"}"
    );
    // No labels: one series a name.
    let options = GenOptions {
        series: 3,
        labels: 0,
        ..GenOptions::default()
    };
    let samples = parse(&body(&Generator::new(&options, 0).unwrap(), t0()));
    let series: Vec<&str> = samples.iter().map(|s| s.series.as_str()).collect();
    assert_eq!(
        series,
        [
            "a00000000000metrics0",
            "a00000000000metrics1_total",
            "a00000000000metrics2"
        ]
    );
}

#[test]
fn counters_never_decrease() {
    for shape in SHAPES {
        let generator = Generator::new(&options(shape, 3_000), 1).unwrap();
        let mut previous: Option<Vec<Sample>> = None;
        // Steps of a millisecond, across a second boundary, and of minutes.
        for offset_ms in [0, 1, 749, 750, 751, 15_000, 15_001, 600_000, 86_400_000] {
            let samples = parse(&body(&generator, t0() + Duration::from_millis(offset_ms)));
            if let Some(previous) = &previous {
                for (before, after) in previous.iter().zip(&samples) {
                    assert_eq!(before.series, after.series);
                    if after.kind == MetricType::Counter {
                        assert!(
                            after.value >= before.value,
                            "{shape}: {} went from {} to {} at +{offset_ms} ms",
                            after.series,
                            before.value,
                            after.value
                        );
                    }
                }
            }
            previous = Some(samples);
        }
        // And over a day, every counter that has a rate grew.
        let first = parse(&body(&generator, t0()));
        let later = parse(&body(&generator, t0() + Duration::from_secs(86_400)));
        let counters = first.iter().filter(|s| s.kind == MetricType::Counter);
        let grew = counters
            .clone()
            .zip(later.iter().filter(|s| s.kind == MetricType::Counter))
            .filter(|(a, b)| b.value > a.value)
            .count();
        assert!(
            grew * 10 >= counters.count() * 8,
            "{shape}: most counters should grow"
        );
    }
}

#[test]
fn gauges_move_within_minutes() {
    for shape in SHAPES {
        let generator = Generator::new(&options(shape, 3_000), 2).unwrap();
        let mut values: HashMap<String, HashSet<u64>> = HashMap::new();
        for step in 0..=20u64 {
            let now = t0() + Duration::from_secs(30 * step);
            for sample in parse(&body(&generator, now)) {
                if sample.kind == MetricType::Gauge {
                    values
                        .entry(sample.series)
                        .or_default()
                        .insert(sample.value.to_bits());
                }
            }
        }
        assert!(!values.is_empty(), "{shape} has gauges");
        for (series, seen) in &values {
            assert!(seen.len() >= 2, "{shape}: {series} stayed at one value");
        }
    }
}

fn average_line_length(shape: Shape, series: usize) -> f64 {
    let text = body(&Generator::new(&options(shape, series), 0).unwrap(), t0());
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), series);
    lines.iter().map(|l| l.len() + 1).sum::<usize>() as f64 / series as f64
}

#[test]
fn line_lengths_look_like_the_exporters() {
    for series in [1_000, 10_000] {
        let cadvisor = average_line_length(Shape::Cadvisor, series);
        let node = average_line_length(Shape::NodeExporter, series);
        eprintln!("{series}: cadvisor {cadvisor:.0} B, node-exporter {node:.0} B");
        assert!((200.0..=260.0).contains(&cadvisor), "cadvisor {cadvisor}");
        assert!((60.0..=90.0).contains(&node), "node-exporter {node}");
    }
}

#[test]
fn cadvisor_series_have_the_kubelets_labels() {
    let generator = Generator::new(&options(Shape::Cadvisor, 2_000), 0).unwrap();
    let samples = parse(&body(&generator, t0()));
    let cpu = samples
        .iter()
        .find(|s| s.series.starts_with("container_cpu_usage_seconds_total{"))
        .unwrap();
    for label in [
        "container=",
        "cpu=\"total\"",
        "id=\"/kubepods/",
        "image=",
        "name=\"",
        "namespace=",
        "pod=",
    ] {
        assert!(cpu.series.contains(label), "{} lacks {label}", cpu.series);
    }
    assert!(
        samples
            .iter()
            .any(|s| s.series.contains("interface=\"eth0\""))
    );
    let last_seen = samples
        .iter()
        .find(|s| s.series.starts_with("container_last_seen{"))
        .unwrap();
    assert_eq!(last_seen.value, 1_772_366_400.0);
}

#[test]
fn node_exporter_series_have_its_labels() {
    let generator = Generator::new(&options(Shape::NodeExporter, 10_045), 0).unwrap();
    let samples = parse(&body(&generator, t0()));
    let has = |series: &str| samples.iter().any(|s| s.series == series);
    assert!(has("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}"));
    assert!(has("node_network_receive_bytes_total{device=\"eth0\"}"));
    assert!(has(
        "node_filesystem_avail_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"}"
    ));
    assert!(has("node_load1"));
    assert!(has("node_disk_read_bytes_total{device=\"sdh\"}"));
    assert!(!has("node_disk_read_bytes_total{device=\"sdi\"}"));
    assert!(!has("node_cpu_seconds_total{cpu=\"64\",mode=\"idle\"}"));
}

#[test]
fn targets_differ_and_each_is_deterministic() {
    for shape in SHAPES {
        let options = options(shape, 1_000);
        let a = Generator::new(&options, 0).unwrap();
        let b = Generator::new(&options, 1).unwrap();
        assert_eq!(a.series_count(), b.series_count());
        let body_a = body(&a, t0());
        assert_ne!(body_a, body(&b, t0()), "{shape}");
        assert_eq!(body_a, body(&Generator::new(&options, 0).unwrap(), t0()));
        let other_seed = GenOptions {
            seed: 7,
            ..options.clone()
        };
        assert_ne!(
            body_a,
            body(&Generator::new(&other_seed, 0).unwrap(), t0()),
            "{shape}"
        );
    }
    // cAdvisor targets are different nodes: different pods.
    let options = options(Shape::Cadvisor, 1_000);
    let series = |target| -> HashSet<String> {
        let generator = Generator::new(&options, target).unwrap();
        parse(&body(&generator, t0()))
            .into_iter()
            .map(|s| s.series)
            .collect()
    };
    assert!(series(0).is_disjoint(&series(1)));
}

#[test]
fn timestamps_are_the_render_time() {
    let options = GenOptions {
        timestamps: true,
        ..options(Shape::Cadvisor, 100)
    };
    let samples = parse(&body(&Generator::new(&options, 0).unwrap(), t0()));
    assert!(
        samples
            .iter()
            .all(|s| s.timestamp_ms == Some(1_772_366_400_250))
    );
    let samples = parse(&body(
        &Generator::new(&self::options(Shape::Cadvisor, 100), 0).unwrap(),
        t0(),
    ));
    assert!(samples.iter().all(|s| s.timestamp_ms.is_none()));
}

#[test]
fn body_size_hint_is_close() {
    for shape in SHAPES {
        let generator = Generator::new(&options(shape, 10_000), 0).unwrap();
        let size = body(&generator, t0()).len();
        let hint = generator.body_size_hint();
        assert!(
            hint >= size * 9 / 10 && hint <= size * 12 / 10,
            "{shape}: hint {hint}, body {size}"
        );
    }
}

#[test]
fn error_draws_follow_the_rate() {
    let with_rate = |error_rate| {
        let options = GenOptions {
            error_rate,
            series: 1,
            ..GenOptions::default()
        };
        let generator = Generator::new(&options, 0).unwrap();
        (0..10_000u64).filter(|&n| generator.should_fail(n)).count()
    };
    assert_eq!(with_rate(0.0), 0);
    assert_eq!(with_rate(1.0), 10_000);
    let some = with_rate(0.3);
    assert!((2_700..=3_300).contains(&some), "{some}");
}

#[test]
fn invalid_options_name_their_flag() {
    let flag = |options: GenOptions| match Generator::new(&options, 0) {
        Err(GenError::InvalidOption { flag, .. }) => flag,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("accepted {options:?}"),
    };
    assert_eq!(
        flag(GenOptions {
            error_rate: 1.5,
            ..GenOptions::default()
        }),
        "--error-rate"
    );
    assert_eq!(
        flag(GenOptions {
            values_per_label: 100,
            label_value_length: 1,
            ..GenOptions::default()
        }),
        "--label-value-length"
    );
    assert_eq!(
        flag(GenOptions {
            values_per_label: 0,
            ..GenOptions::default()
        }),
        "--values-per-label"
    );
    // Article-only options do not matter to the other shapes.
    assert!(
        Generator::new(
            &GenOptions {
                values_per_label: 0,
                ..options(Shape::NodeExporter, 10)
            },
            0
        )
        .is_ok()
    );
}

#[test]
fn listen_addresses_for_targets() {
    let one = vec!["127.0.0.1:9091".to_string()];
    assert_eq!(listen_addresses(&one, None).unwrap(), one);
    assert_eq!(
        listen_addresses(&one, Some(3)).unwrap(),
        ["127.0.0.1:9091", "127.0.0.1:9092", "127.0.0.1:9093"]
    );
    assert_eq!(
        listen_addresses(&["[::1]:80".to_string()], Some(2)).unwrap(),
        ["[::1]:80", "[::1]:81"]
    );
    assert_eq!(
        listen_addresses(&[":9100".to_string()], Some(2)).unwrap(),
        ["0.0.0.0:9100", "0.0.0.0:9101"]
    );
    assert_eq!(
        listen_addresses(&[":9100".to_string()], None).unwrap(),
        ["0.0.0.0:9100"]
    );
    let two = vec!["a:1".to_string(), "b:2".to_string()];
    assert_eq!(listen_addresses(&two, None).unwrap(), two);
    for (addresses, targets) in [
        (two.clone(), Some(2)),
        (vec!["nohost".to_string()], Some(2)),
        (vec!["h:0".to_string()], Some(2)),
        (vec!["h:65535".to_string()], Some(2)),
        (one.clone(), Some(0)),
    ] {
        assert!(
            matches!(
                listen_addresses(&addresses, targets),
                Err(GenError::InvalidOption { .. })
            ),
            "{addresses:?} {targets:?}"
        );
    }
    assert_eq!(
        listen_addresses(&["h:0".to_string()], Some(1)).unwrap(),
        ["h:0"]
    );
}

/// The library path the demo takes: `serve` on a listener of its own, in-process.
#[tokio::test]
async fn serve_answers_in_process_and_fails_the_drawn_requests() {
    let options = GenOptions {
        series: 1_234,
        error_rate: 0.5,
        ..options(Shape::NodeExporter, 0)
    };
    let generator = Arc::new(Generator::new(&options, 4).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(listener, generator.clone()));
    // reqwest asks for gzip and decompresses.
    let client = reqwest::Client::new();
    for request in 0..20 {
        let response = client
            .get(format!("http://{address}/metrics"))
            .send()
            .await
            .unwrap();
        if generator.should_fail(request) {
            assert_eq!(response.status(), 500, "request {request}");
        } else {
            assert_eq!(response.status(), 200, "request {request}");
            let body = response.bytes().await.unwrap();
            assert_eq!(parse(&body).len(), 1_234);
        }
    }
    let description = client
        .get(format!("http://{address}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        description,
        "promshard gen: target 4, 1234 series of shape node-exporter at /metrics\n"
    );
    server.abort();
}
