//! Shared by the benchmarks: generated bodies and an allocation counter.
#![allow(dead_code)]

use promshard::scrape::parse::Format;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A cAdvisor-like exposition: 10,000 series, 6 labels each.
pub fn cadvisor(format: Format) -> Vec<u8> {
    let mut out = String::new();
    let metrics = [
        ("container_cpu_usage_seconds_total", "counter"),
        ("container_memory_working_set_bytes", "gauge"),
        ("container_network_receive_bytes_total", "counter"),
        ("container_fs_reads_bytes_total", "counter"),
    ];
    let per_metric = 10_000 / metrics.len();
    for (m, (name, kind)) in metrics.iter().enumerate() {
        let family = match format {
            Format::OpenMetrics => name.trim_end_matches("_total"),
            Format::PrometheusText => name,
        };
        out.push_str(&format!(
            "# HELP {family} Cumulative {family} of the container.\n"
        ));
        out.push_str(&format!("# TYPE {family} {kind}\n"));
        for i in 0..per_metric {
            let pod = format!("app-{:05}-7d9f8b-x{:03}", i / 3, i % 1000);
            let ns = ["default", "kube-system", "monitoring", "payments"][i % 4];
            let value = (i * 7919 + m * 104729) as f64 / 1000.0 + 0.125;
            let ts_ms = 1_700_000_000_000u64 + (i as u64 % 1000) * 15;
            out.push_str(&format!(
                "{name}{{container=\"app\",id=\"/kubepods/burstable/pod{i:08x}/{:012x}\",image=\"registry.io/app:v1.{}\",name=\"k8s_app_{pod}\",namespace=\"{ns}\",pod=\"{pod}\"}} {value} ",
                (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16,
                i % 50,
            ));
            match format {
                Format::PrometheusText => out.push_str(&format!("{ts_ms}\n")),
                Format::OpenMetrics => {
                    out.push_str(&format!("{}.{:03}\n", ts_ms / 1000, ts_ms % 1000))
                }
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out.into_bytes()
}

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// Counts live heap bytes; install with `#[global_allocator]` in a benchmark.
pub struct CountingAllocator;

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Live heap bytes counted so far.
pub fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}
