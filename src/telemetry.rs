//! promshard's own metrics, all declared here (one place per metric), served on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

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
    /// Targets found invalid after relabeling, counted at every sync (Prometheus'
    /// `prometheus_target_sync_failed_total`).
    pub target_sync_failed: Family<JobLabels, Counter>,
    /// Current targets per job and state (`active`, `dropped`).
    pub targets: Family<JobStateLabels, Gauge>,
    /// 1 if the last reload succeeded.
    pub config_last_reload_successful: Gauge,
    pub config_last_reload_success_timestamp_seconds: Gauge,
}

impl Telemetry {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("promshard");
        let target_sync_failed = Family::<JobLabels, Counter>::default();
        registry.register("target_sync_failed", "Targets invalid after relabeling, per sync", target_sync_failed.clone());
        let targets = Family::<JobStateLabels, Gauge>::default();
        registry.register("targets", "Targets per scrape job and state", targets.clone());
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
        Telemetry {
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
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub fn record_reload(&self, ok: bool) {
        self.config_last_reload_successful.set(i64::from(ok));
        if ok {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            self.config_last_reload_success_timestamp_seconds.set(now as i64);
        }
    }
}
