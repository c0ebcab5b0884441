//! `remote_write` entries (P: `RemoteWriteConfig`, `QueueConfig`, `MetadataConfig`).

use super::PromDuration;
use super::http::{HttpClientConfig, check_url, http_client_fields, serialize_redacted_url};
use super::section::{NonNullList, NullWriteRelabel, Position};
use crate::labels::ValidationScheme;
use crate::relabel::RelabelConfig;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
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

/// Headers remote write owns (P: `config.go` `reservedHeaders`); `authorization` is checked
/// on its own, with its own message.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

#[derive(Clone, Debug, Serialize)]
pub struct RemoteWriteConfig {
    /// As written; Prometheus, like us, accepts anything Go's `url.Parse` accepts.
    #[serde(serialize_with = "serialize_redacted_url")]
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
    pub failed_request_logging: bool,
    pub queue_config: QueueConfig,
    pub metadata_config: MetadataConfig,
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
}

/// `queue_config`, with Prometheus' defaults (spec §6.4).
#[derive(Clone, Debug, PartialEq, Serialize)]
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

/// `queue_config` as written: the counts are Go `int`s, so a negative value is read and then
/// rejected by validation, as in Prometheus.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueueConfig {
    #[serde(default)]
    capacity: Option<i64>,
    #[serde(default)]
    max_shards: Option<i64>,
    #[serde(default)]
    min_shards: Option<i64>,
    #[serde(default)]
    max_samples_per_send: Option<i64>,
    #[serde(default)]
    batch_send_deadline: Option<PromDuration>,
    #[serde(default)]
    min_backoff: Option<PromDuration>,
    #[serde(default)]
    max_backoff: Option<PromDuration>,
    #[serde(default)]
    retry_on_http_429: Option<bool>,
    #[serde(default)]
    sample_age_limit: Option<PromDuration>,
}

impl RawQueueConfig {
    /// P: `QueueConfig.Validate`, same order and wording.
    fn resolve(self) -> Result<QueueConfig, String> {
        let d = QueueConfig::default();
        let count = |v: Option<i64>, default: u64| v.unwrap_or(default as i64);
        let capacity = count(self.capacity, d.capacity);
        let max_shards = count(self.max_shards, d.max_shards);
        let min_shards = count(self.min_shards, d.min_shards);
        let max_samples_per_send = count(self.max_samples_per_send, d.max_samples_per_send);
        let min_backoff = self.min_backoff.unwrap_or(d.min_backoff);
        let max_backoff = self.max_backoff.unwrap_or(d.max_backoff);
        if max_shards <= 0 {
            return Err("remote write queue max_shards must be positive".into());
        }
        if min_shards <= 0 {
            return Err("remote write queue min_shards must be positive".into());
        }
        if min_shards > max_shards {
            return Err("remote write queue min_shards must not be greater than max_shards".into());
        }
        if max_samples_per_send <= 0 {
            return Err("remote write queue max_samples_per_send must be positive".into());
        }
        if capacity <= 0 {
            return Err("remote write queue capacity must be positive".into());
        }
        if max_backoff < min_backoff {
            return Err("remote write queue max_backoff must not be less than min_backoff".into());
        }
        Ok(QueueConfig {
            capacity: capacity as u64,
            max_shards: max_shards as u64,
            min_shards: min_shards as u64,
            max_samples_per_send: max_samples_per_send as u64,
            batch_send_deadline: self.batch_send_deadline.unwrap_or(d.batch_send_deadline),
            min_backoff,
            max_backoff,
            retry_on_http_429: self.retry_on_http_429.unwrap_or(false),
            sample_age_limit: self.sample_age_limit.unwrap_or(d.sample_age_limit),
        })
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
        MetadataConfig {
            send: true,
            send_interval: PromDuration::from_secs(60),
            max_samples_per_send: 2_000,
        }
    }
}

