//! A durable queue of remote-write requests under `--storage.path` (issue: disk buffer).
//!
//! Synchronous (`std::fs` behind the [`Fs`] trait); the sender drives it from a blocking task.
//! Payloads are the encoded, compressed requests, so a replay never re-encodes.
//!
//! # Files
//!
//! - Segments `<first record id, 20 digits>.seg`: append-only records
//!   `[u32 LE len][u32 LE crc32c(payload)][payload]`. Record ids are consecutive, so a
//!   segment's records run from its name to the next segment's name (or the queue's next id).
//!   A new segment is started when the current one would grow past `segment_bytes` (a record
//!   larger than that gets a segment of its own).
//! - `checkpoint`: `[u64 LE first unacknowledged id][u32 LE crc32c]`, replaced atomically on
//!   every [`DiskQueue::ack`]: `checkpoint.tmp`, fsync, rename, fsync of the directory.
//!
//! # Durability and the loss window
//!
//! - A record is durable once its segment is fsynced. [`DiskQueue::append`] fsyncs when
//!   `fsync_bytes` have been appended since the last fsync, or when `fsync_every` has passed
//!   since it (checked on append and by [`DiskQueue::sync_if_due`]; the caller should call
//!   that on a timer when appends stop). [`DiskQueue::sync`] forces it. A segment is fsynced
//!   before the next one is started, and a new segment's directory entry is fsynced at once.
//! - So a crash (power loss) can lose at most the records appended since the last fsync: up
//!   to `fsync_bytes` of records, or `fsync_every` worth of them. A process crash alone
//!   loses nothing that `append` returned for (the data is in the page cache).
//!   [`DiskQueue::durable_next`] is the id up to which records are known durable.
//! - Delivery is at least once: [`DiskQueue::next`] keeps its position in memory; after a
//!   reopen, reading restarts after the last acknowledged record (the checkpoint). Records
//!   read but not acknowledged before a crash are delivered again.
//! - Acknowledged records are not delivered again. Records lost in a crash are not
//!   renumbered: ids keep growing past any acknowledged id.
//!
//! # Bounds and damage
//!
//! - `max_bytes` bounds the segment bytes. An append that would pass it deletes whole oldest
//!   segments first, acknowledged or not; the unacknowledged records and bytes deleted are
//!   counted in [`DiskQueueStats::dropped_records`] / `dropped_bytes`.
//! - On open, segments are scanned: at the first short, zero-length or bad-checksum record
//!   the segment is truncated (a torn tail after a crash), and every later segment is deleted
//!   unless its name continues the ids exactly (the one case: a write failed and the queue
//!   moved on to a new segment; a segment is fsynced before the next is started, so a crash
//!   cannot tear a segment that has a successor). Likewise records of a segment with ids
//!   from the next segment's name on are cut (a failed write may have left a whole record). The bytes cut are in
//!   [`OpenReport::truncated_bytes`]. A missing or damaged checkpoint means "read from
//!   the oldest record".
//! - A damaged record met while reading (the disk changed under us) makes [`DiskQueue::next`]
//!   return [`DiskQueueError::Corrupt`] once and skip the rest of that segment (counted in
//!   `corrupt_records`); the next call goes on after it. A reopen then truncates that segment
//!   at the damaged record and deletes the later segments (their ids no longer continue).
//! - A failed write is cut off again (`truncate`); if that fails too, the next append starts
//!   a new segment. A failed operation leaves the queue usable: retry, or reopen. An append
//!   that failed may still be delivered (its bytes may have reached the disk), under the id
//!   it would have had.

mod checkpoint;
pub mod fs;
mod segment;
#[cfg(test)]
mod tests;

pub use fs::{FileReader, FileWriter, Fs, MemFs, StdFs};

