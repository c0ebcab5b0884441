//! `/api/v1/*` handlers in Prometheus' JSON shapes.

use super::AppState;
use crate::labels::Labels;
use crate::scrape::TargetStatus;
use crate::targets::Target;
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

fn success(data: Value) -> Json<Value> {
    Json(json!({"status": "success", "data": data}))
}

#[derive(Deserialize, Default)]
pub struct TargetsQuery {
    #[serde(default)]
    pub state: String,
    #[serde(default, rename = "scrapePool")]
    pub scrape_pool: String,
    /// `cluster`: every member's targets, merged, each with its `owners`.
    #[serde(default)]
    pub scope: String,
    /// Leaves active targets' discovered labels out (the pages fetch them on demand).
    #[serde(skip)]
    pub without_discovered_labels: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveTarget<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    discovered_labels: Option<&'a Labels>,
    labels: Labels,
    scrape_pool: &'a str,
    scrape_url: &'a str,
    global_url: String,
    last_error: String,
    last_scrape: String,
    last_scrape_duration: f64,
    health: &'a str,
    scrape_interval: String,
    scrape_timeout: String,
    /// Series in the last successful scrape after metric relabeling (promshard's addition).
    series: u64,
    /// The same before metric relabeling (promshard's addition).
    scraped_series: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedTarget<'a> {
    discovered_labels: &'a Labels,
    scrape_pool: &'a str,
}

pub async fn targets(
    State(state): State<Arc<AppState>>,
    Query(query): Query<TargetsQuery>,
) -> Json<Value> {
    if query.scope == "cluster"
        && let Some(cluster) = &state.cluster
    {
        return success(cluster_targets(&state, cluster, &query).await);
    }
    success(local_targets(&state, &query, state.cluster.is_some()))
}

/// Every live member's active targets (this one's computed here), merged by scrape pool,
/// URL and labels; each gets `owners`, the members that scrape it (empty: nobody does yet).
/// A member that does not answer is named in `warnings`.
pub(super) async fn cluster_targets(
    state: &AppState,
    cluster: &crate::coord::Cluster,
    query: &TargetsQuery,
) -> Value {
    let everything = local_targets(state, query, false);
    let mut answers = vec![(
        cluster.member().to_string(),
        local_targets(state, query, true),
    )];
    let mut warnings = Vec::new();
    let mut path = format!(
        "/api/v1/targets?state=active&scrapePool={}",
        query.scrape_pool
    );
    if query.scrape_pool.is_empty() {
        path = "/api/v1/targets?state=active".to_string();
    }
    for member in cluster.ring().members() {
        if member == cluster.member() {
            continue;
        }
        match cluster.get_json::<Value>(member, &path).await {
            Ok(body) => answers.push((member.clone(), body["data"].clone())),
            Err(error) => warnings.push(format!("member {member}: {error}")),
        }
    }
    let identity = |t: &Value| format!("{}\0{}\0{}", t["scrapePool"], t["scrapeUrl"], t["labels"]);
    let mut merged: BTreeMap<String, (Value, Vec<String>)> = BTreeMap::new();
    for (member, data) in &answers {
        for target in data["activeTargets"].as_array().into_iter().flatten() {
            let entry = merged
                .entry(identity(target))
                .or_insert_with(|| (target.clone(), Vec::new()));
            entry.1.push(member.clone());
        }
    }
    let mut active = Vec::new();
    for target in everything["activeTargets"].as_array().into_iter().flatten() {
        let (mut target, mut owners) = merged
            .remove(&identity(target))
            .unwrap_or_else(|| (target.clone(), Vec::new()));
        owners.sort();
        target["owners"] = json!(owners);
        active.push(target);
    }
    let show_active = matches!(
        query.state.to_ascii_lowercase().as_str(),
        "" | "any" | "active"
    );
    let mut data = everything;
    data["activeTargets"] = if show_active {
        json!(active)
    } else {
        json!([])
    };
    if !warnings.is_empty() {
        data["warnings"] = json!(warnings);
    }
    data
}

/// This replica's targets API answer; with `own_only`, the active targets are those it
/// scrapes.
pub(super) fn local_targets(state: &AppState, query: &TargetsQuery, own_only: bool) -> Value {
    let view = state.targets.read().clone();
    let wanted = query.state.to_ascii_lowercase();
    let show_active = matches!(wanted.as_str(), "" | "any" | "active");
    let show_dropped = matches!(wanted.as_str(), "" | "any" | "dropped");
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut dropped_counts = BTreeMap::new();
    for (job, targets) in &view.jobs {
        if !query.scrape_pool.is_empty() && &query.scrape_pool != job {
            continue;
        }
        dropped_counts.insert(job.as_str(), targets.dropped_count);
        if show_active {
            // In a cluster, a replica lists the targets it scrapes (`?scope=cluster`: all).
            active.extend(targets.active.iter().filter_map(|t| {
                let status = match state.scrape.status(job, t) {
                    Some(status) => status,
                    None if own_only => return None,
                    None => TargetStatus::default(),
                };
                let mut target = active_target(job, t, status, &state.external_host);
                if query.without_discovered_labels {
                    target.discovered_labels = None;
                }
                Some(target)
            }));
        }
        if show_dropped {
            dropped.extend(targets.dropped.iter().map(|d| DroppedTarget {
                discovered_labels: d,
                scrape_pool: job,
            }));
        }
    }
    json!({
        "activeTargets": active,
        "droppedTargets": dropped,
        "droppedTargetCounts": dropped_counts,
    })
}

