//! Remote write 1.0 metadata requests (spec §6.5): every `send_interval`, the deduplicated
//! `{family, type, help, unit}` of every active target, in metadata-only `WriteRequest`s
//! (field 3) of at most `max_samples_per_send` entries, with the same retry rules as samples.

use super::encode::{put_varint, varint_len};
use super::queue::QueueManager;
use super::send::Outcome;
use std::sync::{Arc, Weak};

/// One family's metadata; `kind` is `prompb.MetricMetadata.MetricType`
/// (UNKNOWN=0 COUNTER=1 GAUGE=2 HISTOGRAM=3 GAUGEHISTOGRAM=4 SUMMARY=5 INFO=6 STATESET=7).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricMetadata {
    pub family: String,
    pub kind: u8,
    pub help: String,
    pub unit: String,
}

/// Where metadata comes from (the scrape loops); called once per `send_interval`.
pub type MetadataSource = Arc<dyn Fn() -> Vec<MetricMetadata> + Send + Sync>;

fn put_string(buf: &mut Vec<u8>, tag: u8, value: &str) {
    if value.is_empty() {
        return;
    }
    buf.push(tag);
    put_varint(buf, value.len() as u64);
    buf.extend_from_slice(value.as_bytes());
}

/// `WriteRequest{metadata: [...]}` (field 3), proto3 defaults left out as prost does.
pub fn encode_metadata_request(items: &[MetricMetadata]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    for item in items {
        body.clear();
        if item.kind != 0 {
            body.push(0x08);
            put_varint(&mut body, u64::from(item.kind));
        }
        put_string(&mut body, 0x12, &item.family);
        put_string(&mut body, 0x22, &item.help);
        put_string(&mut body, 0x2a, &item.unit);
        out.reserve(1 + varint_len(body.len() as u64) + body.len());
        out.push(0x1a);
        put_varint(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
    }
    out
}

/// Sends metadata while the queue lives.
pub(crate) async fn run(
    queue: Weak<QueueManager>,
    source: MetadataSource,
    interval: std::time::Duration,
    per_request: usize,
) {
    let mut ticker = tokio::time::interval(interval.max(std::time::Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if queue.upgrade().is_none() {
            return;
        }
        let mut items = source();
        items.sort();
        items.dedup();
        for chunk in items.chunks(per_request.max(1)) {
            let raw = encode_metadata_request(chunk);
            let Ok(compressed) = snap::raw::Encoder::new().compress_vec(&raw) else {
                continue;
            };
            if !send(&queue, bytes::Bytes::from(compressed)).await {
                return;
            }
        }
    }
}

/// One request with retries; false once the queue is gone.
async fn send(queue: &Weak<QueueManager>, body: bytes::Bytes) -> bool {
    let mut attempt = 0u32;
    let mut backoff = None;
    loop {
        let Some(manager) = queue.upgrade() else {
            return false;
        };
        let core = manager.core();
        let min = core.params.min_backoff;
        let max = core.params.max_backoff;
        let outcome = core.sender.attempt(body.clone(), attempt).await;
        match outcome {
            Outcome::Sent { .. } => return true,
            Outcome::Failed { error, .. } => {
                tracing::error!(remote_name = %core.name, url = %core.url, %error, "metadata request failed for good");
                return true;
            }
            Outcome::Retry { retry_after, error } => {
                let sleep = retry_after.unwrap_or(*backoff.get_or_insert(min));
                tracing::warn!(remote_name = %core.name, url = %core.url, %error, retry_in = ?sleep, "metadata request failed, retrying");
                drop(manager);
                tokio::time::sleep(sleep).await;
                backoff = Some((sleep * 2).min(max));
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, PartialEq, prost::Message)]
    struct WriteRequest {
        #[prost(message, repeated, tag = "3")]
        metadata: Vec<Meta>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Meta {
        #[prost(int32, tag = "1")]
        kind: i32,
        #[prost(string, tag = "2")]
        family: String,
        #[prost(string, tag = "4")]
        help: String,
        #[prost(string, tag = "5")]
        unit: String,
    }

    #[test]
    fn metadata_request_matches_prost() {
        let items = vec![
            MetricMetadata {
                family: "http_requests".into(),
                kind: 1,
                help: "Requests.".into(),
                unit: String::new(),
            },
            MetricMetadata {
                family: "temp_celsius".into(),
                kind: 2,
                help: "é ünïcode".into(),
                unit: "celsius".into(),
            },
            MetricMetadata {
                family: "untyped".into(),
                kind: 0,
                help: String::new(),
                unit: String::new(),
            },
        ];
        let expected = WriteRequest {
            metadata: items
                .iter()
                .map(|m| Meta {
                    kind: i32::from(m.kind),
                    family: m.family.clone(),
                    help: m.help.clone(),
                    unit: m.unit.clone(),
                })
                .collect(),
        };
        assert_eq!(
            encode_metadata_request(&items),
            prost::Message::encode_to_vec(&expected)
        );
    }
}
