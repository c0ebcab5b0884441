//! `--web.config.file`: Prometheus' web configuration file (the exporter-toolkit format):
//! TLS for the server, basic-auth users with bcrypt hashes and extra response headers.
//! Paths are relative to the file's directory; errors name the file, line and column.

use super::ConfigErrors;
use super::http::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// User name → bcrypt hash of the password; empty: no authentication.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, Secret>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub client_auth_type: ClientAuthType,
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Client certificates must name one of these; empty: any.
    #[serde(default)]
    pub client_allowed_sans: Vec<ClientName>,
    #[serde(default)]
    pub min_version: Option<super::http::TlsVersion>,
    #[serde(default)]
    pub max_version: Option<super::http::TlsVersion>,
    /// Go's cipher suite names; rustls' own suites are used, so these are accepted and
    /// otherwise ignored (as Go ignores them for TLS 1.3).
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    #[serde(default)]
    pub curve_preferences: Vec<String>,
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
}

/// A `client_allowed_sans` entry: a DNS name or an IP address (exporter-toolkit also takes
/// e-mail and URI names, which are refused when the file loads).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientName(pub rustls::pki_types::ServerName<'static>);

impl<'de> Deserialize<'de> for ClientName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        rustls::pki_types::ServerName::try_from(text.clone())
            .map(ClientName)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "client_allowed_sans entry {text:?} is not a DNS name or IP address (e-mail and URI names are not supported)"
                ))
            })
    }
}

/// Go's `tls.ClientAuthType` names, as exporter-toolkit reads them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum ClientAuthType {
    #[default]
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    /// Whether client certificates are checked against `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert
        )
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    #[serde(default = "yes")]
    pub http2: bool,
    /// Added to every response.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            http2: true,
            headers: BTreeMap::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// The response headers a web config may set (exporter-toolkit's list).
const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// Reads and checks a web configuration file.
pub fn load_web_config(path: &Path) -> Result<WebConfig, ConfigErrors> {
    let text = super::read(path).map_err(|e| ConfigErrors(vec![e]))?;
    load_web_config_str(&text, path)
}

/// [`load_web_config`] of `text`, as if read from `path`.
pub fn load_web_config_str(text: &str, path: &Path) -> Result<WebConfig, ConfigErrors> {
    let error = |message: String| ConfigErrors::of_file(path, message);
    let mut config: WebConfig = super::parse_yaml(path, text)
        .map_err(|e| ConfigErrors(vec![e]))?
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new(""));
    if let Some(tls) = &mut config.tls_server_config {
        for file in [
            &mut tls.cert_file,
            &mut tls.key_file,
            &mut tls.client_ca_file,
        ]
        .into_iter()
        .flatten()
        {
            if file.is_relative() {
                *file = dir.join(&*file);
            }
        }
        if tls.cert_file.is_none() {
            return Err(error("tls_server_config: missing cert_file".into()));
        }
        if tls.key_file.is_none() {
            return Err(error("tls_server_config: missing key_file".into()));
        }
        match (
            tls.client_ca_file.is_some(),
            tls.client_auth_type.verifies(),
        ) {
            (true, false) => {
                return Err(error(
                    "tls_server_config: client_ca_file is set but client_auth_type does not verify client certificates (VerifyClientCertIfGiven or RequireAndVerifyClientCert)".into(),
                ));
            }
            (false, true) => {
                return Err(error(format!(
                    "tls_server_config: client_auth_type {:?} needs client_ca_file",
                    tls.client_auth_type
                )));
            }
            _ => {}
        }
        if !tls.client_allowed_sans.is_empty() && !tls.client_auth_type.verifies() {
            return Err(error(
                "tls_server_config: client_allowed_sans needs a client_auth_type that verifies client certificates".into(),
            ));
        }
        if let Some(max) = tls.max_version
            && max < super::http::TlsVersion::TLS12
        {
            return Err(error(format!(
                "tls_server_config: max_version {max:?} is not supported: only TLS 1.2 and TLS 1.3 are"
            )));
        }
        if let (Some(min), Some(max)) = (tls.min_version, tls.max_version)
            && min > max
        {
            return Err(error(
                "tls_server_config: max_version is below min_version".into(),
            ));
        }
    }
    for (name, value) in &config.http_server_config.headers {
        let Some(allowed) = ALLOWED_HEADERS
            .iter()
            .find(|allowed| allowed.eq_ignore_ascii_case(name))
        else {
            return Err(error(format!(
                "http_server_config: header {name:?} cannot be set (allowed: {})",
                ALLOWED_HEADERS.join(", ")
            )));
        };
        let ok = match *allowed {
            "X-Content-Type-Options" => value.eq_ignore_ascii_case("nosniff"),
            "X-Frame-Options" => {
                value.eq_ignore_ascii_case("deny") || value.eq_ignore_ascii_case("sameorigin")
            }
            _ => true,
        };
        if !ok {
            return Err(error(format!(
                "http_server_config: invalid value {value:?} for header {allowed}"
            )));
        }
    }
    for (user, hash) in &config.basic_auth_users {
        if !is_bcrypt_hash(hash.expose()) {
            return Err(error(format!(
                "basic_auth_users: the password of {user:?} is not a bcrypt hash ($2a$, $2b$ or $2y$, cost, 53 characters of salt and hash)"
            )));
        }
    }
    Ok(config)
}

