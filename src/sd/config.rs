//! Config sections of the discovery mechanisms, validated as Prometheus validates them.

use crate::config::PromDuration;
use crate::config::http::{HttpClientConfig, http_client_fields};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// All `*_sd_configs` of one scrape config.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SdConfigs {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kubernetes_sd_configs: Vec<super::kubernetes::KubernetesSdConfig>,
}

/// `static_configs` entry: fixed targets with common labels.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn default_file_refresh() -> PromDuration {
    PromDuration::from_secs(300)
}

/// `file_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, try_from = "RawFileSdConfig")]
pub struct FileSdConfig {
    pub files: Vec<String>,
    pub refresh_interval: PromDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileSdConfig {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default = "default_file_refresh")]
    refresh_interval: PromDuration,
}

impl TryFrom<RawFileSdConfig> for FileSdConfig {
    type Error = String;
    fn try_from(raw: RawFileSdConfig) -> Result<Self, String> {
        if raw.files.is_empty() {
            return Err("file service discovery config must contain at least one path name".into());
        }
        for name in &raw.files {
            if !is_valid_file_sd_pattern(name) {
                return Err(format!(
                    "path name {name:?} is not valid for file discovery"
                ));
            }
        }
        Ok(FileSdConfig {
            files: raw.files,
            refresh_interval: raw.refresh_interval,
        })
    }
}

/// `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`: a glob only in the last path element.
fn is_valid_file_sd_pattern(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    if !matches!(ext, "json" | "yml" | "yaml" | "JSON" | "YML" | "YAML") {
        return false;
    }
    match stem.find('*') {
        None => true,
        Some(star) => !stem[star..].contains('/'),
    }
}

fn default_http_refresh() -> PromDuration {
    PromDuration::from_secs(60)
}

/// `http_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpSdConfig {
    pub url: String,
    pub refresh_interval: PromDuration,
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
}

http_client_fields! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawHttpSdConfig {
        #[serde(default)]
        url: String,
        #[serde(default = "default_http_refresh")]
        refresh_interval: PromDuration,
    }
}

impl<'de> Deserialize<'de> for HttpSdConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut raw = RawHttpSdConfig::deserialize(deserializer)?;
        let http_client = raw
            .http_fields()
            .resolve(true)
            .map_err(serde::de::Error::custom)?;
        if raw.url.is_empty() {
            return Err(serde::de::Error::custom("URL is missing"));
        }
        // Go's url.Parse accepts `invalid` (a relative path) and `http://` (no host); the
        // checks below then give Prometheus' messages, so parse failures map onto them too.
        match url::Url::parse(&raw.url) {
            Ok(url) if url.scheme() != "http" && url.scheme() != "https" => {
                return Err(serde::de::Error::custom(
                    "URL scheme must be 'http' or 'https'",
                ));
            }
            Ok(url) if url.host_str().unwrap_or("").is_empty() => {
                return Err(serde::de::Error::custom("host is missing in URL"));
            }
            Ok(_) => {}
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                return Err(serde::de::Error::custom(
                    "URL scheme must be 'http' or 'https'",
                ));
            }
            Err(url::ParseError::EmptyHost) => {
                return Err(serde::de::Error::custom("host is missing in URL"));
            }
            Err(e) => {
                return Err(serde::de::Error::custom(format!(
                    "parse {:?}: {e}",
                    raw.url
                )));
            }
        }
        Ok(HttpSdConfig {
            url: raw.url,
            refresh_interval: raw.refresh_interval,
            http_client,
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum DnsRecordType {
    #[default]
    SRV,
    A,
    AAAA,
    MX,
    NS,
}

fn default_dns_refresh() -> PromDuration {
    PromDuration::from_secs(30)
}

/// `dns_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, try_from = "RawDnsSdConfig")]
pub struct DnsSdConfig {
    pub names: Vec<String>,
    pub refresh_interval: PromDuration,
    #[serde(rename = "type")]
    pub record_type: DnsRecordType,
    pub port: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDnsSdConfig {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default = "default_dns_refresh")]
    refresh_interval: PromDuration,
    #[serde(default, rename = "type")]
    record_type: Option<String>,
    #[serde(default)]
    port: u16,
}

impl TryFrom<RawDnsSdConfig> for DnsSdConfig {
    type Error = String;
    fn try_from(raw: RawDnsSdConfig) -> Result<Self, String> {
        if raw.names.is_empty() {
            return Err("DNS-SD config must contain at least one SRV record name".into());
        }
        let record_type = match raw
            .record_type
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("") | Some("SRV") => DnsRecordType::SRV,
            Some("A") => DnsRecordType::A,
            Some("AAAA") => DnsRecordType::AAAA,
            Some("MX") => DnsRecordType::MX,
            Some("NS") => DnsRecordType::NS,
            Some(_) => {
                return Err(format!(
                    "invalid DNS-SD records type {}",
                    raw.record_type.unwrap_or_default()
                ));
            }
        };
        if record_type != DnsRecordType::SRV && raw.port == 0 {
            return Err(
                "a port is required in DNS-SD configs for all record types except SRV".into(),
            );
        }
        Ok(DnsSdConfig {
            names: raw.names,
            refresh_interval: raw.refresh_interval,
            record_type,
            port: raw.port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sd_patterns() {
        for ok in ["a.json", "dir/*.yml", "dir/x*y.yaml", "/abs/path/f.JSON"] {
            assert!(is_valid_file_sd_pattern(ok), "{ok}");
        }
        for bad in ["a.txt", "*/x.json", "dir*/x.yml", "noext"] {
            assert!(!is_valid_file_sd_pattern(bad), "{bad}");
        }
    }
}
