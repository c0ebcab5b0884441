//! Issue 5 acceptance (multi-process, loopback): promshard replicas on 127.0.0.2, .3, ...
//! share targets by the HRW ring; targets move between replicas by the make-before-break
//! handoff, so a strict receiver (which rejects a second, different value at a written
//! timestamp, as Thanos does) rejects nothing and no series has a gap.

mod common;

use common::strict_receiver::StrictReceiver;
use common::{Process, free_port, promshard_bin};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const INTERVAL_MS: i64 = 1000;

/// The tests here run several promshard processes each and check 1 s timing: one at a time,
/// or two cores cannot keep every scrape on its slot.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// `n` targets whose values change on every scrape: `hits_total` counts the requests.
async fn start_targets(n: usize) -> Vec<String> {
    let mut addresses = Vec::new();
    for _ in 0..n {
        let hits = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    format!(
                        "# TYPE hits counter\nhits_total {n}\n# TYPE level gauge\nlevel {}\n",
                        n % 7
                    )
                }
            }),
        );
        addresses.push(common::serve_on_loopback(app).await);
    }
    addresses
}

fn write_config(dir: &Path, targets: &[String], receiver: Option<&StrictReceiver>) -> PathBuf {
    write_config_with_interval(dir, targets, receiver, "1s", "800ms")
}

fn write_config_with_interval(
    dir: &Path,
    targets: &[String],
    receiver: Option<&StrictReceiver>,
    interval: &str,
    timeout: &str,
) -> PathBuf {
    let targets = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut config = format!(
        "global:\n  scrape_interval: {interval}\n  scrape_timeout: {timeout}\n\
         scrape_configs:\n  - job_name: churn\n    static_configs:\n      - targets: [{targets}]\n"
    );
    if let Some(receiver) = receiver {
        config.push_str(&format!(
            "remote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 200ms\n    metadata_config:\n      send: false\n",
            receiver.addr
        ));
    }
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).expect("write config");
    path
}

struct Replicas {
    dir: PathBuf,
    config: PathBuf,
    /// Every member that may run, as `--cluster.peers` lists them (their addresses).
    peers: Vec<String>,
    /// Their member ids (the addresses, or pod names with Kubernetes members).
    ids: Vec<String>,
    replication_factor: usize,
    running: BTreeMap<usize, Process>,
    /// Kubernetes mode: the kubeconfig of the fake API server.
    kubeconfig: Option<PathBuf>,
    /// Running replicas that are not members (their endpoint is not ready).
    not_members: BTreeSet<usize>,
    /// More flags and environment for every replica.
    extra_args: Vec<String>,
    extra_env: Vec<(String, String)>,
    /// How the test reaches the replicas' APIs (`http`, or `https` with its client).
    scheme: &'static str,
    client: reqwest::Client,
}

impl Replicas {
    fn new(dir: &Path, config: PathBuf, count: usize, replication_factor: usize) -> Replicas {
        let port = free_port();
        let peers: Vec<String> = (0..count)
            .map(|i| format!("127.0.0.{}:{port}", i + 2))
            .collect();
        Replicas {
            dir: dir.to_path_buf(),
            config,
            ids: peers.clone(),
            peers,
            replication_factor,
            running: BTreeMap::new(),
            kubeconfig: None,
            not_members: BTreeSet::new(),
            extra_args: Vec::new(),
            extra_env: Vec::new(),
            scheme: "http",
            client: reqwest::Client::new(),
        }
    }