fn active_target<'a>(
    job: &'a str,
    target: &'a Target,
    status: TargetStatus,
    external_host: &str,
) -> ActiveTarget<'a> {
    ActiveTarget {
        discovered_labels: Some(&target.discovered_labels),
        labels: target.public_labels(),
        scrape_pool: job,
        scrape_url: &target.scrape_url,
        global_url: global_url(&target.scrape_url, external_host),
        last_error: status.last_error,
        last_scrape: status
            .last_scrape
            .map_or_else(|| "0001-01-01T00:00:00Z".to_string(), rfc3339),
        last_scrape_duration: status.last_scrape_duration.as_secs_f64(),
        health: match status.up {
            None => "unknown",
            Some(true) => "up",
            Some(false) => "down",
        },
        scrape_interval: target.interval.to_string(),
        scrape_timeout: target.timeout.to_string(),
        series: status.series,
        scraped_series: status.series_scraped,
    }
}

/// `2006-01-02T15:04:05.999999999Z` in UTC, as Go's JSON encodes a `time.Time`.
pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = since_epoch.subsec_nanos();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// Reads what [`rfc3339`] writes (UTC, `Z`, optional fraction); `None` for anything else and
/// for Go's zero time, which the targets API uses for "never".
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut date_parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock_parts = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (
        clock_parts.next()??,
        clock_parts.next()??,
        clock_parts.next()??,
    );
    if year < 1970 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 from the civil date (the inverse of `rfc3339`'s algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    let nanos = if fraction.is_empty() {
        0
    } else if fraction.len() <= 9 && fraction.bytes().all(|b| b.is_ascii_digit()) {
        fraction.parse::<u32>().ok()? * 10u32.pow(9 - fraction.len() as u32)
    } else {
        return None;
    };
    Some(UNIX_EPOCH + std::time::Duration::new(u64::try_from(secs).ok()?, nanos))
}

/// The scrape URL as seen from outside: a loopback host is replaced by ours, port kept
/// (Prometheus' `getGlobalURL`).
pub fn global_url(scrape_url: &str, external_host: &str) -> String {
    let Ok(mut url) = url::Url::parse(scrape_url) else {
        return scrape_url.to_string();
    };
    let is_loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !is_loopback {
        return scrape_url.to_string();
    }
    let external_name = external_host
        .rsplit_once(':')
        .map_or(external_host, |(name, _)| name);
    match url.set_host(Some(external_name)) {
        Ok(()) => url.to_string(),
        Err(_) => scrape_url.to_string(),
    }
}

pub async fn status_config(State(state): State<Arc<AppState>>) -> Json<Value> {
    let config = state.config.read().clone();
    success(json!({"yaml": config.to_redacted_yaml()}))
}

pub async fn status_flags(State(state): State<Arc<AppState>>) -> Json<Value> {
    success(json!(state.flags))
}

/// Prometheus' build information shape; promshard fills in what it knows.
pub async fn status_buildinfo() -> Json<Value> {
    success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("PROMSHARD_REVISION").unwrap_or_default(),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

#[cfg(test)]
mod time_tests {
    use super::rfc3339;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_like_go() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.12Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn parses_what_it_formats() {
        for secs in [0, 59, 951_782_400, 1_700_000_000, 4_102_444_800 + 86_399] {
            for nanos in [0, 120_000_000, 1, 999_999_999] {
                let time = UNIX_EPOCH + Duration::new(secs, nanos);
                assert_eq!(
                    super::parse_rfc3339(&rfc3339(time)),
                    Some(time),
                    "{secs}.{nanos}"
                );
            }
        }
        assert_eq!(super::parse_rfc3339("0001-01-01T00:00:00Z"), None);
        assert_eq!(super::parse_rfc3339("2023-11-14 22:13:20Z"), None);
        assert_eq!(super::parse_rfc3339("2023-13-14T22:13:20Z"), None);
        assert_eq!(super::parse_rfc3339("2023-11-14T22:13:20.x1Z"), None);
    }
}

#[derive(Deserialize, Default)]
pub struct TargetMetadataQuery {
    #[serde(default)]
    match_target: String,
    #[serde(default)]
    metric: String,
    #[serde(default)]
    limit: Option<i64>,
}

fn error(
    status: axum::http::StatusCode,
    kind: &str,
    message: &str,
) -> (axum::http::StatusCode, Json<Value>) {
    (
        status,
        Json(json!({"status": "error", "errorType": kind, "error": message})),
    )
}

/// `{a="b", c="d"}`: the equality matchers `match_target` supports.
fn parse_equality_selector(text: &str) -> Result<Vec<(String, String)>, String> {
    let inner = text.trim();
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    let inner = inner
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| {
            format!("match_target must be a label selector like {{job=\"x\"}}, got {text:?}")
        })?;
    let mut matchers = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .filter(|(n, _)| !n.ends_with('!') && !n.ends_with('~'))
            .ok_or_else(|| {
                format!("only equality matchers are supported in match_target, got {part:?}")
            })?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| format!("label value must be quoted in {part:?}"))?;
        matchers.push((name.trim().to_string(), value.to_string()));
    }
    Ok(matchers)
}

