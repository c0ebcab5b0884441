//! Kubernetes discovery against the fake API server (tests/common/fake_k8s.rs), differential
//! against a real client: Debian's vmagent (package victoria-metrics, 1.79) discovers from the
//! same fake server with the same `kubernetes_sd_configs`; every active target's `labels` must
//! be identical, and so must its `discoveredLabels` except the meta labels Prometheus 3 sets
//! and vmagent 1.79 does not (listed below and checked against the spec instead).

mod common;

use common::fake_k8s::{
    Backend, FakeK8s, Kind, endpoint_slice, endpoints, ingress, node, pod, service,
};
use common::{Process, free_port, require_program, start_promshard};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Discovered labels Prometheus 3 (and promshard) set that vmagent 1.79 does not: newer
/// pod meta labels (spec §1.4) and Prometheus 3's per-job histogram settings.
const NEWER_THAN_VMAGENT: &[&str] = &[
    "__meta_kubernetes_pod_ipv4",
    "__meta_kubernetes_pod_ipv6",
    "__meta_kubernetes_pod_container_id",
    "__meta_kubernetes_pod_container_image",
    "__meta_kubernetes_service_port_number",
    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
    "__meta_kubernetes_endpointslice_endpoint_node_name",
    "__meta_kubernetes_endpointslice_endpoint_zone",
    "__always_scrape_classic_histograms__",
    "__convert_classic_histograms_to_nhcb__",
    "__scrape_native_histograms__",
];

/// The cluster both scrapers discover.
fn populate(k8s: &FakeK8s) {
    k8s.apply(Kind::Namespace, common::fake_k8s::namespace("shop", &[]));
    k8s.apply(Kind::Namespace, common::fake_k8s::namespace("ops", &[]));
    for i in 0..6 {
        k8s.apply(
            Kind::Pod,
            pod("shop", &format!("metrics-{i}"))
                .labels(&[("app.kubernetes.io/name", "metrics"), ("tier", "backend")])
                .annotations(&[("prometheus.io/scrape", "true")])
                .ip(&format!("10.1.0.{}", i + 10))
                .node("node-1", "192.168.0.1")
                .phase("Running")
                .ready(i % 2 == 0)
                .container("gen", "metrics-generator:1", &[("http", 9091, "TCP")])
                .container("sidecar", "envoy:1", &[])
                .owner("ReplicaSet", "metrics-7d9f")
                .build(),
        );
    }
    k8s.apply(
        Kind::Pod,
        pod("ops", "agent")
            .labels(&[("app", "agent")])
            .ip("10.2.0.5")
            .node("node-2", "192.168.0.2")
            .phase("Running")
            .ready(true)
            .container(
                "agent",
                "agent:2",
                &[("metrics", 8080, "TCP"), ("dns", 53, "UDP")],
            )
            .init_container("setup", "busybox", &[("init", 9000, "TCP")])
            .build(),
    );
    // No IP yet: no targets.
    k8s.apply(
        Kind::Pod,
        pod("ops", "pending")
            .phase("Pending")
            .container("c", "c:1", &[("http", 80, "TCP")])
            .build(),
    );
    k8s.apply(
        Kind::Service,
        service("shop", "api")
            .labels(&[("app", "api")])
            .port("http", 80, "TCP", 8080)
            .port("grpc", 9090, "TCP", 9090)
            .cluster_ip("10.96.0.10")
            .build(),
    );
    // The metrics pods behind the api service: 4 ready, 1 not ready, 1 terminating, plus
    // an address without a pod.
    let mut slice = endpoint_slice("shop", "api-abc12", "api")
        .port("http", 9091, "TCP")
        .port("admin", 7000, "TCP");
    for i in 0..6 {
        let mut backend = Backend::new(&format!("10.1.0.{}", i + 10))
            .pod(&format!("metrics-{i}"))
            .node("node-1")
            .zone("eu-1a");
        if i == 4 {
            backend = backend.not_ready();
        }
        if i == 5 {
            backend = backend.terminating();
        }
        slice = slice.backend(backend);
    }
    slice = slice.backend(Backend::new("10.9.9.9").hostname("external"));
    k8s.apply(Kind::EndpointSlice, slice.build());
    // The same backends as a (legacy) Endpoints object.
    let mut legacy = endpoints("shop", "api")
        .port("http", 9091, "TCP")
        .port("admin", 7000, "TCP");
    for i in 0..6 {
        let mut backend = Backend::new(&format!("10.1.0.{}", i + 10))
            .pod(&format!("metrics-{i}"))
            .node("node-1");
        if i == 4 {
            backend = backend.not_ready();
        }
        legacy = legacy.backend(backend);
    }
    k8s.apply(Kind::Endpoints, legacy.build());
    k8s.apply(
        Kind::Service,
        service("ops", "db")
            .service_type("ExternalName")
            .external_name("db.example.com")
            .port("pg", 5432, "TCP", 5432)
            .build(),
    );
    k8s.apply(
        Kind::Node,
        node(
            "node-1",
            &[("InternalIP", "192.168.0.1"), ("Hostname", "node-1")],
            &[("kubernetes.io/os", "linux")],
        ),
    );
    k8s.apply(
        Kind::Node,
        node(
            "node-2",
            &[("ExternalIP", "3.3.3.3"), ("Hostname", "node-2")],
            &[],
        ),
    );
    k8s.apply(
        Kind::Ingress,
        ingress("shop", "web")
            .class("nginx")
            .rule(
                "shop.example.com",
                &[("/", "api", 80), ("/admin", "api", 80)],
            )
            .rule("other.example.org", &[("/", "api", 80)])
            .tls(&["*.example.com"], "tls")
            .build(),
    );
}

