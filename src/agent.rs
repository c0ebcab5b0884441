//! The running process: config, discovery, targets, the web server, reloads and signals.

use crate::cli::Flags;
use crate::config::peer::{PeerClientConfig, load_peer_client_config};
use crate::config::{Config, ConfigErrors, load_file};
use crate::coord::members::{PeerSource, parse_peers, split_host_port};
use crate::coord::{Cluster, ClusterOptions};
use crate::remote_write::disk::DiskQueueOptions;
use crate::remote_write::spool::SpoolOptions;
use crate::remote_write::{RemoteWrite, RemoteWriteOptions};
use crate::sd::TargetGroup;
use crate::targets::targets_from_groups;
use crate::telemetry::{JobLabels, JobStateLabels, Telemetry};
use crate::web::{self, AppState, ReloadRequest, TargetsView};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("error loading config: {0}")]
    Config(ConfigErrors),
    #[error("cannot create storage directory {path}: {source}")]
    Storage {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot start remote write: {0}")]
    RemoteWrite(String),
    #[error("web server failed: {0}")]
    Serve(std::io::Error),
    #[error("cluster: {0}")]
    Cluster(String),
    #[error("--web.config.file {path}: {message}")]
    WebConfig { path: String, message: String },
}

/// Discovered groups of every job, by job name.
pub type GroupsByJob = Arc<crate::sd::TargetSets>;

/// Discovery changes reach the targets at most this often (Prometheus: 5s).
const DISCOVERY_UPDATE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts, keeps or stops discovery providers for the jobs of `config`.
fn apply_discovery(discovery: &crate::sd::Manager, config: &Config) {
    let jobs = config
        .scrape_configs
        .iter()
        .map(|job| (job.job_name.clone(), job.service_discovery.clone()))
        .collect();
    let failed = discovery.apply(jobs);
    if failed > 0 {
        tracing::error!(
            failed,
            "some service discovery configs could not be started"
        );
    }
}

/// Recomputes every job's targets from the current config and discovered groups.
pub fn compute_targets(
    config: &Config,
    groups: &BTreeMap<String, Vec<TargetGroup>>,
) -> TargetsView {
    let telemetry = Telemetry::get();
    telemetry.targets.clear();
    let mut view = TargetsView::default();
    for job in &config.scrape_configs {
        let job_groups = groups.get(&job.job_name).map(Vec::as_slice).unwrap_or(&[]);
        let targets = targets_from_groups(job, job_groups);
        let labels = JobLabels {
            scrape_job: job.job_name.clone(),
        };
        telemetry
            .target_sync_failed
            .get_or_create(&labels)
            .inc_by(targets.invalid.len() as u64);
        for (state, count) in [
            ("active", targets.active.len()),
            ("dropped", targets.dropped_count),
        ] {
            let labels = JobStateLabels {
                scrape_job: job.job_name.clone(),
                state,
            };
            telemetry.targets.get_or_create(&labels).set(count as i64);
        }
        view.jobs.insert(job.job_name.clone(), targets);
    }
    view
}

