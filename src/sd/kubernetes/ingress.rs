//! The ingress role (P: `discovery/kubernetes/ingress.go`): one target per rule host and
//! path; `https` when a TLS entry's host (or wildcard) matches the rule's host.

use super::{META, TargetGroup, object_meta_labels, set};
use crate::labels::Labels;
use crate::sd::parse::ADDRESS_LABEL;
use k8s_openapi::api::networking::v1::Ingress;

pub fn ingress_source(namespace: &str, name: &str) -> String {
    format!("ingress/{namespace}/{name}")
}

pub fn ingress_group(ingress: &Ingress) -> TargetGroup {
    let namespace = ingress.metadata.namespace.as_deref().unwrap_or("");
    let name = ingress.metadata.name.as_deref().unwrap_or("");
    let mut labels = Labels::new();
    set(&mut labels, &format!("{META}namespace"), namespace);
    let spec = ingress.spec.as_ref();
    if let Some(class) = spec.and_then(|s| s.ingress_class_name.as_deref()) {
        set(&mut labels, &format!("{META}ingress_class_name"), class);
    }
    object_meta_labels(&mut labels, &ingress.metadata, "ingress");
    let mut group = TargetGroup {
        source: ingress_source(namespace, name),
        labels,
        targets: Vec::new(),
    };
    let tls_hosts: Vec<&str> = spec
        .and_then(|s| s.tls.as_deref())
        .unwrap_or_default()
        .iter()
        .flat_map(|t| t.hosts.as_deref().unwrap_or_default())
        .map(String::as_str)
        .collect();
    for rule in spec.and_then(|s| s.rules.as_deref()).unwrap_or_default() {
        let host = rule.host.as_deref().unwrap_or("");
        let scheme = if tls_hosts.iter().any(|p| matches_host_pattern(p, host)) {
            "https"
        } else {
            "http"
        };
        // No http section: one target for "/"; an empty path is "/".
        let paths: Vec<&str> = match &rule.http {
            None => vec!["/"],
            Some(http) => http
                .paths
                .iter()
                .map(|p| p.path.as_deref().filter(|p| !p.is_empty()).unwrap_or("/"))
                .collect(),
        };
        for path in paths {
            let mut target = Labels::new();
            set(&mut target, ADDRESS_LABEL, host);
            target.set(format!("{META}ingress_scheme"), scheme);
            set(&mut target, &format!("{META}ingress_host"), host);
            target.set(format!("{META}ingress_path"), path);
            group.targets.push(target);
        }
    }
    group
}

/// Equal, or a `*.` pattern with as many labels as the host whose other labels match.
fn matches_host_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let host: Vec<&str> = host.split('.').collect();
    pattern.first() == Some(&"*") && pattern.len() == host.len() && pattern[1..] == host[1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_per_host_and_path_with_tls_scheme() {
        let ingress: Ingress = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["*.example.com"]}],
                "rules": [
                    {"host": "a.example.com", "http": {"paths": [
                        {"path": "/api", "pathType": "Prefix", "backend": {}},
                        {"pathType": "Prefix", "backend": {}}
                    ]}},
                    {"host": "b.other.org"},
                    {"host": "x.y.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {}}]}}
                ]
            }
        }))
        .unwrap();
        let group = ingress_group(&ingress);
        assert_eq!(group.source, "ingress/shop/web");
        assert_eq!(
            group.labels.value("__meta_kubernetes_ingress_class_name"),
            "nginx"
        );
        let targets: Vec<(String, String, String)> = group
            .targets
            .iter()
            .map(|t| {
                (
                    t.value("__address__").to_string(),
                    t.value("__meta_kubernetes_ingress_scheme").to_string(),
                    t.value("__meta_kubernetes_ingress_path").to_string(),
                )
            })
            .collect();
        let owned = |a: &str, s: &str, p: &str| (a.to_string(), s.to_string(), p.to_string());
        assert_eq!(
            targets,
            [
                owned("a.example.com", "https", "/api"),
                owned("a.example.com", "https", "/"),
                owned("b.other.org", "http", "/"),
                // The wildcard covers one label only.
                owned("x.y.example.com", "http", "/"),
            ]
        );
    }
}
