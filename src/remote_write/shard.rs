//! A set of shards: bounded per-shard queues of samples and the task that batches, encodes and
//! sends each of them (P: `queue_manager.go` `shards`, `queue`, `runShard`).
//!
//! Queue policy. A sample goes to shard `series % shards`, so one series is always sent by one
//! task, in order. Each shard holds one partial batch plus
//! `max(1, capacity / max_samples_per_send)` full batches waiting to be sent, that is about
//! `capacity + max_samples_per_send` samples, plus the batch in flight. One scrape is taken
//! whole: a shard that had room when a scrape's samples started arriving ([`ShardSet::room`])
//! takes all of them, however many, so a target with more series than `capacity` is never cut.
//! Scrapes that end together while the task is sending or waits for a CPU arrive as a burst: a
//! shard already full still takes them up to [`BURST_CAPACITY_FACTOR`] × its capacity, so
//! bursts are absorbed and only a shard that stays behind loses samples. (With 1 shard and the
//! default capacity of 10,000, two 10,000-series scrapes ending together dropped 2.7% of a
//! million-series load when a full shard took nothing more.) Enqueuing never waits: beyond
//! that bound new samples are dropped, counted as `dropped{reason="queue_full"}`.
//! (Prometheus blocks instead, which back-pressures its WAL reader; scrapes must never wait
//! for the network. Dropping the newest samples keeps what is queued in order.) With a disk
//! queue ([`super::spool`]) a shard sends a batch directly only while nothing waits on disk,
//! and otherwise appends it there, so it only fills when the disk cannot keep up.
//!
//! Ordering across a reshard: a new set is created and takes all new samples at once, but its
//! tasks send nothing until every task of the set before it has exited, and those exit only
//! once their queues are empty (or at a hard shutdown). So every sample of a series queued
//! before the reshard is sent before any queued after it.

use super::Sample;
use super::disk::DiskQueueError;
use super::encode::RequestEncoder;
use super::encode_v2::RequestEncoderV2;
use super::metrics::{DropReason, EwmaRate, RemoteWriteMetrics};
use super::send::{Outcome, Sender, Written};
use super::spool::{RecordMeta, Spool, blocking};
use crate::config::remote_write::ProtobufMessage;
use crate::pool::Pool;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// How many times its capacity a shard holds for scrapes that arrive together while it is full.
pub(crate) const BURST_CAPACITY_FACTOR: usize = 4;

/// Settings of one endpoint's sending, from its `queue_config`.
#[derive(Clone, Debug)]
pub(crate) struct QueueParams {
    pub capacity: usize,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub sample_age_limit: Option<Duration>,
}

/// What the send tasks of an endpoint share.
pub(crate) struct Core {
    pub name: String,
    pub url: String,
    pub params: QueueParams,
    pub sender: Sender,
    pub metrics: Arc<RemoteWriteMetrics>,
    /// Becomes true for a hard shutdown: in-flight requests are abandoned, queues dropped.
    pub cancel: watch::Receiver<bool>,
    pub data_in: EwmaRate,
    pub data_dropped: EwmaRate,
    pub data_out: EwmaRate,
    /// Nanoseconds spent sending.
    pub data_out_duration: EwmaRate,
    /// Unix ms of the last finished send (success or final failure).
    pub last_send_ms: AtomicI64,
    /// Unix ms until which resharding is off because a send is being retried.
    pub reshard_disabled_until_ms: AtomicI64,
    /// The disk queue, when there is a storage path.
    pub spool: Option<Arc<Spool>>,
    /// The endpoint is stopping: batches go to the disk queue without a direct attempt.
    pub stopping: AtomicBool,
}

pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct ShardState {
    partial: Vec<Sample>,
    full: VecDeque<Vec<Sample>>,
    /// Emptied batches for reuse.
    pool: Vec<Vec<Sample>>,
    /// No more samples come; send what is left without waiting for the deadline, then exit.
    closing: bool,
}

struct Shard {
    state: Mutex<ShardState>,
    wake: Notify,
}

