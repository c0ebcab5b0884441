use super::*;
use crate::config::load_str;
use std::collections::BTreeMap;
use std::path::Path;

fn job(yaml_job: &str) -> ScrapeConfig {
    let text = format!("global:\n  scrape_interval: 15s\nscrape_configs:\n{yaml_job}");
    let mut config = load_str(&text, Path::new("/etc/prometheus/prometheus.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    config.scrape_configs.remove(0)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[test]
fn url_params_overwrite_first_value_and_sort_keys() {
    let cfg = job("  - job_name: j\n    params:\n      abc: [foo, bar, baz]\n      xyz: [hoo]\n");
    let target = labels(&[
        ("__address__", "example.com:1234"),
        ("__scheme__", "https"),
        ("__metrics_path__", "/metricz"),
        ("__param_abc", "overwrite"),
        ("__param_cde", "huu"),
    ]);
    assert_eq!(
        scrape_url(&target, &cfg.params),
        "https://example.com:1234/metricz?abc=overwrite&abc=bar&abc=baz&cde=huu&xyz=hoo"
    );
}

#[test]
fn url_escapes_path_and_query_like_go() {
    let target = labels(&[
        ("__address__", "h:1"),
        ("__scheme__", "http"),
        ("__metrics_path__", "/a b?c/d:e@f"),
        ("__param_q", "a b&c=d/é"),
    ]);
    assert_eq!(
        scrape_url(&target, &BTreeMap::new()),
        "http://h:1/a%20b%3Fc/d:e@f?q=a+b%26c%3Dd%2F%C3%A9"
    );
    let relative = labels(&[
        ("__address__", "h:1"),
        ("__scheme__", "http"),
        ("__metrics_path__", "metrics"),
    ]);
    assert_eq!(
        scrape_url(&relative, &BTreeMap::new()),
        "http://h:1/metrics"
    );
}

#[test]
fn discovered_labels_merge_and_defaults() {
    let cfg =
        job("  - job_name: j\n    scrape_interval: 90s\n    params:\n      module: [m1, m2]\n");
    let target = labels(&[("__address__", "a:1"), ("env", "target")]);
    let group = labels(&[("env", "group"), ("zone", "z"), ("job", "from-group")]);
    let got = discovered_labels(&cfg, &target, &group);
    let want = labels(&[
        ("__address__", "a:1"),
        ("env", "target"),
        ("zone", "z"),
        ("job", "from-group"),
        ("__scrape_interval__", "1m30s"),
        ("__scrape_timeout__", "10s"),
        ("__metrics_path__", "/metrics"),
        ("__scheme__", "http"),
        ("__scrape_native_histograms__", "false"),
        ("__always_scrape_classic_histograms__", "false"),
        ("__convert_classic_histograms_to_nhcb__", "false"),
        ("__param_module", "m1"),
    ]);
    assert_eq!(got, want);
}

#[test]
fn populate_sets_instance_and_drops_meta() {
    let cfg = job("  - job_name: j\n");
    let target = labels(&[("__address__", "host:9100"), ("__meta_x", "1")]);
    let Populated::Kept(t) = populate(&cfg, &target, &Labels::new()) else {
        panic!("not kept")
    };
    assert_eq!(t.labels.get("instance"), Some("host:9100"));
    assert!(!t.labels.contains("__meta_x"));
    assert!(t.discovered_labels.contains("__meta_x"));
    assert_eq!(
        t.public_labels(),
        labels(&[("instance", "host:9100"), ("job", "j")])
    );
    // No default port in v3.
    assert_eq!(t.scrape_url, "http://host:9100/metrics");
    let Populated::Kept(t) = populate(&cfg, &labels(&[("__address__", "host")]), &Labels::new())
    else {
        panic!()
    };
    assert_eq!(t.scrape_url, "http://host/metrics");
    assert_eq!(t.labels.get("instance"), Some("host"));
}

#[test]
fn populate_rejects_invalid_targets() {
    let cfg = job("  - job_name: j\n");
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("__address__", "")], "no address"),
        (&[("__address__", "a/b")], "\"a/b\" is not a valid hostname"),
        (
            &[("__address__", "a:1"), ("__scrape_interval__", "0s")],
            "scrape interval cannot be 0",
        ),
        (
            &[("__address__", "a:1"), ("__scrape_timeout__", "0s")],
            "scrape timeout cannot be 0",
        ),
        (
            &[
                ("__address__", "a:1"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "5s"),
            ],
            "scrape timeout cannot be greater than scrape interval (\"5s\" > \"1s\")",
        ),
        (
            &[("__address__", "a:1"), ("__scrape_interval__", "1x")],
            "error parsing scrape interval: unknown unit \"x\" in duration \"1x\"",
        ),
    ];
    for (pairs, want) in cases {
        match populate(&cfg, &labels(pairs), &Labels::new()) {
            Populated::Invalid { error, .. } => assert_eq!(error, want),
            other => panic!("{pairs:?}: expected invalid, got {other:?}"),
        }
    }
    match populate(
        &cfg,
        &labels(&[
            ("__address__", "a:1"),
            ("__scrape_native_histograms__", "yes"),
        ]),
        &Labels::new(),
    ) {
        Populated::Invalid { error, .. } => assert!(error.contains("ParseBool"), "{error}"),
        other => panic!("{other:?}"),
    }
    let ok = populate(
        &cfg,
        &labels(&[
            ("__address__", "a:1"),
            ("__scrape_native_histograms__", "T"),
        ]),
        &Labels::new(),
    );
    assert!(matches!(ok, Populated::Kept(_)));
}

