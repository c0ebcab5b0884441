//! `/service-discovery`: per job, what discovery found and what relabeling made of it —
//! kept (with its final labels), dropped, or invalid — with the labels before relabeling.
//! Every replica discovers every target, so this page is the same on each.

use super::{label_chips, page, query_pairs, query_string, query_value};
use crate::web::AppState;
use axum::extract::{RawQuery, State};
use maud::{Markup, html};
use std::sync::Arc;

/// Rows shown per job and kind unless the page is asked for one job (`?pool=`).
const ROWS_PER_JOB: usize = 100;

pub async fn service_discovery(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Markup {
    let pairs = query_pairs(raw.as_deref());
    let only = query_value(&pairs, "pool");
    let limit = if only.is_empty() {
        ROWS_PER_JOB
    } else {
        usize::MAX
    };
    let view = state.targets.read().clone();
    let jobs: Vec<_> = view
        .jobs
        .iter()
        .filter(|(job, _)| only.is_empty() || job.as_str() == only)
        .collect();
    let more = |job: &str, count: usize| {
        html! {
            @if count > limit {
                p.muted { (limit) " of " (count) " shown. "
                    a href={ "/service-discovery?" (query_string([("pool", job)])) } { "Show all of " (job) } }
            }
        }
    };
    let body = html! {
        table #sd-summary {
            thead { tr {
                th { "Job" } th.num { "Discovered" } th.num { "Kept" } th.num { "Dropped" } th.num { "Invalid" }
            } }
            tbody {
                @for (job, targets) in &jobs {
                    tr data-job=(job) {
                        td { a href={ "#job-" (job) } { (job) } }
                        td.num.discovered { (targets.active.len() + targets.dropped_count + targets.invalid.len()) }
                        td.num.kept { (targets.active.len()) }
                        td.num.dropped { (targets.dropped_count) }
                        td.num.invalid { (targets.invalid.len()) }
                    }
                }
            }
        }
        @for (job, targets) in &jobs {
            details.pool open id={ "job-" (job) } {
                summary { b { (job) } " " span.muted {
                    (targets.active.len()) " kept, " (targets.dropped_count) " dropped, " (targets.invalid.len()) " invalid"
                } }
                @if let Some(error) = &targets.target_limit_error {
                    p.error { (error) }
                }
                table {
                    thead { tr { th { "Discovered labels" } th { "Target labels" } } }
                    tbody {
                        @for target in targets.active.iter().take(limit) {
                            tr.kept {
                                td { (label_chips(target.discovered_labels.iter())) }
                                td { (label_chips(target.public_labels().iter())) }
                            }
                        }
                        @for discovered in targets.dropped.iter().take(limit) {
                            tr.dropped {
                                td { (label_chips(discovered.iter())) }
                                td { span.badge.unknown { "dropped" } }
                            }
                        }
                        @for (discovered, error) in targets.invalid.iter().take(limit) {
                            tr.invalid {
                                td { (label_chips(discovered.iter())) }
                                td { span.badge.down { "invalid" } " " span.error { (error) } }
                            }
                        }
                    }
                }
                (more(job, targets.active.len()))
                (more(job, targets.dropped.len()))
                @if targets.dropped.len() < targets.dropped_count {
                    p.muted { "Only " (targets.dropped.len()) " of " (targets.dropped_count)
                        " dropped targets are kept (keep_dropped_targets)." }
                }
            }
        }
    };
    page(
        "/service-discovery",
        "Service discovery",
        "/api/v1/targets?state=any",
        body,
    )
}
