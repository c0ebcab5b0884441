//! One loop per target: deterministic slots, a scrape per slot (never overlapping, missed
//! slots skipped), the synthetic series, and staleness when the target goes away.

use super::append::{AppendStats, STALE_NAN, Scratch, TargetContext, append_scrape, series_ref};
use super::cache::{MetricSeriesCount, SeriesCache};
use super::http::{FetchError, RequestSettings, fetch, give_back_body};
use super::parse::{Format, MetricType, format_from_content_type};
use crate::config::{ScrapeConfig, ScrapeProtocol};
use crate::http_client::HttpClient;
use crate::remote_write::encode::encode_labels;
use crate::remote_write::metadata::MetricMetadata as FamilyMetadata;
use crate::remote_write::{Sample, SampleSink, SeriesRef};
use crate::targets::Target;
use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// What `/api/v1/targets` shows of a target's scraping.
#[derive(Clone, Debug, Default)]
pub struct TargetStatus {
    /// `None` before the first scrape ("unknown").
    pub up: Option<bool>,
    pub last_error: String,
    /// Start of the last scrape.
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
    /// Series in the last successful scrape, after metric relabeling.
    pub series: u64,
    /// Series in it before metric relabeling.
    pub series_scraped: u64,
}

/// One metric family's metadata as a target exposes it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricMetadata {
    pub metric: String,
    pub kind: super::parse::MetricType,
    pub help: String,
    pub unit: String,
}

/// The latest metadata of a target, replaced whenever it changes.
pub type SharedMetadata = Arc<Mutex<Arc<Vec<MetricMetadata>>>>;

fn publish_metadata(cache: &mut SeriesCache, shared: &SharedMetadata) {
    if !std::mem::take(&mut cache.metadata_changed) {
        return;
    }
    let mut list: Vec<MetricMetadata> = cache
        .metadata
        .iter()
        .map(|(family, m)| MetricMetadata {
            metric: String::from_utf8_lossy(family).into_owned(),
            kind: m.kind,
            help: m.help.clone(),
            unit: m.unit.clone(),
        })
        .collect();
    list.sort();
    *shared.lock() = Arc::new(list);
}

/// A target's series per exposed metric name (scraped > 0, most first), replaced after each
/// scrape that changed them.
pub type SharedSeriesByMetric = Arc<Mutex<Arc<Vec<MetricSeriesCount>>>>;

fn publish_series_by_metric(cache: &mut SeriesCache, shared: &SharedSeriesByMetric) {
    // A scrape of only cache hits changes no count: nothing to build.
    if !std::mem::take(&mut cache.series_by_metric_changed) {
        return;
    }
    *shared.lock() = Arc::new(cache.series_by_metric.clone());
}

/// Everything a loop needs; replaced on reload without losing the cache.
pub struct LoopConfig {
    pub target: Target,
    pub job: Arc<ScrapeConfig>,
    /// The job's client, or why it could not be built (then every scrape fails with it).
    pub client: Result<HttpClient, String>,
    /// Set when the job is over its `target_limit`: every scrape fails with it, no request.
    pub forced_error: Option<String>,
    /// The job's `Accept` header (from its scrape protocols), made once.
    pub accept: Arc<str>,
    /// The job's `scrape_timeout` as its request header, made once.
    pub timeout_header: Arc<str>,
    /// `target.scrape_url` parsed once, or why it does not parse (every scrape fails with it).
    pub url: Result<reqwest::Url, String>,
    /// The job's `body_size_limit` and `label_limit`, or the defaults where it sets none.
    pub body_size_limit: u64,
    pub label_limit: u64,
}

/// How a loop ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Shutdown or a reload that keeps the target: no stale markers.
    Quietly,
    /// The target went away: stale markers after two slots.
    WithStaleness,
}

/// Which slots a loop writes to the sink (DESIGN.md "The ring", handoff). A slot not written
/// is still scraped and appended to the cache (a shadow scrape), so series, staleness and
/// metadata are tracked from the first scrape on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writing {
    All,
    /// Shadow: the previous scraper still writes.
    Nothing,
    /// Slots after this one (the previous scraper's last written slot).
    After(i64),
}

impl Writing {
    pub fn writes(self, slot: i64) -> bool {
        match self {
            Writing::All => true,
            Writing::Nothing => false,
            Writing::After(last) => slot > last,
        }
    }
}

