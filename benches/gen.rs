//! Generator render cost: one body per iteration, as a `/metrics` request pays it (plus
//! gzip, when the scraper asks for it).
//! `cargo bench --bench gen -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::GzEncoder;
use promshard::generator::{GenOptions, Generator, Shape};
use std::hint::black_box;
use std::io::Write;
use std::time::SystemTime;

fn bench(c: &mut Criterion) {
    let cases = [
        ("article_10045", Shape::Article, 10_045),
        ("cadvisor_10000", Shape::Cadvisor, 10_000),
        ("node_exporter_10000", Shape::NodeExporter, 10_000),
    ];
    let mut g = c.benchmark_group("gen");
    for (name, shape, series) in cases {
        let options = GenOptions {
            shape,
            series,
            ..GenOptions::default()
        };
        let generator = Generator::new(&options, 0).expect("valid options");
        let mut body = Vec::with_capacity(generator.body_size_hint());
        generator.render(SystemTime::now(), &mut body);
        eprintln!(
            "{name}: {} bytes, {:.0} bytes/series",
            body.len(),
            body.len() as f64 / series as f64
        );
        g.throughput(Throughput::Elements(series as u64));
        g.bench_function(format!("{name}/render"), |b| {
            b.iter(|| {
                body.clear();
                generator.render(black_box(SystemTime::now()), &mut body);
                black_box(body.len())
            })
        });
        g.bench_function(format!("{name}/render+gzip"), |b| {
            b.iter(|| {
                body.clear();
                generator.render(black_box(SystemTime::now()), &mut body);
                let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
                encoder.write_all(&body).expect("in memory");
                black_box(encoder.finish().expect("in memory").len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
