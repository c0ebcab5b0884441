//! `http_config` of prometheus/common (`config/http_config.go`, `config/headers.go`):
//! authentication, TLS, proxy and headers, inlined into scrape configs, HTTP-based service
//! discovery and remote write. Validation and messages follow `HTTPClientConfig.Validate`,
//! `TLSConfig.Validate` and `ProxyConfig.Validate`.

use super::quote::go_quote;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret from the config: never printed, serialized as `<secret>`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<secret>")
    }
}

/// Serializes a URL with its password replaced by `xxxxx`, as prometheus/common `URL.Redacted`.
pub fn serialize_redacted_url<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url(url))
}

fn serialize_redacted_url_opt<S: Serializer>(
    url: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_str(&redact_url(url)),
        None => serializer.serialize_none(),
    }
}

/// `url` with the password of its user info replaced by `xxxxx`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let marker = format!(":{}@", parsed.password().unwrap_or_default());
            if url.contains(&marker) {
                // Keep the URL as written, only the password replaced.
                url.replacen(&marker, ":xxxxx@", 1)
            } else {
                let _ = parsed.set_password(Some("xxxxx"));
                parsed.to_string()
            }
        }
        Ok(_) => url.to_string(),
        // Not parsable as an absolute URL: hide anything between `//` and the last `@`.
        Err(_) => match (url.find("//"), url.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                format!("{}xxxxx{}", &url[..start + 2], &url[at..])
            }
            _ => url.to_string(),
        },
    }
}

/// Checks a URL as Go's `url.Parse` would at load time: relative references are accepted.
pub fn check_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => Ok(()),
        Err(e) => Err(format!("parse {}: {e}", go_quote(url))),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme; `Bearer` when unset.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub auth_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
}

/// `proxy_connect_header`: headers sent to the proxy on CONNECT, all treated as secrets.
pub type ProxyHeader = BTreeMap<String, Vec<Secret>>;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OAuth2 {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    pub token_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    pub tls_config: TlsConfig,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_redacted_url_opt"
    )]
    pub proxy_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    pub proxy_from_environment: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: ProxyHeader,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOAuth2 {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<Secret>,
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    endpoint_params: Option<BTreeMap<String, String>>,
    #[serde(default)]
    tls_config: Option<TlsConfig>,
    #[serde(default)]
    proxy_url: Option<String>,
    #[serde(default)]
    no_proxy: Option<String>,
    #[serde(default)]
    proxy_from_environment: Option<bool>,
    #[serde(default)]
    proxy_connect_header: Option<ProxyHeader>,
}

/// Like Go's `OAuth2.UnmarshalYAML`, the proxy settings are validated as the section is read.
impl<'de> Deserialize<'de> for OAuth2 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawOAuth2::deserialize(deserializer)?;
        let proxy_url = non_empty(raw.proxy_url);
        let no_proxy = non_empty(raw.no_proxy);
        let proxy_from_environment = raw.proxy_from_environment.unwrap_or(false);
        let proxy_connect_header = raw.proxy_connect_header.unwrap_or_default();
        if let Some(url) = &proxy_url {
            check_url(url).map_err(serde::de::Error::custom)?;
        }
        validate_proxy(
            proxy_url.as_deref(),
            no_proxy.as_deref(),
            proxy_from_environment,
            &proxy_connect_header,
        )
        .map_err(serde::de::Error::custom)?;
        Ok(OAuth2 {
            client_id: raw.client_id.unwrap_or_default(),
            client_secret: non_empty_secret(raw.client_secret),
            client_secret_file: non_empty_path(raw.client_secret_file),
            scopes: raw.scopes.unwrap_or_default(),
            token_url: raw.token_url.unwrap_or_default(),
            endpoint_params: raw.endpoint_params.unwrap_or_default(),
            tls_config: raw.tls_config.unwrap_or_default(),
            proxy_url,
            no_proxy,
            proxy_from_environment,
            proxy_connect_header,
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TlsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    pub insecure_skip_verify: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_version: Option<TlsVersion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTlsConfig {
    #[serde(default)]
    ca: Option<String>,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    cert: Option<String>,
    #[serde(default)]
    cert_file: Option<PathBuf>,
    #[serde(default)]
    key: Option<Secret>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    server_name: Option<String>,
    #[serde(default)]
    insecure_skip_verify: Option<bool>,
    #[serde(default)]
    min_version: Option<TlsVersion>,
    #[serde(default)]
    max_version: Option<TlsVersion>,
}

/// Like Go's `TLSConfig.UnmarshalYAML`, the section is validated as it is read.
impl<'de> Deserialize<'de> for TlsConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawTlsConfig::deserialize(deserializer)?;
        let tls = TlsConfig {
            ca: non_empty(raw.ca),
            ca_file: non_empty_path(raw.ca_file),
            cert: non_empty(raw.cert),
            cert_file: non_empty_path(raw.cert_file),
            key: non_empty_secret(raw.key),
            key_file: non_empty_path(raw.key_file),
            server_name: raw.server_name.unwrap_or_default(),
            insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
            min_version: raw.min_version,
            max_version: raw.max_version,
        };
        tls.validate().map_err(serde::de::Error::custom)?;
        Ok(tls)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "TLS10" => Ok(TlsVersion::TLS10),
            "TLS11" => Ok(TlsVersion::TLS11),
            "TLS12" => Ok(TlsVersion::TLS12),
            "TLS13" => Ok(TlsVersion::TLS13),
            _ => Err(serde::de::Error::custom(format!(
                "unknown TLS version: {text}"
            ))),
        }
    }
}