/// A peer takes the target over: the loop finishes the scrape in progress, answers with the
/// last slot it wrote (`None`: it wrote none) and ends without staleness markers.
pub type ReleaseRequest = tokio::sync::oneshot::Sender<Option<i64>>;

/// What the loop shares with the manager about its progress.
#[derive(Debug, Default)]
pub struct LoopProgress {
    /// The last slot scraped (written or shadow), and the last slot written.
    pub last_scraped: Mutex<Option<i64>>,
    pub last_written: Mutex<Option<i64>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The first slot at or after `now`: slots are `k * interval + phase`, phase = key mod interval.
pub fn next_slot(key: u64, interval_ms: i64, now: i64) -> i64 {
    let interval_ms = interval_ms.max(1);
    let phase = (key % interval_ms as u64) as i64;
    let base = (now - phase).div_euclid(interval_ms) * interval_ms + phase;
    if base >= now {
        base
    } else {
        base + interval_ms
    }
}

/// One series the scraper adds to every target: its ref, encoded labels and metadata.
struct SyntheticSeries {
    series: SeriesRef,
    labels: Bytes,
    metadata: Option<Arc<FamilyMetadata>>,
}

impl SyntheticSeries {
    fn sample(&self, timestamp_ms: i64, value_bits: u64, with_metadata: bool) -> Sample {
        Sample {
            series: self.series,
            labels: self.labels.clone(),
            metadata: if with_metadata {
                self.metadata.clone()
            } else {
                None
            },
            timestamp_ms,
            value_bits,
        }
    }
}

struct Synthetic {
    up: SyntheticSeries,
    duration: SyntheticSeries,
    scraped: SyntheticSeries,
    post_relabel: SyntheticSeries,
    added: SyntheticSeries,
    /// `scrape_timeout_seconds`, `scrape_sample_limit`, `scrape_body_size_bytes`.
    extra: Option<[SyntheticSeries; 3]>,
}

/// Type, help and unit of the synthetic series, as Prometheus reports them.
const SYNTHETIC_METADATA: [(&str, &str, &str); 8] = [
    (
        "up",
        "Health of the scrape target. 1 means the target is healthy, 0 if the scrape failed.",
        "targets",
    ),
    (
        "scrape_duration_seconds",
        "Duration of the last scrape in seconds.",
        "seconds",
    ),
    (
        "scrape_samples_scraped",
        "Number of samples last scraped.",
        "samples",
    ),
    (
        "scrape_samples_post_metric_relabeling",
        "Number of samples remaining after metric relabeling was applied.",
        "samples",
    ),
    (
        "scrape_series_added",
        "Number of series in the last scrape.",
        "series",
    ),
    (
        "scrape_timeout_seconds",
        "The configured scrape timeout for a target.",
        "seconds",
    ),
    (
        "scrape_sample_limit",
        "The configured sample limit for a target. Returns zero if there is no limit configured.",
        "samples",
    ),
    (
        "scrape_body_size_bytes",
        "The uncompressed size of the last scrape response, if successful. Scrapes failing because body_size_limit is exceeded report -1, other scrape failures report 0.",
        "bytes",
    ),
];

/// Whether `name` is one of the series the scraper adds to every target (`up`, `scrape_*`).
pub fn is_synthetic(name: &str) -> bool {
    SYNTHETIC_METADATA
        .iter()
        .any(|(synthetic, _, _)| *synthetic == name)
}

/// The metadata of synthetic series `name` (all gauges), shared by every target.
fn synthetic_metadata(name: &str) -> Option<Arc<FamilyMetadata>> {
    static SHARED: std::sync::LazyLock<Vec<Arc<FamilyMetadata>>> = std::sync::LazyLock::new(|| {
        SYNTHETIC_METADATA
            .iter()
            .map(|(family, help, unit)| {
                Arc::new(FamilyMetadata {
                    family: family.to_string(),
                    kind: MetricType::Gauge.remote_write_kind(),
                    help: help.to_string(),
                    unit: unit.to_string(),
                })
            })
            .collect()
    });
    SHARED.iter().find(|m| m.family == name).cloned()
}

impl Synthetic {
    fn new(target: &Target, extra: bool) -> Synthetic {
        let base = target.public_labels();
        let declare = |name: &str| {
            let mut labels = base.clone();
            labels.set("__name__", name);
            SyntheticSeries {
                series: series_ref(&labels),
                labels: encode_labels(&labels),
                metadata: synthetic_metadata(name),
            }
        };
        Synthetic {
            up: declare("up"),
            duration: declare("scrape_duration_seconds"),
            scraped: declare("scrape_samples_scraped"),
            post_relabel: declare("scrape_samples_post_metric_relabeling"),
            added: declare("scrape_series_added"),
            extra: extra.then(|| {
                [
                    declare("scrape_timeout_seconds"),
                    declare("scrape_sample_limit"),
                    declare("scrape_body_size_bytes"),
                ]
            }),
        }
    }

