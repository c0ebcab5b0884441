//! Counters of one remote-write endpoint, all in one place; `crate::telemetry` exposes them on
//! `/metrics`. Names in the comments are the Prometheus metrics they stand for
//! (`prometheus_remote_storage_*`, labelled with `remote_name` and `url`).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Why samples were dropped before being sent (the `reason` label of
/// `prometheus_remote_storage_samples_dropped_total`, plus our own reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The series was dropped by `write_relabel_configs` (`dropped_series`).
    Relabel,
    /// Older than `sample_age_limit` (`too_old`).
    TooOld,
    /// The shard's queue was full: the receiver is slower than the scrapes (ours; Prometheus
    /// blocks instead).
    QueueFull,
    /// Still queued or in flight when the endpoint was stopped and the flush deadline passed.
    Shutdown,
    /// Deleted from a full disk queue (`--storage.remote-write.max-bytes`) before it was sent,
    /// or in a damaged record (ours).
    StorageFull,
}

impl DropReason {
    pub const ALL: [DropReason; 5] = [
        DropReason::Relabel,
        DropReason::TooOld,
        DropReason::QueueFull,
        DropReason::Shutdown,
        DropReason::StorageFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Relabel => "dropped_series",
            DropReason::TooOld => "too_old",
            DropReason::QueueFull => "queue_full",
            DropReason::Shutdown => "shutdown",
            DropReason::StorageFull => "storage_full",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters and gauges of one endpoint. Counters only go up; the gauges say so.
#[derive(Debug, Default)]
pub struct RemoteWriteMetrics {
    /// `prometheus_remote_storage_samples_in_total`: samples handed to this endpoint.
    pub samples_in: AtomicU64,
    /// `prometheus_remote_storage_samples_total`: samples in requests answered with 2xx.
    pub samples_sent: AtomicU64,
    /// `prometheus_remote_storage_samples_failed_total`, split by the final status class:
    /// `[3xx, 4xx, other]` ("other": the request could not be built or had no status).
    pub samples_failed: [AtomicU64; 3],
    /// Final failures per exact HTTP status, counted in requests.
    failed_requests_by_status: Mutex<BTreeMap<u16, u64>>,
    /// Remote write 2.0: samples of 2xx answers that the receiver's
    /// `X-Prometheus-Remote-Write-Samples-Written` header says were not written (also counted
    /// in `samples_failed`, class "other"; P: `updateMetrics`).
    pub samples_not_written: AtomicU64,
    /// `prometheus_remote_storage_samples_retried_total`: samples sent again after a
    /// retryable failure (each retry of a request counts its samples).
    pub samples_retried: AtomicU64,
    /// Requests retried (5xx, transport errors, timeouts, 429 when allowed).
    pub requests_retried: AtomicU64,
    /// Requests answered with 2xx.
    pub requests_sent: AtomicU64,
    /// `prometheus_remote_storage_bytes_total`: compressed bytes of requests answered or
    /// failed for good (not counting retries).
    pub bytes_sent: AtomicU64,
    dropped: [AtomicU64; 6],
    /// `prometheus_remote_storage_samples_pending` (gauge): queued and in-flight samples.
    pub samples_pending: AtomicI64,
    /// `prometheus_remote_storage_shards` (gauge).
    pub shards: AtomicU64,
    /// `prometheus_remote_storage_shards_desired` (gauge), rounded up.
    pub shards_desired: AtomicU64,
    /// `prometheus_remote_storage_shards_min` / `_max` (gauges).
    pub shards_min: AtomicU64,
    pub shards_max: AtomicU64,
    /// `prometheus_remote_storage_shard_capacity` (gauge): samples one shard can queue.
    pub shard_capacity: AtomicU64,
    /// Reshards done.
    pub reshards: AtomicU64,
    /// `prometheus_remote_storage_queue_highest_timestamp_seconds`, in ms (gauge).
    pub highest_timestamp_in_ms: AtomicI64,
    /// `prometheus_remote_storage_queue_highest_sent_timestamp_seconds`, in ms (gauge).
    pub highest_sent_timestamp_ms: AtomicI64,
    /// Samples written to the disk queue because the receiver did not take them at once.
    pub samples_spilled: AtomicU64,
    /// Bytes of the disk queue's segment files (gauge).
    pub disk_bytes: AtomicU64,
    /// Bytes of the requests waiting in the disk queue (gauge).
    pub disk_pending_bytes: AtomicU64,
    /// Oldest sample timestamp of the requests waiting in the disk queue, in ms; 0 when none
    /// waits (gauge).
    pub disk_oldest_pending_timestamp_ms: AtomicI64,
    /// Damaged records met while reading the disk queue (counter).
    pub disk_corrupt_records: AtomicU64,
}

impl RemoteWriteMetrics {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Samples dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()].load(Ordering::Relaxed)
    }

