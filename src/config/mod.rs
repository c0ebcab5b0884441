//! Loading `prometheus.yml`: strict YAML, Prometheus' defaults and validation, and errors
//! that name the file, line and column.

pub mod duration;
pub mod global;
pub mod http;
pub mod peer;
pub mod quote;
pub mod remote_write;
pub mod scrape;
pub mod section;
pub mod size;
pub mod web;

pub use duration::PromDuration;
pub use global::{GlobalConfig, ScrapeProtocol};
pub use remote_write::RemoteWriteConfig;
pub use scrape::ScrapeConfig;
pub use size::ByteSize;

use base64::Engine;
use global::RawGlobalConfig;
use http::join_path;
use quote::{go_quote, go_quote_bytes};
use remote_write::RawRemoteWriteConfig;
use scrape::RawScrapeConfig;
use section::{NonNullList, NullRemoteWrite, NullScrapeConfig, Position};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A loaded, validated configuration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Config {
    pub global: GlobalConfig,
    /// The patterns as written, joined to the config file's directory when relative.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrape_config_files: Vec<String>,
    /// The jobs of the file, then those of `scrape_config_files` in pattern and file order.
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<RemoteWriteConfig>,
}

/// One problem in a config file, located where the YAML node that caused it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the error is about the file as a whole.
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// All errors of one load: the main file's in file order, then those of included files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// One error about `file` as a whole.
    pub fn of_file(file: &Path, message: String) -> ConfigErrors {
        ConfigErrors(vec![ConfigError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message,
        }])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<RawGlobalConfig>,
    #[serde(default)]
    scrape_config_files: Option<Spanned<Vec<Option<String>>>>,
    #[serde(default)]
    scrape_configs: NonNullList<Spanned<RawScrapeConfig>, NullScrapeConfig>,
    #[serde(default)]
    remote_write: NonNullList<Spanned<RawRemoteWriteConfig>, NullRemoteWrite>,
    /// Go runtime tuning: meaningless here, accepted so Prometheus files load.
    #[serde(default)]
    #[allow(dead_code)]
    runtime: Option<RawRuntimeConfig>,
    #[serde(default)]
    alerting: Option<Spanned<RawAlertingConfig>>,
    #[serde(default)]
    rule_files: Option<Spanned<Vec<Option<String>>>>,
    #[serde(default)]
    remote_read: Option<Spanned<Vec<IgnoredAny>>>,
    #[serde(default)]
    storage: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    tracing: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    otlp: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntimeConfig {
    #[serde(default)]
    #[allow(dead_code)]
    gogc: Option<i64>,
}

/// `alerting`, read only far enough to tell whether it configures anything, which agent mode
/// forbids.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertingConfig {
    #[serde(default)]
    alertmanagers: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    alert_relabel_configs: Option<Vec<IgnoredAny>>,
}

/// A file listed in `scrape_config_files`: only `scrape_configs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScrapeConfigFile {
    #[serde(default)]
    scrape_configs: NonNullList<Spanned<RawScrapeConfig>, NullScrapeConfig>,
}

/// Collects errors of one file.
struct Errors<'a> {
    file: &'a Path,
    list: Vec<ConfigError>,
}

impl Errors<'_> {
    fn push(&mut self, at: Position, message: impl Into<String>) {
        self.list.push(ConfigError {
            file: self.file.to_path_buf(),
            line: at.line,
            column: at.column,
            message: message.into(),
        });
    }

    /// The errors in file order.
    fn sorted(mut self) -> Vec<ConfigError> {
        self.list.sort_by_key(|e| (e.line, e.column));
        self.list
    }
}

