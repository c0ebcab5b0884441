//! An HTTP client built from an `http_config` (prometheus/common `NewClientFromConfig`).
//!
//! [`build`] turns an [`HttpClientConfig`] into an [`HttpClient`]: a `reqwest::Client` with the
//! client-level settings (TLS, proxy, redirects, HTTP/2) and the per-request settings that must be
//! evaluated on every request (authentication, `http_headers`), because secret files are re-read
//! on every request as Prometheus does.
//!
//! Usage: `client.get(url).await?` gives a `reqwest::RequestBuilder` that already carries the
//! authentication and configured headers; add what the caller needs (timeout, headers) and send.
//!
//! Notes on fidelity:
//! - `Authorization` (and cookies) are dropped by reqwest on a redirect to another host, scheme
//!   or port; Prometheus drops them on a redirect to another host (not a subdomain).
//! - rustls speaks TLS 1.2 and 1.3 only: a `min_version` below TLS 1.2 means TLS 1.2, and a
//!   `max_version` below TLS 1.2 is an error.
//! - `server_name` is used to verify the server certificate; the SNI sent is the URL's host.
//! - TLS files (`ca_file`, `cert_file`, `key_file`) are read when the client is built.

use crate::config::http::{HttpClientConfig, OAuth2, Secret, TlsConfig, TlsVersion};
use base64::Engine;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Redirects followed before giving up, as Go's `net/http` client.
const MAX_REDIRECTS: usize = 10;
/// A token is renewed this long before it expires (golang.org/x/oauth2 `expiryDelta`).
const TOKEN_EXPIRY_DELTA: Duration = Duration::from_secs(10);

/// A configured HTTP client; cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: reqwest::Client,
    per_request: Arc<PerRequest>,
}

#[derive(Debug)]
struct PerRequest {
    auth: Auth,
    /// Header name as parsed, as configured (for messages), and its values.
    headers: Vec<(HeaderName, String, crate::config::http::HeaderValues)>,
}

#[derive(Debug)]
enum Auth {
    None,
    Basic(crate::config::http::BasicAuth),
    Authorization(crate::config::http::Authorization),
    OAuth2(Box<OAuth2Source>),
}

/// Builds the client for `cfg`. `user_agent` is sent with every request, including the OAuth2
/// token requests. Errors name the setting or file at fault and never contain secret values.
pub fn build(cfg: &HttpClientConfig, user_agent: &str) -> Result<HttpClient, String> {
    build_with(cfg, user_agent, true)
}

/// Like [`build`], but with `decompress: false` the response body is handed over as sent,
/// so the caller can bound the decompressed size itself (scraping's `body_size_limit`).
pub fn build_with(
    cfg: &HttpClientConfig,
    user_agent: &str,
    decompress: bool,
) -> Result<HttpClient, String> {
    let mut builder = reqwest::Client::builder().user_agent(user_agent);
    if !decompress {
        builder = builder.no_gzip();
    }
    builder = apply_tls(builder, &cfg.tls_config, cfg.enable_http2)?;
    builder = apply_proxy(
        builder,
        cfg.proxy_url.as_deref(),
        cfg.no_proxy.as_deref(),
        cfg.proxy_from_environment,
    )?;
    builder = builder.redirect(if cfg.follow_redirects {
        reqwest::redirect::Policy::limited(MAX_REDIRECTS)
    } else {
        reqwest::redirect::Policy::none()
    });
    if !cfg.enable_http2 {
        builder = builder.http1_only();
    }
    let inner = builder
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))?;

    let auth = if let Some(basic) = &cfg.basic_auth {
        Auth::Basic(basic.clone())
    } else if let Some(authz) = &cfg.authorization {
        let auth_type = if authz.auth_type.trim().is_empty() {
            "Bearer"
        } else {
            authz.auth_type.trim()
        };
        HeaderValue::from_str(auth_type)
            .map_err(|_| format!("invalid authorization type {auth_type:?}"))?;
        let mut authz = authz.clone();
        authz.auth_type = auth_type.to_string();
        Auth::Authorization(authz)
    } else if let Some(oauth2) = &cfg.oauth2 {
        Auth::OAuth2(Box::new(OAuth2Source::new(oauth2, user_agent)?))
    } else {
        Auth::None
    };
    let mut headers = Vec::with_capacity(cfg.http_headers.len());
    for (name, values) in &cfg.http_headers {
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        for v in &values.values {
            HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {name:?}"))?;
        }
        for s in &values.secrets {
            HeaderValue::from_str(s.expose())
                .map_err(|_| format!("invalid secret value for header {name:?}"))?;
        }
        headers.push((parsed, name.clone(), values.clone()));
    }
    Ok(HttpClient {
        inner,
        per_request: Arc::new(PerRequest { auth, headers }),
    })
}

