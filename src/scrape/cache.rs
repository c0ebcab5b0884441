//! The per-target series cache: raw series bytes → series ref (or "dropped by relabeling"),
//! so a cache hit costs a hash and a lookup, never label decoding or relabeling.
//!
//! Memory per active series is one entry: a 128-bit hash key, the ref, the last appended
//! timestamp and two scrape numbers; no label strings (the sink keeps those once per series).

use crate::remote_write::SeriesRef;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

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

#[derive(Clone, Copy, Debug)]
pub struct CacheEntry {
    /// `None`: metric relabeling dropped this series.
    pub series: Option<SeriesRef>,
    /// Last timestamp appended for this raw series; later ones must be greater.
    pub last_timestamp: i64,
    /// Scrape number in which the entry was last seen in the body.
    pub last_seen: u64,
    /// Scrape number in which it was last appended as a tracked (staleness) series.
    pub last_tracked: u64,
}

#[derive(Default)]
pub struct SeriesCache {
    pub entries: HashMap<u128, CacheEntry, PassThrough>,
    /// Number of the current scrape (starts at 1).
    pub scrape: u64,
    /// Number of the last successful scrape, whose tracked series are checked for staleness.
    pub last_success: u64,
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
            if !keep && let Some(series) = entry.series {
                forget.push(series);
            }
            keep
        });
    }

    /// Bytes per entry as the hash map stores it (key, value and control byte).
    pub const fn entry_bytes() -> usize {
        std::mem::size_of::<u128>() + std::mem::size_of::<CacheEntry>() + 1
    }
}
