use super::*;
use crate::labels::Labels;
use crate::remote_write::encode::decode_labels;
use crate::remote_write::metadata::MetricMetadata;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
struct RecordingSink {
    with_metadata: bool,
    forgotten: Mutex<Vec<SeriesRef>>,
}

impl SampleSink for RecordingSink {
    fn wants_metadata(&self) -> bool {
        self.with_metadata
    }
    fn append(&self, _samples: &[Sample]) {}
    fn forget(&self, series: SeriesRef) {
        self.forgotten.lock().push(series);
    }
}

fn ctx() -> TargetContext {
    TargetContext {
        target_labels: Labels::from_pairs([("job", "j"), ("instance", "i:1")]),
        honor_labels: false,
        honor_timestamps: true,
        track_timestamps_staleness: false,
        metric_relabel_configs: Vec::new(),
        sample_limit: 0,
        label_limit: 0,
        label_name_length_limit: 0,
        label_value_length_limit: 0,
        validation: ValidationScheme::Utf8,
        encoded_target_labels: Default::default(),
    }
}

fn relabel(yaml: &str) -> Vec<RelabelConfig> {
    let mut configs: Vec<RelabelConfig> = serde_saphyr::from_str(yaml).unwrap();
    for c in &mut configs {
        c.validate(ValidationScheme::Utf8).unwrap();
    }
    configs
}

/// One written sample: labels as text, timestamp, value bits.
type Written = (String, i64, u64);

/// Appends `body` (text format) at `ts` and returns the batch as [`Written`] samples.
struct Harness {
    ctx: TargetContext,
    cache: SeriesCache,
    sink: RecordingSink,
    scratch: Scratch,
}

const NOW: i64 = 1_700_000_000_000;

impl Harness {
    fn new(ctx: TargetContext) -> Self {
        Harness {
            ctx,
            cache: SeriesCache::default(),
            sink: RecordingSink::default(),
            scratch: Scratch::default(),
        }
    }

    fn scrape(&mut self, body: &str, ts: i64) -> (Result<AppendStats, AppendError>, Vec<Written>) {
        let result = append_scrape(
            &self.ctx,
            &mut self.cache,
            &self.sink,
            &mut self.scratch,
            Some((body.as_bytes(), Format::PrometheusText)),
            ts,
            NOW,
        );
        let mut samples: Vec<Written> = self
            .scratch
            .batch
            .iter()
            .map(|s| {
                let labels = decode_labels(&s.labels).expect("labels decode");
                assert_eq!(
                    s.series,
                    series_ref(&labels),
                    "the ref is that of the labels"
                );
                assert!(s.metadata.is_none() || self.sink.with_metadata);
                (labels.to_string(), s.timestamp_ms, s.value_bits)
            })
            .collect();
        samples.sort();
        (result, samples)
    }
}

fn bits(v: f64) -> u64 {
    v.to_bits()
}

#[test]
fn samples_get_target_labels_and_the_slot_timestamp() {
    let mut h = Harness::new(ctx());
    let (result, samples) = h.scrape("a 1\nb{x=\"y\"} 2.5\n", NOW);
    let stats = result.unwrap();
    assert_eq!(
        (
            stats.scraped,
            stats.post_relabel,
            stats.added,
            stats.cache_misses
        ),
        (2, 2, 2, 2)
    );
    assert_eq!(
        samples,
        vec![
            (
                r#"{__name__="a", instance="i:1", job="j"}"#.to_string(),
                NOW,
                bits(1.0)
            ),
            (
                r#"{__name__="b", instance="i:1", job="j", x="y"}"#.to_string(),
                NOW,
                bits(2.5)
            ),
        ]
    );
    let (result, _) = h.scrape("a 1\nb{x=\"y\"} 3\n", NOW + 1000);
    let stats = result.unwrap();
    assert_eq!(
        (stats.cache_hits, stats.cache_misses, stats.added),
        (2, 0, 0)
    );
}

#[test]
fn disappeared_series_get_one_stale_marker() {
    let mut h = Harness::new(ctx());
    h.scrape("a 1\nb 2\n", NOW).0.unwrap();
    let (_, samples) = h.scrape("a 1\n", NOW + 1000);
    assert!(samples.contains(&(
        r#"{__name__="b", instance="i:1", job="j"}"#.into(),
        NOW + 1000,
        STALE_NAN
    )));
    let (_, samples) = h.scrape("a 1\n", NOW + 2000);
    assert_eq!(samples.len(), 1, "no second stale marker: {samples:?}");
}

#[test]
fn failed_scrape_marks_previous_series_stale_once_and_writes_nothing_else() {
    let mut h = Harness::new(ctx());
    h.scrape("a 1\nb 2\n", NOW).0.unwrap();
    let (result, samples) = h.scrape("a 1\nb 2\nc{ 3\n", NOW + 1000);
    let error = result.unwrap_err();
    assert_eq!(error.scraped, 2);
    assert_eq!(samples.len(), 2);
    assert!(
        samples
            .iter()
            .all(|(_, ts, v)| *ts == NOW + 1000 && *v == STALE_NAN),
        "{samples:?}"
    );
    let (result, samples) = h.scrape("garbage {{{", NOW + 2000);
    assert!(result.is_err());
    assert!(samples.is_empty(), "{samples:?}");
    // After the failures, a good scrape counts every series as added again.
    let stats = h.scrape("a 1\nb 2\n", NOW + 3000).0.unwrap();
    assert_eq!(stats.added, 2);
}

