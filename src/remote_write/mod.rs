//! Remote write: the sink scraped samples go to (spec §6, P: `storage/remote/`).
//!
//! [`RemoteWrite`] is the [`SampleSink`]: one queue manager per `remote_write` entry.
//!
//! - Labels (spec §6.1): every sample carries its series' labels, already encoded as the
//!   protobuf `TimeSeries.labels` bytes (sorted bytewise, no empty values), as a slice of the
//!   scrape's label arena; the sink keeps no table of series. Each endpoint sends them as they
//!   are, or with the external labels added where the name is missing (written into one arena
//!   per call), or, with `write_relabel_configs`, relabeled: the outcome is computed on a
//!   series' first sample and kept until the series is forgotten, so only endpoints that
//!   relabel hold per-series state.
//! - Queues ([`shard`]): shard = series ref % shards, so each series stays in order; batches of
//!   `max_samples_per_send`, or what is there `batch_send_deadline` after the last send;
//!   bounded: a sample that finds its shard full is dropped and counted
//!   (`dropped{reason="queue_full"}`), so scrapes never wait for the network (with the disk
//!   queue, shards only fill when the disk cannot keep up).
//! - Resharding ([`queue`]) between `min_shards` and `max_shards` every 10s, as Prometheus
//!   computes it; old shards flush before new ones send.
//! - Encoding ([`encode`], and [`encode_v2`] for `protobuf_message:
//!   io.prometheus.write.v2.Request`): hand-written streaming protobuf into reused buffers,
//!   snappy block format.
//! - Sending ([`send`]): headers, timeouts, retries and backoff as Prometheus (spec §6.3).
//! - Counters ([`metrics`]): one [`RemoteWriteMetrics`] per endpoint.
//!
//! - Disk queue ([`spool`] over [`disk`]), when a storage path is given: batches go straight
//!   from memory while the receiver keeps up; one it does not take now is appended to the disk
//!   queue, and so is every later batch until the queue has been replayed (per-series order
//!   holds across spills, reshards, reloads and restarts). Without a storage path, batches are
//!   retried in memory.
//!
//! - Metadata ([`metadata`]): remote write 1.0 metadata-only requests every `send_interval`
//!   from the scrape loops' family metadata; 2.0 sends each series' family metadata with it.
//!
//! Not yet: exemplars and native histograms.

pub mod disk;
pub mod encode;
pub mod encode_v2;
pub mod metadata;
pub mod metrics;
pub mod prompb;
mod queue;
pub mod send;
mod shard;
pub mod spool;
#[cfg(test)]
mod tests;

pub use metrics::{DropReason, RemoteWriteMetrics};

use crate::config::RemoteWriteConfig;
use crate::config::http::redact_url;
use crate::config::remote_write::ProtobufMessage;
use crate::labels::Labels;
use crate::relabel::RelabelConfig;
use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use queue::QueueManager;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Identity of a series between the scrape layer and the sink: the scrape layer always
/// uses the same ref for the same label set while the series lives.
pub type SeriesRef = u64;

/// One sample of a committed scrape, with its series' labels. Values are carried as bits so
/// StaleNaN survives. Queued as is: the labels are a slice of the scrape's label arena, so a
/// queued sample keeps only that arena alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub series: SeriesRef,
    /// The series' labels as the protobuf `TimeSeries.labels` fields
    /// ([`encode::encode_labels`]): sorted bytewise by name, no empty values, with `__name__`.
    pub labels: Bytes,
    /// The family metadata of the series, when the sink wants it ([`SampleSink::wants_metadata`])
    /// and the target exposed any; remote write 2.0 sends it with every sample.
    pub metadata: Option<Arc<metadata::MetricMetadata>>,
    pub timestamp_ms: i64,
    pub value_bits: u64,
}

