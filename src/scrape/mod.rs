//! Scraping: one loop per target, HTTP, parsing, the series cache, metric relabeling,
//! limits, staleness and the synthetic series.

pub mod append;
pub mod cache;
pub mod http;
pub mod parse;
