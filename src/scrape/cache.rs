//! The per-target series cache: the series of the target's last scrape in body order, each
//! as the 64-bit hash of its raw bytes (name and labels as exposed) and one state word. A
//! target exposes the same series in the same order scrape after scrape, so a line is matched
//! against the series at its position: a hash and a compare, no lookup, no label decoding, no
//! relabeling. Lines out of place are found through an index built only when needed.
//!
//! Memory per active series: 12 bytes (hash and state), no label strings. A series whose
//! labels are its exposed labels merged with the target's (no metric relabeling changed them)
//! has them derived again from the body on every scrape; only the others keep theirs
//! ([`StoredLabels`]). For stale markers, the derived labels of the cached series are kept
//! compressed ([`LabelRecords`]), rebuilt only when the series or their order change.

use super::parse::MetricType;
use crate::remote_write::metadata::MetricMetadata;
use bytes::Bytes;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// The key is already a well-mixed hash: use its low bits as is.
#[derive(Default)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

pub type PassThrough = BuildHasherDefault<PassThroughHasher>;

/// 64-bit hash of the raw series bytes (name and labels as exposed). Two series of one target
/// share a key with odds of about n²/2⁶⁵ (10⁻¹² for 10,000 series).
pub fn raw_key(series: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(series)
}

/// What becomes of a cached series, and whether the last scrape appended it as tracked
/// (for staleness), in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesState(u32);

const KIND_MASK: u32 = 0b11;
const KIND_DERIVED: u32 = 0;
const KIND_STORED: u32 = 1;
const KIND_DROPPED: u32 = 2;
const KIND_PLAIN: u32 = 3;
const TRACKED: u32 = 0b100;
const INDEX_SHIFT: u32 = 3;

/// Where a cached series' labels come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelSource {
    /// Derived from the exposed labels on every scrape.
    Derived,
    /// Derived on every scrape straight from the line's bytes, which are written plainly
    /// (label names in order, no escapes): no parsing of the label set.
    Plain,
    /// Kept in [`SeriesCache::stored`] at this index.
    Stored(u32),
    /// Metric relabeling drops the series.
    Dropped,
}

impl SeriesState {
    pub fn new(labels: LabelSource) -> Self {
        SeriesState(match labels {
            LabelSource::Derived => KIND_DERIVED,
            LabelSource::Plain => KIND_PLAIN,
            LabelSource::Stored(index) => KIND_STORED | (index << INDEX_SHIFT),
            LabelSource::Dropped => KIND_DROPPED,
        })
    }

    pub fn labels(self) -> LabelSource {
        match self.0 & KIND_MASK {
            KIND_DERIVED => LabelSource::Derived,
            KIND_PLAIN => LabelSource::Plain,
            KIND_STORED => LabelSource::Stored(self.0 >> INDEX_SHIFT),
            _ => LabelSource::Dropped,
        }
    }

    /// Appended as tracked (for staleness) by the scrape that cached it.
    pub fn tracked(self) -> bool {
        self.0 & TRACKED != 0
    }

    pub fn with_tracked(self, tracked: bool) -> Self {
        SeriesState(if tracked {
            self.0 | TRACKED
        } else {
            self.0 & !TRACKED
        })
    }
}

/// The states of a scrape's or the cache's series, by position: one byte each (the label
/// source's kind and the tracked bit), plus a stored-labels index per series only once some
/// series keeps stored labels, so a target whose labels all derive pays 1 B a series, not 4.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeriesStates {
    kinds: Vec<u8>,
    /// Some series has a stored-labels index other than 0: `stored_index` has one per series.
    indexed: bool,
    /// Empty unless `indexed`; else one index per series (0 where unused).
    stored_index: Vec<u32>,
}

impl SeriesStates {
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn clear(&mut self) {
        self.kinds.clear();
        self.stored_index.clear();
        self.indexed = false;
    }

    pub fn push(&mut self, state: SeriesState) {
        let index = state.0 >> INDEX_SHIFT;
        if index != 0 && !self.indexed {
            self.stored_index.resize(self.kinds.len(), 0);
            self.indexed = true;
        }
        if self.indexed {
            self.stored_index.push(index);
        }
        self.kinds.push((state.0 & ((1 << INDEX_SHIFT) - 1)) as u8);
    }