impl Sample {
    /// A sample of the series `labels`, encoded here, with the ref the scrape loops give it
    /// ([`crate::scrape::append::series_ref`]).
    pub fn of(labels: &Labels, timestamp_ms: i64, value_bits: u64) -> Sample {
        Sample {
            series: crate::scrape::append::series_ref(labels),
            labels: encode::encode_labels(labels),
            metadata: None,
            timestamp_ms,
            value_bits,
        }
    }
}

/// Where committed scrapes go.
pub trait SampleSink: Send + Sync + 'static {
    /// Whether samples should carry their family's metadata (only remote write 2.0 sends it).
    fn wants_metadata(&self) -> bool;
    /// One committed scrape; each series' samples arrive in timestamp order across calls.
    fn append(&self, samples: &[Sample]);
    /// [`Self::append`], taking the samples: `samples` is left empty with its capacity. A sink
    /// that queues them moves them instead of copying.
    fn append_owned(&self, samples: &mut Vec<Sample>) {
        self.append(samples);
        samples.clear();
    }
    /// The series will get no more samples; anything kept for it may be forgotten.
    fn forget(&self, series: SeriesRef);
}

/// Settings that are not in the configuration file.
#[derive(Clone, Debug)]
pub struct RemoteWriteOptions {
    /// How long a stopped endpoint (shutdown, or removed or changed by a reload) may go on
    /// sending what it has queued before the rest is dropped (Prometheus' `flushDeadline`).
    pub flush_deadline: Duration,
    /// How often the shard count is reconsidered (Prometheus: 10s).
    pub shard_update_interval: Duration,
    /// The disk queues (one directory per endpoint below `dir`); `None`: memory only, requests
    /// are retried in memory.
    pub spool: Option<spool::SpoolOptions>,
}

impl Default for RemoteWriteOptions {
    fn default() -> Self {
        RemoteWriteOptions {
            flush_deadline: Duration::from_secs(60),
            shard_update_interval: Duration::from_secs(10),
            spool: None,
        }
    }
}

/// An endpoint's identity and counters, for telemetry.
#[derive(Clone, Debug)]
pub struct EndpointMetrics {
    /// `name` from the config (may be empty).
    pub name: String,
    /// The URL with any password redacted.
    pub url: String,
    pub metrics: Arc<RemoteWriteMetrics>,
}

struct Endpoint {
    config: RemoteWriteConfig,
    queue: Arc<QueueManager>,
    labels: LabelPolicy,
}

/// How an endpoint makes the labels it sends from a sample's labels (spec §6.1).
enum LabelPolicy {
    /// No external label to add and no relabeling: sent as they come.
    AsIs,
    /// The external labels (sorted, none empty) added where the name is missing.
    External(Vec<(String, String)>),
    /// External labels, then `write_relabel_configs`: the encoded outcome per series (`None`:
    /// dropped), computed on its first sample and kept until it is forgotten.
    Relabel {
        external: BTreeMap<String, String>,
        configs: Vec<RelabelConfig>,
        outcomes: Mutex<HashMap<SeriesRef, Option<Bytes>>>,
    },
}

impl LabelPolicy {
    fn new(config: &RemoteWriteConfig, external: &BTreeMap<String, String>) -> LabelPolicy {
        if !config.write_relabel_configs.is_empty() {
            return LabelPolicy::Relabel {
                external: external.clone(),
                configs: config.write_relabel_configs.clone(),
                outcomes: Mutex::new(HashMap::new()),
            };
        }
        let external: Vec<(String, String)> = external
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if external.is_empty() {
            LabelPolicy::AsIs
        } else {
            LabelPolicy::External(external)
        }
    }
}

struct State {
    endpoints: Vec<Endpoint>,
    external_labels: BTreeMap<String, String>,
}

