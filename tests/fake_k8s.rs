mod common;

// Tests of the fake Kubernetes API server itself, with plain HTTP and line-by-line reading of
// watch streams, plus one run of kube-rs' own watcher and scale client against it.

use common::fake_k8s::{
    Backend, FakeK8s, Kind, WatchReader, endpoint_slice, endpoints, ingress, namespace, node, pod,
    service, statefulset,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SOON: Duration = Duration::from_secs(1);

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    get_query(client, url, &[]).await
}

async fn get_query(client: &reqwest::Client, url: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let with_query = url::Url::parse_with_params(url, query)
        .unwrap_or_else(|error| panic!("URL {url}: {error}"));
    let response = client
        .get(with_query)
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {url} {query:?}: {error}"));
    let code = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.text().await.expect("response body");
    assert_eq!(content_type, "application/json", "GET {url}: {body}");
    let value = serde_json::from_str(&body)
        .unwrap_or_else(|error| panic!("GET {url}: body is not JSON ({error}): {body}"));
    (code, value)
}

async fn patch(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let response = client
        .patch(url)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|error| panic!("PATCH {url}: {error}"));
    let code = response.status().as_u16();
    let body = response.text().await.expect("response body");
    let value = serde_json::from_str(&body)
        .unwrap_or_else(|error| panic!("PATCH {url}: body is not JSON ({error}): {body}"));
    (code, value)
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {list}"))
        .iter()
        .map(|item| {
            item["metadata"]["name"]
                .as_str()
                .expect("item name")
                .to_string()
        })
        .collect()
}

fn rv_of(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("no metadata.resourceVersion in {object}"))
        .parse()
        .expect("numeric resourceVersion")
}

fn assert_status(body: &Value, code: u16, reason: &str) {
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["apiVersion"], "v1", "{body}");
    assert_eq!(body["status"], "Failure", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Checks a watch event's type and object name, and that the object is complete.
fn assert_event(event: &Value, event_type: &str, name: &str) {
    assert_eq!(event["type"], event_type, "{event}");
    let object = &event["object"];
    assert_eq!(object["metadata"]["name"], name, "{event}");
    assert!(
        object["kind"].as_str().is_some_and(|k| !k.is_empty()),
        "{event}"
    );
    assert!(
        object["apiVersion"].as_str().is_some_and(|a| !a.is_empty()),
        "{event}"
    );
    assert!(rv_of(object) > 0, "{event}");
}

fn pods_url(k8s: &FakeK8s) -> String {
    format!("{}{}", k8s.url(), Kind::Pod.path())
}

#[tokio::test]
async fn list_pages_are_one_consistent_snapshot() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    for i in 0..5 {
        k8s.apply(Kind::Pod, pod("default", &format!("p{i}")).build());
    }
    k8s.apply(Kind::Pod, pod("other", "q0").build());
    let rv_at_first_page = k8s.resource_version();
    let url = format!("{}{}", k8s.url(), Kind::Pod.namespaced_path("default"));

    let (code, first) = get_query(&client, &url, &[("limit", "2")]).await;
    assert_eq!(code, 200, "{first}");
    assert_eq!(first["kind"], "PodList");
    assert_eq!(first["apiVersion"], "v1");
    assert_eq!(
        first["metadata"]["resourceVersion"],
        rv_at_first_page.to_string()
    );
    assert_eq!(first["metadata"]["remainingItemCount"], 3);
    assert_eq!(names(&first), ["p0", "p1"]);
    for item in first["items"].as_array().expect("items") {
        assert!(
            item.get("kind").is_none() && item.get("apiVersion").is_none(),
            "{item}"
        );
        assert!(rv_of(item) > 0);
    }
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("continue token")
        .to_string();

    // Changes between pages must not show in the rest of the paginated list.
    k8s.apply(
        Kind::Pod,
        pod("default", "p2").labels(&[("changed", "yes")]).build(),
    );
    k8s.delete(Kind::Pod, "default", "p3");
    k8s.apply(Kind::Pod, pod("default", "p25").build());

    let (code, second) = get_query(&client, &url, &[("limit", "2"), ("continue", &token)]).await;
    assert_eq!(code, 200, "{second}");
    assert_eq!(names(&second), ["p2", "p3"]);
    assert_eq!(
        second["metadata"]["resourceVersion"],
        rv_at_first_page.to_string()
    );
    assert!(
        second["items"][0]["metadata"].get("labels").is_none(),
        "{second}"
    );
    let token2 = second["metadata"]["continue"]
        .as_str()
        .expect("second token")
        .to_string();
    let (code, third) = get_query(&client, &url, &[("limit", "2"), ("continue", &token2)]).await;
    assert_eq!(code, 200, "{third}");
    assert_eq!(names(&third), ["p4"]);
    assert!(third["metadata"].get("continue").is_none(), "{third}");
    assert!(
        third["metadata"].get("remainingItemCount").is_none(),
        "{third}"
    );

    // A new list sees the changes; the all-namespaces path also sees `other`.
    let (_, fresh) = get(&client, &url).await;
    assert_eq!(names(&fresh), ["p0", "p1", "p2", "p25", "p4"]);
    assert_eq!(fresh["items"][2]["metadata"]["labels"]["changed"], "yes");
    assert_eq!(
        fresh["metadata"]["resourceVersion"],
        k8s.resource_version().to_string()
    );
    let (_, all) = get(&client, &pods_url(&k8s)).await;
    assert_eq!(names(&all), ["p0", "p1", "p2", "p25", "p4", "q0"]);

    // A selected list pages the same way but, like the real server, without remainingItemCount.
    let (_, selected) = get_query(
        &client,
        &url,
        &[("limit", "1"), ("labelSelector", "!changed")],
    )
    .await;
    assert_eq!(names(&selected), ["p0"]);
    assert!(
        selected["metadata"].get("remainingItemCount").is_none(),
        "{selected}"
    );
    assert!(selected["metadata"]["continue"].is_string(), "{selected}");

    // A token for another list, a resourceVersion with continue, and forgotten or broken tokens.
    let (code, body) = get_query(&client, &pods_url(&k8s), &[("continue", &token2)]).await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
    let (code, body) = get_query(
        &client,
        &url,
        &[("continue", &token2), ("resourceVersion", "1")],
    )
    .await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
    k8s.expire_continue_tokens();
    let (code, body) = get_query(&client, &url, &[("continue", &token2)]).await;
    assert_eq!(code, 410);
    assert_status(&body, 410, "Expired");
    let (code, body) = get_query(&client, &url, &[("continue", "not-a-token")]).await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
}

