//! Appending one scrape as a transaction (spec §4.3–4.6): cache lookups, label merging
//! with the target (`honor_labels`), metric relabeling, limits, timestamps and staleness.

use super::cache::{CacheEntry, MetadataLine, SeriesCache, raw_key};
use super::parse::{Entry, Format, Parser};
use crate::labels::{Labels, ValidationScheme};
use crate::relabel::RelabelConfig;
use crate::remote_write::{Sample, SampleSink, SeriesRef};
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

/// Reused buffers, so a scrape allocates nothing once warmed up.
#[derive(Default)]
pub struct Scratch {
    pub batch: Vec<Sample>,
    seen: HashSet<SeriesRef, super::cache::PassThrough>,
    undo: Vec<(u128, CacheEntry)>,
    forget: Vec<SeriesRef>,
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
    let result = match body {
        Some((bytes, format)) if !bytes.is_empty() => {
            append_body(ctx, cache, sink, scratch, bytes, format, scrape_ts, now_ms)
        }
        _ => Ok(AppendStats::default()),
    };
    match result {
        Ok(stats) => {
            write_stale_markers(cache, scratch, scrape_ts);
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
            write_stale_markers(cache, scratch, scrape_ts);
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
}

impl Scratch {
    /// Tells the sink about series evicted by the last scrape; call after appending its batch
    /// (which may hold their stale markers).
    pub fn forget_evicted(&mut self, sink: &dyn SampleSink) {
        for series in self.forget.drain(..) {
            sink.forget(series);
        }
    }
}

/// Stale markers for series tracked in the last successful scrape and not appended now.
fn write_stale_markers(cache: &mut SeriesCache, scratch: &mut Scratch, scrape_ts: i64) {
    let (previous, current) = (cache.last_success, cache.scrape);
    if previous == 0 {
        return;
    }
    for entry in cache.entries.values_mut() {
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
        entry.last_timestamp = scrape_ts;
        scratch.batch.push(Sample {
            series,
            timestamp_ms: scrape_ts,
            value_bits: STALE_NAN,
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn append_body(
    ctx: &TargetContext,
    cache: &mut SeriesCache,
    sink: &dyn SampleSink,
    scratch: &mut Scratch,
    body: &[u8],
    format: Format,
    scrape_ts: i64,
    now_ms: i64,
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
        let entry = match cache.entries.entry(key) {
            std::collections::hash_map::Entry::Occupied(occupied) => {
                stats.cache_hits += 1;
                occupied.into_mut()
            }
            std::collections::hash_map::Entry::Vacant(vacant) => {
                stats.cache_misses += 1;
                parsed_labels.clear();
                parser
                    .series_labels(&mut parsed_labels)
                    .map_err(|e| fail(e.to_string(), &stats))?;
                let series = series_for(ctx, &parsed_labels).map_err(|m| fail(m, &stats))?;
                // The name as exposed: relabeling may rename or drop the series.
                let name = parsed_labels
                    .iter()
                    .find(|(n, _)| n == "__name__")
                    .map_or("", |(_, v)| v.as_ref());
                if let Some((series, labels)) = &series {
                    let metadata = SeriesCache::series_metadata(
                        &mut cache.metadata,
                        name.as_bytes(),
                        current_family,
                    );
                    sink.series(*series, labels, metadata);
                }
                let metric_name = cache.metric_names.count(name, series.is_some());
                vacant.insert(CacheEntry::new(series.map(|(r, _)| r), metric_name))
            }
        };
        let Some(series) = entry.series() else {
            entry.last_seen = cache.scrape;
            continue;
        };
        stats.post_relabel += 1;
        // New to the cache (entries not seen in a scrape are evicted at its end), counted
        // only while the sample limit holds.
        if entry.last_seen == 0 && (ctx.sample_limit == 0 || stats.post_relabel <= ctx.sample_limit)
        {
            stats.added += 1;
        }
        scratch.undo.push((key, *entry));
        entry.last_seen = cache.scrape;
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
            entry.last_tracked = cache.scrape;
        }
        scratch.batch.push(Sample {
            series,
            timestamp_ms: timestamp,
            value_bits: value.to_bits(),
        });
    }
    if ctx.sample_limit > 0 && stats.post_relabel > ctx.sample_limit {
        return Err(fail("sample limit exceeded".into(), &stats));
    }
    Ok(stats)
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