/// The shards of one endpoint between two reshards.
pub(crate) struct ShardSet {
    shards: Box<[Shard]>,
    max_batch: usize,
    max_full: usize,
    /// Full batches a shard may hold for scrapes that found it without room.
    max_burst_full: usize,
    /// Tasks still running; the last one to exit sets `done`.
    running: AtomicUsize,
    done: watch::Sender<bool>,
    /// The set before this one: its tasks must all have exited before this set sends.
    previous_done: Option<watch::Receiver<bool>>,
    /// Names this set in disk queue records: unique per set and process run.
    pub generation: u64,
}

/// A number no other shard set of this or an earlier run of the process has.
fn fresh_generation() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = [0u8; 28];
    seed[..16].copy_from_slice(&nanos.to_le_bytes());
    seed[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    seed[20..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&seed)
}

impl ShardSet {
    pub fn new(
        shards: usize,
        params: &QueueParams,
        previous_done: Option<watch::Receiver<bool>>,
    ) -> ShardSet {
        let max_batch = params.max_samples_per_send.max(1);
        let max_full = (params.capacity / max_batch).max(1);
        ShardSet {
            max_burst_full: max_full * BURST_CAPACITY_FACTOR,
            shards: (0..shards.max(1))
                .map(|_| Shard {
                    state: Mutex::new(ShardState {
                        partial: Vec::new(),
                        full: VecDeque::new(),
                        pool: Vec::new(),
                        closing: false,
                    }),
                    wake: Notify::new(),
                })
                .collect(),
            max_batch,
            max_full,
            running: AtomicUsize::new(0),
            done: watch::channel(false).0,
            previous_done,
            generation: fresh_generation(),
        }
    }

    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Samples one shard can hold (full batches plus the partial one).
    pub fn shard_capacity(&self) -> usize {
        (self.max_full + 1) * self.max_batch
    }

    /// Which shards have room now: call once before queuing one scrape's samples, so each
    /// shard that had room takes all of that scrape's samples ([`Self::enqueue`]).
    pub fn room(&self) -> Vec<bool> {
        self.shards
            .iter()
            .map(|shard| {
                let state = shard.state.lock();
                !state.closing && state.full.len() < self.max_full
            })
            .collect()
    }

    /// Queues `entry` on its series' shard; false when that shard is closed, or full and had
    /// no room when this scrape started (`room`, from [`Self::room`]).
    #[cfg(test)]
    pub fn enqueue(&self, entry: Sample, room: &[bool]) -> bool {
        self.enqueue_all(std::iter::once(entry), room) == 0
    }

    /// Queues one scrape's `entries` in order, each as [`Self::enqueue`] would; returns how
    /// many were not taken. A shard's lock is held over each run of entries for it (a whole
    /// scrape with one shard), not taken per sample.
    pub fn enqueue_all(&self, entries: impl Iterator<Item = Sample>, room: &[bool]) -> usize {
        let shards = self.shards.len() as u64;
        let mut rejected = 0;
        let mut entries = entries.peekable();
        while let Some(first) = entries.next() {
            let index = shard_index(first.series, shards);
            let shard = &self.shards[index];
            let had_room = room.get(index).copied().unwrap_or(false);
            let mut published = false;
            let mut state = shard.state.lock();
            let mut next = Some(first);
            while let Some(entry) = next {
                if !self.push_locked(&mut state, entry, had_room, &mut published) {
                    rejected += 1;
                }
                next = entries.next_if(|e| shard_index(e.series, shards) == index);
            }
            drop(state);
            if published {
                shard.wake.notify_one();
            }
        }
        rejected
    }

    /// Adds `entry` to a locked shard's partial batch, publishing full ones; false when the
    /// shard is closed or beyond what it may hold.
    fn push_locked(
        &self,
        state: &mut ShardState,
        entry: Sample,
        had_room: bool,
        published: &mut bool,
    ) -> bool {
        if state.closing {
            return false;
        }
        if state.partial.len() >= self.max_batch {
            if state.full.len() >= self.max_burst_full && !had_room {
                return false;
            }
            Self::publish(state, self.max_batch);
            *published = true;
        }
        state.partial.push(entry);
        if state.partial.len() == self.max_batch
            && (state.full.len() < self.max_burst_full || had_room)
        {
            Self::publish(state, self.max_batch);
            *published = true;
        }
        true
    }

