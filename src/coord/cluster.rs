//! One replica's part of the cluster (DESIGN.md "The ring"): its view of the live members,
//! which active targets it owns, and the make-before-break handoff that moves a target from
//! the replica scraping it to its owner with each slot written exactly once.
//!
//! - Members: the peers `--cluster.peers` names (re-resolved every `resolve_interval`) that
//!   answered their last probe (`GET /api/v1/cluster/state` every `probe_interval`) and are not
//!   leaving; a peer counts from its first answer and is gone after `probe_failures` failed
//!   probes in a row. This replica counts itself unless it is leaving. Nothing is started
//!   before every peer was probed once and a start-up grace (`probe_failures` probe intervals
//!   plus the probe timeout) has passed, so replicas started together see each other first.
//! - Each probe answer carries a version of the peer's list of scraped loops; the list itself
//!   (`GET /api/v1/cluster/scraping`) is fetched when the version changes.
//! - After each probe round every active target is reconciled: an owner (top R of the HRW
//!   ring) that does not scrape it starts at once when no other live member scrapes it;
//!   otherwise it shadow-scrapes (writes nothing), and after its first shadow scrape asks the
//!   scraper to hand over (`POST /api/v1/cluster/handoff`). The scraper ends its loop after
//!   the scrape in progress, without stale markers, and answers with the last slot it wrote;
//!   the owner writes the slots after it. A scraper that does not answer within
//!   `handoff_wait` is taken over anyway (at worst one slot is written twice, with the same
//!   timestamp). A replica never stops scraping a target because its view changed: only a
//!   handoff or the target leaving discovery (then with stale markers) ends a loop.
//! - Graceful leave ([`Cluster::leave`]): the replica reports `leaving`, so peers drop it from
//!   their views and take its targets over; it waits until every loop was handed over or
//!   `handoff_timeout` passed.

use super::kubernetes::KubernetesPeers;
use super::members::{PeerSource, resolve};
use super::ring::Ring;
use crate::scrape::Manager;
use crate::scrape::scrape_loop::Writing;
use crate::sd::dns::ResolverSource;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Settings of the cluster, from the `--cluster.*` flags.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// This replica's member id (`--cluster.advertise-address`).
    pub advertise: String,
    pub peers: Vec<PeerSource>,
    pub replication_factor: usize,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    /// Failed probes in a row after which a peer is gone.
    pub probe_failures: u32,
    pub resolve_interval: Duration,
    /// How long a graceful leave waits for its targets to be taken over.
    pub handoff_timeout: Duration,
    pub resolver: ResolverSource,
    /// With a `kubernetes` peer source: the Service whose EndpointSlices list the members,
    /// its namespace (default: the client's) and the port peers listen on.
    pub kubernetes_service: Option<String>,
    pub kubernetes_namespace: Option<String>,
    pub peer_port: u16,
    /// Series-aware balancing ([`super::balance`]) when > 0 (with one owner per target):
    /// the most series a member should hold, and the balance tolerance ε.
    pub max_series: u64,
    pub balance_epsilon: f64,
    /// Autoscaling bounds, and the StatefulSet to scale (by the first member).
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub statefulset: Option<String>,
    pub scale_down_delay: Duration,
    /// How peers' APIs are reached: scheme, TLS and credentials.
    pub peer_client: crate::config::peer::PeerClientConfig,
}

/// `GET /api/v1/cluster/state`: what a peer probe learns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerState {
    pub member: String,
    pub leaving: bool,
    /// The members this replica sees (itself included unless leaving), sorted.
    pub members: Vec<String>,
    /// [`Ring::view_hash`] of those members, in hex.
    pub view_hash: String,
    /// Changes whenever the set of loops this replica runs changes (hex).
    pub scraping_version: String,
}

/// `GET /api/v1/cluster/scraping`: the loops a replica runs (loop keys in hex).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerScraping {
    pub member: String,
    pub version: String,
    pub loops: Vec<String>,
    /// Series of each loop's last successful scrape (after metric relabeling), in `loops`
    /// order; what balancing weighs targets by.
    #[serde(default)]
    pub series: Vec<u64>,
    /// The same before metric relabeling.
    #[serde(default)]
    pub series_scraped: Vec<u64>,
}

/// `POST /api/v1/cluster/handoff`: `from` asks for the loop `loop_key` (hex).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HandoffRequest {
    pub from: String,
    pub loop_key: String,
}

