//! DNS service discovery against a real DNS server on loopback: a small authoritative server for
//! the zone `sd.test.` written here with hickory-proto, answering over UDP on 127.0.0.1.

mod common;

use common::wait_for;

use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record};
use promshard::config::PromDuration;
use promshard::sd::dns::{DnsProvider, ResolverSettings, ResolverSource};
use promshard::sd::{
    DnsRecordType, DnsSdConfig, Manager, ManagerOptions, SdConfigs, SdMetrics, TargetGroup,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// What the server answers for a name: records, or an error code for every type.
#[derive(Clone)]
enum Entry {
    Records(Vec<RData>),
    Fail(ResponseCode),
}

/// The zone, keyed by lower-case FQDN; names not in it are NXDOMAIN.
#[derive(Clone, Default)]
struct Zone(Arc<Mutex<HashMap<String, Entry>>>);

impl Zone {
    fn set(&self, fqdn: &str, entry: Entry) {
        self.0
            .lock()
            .unwrap()
            .insert(fqdn.to_ascii_lowercase(), entry);
    }
    fn remove(&self, fqdn: &str) {
        self.0.lock().unwrap().remove(&fqdn.to_ascii_lowercase());
    }

    fn answer(&self, request: &Message) -> Message {
        let mut response = Message::response(request.metadata.id, OpCode::Query);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        let Some(query) = request.queries.first() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return response;
        };
        response.add_query(query.clone());
        let qname = query.name().to_ascii().to_ascii_lowercase();
        let zone = self.0.lock().unwrap();
        match zone.get(&qname) {
            None => response.metadata.response_code = ResponseCode::NXDomain,
            Some(Entry::Fail(code)) => response.metadata.response_code = *code,
            Some(Entry::Records(records)) => {
                let qtype = query.query_type();
                for rdata in records {
                    let rtype = rdata.record_type();
                    if rtype == qtype {
                        response.add_answer(Record::from_rdata(
                            query.name().clone(),
                            0,
                            rdata.clone(),
                        ));
                    } else if let RData::CNAME(CNAME(target)) = rdata {
                        // Answer with the CNAME and the target's records of the asked type.
                        response.add_answer(Record::from_rdata(
                            query.name().clone(),
                            0,
                            rdata.clone(),
                        ));
                        if let Some(Entry::Records(target_records)) =
                            zone.get(&target.to_ascii().to_ascii_lowercase())
                        {
                            for r in target_records.iter().filter(|r| r.record_type() == qtype) {
                                response.add_answer(Record::from_rdata(
                                    target.clone(),
                                    0,
                                    r.clone(),
                                ));
                            }
                        }
                    }
                }
            }
        }
        response
    }
}

/// Starts the server on 127.0.0.1 (UDP, ephemeral port) and returns its address.
async fn start_server(zone: Zone) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(request) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let response = zone.answer(&request);
            let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

fn test_zone() -> Zone {
    let zone = Zone::default();
    zone.set(
        "_prometheus._tcp.sd.test.",
        Entry::Records(vec![
            RData::SRV(SRV::new(0, 0, 9100, name("node1.sd.test."))),
            RData::SRV(SRV::new(0, 0, 9101, name("node2.sd.test."))),
        ]),
    );
    zone.set(
        "web.sd.test.",
        Entry::Records(vec![
            RData::A(A("127.0.0.10".parse().unwrap())),
            RData::A(A("127.0.0.11".parse().unwrap())),
        ]),
    );
    zone.set(
        "web6.sd.test.",
        Entry::Records(vec![RData::AAAA(AAAA("::1".parse().unwrap()))]),
    );
    zone.set(
        "mail.sd.test.",
        Entry::Records(vec![RData::MX(MX::new(10, name("mx1.sd.test.")))]),
    );
    zone.set(
        "sd.test.",
        Entry::Records(vec![RData::NS(NS(name("ns1.sd.test.")))]),
    );
    zone.set(
        "alias.sd.test.",
        Entry::Records(vec![RData::CNAME(CNAME(name("web.sd.test.")))]),
    );
    zone.set("broken.sd.test.", Entry::Fail(ResponseCode::ServFail));
    zone
}

fn config(names: &[&str], record_type: DnsRecordType, port: u16) -> DnsSdConfig {
    DnsSdConfig {
        names: names.iter().map(|n| n.to_string()).collect(),
        refresh_interval: PromDuration::from_millis(100),
        record_type,
        port,
    }
}

async fn provider(zone: Zone, cfg: DnsSdConfig, search: &[&str]) -> (DnsProvider, Arc<SdMetrics>) {
    let addr = start_server(zone).await;
    let mut settings = ResolverSettings::with_name_servers(&[addr.to_string()]).unwrap();
    settings.search = search.iter().map(|s| s.to_string()).collect();
    settings.timeout = Duration::from_millis(500);
    let metrics = Arc::new(SdMetrics::default());
    (
        DnsProvider::with_resolver(cfg, ResolverSource::Fixed(settings), metrics.clone()),
        metrics,
    )
}