use segment::{
    HEADER_LEN, ReadOutcome, parse_segment_name, read_record, record_header, segment_name,
};
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Settings of a [`DiskQueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskQueueOptions {
    /// A new segment is started when a record would make the current one larger.
    pub segment_bytes: u64,
    /// Upper bound on the bytes of all segments; the oldest are deleted to stay under it.
    pub max_bytes: u64,
    /// Longest time appended records stay unsynced (checked on append / `sync_if_due`).
    pub fsync_every: Duration,
    /// Most bytes appended between two fsyncs.
    pub fsync_bytes: u64,
}

impl Default for DiskQueueOptions {
    fn default() -> Self {
        DiskQueueOptions {
            segment_bytes: 64 << 20,
            max_bytes: 1 << 30,
            fsync_every: Duration::from_secs(1),
            fsync_bytes: 16 << 20,
        }
    }
}

/// What [`DiskQueue::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Records that will be delivered (after the checkpoint).
    pub pending_records: u64,
    /// Bytes of all segments kept.
    pub bytes: u64,
    /// Bytes cut at and after the first short or bad-checksum record (deleted later segments
    /// included).
    pub truncated_bytes: u64,
    /// Segments deleted: fully acknowledged, or after a damaged one.
    pub removed_segments: u64,
    /// The checkpoint file existed but was damaged (reading restarts at the oldest record).
    pub checkpoint_damaged: bool,
}

/// Counters and sizes of a [`DiskQueue`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskQueueStats {
    /// Records appended and not yet read.
    pub unread_records: u64,
    /// Records appended and not yet acknowledged.
    pub unacked_records: u64,
    /// Bytes of all segment files.
    pub bytes: u64,
    pub segments: u64,
    /// Unacknowledged records deleted to stay under `max_bytes`.
    pub dropped_records: u64,
    /// Bytes of those records (headers included).
    pub dropped_bytes: u64,
    /// Records skipped because they were damaged when read.
    pub corrupt_records: u64,
}

/// Errors of the disk queue; file errors name the operation and the file.
#[derive(Debug, thiserror::Error)]
pub enum DiskQueueError {
    #[error("disk queue: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("disk queue: empty records are not stored")]
    EmptyRecord,
    #[error("disk queue: record of {len} bytes does not fit (limit {limit} bytes)")]
    RecordTooLarge { len: usize, limit: u64 },
    #[error(
        "disk queue: acknowledging record {id}, but only records before {next_unread} were read"
    )]
    AckUnread { id: u64, next_unread: u64 },
    #[error(
        "disk queue: {}: damaged record {id} at offset {offset} ({reason}); skipped {skipped} records",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        id: u64,
        offset: u64,
        reason: &'static str,
        skipped: u64,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DiskQueueError {
    let path = path.to_path_buf();
    move |source| DiskQueueError::Io { op, path, source }
}