    fn publish(state: &mut ShardState, max_batch: usize) {
        let next = state
            .pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(max_batch));
        let batch = std::mem::replace(&mut state.partial, next);
        state.full.push_back(batch);
    }

    /// Stops taking samples; the tasks send what is queued at once and exit.
    pub fn close(&self) {
        for shard in self.shards.iter() {
            shard.state.lock().closing = true;
            shard.wake.notify_one();
        }
    }

    /// A receiver that becomes true when every task of this set has exited.
    pub fn done(&self) -> watch::Receiver<bool> {
        self.done.subscribe()
    }

    pub fn is_done(&self) -> bool {
        *self.done.borrow()
    }

    /// Whether the set before this one has finished (no reshard runs while one is flushing).
    pub fn previous_finished(&self) -> bool {
        self.previous_done.as_ref().is_none_or(|rx| *rx.borrow())
    }

    /// Starts one task per shard.
    pub fn spawn(self: &Arc<Self>, core: &Arc<Core>) {
        self.running.store(self.shards.len(), Ordering::SeqCst);
        for index in 0..self.shards.len() {
            let set = Arc::clone(self);
            let core = Arc::clone(core);
            tokio::spawn(async move {
                let _exit = ExitGuard(Arc::clone(&set));
                run_shard(&core, &set, index).await;
            });
        }
    }

    /// What shard `index` queues, oldest first.
    #[cfg(test)]
    pub fn queued(&self, index: usize) -> Vec<Sample> {
        let state = self.shards[index].state.lock();
        state
            .full
            .iter()
            .flatten()
            .chain(&state.partial)
            .cloned()
            .collect()
    }

    /// Takes what the shard still queues (for a hard shutdown).
    fn drain(&self, index: usize) -> usize {
        let mut state = self.shards[index].state.lock();
        let n = state.partial.len() + state.full.iter().map(Vec::len).sum::<usize>();
        state.partial = Vec::new();
        state.full.clear();
        state.closing = true;
        n
    }
}

/// Marks a task's exit, also on panic.
struct ExitGuard(Arc<ShardSet>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.done.send_replace(true);
        }
    }
}

enum Next {
    Batch(Vec<Sample>),
    Wait,
    Exit,
}

/// Resolves when a hard shutdown was asked for (never, if the sender side is gone).
pub(crate) async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn run_shard(core: &Arc<Core>, set: &ShardSet, index: usize) {
    let mut cancel = core.cancel.clone();
    let shard = &set.shards[index];
    if let Some(previous) = &set.previous_done {
        let mut previous = previous.clone();
        tokio::select! {
            // An error means the previous set is gone, and with it all its tasks.
            _ = previous.wait_for(|d| *d) => {}
            _ = cancelled(&mut cancel) => {}
        }
    }
    let deadline_after = core.params.batch_send_deadline;
    let mut deadline = Instant::now() + deadline_after;
    loop {
        if *cancel.borrow() {
            let n = set.drain(index);
            shutdown_drop(core, n);
            return;
        }
        let next = {
            let mut state = shard.state.lock();
            if let Some(batch) = state.full.pop_front() {
                Next::Batch(batch)
            } else if !state.partial.is_empty()
                && (state.closing
                    || state.partial.len() >= set.max_batch
                    || Instant::now() >= deadline)
            {
                let fresh = state.pool.pop().unwrap_or_default();
                Next::Batch(std::mem::replace(&mut state.partial, fresh))
            } else if state.closing {
                Next::Exit
            } else {
                if Instant::now() >= deadline {
                    deadline = Instant::now() + deadline_after;
                }
                Next::Wait
            }
        };
        match next {
            Next::Batch(mut batch) => {
                let lane = (set.generation, index as u32);
                let sent = send_batch(core, &mut batch, &mut cancel, lane).await;
                if !sent {
                    // Cancelled in flight: the batch was counted as dropped.
                    continue;
                }
                batch.clear();
                let mut state = shard.state.lock();
                if state.pool.len() <= set.max_full {
                    state.pool.push(batch);
                }
                deadline = Instant::now() + deadline_after;
            }
            Next::Exit => return,
            Next::Wait => {
                tokio::select! {
                    _ = shard.wake.notified() => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = cancelled(&mut cancel) => {}
                }
            }
        }
    }
}