    fn all(&self) -> impl Iterator<Item = &SyntheticSeries> {
        [
            &self.up,
            &self.duration,
            &self.scraped,
            &self.post_relabel,
            &self.added,
        ]
        .into_iter()
        .chain(self.extra.iter().flatten())
    }
}

fn context(config: &LoopConfig) -> TargetContext {
    let job = &config.job;
    TargetContext {
        target_labels: config.target.public_labels(),
        honor_labels: job.honor_labels,
        honor_timestamps: job.honor_timestamps,
        track_timestamps_staleness: job.track_timestamps_staleness,
        metric_relabel_configs: job.metric_relabel_configs.clone(),
        sample_limit: job.sample_limit,
        label_limit: config.label_limit,
        label_name_length_limit: job.label_name_length_limit,
        label_value_length_limit: job.label_value_length_limit,
        validation: job.metric_name_validation_scheme.scheme(),
        encoded_target_labels: Default::default(),
    }
}

fn format_for(content_type: &str, fallback: Option<ScrapeProtocol>) -> Result<Format, String> {
    if let Some(format) = format_from_content_type(content_type) {
        return Ok(format);
    }
    match fallback {
        Some(ScrapeProtocol::OpenMetricsText0_0_1 | ScrapeProtocol::OpenMetricsText1_0_0) => Ok(Format::OpenMetrics),
        Some(ScrapeProtocol::PrometheusText0_0_4 | ScrapeProtocol::PrometheusText1_0_0) => Ok(Format::PrometheusText),
        Some(ScrapeProtocol::PrometheusProto) => Err("the protobuf exposition format is not supported yet".into()),
        None if content_type.trim().is_empty() => Err(
            "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target"
                .into(),
        ),
        None => Err(format!(
            "received unsupported Content-Type {content_type:?} and no fallback_scrape_protocol specified for target"
        )),
    }
}

/// Runs until `stop` says how to end.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    mut config: watch::Receiver<Arc<LoopConfig>>,
    mut stop: watch::Receiver<Option<Stop>>,
    mut writing: watch::Receiver<Writing>,
    mut release: tokio::sync::mpsc::Receiver<ReleaseRequest>,
    sink: Arc<dyn SampleSink>,
    status: Arc<Mutex<TargetStatus>>,
    counters: Arc<super::ScrapeCounters>,
    metadata: SharedMetadata,
    series_by_metric: SharedSeriesByMetric,
    progress: Arc<LoopProgress>,
) {
    let mut current = config.borrow_and_update().clone();
    let mut ctx = context(&current);
    let mut synthetic = Synthetic::new(&current.target, current.job.extra_scrape_metrics);
    let mut cache = SeriesCache::default();
    let key = current.target.key();
    let mut slot = next_slot(
        key,
        current.job.scrape_interval.as_millis() as i64,
        now_ms(),
    );
    let mut last_written_slot: Option<i64> = None;
    // The manager drops its config sender when it stops a loop: a closed config channel must
    // not end the loop before the stop request is handled.
    let mut config_open = true;
    loop {
        let wait = Duration::from_millis((slot - now_ms()).max(0) as u64);
        tokio::select! {
            biased;
            changed = stop.changed() => {
                let how = if changed.is_ok() { *stop.borrow() } else { Some(Stop::Quietly) };
                // Stale markers follow the last written slot: a shadow loop never wrote.
                if how == Some(Stop::WithStaleness) && let Some(last) = last_written_slot {
                    let interval = current.job.scrape_interval.as_millis() as i64;
                    let stale_ts = last + interval;
                    let wait_until = stale_ts + interval + interval / 10;
                    tokio::time::sleep(Duration::from_millis((wait_until - now_ms()).max(0) as u64)).await;
                    let mut scratch = Scratch::take();
                    let _ = append_scrape(&ctx, &mut cache, sink.as_ref(), &mut scratch, None, stale_ts, now_ms());
                    let with_metadata = sink.wants_metadata();
                    for series in synthetic.all() {
                        scratch.batch.push(series.sample(stale_ts, STALE_NAN, with_metadata));
                    }
                    sink.append_owned(&mut scratch.batch);
                    scratch.forget_evicted(sink.as_ref());
                    scratch.give_back();
                }
                return;
            }
            request = release.recv() => {
                if let Some(reply) = request {
                    // Slots up to an `After` bound are covered by the scraper before us.
                    let covered = match *writing.borrow() {
                        Writing::After(bound) => Some(last_written_slot.map_or(bound, |w| w.max(bound))),
                        _ => last_written_slot,
                    };
                    let _ = reply.send(covered);
                    return;
                }
                // The manager is gone: like a quiet stop.
                return;
            }
            changed = config.changed(), if config_open => {
                if changed.is_err() {
                    config_open = false;
                    continue;
                }
                let new = config.borrow_and_update().clone();
                let interval_changed = new.job.scrape_interval != current.job.scrape_interval;
                if new.job.extra_scrape_metrics != current.job.extra_scrape_metrics {
                    synthetic = Synthetic::new(&new.target, new.job.extra_scrape_metrics);
                }
                current = new;
                ctx = context(&current);
                if interval_changed {
                    slot = next_slot(key, current.job.scrape_interval.as_millis() as i64, now_ms());
                }
                continue;
            }
            _ = tokio::time::sleep(wait) => {}
        }
        let write = writing.borrow_and_update().writes(slot);
        scrape_once(
            &current,
            &ctx,
            &synthetic,
            &mut cache,
            sink.as_ref(),
            &status,
            &counters,
            slot,
            write,
        )
        .await;
        publish_metadata(&mut cache, &metadata);
        publish_series_by_metric(&mut cache, &series_by_metric);

        *progress.last_scraped.lock() = Some(slot);
        if write {
            last_written_slot = Some(slot);
            *progress.last_written.lock() = Some(slot);
        }
        let interval = current.job.scrape_interval.as_millis() as i64;
        // Missed slots are skipped, never made up.
        slot = next_slot(key, interval, (slot + interval).max(now_ms()));
    }
}

