//! One HTTP attempt of a remote write request and its classification
//! (P: `storage/remote/client.go` `Store`, `retryAfterDuration`).

use crate::config::RemoteWriteConfig;
use crate::config::remote_write::ProtobufMessage;
use crate::http_client::{self, HttpClient};
use bytes::Bytes;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, SystemTime};

/// Sent as `User-Agent` with every request.
pub const USER_AGENT: &str = concat!("promshard/", env!("CARGO_PKG_VERSION"));
/// Up to this many bytes of an error response's body are logged (P: `maxErrMsgLen`).
pub const MAX_ERROR_BODY: usize = 1024;

/// `Content-Type` of a remote write 2.0 request.
pub const CONTENT_TYPE_V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// What a 2xx response says was written (remote write 2.0 `X-Prometheus-Remote-Write-*-Written`
/// headers; P: `storage/remote/stats.go`). A missing or unreadable header counts as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    pub samples: u64,
    pub histograms: u64,
    pub exemplars: u64,
    /// At least one of the headers was there.
    pub confirmed: bool,
}

impl Written {
    pub fn from_headers(headers: &HeaderMap) -> Written {
        let mut written = Written::default();
        for (name, count) in [
            (
                "X-Prometheus-Remote-Write-Samples-Written",
                &mut written.samples,
            ),
            (
                "X-Prometheus-Remote-Write-Histograms-Written",
                &mut written.histograms,
            ),
            (
                "X-Prometheus-Remote-Write-Exemplars-Written",
                &mut written.exemplars,
            ),
        ] {
            if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok())
                && !value.is_empty()
            {
                written.confirmed = true;
                *count = value.trim().parse().unwrap_or(0);
            }
        }
        written
    }

    /// Nothing written, by the headers (also when they are missing).
    pub fn nothing(&self) -> bool {
        self.samples == 0 && self.histograms == 0 && self.exemplars == 0
    }
}

/// What one attempt came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// 2xx, with the status and what the response headers say was written.
    Sent { status: u16, written: Written },
    /// Worth retrying with the same payload: 5xx, 429 when allowed, transport errors and
    /// timeouts. `retry_after` is the server's `Retry-After`, when it gave a positive one.
    Retry {
        retry_after: Option<Duration>,
        error: String,
    },
    /// Final: the batch is dropped and counted under `status` (none when no response).
    Failed { status: Option<u16>, error: String },
}

/// The HTTP side of one endpoint.
pub(crate) struct Sender {
    client: HttpClient,
    url: String,
    headers: HeaderMap,
    timeout: Option<Duration>,
    retry_on_429: bool,
    message: ProtobufMessage,
}

impl Sender {
    pub fn new(config: &RemoteWriteConfig) -> Result<Sender, String> {
        let client = http_client::build(&config.http_client, USER_AGENT)?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid remote write header name {name:?}"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("invalid value for remote write header {name:?}"))?;
            headers.insert(name, value);
        }
        let timeout = config.remote_timeout.0;
        Ok(Sender {
            client,
            url: config.url.clone(),
            headers,
            timeout: (!timeout.is_zero()).then_some(timeout),
            retry_on_429: config.queue_config.retry_on_http_429,
            message: config.protobuf_message,
        })
    }

    /// The protobuf message this endpoint sends.
    pub fn message(&self) -> ProtobufMessage {
        self.message
    }

    /// Sends `body` (a snappy-compressed `WriteRequest`, or 2.0 `Request`) once; `attempt` is
    /// 0 for the first try.
    pub async fn attempt(&self, body: Bytes, attempt: u32) -> Outcome {
        let request = match self.client.post(&self.url).await {
            Ok(request) => request,
            // Secret files that cannot be read, OAuth2 token errors: may heal, like a network
            // error, so they are retried.
            Err(error) => {
                return Outcome::Retry {
                    retry_after: None,
                    error,
                };
            }
        };
        let (content_type, version) = match self.message {
            ProtobufMessage::V1 => ("application/x-protobuf", "0.1.0"),
            ProtobufMessage::V2 => (CONTENT_TYPE_V2, "2.0.0"),
        };
        let mut request = request
            .headers(self.headers.clone())
            .header(CONTENT_ENCODING, "snappy")
            .header(CONTENT_TYPE, content_type)
            .header(reqwest::header::USER_AGENT, USER_AGENT)
            .header("X-Prometheus-Remote-Write-Version", version)
            .body(body);
        if attempt > 0 {
            request = request.header("Retry-Attempt", attempt.to_string());
        }
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Outcome::Retry {
                    retry_after: None,
                    error: error_chain(&e),
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Sent {
                status: status.as_u16(),
                written: Written::from_headers(response.headers()),
            };
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(MAX_ERROR_BODY);
        let error = format!(
            "server returned HTTP status {status}: {}",
            String::from_utf8_lossy(&body)
        );
        if status.is_server_error()
            || (self.retry_on_429 && status == reqwest::StatusCode::TOO_MANY_REQUESTS)
        {
            Outcome::Retry { retry_after, error }
        } else {
            Outcome::Failed {
                status: Some(status.as_u16()),
                error,
            }
        }
    }
}

/// The error and its sources, joined with `: `.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A `Retry-After` value as a wait: whole seconds, or an HTTP date. Only a positive wait counts;
/// zero, a past date, a negative or unreadable value mean "use the backoff"
/// (P: `retryAfterDuration`, which truncates to whole seconds).
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(date) = httpdate::parse_http_date(value) {
        let secs = date.duration_since(now).ok()?.as_secs();
        return (secs > 0).then(|| Duration::from_secs(secs));
    }
    let secs: i64 = value.parse().ok()?;
    (secs > 0).then(|| Duration::from_secs(secs as u64))
}