    /// `path` on replica `i`'s API.
    fn url(&self, i: usize, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.address(i))
    }

    /// A sample of replica `i`'s `/metrics` (0 when absent).
    async fn metric(&self, i: usize, name: &str) -> f64 {
        let text = self
            .client
            .get(self.url(i, "/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text");
        common::metric_value(&text, name).unwrap_or(0.0)
    }

    fn address(&self, i: usize) -> &str {
        &self.peers[i]
    }

    fn start(&mut self, i: usize) {
        let mut args = vec![
            format!("--config.file={}", self.config.display()),
            format!("--web.listen-address={}", self.peers[i]),
            format!(
                "--storage.path={}",
                self.dir.join(format!("data-{i}")).display()
            ),
            format!("--cluster.replication-factor={}", self.replication_factor),
            "--cluster.handoff-timeout=15s".to_string(),
            "--log.level=debug".to_string(),
        ];
        args.extend(self.extra_args.iter().cloned());
        let mut env = self.extra_env.clone();
        match &self.kubeconfig {
            Some(kubeconfig) => {
                args.push("--cluster.peers=kubernetes".to_string());
                args.push("--cluster.kubernetes.service=promshard".to_string());
                args.push(format!("--cluster.advertise-address={}", self.ids[i]));
                env.push(("KUBECONFIG".to_string(), kubeconfig.display().to_string()));
            }
            None => args.push(format!("--cluster.peers={}", self.peers.join(","))),
        }
        let process = Process::spawn_with_env(
            &format!("replica {i}"),
            promshard_bin(),
            &args,
            &env,
            &self.dir.join(format!("replica-{i}.log")),
        );
        self.running.insert(i, process);
    }

    fn terminate(&mut self, i: usize) {
        let mut process = self.running.remove(&i).expect("running replica");
        let status = process.terminate(Duration::from_secs(30));
        assert!(
            status.success(),
            "replica {i} exited with {status}; log:\n{}",
            process.log_text()
        );
    }

    /// Every replica's log lines about handoffs and takeovers, for a failure message.
    fn handoff_log_lines(&self) -> String {
        let mut out = String::new();
        for (i, process) in &self.running {
            for line in process.log_text().lines().filter(|l| {
                let lower = l.to_ascii_lowercase();
                lower.contains("handoff")
                    || lower.contains("take")
                    || lower.contains("release")
                    || l.contains("level=warn")
                    || l.contains("level=error")
            }) {
                out.push_str(&format!("replica {i}: {line}\n"));
            }
        }
        out
    }

    fn check_running(&mut self) {
        for process in self.running.values_mut() {
            if let Err(e) = process.check_running() {
                panic!("{e}");
            }
        }
    }

    /// Each running replica's loops: loop key → how it scrapes (`write`, `shadow`, ...), and
    /// whether each replica's loops are exactly the targets it owns in its own view.
    async fn scraping(&self) -> (BTreeMap<usize, BTreeMap<String, String>>, bool) {
        let mut all = BTreeMap::new();
        let mut as_owned = true;
        for &i in self.running.keys() {
            let url = self.url(i, "/api/v1/cluster/targets");
            let Ok(response) = self.client.get(&url).send().await else {
                as_owned = false;
                continue;
            };
            let Ok(body) = response.json::<Value>().await else {
                as_owned = false;
                continue;
            };
            let rows = body["targets"].as_array().cloned().unwrap_or_default();
            let mut loops = BTreeMap::new();
            for row in &rows {
                let owned = row["owners"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|m| m.as_str() == Some(self.ids[i].as_str())));
                let scraping = row["scraping"].as_str();
                if owned != scraping.is_some() {
                    as_owned = false;
                }
                if scraping == Some("write") && row["health"] == "down" {
                    panic!("replica {i} cannot scrape a target: {row}");
                }
                if let (Some(key), Some(how)) = (row["loop_key"].as_str(), scraping) {
                    loops.insert(key.to_string(), how.to_string());
                }
            }
            all.insert(i, loops);
        }
        (all, as_owned)
    }

    /// Waits until every running replica sees all running replicas as members, scrapes
    /// exactly the targets it owns, none in shadow, and all `targets` loops are scraped
    /// `replication_factor` times.
    async fn wait_steady(&mut self, targets: usize, timeout: Duration) {
        let start = Instant::now();
        loop {
            self.check_running();
            let mut views_agree = true;
            for &i in self.running.keys() {
                let url = self.url(i, "/api/v1/cluster/state");
                let members = match self.client.get(&url).send().await {
                    Ok(response) => response
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|b| b["members"].as_array().map(Vec::len)),
                    Err(_) => None,
                };
                let expected = self
                    .running
                    .keys()
                    .filter(|r| !self.not_members.contains(r))
                    .count();
                views_agree &= members == Some(expected);
            }
            let (scraping, as_owned) = self.scraping().await;
            let mut count: BTreeMap<&String, usize> = BTreeMap::new();
            let mut shadows = 0;
            for loops in scraping.values() {
                for (key, how) in loops {
                    if how == "shadow" {
                        shadows += 1;
                    } else {
                        *count.entry(key).or_default() += 1;
                    }
                }
            }
            let steady = views_agree
                && as_owned
                && scraping.len() == self.running.len()
                && shadows == 0
                && count.len() == targets
                && count.values().all(|&c| c == self.replication_factor)
                && self
                    .not_members
                    .iter()
                    .all(|r| scraping.get(r).is_none_or(BTreeMap::is_empty));
            if steady {
                return;
            }
            let last = format!(
                "views agree: {views_agree}, scraping as owned: {as_owned}, {} replicas answered, {} loops scraped, {shadows} shadows, counts {:?}",
                scraping.len(),
                count.len(),
                count.values().collect::<BTreeSet<_>>()
            );
            assert!(
                start.elapsed() < timeout,
                "not steady within {timeout:?}: {last}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A kubeconfig for the fake API server at `url`, namespace `monitoring`.
fn write_kubeconfig(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\nusers:\n- name: test\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: test\n    namespace: monitoring\ncurrent-context: fake\n"
        ),
    )
    .expect("write kubeconfig");
    path
}

