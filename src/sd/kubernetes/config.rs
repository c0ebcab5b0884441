//! `kubernetes_sd_configs` entries, validated as Prometheus validates them
//! (P: `discovery/kubernetes/kubernetes.go` `SDConfig.UnmarshalYAML`), with its messages.

use crate::config::http::{HttpClientConfig, RawHttpClientFields, http_client_fields};
use serde::{Deserialize, Serialize};

/// What a `kubernetes_sd_configs` entry discovers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Pod,
    Service,
    Endpoints,
    #[serde(rename = "endpointslice")]
    EndpointSlice,
    Node,
    Ingress,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pod => "pod",
            Role::Service => "service",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Node => "node",
            Role::Ingress => "ingress",
        }
    }

    fn parse(text: &str) -> Result<Role, String> {
        Ok(match text {
            "pod" => Role::Pod,
            "service" => Role::Service,
            "endpoints" => Role::Endpoints,
            "endpointslice" => Role::EndpointSlice,
            "node" => Role::Node,
            "ingress" => Role::Ingress,
            _ => return Err(format!("unknown Kubernetes SD role {}", go_quoted(text))),
        })
    }

    /// The roles whose objects a role's selectors may filter.
    fn allowed_selectors(self) -> &'static [Role] {
        match self {
            Role::Pod => &[Role::Pod],
            Role::Service => &[Role::Service],
            Role::EndpointSlice => &[Role::Pod, Role::Service, Role::EndpointSlice],
            Role::Endpoints => &[Role::Pod, Role::Service, Role::Endpoints],
            Role::Node => &[Role::Node],
            Role::Ingress => &[Role::Ingress],
        }
    }
}

fn go_quoted(text: &str) -> String {
    crate::config::quote::go_quote(text)
}

/// `namespaces`: which namespaces to watch (none: all).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceDiscovery {
    #[serde(default)]
    pub own_namespace: bool,
    #[serde(default)]
    pub names: Vec<String>,
}

/// One `selectors` entry: label and field selectors for the objects of `role`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SelectorConfig {
    pub role: Role,
    pub label: String,
    pub field: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelectorConfig {
    #[serde(default)]
    role: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    field: String,
}

/// `attach_metadata`: labels of related objects added to the targets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttachMetadata {
    #[serde(default)]
    pub node: bool,
    #[serde(default)]
    pub namespace: bool,
    #[serde(default)]
    pub deployment: bool,
    #[serde(default)]
    pub job: bool,
    #[serde(default)]
    pub cronjob: bool,
}

/// A `kubernetes_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KubernetesSdConfig {
    pub role: Role,
    /// Without it (and without `kubeconfig_file`) the in-cluster config is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig_file: Option<String>,
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
    pub namespaces: NamespaceDiscovery,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<SelectorConfig>,
    pub attach_metadata: AttachMetadata,
}

http_client_fields! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawKubernetesSdConfig {
        #[serde(default)]
        role: String,
        #[serde(default)]
        api_server: String,
        #[serde(default)]
        kubeconfig_file: String,
        #[serde(default)]
        namespaces: Option<NamespaceDiscovery>,
        #[serde(default)]
        selectors: Option<Vec<RawSelectorConfig>>,
        #[serde(default)]
        attach_metadata: Option<AttachMetadata>,
    }
}

impl<'de> Deserialize<'de> for KubernetesSdConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut raw = RawKubernetesSdConfig::deserialize(deserializer)?;
        let fields = raw.http_fields();
        KubernetesSdConfig::validate(raw, fields).map_err(serde::de::Error::custom)
    }
}

