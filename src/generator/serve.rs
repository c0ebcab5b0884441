//! One target over HTTP: `/metrics` renders a body per request (gzip when accepted),
//! after `delay`, failing a deterministic `error_rate` of requests; `/` says what it is.

use super::Generator;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Target {
    generator: Arc<Generator>,
    /// `/metrics` requests so far: the error draw's input, so failures are reproducible.
    requests: AtomicU64,
}

/// The routes of one target, for mounting in another server.
pub fn router(generator: Arc<Generator>) -> Router {
    let target = Arc::new(Target {
        generator,
        requests: AtomicU64::new(0),
    });
    Router::new()
        .route("/", get(describe))
        .route("/metrics", get(metrics))
        .with_state(target)
}

/// Serves one target on `listener` until the process ends (or the task is dropped).
pub async fn serve(
    listener: tokio::net::TcpListener,
    generator: Arc<Generator>,
) -> std::io::Result<()> {
    axum::serve(listener, router(generator)).await
}

/// [`serve`] until `shutdown` completes, then finishes the requests in flight.
pub async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    generator: Arc<Generator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(generator))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn describe(State(target): State<Arc<Target>>) -> String {
    let generator = &target.generator;
    format!(
        "promshard gen: target {}, {} series of shape {} at /metrics\n",
        generator.target(),
        generator.series_count(),
        generator.options().shape
    )
}

async fn metrics(State(target): State<Arc<Target>>, headers: HeaderMap) -> Response {
    let request = target.requests.fetch_add(1, Ordering::Relaxed);
    let generator = target.generator.clone();
    let delay = generator.options().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if generator.should_fail(request) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("generated error for request {request} (--error-rate)\n"),
        )
            .into_response();
    }
    let gzip = accepts_gzip(&headers);
    // A body is megabytes of formatting (and compressing): off the async workers, which
    // the demo shares with the scraper.
    let rendered = tokio::task::spawn_blocking(move || {
        let mut body = Vec::with_capacity(generator.body_size_hint());
        generator.render(SystemTime::now(), &mut body);
        if gzip { compress(&body) } else { Ok(body) }
    })
    .await;
    let body = match rendered {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return server_error(format!("cannot compress the body: {e}")),
        Err(e) => return server_error(format!("rendering failed: {e}")),
    };
    let mut response = body.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    response_headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn server_error(message: String) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, message + "\n").into_response()
}

/// Level 1: a scraper sends `Accept-Encoding: gzip` on every scrape, and on a shared machine
/// the generator's CPU should stay small next to the scraper's being measured.
fn compress(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    encoder.write_all(body)?;
    encoder.finish()
}

/// Whether any `Accept-Encoding` header lists `gzip` (or `*`) with a non-zero q-value.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|param| {
                param
                    .trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn with(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(&with(&["gzip"])));
        assert!(accepts_gzip(&with(&["identity, GZip;q=0.5"])));
        assert!(accepts_gzip(&with(&["br", "gzip"])));
        assert!(accepts_gzip(&with(&["*"])));
        assert!(!accepts_gzip(&with(&[])));
        assert!(!accepts_gzip(&with(&["identity"])));
        assert!(!accepts_gzip(&with(&["gzip;q=0"])));
        assert!(!accepts_gzip(&with(&["x-gzip2, deflate"])));
    }
}
