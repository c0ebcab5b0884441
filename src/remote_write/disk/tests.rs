use super::checkpoint::{CHECKPOINT_NAME, CHECKPOINT_TMP_NAME};
use super::segment::{HEADER_LEN, parse_segment_name, segment_name};
use super::*;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};

fn dir() -> PathBuf {
    PathBuf::from("/q")
}

fn opts() -> DiskQueueOptions {
    DiskQueueOptions {
        segment_bytes: 100,
        max_bytes: 1 << 20,
        fsync_every: Duration::from_secs(3600),
        fsync_bytes: 1 << 20,
    }
}

fn open(fs: &MemFs, options: DiskQueueOptions) -> (DiskQueue<MemFs>, OpenReport) {
    DiskQueue::open_with(fs.clone(), &dir(), options).expect("open")
}

fn payload(i: u64, len: usize) -> Vec<u8> {
    let mut p = i.to_le_bytes().to_vec();
    p.resize(len.max(8), (i % 251) as u8);
    p
}

fn drain<F: Fs>(q: &mut DiskQueue<F>) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(r) = q.next().expect("next") {
        out.push(r);
    }
    out
}

fn segment_files(fs: &MemFs) -> Vec<u64> {
    fs.file_names()
        .iter()
        .filter_map(|p| parse_segment_name(p.file_name()?.to_str()?))
        .collect()
}

#[test]
fn segment_names_sort_and_parse() {
    assert_eq!(segment_name(42), "00000000000000000042.seg");
    assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
    assert_eq!(parse_segment_name("42.seg"), None);
    assert_eq!(parse_segment_name("0000000000000000004x.seg"), None);
    assert_eq!(parse_segment_name(CHECKPOINT_NAME), None);
    assert!(segment_name(9) < segment_name(10));
}

#[test]
fn round_trip_in_order() {
    let fs = MemFs::new(1);
    let (mut q, report) = open(&fs, opts());
    assert_eq!(report, OpenReport::default());
    let payloads: Vec<Vec<u8>> = (0..20).map(|i| payload(i, 10 + i as usize)).collect();
    for (i, p) in payloads.iter().enumerate() {
        assert_eq!(q.append(p).unwrap(), i as u64);
    }
    let got = drain(&mut q);
    assert_eq!(got.len(), 20);
    for (i, (id, p)) in got.iter().enumerate() {
        assert_eq!(*id, i as u64);
        assert_eq!(p, &payloads[i]);
    }
    // Several segments were used (100-byte segments).
    assert!(segment_files(&fs).len() > 3);
    assert_eq!(q.stats().unread_records, 0);
    assert_eq!(q.stats().unacked_records, 20);
    // Appends after reaching the end are read too.
    q.append(b"later").unwrap();
    assert_eq!(q.next().unwrap(), Some((20, b"later".to_vec())));
    assert_eq!(q.next().unwrap(), None);
}

#[test]
fn empty_payload_rejected_and_record_too_large() {
    let fs = MemFs::new(1);
    let mut o = opts();
    o.max_bytes = 64;
    let (mut q, _) = open(&fs, o);
    assert!(matches!(q.append(b""), Err(DiskQueueError::EmptyRecord)));
    assert_eq!(q.append(b"a").unwrap(), 0);
    assert_eq!(q.next().unwrap(), Some((0, b"a".to_vec())));
    let err = q.append(&[0u8; 60]).unwrap_err();
    assert!(
        matches!(err, DiskQueueError::RecordTooLarge { len: 60, .. }),
        "{err}"
    );
}

#[test]
fn reopen_replays_unacked() {
    let fs = MemFs::new(2);
    let (mut q, _) = open(&fs, opts());
    for i in 0..10 {
        q.append(&payload(i, 20)).unwrap();
    }
    for _ in 0..6 {
        q.next().unwrap().unwrap();
    }
    q.ack(3).unwrap();
    drop(q);
    let (mut q, report) = open(&fs, opts());
    assert_eq!(report.pending_records, 6);
    assert_eq!(report.truncated_bytes, 0);
    let ids: Vec<u64> = drain(&mut q).into_iter().map(|r| r.0).collect();
    assert_eq!(ids, (4..10).collect::<Vec<_>>());
    // New appends continue the ids.
    assert_eq!(q.append(b"x").unwrap(), 10);
}

