//! deploy/ and the Dockerfile, checked without a cluster, Helm or a container engine: the
//! chart rendered by a Go-template renderer (tests/deploy/gotmpl.rs), every manifest
//! validated against the Kubernetes schemas by kubernetes-validate (installed by
//! scripts/test), the configurations loaded by promshard itself, the image's runtime needs
//! compared with the binary's, and the dashboard's metrics with promshard's /metrics.

mod common;
#[path = "deploy/gotmpl.rs"]
mod gotmpl;
#[path = "deploy/helm.rs"]
mod helm;

use gotmpl::{Templates, Value};
use helm::{Chart, documents, split_documents, yaml};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Kubernetes releases whose schemas the manifests must satisfy: the API level promshard
/// itself is built against (k8s-openapi's `v1_33`), and the newest kubernetes-validate 1.37.0
/// bundles.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.33", "1.37"];
const RELEASE: &str = "shards";
const NAMESPACE: &str = "monitoring";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> Chart {
    Chart::load(&repo().join("deploy/helm/promshard"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The chart variants the tests render: name, overrides.
fn variants() -> Vec<(&'static str, Json)> {
    vec![
        ("defaults", json!({})),
        (
            "autoscaling-off",
            json!({"autoscaling": {"enabled": false}, "replicaCount": 3}),
        ),
        (
            "persistence-off",
            json!({"persistence": {"enabled": false}}),
        ),
        (
            "servicemonitor-on",
            json!({"serviceMonitor": {"enabled": true, "labels": {"release": "kube-prometheus-stack"}}}),
        ),
        // Every optional value set, so each `with`/`range`/`else` branch renders once.
        (
            "everything",
            json!({
                "fullnameOverride": "promshard",
                "image": {"tag": "0.1.1", "pullPolicy": "Always"},
                "imagePullSecrets": [{"name": "registry"}],
                "shard": {"maxSeries": 1000000},
                "autoscaling": {"minReplicas": 2, "maxReplicas": 20, "scaleDownDelay": "30m"},
                "persistence": {"storageClass": "fast-ssd", "size": "50Gi"},
                "storage": {"remoteWriteMaxBytes": "40GiB"},
                "extraArgs": ["--log.level=debug", "--log.format=json"],
                "podAnnotations": {"example.com/team": "monitoring"},
                "podLabels": {"team": "monitoring"},
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "monitoring", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}]}}},
                "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/promshard"}},
                "service": {"type": "NodePort"},
                "remoteWrite": {"url": "https://receive.example.com/api/v1/receive"},
                "serviceMonitor": {"enabled": true, "interval": "15s"},
                "webConfig": {"secretName": "promshard-web", "tls": true, "probeAuthorization": "Basic cHJvYmU6c2VjcmV0"},
            }),
        ),
    ]
}

fn render(overrides: &Json) -> BTreeMap<String, String> {
    chart()
        .render(RELEASE, NAMESPACE, overrides)
        .unwrap_or_else(|e| panic!("rendering the chart with {overrides}: {e}"))
}

/// With DEPLOY_RENDER_DIR set, each variant's rendering is written there to read by eye
/// (what `helm template` would print).
fn dump(variant: &str, rendered: &BTreeMap<String, String>) {
    let Some(dir) = std::env::var_os("DEPLOY_RENDER_DIR") else {
        return;
    };
    let text: String = rendered
        .iter()
        .map(|(file, out)| format!("---\n# Source: {file}\n{out}\n"))
        .collect();
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{variant}.yaml")), text).unwrap();
}

fn kind<'a>(docs: &'a [(String, Json)], kind: &str) -> Vec<&'a Json> {
    docs.iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"] == kind)
        .collect()
}

fn one<'a>(docs: &'a [(String, Json)], k: &str) -> &'a Json {
    let found = kind(docs, k);
    assert_eq!(found.len(), 1, "want one {k}, got {}", found.len());
    found[0]
}

fn strings(v: &Json) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// A Prometheus duration such as 30s, 1m or 1h30m, in seconds.
fn seconds(d: &str) -> u64 {
    let mut total = 0;
    let mut n = 0;
    for c in d.chars() {
        if let Some(digit) = c.to_digit(10) {
            n = n * 10 + u64::from(digit);
            continue;
        }
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => panic!("unsupported duration {d:?}"),
        };
        n = 0;
    }
    assert_eq!(n, 0, "duration {d:?} without a unit");
    total
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("{name}=")))
}

/// What a variant should give.
struct Expect {
    autoscaling: bool,
    persistence: bool,
    service_monitor: bool,
    replicas: Option<i64>,
}

