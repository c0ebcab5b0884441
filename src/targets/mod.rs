//! From discovered target groups to scrape targets: label population, relabeling,
//! validation and the scrape URL, as Prometheus' `scrape/target.go`.

mod url;

pub use url::scrape_url;

use crate::config::{PromDuration, ScrapeConfig};
use crate::labels::Labels;
use crate::sd::TargetGroup;
use std::collections::HashSet;

/// A target that survived relabeling and validation.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Labels before relabeling, with the job defaults (what the API calls `discoveredLabels`).
    pub discovered_labels: Labels,
    /// Final labels, including internal `__*` labels but no `__meta_*` labels.
    pub labels: Labels,
    pub scrape_url: String,
    pub interval: PromDuration,
    pub timeout: PromDuration,
}

impl Target {
    /// The target's identity between replicas and runs: xxh3 of its public labels
    /// (`name 0xff value 0xff`) and scrape URL; never `__meta_*` or anything local.
    pub fn key(&self) -> u64 {
        target_key(
            self.labels
                .iter()
                .filter(|(name, _)| !name.starts_with("__")),
            &self.scrape_url,
        )
    }

    /// The labels every sample of this target gets: those not starting with `__`.
    pub fn public_labels(&self) -> Labels {
        let mut labels = self.labels.clone();
        labels.retain(|name, _| !name.starts_with("__"));
        labels
    }
}

/// [`Target::key`] from the public labels (sorted by name) and the scrape URL, as the
/// targets API lists them.
pub fn target_key<'a>(
    public_labels: impl Iterator<Item = (&'a str, &'a str)>,
    scrape_url: &str,
) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    Labels::hash_into(public_labels, &mut hasher);
    hasher.update(scrape_url.as_bytes());
    hasher.digest()
}

/// What became of one discovered target.
#[derive(Clone, Debug, PartialEq)]
pub enum Populated {
    Kept(Target),
    /// Relabeling dropped it; carries the discovered labels.
    Dropped(Labels),
    /// Invalid after relabeling: skipped, logged and counted, never fatal.
    Invalid {
        discovered_labels: Labels,
        error: String,
    },
}

/// Merges target and group labels and adds the job defaults (`PopulateDiscoveredLabels`).
pub fn discovered_labels(cfg: &ScrapeConfig, target: &Labels, group: &Labels) -> Labels {
    let mut labels = target.clone();
    for (name, value) in group.iter() {
        labels.set_if_absent(name, value);
    }
    let bool_text = |b: bool| if b { "true" } else { "false" };
    let defaults = [
        ("job", cfg.job_name.clone()),
        ("__scrape_interval__", cfg.scrape_interval.to_string()),
        ("__scrape_timeout__", cfg.scrape_timeout.to_string()),
        ("__metrics_path__", cfg.metrics_path.clone()),
        ("__scheme__", cfg.scheme.clone()),
        (
            "__scrape_native_histograms__",
            bool_text(cfg.scrape_native_histograms).to_string(),
        ),
        (
            "__always_scrape_classic_histograms__",
            bool_text(cfg.always_scrape_classic_histograms).to_string(),
        ),
        (
            "__convert_classic_histograms_to_nhcb__",
            bool_text(cfg.convert_classic_histograms_to_nhcb).to_string(),
        ),
    ];
    for (name, value) in defaults {
        labels.set_if_absent(name, value);
    }
    for (key, values) in &cfg.params {
        if let Some(first) = values.first() {
            labels.set_if_absent(&format!("__param_{key}"), first.as_str());
        }
    }
    labels
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Relabels and validates one discovered target (`PopulateLabels`).
pub fn populate(cfg: &ScrapeConfig, target: &Labels, group: &Labels) -> Populated {
    let discovered = discovered_labels(cfg, target, group);
    let mut labels = discovered.clone();
    if !crate::relabel::process(&mut labels, &cfg.relabel_configs) {
        return Populated::Dropped(discovered);
    }
    match validate(&mut labels) {
        Ok((interval, timeout)) => {
            let scrape_url = scrape_url(&labels, &cfg.params);
            Populated::Kept(Target {
                discovered_labels: discovered,
                labels,
                scrape_url,
                interval,
                timeout,
            })
        }
        Err(error) => Populated::Invalid {
            discovered_labels: discovered,
            error,
        },
    }
}

/// The checks after relabeling; on success `labels` has no `__meta_*` and an `instance`.
fn validate(labels: &mut Labels) -> Result<(PromDuration, PromDuration), String> {
    let address = labels.value("__address__").to_string();
    if address.is_empty() {
        return Err("no address".into());
    }
    if address.contains('/') {
        return Err(format!("{address:?} is not a valid hostname"));
    }
    let interval_text = labels.value("__scrape_interval__");
    let interval = PromDuration::parse(interval_text)
        .map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".into());
    }
    let timeout_text = labels.value("__scrape_timeout__");
    let timeout = PromDuration::parse(timeout_text)
        .map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".into());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_text:?} > {interval_text:?})"
        ));
    }
    for name in [
        "__scrape_native_histograms__",
        "__always_scrape_classic_histograms__",
        "__convert_classic_histograms_to_nhcb__",
    ] {
        if let Some(value) = labels.get(name)
            && parse_go_bool(value).is_none()
        {
            return Err(format!(
                "error parsing {name}: strconv.ParseBool: parsing {value:?}: invalid syntax"
            ));
        }
    }
    labels.retain(|name, _| !name.starts_with("__meta_"));
    if labels.value("instance").is_empty() {
        labels.set("instance", address);
    }
    Ok((interval, timeout))
}

/// The targets of one job after relabeling.
#[derive(Clone, Debug, Default)]
pub struct JobTargets {
    /// Unique by labels and URL, in discovery order.
    pub active: Vec<Target>,
    /// Discovered labels of dropped targets, at most `keep_dropped_targets` (0: all).
    pub dropped: Vec<Labels>,
    /// How many were dropped in all, including those not kept.
    pub dropped_count: usize,
    /// Invalid targets, with their error.
    pub invalid: Vec<(Labels, String)>,
    /// Set when the job has more targets than `target_limit`: then every target fails
    /// every scrape with this error and no request is made.
    pub target_limit_error: Option<String>,
}

/// Turns all target groups of a job into its targets.
pub fn targets_from_groups(cfg: &ScrapeConfig, groups: &[TargetGroup]) -> JobTargets {
    let mut out = JobTargets::default();
    let mut seen = HashSet::new();
    for group in groups {
        for target in &group.targets {
            match populate(cfg, target, &group.labels) {
                Populated::Kept(t) => {
                    if seen.insert((t.labels.clone(), t.scrape_url.clone())) {
                        out.active.push(t);
                    }
                }
                Populated::Dropped(discovered) => {
                    out.dropped_count += 1;
                    if cfg.keep_dropped_targets == 0
                        || (out.dropped.len() as u64) < cfg.keep_dropped_targets
                    {
                        out.dropped.push(discovered);
                    }
                }
                Populated::Invalid {
                    discovered_labels,
                    error,
                } => {
                    tracing::warn!(job = %cfg.job_name, labels = %discovered_labels, %error, "invalid target skipped");
                    out.invalid.push((discovered_labels, error));
                }
            }
        }
    }
    if cfg.target_limit > 0 && out.active.len() as u64 > cfg.target_limit {
        out.target_limit_error = Some(format!(
            "target_limit exceeded (number of targets: {}, limit: {})",
            out.active.len(),
            cfg.target_limit
        ));
    }
    out
}

#[cfg(test)]
mod tests;
