//! Appending one scrape as a transaction (spec §4.3–4.6): cache lookups, label merging
//! with the target (`honor_labels`), metric relabeling, limits, timestamps and staleness.

use super::cache::{
    LabelSource, MetadataLine, MetricSeriesCount, PassThrough, SeriesCache, SeriesState,
    SeriesStates, raw_key,
};
use super::parse::{Entry, Format, Parser};
use crate::labels::{Labels, ValidationScheme};
use crate::pool::Pool;
use crate::relabel::RelabelConfig;
use crate::remote_write::encode::{encode_labels, put_label, put_written_label};
use crate::remote_write::encode_v2::LabelPairs;
use crate::remote_write::{Sample, SampleSink, SeriesRef};
use bytes::{Bytes, BytesMut};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Prometheus' StaleNaN: a signalling NaN, carried as bits.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// Samples this far in the future are dropped (Prometheus' out-of-bounds rule).
const MAX_FUTURE_MS: i64 = 10 * 60 * 1000;

/// Everything about a target that appending needs; built once per loop (and on reload).
pub struct TargetContext {
    /// Public target labels (no `__` prefix), merged into every series.
    pub target_labels: Labels,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub validation: ValidationScheme,
    /// `target_labels`, each encoded once, for the label sets derived on every scrape.
    pub encoded_target_labels: EncodedTargetLabels,
}

/// A target's labels, each encoded as a `TimeSeries.labels` field on first use (from the
/// context's `target_labels`, which do not change after), and their length together.
#[derive(Default)]
pub struct EncodedTargetLabels(std::sync::OnceLock<(Vec<Vec<u8>>, usize)>);

impl EncodedTargetLabels {
    fn get(&self, labels: &Labels) -> &(Vec<Vec<u8>>, usize) {
        self.0.get_or_init(|| {
            let encoded: Vec<Vec<u8>> = labels
                .iter()
                .map(|(name, value)| {
                    let mut encoded = Vec::new();
                    put_label(&mut encoded, name.as_bytes(), value.as_bytes());
                    encoded
                })
                .collect();
            let len = encoded.iter().map(Vec::len).sum();
            (encoded, len)
        })
    }
}

/// Counts of one scrape, for the synthetic series and self-metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendStats {
    /// Series lines parsed (up to an error).
    pub scraped: u64,
    /// Kept after metric relabeling.
    pub post_relabel: u64,
    /// Series not in the previous successful scrape.
    pub added: u64,
    pub dropped_out_of_order: u64,
    pub dropped_too_new: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

/// A scrape that failed while parsing or appending; nothing of it is written. The counts
/// up to the failure still go into the synthetic series, as Prometheus reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendError {
    pub message: String,
    pub scraped: u64,
    pub post_relabel: u64,
    /// New series appended before a limit was hit.
    pub added: u64,
}

/// Size of the label arena's chunks: queued samples keep the chunks their labels are in.
const ARENA_CHUNK: usize = 64 * 1024;

/// Buffers a scrape reuses. Loops take one from a shared pool for each scrape
/// ([`Scratch::take`]), so their number follows the scrapes in flight, not the targets.
#[derive(Default)]
pub struct Scratch {
    pub batch: Vec<Sample>,
    /// Refs appended this scrape at the scrape's timestamp: another sample of one is a
    /// duplicate.
    seen: HashSet<SeriesRef, PassThrough>,
    /// `seen` lacks the refs of `batch`: the lines so far were the cached ones in order,
    /// known distinct, so nothing needed them yet.
    seen_unfilled: bool,
    forget: Vec<SeriesRef>,
    /// Labels written this scrape (derived, and stale markers' from the records), split off
    /// per sample.
    arena: BytesMut,
    /// This scrape's series in body order: raw hashes, states, and labels (of the derived
    /// ones; empty for the others). They become the cache's when the scrape ends.
    keys: Vec<u64>,
    states: SeriesStates,
    records: Vec<Bytes>,
    /// Leading positions whose records are not in `records`: their lines were the cached
    /// ones in the cached order, whose records the cache holds. Fetched from there only if the
    /// cached series change (most scrapes keep them all, and so never need the records).
    records_skipped: usize,
    /// Per cached series (by position): matched by a line of this scrape; appended tracked.
    matched: Vec<bool>,
    tracked_now: Vec<bool>,
    /// Position of each cached key, built when a line is not where it was last time.
    cached_index: HashMap<u64, u32, PassThrough>,
    /// Position in this scrape of the keys new to the cache.
    new_index: HashMap<u64, u32, PassThrough>,
    /// Every key of this scrape and whether it was appended tracked at any position, built
    /// only when a cached series looks stale or gone by its position (a repeated line may
    /// have matched another position of its key).
    keys_now: HashMap<u64, bool, PassThrough>,
    /// Explicit timestamps this scrape changed, with the value before (rolled back when it
    /// fails).
    timestamps_undo: Vec<(u64, Option<i64>)>,
}