/// The facts every promshard deployment must hold, for the plain manifests and each chart
/// variant alike.
fn check_promshard(docs: &[(String, Json)], expect: &Expect) {
    let sts = kind(docs, "StatefulSet")
        .into_iter()
        .find(|s| s["spec"]["template"]["spec"]["containers"][0]["name"] == "promshard")
        .expect("a promshard StatefulSet");
    let name = sts["metadata"]["name"].as_str().unwrap();
    let spec = &sts["spec"];
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    let args = strings(&container["args"]);

    assert_eq!(spec["podManagementPolicy"], "Parallel");
    assert_eq!(spec["replicas"].as_i64(), expect.replicas, "spec.replicas");
    for (k, v) in spec["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            spec["template"]["metadata"]["labels"][k], *v,
            "the pod template carries the selector's label {k}"
        );
    }

    // Flags: the members come from the headless Service the StatefulSet is governed by.
    assert_eq!(flag(&args, "--cluster.peers"), Some("kubernetes"));
    assert_eq!(
        flag(&args, "--config.file"),
        Some("/etc/promshard/prometheus.yml")
    );
    assert_eq!(flag(&args, "--storage.path"), Some("/data"));
    let service_name = flag(&args, "--cluster.kubernetes.service").expect("service flag");
    assert_eq!(spec["serviceName"], service_name);
    let headless = kind(docs, "Service")
        .into_iter()
        .find(|s| s["metadata"]["name"] == service_name)
        .expect("the members' Service");
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], false);
    assert!(
        headless["spec"]["selector"]
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| spec["template"]["metadata"]["labels"][k] == *v),
        "the headless Service selects the promshard pods"
    );
    if expect.autoscaling {
        assert_eq!(flag(&args, "--shard.statefulset"), Some(name), "{args:?}");
        let max_series: u64 = flag(&args, "--shard.max-series")
            .expect("--shard.max-series with autoscaling")
            .parse()
            .expect("--shard.max-series is an integer");
        assert!(max_series > 0);
        for f in ["--shard.min-replicas", "--shard.max-replicas"] {
            flag(&args, f)
                .unwrap_or_else(|| panic!("{f} missing"))
                .parse::<u32>()
                .unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    } else {
        assert_eq!(flag(&args, "--shard.statefulset"), None);
    }

    // Graceful leave fits in the grace period: handoff, then the queue's flush.
    let handoff = seconds(flag(&args, "--cluster.handoff-timeout").unwrap_or("20s"));
    let flush = seconds(flag(&args, "--storage.remote.flush-deadline").unwrap_or("1m"));
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace >= handoff + flush + 15,
        "terminationGracePeriodSeconds {grace} too close to handoff {handoff}s + flush {flush}s"
    );

    // The member id, probes and port.
    let env = container["env"].as_array().unwrap();
    assert!(
        env.iter().any(|e| e["name"] == "POD_NAME"
            && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"),
        "POD_NAME from the pod's name"
    );
    assert_eq!(container["ports"][0]["name"], "http");
    assert_eq!(container["ports"][0]["containerPort"], 9090);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/-/ready");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "http");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/-/healthy");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "http");

    // Non-root, read-only root filesystem, spread over nodes.
    let user = container["securityContext"]["runAsUser"]
        .as_i64()
        .or(pod["securityContext"]["runAsUser"].as_i64())
        .expect("runAsUser");
    assert!(user > 0);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert!(container["resources"]["requests"].is_object());
    assert!(!pod["affinity"].is_null(), "affinity");

    // /data: a claim per replica, or an emptyDir.
    let mounts = container["volumeMounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == "data" && m["mountPath"] == "/data")
    );
    let claims = spec["volumeClaimTemplates"].as_array();
    let empty_dir = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["name"] == "data" && v["emptyDir"].is_object());
    if expect.persistence {
        assert_eq!(
            claims.map(|c| c[0]["metadata"]["name"].clone()),
            Some(json!("data"))
        );
        assert!(!empty_dir);
    } else {
        assert!(claims.is_none());
        assert!(empty_dir, "an emptyDir for /data");
    }

    // RBAC: discovery and members cluster-wide; the scale subresource of this StatefulSet.
    let account = pod["serviceAccountName"].as_str().unwrap();
    assert!(
        kind(docs, "ServiceAccount")
            .iter()
            .any(|a| a["metadata"]["name"] == account)
    );
    let allows = |rules: &Json, group: &str, resource: &str, verb: &str, name: Option<&str>| {
        rules.as_array().unwrap().iter().any(|r| {
            strings(&r["apiGroups"]).iter().any(|g| g == group)
                && strings(&r["resources"]).iter().any(|x| x == resource)
                && strings(&r["verbs"]).iter().any(|v| v == verb)
                && (r["resourceNames"].is_null()
                    || name.is_some_and(|n| strings(&r["resourceNames"]).iter().any(|x| x == n)))
        })
    };
    let bound = |binding_kind: &str, role_kind: &str| -> Vec<&Json> {
        kind(docs, binding_kind)
            .into_iter()
            .filter(|b| {
                b["subjects"].as_array().unwrap().iter().any(|s| {
                    s["kind"] == "ServiceAccount"
                        && s["name"] == account
                        && s["namespace"] == NAMESPACE
                })
            })
            .filter_map(|b| {
                kind(docs, role_kind).into_iter().find(|r| {
                    r["metadata"]["name"] == b["roleRef"]["name"]
                        && b["roleRef"]["kind"] == role_kind
                })
            })
            .collect()
    };
    let cluster_roles = bound("ClusterRoleBinding", "ClusterRole");
    for (group, resource) in [
        ("", "pods"),
        ("", "endpoints"),
        ("", "services"),
        ("", "nodes"),
        ("", "namespaces"),
        ("discovery.k8s.io", "endpointslices"),
        ("networking.k8s.io", "ingresses"),
    ] {
        for verb in ["get", "list", "watch"] {
            assert!(
                cluster_roles
                    .iter()
                    .any(|r| allows(&r["rules"], group, resource, verb, None)),
                "ClusterRole lacks {verb} {group}/{resource}"
            );
        }
    }
    let roles = bound("RoleBinding", "Role");
    for verb in ["get", "patch"] {
        let can = roles
            .iter()
            .any(|r| allows(&r["rules"], "apps", "statefulsets/scale", verb, Some(name)));
        assert_eq!(
            can, expect.autoscaling,
            "{verb} statefulsets/scale on {name} (autoscaling {})",
            expect.autoscaling
        );
    }

    // The configuration the pods mount exists and carries prometheus.yml.
    let config_map = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap()["configMap"]["name"]
        .as_str()
        .unwrap();
    let cm = kind(docs, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == config_map)
        .expect("the ConfigMap the pods mount");
    check_config(cm["data"]["prometheus.yml"].as_str().unwrap());

    // The ServiceMonitor selects the UI Service, not the headless one too.
    let monitors = kind(docs, "ServiceMonitor");
    assert_eq!(monitors.len(), usize::from(expect.service_monitor));
    for monitor in monitors {
        check_service_monitor(monitor, docs);
    }
}

