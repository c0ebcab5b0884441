//! Choosing a parser from the Content-Type (P: `textparse/interface.go`
//! `extractMediaType`, which uses Go's `mime.ParseMediaType`).

use super::Format;

pub(crate) fn format_from_content_type(content_type: &str) -> Option<Format> {
    match parse_media_type(content_type)?.as_str() {
        "text/plain" => Some(Format::PrometheusText),
        "application/openmetrics-text" => Some(Format::OpenMetrics),
        _ => None,
    }
}

fn is_tspecial(c: char) -> bool {
    "()<>@,;:\\\"/[]?=".contains(c)
}

fn is_token_char(c: char) -> bool {
    c > ' ' && c < '\x7f' && !is_tspecial(c)
}

/// `(token, rest)`; an empty token when `v` does not start with one.
fn consume_token(v: &str) -> (&str, &str) {
    let end = v.find(|c| !is_token_char(c)).unwrap_or(v.len());
    v.split_at(end)
}

/// Go's `consumeValue`: a token or a quoted string.
fn consume_value(v: &str) -> Option<(String, &str)> {
    if !v.starts_with('"') {
        let (t, rest) = consume_token(v);
        return (!t.is_empty()).then(|| (t.to_string(), rest));
    }
    let b = v.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            return Some((out, &v[i + 1..]));
        }
        if c == b'\\' && i + 1 < b.len() && is_tspecial(b[i + 1] as char) {
            out.push(b[i + 1] as char);
            i += 2;
            continue;
        }
        if c == b'\r' || c == b'\n' {
            return None;
        }
        // Multi-byte characters are copied through whole.
        let ch = v[i..].chars().next()?;
        out.push(ch);
        i += ch.len_utf8();
    }
    None
}

/// Go's `consumeMediaParam`: `; key = value`, returning `(lowercased key, value, rest)`.
fn consume_param(v: &str) -> Option<(String, String, &str)> {
    let rest = v.trim_start().strip_prefix(';')?.trim_start();
    let (key, rest) = consume_token(rest);
    if key.is_empty() {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let (value, rest) = consume_value(rest)?;
    Some((key.to_ascii_lowercase(), value, rest))
}

/// The lowercased media type, or `None` when Go's `mime.ParseMediaType` reports an error
/// (Prometheus then treats the type as unparsable).
fn parse_media_type(v: &str) -> Option<String> {
    let base = v.split(';').next().unwrap_or("");
    let media = base.to_lowercase().trim().to_string();
    // type ["/" subtype]
    let (typ, rest) = consume_token(&media);
    if typ.is_empty() {
        return None;
    }
    if !rest.is_empty() {
        let sub = rest.strip_prefix('/')?;
        let (subtype, rest) = consume_token(sub);
        if subtype.is_empty() || !rest.is_empty() {
            return None;
        }
    }
    let mut params: Vec<(String, String)> = Vec::new();
    let mut v = &v[base.len()..];
    while !v.is_empty() {
        v = v.trim_start();
        if v.is_empty() {
            break;
        }
        match consume_param(v) {
            Some((key, value, rest)) => {
                if params.iter().any(|(k, old)| *k == key && *old != value) {
                    return None;
                }
                params.push((key, value));
                v = rest;
            }
            None if v.trim() == ";" => break,
            None => return None,
        }
    }
    Some(media)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let cases: &[(&str, Option<Format>)] = &[
            ("text/plain", Some(Format::PrometheusText)),
            ("text/plain; version=0.0.4", Some(Format::PrometheusText)),
            (
                "text/plain; version=0.0.4; charset=utf-8",
                Some(Format::PrometheusText),
            ),
            (
                "text/plain;version=1.0.0;escaping=allow-utf-8",
                Some(Format::PrometheusText),
            ),
            ("TEXT/Plain", Some(Format::PrometheusText)),
            ("  text/plain  ", Some(Format::PrometheusText)),
            ("text/plain;", Some(Format::PrometheusText)),
            (
                "text/plain; charset=\"utf-8\"",
                Some(Format::PrometheusText),
            ),
            (
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                Some(Format::OpenMetrics),
            ),
            ("Application/OpenMetrics-Text", Some(Format::OpenMetrics)),
            (
                "application/openmetrics-text;version=0.0.1",
                Some(Format::OpenMetrics),
            ),
            ("", None),
            ("   ", None),
            ("text/html", None),
            ("application/json", None),
            (
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
                None,
            ),
            ("text", None),
            ("text/", None),
            ("/plain", None),
            ("text/plain/x", None),
            ("text/plain; version", None),
            ("text/plain; =1", None),
            ("text/plain; ; ;", None),
            ("text/plain; a=1; a=2", None),
            ("text/plain; a=1; a=1", Some(Format::PrometheusText)),
            ("text/plain; a=\"unterminated", None),
            ("text plain", None),
        ];
        for (ct, want) in cases {
            assert_eq!(format_from_content_type(ct), *want, "{ct:?}");
        }
    }
}
