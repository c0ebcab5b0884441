//! The service role (P: `discovery/kubernetes/service.go`): one target per service port at
//! `<name>.<namespace>.svc:<port>`.

use super::pod::join_host_port;
use super::{META, TargetGroup, object_meta_labels, set};
use crate::labels::Labels;
use crate::sd::parse::ADDRESS_LABEL;
use k8s_openapi::api::core::v1::Service;

pub fn service_source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// The labels of a service's group (also used by the endpoints roles).
pub fn service_labels(service: &Service) -> Labels {
    let mut labels = Labels::new();
    set(
        &mut labels,
        &format!("{META}namespace"),
        service.metadata.namespace.as_deref().unwrap_or(""),
    );
    object_meta_labels(&mut labels, &service.metadata, "service");
    labels
}

pub fn service_group(service: &Service) -> TargetGroup {
    let namespace = service.metadata.namespace.as_deref().unwrap_or("");
    let name = service.metadata.name.as_deref().unwrap_or("");
    let mut group = TargetGroup {
        source: service_source(namespace, name),
        labels: service_labels(service),
        targets: Vec::new(),
    };
    let Some(spec) = &service.spec else {
        return group;
    };
    let service_type = spec.type_.as_deref().unwrap_or("");
    for port in spec.ports.as_deref().unwrap_or_default() {
        let number = port.port.to_string();
        let mut target = Labels::new();
        target.set(
            ADDRESS_LABEL,
            join_host_port(&format!("{name}.{namespace}.svc"), &number),
        );
        set(
            &mut target,
            &format!("{META}service_port_name"),
            port.name.as_deref().unwrap_or(""),
        );
        target.set(format!("{META}service_port_number"), number);
        set(
            &mut target,
            &format!("{META}service_port_protocol"),
            port.protocol.as_deref().unwrap_or(""),
        );
        set(&mut target, &format!("{META}service_type"), service_type);
        if service_type == "ExternalName" {
            set(
                &mut target,
                &format!("{META}service_external_name"),
                spec.external_name.as_deref().unwrap_or(""),
            );
        } else {
            set(
                &mut target,
                &format!("{META}service_cluster_ip"),
                spec.cluster_ip.as_deref().unwrap_or(""),
            );
        }
        if service_type == "LoadBalancer" {
            set(
                &mut target,
                &format!("{META}service_loadbalancer_ip"),
                spec.load_balancer_ip.as_deref().unwrap_or(""),
            );
        }
        group.targets.push(target);
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_target_per_port() {
        let service: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "api", "namespace": "shop", "labels": {"app": "api"}},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "loadBalancerIP": "1.2.3.4",
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 9090, "protocol": "TCP"}]}
        }))
        .unwrap();
        let group = service_group(&service);
        assert_eq!(group.source, "svc/shop/api");
        assert_eq!(
            group.labels.to_string(),
            r#"{__meta_kubernetes_namespace="shop", __meta_kubernetes_service_label_app="api", __meta_kubernetes_service_labelpresent_app="true", __meta_kubernetes_service_name="api"}"#
        );
        let targets: Vec<String> = group.targets.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            targets,
            [
                r#"{__address__="api.shop.svc:80", __meta_kubernetes_service_cluster_ip="10.96.0.10", __meta_kubernetes_service_loadbalancer_ip="1.2.3.4", __meta_kubernetes_service_port_name="http", __meta_kubernetes_service_port_number="80", __meta_kubernetes_service_port_protocol="TCP", __meta_kubernetes_service_type="LoadBalancer"}"#,
                r#"{__address__="api.shop.svc:9090", __meta_kubernetes_service_cluster_ip="10.96.0.10", __meta_kubernetes_service_loadbalancer_ip="1.2.3.4", __meta_kubernetes_service_port_number="9090", __meta_kubernetes_service_port_protocol="TCP", __meta_kubernetes_service_type="LoadBalancer"}"#,
            ]
        );
        let external: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "ext", "namespace": "n"},
            "spec": {"type": "ExternalName", "externalName": "db.example.com", "ports": [{"port": 5432}]}
        }))
        .unwrap();
        let target = &service_group(&external).targets[0];
        assert_eq!(
            target.value("__meta_kubernetes_service_external_name"),
            "db.example.com"
        );
        assert_eq!(target.get("__meta_kubernetes_service_cluster_ip"), None);
    }
}
