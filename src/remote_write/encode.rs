//! Remote write 1.0 request encoding, by hand (P: `prompb/remote.proto`, `prompb/types.proto`).
//!
//! ```text
//! WriteRequest{ repeated TimeSeries timeseries = 1; }
//! TimeSeries{ repeated Label labels = 1; repeated Sample samples = 2; }
//! Label{ string name = 1; string value = 2; }
//! Sample{ double value = 1; int64 timestamp = 2; }
//! ```
//!
//! Samples carry their series' labels already encoded as the bytes of the
//! `TimeSeries.labels` fields (tag, length, `Label` body for each label). A request is then
//! written straight into a reused buffer: per sample one `TimeSeries` entry made of those bytes
//! and one `Sample`, as Prometheus sends it. Fields holding their proto3 default (a value of
//! ±0, a timestamp of 0, an empty string) are left out, as every protobuf encoder does, so the
//! output is byte-identical to prost's and gogo-protobuf's.
//!
//! The request is compressed with the snappy *block* format by one reused encoder.

use super::Sample;
use crate::labels::Labels;
use bytes::{BufMut, Bytes, BytesMut};

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

pub fn put_varint(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Reads a varint at the start of `buf`: its value and length.
pub fn get_varint(buf: &[u8]) -> Option<(u64, usize)> {
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

fn put_string_field(buf: &mut impl BufMut, tag: u8, s: &[u8]) {
    if !s.is_empty() {
        buf.put_u8(tag);
        put_varint(buf, s.len() as u64);
        buf.put_slice(s);
    }
}

/// Appends one `TimeSeries.labels` field (tag, length, `Label{name, value}`) to `buf`; an
/// empty value writes nothing (such a label is absent in Prometheus' model).
pub fn put_label(buf: &mut impl BufMut, name: &[u8], value: &[u8]) {
    if value.is_empty() {
        return;
    }
    if let Some(head) = short_label_head(name.len(), value.len()) {
        buf.put_slice(&head);
        buf.put_slice(name);
        buf.put_slice(&[TAG_2_LEN, value.len() as u8]);
        buf.put_slice(value);
        return;
    }
    let body = string_field_len(name) + string_field_len(value);
    buf.put_u8(TAG_1_LEN);
    put_varint(buf, body as u64);
    put_string_field(buf, TAG_1_LEN, name);
    put_string_field(buf, TAG_2_LEN, value);
}

/// The label field's tag and length and the name's tag and length, for a label short enough
/// that every length takes one varint byte (most do: they are written at once); `None` for
/// the others, and for an empty name or value (encoded otherwise).
fn short_label_head(name_len: usize, value_len: usize) -> Option<[u8; 4]> {
    let body = name_len + value_len + 4;
    (name_len > 0 && value_len > 0 && body < 128).then_some([
        TAG_1_LEN,
        body as u8,
        TAG_1_LEN,
        name_len as u8,
    ])
}

/// [`put_label`] of a label as a text line writes it, `name="value` (the name `name_len`
/// bytes long, nothing escaped): a short one is copied in one piece, its `="` turned into the
/// value's tag and length, which take two bytes as well.
pub fn put_written_label(buf: &mut BytesMut, written: &[u8], name_len: usize) {
    let value_len = written.len() - name_len - 2;
    let Some(head) = short_label_head(name_len, value_len) else {
        put_label(buf, &written[..name_len], &written[name_len + 2..]);
        return;
    };
    buf.extend_from_slice(&head);
    let at = buf.len() + name_len;
    buf.extend_from_slice(written);
    buf[at] = TAG_2_LEN;
    buf[at + 1] = value_len as u8;
}

/// Encodes labels as the `TimeSeries.labels` fields. Labels with an empty value are left out;
/// `Labels` is already sorted bytewise by name with unique names.
pub fn encode_labels(labels: &Labels) -> Bytes {
    let mut buf = Vec::new();
    for (name, value) in labels.iter() {
        put_label(&mut buf, name.as_bytes(), value.as_bytes());
    }
    Bytes::from(buf)
}

/// `encoded` labels with each of `external` (sorted by name, no empty value) added where the
/// name is missing (spec §6.1), written into `arena`; `None` when every name is there already.
pub fn add_missing_labels(
    encoded: &[u8],
    external: &[(String, String)],
    arena: &mut BytesMut,
) -> Option<Bytes> {
    let missing =
        |name: &str| !super::encode_v2::LabelPairs::new(encoded).any(|(n, _)| n == name.as_bytes());
    if !external.iter().any(|(name, _)| missing(name)) {
        return None;
    }
    let mut rest = encoded;
    let mut external = external.iter().peekable();
    while !rest.is_empty() {
        let Some((field, after)) = label_field(rest) else {
            break;
        };
        let name = super::encode_v2::LabelPairs::new(field)
            .next()
            .map_or(&[][..], |(n, _)| n);
        while let Some((ext_name, ext_value)) = external.peek() {
            match ext_name.as_bytes().cmp(name) {
                std::cmp::Ordering::Less => {
                    put_label(arena, ext_name.as_bytes(), ext_value.as_bytes());
                    external.next();
                }
                std::cmp::Ordering::Equal => {
                    external.next();
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        arena.extend_from_slice(field);
        rest = after;
    }
    for (name, value) in external {
        put_label(arena, name.as_bytes(), value.as_bytes());
    }
    Some(arena.split().freeze())
}

/// The first whole `TimeSeries.labels` field of `buf` (tag and length included) and the rest.
fn label_field(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (body, rest) = length_delimited(buf, TAG_1_LEN)?;
    let len = buf.len() - rest.len();
    debug_assert!(body.len() < len);
    Some(buf.split_at(len))
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

impl Sample {
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
pub(crate) fn put_timeseries(buf: &mut Vec<u8>, entry: &Sample) {
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
pub(crate) fn put_sample(buf: &mut Vec<u8>, entry: &Sample) {
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
    pub fn encode<'a>(&mut self, entries: impl IntoIterator<Item = &'a Sample>) -> &[u8] {
        self.proto.clear();
        for entry in entries {
            put_timeseries(&mut self.proto, entry);
        }
        &self.proto
    }

    /// The snappy-compressed (block format) `WriteRequest` for `entries`.
    pub fn encode_compressed<'a>(
        &mut self,
        entries: impl IntoIterator<Item = &'a Sample>,
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
