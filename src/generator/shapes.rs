//! The series of each shape. A builder emits series entity by entity (a label combination,
//! a container, a CPU, interface, disk or filesystem of the node) and stops at exactly
//! `options.series`, so any count is reachable; `Layout` then groups them by family.

use super::body::{Built, Family, Kind, Motion, Scale, SeriesSpec};
use super::{GenOptions, Shape, mix};
use std::fmt::Write as _;

pub(crate) fn build(options: &GenOptions, seed: u64) -> Built {
    match options.shape {
        Shape::Article => article(options),
        Shape::Cadvisor => cadvisor(options.series, seed),
        Shape::NodeExporter => node_exporter(options.series, seed),
    }
}

/// Every combination of `labels` labels of `values_per_label` values makes one metric name's
/// series (the last label varies fastest); when they run out the next name starts. Even
/// names are gauges, odd ones counters. The series are the same for every target (the
/// article's pods were replicas of one Deployment); only the values differ.
fn article(options: &GenOptions) -> Built {
    let per_name = u32::try_from(options.labels)
        .ok()
        .and_then(|labels| options.values_per_label.checked_pow(labels))
        .unwrap_or(usize::MAX)
        .max(1);
    let names = options.series.div_ceil(per_name);
    let families = (0..names)
        .map(|index| {
            let name = padded_metric_name(index, options.metric_name_length);
            if index % 2 == 0 {
                Family {
                    name,
                    help: "A generated gauge (article shape).".to_string(),
                    kind: Kind::Gauge,
                    motion: Motion::Wave { lo: 0, hi: 100_000 },
                    scale: Scale::Milli,
                }
            } else {
                Family {
                    name: format!("{name}_total"),
                    help: "A generated counter (article shape).".to_string(),
                    kind: Kind::Counter,
                    motion: Motion::Rate { lo: 1, hi: 100 },
                    scale: Scale::Units,
                }
            }
        })
        .collect();
    let width = options.label_value_length;
    let mut values = vec![0usize; options.labels];
    let series = (0..options.series)
        .map(|i| {
            let mut combination = i % per_name;
            for value in values.iter_mut().rev() {
                *value = combination % options.values_per_label;
                combination /= options.values_per_label;
            }
            let mut labels = String::new();
            for (j, value) in values.iter().enumerate() {
                labels.push(if j == 0 { '{' } else { ',' });
                let _ = write!(labels, "label_{j}=\"{value:0width$}\"");
            }
            if !values.is_empty() {
                labels.push('}');
            }
            SeriesSpec {
                family: i / per_name,
                labels,
            }
        })
        .collect();
    Built { families, series }
}

/// `metrics{index}` left-padded to `length` characters as `a000…metrics{index}` (the
/// article's generator pads names this way: its rule queries `a00000000000metrics0`).
fn padded_metric_name(index: usize, length: usize) -> String {
    let base = format!("metrics{index}");
    if length <= base.len() {
        return base;
    }
    format!("a{}{base}", "0".repeat(length - 1 - base.len()))
}

/// A family of a fixed shape: cAdvisor's or node_exporter's name, help and type, how its
/// values move and the extra label sets each entity has in it.
struct Def {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    motion: Motion,
    scale: Scale,
    extra: &'static [&'static [(&'static str, &'static str)]],
}

const NO_EXTRA: &[&[(&str, &str)]] = &[&[]];

const fn counter(
    name: &'static str,
    help: &'static str,
    lo: u64,
    hi: u64,
    scale: Scale,
    extra: &'static [&'static [(&'static str, &'static str)]],
) -> Def {
    Def {
        name,
        help,
        kind: Kind::Counter,
        motion: Motion::Rate { lo, hi },
        scale,
        extra,
    }
}

const fn gauge(
    name: &'static str,
    help: &'static str,
    lo: u64,
    hi: u64,
    scale: Scale,
    extra: &'static [&'static [(&'static str, &'static str)]],
) -> Def {
    Def {
        name,
        help,
        kind: Kind::Gauge,
        motion: Motion::Wave { lo, hi },
        scale,
        extra,
    }
}

const fn clock(name: &'static str, help: &'static str) -> Def {
    Def {
        name,
        help,
        kind: Kind::Gauge,
        motion: Motion::Clock,
        scale: Scale::Units,
        extra: NO_EXTRA,
    }
}