#[test]
fn ack_unread_is_an_error_and_old_acks_are_noops() {
    let fs = MemFs::new(3);
    let (mut q, _) = open(&fs, opts());
    q.append(b"a").unwrap();
    q.append(b"b").unwrap();
    let err = q.ack(0).unwrap_err();
    assert!(matches!(
        err,
        DiskQueueError::AckUnread {
            id: 0,
            next_unread: 0
        }
    ));
    q.next().unwrap();
    q.ack(0).unwrap();
    q.ack(0).unwrap();
    assert!(q.ack(1).is_err());
    assert_eq!(q.acked_next(), 1);
}

#[test]
fn ack_deletes_fully_acked_segments_but_not_the_head() {
    let fs = MemFs::new(4);
    let (mut q, _) = open(&fs, opts());
    // 8 + 42 = 50 bytes per record: two records per 100-byte segment.
    for i in 0..7 {
        q.append(&payload(i, 42)).unwrap();
    }
    assert_eq!(segment_files(&fs), vec![0, 2, 4, 6]);
    drain(&mut q);
    q.ack(2).unwrap();
    assert_eq!(segment_files(&fs), vec![2, 4, 6]);
    q.ack(3).unwrap();
    assert_eq!(segment_files(&fs), vec![4, 6]);
    q.ack(6).unwrap();
    assert_eq!(segment_files(&fs), vec![6]);
    assert_eq!(q.stats().bytes, 50);
    assert!(fs.file_names().contains(&dir().join(CHECKPOINT_NAME)));
    assert!(!fs.file_names().contains(&dir().join(CHECKPOINT_TMP_NAME)));
    drop(q);
    // On reopen the fully acknowledged head goes too; ids keep growing.
    let (mut q, report) = open(&fs, opts());
    assert_eq!(report.pending_records, 0);
    assert_eq!(report.removed_segments, 1);
    assert_eq!(segment_files(&fs), Vec::<u64>::new());
    assert_eq!(q.append(b"next").unwrap(), 7);
    assert_eq!(segment_files(&fs), vec![7]);
}

#[test]
fn size_bound_drops_oldest_and_counts() {
    let fs = MemFs::new(5);
    let mut o = opts();
    o.max_bytes = 300; // three segments of two 50-byte records
    let (mut q, _) = open(&fs, o.clone());
    for i in 0..6 {
        q.append(&payload(i, 42)).unwrap();
    }
    assert_eq!(q.stats().dropped_records, 0);
    q.next().unwrap(); // 0 read, not acked
    q.append(&payload(6, 42)).unwrap();
    // Segment 0 (records 0 and 1) went, unacknowledged.
    assert_eq!(segment_files(&fs), vec![2, 4, 6]);
    let s = q.stats();
    assert_eq!((s.dropped_records, s.dropped_bytes), (2, 100));
    assert!(s.bytes <= 300);
    // Reading goes on at the oldest kept record.
    assert_eq!(q.next().unwrap().unwrap().0, 2);
    q.ack(2).unwrap();
    for i in 7..9 {
        q.append(&payload(i, 42)).unwrap();
    }
    // Segment 2 went: record 2 was acknowledged, so one record and 50 bytes were dropped.
    assert_eq!(segment_files(&fs), vec![4, 6, 8]);
    let s = q.stats();
    assert_eq!((s.dropped_records, s.dropped_bytes), (3, 150));
    let ids: Vec<u64> = drain(&mut q).into_iter().map(|r| r.0).collect();
    assert_eq!(ids, vec![4, 5, 6, 7, 8]);
    drop(q);
    let (mut q, report) = open(&fs, o);
    assert_eq!(report.pending_records, 5);
    let ids: Vec<u64> = drain(&mut q).into_iter().map(|r| r.0).collect();
    assert_eq!(ids, vec![4, 5, 6, 7, 8]);
}

