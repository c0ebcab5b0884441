//! The per-target series cache: raw series bytes → series ref (or "dropped by relabeling"),
//! so a cache hit costs a hash and a lookup, never label decoding or relabeling.
//!
//! Memory per active series is one entry: a 128-bit hash key, the ref, the last appended
//! timestamp, two scrape numbers, the index of its metric name in a per-target table of
//! series counts and where its labels come from. No label strings: a series whose labels are
//! its exposed labels merged with the target's (no metric relabeling changed them) has them
//! derived again from the body on every scrape; only the others keep theirs
//! ([`StoredLabels`]). For stale markers, the derived labels of the last successful scrape
//! are kept compressed ([`LabelRecords`]), rebuilt only when the series or their order change.

use super::parse::MetricType;
use crate::remote_write::SeriesRef;
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

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64 ^ (value >> 64) as u64;
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

pub type PassThrough = BuildHasherDefault<PassThroughHasher>;

/// 128-bit hash of the raw series bytes (name and labels as exposed).
pub fn raw_key(series: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(series)
}

/// One cached raw series. 32 bytes: the ref (or "dropped"), the last appended timestamp, two
/// scrape numbers (u32: 136 years of 1s scrapes), the index of its metric name in
/// [`MetricNames`] and where its labels come from. The map slot is 48 bytes with the u128 key.
#[derive(Clone, Copy, Debug)]
pub struct CacheEntry {
    /// The series ref, or [`DROPPED`] when metric relabeling dropped the series.
    series: SeriesRef,
    /// Last timestamp appended for this raw series; later ones must be greater.
    pub last_timestamp: i64,
    /// Scrape number in which the entry was last seen in the body.
    pub last_seen: u32,
    /// Scrape number in which it was last appended as a tracked (staleness) series.
    pub last_tracked: u32,
    /// Index of the exposed metric name in [`SeriesCache::metric_names`]; set on insertion,
    /// read on eviction to uncount the series.
    metric_name: u32,
    /// [`STORED`] | index into [`SeriesCache::stored`], or the index of the series' record in
    /// [`SeriesCache::records`] ([`UNRECORDED`]: none yet).
    labels: u32,
}

/// The `series` of an entry whose series metric relabeling dropped.
const DROPPED: SeriesRef = SeriesRef::MAX;
/// Marks a `labels` field that indexes [`StoredLabels`].
const STORED: u32 = 1 << 31;
/// A derived series with no record in the stale-marker labels yet.
const UNRECORDED: u32 = STORED - 1;

/// Where a cached series' labels come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelSource {
    /// Derived from the exposed labels on every scrape; the index of its record in
    /// [`SeriesCache::records`], if it has one.
    Derived(Option<u32>),
    /// Kept in [`SeriesCache::stored`] at this index.
    Stored(u32),
}

impl CacheEntry {
    /// A new entry for `series` (`None`: dropped by relabeling), not yet seen, counted under
    /// the name index [`MetricNames::count`] returned.
    pub fn new(series: Option<SeriesRef>, metric_name: u32, labels: LabelSource) -> Self {
        // A real ref equal to the sentinel (odds 2^-64) is moved next to it.
        let series = series.map_or(DROPPED, |r| r.min(DROPPED - 1));
        CacheEntry {
            series,
            last_timestamp: i64::MIN,
            last_seen: 0,
            last_tracked: 0,
            metric_name,
            labels: match labels {
                LabelSource::Derived(record) => record.unwrap_or(UNRECORDED).min(UNRECORDED),
                LabelSource::Stored(index) => STORED | index,
            },
        }
    }

    pub fn series(&self) -> Option<SeriesRef> {
        (self.series != DROPPED).then_some(self.series)
    }

    pub fn labels(&self) -> LabelSource {
        if self.labels & STORED != 0 {
            LabelSource::Stored(self.labels & !STORED)
        } else {
            LabelSource::Derived((self.labels != UNRECORDED).then_some(self.labels))
        }
    }

