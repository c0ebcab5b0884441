//! HTTP service discovery and the http_config client against an axum server on 127.0.0.1.

mod common;

use common::wait_for;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use promshard::config::PromDuration;
use promshard::config::http::{
    Authorization, BasicAuth, HeaderValues, HttpClientConfig, OAuth2, Secret,
};
use promshard::sd::http::HttpProvider;
use promshard::sd::{HttpSdConfig, Manager, SdConfigs, SdMetrics};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Server {
    status: StatusCode,
    content_type: String,
    body: String,
    /// Headers of every request to /sd.
    requests: Vec<HeaderMap>,
    /// Headers and bodies of every token request.
    token_requests: Vec<(HeaderMap, String)>,
    /// Where /away redirects to.
    redirect_to: String,
    /// `expires_in` of issued tokens.
    token_expires_in: u64,
    /// The token endpoint rejects credentials in a basic-auth header (wants them in the body).
    token_wants_body_credentials: bool,
}

type Shared = Arc<Mutex<Server>>;

const GROUPS: &str = r#"[{"targets": ["10.0.0.1:9100", "10.0.0.2:9100"], "labels": {"env": "prod"}}, {"targets": ["10.0.0.3:9100"]}]"#;

fn server() -> Shared {
    Arc::new(Mutex::new(Server {
        status: StatusCode::OK,
        content_type: "application/json".into(),
        body: GROUPS.into(),
        requests: Vec::new(),
        token_requests: Vec::new(),
        redirect_to: String::new(),
        token_expires_in: 3600,
        token_wants_body_credentials: false,
    }))
}

async fn sd(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let mut s = s.lock().unwrap();
    s.requests.push(headers);
    (
        s.status,
        [(header::CONTENT_TYPE, s.content_type.clone())],
        s.body.clone(),
    )
        .into_response()
}