fn shutdown_drop(core: &Core, n: usize) {
    if n > 0 {
        core.metrics.add_dropped(DropReason::Shutdown, n as u64);
        core.metrics
            .samples_pending
            .fetch_sub(n as i64, Ordering::Relaxed);
        tracing::error!(remote_name = %core.name, url = %core.url, count = n, "failed to flush all samples on shutdown");
    }
}

/// Removes samples older than `sample_age_limit`; true when some were removed.
fn drop_too_old(core: &Core, batch: &mut Vec<Sample>) -> bool {
    let Some(limit) = core.params.sample_age_limit else {
        return false;
    };
    let oldest_ok = unix_ms(SystemTime::now()) - limit.as_millis() as i64;
    let before = batch.len();
    batch.retain(|e| e.timestamp_ms >= oldest_ok);
    let removed = before - batch.len();
    if removed > 0 {
        core.metrics.add_dropped(DropReason::TooOld, removed as u64);
        core.metrics
            .samples_pending
            .fetch_sub(removed as i64, Ordering::Relaxed);
        core.data_dropped.incr(removed as u64);
    }
    removed > 0
}

/// Sends one batch (P: `sendSamplesWithBackoff`): with a disk queue, directly when nothing
/// waits there, else (or when the receiver does not take it now) appended to it; without one,
/// retried in memory until answered for good. False when a hard shutdown abandoned it.
async fn send_batch(
    core: &Core,
    batch: &mut Vec<Sample>,
    cancel: &mut watch::Receiver<bool>,
    lane: (u64, u32),
) -> bool {
    let started = std::time::Instant::now();
    drop_too_old(core, batch);
    if batch.is_empty() {
        return true;
    }
    let mut body = match encode(core.sender.message(), batch) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(remote_name = %core.name, url = %core.url, %error, "cannot encode remote write request");
            core.metrics.add_failed(None, batch.len() as u64);
            finish(core, batch.len() as u64, None, started);
            return true;
        }
    };
    let highest = batch.iter().map(|e| e.timestamp_ms).max();
    if let Some(spool) = &core.spool {
        let lowest = batch.iter().map(|e| e.timestamp_ms).min().unwrap_or(0);
        let meta = RecordMeta {
            message: core.sender.message(),
            generation: lane.0,
            shard: lane.1,
            samples: batch.len() as u32,
            min_timestamp_ms: lowest,
            max_timestamp_ms: highest.unwrap_or(0),
            attempts: 0,
        };
        // Encoded: the samples' label arenas can go before the request does.
        batch.clear();
        return send_or_spill(core, spool, meta, body, cancel, started).await;
    }
    let mut samples = batch.len() as u64;
    // Only a retry that drops samples too old to send re-encodes from the batch.
    let keep_batch = core.params.sample_age_limit.is_some();
    if !keep_batch {
        batch.clear();
    }
    let answer = send_until_answered(core, &mut body, &mut samples, 0, cancel, |body, samples| {
        if drop_too_old(core, batch) {
            *samples = batch.len() as u64;
            if batch.is_empty() {
                return false;
            }
            match encode(core.sender.message(), batch) {
                Ok(b) => *body = b,
                Err(error) => {
                    tracing::error!(remote_name = %core.name, url = %core.url, %error, "cannot encode remote write request");
                    core.metrics.add_failed(None, batch.len() as u64);
                    batch.clear();
                    return false;
                }
            }
        }
        true
    })
    .await;
    match answer {
        Answer::Cancelled => {
            shutdown_drop(core, samples as usize);
            false
        }
        Answer::GaveUp => {
            finish(core, samples, None, started);
            true
        }
        Answer::Answered(outcome) => {
            let highest = if keep_batch {
                batch.iter().map(|e| e.timestamp_ms).max()
            } else {
                highest
            };
            settle(core, outcome, samples, body.len());
            finish(core, samples, highest, started);
            true
        }
    }
}

