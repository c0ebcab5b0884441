//! Remote write 1.0 request encoding, by hand (P: `prompb/remote.proto`, `prompb/types.proto`).
//!
//! ```text
//! WriteRequest{ repeated TimeSeries timeseries = 1; }
//! TimeSeries{ repeated Label labels = 1; repeated Sample samples = 2; }
//! Label{ string name = 1; string value = 2; }
//! Sample{ double value = 1; int64 timestamp = 2; }
//! ```
//!
//! A series' labels are encoded once, when the series is declared, as the bytes of the
//! `TimeSeries.labels` fields (tag, length, `Label` body for each label). A request is then
//! written straight into a reused buffer: per sample one `TimeSeries` entry made of those bytes
//! and one `Sample`, as Prometheus sends it. Fields holding their proto3 default (a value of
//! ±0, a timestamp of 0, an empty string) are left out, as every protobuf encoder does, so the
//! output is byte-identical to prost's and gogo-protobuf's.
//!
//! The request is compressed with the snappy *block* format by one reused encoder.

use super::SeriesRef;
use crate::labels::Labels;
use std::sync::Arc;

/// Wire type 2 (length-delimited) tag of field 1.
pub(crate) const TAG_1_LEN: u8 = 0x0a;
/// Wire type 2 tag of field 2.
pub(crate) const TAG_2_LEN: u8 = 0x12;
/// `Sample.value`: field 1, wire type 1 (64-bit).
const TAG_SAMPLE_VALUE: u8 = 0x09;
/// `Sample.timestamp`: field 2, wire type 0 (varint).
const TAG_SAMPLE_TIMESTAMP: u8 = 0x10;

/// Bytes taken by `v` as a protobuf varint.
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits; 0 takes 1 byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a varint at the start of `buf`: its value and length.
pub(crate) fn get_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Length of a string field (tag, length, bytes), or 0 when the string is empty.
fn string_field_len(s: &[u8]) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + varint_len(s.len() as u64) + s.len()
    }
}

fn put_string_field(buf: &mut Vec<u8>, tag: u8, s: &[u8]) {
    if !s.is_empty() {
        buf.push(tag);
        put_varint(buf, s.len() as u64);
        buf.extend_from_slice(s);
    }
}

/// Encodes labels as the `TimeSeries.labels` fields. Labels with an empty value are left out
/// (they are absent in Prometheus' model); `Labels` is already sorted bytewise by name with
/// unique names.
pub fn encode_labels(labels: &Labels) -> Arc<[u8]> {
    let mut len = 0;
    for (name, value) in labels.iter() {
        if value.is_empty() {
            continue;
        }
        let body = string_field_len(name.as_bytes()) + string_field_len(value.as_bytes());
        len += 1 + varint_len(body as u64) + body;
    }
    let mut buf = Vec::with_capacity(len);
    for (name, value) in labels.iter() {
        if value.is_empty() {
            continue;
        }
        let body = string_field_len(name.as_bytes()) + string_field_len(value.as_bytes());
        buf.push(TAG_1_LEN);
        put_varint(&mut buf, body as u64);
        put_string_field(&mut buf, TAG_1_LEN, name.as_bytes());
        put_string_field(&mut buf, TAG_2_LEN, value.as_bytes());
    }
    debug_assert_eq!(buf.len(), len);
    Arc::from(buf)
}

/// The inverse of [`encode_labels`], for rebuilding a series' labels on a config reload.
pub(crate) fn decode_labels(mut buf: &[u8]) -> Option<Labels> {
    let mut pairs = Vec::new();
    while !buf.is_empty() {
        let (body, rest) = length_delimited(buf, TAG_1_LEN)?;
        buf = rest;
        let mut body = body;
        let (mut name, mut value) = ("", "");
        while !body.is_empty() {
            let tag = body[0];
            let (s, rest) = length_delimited(body, tag)?;
            body = rest;
            let s = std::str::from_utf8(s).ok()?;
            match tag {
                TAG_1_LEN => name = s,
                TAG_2_LEN => value = s,
                _ => return None,
            }
        }
        pairs.push((name.to_string(), value.to_string()));
    }
    Some(Labels::from_pairs(pairs))
}

