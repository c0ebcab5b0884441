//! Zero-copy parsers for the Prometheus text format (0.0.4, 1.0.0) and OpenMetrics 1.0
//! (P: `model/textparse/`). Interface fixed here; bodies come with the parser work.

use std::borrow::Cow;
use std::fmt;

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
    let _ = content_type;
    todo!("parser")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A pull parser over one response body.
pub struct Parser<'a> {
    body: &'a [u8],
    format: Format,
}

impl<'a> Parser<'a> {
    pub fn new(body: &'a [u8], format: Format) -> Self {
        Parser { body, format }
    }

    /// The next entry; `Ok(None)` at the end of a valid body.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        let _ = (self.body, self.format);
        todo!("parser")
    }

    /// Decodes the metric name (as `__name__`) and labels of the series last returned by
    /// [`Parser::next_entry`] into `out`, unescaped, sorted by name (duplicates kept), with
    /// `le`/`quantile` normalised under the current TYPE (spec §5.2).
    pub fn series_labels(
        &self,
        out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
    ) -> Result<(), ParseError> {
        let _ = out;
        todo!("parser")
    }
}
