//! `remote_write` entries (P: `RemoteWriteConfig`, `QueueConfig`, `MetadataConfig`).

use super::PromDuration;
use super::http::{HttpClientConfig, RESERVED_HEADERS, http_client_fields};
use super::section::{NonNullList, NullWriteRelabel};
use crate::labels::ValidationScheme;
use crate::relabel::RelabelConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum ProtobufMessage {
    #[default]
    #[serde(rename = "prometheus.WriteRequest")]
    V1,
    #[serde(rename = "io.prometheus.write.v2.Request")]
    V2,
}

#[derive(Clone, Debug, Serialize)]
pub struct RemoteWriteConfig {
    pub url: String,
    pub name: String,
    pub remote_timeout: PromDuration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub write_relabel_configs: Vec<RelabelConfig>,
    pub send_exemplars: bool,
    pub send_native_histograms: bool,
    pub round_robin_dns: bool,
    pub protobuf_message: ProtobufMessage,
    pub queue_config: QueueConfig,
    pub metadata_config: MetadataConfig,
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
}

/// `queue_config`, with Prometheus' defaults (spec §6.4).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub capacity: u64,
    pub max_shards: u64,
    pub min_shards: u64,
    pub max_samples_per_send: u64,
    pub batch_send_deadline: PromDuration,
    pub min_backoff: PromDuration,
    pub max_backoff: PromDuration,
    pub retry_on_http_429: bool,
    pub sample_age_limit: PromDuration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: PromDuration::from_secs(5),
            min_backoff: PromDuration::from_millis(30),
            max_backoff: PromDuration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: PromDuration::ZERO,
        }
    }
}

impl QueueConfig {
    fn validate(&self) -> Result<(), String> {
        if self.capacity == 0 {
            return Err("queue_config.capacity must be greater than 0".into());
        }
        if self.max_shards == 0 {
            return Err("queue_config.max_shards must be greater than 0".into());
        }
        if self.min_shards == 0 {
            return Err("queue_config.min_shards must be greater than 0".into());
        }
        if self.min_shards > self.max_shards {
            return Err("queue_config.min_shards must not be greater than queue_config.max_shards".into());
        }
        if self.max_samples_per_send == 0 {
            return Err("queue_config.max_samples_per_send must be greater than 0".into());
        }
        if self.max_backoff < self.min_backoff {
            return Err("queue_config.max_backoff must be greater than or equal to queue_config.min_backoff".into());
        }
        Ok(())
    }
}

/// `metadata_config` (remote write 1.0 metadata requests).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    pub send: bool,
    pub send_interval: PromDuration,
    pub max_samples_per_send: u64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig { send: true, send_interval: PromDuration::from_secs(60), max_samples_per_send: 2_000 }
    }
}

http_client_fields! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RawRemoteWriteConfig {
        #[serde(default)]
        url: String,
        #[serde(default)]
        pub name: String,
        #[serde(default)]
        remote_timeout: Option<PromDuration>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        write_relabel_configs: NonNullList<RelabelConfig, NullWriteRelabel>,
        #[serde(default)]
        send_exemplars: bool,
        #[serde(default)]
        send_native_histograms: bool,
        #[serde(default)]
        round_robin_dns: bool,
        #[serde(default)]
        protobuf_message: Option<String>,
        #[serde(default)]
        queue_config: QueueConfig,
        #[serde(default)]
        metadata_config: MetadataConfig,
        #[serde(default)]
        sigv4: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        azuread: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        google_iam: Option<serde::de::IgnoredAny>,
    }
}

impl RawRemoteWriteConfig {
    pub fn resolve(mut self, scheme: ValidationScheme, dir: &Path) -> Result<RemoteWriteConfig, String> {
        if self.sigv4.is_some() || self.azuread.is_some() || self.google_iam.is_some() {
            return Err("remote_write: sigv4, azuread and google_iam are not supported by promshard".into());
        }
        if self.url.is_empty() {
            return Err("url for remote_write is empty".into());
        }
        let url = url::Url::parse(&self.url).map_err(|e| format!("parse {:?}: {e}", self.url))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!("remote_write url {:?} must use http or https", self.url));
        }
        for header in self.headers.keys() {
            let lower = header.to_ascii_lowercase();
            if lower == "authorization" {
                return Err("authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter".into());
            }
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(format!("{header} is a reserved header. It must not be changed"));
            }
        }
        let protobuf_message = match self.protobuf_message.as_deref() {
            None | Some("") | Some("prometheus.WriteRequest") => ProtobufMessage::V1,
            Some("io.prometheus.write.v2.Request") => ProtobufMessage::V2,
            Some(other) => {
                return Err(format!(
                    "unknown remote write protobuf message {other}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
                ));
            }
        };
        self.queue_config.validate()?;
        let mut http_client = self.http_fields().resolve(false)?;
        http_client.set_directory(dir);
        let mut write_relabel_configs = self.write_relabel_configs.0;
        for rc in &mut write_relabel_configs {
            rc.validate(scheme)?;
        }
        Ok(RemoteWriteConfig {
            url: self.url,
            name: self.name,
            remote_timeout: self.remote_timeout.unwrap_or(PromDuration::from_secs(30)),
            headers: self.headers,
            write_relabel_configs,
            send_exemplars: self.send_exemplars,
            send_native_histograms: self.send_native_histograms,
            round_robin_dns: self.round_robin_dns,
            protobuf_message,
            queue_config: self.queue_config,
            metadata_config: self.metadata_config,
            http_client,
        })
    }
}
