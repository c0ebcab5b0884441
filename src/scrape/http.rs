//! One scrape request: headers as Prometheus sends them, only 200 accepted, gzip decoded
//! here so `body_size_limit` bounds the decompressed bytes, the timeout covering the body.

use super::gzip::{GzipDecoder, GzipError};
use crate::config::ScrapeProtocol;
use crate::http_client::HttpClient;
use crate::pool::Pool;
use std::time::Duration;

/// The `Accept` header for `protocols` in order (spec §4.2).
pub fn accept_header(protocols: &[ScrapeProtocol], escaping: &str) -> String {
    let mut parts = Vec::with_capacity(protocols.len() + 1);
    for (i, protocol) in protocols.iter().enumerate() {
        let media = match protocol {
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited".to_string()
            }
            ScrapeProtocol::OpenMetricsText1_0_0 => {
                format!("application/openmetrics-text;version=1.0.0;escaping={escaping}")
            }
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1".to_string(),
            ScrapeProtocol::PrometheusText1_0_0 => format!("text/plain;version=1.0.0;escaping={escaping}"),
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4".to_string(),
        };
        // Weights count down from 0.6 as in Prometheus (never below 0.1).
        let weight = 6usize.saturating_sub(i).max(1);
        parts.push(format!("{media};q=0.{weight}"));
    }
    let last = 6usize.saturating_sub(protocols.len()).max(1);
    parts.push(format!("*/*;q=0.{last}"));
    parts.join(",")
}

/// Why a scrape failed before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Transport error, with its chain of causes.
    Request(String),
    Timeout,
    Status(String),
    BodyTooLarge(u64),
    Gzip(String),
}

impl FetchError {
    /// The `reason` label of the failure counter.
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::Request(_) => "request",
            FetchError::Timeout => "timeout",
            FetchError::Status(_) => "status",
            FetchError::BodyTooLarge(_) => "body_size_limit",
            FetchError::Gzip(_) => "gzip",
        }
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Request(e) => f.write_str(e),
            FetchError::Timeout => f.write_str("context deadline exceeded"),
            FetchError::Status(status) => write!(f, "server returned HTTP status {status}"),
            FetchError::BodyTooLarge(limit) => {
                write!(f, "body size limit exceeded (limit: {limit} bytes)")
            }
            FetchError::Gzip(e) => write!(f, "error decompressing gzip body: {e}"),
        }
    }
}

pub struct Fetched {
    /// From [`BODY_BUFFERS`]; give it back with [`give_back_body`] when done with it.
    pub body: Vec<u8>,
    pub content_type: String,
}

/// Response bodies are read into these. Few requests read a body at the same moment; when
/// more do (every target of a new config at once), the buffers beyond these are freed.
static BODY_BUFFERS: Pool<Vec<u8>> = Pool::new(1);

/// Inflate state (about 40 KiB each), kept like the body buffers.
static GZIP_DECODERS: Pool<GzipDecoder> = Pool::new(1);

/// A buffer this big once is not kept: one huge target must not hold memory for good.
const LARGEST_KEPT_BODY: usize = 64 << 20;

/// Returns a body's buffer for the next request.
pub fn give_back_body(mut body: Vec<u8>) {
    if body.capacity() <= LARGEST_KEPT_BODY {
        body.clear();
        BODY_BUFFERS.give_back(body);
    }
}

/// What one request needs besides the URL.
pub struct RequestSettings<'a> {
    pub accept: &'a str,
    pub timeout: Duration,
    /// `timeout` as the `X-Prometheus-Scrape-Timeout-Seconds` header ([`format_seconds`]).
    pub timeout_header: &'a str,
    pub enable_compression: bool,
    /// Bytes after decompression; 0 means no limit.
    pub body_size_limit: u64,
}

/// GETs `url` within `settings.timeout` (request and body).
pub async fn fetch(
    client: &HttpClient,
    url: &reqwest::Url,
    settings: &RequestSettings<'_>,
) -> Result<Fetched, FetchError> {
    match tokio::time::timeout(settings.timeout, fetch_inner(client, url, settings)).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout),
    }
}