impl HttpClient {
    /// The underlying client, without per-request authentication or headers.
    pub fn inner(&self) -> &reqwest::Client {
        &self.inner
    }

    /// A GET request with authentication and `http_headers` applied.
    pub async fn get(&self, url: impl reqwest::IntoUrl) -> Result<RequestBuilder, String> {
        self.request(Method::GET, url).await
    }

    /// A POST request with authentication and `http_headers` applied.
    pub async fn post(&self, url: impl reqwest::IntoUrl) -> Result<RequestBuilder, String> {
        self.request(Method::POST, url).await
    }

    /// A request with authentication and `http_headers` applied. Secret files are read now;
    /// an OAuth2 token is fetched if none is cached or the cached one expired.
    pub async fn request(
        &self,
        method: Method,
        url: impl reqwest::IntoUrl,
    ) -> Result<RequestBuilder, String> {
        let mut headers = HeaderMap::new();
        for (header, name, values) in &self.per_request.headers {
            for v in &values.values {
                headers.append(
                    header.clone(),
                    header_value(v, || format!("invalid value for header {name:?}"))?,
                );
            }
            for s in &values.secrets {
                let mut value = header_value(s.expose(), || {
                    format!("invalid secret value for header {name:?}")
                })?;
                value.set_sensitive(true);
                headers.append(header.clone(), value);
            }
            for file in &values.files {
                let content = read_trimmed(file, &format!("header {name:?}"))?;
                let mut value = header_value(&content, || {
                    format!(
                        "invalid value for header {name:?} read from file {}",
                        file.display()
                    )
                })?;
                value.set_sensitive(true);
                headers.append(header.clone(), value);
            }
        }
        if let Some(value) = self.authorization_value().await? {
            headers.insert(AUTHORIZATION, value);
        }
        Ok(self.inner.request(method, url).headers(headers))
    }

