//! Label sets as Prometheus keeps them: sorted by name, names unique, no empty values.

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt;

/// A sorted set of labels. Setting a label to `""` removes it, as in Prometheus.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels {
    sorted: Vec<(String, String)>,
}

impl Labels {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from pairs in any order; a later pair wins over an earlier one.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut labels = Labels::new();
        for (name, value) in pairs {
            labels.set(name, value);
        }
        labels
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.sorted.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).ok().map(|i| self.sorted[i].1.as_str())
    }

    /// The value of `name`, or `""` when absent (how relabeling reads a missing label).
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.position(&name) {
            Ok(i) if value.is_empty() => {
                self.sorted.remove(i);
            }
            Ok(i) => self.sorted[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.sorted.insert(i, (name, value)),
        }
    }

    /// Sets `name` only when it is absent.
    pub fn set_if_absent(&mut self, name: &str, value: impl Into<String>) {
        if !self.contains(name) {
            self.set(name, value);
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.position(name).ok().map(|i| self.sorted.remove(i).1)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.sorted.retain(|(n, v)| keep(n, v));
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.sorted.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Feeds `name 0xff value 0xff` for each label into `hasher` (the hashing of series refs
    /// and target keys; 0xff never occurs in UTF-8, so pairs cannot run into each other).
    pub fn hash_into<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)>,
        hasher: &mut xxhash_rust::xxh3::Xxh3,
    ) {
        for (name, value) in pairs {
            hasher.update(name.as_bytes());
            hasher.update(&[0xff]);
            hasher.update(value.as_bytes());
            hasher.update(&[0xff]);
        }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `{a="1", b="2"}`, as Prometheus prints a label set.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (name, value)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}={value:?}")?;
        }
        f.write_str("}")
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Which label and metric names are valid (`metric_name_validation_scheme`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ValidationScheme {
    /// Any non-empty UTF-8 string.
    #[default]
    Utf8,
    /// `[a-zA-Z_][a-zA-Z0-9_]*` for labels, plus `:` for metric names.
    Legacy,
}

impl ValidationScheme {
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            ValidationScheme::Utf8 => !name.is_empty(),
            ValidationScheme::Legacy => is_legacy_name(name, false),
        }
    }

    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            ValidationScheme::Utf8 => !name.is_empty(),
            ValidationScheme::Legacy => is_legacy_name(name, true),
        }
    }
}

fn is_legacy_name(name: &str, allow_colon: bool) -> bool {
    let mut bytes = name.bytes();
    let first_ok = matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || (allow_colon && b == b':'));
    first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || (allow_colon && b == b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_sorted_and_empty_deletes() {
        let mut labels = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "3")]);
        assert_eq!(
            labels.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        labels.set("b", "");
        assert_eq!(labels.to_string(), r#"{a="1", c="3"}"#);
        labels.set("x", "");
        assert!(!labels.contains("x"));
    }

    #[test]
    fn legacy_names() {
        assert!(ValidationScheme::Legacy.is_valid_label_name("_a1"));
        assert!(!ValidationScheme::Legacy.is_valid_label_name("1a"));
        assert!(!ValidationScheme::Legacy.is_valid_label_name("a:b"));
        assert!(ValidationScheme::Legacy.is_valid_metric_name("a:b"));
        assert!(!ValidationScheme::Legacy.is_valid_label_name(""));
        assert!(ValidationScheme::Utf8.is_valid_label_name("a.b"));
        assert!(!ValidationScheme::Utf8.is_valid_label_name(""));
    }
}
