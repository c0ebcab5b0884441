//! The `global` section.

use super::http::join_path;
use super::quote::go_quote;
use super::section::Position;
use super::{ByteSize, PromDuration};
use crate::labels::ValidationScheme;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::Path;

/// `global`: defaults for every scrape config, and the external labels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GlobalConfig {
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    /// Only when set explicitly: otherwise each job picks its default from its own
    /// `scrape_native_histograms` (see [`ScrapeProtocol::defaults`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    pub evaluation_interval: PromDuration,
    /// After environment expansion. As in Prometheus, a value that expands to `""` is kept.
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

impl Default for GlobalConfig {
    /// The global section of an empty config file.
    fn default() -> Self {
        RawGlobalConfig::default()
            .resolve(Path::new(""), &|_| None)
            .expect("the default global config is valid")
    }
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
    pub fn scheme(self) -> ValidationScheme {
        match self {
            SchemeName::Utf8 => ValidationScheme::Utf8,
            SchemeName::Legacy => ValidationScheme::Legacy,
        }
    }
}

/// A `metric_name_validation_scheme` value: `None` for `""` (unset), as prometheus/common
/// `ValidationScheme.UnmarshalYAML` reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SchemeSetting(pub Option<SchemeName>);

impl<'de> Deserialize<'de> for SchemeSetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "" => Ok(SchemeSetting(None)),
            "utf8" => Ok(SchemeSetting(Some(SchemeName::Utf8))),
            "legacy" => Ok(SchemeSetting(Some(SchemeName::Legacy))),
            _ => Err(serde::de::Error::custom(format!(
                "unrecognized ValidationScheme: {}",
                go_quote(&text)
            ))),
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
    /// Sorted by name, the order Prometheus lists them in errors.
    pub const ALL: [(&'static str, ScrapeProtocol); 5] = [
        ("OpenMetricsText0.0.1", ScrapeProtocol::OpenMetricsText0_0_1),
        ("OpenMetricsText1.0.0", ScrapeProtocol::OpenMetricsText1_0_0),
        ("PrometheusProto", ScrapeProtocol::PrometheusProto),
        ("PrometheusText0.0.4", ScrapeProtocol::PrometheusText0_0_4),
        ("PrometheusText1.0.0", ScrapeProtocol::PrometheusText1_0_0),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .unwrap_or("")
    }

    /// P: `ScrapeProtocol.Validate`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown scrape protocol {text}, supported: [{}]",
                    names.join(" ")
                )
            })
    }

    /// The default list (P: `DefaultScrapeProtocols`); with native histograms, protobuf
    /// first (`DefaultProtoFirstScrapeProtocols`).
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

    /// P: `validateAcceptScrapeProtocols`: non-empty, no duplicates (case-insensitive), known
    /// names. A null item reads as `""`, as in Go.
    pub fn parse_list(names: &[Option<String>]) -> Result<Vec<ScrapeProtocol>, String> {
        if names.is_empty() {
            return Err("scrape_protocols cannot be empty".into());
        }
        let names: Vec<&str> = names.iter().map(|n| n.as_deref().unwrap_or("")).collect();
        let mut seen: Vec<String> = Vec::new();
        let mut list = Vec::new();
        for name in &names {
            let lower = name.to_lowercase();
            if seen.contains(&lower) {
                return Err(format!(
                    "duplicated protocol in scrape_protocols, got [{}]",
                    names.join(" ")
                ));
            }
            list.push(ScrapeProtocol::parse(name).map_err(|e| format!("scrape_protocols: {e}"))?);
            seen.push(lower);
        }
        Ok(list)
    }
}

/// `external_labels` in file order, each name with its location; a null value is `""`.
#[derive(Default)]
pub(super) struct LabelList(pub Vec<(Spanned<String>, Option<String>)>);

