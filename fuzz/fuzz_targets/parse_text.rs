#![no_main]

use libfuzzer_sys::fuzz_target;
use promshard::scrape::parse::Format;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| common::run(data, Format::PrometheusText));
