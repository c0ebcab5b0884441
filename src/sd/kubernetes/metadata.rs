//! `attach_metadata` (P: `addNodeLabels`, `addNamespaceLabels`): the labels and annotations
//! of a target's node and namespace, watched and kept by name, merged into the groups when
//! they are sent, so a change of a node or namespace updates every group that uses it.

use super::config::{AttachMetadata, Role};
use super::{META, TargetGroup, WatchBackoff, object_meta_labels, sanitize_label_name, set};
use crate::labels::Labels;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;

/// Node and namespace labels by name, and a counter that moves when they change.
#[derive(Clone)]
pub struct Metadata {
    attach: AttachMetadata,
    nodes: Arc<Mutex<HashMap<String, Labels>>>,
    namespaces: Arc<Mutex<HashMap<String, Labels>>>,
    changed: watch::Sender<u64>,
}

/// The labels a node contributes: `node_name`, its labels and annotations.
pub fn node_labels(node: &Node) -> Labels {
    let mut labels = Labels::new();
    object_meta_labels(&mut labels, &node.metadata, "node");
    labels
}

/// The labels a namespace contributes: its labels and annotations (its name is already
/// `__meta_kubernetes_namespace`).
pub fn namespace_labels(namespace: &Namespace) -> Labels {
    let mut labels = Labels::new();
    for (kind, map) in [
        ("label", &namespace.metadata.labels),
        ("annotation", &namespace.metadata.annotations),
    ] {
        for (key, value) in map.iter().flatten() {
            let name = sanitize_label_name(key);
            set(
                &mut labels,
                &format!("{META}namespace_{kind}_{name}"),
                value,
            );
            labels.set(format!("{META}namespace_{kind}present_{name}"), "true");
        }
    }
    labels
}

