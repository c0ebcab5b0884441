//! The `global` section.

use super::{ByteSize, PromDuration};
use crate::labels::ValidationScheme;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `global`: defaults for every scrape config, and the external labels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GlobalConfig {
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    pub scrape_protocols: Vec<ScrapeProtocol>,
    pub evaluation_interval: PromDuration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
    pub body_size_limit: ByteSize,
    pub sample_limit: u64,
    pub target_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub keep_dropped_targets: u64,
    pub metric_name_validation_scheme: SchemeName,
    pub metric_name_escaping_scheme: String,
    pub scrape_native_histograms: bool,
    pub always_scrape_classic_histograms: bool,
    pub convert_classic_histograms_to_nhcb: bool,
    pub extra_scrape_metrics: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_failure_log_file: Option<String>,
}

/// `metric_name_validation_scheme` as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemeName {
    #[default]
    Utf8,
    Legacy,
}

impl SchemeName {
    pub fn parse(text: &str, section: &str) -> Result<Self, String> {
        match text {
            "" | "utf8" => Ok(SchemeName::Utf8),
            "legacy" => Ok(SchemeName::Legacy),
            other => Err(format!(
                "unknown {section} name validation method specified, must be either '', 'legacy' or 'utf8', got {other}"
            )),
        }
    }

    pub fn scheme(self) -> ValidationScheme {
        match self {
            SchemeName::Utf8 => ValidationScheme::Utf8,
            SchemeName::Legacy => ValidationScheme::Legacy,
        }
    }
}

/// A protocol of `scrape_protocols`, by its case-sensitive config name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ScrapeProtocol {
    PrometheusProto,
    #[serde(rename = "OpenMetricsText0.0.1")]
    OpenMetricsText0_0_1,
    #[serde(rename = "OpenMetricsText1.0.0")]
    OpenMetricsText1_0_0,
    #[serde(rename = "PrometheusText0.0.4")]
    PrometheusText0_0_4,
    #[serde(rename = "PrometheusText1.0.0")]
    PrometheusText1_0_0,
}

impl ScrapeProtocol {
    pub const ALL: [(&'static str, ScrapeProtocol); 5] = [
        ("PrometheusProto", ScrapeProtocol::PrometheusProto),
        ("OpenMetricsText0.0.1", ScrapeProtocol::OpenMetricsText0_0_1),
        ("OpenMetricsText1.0.0", ScrapeProtocol::OpenMetricsText1_0_0),
        ("PrometheusText0.0.4", ScrapeProtocol::PrometheusText0_0_4),
        ("PrometheusText1.0.0", ScrapeProtocol::PrometheusText1_0_0),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, p)| *p == self).map(|(n, _)| *n).unwrap_or("")
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL.iter().find(|(n, _)| *n == text).map(|(_, p)| *p).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
            format!("unknown scrape protocol {text}, supported: [{}]", names.join(" "))
        })
    }

    /// The default list: with native histograms, protobuf first.
    pub fn defaults(native_histograms: bool) -> Vec<ScrapeProtocol> {
        let mut list = vec![
            ScrapeProtocol::OpenMetricsText1_0_0,
            ScrapeProtocol::OpenMetricsText0_0_1,
            ScrapeProtocol::PrometheusText1_0_0,
            ScrapeProtocol::PrometheusText0_0_4,
        ];
        if native_histograms {
            list.insert(0, ScrapeProtocol::PrometheusProto);
        }
        list
    }

    /// Parses a `scrape_protocols` list: non-empty, known names, no duplicates (case-insensitive).
    pub fn parse_list(names: &[String]) -> Result<Vec<ScrapeProtocol>, String> {
        if names.is_empty() {
            return Err("scrape_protocols cannot be empty".into());
        }
        let mut seen: Vec<String> = Vec::new();
        let mut list = Vec::new();
        for name in names {
            let lower = name.to_ascii_lowercase();
            if seen.contains(&lower) {
                return Err(format!("duplicated protocol in scrape_protocols, got [{}]", names.join(" ")));
            }
            seen.push(lower);
            list.push(ScrapeProtocol::parse(name)?);
        }
        Ok(list)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGlobalConfig {
    pub scrape_interval: Option<PromDuration>,
    pub scrape_timeout: Option<PromDuration>,
    pub scrape_protocols: Option<Vec<String>>,
    pub evaluation_interval: Option<PromDuration>,
    #[allow(dead_code)]
    pub rule_query_offset: Option<PromDuration>,
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    #[allow(dead_code)]
    pub query_log_file: Option<String>,
    pub scrape_failure_log_file: Option<String>,
    pub body_size_limit: Option<ByteSize>,
    pub sample_limit: Option<u64>,
    pub target_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub keep_dropped_targets: Option<u64>,
    pub metric_name_validation_scheme: Option<String>,
    pub metric_name_escaping_scheme: Option<String>,
    pub scrape_native_histograms: Option<bool>,
    pub always_scrape_classic_histograms: Option<bool>,
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    pub extra_scrape_metrics: Option<bool>,
}

/// Go's `os.Expand` as Prometheus applies it to external label values: `$X`, `${X}`,
/// `$$` → `$`; an unset variable is `""`.
pub fn expand_env(value: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    let mut literal_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 >= bytes.len() {
            i += 1;
            continue;
        }
        out.push_str(&value[literal_start..i]);
        let rest = &value[i + 1..];
        let (name, consumed) = if rest.starts_with('$') {
            out.push('$');
            ("", 1)
        } else if let Some(inner) = rest.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                // Go consumes a bad `${` and expands to nothing.
                None => ("", rest.len()),
            }
        } else {
            let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
            if len == 0 {
                // A lone `$` followed by something else is kept.
                out.push('$');
            }
            (&rest[..len], len)
        };
        if !name.is_empty() {
            out.push_str(&lookup(name).unwrap_or_default());
        }
        i += 1 + consumed;
        literal_start = i;
    }
    out.push_str(&value[literal_start.min(value.len())..]);
    out
}