#[test]
fn size_bound_with_a_single_segment_rolls_it() {
    let fs = MemFs::new(6);
    let mut o = opts();
    o.max_bytes = 100;
    o.segment_bytes = 1000;
    let (mut q, _) = open(&fs, o);
    q.append(&payload(0, 42)).unwrap();
    q.append(&payload(1, 42)).unwrap();
    q.append(&payload(2, 42)).unwrap();
    assert_eq!(segment_files(&fs), vec![2]);
    assert_eq!(q.stats().dropped_records, 2);
    assert_eq!(q.next().unwrap().unwrap().0, 2);
}

#[test]
fn bad_crc_truncates_segment_and_later_ones() {
    let fs = MemFs::new(7);
    let (mut q, _) = open(&fs, opts());
    for i in 0..6 {
        q.append(&payload(i, 42)).unwrap();
    }
    q.sync().unwrap();
    drop(q);
    // Flip a payload byte of record 3 (second record of segment 2).
    fs.corrupt(&dir().join(segment_name(2)), 50 + 8 + 5);
    let (mut q, report) = open(&fs, opts());
    assert_eq!(report.truncated_bytes, 50 + 100);
    assert_eq!(report.pending_records, 3);
    assert_eq!(segment_files(&fs), vec![0, 2]);
    let got = drain(&mut q);
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(got[2].1, payload(2, 42));
    // Appends continue after the kept records, in a clean file.
    assert_eq!(q.append(b"new").unwrap(), 3);
    assert_eq!(q.next().unwrap(), Some((3, b"new".to_vec())));
    drop(q);
    let (_, report) = open(&fs, opts());
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.pending_records, 4);
}

#[test]
fn torn_tail_is_truncated_and_reported() {
    let fs = MemFs::new(8);
    let (mut q, _) = open(&fs, opts());
    q.append(&payload(0, 20)).unwrap();
    q.sync().unwrap();
    drop(q);
    let head = dir().join(segment_name(0));
    // Half a header, then a header promising more bytes than there are.
    fs.append_durable(&head, &[1, 2, 3]);
    let (_, report) = open(&fs, opts());
    assert_eq!(report.truncated_bytes, 3);
    assert_eq!(fs.file_len(&head), Some(28));
    let mut torn = record_header(&[7u8; 100]).to_vec();
    torn.extend_from_slice(&[7u8; 10]);
    fs.append_durable(&head, &torn);
    let (mut q, report) = open(&fs, opts());
    assert_eq!(report.truncated_bytes, 18);
    assert_eq!(report.pending_records, 1);
    assert_eq!(drain(&mut q).len(), 1);
}

#[test]
fn failed_write_then_retry_keeps_later_records() {
    let fs = MemFs::new(16);
    let (mut q, _) = open(&fs, opts());
    q.append(&payload(0, 20)).unwrap();
    // The write fails half way and the cleanup fails too: garbage stays in segment 0.
    fs.fail_after(0);
    let err = q.append(&payload(1, 20)).unwrap_err();
    assert!(err.to_string().contains("write"), "{err}");
    fs.stop_failing();
    assert_eq!(q.append(&payload(2, 20)).unwrap(), 1);
    q.sync().unwrap();
    assert_eq!(segment_files(&fs), vec![0, 1]);
    let got = drain(&mut q);
    assert_eq!(got, vec![(0, payload(0, 20)), (1, payload(2, 20))]);
    drop(q);
    // On reopen the garbage is cut and the next segment, whose ids go on, is kept.
    fs.crash();
    let (mut q, report) = open(&fs, opts());
    assert_eq!(report.pending_records, 2);
    assert_eq!(
        drain(&mut q),
        vec![(0, payload(0, 20)), (1, payload(2, 20))]
    );
}

#[test]
fn failed_ack_keeps_the_old_checkpoint_or_the_new_one() {
    let fs = MemFs::new(17);
    let (mut q, _) = open(&fs, opts());
    for i in 0..3 {
        q.append(&payload(i, 20)).unwrap();
    }
    q.sync().unwrap();
    drain(&mut q);
    q.ack(0).unwrap();
    fs.fail_after(2); // create and write the temp file, then fail
    assert!(q.ack(1).is_err());
    drop(q);
    fs.stop_failing();
    fs.crash();
    let (mut q, report) = open(&fs, opts());
    assert!(!report.checkpoint_damaged);
    let ids: Vec<u64> = drain(&mut q).into_iter().map(|r| r.0).collect();
    assert_eq!(ids, vec![1, 2]);
}

