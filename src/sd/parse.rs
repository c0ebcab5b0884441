//! Target group lists as file and HTTP discovery read them: `[{"targets": [...], "labels": {...}}]`
//! (P: `discovery/targetgroup/targetgroup.go`, `UnmarshalJSON` / `UnmarshalYAML`).

use super::TargetGroup;
use crate::labels::{Labels, ValidationScheme};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The label every target carries its address in.
pub const ADDRESS_LABEL: &str = "__address__";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Option<String>>>,
}

/// A list that may be `null` (no groups) whose items may not be (`nil target group item found`).
type RawGroups = Option<Vec<Option<RawGroup>>>;

/// Parses a JSON list of target groups. `source` gives each group's source from its index.
/// Unknown fields, non-string targets and invalid label names are errors, as in Prometheus.
pub fn parse_json(
    data: &[u8],
    source: impl Fn(usize) -> String,
) -> Result<Vec<TargetGroup>, String> {
    let raw: RawGroups = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    into_groups(raw, source)
}

/// Parses a YAML list of target groups (strict: unknown and duplicate keys are errors).
/// An empty document holds no groups.
pub fn parse_yaml(
    data: &[u8],
    source: impl Fn(usize) -> String,
) -> Result<Vec<TargetGroup>, String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("invalid UTF-8: {e}"))?;
    if is_blank_yaml(text) {
        return Ok(Vec::new());
    }
    let raw: RawGroups = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    into_groups(raw, source)
}

/// Whether a YAML text has no document content (only white space and comments).
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

fn into_groups(
    raw: RawGroups,
    source: impl Fn(usize) -> String,
) -> Result<Vec<TargetGroup>, String> {
    let mut groups = Vec::new();
    for (i, item) in raw.unwrap_or_default().into_iter().enumerate() {
        let Some(group) = item else {
            return Err("nil target group item found".into());
        };
        let mut labels = Labels::new();
        for (name, value) in group.labels.unwrap_or_default() {
            if !ValidationScheme::Utf8.is_valid_label_name(&name) {
                return Err(format!("{name:?} is not a valid label name"));
            }
            labels.set(name, value.unwrap_or_default());
        }
        let targets = group
            .targets
            .unwrap_or_default()
            .into_iter()
            .map(|t| Labels::from_pairs([(ADDRESS_LABEL, t)]))
            .collect();
        groups.push(TargetGroup {
            source: source(i),
            targets,
            labels,
        });
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(i: usize) -> String {
        format!("f:{i}")
    }

    #[test]
    fn json_groups() {
        let groups = parse_json(
            br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod", "x.y": "utf8 ok"}}, {"targets": []}, {}]"#,
            src,
        )
        .unwrap();
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].source, "f:0");
        assert_eq!(
            groups[0].targets,
            vec![
                Labels::from_pairs([("__address__", "a:1")]),
                Labels::from_pairs([("__address__", "b:2")])
            ]
        );
        assert_eq!(
            groups[0].labels.to_string(),
            r#"{env="prod", x.y="utf8 ok"}"#
        );
        assert!(groups[1].targets.is_empty() && groups[2].targets.is_empty());
        assert_eq!(groups[2].source, "f:2");
        assert!(parse_json(b"null", src).unwrap().is_empty());
        assert!(parse_json(b"[]", src).unwrap().is_empty());
    }

    #[test]
    fn yaml_groups() {
        let text = "# comment\n- targets: ['a:1']\n  labels:\n    env: prod\n- targets:\n  - b:2\n  - c:3\n";
        let groups = parse_yaml(text.as_bytes(), src).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].labels.get("env"), Some("prod"));
        assert_eq!(groups[1].targets.len(), 2);
        assert_eq!(groups[1].targets[1].get("__address__"), Some("c:3"));
        // YAML scalars that are not strings are read as their text, as Go's yaml.v2 does.
        let groups =
            parse_yaml(b"- targets: [1234]\n  labels: {port: 80, on: true}\n", src).unwrap();
        assert_eq!(groups[0].targets[0].get("__address__"), Some("1234"));
        assert_eq!(groups[0].labels.to_string(), r#"{on="true", port="80"}"#);
        assert!(parse_yaml(b"", src).unwrap().is_empty());
        assert!(parse_yaml(b"# nothing\n", src).unwrap().is_empty());
    }

    #[test]
    fn bad_json() {
        let err = |text: &str| parse_json(text.as_bytes(), src).unwrap_err();
        assert!(err("").contains("EOF"), "{}", err(""));
        assert!(err(r#"[{"targets": ["a"], "lables": {}}]"#).contains("unknown field `lables`"));
        assert!(err(r#"[{"targets": [1]}]"#).contains("invalid type: integer"));
        assert!(err(r#"[{"targets": "a:1"}]"#).contains("invalid type"));
        assert_eq!(
            err(r#"[{"targets": ["a"], "labels": {"": "x"}}]"#),
            r#""" is not a valid label name"#
        );
        assert_eq!(err(r#"[null]"#), "nil target group item found");
        assert!(
            err(r#"{"targets": []}"#).contains("expected a sequence"),
            "{}",
            err(r#"{"targets": []}"#)
        );
        // Label values must be UTF-8.
        assert!(
            parse_json(
                b"[{\"targets\": [\"a\"], \"labels\": {\"a\": \"\xff\"}}]",
                src
            )
            .is_err()
        );
    }

    #[test]
    fn bad_yaml() {
        let err = |text: &str| parse_yaml(text.as_bytes(), src).unwrap_err();
        assert!(
            err("- targets: ['a']\n  foo: 1\n").contains("foo"),
            "{}",
            err("- targets: ['a']\n  foo: 1\n")
        );
        assert!(
            err("- targets: ['a']\n  labels:\n    '': x\n").contains("is not a valid label name")
        );
        assert!(
            err("- targets: [a]\n  targets: [b]\n")
                .to_lowercase()
                .contains("duplicate")
        );
        assert!(!err("- targets: [a\n").is_empty());
        assert_eq!(err("- \n"), "nil target group item found");
        assert!(
            parse_yaml(b"- targets: ['a']\n  labels: {a: \"\xff\"}\n", src)
                .unwrap_err()
                .contains("UTF-8")
        );
    }
}