/// Splits `tag, varint length, body` off the start of `buf`.
pub(crate) fn length_delimited(buf: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if buf.first() != Some(&tag) {
        return None;
    }
    let (len, n) = get_varint(&buf[1..])?;
    let start = 1 + n;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    if end > buf.len() {
        return None;
    }
    Some((&buf[start..end], &buf[end..]))
}

/// One queued sample: its series' encoded labels (shared with the series table) and value.
#[derive(Clone, Debug)]
pub struct Entry {
    pub series: SeriesRef,
    pub labels: Arc<[u8]>,
    /// The series' family metadata, for remote write 2.0 endpoints only.
    pub metadata: Option<Arc<super::metadata::MetricMetadata>>,
    pub timestamp_ms: i64,
    pub value_bits: u64,
}

impl Entry {
    /// Length of the `Sample` body for this entry.
    pub(crate) fn sample_len(&self) -> usize {
        let value = if f64::from_bits(self.value_bits) != 0.0 {
            9
        } else {
            0
        };
        let ts = if self.timestamp_ms != 0 {
            1 + varint_len(self.timestamp_ms as u64)
        } else {
            0
        };
        value + ts
    }
}

/// Appends one `WriteRequest.timeseries` entry holding `entry` to `buf`.
pub(crate) fn put_timeseries(buf: &mut Vec<u8>, entry: &Entry) {
    let sample_len = entry.sample_len();
    let body = entry.labels.len() + 1 + varint_len(sample_len as u64) + sample_len;
    buf.reserve(1 + varint_len(body as u64) + body);
    buf.push(TAG_1_LEN);
    put_varint(buf, body as u64);
    buf.extend_from_slice(&entry.labels);
    buf.push(TAG_2_LEN);
    put_varint(buf, sample_len as u64);
    put_sample(buf, entry);
}

/// Appends the body of `entry`'s `Sample` (the same message in remote write 1.0 and 2.0;
/// 2.0's `start_timestamp = 3` is left unset).
pub(crate) fn put_sample(buf: &mut Vec<u8>, entry: &Entry) {
    // -0.0 compares equal to 0.0 and is left out like +0.0, as gogo-protobuf and prost do.
    if f64::from_bits(entry.value_bits) != 0.0 {
        buf.push(TAG_SAMPLE_VALUE);
        buf.extend_from_slice(&entry.value_bits.to_le_bytes());
    }
    if entry.timestamp_ms != 0 {
        buf.push(TAG_SAMPLE_TIMESTAMP);
        put_varint(buf, entry.timestamp_ms as u64);
    }
}

/// Encodes and compresses requests into buffers reused from one request to the next.
pub struct RequestEncoder {
    proto: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Default for RequestEncoder {
    fn default() -> Self {
        RequestEncoder {
            proto: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }
}

impl RequestEncoder {
    /// The uncompressed `WriteRequest` for `entries`.
    pub fn encode<'a>(&mut self, entries: impl IntoIterator<Item = &'a Entry>) -> &[u8] {
        self.proto.clear();
        for entry in entries {
            put_timeseries(&mut self.proto, entry);
        }
        &self.proto
    }

    /// The snappy-compressed (block format) `WriteRequest` for `entries`.
    pub fn encode_compressed<'a>(
        &mut self,
        entries: impl IntoIterator<Item = &'a Entry>,
    ) -> Result<&[u8], snap::Error> {
        self.encode(entries);
        let max = snap::raw::max_compress_len(self.proto.len());
        if self.compressed.len() < max {
            self.compressed.resize(max, 0);
        }
        let n = self.snappy.compress(&self.proto, &mut self.compressed)?;
        Ok(&self.compressed[..n])
    }
}
