//! Scraping: one loop per target, HTTP, parsing, the series cache, metric relabeling,
//! limits, staleness and the synthetic series.

pub mod append;
pub mod cache;
pub mod gzip;
pub mod http;
pub mod manager;
pub mod parse;
pub mod scrape_loop;

pub use cache::MetricSeriesCount;
pub use manager::Manager;
pub use scrape_loop::TargetStatus;

use append::AppendStats;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bounds applied to jobs that set none (`body_size_limit: 0`, `label_limit: 0`), so that a
/// hostile or broken target fails its scrape with a clear error instead of taking the memory
/// of every other target: a compression bomb inflates to the body bound at most, and a series
/// with thousands of labels is refused. Set by `--scrape.default-body-size-limit` and
/// `--scrape.default-label-limit`; 0 keeps Prometheus' "no limit".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScrapeDefaults {
    pub body_size_limit: u64,
    pub label_limit: u64,
}

impl ScrapeDefaults {
    /// 256 MiB: above the largest real expositions (kube-state-metrics of a big cluster is
    /// tens of MiB); a job that needs more sets its own `body_size_limit`.
    pub const BODY_SIZE_LIMIT: u64 = 256 << 20;
    /// Real series have tens of labels.
    pub const LABEL_LIMIT: u64 = 1000;

    /// What a job with `body_size_limit` and `label_limit` (0: unset) gets.
    pub fn apply(&self, body_size_limit: u64, label_limit: u64) -> (u64, u64) {
        let or = |set: u64, default: u64| if set == 0 { default } else { set };
        (
            or(body_size_limit, self.body_size_limit),
            or(label_limit, self.label_limit),
        )
    }
}

impl Default for ScrapeDefaults {
    fn default() -> Self {
        ScrapeDefaults {
            body_size_limit: Self::BODY_SIZE_LIMIT,
            label_limit: Self::LABEL_LIMIT,
        }
    }
}

#[cfg(test)]
mod defaults_tests {
    use super::ScrapeDefaults;

    #[test]
    fn a_job_without_a_limit_gets_the_default_and_one_with_its_own_keeps_it() {
        let defaults = ScrapeDefaults::default();
        assert_eq!(defaults.apply(0, 0), (256 << 20, 1000));
        assert_eq!(defaults.apply(1 << 20, 30), (1 << 20, 30));
        let none = ScrapeDefaults {
            body_size_limit: 0,
            label_limit: 0,
        };
        assert_eq!(none.apply(0, 0), (0, 0));
    }
}

/// Counters of all loops, exposed by `crate::telemetry`.
#[derive(Debug, Default)]
pub struct ScrapeCounters {
    pub scrapes: AtomicU64,
    pub failed_request: AtomicU64,
    pub failed_timeout: AtomicU64,
    pub failed_status: AtomicU64,
    pub failed_body_size_limit: AtomicU64,
    pub failed_gzip: AtomicU64,
    /// Parse errors, limit errors and unsupported content types.
    pub parse_or_limit_failures: AtomicU64,
    pub samples_appended: AtomicU64,
    pub samples_out_of_order: AtomicU64,
    pub samples_too_new: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
}

impl ScrapeCounters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn record_fetch_error(&self, error: &http::FetchError) {
        let counter = match error.reason() {
            "request" => &self.failed_request,
            "timeout" => &self.failed_timeout,
            "status" => &self.failed_status,
            "body_size_limit" => &self.failed_body_size_limit,
            _ => &self.failed_gzip,
        };
        Self::add(counter, 1);
    }

    pub fn record_scrape(
        &self,
        result: &Result<AppendStats, String>,
        stats: &AppendStats,
        written: usize,
    ) {
        Self::add(&self.scrapes, 1);
        Self::add(&self.samples_appended, written as u64);
        if result.is_ok() {
            Self::add(&self.samples_out_of_order, stats.dropped_out_of_order);
            Self::add(&self.samples_too_new, stats.dropped_too_new);
            Self::add(&self.cache_hits, stats.cache_hits);
            Self::add(&self.cache_misses, stats.cache_misses);
        }
    }
}
