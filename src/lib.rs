//! promshard: a Prometheus-compatible scraping shard engine.

pub mod agent;
pub mod check;
pub mod cli;
pub mod config;
pub mod coord;
pub mod demo;
// `gen` is a reserved keyword since Rust 2024: paths spell it `generator`.
pub mod generator;
pub mod http_client;
pub mod labels;
pub mod logging;
pub mod pool;
pub mod process;
pub mod relabel;
pub mod remote_write;
pub mod scrape;
pub mod sd;
pub mod targets;
pub mod telemetry;
pub mod web;
