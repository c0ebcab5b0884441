//! `relabel_config` sections (P: `model/relabel/relabel.go`, `Config`, `UnmarshalYAML`, `Validate`).

use super::gostr;
use super::regexp::{Regexp, Template};
use crate::labels::ValidationScheme;
use regex::Regex;
use serde::de::{Deserializer, Error as _};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::LazyLock;

pub const DEFAULT_SEPARATOR: &str = ";";
pub const DEFAULT_REGEX: &str = "(.*)";
pub const DEFAULT_REPLACEMENT: &str = "$1";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelabelAction {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl RelabelAction {
    pub const ALL: [RelabelAction; 11] = [
        RelabelAction::Replace,
        RelabelAction::Keep,
        RelabelAction::Drop,
        RelabelAction::KeepEqual,
        RelabelAction::DropEqual,
        RelabelAction::HashMod,
        RelabelAction::LabelMap,
        RelabelAction::LabelDrop,
        RelabelAction::LabelKeep,
        RelabelAction::Lowercase,
        RelabelAction::Uppercase,
    ];

    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            RelabelAction::Replace => "replace",
            RelabelAction::Keep => "keep",
            RelabelAction::Drop => "drop",
            RelabelAction::KeepEqual => "keepequal",
            RelabelAction::DropEqual => "dropequal",
            RelabelAction::HashMod => "hashmod",
            RelabelAction::LabelMap => "labelmap",
            RelabelAction::LabelDrop => "labeldrop",
            RelabelAction::LabelKeep => "labelkeep",
            RelabelAction::Lowercase => "lowercase",
            RelabelAction::Uppercase => "uppercase",
        }
    }

    /// Parses an action name as Prometheus does: case-insensitively, else
    /// `unknown relabel action "<name>"`.
    pub fn parse(name: &str) -> Result<RelabelAction, String> {
        let lower = gostr::to_lower(name);
        RelabelAction::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| format!("unknown relabel action {}", gostr::quote(name)))
    }
}

impl fmt::Display for RelabelAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One relabeling rule.
///
/// Built by deserialization, which applies the defaults and runs every check that does not
/// depend on the name validation scheme; [`RelabelConfig::validate`] runs the rest.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawRelabelConfig")]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub action: RelabelAction,
    /// Recorded by [`RelabelConfig::validate`]; decides which `replace` targets are valid.
    pub name_validation_scheme: ValidationScheme,
    separator: String,
    regex: Regexp,
    /// `regex` was given in the configuration (Prometheus then prints it and treats it as
    /// set, even when it is `(.*)`).
    regex_set: bool,
    modulus: u64,
    target_label: String,
    replacement: String,
    /// `source_labels` was given, even as `[]` (Go: non-nil slice).
    source_labels_set: bool,
    target_template: Template,
    replacement_template: Template,
}

static DEFAULT_REGEXP: LazyLock<Regexp> =
    LazyLock::new(|| Regexp::new(DEFAULT_REGEX).expect("default regex"));

/// Legacy `target_label` for `replace`: legacy characters plus `$var` / `${var}` references.
static RELABEL_TARGET_LEGACY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$")
        .expect("static regex")
});

fn is_valid_name_with_vars(scheme: ValidationScheme, value: &str) -> bool {
    match scheme {
        ValidationScheme::Utf8 => scheme.is_valid_label_name(value),
        ValidationScheme::Legacy => RELABEL_TARGET_LEGACY.is_match(value),
    }
}

/// Outcome of a check that depends on the validation scheme, when it passes.
enum Gate {
    Pass,
    /// Unknown scheme and the check fails under one of them: leave the rest to `validate`.
    Defer,
}

/// Runs a scheme-dependent check. Without a scheme (during deserialization) it fails only
/// when it fails under every scheme; legacy is the stricter one.
fn gate(
    scheme: Option<ValidationScheme>,
    valid: impl Fn(ValidationScheme) -> bool,
    error: impl FnOnce() -> String,
) -> Result<Gate, String> {
    match scheme {
        Some(s) if valid(s) => Ok(Gate::Pass),
        Some(_) => Err(error()),
        None if !valid(ValidationScheme::Utf8) => Err(error()),
        None if !valid(ValidationScheme::Legacy) => Ok(Gate::Defer),
        None => Ok(Gate::Pass),
    }
}

macro_rules! gate {
    ($scheme:expr, $valid:expr, $error:expr) => {
        if let Gate::Defer = gate($scheme, $valid, $error)? {
            return Ok(());
        }
    };
}

impl RelabelConfig {
    pub fn separator(&self) -> &str {
        &self.separator
    }

    pub fn regex(&self) -> &Regexp {
        &self.regex
    }

    pub fn modulus(&self) -> u64 {
        self.modulus
    }

    pub fn target_label(&self) -> &str {
        &self.target_label
    }

    pub fn replacement(&self) -> &str {
        &self.replacement
    }

    pub(crate) fn target_template(&self) -> &Template {
        &self.target_template
    }

    pub(crate) fn replacement_template(&self) -> &Template {
        &self.replacement_template
    }

    /// Checks that depend on the name validation scheme of the enclosing section, and
    /// records the scheme for processing.
    pub fn validate(&mut self, scheme: ValidationScheme) -> Result<(), String> {
        self.name_validation_scheme = scheme;
        self.check(Some(scheme))
    }