async fn token(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = s.lock().unwrap();
    let in_header = headers.contains_key(header::AUTHORIZATION);
    s.token_requests
        .push((headers, String::from_utf8_lossy(&body).into_owned()));
    if in_header && s.token_wants_body_credentials {
        let error = r#"{"error": "invalid_client"}"#;
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            error,
        )
            .into_response();
    }
    let n = s.token_requests.len();
    let expires_in = s.token_expires_in;
    let body = format!(
        r#"{{"access_token": "tok-{n}", "token_type": "bearer", "expires_in": {expires_in}}}"#
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn away(State(s): State<Shared>) -> Response {
    let to = s.lock().unwrap().redirect_to.clone();
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

async fn start_on(ip: &str, state: Shared) -> SocketAddr {
    let app = Router::new()
        .route("/sd", get(sd))
        .route("/token", post(token))
        .route(
            "/same",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/sd")]) }),
        )
        .route("/away", get(away))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn start(state: Shared) -> SocketAddr {
    start_on("127.0.0.1", state).await
}

fn sd_config(url: String, refresh: PromDuration, http_client: HttpClientConfig) -> HttpSdConfig {
    HttpSdConfig {
        url,
        refresh_interval: refresh,
        http_client,
    }
}

fn provider(cfg: HttpSdConfig) -> (HttpProvider, Arc<SdMetrics>) {
    let metrics = Arc::new(SdMetrics::default());
    (HttpProvider::new(cfg, metrics.clone()).unwrap(), metrics)
}

fn last_header(s: &Shared, name: &str) -> Option<String> {
    let s = s.lock().unwrap();
    s.requests
        .last()
        .and_then(|h| h.get(name))
        .map(|v| v.to_str().unwrap().to_string())
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[tokio::test]
async fn groups_labels_and_request_headers() {
    let s = server();
    let addr = start(s.clone()).await;
    let url = format!("http://{addr}/sd");
    let (p, metrics) = provider(sd_config(
        url.clone(),
        PromDuration::from_secs(60),
        HttpClientConfig::default(),
    ));
    let groups = p.refresh().await.unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].source, format!("{url}:0"));
    assert_eq!(groups[1].source, format!("{url}:1"));
    assert_eq!(groups[0].labels.get("__meta_url"), Some(url.as_str()));
    assert_eq!(groups[0].labels.get("env"), Some("prod"));
    assert_eq!(groups[1].labels.get("__meta_url"), Some(url.as_str()));
    assert_eq!(
        groups[0].targets[1].get("__address__"),
        Some("10.0.0.2:9100")
    );
    assert_eq!(
        last_header(&s, "x-prometheus-refresh-interval-seconds").as_deref(),
        Some("60")
    );
    assert_eq!(
        last_header(&s, "accept").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        last_header(&s, "user-agent"),
        Some(format!("promshard/{}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(last_header(&s, "authorization"), None);
    assert_eq!(SdMetrics::get(&metrics.http_failures), 0);

    let (p, _) = provider(sd_config(
        url,
        PromDuration::from_millis(1500),
        HttpClientConfig::default(),
    ));
    p.refresh().await.unwrap();
    assert_eq!(
        last_header(&s, "x-prometheus-refresh-interval-seconds").as_deref(),
        Some("1.5")
    );
}

#[tokio::test]
async fn status_and_content_type_are_checked() {
    let s = server();
    let addr = start(s.clone()).await;
    let (p, metrics) = provider(sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_secs(60),
        HttpClientConfig::default(),
    ));

    s.lock().unwrap().status = StatusCode::NOT_FOUND;
    let err = p.refresh().await.unwrap_err();
    assert_eq!(err, "server returned HTTP status 404 Not Found");

    s.lock().unwrap().status = StatusCode::OK;
    s.lock().unwrap().content_type = "text/plain".into();
    let err = p.refresh().await.unwrap_err();
    assert_eq!(err, r#"unsupported content type "text/plain""#);

    s.lock().unwrap().content_type = "application/json; charset=utf-8".into();
    assert_eq!(p.refresh().await.unwrap().len(), 2);

    s.lock().unwrap().content_type = "application/json; charset=iso-8859-1".into();
    assert!(p.refresh().await.is_err());

    s.lock().unwrap().content_type = "application/json".into();
    s.lock().unwrap().body = r#"[{"targets": ["a"], "unknown": 1}]"#.into();
    assert!(p.refresh().await.unwrap_err().contains("unknown field"));

    s.lock().unwrap().body = r#"[{"targets": ["a"], "labels": {"": "x"}}]"#.into();
    assert!(
        p.refresh()
            .await
            .unwrap_err()
            .contains("is not a valid label name")
    );

    assert_eq!(SdMetrics::get(&metrics.http_failures), 5);

    // Nothing listens on port 1.
    let (p, _) = provider(sd_config(
        "http://127.0.0.1:1/sd".into(),
        PromDuration::from_secs(60),
        HttpClientConfig::default(),
    ));
    let err = p.refresh().await.unwrap_err();
    assert!(err.to_lowercase().contains("connect"), "{err}");
}

#[tokio::test]
async fn failures_keep_the_last_groups_through_the_manager() {
    let s = server();
    let addr = start(s.clone()).await;
    let manager = Manager::new(Duration::from_millis(50));
    let mut rx = manager.subscribe();
    let cfg = sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_millis(100),
        HttpClientConfig::default(),
    );
    manager.apply(vec![(
        "http".into(),
        SdConfigs {
            http_sd_configs: vec![cfg],
            ..Default::default()
        },
    )]);
    wait_for(&mut rx, "initial groups", |s| {
        s.get("http").is_some_and(|g| g.len() == 2)
    })
    .await;

    s.lock().unwrap().status = StatusCode::INTERNAL_SERVER_ERROR;
    let metrics = manager.metrics();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while SdMetrics::get(&metrics.http_failures) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "failures not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        rx.borrow()["http"].len(),
        2,
        "failed refreshes keep the last good groups"
    );
    assert!(SdMetrics::get(&metrics.http_refresh_failures) >= 2);

    {
        let mut s = s.lock().unwrap();
        s.status = StatusCode::OK;
        s.body = r#"[{"targets": ["10.0.0.9:1"]}]"#.into();
    }
    let sets = wait_for(&mut rx, "new groups", |s| {
        s.get("http").is_some_and(|g| g.len() == 1)
    })
    .await;
    assert_eq!(
        sets["http"][0].targets[0].get("__address__"),
        Some("10.0.0.9:1")
    );

    s.lock().unwrap().body = "[]".into();
    wait_for(&mut rx, "no groups", |s| {
        s.get("http").is_some_and(|g| g.is_empty())
    })
    .await;
}

#[tokio::test]
async fn basic_auth_password_file_is_reread() {
    let s = server();
    let addr = start(s.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "first\n").unwrap();
    let http = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username: "user".into(),
            password_file: Some(pw.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (p, _) = provider(sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_secs(60),
        http,
    ));
    p.refresh().await.unwrap();
    assert_eq!(
        last_header(&s, "authorization"),
        Some(basic("user", "first"))
    );
    std::fs::write(&pw, "  second  \n").unwrap();
    p.refresh().await.unwrap();
    assert_eq!(
        last_header(&s, "authorization"),
        Some(basic("user", "second"))
    );

    // username_file and an inline password.
    let user = dir.path().join("user");
    std::fs::write(&user, "from-file\n").unwrap();
    let http = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username_file: Some(user),
            password: Some(Secret("inline".into())),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (p, _) = provider(sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_secs(60),
        http,
    ));
    p.refresh().await.unwrap();
    assert_eq!(
        last_header(&s, "authorization"),
        Some(basic("from-file", "inline"))
    );

    // A missing file fails the refresh, names the file, and sends nothing.
    std::fs::remove_file(&pw).unwrap();
    let http = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username: "user".into(),
            password_file: Some(pw.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let before = s.lock().unwrap().requests.len();
    let (p, metrics) = provider(sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_secs(60),
        http,
    ));
    let err = p.refresh().await.unwrap_err();
    assert!(
        err.contains(&pw.display().to_string()) && err.contains("basic_auth password"),
        "{err}"
    );
    assert_eq!(s.lock().unwrap().requests.len(), before);
    assert_eq!(SdMetrics::get(&metrics.http_failures), 1);
}

#[tokio::test]
async fn bearer_credentials_file_is_reread() {
    let s = server();
    let addr = start(s.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "tok1\n").unwrap();
    let http = HttpClientConfig {
        authorization: Some(Authorization {
            auth_type: "Bearer".into(),
            credentials: None,
            credentials_file: Some(token.clone()),
        }),
        ..Default::default()
    };
    let (p, _) = provider(sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_secs(60),
        http,
    ));
    p.refresh().await.unwrap();
    assert_eq!(
        last_header(&s, "authorization").as_deref(),
        Some("Bearer tok1")
    );
    std::fs::write(&token, "tok2").unwrap();
    p.refresh().await.unwrap();
    assert_eq!(
        last_header(&s, "authorization").as_deref(),
        Some("Bearer tok2")
    );

    let http = HttpClientConfig {
        authorization: Some(Authorization {
            auth_type: "Token".into(),
            credentials: Some(Secret("abc".into())),
            credentials_file: None,
        }),
        ..Default::default()
    };
    let (p, _) = provider(sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_secs(60),
        http,
    ));
    p.refresh().await.unwrap();
    assert_eq!(
        last_header(&s, "authorization").as_deref(),
        Some("Token abc")
    );
}

