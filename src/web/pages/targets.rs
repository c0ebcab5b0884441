//! `/targets`: this replica's targets, or with `?scope=cluster` every member's, grouped by
//! scrape pool. Rendered from the same data as `/api/v1/targets`, so the two always agree.
//!
//! Query: `scope=cluster`, `health=up|down|unknown` (repeatable or comma-separated),
//! `search=text` (in the URL, a label, an owner or the error), `pool=name`.

use super::{
    ago, health_badge, label_chips, labels_table, page, query_pairs, query_string, query_value,
    seconds,
};
use crate::web::AppState;
use crate::web::api::{self, TargetsQuery};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use maud::{Markup, html};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

const HEALTHS: [&str; 3] = ["up", "down", "unknown"];

/// What the query string asks for.
struct Filter {
    cluster_scope: bool,
    health: Vec<String>,
    /// As typed, and lowercased for matching.
    search_text: String,
    search: String,
    pool: String,
}

impl Filter {
    fn matches(&self, row: &Row<'_>) -> bool {
        (self.health.is_empty() || self.health.iter().any(|h| h == row.health))
            && (self.search.is_empty()
                || row
                    .searchable()
                    .any(|text| text.to_lowercase().contains(&self.search)))
    }
}

/// One target as the targets API lists it.
struct Row<'a> {
    scrape_url: &'a str,
    global_url: &'a str,
    labels: Vec<(&'a str, &'a str)>,
    health: &'a str,
    last_error: &'a str,
    last_scrape: Option<SystemTime>,
    duration: f64,
    series: u64,
    scraped_series: u64,
    owners: Vec<&'a str>,
}

