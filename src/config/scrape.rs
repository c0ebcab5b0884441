//! `scrape_configs` entries, with defaults from `global` (P: `ScrapeConfig.Validate`).

use super::global::{GlobalConfig, ScrapeProtocol, SchemeName, resolve_escaping};
use super::http::{HttpClientConfig, http_client_fields};
use super::section::{
    NonNullList, NullDnsSdConfig, NullFileSdConfig, NullHttpSdConfig, NullMetricRelabel, NullStaticConfig,
    NullTargetRelabel,
};
use super::{ByteSize, PromDuration};
use crate::relabel::RelabelConfig;
use crate::sd::{DnsSdConfig, FileSdConfig, HttpSdConfig, SdConfigs, StaticConfig};
use serde::{Deserialize, Serialize};
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

http_client_fields! {
    /// A scrape config as written; [`RawScrapeConfig::resolve`] applies the global defaults.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RawScrapeConfig {
        #[serde(default)]
        pub job_name: String,
        #[serde(default)]
        honor_labels: Option<bool>,
        #[serde(default)]
        honor_timestamps: Option<bool>,
        #[serde(default)]
        track_timestamps_staleness: Option<bool>,
        #[serde(default)]
        params: BTreeMap<String, Vec<String>>,
        #[serde(default)]
        scrape_interval: Option<PromDuration>,
        #[serde(default)]
        scrape_timeout: Option<PromDuration>,
        #[serde(default)]
        scrape_protocols: Option<Vec<String>>,
        #[serde(default)]
        fallback_scrape_protocol: Option<String>,
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
        scheme: Option<String>,
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
        metric_name_validation_scheme: Option<String>,
        #[serde(default)]
        metric_name_escaping_scheme: Option<String>,
        #[serde(default)]
        scrape_failure_log_file: Option<String>,
        #[serde(default)]
        static_configs: NonNullList<StaticConfig, NullStaticConfig>,
        #[serde(default)]
        file_sd_configs: NonNullList<FileSdConfig, NullFileSdConfig>,
        #[serde(default)]
        http_sd_configs: NonNullList<HttpSdConfig, NullHttpSdConfig>,
        #[serde(default)]
        dns_sd_configs: NonNullList<DnsSdConfig, NullDnsSdConfig>,
        #[serde(default)]
        relabel_configs: NonNullList<RelabelConfig, NullTargetRelabel>,
        #[serde(default)]
        metric_relabel_configs: NonNullList<RelabelConfig, NullMetricRelabel>,
    }
}

/// A job-level limit: `0` (or unset) inherits the global value.
fn inherit(job: Option<u64>, global: u64) -> u64 {
    match job {
        Some(v) if v != 0 => v,
        _ => global,
    }
}

