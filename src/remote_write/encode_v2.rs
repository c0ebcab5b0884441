//! Remote write 2.0 request encoding, by hand (spec §6.6; P:
//! `prompb/io/prometheus/write/v2/types.proto`).
//!
//! ```text
//! Request{ reserved 1 to 3; repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
//! TimeSeries{ repeated uint32 labels_refs = 1 (packed); repeated Sample samples = 2;
//!             histograms = 3; exemplars = 4; Metadata metadata = 5; }
//! Sample{ double value = 1; int64 timestamp = 2; int64 start_timestamp = 3; }
//! ```
//!
//! One request per batch, with its own symbol table: `symbols[0]` is `""`, then every label
//! name and value in order of first use. A series' `labels_refs` are (name, value) index
//! pairs in the order of its labels, which are already sorted bytewise by name. As in 1.0 each
//! queued sample becomes one `TimeSeries` entry with one `Sample`.
//!
//! Labels come from the same encoded 1.0 `Label` bytes as the 1.0 encoder ([`LabelPairs`]
//! walks them without allocating). Each series' refs are computed once per request (keyed by
//! its shared label bytes) and every buffer, map and table is reused from one request to the
//! next, so a steady-state request allocates nothing.
//!
//! `TimeSeries.metadata` (5) carries the series' family metadata (type, help and unit as
//! symbol refs) when the target exposed any; a series without is left without the field,
//! which receivers read as `METRIC_TYPE_UNSPECIFIED` (gogo-protobuf would write an empty
//! message). Not yet: histograms, exemplars and `Sample.start_timestamp`. Fields at their
//! proto3 default are left out, so the output is byte-identical to prost's.

use super::Sample;
use super::encode::{TAG_1_LEN, TAG_2_LEN, length_delimited, put_sample, put_varint, varint_len};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// `Request.symbols`: field 4, wire type 2.
const TAG_SYMBOLS: u8 = 0x22;
/// `Request.timeseries`: field 5, wire type 2.
const TAG_TIMESERIES: u8 = 0x2a;
/// `TimeSeries.labels_refs` (packed): field 1, wire type 2.
const TAG_LABELS_REFS: u8 = TAG_1_LEN;
/// `TimeSeries.samples`: field 2, wire type 2.
const TAG_SAMPLES: u8 = TAG_2_LEN;
/// `TimeSeries.metadata`: field 5, wire type 2.
const TAG_METADATA: u8 = 0x2a;

/// The (name, value) pairs of encoded 1.0 `TimeSeries.labels` bytes
/// ([`super::encode::encode_labels`]), in order, without allocating. Stops at the first
/// malformed byte (our own encoder never writes one).
#[derive(Clone, Debug)]
pub struct LabelPairs<'a> {
    rest: &'a [u8],
}

impl<'a> LabelPairs<'a> {
    pub fn new(encoded: &'a [u8]) -> Self {
        LabelPairs { rest: encoded }
    }
}

impl<'a> Iterator for LabelPairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((mut body, rest)) = length_delimited(self.rest, TAG_1_LEN) else {
            self.rest = &[];
            return None;
        };
        self.rest = rest;
        let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
        while let Some(&tag) = body.first() {
            let Some((s, rest)) = length_delimited(body, tag) else {
                self.rest = &[];
                return None;
            };
            body = rest;
            match tag {
                TAG_1_LEN => name = s,
                TAG_2_LEN => value = s,
                _ => {
                    self.rest = &[];
                    return None;
                }
            }
        }
        Some((name, value))
    }
}

