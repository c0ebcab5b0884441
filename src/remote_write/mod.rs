//! Remote write: the sink scraped samples go to (spec §6, P: `storage/remote/`).
//!
//! [`RemoteWrite`] is the [`SampleSink`]: one queue manager per `remote_write` entry.
//!
//! - Labels (spec §6.1): when a series is declared, each endpoint computes its labels once:
//!   external labels added where the name is missing, then `write_relabel_configs` (a drop
//!   means the series is not sent to that endpoint), sorted bytewise, no empty values. They are
//!   kept pre-encoded as the protobuf `TimeSeries.labels` bytes, one `Arc<[u8]>` per series,
//!   shared with the series' raw labels when they are the same (no external labels to add and
//!   no relabeling), and shared by every queued sample of the series.
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
use encode::Entry;
use parking_lot::RwLock;
use queue::QueueManager;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Identity of a series between the scrape layer and the sink: the scrape layer always
/// uses the same ref for the same label set while the series lives.
pub type SeriesRef = u64;

/// One sample of a committed scrape. Values are carried as bits so StaleNaN survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub series: SeriesRef,
    pub timestamp_ms: i64,
    pub value_bits: u64,
}

/// Where committed scrapes go.
pub trait SampleSink: Send + Sync + 'static {
    /// Declares the labels of a series (sorted, no empty values, with `__name__`) before
    /// its first sample, and again if it changes, with the metadata of its family when the
    /// target exposed any (remote write 2.0 sends it with every sample).
    fn series(
        &self,
        series: SeriesRef,
        labels: &Labels,
        metadata: Option<Arc<metadata::MetricMetadata>>,
    );
    /// One committed scrape; each series' samples arrive in timestamp order across calls.
    fn append(&self, samples: &[Sample]);
    /// The series will get no more samples; its labels may be forgotten.
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
}

struct State {
    endpoints: Vec<Endpoint>,
    external_labels: BTreeMap<String, String>,
}

/// A declared series: its labels as declared (encoded), and per endpoint (same order as
/// `State::endpoints`) the labels sent there, or `None` when relabeling dropped it.
struct SeriesEntry {
    raw: Arc<[u8]>,
    endpoints: Box<[Option<Arc<[u8]>>]>,
    metadata: Option<Arc<metadata::MetricMetadata>>,
}

/// Series are spread over this many locks, so declaring series does not stall appends.
const STRIPES: usize = 64;

/// The remote-write sink: one sender per `remote_write` entry.
///
/// Must be created, reloaded and dropped inside a Tokio runtime. Call [`RemoteWrite::shutdown`]
/// to flush before exit; dropping abandons whatever is still queued.
pub struct RemoteWrite {
    options: RemoteWriteOptions,
    /// Set once by [`RemoteWrite::set_metadata_source`]; endpoints started later use it too.
    metadata_source: std::sync::OnceLock<metadata::MetadataSource>,
    /// Lock order: `state`, then a queue's shard set, then a stripe.
    state: RwLock<State>,
    stripes: Box<[RwLock<HashMap<SeriesRef, SeriesEntry>>]>,
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
            stripes: (0..STRIPES).map(|_| RwLock::default()).collect(),
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

    fn stripe(&self, series: SeriesRef) -> &RwLock<HashMap<SeriesRef, SeriesEntry>> {
        &self.stripes[(series % STRIPES as u64) as usize]
    }

