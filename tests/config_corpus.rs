//! The configuration corpus: `tests/configs/good/*.yml` must load, with the values Prometheus 3
//! (agent mode) would resolve; `tests/configs/bad/*.yml` must fail with exactly the errors in
//! the `.err` file next to them. Also runs the Prometheus project's own config test files
//! (`fixtures/prometheus-config/`, from `config/testdata/`).
//!
//! An `.err` file has one line per error, `line:col: message`; errors located in another
//! file (one of `scrape_config_files`) are written `path:line:col: message` with the path
//! relative to `tests/configs/bad/`. `{dir}` stands for the absolute path of that directory.

use promshard::config::global::SchemeName;
use promshard::config::http::Authorization;
use promshard::config::remote_write::{MetadataConfig, ProtobufMessage, QueueConfig};
use promshard::config::{
    ByteSize, Config, ConfigErrors, PromDuration, ScrapeConfig, ScrapeProtocol, load_file,
    load_str, load_str_with_env,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn configs_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(kind)
}

/// The environment the corpus is loaded with (for `external_labels`).
fn test_env(name: &str) -> Option<String> {
    match name {
        "PROMSHARD_TEST_REGION" => Some("eu-west".to_string()),
        _ => None,
    }
}

fn load_with_test_env(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    load_str_with_env(&text, path, &test_env)
}

/// Loads `tests/configs/good/<name>.yml`.
fn good(name: &str) -> Config {
    let path = configs_dir("good").join(format!("{name}.yml"));
    load_with_test_env(&path).unwrap_or_else(|e| panic!("{name}.yml should load:\n{e}"))
}

fn job<'a>(config: &'a Config, name: &str) -> &'a ScrapeConfig {
    config
        .scrape_configs
        .iter()
        .find(|j| j.job_name == name)
        .unwrap_or_else(|| panic!("no job {name:?}"))
}

fn secs(s: u64) -> PromDuration {
    PromDuration::from_secs(s)
}

fn yml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

/// The errors of `config_file` as an `.err` file writes them.
fn render_errors(errors: &ConfigErrors, config_file: &Path, dir: &Path) -> String {
    let dir_text = dir.display().to_string();
    errors
        .0
        .iter()
        .map(|e| {
            let file = if e.file == config_file {
                String::new()
            } else {
                format!("{}:", e.file.strip_prefix(dir).unwrap_or(&e.file).display())
            };
            format!(
                "{file}{}:{}: {}\n",
                e.line,
                e.column,
                e.message.replace(&dir_text, "{dir}")
            )
        })
        .collect()
}

