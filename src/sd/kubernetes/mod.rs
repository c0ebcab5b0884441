//! Kubernetes service discovery (`kubernetes_sd_configs`, P: `discovery/kubernetes/`).
//!
//! Each entry watches its role's objects with kube's watcher (list, then watch from the
//! list's resourceVersion; a 410 Gone in the stream makes it list again at once; other errors
//! back off from 500 ms to 30 s),
//! in every namespace of `namespaces` (all when none), filtered by the role's `selectors`.
//! Objects are turned into target groups as they arrive and dropped: only the groups are
//! kept. Changes are sent at most every [`DEBOUNCE`], as one full update.
//!
//! Client: `api_server` with the entry's HTTP client settings (basic auth, authorization,
//! TLS files, proxy, headers), or `kubeconfig_file`, or the in-cluster service account.
//!
//! Roles: all (pod, service, endpoints, endpointslice, node, ingress), with `attach_metadata`
//! node and namespace ([`metadata`]); deployment, job and cronjob are rejected when the config
//! loads until they are built.

pub mod config;
pub mod endpoints;
pub mod endpointslice;
pub mod ingress;
pub mod metadata;
pub mod node;
pub mod pod;
pub mod service;

pub use config::{KubernetesSdConfig, Role};

use super::metrics::SdMetrics;
use super::{GroupSender, TargetGroup, UpdateSender};
use crate::labels::Labels;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Prefix of every label this discovery sets.
pub const META: &str = "__meta_kubernetes_";

/// Changes are collected for this long before an update is sent.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Where the pod's own namespace is written in-cluster.
const OWN_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Sets `name` unless `value` is empty (empty-valued labels are absent).
pub(crate) fn set(labels: &mut Labels, name: &str, value: &str) {
    if !value.is_empty() {
        labels.set(name, value);
    }
}

/// `<s>` of the meta label names: every character outside `[a-zA-Z0-9_]` becomes `_`.
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `<role>_name`, `<role>_label_<s>`, `<role>_labelpresent_<s>`, `<role>_annotation_<s>` and
/// `<role>_annotationpresent_<s>` (P: `addObjectMetaLabels`).
pub(crate) fn object_meta_labels(labels: &mut Labels, meta: &ObjectMeta, role: &str) {
    set(
        labels,
        &format!("{META}{role}_name"),
        meta.name.as_deref().unwrap_or(""),
    );
    for (kind, map) in [("label", &meta.labels), ("annotation", &meta.annotations)] {
        for (key, value) in map.iter().flatten() {
            let name = sanitize_label_name(key);
            set(labels, &format!("{META}{role}_{kind}_{name}"), value);
            labels.set(format!("{META}{role}_{kind}present_{name}"), "true");
        }
    }
}

/// Builds the API client an entry asks for.
pub async fn client(config: &KubernetesSdConfig) -> Result<kube::Client, String> {
    let kube_config = if let Some(path) = &config.kubeconfig_file {
        let kubeconfig = kube::config::Kubeconfig::read_from(path)
            .map_err(|e| format!("cannot read kubeconfig_file {path}: {e}"))?;
        kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|e| format!("kubeconfig_file {path}: {e}"))?
    } else if let Some(url) = &config.api_server {
        api_server_config(url, &config.http_client)?
    } else {
        kube::Config::incluster().map_err(|e| format!("in-cluster config: {e}"))?
    };
    kube::Client::try_from(kube_config)
        .map_err(|e| format!("cannot build the Kubernetes client: {e}"))
}

