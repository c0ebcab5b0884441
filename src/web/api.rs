//! `/api/v1/*` handlers in Prometheus' JSON shapes.

use super::AppState;
use crate::labels::Labels;
use crate::targets::Target;
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn success(data: Value) -> Json<Value> {
    Json(json!({"status": "success", "data": data}))
}

#[derive(Deserialize, Default)]
pub struct TargetsQuery {
    #[serde(default)]
    state: String,
    #[serde(default, rename = "scrapePool")]
    scrape_pool: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveTarget<'a> {
    discovered_labels: &'a Labels,
    labels: Labels,
    scrape_pool: &'a str,
    scrape_url: &'a str,
    global_url: String,
    last_error: &'a str,
    last_scrape: &'a str,
    last_scrape_duration: f64,
    health: &'a str,
    scrape_interval: String,
    scrape_timeout: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedTarget<'a> {
    discovered_labels: &'a Labels,
    scrape_pool: &'a str,
}

pub async fn targets(
    State(state): State<Arc<AppState>>,
    Query(query): Query<TargetsQuery>,
) -> Json<Value> {
    let view = state.targets.read().clone();
    let wanted = query.state.to_ascii_lowercase();
    let show_active = matches!(wanted.as_str(), "" | "any" | "active");
    let show_dropped = matches!(wanted.as_str(), "" | "any" | "dropped");
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut dropped_counts = BTreeMap::new();
    for (job, targets) in &view.jobs {
        if !query.scrape_pool.is_empty() && &query.scrape_pool != job {
            continue;
        }
        dropped_counts.insert(job.as_str(), targets.dropped_count);
        if show_active {
            let limit_error = targets.target_limit_error.as_deref();
            active.extend(
                targets
                    .active
                    .iter()
                    .map(|t| active_target(job, t, limit_error, &state.external_host)),
            );
        }
        if show_dropped {
            dropped.extend(targets.dropped.iter().map(|d| DroppedTarget {
                discovered_labels: d,
                scrape_pool: job,
            }));
        }
    }
    success(json!({
        "activeTargets": active,
        "droppedTargets": dropped,
        "droppedTargetCounts": dropped_counts,
    }))
}

fn active_target<'a>(
    job: &'a str,
    target: &'a Target,
    limit_error: Option<&'a str>,
    external_host: &str,
) -> ActiveTarget<'a> {
    ActiveTarget {
        discovered_labels: &target.discovered_labels,
        labels: target.public_labels(),
        scrape_pool: job,
        scrape_url: &target.scrape_url,
        global_url: global_url(&target.scrape_url, external_host),
        last_error: limit_error.unwrap_or(""),
        last_scrape: "0001-01-01T00:00:00Z",
        last_scrape_duration: 0.0,
        health: if limit_error.is_some() {
            "down"
        } else {
            "unknown"
        },
        scrape_interval: target.interval.to_string(),
        scrape_timeout: target.timeout.to_string(),
    }
}

/// The scrape URL as seen from outside: a loopback host is replaced by ours, port kept
/// (Prometheus' `getGlobalURL`).
pub fn global_url(scrape_url: &str, external_host: &str) -> String {
    let Ok(mut url) = url::Url::parse(scrape_url) else {
        return scrape_url.to_string();
    };
    let is_loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !is_loopback {
        return scrape_url.to_string();
    }
    let external_name = external_host
        .rsplit_once(':')
        .map_or(external_host, |(name, _)| name);
    match url.set_host(Some(external_name)) {
        Ok(()) => url.to_string(),
        Err(_) => scrape_url.to_string(),
    }
}

pub async fn status_config(State(state): State<Arc<AppState>>) -> Json<Value> {
    let config = state.config.read().clone();
    success(json!({"yaml": config.to_redacted_yaml()}))
}

pub async fn status_flags(State(state): State<Arc<AppState>>) -> Json<Value> {
    success(json!(state.flags))
}