/// Entries an index of a pooled scratch keeps room for (about 16 KiB).
const LARGEST_KEPT_INDEX: usize = 1024;

/// Scratches are used between a scrape's body and its commit, which do not wait: as many
/// are in use as the runtime has worker threads.
static SCRATCH_POOL: Pool<Scratch> = Pool::new(8);

impl Scratch {
    /// A scratch from the pool (or a new one); give it back with [`Scratch::give_back`].
    pub fn take() -> Scratch {
        SCRATCH_POOL.take()
    }

    /// Returns this scratch to the pool, emptied but keeping the capacity of what every
    /// scrape uses; the indexes only series that moved, came or went need are freed when
    /// large, so a target's first scrape does not leave them in every pooled scratch.
    pub fn give_back(mut self) {
        self.batch.clear();
        self.records.clear();
        for index in [&mut self.cached_index, &mut self.new_index] {
            if index.capacity() > LARGEST_KEPT_INDEX {
                *index = HashMap::default();
            }
        }
        if self.keys_now.capacity() > LARGEST_KEPT_INDEX {
            self.keys_now = HashMap::default();
        }
        if self.seen.capacity() > LARGEST_KEPT_INDEX {
            self.seen = HashSet::default();
        }
        SCRATCH_POOL.give_back(self);
    }

    /// Ready for a scrape of a target with `cached` series.
    fn start(&mut self, cached: usize) {
        self.batch.clear();
        self.seen.clear();
        self.seen_unfilled = false;
        self.forget.clear();
        self.keys.clear();
        self.states.clear();
        self.records.clear();
        self.records_skipped = 0;
        self.matched.clear();
        self.matched.resize(cached, false);
        self.tracked_now.clear();
        self.tracked_now.resize(cached, false);
        self.cached_index.clear();
        self.new_index.clear();
        self.keys_now.clear();
        self.timestamps_undo.clear();
    }

    /// Tells the sink about series that left the cache in the last scrape; call after
    /// appending its batch (which may hold their stale markers).
    pub fn forget_evicted(&mut self, sink: &dyn SampleSink) {
        for series in self.forget.drain(..) {
            sink.forget(series);
        }
    }

    /// Puts the refs appended so far into `seen` if they are not there yet, or all of the
    /// batch's when `whole_batch` (those appended with their own timestamps too).
    fn fill_seen(&mut self, whole_batch: bool) {
        if std::mem::take(&mut self.seen_unfilled) || whole_batch {
            self.seen
                .extend(self.batch.iter().map(|sample| sample.series));
        }
    }

    /// Keeps the record of the line at the next position, unless it is the cache's.
    fn push_record(&mut self, from_cache: bool, record: impl FnOnce() -> Bytes) {
        if from_cache {
            self.records_skipped += 1;
        } else {
            self.records.push(record());
        }
    }

    /// Labels written into the arena since the last split, as their own bytes.
    fn split_labels(&mut self) -> Bytes {
        self.arena.split().freeze()
    }

    /// Room in the arena for a label set of up to `len` bytes. A full chunk is left to the
    /// samples that point into it and a new one started: `BytesMut::reserve` would instead
    /// grow the chunk by doubling whenever no sample still points into it, so chunks would
    /// grow without bound.
    fn reserve_labels(&mut self, len: usize) {
        debug_assert!(
            self.arena.is_empty(),
            "every label set is split off when written"
        );
        if self.arena.capacity() < len {
            self.arena = BytesMut::with_capacity(len.max(ARENA_CHUNK));
        }
    }