    pub fn get(&self, at: usize) -> SeriesState {
        let kind = u32::from(self.kinds[at]);
        let index = if self.indexed {
            self.stored_index[at]
        } else {
            0
        };
        SeriesState(kind | (index << INDEX_SHIFT))
    }

    pub fn set_tracked(&mut self, at: usize, tracked: bool) {
        let kind = &mut self.kinds[at];
        *kind = SeriesState(u32::from(*kind)).with_tracked(tracked).0 as u8;
    }

    pub fn clear_tracked(&mut self) {
        for kind in &mut self.kinds {
            *kind &= !(TRACKED as u8);
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = SeriesState> + '_ {
        (0..self.len()).map(|at| self.get(at))
    }

    /// Becomes a copy of `other`, reusing this one's buffers.
    pub fn copy_from(&mut self, other: &SeriesStates) {
        self.kinds.clone_from(&other.kinds);
        self.stored_index.clone_from(&other.stored_index);
        self.indexed = other.indexed;
    }

    /// Bytes each series takes here: 1, or 5 once some series keeps stored labels.
    pub fn bytes_per_series(&self) -> usize {
        1 + if self.indexed { 4 } else { 0 }
    }
}

/// Labels kept for series whose labels cannot be derived from the exposed ones (metric
/// relabeling changed them, or an exposed label clashed with a target label): encoded, in
/// slots reused after eviction.
#[derive(Default)]
pub struct StoredLabels {
    slots: Vec<Bytes>,
    free: Vec<u32>,
}

/// Stored labels are indexed by the 29 bits a [`SeriesState`] has for it.
pub const MAX_STORED: usize = 1 << (32 - INDEX_SHIFT);

impl StoredLabels {
    /// Keeps `labels`; `None` when [`MAX_STORED`] series of the target already keep theirs.
    pub fn insert(&mut self, labels: Bytes) -> Option<u32> {
        if self.free.is_empty() && self.slots.len() >= MAX_STORED {
            return None;
        }
        Some(self.insert_unchecked(labels))
    }

    fn insert_unchecked(&mut self, labels: Bytes) -> u32 {
        match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = labels;
                index
            }
            None => {
                self.slots.push(labels);
                (self.slots.len() - 1) as u32
            }
        }
    }

    pub fn get(&self, index: u32) -> &Bytes {
        &self.slots[index as usize]
    }

    /// Frees every slot `used` says no series refers to any more.
    fn retain(&mut self, used: &[bool]) {
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if !used.get(index).copied().unwrap_or(false) && !slot.is_empty() {
                *slot = Bytes::new();
                self.free.push(index as u32);
            }
        }
    }

    fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Slots in use.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The encoded labels of a target's cached series, by position (empty for series that do not
/// derive their labels): what stale markers for series that go away are written with. Kept
/// by column and zstd-compressed: each record as the ids of its label names, then per label
/// name the values of every record that has it, in record order. A target's series repeat
/// the same few names, and each column repeats the same values in the same runs (the
/// containers of a node, family after family), so this keeps about 3 bytes per cAdvisor-like
/// series, where the records one after another kept 15. Rebuilt only when the cached series
/// or their order change.
#[derive(Default)]
pub struct LabelRecords {
    compressed: Box<[u8]>,
    /// Bytes before compression.
    raw_len: usize,
    count: u32,
}

/// zstd's level for the records: they are written rarely and read more rarely still.
const RECORDS_LEVEL: i32 = 3;

/// A record's head in the shape section: an empty record, one kept as is (in the last
/// column), or `SHAPE_LABELS + 2 × n` followed by its `n` name ids.
const SHAPE_EMPTY: u64 = 0;
const SHAPE_VERBATIM: u64 = 1;
const SHAPE_LABELS: u64 = 2;

impl LabelRecords {
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Bytes held.
    pub fn compressed_len(&self) -> usize {
        self.compressed.len()
    }