fn addresses(group: &TargetGroup) -> Vec<String> {
    let mut a: Vec<String> = group
        .targets
        .iter()
        .map(|t| t.get("__address__").unwrap().to_string())
        .collect();
    a.sort();
    a
}

#[tokio::test]
async fn srv_records() {
    let (mut p, metrics) = provider(
        test_zone(),
        config(&["_prometheus._tcp.sd.test"], DnsRecordType::SRV, 0),
        &[],
    )
    .await;
    let (groups, status) = p.refresh().await;
    status.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "_prometheus._tcp.sd.test");
    assert!(groups[0].labels.is_empty());
    assert_eq!(
        addresses(&groups[0]),
        ["node1.sd.test:9100", "node2.sd.test:9101"]
    );
    let t = groups[0]
        .targets
        .iter()
        .find(|t| t.get("__address__") == Some("node1.sd.test:9100"))
        .unwrap();
    assert_eq!(
        t.to_string(),
        r#"{__address__="node1.sd.test:9100", __meta_dns_name="_prometheus._tcp.sd.test", __meta_dns_srv_record_port="9100", __meta_dns_srv_record_target="node1.sd.test."}"#
    );
    assert_eq!(SdMetrics::get(&metrics.dns_lookups), 1);
    assert_eq!(SdMetrics::get(&metrics.dns_lookup_failures), 0);
}

#[tokio::test]
async fn a_aaaa_mx_ns_records() {
    let zone = test_zone();
    let (mut p, _) = provider(
        zone.clone(),
        config(&["web.sd.test", "alias.sd.test"], DnsRecordType::A, 9100),
        &[],
    )
    .await;
    let (groups, status) = p.refresh().await;
    status.unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(
        addresses(&groups[0]),
        ["127.0.0.10:9100", "127.0.0.11:9100"]
    );
    assert_eq!(
        groups[0].targets[0].get("__meta_dns_name"),
        Some("web.sd.test")
    );
    // A CNAME in the answer is skipped; the A records it points at are targets.
    assert_eq!(groups[1].source, "alias.sd.test");
    assert_eq!(
        addresses(&groups[1]),
        ["127.0.0.10:9100", "127.0.0.11:9100"]
    );

    let (mut p, _) = provider(
        zone.clone(),
        config(&["web6.sd.test"], DnsRecordType::AAAA, 80),
        &[],
    )
    .await;
    let (groups, _) = p.refresh().await;
    assert_eq!(addresses(&groups[0]), ["[::1]:80"]);

    let (mut p, _) = provider(
        zone.clone(),
        config(&["mail.sd.test"], DnsRecordType::MX, 25),
        &[],
    )
    .await;
    let (groups, _) = p.refresh().await;
    assert_eq!(
        groups[0].targets[0].to_string(),
        r#"{__address__="mx1.sd.test:25", __meta_dns_mx_record_target="mx1.sd.test.", __meta_dns_name="mail.sd.test"}"#
    );

    let (mut p, _) = provider(zone, config(&["sd.test"], DnsRecordType::NS, 53), &[]).await;
    let (groups, _) = p.refresh().await;
    assert_eq!(
        groups[0].targets[0].to_string(),
        r#"{__address__="ns1.sd.test:53", __meta_dns_name="sd.test", __meta_dns_ns_record_target="ns1.sd.test."}"#
    );
}

#[tokio::test]
async fn search_domains_are_used() {
    // "web" has fewer dots than ndots (1): "web.sd.test." is tried before "web.".
    let (mut p, _) = provider(
        test_zone(),
        config(&["web"], DnsRecordType::A, 1),
        &["other.test", "sd.test"],
    )
    .await;
    let (groups, status) = p.refresh().await;
    status.unwrap();
    assert_eq!(addresses(&groups[0]), ["127.0.0.10:1", "127.0.0.11:1"]);
    assert_eq!(
        groups[0].targets[0].get("__meta_dns_name"),
        Some("web"),
        "the configured name is the label"
    );
}

#[tokio::test]
async fn nxdomain_empties_and_failure_keeps_previous() {
    let zone = test_zone();
    let (mut p, metrics) = provider(
        zone.clone(),
        config(&["web.sd.test", "mail.sd.test"], DnsRecordType::A, 80),
        &[],
    )
    .await;
    let (groups, status) = p.refresh().await;
    status.unwrap();
    assert_eq!(groups[0].targets.len(), 2);
    // mail.sd.test exists without A records (NODATA): an empty group.
    assert_eq!(groups[1].source, "mail.sd.test");
    assert!(groups[1].targets.is_empty());

    // SERVFAIL: the lookup failed, the previous targets stay.
    zone.set("web.sd.test.", Entry::Fail(ResponseCode::ServFail));
    let (groups, status) = p.refresh().await;
    let err = status.unwrap_err();
    assert!(err.contains("web.sd.test"), "{err}");
    assert_eq!(groups[0].targets.len(), 2);
    assert_eq!(SdMetrics::get(&metrics.dns_lookup_failures), 1);

    // NXDOMAIN: the name definitely has no records, its targets go away.
    zone.remove("web.sd.test.");
    let (groups, status) = p.refresh().await;
    status.unwrap();
    assert!(groups[0].targets.is_empty());
    assert_eq!(SdMetrics::get(&metrics.dns_lookups), 6);
}

