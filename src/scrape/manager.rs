//! Keeps one scrape loop per target in step with the config and the discovered targets.

use super::ScrapeCounters;
use super::scrape_loop::{self, LoopConfig, Stop, TargetStatus};
use crate::config::{Config, ScrapeConfig};
use crate::http_client::HttpClient;
use crate::remote_write::SampleSink;
use crate::targets::Target;
use crate::web::TargetsView;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::watch;

struct LoopHandle {
    config: watch::Sender<Arc<LoopConfig>>,
    stop: watch::Sender<Option<Stop>>,
    status: Arc<Mutex<TargetStatus>>,
    metadata: scrape_loop::SharedMetadata,
    /// The job settings a running loop cannot take over without a fresh cache.
    semantics: String,
}

impl LoopHandle {
    fn stop(&self, how: Stop) {
        let _ = self.stop.send(Some(how));
    }
}

/// The HTTP client of a job, rebuilt only when its settings change.
struct JobClient {
    settings: crate::config::http::HttpClientConfig,
    client: Result<HttpClient, String>,
}

pub struct Manager {
    sink: Arc<dyn SampleSink>,
    counters: Arc<ScrapeCounters>,
    loops: Mutex<HashMap<u64, LoopHandle>>,
    clients: Mutex<HashMap<String, JobClient>>,
}

/// Identity of a loop: the job and the target key.
pub fn loop_key(job: &str, target: &Target) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(job.as_bytes());
    hasher.update(&[0xff]);
    hasher.update(&target.key().to_le_bytes());
    hasher.digest()
}

/// Everything in a job config except what a loop may change on the fly (interval, timeout,
/// sample_limit, the HTTP client): if this differs, the loop restarts with a fresh cache.
fn semantics(job: &ScrapeConfig) -> String {
    let mut value = serde_json::to_value(job).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        for field in [
            "scrape_interval",
            "scrape_timeout",
            "sample_limit",
            "basic_auth",
            "authorization",
            "oauth2",
            "tls_config",
            "proxy_url",
            "no_proxy",
            "proxy_from_environment",
            "proxy_connect_header",
            "follow_redirects",
            "enable_http2",
            "http_headers",
            // Discovery decides which targets exist, not how one is scraped.
            "static_configs",
            "file_sd_configs",
            "http_sd_configs",
            "dns_sd_configs",
        ] {
            map.remove(field);
        }
    }
    value.to_string()
}