    /// Replaces the records with `records`. The buffers this takes are freed after: it runs
    /// rarely, and for a big target they are megabytes.
    ///
    /// Layout before compression: the label names (count, then each as length and bytes);
    /// the shape section (its length, then per record its head and name ids); then one column
    /// per name and a last one of records kept as is, each as its length and values (length
    /// and bytes). A record that is not exactly what [`put_label`] writes for its pairs is kept
    /// as is, so every record reads back byte for byte.
    ///
    /// [`put_label`]: crate::remote_write::encode::put_label
    pub fn rebuild(&mut self, records: &[Bytes]) {
        use crate::remote_write::encode::{put_label, put_varint};
        let mut names: Vec<&[u8]> = Vec::new();
        let mut name_ids: HashMap<&[u8], usize> = HashMap::new();
        let mut shape = Vec::with_capacity(records.len() * 8);
        let mut columns: Vec<Vec<u8>> = Vec::new();
        let mut verbatim = Vec::new();
        let mut ids = Vec::new();
        let mut buf = Vec::new();
        for record in records {
            if record.is_empty() {
                put_varint(&mut shape, SHAPE_EMPTY);
                continue;
            }
            // Re-encoding the pairs must give the record back; buf checks that here.
            buf.clear();
            ids.clear();
            for (name, value) in crate::remote_write::encode_v2::LabelPairs::new(record) {
                put_label(&mut buf, name, value);
                let id = *name_ids.entry(name).or_insert_with(|| {
                    names.push(name);
                    columns.push(Vec::new());
                    names.len() - 1
                });
                ids.push((id, value));
            }
            if buf.as_slice() != record.as_ref() {
                put_varint(&mut shape, SHAPE_VERBATIM);
                put_varint(&mut verbatim, record.len() as u64);
                verbatim.extend_from_slice(record);
                continue;
            }
            put_varint(&mut shape, SHAPE_LABELS + 2 * ids.len() as u64);
            for &(id, value) in &ids {
                put_varint(&mut shape, id as u64);
                put_varint(&mut columns[id], value.len() as u64);
                columns[id].extend_from_slice(value);
            }
        }
        buf.clear();
        put_varint(&mut buf, names.len() as u64);
        for name in &names {
            put_varint(&mut buf, name.len() as u64);
            buf.extend_from_slice(name);
        }
        for section in std::iter::once(&shape)
            .chain(columns.iter())
            .chain(std::iter::once(&verbatim))
        {
            put_varint(&mut buf, section.len() as u64);
            buf.extend_from_slice(section);
        }
        // zstd fails only on allocation failure or an input over its size limit: the records
        // are then lost, and so are stale markers for derived series that go away before the
        // next rebuild.
        match zstd::bulk::compress(&buf, RECORDS_LEVEL) {
            Ok(compressed) => {
                self.compressed = compressed.into_boxed_slice();
                self.raw_len = buf.len();
                self.count = records.len() as u32;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot compress the labels kept for stale markers");
                *self = LabelRecords::default();
            }
        }
    }

    /// The records, decompressed. Records past a malformed byte (never written by
    /// [`Self::rebuild`]) read as missing.
    pub fn open(&self) -> OpenRecords {
        let mut open = OpenRecords {
            bytes: Vec::new(),
            ranges: Vec::with_capacity(self.count as usize),
        };
        if self.count > 0
            && let Ok(raw) = zstd::bulk::decompress(&self.compressed, self.raw_len)
        {
            open.fill(&raw, self.count);
        }
        open
    }
}

/// Reads the varints and length-prefixed byte strings of a [`LabelRecords`] layout.
struct RecordsReader<'a> {
    rest: &'a [u8],
}

impl<'a> RecordsReader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let (value, n) = crate::remote_write::encode::get_varint(self.rest)?;
        self.rest = &self.rest[n..];
        Some(value)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        if len > self.rest.len() {
            return None;
        }
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(bytes)
    }
}

