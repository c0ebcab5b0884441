//! The home page, `/config` and `/flags`.

use super::page;
use crate::scrape::scrape_loop::Writing;
use crate::web::AppState;
use axum::extract::State;
use maud::{Markup, html};
use std::sync::Arc;

/// What each page is for, as the home page lists them.
const PAGES: &[(&str, &str, &str)] = &[
    (
        "/targets",
        "Targets",
        "what this replica scrapes, or the whole cluster, with health and errors",
    ),
    (
        "/cluster",
        "Cluster",
        "members, their targets and series against --shard.max-series, replicas, handoffs",
    ),
    (
        "/service-discovery",
        "Service discovery",
        "per job: discovered, kept and dropped targets with their labels before relabeling",
    ),
    (
        "/cardinality",
        "Cardinality",
        "series per job, target and metric name, before and after metric relabeling",
    ),
    (
        "/config",
        "Config",
        "the loaded configuration, secrets redacted",
    ),
    ("/flags", "Flags", "the command-line flags"),
    ("/metrics", "Metrics", "promshard's own metrics"),
    ("/-/healthy", "Healthy", "liveness"),
    (
        "/-/ready",
        "Ready",
        "readiness: 200 once the first targets are computed",
    ),
];

pub async fn home(State(state): State<Arc<AppState>>) -> Markup {
    let view = state.targets.read().clone();
    let discovered: usize = view.jobs.values().map(|j| j.active.len()).sum();
    let scraped: Vec<_> = state
        .scrape
        .targets()
        .into_iter()
        .filter(|t| t.writing.is_some_and(|w| w != Writing::Nothing))
        .collect();
    let up = scraped.iter().filter(|t| t.up == Some(true)).count();
    let series: u64 = scraped.iter().map(|t| t.series).sum();
    let body = html! {
        div.summary {
            div { "version" b { (env!("CARGO_PKG_VERSION")) } }
            @if let Some(cluster) = &state.cluster {
                div { "member" b { (cluster.member()) } }
                div { "members" b { (cluster.ring().len()) } }
            }
            div { "jobs" b { (view.jobs.len()) } }
            div { "targets (all replicas)" b { (discovered) } }
            div { "targets scraped here, up" b { (scraped.len()) " / " (up) } }
            div { "series scraped here" b { (series) } }
        }
        table {
            tbody {
                @for (href, name, what) in PAGES {
                    tr { td { a href=(href) { (name) } } td.muted { (what) } }
                }
            }
        }
    };
    page("/", "promshard", "/api/v1/status/buildinfo", body)
}

pub async fn config(State(state): State<Arc<AppState>>) -> Markup {
    let config = state.config.read().clone();
    let body = html! { pre #config { (config.to_redacted_yaml()) } };
    page("/config", "Configuration", "/api/v1/status/config", body)
}

pub async fn flags(State(state): State<Arc<AppState>>) -> Markup {
    let body = html! {
        table #flags {
            thead { tr { th { "Flag" } th { "Value" } } }
            tbody {
                @for (name, value) in &state.flags {
                    tr { td { code { "--" (name) } } td { code { (value) } } }
                }
            }
        }
    };
    page("/flags", "Command-line flags", "/api/v1/status/flags", body)
}
