//! Disk queue throughput on the real file system (a temporary directory under `$TMPDIR`):
//! `cargo bench --bench disk_queue -- --warm-up-time 1 --measurement-time 3`.
//!
//! Records of 32 KiB, about one compressed remote write request of 2,000 samples. `append`
//! uses the default fsync policy (every 16 MiB or 1 s); `append+fsync` fsyncs every record
//! (the worst case); `append+read+ack` appends, reads back and acknowledges each record (one
//! checkpoint write, fsync and rename per ack; the sender acknowledges at most once a second).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promshard::remote_write::disk::{DiskQueue, DiskQueueOptions};
use std::hint::black_box;

const RECORD: usize = 32 << 10;

fn bench_disk_queue(c: &mut Criterion) {
    let payload: Vec<u8> = (0..RECORD).map(|i| (i * 7 % 251) as u8).collect();
    let mut group = c.benchmark_group("disk_queue");
    group.throughput(Throughput::Bytes(RECORD as u64));
    for (name, fsync_bytes) in [("append", 16u64 << 20), ("append+fsync", 1)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = DiskQueueOptions {
            fsync_bytes,
            max_bytes: 256 << 20,
            ..DiskQueueOptions::default()
        };
        let (mut queue, _) = DiskQueue::open(dir.path(), options).expect("open");
        group.bench_function(name, |b| {
            b.iter(|| black_box(queue.append(&payload).expect("append")))
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let options = DiskQueueOptions {
        max_bytes: 1 << 30,
        ..DiskQueueOptions::default()
    };
    let (mut queue, _) = DiskQueue::open(dir.path(), options).expect("open");
    group.bench_function("append+read+ack", |b| {
        b.iter(|| {
            queue.append(&payload).expect("append");
            let (id, record) = queue.next().expect("read").expect("a record");
            queue.ack(id).expect("ack");
            black_box(record.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_disk_queue);
criterion_main!(benches);