    /// Sets the record of a derived series; a stored one keeps its labels.
    pub fn set_record(&mut self, record: u32) {
        if self.labels & STORED == 0 {
            self.labels = record.min(UNRECORDED);
        }
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

impl StoredLabels {
    pub fn insert(&mut self, labels: Bytes) -> u32 {
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

    fn remove(&mut self, index: u32) {
        self.slots[index as usize] = Bytes::new();
        self.free.push(index);
    }

    /// Slots in use.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The encoded labels of the derived series of a target's last successful scrape, in body
/// order, each after its varint length, zstd-compressed: what stale markers for series that
/// go away are written with. Derived labels are mostly the same strings over and over, so
/// this is a small fraction of their size (about 1/40 for cAdvisor-like series); it is
/// rebuilt only when a scrape's derived series or their order differ from the records.
#[derive(Default)]
pub struct LabelRecords {
    compressed: Box<[u8]>,
    /// Bytes before compression.
    raw_len: usize,
    count: u32,
}

/// zstd's level for the records: they are written rarely and read more rarely still.
const RECORDS_LEVEL: i32 = 3;

impl LabelRecords {
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Bytes held.
    pub fn compressed_len(&self) -> usize {
        self.compressed.len()
    }

    /// Replaces the records with `records`; `buf` is a reusable buffer.
    pub fn rebuild(&mut self, records: &[Bytes], buf: &mut Vec<u8>) {
        buf.clear();
        for record in records {
            crate::remote_write::encode::put_varint(buf, record.len() as u64);
            buf.extend_from_slice(record);
        }
        // zstd fails only on allocation failure or an input over its size limit: the records
        // are then lost, and so are stale markers for derived series that go away before the
        // next rebuild.
        match zstd::bulk::compress(buf, RECORDS_LEVEL) {
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

    /// The records, decompressed.
    pub fn open(&self) -> OpenRecords {
        let bytes = if self.count == 0 {
            Vec::new()
        } else {
            zstd::bulk::decompress(&self.compressed, self.raw_len).unwrap_or_default()
        };
        let mut ranges = Vec::with_capacity(self.count as usize);
        let mut at = 0;
        while at < bytes.len() {
            let Some((len, n)) = crate::remote_write::encode::get_varint(&bytes[at..]) else {
                break;
            };
            let start = at + n;
            let end = (start + len as usize).min(bytes.len());
            ranges.push((start, end));
            at = end;
        }
        OpenRecords { bytes, ranges }
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
}

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

/// Dead names (no series left) are compacted away once they outnumber live ones and this.
pub const DEAD_METRIC_NAMES_FLOOR: usize = 64;

/// Series of one exposed metric name; `scraped == 0` is a dead name awaiting compaction.
struct NameCounts {
    name: Arc<str>,
    scraped: u32,
    kept: u32,
}

/// Per-target table of exposed metric names and their series counts. Cache entries hold an
/// index into it, so a cache hit costs nothing here: names are looked up on a miss, and
/// counts drop on eviction.
#[derive(Default)]
pub struct MetricNames {
    /// Index → name and counts. Indexes stay put until compaction, so a name whose series
    /// all went away keeps its slot (and gets it back if they return).
    by_index: Vec<NameCounts>,
    /// Name → index into `by_index` (the name allocation is shared with it).
    by_name: HashMap<Arc<str>, u32>,
    /// Entries of `by_index` with no series.
    dead: usize,
    /// Set when a count changed since the flag was last cleared.
    pub changed: bool,
}

impl MetricNames {
    /// Counts a newly cached series named `name` as exposed, kept by metric relabeling or
    /// not; returns the index its cache entry keeps.
    pub fn count(&mut self, name: &str, kept: bool) -> u32 {
        self.changed = true;
        let kept = u32::from(kept);
        if let Some(&index) = self.by_name.get(name) {
            let counts = &mut self.by_index[index as usize];
            if counts.scraped == 0 {
                self.dead -= 1;
            }
            counts.scraped += 1;
            counts.kept += kept;
            return index;
        }
        let name: Arc<str> = name.into();
        let index = self.by_index.len() as u32;
        self.by_index.push(NameCounts {
            name: name.clone(),
            scraped: 1,
            kept,
        });
        self.by_name.insert(name, index);
        index
    }

    /// Uncounts an evicted series.
    fn uncount(&mut self, index: u32, kept: bool) {
        self.changed = true;
        let counts = &mut self.by_index[index as usize];
        counts.scraped -= 1;
        counts.kept -= u32::from(kept);
        if counts.scraped == 0 {
            self.dead += 1;
        }
    }

    /// Names in the table, dead ones included.
    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }

    fn needs_compaction(&self) -> bool {
        let live = self.by_index.len() - self.dead;
        self.dead > DEAD_METRIC_NAMES_FLOOR && self.dead > live
    }

    /// Drops dead names; returns old index → new index (`u32::MAX` for a dropped name).
    fn compact(&mut self) -> Vec<u32> {
        let mut remap = Vec::with_capacity(self.by_index.len());
        let mut next = 0;
        for counts in &self.by_index {
            if counts.scraped == 0 {
                remap.push(u32::MAX);
            } else {
                remap.push(next);
                next += 1;
            }
        }
        self.by_index.retain(|counts| counts.scraped > 0);
        self.by_name.retain(|_, index| {
            *index = remap[*index as usize];
            *index != u32::MAX
        });
        self.dead = 0;
        remap
    }

    /// Names with series, by series scraped (most first), then by name.
    pub fn snapshot(&self) -> Vec<MetricSeriesCount> {
        let mut list: Vec<MetricSeriesCount> = self
            .by_index
            .iter()
            .filter(|counts| counts.scraped > 0)
            .map(|counts| MetricSeriesCount {
                name: counts.name.as_ref().into(),
                scraped: counts.scraped,
                kept: counts.kept,
            })
            .collect();
        list.sort_unstable_by(|a, b| b.scraped.cmp(&a.scraped).then_with(|| a.name.cmp(&b.name)));
        list
    }
}

#[derive(Default)]
pub struct SeriesCache {
    /// Insert only through a cache miss that counts the series in `metric_names`, remove
    /// only through [`SeriesCache::evict`]: the counts are those of these entries.
    pub entries: HashMap<u128, CacheEntry, PassThrough>,
    /// Series per exposed metric name among `entries`.
    pub metric_names: MetricNames,
    /// Labels of the series that do not derive theirs (see [`LabelSource`]).
    pub stored: StoredLabels,
    /// Labels of the derived series of the last successful scrape, for stale markers.
    pub records: LabelRecords,
    /// Family name → metadata; changed only when a target's HELP/TYPE/UNIT lines change.
    pub metadata: HashMap<Box<[u8]>, FamilyMetadata>,
    /// Set when `metadata` changed since the flag was last cleared.
    pub metadata_changed: bool,
    /// Number of the current scrape (starts at 1).
    pub scrape: u32,
    /// Number of the last successful scrape, whose tracked series are checked for staleness.
    pub last_success: u32,
}

impl SeriesCache {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops entries not seen in this scrape, as Prometheus flushes its scrape cache; returns
    /// refs the sink may forget. Uncounts them, and compacts the name table when dead names
    /// pile up (a target that exposes new names every scrape).
    pub fn evict(&mut self, forget: &mut Vec<SeriesRef>) {
        let scrape = self.scrape;
        let names = &mut self.metric_names;
        let stored = &mut self.stored;
        self.entries.retain(|_, entry| {
            let keep = entry.last_seen == scrape;
            if !keep {
                let series = entry.series();
                names.uncount(entry.metric_name, series.is_some());
                if let LabelSource::Stored(index) = entry.labels() {
                    stored.remove(index);
                }
                if let Some(series) = series {
                    forget.push(series);
                }
            }
            keep
        });
        if self.metric_names.needs_compaction() {
            let remap = self.metric_names.compact();
            // One pass over the entries, like the retain above; it takes more dead names than
            // the floor (each from a cache miss) before it runs again.
            for entry in self.entries.values_mut() {
                entry.metric_name = remap[entry.metric_name as usize];
            }
        }
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
        metadata: &mut HashMap<Box<[u8]>, FamilyMetadata>,
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
        metadata: &mut HashMap<Box<[u8]>, FamilyMetadata>,
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

    /// Bytes per entry as the hash map stores it: the (key, value) slot, padding included,
    /// and its control byte.
    pub const fn entry_bytes() -> usize {
        std::mem::size_of::<(u128, CacheEntry)>() + 1
    }

    /// Panics unless the name table's counts are those of the cached entries.
    #[cfg(test)]
    pub fn check_metric_name_counts(&self) {
        let names = &self.metric_names;
        let mut expected = vec![(0u32, 0u32); names.by_index.len()];
        for entry in self.entries.values() {
            let counts = &mut expected[entry.metric_name as usize];
            counts.0 += 1;
            counts.1 += u32::from(entry.series().is_some());
        }
        let actual: Vec<(u32, u32)> = names.by_index.iter().map(|c| (c.scraped, c.kept)).collect();
        assert_eq!(actual, expected, "counts per name index");
        let dead = names.by_index.iter().filter(|c| c.scraped == 0).count();
        assert_eq!(names.dead, dead, "dead names");
        assert_eq!(names.by_name.len(), names.by_index.len());
        for (name, &index) in &names.by_name {
            assert_eq!(names.by_index[index as usize].name, *name);
        }
    }
}

/// One metadata line of an exposition.
#[derive(Clone, Copy, Debug)]
pub enum MetadataLine<'a> {
    Type(MetricType),
    Help(&'a str),
    Unit(&'a [u8]),
}
