//! The pod role (P: `discovery/kubernetes/pod.go`): one group per pod, one target per
//! container port (or per container without ports).

use super::{META, TargetGroup, object_meta_labels, set};
use crate::labels::Labels;
use crate::sd::parse::ADDRESS_LABEL;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use std::net::IpAddr;

/// The group source of a pod: `pod/<namespace>/<name>`.
pub fn pod_source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

/// The pod's group: empty (no targets) while it has no IP.
pub fn pod_group(pod: &Pod) -> TargetGroup {
    let meta = &pod.metadata;
    let namespace = meta.namespace.as_deref().unwrap_or("");
    let name = meta.name.as_deref().unwrap_or("");
    let mut group = TargetGroup {
        source: pod_source(namespace, name),
        ..TargetGroup::default()
    };
    let status = pod.status.as_ref();
    let pod_ip = status.and_then(|s| s.pod_ip.as_deref()).unwrap_or("");
    if pod_ip.is_empty() {
        return group;
    }
    let mut labels = pod_labels(pod);
    set(&mut labels, &format!("{META}namespace"), namespace);
    group.labels = labels;

    let spec = pod.spec.as_ref();
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let init_containers = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    let statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let init_statuses = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let all = containers
        .iter()
        .map(|c| (c, false))
        .chain(init_containers.iter().map(|c| (c, true)));
    for (container, is_init) in all {
        let container_id = container_id(
            if is_init { init_statuses } else { statuses },
            &container.name,
        );
        let base = |address: String| {
            let mut target = Labels::new();
            target.set(ADDRESS_LABEL, address);
            set(
                &mut target,
                &format!("{META}pod_container_name"),
                &container.name,
            );
            set(
                &mut target,
                &format!("{META}pod_container_id"),
                container_id,
            );
            set(
                &mut target,
                &format!("{META}pod_container_image"),
                container.image.as_deref().unwrap_or(""),
            );
            target.set(
                format!("{META}pod_container_init"),
                if is_init { "true" } else { "false" },
            );
            target
        };
        let ports = container.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            // No port: the address is the bare IP (an IPv6 one in brackets).
            let address = match pod_ip.parse::<IpAddr>() {
                Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
                _ => pod_ip.to_string(),
            };
            group.targets.push(base(address));
            continue;
        }
        for port in ports {
            let number = port.container_port.to_string();
            let mut target = base(join_host_port(pod_ip, &number));
            target.set(format!("{META}pod_container_port_number"), number);
            set(
                &mut target,
                &format!("{META}pod_container_port_name"),
                port.name.as_deref().unwrap_or(""),
            );
            set(
                &mut target,
                &format!("{META}pod_container_port_protocol"),
                port.protocol.as_deref().unwrap_or(""),
            );
            group.targets.push(target);
        }
    }
    group
}

/// Go's `net.JoinHostPort`: brackets around hosts with a colon.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn container_id<'a>(statuses: &'a [ContainerStatus], name: &str) -> &'a str {
    statuses
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.container_id.as_deref())
        .unwrap_or("")
}

