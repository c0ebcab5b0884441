//! Keeps one scrape loop per target in step with the config and the discovered targets.

use super::ScrapeCounters;
use super::scrape_loop::{
    self, LoopConfig, LoopProgress, ReleaseRequest, Stop, TargetStatus, Writing,
};
use crate::config::{Config, ScrapeConfig};
use crate::http_client::HttpClient;
use crate::remote_write::SampleSink;
use crate::targets::Target;
use crate::web::TargetsView;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;

struct LoopHandle {
    config: watch::Sender<Arc<LoopConfig>>,
    stop: watch::Sender<Option<Stop>>,
    writing: watch::Sender<Writing>,
    release: tokio::sync::mpsc::Sender<ReleaseRequest>,
    status: Arc<Mutex<TargetStatus>>,
    metadata: scrape_loop::SharedMetadata,
    series_by_metric: scrape_loop::SharedSeriesByMetric,
    progress: Arc<LoopProgress>,
    /// The job settings a running loop cannot take over without a fresh cache.
    semantics: String,
}

/// A discovered, active target: what a loop for it is started with.
struct KnownTarget {
    config: Arc<LoopConfig>,
    semantics: String,
}

/// A target as the cluster sees it: which one, and this replica's loop for it, if any.
#[derive(Clone, Debug)]
pub struct TargetEntry {
    pub loop_key: u64,
    /// [`Target::key`]: what the ring places.
    pub target_key: u64,
    pub job: String,
    pub scrape_interval_ms: i64,
    /// `None`: this replica does not scrape it.
    pub writing: Option<Writing>,
    pub last_scraped: Option<i64>,
    pub last_written: Option<i64>,
    /// Series in the last successful scrape (after metric relabeling), and before it.
    pub series: u64,
    pub series_scraped: u64,
    /// Whether the last scrape succeeded (`None`: no loop, or not scraped yet).
    pub up: Option<bool>,
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
    /// Every active target by loop key, scraped here or not.
    known: Mutex<HashMap<u64, KnownTarget>>,
    /// Alone, every known target is scraped; in a cluster the coordinator starts loops.
    autostart: bool,
    defaults: super::ScrapeDefaults,
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
    /// A manager that scrapes every active target (no cluster).
    pub fn new(sink: Arc<dyn SampleSink>) -> Self {
        Self::with_autostart(sink, true)
    }

    /// With `autostart` false, `sync` only keeps track of the active targets, updates running
    /// loops and stops those whose target went away; a coordinator starts and releases loops.
    pub fn with_autostart(sink: Arc<dyn SampleSink>, autostart: bool) -> Self {
        Manager {
            sink,
            counters: Arc::new(ScrapeCounters::default()),
            loops: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            known: Mutex::new(HashMap::new()),
            autostart,
            defaults: super::ScrapeDefaults::default(),
        }
    }

