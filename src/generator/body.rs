//! Rendering: every series' `name{labels} ` is written once, back to back in exposition
//! order; a body copies those bytes and formats one value (and timestamp) per line.

use super::mix;
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

/// Counters count from 2025-01-01T00:00:00Z, so their values stay moderate and two
/// processes (or a restarted one) agree on them.
const COUNTER_EPOCH_MS: u64 = 1_735_689_600_000;

/// Gauges get a new jitter draw every this many seconds.
const JITTER_BUCKET_SECS: u64 = 15;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// How a family's values are written: whole units, or thousandths as `12.345`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scale {
    Units,
    Milli,
}

/// How a family's values move; each series draws its own parameters in the given ranges
/// (in the family's units: thousandths for [`Scale::Milli`]).
#[derive(Copy, Clone, Debug)]
pub(crate) enum Motion {
    /// A counter growing by a per-series rate in `lo..hi` per second.
    Rate { lo: u64, hi: u64 },
    /// A gauge around a per-series level in `lo..hi`, swinging up by about a fifth of it
    /// on a triangle wave of 2 to 10 minutes, plus a little jitter.
    Wave { lo: u64, hi: u64 },
    /// A gauge holding the Unix time in seconds (`container_last_seen`, `node_time_seconds`).
    Clock,
}

pub(crate) struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub motion: Motion,
    pub scale: Scale,
}

/// One series of a shape: its family (index into the shape's families) and its label set
/// as written, `{a="1",b="2"}` or empty.
pub(crate) struct SeriesSpec {
    pub family: usize,
    pub labels: String,
}

/// A shape's output: families in exposition order and series in any order.
pub(crate) struct Built {
    pub families: Vec<Family>,
    pub series: Vec<SeriesSpec>,
}

/// One series' value as a function of time.
#[derive(Copy, Clone, Debug)]
enum Model {
    Counter {
        start: u64,
        per_second: u64,
    },
    Gauge {
        level: u64,
        swing: u64,
        period_secs: u64,
        phase_secs: u64,
        jitter_seed: u64,
    },
    Clock,
}

impl Model {
    fn draw(motion: Motion, hash: u64) -> Model {
        let pick = |lo: u64, hi: u64, h: u64| lo + h % hi.saturating_sub(lo).max(1);
        match motion {
            Motion::Rate { lo, hi } => {
                let per_second = pick(lo, hi, hash);
                // Up to an hour of history before the epoch, so series do not all start at 0.
                let start = mix(hash) % (per_second.saturating_mul(3600).max(1));
                Model::Counter { start, per_second }
            }
            Motion::Wave { lo, hi } => {
                let level = pick(lo, hi, hash);
                let h = mix(hash);
                let period_secs = 120 + h % 481;
                Model::Gauge {
                    level,
                    swing: level / 5 + 1,
                    period_secs,
                    phase_secs: (h >> 32) % period_secs,
                    jitter_seed: mix(h),
                }
            }
            Motion::Clock => Model::Clock,
        }
    }

    /// The value at `unix_ms`; a counter's never decreases as `unix_ms` grows.
    #[inline]
    fn value(&self, unix_ms: u64) -> u64 {
        match *self {
            Model::Counter { start, per_second } => {
                let elapsed = unix_ms.saturating_sub(COUNTER_EPOCH_MS);
                // Split so the product cannot overflow for any realistic time and rate.
                let grown = per_second
                    .saturating_mul(elapsed / 1000)
                    .saturating_add(per_second.saturating_mul(elapsed % 1000) / 1000);
                start.saturating_add(grown)
            }
            Model::Gauge {
                level,
                swing,
                period_secs,
                phase_secs,
                jitter_seed,
            } => {
                let secs = unix_ms / 1000;
                let position = (secs + phase_secs) % period_secs;
                let half = period_secs / 2;
                let rise = position.min(period_secs - position).min(half);
                let jitter = mix(jitter_seed ^ (secs / JITTER_BUCKET_SECS)) % (swing / 4 + 1);
                // Rounded, so even a swing of 1 holds each value for half a period.
                level + (swing * rise + half / 2) / half.max(1) + jitter
            }
            Model::Clock => unix_ms / 1000,
        }
    }
}

