//! Appending one scrape as a transaction (spec §4.3–4.6): cache lookups, label merging
//! with the target (`honor_labels`), metric relabeling, limits, timestamps and staleness.

use super::cache::{CacheEntry, LabelSource, MetadataLine, SeriesCache, raw_key};
use super::parse::{Entry, Format, Parser};
use crate::labels::{Labels, ValidationScheme};
use crate::relabel::RelabelConfig;
use crate::remote_write::encode::{encode_labels, put_label};
use crate::remote_write::encode_v2::LabelPairs;
use crate::remote_write::{Sample, SampleSink, SeriesRef};
use bytes::{Bytes, BytesMut};
use std::borrow::Cow;
use std::collections::HashSet;

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
    seen: HashSet<SeriesRef, super::cache::PassThrough>,
    undo: Vec<(u128, CacheEntry)>,
    forget: Vec<SeriesRef>,
    /// Labels written this scrape (derived, and stale markers' from the records), split off
    /// per sample.
    arena: BytesMut,
    /// The derived series seen this scrape in body order: their labels and keys, from which
    /// the records are rebuilt when they moved.
    records: Vec<Bytes>,
    record_keys: Vec<u128>,
    /// A derived series seen now has no record, or another one than its position now.
    records_moved: bool,
    records_buf: Vec<u8>,
}

static SCRATCH_POOL: parking_lot::Mutex<Vec<Scratch>> = parking_lot::Mutex::new(Vec::new());

impl Scratch {
    /// A scratch from the pool (or a new one); give it back with [`Scratch::give_back`].
    pub fn take() -> Scratch {
        SCRATCH_POOL.lock().pop().unwrap_or_default()
    }

    /// Returns this scratch to the pool, emptied but keeping its capacity.
    pub fn give_back(mut self) {
        self.batch.clear();
        self.records.clear();
        SCRATCH_POOL.lock().push(self);
    }

    /// Tells the sink about series evicted by the last scrape; call after appending its batch
    /// (which may hold their stale markers).
    pub fn forget_evicted(&mut self, sink: &dyn SampleSink) {
        for series in self.forget.drain(..) {
            sink.forget(series);
        }
    }

    /// Labels written into the arena since the last split, as their own bytes.
    fn split_labels(&mut self) -> Bytes {
        self.arena.split().freeze()
    }

    fn reserve_labels(&mut self, len: usize) {
        if self.arena.capacity() - self.arena.len() < len {
            self.arena.reserve(len.max(ARENA_CHUNK));
        }
    }

    /// Pushes a sample for `series` with `labels`.
    pub fn push(&mut self, series: SeriesRef, labels: Bytes, timestamp_ms: i64, value_bits: u64) {
        self.batch.push(Sample {
            series,
            labels,
            metadata: None,
            timestamp_ms,
            value_bits,
        });
    }
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
    scratch.batch.clear();
    scratch.seen.clear();
    scratch.undo.clear();
    scratch.records.clear();
    scratch.record_keys.clear();
    scratch.records_moved = false;
    let with_metadata = sink.wants_metadata();
    let result = match body {
        Some((bytes, format)) if !bytes.is_empty() => append_body(
            ctx,
            cache,
            scratch,
            bytes,
            format,
            scrape_ts,
            now_ms,
            with_metadata,
        ),
        _ => Ok(AppendStats::default()),
    };
    match result {
        Ok(stats) => {
            write_stale_markers(cache, scratch, scrape_ts, with_metadata);
            if scratch.records_moved || scratch.records.len() != cache.records.count() as usize {
                rebuild_records(cache, scratch);
            }
            finish_scrape(cache, scratch);
            Ok(stats)
        }
        Err(error) => {
            // Roll back what the failed scrape appended; the entries it saw stay cached.
            for (key, before) in scratch.undo.drain(..) {
                if let Some(entry) = cache.entries.get_mut(&key) {
                    entry.last_timestamp = before.last_timestamp;
                    entry.last_tracked = before.last_tracked;
                }
            }
            scratch.batch.clear();
            scratch.seen.clear();
            // A failed scrape counts as an empty one for staleness: every series of the last
            // successful scrape gets one stale marker, later failures add none.
            write_stale_markers(cache, scratch, scrape_ts, with_metadata);
            finish_scrape(cache, scratch);
            Err(error)
        }
    }
}

