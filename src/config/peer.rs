//! `--cluster.peer-config.file`: how a replica reaches its peers' API. A `scheme` and the
//! fields of a Prometheus `http_config` (basic_auth, authorization, tls_config, ...), as a
//! scrape job sets them, so a cluster behind `--web.config.file` runs with TLS and
//! credentials end to end. Paths are relative to the file's directory.

use super::ConfigErrors;
use super::http::{HttpClientConfig, http_client_fields};
use serde::Deserialize;
use std::path::Path;

/// How peers are reached.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerClientConfig {
    /// `http` or `https`.
    pub scheme: String,
    pub http: HttpClientConfig,
}

impl PeerClientConfig {
    /// Plain HTTP without credentials, or HTTPS with the system's roots when this replica
    /// serves TLS itself (its peers run the same web config).
    pub fn default_for(serves_tls: bool) -> PeerClientConfig {
        PeerClientConfig {
            scheme: if serves_tls { "https" } else { "http" }.into(),
            http: HttpClientConfig::default(),
        }
    }
}

http_client_fields! {
    #[derive(Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawPeerClientConfig {
        #[serde(default)]
        scheme: Option<String>,
    }
}

/// Reads a peer client file; without `scheme`, it follows `serves_tls`.
pub fn load_peer_client_config(
    path: &Path,
    serves_tls: bool,
) -> Result<PeerClientConfig, ConfigErrors> {
    let text = super::read(path).map_err(|e| ConfigErrors(vec![e]))?;
    load_peer_client_config_str(&text, path, serves_tls)
}

/// [`load_peer_client_config`] of `text`, as if read from `path`.
pub fn load_peer_client_config_str(
    text: &str,
    path: &Path,
    serves_tls: bool,
) -> Result<PeerClientConfig, ConfigErrors> {
    let error = |message: String| ConfigErrors::of_file(path, message);
    let mut raw: RawPeerClientConfig = super::parse_yaml(path, text)
        .map_err(|e| ConfigErrors(vec![e]))?
        .unwrap_or_default();
    let scheme = match raw.scheme.take().filter(|s| !s.is_empty()) {
        None => PeerClientConfig::default_for(serves_tls).scheme,
        Some(s) if s == "http" || s == "https" => s,
        Some(other) => {
            return Err(error(format!(
                "scheme {other:?}: want \"http\" or \"https\""
            )));
        }
    };
    let mut http = raw.http_fields().resolve(true).map_err(error)?;
    http.set_directory(path.parent().unwrap_or(Path::new("")));
    Ok(PeerClientConfig { scheme, http })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, serves_tls: bool) -> Result<PeerClientConfig, String> {
        load_peer_client_config_str(text, Path::new("/etc/promshard/peers.yml"), serves_tls)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_scheme_follows_the_server_unless_set() {
        assert_eq!(
            load("", false).unwrap(),
            PeerClientConfig::default_for(false)
        );
        assert_eq!(load("", true).unwrap().scheme, "https");
        assert_eq!(load("scheme: http\n", true).unwrap().scheme, "http");
        assert_eq!(load("scheme: https\n", false).unwrap().scheme, "https");
    }

    #[test]
    fn http_config_fields_load_with_paths_next_to_the_file() {
        let config = load(
            "basic_auth:\n  username: peer\n  password_file: secrets/peer\ntls_config:\n  ca_file: ca.crt\n  cert_file: /abs/peer.crt\n  key_file: peer.key\n  server_name: promshard\n",
            true,
        )
        .unwrap();
        let basic = config.http.basic_auth.unwrap();
        assert_eq!(basic.username, "peer");
        assert_eq!(
            basic.password_file,
            Some("/etc/promshard/secrets/peer".into())
        );
        let tls = config.http.tls_config;
        assert_eq!(tls.ca_file, Some("/etc/promshard/ca.crt".into()));
        assert_eq!(tls.cert_file, Some("/abs/peer.crt".into()));
        assert_eq!(tls.key_file, Some("/etc/promshard/peer.key".into()));
        assert_eq!(tls.server_name, "promshard");
    }

    #[test]
    fn mistakes_are_named_with_the_file() {
        for (text, wanted) in [
            (
                "scheme: ftp\n",
                "scheme \"ftp\": want \"http\" or \"https\"",
            ),
            ("tls_server_config: {}\n", "tls_server_config"),
            (
                "basic_auth:\n  username: a\n  password: b\nbearer_token: c\n",
                "at most one of basic_auth",
            ),
            (
                "tls_config:\n  cert_file: c\n",
                "exactly one of key or key_file",
            ),
        ] {
            let error = load(text, false).unwrap_err();
            assert!(error.contains(wanted), "{text}: {error}");
            assert!(error.contains("/etc/promshard/peers.yml"), "{error}");
        }
    }
}