    /// Where the line at the next position, with raw hash `key`, was cached; `expected` is
    /// where the line after the last one matched was, so lines in their old order cost a
    /// compare.
    fn find(&mut self, cached: &[u64], key: u64, expected: &mut usize) -> Found {
        if cached.get(*expected) == Some(&key) {
            *expected += 1;
            return Found::Cached(*expected - 1);
        }
        if let Some(&at) = self.new_index.get(&key) {
            return Found::Earlier(at as usize);
        }
        if self.cached_index.is_empty() && !cached.is_empty() {
            // The first occurrence of a key wins, as a lookup by key always found it.
            for (at, &cached_key) in cached.iter().enumerate().rev() {
                self.cached_index.insert(cached_key, at as u32);
            }
        }
        match self.cached_index.get(&key) {
            Some(&at) => {
                *expected = at as usize + 1;
                Found::Cached(at as usize)
            }
            None => Found::Missing,
        }
    }
}

/// Where a line's series was.
enum Found {
    /// In the cache, at this position.
    Cached(usize),
    /// Not in the cache, but earlier in this body, at this position.
    Earlier(usize),
    /// Nowhere: a new series.
    Missing,
}

/// The ref of encoded labels: the same labels give the same ref in every target and every
/// replica (remote write shards by it; a scrape drops a second sample of one).
pub fn labels_ref(encoded: &[u8]) -> SeriesRef {
    xxhash_rust::xxh3::xxh3_64(encoded)
}

/// Appends one scrape body. On success `scratch.batch` holds the samples and stale markers
/// to commit; on failure it holds only the stale markers for the previous series.
pub fn append_scrape(
    ctx: &TargetContext,
    cache: &mut SeriesCache,
    sink: &dyn SampleSink,
    scratch: &mut Scratch,
    body: Option<(&[u8], Format)>,
    scrape_ts: i64,
    now_ms: i64,
) -> Result<AppendStats, AppendError> {
    cache.scrape += 1;
    scratch.start(cache.len());
    let with_metadata = sink.wants_metadata();
    let body = body.filter(|(bytes, _)| !bytes.is_empty());
    let result = match body {
        Some((bytes, format)) => append_body(
            ctx,
            cache,
            scratch,
            bytes,
            format,
            scrape_ts,
            now_ms,
            with_metadata,
        ),
        None => Ok(AppendStats::default()),
    };
    if result.is_err() {
        // Nothing of a failed scrape is written, and it counts as an empty one for
        // staleness: every series of the last successful scrape gets one stale marker, later
        // failures add none. The series it saw stay cached.
        for (key, before) in scratch.timestamps_undo.drain(..).rev() {
            match before {
                Some(ts) => cache.explicit_timestamps.insert(key, ts),
                None => cache.explicit_timestamps.remove(&key),
            };
        }
        scratch.batch.clear();
        scratch.seen.clear();
        scratch.seen_unfilled = false;
        scratch.tracked_now.fill(false);
        scratch.states.clear_tracked();
    }
    cache.refs_distinct = result
        .as_ref()
        .is_ok_and(|stats| stats.dropped_out_of_order == 0 && stats.dropped_too_new == 0)
        && cache.explicit_timestamps.is_empty();
    write_stale_markers(
        cache,
        scratch,
        scrape_ts,
        with_metadata,
        ctx.track_timestamps_staleness,
    );
    if scratch.records_skipped > 0 && !cache.holds_series(&scratch.keys) {
        // Lines kept the cached order to the end: the records come from the cache.
        debug_assert!(scratch.records.is_empty());
        cache.push_records(scratch.records_skipped, &mut scratch.records);
    }
    // The series changed: so may their counts per name (kept or dropped is a series' own).
    if cache.replace(&scratch.keys, &scratch.states, &scratch.records) {
        cache.series_by_metric = count_series_by_metric(body, &scratch.states);
        cache.series_by_metric_changed = true;
    }
    scratch.records.clear();
    cache.last_success = cache.scrape;
    cache.evict_metadata();
    result
}