struct Row {
    /// End of this series' bytes in `Layout::prefixes` (the start is the previous end).
    prefix_end: usize,
    scale: Scale,
    model: Model,
}

struct FamilyBlock {
    /// `# HELP …\n# TYPE …\n`.
    header: Box<[u8]>,
    rows: Range<usize>,
}

/// A target's series, ready to render.
pub(crate) struct Layout {
    blocks: Vec<FamilyBlock>,
    rows: Vec<Row>,
    /// `name{labels} ` of every series, in exposition order.
    prefixes: Vec<u8>,
}

impl Layout {
    /// Groups `built.series` by family (keeping their order within one) and draws each
    /// series' value parameters from a hash of its bytes and `seed`.
    pub fn new(built: Built, seed: u64) -> Layout {
        let Built {
            families,
            mut series,
        } = built;
        series.sort_by_key(|s| s.family);
        let mut prefixes = Vec::with_capacity(
            series
                .iter()
                .map(|s| families[s.family].name.len() + s.labels.len() + 1)
                .sum(),
        );
        let mut rows = Vec::with_capacity(series.len());
        let mut blocks: Vec<FamilyBlock> = Vec::new();
        let mut current_family = None;
        for spec in &series {
            let family = &families[spec.family];
            // Families without series get no block (and no HELP/TYPE lines).
            if current_family != Some(spec.family) {
                current_family = Some(spec.family);
                let header = format!(
                    "# HELP {name} {help}\n# TYPE {name} {kind}\n",
                    name = family.name,
                    help = family.help,
                    kind = family.kind.as_str()
                );
                blocks.push(FamilyBlock {
                    header: header.into_bytes().into_boxed_slice(),
                    rows: rows.len()..rows.len(),
                });
            }
            let start = prefixes.len();
            prefixes.extend_from_slice(family.name.as_bytes());
            prefixes.extend_from_slice(spec.labels.as_bytes());
            prefixes.push(b' ');
            let hash = xxhash_rust::xxh3::xxh3_64_with_seed(&prefixes[start..], seed);
            rows.push(Row {
                prefix_end: prefixes.len(),
                scale: family.scale,
                model: Model::draw(family.motion, hash),
            });
            if let Some(block) = blocks.last_mut() {
                block.rows.end = rows.len();
            }
        }
        Layout {
            blocks,
            rows,
            prefixes,
        }
    }

    pub fn series_count(&self) -> usize {
        self.rows.len()
    }

    pub fn body_size_hint(&self, timestamps: bool) -> usize {
        let headers: usize = self.blocks.iter().map(|b| b.header.len()).sum();
        let per_line = if timestamps { 12 + 14 + 1 } else { 12 + 1 };
        headers + self.prefixes.len() + self.rows.len() * per_line
    }

    pub fn render(&self, now: SystemTime, timestamps: bool, out: &mut Vec<u8>) {
        let unix_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        out.reserve(self.body_size_hint(timestamps));
        let mut digits = itoa::Buffer::new();
        let mut timestamp = itoa::Buffer::new();
        let timestamp = timestamp.format(unix_ms).as_bytes();
        for block in &self.blocks {
            out.extend_from_slice(&block.header);
            let mut start = match block.rows.start {
                0 => 0,
                i => self.rows[i - 1].prefix_end,
            };
            for row in &self.rows[block.rows.clone()] {
                let end = row.prefix_end;
                out.extend_from_slice(&self.prefixes[start..end]);
                start = end;
                let value = row.model.value(unix_ms);
                match row.scale {
                    Scale::Units => out.extend_from_slice(digits.format(value).as_bytes()),
                    Scale::Milli => {
                        out.extend_from_slice(digits.format(value / 1000).as_bytes());
                        let thousandths = (value % 1000) as u16;
                        out.extend_from_slice(&[
                            b'.',
                            b'0' + (thousandths / 100) as u8,
                            b'0' + (thousandths / 10 % 10) as u8,
                            b'0' + (thousandths % 10) as u8,
                        ]);
                    }
                }
                if timestamps {
                    out.push(b' ');
                    out.extend_from_slice(timestamp);
                }
                out.push(b'\n');
            }
        }
    }
}