#[test]
fn zero_filled_tail_is_not_read_as_records() {
    let fs = MemFs::new(14);
    let (mut q, _) = open(&fs, opts());
    q.append(b"real").unwrap();
    q.sync().unwrap();
    drop(q);
    let head = dir().join(segment_name(0));
    fs.append_durable(&head, &[0u8; 40]);
    let (mut q, report) = open(&fs, opts());
    assert_eq!(report.truncated_bytes, 40);
    assert_eq!(drain(&mut q), vec![(0, b"real".to_vec())]);
}

#[test]
fn garbage_segment_names_and_contents_do_not_panic() {
    let fs = MemFs::new(15);
    let mut w = fs.create(&dir().join(segment_name(u64::MAX))).unwrap();
    w.write_all(&record_header(b"zz")).unwrap();
    w.write_all(b"zz").unwrap();
    let mut w = fs.create(&dir().join(segment_name(u64::MAX - 1))).unwrap();
    w.write_all(&[0xff; 7]).unwrap();
    let (mut q, report) = open(&fs, opts());
    assert_eq!(report.truncated_bytes, 7 + 10);
    assert_eq!(q.next().unwrap(), None);
}

#[test]
fn garbage_files_and_damaged_checkpoint_do_not_panic() {
    let fs = MemFs::new(9);
    let (mut q, _) = open(&fs, opts());
    q.append(b"one").unwrap();
    q.next().unwrap();
    q.ack(0).unwrap();
    q.append(b"two").unwrap();
    drop(q);
    fs.corrupt(&dir().join(CHECKPOINT_NAME), 0);
    // A stray file and a leftover temp checkpoint.
    let mut w = fs.create(&dir().join("notes.txt")).unwrap();
    w.write_all(b"hello").unwrap();
    fs.create(&dir().join(CHECKPOINT_TMP_NAME)).unwrap();
    let (mut q, report) = open(&fs, opts());
    assert!(report.checkpoint_damaged);
    // Without a checkpoint reading restarts at the oldest record: at least once.
    let got = drain(&mut q);
    assert_eq!(got, vec![(0, b"one".to_vec()), (1, b"two".to_vec())]);
    assert!(!fs.file_names().contains(&dir().join(CHECKPOINT_TMP_NAME)));
}