/// The remote-write sink: one sender per `remote_write` entry.
///
/// Must be created, reloaded and dropped inside a Tokio runtime. Call [`RemoteWrite::shutdown`]
/// to flush before exit; dropping abandons whatever is still queued.
pub struct RemoteWrite {
    options: RemoteWriteOptions,
    /// Set once by [`RemoteWrite::set_metadata_source`]; endpoints started later use it too.
    metadata_source: std::sync::OnceLock<metadata::MetadataSource>,
    /// Lock order: `state`, then a queue's shard set, then an endpoint's relabel outcomes.
    state: RwLock<State>,
    /// Open disk queues by directory name; an endpoint replaced by a reload hands its queue
    /// to its successor.
    spools: parking_lot::Mutex<HashMap<String, std::sync::Weak<spool::Spool>>>,
}

impl std::fmt::Debug for RemoteWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWrite")
            .field("endpoints", &self.metrics().len())
            .finish()
    }
}

impl RemoteWrite {
    /// Starts one queue per entry of `configs`.
    pub fn new(
        configs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
    ) -> Result<RemoteWrite, String> {
        Self::with_options(configs, external_labels, RemoteWriteOptions::default())
    }

    pub fn with_options(
        configs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
        options: RemoteWriteOptions,
    ) -> Result<RemoteWrite, String> {
        let rw = RemoteWrite {
            options,
            metadata_source: std::sync::OnceLock::new(),
            state: RwLock::new(State {
                endpoints: Vec::new(),
                external_labels: external_labels.clone(),
            }),
            spools: parking_lot::Mutex::new(HashMap::new()),
        };
        rw.apply(configs, external_labels)?;
        Ok(rw)
    }

    /// Starts metadata requests (remote write 1.0 `metadata_config.send`) on every endpoint,
    /// now and after reloads; metadata comes from `source`. Only the first call counts.
    pub fn set_metadata_source(&self, source: metadata::MetadataSource) {
        if self.metadata_source.set(source).is_err() {
            return;
        }
        let state = self.state.read();
        for endpoint in &state.endpoints {
            self.start_metadata(&endpoint.config, &endpoint.queue);
        }
    }

    fn start_metadata(&self, config: &RemoteWriteConfig, queue: &Arc<QueueManager>) {
        let Some(source) = self.metadata_source.get() else {
            return;
        };
        let wanted = config.metadata_config.send && config.protobuf_message == ProtobufMessage::V1;
        if wanted {
            tokio::spawn(metadata::run(
                Arc::downgrade(queue),
                source.clone(),
                config.metadata_config.send_interval.0,
                config.metadata_config.max_samples_per_send as usize,
            ));
        }
    }

    /// The disk queue named `name`: the running one (kept across a reload), or opened.
    fn spool(
        &self,
        name: &str,
        config: &RemoteWriteConfig,
    ) -> Result<Option<Arc<spool::Spool>>, String> {
        let Some(options) = &self.options.spool else {
            return Ok(None);
        };
        let mut spools = self.spools.lock();
        spools.retain(|_, s| s.strong_count() > 0);
        if let Some(spool) = spools.get(name).and_then(std::sync::Weak::upgrade) {
            return Ok(Some(spool));
        }
        let dir = options.dir.join(name);
        let (spool, report) = spool::Spool::open(&dir, options.disk.clone())
            .map_err(|e| format!("disk queue {}: {e}", dir.display()))?;
        tracing::info!(
            remote_name = %config.name,
            url = %redact_url(&config.url),
            dir = %dir.display(),
            pending_requests = report.pending_records,
            pending_samples = spool.pending_samples(),
            bytes = report.bytes,
            truncated_bytes = report.truncated_bytes,
            checkpoint_damaged = report.checkpoint_damaged,
            "disk queue opened"
        );
        let spool = Arc::new(spool);
        spools.insert(name.to_string(), Arc::downgrade(&spool));
        Ok(Some(spool))
    }