/// One job per role, plus the seed's pod job (MISSION.md): keep the metrics pods, address
/// `<pod ip>:9091`, a `pod` label from the pod name.
fn config(api_server: &str) -> String {
    let sd = |role: &str, extra: &str| {
        format!(
            "    kubernetes_sd_configs:\n      - role: {role}\n        api_server: {api_server}\n{extra}"
        )
    };
    let mut config = String::from(
        "global:\n  scrape_interval: 1h\n  external_labels:\n    cluster: custom\nscrape_configs:\n",
    );
    let jobs = [
        ("pods", sd("pod", "")),
        (
            "pods-shop",
            sd("pod", "        namespaces:\n          names: [shop]\n"),
        ),
        (
            "metrics-test",
            sd(
                "pod",
                "        selectors:\n          - role: pod\n            label: app.kubernetes.io/name=metrics\n",
            ) + concat!(
                "    relabel_configs:\n",
                "      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name]\n",
                "        regex: metrics\n",
                "        action: keep\n",
                "      - source_labels: [__meta_kubernetes_pod_ip]\n",
                "        target_label: __address__\n",
                "        replacement: $1:9091\n",
                "      - source_labels: [__meta_kubernetes_pod_name]\n",
                "        target_label: pod\n",
            ),
        ),
        ("services", sd("service", "")),
        ("nodes", sd("node", "")),
        ("ingresses", sd("ingress", "")),
        ("endpointslices", sd("endpointslice", "")),
        ("endpoints", sd("endpoints", "")),
        (
            "pods-with-node",
            sd("pod", "        attach_metadata:\n          node: true\n"),
        ),
    ];
    for (job, body) in jobs {
        config.push_str(&format!("  - job_name: {job}\n{body}"));
    }
    config
}

/// `(scrapePool, labels)` → discovered labels, of every active target.
type Targets = BTreeMap<(String, BTreeMap<String, String>), BTreeMap<String, String>>;

fn to_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

fn active_targets(body: &Value) -> Targets {
    body["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                (
                    t["scrapePool"].as_str().unwrap_or_default().to_string(),
                    to_map(&t["labels"]),
                ),
                to_map(&t["discoveredLabels"]),
            )
        })
        .collect()
}

