//! Parser tests: the rules of spec §5 as our own tables, full entry streams for a text and
//! an OpenMetrics body, the shared fixtures, and a generate → render → parse round trip.

use std::borrow::Cow;
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

/// An owned view of one entry, with the decoded labels of samples.
#[derive(Clone, Debug, PartialEq)]
enum E {
    Help(String, String),
    Type(String, MetricType),
    Unit(String, String),
    S {
        series: String,
        /// Value bits, so NaNs compare.
        value: u64,
        ts: Option<i64>,
        labels: Vec<(String, String)>,
        exemplar: Option<Ex>,
    },
}

#[derive(Clone, Debug, PartialEq)]
struct Ex {
    raw: String,
    labels: Vec<(String, String)>,
    value: u64,
    ts: Option<i64>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn owned(v: &[(Cow<str>, Cow<str>)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Every entry up to the end or the first error.
fn run(body: &[u8], format: Format) -> (Vec<E>, Option<ParseError>) {
    let mut p = Parser::new(body, format);
    let mut out = Vec::new();
    let mut labels = Vec::new();
    let mut ex_labels = Vec::new();
    loop {
        match p.next_entry() {
            Ok(None) => return (out, None),
            Err(e) => {
                // The error is sticky.
                assert_eq!(p.next_entry(), Err(e.clone()));
                return (out, Some(e));
            }
            Ok(Some(entry)) => out.push(match entry {
                Entry::Help { metric, text } => E::Help(lossy(metric), text.into_owned()),
                Entry::Type { metric, kind } => E::Type(lossy(metric), kind),
                Entry::Unit { metric, unit } => E::Unit(lossy(metric), lossy(unit)),
                Entry::Series {
                    series,
                    value,
                    timestamp_ms,
                    exemplar,
                } => {
                    p.series_labels(&mut labels).expect("labels");
                    let exemplar = exemplar.map(|x| {
                        p.exemplar_labels(&mut ex_labels).expect("exemplar labels");
                        Ex {
                            raw: lossy(x.labels),
                            labels: owned(&ex_labels),
                            value: x.value.to_bits(),
                            ts: x.timestamp_ms,
                        }
                    });
                    E::S {
                        series: lossy(series),
                        value: value.to_bits(),
                        ts: timestamp_ms,
                        labels: owned(&labels),
                        exemplar,
                    }
                }
            }),
        }
    }
}

fn ok(body: &str, format: Format) -> Vec<E> {
    let (entries, err) = run(body.as_bytes(), format);
    assert!(err.is_none(), "{body:?}: unexpected error {err:?}");
    entries
}

fn help(m: &str, t: &str) -> E {
    E::Help(m.into(), t.into())
}

fn typ(m: &str, k: MetricType) -> E {
    E::Type(m.into(), k)
}

fn lbls(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn s(series: &str, value: f64, ts: Option<i64>, labels: &[(&str, &str)]) -> E {
    E::S {
        series: series.into(),
        value: value.to_bits(),
        ts,
        labels: lbls(labels),
        exemplar: None,
    }
}

fn nan() -> f64 {
    f64::from_bits(NORMAL_NAN)
}

// ---------------------------------------------------------------------------------------
// Full entry streams.

#[test]
fn text_stream() {
    let body = concat!(
        "# HELP http_requests_total Total requests.\\nSecond line: a \\\\ and a \\\"quote\\\".\n",
        "# TYPE http_requests_total counter\n",
        "http_requests_total{method=\"GET\",code=\"200\"} 1027 1395066363000\n",
        "http_requests_total{method=\"POST\", code=\"400\",} 3 1395066363000\n",
        "  \t\n",
        "\n",
        "# A plain comment line\n",
        "#no space after the hash\n",
        "metric_without_timestamp_and_labels 12.47\n",
        "weird_spacing   {  b = \"2\"  a=\"1\" }\t-Inf\n",
        "# TYPE rpc_duration_seconds summary\n",
        "rpc_duration_seconds{quantile=\"0.01\"} 3102\n",
        "rpc_duration_seconds{quantile=\"1\"} 4e+06\n",
        "rpc_duration_seconds{quantile=\"1e6\"} NaN\n",
        "rpc_duration_seconds_sum 1.7560473e+07\n",
        "# TYPE http_request_duration_seconds histogram\n",
        "http_request_duration_seconds_bucket{le=\"0.05\"} 24054\n",
        "http_request_duration_seconds_bucket{le=\"1\"} 33444\n",
        "http_request_duration_seconds_bucket{le=\"+Inf\"} 144320\n",
        "http_request_duration_seconds_count 144320\n",
        "no_type_line_here{le=\"5\",quantile=\"5\"} 1\n",
        "escaped{path=\"C:\\\\dir\\\\\",msg=\"say \\\"hi\\\"\\nbye\",odd=\"\\x\\t\"} +inf\n",
        "{\"my.dotted.metric\",\"label.with.dots\"=\"v\",plain=\"p\"} 1\n",
        "{\"my.dotted.metric\"} 2\n",
        "colon:name:rate5m 1e-3 0\n",
        "last_line_without_newline -0.5 42",
    );
    let want = vec![
        help(
            "http_requests_total",
            "Total requests.\nSecond line: a \\ and a \\\"quote\\\".",
        ),
        typ("http_requests_total", MetricType::Counter),
        s(
            "http_requests_total{method=\"GET\",code=\"200\"}",
            1027.0,
            Some(1395066363000),
            &[
                ("__name__", "http_requests_total"),
                ("code", "200"),
                ("method", "GET"),
            ],
        ),
        s(
            "http_requests_total{method=\"POST\", code=\"400\",}",
            3.0,
            Some(1395066363000),
            &[
                ("__name__", "http_requests_total"),
                ("code", "400"),
                ("method", "POST"),
            ],
        ),
        s(
            "metric_without_timestamp_and_labels",
            12.47,
            None,
            &[("__name__", "metric_without_timestamp_and_labels")],
        ),
        s(
            "weird_spacing   {  b = \"2\"  a=\"1\" }",
            f64::NEG_INFINITY,
            None,
            &[("__name__", "weird_spacing"), ("a", "1"), ("b", "2")],
        ),
        typ("rpc_duration_seconds", MetricType::Summary),
        s(
            "rpc_duration_seconds{quantile=\"0.01\"}",
            3102.0,
            None,
            &[("__name__", "rpc_duration_seconds"), ("quantile", "0.01")],
        ),
        s(
            "rpc_duration_seconds{quantile=\"1\"}",
            4e6,
            None,
            &[("__name__", "rpc_duration_seconds"), ("quantile", "1.0")],
        ),
        s(
            "rpc_duration_seconds{quantile=\"1e6\"}",
            nan(),
            None,
            &[("__name__", "rpc_duration_seconds"), ("quantile", "1e+06")],
        ),
        s(
            "rpc_duration_seconds_sum",
            1.7560473e+07,
            None,
            &[("__name__", "rpc_duration_seconds_sum")],
        ),
        typ("http_request_duration_seconds", MetricType::Histogram),
        s(
            "http_request_duration_seconds_bucket{le=\"0.05\"}",
            24054.0,
            None,
            &[
                ("__name__", "http_request_duration_seconds_bucket"),
                ("le", "0.05"),
            ],
        ),
        s(
            "http_request_duration_seconds_bucket{le=\"1\"}",
            33444.0,
            None,
            &[
                ("__name__", "http_request_duration_seconds_bucket"),
                ("le", "1.0"),
            ],
        ),
        s(
            "http_request_duration_seconds_bucket{le=\"+Inf\"}",
            144320.0,
            None,
            &[
                ("__name__", "http_request_duration_seconds_bucket"),
                ("le", "+Inf"),
            ],
        ),
        s(
            "http_request_duration_seconds_count",
            144320.0,
            None,
            &[("__name__", "http_request_duration_seconds_count")],
        ),
        // The current TYPE is the last one seen anywhere: still histogram.
        s(
            "no_type_line_here{le=\"5\",quantile=\"5\"}",
            1.0,
            None,
            &[
                ("__name__", "no_type_line_here"),
                ("le", "5.0"),
                ("quantile", "5"),
            ],
        ),
        s(
            "escaped{path=\"C:\\\\dir\\\\\",msg=\"say \\\"hi\\\"\\nbye\",odd=\"\\x\\t\"}",
            f64::INFINITY,
            None,
            &[
                ("__name__", "escaped"),
                ("msg", "say \"hi\"\nbye"),
                ("odd", "\\x\\t"),
                ("path", "C:\\dir\\"),
            ],
        ),
        s(
            "{\"my.dotted.metric\",\"label.with.dots\"=\"v\",plain=\"p\"}",
            1.0,
            None,
            &[
                ("__name__", "my.dotted.metric"),
                ("label.with.dots", "v"),
                ("plain", "p"),
            ],
        ),
        s(
            "{\"my.dotted.metric\"}",
            2.0,
            None,
            &[("__name__", "my.dotted.metric")],
        ),
        s(
            "colon:name:rate5m",
            1e-3,
            Some(0),
            &[("__name__", "colon:name:rate5m")],
        ),
        s(
            "last_line_without_newline",
            -0.5,
            Some(42),
            &[("__name__", "last_line_without_newline")],
        ),
    ];
    assert_eq!(ok(body, Format::PrometheusText), want);
}

#[test]
fn openmetrics_stream() {
    let body = concat!(
        "# TYPE acme_http_router_request_seconds summary\n",
        "# UNIT acme_http_router_request_seconds seconds\n",
        "# HELP acme_http_router_request_seconds Latency \\\"quoted\\\" \\\\ \\n \\x.\n",
        "acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32\n",
        "acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0\n",
        "acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0\n",
        "acme_http_router_request_seconds{quantile=\"0.5\",path=\"/api/v1\",method=\"GET\"} 0.07 1520879607.789\n",
        "# TYPE go_goroutines gauge\n",
        "# HELP go_goroutines \n",
        "go_goroutines 69\n",
        "# TYPE foo histogram\n",
        "foo_bucket{le=\"0.1\"} 8 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n",
        "foo_bucket{le=\"1\",} 11 1520879607.789 # {trace_id=\"oHg5SJYRHA0\",\"span.id\"=\"x\\\"y\"} 9.8 1520879602.5\n",
        "foo_bucket{le=\"+Inf\"} 17\n",
        "foo_count 17\n",
        "foo_sum 324789.3\n",
        "foo_created 1520430000.5\n",
        "# TYPE state stateset\n",
        "state{state=\"a\"} 1\n",
        "# TYPE build info\n",
        "build_info{version=\"1.0\"} 1\n",
        "# TYPE cpu unknown\n",
        "# UNIT cpu \n",
        "{\"cpu.seconds\",\"mode\"=\"idle\"} 1.5e3 -1.5\n",
        "# EOF\n",
    );
    let path = [("method", "GET"), ("path", "/api/v1")];
    let with = |name: &str, extra: &[(&'static str, &'static str)]| {
        let mut v = vec![("__name__".to_string(), name.to_string())];
        v.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        v.extend(path.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        v.sort();
        v
    };
    let sample = |series: &str, value: f64, ts: Option<i64>, labels: Vec<(String, String)>| E::S {
        series: series.into(),
        value: value.to_bits(),
        ts,
        labels,
        exemplar: None,
    };
    let mut b1 = s(
        "foo_bucket{le=\"0.1\"}",
        8.0,
        None,
        &[("__name__", "foo_bucket"), ("le", "0.1")],
    );
    if let E::S { exemplar, .. } = &mut b1 {
        *exemplar = Some(Ex {
            raw: "{trace_id=\"KOO5S4vxi0o\"}".into(),
            labels: lbls(&[("trace_id", "KOO5S4vxi0o")]),
            value: 0.67f64.to_bits(),
            ts: None,
        });
    }
    let mut b2 = s(
        "foo_bucket{le=\"1\",}",
        11.0,
        Some(1520879607789),
        &[("__name__", "foo_bucket"), ("le", "1.0")],
    );
    if let E::S { exemplar, .. } = &mut b2 {
        *exemplar = Some(Ex {
            raw: "{trace_id=\"oHg5SJYRHA0\",\"span.id\"=\"x\\\"y\"}".into(),
            // Exemplar labels are not unescaped (as in Prometheus).
            labels: lbls(&[("span.id", "x\\\"y"), ("trace_id", "oHg5SJYRHA0")]),
            value: 9.8f64.to_bits(),
            ts: Some(1520879602500),
        });
    }
    let want = vec![
        typ("acme_http_router_request_seconds", MetricType::Summary),
        E::Unit("acme_http_router_request_seconds".into(), "seconds".into()),
        help(
            "acme_http_router_request_seconds",
            "Latency \"quoted\" \\ \n \\x.",
        ),
        sample(
            "acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"}",
            9036.32,
            None,
            with("acme_http_router_request_seconds_sum", &[]),
        ),
        sample(
            "acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"}",
            807283.0,
            None,
            with("acme_http_router_request_seconds_count", &[]),
        ),
        sample(
            "acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"}",
            1605281325.0,
            None,
            with("acme_http_router_request_seconds_created", &[]),
        ),
        sample(
            "acme_http_router_request_seconds{quantile=\"0.5\",path=\"/api/v1\",method=\"GET\"}",
            0.07,
            Some(1520879607789),
            with("acme_http_router_request_seconds", &[("quantile", "0.5")]),
        ),
        typ("go_goroutines", MetricType::Gauge),
        help("go_goroutines", ""),
        s(
            "go_goroutines",
            69.0,
            None,
            &[("__name__", "go_goroutines")],
        ),
        typ("foo", MetricType::Histogram),
        b1,
        b2,
        s(
            "foo_bucket{le=\"+Inf\"}",
            17.0,
            None,
            &[("__name__", "foo_bucket"), ("le", "+Inf")],
        ),
        s("foo_count", 17.0, None, &[("__name__", "foo_count")]),
        s("foo_sum", 324789.3, None, &[("__name__", "foo_sum")]),
        s(
            "foo_created",
            1520430000.5,
            None,
            &[("__name__", "foo_created")],
        ),
        typ("state", MetricType::StateSet),
        s(
            "state{state=\"a\"}",
            1.0,
            None,
            &[("__name__", "state"), ("state", "a")],
        ),
        typ("build", MetricType::Info),
        s(
            "build_info{version=\"1.0\"}",
            1.0,
            None,
            &[("__name__", "build_info"), ("version", "1.0")],
        ),
        typ("cpu", MetricType::Unknown),
        E::Unit("cpu".into(), "".into()),
        s(
            "{\"cpu.seconds\",\"mode\"=\"idle\"}",
            1500.0,
            Some(-1500),
            &[("__name__", "cpu.seconds"), ("mode", "idle")],
        ),
    ];
    assert_eq!(ok(body, Format::OpenMetrics), want);
}

// ---------------------------------------------------------------------------------------
// Rules, as tables of (body, expected samples as (series, value, ts, labels)).

type Case<'a> = (
    &'a str,
    &'a [(&'a str, f64, Option<i64>, &'a [(&'a str, &'a str)])],
);

fn check_samples(format: Format, cases: &[Case]) {
    for (body, want) in cases {
        let got: Vec<E> = ok(body, format)
            .into_iter()
            .filter(|e| matches!(e, E::S { .. }))
            .collect();
        let want: Vec<E> = want
            .iter()
            .map(|(series, v, ts, l)| s(series, *v, *ts, l))
            .collect();
        assert_eq!(got, want, "body {body:?}");
    }
}

#[test]
fn text_values_and_timestamps() {
    let n = &[("__name__", "m")][..];
    let cases: &[Case] = &[
        ("m 1", &[("m", 1.0, None, n)]),
        ("m 1\n", &[("m", 1.0, None, n)]),
        ("m -1.5", &[("m", -1.5, None, n)]),
        ("m +3", &[("m", 3.0, None, n)]),
        ("m .5", &[("m", 0.5, None, n)]),
        ("m 5.", &[("m", 5.0, None, n)]),
        ("m 1E3", &[("m", 1000.0, None, n)]),
        ("m 1e-400", &[("m", 0.0, None, n)]),
        ("m +Inf", &[("m", f64::INFINITY, None, n)]),
        ("m -inf", &[("m", f64::NEG_INFINITY, None, n)]),
        ("m INF", &[("m", f64::INFINITY, None, n)]),
        ("m Infinity", &[("m", f64::INFINITY, None, n)]),
        ("m -iNfInItY", &[("m", f64::NEG_INFINITY, None, n)]),
        ("m NaN", &[("m", nan(), None, n)]),
        ("m nan", &[("m", nan(), None, n)]),
        ("m nAN", &[("m", nan(), None, n)]),
        (
            "m 12345678901234567890",
            &[("m", 12345678901234567890.0, None, n)],
        ),
        ("m 1 0", &[("m", 1.0, Some(0), n)]),
        ("m 1 0001", &[("m", 1.0, Some(1), n)]),
        ("m 1 9223372036854775807", &[("m", 1.0, Some(i64::MAX), n)]),
        ("m\t1\t2\t\n", &[("m", 1.0, Some(2), n)]),
        ("m   1   2   ", &[("m", 1.0, Some(2), n)]),
        // A value right after the name or the brace (no separator needed).
        ("m+1", &[("m", 1.0, None, n)]),
        ("m{}7", &[("m{}", 7.0, None, n)]),
    ];
    check_samples(Format::PrometheusText, cases);
    // The NaN bits are Prometheus' NormalNaN whatever NaN was written.
    for body in ["m NaN", "m nan", "m NAN"] {
        let mut p = Parser::new(body.as_bytes(), Format::PrometheusText);
        let Ok(Some(Entry::Series { value, .. })) = p.next_entry() else {
            panic!("{body}")
        };
        assert_eq!(value.to_bits(), NORMAL_NAN);
    }
}

#[test]
fn text_lines_comments_and_labels() {
    let cases: &[Case] = &[
        // Blank and whitespace-only lines, optional final newline.
        (
            "\n\n \t \n\na 1\n\n\n",
            &[("a", 1.0, None, &[("__name__", "a")])],
        ),
        // Comments of every shape are skipped; `# HELP` without a space after it is one.
        (
            "#\n# \n#comment\n# some text\n# HELP\n# TYPEx a b\n#\tHELPx\na 1",
            &[("a", 1.0, None, &[("__name__", "a")])],
        ),
        // Trailing comma, missing comma, spaces around `=`.
        (
            "a{x=\"1\",} 1\na{x=\"1\" y=\"2\"} 2\na{ x = \"1\" , y= \"2\" , } 3",
            &[
                ("a{x=\"1\",}", 1.0, None, &[("__name__", "a"), ("x", "1")]),
                (
                    "a{x=\"1\" y=\"2\"}",
                    2.0,
                    None,
                    &[("__name__", "a"), ("x", "1"), ("y", "2")],
                ),
                (
                    "a{ x = \"1\" , y= \"2\" , }",
                    3.0,
                    None,
                    &[("__name__", "a"), ("x", "1"), ("y", "2")],
                ),
            ],
        ),
        // Sorting by name; duplicates kept in order.
        (
            "a{z=\"1\",b=\"2\",b=\"3\",_u=\"4\",A=\"5\"} 1",
            &[(
                "a{z=\"1\",b=\"2\",b=\"3\",_u=\"4\",A=\"5\"}",
                1.0,
                None,
                &[
                    ("A", "5"),
                    ("__name__", "a"),
                    ("_u", "4"),
                    ("b", "2"),
                    ("b", "3"),
                    ("z", "1"),
                ],
            )],
        ),
        // Escapes: \\ \" \n unescaped, others kept; raw newlines and UTF-8 allowed.
        (
            "a{v=\"\\\\\\\"\\n\\t\\u00e9\",w=\"line1\nline2\",x=\"Grüße €\"} 1",
            &[(
                "a{v=\"\\\\\\\"\\n\\t\\u00e9\",w=\"line1\nline2\",x=\"Grüße €\"}",
                1.0,
                None,
                &[
                    ("__name__", "a"),
                    ("v", "\\\"\n\\t\\u00e9"),
                    ("w", "line1\nline2"),
                    ("x", "Grüße €"),
                ],
            )],
        ),
        // NUL bytes inside label values are kept.
        (
            "a{v=\"x\0y\",w=\"\0\"} 1",
            &[(
                "a{v=\"x\0y\",w=\"\0\"}",
                1.0,
                None,
                &[("__name__", "a"), ("v", "x\0y"), ("w", "\0")],
            )],
        ),
        // UTF-8 names in quotes, before or after the labels, with escapes.
        (
            "{\"my.metric\",\"a.b\"=\"x\"} 1\n{\"a.b\"=\"x\", \"my.metric\"} 2\n{\"q\\\"n\",\"l\\\\n\"=\"v\"} 3",
            &[
                (
                    "{\"my.metric\",\"a.b\"=\"x\"}",
                    1.0,
                    None,
                    &[("__name__", "my.metric"), ("a.b", "x")],
                ),
                (
                    "{\"a.b\"=\"x\", \"my.metric\"}",
                    2.0,
                    None,
                    &[("__name__", "my.metric"), ("a.b", "x")],
                ),
                (
                    "{\"q\\\"n\",\"l\\\\n\"=\"v\"}",
                    3.0,
                    None,
                    &[("__name__", "q\"n"), ("l\\n", "v")],
                ),
            ],
        ),
        // Leading whitespace is part of the series and of the name (Prometheus quirk).
        ("  a 1", &[("  a", 1.0, None, &[("__name__", "  a")])]),
        // A NUL at the start of a line ends the body (golex's `\0` rule).
        ("a 1\n\0b 2\n", &[("a", 1.0, None, &[("__name__", "a")])]),
        // A NUL in a `#` comment without a space ends it too; with a space it is skipped.
        ("#x\0y\na 1", &[]),
        ("# x\0y\na 1", &[("a", 1.0, None, &[("__name__", "a")])]),
    ];
    check_samples(Format::PrometheusText, cases);
}

#[test]
fn text_metadata() {
    assert_eq!(
        ok(
            "# HELP a one \\\\ two \\n three \\\" four\n# HELP b\n# HELP c \n#  \t HELP \t d \t  x\n# HELP \"e.f\" g\n# HELP h foo\0bar",
            Format::PrometheusText
        ),
        vec![
            help("a", "one \\ two \n three \\\" four"),
            help("b", ""),
            help("c", ""),
            help("d", "\t  x"),
            help("e.f", "g"),
            help("h", "foo\0bar"),
        ]
    );
    let types = [
        ("counter", MetricType::Counter),
        ("gauge", MetricType::Gauge),
        ("histogram", MetricType::Histogram),
        ("summary", MetricType::Summary),
        ("untyped", MetricType::Unknown),
    ];
    for (word, kind) in types {
        let body = format!("# TYPE m {word}\n");
        assert_eq!(ok(&body, Format::PrometheusText), vec![typ("m", kind)]);
        let mut p = Parser::new(body.as_bytes(), Format::PrometheusText);
        p.next_entry().unwrap();
        assert_eq!(p.metric_type(), kind);
    }
    for word in [
        "unknown",
        "Counter",
        "counter ",
        " counter",
        "gaugehistogram",
        "info",
        "stateset",
        "",
    ] {
        let body = format!("# TYPE m {word}\n");
        let (_, err) = run(body.as_bytes(), Format::PrometheusText);
        let want = format!(
            "invalid metric type {}",
            goutil::go_quote(word.trim_start_matches(' ').as_bytes())
        );
        let want = if word == " counter" {
            "invalid metric type \" counter\"".to_string()
        } else {
            want
        };
        assert_eq!(err.map(|e| e.message), Some(want), "{word:?}");
    }
}

#[test]
fn le_and_quantile_normalisation() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1",
            &[("__name__", "h_bucket"), ("le", "1.0")],
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"10\"} 1",
            &[("__name__", "h_bucket"), ("le", "10.0")],
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1",
            &[("__name__", "h_bucket"), ("le", "0.5")],
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"1000000\"} 1",
            &[("__name__", "h_bucket"), ("le", "1e+06")],
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1",
            &[("__name__", "h_bucket"), ("le", "+Inf")],
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"inf\"} 1",
            &[("__name__", "h_bucket"), ("le", "+Inf")],
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"0.00001\"} 1",
            &[("__name__", "h_bucket"), ("le", "1e-05")],
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"1_0\"} 1",
            &[("__name__", "h_bucket"), ("le", "10.0")],
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"0x1p3\"} 1",
            &[("__name__", "h_bucket"), ("le", "8.0")],
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"abc\"} 1",
            &[("__name__", "h_bucket"), ("le", "abc")],
        ),
        (
            "# TYPE h histogram\nh_bucket{quantile=\"1\"} 1",
            &[("__name__", "h_bucket"), ("quantile", "1")],
        ),
        (
            "# TYPE s summary\ns{quantile=\"0\"} 1",
            &[("__name__", "s"), ("quantile", "0.0")],
        ),
        (
            "# TYPE s summary\ns{quantile=\"0.99\",le=\"1\"} 1",
            &[("__name__", "s"), ("le", "1"), ("quantile", "0.99")],
        ),
        (
            "# TYPE g gauge\ng{le=\"1\",quantile=\"1\"} 1",
            &[("__name__", "g"), ("le", "1"), ("quantile", "1")],
        ),
        ("h{le=\"1\"} 1", &[("__name__", "h"), ("le", "1")]),
        // Quirk: the TYPE seen last applies to any later line.
        (
            "# TYPE h histogram\nother{le=\"2\"} 1",
            &[("__name__", "other"), ("le", "2.0")],
        ),
        // A quoted `le` label counts too.
        (
            "# TYPE h histogram\n{\"h_bucket\",\"le\"=\"3\"} 1",
            &[("__name__", "h_bucket"), ("le", "3.0")],
        ),
    ];
    for (body, want) in cases {
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            let body = if format == Format::OpenMetrics {
                format!("{body}\n# EOF\n")
            } else {
                body.to_string()
            };
            let got = ok(&body, format);
            let E::S { labels, .. } = got.last().unwrap() else {
                panic!("{body}")
            };
            assert_eq!(labels, &lbls(want), "{body:?} {format:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Errors: exact Prometheus wording.

fn check_errors(format: Format, cases: &[(&str, &str)]) {
    for (body, want) in cases {
        let (_, err) = run(body.as_bytes(), format);
        let err = err.unwrap_or_else(|| panic!("{body:?}: no error, want {want}"));
        assert_eq!(err.message, *want, "body {body:?}");
    }
}

#[test]
fn text_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "a{b='c'} 1\n",
            r#"expected label value, got "'" ("INVALID") while parsing: "a{b='""#,
        ),
        (
            "foo 0x1p-3\n",
            r#"unsupported character in float while parsing: "foo 0x1p-3""#,
        ),
        (
            "foo 1_000\n",
            r#"unsupported character in float while parsing: "foo 1_000""#,
        ),
        (
            "foo 1P2",
            r#"unsupported character in float while parsing: "foo 1P2""#,
        ),
        (
            "foo 1e400\n",
            r#"strconv.ParseFloat: parsing "1e400": value out of range while parsing: "foo 1e400""#,
        ),
        (
            "foo -1e309",
            r#"strconv.ParseFloat: parsing "-1e309": value out of range while parsing: "foo -1e309""#,
        ),
        (
            "foo bar\n",
            r#"strconv.ParseFloat: parsing "bar": invalid syntax while parsing: "foo bar""#,
        ),
        (
            "foo +nan\n",
            r#"strconv.ParseFloat: parsing "+nan": invalid syntax while parsing: "foo +nan""#,
        ),
        (
            "foo 0x10\n",
            r#"strconv.ParseFloat: parsing "0x10": invalid syntax while parsing: "foo 0x10""#,
        ),
        (
            "foo 1}\n",
            r#"strconv.ParseFloat: parsing "1}": invalid syntax while parsing: "foo 1}""#,
        ),
        (
            "foo 1 99999999999999999999\n",
            r#"strconv.ParseInt: parsing "99999999999999999999": value out of range while parsing: "foo 1 99999999999999999999""#,
        ),
        (
            "foo 1 -5\n",
            r#"expected timestamp or new record, got "-" ("INVALID") while parsing: "foo 1 -""#,
        ),
        (
            "foo 1 1.5\n",
            r#"expected next entry after timestamp, got "." ("INVALID") while parsing: "foo 1 1.""#,
        ),
        (
            "foo 1 2 3\n",
            r#"expected next entry after timestamp, got "3\n" ("TIMESTAMP") while parsing: "foo 1 2 3\n""#,
        ),
        (
            "foo 1{\n",
            r#"expected timestamp or new record, got "{" ("INVALID") while parsing: "foo 1{""#,
        ),
        ("# TYPE foo gaugee\n", r#"invalid metric type "gaugee""#),
        ("# TYPE foo unknown\n", r#"invalid metric type "unknown""#),
        ("# TYPE foo counter \n", r#"invalid metric type "counter ""#),
        ("# TYPE foo\n", r#"invalid metric type """#),
        (
            "# HELP \n",
            r##"expected metric name after HELP, got "\n" ("INVALID") while parsing: "# HELP \n""##,
        ),
        (
            "# TYPE 1a counter\n",
            r##"expected metric name after TYPE, got "1" ("INVALID") while parsing: "# TYPE 1""##,
        ),
        (
            "{a=\"ok\"} 1\n",
            r#"metric name not set while parsing: "{a=\"ok\"} 1""#,
        ),
        (
            "foo{\"bar\"} 1\n",
            r#"metric name already set while parsing: "foo{\"bar\"}""#,
        ),
        (
            "{\"a\",\"b\"} 1\n",
            r#"metric name already set while parsing: "{\"a\",\"b\"}""#,
        ),
        (
            "foo{a=\"1\"\n",
            r#"expected label name, got "\n" ("INVALID") while parsing: "foo{a=\"1\"\n""#,
        ),
        (
            "foo{a=\"1\\\n\"} 1",
            r#"expected label value, got "\"1\\\n" ("INVALID") while parsing: "foo{a=\"1\\\n""#,
        ),
        (
            "foo{a=\"unterminated",
            r#"expected label value, got "\"unterminated\n" ("INVALID") while parsing: "foo{a=\"unterminated\n""#,
        ),
        (
            "foo{a.b=\"1\"} 1",
            r#"expected equal, got "." ("INVALID") while parsing: "foo{a.""#,
        ),
        (
            "foo{a} 1",
            r#"expected equal, got "} " ("BCLOSE") while parsing: "foo{a} ""#,
        ),
        (
            "foo{,a=\"1\"} 1",
            r#"expected label name, got ",a" ("COMMA") while parsing: "foo{,a""#,
        ),
        (
            "foo{a=\"b\"} \n",
            r#"expected value after metric, got "\n" ("INVALID") while parsing: "foo{a=\"b\"} \n""#,
        ),
        (
            "a",
            r#"expected value after metric, got "\n" ("INVALID") while parsing: "a\n""#,
        ),
        (
            "9foo 1",
            r#"expected a valid start token, got "9" ("INVALID") while parsing: "9""#,
        ),
        (
            "}",
            r#"expected a valid start token, got "}" ("INVALID") while parsing: "}""#,
        ),
        (
            "a{b=\"\u{0}\"} 1\na{b=\u{0}\"x\"} 1\n",
            r#"expected label value, got "\x00" ("INVALID") while parsing: "a{b=\x00""#,
        ),
    ];
    check_errors(Format::PrometheusText, cases);
    // Invalid UTF-8 bytes are quoted as \x escapes.
    let (_, err) = run(b"a{b=\"\xff\"} 1\n", Format::PrometheusText);
    assert_eq!(
        err.unwrap().message,
        r#"invalid UTF-8 label value: "\"\xff\"""#
    );
    let (_, err) = run(b"# HELP a \xfe\n", Format::PrometheusText);
    assert_eq!(
        err.unwrap().message,
        r#"help text "\xfe" is not a valid utf8 string"#
    );
    let (_, err) = run(b"a{\xff=\"foo\"} 1\n", Format::PrometheusText);
    assert_eq!(
        err.unwrap().message,
        r#"expected label name, got "\xff" ("INVALID") while parsing: "a{\xff""#
    );
}

#[test]
fn error_lines() {
    let cases: &[(&str, Format, usize)] = &[
        ("ok 1\nok 2\n\nbad\n", Format::PrometheusText, 4),
        ("bad", Format::PrometheusText, 1),
        ("# HELP a x\n# TYPE a nope\n", Format::PrometheusText, 2),
        ("a 1\nb 2\nc 1e999\n", Format::PrometheusText, 3),
        ("a 1\nb  2\n# EOF\n", Format::OpenMetrics, 2),
        ("a 1\n", Format::OpenMetrics, 2),
    ];
    for (body, format, line) in cases {
        let (_, err) = run(body.as_bytes(), *format);
        assert_eq!(err.unwrap().line, *line, "{body:?}");
    }
}

#[test]
fn openmetrics_errors() {
    let cases: &[(&str, &str)] = &[
        ("", "data does not end with # EOF"),
        ("foo 1\n", "data does not end with # EOF"),
        ("foo 1", "data does not end with # EOF"),
        ("foo 1 # {a=\"b\"} 1", "data does not end with # EOF"),
        ("# EOF\nfoo 1\n", "unexpected data after # EOF"),
        ("# EOF\n\n", "unexpected data after # EOF"),
        ("# EOF # EOF", "unexpected data after # EOF"),
        (
            "foo  1\n# EOF\n",
            r#"expected value after metric, got "  " ("INVALID") while parsing: "foo  ""#,
        ),
        (
            "foo\t1\n# EOF\n",
            r#"expected value after metric, got "\t" ("INVALID") while parsing: "foo\t""#,
        ),
        (
            " foo 1\n# EOF\n",
            r#"expected a valid start token, got " " ("INVALID") while parsing: " ""#,
        ),
        (
            "\n# EOF\n",
            r#"expected a valid start token, got "\n" ("INVALID") while parsing: "\n""#,
        ),
        (
            "# comment\n# EOF\n",
            r##"expected a valid start token, got "# c" ("INVALID") while parsing: "# c""##,
        ),
        (
            "#EOF\n",
            r##"expected a valid start token, got "#E" ("INVALID") while parsing: "#E""##,
        ),
        (
            "# TYPE foo untyped\n# EOF\n",
            r#"invalid metric type "untyped""#,
        ),
        (
            "# TYPE foo counter \n# EOF\n",
            r#"invalid metric type "counter ""#,
        ),
        (
            "# TYPE foo  gauge\n# EOF\n",
            r#"invalid metric type " gauge""#,
        ),
        ("# TYPE foo\n# EOF\n", "expected text in TYPE"),
        ("# HELP foo\n# EOF\n", "expected text in HELP"),
        (
            "# UNIT foo_bytes seconds\n# EOF\n",
            r#"unit "seconds" not a suffix of metric "foo_bytes""#,
        ),
        (
            "# UNIT foo_xseconds seconds\n# EOF\n",
            r#"unit "seconds" not a suffix of metric "foo_xseconds""#,
        ),
        (
            "# UNIT seconds seconds\n# EOF\n",
            r#"unit "seconds" not a suffix of metric "seconds""#,
        ),
        (
            "foo{a=\"1\", b=\"2\"} 1\n# EOF\n",
            r#"expected label name, got " " ("INVALID") while parsing: "foo{a=\"1\", ""#,
        ),
        (
            "foo{a=\"1\"b=\"2\"} 1\n# EOF\n",
            r#"expected comma or brace close, got "b=" ("LNAME") while parsing: "foo{a=\"1\"b=""#,
        ),
        (
            "foo{a=\"\n\"} 1\n# EOF\n",
            r#"expected label value, got "\"\n" ("INVALID") while parsing: "foo{a=\"\n""#,
        ),
        ("foo 1 NaN\n# EOF\n", "invalid timestamp NaN"),
        ("foo 1 -inf\n# EOF\n", "invalid timestamp -Inf"),
        (
            "foo 1 1e400\n# EOF\n",
            r#"strconv.ParseFloat: parsing "1e400": value out of range while parsing: "foo 1 1e400""#,
        ),
        (
            "foo 1 0x1p3\n# EOF\n",
            r#"unsupported character in float while parsing: "foo 1 0x1p3""#,
        ),
        (
            "foo 1 2 3\n# EOF\n",
            r#"expected next entry after timestamp, got " 3\n" ("TIMESTAMP") while parsing: "foo 1 2 3\n""#,
        ),
        (
            "foo 1 # {a=\"b\"} 1 Inf\n# EOF\n",
            "invalid exemplar timestamp +Inf",
        ),
        (
            "foo 1 # {a=\"b\"} 1 nan\n# EOF\n",
            "invalid exemplar timestamp NaN",
        ),
        (
            "foo 1 # {\"a\"} 1\n# EOF\n",
            r#"expected label name, got "} " ("BCLOSE") while parsing: "foo 1 # {\"a\"} ""#,
        ),
        (
            "foo 1 # {a=\"b\"}\n# EOF\n",
            r#"expected value after exemplar labels, got "\n" ("INVALID") while parsing: "foo 1 # {a=\"b\"}\n""#,
        ),
        (
            "foo 1 # {a=\"b\"} 1 2 3\n# EOF\n",
            r#"expected next entry after exemplar timestamp, got " 3\n" ("TIMESTAMP") while parsing: "foo 1 # {a=\"b\"} 1 2 3\n""#,
        ),
        (
            "foo 1 # {a=\"b\"} x\n# EOF\n",
            r#"strconv.ParseFloat: parsing "x": invalid syntax while parsing: "foo 1 # {a=\"b\"} x""#,
        ),
        (
            "{b=\"c\",} 1\n# EOF\n",
            r#"metric name not set while parsing: "{b=\"c\",} 1""#,
        ),
        ("foo 1\n# EOF\n", ""),
    ];
    let (ok_cases, err_cases): (Vec<_>, Vec<_>) = cases.iter().partition(|(_, e)| e.is_empty());
    check_errors(
        Format::OpenMetrics,
        &err_cases.into_iter().copied().collect::<Vec<_>>(),
    );
    for (body, _) in ok_cases {
        ok(body, Format::OpenMetrics);
    }
}

#[test]
fn openmetrics_rules() {
    let n = &[("__name__", "m")][..];
    let cases: &[Case] = &[
        ("# EOF", &[]),
        ("# EOF\n", &[]),
        ("m 1\n# EOF", &[("m", 1.0, None, n)]),
        ("m 1 1.5\n# EOF\n", &[("m", 1.0, Some(1500), n)]),
        ("m 1 -1.5\n# EOF\n", &[("m", 1.0, Some(-1500), n)]),
        (
            "m 1 1520879607.789\n# EOF\n",
            &[("m", 1.0, Some(1520879607789), n)],
        ),
        ("m 1 1e300\n# EOF\n", &[("m", 1.0, Some(i64::MIN), n)]),
        ("m 1 0.0009\n# EOF\n", &[("m", 1.0, Some(0), n)]),
        ("m NaN\n# EOF\n", &[("m", nan(), None, n)]),
        (
            "m -Inf 1\n# EOF\n",
            &[("m", f64::NEG_INFINITY, Some(1000), n)],
        ),
        (
            "# TYPE c counter\nc_total 1\nc_created 1.7e9\n# EOF\n",
            &[
                ("c_total", 1.0, None, &[("__name__", "c_total")]),
                ("c_created", 1.7e9, None, &[("__name__", "c_created")]),
            ],
        ),
        (
            "m{a=\"1\",} 1\n# EOF\n",
            &[("m{a=\"1\",}", 1.0, None, &[("__name__", "m"), ("a", "1")])],
        ),
        (
            "m{a=\"\\\"\\\\\\n\\x\",b=\"\0\"} 1\n# EOF\n",
            &[(
                "m{a=\"\\\"\\\\\\n\\x\",b=\"\0\"}",
                1.0,
                None,
                &[("__name__", "m"), ("a", "\"\\\n\\x"), ("b", "\0")],
            )],
        ),
    ];
    check_samples(Format::OpenMetrics, cases);
    assert_eq!(
        ok(
            "# UNIT m_seconds seconds\n# UNIT m \n# HELP m a\\\"b\n# EOF\n",
            Format::OpenMetrics
        ),
        vec![
            E::Unit("m_seconds".into(), "seconds".into()),
            E::Unit("m".into(), "".into()),
            help("m", "a\"b"),
        ]
    );
    let types = [
        ("counter", MetricType::Counter),
        ("gauge", MetricType::Gauge),
        ("histogram", MetricType::Histogram),
        ("gaugehistogram", MetricType::GaugeHistogram),
        ("summary", MetricType::Summary),
        ("info", MetricType::Info),
        ("stateset", MetricType::StateSet),
        ("unknown", MetricType::Unknown),
    ];
    for (word, kind) in types {
        let body = format!("# TYPE m {word}\n# EOF\n");
        assert_eq!(ok(&body, Format::OpenMetrics), vec![typ("m", kind)]);
    }
    // Prometheus has no default case after a value: a bad separator still yields the
    // sample, and the next call fails.
    let (entries, err) = run(b"a 1 \n# EOF\n", Format::OpenMetrics);
    assert_eq!(entries, vec![s("a", 1.0, None, &[("__name__", "a")])]);
    assert_eq!(
        err.unwrap().message,
        r##"expected a valid start token, got "\n#" ("LINEBREAK") while parsing: "\n#""##
    );
}

#[test]
fn series_labels_outside_samples_is_empty() {
    let mut p = Parser::new(b"# HELP a b\na{x=\"1\"} 1\n", Format::PrometheusText);
    let mut out = vec![(Cow::Borrowed("stale"), Cow::Borrowed("x"))];
    p.next_entry().unwrap();
    p.series_labels(&mut out).unwrap();
    assert!(out.is_empty());
    p.next_entry().unwrap();
    p.series_labels(&mut out).unwrap();
    assert_eq!(out.len(), 2);
    // Labels that need no unescaping borrow from the body.
    assert!(
        out.iter()
            .all(|(n, v)| matches!(v, Cow::Borrowed(_)) && matches!(n, Cow::Borrowed(_)))
    );
    assert_eq!(p.next_entry(), Ok(None));
    assert_eq!(p.next_entry(), Ok(None));
    p.series_labels(&mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn invalid_utf8_quoted_name_fails_in_series_labels() {
    let mut p = Parser::new(b"{\"a\xff\"} 1\n", Format::PrometheusText);
    assert!(matches!(p.next_entry(), Ok(Some(Entry::Series { .. }))));
    let mut out = Vec::new();
    let err = p.series_labels(&mut out).unwrap_err();
    assert_eq!(err.message, r#"invalid UTF-8 metric name: "a\xff""#);
    assert_eq!(err.line, 1);
}

// ---------------------------------------------------------------------------------------
// The input → message vectors of Prometheus' TestPromParseErrors, TestPromNullByteHandling,
// TestOpenMetricsParseErrors and TestOMNullByteHandling (spec §7), as data. An empty
// message (or "EOF") means the body must parse to the end without error.

fn check_vectors(format: Format, cases: &[(&[u8], &str)]) {
    for (body, want) in cases {
        let (_, err) = run(body, format);
        match (*want, err) {
            ("" | "EOF", None) => {}
            ("" | "EOF", Some(e)) => panic!("{:?}: unexpected error {e}", lossy(body)),
            (want, None) => panic!("{:?}: no error, want {want}", lossy(body)),
            (want, Some(e)) => assert_eq!(e.message, want, "body {:?}", lossy(body)),
        }
    }
}

#[test]
fn prometheus_text_vectors() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"a",
            "expected value after metric, got \"\\n\" (\"INVALID\") while parsing: \"a\\n\"",
        ),
        (
            b"a{b='c'} 1\n",
            "expected label value, got \"'\" (\"INVALID\") while parsing: \"a{b='\"",
        ),
        (
            b"a{b=\n",
            "expected label value, got \"\\n\" (\"INVALID\") while parsing: \"a{b=\\n\"",
        ),
        (
            b"a{\xff=\"foo\"} 1\n",
            "expected label name, got \"\\xff\" (\"INVALID\") while parsing: \"a{\\xff\"",
        ),
        (
            b"a{b=\"\xff\"} 1\n",
            "invalid UTF-8 label value: \"\\\"\\xff\\\"\"",
        ),
        (
            b"{\"a\", \"b = \"c\"}",
            "expected equal, got \"c\\\"\" (\"LNAME\") while parsing: \"{\\\"a\\\", \\\"b = \\\"c\\\"\"",
        ),
        (
            b"{\"a\",b\\nc=\"d\"} 1",
            "expected equal, got \"\\\\\" (\"INVALID\") while parsing: \"{\\\"a\\\",b\\\\\"",
        ),
        (
            b"a true\n",
            "strconv.ParseFloat: parsing \"true\": invalid syntax while parsing: \"a true\"",
        ),
        (
            b"something_weird{problem=\"",
            "expected label value, got \"\\\"\\n\" (\"INVALID\") while parsing: \"something_weird{problem=\\\"\\n\"",
        ),
        (
            b"empty_label_name{=\"\"} 0",
            "expected label name, got \"=\\\"\" (\"EQUAL\") while parsing: \"empty_label_name{=\\\"\"",
        ),
        (
            b"{A}0",
            "expected equal, got \"}0\" (\"BCLOSE\") while parsing: \"{A}0\"",
        ),
        (
            b"foo 1_2\n",
            "unsupported character in float while parsing: \"foo 1_2\"",
        ),
        (
            b"foo 0x1p-3\n",
            "unsupported character in float while parsing: \"foo 0x1p-3\"",
        ),
        (
            b"foo 0x1P-3\n",
            "unsupported character in float while parsing: \"foo 0x1P-3\"",
        ),
        (
            b"foo 0 1_2\n",
            "expected next entry after timestamp, got \"_\" (\"INVALID\") while parsing: \"foo 0 1_\"",
        ),
        (
            b"{a=\"ok\"} 1",
            "metric name not set while parsing: \"{a=\\\"ok\\\"} 1\"",
        ),
        (
            b"# TYPE #\n#EOF\n",
            "expected metric name after TYPE, got \"#\" (\"INVALID\") while parsing: \"# TYPE #\"",
        ),
        (
            b"# HELP #\n#EOF\n",
            "expected metric name after HELP, got \"#\" (\"INVALID\") while parsing: \"# HELP #\"",
        ),
        (b"null_byte_metric{a=\"abc\x00\"} 1", ""),
        (b"a{b=\"\x00ss\"} 1\n", ""),
        (b"a{b=\"\x00\"} 1\n", ""),
        (b"a{b=\"\x00\"} 1\n", ""),
        (
            b"a{b=\x00\"ssss\"} 1\n",
            "expected label value, got \"\\x00\" (\"INVALID\") while parsing: \"a{b=\\x00\"",
        ),
        (
            b"a{b=\"\x00",
            "expected label value, got \"\\\"\\x00\\n\" (\"INVALID\") while parsing: \"a{b=\\\"\\x00\\n\"",
        ),
        (
            b"a{b\x00=\"hiih\"}\t1",
            "expected equal, got \"\\x00\" (\"INVALID\") while parsing: \"a{b\\x00\"",
        ),
        (
            b"a\x00{b=\"ddd\"} 1",
            "expected value after metric, got \"\\x00\" (\"INVALID\") while parsing: \"a\\x00\"",
        ),
        (
            b"a 0 1\x00",
            "expected next entry after timestamp, got \"\\x00\" (\"INVALID\") while parsing: \"a 0 1\\x00\"",
        ),
    ];
    check_vectors(Format::PrometheusText, cases);
}

#[test]
fn prometheus_openmetrics_vectors() {
    let cases: &[(&[u8], &str)] = &[
        (b"# EOF", "EOF"),
        (b"# EOF\n", "EOF"),
        (b"", "data does not end with # EOF"),
        (
            b"\n",
            "expected a valid start token, got \"\\n\" (\"INVALID\") while parsing: \"\\n\"",
        ),
        (
            b"metric",
            "expected value after metric, got \"metric\" (\"EOF\") while parsing: \"metric\"",
        ),
        (b"metric 1", "data does not end with # EOF"),
        (b"metric 1\n", "data does not end with # EOF"),
        (
            b"metric_total 1 # {aa=\"bb\"} 4",
            "data does not end with # EOF",
        ),
        (
            b"a\n#EOF\n",
            "expected value after metric, got \"\\n\" (\"INVALID\") while parsing: \"a\\n\"",
        ),
        (
            b"\n\n#EOF\n",
            "expected a valid start token, got \"\\n\" (\"INVALID\") while parsing: \"\\n\"",
        ),
        (
            b" a 1\n#EOF\n",
            "expected a valid start token, got \" \" (\"INVALID\") while parsing: \" \"",
        ),
        (
            b"9\n#EOF\n",
            "expected a valid start token, got \"9\" (\"INVALID\") while parsing: \"9\"",
        ),
        (
            b"# TYPE u untyped\n#EOF\n",
            "invalid metric type \"untyped\"",
        ),
        (
            b"# TYPE c counter \n#EOF\n",
            "invalid metric type \"counter \"",
        ),
        (
            b"#  TYPE c counter\n#EOF\n",
            "expected a valid start token, got \"#  \" (\"INVALID\") while parsing: \"#  \"",
        ),
        (
            b"# TYPE \n#EOF\n",
            "expected metric name after TYPE, got \"\\n\" (\"INVALID\") while parsing: \"# TYPE \\n\"",
        ),
        (b"# TYPE m\n#EOF\n", "expected text in TYPE"),
        (
            b"# UNIT metric suffix\n#EOF\n",
            "unit \"suffix\" not a suffix of metric \"metric\"",
        ),
        (
            b"# UNIT metricsuffix suffix\n#EOF\n",
            "unit \"suffix\" not a suffix of metric \"metricsuffix\"",
        ),
        (
            b"# UNIT m suffix\n#EOF\n",
            "unit \"suffix\" not a suffix of metric \"m\"",
        ),
        (
            b"# UNIT \n#EOF\n",
            "expected metric name after UNIT, got \"\\n\" (\"INVALID\") while parsing: \"# UNIT \\n\"",
        ),
        (b"# UNIT m\n#EOF\n", "expected text in UNIT"),
        (
            b"# HELP \n#EOF\n",
            "expected metric name after HELP, got \"\\n\" (\"INVALID\") while parsing: \"# HELP \\n\"",
        ),
        (b"# HELP m\n#EOF\n", "expected text in HELP"),
        (
            b"a\t1\n#EOF\n",
            "expected value after metric, got \"\\t\" (\"INVALID\") while parsing: \"a\\t\"",
        ),
        (
            b"a 1\t2\n#EOF\n",
            "strconv.ParseFloat: parsing \"1\\t2\": invalid syntax while parsing: \"a 1\\t2\"",
        ),
        (
            b"a 1 2 \n#EOF\n",
            "expected next entry after timestamp, got \" \\n\" (\"INVALID\") while parsing: \"a 1 2 \\n\"",
        ),
        (
            b"a 1 2 #\n#EOF\n",
            "expected next entry after timestamp, got \" #\\n\" (\"TIMESTAMP\") while parsing: \"a 1 2 #\\n\"",
        ),
        (
            b"a 1 1z\n#EOF\n",
            "strconv.ParseFloat: parsing \"1z\": invalid syntax while parsing: \"a 1 1z\"",
        ),
        (
            b" # EOF\n",
            "expected a valid start token, got \" \" (\"INVALID\") while parsing: \" \"",
        ),
        (b"# EOF\na 1", "unexpected data after # EOF"),
        (b"# EOF\n\n", "unexpected data after # EOF"),
        (b"# EOFa 1", "unexpected data after # EOF"),
        (
            b"#\tTYPE c counter\n",
            "expected a valid start token, got \"#\\t\" (\"INVALID\") while parsing: \"#\\t\"",
        ),
        (b"# TYPE c  counter\n", "invalid metric type \" counter\""),
        (
            b"a 1 1 1\n# EOF\n",
            "expected next entry after timestamp, got \" 1\\n\" (\"TIMESTAMP\") while parsing: \"a 1 1 1\\n\"",
        ),
        (
            b"a{b='c'} 1\n# EOF\n",
            "expected label value, got \"'\" (\"INVALID\") while parsing: \"a{b='\"",
        ),
        (
            b"a{,b=\"c\"} 1\n# EOF\n",
            "expected label name, got \",b\" (\"COMMA\") while parsing: \"a{,b\"",
        ),
        (
            b"a{b=\"c\"d=\"e\"} 1\n# EOF\n",
            "expected comma or brace close, got \"d=\" (\"LNAME\") while parsing: \"a{b=\\\"c\\\"d=\"",
        ),
        (
            b"a{b=\"c\",,d=\"e\"} 1\n# EOF\n",
            "expected label name, got \",d\" (\"COMMA\") while parsing: \"a{b=\\\"c\\\",,d\"",
        ),
        (
            b"a{b=\n# EOF\n",
            "expected label value, got \"\\n\" (\"INVALID\") while parsing: \"a{b=\\n\"",
        ),
        (
            b"a{\xff=\"foo\"} 1\n# EOF\n",
            "expected label name, got \"\\xff\" (\"INVALID\") while parsing: \"a{\\xff\"",
        ),
        (
            b"a{b=\"\xff\"} 1\n# EOF\n",
            "invalid UTF-8 label value: \"\\\"\\xff\\\"\"",
        ),
        (
            b"{\"a\",\"b = \"c\"}\n# EOF\n",
            "expected equal, got \"c\\\"\" (\"LNAME\") while parsing: \"{\\\"a\\\",\\\"b = \\\"c\\\"\"",
        ),
        (
            b"{\"a\",b\\nc=\"d\"} 1\n# EOF\n",
            "expected equal, got \"\\\\\" (\"INVALID\") while parsing: \"{\\\"a\\\",b\\\\\"",
        ),
        (
            b"a true\n",
            "strconv.ParseFloat: parsing \"true\": invalid syntax while parsing: \"a true\"",
        ),
        (
            b"something_weird{problem=\"\n# EOF\n",
            "expected label value, got \"\\\"\\n\" (\"INVALID\") while parsing: \"something_weird{problem=\\\"\\n\"",
        ),
        (
            b"empty_label_name{=\"\"} 0\n# EOF\n",
            "expected label name, got \"=\\\"\" (\"EQUAL\") while parsing: \"empty_label_name{=\\\"\"",
        ),
        (
            b"{A}0\n# EOF\n",
            "expected equal, got \"}0\" (\"BCLOSE\") while parsing: \"{A}0\"",
        ),
        (
            b"foo 1_2\n\n# EOF\n",
            "unsupported character in float while parsing: \"foo 1_2\"",
        ),
        (
            b"foo 0x1p-3\n\n# EOF\n",
            "unsupported character in float while parsing: \"foo 0x1p-3\"",
        ),
        (
            b"foo 0x1P-3\n\n# EOF\n",
            "unsupported character in float while parsing: \"foo 0x1P-3\"",
        ),
        (
            b"foo 0 1_2\n\n# EOF\n",
            "unsupported character in float while parsing: \"foo 0 1_2\"",
        ),
        (
            b"custom_metric_total 1 # {aa=bb}\n# EOF\n",
            "expected label value, got \"b\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {aa=b\"",
        ),
        (
            b"custom_metric_total 1 # {aa=\"bb\"}\n# EOF\n",
            "expected value after exemplar labels, got \"\\n\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\"}\\n\"",
        ),
        (
            b"custom_metric_total 1 # {aa=\"bb\"}",
            "expected value after exemplar labels, got \"}\" (\"EOF\") while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\"}\"",
        ),
        (
            b"custom_metric_total 1 # {bb}",
            "expected equal, got \"}\" (\"BCLOSE\") while parsing: \"custom_metric_total 1 # {bb}\"",
        ),
        (
            b"custom_metric_total 1 # {bb, a=\"dd\"}",
            "expected equal, got \", \" (\"COMMA\") while parsing: \"custom_metric_total 1 # {bb, \"",
        ),
        (
            b"custom_metric_total 1 # {aa=\"bb\",,cc=\"dd\"} 1",
            "expected label name, got \",c\" (\"COMMA\") while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\",,c\"",
        ),
        (
            b"custom_metric_total 1 # {aa=\"bb\"} 1_2",
            "unsupported character in float while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\"} 1_2\"",
        ),
        (
            b"custom_metric_total 1 # {aa=\"bb\"} 0x1p-3",
            "unsupported character in float while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\"} 0x1p-3\"",
        ),
        (
            b"custom_metric_total 1 # {aa=\"bb\"} true",
            "strconv.ParseFloat: parsing \"true\": invalid syntax while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\"} true\"",
        ),
        (
            b"custom_metric_total 1 # {aa=\"bb\",cc=}",
            "expected label value, got \"}\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {aa=\\\"bb\\\",cc=}\"",
        ),
        (
            b"custom_metric_total 1 # {aa=\\\"\\xff\\\"} 9.0",
            "expected label value, got \"\\\\\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {aa=\\\\\"",
        ),
        (
            b"{b=\"c\",} 1",
            "metric name not set while parsing: \"{b=\\\"c\\\",} 1\"",
        ),
        (b"a 1 NaN", "invalid timestamp NaN"),
        (b"a 1 -Inf", "invalid timestamp -Inf"),
        (b"a 1 Inf", "invalid timestamp +Inf"),
        (
            b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 NaN",
            "invalid exemplar timestamp NaN",
        ),
        (
            b"# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 -Inf",
            "invalid exemplar timestamp -Inf",
        ),
        (b"null_byte_metric{a=\"abc\x00\"} 1\n# EOF\n", ""),
        (b"a{b=\"\x00ss\"} 1\n# EOF\n", ""),
        (b"a{b=\"\x00\"} 1\n# EOF\n", ""),
        (b"a{b=\"\x00\"} 1\n# EOF", ""),
        (
            b"a{b=\x00\"ssss\"} 1\n# EOF\n",
            "expected label value, got \"\\x00\" (\"INVALID\") while parsing: \"a{b=\\x00\"",
        ),
        (
            b"a{b=\"\x00",
            "expected label value, got \"\\\"\\x00\" (\"INVALID\") while parsing: \"a{b=\\\"\\x00\"",
        ),
        (
            b"a{b\x00=\"hiih\"}\t1",
            "expected equal, got \"\\x00\" (\"INVALID\") while parsing: \"a{b\\x00\"",
        ),
        (
            b"a\x00{b=\"ddd\"} 1",
            "expected value after metric, got \"\\x00\" (\"INVALID\") while parsing: \"a\\x00\"",
        ),
        (
            b"#",
            "expected a valid start token, got \"#\" (\"INVALID\") while parsing: \"#\"",
        ),
        (
            b"# H",
            "expected a valid start token, got \"# H\" (\"INVALID\") while parsing: \"# H\"",
        ),
        (
            b"custom_metric_total 1 # {b=\x00\"ssss\"} 1\n",
            "expected label value, got \"\\x00\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {b=\\x00\"",
        ),
        (
            b"custom_metric_total 1 # {b=\"\x00ss\"} 1\n",
            "expected label value, got \"\\\"\\x00\" (\"INVALID\") while parsing: \"custom_metric_total 1 # {b=\\\"\\x00\"",
        ),
    ];
    check_vectors(Format::OpenMetrics, cases);
}

// ---------------------------------------------------------------------------------------
// Fixtures.

fn fixtures_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("PROMSHARD_FIXTURES").map(PathBuf::from),
        Some(PathBuf::from("/work/shared/fixtures")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("node_exporter.txt").is_file())
        .expect("fixtures not found (set PROMSHARD_FIXTURES to shared/fixtures)")
}

#[derive(Debug, Default, PartialEq)]
struct Counts {
    samples: usize,
    help: usize,
    types: usize,
    units: usize,
    exemplars: usize,
}

fn count(path: &str, format: Format) -> Counts {
    let body = std::fs::read(fixtures_dir().join(path)).unwrap();
    let mut p = Parser::new(&body, format);
    let mut c = Counts::default();
    let mut labels = Vec::new();
    while let Some(e) = p.next_entry().unwrap_or_else(|e| panic!("{path}: {e}")) {
        match e {
            Entry::Series { exemplar, .. } => {
                c.samples += 1;
                c.exemplars += usize::from(exemplar.is_some());
                p.series_labels(&mut labels).unwrap();
                assert_eq!(labels.iter().filter(|(n, _)| n == "__name__").count(), 1);
            }
            Entry::Help { .. } => c.help += 1,
            Entry::Type { .. } => c.types += 1,
            Entry::Unit { .. } => c.units += 1,
        }
    }
    c
}

/// Expected counts were taken independently with grep (non-comment, non-blank lines;
/// `^# HELP`, `^# TYPE`, `^# UNIT`; ` # {`).
#[test]
fn fixtures_parse() {
    let c = |samples, help, types, units, exemplars| Counts {
        samples,
        help,
        types,
        units,
        exemplars,
    };
    let cases = [
        (
            "node_exporter.txt",
            Format::PrometheusText,
            c(507, 283, 283, 0, 0),
        ),
        (
            "prometheus_self.txt",
            Format::PrometheusText,
            c(271, 151, 151, 0, 0),
        ),
        (
            "vmagent_self.txt",
            Format::PrometheusText,
            c(429, 0, 0, 0, 0),
        ),
        (
            "prometheus-textparse/alltypes.237mfs.prom.txt",
            Format::PrometheusText,
            c(1857, 237, 237, 0, 0),
        ),
        (
            "prometheus-textparse/1histogram.om.txt",
            Format::OpenMetrics,
            c(42, 1, 1, 0, 0),
        ),
        (
            "prometheus-textparse/alltypes.5mfs.om.txt",
            Format::OpenMetrics,
            c(53, 5, 5, 0, 6),
        ),
    ];
    for (path, format, want) in cases {
        assert_eq!(count(path, format), want, "{path}");
    }
}

#[test]
fn fixture_spot_checks() {
    let body =
        std::fs::read(fixtures_dir().join("prometheus-textparse/alltypes.5mfs.om.txt")).unwrap();
    let (entries, err) = run(&body, Format::OpenMetrics);
    assert!(err.is_none());
    let want_bucket = E::S {
        series: "rpc_durations_histogram_seconds_bucket{le=\"-0.0002899999999999998\"}".into(),
        value: 3f64.to_bits(),
        ts: None,
        labels: lbls(&[
            ("__name__", "rpc_durations_histogram_seconds_bucket"),
            ("le", "-0.0002899999999999998"),
        ]),
        exemplar: Some(Ex {
            raw: "{dummyID=\"17783\"}".into(),
            labels: lbls(&[("dummyID", "17783")]),
            value: (-0.0003825067330956884f64).to_bits(),
            ts: Some(1726839814223),
        }),
    };
    assert!(entries.contains(&want_bucket), "{entries:#?}");
    let body = std::fs::read(fixtures_dir().join("prometheus-textparse/alltypes.237mfs.prom.txt"))
        .unwrap();
    let (entries, _) = run(&body, Format::PrometheusText);
    assert!(entries.contains(&s(
        "go_gc_duration_seconds{quantile=\"0.25\"}",
        0.00010188,
        None,
        &[("__name__", "go_gc_duration_seconds"), ("quantile", "0.25")],
    )));
    assert!(entries.contains(&s(
        "go_gc_duration_seconds{quantile=\"1\"}",
        0.002389378,
        None,
        &[("__name__", "go_gc_duration_seconds"), ("quantile", "1.0")],
    )));
}

// ---------------------------------------------------------------------------------------
// Round trip: generate series, render them as text or OpenMetrics, parse, compare.

#[derive(Clone, Debug)]
struct GenSeries {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    ts: Option<i64>,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn is_legacy_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_' || x == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn is_legacy_label(s: &str) -> bool {
    is_legacy_name(s) && !s.contains(':')
}

fn render_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's shortest round-trip form is valid Go float syntax.
        format!("{v:?}")
    }
}