#[test]
fn corruption_while_reading_skips_the_segment() {
    let fs = MemFs::new(10);
    let (mut q, _) = open(&fs, opts());
    for i in 0..4 {
        q.append(&payload(i, 42)).unwrap();
    }
    fs.corrupt(&dir().join(segment_name(0)), 8);
    let err = q.next().unwrap_err();
    assert!(
        matches!(
            err,
            DiskQueueError::Corrupt {
                id: 0,
                skipped: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("00000000000000000000.seg"),
        "{err}"
    );
    assert_eq!(q.next().unwrap().unwrap().0, 2);
    assert_eq!(q.stats().corrupt_records, 2);
    // A damaged head is not appended to: the next record starts a new segment.
    fs.corrupt(&dir().join(segment_name(2)), 50 + 8);
    assert!(q.next().is_err());
    assert_eq!(q.append(b"after").unwrap(), 4);
    assert_eq!(q.next().unwrap(), Some((4, b"after".to_vec())));
    assert_eq!(segment_files(&fs), vec![0, 2, 4]);
}

#[test]
fn fsync_bytes_policy_makes_records_durable() {
    let fs = MemFs::new(11);
    let mut o = opts();
    o.fsync_bytes = 120; // every third 50-byte record
    o.segment_bytes = 1 << 20;
    let (mut q, _) = open(&fs, o.clone());
    q.append(&payload(0, 42)).unwrap();
    q.append(&payload(1, 42)).unwrap();
    assert_eq!(q.durable_next(), 0);
    q.append(&payload(2, 42)).unwrap();
    assert_eq!(q.durable_next(), 3);
    q.append(&payload(3, 42)).unwrap();
    drop(q);
    fs.crash();
    let (mut q, _) = open(&fs, o);
    let ids: Vec<u64> = drain(&mut q).into_iter().map(|r| r.0).collect();
    assert!(ids.starts_with(&[0, 1, 2]), "{ids:?}");
}

#[test]
fn fsync_interval_zero_syncs_every_append() {
    let fs = MemFs::new(12);
    let mut o = opts();
    o.fsync_every = Duration::ZERO;
    let (mut q, _) = open(&fs, o.clone());
    for i in 0..5 {
        q.append(&payload(i, 30)).unwrap();
        assert_eq!(q.durable_next(), i + 1);
    }
    drop(q);
    fs.crash();
    let (mut q, _) = open(&fs, o);
    assert_eq!(drain(&mut q).len(), 5);
}

#[test]
fn checkpoint_lost_records_do_not_reuse_acked_ids() {
    // Records acknowledged, then lost (never fsynced) in a crash: the checkpoint is ahead
    // of the data; new ids must stay above it.
    let fs = MemFs::new(13);
    let (mut q, _) = open(&fs, opts());
    for i in 0..3 {
        q.append(&payload(i, 10)).unwrap();
    }
    drain(&mut q);
    q.ack(2).unwrap();
    drop(q);
    fs.crash();
    let (mut q, report) = open(&fs, opts());
    assert_eq!(report.pending_records, 0);
    assert_eq!(q.append(b"x").unwrap(), 3);
    assert_eq!(q.next().unwrap().unwrap().0, 3);
}

#[test]
fn std_fs_round_trip_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("queue");
    let o = DiskQueueOptions {
        segment_bytes: 200,
        ..DiskQueueOptions::default()
    };
    let (mut q, report) = DiskQueue::open(&path, o.clone()).unwrap();
    assert_eq!(report.pending_records, 0);
    for i in 0..10 {
        q.append(&payload(i, 60)).unwrap();
    }
    q.sync().unwrap();
    for _ in 0..5 {
        q.next().unwrap().unwrap();
    }
    q.ack(4).unwrap();
    drop(q);
    // Damage the tail: a torn record after the last one.
    let mut names: Vec<String> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.contains(&CHECKPOINT_NAME.to_string()));
    let head = names.iter().rev().find(|n| n.ends_with(".seg")).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path.join(head))
        .unwrap();
    std::io::Write::write_all(&mut f, &[9, 9, 9, 9, 9]).unwrap();
    drop(f);
    let (mut q, report) = DiskQueue::open(&path, o).unwrap();
    assert_eq!(report.pending_records, 5);
    assert_eq!(report.truncated_bytes, 5);
    let got = drain(&mut q);
    assert_eq!(
        got.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![5, 6, 7, 8, 9]
    );
    for (id, p) in got {
        assert_eq!(p, payload(id, 60));
    }
    // Segments all of whose records were acknowledged are gone.
    let segs = std::fs::read_dir(&path)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count();
    assert!(segs <= 3, "{segs}");
}

#[test]
fn std_fs_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = DiskQueue::open(&file.join("q"), DiskQueueOptions::default())
        .err()
        .expect("cannot open under a file");
    let msg = err.to_string();
    assert!(msg.contains("not-a-dir"), "{msg}");
    assert!(msg.contains("create directory"), "{msg}");
}

// ---- Property test: random operations with crashes on the fake file system. ----

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Next,
    /// Acknowledge the n-th (mod count) record delivered in this session.
    Ack(usize),
    Sync,
    Crash,
    /// Close and reopen without a crash (the process exits; the page cache survives).
    Reopen,
    /// Start reading again at the first unacknowledged record.
    Rewind,
    /// After this many more file changes every change fails. The first failing queue
    /// operation is followed by a crash and a reopen (the machine died during it) if the flag
    /// is set, else the failures stop and the operations go on (a transient error).
    FailAfter(u64, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..60).prop_map(Op::Append),
        6 => Just(Op::Next),
        2 => (0usize..64).prop_map(Op::Ack),
        1 => Just(Op::Sync),
        1 => Just(Op::Crash),
        1 => Just(Op::Reopen),
        1 => Just(Op::Rewind),
        1 => (0u64..8, any::<bool>()).prop_map(|(n, crash)| Op::FailAfter(n, crash)),
    ]
}

