//! The remote write disk queue as the sender uses it (`RemoteWrite` with a spool directory):
//! final rejections while replaying, the size bound, and a queue left by one run sent by the
//! next one before anything newer.

mod common;

use common::receiver::{Receiver, Reply, now_ms, remote_write_configs};
use common::strict_receiver::StrictReceiver;
use promshard::labels::Labels;
use promshard::remote_write::disk::DiskQueueOptions;
use promshard::remote_write::spool::SpoolOptions;
use promshard::remote_write::{
    DropReason, RemoteWrite, RemoteWriteMetrics, RemoteWriteOptions, Sample, SampleSink,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn sink(url: &str, queue: &str, dir: &Path, disk: DiskQueueOptions) -> RemoteWrite {
    let configs = remote_write_configs(&format!(
        "  - url: {url}\n    metadata_config:\n      send: false\n    queue_config:\n      min_backoff: 10ms\n      max_backoff: 50ms\n{queue}"
    ));
    let options = RemoteWriteOptions {
        flush_deadline: Duration::from_secs(1),
        spool: Some(SpoolOptions {
            dir: dir.to_path_buf(),
            disk,
        }),
        ..RemoteWriteOptions::default()
    };
    RemoteWrite::with_options(&configs, &BTreeMap::new(), options).unwrap()
}

fn metrics(rw: &RemoteWrite) -> Arc<RemoteWriteMetrics> {
    Arc::clone(&rw.metrics()[0].metrics)
}

fn get(c: &std::sync::atomic::AtomicU64) -> u64 {
    RemoteWriteMetrics::get(c)
}

/// A sample of series `series` (labels `{__name__="m", s="<series>"}`, ref `series`) whose
/// value is its timestamp.
fn sample(series: u64, timestamp_ms: i64) -> Sample {
    let labels = Labels::from_pairs([("__name__", "m"), ("s", series.to_string().as_str())]);
    Sample {
        series,
        value_bits: (timestamp_ms as f64).to_bits(),
        ..Sample::of(&labels, timestamp_ms, 0)
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Acceptance 3: while the disk queue replays, a 409 (Thanos: out of order / conflict) is
/// final: that request is counted as rejected by status and the requests after it go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_409_does_not_stall_the_disk_queue() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    // The first request fails (so everything after it goes to disk); its replay gets 409.
    receiver.script([
        Reply::status(503),
        Reply::status(409).body("out of order sample"),
    ]);
    let queue = "      batch_send_deadline: 20ms\n      max_samples_per_send: 1\n";
    let rw = sink(
        &receiver.url,
        queue,
        dir.path(),
        DiskQueueOptions::default(),
    );
    let t = now_ms();
    for i in 0..5 {
        rw.append(&[sample(1, t + i)]);
    }
    let m = metrics(&rw);
    wait_until("every sample answered", || {
        get(&m.samples_sent) + m.samples_failed_total() == 5
    })
    .await;
    wait_until("an empty disk queue", || {
        m.pending() == 0 && get(&m.disk_pending_bytes) == 0
    })
    .await;
    let received = receiver.received();
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 409, 204, 204, 204, 204], "{statuses:?}");
    assert_eq!(
        received[1].body, received[0].body,
        "the 409 was the replayed request"
    );
    assert_eq!(m.failed_requests_by_status(), BTreeMap::from([(409, 1)]));
    assert_eq!(m.samples_failed_class(4), 1);
    assert_eq!(get(&m.samples_sent), 4);
    let sent: Vec<i64> = receiver
        .accepted_samples()
        .iter()
        .map(|(_, ts, _)| *ts)
        .collect();
    assert_eq!(
        sent,
        (t + 1..t + 5).collect::<Vec<_>>(),
        "order after the 409"
    );
    rw.shutdown().await;
}

