//! The whole per-sample path of a scrape whose series are all cached: parse → cache lookup
//! → (no relabeling on a hit) → remote-write encoding and snappy compression.
//! `cargo bench --bench scrape_path -- --warm-up-time 1 --measurement-time 3`
//!
//! Also prints the memory each active series costs: the scrape cache entry, and the remote
//! write series table entry (encoded labels), measured with a counting allocator.

mod common;

use criterion::{Criterion, Throughput, criterion_group};
use parking_lot::Mutex;
use promshard::labels::{Labels, ValidationScheme};
use promshard::remote_write::encode::{Entry, RequestEncoder, encode_labels};
use promshard::remote_write::{Sample, SampleSink, SeriesRef};
use promshard::scrape::append::{Scratch, TargetContext, append_scrape};
use promshard::scrape::cache::SeriesCache;
use promshard::scrape::parse::Format;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: common::CountingAllocator = common::CountingAllocator;

/// Encodes each committed scrape into one compressed WriteRequest, as a shard would.
#[derive(Default)]
struct EncodingSink {
    labels: Mutex<HashMap<SeriesRef, Arc<[u8]>>>,
    encoder: Mutex<(RequestEncoder, Vec<Entry>)>,
}

impl SampleSink for EncodingSink {
    fn series(
        &self,
        series: SeriesRef,
        labels: &Labels,
        _: Option<Arc<promshard::remote_write::metadata::MetricMetadata>>,
    ) {
        self.labels.lock().insert(series, encode_labels(labels));
    }

    fn append(&self, samples: &[Sample]) {
        let labels = self.labels.lock();
        let mut guard = self.encoder.lock();
        let (encoder, entries) = &mut *guard;
        entries.clear();
        for sample in samples {
            if let Some(series_labels) = labels.get(&sample.series) {
                entries.push(Entry {
                    series: sample.series,
                    labels: series_labels.clone(),
                    metadata: None,
                    timestamp_ms: sample.timestamp_ms,
                    value_bits: sample.value_bits,
                });
            }
        }
        let _ = black_box(encoder.encode_compressed(entries.iter()).map(<[u8]>::len));
    }

    fn forget(&self, series: SeriesRef) {
        self.labels.lock().remove(&series);
    }
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

/// Bytes allocated per active series by the scrape cache and by the remote-write series table.
fn memory_per_series() {
    let body = common::cadvisor(Format::PrometheusText);
    let ctx = context();
    let sink = EncodingSink::default();
    let mut scratch = Scratch::default();
    let before = common::allocated();
    let mut cache = SeriesCache::default();
    let _ = append_scrape(
        &ctx,
        &mut cache,
        &sink,
        &mut scratch,
        Some((&body, Format::PrometheusText)),
        1,
        1,
    );
    drop(scratch);
    let after = common::allocated();
    let labels_bytes: usize = sink.labels.lock().values().map(|l| l.len()).sum();
    let cache_bytes = cache.entries.capacity() * SeriesCache::entry_bytes();
    let n = cache.len().max(1);
    println!(
        "memory per active series: scrape cache {} B (capacity-based), remote-write encoded labels {} B, all allocations of the first scrape {} B",
        cache_bytes / n,
        labels_bytes / n,
        after.saturating_sub(before) / n
    );
}

criterion_group!(benches, whole_path);

fn main() {
    memory_per_series();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