fn families_of<'a>(defs: impl Iterator<Item = &'a Def>) -> Vec<Family> {
    defs.map(|def| Family {
        name: def.name.to_string(),
        help: def.help.to_string(),
        kind: def.kind,
        motion: def.motion,
        scale: def.scale,
    })
    .collect()
}

/// Emits one series of family number `family` (`def`) per extra label set, with `entity`'s
/// labels, until `out` holds `limit` series. Labels are written sorted by name, as the
/// exporters do.
fn emit(
    out: &mut Vec<SeriesSpec>,
    limit: usize,
    def: &Def,
    family: usize,
    entity: &[(&'static str, &str)],
) {
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(entity.len() + 4);
    for extra in def.extra {
        if out.len() >= limit {
            return;
        }
        pairs.clear();
        pairs.extend(entity.iter().copied());
        pairs.extend(extra.iter().copied());
        pairs.sort_unstable_by_key(|&(name, _)| name);
        let mut labels = String::with_capacity(
            pairs
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>()
                + 1,
        );
        for (i, (name, value)) in pairs.iter().enumerate() {
            labels.push(if i == 0 { '{' } else { ',' });
            let _ = write!(labels, "{name}=\"{value}\"");
        }
        if !pairs.is_empty() {
            labels.push('}');
        }
        out.push(SeriesSpec { family, labels });
    }
}

const DEVICE: &[&[(&str, &str)]] = &[&[("device", "/dev/sda")]];
const CPU_TOTAL: &[&[(&str, &str)]] = &[&[("cpu", "total")]];
const INTERFACE: &[&[(&str, &str)]] = &[&[("interface", "eth0")]];
const BLKIO: &[&[(&str, &str)]] = &[
    &[
        ("device", "/dev/sda"),
        ("major", "8"),
        ("minor", "0"),
        ("operation", "Read"),
    ],
    &[
        ("device", "/dev/sda"),
        ("major", "8"),
        ("minor", "0"),
        ("operation", "Write"),
    ],
];
const MEMORY_FAILURES: &[&[(&str, &str)]] = &[
    &[("failure_type", "pgfault"), ("scope", "container")],
    &[("failure_type", "pgfault"), ("scope", "hierarchy")],
    &[("failure_type", "pgmajfault"), ("scope", "container")],
    &[("failure_type", "pgmajfault"), ("scope", "hierarchy")],
];
const TASK_STATES: &[&[(&str, &str)]] = &[
    &[("state", "iowaiting")],
    &[("state", "running")],
    &[("state", "sleeping")],
    &[("state", "stopped")],
    &[("state", "uninterruptible")],
];

use Scale::{Milli, Units};

/// cAdvisor's container metrics as the kubelet exposes them, help texts included. Only
/// moving ones: constant specs (limits, start times) would not exercise anything more.
const CADVISOR: &[Def] = &[
    counter(
        "container_blkio_device_usage_total",
        "Blkio Device bytes usage",
        1_000,
        2_000_000,
        Units,
        BLKIO,
    ),
    counter(
        "container_cpu_cfs_periods_total",
        "Number of elapsed enforcement period intervals.",
        1,
        10,
        Units,
        NO_EXTRA,
    ),
    counter(
        "container_cpu_cfs_throttled_periods_total",
        "Number of throttled period intervals.",
        0,
        3,
        Units,
        NO_EXTRA,
    ),
    counter(
        "container_cpu_cfs_throttled_seconds_total",
        "Total time duration the container has been throttled.",
        0,
        200,
        Milli,
        NO_EXTRA,
    ),
    counter(
        "container_cpu_system_seconds_total",
        "Cumulative system cpu time consumed in seconds.",
        1,
        300,
        Milli,
        NO_EXTRA,
    ),
    counter(
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed in seconds.",
        5,
        2_000,
        Milli,
        CPU_TOTAL,
    ),
    counter(
        "container_cpu_user_seconds_total",
        "Cumulative user cpu time consumed in seconds.",
        2,
        1_500,
        Milli,
        NO_EXTRA,
    ),
    gauge(
        "container_file_descriptors",
        "Number of open file descriptors for the container.",
        5,
        500,
        Units,
        NO_EXTRA,
    ),
    gauge(
        "container_fs_inodes_free",
        "Number of available Inodes",
        1_000_000,
        30_000_000,
        Units,
        DEVICE,
    ),
    counter(
        "container_fs_io_time_seconds_total",
        "Cumulative count of seconds spent doing I/Os",
        1,
        50,
        Milli,
        DEVICE,
    ),
    counter(
        "container_fs_reads_bytes_total",
        "Cumulative count of bytes read",
        100,
        500_000,
        Units,
        DEVICE,
    ),
    counter(
        "container_fs_reads_total",
        "Cumulative count of reads completed",
        1,
        100,
        Units,
        DEVICE,
    ),
    gauge(
        "container_fs_usage_bytes",
        "Number of bytes that are consumed by the container on this filesystem.",
        4_096,
        2_000_000_000,
        Units,
        DEVICE,
    ),
    counter(
        "container_fs_writes_bytes_total",
        "Cumulative count of bytes written",
        100,
        1_000_000,
        Units,
        DEVICE,
    ),
    counter(
        "container_fs_writes_total",
        "Cumulative count of writes completed",
        1,
        200,
        Units,
        DEVICE,
    ),
    clock(
        "container_last_seen",
        "Last time a container was seen by the exporter",
    ),
    gauge(
        "container_memory_cache",
        "Number of bytes of page cache memory.",
        1 << 20,
        1 << 30,
        Units,
        NO_EXTRA,
    ),
    counter(
        "container_memory_failcnt",
        "Number of memory usage hits limits",
        0,
        2,
        Units,
        NO_EXTRA,
    ),
    counter(
        "container_memory_failures_total",
        "Cumulative count of memory allocation failures.",
        1,
        5_000,
        Units,
        MEMORY_FAILURES,
    ),
    gauge(
        "container_memory_mapped_file",
        "Size of memory mapped files in bytes.",
        1 << 16,
        1 << 28,
        Units,
        NO_EXTRA,
    ),
    gauge(
        "container_memory_rss",
        "Size of RSS in bytes.",
        1 << 20,
        1 << 31,
        Units,
        NO_EXTRA,
    ),
    gauge(
        "container_memory_swap",
        "Container swap usage in bytes.",
        0,
        1 << 20,
        Units,
        NO_EXTRA,
    ),
    gauge(
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        1 << 20,
        1 << 31,
        Units,
        NO_EXTRA,
    ),
    gauge(
        "container_memory_working_set_bytes",
        "Current working set in bytes.",
        1 << 20,
        1 << 31,
        Units,
        NO_EXTRA,
    ),
    counter(
        "container_network_receive_bytes_total",
        "Cumulative count of bytes received",
        100,
        1_000_000,
        Units,
        INTERFACE,
    ),
    counter(
        "container_network_receive_errors_total",
        "Cumulative count of errors encountered while receiving",
        0,
        2,
        Units,
        INTERFACE,
    ),
    counter(
        "container_network_receive_packets_dropped_total",
        "Cumulative count of packets dropped while receiving",
        0,
        2,
        Units,
        INTERFACE,
    ),
    counter(
        "container_network_receive_packets_total",
        "Cumulative count of packets received",
        1,
        1_000,
        Units,
        INTERFACE,
    ),
    counter(
        "container_network_transmit_bytes_total",
        "Cumulative count of bytes transmitted",
        100,
        1_000_000,
        Units,
        INTERFACE,
    ),
    counter(
        "container_network_transmit_errors_total",
        "Cumulative count of errors encountered while transmitting",
        0,
        2,
        Units,
        INTERFACE,
    ),
    counter(
        "container_network_transmit_packets_dropped_total",
        "Cumulative count of packets dropped while transmitting",
        0,
        2,
        Units,
        INTERFACE,
    ),
    counter(
        "container_network_transmit_packets_total",
        "Cumulative count of packets transmitted",
        1,
        1_000,
        Units,
        INTERFACE,
    ),
    counter(
        "container_oom_events_total",
        "Count of out of memory events observed for the container",
        0,
        1,
        Units,
        NO_EXTRA,
    ),
    gauge(
        "container_processes",
        "Number of processes running inside the container.",
        1,
        20,
        Units,
        NO_EXTRA,
    ),
    gauge(
        "container_sockets",
        "Number of open sockets for the container.",
        0,
        200,
        Units,
        NO_EXTRA,
    ),
    gauge(
        "container_tasks_state",
        "Number of tasks in given state",
        0,
        50,
        Units,
        TASK_STATES,
    ),
    gauge(
        "container_threads",
        "Number of threads running inside the container",
        1,
        200,
        Units,
        NO_EXTRA,
    ),
];

/// (container name, image) of pods' main containers, and of sidecars.
const APPS: &[(&str, &str)] = &[
    ("api", "acme.io/shop/api:v2.14.0"),
    ("checkout", "acme.io/shop/checkout:v1.8.3"),
    ("coredns", "registry.k8s.io/coredns/coredns:v1.11.1"),
    ("grafana", "docker.io/grafana/grafana:10.2.3"),
    ("nginx", "docker.io/library/nginx:1.25.3"),
    ("postgres", "docker.io/library/postgres:16.1"),
    ("redis", "docker.io/library/redis:7.2.4"),
    ("search", "acme.io/search/indexer:v3.1.0"),
    ("worker", "acme.io/shop/worker:v2.14.0"),
];
const SIDECARS: &[(&str, &str)] = &[
    ("istio-proxy", "docker.io/istio/proxyv2:1.20.2"),
    ("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:2.2.0"),
];
const NAMESPACES: &[&str] = &[
    "checkout",
    "data",
    "default",
    "ingress-nginx",
    "kube-system",
    "monitoring",
    "payments",
    "search",
];
const QOS_CLASSES: &[&str] = &["burstable", "besteffort", "guaranteed"];

/// Kubernetes' random suffix alphabet (no vowels, no look-alike digits).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn suffix(mut bits: u64, length: usize) -> String {
    (0..length)
        .map(|_| {
            let c = SUFFIX_ALPHABET[(bits % SUFFIX_ALPHABET.len() as u64) as usize];
            bits /= SUFFIX_ALPHABET.len() as u64;
            c as char
        })
        .collect()
}

/// The pods of one node: each has a main container and up to two sidecars, named from
/// `seed`, so every target is a different node. Network series belong to a pod, so only
/// its first container has them.
fn cadvisor(limit: usize, seed: u64) -> Built {
    let mut series = Vec::with_capacity(limit);
    let mut pod_number = 0u64;
    while series.len() < limit {
        let hash = mix(seed ^ mix(pod_number));
        let (app, app_image) = APPS[(hash % APPS.len() as u64) as usize];
        let namespace = NAMESPACES[((hash >> 8) % NAMESPACES.len() as u64) as usize];
        let qos = QOS_CLASSES[((hash >> 16) % QOS_CLASSES.len() as u64) as usize];
        let pod = format!("{app}-{}-{}", suffix(hash >> 20, 10), suffix(mix(hash), 5));
        // Shorter than the kubelet's (a 36-character pod UID, a 64-hex container ID) so
        // lines average ~230 bytes, the size the parser and scrape benchmarks use. Distinct
        // for every pod of the node, so no two series can collide.
        let pod_uid = format!("{:08x}", scramble(pod_number, seed));
        let sidecars = ((hash >> 40) % 3) as usize;
        let containers = std::iter::once((app, app_image)).chain(SIDECARS.iter().copied());
        for (index, (container, image)) in containers.take(1 + sidecars).enumerate() {
            let container_id = format!("{:012x}", mix(hash ^ (index as u64 + 2)) >> 16);
            let id = format!("/kubepods/{qos}/pod{pod_uid}/{container_id}");
            let entity = [
                ("container", container),
                ("id", id.as_str()),
                ("image", image),
                // containerd's: the container ID (dockershim's was k8s_<container>_<pod>_…).
                ("name", container_id.as_str()),
                ("namespace", namespace),
                ("pod", pod.as_str()),
            ];
            for (family, def) in CADVISOR.iter().enumerate() {
                if index > 0 && def.extra == INTERFACE {
                    continue;
                }
                emit(&mut series, limit, def, family, &entity);
            }
        }
        pod_number += 1;
    }
    Built {
        families: families_of(CADVISOR.iter()),
        series,
    }
}

const CPU_MODES: &[&[(&str, &str)]] = &[
    &[("mode", "idle")],
    &[("mode", "iowait")],
    &[("mode", "irq")],
    &[("mode", "nice")],
    &[("mode", "softirq")],
    &[("mode", "steal")],
    &[("mode", "system")],
    &[("mode", "user")],
];
const GUEST_MODES: &[&[(&str, &str)]] = &[&[("mode", "nice")], &[("mode", "user")]];

/// What a node_exporter family is about: the node as a whole, or one of its CPUs,
/// disks, filesystems or network interfaces.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Subject {
    Node,
    Cpu,
    Disk,
    Filesystem,
    Network,
}

