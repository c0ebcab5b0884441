//! Zero-copy parsers for the Prometheus text format (0.0.4, 1.0.0) and OpenMetrics 1.0
//! (P: `model/textparse/`).
//!
//! Both are pull parsers over the response body: [`Parser::next_entry`] returns borrowed
//! slices and allocates nothing for samples; [`Parser::series_labels`] decodes the labels
//! of the last sample only when the caller's series cache misses. The lexers are ports of
//! Prometheus' golex state machines, so token boundaries, accepted quirks and error
//! messages match `promparse.go` / `openmetricsparse.go` (see `lex.rs`). Fast paths for
//! the common line shapes consume exactly the tokens the general path would; tests and
//! the fuzz targets compare them with [`Parser::new_reference`].
//!
//! Known differences from Prometheus:
//! - comment lines are skipped, not returned as entries;
//! - labels with the same name keep their order of appearance (Go's sort is unstable);
//! - a quoted metric or label name that is not valid UTF-8 makes
//!   [`Parser::series_labels`] fail (Prometheus fails the scrape later, on the name);
//! - `%q` in messages approximates Go's `unicode.IsPrint` without Unicode tables;
//! - an OpenMetrics timestamp beyond the int64 range gives `i64::MIN` (Go on amd64);
//! - after an error, `next_entry` keeps returning it.

use std::borrow::Cow;
use std::fmt;

mod content_type;
mod goutil;

pub use goutil::go_quote;
mod lex;
mod om;
mod text;

#[cfg(test)]
mod tests;

use lex::LNAME_CONT;

/// Prometheus' `value.NormalNaN`: the bits every parsed NaN is normalised to.
pub const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;

/// The exposition format, chosen from the response Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    PrometheusText,
    OpenMetrics,
}

/// `text/plain` → text, `application/openmetrics-text` → OpenMetrics (media type compared
/// case-insensitively, parameters ignored); anything else (blank, unparsable, protobuf,
/// unknown) → `None`, so the caller applies `fallback_scrape_protocol` or fails the scrape.
pub fn format_from_content_type(content_type: &str) -> Option<Format> {
    content_type::format_from_content_type(content_type)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    /// The remote write `MetricType` number (1.0 `MetricMetadata.type`, 2.0 `Metadata.type`):
    /// UNKNOWN/UNSPECIFIED=0 COUNTER=1 GAUGE=2 HISTOGRAM=3 GAUGEHISTOGRAM=4 SUMMARY=5 INFO=6
    /// STATESET=7.
    pub fn remote_write_kind(self) -> u8 {
        match self {
            MetricType::Unknown => 0,
            MetricType::Counter => 1,
            MetricType::Gauge => 2,
            MetricType::Histogram => 3,
            MetricType::GaugeHistogram => 4,
            MetricType::Summary => 5,
            MetricType::Info => 6,
            MetricType::StateSet => 7,
        }
    }

    /// The name Prometheus' metadata APIs use (`untyped` is `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// An exemplar of an OpenMetrics sample (` # {labels} value [timestamp]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar<'a> {
    /// The raw `{...}` label bytes.
    pub labels: &'a [u8],
    pub value: f64,
    /// Milliseconds; `None` when absent (the caller uses the sample's timestamp).
    pub timestamp_ms: Option<i64>,
}

/// One parsed line.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<'a> {
    Help {
        metric: &'a [u8],
        text: Cow<'a, str>,
    },
    Type {
        metric: &'a [u8],
        kind: MetricType,
    },
    Unit {
        metric: &'a [u8],
        unit: &'a [u8],
    },
    /// A sample. `series` is the raw bytes of the metric name and label set as written
    /// (the cache key); `value` has every NaN normalised to Prometheus' NormalNaN bits.
    Series {
        series: &'a [u8],
        value: f64,
        timestamp_ms: Option<i64>,
        exemplar: Option<Exemplar<'a>>,
    },
}

/// A plainly written series as [`Parser::written_pairs`] gives it.
pub struct WrittenPairs<'a, 'p> {
    /// The metric name.
    pub name: &'a [u8],
    body: &'a [u8],
    pairs: &'p [(u32, u32, u32)],
}