/// `/api/v1/targets/metadata`: what each target exposes as HELP/TYPE/UNIT.
pub async fn targets_metadata(
    State(state): State<Arc<AppState>>,
    Query(query): Query<TargetMetadataQuery>,
) -> (axum::http::StatusCode, Json<Value>) {
    let matchers = match parse_equality_selector(&query.match_target) {
        Ok(m) => m,
        Err(e) => return error(axum::http::StatusCode::BAD_REQUEST, "bad_data", &e),
    };
    let limit = query
        .limit
        .filter(|l| *l >= 0)
        .map(|l| l as usize)
        .unwrap_or(usize::MAX);
    let view = state.targets.read().clone();
    let mut out = Vec::new();
    'targets: for (job, targets) in &view.jobs {
        for target in &targets.active {
            if out.len() >= limit {
                break 'targets;
            }
            let labels = target.public_labels();
            if !matchers.iter().all(|(n, v)| labels.value(n) == v) {
                continue;
            }
            for m in state.scrape.metadata(job, target).iter() {
                if !query.metric.is_empty() && m.metric != query.metric {
                    continue;
                }
                if out.len() >= limit {
                    break 'targets;
                }
                out.push(json!({"target": labels, "metric": m.metric, "type": m.kind.as_str(), "help": m.help, "unit": m.unit}));
            }
        }
    }
    if out.is_empty() {
        return error(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            "specified metadata not found",
        );
    }
    (axum::http::StatusCode::OK, success(Value::Array(out)))
}

#[derive(Deserialize, Default)]
pub struct MetadataQuery {
    #[serde(default)]
    metric: String,
    #[serde(default)]
    limit: Option<i64>,
}

/// `/api/v1/metadata`: distinct metadata per metric over all targets.
pub async fn metadata(
    State(state): State<Arc<AppState>>,
    Query(query): Query<MetadataQuery>,
) -> Json<Value> {
    let view = state.targets.read().clone();
    let mut by_metric: BTreeMap<String, std::collections::BTreeSet<(String, String, String)>> =
        BTreeMap::new();
    for (job, targets) in &view.jobs {
        for target in &targets.active {
            for m in state.scrape.metadata(job, target).iter() {
                if query.metric.is_empty() || m.metric == query.metric {
                    by_metric.entry(m.metric.clone()).or_default().insert((
                        m.kind.as_str().to_string(),
                        m.help.clone(),
                        m.unit.clone(),
                    ));
                }
            }
        }
    }
    let limit = query
        .limit
        .filter(|l| *l >= 0)
        .map(|l| l as usize)
        .unwrap_or(usize::MAX);
    let data: serde_json::Map<String, Value> = by_metric
        .into_iter()
        .take(limit)
        .map(|(metric, entries)| {
            let list: Vec<Value> = entries
                .into_iter()
                .map(|(kind, help, unit)| json!({"type": kind, "help": help, "unit": unit}))
                .collect();
            (metric, Value::Array(list))
        })
        .collect();
    success(Value::Object(data))
}

#[cfg(test)]
mod selector_tests {
    use super::parse_equality_selector;

    #[test]
    fn equality_selectors_only() {
        assert_eq!(
            parse_equality_selector(r#"{job="a", instance="h:1"}"#).unwrap(),
            vec![
                ("job".to_string(), "a".to_string()),
                ("instance".to_string(), "h:1".to_string())
            ]
        );
        assert!(parse_equality_selector("").unwrap().is_empty());
        assert!(parse_equality_selector(r#"{job=~"a"}"#).is_err());
        assert!(parse_equality_selector(r#"{job!="a"}"#).is_err());
        assert!(parse_equality_selector("job").is_err());
    }
}