    async fn authorization_value(&self) -> Result<Option<HeaderValue>, String> {
        let text = match &self.per_request.auth {
            Auth::None => return Ok(None),
            Auth::Basic(basic) => {
                let username = match &basic.username_file {
                    Some(file) => read_trimmed(file, "basic_auth username")?,
                    None => basic.username.clone(),
                };
                let password = read_secret(
                    basic.password.as_ref(),
                    basic.password_file.as_deref(),
                    "basic_auth password",
                )?;
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                format!("Basic {encoded}")
            }
            Auth::Authorization(authz) => {
                let credentials = read_secret(
                    authz.credentials.as_ref(),
                    authz.credentials_file.as_deref(),
                    "authorization credentials",
                )?;
                format!("{} {credentials}", authz.auth_type)
            }
            Auth::OAuth2(source) => source.authorization().await?,
        };
        let mut value = header_value(&text, || {
            "the Authorization header value is not a valid header value".into()
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

fn header_value(text: &str, err: impl FnOnce() -> String) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text).map_err(|_| err())
}

/// Reads a secret file and trims surrounding white space, as prometheus/common `FileSecret`.
fn read_trimmed(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("unable to read {what} file {}: {e}", path.display()))
}

fn read_secret(inline: Option<&Secret>, file: Option<&Path>, what: &str) -> Result<String, String> {
    match (inline, file) {
        (_, Some(file)) => read_trimmed(file, what),
        (Some(secret), None) => Ok(secret.expose().to_string()),
        (None, None) => Ok(String::new()),
    }
}

// ---------------------------------------------------------------------------------------------
// OAuth2 client credentials

struct OAuth2Source {
    config: OAuth2,
    client: reqwest::Client,
    state: tokio::sync::Mutex<OAuth2State>,
}

/// Shows neither the client secret read from a file nor the token.
impl std::fmt::Debug for OAuth2Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Source")
            .field("client_id", &self.config.client_id)
            .field("token_url", &redact_url(&self.config.token_url))
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct OAuth2State {
    /// The client secret the cached token was obtained with; a changed secret file drops it.
    secret: Option<String>,
    token: Option<Token>,
    /// Whether the token endpoint takes the client credentials in the body rather than in a
    /// basic-auth header, once known (golang.org/x/oauth2 `AuthStyleAutoDetect`).
    credentials_in_body: Option<bool>,
}

#[derive(Clone)]
struct Token {
    access_token: String,
    token_type: String,
    expiry: Option<Instant>,
}

impl Token {
    fn valid(&self) -> bool {
        match self.expiry {
            None => true,
            Some(expiry) => Instant::now() + TOKEN_EXPIRY_DELTA < expiry,
        }
    }

    /// golang.org/x/oauth2 `Token.Type`: the scheme normalized to its usual capitalization.
    fn scheme(&self) -> String {
        let t = self.token_type.as_str();
        if t.eq_ignore_ascii_case("bearer") || t.is_empty() {
            "Bearer".into()
        } else if t.eq_ignore_ascii_case("mac") {
            "MAC".into()
        } else if t.eq_ignore_ascii_case("basic") {
            "Basic".into()
        } else {
            t.into()
        }
    }
}

impl OAuth2Source {
    fn new(config: &OAuth2, user_agent: &str) -> Result<Self, String> {
        url::Url::parse(&config.token_url).map_err(|e| format!("invalid oauth2 token_url: {e}"))?;
        let mut builder = reqwest::Client::builder().user_agent(user_agent);
        builder =
            apply_tls(builder, &config.tls_config, true).map_err(|e| format!("oauth2: {e}"))?;
        builder = apply_proxy(
            builder,
            config.proxy_url.as_deref(),
            config.no_proxy.as_deref(),
            config.proxy_from_environment,
        )
        .map_err(|e| format!("oauth2: {e}"))?;
        let client = builder
            .build()
            .map_err(|e| format!("cannot build oauth2 HTTP client: {e}"))?;
        Ok(OAuth2Source {
            config: config.clone(),
            client,
            state: tokio::sync::Mutex::new(OAuth2State::default()),
        })
    }

    async fn authorization(&self) -> Result<String, String> {
        let secret = read_secret(
            self.config.client_secret.as_ref(),
            self.config.client_secret_file.as_deref(),
            "oauth2 client secret",
        )
        .map_err(|e| format!("unable to read oauth2 client secret: {e}"))?;
        let mut state = self.state.lock().await;
        if state.secret.as_deref() != Some(secret.as_str()) {
            state.token = None;
            state.secret = Some(secret.clone());
        }
        if let Some(token) = state.token.as_ref().filter(|t| t.valid()) {
            return Ok(format!("{} {}", token.scheme(), token.access_token));
        }
        let token = match state.credentials_in_body {
            Some(in_body) => self.fetch_token(&secret, in_body).await?,
            None => match self.fetch_token(&secret, false).await {
                Ok(token) => {
                    state.credentials_in_body = Some(false);
                    token
                }
                Err(header_err) => match self.fetch_token(&secret, true).await {
                    Ok(token) => {
                        state.credentials_in_body = Some(true);
                        token
                    }
                    Err(_) => return Err(header_err),
                },
            },
        };
        let value = format!("{} {}", token.scheme(), token.access_token);
        state.token = Some(token);
        Ok(value)
    }