    /// Applies a reloaded configuration. Endpoints whose config (and the external labels) did
    /// not change keep running with their queues; the others are stopped in the background
    /// (flushing for up to `flush_deadline`) and replaced. A replacement for the same URL sends
    /// nothing before the endpoint it replaces has stopped, so per-series order holds at the
    /// receiver.
    ///
    /// On error (an HTTP client that cannot be built) nothing changes.
    pub fn apply(
        &self,
        configs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let mut state = self.state.write();
        let keep_any = state.external_labels == *external_labels;
        // Which old endpoint each new config keeps, if any.
        let mut taken = vec![false; state.endpoints.len()];
        let mut origin: Vec<Option<usize>> = Vec::with_capacity(configs.len());
        for config in configs {
            let found = keep_any
                .then(|| {
                    state
                        .endpoints
                        .iter()
                        .enumerate()
                        .position(|(j, e)| !taken[j] && same_config(&e.config, config))
                })
                .flatten();
            if let Some(j) = found {
                taken[j] = true;
            }
            origin.push(found);
        }
        // Build every new sender and open every new disk queue first, so an error changes
        // nothing.
        let mut senders = Vec::with_capacity(configs.len());
        let names = spool_names(configs);
        for ((config, origin), name) in configs.iter().zip(&origin).zip(&names) {
            senders.push(match origin {
                Some(_) => None,
                None => {
                    let context =
                        |e: String| format!("remote_write {}: {e}", redact_url(&config.url));
                    let sender = send::Sender::new(config).map_err(context)?;
                    let spool = self.spool(name, config).map_err(context)?;
                    Some((sender, spool))
                }
            });
        }
        // Start the new queues, each after a stopping endpoint with the same URL, if any.
        let mut successor_of = vec![false; state.endpoints.len()];
        let mut new_queues = Vec::with_capacity(configs.len());
        let mut old: Vec<Option<Endpoint>> = std::mem::take(&mut state.endpoints)
            .into_iter()
            .map(Some)
            .collect();
        for ((config, origin), sender) in configs.iter().zip(&origin).zip(senders) {
            // A kept endpoint keeps its relabel outcomes (same configs, same external labels).
            if let Some(j) = origin
                && let Some(endpoint) = old[*j].take()
            {
                new_queues.push(Endpoint {
                    config: config.clone(),
                    ..endpoint
                });
                continue;
            }
            let queue = match (origin, sender) {
                (Some(_), _) => unreachable!("a kept endpoint was taken above"),
                (None, Some((sender, spool))) => {
                    let after = old.iter().enumerate().position(|(j, e)| {
                        e.as_ref().is_some_and(|e| {
                            !taken[j] && !successor_of[j] && e.config.url == config.url
                        })
                    });
                    let after = after.and_then(|j| {
                        successor_of[j] = true;
                        old[j].as_ref().map(|e| e.queue.done())
                    });
                    let queue = QueueManager::start(
                        config,
                        sender,
                        Arc::new(RemoteWriteMetrics::default()),
                        self.options.shard_update_interval,
                        after,
                        spool,
                    );
                    self.start_metadata(config, &queue);
                    queue
                }
                (None, None) => unreachable!("a sender was built for every new endpoint"),
            };
            new_queues.push(Endpoint {
                config: config.clone(),
                queue,
                labels: LabelPolicy::new(config, external_labels),
            });
        }
        state.endpoints = new_queues;
        state.external_labels = external_labels.clone();
        drop(state);
        let flush_deadline = self.options.flush_deadline;
        for endpoint in old.into_iter().flatten() {
            tokio::spawn(async move { endpoint.queue.stop(flush_deadline).await });
        }
        Ok(())
    }

    /// Stops every endpoint: what is queued is sent for up to `flush_deadline`, then dropped.
    /// Samples appended afterwards are not sent.
    pub async fn shutdown(&self) {
        let endpoints = std::mem::take(&mut self.state.write().endpoints);
        let deadline = self.options.flush_deadline;
        let stops: Vec<_> = endpoints
            .iter()
            .map(|e| {
                let queue = Arc::clone(&e.queue);
                tokio::spawn(async move { queue.stop(deadline).await })
            })
            .collect();
        for stop in stops {
            let _ = stop.await;
        }
    }