    pub(crate) fn add_dropped(&self, reason: DropReason, n: u64) {
        self.dropped[reason.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// All final failures, in samples.
    pub fn samples_failed_total(&self) -> u64 {
        self.samples_failed.iter().map(Self::get).sum()
    }

    /// Final failures in samples for status class 3 or 4 (`class` = status / 100), or any
    /// other outcome for any other class.
    pub fn samples_failed_class(&self, class: u16) -> u64 {
        Self::get(&self.samples_failed[Self::class_index(class)])
    }

    fn class_index(class: u16) -> usize {
        match class {
            3 => 0,
            4 => 1,
            _ => 2,
        }
    }

    pub(crate) fn add_failed(&self, status: Option<u16>, samples: u64) {
        let class = status.map_or(0, |s| s / 100);
        Self::add(&self.samples_failed[Self::class_index(class)], samples);
        if let Some(status) = status {
            *self
                .failed_requests_by_status
                .lock()
                .entry(status)
                .or_default() += 1;
        }
    }

    /// Requests failed for good, per HTTP status.
    pub fn failed_requests_by_status(&self) -> BTreeMap<u16, u64> {
        self.failed_requests_by_status.lock().clone()
    }

    pub fn pending(&self) -> i64 {
        self.samples_pending.load(Ordering::Relaxed)
    }

    /// Milliseconds since the timestamp of the oldest sample waiting in the disk queue; 0 when
    /// none waits.
    pub fn oldest_pending_age_ms(&self) -> i64 {
        let oldest = self
            .disk_oldest_pending_timestamp_ms
            .load(Ordering::Relaxed);
        if oldest == 0 {
            return 0;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        (now - oldest).max(0)
    }

    pub(crate) fn set_max(gauge: &AtomicI64, v: i64) {
        gauge.fetch_max(v, Ordering::Relaxed);
    }
}

/// An exponentially weighted moving average of a per-second rate, ticked at a fixed interval
/// (P: `storage/remote/ewma.go`).
#[derive(Debug)]
pub(crate) struct EwmaRate {
    new_events: AtomicU64,
    alpha: f64,
    interval: Duration,
    state: Mutex<(f64, bool)>,
}

impl EwmaRate {
    pub fn new(alpha: f64, interval: Duration) -> Self {
        EwmaRate {
            new_events: AtomicU64::new(0),
            alpha,
            interval,
            state: Mutex::new((0.0, false)),
        }
    }

    pub fn incr(&self, n: u64) {
        self.new_events.fetch_add(n, Ordering::Relaxed);
    }

    pub fn interval_ms(&self) -> i64 {
        self.interval.as_millis() as i64
    }

    pub fn rate(&self) -> f64 {
        self.state.lock().0
    }

    /// Called every `interval`.
    pub fn tick(&self) {
        let events = self.new_events.swap(0, Ordering::Relaxed);
        let instant = events as f64 / self.interval.as_secs_f64();
        let mut state = self.state.lock();
        if state.1 {
            state.0 += self.alpha * (instant - state.0);
        } else if events > 0 {
            *state = (instant, true);
        }
    }
}
