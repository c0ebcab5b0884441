use super::*;
use crate::config::load_str;
use crate::sd::TargetGroup;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use std::path::Path;
use tower::ServiceExt;

const CONFIG: &str = "
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: alpha
    basic_auth:
      username: u
      password: hunter2-secret
  - job_name: beta
";

struct NoSink;

impl crate::remote_write::SampleSink for NoSink {
    fn wants_metadata(&self) -> bool {
        false
    }
    fn append(&self, _: &[crate::remote_write::Sample]) {}
    fn forget(&self, _: crate::remote_write::SeriesRef) {}
}

fn state() -> (Arc<AppState>, mpsc::Receiver<ReloadRequest>) {
    state_with(CONFIG)
}

/// A state whose every job has targets `<job>:1` and `127.0.0.1:9100` (no loops: health
/// unknown) and one dropped target.
pub(super) fn state_with(config: &str) -> (Arc<AppState>, mpsc::Receiver<ReloadRequest>) {
    let config = load_str(config, Path::new("/tmp/p.yml")).unwrap();
    let mut view = TargetsView::default();
    for cfg in &config.scrape_configs {
        let group = TargetGroup {
            source: "0".into(),
            targets: vec![
                crate::labels::Labels::from_pairs([("__address__", format!("{}:1", cfg.job_name))]),
                crate::labels::Labels::from_pairs([("__address__", "127.0.0.1:9100")]),
            ],
            labels: Default::default(),
        };
        let mut targets = crate::targets::targets_from_groups(cfg, &[group]);
        targets.dropped.push(crate::labels::Labels::from_pairs([(
            "__address__",
            "gone:1",
        )]));
        targets.dropped_count += 1;
        view.jobs.insert(cfg.job_name.clone(), targets);
    }
    let (tx, rx) = mpsc::channel(1);
    let state = AppState {
        config: RwLock::new(Arc::new(config)),
        targets: RwLock::new(Arc::new(view)),
        flags: BTreeMap::from([("config.file".to_string(), "/tmp/p.yml".to_string())]),
        external_host: "myhost:9090".into(),
        ready: AtomicBool::new(false),
        cluster: None,
        reload: tx,
        scrape: Arc::new(crate::scrape::Manager::new(Arc::new(NoSink))),
    };
    (Arc::new(state), rx)
}

/// GET `uri` through `app`: the status and the whole body.
pub(super) async fn get_body(app: Router, uri: &str) -> (StatusCode, axum::body::Bytes) {
    let response = app
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes)
}

pub(super) async fn get_json(app: Router, uri: &str) -> (StatusCode, Value) {
    let (status, bytes) = get_body(app, uri).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn targets_api_shape_and_filters() {
    let (state, _rx) = state();
    let (status, body) = get_json(app(state.clone()), "/api/v1/targets").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "success");
    let active = body["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 4);
    let first = &active[0];
    assert_eq!(first["scrapePool"], "alpha");
    assert_eq!(
        first["labels"],
        serde_json::json!({"instance": "alpha:1", "job": "alpha"})
    );
    assert_eq!(first["discoveredLabels"]["__address__"], "alpha:1");
    assert_eq!(first["discoveredLabels"]["job"], "alpha");
    assert_eq!(first["scrapeUrl"], "http://alpha:1/metrics");
    assert_eq!(first["scrapeInterval"], "15s");
    assert_eq!(first["scrapeTimeout"], "10s");
    assert_eq!(first["health"], "unknown");
    for key in ["globalUrl", "lastError", "lastScrape", "lastScrapeDuration"] {
        assert!(first.get(key).is_some(), "missing {key}");
    }
    assert_eq!(active[1]["globalUrl"], "http://myhost:9100/metrics");
    assert_eq!(body["data"]["droppedTargets"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["data"]["droppedTargetCounts"],
        serde_json::json!({"alpha": 1, "beta": 1})
    );

    let (_, body) = get_json(
        app(state.clone()),
        "/api/v1/targets?state=active&scrapePool=beta",
    )
    .await;
    assert_eq!(body["data"]["activeTargets"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"]["droppedTargets"].as_array().unwrap().len(), 0);
    let (_, body) = get_json(app(state), "/api/v1/targets?state=Dropped").await;
    assert_eq!(body["data"]["activeTargets"].as_array().unwrap().len(), 0);
    assert_eq!(body["data"]["droppedTargets"][0]["scrapePool"], "alpha");
}

#[tokio::test]
async fn config_api_redacts_secrets_and_flags_are_listed() {
    let (state, _rx) = state();
    let (_, body) = get_json(app(state.clone()), "/api/v1/status/config").await;
    let yaml = body["data"]["yaml"].as_str().unwrap();
    assert!(yaml.contains("job_name: alpha"), "{yaml}");
    assert!(!yaml.contains("hunter2"), "{yaml}");
    assert!(yaml.contains("<secret>"), "{yaml}");
    let (_, body) = get_json(app(state), "/api/v1/status/flags").await;
    assert_eq!(body["data"]["config.file"], "/tmp/p.yml");
}

#[tokio::test]
async fn ready_follows_state_and_reload_reports_errors() {
    let (state, mut rx) = state();
    let response = app(state.clone())
        .oneshot(Request::get("/-/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    state.set_ready(true);
    let response = app(state.clone())
        .oneshot(Request::get("/-/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app(state.clone())
        .oneshot(Request::get("/-/healthy").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    tokio::spawn(async move {
        let reply = rx.recv().await.unwrap();
        let _ = reply.send(Err("p.yml:3:1: bad".into()));
    });
    let response = app(state)
        .oneshot(Request::post("/-/reload").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("p.yml:3:1: bad"));
}
