//! Command-line flags, named as Prometheus names them.

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
}

#[derive(Subcommand, Debug, Clone)]
pub enum CheckCommand {
    /// Check that configuration files are valid; exit 1 with every error otherwise.
    Config {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
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
    /// Base path for the remote-write queue and other local state.
    #[arg(long = "storage.path", default_value = "data/")]
    pub storage_path: PathBuf,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub log_level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,
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
                "storage.path".into(),
                self.storage_path.display().to_string(),
            ),
            ("log.level".into(), level.into()),
            ("log.format".into(), format.into()),
        ])
    }
}
