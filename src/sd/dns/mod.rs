//! `dns_sd_configs` (P: `discovery/dns/dns.go`): targets from SRV, A, AAAA, MX or NS records,
//! looked up every `refresh_interval`.
//!
//! One group per configured name (source = the name). Each target has
//! `__address__ = JoinHostPort(host without trailing dot, port)` (the SRV port, else the
//! configured `port`), `__meta_dns_name` and, by record type,
//! `__meta_dns_{srv_record_target,srv_record_port,mx_record_target,ns_record_target}`.
//!
//! Lookups follow Prometheus' `lookupWithSearchPath`: the name is tried with each suffix of
//! the resolver's search list (ndots rules as resolv.conf); the first successful answer (even an
//! empty one) wins; if every candidate is NXDOMAIN the name has no targets; if some candidate
//! got no viable answer from any server the lookup failed, and the name keeps its previous
//! targets (logged and counted). Responses are not cached and `/etc/hosts` is not consulted.

use super::metrics::SdMetrics;
use super::{GroupSender, TargetGroup, UpdateSender, parse};
use crate::labels::Labels;
use crate::sd::{DnsRecordType, DnsSdConfig};
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub const NAME_LABEL: &str = "__meta_dns_name";
pub const SRV_RECORD_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
pub const SRV_RECORD_PORT_LABEL: &str = "__meta_dns_srv_record_port";
pub const MX_RECORD_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
pub const NS_RECORD_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

/// Go's `net.JoinHostPort`: a host containing `:` (IPv6) is put in brackets.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The names to try for `name`, as miekg/dns `ClientConfig.NameList`: a fully qualified name
/// (trailing dot) as is; otherwise the name itself first if it has more than `ndots` labels,
/// then the name with each search domain, then the name itself if it was not tried first.
pub fn name_list(name: &str, search: &[String], ndots: usize) -> Vec<String> {
    if name.ends_with('.') {
        return vec![name.to_string()];
    }
    let labels = name.split('.').filter(|l| !l.is_empty()).count();
    let has_ndots = labels > ndots;
    let fqdn = format!("{name}.");
    let mut names = Vec::with_capacity(search.len() + 1);
    if has_ndots {
        names.push(fqdn.clone());
    }
    for domain in search {
        let domain = domain.trim_end_matches('.');
        names.push(format!("{name}.{domain}."));
    }
    if !has_ndots {
        names.push(fqdn);
    }
    names
}

/// The resolver a DNS provider uses.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolverSettings {
    /// Servers as `ip:port`, tried in order.
    pub name_servers: Vec<SocketAddr>,
    /// Search domains appended to names that are not fully qualified.
    pub search: Vec<String>,
    pub ndots: usize,
    /// Timeout of one query to one server.
    pub timeout: Duration,
    /// How often a query is tried on each server.
    pub attempts: usize,
}

