//! The endpointslice role (P: `discovery/kubernetes/endpointslice.go`): one group per
//! EndpointSlice, one target per endpoint address and port, joined with the slice's service
//! (its `kubernetes.io/service-name` label) and, for pod endpoints, with the pod: pod labels,
//! the container port the endpoint port matches, and extra targets for the pod's container
//! ports no endpoint port covers.

use super::pod::{join_host_port, pod_labels};
use super::{META, TargetGroup, object_meta_labels, sanitize_label_name, set};
use crate::labels::Labels;
use crate::sd::parse::ADDRESS_LABEL;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::BTreeMap;

pub fn endpointslice_source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

/// `namespace/name`, the key of the services and pods a slice is joined with.
pub fn object_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// Builds a slice's group; `services` gives a service's group labels and `pods` a pod, by
/// [`object_key`].
pub fn endpointslice_group<'a>(
    slice: &EndpointSlice,
    services: &dyn Fn(&str) -> Option<&'a Labels>,
    pods: &dyn Fn(&str) -> Option<&'a Pod>,
) -> TargetGroup {
    let namespace = slice.metadata.namespace.as_deref().unwrap_or("");
    let name = slice.metadata.name.as_deref().unwrap_or("");
    let mut labels = Labels::new();
    set(&mut labels, &format!("{META}namespace"), namespace);
    set(
        &mut labels,
        &format!("{META}endpointslice_address_type"),
        &slice.address_type,
    );
    object_meta_labels(&mut labels, &slice.metadata, "endpointslice");
    if let Some(service) = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("kubernetes.io/service-name"))
        .and_then(|service| services(&object_key(namespace, service)))
    {
        for (name, value) in service.iter() {
            labels.set(name, value);
        }
    }
    let mut group = TargetGroup {
        source: endpointslice_source(namespace, name),
        labels,
        targets: Vec::new(),
    };
    // Pods seen in endpoints, with the endpoint ports that covered them.
    let mut seen_pods: SeenPods<'_> = BTreeMap::new();
    let ports = slice.ports.as_deref().unwrap_or_default();
    for endpoint in &slice.endpoints {
        for port in ports {
            for address in &endpoint.addresses {
                let mut target = Labels::new();
                target.set(
                    ADDRESS_LABEL,
                    match port.port {
                        Some(p) => join_host_port(address, &p.to_string()),
                        None => address.clone(),
                    },
                );
                if let Some(name) = &port.name {
                    set(&mut target, &format!("{META}endpointslice_port_name"), name);
                }
                if let Some(protocol) = &port.protocol {
                    set(
                        &mut target,
                        &format!("{META}endpointslice_port_protocol"),
                        protocol,
                    );
                }
                if let Some(p) = port.port {
                    target.set(format!("{META}endpointslice_port"), p.to_string());
                }
                if let Some(app) = &port.app_protocol {
                    set(
                        &mut target,
                        &format!("{META}endpointslice_port_app_protocol"),
                        app,
                    );
                }
                if let Some(conditions) = &endpoint.conditions {
                    for (label, value) in [
                        ("ready", conditions.ready),
                        ("serving", conditions.serving),
                        ("terminating", conditions.terminating),
                    ] {
                        if let Some(value) = value {
                            target.set(
                                format!("{META}endpointslice_endpoint_conditions_{label}"),
                                if value { "true" } else { "false" },
                            );
                        }
                    }
                }
                if let Some(hostname) = &endpoint.hostname {
                    set(
                        &mut target,
                        &format!("{META}endpointslice_endpoint_hostname"),
                        hostname,
                    );
                }
                if let Some(reference) = &endpoint.target_ref {
                    set(
                        &mut target,
                        &format!("{META}endpointslice_address_target_kind"),
                        reference.kind.as_deref().unwrap_or(""),
                    );
                    set(
                        &mut target,
                        &format!("{META}endpointslice_address_target_name"),
                        reference.name.as_deref().unwrap_or(""),
                    );
                }
                if let Some(node) = &endpoint.node_name {
                    set(
                        &mut target,
                        &format!("{META}endpointslice_endpoint_node_name"),
                        node,
                    );
                }
                if let Some(zone) = &endpoint.zone {
                    set(
                        &mut target,
                        &format!("{META}endpointslice_endpoint_zone"),
                        zone,
                    );
                }
                for (key, value) in endpoint.deprecated_topology.iter().flatten() {
                    let name = sanitize_label_name(key);
                    set(
                        &mut target,
                        &format!("{META}endpointslice_endpoint_topology_{name}"),
                        value,
                    );
                    target.set(
                        format!("{META}endpointslice_endpoint_topology_present_{name}"),
                        "true",
                    );
                }
                join_pod(
                    &mut target,
                    endpoint.target_ref.as_ref(),
                    port.port,
                    pods,
                    &mut seen_pods,
                );
                group.targets.push(target);
            }
        }
    }
    uncovered_port_targets(&seen_pods, &mut group);
    group
}

