//! `--web.config.file` applied: basic authentication and response headers on every request
//! (pages, APIs and the peer API), TLS on every connection.
//!
//! Like exporter-toolkit, which reads the file again on every request and handshake, the file
//! and the TLS files it names are read again whenever one of them changes: certificates rotate
//! and users change without a restart. A file that no longer loads refuses every request (500)
//! and handshake until it is fixed; whether TLS is served at all is decided at start.

use crate::config::http::Secret;
use crate::config::web::{ClientAuthType, ClientName, TlsServerConfig, WebConfig, load_web_config};
use crate::http_client::{parse_certs, protocol_versions, read_file};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use parking_lot::Mutex;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Verified credentials remembered; the set starts over when full.
const VERIFIED_CAPACITY: usize = 1024;

/// The web config in force, read again when its files change.
pub struct WebAccess {
    path: PathBuf,
    current: Mutex<Current>,
    /// SHA-256 of (user, bcrypt hash, password) that bcrypt accepted: bcrypt is slow by design
    /// (tens of milliseconds), too slow for every request of a peer or a dashboard.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// One bcrypt verification at a time, as exporter-toolkit: a flood of wrong passwords
    /// costs one core, not all of them.
    bcrypt: tokio::sync::Semaphore,
    serves_tls: bool,
}

struct Current {
    /// The files the config was read from and their state then.
    watched: Vec<(PathBuf, Option<FileStamp>)>,
    loaded: Result<Arc<LoadedWebConfig>, String>,
}

/// What tells a changed file: modification time, size and inode (a Kubernetes secret update
/// swaps a symlink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

/// A web config ready to apply.
pub struct LoadedWebConfig {
    users: BTreeMap<String, Secret>,
    headers: Vec<(HeaderName, HeaderValue)>,
    tls: Option<Arc<rustls::ServerConfig>>,
    allowed_sans: Vec<ClientName>,
}

impl WebAccess {
    /// Loads `path`; an error here stops the start.
    pub fn open(path: &Path) -> Result<Arc<WebAccess>, String> {
        let current = load(path);
        let loaded = current.loaded.clone()?;
        let serves_tls = loaded.tls.is_some();
        Ok(Arc::new(WebAccess {
            path: path.to_path_buf(),
            current: Mutex::new(current),
            verified: Mutex::new(HashSet::new()),
            bcrypt: tokio::sync::Semaphore::new(1),
            serves_tls,
        }))
    }

    /// Whether connections are served with TLS (fixed at start).
    pub fn serves_tls(&self) -> bool {
        self.serves_tls
    }

    /// The config in force, read again first if one of its files changed.
    pub fn current(&self) -> Result<Arc<LoadedWebConfig>, String> {
        let mut current = self.current.lock();
        let changed = current
            .watched
            .iter()
            .any(|(path, then)| stamp(path) != *then);
        if changed {
            *current = load(&self.path);
            match &current.loaded {
                Ok(_) => tracing::info!(file = %self.path.display(), "web config reloaded"),
                Err(error) => {
                    tracing::error!(file = %self.path.display(), %error, "web config does not load: refusing requests until it does")
                }
            }
        }
        current.loaded.clone()
    }