/// Series per exposed metric name among a scrape's `states` (the first `states.len()` series
/// of `body`), most first, then by name.
fn count_series_by_metric(
    body: Option<(&[u8], Format)>,
    states: &SeriesStates,
) -> Vec<MetricSeriesCount> {
    let mut counts: HashMap<Cow<'_, str>, (u32, u32)> = HashMap::new();
    if let Some((bytes, format)) = body {
        let mut parser = Parser::new(bytes, format);
        let mut labels = Vec::new();
        let mut states = states.iter();
        while let Ok(Some(entry)) = parser.next_entry() {
            if !matches!(entry, Entry::Series { .. }) {
                continue;
            }
            let Some(state) = states.next() else {
                break;
            };
            let raw_name = parser.series_name().unwrap_or_default();
            let name = match std::str::from_utf8(raw_name) {
                Ok(name) if !name.contains('\\') => Cow::Borrowed(name),
                _ => {
                    // Escaped (or not UTF-8): the name as the labels have it.
                    let _ = parser.series_labels(&mut labels);
                    labels
                        .iter()
                        .find(|(n, _)| n == "__name__")
                        .map_or(Cow::Borrowed(""), |(_, v)| Cow::Owned(v.to_string()))
                }
            };
            let count = counts.entry(name).or_default();
            count.0 += 1;
            count.1 += u32::from(state.labels() != LabelSource::Dropped);
        }
    }
    let mut list: Vec<MetricSeriesCount> = counts
        .into_iter()
        .map(|(name, (scraped, kept))| MetricSeriesCount {
            name: name.as_ref().into(),
            scraped,
            kept,
        })
        .collect();
    list.sort_unstable_by(|a, b| b.scraped.cmp(&a.scraped).then_with(|| a.name.cmp(&b.name)));
    list
}