#[tokio::test]
async fn label_selectors_filter_lists() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    let labelled: [(&str, &[(&str, &str)]); 5] = [
        ("a", &[("app", "web"), ("tier", "front")]),
        ("b", &[("app", "web"), ("tier", "back")]),
        ("c", &[("app", "db")]),
        ("d", &[]),
        ("e", &[("app", "web"), ("env", "prod"), ("shard", "7")]),
    ];
    for (name, labels) in labelled {
        k8s.apply(Kind::Pod, pod("default", name).labels(labels).build());
    }
    let cases: &[(&str, &[&str])] = &[
        ("app=web", &["a", "b", "e"]),
        ("app==web", &["a", "b", "e"]),
        ("app!=web", &["c", "d"]),
        ("tier in (front,back)", &["a", "b"]),
        ("tier in (front)", &["a"]),
        ("tier notin (front)", &["b", "c", "d", "e"]),
        ("env", &["e"]),
        ("!tier", &["c", "d", "e"]),
        ("app=web,!env", &["a", "b"]),
        ("app in (web, db),tier!=back", &["a", "c", "e"]),
        (" app = web , tier = front ", &["a"]),
        ("shard>5", &["e"]),
        ("shard<5", &[]),
        ("app=", &[]),
        ("", &["a", "b", "c", "d", "e"]),
    ];
    for (selector, expected) in cases {
        let (code, list) =
            get_query(&client, &pods_url(&k8s), &[("labelSelector", selector)]).await;
        assert_eq!(code, 200, "{selector}: {list}");
        assert_eq!(names(&list), *expected, "labelSelector {selector:?}");
    }
    for bad in [
        "app in (web",
        "=web",
        "app=(x)",
        "app in ()",
        "app=web,",
        "app notin",
        "Bad_Key/x=y",
    ] {
        let (code, body) = get_query(&client, &pods_url(&k8s), &[("labelSelector", bad)]).await;
        assert_eq!(
            code, 400,
            "labelSelector {bad:?} should be rejected: {body}"
        );
        assert_status(&body, 400, "BadRequest");
    }
}

#[tokio::test]
async fn field_selectors_filter_lists() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    k8s.apply(Kind::Pod, pod("a", "x").node("n1", "192.168.0.1").build());
    k8s.apply(Kind::Pod, pod("a", "y").node("n2", "192.168.0.2").build());
    k8s.apply(Kind::Pod, pod("b", "z").phase("Pending").build());
    k8s.apply(
        Kind::Node,
        node("n1", &[("InternalIP", "192.168.0.1")], &[]),
    );
    k8s.apply(
        Kind::Node,
        node("n2", &[("InternalIP", "192.168.0.2")], &[]),
    );
    let cases: &[(&str, &[&str])] = &[
        ("spec.nodeName=n1", &["x"]),
        ("spec.nodeName!=n1", &["y", "z"]),
        ("spec.nodeName=", &["z"]),
        ("metadata.name=y", &["y"]),
        ("metadata.namespace=b", &["z"]),
        ("metadata.namespace!=a", &["z"]),
        ("status.phase=Running,spec.nodeName==n2", &["y"]),
        ("status.phase=Pending", &["z"]),
        ("spec.hostNetwork=false", &["x", "y", "z"]),
    ];
    for (selector, expected) in cases {
        let (code, list) =
            get_query(&client, &pods_url(&k8s), &[("fieldSelector", selector)]).await;
        assert_eq!(code, 200, "{selector}: {list}");
        assert_eq!(names(&list), *expected, "fieldSelector {selector:?}");
    }
    let in_b = format!("{}{}", k8s.url(), Kind::Pod.namespaced_path("b"));
    let (_, list) = get_query(&client, &in_b, &[("fieldSelector", "metadata.name=x")]).await;
    assert_eq!(names(&list), Vec::<String>::new());
    let nodes = format!("{}{}", k8s.url(), Kind::Node.path());
    let (_, list) = get_query(&client, &nodes, &[("fieldSelector", "metadata.name=n2")]).await;
    assert_eq!(names(&list), ["n2"]);

    for (url, bad) in [
        (pods_url(&k8s), "spec.foo=bar"),
        (pods_url(&k8s), "spec.nodeName"),
        (nodes.clone(), "spec.nodeName=n1"),
    ] {
        let (code, body) = get_query(&client, &url, &[("fieldSelector", bad)]).await;
        assert_eq!(code, 400, "fieldSelector {bad:?} on {url}: {body}");
        assert_status(&body, 400, "BadRequest");
    }
}

#[tokio::test]
async fn watch_replays_the_events_after_a_resource_version() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    let a1 = k8s.apply(Kind::Pod, pod("default", "a").labels(&[("v", "1")]).build());
    let a2 = k8s.apply(Kind::Pod, pod("default", "a").labels(&[("v", "2")]).build());
    let b = k8s.apply(Kind::Pod, pod("default", "b").build());
    k8s.apply(Kind::Node, node("n1", &[("InternalIP", "10.0.0.1")], &[]));
    let gone = k8s.delete(Kind::Pod, "default", "a").expect("a existed");
    assert!(rv_of(&a1) < rv_of(&a2) && rv_of(&a2) < rv_of(&b) && rv_of(&b) < rv_of(&gone));

    let url = format!(
        "{}?watch=true&resourceVersion={}",
        pods_url(&k8s),
        rv_of(&a1)
    );
    let mut watch = WatchReader::open(&client, &url).await;
    let event = watch.event(SOON).await;
    assert_event(&event, "MODIFIED", "a");
    assert_eq!(event["object"]["kind"], "Pod");
    assert_eq!(event["object"]["apiVersion"], "v1");
    assert_eq!(rv_of(&event["object"]), rv_of(&a2));
    assert_eq!(event["object"]["metadata"]["labels"]["v"], "2");
    let event = watch.event(SOON).await;
    assert_event(&event, "ADDED", "b");
    assert_eq!(rv_of(&event["object"]), rv_of(&b));
    let event = watch.event(SOON).await;
    assert_event(&event, "DELETED", "a");
    assert_eq!(rv_of(&event["object"]), rv_of(&gone));
    assert_eq!(
        event["object"]["metadata"]["labels"]["v"], "2",
        "last state"
    );
    watch.expect_quiet(Duration::from_millis(300)).await;

    // Absent and "0": the current state as synthetic ADDED events, then live ones.
    for query in ["watch=1", "watch=true&resourceVersion=0"] {
        let mut watch = WatchReader::open(&client, &format!("{}?{query}", pods_url(&k8s))).await;
        let event = watch.event(SOON).await;
        assert_event(&event, "ADDED", "b");
        assert_eq!(rv_of(&event["object"]), rv_of(&b));
        watch.expect_quiet(Duration::from_millis(200)).await;
    }

    // From the newest resourceVersion there is nothing to replay.
    let url = format!(
        "{}?watch=true&resourceVersion={}",
        pods_url(&k8s),
        k8s.resource_version()
    );
    let mut watch = WatchReader::open(&client, &url).await;
    watch.expect_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn live_events_reach_an_open_watch_within_a_second() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    k8s.apply(Kind::Pod, pod("default", "existing").build());
    let url = format!(
        "{}{}?watch=true&resourceVersion={}",
        k8s.url(),
        Kind::Pod.namespaced_path("default"),
        k8s.resource_version()
    );
    let opened = Instant::now();
    let mut watch = WatchReader::open(&client, &url).await;
    // Headers must come before any event, or clients would block until the first change.
    assert!(
        opened.elapsed() < Duration::from_millis(500),
        "{:?}",
        opened.elapsed()
    );
    k8s.wait_for_open_watches(Kind::Pod, 1, SOON).await;

    let added = k8s.apply(Kind::Pod, pod("default", "live").ip("10.1.0.1").build());
    let event = watch.event(SOON).await;
    assert_event(&event, "ADDED", "live");
    assert_eq!(event["object"], added);

    let modified = k8s.apply(
        Kind::Pod,
        pod("default", "live")
            .ip("10.1.0.1")
            .labels(&[("v", "2")])
            .build(),
    );
    let event = watch.event(SOON).await;
    assert_event(&event, "MODIFIED", "live");
    assert_eq!(event["object"], modified);

    // Another namespace and another kind are not this watch's business.
    k8s.apply(Kind::Pod, pod("elsewhere", "live").build());
    k8s.apply(Kind::Service, service("default", "live").build());
    watch.expect_quiet(Duration::from_millis(300)).await;

    let deleted = k8s
        .delete(Kind::Pod, "default", "live")
        .expect("live existed");
    let event = watch.event(SOON).await;
    assert_event(&event, "DELETED", "live");
    assert_eq!(event["object"], deleted);
    assert!(rv_of(&deleted) > rv_of(&modified));
}