impl<'a> WrittenPairs<'a, '_> {
    /// Each label as written, `name="value`, with the length of its name.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a [u8], usize)> + '_ {
        let body = self.body;
        self.pairs.iter().map(move |&(start, name_end, value_end)| {
            (
                &body[start as usize..value_end as usize],
                (name_end - start) as usize,
            )
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the error.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {})", self.message, self.line)
    }
}

impl std::error::Error for ParseError {}

/// Positions of the sample last returned, for lazy label decoding.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cur {
    /// The raw series bytes `[start, end)`.
    pub(crate) series: (usize, usize),
    /// The metric name (quotes stripped for `{"name",...}`); `None` while unset.
    pub(crate) name: Option<(usize, usize)>,
    /// The `{` of the label set, if any.
    pub(crate) lbrace: Option<usize>,
    /// The exemplar's `{...}` (OpenMetrics).
    pub(crate) exemplar: Option<(usize, usize)>,
}

enum Inner<'a> {
    Text(text::TextParser<'a>),
    Om(om::OmParser<'a>),
}

enum Status {
    Running,
    Done,
    Failed(ParseError),
}

/// A pull parser over one response body.
pub struct Parser<'a> {
    body: &'a [u8],
    format: Format,
    inner: Inner<'a>,
    status: Status,
    /// Whether the last entry returned was a sample.
    on_series: bool,
}

impl<'a> Parser<'a> {
    pub fn new(body: &'a [u8], format: Format) -> Self {
        Self::with_fast_paths(body, format, true)
    }

    /// A parser that never takes the fast paths for common lines, only the general
    /// token-by-token port of Prometheus' parser. Its output is identical; the fuzz
    /// targets and tests compare the two.
    #[doc(hidden)]
    pub fn new_reference(body: &'a [u8], format: Format) -> Self {
        Self::with_fast_paths(body, format, false)
    }

    fn with_fast_paths(body: &'a [u8], format: Format, fast: bool) -> Self {
        let inner = match format {
            Format::PrometheusText => Inner::Text(text::TextParser::new(body, fast)),
            Format::OpenMetrics => Inner::Om(om::OmParser::new(body, fast)),
        };
        Parser {
            body,
            format,
            inner,
            status: Status::Running,
            on_series: false,
        }
    }

    /// The format this parser reads.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The current TYPE: the last `# TYPE` line seen anywhere so far (Prometheus' quirk:
    /// it is not reset when a new family starts). `Unknown` before any TYPE line.
    pub fn metric_type(&self) -> MetricType {
        match &self.inner {
            Inner::Text(p) => p.mtype,
            Inner::Om(p) => p.mtype,
        }
    }

    fn cur(&self) -> &Cur {
        match &self.inner {
            Inner::Text(p) => &p.cur,
            Inner::Om(p) => &p.cur,
        }
    }

    /// The next entry; `Ok(None)` at the end of a valid body. Comments are skipped. After
    /// an error every further call returns the same error; after the end, `Ok(None)`.
    #[inline]
    pub fn next_entry(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        match &self.status {
            Status::Running => {}
            Status::Done => return Ok(None),
            Status::Failed(e) => return Err(e.clone()),
        }
        let (res, pstart) = match &mut self.inner {
            Inner::Text(p) => (p.next_entry(), p.pstart),
            Inner::Om(p) => (p.next_entry(), p.pstart),
        };
        match res {
            Ok(Some(e)) => {
                self.on_series = matches!(e, Entry::Series { .. });
                Ok(Some(e))
            }
            Ok(None) => {
                self.on_series = false;
                self.status = Status::Done;
                Ok(None)
            }
            Err(message) => {
                self.on_series = false;
                let err = ParseError {
                    line: self.line_of(pstart),
                    message,
                };
                self.status = Status::Failed(err.clone());
                Err(err)
            }
        }
    }

    /// 1-based line number of byte offset `pos`.
    fn line_of(&self, pos: usize) -> usize {
        let pos = pos.min(self.body.len());
        1 + memchr::memchr_iter(b'\n', &self.body[..pos]).count()
    }

