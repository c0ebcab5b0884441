//! `promshard demo`: the article's walk-through on one machine, without Kubernetes.
//!
//! Metrics generators (6 × 10,045 series) and a remote-write receiver run in this process;
//! promshard replicas run as child processes on 127.0.0.2, 127.0.0.3, … with
//! `--shard.max-series`. The demo plays the StatefulSet controller: it starts replicas while
//! the cluster's desired replicas (`GET /api/v1/cluster`) is above the running count, stops
//! the highest ordinal while it is below, and ends when the placement is steady and the
//! receiver holds every series with a sample after it settled.

pub mod receiver;

use crate::config::duration::PromDuration;
use crate::generator::{GenOptions, Generator};
use receiver::{EmbeddedReceiver, PrometheusReceiver, Received};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The job name of the article's config.
const JOB: &str = "metrics-test";

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReceiverKind {
    /// A receiver inside the demo that keeps every series and checks every sample.
    Embedded,
    /// Debian's prometheus with `--web.enable-remote-write-receiver`, queried back.
    Prometheus,
}

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Metrics generator targets (the article's pods).
    #[arg(long, default_value_t = 6)]
    pub generators: usize,
    /// Series each generator exposes.
    #[arg(long, default_value_t = 10_045)]
    pub series: usize,
    /// Most series one replica should scrape; the cluster asks for ceil(total / this) replicas.
    #[arg(long = "shard.max-series", default_value_t = 30_000)]
    pub max_series: u64,
    /// Upper bound on replicas (also how many peer addresses every replica probes).
    #[arg(long = "shard.max-replicas", default_value_t = 6)]
    pub max_replicas: usize,
    /// Scrape interval of the job (the article uses 15s; shorter makes the demo quicker).
    #[arg(long = "scrape-interval", default_value = "5s", value_parser = PromDuration::parse)]
    pub scrape_interval: PromDuration,
    /// Where the replicas write.
    #[arg(long, value_enum, default_value_t = ReceiverKind::Embedded)]
    pub receiver: ReceiverKind,
    /// Web port of every replica (each on its own loopback address).
    #[arg(long = "web.port", default_value_t = 9090)]
    pub web_port: u16,
    /// Give up (exit 1) when the cluster has not settled with every series received by then.
    #[arg(long, default_value = "5m", value_parser = PromDuration::parse)]
    pub timeout: PromDuration,
    /// Directory for the config, the replicas' storage and logs (default: a new temporary
    /// directory, removed at the end unless --keep).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the replicas and generators running after the final table, until Ctrl-C.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Setup(String),
    #[error("replica {replica} exited: {status}; its log ({log}) ends with:\n{tail}")]
    ReplicaExited {
        replica: usize,
        status: String,
        log: String,
        tail: String,
    },
    #[error("not settled after {0}: see the last progress line and the table above")]
    Timeout(String),
    #[error("finished with {0}")]
    Incomplete(String),
}

/// One promshard replica run as a child process.
struct Replica {
    ordinal: usize,
    address: String,
    child: Child,
    log: PathBuf,
}

impl Replica {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the demo shows each second.
#[derive(Default, Clone, PartialEq)]
struct ClusterView {
    desired: u64,
    /// Member address → (targets, series), from the first replica that answers.
    members: BTreeMap<String, (u64, u64)>,
    views_agree: bool,
    handoffs: u64,
}

pub async fn run(args: DemoArgs) -> Result<(), DemoError> {
    if args.generators == 0 || args.series == 0 || args.max_replicas == 0 {
        return Err(DemoError::Setup(
            "--generators, --series and --shard.max-replicas must be at least 1".into(),
        ));
    }
    let temporary = match &args.dir {
        Some(_) => None,
        None => Some(tempdir()?),
    };
    let dir = args
        .dir
        .clone()
        .or_else(|| temporary.as_ref().map(|t| t.path.clone()))
        .ok_or_else(|| DemoError::Setup("no directory".into()))?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| DemoError::Setup(format!("cannot create {}: {e}", dir.display())))?;

    let generators = start_generators(&args).await?;
    let expected_series = (args.generators * args.series) as u64;
    let (write_url, receiver) = start_receiver(&args, &dir).await?;
    let config = write_config(&dir, &generators, &write_url, args.scrape_interval)?;
    let peers: Vec<String> = (0..args.max_replicas)
        .map(|i| format!("127.0.0.{}:{}", i + 2, args.web_port))
        .collect();
    println!(
        "promshard demo: {} generators × {} series = {} series, --shard.max-series={}, scrape every {}",
        args.generators, args.series, expected_series, args.max_series, args.scrape_interval
    );
    println!("directory {} (config, storage, logs)", dir.display());