#[test]
fn empty_body_is_up_with_stale_markers() {
    let mut h = Harness::new(ctx());
    h.scrape("a 1\n", NOW).0.unwrap();
    let (result, samples) = h.scrape("", NOW + 1000);
    assert_eq!(result.unwrap().scraped, 0);
    assert_eq!(
        samples,
        vec![(
            r#"{__name__="a", instance="i:1", job="j"}"#.into(),
            NOW + 1000,
            STALE_NAN
        )]
    );
}

#[test]
fn explicit_timestamps_and_ordering() {
    let mut h = Harness::new(ctx());
    let (_, samples) = h.scrape("a 1 5000\n", NOW);
    assert_eq!(samples[0].1, 5000);
    // The same explicit timestamp again is out of order for the agent: dropped, counted.
    let (result, samples) = h.scrape("a 1 5000\n", NOW + 1000);
    assert_eq!(result.unwrap().dropped_out_of_order, 1);
    assert!(samples.is_empty());
    // Explicit-timestamp series are not tracked: no stale marker when they vanish.
    let (_, samples) = h.scrape("", NOW + 2000);
    assert!(samples.is_empty(), "{samples:?}");

    let mut h = Harness::new(TargetContext {
        honor_timestamps: false,
        ..ctx()
    });
    let (_, samples) = h.scrape("a 1 5000\n", NOW);
    assert_eq!(samples[0].1, NOW);

    let mut h = Harness::new(TargetContext {
        track_timestamps_staleness: true,
        ..ctx()
    });
    h.scrape("a 1 5000\n", NOW).0.unwrap();
    let (_, samples) = h.scrape("", NOW + 1000);
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].2, STALE_NAN);
}

#[test]
fn repeated_line_and_future_timestamps_are_dropped_not_fatal() {
    let mut h = Harness::new(ctx());
    let (result, samples) = h.scrape("a 1\na 2\n", NOW);
    let stats = result.unwrap();
    assert_eq!(stats.dropped_out_of_order, 1);
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].2, bits(1.0), "the first value is kept");
    let future = NOW + 11 * 60 * 1000;
    let (result, samples) = h.scrape(&format!("b 1 {future}\n"), NOW + 1000);
    assert_eq!(result.unwrap().dropped_too_new, 1);
    assert!(samples.iter().all(|(l, _, _)| !l.contains("\"b\"")));
}

#[test]
fn duplicate_label_names_fail_the_scrape() {
    let mut h = Harness::new(ctx());
    let error = h.scrape("a{x=\"1\",x=\"2\"} 1\n", NOW).0.unwrap_err();
    assert_eq!(error.message, "label name \"x\" is not unique");
}

#[test]
fn honor_labels_false_exports_conflicts() {
    let mut h = Harness::new(ctx());
    let (_, samples) = h.scrape("a{job=\"exposed\",instance=\"\"} 1\n", NOW);
    assert_eq!(
        samples[0].0,
        r#"{__name__="a", exported_job="exposed", instance="i:1", job="j"}"#
    );

    let target = Labels::from_pairs([("foo", "2"), ("exported_foo", "3")]);
    let mut h = Harness::new(TargetContext {
        target_labels: target,
        ..ctx()
    });
    let (_, samples) = h.scrape("a{foo=\"1\"} 1\n", NOW);
    assert_eq!(
        samples[0].0,
        r#"{__name__="a", exported_exported_foo="1", exported_foo="3", foo="2"}"#
    );
}