    fn error_here(&self, message: String) -> ParseError {
        ParseError {
            line: self.line_of(self.cur().series.0),
            message,
        }
    }

    /// The metric name of the series last returned by [`Parser::next_entry`] as written
    /// (quotes stripped, not unescaped); `None` when the last entry was not a sample.
    pub fn series_name(&self) -> Option<&'a [u8]> {
        if !self.on_series {
            return None;
        }
        self.cur().name.map(|(s, e)| &self.body[s..e])
    }

    /// The metric name and the label pairs of the series last returned by
    /// [`Parser::next_entry`] as written, each pair `name="value` with the length of its name,
    /// when the series is written plainly (`name` or `name{l="v",...}`, nothing escaped) and
    /// the parser read it so; `None` otherwise (OpenMetrics included). The pairs are neither
    /// sorted nor checked for duplicates.
    pub fn written_pairs(&self) -> Option<WrittenPairs<'a, '_>> {
        let Inner::Text(p) = &self.inner else {
            return None;
        };
        if !self.on_series {
            return None;
        }
        let (name_start, name_end) = p.cur.name?;
        let pairs = match p.cur.lbrace {
            None => &[][..],
            // A name inside the braces is quoted, which the fast path does not read: with
            // pairs read so, the name is before the brace.
            Some(_) if p.pairs_plain => &p.written_pairs[..],
            Some(_) => return None,
        };
        Some(WrittenPairs {
            name: &self.body[name_start..name_end],
            body: self.body,
            pairs,
        })
    }

    /// Decodes the metric name (as `__name__`) and labels of the series last returned by
    /// [`Parser::next_entry`] into `out` (cleared first), unescaped, sorted by name
    /// (duplicates kept, in order of appearance), with `le`/`quantile` normalised under
    /// the current TYPE (spec §5.2). Leaves `out` empty when the last entry was not a
    /// sample. Fails only on a quoted name that is not valid UTF-8 (Prometheus would fail
    /// the scrape on it later, as an invalid label name).
    pub fn series_labels(
        &self,
        out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
    ) -> Result<(), ParseError> {
        out.clear();
        if !self.on_series {
            return Ok(());
        }
        let cur = *self.cur();
        let b = self.body;
        let mtype = self.metric_type();
        let (ss, se) = cur.series;
        // Checked once for the whole series: if it is valid UTF-8, so is every piece cut
        // at its ASCII delimiters; without a backslash there is nothing to unescape.
        let series_str = std::str::from_utf8(&b[ss..se]).ok();
        let escapes = memchr::memchr(b'\\', &b[ss..se]).is_some();
        let piece = |s: usize, e: usize| -> Option<&'a str> {
            match series_str {
                Some(st) => st.get(s - ss..e - ss),
                None => std::str::from_utf8(&b[s..e]).ok(),
            }
        };
        let unescape = |x: &'a str| {
            if escapes {
                goutil::unescape_lval(x)
            } else {
                Cow::Borrowed(x)
            }
        };
        if let Some((s, e)) = cur.name {
            let name = piece(s, e).ok_or_else(|| {
                self.error_here(format!(
                    "invalid UTF-8 metric name: {}",
                    goutil::quote_excerpt(&b[s..e])
                ))
            })?;
            out.push((Cow::Borrowed("__name__"), unescape(name)));
        }
        if let Some(lb) = cur.lbrace {
            let mut err = None;
            scan_labels(b, lb, se, |(ns, ne), (vs, ve)| {
                if err.is_some() {
                    return;
                }
                let Some(name) = piece(ns, ne) else {
                    err = Some(format!(
                        "invalid UTF-8 label name: {}",
                        goutil::quote_excerpt(&b[ns..ne])
                    ));
                    return;
                };
                let Some(value) = piece(vs, ve) else {
                    err = Some(format!(
                        "invalid UTF-8 label value: {}",
                        goutil::quote_excerpt(&b[vs..ve])
                    ));
                    return;
                };
                let name = unescape(name);
                let mut value = unescape(value);
                let normalise = match mtype {
                    MetricType::Summary => name == "quantile",
                    MetricType::Histogram => name == "le",
                    _ => false,
                };
                if normalise && let Some(f) = goutil::go_parse_float(value.as_bytes()) {
                    value = Cow::Owned(goutil::format_openmetrics_float(f));
                }
                out.push((name, value));
            });
            if let Some(message) = err {
                out.clear();
                return Err(self.error_here(message));
            }
        }
        if !out.is_sorted_by(|x, y| x.0 <= y.0) {
            out.sort_by(|x, y| x.0.cmp(&y.0));
        }
        Ok(())
    }

    /// The labels of the exemplar of the series last returned (OpenMetrics), sorted by
    /// name, as Prometheus reads them: quoted names lose their quotes, but names and values
    /// are not unescaped. Leaves `out` empty when there is no exemplar.
    pub fn exemplar_labels(
        &self,
        out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
    ) -> Result<(), ParseError> {
        out.clear();
        if !self.on_series {
            return Ok(());
        }
        let Some((lb, end)) = self.cur().exemplar else {
            return Ok(());
        };
        let mut err = None;
        let b = self.body;
        scan_labels(b, lb, end, |(ns, ne), (vs, ve)| {
            let (n, v) = (&b[ns..ne], &b[vs..ve]);
            match (std::str::from_utf8(n), std::str::from_utf8(v)) {
                (Ok(n), Ok(v)) => out.push((Cow::Borrowed(n), Cow::Borrowed(v))),
                _ => {
                    err.get_or_insert_with(|| {
                        format!("invalid UTF-8 exemplar label: {}", goutil::quote_excerpt(n))
                    });
                }
            }
        });
        if let Some(message) = err {
            out.clear();
            return Err(self.error_here(message));
        }
        out.sort_by(|x, y| x.0.cmp(&y.0));
        Ok(())
    }
}

