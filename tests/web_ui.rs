//! The web UI in a real browser (Debian's headless Chromium) against a running 3-replica
//! cluster on 127.0.0.2-4: row counts match the JSON API, the health filter and search work
//! as a user drives them, the cluster switch shows every target with the replica scraping it
//! (linked to that replica's page), hostile label values render as text. Screenshots of every
//! page go to `<target>/screenshots/` for people to look at.

mod common;

use common::browser::{Browser, Page, screenshot_dir};
use common::{Process, free_port, promshard_bin, serve_fixed_targets};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const REPLICAS: usize = 3;
const UP_TARGETS: usize = 24;
const DOWN_TARGETS: usize = 6;
/// A label value that would run script if a page spliced it in unescaped.
const HOSTILE: &str = r#"<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"#;

fn write_config(dir: &Path, up: &[String], down: &[String]) -> std::path::PathBuf {
    let quoted = |list: &[String]| {
        list.iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let hostile = HOSTILE.replace('\'', "''");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\n\
         scrape_configs:\n\
         \x20 - job_name: apps\n    static_configs:\n      - targets: [{}]\n        labels: {{team: blue}}\n\
         \x20   metric_relabel_configs:\n      - source_labels: [series]\n        regex: '0'\n        action: drop\n\
         \x20 - job_name: broken\n    static_configs:\n      - targets: [{}]\n        labels: {{note: '{hostile}'}}\n",
        quoted(up),
        quoted(down),
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).expect("write config");
    path
}

/// Addresses nothing listens on: scrapes fail at once with "connection refused".
fn closed_addresses(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect()
}

async fn get(url: &str) -> Value {
    common::get_json(&reqwest::Client::new(), url, Duration::from_secs(10)).await
}