/// What may and must be delivered.
struct Model {
    /// Every payload appended, by id. Several when appends failed (a failed append may still
    /// be delivered after a crash) or when an id lost in a crash was given again.
    payloads: HashMap<u64, Vec<Vec<u8>>>,
    /// Ids below this are acknowledged with a persisted checkpoint: never delivered again.
    acked: u64,
    /// Ids below this were acknowledged, maybe persisted (an ack that failed part way):
    /// they need not be delivered again, but may be.
    acked_maybe: u64,
    /// Ids that must still be delivered in this session: appended in it, or durable at the
    /// last crash, and not acknowledged or dropped.
    required: BTreeSet<u64>,
    /// Ids delivered in this session.
    delivered: Vec<u64>,
    /// Ids below this were dropped by the size bound (as the queue said when it dropped).
    dropped_below: u64,
    counter: u64,
}

fn fail(e: DiskQueueError) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Reopens after a crash (or a clean exit, `crash` false) and computes what must come out.
fn reopen(
    fs: &MemFs,
    q: DiskQueue<MemFs>,
    options: &DiskQueueOptions,
    model: &mut Model,
    crash: bool,
) -> Result<DiskQueue<MemFs>, TestCaseError> {
    let durable = if crash { q.durable_next() } else { q.next_id() };
    drop(q);
    fs.stop_failing();
    if crash {
        fs.crash();
    }
    let (q, _) = DiskQueue::open_with(fs.clone(), &dir(), options.clone()).map_err(fail)?;
    // Durable records are never lost and their ids never given again.
    prop_assert!(
        q.next_id() >= durable,
        "next id {} < durable {durable}",
        q.next_id()
    );
    prop_assert!(q.next_id() >= model.acked);
    let acked = model.acked_maybe;
    let dropped_below = model.dropped_below;
    model.required = model
        .payloads
        .keys()
        .copied()
        .filter(|&id| id >= acked && id >= dropped_below && id < durable)
        .collect();
    model.delivered.clear();
    Ok(q)
}

fn check_delivery(model: &Model, id: u64, p: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(
        model
            .payloads
            .get(&id)
            .is_some_and(|c| c.iter().any(|c| c == p)),
        "payload of record {id}: {p:?}, appended: {:?}",
        model.payloads.get(&id)
    );
    prop_assert!(id >= model.acked, "record {id} delivered after its ack");
    prop_assert!(
        model.delivered.last().is_none_or(|&d| id > d),
        "record {id} out of order after {:?}",
        model.delivered.last()
    );
    let skipped: Vec<u64> = model.required.range(..id).copied().collect();
    prop_assert!(
        skipped.is_empty(),
        "records {skipped:?} skipped before {id}"
    );
    Ok(())
}