/// Walks the label pairs of an already validated `{...}` at `b[lbrace..end]` (`end` is
/// just past the `}`), calling `f(name, value)` with the byte ranges of the raw name and
/// value (quotes stripped). A quoted
/// metric name inside the braces is skipped. Separators are spaces, tabs, commas, and the
/// NULs the lexers skip after a value's closing quote or the whitespace after `=`.
fn scan_labels(
    b: &[u8],
    lbrace: usize,
    end: usize,
    mut f: impl FnMut((usize, usize), (usize, usize)),
) {
    let close = end.saturating_sub(1).min(b.len());
    let mut j = lbrace + 1;
    while j < close {
        match b[j] {
            b' ' | b'\t' | b',' | 0 => {
                j += 1;
                continue;
            }
            _ => {}
        }
        let (name, after) = if b[j] == b'"' {
            let k = skip_quoted(b, j, close, false);
            ((j + 1, k.saturating_sub(1).max(j + 1)), k)
        } else {
            let mut k = j;
            while k < close && LNAME_CONT[b[k] as usize] {
                k += 1;
            }
            if k == j {
                // Not a label name: cannot happen on a validated series; stop.
                return;
            }
            ((j, k), k)
        };
        j = after;
        while j < close && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        if j >= close || b[j] != b'=' {
            // `{"metric.name", ...}`
            continue;
        }
        j += 1;
        while j < close && matches!(b[j], b' ' | b'\t' | 0) {
            j += 1;
        }
        if j >= close || b[j] != b'"' {
            return;
        }
        let k = skip_quoted(b, j, close, true);
        f(name, (j + 1, k.saturating_sub(1).max(j + 1)));
        j = k;
    }
}

/// Index just past the closing quote of the quoted string at `b[j]`. In label values a
/// backslash escapes the next non-NUL byte (the lexers skip NULs there).
fn skip_quoted(b: &[u8], j: usize, limit: usize, skip_nul: bool) -> usize {
    let mut k = j + 1;
    while k < limit {
        let Some(p) = memchr::memchr2(b'"', b'\\', &b[k..limit]) else {
            return limit;
        };
        k += p;
        if b[k] == b'"' {
            return k + 1;
        }
        k += 1;
        if skip_nul {
            while k < limit && b[k] == 0 {
                k += 1;
            }
        }
        k += 1;
    }
    limit
}
