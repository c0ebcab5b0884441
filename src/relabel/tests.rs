//! Relabeling tests. Expected values are derived from the compatibility spec (§3) and Go's
//! documented behaviour, not copied from Prometheus' test tables.

use super::*;
use crate::labels::ValidationScheme;

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Parses a YAML list of rules and validates them with `scheme`.
fn parse_with(yaml: &str, scheme: ValidationScheme) -> Result<Vec<RelabelConfig>, String> {
    let mut configs: Vec<RelabelConfig> =
        serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
    for c in &mut configs {
        c.validate(scheme)?;
    }
    Ok(configs)
}

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    parse_with(yaml, ValidationScheme::Utf8).unwrap_or_else(|e| panic!("config {yaml:?}: {e}"))
}

/// The error of a YAML list of rules, from deserialization or validation.
fn error_with(yaml: &str, scheme: ValidationScheme) -> String {
    match serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml) {
        Err(e) => {
            // serde-saphyr renders "error: line L column C: <message>".
            let text = e.without_snippet().to_string();
            let rest = text.strip_prefix("error: ").unwrap_or(&text);
            let message = match rest.split_once(": ") {
                Some((head, tail)) if head.starts_with("line ") => tail.trim(),
                _ => rest.trim(),
            };
            // Custom errors also end with " at line L, column C".
            match message.rfind(" at line ") {
                Some(i) if message[i..].contains(", column ") => message[..i].to_owned(),
                _ => message.to_owned(),
            }
        }
        Ok(mut configs) => {
            for c in &mut configs {
                if let Err(e) = c.validate(scheme) {
                    return e;
                }
            }
            panic!("config {yaml:?} should fail under {scheme:?}")
        }
    }
}

fn error(yaml: &str) -> String {
    error_with(yaml, ValidationScheme::Utf8)
}

/// Runs `yaml` rules over `input`; `None` when dropped.
fn run(yaml: &str, input: &[(&str, &str)]) -> Option<Labels> {
    run_configs(&rules(yaml), input)
}

fn run_configs(configs: &[RelabelConfig], input: &[(&str, &str)]) -> Option<Labels> {
    let mut labels = ls(input);
    process(&mut labels, configs).then_some(labels)
}

struct Case {
    name: &'static str,
    yaml: &'static str,
    input: &'static [(&'static str, &'static str)],
    /// `None`: dropped.
    output: Option<&'static [(&'static str, &'static str)]>,
}

fn check_cases(cases: &[Case]) {
    for case in cases {
        let got = run(case.yaml, case.input);
        let want = case.output.map(ls);
        assert_eq!(got, want, "case {:?}", case.name);
    }
}

// ---------------------------------------------------------------------------------------
// Actions

#[test]
fn actions() {
    check_cases(&[
        Case {
            name: "replace default regex copies the source",
            yaml: "- {source_labels: [a], target_label: b}",
            input: &[("a", "foo")],
            output: Some(&[("a", "foo"), ("b", "foo")]),
        },
        Case {
            name: "replace joins sources with the separator, missing label is empty",
            yaml: "- {source_labels: [a, missing, c], separator: '-', target_label: d}",
            input: &[("a", "1"), ("c", "3")],
            output: Some(&[("a", "1"), ("c", "3"), ("d", "1--3")]),
        },
        Case {
            name: "replace with no source labels sets a constant",
            yaml: "- {target_label: env, replacement: prod}",
            input: &[("a", "1")],
            output: Some(&[("a", "1"), ("env", "prod")]),
        },
        Case {
            name: "replace overwrites",
            yaml: "- {source_labels: [a], regex: '(.)(.)', target_label: a, replacement: '$2$1'}",
            input: &[("a", "xy")],
            output: Some(&[("a", "yx")]),
        },
        Case {
            name: "replace with an empty result deletes the target",
            yaml: "- {source_labels: [missing], target_label: a}",
            input: &[("a", "1"), ("b", "2")],
            output: Some(&[("b", "2")]),
        },
        Case {
            name: "lowercase",
            yaml: "- {source_labels: [a, b], target_label: c, action: lowercase}",
            input: &[("a", "FoO"), ("b", "ÄÖ")],
            output: Some(&[("a", "FoO"), ("b", "ÄÖ"), ("c", "foo;äö")]),
        },
        Case {
            name: "uppercase",
            yaml: "- {source_labels: [a], target_label: a, action: uppercase}",
            input: &[("a", "foo-ä")],
            output: Some(&[("a", "FOO-Ä")]),
        },
        Case {
            name: "lowercase of an empty value deletes the target",
            yaml: "- {source_labels: [missing], target_label: a, action: lowercase}",
            input: &[("a", "X")],
            output: Some(&[]),
        },
        Case {
            name: "keep matching",
            yaml: "- {source_labels: [a], regex: 'fo+', action: keep}",
            input: &[("a", "foo")],
            output: Some(&[("a", "foo")]),
        },
        Case {
            name: "keep not matching drops",
            yaml: "- {source_labels: [a], regex: 'fo+', action: keep}",
            input: &[("a", "bar")],
            output: None,
        },
        Case {
            name: "drop matching",
            yaml: "- {source_labels: [a], regex: 'fo+', action: drop}",
            input: &[("a", "foo")],
            output: None,
        },
        Case {
            name: "drop not matching keeps",
            yaml: "- {source_labels: [a], regex: 'fo+', action: drop}",
            input: &[("a", "fox")],
            output: Some(&[("a", "fox")]),
        },
        Case {
            name: "drop with the default regex drops everything",
            yaml: "- {action: drop}",
            input: &[("a", "1")],
            output: None,
        },
        Case {
            name: "keepequal equal",
            yaml: "- {source_labels: [a, b], target_label: c, action: keepequal}",
            input: &[("a", "1"), ("b", "2"), ("c", "1;2")],
            output: Some(&[("a", "1"), ("b", "2"), ("c", "1;2")]),
        },
        Case {
            name: "keepequal missing target compares with empty",
            yaml: "- {source_labels: [missing], target_label: c, action: keepequal}",
            input: &[("a", "1")],
            output: Some(&[("a", "1")]),
        },
        Case {
            name: "dropequal different",
            yaml: "- {source_labels: [a], target_label: b, action: dropequal}",
            input: &[("a", "1"), ("b", "2")],
            output: Some(&[("a", "1"), ("b", "2")]),
        },
        Case {
            name: "dropequal equal",
            yaml: "- {source_labels: [a], target_label: b, action: dropequal}",
            input: &[("a", "1"), ("b", "1")],
            output: None,
        },
        Case {
            name: "hashmod",
            yaml: "- {source_labels: [a], target_label: shard, modulus: 1000, action: hashmod}",
            input: &[("a", "baz")],
            output: Some(&[("a", "baz"), ("shard", "976")]),
        },
        Case {
            name: "hashmod ignores the regex",
            yaml: "- {source_labels: [a], regex: nomatch, target_label: shard, modulus: 1000, action: hashmod}",
            input: &[("a", "baz")],
            output: Some(&[("a", "baz"), ("shard", "976")]),
        },
        Case {
            name: "labelmap",
            yaml: "- {regex: '__meta_(.+)', action: labelmap}",
            input: &[("__meta_x", "1"), ("y", "2")],
            output: Some(&[("__meta_x", "1"), ("x", "1"), ("y", "2")]),
        },
        Case {
            name: "labelmap with a replacement template",
            yaml: "- {regex: '__meta_(.+)_(.+)', replacement: '${2}_$1', action: labelmap}",
            input: &[("__meta_a_b", "v")],
            output: Some(&[("__meta_a_b", "v"), ("b_a", "v")]),
        },
        Case {
            name: "labelmap overwrites an existing label",
            yaml: "- {regex: 'src_(.+)', action: labelmap}",
            input: &[("src_x", "new"), ("x", "old")],
            output: Some(&[("src_x", "new"), ("x", "new")]),
        },
        Case {
            name: "labeldrop",
            yaml: "- {regex: 'b.*', action: labeldrop}",
            input: &[("a", "1"), ("b1", "2"), ("b2", "3"), ("ab", "4")],
            output: Some(&[("a", "1"), ("ab", "4")]),
        },
        Case {
            name: "labelkeep",
            yaml: "- {regex: 'b.*', action: labelkeep}",
            input: &[("a", "1"), ("b1", "2"), ("b2", "3"), ("ab", "4")],
            output: Some(&[("b1", "2"), ("b2", "3")]),
        },
        Case {
            name: "action names are case-insensitive",
            yaml: "- {source_labels: [a], regex: x, action: DrOp}",
            input: &[("a", "x")],
            output: None,
        },
        Case {
            name: "no rules keep everything",
            yaml: "[]",
            input: &[("a", "1")],
            output: Some(&[("a", "1")]),
        },
    ]);
}

