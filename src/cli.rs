//! Command-line flags, named as Prometheus names them.

use crate::config::duration::PromDuration;
use crate::config::size::ByteSize;
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
    /// Upper bound on the disk queue of each remote_write endpoint; when it is full the oldest
    /// requests are deleted (counted as dropped, reason storage_full).
    #[arg(long = "storage.remote-write.max-bytes", default_value = "1GiB", value_parser = ByteSize::parse)]
    pub remote_write_max_bytes: ByteSize,
    /// Longest time a request written to the disk queue stays unsynced: the most a power loss
    /// can lose of what waits on disk.
    #[arg(long = "storage.remote-write.fsync-interval", default_value = "1s", value_parser = PromDuration::parse)]
    pub remote_write_fsync_interval: PromDuration,
    /// Most bytes written to the disk queue between two fsyncs.
    #[arg(long = "storage.remote-write.fsync-bytes", default_value = "16MiB", value_parser = ByteSize::parse)]
    pub remote_write_fsync_bytes: ByteSize,
    /// How long to go on sending at shutdown or when a reload removes an endpoint; what is left
    /// in the disk queue is sent after the next start.
    #[arg(long = "storage.remote.flush-deadline", default_value = "1m", value_parser = PromDuration::parse)]
    pub remote_flush_deadline: PromDuration,
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
            (
                "storage.remote-write.max-bytes".into(),
                self.remote_write_max_bytes.to_string(),
            ),
            (
                "storage.remote-write.fsync-interval".into(),
                self.remote_write_fsync_interval.to_string(),
            ),
            (
                "storage.remote-write.fsync-bytes".into(),
                self.remote_write_fsync_bytes.to_string(),
            ),
            (
                "storage.remote.flush-deadline".into(),
                self.remote_flush_deadline.to_string(),
            ),
            ("log.level".into(), level.into()),
            ("log.format".into(), format.into()),
        ])
    }
}
