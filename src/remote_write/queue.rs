//! The queue manager of one endpoint: its current shard set, resharding, and stopping
//! (P: `queue_manager.go` `QueueManager`, `calculateDesiredShards`, `shouldReshard`).

use super::Sample;
use super::metrics::{DropReason, EwmaRate, RemoteWriteMetrics};
use super::send::Sender;
use super::shard::{Core, QueueParams, ShardSet, unix_ms};
use super::spool::{Spool, run_reader};
use crate::config::RemoteWriteConfig;
use crate::config::http::redact_url;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Weight of the newest interval in the rate averages (P: `ewmaWeight`).
const EWMA_WEIGHT: f64 = 0.2;
/// A reshard happens only when the desired count leaves this band around the current one.
const SHARD_TOLERANCE_FRACTION: f64 = 0.3;

pub(crate) struct QueueManager {
    core: Arc<Core>,
    min_shards: usize,
    max_shards: usize,
    current: RwLock<Arc<ShardSet>>,
    reshard_task: Mutex<Option<JoinHandle<()>>>,
    cancel: watch::Sender<bool>,
    /// With a disk queue: tells its reader to finish once everything is sent, and whether it
    /// has exited.
    reader: Option<(watch::Sender<bool>, watch::Receiver<bool>)>,
}