/// `$2a$`, `$2b$` or `$2y$`, a two-digit cost from 04 to 31, `$` and 53 characters of bcrypt's
/// base64: the modular crypt format bcrypt writes.
fn is_bcrypt_hash(hash: &str) -> bool {
    let b = hash.as_bytes();
    b.len() == 60
        && matches!(&b[..4], b"$2a$" | b"$2b$" | b"$2y$")
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && (4..=31).contains(&((b[4] - b'0') * 10 + (b[5] - b'0')))
        && b[6] == b'$'
        && b[7..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash in bcrypt's format (only its format is checked here).
    const HASH: &str = "$2y$10$kXbW7UZTw5Xq/4hNj2V/3OnuR5iSw2e5dS9bRbZTbqoCkfOYW8KmC";

    fn load(text: &str) -> Result<WebConfig, String> {
        load_web_config_str(text, Path::new("/etc/promshard/web.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_config_loads_with_paths_next_to_the_file() {
        let config = load(&format!(
            "tls_server_config:\n  cert_file: tls/server.crt\n  key_file: /abs/server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS12\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\nbasic_auth_users:\n  alice: '{HASH}'\n"
        ))
        .unwrap();
        let tls = config.tls_server_config.unwrap();
        assert_eq!(tls.cert_file, Some("/etc/promshard/tls/server.crt".into()));
        assert_eq!(tls.key_file, Some("/abs/server.key".into()));
        assert_eq!(tls.client_ca_file, Some("/etc/promshard/ca.crt".into()));
        assert_eq!(
            tls.client_auth_type,
            ClientAuthType::RequireAndVerifyClientCert
        );
        assert!(config.http_server_config.http2);
        assert_eq!(config.basic_auth_users["alice"].expose(), HASH);
        assert_eq!(
            format!("{:?}", config.basic_auth_users),
            "{\"alice\": <secret>}"
        );
    }

    #[test]
    fn an_empty_file_is_no_tls_and_no_auth() {
        assert_eq!(load("").unwrap(), WebConfig::default());
        assert_eq!(load("# nothing\n").unwrap(), WebConfig::default());
    }

    #[test]
    fn mistakes_are_named() {
        for (text, wanted) in [
            ("tls_server_config:\n  key_file: k\n", "missing cert_file"),
            ("tls_server_config:\n  cert_file: c\n", "missing key_file"),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n",
                "client_ca_file is set but client_auth_type does not verify",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n",
                "needs client_ca_file",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Sometimes\n",
                "Sometimes",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS13\n  max_version: TLS12\n",
                "max_version is below min_version",
            ),
            (
                "http_server_config:\n  headers:\n    Set-Cookie: x\n",
                "header \"Set-Cookie\" cannot be set",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                "invalid value \"allow\" for header X-Frame-Options",
            ),
            (
                "basic_auth_users:\n  bob: plaintext-password\n",
                "the password of \"bob\" is not a bcrypt hash",
            ),
            ("tls_config:\n  cert_file: c\n", "tls_config"),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca\n  client_allowed_sans: [peer.example, 'spiffe://cluster/peer']\n",
                "client_allowed_sans entry \"spiffe://cluster/peer\" is not a DNS name or IP address",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  max_version: TLS11\n",
                "max_version TLS11 is not supported",
            ),
        ] {
            let error = load(text).unwrap_err();
            assert!(error.contains(wanted), "{text}: {error}");
            assert!(error.contains("/etc/promshard/web.yml"), "{error}");
        }
        // A plaintext password is never repeated in the error.
        let error = load("basic_auth_users:\n  bob: plaintext-password\n").unwrap_err();
        assert!(!error.contains("plaintext-password"), "{error}");
    }

    #[test]
    fn bcrypt_hashes_are_recognised_by_their_format() {
        assert!(is_bcrypt_hash(HASH));
        assert!(is_bcrypt_hash(&HASH.replacen("$2y$", "$2b$", 1)));
        assert!(!is_bcrypt_hash(&HASH.replacen("$2y$10", "$2y$99", 1)));
        assert!(!is_bcrypt_hash(&HASH.replacen("$2y$", "$1$$", 1)));
        assert!(!is_bcrypt_hash(&HASH[..59]));
        assert!(!is_bcrypt_hash(&HASH.replacen('k', "!", 1)));
    }
}
