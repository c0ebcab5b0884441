//! A fake Kubernetes API server for tests: axum on 127.0.0.1:0 speaking the list/watch contract
//! that kube-rs watchers and client-go informers rely on. Lists are consistent paginated
//! snapshots; watches stream one JSON event per line from a resourceVersion, replaying a bounded
//! event history, with in-stream 410 Expired, bookmarks and selector transitions (an object that
//! stops matching is DELETED, one that starts matching is ADDED). It also serves the statefulset
//! scale subresource and the discovery documents, and has builders for objects shaped like the
//! real API's JSON.
//!
//! State changes only through the handle (`apply`, `delete`); the HTTP side is read-only apart
//! from PATCH on `statefulsets/{name}/scale`.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How many events a watch can be replayed from (etcd compaction plus the watch cache's window).
const DEFAULT_HISTORY_LIMIT: usize = 10_000;
const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);
/// The real server's default --min-request-timeout; watches without timeoutSeconds end after it.
const DEFAULT_MAX_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);
/// Paginated lists kept for their continue tokens; older tokens get 410 Expired.
const KEPT_LIST_SNAPSHOTS: usize = 64;
const WATCH_BUFFER_LINES: usize = 1024;
const KEPT_REQUESTS: usize = 100_000;

/// The resource types the fake serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    Node,
    Namespace,
    Ingress,
    StatefulSet,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Pod,
        Kind::Service,
        Kind::Endpoints,
        Kind::EndpointSlice,
        Kind::Node,
        Kind::Namespace,
        Kind::Ingress,
        Kind::StatefulSet,
    ];

    /// The `kind` field: `Pod`, `EndpointSlice`, ...
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::Endpoints => "Endpoints",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Node => "Node",
            Kind::Namespace => "Namespace",
            Kind::Ingress => "Ingress",
            Kind::StatefulSet => "StatefulSet",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Pod | Kind::Service | Kind::Endpoints | Kind::Node | Kind::Namespace => "v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::Ingress => "networking.k8s.io/v1",
            Kind::StatefulSet => "apps/v1",
        }
    }

    /// The API group, empty for core.
    pub fn group(self) -> &'static str {
        self.api_version()
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The URL path segment: `pods`, `endpointslices`, ...
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslices",
            Kind::Node => "nodes",
            Kind::Namespace => "namespaces",
            Kind::Ingress => "ingresses",
            Kind::StatefulSet => "statefulsets",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Node | Kind::Namespace)
    }

    /// The collection path across all namespaces (or of a cluster-scoped kind).
    pub fn path(self) -> String {
        format!("{}/{}", self.prefix(), self.plural())
    }

    /// The collection path inside one namespace.
    pub fn namespaced_path(self, namespace: &str) -> String {
        format!("{}/namespaces/{namespace}/{}", self.prefix(), self.plural())
    }

    fn prefix(self) -> String {
        match self.group() {
            "" => format!("/api/{}", self.api_version()),
            _ => format!("/apis/{}", self.api_version()),
        }
    }

    fn from_path(group_version: &str, plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.api_version() == group_version && kind.plural() == plural)
    }

    /// How error messages name the resource: `pods`, `statefulsets.apps`.
    fn qualified_resource(self) -> String {
        match self.group() {
            "" => self.plural().to_string(),
            group => format!("{}.{group}", self.plural()),
        }
    }
}

/// One HTTP request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Raw (still percent-encoded) query string, empty if none.
    pub query: String,
    pub content_type: Option<String>,
    pub body: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One entry of the event history. `previous` is the state before the change, which watches
/// with selectors need to tell ADDED/DELETED transitions from MODIFIED.
struct Change {
    resource_version: u64,
    kind: Kind,
    change_type: ChangeType,
    object: Arc<Value>,
    previous: Option<Arc<Value>>,
}

/// A list result kept so that continue tokens page through one consistent state.
struct Snapshot {
    kind: Kind,
    namespace: Option<String>,
    resource_version: u64,
    items: Vec<Arc<Value>>,
    /// The real server leaves out remainingItemCount when selectors were given.
    has_selectors: bool,
}

/// What watch tasks wait on: the newest resourceVersion and epochs of the test's commands.
#[derive(Clone, Copy, Debug, Default)]
struct Signal {
    resource_version: u64,
    expire_epoch: u64,
    close_epoch: u64,
}

struct Injected {
    kind: Kind,
    code: u16,
}

struct State {
    resource_version: u64,
    objects: BTreeMap<Kind, BTreeMap<(String, String), Arc<Value>>>,
    history: VecDeque<Change>,
    history_limit: usize,
    /// Events at or below this resourceVersion may be gone; watches from before it get 410.
    compacted_rv: u64,
    snapshots: HashMap<u64, Arc<Snapshot>>,
    snapshot_order: VecDeque<u64>,
    next_snapshot: u64,
    list_requests: HashMap<Kind, usize>,
    watch_requests: HashMap<Kind, usize>,
    open_watches: HashMap<Kind, usize>,
    requests: Vec<RecordedRequest>,
    failures: VecDeque<Injected>,
    bookmark_interval: Duration,
    max_watch_timeout: Duration,
}

struct Shared {
    state: Mutex<State>,
    signal: watch::Sender<Signal>,
}

impl Shared {
    /// Wakes the watches; called with the state lock held so that a watch starting concurrently
    /// either sees the change in its replay or is woken for it.
    fn notify(&self, state: &State) {
        let resource_version = state.resource_version;
        self.signal
            .send_modify(|signal| signal.resource_version = resource_version);
    }
}