impl ResolverSettings {
    /// Explicit name servers (`"127.0.0.1:5353"`, `"[::1]:53"`), no search domains, ndots 1,
    /// a 2s timeout and one attempt. Host names are not accepted: a resolver needs addresses.
    pub fn with_name_servers<S: AsRef<str>>(servers: &[S]) -> Result<Self, String> {
        let name_servers = servers
            .iter()
            .map(|s| {
                s.as_ref()
                    .parse::<SocketAddr>()
                    .map_err(|_| format!("invalid name server {:?}: want ip:port", s.as_ref()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if name_servers.is_empty() {
            return Err("no name servers given".into());
        }
        Ok(ResolverSettings {
            name_servers,
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(2),
            attempts: 1,
        })
    }

    /// Reads a resolv.conf (`nameserver`, `search`/`domain`, `options ndots/timeout/attempts`).
    pub fn from_resolv_conf(path: &Path) -> Result<Self, String> {
        let data = std::fs::read(path)
            .map_err(|e| format!("could not load resolv.conf {}: {e}", path.display()))?;
        let (config, opts) = hickory_resolver::system_conf::parse_resolv_conf(&data)
            .map_err(|e| format!("could not load resolv.conf {}: {e}", path.display()))?;
        let name_servers = config
            .name_servers()
            .iter()
            .map(|ns| SocketAddr::new(ns.ip, ns.connections.first().map_or(53, |c| c.port)))
            .collect();
        Ok(ResolverSettings {
            name_servers,
            search: config.search().iter().map(|n| n.to_ascii()).collect(),
            ndots: opts.ndots,
            timeout: opts.timeout,
            attempts: opts.attempts.max(1),
        })
    }

    fn resolver(&self) -> Result<TokioResolver, String> {
        let servers = self
            .name_servers
            .iter()
            .map(|addr| {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                ns
            })
            .collect();
        let mut opts = ResolverOpts::default();
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.timeout = self.timeout;
        opts.attempts = self.attempts;
        opts.ndots = self.ndots;
        Resolver::builder_with_config(
            ResolverConfig::from_parts(None, Vec::new(), servers),
            TokioRuntimeProvider::default(),
        )
        .with_options(opts)
        .build()
        .map_err(|e| format!("cannot build DNS resolver: {e}"))
    }
}

/// Where the provider's resolver settings come from.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ResolverSource {
    /// `/etc/resolv.conf`, re-read on every refresh as Prometheus does.
    #[default]
    System,
    Fixed(ResolverSettings),
}

impl ResolverSource {
    pub fn settings(&self) -> Result<ResolverSettings, String> {
        match self {
            ResolverSource::System => {
                ResolverSettings::from_resolv_conf(Path::new("/etc/resolv.conf"))
            }
            ResolverSource::Fixed(s) => Ok(s.clone()),
        }
    }
}

fn record_type(t: DnsRecordType) -> RecordType {
    match t {
        DnsRecordType::SRV => RecordType::SRV,
        DnsRecordType::A => RecordType::A,
        DnsRecordType::AAAA => RecordType::AAAA,
        DnsRecordType::MX => RecordType::MX,
        DnsRecordType::NS => RecordType::NS,
    }
}

/// Looks `name` up through the search path. `Ok(records)` for an answer (possibly empty, also
/// when every candidate is NXDOMAIN); `Err` when a candidate got no viable answer.
async fn lookup_with_search_path(
    resolver: &TokioResolver,
    settings: &ResolverSettings,
    name: &str,
    qtype: RecordType,
) -> Result<Vec<RData>, String> {
    let mut all_valid = true;
    let mut last_err = String::new();
    for candidate in name_list(name, &settings.search, settings.ndots) {
        match resolver.lookup(candidate.as_str(), qtype).await {
            Ok(lookup) => return Ok(lookup.answers().iter().map(|r| r.data.clone()).collect()),
            Err(NetError::Dns(DnsError::NoRecordsFound(no)))
                if no.response_code == ResponseCode::NoError =>
            {
                return Ok(Vec::new());
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(no)))
                if no.response_code == ResponseCode::NXDomain => {}
            Err(e) => {
                tracing::warn!(name = %candidate, err = %e, "DNS resolution failed");
                last_err = e.to_string();
                all_valid = false;
            }
        }
    }
    if all_valid {
        Ok(Vec::new())
    } else {
        Err(format!(
            "could not resolve {name:?}: all servers responded with errors to at least one search domain (last error: {last_err})"
        ))
    }
}

/// Turns records into targets as Prometheus does; CNAMEs and other types are skipped.
pub fn records_to_targets(name: &str, port: u16, records: &[RData]) -> Vec<Labels> {
    let mut targets = Vec::new();
    for record in records {
        let mut labels = Labels::new();
        let address = match record {
            RData::SRV(srv) => {
                let target = srv.target.to_ascii();
                labels.set(SRV_RECORD_TARGET_LABEL, target.as_str());
                labels.set(SRV_RECORD_PORT_LABEL, srv.port.to_string());
                join_host_port(target.trim_end_matches('.'), srv.port)
            }
            RData::MX(mx) => {
                let target = mx.exchange.to_ascii();
                labels.set(MX_RECORD_TARGET_LABEL, target.as_str());
                join_host_port(target.trim_end_matches('.'), port)
            }
            RData::NS(ns) => {
                let target = ns.0.to_ascii();
                labels.set(NS_RECORD_TARGET_LABEL, target.as_str());
                join_host_port(target.trim_end_matches('.'), port)
            }
            RData::A(a) => join_host_port(&a.0.to_string(), port),
            // Go prints an IPv4-mapped IPv6 address in dotted form.
            RData::AAAA(aaaa) => match aaaa.0.to_ipv4_mapped() {
                Some(v4) => join_host_port(&v4.to_string(), port),
                None => join_host_port(&aaaa.0.to_string(), port),
            },
            RData::CNAME(_) => continue,
            other => {
                tracing::warn!(record = ?other, "Invalid record");
                continue;
            }
        };
        labels.set(parse::ADDRESS_LABEL, address);
        labels.set(NAME_LABEL, name);
        targets.push(labels);
    }
    targets
}

/// The `host:port` addresses `name` resolves to, as DNS discovery would make them:
/// for [`DnsRecordType::SRV`] each record's target and port (`port` unused), otherwise the
/// A and AAAA records with `port`. Used for `--cluster.peers=dns+...` / `dnssrv+...`.
pub async fn resolve_addresses(
    source: &ResolverSource,
    name: &str,
    kind: DnsRecordType,
    port: u16,
) -> Result<Vec<String>, String> {
    let settings = source.settings()?;
    let resolver = settings.resolver()?;
    let types: &[RecordType] = match kind {
        DnsRecordType::SRV => &[RecordType::SRV],
        _ => &[RecordType::A, RecordType::AAAA],
    };
    let mut addresses = Vec::new();
    for &qtype in types {
        let records = lookup_with_search_path(&resolver, &settings, name, qtype).await?;
        addresses.extend(
            records_to_targets(name, port, &records)
                .iter()
                .map(|labels| labels.value(parse::ADDRESS_LABEL).to_string()),
        );
    }
    addresses.sort();
    addresses.dedup();
    Ok(addresses)
}

/// DNS discovery for one `dns_sd_configs` entry.
pub struct DnsProvider {
    config: DnsSdConfig,
    source: ResolverSource,
    metrics: Arc<SdMetrics>,
    /// The last good group of each name.
    groups: HashMap<String, TargetGroup>,
}

impl DnsProvider {
    /// A provider using `/etc/resolv.conf`.
    pub fn new(config: DnsSdConfig, metrics: Arc<SdMetrics>) -> Self {
        Self::with_resolver(config, ResolverSource::System, metrics)
    }

    /// A provider using the given resolver settings (e.g. explicit name servers for tests).
    pub fn with_resolver(
        config: DnsSdConfig,
        source: ResolverSource,
        metrics: Arc<SdMetrics>,
    ) -> Self {
        DnsProvider {
            config,
            source,
            metrics,
            groups: HashMap::new(),
        }
    }

    /// Looks every name up (concurrently) and returns the groups of all names, in config order.
    /// A name whose lookup failed keeps its previous group. `Err` when the resolver could not
    /// be set up (e.g. resolv.conf unreadable) or some name failed.
    pub async fn refresh(&mut self) -> (Vec<TargetGroup>, Result<(), String>) {
        let mut status = Ok(());
        let setup = self
            .source
            .settings()
            .and_then(|s| s.resolver().map(|r| (s, r)));
        match setup {
            Err(e) => {
                for _ in &self.config.names {
                    SdMetrics::inc(&self.metrics.dns_lookups);
                    SdMetrics::inc(&self.metrics.dns_lookup_failures);
                }
                status = Err(e);
            }
            Ok((settings, resolver)) => {
                let settings = Arc::new(settings);
                let qtype = record_type(self.config.record_type);
                let mut tasks = tokio::task::JoinSet::new();
                for name in self.config.names.clone() {
                    let (resolver, settings) = (resolver.clone(), settings.clone());
                    tasks.spawn(async move {
                        let result =
                            lookup_with_search_path(&resolver, &settings, &name, qtype).await;
                        (name, result)
                    });
                }
                while let Some(joined) = tasks.join_next().await {
                    let Ok((name, result)) = joined else { continue };
                    SdMetrics::inc(&self.metrics.dns_lookups);
                    match result {
                        Ok(records) => {
                            let targets = records_to_targets(&name, self.config.port, &records);
                            let group = TargetGroup {
                                source: name.clone(),
                                targets,
                                labels: Labels::new(),
                            };
                            self.groups.insert(name, group);
                        }
                        Err(e) => {
                            SdMetrics::inc(&self.metrics.dns_lookup_failures);
                            tracing::error!(err = %e, "Error refreshing DNS targets");
                            if status.is_ok() {
                                status = Err(e);
                            }
                        }
                    }
                }
            }
        }
        let groups = self
            .config
            .names
            .iter()
            .filter_map(|n| self.groups.get(n).cloned())
            .collect();
        (groups, status)
    }

    /// Runs until the receiver of `tx` is gone: a refresh now and every `refresh_interval`.
    pub async fn run(mut self, tx: GroupSender) {
        let mut sender = UpdateSender::new(tx);
        let mut ticker = super::refresh_ticker(self.config.refresh_interval.0);
        loop {
            let (groups, status) = self.refresh().await;
            if status.is_err() {
                SdMetrics::inc(&self.metrics.dns_refresh_failures);
            }
            // Nothing is sent before some name resolved (Prometheus sends nothing on failure).
            if (!groups.is_empty() || status.is_ok()) && !sender.send(groups).await {
                return;
            }
            ticker.tick().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::Name;
    use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SRV};
    use std::str::FromStr;

    #[test]
    fn join_host_port_like_go() {
        assert_eq!(join_host_port("example.com", 80), "example.com:80");
        assert_eq!(join_host_port("10.0.0.1", 9100), "10.0.0.1:9100");
        assert_eq!(join_host_port("::1", 9100), "[::1]:9100");
        assert_eq!(join_host_port("fe80::1%eth0", 1), "[fe80::1%eth0]:1");
        assert_eq!(join_host_port("", 1), ":1");
    }

    #[test]
    fn name_lists() {
        let search = vec!["a.example.".to_string(), "b.example".to_string()];
        assert_eq!(name_list("x.y.", &search, 1), ["x.y."]);
        assert_eq!(
            name_list("host", &search, 1),
            ["host.a.example.", "host.b.example.", "host."]
        );
        assert_eq!(
            name_list("x.y", &search, 1),
            ["x.y.", "x.y.a.example.", "x.y.b.example."]
        );
        assert_eq!(
            name_list("x.y", &search, 2),
            ["x.y.a.example.", "x.y.b.example.", "x.y."]
        );
        assert_eq!(name_list("host", &[], 1), ["host."]);
    }

    #[test]
    fn targets_from_records() {
        let n = |s: &str| Name::from_str(s).unwrap();
        let records = vec![
            RData::SRV(SRV::new(0, 0, 9100, n("node1.example.com."))),
            RData::MX(MX::new(10, n("mx.example.com."))),
            RData::NS(NS(n("ns1.example.com."))),
            RData::A(A("192.0.2.1".parse().unwrap())),
            RData::AAAA(AAAA("2001:db8::1".parse().unwrap())),
            RData::AAAA(AAAA("::ffff:192.0.2.2".parse().unwrap())),
            RData::CNAME(CNAME(n("other.example.com."))),
        ];
        let t = records_to_targets("q.example.com", 80, &records);
        let shown: Vec<String> = t.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            shown,
            [
                r#"{__address__="node1.example.com:9100", __meta_dns_name="q.example.com", __meta_dns_srv_record_port="9100", __meta_dns_srv_record_target="node1.example.com."}"#,
                r#"{__address__="mx.example.com:80", __meta_dns_mx_record_target="mx.example.com.", __meta_dns_name="q.example.com"}"#,
                r#"{__address__="ns1.example.com:80", __meta_dns_name="q.example.com", __meta_dns_ns_record_target="ns1.example.com."}"#,
                r#"{__address__="192.0.2.1:80", __meta_dns_name="q.example.com"}"#,
                r#"{__address__="[2001:db8::1]:80", __meta_dns_name="q.example.com"}"#,
                r#"{__address__="192.0.2.2:80", __meta_dns_name="q.example.com"}"#,
            ]
        );
    }

    #[test]
    fn resolv_conf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 127.0.0.53\nsearch corp.example lan\noptions ndots:2 timeout:3 attempts:4\n").unwrap();
        let s = ResolverSettings::from_resolv_conf(&path).unwrap();
        assert_eq!(
            s.name_servers,
            vec!["127.0.0.53:53".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(s.search, ["corp.example", "lan"]);
        assert_eq!(
            (s.ndots, s.timeout, s.attempts),
            (2, Duration::from_secs(3), 4)
        );
        let err = ResolverSettings::from_resolv_conf(&dir.path().join("missing")).unwrap_err();
        assert!(
            err.contains("could not load resolv.conf") && err.contains("missing"),
            "{err}"
        );
        assert!(
            ResolverSettings::with_name_servers(&["localhost:53"])
                .unwrap_err()
                .contains("localhost:53")
        );
        assert_eq!(
            ResolverSettings::with_name_servers(&["[::1]:5353"])
                .unwrap()
                .name_servers[0]
                .port(),
            5353
        );
    }
}