/// Decompressed [`LabelRecords`].
pub struct OpenRecords {
    bytes: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl OpenRecords {
    /// The encoded labels of record `index`.
    pub fn get(&self, index: u32) -> Option<&[u8]> {
        let &(start, end) = self.ranges.get(index as usize)?;
        Some(&self.bytes[start..end])
    }

    /// Writes out the `count` records of `raw` (see [`LabelRecords::rebuild`]), stopping at
    /// the first malformed one.
    fn fill(&mut self, raw: &[u8], count: u32) -> Option<()> {
        use crate::remote_write::encode::put_label;
        let mut reader = RecordsReader { rest: raw };
        let name_count = usize::try_from(reader.varint()?).ok()?;
        let mut names = Vec::with_capacity(name_count.min(raw.len()));
        for _ in 0..name_count {
            names.push(reader.bytes()?);
        }
        let mut shape = RecordsReader {
            rest: reader.bytes()?,
        };
        let mut columns = Vec::with_capacity(name_count.min(raw.len()));
        for _ in 0..name_count {
            columns.push(RecordsReader {
                rest: reader.bytes()?,
            });
        }
        let mut verbatim = RecordsReader {
            rest: reader.bytes()?,
        };
        for _ in 0..count {
            let start = self.bytes.len();
            match shape.varint()? {
                SHAPE_EMPTY => {}
                SHAPE_VERBATIM => self.bytes.extend_from_slice(verbatim.bytes()?),
                head => {
                    for _ in 0..(head - SHAPE_LABELS) / 2 {
                        let id = usize::try_from(shape.varint()?).ok()?;
                        let value = columns.get_mut(id)?.bytes()?;
                        put_label(&mut self.bytes, names[id], value);
                    }
                }
            }
            self.ranges.push((start, self.bytes.len()));
        }
        Some(())
    }
}

/// Family name → metadata. Looked up for every HELP/TYPE/UNIT line of every scrape: hashed
/// with foldhash (randomly seeded, as the names come from targets); with SipHash the lookups
/// were 1.8% of a node-exporter profile.
pub type FamilyMap = HashMap<Box<[u8]>, FamilyMetadata, foldhash::fast::RandomState>;

/// HELP, TYPE and UNIT of one metric family as the target last exposed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyMetadata {
    pub kind: MetricType,
    pub help: String,
    pub unit: String,
    /// Scrape number in which a HELP, TYPE or UNIT line for the family was last seen.
    pub last_seen: u32,
    /// The family's metadata as series carry it to remote write 2.0, shared by its series;
    /// built on first use after a change.
    pub shared: Option<Arc<MetricMetadata>>,
}

/// Sample names of a family are its name with one of these (OpenMetrics).
const SAMPLE_SUFFIXES: [&[u8]; 8] = [
    b"_total",
    b"_bucket",
    b"_sum",
    b"_count",
    b"_created",
    b"_info",
    b"_gsum",
    b"_gcount",
];

/// Families are kept this many scrapes after they were last exposed (spec §6.5).
pub const METADATA_KEPT_SCRAPES: u32 = 10;

/// Series of one metric name among a target's cached series: those of its last scrape (up
/// to the failure point when it failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricSeriesCount {
    /// The `__name__` as exposed, before metric relabeling: a series that relabeling renames
    /// is counted under its exposed name.
    pub name: Box<str>,
    /// Series scraped, dropped by metric relabeling or not.
    pub scraped: u32,
    /// Series kept by metric relabeling.
    pub kept: u32,
}

#[derive(Default)]
pub struct SeriesCache {
    /// Raw-series hashes of the last scrape (up to its failure point), in body order.
    pub keys: Vec<u64>,
    /// The state of each series of `keys`.
    pub states: SeriesStates,
    /// Labels of the series that do not derive theirs (see [`LabelSource`]).
    pub stored: StoredLabels,
    /// Labels of the derived series of `keys`, by position, for stale markers.
    pub records: LabelRecords,
    /// The last timestamp appended for series exposed with a timestamp (`honor_timestamps`);
    /// later ones must be greater. Series without one get the scrape's slot, which only grows.
    pub explicit_timestamps: HashMap<u64, i64, PassThrough>,
    /// Series per exposed metric name among the cached series, most first.
    pub series_by_metric: Vec<MetricSeriesCount>,
    /// Set when `series_by_metric` changed since the flag was last cleared.
    pub series_by_metric_changed: bool,
    /// Family name → metadata; changed only when a target's HELP/TYPE/UNIT lines change.
    pub metadata: FamilyMap,
    /// Set when `metadata` changed since the flag was last cleared.
    pub metadata_changed: bool,
    /// The last scrape appended every series it kept once, each with distinct labels, and
    /// none with a timestamp of its own: a scrape whose lines are these in this order
    /// appends no duplicate while they last.
    pub refs_distinct: bool,
    /// Number of the current scrape (starts at 1).
    pub scrape: u32,
    /// Number of the last successful scrape.
    pub last_success: u32,
}