fn finish_scrape(cache: &mut SeriesCache, scratch: &mut Scratch) {
    cache.last_success = cache.scrape;
    cache.evict_metadata();
    scratch.forget.clear();
    cache.evict(&mut scratch.forget);
    scratch.records.clear();
}

/// Makes this scrape's derived labels the records, and points each series at its own.
fn rebuild_records(cache: &mut SeriesCache, scratch: &mut Scratch) {
    cache
        .records
        .rebuild(&scratch.records, &mut scratch.records_buf);
    for (index, key) in scratch.record_keys.iter().enumerate() {
        if let Some(entry) = cache.entries.get_mut(key) {
            entry.set_record(index as u32);
        }
    }
}

/// Stale markers for series tracked in the last successful scrape and not appended now.
fn write_stale_markers(
    cache: &mut SeriesCache,
    scratch: &mut Scratch,
    scrape_ts: i64,
    with_metadata: bool,
) {
    let (previous, current) = (cache.last_success, cache.scrape);
    if previous == 0 {
        return;
    }
    let SeriesCache {
        entries,
        stored,
        records,
        metadata,
        ..
    } = cache;
    let mut opened = None;
    for entry in entries.values_mut() {
        let Some(series) = entry.series() else {
            continue;
        };
        if entry.last_tracked != previous || entry.last_tracked == current {
            continue;
        }
        // Out-of-order stale markers are not written; a series appended now is not stale.
        if entry.last_timestamp >= scrape_ts || !scratch.seen.insert(series) {
            continue;
        }
        let labels = match entry.labels() {
            LabelSource::Stored(index) => stored.get(index).clone(),
            LabelSource::Derived(record) => {
                let open = opened.get_or_insert_with(|| records.open());
                // Every series tracked by a successful scrape has a record (see
                // `append_scrape`); without one there are no labels to mark.
                let Some(encoded) = record.and_then(|r| open.get(r)) else {
                    debug_assert!(false, "a tracked derived series without a record");
                    continue;
                };
                scratch.reserve_labels(encoded.len());
                scratch.arena.extend_from_slice(encoded);
                scratch.split_labels()
            }
        };
        entry.last_timestamp = scrape_ts;
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
        let SeriesCache {
            entries,
            stored,
            metric_names,
            metadata,
            scrape,
            ..
        } = cache;
        // This series' labels when the miss below derived them already.
        let mut derived_now = None;
        let entry = match entries.entry(key) {
            std::collections::hash_map::Entry::Occupied(occupied) => {
                stats.cache_hits += 1;
                occupied.into_mut()
            }
            std::collections::hash_map::Entry::Vacant(vacant) => {
                stats.cache_misses += 1;
                parser
                    .series_labels(&mut parsed_labels)
                    .map_err(|e| fail(e.to_string(), &stats))?;
                let series = series_for(ctx, &parsed_labels).map_err(|m| fail(m, &stats))?;
                // The name as exposed: relabeling may rename or drop the series.
                let name = parsed_labels
                    .iter()
                    .find(|(n, _)| n == "__name__")
                    .map_or("", |(_, v)| v.as_ref());
                let metric_name = metric_names.count(name, series.is_some());
                let (series, source) = match series {
                    None => (None, LabelSource::Derived(None)),
                    Some((series, labels)) => {
                        let encoded = encode_labels(&labels);
                        // Derived labels are trusted only where they equal what the full
                        // path gives for these very bytes.
                        derive_labels(ctx, &parsed_labels, scratch);
                        let source = if scratch.arena[..] == encoded[..] {
                            derived_now = Some(scratch.split_labels());
                            LabelSource::Derived(None)
                        } else {
                            scratch.arena.clear();
                            LabelSource::Stored(stored.insert(encoded))
                        };
                        (Some(series), source)
                    }
                };
                vacant.insert(CacheEntry::new(series, metric_name, source))
            }
        };
        let Some(series) = entry.series() else {
            entry.last_seen = *scrape;
            continue;
        };
        let labels = match entry.labels() {
            LabelSource::Stored(index) => stored.get(index).clone(),
            LabelSource::Derived(record) => {
                let labels = match derived_now {
                    Some(labels) => labels,
                    None => {
                        parser
                            .series_labels(&mut parsed_labels)
                            .map_err(|e| fail(e.to_string(), &stats))?;
                        derive_labels(ctx, &parsed_labels, scratch);
                        scratch.split_labels()
                    }
                };
                if record != Some(scratch.records.len() as u32) {
                    scratch.records_moved = true;
                }
                scratch.records.push(labels.clone());
                scratch.record_keys.push(key);
                labels
            }
        };
        stats.post_relabel += 1;
        // New to the cache (entries not seen in a scrape are evicted at its end), counted
        // only while the sample limit holds.
        if entry.last_seen == 0 && (ctx.sample_limit == 0 || stats.post_relabel <= ctx.sample_limit)
        {
            stats.added += 1;
        }
        scratch.undo.push((key, *entry));
        entry.last_seen = *scrape;
        if timestamp > now_ms + MAX_FUTURE_MS {
            stats.dropped_too_new += 1;
            continue;
        }
        if timestamp <= entry.last_timestamp || (!explicit_ts && !scratch.seen.insert(series)) {
            stats.dropped_out_of_order += 1;
            continue;
        }
        entry.last_timestamp = timestamp;
        if !explicit_ts || ctx.track_timestamps_staleness {
            entry.last_tracked = *scrape;
        }
        let family_metadata = if with_metadata {
            parser
                .series_name()
                .and_then(|name| SeriesCache::series_metadata(metadata, name, current_family))
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
    // Room for the whole label set, so it is rarely copied to a new chunk half written.
    let len: usize = exposed.iter().map(|(n, v)| n.len() + v.len() + 6).sum();
    scratch.reserve_labels(len + 256);
    let arena = &mut scratch.arena;
    let mut target = ctx.target_labels.iter().peekable();
    for (name, value) in exposed {
        while let Some((target_name, target_value)) =
            target.next_if(|(target_name, _)| *target_name < name.as_ref())
        {
            put_label(arena, target_name.as_bytes(), target_value.as_bytes());
        }
        if let Some((_, target_value)) =
            target.next_if(|(target_name, _)| *target_name == name.as_ref())
        {
            let value = if ctx.honor_labels {
                value.as_ref()
            } else {
                target_value
            };
            put_label(arena, name.as_bytes(), value.as_bytes());
            continue;
        }
        put_label(arena, name.as_bytes(), value.as_bytes());
    }
    for (name, value) in target {
        put_label(arena, name.as_bytes(), value.as_bytes());
    }
}

/// The series ref and final labels for newly seen exposed labels, `None` when metric
/// relabeling drops it; an error fails the whole scrape.
fn series_for(
    ctx: &TargetContext,
    parsed: &[(Cow<'_, str>, Cow<'_, str>)],
) -> Result<Option<(SeriesRef, Labels)>, String> {
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
    Ok(Some((series_ref(&labels), labels)))
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

/// The ref of a final label set: xxh3 of `name 0xff value 0xff` pairs, so every target and
/// every replica gives one series the same ref.
pub fn series_ref(labels: &Labels) -> SeriesRef {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    Labels::hash_into(labels.iter(), &mut hasher);
    hasher.digest()
}

#[cfg(test)]
mod tests;