fn render(series: &[GenSeries], format: Format) -> String {
    let mut out = String::new();
    for s in series {
        let mut parts = Vec::new();
        let quoted_name = !is_legacy_name(&s.name);
        if quoted_name {
            parts.push(format!("\"{}\"", escape(&s.name)));
        }
        for (n, v) in &s.labels {
            let n = if is_legacy_label(n) {
                n.clone()
            } else {
                format!("\"{}\"", escape(n))
            };
            parts.push(format!("{n}=\"{}\"", escape(v)));
        }
        if !quoted_name {
            out.push_str(&s.name);
        }
        if quoted_name || !parts.is_empty() {
            out.push('{');
            out.push_str(&parts.join(","));
            out.push('}');
        }
        out.push(' ');
        out.push_str(&render_float(s.value));
        if let Some(ts) = s.ts {
            match format {
                Format::PrometheusText => out.push_str(&format!(" {}", ts.unsigned_abs())),
                Format::OpenMetrics => {
                    out.push_str(&format!(" {}.{:03}", ts / 1000, (ts % 1000).abs()))
                }
            }
        }
        out.push('\n');
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
        "[a-z]{1,5}\\.[a-z\\\\\"\n é€{},=]{1,10}",
    ]
}

fn label_name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_]{0,15}".prop_filter("le/quantile are normalised", |s| s != "le"
            && s != "quantile"),
        "[a-z]{1,4}[.\\-/ \"\\\\]{1,3}[a-z]{0,4}",
    ]
}