#[test]
fn every_good_config_loads() {
    let files = yml_files(&configs_dir("good"));
    assert!(files.len() >= 20, "the good corpus is missing");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            load_with_test_env(path)
                .err()
                .map(|e| format!("{}:\n{e}", path.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "good configs that failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_bad_config_fails_with_its_expected_errors() {
    let dir = configs_dir("bad");
    let files = yml_files(&dir);
    assert!(files.len() >= 100, "the bad corpus is missing");
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(expected) = std::fs::read_to_string(path.with_extension("err")) else {
            failures.push(format!("{name}: no .err file"));
            continue;
        };
        match load_file(path) {
            Ok(_) => failures.push(format!("{name}: loaded, expected:\n{expected}")),
            Err(errors) => {
                let got = render_errors(&errors, path, &dir);
                if got != expected {
                    failures.push(format!("{name}:\n  expected: {expected}  got:      {got}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad configs:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn errors_display_with_file_line_and_column() {
    let path = configs_dir("bad").join("job_name_empty.yml");
    let errors = load_file(&path).unwrap_err();
    assert_eq!(
        errors.to_string(),
        format!("{}:2:5: job_name is empty", path.display())
    );
}

#[test]
fn empty_file_loads_with_all_defaults() {
    let empty = good("empty");
    for other in [
        good("comments_only"),
        good("null_sections"),
        load_str("", Path::new("/x.yml")).unwrap(),
    ] {
        assert_eq!(other.global, empty.global);
        assert!(other.scrape_configs.is_empty() && other.remote_write.is_empty());
        assert!(other.scrape_config_files.is_empty());
    }
    let g = &empty.global;
    assert_eq!(g.scrape_interval, secs(60));
    assert_eq!(g.scrape_timeout, secs(10));
    assert_eq!(g.evaluation_interval, secs(60));
    assert_eq!(g.scrape_protocols, None);
    assert!(g.external_labels.is_empty());
    assert_eq!(g.body_size_limit, ByteSize(0));
    assert_eq!(
        [
            g.sample_limit,
            g.target_limit,
            g.label_limit,
            g.label_name_length_limit,
            g.label_value_length_limit
        ],
        [0; 5]
    );
    assert_eq!(g.keep_dropped_targets, 0);
    assert_eq!(g.metric_name_validation_scheme, SchemeName::Utf8);
    assert_eq!(g.metric_name_escaping_scheme, "allow-utf-8");
    assert!(!g.scrape_native_histograms);
    assert!(!g.always_scrape_classic_histograms);
    assert!(!g.convert_classic_histograms_to_nhcb);
    assert!(!g.extra_scrape_metrics);
    assert_eq!(g.scrape_failure_log_file, None);
}

#[test]
fn scrape_and_remote_write_defaults() {
    let config = good("defaults");
    let j = job(&config, "defaults");
    assert_eq!((j.scrape_interval, j.scrape_timeout), (secs(60), secs(10)));
    assert_eq!(j.metrics_path, "/metrics");
    assert_eq!(j.scheme, "http");
    assert!(j.params.is_empty());
    assert!(!j.honor_labels);
    assert!(j.honor_timestamps);
    assert!(!j.track_timestamps_staleness);
    assert!(j.enable_compression);
    assert_eq!(j.body_size_limit, ByteSize(0));
    assert_eq!(
        [
            j.sample_limit,
            j.target_limit,
            j.label_limit,
            j.label_name_length_limit,
            j.label_value_length_limit
        ],
        [0; 5]
    );
    assert_eq!(j.keep_dropped_targets, 0);
    assert_eq!(
        j.scrape_protocols,
        [
            ScrapeProtocol::OpenMetricsText1_0_0,
            ScrapeProtocol::OpenMetricsText0_0_1,
            ScrapeProtocol::PrometheusText1_0_0,
            ScrapeProtocol::PrometheusText0_0_4,
        ]
    );
    assert_eq!(j.fallback_scrape_protocol, None);
    assert!(!j.scrape_native_histograms);
    assert!(!j.always_scrape_classic_histograms);
    assert!(!j.convert_classic_histograms_to_nhcb);
    assert!(!j.extra_scrape_metrics);
    assert_eq!(j.metric_name_validation_scheme, SchemeName::Utf8);
    assert_eq!(j.metric_name_escaping_scheme, "allow-utf-8");
    assert_eq!(j.scrape_failure_log_file, None);
    let http = &j.http_client;
    assert!(http.follow_redirects && http.enable_http2);
    assert!(http.basic_auth.is_none() && http.authorization.is_none() && http.oauth2.is_none());
    assert!(http.proxy_url.is_none() && !http.proxy_from_environment);
    assert_eq!(j.service_discovery.static_configs.len(), 1);
    assert_eq!(
        j.service_discovery.static_configs[0].targets,
        ["localhost:9100"]
    );

    let rw = &config.remote_write[0];
    assert_eq!(rw.url, "http://receiver:10908/api/v1/receive");
    assert_eq!(rw.name, "");
    assert_eq!(rw.remote_timeout, secs(30));
    assert!(rw.headers.is_empty());
    assert!(!rw.send_exemplars && !rw.send_native_histograms && !rw.round_robin_dns);
    assert_eq!(rw.protobuf_message, ProtobufMessage::V1);
    // Remote write turns HTTP/2 off by default (P: DefaultRemoteWriteHTTPClientConfig).
    assert!(!rw.http_client.enable_http2);
    assert!(rw.http_client.follow_redirects);
    assert_eq!(
        rw.queue_config,
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: secs(5),
            min_backoff: PromDuration::from_millis(30),
            max_backoff: secs(5),
            retry_on_http_429: false,
            sample_age_limit: PromDuration::ZERO,
        }
    );
    assert_eq!(
        rw.metadata_config,
        MetadataConfig {
            send: true,
            send_interval: secs(60),
            max_samples_per_send: 2_000
        }
    );
}

#[test]
fn intervals_and_timeouts() {
    let config = good("intervals");
    assert_eq!(
        (config.global.scrape_interval, config.global.scrape_timeout),
        (secs(15), secs(10))
    );
    assert_eq!(config.global.evaluation_interval, secs(60));
    let t = |name: &str| {
        let j = job(&config, name);
        (j.scrape_interval, j.scrape_timeout)
    };
    assert_eq!(t("inherits"), (secs(15), secs(10)));
    assert_eq!(t("short"), (secs(5), secs(5)));
    assert_eq!(t("long"), (secs(90), secs(10)));
    assert_eq!(job(&config, "long").scrape_interval.to_string(), "1m30s");
    assert_eq!(t("explicit"), (secs(20), secs(20)));
    assert_eq!(t("zero"), (secs(15), secs(10)));

    let config = good("small_global_interval");
    assert_eq!(
        (config.global.scrape_interval, config.global.scrape_timeout),
        (secs(5), secs(5))
    );
    let t = |name: &str| {
        let j = job(&config, name);
        (j.scrape_interval, j.scrape_timeout)
    };
    assert_eq!(t("inherits"), (secs(5), secs(5)));
    assert_eq!(t("shorter"), (secs(2), secs(2)));
    // min(global timeout, interval): the global timeout is 5s here.
    assert_eq!(t("longer"), (secs(60), secs(5)));
}

#[test]
fn durations_parse_and_print_like_prometheus() {
    let config = good("durations");
    assert_eq!(config.global.scrape_interval, secs(90));
    assert_eq!(
        config.global.scrape_timeout,
        PromDuration::from_millis(1500)
    );
    let weekly = job(&config, "weekly");
    assert_eq!(
        (
            weekly.scrape_interval.to_string(),
            weekly.scrape_timeout.to_string()
        ),
        ("2w".into(), "1h".into())
    );
    let quoted = job(&config, "quoted");
    assert_eq!(quoted.scrape_interval.to_string(), "1y");
    assert_eq!(quoted.scrape_timeout, PromDuration::from_millis(1500));
    let rw = &config.remote_write[0];
    assert_eq!(rw.remote_timeout.to_string(), "2h30m");
    assert_eq!(rw.queue_config.batch_send_deadline.to_string(), "1s500ms");
    assert_eq!(rw.queue_config.min_backoff, PromDuration::from_millis(1));
}

#[test]
fn limits_inherit_the_global_value_when_zero() {
    let config = good("limits");
    let limits = |name: &str| {
        let j = job(&config, name);
        (
            j.body_size_limit.0,
            [
                j.sample_limit,
                j.target_limit,
                j.label_limit,
                j.label_name_length_limit,
                j.label_value_length_limit,
                j.keep_dropped_targets,
            ],
        )
    };
    let global = (15 << 20, [1500, 30, 31, 200, 201, 10]);
    assert_eq!(limits("unset"), global);
    assert_eq!(limits("zero"), global);
    assert_eq!(limits("own"), (1536, [10, 11, 12, 13, 14, 15]));
}

#[test]
fn scrape_protocols_defaults_follow_native_histograms() {
    use ScrapeProtocol::*;
    let default = vec![
        OpenMetricsText1_0_0,
        OpenMetricsText0_0_1,
        PrometheusText1_0_0,
        PrometheusText0_0_4,
    ];
    let proto_first = vec![
        PrometheusProto,
        OpenMetricsText1_0_0,
        OpenMetricsText0_0_1,
        PrometheusText1_0_0,
        PrometheusText0_0_4,
    ];

    let config = good("protocols_native_global");
    assert_eq!(config.global.scrape_protocols, None);
    assert_eq!(
        job(&config, "inherits_native").scrape_protocols,
        proto_first
    );
    assert!(job(&config, "inherits_native").scrape_native_histograms);
    assert_eq!(job(&config, "local_off").scrape_protocols, default);
    assert!(!job(&config, "local_off").scrape_native_histograms);
    assert_eq!(
        job(&config, "explicit").scrape_protocols,
        [PrometheusText1_0_0, OpenMetricsText1_0_0]
    );
    assert_eq!(
        job(&config, "fallback").fallback_scrape_protocol,
        Some(PrometheusText0_0_4)
    );
    assert_eq!(
        job(&config, "empty_fallback").fallback_scrape_protocol,
        None
    );

    let config = good("protocols_global_list");
    let global = vec![OpenMetricsText1_0_0, PrometheusText0_0_4];
    assert_eq!(config.global.scrape_protocols.as_ref(), Some(&global));
    assert_eq!(job(&config, "inherits").scrape_protocols, global);
    assert_eq!(job(&config, "native").scrape_protocols, global);
    assert_eq!(job(&config, "explicit").scrape_protocols, [PrometheusProto]);

    let config = good("protocols_native_job");
    assert_eq!(job(&config, "plain").scrape_protocols, default);
    assert_eq!(job(&config, "native").scrape_protocols, proto_first);
    assert_eq!(job(&config, "all").scrape_protocols, proto_first);
}

#[test]
fn validation_and_escaping_schemes() {
    let schemes = |config: &Config, name: &str| {
        let j = job(config, name);
        (
            j.metric_name_validation_scheme,
            j.metric_name_escaping_scheme.clone(),
        )
    };
    let config = good("escaping_legacy_global");
    assert_eq!(config.global.metric_name_escaping_scheme, "underscores");
    assert_eq!(
        schemes(&config, "inherits"),
        (SchemeName::Legacy, "underscores".into())
    );
    assert_eq!(
        schemes(&config, "local_utf8"),
        (SchemeName::Utf8, "allow-utf-8".into())
    );
    assert_eq!(
        schemes(&config, "local_dots"),
        (SchemeName::Legacy, "dots".into())
    );
    assert_eq!(
        schemes(&config, "local_both"),
        (SchemeName::Utf8, "values".into())
    );

    let config = good("escaping_global");
    assert_eq!(
        schemes(&config, "inherits"),
        (SchemeName::Utf8, "dots".into())
    );
    assert_eq!(
        schemes(&config, "local_utf8"),
        (SchemeName::Utf8, "allow-utf-8".into())
    );
    assert_eq!(
        schemes(&config, "local_legacy"),
        (SchemeName::Legacy, "underscores".into())
    );
    assert_eq!(
        schemes(&config, "empty_means_unset"),
        (SchemeName::Utf8, "dots".into())
    );

    let config = good("legacy_names");
    assert_eq!(
        config.global.metric_name_validation_scheme,
        SchemeName::Legacy
    );
    assert_eq!(config.global.external_labels.len(), 2);
}

#[test]
fn external_labels_expand_environment_variables() {
    let config = good("external_labels");
    let want: BTreeMap<String, String> = [
        ("plain", "value"),
        ("dollar", "eu-west"),
        ("braces", "eu-west-1"),
        ("escaped", "price$5"),
        ("escaped_braces", "${PROMSHARD_TEST_REGION}"),
        // Unset variables expand to "", and Prometheus keeps the label with that value.
        ("unset", ""),
        ("unset_braces", "ab"),
        ("null_value", ""),
        ("dotted.name", "utf-8 names are valid by default"),
        ("trailing", "cost$"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(config.global.external_labels, want);
}

#[test]
fn remote_write_values() {
    let config = good("remote_write");
    assert_eq!(config.remote_write.len(), 4);
    let rw = &config.remote_write[0];
    assert_eq!(rw.name, "thanos");
    assert_eq!(rw.url, "https://user:pw@receiver.example/api/v1/receive");
    assert_eq!(rw.remote_timeout, secs(10));
    assert_eq!(
        rw.headers.get("THANOS-TENANT").map(String::as_str),
        Some("team-a")
    );
    assert!(rw.send_exemplars && rw.send_native_histograms && rw.round_robin_dns);
    assert_eq!(rw.protobuf_message, ProtobufMessage::V2);
    assert!(rw.http_client.enable_http2);
    assert!(!rw.http_client.follow_redirects);
    assert_eq!(
        rw.queue_config,
        QueueConfig {
            capacity: 2500,
            max_shards: 200,
            min_shards: 2,
            max_samples_per_send: 500,
            batch_send_deadline: secs(10),
            min_backoff: PromDuration::from_millis(100),
            max_backoff: secs(10),
            retry_on_http_429: true,
            sample_age_limit: secs(300),
        }
    );
    assert_eq!(
        rw.metadata_config,
        MetadataConfig {
            send: false,
            send_interval: secs(120),
            max_samples_per_send: 2000
        }
    );

    let second = &config.remote_write[1];
    assert_eq!(second.protobuf_message, ProtobufMessage::V1);
    assert_eq!(
        second.queue_config,
        QueueConfig {
            max_shards: 5,
            ..QueueConfig::default()
        }
    );
    assert_eq!(
        second.metadata_config,
        MetadataConfig {
            max_samples_per_send: 100,
            ..MetadataConfig::default()
        }
    );
    assert!(!second.http_client.enable_http2);
    assert_eq!(config.remote_write[2].url, "localhost:9090");
}

#[test]
fn scrape_config_files_with_globs_and_relative_paths() {
    let dir = configs_dir("good");
    let config = good("scrape_config_files");
    assert_eq!(
        config.scrape_config_files,
        [
            "include/*.yml",
            "include/extra/jobs.yaml",
            "include/missing.yml"
        ]
        .map(|p| dir.join(p).to_string_lossy().into_owned())
    );
    let names: Vec<&str> = config
        .scrape_configs
        .iter()
        .map(|j| j.job_name.as_str())
        .collect();
    assert_eq!(names, ["main", "from_a", "from_b", "extra"]);
    let include = dir.join("include");
    let a = job(&config, "from_a");
    // Included jobs take the main file's global defaults...
    assert_eq!((a.scrape_interval, a.scrape_timeout), (secs(20), secs(10)));
    assert_eq!(job(&config, "from_b").scrape_interval, secs(30));
    // ...and their paths are relative to their own file.
    assert_eq!(
        a.http_client.tls_config.cert_file.as_deref(),
        Some(include.join("tls/client.crt").as_path())
    );
    assert_eq!(
        a.http_client.tls_config.key_file.as_deref(),
        Some(include.join("tls/client.key").as_path())
    );
    let basic = a.http_client.basic_auth.as_ref().unwrap();
    assert_eq!(
        basic.password_file.as_deref(),
        Some(include.join("secrets/password").as_path())
    );
    assert_eq!(
        a.scrape_failure_log_file.as_deref(),
        Some(include.join("logs/a.log").to_str().unwrap())
    );
    assert_eq!(
        a.service_discovery.file_sd_configs[0].files,
        [include.join("targets/*.json").to_string_lossy()]
    );
    let extra = job(&config, "extra")
        .http_client
        .authorization
        .as_ref()
        .unwrap();
    assert_eq!(
        extra.credentials_file.as_deref(),
        Some(include.join("extra/../token").as_path())
    );
}

#[test]
fn file_paths_are_relative_to_the_config_directory() {
    let dir = configs_dir("good");
    let config = good("files");
    let path = |p: &str| dir.join(p);
    assert_eq!(
        config.global.scrape_failure_log_file.as_deref(),
        Some(path("logs/failures.log").to_str().unwrap())
    );
    let j = job(&config, "files");
    assert_eq!(
        j.scrape_failure_log_file.as_deref(),
        Some(path("logs/files.log").to_str().unwrap())
    );
    assert_eq!(
        job(&config, "inherits_log_file")
            .scrape_failure_log_file
            .as_deref(),
        Some(path("logs/failures.log").to_str().unwrap())
    );
    let basic = j.http_client.basic_auth.as_ref().unwrap();
    assert_eq!(basic.username_file, Some(path("secrets/user")));
    assert_eq!(basic.password_file, Some(path("secrets/pass")));
    let tls = &j.http_client.tls_config;
    assert_eq!(tls.ca_file, Some(path("tls/ca.pem")));
    assert_eq!(tls.cert_file, Some(path("tls/client.pem")));
    assert_eq!(tls.key_file, Some(PathBuf::from("/etc/tls/client.key")));
    assert_eq!(
        j.http_client.http_headers["X-Token"].files,
        [path("secrets/token")]
    );
    assert_eq!(
        j.service_discovery.file_sd_configs[0].files,
        [
            path("targets/*.json").to_string_lossy().into_owned(),
            "/abs/targets.yml".to_string()
        ]
    );
    let sd_auth = j.service_discovery.http_sd_configs[0]
        .http_client
        .authorization
        .as_ref()
        .unwrap();
    assert_eq!(sd_auth.credentials_file, Some(path("secrets/sd-token")));
    let oauth2 = job(&config, "oauth").http_client.oauth2.as_ref().unwrap();
    assert_eq!(oauth2.client_secret_file, Some(path("secrets/oauth")));
    assert_eq!(oauth2.tls_config.ca_file, Some(path("tls/oauth-ca.pem")));
    let rw_auth = config.remote_write[0]
        .http_client
        .authorization
        .as_ref()
        .unwrap();
    assert_eq!(rw_auth.credentials_file, Some(path("secrets/rw-token")));
}

#[test]
fn legacy_bearer_token_becomes_authorization() {
    let config = good("bearer_token");
    let auth = |name: &str| job(&config, name).http_client.authorization.clone();
    let bearer = |credentials: Option<&str>, file: Option<&str>| Authorization {
        auth_type: "Bearer".into(),
        credentials: credentials.map(|c| promshard::config::http::Secret(c.into())),
        credentials_file: file.map(PathBuf::from),
    };
    assert_eq!(auth("token"), Some(bearer(Some("s3cr3t"), None)));
    assert_eq!(auth("token_file"), Some(bearer(None, Some("/etc/token"))));
    assert_eq!(
        auth("authorization_default_type"),
        Some(bearer(Some("abc"), None))
    );
    assert_eq!(
        auth("authorization_custom_type").unwrap().auth_type,
        "Token"
    );
    assert_eq!(auth("empty_token"), None);
    assert_eq!(
        config.remote_write[0].http_client.authorization,
        Some(bearer(Some("rw-secret"), None))
    );
}

#[test]
fn http_config_values() {
    use promshard::config::http::TlsVersion;
    let config = good("http_config");
    let proxy = &job(&config, "proxy").http_client;
    assert_eq!(
        proxy.proxy_url.as_deref(),
        Some("http://user:pw@proxy.example:3128")
    );
    assert_eq!(proxy.no_proxy.as_deref(), Some("localhost,10.0.0.0/8"));
    assert_eq!(
        proxy.proxy_connect_header["Proxy-Authorization"][0].expose(),
        "Basic dXNlcjpwdw=="
    );
    assert!(!proxy.follow_redirects && !proxy.enable_http2);
    assert_eq!(proxy.tls_config.server_name, "metrics.example");
    assert!(proxy.tls_config.insecure_skip_verify);
    assert_eq!(
        (proxy.tls_config.min_version, proxy.tls_config.max_version),
        (Some(TlsVersion::TLS12), Some(TlsVersion::TLS13))
    );
    assert_eq!(proxy.http_headers["X-Tenant"].values, ["a", "b"]);
    assert_eq!(proxy.http_headers["X-Tenant"].secrets[0].expose(), "hidden");
    assert!(
        job(&config, "proxy_from_environment")
            .http_client
            .proxy_from_environment
    );
    let oauth2 = job(&config, "oauth2").http_client.oauth2.as_ref().unwrap();
    assert_eq!(oauth2.client_id, "id");
    assert_eq!(
        oauth2.client_secret.as_ref().unwrap().expose(),
        "oauth-secret"
    );
    assert_eq!(oauth2.scopes, ["read", "write"]);
    assert_eq!(oauth2.endpoint_params["audience"], "metrics");
    assert_eq!(
        oauth2.proxy_url.as_deref(),
        Some("http://proxy.example:3128")
    );
    let basic = job(&config, "basic_auth")
        .http_client
        .basic_auth
        .as_ref()
        .unwrap();
    assert_eq!(
        basic.password.as_ref().unwrap().expose(),
        "multiline\nsecret"
    );
}

#[test]
fn scrape_options() {
    let config = good("scrape_options");
    let j = job(&config, "options");
    assert!(
        j.honor_labels
            && !j.honor_timestamps
            && j.track_timestamps_staleness
            && !j.enable_compression
    );
    assert_eq!(
        (j.metrics_path.as_str(), j.scheme.as_str()),
        ("/federate", "https")
    );
    assert_eq!(j.params["match[]"], [r#"{job="a"}"#, r#"{job="b"}"#]);
    assert_eq!(j.params["module"], ["if_mib"]);
    assert!(j.scrape_native_histograms && j.always_scrape_classic_histograms);
    assert!(j.convert_classic_histograms_to_nhcb && j.extra_scrape_metrics);
    assert_eq!(
        (
            j.native_histogram_bucket_limit,
            j.native_histogram_min_bucket_factor
        ),
        (160, 1.1)
    );
    let groups = &j.service_discovery.static_configs;
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].targets, ["a:1", "b:2"]);
    assert_eq!(groups[0].labels["dotted.label"], "ok");
    assert_eq!(j.service_discovery.dns_sd_configs.len(), 1);
    job(&config, "測試");
}

#[test]
fn sections_that_configure_nothing_are_accepted() {
    let config = good("agent_sections");
    assert_eq!(config.scrape_configs.len(), 1);
}

/// Every secret planted in the config must be absent from the rendered YAML.
#[test]
fn redacted_yaml_never_contains_a_secret() {
    let secrets = [
        "basic-password-1",
        "bearer-token-2",
        "authz-credentials-3",
        "oauth-client-secret-4",
        "tls-private-key-5",
        "header-secret-6",
        "proxy-connect-secret-7",
        "url-password-8",
        "proxy-url-password-9",
        "sd-bearer-10",
        "oauth-proxy-password-11",
        "rw-basic-password-12",
        "rw-oauth-secret-13",
        "rw-url-password-14",
        "rw-tls-key-15",
    ];
    let text = format!(
        r#"
scrape_configs:
  - job_name: basic
    basic_auth:
      username: user
      password: {}
  - job_name: bearer
    bearer_token: {}
    tls_config:
      cert: cert-pem
      key: {}
  - job_name: authz
    authorization:
      credentials: {}
    proxy_url: http://proxy-user:{}@proxy:3128
    proxy_connect_header:
      Proxy-Authorization: [{}]
  - job_name: oauth
    oauth2:
      client_id: id
      client_secret: {}
      token_url: http://auth/token
      proxy_url: http://u:{}@proxy:3128
    http_headers:
      X-Api-Key:
        secrets: [{}]
    http_sd_configs:
      - url: http://sd/targets
        bearer_token: {}
remote_write:
  - url: https://writer:{}@receiver/api/v1/receive
    basic_auth:
      username: writer
      password: {}
    tls_config:
      cert: cert-pem
      key: {}
  - url: http://other/push
    oauth2:
      client_id: id
      client_secret: {}
      token_url: http://auth/token
"#,
        secrets[0],
        secrets[1],
        secrets[4],
        secrets[2],
        secrets[8],
        secrets[6],
        secrets[3],
        secrets[10],
        secrets[5],
        secrets[9],
        secrets[13],
        secrets[11],
        secrets[14],
        secrets[12],
    );
    let config =
        load_str(&text, Path::new("/etc/promshard/secrets.yml")).unwrap_or_else(|e| panic!("{e}"));
    // The secrets are loaded...
    assert_eq!(
        job(&config, "basic")
            .http_client
            .basic_auth
            .as_ref()
            .unwrap()
            .password
            .as_ref()
            .unwrap()
            .expose(),
        secrets[0]
    );
    let yaml = config.to_redacted_yaml();
    // ...but never rendered.
    for secret in secrets {
        assert!(!yaml.contains(secret), "{secret} leaked into:\n{yaml}");
    }
    assert!(yaml.contains("<secret>"), "{yaml}");
    assert!(yaml.contains("writer:xxxxx@receiver"), "{yaml}");
    assert!(yaml.contains("job_name: oauth"), "{yaml}");
}

// ---------------------------------------------------------------------------------------------
// The Prometheus project's config test files.

fn prometheus_fixtures() -> PathBuf {
    let root = std::env::var_os("PROMSHARD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/work/shared/fixtures".into());
    let dir = root.join("prometheus-config");
    assert!(
        dir.is_dir(),
        "{} is missing (set PROMSHARD_FIXTURES to the fixtures directory)",
        dir.display()
    );
    dir
}

/// Fixtures whose error comes from relabel validation; see [`relabel_bad_fixtures`].
#[rustfmt::skip]
const RELABEL_BAD_FIXTURES: &[(&str, &str)] = &[
    ("dropequal.bad.yml", "relabel configuration for dropequal action requires 'target_label' value"),
    ("dropequal1.bad.yml", "dropequal action requires only 'source_labels' and `target_label`, and no other fields"),
    ("empty_scrape_config_action.bad.yml", "relabel action cannot be empty"),
    ("keepequal.bad.yml", "relabel configuration for keepequal action requires 'target_label' value"),
    ("keepequal1.bad.yml", "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
    ("labeldrop.bad.yml", "labeldrop action requires only 'regex', and no other fields"),
    ("labeldrop2.bad.yml", "labeldrop action requires only 'regex', and no other fields"),
    ("labeldrop3.bad.yml", "labeldrop action requires only 'regex', and no other fields"),
    ("labeldrop4.bad.yml", "labeldrop action requires only 'regex', and no other fields"),
    ("labeldrop5.bad.yml", "labeldrop action requires only 'regex', and no other fields"),
    ("labelkeep.bad.yml", "labelkeep action requires only 'regex', and no other fields"),
    ("labelkeep2.bad.yml", "labelkeep action requires only 'regex', and no other fields"),
    ("labelkeep3.bad.yml", "labelkeep action requires only 'regex', and no other fields"),
    ("labelkeep4.bad.yml", "labelkeep action requires only 'regex', and no other fields"),
    ("labelkeep5.bad.yml", "labelkeep action requires only 'regex', and no other fields"),
    ("labelmap.bad.yml", "!!binary value contains invalid base64 data"),
    ("lowercase.bad.yml", "relabel configuration for lowercase action requires 'target_label' value"),
    ("lowercase3.bad.yml", "'replacement' can not be set for lowercase action"),
    ("modulus_missing.bad.yml", "relabel configuration for hashmod requires non-zero modulus"),
    ("regex.bad.yml", "error parsing regexp"),
    ("target_label_hashmod_missing.bad.yml", "relabel configuration for hashmod action requires 'target_label' value"),
    ("target_label_missing.bad.yml", "relabel configuration for replace action requires 'target_label' value"),
    ("uppercase.bad.yml", "relabel configuration for uppercase action requires 'target_label' value"),
    ("uppercase3.bad.yml", "'replacement' can not be set for uppercase action"),
];

/// The Kubernetes fixtures and Prometheus' messages for them (P: `config_test.go`).
#[rustfmt::skip]
const KUBERNETES_BAD_FIXTURES: &[(&str, &str)] = &[
    ("kubernetes_api_server_with_own_namespace.bad.yml", "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously"),
    ("kubernetes_authorization_basicauth.bad.yml", "at most one of basic_auth, oauth2 & authorization must be configured"),
    ("kubernetes_bearertoken.bad.yml", "at most one of bearer_token & bearer_token_file must be configured"),
    ("kubernetes_bearertoken_basicauth.bad.yml", "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"),
    ("kubernetes_http_config_without_api_server.bad.yml", "to use custom HTTP client configuration please provide the 'api_server' URL explicitly"),
    ("kubernetes_kubeconfig_with_apiserver.bad.yml", "cannot use 'kubeconfig_file' and 'api_server' simultaneously"),
    ("kubernetes_kubeconfig_with_http_config.bad.yml", "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"),
    ("kubernetes_kubeconfig_with_own_namespace.bad.yml", "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously"),
    ("kubernetes_namespace_discovery.bad.yml", "foo"),
    ("kubernetes_role.bad.yml", "unknown Kubernetes SD role"),
    ("kubernetes_selectors_duplicated_role.bad.yml", "duplicated selector role: pod"),
    ("kubernetes_selectors_endpoints.bad.yml", "endpoints role supports only pod, service, endpoints selectors"),
    ("kubernetes_selectors_incorrect_selector.bad.yml", "invalid selector: 'metadata.status-Running'; can't understand 'metadata.status-Running'"),
    ("kubernetes_selectors_ingress.bad.yml", "ingress role supports only ingress selectors"),
    ("kubernetes_selectors_node.bad.yml", "node role supports only node selectors"),
    ("kubernetes_selectors_pod.bad.yml", "pod role supports only pod selectors"),
    ("kubernetes_selectors_service.bad.yml", "service role supports only service selectors"),
];

/// Fixtures about features promshard does not have, by file name prefix, with our message:
/// Prometheus validates the section's content, we reject the section.
#[rustfmt::skip]
const UNSUPPORTED_FIXTURES: &[(&str, &str)] = &[
    ("azure_", "azure_sd_configs is not supported by promshard"),
    ("ec2_", "ec2_sd_configs is not supported by promshard"),
    ("eureka_", "eureka_sd_configs is not supported by promshard"),
    ("hetzner_", "hetzner_sd_configs is not supported by promshard"),
    ("ionos_", "ionos_sd_configs is not supported by promshard"),
    ("lightsail_", "lightsail_sd_configs is not supported by promshard"),
    ("marathon_", "marathon_sd_configs is not supported by promshard"),
    ("oci_", "oci_sd_configs is not supported by promshard"),
    ("openstack_", "openstack_sd_configs is not supported by promshard"),
    ("outscale_", "outscale_sd_configs is not supported by promshard"),
    ("ovhcloud_", "ovhcloud_sd_configs is not supported by promshard"),
    ("puppetdb_", "puppetdb_sd_configs is not supported by promshard"),
    ("scaleway_", "scaleway_sd_configs is not supported by promshard"),
    ("stackit_", "stackit_sd_configs is not supported by promshard"),
    ("uyuni_", "uyuni_sd_configs is not supported by promshard"),
    ("otlp_", "otlp is not supported by promshard"),
    ("tracing_", "tracing is not supported by promshard"),
    ("tsdb_", "storage is not supported by promshard"),
];

/// Every other `*.bad.yml`, with a substring of the error we give: Prometheus' own message
/// where we reject for the same reason (the `expectedErrors` table of P's
/// `config/config_test.go`), otherwise ours, with the reason in a comment.
#[rustfmt::skip]
const BAD_FIXTURES: &[(&str, &str)] = &[
    ("bearertoken.bad.yml", "at most one of bearer_token & bearer_token_file must be configured"),
    ("bearertoken_basicauth.bad.yml", "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"),
    ("empty_metric_relabel_config.bad.yml", "empty or null metric relabeling rule"),
    ("empty_rw_config.bad.yml", "empty or null remote write config section"),
    ("empty_rw_relabel_config.bad.yml", "empty or null relabeling rule in remote write config"),
    ("empty_scrape_config.bad.yml", "empty or null scrape config section"),
    ("empty_static_config.bad.yml", "empty or null section in static_configs"),
    ("empty_target_relabel_config.bad.yml", "empty or null target relabeling rule"),
    ("http_token_file.bad.yml", "at most one of bearer_token & bearer_token_file must be configured"),
    ("http_url_bad_scheme.bad.yml", "URL scheme must be 'http' or 'https'"),
    ("http_url_no_host.bad.yml", "host is missing in URL"),
    ("http_url_no_scheme.bad.yml", "URL scheme must be 'http' or 'https'"),
    ("jobname.bad.yml", "job_name is empty"),
    ("jobname_dup.bad.yml", r#"found multiple scrape configs with job name "prometheus""#),
    // Rust strings are UTF-8: the !!binary value fails as the YAML is read, with our message
    // (Prometheus: `"\xff" is not a valid label name` / `label value`).
    ("labelname.bad.yml", r#""\xff" is not valid UTF-8"#),
    ("labelvalue.bad.yml", r#""\xff" is not valid UTF-8"#),
    ("metric_name_validation_scheme.bad.yml", r#"unrecognized ValidationScheme: "invalid_scheme""#),
    ("remote_write_authorization_header.bad.yml", "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter"),
    ("remote_write_dup.bad.yml", r#"found multiple remote write configs with job name "queue1""#),
    ("remote_write_header.bad.yml", "x-prometheus-remote-write-version is a reserved header. It must not be changed"),
    ("remote_write_queue_capacity_zero.bad.yml", "remote write queue capacity must be positive"),
    ("remote_write_queue_max_backoff_less_than_min.bad.yml", "remote write queue max_backoff must not be less than min_backoff"),
    ("remote_write_queue_max_samples_per_send_zero.bad.yml", "remote write queue max_samples_per_send must be positive"),
    ("remote_write_queue_max_shards_zero.bad.yml", "remote write queue max_shards must be positive"),
    ("remote_write_queue_min_shards_greater_than_max.bad.yml", "remote write queue min_shards must not be greater than max_shards"),
    ("remote_write_queue_min_shards_zero.bad.yml", "remote write queue min_shards must be positive"),
    ("remote_write_url_missing.bad.yml", "url for remote_write is empty"),
    ("remote_write_wrong_msg.bad.yml", "invalid protobuf_message value: unknown type for remote write protobuf message io.prometheus.writet.v2.Request, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"),
    ("rules.bad.yml", r#"invalid rule file path "my/*/rule""#),
    ("scrape_body_size_limit.bad.yml", "units: unknown unit  in 100"),
    ("scrape_config_files.bad.yml", "scrape timeout greater than scrape interval"),
    ("scrape_config_files_double_import.bad.yml", r#"found multiple scrape configs with job name "prometheus""#),
    ("scrape_config_files_duplicate.bad.yml", r#"found multiple scrape configs with job name "prometheus""#),
    ("scrape_config_files_fallback_scrape_protocol1.bad.yml", r#"invalid fallback_scrape_protocol for scrape config with job name "node": unknown scrape protocol prometheusproto, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"#),
    // A list where a string belongs: YAML type errors are worded by the YAML library
    // (Prometheus: "yaml: unmarshal errors: ... cannot unmarshal !!seq").
    ("scrape_config_files_fallback_scrape_protocol2.bad.yml", "expected string scalar"),
    ("scrape_config_files_glob.bad.yml", r#"invalid scrape config file path "scrape_configs/*/*""#),
    ("scrape_config_files_global.bad.yml", r#"scrape timeout greater than scrape interval for scrape config with job name "prometheus""#),
    ("scrape_config_files_global_duplicate.bad.yml", r#"found multiple scrape configs with job name "prometheus""#),
    ("scrape_config_files_scrape_protocols.bad.yml", r#"scrape_protocols: unknown scrape protocol prometheusproto, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0] for scrape config with job name "node""#),
    ("scrape_config_files_scrape_protocols2.bad.yml", r#"duplicated protocol in scrape_protocols, got [OpenMetricsText1.0.0 PrometheusProto OpenMetricsText1.0.0] for scrape config with job name "node""#),
    ("scrape_config_utf8_conflicting.bad.yml", "utf8 metric names requested but validation scheme is not set to UTF8"),
    ("scrape_interval.bad.yml", "scrape timeout greater than scrape interval"),
    // Prometheus: "field scrape_configs already set in type config.plain".
    ("section_key_dup.bad.yml", "field scrape_configs already set"),
    // A target group file, not a config (P's TestBadStaticConfigsYML reads it as a group).
    ("static_config.bad.yml", "field targets not found"),
    // Prometheus: "field consult_sd_configs not found in type config.ScrapeConfig".
    ("unknown_attr.bad.yml", "field consult_sd_configs not found"),
    ("unknown_global_attr.bad.yml", "field nonexistent_field not found"),
    ("url_in_targetgroup.bad.yml", r#""http://bad" is not a valid hostname"#),
    // Agent mode rejects these sections; Prometheus fails earlier, while parsing them.
    ("empty_alert_relabel_config.bad.yml", "field alerting is not allowed in agent mode"),
    ("empty_alertmanager_relabel_config.bad.yml", "field alerting is not allowed in agent mode"),
    ("empty_rr_config.bad.yml", "field remote_read is not allowed in agent mode"),
    ("remote_read_dup.bad.yml", "field remote_read is not allowed in agent mode"),
    ("remote_read_header.bad.yml", "field remote_read is not allowed in agent mode"),
    ("remote_read_url_missing.bad.yml", "field remote_read is not allowed in agent mode"),
];

/// Checks that each file fails with an error containing its expected text.
fn check_rejected(dir: &Path, table: &[(&str, &str)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, expected) in table {
        match load_file(&dir.join(name)) {
            Ok(_) => failures.push(format!(
                "{name}: loaded, expected an error containing {expected:?}"
            )),
            Err(errors) => {
                let text = errors.to_string();
                if !text.contains(expected) {
                    failures.push(format!(
                        "{name}: expected an error containing {expected:?}, got:\n  {text}"
                    ));
                }
                if errors.0.iter().any(|e| e.line == 0) {
                    failures.push(format!("{name}: an error without a location:\n  {text}"));
                }
            }
        }
    }
    failures
}

#[test]
fn prometheus_bad_fixtures_are_rejected() {
    let dir = prometheus_fixtures();
    let mut table: Vec<(String, &str)> = BAD_FIXTURES
        .iter()
        .chain(KUBERNETES_BAD_FIXTURES)
        .map(|(n, e)| (n.to_string(), *e))
        .collect();
    let mut failures = Vec::new();
    for path in yml_files(&dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".bad.yml") {
            continue;
        }
        let listed = BAD_FIXTURES
            .iter()
            .chain(KUBERNETES_BAD_FIXTURES)
            .any(|(n, _)| *n == name);
        if let Some((_, expected)) = UNSUPPORTED_FIXTURES
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
        {
            table.push((name, expected));
        } else if RELABEL_BAD_FIXTURES.iter().any(|(n, _)| *n == name) {
            // Until relabeling lands these fail too, if for another reason.
            if load_file(&path).is_ok() {
                failures.push(format!("{name}: loaded"));
            }
        } else if !listed {
            failures.push(format!("{name}: not in BAD_FIXTURES"));
        }
    }
    assert!(table.len() >= 120, "only {} fixtures checked", table.len());
    let table: Vec<(&str, &str)> = table.iter().map(|(n, e)| (n.as_str(), *e)).collect();
    failures.extend(check_rejected(&dir, &table));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Waits for the relabel branch (src/relabel): until `RelabelConfig` has every field and its
/// `validate` applies Prometheus' rules, these files fail with "field action not found" and
/// the like instead of Prometheus' messages.
#[test]
fn relabel_bad_fixtures() {
    let failures = check_rejected(&prometheus_fixtures(), RELABEL_BAD_FIXTURES);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Also waits for the relabel branch: a static target containing `/` is accepted when the job
/// has relabel_configs (they may rewrite `__address__`).
#[test]
fn static_target_with_slash_is_accepted_with_relabel_configs() {
    let text = "
scrape_configs:
  - job_name: blackbox
    static_configs:
      - targets: [https://example.com/health]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - target_label: __address__
        replacement: blackbox-exporter:9115
";
    let config = load_str(text, Path::new("/p.yml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.scrape_configs[0].relabel_configs.len(), 2);
}

/// The good fixtures that use only what promshard has, with the values P's
/// `TestGetScrapeConfigs`, `TestScrapeConfigNameValidationSettings` and
/// `TestScrapeConfigNameEscapingSettings` expect.
#[test]
fn prometheus_good_fixtures_load() {
    use ScrapeProtocol::*;
    let dir = prometheus_fixtures();
    let load = |name: &str| load_file(&dir.join(name)).unwrap_or_else(|e| panic!("{name}:\n{e}"));
    let default = vec![
        OpenMetricsText1_0_0,
        OpenMetricsText0_0_1,
        PrometheusText1_0_0,
        PrometheusText0_0_4,
    ];
    let proto_first = vec![
        PrometheusProto,
        OpenMetricsText1_0_0,
        OpenMetricsText0_0_1,
        PrometheusText1_0_0,
        PrometheusText0_0_4,
    ];

    // (file, [native, always classic, convert to nhcb, extra metrics], protocols)
    type Case<'a> = (&'a str, [bool; 4], &'a [ScrapeProtocol]);
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("global_convert_classic_hist_to_nhcb.good.yml", [false, false, true, false], &default),
        ("local_disable_convert_classic_hist_to_nhcb.good.yml", [false, false, false, false], &default),
        ("local_convert_classic_hist_to_nhcb.good.yml", [false, false, true, false], &default),
        ("global_enable_always_scrape_classic_hist.good.yml", [false, true, false, false], &default),
        ("global_disable_always_scrape_classic_hist.good.yml", [false, false, false, false], &default),
        ("local_enable_always_scrape_classic_hist.good.yml", [false, true, false, false], &default),
        ("local_disable_always_scrape_classic_hist.good.yml", [false, false, false, false], &default),
        ("global_enable_scrape_native_hist.good.yml", [true, false, false, false], &proto_first),
        ("global_enable_scrape_native_hist_and_scrape_protocols.good.yml", [true, false, false, false], &[PrometheusText0_0_4]),
        ("local_enable_scrape_native_hist.good.yml", [true, false, false, false], &proto_first),
        ("local_enable_scrape_native_hist_and_scrape_protocols.good.yml", [true, false, false, false], &[PrometheusText0_0_4]),
        ("local_disable_scrape_native_hist.good.yml", [false, false, false, false], &default),
        ("global_scrape_protocols_and_local_disable_scrape_native_hist.good.yml", [false, false, false, false], &[PrometheusText0_0_4]),
        ("global_enable_extra_scrape_metrics.good.yml", [false, false, false, true], &default),
        ("global_disable_extra_scrape_metrics.good.yml", [false, false, false, false], &default),
        ("local_enable_extra_scrape_metrics.good.yml", [false, false, false, true], &default),
        ("local_disable_extra_scrape_metrics.good.yml", [false, false, false, false], &default),
        ("scrape_config_files.good.yml", [false, false, false, false], &default),
        ("scrape_config_files_only.good.yml", [false, false, false, false], &default),
    ];
    for (name, flags, protocols) in cases {
        let config = load(name);
        assert_eq!(config.scrape_configs.len(), 1, "{name}");
        let j = &config.scrape_configs[0];
        assert_eq!(j.job_name, "prometheus", "{name}");
        assert_eq!(
            (j.scrape_interval, j.scrape_timeout),
            (secs(60), secs(10)),
            "{name}"
        );
        let got = [
            j.scrape_native_histograms,
            j.always_scrape_classic_histograms,
            j.convert_classic_histograms_to_nhcb,
            j.extra_scrape_metrics,
        ];
        assert_eq!(got, *flags, "{name}");
        assert_eq!(j.scrape_protocols, *protocols, "{name}");
        assert!(j.honor_timestamps && j.enable_compression, "{name}");
        assert_eq!(
            (
                j.metric_name_validation_scheme,
                j.metric_name_escaping_scheme.as_str()
            ),
            (SchemeName::Utf8, "allow-utf-8")
        );
        assert_eq!(
            j.service_discovery.static_configs[0].targets,
            ["localhost:8080"],
            "{name}"
        );
    }

    let names = |config: &Config| {
        config
            .scrape_configs
            .iter()
            .map(|j| j.job_name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&load("scrape_config_files_combined.good.yml")),
        ["node", "prometheus", "alertmanager"]
    );
    assert!(
        !load("scrape_config_disable_compression.good.yml").scrape_configs[0].enable_compression
    );

    let larger = load("scrape_interval_larger.good.yml");
    assert_eq!(
        (larger.global.scrape_interval, larger.global.scrape_timeout),
        (secs(15), secs(15))
    );
    assert_eq!(
        (
            larger.scrape_configs[0].scrape_interval,
            larger.scrape_configs[0].scrape_timeout
        ),
        (secs(5), secs(5))
    );
    let global_timeout = load("global_timeout.good.yml");
    assert_eq!(
        (
            global_timeout.global.scrape_interval,
            global_timeout.global.scrape_timeout
        ),
        (secs(3600), secs(3600))
    );

    // (file, validation scheme, escaping scheme)
    for (name, scheme, escaping) in [
        (
            "scrape_config_default_validation_mode.yml",
            SchemeName::Utf8,
            "allow-utf-8",
        ),
        (
            "scrape_config_global_validation_mode.yml",
            SchemeName::Legacy,
            "dots",
        ),
        (
            "scrape_config_local_validation_mode.yml",
            SchemeName::Legacy,
            "values",
        ),
        (
            "scrape_config_local_global_validation_mode.yml",
            SchemeName::Utf8,
            "dots",
        ),
        (
            "scrape_config_local_infer_escaping.yml",
            SchemeName::Legacy,
            "underscores",
        ),
    ] {
        let config = load(name);
        let j = &config.scrape_configs[0];
        assert_eq!(
            (
                j.metric_name_validation_scheme,
                j.metric_name_escaping_scheme.as_str()
            ),
            (scheme, escaping),
            "{name}"
        );
    }

    let rate_limit = load("remote_write_retry_on_rate_limit.good.yml");
    assert!(rate_limit.remote_write[0].queue_config.retry_on_http_429);
    assert!(!rate_limit.remote_write[1].queue_config.retry_on_http_429);

    let agent = load("agent_mode.good.yml");
    assert_eq!(agent.remote_write.len(), 1);
    assert_eq!(agent.remote_write[0].url, "http://remote1/push");
    assert!(
        load("agent_mode.without_remote_writes.yml")
            .remote_write
            .is_empty()
    );
    for name in [
        "otlp_empty.yml",
        "otlp_sanitize_default_resource_attributes.good.yml",
    ] {
        load(name);
    }

    // P's TestExpandExternalLabels, without and with TEST set.
    let text = std::fs::read_to_string(dir.join("external_labels.good.yml")).unwrap();
    let labels = |env: &dyn Fn(&str) -> Option<String>| {
        load_str_with_env(&text, &dir.join("external_labels.good.yml"), env)
            .unwrap()
            .global
            .external_labels
    };
    let want = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        labels(&|_| None),
        want(&[
            ("bar", "foo"),
            ("baz", "foobar"),
            ("foo", ""),
            ("qux", "foo${TEST}"),
            ("xyz", "foo$bar")
        ])
    );
    assert_eq!(
        labels(&|k| (k == "TEST").then(|| "TestValue".to_string())),
        want(&[
            ("bar", "foo"),
            ("baz", "fooTestValuebar"),
            ("foo", "TestValue"),
            ("qux", "foo${TEST}"),
            ("xyz", "foo$bar")
        ])
    );
}

/// P's `TestAgentMode`.
#[test]
fn prometheus_agent_mode_fixtures() {
    let dir = prometheus_fixtures();
    let failures = check_rejected(
        &dir,
        &[
            (
                "agent_mode.with_alert_manager.yml",
                "field alerting is not allowed in agent mode",
            ),
            (
                "agent_mode.with_alert_relabels.yml",
                "field alerting is not allowed in agent mode",
            ),
            (
                "agent_mode.with_rule_files.yml",
                "field rule_files is not allowed in agent mode",
            ),
            (
                "agent_mode.with_remote_reads.yml",
                "field remote_read is not allowed in agent mode",
            ),
            (
                "config_with_deprecated_am_api_config.yml",
                "field alerting is not allowed in agent mode",
            ),
            (
                "otlp_allow_utf8.incompatible.yml",
                "otlp is not supported by promshard",
            ),
            (
                "otlp_no_translation.incompatible.yml",
                "otlp is not supported by promshard",
            ),
        ],
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