#[test]
fn honor_labels_true_keeps_exposed_values_even_empty() {
    let mut h = Harness::new(TargetContext {
        honor_labels: true,
        ..ctx()
    });
    let (_, samples) = h.scrape("a{job=\"exposed\"} 1\nb{job=\"\"} 1\n", NOW);
    assert_eq!(
        samples[0].0,
        r#"{__name__="a", instance="i:1", job="exposed"}"#
    );
    assert_eq!(samples[1].0, r#"{__name__="b", instance="i:1"}"#);
}

#[test]
fn metric_relabeling_drops_and_renames_and_is_cached() {
    let configs = relabel(
        "- source_labels: [__name__]\n  regex: drop_me\n  action: drop\n- source_labels: [__name__]\n  regex: old_(.*)\n  target_label: __name__\n  replacement: new_$1\n",
    );
    let mut h = Harness::new(TargetContext {
        metric_relabel_configs: configs,
        ..ctx()
    });
    let (result, samples) = h.scrape("drop_me 1\nold_x 2\n", NOW);
    let stats = result.unwrap();
    assert_eq!((stats.scraped, stats.post_relabel), (2, 1));
    assert_eq!(
        samples,
        vec![(
            r#"{__name__="new_x", instance="i:1", job="j"}"#.into(),
            NOW,
            bits(2.0)
        )]
    );
    let stats = h.scrape("drop_me 1\nold_x 2\n", NOW + 1000).0.unwrap();
    assert_eq!(
        (stats.cache_hits, stats.cache_misses),
        (2, 0),
        "dropped series are cached too"
    );

    let keep_no_name = relabel("- action: labelkeep\n  regex: job\n");
    let mut h = Harness::new(TargetContext {
        metric_relabel_configs: keep_no_name,
        ..ctx()
    });
    assert_eq!(
        h.scrape("a 1\n", NOW).0.unwrap_err().message,
        "missing metric name (__name__ label)"
    );
}

#[test]
fn limits_fail_the_whole_scrape() {
    let mut h = Harness::new(TargetContext {
        sample_limit: 2,
        ..ctx()
    });
    h.scrape("a 1\n", NOW).0.unwrap();
    let (result, samples) = h.scrape("a 1\nb 1\nc 1\n", NOW + 1000);
    assert_eq!(result.unwrap_err().message, "sample limit exceeded");
    assert_eq!(
        samples.len(),
        1,
        "only the stale marker of `a`: {samples:?}"
    );
    assert_eq!(samples[0].2, STALE_NAN);

    let mut h = Harness::new(TargetContext {
        label_limit: 3,
        ..ctx()
    });
    let error = h.scrape("a{x=\"1\"} 1\n", NOW).0.unwrap_err();
    assert_eq!(
        error.message,
        "label_limit exceeded (metric: a, number of labels: 4, limit: 3)"
    );

    let mut h = Harness::new(TargetContext {
        label_value_length_limit: 3,
        ..ctx()
    });
    let error = h.scrape("a{x=\"long\"} 1\n", NOW).0.unwrap_err();
    assert!(
        error
            .message
            .starts_with("label_value_length_limit exceeded (metric: a, label name: x"),
        "{}",
        error.message
    );
}

#[test]
fn stale_nan_and_special_values_keep_their_bits() {
    let mut h = Harness::new(ctx());
    let (_, samples) = h.scrape("a +Inf\nb -Inf\nc NaN\n", NOW);
    let values: Vec<u64> = samples.iter().map(|s| s.2).collect();
    assert_eq!(
        values,
        vec![
            f64::INFINITY.to_bits(),
            f64::NEG_INFINITY.to_bits(),
            0x7ff8_0000_0000_0001
        ]
    );
}

#[test]
fn cached_series_are_small() {
    // Budget: the performance issue wants well under vmagent's ~150 bytes per series: a
    // 64-bit hash and a state byte.
    assert_eq!(SeriesCache::series_bytes(), 9);
    for source in [
        LabelSource::Derived,
        LabelSource::Plain,
        LabelSource::Dropped,
        LabelSource::Stored(0),
        LabelSource::Stored(crate::scrape::cache::MAX_STORED as u32 - 1),
    ] {
        let state = SeriesState::new(source);
        assert_eq!(state.labels(), source);
        assert!(!state.tracked());
        let tracked = state.with_tracked(true);
        assert_eq!((tracked.labels(), tracked.tracked()), (source, true));
        assert_eq!(tracked.with_tracked(false), state);
    }
}

#[test]
fn series_states_keep_a_byte_a_series_until_one_stores_labels() {
    let sources = [
        LabelSource::Derived,
        LabelSource::Plain,
        LabelSource::Dropped,
        LabelSource::Stored(0),
        LabelSource::Derived,
        LabelSource::Stored(crate::scrape::cache::MAX_STORED as u32 - 1),
        LabelSource::Plain,
        LabelSource::Stored(7),
    ];
    let mut states = SeriesStates::default();
    for (at, &source) in sources.iter().enumerate() {
        states.push(SeriesState::new(source).with_tracked(at % 2 == 0));
        // Stored(0) needs no index column; the first other index does.
        let expected = if at >= 5 { 5 } else { 1 };
        assert_eq!(states.bytes_per_series(), expected, "after {at}");
    }
    let read: Vec<(LabelSource, bool)> = states.iter().map(|s| (s.labels(), s.tracked())).collect();
    let expected: Vec<(LabelSource, bool)> = sources
        .iter()
        .enumerate()
        .map(|(at, &source)| (source, at % 2 == 0))
        .collect();
    assert_eq!(read, expected);
    states.set_tracked(1, true);
    states.set_tracked(0, false);
    assert!(states.get(1).tracked() && !states.get(0).tracked());
    assert_eq!(states.get(5).labels(), sources[5]);
    states.clear_tracked();
    assert!(states.iter().all(|s| !s.tracked()));
    assert_eq!(
        states.iter().map(|s| s.labels()).collect::<Vec<_>>(),
        sources.to_vec()
    );
    let mut copy = SeriesStates::default();
    copy.copy_from(&states);
    assert_eq!(copy, states);
    states.clear();
    assert_eq!((states.len(), states.bytes_per_series()), (0, 1));
    // The first series is the first to need an index.
    states.push(SeriesState::new(LabelSource::Stored(3)));
    states.push(SeriesState::new(LabelSource::Derived));
    assert_eq!(states.get(0).labels(), LabelSource::Stored(3));
    assert_eq!(states.get(1).labels(), LabelSource::Derived);
}

#[test]
fn a_target_whose_labels_all_derive_keeps_a_byte_of_state_a_series() {
    let mut h = Harness::new(pool_context());
    let body: String = (0..100).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
    h.scrape(&body, NOW).0.unwrap();
    assert_eq!(h.cache.states.len(), 100);
    assert_eq!(h.cache.states.bytes_per_series(), 1);
}

#[test]
fn lines_in_the_cached_order_leave_their_records_to_the_cache() {
    let mut h = Harness::new(pool_context());
    let lines = [
        "a{x=\"1\"}",
        "old_c{y=\"z\"}",
        "drop_me",
        "e{z=\"2\",b=\"1\"}",
        "b",
    ];
    let body = |lines: &[&str]| -> String { lines.iter().map(|l| format!("{l} 1\n")).collect() };
    h.scrape(&body(&lines), NOW).0.unwrap();
    assert_eq!(
        h.scratch.records_skipped, 0,
        "a first scrape has no cached order"
    );
    h.scrape(&body(&lines), NOW + 1000).0.unwrap();
    assert_eq!(
        h.scratch.records_skipped,
        lines.len(),
        "the hit path keeps no records"
    );
    // The last line goes: at the end of the body, the records of the others come from the
    // cache; its stale marker carries its labels.
    let stale = |samples: &[(String, i64, u64)]| -> Vec<String> {
        let mut stale: Vec<String> = samples
            .iter()
            .filter(|s| s.2 == STALE_NAN)
            .map(|s| s.0.clone())
            .collect();
        stale.sort();
        stale
    };
    let (result, samples) = h.scrape(&body(&lines[..4]), NOW + 2000);
    result.unwrap();
    assert_eq!(
        stale(&samples),
        ["{__name__=\"b\", instance=\"i:1\", job=\"j\"}"]
    );
    // A new line after two in order: their records come from the cache mid-body.
    let (result, samples) = h.scrape(&body(&[lines[0], lines[1], "f_new"]), NOW + 3000);
    result.unwrap();
    assert_eq!(
        stale(&samples),
        ["{__name__=\"e\", b=\"1\", instance=\"i:1\", job=\"j\", z=\"2\"}"]
    );
    // Everything goes: each stale marker has the labels its series was sent with.
    let (result, samples) = h.scrape("", NOW + 4000);
    result.unwrap();
    assert_eq!(
        stale(&samples),
        [
            "{__name__=\"a\", instance=\"i:1\", job=\"j\", x=\"1\"}",
            "{__name__=\"f_new\", instance=\"i:1\", job=\"j\"}",
            "{__name__=\"new_c\", instance=\"i:1\", job=\"j\", y=\"z\"}",
        ]
    );
}

/// `(name, scraped, kept)` of every name with series, as published; checked against the
/// cached series.
fn series_by_metric(cache: &SeriesCache) -> Vec<(String, u32, u32)> {
    let list: Vec<(String, u32, u32)> = cache
        .series_by_metric
        .iter()
        .map(|c| (c.name.to_string(), c.scraped, c.kept))
        .collect();
    let scraped: u32 = list.iter().map(|c| c.1).sum();
    let kept: u32 = list.iter().map(|c| c.2).sum();
    assert_eq!(scraped as usize, cache.len(), "every cached series counted");
    let not_dropped = cache
        .states
        .iter()
        .filter(|s| s.labels() != LabelSource::Dropped)
        .count();
    assert_eq!(kept as usize, not_dropped, "kept are those not dropped");
    list
}

fn counts(list: &[(&str, u32, u32)]) -> Vec<(String, u32, u32)> {
    list.iter()
        .map(|(name, scraped, kept)| (name.to_string(), *scraped, *kept))
        .collect()
}

#[test]
fn series_are_counted_per_exposed_metric_name_before_and_after_relabeling() {
    let configs = relabel(
        "- source_labels: [__name__, x]\n  regex: a;2\n  action: drop\n- source_labels: [__name__]\n  regex: old_(.*)\n  target_label: __name__\n  replacement: new_$1\n",
    );
    let mut h = Harness::new(TargetContext {
        metric_relabel_configs: configs,
        ..ctx()
    });
    let body = "a{x=\"1\"} 1\na{x=\"2\"} 1\na{x=\"3\"} 1\nb{y=\"1\"} 1\nb{y=\"2\"} 1\nold_c 1\n";
    h.scrape(body, NOW).0.unwrap();
    // Renamed by relabeling, counted under the exposed name.
    assert_eq!(
        series_by_metric(&h.cache),
        counts(&[("a", 3, 2), ("b", 2, 2), ("old_c", 1, 1)])
    );
    assert!(std::mem::take(&mut h.cache.series_by_metric_changed));

    // All hits: nothing changed, nothing to publish.
    h.scrape(body, NOW + 1000).0.unwrap();
    assert!(!h.cache.series_by_metric_changed);

    // Series that disappear are uncounted: a dropped one (a{x="2"}) from `scraped` only.
    h.scrape(
        "a{x=\"1\"} 1\na{x=\"3\"} 1\nb{y=\"2\"} 1\nold_c 1\n",
        NOW + 2000,
    )
    .0
    .unwrap();
    assert!(std::mem::take(&mut h.cache.series_by_metric_changed));
    assert_eq!(
        series_by_metric(&h.cache),
        counts(&[("a", 2, 2), ("b", 1, 1), ("old_c", 1, 1)])
    );
    h.scrape("a{x=\"2\"} 1\nold_c 1\n", NOW + 3000).0.unwrap();
    assert_eq!(
        series_by_metric(&h.cache),
        counts(&[("a", 1, 0), ("old_c", 1, 1)]),
        "names without series are left out"
    );
    // A name that comes back is counted again.
    h.scrape("b 1\nold_c 1\n", NOW + 4000).0.unwrap();
    assert_eq!(
        series_by_metric(&h.cache),
        counts(&[("b", 1, 1), ("old_c", 1, 1)])
    );
}

#[test]
fn failed_scrapes_keep_the_counts_those_of_the_cached_entries() {
    let mut h = Harness::new(TargetContext {
        sample_limit: 3,
        ..ctx()
    });
    h.scrape("a 1\nb 2\n", NOW).0.unwrap();
    // A parse error: `c` was cached before it, `b` not seen and evicted.
    h.scrape("a 1\nc 1\nd{ 3\n", NOW + 1000).0.unwrap_err();
    assert_eq!(
        series_by_metric(&h.cache),
        counts(&[("a", 1, 1), ("c", 1, 1)])
    );
    // Over the sample limit: every series was seen and stays cached.
    h.scrape("a 1\nc 1\ne 1\ne{x=\"1\"} 1\n", NOW + 2000)
        .0
        .unwrap_err();
    assert_eq!(h.cache.len(), 4);
    assert_eq!(
        series_by_metric(&h.cache),
        counts(&[("e", 2, 2), ("a", 1, 1), ("c", 1, 1)])
    );
    // A failure on a new series (duplicate label) caches nothing for it.
    h.scrape("a 1\nf{x=\"1\",x=\"2\"} 1\n", NOW + 3000)
        .0
        .unwrap_err();
    assert_eq!(series_by_metric(&h.cache), counts(&[("a", 1, 1)]));
    // No body (a failed request): everything evicted.
    let result = append_scrape(
        &h.ctx,
        &mut h.cache,
        &h.sink,
        &mut h.scratch,
        None,
        NOW + 4000,
        NOW,
    );
    assert!(result.is_ok());
    assert!(series_by_metric(&h.cache).is_empty());
}

#[test]
fn churned_metric_names_leave_no_trace() {
    let mut h = Harness::new(ctx());
    for i in 0..200 {
        // Three stable names, five new ones every scrape.
        let mut body = String::from("stable_a 1\nstable_a{x=\"1\"} 1\nstable_b 1\nstable_c 1\n");
        for k in 0..5 {
            body.push_str(&format!("churn_{i}_{k} 1\nchurn_{i}_{k}{{x=\"1\"}} 1\n"));
        }
        let (result, samples) = h.scrape(&body, NOW + i * 1000);
        result.unwrap();
        assert_eq!(series_by_metric(&h.cache).len(), 8);
        if i > 0 {
            // The last scrape's churned series go stale.
            assert_eq!(samples.iter().filter(|s| s.2 == STALE_NAN).count(), 10);
        }
    }
    assert_eq!(
        series_by_metric(&h.cache)[..4],
        counts(&[
            ("churn_199_0", 2, 2),
            ("churn_199_1", 2, 2),
            ("churn_199_2", 2, 2),
            ("churn_199_3", 2, 2)
        ])
    );
    h.scrape("stable_a 1\n", NOW + 1_000_000).0.unwrap();
    assert_eq!(series_by_metric(&h.cache), counts(&[("stable_a", 1, 1)]));
    assert_eq!(h.cache.len(), 1);
}

#[test]
fn metadata_is_kept_ten_scrapes_after_it_disappears() {
    let mut h = Harness::new(ctx());
    h.scrape(
        "# HELP a Things.\n# TYPE a counter\n# TYPE b gauge\na 1\nb 2\n",
        NOW,
    )
    .0
    .unwrap();
    assert!(std::mem::take(&mut h.cache.metadata_changed));
    let a = &h.cache.metadata[b"a".as_slice()];
    assert_eq!(
        (a.kind, a.help.as_str()),
        (crate::scrape::parse::MetricType::Counter, "Things.")
    );
    // Unchanged metadata is not reported as changed.
    h.scrape(
        "# HELP a Things.\n# TYPE a counter\n# TYPE b gauge\na 1\nb 2\n",
        NOW + 1000,
    )
    .0
    .unwrap();
    assert!(!h.cache.metadata_changed);
    for i in 0..9 {
        h.scrape("# TYPE b gauge\nb 2\n", NOW + 2000 + i * 1000)
            .0
            .unwrap();
        assert!(
            h.cache.metadata.contains_key(b"a".as_slice()),
            "kept after {} scrapes",
            i + 1
        );
    }
    h.scrape("# TYPE b gauge\nb 2\n", NOW + 20_000).0.unwrap();
    assert!(!h.cache.metadata.contains_key(b"a".as_slice()));
    assert!(h.cache.metadata_changed);
}

#[test]
fn series_carry_their_family_metadata() {
    let mut h = Harness::new(ctx());
    h.sink.with_metadata = true;
    let body = "# HELP http_requests Requests served.\n\
                # TYPE http_requests counter\n\
                http_requests_total{code=\"200\"} 3\n\
                http_requests_created{code=\"200\"} 1\n\
                # TYPE latency histogram\n\
                # UNIT latency seconds\n\
                latency_bucket{le=\"+Inf\"} 1\n\
                latency_sum 0.5\n\
                latency_count 1\n\
                # TYPE temperature gauge\n\
                temperature 20\n\
                untyped_thing 1\n\
                # HELP http_requests_total_extra Not a sample of http_requests.\n\
                http_requests_total_extra 1\n";
    let (result, _) = h.scrape(body, NOW);
    result.unwrap();
    let metadata: HashMap<String, Option<Arc<MetricMetadata>>> = h
        .scratch
        .batch
        .iter()
        .map(|s| {
            let labels = decode_labels(&s.labels).unwrap();
            (labels.value("__name__").to_string(), s.metadata.clone())
        })
        .collect();
    let of = |name: &str| {
        metadata
            .get(name)
            .unwrap_or_else(|| panic!("no series {name}"))
            .as_deref()
            .map(|m| (m.family.clone(), m.kind, m.help.clone(), m.unit.clone()))
    };
    let counter = Some((
        "http_requests".to_string(),
        1,
        "Requests served.".to_string(),
        String::new(),
    ));
    assert_eq!(of("http_requests_total"), counter);
    assert_eq!(of("http_requests_created"), counter);
    // UNIT is OpenMetrics only: a comment in the text format.
    let histogram = Some(("latency".to_string(), 3, String::new(), String::new()));
    assert_eq!(of("latency_bucket"), histogram);
    assert_eq!(of("latency_sum"), histogram);
    assert_eq!(of("latency_count"), histogram);
    assert_eq!(
        of("temperature"),
        Some(("temperature".to_string(), 2, String::new(), String::new()))
    );
    // After another family's lines, with none of its own: no metadata.
    assert_eq!(of("untyped_thing"), None);
    assert_eq!(
        of("http_requests_total_extra"),
        Some((
            "http_requests_total_extra".to_string(),
            0,
            "Not a sample of http_requests.".to_string(),
            String::new()
        ))
    );
    // Every series of one family shares one allocation.
    assert!(Arc::ptr_eq(
        metadata["http_requests_total"].as_ref().unwrap(),
        metadata["http_requests_created"].as_ref().unwrap()
    ));
    // On a cache hit too, and stale markers carry it as well.
    let (result, _) = h.scrape("# TYPE temperature gauge\ntemperature 21\n", NOW + 1000);
    result.unwrap();
    for sample in &h.scratch.batch {
        let labels = decode_labels(&sample.labels).unwrap();
        let family = sample.metadata.as_ref().map(|m| m.family.as_str());
        match labels.value("__name__") {
            "temperature" => assert_eq!(family, Some("temperature")),
            "latency_sum" => assert_eq!(family, Some("latency")),
            "untyped_thing" => assert_eq!(family, None),
            _ => {}
        }
    }
}

/// The text lines of [`stale_markers_follow_any_sequence_of_scrapes`]: series whose labels
/// are derived (sorted or not, escaped), stored (renamed by relabeling, clashing with a
/// target label) or dropped, and lines written differently with the same labels as another
/// (a second sample of those labels is a duplicate).
const POOL: [&str; 13] = [
    "a{x=\"1\"}",
    "a{x=\"1\",}",
    "b{}",
    "g{i=\"k\"}",
    "a{x=\"2\"}",
    "b",
    "old_c{y=\"z\"}",
    "d{job=\"exposed\"}",
    "e{z=\"2\",b=\"1\"}",
    "f{v=\"esc\\\"aped\\\\\"}",
    "drop_me",
    "g{i=\"k\",j=\"\"}",
    "h{instance=\"\"}",
];

fn pool_context() -> TargetContext {
    TargetContext {
        metric_relabel_configs: relabel(
            "- source_labels: [__name__]\n  regex: drop_me\n  action: drop\n- source_labels: [__name__]\n  regex: old_(.*)\n  target_label: __name__\n  replacement: new_$1\n",
        ),
        ..ctx()
    }
}

#[test]
fn labels_are_derived_unless_relabeling_or_a_clash_changed_them() {
    let mut h = Harness::new(pool_context());
    let body: String = POOL.iter().map(|line| format!("{line} 1\n")).collect();
    let (result, first) = h.scrape(&body, NOW);
    result.unwrap();
    // old_c (renamed) and d (exported_job) keep their labels; the rest derive theirs.
    assert_eq!(h.cache.stored.len(), 2);
    assert!(first.contains(&(
        r#"{__name__="e", b="1", instance="i:1", job="j", z="2"}"#.into(),
        NOW,
        bits(1.0)
    )));
    assert!(first.contains(&(
        r#"{__name__="f", instance="i:1", job="j", v="esc\"aped\\"}"#.into(),
        NOW,
        bits(1.0)
    )));
    // All hits now: the same labels, from the body and the stored ones.
    let body: String = POOL
        .iter()
        .rev()
        .map(|line| format!("{line} 2\n"))
        .collect();
    let (result, second) = h.scrape(&body, NOW + 1000);
    assert_eq!(result.unwrap().cache_hits, POOL.len() as u64);
    let labels = |samples: &[Written]| samples.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
    assert_eq!(labels(&second), labels(&first));
    // drop_me is dropped; the lines written differently are duplicates.
    assert_eq!(second.len(), POOL.len() - 4);
    assert_eq!(h.scratch.seen.len(), second.len());
}

#[test]
fn plainly_written_lines_derive_their_labels_from_the_bytes() {
    let mut h = Harness::new(pool_context());
    let body: String = POOL.iter().map(|line| format!("{line} 1\n")).collect();
    h.scrape(&body, NOW).0.unwrap();
    let source = |line: &str| {
        let at = POOL.iter().position(|l| *l == line).unwrap();
        h.cache.states.get(at).labels()
    };
    for line in [
        "a{x=\"1\"}",
        "a{x=\"1\",}",
        "b",
        "b{}",
        "g{i=\"k\",j=\"\"}",
        "h{instance=\"\"}",
    ] {
        assert_eq!(source(line), LabelSource::Plain, "{line}");
    }
    // Out of order, escaped: the parsed labels are needed.
    for line in ["e{z=\"2\",b=\"1\"}", "f{v=\"esc\\\"aped\\\\\"}"] {
        assert_eq!(source(line), LabelSource::Derived, "{line}");
    }
    assert_eq!(source("drop_me"), LabelSource::Dropped);
    assert!(matches!(source("old_c{y=\"z\"}"), LabelSource::Stored(_)));
    // Quoted names, spaces and odd bytes are not plain: the full path decides.
    let mut scratch = Scratch::default();
    for raw in [
        "{\"a.b\",x=\"1\"}",
        "a{ x=\"1\" }",
        "a{x=\"1\"",
        "a{x=1}",
        "a{x=\"1\"y=\"2\"}",
        "a{x=\"1\\n\"}",
        "a{=}",
    ] {
        assert!(
            !derive_plain_labels(&h.ctx, raw.as_bytes(), &mut scratch),
            "{raw}"
        );
        assert!(scratch.arena.is_empty(), "{raw}");
    }
    assert!(derive_plain_labels(
        &h.ctx,
        b"a{y=\"2\",x=\"1\"}",
        &mut scratch
    ));
    // Merged in the order written, unsorted: the miss's comparison with the full path
    // rejects it.
    let mut unsorted = Vec::new();
    for (name, value) in [
        ("__name__", "a"),
        ("instance", "i:1"),
        ("job", "j"),
        ("y", "2"),
        ("x", "1"),
    ] {
        put_label(&mut unsorted, name.as_bytes(), value.as_bytes());
    }
    assert_eq!(scratch.split_labels()[..], unsorted[..]);
}

#[test]
fn lines_in_the_cached_order_skip_the_duplicate_check_until_one_is_not() {
    let mut h = Harness::new(ctx());
    h.scrape("a 1\nb 1\n", NOW).0.unwrap();
    assert!(h.cache.refs_distinct);
    // In order: nothing looked up. Then a line with a's labels written otherwise.
    let (result, samples) = h.scrape("a 2\nb 2\na{} 3\n", NOW + 1000);
    assert_eq!(result.unwrap().dropped_out_of_order, 1);
    assert_eq!(
        samples.iter().map(|s| s.2).collect::<Vec<_>>(),
        vec![bits(2.0), bits(2.0)]
    );
    assert!(!h.cache.refs_distinct, "the cached lines hold a duplicate");
    // The same lines again: checked all along, the duplicate still found.
    let (result, samples) = h.scrape("a 4\nb 4\na{} 5\n", NOW + 2000);
    assert_eq!(result.unwrap().dropped_out_of_order, 1);
    assert_eq!(samples.len(), 2);
    // The duplicate gone: distinct again, and a line out of the cached order fills the
    // check with what was appended before it.
    h.scrape("a 6\nb 6\n", NOW + 3000).0.unwrap();
    assert!(h.cache.refs_distinct);
    let (result, samples) = h.scrape("a 7\nc 7\nb{} 7\nb 8\n", NOW + 4000);
    assert_eq!(result.unwrap().dropped_out_of_order, 1);
    let b: Vec<u64> = samples
        .iter()
        .filter(|s| s.0.contains("\"b\""))
        .map(|s| s.2)
        .collect();
    assert_eq!(b, vec![bits(7.0)]);
    // Own timestamps: the flag is off.
    h.scrape("a 1 1000\n", NOW + 5000).0.unwrap();
    assert!(!h.cache.refs_distinct);
}

/// One scrape of [`stale_markers_follow_any_sequence_of_scrapes`]: pool lines in body order,
/// and where a broken line fails the scrape, if it does.
#[derive(Clone, Debug)]
struct PoolScrape {
    lines: Vec<usize>,
    fail_after: Option<usize>,
    /// Lines carry their own timestamp (tracked all the same).
    explicit: bool,
}

fn pool_scrape() -> impl proptest::strategy::Strategy<Value = PoolScrape> {
    use proptest::prelude::*;
    (
        // Any lines in any order, some twice (a repeated line is dropped, not fatal).
        proptest::collection::vec(0..POOL.len(), 0..=POOL.len() + 4),
        proptest::option::weighted(0.2, 0..=POOL.len()),
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(lines, fail_after, explicit)| PoolScrape {
            fail_after: fail_after.map(|n| n.min(lines.len())),
            lines,
            explicit,
        })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Whatever the series, their order, repeats and the failures, each scrape writes every kept
    /// series it saw with the labels a first sight gives it, and one stale marker, with the
    /// same labels, for each series of the last successful scrape it lacks. Derived labels
    /// of vanished series come from the compressed records, which change only when the
    /// series or their order do.
    #[test]
    fn stale_markers_follow_any_sequence_of_scrapes(scrapes in proptest::collection::vec(pool_scrape(), 1..12)) {
        // What each line's labels are on a cache miss (the full path).
        let expected: Vec<Option<String>> = POOL
            .iter()
            .map(|line| {
                let mut fresh = Harness::new(pool_context());
                let (result, samples) = fresh.scrape(&format!("{line} 1\n"), NOW);
                result.unwrap();
                samples.first().map(|s| s.0.clone())
            })
            .collect();
        let mut h = Harness::new(TargetContext {
            track_timestamps_staleness: true,
            ..pool_context()
        });
        let mut previous: std::collections::BTreeSet<String> = Default::default();
        for (step, scrape) in scrapes.iter().enumerate() {
            let ts = NOW + step as i64 * 1000;
            let mut body = String::new();
            for (i, &line) in scrape.lines.iter().enumerate() {
                if scrape.fail_after == Some(i) {
                    body.push_str("broken{ 1\n");
                }
                if scrape.explicit {
                    // Before the scrape's own timestamp, as a target's clock may be.
                    body.push_str(&format!("{} {step} {}\n", POOL[line], ts - 500));
                } else {
                    body.push_str(&format!("{} {step}\n", POOL[line]));
                }
            }
            if scrape.fail_after == Some(scrape.lines.len()) {
                body.push_str("broken{ 1\n");
            }
            let (result, samples) = h.scrape(&body, ts);
            let kept: std::collections::BTreeSet<String> = scrape
                .lines
                .iter()
                .filter_map(|&line| expected[line].clone())
                .collect();
            let stale: Vec<String> = samples
                .iter()
                .filter(|s| s.2 == STALE_NAN)
                .map(|s| s.0.clone())
                .collect();
            let mut written: Vec<String> = samples
                .iter()
                .filter(|s| s.2 != STALE_NAN)
                .map(|s| s.0.clone())
                .collect();
            if scrape.explicit {
                // Lines with their own timestamps are checked for order by line, not for
                // duplicates by labels.
                written.dedup();
            }
            let sorted = |set: &mut dyn Iterator<Item = &String>| set.cloned().collect::<Vec<_>>();
            if scrape.fail_after.is_some() {
                proptest::prop_assert!(result.is_err());
                proptest::prop_assert_eq!(stale, sorted(&mut previous.iter()));
                proptest::prop_assert!(written.is_empty());
                previous.clear();
            } else {
                proptest::prop_assert!(result.is_ok());
                proptest::prop_assert_eq!(stale, sorted(&mut previous.difference(&kept)));
                proptest::prop_assert_eq!(written, sorted(&mut kept.iter()));
                previous = kept;
            }
        }
    }
}

#[test]
fn labels_kept_for_stale_markers_are_small_and_read_back_exactly() {
    use crate::generator::{GenOptions, Generator, Shape};
    let options = GenOptions {
        shape: Shape::Cadvisor,
        series: 10_000,
        ..GenOptions::default()
    };
    let generator = Generator::new(&options, 7).unwrap();
    let mut body = Vec::new();
    generator.render(std::time::UNIX_EPOCH, &mut body);
    let body = String::from_utf8(body).unwrap();
    let mut h = Harness::new(ctx());
    let (result, first) = h.scrape(&body, NOW);
    result.unwrap();
    assert_eq!(first.len(), 10_000);
    // Kept by column, cAdvisor-like labels take about 3 bytes a series (15 one after another).
    let per_series = h.cache.records.compressed_len() as f64 / h.cache.len() as f64;
    assert!(per_series < 5.0, "{per_series} bytes per series");
    // Every series goes away: each stale marker carries the labels its series was sent with.
    let (result, stale) = h.scrape("", NOW + 1000);
    result.unwrap();
    let sent: Vec<&String> = first.iter().map(|(labels, _, _)| labels).collect();
    let marked: Vec<&String> = stale.iter().map(|(labels, _, _)| labels).collect();
    assert_eq!(marked, sent);
    assert!(
        stale
            .iter()
            .all(|&(_, ts, bits)| ts == NOW + 1000 && bits == STALE_NAN)
    );
}