impl RawGlobalConfig {
    pub fn resolve(self) -> Result<GlobalConfig, String> {
        let scrape_interval = self.scrape_interval.unwrap_or(PromDuration::from_secs(60));
        let scrape_timeout = match self.scrape_timeout {
            Some(timeout) if timeout > scrape_interval => {
                return Err("global scrape timeout greater than scrape interval".into());
            }
            Some(timeout) => timeout,
            None => PromDuration::from_secs(10).min(scrape_interval),
        };
        let native = self.scrape_native_histograms.unwrap_or(false);
        let scrape_protocols = match &self.scrape_protocols {
            Some(names) => ScrapeProtocol::parse_list(names).map_err(|e| format!("{e} in global"))?,
            None => ScrapeProtocol::defaults(native),
        };
        let scheme = SchemeName::parse(self.metric_name_validation_scheme.as_deref().unwrap_or(""), "global")?;
        let escaping = resolve_escaping(self.metric_name_escaping_scheme.as_deref(), scheme)?;
        let mut external_labels = BTreeMap::new();
        for (name, value) in self.external_labels {
            if !scheme.scheme().is_valid_label_name(&name) {
                return Err(format!("{name:?} is not a valid label name"));
            }
            if name == "__name__" {
                return Err(format!("{name:?} is a reserved label name"));
            }
            let value = expand_env(&value, |k| std::env::var(k).ok());
            if !value.is_empty() {
                external_labels.insert(name, value);
            }
        }
        Ok(GlobalConfig {
            scrape_interval,
            scrape_timeout,
            scrape_protocols,
            evaluation_interval: self.evaluation_interval.unwrap_or(PromDuration::from_secs(60)),
            external_labels,
            body_size_limit: self.body_size_limit.unwrap_or_default(),
            sample_limit: self.sample_limit.unwrap_or(0),
            target_limit: self.target_limit.unwrap_or(0),
            label_limit: self.label_limit.unwrap_or(0),
            label_name_length_limit: self.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: self.label_value_length_limit.unwrap_or(0),
            keep_dropped_targets: self.keep_dropped_targets.unwrap_or(0),
            metric_name_validation_scheme: scheme,
            metric_name_escaping_scheme: escaping,
            scrape_native_histograms: native,
            always_scrape_classic_histograms: self.always_scrape_classic_histograms.unwrap_or(false),
            convert_classic_histograms_to_nhcb: self.convert_classic_histograms_to_nhcb.unwrap_or(false),
            extra_scrape_metrics: self.extra_scrape_metrics.unwrap_or(false),
            scrape_failure_log_file: self.scrape_failure_log_file,
        })
    }
}

/// `metric_name_escaping_scheme`: `allow-utf-8` by default, `underscores` under legacy.
pub(super) fn resolve_escaping(value: Option<&str>, scheme: SchemeName) -> Result<String, String> {
    match value.unwrap_or("") {
        "" => Ok(match scheme {
            SchemeName::Utf8 => "allow-utf-8",
            SchemeName::Legacy => "underscores",
        }
        .to_string()),
        "allow-utf-8" if scheme == SchemeName::Legacy => Err(
            "metric_name_escaping_scheme cannot be set to 'allow-utf-8' while metric_name_validation_scheme is not set to 'utf8'"
                .into(),
        ),
        name @ ("allow-utf-8" | "underscores" | "dots" | "values") => Ok(name.to_string()),
        other => Err(format!(
            "unknown metric name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion_like_go_os_expand() {
        let lookup = |k: &str| match k {
            "FOO" => Some("foo".to_string()),
            "B_1" => Some("b".to_string()),
            _ => None,
        };
        assert_eq!(expand_env("$FOO", lookup), "foo");
        assert_eq!(expand_env("${FOO}-x", lookup), "foo-x");
        assert_eq!(expand_env("a$B_1.c", lookup), "ab.c");
        assert_eq!(expand_env("$$FOO", lookup), "$FOO");
        assert_eq!(expand_env("$UNSET!", lookup), "!");
        assert_eq!(expand_env("cost$", lookup), "cost$");
        assert_eq!(expand_env("plain", lookup), "plain");
    }

    #[test]
    fn default_timeout_is_min_of_10s_and_interval() {
        let g = RawGlobalConfig { scrape_interval: Some(PromDuration::from_secs(5)), ..Default::default() }.resolve().unwrap();
        assert_eq!(g.scrape_timeout, PromDuration::from_secs(5));
        let g = RawGlobalConfig::default().resolve().unwrap();
        assert_eq!((g.scrape_interval, g.scrape_timeout), (PromDuration::from_secs(60), PromDuration::from_secs(10)));
    }
}