    /// Whether the request's basic-auth credentials name a user and that user's password.
    async fn authorized(&self, users: &BTreeMap<String, Secret>, headers: &HeaderMap) -> bool {
        let Some((user, password)) = basic_credentials(headers) else {
            return false;
        };
        let hash = users.get(&user).map(|h| h.expose().to_string());
        let key = hash
            .as_deref()
            .map(|hash| credentials_digest(&user, hash, &password));
        let cached = |key: &Option<[u8; 32]>| {
            key.as_ref()
                .is_some_and(|key| self.verified.lock().contains(key))
        };
        if cached(&key) {
            return true;
        }
        let Ok(_permit) = self.bcrypt.acquire().await else {
            return false;
        };
        if cached(&key) {
            return true;
        }
        // An unknown user costs a bcrypt verification too: the time taken does not tell
        // which user names exist.
        let matches = tokio::task::spawn_blocking(move || {
            let hash = hash.as_deref().unwrap_or(DUMMY_HASH.as_str());
            bcrypt::verify(&password, hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let Some(key) = key.filter(|_| matches) else {
            return false;
        };
        let mut verified = self.verified.lock();
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(key);
        true
    }
}

/// A bcrypt hash no password is checked against in earnest, at the usual cost (htpasswd's
/// and exporter-toolkit's 10).
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| bcrypt::hash("promshard: no such user", 10).unwrap_or_default());

fn credentials_digest(user: &str, hash: &str, password: &[u8]) -> [u8; 32] {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in [user.as_bytes(), hash.as_bytes(), password] {
        context.update(&(part.len() as u64).to_le_bytes());
        context.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

/// `Authorization: Basic base64(user:password)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, Vec<u8>)> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let (scheme, encoded) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// Reads the config at `path` and everything it names.
fn load(path: &Path) -> Current {
    let mut watched = vec![(path.to_path_buf(), stamp(path))];
    let loaded = load_web_config(path)
        .map_err(|e| e.to_string())
        .and_then(|config| {
            if let Some(tls) = &config.tls_server_config {
                for file in [&tls.cert_file, &tls.key_file, &tls.client_ca_file]
                    .into_iter()
                    .flatten()
                {
                    watched.push((file.clone(), stamp(file)));
                }
            }
            LoadedWebConfig::new(config).map(Arc::new)
        });
    Current { watched, loaded }
}

impl LoadedWebConfig {
    fn new(config: WebConfig) -> Result<LoadedWebConfig, String> {
        let headers = config
            .http_server_config
            .headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("http_server_config: invalid header name {name:?}"))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| format!("http_server_config: invalid value for header {name}"))?;
                Ok((name, value))
            })
            .collect::<Result<_, String>>()?;
        let (tls, allowed_sans) = match &config.tls_server_config {
            Some(tls) => (
                Some(Arc::new(server_tls(tls, config.http_server_config.http2)?)),
                tls.client_allowed_sans.clone(),
            ),
            None => (None, Vec::new()),
        };
        Ok(LoadedWebConfig {
            users: config.basic_auth_users,
            headers,
            tls,
            allowed_sans,
        })
    }

    /// One line for `check web-config`.
    pub fn summary(&self) -> String {
        format!(
            "TLS {}, {} basic-auth user(s), {} response header(s)",
            if self.tls.is_some() { "on" } else { "off" },
            self.users.len(),
            self.headers.len()
        )
    }

    /// `client_allowed_sans`: the client's certificate names one of them.
    fn client_allowed(&self, connection: &ServerConnection) -> bool {
        if self.allowed_sans.is_empty() {
            return true;
        }
        let Some(cert) = connection.peer_certificates().and_then(|c| c.first()) else {
            return false;
        };
        let Ok(cert) = webpki::EndEntityCert::try_from(cert) else {
            return false;
        };
        self.allowed_sans
            .iter()
            .any(|name| cert.verify_is_valid_for_subject_name(&name.0).is_ok())
    }
}

/// rustls' server configuration for a `tls_server_config` (TLS 1.2 at least, as
/// exporter-toolkit's default).
fn server_tls(tls: &TlsServerConfig, http2: bool) -> Result<rustls::ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let min = tls
        .min_version
        .or(Some(crate::config::http::TlsVersion::TLS12));
    let versions = protocol_versions(min, tls.max_version, "tls_server_config")?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let verifier: Arc<dyn ClientCertVerifier> = match tls.client_auth_type {
        ClientAuthType::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuthType::RequestClientCert => Arc::new(AnyClientCert {
            provider: provider.clone(),
            mandatory: false,
        }),
        ClientAuthType::RequireAnyClientCert => Arc::new(AnyClientCert {
            provider: provider.clone(),
            mandatory: true,
        }),
        ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert => {
            let ca_file = tls
                .client_ca_file
                .as_deref()
                .ok_or("tls_server_config: client_auth_type needs client_ca_file")?;
            let pem = read_file(ca_file, "client CA")?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in parse_certs(pem.as_bytes(), "client CA")? {
                roots
                    .add(cert)
                    .map_err(|e| format!("unable to use client CA {}: {e}", ca_file.display()))?;
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if tls.client_auth_type == ClientAuthType::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| format!("unable to use client CA {}: {e}", ca_file.display()))?
        }
    };
    let (Some(cert_file), Some(key_file)) = (&tls.cert_file, &tls.key_file) else {
        return Err("tls_server_config: cert_file and key_file are both needed".into());
    };
    let certs = parse_certs(
        read_file(cert_file, "server certificate")?.as_bytes(),
        "server certificate",
    )?;
    let key = PrivateKeyDer::from_pem_slice(read_file(key_file, "server key")?.as_bytes())
        .map_err(|_| format!("no valid private key found in {}", key_file.display()))?;
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "unable to use server certificate {} and key {}: {e}",
                cert_file.display(),
                key_file.display()
            )
        })?;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// `RequestClientCert` and `RequireAnyClientCert`: a certificate is asked for (or required)