#[tokio::test]
async fn selector_transitions_on_a_watch_are_added_and_deleted() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    k8s.apply(
        Kind::Pod,
        pod("default", "x").labels(&[("app", "other")]).build(),
    );
    let url = format!(
        "{}?watch=true&labelSelector=app%3Dweb&resourceVersion={}",
        pods_url(&k8s),
        k8s.resource_version()
    );
    let mut watch = WatchReader::open(&client, &url).await;
    k8s.wait_for_open_watches(Kind::Pod, 1, SOON).await;

    k8s.apply(
        Kind::Pod,
        pod("default", "x").labels(&[("app", "web")]).build(),
    );
    assert_event(&watch.event(SOON).await, "ADDED", "x");
    k8s.apply(
        Kind::Pod,
        pod("default", "x")
            .labels(&[("app", "web"), ("v", "2")])
            .build(),
    );
    assert_event(&watch.event(SOON).await, "MODIFIED", "x");
    let moved_out = k8s.apply(
        Kind::Pod,
        pod("default", "x").labels(&[("app", "db")]).build(),
    );
    let event = watch.event(SOON).await;
    assert_event(&event, "DELETED", "x");
    // The state the watch last matched, at the resourceVersion of the change.
    assert_eq!(event["object"]["metadata"]["labels"]["app"], "web");
    assert_eq!(event["object"]["metadata"]["labels"]["v"], "2");
    assert_eq!(rv_of(&event["object"]), rv_of(&moved_out));
    k8s.apply(
        Kind::Pod,
        pod("default", "x")
            .labels(&[("app", "db"), ("v", "3")])
            .build(),
    );
    k8s.delete(Kind::Pod, "default", "x");
    watch.expect_quiet(Duration::from_millis(300)).await;

    // The same with a field selector: scheduling onto the node makes the pod appear.
    let url = format!(
        "{}?watch=true&fieldSelector=spec.nodeName%3Dn1&resourceVersion={}",
        pods_url(&k8s),
        k8s.resource_version()
    );
    let mut watch = WatchReader::open(&client, &url).await;
    k8s.wait_for_open_watches(Kind::Pod, 2, SOON).await;
    k8s.apply(Kind::Pod, pod("default", "y").phase("Pending").build());
    k8s.apply(
        Kind::Pod,
        pod("default", "y").node("n1", "192.168.0.1").build(),
    );
    let event = watch.event(SOON).await;
    assert_event(&event, "ADDED", "y");
    assert_eq!(event["object"]["spec"]["nodeName"], "n1");
    k8s.delete(Kind::Pod, "default", "y");
    assert_event(&watch.event(SOON).await, "DELETED", "y");
}

#[tokio::test]
async fn bookmarks_carry_the_current_resource_version() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    k8s.set_bookmark_interval(Duration::from_millis(200));
    k8s.apply(Kind::Pod, pod("default", "a").build());
    let start_rv = k8s.resource_version();
    let url = format!(
        "{}?watch=true&allowWatchBookmarks=true&resourceVersion={start_rv}",
        pods_url(&k8s)
    );
    let mut watch = WatchReader::open(&client, &url).await;
    let bookmark = watch.event(SOON).await;
    assert_eq!(bookmark["type"], "BOOKMARK", "{bookmark}");
    assert_eq!(bookmark["object"]["kind"], "Pod");
    assert_eq!(bookmark["object"]["apiVersion"], "v1");
    assert_eq!(rv_of(&bookmark["object"]), start_rv);

    // Changes to other kinds move the resourceVersion; bookmarks follow without pod events.
    let other = k8s.apply(Kind::Node, node("n1", &[("InternalIP", "10.0.0.1")], &[]));
    let deadline = Instant::now() + SOON;
    loop {
        let event = watch
            .event(deadline.saturating_duration_since(Instant::now()))
            .await;
        assert_eq!(
            event["type"], "BOOKMARK",
            "only bookmarks expected: {event}"
        );
        if rv_of(&event["object"]) == rv_of(&other) {
            break;
        }
    }
    // A pod change comes before any bookmark that covers it.
    let changed = k8s.apply(Kind::Pod, pod("default", "a").labels(&[("v", "2")]).build());
    loop {
        let event = watch.event(SOON).await;
        if event["type"] == "BOOKMARK" {
            assert!(
                rv_of(&event["object"]) < rv_of(&changed),
                "bookmark before the event: {event}"
            );
        } else {
            assert_event(&event, "MODIFIED", "a");
            break;
        }
    }

    // No bookmarks unless asked for.
    let url = format!(
        "{}?watch=true&resourceVersion={}",
        pods_url(&k8s),
        k8s.resource_version()
    );
    let mut watch = WatchReader::open(&client, &url).await;
    watch.expect_quiet(Duration::from_millis(600)).await;

    // Streaming lists: the state, then a bookmark marking its end.
    let url = format!(
        "{}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
        pods_url(&k8s)
    );
    let mut watch = WatchReader::open(&client, &url).await;
    assert_event(&watch.event(SOON).await, "ADDED", "a");
    let end = watch.event(SOON).await;
    assert_eq!(end["type"], "BOOKMARK", "{end}");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(rv_of(&end["object"]), k8s.resource_version());
}

