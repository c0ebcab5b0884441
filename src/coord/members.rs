//! Where the members come from: `--cluster.peers`, a comma-separated list of `host:port`
//! (this replica included, or not: it always counts itself), `dns+NAME:PORT` (the A and AAAA
//! records of NAME, each with PORT) and `dnssrv+NAME` (the SRV records of NAME: target and
//! port). A member's id is its `host:port` as written here or as resolved; each replica's
//! `--cluster.advertise-address` must be spelled the same way. `kubernetes`: the ready
//! endpoints of a Service's EndpointSlices, ids being pod names ([`super::kubernetes`]).

use crate::sd::DnsRecordType;
use crate::sd::dns::{ResolverSource, resolve_addresses};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerSource {
    Static(String),
    Dns {
        name: String,
        port: u16,
    },
    DnsSrv {
        name: String,
    },
    /// `kubernetes`: the ready endpoints of `--cluster.kubernetes.service`
    /// ([`super::kubernetes`]).
    Kubernetes,
}

/// Parses `--cluster.peers`; an error names the bad entry.
pub fn parse_peers(flag: &str) -> Result<Vec<PeerSource>, String> {
    let mut sources = Vec::new();
    for entry in flag.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let source = if entry == "kubernetes" {
            PeerSource::Kubernetes
        } else if let Some(name) = entry.strip_prefix("dnssrv+") {
            if name.is_empty() || name.contains(':') {
                return Err(format!(
                    "--cluster.peers: {entry:?}: want dnssrv+NAME (the port comes from the SRV records)"
                ));
            }
            PeerSource::DnsSrv {
                name: name.to_string(),
            }
        } else if let Some(rest) = entry.strip_prefix("dns+") {
            let (name, port) = split_host_port(rest)
                .ok_or_else(|| format!("--cluster.peers: {entry:?}: want dns+NAME:PORT"))?;
            PeerSource::Dns {
                name: name.to_string(),
                port,
            }
        } else {
            split_host_port(entry)
                .ok_or_else(|| format!("--cluster.peers: {entry:?}: want host:port"))?;
            PeerSource::Static(entry.to_string())
        };
        sources.push(source);
    }
    Ok(sources)
}

/// `host:port` (host may be `[v6]`) with a numeric port and a non-empty host.
pub fn split_host_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    (!host.is_empty()).then_some((host, port))
}

/// The member ids the sources name now. A DNS name that cannot be resolved fails the whole
/// resolution, so the caller keeps the members it had.
pub async fn resolve(
    sources: &[PeerSource],
    resolver: &ResolverSource,
) -> Result<BTreeSet<String>, String> {
    let mut members = BTreeSet::new();
    for source in sources {
        match source {
            PeerSource::Static(address) => {
                members.insert(address.clone());
            }
            PeerSource::Dns { name, port } => {
                members.extend(resolve_addresses(resolver, name, DnsRecordType::A, *port).await?);
            }
            PeerSource::DnsSrv { name } => {
                members.extend(resolve_addresses(resolver, name, DnsRecordType::SRV, 0).await?);
            }
            // Watched, not resolved: see `Cluster`.
            PeerSource::Kubernetes => {}
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_static_dns_and_srv_entries() {
        assert_eq!(
            parse_peers("127.0.0.2:9090, dns+promshard.monitoring.svc:9090,dnssrv+_web._tcp.promshard,[::1]:9090,")
                .unwrap(),
            vec![
                PeerSource::Static("127.0.0.2:9090".into()),
                PeerSource::Dns {
                    name: "promshard.monitoring.svc".into(),
                    port: 9090
                },
                PeerSource::DnsSrv {
                    name: "_web._tcp.promshard".into()
                },
                PeerSource::Static("[::1]:9090".into()),
            ]
        );
        assert_eq!(parse_peers("").unwrap(), vec![]);
    }

    #[test]
    fn rejects_malformed_entries_naming_them() {
        for (flag, bad) in [
            ("127.0.0.2", "\"127.0.0.2\""),
            ("a:1,b:x", "\"b:x\""),
            ("dns+name", "\"dns+name\""),
            ("dnssrv+", "\"dnssrv+\""),
            ("dnssrv+name:80", "\"dnssrv+name:80\""),
            ("::1:80", "\"::1:80\""),
            (":80", "\":80\""),
        ] {
            let err = parse_peers(flag).unwrap_err();
            assert!(err.contains(bad), "{flag}: {err}");
        }
    }
}