/// The size bound: with the receiver down the queue stays under `max_bytes` by deleting the
/// oldest requests, counted as `dropped{reason="storage_full"}`; what is left is sent in
/// order once the receiver is back, and every sample is either sent or counted as dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_bound_deletes_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = StrictReceiver::start().await;
    receiver.answer(503);
    let disk = DiskQueueOptions {
        segment_bytes: 4 << 10,
        max_bytes: 32 << 10,
        ..DiskQueueOptions::default()
    };
    let queue = "      batch_send_deadline: 10ms\n      max_samples_per_send: 50\n";
    let url = format!("http://{}/api/v1/write", receiver.addr);
    let rw = sink(&url, queue, dir.path(), disk);
    let m = metrics(&rw);
    let t = now_ms();
    let rounds = 400;
    let mut max_disk = 0;
    for round in 0..rounds {
        let batch: Vec<Sample> = (0..50).map(|s| sample(s, t + round)).collect();
        rw.append(&batch);
        tokio::time::sleep(Duration::from_millis(2)).await;
        max_disk = max_disk.max(get(&m.disk_bytes));
    }
    wait_until("samples deleted for room", || {
        m.dropped(DropReason::StorageFull) > 0
    })
    .await;
    assert!(max_disk <= 32 << 10, "disk queue grew to {max_disk} bytes");
    receiver.answer(204);
    let total = 50 * rounds as u64;
    wait_until("every sample sent or dropped", || {
        get(&m.samples_sent) + m.dropped(DropReason::StorageFull) == total && m.pending() == 0
    })
    .await;
    assert_eq!(m.samples_failed_total(), 0);
    assert_eq!(m.dropped(DropReason::QueueFull), 0);
    receiver.with_store(|store| {
        assert_eq!(store.violation_count, 0, "{:?}", store.violations);
        // The newest samples survive: every series ends with the last round.
        assert_eq!(store.series.len(), 50);
        for samples in store.series.values() {
            assert_eq!(samples.last().map(|s| s.0), Some(t + rounds - 1));
        }
        let stored: u64 = store.series.values().map(|s| s.len() as u64).sum();
        assert_eq!(stored, get(&m.samples_sent));
    });
    rw.shutdown().await;
}

/// A queue left on disk by one run (receiver down until shutdown) is sent by the next run on
/// the same directory before anything that run scrapes; the pending gauge starts with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_run_sends_the_queue_left_on_disk_first() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = StrictReceiver::start().await;
    receiver.answer(503);
    let url = format!("http://{}/api/v1/write", receiver.addr);
    let queue = "      batch_send_deadline: 10ms\n";
    let t = now_ms();
    {
        let rw = sink(&url, queue, dir.path(), DiskQueueOptions::default());
        for i in 0..100 {
            rw.append(&[sample(1, t + i), sample(2, t + i)]);
        }
        let m = metrics(&rw);
        wait_until("200 samples on disk", || get(&m.samples_spilled) == 200).await;
        // The flush deadline (1s) passes with the receiver down: the queue stays on disk.
        rw.shutdown().await;
        assert_eq!(m.dropped(DropReason::Shutdown), 0);
    }
    receiver.answer(204);
    let rw = sink(&url, queue, dir.path(), DiskQueueOptions::default());
    let m = metrics(&rw);
    for i in 100..150 {
        rw.append(&[sample(1, t + i), sample(2, t + i)]);
    }
    wait_until("300 samples stored", || {
        receiver.with_store(|s| s.series.values().map(Vec::len).sum::<usize>()) == 300
    })
    .await;
    receiver.with_store(|store| {
        assert_eq!(store.violation_count, 0, "{:?}", store.violations);
        for samples in store.series.values() {
            let timestamps: Vec<i64> = samples.iter().map(|s| s.0).collect();
            assert_eq!(timestamps, (t..t + 150).collect::<Vec<_>>());
        }
    });
    wait_until("nothing pending", || m.pending() == 0).await;
    // The replayed samples were counted as sent by this run.
    assert_eq!(get(&m.samples_sent), 300);
    rw.shutdown().await;
}