/// A client config for `api_server` with the entry's HTTP settings.
fn api_server_config(
    url: &str,
    http: &crate::config::http::HttpClientConfig,
) -> Result<kube::Config, String> {
    let uri: http::Uri = url
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("api_server {url:?}: {e}"))?;
    let mut config = kube::Config::new(uri);
    if http.oauth2.is_some() {
        return Err("kubernetes_sd_configs: oauth2 is not supported yet".into());
    }
    if let Some(basic) = &http.basic_auth {
        let username = match &basic.username_file {
            Some(file) => read_trimmed(file)?,
            None => basic.username.clone(),
        };
        let password = match (&basic.password_file, &basic.password) {
            (Some(file), _) => read_trimmed(file)?,
            (None, Some(secret)) => secret.0.clone(),
            (None, None) => String::new(),
        };
        config.auth_info.username = Some(username);
        config.auth_info.password = Some(password.into());
    }
    if let Some(auth) = &http.authorization {
        if !auth.auth_type.is_empty() && !auth.auth_type.eq_ignore_ascii_case("bearer") {
            return Err(format!(
                "kubernetes_sd_configs: authorization type {:?} is not supported (only Bearer)",
                auth.auth_type
            ));
        }
        if let Some(file) = &auth.credentials_file {
            config.auth_info.token_file = Some(file.display().to_string());
        } else if let Some(secret) = &auth.credentials {
            config.auth_info.token = Some(secret.0.clone().into());
        }
    }
    let tls = &http.tls_config;
    config.accept_invalid_certs = tls.insecure_skip_verify;
    if let Some(ca) = &tls.ca_file {
        config.root_cert_file = Some(ca.clone());
    }
    if let Some(cert) = &tls.cert_file {
        config.auth_info.client_certificate = Some(cert.display().to_string());
    }
    if let Some(key) = &tls.key_file {
        config.auth_info.client_key = Some(key.display().to_string());
    }
    if !tls.server_name.is_empty() {
        config.tls_server_name = Some(tls.server_name.clone());
    }
    if let Some(proxy) = &http.proxy_url {
        config.proxy_url = Some(
            proxy
                .parse()
                .map_err(|e| format!("proxy_url {proxy:?}: {e}"))?,
        );
    }
    Ok(config)
}

fn read_trimmed(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The namespaces to watch; `None` in the list means all of them.
fn namespaces(config: &KubernetesSdConfig) -> Result<Vec<Option<String>>, String> {
    let mut names: Vec<Option<String>> =
        config.namespaces.names.iter().cloned().map(Some).collect();
    if config.namespaces.own_namespace {
        let own = std::fs::read_to_string(OWN_NAMESPACE_FILE)
            .map_err(|e| format!("could not determine the pod's namespace: {e}"))?;
        if own.trim().is_empty() {
            return Err("could not read own namespace name (empty file)".into());
        }
        names.push(Some(own.trim().to_string()));
    }
    if names.is_empty() {
        names.push(None);
    }
    Ok(names)
}

/// Objects of one kind from several watch streams (one per namespace), by `namespace/name`;
/// a relist of one stream replaces exactly that stream's objects when it is done.
struct ObjectStore<T> {
    objects: HashMap<String, (usize, T)>,
    relisting: HashMap<usize, HashMap<String, T>>,
}

impl<T> Default for ObjectStore<T> {
    fn default() -> Self {
        ObjectStore {
            objects: HashMap::new(),
            relisting: HashMap::new(),
        }
    }
}

impl<T> ObjectStore<T> {
    /// Applies one watcher event of stream `stream`; true when the objects changed.
    fn apply<K: kube::Resource>(
        &mut self,
        stream: usize,
        event: Event<K>,
        value: impl Fn(K) -> T,
    ) -> bool {
        let key = |object: &K| {
            endpointslice::object_key(
                object.meta().namespace.as_deref().unwrap_or(""),
                object.meta().name.as_deref().unwrap_or(""),
            )
        };
        match event {
            Event::Init => {
                self.relisting.insert(stream, HashMap::new());
                false
            }
            Event::InitApply(object) => {
                let k = key(&object);
                self.relisting
                    .entry(stream)
                    .or_default()
                    .insert(k, value(object));
                false
            }
            Event::InitDone => {
                let fresh = self.relisting.remove(&stream).unwrap_or_default();
                self.objects.retain(|_, (s, _)| *s != stream);
                self.objects
                    .extend(fresh.into_iter().map(|(k, v)| (k, (stream, v))));
                true
            }
            Event::Apply(object) => {
                let k = key(&object);
                self.objects.insert(k, (stream, value(object)));
                true
            }
            Event::Delete(object) => self.objects.remove(&key(&object)).is_some(),
        }
    }

    fn get(&self, key: &str) -> Option<&T> {
        self.objects.get(key).map(|(_, v)| v)
    }
}

/// One event of the watches the endpoints roles join.
enum Joined {
    // Boxed: the objects are large and differ in size.
    Slice(Box<Event<k8s_openapi::api::discovery::v1::EndpointSlice>>),
    Endpoints(Box<Event<k8s_openapi::api::core::v1::Endpoints>>),
    Service(Box<Event<k8s_openapi::api::core::v1::Service>>),
    Pod(Box<Event<Pod>>),
}

/// Delays before retrying a failed list or watch: the first retry at once (a 410 Gone is
/// routine: the watcher lists again, as client-go's reflector does), then doubling from
/// 500 ms to 30 s; back to the start after a success.
#[derive(Clone, Debug, Default)]
pub struct WatchBackoff {
    failures: u32,
}

/// The backoff every Kubernetes watch of promshard uses.
pub fn watch_backoff() -> WatchBackoff {
    WatchBackoff::default()
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = match self.failures {
            0 => Duration::ZERO,
            n => (Duration::from_millis(500) * 2u32.saturating_pow(n.min(16) - 1))
                .min(Duration::from_secs(30)),
        };
        self.failures = self.failures.saturating_add(1);
        Some(delay)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.failures = 0;
    }
}