    /// The bounds for jobs that set none (see [`super::ScrapeDefaults`]).
    pub fn with_defaults(mut self, defaults: super::ScrapeDefaults) -> Self {
        self.defaults = defaults;
        self
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

    /// Takes the active targets of `view`: running loops get their new config (or restart
    /// with a fresh cache when the job's semantics changed), loops of targets that went away
    /// stop with stale markers, and (with autostart) every other active target gets a loop.
    pub fn sync(&self, config: &Config, view: &TargetsView) {
        let mut known = HashMap::new();
        for job in &config.scrape_configs {
            let Some(targets) = view.jobs.get(&job.job_name) else {
                continue;
            };
            let client = self.client_for(job);
            let job_semantics = semantics(job);
            let shared_job = Arc::new(job.clone());
            let accept: Arc<str> =
                super::http::accept_header(&job.scrape_protocols, &job.metric_name_escaping_scheme)
                    .into();
            let timeout_header: Arc<str> =
                super::http::format_seconds(job.scrape_timeout.into()).into();
            for target in &targets.active {
                let key = loop_key(&job.job_name, target);
                if known.contains_key(&key) {
                    continue;
                }
                let (body_size_limit, label_limit) =
                    self.defaults.apply(job.body_size_limit.0, job.label_limit);
                let loop_config = Arc::new(LoopConfig {
                    target: target.clone(),
                    job: shared_job.clone(),
                    client: client
                        .clone()
                        .map_err(|e| format!("cannot build HTTP client: {e}")),
                    forced_error: targets.target_limit_error.clone(),
                    accept: accept.clone(),
                    timeout_header: timeout_header.clone(),
                    url: super::http::parse_scrape_url(&target.scrape_url),
                    body_size_limit,
                    label_limit,
                });
                known.insert(
                    key,
                    KnownTarget {
                        config: loop_config,
                        semantics: job_semantics.clone(),
                    },
                );
            }
        }
        let mut loops = self.loops.lock();
        for (key, target) in &known {
            match loops.get(key) {
                Some(handle) if handle.semantics == target.semantics => {
                    let _ = handle.config.send(target.config.clone());
                }
                Some(old) => {
                    old.stop(Stop::WithStaleness);
                    let writing = *old.writing.borrow();
                    let handle =
                        self.start(target.config.clone(), target.semantics.clone(), writing);
                    loops.insert(*key, handle);
                }
                None if self.autostart => {
                    let handle = self.start(
                        target.config.clone(),
                        target.semantics.clone(),
                        Writing::All,
                    );
                    loops.insert(*key, handle);
                }
                None => {}
            }
        }
        loops.retain(|key, handle| {
            let keep = known.contains_key(key);
            if !keep {
                handle.stop(Stop::WithStaleness);
            }
            keep
        });
        drop(loops);
        *self.known.lock() = known;
        self.clients
            .lock()
            .retain(|job, _| config.scrape_configs.iter().any(|j| &j.job_name == job));
    }

    /// Starts a loop for the active target `loop_key`, writing as `writing` says; false when
    /// the target is not active or already has a loop.
    pub fn start_loop(&self, loop_key: u64, writing: Writing) -> bool {
        let known = self.known.lock();
        let Some(target) = known.get(&loop_key) else {
            return false;
        };
        let mut loops = self.loops.lock();
        if loops.contains_key(&loop_key) {
            return false;
        }
        let handle = self.start(target.config.clone(), target.semantics.clone(), writing);
        loops.insert(loop_key, handle);
        true
    }

    /// Changes which slots the loop of `loop_key` writes; false without a loop.
    pub fn set_writing(&self, loop_key: u64, writing: Writing) -> bool {
        self.loops
            .lock()
            .get(&loop_key)
            .is_some_and(|h| h.writing.send(writing).is_ok())
    }

    /// Hands the loop of `loop_key` over to a peer: the loop finishes the scrape in progress
    /// and ends without stale markers. `Ok(last written slot)`, `Err(())` when there is no
    /// loop (or it ended before answering).
    pub async fn release(&self, loop_key: u64) -> Result<Option<i64>, ()> {
        let Some(handle) = self.loops.lock().remove(&loop_key) else {
            return Err(());
        };
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        if handle.release.send(reply_tx).await.is_err() {
            return Err(());
        }
        reply_rx.await.map_err(|_| ())
    }

    /// Stops the loop of `loop_key` without stale markers (a shadow loop whose takeover was
    /// abandoned); false without a loop.
    pub fn stop_loop_quietly(&self, loop_key: u64) -> bool {
        match self.loops.lock().remove(&loop_key) {
            Some(handle) => {
                handle.stop(Stop::Quietly);
                true
            }
            None => false,
        }
    }

    /// Every active target, with this replica's loop for it if any.
    pub fn targets(&self) -> Vec<TargetEntry> {
        let known = self.known.lock();
        let loops = self.loops.lock();
        known
            .iter()
            .map(|(key, target)| {
                let handle = loops.get(key);
                TargetEntry {
                    loop_key: *key,
                    target_key: target.config.target.key(),
                    job: target.config.job.job_name.clone(),
                    scrape_interval_ms: target.config.job.scrape_interval.as_millis() as i64,
                    writing: handle.map(|h| *h.writing.borrow()),
                    last_scraped: handle.and_then(|h| *h.progress.last_scraped.lock()),
                    last_written: handle.and_then(|h| *h.progress.last_written.lock()),
                    series: handle.map_or(0, |h| h.status.lock().series),
                    series_scraped: handle.map_or(0, |h| h.status.lock().series_scraped),
                    up: handle.and_then(|h| h.status.lock().up),
                }
            })
            .collect()
    }

    /// Loop keys of the loops running here.
    pub fn scraping(&self) -> Vec<u64> {
        self.loops.lock().keys().copied().collect()
    }

    fn start(&self, config: Arc<LoopConfig>, semantics: String, writing: Writing) -> LoopHandle {
        let (config_tx, config_rx) = watch::channel(config);
        let (stop_tx, stop_rx) = watch::channel(None);
        let (writing_tx, writing_rx) = watch::channel(writing);
        let (release_tx, release_rx) = tokio::sync::mpsc::channel(1);
        let status = Arc::new(Mutex::new(TargetStatus::default()));
        let metadata = scrape_loop::SharedMetadata::default();
        let series_by_metric = scrape_loop::SharedSeriesByMetric::default();
        let progress = Arc::new(LoopProgress::default());
        tokio::spawn(scrape_loop::run(
            config_rx,
            stop_rx,
            writing_rx,
            release_rx,
            self.sink.clone(),
            status.clone(),
            self.counters.clone(),
            metadata.clone(),
            series_by_metric.clone(),
            progress.clone(),
        ));
        LoopHandle {
            config: config_tx,
            stop: stop_tx,
            writing: writing_tx,
            release: release_tx,
            status,
            metadata,
            series_by_metric,
            progress,
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

    /// Series per metric name (as exposed, before metric relabeling) among those a target of
    /// `job` exposed in its last scrape: scraped and kept by metric relabeling, names with
    /// series only, most series first. Empty without a loop or before its first scrape.
    pub fn series_by_metric(
        &self,
        job: &str,
        target: &Target,
    ) -> Arc<Vec<super::cache::MetricSeriesCount>> {
        self.loops
            .lock()
            .get(&loop_key(job, target))
            .map(|h| h.series_by_metric.lock().clone())
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
        samples: Mutex<Vec<(String, u64)>>,
    }

    impl SampleSink for Recorder {
        fn wants_metadata(&self) -> bool {
            false
        }
        fn append(&self, samples: &[Sample]) {
            let mut out = self.samples.lock();
            for s in samples {
                let labels = crate::remote_write::encode::decode_labels(&s.labels)
                    .expect("samples carry decodable labels");
                out.push((labels.value("__name__").to_string(), s.value_bits));
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
        target_serving("m 1\n").await
    }

    async fn target_serving(body: &'static str) -> String {
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || async move {
                ([("content-type", "text/plain; version=0.0.4")], body)
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

    #[tokio::test]
    async fn series_by_metric_is_published_after_a_scrape_that_changed_it() {
        let address = target_serving("a{x=\"1\"} 1\na{x=\"2\"} 1\na{x=\"3\"} 1\nb 1\n").await;
        let manager = Manager::new(Arc::new(Recorder::default()));
        let (config, view) = setup(
            &address,
            "    metric_relabel_configs:\n      - source_labels: [__name__, x]\n        regex: a;2\n        action: drop\n",
        );
        let target = view.jobs["j"].active[0].clone();
        assert!(manager.series_by_metric("j", &target).is_empty());
        manager.sync(&config, &view);
        let mut published = manager.series_by_metric("j", &target);
        for _ in 0..50 {
            if !published.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            published = manager.series_by_metric("j", &target);
        }
        let counts: Vec<(&str, u32, u32)> = published
            .iter()
            .map(|c| (&*c.name, c.scraped, c.kept))
            .collect();
        assert_eq!(counts, [("a", 3, 2), ("b", 1, 1)]);
        // Later scrapes are all cache hits: the same snapshot, not a rebuilt one.
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(Arc::ptr_eq(
            &published,
            &manager.series_by_metric("j", &target)
        ));
        assert!(manager.series_by_metric("other", &target).is_empty());
        manager.stop_all();
    }
}