/// Pods seen behind endpoints (by `namespace/name`), with the ports that covered them.
pub(crate) type SeenPods<'a> = BTreeMap<String, (&'a Pod, Vec<i32>)>;

/// For an endpoint whose reference is a known pod: its pod labels, the container port
/// `port` matches, and the pod noted in `seen` with that port covered.
pub(crate) fn join_pod<'a>(
    target: &mut Labels,
    reference: Option<&k8s_openapi::api::core::v1::ObjectReference>,
    port: Option<i32>,
    pods: &dyn Fn(&str) -> Option<&'a Pod>,
    seen: &mut SeenPods<'a>,
) {
    let Some(reference) = reference.filter(|r| r.kind.as_deref() == Some("Pod")) else {
        return;
    };
    let key = object_key(
        reference.namespace.as_deref().unwrap_or(""),
        reference.name.as_deref().unwrap_or(""),
    );
    let Some(pod) = pods(&key) else {
        return;
    };
    for (name, value) in pod_labels(pod).iter() {
        target.set(name, value);
    }
    if let Some(p) = port
        && let Some((container, container_port, is_init)) =
            containers(pod).find(|(_, cp, _)| cp.container_port == p)
    {
        container_labels(target, container, container_port, is_init);
    }
    let entry = seen.entry(key).or_insert((pod, Vec::new()));
    if let Some(p) = port {
        entry.1.push(p);
    }
}

/// One target per container port of the seen pods that no endpoint port covered (the
/// endpoints roles: "unbound container ports become extra targets").
pub(crate) fn uncovered_port_targets(seen_pods: &SeenPods<'_>, group: &mut TargetGroup) {
    for (pod, covered) in seen_pods.values() {
        let pod_ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .unwrap_or("");
        if pod_ip.is_empty() {
            continue;
        }
        for (container, container_port, is_init) in containers(pod) {
            if covered.contains(&container_port.container_port) {
                continue;
            }
            let mut target = Labels::new();
            target.set(
                ADDRESS_LABEL,
                join_host_port(pod_ip, &container_port.container_port.to_string()),
            );
            container_labels(&mut target, container, container_port, is_init);
            for (name, value) in pod_labels(pod).iter() {
                target.set(name, value);
            }
            group.targets.push(target);
        }
    }
}

type ContainerPort<'a> = (
    &'a k8s_openapi::api::core::v1::Container,
    &'a k8s_openapi::api::core::v1::ContainerPort,
    bool,
);

/// Every container port of a pod (containers, then init containers), with the container.
pub(crate) fn containers(pod: &Pod) -> impl Iterator<Item = ContainerPort<'_>> {
    let spec = pod.spec.as_ref();
    let regular = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let init = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    regular
        .iter()
        .map(|c| (c, false))
        .chain(init.iter().map(|c| (c, true)))
        .flat_map(|(c, is_init)| {
            c.ports
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(move |p| (c, p, is_init))
        })
}

pub(crate) fn container_labels(
    target: &mut Labels,
    container: &k8s_openapi::api::core::v1::Container,
    port: &k8s_openapi::api::core::v1::ContainerPort,
    is_init: bool,
) {
    set(
        target,
        &format!("{META}pod_container_name"),
        &container.name,
    );
    set(
        target,
        &format!("{META}pod_container_image"),
        container.image.as_deref().unwrap_or(""),
    );
    set(
        target,
        &format!("{META}pod_container_port_name"),
        port.name.as_deref().unwrap_or(""),
    );
    target.set(
        format!("{META}pod_container_port_number"),
        port.container_port.to_string(),
    );
    set(
        target,
        &format!("{META}pod_container_port_protocol"),
        port.protocol.as_deref().unwrap_or(""),
    );
    target.set(
        format!("{META}pod_container_init"),
        if is_init { "true" } else { "false" },
    );
}