impl KubernetesProvider {
    /// The watch config for objects of `role` with this entry's selectors for it.
    fn watch_config(&self, role: Role) -> watcher::Config {
        let (label, field) = self.config.selector(role);
        let mut config = watcher::Config::default();
        if !label.is_empty() {
            config = config.labels(label);
        }
        if !field.is_empty() {
            config = config.fields(field);
        }
        config
    }

    /// The endpointslice and endpoints roles: slices (or Endpoints), services and pods
    /// watched in every namespace, every group rebuilt whenever any of them changes.
    async fn run_endpointslices(
        &self,
        client: kube::Client,
        namespaces: Vec<Option<String>>,
        sender: &mut UpdateSender,
    ) {
        use k8s_openapi::api::core::v1::Service;
        use k8s_openapi::api::discovery::v1::EndpointSlice;
        let mut streams = Vec::new();
        for (index, namespace) in namespaces.iter().enumerate() {
            let ns = namespace.as_deref();
            let main = if self.config.role == Role::Endpoints {
                watcher::watcher(
                    namespaced_api::<k8s_openapi::api::core::v1::Endpoints>(client.clone(), ns),
                    self.watch_config(Role::Endpoints),
                )
                .backoff(WatchBackoff::default())
                .map(move |e| (index, e.map(|e| Joined::Endpoints(Box::new(e)))))
                .boxed()
            } else {
                watcher::watcher(
                    namespaced_api::<EndpointSlice>(client.clone(), ns),
                    self.watch_config(Role::EndpointSlice),
                )
                .backoff(WatchBackoff::default())
                .map(move |e| (index, e.map(|e| Joined::Slice(Box::new(e)))))
                .boxed()
            };
            let services = watcher::watcher(
                namespaced_api::<Service>(client.clone(), ns),
                self.watch_config(Role::Service),
            )
            .backoff(WatchBackoff::default())
            .map(move |e| (index, e.map(|e| Joined::Service(Box::new(e)))))
            .boxed();
            let pods = watcher::watcher(
                namespaced_api::<Pod>(client.clone(), ns),
                self.watch_config(Role::Pod),
            )
            .backoff(WatchBackoff::default())
            .map(move |e| (index, e.map(|e| Joined::Pod(Box::new(e)))))
            .boxed();
            streams.extend([main, services, pods]);
        }
        let mut events = futures::stream::select_all(streams);
        let metadata =
            metadata::Metadata::start(&client, &self.config.attach_metadata, self.config.role);
        let mut metadata_changed = metadata.subscribe();
        let mut metadata_open = true;
        let mut slices: ObjectStore<EndpointSlice> = ObjectStore::default();
        let mut endpoints: ObjectStore<k8s_openapi::api::core::v1::Endpoints> =
            ObjectStore::default();
        let mut services: ObjectStore<Labels> = ObjectStore::default();
        let mut pods: ObjectStore<Pod> = ObjectStore::default();
        let mut dirty = false;
        let mut send_at = tokio::time::Instant::now();
        loop {
            tokio::select! {
                next = events.next() => {
                    let Some((index, event)) = next else { return };
                    let changed = match event {
                        Ok(Joined::Slice(e)) => slices.apply(index, *e, |s| s),
                        Ok(Joined::Endpoints(e)) => endpoints.apply(index, *e, |e| e),
                        Ok(Joined::Service(e)) => services.apply(index, *e, |s| service::service_labels(&s)),
                        Ok(Joined::Pod(e)) => pods.apply(index, *e, |mut p| {
                            // Kept for joins: what we never read goes.
                            p.metadata.managed_fields = None;
                            p
                        }),
                        Err(error) => {
                            tracing::warn!(role = "endpointslice", %error, "Kubernetes watch failed; retrying");
                            false
                        }
                    };
                    if changed && !dirty {
                        dirty = true;
                        send_at = tokio::time::Instant::now() + DEBOUNCE;
                    }
                }
                changed = metadata_changed.changed(), if metadata_open => {
                    if changed.is_err() {
                        metadata_open = false;
                    } else if !dirty {
                        dirty = true;
                        send_at = tokio::time::Instant::now() + DEBOUNCE;
                    }
                }
                _ = tokio::time::sleep_until(send_at), if dirty => {
                    dirty = false;
                    let service_labels = |key: &str| services.get(key);
                    let pod = |key: &str| pods.get(key);
                    let mut groups: Vec<TargetGroup> = slices
                        .objects
                        .values()
                        .map(|(_, slice)| endpointslice::endpointslice_group(slice, &service_labels, &pod))
                        .chain(endpoints.objects.values().map(|(_, e)| {
                            endpoints::endpoints_group(e, &service_labels, &pod)
                        }))
                        .collect();
                    groups.sort_by(|a, b| a.source.cmp(&b.source));
                    for group in &mut groups {
                        metadata.enrich(self.config.role, group);
                    }
                    if !sender.send(groups).await {
                        return;
                    }
                }
            }
        }
    }
}