    async fn fetch_token(&self, secret: &str, credentials_in_body: bool) -> Result<Token, String> {
        let c = &self.config;
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if !c.scopes.is_empty() {
                form.append_pair("scope", &c.scopes.join(" "));
            }
            for (k, v) in &c.endpoint_params {
                form.append_pair(k, v);
            }
            if credentials_in_body {
                form.append_pair("client_id", &c.client_id);
                if !secret.is_empty() {
                    form.append_pair("client_secret", secret);
                }
            }
            form.finish()
        };
        let mut request = self.client.post(&c.token_url).header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
        if !credentials_in_body {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(&c.client_id),
                enc(secret)
            ));
            let mut value = header_value(&format!("Basic {basic}"), || {
                "oauth2 client_id is not a valid header value".into()
            })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| format!("oauth2: cannot fetch token: {}", request_error(e)))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("oauth2: cannot read token response: {e}"))?;
        if !status.is_success() {
            let mut msg = format!(
                "oauth2: cannot fetch token from {}: server returned HTTP status {status}",
                redact_url(&c.token_url)
            );
            if let Ok(err) = serde_json::from_slice::<TokenError>(&body) {
                msg.push_str(&format!(" (error {:?})", err.error));
            }
            return Err(msg);
        }
        let raw: RawToken = if content_type.starts_with("application/x-www-form-urlencoded")
            || content_type.starts_with("text/plain")
        {
            let mut raw = RawToken::default();
            for (k, v) in url::form_urlencoded::parse(&body) {
                match &*k {
                    "access_token" => raw.access_token = v.into_owned(),
                    "token_type" => raw.token_type = v.into_owned(),
                    "expires_in" => raw.expires_in = v.parse().ok(),
                    _ => {}
                }
            }
            raw
        } else {
            let json: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| format!("oauth2: cannot parse token response: {e}"))?;
            RawToken {
                access_token: json
                    .get("access_token")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
                token_type: json
                    .get("token_type")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
                expires_in: json.get("expires_in").and_then(|v| {
                    v.as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                }),
            }
        };
        if raw.access_token.is_empty() {
            return Err("oauth2: server response missing access_token".into());
        }
        Ok(Token {
            access_token: raw.access_token,
            token_type: raw.token_type,
            expiry: raw
                .expires_in
                .filter(|s| *s > 0.0 && s.is_finite())
                .map(|s| Instant::now() + Duration::from_secs_f64(s.min(1e9))),
        })
    }
}

#[derive(Default)]
struct RawToken {
    access_token: String,
    token_type: String,
    expires_in: Option<f64>,
}

#[derive(serde::Deserialize)]
struct TokenError {
    error: String,
}

/// `url` with its password, if any, replaced by `xxxxx` (Go's `URL.Redacted`).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("xxxxx"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// A reqwest error with its sources, the URL's password redacted:
/// `error sending request for url (http://host/sd): ...: Connection refused`.
pub fn request_error(err: reqwest::Error) -> String {
    let url = err.url().map(|u| redact_url(u.as_str()));
    let err = err.without_url();
    let head = err.to_string();
    let chain = error_chain(&err);
    match url {
        Some(url) => format!("{head} for url ({url}){}", &chain[head.len()..]),
        None => chain,
    }
}

/// The error and its sources, which reqwest keeps apart (`error sending request: ... : connection refused`).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Proxy