/// The labels every target of a pod shares (also used by the endpoints roles).
pub fn pod_labels(pod: &Pod) -> Labels {
    let mut labels = Labels::new();
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    set(
        &mut labels,
        &format!("{META}pod_ip"),
        status.and_then(|s| s.pod_ip.as_deref()).unwrap_or(""),
    );
    let ready = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == "Ready")
        .map_or("unknown".to_string(), |c| c.status.to_lowercase());
    set(&mut labels, &format!("{META}pod_ready"), &ready);
    set(
        &mut labels,
        &format!("{META}pod_phase"),
        status.and_then(|s| s.phase.as_deref()).unwrap_or(""),
    );
    set(
        &mut labels,
        &format!("{META}pod_node_name"),
        spec.and_then(|s| s.node_name.as_deref()).unwrap_or(""),
    );
    set(
        &mut labels,
        &format!("{META}pod_host_ip"),
        status.and_then(|s| s.host_ip.as_deref()).unwrap_or(""),
    );
    set(
        &mut labels,
        &format!("{META}pod_uid"),
        pod.metadata.uid.as_deref().unwrap_or(""),
    );
    // The first IPv4 and the first IPv6 address of `podIPs`.
    let (mut v4, mut v6) = (None, None);
    for ip in status
        .and_then(|s| s.pod_ips.as_deref())
        .unwrap_or_default()
    {
        match ip.ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) if v4.is_none() => v4 = Some(ip.ip.as_str()),
            Ok(IpAddr::V6(addr)) if v6.is_none() => {
                // Go's `To4` also takes IPv4-mapped IPv6 addresses as IPv4.
                if addr.to_ipv4_mapped().is_some() {
                    if v4.is_none() {
                        v4 = Some(ip.ip.as_str());
                    }
                } else {
                    v6 = Some(ip.ip.as_str());
                }
            }
            _ => {}
        }
    }
    if let Some(v4) = v4 {
        labels.set(format!("{META}pod_ipv4"), v4);
    }
    if let Some(v6) = v6 {
        labels.set(format!("{META}pod_ipv6"), v6);
    }
    object_meta_labels(&mut labels, &pod.metadata, "pod");
    if let Some(owner) = pod
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|o| o.controller == Some(true))
    {
        set(
            &mut labels,
            &format!("{META}pod_controller_kind"),
            &owner.kind,
        );
        set(
            &mut labels,
            &format!("{META}pod_controller_name"),
            &owner.name,
        );
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).expect("a pod")
    }

    #[test]
    fn targets_per_port_and_portless_container_with_prometheus_labels() {
        let p = pod(serde_json::json!({
            "metadata": {
                "name": "web-0", "namespace": "shop", "uid": "u-1",
                "labels": {"app.kubernetes.io/name": "metrics", "tier": ""},
                "annotations": {"prometheus.io/scrape": "true"},
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "x"},
                    {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "y", "controller": true}
                ]
            },
            "spec": {
                "nodeName": "node-1",
                "containers": [
                    {"name": "app", "image": "app:1", "ports": [
                        {"name": "http", "containerPort": 9091, "protocol": "TCP"},
                        {"containerPort": 9092, "protocol": "UDP"}
                    ]},
                    {"name": "sidecar", "image": "side:2"}
                ],
                "initContainers": [{"name": "init", "image": "init:3", "ports": [{"containerPort": 80}]}]
            },
            "status": {
                "phase": "Running", "podIP": "10.0.0.5", "hostIP": "192.168.1.1",
                "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "containerID": "containerd://abc", "image": "app:1", "imageID": "", "ready": true, "restartCount": 0}]
            }
        }));
        let group = pod_group(&p);
        assert_eq!(group.source, "pod/shop/web-0");
        assert_eq!(
            group.labels.to_string(),
            concat!(
                r#"{__meta_kubernetes_namespace="shop", __meta_kubernetes_pod_annotation_prometheus_io_scrape="true", "#,
                r#"__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape="true", __meta_kubernetes_pod_controller_kind="StatefulSet", "#,
                r#"__meta_kubernetes_pod_controller_name="web", __meta_kubernetes_pod_host_ip="192.168.1.1", __meta_kubernetes_pod_ip="10.0.0.5", "#,
                r#"__meta_kubernetes_pod_ipv4="10.0.0.5", __meta_kubernetes_pod_ipv6="fd00::5", "#,
                r#"__meta_kubernetes_pod_label_app_kubernetes_io_name="metrics", __meta_kubernetes_pod_labelpresent_app_kubernetes_io_name="true", "#,
                r#"__meta_kubernetes_pod_labelpresent_tier="true", __meta_kubernetes_pod_name="web-0", __meta_kubernetes_pod_node_name="node-1", "#,
                r#"__meta_kubernetes_pod_phase="Running", __meta_kubernetes_pod_ready="true", __meta_kubernetes_pod_uid="u-1"}"#
            )
        );
        let targets: Vec<String> = group.targets.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            targets,
            [
                r#"{__address__="10.0.0.5:9091", __meta_kubernetes_pod_container_id="containerd://abc", __meta_kubernetes_pod_container_image="app:1", __meta_kubernetes_pod_container_init="false", __meta_kubernetes_pod_container_name="app", __meta_kubernetes_pod_container_port_name="http", __meta_kubernetes_pod_container_port_number="9091", __meta_kubernetes_pod_container_port_protocol="TCP"}"#,
                r#"{__address__="10.0.0.5:9092", __meta_kubernetes_pod_container_id="containerd://abc", __meta_kubernetes_pod_container_image="app:1", __meta_kubernetes_pod_container_init="false", __meta_kubernetes_pod_container_name="app", __meta_kubernetes_pod_container_port_number="9092", __meta_kubernetes_pod_container_port_protocol="UDP"}"#,
                r#"{__address__="10.0.0.5", __meta_kubernetes_pod_container_image="side:2", __meta_kubernetes_pod_container_init="false", __meta_kubernetes_pod_container_name="sidecar"}"#,
                r#"{__address__="10.0.0.5:80", __meta_kubernetes_pod_container_image="init:3", __meta_kubernetes_pod_container_init="true", __meta_kubernetes_pod_container_name="init", __meta_kubernetes_pod_container_port_number="80"}"#,
            ]
        );
    }

    #[test]
    fn no_ip_no_targets_and_ipv6_addresses() {
        let pending = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Pending"}
        }));
        let group = pod_group(&pending);
        assert_eq!(group.source, "pod/n/p");
        assert!(group.targets.is_empty() && group.labels.is_empty());

        let v6 = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"containers": [{"name": "c"}, {"name": "d", "ports": [{"containerPort": 8080}]}]},
            "status": {"podIP": "fd00::1"}
        }));
        let group = pod_group(&v6);
        let addresses: Vec<&str> = group
            .targets
            .iter()
            .map(|t| t.value(ADDRESS_LABEL))
            .collect();
        assert_eq!(addresses, ["[fd00::1]", "[fd00::1]:8080"]);
        assert_eq!(group.labels.value("__meta_kubernetes_pod_ready"), "unknown");
    }
}