#[test]
fn identical_targets_share_one_entry_and_dropped_are_capped() {
    let cfg = job("  - job_name: j\n");
    let group = TargetGroup {
        source: "0".into(),
        targets: vec![
            labels(&[("__address__", "a:1")]),
            labels(&[("__address__", "a:1")]),
            labels(&[("__address__", "b:1")]),
        ],
        labels: Labels::new(),
    };
    let out = targets_from_groups(&cfg, &[group.clone(), group]);
    assert_eq!(out.active.len(), 2);
    assert_eq!(out.dropped_count, 0);
}

#[test]
fn target_param_label_wins_over_params() {
    // Prometheus 3 sets `__param_<k>` only when absent (2.42 overwrote it).
    let cfg = job("  - job_name: j\n    params:\n      module: [http_2xx]\n");
    let target = labels(&[("__address__", "a:1"), ("__param_module", "tcp_connect")]);
    let Populated::Kept(t) = populate(&cfg, &target, &Labels::new()) else {
        panic!()
    };
    assert_eq!(
        t.discovered_labels.get("__param_module"),
        Some("tcp_connect")
    );
    assert_eq!(t.scrape_url, "http://a:1/metrics?module=tcp_connect");
}

#[test]
fn target_limit_counts_unique_active_targets() {
    let group = |n: usize| TargetGroup {
        source: "0".into(),
        targets: (0..n)
            .map(|i| labels(&[("__address__", &format!("h{i}:1"))]))
            .collect(),
        labels: Labels::new(),
    };
    let cfg = job("  - job_name: j\n    target_limit: 2\n");
    assert_eq!(
        targets_from_groups(&cfg, &[group(2), group(2)]).target_limit_error,
        None
    );
    assert_eq!(
        targets_from_groups(&cfg, &[group(3)])
            .target_limit_error
            .as_deref(),
        Some("target_limit exceeded (number of targets: 3, limit: 2)")
    );
    // The global limit applies when the job sets 0.
    let text =
        "global:\n  target_limit: 1\nscrape_configs:\n  - job_name: j\n    target_limit: 0\n";
    let cfg = load_str(text, Path::new("/p.yml"))
        .unwrap()
        .scrape_configs
        .remove(0);
    assert!(
        targets_from_groups(&cfg, &[group(2)])
            .target_limit_error
            .is_some()
    );
}
