//! `/cluster`: the members as this replica sees them, with what each scrapes against the
//! `--shard.max-series` line. The same data as `GET /api/v1/cluster`.

use super::page;
use crate::coord::cluster::ClusterOverview;
use crate::web::AppState;
use axum::extract::State;
use maud::{Markup, html};
use std::sync::Arc;

pub async fn cluster(State(state): State<Arc<AppState>>) -> Markup {
    let body = match &state.cluster {
        Some(cluster) => render(&cluster.overview()),
        None => {
            let loops = state.scrape.loop_count();
            html! {
                p { "This replica does not run in a cluster: " code { "--cluster.peers" } " is not set, so it scrapes every target itself." }
                div.summary { div { "targets scraped" b { (loops) } } }
            }
        }
    };
    page("/cluster", "Cluster", "/api/v1/cluster", body)
}

fn render(overview: &ClusterOverview) -> Markup {
    let heaviest = overview.members.iter().map(|m| m.series).max().unwrap_or(0);
    // Bars share one scale with room for the max-series line.
    let scale = (heaviest.max(overview.max_series) as f64 * 1.1).max(1.0);
    let percent = |value: u64| format!("{:.2}%", value as f64 / scale * 100.0);
    let total_targets: usize = overview.members.iter().map(|m| m.targets).sum();
    let total_series: u64 = overview.members.iter().map(|m| m.series).sum();
    html! {
        div.summary {
            div { "members" b #members-count { (overview.members.len()) } }
            div { "replicas desired / actual" b #replicas {
                @if overview.max_series > 0 { (overview.desired_replicas) } @else { "-" }
                " / " (overview.actual_replicas)
            } }
            div { "handoffs in progress" b #handoffs { (overview.handoffs_in_progress) } }
            div { "member views" b #views-agree {
                @if overview.views_agree { span.badge.up { "agree" } } @else { span.badge.down { "differ" } }
            } }
            div { "targets scraped" b { (total_targets) } }
            div { "series scraped" b #total-series { (total_series) } }
            div { "max series per replica" b {
                @if overview.max_series > 0 { (overview.max_series) } @else { "off" }
            } }
        }
        p.muted {
            "As seen by " b { (overview.member) } ", view " code { (overview.view_hash) } "."
            @if overview.cap > 0 { " Balancing cap: " (overview.cap) " series per replica." }
            @if !overview.too_big.is_empty() {
                " " (overview.too_big.len()) " target(s) are heavier than the cap and stay with their ring owner."
            }
        }
        table #members {
            thead { tr {
                th { "Member" } th { "Address" } th { "State" } th { "View" }
                th.num { "Targets" } th.num { "Series" }
                th { "Series against max series" }
            } }
            tbody {
                @for member in &overview.members {
                    tr.member data-member=(member.id) {
                        td { b { (member.id) } @if member.id == overview.member { " " span.muted { "(this replica)" } } }
                        td { a href={ "http://" (member.address) "/targets" } { (member.address) } }
                        td {
                            @if !member.up { span.badge.down { "down" } }
                            @else if member.leaving { span.badge.warn { "leaving" } }
                            @else { span.badge.up { "up" } }
                            " "
                            @if member.owner { span.muted { "owner" } }
                            @else { span.muted title="a peer, but not ready: it owns no targets" { "not an owner" } }
                        }
                        td {
                            code { (member.view_hash) }
                            @if member.view_hash != overview.view_hash { " " span.badge.warn { "differs" } }
                        }
                        td.num { (member.targets) }
                        td.num { (member.series) }
                        td {
                            div.bar title={ (member.series) " series" } {
                                div class=(if overview.max_series > 0 && member.series > overview.max_series { "fill over" } else { "fill" })
                                    style={ "width:" (percent(member.series)) } {}
                                @if overview.max_series > 0 {
                                    div.limit style={ "left:" (percent(overview.max_series)) }
                                        title={ "--shard.max-series=" (overview.max_series) } {}
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
