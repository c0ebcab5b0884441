//! Differential test: Debian's Prometheus 2.42 and promshard read the same configs and must
//! report the same targets in `/api/v1/targets`.
//!
//! Documented 2.x/3.x differences are normalised: 2.x adds a default port (80/443) to
//! addresses without one, and 3.x adds the `__scrape_native_histograms__`,
//! `__always_scrape_classic_histograms__` and `__convert_classic_histograms_to_nhcb__`
//! labels to the discovered labels.
//!
//! Every target address is on 127.0.0.0/8: Prometheus really scrapes what it discovers.
//!
//! Prometheus 2.42 has a bug: relabeling writes the relabeled labels over the start of a kept
//! target's `discoveredLabels` (later releases recompute them). So each config also runs in a
//! second Prometheus where every job's `relabel_configs` is a keep-all rule: its active targets
//! show the true pre-relabel labels. Where 2.42's answer is not among them, ours must be.

mod common;

use axum::Json;
use axum::routing::get;
use common::{get_json, start_on_free_port, start_prometheus, start_promshard};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const V3_ONLY_LABELS: [&str; 3] = [
    "__scrape_native_histograms__",
    "__always_scrape_classic_histograms__",
    "__convert_classic_histograms_to_nhcb__",
];

/// Removes the port that Prometheus 2.x adds by default from `host:port` when it is the
/// scheme's default; applied to both sides so explicit ports compare equal too.
fn strip_default_port(address: &str, scheme: &str) -> String {
    let default = if scheme == "https" { ":443" } else { ":80" };
    address.strip_suffix(default).unwrap_or(address).to_string()
}

fn normalise_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    format!("{scheme}://{}{path}", strip_default_port(authority, scheme))
}

fn without_v3_labels(labels: &Value) -> Value {
    let mut labels = labels.as_object().cloned().unwrap_or_default();
    for name in V3_ONLY_LABELS {
        labels.remove(name);
    }
    Value::Object(labels)
}

/// The comparable part of one active target.
fn normalise_active(target: &Value) -> Value {
    let scheme = target["labels"]["__scheme__"].as_str().unwrap_or_else(|| {
        target["scrapeUrl"]
            .as_str()
            .and_then(|u| u.split_once("://"))
            .map(|(s, _)| s)
            .unwrap_or("http")
    });
    let mut labels = target["labels"].as_object().cloned().unwrap_or_default();
    if let Some(instance) = labels.get("instance").and_then(Value::as_str) {
        let instance = strip_default_port(instance, scheme);
        labels.insert("instance".into(), Value::String(instance));
    }
    json!({
        "scrapePool": target["scrapePool"],
        "labels": labels,
        "scrapeUrl": normalise_url(target["scrapeUrl"].as_str().unwrap_or("")),
        "scrapeInterval": target["scrapeInterval"],
        "scrapeTimeout": target["scrapeTimeout"],
    })
}

#[derive(Debug, PartialEq)]
struct TargetsSummary {
    /// Comparable fields of each active target, with its discovered labels; sorted.
    active: Vec<(Value, Value)>,
    dropped: Vec<Value>,
}

fn summarise(body: &Value) -> TargetsSummary {
    let list = |key: &str| body["data"][key].as_array().cloned().unwrap_or_default();
    let mut active: Vec<(Value, Value)> = list("activeTargets")
        .iter()
        .map(|t| {
            (
                normalise_active(t),
                without_v3_labels(&t["discoveredLabels"]),
            )
        })
        .collect();
    let mut dropped: Vec<Value> = list("droppedTargets")
        .iter()
        .map(|t| without_v3_labels(&t["discoveredLabels"]))
        .collect();
    active.sort_by_key(|(v, d)| (v.to_string(), d.to_string()));
    dropped.sort_by_key(|v| v.to_string());
    TargetsSummary { active, dropped }
}

/// `# expect active=N dropped=M` on the first line of each config: counts written by hand,
/// so that two equally empty answers cannot pass.
fn expected_counts(text: &str) -> (usize, usize) {
    let first = text.lines().next().unwrap_or("");
    let field = |name: &str| -> usize {
        first
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| {
                panic!("config must start with `# expect active=N dropped=M`, got {first:?}")
            })
    };
    (field("active"), field("dropped"))
}

fn write_file_sd_targets(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("a.json"),
        r#"[{"targets":["127.0.0.81:1","127.0.0.82:1"],"labels":{"env":"x"}},{"targets":["127.0.0.83:1"],"labels":{"__address__":"127.0.0.99:1","zone":"z1"}}]"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("b.json"),
        r#"[{"targets":["127.0.0.84:1"],"labels":{"env":"drop"}}]"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("static.yml"),
        "- targets: ['127.0.0.85:1']\n  labels: {env: y}\n- targets: ['127.0.0.86:1']\n",
    )
    .unwrap();
    std::fs::write(dir.join("ignored.txt"), "[]").unwrap();
}

