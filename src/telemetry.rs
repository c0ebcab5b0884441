//! promshard's own metrics, all declared here (one place per metric), served on `/metrics`.

use crate::remote_write::{DropReason, RemoteWrite, RemoteWriteMetrics};
use crate::scrape::ScrapeCounters;
use crate::sd::SdMetrics;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub scrape_job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobStateLabels {
    pub scrape_job: String,
    pub state: &'static str,
}

pub struct Telemetry {
    registry: Registry,
    /// `process_*`, as every Prometheus client library exposes them.
    process: Registry,
    /// Targets found invalid after relabeling, counted at every sync (Prometheus'
    /// `prometheus_target_sync_failed_total`).
    pub target_sync_failed: Family<JobLabels, Counter>,
    /// Current targets per job and state (`active`, `dropped`).
    pub targets: Family<JobStateLabels, Gauge>,
    /// 1 if the last reload succeeded.
    pub config_last_reload_successful: Gauge,
    pub config_last_reload_success_timestamp_seconds: Gauge,
    /// Discovery's own counters, set once the discovery manager exists.
    sd: Arc<OnceLock<Arc<SdMetrics>>>,
    /// The cluster, in cluster mode.
    cluster: Arc<OnceLock<Arc<crate::coord::Cluster>>>,
    /// The scrape loops' counters, set once the scrape manager exists.
    scrape: Arc<OnceLock<Arc<ScrapeCounters>>>,
    /// Remote write, whose endpoints change on reload.
    remote_write: Arc<OnceLock<Arc<RemoteWrite>>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    remote_name: String,
    url: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointReasonLabels {
    remote_name: String,
    url: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointStatusLabels {
    remote_name: String,
    url: String,
    status: String,
}

/// Reads every remote-write endpoint's counters at each scrape of `/metrics`.
#[derive(Debug)]
struct RemoteWriteCollector(Arc<OnceLock<Arc<RemoteWrite>>>);

impl Collector for RemoteWriteCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(rw) = self.0.get() else {
            return Ok(());
        };
        let endpoints = rw.metrics();
        let labels = |e: &crate::remote_write::EndpointMetrics| EndpointLabels {
            remote_name: e.name.clone(),
            url: e.url.clone(),
        };
        type Read = fn(&RemoteWriteMetrics) -> u64;
        let counters: [(&str, &str, Read); 9] = [
            (
                "remote_storage_samples_in",
                "Samples handed to the endpoint",
                |m| RemoteWriteMetrics::get(&m.samples_in),
            ),
            (
                "remote_storage_samples",
                "Samples accepted by the receiver",
                |m| RemoteWriteMetrics::get(&m.samples_sent),
            ),
            (
                "remote_storage_samples_retried",
                "Samples sent again after a retryable failure",
                |m| RemoteWriteMetrics::get(&m.samples_retried),
            ),
            (
                "remote_storage_samples_failed",
                "Samples the receiver rejected for good",
                |m| m.samples_failed_total(),
            ),
            ("remote_storage_bytes", "Compressed bytes sent", |m| {
                RemoteWriteMetrics::get(&m.bytes_sent)
            }),
            ("remote_storage_requests_retried", "Requests retried", |m| {
                RemoteWriteMetrics::get(&m.requests_retried)
            }),
            (
                "remote_storage_samples_not_written",
                "Samples of accepted 2.0 requests that the receiver reports as not written",
                |m| RemoteWriteMetrics::get(&m.samples_not_written),
            ),
            (
                "remote_storage_samples_spilled",
                "Samples written to the disk queue because the receiver did not take them at once",
                |m| RemoteWriteMetrics::get(&m.samples_spilled),
            ),
            (
                "remote_storage_disk_corrupt_records",
                "Damaged disk queue records skipped",
                |m| RemoteWriteMetrics::get(&m.disk_corrupt_records),
            ),
        ];
        for (name, help, read) in counters {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for e in &endpoints {
                ConstCounter::new(read(&e.metrics)).encode(family.encode_family(&labels(e))?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "remote_storage_samples_dropped",
            "Samples dropped before sending, by reason",
            None,
            ConstCounter::new(0u64).metric_type(),
        )?;
        for e in &endpoints {
            for reason in DropReason::ALL {
                let labels = EndpointReasonLabels {
                    remote_name: e.name.clone(),
                    url: e.url.clone(),
                    reason: reason.as_str(),
                };
                ConstCounter::new(e.metrics.dropped(reason))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "remote_storage_requests_failed",
            "Requests the receiver rejected for good, by HTTP status",
            None,
            ConstCounter::new(0u64).metric_type(),
        )?;
        for e in &endpoints {
            for (status, count) in e.metrics.failed_requests_by_status() {
                let labels = EndpointStatusLabels {
                    remote_name: e.name.clone(),
                    url: e.url.clone(),
                    status: status.to_string(),
                };
                ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
            }
        }
        type ReadGauge = fn(&RemoteWriteMetrics) -> i64;
        let gauges: [(&str, &str, ReadGauge); 7] = [
            (
                "remote_storage_samples_pending",
                "Samples queued or in flight",
                |m| m.pending(),
            ),
            ("remote_storage_shards", "Shards sending in parallel", |m| {
                RemoteWriteMetrics::get(&m.shards) as i64
            }),
            (
                "remote_storage_queue_highest_timestamp_ms",
                "Newest sample timestamp handed to the endpoint, in ms",
                |m| {
                    m.highest_timestamp_in_ms
                        .load(std::sync::atomic::Ordering::Relaxed)
                },
            ),
            (
                "remote_storage_queue_highest_sent_timestamp_ms",
                "Newest sample timestamp the receiver accepted, in ms; the lag is the difference",
                |m| {
                    m.highest_sent_timestamp_ms
                        .load(std::sync::atomic::Ordering::Relaxed)
                },
            ),
            (
                "remote_storage_disk_bytes",
                "Bytes of the disk queue's segment files",
                |m| RemoteWriteMetrics::get(&m.disk_bytes) as i64,
            ),
            (
                "remote_storage_disk_pending_bytes",
                "Bytes of the requests waiting in the disk queue",
                |m| RemoteWriteMetrics::get(&m.disk_pending_bytes) as i64,
            ),
            (
                "remote_storage_oldest_pending_sample_age_ms",
                "Age of the oldest sample waiting in the disk queue, in ms; 0 when none waits",
                |m| m.oldest_pending_age_ms(),
            ),
        ];
        for (name, help, read) in gauges {
            let mut family =
                encoder.encode_descriptor(name, help, None, ConstGauge::new(0i64).metric_type())?;
            for e in &endpoints {
                ConstGauge::new(read(&e.metrics)).encode(family.encode_family(&labels(e))?)?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Reads the scrape counters at each scrape of `/metrics`.
#[derive(Debug)]
struct ScrapeCollector(Arc<OnceLock<Arc<ScrapeCounters>>>);

impl Collector for ScrapeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(c) = self.0.get() else { return Ok(()) };
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters: [(&str, &str, &AtomicU64); 6] = [
            ("scrapes", "Scrapes done", &c.scrapes),
            (
                "scrape_samples_appended",
                "Samples and stale markers written by scrapes",
                &c.samples_appended,
            ),
            (
                "scrape_samples_out_of_order",
                "Samples dropped as duplicate or out of order",
                &c.samples_out_of_order,
            ),
            (
                "scrape_samples_too_new",
                "Samples dropped for a timestamp too far in the future",
                &c.samples_too_new,
            ),
            (
                "scrape_cache_hits",
                "Series found in the series cache",
                &c.cache_hits,
            ),
            (
                "scrape_cache_misses",
                "Series decoded and relabeled on a cache miss",
                &c.cache_misses,
            ),
        ];
        for (name, help, counter) in counters {
            let value = ConstCounter::new(read(counter));
            value.encode(encoder.encode_descriptor(name, help, None, value.metric_type())?)?;
        }
        let failures = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "scrape_failures",
            "Failed scrapes by reason",
            None,
            failures.metric_type(),
        )?;
        for (reason, counter) in [
            ("request", &c.failed_request),
            ("timeout", &c.failed_timeout),
            ("status", &c.failed_status),
            ("body_size_limit", &c.failed_body_size_limit),
            ("gzip", &c.failed_gzip),
            ("parse_or_limit", &c.parse_or_limit_failures),
        ] {
            ConstCounter::new(read(counter))
                .encode(family.encode_family(&ReasonLabels { reason })?)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MechanismLabels {
    mechanism: &'static str,
}

/// Reads the discovery counters at each scrape of `/metrics`.
#[derive(Debug)]
struct SdCollector(Arc<OnceLock<Arc<SdMetrics>>>);

impl Collector for SdCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sd) = self.0.get() else {
            return Ok(());
        };
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters: [(&str, &str, &AtomicU64); 8] = [
            (
                "sd_file_read_errors",
                "Files of file discovery that could not be read or parsed",
                &sd.file_read_errors,
            ),
            (
                "sd_file_scans",
                "Refreshes of file discovery",
                &sd.file_scans,
            ),
            (
                "sd_file_watcher_errors",
                "File watchers that could not be set up",
                &sd.file_watcher_errors,
            ),
            (
                "sd_http_failures",
                "Failed HTTP discovery refreshes",
                &sd.http_failures,
            ),
            (
                "sd_dns_lookups",
                "DNS lookups of configured names",
                &sd.dns_lookups,
            ),
            (
                "sd_dns_lookup_failures",
                "DNS lookups without a usable answer",
                &sd.dns_lookup_failures,
            ),
            (
                "sd_received_updates",
                "Target group updates received from providers",
                &sd.received_updates,
            ),
            (
                "sd_updates",
                "Target group updates published to the target layer",
                &sd.sent_updates,
            ),
        ];
        for (name, help, counter) in counters {
            let value = ConstCounter::new(read(counter));
            value.encode(encoder.encode_descriptor(name, help, None, value.metric_type())?)?;
        }
        let refresh = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "sd_refresh_failures",
            "Failed refreshes per discovery mechanism",
            None,
            refresh.metric_type(),
        )?;
        for (mechanism, counter) in [
            ("http", &sd.http_refresh_failures),
            ("dns", &sd.dns_refresh_failures),
        ] {
            ConstCounter::new(read(counter))
                .encode(family.encode_family(&MechanismLabels { mechanism })?)?;
        }
        let failed = ConstGauge::new(read(&sd.failed_configs) as i64);
        failed.encode(encoder.encode_descriptor(
            "sd_failed_configs",
            "Discovery configs that could not be started at the last apply",
            None,
            failed.metric_type(),
        )?)?;
        Ok(())
    }
}

/// The process metrics of Prometheus' client libraries (`process_open_fds`, ...).
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use crate::process;
        let stat = process::proc_stat().unwrap_or_default();
        let cpu = ConstCounter::new(stat.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges: [(&str, &str, f64); 5] = [
            (
                "process_open_fds",
                "Number of open file descriptors.",
                process::open_fds().unwrap_or(0) as f64,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors (the soft limit, raised at start).",
                process::max_fds().unwrap_or(0) as f64,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                stat.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                stat.virtual_bytes as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                stat.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// The cluster's view and handoff counters.
#[derive(Debug)]
struct ClusterCollector(Arc<OnceLock<Arc<crate::coord::Cluster>>>);

impl Collector for ClusterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(cluster) = self.0.get() else {
            return Ok(());
        };
        let m = &cluster.metrics;
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let gauges: [(&str, &str, i64); 6] = [
            (
                "cluster_desired_replicas",
                "Replicas the cluster's series need at --shard.max-series each (for HPA users)",
                read(&m.desired_replicas) as i64,
            ),
            (
                "cluster_total_series",
                "Series of every active target, as balancing counts them",
                read(&m.total_series) as i64,
            ),
            (
                "cluster_members",
                "Members in this replica's view (itself included unless leaving)",
                read(&m.members) as i64,
            ),
            (
                "cluster_view_hash",
                "Low 52 bits of the view hash: replicas that agree on the members show the same value",
                (read(&m.view_hash) & ((1 << 52) - 1)) as i64,
            ),
            (
                "cluster_owned_targets",
                "Active targets this replica owns in its view",
                read(&m.owned_targets) as i64,
            ),
            (
                "cluster_owned_series",
                "Series of the owned targets in their last scrapes",
                read(&m.owned_series) as i64,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let counters: [(&str, &str, &AtomicU64); 4] = [
            (
                "cluster_handoffs_started",
                "Takeovers started (a shadow scrape of a target a peer scrapes)",
                &m.handoffs_started,
            ),
            (
                "cluster_handoffs_confirmed",
                "Takeovers the previous scraper confirmed",
                &m.handoffs_confirmed,
            ),
            (
                "cluster_handoffs_timed_out",
                "Takeovers completed without the previous scraper's answer",
                &m.handoffs_timed_out,
            ),
            (
                "cluster_handoffs_released",
                "Targets this replica handed to a peer",
                &m.handoffs_released,
            ),
        ];
        for (name, help, counter) in counters {
            let value = ConstCounter::new(read(counter));
            value.encode(encoder.encode_descriptor(name, help, None, value.metric_type())?)?;
        }
        Ok(())
    }
}

impl Telemetry {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("promshard");
        let target_sync_failed = Family::<JobLabels, Counter>::default();
        registry.register(
            "target_sync_failed",
            "Targets invalid after relabeling, per sync",
            target_sync_failed.clone(),
        );
        let targets = Family::<JobStateLabels, Gauge>::default();
        registry.register(
            "targets",
            "Targets per scrape job and state",
            targets.clone(),
        );
        let config_last_reload_successful = Gauge::default();
        registry.register(
            "config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            config_last_reload_successful.clone(),
        );
        let config_last_reload_success_timestamp_seconds = Gauge::default();
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            config_last_reload_success_timestamp_seconds.clone(),
        );
        let sd = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(SdCollector(sd.clone())));
        let scrape = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(ScrapeCollector(scrape.clone())));
        let remote_write = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(RemoteWriteCollector(remote_write.clone())));
        let cluster = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(ClusterCollector(cluster.clone())));
        // The standard process metrics keep their names, without the prefix.
        let mut process = Registry::default();
        process.register_collector(Box::new(ProcessCollector));
        Telemetry {
            process,
            cluster,
            sd,
            scrape,
            remote_write,
            registry,
            target_sync_failed,
            targets,
            config_last_reload_successful,
            config_last_reload_success_timestamp_seconds,
        }
    }

    /// The process-wide metrics.
    pub fn get() -> &'static Telemetry {
        static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
        TELEMETRY.get_or_init(Telemetry::new)
    }

    /// All metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        let encoded = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &self.process))
            .and_then(|()| encode_eof(&mut out));
        if encoded.is_err() {
            out.clear();
        }
        out
    }

    /// Exposes the counters of the (single) discovery manager.
    pub fn register_sd(&self, metrics: Arc<SdMetrics>) {
        let _ = self.sd.set(metrics);
    }

    /// Exposes the cluster's view and handoff counters.
    pub fn register_cluster(&self, cluster: Arc<crate::coord::Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    /// Exposes the counters of every remote-write endpoint.
    pub fn register_remote_write(&self, remote_write: Arc<RemoteWrite>) {
        let _ = self.remote_write.set(remote_write);
    }

    /// Exposes the counters of the scrape manager.
    pub fn register_scrape(&self, counters: Arc<ScrapeCounters>) {
        let _ = self.scrape.set(counters);
    }

    pub fn record_reload(&self, ok: bool) {
        self.config_last_reload_successful.set(i64::from(ok));
        if ok {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.config_last_reload_success_timestamp_seconds
                .set(now as i64);
        }
    }
}