impl SeriesCache {
    /// Series cached, dropped ones included.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Bytes each cached series takes in the cache itself (its hash and state) while no
    /// series keeps stored labels.
    pub const fn series_bytes() -> usize {
        std::mem::size_of::<u64>() + std::mem::size_of::<u8>()
    }

    /// The cached series are `keys`, in this order, with their records: [`Self::replace`]
    /// with them needs no records.
    pub fn holds_series(&self, keys: &[u64]) -> bool {
        keys == self.keys.as_slice() && self.has_all_records()
    }

    /// Every cached series has its record (compressing them can fail).
    pub fn has_all_records(&self) -> bool {
        self.records.count() as usize == self.keys.len()
    }

    /// Appends the records of the first `n` cached series (empty for those that do not derive
    /// their labels) to `out`: those of a scrape whose first `n` lines were these.
    pub fn push_records(&self, n: usize, out: &mut Vec<Bytes>) {
        if n == 0 {
            return;
        }
        let open = self.records.open();
        let all = Bytes::from(open.bytes);
        for at in 0..n {
            let record = match open.ranges.get(at) {
                Some(&(start, end)) => all.slice(start..end),
                None => Bytes::new(),
            };
            out.push(record);
        }
    }

    /// Makes a scrape's series (`keys` and `states`, in body order) the cached ones. When the
    /// series or their order changed, the records are rebuilt from `records` (the labels of
    /// each, empty for series that do not derive theirs), stored
    /// labels no series refers to are freed and timestamps of series gone forgotten. True
    /// when the series or their order changed.
    pub fn replace(&mut self, keys: &[u64], states: &SeriesStates, records: &[Bytes]) -> bool {
        debug_assert_eq!(keys.len(), states.len());
        if self.holds_series(keys) {
            self.states.copy_from(states);
            return false;
        }
        debug_assert_eq!(keys.len(), records.len());
        self.keys = keys.to_vec();
        self.states = states.clone();
        self.records.rebuild(records);
        let mut used = vec![false; self.stored.capacity()];
        for state in states.iter() {
            if let LabelSource::Stored(index) = state.labels() {
                used[index as usize] = true;
            }
        }
        self.stored.retain(&used);
        if !self.explicit_timestamps.is_empty() {
            let live: std::collections::HashSet<u64, PassThrough> = keys.iter().copied().collect();
            self.explicit_timestamps.retain(|key, _| live.contains(key));
        }
        true
    }

    /// Records a HELP, TYPE or UNIT line; allocates only for a new family or a change.
    pub fn note_metadata(&mut self, family: &[u8], update: MetadataLine<'_>) {
        let scrape = self.scrape;
        let entry = match self.metadata.get_mut(family) {
            Some(entry) => entry,
            None => {
                self.metadata_changed = true;
                self.metadata
                    .entry(family.into())
                    .or_insert(FamilyMetadata {
                        kind: MetricType::Unknown,
                        help: String::new(),
                        unit: String::new(),
                        last_seen: scrape,
                        shared: None,
                    })
            }
        };
        entry.last_seen = scrape;
        let changed = match update {
            MetadataLine::Type(kind) => std::mem::replace(&mut entry.kind, kind) != kind,
            MetadataLine::Help(help) if entry.help != help => {
                entry.help = help.to_string();
                true
            }
            MetadataLine::Unit(unit) if entry.unit.as_bytes() != unit => {
                entry.unit = String::from_utf8_lossy(unit).into_owned();
                true
            }
            _ => false,
        };
        if changed {
            entry.shared = None;
        }
        self.metadata_changed |= changed;
    }