impl<'de> Deserialize<'de> for LabelList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LabelVisitor;
        impl<'de> serde::de::Visitor<'de> for LabelVisitor {
            type Value = LabelList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of label names to values")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<LabelList, E> {
                Ok(LabelList::default())
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<LabelList, E> {
                Ok(LabelList::default())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<LabelList, A::Error> {
                let mut list = Vec::new();
                while let Some((name, value)) =
                    map.next_entry::<Spanned<String>, Option<String>>()?
                {
                    list.push((name, value));
                }
                Ok(LabelList(list))
            }
        }
        deserializer.deserialize_map(LabelVisitor)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGlobalConfig {
    #[serde(default)]
    pub scrape_interval: Option<PromDuration>,
    #[serde(default)]
    pub scrape_timeout: Option<Spanned<PromDuration>>,
    #[serde(default)]
    pub scrape_protocols: Option<Spanned<Vec<Option<String>>>>,
    #[serde(default)]
    pub evaluation_interval: Option<PromDuration>,
    #[serde(default)]
    #[allow(dead_code)]
    pub rule_query_offset: Option<PromDuration>,
    #[serde(default)]
    pub external_labels: LabelList,
    #[serde(default)]
    #[allow(dead_code)]
    pub query_log_file: Option<String>,
    #[serde(default)]
    pub scrape_failure_log_file: Option<String>,
    #[serde(default)]
    pub body_size_limit: Option<ByteSize>,
    #[serde(default)]
    pub sample_limit: Option<u64>,
    #[serde(default)]
    pub target_limit: Option<u64>,
    #[serde(default)]
    pub label_limit: Option<u64>,
    #[serde(default)]
    pub label_name_length_limit: Option<u64>,
    #[serde(default)]
    pub label_value_length_limit: Option<u64>,
    #[serde(default)]
    pub keep_dropped_targets: Option<u64>,
    #[serde(default)]
    pub metric_name_validation_scheme: Option<SchemeSetting>,
    #[serde(default)]
    pub metric_name_escaping_scheme: Option<Spanned<String>>,
    #[serde(default)]
    pub scrape_native_histograms: Option<bool>,
    #[serde(default)]
    pub always_scrape_classic_histograms: Option<bool>,
    #[serde(default)]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    #[serde(default)]
    pub extra_scrape_metrics: Option<bool>,
}

/// Go's `os.Expand` as Prometheus applies it to external label values: `$X`, `${X}`,
/// `$$` → `$`; an unset variable is `""`. Also like Go: `$` followed by one of `*#$@!?-` or a
/// digit names a one-character variable, `${}` and an unclosed `${` are dropped, and a `$`
/// followed by anything else is kept.
pub fn expand_env(value: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    let mut literal_start = 0;
    let mut j = 0;
    while j < bytes.len() {
        if bytes[j] == b'$' && j + 1 < bytes.len() {
            out.push_str(&value[literal_start..j]);
            let (name, width) = shell_name(&value[j + 1..]);
            match name {
                // Bad syntax: the characters are dropped.
                "" if width > 0 => {}
                "" => out.push('$'),
                "$" => out.push('$'),
                name => out.push_str(&lookup(name).unwrap_or_default()),
            }
            j += width;
            literal_start = j + 1;
        }
        j += 1;
    }
    out.push_str(&value[literal_start.min(value.len())..]);
    out
}

fn is_shell_special(b: u8) -> bool {
    matches!(b, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-') || b.is_ascii_digit()
}

/// Go's `getShellName`: the variable name at the start of `s` and how many bytes it takes.
fn shell_name(s: &str) -> (&str, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_shell_special(b[1]) && b[2] == b'}' {
            return (&s[1..2], 3);
        }
        return match b.iter().skip(1).position(|c| *c == b'}') {
            Some(0) => ("", 2),
            Some(i) => (&s[1..i + 1], i + 2),
            None => ("", 1),
        };
    }
    if is_shell_special(b[0]) {
        return (&s[..1], 1);
    }
    let len = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    (&s[..len], len)
}

/// A duration where `0` means "use the default", as Go's zero value does.
fn or_default(value: Option<PromDuration>, default: PromDuration) -> PromDuration {
    value.filter(|d| !d.is_zero()).unwrap_or(default)
}

impl RawGlobalConfig {
    /// Applies the defaults and validates as P's `GlobalConfig.UnmarshalYAML` does, then
    /// expands the external labels as `config.Load` does; `env` looks up environment variables.
    /// `dir` is the directory of the config file, for relative paths.
    pub fn resolve(
        self,
        dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GlobalConfig, (Position, String)> {
        let scheme = self
            .metric_name_validation_scheme
            .and_then(|s| s.0)
            .unwrap_or_default();
        let mut external_labels = BTreeMap::new();
        for (name, value) in self.external_labels.0 {
            if !scheme.scheme().is_valid_label_name(&name.value) {
                return Err((
                    Position::of(&name.referenced),
                    format!("{} is not a valid label name", go_quote(&name.value)),
                ));
            }
            let value = expand_env(value.as_deref().unwrap_or(""), |k| env(k));
            external_labels.insert(name.value, value);
        }

        let scrape_interval = or_default(self.scrape_interval, PromDuration::from_secs(60));
        let scrape_timeout = match self.scrape_timeout {
            Some(t) if t.value > scrape_interval => {
                return Err((
                    Position::of(&t.referenced),
                    "global scrape timeout greater than scrape interval".into(),
                ));
            }
            t => or_default(
                t.map(|t| t.value),
                PromDuration::from_secs(10).min(scrape_interval),
            ),
        };
        let scrape_protocols = match self.scrape_protocols {
            Some(names) => Some(ScrapeProtocol::parse_list(&names.value).map_err(|e| {
                (
                    Position::of(&names.referenced),
                    format!("{e} for global config"),
                )
            })?),
            None => None,
        };
        let escaping = match self.metric_name_escaping_scheme {
            Some(s) if !s.value.is_empty() => {
                if !ESCAPING_SCHEMES.contains(&s.value.as_str()) {
                    return Err((
                        Position::of(&s.referenced),
                        format!(
                            "unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {}",
                            go_quote(&s.value)
                        ),
                    ));
                }
                s.value
            }
            _ => default_escaping(scheme).to_string(),
        };
        Ok(GlobalConfig {
            scrape_interval,
            scrape_timeout,
            scrape_protocols,
            evaluation_interval: or_default(self.evaluation_interval, PromDuration::from_secs(60)),
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
            scrape_native_histograms: self.scrape_native_histograms.unwrap_or(false),
            always_scrape_classic_histograms: self
                .always_scrape_classic_histograms
                .unwrap_or(false),
            convert_classic_histograms_to_nhcb: self
                .convert_classic_histograms_to_nhcb
                .unwrap_or(false),
            extra_scrape_metrics: self.extra_scrape_metrics.unwrap_or(false),
            scrape_failure_log_file: self
                .scrape_failure_log_file
                .filter(|f| !f.is_empty())
                .map(|f| join_path(dir, Path::new(&f)).to_string_lossy().into_owned()),
        })
    }
}

/// The escaping schemes of prometheus/common `model.ToEscapingScheme`.
pub(super) const ESCAPING_SCHEMES: [&str; 4] = ["allow-utf-8", "underscores", "dots", "values"];

/// `metric_name_escaping_scheme` when unset: `allow-utf-8`, or `underscores` under legacy.
pub(super) fn default_escaping(scheme: SchemeName) -> &'static str {
    match scheme {
        SchemeName::Utf8 => "allow-utf-8",
        SchemeName::Legacy => "underscores",
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
        assert_eq!(expand_env("foo$${FOO}", lookup), "foo${FOO}");
        assert_eq!(expand_env("a${}b", lookup), "ab");
        assert_eq!(expand_env("a${FOO", lookup), "aFOO");
        assert_eq!(expand_env("$1x", lookup), "x");
        assert_eq!(expand_env("${$}", lookup), "$");
        assert_eq!(expand_env("a$.b", lookup), "a$.b");
        assert_eq!(expand_env("é$FOO€", lookup), "éfoo€");
    }

    #[test]
    fn default_timeout_is_min_of_10s_and_interval() {
        let resolve = |raw: RawGlobalConfig| raw.resolve(Path::new(""), &|_| None).unwrap();
        let g = resolve(RawGlobalConfig {
            scrape_interval: Some(PromDuration::from_secs(5)),
            ..Default::default()
        });
        assert_eq!(g.scrape_timeout, PromDuration::from_secs(5));
        let g = resolve(RawGlobalConfig::default());
        assert_eq!(
            (g.scrape_interval, g.scrape_timeout),
            (PromDuration::from_secs(60), PromDuration::from_secs(10))
        );
        let g = resolve(RawGlobalConfig {
            scrape_interval: Some(PromDuration::ZERO),
            ..Default::default()
        });
        assert_eq!(g.scrape_interval, PromDuration::from_secs(60));
    }

    #[test]
    fn protocol_lists() {
        let list = |names: &[&str]| {
            names
                .iter()
                .map(|n| Some(n.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ScrapeProtocol::parse_list(&[]).unwrap_err(),
            "scrape_protocols cannot be empty"
        );
        assert_eq!(
            ScrapeProtocol::parse_list(&list(&["prometheusproto"])).unwrap_err(),
            "scrape_protocols: unknown scrape protocol prometheusproto, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"
        );
        assert_eq!(
            ScrapeProtocol::parse_list(&list(&["PrometheusProto", "prometheusPROTO"])).unwrap_err(),
            "duplicated protocol in scrape_protocols, got [PrometheusProto prometheusPROTO]"
        );
    }
}