fn apply_proxy(
    builder: reqwest::ClientBuilder,
    proxy_url: Option<&str>,
    no_proxy: Option<&str>,
    from_environment: bool,
) -> Result<reqwest::ClientBuilder, String> {
    if from_environment {
        // reqwest reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY (and their lowercase forms) by default.
        return Ok(builder);
    }
    let builder = builder.no_proxy();
    match proxy_url {
        None => Ok(builder),
        Some(url) => {
            let proxy = reqwest::Proxy::all(url).map_err(|e| format!("invalid proxy_url: {e}"))?;
            let proxy = proxy.no_proxy(no_proxy.and_then(reqwest::NoProxy::from_string));
            Ok(builder.proxy(proxy))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// TLS

fn apply_tls(
    builder: reqwest::ClientBuilder,
    tls: &TlsConfig,
    http2: bool,
) -> Result<reqwest::ClientBuilder, String> {
    let config = rustls_config(tls, http2)?;
    Ok(builder.tls_backend_preconfigured(config))
}

/// The TLS versions rustls may use within `min..=max`; `section` names the setting in errors.
pub(crate) fn protocol_versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
    section: &str,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    if let Some(max) = max
        && max < TlsVersion::TLS12
    {
        return Err(format!(
            "{section}.max_version {max:?} is not supported: only TLS 1.2 and TLS 1.3 are"
        ));
    }
    let allow = |v: TlsVersion| min.is_none_or(|min| v >= min) && max.is_none_or(|max| v <= max);
    let mut versions = Vec::new();
    if allow(TlsVersion::TLS13) {
        versions.push(&rustls::version::TLS13);
    }
    if allow(TlsVersion::TLS12) {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err(format!(
            "{section}: min_version and max_version leave no TLS version"
        ));
    }
    Ok(versions)
}

/// The rustls configuration for a `tls_config`, with ALPN set for HTTP/2 or HTTP/1.1 only.
fn rustls_config(tls: &TlsConfig, http2: bool) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions = protocol_versions(tls.min_version, tls.max_version, "tls_config")?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_config: {e}"))?;

    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(NoVerification(provider.clone()))
    } else {
        let base: Arc<dyn ServerCertVerifier> = match ca_pem(tls)? {
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                let certs = parse_certs(pem.as_bytes(), "CA")?;
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| format!("unable to use specified CA cert: {e}"))?;
                }
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .build()
                .map_err(|e| format!("unable to use specified CA cert: {e}"))?
            }
            None => Arc::new(
                rustls_platform_verifier::Verifier::new(provider.clone())
                    .map_err(|e| format!("cannot load the system's root certificates: {e}"))?,
            ),
        };
        if tls.server_name.is_empty() {
            base
        } else {
            let name = ServerName::try_from(tls.server_name.clone()).map_err(|_| {
                format!(
                    "tls_config.server_name {:?} is not a valid server name",
                    tls.server_name
                )
            })?;
            Arc::new(FixedServerName { inner: base, name })
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);

    let cert = match (&tls.cert, &tls.cert_file) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(file)) => Some(read_file(file, "client certificate")?),
        (None, None) => None,
    };
    let key = match (&tls.key, &tls.key_file) {
        (Some(k), _) => Some(k.expose().to_string()),
        (None, Some(file)) => Some(read_file(file, "client key")?),
        (None, None) => None,
    };
    let mut config = match (cert, key) {
        (Some(cert), Some(key)) => {
            let certs = parse_certs(cert.as_bytes(), "client certificate")?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|_| {
                "unable to use specified client cert and key: no valid private key found"
                    .to_string()
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("unable to use specified client cert and key: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

pub(crate) fn read_file(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("unable to read {what} file {}: {e}", path.display()))
}

fn ca_pem(tls: &TlsConfig) -> Result<Option<String>, String> {
    match (&tls.ca, &tls.ca_file) {
        (Some(ca), _) => Ok(Some(ca.clone())),
        (None, Some(file)) => read_file(file, "CA").map(Some),
        (None, None) => Ok(None),
    }
}

pub(crate) fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("unable to parse {what} PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "unable to use specified {what}: no certificate found"
        ));
    }
    Ok(certs)
}

