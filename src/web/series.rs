//! `GET /api/v1/status/series`: what fills this replica — series per job, per target and per
//! metric name, after and before metric relabeling (`/cardinality` renders it).
//!
//! Query: `limit` (top N targets and metric names, default 20; 0: all).

use super::AppState;
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub const DEFAULT_LIMIT: usize = 20;

#[derive(Deserialize, Default)]
pub struct SeriesQuery {
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Serialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct SeriesCounts {
    /// Targets this replica scrapes.
    pub targets: usize,
    /// Series after metric relabeling (what is sent), and before.
    pub series: u64,
    pub scraped_series: u64,
    pub series_count_by_job: Vec<JobSeries>,
    pub series_count_by_target: Vec<TargetSeries>,
    pub series_count_by_metric_name: Vec<MetricSeries>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct JobSeries {
    pub name: String,
    pub targets: usize,
    pub series: u64,
    pub scraped_series: u64,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct TargetSeries {
    pub scrape_pool: String,
    pub scrape_url: String,
    pub labels: crate::labels::Labels,
    pub series: u64,
    pub scraped_series: u64,
}

/// Series of one metric name as targets expose it (metric relabeling that renames a series
/// still counts it under the exposed name).
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct MetricSeries {
    pub name: String,
    /// Targets exposing it.
    pub targets: usize,
    pub series: u64,
    pub scraped_series: u64,
}

/// Counts over the targets this replica scrapes; `limit` caps the per-target and
/// per-metric lists (0: no cap). Lists are ordered by series sent, then scraped, then name.
pub fn series_counts(state: &AppState, limit: usize) -> SeriesCounts {
    let view = state.targets.read().clone();
    let mut counts = SeriesCounts::default();
    let mut by_job: BTreeMap<&str, JobSeries> = BTreeMap::new();
    let mut by_metric: HashMap<String, MetricSeries> = HashMap::new();
    for (job, targets) in &view.jobs {
        for target in &targets.active {
            let Some(status) = state.scrape.status(job, target) else {
                continue;
            };
            counts.targets += 1;
            counts.series += status.series;
            counts.scraped_series += status.series_scraped;
            let job_entry = by_job.entry(job).or_insert_with(|| JobSeries {
                name: job.clone(),
                targets: 0,
                series: 0,
                scraped_series: 0,
            });
            job_entry.targets += 1;
            job_entry.series += status.series;
            job_entry.scraped_series += status.series_scraped;
            counts.series_count_by_target.push(TargetSeries {
                scrape_pool: job.clone(),
                scrape_url: target.scrape_url.clone(),
                labels: target.public_labels(),
                series: status.series,
                scraped_series: status.series_scraped,
            });
            for metric in state.scrape.series_by_metric(job, target).iter() {
                let entry =
                    by_metric
                        .entry(metric.name.to_string())
                        .or_insert_with(|| MetricSeries {
                            name: metric.name.to_string(),
                            targets: 0,
                            series: 0,
                            scraped_series: 0,
                        });
                entry.targets += 1;
                entry.series += u64::from(metric.kept);
                entry.scraped_series += u64::from(metric.scraped);
            }
        }
    }
    counts.series_count_by_job = by_job.into_values().collect();
    counts
        .series_count_by_job
        .sort_by_key(|job| std::cmp::Reverse((job.series, job.scraped_series)));
    counts.series_count_by_target.sort_by(|a, b| {
        (b.series, b.scraped_series, &a.scrape_url).cmp(&(
            a.series,
            a.scraped_series,
            &b.scrape_url,
        ))
    });
    let mut metrics: Vec<MetricSeries> = by_metric.into_values().collect();
    metrics.sort_by(|a, b| {
        (b.series, b.scraped_series, &a.name).cmp(&(a.series, a.scraped_series, &b.name))
    });
    counts.series_count_by_metric_name = metrics;
    if limit > 0 {
        counts.series_count_by_target.truncate(limit);
        counts.series_count_by_metric_name.truncate(limit);
    }
    counts
}

pub async fn status_series(
    State(state): State<Arc<AppState>>,
    Query(query): Query<SeriesQuery>,
) -> Json<Value> {
    let counts = series_counts(&state, query.limit.unwrap_or(DEFAULT_LIMIT));
    Json(json!({"status": "success", "data": counts}))
}