fn run_ops(seed: u64, options: DiskQueueOptions, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let fs = MemFs::new(seed);
    let (mut q, _) = open(&fs, options.clone());
    let mut crash_on_failure = true;
    let mut model = Model {
        payloads: HashMap::new(),
        acked: 0,
        acked_maybe: 0,
        required: BTreeSet::new(),
        delivered: Vec::new(),
        dropped_below: 0,
        counter: 0,
    };
    for op in ops {
        // Whether the operation failed (an injected failure): then crash and reopen.
        let failed = match op {
            Op::Append(len) => {
                model.counter += 1;
                let p = payload(model.counter, len);
                let dropped_before = q.stats().dropped_records;
                let id_before = q.next_id();
                let result = q.append(&p);
                if q.stats().dropped_records > dropped_before {
                    let oldest = q.oldest_id();
                    model.dropped_below = model.dropped_below.max(oldest);
                    model.required.retain(|&r| r >= oldest);
                }
                match result {
                    Ok(id) => {
                        prop_assert_eq!(id, id_before);
                        prop_assert!(id >= model.acked, "id {id} reuses an acknowledged id");
                        prop_assert!(model.delivered.last().is_none_or(|&d| id > d));
                        model.payloads.insert(id, vec![p]);
                        model.required.insert(id);
                        false
                    }
                    Err(_) => {
                        // Maybe written, not durable.
                        model.payloads.entry(id_before).or_default().push(p);
                        true
                    }
                }
            }
            Op::Next => {
                // Reads change nothing, so they do not fail.
                match q.next().map_err(fail)? {
                    Some((id, p)) => {
                        check_delivery(&model, id, &p)?;
                        model.required.remove(&id);
                        model.delivered.push(id);
                    }
                    None => {
                        prop_assert!(
                            model.required.is_empty(),
                            "records {:?} never delivered",
                            model.required
                        );
                    }
                }
                false
            }
            Op::Ack(n) if !model.delivered.is_empty() => {
                let id = model.delivered[n % model.delivered.len()];
                model.acked_maybe = model.acked_maybe.max(id + 1);
                let acked_maybe = model.acked_maybe;
                model.required.retain(|&r| r >= acked_maybe);
                match q.ack(id) {
                    Ok(()) => {
                        model.acked = model.acked.max(id + 1);
                        false
                    }
                    Err(_) => true,
                }
            }
            Op::Ack(_) => false,
            Op::Sync => q.sync().is_err(),
            Op::Crash => {
                q = reopen(&fs, q, &options, &mut model, true)?;
                false
            }
            Op::Reopen => {
                q = reopen(&fs, q, &options, &mut model, false)?;
                false
            }
            Op::Rewind => match q.rewind() {
                Ok(()) => {
                    // Everything appended and neither acknowledged nor dropped comes again.
                    let (acked, dropped_below, end) =
                        (model.acked_maybe, model.dropped_below, q.next_id());
                    model.required = model
                        .payloads
                        .keys()
                        .copied()
                        .filter(|&id| id >= acked && id >= dropped_below && id < end)
                        .collect();
                    model.delivered.clear();
                    false
                }
                Err(_) => true,
            },
            Op::FailAfter(n, crash) => {
                fs.fail_after(n);
                crash_on_failure = crash;
                false
            }
        };
        if failed {
            if crash_on_failure {
                q = reopen(&fs, q, &options, &mut model, true)?;
            } else {
                fs.stop_failing();
            }
        }
    }
    // Finally everything required comes out, in order.
    fs.stop_failing();
    while let Some((id, p)) = q.next().map_err(fail)? {
        check_delivery(&model, id, &p)?;
        model.required.remove(&id);
        model.delivered.push(id);
    }
    prop_assert!(
        model.required.is_empty(),
        "never delivered: {:?}",
        model.required
    );
    Ok(())
}

fn options_strategy() -> impl Strategy<Value = DiskQueueOptions> {
    (
        prop_oneof![Just(64u64), Just(150), Just(400)],
        prop_oneof![3 => Just(1u64 << 20), 1 => Just(400u64), 1 => Just(900)],
        prop_oneof![Just(1u64), Just(100), Just(1 << 20)],
    )
        .prop_map(|(segment_bytes, max_bytes, fsync_bytes)| DiskQueueOptions {
            segment_bytes,
            max_bytes,
            fsync_every: Duration::from_secs(3600),
            fsync_bytes,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random appends, reads, acknowledgements, syncs, crashes and reopens never lose an
    /// fsynced record, never deliver a damaged or acknowledged one, keep the order, and
    /// deliver twice only what came after the persisted checkpoint.
    #[test]
    fn crash_consistency(
        seed in any::<u64>(),
        options in options_strategy(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        run_ops(seed, options, ops)?;
    }
}

#[test]
fn header_len_matches_the_format() {
    assert_eq!(HEADER_LEN, 8);
    let h = record_header(b"abc");
    assert_eq!(&h[..4], &3u32.to_le_bytes());
    assert_eq!(&h[4..], &crc32c::crc32c(b"abc").to_le_bytes());
}
