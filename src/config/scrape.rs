//! `scrape_configs` entries, with defaults from `global` (P: `ScrapeConfig.Validate`).

use super::global::{
    ESCAPING_SCHEMES, GlobalConfig, SchemeName, SchemeSetting, ScrapeProtocol, default_escaping,
};
use super::http::{HttpClientConfig, http_client_fields, join_path};
use super::quote::go_quote;
use super::section::{
    NonNullList, NullDnsSdConfig, NullFileSdConfig, NullHttpSdConfig, NullKubernetesSdConfig,
    NullMetricRelabel, NullStaticConfig, NullTargetRelabel, Position,
};
use super::{ByteSize, PromDuration};
use crate::labels::ValidationScheme;
use crate::relabel::RelabelConfig;
use crate::sd::kubernetes::KubernetesSdConfig;
use crate::sd::{DnsSdConfig, FileSdConfig, HttpSdConfig, SdConfigs, StaticConfig};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::Path;

/// One scrape config with every default resolved.
#[derive(Clone, Debug, Serialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    pub scrape_protocols: Vec<ScrapeProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    pub scrape_native_histograms: bool,
    pub always_scrape_classic_histograms: bool,
    pub convert_classic_histograms_to_nhcb: bool,
    pub extra_scrape_metrics: bool,
    pub enable_compression: bool,
    pub metrics_path: String,
    pub scheme: String,
    pub body_size_limit: ByteSize,
    pub sample_limit: u64,
    pub target_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub native_histogram_bucket_limit: u64,
    pub native_histogram_min_bucket_factor: f64,
    pub keep_dropped_targets: u64,
    pub metric_name_validation_scheme: SchemeName,
    pub metric_name_escaping_scheme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_failure_log_file: Option<String>,
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
    #[serde(flatten)]
    pub service_discovery: SdConfigs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

/// Declares [`RawScrapeConfig`] with the discovery mechanisms of Prometheus that promshard
/// does not have as fields of their own, so that they are rejected with a clear message at
/// their location instead of as unknown fields.
macro_rules! raw_scrape_config {
    ($($unsupported:ident),* $(,)?) => {
        http_client_fields! {
            /// A scrape config as written; [`RawScrapeConfig::resolve`] applies the global defaults.
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            pub(super) struct RawScrapeConfig {
                #[serde(default)]
                pub job_name: Option<String>,
                #[serde(default)]
                honor_labels: Option<bool>,
                #[serde(default)]
                honor_timestamps: Option<bool>,
                #[serde(default)]
                track_timestamps_staleness: Option<bool>,
                #[serde(default)]
                params: Option<BTreeMap<String, Vec<String>>>,
                #[serde(default)]
                scrape_interval: Option<PromDuration>,
                #[serde(default)]
                scrape_timeout: Option<Spanned<PromDuration>>,
                #[serde(default)]
                scrape_protocols: Option<Spanned<Vec<Option<String>>>>,
                #[serde(default)]
                fallback_scrape_protocol: Option<Spanned<String>>,
                #[serde(default)]
                scrape_native_histograms: Option<bool>,
                #[serde(default)]
                always_scrape_classic_histograms: Option<bool>,
                #[serde(default)]
                convert_classic_histograms_to_nhcb: Option<bool>,
                #[serde(default)]
                extra_scrape_metrics: Option<bool>,
                #[serde(default)]
                enable_compression: Option<bool>,
                #[serde(default)]
                metrics_path: Option<String>,
                #[serde(default)]
                scheme: Option<Spanned<String>>,
                #[serde(default)]
                body_size_limit: Option<ByteSize>,
                #[serde(default)]
                sample_limit: Option<u64>,
                #[serde(default)]
                target_limit: Option<u64>,
                #[serde(default)]
                label_limit: Option<u64>,
                #[serde(default)]
                label_name_length_limit: Option<u64>,
                #[serde(default)]
                label_value_length_limit: Option<u64>,
                #[serde(default)]
                native_histogram_bucket_limit: Option<u64>,
                #[serde(default)]
                native_histogram_min_bucket_factor: Option<f64>,
                #[serde(default)]
                keep_dropped_targets: Option<u64>,
                #[serde(default)]
                metric_name_validation_scheme: Option<SchemeSetting>,
                #[serde(default)]
                metric_name_escaping_scheme: Option<Spanned<String>>,
                #[serde(default)]
                scrape_failure_log_file: Option<String>,
                #[serde(default)]
                static_configs: NonNullList<Spanned<StaticConfig>, NullStaticConfig>,
                #[serde(default)]
                file_sd_configs: NonNullList<FileSdConfig, NullFileSdConfig>,
                #[serde(default)]
                http_sd_configs: NonNullList<HttpSdConfig, NullHttpSdConfig>,
                #[serde(default)]
                dns_sd_configs: NonNullList<DnsSdConfig, NullDnsSdConfig>,
                #[serde(default)]
                kubernetes_sd_configs: NonNullList<Spanned<KubernetesSdConfig>, NullKubernetesSdConfig>,
                #[serde(default)]
                relabel_configs: NonNullList<Spanned<RelabelConfig>, NullTargetRelabel>,
                #[serde(default)]
                metric_relabel_configs: NonNullList<Spanned<RelabelConfig>, NullMetricRelabel>,
                $(
                    #[serde(default)]
                    $unsupported: Option<Spanned<Vec<IgnoredAny>>>,
                )*
            }
        }

        impl RawScrapeConfig {
            /// The first non-empty section of a discovery mechanism promshard does not have.
            fn unsupported_discovery(&self) -> Option<(&'static str, Position)> {
                [$((stringify!($unsupported), &self.$unsupported)),*]
                    .into_iter()
                    .find_map(|(name, section)| match section {
                        Some(s) if !s.value.is_empty() => Some((name, Position::of(&s.referenced))),
                        _ => None,
                    })
            }
        }
    };
}