/// Polls `url` until the active targets stop changing and number at least `min`.
async fn settled_targets(url: &str, min: usize, process: &mut Process) -> Targets {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut last = Targets::new();
    let mut stable_since = Instant::now();
    loop {
        if let Err(e) = process.check_running() {
            panic!("{e}");
        }
        let body = match client.get(url).send().await {
            Ok(response) => response.json::<Value>().await.unwrap_or_default(),
            Err(_) => Value::Null,
        };
        if body.is_null() {
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "{url}: no answer; log:\n{}",
                process.log_text()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        }
        let targets = active_targets(&body);
        if targets != last {
            last = targets;
            stable_since = Instant::now();
        } else if last.len() >= min && stable_since.elapsed() > Duration::from_secs(2) {
            return last;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "{url}: targets did not settle ({} so far); log:\n{}",
            last.len(),
            process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn start_vmagent(config: &Path, dir: &Path, port: u16) -> Process {
    let program = require_program("vmagent", "victoria-metrics");
    let args = vec![
        format!("-promscrape.config={}", config.display()),
        format!("-httpListenAddr=127.0.0.1:{port}"),
        // vmagent needs somewhere to write; nothing is scraped within the test (1h interval).
        "-remoteWrite.url=http://127.0.0.1:1/api/v1/write".to_string(),
        format!(
            "-remoteWrite.tmpDataPath={}",
            dir.join("vmagent-data").display()
        ),
    ];
    Process::spawn("vmagent", &program, &args, &dir.join("vmagent.log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_matches_vmagent() {
    let k8s = FakeK8s::start().await;
    populate(&k8s);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config(&k8s.url())).unwrap();

    let ours_port = free_port();
    let mut ours = start_promshard(&config_path, dir.path(), ours_port);
    let vm_port = free_port();
    let mut vm = start_vmagent(&config_path, dir.path(), vm_port);

    // pods: 6×2 + 3 (agent: 2 ports + init) ; pods-shop: 12; metrics-test: 6 (one per pod
    // and container... kept by address dedup); services: 3; nodes: 2; ingresses: 3.
    let ours_targets = settled_targets(
        &format!("http://127.0.0.1:{ours_port}/api/v1/targets?state=active"),
        30,
        &mut ours,
    )
    .await;
    let vm_targets = settled_targets(
        &format!("http://127.0.0.1:{vm_port}/api/v1/targets?state=active"),
        30,
        &mut vm,
    )
    .await;

    // Differences of vmagent 1.79 from Prometheus 3: it shows external labels among a
    // target's labels, adds the scheme's default port to an address without one (Prometheus
    // 3 does not), keeps empty-valued labels and prints durations the Go way.
    let vm_targets: Targets = vm_targets
        .into_iter()
        .map(|((job, mut labels), mut discovered)| {
            labels.remove("cluster");
            discovered.remove("cluster");
            // vmagent adds the service's cluster IP and type to endpoint targets; Prometheus
            // gives them only the service's name, labels and annotations.
            if job == "endpointslices" || job == "endpoints" {
                discovered.remove("__meta_kubernetes_service_cluster_ip");
                discovered.remove("__meta_kubernetes_service_type");
            }
            // vmagent shows empty-valued labels; in Prometheus they are absent.
            discovered.retain(|_, value| !value.is_empty());
            // Go's duration format; Prometheus prints `1h`.
            if discovered.get("__scrape_interval__").map(String::as_str) == Some("1h0m0s") {
                discovered.insert("__scrape_interval__".into(), "1h".into());
            }
            let address = discovered.get("__address__").cloned().unwrap_or_default();
            if !address.contains(':')
                && let Some(instance) = labels.get_mut("instance")
                && (*instance == format!("{address}:80") || *instance == format!("{address}:443"))
            {
                *instance = address;
            }
            ((job, labels), discovered)
        })
        .collect();
    let ours_keys: BTreeSet<_> = ours_targets.keys().collect();
    let vm_keys: BTreeSet<_> = vm_targets.keys().collect();
    let only_ours: Vec<_> = ours_keys.difference(&vm_keys).collect();
    let only_vm: Vec<_> = vm_keys.difference(&ours_keys).collect();
    assert!(
        only_ours.is_empty() && only_vm.is_empty(),
        "target labels differ\nonly promshard ({}): {:?}\nonly vmagent ({}): {:?}",
        only_ours.len(),
        only_ours.iter().take(4).collect::<Vec<_>>(),
        only_vm.len(),
        only_vm.iter().take(4).collect::<Vec<_>>()
    );
    let mut differences = Vec::new();
    for (key, ours_discovered) in &ours_targets {
        let mut ours_discovered = ours_discovered.clone();
        let vm_discovered = &vm_targets[key];
        for name in NEWER_THAN_VMAGENT {
            ours_discovered.remove(*name);
        }
        // vmagent sets it for the pod role only.
        if key.0 == "endpointslices" || key.0 == "endpoints" {
            ours_discovered.remove("__meta_kubernetes_pod_container_init");
        }
        if &ours_discovered != vm_discovered {
            let all: BTreeSet<&String> =
                ours_discovered.keys().chain(vm_discovered.keys()).collect();
            for name in all {
                let (a, b) = (ours_discovered.get(name), vm_discovered.get(name));
                if a != b {
                    differences.push(format!("{key:?}: {name}: promshard {a:?}, vmagent {b:?}"));
                }
            }
        }
    }
    assert!(
        differences.is_empty(),
        "discovered labels differ:\n{}",
        differences.join("\n")
    );
    // The labels vmagent lacks are there, as the spec says.
    let pod_target = ours_targets
        .iter()
        .find(|((job, _), d)| {
            job == "pods"
                && d.get("__meta_kubernetes_pod_name").map(String::as_str) == Some("metrics-0")
        })
        .expect("metrics-0 discovered");
    assert_eq!(
        pod_target
            .1
            .get("__meta_kubernetes_pod_ipv4")
            .map(String::as_str),
        Some("10.1.0.10")
    );
    assert!(
        pod_target
            .1
            .get("__meta_kubernetes_pod_container_id")
            .is_some_and(|id| id.starts_with("containerd://")),
        "{pod_target:?}"
    );
    // 7 addresses × 2 ports, the pods' labels joined in, the service's too.
    let slices: Vec<_> = ours_targets
        .iter()
        .filter(|((job, _), _)| job == "endpointslices")
        .collect();
    assert_eq!(slices.len(), 14);
    assert!(slices.iter().all(|(_, d)| {
        d.get("__meta_kubernetes_service_name").map(String::as_str) == Some("api")
    }));
    assert_eq!(
        slices
            .iter()
            .filter(|(_, d)| d.contains_key("__meta_kubernetes_pod_name"))
            .count(),
        12
    );
    // attach_metadata node: the node's labels on the pods scheduled on it.
    let with_node: Vec<_> = ours_targets
        .iter()
        .filter(|((job, _), d)| {
            job == "pods-with-node"
                && d.get("__meta_kubernetes_pod_node_name").map(String::as_str) == Some("node-1")
        })
        .collect();
    assert!(!with_node.is_empty());
    assert!(with_node.iter().all(|(_, d)| {
        d.get("__meta_kubernetes_node_label_kubernetes_io_os")
            .map(String::as_str)
            == Some("linux")
            && d.get("__meta_kubernetes_node_name").map(String::as_str) == Some("node-1")
    }));
    let legacy: Vec<_> = ours_targets
        .iter()
        .filter(|((job, _), _)| job == "endpoints")
        .collect();
    assert_eq!(legacy.len(), 12);
    assert_eq!(
        legacy
            .iter()
            .filter(|(_, d)| d
                .get("__meta_kubernetes_endpoint_ready")
                .map(String::as_str)
                == Some("false"))
            .count(),
        2,
        "one not-ready address × 2 ports"
    );
    let seed: Vec<_> = ours_targets
        .keys()
        .filter(|(job, _)| job == "metrics-test")
        .collect();
    assert_eq!(
        seed.len(),
        6,
        "the seed job keeps one target per metrics pod: {seed:#?}"
    );
}

/// Acceptance 2: 2,000 pods created, relabeled and deleted through the watch; the groups
/// follow within 1 s of each change, and a 410 in the middle of a watch makes the provider
/// list again without losing or duplicating a target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_of_two_thousand_pods_and_a_410() {
    use promshard::sd::kubernetes::{KubernetesProvider, KubernetesSdConfig};
    use promshard::sd::{SdMetrics, TargetGroup};
    use std::sync::Arc;

    const PODS: usize = 2000;
    let k8s = FakeK8s::start().await;
    let config: KubernetesSdConfig =
        serde_saphyr::from_str(&format!("role: pod\napi_server: {}\n", k8s.url())).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<TargetGroup>>(16);
    let provider = KubernetesProvider::new(config, Arc::new(SdMetrics::default()));
    let task = tokio::spawn(provider.run(tx));

    // The latest full update, kept current by a background reader.
    let latest = Arc::new(parking_lot::Mutex::new(Vec::<TargetGroup>::new()));
    let reader = {
        let latest = latest.clone();
        tokio::spawn(async move {
            while let Some(groups) = rx.recv().await {
                *latest.lock() = groups;
            }
        })
    };
    let make = |i: usize, version: &str| {
        pod("churn", &format!("p-{i:04}"))
            .labels(&[("app", "churn"), ("version", version)])
            .ip(&format!(
                "10.{}.{}.{}",
                100 + i / 65536,
                (i / 256) % 256,
                i % 256
            ))
            .node("node-1", "192.168.0.1")
            .phase("Running")
            .ready(true)
            .container("c", "img:1", &[("http", 8080, "TCP")])
            .build()
    };
    // Waits until the latest update satisfies `check`; returns how long after `since`.
    type Check = Box<dyn Fn(&[TargetGroup]) -> bool + Send>;
    let wait = |what: &'static str, check: Check| {
        let latest = latest.clone();
        async move {
            let since = Instant::now();
            loop {
                if check(&latest.lock()) {
                    return since.elapsed();
                }
                assert!(
                    since.elapsed() < Duration::from_secs(20),
                    "{what}: not reached; {} groups",
                    latest.lock().len()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let versions = |groups: &[TargetGroup], version: &str| {
        groups
            .iter()
            .filter(|g| {
                g.labels.get("__meta_kubernetes_pod_label_version") == Some(version)
                    && g.targets.len() == 1
            })
            .count()
    };
    let unique = |groups: &[TargetGroup]| {
        let sources: BTreeSet<&str> = groups.iter().map(|g| g.source.as_str()).collect();
        sources.len() == groups.len()
    };

    // Create: the watch (after the initial empty list) delivers them all.
    wait("initial list", Box::new(|_| true)).await;
    for i in 0..PODS {
        k8s.apply(Kind::Pod, make(i, "v1"));
    }
    let created = wait(
        "2000 pods",
        Box::new(move |g| g.len() == PODS && versions(g, "v1") == PODS && unique(g)),
    )
    .await;

    // Relabel all, with a 410 half way: the watch ends, the provider lists again.
    for i in 0..PODS / 2 {
        k8s.apply(Kind::Pod, make(i, "v2"));
    }
    let lists_before = k8s.list_requests(Kind::Pod);
    k8s.expire_watches();
    for i in PODS / 2..PODS {
        k8s.apply(Kind::Pod, make(i, "v2"));
    }
    let relabeled = wait(
        "2000 pods relabeled",
        Box::new(move |g| g.len() == PODS && versions(g, "v2") == PODS && unique(g)),
    )
    .await;
    assert!(
        k8s.list_requests(Kind::Pod) > lists_before,
        "the 410 did not make the watcher list again"
    );

    // Delete all.
    for i in 0..PODS {
        k8s.delete(Kind::Pod, "churn", &format!("p-{i:04}"));
    }
    let deleted = wait("no pods", Box::new(|g| g.is_empty())).await;
    eprintln!(
        "after the last change: created in {created:?}, relabeled (with a 410) in {relabeled:?}, deleted in {deleted:?}"
    );
    for (what, took) in [
        ("create", created),
        ("relabel", relabeled),
        ("delete", deleted),
    ] {
        assert!(
            took < Duration::from_secs(1),
            "{what}: targets followed after {took:?}"
        );
    }
    task.abort();
    reader.abort();
}