const fn node(def: Def, subject: Subject) -> (Def, Subject) {
    (def, subject)
}

const fn memory(name: &'static str, help: &'static str) -> (Def, Subject) {
    node(
        gauge(name, help, 1 << 24, 1 << 34, Units, NO_EXTRA),
        Subject::Node,
    )
}

/// node_exporter's metrics (default collectors, moving ones), in its output order.
const NODE_EXPORTER: &[(Def, Subject)] = &[
    node(
        counter(
            "node_context_switches_total",
            "Total number of context switches.",
            1_000,
            50_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        counter(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
            0,
            10,
            Milli,
            GUEST_MODES,
        ),
        Subject::Cpu,
    ),
    node(
        gauge(
            "node_cpu_scaling_frequency_hertz",
            "Current scaled CPU thread frequency in hertz.",
            800_000_000,
            3_500_000_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Cpu,
    ),
    node(
        counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            1,
            1_000,
            Milli,
            CPU_MODES,
        ),
        Subject::Cpu,
    ),
    node(
        gauge(
            "node_disk_io_now",
            "The number of I/Os currently in progress.",
            0,
            10,
            Units,
            NO_EXTRA,
        ),
        Subject::Disk,
    ),
    node(
        counter(
            "node_disk_io_time_seconds_total",
            "Total seconds spent doing I/Os.",
            1,
            500,
            Milli,
            NO_EXTRA,
        ),
        Subject::Disk,
    ),
    node(
        counter(
            "node_disk_read_bytes_total",
            "The total number of bytes read successfully.",
            1_000,
            50_000_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Disk,
    ),
    node(
        counter(
            "node_disk_read_time_seconds_total",
            "The total number of seconds spent by all reads.",
            1,
            500,
            Milli,
            NO_EXTRA,
        ),
        Subject::Disk,
    ),
    node(
        counter(
            "node_disk_reads_completed_total",
            "The total number of reads completed successfully.",
            1,
            2_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Disk,
    ),
    node(
        counter(
            "node_disk_reads_merged_total",
            "The total number of reads merged.",
            0,
            100,
            Units,
            NO_EXTRA,
        ),
        Subject::Disk,
    ),
    node(
        counter(
            "node_disk_write_time_seconds_total",
            "This is the total number of seconds spent by all writes.",
            1,
            500,
            Milli,
            NO_EXTRA,
        ),
        Subject::Disk,
    ),
    node(
        counter(
            "node_disk_writes_completed_total",
            "The total number of writes completed successfully.",
            1,
            2_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Disk,
    ),
    node(
        counter(
            "node_disk_writes_merged_total",
            "The number of writes merged.",
            0,
            100,
            Units,
            NO_EXTRA,
        ),
        Subject::Disk,
    ),
    node(
        counter(
            "node_disk_written_bytes_total",
            "The total number of bytes written successfully.",
            1_000,
            50_000_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Disk,
    ),
    node(
        gauge(
            "node_entropy_available_bits",
            "Bits of available entropy.",
            256,
            4_096,
            Units,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        gauge(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            1_000,
            50_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        gauge(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            1 << 20,
            1 << 36,
            Units,
            NO_EXTRA,
        ),
        Subject::Filesystem,
    ),
    node(
        gauge(
            "node_filesystem_files",
            "Filesystem total file nodes.",
            1 << 16,
            1 << 24,
            Units,
            NO_EXTRA,
        ),
        Subject::Filesystem,
    ),
    node(
        gauge(
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            1 << 16,
            1 << 24,
            Units,
            NO_EXTRA,
        ),
        Subject::Filesystem,
    ),
    node(
        gauge(
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            1 << 20,
            1 << 36,
            Units,
            NO_EXTRA,
        ),
        Subject::Filesystem,
    ),
    node(
        gauge(
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            1 << 20,
            1 << 36,
            Units,
            NO_EXTRA,
        ),
        Subject::Filesystem,
    ),
    node(
        counter(
            "node_forks_total",
            "Total number of forks.",
            1,
            100,
            Units,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        counter(
            "node_intr_total",
            "Total number of interrupts serviced.",
            1_000,
            50_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        gauge(
            "node_load1",
            "1m load average.",
            100,
            8_000,
            Milli,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        gauge(
            "node_load15",
            "15m load average.",
            100,
            8_000,
            Milli,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        gauge(
            "node_load5",
            "5m load average.",
            100,
            8_000,
            Milli,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    memory(
        "node_memory_Active_anon_bytes",
        "Memory information field Active_anon_bytes.",
    ),
    memory(
        "node_memory_Active_bytes",
        "Memory information field Active_bytes.",
    ),
    memory(
        "node_memory_Active_file_bytes",
        "Memory information field Active_file_bytes.",
    ),
    memory(
        "node_memory_AnonPages_bytes",
        "Memory information field AnonPages_bytes.",
    ),
    memory(
        "node_memory_Buffers_bytes",
        "Memory information field Buffers_bytes.",
    ),
    memory(
        "node_memory_Cached_bytes",
        "Memory information field Cached_bytes.",
    ),
    memory(
        "node_memory_Committed_AS_bytes",
        "Memory information field Committed_AS_bytes.",
    ),
    memory(
        "node_memory_Dirty_bytes",
        "Memory information field Dirty_bytes.",
    ),
    memory(
        "node_memory_Inactive_anon_bytes",
        "Memory information field Inactive_anon_bytes.",
    ),
    memory(
        "node_memory_Inactive_bytes",
        "Memory information field Inactive_bytes.",
    ),
    memory(
        "node_memory_Inactive_file_bytes",
        "Memory information field Inactive_file_bytes.",
    ),
    memory(
        "node_memory_Mapped_bytes",
        "Memory information field Mapped_bytes.",
    ),
    memory(
        "node_memory_MemAvailable_bytes",
        "Memory information field MemAvailable_bytes.",
    ),
    memory(
        "node_memory_MemFree_bytes",
        "Memory information field MemFree_bytes.",
    ),
    memory(
        "node_memory_PageTables_bytes",
        "Memory information field PageTables_bytes.",
    ),
    memory(
        "node_memory_SReclaimable_bytes",
        "Memory information field SReclaimable_bytes.",
    ),
    memory(
        "node_memory_SUnreclaim_bytes",
        "Memory information field SUnreclaim_bytes.",
    ),
    memory(
        "node_memory_Shmem_bytes",
        "Memory information field Shmem_bytes.",
    ),
    memory(
        "node_memory_Slab_bytes",
        "Memory information field Slab_bytes.",
    ),
    memory(
        "node_memory_SwapCached_bytes",
        "Memory information field SwapCached_bytes.",
    ),
    memory(
        "node_memory_SwapFree_bytes",
        "Memory information field SwapFree_bytes.",
    ),
    memory(
        "node_memory_Writeback_bytes",
        "Memory information field Writeback_bytes.",
    ),
    node(
        counter(
            "node_network_receive_bytes_total",
            "Network device statistic receive_bytes.",
            100,
            10_000_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Network,
    ),
    node(
        counter(
            "node_network_receive_drop_total",
            "Network device statistic receive_drop.",
            0,
            2,
            Units,
            NO_EXTRA,
        ),
        Subject::Network,
    ),
    node(
        counter(
            "node_network_receive_errs_total",
            "Network device statistic receive_errs.",
            0,
            2,
            Units,
            NO_EXTRA,
        ),
        Subject::Network,
    ),
    node(
        counter(
            "node_network_receive_packets_total",
            "Network device statistic receive_packets.",
            1,
            10_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Network,
    ),
    node(
        counter(
            "node_network_transmit_bytes_total",
            "Network device statistic transmit_bytes.",
            100,
            10_000_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Network,
    ),
    node(
        counter(
            "node_network_transmit_drop_total",
            "Network device statistic transmit_drop.",
            0,
            2,
            Units,
            NO_EXTRA,
        ),
        Subject::Network,
    ),
    node(
        counter(
            "node_network_transmit_errs_total",
            "Network device statistic transmit_errs.",
            0,
            2,
            Units,
            NO_EXTRA,
        ),
        Subject::Network,
    ),
    node(
        counter(
            "node_network_transmit_packets_total",
            "Network device statistic transmit_packets.",
            1,
            10_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Network,
    ),
    node(
        gauge(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            0,
            5,
            Units,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        gauge(
            "node_procs_running",
            "Number of processes in runnable state.",
            1,
            20,
            Units,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        counter(
            "node_softnet_dropped_total",
            "Number of dropped packets",
            0,
            2,
            Units,
            NO_EXTRA,
        ),
        Subject::Cpu,
    ),
    node(
        counter(
            "node_softnet_processed_total",
            "Number of processed packets",
            10,
            5_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Cpu,
    ),
    node(
        counter(
            "node_softnet_times_squeezed_total",
            "Number of times processing packets ran out of quota",
            0,
            2,
            Units,
            NO_EXTRA,
        ),
        Subject::Cpu,
    ),
    node(
        gauge(
            "node_sockstat_TCP_inuse",
            "Number of TCP sockets in state inuse.",
            10,
            2_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        gauge(
            "node_sockstat_sockets_used",
            "Number of IPv4 sockets in use.",
            100,
            5_000,
            Units,
            NO_EXTRA,
        ),
        Subject::Node,
    ),
    node(
        clock(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
        ),
        Subject::Node,
    ),
];

/// A node has at most this many CPUs and disks; more series come from more network
/// interfaces and filesystems (a Kubernetes node's pod veths and tmpfs mounts).
const MAX_CPUS: usize = 64;
const MAX_DISKS: usize = 8;

/// One machine, grown unit by unit: unit `k` brings CPU `k` and disk `k` (while there are
/// fewer than the limits), interface `k` and filesystem `k`; unit 0 also the node-wide series.
fn node_exporter(limit: usize, seed: u64) -> Built {
    let families = families_of(NODE_EXPORTER.iter().map(|(def, _)| def));
    let mut series = Vec::with_capacity(limit);
    let mut unit = 0usize;
    while series.len() < limit {
        let cpu = unit.to_string();
        let disk = disk_name(unit);
        let interface = match unit {
            0 => "eth0".to_string(),
            1 => "lo".to_string(),
            _ => format!("veth{:08x}", scramble(unit as u64, seed)),
        };
        let (device, fstype, mountpoint) = match unit {
            0 => ("/dev/sda1".to_string(), "ext4", "/".to_string()),
            1 => ("/dev/sda15".to_string(), "vfat", "/boot/efi".to_string()),
            2 => ("tmpfs".to_string(), "tmpfs", "/run".to_string()),
            _ => (
                "tmpfs".to_string(),
                "tmpfs",
                format!("/run/pods/{:08x}", scramble(unit as u64, !seed)),
            ),
        };
        for (family, (def, subject)) in NODE_EXPORTER.iter().enumerate() {
            let entity: Vec<(&'static str, &str)> = match subject {
                Subject::Node if unit == 0 => Vec::new(),
                Subject::Cpu if unit < MAX_CPUS => vec![("cpu", cpu.as_str())],
                Subject::Disk if unit < MAX_DISKS => vec![("device", disk.as_str())],
                Subject::Network => vec![("device", interface.as_str())],
                Subject::Filesystem => vec![
                    ("device", device.as_str()),
                    ("fstype", fstype),
                    ("mountpoint", mountpoint.as_str()),
                ],
                _ => continue,
            };
            emit(&mut series, limit, def, family, &entity);
        }
        unit += 1;
    }
    Built { families, series }
}

/// A random-looking 32-bit number, distinct for every `n` below 2^32 (for one `seed`):
/// multiplying by an odd number and xoring are bijections.
fn scramble(n: u64, seed: u64) -> u32 {
    (n as u32).wrapping_mul(0x9e37_79b1) ^ (mix(seed) as u32)
}

/// `sda`, `sdb`, … `sdz`, `sdaa`, … (Linux's SCSI disk names).
fn disk_name(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        n -= 1;
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    format!("sd{}", String::from_utf8_lossy(&letters))
}