/// Verifies the server certificate against `tls_config.server_name` instead of the URL host.
#[derive(Debug)]
struct FixedServerName {
    inner: Arc<dyn ServerCertVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedServerName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: any certificate is accepted; handshake signatures are still checked.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let mut tls = TlsConfig::default();
        assert_eq!(
            protocol_versions(tls.min_version, tls.max_version, "tls_config")
                .unwrap()
                .len(),
            2
        );
        tls.min_version = Some(TlsVersion::TLS13);
        assert_eq!(
            protocol_versions(tls.min_version, tls.max_version, "tls_config")
                .unwrap()
                .len(),
            1
        );
        tls.min_version = Some(TlsVersion::TLS10);
        tls.max_version = Some(TlsVersion::TLS12);
        let v = protocol_versions(tls.min_version, tls.max_version, "tls_config").unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].version, rustls::ProtocolVersion::TLSv1_2);
        tls.max_version = Some(TlsVersion::TLS11);
        assert!(
            protocol_versions(tls.min_version, tls.max_version, "tls_config")
                .unwrap_err()
                .contains("max_version")
        );
    }

    #[test]
    fn errors_name_the_file_and_hide_secrets() {
        let mut cfg = HttpClientConfig::default();
        cfg.tls_config.ca_file = Some("/nonexistent/ca.pem".into());
        let err = build(&cfg, "t").unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");

        let mut cfg = HttpClientConfig::default();
        cfg.tls_config.ca = Some("not a pem".into());
        assert!(build(&cfg, "t").unwrap_err().contains("CA"));

        let mut cfg = HttpClientConfig::default();
        cfg.http_headers.insert(
            "X-Secret".into(),
            crate::config::http::HeaderValues {
                secrets: vec![Secret("bad\nvalue-s3cr3t".into())],
                ..Default::default()
            },
        );
        let err = build(&cfg, "t").unwrap_err();
        assert!(err.contains("X-Secret") && !err.contains("s3cr3t"), "{err}");
    }

    #[tokio::test]
    async fn missing_secret_file_is_named() {
        let cfg = HttpClientConfig {
            authorization: Some(crate::config::http::Authorization {
                auth_type: "Bearer".into(),
                credentials: None,
                credentials_file: Some("/nonexistent/token".into()),
            }),
            ..Default::default()
        };
        let client = build(&cfg, "t").unwrap();
        let err = client.get("http://127.0.0.1:1/").await.unwrap_err();
        assert!(
            err.contains("/nonexistent/token") && err.contains("authorization credentials"),
            "{err}"
        );
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("http://user:pw@host:1/p?q=1"),
            "http://user:xxxxx@host:1/p?q=1"
        );
        assert_eq!(redact_url("http://user@host/"), "http://user@host/");
        assert_eq!(redact_url("not a url"), "not a url");
        let cfg = HttpClientConfig {
            oauth2: Some(OAuth2 {
                client_id: "id".into(),
                client_secret: Some(Secret("hidden-secret".into())),
                token_url: "http://u:tokenpw@127.0.0.1:1/t".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let debug = format!("{:?}", build(&cfg, "t").unwrap());
        assert!(
            !debug.contains("hidden-secret") && !debug.contains("tokenpw"),
            "{debug}"
        );
    }

    #[tokio::test]
    async fn request_errors_redact_passwords() {
        let client = build(&HttpClientConfig::default(), "t").unwrap();
        let err = client
            .get("http://user:pw-s3cret@127.0.0.1:1/x")
            .await
            .unwrap()
            .send()
            .await
            .unwrap_err();
        let text = request_error(err);
        // reqwest moves URL credentials into the Authorization header; either way none is shown.
        assert!(
            text.starts_with("error sending request for url (http://"),
            "{text}"
        );
        assert!(
            text.contains("127.0.0.1:1/x): ") && text.contains("Connection refused"),
            "{text}"
        );
        assert!(!text.contains("pw-s3cret"), "{text}");
    }

    #[test]
    fn token_scheme() {
        let t = |ty: &str| {
            Token {
                access_token: "x".into(),
                token_type: ty.into(),
                expiry: None,
            }
            .scheme()
        };
        assert_eq!(t(""), "Bearer");
        assert_eq!(t("bearer"), "Bearer");
        assert_eq!(t("mac"), "MAC");
        assert_eq!(t("Custom"), "Custom");
    }
}
