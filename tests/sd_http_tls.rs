//! tls_config and enable_http2 of the http_config client, against a TLS server on 127.0.0.1
//! with certificates made by the test (rcgen).

use promshard::config::http::{HttpClientConfig, Secret, TlsConfig, TlsVersion};
use promshard::http_client;
mod common;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    /// Server certificate for the name `sd.test` only (not for 127.0.0.1).
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    client_cert_pem: String,
    client_key_pem: String,
}

fn pki() -> Pki {
    let ca = common::pki::TestCa::new();
    let server = ca.issue(&["sd.test"]);
    let client = ca.issue(&["client"]);
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der(),
        server: (server.cert_der, server.key_der),
        client_cert_pem: client.cert_pem,
        client_key_pem: client.key_pem,
    }
}

/// What the server saw of each TLS connection.
#[derive(Clone, Debug, Default)]
struct Seen {
    offered_alpn: Vec<String>,
    version: Option<rustls::ProtocolVersion>,
    client_cert: bool,
}

/// A TLS server answering every HTTP/1.1 request with `[]` as JSON.
async fn tls_server(pki: &Pki, require_client_cert: bool) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let config = config.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let acceptor =
                    tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
                let Ok(start) = acceptor.await else { return };
                let offered_alpn = start
                    .client_hello()
                    .alpn()
                    .map(|protos| {
                        protos
                            .map(|p| String::from_utf8_lossy(p).into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                let Ok(mut stream) = start.into_stream(config).await else {
                    seen.lock().unwrap().push(Seen {
                        offered_alpn,
                        ..Default::default()
                    });
                    return;
                };
                let (_, conn) = stream.get_ref();
                seen.lock().unwrap().push(Seen {
                    offered_alpn,
                    version: conn.protocol_version(),
                    client_cert: conn.peer_certificates().is_some_and(|c| !c.is_empty()),
                });
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]";
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, seen)
}

async fn fetch(cfg: &HttpClientConfig, addr: SocketAddr) -> Result<String, String> {
    let client = http_client::build(cfg, "promshard-test")?;
    let response = client
        .get(&format!("https://{addr}/sd"))
        .await?
        .send()
        .await
        .map_err(http_client::request_error)?;
    response.text().await.map_err(|e| e.to_string())
}

fn tls(f: impl FnOnce(&mut TlsConfig)) -> HttpClientConfig {
    let mut cfg = HttpClientConfig::default();
    f(&mut cfg.tls_config);
    cfg
}

#[tokio::test]
async fn server_verification() {
    let pki = pki();
    let (addr, _) = tls_server(&pki, false).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();

    // Trusted CA and the certificate's name.
    let ok = tls(|t| {
        t.ca_file = Some(ca_file.clone());
        t.server_name = "sd.test".into();
    });
    assert_eq!(fetch(&ok, addr).await.unwrap(), "[]");
    // Inline CA.
    let ok = tls(|t| {
        t.ca = Some(pki.ca_pem.clone());
        t.server_name = "sd.test".into();
    });
    assert_eq!(fetch(&ok, addr).await.unwrap(), "[]");

    // The certificate is not valid for 127.0.0.1.
    let err = fetch(&tls(|t| t.ca_file = Some(ca_file.clone())), addr)
        .await
        .unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // Wrong server_name.
    let wrong = tls(|t| {
        t.ca_file = Some(ca_file.clone());
        t.server_name = "other.test".into();
    });
    assert!(fetch(&wrong, addr).await.is_err());
    // Not signed by a system root.
    assert!(
        fetch(&tls(|t| t.server_name = "sd.test".into()), addr)
            .await
            .is_err()
    );
    // insecure_skip_verify accepts it all.
    assert_eq!(
        fetch(&tls(|t| t.insecure_skip_verify = true), addr)
            .await
            .unwrap(),
        "[]"
    );
}

#[tokio::test]
async fn client_certificate() {
    let pki = pki();
    let (addr, seen) = tls_server(&pki, true).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (dir.path().join("client.pem"), dir.path().join("client.key"));
    std::fs::write(&cert_file, &pki.client_cert_pem).unwrap();
    std::fs::write(&key_file, &pki.client_key_pem).unwrap();
    let base = |t: &mut TlsConfig| {
        t.ca = Some(pki.ca_pem.clone());
        t.server_name = "sd.test".into();
    };

    let with_files = tls(|t| {
        base(t);
        t.cert_file = Some(cert_file.clone());
        t.key_file = Some(key_file.clone());
    });
    assert_eq!(fetch(&with_files, addr).await.unwrap(), "[]");
    assert!(seen.lock().unwrap().last().unwrap().client_cert);

    let inline = tls(|t| {
        base(t);
        t.cert = Some(pki.client_cert_pem.clone());
        t.key = Some(Secret(pki.client_key_pem.clone()));
    });
    assert_eq!(fetch(&inline, addr).await.unwrap(), "[]");

    assert!(
        fetch(&tls(base), addr).await.is_err(),
        "the server requires a client certificate"
    );

    // Unreadable key file: named in the error, which does not show the key.
    let missing = tls(|t| {
        base(t);
        t.cert_file = Some(cert_file.clone());
        t.key_file = Some(dir.path().join("nope.key"));
    });
    let err = http_client::build(&missing, "t").unwrap_err();
    assert!(err.contains("nope.key"), "{err}");
    let bad_key = tls(|t| {
        base(t);
        t.cert = Some(pki.client_cert_pem.clone());
        t.key = Some(Secret(
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
                .into(),
        ));
    });
    let err = http_client::build(&bad_key, "t").unwrap_err();
    assert!(!err.contains("c2VjcmV0"), "{err}");
}

#[tokio::test]
async fn alpn_and_versions() {
    let pki = pki();
    let (addr, seen) = tls_server(&pki, false).await;
    let mut cfg = tls(|t| t.insecure_skip_verify = true);
    fetch(&cfg, addr).await.unwrap();
    let last = seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(last.offered_alpn, ["h2", "http/1.1"]);
    assert_eq!(last.version, Some(rustls::ProtocolVersion::TLSv1_3));

    cfg.enable_http2 = false;
    fetch(&cfg, addr).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().last().unwrap().offered_alpn,
        ["http/1.1"]
    );

    cfg.tls_config.max_version = Some(TlsVersion::TLS12);
    fetch(&cfg, addr).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().last().unwrap().version,
        Some(rustls::ProtocolVersion::TLSv1_2)
    );

    cfg.tls_config.max_version = None;
    cfg.tls_config.min_version = Some(TlsVersion::TLS13);
    fetch(&cfg, addr).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().last().unwrap().version,
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}