/// The answer: `released` when this replica scraped the target and has stopped; then
/// `last_written` is the last slot it wrote (or covered), `None` if it wrote none.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HandoffAnswer {
    pub released: bool,
    pub last_written: Option<i64>,
}

pub fn hex(value: u64) -> String {
    format!("{value:016x}")
}

pub fn parse_hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text, 16).ok()
}

/// `GET /api/v1/cluster`.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterOverview {
    pub member: String,
    pub view_hash: String,
    /// Every live owner reports the same view hash as this replica.
    pub views_agree: bool,
    pub members: Vec<MemberOverview>,
    /// `--shard.max-series` (0: balancing off) and the last placement's load cap.
    pub max_series: u64,
    pub cap: u64,
    /// Loop keys of targets heavier than the cap (scraped by their HRW owner).
    pub too_big: Vec<String>,
    pub desired_replicas: u64,
    pub actual_replicas: u64,
    pub handoffs_in_progress: usize,
    pub total_series: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemberOverview {
    pub id: String,
    pub address: String,
    /// Answers probes.
    pub up: bool,
    pub leaving: bool,
    /// Owns targets in this replica's view.
    pub owner: bool,
    pub view_hash: String,
    /// Loops it runs and their series.
    pub targets: usize,
    pub series: u64,
}

/// Counters and gauges for `/metrics`.
#[derive(Debug, Default)]
pub struct ClusterMetrics {
    pub members: AtomicU64,
    pub view_hash: AtomicU64,
    pub owned_targets: AtomicU64,
    pub owned_series: AtomicU64,
    pub handoffs_started: AtomicU64,
    pub handoffs_confirmed: AtomicU64,
    pub handoffs_timed_out: AtomicU64,
    /// Loops this replica handed to a peer.
    pub handoffs_released: AtomicU64,
    /// Replicas the series need (`promshard_cluster_desired_replicas`), and the series
    /// counted for it.
    pub desired_replicas: AtomicU64,
    pub total_series: AtomicU64,
}

#[derive(Debug)]
struct Peer {
    /// Answered its last probe, or failed fewer than `probe_failures` in a row since.
    up: bool,
    failures: u32,
    leaving: bool,
    scraping_version: String,
    scraping: Arc<HashSet<u64>>,
    /// Series per loop it scrapes (balancing weights).
    series: Arc<HashMap<u64, u64>>,
    /// Its view hash at the last probe.
    view_hash: String,
}

/// A scraping list's version and its (loop, series) pairs.
type VersionedLoops = (u64, Vec<(u64, u64)>);

/// A peer's scraping list: its version, the loops, their series counts.
type ScrapingList = (String, HashSet<u64>, HashMap<u64, u64>);

/// A takeover this replica runs: its shadow loop, and from whom.
#[derive(Debug)]
struct Takeover {
    from: String,
    started: Instant,
    requested: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Candidate {
    address: String,
    member: bool,
}

struct State {
    /// Resolved peers (never this replica): id → where to reach it and whether its source
    /// lets it own targets (a not-ready Kubernetes endpoint is probed, not an owner).
    candidates: BTreeMap<String, Candidate>,
    /// Whether this replica's source lists it as an owner (always, but for Kubernetes).
    self_member: bool,
    peers: HashMap<String, Peer>,
    ring: Arc<Ring>,
    /// Every candidate was probed once.
    probed_all: bool,
    takeovers: HashMap<u64, Takeover>,
    /// With balancing: the owner of each loop as the last reconcile placed it.
    balanced_owners: Arc<HashMap<u64, String>>,
    /// The last placement's load cap and targets over it (loop keys).
    balance_cap: u64,
    too_big: Vec<u64>,
}

pub struct Cluster {
    options: ClusterOptions,
    scrape: Arc<Manager>,
    client: crate::http_client::HttpClient,
    state: Mutex<State>,
    leaving: AtomicBool,
    pub metrics: ClusterMetrics,
    ring_tx: watch::Sender<Arc<Ring>>,
    /// This cluster, for the tasks it spawns.
    me: std::sync::Weak<Cluster>,
    started: Instant,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("member", &self.options.advertise)
            .finish()
    }
}