impl KubernetesSdConfig {
    fn validate(
        raw: RawKubernetesSdConfig,
        fields: RawHttpClientFields,
    ) -> Result<KubernetesSdConfig, String> {
        if raw.role.is_empty() {
            return Err(
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"
                    .into(),
            );
        }
        let role = Role::parse(&raw.role)?;
        let http_client = fields.resolve(true)?;
        let custom_http = http_client != HttpClientConfig::default();
        let api_server = (!raw.api_server.is_empty()).then_some(raw.api_server);
        if let Some(url) = &api_server {
            url::Url::parse(url).map_err(|e| format!("parse {}: {e}", go_quoted(url)))?;
        }
        let kubeconfig_file = (!raw.kubeconfig_file.is_empty()).then_some(raw.kubeconfig_file);
        let namespaces = raw.namespaces.unwrap_or_default();
        if api_server.is_some() && kubeconfig_file.is_some() {
            return Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously".into());
        }
        if kubeconfig_file.is_some() && custom_http {
            return Err(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"
                    .into(),
            );
        }
        if api_server.is_none() && custom_http {
            return Err("to use custom HTTP client configuration please provide the 'api_server' URL explicitly".into());
        }
        if api_server.is_some() && namespaces.own_namespace {
            return Err(
                "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously".into(),
            );
        }
        if kubeconfig_file.is_some() && namespaces.own_namespace {
            return Err(
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously".into(),
            );
        }
        let mut selectors: Vec<SelectorConfig> = Vec::new();
        for selector in raw.selectors.unwrap_or_default() {
            let selector_role = if selector.role.is_empty() {
                return Err(format!(
                    "{} role supports only {} selectors",
                    role.as_str(),
                    role.allowed_selectors()
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            } else {
                Role::parse(&selector.role)?
            };
            if selectors.iter().any(|s| s.role == selector_role) {
                return Err(format!(
                    "duplicated selector role: {}",
                    selector_role.as_str()
                ));
            }
            if !role.allowed_selectors().contains(&selector_role) {
                return Err(format!(
                    "{} role supports only {} selectors",
                    role.as_str(),
                    role.allowed_selectors()
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            check_field_selector(&selector.field)?;
            check_label_selector(&selector.label)?;
            selectors.push(SelectorConfig {
                role: selector_role,
                label: selector.label,
                field: selector.field,
            });
        }
        Ok(KubernetesSdConfig {
            role,
            api_server,
            kubeconfig_file,
            http_client,
            namespaces,
            selectors,
            attach_metadata: raw.attach_metadata.unwrap_or_default(),
        })
    }

    /// Relative `kubeconfig_file` and `*_file` paths are taken from the config file's directory.
    pub fn set_directory(&mut self, dir: &std::path::Path) {
        self.http_client.set_directory(dir);
        if let Some(file) = &mut self.kubeconfig_file {
            *file = crate::config::http::join_path(dir, std::path::Path::new(file.as_str()))
                .to_string_lossy()
                .into_owned();
        }
    }

    /// The label and field selector for objects of `role` (empty strings: none).
    pub fn selector(&self, role: Role) -> (&str, &str) {
        self.selectors
            .iter()
            .find(|s| s.role == role)
            .map_or(("", ""), |s| (s.label.as_str(), s.field.as_str()))
    }
}

/// A field selector: comma-separated `key=value`, `key==value` or `key!=value` (Kubernetes'
/// `fields.ParseSelector`; `\` escapes `,`, `=` and `\` in values).
pub fn check_field_selector(selector: &str) -> Result<(), String> {
    for term in split_unescaped(selector) {
        let term = term.trim();
        if term.is_empty() {
            continue;
        }
        let (key, value) = if let Some((k, v)) = term.split_once("!=") {
            (k, v)
        } else if let Some((k, v)) = term.split_once("==") {
            (k, v)
        } else if let Some((k, v)) = term.split_once('=') {
            (k, v)
        } else {
            return Err(format!(
                "invalid selector: '{selector}'; can't understand '{term}'"
            ));
        };
        if key.trim().is_empty() {
            return Err(format!(
                "invalid selector: '{selector}'; can't understand '{term}'"
            ));
        }
        let _ = value;
    }
    Ok(())
}

fn split_unescaped(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in text.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' => {
                current.push(c);
                escaped = true;
            }
            ',' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

/// A label selector (Kubernetes' `labels.Parse`): comma-separated requirements `key`, `!key`,
/// `key=v`, `key==v`, `key!=v`, `key in (v1,v2)`, `key notin (v1)`, `key>n`, `key<n`.
pub fn check_label_selector(selector: &str) -> Result<(), String> {
    let mut rest = selector.trim();
    while !rest.is_empty() {
        // One requirement, up to a comma outside parentheses.
        let mut depth = 0;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        check_requirement(rest[..end].trim())
            .map_err(|e| format!("unable to parse requirement: {e}"))?;
        rest = rest[end..].trim_start_matches(',').trim();
    }
    Ok(())
}

fn check_requirement(requirement: &str) -> Result<(), String> {
    if requirement.is_empty() {
        return Err("found '', expected: identifier".into());
    }
    if let Some(key) = requirement.strip_prefix('!') {
        return check_key(key.trim());
    }
    for op in ["!=", "==", "=", ">", "<"] {
        if let Some((key, value)) = requirement.split_once(op) {
            check_key(key.trim())?;
            let value = value.trim();
            if (op == ">" || op == "<") && value.parse::<i64>().is_err() {
                return Err(format!(
                    "for 'Gt', 'Lt' operators, the value must be an integer: {value}"
                ));
            }
            return check_value(value);
        }
    }
    let words: Vec<&str> = requirement.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let rest = words[1].trim_start();
        for op in ["notin", "in"] {
            if let Some(list) = rest.strip_prefix(op) {
                check_key(words[0])?;
                let list = list.trim();
                let inner = list
                    .strip_prefix('(')
                    .and_then(|l| l.strip_suffix(')'))
                    .ok_or_else(|| format!("found '{list}', expected: '('"))?;
                for value in inner.split(',') {
                    check_value(value.trim())?;
                }
                return Ok(());
            }
        }
        return Err(format!(
            "found '{rest}', expected: in, notin, =, ==, !=, gt, lt"
        ));
    }
    check_key(requirement)
}

/// A qualified name, optionally with a DNS subdomain prefix (`example.com/name`).
fn check_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() || prefix.len() > 253 {
                return Err(format!(
                    "invalid label key {key:?}: prefix part must be a DNS subdomain"
                ));
            }
            name
        }
        None => key,
    };
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid label key {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ))
    }
}

