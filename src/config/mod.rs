//! Loading `prometheus.yml`: strict YAML, Prometheus' defaults and validation, and errors
//! that name the file, line and column.

pub mod duration;
pub mod global;
pub mod http;
pub mod quote;
pub mod remote_write;
pub mod scrape;
pub mod section;
pub mod size;

pub use duration::PromDuration;
pub use global::{GlobalConfig, ScrapeProtocol};
pub use remote_write::RemoteWriteConfig;
pub use scrape::ScrapeConfig;
pub use size::ByteSize;

use global::RawGlobalConfig;
use remote_write::RawRemoteWriteConfig;
use scrape::RawScrapeConfig;
use section::{NonNullList, NullRemoteWrite, NullScrapeConfig, Position};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// A loaded, validated configuration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Config {
    pub global: GlobalConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrape_config_files: Vec<String>,
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
            write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// All errors of one load, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

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

/// Sections Prometheus has that promshard, an agent, does not run.
const AGENT_REJECTED: [&str; 3] = ["alerting", "rule_files", "remote_read"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<Spanned<RawGlobalConfig>>,
    #[serde(default)]
    scrape_config_files: Vec<String>,
    #[serde(default)]
    scrape_configs: NonNullList<Spanned<RawScrapeConfig>, NullScrapeConfig>,
    #[serde(default)]
    remote_write: NonNullList<Spanned<RawRemoteWriteConfig>, NullRemoteWrite>,
    /// Go runtime tuning: meaningless here, accepted so Prometheus files load.
    #[serde(default)]
    #[allow(dead_code)]
    runtime: Option<IgnoredAny>,
    #[serde(default)]
    alerting: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    rule_files: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    remote_read: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    storage: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    tracing: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    otlp: Option<Spanned<IgnoredAny>>,
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
        self.list.push(ConfigError { file: self.file.to_path_buf(), line: at.line, column: at.column, message: message.into() });
    }
}

fn yaml_error(file: &Path, error: &serde_saphyr::Error) -> ConfigError {
    let at = error.location().map(|l| Position::of(&l)).unwrap_or_default();
    let text = error.without_snippet().to_string();
    // Drop serde-saphyr's own "error: line N column M: " prefix; we print the location ourselves.
    let message = text
        .strip_prefix("error: ")
        .map(|rest| match rest.split_once(": ") {
            Some((head, tail)) if head.starts_with("line ") => tail,
            _ => rest,
        })
        .unwrap_or(&text)
        .trim();
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    }
    .to_string();
    ConfigError { file: file.to_path_buf(), line: at.line, column: at.column, message }
}

fn parse_yaml<'de, T: Deserialize<'de>>(file: &Path, text: &'de str) -> Result<Option<T>, ConfigError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_saphyr::from_str::<Option<T>>(text).map_err(|e| yaml_error(file, &e))
}

fn read(file: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(file).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read file: {e}"),
    })
}

/// Loads and validates the config file at `path`, including its `scrape_config_files`.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let text = read(path).map_err(|e| ConfigErrors(vec![e]))?;
    load_str(&text, path)
}

/// Loads config text as if read from `path` (relative paths resolve against its directory).
pub fn load_str(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = match parse_yaml::<RawConfig>(path, text) {
        Ok(Some(raw)) => raw,
        Ok(None) => serde_saphyr::from_str("{}").map_err(|e| ConfigErrors(vec![yaml_error(path, &e)]))?,
        Err(e) => return Err(ConfigErrors(vec![e])),
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut errors = Errors { file: path, list: Vec::new() };

    for (name, section) in [("alerting", &raw.alerting), ("rule_files", &raw.rule_files), ("remote_read", &raw.remote_read)] {
        if let Some(s) = section {
            debug_assert!(AGENT_REJECTED.contains(&name));
            errors.push(Position::of(&s.referenced), format!("field {name} is not allowed in agent mode (promshard scrapes and remote-writes only)"));
        }
    }
    for (name, section) in [("storage", &raw.storage), ("tracing", &raw.tracing), ("otlp", &raw.otlp)] {
        if let Some(s) = section {
            errors.push(Position::of(&s.referenced), format!("field {name} is not supported by promshard"));
        }
    }

    let global = match raw.global {
        Some(spanned) => {
            let at = Position::of(&spanned.referenced);
            match spanned.value.resolve() {
                Ok(g) => g,
                Err(message) => {
                    errors.push(at, message);
                    return Err(ConfigErrors(errors.list));
                }
            }
        }
        None => RawGlobalConfig::default().resolve().map_err(|m| {
            ConfigErrors(vec![ConfigError { file: path.to_path_buf(), line: 0, column: 0, message: m }])
        })?,
    };

    let mut scrape_configs = Vec::new();
    let mut job_names = HashSet::new();
    let mut resolve_jobs = |raws: Vec<Spanned<RawScrapeConfig>>, errors: &mut Errors, dir: &Path| {
        for spanned in raws {
            let at = Position::of(&spanned.referenced);
            let job = spanned.value.job_name.clone();
            match spanned.value.resolve(&global, dir) {
                Ok(sc) => {
                    if !job_names.insert(job.clone()) {
                        errors.push(at, format!("found multiple scrape configs with job name {job:?}"));
                    } else {
                        scrape_configs.push(sc);
                    }
                }
                Err(message) => errors.push(at, message),
            }
        }
    };
    resolve_jobs(raw.scrape_configs.0, &mut errors, &dir);

    let mut included = Vec::new();
    for pattern in &raw.scrape_config_files {
        let full = if Path::new(pattern).is_relative() { dir.join(pattern) } else { PathBuf::from(pattern) };
        let full = full.to_string_lossy().into_owned();
        let paths = match glob::glob(&full) {
            Ok(paths) => paths,
            Err(e) => {
                errors.push(Position::default(), format!("error retrieving scrape config files for {pattern:?}: {e}"));
                continue;
            }
        };
        for entry in paths {
            let Ok(file) = entry else { continue };
            if included.contains(&file) {
                continue;
            }
            included.push(file.clone());
            let mut file_errors = Errors { file: &file, list: Vec::new() };
            let raws = read(&file).and_then(|text| parse_yaml::<RawScrapeConfigFile>(&file, &text));
            match raws {
                Ok(Some(raws)) => {
                    let file_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                    resolve_jobs(raws.scrape_configs.0, &mut file_errors, &file_dir);
                }
                Ok(None) => {}
                Err(e) => file_errors.list.push(e),
            }
            errors.list.extend(file_errors.list);
        }
    }

    let mut remote_write = Vec::new();
    let mut rw_names = HashSet::new();
    let scheme = global.metric_name_validation_scheme.scheme();
    for spanned in raw.remote_write.0 {
        let at = Position::of(&spanned.referenced);
        let name = spanned.value.name.clone();
        match spanned.value.resolve(scheme, &dir) {
            Ok(rw) => {
                if !name.is_empty() && !rw_names.insert(name.clone()) {
                    errors.push(at, format!("found multiple remote write configs with job name {name:?}"));
                } else {
                    remote_write.push(rw);
                }
            }
            Err(message) => errors.push(at, message),
        }
    }

    if !errors.list.is_empty() {
        return Err(ConfigErrors(errors.list));
    }
    Ok(Config { global, scrape_config_files: raw.scrape_config_files, scrape_configs, remote_write })
}

impl Config {
    /// The config as YAML with every secret replaced by `<secret>` (for `/api/v1/status/config`).
    pub fn to_redacted_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}
