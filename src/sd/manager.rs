//! The discovery manager (P: `discovery/manager.go`): runs one provider per distinct SD config,
//! merges the groups of each job and publishes them, at most once per `update_interval`.
//!
//! - [`Manager::apply`] (config load and reload): a provider whose config is unchanged keeps
//!   running and keeps its groups; identical configs (in one job or across jobs) share one
//!   provider; providers no job uses any more are stopped. Every applied job is published, with
//!   an empty list when it has no targets, so consumers drop stale targets.
//! - Providers send full updates; groups without targets are left out of what is published.
//! - A provider that cannot be created (e.g. an http_sd config with an unreadable CA file) is
//!   logged and counted in [`SdMetrics::failed_configs`].

use super::dns::{DnsProvider, ResolverSource};
use super::file::FileProvider;
use super::http::HttpProvider;
use super::metrics::SdMetrics;
use super::{DnsSdConfig, FileSdConfig, HttpSdConfig, SdConfigs, StaticConfig, TargetGroup};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Job name → the job's current target groups.
pub type TargetSets = BTreeMap<String, Vec<TargetGroup>>;

/// The config of one provider; providers are shared and kept across reloads by equality of this.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderConfig {
    /// All `static_configs` of a job, as one provider (Prometheus' `StaticConfig`).
    Static(Vec<StaticConfig>),
    File(FileSdConfig),
    Http(Box<HttpSdConfig>),
    Dns(DnsSdConfig),
    Kubernetes(Box<super::kubernetes::KubernetesSdConfig>),
}

impl ProviderConfig {
    pub fn mechanism(&self) -> &'static str {
        match self {
            ProviderConfig::Static(_) => "static",
            ProviderConfig::File(_) => "file",
            ProviderConfig::Http(_) => "http",
            ProviderConfig::Dns(_) => "dns",
            ProviderConfig::Kubernetes(_) => "kubernetes",
        }
    }
}

/// The providers of one job's SD configs, in config order (static first), duplicates removed.
pub fn provider_configs(sd: &SdConfigs) -> Vec<ProviderConfig> {
    let mut out: Vec<ProviderConfig> = Vec::new();
    if !sd.static_configs.is_empty() {
        out.push(ProviderConfig::Static(sd.static_configs.clone()));
    }
    out.extend(sd.file_sd_configs.iter().cloned().map(ProviderConfig::File));
    out.extend(
        sd.http_sd_configs
            .iter()
            .cloned()
            .map(|c| ProviderConfig::Http(Box::new(c))),
    );
    out.extend(sd.dns_sd_configs.iter().cloned().map(ProviderConfig::Dns));
    out.extend(
        sd.kubernetes_sd_configs
            .iter()
            .cloned()
            .map(|c| ProviderConfig::Kubernetes(Box::new(c))),
    );
    let mut unique: Vec<ProviderConfig> = Vec::with_capacity(out.len());
    for pc in out {
        if !unique.contains(&pc) {
            unique.push(pc);
        }
    }
    unique
}

/// Settings of a [`Manager`].
#[derive(Clone, Debug)]
pub struct ManagerOptions {
    /// Minimum time between two published updates (Prometheus: 5s).
    pub update_interval: Duration,
    /// The resolver of DNS discovery (`/etc/resolv.conf` by default).
    pub dns_resolver: ResolverSource,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            update_interval: Duration::from_secs(5),
            dns_resolver: ResolverSource::System,
        }
    }
}

struct ProviderEntry {
    id: u64,
    config: ProviderConfig,
    /// Groups with targets from the provider's last update.
    groups: Vec<TargetGroup>,
    /// Whether the provider has delivered its first update.
    reported: bool,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    providers: Vec<ProviderEntry>,
    /// Job → ids of its providers, in order.
    jobs: BTreeMap<String, Vec<u64>>,
    next_id: u64,
    dirty: bool,
    /// A provider delivered its first update: publish without waiting out the interval, so
    /// targets are scraped as soon as they are known (start-up, new jobs).
    urgent: bool,
}

struct Shared {
    state: Mutex<State>,
    notify: Notify,
    metrics: Arc<SdMetrics>,
}

