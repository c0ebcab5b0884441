//! promshard: a Prometheus-compatible scraping shard engine.

pub mod config;
pub mod labels;
pub mod relabel;
pub mod sd;
pub mod targets;
pub mod web;