/// The disk-queue path of [`send_batch`]: one direct attempt while nothing waits on disk (and
/// the endpoint is not stopping), else, or when that attempt is to be retried, an append to the
/// disk queue, itself retried with backoff while the disk fails.
async fn send_or_spill(
    core: &Core,
    spool: &Arc<Spool>,
    mut meta: RecordMeta,
    body: Bytes,
    cancel: &mut watch::Receiver<bool>,
    started: std::time::Instant,
) -> bool {
    let n = u64::from(meta.samples);
    if !core.stopping.load(Ordering::Acquire) && spool.pending_records() == 0 {
        let outcome = tokio::select! {
            outcome = core.sender.attempt(body.clone(), 0) => outcome,
            _ = cancelled(cancel) => {
                shutdown_drop(core, n as usize);
                return false;
            }
        };
        match outcome {
            Outcome::Retry { error, .. } => {
                tracing::warn!(remote_name = %core.name, url = %core.url, %error, "failed to send batch, queueing it on disk");
                meta.attempts = 1;
                RemoteWriteMetrics::add(&core.metrics.requests_retried, 1);
                RemoteWriteMetrics::add(&core.metrics.samples_retried, n);
            }
            answered => {
                settle(core, answered, n, body.len());
                finish(core, n, Some(meta.max_timestamp_ms), started);
                return true;
            }
        }
    }
    let mut backoff = core.params.min_backoff;
    loop {
        let (spool_for_append, body_for_append) = (Arc::clone(spool), body.clone());
        let metrics = Arc::clone(&core.metrics);
        let appended = blocking(spool, move |_| {
            spool_for_append.append(&meta, &body_for_append, &metrics)
        })
        .await;
        match appended {
            Ok(_) => return true,
            Err(error @ DiskQueueError::RecordTooLarge { .. }) => {
                tracing::error!(remote_name = %core.name, url = %core.url, %error, samples = n, "request larger than the disk queue, dropped");
                core.metrics.add_dropped(DropReason::StorageFull, n);
                finish(core, n, None, started);
                return true;
            }
            Err(error) => {
                tracing::error!(remote_name = %core.name, url = %core.url, %error, retry_in = ?backoff, "cannot write to the disk queue, retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = cancelled(cancel) => {
                        shutdown_drop(core, n as usize);
                        return false;
                    }
                }
                backoff = (backoff * 2).min(core.params.max_backoff);
            }
        }
    }
}

/// How [`send_until_answered`] ended.
pub(crate) enum Answer {
    /// 2xx or a final error (never [`Outcome::Retry`]).
    Answered(Outcome),
    /// The `before_retry` hook said to stop.
    GaveUp,
    /// A hard shutdown.
    Cancelled,
}

/// Sends `body` until the receiver answers for good: a retryable failure waits for
/// `Retry-After` or the backoff (doubling from `min_backoff` to `max_backoff`), and resharding
/// is off meanwhile (P: `sendWriteRequestWithBackoff`). After each wait `before_retry` may
/// replace the body and its sample count, or return false to give up. `attempts_before`:
/// attempts already made (the first one here sends it as `Retry-Attempt` when not 0).
pub(crate) async fn send_until_answered(
    core: &Core,
    body: &mut Bytes,
    samples: &mut u64,
    attempts_before: u32,
    cancel: &mut watch::Receiver<bool>,
    mut before_retry: impl FnMut(&mut Bytes, &mut u64) -> bool,
) -> Answer {
    let metrics = &core.metrics;
    let mut backoff = core.params.min_backoff;
    let mut attempt = attempts_before;
    loop {
        let outcome = tokio::select! {
            outcome = core.sender.attempt(body.clone(), attempt) => outcome,
            _ = cancelled(cancel) => return Answer::Cancelled,
        };
        let Outcome::Retry { retry_after, error } = outcome else {
            return Answer::Answered(outcome);
        };
        let sleep = retry_after.unwrap_or(backoff);
        // Never reshard while retrying: more shards would make it worse.
        let until = unix_ms(SystemTime::now()) + 2 * sleep.as_millis() as i64;
        core.reshard_disabled_until_ms
            .fetch_max(until, Ordering::Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = cancelled(cancel) => return Answer::Cancelled,
        }
        tracing::warn!(remote_name = %core.name, url = %core.url, %error, retry_in = ?sleep, "failed to send batch, retrying");
        RemoteWriteMetrics::add(&metrics.requests_retried, 1);
        RemoteWriteMetrics::add(&metrics.samples_retried, *samples);
        backoff = (sleep * 2).min(core.params.max_backoff);
        attempt += 1;
        if !before_retry(body, samples) {
            return Answer::GaveUp;
        }
    }
}