fn value_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
    ]
}

fn series_strategy() -> impl Strategy<Value = GenSeries> {
    (
        name_strategy(),
        prop::collection::vec(
            (
                label_name_strategy(),
                "(?s)[^\u{0}]{0,20}|[a-z\\\\\"\n\u{0}]{0,8}",
            ),
            0..6,
        ),
        value_strategy(),
        // Multiples of 250 ms, so OpenMetrics' float seconds are exact.
        prop::option::of((0i64..16_000_000_000).prop_map(|t| t * 250)),
    )
        .prop_map(|(name, labels, value, ts)| GenSeries {
            name,
            labels,
            value,
            ts,
        })
}

fn check_round_trip(series: &[GenSeries], format: Format) -> Result<(), TestCaseError> {
    let body = render(series, format);
    let mut p = Parser::new(body.as_bytes(), format);
    let mut labels = Vec::new();
    for s in series {
        let entry = p.next_entry();
        let Ok(Some(Entry::Series {
            value,
            timestamp_ms,
            ..
        })) = entry
        else {
            return Err(TestCaseError::fail(format!("{entry:?} for {body:?}")));
        };
        if s.value.is_nan() {
            prop_assert_eq!(value.to_bits(), NORMAL_NAN);
        } else {
            prop_assert_eq!(value.to_bits(), s.value.to_bits(), "{}", body);
        }
        prop_assert_eq!(timestamp_ms, s.ts);
        p.series_labels(&mut labels).unwrap();
        let mut want: Vec<(String, String)> = vec![("__name__".into(), s.name.clone())];
        want.extend(s.labels.iter().cloned());
        want.sort_by(|a, b| a.0.cmp(&b.0));
        prop_assert_eq!(owned(&labels), want, "{}", body);
    }
    prop_assert_eq!(p.next_entry(), Ok(None));
    Ok(())
}