// ---------------------------------------------------------------------------------------
// The 14 tricky cases of spec §3.

#[test]
fn tricky_cases() {
    check_cases(&[
        Case {
            name: "1: ${1} twice",
            yaml: "- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}",
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            output: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
        },
        Case {
            name: "2: chaining reads values written by earlier rules",
            yaml: "
- {source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'}
- {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}
",
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            output: Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
        },
        Case {
            name: "3: drop stops later rules",
            yaml: "
- {source_labels: [a], regex: '.*o.*', action: drop}
- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch$1-ch$1'}
",
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            output: None,
        },
        Case {
            name: "4: the regex is anchored at both ends",
            yaml: "- {source_labels: [a], regex: 'f|o', action: drop}",
            input: &[("a", "foo")],
            output: Some(&[("a", "foo")]),
        },
        Case {
            name: "5: no match writes nothing",
            yaml: "- {source_labels: [a], regex: 'f', target_label: b, replacement: bar}",
            input: &[("a", "boo")],
            output: Some(&[("a", "boo")]),
        },
        Case {
            name: "6: an empty replacement deletes the (expanded) target",
            yaml: "- {source_labels: [a], regex: '(f).*', target_label: '$1', replacement: '$2'}",
            input: &[("a", "foo"), ("f", "baz")],
            output: Some(&[("a", "foo")]),
        },
        Case {
            name: "7: a target expanding to an invalid name is skipped",
            yaml: "- {source_labels: [a], regex: '(f).*', target_label: '${3}', replacement: x}",
            input: &[("a", "foo")],
            output: Some(&[("a", "foo")]),
        },
        Case {
            name: "8a: hashmod of baz",
            yaml: "- {source_labels: [c], target_label: d, modulus: 1000, action: hashmod}",
            input: &[("c", "baz")],
            output: Some(&[("c", "baz"), ("d", "976")]),
        },
        Case {
            name: "8b: hashmod of a joined value with a newline",
            yaml: "- {source_labels: [a, b], separator: \"\\n\", target_label: d, modulus: 1000, action: hashmod}",
            input: &[("a", "foo"), ("b", "bar")],
            output: Some(&[("a", "foo"), ("b", "bar"), ("d", "734")]),
        },
        Case {
            name: "9: labelmap adds and keeps the originals",
            yaml: "- {regex: '__meta_(my.*)', replacement: '${1}', action: labelmap}",
            input: &[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
            ],
            output: Some(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb"),
            ]),
        },
        Case {
            name: "10a: keepequal keeps equal ports",
            yaml: "- {source_labels: [__tmp_port], target_label: __port1, action: keepequal}",
            input: &[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ],
            output: Some(&[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ]),
        },
        Case {
            name: "10b: dropequal drops equal ports",
            yaml: "- {source_labels: [__tmp_port], target_label: __port1, action: dropequal}",
            input: &[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ],
            output: None,
        },
        Case {
            name: "10c: keepequal drops different ports",
            yaml: "- {source_labels: [__tmp_port], target_label: __port2, action: keepequal}",
            input: &[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ],
            output: None,
        },
        Case {
            name: "11: dot matches newlines; a missing group expands to nothing",
            yaml: "- {source_labels: [a], regex: 'line1.*line2', target_label: d, replacement: 'match${1}'}",
            input: &[("a", "line1\nline2")],
            output: Some(&[("a", "line1\nline2"), ("d", "match")]),
        },
        Case {
            name: "12: named groups",
            yaml: r"
- {source_labels: [a], regex: '(line1)\n(?<second>line2)', target_label: label1, replacement: '${second}'}
- {source_labels: [a], regex: '(line1)\n(?<second>line2)', target_label: label1b, replacement: '$second'}
- {source_labels: [a], regex: '(line1)\n(?<second>line2)', target_label: 'label2_$1', replacement: x}
",
            input: &[("a", "line1\nline2")],
            output: Some(&[
                ("a", "line1\nline2"),
                ("label1", "line2"),
                ("label1b", "line2"),
                ("label2_line1", "x"),
            ]),
        },
        Case {
            name: "13: issue 12283: drop, re-create, keep",
            yaml: "
- {regex: '^__meta_kubernetes_pod_container_port_name$', action: labeldrop}
- source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port]
  regex: '(.+)'
  target_label: __meta_kubernetes_pod_container_port_name
  replacement: metrics
- {source_labels: [__meta_kubernetes_pod_container_port_name], regex: '^metrics$', action: keep}
",
            input: &[
                ("__meta_kubernetes_pod_container_port_name", "foo"),
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ],
            output: Some(&[
                ("__meta_kubernetes_pod_container_port_name", "metrics"),
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ]),
        },
        Case {
            // The scrape loop then fails the scrape with "missing metric name (__name__ label)".
            name: "14: labelkeep without __name__ removes the metric name",
            yaml: "- {regex: 'instance|job', action: labelkeep}",
            input: &[
                ("__name__", "up"),
                ("instance", "i"),
                ("job", "j"),
                ("other", "o"),
            ],
            output: Some(&[("instance", "i"), ("job", "j")]),
        },
    ]);
}