#[tokio::test]
async fn unreachable_server_is_a_failure() {
    // A bound socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut settings =
        ResolverSettings::with_name_servers(&[silent.local_addr().unwrap().to_string()]).unwrap();
    settings.timeout = Duration::from_millis(200);
    let metrics = Arc::new(SdMetrics::default());
    let mut p = DnsProvider::with_resolver(
        config(&["web.sd.test"], DnsRecordType::A, 80),
        ResolverSource::Fixed(settings),
        metrics.clone(),
    );
    let (groups, status) = p.refresh().await;
    assert!(status.is_err());
    assert!(groups.is_empty());
    assert_eq!(SdMetrics::get(&metrics.dns_lookup_failures), 1);
}

#[tokio::test]
async fn through_the_manager() {
    let zone = test_zone();
    let addr = start_server(zone.clone()).await;
    let mut settings = ResolverSettings::with_name_servers(&[addr.to_string()]).unwrap();
    settings.timeout = Duration::from_millis(500);
    let manager = Manager::with_options(ManagerOptions {
        update_interval: Duration::from_millis(50),
        dns_resolver: ResolverSource::Fixed(settings),
    });
    let mut rx = manager.subscribe();
    let sd = SdConfigs {
        dns_sd_configs: vec![config(&["_prometheus._tcp.sd.test"], DnsRecordType::SRV, 0)],
        ..Default::default()
    };
    manager.apply(vec![("dns".into(), sd)]);
    let sets = wait_for(&mut rx, "SRV targets", |s| {
        s.get("dns").is_some_and(|g| g.len() == 1)
    })
    .await;
    assert_eq!(
        addresses(&sets["dns"][0]),
        ["node1.sd.test:9100", "node2.sd.test:9101"]
    );

    zone.set(
        "_prometheus._tcp.sd.test.",
        Entry::Records(vec![RData::SRV(SRV::new(
            0,
            0,
            9200,
            name("node3.sd.test."),
        ))]),
    );
    let sets = wait_for(&mut rx, "changed SRV targets", |s| {
        s.get("dns")
            .is_some_and(|g| g.len() == 1 && g[0].targets.len() == 1)
    })
    .await;
    assert_eq!(addresses(&sets["dns"][0]), ["node3.sd.test:9200"]);

    // A failing server keeps the targets; NXDOMAIN removes them (the group is dropped).
    zone.set(
        "_prometheus._tcp.sd.test.",
        Entry::Fail(ResponseCode::Refused),
    );
    let failures = manager.metrics();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while SdMetrics::get(&failures.dns_lookup_failures) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed lookup counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(addresses(&rx.borrow()["dns"][0]), ["node3.sd.test:9200"]);
    zone.remove("_prometheus._tcp.sd.test.");
    wait_for(&mut rx, "targets removed", |s| {
        s.get("dns").is_some_and(|g| g.is_empty())
    })
    .await;
}

/// `--cluster.peers` DNS sources resolve through the same resolver: `dns+` takes A and AAAA
/// records with the given port, `dnssrv+` the SRV targets and ports; static entries pass
/// through; a failing name fails the whole resolution (the caller keeps its members).
#[tokio::test]
async fn cluster_peer_sources_resolve() {
    use promshard::coord::members::{parse_peers, resolve};
    let zone = test_zone();
    zone.set(
        "both.sd.test.",
        Entry::Records(vec![
            RData::A(A("127.0.0.12".parse().unwrap())),
            RData::AAAA(AAAA("::1".parse().unwrap())),
        ]),
    );
    let addr = start_server(zone).await;
    let mut settings = ResolverSettings::with_name_servers(&[addr.to_string()]).unwrap();
    settings.timeout = Duration::from_millis(500);
    let source = ResolverSource::Fixed(settings);
    let peers = parse_peers(
        "dns+web.sd.test:9090,dns+both.sd.test:9091,dnssrv+_prometheus._tcp.sd.test,10.1.2.3:9090",
    )
    .unwrap();
    let members = resolve(&peers, &source).await.unwrap();
    assert_eq!(
        members.into_iter().collect::<Vec<_>>(),
        [
            "10.1.2.3:9090",
            "127.0.0.10:9090",
            "127.0.0.11:9090",
            "127.0.0.12:9091",
            "[::1]:9091",
            "node1.sd.test:9100",
            "node2.sd.test:9101",
        ]
    );
    let broken = parse_peers("dns+broken.sd.test:9090,10.1.2.3:9090").unwrap();
    let err = resolve(&broken, &source).await.unwrap_err();
    assert!(err.contains("broken.sd.test"), "{err}");
}