/// While changes keep coming from another thread, a bookmark must never announce a
/// resourceVersion whose event the watch has not sent yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_never_get_ahead_of_events() {
    const CHANGES: u64 = 2000;
    let k8s = std::sync::Arc::new(FakeK8s::start().await);
    let client = reqwest::Client::new();
    k8s.set_bookmark_interval(Duration::from_millis(1));
    k8s.apply(Kind::Pod, pod("default", "a").build());
    let start = k8s.resource_version();
    let url = format!(
        "{}?watch=true&allowWatchBookmarks=true&resourceVersion={start}",
        pods_url(&k8s)
    );
    let mut watch = WatchReader::open(&client, &url).await;
    k8s.wait_for_open_watches(Kind::Pod, 1, SOON).await;
    let writer = {
        let k8s = k8s.clone();
        tokio::spawn(async move {
            for round in 0..CHANGES {
                let version = round.to_string();
                k8s.apply(
                    Kind::Pod,
                    pod("default", "a").labels(&[("v", &version)]).build(),
                );
                if round % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    // Every resourceVersion after `start` is a change of this pod, so after a bookmark at B
    // the last event received must be at B or later.
    let mut last_event = start;
    let mut bookmarks = 0;
    while last_event < start + CHANGES {
        let event = watch.event(Duration::from_secs(5)).await;
        let rv = rv_of(&event["object"]);
        if event["type"] == "BOOKMARK" {
            assert!(
                rv <= last_event,
                "bookmark at {rv} arrived before its event; last event {last_event}"
            );
            bookmarks += 1;
        } else {
            assert_event(&event, "MODIFIED", "a");
            assert_eq!(rv, last_event + 1, "events in order, none missing");
            last_event = rv;
        }
    }
    writer.await.expect("writer task");
    assert!(
        bookmarks > 0,
        "no bookmark arrived during {CHANGES} changes"
    );
}

#[tokio::test]
async fn too_old_resource_version_gets_an_in_stream_410() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    k8s.set_history_limit(3);
    for i in 0..6 {
        k8s.apply(Kind::Pod, pod("default", &format!("p{i}")).build());
    }
    // Kept: the events at 4, 5 and 6.
    let mut watch = WatchReader::open(
        &client,
        &format!("{}?watch=true&resourceVersion=1", pods_url(&k8s)),
    )
    .await;
    let error = watch.event(SOON).await;
    assert_eq!(error["type"], "ERROR", "{error}");
    assert_status(&error["object"], 410, "Expired");
    assert!(
        error["object"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too old resource version")),
        "{error}"
    );
    watch.expect_end(SOON).await;

    let mut watch = WatchReader::open(
        &client,
        &format!("{}?watch=true&resourceVersion=3", pods_url(&k8s)),
    )
    .await;
    for name in ["p3", "p4", "p5"] {
        assert_event(&watch.event(SOON).await, "ADDED", name);
    }
    watch.expect_quiet(Duration::from_millis(200)).await;

    k8s.compact();
    let mut watch = WatchReader::open(
        &client,
        &format!("{}?watch=true&resourceVersion=5", pods_url(&k8s)),
    )
    .await;
    assert_status(&watch.event(SOON).await["object"], 410, "Expired");
    watch.expect_end(SOON).await;
    let mut watch = WatchReader::open(
        &client,
        &format!("{}?watch=true&resourceVersion=6", pods_url(&k8s)),
    )
    .await;
    watch.expect_quiet(Duration::from_millis(200)).await;

    // A resourceVersion from the future is an HTTP error, not a stream.
    let (code, body) = get(
        &client,
        &format!("{}?watch=true&resourceVersion=99", pods_url(&k8s)),
    )
    .await;
    assert_eq!(code, 504);
    assert_status(&body, 504, "Timeout");
    let (code, body) = get(
        &client,
        &format!("{}?watch=true&resourceVersion=x", pods_url(&k8s)),
    )
    .await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
}

#[tokio::test]
async fn expire_watches_sends_410_to_every_open_watch() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    k8s.apply(Kind::Pod, pod("default", "a").build());
    let rv = k8s.resource_version();
    let slices = format!("{}{}", k8s.url(), Kind::EndpointSlice.path());
    let mut pods = WatchReader::open(
        &client,
        &format!("{}?watch=true&resourceVersion={rv}", pods_url(&k8s)),
    )
    .await;
    let mut slice_watch = WatchReader::open(
        &client,
        &format!("{slices}?watch=true&resourceVersion={rv}"),
    )
    .await;
    k8s.wait_for_open_watches(Kind::Pod, 1, SOON).await;
    k8s.wait_for_open_watches(Kind::EndpointSlice, 1, SOON)
        .await;

    k8s.expire_watches();
    for watch in [&mut pods, &mut slice_watch] {
        let error = watch.event(SOON).await;
        assert_eq!(error["type"], "ERROR", "{error}");
        assert_status(&error["object"], 410, "Expired");
        watch.expect_end(SOON).await;
    }
    k8s.wait_for_open_watches(Kind::Pod, 0, SOON).await;
    let deadline = Instant::now() + SOON;
    while k8s.open_watches(Kind::Pod) + k8s.open_watches(Kind::EndpointSlice) > 0 {
        assert!(
            Instant::now() < deadline,
            "expired watches still counted as open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Watches opened afterwards are not affected.
    let mut watch = WatchReader::open(
        &client,
        &format!("{}?watch=true&resourceVersion={rv}", pods_url(&k8s)),
    )
    .await;
    k8s.apply(Kind::Pod, pod("default", "b").build());
    assert_event(&watch.event(SOON).await, "ADDED", "b");
}

#[tokio::test]
async fn close_watches_ends_streams_without_an_error() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    k8s.apply(Kind::Pod, pod("default", "a").build());
    let url = format!(
        "{}?watch=true&resourceVersion={}",
        pods_url(&k8s),
        k8s.resource_version()
    );
    let mut watch = WatchReader::open(&client, &url).await;
    k8s.wait_for_open_watches(Kind::Pod, 1, SOON).await;
    k8s.close_watches();
    watch.expect_end(SOON).await;

    // Re-watching from the last resourceVersion misses nothing.
    k8s.apply(Kind::Pod, pod("default", "b").build());
    let mut watch = WatchReader::open(&client, &url).await;
    assert_event(&watch.event(SOON).await, "ADDED", "b");
}

#[tokio::test]
async fn timeout_seconds_ends_the_stream() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    k8s.apply(Kind::Pod, pod("default", "a").build());
    let rv = k8s.resource_version();

    let opened = Instant::now();
    let url = format!(
        "{}?watch=true&timeoutSeconds=1&resourceVersion={rv}",
        pods_url(&k8s)
    );
    let mut watch = WatchReader::open(&client, &url).await;
    watch.expect_end(Duration::from_secs(3)).await;
    let took = opened.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "{took:?}"
    );

    // The server-side cap wins over a longer timeoutSeconds.
    k8s.set_max_watch_timeout(Duration::from_millis(300));
    let opened = Instant::now();
    let url = format!(
        "{}?watch=true&timeoutSeconds=290&resourceVersion={rv}",
        pods_url(&k8s)
    );
    let mut watch = WatchReader::open(&client, &url).await;
    watch.expect_end(SOON).await;
    let took = opened.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert_eq!(k8s.watch_requests(Kind::Pod), 2);
    k8s.wait_for_open_watches(Kind::Pod, 0, SOON).await;
    assert_eq!(k8s.open_watches(Kind::Pod), 0);
}

#[tokio::test]
async fn statefulset_scale_get_and_patch() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    let sts = k8s.apply(
        Kind::StatefulSet,
        statefulset("monitoring", "promshard", 3, &[("app", "promshard")]),
    );
    assert_eq!(sts["metadata"]["generation"], 1);
    let scale_url = format!(
        "{}{}/promshard/scale",
        k8s.url(),
        Kind::StatefulSet.namespaced_path("monitoring")
    );

    let (code, scale) = get(&client, &scale_url).await;
    assert_eq!(code, 200, "{scale}");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["metadata"]["name"], "promshard");
    assert_eq!(scale["metadata"]["namespace"], "monitoring");
    assert_eq!(scale["metadata"]["uid"], sts["metadata"]["uid"]);
    assert_eq!(
        scale["metadata"]["resourceVersion"],
        sts["metadata"]["resourceVersion"]
    );
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=promshard");

    let watch_url = format!(
        "{}{}?watch=true&resourceVersion={}",
        k8s.url(),
        Kind::StatefulSet.path(),
        rv_of(&sts)
    );
    let mut watch = WatchReader::open(&client, &watch_url).await;
    let merge = "application/merge-patch+json";
    let (code, scaled) = patch(&client, &scale_url, merge, r#"{"spec":{"replicas":5}}"#).await;
    assert_eq!(code, 200, "{scaled}");
    assert_eq!(scaled["kind"], "Scale");
    assert_eq!(scaled["spec"]["replicas"], 5);
    assert!(rv_of(&scaled) > rv_of(&sts));
    let event = watch.event(SOON).await;
    assert_event(&event, "MODIFIED", "promshard");
    assert_eq!(event["object"]["spec"]["replicas"], 5);
    assert_eq!(event["object"]["metadata"]["generation"], 2);
    let stored = k8s
        .get(Kind::StatefulSet, "monitoring", "promshard")
        .expect("stored");
    assert_eq!(stored["spec"]["replicas"], 5);
    assert_eq!(
        stored["status"]["replicas"], 3,
        "no controller runs in the fake"
    );
    let recorded = k8s.requests();
    let last = recorded.last().expect("requests recorded");
    assert_eq!(last.method, "PATCH");
    assert_eq!(last.content_type.as_deref(), Some(merge));
    assert_eq!(last.body, r#"{"spec":{"replicas":5}}"#);

    // The same value again changes nothing.
    let (code, same) = patch(&client, &scale_url, merge, r#"{"spec":{"replicas":5}}"#).await;
    assert_eq!(code, 200);
    assert_eq!(rv_of(&same), rv_of(&scaled));
    watch.expect_quiet(Duration::from_millis(200)).await;

    // ScaleSpec.replicas is omitempty: scaled to zero it disappears.
    let (_, zero) = patch(&client, &scale_url, merge, r#"{"spec":{"replicas":0}}"#).await;
    assert!(zero["spec"].get("replicas").is_none(), "{zero}");
    assert_eq!(
        k8s.get(Kind::StatefulSet, "monitoring", "promshard")
            .expect("stored")["spec"]["replicas"],
        0
    );

    let (code, body) = patch(
        &client,
        &scale_url,
        "application/json",
        r#"{"spec":{"replicas":2}}"#,
    )
    .await;
    assert_eq!(code, 415);
    assert_status(&body, 415, "UnsupportedMediaType");
    let (code, body) = patch(&client, &scale_url, merge, r#"{"spec":{"replicas":-1}}"#).await;
    assert_eq!(code, 422);
    assert_status(&body, 422, "Invalid");
    let (code, body) = patch(&client, &scale_url, merge, "{not json").await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
    let stale = format!(
        r#"{{"metadata":{{"resourceVersion":"{}"}},"spec":{{"replicas":2}}}}"#,
        rv_of(&sts)
    );
    let (code, body) = patch(&client, &scale_url, merge, &stale).await;
    assert_eq!(code, 409);
    assert_status(&body, 409, "Conflict");

    let missing = format!(
        "{}{}/absent/scale",
        k8s.url(),
        Kind::StatefulSet.namespaced_path("monitoring")
    );
    let (code, body) = get(&client, &missing).await;
    assert_eq!(code, 404);
    assert_status(&body, 404, "NotFound");
    assert_eq!(body["message"], r#"statefulsets.apps "absent" not found"#);
    assert_eq!(
        body["details"],
        json!({"name": "absent", "group": "apps", "kind": "statefulsets"})
    );
    let (code, body) = patch(&client, &missing, merge, r#"{"spec":{"replicas":1}}"#).await;
    assert_eq!(code, 404);
    assert_status(&body, 404, "NotFound");
}

#[tokio::test]
async fn missing_objects_and_paths_answer_a_status() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    k8s.apply(
        Kind::Namespace,
        namespace("monitoring", &[("team", "observability")]),
    );

    let (code, found) = get(
        &client,
        &format!("{}/api/v1/namespaces/monitoring", k8s.url()),
    )
    .await;
    assert_eq!(code, 200, "{found}");
    assert_eq!(found["kind"], "Namespace");
    assert_eq!(found["apiVersion"], "v1");
    assert_eq!(
        found["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    assert_eq!(found["metadata"]["labels"]["team"], "observability");
    assert!(found["metadata"].get("namespace").is_none(), "{found}");
    let (_, list) = get(&client, &format!("{}/api/v1/namespaces", k8s.url())).await;
    assert_eq!(list["kind"], "NamespaceList");
    assert_eq!(names(&list), ["monitoring"]);

    let (code, body) = get(&client, &format!("{}/api/v1/namespaces/absent", k8s.url())).await;
    assert_eq!(code, 404);
    assert_status(&body, 404, "NotFound");
    assert_eq!(body["message"], r#"namespaces "absent" not found"#);
    assert_eq!(
        body["details"],
        json!({"name": "absent", "kind": "namespaces"})
    );
    assert_eq!(body["metadata"], json!({}));
    let (code, body) = get(
        &client,
        &format!("{}/api/v1/namespaces/default/pods/absent", k8s.url()),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(body["message"], r#"pods "absent" not found"#);

    for path in [
        "/api/v1/widgets",
        "/api/v1/namespaces/default/nodes",
        "/api/v1/pods/a",
        "/apis/apps/v2/statefulsets",
    ] {
        let (code, body) = get(&client, &format!("{}{path}", k8s.url())).await;
        assert_eq!(code, 404, "{path}: {body}");
        assert_status(&body, 404, "NotFound");
    }
    let response = client
        .post(format!("{}{}", k8s.url(), Kind::Pod.path()))
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 405);
    let (code, body) = get_query(&client, &pods_url(&k8s), &[("limit", "many")]).await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
}

#[tokio::test]
async fn discovery_documents() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    let (code, version) = get(&client, &format!("{}/version", k8s.url())).await;
    assert_eq!(code, 200);
    assert_eq!(version["major"], "1");
    assert_eq!(version["minor"], "34");
    assert_eq!(version["gitVersion"], "v1.34.0");
    for field in [
        "buildDate",
        "compiler",
        "gitCommit",
        "gitTreeState",
        "goVersion",
        "platform",
    ] {
        assert!(version[field].is_string(), "{field} in {version}");
    }
    let (_, api) = get(&client, &format!("{}/api", k8s.url())).await;
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, apis) = get(&client, &format!("{}/apis", k8s.url())).await;
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|group| group["name"].as_str())
        .collect();
    for group in ["apps", "discovery.k8s.io", "networking.k8s.io"] {
        assert!(groups.contains(&group), "{group} in {apis}");
    }
    let (_, apps) = get(&client, &format!("{}/apis/apps/v1", k8s.url())).await;
    assert_eq!(apps["kind"], "APIResourceList");
    let resources: Vec<&str> = apps["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|resource| resource["name"].as_str())
        .collect();
    assert_eq!(resources, ["statefulsets", "statefulsets/scale"]);
}

#[tokio::test]
async fn counters_request_log_and_injected_failures() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    for i in 0..3 {
        k8s.apply(Kind::Pod, pod("default", &format!("p{i}")).build());
    }
    let (_, first) = get_query(&client, &pods_url(&k8s), &[("limit", "2")]).await;
    let token = first["metadata"]["continue"].as_str().expect("token");
    get_query(
        &client,
        &pods_url(&k8s),
        &[("limit", "2"), ("continue", token)],
    )
    .await;
    let url = format!(
        "{}?watch=true&timeoutSeconds=1&resourceVersion={}",
        pods_url(&k8s),
        k8s.resource_version()
    );
    let _watch = WatchReader::open(&client, &url).await;
    assert_eq!(k8s.list_requests(Kind::Pod), 2, "each page counts");
    assert_eq!(k8s.watch_requests(Kind::Pod), 1);
    assert_eq!(k8s.list_requests(Kind::Node), 0);
    let logged = k8s.requests();
    assert_eq!(logged.len(), 3);
    assert_eq!(logged[0].path, "/api/v1/pods");
    assert_eq!(logged[0].query, "limit=2");
    assert!(logged[2].query.contains("watch=true"), "{:?}", logged[2]);

    k8s.fail_next(Kind::Pod, 2, 503);
    let nodes = format!("{}{}", k8s.url(), Kind::Node.path());
    let (code, _) = get(&client, &nodes).await;
    assert_eq!(code, 200, "failures are per kind");
    for _ in 0..2 {
        let (code, body) = get(&client, &pods_url(&k8s)).await;
        assert_eq!(code, 503);
        assert_status(&body, 503, "ServiceUnavailable");
    }
    let (code, _) = get(&client, &pods_url(&k8s)).await;
    assert_eq!(code, 200);
    k8s.fail_next(Kind::Pod, 1, 429);
    let response = client.get(pods_url(&k8s)).send().await.expect("GET");
    assert_eq!(response.status(), 429);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
}

#[tokio::test]
async fn apply_assigns_metadata_and_skips_no_op_updates() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    let mut bare = json!({"metadata": {"name": "bare"}, "spec": {"containers": []}});
    let created = k8s.apply(Kind::Pod, bare.clone());
    assert_eq!(created["kind"], "Pod");
    assert_eq!(created["apiVersion"], "v1");
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(created["metadata"]["resourceVersion"], "1");
    let uid = created["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    assert_eq!(uid.len(), 36);
    let created_at = created["metadata"]["creationTimestamp"]
        .as_str()
        .expect("creationTimestamp");
    assert!(
        created_at.len() == 20 && created_at.ends_with('Z'),
        "{created_at}"
    );

    let url = format!("{}?watch=true&resourceVersion=1", pods_url(&k8s));
    let mut watch = WatchReader::open(&client, &url).await;
    // Same content again: no new resourceVersion, no event.
    let again = k8s.apply(Kind::Pod, bare.clone());
    assert_eq!(again, created);
    watch.expect_quiet(Duration::from_millis(200)).await;

    bare["spec"]["restartPolicy"] = "Never".into();
    let updated = k8s.apply(Kind::Pod, bare.clone());
    assert_eq!(
        updated["metadata"]["uid"],
        uid.as_str(),
        "uid kept on update"
    );
    assert_eq!(
        updated["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );
    assert_eq!(rv_of(&updated), 2);
    assert_event(&watch.event(SOON).await, "MODIFIED", "bare");

    // Another uid: the object was deleted and created again.
    bare["metadata"]["uid"] = "11111111-2222-3333-4444-555555555555".into();
    let recreated = k8s.apply(Kind::Pod, bare);
    assert_eq!(
        recreated["metadata"]["uid"],
        "11111111-2222-3333-4444-555555555555"
    );
    let deleted = watch.event(SOON).await;
    assert_event(&deleted, "DELETED", "bare");
    assert_eq!(deleted["object"]["metadata"]["uid"], uid.as_str());
    let added = watch.event(SOON).await;
    assert_event(&added, "ADDED", "bare");
    assert_eq!(rv_of(&added["object"]), rv_of(&recreated));

    // Cluster-scoped objects lose a namespace given by mistake.
    let stray = k8s.apply(
        Kind::Node,
        json!({"metadata": {"name": "n1", "namespace": "default"}}),
    );
    assert!(stray["metadata"].get("namespace").is_none(), "{stray}");
    assert!(k8s.get(Kind::Node, "ignored", "n1").is_some());
    assert_eq!(k8s.delete(Kind::Node, "", "absent"), None);
}

#[tokio::test]
async fn builders_use_the_api_field_names() {
    let k8s = FakeK8s::start().await;
    let client = reqwest::Client::new();
    let web = pod("shop", "web-0")
        .labels(&[("app", "web")])
        .annotations(&[("prometheus.io/scrape", "true")])
        .ip("10.1.2.3")
        .node("node-1", "192.168.1.10")
        .container(
            "app",
            "nginx:1.27",
            &[("http", 8080, "TCP"), ("", 9000, "UDP")],
        )
        .init_container("setup", "busybox:1.36", &[])
        .owner("StatefulSet", "web")
        .build();
    assert_eq!(
        web.pointer("/spec/containers/0/ports/0/containerPort"),
        Some(&json!(8080))
    );
    assert_eq!(
        web.pointer("/spec/containers/0/ports/0/name"),
        Some(&json!("http"))
    );
    assert_eq!(
        web.pointer("/spec/containers/0/ports/1/protocol"),
        Some(&json!("UDP"))
    );
    assert!(web.pointer("/spec/containers/0/ports/1/name").is_none());
    assert_eq!(web.pointer("/spec/nodeName"), Some(&json!("node-1")));
    assert_eq!(
        web.pointer("/spec/initContainers/0/name"),
        Some(&json!("setup"))
    );
    assert_eq!(web.pointer("/status/podIP"), Some(&json!("10.1.2.3")));
    assert_eq!(web.pointer("/status/hostIP"), Some(&json!("192.168.1.10")));
    assert_eq!(web.pointer("/status/phase"), Some(&json!("Running")));
    let ready = web["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|condition| condition["type"] == "Ready")
        .expect("Ready condition");
    assert_eq!(ready["status"], "True");
    let container_id = web
        .pointer("/status/containerStatuses/0/containerID")
        .and_then(Value::as_str);
    assert_eq!(container_id.map(str::len), Some("containerd://".len() + 64));
    assert_eq!(
        container_id,
        Some(common::fake_k8s::container_id("shop", "web-0", "app").as_str())
    );
    assert_eq!(
        web.pointer("/metadata/ownerReferences/0/kind"),
        Some(&json!("StatefulSet"))
    );
    assert_eq!(
        web.pointer("/metadata/ownerReferences/0/apiVersion"),
        Some(&json!("apps/v1"))
    );
    assert_eq!(
        web.pointer("/metadata/ownerReferences/0/controller"),
        Some(&json!(true))
    );
    let pending = pod("shop", "web-1").phase("Pending").ready(false).build();
    assert!(
        pending.pointer("/status/podIP").is_none() && pending.pointer("/spec/nodeName").is_none()
    );

    let slice = endpoint_slice("shop", "web-abc12", "web")
        .backend(
            Backend::new("10.1.2.3")
                .hostname("web-0")
                .node("node-1")
                .pod("web-0"),
        )
        .backend(Backend::new("10.1.2.4").terminating().pod("web-1"))
        .port("http", 8080, "TCP")
        .build();
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice.pointer("/metadata/labels/kubernetes.io~1service-name"),
        Some(&json!("web"))
    );
    assert_eq!(
        slice.pointer("/endpoints/0/addresses/0"),
        Some(&json!("10.1.2.3"))
    );
    assert_eq!(
        slice.pointer("/endpoints/0/conditions/ready"),
        Some(&json!(true))
    );
    assert_eq!(
        slice.pointer("/endpoints/0/hostname"),
        Some(&json!("web-0"))
    );
    assert_eq!(
        slice.pointer("/endpoints/0/targetRef/name"),
        Some(&json!("web-0"))
    );
    assert_eq!(
        slice.pointer("/endpoints/0/targetRef/uid"),
        web.pointer("/metadata/uid")
    );
    assert_eq!(
        slice.pointer("/endpoints/1/conditions/ready"),
        Some(&json!(false))
    );
    assert_eq!(
        slice.pointer("/endpoints/1/conditions/serving"),
        Some(&json!(true))
    );
    assert_eq!(
        slice.pointer("/endpoints/1/conditions/terminating"),
        Some(&json!(true))
    );
    assert_eq!(slice.pointer("/ports/0/port"), Some(&json!(8080)));
    let empty = endpoint_slice("shop", "web-empty", "web").build();
    assert_eq!(empty["endpoints"], Value::Null, "no omitempty on endpoints");

    let svc = service("shop", "web")
        .selector(&[("app", "web")])
        .port("http", 80, "TCP", "http")
        .build();
    assert_eq!(
        svc.pointer("/spec/ports/0/targetPort"),
        Some(&json!("http"))
    );
    assert_eq!(svc.pointer("/spec/type"), Some(&json!("ClusterIP")));
    assert!(
        svc.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .is_some_and(|ip| ip.starts_with("10.96."))
    );
    let eps = endpoints("shop", "web")
        .backend(Backend::new("10.1.2.3").pod("web-0"))
        .backend(Backend::new("10.1.2.4").not_ready())
        .port("http", 8080, "TCP")
        .build();
    assert_eq!(
        eps.pointer("/subsets/0/addresses/0/ip"),
        Some(&json!("10.1.2.3"))
    );
    assert_eq!(
        eps.pointer("/subsets/0/notReadyAddresses/0/ip"),
        Some(&json!("10.1.2.4"))
    );
    let worker = node(
        "node-1",
        &[("InternalIP", "192.168.1.10"), ("Hostname", "node-1")],
        &[("zone", "a")],
    );
    assert_eq!(
        worker.pointer("/status/daemonEndpoints/kubeletEndpoint/Port"),
        Some(&json!(10250))
    );
    assert_eq!(
        worker.pointer("/status/addresses/0/type"),
        Some(&json!("InternalIP"))
    );
    let entry = ingress("shop", "web")
        .class("nginx")
        .rule("shop.example.com", &[("/", "web", 80)])
        .tls(&["shop.example.com"], "web-tls")
        .build();
    assert_eq!(
        entry.pointer("/spec/rules/0/http/paths/0/backend/service/port/number"),
        Some(&json!(80))
    );
    assert_eq!(
        entry.pointer("/spec/tls/0/hosts/0"),
        Some(&json!("shop.example.com"))
    );

    // All of them go through the server unchanged apart from server-set metadata.
    for (kind, object) in [
        (Kind::Pod, web),
        (Kind::EndpointSlice, slice),
        (Kind::Service, svc),
        (Kind::Endpoints, eps),
        (Kind::Node, worker),
        (Kind::Ingress, entry),
    ] {
        let stored = k8s.apply(kind, object.clone());
        assert_eq!(stored["spec"], object["spec"], "{kind:?}");
        assert_eq!(
            stored["metadata"]["uid"], object["metadata"]["uid"],
            "{kind:?}"
        );
        let (code, list) = get(&client, &format!("{}{}", k8s.url(), kind.path())).await;
        assert_eq!(code, 200);
        assert_eq!(list["kind"], format!("{}List", kind.name()));
        assert_eq!(list["apiVersion"], kind.api_version());
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    }
}

/// The real client against the fake: kube-rs' watcher lists in pages, watches, and re-lists after
/// an in-stream 410; its scale client patches through the subresource.
#[tokio::test]
async fn kube_watcher_and_scale_client_work_against_the_fake() {
    use futures::StreamExt;
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::runtime::watcher::{self, Event};

    let k8s = FakeK8s::start().await;
    k8s.set_bookmark_interval(Duration::from_millis(100));
    for i in 0..3 {
        k8s.apply(
            Kind::Pod,
            pod("default", &format!("p{i}")).ip("10.0.0.1").build(),
        );
    }
    let uri: axum::http::Uri = k8s.url().parse().expect("fake URL");
    let client = kube::Client::try_from(kube::Config::new(uri)).expect("kube client");

    // Driven by its own task, as a discovery loop would: the watcher only makes requests
    // while polled.
    let pods: kube::Api<Pod> = kube::Api::all(client.clone());
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut events = watcher::watcher(pods, watcher::Config::default().page_size(2)).boxed();
        while let Some(event) = events.next().await {
            if sender.send(event).is_err() {
                break;
            }
        }
    });
    let mut next = async || -> Event<Pod> {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await {
                Ok(Some(Ok(event))) => return event,
                // The in-stream 410 surfaces as an error before the re-list.
                Ok(Some(Err(watcher::Error::WatchError(status)))) if status.code == 410 => {}
                other => panic!("watcher: {other:?}"),
            }
        }
    };
    let mut initial = Vec::new();
    assert!(matches!(next().await, Event::Init));
    loop {
        match next().await {
            Event::InitApply(pod) => initial.push(pod.metadata.name.unwrap_or_default()),
            Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, ["p0", "p1", "p2"]);
    assert_eq!(k8s.list_requests(Kind::Pod), 2, "two pages of two");

    k8s.apply(Kind::Pod, pod("default", "p3").build());
    match next().await {
        Event::Apply(pod) => assert_eq!(pod.metadata.name.as_deref(), Some("p3")),
        other => panic!("unexpected {other:?}"),
    }
    k8s.delete(Kind::Pod, "default", "p0");
    match next().await {
        Event::Delete(pod) => assert_eq!(pod.metadata.name.as_deref(), Some("p0")),
        other => panic!("unexpected {other:?}"),
    }

    // 410 in the stream: the watcher lists again.
    k8s.wait_for_open_watches(Kind::Pod, 1, SOON).await;
    k8s.expire_watches();
    assert!(matches!(next().await, Event::Init));
    let mut relisted = Vec::new();
    loop {
        match next().await {
            Event::InitApply(pod) => relisted.push(pod.metadata.name.unwrap_or_default()),
            Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(relisted, ["p1", "p2", "p3"]);
    assert_eq!(k8s.list_requests(Kind::Pod), 4);

    // A clean close: the watcher re-watches from its last resourceVersion without listing,
    // and misses nothing that changed in between.
    k8s.wait_for_open_watches(Kind::Pod, 1, SOON).await;
    assert_eq!(k8s.watch_requests(Kind::Pod), 2);
    k8s.close_watches();
    k8s.apply(Kind::Pod, pod("default", "p4").build());
    match next().await {
        Event::Apply(pod) => assert_eq!(pod.metadata.name.as_deref(), Some("p4")),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(k8s.watch_requests(Kind::Pod), 3);
    assert_eq!(k8s.list_requests(Kind::Pod), 4);
    driver.abort();

    // Typed decoding of what the builders make, including an empty slice's null endpoints.
    k8s.apply(
        Kind::EndpointSlice,
        endpoint_slice("default", "web-1", "web").build(),
    );
    k8s.apply(
        Kind::EndpointSlice,
        endpoint_slice("default", "web-2", "web")
            .backend(Backend::new("10.0.0.9").hostname("web-0").pod("web-0"))
            .port("http", 8080, "TCP")
            .build(),
    );
    let slices: kube::Api<EndpointSlice> = kube::Api::namespaced(client.clone(), "default");
    let listed = slices
        .list(&kube::api::ListParams::default().labels("kubernetes.io/service-name=web"))
        .await
        .expect("list endpointslices");
    assert_eq!(listed.items.len(), 2);
    assert!(listed.items[0].endpoints.is_empty());
    assert_eq!(
        listed.items[1].endpoints[0].hostname.as_deref(),
        Some("web-0")
    );

    k8s.apply(
        Kind::StatefulSet,
        statefulset("default", "shard", 2, &[("app", "shard")]),
    );
    let sets: kube::Api<StatefulSet> = kube::Api::namespaced(client, "default");
    let scale = sets.get_scale("shard").await.expect("get scale");
    assert_eq!(scale.spec.and_then(|spec| spec.replicas), Some(2));
    let patch = kube::api::Patch::Merge(json!({"spec": {"replicas": 4}}));
    let scaled = sets
        .patch_scale("shard", &kube::api::PatchParams::default(), &patch)
        .await
        .expect("patch scale");
    assert_eq!(scaled.spec.and_then(|spec| spec.replicas), Some(4));
    let missing = sets
        .get_scale("absent")
        .await
        .expect_err("absent statefulset");
    match missing {
        kube::Error::Api(status) => assert!(status.is_not_found(), "{status:?}"),
        other => panic!("expected a NotFound status, got {other:?}"),
    }
}