/// A `Hasher` for keys that already are hashes (or pointers): passes the `u64`/`usize` through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    fn write_usize(&mut self, v: usize) {
        // Pointers: the low bits are alignment, mix so the table's buckets spread.
        self.0 = (v as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type PassThroughMap<K, V> = HashMap<K, V, BuildHasherDefault<PassThrough>>;

const NO_SYMBOL: u32 = u32::MAX;

/// A request's symbol table: strings in one reused arena, deduplicated by their xxh3 hash
/// (with a chain for the unlikely collisions).
#[derive(Default)]
struct SymbolTable {
    bytes: Vec<u8>,
    /// End offset in `bytes` of each symbol; it starts where the previous one ends.
    ends: Vec<usize>,
    /// Hash → the first symbol with that hash.
    by_hash: PassThroughMap<u64, u32>,
    /// Per symbol: the next one with the same hash, or `NO_SYMBOL`.
    next: Vec<u32>,
}

impl SymbolTable {
    /// Empties the table, leaving `""` as symbol 0.
    fn reset(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.by_hash.clear();
        self.next.clear();
        let empty = self.intern(b"");
        debug_assert_eq!(empty, 0);
    }

    fn get(&self, i: u32) -> &[u8] {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn push(&mut self, s: &[u8]) -> u32 {
        let i = self.ends.len() as u32;
        self.bytes.extend_from_slice(s);
        self.ends.push(self.bytes.len());
        self.next.push(NO_SYMBOL);
        i
    }

    fn intern(&mut self, s: &[u8]) -> u32 {
        let hash = xxhash_rust::xxh3::xxh3_64(s);
        let Some(&first) = self.by_hash.get(&hash) else {
            let i = self.push(s);
            self.by_hash.insert(hash, i);
            return i;
        };
        let mut at = first;
        loop {
            if self.get(at) == s {
                return at;
            }
            match self.next[at as usize] {
                NO_SYMBOL => break,
                n => at = n,
            }
        }
        let i = self.push(s);
        self.next[at as usize] = i;
        i
    }
}

/// Encodes and compresses remote write 2.0 requests into buffers reused from one request to the
/// next.
pub struct RequestEncoderV2 {
    symbols: SymbolTable,
    /// Series (by the address of its shared label bytes) → its range in `refs` and its
    /// metadata refs.
    series_refs: PassThroughMap<usize, (u32, u32, MetadataRefs)>,
    refs: Vec<u32>,
    /// The `timeseries` fields, written before the symbols are known.
    series: Vec<u8>,
    proto: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Default for RequestEncoderV2 {
    fn default() -> Self {
        RequestEncoderV2 {
            symbols: SymbolTable::default(),
            series_refs: PassThroughMap::default(),
            refs: Vec::new(),
            series: Vec::new(),
            proto: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }
}

impl RequestEncoderV2 {
    /// The uncompressed `io.prometheus.write.v2.Request` for `entries`.
    pub fn encode<'a>(&mut self, entries: impl IntoIterator<Item = &'a Sample>) -> &[u8] {
        let RequestEncoderV2 {
            symbols,
            series_refs,
            refs,
            series,
            proto,
            ..
        } = self;
        symbols.reset();
        series_refs.clear();
        refs.clear();
        series.clear();
        proto.clear();
        for entry in entries {
            // The entries (and so their label bytes) live until the end of this call, so the
            // address identifies the series' labels for the whole request.
            let key = entry.labels.as_ptr() as usize;
            let (start, len, metadata) = *series_refs.entry(key).or_insert_with(|| {
                let start = refs.len();
                for (name, value) in LabelPairs::new(&entry.labels) {
                    refs.push(symbols.intern(name));
                    refs.push(symbols.intern(value));
                }
                let metadata = entry
                    .metadata
                    .as_deref()
                    .map_or_else(MetadataRefs::default, |m| MetadataRefs {
                        kind: m.kind,
                        help: symbols.intern(m.help.as_bytes()),
                        unit: symbols.intern(m.unit.as_bytes()),
                    });
                (start as u32, (refs.len() - start) as u32, metadata)
            });
            let labels_refs = &refs[start as usize..(start + len) as usize];
            put_timeseries(series, labels_refs, entry, metadata);
        }
        for i in 0..symbols.len() {
            let s = symbols.get(i as u32);
            proto.reserve(1 + varint_len(s.len() as u64) + s.len());
            proto.push(TAG_SYMBOLS);
            put_varint(proto, s.len() as u64);
            proto.extend_from_slice(s);
        }
        proto.extend_from_slice(series);
        proto
    }

    /// The snappy-compressed (block format) request for `entries`.
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

/// A series' `TimeSeries.metadata`: `Metadata{type = 1; help_ref = 3; unit_ref = 4}`
/// (symbol 0, `""`, for no help or unit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct MetadataRefs {
    kind: u8,
    help: u32,
    unit: u32,
}

impl MetadataRefs {
    /// Length of the `Metadata` body; 0 when every field is at its default (then the
    /// field is left out, as prost does).
    fn body_len(&self) -> usize {
        let field = |v: u64| if v == 0 { 0 } else { 1 + varint_len(v) };
        field(u64::from(self.kind)) + field(u64::from(self.help)) + field(u64::from(self.unit))
    }

    fn put(&self, buf: &mut Vec<u8>, body_len: usize) {
        buf.push(TAG_METADATA);
        put_varint(buf, body_len as u64);
        for (tag, value) in [
            (0x08, u64::from(self.kind)),
            (0x18, u64::from(self.help)),
            (0x20, u64::from(self.unit)),
        ] {
            if value != 0 {
                buf.push(tag);
                put_varint(buf, value);
            }
        }
    }
}

/// Appends one `Request.timeseries` entry with `labels_refs`, `entry`'s sample and the
/// series' metadata.
fn put_timeseries(buf: &mut Vec<u8>, labels_refs: &[u32], entry: &Sample, metadata: MetadataRefs) {
    let packed: usize = labels_refs.iter().map(|&r| varint_len(u64::from(r))).sum();
    let refs_field = if packed == 0 {
        0
    } else {
        1 + varint_len(packed as u64) + packed
    };
    let sample_len = entry.sample_len();
    let metadata_len = metadata.body_len();
    let metadata_field = if metadata_len == 0 {
        0
    } else {
        1 + varint_len(metadata_len as u64) + metadata_len
    };
    let body = refs_field + 1 + varint_len(sample_len as u64) + sample_len + metadata_field;
    buf.reserve(1 + varint_len(body as u64) + body);
    buf.push(TAG_TIMESERIES);
    put_varint(buf, body as u64);
    if packed > 0 {
        buf.push(TAG_LABELS_REFS);
        put_varint(buf, packed as u64);
        for &r in labels_refs {
            put_varint(buf, u64::from(r));
        }
    }
    buf.push(TAG_SAMPLES);
    put_varint(buf, sample_len as u64);
    put_sample(buf, entry);
    if metadata_len > 0 {
        metadata.put(buf, metadata_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;
    use crate::remote_write::encode::encode_labels;
    use crate::remote_write::metadata::MetricMetadata;
    use prost::Message;
    use std::sync::Arc;

    /// prost twins of `io.prometheus.write.v2` (the parts we send).
    #[derive(Clone, PartialEq, prost::Message)]
    struct Request {
        #[prost(string, repeated, tag = "4")]
        symbols: Vec<String>,
        #[prost(message, repeated, tag = "5")]
        timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct TimeSeries {
        #[prost(uint32, repeated, packed = "true", tag = "1")]
        labels_refs: Vec<u32>,
        #[prost(message, repeated, tag = "2")]
        samples: Vec<PSample>,
        #[prost(message, optional, tag = "5")]
        metadata: Option<Metadata>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct PSample {
        #[prost(double, tag = "1")]
        value: f64,
        #[prost(int64, tag = "2")]
        timestamp: i64,
        #[prost(int64, tag = "3")]
        start_timestamp: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Metadata {
        #[prost(int32, tag = "1")]
        r#type: i32,
        #[prost(uint32, tag = "3")]
        help_ref: u32,
        #[prost(uint32, tag = "4")]
        unit_ref: u32,
    }

    const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

    fn labels(pairs: &[(&str, &str)]) -> bytes::Bytes {
        encode_labels(&Labels::from_pairs(pairs.iter().copied()))
    }

    fn entry(
        series: u64,
        labels: &bytes::Bytes,
        timestamp_ms: i64,
        value_bits: u64,
    ) -> crate::remote_write::Sample {
        crate::remote_write::Sample {
            series,
            labels: labels.clone(),
            metadata: None,
            timestamp_ms,
            value_bits,
        }
    }

    /// What prost writes for `entries`, with a symbol table built the obvious way.
    fn expected(entries: &[crate::remote_write::Sample]) -> Vec<u8> {
        let mut symbols = vec![String::new()];
        let mut index: HashMap<String, u32> = HashMap::from([(String::new(), 0)]);
        let mut intern = |s: &[u8]| {
            let s = String::from_utf8(s.to_vec()).unwrap();
            *index.entry(s.clone()).or_insert_with(|| {
                symbols.push(s);
                symbols.len() as u32 - 1
            })
        };
        let timeseries = entries
            .iter()
            .map(|e| {
                let labels = crate::remote_write::encode::decode_labels(&e.labels).unwrap();
                let mut labels_refs = Vec::new();
                for (name, value) in labels.iter() {
                    labels_refs.push(intern(name.as_bytes()));
                    labels_refs.push(intern(value.as_bytes()));
                }
                let metadata = e
                    .metadata
                    .as_ref()
                    .map(|m| Metadata {
                        r#type: i32::from(m.kind),
                        help_ref: intern(m.help.as_bytes()),
                        unit_ref: intern(m.unit.as_bytes()),
                    })
                    .filter(|m| *m != Metadata::default());
                TimeSeries {
                    labels_refs,
                    samples: vec![PSample {
                        value: f64::from_bits(e.value_bits),
                        timestamp: e.timestamp_ms,
                        start_timestamp: 0,
                    }],
                    metadata,
                }
            })
            .collect();
        Request {
            symbols,
            timeseries,
        }
        .encode_to_vec()
    }

    #[test]
    fn label_pairs_walks_encoded_labels() {
        let l = labels(&[("b", "2"), ("__name__", "m"), ("a", "1"), ("empty", "")]);
        let pairs: Vec<_> = LabelPairs::new(&l).collect();
        assert_eq!(
            pairs,
            vec![
                (&b"__name__"[..], &b"m"[..]),
                (&b"a"[..], &b"1"[..]),
                (&b"b"[..], &b"2"[..]),
            ]
        );
        assert_eq!(LabelPairs::new(&[]).count(), 0);
        // Malformed bytes end the walk instead of panicking.
        assert_eq!(LabelPairs::new(&[0x0a, 0x05, 0x0a]).count(), 0);
    }

    #[test]
    fn symbol_table_dedups_and_starts_with_empty() {
        let mut t = SymbolTable::default();
        t.reset();
        assert_eq!(t.intern(b"a"), 1);
        assert_eq!(t.intern(b""), 0);
        assert_eq!(t.intern(b"bb"), 2);
        assert_eq!(t.intern(b"a"), 1);
        assert_eq!(t.len(), 3);
        assert_eq!(t.get(2), b"bb");
        t.reset();
        assert_eq!(t.len(), 1);
        assert_eq!(t.intern(b"bb"), 1);
    }

    #[test]
    fn encodes_like_prost() {
        let a = labels(&[("__name__", "up"), ("job", "j"), ("instance", "h:1")]);
        let b = labels(&[
            ("__name__", "temp"),
            ("job", "j"),
            ("le", "+Inf"),
            ("x", "up"),
        ]);
        let long_value = "v".repeat(300);
        let c = labels(&[("__name__", "long"), ("value", long_value.as_str())]);
        let empty = labels(&[]);
        let values = [
            1.0f64.to_bits(),
            0.0f64.to_bits(),
            (-0.0f64).to_bits(),
            f64::NAN.to_bits(),
            STALE_NAN,
            f64::INFINITY.to_bits(),
            f64::NEG_INFINITY.to_bits(),
            (-1.5e300f64).to_bits(),
            f64::MIN_POSITIVE.to_bits(),
        ];
        let timestamps = [0i64, 1, -1, 1_700_000_000_123, i64::MAX, i64::MIN];
        // Per series: full metadata, type only, help equal to a label value, none.
        let metadata = [
            Some(Arc::new(MetricMetadata {
                family: "up".into(),
                kind: 2,
                help: "Health of the target.".into(),
                unit: "targets".into(),
            })),
            Some(Arc::new(MetricMetadata {
                family: "temp".into(),
                kind: 3,
                help: String::new(),
                unit: String::new(),
            })),
            Some(Arc::new(MetricMetadata {
                family: "long".into(),
                kind: 0,
                help: "up".into(),
                unit: String::new(),
            })),
            None,
        ];
        let mut entries = Vec::new();
        for (i, v) in values.iter().enumerate() {
            for (j, t) in timestamps.iter().enumerate() {
                let n = (i + j) % 4;
                let mut e = entry(n as u64, [&a, &b, &c, &empty][n], *t, *v);
                e.metadata = metadata[n].clone();
                entries.push(e);
            }
        }
        let mut encoder = RequestEncoderV2::default();
        assert_eq!(encoder.encode(&entries), expected(&entries).as_slice());
        // Reuse: a second, different request from the same encoder.
        let tail = &entries[5..9];
        assert_eq!(encoder.encode(tail), expected(tail).as_slice());
        // An empty request is just `symbols[0] = ""`.
        let none: &[crate::remote_write::Sample] = &[];
        assert_eq!(encoder.encode(none), expected(none).as_slice());
        assert_eq!(encoder.encode(none), &[0x22, 0x00]);

        // Decoded back: symbols, refs, and the exact value bits (StaleNaN, NaN, ±Inf).
        let decoded = Request::decode(encoder.encode(&entries)).unwrap();
        assert_eq!(decoded.symbols[0], "");
        assert_eq!(decoded.timeseries.len(), entries.len());
        for (ts, e) in decoded.timeseries.iter().zip(&entries) {
            let got: Vec<(&str, &str)> = ts
                .labels_refs
                .chunks(2)
                .map(|p| {
                    (
                        decoded.symbols[p[0] as usize].as_str(),
                        decoded.symbols[p[1] as usize].as_str(),
                    )
                })
                .collect();
            let want = crate::remote_write::encode::decode_labels(&e.labels).unwrap();
            assert_eq!(got, want.iter().collect::<Vec<_>>());
            assert_eq!(ts.samples.len(), 1);
            let value_bits = ts.samples[0].value.to_bits();
            if f64::from_bits(e.value_bits) == 0.0 {
                assert_eq!(value_bits, 0);
            } else {
                assert_eq!(value_bits, e.value_bits);
            }
            assert_eq!(ts.samples[0].timestamp, e.timestamp_ms);
            match &e.metadata {
                Some(m) => {
                    let got = ts.metadata.clone().unwrap_or_default();
                    assert_eq!(got.r#type, i32::from(m.kind));
                    assert_eq!(decoded.symbols[got.help_ref as usize], m.help);
                    assert_eq!(decoded.symbols[got.unit_ref as usize], m.unit);
                }
                None => assert_eq!(ts.metadata, None),
            }
        }

        let compressed = encoder.encode_compressed(&entries).unwrap().to_vec();
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .unwrap();
        assert_eq!(raw, expected(&entries));
    }

    #[test]
    fn distinct_label_sets_with_equal_bytes_share_symbols() {
        // Two series declared separately (different Arcs, same labels) and many symbols, so
        // refs take more than one varint byte.
        let mut entries = Vec::new();
        for i in 0..300 {
            let name = format!("m{i}");
            let l = labels(&[("__name__", name.as_str()), ("job", "j")]);
            entries.push(entry(i, &l, i as i64, (i as f64).to_bits()));
            let again = labels(&[("__name__", name.as_str()), ("job", "j")]);
            entries.push(entry(i, &again, i as i64 + 1, (i as f64).to_bits()));
        }
        let mut encoder = RequestEncoderV2::default();
        assert_eq!(encoder.encode(&entries), expected(&entries).as_slice());
        let decoded = Request::decode(encoder.encode(&entries)).unwrap();
        // "", "__name__", m0..m299, "job", "j".
        assert_eq!(decoded.symbols.len(), 1 + 1 + 300 + 2);
    }
}
