//! `http_sd_configs` (P: `discovery/http/http.go`): target groups fetched from a URL every
//! `refresh_interval`.
//!
//! The request carries `X-Prometheus-Refresh-Interval-Seconds`; the response must be status 200
//! with `Content-Type: application/json` (optionally `; charset=utf-8`) and hold
//! `[{targets, labels}]`. Each group gets `__meta_url` and the source `<url>:<index>`. A failed
//! refresh keeps the last good groups, is logged and counted.

use super::metrics::SdMetrics;
use super::{GroupSender, TargetGroup, UpdateSender, parse};
use crate::http_client::{self, HttpClient};
use crate::sd::HttpSdConfig;
use regex::Regex;
use std::sync::{Arc, LazyLock};

/// The label naming the URL a group was fetched from.
pub const URL_LABEL: &str = "__meta_url";

/// The User-Agent of discovery requests.
pub const USER_AGENT: &str = concat!("promshard/", env!("CARGO_PKG_VERSION"));

static CONTENT_TYPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^(?i:application/json(;[\t\n\x0C\r ]*charset=("utf-8"|utf-8))?)$"#).unwrap()
});

/// Whether a `Content-Type` is one HTTP discovery accepts.
pub fn is_json_content_type(value: &str) -> bool {
    CONTENT_TYPE.is_match(value.trim())
}

/// `refresh_interval` as Go's `strconv.FormatFloat(seconds, 'f', -1, 64)` writes it.
pub fn format_seconds(d: std::time::Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// HTTP discovery for one `http_sd_configs` entry.
pub struct HttpProvider {
    config: HttpSdConfig,
    client: HttpClient,
    metrics: Arc<SdMetrics>,
}

impl HttpProvider {
    /// Builds the provider and its HTTP client; fails if the client config cannot be used
    /// (e.g. an unreadable CA file) or the refresh interval is zero.
    pub fn new(config: HttpSdConfig, metrics: Arc<SdMetrics>) -> Result<Self, String> {
        if config.refresh_interval.is_zero() {
            return Err("http_sd refresh_interval must be greater than zero".into());
        }
        let client = http_client::build(&config.http_client, USER_AGENT)?;
        Ok(HttpProvider {
            config,
            client,
            metrics,
        })
    }

    /// Fetches the groups once.
    pub async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        let result = self.fetch().await;
        if result.is_err() {
            SdMetrics::inc(&self.metrics.http_failures);
        }
        result
    }

    async fn fetch(&self) -> Result<Vec<TargetGroup>, String> {
        let url = self.config.url.as_str();
        let interval = self.config.refresh_interval.0;
        let response = self
            .client
            .get(url)
            .await?
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                "X-Prometheus-Refresh-Interval-Seconds",
                format_seconds(interval),
            )
            .timeout(interval)
            .send()
            .await
            .map_err(http_client::request_error)?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!("server returned HTTP status {status}"));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !is_json_content_type(&content_type) {
            return Err(format!("unsupported content type {content_type:?}"));
        }
        let body = response.bytes().await.map_err(http_client::request_error)?;
        let mut groups = parse::parse_json(&body, |i| format!("{url}:{i}"))?;
        for group in &mut groups {
            group.labels.set(URL_LABEL, url);
        }
        Ok(groups)
    }

    /// Runs until the receiver of `tx` is gone: a refresh now and every `refresh_interval`.
    /// Failures keep the last good groups.
    pub async fn run(self, tx: GroupSender) {
        let mut sender = UpdateSender::new(tx);
        let mut ticker = super::refresh_ticker(self.config.refresh_interval.0);
        loop {
            match self.refresh().await {
                Ok(groups) => {
                    if !sender.send(groups).await {
                        return;
                    }
                }
                Err(err) => {
                    SdMetrics::inc(&self.metrics.http_refresh_failures);
                    let url = http_client::redact_url(&self.config.url);
                    tracing::error!(%url, %err, "Unable to refresh target groups");
                }
            }
            ticker.tick().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        for ok in [
            "application/json",
            "Application/JSON",
            " application/json ",
            "application/json; charset=utf-8",
            "application/json;charset=\"utf-8\"",
            "application/json; CHARSET=UTF-8",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/json; charset=latin1",
            "application/jsonx",
            "application/json;",
            "application/json; charset=utf-8; x=y",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn seconds() {
        assert_eq!(format_seconds(std::time::Duration::from_secs(60)), "60");
        assert_eq!(
            format_seconds(std::time::Duration::from_millis(1500)),
            "1.5"
        );
        assert_eq!(format_seconds(std::time::Duration::from_millis(50)), "0.05");
    }
}