#[test]
fn tricky_case_14_metric_name_is_gone() {
    let mut labels = ls(&[("__name__", "up"), ("job", "j")]);
    assert!(process(
        &mut labels,
        &rules("- {regex: job, action: labelkeep}")
    ));
    assert!(!labels.contains("__name__"));
}

// ---------------------------------------------------------------------------------------
// Expansion: Go's Regexp.Expand

#[test]
fn expansion() {
    // (replacement, value of `a`, expected value of `t`; "" means the label is absent)
    let cases: &[(&str, &str, &str)] = &[
        ("$1", "ab", "a"),
        ("${1}x", "ab", "ax"),
        // `$1x` is the group named "1x", which does not exist.
        ("$1x", "ab", ""),
        ("$1_", "ab", ""),
        ("$1-", "ab", "a-"),
        ("$$1", "ab", "$1"),
        ("$$", "ab", "$"),
        ("a$", "ab", "a$"),
        ("${1", "ab", "${1"),
        ("${}", "ab", "${}"),
        ("$-", "ab", "$-"),
        // Missing and out-of-range groups expand to nothing.
        ("<$3>", "ab", "<>"),
        ("<$100000000000>", "ab", "<>"),
        // Leading zeros make a name, not a number.
        ("<$01>", "ab", "<>"),
        ("<$0>", "ab", "<ab>"),
        ("<${0}>", "ab", "<ab>"),
        ("$first$second", "ab", "ab"),
        ("${first}-${second}", "ab", "a-b"),
        // Go's names are Unicode letters and digits: `$1é` is the group named "1é".
        ("<$1é>", "ab", "<>"),
        ("<${1}é>", "ab", "<aé>"),
        ("<$1.>", "ab", "<a.>"),
        ("<${a.b}>", "ab", "<${a.b}>"),
    ];
    for &(replacement, value, want) in cases {
        let yaml = format!(
            "- {{source_labels: [a], regex: '(?P<first>.)(?P<second>.)', target_label: t, replacement: {}}}",
            serde_json_quote(replacement)
        );
        let got = run(&yaml, &[("a", value)]).expect("kept");
        assert_eq!(got.value("t"), want, "replacement {replacement:?}");
    }
}