http_client_fields! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RawRemoteWriteConfig {
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        pub name: Option<String>,
        #[serde(default)]
        remote_timeout: Option<PromDuration>,
        #[serde(default)]
        headers: Option<BTreeMap<String, String>>,
        #[serde(default)]
        write_relabel_configs: NonNullList<Spanned<RelabelConfig>, NullWriteRelabel>,
        #[serde(default)]
        send_exemplars: Option<bool>,
        #[serde(default)]
        send_native_histograms: Option<bool>,
        #[serde(default)]
        round_robin_dns: Option<bool>,
        #[serde(default)]
        protobuf_message: Option<Spanned<String>>,
        #[serde(default)]
        failed_request_logging: Option<bool>,
        #[serde(default)]
        queue_config: Option<Spanned<RawQueueConfig>>,
        #[serde(default)]
        metadata_config: Option<MetadataConfig>,
        #[serde(default)]
        sigv4: Option<Spanned<IgnoredAny>>,
        #[serde(default)]
        azuread: Option<Spanned<IgnoredAny>>,
        #[serde(default)]
        google_iam: Option<Spanned<IgnoredAny>>,
    }
}

impl RawRemoteWriteConfig {
    /// Validates in the order of P's `RemoteWriteConfig.UnmarshalYAML` and `Validate`. Errors
    /// without a more precise location are reported at `at`, the start of the entry.
    pub fn resolve(
        mut self,
        scheme: ValidationScheme,
        dir: &Path,
        at: Position,
    ) -> Result<RemoteWriteConfig, (Position, String)> {
        let err = |message: String| (at, message);
        let Some(url) = self.url.take() else {
            return Err(err("url for remote_write is empty".into()));
        };
        check_url(&url).map_err(err)?;
        let headers = self.headers.take().unwrap_or_default();
        for header in headers.keys() {
            let lower = header.to_ascii_lowercase();
            if lower == "authorization" {
                return Err(err("authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter".into()));
            }
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(err(format!(
                    "{header} is a reserved header. It must not be changed"
                )));
            }
        }
        let protobuf_message = match &self.protobuf_message {
            None => ProtobufMessage::V1,
            Some(m) if m.value == "prometheus.WriteRequest" => ProtobufMessage::V1,
            Some(m) if m.value == "io.prometheus.write.v2.Request" => ProtobufMessage::V2,
            Some(m) => {
                return Err((
                    Position::of(&m.referenced),
                    format!(
                        "invalid protobuf_message value: unknown type for remote write protobuf message {}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request",
                        m.value
                    ),
                ));
            }
        };
        let mut http_client = self.http_fields().resolve(false).map_err(err)?;
        http_client.set_directory(dir);
        let queue_config = match self.queue_config.take() {
            Some(q) => {
                let q_at = Position::of(&q.referenced);
                q.value.resolve().map_err(|m| (q_at, m))?
            }
            None => QueueConfig::default(),
        };
        // P: `validateAuthConfigs`.
        let mut configured = Vec::new();
        for (name, set) in [
            ("basic_auth", http_client.basic_auth.is_some()),
            ("authorization", http_client.authorization.is_some()),
            ("oauth2", http_client.oauth2.is_some()),
            ("sigv4", self.sigv4.is_some()),
            ("azuread", self.azuread.is_some()),
            ("google_iam", self.google_iam.is_some()),
        ] {
            if set {
                configured.push(name);
            }
        }
        if configured.len() > 1 {
            return Err(err(format!(
                "at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam must be configured. Currently configured: [{}]",
                configured.join(" ")
            )));
        }
        for (name, section) in [
            ("sigv4", &self.sigv4),
            ("azuread", &self.azuread),
            ("google_iam", &self.google_iam),
        ] {
            if let Some(section) = section {
                return Err((
                    Position::of(&section.referenced),
                    format!("remote_write {name} is not supported by promshard"),
                ));
            }
        }
        let mut write_relabel_configs = Vec::new();
        for rc in self.write_relabel_configs.0 {
            let rc_at = Position::of(&rc.referenced);
            let mut rc = rc.value;
            rc.validate(scheme).map_err(|m| (rc_at, m))?;
            write_relabel_configs.push(rc);
        }
        Ok(RemoteWriteConfig {
            url,
            name: self.name.unwrap_or_default(),
            remote_timeout: self.remote_timeout.unwrap_or(PromDuration::from_secs(30)),
            headers,
            write_relabel_configs,
            send_exemplars: self.send_exemplars.unwrap_or(false),
            send_native_histograms: self.send_native_histograms.unwrap_or(false),
            round_robin_dns: self.round_robin_dns.unwrap_or(false),
            protobuf_message,
            failed_request_logging: self.failed_request_logging.unwrap_or(false),
            queue_config,
            metadata_config: self.metadata_config.unwrap_or_default(),
            http_client,
        })
    }
}