impl Manager {
    pub fn new(sink: Arc<dyn SampleSink>) -> Self {
        Manager {
            sink,
            counters: Arc::new(ScrapeCounters::default()),
            loops: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn counters(&self) -> Arc<ScrapeCounters> {
        self.counters.clone()
    }

    fn client_for(&self, job: &ScrapeConfig) -> Result<HttpClient, String> {
        let mut clients = self.clients.lock();
        let fresh = clients
            .get(&job.job_name)
            .is_none_or(|c| c.settings != job.http_client);
        if fresh {
            let user_agent = concat!("promshard/", env!("CARGO_PKG_VERSION"));
            let client = crate::http_client::build_with(&job.http_client, user_agent, false);
            if let Err(e) = &client {
                tracing::error!(job = %job.job_name, error = %e, "cannot build the HTTP client; every scrape of the job fails");
            }
            clients.insert(
                job.job_name.clone(),
                JobClient {
                    settings: job.http_client.clone(),
                    client,
                },
            );
        }
        clients[&job.job_name].client.clone()
    }

    /// Starts, updates and stops loops so that exactly the active targets are scraped.
    pub fn sync(&self, config: &Config, view: &TargetsView) {
        let mut loops = self.loops.lock();
        let mut wanted = HashSet::new();
        for job in &config.scrape_configs {
            let Some(targets) = view.jobs.get(&job.job_name) else {
                continue;
            };
            let client = self.client_for(job);
            let job_semantics = semantics(job);
            let shared_job = Arc::new(job.clone());
            for target in &targets.active {
                let key = loop_key(&job.job_name, target);
                if !wanted.insert(key) {
                    continue;
                }
                let loop_config = Arc::new(LoopConfig {
                    target: target.clone(),
                    job: shared_job.clone(),
                    client: client
                        .clone()
                        .map_err(|e| format!("cannot build HTTP client: {e}")),
                    forced_error: targets.target_limit_error.clone(),
                });
                match loops.get(&key) {
                    Some(handle) if handle.semantics == job_semantics => {
                        let _ = handle.config.send(loop_config);
                    }
                    existing => {
                        if let Some(old) = existing {
                            old.stop(Stop::WithStaleness);
                        }
                        let handle = self.start(loop_config, job_semantics.clone());
                        loops.insert(key, handle);
                    }
                }
            }
        }
        loops.retain(|key, handle| {
            let keep = wanted.contains(key);
            if !keep {
                handle.stop(Stop::WithStaleness);
            }
            keep
        });
        self.clients
            .lock()
            .retain(|job, _| config.scrape_configs.iter().any(|j| &j.job_name == job));
    }

    fn start(&self, config: Arc<LoopConfig>, semantics: String) -> LoopHandle {
        let (config_tx, config_rx) = watch::channel(config);
        let (stop_tx, stop_rx) = watch::channel(None);
        let status = Arc::new(Mutex::new(TargetStatus::default()));
        let metadata = scrape_loop::SharedMetadata::default();
        tokio::spawn(scrape_loop::run(
            config_rx,
            stop_rx,
            self.sink.clone(),
            status.clone(),
            self.counters.clone(),
            metadata.clone(),
        ));
        LoopHandle {
            config: config_tx,
            stop: stop_tx,
            status,
            metadata,
            semantics,
        }
    }

    /// The scrape status of a target of `job`, if it has a loop.
    pub fn status(&self, job: &str, target: &Target) -> Option<TargetStatus> {
        self.loops
            .lock()
            .get(&loop_key(job, target))
            .map(|h| h.status.lock().clone())
    }

    /// The metric metadata a target of `job` last exposed.
    pub fn metadata(&self, job: &str, target: &Target) -> Arc<Vec<scrape_loop::MetricMetadata>> {
        self.loops
            .lock()
            .get(&loop_key(job, target))
            .map(|h| h.metadata.lock().clone())
            .unwrap_or_default()
    }

    /// The distinct metadata of every target, for remote write's metadata requests.
    pub fn all_metadata(&self) -> Vec<crate::remote_write::metadata::MetricMetadata> {
        let lists: Vec<_> = self
            .loops
            .lock()
            .values()
            .map(|h| h.metadata.lock().clone())
            .collect();
        let mut out: Vec<_> = lists
            .iter()
            .flat_map(|list| list.iter())
            .map(|m| crate::remote_write::metadata::MetricMetadata {
                family: m.metric.clone(),
                kind: m.kind.remote_write_kind(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Stops every loop without stale markers (shutdown).
    pub fn stop_all(&self) {
        for (_, handle) in self.loops.lock().drain() {
            handle.stop(Stop::Quietly);
        }
    }

    pub fn loop_count(&self) -> usize {
        self.loops.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use crate::labels::Labels;
    use crate::remote_write::{Sample, SeriesRef};
    use crate::scrape::append::STALE_NAN;
    use crate::sd::TargetGroup;
    use crate::targets::targets_from_groups;
    use std::path::Path;
    use std::time::Duration;

    #[derive(Default)]
    struct Recorder {
        names: Mutex<HashMap<SeriesRef, String>>,
        samples: Mutex<Vec<(String, u64)>>,
    }

    impl SampleSink for Recorder {
        fn series(
            &self,
            series: SeriesRef,
            labels: &Labels,
            _: Option<Arc<crate::remote_write::metadata::MetricMetadata>>,
        ) {
            self.names
                .lock()
                .insert(series, labels.value("__name__").to_string());
        }
        fn append(&self, samples: &[Sample]) {
            let names = self.names.lock();
            let mut out = self.samples.lock();
            for s in samples {
                out.push((
                    names.get(&s.series).cloned().unwrap_or_default(),
                    s.value_bits,
                ));
            }
        }
        fn forget(&self, _series: SeriesRef) {}
    }

    impl Recorder {
        fn count(&self, name: &str, pred: impl Fn(u64) -> bool) -> usize {
            self.samples
                .lock()
                .iter()
                .filter(|(n, v)| n == name && pred(*v))
                .count()
        }
    }

    async fn target() -> String {
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(|| async {
                ([("content-type", "text/plain; version=0.0.4")], "m 1\n")
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    fn setup(address: &str, job_extra: &str) -> (Config, TargetsView) {
        let text =
            format!("scrape_configs:\n  - job_name: j\n    scrape_interval: 100ms\n{job_extra}");
        let config = load_str(&text, Path::new("/p.yml")).unwrap();
        let group = TargetGroup {
            source: "0".into(),
            targets: vec![Labels::from_pairs([("__address__", address)])],
            labels: Labels::new(),
        };
        let mut view = TargetsView::default();
        view.jobs.insert(
            "j".into(),
            targets_from_groups(&config.scrape_configs[0], &[group]),
        );
        (config, view)
    }

    #[tokio::test]
    async fn reload_keeps_the_loop_and_cache_unless_scraping_changes() {
        let address = target().await;
        let sink = Arc::new(Recorder::default());
        let manager = Manager::new(sink.clone());
        let (config, view) = setup(&address, "");
        manager.sync(&config, &view);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(sink.count("up", |v| v == 1f64.to_bits()) >= 2);
        let added_once = sink.count("scrape_series_added", |v| v == 1f64.to_bits());
        assert_eq!(added_once, 1, "the first scrape adds the series");

        // Only the timeout changes: same loop, same cache, no stale markers.
        let (config, view) = setup(&address, "    scrape_timeout: 50ms\n");
        manager.sync(&config, &view);
        assert_eq!(manager.loop_count(), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(sink.count("m", |v| v == STALE_NAN), 0);
        assert_eq!(
            sink.count("scrape_series_added", |v| v == 1f64.to_bits()),
            1,
            "cache kept"
        );

        // Metric relabeling changes: a new loop with a fresh cache; the old one ends with
        // stale markers after two intervals.
        let (config, view) = setup(
            &address,
            "    metric_relabel_configs:\n      - target_label: x\n        replacement: y\n",
        );
        manager.sync(&config, &view);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            sink.count("m", |v| v == STALE_NAN) >= 1,
            "the replaced loop marks its series stale"
        );
        assert_eq!(
            sink.count("scrape_series_added", |v| v == 1f64.to_bits()),
            2,
            "fresh cache"
        );

        // The target goes away: stale markers for its series and the synthetic ones.
        let before = sink.count("up", |v| v == STALE_NAN);
        manager.sync(&config, &TargetsView::default());
        assert_eq!(manager.loop_count(), 0);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.count("up", |v| v == STALE_NAN), before + 1);
    }
}