/// Acceptance 1: with 3 replicas the owned target sets are disjoint and cover all 60 targets;
/// with R=2 every target has exactly 2 scrapers. Also: `/api/v1/targets` lists only a
/// replica's own targets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_sixty_targets() {
    let _serial = SERIAL.lock().await;
    for replication_factor in [1, 2] {
        let dir = tempfile::tempdir().expect("tempdir");
        let targets = start_targets(60).await;
        let config = write_config(dir.path(), &targets, None);
        let mut replicas = Replicas::new(dir.path(), config, 3, replication_factor);
        for i in 0..3 {
            replicas.start(i);
        }
        replicas.wait_steady(60, Duration::from_secs(30)).await;
        // Every replica lists its own scraped targets, and they add up.
        let mut listed = 0;
        for i in 0..3 {
            let url = format!("http://{}/api/v1/targets?state=active", replicas.address(i));
            let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            let n = body["data"]["activeTargets"].as_array().unwrap().len();
            assert!(n > 0, "replica {i} lists no targets");
            listed += n;
        }
        assert_eq!(listed, 60 * replication_factor);
        // `scope=cluster` merges every member's answer: each target once, with its owners.
        let url = format!(
            "http://{}/api/v1/targets?scope=cluster",
            replicas.address(1)
        );
        let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        let merged = body["data"]["activeTargets"].as_array().unwrap();
        assert_eq!(merged.len(), 60, "{body}");
        assert!(body["data"]["warnings"].is_null(), "{body}");
        for target in merged {
            let owners = target["owners"].as_array().unwrap();
            assert_eq!(owners.len(), replication_factor, "{target}");
            assert!(
                owners.iter().all(|o| replicas
                    .peers
                    .iter()
                    .any(|p| Some(p.as_str()) == o.as_str())),
                "{target}"
            );
        }
        for i in 0..3 {
            let members = replicas.metric(i, "promshard_cluster_members").await;
            assert_eq!(members, 3.0, "replica {i}");
            let owned = replicas.metric(i, "promshard_cluster_owned_targets").await;
            assert!(owned > 0.0, "replica {i} owns nothing");
        }
    }
}

/// Acceptance 2: scale out 3 → 4 and in 4 → 3 (SIGTERM, graceful leave) while scraping every
/// second targets whose values change on every scrape: the strict receiver rejects nothing,
/// and no series has a gap longer than one interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_out_and_in_without_gaps_or_rejections() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = StrictReceiver::start().await;
    receiver.accept_identical_repeats();
    let targets = start_targets(60).await;
    let config = write_config(dir.path(), &targets, Some(&receiver));
    let mut replicas = Replicas::new(dir.path(), config, 4, 1);
    for i in 0..3 {
        replicas.start(i);
    }
    replicas.wait_steady(60, Duration::from_secs(30)).await;
    // Start the check after the first steady state plus a slot.
    let window_start = now_ms() + INTERVAL_MS;
    tokio::time::sleep(Duration::from_secs(4)).await;

    replicas.start(3);
    replicas.wait_steady(60, Duration::from_secs(30)).await;
    let (with_four, _) = replicas.scraping().await;
    let taken = with_four.get(&3).map_or(0, BTreeMap::len);
    assert!(taken > 0, "the fourth replica took no targets");
    // Every target it took was handed over by its scraper, none by timeout.
    let confirmed = replicas
        .metric(3, "promshard_cluster_handoffs_confirmed_total")
        .await;
    let timed_out = replicas
        .metric(3, "promshard_cluster_handoffs_timed_out_total")
        .await;
    assert_eq!((confirmed, timed_out), (taken as f64, 0.0));
    tokio::time::sleep(Duration::from_secs(4)).await;

    replicas.terminate(3);
    replicas.wait_steady(60, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let window_end = now_ms() - 3 * INTERVAL_MS;
    // Let the last samples arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    replicas.check_running();

    // hits_total, level and the 5 synthetic series of each target.
    check_no_gaps(&receiver, window_start, window_end, 60 * 7);
}