impl RawScrapeConfig {
    /// Applies the global defaults and validates, as `ScrapeConfig.Validate` does.
    /// `dir` is the directory of the file the config came from, for relative `*_file` paths.
    pub fn resolve(mut self, global: &GlobalConfig, dir: &Path) -> Result<ScrapeConfig, String> {
        let job = self.job_name.clone();
        if job.is_empty() {
            return Err("job_name is empty".into());
        }
        let mut http_client = self.http_fields().resolve(true)?;
        http_client.set_directory(dir);

        let scrape_interval = self.scrape_interval.unwrap_or(global.scrape_interval);
        let scrape_timeout = match self.scrape_timeout {
            Some(t) => t,
            None => global.scrape_timeout.min(scrape_interval),
        };
        if scrape_timeout > scrape_interval {
            return Err(format!(
                "scrape timeout greater than scrape interval for scrape config with job name {job:?}"
            ));
        }
        let native = self.scrape_native_histograms.unwrap_or(global.scrape_native_histograms);
        let scrape_protocols = match &self.scrape_protocols {
            Some(names) => ScrapeProtocol::parse_list(names)
                .map_err(|e| format!("{e} for scrape config with job name {job:?}"))?,
            None if native && !global.scrape_protocols.contains(&ScrapeProtocol::PrometheusProto) => {
                let mut list = global.scrape_protocols.clone();
                list.insert(0, ScrapeProtocol::PrometheusProto);
                list
            }
            None => global.scrape_protocols.clone(),
        };
        let fallback_scrape_protocol = match self.fallback_scrape_protocol.as_deref() {
            None | Some("") => None,
            Some(name) => Some(ScrapeProtocol::parse(name).map_err(|e| {
                format!("invalid fallback_scrape_protocol for scrape config with job name {job:?}: {e}")
            })?),
        };
        let scheme_name = match self.metric_name_validation_scheme.as_deref() {
            None | Some("") => global.metric_name_validation_scheme,
            Some(text) => SchemeName::parse(text, "scrape config")?,
        };
        let escaping = match self.metric_name_escaping_scheme.as_deref() {
            None | Some("") if scheme_name == global.metric_name_validation_scheme => {
                global.metric_name_escaping_scheme.clone()
            }
            value => resolve_escaping(value, scheme_name)?,
        };
        let scheme = self.scheme.clone().unwrap_or_else(|| "http".into());
        if scheme != "http" && scheme != "https" {
            return Err(format!("invalid scheme {scheme:?} for scrape config with job name {job:?}"));
        }
        let validation = scheme_name.scheme();

        let mut relabel_configs = self.relabel_configs.0;
        for rc in &mut relabel_configs {
            rc.validate(validation)?;
        }
        let mut metric_relabel_configs = self.metric_relabel_configs.0;
        for rc in &mut metric_relabel_configs {
            rc.validate(validation)?;
        }
        let static_configs = self.static_configs.0;
        for group in &static_configs {
            for target in &group.targets {
                if relabel_configs.is_empty() && target.contains('/') {
                    return Err(format!("{target:?} is not a valid hostname"));
                }
            }
            for name in group.labels.keys() {
                if !validation.is_valid_label_name(name) {
                    return Err(format!("{name:?} is not a valid label name"));
                }
            }
        }
        let mut file_sd_configs = self.file_sd_configs.0;
        for fc in &mut file_sd_configs {
            for file in &mut fc.files {
                if Path::new(file.as_str()).is_relative() {
                    *file = dir.join(file.as_str()).to_string_lossy().into_owned();
                }
            }
        }
        let mut http_sd_configs = self.http_sd_configs.0;
        for hc in &mut http_sd_configs {
            hc.http_client.set_directory(dir);
        }

        Ok(ScrapeConfig {
            honor_labels: self.honor_labels.unwrap_or(false),
            honor_timestamps: self.honor_timestamps.unwrap_or(true),
            track_timestamps_staleness: self.track_timestamps_staleness.unwrap_or(false),
            params: self.params,
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
            extra_scrape_metrics: self.extra_scrape_metrics.unwrap_or(global.extra_scrape_metrics),
            enable_compression: self.enable_compression.unwrap_or(true),
            metrics_path: self.metrics_path.clone().unwrap_or_else(|| "/metrics".into()),
            scheme,
            body_size_limit: match self.body_size_limit {
                Some(b) if b.0 != 0 => b,
                _ => global.body_size_limit,
            },
            sample_limit: inherit(self.sample_limit, global.sample_limit),
            target_limit: inherit(self.target_limit, global.target_limit),
            label_limit: inherit(self.label_limit, global.label_limit),
            label_name_length_limit: inherit(self.label_name_length_limit, global.label_name_length_limit),
            label_value_length_limit: inherit(self.label_value_length_limit, global.label_value_length_limit),
            native_histogram_bucket_limit: self.native_histogram_bucket_limit.unwrap_or(0),
            native_histogram_min_bucket_factor: self.native_histogram_min_bucket_factor.unwrap_or(0.0),
            keep_dropped_targets: inherit(self.keep_dropped_targets, global.keep_dropped_targets),
            metric_name_validation_scheme: scheme_name,
            metric_name_escaping_scheme: escaping,
            scrape_failure_log_file: self.scrape_failure_log_file.clone().or_else(|| global.scrape_failure_log_file.clone()),
            http_client,
            service_discovery: SdConfigs {
                static_configs,
                file_sd_configs,
                http_sd_configs,
                dns_sd_configs: self.dns_sd_configs.0,
            },
            relabel_configs,
            metric_relabel_configs,
            job_name: job,
        })
    }
}
