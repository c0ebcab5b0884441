//! The whole per-sample path of a scrape whose series are all cached: parse → cache lookup
//! → (no relabeling on a hit) labels derived from the body → remote-write encoding and snappy
//! compression.
//! `cargo bench --bench scrape_path -- --warm-up-time 1 --measurement-time 3`
//!
//! Also prints the memory each active series keeps between scrapes (cache entry, stored
//! labels, the compressed labels kept for stale markers), measured with a counting allocator.

mod common;

use criterion::{Criterion, Throughput, criterion_group};
use parking_lot::Mutex;
use promshard::labels::{Labels, ValidationScheme};
use promshard::remote_write::encode::RequestEncoder;
use promshard::remote_write::{Sample, SampleSink, SeriesRef};
use promshard::scrape::append::{Scratch, TargetContext, append_scrape};
use promshard::scrape::cache::SeriesCache;
use promshard::scrape::parse::Format;
use std::hint::black_box;

#[global_allocator]
static ALLOCATOR: common::CountingAllocator = common::CountingAllocator;

/// Encodes each committed scrape into one compressed WriteRequest, as a shard would.
#[derive(Default)]
struct EncodingSink {
    encoder: Mutex<RequestEncoder>,
}

impl SampleSink for EncodingSink {
    fn wants_metadata(&self) -> bool {
        false
    }

    fn append(&self, samples: &[Sample]) {
        let mut encoder = self.encoder.lock();
        let _ = black_box(encoder.encode_compressed(samples.iter()).map(<[u8]>::len));
    }

    fn forget(&self, _: SeriesRef) {}
}

fn context() -> TargetContext {
    TargetContext {
        target_labels: Labels::from_pairs([
            ("instance", "10.1.2.3:8080"),
            ("job", "kubernetes-cadvisor"),
        ]),
        honor_labels: false,
        honor_timestamps: false,
        track_timestamps_staleness: false,
        metric_relabel_configs: serde_saphyr::from_str(
            "- source_labels: [__name__]\n  regex: container_tasks_state\n  action: drop\n",
        )
        .unwrap_or_default(),
        sample_limit: 0,
        label_limit: 0,
        label_name_length_limit: 0,
        label_value_length_limit: 0,
        validation: ValidationScheme::Utf8,
        encoded_target_labels: Default::default(),
    }
}

fn whole_path(c: &mut Criterion) {
    let body = common::cadvisor(Format::PrometheusText);
    let ctx = context();
    let sink = EncodingSink::default();
    let mut cache = SeriesCache::default();
    let mut scratch = Scratch::default();
    let mut ts = 1_700_000_000_000;
    // Warm the cache: every later scrape is all hits.
    let first = append_scrape(
        &ctx,
        &mut cache,
        &sink,
        &mut scratch,
        Some((&body, Format::PrometheusText)),
        ts,
        ts,
    );
    let series = first.map(|s| s.post_relabel).unwrap_or(0);
    assert_eq!(
        series, 10_000,
        "the body must parse into 10,000 kept series"
    );
    let mut group = c.benchmark_group("scrape_path");
    group.throughput(Throughput::Elements(series));
    group.bench_function("cadvisor_10k_cache_hit", |b| {
        b.iter(|| {
            ts += 15_000;
            let stats = append_scrape(
                &ctx,
                &mut cache,
                &sink,
                &mut scratch,
                Some((&body, Format::PrometheusText)),
                ts,
                ts,
            );
            sink.append(&scratch.batch);
            black_box(stats.map(|s| s.cache_hits).unwrap_or(0))
        })
    });
    group.finish();
}

/// Bytes each active series keeps allocated after a first (all-miss) scrape, its batch sent.
fn memory_per_series() {
    let body = common::cadvisor(Format::PrometheusText);
    let ctx = context();
    let sink = EncodingSink::default();
    let before = common::allocated();
    let mut cache = SeriesCache::default();
    let mut scratch = Scratch::default();
    let _ = append_scrape(
        &ctx,
        &mut cache,
        &sink,
        &mut scratch,
        Some((&body, Format::PrometheusText)),
        1,
        1,
    );
    // What the batch holds goes once it is sent.
    drop(scratch);
    let after = common::allocated();
    let cache_bytes = cache.keys.capacity() * SeriesCache::series_bytes();
    let n = cache.len().max(1);
    println!(
        "memory per active series: scrape cache {} B, stored labels {} series, compressed labels for stale markers {} B, all allocations kept after the first scrape {} B",
        cache_bytes / n,
        cache.stored.len(),
        cache.records.compressed_len() / n,
        after.saturating_sub(before) / n
    );
}

criterion_group!(benches, whole_path);

fn main() {
    memory_per_series();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