    /// Go's `Config.Validate`, in its order. With `scheme == None`, stops (successfully) at the
    /// first check whose outcome depends on the scheme.
    fn check(&self, scheme: Option<ValidationScheme>) -> Result<(), String> {
        use RelabelAction::*;
        let action = self.action;
        let target = self.target_label.as_str();
        let replacement = self.replacement.as_str();
        let invalid_target = || {
            format!(
                "{} is invalid 'target_label' for {action} action",
                gostr::quote(target)
            )
        };

        if action == HashMod && self.modulus == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        if matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && target.is_empty()
        {
            return Err(format!(
                "relabel configuration for {action} action requires 'target_label' value"
            ));
        }
        if action == Replace && !target.contains('$') {
            gate!(scheme, |s| s.is_valid_label_name(target), invalid_target);
        }
        if action == Replace && target.contains('$') {
            gate!(
                scheme,
                |s| is_valid_name_with_vars(s, target),
                invalid_target
            );
        }
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual) {
            gate!(scheme, |s| s.is_valid_label_name(target), invalid_target);
            if replacement != DEFAULT_REPLACEMENT {
                return Err(format!("'replacement' can not be set for {action} action"));
            }
        }
        if action == LabelMap {
            gate!(
                scheme,
                |s| is_valid_name_with_vars(s, replacement),
                || format!(
                    "{} is invalid 'replacement' for {action} action",
                    gostr::quote(replacement)
                )
            );
        }
        if action == HashMod {
            gate!(scheme, |s| s.is_valid_label_name(target), invalid_target);
        }
        if matches!(action, KeepEqual | DropEqual)
            && (self.regex_set
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{action} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (self.source_labels_set
                || !target.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{action} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

/// The YAML form. Every field distinguishes "absent" (the default) from "null" (Go's zero
/// value, e.g. `separator:` is `""`), as `yaml.v2` does.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabelConfig {
    #[serde(default, deserialize_with = "de_source_labels")]
    source_labels: Option<Vec<SourceLabel>>,
    #[serde(default, deserialize_with = "de_nullable")]
    separator: Option<Option<String>>,
    #[serde(default, deserialize_with = "de_regex")]
    regex: Option<Regexp>,
    #[serde(default, deserialize_with = "de_nullable")]
    modulus: Option<Option<u64>>,
    #[serde(default, deserialize_with = "de_nullable")]
    target_label: Option<Option<String>>,
    #[serde(default, deserialize_with = "de_nullable")]
    replacement: Option<Option<String>>,
    #[serde(default, deserialize_with = "de_action")]
    action: Option<Option<RelabelAction>>,
}

fn de_nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn de_source_labels<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<SourceLabel>>, D::Error> {
    Option::<Vec<SourceLabel>>::deserialize(d)
}

fn de_regex<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regexp>, D::Error> {
    // `regex:` (null) is the empty regex, which matches only "".
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    Regexp::new(&text).map(Some).map_err(D::Error::custom)
}

fn de_action<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<RelabelAction>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(Some(None)),
        Some(name) => RelabelAction::parse(&name)
            .map(|a| Some(Some(a)))
            .map_err(D::Error::custom),
    }
}

/// A `source_labels` item: a label name (null is `""`, as in Go; an explicit `""` is invalid).
struct SourceLabel(String);

impl<'de> Deserialize<'de> for SourceLabel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(SourceLabel(String::new())),
            Some(name) if ValidationScheme::Utf8.is_valid_label_name(&name) => {
                Ok(SourceLabel(name))
            }
            Some(name) => Err(D::Error::custom(format!(
                "{} is not a valid label name",
                gostr::quote(&name)
            ))),
        }
    }
}

impl TryFrom<RawRelabelConfig> for RelabelConfig {
    type Error = String;

    fn try_from(raw: RawRelabelConfig) -> Result<Self, String> {
        let action = match raw.action {
            None => RelabelAction::Replace,
            Some(None) => return Err("relabel action cannot be empty".into()),
            Some(Some(action)) => action,
        };
        let source_labels_set = raw.source_labels.is_some();
        let regex_set = raw.regex.is_some();
        let regex = raw.regex.unwrap_or_else(|| DEFAULT_REGEXP.clone());
        let target_label = raw
            .target_label
            .map_or_else(String::new, Option::unwrap_or_default);
        let replacement = raw
            .replacement
            .map_or_else(|| DEFAULT_REPLACEMENT.to_owned(), Option::unwrap_or_default);
        let config = RelabelConfig {
            source_labels: raw
                .source_labels
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.0)
                .collect(),
            action,
            name_validation_scheme: ValidationScheme::default(),
            separator: raw
                .separator
                .map_or_else(|| DEFAULT_SEPARATOR.to_owned(), Option::unwrap_or_default),
            target_template: Template::new(&target_label, &regex),
            replacement_template: Template::new(&replacement, &regex),
            regex,
            regex_set,
            modulus: raw.modulus.flatten().unwrap_or(0),
            target_label,
            replacement,
            source_labels_set,
        };
        config.check(None)?;
        Ok(config)
    }
}

/// Serializes as Prometheus prints a rule (`yaml.v2` with its `omitempty` tags).
impl Serialize for RelabelConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if !self.source_labels.is_empty() {
            map.serialize_entry("source_labels", &serde_saphyr::FlowSeq(&self.source_labels))?;
        }
        map.serialize_entry("separator", &self.separator)?;
        if self.regex_set {
            map.serialize_entry("regex", self.regex.as_str())?;
        }
        if self.modulus != 0 {
            map.serialize_entry("modulus", &self.modulus)?;
        }
        if !self.target_label.is_empty() {
            map.serialize_entry("target_label", &self.target_label)?;
        }
        map.serialize_entry("replacement", &self.replacement)?;
        map.serialize_entry("action", &self.action)?;
        map.end()
    }
}