/// Counts a final answer to a request of `n` samples and `body_len` bytes: 2xx (for 2.0 as
/// far as the Written headers confirm it) or a final error.
pub(crate) fn settle(core: &Core, outcome: Outcome, n: u64, body_len: usize) {
    let metrics = &core.metrics;
    RemoteWriteMetrics::add(&metrics.bytes_sent, body_len as u64);
    match outcome {
        Outcome::Sent { status, written } => {
            let accepted = match core.sender.message() {
                ProtobufMessage::V1 => Some(n),
                ProtobufMessage::V2 => check_written(core, n, written),
            };
            match accepted {
                Some(accepted) => {
                    RemoteWriteMetrics::add(&metrics.samples_sent, accepted);
                    RemoteWriteMetrics::add(&metrics.requests_sent, 1);
                }
                None => metrics.add_failed(Some(status), n),
            }
        }
        Outcome::Failed { status, error } => {
            tracing::error!(remote_name = %core.name, url = %core.url, samples = n, %error, "non-recoverable error, dropping the batch");
            metrics.add_failed(status, n);
        }
        Outcome::Retry { .. } => debug_assert!(false, "a retry is not a final answer"),
    }
}

/// The remote write 2.0 check of a 2xx answer to a request of `n` samples (P: `queue_manager.go`
/// `sendV2SamplesWithBackoff`, `updateMetrics`): how many samples count as sent, the shortfall
/// being counted as failed; `None` when nothing was written by the Written headers (missing or
/// all zero), which is a final error: the receiver probably speaks only remote write 1.0.
fn check_written(core: &Core, n: u64, written: Written) -> Option<u64> {
    if n == 0 {
        return Some(0);
    }
    if written.nothing() {
        tracing::error!(
            remote_name = %core.name,
            url = %core.url,
            samples = n,
            headers_present = written.confirmed,
            "got 2xx, but the X-Prometheus-Remote-Write-*-Written headers say nothing was written; receiver probably speaks only remote write 1.0, dropping the batch"
        );
        return None;
    }
    if written.samples < n {
        let missing = n - written.samples;
        core.metrics.add_failed(None, missing);
        RemoteWriteMetrics::add(&core.metrics.samples_not_written, missing);
        tracing::error!(
            remote_name = %core.name,
            url = %core.url,
            samples = n,
            written = written.samples,
            "got 2xx, but the receiver says some samples were not written"
        );
    }
    Some(written.samples.min(n))
}

/// `series % shards`, without a 64-bit division per sample in the usual case of one shard.
#[inline]
fn shard_index(series: u64, shards: u64) -> usize {
    if shards == 1 {
        0
    } else {
        (series % shards) as usize
    }
}

/// Encoders hold buffers the size of the largest request they wrote. A request is encoded
/// without waiting, so as many are in use as the runtime has worker threads: pooled, not one
/// per shard (up to `max_shards` of them).
static ENCODERS_V1: Pool<RequestEncoder> = Pool::new(8);
static ENCODERS_V2: Pool<RequestEncoderV2> = Pool::new(8);

fn encode(message: ProtobufMessage, batch: &[Sample]) -> Result<Bytes, snap::Error> {
    match message {
        ProtobufMessage::V1 => ENCODERS_V1.with(|encoder| {
            encoder
                .encode_compressed(batch.iter())
                .map(Bytes::copy_from_slice)
        }),
        ProtobufMessage::V2 => {
            ENCODERS_V2.with(|encoder| encoder.encode_compressed(batch).map(Bytes::copy_from_slice))
        }
    }
}

/// Bookkeeping once `n` samples are done with, whatever the outcome; `highest` is their newest
/// timestamp when they count as sent.
pub(crate) fn finish(core: &Core, n: u64, highest: Option<i64>, started: std::time::Instant) {
    core.metrics
        .samples_pending
        .fetch_sub(n as i64, Ordering::Relaxed);
    core.data_out.incr(n);
    core.data_out_duration
        .incr(started.elapsed().as_nanos() as u64);
    core.last_send_ms
        .store(unix_ms(SystemTime::now()), Ordering::Relaxed);
    if let Some(highest) = highest {
        RemoteWriteMetrics::set_max(&core.metrics.highest_sent_timestamp_ms, highest);
    }
}