/// but not checked against any CA; its handshake signature still is.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
    mandatory: bool,
}

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
}

/// The middleware: response headers on everything; without valid credentials (when users
/// are configured) 401 and `WWW-Authenticate: Basic`, as exporter-toolkit answers.
pub async fn guard(State(access): State<Arc<WebAccess>>, request: Request, next: Next) -> Response {
    let Ok(loaded) = access.current() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n").into_response();
    };
    let mut response =
        if loaded.users.is_empty() || access.authorized(&loaded.users, request.headers()).await {
            next.run(request).await
        } else {
            (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Basic")],
                "Unauthorized\n",
            )
                .into_response()
        };
    for (name, value) in &loaded.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// `router` behind `access`.
pub fn protect(router: axum::Router, access: Arc<WebAccess>) -> axum::Router {
    router.layer(axum::middleware::from_fn_with_state(access, guard))
}

/// Accepts TCP connections and hands over those that finish a TLS handshake with the config
/// in force. Handshakes run side by side, so a slow client holds up nobody.
pub struct TlsListener {
    handshaken: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, access: Arc<WebAccess>) -> std::io::Result<TlsListener> {
        let local_addr = tcp.local_addr()?;
        let (tx, handshaken) = mpsc::channel(64);
        let accepting = tokio::spawn(accept_tls(tcp, access, tx));
        Ok(TlsListener {
            handshaken,
            local_addr,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept_tls(
    mut tcp: TcpListener,
    access: Arc<WebAccess>,
    handshaken: mpsc::Sender<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        // axum's accept logs and retries on errors such as running out of files.
        let (stream, peer) = axum::serve::Listener::accept(&mut tcp).await;
        let access = access.clone();
        let handshaken = handshaken.clone();
        tokio::spawn(async move {
            let loaded = match access.current() {
                Ok(loaded) => loaded,
                Err(_) => return,
            };
            let Some(tls) = loaded.tls.clone() else {
                tracing::error!(
                    "the web config no longer has tls_server_config: restart to serve plain HTTP"
                );
                return;
            };
            let accept = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            if !loaded.client_allowed(stream.get_ref().1) {
                tracing::debug!(%peer, "client certificate names none of client_allowed_sans");
                return;
            }
            let _ = handshaken.send((stream, peer)).await;
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accepting task only ends when aborted, that is with the listener.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose,
    };
    use tower::ServiceExt;

    /// Made with glibc's crypt (libxcrypt, an implementation other than ours):
    /// `python3 -c 'import crypt; print(crypt.crypt("alice-password", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))'`.
    const ALICE: &str = "$2b$10$XF/pPhi1f6SwdP5gwR6J3ORKy06KfmI0YbTEVQL5XNNqimHSL/Lxy";
    /// The same for "bob-password".
    const BOB: &str = "$2b$10$he5cU5GVFELjfEqjoP8NMeADlXcK8lz8CVgwaQBcAI1Wh2KHXNyQG";

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    fn guarded(access: Arc<WebAccess>) -> axum::Router {
        protect(
            axum::Router::new().route("/", axum::routing::get(|| async { "inside\n" })),
            access,
        )
    }

    async fn call(router: &axum::Router, authorization: Option<&str>) -> Response {
        let mut request = Request::builder().uri("/");
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    /// Rewrites `path` so that its stamp changes even within one clock tick.
    fn rewrite(path: &Path, text: &str) {
        let next = path.with_extension("next");
        std::fs::write(&next, text).unwrap();
        std::fs::rename(&next, path).unwrap();
    }

    #[tokio::test]
    async fn without_the_right_credentials_requests_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            format!("basic_auth_users:\n  alice: '{ALICE}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"),
        )
        .unwrap();
        let router = guarded(WebAccess::open(&path).unwrap());
        for authorization in [
            None,
            Some(basic("alice", "wrong").as_str()),
            Some(basic("mallory", "alice-password").as_str()),
            Some(basic("alice", "").as_str()),
            Some("Basic not-base64!"),
            Some("Bearer alice-password"),
        ] {
            let response = call(&router, authorization).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{authorization:?}"
            );
            assert_eq!(response.headers()[WWW_AUTHENTICATE], "Basic");
            assert_eq!(response.headers()["x-frame-options"], "deny");
        }
        // Right twice: the second answer comes from the cache of verified credentials.
        for _ in 0..2 {
            let response = call(&router, Some(&basic("alice", "alice-password"))).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["x-frame-options"], "deny");
        }
        let lowercase_scheme = basic("alice", "alice-password").replacen("Basic", "basic", 1);
        assert_eq!(
            call(&router, Some(&lowercase_scheme)).await.status(),
            StatusCode::OK
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_passwords_queue_for_bcrypt_but_a_verified_client_does_not_wait() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, format!("basic_auth_users:\n  alice: '{ALICE}'\n")).unwrap();
        let router = guarded(WebAccess::open(&path).unwrap());
        let alice = basic("alice", "alice-password");
        assert_eq!(call(&router, Some(&alice)).await.status(), StatusCode::OK);

        // Twenty wrong guesses take one bcrypt verification each, one at a time.
        const GUESSES: usize = 20;
        let refused = std::sync::Arc::new(AtomicUsize::new(0));
        let mut guesses = Vec::new();
        for n in 0..GUESSES {
            let router = router.clone();
            let refused = refused.clone();
            guesses.push(tokio::spawn(async move {
                let guess = basic("alice", &format!("guess-{n}"));
                let status = call(&router, Some(&guess)).await.status();
                refused.fetch_add(1, Ordering::SeqCst);
                status
            }));
        }
        // Once the first guess is refused, the others wait for bcrypt.
        while refused.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // Alice's verified password is answered from the cache, ahead of the queue.
        assert_eq!(call(&router, Some(&alice)).await.status(), StatusCode::OK);
        let refused_before = refused.load(Ordering::SeqCst);
        assert!(
            refused_before < GUESSES / 2,
            "the verified client waited for all {GUESSES} guesses"
        );
        for guess in guesses {
            assert_eq!(guess.await.unwrap(), StatusCode::UNAUTHORIZED);
        }
    }

    #[tokio::test]
    async fn a_changed_file_applies_to_the_next_request_and_a_broken_one_refuses_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, format!("basic_auth_users:\n  alice: '{ALICE}'\n")).unwrap();
        let router = guarded(WebAccess::open(&path).unwrap());
        let alice = basic("alice", "alice-password");
        let bob = basic("bob", "bob-password");
        assert_eq!(call(&router, Some(&alice)).await.status(), StatusCode::OK);
        assert_eq!(
            call(&router, Some(&bob)).await.status(),
            StatusCode::UNAUTHORIZED
        );

        // Alice's verified password is cached; the cache must not outlive her entry.
        rewrite(&path, &format!("basic_auth_users:\n  bob: '{BOB}'\n"));
        assert_eq!(
            call(&router, Some(&alice)).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(call(&router, Some(&bob)).await.status(), StatusCode::OK);

        rewrite(&path, "basic_auth_users:\n  bob: plaintext\n");
        let response = call(&router, Some(&bob)).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

        // An empty file: no users, everyone in.
        rewrite(&path, "");
        assert_eq!(call(&router, None).await.status(), StatusCode::OK);
    }

    #[test]
    fn a_file_that_does_not_load_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.yml");
        let error = WebAccess::open(&missing).err().unwrap();
        assert!(error.contains("missing.yml"), "{error}");
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
        )
        .unwrap();
        let error = WebAccess::open(&path).err().unwrap();
        assert!(error.contains("nope.crt"), "{error}");
    }

    #[test]
    fn credentials_are_read_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, basic("a:b", "c:d").parse().unwrap());
        // The user name ends at the first colon, as Go's BasicAuth reads it.
        assert_eq!(
            basic_credentials(&headers),
            Some(("a".to_string(), b"b:c:d".to_vec()))
        );
        headers.insert(AUTHORIZATION, "Basic".parse().unwrap());
        assert_eq!(basic_credentials(&headers), None);
        headers.insert(
            AUTHORIZATION,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("nocolon")
            )
            .parse()
            .unwrap(),
        );
        assert_eq!(basic_credentials(&headers), None);
    }

    struct Pki {
        ca_pem: String,
        server_cert: String,
        server_key: String,
        /// Client certificates: for `peer.promshard` and for `stranger.example`.
        peer: (String, String),
        stranger: (String, String),
    }

    fn pki() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let issue = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = issue(vec!["127.0.0.1".into()]);
        Pki {
            ca_pem: ca.pem(),
            server_cert,
            server_key,
            peer: issue(vec!["peer.promshard".into()]),
            stranger: issue(vec!["stranger.example".into()]),
        }
    }

    async fn serve_tls(access: Arc<WebAccess>) -> SocketAddr {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = TlsListener::new(tcp, access.clone()).unwrap();
        let address = listener.local_addr;
        tokio::spawn(axum::serve(listener, guarded(access)).into_future());
        address
    }

    async fn get(
        address: SocketAddr,
        ca_pem: &str,
        identity: Option<&(String, String)>,
    ) -> Result<StatusCode, String> {
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
        if let Some((cert, key)) = identity {
            builder = builder
                .identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
        }
        let client = builder.build().unwrap();
        client
            .get(format!("https://{address}/"))
            .send()
            .await
            .map(|r| r.status())
            .map_err(|e| crate::http_client::error_chain(&e))
    }

    #[tokio::test]
    async fn tls_with_client_certificates_and_allowed_names() {
        let pki = pki();
        let dir = tempfile::tempdir().unwrap();
        for (name, pem) in [
            ("ca.crt", &pki.ca_pem),
            ("server.crt", &pki.server_cert),
            ("server.key", &pki.server_key),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        let path = dir.path().join("web.yml");
        let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n";
        std::fs::write(
            &path,
            format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"),
        )
        .unwrap();
        let access = WebAccess::open(&path).unwrap();
        assert!(access.serves_tls());
        let address = serve_tls(access).await;

        assert_eq!(
            get(address, &pki.ca_pem, Some(&pki.peer)).await,
            Ok(StatusCode::OK)
        );
        assert_eq!(
            get(address, &pki.ca_pem, Some(&pki.stranger)).await,
            Ok(StatusCode::OK)
        );
        let error = get(address, &pki.ca_pem, None).await.unwrap_err();
        assert!(
            error.contains("CertificateRequired") || error.contains("certificate"),
            "{error}"
        );
        // Plain HTTP to the TLS port gets nothing back.
        assert!(
            reqwest::get(format!("http://{address}/")).await.is_err(),
            "plain HTTP answered"
        );

        // Only the peer's name is allowed now: the stranger's certificate, though signed by
        // the same CA, is turned away.
        rewrite(
            &path,
            &format!(
                "{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: [peer.promshard]\n"
            ),
        );
        assert_eq!(
            get(address, &pki.ca_pem, Some(&pki.peer)).await,
            Ok(StatusCode::OK)
        );
        assert!(
            get(address, &pki.ca_pem, Some(&pki.stranger))
                .await
                .is_err()
        );

        // Certificates given but not required: without one, in; with one, it must verify.
        rewrite(
            &path,
            &format!("{tls}  client_auth_type: VerifyClientCertIfGiven\n"),
        );
        assert_eq!(get(address, &pki.ca_pem, None).await, Ok(StatusCode::OK));
        assert_eq!(
            get(address, &pki.ca_pem, Some(&pki.peer)).await,
            Ok(StatusCode::OK)
        );
        // A client identity from a CA the server does not know.
        let other = self::pki().peer;
        assert!(get(address, &pki.ca_pem, Some(&other)).await.is_err());

        // RequireAnyClientCert: any certificate, even from another CA, but one is needed.
        rewrite(
            &path,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n",
        );
        assert_eq!(
            get(address, &pki.ca_pem, Some(&other)).await,
            Ok(StatusCode::OK)
        );
        assert!(get(address, &pki.ca_pem, None).await.is_err());
    }

    #[tokio::test]
    async fn a_rotated_certificate_is_served_to_the_next_client() {
        let first = pki();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server.crt"), &first.server_cert).unwrap();
        std::fs::write(dir.path().join("server.key"), &first.server_key).unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        )
        .unwrap();
        let address = serve_tls(WebAccess::open(&path).unwrap()).await;
        assert_eq!(get(address, &first.ca_pem, None).await, Ok(StatusCode::OK));

        let second = pki();
        // The key first, then the certificate, as a secret update may land them.
        rewrite(&dir.path().join("server.key"), &second.server_key);
        rewrite(&dir.path().join("server.crt"), &second.server_cert);
        assert_eq!(get(address, &second.ca_pem, None).await, Ok(StatusCode::OK));
        assert!(get(address, &first.ca_pem, None).await.is_err());
    }
}