    /// The counters of each endpoint, in config order.
    pub fn metrics(&self) -> Vec<EndpointMetrics> {
        self.state
            .read()
            .endpoints
            .iter()
            .map(|e| EndpointMetrics {
                name: e.config.name.clone(),
                url: redact_url(&e.config.url),
                metrics: Arc::clone(e.queue.metrics()),
            })
            .collect()
    }

    /// The labels endpoint `endpoint` sends for `series`, whose samples carry `labels`
    /// (encoded): `None` when the endpoint does not exist or relabeling drops the series.
    pub fn endpoint_labels(
        &self,
        endpoint: usize,
        series: SeriesRef,
        labels: &Labels,
    ) -> Option<Labels> {
        let state = self.state.read();
        let endpoint = state.endpoints.get(endpoint)?;
        let mut arena = BytesMut::new();
        let encoded = endpoint
            .labels
            .apply(series, &encode::encode_labels(labels), &mut arena)?;
        encode::decode_labels(&encoded)
    }

    /// Reshards endpoint `endpoint` to `shards` shards now (clamped to 1..=max_shards), as the
    /// reshard loop would. False when the endpoint does not exist or a reshard is flushing.
    #[doc(hidden)]
    pub fn reshard(&self, endpoint: usize, shards: usize) -> bool {
        let state = self.state.read();
        state
            .endpoints
            .get(endpoint)
            .is_some_and(|e| e.queue.reshard(shards))
    }
}

impl Drop for RemoteWrite {
    fn drop(&mut self) {
        for endpoint in self.state.get_mut().endpoints.drain(..) {
            endpoint.queue.abandon();
        }
    }
}

impl SampleSink for RemoteWrite {
    fn wants_metadata(&self) -> bool {
        self.state
            .read()
            .endpoints
            .iter()
            .any(|e| e.config.protobuf_message == ProtobufMessage::V2)
    }

    fn append(&self, samples: &[Sample]) {
        let state = self.state.read();
        // Labels an endpoint makes (external labels added) are written here and shared.
        let mut arena = BytesMut::new();
        for endpoint in &state.endpoints {
            endpoint.queue_scrape(samples.len(), samples.iter().cloned(), &mut arena);
        }
    }

    fn append_owned(&self, samples: &mut Vec<Sample>) {
        let state = self.state.read();
        let mut arena = BytesMut::new();
        if let Some((last, others)) = state.endpoints.split_last() {
            for endpoint in others {
                endpoint.queue_scrape(samples.len(), samples.iter().cloned(), &mut arena);
            }
            last.queue_scrape(samples.len(), samples.drain(..), &mut arena);
        }
        samples.clear();
    }

    fn forget(&self, series: SeriesRef) {
        for endpoint in &self.state.read().endpoints {
            if let LabelPolicy::Relabel { outcomes, .. } = &endpoint.labels {
                outcomes.lock().remove(&series);
            }
        }
    }
}

impl Endpoint {
    /// Queues one scrape's `n` samples, with the labels this endpoint sends.
    fn queue_scrape(&self, n: usize, samples: impl Iterator<Item = Sample>, arena: &mut BytesMut) {
        if n == 0 {
            return;
        }
        let queue = &self.queue;
        queue.samples_in(n as u64);
        let shards = queue.shards();
        // A shard with room now takes this whole scrape (see `shard`'s queue policy).
        let room = shards.room();
        // Only remote write 2.0 sends per-series metadata.
        let with_metadata = self.config.protobuf_message == ProtobufMessage::V2;
        let mut relabeled = 0u64;
        let entries = samples.filter_map(|sample| {
            let Sample {
                series,
                labels,
                metadata,
                timestamp_ms,
                value_bits,
            } = sample;
            let Some(labels) = self.labels.apply_owned(series, labels, arena) else {
                relabeled += 1;
                return None;
            };
            Some(Sample {
                series,
                labels,
                metadata: if with_metadata { metadata } else { None },
                timestamp_ms,
                value_bits,
            })
        });
        queue.enqueue_scrape(&shards, &room, n, entries);
        if relabeled > 0 {
            queue.dropped(DropReason::Relabel, relabeled);
        }
    }
}