impl Shared {
    fn update(&self, id: u64, groups: Vec<TargetGroup>) {
        let mut state = self.state.lock();
        // A provider stopped by a reload may still deliver one last update: ignore it.
        let Some(entry) = state.providers.iter_mut().find(|p| p.id == id) else {
            return;
        };
        entry.groups = groups
            .into_iter()
            .filter(|g| !g.targets.is_empty())
            .collect();
        let first = !std::mem::replace(&mut entry.reported, true);
        state.dirty = true;
        state.urgent |= first;
        drop(state);
        SdMetrics::inc(&self.metrics.received_updates);
        self.notify.notify_one();
    }

    fn snapshot(&self) -> Option<TargetSets> {
        let mut state = self.state.lock();
        if !state.dirty {
            return None;
        }
        state.dirty = false;
        let mut sets = TargetSets::new();
        for (job, ids) in &state.jobs {
            let mut groups = Vec::new();
            for id in ids {
                if let Some(p) = state.providers.iter().find(|p| p.id == *id) {
                    groups.extend(p.groups.iter().cloned());
                }
            }
            sets.insert(job.clone(), groups);
        }
        Some(sets)
    }
}

/// Runs the providers of all jobs and publishes their merged target groups.
pub struct Manager {
    shared: Arc<Shared>,
    options: ManagerOptions,
    publish: watch::Sender<Arc<TargetSets>>,
    publisher: JoinHandle<()>,
}

impl Manager {
    /// A manager publishing at most once per `update_interval`, using `/etc/resolv.conf` for DNS.
    /// Must be called inside a tokio runtime.
    pub fn new(update_interval: Duration) -> Self {
        Self::with_options(ManagerOptions {
            update_interval,
            ..ManagerOptions::default()
        })
    }

