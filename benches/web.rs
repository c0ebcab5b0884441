//! Server-side rendering of `/targets` with 10,000 targets (the web UI issue asks for under
//! a second), through the real router: handler, data gathering, HTML and body.
//! `cargo bench --bench web -- --warm-up-time 1 --measurement-time 5`

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use parking_lot::RwLock;
use promshard::labels::Labels;
use promshard::remote_write::{Sample, SampleSink, SeriesRef};
use promshard::sd::TargetGroup;
use promshard::web::{AppState, TargetsView, app};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tower::ServiceExt;

const TARGETS: usize = 10_000;

struct NoSink;

impl SampleSink for NoSink {
    fn wants_metadata(&self) -> bool {
        false
    }
    fn append(&self, _: &[Sample]) {}
    fn forget(&self, _: SeriesRef) {}
}

/// 10,000 pod-like targets in two jobs, each with Kubernetes-like labels.
fn state() -> Arc<AppState> {
    let yaml = "scrape_configs:\n  - job_name: kubernetes-pods\n  - job_name: node-exporter\n";
    let config = promshard::config::load_str(yaml, Path::new("bench.yml")).expect("config");
    let mut view = TargetsView::default();
    for (index, cfg) in config.scrape_configs.iter().enumerate() {
        let targets = (0..TARGETS / 2)
            .map(|i| {
                Labels::from_pairs([
                    (
                        "__address__",
                        format!("10.{index}.{}.{}:9100", i / 250, i % 250),
                    ),
                    ("namespace", format!("team-{}", i % 40)),
                    ("pod", format!("app-{i}-7d9c8b6f5d-x2k4q")),
                    ("container", "app".to_string()),
                    ("node", format!("node-{}.cluster.internal", i % 500)),
                ])
            })
            .collect();
        let group = TargetGroup {
            source: "bench".into(),
            targets,
            labels: Default::default(),
        };
        let targets = promshard::targets::targets_from_groups(cfg, &[group]);
        view.jobs.insert(cfg.job_name.clone(), targets);
    }
    let (reload, _) = tokio::sync::mpsc::channel(1);
    Arc::new(AppState {
        config: RwLock::new(Arc::new(config)),
        targets: RwLock::new(Arc::new(view)),
        flags: BTreeMap::new(),
        external_host: "localhost:9090".into(),
        ready: AtomicBool::new(true),
        reload,
        scrape: Arc::new(promshard::scrape::Manager::new(Arc::new(NoSink))),
        cluster: None,
    })
}

async fn render(state: &Arc<AppState>, uri: &str) -> usize {
    let response = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert!(response.status().is_success());
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body")
        .len()
}

fn targets_page(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let state = state();
    let bytes = runtime.block_on(render(&state, "/targets"));
    let rows = TARGETS;
    println!("/targets: {rows} rows, {bytes} bytes of HTML");
    let mut group = c.benchmark_group("web");
    group.sample_size(10);
    for (name, uri) in [
        ("targets_10k", "/targets"),
        (
            "targets_10k_search",
            "/targets?search=team-7&health=unknown",
        ),
        ("targets_api_10k", "/api/v1/targets?state=active"),
    ] {
        group.bench_function(name, |b| b.iter(|| runtime.block_on(render(&state, uri))));
    }
    group.finish();
}

criterion_group!(benches, targets_page);
criterion_main!(benches);
