//! Spilling to the disk queue: requests the receiver does not take at once wait on disk under
//! `--storage.path` and are replayed from there (the disk queue itself is [`super::disk`]).
//!
//! - Memory fast path: while nothing waits on disk, a shard sends its encoded batch directly.
//!   A batch the receiver does not take now (5xx, 429 when retried, timeout, unreachable) is
//!   appended to the disk queue instead of being retried in memory, and from then on every
//!   shard appends its batches there until the reader has delivered all of them. A shard sends
//!   directly only when none of its earlier batches waits, so each series' batches reach the
//!   receiver in the order they were made, across spills, replays and restarts.
//! - Records: a [`RECORD_HEADER_LEN`]-byte header (format, shard set, shard, sample count,
//!   oldest and newest timestamp) and the compressed request as it would have been sent, so a
//!   replay never re-encodes.
//! - The reader sends with one lane per shard of the set that wrote a record: a set's shards
//!   hold disjoint series, so one shard's records go one at a time, in order, and shards go in
//!   parallel. A record of a later set (a reshard, a reload, a restart) waits until every record
//!   of the set before is done.
//! - Acknowledgements reach the checkpoint at most once per [`ACK_EVERY`], and at exit: after a
//!   crash up to that much of delivered requests is delivered again (same samples twice, which
//!   receivers accept).
//! - Full queue: the disk queue deletes its oldest segments; the samples of records deleted
//!   before they were read count as `dropped{reason="storage_full"}`.

use super::disk::{DiskQueue, DiskQueueError, DiskQueueOptions, OpenReport};
use super::metrics::{DropReason, RemoteWriteMetrics};
use super::send::Outcome;
use super::shard::{Answer, Core, cancelled, finish, send_until_answered, settle, unix_ms};
use crate::config::remote_write::ProtobufMessage;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// Bytes before the request in a record.
pub(crate) const RECORD_HEADER_LEN: usize = 35;
const RECORD_MAGIC: u8 = 0xB1;
/// Longest time a delivered record waits before the checkpoint says so.
pub(crate) const ACK_EVERY: Duration = Duration::from_secs(1);
/// Records the reader holds in memory (read, waiting for or in their lane), and their bytes.
const READ_AHEAD_RECORDS: usize = 256;
const READ_AHEAD_BYTES: usize = 32 << 20;

/// Where and how the disk queues of the endpoints live.
#[derive(Clone, Debug)]
pub struct SpoolOptions {
    /// Each endpoint gets a directory below this one.
    pub dir: PathBuf,
    pub disk: DiskQueueOptions,
}

/// What a record says about the request it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordMeta {
    pub message: ProtobufMessage,
    /// The shard set that encoded it (unique per set and process).
    pub generation: u64,
    /// The shard of that set.
    pub shard: u32,
    pub samples: u32,
    pub min_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
    /// Attempts made before it was written (the next one's `Retry-Attempt`).
    pub attempts: u8,
}

impl RecordMeta {
    /// The record: this header, then `body`.
    pub fn payload(&self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_HEADER_LEN + body.len());
        out.push(RECORD_MAGIC);
        out.push(match self.message {
            ProtobufMessage::V1 => 1,
            ProtobufMessage::V2 => 2,
        });
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.shard.to_le_bytes());
        out.extend_from_slice(&self.samples.to_le_bytes());
        out.extend_from_slice(&self.min_timestamp_ms.to_le_bytes());
        out.extend_from_slice(&self.max_timestamp_ms.to_le_bytes());
        out.push(self.attempts);
        out.extend_from_slice(body);
        out
    }

    /// The header of a record; `None` when it is not one of ours.
    pub fn decode(payload: &[u8]) -> Option<RecordMeta> {
        let header = payload.get(..RECORD_HEADER_LEN)?;
        if header[0] != RECORD_MAGIC {
            return None;
        }
        let message = match header[1] {
            1 => ProtobufMessage::V1,
            2 => ProtobufMessage::V2,
            _ => return None,
        };
        let u32_at = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().expect("8 bytes"));
        Some(RecordMeta {
            message,
            generation: u64_at(2),
            shard: u32_at(10),
            samples: u32_at(14),
            min_timestamp_ms: u64_at(18) as i64,
            max_timestamp_ms: u64_at(26) as i64,
            attempts: header[34],
        })
    }
}

