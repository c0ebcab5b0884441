//! Command-line flags, named as Prometheus names them.

use crate::config::duration::PromDuration;
use crate::config::size::ByteSize;
use crate::generator::{GenError, GenOptions, Shape};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "promshard",
    version,
    about = "Prometheus-compatible scraping shard engine"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub flags: Flags,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Check files, like `promtool check`.
    Check {
        #[command(subcommand)]
        what: CheckCommand,
    },
    /// Serve generated metrics, one target per listen address (the demo's workload).
    Gen(GenArgs),
    /// The article's walk-through on this machine: generators, a receiver, and replicas
    /// that scale out under --shard.max-series; ends with a table and exit 0 when every
    /// series arrived.
    Demo(crate::demo::DemoArgs),
}

#[derive(Subcommand, Debug, Clone)]
pub enum CheckCommand {
    /// Check that configuration files are valid; exit 1 with every error otherwise.
    Config {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check --web.config.file files, TLS files included; exit 1 with the error otherwise.
    WebConfig {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `promshard gen`: flags named like an exporter's.
#[derive(clap::Args, Debug, Clone)]
pub struct GenArgs {
    /// Address of one target; repeat for more (target number = position). With --targets,
    /// given once as HOST:PORT, the first of consecutive ports.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9091")]
    pub web_listen_address: Vec<String>,
    /// Number of targets, on consecutive ports from --web.listen-address.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub targets: Option<u64>,
    /// Series (sample lines) per target, exactly.
    #[arg(long, default_value_t = GenOptions::default().series)]
    pub series: usize,
    /// What the series look like.
    #[arg(long, value_enum, default_value_t = Shape::Article)]
    pub shape: Shape,
    /// Article shape: labels per series.
    #[arg(long, default_value_t = GenOptions::default().labels)]
    pub labels: usize,
    /// Article shape: values of each label (a metric name holds values^labels series).
    #[arg(long = "values-per-label", default_value_t = GenOptions::default().values_per_label)]
    pub values_per_label: usize,
    /// Article shape: characters of each label value.
    #[arg(long = "label-value-length", default_value_t = GenOptions::default().label_value_length)]
    pub label_value_length: usize,
    /// Article shape: characters of each metric name (before a counter's `_total`).
    #[arg(long = "metric-name-length", default_value_t = GenOptions::default().metric_name_length)]
    pub metric_name_length: usize,
    /// Wait this long before each answer.
    #[arg(long, default_value = "0", value_parser = PromDuration::parse)]
    pub delay: PromDuration,
    /// Fraction of /metrics requests answered 500, in [0, 1].
    #[arg(long = "error-rate", default_value_t = 0.0, value_parser = parse_fraction)]
    pub error_rate: f64,
    /// Varies values, cAdvisor pods, node interfaces and which requests fail.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Give every sample the render time as its timestamp (as cAdvisor does).
    #[arg(long)]
    pub timestamps: bool,
}

impl GenArgs {
    pub fn options(&self) -> GenOptions {
        GenOptions {
            shape: self.shape,
            series: self.series,
            labels: self.labels,
            values_per_label: self.values_per_label,
            label_value_length: self.label_value_length,
            metric_name_length: self.metric_name_length,
            delay: self.delay.0,
            error_rate: self.error_rate,
            seed: self.seed,
            timestamps: self.timestamps,
        }
    }

    /// The options and each target's listen address, or what is wrong with the flags
    /// together (each one alone was checked by clap).
    pub fn resolve(&self) -> Result<(GenOptions, Vec<String>), GenError> {
        let options = self.options();
        options.validate()?;
        let targets = self.targets.map(|n| n as usize);
        let addresses = crate::generator::listen_addresses(&self.web_listen_address, targets)?;
        Ok((options, addresses))
    }
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not in [0, 1]"))
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Flags {
    /// Prometheus configuration file path.
    #[arg(long = "config.file", default_value = "prometheus.yml")]
    pub config_file: PathBuf,
    /// Address to listen on for the web interface, API and peer API.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9090")]
    pub web_listen_address: String,
    /// Prometheus' web configuration file (tls_server_config, basic_auth_users with bcrypt
    /// hashes, http_server_config headers) for the pages, APIs and peer API. Read again when
    /// it or its TLS files change.
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
    /// Base path for the remote-write queue and other local state.
    #[arg(long = "storage.path", default_value = "data/")]
    pub storage_path: PathBuf,
    /// Upper bound on the disk queue of each remote_write endpoint; when it is full the oldest
    /// requests are deleted (counted as dropped, reason storage_full).
    #[arg(long = "storage.remote-write.max-bytes", default_value = "1GiB", value_parser = ByteSize::parse)]
    pub remote_write_max_bytes: ByteSize,
    /// Longest time a request written to the disk queue stays unsynced: the most a power loss
    /// can lose of what waits on disk.
    #[arg(long = "storage.remote-write.fsync-interval", default_value = "1s", value_parser = PromDuration::parse)]
    pub remote_write_fsync_interval: PromDuration,
    /// Most bytes written to the disk queue between two fsyncs.
    #[arg(long = "storage.remote-write.fsync-bytes", default_value = "16MiB", value_parser = ByteSize::parse)]
    pub remote_write_fsync_bytes: ByteSize,
    /// How long to go on sending at shutdown or when a reload removes an endpoint; what is left
    /// in the disk queue is sent after the next start.
    #[arg(long = "storage.remote.flush-deadline", default_value = "1m", value_parser = PromDuration::parse)]
    pub remote_flush_deadline: PromDuration,
    /// The cluster's members, comma-separated: `host:port` (this replica may be listed),
    /// `dns+NAME:PORT` (A/AAAA records) or `dnssrv+NAME` (SRV records). Empty: no cluster,
    /// this replica scrapes every target.
    #[arg(long = "cluster.peers", default_value = "")]
    pub cluster_peers: String,
    /// How to reach peers behind their --web.config.file: `scheme` (default https when this
    /// replica serves TLS) and Prometheus http_config fields (basic_auth, authorization,
    /// tls_config, ...).
    #[arg(long = "cluster.peer-config.file")]
    pub cluster_peer_config_file: Option<PathBuf>,
    /// This replica's member id as peers list it (`host:port`); default: the web listen
    /// address (which must then name a host, not 0.0.0.0); with `--cluster.peers=kubernetes`,
    /// the pod name ($POD_NAME, else the host name).
    #[arg(long = "cluster.advertise-address", default_value = "")]
    pub cluster_advertise_address: String,
    /// With `--cluster.peers=kubernetes`: the (headless) Service whose EndpointSlices list
    /// the members.
    #[arg(long = "cluster.kubernetes.service", default_value = "")]
    pub cluster_kubernetes_service: String,
    /// Its namespace; default: the pod's own (or the kubeconfig context's).
    #[arg(long = "cluster.kubernetes.namespace", default_value = "")]
    pub cluster_kubernetes_namespace: String,
    /// How many replicas scrape each target (the top R members of its HRW ranking).
    #[arg(long = "cluster.replication-factor", default_value_t = 1)]
    pub cluster_replication_factor: usize,
    /// How often each peer is probed.
    #[arg(long = "cluster.probe-interval", default_value = "500ms", value_parser = PromDuration::parse)]
    pub cluster_probe_interval: PromDuration,
    /// How long a probe may take.
    #[arg(long = "cluster.probe-timeout", default_value = "1s", value_parser = PromDuration::parse)]
    pub cluster_probe_timeout: PromDuration,
    /// Failed probes in a row after which a peer counts as gone.
    #[arg(long = "cluster.probe-failures", default_value_t = 2)]
    pub cluster_probe_failures: u32,
    /// How often DNS peer sources are resolved again.
    #[arg(long = "cluster.resolve-interval", default_value = "5s", value_parser = PromDuration::parse)]
    pub cluster_resolve_interval: PromDuration,
    /// On SIGTERM, how long to keep scraping while peers take the targets over.
    #[arg(long = "cluster.handoff-timeout", default_value = "20s", value_parser = PromDuration::parse)]
    pub cluster_handoff_timeout: PromDuration,
    /// Series-aware balancing (with a cluster and replication factor 1): the most series one
    /// replica should hold; 0 turns balancing off (plain rendezvous hashing).
    #[arg(long = "shard.max-series", default_value_t = 0)]
    pub shard_max_series: u64,
    /// Balance tolerance ε: no replica's series above (1+ε)·mean.
    #[arg(long = "shard.balance-epsilon", default_value_t = 0.1)]
    pub shard_balance_epsilon: f64,
    /// Autoscaling: fewest and most replicas the series may ask for (max 0: no bound).
    #[arg(long = "shard.min-replicas", default_value_t = 1)]
    pub shard_min_replicas: u32,
    #[arg(long = "shard.max-replicas", default_value_t = 0)]
    pub shard_max_replicas: u32,
    /// The StatefulSet whose scale subresource the first member patches (namespace:
    /// --cluster.kubernetes.namespace or the client's); empty: only the metric.
    #[arg(long = "shard.statefulset", default_value = "")]
    pub shard_statefulset: String,
    /// How long the series must ask for fewer replicas before scaling down.
    #[arg(long = "shard.scale-down-delay", default_value = "10m", value_parser = PromDuration::parse)]
    pub shard_scale_down_delay: PromDuration,
    /// Limit on a scrape's decompressed body for jobs that set no `body_size_limit`: a
    /// compression bomb or an endless body fails the scrape there. 0: no limit.
    #[arg(long = "scrape.default-body-size-limit", default_value_t = ByteSize(crate::scrape::ScrapeDefaults::BODY_SIZE_LIMIT), value_parser = ByteSize::parse)]
    pub scrape_default_body_size_limit: ByteSize,
    /// Most labels a series may have for jobs that set no `label_limit`. 0: no limit.
    #[arg(long = "scrape.default-label-limit", default_value_t = crate::scrape::ScrapeDefaults::LABEL_LIMIT)]
    pub scrape_default_label_limit: u64,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub log_level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,
}

/// An optional file flag as `/api/v1/status/flags` shows it ("" when unset).
fn display_path(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

impl Flags {
    /// Every flag with its value, as `/api/v1/status/flags` reports them.
    pub fn as_map(&self) -> BTreeMap<String, String> {
        let level = match self.log_level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        let format = match self.log_format {
            LogFormat::Logfmt => "logfmt",
            LogFormat::Json => "json",
        };
        BTreeMap::from([
            ("config.file".into(), self.config_file.display().to_string()),
            ("web.listen-address".into(), self.web_listen_address.clone()),
            (
                "web.config.file".into(),
                display_path(&self.web_config_file),
            ),
            (
                "storage.path".into(),
                self.storage_path.display().to_string(),
            ),
            (
                "storage.remote-write.max-bytes".into(),
                self.remote_write_max_bytes.to_string(),
            ),
            (
                "storage.remote-write.fsync-interval".into(),
                self.remote_write_fsync_interval.to_string(),
            ),
            (
                "storage.remote-write.fsync-bytes".into(),
                self.remote_write_fsync_bytes.to_string(),
            ),
            (
                "storage.remote.flush-deadline".into(),
                self.remote_flush_deadline.to_string(),
            ),
            (
                "scrape.default-body-size-limit".into(),
                self.scrape_default_body_size_limit.to_string(),
            ),
            (
                "scrape.default-label-limit".into(),
                self.scrape_default_label_limit.to_string(),
            ),
            ("cluster.peers".into(), self.cluster_peers.clone()),
            (
                "cluster.peer-config.file".into(),
                display_path(&self.cluster_peer_config_file),
            ),
            (
                "cluster.advertise-address".into(),
                self.cluster_advertise_address.clone(),
            ),
            (
                "cluster.kubernetes.service".into(),
                self.cluster_kubernetes_service.clone(),
            ),
            (
                "cluster.kubernetes.namespace".into(),
                self.cluster_kubernetes_namespace.clone(),
            ),
            (
                "cluster.replication-factor".into(),
                self.cluster_replication_factor.to_string(),
            ),
            (
                "cluster.probe-interval".into(),
                self.cluster_probe_interval.to_string(),
            ),
            (
                "cluster.probe-timeout".into(),
                self.cluster_probe_timeout.to_string(),
            ),
            (
                "cluster.probe-failures".into(),
                self.cluster_probe_failures.to_string(),
            ),
            (
                "cluster.resolve-interval".into(),
                self.cluster_resolve_interval.to_string(),
            ),
            (
                "cluster.handoff-timeout".into(),
                self.cluster_handoff_timeout.to_string(),
            ),
            ("shard.max-series".into(), self.shard_max_series.to_string()),
            (
                "shard.balance-epsilon".into(),
                self.shard_balance_epsilon.to_string(),
            ),
            (
                "shard.min-replicas".into(),
                self.shard_min_replicas.to_string(),
            ),
            (
                "shard.max-replicas".into(),
                self.shard_max_replicas.to_string(),
            ),
            ("shard.statefulset".into(), self.shard_statefulset.clone()),
            (
                "shard.scale-down-delay".into(),
                self.shard_scale_down_delay.to_string(),
            ),
            ("log.level".into(), level.into()),
            ("log.format".into(), format.into()),
        ])
    }
}
