//! Parser throughput: `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`.
//!
//! Bodies: the node_exporter fixture (text, and as OpenMetrics) and a generated
//! cAdvisor-like body of 10,000 series with 6 labels (~230 bytes a line), in text and
//! OpenMetrics form. `next_entry` alone is the hot path of a scrape whose series are all
//! cached; `+labels` also decodes every series' labels (an all-miss scrape).

mod common;

use common::cadvisor;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promshard::scrape::parse::{Entry, Format, Parser};

fn fixtures_dir() -> Option<PathBuf> {
    [
        std::env::var_os("PROMSHARD_FIXTURES").map(PathBuf::from),
        Some(PathBuf::from("/work/shared/fixtures")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.join("node_exporter.txt").is_file())
}

/// The node_exporter body as OpenMetrics: `untyped` becomes `unknown`, plus `# EOF`.
fn to_openmetrics(text: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(text).replace(" untyped\n", " unknown\n");
    let mut v = s.into_bytes();
    v.extend_from_slice(b"# EOF\n");
    v
}

fn entries_only(body: &[u8], format: Format) -> usize {
    let mut p = Parser::new(body, format);
    let mut n = 0;
    while let Some(e) = p.next_entry().expect("valid body") {
        if let Entry::Series { series, value, .. } = e {
            black_box((series, value));
            n += 1;
        }
    }
    n
}

fn with_labels(body: &[u8], format: Format) -> usize {
    let mut p = Parser::new(body, format);
    let mut labels = Vec::with_capacity(16);
    let mut n = 0;
    while let Some(e) = p.next_entry().expect("valid body") {
        if matches!(e, Entry::Series { .. }) {
            p.series_labels(&mut labels).expect("labels");
            n += labels.len();
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut bodies: Vec<(&str, Format, Vec<u8>)> = Vec::new();
    if let Some(dir) = fixtures_dir() {
        let node = std::fs::read(dir.join("node_exporter.txt")).expect("node_exporter.txt");
        bodies.push(("node_exporter/text", Format::PrometheusText, node.clone()));
        bodies.push((
            "node_exporter/openmetrics",
            Format::OpenMetrics,
            to_openmetrics(&node),
        ));
    } else {
        eprintln!("fixtures not found (set PROMSHARD_FIXTURES): node_exporter skipped");
    }
    let text = cadvisor(Format::PrometheusText);
    let om = cadvisor(Format::OpenMetrics);
    eprintln!(
        "cadvisor body: {} bytes text ({:.0} bytes/line), {} bytes OpenMetrics",
        text.len(),
        text.len() as f64 / 10_008.0,
        om.len()
    );
    bodies.push(("cadvisor_10k/text", Format::PrometheusText, text));
    bodies.push(("cadvisor_10k/openmetrics", Format::OpenMetrics, om));

    let mut g = c.benchmark_group("parse");
    for (name, format, body) in &bodies {
        // Sanity: the body parses.
        assert!(entries_only(body, *format) > 0);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("{name}/next_entry"), |b| {
            b.iter(|| entries_only(black_box(body), *format))
        });
        g.bench_function(format!("{name}/next_entry+labels"), |b| {
            b.iter(|| with_labels(black_box(body), *format))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