    /// The metadata a new series named `name` carries: that of its family, which is the
    /// family of the metadata lines just before it (`current_family`) when `name` is that
    /// family's name or a sample name of it (`_total`, `_bucket`, ...), else the family named
    /// `name`; `None` when the target exposed no metadata for it.
    /// (An associated function on the metadata map, so it can be called while an entry of
    /// the cache is borrowed.)
    pub fn series_metadata(
        metadata: &mut FamilyMap,
        name: &[u8],
        current_family: Option<&[u8]>,
    ) -> Option<Arc<MetricMetadata>> {
        let family = match current_family {
            Some(family)
                if name.strip_prefix(family).is_some_and(|suffix| {
                    suffix.is_empty() || SAMPLE_SUFFIXES.contains(&suffix)
                }) =>
            {
                family
            }
            _ => name,
        };
        let entry = metadata.get_mut(family)?;
        if entry.shared.is_none() {
            entry.shared = Some(Arc::new(MetricMetadata {
                family: String::from_utf8_lossy(family).into_owned(),
                kind: entry.kind.remote_write_kind(),
                help: entry.help.clone(),
                unit: entry.unit.clone(),
            }));
        }
        entry.shared.clone()
    }

    /// The metadata of series `name` seen outside its family's lines (a stale marker): that of
    /// the family named `name`, else of the family `name` is a sample name of.
    pub fn family_metadata_of(
        metadata: &mut FamilyMap,
        name: &[u8],
    ) -> Option<Arc<MetricMetadata>> {
        if metadata.contains_key(name) {
            return Self::series_metadata(metadata, name, None);
        }
        let family = SAMPLE_SUFFIXES
            .iter()
            .find_map(|suffix| name.strip_suffix(*suffix))?;
        Self::series_metadata(metadata, name, Some(family))
    }

    /// Forgets families not exposed for [`METADATA_KEPT_SCRAPES`] scrapes.
    pub fn evict_metadata(&mut self) {
        let scrape = self.scrape;
        let before = self.metadata.len();
        self.metadata
            .retain(|_, m| m.last_seen + METADATA_KEPT_SCRAPES > scrape);
        self.metadata_changed |= self.metadata.len() != before;
    }
}

/// One metadata line of an exposition.
#[derive(Clone, Copy, Debug)]
pub enum MetadataLine<'a> {
    Type(MetricType),
    Help(&'a str),
    Unit(&'a [u8]),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::encode::put_label;
    use proptest::prelude::*;

    /// A record as the scrape writes it (pairs from a few names, values short and long), or
    /// any bytes at all, or nothing.
    fn record() -> impl Strategy<Value = Bytes> {
        let names = prop::sample::select(vec!["__name__", "a", "instance", "job", "z_long_name"]);
        let value = prop::collection::vec(any::<u8>(), 0..200);
        let labels = prop::collection::vec((names, value), 1..6).prop_map(|pairs| {
            let mut buf = Vec::new();
            for (name, value) in pairs {
                put_label(&mut buf, name.as_bytes(), &value);
            }
            Bytes::from(buf)
        });
        prop_oneof![
            4 => labels,
            1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from),
            1 => Just(Bytes::new()),
        ]
    }

    proptest! {
        #[test]
        fn records_read_back_byte_for_byte(records in prop::collection::vec(record(), 0..60)) {
            let mut kept = LabelRecords::default();
            kept.rebuild(&records);
            prop_assert_eq!(kept.count() as usize, records.len());
            let open = kept.open();
            for (index, record) in records.iter().enumerate() {
                prop_assert_eq!(open.get(index as u32), Some(record.as_ref()));
            }
            prop_assert_eq!(open.get(records.len() as u32), None);
        }
    }

    #[test]
    fn records_not_written_by_put_label_are_kept_as_they_are() {
        let mut canonical = Vec::new();
        put_label(&mut canonical, b"job", b"x");
        // The same pair with a two-byte length, and a pair with an empty value.
        let long_length = Bytes::from_static(b"\x0a\x88\x00\x0a\x03job\x12\x01x");
        let mut empty_value = Vec::new();
        empty_value.extend_from_slice(b"\x0a\x05\x0a\x03job");
        let records = [
            Bytes::from(canonical),
            long_length.clone(),
            Bytes::from(empty_value.clone()),
        ];
        let mut kept = LabelRecords::default();
        kept.rebuild(&records);
        let open = kept.open();
        assert_eq!(open.get(1), Some(long_length.as_ref()));
        assert_eq!(open.get(2), Some(empty_value.as_slice()));
    }
}