/// One entry of `http_headers`: plain values, secret values and values read from files.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderValues {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
}

/// Headers `http_headers` may not set (prometheus/common `ReservedHeaders`), canonical form.
pub const RESERVED_HEADERS: &[&str] = &[
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// Go's `http.CanonicalHeaderKey`: `x-foo-bar` → `X-Foo-Bar`; a name with a byte that is not
/// a token character is returned unchanged.
pub fn canonical_header_key(name: &str) -> String {
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !name.bytes().all(is_token) {
        return name.to_string();
    }
    let mut upper = true;
    name.bytes()
        .map(|b| {
            let c = if upper {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
            upper = b == b'-';
            c as char
        })
        .collect()
}

/// The resolved HTTP client settings of one scrape config, SD config or remote write.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpClientConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    pub tls_config: TlsConfig,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_redacted_url_opt"
    )]
    pub proxy_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    pub proxy_from_environment: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: ProxyHeader,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<String, HeaderValues>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            follow_redirects: true,
            enable_http2: true,
            http_headers: BTreeMap::new(),
        }
    }
}

/// The `http_config` fields as they appear inline in a YAML section.
///
/// Sections embed it with `#[serde(flatten)]`-free field lists through [`http_client_fields!`],
/// which keeps `deny_unknown_fields` and precise error locations.
#[derive(Clone, Debug, Default)]
pub struct RawHttpClientFields {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub oauth2: Option<OAuth2>,
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<PathBuf>,
    pub tls_config: Option<TlsConfig>,
    pub proxy_url: Option<String>,
    pub no_proxy: Option<String>,
    pub proxy_from_environment: Option<bool>,
    pub proxy_connect_header: Option<ProxyHeader>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    pub http_headers: Option<BTreeMap<String, HeaderValues>>,
}

/// Declares a raw config struct with the `http_config` fields appended, and a method
/// `http_fields(&mut self) -> RawHttpClientFields` that takes them out.
macro_rules! http_client_fields {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $ty, )*
            #[serde(default)] basic_auth: Option<$crate::config::http::BasicAuth>,
            #[serde(default)] authorization: Option<$crate::config::http::Authorization>,
            #[serde(default)] oauth2: Option<$crate::config::http::OAuth2>,
            #[serde(default)] bearer_token: Option<$crate::config::http::Secret>,
            #[serde(default)] bearer_token_file: Option<std::path::PathBuf>,
            #[serde(default)] tls_config: Option<$crate::config::http::TlsConfig>,
            #[serde(default)] proxy_url: Option<String>,
            #[serde(default)] no_proxy: Option<String>,
            #[serde(default)] proxy_from_environment: Option<bool>,
            #[serde(default)] proxy_connect_header: Option<$crate::config::http::ProxyHeader>,
            #[serde(default)] follow_redirects: Option<bool>,
            #[serde(default)] enable_http2: Option<bool>,
            #[serde(default)] http_headers: Option<std::collections::BTreeMap<String, $crate::config::http::HeaderValues>>,
        }

        impl $name {
            #[allow(dead_code)]
            fn http_fields(&mut self) -> $crate::config::http::RawHttpClientFields {
                $crate::config::http::RawHttpClientFields {
                    basic_auth: self.basic_auth.take(),
                    authorization: self.authorization.take(),
                    oauth2: self.oauth2.take(),
                    bearer_token: self.bearer_token.take(),
                    bearer_token_file: self.bearer_token_file.take(),
                    tls_config: self.tls_config.take(),
                    proxy_url: self.proxy_url.take(),
                    no_proxy: self.no_proxy.take(),
                    proxy_from_environment: self.proxy_from_environment.take(),
                    proxy_connect_header: self.proxy_connect_header.take(),
                    follow_redirects: self.follow_redirects.take(),
                    enable_http2: self.enable_http2.take(),
                    http_headers: self.http_headers.take(),
                }
            }
        }
    };
}
pub(crate) use http_client_fields;

