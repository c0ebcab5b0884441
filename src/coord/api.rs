//! The peer API, JSON on the web port:
//!
//! - `GET /api/v1/cluster`: the cluster as this replica sees it ([`super::cluster::ClusterOverview`]).
//! - `GET /api/v1/cluster/state`: this replica's member view ([`super::cluster::PeerState`]); the probe.
//! - `GET /api/v1/cluster/scraping`: the loops it runs ([`super::cluster::PeerScraping`]).
//! - `POST /api/v1/cluster/handoff` with a [`HandoffRequest`]: hand a target over
//!   ([`super::cluster::HandoffAnswer`]).
//! - `GET /api/v1/cluster/targets`: its active targets with owners (in its view), whether it
//!   scrapes them, how (`write`, `shadow`, `after:<slot>`), last slots, health and series
//!   counts.

use super::cluster::{Cluster, HandoffRequest, hex};
use crate::scrape::scrape_loop::Writing;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;

pub fn router(cluster: Arc<Cluster>) -> Router {
    Router::new()
        .route("/api/v1/cluster", get(overview))
        .route("/api/v1/cluster/state", get(state))
        .route("/api/v1/cluster/scraping", get(scraping))
        .route("/api/v1/cluster/handoff", post(handoff))
        .route("/api/v1/cluster/targets", get(targets))
        .with_state(cluster)
}

async fn overview(State(cluster): State<Arc<Cluster>>) -> Response {
    Json(cluster.overview()).into_response()
}

async fn state(State(cluster): State<Arc<Cluster>>) -> Response {
    Json(cluster.peer_state()).into_response()
}

async fn scraping(State(cluster): State<Arc<Cluster>>) -> Response {
    Json(cluster.peer_scraping()).into_response()
}

#[derive(Serialize)]
struct ErrorBody {
    status: &'static str,
    #[serde(rename = "errorType")]
    error_type: &'static str,
    error: String,
}

fn bad_request(error: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(ErrorBody {
            status: "error",
            error_type: "bad_data",
            error,
        }),
    )
        .into_response()
}

async fn handoff(
    State(cluster): State<Arc<Cluster>>,
    request: Result<Json<HandoffRequest>, JsonRejection>,
) -> Response {
    let request = match request {
        Ok(Json(request)) => request,
        Err(rejection) => {
            return bad_request(format!("handoff request: {}", rejection.body_text()));
        }
    };
    match cluster.handoff(&request).await {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => bad_request(format!("handoff request: {error}")),
    }
}

#[derive(Serialize)]
struct TargetRow {
    loop_key: String,
    target_key: String,
    job: String,
    owners: Vec<String>,
    scraping: Option<String>,
    last_scraped: Option<i64>,
    last_written: Option<i64>,
    series: u64,
    /// Before metric relabeling.
    series_scraped: u64,
    /// `up`, `down` or `unknown`, as `/api/v1/targets`.
    health: &'static str,
}

#[derive(Serialize)]
struct TargetsBody {
    member: String,
    view_hash: String,
    targets: Vec<TargetRow>,
}

async fn targets(State(cluster): State<Arc<Cluster>>) -> Response {
    let ring = cluster.ring();
    let mut rows: Vec<TargetRow> = cluster
        .scrape_targets()
        .into_iter()
        .map(|t| TargetRow {
            loop_key: hex(t.loop_key),
            target_key: hex(t.target_key),
            job: t.job,
            owners: cluster.owners_of(&ring, t.loop_key, t.target_key),
            scraping: t.writing.map(|w| match w {
                Writing::All => "write".to_string(),
                Writing::Nothing => "shadow".to_string(),
                Writing::After(slot) => format!("after:{slot}"),
            }),
            last_scraped: t.last_scraped,
            last_written: t.last_written,
            series: t.series,
            series_scraped: t.series_scraped,
            health: match t.up {
                Some(true) => "up",
                Some(false) => "down",
                None => "unknown",
            },
        })
        .collect();
    rows.sort_by(|a, b| a.loop_key.cmp(&b.loop_key));
    Json(TargetsBody {
        member: cluster.member().to_string(),
        view_hash: hex(ring.view_hash()),
        targets: rows,
    })
    .into_response()
}