/// The ServiceMonitor's required fields (kubernetes-validate has no schema for the CRD), and
/// that it selects exactly one Service with the port it names.
fn check_service_monitor(m: &Json, docs: &[(String, Json)]) {
    assert_eq!(m["apiVersion"], "monitoring.coreos.com/v1");
    assert!(
        m["metadata"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert_eq!(m["metadata"]["namespace"], NAMESPACE);
    let selector = m["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("spec.selector.matchLabels");
    let endpoints = m["spec"]["endpoints"].as_array().expect("spec.endpoints");
    assert!(!endpoints.is_empty());
    let selected: Vec<&Json> = kind(docs, "Service")
        .into_iter()
        .filter(|s| {
            selector
                .iter()
                .all(|(k, v)| s["metadata"]["labels"][k] == *v)
        })
        .collect();
    assert_eq!(selected.len(), 1, "the ServiceMonitor selects one Service");
    for e in endpoints {
        let port = e["port"].as_str().expect("endpoints[].port (a port name)");
        assert!(
            selected[0]["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == port),
            "the selected Service has a port named {port}"
        );
        assert_eq!(e["path"], "/metrics");
        seconds(e["interval"].as_str().expect("interval"));
    }
    assert_eq!(
        strings(&m["spec"]["namespaceSelector"]["matchNames"]),
        [NAMESPACE]
    );
}

/// prometheus.yml parses as YAML and promshard's own loader accepts it.
fn check_config(text: &str) {
    let parsed = yaml(text).unwrap_or_else(|e| panic!("prometheus.yml is not YAML: {e}\n{text}"));
    assert_eq!(parsed["global"]["external_labels"]["cluster"], "custom");
    let jobs: Vec<&str> = parsed["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    assert!(jobs.contains(&"metrics-test"), "{jobs:?}");
    assert!(parsed["remote_write"][0]["url"].is_string(), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(common::promshard_bin())
        .args(["check", "config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promshard check config failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------

/// The renderer against what Go's text/template, Sprig, Helm and go-yaml v2 document and do.
#[test]
fn renderer_behaves_as_go_template_and_helm() {
    let run = |text: &str, data: Json| -> Result<String, String> {
        let mut set = Templates::default();
        set.add("t", text)?;
        set.add(
            "_helpers.tpl",
            r#"{{- define "labels" -}}
a: {{ .a }}
b: {{ .b | quote }}
{{- end }}"#,
        )?;
        set.execute("t", &Value::from_json(&data))
            .map(|s| s.replace("<no value>", ""))
    };
    let ok =
        |text: &str, data: Json| run(text, data.clone()).unwrap_or_else(|e| panic!("{text}: {e}"));
    // text/template's documentation: trim markers.
    assert_eq!(ok("{{23 -}} < {{- 45}}", json!({})), "23<45");
    assert_eq!(ok("a  {{- /* comment */ -}}  b", json!({})), "ab");
    assert_eq!(ok("{{-3}}", json!({})), "-3");
    // Missing map keys read as nil (missingkey=zero), printed as nothing by Helm; a field of
    // nil is an error.
    assert_eq!(ok("[{{ .nope }}]", json!({})), "[]");
    assert!(
        run("{{ .nope.deeper }}", json!({}))
            .unwrap_err()
            .contains("nil pointer evaluating interface {}.deeper")
    );
    // Values are float64: %v of a float64 switches to exponent form at 1e+06; `int` does not.
    assert_eq!(
        ok(
            "{{ .a }} {{ .b }} {{ int .b }} {{ .c }}",
            json!({"a": 30000, "b": 1000000, "c": 0.5})
        ),
        "30000 1e+06 1000000 0.5"
    );
    // Typed arguments: Sprig's nindent wants an int and a string.
    assert!(
        run("{{ nindent .a \"x\" }}", json!({"a": 4}))
            .unwrap_err()
            .contains("expected int; got float64")
    );
    assert!(
        run("{{ .a | nindent 2 }}", json!({"a": 4}))
            .unwrap_err()
            .contains("expected string; got float64")
    );
    assert!(
        run("{{ nope }}", json!({}))
            .unwrap_err()
            .contains("function \"nope\" not defined")
    );
    assert!(run("{{ if .a }}x", json!({})).is_err());
    // Control flow, variables, scoping, range over lists and maps (in key order).
    assert_eq!(
        ok(
            "{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}{{ with .m }}{{ .k }}{{ end }}{{ range $k, $v := .m }}[{{ $k }}={{ $v }}]{{ end }}{{ range .l }}<{{ . }}>{{ else }}none{{ end }}",
            json!({"a": false, "b": "yes", "m": {"z": 1, "k": "v"}, "l": []})
        ),
        "Bv[k=v][z=1]none"
    );
    assert_eq!(
        ok(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            json!({})
        ),
        "2"
    );
    assert_eq!(
        ok(
            "{{ range .l }}{{ $.top }}{{ . }}{{ end }}",
            json!({"l": ["a", "b"], "top": "-"})
        ),
        "-a-b"
    );
    assert_eq!(
        ok(
            "{{ and 1 0 }} {{ or 0 \"\" 3 }} {{ and .x 1 }} {{ not .x }}",
            json!({})
        ),
        "0 3  true"
    );
    assert!(
        run("{{ eq .a 1 }}", json!({"a": 1}))
            .unwrap_err()
            .contains("incompatible types")
    );
    assert_eq!(
        ok(
            "{{ eq .a \"x\" }} {{ ne .a \"y\" }} {{ eq .n \"x\" }}",
            json!({"a": "x"})
        ),
        "true true false"
    );
    // Sprig and Helm functions.
    assert_eq!(
        ok(
            "{{ default \"d\" .e }} {{ default \"d\" .s }} {{ quote .s \"q\\\"\" }} {{ trunc 3 \"abcdef\" }} {{ \"ab-\" | trimSuffix \"-\" }} {{ contains \"b\" \"abc\" }} {{ printf \"%s-%d-%v-%s\" \"a\" 7 .f .f }}",
            json!({"e": "", "s": "set", "f": 1.5})
        ),
        "d set \"set\" \"q\\\"\" abc ab true a-7-1.5-%!s(float64=1.5)"
    );
    assert_eq!(
        ok(
            "x:{{ include \"labels\" . | nindent 2 }}",
            json!({"a": 1, "b": "two"})
        ),
        "x:\n  a: 1\n  b: \"two\""
    );
    assert_eq!(ok("{{ indent 2 \"a\\nb\" }}", json!({})), "  a\n  b");
    assert!(
        run("{{ required \"need a\" .a }}", json!({}))
            .unwrap_err()
            .contains("need a")
    );
    assert!(
        run("{{ fail \"stop\" }}", json!({}))
            .unwrap_err()
            .contains("stop")
    );
    // toYaml: sorted keys, unindented sequences, go-yaml v2's quoting, literal blocks.
    let v = json!({
        "b": [1, {"y": "true", "x": "15s"}, [], {}, ["n1", "n2"]],
        "a": {"c": "", "d": null, "e": 0.25, "f": false},
        "z": "a: b",
        "k10": "*", "k9": "-x", "k8": "- x", "k7": "#c", "k6": "a #c", "k5": "${1}:9091",
        "k4": "0x1F", "k3": "1e3", "k2": "2024-01-15", "k1": "yes",
        "m": "line one\nline two\n",
        "n": "line one\nline two",
        "p": " lead\nx",
    });
    let expected = r#"a:
  c: ""
  d: null
  e: 0.25
  f: false
b:
- 1
- x: 15s
  "y": "true"
- []
- {}
- - n1
  - n2
k1: "yes"
k2: "2024-01-15"
k3: "1e3"
k4: "0x1F"
k5: ${1}:9091
k6: 'a #c'
k7: '#c'
k8: '- x'
k9: -x
k10: '*'
m: |
  line one
  line two
"n": |-
  line one
  line two
p: |2-
   lead
  x
z: 'a: b'"#;
    assert_eq!(ok("{{ toYaml . }}", v), expected);
    assert_eq!(
        ok(
            "{{ toYaml .l }}|{{ toYaml .m }}|{{ toYaml .s }}",
            json!({"l": [], "m": {}, "s": "x"})
        ),
        "[]|{}|x"
    );
    assert!(
        run("{{ toYaml . }}", json!({"long": "word ".repeat(30)}))
            .unwrap_err()
            .contains("fold")
    );
}

#[test]
fn chart_variants_render_with_the_facts_that_matter() {
    for (name, overrides) in variants() {
        let rendered = render(&overrides);
        dump(name, &rendered);
        let docs = documents(&rendered).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (file, doc) in &docs {
            assert!(
                doc["apiVersion"].is_string() && doc["kind"].is_string(),
                "{name} {file}"
            );
            let scoped = !matches!(
                doc["kind"].as_str(),
                Some("ClusterRole" | "ClusterRoleBinding")
            );
            if scoped {
                assert_eq!(doc["metadata"]["namespace"], NAMESPACE, "{name} {file}");
            }
        }
        let autoscaling = overrides["autoscaling"]["enabled"]
            .as_bool()
            .unwrap_or(true);
        check_promshard(
            &docs,
            &Expect {
                autoscaling,
                persistence: overrides["persistence"]["enabled"]
                    .as_bool()
                    .unwrap_or(true),
                service_monitor: overrides["serviceMonitor"]["enabled"]
                    .as_bool()
                    .unwrap_or(false),
                replicas: (!autoscaling).then_some(3),
            },
        );
        let notes = &rendered["promshard/templates/NOTES.txt"];
        assert!(notes.contains("port-forward"), "{name}: {notes}");
        println!("{name}: {} objects", docs.len());
    }

    // The defaults are the article's: 30,000 series per replica, names from the release.
    let docs = documents(&render(&json!({}))).unwrap();
    let sts = one(&docs, "StatefulSet");
    assert_eq!(sts["metadata"]["name"], "shards-promshard");
    let args = strings(&sts["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert_eq!(flag(&args, "--shard.max-series"), Some("30000"));
    assert_eq!(flag(&args, "--shard.statefulset"), Some("shards-promshard"));
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/promshard/promshard:0.1.0"
    );

    // Values that must not be mangled on the way: a million series (not 1e+06), extra args,
    // the given names and the user's affinity instead of the default.
    let (_, everything) = variants().pop().unwrap();
    let docs = documents(&render(&everything)).unwrap();
    let sts = one(&docs, "StatefulSet");
    assert_eq!(sts["metadata"]["name"], "promshard");
    let pod = &sts["spec"]["template"]["spec"];
    let args = strings(&pod["containers"][0]["args"]);
    assert_eq!(flag(&args, "--shard.max-series"), Some("1000000"));
    assert_eq!(flag(&args, "--shard.min-replicas"), Some("2"));
    assert_eq!(flag(&args, "--shard.scale-down-delay"), Some("30m"));
    assert!(args.ends_with(&[
        "--log.level=debug".to_string(),
        "--log.format=json".to_string()
    ]));
    assert_eq!(
        pod["containers"][0]["image"],
        "ghcr.io/promshard/promshard:0.1.1"
    );
    assert_eq!(pod["imagePullSecrets"][0]["name"], "registry");
    // The web config: both files from the Secret, probes over HTTPS with the probe's
    // credentials.
    assert_eq!(
        flag(&args, "--web.config.file"),
        Some("/etc/promshard-web/web.yml")
    );
    assert_eq!(
        flag(&args, "--cluster.peer-config.file"),
        Some("/etc/promshard-web/peers.yml")
    );
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "web-config")
        .expect("the web config volume");
    assert_eq!(volume["secret"]["secretName"], "promshard-web");
    assert!(
        pod["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "web-config"
                && m["mountPath"] == "/etc/promshard-web"
                && m["readOnly"] == true)
    );
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &pod["containers"][0][probe]["httpGet"];
        assert_eq!(get["scheme"], "HTTPS", "{probe}");
        assert_eq!(
            get["httpHeaders"],
            json!([{"name": "Authorization", "value": "Basic cHJvYmU6c2VjcmV0"}]),
            "{probe}"
        );
    }
    assert_eq!(pod["tolerations"][0]["effect"], "NoSchedule");
    assert!(pod["affinity"]["podAntiAffinity"].is_null());
    assert_eq!(
        pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0]["values"],
        json!(["amd64", "arm64"])
    );
    assert_eq!(
        sts["spec"]["template"]["metadata"]["annotations"]["example.com/team"],
        "monitoring"
    );
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
        "fast-ssd"
    );
    let cm = one(&docs, "ConfigMap");
    let config = yaml(cm["data"]["prometheus.yml"].as_str().unwrap()).unwrap();
    assert_eq!(
        config["remote_write"],
        json!([{"url": "https://receive.example.com/api/v1/receive"}])
    );
    // The config map round-trips: toYaml of the values gives back the same configuration.
    let values = yaml(&read(&repo().join("deploy/helm/promshard/values.yaml"))).unwrap();
    let mut want = values["config"].clone();
    want["remote_write"] = config["remote_write"].clone();
    assert_eq!(config, want);
}

/// A chart that cannot work fails to render, and a template broken in a way that still
/// renders is caught by the checks.
#[test]
fn chart_mistakes_are_caught() {
    let err = chart()
        .render(RELEASE, NAMESPACE, &json!({"shard": {"maxSeries": 0}}))
        .unwrap_err();
    assert!(
        err.contains("autoscaling.enabled needs shard.maxSeries"),
        "{err}"
    );
    let err = chart()
        .render(
            RELEASE,
            NAMESPACE,
            &json!({"config": {"remote_write": [{"url": "http://x/"}]}}),
        )
        .unwrap_err();
    assert!(err.contains("not both"), "{err}");

    // One nindent off by two: still YAML, but the selector's labels land beside matchLabels.
    let mut broken = chart();
    let sts = broken
        .templates
        .iter_mut()
        .find(|(n, _)| n.ends_with("statefulset.yaml"))
        .unwrap();
    let good = "  selector:\n    matchLabels:\n      {{- include \"promshard.selectorLabels\" . | nindent 6 }}";
    assert!(sts.1.contains(good));
    sts.1 = sts.1.replace(good, &good.replace("nindent 6", "nindent 4"));
    let rendered = broken.render(RELEASE, NAMESPACE, &json!({})).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("statefulset.yaml");
    std::fs::write(&file, &rendered["promshard/templates/statefulset.yaml"]).unwrap();
    let out = kubernetes_validate(&[file], KUBERNETES_VERSIONS[0]);
    assert!(
        !out.0,
        "kubernetes-validate accepted a broken selector:\n{}",
        out.1
    );
}

fn kustomize_dir() -> PathBuf {
    repo().join("deploy/kubernetes")
}

/// The plain manifests: what kustomization.yaml lists, parsed.
fn plain_documents() -> Vec<(String, Json)> {
    let kustomization = yaml(&read(&kustomize_dir().join("kustomization.yaml"))).unwrap();
    let mut docs = Vec::new();
    for file in strings(&kustomization["resources"]) {
        for doc in split_documents(&read(&kustomize_dir().join(&file))) {
            docs.push((
                file.clone(),
                yaml(&doc).unwrap_or_else(|e| panic!("{file}: {e}")),
            ));
        }
    }
    docs
}

#[test]
fn plain_manifests_hold_the_walkthrough() {
    // kustomization.yaml is not an object Kubernetes knows: it must list every manifest
    // beside it, and nothing else.
    let kustomization = yaml(&read(&kustomize_dir().join("kustomization.yaml"))).unwrap();
    assert_eq!(kustomization["kind"], "Kustomization");
    assert_eq!(kustomization["namespace"], NAMESPACE);
    let listed: BTreeSet<String> = strings(&kustomization["resources"]).into_iter().collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(kustomize_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| (n.ends_with(".yaml") || n.ends_with(".yml")) && n != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml resources vs deploy/kubernetes/*.yaml"
    );

    let docs = plain_documents();
    check_promshard(
        &docs,
        &Expect {
            autoscaling: true,
            persistence: true,
            service_monitor: false,
            replicas: None,
        },
    );
    for (file, doc) in &docs {
        if doc["kind"] != "Namespace" && !doc["kind"].as_str().unwrap().starts_with("Cluster") {
            assert_eq!(doc["metadata"]["namespace"], NAMESPACE, "{file}");
        }
    }
    let promshard = kind(&docs, "StatefulSet")
        .into_iter()
        .find(|s| s["metadata"]["name"] == "promshard")
        .unwrap();
    let args = strings(&promshard["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert_eq!(flag(&args, "--shard.max-series"), Some("30000"));
    assert_eq!(flag(&args, "--shard.statefulset"), Some("promshard"));
    assert_eq!(
        flag(&args, "--cluster.kubernetes.service"),
        Some("promshard")
    );

    // The article's load: 6 generator pods of 10,045 series on port 9091, and the config's
    // job keeps exactly those pods.
    let generator = kind(&docs, "Deployment")
        .into_iter()
        .find(|d| d["metadata"]["name"] == "metrics")
        .expect("the metrics generator");
    assert_eq!(generator["spec"]["replicas"], 6);
    let gen_pod = &generator["spec"]["template"];
    assert_eq!(
        gen_pod["metadata"]["labels"]["app.kubernetes.io/name"],
        "metrics"
    );
    let generator_container = &gen_pod["spec"]["containers"][0];
    assert_eq!(
        generator_container["image"],
        promshard["spec"]["template"]["spec"]["containers"][0]["image"]
    );
    assert_eq!(
        strings(&generator_container["args"]),
        ["gen", "--web.listen-address=0.0.0.0:9091", "--series=10045"]
    );
    assert_eq!(generator_container["ports"][0]["containerPort"], 9091);
    let cm = kind(&docs, "ConfigMap")[0];
    let config = yaml(cm["data"]["prometheus.yml"].as_str().unwrap()).unwrap();
    assert_eq!(config["global"]["scrape_interval"], "15s");
    let job = &config["scrape_configs"][0];
    assert_eq!(job["job_name"], "metrics-test");
    assert_eq!(job["kubernetes_sd_configs"][0]["role"], "pod");
    assert_eq!(
        job["relabel_configs"][0],
        json!({"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "regex": "metrics", "action": "keep"})
    );
    assert_eq!(job["relabel_configs"][1]["target_label"], "__address__");
    assert_eq!(job["relabel_configs"][1]["replacement"], "${1}:9091");
    assert_eq!(job["relabel_configs"][2]["target_label"], "pod");

    // Thanos: Receive takes remote write where the config sends it; Query reads Receive.
    let url = config["remote_write"][0]["url"].as_str().unwrap();
    assert_eq!(
        url,
        "http://thanos-receive.monitoring.svc:19291/api/v1/receive"
    );
    let receive = kind(&docs, "StatefulSet")
        .into_iter()
        .find(|s| s["metadata"]["name"] == "thanos-receive")
        .unwrap();
    let receive_container = &receive["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(receive_container["image"], "quay.io/thanos/thanos:v0.37.2");
    let receive_args = strings(&receive_container["args"]);
    assert_eq!(receive_args[0], "receive");
    assert_eq!(
        flag(&receive_args, "--remote-write.address"),
        Some("0.0.0.0:19291")
    );
    assert_eq!(
        flag(&receive_args, "--label"),
        Some("receive_replica=\"$(POD_NAME)\"")
    );
    assert!(flag(&receive_args, "--tsdb.path").is_some());
    let grpc = flag(&receive_args, "--grpc-address").unwrap();
    let receive_service = kind(&docs, "Service")
        .into_iter()
        .find(|s| s["metadata"]["name"] == "thanos-receive")
        .unwrap();
    let port_of = |svc: &Json, name: &str| {
        svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["port"].as_u64().unwrap())
    };
    assert_eq!(port_of(receive_service, "remote-write"), Some(19291));
    assert_eq!(
        port_of(receive_service, "grpc"),
        grpc.rsplit(':').next().unwrap().parse().ok()
    );
    let query = kind(&docs, "Deployment")
        .into_iter()
        .find(|d| d["metadata"]["name"] == "thanos-query")
        .unwrap();
    let query_args = strings(&query["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert_eq!(query_args[0], "query");
    assert_eq!(
        flag(&query_args, "--endpoint"),
        Some("dnssrv+_grpc._tcp.thanos-receive.monitoring.svc.cluster.local")
    );
}

/// Runs kubernetes-validate --strict on `files` for one Kubernetes release; (every object
/// passed, output).
fn kubernetes_validate(files: &[PathBuf], version: &str) -> (bool, String) {
    let program = std::env::var_os("KUBERNETES_VALIDATE").unwrap_or_else(|| {
        panic!(
            "KUBERNETES_VALIDATE is not set: run scripts/test, which installs kubernetes-validate \
             (PyPI) into a venv and exports the path of its executable"
        )
    });
    let out = Command::new(&program)
        .args(["--strict", "--kubernetes-version", version])
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (see scripts/test)",
                program.to_string_lossy()
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A kind it has no schema for is only a warning: that must not count as a pass.
    let passed = out.status.success() && !text.contains("WARN") && !text.contains("ERROR");
    (passed, text)
}

#[test]
fn manifests_satisfy_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> =
        strings(&yaml(&read(&kustomize_dir().join("kustomization.yaml"))).unwrap()["resources"])
            .iter()
            .map(|f| kustomize_dir().join(f))
            .collect();
    let mut objects = plain_documents().len();
    for (name, overrides) in variants() {
        let rendered = render(&overrides);
        for (file, doc) in documents(&rendered).unwrap() {
            if doc["kind"] == "ServiceMonitor" {
                // No schema for the CRD: checked field by field in check_service_monitor.
                continue;
            }
            let path = dir.path().join(format!(
                "{name}-{}-{objects}.yaml",
                file.rsplit('/').next().unwrap().trim_end_matches(".yaml")
            ));
            std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
            files.push(path);
            objects += 1;
        }
    }
    for version in KUBERNETES_VERSIONS {
        let (passed, output) = kubernetes_validate(&files, version);
        assert!(
            passed,
            "kubernetes-validate, Kubernetes {version}:\n{output}"
        );
        assert_eq!(
            output
                .matches(&format!(" against version {version}"))
                .count(),
            objects,
            "every object validated against {version}:\n{output}"
        );
    }
    println!("{objects} objects valid for Kubernetes {KUBERNETES_VERSIONS:?}");

    // The check can fail: a manifest with `replicas: "three"` is rejected.
    let broken = read(&kustomize_dir().join("thanos-receive.yaml"))
        .replace("replicas: 1", "replicas: \"three\"");
    assert!(broken.contains("replicas: \"three\""));
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, broken).unwrap();
    let (passed, output) = kubernetes_validate(&[path], KUBERNETES_VERSIONS[0]);
    assert!(
        !passed && output.contains("'three' is not of type 'integer'"),
        "{output}"
    );
}

// ---------------------------------------------------------------------------------------

/// The Dockerfile, read as text (no container engine here), and what its runtime image
/// must provide compared with what the binary links.
#[test]
fn dockerfile_builds_the_release_binary_into_a_nonroot_runtime() {
    let text = read(&repo().join("Dockerfile"));
    // Instructions, with continuation lines joined and comments dropped.
    let mut instructions: Vec<String> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() && pending.is_empty() {
            continue;
        }
        pending.push_str(line.trim_end_matches('\\'));
        pending.push(' ');
        if !line.ends_with('\\') {
            instructions.push(pending.trim().to_string());
            pending.clear();
        }
    }
    let stages: Vec<(usize, &String)> = instructions
        .iter()
        .enumerate()
        .filter(|(_, i)| i.starts_with("FROM "))
        .collect();
    assert_eq!(
        stages.len(),
        2,
        "a build stage and a runtime stage: {instructions:#?}"
    );
    assert_eq!(stages[0].1, "FROM rust:1.95-bookworm AS builder");
    assert_eq!(stages[1].1, "FROM gcr.io/distroless/cc-debian12:nonroot");
    let build = &instructions[stages[0].0..stages[1].0];
    let runtime = &instructions[stages[1].0 + 1..];
    assert!(
        build.iter().any(|i| i.starts_with("RUN ")
            && i.contains("cargo build --release --locked --bin promshard")),
        "the builder builds the release binary with --locked: {build:#?}"
    );
    let copies: Vec<&String> = runtime.iter().filter(|i| i.starts_with("COPY")).collect();
    assert_eq!(
        copies.len(),
        1,
        "the runtime stage copies the binary only: {copies:?}"
    );
    let copy: Vec<&str> = copies[0].split_whitespace().collect();
    assert_eq!(copy[1], "--from=builder");
    assert!(copy[2].ends_with("promshard") && build.iter().any(|i| i.contains(copy[2])));
    let entrypoint = runtime
        .iter()
        .find_map(|i| i.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    let entrypoint: Vec<String> = serde_json::from_str(entrypoint).expect("exec form");
    assert_eq!(entrypoint, [copy[3]]);
    let user = runtime
        .iter()
        .rev()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("USER in the runtime stage");
    for id in user.split(':') {
        let id: u32 = id.parse().unwrap_or_else(|_| {
            panic!("USER {user}: numeric ids, so runAsNonRoot can verify them")
        });
        assert_ne!(id, 0, "USER {user}");
    }
    // The uid the manifests run as is the image's.
    let uid: i64 = user.split(':').next().unwrap().parse().unwrap();
    let docs = plain_documents();
    let sts = kind(&docs, "StatefulSet")
        .into_iter()
        .find(|s| s["metadata"]["name"] == "promshard")
        .unwrap();
    assert_eq!(
        sts["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
        uid
    );
    assert!(runtime.iter().any(|i| i == "EXPOSE 9090"));
    let ignore = read(&repo().join(".dockerignore"));
    for entry in ["target/", ".git"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore lacks {entry}"
        );
    }

    // What the binary links (the test build links the same libraries as the release build:
    // profiles change optimisation, not dependencies or features) must come from the Debian
    // 12 packages distroless cc-debian12 is made of. This machine is Debian 12 too, so dpkg
    // says which package each library is from.
    const CC_DEBIAN12: &[&str] = &["libc6", "libgcc-s1", "libstdc++6", "libgomp1", "libssl3"];
    let readelf = Command::new("readelf")
        .args(["-d", "--wide", common::promshard_bin()])
        .output()
        .expect("readelf (binutils, which the Rust toolchain needs for linking)");
    assert!(readelf.status.success());
    let needed: Vec<String> = String::from_utf8_lossy(&readelf.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .map(|l| {
            l.split('[')
                .nth(1)
                .unwrap()
                .trim_end_matches(']')
                .to_string()
        })
        .collect();
    assert!(needed.iter().any(|n| n == "libc.so.6"), "{needed:?}");
    for soname in &needed {
        let out = Command::new("dpkg")
            .args(["-S", &format!("*/{soname}")])
            .output()
            .expect("dpkg");
        let owners: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(':').next())
            .map(str::to_string)
            .collect();
        assert!(
            owners.iter().any(|p| CC_DEBIAN12.contains(&p.as_str())),
            "{soname} comes from {owners:?}, which distroless cc-debian12 does not have"
        );
    }
    // glibc: nothing newer than bookworm's 2.36 (the builder is bookworm too, but a newer
    // builder image would break the runtime silently).
    let versions = Command::new("readelf")
        .args(["-V", "--wide", common::promshard_bin()])
        .output()
        .unwrap();
    let newest = String::from_utf8_lossy(&versions.stdout)
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
        .expect("GLIBC_ symbol versions");
    assert!(newest <= (2, 36), "needs glibc {newest:?}");
}

// ---------------------------------------------------------------------------------------

/// Metric names in a PromQL expression: identifiers that are not functions, keywords,
/// label names (in braces and in by/without/on/ignoring/group lists) or strings.
fn promql_metrics(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
    ];
    // Aggregations may be followed by `by (…)` rather than their parenthesis.
    const AGGREGATIONS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    let b = expr.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    let mut skip_group = false;
    while i < b.len() {
        let c = b[i] as char;
        match c {
            '"' | '\'' => {
                i += 1;
                while i < b.len() && b[i] as char != c {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let mut in_string = None;
                while i < b.len() {
                    let d = b[i] as char;
                    match in_string {
                        Some(q) if d == q => in_string = None,
                        Some(_) => {}
                        None if d == '"' || d == '\'' => in_string = Some(d),
                        None if d == close => break,
                        None => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_group => {
                while i < b.len() && b[i] != b')' {
                    i += 1;
                }
                i += 1;
                skip_group = false;
            }
            '$' => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = expr[i..].trim_start().chars().next();
                if KEYWORDS.contains(&word) {
                    skip_group = matches!(
                        word,
                        "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                    );
                } else if next != Some('(') && !AGGREGATIONS.contains(&word) {
                    names.push(word.to_string());
                }
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// Every metric the dashboard queries is one promshard exports: in its /metrics (a replica
/// in cluster mode with a remote_write endpoint and a target, so every family is there) or
/// among the synthetic series it writes for each target (src/scrape/scrape_loop.rs).
#[tokio::test]
async fn grafana_dashboard_queries_only_metrics_promshard_exports() {
    assert_eq!(
        promql_metrics(
            r#"sum by (pod, reason) (rate(a_total{job=~"$job", x="{y}"}[$__rate_interval])) / on (pod) group_left(z) b + count(count_values("v", c)) * 2"#
        ),
        ["a_total", "b", "c"]
    );
    let dashboard: Json = serde_json::from_str(&read(
        &repo().join("deploy/grafana/promshard-dashboard.json"),
    ))
    .unwrap();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let templating = dashboard["templating"]["list"].as_array().unwrap();
    assert!(templating.iter().any(|v| v["type"] == "datasource"
        && v["query"] == "prometheus"
        && v["name"] == "datasource"));
    let mut used: BTreeMap<String, String> = BTreeMap::new();
    for v in templating.iter().filter(|v| v["type"] == "query") {
        let q = v["query"]["query"].as_str().unwrap();
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .expect("label_values(METRIC, LABEL)");
        let (metric, _) = inner.rsplit_once(',').unwrap();
        for m in promql_metrics(metric) {
            used.insert(m, format!("variable {}", v["name"]));
        }
    }
    let mut exprs = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            exprs += 1;
            for m in promql_metrics(expr) {
                used.insert(m, format!("panel {}", panel["title"]));
            }
        }
    }
    assert!(exprs >= 20, "{exprs} expressions");

    // A replica exporting every family: cluster mode (itself as the only peer), autoscaling
    // figures, a remote_write endpoint (nothing listens there) and a target (itself).
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n"
        ),
    )
    .unwrap();
    let address = format!("127.0.0.1:{port}");
    let _process = common::Process::spawn(
        "promshard",
        common::promshard_bin(),
        &[
            format!("--config.file={}", config.display()),
            format!("--web.listen-address={address}"),
            format!("--storage.path={}", dir.path().join("data").display()),
            format!("--cluster.peers={address}"),
            format!("--cluster.advertise-address={address}"),
            "--shard.max-series=30000".into(),
        ],
        &dir.path().join("promshard.log"),
    );
    let client = reqwest::Client::new();
    let url = format!("http://{address}/metrics");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let exposed: BTreeSet<String> = loop {
        let text = match client.get(&url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let names: BTreeSet<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
            .collect();
        // Scrape counters appear once the target was scraped.
        if names.contains("promshard_scrapes_total")
            && names.contains("promshard_cluster_members")
            && names.contains("promshard_remote_storage_samples_total")
        {
            break names;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/metrics never had every family:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let source = read(&repo().join("src/scrape/scrape_loop.rs"));
    let synthetic_block = source
        .split("const SYNTHETIC_METADATA")
        .nth(1)
        .and_then(|s| s.split("];").next())
        .expect("SYNTHETIC_METADATA in src/scrape/scrape_loop.rs");
    let synthetic: BTreeSet<String> = synthetic_block
        .split("(\n")
        .skip(1)
        .filter_map(|entry| entry.split('"').nth(1))
        .map(str::to_string)
        .collect();
    assert!(
        synthetic.contains("up") && synthetic.contains("scrape_duration_seconds"),
        "{synthetic:?}"
    );
    for (metric, place) in &used {
        assert!(
            exposed.contains(metric) || synthetic.contains(metric),
            "{place} queries {metric}, which promshard does not export"
        );
    }
    println!("{} metrics used, all exported", used.len());
}