/// The API of a namespaced kind in `namespace`, or in all of them.
fn namespaced_api<K>(client: kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

/// Discovery for one `kubernetes_sd_configs` entry.
pub struct KubernetesProvider {
    config: KubernetesSdConfig,
    metrics: Arc<SdMetrics>,
}

impl KubernetesProvider {
    pub fn new(config: KubernetesSdConfig, metrics: Arc<SdMetrics>) -> Self {
        KubernetesProvider { config, metrics }
    }

    /// Runs until the receiver is gone.
    pub async fn run(self, tx: GroupSender) {
        let mut sender = UpdateSender::new(tx);
        let setup = async {
            let namespaces = namespaces(&self.config)?;
            let client = client(&self.config).await?;
            Ok::<_, String>((client, namespaces))
        };
        let (client, namespaces) = match setup.await {
            Ok(ready) => ready,
            Err(error) => {
                // Like a discoverer that fails to start: no targets, said loudly.
                tracing::error!(role = self.config.role.as_str(), %error, "cannot start Kubernetes discovery");
                self.metrics
                    .failed_configs
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = sender.send(Vec::new()).await;
                return;
            }
        };
        let namespaces = match self.config.role {
            // Nodes are not namespaced.
            Role::Node => vec![None],
            _ => namespaces,
        };
        match self.config.role {
            Role::Pod => {
                self.run_role(
                    client,
                    namespaces,
                    namespaced_api::<Pod>,
                    pod::pod_group,
                    &mut sender,
                )
                .await
            }
            Role::Service => {
                self.run_role(
                    client,
                    namespaces,
                    namespaced_api::<k8s_openapi::api::core::v1::Service>,
                    service::service_group,
                    &mut sender,
                )
                .await
            }
            Role::Node => {
                self.run_role(
                    client,
                    namespaces,
                    |client, _| Api::<k8s_openapi::api::core::v1::Node>::all(client),
                    node::node_group,
                    &mut sender,
                )
                .await
            }
            Role::Ingress => {
                self.run_role(
                    client,
                    namespaces,
                    namespaced_api::<k8s_openapi::api::networking::v1::Ingress>,
                    ingress::ingress_group,
                    &mut sender,
                )
                .await
            }
            Role::EndpointSlice | Role::Endpoints => {
                self.run_endpointslices(client, namespaces, &mut sender)
                    .await
            }
        }
    }

    /// Watches the objects of one kind in `namespaces` (`None`: all) and sends the groups
    /// `build` makes of them.
    async fn run_role<K>(
        &self,
        client: kube::Client,
        namespaces: Vec<Option<String>>,
        make_api: fn(kube::Client, Option<&str>) -> Api<K>,
        build: fn(&K) -> TargetGroup,
        sender: &mut UpdateSender,
    ) where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
    {
        let (label, field) = self.config.selector(self.config.role);
        let mut watch_config = watcher::Config::default();
        if !label.is_empty() {
            watch_config = watch_config.labels(label);
        }
        if !field.is_empty() {
            watch_config = watch_config.fields(field);
        }
        let streams = namespaces.iter().enumerate().map(|(index, namespace)| {
            let api = make_api(client.clone(), namespace.as_deref());
            watcher::watcher(api, watch_config.clone())
                .backoff(WatchBackoff::default())
                .map(move |event| (index, event))
                .boxed()
        });
        let mut events = futures::stream::select_all(streams);
        let metadata =
            metadata::Metadata::start(&client, &self.config.attach_metadata, self.config.role);
        let mut metadata_changed = metadata.subscribe();
        let mut metadata_open = true;
        // Per namespace: the groups by source, and those of a relist in progress.
        let mut groups: Vec<BTreeMap<String, TargetGroup>> =
            vec![BTreeMap::new(); namespaces.len()];
        let mut relisting: HashMap<usize, BTreeMap<String, TargetGroup>> = HashMap::new();
        let mut dirty = false;
        let mut send_at = tokio::time::Instant::now();
        loop {
            tokio::select! {
                next = events.next() => {
                    let Some((index, event)) = next else { return };
                    match event {
                        Ok(Event::Init) => {
                            relisting.insert(index, BTreeMap::new());
                        }
                        Ok(Event::InitApply(object)) => {
                            let group = build(&object);
                            relisting.entry(index).or_default().insert(group.source.clone(), group);
                        }
                        Ok(Event::InitDone) => {
                            groups[index] = relisting.remove(&index).unwrap_or_default();
                            if !dirty {
                                send_at = tokio::time::Instant::now() + DEBOUNCE;
                            }
                            dirty = true;
                        }
                        Ok(Event::Apply(object)) => {
                            let group = build(&object);
                            groups[index].insert(group.source.clone(), group);
                            if !dirty {
                                send_at = tokio::time::Instant::now() + DEBOUNCE;
                            }
                            dirty = true;
                        }
                        Ok(Event::Delete(object)) => {
                            groups[index].remove(&build(&object).source);
                            if !dirty {
                                send_at = tokio::time::Instant::now() + DEBOUNCE;
                            }
                            dirty = true;
                        }
                        Err(error) => {
                            tracing::warn!(role = self.config.role.as_str(), %error, "Kubernetes watch failed; retrying");
                        }
                    }
                }
                changed = metadata_changed.changed(), if metadata_open => {
                    if changed.is_err() {
                        metadata_open = false;
                    } else if !dirty {
                        dirty = true;
                        send_at = tokio::time::Instant::now() + DEBOUNCE;
                    }
                }
                _ = tokio::time::sleep_until(send_at), if dirty => {
                    dirty = false;
                    let mut all: Vec<TargetGroup> = groups.iter().flat_map(|g| g.values().cloned()).collect();
                    for group in &mut all {
                        metadata.enrich(self.config.role, group);
                    }
                    if !sender.send(all).await {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff;

    #[test]
    fn watch_backoff_retries_at_once_then_doubles_to_thirty_seconds() {
        let mut backoff = WatchBackoff::default();
        let delays: Vec<u64> = backoff
            .by_ref()
            .take(9)
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [0, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
        );
        backoff.reset();
        assert_eq!(backoff.next(), Some(Duration::ZERO));
    }

    #[test]
    fn label_names_are_sanitized_like_prometheus() {
        assert_eq!(
            sanitize_label_name("app.kubernetes.io/name"),
            "app_kubernetes_io_name"
        );
        assert_eq!(sanitize_label_name("a-b_c9"), "a_b_c9");
        assert_eq!(sanitize_label_name("ünï"), "_n_");
    }
}