#[tokio::test]
async fn http_headers_values_secrets_and_files() {
    let s = server();
    let addr = start(s.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h");
    std::fs::write(&file, "from-file-1\n").unwrap();
    let mut http = HttpClientConfig::default();
    http.http_headers.insert(
        "X-Custom".into(),
        HeaderValues {
            values: vec!["v1".into()],
            secrets: vec![Secret("s1".into())],
            files: vec![file.clone()],
        },
    );
    let (p, _) = provider(sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_secs(60),
        http,
    ));
    p.refresh().await.unwrap();
    let values = |s: &Shared| -> Vec<String> {
        let s = s.lock().unwrap();
        s.requests
            .last()
            .unwrap()
            .get_all("x-custom")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(values(&s), ["v1", "s1", "from-file-1"]);
    std::fs::write(&file, "from-file-2").unwrap();
    p.refresh().await.unwrap();
    assert_eq!(values(&s), ["v1", "s1", "from-file-2"]);
}

#[tokio::test]
async fn oauth2_client_credentials() {
    let s = server();
    let addr = start(s.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "sec1\n").unwrap();
    let http = HttpClientConfig {
        oauth2: Some(OAuth2 {
            client_id: "my client".into(),
            client_secret_file: Some(secret.clone()),
            scopes: vec!["read".into(), "write".into()],
            token_url: format!("http://{addr}/token"),
            endpoint_params: [("audience".to_string(), "sd".to_string())].into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (p, _) = provider(sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_secs(60),
        http,
    ));
    p.refresh().await.unwrap();
    assert_eq!(
        last_header(&s, "authorization").as_deref(),
        Some("Bearer tok-1")
    );
    {
        let s = s.lock().unwrap();
        assert_eq!(s.token_requests.len(), 1);
        let (headers, body) = &s.token_requests[0];
        assert_eq!(
            headers.get("authorization").unwrap().to_str().unwrap(),
            basic("my+client", "sec1")
        );
        assert_eq!(
            headers.get("content-type").unwrap(),
            "application/x-www-form-urlencoded"
        );
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert!(
            form.contains(&("grant_type".into(), "client_credentials".into())),
            "{form:?}"
        );
        assert!(
            form.contains(&("scope".into(), "read write".into())),
            "{form:?}"
        );
        assert!(form.contains(&("audience".into(), "sd".into())), "{form:?}");
    }
    // The token is cached until it expires.
    p.refresh().await.unwrap();
    assert_eq!(s.lock().unwrap().token_requests.len(), 1);
    assert_eq!(
        last_header(&s, "authorization").as_deref(),
        Some("Bearer tok-1")
    );
    // A changed client secret gets a new token.
    std::fs::write(&secret, "sec2").unwrap();
    p.refresh().await.unwrap();
    assert_eq!(
        last_header(&s, "authorization").as_deref(),
        Some("Bearer tok-2")
    );
    let s = s.lock().unwrap();
    assert_eq!(
        s.token_requests[1]
            .0
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        basic("my+client", "sec2")
    );
}

#[tokio::test]
async fn redirects() {
    let a = server();
    let addr_a = start(a.clone()).await;
    let b = server();
    // Another loopback address is another host.
    let addr_b = start_on("127.0.0.2", b.clone()).await;
    a.lock().unwrap().redirect_to = format!("http://{addr_b}/sd");
    let auth = || HttpClientConfig {
        authorization: Some(Authorization {
            auth_type: "Bearer".into(),
            credentials: Some(Secret("secret-token".into())),
            credentials_file: None,
        }),
        ..Default::default()
    };

    // Same host: the credentials follow the redirect.
    let (p, _) = provider(sd_config(
        format!("http://{addr_a}/same"),
        PromDuration::from_secs(60),
        auth(),
    ));
    assert_eq!(p.refresh().await.unwrap().len(), 2);
    assert_eq!(
        last_header(&a, "authorization").as_deref(),
        Some("Bearer secret-token")
    );

    // Another host: Authorization is dropped.
    let (p, _) = provider(sd_config(
        format!("http://{addr_a}/away"),
        PromDuration::from_secs(60),
        auth(),
    ));
    assert_eq!(p.refresh().await.unwrap().len(), 2);
    assert_eq!(b.lock().unwrap().requests.len(), 1);
    assert_eq!(last_header(&b, "authorization"), None);

    // follow_redirects: false gives the redirect response itself.
    let mut http = auth();
    http.follow_redirects = false;
    let (p, _) = provider(sd_config(
        format!("http://{addr_a}/same"),
        PromDuration::from_secs(60),
        http,
    ));
    assert_eq!(
        p.refresh().await.unwrap_err(),
        "server returned HTTP status 302 Found"
    );
}

#[tokio::test]
async fn oauth2_expiry_and_credentials_in_body() {
    let s = server();
    let addr = start(s.clone()).await;
    {
        let mut s = s.lock().unwrap();
        // Within the 10s renewal margin: every request needs a new token.
        s.token_expires_in = 5;
        s.token_wants_body_credentials = true;
    }
    let http = HttpClientConfig {
        oauth2: Some(OAuth2 {
            client_id: "id".into(),
            client_secret: Some(Secret("sec".into())),
            token_url: format!("http://{addr}/token"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (p, _) = provider(sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_secs(60),
        http,
    ));
    p.refresh().await.unwrap();
    {
        let s = s.lock().unwrap();
        // Header first (rejected), then the body.
        assert_eq!(s.token_requests.len(), 2, "{:?}", s.token_requests);
        let form: Vec<(String, String)> =
            url::form_urlencoded::parse(s.token_requests[1].1.as_bytes())
                .into_owned()
                .collect();
        assert!(
            form.contains(&("client_id".into(), "id".into())),
            "{form:?}"
        );
        assert!(
            form.contains(&("client_secret".into(), "sec".into())),
            "{form:?}"
        );
        assert!(!s.token_requests[1].0.contains_key("authorization"));
    }
    assert_eq!(
        last_header(&s, "authorization").as_deref(),
        Some("Bearer tok-2")
    );
    // Expired: a new token, and the body style is remembered (one request).
    p.refresh().await.unwrap();
    assert_eq!(s.lock().unwrap().token_requests.len(), 3);
    assert_eq!(
        last_header(&s, "authorization").as_deref(),
        Some("Bearer tok-3")
    );

    // A failing token endpoint fails the refresh without reaching /sd.
    let before = s.lock().unwrap().requests.len();
    let http = HttpClientConfig {
        oauth2: Some(OAuth2 {
            client_id: "id".into(),
            token_url: format!("http://{addr}/nope"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (p, _) = provider(sd_config(
        format!("http://{addr}/sd"),
        PromDuration::from_secs(60),
        http,
    ));
    let err = p.refresh().await.unwrap_err();
    assert!(err.contains("oauth2") && err.contains("404"), "{err}");
    assert_eq!(s.lock().unwrap().requests.len(), before);
}

/// A minimal forward proxy: records each request line and answers with an empty group list.
async fn proxy() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                seen.lock()
                    .unwrap()
                    .push(head.lines().next().unwrap_or("").to_string());
                let body = r#"[{"targets": ["via-proxy:1"]}]"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(response.as_bytes()).await;
            });
        }
    });
    (addr, lines)
}

#[tokio::test]
async fn proxy_url_and_no_proxy() {
    let (proxy_addr, lines) = proxy().await;
    // Nothing listens at the target: only the proxy can answer.
    let target = "http://127.0.0.3:1/sd";
    let http = HttpClientConfig {
        proxy_url: Some(format!("http://{proxy_addr}")),
        ..Default::default()
    };
    let (p, _) = provider(sd_config(target.into(), PromDuration::from_secs(60), http));
    let groups = p.refresh().await.unwrap();
    assert_eq!(groups[0].targets[0].get("__address__"), Some("via-proxy:1"));
    assert_eq!(
        lines.lock().unwrap().as_slice(),
        [format!("GET {target} HTTP/1.1")]
    );

    let http = HttpClientConfig {
        proxy_url: Some(format!("http://{proxy_addr}")),
        no_proxy: Some("127.0.0.3".into()),
        ..Default::default()
    };
    let (p, _) = provider(sd_config(target.into(), PromDuration::from_secs(60), http));
    assert!(
        p.refresh().await.is_err(),
        "no_proxy: connects directly, where nothing listens"
    );
    assert_eq!(lines.lock().unwrap().len(), 1);
}