impl LabelPolicy {
    /// [`Self::apply`] on labels the caller gives up: sent as they are, they are moved.
    fn apply_owned(&self, series: SeriesRef, labels: Bytes, arena: &mut BytesMut) -> Option<Bytes> {
        match self {
            LabelPolicy::AsIs => Some(labels),
            _ => self.apply(series, &labels, arena),
        }
    }

    /// The labels this endpoint sends for a sample of `series` carrying `labels`; `None` when
    /// relabeling drops the series. Labels made here are written into `arena`.
    fn apply(&self, series: SeriesRef, labels: &Bytes, arena: &mut BytesMut) -> Option<Bytes> {
        match self {
            LabelPolicy::AsIs => Some(labels.clone()),
            LabelPolicy::External(external) => Some(
                encode::add_missing_labels(labels, external, arena)
                    .unwrap_or_else(|| labels.clone()),
            ),
            LabelPolicy::Relabel {
                external,
                configs,
                outcomes,
            } => outcomes
                .lock()
                .entry(series)
                .or_insert_with(|| relabeled_labels(labels, external, configs))
                .clone(),
        }
    }
}

/// The labels an endpoint with `write_relabel_configs` sends (spec §6.1): external labels
/// added where the name is missing, then relabeled; `None` when relabeling drops the series.
fn relabeled_labels(
    encoded: &[u8],
    external_labels: &BTreeMap<String, String>,
    write_relabel_configs: &[RelabelConfig],
) -> Option<Bytes> {
    let mut labels = encode::decode_labels(encoded)?;
    for (name, value) in external_labels {
        labels.set_if_absent(name, value.as_str());
    }
    if !crate::relabel::process(&mut labels, write_relabel_configs) {
        return None;
    }
    Some(encode::encode_labels(&labels))
}

/// Whether two `remote_write` entries are the same (so a reload keeps the running queue).
fn same_config(a: &RemoteWriteConfig, b: &RemoteWriteConfig) -> bool {
    let relabel = |c: &RemoteWriteConfig| serde_json::to_value(&c.write_relabel_configs).ok();
    a.url == b.url
        && a.name == b.name
        && a.remote_timeout == b.remote_timeout
        && a.headers == b.headers
        && a.send_exemplars == b.send_exemplars
        && a.send_native_histograms == b.send_native_histograms
        && a.round_robin_dns == b.round_robin_dns
        && a.protobuf_message == b.protobuf_message
        && a.failed_request_logging == b.failed_request_logging
        && a.queue_config == b.queue_config
        && a.metadata_config == b.metadata_config
        && a.http_client == b.http_client
        && relabel(a).is_some()
        && relabel(a) == relabel(b)
}

/// The disk queue directory name of each endpoint: a hash of what decides where and how its
/// requests go (URL, headers, protobuf message), so a reload that changes only, say, timeouts
/// or the queue settings goes on with the same queue; identical entries are numbered.
fn spool_names(configs: &[RemoteWriteConfig]) -> Vec<String> {
    let mut seen: HashMap<u64, usize> = HashMap::new();
    configs
        .iter()
        .map(|config| {
            let mut key = Vec::new();
            key.extend_from_slice(config.url.as_bytes());
            key.push(0);
            key.push(match config.protobuf_message {
                ProtobufMessage::V1 => 1,
                ProtobufMessage::V2 => 2,
            });
            for (name, value) in &config.headers {
                key.push(0);
                key.extend_from_slice(name.to_ascii_lowercase().as_bytes());
                key.push(b':');
                key.extend_from_slice(value.as_bytes());
            }
            let hash = xxhash_rust::xxh3::xxh3_64(&key);
            let n = seen.entry(hash).or_default();
            *n += 1;
            format!("{hash:016x}-{}", *n - 1)
        })
        .collect()
}