impl Metadata {
    /// Starts the watches `attach` asks for (none: nothing runs) for a provider of `role`.
    pub fn start(client: &kube::Client, attach: &AttachMetadata, role: Role) -> Metadata {
        let attach = AttachMetadata {
            // Prometheus attaches node metadata to these roles only, namespace metadata to
            // every role but node.
            node: attach.node && matches!(role, Role::Pod | Role::Endpoints | Role::EndpointSlice),
            namespace: attach.namespace && role != Role::Node,
            ..attach.clone()
        };
        let metadata = Metadata {
            attach: attach.clone(),
            nodes: Arc::default(),
            namespaces: Arc::default(),
            changed: watch::channel(0).0,
        };
        if attach.node {
            let api: Api<Node> = Api::all(client.clone());
            tokio::spawn(keep(
                api,
                metadata.nodes.clone(),
                node_labels,
                metadata.changed.clone(),
            ));
        }
        if attach.namespace {
            let api: Api<Namespace> = Api::all(client.clone());
            tokio::spawn(keep(
                api,
                metadata.namespaces.clone(),
                namespace_labels,
                metadata.changed.clone(),
            ));
        }
        metadata
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Adds the node and namespace labels to `group` as Prometheus does for `role`.
    pub fn enrich(&self, role: Role, group: &mut TargetGroup) {
        if self.attach.namespace
            && let Some(extra) = group
                .labels
                .get(&format!("{META}namespace"))
                .and_then(|ns| self.namespaces.lock().get(ns).cloned())
        {
            merge(&mut group.labels, &extra);
        }
        if !self.attach.node {
            return;
        }
        let nodes = self.nodes.lock();
        match role {
            Role::Pod => {
                if let Some(extra) = group
                    .labels
                    .get(&format!("{META}pod_node_name"))
                    .and_then(|n| nodes.get(n))
                {
                    merge(&mut group.labels, extra);
                }
            }
            Role::Endpoints | Role::EndpointSlice => {
                let prefix = if role == Role::Endpoints {
                    "endpoint"
                } else {
                    "endpointslice"
                };
                let node_name = format!(
                    "{META}{}_node_name",
                    if role == Role::Endpoints {
                        "endpoint"
                    } else {
                        "endpointslice_endpoint"
                    }
                );
                for target in &mut group.targets {
                    let by_ref = (target.get(&format!("{META}{prefix}_address_target_kind"))
                        == Some("Node"))
                    .then(|| target.get(&format!("{META}{prefix}_address_target_name")))
                    .flatten();
                    let by_name = target.get(&node_name);
                    // Endpoints prefer the node name, slices the node reference.
                    let node = if role == Role::Endpoints {
                        by_name.or(by_ref)
                    } else {
                        by_ref.or(by_name)
                    };
                    if let Some(extra) = node.and_then(|n| nodes.get(n)).cloned() {
                        merge(target, &extra);
                    }
                }
            }
            _ => {}
        }
    }
}

fn merge(into: &mut Labels, extra: &Labels) {
    for (name, value) in extra.iter() {
        into.set(name, value);
    }
}

/// Keeps `store` (name → labels) in step with a watch of every object of a kind.
async fn keep<K>(
    api: Api<K>,
    store: Arc<Mutex<HashMap<String, Labels>>>,
    labels: fn(&K) -> Labels,
    changed: watch::Sender<u64>,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .backoff(WatchBackoff::default())
        .boxed();
    let mut relisting: Option<HashMap<String, Labels>> = None;
    while let Some(event) = stream.next().await {
        let name = |object: &K| object.meta().name.clone().unwrap_or_default();
        let dirty = match event {
            Ok(Event::Init) => {
                relisting = Some(HashMap::new());
                false
            }
            Ok(Event::InitApply(object)) => {
                relisting
                    .get_or_insert_with(HashMap::new)
                    .insert(name(&object), labels(&object));
                false
            }
            Ok(Event::InitDone) => {
                *store.lock() = relisting.take().unwrap_or_default();
                true
            }
            Ok(Event::Apply(object)) => {
                store.lock().insert(name(&object), labels(&object));
                true
            }
            Ok(Event::Delete(object)) => store.lock().remove(&name(&object)).is_some(),
            Err(error) => {
                tracing::warn!(%error, "watching metadata for attach_metadata failed; retrying");
                false
            }
        };
        if dirty {
            changed.send_modify(|v| *v += 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(node: bool, namespace: bool) -> Metadata {
        let md = Metadata {
            attach: AttachMetadata {
                node,
                namespace,
                ..AttachMetadata::default()
            },
            nodes: Arc::default(),
            namespaces: Arc::default(),
            changed: watch::channel(0).0,
        };
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node-1", "labels": {"topology.kubernetes.io/zone": "eu-1a"}}
        }))
        .unwrap();
        md.nodes.lock().insert("node-1".into(), node_labels(&node));
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "shop", "labels": {"team": "web"}, "annotations": {"owner": "x"}}
        }))
        .unwrap();
        md.namespaces
            .lock()
            .insert("shop".into(), namespace_labels(&ns));
        md
    }

    #[test]
    fn namespace_labels_on_the_group_without_a_name_label() {
        let mut group = TargetGroup {
            labels: Labels::from_pairs([("__meta_kubernetes_namespace", "shop")]),
            ..TargetGroup::default()
        };
        metadata(false, true).enrich(Role::Service, &mut group);
        assert_eq!(
            group.labels.to_string(),
            r#"{__meta_kubernetes_namespace="shop", __meta_kubernetes_namespace_annotation_owner="x", __meta_kubernetes_namespace_annotationpresent_owner="true", __meta_kubernetes_namespace_label_team="web", __meta_kubernetes_namespace_labelpresent_team="true"}"#
        );
        // Not asked for: nothing added.
        let mut plain = TargetGroup {
            labels: Labels::from_pairs([("__meta_kubernetes_namespace", "shop")]),
            ..TargetGroup::default()
        };
        metadata(true, false).enrich(Role::Service, &mut plain);
        assert_eq!(plain.labels.len(), 1);
    }

    #[test]
    fn node_labels_per_endpoint_by_node_name_or_reference() {
        let md = metadata(true, false);
        let mut group = TargetGroup {
            targets: vec![
                Labels::from_pairs([("__meta_kubernetes_endpoint_node_name", "node-1")]),
                Labels::from_pairs([
                    ("__meta_kubernetes_endpoint_address_target_kind", "Node"),
                    ("__meta_kubernetes_endpoint_address_target_name", "node-1"),
                ]),
                Labels::from_pairs([("__meta_kubernetes_endpoint_node_name", "unknown")]),
            ],
            ..TargetGroup::default()
        };
        md.enrich(Role::Endpoints, &mut group);
        let zone = |t: &Labels| {
            t.get("__meta_kubernetes_node_label_topology_kubernetes_io_zone")
                .map(str::to_string)
        };
        assert_eq!(zone(&group.targets[0]).as_deref(), Some("eu-1a"));
        assert_eq!(zone(&group.targets[1]).as_deref(), Some("eu-1a"));
        assert_eq!(zone(&group.targets[2]), None);
        assert_eq!(
            group.targets[0].get("__meta_kubernetes_node_name"),
            Some("node-1")
        );
    }
}
