//! The HTTP server: Prometheus-shaped JSON APIs, the pages (each with its JSON twin),
//! health, readiness and reload.

pub mod access;
mod api;
mod pages;
mod series;

use crate::config::Config;
use crate::targets::JobTargets;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// A reload request; the answer is the load error, if any.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// The targets of every job, as last computed from discovery.
#[derive(Clone, Debug, Default)]
pub struct TargetsView {
    pub jobs: BTreeMap<String, JobTargets>,
}

/// What the handlers read; shared with the rest of the process.
pub struct AppState {
    pub config: RwLock<Arc<Config>>,
    pub targets: RwLock<Arc<TargetsView>>,
    /// Command-line flags by name, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    /// `host:port` under which users reach this server (for `globalUrl`).
    pub external_host: String,
    pub ready: AtomicBool,
    pub reload: mpsc::Sender<ReloadRequest>,
    /// The scrape loops, for each target's live status.
    pub scrape: Arc<crate::scrape::Manager>,
    /// This replica's part of the cluster, when `--cluster.peers` is set.
    pub cluster: Option<Arc<crate::coord::Cluster>>,
}

impl AppState {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

pub fn app(state: Arc<AppState>) -> Router {
    let peer_api = match &state.cluster {
        Some(cluster) => crate::coord::api::router(cluster.clone()),
        None => Router::new(),
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/targets", get(pages::targets))
        .route("/targets/discovered", get(pages::discovered_labels))
        .route("/cluster", get(pages::cluster))
        .route("/service-discovery", get(pages::service_discovery))
        .route("/cardinality", get(pages::cardinality))
        .route("/config", get(pages::config))
        .route("/flags", get(pages::flags))
        .route("/api/v1/targets", get(api::targets))
        .route("/api/v1/targets/metadata", get(api::targets_metadata))
        .route("/api/v1/metadata", get(api::metadata))
        .route("/api/v1/status/config", get(api::status_config))
        .route("/api/v1/status/flags", get(api::status_flags))
        .route("/api/v1/status/buildinfo", get(api::status_buildinfo))
        .route("/api/v1/status/series", get(series::status_series))
        .route("/metrics", get(metrics))
        .route(
            "/-/healthy",
            get(|| async { "promshard is Healthy.\n" }).head(|| async {}),
        )
        .route("/-/ready", get(ready).head(ready))
        .route("/-/reload", post(reload).put(reload))
        .with_state(state)
        .merge(peer_api)
}

async fn metrics() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (
        [(axum::http::header::CONTENT_TYPE, content_type)],
        crate::telemetry::Telemetry::get().render(),
    )
}

async fn ready(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "promshard is Ready.\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n")
    }
}

async fn reload(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> (StatusCode, String) {
    let (reply, answer) = oneshot::channel();
    if state.reload.send(reply).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "reloading is not available\n".into(),
        );
    }
    match answer.await {
        Ok(Ok(())) => (StatusCode::OK, String::new()),
        Ok(Err(error)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {error}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "reload was interrupted\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests;
