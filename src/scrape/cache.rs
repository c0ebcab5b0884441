//! The per-target series cache: raw series bytes → series ref (or "dropped by relabeling"),
//! so a cache hit costs a hash and a lookup, never label decoding or relabeling.
//!
//! Memory per active series is one entry: a 128-bit hash key, the ref, the last appended
//! timestamp and two scrape numbers; no label strings (the sink keeps those once per series).

use super::parse::MetricType;
use crate::remote_write::SeriesRef;
use crate::remote_write::metadata::MetricMetadata;
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

/// One cached raw series. 24 bytes: the ref (or "dropped"), the last appended timestamp and
/// two scrape numbers (u32: 136 years of 1s scrapes).
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
}

/// The `series` of an entry whose series metric relabeling dropped.
const DROPPED: SeriesRef = SeriesRef::MAX;

impl CacheEntry {
    /// A new entry for `series` (`None`: dropped by relabeling), not yet seen.
    pub fn new(series: Option<SeriesRef>) -> Self {
        // A real ref equal to the sentinel (odds 2^-64) is moved next to it.
        let series = series.map_or(DROPPED, |r| r.min(DROPPED - 1));
        CacheEntry {
            series,
            last_timestamp: i64::MIN,
            last_seen: 0,
            last_tracked: 0,
        }
    }

    pub fn series(&self) -> Option<SeriesRef> {
        (self.series != DROPPED).then_some(self.series)
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

/// Families are kept this many scrapes after they were last exposed (spec §6.5).
pub const METADATA_KEPT_SCRAPES: u32 = 10;

#[derive(Default)]
pub struct SeriesCache {
    pub entries: HashMap<u128, CacheEntry, PassThrough>,
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
    /// refs the sink may forget.
    pub fn evict(&mut self, forget: &mut Vec<SeriesRef>) {
        let scrape = self.scrape;
        self.entries.retain(|_, entry| {
            let keep = entry.last_seen == scrape;
            if !keep && let Some(series) = entry.series() {
                forget.push(series);
            }
            keep
        });
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

    /// Forgets families not exposed for [`METADATA_KEPT_SCRAPES`] scrapes.
    pub fn evict_metadata(&mut self) {
        let scrape = self.scrape;
        let before = self.metadata.len();
        self.metadata
            .retain(|_, m| m.last_seen + METADATA_KEPT_SCRAPES > scrape);
        self.metadata_changed |= self.metadata.len() != before;
    }

    /// Bytes per entry as the hash map stores it (key, value and control byte).
    pub const fn entry_bytes() -> usize {
        std::mem::size_of::<u128>() + std::mem::size_of::<CacheEntry>() + 1
    }
}

/// One metadata line of an exposition.
#[derive(Clone, Copy, Debug)]
pub enum MetadataLine<'a> {
    Type(MetricType),
    Help(&'a str),
    Unit(&'a [u8]),
}
