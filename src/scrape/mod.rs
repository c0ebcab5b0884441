//! Scraping: one loop per target, HTTP, parsing, the series cache, metric relabeling,
//! limits, staleness and the synthetic series.

pub mod parse;
