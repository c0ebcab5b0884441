//! Remote write: the sink scraped samples go to. Interface fixed here; the sender comes with
//! the remote-write work.

use crate::labels::Labels;

/// Identity of a series between the scrape layer and the sink: the scrape layer always
/// uses the same ref for the same label set while the series lives.
pub type SeriesRef = u64;

/// One sample of a committed scrape. Values are carried as bits so StaleNaN survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub series: SeriesRef,
    pub timestamp_ms: i64,
    pub value_bits: u64,
}

/// Where committed scrapes go.
pub trait SampleSink: Send + Sync + 'static {
    /// Declares the labels of a series (sorted, no empty values, with `__name__`) before
    /// its first sample, and again if it changes.
    fn series(&self, series: SeriesRef, labels: &Labels);
    /// One committed scrape; each series' samples arrive in timestamp order across calls.
    fn append(&self, samples: &[Sample]);
    /// The series will get no more samples; its labels may be forgotten.
    fn forget(&self, series: SeriesRef);
}
