//! `/cardinality`: what fills this replica, from `/api/v1/status/series`.

use super::{label_chips, page, query_pairs, query_string, query_value};
use crate::web::AppState;
use crate::web::series::{DEFAULT_LIMIT, series_counts};
use axum::extract::{RawQuery, State};
use maud::{Markup, html};
use std::sync::Arc;

pub async fn cardinality(State(state): State<Arc<AppState>>, RawQuery(raw): RawQuery) -> Markup {
    let pairs = query_pairs(raw.as_deref());
    let limit = query_value(&pairs, "limit")
        .parse::<usize>()
        .unwrap_or(DEFAULT_LIMIT);
    let counts = series_counts(&state, limit);
    let dropped = |series: u64, scraped: u64| scraped.saturating_sub(series);
    let body = html! {
        div.summary {
            div { "targets scraped here" b #targets { (counts.targets) } }
            div { "series sent" b #series { (counts.series) } }
            div { "series scraped" b #scraped-series { (counts.scraped_series) } }
            div { "dropped by metric relabeling" b { (dropped(counts.series, counts.scraped_series)) } }
        }
        p.muted {
            "Series of the last successful scrape of each target this replica scrapes; "
            "\"scraped\" counts them before metric relabeling, \"sent\" after. Showing the top "
            (if limit == 0 { "all".to_string() } else { limit.to_string() }) ". "
            a href={ "/cardinality?" (query_string([("limit", "100")])) } { "top 100" } " · "
            a href="/cardinality?limit=0" { "all" }
        }
        h2 { "By job" }
        table #by-job {
            thead { tr { th { "Job" } th.num { "Targets" } th.num { "Series sent" } th.num { "Scraped" } th.num { "Dropped" } } }
            tbody {
                @for job in &counts.series_count_by_job {
                    tr {
                        td { a href={ "/targets?" (query_string([("pool", job.name.as_str())])) } { (job.name) } }
                        td.num { (job.targets) } td.num { (job.series) } td.num { (job.scraped_series) }
                        td.num { (dropped(job.series, job.scraped_series)) }
                    }
                }
            }
        }
        h2 { "By target" }
        table #by-target {
            thead { tr { th { "Target" } th { "Labels" } th.num { "Series sent" } th.num { "Scraped" } th.num { "Dropped" } } }
            tbody {
                @for target in &counts.series_count_by_target {
                    tr {
                        td { (target.scrape_pool) ": " (target.scrape_url) }
                        td { (label_chips(target.labels.iter())) }
                        td.num { (target.series) } td.num { (target.scraped_series) }
                        td.num { (dropped(target.series, target.scraped_series)) }
                    }
                }
            }
        }
        h2 { "By metric name" }
        table #by-metric {
            thead { tr { th { "Metric name (as exposed)" } th.num { "Targets" } th.num { "Series sent" } th.num { "Scraped" } th.num { "Dropped" } } }
            tbody {
                @for metric in &counts.series_count_by_metric_name {
                    tr {
                        td { code { (metric.name) } }
                        td.num { (metric.targets) } td.num { (metric.series) } td.num { (metric.scraped_series) }
                        td.num { (dropped(metric.series, metric.scraped_series)) }
                    }
                }
            }
        }
    };
    let json = format!("/api/v1/status/series?limit={limit}");
    page("/cardinality", "Cardinality", &json, body)
}