impl QueueManager {
    /// Starts the queue with `min_shards` shards, and a disk queue reader when there is a
    /// `spool`. When `after` is given (the done signal of a queue this one replaces), nothing
    /// is sent before that queue has finished.
    pub fn start(
        config: &RemoteWriteConfig,
        sender: Sender,
        metrics: Arc<RemoteWriteMetrics>,
        shard_update_interval: Duration,
        after: Option<watch::Receiver<bool>>,
        spool: Option<Arc<Spool>>,
    ) -> Arc<QueueManager> {
        let q = &config.queue_config;
        let params = QueueParams {
            capacity: q.capacity as usize,
            max_samples_per_send: q.max_samples_per_send as usize,
            batch_send_deadline: q.batch_send_deadline.0,
            min_backoff: q.min_backoff.0,
            max_backoff: q.max_backoff.0,
            sample_age_limit: (!q.sample_age_limit.is_zero()).then_some(q.sample_age_limit.0),
        };
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let ewma = || EwmaRate::new(EWMA_WEIGHT, shard_update_interval);
        let core = Arc::new(Core {
            name: config.name.clone(),
            url: redact_url(&config.url),
            params,
            sender,
            metrics,
            cancel: cancel_rx,
            data_in: ewma(),
            data_dropped: ewma(),
            data_out: ewma(),
            data_out_duration: ewma(),
            last_send_ms: AtomicI64::new(unix_ms(SystemTime::now())),
            reshard_disabled_until_ms: AtomicI64::new(0),
            spool,
            stopping: AtomicBool::new(false),
        });
        let min_shards = q.min_shards.max(1) as usize;
        let max_shards = (q.max_shards as usize).max(min_shards);
        let reader = core.spool.as_ref().map(|spool| {
            let (drain_tx, drain_rx) = watch::channel(false);
            let (exited_tx, exited_rx) = watch::channel(false);
            let (core, spool, after) = (Arc::clone(&core), Arc::clone(spool), after.clone());
            tokio::spawn(async move {
                run_reader(core, spool, after, drain_rx).await;
                exited_tx.send_replace(true);
            });
            (drain_tx, exited_rx)
        });
        let set = Arc::new(ShardSet::new(min_shards, &core.params, after));
        let m = &core.metrics;
        m.shards.store(min_shards as u64, Ordering::Relaxed);
        m.shards_desired.store(min_shards as u64, Ordering::Relaxed);
        m.shards_min.store(min_shards as u64, Ordering::Relaxed);
        m.shards_max.store(max_shards as u64, Ordering::Relaxed);
        m.shard_capacity
            .store(set.shard_capacity() as u64, Ordering::Relaxed);
        set.spawn(&core);
        let manager = Arc::new(QueueManager {
            core,
            min_shards,
            max_shards,
            current: RwLock::new(set),
            reshard_task: Mutex::new(None),
            cancel: cancel_tx,
            reader,
        });
        if min_shards < max_shards {
            let weak = Arc::downgrade(&manager);
            let task = tokio::spawn(async move {
                let mut ticker = tokio::time::interval(shard_update_interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticker.tick().await;
                loop {
                    ticker.tick().await;
                    let Some(manager) = weak.upgrade() else {
                        return;
                    };
                    manager.update_shards();
                }
            });
            *manager.reshard_task.lock() = Some(task);
        }
        manager
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    pub fn metrics(&self) -> &Arc<RemoteWriteMetrics> {
        &self.core.metrics
    }

    /// The current shards, for enqueuing a scrape's samples; a reshard waits for the guard.
    pub fn shards(&self) -> RwLockReadGuard<'_, Arc<ShardSet>> {
        self.current.read()
    }

    /// Queues one scrape's samples on `shards` (a guard from [`Self::shards`]); `room` is
    /// [`ShardSet::room`] taken before the scrape's first sample; `at_most` bounds how many
    /// `entries` yields (counted pending up front, so the gauge never goes below zero).
    pub fn enqueue_scrape(
        &self,
        shards: &ShardSet,
        room: &[bool],
        at_most: usize,
        entries: impl Iterator<Item = Sample>,
    ) {
        let metrics = &self.core.metrics;
        metrics
            .samples_pending
            .fetch_add(at_most as i64, Ordering::Relaxed);
        let oldest_ok = self
            .core
            .params
            .sample_age_limit
            .map(|limit| unix_ms(SystemTime::now()) - limit.as_millis() as i64);
        let (mut yielded, mut too_old, mut highest) = (0usize, 0u64, i64::MIN);
        let entries = entries.inspect(|_| yielded += 1).filter(|entry| {
            if oldest_ok.is_some_and(|oldest_ok| entry.timestamp_ms < oldest_ok) {
                too_old += 1;
                return false;
            }
            highest = highest.max(entry.timestamp_ms);
            true
        });
        let queue_full = shards.enqueue_all(entries, room);
        debug_assert!(yielded <= at_most);
        if highest > i64::MIN {
            RemoteWriteMetrics::set_max(&metrics.highest_timestamp_in_ms, highest);
        }
        let not_queued = at_most - yielded.min(at_most) + too_old as usize + queue_full;
        if not_queued > 0 {
            metrics
                .samples_pending
                .fetch_sub(not_queued as i64, Ordering::Relaxed);
        }
        if too_old > 0 {
            self.dropped(DropReason::TooOld, too_old);
        }
        if queue_full > 0 {
            metrics.add_dropped(DropReason::QueueFull, queue_full as u64);
        }
    }

    /// Counts samples handed to this endpoint (P: `samplesIn`).
    pub fn samples_in(&self, n: u64) {
        RemoteWriteMetrics::add(&self.core.metrics.samples_in, n);
        self.core.data_in.incr(n);
    }

    /// Counts samples not sent because of their series (relabel-dropped or unknown).
    pub fn dropped(&self, reason: DropReason, n: u64) {
        self.core.metrics.add_dropped(reason, n);
        if reason != DropReason::QueueFull {
            self.core.data_dropped.incr(n);
        }
    }

    /// Replaces the shards with `n` new ones. The old ones flush first, so order holds.
    /// False when a previous reshard is still flushing.
    pub fn reshard(&self, n: usize) -> bool {
        let n = n.clamp(1, self.max_shards.max(1));
        let mut current = self.current.write();
        if !current.previous_finished() {
            return false;
        }
        let new = Arc::new(ShardSet::new(n, &self.core.params, Some(current.done())));
        new.spawn(&self.core);
        let old = std::mem::replace(&mut *current, new);
        drop(current);
        old.close();
        let m = &self.core.metrics;
        m.shards.store(n as u64, Ordering::Relaxed);
        RemoteWriteMetrics::add(&m.reshards, 1);
        tracing::info!(remote_name = %self.core.name, url = %self.core.url, from = old.len(), to = n, "remote storage resharding");
        true
    }

    /// One step of the reshard loop (P: `updateShardsLoop`).
    fn update_shards(&self) {
        let core = &self.core;
        core.data_out.tick();
        core.data_dropped.tick();
        core.data_out_duration.tick();
        core.data_in.tick();
        let current = self.current.read().len();
        let m = &core.metrics;
        let inputs = ShardInputs {
            current,
            min: self.min_shards,
            max: self.max_shards,
            data_in_rate: core.data_in.rate(),
            data_out_rate: core.data_out.rate(),
            data_dropped_rate: core.data_dropped.rate(),
            data_out_duration_rate: core.data_out_duration.rate() / 1e9,
            highest_recv_s: (m.highest_timestamp_in_ms.load(Ordering::Relaxed) / 1000) as f64,
            highest_sent_s: (m.highest_sent_timestamp_ms.load(Ordering::Relaxed) / 1000) as f64,
        };
        let (desired, raw) = desired_shards(&inputs);
        if let Some(raw) = raw {
            m.shards_desired
                .store(raw.ceil().max(0.0) as u64, Ordering::Relaxed);
        }
        if desired == current {
            return;
        }
        // P: `shouldReshard`: not when nothing was sent since the last check, nor while
        // retrying.
        let now = unix_ms(SystemTime::now());
        let interval_ms = core.data_in.interval_ms();
        if core.last_send_ms.load(Ordering::Relaxed) < now - interval_ms {
            tracing::warn!(remote_name = %core.name, url = %core.url, "skipping resharding, last successful send was beyond threshold");
            return;
        }
        if now < core.reshard_disabled_until_ms.load(Ordering::Relaxed) {
            tracing::warn!(remote_name = %core.name, url = %core.url, "skipping resharding, resharding is disabled while waiting for recoverable errors");
            return;
        }
        if !self.reshard(desired) {
            tracing::info!(remote_name = %core.name, url = %core.url, "currently resharding, skipping");
        }
    }

    /// Becomes true once this queue has finished: its shards and its disk queue reader (a
    /// replacing queue waits for it).
    pub fn done(&self) -> watch::Receiver<bool> {
        let shards_done = self.current.read().done();
        let Some((_, reader_exited)) = &self.reader else {
            return shards_done;
        };
        let (tx, rx) = watch::channel(false);
        let (mut a, mut b) = (shards_done, reader_exited.clone());
        tokio::spawn(async move {
            let _ = a.wait_for(|d| *d).await;
            let _ = b.wait_for(|d| *d).await;
            tx.send_replace(true);
        });
        rx
    }

    /// Stops taking samples and sends what is queued for up to `flush_deadline`; then
    /// abandons the rest: what is in memory is counted as `dropped{reason="shutdown"}`, what
    /// is in the disk queue stays there for the next start. With a disk queue, memory batches
    /// go there at once. Returns once every task has exited.
    pub async fn stop(&self, flush_deadline: Duration) {
        if let Some(task) = self.reshard_task.lock().take() {
            task.abort();
        }
        self.core.stopping.store(true, Ordering::Release);
        let set = Arc::clone(&*self.current.read());
        set.close();
        let deadline = tokio::time::Instant::now() + flush_deadline;
        let mut done = set.done();
        let mut in_time = tokio::time::timeout_at(deadline, done.wait_for(|d| *d))
            .await
            .is_ok();
        if let Some((drain, exited)) = &self.reader {
            drain.send_replace(true);
            let mut exited = exited.clone();
            in_time = in_time
                && tokio::time::timeout_at(deadline, exited.wait_for(|d| *d))
                    .await
                    .is_ok();
        }
        if !in_time {
            self.cancel.send_replace(true);
            let _ = done.wait_for(|d| *d).await;
            if let Some((_, exited)) = &self.reader {
                let _ = exited.clone().wait_for(|d| *d).await;
            }
        }
        debug_assert!(set.is_done());
    }
}

impl QueueManager {
    /// Stops at once: nothing more is sent, what is queued is dropped (counted).
    pub fn abandon(&self) {
        if let Some(task) = self.reshard_task.lock().take() {
            task.abort();
        }
        self.current.read().close();
        self.cancel.send_replace(true);
    }
}

impl Drop for QueueManager {
    fn drop(&mut self) {
        if let Some(task) = self.reshard_task.get_mut().take() {
            task.abort();
        }
    }
}

/// What the desired shard count is computed from.
#[derive(Clone, Debug)]
pub(crate) struct ShardInputs {
    pub current: usize,
    pub min: usize,
    pub max: usize,
    /// Samples per second handed to the endpoint.
    pub data_in_rate: f64,
    /// Samples per second sent (including final failures).
    pub data_out_rate: f64,
    /// Samples per second dropped by relabeling or for unknown series.
    pub data_dropped_rate: f64,
    /// Seconds spent sending per second.
    pub data_out_duration_rate: f64,
    pub highest_recv_s: f64,
    pub highest_sent_s: f64,
}

/// P: `calculateDesiredShards`: the shard count to move to (the current one when no change is
/// due), and the unrounded estimate when there was one.
pub(crate) fn desired_shards(i: &ShardInputs) -> (usize, Option<f64>) {
    if i.data_out_rate <= 0.0 {
        return (i.current, None);
    }
    let kept_ratio = i.data_out_rate / (i.data_dropped_rate + i.data_out_rate);
    let delay = i.highest_recv_s - i.highest_sent_s;
    let pending = delay * i.data_in_rate * kept_ratio;
    // When behind, catch up on 5% of the backlog per second.
    let backlog_catchup = 0.05 * pending;
    let time_per_sample = i.data_out_duration_rate / i.data_out_rate;
    let desired = time_per_sample * (i.data_in_rate * kept_ratio + backlog_catchup);
    let lower = i.current as f64 * (1.0 - SHARD_TOLERANCE_FRACTION);
    let upper = i.current as f64 * (1.0 + SHARD_TOLERANCE_FRACTION);
    let rounded = desired.ceil();
    if lower <= rounded && rounded <= upper {
        return (i.current, Some(desired));
    }
    let mut n = if rounded.is_finite() && rounded > 0.0 {
        rounded as usize
    } else {
        0
    };
    // Do not downshard when more than ten seconds behind.
    if n < i.current && delay > 10.0 {
        return (i.current, Some(desired));
    }
    n = n.clamp(i.min, i.max);
    (n, Some(desired))
}
