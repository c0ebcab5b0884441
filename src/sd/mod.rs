//! Service discovery: each mechanism turns its config into target groups, which the
//! target layer (`crate::targets`) turns into scrape targets.
//!
//! Kubernetes discovery has its own issue; its slot is `kubernetes_sd_configs` in
//! [`SdConfigs`], rejected clearly until it lands.

pub mod config;

pub use config::{DnsRecordType, DnsSdConfig, FileSdConfig, HttpSdConfig, SdConfigs, StaticConfig};

use crate::labels::Labels;

/// A group of targets sharing labels, as Prometheus' `targetgroup.Group`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetGroup {
    /// Identifies the group within its provider (a file path and index, a URL, a DNS name).
    pub source: String,
    /// One label set per target, each holding at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels common to all targets of the group.
    pub labels: Labels,
}