/// Go treats an empty string as "not set" everywhere in `http_config`.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn non_empty_secret(value: Option<Secret>) -> Option<Secret> {
    value.filter(|v| !v.0.is_empty())
}

fn non_empty_path(value: Option<PathBuf>) -> Option<PathBuf> {
    value.filter(|v| !v.as_os_str().is_empty())
}

/// prometheus/common `ProxyConfig.Validate`.
fn validate_proxy(
    proxy_url: Option<&str>,
    no_proxy: Option<&str>,
    from_environment: bool,
    connect_header: &ProxyHeader,
) -> Result<(), String> {
    if !connect_header.is_empty() && !from_environment && proxy_url.is_none() {
        return Err(
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into()
        );
    }
    if from_environment && proxy_url.is_some() {
        return Err(
            "if proxy_from_environment is configured, proxy_url must not be configured".into(),
        );
    }
    if from_environment && no_proxy.is_some() {
        return Err(
            "if proxy_from_environment is configured, no_proxy must not be configured".into(),
        );
    }
    if proxy_url.is_none() && no_proxy.is_some() {
        return Err("if no_proxy is configured, proxy_url must also be configured".into());
    }
    Ok(())
}

impl RawHttpClientFields {
    /// Validates as prometheus/common `HTTPClientConfig.Validate` does, in the same order, and
    /// resolves the legacy bearer token into `authorization`. `enable_http2_default` differs
    /// between scraping (true) and remote write (false).
    pub fn resolve(self, enable_http2_default: bool) -> Result<HttpClientConfig, String> {
        let bearer_token = non_empty_secret(self.bearer_token);
        let bearer_token_file = non_empty_path(self.bearer_token_file);
        let has_bearer = bearer_token.is_some() || bearer_token_file.is_some();
        let mut basic_auth = self.basic_auth;
        let mut authorization = self.authorization;
        let oauth2 = self.oauth2;

        if bearer_token.is_some() && bearer_token_file.is_some() {
            return Err(
                "at most one of bearer_token & bearer_token_file must be configured".into(),
            );
        }
        if (basic_auth.is_some() || oauth2.is_some()) && has_bearer {
            return Err("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured".into());
        }
        if let Some(basic) = &mut basic_auth {
            basic.username_file = non_empty_path(basic.username_file.take());
            basic.password = non_empty_secret(basic.password.take());
            basic.password_file = non_empty_path(basic.password_file.take());
            if !basic.username.is_empty() && basic.username_file.is_some() {
                return Err("at most one of basic_auth username, username_file & username_ref must be configured".into());
            }
            if basic.password.is_some() && basic.password_file.is_some() {
                return Err("at most one of basic_auth password, password_file & password_ref must be configured".into());
            }
        }
        if let Some(auth) = &mut authorization {
            auth.credentials = non_empty_secret(auth.credentials.take());
            auth.credentials_file = non_empty_path(auth.credentials_file.take());
            if has_bearer {
                return Err(
                    "authorization is not compatible with bearer_token & bearer_token_file".into(),
                );
            }
            if auth.credentials.is_some() && auth.credentials_file.is_some() {
                return Err("at most one of authorization credentials & credentials_file must be configured".into());
            }
            auth.auth_type = auth.auth_type.trim().to_string();
            if auth.auth_type.is_empty() {
                auth.auth_type = "Bearer".into();
            }
            if auth.auth_type.eq_ignore_ascii_case("basic") {
                return Err(
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#
                        .into(),
                );
            }
            if basic_auth.is_some() || oauth2.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
        } else if has_bearer {
            authorization = Some(Authorization {
                auth_type: "Bearer".into(),
                credentials: bearer_token,
                credentials_file: bearer_token_file,
            });
        }
        if let Some(oauth2) = &oauth2 {
            if basic_auth.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
            if oauth2.client_id.is_empty() {
                return Err("oauth2 client_id must be configured".into());
            }
            if oauth2.token_url.is_empty() {
                return Err("oauth2 token_url must be configured".into());
            }
            if oauth2.client_secret.is_some() && oauth2.client_secret_file.is_some() {
                return Err(
                    "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured using grant-type=client_credentials"
                        .into(),
                );
            }
        }
        let proxy_url = non_empty(self.proxy_url);
        if let Some(url) = &proxy_url {
            check_url(url)?;
        }
        let no_proxy = non_empty(self.no_proxy);
        let proxy_from_environment = self.proxy_from_environment.unwrap_or(false);
        let proxy_connect_header = self.proxy_connect_header.unwrap_or_default();
        validate_proxy(
            proxy_url.as_deref(),
            no_proxy.as_deref(),
            proxy_from_environment,
            &proxy_connect_header,
        )?;
        let http_headers = self.http_headers.unwrap_or_default();
        for name in http_headers.keys() {
            let canonical = canonical_header_key(name);
            if RESERVED_HEADERS.contains(&canonical.as_str()) {
                return Err(format!(
                    "setting header {} is not allowed",
                    go_quote(&canonical)
                ));
            }
        }
        Ok(HttpClientConfig {
            basic_auth,
            authorization,
            oauth2,
            tls_config: self.tls_config.unwrap_or_default(),
            proxy_url,
            no_proxy,
            proxy_from_environment,
            proxy_connect_header,
            follow_redirects: self.follow_redirects.unwrap_or(true),
            enable_http2: self.enable_http2.unwrap_or(enable_http2_default),
            http_headers,
        })
    }
}