/// Stale markers for series tracked by the last successful scrape and not appended now;
/// notes the refs of series that leave the cache.
fn write_stale_markers(
    cache: &mut SeriesCache,
    scratch: &mut Scratch,
    scrape_ts: i64,
    with_metadata: bool,
    explicit_tracked: bool,
) {
    let SeriesCache {
        keys,
        states,
        stored,
        records,
        explicit_timestamps,
        metadata,
        ..
    } = cache;
    let mut opened = None;
    let mut seen_holds_tracked = false;
    for (at, (&key, state)) in keys.iter().zip(states.iter()).enumerate() {
        // Matched at its position, and tracked again if it was: neither stale nor gone.
        if scratch.matched[at] && (scratch.tracked_now[at] || !state.tracked()) {
            continue;
        }
        if scratch.keys_now.is_empty() {
            for (&now_key, now_state) in scratch.keys.iter().zip(scratch.states.iter()) {
                *scratch.keys_now.entry(now_key).or_default() |= now_state.tracked();
            }
        }
        let now = scratch.keys_now.get(&key).copied();
        let stale = state.tracked() && now != Some(true);
        let leaves = now.is_none();
        if !stale && !leaves {
            continue;
        }
        let labels = match state.labels() {
            LabelSource::Dropped => continue,
            LabelSource::Stored(index) => stored.get(index).clone(),
            LabelSource::Derived | LabelSource::Plain => {
                let open = opened.get_or_insert_with(|| records.open());
                let Some(encoded) = open.get(at as u32) else {
                    debug_assert!(false, "a cached derived series without a record");
                    continue;
                };
                scratch.reserve_labels(encoded.len());
                scratch.arena.extend_from_slice(encoded);
                scratch.split_labels()
            }
        };
        let series = labels_ref(&labels);
        if leaves {
            scratch.forget.push(series);
        }
        // Out-of-order stale markers are not written; a series appended now is not stale.
        let newer = explicit_timestamps
            .get(&key)
            .is_some_and(|&last| last >= scrape_ts);
        if !stale || newer {
            continue;
        }
        if !seen_holds_tracked {
            // A series appended tracked now, by another line, is not stale.
            scratch.fill_seen(explicit_tracked);
            seen_holds_tracked = true;
        }
        if !scratch.seen.insert(series) {
            continue;
        }
        let family_metadata = if with_metadata {
            LabelPairs::new(&labels)
                .find(|(name, _)| *name == b"__name__")
                .and_then(|(_, name)| SeriesCache::family_metadata_of(metadata, name))
        } else {
            None
        };
        scratch.batch.push(Sample {
            series,
            labels,
            metadata: family_metadata,
            timestamp_ms: scrape_ts,
            value_bits: STALE_NAN,
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn append_body(
    ctx: &TargetContext,
    cache: &mut SeriesCache,
    scratch: &mut Scratch,
    body: &[u8],
    format: Format,
    scrape_ts: i64,
    now_ms: i64,
    with_metadata: bool,
) -> Result<AppendStats, AppendError> {
    let mut stats = AppendStats::default();
    let mut parser = Parser::new(body, format);
    let mut parsed_labels = Vec::new();
    // The family of the last HELP/TYPE/UNIT line: the series after it belong to it.
    let mut current_family = None;
    // Where the next line was cached if the body keeps the cached order.
    let mut expected = 0;
    // While the lines are the last scrape's in its order, and its refs were distinct, these
    // are too: duplicates are not looked for until a line is not.
    let mut in_cached_order = cache.refs_distinct;
    scratch.seen_unfilled = in_cached_order;
    // While true, the records of the lines so far are the cache's (they are its lines in its
    // order, and it has all their records): they are not kept again.
    let mut records_from_cache = in_cached_order && cache.has_all_records();
    let fail = |message: String, stats: &AppendStats| AppendError {
        message,
        scraped: stats.scraped,
        post_relabel: stats.post_relabel,
        added: stats.added,
    };
    loop {
        let entry = match parser.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => return Err(fail(e.to_string(), &stats)),
        };
        match &entry {
            Entry::Type { metric, kind } => {
                current_family = Some(*metric);
                cache.note_metadata(metric, MetadataLine::Type(*kind))
            }
            Entry::Help { metric, text } => {
                current_family = Some(*metric);
                cache.note_metadata(metric, MetadataLine::Help(text))
            }
            Entry::Unit { metric, unit } => {
                current_family = Some(*metric);
                cache.note_metadata(metric, MetadataLine::Unit(unit))
            }
            Entry::Series { .. } => {}
        }
        let Entry::Series {
            series: raw,
            value,
            timestamp_ms,
            ..
        } = entry
        else {
            continue;
        };
        stats.scraped += 1;
        let key = raw_key(raw);
        let (explicit_ts, timestamp) = match timestamp_ms {
            Some(ts) if ctx.honor_timestamps => (true, ts),
            _ => (false, scrape_ts),
        };
        // This series' labels when the miss below derived them already.
        let mut derived_now = None;
        let found = scratch.find(&cache.keys, key, &mut expected);
        let state = match found {
            Found::Cached(at) => {
                stats.cache_hits += 1;
                scratch.matched[at] = true;
                cache.states.get(at).with_tracked(false)
            }
            Found::Earlier(at) => {
                stats.cache_hits += 1;
                scratch.states.get(at).with_tracked(false)
            }
            Found::Missing => {
                stats.cache_misses += 1;
                parser
                    .series_labels(&mut parsed_labels)
                    .map_err(|e| fail(e.to_string(), &stats))?;
                let series = series_for(ctx, &parsed_labels).map_err(|m| fail(m, &stats))?;
                let source = match series {
                    None => LabelSource::Dropped,
                    Some(labels) => {
                        let encoded = encode_labels(&labels);
                        // Derived labels are trusted only where they equal what the full
                        // path gives for these very bytes.
                        let derived = if derive_written_labels(ctx, &parser, raw, scratch)
                            && scratch.arena[..] == encoded[..]
                        {
                            Some(LabelSource::Plain)
                        } else {
                            scratch.arena.clear();
                            derive_labels(ctx, &parsed_labels, scratch);
                            (scratch.arena[..] == encoded[..]).then_some(LabelSource::Derived)
                        };
                        if let Some(source) = derived {
                            derived_now = Some(scratch.split_labels());
                            source
                        } else {
                            scratch.arena.clear();
                            match cache.stored.insert(encoded) {
                                Some(index) => LabelSource::Stored(index),
                                None => {
                                    return Err(fail(
                                        format!(
                                            "more than {} series whose labels metric relabeling changed",
                                            super::cache::MAX_STORED
                                        ),
                                        &stats,
                                    ));
                                }
                            }
                        }
                    }
                };
                scratch.new_index.insert(key, scratch.keys.len() as u32);
                SeriesState::new(source)
            }
        };
        let position = scratch.keys.len();
        if in_cached_order && (explicit_ts || !matches!(found, Found::Cached(at) if at == position))
        {
            in_cached_order = false;
            scratch.fill_seen(false);
            records_from_cache = false;
            cache.push_records(scratch.records_skipped, &mut scratch.records);
            scratch.records_skipped = 0;
        }
        scratch.keys.push(key);
        scratch.states.push(state);
        let labels = match state.labels() {
            LabelSource::Dropped => {
                scratch.push_record(records_from_cache, Bytes::new);
                continue;
            }
            LabelSource::Stored(index) => {
                scratch.push_record(records_from_cache, Bytes::new);
                cache.stored.get(index).clone()
            }
            source @ (LabelSource::Derived | LabelSource::Plain) => {
                let labels = match derived_now {
                    Some(labels) => labels,
                    None => {
                        // Plain bytes fail to derive only on a hash collision of two lines.
                        if source == LabelSource::Derived
                            || !derive_written_labels(ctx, &parser, raw, scratch)
                        {
                            parser
                                .series_labels(&mut parsed_labels)
                                .map_err(|e| fail(e.to_string(), &stats))?;
                            derive_labels(ctx, &parsed_labels, scratch);
                        }
                        scratch.split_labels()
                    }
                };
                scratch.push_record(records_from_cache, || labels.clone());
                labels
            }
        };
        stats.post_relabel += 1;
        // New to the cache, counted only while the sample limit holds.
        if matches!(found, Found::Missing)
            && (ctx.sample_limit == 0 || stats.post_relabel <= ctx.sample_limit)
        {
            stats.added += 1;
        }
        if timestamp > now_ms + MAX_FUTURE_MS {
            stats.dropped_too_new += 1;
            continue;
        }
        let series = labels_ref(&labels);
        let last = if cache.explicit_timestamps.is_empty() && !explicit_ts {
            None
        } else {
            cache.explicit_timestamps.get(&key).copied()
        };
        if last.is_some_and(|last| timestamp <= last)
            || (!explicit_ts && !in_cached_order && !scratch.seen.insert(series))
        {
            stats.dropped_out_of_order += 1;
            continue;
        }
        if explicit_ts || last.is_some() {
            scratch.timestamps_undo.push((key, last));
            cache.explicit_timestamps.insert(key, timestamp);
        }
        if !explicit_ts || ctx.track_timestamps_staleness {
            scratch.states.set_tracked(position, true);
            if let Found::Cached(at) = found {
                scratch.tracked_now[at] = true;
            }
        }
        let family_metadata = if with_metadata {
            parser.series_name().and_then(|name| {
                SeriesCache::series_metadata(&mut cache.metadata, name, current_family)
            })
        } else {
            None
        };
        scratch.batch.push(Sample {
            series,
            labels,
            metadata: family_metadata,
            timestamp_ms: timestamp,
            value_bits: value.to_bits(),
        });
    }
    if ctx.sample_limit > 0 && stats.post_relabel > ctx.sample_limit {
        return Err(fail("sample limit exceeded".into(), &stats));
    }
    Ok(stats)
}

/// Writes into the scratch's arena the labels of a series whose exposed labels are `exposed`
/// (sorted by name, as [`Parser::series_labels`] gives them) merged with the target's, as
/// [`series_for`] makes them when metric relabeling leaves them alone and no exposed label
/// clashes with a target label (the caller checks that on a cache miss): encoded, sorted, no
/// empty values.
fn derive_labels(
    ctx: &TargetContext,
    exposed: &[(Cow<'_, str>, Cow<'_, str>)],
    scratch: &mut Scratch,
) {
    let len: usize = exposed
        .iter()
        .map(|(n, v)| encoded_label_bound(n.as_bytes(), v.as_bytes()))
        .sum();
    scratch.reserve_labels(len + target_labels_bound(ctx));
    let mut merge = merge_with_target(ctx, &mut scratch.arena);
    for (name, value) in exposed {
        merge.push(name.as_bytes(), value.as_bytes());
    }
    merge.finish();
}

/// [`derive_labels`] from the label pairs as a line writes them, when it writes them plainly:
/// `name` or `name{label="value",...}`, nothing escaped. The pairs are those the parser found
/// if it read the line so (no second scan), else the line's raw bytes are read here; false
/// (and the arena left empty) when they are not plain. It neither sorts nor unescapes nor
/// checks: its labels are trusted only where a cache miss found them equal to the full
/// path's for the same bytes.
fn derive_written_labels(
    ctx: &TargetContext,
    parser: &Parser<'_>,
    raw: &[u8],
    scratch: &mut Scratch,
) -> bool {
    match parser.written_pairs() {
        Some(written) => {
            write_written_labels(ctx, written.name, written.pairs(), raw.len(), scratch);
            true
        }
        None => derive_plain_labels(ctx, raw, scratch),
    }
}

/// [`derive_written_labels`] from the raw series bytes alone.
fn derive_plain_labels(ctx: &TargetContext, raw: &[u8], scratch: &mut Scratch) -> bool {
    let (name, pairs) = match raw.iter().position(|&b| b == b'{') {
        Some(brace) => match raw[brace + 1..].strip_suffix(b"}") {
            Some(pairs) => (&raw[..brace], pairs),
            None => return false,
        },
        None => (raw, &[][..]),
    };
    // No name before the brace: it is quoted inside.
    if name.is_empty() {
        return false;
    }
    let mut scan = PlainPairs { rest: pairs };
    write_written_labels(ctx, name, &mut scan, raw.len(), scratch);
    if !scan.rest.is_empty() {
        scratch.arena.clear();
        return false;
    }
    true
}

/// Writes the label set of metric `name` with `pairs` as written (`name="value` and the
/// length of the name), merged with the target's, for a line `line_len` bytes long.
fn write_written_labels<'p>(
    ctx: &TargetContext,
    name: &[u8],
    pairs: impl Iterator<Item = (&'p [u8], usize)>,
    line_len: usize,
    scratch: &mut Scratch,
) {
    // Each `l="v",` of the line takes at least 4 bytes besides the name and value, and
    // encodes with at most 16 more: twice the line's length is room enough.
    scratch.reserve_labels(
        encoded_label_bound(b"__name__", name) + 2 * line_len + target_labels_bound(ctx),
    );
    let mut merge = merge_with_target(ctx, &mut scratch.arena);
    merge.push(b"__name__", name);
    for (pair, name_len) in pairs {
        merge.push_written(pair, name_len);
    }
    merge.finish();
}

/// The `label="value"` pairs between a line's braces, each as `label="value` with the length
/// of its name; stops at the first that is not written so, leaving it in `rest`.
struct PlainPairs<'p> {
    rest: &'p [u8],
}

impl<'p> Iterator for PlainPairs<'p> {
    type Item = (&'p [u8], usize);

    fn next(&mut self) -> Option<Self::Item> {
        // Label names and values are short: plain loops beat memchr's set-up here.
        let rest = self.rest;
        let name_len = rest.iter().position(|&b| b == b'=')?;
        if rest.get(name_len + 1) != Some(&b'"') {
            return None;
        }
        let value_len = rest[name_len + 2..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        let end = name_len + 2 + value_len;
        if rest[end] != b'"' {
            return None;
        }
        self.rest = match rest.get(end + 1) {
            Some(b',') => &rest[end + 2..],
            None => &[],
            Some(_) => return None,
        };
        Some((&rest[..end], name_len))
    }
}

/// Room for an encoded label: its bytes and at most 16 more (tags and varint lengths).
fn encoded_label_bound(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 16
}

/// Room for the target's encoded labels. A label set is written with room for all of it, so
/// it is never moved to a new arena chunk half written.
fn target_labels_bound(ctx: &TargetContext) -> usize {
    ctx.encoded_target_labels.get(&ctx.target_labels).1
}

/// Writes exposed labels, pushed in name order, merged with the target's (sorted) into an
/// encoded label set: on a name both have, the target's value wins unless `honor_labels`.
struct TargetMerge<'a, T: Iterator<Item = (&'a str, &'a Vec<u8>)>> {
    /// The target's names, with each label encoded.
    target: std::iter::Peekable<T>,
    honor_labels: bool,
    out: &'a mut BytesMut,
}

/// A [`TargetMerge`] of `ctx`'s target labels into `out`.
fn merge_with_target<'a>(
    ctx: &'a TargetContext,
    out: &'a mut BytesMut,
) -> TargetMerge<'a, impl Iterator<Item = (&'a str, &'a Vec<u8>)>> {
    let (encoded, _) = ctx.encoded_target_labels.get(&ctx.target_labels);
    TargetMerge {
        target: ctx
            .target_labels
            .iter()
            .map(|(name, _)| name)
            .zip(encoded)
            .peekable(),
        honor_labels: ctx.honor_labels,
        out,
    }
}

impl<'a, T: Iterator<Item = (&'a str, &'a Vec<u8>)>> TargetMerge<'a, T> {
    /// Writes the target's labels before `name`; true when the target has `name` and its
    /// value wins (it is written then).
    fn before(&mut self, name: &[u8]) -> bool {
        while let Some((_, encoded)) = self
            .target
            .next_if(|(target_name, _)| name_before(target_name.as_bytes(), name))
        {
            self.out.extend_from_slice(encoded);
        }
        match self.target.next_if(|(target_name, _)| {
            target_name.as_bytes().first() == name.first() && target_name.as_bytes() == name
        }) {
            Some((_, encoded)) if !self.honor_labels => {
                self.out.extend_from_slice(encoded);
                true
            }
            _ => false,
        }
    }

    fn push(&mut self, name: &[u8], value: &[u8]) {
        if !self.before(name) {
            put_label(self.out, name, value);
        }
    }

    /// [`TargetMerge::push`] of a label as a line writes it: `name="value`, the name
    /// `name_len` bytes long.
    fn push_written(&mut self, written: &[u8], name_len: usize) {
        if !self.before(&written[..name_len]) {
            put_written_label(self.out, written, name_len);
        }
    }

    fn finish(mut self) {
        for (_, encoded) in self.target.by_ref() {
            self.out.extend_from_slice(encoded);
        }
    }
}

/// `a < b` bytewise, deciding on the first byte without a call where it can (label names
/// mostly differ there).
#[inline]
fn name_before(a: &[u8], b: &[u8]) -> bool {
    match (a.first(), b.first()) {
        (Some(x), Some(y)) if x != y => x < y,
        _ => a < b,
    }
}

/// The final labels for newly seen exposed labels, `None` when metric
/// relabeling drops it; an error fails the whole scrape.
fn series_for(
    ctx: &TargetContext,
    parsed: &[(Cow<'_, str>, Cow<'_, str>)],
) -> Result<Option<Labels>, String> {
    for pair in parsed.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(format!("label name {:?} is not unique", pair[0].0));
        }
    }
    let mut merged: Vec<(String, String)> = parsed
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    merge_target_labels(&mut merged, &ctx.target_labels, ctx.honor_labels);
    let mut labels = Labels::from_pairs(merged);
    if !crate::relabel::process(&mut labels, &ctx.metric_relabel_configs) || labels.is_empty() {
        return Ok(None);
    }
    let Some(name) = labels.get("__name__") else {
        return Err("missing metric name (__name__ label)".into());
    };
    if !ctx.validation.is_valid_metric_name(name)
        || labels
            .iter()
            .any(|(n, _)| n != "__name__" && !ctx.validation.is_valid_label_name(n))
    {
        return Err(format!("invalid metric name or label names: {labels}"));
    }
    check_label_limits(ctx, &labels)?;
    Ok(Some(labels))
}

