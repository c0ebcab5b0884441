//! Members from the EndpointSlices of a (headless) Service: `--cluster.peers=kubernetes` with
//! `--cluster.kubernetes.service=NAME`. Every endpoint is a peer (probed, its targets taken
//! over by make-before-break handoffs), but only ready, non-terminating ones own targets: a pod
//! that fails its readiness probe or is shutting down hands its targets over, and a replica
//! whose own endpoint is not ready owns nothing. A member's id is its pod name (the
//! endpoint's `targetRef`, else its hostname, else its address); it is reached at the
//! endpoint's address and this replica's web port.
//!
//! The client is kube's inferred config: the in-cluster service account, or `KUBECONFIG`.

use crate::sd::kubernetes::endpointslice::object_key;
use futures::StreamExt;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Every endpoint of the Service: id → (`address:port`, ready and not terminating), kept
/// current by a watch; `None` until the first list. Endpoints that are not ready are still
/// peers (probed, their scraped targets taken over) but own nothing.
pub type Peers = BTreeMap<String, (String, bool)>;

/// One endpoint: (id, (`address:port`, owner)).
pub type Endpoint = (String, (String, bool));

#[derive(Clone, Debug, Default)]
pub struct KubernetesPeers {
    members: Arc<Mutex<Option<Peers>>>,
}

impl KubernetesPeers {
    /// Starts watching the slices of `service` in `namespace` (default: the client's).
    pub async fn start(
        service: &str,
        namespace: Option<&str>,
        port: u16,
    ) -> Result<KubernetesPeers, String> {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| format!("--cluster.peers=kubernetes: no Kubernetes client: {e}"))?;
        let namespace = namespace
            .map(str::to_string)
            .unwrap_or_else(|| client.default_namespace().to_string());
        let api: kube::Api<EndpointSlice> = kube::Api::namespaced(client, &namespace);
        let config =
            watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"));
        let peers = KubernetesPeers::default();
        let members = peers.members.clone();
        let service = service.to_string();
        tokio::spawn(async move {
            let mut stream = watcher::watcher(api, config)
                .backoff(crate::sd::kubernetes::watch_backoff())
                .boxed();
            let mut slices: HashMap<String, Vec<Endpoint>> = HashMap::new();
            let mut relisting: Option<HashMap<String, Vec<Endpoint>>> = None;
            while let Some(event) = stream.next().await {
                let changed = match event {
                    Ok(Event::Init) => {
                        relisting = Some(HashMap::new());
                        false
                    }
                    Ok(Event::InitApply(slice)) => {
                        relisting
                            .get_or_insert_with(HashMap::new)
                            .insert(key(&slice), ready_members(&slice, port));
                        false
                    }
                    Ok(Event::InitDone) => {
                        slices = relisting.take().unwrap_or_default();
                        true
                    }
                    Ok(Event::Apply(slice)) => {
                        slices.insert(key(&slice), ready_members(&slice, port));
                        true
                    }
                    Ok(Event::Delete(slice)) => slices.remove(&key(&slice)).is_some(),
                    Err(error) => {
                        tracing::warn!(%service, %error, "watching the cluster's EndpointSlices failed; retrying");
                        false
                    }
                };
                if changed {
                    let all: Peers = slices.values().flatten().cloned().collect();
                    *members.lock() = Some(all);
                }
            }
        });
        Ok(peers)
    }

    /// The endpoints now; `None` before the first list.
    pub fn members(&self) -> Option<Peers> {
        self.members.lock().clone()
    }
}

fn key(slice: &EndpointSlice) -> String {
    object_key(
        slice.metadata.namespace.as_deref().unwrap_or(""),
        slice.metadata.name.as_deref().unwrap_or(""),
    )
}

/// (id, (`address:port`, ready and not terminating)) of every endpoint of a slice.
pub fn ready_members(slice: &EndpointSlice, port: u16) -> Vec<Endpoint> {
    slice
        .endpoints
        .iter()
        .filter_map(|e| {
            let conditions = e.conditions.as_ref();
            // Unknown readiness counts as ready, as Kubernetes says.
            let member = conditions.and_then(|c| c.ready).unwrap_or(true)
                && !conditions.and_then(|c| c.terminating).unwrap_or(false);
            let address = e.addresses.first()?;
            let id = e
                .target_ref
                .as_ref()
                .and_then(|r| r.name.clone())
                .or_else(|| e.hostname.clone())
                .unwrap_or_else(|| address.clone());
            let address = crate::sd::kubernetes::pod::join_host_port(address, &port.to_string());
            Some((id, (address, member)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_by_pod_name_owners_only_when_ready_and_not_terminating() {
        let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "promshard-x", "namespace": "monitoring"},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "promshard-0"}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false}, "targetRef": {"kind": "Pod", "name": "promshard-1"}},
                {"addresses": ["10.0.0.3"], "conditions": {"ready": true, "terminating": true}, "targetRef": {"kind": "Pod", "name": "promshard-2"}},
                {"addresses": ["10.0.0.4"], "hostname": "promshard-3"},
                {"addresses": ["fd00::5"]}
            ]
        }))
        .unwrap();
        let entry =
            |id: &str, address: &str, member: bool| (id.to_string(), (address.to_string(), member));
        assert_eq!(
            ready_members(&slice, 9090),
            [
                entry("promshard-0", "10.0.0.1:9090", true),
                entry("promshard-1", "10.0.0.2:9090", false),
                entry("promshard-2", "10.0.0.3:9090", false),
                entry("promshard-3", "10.0.0.4:9090", true),
                entry("fd00::5", "[fd00::5]:9090", true),
            ]
        );
    }
}