/// Handle to a running fake API server. Dropping it stops accepting connections and ends the
/// open watches.
pub struct FakeK8s {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeK8s {
    fn drop(&mut self) {
        self.close_watches();
        self.server.abort();
    }
}

impl FakeK8s {
    pub async fn start() -> FakeK8s {
        let (signal, _) = watch::channel(Signal::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                resource_version: 0,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                history_limit: DEFAULT_HISTORY_LIMIT,
                compacted_rv: 0,
                snapshots: HashMap::new(),
                snapshot_order: VecDeque::new(),
                next_snapshot: 1,
                list_requests: HashMap::new(),
                watch_requests: HashMap::new(),
                open_watches: HashMap::new(),
                requests: Vec::new(),
                failures: VecDeque::new(),
                bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
                max_watch_timeout: DEFAULT_MAX_WATCH_TIMEOUT,
            }),
            signal,
        });
        let app = Router::new()
            .fallback(serve_request)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake API server to 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local address of the fake API server");
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake API server stopped with an error");
        });
        FakeK8s {
            shared,
            addr,
            server,
        }
    }

    /// `http://127.0.0.1:port`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Creates or updates the object named by its metadata.namespace/name (namespace defaults to
    /// `default` for namespaced kinds) and returns it as stored. Sets kind/apiVersion, a new
    /// resourceVersion, uid and creationTimestamp when missing (kept from the stored version on
    /// update). An update that changes nothing keeps the resourceVersion and sends no event, as
    /// on the real server. A uid different from the stored one means the object was deleted
    /// and created again: watches see DELETED then ADDED.
    pub fn apply(&self, kind: Kind, object: Value) -> Value {
        let mut state = self.shared.state.lock();
        let stored = state.apply(kind, object);
        self.shared.notify(&state);
        stored
    }

    /// Deletes the object; returns its last state (with the deletion's resourceVersion, as the
    /// DELETED event carries it) or None if it did not exist. `namespace` is ignored for
    /// cluster-scoped kinds.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let mut state = self.shared.state.lock();
        let deleted = state.delete(kind, namespace, name);
        self.shared.notify(&state);
        deleted
    }

    /// The stored object, with kind and apiVersion.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let state = self.shared.state.lock();
        let namespace = if kind.namespaced() { namespace } else { "" };
        state
            .objects
            .get(&kind)
            .and_then(|objects| objects.get(&(namespace.to_string(), name.to_string())))
            .map(|object| (**object).clone())
    }

    /// Every stored object of the kind, ordered by namespace and name.
    pub fn objects(&self, kind: Kind) -> Vec<Value> {
        let state = self.shared.state.lock();
        state
            .objects
            .get(&kind)
            .map(|objects| objects.values().map(|object| (**object).clone()).collect())
            .unwrap_or_default()
    }

    /// The newest resourceVersion handed out (0 before the first change).
    pub fn resource_version(&self) -> u64 {
        self.shared.state.lock().resource_version
    }

    /// Sends an in-stream ERROR 410 Expired to every open watch, then ends them.
    pub fn expire_watches(&self) {
        self.shared
            .signal
            .send_modify(|signal| signal.expire_epoch += 1);
    }

    /// Ends every open watch stream cleanly, as the server's request timeout does.
    pub fn close_watches(&self) {
        self.shared
            .signal
            .send_modify(|signal| signal.close_epoch += 1);
    }

    /// Forgets the whole event history, as an etcd compaction would: a watch from any
    /// resourceVersion older than the current one then gets 410 Expired.
    pub fn compact(&self) {
        let mut state = self.shared.state.lock();
        state.history.clear();
        state.compacted_rv = state.resource_version;
    }

    /// Makes every continue token issued so far answer 410 Expired.
    pub fn expire_continue_tokens(&self) {
        let mut state = self.shared.state.lock();
        state.snapshots.clear();
        state.snapshot_order.clear();
    }

    /// How many events watches can be replayed from (default 10,000).
    pub fn set_history_limit(&self, events: usize) {
        let mut state = self.shared.state.lock();
        state.history_limit = events;
        state.trim_history();
    }

    /// Period of BOOKMARK events on watches that allow them (default 1 s); applies to watches
    /// opened afterwards.
    pub fn set_bookmark_interval(&self, interval: Duration) {
        self.shared.state.lock().bookmark_interval = interval;
    }

    /// Caps every watch's duration, whatever timeoutSeconds asks (default 1800 s); applies to
    /// watches opened afterwards.
    pub fn set_max_watch_timeout(&self, timeout: Duration) {
        self.shared.state.lock().max_watch_timeout = timeout;
    }

    /// The next `count` requests for `kind` (list, watch, get or scale) fail with `code` and a
    /// matching Status body (429 also gets `Retry-After: 1`).
    pub fn fail_next(&self, kind: Kind, count: usize, code: u16) {
        let mut state = self.shared.state.lock();
        for _ in 0..count {
            state.failures.push_back(Injected { kind, code });
        }
    }

    /// LIST requests (every page counts) for the kind, in any namespace.
    pub fn list_requests(&self, kind: Kind) -> usize {
        let state = self.shared.state.lock();
        state.list_requests.get(&kind).copied().unwrap_or(0)
    }

    /// WATCH requests for the kind, in any namespace, including rejected ones.
    pub fn watch_requests(&self, kind: Kind) -> usize {
        let state = self.shared.state.lock();
        state.watch_requests.get(&kind).copied().unwrap_or(0)
    }

    /// Watch streams of the kind open right now.
    pub fn open_watches(&self, kind: Kind) -> usize {
        let state = self.shared.state.lock();
        state.open_watches.get(&kind).copied().unwrap_or(0)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state.lock().requests.clone()
    }

    /// Waits until at least `count` watches of the kind are open; panics after `within`.
    pub async fn wait_for_open_watches(&self, kind: Kind, count: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.open_watches(kind) < count {
            if Instant::now() > deadline {
                panic!(
                    "expected {count} open {kind:?} watches within {within:?}, have {}",
                    self.open_watches(kind)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl State {
    fn next_resource_version(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    fn record(&mut self, change: Change) {
        self.history.push_back(change);
        self.trim_history();
    }

    fn trim_history(&mut self) {
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted_rv = dropped.resource_version;
            }
        }
    }

    fn stored(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let namespace = if kind.namespaced() { namespace } else { "" };
        self.objects
            .get(&kind)?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    fn apply(&mut self, kind: Kind, mut object: Value) -> Value {
        let fields = object
            .as_object_mut()
            .unwrap_or_else(|| panic!("FakeK8s::apply({kind:?}) needs a JSON object"));
        fields.insert("kind".into(), kind.name().into());
        fields.insert("apiVersion".into(), kind.api_version().into());
        let metadata = object_field(fields, "metadata");
        let name = metadata
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("FakeK8s::apply({kind:?}) needs metadata.name"));
        let namespace = if kind.namespaced() {
            let namespace = metadata
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|namespace| !namespace.is_empty())
                .unwrap_or("default")
                .to_string();
            metadata.insert("namespace".into(), namespace.clone().into());
            namespace
        } else {
            metadata.remove("namespace");
            String::new()
        };
        if kind == Kind::Namespace {
            // The real server labels every namespace with its name.
            object_field(metadata, "labels")
                .insert("kubernetes.io/metadata.name".into(), name.clone().into());
        }
        let given_uid = metadata
            .get("uid")
            .and_then(Value::as_str)
            .filter(|uid| !uid.is_empty())
            .map(str::to_string);

        let mut existing = self.stored(kind, &namespace, &name);
        if let Some(old) = &existing
            && given_uid
                .as_deref()
                .is_some_and(|uid| Some(uid) != meta_str(old, "uid"))
        {
            self.delete(kind, &namespace, &name);
            existing = None;
        }

        let uid = match &existing {
            Some(old) => meta_str(old, "uid").unwrap_or_default().to_string(),
            None => given_uid.unwrap_or_else(random_uid),
        };
        let created = existing
            .as_deref()
            .and_then(|old| meta_str(old, "creationTimestamp"))
            .map(str::to_string)
            .or_else(|| {
                metadata
                    .get("creationTimestamp")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| rfc3339(SystemTime::now()));
        metadata.insert("uid".into(), uid.into());
        metadata.insert("creationTimestamp".into(), created.into());

        if kind == Kind::StatefulSet {
            // Defaulting and generation tracking, which the scale subresource relies on.
            let spec = object_field(fields, "spec");
            spec.entry("replicas").or_insert(json!(1));
            let spec = Value::Object(spec.clone());
            let generation = match &existing {
                Some(old) if old.get("spec") == Some(&spec) => {
                    old.pointer("/metadata/generation").and_then(Value::as_i64)
                }
                Some(old) => old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .map(|generation| generation + 1),
                None => None,
            }
            .unwrap_or(1);
            object_field(fields, "metadata").insert("generation".into(), generation.into());
        }

        let metadata = object_field(fields, "metadata");
        if let Some(old) = &existing {
            let old_rv = meta_str(old, "resourceVersion").unwrap_or_default();
            metadata.insert("resourceVersion".into(), old_rv.into());
            if **old == object {
                return object;
            }
        }
        let resource_version = self.next_resource_version();
        set_resource_version(&mut object, resource_version);
        let stored = Arc::new(object);
        self.objects
            .entry(kind)
            .or_default()
            .insert((namespace, name), stored.clone());
        let change_type = if existing.is_some() {
            ChangeType::Modified
        } else {
            ChangeType::Added
        };
        self.record(Change {
            resource_version,
            kind,
            change_type,
            object: stored.clone(),
            previous: existing,
        });
        (*stored).clone()
    }

    fn delete(&mut self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let namespace = if kind.namespaced() { namespace } else { "" };
        let last = self
            .objects
            .get_mut(&kind)?
            .remove(&(namespace.to_string(), name.to_string()))?;
        let resource_version = self.next_resource_version();
        let mut gone = (*last).clone();
        set_resource_version(&mut gone, resource_version);
        let gone = Arc::new(gone);
        self.record(Change {
            resource_version,
            kind,
            change_type: ChangeType::Deleted,
            object: gone.clone(),
            previous: Some(last),
        });
        Some((*gone).clone())
    }

    fn keep_snapshot(&mut self, snapshot: Arc<Snapshot>) -> u64 {
        let id = self.next_snapshot;
        self.next_snapshot += 1;
        self.snapshots.insert(id, snapshot);
        self.snapshot_order.push_back(id);
        while self.snapshot_order.len() > KEPT_LIST_SNAPSHOTS {
            if let Some(old) = self.snapshot_order.pop_front() {
                self.snapshots.remove(&old);
            }
        }
        id
    }

    fn take_failure(&mut self, kind: Kind) -> Option<u16> {
        let index = self
            .failures
            .iter()
            .position(|failure| failure.kind == kind)?;
        self.failures.remove(index).map(|failure| failure.code)
    }

    /// Watch lines for the events after `cursor`, which then moves to the newest
    /// resourceVersion. None if some of those events are no longer kept.
    fn drain(&self, filter: &Filter, cursor: &mut u64) -> Option<Vec<Bytes>> {
        if *cursor < self.compacted_rv {
            return None;
        }
        let first = self
            .history
            .partition_point(|change| change.resource_version <= *cursor);
        let lines = self
            .history
            .range(first..)
            .filter(|change| change.kind == filter.kind)
            .filter_map(|change| event_line(filter, change))
            .collect();
        *cursor = self.resource_version;
        Some(lines)
    }
}

/// The field as a JSON object, created (or replaced, if it held something else) as needed.
fn object_field<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let value = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("replaced by an object above"),
    }
}

fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

fn set_resource_version(object: &mut Value, resource_version: u64) {
    if let Some(fields) = object.as_object_mut() {
        object_field(fields, "metadata").insert(
            "resourceVersion".into(),
            resource_version.to_string().into(),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

async fn serve_request(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    {
        let mut state = shared.state.lock();
        if state.requests.len() < KEPT_REQUESTS {
            state.requests.push(RecordedRequest {
                method: method.to_string(),
                path: uri.path().to_string(),
                query: uri.query().unwrap_or("").to_string(),
                content_type: content_type.clone(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
    }
    let segments: Vec<&str> = uri
        .path()
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let request = Request {
        method,
        query: uri.query().unwrap_or(""),
        content_type: content_type.as_deref(),
        body: &body,
    };
    match segments.as_slice() {
        ["version"] => discovery(&request, version_document()),
        ["api"] => discovery(
            &request,
            json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"}],
            }),
        ),
        ["apis"] => discovery(&request, group_list_document()),
        ["api", version, rest @ ..] => resource_request(&shared, &request, version, rest),
        ["apis", group, version, rest @ ..] => {
            resource_request(&shared, &request, &format!("{group}/{version}"), rest)
        }
        _ => path_not_found(),
    }
}

struct Request<'a> {
    method: Method,
    query: &'a str,
    content_type: Option<&'a str>,
    body: &'a [u8],
}

fn discovery(request: &Request, document: Value) -> Response {
    if request.method != Method::GET {
        return method_not_allowed();
    }
    json_response(StatusCode::OK, &document)
}

/// What a path under a group version addresses.
enum Target<'a> {
    Collection {
        namespace: Option<&'a str>,
        plural: &'a str,
    },
    Object {
        namespace: Option<&'a str>,
        plural: &'a str,
        name: &'a str,
    },
    Subresource {
        namespace: Option<&'a str>,
        plural: &'a str,
        name: &'a str,
        subresource: &'a str,
    },
}

fn resource_request(
    shared: &Arc<Shared>,
    request: &Request,
    group_version: &str,
    rest: &[&str],
) -> Response {
    let target = match *rest {
        [] => {
            return match resource_list_document(group_version) {
                Some(document) => discovery(request, document),
                None => path_not_found(),
            };
        }
        ["namespaces", namespace, plural] => Target::Collection {
            namespace: Some(namespace),
            plural,
        },
        ["namespaces", namespace, plural, name] => Target::Object {
            namespace: Some(namespace),
            plural,
            name,
        },
        ["namespaces", namespace, plural, name, subresource] => Target::Subresource {
            namespace: Some(namespace),
            plural,
            name,
            subresource,
        },
        [plural] => Target::Collection {
            namespace: None,
            plural,
        },
        [plural, name] => Target::Object {
            namespace: None,
            plural,
            name,
        },
        [plural, name, subresource] => Target::Subresource {
            namespace: None,
            plural,
            name,
            subresource,
        },
        _ => return path_not_found(),
    };
    let (namespace, plural, is_object) = match &target {
        Target::Collection { namespace, plural } => (*namespace, *plural, false),
        Target::Object {
            namespace, plural, ..
        }
        | Target::Subresource {
            namespace, plural, ..
        } => (*namespace, *plural, true),
    };
    let Some(kind) = Kind::from_path(group_version, plural) else {
        return path_not_found();
    };
    // Cluster-scoped kinds have no namespaced paths; namespaced objects only namespaced ones.
    if namespace.is_some() && !kind.namespaced()
        || is_object && namespace.is_none() && kind.namespaced()
    {
        return path_not_found();
    }
    if let Some(code) = shared.state.lock().take_failure(kind) {
        return injected_failure(code);
    }
    match target {
        Target::Collection { namespace, .. } => {
            if request.method != Method::GET {
                return method_not_allowed();
            }
            let options = match ListOptions::parse(request.query) {
                Ok(options) => options,
                Err(message) => return bad_request(&message),
            };
            let filter = match Filter::new(kind, namespace, &options) {
                Ok(filter) => filter,
                Err(message) => return bad_request(&message),
            };
            if options.watch {
                start_watch(shared, filter, &options)
            } else {
                list(shared, filter, &options)
            }
        }
        Target::Object {
            namespace, name, ..
        } => {
            if request.method != Method::GET {
                return method_not_allowed();
            }
            match shared
                .state
                .lock()
                .stored(kind, namespace.unwrap_or(""), name)
            {
                Some(object) => json_response(StatusCode::OK, &object),
                None => not_found(kind, name),
            }
        }
        Target::Subresource {
            namespace,
            name,
            subresource,
            ..
        } => {
            if kind != Kind::StatefulSet || subresource != "scale" {
                return path_not_found();
            }
            let namespace = namespace.unwrap_or("");
            match request.method {
                Method::GET => get_scale(shared, namespace, name),
                Method::PATCH => patch_scale(shared, namespace, name, request),
                _ => method_not_allowed(),
            }
        }
    }
}

/// The query parameters of list and watch requests.
#[derive(Default)]
struct ListOptions {
    watch: bool,
    resource_version: Option<String>,
    resource_version_match: Option<String>,
    limit: Option<usize>,
    continue_token: Option<String>,
    label_selector: Option<String>,
    field_selector: Option<String>,
    timeout_seconds: Option<u64>,
    allow_bookmarks: bool,
    send_initial_events: bool,
}

impl ListOptions {
    fn parse(query: &str) -> Result<ListOptions, String> {
        let mut options = ListOptions::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let non_empty = || Some(value.to_string()).filter(|value| !value.is_empty());
            match key.as_ref() {
                "watch" => options.watch = parse_bool("watch", &value)?,
                "allowWatchBookmarks" => {
                    options.allow_bookmarks = parse_bool("allowWatchBookmarks", &value)?
                }
                "sendInitialEvents" => {
                    options.send_initial_events = parse_bool("sendInitialEvents", &value)?
                }
                "resourceVersion" => options.resource_version = non_empty(),
                "resourceVersionMatch" => options.resource_version_match = non_empty(),
                "continue" => options.continue_token = non_empty(),
                "labelSelector" => options.label_selector = non_empty(),
                "fieldSelector" => options.field_selector = non_empty(),
                "limit" => {
                    let limit = value
                        .parse::<i64>()
                        .map_err(|_| format!("invalid value for limit: {value:?}"))?;
                    // limit <= 0 means no limit.
                    options.limit = usize::try_from(limit).ok().filter(|limit| *limit > 0);
                }
                "timeoutSeconds" => {
                    let seconds = value
                        .parse::<u64>()
                        .map_err(|_| format!("invalid value for timeoutSeconds: {value:?}"))?;
                    options.timeout_seconds = Some(seconds).filter(|seconds| *seconds > 0);
                }
                _ => {}
            }
        }
        Ok(options)
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" | "True" | "TRUE" | "t" | "T" | "1" => Ok(true),
        "false" | "False" | "FALSE" | "f" | "F" | "0" | "" => Ok(false),
        _ => Err(format!("invalid boolean value for {name}: {value:?}")),
    }
}

fn parse_resource_version(value: &str) -> Result<u64, String> {
    value.parse::<u64>().map_err(|_| {
        format!("invalid resource version {value:?}: resource versions are decimal integers")
    })
}

fn too_large_resource_version(requested: u64, current: u64) -> Response {
    status_response(
        StatusCode::GATEWAY_TIMEOUT,
        "Timeout",
        &format!("Too large resource version: {requested}, current: {current}"),
        Some(json!({
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        })),
    )
}

fn list(shared: &Arc<Shared>, filter: Filter, options: &ListOptions) -> Response {
    let kind = filter.kind;
    let mut state = shared.state.lock();
    *state.list_requests.entry(kind).or_default() += 1;

    let (snapshot_id, snapshot, start) = if let Some(token) = &options.continue_token {
        if options.resource_version.is_some() {
            return bad_request("specifying resource version is not allowed when using continue");
        }
        let Some(position) = ContinuePosition::decode(token) else {
            return bad_request(&format!("continue key is not valid: {token:?}"));
        };
        let Some(snapshot) = state.snapshots.get(&position.snapshot).cloned() else {
            return status_response(
                StatusCode::GONE,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter.",
                None,
            );
        };
        if snapshot.kind != kind || snapshot.namespace != filter.namespace {
            return bad_request("continue key was issued for a different list");
        }
        (Some(position.snapshot), snapshot, position.start)
    } else {
        let requested = match options.resource_version.as_deref() {
            None => None,
            Some(value) => match parse_resource_version(value) {
                Ok(requested) => Some(requested),
                Err(message) => return bad_request(&message),
            },
        };
        match (options.resource_version_match.as_deref(), requested) {
            (None, _) => {}
            (Some(_), None) => {
                return bad_request(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                );
            }
            (Some("NotOlderThan"), Some(_)) => {}
            (Some("Exact"), Some(0)) => {
                return bad_request(
                    "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"",
                );
            }
            (Some("Exact"), Some(requested)) if requested < state.resource_version => {
                // Only the current state is kept, so older exact reads are as if compacted.
                return status_response(
                    StatusCode::GONE,
                    "Expired",
                    &format!(
                        "too old resource version: {requested} ({})",
                        state.resource_version
                    ),
                    None,
                );
            }
            (Some("Exact"), Some(_)) => {}
            (Some(other), Some(_)) => {
                return bad_request(&format!("unsupported resourceVersionMatch {other:?}"));
            }
        }
        if let Some(requested) = requested
            && requested > state.resource_version
        {
            return too_large_resource_version(requested, state.resource_version);
        }
        let items = state
            .objects
            .get(&kind)
            .map(|objects| {
                objects
                    .values()
                    .filter(|object| filter.matches(object))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let snapshot = Arc::new(Snapshot {
            kind,
            namespace: filter.namespace.clone(),
            resource_version: state.resource_version,
            items,
            has_selectors: !filter.labels.is_empty() || !filter.fields.is_empty(),
        });
        let paged = options
            .limit
            .is_some_and(|limit| snapshot.items.len() > limit);
        let id = paged.then(|| state.keep_snapshot(snapshot.clone()));
        (id, snapshot, 0)
    };
    drop(state);

    let total = snapshot.items.len();
    let start = start.min(total);
    let end = options
        .limit
        .map_or(total, |limit| start.saturating_add(limit).min(total));
    // Real lists leave kind and apiVersion out of their items.
    let items: Vec<Value> = snapshot.items[start..end]
        .iter()
        .map(|object| {
            let mut item = (**object).clone();
            if let Some(fields) = item.as_object_mut() {
                fields.remove("kind");
                fields.remove("apiVersion");
            }
            item
        })
        .collect();
    let mut metadata = json!({"resourceVersion": snapshot.resource_version.to_string()});
    if let Some(id) = snapshot_id
        && end < total
    {
        metadata["continue"] = ContinuePosition {
            snapshot: id,
            start: end,
        }
        .encode()
        .into();
        if !snapshot.has_selectors {
            metadata["remainingItemCount"] = (total - end).into();
        }
    }
    json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", kind.name()),
            "apiVersion": kind.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    )
}

/// Where the next page starts; encoded as an opaque hex string.
struct ContinuePosition {
    snapshot: u64,
    start: usize,
}

impl ContinuePosition {
    fn encode(&self) -> String {
        let text = format!("{}:{}", self.snapshot, self.start);
        text.bytes().map(|byte| format!("{byte:02x}")).collect()
    }

    fn decode(token: &str) -> Option<ContinuePosition> {
        if !token.len().is_multiple_of(2) || !token.is_ascii() {
            return None;
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let text = String::from_utf8(bytes).ok()?;
        let (snapshot, start) = text.split_once(':')?;
        Some(ContinuePosition {
            snapshot: snapshot.parse().ok()?,
            start: start.parse().ok()?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Watch

fn start_watch(shared: &Arc<Shared>, filter: Filter, options: &ListOptions) -> Response {
    let kind = filter.kind;
    // Absent and "0" both mean: start with synthetic ADDED events for the current state.
    let from = match options.resource_version.as_deref() {
        None | Some("0") => None,
        Some(value) => match parse_resource_version(value) {
            Ok(from) => Some(from),
            Err(message) => return bad_request(&message),
        },
    };
    if options.send_initial_events {
        if options.resource_version_match.as_deref() != Some("NotOlderThan") {
            return invalid(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            );
        }
        if !options.allow_bookmarks {
            return invalid("sendInitialEvents requires allowWatchBookmarks");
        }
    } else if options.resource_version_match.is_some() {
        return invalid(
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        );
    }

    let mut state = shared.state.lock();
    *state.watch_requests.entry(kind).or_default() += 1;
    if let Some(from) = from
        && from > state.resource_version
    {
        return too_large_resource_version(from, state.resource_version);
    }
    // Subscribed under the lock: later changes and commands all wake this watch.
    let mut signal = shared.signal.subscribe();
    let started = *signal.borrow_and_update();
    let mut cursor = state.resource_version;
    let mut initial = Vec::new();
    let mut ended = false;
    match from {
        Some(from) if !options.send_initial_events => {
            cursor = from;
            match state.drain(&filter, &mut cursor) {
                Some(lines) => initial = lines,
                None => {
                    initial.push(expired_line(from, state.compacted_rv));
                    ended = true;
                }
            }
        }
        _ => {
            if let Some(objects) = state.objects.get(&kind) {
                initial.extend(
                    objects
                        .values()
                        .filter(|object| filter.matches(object))
                        .map(|object| event_text("ADDED", object)),
                );
            }
            if options.send_initial_events {
                initial.push(bookmark_line(kind, cursor, true));
            }
        }
    }
    *state.open_watches.entry(kind).or_default() += 1;
    let timeout = options
        .timeout_seconds
        .map_or(state.max_watch_timeout, Duration::from_secs)
        .min(state.max_watch_timeout);
    let bookmark_every = options.allow_bookmarks.then_some(state.bookmark_interval);
    drop(state);

    let (lines, receiver) = mpsc::channel(WATCH_BUFFER_LINES);
    tokio::spawn(run_watch(WatchTask {
        open: OpenWatch {
            shared: shared.clone(),
            kind,
        },
        filter,
        cursor,
        started,
        signal,
        lines,
        initial,
        ended,
        deadline: Instant::now() + timeout,
        bookmark_every,
    }));
    let mut response = Response::new(Body::from_stream(LineStream(receiver)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    response
}

/// Counts an open watch until dropped.
struct OpenWatch {
    shared: Arc<Shared>,
    kind: Kind,
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock();
        if let Some(open) = state.open_watches.get_mut(&self.kind) {
            *open = open.saturating_sub(1);
        }
    }
}

struct WatchTask {
    open: OpenWatch,
    filter: Filter,
    /// Every change up to this resourceVersion has been considered for this watch.
    cursor: u64,
    started: Signal,
    signal: watch::Receiver<Signal>,
    lines: mpsc::Sender<Bytes>,
    initial: Vec<Bytes>,
    ended: bool,
    deadline: Instant,
    bookmark_every: Option<Duration>,
}

enum Wake {
    Timeout,
    ClientGone,
    Signal { server_alive: bool },
    Bookmark,
}

async fn run_watch(mut task: WatchTask) {
    for line in std::mem::take(&mut task.initial) {
        if task.lines.send(line).await.is_err() {
            return;
        }
    }
    if task.ended {
        return;
    }
    let mut bookmarks = task
        .bookmark_every
        .map(|every| tokio::time::interval_at(Instant::now() + every, every));
    let timeout = tokio::time::sleep_until(task.deadline);
    tokio::pin!(timeout);
    loop {
        let wake = tokio::select! {
            _ = &mut timeout => Wake::Timeout,
            _ = task.lines.closed() => Wake::ClientGone,
            changed = task.signal.changed() => Wake::Signal { server_alive: changed.is_ok() },
            _ = next_tick(&mut bookmarks) => Wake::Bookmark,
        };
        let (lines, end) = match wake {
            Wake::Timeout
            | Wake::ClientGone
            | Wake::Signal {
                server_alive: false,
            } => return,
            Wake::Signal { server_alive: true } => {
                let now = *task.signal.borrow_and_update();
                if now.expire_epoch != task.started.expire_epoch {
                    (vec![expired_line(task.cursor, now.resource_version)], true)
                } else if now.close_epoch != task.started.close_epoch {
                    return;
                } else {
                    task.catch_up()
                }
            }
            Wake::Bookmark => {
                let (mut lines, end) = task.catch_up();
                if !end {
                    // After catching up, so no event at or below the bookmark is still unsent.
                    lines.push(bookmark_line(task.filter.kind, task.cursor, false));
                }
                (lines, end)
            }
        };
        for line in lines {
            if task.lines.send(line).await.is_err() {
                return;
            }
        }
        if end {
            return;
        }
    }
}

impl WatchTask {
    /// Lines for the changes since the cursor, and whether the watch must end after them.
    fn catch_up(&mut self) -> (Vec<Bytes>, bool) {
        let state = self.open.shared.state.lock();
        let from = self.cursor;
        match state.drain(&self.filter, &mut self.cursor) {
            Some(lines) => (lines, false),
            // The watch fell behind the kept history, as a slow watcher of the real server does.
            None => (vec![expired_line(from, state.compacted_rv)], true),
        }
    }
}

async fn next_tick(bookmarks: &mut Option<tokio::time::Interval>) {
    match bookmarks {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// The response body of a watch: lines from the watch task until it ends.
struct LineStream(mpsc::Receiver<Bytes>);

impl futures::Stream for LineStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|line| line.map(Ok))
    }
}

/// The watch event for a change as a watch with `filter` sees it, following the real watch
/// cache: the object's state before and after the change decides between ADDED, MODIFIED and
/// DELETED; a DELETED caused by the object no longer matching carries its previous state with
/// the change's resourceVersion.
fn event_line(filter: &Filter, change: &Change) -> Option<Bytes> {
    let matches_now = change.change_type != ChangeType::Deleted && filter.matches(&change.object);
    let matched_before = change
        .previous
        .as_deref()
        .is_some_and(|previous| filter.matches(previous));
    match (matches_now, matched_before) {
        (true, false) => Some(event_text("ADDED", &change.object)),
        (true, true) => Some(event_text("MODIFIED", &change.object)),
        (false, true) => {
            let mut last = change.previous.as_deref().cloned().unwrap_or(Value::Null);
            set_resource_version(&mut last, change.resource_version);
            Some(event_text("DELETED", &last))
        }
        (false, false) => None,
    }
}

fn event_text(event_type: &str, object: &Value) -> Bytes {
    Bytes::from(format!(
        "{{\"type\":\"{event_type}\",\"object\":{object}}}\n"
    ))
}

fn bookmark_line(kind: Kind, resource_version: u64, initial_events_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object = json!({
        "kind": kind.name(),
        "apiVersion": kind.api_version(),
        "metadata": metadata,
    });
    event_text("BOOKMARK", &object)
}

fn expired_line(requested: u64, oldest: u64) -> Bytes {
    let status = status_body(
        410,
        "Expired",
        &format!("too old resource version: {requested} ({oldest})"),
        None,
    );
    event_text("ERROR", &status)
}

// ---------------------------------------------------------------------------------------------
// Selectors

/// Which objects a list or watch wants.
struct Filter {
    kind: Kind,
    namespace: Option<String>,
    labels: Vec<LabelRequirement>,
    fields: Vec<FieldRequirement>,
}

impl Filter {
    fn new(kind: Kind, namespace: Option<&str>, options: &ListOptions) -> Result<Filter, String> {
        let labels = match &options.label_selector {
            Some(selector) => parse_label_selector(selector)
                .map_err(|reason| format!("unable to parse requirement: {reason}"))?,
            None => Vec::new(),
        };
        let fields = match &options.field_selector {
            Some(selector) => parse_field_selector(kind, selector)?,
            None => Vec::new(),
        };
        Ok(Filter {
            kind,
            namespace: namespace.map(str::to_string),
            labels,
            fields,
        })
    }

    fn matches(&self, object: &Value) -> bool {
        if let Some(namespace) = &self.namespace
            && meta_str(object, "namespace") != Some(namespace.as_str())
        {
            return false;
        }
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        self.labels
            .iter()
            .all(|requirement| requirement.matches(labels))
            && self
                .fields
                .iter()
                .all(|requirement| requirement.matches(self.kind, object))
    }
}

#[derive(Clone, Debug)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

impl LabelRequirement {
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let label = |key: &str| labels.and_then(|labels| labels.get(key)?.as_str());
        match self {
            LabelRequirement::Equals(key, value) => label(key) == Some(value.as_str()),
            // Like the real selector, != and notin also match objects without the label.
            LabelRequirement::NotEquals(key, value) => label(key) != Some(value.as_str()),
            LabelRequirement::In(key, values) => {
                label(key).is_some_and(|found| values.iter().any(|value| value == found))
            }
            LabelRequirement::NotIn(key, values) => {
                label(key).is_none_or(|found| values.iter().all(|value| value != found))
            }
            LabelRequirement::Exists(key) => label(key).is_some(),
            LabelRequirement::DoesNotExist(key) => label(key).is_none(),
            LabelRequirement::GreaterThan(key, bound) => label(key)
                .and_then(|found| found.parse::<i64>().ok())
                .is_some_and(|found| found > *bound),
            LabelRequirement::LessThan(key, bound) => label(key)
                .and_then(|found| found.parse::<i64>().ok())
                .is_some_and(|found| found < *bound),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    Open,
    Close,
    Comma,
    Greater,
    Less,
}

fn tokenize(selector: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = selector.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            '!' if chars.peek() == Some(&'=') => {
                chars.next();
                Token::NotEquals
            }
            '!' => Token::Not,
            '=' if chars.peek() == Some(&'=') => {
                chars.next();
                Token::DoubleEquals
            }
            '=' => Token::Equals,
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            '>' => Token::Greater,
            '<' => Token::Less,
            first => {
                let mut word = String::from(first);
                while let Some(&next) = chars.peek() {
                    if next.is_whitespace() || "!=(),<>".contains(next) {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                Token::Word(word)
            }
        };
        tokens.push(token);
    }
    tokens
}

fn parse_label_selector(selector: &str) -> Result<Vec<LabelRequirement>, String> {
    let tokens = tokenize(selector);
    let mut requirements = Vec::new();
    if tokens.is_empty() {
        return Ok(requirements);
    }
    let mut position = 0;
    loop {
        requirements.push(parse_requirement(&tokens, &mut position)?);
        match tokens.get(position) {
            None => return Ok(requirements),
            Some(Token::Comma) => position += 1,
            Some(other) => return Err(format!("found {other:?}, expected: ',' or end of string")),
        }
    }
}

fn parse_requirement(tokens: &[Token], position: &mut usize) -> Result<LabelRequirement, String> {
    if tokens.get(*position) == Some(&Token::Not) {
        *position += 1;
        return Ok(LabelRequirement::DoesNotExist(label_key(tokens, position)?));
    }
    let key = label_key(tokens, position)?;
    let operator = tokens.get(*position).cloned();
    match operator {
        None | Some(Token::Comma) => Ok(LabelRequirement::Exists(key)),
        Some(Token::Equals | Token::DoubleEquals) => {
            *position += 1;
            Ok(LabelRequirement::Equals(
                key,
                label_value(tokens, position)?,
            ))
        }
        Some(Token::NotEquals) => {
            *position += 1;
            Ok(LabelRequirement::NotEquals(
                key,
                label_value(tokens, position)?,
            ))
        }
        Some(Token::Greater | Token::Less) => {
            *position += 1;
            let bound = match tokens.get(*position) {
                Some(Token::Word(word)) => word.parse::<i64>().map_err(|_| {
                    format!("for 'Gt', 'Lt' operators, the value must be an integer, got {word:?}")
                })?,
                other => return Err(format!("found {other:?}, expected: integer")),
            };
            *position += 1;
            Ok(if operator == Some(Token::Greater) {
                LabelRequirement::GreaterThan(key, bound)
            } else {
                LabelRequirement::LessThan(key, bound)
            })
        }
        Some(Token::Word(word)) if word == "in" || word == "notin" => {
            *position += 1;
            let values = label_values(tokens, position)?;
            Ok(if word == "in" {
                LabelRequirement::In(key, values)
            } else {
                LabelRequirement::NotIn(key, values)
            })
        }
        Some(other) => Err(format!(
            "found {other:?}, expected: in, notin, =, ==, !=, gt, lt"
        )),
    }
}

fn label_key(tokens: &[Token], position: &mut usize) -> Result<String, String> {
    match tokens.get(*position) {
        Some(Token::Word(key)) if valid_label_key(key) => {
            *position += 1;
            Ok(key.clone())
        }
        Some(Token::Word(key)) => Err(format!("invalid label key {key:?}")),
        other => Err(format!("found {other:?}, expected: identifier")),
    }
}

/// The value after `=`, `==` or `!=`; empty when the requirement ends there.
fn label_value(tokens: &[Token], position: &mut usize) -> Result<String, String> {
    match tokens.get(*position) {
        Some(Token::Word(value)) => {
            *position += 1;
            if valid_label_value(value) {
                Ok(value.clone())
            } else {
                Err(format!("invalid label value {value:?}"))
            }
        }
        None | Some(Token::Comma) => Ok(String::new()),
        Some(other) => Err(format!("found {other:?}, expected: identifier")),
    }
}

fn label_values(tokens: &[Token], position: &mut usize) -> Result<Vec<String>, String> {
    if tokens.get(*position) != Some(&Token::Open) {
        return Err(format!("found {:?}, expected: '('", tokens.get(*position)));
    }
    *position += 1;
    let mut values = Vec::new();
    loop {
        match tokens.get(*position) {
            Some(Token::Close) => {
                *position += 1;
                break;
            }
            Some(Token::Word(value)) => {
                if !valid_label_value(value) {
                    return Err(format!("invalid label value {value:?}"));
                }
                values.push(value.clone());
                *position += 1;
                match tokens.get(*position) {
                    Some(Token::Comma) => *position += 1,
                    Some(Token::Close) => {}
                    other => return Err(format!("found {other:?}, expected: ',' or ')'")),
                }
            }
            other => return Err(format!("found {other:?}, expected: value or ')'")),
        }
    }
    if values.is_empty() {
        return Err("for 'in', 'notin' operators, values set can't be empty".to_string());
    }
    Ok(values)
}

/// `[prefix/]name`: a DNS subdomain prefix and a name of at most 63 characters.
fn valid_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|prefix| {
        !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && valid_label_value(name)
}

/// Empty, or at most 63 alphanumerics, '-', '_' and '.', starting and ending alphanumeric.
fn valid_label_value(value: &str) -> bool {
    value.is_empty()
        || value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[derive(Clone, Debug)]
struct FieldRequirement {
    field: String,
    value: String,
    equals: bool,
}

impl FieldRequirement {
    fn matches(&self, kind: Kind, object: &Value) -> bool {
        (field_value(kind, object, &self.field).as_deref() == Some(self.value.as_str()))
            == self.equals
    }
}

fn parse_field_selector(kind: Kind, selector: &str) -> Result<Vec<FieldRequirement>, String> {
    let mut requirements = Vec::new();
    for term in selector.split(',').map(str::trim) {
        if term.is_empty() {
            continue;
        }
        let (field, equals, value) = if let Some((field, value)) = term.split_once("!=") {
            (field, false, value)
        } else if let Some((field, value)) = term.split_once("==") {
            (field, true, value)
        } else if let Some((field, value)) = term.split_once('=') {
            (field, true, value)
        } else {
            return Err(format!(
                "invalid selector: '{selector}'; can't understand '{term}'"
            ));
        };
        let field = field.trim();
        if field_value(kind, &Value::Null, field).is_none() {
            return Err(format!("field label not supported: {field}"));
        }
        requirements.push(FieldRequirement {
            field: field.to_string(),
            value: value.trim().to_string(),
            equals,
        });
    }
    Ok(requirements)
}

/// The value a field selector compares, or None if the kind does not support the field. Missing
/// fields read as "" (false for booleans), as on the real server.
fn field_value(kind: Kind, object: &Value, field: &str) -> Option<String> {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let flag = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    let value = match (kind, field) {
        (_, "metadata.name") => text("/metadata/name"),
        (_, "metadata.namespace") => text("/metadata/namespace"),
        (Kind::Pod, "spec.nodeName") => text("/spec/nodeName"),
        (Kind::Pod, "spec.restartPolicy") => text("/spec/restartPolicy"),
        (Kind::Pod, "spec.schedulerName") => text("/spec/schedulerName"),
        (Kind::Pod, "spec.serviceAccountName") => text("/spec/serviceAccountName"),
        (Kind::Pod, "spec.hostNetwork") => flag("/spec/hostNetwork"),
        (Kind::Pod, "status.phase") => text("/status/phase"),
        (Kind::Pod, "status.podIP") => text("/status/podIP"),
        (Kind::Pod, "status.nominatedNodeName") => text("/status/nominatedNodeName"),
        (Kind::Node, "spec.unschedulable") => flag("/spec/unschedulable"),
        (Kind::Namespace, "status.phase") => text("/status/phase"),
        (Kind::Service, "spec.clusterIP") => text("/spec/clusterIP"),
        (Kind::Service, "spec.type") => text("/spec/type"),
        _ => return None,
    };
    Some(value)
}

// ---------------------------------------------------------------------------------------------
// Scale subresource

fn get_scale(shared: &Arc<Shared>, namespace: &str, name: &str) -> Response {
    match shared
        .state
        .lock()
        .stored(Kind::StatefulSet, namespace, name)
    {
        Some(statefulset) => json_response(StatusCode::OK, &scale_of(&statefulset)),
        None => not_found(Kind::StatefulSet, name),
    }
}

fn patch_scale(shared: &Arc<Shared>, namespace: &str, name: &str, request: &Request) -> Response {
    let media_type = request
        .content_type
        .and_then(|content_type| content_type.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    // A strategic merge patch of a Scale is the same as a JSON merge patch.
    if !matches!(
        media_type,
        "application/merge-patch+json" | "application/strategic-merge-patch+json"
    ) {
        return status_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format ({media_type:?}) - this fake \
                 accepts application/merge-patch+json and application/strategic-merge-patch+json"
            ),
            None,
        );
    }
    let patch: Value = match serde_json::from_slice(request.body) {
        Ok(patch @ Value::Object(_)) => patch,
        Ok(_) => return bad_request("a merge patch of a Scale must be a JSON object"),
        Err(error) => return bad_request(&format!("error decoding patch: {error}")),
    };
    let mut state = shared.state.lock();
    let Some(statefulset) = state.stored(Kind::StatefulSet, namespace, name) else {
        return not_found(Kind::StatefulSet, name);
    };
    let current = scale_of(&statefulset);
    let mut patched = current.clone();
    merge_patch(&mut patched, &patch);
    // A resourceVersion in the patch is a precondition, as for any update.
    if patched.pointer("/metadata/resourceVersion") != current.pointer("/metadata/resourceVersion")
    {
        return status_response(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {} {name:?}: the object has been modified; \
                 please apply your changes to the latest version and try again",
                Kind::StatefulSet.qualified_resource()
            ),
            Some(json!({"name": name, "group": "apps", "kind": "statefulsets"})),
        );
    }
    let replicas = match patched.pointer("/spec/replicas") {
        // ScaleSpec.replicas is omitempty: absent means 0.
        None | Some(Value::Null) => 0,
        Some(value) => match value.as_i64() {
            Some(replicas) if replicas < 0 => {
                return status_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    &format!(
                        "Scale.autoscaling {name:?} is invalid: spec.replicas: Invalid value: \
                         {replicas}: must be greater than or equal to 0"
                    ),
                    Some(json!({"name": name, "group": "autoscaling", "kind": "Scale"})),
                );
            }
            Some(replicas) if replicas <= i64::from(i32::MAX) => replicas,
            _ => return bad_request(&format!("spec.replicas must be an int32, got {value}")),
        },
    };
    let mut updated = (*statefulset).clone();
    if let Some(fields) = updated.as_object_mut() {
        object_field(fields, "spec").insert("replicas".into(), replicas.into());
    }
    let stored = state.apply(Kind::StatefulSet, updated);
    shared.notify(&state);
    json_response(StatusCode::OK, &scale_of(&stored))
}

/// The autoscaling/v1 Scale view of a StatefulSet.
fn scale_of(statefulset: &Value) -> Value {
    let meta = |field: &str| meta_str(statefulset, field).unwrap_or("");
    let replicas = statefulset
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut spec = json!({});
    if replicas != 0 {
        spec["replicas"] = replicas.into();
    }
    let mut status = json!({
        "replicas": statefulset.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
    });
    let selector = selector_string(statefulset.pointer("/spec/selector"));
    if !selector.is_empty() {
        status["selector"] = selector.into();
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta("name"),
            "namespace": meta("namespace"),
            "uid": meta("uid"),
            "resourceVersion": meta("resourceVersion"),
            "creationTimestamp": meta("creationTimestamp"),
        },
        "spec": spec,
        "status": status,
    })
}

/// A metav1.LabelSelector in the string form Scale.status.selector uses, requirements by key.
fn selector_string(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return String::new();
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in labels {
            let value = value.as_str().unwrap_or("");
            requirements.push((key.clone(), format!("{key}={value}")));
        }
    }
    if let Some(expressions) = selector.get("matchExpressions").and_then(Value::as_array) {
        for expression in expressions {
            let key = expression.get("key").and_then(Value::as_str).unwrap_or("");
            let mut values: Vec<&str> = expression
                .get("values")
                .and_then(Value::as_array)
                .map(|values| values.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            values.sort_unstable();
            let text = match expression.get("operator").and_then(Value::as_str) {
                Some("In") => format!("{key} in ({})", values.join(",")),
                Some("NotIn") => format!("{key} notin ({})", values.join(",")),
                Some("Exists") => key.to_string(),
                Some("DoesNotExist") => format!("!{key}"),
                _ => continue,
            };
            requirements.push((key.to_string(), text));
        }
    }
    requirements.sort();
    requirements
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_fields) = target {
        for (key, value) in patch_fields {
            if value.is_null() {
                target_fields.remove(key);
            } else {
                merge_patch(
                    target_fields.entry(key.clone()).or_insert(Value::Null),
                    value,
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Responses and discovery documents

fn status_body(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(details) = details {
        status["details"] = details;
    }
    status
}

fn status_response(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response {
    json_response(code, &status_body(code.as_u16(), reason, message, details))
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    let mut response = (code, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn bad_request(message: &str) -> Response {
    status_response(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}

fn invalid(message: &str) -> Response {
    status_response(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message, None)
}

fn not_found(kind: Kind, name: &str) -> Response {
    let mut details = json!({"name": name, "kind": kind.plural()});
    if !kind.group().is_empty() {
        details["group"] = kind.group().into();
    }
    status_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{} {name:?} not found", kind.qualified_resource()),
        Some(details),
    )
}

fn path_not_found() -> Response {
    status_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

fn method_not_allowed() -> Response {
    status_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        Some(json!({})),
    )
}

fn injected_failure(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = match status.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    };
    let details =
        (status == StatusCode::TOO_MANY_REQUESTS).then(|| json!({"retryAfterSeconds": 1}));
    let mut response = status_response(
        status,
        reason,
        &format!("injected failure ({})", status.as_u16()),
        details,
    );
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn version_document() -> Value {
    json!({
        "major": "1",
        "minor": "34",
        "emulationMajor": "1",
        "emulationMinor": "34",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "33",
        "gitVersion": "v1.34.0",
        "gitCommit": "f28b4c9efbca5c5c0af716d9f2d5702667ee8a45",
        "gitTreeState": "clean",
        "buildDate": "2025-08-27T10:09:14Z",
        "goVersion": "go1.24.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn group_list_document() -> Value {
    let mut groups: Vec<&str> = Kind::ALL
        .into_iter()
        .map(Kind::group)
        .filter(|group| !group.is_empty())
        .collect();
    groups.push("autoscaling");
    groups.sort_unstable();
    groups.dedup();
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|group| {
            let version = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
            json!({"name": group, "versions": [version.clone()], "preferredVersion": version})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list_document(group_version: &str) -> Option<Value> {
    let mut resources: Vec<Value> = Kind::ALL
        .into_iter()
        .filter(|kind| kind.api_version() == group_version)
        .map(|kind| {
            json!({
                "name": kind.plural(),
                "singularName": kind.name().to_ascii_lowercase(),
                "namespaced": kind.namespaced(),
                "kind": kind.name(),
                "verbs": ["get", "list", "watch"],
            })
        })
        .collect();
    if resources.is_empty() {
        return None;
    }
    if group_version == Kind::StatefulSet.api_version() {
        resources.push(json!({
            "name": "statefulsets/scale",
            "singularName": "",
            "namespaced": true,
            "group": "autoscaling",
            "version": "v1",
            "kind": "Scale",
            "verbs": ["get", "patch"],
        }));
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

// ---------------------------------------------------------------------------------------------
// Identifiers and time

/// FNV-1a: stable across runs, so builders can derive uids and container IDs from names.
fn fnv1a(seed: u64, text: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn uuid_text(high: u64, low: u64) -> String {
    let hex = format!("{high:016x}{low:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn random_uid() -> String {
    uuid_text(fastrand::u64(..), fastrand::u64(..))
}

/// The uid the builders give an object (and references to it): stable for a kind, namespace and
/// name. Pass it to `.uid()`-style overrides to simulate a re-created object.
pub fn uid_for(kind: &str, namespace: &str, name: &str) -> String {
    let key = format!("{kind}/{namespace}/{name}");
    uuid_text(fnv1a(1, &key), fnv1a(2, &key))
}

/// The `containerd://<64 hex>` ID the pod builder gives a started container.
pub fn container_id(namespace: &str, pod: &str, container: &str) -> String {
    let key = format!("{namespace}/{pod}/{container}");
    let hex: String = (1..=4)
        .map(|seed| format!("{:016x}", fnv1a(seed, &key)))
        .collect();
    format!("containerd://{hex}")
}

/// RFC 3339 in UTC with second precision, the form of Kubernetes timestamps.
pub fn rfc3339(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (eras of 400 years).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

// ---------------------------------------------------------------------------------------------
// Object builders: JSON shaped like the real API's, with the server-side defaults filled in.

/// The time builders put in conditions and container states: fixed, so that building the same
/// object twice gives equal JSON and applying it again is a no-op.
const BUILT_AT: &str = "2026-01-01T00:00:00Z";

/// A JSON object of string pairs, as labels, annotations and selectors are.
pub fn string_map(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), Value::from(*value)))
            .collect(),
    )
}

fn owned_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn pairs_value(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(key, value)| (key.clone(), Value::from(value.as_str())))
            .collect(),
    )
}

/// metadata with labels/annotations left out when empty, as the API serializes it.
fn object_meta(
    namespace: Option<&str>,
    name: &str,
    uid: &str,
    labels: &[(String, String)],
    annotations: &[(String, String)],
) -> Value {
    let mut metadata = json!({"name": name, "uid": uid});
    if let Some(namespace) = namespace {
        metadata["namespace"] = namespace.into();
    }
    if !labels.is_empty() {
        metadata["labels"] = pairs_value(labels);
    }
    if !annotations.is_empty() {
        metadata["annotations"] = pairs_value(annotations);
    }
    metadata
}

/// The apiVersion an owner reference names for a kind of controller.
fn owner_api_version(kind: &str) -> &'static str {
    match kind {
        "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Deployment" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        _ => "v1",
    }
}

fn controller_reference(kind: &str, namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": owner_api_version(kind),
        "kind": kind,
        "name": name,
        "uid": uid_for(kind, namespace, name),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

#[derive(Clone, Debug)]
struct ContainerSpec {
    name: String,
    image: String,
    ports: Vec<(String, u16, String)>,
}

impl ContainerSpec {
    fn new(name: &str, image: &str, ports: &[(&str, u16, &str)]) -> ContainerSpec {
        ContainerSpec {
            name: name.to_string(),
            image: image.to_string(),
            ports: ports
                .iter()
                .map(|(name, port, protocol)| (name.to_string(), *port, protocol.to_string()))
                .collect(),
        }
    }

    fn spec(&self) -> Value {
        let mut container = json!({
            "name": self.name,
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        });
        if !self.ports.is_empty() {
            let ports: Vec<Value> = self
                .ports
                .iter()
                .map(|(name, port, protocol)| {
                    let mut entry = json!({"containerPort": port, "protocol": protocol});
                    if !name.is_empty() {
                        entry["name"] = name.as_str().into();
                    }
                    entry
                })
                .collect();
            container["ports"] = ports.into();
        }
        container
    }
}

/// Builder for a Pod; see `pod()`.
#[derive(Clone, Debug)]
pub struct PodBuilder {
    namespace: String,
    name: String,
    uid: String,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    pod_ip: Option<String>,
    node: Option<(String, String)>,
    phase: String,
    ready: bool,
    containers: Vec<ContainerSpec>,
    init_containers: Vec<ContainerSpec>,
    owner: Option<(String, String)>,
    host_network: bool,
    terminating: bool,
}

/// A Running, Ready pod with no node, IP or containers yet; add them with the builder methods.
pub fn pod(namespace: &str, name: &str) -> PodBuilder {
    PodBuilder {
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: uid_for("Pod", namespace, name),
        labels: Vec::new(),
        annotations: Vec::new(),
        pod_ip: None,
        node: None,
        phase: "Running".to_string(),
        ready: true,
        containers: Vec::new(),
        init_containers: Vec::new(),
        owner: None,
        host_network: false,
        terminating: false,
    }
}

impl PodBuilder {
    pub fn uid(mut self, uid: &str) -> Self {
        self.uid = uid.to_string();
        self
    }

    pub fn labels(mut self, labels: &[(&str, &str)]) -> Self {
        self.labels = owned_pairs(labels);
        self
    }

    pub fn annotations(mut self, annotations: &[(&str, &str)]) -> Self {
        self.annotations = owned_pairs(annotations);
        self
    }

    /// status.podIP and status.podIPs.
    pub fn ip(mut self, pod_ip: &str) -> Self {
        self.pod_ip = Some(pod_ip.to_string());
        self
    }

    /// spec.nodeName, and status.hostIP(s) as the node's address. A pod without a node is
    /// unscheduled: no container statuses.
    pub fn node(mut self, node_name: &str, host_ip: &str) -> Self {
        self.node = Some((node_name.to_string(), host_ip.to_string()));
        self
    }

    /// status.phase: Pending, Running, Succeeded, Failed or Unknown.
    pub fn phase(mut self, phase: &str) -> Self {
        self.phase = phase.to_string();
        self
    }

    /// The Ready and ContainersReady conditions and each container's `ready`.
    pub fn ready(mut self, ready: bool) -> Self {
        self.ready = ready;
        self
    }

    /// A container; ports are (name, containerPort, protocol), name "" for an unnamed port.
    pub fn container(mut self, name: &str, image: &str, ports: &[(&str, u16, &str)]) -> Self {
        self.containers.push(ContainerSpec::new(name, image, ports));
        self
    }

    /// An init container (completed once the pod runs).
    pub fn init_container(mut self, name: &str, image: &str, ports: &[(&str, u16, &str)]) -> Self {
        self.init_containers
            .push(ContainerSpec::new(name, image, ports));
        self
    }

    /// The controller owner reference: kind (StatefulSet, ReplicaSet, DaemonSet, Job, ...) and
    /// name, with the uid `uid_for` gives that owner.
    pub fn owner(mut self, kind: &str, name: &str) -> Self {
        self.owner = Some((kind.to_string(), name.to_string()));
        self
    }

    pub fn host_network(mut self) -> Self {
        self.host_network = true;
        self
    }

    /// Marks the pod as being deleted gracefully (metadata.deletionTimestamp), as the real
    /// server does before the DELETED event.
    pub fn terminating(mut self) -> Self {
        self.terminating = true;
        self
    }

    pub fn build(self) -> Value {
        let now = BUILT_AT;
        let mut metadata = object_meta(
            Some(&self.namespace),
            &self.name,
            &self.uid,
            &self.labels,
            &self.annotations,
        );
        if let Some((kind, name)) = &self.owner {
            metadata["ownerReferences"] =
                json!([controller_reference(kind, &self.namespace, name)]);
        }
        if self.terminating {
            metadata["deletionTimestamp"] = now.into();
            metadata["deletionGracePeriodSeconds"] = 30.into();
        }

        let mut spec = json!({
            "containers": self.containers.iter().map(ContainerSpec::spec).collect::<Vec<_>>(),
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
        });
        if !self.init_containers.is_empty() {
            spec["initContainers"] = self
                .init_containers
                .iter()
                .map(ContainerSpec::spec)
                .collect::<Vec<_>>()
                .into();
        }
        if self.host_network {
            spec["hostNetwork"] = true.into();
        }

        let scheduled = self.node.is_some();
        let started = scheduled && self.phase != "Pending";
        let condition = |condition_type: &str, ok: bool| {
            json!({
                "type": condition_type,
                "status": if ok { "True" } else { "False" },
                "lastProbeTime": null,
                "lastTransitionTime": now,
            })
        };
        let mut conditions = Vec::new();
        if scheduled {
            conditions.push(condition("PodReadyToStartContainers", started));
            conditions.push(condition("Initialized", started));
            conditions.push(condition("Ready", self.ready));
            conditions.push(condition("ContainersReady", self.ready));
        }
        conditions.push(condition("PodScheduled", scheduled));
        let mut status = json!({
            "phase": self.phase,
            "conditions": conditions,
            "qosClass": "BestEffort",
        });
        if let Some((node_name, host_ip)) = &self.node {
            spec["nodeName"] = node_name.as_str().into();
            status["hostIP"] = host_ip.as_str().into();
            status["hostIPs"] = json!([{"ip": host_ip}]);
            status["startTime"] = now.into();
            let main_state = match self.phase.as_str() {
                "Pending" => json!({"waiting": {"reason": "ContainerCreating"}}),
                "Succeeded" => json!({"terminated": {
                    "exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now,
                }}),
                "Failed" => json!({"terminated": {
                    "exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now,
                }}),
                _ => json!({"running": {"startedAt": now}}),
            };
            let container_status = |container: &ContainerSpec, state: &Value, ready: bool| {
                let mut entry = json!({
                    "name": container.name,
                    "image": container.image,
                    "imageID": "",
                    "ready": ready,
                    "restartCount": 0,
                    "started": ready,
                    "state": state,
                    "lastState": {},
                });
                if started {
                    entry["containerID"] =
                        container_id(&self.namespace, &self.name, &container.name).into();
                    entry["imageID"] = format!(
                        "{}@sha256:{:016x}{:016x}{:016x}{:016x}",
                        container.image,
                        fnv1a(5, &container.image),
                        fnv1a(6, &container.image),
                        fnv1a(7, &container.image),
                        fnv1a(8, &container.image)
                    )
                    .into();
                }
                entry
            };
            status["containerStatuses"] = self
                .containers
                .iter()
                .map(|container| container_status(container, &main_state, started && self.ready))
                .collect::<Vec<_>>()
                .into();
            if !self.init_containers.is_empty() {
                let init_state = if started {
                    json!({"terminated": {
                        "exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now,
                    }})
                } else {
                    json!({"waiting": {"reason": "PodInitializing"}})
                };
                status["initContainerStatuses"] = self
                    .init_containers
                    .iter()
                    .map(|container| container_status(container, &init_state, false))
                    .collect::<Vec<_>>()
                    .into();
            }
        }
        if let Some(pod_ip) = &self.pod_ip {
            status["podIP"] = pod_ip.as_str().into();
            status["podIPs"] = json!([{"ip": pod_ip}]);
        }
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": spec,
            "status": status,
        })
    }
}

/// Builder for a Service; see `service()`.
#[derive(Clone, Debug)]
pub struct ServiceBuilder {
    namespace: String,
    name: String,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    selector: Vec<(String, String)>,
    service_type: String,
    cluster_ip: String,
    ports: Vec<(String, u16, String, Value)>,
    external_name: Option<String>,
    external_ips: Vec<String>,
    load_balancer_ips: Vec<String>,
}

/// A ClusterIP service with a cluster IP derived from its name and no ports yet.
pub fn service(namespace: &str, name: &str) -> ServiceBuilder {
    let hash = fnv1a(3, &format!("{namespace}/{name}"));
    ServiceBuilder {
        namespace: namespace.to_string(),
        name: name.to_string(),
        labels: Vec::new(),
        annotations: Vec::new(),
        selector: Vec::new(),
        service_type: "ClusterIP".to_string(),
        cluster_ip: format!("10.96.{}.{}", (hash >> 8) % 256, hash % 254 + 1),
        ports: Vec::new(),
        external_name: None,
        external_ips: Vec::new(),
        load_balancer_ips: Vec::new(),
    }
}

impl ServiceBuilder {
    pub fn labels(mut self, labels: &[(&str, &str)]) -> Self {
        self.labels = owned_pairs(labels);
        self
    }

    pub fn annotations(mut self, annotations: &[(&str, &str)]) -> Self {
        self.annotations = owned_pairs(annotations);
        self
    }

    pub fn selector(mut self, selector: &[(&str, &str)]) -> Self {
        self.selector = owned_pairs(selector);
        self
    }

    /// A port: name ("" for none), port, protocol and targetPort (a number or a port name).
    pub fn port(
        mut self,
        name: &str,
        port: u16,
        protocol: &str,
        target_port: impl Into<Value>,
    ) -> Self {
        self.ports.push((
            name.to_string(),
            port,
            protocol.to_string(),
            target_port.into(),
        ));
        self
    }

    /// clusterIP "None".
    pub fn headless(mut self) -> Self {
        self.cluster_ip = "None".to_string();
        self
    }

    pub fn cluster_ip(mut self, cluster_ip: &str) -> Self {
        self.cluster_ip = cluster_ip.to_string();
        self
    }

    /// ClusterIP, NodePort or LoadBalancer (use `external_name` for ExternalName).
    pub fn service_type(mut self, service_type: &str) -> Self {
        self.service_type = service_type.to_string();
        self
    }

    /// An ExternalName service: no cluster IP, spec.externalName set.
    pub fn external_name(mut self, external_name: &str) -> Self {
        self.service_type = "ExternalName".to_string();
        self.external_name = Some(external_name.to_string());
        self
    }

    pub fn external_ips(mut self, ips: &[&str]) -> Self {
        self.external_ips = ips.iter().map(|ip| ip.to_string()).collect();
        self
    }

    /// status.loadBalancer.ingress[].ip (and type LoadBalancer).
    pub fn load_balancer_ips(mut self, ips: &[&str]) -> Self {
        self.service_type = "LoadBalancer".to_string();
        self.load_balancer_ips = ips.iter().map(|ip| ip.to_string()).collect();
        self
    }

    pub fn build(self) -> Value {
        let uid = uid_for("Service", &self.namespace, &self.name);
        let metadata = object_meta(
            Some(&self.namespace),
            &self.name,
            &uid,
            &self.labels,
            &self.annotations,
        );
        let node_ports = matches!(self.service_type.as_str(), "NodePort" | "LoadBalancer");
        let ports: Vec<Value> = self
            .ports
            .iter()
            .enumerate()
            .map(|(index, (name, port, protocol, target_port))| {
                let mut entry =
                    json!({"protocol": protocol, "port": port, "targetPort": target_port});
                if !name.is_empty() {
                    entry["name"] = name.as_str().into();
                }
                if node_ports {
                    entry["nodePort"] = (30000 + fnv1a(4, &self.name) % 2000 + index as u64).into();
                }
                entry
            })
            .collect();
        let mut spec = json!({"type": self.service_type, "sessionAffinity": "None"});
        if !ports.is_empty() {
            spec["ports"] = ports.into();
        }
        if !self.selector.is_empty() {
            spec["selector"] = pairs_value(&self.selector);
        }
        match &self.external_name {
            Some(external_name) => spec["externalName"] = external_name.as_str().into(),
            None => {
                spec["clusterIP"] = self.cluster_ip.as_str().into();
                spec["clusterIPs"] = json!([self.cluster_ip]);
                spec["ipFamilies"] = json!(["IPv4"]);
                spec["ipFamilyPolicy"] = "SingleStack".into();
                spec["internalTrafficPolicy"] = "Cluster".into();
            }
        }
        if node_ports {
            spec["externalTrafficPolicy"] = "Cluster".into();
        }
        if !self.external_ips.is_empty() {
            spec["externalIPs"] = json!(self.external_ips);
        }
        let mut load_balancer = json!({});
        if !self.load_balancer_ips.is_empty() {
            load_balancer["ingress"] = self
                .load_balancer_ips
                .iter()
                .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
                .collect::<Vec<_>>()
                .into();
        }
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata,
            "spec": spec,
            "status": {"loadBalancer": load_balancer},
        })
    }
}

/// One backend address of an EndpointSlice or Endpoints object.
#[derive(Clone, Debug)]
pub struct Backend {
    pub address: String,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    pub hostname: Option<String>,
    pub node_name: Option<String>,
    pub zone: Option<String>,
    /// targetRef: a Pod of this name in the object's namespace.
    pub pod: Option<String>,
}

impl Backend {
    /// A ready, serving address.
    pub fn new(address: &str) -> Backend {
        Backend {
            address: address.to_string(),
            ready: true,
            serving: true,
            terminating: false,
            hostname: None,
            node_name: None,
            zone: None,
            pod: None,
        }
    }

    /// Failing readiness: neither ready nor serving.
    pub fn not_ready(mut self) -> Self {
        self.ready = false;
        self.serving = false;
        self
    }

    /// Being deleted: never ready, still serving if it was (the controller's rule).
    pub fn terminating(mut self) -> Self {
        self.terminating = true;
        self.ready = false;
        self
    }

    pub fn hostname(mut self, hostname: &str) -> Self {
        self.hostname = Some(hostname.to_string());
        self
    }

    pub fn node(mut self, node_name: &str) -> Self {
        self.node_name = Some(node_name.to_string());
        self
    }

    pub fn zone(mut self, zone: &str) -> Self {
        self.zone = Some(zone.to_string());
        self
    }

    pub fn pod(mut self, pod_name: &str) -> Self {
        self.pod = Some(pod_name.to_string());
        self
    }

    fn target_ref(&self, namespace: &str) -> Option<Value> {
        self.pod.as_ref().map(|pod| {
            json!({
                "kind": "Pod",
                "namespace": namespace,
                "name": pod,
                "uid": uid_for("Pod", namespace, pod),
            })
        })
    }
}

/// Builder for a discovery.k8s.io/v1 EndpointSlice; see `endpoint_slice()`.
#[derive(Clone, Debug)]
pub struct EndpointSliceBuilder {
    namespace: String,
    name: String,
    service: String,
    labels: Vec<(String, String)>,
    address_type: String,
    backends: Vec<Backend>,
    ports: Vec<(String, u16, String)>,
}

/// An IPv4 EndpointSlice of `service`, labelled and owned the way the endpointslice controller
/// does it.
pub fn endpoint_slice(namespace: &str, name: &str, service: &str) -> EndpointSliceBuilder {
    EndpointSliceBuilder {
        namespace: namespace.to_string(),
        name: name.to_string(),
        service: service.to_string(),
        labels: Vec::new(),
        address_type: "IPv4".to_string(),
        backends: Vec::new(),
        ports: Vec::new(),
    }
}

impl EndpointSliceBuilder {
    /// Labels besides kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by.
    pub fn labels(mut self, labels: &[(&str, &str)]) -> Self {
        self.labels = owned_pairs(labels);
        self
    }

    pub fn address_type(mut self, address_type: &str) -> Self {
        self.address_type = address_type.to_string();
        self
    }

    pub fn backend(mut self, backend: Backend) -> Self {
        self.backends.push(backend);
        self
    }

    /// A port: name ("" for an unnamed service port), port and protocol.
    pub fn port(mut self, name: &str, port: u16, protocol: &str) -> Self {
        self.ports
            .push((name.to_string(), port, protocol.to_string()));
        self
    }

    pub fn build(self) -> Value {
        let mut labels = vec![
            (
                "endpointslice.kubernetes.io/managed-by".to_string(),
                "endpointslice-controller.k8s.io".to_string(),
            ),
            (
                "kubernetes.io/service-name".to_string(),
                self.service.clone(),
            ),
        ];
        labels.extend(self.labels.iter().cloned());
        let uid = uid_for("EndpointSlice", &self.namespace, &self.name);
        let mut metadata = object_meta(Some(&self.namespace), &self.name, &uid, &labels, &[]);
        metadata["generateName"] = format!("{}-", self.service).into();
        metadata["ownerReferences"] = json!([controller_reference(
            "Service",
            &self.namespace,
            &self.service
        )]);
        let endpoints: Vec<Value> = self
            .backends
            .iter()
            .map(|backend| {
                let mut endpoint = json!({
                    "addresses": [backend.address],
                    "conditions": {
                        "ready": backend.ready,
                        "serving": backend.serving,
                        "terminating": backend.terminating,
                    },
                });
                if let Some(hostname) = &backend.hostname {
                    endpoint["hostname"] = hostname.as_str().into();
                }
                if let Some(node_name) = &backend.node_name {
                    endpoint["nodeName"] = node_name.as_str().into();
                }
                if let Some(zone) = &backend.zone {
                    endpoint["zone"] = zone.as_str().into();
                }
                if let Some(target_ref) = backend.target_ref(&self.namespace) {
                    endpoint["targetRef"] = target_ref;
                }
                endpoint
            })
            .collect();
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|(name, port, protocol)| json!({"name": name, "protocol": protocol, "port": port}))
            .collect();
        // Both fields lack omitempty in Go: empty ones are serialized as null.
        let or_null = |list: Vec<Value>| {
            if list.is_empty() {
                Value::Null
            } else {
                Value::Array(list)
            }
        };
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": metadata,
            "addressType": self.address_type,
            "endpoints": or_null(endpoints),
            "ports": or_null(ports),
        })
    }
}

/// Builder for a core/v1 Endpoints object (one subset); see `endpoints()`.
#[derive(Clone, Debug)]
pub struct EndpointsBuilder {
    namespace: String,
    name: String,
    labels: Vec<(String, String)>,
    backends: Vec<Backend>,
    ports: Vec<(String, u16, String)>,
}

/// The Endpoints object of the service `name`.
pub fn endpoints(namespace: &str, name: &str) -> EndpointsBuilder {
    EndpointsBuilder {
        namespace: namespace.to_string(),
        name: name.to_string(),
        labels: Vec::new(),
        backends: Vec::new(),
        ports: Vec::new(),
    }
}

impl EndpointsBuilder {
    pub fn labels(mut self, labels: &[(&str, &str)]) -> Self {
        self.labels = owned_pairs(labels);
        self
    }

    /// Ready backends go to addresses, the others to notReadyAddresses.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backends.push(backend);
        self
    }

    pub fn port(mut self, name: &str, port: u16, protocol: &str) -> Self {
        self.ports
            .push((name.to_string(), port, protocol.to_string()));
        self
    }

    pub fn build(self) -> Value {
        let uid = uid_for("Endpoints", &self.namespace, &self.name);
        let metadata = object_meta(Some(&self.namespace), &self.name, &uid, &self.labels, &[]);
        let address = |backend: &Backend| {
            let mut entry = json!({"ip": backend.address});
            if let Some(hostname) = &backend.hostname {
                entry["hostname"] = hostname.as_str().into();
            }
            if let Some(node_name) = &backend.node_name {
                entry["nodeName"] = node_name.as_str().into();
            }
            if let Some(target_ref) = backend.target_ref(&self.namespace) {
                entry["targetRef"] = target_ref;
            }
            entry
        };
        let mut object = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": metadata});
        if !self.backends.is_empty() {
            let mut subset = json!({});
            let ready: Vec<Value> = self
                .backends
                .iter()
                .filter(|b| b.ready)
                .map(address)
                .collect();
            let not_ready: Vec<Value> = self
                .backends
                .iter()
                .filter(|b| !b.ready)
                .map(address)
                .collect();
            if !ready.is_empty() {
                subset["addresses"] = ready.into();
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = not_ready.into();
            }
            if !self.ports.is_empty() {
                subset["ports"] = self
                    .ports
                    .iter()
                    .map(|(name, port, protocol)| {
                        let mut entry = json!({"port": port, "protocol": protocol});
                        if !name.is_empty() {
                            entry["name"] = name.as_str().into();
                        }
                        entry
                    })
                    .collect::<Vec<_>>()
                    .into();
            }
            object["subsets"] = json!([subset]);
        }
        object
    }
}

/// A Ready node. `addresses` are (type, address): InternalIP, ExternalIP, Hostname, ...
pub fn node(name: &str, addresses: &[(&str, &str)], labels: &[(&str, &str)]) -> Value {
    let now = BUILT_AT;
    let metadata = object_meta(
        None,
        name,
        &uid_for("Node", "", name),
        &owned_pairs(labels),
        &[],
    );
    let addresses: Vec<Value> = addresses
        .iter()
        .map(|(address_type, address)| json!({"type": address_type, "address": address}))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": metadata,
        "spec": {},
        "status": {
            "addresses": addresses,
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }],
            // The kubelet port's JSON field really is capitalized.
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 13 (trixie)",
                "kernelVersion": "6.12.0",
                "containerRuntimeVersion": "containerd://2.1.4",
                "kubeletVersion": "v1.34.0",
                "kubeProxyVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    })
}

/// An Active namespace (the server adds the kubernetes.io/metadata.name label on apply).
pub fn namespace(name: &str, labels: &[(&str, &str)]) -> Value {
    let metadata = object_meta(
        None,
        name,
        &uid_for("Namespace", "", name),
        &owned_pairs(labels),
        &[],
    );
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

/// A StatefulSet selecting `match_labels`, its pods all ready. The scale subresource reports
/// spec.replicas and status.replicas from it.
pub fn statefulset(
    namespace: &str,
    name: &str,
    replicas: i32,
    match_labels: &[(&str, &str)],
) -> Value {
    let labels = owned_pairs(match_labels);
    let metadata = object_meta(
        Some(namespace),
        name,
        &uid_for("StatefulSet", namespace, name),
        &labels,
        &[],
    );
    let revision = format!("{name}-{:010x}", fnv1a(9, name) % 0xff_ffff_ffff);
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": pairs_value(&labels)},
            "serviceName": name,
            "podManagementPolicy": "OrderedReady",
            "revisionHistoryLimit": 10,
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": pairs_value(&labels)},
                "spec": {"containers": [{"name": name, "image": "promshard:test"}]},
            },
        },
        "status": {
            "replicas": replicas,
            "readyReplicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
            "observedGeneration": 1,
            "currentRevision": revision,
            "updateRevision": revision,
            "collisionCount": 0,
        },
    })
}

/// path, service name, service port.
type IngressPath = (String, String, u16);

/// Builder for a networking.k8s.io/v1 Ingress; see `ingress()`.
#[derive(Clone, Debug)]
pub struct IngressBuilder {
    namespace: String,
    name: String,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    class: Option<String>,
    /// (host, [(path, service, port)]).
    rules: Vec<(String, Vec<IngressPath>)>,
    tls: Vec<(Vec<String>, String)>,
}

pub fn ingress(namespace: &str, name: &str) -> IngressBuilder {
    IngressBuilder {
        namespace: namespace.to_string(),
        name: name.to_string(),
        labels: Vec::new(),
        annotations: Vec::new(),
        class: None,
        rules: Vec::new(),
        tls: Vec::new(),
    }
}

impl IngressBuilder {
    pub fn labels(mut self, labels: &[(&str, &str)]) -> Self {
        self.labels = owned_pairs(labels);
        self
    }

    pub fn annotations(mut self, annotations: &[(&str, &str)]) -> Self {
        self.annotations = owned_pairs(annotations);
        self
    }

    /// spec.ingressClassName.
    pub fn class(mut self, class: &str) -> Self {
        self.class = Some(class.to_string());
        self
    }

    /// A rule for `host` ("" for any host) with (path, service name, service port) entries,
    /// each of pathType Prefix.
    pub fn rule(mut self, host: &str, paths: &[(&str, &str, u16)]) -> Self {
        let paths = paths
            .iter()
            .map(|(path, service, port)| (path.to_string(), service.to_string(), *port))
            .collect();
        self.rules.push((host.to_string(), paths));
        self
    }

    pub fn tls(mut self, hosts: &[&str], secret_name: &str) -> Self {
        self.tls.push((
            hosts.iter().map(|host| host.to_string()).collect(),
            secret_name.to_string(),
        ));
        self
    }

    pub fn build(self) -> Value {
        let uid = uid_for("Ingress", &self.namespace, &self.name);
        let metadata = object_meta(
            Some(&self.namespace),
            &self.name,
            &uid,
            &self.labels,
            &self.annotations,
        );
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|(host, paths)| {
                let paths: Vec<Value> = paths
                    .iter()
                    .map(|(path, service, port)| {
                        json!({
                            "path": path,
                            "pathType": "Prefix",
                            "backend": {"service": {"name": service, "port": {"number": port}}},
                        })
                    })
                    .collect();
                let mut rule = json!({"http": {"paths": paths}});
                if !host.is_empty() {
                    rule["host"] = host.as_str().into();
                }
                rule
            })
            .collect();
        let mut spec = json!({});
        if let Some(class) = &self.class {
            spec["ingressClassName"] = class.as_str().into();
        }
        if !rules.is_empty() {
            spec["rules"] = rules.into();
        }
        if !self.tls.is_empty() {
            spec["tls"] = self
                .tls
                .iter()
                .map(|(hosts, secret_name)| json!({"hosts": hosts, "secretName": secret_name}))
                .collect::<Vec<_>>()
                .into();
        }
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": metadata,
            "spec": spec,
            "status": {"loadBalancer": {}},
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Reading watch streams in tests

/// What `WatchReader::next` found.
#[derive(Debug)]
pub enum WatchNext {
    Event(Value),
    /// The server ended the stream.
    Ended,
    /// Nothing arrived in time.
    Quiet,
}

/// Reads a watch response line by line, whatever the chunk boundaries.
pub struct WatchReader {
    response: reqwest::Response,
    buffer: Vec<u8>,
    ended: bool,
}

impl WatchReader {
    /// GETs `url` (a full watch URL) and checks the answer is a 200 JSON stream.
    pub async fn open(client: &reqwest::Client, url: &str) -> WatchReader {
        let response = client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|error| panic!("watch request {url}: {error}"));
        assert_eq!(response.status(), 200, "watch {url} answered {response:?}");
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        assert_eq!(
            content_type, "application/json",
            "content type of watch {url}"
        );
        WatchReader {
            response,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// The next event line, parsed; panics on a line that is not JSON.
    pub async fn next(&mut self, within: Duration) -> WatchNext {
        let deadline = Instant::now() + within;
        loop {
            if let Some(newline) = self.buffer.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=newline).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                let event = serde_json::from_str(&text)
                    .unwrap_or_else(|error| panic!("watch line is not JSON ({error}): {text:?}"));
                return WatchNext::Event(event);
            }
            if self.ended {
                assert!(
                    self.buffer.is_empty(),
                    "watch stream ended inside a line: {:?}",
                    String::from_utf8_lossy(&self.buffer)
                );
                return WatchNext::Ended;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return WatchNext::Quiet,
                Ok(Ok(Some(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(error)) => panic!("watch stream broke: {error}"),
            }
        }
    }

    /// The next event; panics if the stream ends or stays quiet for `within`.
    pub async fn event(&mut self, within: Duration) -> Value {
        match self.next(within).await {
            WatchNext::Event(event) => event,
            other => panic!("expected a watch event within {within:?}, got {other:?}"),
        }
    }

    /// The next event that is not a BOOKMARK.
    pub async fn change(&mut self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let event = self
                .event(deadline.saturating_duration_since(Instant::now()))
                .await;
            if event["type"] != "BOOKMARK" {
                return event;
            }
        }
    }

    /// Panics unless the server ends the stream within `within` with no event before.
    pub async fn expect_end(&mut self, within: Duration) {
        match self.next(within).await {
            WatchNext::Ended => {}
            other => panic!("expected the watch to end within {within:?}, got {other:?}"),
        }
    }

    /// Panics if anything (event or end) arrives within `quiet_for`.
    pub async fn expect_quiet(&mut self, quiet_for: Duration) {
        match self.next(quiet_for).await {
            WatchNext::Quiet => {}
            other => panic!("expected nothing for {quiet_for:?}, got {other:?}"),
        }
    }
}