const EDIT_BYTES: &[u8] = b"a_:{}=\",\\ \t\n#0.1eE+-x\0\xff";

/// Everything a parser yields: entries, decoded labels, and the final error.
fn trace(mut p: Parser) -> Vec<String> {
    let mut out = Vec::new();
    let mut labels = Vec::new();
    loop {
        match p.next_entry() {
            Ok(None) => return out,
            Err(e) => {
                out.push(format!("error {e:?}"));
                return out;
            }
            Ok(Some(e)) => {
                out.push(format!("{e:?}"));
                if matches!(e, Entry::Series { .. }) {
                    out.push(format!(
                        "{:?}",
                        p.series_labels(&mut labels).map(|_| labels.clone())
                    ));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip_text(series in prop::collection::vec(series_strategy(), 1..8)) {
        check_round_trip(&series, Format::PrometheusText)?;
    }

    #[test]
    fn round_trip_openmetrics(series in prop::collection::vec(series_strategy(), 1..8)) {
        check_round_trip(&series, Format::OpenMetrics)?;
    }

    /// The fast paths for common lines give exactly what the general token-by-token path
    /// gives, on valid bodies and on bodies with a few bytes overwritten.
    #[test]
    fn fast_paths_match_reference(
        series in prop::collection::vec(series_strategy(), 1..6),
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(EDIT_BYTES)), 0..4),
        om in any::<bool>(),
    ) {
        let format = if om { Format::OpenMetrics } else { Format::PrometheusText };
        let mut body = render(&series, format).into_bytes();
        for (idx, c) in edits {
            let k = idx.index(body.len());
            body[k] = c;
        }
        prop_assert_eq!(trace(Parser::new(&body, format)), trace(Parser::new_reference(&body, format)));
    }

    /// Arbitrary bytes never panic, and series_labels works on every sample.
    #[test]
    fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..200), om in any::<bool>()) {
        let format = if om { Format::OpenMetrics } else { Format::PrometheusText };
        let mut p = Parser::new(&body, format);
        let mut labels = Vec::new();
        while let Ok(Some(e)) = p.next_entry() {
            if matches!(e, Entry::Series { .. }) {
                let _ = p.series_labels(&mut labels);
                let _ = p.exemplar_labels(&mut labels);
            }
        }
    }
}