fn check_value(value: &str) -> Result<(), String> {
    let valid = value.is_empty()
        || (value.len() <= 63
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid label value: {value:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<KubernetesSdConfig, String> {
        serde_saphyr::from_str::<KubernetesSdConfig>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn roles_and_defaults() {
        let c = parse("role: pod\n").unwrap();
        assert_eq!(c.role, Role::Pod);
        assert_eq!(c.api_server, None);
        assert_eq!(c.namespaces, NamespaceDiscovery::default());
        for role in ["service", "endpoints", "endpointslice", "node", "ingress"] {
            assert_eq!(
                parse(&format!("role: {role}\n")).unwrap().role.as_str(),
                role
            );
        }
    }

    #[test]
    fn prometheus_validation_messages() {
        for (yaml, want) in [
            (
                "namespaces: {names: [a]}\n",
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)",
            ),
            ("role: pods\n", "unknown Kubernetes SD role \"pods\""),
            (
                "role: pod\napi_server: http://a\nkubeconfig_file: k\n",
                "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
            ),
            (
                "role: pod\nkubeconfig_file: k\nbearer_token: t\n",
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
            ),
            (
                "role: pod\nbearer_token: t\n",
                "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
            ),
            (
                "role: pod\napi_server: http://a\nnamespaces: {own_namespace: true}\n",
                "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
            ),
            (
                "role: pod\nkubeconfig_file: k\nnamespaces: {own_namespace: true}\n",
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
            ),
            (
                "role: pod\nselectors: [{role: pod, label: a=b}, {role: pod, field: x=y}]\n",
                "duplicated selector role: pod",
            ),
            (
                "role: pod\nselectors: [{role: node, label: a=b}]\n",
                "pod role supports only pod selectors",
            ),
            (
                "role: endpoints\nselectors: [{role: node}]\n",
                "endpoints role supports only pod, service, endpoints selectors",
            ),
            (
                "role: pod\nselectors: [{role: pod, label: 'a in b'}]\n",
                "unable to parse requirement",
            ),
            (
                "role: pod\nselectors: [{role: pod, field: 'spec.nodeName'}]\n",
                "invalid selector",
            ),
            ("role: pod\nunknown: 1\n", "unknown"),
        ] {
            let err = parse(yaml).unwrap_err();
            assert!(err.contains(want), "{yaml}: {err}");
        }
    }

    #[test]
    fn selectors_that_kubernetes_accepts() {
        let c = parse(
            "role: endpoints\nselectors:\n  - role: pod\n    label: 'app.kubernetes.io/name=metrics,tier in (a, b),!canary,env!=dev'\n    field: 'spec.nodeName=node-1,status.phase!=Failed'\n  - role: service\n    label: 'release'\n",
        )
        .unwrap();
        assert_eq!(
            c.selector(Role::Pod),
            (
                "app.kubernetes.io/name=metrics,tier in (a, b),!canary,env!=dev",
                "spec.nodeName=node-1,status.phase!=Failed"
            )
        );
        assert_eq!(c.selector(Role::Service), ("release", ""));
        assert_eq!(c.selector(Role::Endpoints), ("", ""));
    }
}