impl From<checkpoint::WriteError> for DiskQueueError {
    fn from(e: checkpoint::WriteError) -> Self {
        DiskQueueError::Io {
            op: e.op,
            path: e.path,
            source: e.source,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    first_id: u64,
    len: u64,
}

/// The durable queue. See the [module docs](self).
pub struct DiskQueue<F: Fs = StdFs> {
    fs: F,
    dir: PathBuf,
    options: DiskQueueOptions,
    /// Oldest first; the last one is the head that appends go to.
    segments: VecDeque<Segment>,
    /// Open on the head segment.
    writer: Option<F::Writer>,
    /// The head must not get more records (a write failed or it is damaged).
    force_roll: bool,
    next_id: u64,
    total_bytes: u64,

    unsynced_bytes: u64,
    last_sync: Instant,
    durable_next: u64,

    read_id: u64,
    /// Offset of `read_id` in its segment (0 when it is the segment's first record).
    read_offset: u64,
    reader: Option<(u64, F::Reader)>,

    acked_next: u64,
    /// The id in the checkpoint file.
    persisted_ack: u64,
    /// Where `acked_next` is: (segment first id, offset), if known.
    ack_pos: Option<(u64, u64)>,
    /// Read, not acknowledged: (id, segment first id, offset after it).
    in_flight: VecDeque<(u64, u64, u64)>,

    dropped_records: u64,
    dropped_bytes: u64,
    corrupt_records: u64,
}

impl DiskQueue<StdFs> {
    /// Opens (creating it if needed) the queue in `dir` on the real file system.
    pub fn open(
        dir: &Path,
        options: DiskQueueOptions,
    ) -> Result<(DiskQueue<StdFs>, OpenReport), DiskQueueError> {
        DiskQueue::open_with(StdFs, dir, options)
    }
}

impl<F: Fs> DiskQueue<F> {
    /// Opens the queue in `dir` on `fs`: scans the segments, cuts damaged tails, deletes
    /// acknowledged segments and positions the reader after the checkpoint.
    pub fn open_with(
        fs: F,
        dir: &Path,
        options: DiskQueueOptions,
    ) -> Result<(DiskQueue<F>, OpenReport), DiskQueueError> {
        let dir = dir.to_path_buf();
        fs.create_dir_all(&dir)
            .map_err(io_err("create directory", &dir))?;
        let names = fs.list(&dir).map_err(io_err("list", &dir))?;
        let mut report = OpenReport::default();

        if names.iter().any(|n| n == checkpoint::CHECKPOINT_TMP_NAME) {
            let tmp = dir.join(checkpoint::CHECKPOINT_TMP_NAME);
            fs.remove(&tmp).map_err(io_err("remove", &tmp))?;
        }
        let cp_path = dir.join(checkpoint::CHECKPOINT_NAME);
        let mut acked = 0;
        if names.iter().any(|n| n == checkpoint::CHECKPOINT_NAME) {
            let bytes = fs.read(&cp_path).map_err(io_err("read", &cp_path))?;
            match checkpoint::decode(&bytes) {
                Some(id) => acked = id,
                None => report.checkpoint_damaged = true,
            }
        }

        let mut firsts: Vec<u64> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
        firsts.sort_unstable();

        // Scan: keep the valid prefix of records across segments.
        let mut segments = VecDeque::new();
        let mut expected: Option<u64> = None;
        let mut broken = false;
        let mut ack_pos = None;
        let mut payload = Vec::new();
        for (i, &first) in firsts.iter().enumerate() {
            // Records of this segment have ids below the next segment's name: it was started
            // at the then next id. Any beyond are left over from a failed write.
            let successor = firsts.get(i + 1).copied();
            let path = dir.join(segment_name(first));
            let mut reader = fs.open_read(&path).map_err(io_err("open", &path))?;
            let file_len = reader.size().map_err(io_err("stat", &path))?;
            if broken || expected.is_some_and(|e| e != first) {
                broken = true;
                report.truncated_bytes += file_len;
                report.removed_segments += 1;
                drop(reader);
                fs.remove(&path).map_err(io_err("remove", &path))?;
                continue;
            }
            let mut offset = 0;
            let mut id = first;
            loop {
                let outcome = if successor == Some(id) {
                    // Cut whatever follows, like a damaged record.
                    if offset == file_len {
                        ReadOutcome::End
                    } else {
                        ReadOutcome::Short
                    }
                } else {
                    read_record(&mut reader, file_len, offset, &mut payload)
                        .map_err(io_err("read", &path))?
                };
                match outcome {
                    // The last id is not used: `id + 1` must not overflow (a garbage name).
                    ReadOutcome::Record { next } if id < u64::MAX => {
                        if id == acked {
                            ack_pos = Some((first, offset));
                        }
                        id += 1;
                        offset = next;
                    }
                    ReadOutcome::End => break,
                    ReadOutcome::Record { .. }
                    | ReadOutcome::Short
                    | ReadOutcome::BadCrc
                    | ReadOutcome::Empty => {
                        // Later segments are kept only if their ids go on from here (the
                        // garbage was left by a failed write before a roll); otherwise the
                        // check at the top of the loop deletes them.
                        report.truncated_bytes += file_len - offset;
                        drop(reader);
                        fs.truncate(&path, offset)
                            .map_err(io_err("truncate", &path))?;
                        break;
                    }
                }
            }
            segments.push_back(Segment {
                first_id: first,
                len: offset,
            });
            expected = Some(id);
        }
        let scan_end = expected.unwrap_or(0);

        // Delete the segments whose records are all acknowledged (or were lost in a crash
        // after being acknowledged).
        while let Some(seg) = segments.front() {
            let end = segments.get(1).map_or(scan_end, |s| s.first_id);
            if end > acked {
                break;
            }
            let path = dir.join(segment_name(seg.first_id));
            fs.remove(&path).map_err(io_err("remove", &path))?;
            report.removed_segments += 1;
            segments.pop_front();
        }
        let next_id = if segments.is_empty() {
            scan_end.max(acked)
        } else {
            scan_end
        };
        let acked_next = segments.front().map_or(next_id, |s| s.first_id.max(acked));
        if acked_next != acked {
            ack_pos = segments.front().map(|s| (s.first_id, 0));
        }
        let read_offset = match ack_pos {
            Some((first, offset)) if segments.front().is_some_and(|s| s.first_id == first) => {
                offset
            }
            _ => 0,
        };

        // Whatever a killed process left in the page cache is made durable now.
        let mut writer = None;
        if let Some(head) = segments.back() {
            let path = dir.join(segment_name(head.first_id));
            let mut w = fs.open_append(&path).map_err(io_err("open", &path))?;
            w.sync().map_err(io_err("fsync", &path))?;
            writer = Some(w);
        }
        fs.sync_dir(&dir).map_err(io_err("fsync directory", &dir))?;

        let total_bytes = segments.iter().map(|s| s.len).sum();
        report.pending_records = next_id - acked_next;
        report.bytes = total_bytes;
        let queue = DiskQueue {
            fs,
            dir,
            options,
            segments,
            writer,
            force_roll: false,
            next_id,
            total_bytes,
            unsynced_bytes: 0,
            last_sync: Instant::now(),
            durable_next: next_id,
            read_id: acked_next,
            read_offset,
            reader: None,
            acked_next,
            persisted_ack: acked,
            ack_pos,
            in_flight: VecDeque::new(),
            dropped_records: 0,
            dropped_bytes: 0,
            corrupt_records: 0,
        };
        Ok((queue, report))
    }

    fn seg_path(&self, first_id: u64) -> PathBuf {
        self.dir.join(segment_name(first_id))
    }

    /// End (one past the last record id) of segment `idx`.
    fn seg_end(&self, idx: usize) -> u64 {
        self.segments
            .get(idx + 1)
            .map_or(self.next_id, |s| s.first_id)
    }

    /// Appends a record; returns its id. Fsyncs if the policy says so; deletes the oldest
    /// segments if the queue would grow past `max_bytes`.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, DiskQueueError> {
        if payload.is_empty() {
            return Err(DiskQueueError::EmptyRecord);
        }
        let rec = HEADER_LEN + payload.len() as u64;
        if payload.len() > u32::MAX as usize || rec > self.options.max_bytes {
            return Err(DiskQueueError::RecordTooLarge {
                len: payload.len(),
                limit: self.options.max_bytes.min(u64::from(u32::MAX)),
            });
        }
        let head_len = self.segments.back().map(|s| s.len);
        let roll = match head_len {
            None => true,
            Some(len) => {
                self.force_roll
                    || self.writer.is_none()
                    || (len > 0 && len + rec > self.options.segment_bytes)
            }
        };
        if roll {
            self.roll()?;
        }
        while self.total_bytes + rec > self.options.max_bytes {
            if self.segments.len() == 1 {
                if self.segments.back().is_some_and(|s| s.len == 0) {
                    break;
                }
                self.roll()?;
            }
            self.drop_oldest()?;
        }

        let head = *self.segments.back().expect("a head segment");
        let path = self.seg_path(head.first_id);
        let writer = self.writer.as_mut().expect("the head is open");
        let written = writer
            .write_all(&record_header(payload))
            .and_then(|()| writer.write_all(payload));
        if let Err(e) = written {
            // Cut what was written, or at least never append after it.
            if self.fs.truncate(&path, head.len).is_err() {
                self.force_roll = true;
            }
            return Err(io_err("write", &path)(e));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.segments.back_mut().expect("a head segment").len += rec;
        self.total_bytes += rec;
        self.unsynced_bytes += rec;
        if self.unsynced_bytes >= self.options.fsync_bytes
            || self.last_sync.elapsed() >= self.options.fsync_every
        {
            self.sync()?;
        }
        Ok(id)
    }

    /// Fsyncs the head segment: every record appended so far is durable after this.
    pub fn sync(&mut self) -> Result<(), DiskQueueError> {
        if self.unsynced_bytes > 0
            && let (Some(writer), Some(head)) = (self.writer.as_mut(), self.segments.back())
        {
            let path = self.dir.join(segment_name(head.first_id));
            writer.sync().map_err(io_err("fsync", &path))?;
        }
        self.unsynced_bytes = 0;
        self.last_sync = Instant::now();
        self.durable_next = self.next_id;
        Ok(())
    }

    /// Fsyncs if there are unsynced records older than `fsync_every`; call it on a timer.
    pub fn sync_if_due(&mut self) -> Result<(), DiskQueueError> {
        if self.unsynced_bytes > 0 && self.last_sync.elapsed() >= self.options.fsync_every {
            self.sync()?;
        }
        Ok(())
    }

    /// Records with ids below this are durable (fsynced).
    pub fn durable_next(&self) -> u64 {
        self.durable_next
    }

    /// The oldest record id still kept (acknowledged or not).
    pub fn oldest_id(&self) -> u64 {
        self.segments.front().map_or(self.next_id, |s| s.first_id)
    }

    /// The first record id not acknowledged.
    pub fn acked_next(&self) -> u64 {
        self.acked_next
    }

    /// The id the next appended record will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Starts a new head segment at `next_id`, syncing the old head first.
    fn roll(&mut self) -> Result<(), DiskQueueError> {
        if self.writer.is_some() {
            self.sync()?;
        }
        let first = self.next_id;
        if self.segments.back().is_some_and(|s| s.first_id == first) {
            // An empty damaged head: start it again.
            let seg = self.segments.pop_back().expect("checked");
            self.total_bytes -= seg.len;
        }
        let path = self.seg_path(first);
        self.writer = None;
        if self.reader.as_ref().is_some_and(|r| r.0 == first) {
            self.reader = None;
        }
        let writer = self.fs.create(&path).map_err(io_err("create", &path))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(io_err("fsync directory", &self.dir))?;
        self.writer = Some(writer);
        self.segments.push_back(Segment {
            first_id: first,
            len: 0,
        });
        self.force_roll = false;
        Ok(())
    }

    /// Deletes the oldest segment (not the head) and counts what was not acknowledged.
    fn drop_oldest(&mut self) -> Result<(), DiskQueueError> {
        debug_assert!(self.segments.len() >= 2);
        let seg = self.segments[0];
        let end = self.seg_end(0);
        let path = self.seg_path(seg.first_id);
        self.fs.remove(&path).map_err(io_err("remove", &path))?;
        self.segments.pop_front();
        self.total_bytes -= seg.len;
        if self.acked_next < end {
            let from = self.acked_next.max(seg.first_id);
            self.dropped_records += end - from;
            self.dropped_bytes += match self.ack_pos {
                Some((first, offset)) if first == seg.first_id && from > seg.first_id => {
                    seg.len - offset
                }
                _ => seg.len,
            };
            self.acked_next = end;
            self.ack_pos = Some((end, 0));
        }
        if self.read_id < end {
            self.read_id = end;
            self.read_offset = 0;
        }
        self.in_flight.retain(|e| e.0 >= end);
        if self.reader.as_ref().is_some_and(|r| r.0 == seg.first_id) {
            self.reader = None;
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(io_err("fsync directory", &self.dir))
    }

    /// The next unread record, if any: (id, payload).
    // Not an `Iterator`: it fails with typed errors and the queue keeps being appended to.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(u64, Vec<u8>)>, DiskQueueError> {
        if self.read_id >= self.next_id {
            return Ok(None);
        }
        let idx = self
            .segments
            .partition_point(|s| s.first_id <= self.read_id)
            .checked_sub(1)
            .expect("the reader is within the segments");
        let seg = self.segments[idx];
        let end = self.seg_end(idx);
        if seg.first_id == self.read_id {
            self.read_offset = 0;
        }
        let path = self.seg_path(seg.first_id);
        if self.reader.as_ref().is_none_or(|r| r.0 != seg.first_id) {
            self.reader = None;
            let reader = self.fs.open_read(&path).map_err(io_err("open", &path))?;
            self.reader = Some((seg.first_id, reader));
        }
        let reader = &mut self.reader.as_mut().expect("just opened").1;
        let mut payload = Vec::new();
        let outcome = read_record(reader, seg.len, self.read_offset, &mut payload)
            .map_err(io_err("read", &path))?;
        let reason = match outcome {
            ReadOutcome::Record { next } => {
                let id = self.read_id;
                self.read_id += 1;
                self.read_offset = next;
                self.in_flight.push_back((id, seg.first_id, next));
                return Ok(Some((id, payload)));
            }
            ReadOutcome::End | ReadOutcome::Short => "short record",
            ReadOutcome::Empty => "zero length",
            ReadOutcome::BadCrc => "bad checksum",
        };
        let id = self.read_id;
        let offset = self.read_offset;
        let skipped = end - id;
        self.corrupt_records += skipped;
        self.read_id = end;
        self.read_offset = 0;
        if idx + 1 == self.segments.len() {
            self.force_roll = true;
        }
        Err(DiskQueueError::Corrupt {
            path,
            id,
            offset,
            reason,
            skipped,
        })
    }

    /// Reading starts again at the first unacknowledged record, as after a reopen: records
    /// read and not acknowledged are delivered again (a new reader takes over).
    pub fn rewind(&mut self) -> Result<(), DiskQueueError> {
        self.in_flight.clear();
        self.reader = None;
        self.read_id = self.acked_next.max(self.oldest_id());
        self.read_offset = 0;
        if self.read_id >= self.next_id {
            // At the end: the next record goes after the head's last one.
            self.read_offset = self
                .segments
                .back()
                .filter(|head| head.first_id < self.read_id)
                .map_or(0, |head| head.len);
            return Ok(());
        }
        let idx = self
            .segments
            .partition_point(|s| s.first_id <= self.read_id)
            .checked_sub(1)
            .expect("the reader is within the segments");
        let seg = self.segments[idx];
        if seg.first_id == self.read_id {
            return Ok(());
        }
        if let Some((first, offset)) = self.ack_pos
            && first == seg.first_id
        {
            self.read_offset = offset;
            return Ok(());
        }
        // Where the record is not known: walk the segment to it.
        let path = self.seg_path(seg.first_id);
        let mut reader = self.fs.open_read(&path).map_err(io_err("open", &path))?;
        let mut payload = Vec::new();
        let mut offset = 0;
        for _ in seg.first_id..self.read_id {
            match read_record(&mut reader, seg.len, offset, &mut payload)
                .map_err(io_err("read", &path))?
            {
                ReadOutcome::Record { next } => offset = next,
                // Damaged: `next` reports it from here.
                _ => break,
            }
        }
        self.read_offset = offset;
        Ok(())
    }

    /// Acknowledges every record up to and including `id`: persists the checkpoint and
    /// deletes the segments all of whose records are acknowledged (not the head).
    pub fn ack(&mut self, id: u64) -> Result<(), DiskQueueError> {
        if id >= self.read_id {
            return Err(DiskQueueError::AckUnread {
                id,
                next_unread: self.read_id,
            });
        }
        // Past records dropped by the size bound too: their deletion may not be durable yet.
        let target = (id + 1).max(self.acked_next);
        if target <= self.persisted_ack {
            return Ok(());
        }
        checkpoint::write(&self.fs, &self.dir, target)?;
        self.persisted_ack = target;
        if id < self.acked_next {
            return Ok(());
        }
        let acked_next = id + 1;
        let mut pos = None;
        while let Some(&(fid, first, offset)) = self.in_flight.front() {
            if fid > id {
                break;
            }
            pos = Some((first, offset));
            self.in_flight.pop_front();
        }
        self.acked_next = acked_next;
        self.ack_pos = match pos {
            Some((first, offset)) if self.segments.iter().any(|s| s.first_id == first) => {
                let idx = self
                    .segments
                    .iter()
                    .position(|s| s.first_id == first)
                    .expect("checked");
                if self.seg_end(idx) == acked_next && idx + 1 < self.segments.len() {
                    Some((acked_next, 0))
                } else {
                    Some((first, offset))
                }
            }
            _ => None,
        };

        let mut removed = false;
        while self.segments.len() > 1 && self.segments[1].first_id <= self.acked_next {
            let seg = self.segments[0];
            let path = self.seg_path(seg.first_id);
            if self.reader.as_ref().is_some_and(|r| r.0 == seg.first_id) {
                self.reader = None;
            }
            self.fs.remove(&path).map_err(io_err("remove", &path))?;
            self.segments.pop_front();
            self.total_bytes -= seg.len;
            removed = true;
        }
        if removed {
            self.fs
                .sync_dir(&self.dir)
                .map_err(io_err("fsync directory", &self.dir))?;
        }
        Ok(())
    }

    /// Counters and sizes.
    pub fn stats(&self) -> DiskQueueStats {
        DiskQueueStats {
            unread_records: self.next_id - self.read_id,
            unacked_records: self.next_id - self.acked_next,
            bytes: self.total_bytes,
            segments: self.segments.len() as u64,
            dropped_records: self.dropped_records,
            dropped_bytes: self.dropped_bytes,
            corrupt_records: self.corrupt_records,
        }
    }
}