fn log_config_errors(errors: &ConfigErrors) {
    for error in &errors.0 {
        tracing::error!(file = %error.file.display(), line = error.line, column = error.column, error = %error.message, "invalid configuration");
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Cluster settings from the flags; `None` without `--cluster.peers`.
fn cluster_options(flags: &Flags, serves_tls: bool) -> Result<Option<ClusterOptions>, AgentError> {
    let peers = parse_peers(&flags.cluster_peers).map_err(AgentError::Cluster)?;
    if peers.is_empty() {
        return Ok(None);
    }
    let kubernetes = peers.contains(&PeerSource::Kubernetes);
    if kubernetes && flags.cluster_kubernetes_service.is_empty() {
        return Err(AgentError::Cluster(
            "--cluster.peers=kubernetes needs --cluster.kubernetes.service".into(),
        ));
    }
    let listen_port = split_host_port(&flags.web_listen_address).map(|(_, port)| port);
    let advertise = if !flags.cluster_advertise_address.is_empty() {
        flags.cluster_advertise_address.clone()
    } else if kubernetes {
        std::env::var("POD_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(hostname)
    } else {
        flags.web_listen_address.clone()
    };
    if !kubernetes {
        match split_host_port(&advertise) {
            Some((host, _)) if host != "0.0.0.0" && host != "::" => {}
            _ => {
                return Err(AgentError::Cluster(format!(
                    "--cluster.advertise-address {advertise:?}: want host:port naming this replica as its peers reach it (set it when --web.listen-address listens on all addresses)"
                )));
            }
        }
    }
    let peer_client = match &flags.cluster_peer_config_file {
        None => PeerClientConfig::default_for(serves_tls),
        Some(file) => load_peer_client_config(file, serves_tls)
            .map_err(|e| AgentError::Cluster(e.to_string()))?,
    };
    if flags.cluster_replication_factor == 0 {
        return Err(AgentError::Cluster(
            "--cluster.replication-factor must be at least 1".into(),
        ));
    }
    Ok(Some(ClusterOptions {
        advertise,
        peers,
        replication_factor: flags.cluster_replication_factor,
        probe_interval: flags.cluster_probe_interval.0,
        probe_timeout: flags.cluster_probe_timeout.0,
        probe_failures: flags.cluster_probe_failures,
        resolve_interval: flags.cluster_resolve_interval.0,
        handoff_timeout: flags.cluster_handoff_timeout.0,
        resolver: Default::default(),
        kubernetes_service: (!flags.cluster_kubernetes_service.is_empty())
            .then(|| flags.cluster_kubernetes_service.clone()),
        kubernetes_namespace: (!flags.cluster_kubernetes_namespace.is_empty())
            .then(|| flags.cluster_kubernetes_namespace.clone()),
        peer_port: listen_port.unwrap_or(9090),
        max_series: flags.shard_max_series,
        balance_epsilon: flags.shard_balance_epsilon,
        min_replicas: flags.shard_min_replicas,
        max_replicas: flags.shard_max_replicas,
        statefulset: (!flags.shard_statefulset.is_empty()).then(|| flags.shard_statefulset.clone()),
        scale_down_delay: flags.shard_scale_down_delay.0,
        peer_client,
    }))
}

/// Remote write settings from the flags: disk queues under `<storage.path>/remote-write/`.
fn remote_write_options(flags: &Flags) -> RemoteWriteOptions {
    let max_bytes = flags.remote_write_max_bytes.0;
    RemoteWriteOptions {
        flush_deadline: flags.remote_flush_deadline.0,
        spool: Some(SpoolOptions {
            dir: flags.storage_path.join("remote-write"),
            disk: DiskQueueOptions {
                // Small enough that the size bound deletes a sixteenth at a time.
                segment_bytes: (max_bytes / 16).clamp(64 << 10, 64 << 20),
                max_bytes,
                fsync_every: flags.remote_write_fsync_interval.0,
                fsync_bytes: flags.remote_write_fsync_bytes.0,
            },
        }),
        ..RemoteWriteOptions::default()
    }
}

pub async fn run(flags: Flags) -> Result<(), AgentError> {
    let config = load_file(&flags.config_file).map_err(|e| {
        log_config_errors(&e);
        AgentError::Config(e)
    })?;
    match crate::process::raise_fd_limit() {
        Ok(limit) if limit.soft > limit.soft_before => tracing::info!(
            from = limit.soft_before,
            to = limit.soft,
            "raised the open files limit (process_max_fds)"
        ),
        Ok(limit) => tracing::info!(limit = limit.soft, "open files limit (process_max_fds)"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
    let web_access =
        match &flags.web_config_file {
            None => None,
            Some(file) => Some(web::access::WebAccess::open(file).map_err(|message| {
                AgentError::WebConfig {
                    path: file.display().to_string(),
                    message,
                }
            })?),
        };
    let serves_tls = web_access.as_ref().is_some_and(|a| a.serves_tls());
    std::fs::create_dir_all(&flags.storage_path).map_err(|source| AgentError::Storage {
        path: flags.storage_path.display().to_string(),
        source,
    })?;
    let listener = TcpListener::bind(&flags.web_listen_address)
        .await
        .map_err(|source| AgentError::Listen {
            address: flags.web_listen_address.clone(),
            source,
        })?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);

    Telemetry::get().record_reload(true);
    let config = Arc::new(config);
    let remote_write = Arc::new(
        RemoteWrite::with_options(
            &config.remote_write,
            &config.global.external_labels,
            remote_write_options(&flags),
        )
        .map_err(AgentError::RemoteWrite)?,
    );
    Telemetry::get().register_remote_write(remote_write.clone());
    let sink: Arc<dyn crate::remote_write::SampleSink> = remote_write.clone();
    let cluster_options = cluster_options(&flags, serves_tls)?;
    let scrape = Arc::new(
        crate::scrape::Manager::with_autostart(sink, cluster_options.is_none()).with_defaults(
            crate::scrape::ScrapeDefaults {
                body_size_limit: flags.scrape_default_body_size_limit.0,
                label_limit: flags.scrape_default_label_limit,
            },
        ),
    );
    let cluster = match cluster_options {
        Some(options) => {
            let cluster = Cluster::start(options, scrape.clone()).map_err(AgentError::Cluster)?;
            Telemetry::get().register_cluster(cluster.clone());
            Some(cluster)
        }
        None => None,
    };
    Telemetry::get().register_scrape(scrape.counters());
    let weak_scrape = Arc::downgrade(&scrape);
    remote_write.set_metadata_source(Arc::new(move || {
        weak_scrape
            .upgrade()
            .map(|scrape| scrape.all_metadata())
            .unwrap_or_default()
    }));
    let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let state = Arc::new(AppState {
        config: RwLock::new(config.clone()),
        targets: RwLock::new(Arc::new(TargetsView::default())),
        flags: flags.as_map(),
        external_host: format!("{}:{port}", hostname()),
        ready: AtomicBool::new(false),
        reload: reload_tx,
        scrape: scrape.clone(),
        cluster: cluster.clone(),
    });

    let discovery = crate::sd::Manager::new(DISCOVERY_UPDATE_INTERVAL);
    Telemetry::get().register_sd(discovery.metrics());
    apply_discovery(&discovery, &config);
    let (config_tx, config_rx) = watch::channel(config);
    tokio::spawn(update_targets(
        state.clone(),
        config_rx,
        discovery.subscribe(),
    ));
    tokio::spawn(handle_reloads(
        state.clone(),
        flags.config_file.clone(),
        reload_rx,
        config_tx,
        discovery,
        remote_write.clone(),
    ));

    tracing::info!(address = %flags.web_listen_address, config = %flags.config_file.display(), tls = serves_tls, "promshard started");
    state.set_ready(true);
    // The web server keeps serving through a graceful leave: peers probe us and ask for
    // handoffs until it is over.
    let leave_state = state.clone();
    let leave = async move {
        shutdown_signal().await;
        leave_state.set_ready(false);
        if let Some(cluster) = &leave_state.cluster {
            cluster.leave().await;
        }
    };
    let app = match &web_access {
        Some(access) => web::access::protect(web::app(state.clone()), access.clone()),
        None => web::app(state.clone()),
    };
    match web_access.filter(|access| access.serves_tls()) {
        Some(access) => {
            let listener = web::access::TlsListener::new(listener, access).map_err(|source| {
                AgentError::Listen {
                    address: flags.web_listen_address.clone(),
                    source,
                }
            })?;
            axum::serve(listener, app)
                .with_graceful_shutdown(leave)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(leave)
                .await
        }
    }
    .map_err(AgentError::Serve)?;
    state.set_ready(false);
    state.scrape.stop_all();
    remote_write.shutdown().await;
    tracing::info!("promshard stopped");
    Ok(())
}

/// Keeps `state.targets` in step with the config and with discovery.
async fn update_targets(
    state: Arc<AppState>,
    mut config: watch::Receiver<Arc<Config>>,
    mut groups: watch::Receiver<GroupsByJob>,
) {
    loop {
        let current_config = config.borrow_and_update().clone();
        let current_groups = groups.borrow_and_update().clone();
        let view = Arc::new(compute_targets(&current_config, &current_groups));
        state.scrape.sync(&current_config, &view);
        *state.targets.write() = view;
        tokio::select! {
            changed = config.changed() => if changed.is_err() { return },
            changed = groups.changed() => if changed.is_err() { return },
        }
    }
}

/// Reloads on SIGHUP and on `/-/reload`; an invalid file keeps the running config.
async fn handle_reloads(
    state: Arc<AppState>,
    path: std::path::PathBuf,
    mut requests: mpsc::Receiver<ReloadRequest>,
    config_tx: watch::Sender<Arc<Config>>,
    discovery: crate::sd::Manager,
    remote_write: Arc<RemoteWrite>,
) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reload only through /-/reload");
            None
        }
    };
    loop {
        let reply = tokio::select! {
            request = requests.recv() => match request {
                Some(reply) => Some(reply),
                None => return,
            },
            Some(()) = async { match hangups.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => None,
        };
        let loaded = load_file(&path).map_err(|errors| {
            log_config_errors(&errors);
            errors.to_string()
        });
        // Remote write first: if its clients cannot be built, nothing changes.
        let applied = loaded.and_then(|config| {
            remote_write
                .apply(&config.remote_write, &config.global.external_labels)
                .map(|()| config)
                .map_err(|e| format!("cannot apply remote_write: {e}"))
        });
        let result = match applied {
            Ok(config) => {
                let config = Arc::new(config);
                apply_discovery(&discovery, &config);
                *state.config.write() = config.clone();
                let _ = config_tx.send(config);
                Telemetry::get().record_reload(true);
                tracing::info!(file = %path.display(), "completed loading of configuration file");
                Ok(())
            }
            Err(error) => {
                Telemetry::get().record_reload(false);
                tracing::error!(file = %path.display(), %error, "reload failed; keeping the running configuration");
                Err(error)
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
    tracing::info!("received shutdown signal");
}