    pub fn with_options(options: ManagerOptions) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            metrics: Arc::new(SdMetrics::default()),
        });
        let (publish, _) = watch::channel(Arc::new(TargetSets::new()));
        let publisher = tokio::spawn(publisher(
            shared.clone(),
            publish.clone(),
            options.update_interval,
        ));
        Manager {
            shared,
            options,
            publish,
            publisher,
        }
    }

    /// The published target sets; the first value is empty until the first publication.
    pub fn subscribe(&self) -> watch::Receiver<Arc<TargetSets>> {
        self.publish.subscribe()
    }

    /// The discovery counters.
    pub fn metrics(&self) -> Arc<SdMetrics> {
        self.shared.metrics.clone()
    }

    /// Applies a (re)loaded config: `jobs` is every scrape job with its SD configs (http_sd
    /// configs carry their own HTTP client config). Returns how many providers could not be
    /// created.
    pub fn apply(&self, jobs: Vec<(String, SdConfigs)>) -> usize {
        let mut state = self.shared.state.lock();
        let mut old: Vec<ProviderEntry> = std::mem::take(&mut state.providers);
        let mut providers: Vec<ProviderEntry> = Vec::new();
        let mut job_ids: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut failed = 0;
        for (job, sd) in jobs {
            let ids = job_ids.entry(job.clone()).or_default();
            for config in provider_configs(&sd) {
                let id = if let Some(p) = providers.iter().find(|p| p.config == config) {
                    p.id
                } else if let Some(i) = old.iter().position(|p| p.config == config) {
                    let entry = old.swap_remove(i);
                    let id = entry.id;
                    providers.push(entry);
                    id
                } else {
                    let id = state.next_id;
                    state.next_id += 1;
                    match self.start(id, &config) {
                        Ok(task) => {
                            providers.push(ProviderEntry {
                                id,
                                config,
                                groups: Vec::new(),
                                reported: false,
                                task,
                            });
                            id
                        }
                        Err(err) => {
                            failed += 1;
                            tracing::error!(job = %job, mechanism = config.mechanism(), %err, "Cannot create service discovery");
                            continue;
                        }
                    }
                };
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        for stale in old {
            stale.task.abort();
        }
        let used: BTreeSet<u64> = job_ids.values().flatten().copied().collect();
        debug_assert!(providers.iter().all(|p| used.contains(&p.id)));
        state.providers = providers;
        state.jobs = job_ids;
        state.dirty = true;
        drop(state);
        self.shared
            .metrics
            .failed_configs
            .store(failed as u64, Ordering::Relaxed);
        self.shared.notify.notify_one();
        failed
    }

    fn start(&self, id: u64, config: &ProviderConfig) -> Result<JoinHandle<()>, String> {
        let metrics = self.shared.metrics.clone();
        let (tx, mut rx) = mpsc::channel::<Vec<TargetGroup>>(1);
        let run: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = match config {
            ProviderConfig::Static(configs) => {
                let groups = super::static_groups(configs);
                Box::pin(async move {
                    let _ = tx.send(groups).await;
                })
            }
            ProviderConfig::File(c) => Box::pin(FileProvider::new(c.clone(), metrics).run(tx)),
            ProviderConfig::Http(c) => Box::pin(HttpProvider::new((**c).clone(), metrics)?.run(tx)),
            ProviderConfig::Kubernetes(c) => {
                Box::pin(super::kubernetes::KubernetesProvider::new((**c).clone(), metrics).run(tx))
            }
            ProviderConfig::Dns(c) => {
                if c.refresh_interval.is_zero() {
                    return Err("dns_sd refresh_interval must be greater than zero".into());
                }
                Box::pin(
                    DnsProvider::with_resolver(
                        c.clone(),
                        self.options.dns_resolver.clone(),
                        metrics,
                    )
                    .run(tx),
                )
            }
        };
        let shared = self.shared.clone();
        Ok(tokio::spawn(async move {
            let forward = async {
                while let Some(groups) = rx.recv().await {
                    shared.update(id, groups);
                }
            };
            tokio::join!(run, forward);
        }))
    }

    /// Stops every provider and the publisher.
    pub fn stop(&self) {
        self.publisher.abort();
        let mut state = self.shared.state.lock();
        for p in state.providers.drain(..) {
            p.task.abort();
        }
        state.jobs.clear();
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Publishes a snapshot whenever something changed, at most once per `interval`.
async fn publisher(
    shared: Arc<Shared>,
    publish: watch::Sender<Arc<TargetSets>>,
    interval: Duration,
) {
    let mut last: Option<Instant> = None;
    loop {
        shared.notify.notified().await;
        if let Some(last) = last {
            // Wait out the interval, unless a provider's first update comes in meanwhile.
            let deadline = last + interval;
            while !std::mem::take(&mut shared.state.lock().urgent) {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = shared.notify.notified() => {}
                }
            }
        }
        if let Some(sets) = shared.snapshot() {
            publish.send_replace(Arc::new(sets));
            SdMetrics::inc(&shared.metrics.sent_updates);
            last = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PromDuration;

    fn static_sd(targets: &[&str]) -> SdConfigs {
        SdConfigs {
            static_configs: vec![StaticConfig {
                targets: targets.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    async fn next(rx: &mut watch::Receiver<Arc<TargetSets>>) -> Arc<TargetSets> {
        tokio::time::timeout(Duration::from_secs(30), rx.changed())
            .await
            .expect("no update")
            .unwrap();
        rx.borrow_and_update().clone()
    }

    async fn wait_for(
        rx: &mut watch::Receiver<Arc<TargetSets>>,
        pred: impl Fn(&TargetSets) -> bool,
    ) -> Arc<TargetSets> {
        loop {
            let sets = next(rx).await;
            if pred(&sets) {
                return sets;
            }
        }
    }

    #[test]
    fn provider_configs_dedup() {
        let file = FileSdConfig {
            files: vec!["/x/*.json".into()],
            refresh_interval: PromDuration::from_secs(300),
        };
        let mut sd = static_sd(&["a:1"]);
        sd.file_sd_configs = vec![file.clone(), file.clone()];
        let pcs = provider_configs(&sd);
        assert_eq!(pcs.len(), 2);
        assert_eq!(pcs[0].mechanism(), "static");
        assert_eq!(pcs[1], ProviderConfig::File(file));
        assert!(provider_configs(&SdConfigs::default()).is_empty());
    }

    #[tokio::test]
    async fn static_jobs_published_and_removed() {
        let m = Manager::new(Duration::from_millis(20));
        let mut rx = m.subscribe();
        m.apply(vec![
            ("a".into(), static_sd(&["x:1"])),
            ("b".into(), SdConfigs::default()),
        ]);
        let sets = wait_for(&mut rx, |s| s.get("a").is_some_and(|g| !g.is_empty())).await;
        assert_eq!(sets.len(), 2);
        assert_eq!(sets["a"][0].targets[0].get("__address__"), Some("x:1"));
        assert!(
            sets["b"].is_empty(),
            "a job without targets is published empty"
        );
        m.apply(vec![("b".into(), static_sd(&["y:1"]))]);
        let sets = wait_for(&mut rx, |s| s.get("b").is_some_and(|g| !g.is_empty())).await;
        assert!(!sets.contains_key("a"));
        assert_eq!(sets["b"][0].targets[0].get("__address__"), Some("y:1"));
    }

    #[tokio::test]
    async fn identical_configs_share_a_provider_and_survive_reload() {
        let m = Manager::new(Duration::from_millis(10));
        let mut rx = m.subscribe();
        m.apply(vec![
            ("a".into(), static_sd(&["x:1"])),
            ("b".into(), static_sd(&["x:1"])),
        ]);
        let sets = wait_for(&mut rx, |s| !s["a"].is_empty() && !s["b"].is_empty()).await;
        assert_eq!(sets["a"], sets["b"]);
        assert_eq!(m.shared.state.lock().providers.len(), 1);
        let id = m.shared.state.lock().providers[0].id;
        m.apply(vec![("b".into(), static_sd(&["x:1"]))]);
        let sets = next(&mut rx).await;
        // Unchanged config: same provider, groups kept without waiting for a new update.
        assert_eq!(m.shared.state.lock().providers[0].id, id);
        assert_eq!(sets["b"][0].targets.len(), 1);
        assert!(!sets.contains_key("a"));
    }

    #[tokio::test]
    async fn failed_provider_is_counted() {
        let m = Manager::new(Duration::from_millis(10));
        let mut http_client = crate::config::http::HttpClientConfig::default();
        http_client.tls_config.ca_file = Some("/nonexistent/ca.pem".into());
        let sd = SdConfigs {
            http_sd_configs: vec![HttpSdConfig {
                url: "http://127.0.0.1:1/sd".into(),
                refresh_interval: PromDuration::from_secs(60),
                http_client,
            }],
            ..Default::default()
        };
        assert_eq!(m.apply(vec![("j".into(), sd)]), 1);
        assert_eq!(SdMetrics::get(&m.metrics().failed_configs), 1);
        let mut rx = m.subscribe();
        let sets = next(&mut rx).await;
        assert!(sets["j"].is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn updates_are_coalesced() {
        let m = Manager::new(Duration::from_secs(5));
        let mut rx = m.subscribe();
        m.apply(vec![("a".into(), SdConfigs::default())]);
        next(&mut rx).await;
        let start = Instant::now();
        for i in 0..10 {
            m.apply(vec![
                ("a".into(), SdConfigs::default()),
                (format!("j{i}"), SdConfigs::default()),
            ]);
        }
        let sets = next(&mut rx).await;
        assert!(
            start.elapsed() >= Duration::from_secs(5),
            "second update came after {:?}",
            start.elapsed()
        );
        assert!(sets.contains_key("j9"));
        assert_eq!(SdMetrics::get(&m.metrics().sent_updates), 2);
    }

    #[tokio::test]
    async fn a_new_provider_is_published_without_waiting_out_the_interval() {
        let m = Manager::new(Duration::from_secs(30));
        let mut rx = m.subscribe();
        m.apply(vec![("a".into(), static_sd(&["a:1"]))]);
        wait_for(&mut rx, |sets| sets.get("a").is_some_and(|g| !g.is_empty())).await;
        let started = std::time::Instant::now();
        m.apply(vec![
            ("a".into(), static_sd(&["a:1"])),
            ("b".into(), static_sd(&["b:1"])),
        ]);
        wait_for(&mut rx, |sets| sets.get("b").is_some_and(|g| !g.is_empty())).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