/// Checks the strict receiver: no rejections, and every series of the job has a sample at
/// every slot from `window_start` to `window_end`.
fn check_no_gaps(receiver: &StrictReceiver, window_start: i64, window_end: i64, series: usize) {
    receiver.with_store(|store| {
        assert_eq!(
            store.violation_count, 0,
            "rejections: {:#?}",
            store.violations
        );
        let mut checked = 0;
        for (key, samples) in &store.series {
            if !key.contains("job=\"churn\"") {
                continue;
            }
            let in_window: Vec<i64> = samples
                .iter()
                .map(|s| s.0)
                .filter(|&t| t >= window_start - INTERVAL_MS && t <= window_end + INTERVAL_MS)
                .collect();
            assert!(
                in_window.first().is_some_and(|&t| t <= window_start)
                    && in_window.last().is_some_and(|&t| t >= window_end),
                "{key}: samples do not span the window {window_start}..{window_end}: {:?}..{:?}",
                in_window.first(),
                in_window.last()
            );
            for pair in in_window.windows(2) {
                assert_eq!(
                    pair[1] - pair[0],
                    INTERVAL_MS,
                    "{key}: gap between {} and {}",
                    pair[0],
                    pair[1]
                );
            }
            checked += 1;
        }
        assert_eq!(checked, series, "series checked");
    });
}

