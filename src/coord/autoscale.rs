//! Autoscaling (DESIGN.md "Autoscaling"): desired replicas = clamp(ceil(total series /
//! `--shard.max-series`), `--shard.min-replicas`, `--shard.max-replicas`), computed the same
//! way on every member and exported as `promshard_cluster_desired_replicas`. With
//! `--shard.statefulset=NAME` the first member in sorted order patches the StatefulSet's scale
//! subresource: up at once, down only after `--shard.scale-down-delay` of a steady lower
//! figure. Scaling down removes the highest ordinals, whose pods leave gracefully (SIGTERM):
//! their targets move by the normal handoff.

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::{Api, Patch, PatchParams};
use std::time::{Duration, Instant};

/// Replicas for `total_series` at `max_series` each, within `[min, max]` (max 0: no bound).
pub fn desired_replicas(total_series: u64, max_series: u64, min: u32, max: u32) -> u32 {
    let need = if max_series == 0 {
        min
    } else {
        total_series.div_ceil(max_series).min(u64::from(u32::MAX)) as u32
    };
    let upper = if max == 0 { u32::MAX } else { max };
    need.clamp(min.max(1), upper.max(min.max(1)))
}

/// Patches a StatefulSet's replicas as [`desired_replicas`] asks, with the scale-down delay.
pub struct Scaler {
    api: Api<StatefulSet>,
    name: String,
    scale_down_delay: Duration,
    /// Since when the desired figure has been below the current one.
    lower_since: Option<Instant>,
}

impl Scaler {
    /// A scaler for StatefulSet `name` in `namespace` (default: the client's).
    pub async fn new(
        name: &str,
        namespace: Option<&str>,
        scale_down_delay: Duration,
    ) -> Result<Scaler, String> {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| format!("--shard.statefulset: no Kubernetes client: {e}"))?;
        let namespace = namespace
            .map(str::to_string)
            .unwrap_or_else(|| client.default_namespace().to_string());
        Ok(Scaler {
            api: Api::namespaced(client, &namespace),
            name: name.to_string(),
            scale_down_delay,
            lower_since: None,
        })
    }

    /// One step: reads the current replicas and patches them to `desired` when due. Returns
    /// the replicas the StatefulSet has afterwards.
    pub async fn step(&mut self, desired: u32) -> Result<u32, String> {
        let scale = self
            .api
            .get_scale(&self.name)
            .await
            .map_err(|e| format!("statefulset {}: cannot read scale: {e}", self.name))?;
        let current = scale.spec.and_then(|s| s.replicas).unwrap_or(0).max(0) as u32;
        let patch = match desired.cmp(&current) {
            std::cmp::Ordering::Greater => {
                self.lower_since = None;
                true
            }
            std::cmp::Ordering::Less => {
                let since = *self.lower_since.get_or_insert_with(Instant::now);
                since.elapsed() >= self.scale_down_delay
            }
            std::cmp::Ordering::Equal => {
                self.lower_since = None;
                false
            }
        };
        if !patch {
            return Ok(current);
        }
        let body = serde_json::json!({"spec": {"replicas": desired}});
        self.api
            .patch_scale(&self.name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(|e| format!("statefulset {}: cannot patch scale: {e}", self.name))?;
        tracing::info!(statefulset = %self.name, from = current, to = desired, "scaled");
        self.lower_since = None;
        Ok(desired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_replicas_round_up_and_clamp() {
        // MISSION.md: 60,270 series at 30,000 each.
        assert_eq!(desired_replicas(60_270, 30_000, 1, 10), 3);
        assert_eq!(desired_replicas(60_000, 30_000, 1, 10), 2);
        assert_eq!(desired_replicas(0, 30_000, 1, 10), 1);
        assert_eq!(desired_replicas(0, 30_000, 2, 10), 2);
        assert_eq!(desired_replicas(1_000_000, 30_000, 1, 5), 5);
        assert_eq!(desired_replicas(1_000_000, 30_000, 1, 0), 34);
        assert_eq!(desired_replicas(5, 0, 3, 10), 3);
    }
}