raw_scrape_config! {
    azure_sd_configs,
    consul_sd_configs,
    digitalocean_sd_configs,
    docker_sd_configs,
    dockerswarm_sd_configs,
    ec2_sd_configs,
    ecs_sd_configs,
    elasticache_sd_configs,
    eureka_sd_configs,
    gce_sd_configs,
    hetzner_sd_configs,
    ionos_sd_configs,
    kuma_sd_configs,
    lightsail_sd_configs,
    linode_sd_configs,
    marathon_sd_configs,
    msk_sd_configs,
    nerve_sd_configs,
    nomad_sd_configs,
    oci_sd_configs,
    openstack_sd_configs,
    outscale_sd_configs,
    ovhcloud_sd_configs,
    puppetdb_sd_configs,
    rds_sd_configs,
    scaleway_sd_configs,
    serverset_sd_configs,
    stackit_sd_configs,
    triton_sd_configs,
    uyuni_sd_configs,
    vultr_sd_configs,
    aws_sd_configs,
}

/// A job-level limit: `0` (or unset) inherits the global value.
fn inherit(job: Option<u64>, global: u64) -> u64 {
    match job {
        Some(v) if v != 0 => v,
        _ => global,
    }
}

impl RawScrapeConfig {
    /// Applies the global defaults and validates, in the order of P's
    /// `ScrapeConfig.UnmarshalYAML` then `ScrapeConfig.Validate`. `dir` is the directory of the
    /// file the config came from, for relative paths; `at` is where the entry starts, for
    /// errors about the entry as a whole.
    pub fn resolve(
        mut self,
        global: &GlobalConfig,
        dir: &Path,
        at: Position,
    ) -> Result<ScrapeConfig, (Position, String)> {
        // Parsing the discovery sections comes first in Prometheus.
        if let Some((name, position)) = self.unsupported_discovery() {
            let message = format!("{name} is not supported by promshard");
            return Err((position, message));
        }
        let static_configs: Vec<(Position, StaticConfig)> = self
            .static_configs
            .0
            .drain(..)
            .map(|s| (Position::of(&s.referenced), s.value))
            .collect();
        for (group_at, group) in &static_configs {
            // Label names are checked as they are read, under UTF-8 validation (P's
            // `model.LabelName.UnmarshalYAML`): only an empty name is invalid.
            if let Some(name) = group
                .labels
                .keys()
                .find(|n| !ValidationScheme::Utf8.is_valid_label_name(n))
            {
                return Err((
                    *group_at,
                    format!("{} is not a valid label name", go_quote(name)),
                ));
            }
        }

        let job = self.job_name.take().unwrap_or_default();
        if job.is_empty() {
            return Err((at, "job_name is empty".into()));
        }
        let mut http_client = self.http_fields().resolve(true).map_err(|m| (at, m))?;
        http_client.set_directory(dir);
        if self.relabel_configs.0.is_empty() {
            for (group_at, group) in &static_configs {
                if let Some(target) = group.targets.iter().find(|t| t.contains('/')) {
                    return Err((
                        *group_at,
                        format!("{} is not a valid hostname", go_quote(target)),
                    ));
                }
            }
        }

        // `ScrapeConfig.Validate`.
        let scrape_interval = self
            .scrape_interval
            .filter(|i| !i.is_zero())
            .unwrap_or(global.scrape_interval);
        let scrape_timeout = match self.scrape_timeout.take() {
            Some(t) if t.value > scrape_interval => {
                return Err((
                    Position::of(&t.referenced),
                    format!(
                        "scrape timeout greater than scrape interval for scrape config with job name {}",
                        go_quote(&job)
                    ),
                ));
            }
            Some(t) if !t.value.is_zero() => t.value,
            _ => global.scrape_timeout.min(scrape_interval),
        };
        let native = self
            .scrape_native_histograms
            .unwrap_or(global.scrape_native_histograms);
        let scrape_protocols = match self.scrape_protocols.take() {
            Some(names) => ScrapeProtocol::parse_list(&names.value).map_err(|e| {
                (
                    Position::of(&names.referenced),
                    format!("{e} for scrape config with job name {}", go_quote(&job)),
                )
            })?,
            None => match &global.scrape_protocols {
                Some(list) => list.clone(),
                None => ScrapeProtocol::defaults(native),
            },
        };
        let fallback_scrape_protocol = match self.fallback_scrape_protocol.take() {
            Some(name) if !name.value.is_empty() => Some(ScrapeProtocol::parse(&name.value).map_err(|e| {
                (
                    Position::of(&name.referenced),
                    format!("invalid fallback_scrape_protocol for scrape config with job name {}: {e}", go_quote(&job)),
                )
            })?),
            _ => None,
        };
        let local_scheme = self.metric_name_validation_scheme.and_then(|s| s.0);
        let scheme_name = local_scheme.unwrap_or(global.metric_name_validation_scheme);
        let (escaping, escaping_at) = match self.metric_name_escaping_scheme.take() {
            Some(s) if !s.value.is_empty() => (s.value, Position::of(&s.referenced)),
            _ => match local_scheme {
                None => (global.metric_name_escaping_scheme.clone(), at),
                Some(local) => (default_escaping(local).to_string(), at),
            },
        };
        if escaping == "allow-utf-8" {
            if scheme_name != SchemeName::Utf8 {
                return Err((
                    escaping_at,
                    "utf8 metric names requested but validation scheme is not set to UTF8".into(),
                ));
            }
        } else if !ESCAPING_SCHEMES.contains(&escaping.as_str()) {
            return Err((
                escaping_at,
                format!(
                    "unknown scrape config name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {}",
                    go_quote(&escaping)
                ),
            ));
        }
        let validation = scheme_name.scheme();
        let relabel =
            |list: Vec<Spanned<RelabelConfig>>| -> Result<Vec<RelabelConfig>, (Position, String)> {
                list.into_iter()
                    .map(|rc| {
                        let rc_at = Position::of(&rc.referenced);
                        let mut rc = rc.value;
                        rc.validate(validation).map_err(|m| (rc_at, m))?;
                        Ok(rc)
                    })
                    .collect()
            };
        let relabel_configs = relabel(std::mem::take(&mut self.relabel_configs.0))?;
        let metric_relabel_configs = relabel(std::mem::take(&mut self.metric_relabel_configs.0))?;

        // promshard scrapes over HTTP(S) only; Prometheus would fail every scrape instead.
        let scheme = match self.scheme.take() {
            None => "http".to_string(),
            Some(s) if s.value == "http" || s.value == "https" => s.value,
            Some(s) => {
                return Err((
                    Position::of(&s.referenced),
                    format!(
                        "invalid scheme {} for scrape config with job name {}, must be http or https",
                        go_quote(&s.value),
                        go_quote(&job)
                    ),
                ));
            }
        };
        let mut file_sd_configs = std::mem::take(&mut self.file_sd_configs.0);
        for fc in &mut file_sd_configs {
            for file in &mut fc.files {
                *file = join_path(dir, Path::new(file.as_str()))
                    .to_string_lossy()
                    .into_owned();
            }
        }
        let mut kubernetes_sd_configs = Vec::new();
        for entry in std::mem::take(&mut self.kubernetes_sd_configs.0) {
            let mut kc = entry.value;
            let workloads = &kc.attach_metadata;
            if workloads.deployment || workloads.job || workloads.cronjob {
                return Err((
                    Position::of(&entry.referenced),
                    "kubernetes_sd_configs attach_metadata deployment, job and cronjob are not implemented in promshard yet (node and namespace are)"
                        .to_string(),
                ));
            }
            kc.set_directory(dir);
            kubernetes_sd_configs.push(kc);
        }
        let mut http_sd_configs = std::mem::take(&mut self.http_sd_configs.0);
        for hc in &mut http_sd_configs {
            hc.http_client.set_directory(dir);
        }

        Ok(ScrapeConfig {
            honor_labels: self.honor_labels.unwrap_or(false),
            honor_timestamps: self.honor_timestamps.unwrap_or(true),
            track_timestamps_staleness: self.track_timestamps_staleness.unwrap_or(false),
            params: self.params.take().unwrap_or_default(),
            scrape_interval,
            scrape_timeout,
            scrape_protocols,
            fallback_scrape_protocol,
            scrape_native_histograms: native,
            always_scrape_classic_histograms: self
                .always_scrape_classic_histograms
                .unwrap_or(global.always_scrape_classic_histograms),
            convert_classic_histograms_to_nhcb: self
                .convert_classic_histograms_to_nhcb
                .unwrap_or(global.convert_classic_histograms_to_nhcb),
            extra_scrape_metrics: self
                .extra_scrape_metrics
                .unwrap_or(global.extra_scrape_metrics),
            enable_compression: self.enable_compression.unwrap_or(true),
            metrics_path: self
                .metrics_path
                .take()
                .unwrap_or_else(|| "/metrics".into()),
            scheme,
            body_size_limit: match self.body_size_limit {
                Some(b) if b.0 != 0 => b,
                _ => global.body_size_limit,
            },
            sample_limit: inherit(self.sample_limit, global.sample_limit),
            target_limit: inherit(self.target_limit, global.target_limit),
            label_limit: inherit(self.label_limit, global.label_limit),
            label_name_length_limit: inherit(
                self.label_name_length_limit,
                global.label_name_length_limit,
            ),
            label_value_length_limit: inherit(
                self.label_value_length_limit,
                global.label_value_length_limit,
            ),
            native_histogram_bucket_limit: self.native_histogram_bucket_limit.unwrap_or(0),
            native_histogram_min_bucket_factor: self
                .native_histogram_min_bucket_factor
                .unwrap_or(0.0),
            keep_dropped_targets: inherit(self.keep_dropped_targets, global.keep_dropped_targets),
            metric_name_validation_scheme: scheme_name,
            metric_name_escaping_scheme: escaping,
            scrape_failure_log_file: match self
                .scrape_failure_log_file
                .take()
                .filter(|f| !f.is_empty())
            {
                Some(file) => Some(
                    join_path(dir, Path::new(&file))
                        .to_string_lossy()
                        .into_owned(),
                ),
                None => global.scrape_failure_log_file.clone(),
            },
            http_client,
            service_discovery: SdConfigs {
                static_configs: static_configs.into_iter().map(|(_, s)| s).collect(),
                file_sd_configs,
                http_sd_configs,
                dns_sd_configs: std::mem::take(&mut self.dns_sd_configs.0),
                kubernetes_sd_configs,
            },
            relabel_configs,
            metric_relabel_configs,
            job_name: job,
        })
    }
}