/// Waits until every target is scraped by exactly one replica and has a health.
async fn wait_for_settled_cluster(address: &str, targets: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = get(&format!("http://{address}/api/v1/targets?scope=cluster")).await;
        let active = body["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let settled = active.len() == targets
            && active.iter().all(|t| {
                t["owners"].as_array().is_some_and(|o| o.len() == 1) && t["health"] != "unknown"
            });
        if settled {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not settle in 60 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn count(page: &Page, selector: &str) -> usize {
    page.eval(&format!("document.querySelectorAll('{selector}').length"))
        .await
        .expect("count elements")
}

const VISIBLE_ROWS: &str = "tr.target:not([hidden])";

async fn shot(page: &Page, name: &str) {
    let path = screenshot_dir().join(format!("web_ui-{name}.png"));
    page.screenshot(&path).await.expect("screenshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_a_browser_against_three_replicas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = serve_fixed_targets(UP_TARGETS, 20).await;
    let down = closed_addresses(DOWN_TARGETS);
    let config = write_config(dir.path(), &up, &down);
    let port = free_port();
    let peers: Vec<String> = (0..REPLICAS)
        .map(|i| format!("127.0.0.{}:{port}", i + 2))
        .collect();
    let mut replicas: Vec<Process> = Vec::new();
    for (i, address) in peers.iter().enumerate() {
        let args = vec![
            format!("--config.file={}", config.display()),
            format!("--web.listen-address={address}"),
            format!(
                "--storage.path={}",
                dir.path().join(format!("data-{i}")).display()
            ),
            format!("--cluster.peers={}", peers.join(",")),
            "--cluster.probe-interval=300ms".to_string(),
        ];
        let log = dir.path().join(format!("replica-{i}.log"));
        replicas.push(Process::spawn(
            &format!("replica-{i}"),
            promshard_bin(),
            &args,
            &log,
        ));
    }
    let total = UP_TARGETS + DOWN_TARGETS;
    let cluster = wait_for_settled_cluster(&peers[0], total).await;

    let browser = Browser::launch();
    let page = browser.new_page().await;

    // Each replica's own page lists exactly what its JSON API lists.
    let mut local_rows = 0;
    for (i, address) in peers.iter().enumerate() {
        let api = get(&format!("http://{address}/api/v1/targets")).await;
        let active = api["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        page.goto(&format!("http://{address}/targets"))
            .await
            .expect("open /targets");
        assert_eq!(count(&page, "tr.target").await, active.len(), "replica {i}");
        assert_eq!(
            count(&page, VISIBLE_ROWS).await,
            active.len(),
            "replica {i}"
        );
        shot(&page, &format!("targets-replica-{i}")).await;
        local_rows += active.len();

        // The health filter, as a user clicks it: only down targets, then back to all.
        let down_here = active.iter().filter(|t| t["health"] == "down").count();
        page.click("input[name=health][value=down]")
            .await
            .expect("click down");
        assert_eq!(
            count(&page, VISIBLE_ROWS).await,
            down_here,
            "replica {i} down"
        );
        let url: String = page.eval("location.search").await.expect("location");
        assert!(
            url.contains("health=down"),
            "the filter is not in the URL: {url}"
        );
        page.click("input[name=health][value=down]")
            .await
            .expect("unclick down");
        assert_eq!(
            count(&page, VISIBLE_ROWS).await,
            active.len(),
            "replica {i} all"
        );

        // Search: one target's address finds exactly its row.
        if let Some(target) = active.first() {
            let endpoint = target["labels"]["instance"].as_str().expect("instance");
            page.type_into("input[name=search]", endpoint)
                .await
                .expect("type");
            assert_eq!(count(&page, VISIBLE_ROWS).await, 1, "search {endpoint}");
            let shown: String = page
                .eval("document.getElementById('shown-count').textContent")
                .await
                .expect("shown count");
            assert_eq!(shown, "1");
            page.type_into("input[name=search]", "")
                .await
                .expect("clear");
        }
        // A reload keeps the filter, applied by the server this time.
        page.goto(&format!(
            "http://{address}/targets?health=up&search=team%3D%22blue"
        ))
        .await
        .expect("open filtered");
        let up_here = active.iter().filter(|t| t["health"] == "up").count();
        assert_eq!(
            count(&page, VISIBLE_ROWS).await,
            up_here,
            "replica {i} server filter"
        );
    }
    assert_eq!(local_rows, total, "the replicas' own lists do not add up");

    // Hostile label values are text, and no script of theirs ran.
    page.goto(&format!(
        "http://{}/targets?scope=cluster&pool=broken",
        peers[0]
    ))
    .await
    .expect("open broken pool");
    let pwned: bool = page
        .eval("window.__pwned !== undefined")
        .await
        .expect("eval");
    assert!(!pwned, "a label value ran as script");
    let shown_as_text: bool = page
        .eval(&format!(
            "Array.from(document.querySelectorAll('.label')).some(e => e.textContent === {})",
            serde_json::to_string(&format!("note=\"{HOSTILE}\"")).expect("json")
        ))
        .await
        .expect("eval");
    assert!(
        shown_as_text,
        "the hostile label value is not shown as text"
    );
    assert_eq!(count(&page, "tr.target img").await, 0);

    // The cluster switch, from replica 1: every target once, with its owner.
    page.goto(&format!("http://{}/targets", peers[1]))
        .await
        .expect("open");
    page.click("#scope-cluster")
        .await
        .expect("switch to cluster");
    page.wait_for(
        "location.search.includes('scope=cluster') && document.readyState === 'complete'",
        Duration::from_secs(10),
    )
    .await
    .expect("cluster scope");
    assert_eq!(count(&page, "tr.target").await, total);
    assert_eq!(count(&page, "tr.target a.owner").await, total);
    shot(&page, "targets-cluster").await;
    // Each row's owner is the one the JSON API names, and links to that replica's page.
    let rows: Vec<(String, String, String)> = page
        .eval(
            "Array.from(document.querySelectorAll('tr.target')).map(r => [\
               r.querySelector('td a').textContent, \
               r.querySelector('a.owner').textContent, \
               r.querySelector('a.owner').href])",
        )
        .await
        .expect("rows");
    for (url, owner, link) in &rows {
        let target = cluster["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["scrapeUrl"] == url.as_str())
            .unwrap_or_else(|| panic!("{url} is not in the JSON API"));
        assert_eq!(target["owners"][0], owner.as_str(), "{url}");
        assert!(
            link.starts_with(&format!("http://{owner}/targets?")),
            "{link}"
        );
    }
    // Following an owner link lands on that replica's page, showing that target.
    let (url, owner, _) = rows
        .iter()
        .find(|(_, owner, _)| owner != &peers[1])
        .expect("a target of another replica");
    let marked: bool = page
        .eval(&format!(
            "(() => {{ const row = Array.from(document.querySelectorAll('tr.target'))\
               .find(r => r.querySelector('td a').textContent === {}); \
               if (!row) return false; row.querySelector('a.owner').id = 'follow-me'; return true; }})()",
            serde_json::to_string(url).expect("json")
        ))
        .await
        .expect("mark the owner link");
    assert!(marked, "no row for {url}");
    page.click("#follow-me").await.expect("follow owner");
    page.wait_for(
        &format!("location.host === '{owner}' && document.readyState === 'complete'"),
        Duration::from_secs(10),
    )
    .await
    .expect("on the owner's page");
    assert_eq!(count(&page, VISIBLE_ROWS).await, 1);

    // The discovered labels open in place.
    page.click("tr.target:not([hidden]) details.disc summary")
        .await
        .expect("open discovered");
    page.wait_for(
        "document.querySelector('tr.target:not([hidden]) .disc-body').textContent.includes('__address__')",
        Duration::from_secs(10),
    )
    .await
    .expect("discovered labels loaded");

    // /cluster: every member, with the views agreeing.
    page.goto(&format!("http://{}/cluster", peers[2]))
        .await
        .expect("open /cluster");
    assert_eq!(count(&page, "tr.member").await, REPLICAS);
    let agree: String = page
        .eval("document.getElementById('views-agree').textContent")
        .await
        .expect("views");
    assert_eq!(agree.trim(), "agree");
    shot(&page, "cluster").await;

    // The other pages render, with their numbers from this replica.
    page.goto(&format!("http://{}/cardinality", peers[0]))
        .await
        .expect("open");
    let api = get(&format!("http://{}/api/v1/status/series", peers[0])).await;
    let series: String = page
        .eval("document.getElementById('series').textContent")
        .await
        .expect("series");
    assert_eq!(series, api["data"]["series"].to_string());
    // Each `apps` target exposes 20 `metric` series; metric relabeling drops one.
    let targets = get(&format!("http://{}/api/v1/targets", peers[0])).await;
    let apps_here = targets["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["scrapePool"] == "apps" && t["health"] == "up")
        .count() as u64;
    assert!(apps_here > 0, "replica 0 scrapes no apps target: {targets}");
    let metric = api["data"]["seriesCountByMetricName"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == "metric")
        .unwrap_or_else(|| panic!("no `metric` in {api}"));
    assert_eq!(metric["targets"], apps_here);
    assert_eq!(metric["series"], 19 * apps_here);
    assert_eq!(metric["scrapedSeries"], 20 * apps_here);
    let row: Vec<String> = page
        .eval(
            "Array.from(document.querySelectorAll('#by-metric tr'))\
               .find(r => r.querySelector('code') && r.querySelector('code').textContent === 'metric')\
               .querySelectorAll('td').values().map(c => c.textContent).toArray()",
        )
        .await
        .expect("the metric's row");
    let expected = [apps_here, 19 * apps_here, 20 * apps_here, apps_here].map(|n| n.to_string());
    assert_eq!(row[1..], expected, "{row:?}");
    shot(&page, "cardinality").await;
    for (name, path) in [
        ("home", "/"),
        ("service-discovery", "/service-discovery"),
        ("config", "/config"),
        ("flags", "/flags"),
    ] {
        page.goto(&format!("http://{}{path}", peers[0]))
            .await
            .expect("open");
        let title: String = page
            .eval("document.querySelector('h1').textContent")
            .await
            .expect("h1");
        assert!(!title.is_empty(), "{path}");
        shot(&page, name).await;
    }
    for replica in &mut replicas {
        replica.check_running().expect("replica still running");
    }
}