impl TlsConfig {
    /// prometheus/common `TLSConfig.Validate`, plus the version order that Go checks when it
    /// builds the client.
    pub fn validate(&self) -> Result<(), String> {
        if self.ca.is_some() && self.ca_file.is_some() {
            return Err("at most one of ca, ca_file & ca_ref must be configured".into());
        }
        if self.cert.is_some() && self.cert_file.is_some() {
            return Err("at most one of cert, cert_file & cert_ref must be configured".into());
        }
        if self.key.is_some() && self.key_file.is_some() {
            return Err("at most one of key and key_file must be configured".into());
        }
        let has_cert = self.cert.is_some() || self.cert_file.is_some();
        let has_key = self.key.is_some() || self.key_file.is_some();
        if has_cert && !has_key {
            return Err("exactly one of key or key_file must be configured when a client certificate is configured".into());
        }
        if has_key && !has_cert {
            return Err("exactly one of cert or cert_file must be configured when a client key is configured".into());
        }
        if let (Some(min), Some(max)) = (self.min_version, self.max_version)
            && min > max
        {
            return Err(
                "tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified"
                    .into(),
            );
        }
        Ok(())
    }

    /// Makes the `*_file` paths relative to `dir`.
    pub fn set_directory(&mut self, dir: &Path) {
        join_dir(dir, &mut self.ca_file);
        join_dir(dir, &mut self.cert_file);
        join_dir(dir, &mut self.key_file);
    }
}

/// prometheus/common `JoinDir`: a relative, non-empty path is joined to `dir`.
pub fn join_path(dir: &Path, path: &Path) -> PathBuf {
    if path.as_os_str().is_empty() || path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

fn join_dir(dir: &Path, path: &mut Option<PathBuf>) {
    if let Some(p) = path {
        *p = join_path(dir, p);
    }
}

impl HttpClientConfig {
    /// Makes every `*_file` path relative to the directory of the config file, as Prometheus does.
    pub fn set_directory(&mut self, dir: &Path) {
        if let Some(b) = &mut self.basic_auth {
            join_dir(dir, &mut b.username_file);
            join_dir(dir, &mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join_dir(dir, &mut a.credentials_file);
        }
        if let Some(o) = &mut self.oauth2 {
            join_dir(dir, &mut o.client_secret_file);
            o.tls_config.set_directory(dir);
        }
        self.tls_config.set_directory(dir);
        for header in self.http_headers.values_mut() {
            for file in &mut header.files {
                *file = join_path(dir, file);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_header_keys() {
        assert_eq!(
            canonical_header_key("x-prometheus-remote-write-version"),
            "X-Prometheus-Remote-Write-Version"
        );
        assert_eq!(canonical_header_key("AUTHORIZATION"), "Authorization");
        assert_eq!(canonical_header_key("www-authenticate"), "Www-Authenticate");
        assert_eq!(canonical_header_key("bad header"), "bad header");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("http://user:pw@host:1/p"),
            "http://user:xxxxx@host:1/p"
        );
        assert_eq!(redact_url("http://host/p"), "http://host/p");
        assert_eq!(redact_url("http://user@host/p"), "http://user@host/p");
        assert_eq!(
            redact_url("http://u:p@proxy:3128"),
            "http://u:xxxxx@proxy:3128"
        );
        assert_eq!(redact_url("//u:p@host"), "//xxxxx@host");
    }
}