impl<'a> Row<'a> {
    fn from_api(target: &'a Value) -> Row<'a> {
        let text = |name: &str| target[name].as_str().unwrap_or_default();
        let mut labels: Vec<(&str, &str)> = target["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, value)| (name.as_str(), value.as_str().unwrap_or_default()))
            .collect();
        labels.sort_unstable();
        Row {
            scrape_url: text("scrapeUrl"),
            global_url: text("globalUrl"),
            labels,
            health: text("health"),
            last_error: text("lastError"),
            last_scrape: api::parse_rfc3339(text("lastScrape")),
            duration: target["lastScrapeDuration"].as_f64().unwrap_or_default(),
            series: target["series"].as_u64().unwrap_or_default(),
            scraped_series: target["scrapedSeries"].as_u64().unwrap_or_default(),
            owners: target["owners"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect(),
        }
    }

    /// The texts search looks in, one by one, as the page's script does with the elements
    /// of class `s`: URL, each label, each owner, the error.
    fn searchable(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(self.scrape_url.to_string())
            .chain(self.labels.iter().map(|(n, v)| format!("{n}=\"{v}\"")))
            .chain(self.owners.iter().map(|o| o.to_string()))
            .chain(std::iter::once(self.last_error.to_string()))
    }

    fn key(&self) -> u64 {
        crate::targets::target_key(self.labels.iter().copied(), self.scrape_url)
    }
}

pub async fn targets(State(state): State<Arc<AppState>>, RawQuery(raw): RawQuery) -> Markup {
    let pairs = query_pairs(raw.as_deref());
    let filter = Filter {
        cluster_scope: query_value(&pairs, "scope") == "cluster" && state.cluster.is_some(),
        health: pairs
            .iter()
            .filter(|(name, _)| name == "health")
            .flat_map(|(_, value)| value.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
        search_text: query_value(&pairs, "search").trim().to_string(),
        search: query_value(&pairs, "search").trim().to_lowercase(),
        pool: query_value(&pairs, "pool").to_string(),
    };
    let query = TargetsQuery {
        state: "active".into(),
        scrape_pool: filter.pool.clone(),
        scope: String::new(),
        without_discovered_labels: true,
    };
    let data = match (&state.cluster, filter.cluster_scope) {
        (Some(cluster), true) => api::cluster_targets(&state, cluster, &query).await,
        _ => api::local_targets(&state, &query, state.cluster.is_some()),
    };
    let addresses: HashMap<String, String> = match &state.cluster {
        Some(cluster) => cluster
            .overview()
            .members
            .into_iter()
            .map(|m| (m.id, m.address))
            .collect(),
        None => HashMap::new(),
    };
    // Every configured pool is listed, also those without targets here.
    let mut pools: BTreeMap<&str, Vec<Row<'_>>> = BTreeMap::new();
    let view = state.targets.read().clone();
    for job in view.jobs.keys() {
        if filter.pool.is_empty() || &filter.pool == job {
            pools.entry(job.as_str()).or_default();
        }
    }
    for target in data["activeTargets"].as_array().into_iter().flatten() {
        let pool = target["scrapePool"].as_str().unwrap_or_default();
        pools.entry(pool).or_default().push(Row::from_api(target));
    }
    let warnings: Vec<&str> = data["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let body = render(&state, &filter, &pools, &warnings, &addresses);
    let json = if filter.cluster_scope {
        "/api/v1/targets?scope=cluster"
    } else {
        "/api/v1/targets"
    };
    page("/targets", "Targets", json, body)
}

fn render(
    state: &AppState,
    filter: &Filter,
    pools: &BTreeMap<&str, Vec<Row<'_>>>,
    warnings: &[&str],
    addresses: &HashMap<String, String>,
) -> Markup {
    let now = SystemTime::now();
    let all = pools.values().flatten();
    let total = all.clone().count();
    let shown = all.clone().filter(|r| filter.matches(r)).count();
    let count_of = |health: &str| all.clone().filter(|r| r.health == health).count();
    let search_value = &filter.search_text;
    let scope_link = |cluster: bool| {
        let health = filter.health.join(",");
        let pairs = [
            ("scope", if cluster { "cluster" } else { "" }),
            ("pool", filter.pool.as_str()),
            ("health", health.as_str()),
            ("search", search_value.as_str()),
        ];
        format!("/targets?{}", query_string(pairs))
    };
    html! {
        div.controls {
            span.tabs {
                a href=(scope_link(false)) class=[(!filter.cluster_scope).then_some("current")] id="scope-local" { "This replica" }
                @if state.cluster.is_some() {
                    a href=(scope_link(true)) class=[filter.cluster_scope.then_some("current")] id="scope-cluster" { "Whole cluster" }
                } @else {
                    span.off title="not running in a cluster (--cluster.peers is not set)" { "Whole cluster" }
                }
            }
            form id="target-filter" method="get" action="/targets" {
                @if filter.cluster_scope { input type="hidden" name="scope" value="cluster"; }
                @if !filter.pool.is_empty() { input type="hidden" name="pool" value=(filter.pool); }
                @for health in HEALTHS {
                    label {
                        input type="checkbox" name="health" value=(health)
                            checked[filter.health.iter().any(|h| h == health)];
                        " " (health) " (" span id={"count-" (health)} { (count_of(health)) } ")"
                    }
                    " "
                }
                input type="search" name="search" value=(search_value)
                    placeholder="Filter by endpoint, label, owner or error";
                " "
                button type="submit" { "Filter" }
            }
            button type="button" id="expand-all" { "Expand all" }
            button type="button" id="collapse-all" { "Collapse all" }
        }
        p.muted {
            "Showing " span id="shown-count" { (shown) } " of " span id="total-count" { (total) }
            " targets"
            @if filter.cluster_scope { " of the whole cluster, each with the replicas that scrape it." }
            @else if state.cluster.is_some() { " scraped by this replica." }
            @else { "." }
        }
        @for warning in warnings {
            p.error { "Not in this view: " (warning) }
        }
        @for (pool, rows) in pools {
            @let up = rows.iter().filter(|r| r.health == "up").count();
            @let visible = rows.iter().filter(|r| filter.matches(r)).count();
            details.pool open data-pool=(pool) hidden[visible == 0 && !rows.is_empty()] {
                summary {
                    b { (pool) } " "
                    span.muted { "(" (up) "/" (rows.len()) " up, showing " span.shown { (visible) } ")" }
                }
                @if rows.is_empty() {
                    p.muted { "No targets." }
                } @else {
                    table.targets {
                        thead { tr {
                            th.w-endpoint { "Endpoint" } th.w-state { "State" } th.w-labels { "Labels" }
                            th.num.w-age { "Last scrape" } th.num.w-duration { "Duration" }
                            th.num.w-series title="after metric relabeling (before)" { "Series" }
                            @if filter.cluster_scope { th.w-owners { "Scraped by" } }
                            th { "Error" }
                        } }
                        tbody {
                            @for row in rows {
                                (render_row(row, pool, filter, addresses, now))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn render_row(
    row: &Row<'_>,
    pool: &str,
    filter: &Filter,
    addresses: &HashMap<String, String>,
    now: SystemTime,
) -> Markup {
    let discovered = format!(
        "/targets/discovered?{}",
        query_string([
            ("scrapePool", pool),
            ("key", format!("{:016x}", row.key()).as_str())
        ])
    );
    html! {
        tr.target data-health=(row.health) hidden[!filter.matches(row)] {
            td { a.s href=(row.global_url) { (row.scrape_url) } }
            td { (health_badge(row.health)) }
            td {
                span.labels {
                    @for (name, value) in &row.labels {
                        span.label.s { (name) "=\"" (value) "\"" }
                    }
                }
                details.disc data-src=(discovered) {
                    summary { "discovered labels" }
                    div.disc-body { a href=(discovered) { "open" } }
                }
            }
            td.num {
                @match row.last_scrape {
                    Some(at) => (ago(now.duration_since(at).unwrap_or_default())),
                    None => span.muted { "never" },
                }
            }
            td.num { (seconds(row.duration)) }
            td.num title={ (row.scraped_series) " before metric relabeling" } { (row.series) }
            @if filter.cluster_scope {
                td {
                    @if row.owners.is_empty() {
                        span.badge.warn title="no replica scrapes it yet" { "nobody" }
                    }
                    @for owner in &row.owners {
                        @let address = addresses.get(*owner).map_or(*owner, String::as_str);
                        @let link = format!("http://{address}/targets?{}", query_string([("pool", pool), ("search", row.scrape_url)]));
                        a.s.owner href=(link) { (owner) } " "
                    }
                }
            }
            td { span.error.s { (row.last_error) } }
        }
    }
}

/// `/targets/discovered?scrapePool=..&key=..`: one target's labels before relabeling;
/// `&fragment=1` gives just the table, for the targets page to show in place.
pub async fn discovered_labels(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> (StatusCode, Markup) {
    let pairs = query_pairs(raw.as_deref());
    let pool = query_value(&pairs, "scrapePool");
    let key = u64::from_str_radix(query_value(&pairs, "key"), 16).ok();
    let view = state.targets.read().clone();
    let target = view
        .jobs
        .get(pool)
        .and_then(|job| job.active.iter().find(|t| Some(t.key()) == key));
    let fragment = query_value(&pairs, "fragment") == "1";
    let (status, body) = match target {
        Some(target) => (
            StatusCode::OK,
            html! {
                p { "Target " (label_chips(target.public_labels().iter())) " of " b { (pool) } }
                (labels_table(&target.discovered_labels))
            },
        ),
        None => (
            StatusCode::NOT_FOUND,
            html! { p.error { "No target with key " (query_value(&pairs, "key")) " in scrape pool " (pool) " (it may have gone since the page was rendered)." } },
        ),
    };
    if fragment {
        return (status, body);
    }
    let json = format!(
        "/api/v1/targets?{}",
        query_string([("scrapePool", pool), ("state", "active")])
    );
    (status, page("/targets", "Discovered labels", &json, body))
}