#[allow(clippy::too_many_arguments)]
async fn scrape_once(
    config: &LoopConfig,
    ctx: &TargetContext,
    synthetic: &Synthetic,
    cache: &mut SeriesCache,
    sink: &dyn SampleSink,
    status: &Mutex<TargetStatus>,
    counters: &super::ScrapeCounters,
    slot: i64,
    write: bool,
) {
    let started = Instant::now();
    let started_wall = SystemTime::now();
    let job = &config.job;
    // On failure: the error and the `scrape_body_size_bytes` value (-1 when over the limit).
    let fetched = match (&config.forced_error, &config.client, &config.url) {
        (Some(error), _, _) | (None, Err(error), _) | (None, Ok(_), Err(error)) => {
            Err((error.clone(), 0))
        }
        (None, Ok(client), Ok(url)) => {
            let settings = RequestSettings {
                accept: &config.accept,
                timeout: job.scrape_timeout.into(),
                timeout_header: &config.timeout_header,
                enable_compression: job.enable_compression,
                body_size_limit: config.body_size_limit,
            };
            fetch(client, url, &settings).await.map_err(|e| {
                counters.record_fetch_error(&e);
                let size = if matches!(e, FetchError::BodyTooLarge(_)) {
                    -1
                } else {
                    0
                };
                (e.to_string(), size)
            })
        }
    };
    let body_size = match &fetched {
        Ok(f) => f.body.len() as i64,
        Err((_, size)) => *size,
    };
    let mut scratch = Scratch::take();
    let scratch = &mut scratch;
    let mut failed_counts = AppendStats::default();
    let result: Result<AppendStats, String> = match fetched {
        Ok(fetched) => {
            let format = if fetched.body.is_empty() {
                Ok(Format::PrometheusText)
            } else {
                format_for(&fetched.content_type, job.fallback_scrape_protocol)
            };
            let appended = match format {
                Ok(format) => append_scrape(
                    ctx,
                    cache,
                    sink,
                    scratch,
                    Some((&fetched.body, format)),
                    slot,
                    now_ms(),
                )
                .map_err(|e| {
                    counters
                        .parse_or_limit_failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    failed_counts = AppendStats {
                        scraped: e.scraped,
                        post_relabel: e.post_relabel,
                        added: e.added,
                        ..AppendStats::default()
                    };
                    e.message
                }),
                Err(message) => {
                    let _ = append_scrape(ctx, cache, sink, scratch, None, slot, now_ms());
                    Err(message)
                }
            };
            give_back_body(fetched.body);
            appended
        }
        Err((message, _)) => {
            let _ = append_scrape(ctx, cache, sink, scratch, None, slot, now_ms());
            Err(message)
        }
    };
    let duration = started.elapsed();
    let (up, stats) = match &result {
        Ok(stats) => (1.0, *stats),
        Err(_) => (0.0, failed_counts),
    };
    let with_metadata = sink.wants_metadata();
    let mut report = |series: &SyntheticSeries, value: f64| {
        scratch
            .batch
            .push(series.sample(slot, value.to_bits(), with_metadata));
    };
    report(&synthetic.up, up);
    report(&synthetic.duration, duration.as_secs_f64());
    report(&synthetic.scraped, stats.scraped as f64);
    report(&synthetic.post_relabel, stats.post_relabel as f64);
    report(&synthetic.added, stats.added as f64);
    if let Some([timeout, limit, size]) = &synthetic.extra {
        report(timeout, job.scrape_timeout.0.as_secs_f64());
        report(limit, job.sample_limit as f64);
        report(
            size,
            if result.is_ok() {
                body_size as f64
            } else {
                body_size.min(0) as f64
            },
        );
    }
    let written = if write { scratch.batch.len() } else { 0 };
    if write {
        sink.append_owned(&mut scratch.batch);
    }
    scratch.forget_evicted(sink);
    counters.record_scrape(&result, &stats, written);
    std::mem::take(scratch).give_back();
    if let Err(error) = &result {
        // As Prometheus logs it ("Scrape failed"), at debug: the error is also on /targets.
        tracing::debug!(scrape_pool = %job.job_name, target = %config.target.scrape_url, %error, "scrape failed");
    }
    let mut status = status.lock();
    status.up = Some(result.is_ok());
    status.last_error = result.as_ref().err().cloned().unwrap_or_default();
    status.last_scrape = Some(started_wall);
    status.last_scrape_duration = duration;
    if result.is_ok() {
        status.series = stats.post_relabel;
        status.series_scraped = stats.scraped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_epoch_anchored_and_phase_is_the_key() {
        // interval 10s, key 12_345 → phase 2_345 ms.
        assert_eq!(next_slot(12_345, 10_000, 0), 2_345);
        assert_eq!(next_slot(12_345, 10_000, 2_345), 2_345);
        assert_eq!(next_slot(12_345, 10_000, 2_346), 12_345);
        assert_eq!(
            next_slot(12_345, 10_000, 1_700_000_000_000),
            1_700_000_002_345
        );
        // The phase depends on the key alone, not on when a replica starts: slots computed
        // at any two moments lie a whole number of intervals apart.
        for now in [1_000_000, 5_000_123, 1_700_000_000_777] {
            assert_eq!(
                (next_slot(7, 15_000, now) - next_slot(7, 15_000, 1_000_000)) % 15_000,
                0
            );
            assert_eq!(next_slot(7, 15_000, now).rem_euclid(15_000), 7);
        }
    }

    #[test]
    fn content_type_and_fallback() {
        assert!(
            format_for("", None)
                .unwrap_err()
                .starts_with("non-compliant scrape target sending blank Content-Type")
        );
        assert_eq!(
            format_for("", Some(ScrapeProtocol::PrometheusText0_0_4)),
            Ok(Format::PrometheusText)
        );
        assert_eq!(
            format_for(
                "application/json",
                Some(ScrapeProtocol::OpenMetricsText1_0_0)
            ),
            Ok(Format::OpenMetrics)
        );
        assert!(format_for("application/json", None).is_err());
    }
}
