//! The endpoints role (P: `discovery/kubernetes/endpoints.go`): one group per Endpoints
//! object, one target per subset address (ready or not) and port, joined with the service of
//! the same name and with pods as the endpointslice role does.

use super::endpointslice::{SeenPods, join_pod, object_key, uncovered_port_targets};
use super::pod::join_host_port;
use super::{META, TargetGroup, object_meta_labels, set};
use crate::labels::Labels;
use crate::sd::parse::ADDRESS_LABEL;
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use std::collections::BTreeMap;

pub fn endpoints_source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

pub fn endpoints_group<'a>(
    endpoints: &Endpoints,
    services: &dyn Fn(&str) -> Option<&'a Labels>,
    pods: &dyn Fn(&str) -> Option<&'a Pod>,
) -> TargetGroup {
    let namespace = endpoints.metadata.namespace.as_deref().unwrap_or("");
    let name = endpoints.metadata.name.as_deref().unwrap_or("");
    let mut labels = Labels::new();
    set(&mut labels, &format!("{META}namespace"), namespace);
    if let Some(service) = services(&object_key(namespace, name)) {
        for (n, v) in service.iter() {
            labels.set(n, v);
        }
    }
    object_meta_labels(&mut labels, &endpoints.metadata, "endpoints");
    let mut group = TargetGroup {
        source: endpoints_source(namespace, name),
        labels,
        targets: Vec::new(),
    };
    let mut seen_pods: SeenPods<'_> = BTreeMap::new();
    for subset in endpoints.subsets.as_deref().unwrap_or_default() {
        for port in subset.ports.as_deref().unwrap_or_default() {
            let ready = subset
                .addresses
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|a| (a, "true"));
            let not_ready = subset
                .not_ready_addresses
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|a| (a, "false"));
            for (address, ready) in ready.chain(not_ready) {
                let mut target = Labels::new();
                target.set(
                    ADDRESS_LABEL,
                    join_host_port(&address.ip, &port.port.to_string()),
                );
                set(
                    &mut target,
                    &format!("{META}endpoint_port_name"),
                    port.name.as_deref().unwrap_or(""),
                );
                set(
                    &mut target,
                    &format!("{META}endpoint_port_protocol"),
                    port.protocol.as_deref().unwrap_or(""),
                );
                target.set(format!("{META}endpoint_ready"), ready);
                if let Some(reference) = &address.target_ref {
                    set(
                        &mut target,
                        &format!("{META}endpoint_address_target_kind"),
                        reference.kind.as_deref().unwrap_or(""),
                    );
                    set(
                        &mut target,
                        &format!("{META}endpoint_address_target_name"),
                        reference.name.as_deref().unwrap_or(""),
                    );
                }
                if let Some(node) = &address.node_name {
                    set(&mut target, &format!("{META}endpoint_node_name"), node);
                }
                if let Some(hostname) = &address.hostname {
                    set(&mut target, &format!("{META}endpoint_hostname"), hostname);
                }
                join_pod(
                    &mut target,
                    address.target_ref.as_ref(),
                    Some(port.port),
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