/// Rewrites serde-saphyr's messages into Prometheus' wording where Prometheus has one.
fn yaml_error(file: &Path, text: &str, error: &serde_saphyr::Error) -> ConfigError {
    let at = error
        .location()
        .map(|l| Position::of(&l))
        .unwrap_or_default();
    let message = match error.without_snippet() {
        serde_saphyr::Error::Message { msg, .. } => msg.clone(),
        serde_saphyr::Error::SerdeUnknownField { field, .. } => format!("field {field} not found"),
        serde_saphyr::Error::DuplicateMappingKey { key: Some(key), .. } => {
            format!("field {key} already set")
        }
        serde_saphyr::Error::InvalidBinaryBase64 { .. } => {
            "!!binary value contains invalid base64 data".to_string()
        }
        serde_saphyr::Error::BinaryNotUtf8 { location } => {
            let span = location.span();
            let raw = match (span.byte_offset(), span.byte_len()) {
                (Some(offset), Some(len)) => text
                    .get(offset as usize..(offset + len) as usize)
                    .unwrap_or(""),
                _ => "",
            };
            let encoded: String = raw
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
                .collect();
            match base64::engine::general_purpose::STANDARD.decode(encoded) {
                Ok(bytes) => format!("{} is not valid UTF-8", go_quote_bytes(&bytes)),
                Err(_) => "!!binary value is not valid UTF-8".to_string(),
            }
        }
        other => {
            let text = other.to_string();
            // Drop the " at line N, column M" suffix; we print the location ourselves.
            match text.rfind(" at line ") {
                Some(i) if text[i..].contains(", column ") => text[..i].to_string(),
                _ => text,
            }
        }
    };
    ConfigError {
        file: file.to_path_buf(),
        line: at.line,
        column: at.column,
        message: message.trim().to_string(),
    }
}

fn parse_yaml<'de, T: Deserialize<'de>>(
    file: &Path,
    text: &'de str,
) -> Result<Option<T>, ConfigError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_saphyr::from_str::<Option<T>>(text).map_err(|e| yaml_error(file, text, &e))
}

fn read(file: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(file).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read file: {e}"),
    })
}