    let started = Instant::now();
    let deadline = started + args.timeout.0;
    let interval_ms = args.scrape_interval.as_millis() as i64;
    let mut replicas: Vec<Replica> = vec![start_replica(0, &peers, &config, &dir, &args)?];
    let mut last_view = ClusterView::default();
    let mut steady_since: Option<(Instant, i64)> = None;
    let mut last_line = String::new();
    let mut last_print = Instant::now();
    let outcome = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for replica in &mut replicas {
            check_running(replica)?;
        }
        let view = cluster_view(&replicas).await;
        let settle_ms = steady_since.map_or(i64::MAX, |(_, ms)| ms);
        let received = receiver.received(settle_ms).await;
        // The controller's part: as many replicas as the cluster asks for.
        let desired = (view.desired as usize).clamp(1, args.max_replicas);
        if view.desired > 0 && desired > replicas.len() {
            while replicas.len() < desired {
                let ordinal = replicas.len();
                replicas.push(start_replica(ordinal, &peers, &config, &dir, &args)?);
            }
        } else if view.desired > 0
            && desired < replicas.len()
            && let Some(mut leaving) = replicas.pop()
        {
            stop_gracefully(&mut leaving).await;
        }
        let placed: u64 = view.members.values().map(|(t, _)| *t).sum();
        let steady = view == last_view
            && view.views_agree
            && view.handoffs == 0
            && view.members.len() == replicas.len()
            && desired == replicas.len()
            && placed == args.generators as u64;
        last_view = view.clone();
        if !steady {
            steady_since = None;
        } else if steady_since.is_none() {
            // Samples from the next whole slot on must all arrive.
            steady_since = Some((Instant::now(), now_ms() + interval_ms));
        }
        // A line when the cluster or the series received changed, else one every 5 s.
        let (line, samples) = progress_line(&replicas, &view, &received);
        if line != last_line || last_print.elapsed() >= Duration::from_secs(5) {
            println!("[{:>4}s] {line}{samples}", started.elapsed().as_secs());
            last_line = line;
            last_print = Instant::now();
        }
        if let (Some((since, _)), Ok(received)) = (steady_since, &received) {
            let waited = since.elapsed() > args.scrape_interval.0 * 2;
            if waited && received.series_fresh == expected_series {
                break Ok(*received);
            }
        }
        if Instant::now() > deadline {
            break Err(DemoError::Timeout(args.timeout.to_string()));
        }
    };
    let view = cluster_view(&replicas).await;
    let received = match &outcome {
        Ok(received) => Some(*received),
        Err(_) => receiver.received(0).await.ok(),
    };
    print!(
        "{}",
        final_table(&replicas, &view, received.as_ref(), expected_series)
    );
    if args.keep {
        println!("--keep: everything keeps running; Ctrl-C ends it.");
        let _ = tokio::signal::ctrl_c().await;
    }
    for replica in replicas.iter_mut().rev() {
        stop_gracefully(replica).await;
    }
    drop(generators);
    let received = outcome?;
    let problems = problems(&received, expected_series);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DemoError::Incomplete(problems.join(", ")))
    }
}

/// What keeps a run from being a success: missing series, conflicting or out-of-order
/// samples. Identical resends are reported but allowed (remote write retries may resend).
fn problems(received: &Received, expected: u64) -> Vec<String> {
    let mut problems = Vec::new();
    if received.series != expected {
        problems.push(format!(
            "{} series received, {expected} expected",
            received.series
        ));
    }
    if received.conflicts > 0 {
        problems.push(format!("{} conflicting samples", received.conflicts));
    }
    if received.out_of_order > 0 {
        problems.push(format!("{} out-of-order samples", received.out_of_order));
    }
    problems
}