/// Acceptance 3: a rolling restart (SIGTERM, start again) of every replica in turn: no gap
/// longer than one interval and no rejection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_without_gaps_or_rejections() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = StrictReceiver::start().await;
    receiver.accept_identical_repeats();
    let targets = start_targets(30).await;
    let config = write_config(dir.path(), &targets, Some(&receiver));
    let mut replicas = Replicas::new(dir.path(), config, 3, 1);
    for i in 0..3 {
        replicas.start(i);
    }
    replicas.wait_steady(30, Duration::from_secs(30)).await;
    let window_start = now_ms() + INTERVAL_MS;
    for i in 0..3 {
        replicas.terminate(i);
        replicas.wait_steady(30, Duration::from_secs(30)).await;
        replicas.start(i);
        replicas.wait_steady(30, Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let window_end = now_ms() - 3 * INTERVAL_MS;
    tokio::time::sleep(Duration::from_secs(2)).await;
    replicas.check_running();
    check_no_gaps(&receiver, window_start, window_end, 30 * 7);
}

/// Acceptance 4: after `kill -9` of a replica, its targets are scraped by the others again
/// within 2 intervals plus the probe timeout (1s); the measured figure is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_replica_targets_are_taken_over_quickly() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = StrictReceiver::start().await;
    receiver.accept_identical_repeats();
    let targets = start_targets(30).await;
    let config = write_config(dir.path(), &targets, Some(&receiver));
    let mut replicas = Replicas::new(dir.path(), config, 3, 1);
    for i in 0..3 {
        replicas.start(i);
    }
    replicas.wait_steady(30, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // `Process` is killed with SIGKILL when dropped.
    let killed_ms = now_ms();
    drop(replicas.running.remove(&1));
    replicas.wait_steady(30, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    receiver.with_store(|store| {
        assert_eq!(
            store.violation_count, 0,
            "rejections: {:#?}",
            store.violations
        );
        // Per target: the first `up` sample after the kill.
        let mut worst = 0;
        for (key, samples) in &store.series {
            if !key.starts_with("__name__=\"up\"") {
                continue;
            }
            let next = samples
                .iter()
                .map(|s| s.0)
                .find(|&t| t > killed_ms)
                .unwrap_or_else(|| panic!("{key}: not scraped after the kill"));
            worst = worst.max(next - killed_ms);
        }
        eprintln!("targets of the killed replica scraped again after at most {worst} ms");
        let bound = 2 * INTERVAL_MS + 1000;
        assert!(
            worst <= bound,
            "a target waited {worst} ms after the kill (bound {bound} ms)"
        );
    });
}

/// Issue 6 acceptance 3: members come from the EndpointSlices of the `promshard` Service on
/// the fake API server (`--cluster.peers=kubernetes`, ids are pod names); marking one
/// endpoint not ready moves its targets to the others by handoff: no gap, no rejection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_members_not_ready_endpoint_hands_over() {
    let _serial = SERIAL.lock().await;
    use common::fake_k8s::{Backend, FakeK8s, Kind, endpoint_slice};
    let k8s = FakeK8s::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = write_kubeconfig(dir.path(), &k8s.url());
    let receiver = StrictReceiver::start().await;
    receiver.accept_identical_repeats();
    let targets = start_targets(30).await;
    let config = write_config(dir.path(), &targets, Some(&receiver));
    let mut replicas = Replicas::new(dir.path(), config, 3, 1);
    replicas.kubeconfig = Some(kubeconfig);
    replicas.ids = (0..3).map(|i| format!("promshard-{i}")).collect();
    let slice = |not_ready: Option<usize>| {
        let mut slice =
            endpoint_slice("monitoring", "promshard-x7k2p", "promshard").port("web", 9090, "TCP");
        for i in 0..3 {
            let mut backend =
                Backend::new(&format!("127.0.0.{}", i + 2)).pod(&format!("promshard-{i}"));
            if not_ready == Some(i) {
                backend = backend.not_ready();
            }
            slice = slice.backend(backend);
        }
        slice.build()
    };
    k8s.apply(Kind::EndpointSlice, slice(None));
    for i in 0..3 {
        replicas.start(i);
    }
    replicas.wait_steady(30, Duration::from_secs(30)).await;
    let window_start = now_ms() + INTERVAL_MS;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (before, _) = replicas.scraping().await;
    assert!(
        before.get(&1).is_some_and(|loops| !loops.is_empty()),
        "promshard-1 scraped nothing"
    );

    // promshard-1 fails its readiness probe: still a peer, no longer an owner.
    k8s.apply(Kind::EndpointSlice, slice(Some(1)));
    replicas.not_members.insert(1);
    replicas.wait_steady(30, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let window_end = now_ms() - 3 * INTERVAL_MS;
    tokio::time::sleep(Duration::from_secs(2)).await;
    replicas.check_running();
    let confirmed = replicas
        .metric(0, "promshard_cluster_handoffs_confirmed_total")
        .await
        + replicas
            .metric(2, "promshard_cluster_handoffs_confirmed_total")
            .await;
    assert!(confirmed >= 1.0, "no handoff confirmed");
    check_no_gaps(&receiver, window_start, window_end, 30 * 7);
}

/// Series of target `i` in the balancing test: 20..=1,180.
fn target_series(i: u64) -> u64 {
    20 + (i * 37) % 30 * 40
}

/// Issue 7 (balancing, multi-process): 3 replicas, 30 targets of very different sizes,
/// `--shard.max-series` set: once the series counts are published, every replica holds
/// within 10% of the mean series (HRW alone is far off), targets moved by handoff (no gap,
/// no rejection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_aware_balancing_evens_out_replicas() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = StrictReceiver::start().await;
    receiver.accept_identical_repeats();
    // Sizes 20..=1,180 series (plus the 5 synthetic ones).
    let mut targets = Vec::new();
    for i in 0..30u64 {
        let series = target_series(i);
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || async move {
                let mut body = String::from("# TYPE s gauge\n");
                for k in 0..series {
                    body.push_str(&format!("s{{k=\"{k}\"}} {k}\n"));
                }
                body
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind target");
        targets.push(listener.local_addr().expect("address").to_string());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }
    let config = write_config(dir.path(), &targets, Some(&receiver));
    let mut replicas = Replicas::new(dir.path(), config, 3, 1);
    replicas.extra_args = vec!["--shard.max-series=1000000".to_string()];
    for i in 0..3 {
        replicas.start(i);
    }
    replicas.wait_steady(30, Duration::from_secs(30)).await;
    let window_start = now_ms() + INTERVAL_MS;
    // Series counts are published after the first scrapes; the placement then settles.
    let start = Instant::now();
    let client = reqwest::Client::new();
    let (ratio, loads) = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        replicas.wait_steady(30, Duration::from_secs(30)).await;
        let mut loads = Vec::new();
        for i in 0..3 {
            let url = format!("http://{}/api/v1/cluster/targets", replicas.address(i));
            let body: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
            let load: u64 = body["targets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| {
                    t["scraping"] == "write"
                        || t["scraping"]
                            .as_str()
                            .is_some_and(|s| s.starts_with("after:"))
                })
                .map(|t| t["series"].as_u64().unwrap_or(0))
                .sum();
            loads.push(load);
        }
        let mean = loads.iter().sum::<u64>() as f64 / 3.0;
        let ratio = *loads.iter().max().unwrap() as f64 / mean;
        if ratio <= 1.10 || start.elapsed() > Duration::from_secs(30) {
            break (ratio, loads);
        }
    };
    assert!(ratio <= 1.10, "max/mean series {ratio:.3}: {loads:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let window_end = now_ms() - 3 * INTERVAL_MS;
    tokio::time::sleep(Duration::from_secs(2)).await;
    replicas.check_running();
    // Every series of every target (s{k} plus the 5 synthetic ones) at every slot.
    let series: u64 = (0..30u64).map(|i| target_series(i) + 5).sum();
    check_no_gaps(&receiver, window_start, window_end, series as usize);
}

/// Issue 7 acceptance 1, the seed walk-through (MISSION.md): 6 targets × 10,045 series,
/// `--shard.max-series=30000`, one replica at first: desired replicas becomes 3 and the fake
/// API server receives the scale patch to 3; once replicas 2 and 3 run, each owns 2 targets
/// (20,090 series) and the receiver gets every series at every interval, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_walk_through_scales_to_three() {
    let _serial = SERIAL.lock().await;
    use common::fake_k8s::{FakeK8s, Kind, statefulset};
    const SERIES: u64 = 10_045;
    let k8s = FakeK8s::start().await;
    k8s.apply(
        Kind::StatefulSet,
        statefulset("monitoring", "promshard", 1, &[("app", "promshard")]),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = write_kubeconfig(dir.path(), &k8s.url());
    let receiver = StrictReceiver::start().await;
    receiver.accept_identical_repeats();
    let targets = common::serve_fixed_targets(6, SERIES).await;
    // 10,045-series scrapes in a debug build on two cores: 2 s slots leave headroom.
    let config = write_config_with_interval(dir.path(), &targets, Some(&receiver), "2s", "1500ms");
    let mut replicas = Replicas::new(dir.path(), config, 3, 1);
    replicas.extra_args = vec![
        "--shard.max-series=30000".to_string(),
        "--shard.statefulset=promshard".to_string(),
        "--shard.max-replicas=10".to_string(),
    ];
    replicas.extra_env = vec![("KUBECONFIG".to_string(), kubeconfig.display().to_string())];
    replicas.start(0);
    // The only replica measures 60,270 series and asks for 3.
    let start = Instant::now();
    loop {
        replicas.check_running();
        let replicas_now = k8s
            .get(Kind::StatefulSet, "monitoring", "promshard")
            .and_then(|s| s["spec"]["replicas"].as_u64());
        if replicas_now == Some(3) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "no scale patch to 3; statefulset replicas {replicas_now:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let desired = replicas
        .metric(0, "promshard_cluster_desired_replicas")
        .await;
    assert_eq!(desired, 3.0);
    // Each target's series are published after and before metric relabeling.
    let start = Instant::now();
    loop {
        let body: Value = reqwest::get(format!(
            "http://{}/api/v1/cluster/targets",
            replicas.address(0)
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let rows = body["targets"].as_array().cloned().unwrap_or_default();
        if rows.len() == 6
            && rows
                .iter()
                .all(|r| r["series"] == SERIES && r["series_scraped"] == SERIES)
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The StatefulSet controller's part: replicas 2 and 3 start.
    replicas.start(1);
    replicas.start(2);
    replicas.wait_steady(6, Duration::from_secs(40)).await;
    // Balancing settles on 2 targets each.
    let start = Instant::now();
    loop {
        replicas.wait_steady(6, Duration::from_secs(40)).await;
        let (scraping, _) = replicas.scraping().await;
        let counts: Vec<usize> = (0..3)
            .map(|i| scraping.get(&i).map_or(0, |l| l.len()))
            .collect();
        if counts == [2, 2, 2] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "targets per replica {counts:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The cluster overview agrees (peers' figures are as fresh as the last probe).
    let start = Instant::now();
    loop {
        let overview: Value =
            reqwest::get(format!("http://{}/api/v1/cluster", replicas.address(1)))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let members = overview["members"].as_array().cloned().unwrap_or_default();
        let settled = overview["views_agree"] == true
            && overview["desired_replicas"] == 3
            && overview["actual_replicas"] == 3
            && members.len() == 3
            && members
                .iter()
                .all(|m| m["targets"] == 2 && m["series"] == 2 * SERIES);
        if settled {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "cluster overview: {overview}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every series at every interval, once: two whole slots after the placement settled,
    // checked once the remote-write queues have delivered them (they lag under load).
    let from = now_ms() + 2 * INTERVAL_MS;
    let to = from + 4 * INTERVAL_MS;
    let start = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let delivered = receiver.with_store(|store| {
            let series: Vec<_> = store
                .series
                .iter()
                .filter(|(k, _)| k.starts_with("__name__=\"metric\""))
                .collect();
            series.len() as u64 == 6 * SERIES
                && series
                    .iter()
                    .all(|(_, v)| v.last().is_some_and(|s| s.0 > to))
        });
        if delivered {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not every series delivered past {to}"
        );
    }
    replicas.check_running();
    receiver.with_store(|store| {
        assert_eq!(
            store.violation_count, 0,
            "rejections: {:#?}",
            store.violations
        );
        let series: Vec<(&String, &Vec<(i64, u64)>)> = store
            .series
            .iter()
            .filter(|(k, _)| k.starts_with("__name__=\"metric\""))
            .collect();
        assert_eq!(series.len() as u64, 6 * SERIES, "series received");
        // Series without one sample per slot, counted by target, with one example.
        let mut gaps: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for (key, samples) in series {
            let in_window = samples.iter().filter(|s| s.0 > from && s.0 <= to).count();
            if in_window != 2 {
                let instance = key
                    .split(',')
                    .find(|l| l.starts_with("instance="))
                    .unwrap_or_default()
                    .to_string();
                let near: Vec<i64> = samples
                    .iter()
                    .map(|s| s.0)
                    .filter(|t| *t > from - 6 * INTERVAL_MS && *t <= to + 6 * INTERVAL_MS)
                    .collect();
                let entry = gaps.entry(instance).or_insert((0, String::new()));
                entry.0 += 1;
                entry.1 = format!("{in_window} samples in ({from}, {to}]; nearby: {near:?}");
            }
        }
        assert!(
            gaps.is_empty(),
            "series without one sample per interval, by target: {gaps:#?}\n{}",
            replicas.handoff_log_lines()
        );
    });
}

/// Issue 7 acceptance 3: 5 replicas whose series need only 3: after the scale-down delay the
/// first member patches the StatefulSet to 3; the controller's part (SIGTERM to the two
/// highest ordinals, one after the other) drains them through the handoff: no gap longer
/// than one interval, no rejection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_five_to_three_drains_without_gaps() {
    let _serial = SERIAL.lock().await;
    use common::fake_k8s::{FakeK8s, Kind, statefulset};
    const SERIES: u64 = 1_000;
    let k8s = FakeK8s::start().await;
    k8s.apply(
        Kind::StatefulSet,
        statefulset("monitoring", "promshard", 5, &[("app", "promshard")]),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = write_kubeconfig(dir.path(), &k8s.url());
    let receiver = StrictReceiver::start().await;
    receiver.accept_identical_repeats();
    let targets = common::serve_fixed_targets(6, SERIES).await;
    let config = write_config(dir.path(), &targets, Some(&receiver));
    let mut replicas = Replicas::new(dir.path(), config, 5, 1);
    replicas.extra_args = vec![
        "--shard.max-series=2100".to_string(),
        "--shard.statefulset=promshard".to_string(),
        "--shard.scale-down-delay=2s".to_string(),
    ];
    replicas.extra_env = vec![("KUBECONFIG".to_string(), kubeconfig.display().to_string())];
    for i in 0..5 {
        replicas.start(i);
    }
    replicas.wait_steady(6, Duration::from_secs(40)).await;
    let window_start = now_ms() + INTERVAL_MS;
    let start = Instant::now();
    loop {
        replicas.check_running();
        let now = k8s
            .get(Kind::StatefulSet, "monitoring", "promshard")
            .and_then(|s| s["spec"]["replicas"].as_u64());
        if now == Some(3) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "no scale-down patch to 3; replicas {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The StatefulSet controller removes the highest ordinals, one at a time.
    for i in [4, 3] {
        replicas.terminate(i);
        replicas.wait_steady(6, Duration::from_secs(40)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let window_end = now_ms() - 3 * INTERVAL_MS;
    tokio::time::sleep(Duration::from_secs(2)).await;
    replicas.check_running();
    check_no_gaps(
        &receiver,
        window_start,
        window_end,
        (6 * (SERIES + 5)) as usize,
    );
}

/// Issue 11: replicas behind `--web.config.file` (TLS with client certificates restricted to
/// one name, and basic auth) reach each other with `--cluster.peer-config.file`: probes agree
/// on the members, a joining replica's handoffs are released over TLS, and the peer API
/// refuses a client without a certificate or without credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_talk_over_tls_with_client_certificates_and_credentials() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = start_targets(8).await;
    let config = write_config(dir.path(), &targets, None);
    let mut replicas = Replicas::new(dir.path(), config, 2, 1);

    let ca = common::pki::TestCa::new();
    // One server certificate for the StatefulSet, naming every replica's address.
    let hosts: Vec<&str> = replicas
        .peers
        .iter()
        .map(|p| p.rsplit_once(':').expect("host:port").0)
        .collect();
    let server = ca.issue(&hosts);
    let peer = ca.issue(&["peer.promshard"]);
    let (peer_cert, peer_key) = (peer.cert_pem, peer.key_pem);
    let stranger = ca.issue(&["stranger.example"]);
    let (stranger_cert, stranger_key) = (stranger.cert_pem, stranger.key_pem);
    for (name, text) in [
        ("ca.crt", ca.pem()),
        ("server.crt", server.cert_pem),
        ("server.key", server.key_pem),
        ("peer.crt", peer_cert.clone()),
        ("peer.key", peer_key.clone()),
        ("peer-password", "peer-password\n".to_string()),
        // Made with glibc's crypt (libxcrypt): crypt.crypt("peer-password",
        // crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)).
        (
            "web.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  client_allowed_sans: [peer.promshard]\nbasic_auth_users:\n  peer: $2b$10$Dz/R1orHM6CZAXe2c0kAdeOs3eLSy6MDVkPU4mUIPWEcLkmEzdU7a\n".to_string(),
        ),
        (
            "peers.yml",
            "tls_config:\n  ca_file: ca.crt\n  cert_file: peer.crt\n  key_file: peer.key\nbasic_auth:\n  username: peer\n  password_file: peer-password\n".to_string(),
        ),
    ] {
        std::fs::write(dir.path().join(name), text).expect("write PKI file");
    }
    replicas.extra_args = vec![
        format!("--web.config.file={}", dir.path().join("web.yml").display()),
        format!(
            "--cluster.peer-config.file={}",
            dir.path().join("peers.yml").display()
        ),
    ];
    let ca_cert = reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("CA PEM");
    let client_with = |identity: Option<(&str, &str)>, password: Option<&str>| {
        let mut builder = reqwest::Client::builder().tls_certs_only([ca_cert.clone()]);
        if let Some((cert, key)) = identity {
            let pem = format!("{cert}{key}");
            builder =
                builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
        }
        if let Some(password) = password {
            builder = builder.default_headers(common::basic_auth_headers("peer", password));
        }
        builder.build().expect("client")
    };
    replicas.scheme = "https";
    replicas.client = client_with(Some((&peer_cert, &peer_key)), Some("peer-password"));

    replicas.start(0);
    replicas
        .wait_steady(targets.len(), Duration::from_secs(40))
        .await;
    replicas.start(1);
    replicas
        .wait_steady(targets.len(), Duration::from_secs(40))
        .await;
    let released = replicas
        .metric(0, "promshard_cluster_handoffs_released_total")
        .await;
    let confirmed = replicas
        .metric(1, "promshard_cluster_handoffs_confirmed_total")
        .await;
    assert!(
        released > 0.0 && released == confirmed,
        "replica 0 released {released} targets, replica 1 had {confirmed} confirmed\n{}",
        replicas.handoff_log_lines()
    );
    for (i, process) in &replicas.running {
        let log = process.log_text();
        assert!(
            !log.contains("handoff request failed") && !log.contains("TLS handshake failed"),
            "replica {i}:\n{log}"
        );
    }

    // The peer API is closed to a client without credentials, with a certificate of a name
    // not allowed, or without a certificate.
    let state = replicas.url(0, "/api/v1/cluster/state");
    let no_password = client_with(Some((&peer_cert, &peer_key)), None);
    for path in [
        "/api/v1/cluster/state",
        "/api/v1/cluster/targets",
        "/",
        "/targets",
        "/api/v1/targets",
        "/api/v1/status/config",
        "/metrics",
        "/-/healthy",
        "/-/ready",
    ] {
        let url = replicas.url(0, path);
        let response = no_password
            .get(&url)
            .send()
            .await
            .expect("GET without credentials");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::UNAUTHORIZED,
            "{url}"
        );
        assert_eq!(response.headers()["www-authenticate"], "Basic", "{url}");
    }
    let response = no_password
        .post(replicas.url(0, "/-/reload"))
        .send()
        .await
        .expect("POST without credentials");
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    let wrong_password = client_with(Some((&peer_cert, &peer_key)), Some("guess"));
    let response = wrong_password
        .get(&state)
        .send()
        .await
        .expect("GET with a wrong password");
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    for client in [
        client_with(Some((&stranger_cert, &stranger_key)), Some("peer-password")),
        client_with(None, Some("peer-password")),
    ] {
        assert!(client.get(&state).send().await.is_err(), "{state} answered");
    }
    let plain = format!("http://{}/api/v1/cluster/state", replicas.address(0));
    assert!(reqwest::get(&plain).await.is_err(), "{plain} answered");

    // A graceful leave hands the targets back over the same TLS.
    replicas.terminate(1);
    replicas
        .wait_steady(targets.len(), Duration::from_secs(40))
        .await;
}