/// Adds the target labels to exposed ones (spec §4.5).
fn merge_target_labels(exposed: &mut Vec<(String, String)>, target: &Labels, honor_labels: bool) {
    let position = |list: &[(String, String)], name: &str| list.iter().position(|(n, _)| n == name);
    if honor_labels {
        for (name, value) in target.iter() {
            if position(exposed, name).is_none() {
                exposed.push((name.to_string(), value.to_string()));
            }
        }
        return;
    }
    let mut conflicts = Vec::new();
    for (name, value) in target.iter() {
        match position(exposed, name) {
            Some(i) => {
                let old = std::mem::replace(&mut exposed[i].1, value.to_string());
                if !old.is_empty() {
                    conflicts.push((name.to_string(), old));
                }
            }
            None => exposed.push((name.to_string(), value.to_string())),
        }
    }
    conflicts.sort_by_key(|(name, _)| name.len());
    for (name, value) in conflicts {
        let mut exported = format!("exported_{name}");
        while position(exposed, &exported).is_some_and(|i| !exposed[i].1.is_empty()) {
            exported.insert_str(0, "exported_");
        }
        match position(exposed, &exported) {
            Some(i) => exposed[i].1 = value,
            None => exposed.push((exported, value)),
        }
    }
}

fn check_label_limits(ctx: &TargetContext, labels: &Labels) -> Result<(), String> {
    let metric = labels.value("__name__");
    let short = |s: &str| s.chars().take(50).collect::<String>();
    if ctx.label_limit > 0 && labels.len() as u64 > ctx.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
            short(metric),
            labels.len(),
            ctx.label_limit
        ));
    }
    for (name, value) in labels.iter() {
        if ctx.label_name_length_limit > 0 && name.len() as u64 > ctx.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                short(metric),
                short(name),
                name.len(),
                ctx.label_name_length_limit
            ));
        }
        if ctx.label_value_length_limit > 0 && value.len() as u64 > ctx.label_value_length_limit {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {}, label name: {}, value: {:?}, length: {}, limit: {})",
                short(metric),
                short(name),
                short(value),
                value.len(),
                ctx.label_value_length_limit
            ));
        }
    }
    Ok(())
}

/// The ref of a final label set, as [`labels_ref`] gives it for the labels encoded.
pub fn series_ref(labels: &Labels) -> SeriesRef {
    labels_ref(&encode_labels(labels))
}

#[cfg(test)]
mod tests;