/// A record read back: its id, header and the request to send.
pub(crate) struct Record {
    pub id: u64,
    pub meta: RecordMeta,
    pub body: Bytes,
}

/// A record on disk not yet done with.
#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    id: u64,
    samples: u32,
    bytes: u32,
    min_timestamp_ms: i64,
    done: bool,
}

struct SpoolState {
    disk: DiskQueue,
    /// Records on disk that may still have to be sent, ascending ids; done ones leave from the
    /// front.
    index: VecDeque<IndexEntry>,
    pending_bytes: u64,
    pending_samples: u64,
    last_ack: Instant,
    /// The endpoint whose counters the spool reports to and whose `samples_pending` counts
    /// `pending_samples`: the one whose reader runs, or before any reader has taken over, the
    /// first one that appended (its reader is the one to come). None before either.
    metrics: Option<Arc<RemoteWriteMetrics>>,
}

/// One endpoint's disk queue with what the sender needs around it. Every method does file I/O
/// under a lock: call them from blocking tasks ([`blocking`]).
pub(crate) struct Spool {
    dir: PathBuf,
    fsync_every: Duration,
    state: Mutex<SpoolState>,
    /// Records appended and not done: the shards send directly only when this is 0.
    pending_records: AtomicU64,
    appended: Notify,
    /// Held by the running reader: one reader at a time, even when an endpoint removed by a
    /// reload is still flushing as it comes back.
    reader_slot: tokio::sync::Mutex<()>,
}

/// Runs `f` on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    spool: &Arc<Spool>,
    f: impl FnOnce(&Spool) -> T + Send + 'static,
) -> T {
    let spool = Arc::clone(spool);
    match tokio::task::spawn_blocking(move || f(&spool)).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down.
        Err(_) => std::future::pending().await,
    }
}