/// Written pairs of each sample of a text `body`: the name and `(name, value)` split at the
/// name's length, or `None`.
type Written = Option<(String, Vec<(String, String)>)>;

fn written_pairs_of(body: &str, format: Format) -> Vec<Written> {
    let mut p = Parser::new(body.as_bytes(), format);
    let mut out = Vec::new();
    while let Some(entry) = p.next_entry().unwrap() {
        if !matches!(entry, Entry::Series { .. }) {
            continue;
        }
        out.push(p.written_pairs().map(|written| {
            let pairs = written
                .pairs()
                .map(|(written, name_len)| {
                    assert_eq!(&written[name_len..name_len + 2], b"=\"");
                    (lossy(&written[..name_len]), lossy(&written[name_len + 2..]))
                })
                .collect();
            (lossy(written.name), pairs)
        }));
    }
    out
}

#[test]
fn written_pairs_are_those_of_plainly_written_series_only() {
    let pairs = |list: &[(&str, &str)]| {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let body = "a 1\n\
                b{x=\"1\",y=\"\"} 2\n\
                c{y=\"2\",x=\"1\"} 3\n\
                c{y=\"2\",} 3\n\
                d{x=\"a\\\"b\"} 4\n\
                e{ x=\"1\"} 5\n\
                {\"f\",x=\"1\"} 6\n\
                g{} 7\n\
                h {x=\"é\"} 8\n";
    assert_eq!(
        written_pairs_of(body, Format::PrometheusText),
        vec![
            Some(("a".into(), vec![])),
            Some(("b".into(), pairs(&[("x", "1"), ("y", "")]))),
            // As written: unsorted.
            Some(("c".into(), pairs(&[("y", "2"), ("x", "1")]))),
            // A trailing comma, escaped, spaced, a quoted name, empty braces: not read so.
            None,
            None,
            None,
            None,
            None,
            Some(("h".into(), pairs(&[("x", "é")]))),
        ]
    );
    // OpenMetrics is not read so.
    assert_eq!(
        written_pairs_of("a{x=\"1\"} 1\n# EOF\n", Format::OpenMetrics),
        vec![None]
    );
}