/// A double-quoted YAML scalar (JSON string syntax is valid YAML).
fn serde_json_quote(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

#[test]
fn regex_crate_expand_agrees_on_1x_but_not_on_go_edge_cases() {
    // The regex crate's Captures::expand reads `$1x` as group "1x" too...
    let re = regex::Regex::new("(a)(b)").unwrap();
    let caps = re.captures("ab").unwrap();
    let expand = |t: &str| {
        let mut out = String::new();
        caps.expand(t, &mut out);
        out
    };
    assert_eq!(expand("<$1x>"), "<>");
    assert_eq!(expand("<${1}x>"), "<ax>");
    // ...but differs from Go's Regexp.Expand on these, so relabeling uses its own Template:
    // Go reads `$01` as the (missing) group named "01", `$1é` as the group named "1é", and
    // `${a.b}` as literal text.
    assert_eq!(expand("<$01>"), "<a>");
    assert_eq!(expand("<$1é>"), "<aé>");
    assert_eq!(expand("<${a.b}>"), "<>");
    let yaml = |t: &str| {
        format!(
            "- {{source_labels: [a], regex: '(a)(b)', target_label: t, replacement: {}}}",
            serde_json_quote(t)
        )
    };
    for (template, go) in [
        ("<$01>", "<>"),
        ("<$1é>", "<>"),
        ("<${a.b}>", "<${a.b}>"),
        ("<$1x>", "<>"),
    ] {
        assert_eq!(
            run(&yaml(template), &[("a", "ab")]).unwrap().value("t"),
            go,
            "{template}"
        );
    }
}

#[test]
fn expansion_of_duplicate_and_optional_names() {
    // Go allows duplicate names; the first group with that name that took part is used.
    let yaml =
        "- {source_labels: [a], regex: '(?P<n>x)|(?P<n>y)', target_label: t, replacement: '<$n>'}";
    assert_eq!(run(yaml, &[("a", "x")]).unwrap().value("t"), "<x>");
    assert_eq!(run(yaml, &[("a", "y")]).unwrap().value("t"), "<y>");
    // Go also allows names starting with a digit.
    let yaml =
        "- {source_labels: [a], regex: '(?P<1x>x)(y)', target_label: t, replacement: '$1x/$1/$2'}";
    assert_eq!(run(yaml, &[("a", "xy")]).unwrap().value("t"), "x/x/y");
}

// ---------------------------------------------------------------------------------------
// Regex dialect: Go RE2 semantics on top of the regex crate

fn matches(regex: &str, input: &str) -> bool {
    Regexp::new(regex)
        .unwrap_or_else(|e| panic!("{regex:?}: {e}"))
        .is_match(input)
}

#[test]
fn regex_dialect() {
    // (regex, input, matches)
    let cases: &[(&str, &str, bool)] = &[
        // Perl classes are ASCII-only in Go.
        (r"\d", "7", true),
        (r"\d", "٣", false),
        (r"\D", "٣", true),
        (r"\w+", "abc_09", true),
        (r"\w", "é", false),
        (r"\W", "é", true),
        (r"\s", " ", true),
        (r"\s", "\u{A0}", false),
        (r"\s", "\u{0B}", false),
        (r"\S", "\u{A0}", true),
        (r"\S", "\u{0B}", true),
        (r"[\d]", "٣", false),
        (r"[\w.]+", "a.b", true),
        (r"[\w]", "é", false),
        (r"[^\w]", "é", true),
        (r"[\W]", "é", true),
        (r"[^\d\s]", "٣", true),
        (r"[^\D]", "٣", false),
        (r"[\S]", "\u{0B}", true),
        // ASCII word boundaries: é is not a word character.
        (r"é\bx", "éx", true),
        (r"é\Bx", "éx", false),
        (r"a\bb", "ab", false),
        (r"a\Bb", "ab", true),
        // POSIX classes are ASCII.
        (r"[[:alpha:]]+", "abc", true),
        (r"[[:alpha:]]", "é", false),
        (r"[[:^alpha:]]", "é", true),
        (r"[[:word:]]", "_", true),
        (r"[[:space:]]", "\u{0B}", true),
        // Unicode still works where Go is Unicode-aware.
        (".", "é", true),
        (".", "\n", true),
        ("..", "日本", true),
        (r"\pL", "é", true),
        (r"\p{Greek}+", "αβ", true),
        (r"\p{Greek}", "a", false),
        (r"\PL", "1", true),
        (r"\p{^Greek}", "a", true),
        (r"\P{^Greek}", "α", true),
        (r"[\p{Lu}]", "É", true),
        (r"\p{Cs}", "a", false),
        (r"\P{Cs}", "a", true),
        (r"\pC", "\u{378}", false), // unassigned: not in Go's C
        (r"\pC", "\u{0}", true),
        (r"(?i)é", "É", true),
        (r"(?i)k", "\u{212A}", true),
        (r"(?i)\w", "\u{212A}", true),
        (r"(?i)[^k]", "K", false),
        // Go syntax that means something else (or nothing) in the regex crate.
        (r"[a&&b]", "&", true),
        (r"[a-c--]", "-", true),
        (r"[a-c--]", "b", true),
        (r"[a~~b]", "~", true),
        (r"[[]", "[", true),
        (r"[]a]", "]", true),
        (r"[^]a]", "b", true),
        (r"[a-]", "-", true),
        // A class escape cannot start a range: `-` after it is a literal.
        (r"[\d-z]", "-", true),
        (r"[\d-z]", "z", true),
        (r"[\d-z]", "y", false),
        (r"\<a\>", "<a>", true),
        (r"a{,5}", "a{,5}", true),
        (r"a{01}", "a{01}", true),
        (r"a{", "a{", true),
        (r"a{1,2", "a{1,2", true),
        (r"{", "{", true),
        (r"a{2}", "aa", true),
        (r"a{2,}", "aaaa", true),
        (r"a{1,2}", "aaa", false),
        (r"\Q.*+\E", ".*+", true),
        (r"\Q.*+\E", "ab", false),
        (r"x\Q(\Ey", "x(y", true),
        (r"\101\x42\x{43}\0", "ABC\0", true),
        (r"\12", "\n", true),
        (r"\a\f\t\n\r\v", "\u{7}\u{C}\t\n\r\u{B}", true),
        (r"\.\_\-\#", "._-#", true),
        (r"[\x{D800}-\x{E000}]", "\u{E000}", true),
        (r"[\x{D800}]", "a", false),
        (r"[^\x{0}-\x{10FFFF}]", "a", false),
        (r"#x", "#x", true),
        (r"a b", "a b", true),
        // Flags.
        (r"(?i)abc", "ABC", true),
        (r"(?i:a)b", "Ab", true),
        (r"(?i:a)b", "AB", false),
        (r"a(?i)b", "aB", true),
        (r"(?i)a(?-i)b", "Ab", true),
        (r"(?i)a(?-i)b", "AB", false),
        (r"(?-s).", "\n", false),
        (r"(?s-s:.)", "\n", false),
        (r"(?m)a$\nb", "a\nb", true),
        (r"a$\nb", "a\nb", false),
        (r"(?m)^b", "b", true),
        (r"(?ii)a", "A", true),
        (r"(?i-i)a", "A", false),
        (r"(?)a", "a", true),
        // A repetition applies to the last atom even across a flag group.
        (r"a(?i)*", "aaa", true),
        (r"a(?i)*b", "aaB", true),
        (r"a(?i)*b", "AB", false),
        (r"ab*", "abb", true),
        (r"ab*", "abab", false),
        (r"\Aa\z", "a", true),
        (r"^*a", "a", true),
        // The anchors are added around the text: `)|(` escapes them, as in Prometheus.
        (r"a)|(b", "a", true),
        (r"a)|(b", "ax", true),
        (r"a)|(b", "xb", true),
        (r"a)|(b", "x", false),
        // Empty regexes match only "".
        ("", "", true),
        ("", "a", false),
        ("()", "", true),
        ("a|", "", true),
    ];
    for &(regex, input, want) in cases {
        assert_eq!(
            matches(regex, input),
            want,
            "{regex:?} on {input:?} (translated {:?})",
            regexp::translate(regex)
        );
    }
}

#[test]
fn regex_non_greedy_and_captures() {
    let yaml = "
- {source_labels: [a], regex: '(a+)(a*)', target_label: greedy, replacement: '$1|$2'}
- {source_labels: [a], regex: '(a+?)(a*)', target_label: lazy, replacement: '$1|$2'}
- {source_labels: [a], regex: '(?U)(a+)(a*)', target_label: ungreedy, replacement: '$1|$2'}
- {source_labels: [a], regex: '(?U)(a+?)(a*)', target_label: ungreedy_lazy, replacement: '$1|$2'}
- {source_labels: [a], regex: '(a){0}(a+)', target_label: zero, replacement: '$1|$2'}
";
    let got = run(yaml, &[("a", "aaa")]).unwrap();
    assert_eq!(got.value("greedy"), "aaa|");
    assert_eq!(got.value("lazy"), "a|aa");
    assert_eq!(got.value("ungreedy"), "a|aa");
    assert_eq!(got.value("ungreedy_lazy"), "aaa|");
    assert_eq!(got.value("zero"), "|aaa");
}

#[test]
fn regex_errors() {
    // (regex, Go's error)
    let cases: &[(&str, &str)] = &[
        ("(", "error parsing regexp: missing closing ): `^(?s:()$`"),
        (")", "error parsing regexp: unexpected ): `^(?s:))$`"),
        ("[a", "error parsing regexp: missing closing ]: `[a)$`"),
        (
            "*",
            "error parsing regexp: missing argument to repetition operator: `*`",
        ),
        (
            "a|*",
            "error parsing regexp: missing argument to repetition operator: `*`",
        ),
        (
            "(*)",
            "error parsing regexp: missing argument to repetition operator: `*`",
        ),
        (
            "+?",
            "error parsing regexp: missing argument to repetition operator: `+?`",
        ),
        (
            "a**",
            "error parsing regexp: invalid nested repetition operator: `**`",
        ),
        (
            "a*?+",
            "error parsing regexp: invalid nested repetition operator: `*?+`",
        ),
        (
            "a{2}{3}",
            "error parsing regexp: invalid nested repetition operator: `{2}{3}`",
        ),
        (
            "a{1001}",
            "error parsing regexp: invalid repeat count: `{1001}`",
        ),
        (
            "a{2,1}",
            "error parsing regexp: invalid repeat count: `{2,1}`",
        ),
        (
            "a{100000000000}",
            "error parsing regexp: invalid repeat count: `{100000000000}`",
        ),
        (
            "(a{500}){3}",
            "error parsing regexp: invalid repeat count: `{3}`",
        ),
        (
            "(?x)a",
            "error parsing regexp: invalid or unsupported Perl syntax: `(?x`",
        ),
        (
            "(?P=n)",
            "error parsing regexp: invalid or unsupported Perl syntax: `(?P`",
        ),
        (
            "(?i-)a",
            "error parsing regexp: invalid or unsupported Perl syntax: `(?i-)`",
        ),
        (
            "(?--i)a",
            "error parsing regexp: invalid or unsupported Perl syntax: `(?--`",
        ),
        (
            "(?<=a)b",
            "error parsing regexp: invalid named capture: `(?<=a)b)$`",
        ),
        (
            "(?P<a-b>x)",
            "error parsing regexp: invalid named capture: `(?P<a-b>`",
        ),
        (
            "(?P<>x)",
            "error parsing regexp: invalid named capture: `(?P<>`",
        ),
        (
            r"\8",
            r"error parsing regexp: invalid escape sequence: `\8`",
        ),
        (
            r"\1",
            r"error parsing regexp: invalid escape sequence: `\1`",
        ),
        (
            r"\C",
            r"error parsing regexp: invalid escape sequence: `\C`",
        ),
        (
            r"\E",
            r"error parsing regexp: invalid escape sequence: `\E`",
        ),
        (
            r"\é",
            r"error parsing regexp: invalid escape sequence: `\é`",
        ),
        (
            r"\xZ1",
            r"error parsing regexp: invalid escape sequence: `\xZ1`",
        ),
        (
            r"\x{110000}",
            r"error parsing regexp: invalid escape sequence: `\x{110000`",
        ),
        (
            r"\x{}",
            r"error parsing regexp: invalid escape sequence: `\x{}`",
        ),
        (
            r"[z-a]",
            "error parsing regexp: invalid character class range: `z-a`",
        ),
        (
            r"[a-\d]",
            r"error parsing regexp: invalid escape sequence: `\d`",
        ),
        (
            "[[:foo:]]",
            "error parsing regexp: invalid character class range: `[:foo:]`",
        ),
        (
            r"\p{Foo}",
            r"error parsing regexp: invalid character class range: `\p{Foo}`",
        ),
        (
            r"\pé",
            r"error parsing regexp: invalid character class range: `\pé`",
        ),
        (
            r"\p{scx=Greek}",
            r"error parsing regexp: invalid character class range: `\p{scx=Greek}`",
        ),
        (
            r"\p{Greek",
            r"error parsing regexp: invalid character class range: `\p{Greek)$`",
        ),
        (
            r"[\Q]\E]",
            r"error parsing regexp: invalid escape sequence: `\Q`",
        ),
    ];
    for &(regex, want) in cases {
        match Regexp::new(regex) {
            Ok(_) => panic!("{regex:?} should not compile"),
            Err(e) => assert_eq!(e, want, "regex {regex:?}"),
        }
    }
}

#[test]
fn regex_trailing_backslash_escapes_the_closing_paren() {
    // `a\` becomes `^(?s:a\)$`: the added `)` is escaped, so the group is left open.
    assert_eq!(
        Regexp::new(r"a\").unwrap_err(),
        r"error parsing regexp: missing closing ): `^(?s:a\)$`"
    );
}

#[test]
fn regex_keeps_its_text() {
    for text in ["(.*)", "", r"\d+", "a)|(b"] {
        assert_eq!(Regexp::new(text).unwrap().as_str(), text);
    }
}

#[test]
fn regex_large_and_deep() {
    // Valid in Go; needs more than the regex crate's default size limit.
    assert!(matches(r"\pL{1000}", &"é".repeat(1000)));
    // Deep nesting compiles on a default-sized test thread.
    let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
    assert!(matches(&deep, "a"));
    // Deviation: Go accepts up to 1000 levels; the regex crate's nest limit (250) stops
    // earlier, with an error rather than a stack overflow.
    let deeper = format!("{}a{}", "(".repeat(300), ")".repeat(300));
    assert!(
        Regexp::new(&deeper)
            .unwrap_err()
            .starts_with("error parsing regexp: ")
    );
    let too_deep = format!("{}a{}", "(".repeat(1001), ")".repeat(1001));
    assert!(
        Regexp::new(&too_deep)
            .unwrap_err()
            .starts_with("error parsing regexp: expression nests too deeply")
    );
}

// ---------------------------------------------------------------------------------------
// Case mapping

#[test]
fn go_case_mapping() {
    let cases: &[(&str, &str, &str)] = &[
        // (input, upper, lower)
        ("straße", "STRAßE", "straße"),
        ("ﬁx", "ﬁX", "ﬁx"),
        ("ᾳ", "ᾼ", "ᾳ"),
        ("ᾀ", "ᾈ", "ᾀ"),
        ("ᾈ", "ᾈ", "ᾀ"),
        ("İ", "İ", "i"),
        ("ΣΑΣ", "ΣΑΣ", "σασ"),
        ("ǅ", "Ǆ", "ǆ"),
        ("ſ", "S", "ſ"),
        ("MiXeD 123", "MIXED 123", "mixed 123"),
    ];
    for &(input, upper, lower) in cases {
        assert_eq!(gostr::to_upper(input), upper, "upper {input:?}");
        assert_eq!(gostr::to_lower(input), lower, "lower {input:?}");
    }
    let got = run(
        "- {source_labels: [a], target_label: a, action: uppercase}",
        &[("a", "ßtraße")],
    )
    .unwrap();
    assert_eq!(got.value("a"), "ßTRAßE");
}

#[test]
fn go_quote() {
    let cases: &[(&str, &str)] = &[
        ("foo", r#""foo""#),
        ("", r#""""#),
        ("a\"b\\c", r#""a\"b\\c""#),
        ("\n\t\u{7}\u{0}\u{7F}", r#""\n\t\a\x00\x7f""#),
        ("é日本", r#""é日本""#),
        ("\u{A0}\u{200B}", r#""\u00a0\u200b""#),
        ("\u{E0001}", r#""\U000e0001""#),
    ];
    for &(input, want) in cases {
        assert_eq!(gostr::quote(input), want, "quote {input:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Validation errors (Go's `Validate`, exact wording)

#[test]
fn validation_errors() {
    // (yaml, error under the UTF-8 scheme)
    let cases: &[(&str, &str)] = &[
        ("- {action: }", "relabel action cannot be empty"),
        (
            "- {action: null, target_label: a}",
            "relabel action cannot be empty",
        ),
        ("- {action: ''}", r#"unknown relabel action """#),
        ("- {action: Foo}", r#"unknown relabel action "Foo""#),
        ("- {action: 'keep\"'}", r#"unknown relabel action "keep\"""#),
        (
            "- {action: hashmod, target_label: a}",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "- {action: hashmod, target_label: a, modulus: 0}",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "- {source_labels: [a]}",
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "- {action: hashmod, modulus: 2}",
            "relabel configuration for hashmod action requires 'target_label' value",
        ),
        (
            "- {action: lowercase}",
            "relabel configuration for lowercase action requires 'target_label' value",
        ),
        (
            "- {action: uppercase}",
            "relabel configuration for uppercase action requires 'target_label' value",
        ),
        (
            "- {action: keepequal}",
            "relabel configuration for keepequal action requires 'target_label' value",
        ),
        (
            "- {action: dropequal, target_label: }",
            "relabel configuration for dropequal action requires 'target_label' value",
        ),
        (
            "- {action: lowercase, target_label: a, replacement: x}",
            "'replacement' can not be set for lowercase action",
        ),
        (
            "- {action: uppercase, target_label: a, replacement: ''}",
            "'replacement' can not be set for uppercase action",
        ),
        (
            "- {action: keepequal, target_label: a, replacement: $2}",
            "'replacement' can not be set for keepequal action",
        ),
        (
            "- {action: dropequal, target_label: a, replacement: }",
            "'replacement' can not be set for dropequal action",
        ),
        (
            "- {action: labelmap, replacement: ''}",
            r#""" is invalid 'replacement' for labelmap action"#,
        ),
        (
            "- {action: keepequal, target_label: a, regex: '(.*)'}",
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            "- {action: dropequal, target_label: a, separator: ','}",
            "dropequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            "- {action: keepequal, target_label: a, modulus: 3}",
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            "- {action: labeldrop, source_labels: [a]}",
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            "- {action: labeldrop, source_labels: []}",
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            "- {action: labelkeep, target_label: a}",
            "labelkeep action requires only 'regex', and no other fields",
        ),
        (
            "- {action: labelkeep, separator: ''}",
            "labelkeep action requires only 'regex', and no other fields",
        ),
        (
            "- {action: labelkeep, replacement: x}",
            "labelkeep action requires only 'regex', and no other fields",
        ),
        (
            "- {action: labeldrop, modulus: 1}",
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            "- {regex: '(', target_label: a}",
            "error parsing regexp: missing closing ): `^(?s:()$`",
        ),
        (
            "- {source_labels: [a, ''], target_label: b}",
            r#""" is not a valid label name"#,
        ),
    ];
    for &(yaml, want) in cases {
        assert_eq!(error(yaml), want, "config {yaml}");
    }
}

#[test]
fn validation_errors_legacy_scheme() {
    let legacy = ValidationScheme::Legacy;
    // (yaml, error under the legacy scheme); all of these are valid under UTF-8.
    let cases: &[(&str, &str)] = &[
        (
            "- {target_label: 'a.b'}",
            r#""a.b" is invalid 'target_label' for replace action"#,
        ),
        (
            "- {target_label: '1a'}",
            r#""1a" is invalid 'target_label' for replace action"#,
        ),
        (
            "- {target_label: 'é'}",
            r#""é" is invalid 'target_label' for replace action"#,
        ),
        (
            "- {target_label: '${1}-x'}",
            r#""${1}-x" is invalid 'target_label' for replace action"#,
        ),
        (
            "- {target_label: '1$x'}",
            r#""1$x" is invalid 'target_label' for replace action"#,
        ),
        (
            "- {target_label: 'a$'}",
            r#""a$" is invalid 'target_label' for replace action"#,
        ),
        (
            "- {target_label: '${}'}",
            r#""${}" is invalid 'target_label' for replace action"#,
        ),
        (
            "- {target_label: 'a.b', action: lowercase}",
            r#""a.b" is invalid 'target_label' for lowercase action"#,
        ),
        (
            "- {target_label: 'a.b', action: uppercase}",
            r#""a.b" is invalid 'target_label' for uppercase action"#,
        ),
        (
            "- {target_label: 'a.b', action: keepequal}",
            r#""a.b" is invalid 'target_label' for keepequal action"#,
        ),
        (
            "- {target_label: 'a.b', action: dropequal}",
            r#""a.b" is invalid 'target_label' for dropequal action"#,
        ),
        (
            "- {target_label: 'a.b', action: hashmod, modulus: 2}",
            r#""a.b" is invalid 'target_label' for hashmod action"#,
        ),
        (
            "- {action: labelmap, replacement: 'a.$1'}",
            r#""a.$1" is invalid 'replacement' for labelmap action"#,
        ),
        // Go checks the target before the replacement and the other fields.
        (
            "- {target_label: 'a.b', action: lowercase, replacement: x}",
            r#""a.b" is invalid 'target_label' for lowercase action"#,
        ),
        (
            "- {target_label: 'a.b', action: keepequal, regex: x}",
            r#""a.b" is invalid 'target_label' for keepequal action"#,
        ),
    ];
    for &(yaml, want) in cases {
        assert_eq!(error_with(yaml, legacy), want, "config {yaml}");
        parse_with(yaml, ValidationScheme::Utf8)
            .map(|_| ())
            .or_else(|e| {
                if yaml.contains("replacement: x") || yaml.contains("regex: x") {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .unwrap_or_else(|e| panic!("{yaml} should be valid under utf8: {e}"));
    }
    // Under UTF-8 the later checks report.
    assert_eq!(
        error("- {target_label: 'a.b', action: lowercase, replacement: x}"),
        "'replacement' can not be set for lowercase action"
    );
    // Valid legacy targets with variables.
    for target in ["$1", "${1}", "a_$1", "${1}_b", "$name", "_${a}${b}c$1"] {
        let yaml = format!("- {{target_label: '{target}'}}");
        parse_with(&yaml, legacy).unwrap_or_else(|e| panic!("{target}: {e}"));
    }
}

#[test]
fn scheme_decides_replace_targets() {
    let yaml = "- {source_labels: [a], target_label: '$1', replacement: v}";
    let utf8 = parse_with(yaml, ValidationScheme::Utf8).unwrap();
    let legacy = parse_with(yaml, ValidationScheme::Legacy).unwrap();
    assert_eq!(utf8[0].name_validation_scheme, ValidationScheme::Utf8);
    assert_eq!(legacy[0].name_validation_scheme, ValidationScheme::Legacy);
    assert_eq!(
        run_configs(&utf8, &[("a", "k8s.io/app")])
            .unwrap()
            .value("k8s.io/app"),
        "v"
    );
    assert_eq!(
        run_configs(&legacy, &[("a", "k8s.io/app")]).unwrap(),
        ls(&[("a", "k8s.io/app")])
    );
    assert_eq!(
        run_configs(&legacy, &[("a", "app")]).unwrap().value("app"),
        "v"
    );
}

// ---------------------------------------------------------------------------------------
// YAML

#[test]
fn yaml_defaults() {
    let configs = rules("- target_label: t\n");
    let c = &configs[0];
    assert!(c.source_labels.is_empty());
    assert_eq!(c.separator(), ";");
    assert_eq!(c.regex().as_str(), "(.*)");
    assert_eq!(c.modulus(), 0);
    assert_eq!(c.target_label(), "t");
    assert_eq!(c.replacement(), "$1");
    assert_eq!(c.action, RelabelAction::Replace);
}

#[test]
fn yaml_null_means_go_zero_value() {
    let configs =
        rules("- {source_labels: [a, b, ~], separator: , regex: , target_label: t, replacement: }");
    let c = &configs[0];
    assert_eq!(c.source_labels, ["a", "b", ""]);
    assert_eq!(c.separator(), "");
    assert_eq!(c.regex().as_str(), "");
    assert_eq!(c.replacement(), "");
    // An empty regex matches only "".
    let keep = rules("- {source_labels: [a], regex: , action: keep}");
    assert!(run_configs(&keep, &[("b", "1")]).is_some());
    assert!(run_configs(&keep, &[("a", "1")]).is_none());
    let keep = rules("- {source_labels: [a], regex: '', action: keep}");
    assert!(run_configs(&keep, &[("b", "1")]).is_some());
    assert!(run_configs(&keep, &[("a", "1")]).is_none());
}

#[test]
fn yaml_all_actions_parse() {
    for action in RelabelAction::ALL {
        let yaml = match action {
            RelabelAction::HashMod => {
                format!("- {{action: {action}, target_label: t, modulus: 2}}")
            }
            RelabelAction::LabelMap
            | RelabelAction::LabelDrop
            | RelabelAction::LabelKeep
            | RelabelAction::Keep
            | RelabelAction::Drop => {
                format!("- {{action: {action}}}")
            }
            _ => format!(
                "- {{action: {}, target_label: t}}",
                action.as_str().to_uppercase()
            ),
        };
        assert_eq!(rules(&yaml)[0].action, action, "{yaml}");
    }
}

#[test]
fn yaml_error_locations() {
    let yaml = "\
- source_labels: [a]
  target_label: b
- source_labels: [a]
  action: keep

- source_labels: [a]
  action: hashmod
  target_label: c
";
    let err = serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml).unwrap_err();
    assert!(
        err.to_string()
            .contains("relabel configuration for hashmod requires non-zero modulus"),
        "{err}"
    );
    assert_eq!(err.location().unwrap().line(), 6);

    let yaml = "\
- source_labels: [a]
  target_label: b
- regex: '(a'
  action: keep
";
    let err = serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml).unwrap_err();
    assert!(
        err.to_string()
            .contains("error parsing regexp: missing closing ): `^(?s:(a)$`"),
        "{err}"
    );
    assert_eq!(err.location().unwrap().line(), 3);

    let yaml = "\
- source_labels: [a]
  target_label: b
- source_labels: [a]
  action: Keeep
";
    let err = serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml).unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"unknown relabel action "Keeep""#),
        "{err}"
    );
    assert_eq!(err.location().unwrap().line(), 4);

    let yaml = "\
- source_labels: [a]
  target_label: b
  sourcelabels: [c]
";
    let err = serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `sourcelabels`"),
        "{err}"
    );
    assert_eq!(err.location().unwrap().line(), 3);
}

#[test]
fn yaml_scheme_dependent_checks_wait_for_validate() {
    // Invalid only under the legacy scheme: deserialization accepts it, validate decides.
    let yaml = "- {target_label: 'a.b', action: keepequal, regex: x}";
    let mut configs = serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml).unwrap();
    assert_eq!(
        configs[0].validate(ValidationScheme::Utf8).unwrap_err(),
        "keepequal action requires only 'source_labels' and `target_label`, and no other fields"
    );
    assert_eq!(
        configs[0].validate(ValidationScheme::Legacy).unwrap_err(),
        r#""a.b" is invalid 'target_label' for keepequal action"#
    );
}

#[test]
fn yaml_serialize_round_trip() {
    let yaml = r"
- source_labels: [a, b]
  separator: ','
  regex: (.*)
  target_label: c
  replacement: x$1
- source_labels: [a]
  target_label: c
- action: keepequal
  source_labels: [a]
  target_label: b
- source_labels: [a]
  modulus: 8
  target_label: h
  action: HashMod
- regex: __meta_(.+)
  action: labelmap
- separator: ''
  regex: ''
  replacement: ''
  target_label: e
";
    let configs = rules(yaml);
    let out = serde_saphyr::to_string(&configs).unwrap();
    let again = rules(&out);
    assert_eq!(serde_saphyr::to_string(&again).unwrap(), out);
    assert_eq!(configs.len(), again.len());
    for (a, b) in configs.iter().zip(&again) {
        assert_eq!(a.source_labels, b.source_labels);
        assert_eq!(a.separator(), b.separator());
        assert_eq!(a.regex().as_str(), b.regex().as_str());
        assert_eq!(a.modulus(), b.modulus());
        assert_eq!(a.target_label(), b.target_label());
        assert_eq!(a.replacement(), b.replacement());
        assert_eq!(a.action, b.action);
    }
    // Like Prometheus: an explicit regex is printed as written, a default one is omitted,
    // source labels are a flow sequence, actions are lowercase.
    let first = serde_saphyr::to_string(&configs[0]).unwrap();
    assert!(first.contains("regex: (.*)"), "{first}");
    assert!(first.contains("source_labels: [a, b]"), "{first}");
    let second = serde_saphyr::to_string(&configs[1]).unwrap();
    assert!(!second.contains("regex"), "{second}");
    assert!(second.contains("separator: ;"), "{second}");
    assert!(second.contains("replacement: $1"), "{second}");
    assert!(second.contains("action: replace"), "{second}");
    assert!(!second.contains("modulus"), "{second}");
    let hashmod = serde_saphyr::to_string(&configs[3]).unwrap();
    assert!(
        hashmod.contains("action: hashmod") && hashmod.contains("modulus: 8"),
        "{hashmod}"
    );
    // Explicitly empty fields survive (prometheus/prometheus#18652).
    let last = &again[5];
    assert_eq!(
        (last.separator(), last.regex().as_str(), last.replacement()),
        ("", "", "")
    );
}

// ---------------------------------------------------------------------------------------
// labelmap iteration order (Go's labels.Builder.Range)

#[test]
fn labelmap_visits_labels_set_by_earlier_rules_last() {
    // Both labels map to `x`; the last one visited wins. Go visits untouched labels first,
    // then those set by earlier rules, so __tmp_a_x (set by rule 1) wins over __tmp_b_x.
    let yaml = "
- {target_label: __tmp_a_x, replacement: '3'}
- {regex: '__tmp_[ab]_(x)', action: labelmap}
";
    let got = run(yaml, &[("__tmp_a_x", "1"), ("__tmp_b_x", "2")]).unwrap();
    assert_eq!(got.value("x"), "3");
    // Without an earlier rule, sorted order: __tmp_b_x is visited last.
    let got = run(
        "- {regex: '__tmp_[ab]_(x)', action: labelmap}",
        &[("__tmp_a_x", "1"), ("__tmp_b_x", "2")],
    )
    .unwrap();
    assert_eq!(got.value("x"), "2");
    // A label deleted and set again moves to the end as well.
    let yaml = "
- {regex: '__tmp_b_x', action: labeldrop}
- {target_label: __tmp_b_x, replacement: '4'}
- {target_label: __tmp_a_x, replacement: '5'}
- {regex: '__tmp_[ab]_(x)', action: labelmap}
";
    let got = run(yaml, &[("__tmp_a_x", "1"), ("__tmp_b_x", "2")]).unwrap();
    assert_eq!(got.value("x"), "5");
}

#[test]
fn labelmap_uses_labels_as_they_were_before_the_rule() {
    // a_x -> a; a_x_x -> a_x. The value copied to `a` is a_x's value before this rule.
    let got = run(
        "- {regex: '(.*)_x', action: labelmap}",
        &[("a_x", "1"), ("a_x_x", "2")],
    )
    .unwrap();
    assert_eq!(got, ls(&[("a", "1"), ("a_x", "2"), ("a_x_x", "2")]));
}

#[test]
fn labelmap_does_not_check_the_new_name() {
    // `(a?)b` on "b" gives an empty name; Go sets it anyway (later validation rejects it).
    let got = run(
        "- {regex: '(a?)b', replacement: '$1', action: labelmap}",
        &[("b", "v")],
    )
    .unwrap();
    assert_eq!(got.get(""), Some("v"));
}

#[test]
fn labelmap_with_unanchored_alternative_replaces_all_matches() {
    // `x)|(y` compiles to `^(?s:x)|(y)$`, so ReplaceAllString works on substrings.
    let got = run(
        "- {regex: 'x)|(y', replacement: '_', action: labelmap}",
        &[("xay", "v")],
    )
    .unwrap();
    assert_eq!(got, ls(&[("_a_", "v"), ("xay", "v")]));
}

// ---------------------------------------------------------------------------------------
// Through the config loader

#[test]
fn config_loader_reports_rule_errors_with_locations() {
    let path = std::path::Path::new("/etc/prometheus/prometheus.yml");
    let yaml = "\
scrape_configs:
  - job_name: a
    static_configs: [{targets: ['localhost:9090']}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: instance
      - source_labels: [__address__]
        action: lowercase
";
    let errors = crate::config::load_str(yaml, path).unwrap_err();
    let error = &errors.0[0];
    assert_eq!(
        error.message,
        "relabel configuration for lowercase action requires 'target_label' value"
    );
    assert_eq!(error.line, 7);

    // Scheme-dependent checks run in the loader's validate() with the job's scheme.
    let yaml = "\
scrape_configs:
  - job_name: a
    metric_name_validation_scheme: legacy
    static_configs: [{targets: ['localhost:9090']}]
    metric_relabel_configs:
      - {source_labels: [a], target_label: 'a.b'}
";
    let errors = crate::config::load_str(yaml, path).unwrap_err();
    assert!(
        errors
            .to_string()
            .contains(r#""a.b" is invalid 'target_label' for replace action"#),
        "{errors}"
    );
    let config = crate::config::load_str(&yaml.replace("legacy", "utf8"), path).unwrap();
    let rule = &config.scrape_configs[0].metric_relabel_configs[0];
    assert_eq!(rule.target_label(), "a.b");
    assert_eq!(rule.name_validation_scheme, ValidationScheme::Utf8);
}