impl Cluster {
    /// Starts resolving, probing and reconciling in the background.
    pub fn start(options: ClusterOptions, scrape: Arc<Manager>) -> Result<Arc<Cluster>, String> {
        let client = crate::http_client::build(
            &options.peer_client.http,
            concat!("promshard/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(|e| format!("cannot build the peer HTTP client: {e}"))?;
        let ring = Arc::new(Ring::new([options.advertise.clone()]));
        let (ring_tx, _) = watch::channel(ring.clone());
        let cluster = Arc::new_cyclic(|me| Cluster {
            me: me.clone(),
            started: Instant::now(),
            options,
            scrape,
            client,
            state: Mutex::new(State {
                candidates: BTreeMap::new(),
                self_member: true,
                peers: HashMap::new(),
                ring,
                probed_all: false,
                takeovers: HashMap::new(),
                balanced_owners: Arc::default(),
                balance_cap: 0,
                too_big: Vec::new(),
            }),
            leaving: AtomicBool::new(false),
            metrics: ClusterMetrics::default(),
            ring_tx,
        });
        tokio::spawn(Self::run(Arc::downgrade(&cluster)));
        Ok(cluster)
    }

    pub fn member(&self) -> &str {
        &self.options.advertise
    }

    pub fn replication_factor(&self) -> usize {
        self.options.replication_factor
    }

    /// The current view of the members.
    pub fn ring(&self) -> Arc<Ring> {
        self.state.lock().ring.clone()
    }

    /// Follows view changes.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Ring>> {
        self.ring_tx.subscribe()
    }

    /// The active targets and this replica's loops ([`Manager::targets`]).
    pub fn scrape_targets(&self) -> Vec<crate::scrape::manager::TargetEntry> {
        self.scrape.targets()
    }

    pub fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::SeqCst)
    }

    /// The probe answer.
    pub fn peer_state(&self) -> PeerState {
        let ring = self.ring();
        PeerState {
            member: self.options.advertise.clone(),
            leaving: self.is_leaving(),
            members: ring.members().to_vec(),
            view_hash: hex(ring.view_hash()),
            scraping_version: hex(self.scraping_version().0),
        }
    }

    /// The loops run here with their series counts, and a version that changes when the set
    /// changes or a count moves to another balancing bucket (not on every scrape).
    fn scraping_version(&self) -> VersionedLoops {
        self.scraping_list().0
    }

    /// [`Self::scraping_version`], plus each loop's series before metric relabeling.
    fn scraping_list(&self) -> (VersionedLoops, Vec<u64>) {
        let mut entries: Vec<(u64, u64, u64)> = self
            .scrape
            .targets()
            .into_iter()
            .filter(|t| t.writing.is_some())
            .map(|t| (t.loop_key, t.series, t.series_scraped))
            .collect();
        entries.sort_unstable();
        let scraped = entries.iter().map(|e| e.2).collect();
        let loops: Vec<(u64, u64)> = entries.into_iter().map(|e| (e.0, e.1)).collect();
        let mut bytes = Vec::with_capacity(loops.len() * 16);
        for (key, series) in &loops {
            bytes.extend_from_slice(&key.to_le_bytes());
            bytes.extend_from_slice(&super::balance::bucket(*series).to_le_bytes());
        }
        ((xxhash_rust::xxh3::xxh3_64(&bytes), loops), scraped)
    }

    pub fn peer_scraping(&self) -> PeerScraping {
        let ((version, loops), series_scraped) = self.scraping_list();
        PeerScraping {
            member: self.options.advertise.clone(),
            version: hex(version),
            series_scraped,
            series: loops.iter().map(|(_, s)| *s).collect(),
            loops: loops.into_iter().map(|(k, _)| hex(k)).collect(),
        }
    }

    /// A peer takes a target over: release the loop (after its scrape in progress) and say
    /// what it last wrote. A shadow loop (a takeover of our own) is not handed on: it is
    /// dropped and the peer told we do not scrape it, so it asks the real scraper.
    pub async fn handoff(&self, request: &HandoffRequest) -> Result<HandoffAnswer, String> {
        let loop_key = parse_hex(&request.loop_key)
            .ok_or_else(|| format!("loop_key {:?} is not a hex u64", request.loop_key))?;
        let shadow = self
            .scrape
            .targets()
            .iter()
            .any(|t| t.loop_key == loop_key && t.writing == Some(Writing::Nothing));
        if shadow {
            self.scrape.stop_loop_quietly(loop_key);
            self.state.lock().takeovers.remove(&loop_key);
            return Ok(HandoffAnswer {
                released: false,
                last_written: None,
            });
        }
        match self.scrape.release(loop_key).await {
            Ok(last_written) => {
                self.state.lock().takeovers.remove(&loop_key);
                self.metrics
                    .handoffs_released
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(loop_key = %request.loop_key, to = %request.from, ?last_written, "target handed over");
                Ok(HandoffAnswer {
                    released: true,
                    last_written,
                })
            }
            Err(()) => Ok(HandoffAnswer {
                released: false,
                last_written: None,
            }),
        }
    }

    /// Graceful leave: report `leaving` (peers drop this replica and take its targets), then
    /// wait until no loop is left or `handoff_timeout` passed. Returns the loops left.
    pub async fn leave(&self) -> usize {
        self.leaving.store(true, Ordering::SeqCst);
        for (key, _) in self.state.lock().takeovers.drain() {
            self.scrape.stop_loop_quietly(key);
        }
        self.update_ring();
        let deadline = Instant::now() + self.options.handoff_timeout;
        loop {
            let left = self.scrape.scraping().len();
            let anyone = {
                let state = self.state.lock();
                state.peers.values().any(|p| p.up && !p.leaving)
            };
            if left == 0 || !anyone || Instant::now() >= deadline {
                if left > 0 {
                    tracing::warn!(
                        loops = left,
                        live_peers = anyone,
                        "leaving with targets not handed over"
                    );
                }
                return left;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn run(weak: std::sync::Weak<Cluster>) {
        let mut last_resolve: Option<Instant> = None;
        let mut kubernetes: Option<KubernetesPeers> = None;
        let mut scaler: Option<super::autoscale::Scaler> = None;
        loop {
            let Some(cluster) = weak.upgrade() else {
                return;
            };
            let interval = cluster.options.probe_interval;
            if kubernetes.is_none()
                && let Some(service) = &cluster.options.kubernetes_service
            {
                match KubernetesPeers::start(
                    service,
                    cluster.options.kubernetes_namespace.as_deref(),
                    cluster.options.peer_port,
                )
                .await
                {
                    Ok(peers) => kubernetes = Some(peers),
                    Err(error) => {
                        tracing::error!(%error, "cannot watch the cluster's members; retrying")
                    }
                }
            }
            // Kubernetes members change by watch: take them every round.
            if kubernetes.is_some()
                || last_resolve.is_none_or(|t| t.elapsed() >= cluster.options.resolve_interval)
            {
                last_resolve = Some(Instant::now());
                cluster.resolve_peers(kubernetes.as_ref()).await;
            }
            cluster.probe_round().await;
            cluster.reconcile().await;
            cluster.autoscale(&mut scaler).await;
            drop(cluster);
            tokio::time::sleep(interval).await;
        }
    }

    /// The first member in sorted order patches the StatefulSet (when one is configured and
    /// balancing measured something).
    async fn autoscale(&self, scaler: &mut Option<super::autoscale::Scaler>) {
        let Some(name) = &self.options.statefulset else {
            return;
        };
        let first = self.ring().members().first().cloned();
        let desired = self.metrics.desired_replicas.load(Ordering::Relaxed) as u32;
        if first.as_deref() != Some(self.options.advertise.as_str()) || desired == 0 {
            return;
        }
        if scaler.is_none() {
            match super::autoscale::Scaler::new(
                name,
                self.options.kubernetes_namespace.as_deref(),
                self.options.scale_down_delay,
            )
            .await
            {
                Ok(s) => *scaler = Some(s),
                Err(error) => {
                    tracing::error!(%error, "cannot scale the StatefulSet");
                    return;
                }
            }
        }
        if let Some(scaler) = scaler
            && let Err(error) = scaler.step(desired).await
        {
            tracing::warn!(%error, "autoscaling step failed");
        }
    }

    async fn resolve_peers(&self, kubernetes: Option<&KubernetesPeers>) {
        let resolved = resolve(&self.options.peers, &self.options.resolver)
            .await
            .map(|ids| {
                let mut members: BTreeMap<String, Candidate> = ids
                    .into_iter()
                    .map(|id| {
                        let candidate = Candidate {
                            address: id.clone(),
                            member: true,
                        };
                        (id, candidate)
                    })
                    .collect();
                if let Some(peers) = kubernetes {
                    for (id, (address, member)) in peers.members().unwrap_or_default() {
                        members.insert(id, Candidate { address, member });
                    }
                }
                members
            });
        match resolved {
            Ok(mut members) => {
                let me = members.remove(&self.options.advertise);
                let mut state = self.state.lock();
                // Kubernetes decides whether this replica owns targets: only while its
                // endpoint is ready.
                state.self_member = kubernetes.is_none() || me.is_some_and(|c| c.member);
                state.peers.retain(|id, _| members.contains_key(id));
                state.candidates = members;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot resolve --cluster.peers; keeping the members known");
            }
        }
    }

    async fn probe_round(&self) {
        let candidates: Vec<String> = self.state.lock().candidates.keys().cloned().collect();
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let mut probes = tokio::task::JoinSet::new();
        for id in candidates {
            let me = me.clone();
            probes.spawn(async move {
                let result = me.probe(&id).await;
                (id, result)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = probes.join_next().await {
            if let Ok(result) = joined {
                results.push(result);
            }
        }
        let mut state = self.state.lock();
        for (id, result) in results {
            let failures_allowed = self.options.probe_failures.max(1);
            let peer = state.peers.entry(id.clone()).or_insert_with(|| Peer {
                up: false,
                failures: failures_allowed,
                leaving: false,
                scraping_version: String::new(),
                scraping: Arc::default(),
                series: Arc::default(),
                view_hash: String::new(),
            });
            match result {
                Ok((answer, scraping)) => {
                    if !peer.up {
                        tracing::info!(peer = %id, leaving = answer.leaving, "peer answers");
                    }
                    peer.up = true;
                    peer.failures = 0;
                    peer.leaving = answer.leaving;
                    peer.view_hash = answer.view_hash.clone();
                    if let Some((version, loops, series)) = scraping {
                        peer.scraping_version = version;
                        peer.scraping = Arc::new(loops);
                        peer.series = Arc::new(series);
                    }
                }
                Err(error) => {
                    peer.failures = peer.failures.saturating_add(1);
                    if peer.up && peer.failures >= failures_allowed {
                        tracing::warn!(peer = %id, %error, "peer gone");
                        peer.up = false;
                        peer.scraping = Arc::default();
                        peer.series = Arc::default();
                        peer.scraping_version.clear();
                    }
                }
            }
        }
        state.probed_all = true;
        drop(state);
        self.update_ring();
    }

    /// One probe: the peer's state, and its scraping list when the version changed.
    async fn probe(&self, id: &str) -> Result<(PeerState, Option<ScrapingList>), String> {
        let known_version = self
            .state
            .lock()
            .peers
            .get(id)
            .map(|p| p.scraping_version.clone())
            .unwrap_or_default();
        let answer: PeerState = self.get_json(id, "/api/v1/cluster/state").await?;
        if answer.member != id {
            return Err(format!(
                "peer {id} says it is {:?}: --cluster.advertise-address must match --cluster.peers",
                answer.member
            ));
        }
        if answer.scraping_version == known_version {
            return Ok((answer, None));
        }
        let list: PeerScraping = self.get_json(id, "/api/v1/cluster/scraping").await?;
        let keys: Vec<Option<u64>> = list.loops.iter().map(|k| parse_hex(k)).collect();
        let loops = keys.iter().flatten().copied().collect();
        let series = keys
            .iter()
            .zip(&list.series)
            .filter_map(|(k, s)| Some(((*k)?, *s)))
            .collect();
        Ok((answer, Some((list.version, loops, series))))
    }

    /// GETs `path` from member `id` as JSON (peer client: probe timeout).
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        path: &str,
    ) -> Result<T, String> {
        let url = self.peer_url(id, path);
        let response = self
            .client
            .get(url)
            .await?
            .timeout(self.options.probe_timeout)
            .send()
            .await
            .map_err(crate::http_client::request_error)?;
        if !response.status().is_success() {
            return Err(format!("{path}: HTTP {}", response.status()));
        }
        response.json().await.map_err(|e| format!("{path}: {e}"))
    }

    /// `path` on member `id`'s API.
    fn peer_url(&self, id: &str, path: &str) -> String {
        format!(
            "{}://{}{path}",
            self.options.peer_client.scheme,
            self.address_of(id)
        )
    }

    /// Where member `id` is reached (its id, unless its source says otherwise).
    fn address_of(&self, id: &str) -> String {
        self.state
            .lock()
            .candidates
            .get(id)
            .map(|c| c.address.clone())
            .unwrap_or_else(|| id.to_string())
    }

    fn update_ring(&self) {
        let mut state = self.state.lock();
        let mut members: Vec<String> = state
            .peers
            .iter()
            .filter(|(id, p)| {
                p.up && !p.leaving && state.candidates.get(*id).is_some_and(|c| c.member)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if !self.is_leaving() && state.self_member {
            members.push(self.options.advertise.clone());
        }
        let ring = Ring::new(members);
        if ring.view_hash() != state.ring.view_hash() || ring.len() != state.ring.len() {
            tracing::info!(members = ?ring.members(), "cluster view changed");
            let ring = Arc::new(ring);
            state.ring = ring.clone();
            self.ring_tx.send_replace(ring);
        }
        self.metrics
            .members
            .store(state.ring.len() as u64, Ordering::Relaxed);
        self.metrics
            .view_hash
            .store(state.ring.view_hash(), Ordering::Relaxed);
    }

    /// The series-aware placement of every active target over `ring` (the same on every
    /// member with the same view): weights from the published series counts (ours for our
    /// loops), each target preferring the member that scrapes it now.
    fn balance(
        &self,
        ring: &Ring,
        me: usize,
        targets: &[crate::scrape::manager::TargetEntry],
        scrapers: &[(String, Arc<HashSet<u64>>)],
        peer_series: &[Arc<HashMap<u64, u64>>],
    ) -> super::balance::Assignment {
        use super::balance::{Weighted, assign};
        let weighted: Vec<Weighted> = targets
            .iter()
            .map(|t| {
                let own = matches!(t.writing, Some(Writing::All | Writing::After(_)));
                let series = if own {
                    Some(t.series)
                } else {
                    peer_series.iter().find_map(|s| s.get(&t.loop_key).copied())
                };
                let current = if own {
                    Some(me as u32)
                } else {
                    scrapers
                        .iter()
                        .filter(|(_, loops)| loops.contains(&t.loop_key))
                        .find_map(|(id, _)| ring.index_of(id))
                        .map(|i| i as u32)
                };
                Weighted {
                    key: t.target_key,
                    // 0: not scraped successfully yet, weighs as the mean target.
                    series: series.filter(|&s| s > 0),
                    current,
                }
            })
            .collect();
        let assignment = assign(
            ring,
            &weighted,
            self.options.max_series,
            self.options.balance_epsilon,
        );
        // Autoscaling counts real series; a target not measured yet as the mean one.
        let measured: Vec<u64> = weighted.iter().filter_map(|w| w.series).collect();
        let mean = if measured.is_empty() {
            0
        } else {
            measured.iter().sum::<u64>() / measured.len() as u64
        };
        let total: u64 = weighted.iter().map(|w| w.series.unwrap_or(mean)).sum();
        self.metrics.total_series.store(total, Ordering::Relaxed);
        let desired = super::autoscale::desired_replicas(
            total,
            self.options.max_series,
            self.options.min_replicas,
            self.options.max_replicas,
        );
        self.metrics
            .desired_replicas
            .store(u64::from(desired), Ordering::Relaxed);
        let owners: HashMap<u64, String> = targets
            .iter()
            .zip(&assignment.owners)
            .map(|(t, &o)| (t.loop_key, ring.members()[o as usize].clone()))
            .collect();
        let too_big: Vec<u64> = assignment
            .too_big
            .iter()
            .map(|&i| targets[i].loop_key)
            .collect();
        if !too_big.is_empty() {
            tracing::debug!(
                targets = too_big.len(),
                cap = assignment.cap,
                "targets larger than the per-replica cap stay with their HRW owner"
            );
        }
        let mut state = self.state.lock();
        state.balanced_owners = Arc::new(owners);
        state.balance_cap = assignment.cap;
        state.too_big = too_big;
        drop(state);
        assignment
    }

    /// `GET /api/v1/cluster`: the members as this replica sees them, what each scrapes, the
    /// balancing cap and too-big targets, desired and actual replicas, handoffs in progress,
    /// and whether every member reports the same view.
    pub fn overview(&self) -> ClusterOverview {
        let ring = self.ring();
        let (own_loops, own_series) = {
            let (_, loops) = self.scraping_version();
            (loops.len(), loops.iter().map(|(_, s)| *s).sum::<u64>())
        };
        let state = self.state.lock();
        let my_hash = hex(ring.view_hash());
        let mut members = vec![MemberOverview {
            id: self.options.advertise.clone(),
            address: self.options.advertise.clone(),
            up: true,
            leaving: self.is_leaving(),
            owner: ring.index_of(&self.options.advertise).is_some(),
            view_hash: my_hash.clone(),
            targets: own_loops,
            series: own_series,
        }];
        for (id, peer) in &state.peers {
            members.push(MemberOverview {
                id: id.clone(),
                address: state
                    .candidates
                    .get(id)
                    .map_or_else(|| id.clone(), |c| c.address.clone()),
                up: peer.up,
                leaving: peer.leaving,
                owner: ring.index_of(id).is_some(),
                view_hash: peer.view_hash.clone(),
                targets: peer.scraping.len(),
                series: peer.series.values().sum(),
            });
        }
        members.sort_by(|a, b| a.id.cmp(&b.id));
        let views_agree = members
            .iter()
            .filter(|m| m.up && m.owner)
            .all(|m| m.view_hash == my_hash);
        ClusterOverview {
            member: self.options.advertise.clone(),
            view_hash: my_hash,
            views_agree,
            members,
            max_series: self.options.max_series,
            cap: state.balance_cap,
            too_big: state.too_big.iter().map(|k| hex(*k)).collect(),
            desired_replicas: self.metrics.desired_replicas.load(Ordering::Relaxed),
            actual_replicas: ring.len() as u64,
            handoffs_in_progress: state.takeovers.len(),
            total_series: self.metrics.total_series.load(Ordering::Relaxed),
        }
    }

    /// The owners of a target: its balanced placement, or its top R HRW members.
    pub fn owners_of(&self, ring: &Ring, loop_key: u64, target_key: u64) -> Vec<String> {
        if self.options.max_series > 0
            && self.options.replication_factor <= 1
            && let Some(owner) = self.state.lock().balanced_owners.get(&loop_key)
        {
            return vec![owner.clone()];
        }
        ring.owners(target_key, self.options.replication_factor)
            .into_iter()
            .map(|i| ring.members()[i].clone())
            .collect()
    }

    /// Starts what this replica owns and nobody scrapes, shadows and takes over what it owns
    /// and a peer scrapes, and drops shadows of targets it no longer owns.
    async fn reconcile(&self) {
        if self.is_leaving() {
            return;
        }
        let (ring, scrapers, peer_series, probed_all) = {
            let state = self.state.lock();
            let scrapers: Vec<(String, Arc<HashSet<u64>>)> = state
                .peers
                .iter()
                .filter(|(_, p)| p.up)
                .map(|(id, p)| (id.clone(), p.scraping.clone()))
                .collect();
            let series: Vec<Arc<HashMap<u64, u64>>> = state
                .peers
                .values()
                .filter(|p| p.up)
                .map(|p| p.series.clone())
                .collect();
            (state.ring.clone(), scrapers, series, state.probed_all)
        };
        // Replicas started together must see each other before any starts a target, or
        // each would scrape everything for a moment (and write its slots twice).
        let grace = self.options.probe_interval * self.options.probe_failures.max(1)
            + self.options.probe_timeout;
        if !probed_all || self.started.elapsed() < grace {
            return;
        }
        let Some(me) = ring.index_of(&self.options.advertise) else {
            return;
        };
        let r = self.options.replication_factor.max(1);
        let targets = self.scrape.targets();
        let balanced = (self.options.max_series > 0 && r == 1)
            .then(|| self.balance(&ring, me, &targets, &scrapers, &peer_series));
        let mut owned = 0u64;
        let mut owned_series = 0u64;
        let mut requests = Vec::new();
        for (index, target) in targets.iter().enumerate() {
            let owners = match &balanced {
                Some(assignment) => vec![assignment.owners[index] as usize],
                None => ring.owners(target.target_key, r),
            };
            let mine = owners.contains(&me);
            if mine {
                owned += 1;
                owned_series += target.series;
            }
            match (mine, target.writing) {
                (true, None) => {
                    let owner_ids: Vec<&str> =
                        owners.iter().map(|&i| ring.members()[i].as_str()).collect();
                    // A live peer that scrapes it without owning it hands it over.
                    let from = scrapers
                        .iter()
                        .filter(|(id, loops)| {
                            loops.contains(&target.loop_key) && !owner_ids.contains(&id.as_str())
                        })
                        .map(|(id, _)| id.clone())
                        .min();
                    match from {
                        None => {
                            if self.scrape.start_loop(target.loop_key, Writing::All) {
                                tracing::debug!(loop_key = %hex(target.loop_key), "scraping an unscraped target");
                            }
                        }
                        Some(from) => {
                            if self.scrape.start_loop(target.loop_key, Writing::Nothing) {
                                self.metrics
                                    .handoffs_started
                                    .fetch_add(1, Ordering::Relaxed);
                                self.state.lock().takeovers.insert(
                                    target.loop_key,
                                    Takeover {
                                        from,
                                        started: Instant::now(),
                                        requested: false,
                                    },
                                );
                            }
                        }
                    }
                }
                (true, Some(Writing::Nothing)) => {
                    // A shadow: ask once it has scraped a slot; give up waiting after a while.
                    let wait = self.handoff_wait(target.scrape_interval_ms);
                    let mut state = self.state.lock();
                    match state.takeovers.get_mut(&target.loop_key) {
                        // After the first shadow scrape, or (a target that takes long to
                        // answer) after the wait.
                        Some(takeover)
                            if !takeover.requested
                                && (target.last_scraped.is_some()
                                    || takeover.started.elapsed() > wait) =>
                        {
                            takeover.requested = true;
                            requests.push((target.loop_key, takeover.from.clone()));
                        }
                        Some(_) => {}
                        None => {
                            // A shadow without a takeover (it failed): write from now on.
                            drop(state);
                            self.scrape.set_writing(target.loop_key, Writing::All);
                        }
                    }
                }
                (false, Some(Writing::Nothing)) => {
                    // No longer ours before the takeover finished.
                    self.scrape.stop_loop_quietly(target.loop_key);
                    self.state.lock().takeovers.remove(&target.loop_key);
                }
                _ => {}
            }
        }
        self.metrics.owned_targets.store(owned, Ordering::Relaxed);
        self.metrics
            .owned_series
            .store(owned_series, Ordering::Relaxed);
        let live: HashSet<u64> = targets.iter().map(|t| t.loop_key).collect();
        self.state
            .lock()
            .takeovers
            .retain(|key, _| live.contains(key));
        for (loop_key, from) in requests {
            let interval = targets
                .iter()
                .find(|t| t.loop_key == loop_key)
                .map_or(1000, |t| t.scrape_interval_ms);
            self.request_handoff(loop_key, from, interval);
        }
    }

    /// How long a takeover waits for the scraper before writing anyway.
    fn handoff_wait(&self, interval_ms: i64) -> Duration {
        Duration::from_millis(2 * interval_ms.max(0) as u64) + self.options.probe_timeout
    }

    fn request_handoff(&self, loop_key: u64, from: String, interval_ms: i64) {
        let request = HandoffRequest {
            from: self.options.advertise.clone(),
            loop_key: hex(loop_key),
        };
        let client = self.client.clone();
        let scrape = self.scrape.clone();
        let wait = self.handoff_wait(interval_ms);
        let me = self.me.clone();
        let url = self.peer_url(&from, "/api/v1/cluster/handoff");
        tokio::spawn(async move {
            let answer = async {
                let response = client
                    .post(&url)
                    .await?
                    .timeout(wait)
                    .json(&request)
                    .send()
                    .await
                    .map_err(crate::http_client::request_error)?;
                if !response.status().is_success() {
                    return Err(format!("HTTP {}", response.status()));
                }
                response
                    .json::<HandoffAnswer>()
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            let last_scraped = scrape
                .targets()
                .into_iter()
                .find(|t| t.loop_key == loop_key)
                .and_then(|t| t.last_scraped);
            let writing = match &answer {
                Ok(HandoffAnswer {
                    released: true,
                    last_written: Some(last),
                }) => Writing::After(*last),
                Ok(HandoffAnswer {
                    released: true,
                    last_written: None,
                }) => Writing::All,
                Ok(HandoffAnswer {
                    released: false, ..
                }) => {
                    // It does not scrape it (any more): decide again with fresh lists.
                    scrape.stop_loop_quietly(loop_key);
                    if let Some(cluster) = me.upgrade() {
                        cluster.takeover_done(loop_key);
                    }
                    return;
                }
                Err(error) => {
                    tracing::warn!(peer = %from, loop_key = %hex(loop_key), %error, "handoff request failed; taking the target over anyway");
                    if let Some(cluster) = me.upgrade() {
                        cluster
                            .metrics
                            .handoffs_timed_out
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    last_scraped.map_or(Writing::All, Writing::After)
                }
            };
            if answer.is_ok()
                && let Some(cluster) = me.upgrade()
            {
                cluster
                    .metrics
                    .handoffs_confirmed
                    .fetch_add(1, Ordering::Relaxed);
            }
            scrape.set_writing(loop_key, writing);
            if let Some(cluster) = me.upgrade() {
                cluster.takeover_done(loop_key);
            }
            tracing::info!(peer = %from, loop_key = %hex(loop_key), ?writing, "target taken over");
        });
    }

    fn takeover_done(&self, loop_key: u64) {
        self.state.lock().takeovers.remove(&loop_key);
    }
}
