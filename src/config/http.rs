//! `http_config` of prometheus/common: authentication, TLS, proxy and headers, inlined into
//! scrape configs, HTTP-based service discovery and remote write.

use serde::{Deserialize, Serialize, Serializer};
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

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    #[serde(default)]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub token_url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    #[serde(default)]
    pub proxy_from_environment: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<TlsVersion>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
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

/// Headers a user may not set, because the client owns them (prometheus/common `reservedHeaders`).
pub const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-prometheus-scrape-timeout-seconds",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    pub proxy_from_environment: bool,
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
                    follow_redirects: self.follow_redirects.take(),
                    enable_http2: self.enable_http2.take(),
                    http_headers: self.http_headers.take(),
                }
            }
        }
    };
}
pub(crate) use http_client_fields;

fn at_most_one(set: &[bool]) -> bool {
    set.iter().filter(|s| **s).count() <= 1
}

impl RawHttpClientFields {
    /// Validates as prometheus/common `HTTPClientConfig.Validate` does and resolves the
    /// legacy bearer token into `authorization`. `enable_http2_default` differs between
    /// scraping (true) and remote write (false).
    pub fn resolve(self, enable_http2_default: bool) -> Result<HttpClientConfig, String> {
        let has_bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return Err("at most one of bearer_token & bearer_token_file must be configured".into());
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && has_bearer {
            return Err("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured".into());
        }
        if let Some(basic) = &self.basic_auth {
            if !basic.username.is_empty() && basic.username_file.is_some() {
                return Err("at most one of basic_auth username, username_file & username_ref must be configured".into());
            }
            if basic.password.is_some() && basic.password_file.is_some() {
                return Err("at most one of basic_auth password, password_file & password_ref must be configured".into());
            }
        }
        let mut authorization = self.authorization;
        if let Some(auth) = &mut authorization {
            if has_bearer {
                return Err("authorization is not compatible with bearer_token & bearer_token_file".into());
            }
            if auth.credentials.is_some() && auth.credentials_file.is_some() {
                return Err("at most one of authorization credentials & credentials_file must be configured".into());
            }
            if auth.auth_type.is_empty() {
                auth.auth_type = "Bearer".into();
            }
            if auth.auth_type.eq_ignore_ascii_case("basic") {
                return Err(r#"authorization type cannot be set to "basic", use "basic_auth" instead"#.into());
            }
        }
        if !at_most_one(&[self.basic_auth.is_some(), self.oauth2.is_some(), authorization.is_some()]) {
            return Err("at most one of basic_auth, oauth2 & authorization must be configured".into());
        }
        if has_bearer {
            authorization = Some(Authorization {
                auth_type: "Bearer".into(),
                credentials: self.bearer_token,
                credentials_file: self.bearer_token_file,
            });
        }
        if let Some(oauth2) = &self.oauth2 {
            if oauth2.client_id.is_empty() {
                return Err("oauth2 client_id must be configured".into());
            }
            if oauth2.token_url.is_empty() {
                return Err("oauth2 token_url must be configured".into());
            }
            if oauth2.client_secret.is_some() && oauth2.client_secret_file.is_some() {
                return Err("at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured".into());
            }
            oauth2.tls_config.validate()?;
        }
        let proxy_from_environment = self.proxy_from_environment.unwrap_or(false);
        let proxy_url = self.proxy_url.filter(|u| !u.is_empty());
        if let Some(url) = &proxy_url {
            url::Url::parse(url).map_err(|e| format!("invalid proxy_url {url:?}: {e}"))?;
        }
        if proxy_from_environment && proxy_url.is_some() {
            return Err("if proxy_from_environment is configured, proxy_url must not be configured".into());
        }
        let no_proxy = self.no_proxy.filter(|n| !n.is_empty());
        if no_proxy.is_some() && proxy_url.is_none() {
            return Err("if no_proxy is configured, proxy_url must also be configured".into());
        }
        let tls_config = self.tls_config.unwrap_or_default();
        tls_config.validate()?;
        let http_headers = self.http_headers.unwrap_or_default();
        for name in http_headers.keys() {
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!("setting header {name:?} is not allowed"));
            }
        }
        Ok(HttpClientConfig {
            basic_auth: self.basic_auth,
            authorization,
            oauth2: self.oauth2,
            tls_config,
            proxy_url,
            no_proxy,
            proxy_from_environment,
            follow_redirects: self.follow_redirects.unwrap_or(true),
            enable_http2: self.enable_http2.unwrap_or(enable_http2_default),
            http_headers,
        })
    }
}

impl TlsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.ca.is_some() && self.ca_file.is_some() {
            return Err("at most one of ca and ca_file must be configured".into());
        }
        if self.cert.is_some() && self.cert_file.is_some() {
            return Err("at most one of cert and cert_file must be configured".into());
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
        if let (Some(min), Some(max)) = (self.min_version, self.max_version) {
            if min > max {
                return Err(format!("tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified"));
            }
        }
        Ok(())
    }
}

fn join_dir(dir: &Path, path: &mut Option<PathBuf>) {
    if let Some(p) = path {
        if p.is_relative() && !p.as_os_str().is_empty() {
            *p = dir.join(&*p);
        }
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
                if file.is_relative() {
                    *file = dir.join(&*file);
                }
            }
        }
    }
}

impl TlsConfig {
    pub fn set_directory(&mut self, dir: &Path) {
        join_dir(dir, &mut self.ca_file);
        join_dir(dir, &mut self.cert_file);
        join_dir(dir, &mut self.key_file);
    }
}