/// P's `patRulePath`, `^[^*]*(\*[^/]*)?$`: a glob only in the last path element.
fn is_valid_file_pattern(pattern: &str) -> bool {
    match pattern.find('*') {
        None => true,
        Some(star) => !pattern[star..].contains('/'),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads and validates the config file at `path`, including its `scrape_config_files`.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let text = read(path).map_err(|e| ConfigErrors(vec![e]))?;
    load_str(&text, path)
}

/// Loads config text as if read from `path` (relative paths resolve against its directory).
pub fn load_str(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
    load_str_with_env(text, path, &env_var)
}

/// [`load_str`] with `env` in place of the process environment, for `external_labels`.
pub fn load_str_with_env(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = match parse_yaml::<RawConfig>(path, text) {
        Ok(Some(raw)) => raw,
        Ok(None) => serde_saphyr::from_str("{}")
            .map_err(|e| ConfigErrors(vec![yaml_error(path, "{}", &e)]))?,
        Err(e) => return Err(ConfigErrors(vec![e])),
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut errors = Errors {
        file: path,
        list: Vec::new(),
    };

    for (name, section) in [
        ("storage", &raw.storage),
        ("tracing", &raw.tracing),
        ("otlp", &raw.otlp),
    ] {
        if let Some(s) = section {
            errors.push(
                Position::of(&s.referenced),
                format!("{name} is not supported by promshard"),
            );
        }
    }
    // Prometheus checks the rule file paths while loading, before agent mode rejects them.
    if let Some(rule_files) = &raw.rule_files {
        for file in rule_files.value.iter().flatten() {
            if !is_valid_file_pattern(file) {
                errors.push(
                    Position::of(&rule_files.referenced),
                    format!("invalid rule file path {}", go_quote(file)),
                );
            }
        }
    }
    let agent_rejected = [
        (
            "alerting",
            raw.alerting.as_ref().and_then(|a| {
                let used = a
                    .value
                    .alertmanagers
                    .as_ref()
                    .is_some_and(|l| !l.is_empty())
                    || a.value
                        .alert_relabel_configs
                        .as_ref()
                        .is_some_and(|l| !l.is_empty());
                used.then_some(&a.referenced)
            }),
        ),
        (
            "rule_files",
            raw.rule_files
                .as_ref()
                .filter(|r| !r.value.is_empty())
                .map(|r| &r.referenced),
        ),
        (
            "remote_read",
            raw.remote_read
                .as_ref()
                .filter(|r| !r.value.is_empty())
                .map(|r| &r.referenced),
        ),
    ];
    for (name, location) in agent_rejected {
        if let Some(location) = location {
            errors.push(
                Position::of(location),
                format!("field {name} is not allowed in agent mode"),
            );
        }
    }

    let global = match raw.global {
        Some(g) => match g.resolve(&dir, env) {
            Ok(g) => g,
            Err((at, message)) => {
                errors.push(at, message);
                return Err(ConfigErrors(errors.sorted()));
            }
        },
        None => GlobalConfig::default(),
    };

    let mut patterns = Vec::new();
    if let Some(files) = &raw.scrape_config_files {
        for pattern in files.value.iter().flatten() {
            if is_valid_file_pattern(pattern) {
                patterns.push(
                    join_path(&dir, Path::new(pattern))
                        .to_string_lossy()
                        .into_owned(),
                );
            } else {
                errors.push(
                    Position::of(&files.referenced),
                    format!("invalid scrape config file path {}", go_quote(pattern)),
                );
            }
        }
    }

    let mut scrape_configs = Vec::new();
    // Where each job name was first seen, for P's duplicate messages.
    let mut job_names: HashMap<String, Option<PathBuf>> = HashMap::new();
    for spanned in raw.scrape_configs.0 {
        let at = Position::of(&spanned.referenced);
        let name = spanned.value.job_name.clone().unwrap_or_default();
        let result = spanned.value.resolve(&global, &dir, at);
        if !name.is_empty() && job_names.insert(name.clone(), None).is_some() {
            errors.push(
                at,
                format!(
                    "found multiple scrape configs with job name {}",
                    go_quote(&name)
                ),
            );
            continue;
        }
        match result {
            Ok(sc) => scrape_configs.push(sc),
            Err((at, message)) => errors.push(at, message),
        }
    }

    let mut remote_write = Vec::new();
    let mut rw_names = HashSet::new();
    let scheme = global.metric_name_validation_scheme.scheme();
    for spanned in raw.remote_write.0 {
        let at = Position::of(&spanned.referenced);
        let name = spanned.value.name.clone().unwrap_or_default();
        // Unnamed configs get a name from their hash later, so only names are compared.
        if !name.is_empty() && !rw_names.insert(name.clone()) {
            errors.push(
                at,
                format!(
                    "found multiple remote write configs with job name {}",
                    go_quote(&name)
                ),
            );
            continue;
        }
        match spanned.value.resolve(scheme, &dir, at) {
            Ok(rw) => remote_write.push(rw),
            Err((at, message)) => errors.push(at, message),
        }
    }

    // Files of `scrape_config_files`, read now as Prometheus reads them on every (re)load.
    let mut list = errors.sorted();
    for pattern in &patterns {
        let paths = match glob::glob(pattern) {
            Ok(paths) => paths,
            Err(_) => {
                let at = raw
                    .scrape_config_files
                    .as_ref()
                    .map(|f| Position::of(&f.referenced))
                    .unwrap_or_default();
                list.push(ConfigError {
                    file: path.to_path_buf(),
                    line: at.line,
                    column: at.column,
                    message: format!(
                        "error retrieving scrape config files for {}: syntax error in pattern",
                        go_quote(pattern)
                    ),
                });
                continue;
            }
        };
        for file in paths.flatten() {
            let mut file_errors = Errors {
                file: &file,
                list: Vec::new(),
            };
            let raws = match read(&file)
                .and_then(|text| parse_yaml::<RawScrapeConfigFile>(&file, &text))
            {
                Ok(raws) => raws,
                Err(e) => {
                    list.push(e);
                    continue;
                }
            };
            let file_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            for spanned in raws.map(|r| r.scrape_configs.0).unwrap_or_default() {
                let at = Position::of(&spanned.referenced);
                let name = spanned.value.job_name.clone().unwrap_or_default();
                match spanned.value.resolve(&global, &file_dir, at) {
                    Ok(sc) => {
                        if let Some(first) = job_names.get(&name) {
                            let first = match first {
                                None => "main config file".to_string(),
                                Some(f) => go_quote(&f.to_string_lossy()),
                            };
                            file_errors.push(
                                at,
                                format!("found multiple scrape configs with job name {}, first found in {first}", go_quote(&name)),
                            );
                        } else {
                            job_names.insert(
                                name,
                                Some(std::path::absolute(&file).unwrap_or_else(|_| file.clone())),
                            );
                            scrape_configs.push(sc);
                        }
                    }
                    Err((at, message)) => file_errors.push(at, message),
                }
            }
            list.extend(file_errors.sorted());
        }
    }

    if !list.is_empty() {
        return Err(ConfigErrors(list));
    }
    Ok(Config {
        global,
        scrape_config_files: patterns,
        scrape_configs,
        remote_write,
    })
}

impl Config {
    /// The config as YAML with every secret replaced by `<secret>` and URL passwords by
    /// `xxxxx` (for `/api/v1/status/config`).
    pub fn to_redacted_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}
