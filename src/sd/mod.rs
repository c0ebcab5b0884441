//! Service discovery: each mechanism turns its config into target groups, which the
//! target layer (`crate::targets`) turns into scrape targets.
//!
//! Every mechanism runs as a tokio task that sends *full* updates (all its current target
//! groups) on a [`GroupSender`]; the [`manager::Manager`] starts and stops them on config
//! (re)load, merges the groups of each job and publishes them.
//!
//! Mechanisms: `static_configs` ([`static_groups`]), [`file`], [`http`], [`dns`],
//! [`kubernetes`].

pub mod config;
pub mod dns;
pub mod file;
pub mod http;
pub mod kubernetes;
pub mod manager;
pub mod metrics;
pub mod parse;

pub use config::{DnsRecordType, DnsSdConfig, FileSdConfig, HttpSdConfig, SdConfigs, StaticConfig};
pub use manager::{Manager, ManagerOptions, TargetSets};
pub use metrics::SdMetrics;

use crate::labels::Labels;
use tokio::sync::mpsc;

/// Where a provider sends the full list of its target groups whenever it changes.
pub type GroupSender = mpsc::Sender<Vec<TargetGroup>>;

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

/// The groups of a job's `static_configs`: one per entry, source = its index, each target
/// `{__address__: t}` and the entry's labels as group labels.
pub fn static_groups(configs: &[StaticConfig]) -> Vec<TargetGroup> {
    configs
        .iter()
        .enumerate()
        .map(|(i, sc)| TargetGroup {
            source: i.to_string(),
            targets: sc
                .targets
                .iter()
                .map(|t| Labels::from_pairs([(parse::ADDRESS_LABEL, t.as_str())]))
                .collect(),
            labels: Labels::from_pairs(sc.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
        })
        .collect()
}

/// Sends full updates, skipping one identical to the last sent (the first is always sent).
pub(crate) struct UpdateSender {
    tx: GroupSender,
    last: Option<Vec<TargetGroup>>,
}

impl UpdateSender {
    pub(crate) fn new(tx: GroupSender) -> Self {
        UpdateSender { tx, last: None }
    }

    /// Returns false once the receiver is gone, which tells the provider to stop.
    pub(crate) async fn send(&mut self, groups: Vec<TargetGroup>) -> bool {
        if self.last.as_ref() == Some(&groups) {
            return !self.tx.is_closed();
        }
        self.last = Some(groups.clone());
        self.tx.send(groups).await.is_ok()
    }
}

/// A ticker whose first tick is one `period` from now (the initial refresh is done by hand).
pub(crate) fn refresh_ticker(period: std::time::Duration) -> tokio::time::Interval {
    let period = period.max(std::time::Duration::from_millis(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_config_groups() {
        let configs = vec![
            StaticConfig {
                targets: vec!["a:1".into(), "b:2".into()],
                labels: [("env".to_string(), "x".to_string())].into(),
            },
            StaticConfig::default(),
        ];
        let groups = static_groups(&configs);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, "0");
        assert_eq!(groups[1].source, "1");
        assert_eq!(groups[0].targets[1].to_string(), r#"{__address__="b:2"}"#);
        assert_eq!(groups[0].labels.to_string(), r#"{env="x"}"#);
        assert!(groups[1].targets.is_empty());
    }
}