async fn start_http_sd() -> String {
    let app = axum::Router::new().route(
        "/targets/a",
        get(|| async {
            Json(json!([
                {"targets": ["127.0.0.91:1", "127.0.0.92:1"], "labels": {"__meta_datacenter": "dc1", "env": "p"}},
                {"targets": ["127.0.0.93:1", "127.0.0.94:1"], "labels": {}}
            ]))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// The config with every job's `relabel_configs` replaced by a rule that keeps everything
/// (as JSON, which Prometheus reads as YAML).
fn keep_all_variant(text: &str) -> String {
    let mut config: Value = serde_saphyr::from_str(text).expect("differential config is YAML");
    for job in config["scrape_configs"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        job["relabel_configs"] =
            json!([{"source_labels": ["__address__"], "regex": ".*", "action": "keep"}]);
    }
    config.to_string()
}

/// Checks our answer against Prometheus'; `true_discovered` are the pre-relabel label sets.
fn agree(
    theirs: &TargetsSummary,
    ours: &TargetsSummary,
    true_discovered: &[Value],
) -> Result<(), String> {
    if theirs.dropped != ours.dropped {
        return Err("dropped targets differ".into());
    }
    if theirs.active.len() != ours.active.len() {
        return Err("active target counts differ".into());
    }
    for ((their_target, their_discovered), (our_target, our_discovered)) in
        theirs.active.iter().zip(&ours.active)
    {
        if their_target != our_target {
            return Err(format!(
                "active targets differ: {their_target} vs {our_target}"
            ));
        }
        let their_is_true = true_discovered.contains(their_discovered);
        if their_discovered != our_discovered
            && (their_is_true || !true_discovered.contains(our_discovered))
        {
            return Err(format!(
                "discovered labels differ for {our_target}: prometheus {their_discovered} vs promshard {our_discovered}"
            ));
        }
    }
    Ok(())
}

/// Runs both programs on one config until their answers agree and are stable, or time out.
async fn compare(
    name: String,
    template: String,
    http_sd: String,
    root: PathBuf,
) -> Result<(), String> {
    let dir = root.join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let file_sd_dir = dir.join("file_sd");
    write_file_sd_targets(&file_sd_dir);
    let text = template
        .replace("@FILE_SD_DIR@", &file_sd_dir.display().to_string())
        .replace("@HTTP_SD@", &http_sd);
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, &text).unwrap();
    let (want_active, want_dropped) = expected_counts(&text);

    let keep_all = dir.join("keep-all.yml");
    std::fs::write(&keep_all, keep_all_variant(&text)).unwrap();
    let keep_all_dir = dir.join("keep-all");
    std::fs::create_dir_all(&keep_all_dir).unwrap();

    let (mut prometheus, prom_port) =
        start_on_free_port(|port| start_prometheus(&config, &dir, port)).await;
    let (mut reference, keep_all_port) =
        start_on_free_port(|port| start_prometheus(&keep_all, &keep_all_dir, port)).await;
    let (mut ours, ours_port) =
        start_on_free_port(|port| start_promshard(&config, &dir, port)).await;
    let client = reqwest::Client::new();
    let targets = |port: u16| format!("http://127.0.0.1:{port}/api/v1/targets");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stable_rounds = 0;
    let mut last_reference_len = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for process in [&mut prometheus, &mut reference, &mut ours] {
            process
                .check_running()
                .map_err(|e| format!("{name}: {e}"))?;
        }
        let theirs =
            summarise(&get_json(&client, &targets(prom_port), Duration::from_secs(30)).await);
        let reference_answer =
            summarise(&get_json(&client, &targets(keep_all_port), Duration::from_secs(30)).await);
        let mine =
            summarise(&get_json(&client, &targets(ours_port), Duration::from_secs(30)).await);
        let true_discovered: Vec<Value> = reference_answer
            .active
            .iter()
            .map(|(_, d)| d.clone())
            .collect();
        let complete = theirs.active.len() == want_active
            && theirs.dropped.len() == want_dropped
            && !true_discovered.is_empty()
            && true_discovered.len() == last_reference_len;
        last_reference_len = true_discovered.len();
        let verdict = agree(&theirs, &mine, &true_discovered);
        if complete && verdict.is_ok() {
            stable_rounds += 1;
            if stable_rounds >= 2 {
                return Ok(());
            }
        } else {
            stable_rounds = 0;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{name}: {} (expected by hand: active={want_active} dropped={want_dropped})\n\
                 prometheus active ({}): {:#?}\npromshard active ({}): {:#?}\n\
                 prometheus dropped: {:#?}\npromshard dropped: {:#?}\n\
                 pre-relabel labels (keep-all run): {:#?}\npromshard log:\n{}",
                verdict
                    .err()
                    .unwrap_or_else(|| "never complete and stable".into()),
                theirs.active.len(),
                theirs.active,
                mine.active.len(),
                mine.active,
                theirs.dropped,
                mine.dropped,
                true_discovered,
                ours.log_text()
            ));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_match_prometheus() {
    common::require_program("prometheus", "prometheus");
    let configs_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential");
    let mut configs: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(&configs_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            configs.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    assert!(
        configs.len() >= 10,
        "the differential corpus needs at least 10 configs"
    );
    let root = tempfile::tempdir().unwrap();
    let http_sd = start_http_sd().await;
    let runs: Vec<_> = configs
        .into_iter()
        .map(|(name, text)| {
            tokio::spawn(compare(
                name,
                text,
                http_sd.clone(),
                root.path().to_path_buf(),
            ))
        })
        .collect();
    let mut failures = Vec::new();
    for run in runs {
        if let Err(message) = run
            .await
            .unwrap_or_else(|e| Err(format!("comparison task failed: {e}")))
        {
            failures.push(message);
        }
    }
    assert!(
        failures.is_empty(),
        "{} config(s) differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