    /// Applies a reloaded configuration. Endpoints whose config (and the external labels) did
    /// not change keep running with their queues; the others are stopped in the background
    /// (flushing for up to `flush_deadline`) and replaced. A replacement for the same URL sends
    /// nothing before the endpoint it replaces has stopped, so per-series order holds at the
    /// receiver. Declared series get their labels for the new endpoints at once; appends wait
    /// meanwhile.
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
        for ((config, origin), sender) in configs.iter().zip(&origin).zip(senders) {
            let queue = match (origin, sender) {
                (Some(j), _) => Arc::clone(&state.endpoints[*j].queue),
                (None, Some((sender, spool))) => {
                    let after = state.endpoints.iter().enumerate().position(|(j, e)| {
                        !taken[j] && !successor_of[j] && e.config.url == config.url
                    });
                    let after = after.map(|j| {
                        successor_of[j] = true;
                        state.endpoints[j].queue.done()
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
            });
        }
        // Labels of the declared series for the new endpoint list.
        let all_kept = origin.iter().all(Option::is_some);
        for stripe in self.stripes.iter() {
            let mut stripe = stripe.write();
            for entry in stripe.values_mut() {
                let decoded = if all_kept {
                    None
                } else {
                    encode::decode_labels(&entry.raw)
                };
                entry.endpoints = new_queues
                    .iter()
                    .zip(&origin)
                    .map(|(endpoint, origin)| match origin {
                        Some(j) => entry.endpoints.get(*j).cloned().flatten(),
                        None => decoded.as_ref().and_then(|labels| {
                            endpoint_labels(
                                labels,
                                &entry.raw,
                                external_labels,
                                &endpoint.config.write_relabel_configs,
                            )
                        }),
                    })
                    .collect();
            }
        }
        let old = std::mem::replace(&mut state.endpoints, new_queues);
        state.external_labels = external_labels.clone();
        drop(state);
        let flush_deadline = self.options.flush_deadline;
        for (j, endpoint) in old.into_iter().enumerate() {
            if !taken[j] {
                tokio::spawn(async move { endpoint.queue.stop(flush_deadline).await });
            }
        }
        Ok(())
    }

    /// Stops every endpoint: what is queued is sent for up to `flush_deadline`, then dropped.
    /// Samples appended afterwards are not sent.
    pub async fn shutdown(&self) {
        let endpoints = {
            let mut state = self.state.write();
            for stripe in self.stripes.iter() {
                for entry in stripe.write().values_mut() {
                    entry.endpoints = Box::new([]);
                }
            }
            std::mem::take(&mut state.endpoints)
        };
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

    /// Declared series.
    pub fn series_count(&self) -> usize {
        self.stripes.iter().map(|s| s.read().len()).sum()
    }

    /// The labels endpoint `endpoint` sends for `series`: `None` when the series is unknown or
    /// dropped by relabeling there.
    pub fn endpoint_labels(&self, endpoint: usize, series: SeriesRef) -> Option<Labels> {
        let stripe = self.stripe(series).read();
        let encoded = stripe.get(&series)?.endpoints.get(endpoint)?.as_ref()?;
        encode::decode_labels(encoded)
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
    fn series(
        &self,
        series: SeriesRef,
        labels: &Labels,
        metadata: Option<Arc<metadata::MetricMetadata>>,
    ) {
        let state = self.state.read();
        let raw = encode::encode_labels(labels);
        let endpoints = state
            .endpoints
            .iter()
            .map(|e| {
                endpoint_labels(
                    labels,
                    &raw,
                    &state.external_labels,
                    &e.config.write_relabel_configs,
                )
            })
            .collect();
        self.stripe(series).write().insert(
            series,
            SeriesEntry {
                raw,
                endpoints,
                metadata,
            },
        );
    }

    fn append(&self, samples: &[Sample]) {
        let state = self.state.read();
        if state.endpoints.is_empty() || samples.is_empty() {
            return;
        }
        let shards: Vec<_> = state.endpoints.iter().map(|e| e.queue.shards()).collect();
        // A shard with room now takes this whole scrape (see `shard`'s queue policy).
        let rooms: Vec<Vec<bool>> = shards.iter().map(|set| set.room()).collect();
        // Only remote write 2.0 sends per-series metadata.
        let wants_metadata: Vec<bool> = state
            .endpoints
            .iter()
            .map(|e| e.config.protobuf_message == ProtobufMessage::V2)
            .collect();
        for endpoint in &state.endpoints {
            endpoint.queue.samples_in(samples.len() as u64);
        }
        let mut unknown = 0u64;
        let mut relabeled = vec![0u64; state.endpoints.len()];
        for sample in samples {
            let stripe = self.stripe(sample.series).read();
            let Some(entry) = stripe.get(&sample.series) else {
                unknown += 1;
                continue;
            };
            for (i, labels) in entry.endpoints.iter().enumerate() {
                match labels {
                    Some(labels) => state.endpoints[i].queue.enqueue(
                        &shards[i],
                        &rooms[i],
                        Entry {
                            series: sample.series,
                            labels: Arc::clone(labels),
                            metadata: if wants_metadata[i] {
                                entry.metadata.clone()
                            } else {
                                None
                            },
                            timestamp_ms: sample.timestamp_ms,
                            value_bits: sample.value_bits,
                        },
                    ),
                    None => relabeled[i] += 1,
                }
            }
        }
        for (endpoint, n) in state.endpoints.iter().zip(relabeled) {
            if n > 0 {
                endpoint.queue.dropped(DropReason::Relabel, n);
            }
            if unknown > 0 {
                endpoint.queue.dropped(DropReason::UnknownSeries, unknown);
            }
        }
        if unknown > 0 {
            tracing::info!(
                count = unknown,
                "dropped samples for series that were not declared"
            );
        }
    }

    fn forget(&self, series: SeriesRef) {
        self.stripe(series).write().remove(&series);
    }
}

/// The labels one endpoint sends for a series (spec §6.1), encoded; `None` when
/// `write_relabel_configs` drops the series. Shares `raw` when nothing changed.
fn endpoint_labels(
    labels: &Labels,
    raw: &Arc<[u8]>,
    external_labels: &BTreeMap<String, String>,
    write_relabel_configs: &[RelabelConfig],
) -> Option<Arc<[u8]>> {
    if write_relabel_configs.is_empty()
        && external_labels
            .keys()
            .all(|name| labels.contains(name) || external_labels[name].is_empty())
    {
        return Some(Arc::clone(raw));
    }
    let mut labels = labels.clone();
    for (name, value) in external_labels {
        labels.set_if_absent(name, value.as_str());
    }
    if !crate::relabel::process(&mut labels, write_relabel_configs) {
        return None;
    }
    let encoded = encode::encode_labels(&labels);
    Some(if encoded == *raw {
        Arc::clone(raw)
    } else {
        encoded
    })
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