impl Spool {
    /// Opens (or creates) the queue in `dir` and indexes the records still to send.
    pub fn open(dir: &Path, options: DiskQueueOptions) -> Result<(Spool, OpenReport), String> {
        let fsync_every = options.fsync_every;
        let (mut disk, report) =
            DiskQueue::open(dir, options).map_err(|e| format!("cannot open the queue: {e}"))?;
        let mut index = VecDeque::new();
        loop {
            match disk.next() {
                Ok(Some((id, payload))) => {
                    let entry = match RecordMeta::decode(&payload) {
                        Some(meta) => IndexEntry {
                            id,
                            samples: meta.samples,
                            bytes: payload.len() as u32,
                            min_timestamp_ms: meta.min_timestamp_ms,
                            done: false,
                        },
                        None => {
                            tracing::error!(dir = %dir.display(), id, "disk queue record without a valid header, skipped");
                            IndexEntry {
                                id,
                                samples: 0,
                                bytes: 0,
                                min_timestamp_ms: 0,
                                done: true,
                            }
                        }
                    };
                    index.push_back(entry);
                }
                Ok(None) => break,
                Err(e @ DiskQueueError::Corrupt { .. }) => {
                    tracing::error!(dir = %dir.display(), error = %e, "damaged disk queue record");
                }
                Err(e) => return Err(format!("cannot read the queue: {e}")),
            }
        }
        disk.rewind()
            .map_err(|e| format!("cannot read the queue: {e}"))?;
        let mut state = SpoolState {
            disk,
            index,
            pending_bytes: 0,
            pending_samples: 0,
            last_ack: Instant::now(),
            metrics: None,
        };
        for entry in state.index.iter().filter(|e| !e.done) {
            state.pending_bytes += u64::from(entry.bytes);
            state.pending_samples += u64::from(entry.samples);
        }
        state.pop_done();
        let pending = state.index.iter().filter(|e| !e.done).count() as u64;
        Ok((
            Spool {
                dir: dir.to_path_buf(),
                fsync_every,
                state: Mutex::new(state),
                pending_records: AtomicU64::new(pending),
                appended: Notify::new(),
                reader_slot: tokio::sync::Mutex::new(()),
            },
            report,
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records appended and not yet done (sent, failed for good or dropped).
    pub fn pending_records(&self) -> u64 {
        self.pending_records.load(Ordering::Acquire)
    }

    /// Samples in those records.
    pub fn pending_samples(&self) -> u64 {
        self.state.lock().pending_samples
    }

    /// A new reader takes over: counters go to `metrics` (which then counts the pending
    /// samples), and reading restarts at the first record not done.
    pub fn take_over(&self, metrics: Arc<RemoteWriteMetrics>) -> Result<(), DiskQueueError> {
        let mut state = self.state.lock();
        state.count_in(&metrics);
        state.disk.rewind()?;
        // Records read by the reader before and deleted by the size bound since: gone.
        let oldest = state.disk.oldest_id();
        let gone = self.drop_entries(&mut state, |e| e.id < oldest);
        if gone > 0 {
            tracing::warn!(dir = %self.dir.display(), records = gone, "disk queue records deleted by the size bound before they were sent");
        }
        state.update_gauges();
        Ok(())
    }

    /// Appends a request of `meta.samples` samples, counted in `from.samples_pending` (the
    /// appending endpoint's); once appended they are counted by the spool's endpoint.
    pub fn append(
        &self,
        meta: &RecordMeta,
        body: &[u8],
        from: &Arc<RemoteWriteMetrics>,
    ) -> Result<u64, DiskQueueError> {
        let payload = meta.payload(body);
        let mut state = self.state.lock();
        if state.metrics.is_none() {
            // The reader starts concurrently with the shards and may not have taken over yet.
            state.count_in(from);
        }
        let oldest_before = state.disk.oldest_id();
        let read_next = state.disk.next_id() - state.disk.stats().unread_records;
        let result = state.disk.append(&payload);
        let oldest = state.disk.oldest_id();
        if oldest > oldest_before {
            // Deleted for room: what the reader had not read yet is lost; what it holds is
            // still sent.
            let lost = self.drop_entries(&mut state, |e| e.id < oldest && e.id >= read_next);
            if lost > 0 {
                tracing::warn!(dir = %self.dir.display(), records = lost, "disk queue full, deleted the oldest requests");
            }
        }
        let id = result;
        if let Ok(id) = id {
            state.index.push_back(IndexEntry {
                id,
                samples: meta.samples,
                bytes: payload.len() as u32,
                min_timestamp_ms: meta.min_timestamp_ms,
                done: false,
            });
            state.pending_bytes += payload.len() as u64;
            state.pending_samples += u64::from(meta.samples);
            self.pending_records.fetch_add(1, Ordering::AcqRel);
            let n = u64::from(meta.samples);
            if let Some(to) = &state.metrics
                && !Arc::ptr_eq(to, from)
            {
                from.samples_pending.fetch_sub(n as i64, Ordering::Relaxed);
                to.samples_pending.fetch_add(n as i64, Ordering::Relaxed);
            }
            RemoteWriteMetrics::add(&from.samples_spilled, n);
        }
        state.update_gauges();
        drop(state);
        if id.is_ok() {
            self.appended.notify_one();
        }
        id
    }

    /// Marks the entries `which` selects done, counting their samples as dropped for lack of
    /// room; returns how many there were.
    fn drop_entries(&self, state: &mut SpoolState, which: impl Fn(&IndexEntry) -> bool) -> u64 {
        let mut records = 0;
        let mut samples = 0;
        let mut bytes = 0;
        for entry in state.index.iter_mut() {
            if !entry.done && which(entry) {
                entry.done = true;
                records += 1;
                samples += u64::from(entry.samples);
                bytes += u64::from(entry.bytes);
            }
        }
        if records > 0 {
            state.pending_samples -= samples;
            state.pending_bytes -= bytes;
            self.pending_records.fetch_sub(records, Ordering::AcqRel);
            if let Some(metrics) = &state.metrics {
                metrics.add_dropped(DropReason::StorageFull, samples);
                metrics
                    .samples_pending
                    .fetch_sub(samples as i64, Ordering::Relaxed);
            }
            state.pop_done();
        }
        records
    }

    /// Up to `max` records not done yet, in id order, stopping after `max_bytes`. Damaged
    /// records are skipped (logged).
    pub fn read(&self, max: usize, max_bytes: usize) -> Result<Vec<Record>, DiskQueueError> {
        let mut state = self.state.lock();
        let mut records = Vec::new();
        let mut bytes = 0;
        while records.len() < max && bytes < max_bytes {
            match state.disk.next() {
                Ok(Some((id, payload))) => {
                    let Some(position) = state.position(id) else {
                        continue;
                    };
                    if state.index[position].done {
                        continue;
                    }
                    bytes += payload.len();
                    match RecordMeta::decode(&payload) {
                        Some(meta) => records.push(Record {
                            id,
                            meta,
                            body: Bytes::from(payload).slice(RECORD_HEADER_LEN..),
                        }),
                        None => {
                            tracing::error!(dir = %self.dir.display(), id, "disk queue record without a valid header, skipped");
                            self.drop_entries(&mut state, |e| e.id == id);
                        }
                    }
                }
                Ok(None) => break,
                Err(DiskQueueError::Corrupt {
                    path,
                    id,
                    offset,
                    reason,
                    skipped,
                }) => {
                    tracing::error!(path = %path.display(), id, offset, reason, records = skipped, "damaged disk queue records skipped");
                    let end = id + skipped;
                    self.drop_entries(&mut state, |e| e.id >= id && e.id < end);
                }
                Err(e) => {
                    if records.is_empty() {
                        return Err(e);
                    }
                    break;
                }
            }
        }
        state.update_gauges();
        Ok(records)
    }

    /// Record `id` is done with (sent, or failed for good).
    pub fn complete(&self, id: u64) {
        let mut state = self.state.lock();
        if let Some(position) = state.position(id) {
            let entry = &mut state.index[position];
            if !entry.done {
                entry.done = true;
                let (samples, bytes) = (u64::from(entry.samples), u64::from(entry.bytes));
                state.pending_samples -= samples;
                state.pending_bytes -= bytes;
                self.pending_records.fetch_sub(1, Ordering::AcqRel);
            }
        }
        state.pop_done();
        state.update_gauges();
    }

    /// Persists the acknowledgement of the records done, if [`ACK_EVERY`] has passed (or
    /// `now`), and fsyncs appended records whose time has come.
    pub fn sync(&self, now: bool) -> Result<(), DiskQueueError> {
        let mut state = self.state.lock();
        state.disk.sync_if_due()?;
        if !now && state.last_ack.elapsed() < ACK_EVERY {
            return Ok(());
        }
        state.last_ack = Instant::now();
        let read_next = state.disk.next_id() - state.disk.stats().unread_records;
        let done_next = state
            .index
            .front()
            .map_or(state.disk.next_id(), |e| e.id)
            .min(read_next);
        if done_next > state.disk.acked_next() {
            state.disk.ack(done_next - 1)?;
        }
        state.update_gauges();
        Ok(())
    }
}

impl SpoolState {
    /// Makes `metrics` count the pending samples, moved from the endpoint that counted them
    /// (none for a queue left by an earlier run).
    fn count_in(&mut self, metrics: &Arc<RemoteWriteMetrics>) {
        if self
            .metrics
            .as_ref()
            .is_some_and(|m| Arc::ptr_eq(m, metrics))
        {
            return;
        }
        let n = self.pending_samples as i64;
        if let Some(before) = &self.metrics {
            before.samples_pending.fetch_sub(n, Ordering::Relaxed);
        }
        metrics.samples_pending.fetch_add(n, Ordering::Relaxed);
        self.metrics = Some(Arc::clone(metrics));
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.index.binary_search_by_key(&id, |e| e.id).ok()
    }

    fn pop_done(&mut self) {
        while self.index.front().is_some_and(|e| e.done) {
            self.index.pop_front();
        }
    }

    fn update_gauges(&self) {
        let Some(m) = &self.metrics else {
            return;
        };
        let stats = self.disk.stats();
        m.disk_bytes.store(stats.bytes, Ordering::Relaxed);
        m.disk_pending_bytes
            .store(self.pending_bytes, Ordering::Relaxed);
        m.disk_corrupt_records
            .store(stats.corrupt_records, Ordering::Relaxed);
        let oldest = self
            .index
            .iter()
            .find(|e| !e.done)
            .map_or(0, |e| e.min_timestamp_ms);
        m.disk_oldest_pending_timestamp_ms
            .store(oldest, Ordering::Relaxed);
    }
}

/// Sends what is on disk until told to drain and everything is done, or a hard shutdown.
/// Starts once `after` (the queue this one replaces) has finished.
pub(crate) async fn run_reader(
    core: Arc<Core>,
    spool: Arc<Spool>,
    after: Option<watch::Receiver<bool>>,
    mut drain: watch::Receiver<bool>,
) {
    let mut cancel = core.cancel.clone();
    if let Some(mut after) = after {
        tokio::select! {
            _ = after.wait_for(|d| *d) => {}
            _ = cancelled(&mut cancel) => return,
        }
    }
    let _slot = tokio::select! {
        slot = spool.reader_slot.lock() => slot,
        _ = cancelled(&mut cancel) => return,
    };
    let metrics = Arc::clone(&core.metrics);
    if let Err(error) = blocking(&spool, move |s| s.take_over(metrics)).await {
        tracing::error!(remote_name = %core.name, url = %core.url, %error, "cannot rewind the disk queue");
    }
    let mut lanes: HashMap<u32, VecDeque<Record>> = HashMap::new();
    let mut busy: HashSet<u32> = HashSet::new();
    let mut generation: Option<u64> = None;
    let mut held: VecDeque<Record> = VecDeque::new();
    let mut buffered = 0usize;
    let mut buffered_bytes = 0usize;
    let mut sends: JoinSet<(u32, u64, usize, bool)> = JoinSet::new();
    let mut ticker =
        tokio::time::interval((spool.fsync_every / 2).clamp(Duration::from_millis(50), ACK_EVERY));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut read_failed_at: Option<Instant> = None;
    loop {
        // Read ahead, unless a read failed less than a second ago.
        let mut exhausted = true;
        if read_failed_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            read_failed_at = None;
            let room = READ_AHEAD_RECORDS.saturating_sub(buffered);
            let room_bytes = READ_AHEAD_BYTES.saturating_sub(buffered_bytes);
            if room > 0 && room_bytes > 0 {
                match blocking(&spool, move |s| s.read(room, room_bytes)).await {
                    Ok(records) => {
                        let bytes: usize = records.iter().map(|r| r.body.len()).sum();
                        exhausted = records.len() < room && bytes < room_bytes;
                        buffered += records.len();
                        buffered_bytes += bytes;
                        held.extend(records);
                    }
                    Err(error) => {
                        tracing::error!(remote_name = %core.name, url = %core.url, %error, "cannot read the disk queue, retrying in 1s");
                        read_failed_at = Some(Instant::now());
                    }
                }
            } else {
                exhausted = false;
            }
        }
        // Into lanes: a record of another shard set waits until the current set is done.
        while let Some(record) = held.front() {
            if generation != Some(record.meta.generation) {
                if !lanes.is_empty() || !busy.is_empty() {
                    break;
                }
                generation = Some(record.meta.generation);
            }
            let record = held.pop_front().expect("checked");
            lanes
                .entry(record.meta.shard)
                .or_default()
                .push_back(record);
        }
        for (&shard, queue) in lanes.iter_mut() {
            if busy.contains(&shard) {
                continue;
            }
            if let Some(record) = queue.pop_front() {
                busy.insert(shard);
                let core = Arc::clone(&core);
                let cancel = core.cancel.clone();
                sends.spawn(async move {
                    let (id, len) = (record.id, record.body.len());
                    let done = send_record(&core, record, cancel).await;
                    (shard, id, len, done)
                });
            }
        }
        lanes.retain(|_, queue| !queue.is_empty());
        if *drain.borrow()
            && sends.is_empty()
            && lanes.is_empty()
            && held.is_empty()
            && exhausted
            && spool.pending_records() == 0
        {
            break;
        }
        tokio::select! {
            joined = sends.join_next(), if !sends.is_empty() => {
                let Some(joined) = joined else { continue };
                match joined {
                    Ok((shard, id, len, true)) => {
                        busy.remove(&shard);
                        buffered -= 1;
                        buffered_bytes -= len;
                        blocking(&spool, move |s| s.complete(id)).await;
                    }
                    // Cancelled: the record stays on disk for the next start.
                    Ok((_, _, _, false)) => break,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => break,
                }
            }
            _ = spool.appended.notified(), if exhausted => {}
            _ = ticker.tick() => {
                if let Err(error) = blocking(&spool, |s| s.sync(false)).await {
                    tracing::error!(remote_name = %core.name, url = %core.url, %error, "disk queue sync failed");
                }
            }
            changed = drain.changed(), if !*drain.borrow() => {
                if changed.is_err() {
                    // The queue manager is gone without draining: stop.
                    break;
                }
            }
            _ = cancelled(&mut cancel) => break,
        }
    }
    sends.abort_all();
    if let Err(error) = blocking(&spool, |s| s.sync(true)).await {
        tracing::error!(remote_name = %core.name, url = %core.url, %error, "cannot write the disk queue checkpoint");
    }
    let left = spool.pending_records();
    if left > 0 {
        tracing::info!(remote_name = %core.name, url = %core.url, requests = left, dir = %spool.dir().display(), "requests left in the disk queue; they are sent after the next start");
    }
}

/// Sends one record until it is answered for good; false when a hard shutdown came first.
async fn send_record(core: &Core, record: Record, mut cancel: watch::Receiver<bool>) -> bool {
    let started = std::time::Instant::now();
    let meta = record.meta;
    let n = u64::from(meta.samples);
    let too_old = || {
        core.params.sample_age_limit.is_some_and(|limit| {
            meta.max_timestamp_ms < unix_ms(SystemTime::now()) - limit.as_millis() as i64
        })
    };
    let drop_too_old = || {
        core.metrics.add_dropped(DropReason::TooOld, n);
        core.data_dropped.incr(n);
        finish(core, n, None, started);
    };
    if meta.message != core.sender.message() {
        tracing::error!(remote_name = %core.name, url = %core.url, id = record.id, "disk queue record in another protobuf message than the endpoint sends, dropped");
        core.metrics.add_failed(None, n);
        finish(core, n, None, started);
        return true;
    }
    if too_old() {
        drop_too_old();
        return true;
    }
    let body_len = record.body.len();
    let mut body = record.body;
    let mut samples = n;
    let attempts = u32::from(meta.attempts);
    match send_until_answered(
        core,
        &mut body,
        &mut samples,
        attempts,
        &mut cancel,
        |_, _| !too_old(),
    )
    .await
    {
        Answer::Cancelled => false,
        Answer::GaveUp => {
            drop_too_old();
            true
        }
        Answer::Answered(outcome @ (Outcome::Sent { .. } | Outcome::Failed { .. })) => {
            settle(core, outcome, n, body_len);
            finish(core, n, Some(meta.max_timestamp_ms), started);
            true
        }
        Answer::Answered(Outcome::Retry { .. }) => unreachable!("retries are not answers"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(samples: u32) -> RecordMeta {
        RecordMeta {
            message: ProtobufMessage::V1,
            generation: 1,
            shard: 0,
            samples,
            min_timestamp_ms: 1,
            max_timestamp_ms: 2,
            attempts: 1,
        }
    }

    /// An endpoint's metrics after it queued `samples` (`QueueManager::enqueue`) and spilled
    /// them to `spool` as `body` when the direct attempt failed; and the record's id.
    fn spill(spool: &Spool, samples: u32, body: &[u8]) -> (Arc<RemoteWriteMetrics>, u64) {
        let metrics = Arc::new(RemoteWriteMetrics::default());
        metrics
            .samples_pending
            .fetch_add(i64::from(samples), Ordering::Relaxed);
        let id = spool
            .append(&meta(samples), body, &metrics)
            .expect("append");
        (metrics, id)
    }

    /// A shard spills a batch before the reader has taken the queue over (the reader task
    /// starts concurrently): those samples are already pending for the endpoint.
    #[test]
    fn samples_spilled_before_the_reader_takes_over_are_counted_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (spool, _) = Spool::open(dir.path(), DiskQueueOptions::default()).expect("open");
        let (metrics, id) = spill(&spool, 3, b"body");
        spool.take_over(Arc::clone(&metrics)).expect("take over");
        assert_eq!(metrics.pending(), 3);
        assert_eq!(RemoteWriteMetrics::get(&metrics.samples_spilled), 3);
        // The reader sends it: `finish`, then `complete`.
        assert_eq!(spool.read(10, 1 << 20).expect("read").len(), 1);
        metrics.samples_pending.fetch_sub(3, Ordering::Relaxed);
        spool.complete(id);
        assert_eq!(metrics.pending(), 0);
        assert_eq!(RemoteWriteMetrics::get(&metrics.disk_pending_bytes), 0);
    }

    /// A queue left by an earlier run counts once in the endpoint that appends first, and a
    /// reader of another endpoint taking over moves the count.
    #[test]
    fn pending_samples_move_to_the_endpoint_whose_reader_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (spool, _) = Spool::open(dir.path(), DiskQueueOptions::default()).expect("open");
            spill(&spool, 5, b"left");
            spool.sync(true).expect("sync");
        }
        let (spool, _) = Spool::open(dir.path(), DiskQueueOptions::default()).expect("reopen");
        assert_eq!(spool.pending_samples(), 5);
        let (first, _) = spill(&spool, 2, b"new");
        assert_eq!(first.pending(), 7);
        spool.take_over(Arc::clone(&first)).expect("take over");
        assert_eq!(first.pending(), 7);
        // Another endpoint appends while `first`'s reader runs, then its reader takes over.
        let (next, _) = spill(&spool, 4, b"next");
        assert_eq!((first.pending(), next.pending()), (11, 0));
        assert_eq!(RemoteWriteMetrics::get(&next.samples_spilled), 4);
        spool.take_over(Arc::clone(&next)).expect("take over");
        assert_eq!((first.pending(), next.pending()), (0, 11));
    }

    #[test]
    fn record_header_round_trips_and_rejects_foreign_payloads() {
        let meta = RecordMeta {
            message: ProtobufMessage::V2,
            generation: 0x0102_0304_0506_0708,
            shard: 7,
            samples: 2000,
            min_timestamp_ms: -5,
            max_timestamp_ms: 1_700_000_000_000,
            attempts: 1,
        };
        let payload = meta.payload(b"body");
        assert_eq!(payload.len(), RECORD_HEADER_LEN + 4);
        assert_eq!(RecordMeta::decode(&payload), Some(meta));
        assert_eq!(&payload[RECORD_HEADER_LEN..], b"body");
        assert_eq!(RecordMeta::decode(&payload[..RECORD_HEADER_LEN - 1]), None);
        let mut foreign = payload.clone();
        foreign[0] = 0;
        assert_eq!(RecordMeta::decode(&foreign), None);
        let mut unknown_message = payload;
        unknown_message[1] = 3;
        assert_eq!(RecordMeta::decode(&unknown_message), None);
    }
}
