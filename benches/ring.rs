//! Rendezvous ring: owners of every target for a whole view, on one core.
//! `cargo bench --bench ring -- --warm-up-time 1 --measurement-time 3`
//!
//! 100k keys over 300 members (r = 1 and r = 2) and 1M keys over 1,000 members (r = 1);
//! the goal for the latter is under a second. The scale model of 10M series over 20 replicas
//! (BENCHMARKS.md): 50k targets (200 series each on average) over 20 members. Throughput is
//! in keys.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promshard::coord::ring::Ring;

fn members(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("promshard-{i}.promshard.monitoring.svc:9095"))
        .collect()
}

fn keys(n: usize) -> Vec<u64> {
    let mut rng = fastrand::Rng::with_seed(42);
    (0..n).map(|_| rng.u64(..)).collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring/assign_all");
    for (key_count, member_count, replicas) in [
        (100_000, 300, 1),
        (100_000, 300, 2),
        (1_000_000, 1_000, 1),
        (50_000, 20, 1),
    ] {
        let ring = Ring::new(members(member_count));
        let keys = keys(key_count);
        g.throughput(Throughput::Elements(key_count as u64));
        // Few samples: one 1M-key pass takes most of a second.
        g.sample_size(if key_count >= 1_000_000 { 10 } else { 50 });
        g.bench_function(
            format!("{key_count}_keys/{member_count}_members/r{replicas}"),
            |b| b.iter(|| ring.assign_all(black_box(&keys), replicas)),
        );
    }
    g.finish();

    // One key at a time, as a replica checks a single target.
    let ring = Ring::new(members(300));
    let mut g = c.benchmark_group("ring/single");
    g.bench_function("owner/300_members", |b| {
        b.iter(|| ring.owner(black_box(0x0123_4567_89ab_cdef)))
    });
    g.bench_function("owners_r2/300_members", |b| {
        b.iter(|| ring.owners(black_box(0x0123_4567_89ab_cdef), 2))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