struct TempDir {
    path: PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn tempdir() -> Result<TempDir, DemoError> {
    let path = std::env::temp_dir().join(format!(
        "promshard-demo-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&path)
        .map_err(|e| DemoError::Setup(format!("cannot create {}: {e}", path.display())))?;
    Ok(TempDir { path })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// Generators on 127.0.0.1, each on its own port; they stop with the returned handles.
async fn start_generators(args: &DemoArgs) -> Result<Vec<(String, GeneratorTask)>, DemoError> {
    let options = GenOptions {
        series: args.series,
        ..GenOptions::default()
    };
    let mut generators = Vec::new();
    for target in 0..args.generators {
        let generator = Generator::new(&options, target)
            .map_err(|e| DemoError::Setup(format!("generator: {e}")))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| DemoError::Setup(format!("generator listener: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| DemoError::Setup(format!("generator listener: {e}")))?
            .to_string();
        let task = tokio::spawn(crate::generator::serve(listener, Arc::new(generator)));
        generators.push((address, GeneratorTask(task)));
    }
    Ok(generators)
}

/// A generator's server task, aborted when dropped.
struct GeneratorTask(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for GeneratorTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Receiver {
    Embedded(EmbeddedReceiver, tokio::task::JoinHandle<()>),
    Prometheus(PrometheusReceiver, Child),
}

impl Drop for Receiver {
    fn drop(&mut self) {
        match self {
            Receiver::Embedded(_, task) => task.abort(),
            Receiver::Prometheus(_, child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Receiver {
    async fn received(&self, fresh_since_ms: i64) -> Result<Received, String> {
        match self {
            Receiver::Embedded(receiver, _) => Ok(receiver.received(fresh_since_ms)),
            Receiver::Prometheus(receiver, _) => receiver.received(fresh_since_ms).await,
        }
    }
}

async fn start_receiver(args: &DemoArgs, dir: &Path) -> Result<(String, Receiver), DemoError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| DemoError::Setup(format!("receiver listener: {e}")))?;
    let address = listener
        .local_addr()
        .map_err(|e| DemoError::Setup(format!("receiver listener: {e}")))?
        .to_string();
    match args.receiver {
        ReceiverKind::Embedded => {
            listener
                .set_nonblocking(true)
                .map_err(|e| DemoError::Setup(format!("receiver listener: {e}")))?;
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| DemoError::Setup(format!("receiver listener: {e}")))?;
            let receiver = EmbeddedReceiver::new(JOB);
            let app = receiver.router();
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            let url = format!("http://{address}/api/v1/write");
            Ok((url, Receiver::Embedded(receiver, task)))
        }
        ReceiverKind::Prometheus => {
            // The port was free a moment ago; prometheus binds it next.
            drop(listener);
            let config = dir.join("receiver.yml");
            std::fs::write(&config, "global: {}\n")
                .map_err(|e| DemoError::Setup(format!("{}: {e}", config.display())))?;
            let log = std::fs::File::create(dir.join("prometheus.log"))
                .map_err(|e| DemoError::Setup(format!("prometheus log: {e}")))?;
            let err = log
                .try_clone()
                .map_err(|e| DemoError::Setup(format!("prometheus log: {e}")))?;
            let child = Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("prometheus-data").display()
                ))
                .arg(format!("--web.listen-address={address}"))
                .arg("--web.enable-remote-write-receiver")
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err)
                .spawn()
                .map_err(|e| {
                    DemoError::Setup(format!(
                        "cannot run prometheus ({e}): install Debian's prometheus package or use --receiver=embedded"
                    ))
                })?;
            let receiver = PrometheusReceiver::new(address.clone(), JOB);
            let ready = format!("http://{address}/-/ready");
            let start = Instant::now();
            while !reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                if start.elapsed() > Duration::from_secs(30) {
                    return Err(DemoError::Setup(format!(
                        "prometheus not ready on {address} after 30 s; see {}",
                        dir.join("prometheus.log").display()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let url = format!("http://{address}/api/v1/write");
            Ok((url, Receiver::Prometheus(receiver, child)))
        }
    }
}

/// The article's config, with static targets for the generators instead of pod discovery.
fn write_config(
    dir: &Path,
    generators: &[(String, GeneratorTask)],
    write_url: &str,
    interval: PromDuration,
) -> Result<PathBuf, DemoError> {
    let mut config = format!(
        "global:\n  scrape_interval: {interval}\n  external_labels:\n    cluster: custom\n\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n"
    );
    for (index, (address, _)) in generators.iter().enumerate() {
        let _ = write!(
            config,
            "      - targets: ['{address}']\n        labels: {{pod: metrics-{index}}}\n"
        );
    }
    let _ = write!(
        config,
        "remote_write:\n  - url: {write_url}\n    queue_config:\n      batch_send_deadline: 1s\n"
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config)
        .map_err(|e| DemoError::Setup(format!("{}: {e}", path.display())))?;
    Ok(path)
}

fn start_replica(
    ordinal: usize,
    peers: &[String],
    config: &Path,
    dir: &Path,
    args: &DemoArgs,
) -> Result<Replica, DemoError> {
    let program = std::env::current_exe()
        .map_err(|e| DemoError::Setup(format!("cannot find the promshard binary: {e}")))?;
    let address = peers[ordinal].clone();
    let log = dir.join(format!("replica-{ordinal}.log"));
    let out = std::fs::File::create(&log)
        .map_err(|e| DemoError::Setup(format!("{}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| DemoError::Setup(format!("{}: {e}", log.display())))?;
    let child = Command::new(program)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address={address}"))
        .arg(format!(
            "--storage.path={}",
            dir.join(format!("replica-{ordinal}")).display()
        ))
        .arg(format!("--cluster.peers={}", peers.join(",")))
        .arg(format!("--shard.max-series={}", args.max_series))
        .arg(format!("--shard.max-replicas={}", args.max_replicas))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| DemoError::Setup(format!("cannot start replica {ordinal}: {e}")))?;
    println!("  starting replica {ordinal} on {address}");
    Ok(Replica {
        ordinal,
        address,
        child,
        log,
    })
}

fn check_running(replica: &mut Replica) -> Result<(), DemoError> {
    match replica.child.try_wait() {
        Ok(Some(status)) => {
            let text = std::fs::read_to_string(&replica.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(10).collect();
            Err(DemoError::ReplicaExited {
                replica: replica.ordinal,
                status: status.to_string(),
                log: replica.log.display().to_string(),
                tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            })
        }
        _ => Ok(()),
    }
}

/// SIGTERM (the replica hands its targets over and flushes), then SIGKILL after 30 s.
async fn stop_gracefully(replica: &mut Replica) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(replica.child.id().to_string())
        .status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = replica.child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = replica.child.kill();
    let _ = replica.child.wait();
}

/// The cluster as the first answering replica sees it.
async fn cluster_view(replicas: &[Replica]) -> ClusterView {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    for replica in replicas {
        let Ok(response) = client.get(replica.url("/api/v1/cluster")).send().await else {
            continue;
        };
        let Ok(overview) = response.json::<Value>().await else {
            continue;
        };
        let members = overview["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["up"] == true && m["owner"] == true)
            .map(|m| {
                (
                    m["address"].as_str().unwrap_or_default().to_string(),
                    (
                        m["targets"].as_u64().unwrap_or_default(),
                        m["series"].as_u64().unwrap_or_default(),
                    ),
                )
            })
            .collect();
        return ClusterView {
            desired: overview["desired_replicas"].as_u64().unwrap_or_default(),
            members,
            views_agree: overview["views_agree"] == true,
            handoffs: overview["handoffs_in_progress"]
                .as_u64()
                .unwrap_or_default(),
        };
    }
    ClusterView::default()
}

/// The progress line, and the samples received (which change every second) apart.
fn progress_line(
    replicas: &[Replica],
    view: &ClusterView,
    received: &Result<Received, String>,
) -> (String, String) {
    let per_replica: Vec<String> = view
        .members
        .values()
        .map(|(targets, series)| format!("{targets}t/{}", thousands(*series)))
        .collect();
    let (received, samples) = match received {
        Ok(r) => (
            format!("received {} series", thousands(r.series)),
            format!(", {} samples", thousands(r.samples)),
        ),
        Err(e) => (format!("receiver: {e}"), String::new()),
    };
    let line = format!(
        "replicas {} (desired {}) · targets/series per replica [{}] · {}",
        replicas.len(),
        view.desired,
        per_replica.join(", "),
        received
    );
    (line, samples)
}

fn final_table(
    replicas: &[Replica],
    view: &ClusterView,
    received: Option<&Received>,
    expected: u64,
) -> String {
    let mut out = String::from("\nreplica  address            targets    series  page\n");
    for replica in replicas {
        let (targets, series) = view
            .members
            .get(&replica.address)
            .copied()
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<8} {:<18} {:>7} {:>9}  {}",
            replica.ordinal,
            replica.address,
            targets,
            thousands(series),
            replica.url("/targets")
        );
    }
    let total_targets: u64 = view.members.values().map(|(t, _)| *t).sum();
    let total_series: u64 = view.members.values().map(|(_, s)| *s).sum();
    let _ = writeln!(
        out,
        "total    {:<18} {:>7} {:>9}",
        "",
        total_targets,
        thousands(total_series)
    );
    if let Some(r) = received {
        let repeats = r.repeats.map_or_else(|| "not known".to_string(), thousands);
        let _ = writeln!(
            out,
            "\nseries expected {} · received {} · missing {} · duplicates: {} conflicting, {} identical resends · out of order {}",
            thousands(expected),
            thousands(r.series),
            thousands(expected.saturating_sub(r.series)),
            thousands(r.conflicts),
            repeats,
            thousands(r.out_of_order),
        );
    }
    out
}

/// 60270 → "60,270".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(60_270), "60,270");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn success_needs_every_series_and_no_conflict() {
        let complete = Received {
            series: 10,
            series_fresh: 10,
            samples: 40,
            repeats: Some(3),
            conflicts: 0,
            out_of_order: 0,
        };
        assert!(problems(&complete, 10).is_empty());
        assert_eq!(problems(&complete, 11).len(), 1);
        let conflicting = Received {
            conflicts: 1,
            out_of_order: 2,
            ..complete
        };
        assert_eq!(problems(&conflicting, 10).len(), 2);
    }
}
