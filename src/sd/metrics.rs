//! Error and activity counters of service discovery; `crate::telemetry` exposes them on `/metrics`. Names in the comments are the Prometheus metrics they stand for.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by the discovery manager and its providers.
#[derive(Debug, Default)]
pub struct SdMetrics {
    /// `prometheus_sd_file_read_errors_total`: files that could not be read or parsed.
    pub file_read_errors: AtomicU64,
    /// `prometheus_sd_file_scan_duration_seconds_count`: file discovery refreshes.
    pub file_scans: AtomicU64,
    /// `prometheus_sd_file_watcher_errors_total`: watchers that could not be created or added.
    pub file_watcher_errors: AtomicU64,
    /// `prometheus_sd_http_failures_total`: failed HTTP discovery refreshes.
    pub http_failures: AtomicU64,
    /// `prometheus_sd_dns_lookups_total`: DNS lookups of a configured name.
    pub dns_lookups: AtomicU64,
    /// `prometheus_sd_dns_lookup_failures_total`: lookups that got no viable answer.
    pub dns_lookup_failures: AtomicU64,
    /// `prometheus_sd_refresh_failures_total{mechanism="http"}`.
    pub http_refresh_failures: AtomicU64,
    /// `prometheus_sd_refresh_failures_total{mechanism="dns"}`: refreshes with a failed name.
    pub dns_refresh_failures: AtomicU64,
    /// `prometheus_sd_failed_configs` (a gauge): providers that could not be created at the last apply.
    pub failed_configs: AtomicU64,
    /// `prometheus_sd_received_updates_total`: updates received from providers.
    pub received_updates: AtomicU64,
    /// `prometheus_sd_updates_total`: updates published to subscribers.
    pub sent_updates: AtomicU64,
}

impl SdMetrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
