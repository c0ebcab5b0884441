//! The scrape URL of a target, byte for byte as Go's `url.URL.String()` builds it.

use crate::labels::Labels;
use std::collections::BTreeMap;
use std::fmt::Write;

/// `__scheme__://__address__` + `__metrics_path__` (escaped as a path) + the params, where
/// `__param_<k>` replaces the first value of `k`, keys sorted (`Target.URL`).
pub fn scrape_url(labels: &Labels, params: &BTreeMap<String, Vec<String>>) -> String {
    let mut query: BTreeMap<&str, Vec<&str>> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    for (name, value) in labels.iter() {
        if let Some(key) = name.strip_prefix("__param_") {
            let values = query.entry(key).or_default();
            match values.first_mut() {
                Some(first) => *first = value,
                None => values.push(value),
            }
        }
    }
    let mut url = String::new();
    let scheme = labels.value("__scheme__");
    let host = labels.value("__address__");
    let path = labels.value("__metrics_path__");
    if !scheme.is_empty() {
        url.push_str(scheme);
        url.push(':');
    }
    if !scheme.is_empty() || !host.is_empty() {
        url.push_str("//");
        escape_into(&mut url, host, Mode::Host);
    }
    if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
        url.push('/');
    }
    escape_into(&mut url, path, Mode::Path);
    let mut first = true;
    for (key, values) in &query {
        for value in values {
            url.push(if first { '?' } else { '&' });
            first = false;
            escape_into(&mut url, key, Mode::QueryComponent);
            url.push('=');
            escape_into(&mut url, value, Mode::QueryComponent);
        }
    }
    url
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Host,
    Path,
    QueryComponent,
}

/// Go's `shouldEscape` for the three modes we need.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
        return false;
    }
    match mode {
        Mode::Host => !matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        ),
        Mode::Path => !matches!(
            c,
            b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
        ),
        Mode::QueryComponent => true,
    }
}

fn escape_into(out: &mut String, text: &str, mode: Mode) {
    for &b in text.as_bytes() {
        if mode == Mode::QueryComponent && b == b' ' {
            out.push('+');
        } else if should_escape(b, mode) {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(b as char);
        }
    }
}
