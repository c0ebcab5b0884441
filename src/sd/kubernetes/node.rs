//! The node role (P: `discovery/kubernetes/node.go`): one target per node at its first
//! address by priority and the kubelet port, with `instance` set to the node name.

use super::pod::join_host_port;
use super::{META, TargetGroup, object_meta_labels, sanitize_label_name, set};
use crate::labels::Labels;
use crate::sd::parse::ADDRESS_LABEL;
use k8s_openapi::api::core::v1::Node;
use std::collections::BTreeMap;

pub fn node_source(name: &str) -> String {
    format!("node/{name}")
}

/// Address types in the order the target address is chosen.
const ADDRESS_PRIORITY: [&str; 6] = [
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
];

/// The node's group; without any address it has no target (Prometheus logs and skips it).
pub fn node_group(node: &Node) -> TargetGroup {
    let name = node.metadata.name.as_deref().unwrap_or("");
    let mut labels = Labels::new();
    set(
        &mut labels,
        &format!("{META}node_provider_id"),
        node.spec
            .as_ref()
            .and_then(|s| s.provider_id.as_deref())
            .unwrap_or(""),
    );
    object_meta_labels(&mut labels, &node.metadata, "node");
    let mut group = TargetGroup {
        source: node_source(name),
        labels,
        targets: Vec::new(),
    };
    let status = node.status.as_ref();
    // Type → addresses in order; each type's first one becomes a label.
    let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for address in status
        .and_then(|s| s.addresses.as_deref())
        .unwrap_or_default()
    {
        by_type
            .entry(address.type_.as_str())
            .or_default()
            .push(address.address.as_str());
    }
    let Some(host) = ADDRESS_PRIORITY
        .iter()
        .find_map(|t| by_type.get(t).and_then(|a| a.first()))
    else {
        tracing::warn!(node = name, "No node address found");
        return group;
    };
    let port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map_or(0, |k| k.port);
    let mut target = Labels::new();
    target.set(ADDRESS_LABEL, join_host_port(host, &port.to_string()));
    target.set("instance", name);
    for (kind, addresses) in &by_type {
        set(
            &mut target,
            &sanitize_label_name(&format!("{META}node_address_{kind}")),
            addresses[0],
        );
    }
    group.targets.push(target);
    group
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_by_priority_and_kubelet_port() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node-1", "labels": {"kubernetes.io/os": "linux"}},
            "spec": {"providerID": "aws:///eu/i-1"},
            "status": {
                "addresses": [
                    {"type": "Hostname", "address": "node-1"},
                    {"type": "ExternalIP", "address": "3.3.3.3"},
                    {"type": "InternalIP", "address": "10.0.0.1"},
                    {"type": "InternalIP", "address": "10.0.0.2"}
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
            }
        }))
        .unwrap();
        let group = node_group(&node);
        assert_eq!(group.source, "node/node-1");
        assert_eq!(
            group.labels.to_string(),
            r#"{__meta_kubernetes_node_label_kubernetes_io_os="linux", __meta_kubernetes_node_labelpresent_kubernetes_io_os="true", __meta_kubernetes_node_name="node-1", __meta_kubernetes_node_provider_id="aws:///eu/i-1"}"#
        );
        assert_eq!(
            group.targets[0].to_string(),
            r#"{__address__="10.0.0.1:10250", __meta_kubernetes_node_address_ExternalIP="3.3.3.3", __meta_kubernetes_node_address_Hostname="node-1", __meta_kubernetes_node_address_InternalIP="10.0.0.1", instance="node-1"}"#
        );
        let bare: Node =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n"}})).unwrap();
        assert!(node_group(&bare).targets.is_empty());
    }
}