async fn fetch_inner(
    client: &HttpClient,
    url: &reqwest::Url,
    settings: &RequestSettings<'_>,
) -> Result<Fetched, FetchError> {
    // A parsed URL is cloned, not parsed again (host names go through IDNA processing).
    let request = client
        .get(url.clone())
        .await
        .map_err(FetchError::Request)?
        .header(reqwest::header::ACCEPT, settings.accept)
        .header(
            reqwest::header::ACCEPT_ENCODING,
            if settings.enable_compression {
                "gzip"
            } else {
                "identity"
            },
        )
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            settings.timeout_header,
        );
    let mut response = request
        .send()
        .await
        .map_err(|e| FetchError::Request(crate::http_client::request_error(e)))?;
    if response.status() != reqwest::StatusCode::OK {
        let status = response.status();
        let text = match status.canonical_reason() {
            Some(reason) => format!("{} {reason}", status.as_u16()),
            None => status.as_u16().to_string(),
        };
        return Err(FetchError::Status(text));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let gzipped = response
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let limit = settings.body_size_limit;
    let mut body = BODY_BUFFERS.take();
    let mut gzip = gzipped.then(|| {
        let mut decoder = GZIP_DECODERS.take();
        decoder.start(limit);
        decoder
    });
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Request(crate::http_client::request_error(e)))?
    {
        match gzip.as_mut() {
            Some(decoder) => decoder.write(&chunk, &mut body).map_err(gzip_error)?,
            None => append_bounded(&mut body, &chunk, limit)?,
        }
    }
    if let Some(decoder) = gzip {
        decoder.finish().map_err(gzip_error)?;
        GZIP_DECODERS.give_back(decoder);
    }
    Ok(Fetched { body, content_type })
}

/// Appends an uncompressed chunk, failing once the body reaches `limit` (Prometheus fails
/// at `>= limit`); 0 is no limit.
fn append_bounded(body: &mut Vec<u8>, chunk: &[u8], limit: u64) -> Result<(), FetchError> {
    if limit > 0 && (body.len() + chunk.len()) as u64 >= limit {
        return Err(FetchError::BodyTooLarge(limit));
    }
    body.extend_from_slice(chunk);
    Ok(())
}

fn gzip_error(error: GzipError) -> FetchError {
    match error {
        GzipError::BodyTooLarge(limit) => FetchError::BodyTooLarge(limit),
        e => FetchError::Gzip(e.to_string()),
    }
}

/// A target's URL parsed once for all its scrapes; the error names the URL.
pub fn parse_scrape_url(url: &str) -> Result<reqwest::Url, String> {
    reqwest::Url::parse(url).map_err(|e| format!("invalid scrape URL {url:?}: {e}"))
}

/// Go's `strconv.FormatFloat(secs, 'f', -1, 64)`: `10`, `0.5`.
pub fn format_seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    let text = format!("{secs}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_accept_header_is_prometheus_exactly() {
        let protocols = ScrapeProtocol::defaults(false);
        assert_eq!(
            accept_header(&protocols, "allow-utf-8"),
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
        let native = accept_header(&ScrapeProtocol::defaults(true), "underscores");
        assert!(native.starts_with(
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5"
        ));
        assert!(
            native.ends_with("text/plain;version=0.0.4;q=0.2,*/*;q=0.1"),
            "{native}"
        );
        assert_eq!(
            accept_header(&[ScrapeProtocol::PrometheusText0_0_4], "x"),
            "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
        );
    }

    #[test]
    fn an_unparsable_scrape_url_is_named_in_the_error() {
        let url = parse_scrape_url("http://10.0.0.1:8080/metrics?a=b").unwrap();
        assert_eq!(url.as_str(), "http://10.0.0.1:8080/metrics?a=b");
        let error = parse_scrape_url("http://10.0.0.1:99999/metrics").unwrap_err();
        assert!(
            error.starts_with("invalid scrape URL \"http://10.0.0.1:99999/metrics\": "),
            "{error}"
        );
    }

    #[test]
    fn timeout_header_like_go() {
        assert_eq!(format_seconds(Duration::from_secs(10)), "10");
        assert_eq!(format_seconds(Duration::from_millis(500)), "0.5");
        assert_eq!(format_seconds(Duration::from_millis(1250)), "1.25");
    }

    #[test]
    fn the_limit_fails_an_uncompressed_body_of_exactly_its_size() {
        let mut body = Vec::new();
        assert_eq!(append_bounded(&mut body, b"123456789", 10), Ok(()));
        assert_eq!(
            append_bounded(&mut body, b"0", 10),
            Err(FetchError::BodyTooLarge(10))
        );
        assert_eq!(body, b"123456789");
        let mut unlimited = Vec::new();
        assert_eq!(append_bounded(&mut unlimited, &[0u8; 100_000], 0), Ok(()));
    }
}
